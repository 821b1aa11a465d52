//! The MQTT 3.1.1 client that the C layer (`IOT_MQTT_*`) drives. The packet
//! codec and topic matching live in the portable core crate (`iotkit-core`)
//! and are re-exported here under their old paths.

/// The client itself. It has no C items; its public constants are the
/// client's own, not the C surface's.
///
/// cbindgen:ignore
pub mod client;
pub use iotkit_core::mqtt::{codec, topic};

pub use client::{
    Client, ClientError, Connector, Credentials, Event, Handler, Interceptor, Message, Options, QoS,
};
