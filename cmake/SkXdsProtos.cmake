# Helpers for proto/xds: unpack the pinned npm package's protos into the build tree, and compute
# the import closure of a set of .proto files.

# sk_unpack_xds_protos(<out-var>)
# Checks the tarball scripts/install-deps.sh fetched (SK_XDS_PROTOS_TARBALL) against the integrity
# pinned in scripts/xds-protos.pin, unpacks its deps/ folder into the build tree (again whenever
# the tarball changes), and sets <out-var> to the include directories, in protoc's search order.
function(sk_unpack_xds_protos out_var)
  set(pin ${PROJECT_SOURCE_DIR}/scripts/xds-protos.pin)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${pin})
  file(STRINGS ${pin} lines REGEX "^XDS_PROTOS_NPM_[A-Z]+=")
  foreach(line ${lines})
    string(REGEX MATCH "^(XDS_PROTOS_NPM_[A-Z]+)=(.*)$" _ ${line})
    set(${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
  endforeach()
  string(REGEX REPLACE "^@" "" tar_name ${XDS_PROTOS_NPM_PACKAGE})
  string(REPLACE "/" "-" tar_name ${tar_name})
  set(SK_XDS_PROTOS_TARBALL /opt/slicekeeper/npm/${tar_name}-${XDS_PROTOS_NPM_VERSION}.tgz
      CACHE FILEPATH "The npm tarball of ${XDS_PROTOS_NPM_PACKAGE} (scripts/install-deps.sh)")
  if(NOT EXISTS ${SK_XDS_PROTOS_TARBALL})
    message(FATAL_ERROR "${SK_XDS_PROTOS_TARBALL} is missing: run scripts/install-deps.sh")
  endif()
  execute_process(
    COMMAND sh -c "openssl dgst -sha512 -binary \"$0\" | base64 -w0" ${SK_XDS_PROTOS_TARBALL}
    OUTPUT_VARIABLE digest RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT "sha512-${digest}" STREQUAL XDS_PROTOS_NPM_INTEGRITY)
    message(FATAL_ERROR "${SK_XDS_PROTOS_TARBALL}: integrity sha512-${digest} is not the pinned "
                        "${XDS_PROTOS_NPM_INTEGRITY}; delete it and run scripts/install-deps.sh")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SK_XDS_PROTOS_TARBALL})

  set(root ${CMAKE_BINARY_DIR}/_deps/xds-protos)
  string(REGEX REPLACE "[/+=]" "_" stamp_name "unpacked-${XDS_PROTOS_NPM_INTEGRITY}")
  set(stamp ${root}/${stamp_name})
  if(NOT EXISTS ${stamp})
    file(REMOVE_RECURSE ${root})
    file(ARCHIVE_EXTRACT INPUT ${SK_XDS_PROTOS_TARBALL} DESTINATION ${root} PATTERNS package/deps)
    # The package's protoc-gen-validate is older than the envoy-api beside it, which sets
    # StringRules.ignore_empty (upstream PGV field 26). protobuf.js ignores unknown option fields;
    # protoc rejects them. Add the field in the build tree's copy (options only: no generated
    # message of ours changes).
    set(validate ${root}/package/deps/protoc-gen-validate/validate/validate.proto)
    file(READ ${validate} text)
    set(anchor "  optional bool strict = 25 [default = true];\n")
    string(FIND "${text}" "${anchor}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${validate}: StringRules.strict not found; revisit the ignore_empty fix")
    endif()
    string(REPLACE "${anchor}"
           "${anchor}\n  // Added by slicekeeper's build (upstream PGV field 26).\n  optional bool ignore_empty = 26;\n"
           text "${text}")
    file(WRITE ${validate} "${text}")
    file(TOUCH ${stamp})
  endif()
  set(deps ${root}/package/deps)
  set(${out_var} ${deps}/envoy-api ${deps}/xds ${deps}/googleapis ${deps}/protoc-gen-validate
      PARENT_SCOPE)
endfunction()

# sk_proto_closure(<out-var> "<include dirs>" <root.proto>...)
# Sets <out-var> to the sorted relative paths of the roots and every file they import, directly or
# not, found under the include dirs. Protobuf's own well-known types (google/protobuf/*) come with
# libprotobuf and are left out.
function(sk_proto_closure out_var dirs)
  set(queue ${ARGN})
  set(seen)
  while(queue)
    list(POP_FRONT queue p)
    if(p IN_LIST seen OR p MATCHES "^google/protobuf/")
      continue()
    endif()
    list(APPEND seen ${p})
    set(found "")
    foreach(dir ${dirs})
      if(EXISTS ${dir}/${p})
        set(found ${dir}/${p})
        break()
      endif()
    endforeach()
    if(NOT found)
      message(FATAL_ERROR "proto closure: ${p} not found under ${dirs}")
    endif()
    file(STRINGS ${found} imports REGEX "^import[ \t]+(public[ \t]+|weak[ \t]+)?\"[^\"]+\"")
    foreach(line ${imports})
      string(REGEX MATCH "\"([^\"]+)\"" _ "${line}")
      list(APPEND queue ${CMAKE_MATCH_1})
    endforeach()
  endwhile()
  list(SORT seen)
  set(${out_var} ${seen} PARENT_SCOPE)
endfunction()

# sk_proto_option_files(<out-var> "<include dirs>" <file.proto>...)
# Sets <out-var> to the files among the given ones that define custom options (`extend
# google.protobuf.*Options`), with everything they import.
function(sk_proto_option_files out_var dirs)
  set(roots)
  foreach(p ${ARGN})
    foreach(dir ${dirs})
      if(EXISTS ${dir}/${p})
        file(STRINGS ${dir}/${p} extends REGEX "^extend[ \t]+google\\.protobuf\\.")
        if(extends)
          list(APPEND roots ${p})
        endif()
        break()
      endif()
    endforeach()
  endforeach()
  sk_proto_closure(closure "${dirs}" ${roots})
  set(${out_var} ${closure} PARENT_SCOPE)
endfunction()
