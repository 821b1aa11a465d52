//! MQTT 3.1.1: the packet codec, topic matching and the sans-I/O session.

pub mod codec;
pub mod session;
pub mod topic;
