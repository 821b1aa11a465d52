# CMake toolchain file: 32-bit ARM Linux, ARMv7-A hard float with glibc, built with the
# GNU cross compiler arm-linux-gnueabihf-gcc (Debian/Ubuntu: gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf).
#
#   cmake -B build/armv7 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake
#
# iotkit derives the Rust target from this compiler (see
# cmake/iotkit_rust_target.cmake; override with -DIOTKIT_RUST_TARGET=...).
# The target's C library lives in /usr/arm-linux-gnueabihf (libc6-dev-*-cross);
# pass -DIOTKIT_CROSS_ROOT=<dir> for another one. Test programs run under
# qemu-user (qemu-arm) with that sysroot's dynamic loader.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)

set(IOTKIT_CROSS_ROOT "/usr/arm-linux-gnueabihf" CACHE PATH "the target's C library root (headers, libraries, dynamic loader)")
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

set(CMAKE_FIND_ROOT_PATH "${IOTKIT_CROSS_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -L: the target's /lib is IOTKIT_CROSS_ROOT/lib. LD_LIBRARY_PATH=/lib keeps
# the dynamic loader on that root's libc: where the multiarch libc6:<arch> is
# installed as well, the loader would otherwise fall back to that other libc
# build in /lib/<triple>, and a loader and libc of different builds corrupt
# thread creation (pthread_create hangs or crashes).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L "${IOTKIT_CROSS_ROOT}" -E LD_LIBRARY_PATH=/lib)
