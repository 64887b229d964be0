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
  sk_use_lib_pch(${SK_NAME})
endfunction()

# sk_use_lib_pch(target): `target` (a library or program of common/, workload/, server/ or
# client/) reuses sk_lib_pch when SK_PCH is on; elsewhere SK_LIB_PCH is empty and this does nothing.
function(sk_use_lib_pch target)
  if(SK_LIB_PCH)
    sk_reuse_pch(${target} ${SK_LIB_PCH})
  endif()
endfunction()

# sk_reuse_pch(target pch): at the end of the current directory (when its links are all known),
# `target` reuses the precompiled header `pch` if it links gRPC and the generated protos, directly
# or through its sk_* libraries; the precompiled headers include them, and GCC refuses one whose
# macros (gRPC's NOMINMAX) differ from the file's (-Winvalid-pch), so a target without them (a
# small /proc reader) compiles as it would without SK_PCH.
function(sk_reuse_pch target pch)
  cmake_language(EVAL CODE "cmake_language(DEFER CALL _sk_reuse_pch_now [[${target}]] [[${pch}]])")
endfunction()
function(_sk_reuse_pch_now target pch)
  _sk_links_grpc_and_protos(${target} found)
  if(found)
    target_precompile_headers(${target} REUSE_FROM ${pch})
  endif()
endfunction()
function(_sk_links_grpc_and_protos target out)
  set(${out} FALSE PARENT_SCOPE)
  get_target_property(libs ${target} LINK_LIBRARIES)
  if(NOT libs)
    return()
  endif()
  foreach(lib ${libs})
    if(lib STREQUAL "sk_proto")
      set(${out} TRUE PARENT_SCOPE)
      return()
    elseif(lib MATCHES "^sk_" AND TARGET ${lib})
      _sk_links_grpc_and_protos(${lib} found)
      if(found)
        set(${out} TRUE PARENT_SCOPE)
        return()
      endif()
    endif()
  endforeach()
endfunction()

# sk_generated_code(target): `target` compiles generated code (SK_GENERATED_CODE_OPTIONS).
function(sk_generated_code target)
  target_compile_options(${target} PRIVATE ${SK_GENERATED_CODE_OPTIONS})
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
  if(TARGET sk_test_pch)
    sk_reuse_pch(${SK_NAME} sk_test_pch)
  endif()
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
  sk_generated_code(${SK_NAME})
  target_include_directories(${SK_NAME} PUBLIC ${out})
  target_link_libraries(${SK_NAME} PUBLIC sk_proto)
endfunction()

# sk_pch_target(NAME name HEADERS ... DEPS ...): an object library whose only job is to compile
# HEADERS once into a precompiled header (SK_PCH) that other targets take with
# `target_precompile_headers(t REUSE_FROM name)`. GCC uses the header only where the compile flags
# and the macros the headers read match (-Winvalid-pch says when not), so DEPS must give the same
# usage requirements as the targets that reuse it (e.g. gtest's GTEST_HAS_PTHREAD for tests).
function(sk_pch_target)
  cmake_parse_arguments(SK "" "NAME" "HEADERS;DEPS" ${ARGN})
  set(src ${CMAKE_CURRENT_BINARY_DIR}/${SK_NAME}.cc)
  if(NOT EXISTS ${src})
    file(WRITE ${src} "// The translation unit of the precompiled header ${SK_NAME}.\n")
  endif()
  add_library(${SK_NAME} OBJECT ${src})
  target_include_directories(${SK_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${SK_NAME} PRIVATE ${SK_WARNINGS})
  target_link_libraries(${SK_NAME} PRIVATE ${SK_DEPS})
  target_precompile_headers(${SK_NAME} PRIVATE ${SK_HEADERS})
endfunction()
