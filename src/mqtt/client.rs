//! The MQTT session: a small explicit state machine in the caller's threads.
//!
//! `yield_for` does all reading, keep-alive, acknowledgements, resends,
//! timeouts and reconnects; `publish`/`subscribe`/`unsubscribe` may be called
//! from any thread meanwhile, including from inside handlers.
//!
//! Locks, always taken in this order and never the other way round:
//! - the *reader token* (`State::reader_owner`): whoever serves the
//!   connection (a `yield_for` or a `subscribe_sync` that is not inside a
//!   handler) owns it and with it the `reader` mutex and the read buffer;
//! - `state`: subscriptions, pending requests, in-flight QoS 1 publishes;
//! - `io`: the transport and the write buffer, held only per packet written
//!   (or per short read).
//!
//! Handlers run with neither `state` nor `io` held; the reader token stays
//! with the thread that dispatches, so a handler may publish and subscribe
//! but cannot serve the connection itself (`yield_for` and `subscribe_sync`
//! return [`ClientError::Reentrant`] there).

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::codec::{
    self, ConnAck, Connect, DecodeError, EncodeError, Framing, Packet, PacketType, Publish,
    Subscribe, SubscribeFilters, Unsubscribe, UnsubscribeFilters, PUBLISH_DUP_FLAG, SUBACK_FAILURE,
};
use super::topic::{self, TopicError};
use crate::events;
use crate::net;
use crate::state;
use crate::transport::{Transport, TransportError};
use iotkit_core::agent::backoff::{Backoff, BackoffConfig};
use iotkit_core::mqtt::session::{DisconnectReason, Millis};

/// Quality of service this client offers (QoS 2 is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
}

/// The CONNECT identity. An empty user name together with an empty password
/// sends neither field, unless the connector asks for them
/// ([`Connector::send_empty_login`]).
#[derive(Clone, Default)]
pub struct Credentials {
    pub client_id: String,
    pub username: String,
    pub password: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &format_args!("<{} bytes>", self.password.len()))
            .finish()
    }
}

/// Where connections come from.
pub trait Connector: Send + Sync {
    /// Opens a fresh transport (TCP/TLS handshake included) for the initial
    /// connect and every reconnect.
    fn open(&self) -> Result<Box<dyn Transport>, TransportError>;
    /// The CONNECT identity for this attempt; may change between attempts.
    fn credentials(&self) -> Credentials;
    /// Whether an empty user name and an empty password are still sent as
    /// present (both CONNECT flags set, two zero-length strings) instead of
    /// being left out. The platform's own X.509 sample connects that way.
    fn send_empty_login(&self) -> bool {
        false
    }
}

/// Session settings. The C layer enforces the vendor's ranges; this core
/// only refuses values it cannot work with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sent in CONNECT as whole seconds; a PINGREQ goes out every half of it.
    pub keepalive: Duration,
    pub clean_session: bool,
    /// How long to wait for CONNACK, SUBACK, UNSUBACK, PUBACK and PINGRESP.
    pub request_timeout: Duration,
    /// The largest packet that can be received; larger ones are skipped.
    pub read_buf_size: usize,
    /// The largest packet that can be sent.
    pub write_buf_size: usize,
    /// Reconnect backoff: the first delay after a lost link is drawn from
    /// `reconnect_min / 2 ..= reconnect_min`; every further failed attempt,
    /// and every link that went down again before a keep-alive period
    /// passed, doubles it, up to `reconnect_max / 2 ..= reconnect_max` (the
    /// cap). The sequence starts over only after a link stayed up for a
    /// keep-alive period; CONNACK 5 (not authorised) goes straight to the cap.
    pub reconnect_min: Duration,
    /// The cap of the reconnect backoff (see `reconnect_min`).
    pub reconnect_max: Duration,
    /// QoS 1 publishes kept while offline (sent after reconnecting).
    pub offline_queue_limit: usize,
}

impl Default for Options {
    /// The vendor's defaults.
    fn default() -> Options {
        Options {
            keepalive: Duration::from_secs(60),
            clean_session: false,
            request_timeout: Duration::from_millis(5000),
            read_buf_size: 3072,
            write_buf_size: 3072,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            offline_queue_limit: 32,
        }
    }
}

/// A received PUBLISH, borrowed from the read buffer for the handler call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
    pub packet_id: u16,
}

/// What handlers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Connected,
    Disconnected,
    Reconnected,
    SubscribeAck {
        packet_id: u16,
    },
    SubscribeNack {
        packet_id: u16,
    },
    SubscribeTimeout {
        packet_id: u16,
    },
    UnsubscribeAck {
        packet_id: u16,
    },
    UnsubscribeTimeout {
        packet_id: u16,
    },
    PublishAck {
        packet_id: u16,
    },
    /// The publish was resent [`MAX_PUBLISH_RESENDS`] times without PUBACK and dropped.
    PublishTimeout {
        packet_id: u16,
    },
    Message(&'a Message<'a>),
    /// An incoming packet of `needed` bytes did not fit the read buffer of
    /// `limit` bytes and was skipped (a QoS 1 PUBLISH is still acknowledged).
    /// `topic` is the PUBLISH's topic when its head was readable, else "".
    BufferOverflow {
        needed: usize,
        limit: usize,
        topic: &'a str,
    },
}

