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
//! On `target_os = "none"` the crate is `#![no_std]` with `panic = "abort"`:
//! a panic calls the firmware's `iotkit_panic_hook(message, len)` (the port
//! in `mcu/` gives a weak default that prints and stops the program).
//!
//! All `unsafe` code lives in [`ffi`]; the client logic ([`client`],
//! [`identity`]) is safe Rust.

#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod client;
pub mod ffi;
pub mod identity;
