# Small helpers in the manner of absl_cc_library: one call per target, explicit deps.

set(SK_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
if(SK_WERROR)
  list(APPEND SK_WARNINGS -Werror)
endif()

if(SK_SANITIZE)
  # Any sanitizer report fails the test (UBSan only prints by default).
  add_compile_options(-fsanitize=${SK_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${SK_SANITIZE})
  # Checks left out of SK_SANITIZE's groups, after them so they win (-fsanitize=undefined would
  # turn them back on).
  if(SK_NO_SANITIZE)
    add_compile_options(-fno-sanitize=${SK_NO_SANITIZE})
    add_link_options(-fno-sanitize=${SK_NO_SANITIZE})
  endif()
endif()

# sk_cc_library(NAME name SRCS ... DEPS ... [PRIVATE_DEPS ...])
function(sk_cc_library)
  cmake_parse_arguments(SK "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${SK_NAME} STATIC ${SK_SRCS})
  target_include_directories(${SK_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${SK_NAME} PRIVATE ${SK_WARNINGS})
  target_link_libraries(${SK_NAME} PUBLIC ${SK_DEPS} PRIVATE ${SK_PRIVATE_DEPS})
endfunction()

# sk_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [TIMEOUT s])
# One gtest executable per component, registered with CTest as a whole (fast to list on 2 cores).
function(sk_cc_test)
  cmake_parse_arguments(SK "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${SK_NAME} ${SK_SRCS})
  target_include_directories(${SK_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${SK_NAME} PRIVATE ${SK_WARNINGS})
  target_link_libraries(${SK_NAME} PRIVATE ${SK_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${SK_NAME} COMMAND ${SK_NAME})
  if(NOT SK_TIMEOUT)
    set(SK_TIMEOUT 300)
  endif()
  set_tests_properties(${SK_NAME} PROPERTIES TIMEOUT ${SK_TIMEOUT} LABELS "${SK_LABELS}")
endfunction()

# sk_internal_proto(NAME name PROTO internal/x.proto): a library of one proto of the current
# directory that never goes on the wire (a storage format), generated under the binary dir with
# the API protos as include root, so that it is included by its repository path (".../x.pb.h").
function(sk_internal_proto)
  cmake_parse_arguments(SK "" "NAME;PROTO" "" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${SK_PROTO})
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${src})
  string(REGEX REPLACE "\\.proto$" "" base ${rel})
  file(MAKE_DIRECTORY ${out})
  add_custom_command(
    OUTPUT ${out}/${base}.pb.cc ${out}/${base}.pb.h
    COMMAND protobuf::protoc --cpp_out=${out} -I ${PROJECT_SOURCE_DIR} -I ${PROJECT_SOURCE_DIR}/proto
            ${src}
    DEPENDS ${src}
    COMMENT "protoc ${rel}")
  add_library(${SK_NAME} STATIC ${out}/${base}.pb.cc)
  target_include_directories(${SK_NAME} PUBLIC ${out})
  target_link_libraries(${SK_NAME} PUBLIC sk_proto)
endfunction()