pub type Handler = Arc<dyn Fn(&Event<'_>) + Send + Sync>;
/// Sees every incoming PUBLISH first; returns true to consume it.
pub type Interceptor = Arc<dyn Fn(&Message<'_>) -> bool + Send + Sync>;

/// Resends of an unacknowledged QoS 1 publish before giving up with
/// [`Event::PublishTimeout`] (and a `STATE_MQTT_QOS1_REPUB_EXCEED_MAX` state
/// event). Resends on a live connection count; with
/// [`Client::give_up_refused_publishes`] so does a lost link when it was the
/// oldest publish waiting for PUBACK and the broker sent nothing after it
/// before dropping the link.
pub const MAX_PUBLISH_RESENDS: u32 = 3;
/// Smallest read or write buffer accepted: room for any fixed header and ack.
pub const MIN_BUFFER_SIZE: usize = 16;
/// Longest single wait for data, so work queued by other threads (resend
/// deadlines of new publishes) is looked at in good time.
const WAIT_SLICE: Duration = Duration::from_millis(250);
/// Read timeout once the socket reported data (a TLS record may still be arriving).
const READ_AFTER_READY: Duration = Duration::from_millis(50);
/// Shortest wait for data on transports without a readiness handle (socket
/// timeouts cannot be zero).
const MIN_WAIT: Duration = Duration::from_millis(1);
/// Read slice for transports without a readiness handle; the transport lock
/// is held meanwhile, so it stays short.
const FALLBACK_READ_SLICE: Duration = Duration::from_millis(20);

/// Why a client operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The options cannot work (the message says which).
    InvalidOptions(String),
    /// Opening the transport (TCP/TLS) failed.
    Open(TransportError),
    /// Reading the connection failed.
    Io(TransportError),
    /// Writing the connection failed (a failed write is not a read error).
    Write(TransportError),
    /// Writing a packet did not finish within the request timeout.
    WriteTimeout,
    /// No CONNACK within the request timeout.
    ConnAckTimeout,
    /// No PINGRESP within the request timeout.
    PingTimeout,
    /// The server refused the connection with this CONNACK return code.
    Refused(u8),
    /// The server sent a malformed packet.
    Protocol {
        packet: Option<PacketType>,
        error: DecodeError,
    },
    /// The server sent a packet a client must never receive at this point.
    UnexpectedPacket(PacketType),
    /// A QoS 2 PUBLISH arrived although only QoS 0/1 were ever requested.
    UnexpectedQoS2,
    /// Not connected (QoS 0 publish while reconnecting).
    Offline,
    /// The offline queue already holds `limit` QoS 1 publishes.
    OfflineQueueFull {
        limit: usize,
    },
    /// All 65535 packet identifiers are in use.
    TooManyInFlight,
    /// `disconnect` was called.
    Closed,
    /// The packet needs `needed` bytes but the write buffer holds `limit`.
    TxBufferTooShort {
        needed: usize,
        limit: usize,
    },
    InvalidTopicName(TopicError),
    InvalidTopicFilter(TopicError),
    /// The packet could not be encoded (e.g. a field over 65535 bytes).
    Encode {
        packet: PacketType,
        error: EncodeError,
    },
    /// `subscribe_sync` got no SUBACK in time.
    SubscribeTimeout,
    /// The server refused the subscription (SUBACK 0x80).
    SubscribeRefused,
    /// A call that serves the connection was made from inside a handler.
    Reentrant(&'static str),
}

impl ClientError {
    /// The fitting `STATE_*` code of the vendor's infra_state.h.
    pub fn state_code(&self) -> i32 {
        match self {
            ClientError::InvalidOptions(_) => state::STATE_USER_INPUT_OUT_RANGE,
            ClientError::Open(TransportError::OpenFailed { state_code, .. }) => *state_code,
            ClientError::Open(_) => state::STATE_SYS_DEPEND_NWK_CLOSE,
            ClientError::Io(TransportError::PeerClosed) => state::STATE_SYS_DEPEND_NWK_CLOSE,
            // The vendor has no write-error code: a failed write closes the link.
            ClientError::Write(_) => state::STATE_SYS_DEPEND_NWK_CLOSE,
            ClientError::Io(TransportError::Failed(_) | TransportError::OpenFailed { .. }) => {
                state::STATE_SYS_DEPEND_NWK_READ_ERROR
            }
            ClientError::WriteTimeout | ClientError::ConnAckTimeout | ClientError::PingTimeout => {
                state::STATE_SYS_DEPEND_NWK_TIMEOUT
            }
            ClientError::Refused(code) => connack_state_code(*code),
            ClientError::Protocol { packet, .. } => match packet {
                Some(PacketType::ConnAck) => state::STATE_MQTT_DESERIALIZE_CONNACK_ERROR,
                Some(PacketType::Publish) => state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
                Some(PacketType::SubAck) => state::STATE_MQTT_DESERIALIZE_SUBACK_ERROR,
                Some(PacketType::UnsubAck) => state::STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR,
                _ => state::STATE_MQTT_PACKET_READ_ERROR,
            },
            ClientError::UnexpectedPacket(_) | ClientError::UnexpectedQoS2 => {
                state::STATE_MQTT_RECV_UNKNOWN_PACKET
            }
            ClientError::Offline | ClientError::OfflineQueueFull { .. } | ClientError::Closed => {
                state::STATE_MQTT_IN_OFFLINE_STATUS
            }
            ClientError::TooManyInFlight => state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX,
            ClientError::TxBufferTooShort { .. } => state::STATE_MQTT_TX_BUFFER_TOO_SHORT,
            ClientError::InvalidTopicName(_) | ClientError::InvalidTopicFilter(_) => {
                state::STATE_MQTT_UNEXP_TOPIC_FORMAT
            }
            ClientError::Encode { packet, .. } => match packet {
                PacketType::Connect => state::STATE_MQTT_SERIALIZE_CONN_ERROR,
                PacketType::Subscribe => state::STATE_MQTT_SERIALIZE_SUB_ERROR,
                PacketType::Unsubscribe => state::STATE_MQTT_SERIALIZE_UNSUB_ERROR,
                _ => state::STATE_MQTT_SERIALIZE_PUB_ERROR,
            },
            ClientError::SubscribeTimeout => state::STATE_MQTT_SYNC_SUB_TIMEOUT,
            ClientError::SubscribeRefused => state::STATE_MQTT_SUB_INFO,
            ClientError::Reentrant(_) => state::STATE_MQTT_ASYNC_STACK_NOT_SUPPORT,
        }
    }
}

fn connack_state_code(code: u8) -> i32 {
    match code {
        1 => state::STATE_MQTT_CONNACK_VERSION_UNACCEPT,
        2 => state::STATE_MQTT_CONNACK_IDENT_REJECT,
        3 => state::STATE_MQTT_CONNACK_SERVICE_NA,
        4 => state::STATE_MQTT_CONNACK_BAD_USERDATA,
        5 => state::STATE_MQTT_CONNACK_NOT_AUTHORIZED,
        _ => state::STATE_MQTT_CONNACK_UNKNOWN_ERROR,
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidOptions(why) => write!(f, "invalid MQTT options: {why}"),
            ClientError::Open(e) => write!(f, "could not open the connection to the MQTT server: {e}"),
            ClientError::Io(TransportError::PeerClosed) => {
                f.write_str("the server closed the MQTT connection")
            }
            ClientError::Io(e) => write!(f, "reading from the MQTT connection failed: {e}"),
            ClientError::Write(e) => write!(f, "writing to the MQTT connection failed: {e}"),
            ClientError::WriteTimeout => {
                f.write_str("writing to the MQTT server did not finish within the request timeout")
            }
            ClientError::ConnAckTimeout => f.write_str(
                "the MQTT server sent no CONNACK within the request timeout (is it an MQTT server?)",
            ),
            ClientError::PingTimeout => f.write_str(
                "the MQTT server did not answer PINGREQ within the request timeout; the connection is dead",
            ),
            ClientError::Refused(code) => write!(
                f,
                "the MQTT server refused the connection (CONNACK code {code}): {}",
                match code {
                    1 => "it does not accept MQTT 3.1.1",
                    2 => "it rejected the client identifier; check product key and device name",
                    3 => "the MQTT service is unavailable; try again later",
                    4 => "bad user name or password; check the device credentials",
                    5 => "not authorized; check the device certificate and its permissions",
                    _ => "unknown reason",
                }
            ),
            ClientError::Protocol { packet, error } => match packet {
                Some(p) => write!(f, "the MQTT server sent a malformed {p}: {error}"),
                None => write!(f, "the MQTT server sent a malformed packet: {error}"),
            },
            ClientError::UnexpectedPacket(p) => {
                write!(f, "the MQTT server sent {p}, which a client never expects here")
            }
            ClientError::UnexpectedQoS2 => {
                f.write_str("the MQTT server sent a QoS 2 message although only QoS 0/1 were requested")
            }
            ClientError::Offline => f.write_str(
                "not connected to the MQTT server (reconnecting); QoS 0 messages are not queued",
            ),
            ClientError::OfflineQueueFull { limit } => write!(
                f,
                "not connected to the MQTT server and {limit} QoS 1 messages already wait to be sent"
            ),
            ClientError::TooManyInFlight => {
                f.write_str("all 65535 MQTT packet identifiers are in use by unacknowledged requests")
            }
            ClientError::Closed => f.write_str("the MQTT client was disconnected"),
            ClientError::TxBufferTooShort { needed, limit } => write!(
                f,
                "the MQTT packet needs {needed} bytes but at most {limit} may be sent (write buffer or maximum packet size)"
            ),
            ClientError::InvalidTopicName(e) => write!(f, "invalid topic: {e}"),
            ClientError::InvalidTopicFilter(e) => write!(f, "invalid topic filter: {e}"),
            ClientError::Encode { packet, error } => write!(f, "cannot build {packet}: {error}"),
            ClientError::SubscribeTimeout => {
                f.write_str("the MQTT server did not acknowledge the subscription in time")
            }
            ClientError::SubscribeRefused => {
                f.write_str("the MQTT server refused the subscription (SUBACK 0x80); check the topic's permissions")
            }
            ClientError::Reentrant(what) => write!(
                f,
                "{what} cannot be called from inside an MQTT message or event handler"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Subscribe,
    Unsubscribe,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Acked,
    Refused,
    TimedOut,
}

/// A SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement.
struct Request {
    packet_id: u16,
    kind: RequestKind,
    filter: String,
    qos: u8,
    /// When it times out; `None` while not sent on the current connection.
    deadline: Option<Instant>,
    /// A `subscribe_sync` caller collects the outcome.
    waited: bool,
    outcome: Option<Outcome>,
}

/// An unacknowledged QoS 1 publish, kept encoded for resending.
struct Outgoing {
    packet_id: u16,
    bytes: Vec<u8>,
    /// `None` while not sent on the current connection.
    sent_at: Option<Instant>,
    ever_sent: bool,
    resends: u32,
}

struct Subscription {
    filter: String,
    qos: QoS,
    handler: Option<Handler>,
    /// The broker acknowledged it on the current session: a resumed
    /// session (CONNACK session present) still holds it.
    acked: bool,
}

struct State {
    reader_owner: Option<ThreadId>,
    closed: bool,
    next_packet_id: u16,
    subscriptions: Vec<Subscription>,
    requests: Vec<Request>,
    /// In publish order, so a reconnect resends (and the offline queue
    /// sends) oldest first.
    outgoing: VecDeque<Outgoing>,
    /// Spent publish buffers, reused so steady-state QoS 1 does not allocate.
    pool: Vec<Vec<u8>>,
    last_ping: Instant,
    ping_sent_at: Option<Instant>,
    reconnect_at: Instant,
    /// The reconnect sequence: it starts over only after a link stayed up
    /// for a keep-alive period.
    backoff: Backoff,
    /// `stop_reconnecting` was called: a lost link stays down.
    reconnect_stopped: bool,
}

struct Io {
    transport: Option<Box<dyn Transport>>,
    /// A handle on the socket to wake the reader's readiness wait when the
    /// connection is dropped from another thread.
    shutdown: Option<TcpStream>,
    write_buf: Vec<u8>,
    /// Why a writer dropped the connection; the reader reports it.
    failure: Option<ClientError>,
}

/// Events gathered under the state lock and delivered after releasing it.
#[derive(Clone, Copy)]
enum Notice {
    SubscribeAck(u16),
    SubscribeNack(u16),
    SubscribeTimeout(u16),
    UnsubscribeAck(u16),
    UnsubscribeTimeout(u16),
    PublishAck(u16),
    PublishTimeout(u16),
}

impl Notice {
    fn event(self) -> Event<'static> {
        match self {
            Notice::SubscribeAck(packet_id) => Event::SubscribeAck { packet_id },
            Notice::SubscribeNack(packet_id) => Event::SubscribeNack { packet_id },
            Notice::SubscribeTimeout(packet_id) => Event::SubscribeTimeout { packet_id },
            Notice::UnsubscribeAck(packet_id) => Event::UnsubscribeAck { packet_id },
            Notice::UnsubscribeTimeout(packet_id) => Event::UnsubscribeTimeout { packet_id },
            Notice::PublishAck(packet_id) => Event::PublishAck { packet_id },
            Notice::PublishTimeout(packet_id) => Event::PublishTimeout { packet_id },
        }
    }
}

/// What only the token holder touches.
struct Reader {
    buf: Vec<u8>,
    /// Unprocessed bytes are `buf[start..filled]`.
    start: usize,
    filled: usize,
    /// Bytes of an oversized packet still to skip.
    discard: usize,
    /// PUBACK owed for a skipped oversized QoS 1 PUBLISH.
    overflow_ack: Option<u16>,
    online: bool,
    /// When bytes last arrived on the current connection.
    last_rx: Option<Instant>,
    readiness: Option<TcpStream>,
    handlers: Vec<Handler>,
    notices: Vec<Notice>,
}

impl Reader {
    fn reset(&mut self) {
        self.start = 0;
        self.filled = 0;
        self.discard = 0;
        self.overflow_ack = None;
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
    }
}

/// Releases the reader token on every exit, panics included.
struct ReaderToken<'c> {
    client: &'c Client,
}

impl Drop for ReaderToken<'_> {
    fn drop(&mut self) {
        let mut state = self.client.lock_state();
        state.reader_owner = None;
        drop(state);
        self.client.changed.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An MQTT 3.1.1 client session. `Send + Sync`; every method takes `&self`.
pub struct Client {
    options: Options,
    /// Time zero of the core's millisecond clock.
    epoch: Instant,
    /// The largest packet sent (0: the write buffer size).
    max_packet_size: AtomicUsize,
    /// See [`Client::give_up_refused_publishes`].
    give_up_refused: AtomicBool,
    connector: Box<dyn Connector>,
    default_handler: Option<Handler>,
    interceptor: Option<Interceptor>,
    connected: AtomicBool,
    state: Mutex<State>,
    /// Signalled when the reader token is released, a request completes or
    /// the client is closed.
    changed: Condvar,
    io: Mutex<Io>,
    reader: Mutex<Reader>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

fn check_options(options: &Options) -> Result<(), ClientError> {
    let invalid = |why: String| Err(ClientError::InvalidOptions(why));
    if options.read_buf_size < MIN_BUFFER_SIZE || options.write_buf_size < MIN_BUFFER_SIZE {
        return invalid(format!(
            "read and write buffers need at least {MIN_BUFFER_SIZE} bytes (got {} and {})",
            options.read_buf_size, options.write_buf_size
        ));
    }
    if options.request_timeout.is_zero() {
        return invalid("the request timeout must be above zero".into());
    }
    if options.reconnect_min.is_zero() || options.reconnect_max < options.reconnect_min {
        return invalid(format!(
            "the reconnect interval must satisfy 0 < min <= max (got {} ms..{} ms)",
            options.reconnect_min.as_millis(),
            options.reconnect_max.as_millis()
        ));
    }
    let day = Duration::from_secs(24 * 3600);
    if options.request_timeout > day || options.reconnect_max > day {
        return invalid(format!(
            "request timeout and reconnect interval must stay within a day (got {} ms and {} ms)",
            options.request_timeout.as_millis(),
            options.reconnect_max.as_millis()
        ));
    }
    if options.keepalive.as_secs() > u64::from(u16::MAX) {
        return invalid(format!(
            "keep-alive {} s exceeds MQTT's 65535 seconds",
            options.keepalive.as_secs()
        ));
    }
    Ok(())
}

/// `timeout` from now, saturating far in the future instead of overflowing.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The topic of the PUBLISH whose head is at the start of `head`, or "".
fn publish_topic_of(head: &[u8]) -> &str {
    if head.first().and_then(|b| packet_type_of(*b)) != Some(PacketType::Publish) {
        return "";
    }
    // Fixed header: one byte, then 1..4 bytes of remaining length.
    let Some(len_bytes) = head[1..].iter().take(4).position(|b| b & 0x80 == 0) else {
        return "";
    };
    let at = 2 + len_bytes;
    let (Some(&hi), Some(&lo)) = (head.get(at), head.get(at + 1)) else {
        return "";
    };
    let topic_len = usize::from(u16::from_be_bytes([hi, lo]));
    head.get(at + 2..at + 2 + topic_len)
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("")
}

/// A random number for backoff jitter, from the operating system's source
/// (falling back to std's randomly keyed hasher where `/dev/urandom` is missing).
fn jitter_random() -> u32 {
    let mut bytes = [0u8; 4];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u32::from_ne_bytes(bytes),
        Err(_) => (RandomState::new().hash_one(Instant::now()) >> 32) as u32,
    }
}

/// Milliseconds since `epoch`, the core's clock.
fn millis_since(epoch: Instant, now: Instant) -> Millis {
    now.saturating_duration_since(epoch).as_millis() as Millis
}

/// The core's reconnect policy from the client's options: delays from
/// `reconnect_min / 2 ..= reconnect_min` at first, doubling up to
/// `reconnect_max / 2 ..= reconnect_max`; the sequence starts over after a
/// link stayed up for the keep-alive period (60 s when keep-alive is off).
fn backoff_config(options: &Options) -> BackoffConfig {
    let stable = if options.keepalive.is_zero() {
        Duration::from_secs(60)
    } else {
        options.keepalive
    };
    BackoffConfig {
        first_ms: (options.reconnect_min.as_millis() as u64 / 2).max(1),
        cap_ms: (options.reconnect_max.as_millis() as u64).max(1),
        stable_ms: stable.as_millis() as u64,
    }
}

/// What the backoff policy needs to know about why a link went down.
fn disconnect_reason(error: &ClientError) -> DisconnectReason {
    use iotkit_core::mqtt::session::TransportError as Link;
    match error {
        ClientError::Refused(code) => DisconnectReason::Refused(*code),
        ClientError::ConnAckTimeout => DisconnectReason::ConnAckTimeout,
        ClientError::PingTimeout => DisconnectReason::PingTimeout,
        ClientError::Protocol { error, .. } => DisconnectReason::Protocol(*error),
        ClientError::UnexpectedPacket(packet) => DisconnectReason::UnexpectedPacket(*packet),
        ClientError::Io(TransportError::PeerClosed) => DisconnectReason::Transport(Link::Closed),
        ClientError::WriteTimeout | ClientError::Write(_) => {
            DisconnectReason::Transport(Link::Write)
        }
        _ => DisconnectReason::Transport(Link::Read),
    }
}

impl Client {
    /// Opens the transport, sends CONNECT and waits for CONNACK within the
    /// request timeout. `default_handler` gets every event not routed to a
    /// subscription handler; `interceptor` sees every incoming PUBLISH first.
    pub fn connect(
        options: Options,
        connector: Box<dyn Connector>,
        default_handler: Option<Handler>,
        interceptor: Option<Interceptor>,
    ) -> Result<Client, ClientError> {
        // Failures are returned, not raised: the caller reports each once.
        check_options(&options)?;
        let now = Instant::now();
        let client = Client {
            epoch: now,
            max_packet_size: AtomicUsize::new(0),
            give_up_refused: AtomicBool::new(false),
            connector,
            default_handler,
            interceptor,
            connected: AtomicBool::new(false),
            state: Mutex::new(State {
                reader_owner: None,
                closed: false,
                next_packet_id: 0,
                subscriptions: Vec::new(),
                requests: Vec::new(),
                outgoing: VecDeque::new(),
                pool: Vec::new(),
                last_ping: now,
                ping_sent_at: None,
                reconnect_at: now,
                backoff: Backoff::new(backoff_config(&options)),
                reconnect_stopped: false,
            }),
            changed: Condvar::new(),
            io: Mutex::new(Io {
                transport: None,
                shutdown: None,
                write_buf: vec![0; options.write_buf_size],
                failure: None,
            }),
            reader: Mutex::new(Reader {
                buf: vec![0; options.read_buf_size],
                start: 0,
                filled: 0,
                discard: 0,
                overflow_ack: None,
                online: false,
                last_rx: None,
                readiness: None,
                handlers: Vec::with_capacity(8),
                notices: Vec::with_capacity(8),
            }),
            options,
        };
        {
            // Handlers of the Connected event run with the token held, like
            // every other handler.
            let token = client
                .acquire_reader(Instant::now(), None)?
                .ok_or(ClientError::Closed)?;
            let mut reader = lock(&client.reader);
            client.establish(&mut reader)?;
            client.emit(&Event::Connected);
            drop(reader);
            drop(token);
        }
        Ok(client)
    }

    /// Serves the connection for `timeout`: reads and dispatches packets,
    /// keeps alive, resends, times out requests, reconnects with backoff.
    /// Sleeps while there is nothing to do. Returns `Err(Closed)` after
    /// `disconnect` and `Err(Reentrant)` from inside a handler; when another
    /// thread is serving, waits for it to finish (up to `timeout`).
    pub fn yield_for(&self, timeout: Duration) -> Result<(), ClientError> {
        let deadline = deadline_after(timeout);
        let Some(_token) = self.acquire_reader(deadline, None)? else {
            return Ok(());
        };
        let mut reader = lock(&self.reader);
        self.serve(&mut reader, deadline, None)
    }

    /// Subscribes; the SUBACK arrives later as `SubscribeAck`/`SubscribeNack`
    /// (or `SubscribeTimeout`). Subscribing again to the same filter replaces
    /// its handler. While offline the subscription is sent on reconnecting.
    pub fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        handler: Option<Handler>,
    ) -> Result<u16, ClientError> {
        self.request_subscribe(filter, qos, handler, false)
    }

    /// Subscribes and waits up to `timeout` for the SUBACK, serving the
    /// connection meanwhile (or, when another thread is inside `yield_for`,
    /// waiting for that thread to process the SUBACK).
    pub fn subscribe_sync(
        &self,
        filter: &str,
        qos: QoS,
        handler: Option<Handler>,
        timeout: Duration,
    ) -> Result<u16, ClientError> {
        if self.lock_state().reader_owner == Some(thread::current().id()) {
            return Err(ClientError::Reentrant("subscribe_sync"));
        }
        let deadline = deadline_after(timeout);
        let packet_id = self.request_subscribe(filter, qos, handler, true)?;
        loop {
            let outcome = {
                let mut state = self.lock_state();
                let index = state
                    .requests
                    .iter()
                    .position(|r| r.packet_id == packet_id && r.waited);
                match index {
                    None => Some(Outcome::TimedOut),
                    Some(i) => match state.requests[i].outcome {
                        Some(outcome) => {
                            state.requests.remove(i);
                            Some(outcome)
                        }
                        None if state.closed => {
                            state.requests.remove(i);
                            return Err(ClientError::Closed);
                        }
                        None if Instant::now() >= deadline => {
                            state.requests.remove(i);
                            Some(Outcome::TimedOut)
                        }
                        None => None,
                    },
                }
            };
            match outcome {
                Some(Outcome::Acked) => return Ok(packet_id),
                Some(Outcome::Refused) => return Err(ClientError::SubscribeRefused),
                Some(Outcome::TimedOut) => return Err(ClientError::SubscribeTimeout),
                None => {}
            }
            if let Some(_token) = self.acquire_reader(deadline, Some(packet_id))? {
                let mut reader = lock(&self.reader);
                self.serve(&mut reader, deadline, Some(packet_id))?;
            }
        }
    }

    /// Unsubscribes; UNSUBACK arrives as `UnsubscribeAck`. The handler is
    /// removed at once.
    pub fn unsubscribe(&self, filter: &str) -> Result<u16, ClientError> {
        topic::validate_topic_filter(filter).map_err(ClientError::InvalidTopicFilter)?;
        let filters = [filter];
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: 1,
            filters: UnsubscribeFilters::List(&filters),
        });
        self.check_fits(&packet)?;
        let mut state = self.lock_state();
        if state.closed {
            return Err(ClientError::Closed);
        }
        state.subscriptions.retain(|s| s.filter != filter);
        let packet_id = Self::allocate_packet_id(&mut state)?;
        state.requests.push(Request {
            packet_id,
            kind: RequestKind::Unsubscribe,
            filter: filter.to_owned(),
            qos: 0,
            deadline: None,
            waited: false,
            outcome: None,
        });
        self.send_request(&mut state, packet_id)?;
        Ok(packet_id)
    }

    /// Publishes. QoS 0 returns 0 and fails while offline; QoS 1 returns the
    /// packet id, is resent (DUP) until acknowledged and queued while offline
    /// (up to `offline_queue_limit`).
    pub fn publish(
        &self,
        topic_name: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<u16, ClientError> {
        topic::validate_topic_name(topic_name).map_err(ClientError::InvalidTopicName)?;
        let mut publish = Publish {
            topic: topic_name,
            payload,
            qos: qos as u8,
            dup: false,
            retain,
            packet_id: if qos == QoS::AtLeastOnce { 1 } else { 0 },
        };
        let len = self.check_fits(&Packet::Publish(publish))?;
        if qos == QoS::AtMostOnce {
            if !self.connected.load(Ordering::Acquire) {
                return Err(if self.lock_state().closed {
                    ClientError::Closed
                } else {
                    ClientError::Offline
                });
            }
            self.send_packet(&Packet::Publish(publish))?;
            return Ok(0);
        }
        let mut state = self.lock_state();
        if state.closed {
            return Err(ClientError::Closed);
        }
        let online = self.connected.load(Ordering::Acquire);
        if !online {
            let queued = state
                .outgoing
                .iter()
                .filter(|o| o.sent_at.is_none())
                .count();
            if queued >= self.options.offline_queue_limit {
                return Err(ClientError::OfflineQueueFull {
                    limit: self.options.offline_queue_limit,
                });
            }
        }
        publish.packet_id = Self::allocate_packet_id(&mut state)?;
        let mut bytes = state.pool.pop().unwrap_or_default();
        bytes.clear();
        bytes.resize(len, 0);
        codec::encode(&Packet::Publish(publish), &mut bytes).map_err(|error| {
            ClientError::Encode {
                packet: PacketType::Publish,
                error,
            }
        })?;
        let mut entry = Outgoing {
            packet_id: publish.packet_id,
            bytes,
            sent_at: None,
            ever_sent: false,
            resends: 0,
        };
        if online {
            // A failed write leaves the publish queued for the reconnect.
            if self.write_bytes(&entry.bytes).is_ok() {
                entry.sent_at = Some(Instant::now());
                entry.ever_sent = true;
            }
        }
        state.outgoing.push_back(entry);
        Ok(publish.packet_id)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Sends DISCONNECT and closes. Safe at any time and more than once; a
    /// `yield_for` or `subscribe_sync` in another thread returns `Err(Closed)`.
    pub fn disconnect(&self) {
        let mut state = self.lock_state();
        if state.closed {
            return;
        }
        state.closed = true;
        {
            let mut io = lock(&self.io);
            if let Some(mut transport) = io.transport.take() {
                let bytes = [(PacketType::Disconnect as u8) << 4, 0];
                let _ = transport.write(&bytes, self.options.request_timeout);
            }
            if let Some(socket) = io.shutdown.take() {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        self.connected.store(false, Ordering::Release);
        drop(state);
        self.changed.notify_all();
    }

    /// Outgoing packets larger than `limit` bytes (the broker's maximum
    /// packet size) are refused with [`ClientError::TxBufferTooShort`]
    /// before anything is sent, instead of making the broker drop the
    /// connection. The limit never exceeds the write buffer; 0 restores it.
    pub fn set_max_packet_size(&self, limit: usize) {
        self.max_packet_size.store(limit, Ordering::Release);
    }

    /// Opt-in (off by default): a QoS 1 publish after which the broker
    /// dropped the link without sending anything (what a broker does to a
    /// publish it refuses, e.g. one over its maximum packet size) is charged
    /// an attempt; after [`MAX_PUBLISH_RESENDS`] such reconnects it is given
    /// up with [`Event::PublishTimeout`] and a `STATE_MQTT_QOS1_REPUB_EXCEED_MAX`
    /// state event, so later publishes get through. Off, a QoS 1 publish is
    /// resent after every reconnect until acknowledged: a flaky link looks
    /// the same as a refusal and must not lose messages.
    pub fn give_up_refused_publishes(&self, on: bool) {
        self.give_up_refused.store(on, Ordering::Release);
    }

    /// The largest packet this client sends.
    pub fn max_packet_size(&self) -> usize {
        match self.max_packet_size.load(Ordering::Acquire) {
            0 => self.options.write_buf_size,
            limit => limit.min(self.options.write_buf_size),
        }
    }

    /// From now on a lost link is not re-opened: the client stays
    /// disconnected (and reports it) until it is dropped. For a device the
    /// platform disabled. Safe from any thread and from handlers.
    pub fn stop_reconnecting(&self) {
        self.lock_state().reconnect_stopped = true;
        self.changed.notify_all();
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(handler) = &self.default_handler {
            handler(event);
        }
    }

    fn check_fits(&self, packet: &Packet<'_>) -> Result<usize, ClientError> {
        let needed = codec::encoded_len(packet).map_err(|error| match error {
            EncodeError::InvalidTopicName(e) => ClientError::InvalidTopicName(e),
            EncodeError::InvalidTopicFilter(e) => ClientError::InvalidTopicFilter(e),
            error => ClientError::Encode {
                packet: packet.packet_type(),
                error,
            },
        })?;
        let limit = self.max_packet_size();
        if needed > limit {
            return Err(ClientError::TxBufferTooShort { needed, limit });
        }
        Ok(needed)
    }

    fn allocate_packet_id(state: &mut State) -> Result<u16, ClientError> {
        if state.outgoing.len() + state.requests.len() >= usize::from(u16::MAX) {
            return Err(ClientError::TooManyInFlight);
        }
        loop {
            state.next_packet_id = state.next_packet_id.wrapping_add(1);
            let id = state.next_packet_id;
            if id != 0
                && !state.outgoing.iter().any(|o| o.packet_id == id)
                && !state.requests.iter().any(|r| r.packet_id == id)
            {
                return Ok(id);
            }
        }
    }

    fn request_subscribe(
        &self,
        filter: &str,
        qos: QoS,
        handler: Option<Handler>,
        waited: bool,
    ) -> Result<u16, ClientError> {
        topic::validate_topic_filter(filter).map_err(ClientError::InvalidTopicFilter)?;
        let filters = [(filter, qos as u8)];
        self.check_fits(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: SubscribeFilters::List(&filters),
        }))?;
        let mut state = self.lock_state();
        if state.closed {
            return Err(ClientError::Closed);
        }
        match state.subscriptions.iter_mut().find(|s| s.filter == filter) {
            Some(existing) => {
                existing.qos = qos;
                existing.handler = handler;
                existing.acked = false;
            }
            None => state.subscriptions.push(Subscription {
                filter: filter.to_owned(),
                qos,
                handler,
                acked: false,
            }),
        }
        let packet_id = Self::allocate_packet_id(&mut state)?;
        state.requests.push(Request {
            packet_id,
            kind: RequestKind::Subscribe,
            filter: filter.to_owned(),
            qos: qos as u8,
            deadline: None,
            waited,
            outcome: None,
        });
        self.send_request(&mut state, packet_id)?;
        Ok(packet_id)
    }

    /// Sends the request `packet_id` if connected; offline it waits for the
    /// reconnect. Only a write failure (which drops the connection) keeps it
    /// unsent too.
    fn send_request(&self, state: &mut State, packet_id: u16) -> Result<(), ClientError> {
        if !self.connected.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(request) = state.requests.iter_mut().find(|r| r.packet_id == packet_id) else {
            return Ok(());
        };
        if self.write_request(request).is_ok() {
            request.deadline = Some(Instant::now() + self.options.request_timeout);
        }
        Ok(())
    }

    fn write_request(&self, request: &Request) -> Result<(), ClientError> {
        let subscribe_filters = [(request.filter.as_str(), request.qos)];
        let unsubscribe_filters = [request.filter.as_str()];
        let packet = match request.kind {
            RequestKind::Subscribe => Packet::Subscribe(Subscribe {
                packet_id: request.packet_id,
                filters: SubscribeFilters::List(&subscribe_filters),
            }),
            RequestKind::Unsubscribe => Packet::Unsubscribe(Unsubscribe {
                packet_id: request.packet_id,
                filters: UnsubscribeFilters::List(&unsubscribe_filters),
            }),
        };
        self.send_packet(&packet)
    }

    /// Encodes into the write buffer and sends in one transport write.
    fn send_packet(&self, packet: &Packet<'_>) -> Result<(), ClientError> {
        let mut io = lock(&self.io);
        let Io {
            transport,
            write_buf,
            ..
        } = &mut *io;
        if transport.is_none() {
            return Err(ClientError::Offline);
        }
        let len = codec::encode(packet, write_buf).map_err(|error| match error {
            EncodeError::BufferTooSmall { needed, available } => ClientError::TxBufferTooShort {
                needed,
                limit: available,
            },
            error => ClientError::Encode {
                packet: packet.packet_type(),
                error,
            },
        })?;
        let result = Self::write_all(
            transport.as_mut().expect("checked above"),
            &write_buf[..len],
            self.options.request_timeout,
        );
        self.after_write(&mut io, result)
    }

    fn write_bytes(&self, bytes: &[u8]) -> Result<(), ClientError> {
        let mut io = lock(&self.io);
        let Some(transport) = io.transport.as_mut() else {
            return Err(ClientError::Offline);
        };
        let result = Self::write_all(transport, bytes, self.options.request_timeout);
        self.after_write(&mut io, result)
    }

    fn write_all(
        transport: &mut Box<dyn Transport>,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        let mut written = 0;
        while written < bytes.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::WriteTimeout);
            }
            written += transport
                .write(&bytes[written..], left)
                .map_err(ClientError::Write)?;
        }
        Ok(())
    }

    /// A failed write leaves a half-written packet on the stream: the
    /// connection is dropped and the reader reports it.
    fn after_write(&self, io: &mut Io, result: Result<(), ClientError>) -> Result<(), ClientError> {
        if let Err(e) = &result {
            Self::drop_transport(io);
            io.failure.get_or_insert_with(|| e.clone());
            self.connected.store(false, Ordering::Release);
        }
        result
    }

    fn drop_transport(io: &mut Io) {
        io.transport = None;
        if let Some(socket) = io.shutdown.take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Waits for the reader token until `deadline`. `Ok(None)`: time is up
    /// or the watched request completed meanwhile.
    fn acquire_reader(
        &self,
        deadline: Instant,
        watch: Option<u16>,
    ) -> Result<Option<ReaderToken<'_>>, ClientError> {
        let me = thread::current().id();
        let mut state = self.lock_state();
        loop {
            if state.closed {
                return Err(ClientError::Closed);
            }
            match state.reader_owner {
                Some(owner) if owner == me => {
                    return Err(ClientError::Reentrant(if watch.is_some() {
                        "subscribe_sync"
                    } else {
                        "yield_for"
                    }))
                }
                None => {
                    state.reader_owner = Some(me);
                    return Ok(Some(ReaderToken { client: self }));
                }
                Some(_) => {}
            }
            if let Some(id) = watch {
                if Self::request_settled(&state, id) {
                    return Ok(None);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn request_settled(state: &State, packet_id: u16) -> bool {
        state
            .requests
            .iter()
            .find(|r| r.packet_id == packet_id)
            .map_or(true, |r| r.outcome.is_some())
    }

    /// The state machine, run by the token holder until `deadline` (or until
    /// request `watch` settles).
    fn serve(
        &self,
        reader: &mut Reader,
        deadline: Instant,
        watch: Option<u16>,
    ) -> Result<(), ClientError> {
        // Even a zero timeout looks at the socket once.
        let mut polled = false;
        loop {
            // State events and notices raised while serving reach the
            // firmware here, where neither `state` nor `io` is held (the
            // reader token stays with this thread, as for every handler).
            events::deliver_pending();
            {
                let state = self.lock_state();
                if state.closed {
                    return Err(ClientError::Closed);
                }
                if let Some(id) = watch {
                    if Self::request_settled(&state, id) {
                        return Ok(());
                    }
                }
            }
            if reader.online && !self.connected.load(Ordering::Acquire) {
                self.connection_lost(reader, None);
            }
            let now = Instant::now();
            if !reader.online {
                let mut state = self.lock_state();
                if now >= state.reconnect_at && !state.reconnect_stopped {
                    drop(state);
                    self.reconnect(reader)?;
                    continue;
                }
                if now >= deadline {
                    return Ok(());
                }
                let until = if state.reconnect_stopped {
                    deadline
                } else {
                    state.reconnect_at.min(deadline)
                };
                // Sleep out the backoff; disconnect() wakes us.
                state = self
                    .changed
                    .wait_timeout(state, until - now)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
                drop(state);
                continue;
            }
            if let Err(e) = self.process_buffer(reader) {
                self.connection_lost(reader, Some(e));
                continue;
            }
            if let Some(id) = watch {
                if Self::request_settled(&self.lock_state(), id) {
                    return Ok(());
                }
            }
            let next_timer = match self.run_timers(reader, now) {
                Ok(next) => next,
                Err(e) => {
                    self.connection_lost(reader, Some(e));
                    continue;
                }
            };
            if now >= deadline && polled {
                return Ok(());
            }
            polled = true;
            let until = deadline.min(next_timer).min(now + WAIT_SLICE);
            if let Err(e) = self.read_some(reader, until) {
                self.connection_lost(reader, Some(e));
            }
        }
    }

    /// Waits until data arrives or `until`, then reads what is there.
    fn read_some(&self, reader: &mut Reader, until: Instant) -> Result<(), ClientError> {
        let buffered = lock(&self.io)
            .transport
            .as_ref()
            .is_some_and(|t| t.buffered() > 0);
        let read_timeout = match &reader.readiness {
            Some(socket) if !buffered => {
                let wait = until.saturating_duration_since(Instant::now());
                if !wait_readable(socket, wait) {
                    return Ok(());
                }
                READ_AFTER_READY
            }
            Some(_) => READ_AFTER_READY,
            None => until
                .saturating_duration_since(Instant::now())
                .clamp(MIN_WAIT, FALLBACK_READ_SLICE),
        };
        reader.compact();
        if reader.filled == reader.buf.len() {
            // process_buffer always makes room; nothing to read into.
            return Ok(());
        }
        let mut io = lock(&self.io);
        let Some(transport) = io.transport.as_mut() else {
            return Ok(()); // dropped by a writer; serve() notices
        };
        match transport.read(&mut reader.buf[reader.filled..], read_timeout) {
            Ok(n) => {
                if n > 0 {
                    reader.last_rx = Some(Instant::now());
                }
                reader.filled += n;
                Ok(())
            }
            Err(e) => {
                Self::drop_transport(&mut io);
                self.connected.store(false, Ordering::Release);
                Err(ClientError::Io(e))
            }
        }
    }

    /// Decodes and handles every complete packet in the read buffer.
    fn process_buffer(&self, reader: &mut Reader) -> Result<(), ClientError> {
        loop {
            if reader.discard > 0 {
                let skip = reader.discard.min(reader.filled - reader.start);
                reader.start += skip;
                reader.discard -= skip;
                if reader.discard > 0 {
                    break;
                }
                if let Some(packet_id) = reader.overflow_ack.take() {
                    self.send_small(&puback_bytes(packet_id))?;
                }
                continue;
            }
            let pending = &reader.buf[reader.start..reader.filled];
            let frame = codec::frame(pending).map_err(|error| ClientError::Protocol {
                packet: pending.first().and_then(|b| packet_type_of(*b)),
                error,
            })?;
            let Framing::Complete { total_len, .. } = frame else {
                break;
            };
            if total_len > reader.buf.len() {
                // Too big to ever fit: once the buffer is full of its head,
                // report and skip the rest as it arrives.
                reader.compact();
                if reader.filled < reader.buf.len() {
                    break;
                }
                reader.overflow_ack = owed_puback(&reader.buf);
                reader.discard = total_len - reader.filled;
                reader.start = reader.filled;
                self.emit(&Event::BufferOverflow {
                    needed: total_len,
                    limit: reader.buf.len(),
                    topic: publish_topic_of(&reader.buf),
                });
                continue;
            }
            if total_len > pending.len() {
                break;
            }
            let start = reader.start;
            let Reader {
                buf,
                handlers,
                notices,
                ..
            } = reader;
            let bytes = &buf[start..start + total_len];
            let (packet, _) = codec::decode(bytes).map_err(|error| ClientError::Protocol {
                packet: packet_type_of(bytes[0]),
                error,
            })?;
            reader.start += total_len;
            self.handle_packet(packet, handlers, notices)?;
        }
        if reader.start == reader.filled {
            reader.start = 0;
            reader.filled = 0;
        }
        Ok(())
    }

    fn handle_packet(
        &self,
        packet: Packet<'_>,
        handlers: &mut Vec<Handler>,
        notices: &mut Vec<Notice>,
    ) -> Result<(), ClientError> {
        match packet {
            Packet::Publish(publish) => {
                if publish.qos == 2 {
                    return Err(ClientError::UnexpectedQoS2);
                }
                self.dispatch(&publish, handlers);
                if publish.qos == 1 {
                    self.send_small(&puback_bytes(publish.packet_id))?;
                }
            }
            Packet::PubAck { packet_id } => {
                let mut state = self.lock_state();
                if let Some(i) = state.outgoing.iter().position(|o| o.packet_id == packet_id) {
                    if let Some(done) = state.outgoing.remove(i) {
                        state.pool.push(done.bytes);
                    }
                    notices.push(Notice::PublishAck(packet_id));
                }
            }
            Packet::SubAck(ack) => {
                let refused = ack.return_codes.first() == Some(&SUBACK_FAILURE);
                self.settle(RequestKind::Subscribe, ack.packet_id, refused, notices);
            }
            Packet::UnsubAck { packet_id } => {
                self.settle(RequestKind::Unsubscribe, packet_id, false, notices);
            }
            Packet::PingResp => self.lock_state().ping_sent_at = None,
            other => return Err(ClientError::UnexpectedPacket(other.packet_type())),
        }
        for notice in notices.drain(..) {
            self.emit(&notice.event());
        }
        Ok(())
    }

    /// Records the acknowledgement of a SUBSCRIBE/UNSUBSCRIBE.
    fn settle(&self, kind: RequestKind, packet_id: u16, refused: bool, notices: &mut Vec<Notice>) {
        let mut state = self.lock_state();
        let Some(i) = state
            .requests
            .iter()
            .position(|r| r.packet_id == packet_id && r.kind == kind)
        else {
            // A late ack of a request given up on: nothing waits for it.
            return;
        };
        if refused {
            let filter = std::mem::take(&mut state.requests[i].filter);
            state.subscriptions.retain(|s| s.filter != filter);
        } else if kind == RequestKind::Subscribe {
            let state = &mut *state;
            let filter = &state.requests[i].filter;
            if let Some(sub) = state.subscriptions.iter_mut().find(|s| &s.filter == filter) {
                sub.acked = true;
            }
        }
        notices.push(match (kind, refused) {
            (RequestKind::Subscribe, false) => Notice::SubscribeAck(packet_id),
            (RequestKind::Subscribe, true) => Notice::SubscribeNack(packet_id),
            (RequestKind::Unsubscribe, _) => Notice::UnsubscribeAck(packet_id),
        });
        if state.requests[i].waited {
            state.requests[i].outcome = Some(if refused {
                Outcome::Refused
            } else {
                Outcome::Acked
            });
            drop(state);
            self.changed.notify_all();
        } else {
            // In order: what is still pending is resent oldest first.
            state.requests.remove(i);
        }
    }

    /// Hands a PUBLISH to the interceptor, then to every matching
    /// subscription's handler, else to the default handler.
    fn dispatch(&self, publish: &Publish<'_>, handlers: &mut Vec<Handler>) {
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            dup: publish.dup,
            retain: publish.retain,
            packet_id: publish.packet_id,
        };
        if let Some(interceptor) = &self.interceptor {
            if interceptor(&message) {
                return;
            }
        }
        let mut to_default = true;
        {
            let state = self.lock_state();
            for subscription in &state.subscriptions {
                if topic::matches(&subscription.filter, publish.topic) {
                    if let Some(handler) = &subscription.handler {
                        handlers.push(Arc::clone(handler));
                        to_default = false;
                    }
                }
            }
        }
        let event = Event::Message(&message);
        for handler in handlers.drain(..) {
            handler(&event);
        }
        if to_default {
            self.emit(&event);
        }
    }

    fn send_small(&self, bytes: &[u8]) -> Result<(), ClientError> {
        self.write_bytes(bytes)
    }

    /// Keep-alive, resends and request timeouts. Returns when it next has
    /// something to do.
    fn run_timers(&self, reader: &mut Reader, now: Instant) -> Result<Instant, ClientError> {
        let request_timeout = self.options.request_timeout;
        let ping_interval = self.options.keepalive / 2;
        let mut next = now + WAIT_SLICE;
        let mut ping_due = false;
        {
            let mut state = self.lock_state();
            match state.ping_sent_at {
                Some(sent) if now >= sent + request_timeout => {
                    return Err(ClientError::PingTimeout)
                }
                Some(sent) => next = next.min(sent + request_timeout),
                None if !ping_interval.is_zero() => {
                    if now >= state.last_ping + ping_interval {
                        ping_due = true;
                    } else {
                        next = next.min(state.last_ping + ping_interval);
                    }
                }
                None => {}
            }
            let mut i = 0;
            while i < state.outgoing.len() {
                let Some(sent) = state.outgoing[i].sent_at else {
                    i += 1;
                    continue;
                };
                if now < sent + request_timeout {
                    next = next.min(sent + request_timeout);
                    i += 1;
                    continue;
                }
                if state.outgoing[i].resends >= MAX_PUBLISH_RESENDS {
                    if let Some(done) = state.outgoing.remove(i) {
                        reader.notices.push(Notice::PublishTimeout(done.packet_id));
                        state.pool.push(done.bytes);
                    }
                    continue;
                }
                let entry = &mut state.outgoing[i];
                entry.bytes[0] |= PUBLISH_DUP_FLAG;
                entry.resends += 1;
                entry.sent_at = Some(now);
                self.write_bytes(&entry.bytes)?;
                next = next.min(now + request_timeout);
                i += 1;
            }
            let mut settled = false;
            let mut i = 0;
            while i < state.requests.len() {
                let request = &mut state.requests[i];
                match request.deadline {
                    Some(deadline) if request.outcome.is_none() && now >= deadline => {
                        reader.notices.push(match request.kind {
                            RequestKind::Subscribe => Notice::SubscribeTimeout(request.packet_id),
                            RequestKind::Unsubscribe => {
                                Notice::UnsubscribeTimeout(request.packet_id)
                            }
                        });
                        if request.waited {
                            request.outcome = Some(Outcome::TimedOut);
                            settled = true;
                        } else {
                            state.requests.remove(i);
                            continue;
                        }
                    }
                    Some(deadline) if request.outcome.is_none() => next = next.min(deadline),
                    _ => {}
                }
                i += 1;
            }
            if settled {
                self.changed.notify_all();
            }
        }
        for notice in reader.notices.drain(..) {
            if let Notice::PublishTimeout(packet_id) = notice {
                Self::report_given_up(packet_id);
            }
            self.emit(&notice.event());
        }
        if ping_due {
            self.send_small(&[(PacketType::PingReq as u8) << 4, 0])?;
            let mut state = self.lock_state();
            state.ping_sent_at = Some(now);
            state.last_ping = now;
            next = next.min(now + request_timeout);
        }
        Ok(next)
    }

    /// The state event for a QoS 1 publish given up without PUBACK.
    fn report_given_up(packet_id: u16) {
        events::state_event(
            state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX,
            &format!(
                "MQTT QoS 1 publish {packet_id} given up: no PUBACK after {} attempts",
                MAX_PUBLISH_RESENDS + 1
            ),
        );
    }

    /// Drops the connection, reports why and schedules the reconnect.
    fn connection_lost(&self, reader: &mut Reader, error: Option<ClientError>) {
        reader.online = false;
        reader.readiness = None;
        reader.reset();
        if self.lock_state().closed {
            // disconnect() already closed it (perhaps from a handler): no
            // reconnect, no "connection lost" report.
            return;
        }
        let writer_failure = {
            let mut io = lock(&self.io);
            Self::drop_transport(&mut io);
            io.failure.take()
        };
        self.connected.store(false, Ordering::Release);
        let error = error
            .or(writer_failure)
            .unwrap_or(ClientError::Io(TransportError::PeerClosed));
        let last_rx = reader.last_rx.take();
        let delay = {
            let mut state = self.lock_state();
            state.ping_sent_at = None;
            // Opt-in (`give_up_refused_publishes`): the oldest publish
            // awaiting PUBACK is charged an attempt when the broker sent
            // nothing at all after it and dropped the link, which is what a
            // broker does to a packet it refuses. A flaky link can look the
            // same, so by default nothing is charged and no QoS 1 publish is
            // ever given up across reconnects.
            let charge = self.give_up_refused.load(Ordering::Acquire);
            if let Some(head) = state
                .outgoing
                .iter_mut()
                .find(|e| charge && e.sent_at.is_some())
            {
                let sent = head.sent_at.unwrap_or_else(Instant::now);
                if last_rx.map_or(true, |rx| rx <= sent) {
                    head.resends = head.resends.saturating_add(1);
                }
            }
            for entry in &mut state.outgoing {
                entry.sent_at = None;
            }
            for request in &mut state.requests {
                request.deadline = None;
            }
            let now = Instant::now();
            let stopped = state.reconnect_stopped;
            state
                .backoff
                .link_down(millis_since(self.epoch, now), &disconnect_reason(&error));
            if stopped {
                None
            } else {
                let delay = Duration::from_millis(state.backoff.next_delay(jitter_random()));
                state.reconnect_at = now + delay;
                Some(delay)
            }
        };
        match delay {
            Some(delay) => events::state_event(
                error.state_code(),
                &format!(
                    "MQTT connection lost: {error}; reconnecting in {} ms",
                    delay.as_millis()
                ),
            ),
            None => events::state_event(
                error.state_code(),
                &format!(
                    "MQTT connection lost: {error}; not reconnecting (reconnecting was stopped)"
                ),
            ),
        }
        self.emit(&Event::Disconnected);
        events::notify(events::ite::DISCONNECTED);
    }

    fn reconnect(&self, reader: &mut Reader) -> Result<(), ClientError> {
        match self.establish(reader) {
            Ok(session_present) => {
                let given_up = match self.resend_after_reconnect(session_present) {
                    Ok(given_up) => given_up,
                    Err(e) => {
                        self.connection_lost(reader, Some(e));
                        return Ok(());
                    }
                };
                events::state_event(state::STATE_MQTT_CONN_USER_INFO, "MQTT reconnected");
                self.emit(&Event::Reconnected);
                if let Some(packet_id) = given_up {
                    Self::report_given_up(packet_id);
                    self.emit(&Event::PublishTimeout { packet_id });
                }
                Ok(())
            }
            Err(ClientError::Closed) => Err(ClientError::Closed),
            Err(e) => {
                let mut state = self.lock_state();
                let now = Instant::now();
                state
                    .backoff
                    .link_down(millis_since(self.epoch, now), &disconnect_reason(&e));
                let delay = Duration::from_millis(state.backoff.next_delay(jitter_random()));
                state.reconnect_at = now + delay;
                drop(state);
                events::state_event(
                    e.state_code(),
                    &format!(
                        "MQTT reconnect failed: {e}; next attempt in {} ms",
                        delay.as_millis()
                    ),
                );
                events::notify(events::ite::CONNECT_FAIL);
                Ok(())
            }
        }
    }

    /// Re-subscribes every topic (unless the broker kept the session: then
    /// it still has them, and subscribing again would make it deliver the
    /// retained messages once more) and resends pending requests and publishes.
    /// The oldest publish waiting for PUBACK, once past
    /// [`MAX_PUBLISH_RESENDS`] attempts (see `connection_lost`), is given up
    /// (its packet id is returned, the caller reports it) and not sent again.
    fn resend_after_reconnect(&self, session_present: bool) -> Result<Option<u16>, ClientError> {
        let mut state = self.lock_state();
        let state = &mut *state;
        let mut given_up = None;
        if let Some(head) = state.outgoing.iter_mut().find(|entry| entry.ever_sent) {
            if head.resends > MAX_PUBLISH_RESENDS {
                let id = head.packet_id;
                if let Some(at) = state.outgoing.iter().position(|e| e.packet_id == id) {
                    if let Some(done) = state.outgoing.remove(at) {
                        state.pool.push(done.bytes);
                    }
                }
                given_up = Some(id);
            }
        }
        if !session_present {
            // A new session: the broker holds no subscription of ours.
            for sub in &mut state.subscriptions {
                sub.acked = false;
            }
        }
        for i in 0..state.subscriptions.len() {
            if state.subscriptions[i].acked {
                continue;
            }
            let filter = &state.subscriptions[i].filter;
            let pending = state.requests.iter().any(|r| {
                r.kind == RequestKind::Subscribe && r.outcome.is_none() && &r.filter == filter
            });
            if !pending {
                let filter = filter.clone();
                let qos = state.subscriptions[i].qos as u8;
                let packet_id = Self::allocate_packet_id(state)?;
                state.requests.push(Request {
                    packet_id,
                    kind: RequestKind::Subscribe,
                    filter,
                    qos,
                    deadline: None,
                    waited: false,
                    outcome: None,
                });
            }
        }
        for request in &mut state.requests {
            if request.outcome.is_none() {
                self.write_request(request)?;
                request.deadline = Some(Instant::now() + self.options.request_timeout);
            }
        }
        for entry in &mut state.outgoing {
            if entry.ever_sent {
                entry.bytes[0] |= PUBLISH_DUP_FLAG;
            }
            self.write_bytes(&entry.bytes)?;
            entry.ever_sent = true;
            entry.sent_at = Some(Instant::now());
        }
        Ok(given_up)
    }

    /// Opens a transport, sends CONNECT, waits for CONNACK and installs the
    /// connection. Bytes after the CONNACK stay in the read buffer. Returns
    /// whether the broker kept the session (CONNACK session present).
    fn establish(&self, reader: &mut Reader) -> Result<bool, ClientError> {
        let credentials = self.connector.credentials();
        let mut transport = self.connector.open().map_err(ClientError::Open)?;
        let send_login = !credentials.username.is_empty()
            || !credentials.password.is_empty()
            || self.connector.send_empty_login();
        let connect = Packet::Connect(Connect {
            client_id: &credentials.client_id,
            keep_alive: self.options.keepalive.as_secs() as u16,
            clean_session: self.options.clean_session,
            username: send_login.then_some(credentials.username.as_str()),
            password: send_login.then_some(credentials.password.as_slice()),
            will: None,
        });
        let len = codec::encoded_len(&connect).map_err(|error| ClientError::Encode {
            packet: PacketType::Connect,
            error,
        })?;
        // CONNECT may exceed the write buffer (long certificates ids, tokens).
        let mut bytes = vec![0u8; len];
        codec::encode(&connect, &mut bytes).map_err(|error| ClientError::Encode {
            packet: PacketType::Connect,
            error,
        })?;
        Self::write_all(&mut transport, &bytes, self.options.request_timeout)?;

        reader.reset();
        let deadline = Instant::now() + self.options.request_timeout;
        let (consumed, session_present) = loop {
            let pending = &reader.buf[..reader.filled];
            if let Framing::Complete { total_len, .. } =
                codec::frame(pending).map_err(|error| ClientError::Protocol {
                    packet: pending.first().and_then(|b| packet_type_of(*b)),
                    error,
                })?
            {
                if total_len <= reader.filled {
                    let (packet, used) =
                        codec::decode(pending).map_err(|error| ClientError::Protocol {
                            packet: packet_type_of(pending[0]),
                            error,
                        })?;
                    match packet {
                        Packet::ConnAck(ConnAck {
                            return_code: 0,
                            session_present,
                        }) => break (used, session_present),
                        Packet::ConnAck(ConnAck { return_code, .. }) => {
                            return Err(ClientError::Refused(return_code))
                        }
                        other => return Err(ClientError::UnexpectedPacket(other.packet_type())),
                    }
                }
                if total_len > reader.buf.len() {
                    return Err(ClientError::UnexpectedPacket(
                        packet_type_of(pending[0]).unwrap_or(PacketType::Publish),
                    ));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::ConnAckTimeout);
            }
            let filled = reader.filled;
            let n = transport
                .read(&mut reader.buf[filled..], left)
                .map_err(ClientError::Io)?;
            reader.filled += n;
        };
        reader.start = consumed;

        let readiness = transport.readiness_handle();
        let mut state = self.lock_state();
        if state.closed {
            let _ = transport.write(
                &[(PacketType::Disconnect as u8) << 4, 0],
                self.options.request_timeout,
            );
            return Err(ClientError::Closed);
        }
        {
            let mut io = lock(&self.io);
            io.shutdown = readiness.as_ref().and_then(|s| s.try_clone().ok());
            io.transport = Some(transport);
            io.failure = None;
        }
        self.connected.store(true, Ordering::Release);
        state.ping_sent_at = None;
        let now = Instant::now();
        state.last_ping = now;
        state.backoff.link_up(millis_since(self.epoch, now));
        drop(state);
        reader.readiness = readiness;
        reader.online = true;
        // Only a persistent session can be resumed.
        Ok(session_present && !self.options.clean_session)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.disconnect();
    }
}

fn packet_type_of(first_byte: u8) -> Option<PacketType> {
    PacketType::of_first_byte(first_byte)
}

fn puback_bytes(packet_id: u16) -> [u8; 4] {
    let id = packet_id.to_be_bytes();
    [(PacketType::PubAck as u8) << 4, 2, id[0], id[1]]
}

/// The packet id of a QoS 1 PUBLISH whose head fills `head`, if readable.
fn owed_puback(head: &[u8]) -> Option<u16> {
    if head.first()? >> 4 != PacketType::Publish as u8 || (head[0] >> 1) & 0b11 != 1 {
        return None;
    }
    let Ok(Framing::Complete { header_len, .. }) = codec::frame(head) else {
        return None;
    };
    let topic_len = usize::from(u16::from_be_bytes([
        *head.get(header_len)?,
        *head.get(header_len + 1)?,
    ]));
    let at = header_len + 2 + topic_len;
    match u16::from_be_bytes([*head.get(at)?, *head.get(at + 1)?]) {
        0 => None,
        id => Some(id),
    }
}

/// Waits up to `wait` for the socket to have data (or EOF/error, which the
/// following read reports). False when the time ran out.
fn wait_readable(socket: &TcpStream, wait: Duration) -> bool {
    if wait.is_zero() {
        // `yield_for(Duration::ZERO)`: a poll, not a 1 ms sleep.
        return net::readable_now(socket);
    }
    if socket.set_read_timeout(Some(wait)).is_err() {
        return true;
    }
    let mut probe = [0u8; 1];
    match socket.peek(&mut probe) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Client>();
    }

    #[test]
    fn connack_codes_map_to_the_vendor_states() {
        let expected = [
            (1, state::STATE_MQTT_CONNACK_VERSION_UNACCEPT),
            (2, state::STATE_MQTT_CONNACK_IDENT_REJECT),
            (3, state::STATE_MQTT_CONNACK_SERVICE_NA),
            (4, state::STATE_MQTT_CONNACK_BAD_USERDATA),
            (5, state::STATE_MQTT_CONNACK_NOT_AUTHORIZED),
            (6, state::STATE_MQTT_CONNACK_UNKNOWN_ERROR),
        ];
        for (code, state_code) in expected {
            assert_eq!(ClientError::Refused(code).state_code(), state_code);
        }
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(check_options(&Options::default()), Ok(()));
        let defaults = Options::default;
        for bad in [
            Options {
                write_buf_size: MIN_BUFFER_SIZE - 1,
                ..defaults()
            },
            Options {
                reconnect_max: Duration::from_millis(1),
                ..defaults()
            },
            Options {
                request_timeout: Duration::ZERO,
                ..defaults()
            },
            Options {
                keepalive: Duration::from_secs(70_000),
                ..defaults()
            },
            Options {
                request_timeout: Duration::MAX,
                ..defaults()
            },
        ] {
            assert!(
                matches!(check_options(&bad), Err(ClientError::InvalidOptions(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn oversized_publish_heads_yield_their_packet_id() {
        // QoS 1, topic "ab", id 0x0102, payload cut off.
        assert_eq!(
            owed_puback(&[0x32, 0x90, 0x01, 0, 2, b'a', b'b', 1, 2, 0]),
            Some(0x0102)
        );
        // QoS 0 has no id; a head cut inside the topic gives none either.
        assert_eq!(
            owed_puback(&[0x30, 0x90, 0x01, 0, 2, b'a', b'b', 1, 2]),
            None
        );
        assert_eq!(owed_puback(&[0x32, 0x90, 0x01, 0, 9, b'a']), None);
        assert_eq!(owed_puback(&[0x90, 3, 0, 1, 0]), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let options = Options {
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            ..Options::default()
        };
        let base = |failures: u32| {
            options
                .reconnect_min
                .saturating_mul(1u32 << failures.min(20))
                .min(options.reconnect_max)
        };
        let mut backoff = Backoff::new(backoff_config(&options));
        for failures in 0..30u32 {
            let base = base(failures);
            let delay = Duration::from_millis(backoff.next_delay(jitter_random()));
            assert!(delay >= base / 2 && delay <= base, "{failures}: {delay:?}");
        }
        assert_eq!(base(30), Duration::from_secs(60));
    }

    #[test]
    fn backoff_starts_over_only_after_a_keepalive_period_up() {
        let options = Options {
            keepalive: Duration::from_secs(30),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            ..Options::default()
        };
        let kicked = disconnect_reason(&ClientError::Io(TransportError::PeerClosed));
        let mut backoff = Backoff::new(backoff_config(&options));
        for _ in 0..4 {
            backoff.link_up(0);
            backoff.link_down(1_000, &kicked);
            backoff.next_delay(0);
        }
        assert!(backoff.next_delay(0) >= 8_000);
        backoff.link_up(100_000);
        backoff.link_down(130_000, &kicked);
        assert!(backoff.next_delay(u32::MAX) <= 1_000);
        backoff.link_down(130_000, &disconnect_reason(&ClientError::Refused(5)));
        assert!(backoff.next_delay(0) >= 30_000);
    }
}
