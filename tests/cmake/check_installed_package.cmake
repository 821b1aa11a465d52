cmake_minimum_required(VERSION 3.22)
# Installs the build into a fresh prefix, then configures, builds and runs
# tests/consumer against it with find_package(iotkit) (iotkit::iotkit, and
# iotkit::hal when EXPECT_HAL), and builds and runs the same programs with
# the installed iotkit.pc / iotkit-hal.pc through pkg-config (PKG_CONFIG).
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
  -DIOTKIT_EXAMPLES_DIR=${EXAMPLES_DIR} -DIOTKIT_EXPECT_HAL=${EXPECT_HAL}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "configuring the consumer against ${prefix} failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE result OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${result})")
endif()
if(NOT EXISTS ${WORK_DIR}/build/mqtt_example)
  message(FATAL_ERROR "mqtt_example was not built against the installed package")
endif()
if(EXPECT_HAL)
  execute_process(COMMAND ${WORK_DIR}/build/hal_consumer RESULT_VARIABLE result OUTPUT_VARIABLE out)
  message(STATUS "${out}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "the iotkit::hal consumer failed (${result})")
  endif()
endif()

# pkg-config: the flags alone must compile, link and run a consumer.
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found: the installed iotkit.pc cannot be checked")
endif()
set(pc_checks "iotkit=${CONSUMER_SOURCE}/main.c")
if(EXPECT_HAL)
  list(APPEND pc_checks "iotkit-hal=${CONSUMER_SOURCE}/hal_main.c")
endif()
foreach(check IN LISTS pc_checks)
  string(REPLACE "=" ";" parts "${check}")
  list(GET parts 0 module)
  list(GET parts 1 source)
  # Not the install prefix's path: the .pc file must find its prefix itself.
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig
                  ${PKG_CONFIG} --cflags --libs ${module}
    RESULT_VARIABLE result OUTPUT_VARIABLE flags ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs ${module} failed: ${err}")
  endif()
  if(NOT flags MATCHES "-I${prefix}/include/iotkit" AND NOT flags MATCHES "/include/iotkit")
    message(FATAL_ERROR "pkg-config gave no include directory for ${module}: ${flags}")
  endif()
  separate_arguments(flag_list UNIX_COMMAND "${flags}")
  set(exe ${WORK_DIR}/pkgconfig-${module})
  execute_process(COMMAND ${C_COMPILER} -Wall -Wextra -Werror -o ${exe} ${source} ${flag_list}
    RESULT_VARIABLE result ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "building ${source} with `pkg-config --cflags --libs ${module}` (${flags}) failed:\n${err}")
  endif()
  execute_process(COMMAND ${exe} RESULT_VARIABLE result OUTPUT_VARIABLE out)
  message(STATUS "pkg-config ${module}: ${out}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "the pkg-config ${module} consumer failed (${result})")
  endif()
endforeach()
