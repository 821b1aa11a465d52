//! Everything that crosses into C: the firmware's HAL functions this crate
//! imports, mbedTLS, the global allocator, the panic handler and the
//! `iotkit_mcu_*` exports. Each `unsafe` block says why it is sound.

pub mod export;
pub mod hal;
pub mod tls;

#[cfg(not(test))]
mod alloc;
#[cfg(not(test))]
pub(crate) mod panic;
