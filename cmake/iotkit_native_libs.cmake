# The system libraries libiotkit.a needs, as `cargo rustc -- --print
# native-static-libs` reports them for this platform. The ctest
# `native_libs_current` fails when this list and rustc's disagree.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(IOTKIT_NATIVE_LIBS gcc_s util rt pthread m dl c)
elseif(APPLE)
  set(IOTKIT_NATIVE_LIBS System c m)
else()
  set(IOTKIT_NATIVE_LIBS pthread m dl)
endif()
