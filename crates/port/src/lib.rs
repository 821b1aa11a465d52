//! iotkit-rs for microcontrollers: the MQTT session of `iotkit-core` and
//! mbedTLS, over the firmware's own HAL port.
//!
//! The firmware links `libiotkit_port.a` and provides the functions of the
//! vendor's `wrappers/` port, with the vendor's signatures:
//! `HAL_TCP_Establish/Read/Write/Destroy`, `HAL_UptimeMs`, `HAL_SleepMs`,
//! `HAL_Malloc`/`HAL_Free` (the Rust global allocator and mbedTLS's
//! `calloc`/`free` go through them), `HAL_Random` (the entropy that seeds
//! mbedTLS's CTR-DRBG), `HAL_Kv_Set/Get/Del` (the persisted X.509 identity)
//! and `HAL_Printf`. The library provides the `iotkit_mcu_*` client
//! functions (see `include/iotkit_mcu.h` in `mcu/`).
//!
//! The same code builds for the MCU (`thumbv7em-none-eabihf`, see
//! `mcu/build-port.sh`) and for a hosted target such as
//! `x86_64-unknown-linux-gnu` (`cargo build -p iotkit-port --release`; the
//! POSIX port of `tests/port_posix/` provides the HAL there). On every
//! target the global allocator is `HAL_Malloc`/`HAL_Free` and a panic calls
//! the firmware's `iotkit_panic_hook(message, len)`:
//!
//! * on `target_os = "none"`, and on any target built with
//!   `panic = "abort"` (e.g. the `min-size-abort` profile), the crate is
//!   `#![no_std]` + `alloc` and has its own `#[panic_handler]`;
//! * on a hosted target with `panic = "unwind"` (the `release` profile) it
//!   links std, whose panic hook it points at `iotkit_panic_hook` and then
//!   aborts (see [`ffi`]'s `panic` module).
//!
//! All `unsafe` code lives in [`ffi`]; the client logic ([`client`],
//! [`identity`]) is safe Rust.

#![cfg_attr(all(not(test), any(target_os = "none", panic = "abort")), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod client;
pub mod ffi;
pub mod identity;
