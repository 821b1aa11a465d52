cmake_minimum_required(VERSION 3.22)
# Configures, builds and runs tests/subdir_consumer, which pulls iotkit in with
# add_subdirectory(). IOTKIT_CARGO_DIR is passed on so cargo reuses this
# build's library instead of compiling it again.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK_DIR}
  -DIOTKIT_SOURCE_DIR=${SOURCE_DIR} -DIOTKIT_CARGO_DIR=${CARGO_DIR}
  -DIOTKIT_RUST_PROFILE=${RUST_PROFILE} -DCMAKE_C_COMPILER=${C_COMPILER}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "configuring the add_subdirectory consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} --target consumer RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "building the add_subdirectory consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer RESULT_VARIABLE result OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the add_subdirectory consumer failed (${result})")
endif()
