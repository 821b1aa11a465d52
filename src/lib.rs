//! iotkit-rs: the device side of the IoT Platform's MQTT + X.509 flow, behind
//! the C ABI of the vendor's Link SDK for C 3.2.x.
//!
//! `ffi` holds every `extern "C"` symbol and all `unsafe` code; the other
//! modules are the safe core it calls.

pub mod agent;
pub mod device;
pub mod events;
pub mod handles;
pub mod log;
pub mod net;
pub mod os;
pub mod state;
pub mod tls;
pub mod transport;

#[cfg(feature = "sdk")]
pub mod identity;
pub mod kv;
#[cfg(feature = "sdk")]
pub mod mqtt;

pub mod ffi;
pub mod ota;
