cmake_minimum_required(VERSION 3.22)
# Fails when the native libraries CMake hands to C consumers (EXPECTED, what
# cmake/iotkit_rust_target.cmake got from rustc for an empty static library)
# differ from what `cargo rustc -- --print native-static-libs` reports for
# libiotkit.a itself (a dependency with a #[link] of its own would show here).
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env CARGO_TARGET_DIR=${TARGET_DIR}
          ${CARGO} rustc --lib --locked --crate-type staticlib -- --print native-static-libs
  WORKING_DIRECTORY ${SOURCE_DIR}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cargo rustc failed:\n${err}")
endif()
string(REGEX MATCH "native-static-libs: ([^\n]*)" line "${out}${err}")
if(NOT line)
  message(FATAL_ERROR "rustc printed no native-static-libs line:\n${err}")
endif()
separate_arguments(flags UNIX_COMMAND "${CMAKE_MATCH_1}")
set(reported "")
foreach(flag IN LISTS flags)
  string(REGEX REPLACE "^-l" "" lib "${flag}")
  list(APPEND reported ${lib})
endforeach()
list(REMOVE_DUPLICATES reported)
string(REPLACE "," ";" ours "${EXPECTED}")
list(SORT reported)
list(SORT ours)
if(NOT reported STREQUAL ours)
  message(FATAL_ERROR "native libraries differ:\n  rustc for libiotkit.a: ${reported}\n  CMake's (probe): ${ours}")
endif()
message(STATUS "native libraries match: ${ours}")
