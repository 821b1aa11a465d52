cmake_minimum_required(VERSION 3.22)
# Installs the build into a fresh prefix, then configures, builds and runs
# tests/consumer against it with find_package(iotkit).
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
  -DIOTKIT_EXAMPLES_DIR=${EXAMPLES_DIR}
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
