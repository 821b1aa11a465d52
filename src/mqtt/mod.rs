//! The MQTT 3.1.1 client core: the packet codec, topic matching and the
//! session state machine that the C layer (`IOT_MQTT_*`) drives.

pub mod client;
pub mod codec;
pub mod topic;

pub use client::{
    Client, ClientError, Connector, Credentials, Event, Handler, Interceptor, Message, Options, QoS,
};
