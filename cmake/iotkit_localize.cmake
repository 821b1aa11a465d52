cmake_minimum_required(VERSION 3.22)
# cmake -DIN=<cargo's libiotkit.a> -DOUT=<libiotkit.a to hand out>
#       -DLD=<ld> -DOBJCOPY=<objcopy> -DREADELF=<readelf> -DAR=<ar>
#       -P iotkit_localize.cmake
#
# Turns cargo's static library into one that links cleanly into any
# firmware: the objects the exported functions need are partially linked
# (`ld -r`) into one object, every symbol but the vendor API, `iotkit_*` and
# the globals is made local (mbedTLS, Rust std, compiler builtins: a
# firmware's own mbedTLS can no longer clash with ours or be picked in its
# place), and the LLVM bitcode rustc embeds (.llvmbc/.llvmcmd, megabytes per
# object, and what makes binutils' nm hand the objects to the LLVM plugin) is
# dropped. Relocatable output keeps one section per function, so
# --gc-sections still removes what the firmware does not call.
foreach(var IN ITEMS IN OUT LD OBJCOPY READELF AR)
  if(NOT ${var})
    message(FATAL_ERROR "iotkit_localize.cmake: ${var} is not set")
  endif()
endforeach()

# Nothing to do when OUT was made from this very archive (path, time, size;
# cargo relinks an older artifact when a build switches features or
# profiles) by this script.
file(TIMESTAMP ${IN} in_time "%s" UTC)
file(SIZE ${IN} in_size)
file(TIMESTAMP ${CMAKE_CURRENT_LIST_FILE} script_time "%s" UTC)
set(stamp "${IN}|${in_time}|${in_size}|${script_time}")
if(EXISTS ${OUT} AND EXISTS ${OUT}.stamp)
  file(READ ${OUT}.stamp previous)
  if(previous STREQUAL stamp)
    return()
  endif()
endif()

# The names we export: everything the vendor's headers and ours declare.
set(exported "^(HAL_|IOT_|iotx_|iotkit_|g_cli_crt$|g_cli_key$|ssl_hooks_set$)")

execute_process(COMMAND ${READELF} -Ws ${IN}
  RESULT_VARIABLE result OUTPUT_VARIABLE table ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${READELF} -Ws ${IN} failed: ${err}")
endif()
# Rows: Num: Value Size Type Bind Vis Ndx Name; defined globals only.
string(REGEX MATCHALL "[^\n]+ (GLOBAL|WEAK) +DEFAULT +[0-9]+ [^\n]+" rows "${table}")
set(keep "")
foreach(row IN LISTS rows)
  string(REGEX REPLACE "^.* [0-9]+ " "" name "${row}")
  if(name MATCHES "${exported}")
    list(APPEND keep ${name})
  endif()
endforeach()
list(REMOVE_DUPLICATES keep)
list(SORT keep)
if(NOT keep)
  message(FATAL_ERROR "${IN} defines none of the exported symbols")
endif()

get_filename_component(out_dir ${OUT} DIRECTORY)
set(work ${OUT}.work)
file(REMOVE_RECURSE ${work})
file(MAKE_DIRECTORY ${work} ${out_dir})
string(REPLACE ";" "\n" keep_lines "${keep}")
file(WRITE ${work}/exported.txt "${keep_lines}\n")

set(undefined "")
foreach(name IN LISTS keep)
  list(APPEND undefined -u ${name})
endforeach()
execute_process(COMMAND ${LD} -r -o ${work}/iotkit.o ${undefined} ${IN}
  RESULT_VARIABLE result ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${LD} -r failed: ${err}")
endif()
execute_process(COMMAND ${OBJCOPY}
  --keep-global-symbols=${work}/exported.txt
  --remove-section=.llvmbc --remove-section=.llvmcmd
  ${work}/iotkit.o ${work}/iotkit-local.o
  RESULT_VARIABLE result ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${OBJCOPY} failed: ${err}")
endif()
file(REMOVE ${OUT})
execute_process(COMMAND ${AR} rcs ${OUT} ${work}/iotkit-local.o
  RESULT_VARIABLE result ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${AR} failed: ${err}")
endif()
file(REMOVE_RECURSE ${work})
file(WRITE ${OUT}.stamp "${stamp}")
