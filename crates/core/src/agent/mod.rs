//! The device agent's policies, as pure functions of what the caller
//! passes in: when to reconnect ([`backoff`]), which option values hold
//! ([`options`]), and where to connect with which credentials and CA
//! ([`endpoint`]).

pub mod backoff;
pub mod endpoint;
pub mod options;
