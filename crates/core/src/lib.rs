//! The portable core of iotkit-rs.
//!
//! Everything in this crate is plain computation over values the caller
//! passes in: no sockets, no threads, no files, no clocks, no C types and no
//! `unsafe` code. It builds with `core` + `alloc` only, so the same MQTT
//! session and the same policies can run under the std driver of the C
//! library today and under an RTOS's HAL later.
//!
//! - [`mqtt`]: the MQTT 3.1.1 codec, topic matching and the session state
//!   machine ([`mqtt::session::Session`]: bytes and time in; bytes, events
//!   and the next deadline out).
//! - [`agent`]: the device agent's policies: reconnect backoff, option
//!   ranges and fallbacks, and the endpoint / CA / credential precedence.
//!
//! Errors and events are Rust values; mapping them to the vendor's C codes
//! and notices belongs to the C layer, not here.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod agent;
pub mod mqtt;
