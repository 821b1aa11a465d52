# Which Rust target libiotkit.a is built for, what cargo needs in its
# environment to build it, and which system libraries the result links.
#
# In:  IOTKIT_CARGO, the C toolchain (CMAKE_C_COMPILER, CMAKE_C_COMPILER_TARGET,
#      CMAKE_SYSTEM_PROCESSOR, CMAKE_AR, CMAKE_SYSROOT, CMAKE_C_FLAGS).
# Out: IOTKIT_RUST_TARGET     (cache) the Rust triple; empty = the build machine
#      IOTKIT_CARGO_ENV       NAME=VALUE list for `cmake -E env` before cargo
#      IOTKIT_CARGO_TARGET_ARGS  `--target <triple>` or nothing
#      IOTKIT_CARGO_OUT_SUBDIR   `<triple>/` or nothing (cargo's output layout)
#      IOTKIT_NATIVE_LIBS     what `rustc --print native-static-libs` reports
#
# A native build passes no --target, so it shares target/<profile> with plain
# `cargo build`/`cargo test`.

# The mbedTLS setting every build of the library is compiled with: 4 KiB
# outgoing TLS records (12 KiB less heap per connection than the default).
set(IOTKIT_MBEDTLS_DEFINE "-DMBEDTLS_SSL_OUT_CONTENT_LEN=4096")

# rustc beside cargo: a distribution's cargo (e.g. Debian's /usr/bin/cargo)
# must not pick rustup's rustc from PATH, which may lack the target's std.
get_filename_component(_iotkit_cargo_dir "${IOTKIT_CARGO}" DIRECTORY)
find_program(IOTKIT_RUSTC rustc HINTS "${_iotkit_cargo_dir}" NO_DEFAULT_PATH)
if(NOT IOTKIT_RUSTC)
  find_program(IOTKIT_RUSTC rustc HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)
endif()

