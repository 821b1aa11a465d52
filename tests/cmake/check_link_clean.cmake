cmake_minimum_required(VERSION 3.22)
# cmake -DLIB=<libiotkit.a> -DEXPECTED=<symbol list> -DNM=<nm> -DREADELF=<readelf>
#       -P check_link_clean.cmake
# Fails unless libiotkit.a links cleanly into other firmware:
#  - GNU nm lists every expected symbol as defined (embedded LLVM bitcode
#    makes binutils hand the objects to the LLVM plugin, which lists nothing);
#  - no object carries LLVM bitcode (.llvmbc / .llvmcmd sections);
#  - the only defined global symbols are the vendor API, iotkit_* and the
#    globals: no mbedtls_*, Rust std or compiler-builtin symbol that would
#    clash with the firmware's own.
set(allowed "^(HAL_|IOT_|iotx_|iotkit_|g_cli_crt$|g_cli_key$|ssl_hooks_set$)")

execute_process(COMMAND ${NM} -g --defined-only ${LIB}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${NM} -g --defined-only ${LIB} failed (${result}): ${err}")
endif()
string(REGEX MATCHALL "[0-9a-fA-F]+ [A-Za-z] [^\n]+" rows "${out}")
set(defined "")
foreach(row IN LISTS rows)
  string(REGEX REPLACE "^[0-9a-fA-F]+ [A-Za-z] " "" name "${row}")
  list(APPEND defined ${name})
endforeach()
list(REMOVE_DUPLICATES defined)

file(STRINGS ${EXPECTED} expected REGEX "^[^#]")
set(missing "")
foreach(name IN LISTS expected)
  string(STRIP "${name}" name)
  if(name AND NOT name IN_LIST defined)
    list(APPEND missing ${name})
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "nm does not list these exported symbols of ${LIB}: ${missing}")
endif()

set(foreign "")
foreach(name IN LISTS defined)
  if(NOT name MATCHES "${allowed}")
    list(APPEND foreign ${name})
  endif()
endforeach()
list(LENGTH foreign n_foreign)
if(n_foreign GREATER 0)
  list(SUBLIST foreign 0 20 shown)
  message(FATAL_ERROR "${LIB} exports ${n_foreign} symbols besides the vendor API and iotkit_*, e.g. ${shown}")
endif()

execute_process(COMMAND ${READELF} -SW ${LIB}
  RESULT_VARIABLE result OUTPUT_VARIABLE sections ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${READELF} -SW ${LIB} failed: ${err}")
endif()
if(sections MATCHES "\\.llvm(bc|cmd)")
  message(FATAL_ERROR "${LIB} still carries embedded LLVM bitcode (.llvmbc/.llvmcmd sections)")
endif()
list(LENGTH defined n_defined)
message(STATUS "${LIB}: nm lists ${n_defined} exported symbols, all ours; no LLVM bitcode")
