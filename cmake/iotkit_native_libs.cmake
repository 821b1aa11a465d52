# The system libraries libiotkit.a needs, as `cargo rustc -- --print
# native-static-libs` reports them for this platform. The ctest
# `native_libs_current` fails when this list and rustc's disagree.
# Script mode (cmake -P) knows only the host.
if(CMAKE_SYSTEM_NAME)
  set(_iotkit_system ${CMAKE_SYSTEM_NAME})
else()
  set(_iotkit_system ${CMAKE_HOST_SYSTEM_NAME})
endif()
if(_iotkit_system STREQUAL "Linux")
  set(IOTKIT_NATIVE_LIBS gcc_s util rt pthread m dl c)
elseif(_iotkit_system STREQUAL "Darwin")
  set(IOTKIT_NATIVE_LIBS System c m)
else()
  set(IOTKIT_NATIVE_LIBS pthread m dl)
endif()
