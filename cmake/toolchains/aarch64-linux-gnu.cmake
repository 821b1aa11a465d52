# CMake toolchain file: 64-bit ARM (ARMv8-A) Linux with glibc, built with the
# GNU cross compiler aarch64-linux-gnu-gcc (Debian/Ubuntu: gcc-aarch64-linux-gnu g++-aarch64-linux-gnu).
#
#   cmake -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#
# iotkit derives the Rust target from this compiler (see
# cmake/iotkit_rust_target.cmake; override with -DIOTKIT_RUST_TARGET=...).
# The target's C library lives in /usr/aarch64-linux-gnu (libc6-dev-*-cross);
# pass -DIOTKIT_CROSS_ROOT=<dir> for another one. Test programs run under
# qemu-user (qemu-aarch64) with that sysroot's dynamic loader.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(IOTKIT_CROSS_ROOT "/usr/aarch64-linux-gnu" CACHE PATH "the target's C library root (headers, libraries, dynamic loader)")
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

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
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L "${IOTKIT_CROSS_ROOT}" -E LD_LIBRARY_PATH=/lib)