# iotkit_rust_triple(<gnu triple> <out var>): the Rust target for a GNU
# compiler triple (aarch64-linux-gnu -> aarch64-unknown-linux-gnu), or "" when
# there is none we know.
function(iotkit_rust_triple gnu out)
  string(REPLACE "-" ";" parts "${gnu}")
  list(LENGTH parts n)
  if(n EQUAL 3)
    list(GET parts 0 arch)
    list(GET parts 1 os)
    list(GET parts 2 env)
  elseif(n EQUAL 4)
    list(GET parts 0 arch)
    list(GET parts 2 os)
    list(GET parts 3 env)
  else()
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  if(NOT os STREQUAL "linux")
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  # 32-bit ARM: Rust names the architecture level. Hard-float toolchains
  # (Debian armhf, Linaro, Yocto cortex-a) default to ARMv7-A; ARMv6 hard
  # float (Raspberry Pi 1) is arm-unknown-linux-gnueabihf.
  if(arch MATCHES "^arm(v7.*)?$" AND env MATCHES "hf$"
     AND NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^armv6")
    set(arch armv7)
  elseif(arch MATCHES "^armv7")
    set(arch armv7)
  elseif(arch STREQUAL "riscv64")
    set(arch riscv64gc)
  elseif(arch MATCHES "^i[3-5]86$")
    set(arch i586)
  endif()
  set(${out} "${arch}-unknown-linux-${env}" PARENT_SCOPE)
endfunction()

if(NOT DEFINED IOTKIT_RUST_TARGET)
  set(_iotkit_derived "")
  if(CMAKE_CROSSCOMPILING)
    set(_iotkit_gnu "${CMAKE_C_COMPILER_TARGET}")
    if(NOT _iotkit_gnu)
      execute_process(COMMAND ${CMAKE_C_COMPILER} -dumpmachine
        OUTPUT_VARIABLE _iotkit_gnu OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    endif()
    if(NOT _iotkit_gnu AND CMAKE_SYSTEM_PROCESSOR)
      set(_iotkit_gnu "${CMAKE_SYSTEM_PROCESSOR}-linux-gnu")
    endif()
    iotkit_rust_triple("${_iotkit_gnu}" _iotkit_derived)
    if(NOT _iotkit_derived)
      message(FATAL_ERROR "iotkit: cannot tell the Rust target for the C compiler's "
        "target '${_iotkit_gnu}'. Configure with -DIOTKIT_RUST_TARGET=<rust triple> "
        "(see `rustc --print target-list`).")
    endif()
  endif()
  set(IOTKIT_RUST_TARGET "${_iotkit_derived}" CACHE STRING
    "Rust target triple for libiotkit.a (empty: the build machine)")
endif()

set(IOTKIT_CARGO_ENV "")
set(IOTKIT_CARGO_TARGET_ARGS "")
set(IOTKIT_CARGO_OUT_SUBDIR "")
# CMake folds the environment's CFLAGS into CMAKE_C_FLAGS; the define goes
# after them, so a CFLAGS of the user's can never drop it. A value the user
# set explicitly (-DMBEDTLS_SSL_OUT_CONTENT_LEN=<n> in CFLAGS) is kept.
if(CMAKE_C_FLAGS MATCHES "-DMBEDTLS_SSL_OUT_CONTENT_LEN=")
  string(STRIP "${CMAKE_C_FLAGS}" _iotkit_cflags)
else()
  string(STRIP "${CMAKE_C_FLAGS} ${IOTKIT_MBEDTLS_DEFINE}" _iotkit_cflags)
endif()
if(IOTKIT_RUST_TARGET)
  string(REPLACE "-" "_" _t "${IOTKIT_RUST_TARGET}")
  string(TOUPPER "${_t}" _T)
  set(IOTKIT_CARGO_TARGET_ARGS --target ${IOTKIT_RUST_TARGET})
  set(IOTKIT_CARGO_OUT_SUBDIR "${IOTKIT_RUST_TARGET}/")
  # bindgen (mbedtls-sys) parses the mbedTLS headers with clang for the
  # target: its triple, and the C compiler's own include directories (the
  # cross C library's headers) without the compiler's private ones and
  # without the build machine's /usr/include.
  set(_bindgen "--target=${IOTKIT_RUST_TARGET}")
  if(CMAKE_SYSROOT)
    string(APPEND _bindgen " --sysroot=${CMAKE_SYSROOT}")
  endif()
  foreach(_dir IN LISTS CMAKE_C_IMPLICIT_INCLUDE_DIRECTORIES)
    if(NOT _dir MATCHES "/(gcc|gcc-cross|clang)/" AND NOT _dir MATCHES "^/usr(/local)?/include/?$")
      string(APPEND _bindgen " -isystem ${_dir}")
    endif()
  endforeach()
  list(APPEND IOTKIT_CARGO_ENV
    "CC_${_t}=${CMAKE_C_COMPILER}"
    "AR_${_t}=${CMAKE_AR}"
    "CFLAGS_${_t}=${_iotkit_cflags}"
    "CARGO_TARGET_${_T}_LINKER=${CMAKE_C_COMPILER}"
    "BINDGEN_EXTRA_CLANG_ARGS_${_t}=${_bindgen}"
    "RUSTC=${IOTKIT_RUSTC}")
else()
  list(APPEND IOTKIT_CARGO_ENV "CFLAGS=${_iotkit_cflags}")
endif()

# iotkit_probe_native_libs(<out var> <rustc> <target or "">): the system
# libraries a Rust staticlib needs on that target, from rustc itself (an
# empty crate: std's needs are the library's; mbedTLS and our C add none).
function(iotkit_probe_native_libs out rustc target)
  set(dir "${CMAKE_BINARY_DIR}/iotkit-native-libs-probe")
  file(MAKE_DIRECTORY "${dir}")
  file(WRITE "${dir}/probe.rs" "")
  set(target_args "")
  if(target)
    set(target_args --target ${target})
  endif()
  execute_process(
    COMMAND ${rustc} --crate-type staticlib --crate-name iotkit_probe --edition 2021
            ${target_args} --print native-static-libs --out-dir ${dir} ${dir}/probe.rs
    RESULT_VARIABLE result OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
  if(NOT result EQUAL 0)
    set(hint "")
    if(target)
      set(hint "\nIs the Rust standard library for ${target} installed? With rustup: "
               "`rustup target add ${target}`.")
    endif()
    message(FATAL_ERROR "iotkit: ${rustc} cannot build a static library${hint}\n${stderr}")
  endif()
  string(REGEX MATCH "native-static-libs: ([^\n]*)" line "${stdout}${stderr}")
  separate_arguments(flags UNIX_COMMAND "${CMAKE_MATCH_1}")
  set(libs "")
  foreach(flag IN LISTS flags)
    if(flag MATCHES "^-l(.+)")
      list(APPEND libs ${CMAKE_MATCH_1})
    elseif(flag)
      list(APPEND libs ${flag})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES libs)
  file(REMOVE_RECURSE "${dir}")
  set(${out} "${libs}" PARENT_SCOPE)
endfunction()

set(_iotkit_probe_key "${IOTKIT_RUSTC}|${IOTKIT_RUST_TARGET}")
if(NOT _IOTKIT_NATIVE_LIBS_KEY STREQUAL _iotkit_probe_key)
  iotkit_probe_native_libs(_libs "${IOTKIT_RUSTC}" "${IOTKIT_RUST_TARGET}")
  set(_IOTKIT_NATIVE_LIBS "${_libs}" CACHE INTERNAL "")
  set(_IOTKIT_NATIVE_LIBS_KEY "${_iotkit_probe_key}" CACHE INTERNAL "")
endif()
set(IOTKIT_NATIVE_LIBS "${_IOTKIT_NATIVE_LIBS}")
if(IOTKIT_RUST_TARGET)
  message(STATUS "iotkit: Rust target ${IOTKIT_RUST_TARGET}, native libs: ${IOTKIT_NATIVE_LIBS}")
endif()
