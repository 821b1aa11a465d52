//! The MQTT client of the std platform: the portable core's session
//! ([`iotkit_core::mqtt::session::Session`], a state machine without I/O)
//! driven over a [`Transport`] in the caller's threads.
//!
//! Who does what:
//! - `yield_for` (and `subscribe_sync` outside handlers) holds the *reader
//!   token*: it reads and feeds the session, runs its timers, hands its
//!   events to the handlers and reconnects with backoff.
//! - `publish`, `subscribe` and `unsubscribe` only queue in the session,
//!   bounded by its inflight window and request queue, and return. Then the
//!   caller helps write: whoever finds the writer free writes the packets
//!   queued, one whole packet per transport write while the link takes
//!   them; a caller that finds it busy leaves its packet to that writer. A
//!   packet the link does not take within one write slice waits, half
//!   written, for the next writer; the reader's loop then comes back to it
//!   between reads, so no API call waits on a stalled link for more than
//!   one slice.
//!
//! Locks, always taken in this order and never the other way round:
//! - the reader token (`State::reader_owner`), and with it `reader`;
//! - `writer`: the one thread writing, and the packet it writes;
//! - `state`: the session and the handlers, held only to queue a call, to
//!   take one packet out, to feed bytes in or to take one event out;
//! - `io`: the transport, held per write slice ([`WRITE_SLICE`]) or per
//!   read. No lock is held across a whole write: while a write stalls,
//!   the reader still takes in acknowledgements and messages, and other
//!   publishers queue (until the window is full) instead of waiting.
//!
//! Handlers run with neither `state`, `writer` nor `io` held; the reader
//! token stays with the thread that dispatches, so a handler may publish and
//! subscribe but cannot serve the connection itself (`yield_for` and
//! `subscribe_sync` return [`ClientError::Reentrant`] there).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::codec::{
    self, DecodeError, EncodeError, Packet, PacketType, Publish, Subscribe, SubscribeFilters,
    Unsubscribe, UnsubscribeFilters,
};
use super::topic::{self, TopicError};
use crate::events;
use crate::net;
use crate::state;
use crate::transport::{Transport, TransportError};
use iotkit_core::agent::backoff::{Backoff, BackoffConfig};
use iotkit_core::mqtt::session::{
    self as core_session, DisconnectReason, Event as SessionEvent, Millis, Session, SessionError,
};

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
    /// QoS 1 publishes kept while offline (sent after reconnecting); at
    /// most `inflight_window`.
    pub offline_queue_limit: usize,
    /// QoS 1 publishes that may wait for PUBACK at once, online or offline
    /// (1..=1024): the next one is refused with [`ClientError::InflightFull`]
    /// until an acknowledgement frees a place. Also bounds the QoS 0
    /// messages waiting to be written.
    pub inflight_window: u16,
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
            inflight_window: DEFAULT_INFLIGHT_WINDOW,
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
    /// The publish was given up without PUBACK: with
    /// [`Client::give_up_refused_publishes`] only, after the broker dropped
    /// the link on it [`MAX_PUBLISH_RESENDS`] + 1 times.
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

/// With [`Client::give_up_refused_publishes`]: resends (after reconnects)
/// of a QoS 1 publish the broker dropped the link on before it is given up
/// with [`Event::PublishTimeout`] (and a `STATE_MQTT_QOS1_REPUB_EXCEED_MAX`
/// state event). Without it a QoS 1 publish is never given up; on a link
/// that stays up it is never resent either (MQTT 3.1.1 §4.4).
pub const MAX_PUBLISH_RESENDS: u32 = 3;
/// QoS 1 publishes waiting for PUBACK at once, unless configured
/// ([`Options::inflight_window`]).
pub(crate) const DEFAULT_INFLIGHT_WINDOW: u16 = 32;
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
/// Longest single transport write: a writer gives the transport back this
/// often, so the reader can take in acknowledgements while a write stalls.
const WRITE_SLICE: Duration = Duration::from_millis(50);

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
    /// `window` QoS 1 publishes already wait for PUBACK (or that many QoS 0
    /// ones to be written).
    InflightFull {
        window: u16,
    },
    /// `limit` SUBSCRIBE/UNSUBSCRIBE requests already wait.
    TooManyRequests {
        limit: usize,
    },
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
            ClientError::InflightFull { .. } => state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX,
            ClientError::TooManyRequests { .. } => state::STATE_MQTT_SUB_EXCEED_MAX,
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
            ClientError::InflightFull { window } => write!(
                f,
                "{window} MQTT messages already wait for the server (the inflight window is full); try again after acknowledgements arrive"
            ),
            ClientError::TooManyRequests { limit } => write!(
                f,
                "{limit} MQTT subscribe/unsubscribe requests already wait for the server"
            ),
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

/// A SUBSCRIBE or UNSUBSCRIBE the application made, until its
/// acknowledgement (the session keeps the packet itself and its order).
struct Request {
    packet_id: u16,
    kind: RequestKind,
    filter: String,
    /// A `subscribe_sync` caller collects the outcome.
    waited: bool,
    outcome: Option<Outcome>,
}

/// A filter's handler; messages matching no handler go to the default one.
struct Subscription {
    filter: String,
    handler: Option<Handler>,
}

struct State {
    session: Session,
    reader_owner: Option<ThreadId>,
    closed: bool,
    subscriptions: Vec<Subscription>,
    requests: Vec<Request>,
    /// Counts the links: a packet taken for one link is never written on
    /// the next.
    link: u64,
    /// Why a writer or reader dropped the link, in words, for the report.
    link_failure: Option<ClientError>,
    reconnect_at: Instant,
    /// The reconnect sequence: it starts over only after a link stayed up
    /// for a keep-alive period.
    backoff: Backoff,
    /// `stop_reconnecting` was called: a lost link stays down.
    reconnect_stopped: bool,
}

struct Io {
    transport: Option<Box<dyn Transport>>,
    /// Which link `transport` is.
    link: u64,
    /// A handle on the socket to wake the reader's readiness wait when the
    /// connection is dropped from another thread.
    shutdown: Option<TcpStream>,
}

/// What only the writer touches: the packet being written, copied out of
/// the session so that the session is free while it goes out. A packet
/// the transport did not take within a slice stays here half written, for
/// the next writer (see `Client::flush`).
struct Writer {
    packet: Vec<u8>,
    /// Bytes of `packet` written so far; `packet` is live while `active`.
    written: usize,
    active: bool,
    /// The link it was taken for.
    link: u64,
    /// When it must be out, else the link is declared lost.
    deadline: Instant,
}

/// What only the token holder touches.
struct Reader {
    /// Bytes read, before they go into the session.
    buf: Vec<u8>,
    online: bool,
    /// The link this reader serves.
    link: u64,
    readiness: Option<TcpStream>,
    /// The message being handed out, copied out of the session so that
    /// handlers run with the session free (capacity reused).
    topic: String,
    payload: Vec<u8>,
    handlers: Vec<Handler>,
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

/// What the session's events came to, for the loop that took them.
enum Pumped {
    /// Every event was handed out.
    Idle,
    /// CONNACK accepted the link.
    Connected,
    /// The link went down.
    Down(DisconnectReason),
}

/// An MQTT 3.1.1 client session. `Send + Sync`; every method takes `&self`.
pub struct Client {
    options: Options,
    /// Time zero of the core's millisecond clock.
    epoch: Instant,
    /// The largest packet sent (0: the write buffer size).
    max_packet_size: AtomicUsize,
    connector: Box<dyn Connector>,
    default_handler: Option<Handler>,
    interceptor: Option<Interceptor>,
    connected: AtomicBool,
    /// A packet was queued since the writer last looked (see `flush`).
    flush_wanted: AtomicBool,
    /// A packet waits half written in the writer (the reader then only
    /// polls the socket, and comes back to write soon).
    write_pending: AtomicBool,
    state: Mutex<State>,
    /// Signalled when the reader token is released, a request completes or
    /// the client is closed.
    changed: Condvar,
    writer: Mutex<Writer>,
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
    if options.inflight_window == 0 || options.inflight_window > core_session::MAX_INFLIGHT_WINDOW {
        return invalid(format!(
            "the inflight window must be 1..{} messages (got {})",
            core_session::MAX_INFLIGHT_WINDOW,
            options.inflight_window
        ));
    }
    Ok(())
}

/// The core session's configuration from the client's options. Outgoing
/// sizes are checked by the client (the limit can change while it runs).
fn session_config(options: &Options) -> core_session::Config {
    let mut config = core_session::Config::new("");
    config.keep_alive_s = options.keepalive.as_secs() as u16;
    config.ping_interval_ms = (options.keepalive / 2).as_millis() as u64;
    config.clean_session = options.clean_session;
    config.request_timeout_ms = options.request_timeout.as_millis() as u64;
    config.max_packet_size = usize::MAX;
    config.max_incoming_packet_size = options.read_buf_size;
    config.inflight_window = options.inflight_window;
    // Giving up is opt-in: see `Client::give_up_refused_publishes`.
    config.max_publish_attempts = 0;
    config
}

/// `timeout` from now, saturating far in the future instead of overflowing.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
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

/// What the backoff policy needs to know about why opening a link failed.
fn disconnect_reason(error: &ClientError) -> DisconnectReason {
    use iotkit_core::mqtt::session::TransportError as Link;
    match error {
        ClientError::Refused(code) => DisconnectReason::Refused(*code),
        ClientError::ConnAckTimeout => DisconnectReason::ConnAckTimeout,
        ClientError::PingTimeout => DisconnectReason::PingTimeout,
        ClientError::Protocol { packet, error } => DisconnectReason::Protocol {
            packet: *packet,
            error: *error,
        },
        ClientError::UnexpectedPacket(packet) => DisconnectReason::UnexpectedPacket(*packet),
        ClientError::UnexpectedQoS2 => DisconnectReason::QoS2Publish,
        ClientError::Io(TransportError::PeerClosed) => DisconnectReason::Transport(Link::Closed),
        ClientError::WriteTimeout | ClientError::Write(_) => {
            DisconnectReason::Transport(Link::Write)
        }
        _ => DisconnectReason::Transport(Link::Read),
    }
}

/// The error a lost link is reported with: what the failing reader or
/// writer recorded, else the session's reason in the client's words.
fn link_error(reason: &DisconnectReason, recorded: Option<ClientError>) -> ClientError {
    use iotkit_core::mqtt::session::TransportError as Link;
    if let Some(error) = recorded {
        return error;
    }
    match *reason {
        DisconnectReason::Requested => ClientError::Closed,
        DisconnectReason::Refused(code) => ClientError::Refused(code),
        DisconnectReason::ConnAckTimeout => ClientError::ConnAckTimeout,
        DisconnectReason::PingTimeout => ClientError::PingTimeout,
        DisconnectReason::Transport(Link::Closed) => ClientError::Io(TransportError::PeerClosed),
        DisconnectReason::Transport(Link::Write) => ClientError::Write(TransportError::Failed(
            "the connection was closed while writing".into(),
        )),
        DisconnectReason::Transport(Link::Read) => ClientError::Io(TransportError::Failed(
            "the connection failed while reading".into(),
        )),
        DisconnectReason::Protocol { packet, error } => ClientError::Protocol { packet, error },
        DisconnectReason::UnexpectedPacket(packet) => ClientError::UnexpectedPacket(packet),
        DisconnectReason::QoS2Publish => ClientError::UnexpectedQoS2,
    }
}

/// A refusal of the session, in the client's terms.
fn session_error(error: SessionError, packet: PacketType, closed: bool) -> ClientError {
    match error {
        SessionError::NotConnected if closed => ClientError::Closed,
        SessionError::NotConnected => ClientError::Offline,
        SessionError::AlreadyConnected => ClientError::UnexpectedPacket(PacketType::ConnAck),
        SessionError::Full { window } => ClientError::InflightFull { window },
        SessionError::RequestQueueFull { limit } => ClientError::TooManyRequests { limit },
        SessionError::TooManySubscriptions { limit } => ClientError::TooManyRequests { limit },
        SessionError::TooLarge { len, max } => ClientError::TxBufferTooShort {
            needed: len,
            limit: max,
        },
        SessionError::Encode(EncodeError::InvalidTopicName(e)) => ClientError::InvalidTopicName(e),
        SessionError::Encode(EncodeError::InvalidTopicFilter(e)) => {
            ClientError::InvalidTopicFilter(e)
        }
        SessionError::Encode(error) => ClientError::Encode { packet, error },
    }
}

fn core_qos(qos: QoS) -> core_session::QoS {
    match qos {
        QoS::AtMostOnce => core_session::QoS::AtMostOnce,
        QoS::AtLeastOnce => core_session::QoS::AtLeastOnce,
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
        let session = Session::new(session_config(&options))
            .map_err(|e| ClientError::InvalidOptions(e.to_string()))?;
        let now = Instant::now();
        let client = Client {
            epoch: now,
            max_packet_size: AtomicUsize::new(0),
            connector,
            default_handler,
            interceptor,
            connected: AtomicBool::new(false),
            flush_wanted: AtomicBool::new(false),
            write_pending: AtomicBool::new(false),
            state: Mutex::new(State {
                session,
                reader_owner: None,
                closed: false,
                subscriptions: Vec::new(),
                requests: Vec::new(),
                link: 0,
                link_failure: None,
                reconnect_at: now,
                backoff: Backoff::new(backoff_config(&options)),
                reconnect_stopped: false,
            }),
            changed: Condvar::new(),
            writer: Mutex::new(Writer {
                packet: Vec::with_capacity(options.write_buf_size),
                written: 0,
                active: false,
                link: 0,
                deadline: now,
            }),
            io: Mutex::new(Io {
                transport: None,
                link: 0,
                shutdown: None,
            }),
            reader: Mutex::new(Reader {
                buf: vec![0; options.read_buf_size],
                online: false,
                link: 0,
                readiness: None,
                topic: String::new(),
                payload: Vec::new(),
                handlers: Vec::with_capacity(8),
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
            client.flush();
            drop(reader);
            drop(token);
        }
        Ok(client)
    }

    /// Serves the connection for `timeout`: reads and dispatches packets,
    /// keeps alive, times out requests, reconnects with backoff. Sleeps
    /// while there is nothing to do. Returns `Err(Closed)` after
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
                            // Nobody waits any more; a late SUBACK only
                            // raises the asynchronous notice.
                            state.requests[i].waited = false;
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
        self.check_fits(&Packet::Unsubscribe(Unsubscribe {
            packet_id: 1,
            filters: UnsubscribeFilters::List(&filters),
        }))?;
        let mut state = self.lock_state();
        if state.closed {
            return Err(ClientError::Closed);
        }
        let packet_id = state
            .session
            .unsubscribe(filter)
            .map_err(|e| session_error(e, PacketType::Unsubscribe, false))?;
        state.subscriptions.retain(|s| s.filter != filter);
        state.requests.push(Request {
            packet_id,
            kind: RequestKind::Unsubscribe,
            filter: filter.to_owned(),
            waited: false,
            outcome: None,
        });
        drop(state);
        self.flush();
        Ok(packet_id)
    }

    /// Publishes. QoS 0 returns 0 and fails while offline; QoS 1 returns the
    /// packet id, is queued while offline (up to `offline_queue_limit`) and
    /// resent with DUP after every reconnect until acknowledged. At most
    /// `inflight_window` QoS 1 publishes wait for PUBACK at once
    /// ([`ClientError::InflightFull`] beyond).
    pub fn publish(
        &self,
        topic_name: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<u16, ClientError> {
        topic::validate_topic_name(topic_name).map_err(ClientError::InvalidTopicName)?;
        self.check_fits(&Packet::Publish(Publish {
            topic: topic_name,
            payload,
            qos: qos as u8,
            dup: false,
            retain,
            packet_id: if qos == QoS::AtLeastOnce { 1 } else { 0 },
        }))?;
        let mut state = self.lock_state();
        if state.closed {
            return Err(ClientError::Closed);
        }
        if qos == QoS::AtLeastOnce
            && !self.connected.load(Ordering::Acquire)
            && state.session.inflight() >= self.options.offline_queue_limit
        {
            return Err(ClientError::OfflineQueueFull {
                limit: self.options.offline_queue_limit,
            });
        }
        let packet_id = state
            .session
            .publish(topic_name, payload, core_qos(qos), retain)
            .map_err(|e| session_error(e, PacketType::Publish, false))?;
        drop(state);
        self.flush();
        Ok(packet_id)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Sends DISCONNECT and closes. Safe at any time and more than once; a
    /// `yield_for` or `subscribe_sync` in another thread returns `Err(Closed)`.
    pub fn disconnect(&self) {
        {
            let mut state = self.lock_state();
            if state.closed {
                return;
            }
            state.closed = true;
            state.session.disconnect();
        }
        // DISCONNECT goes out unless a stalled write holds the writer.
        self.flush();
        Self::drop_transport(&mut lock(&self.io));
        self.connected.store(false, Ordering::Release);
        self.changed.notify_all();
    }

    /// Outgoing packets larger than `limit` bytes (the broker's maximum
    /// packet size) are refused with [`ClientError::TxBufferTooShort`]
    /// before anything is sent, instead of making the broker drop the
    /// connection. The limit never exceeds the write buffer; 0 restores it.
    pub fn set_max_packet_size(&self, limit: usize) {
        self.max_packet_size.store(limit, Ordering::Release);
    }

    /// Opt-in (off by default): a QoS 1 publish the broker dropped the link
    /// on before acknowledging it (what a broker does to a publish it
    /// refuses, e.g. one over its maximum packet size) is given up after
    /// [`MAX_PUBLISH_RESENDS`] + 1 sends, with [`Event::PublishTimeout`] and
    /// a `STATE_MQTT_QOS1_REPUB_EXCEED_MAX` state event, so later publishes
    /// get through. After a reconnect the oldest unacknowledged publish is
    /// resent alone until a PUBACK shows the link carries messages, so only
    /// the refused one is charged. Off, a QoS 1 publish is resent after
    /// every reconnect until acknowledged: a flaky link looks the same as a
    /// refusal and must not lose messages.
    pub fn give_up_refused_publishes(&self, on: bool) {
        let attempts = if on { MAX_PUBLISH_RESENDS + 1 } else { 0 };
        self.lock_state().session.set_max_publish_attempts(attempts);
    }

    /// The largest packet this client sends.
    pub fn max_packet_size(&self) -> usize {
        match self.max_packet_size.load(Ordering::Acquire) {
            0 => self.options.write_buf_size,
            limit => limit.min(self.options.write_buf_size),
        }
    }

    /// QoS 1 publishes waiting for PUBACK (or for the link to send them).
    pub fn inflight(&self) -> usize {
        self.lock_state().session.inflight()
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

    fn millis(&self, now: Instant) -> Millis {
        millis_since(self.epoch, now)
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
        let packet_id = state
            .session
            .subscribe(filter, core_qos(qos))
            .map_err(|e| session_error(e, PacketType::Subscribe, false))?;
        match state.subscriptions.iter_mut().find(|s| s.filter == filter) {
            Some(existing) => existing.handler = handler,
            None => state.subscriptions.push(Subscription {
                filter: filter.to_owned(),
                handler,
            }),
        }
        state.requests.push(Request {
            packet_id,
            kind: RequestKind::Subscribe,
            filter: filter.to_owned(),
            waited,
            outcome: None,
        });
        drop(state);
        self.flush();
        Ok(packet_id)
    }

    /// Writes what the session queued. Whoever finds the writer free writes,
    /// including what other threads queue meanwhile (`flush_wanted` tells
    /// it), until the session has nothing left or the transport took less
    /// than a packet within one [`WRITE_SLICE`]: then the rest waits in the
    /// writer, the caller returns, and the next caller (the reader's loop
    /// comes back at once while a packet waits) goes on with it. Whoever
    /// finds the writer busy returns at once. So no caller waits longer than
    /// one slice for a stalled link, and the reader reads between slices.
    /// Failures drop the link (see `link_failed`); the reader reports them.
    fn flush(&self) {
        loop {
            self.flush_wanted.store(true, Ordering::SeqCst);
            let mut writer = match self.writer.try_lock() {
                Ok(writer) => writer,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            let finished = self.write_queued(&mut writer);
            self.write_pending.store(writer.active, Ordering::SeqCst);
            drop(writer);
            // A packet queued after the writer's last look but before it
            // let go would otherwise wait for the next call.
            if !finished || !self.flush_wanted.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// The writer's loop; false when it stopped with a packet half written.
    fn write_queued(&self, writer: &mut Writer) -> bool {
        loop {
            if !writer.active {
                self.flush_wanted.store(false, Ordering::SeqCst);
                if !self.take_packet(writer) {
                    return true;
                }
            }
            match self.write_slice(writer) {
                Ok(()) if !writer.active => {}
                Ok(()) if Instant::now() >= writer.deadline => {
                    writer.active = false;
                    self.link_failed(writer.link, ClientError::WriteTimeout);
                }
                Ok(()) => return false,
                Err(error) => {
                    writer.active = false;
                    self.link_failed(writer.link, error);
                }
            }
        }
    }

    /// Copies the next packet out of the session into the writer.
    fn take_packet(&self, writer: &mut Writer) -> bool {
        let mut state = self.lock_state();
        let now = Instant::now();
        let Some(bytes) = state.session.poll_transmit(self.millis(now)) else {
            return false;
        };
        writer.packet.clear();
        writer.packet.extend_from_slice(bytes);
        writer.written = 0;
        writer.active = true;
        writer.link = state.link;
        writer.deadline = deadline_after(self.options.request_timeout);
        true
    }

    /// Writes what the transport takes within one [`WRITE_SLICE`], with the
    /// transport lock held for that slice only. A packet for a link that is
    /// gone is dropped (the session forgot it too).
    fn write_slice(&self, writer: &mut Writer) -> Result<(), ClientError> {
        let mut io = lock(&self.io);
        let live = io.link == writer.link;
        let transport = match io.transport.as_mut() {
            Some(transport) if live => transport,
            _ => {
                writer.active = false;
                return Ok(());
            }
        };
        let slice = writer
            .deadline
            .saturating_duration_since(Instant::now())
            .min(WRITE_SLICE);
        if !slice.is_zero() {
            writer.written += transport
                .write(&writer.packet[writer.written..], slice)
                .map_err(ClientError::Write)?;
        }
        if writer.written >= writer.packet.len() {
            writer.active = false;
        }
        Ok(())
    }

    /// A read or write on `link` failed: the session learns it (and emits
    /// `Disconnected`), the transport is closed, and why is kept for the
    /// reader's report.
    fn link_failed(&self, link: u64, error: ClientError) {
        use iotkit_core::mqtt::session::TransportError as Link;
        {
            let mut state = self.lock_state();
            if state.link != link {
                return;
            }
            let kind = match &error {
                ClientError::Io(TransportError::PeerClosed) => Link::Closed,
                ClientError::Io(_) => Link::Read,
                _ => Link::Write,
            };
            state.session.transport_failed(kind);
            state.link_failure.get_or_insert(error);
        }
        let mut io = lock(&self.io);
        if io.link == link {
            Self::drop_transport(&mut io);
        }
        drop(io);
        self.connected.store(false, Ordering::Release);
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

    /// The loop, run by the token holder until `deadline` (or until request
    /// `watch` settles).
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
            let next_timer = {
                let mut state = self.lock_state();
                state.session.handle_timeout(self.millis(now));
                state
                    .session
                    .next_deadline()
                    .map(|ms| self.epoch + Duration::from_millis(ms))
            };
            if self.pump_and_flush(reader)? {
                continue;
            }
            if let Some(id) = watch {
                if Self::request_settled(&self.lock_state(), id) {
                    return Ok(());
                }
            }
            if now >= deadline && polled {
                return Ok(());
            }
            polled = true;
            let mut until = deadline.min(now + WAIT_SLICE);
            if self.write_pending.load(Ordering::SeqCst) {
                // Only look at the socket: a half-written packet waits for
                // this thread's next slice.
                until = now;
            }
            if let Some(timer) = next_timer {
                until = until.min(timer);
            }
            self.read_some(reader, until);
            self.pump_and_flush(reader)?;
        }
    }

    /// Hands out the session's events and writes what they queued
    /// (acknowledgements). True when the link went down meanwhile (it was
    /// reported).
    fn pump_and_flush(&self, reader: &mut Reader) -> Result<bool, ClientError> {
        match self.pump(reader) {
            Pumped::Down(reason) => {
                self.connection_lost(reader, &reason);
                // What the session decided with the loss (publishes given up).
                self.pump(reader);
                Ok(true)
            }
            Pumped::Idle | Pumped::Connected => {
                self.flush();
                Ok(false)
            }
        }
    }

    /// Hands the session's events to handlers, one at a time, each with the
    /// session free. Stops at `Connected` and `Disconnected`.
    fn pump(&self, reader: &mut Reader) -> Pumped {
        loop {
            let mut guard = self.lock_state();
            if guard.closed {
                return Pumped::Idle;
            }
            let state = &mut *guard;
            let Some(event) = state.session.poll_event() else {
                return Pumped::Idle;
            };
            match event {
                SessionEvent::Connected { .. } => return Pumped::Connected,
                SessionEvent::Disconnected { reason } => return Pumped::Down(reason),
                SessionEvent::Message(message) => {
                    reader.topic.clear();
                    reader.topic.push_str(message.topic);
                    reader.payload.clear();
                    reader.payload.extend_from_slice(message.payload);
                    let meta = (
                        message.qos as u8,
                        message.dup,
                        message.retain,
                        message.packet_id,
                    );
                    reader.handlers.clear();
                    for subscription in &state.subscriptions {
                        if topic::matches(&subscription.filter, &reader.topic) {
                            if let Some(handler) = &subscription.handler {
                                reader.handlers.push(Arc::clone(handler));
                            }
                        }
                    }
                    drop(guard);
                    self.dispatch(reader, meta);
                }
                SessionEvent::PublishAcked { packet_id } => {
                    drop(guard);
                    self.emit(&Event::PublishAck { packet_id });
                }
                SessionEvent::PublishGaveUp {
                    packet_id,
                    attempts,
                } => {
                    drop(guard);
                    events::state_event(
                        state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX,
                        &format!(
                            "MQTT QoS 1 publish {packet_id} given up: the server dropped the connection each of the {attempts} times it was sent"
                        ),
                    );
                    self.emit(&Event::PublishTimeout { packet_id });
                }
                SessionEvent::SubscribeAcked { packet_id, granted } => {
                    let notice = if granted.is_some() {
                        Event::SubscribeAck { packet_id }
                    } else {
                        Event::SubscribeNack { packet_id }
                    };
                    let refused = granted.is_none();
                    self.settle(guard, packet_id, refused);
                    self.emit(&notice);
                }
                SessionEvent::UnsubscribeAcked { packet_id } => {
                    self.settle(guard, packet_id, false);
                    self.emit(&Event::UnsubscribeAck { packet_id });
                }
                SessionEvent::RequestTimedOut { packet_id } => {
                    let notice = match self.time_out(guard, packet_id) {
                        Some(RequestKind::Unsubscribe) => Event::UnsubscribeTimeout { packet_id },
                        _ => Event::SubscribeTimeout { packet_id },
                    };
                    self.emit(&notice);
                }
                SessionEvent::IncomingTooLarge { needed, limit } => {
                    reader.topic.clear();
                    reader.topic.push_str(state.session.oversized_topic());
                    drop(guard);
                    self.emit(&Event::BufferOverflow {
                        needed,
                        limit,
                        topic: &reader.topic,
                    });
                }
            }
        }
    }

    /// Records the acknowledgement of a SUBSCRIBE/UNSUBSCRIBE (releases the
    /// state lock).
    fn settle(&self, mut state: MutexGuard<'_, State>, packet_id: u16, refused: bool) {
        let Some(i) = state.requests.iter().position(|r| r.packet_id == packet_id) else {
            return;
        };
        if refused {
            // The session forgot the filter; so does the dispatch.
            let state = &mut *state;
            let filter = &state.requests[i].filter;
            state.subscriptions.retain(|s| &s.filter != filter);
        }
        if state.requests[i].waited {
            state.requests[i].outcome = Some(if refused {
                Outcome::Refused
            } else {
                Outcome::Acked
            });
            drop(state);
            self.changed.notify_all();
        } else {
            state.requests.remove(i);
        }
    }

    /// A request's acknowledgement did not come in time (releases the state
    /// lock); returns its kind.
    fn time_out(&self, mut state: MutexGuard<'_, State>, packet_id: u16) -> Option<RequestKind> {
        let i = state
            .requests
            .iter()
            .position(|r| r.packet_id == packet_id)?;
        let kind = state.requests[i].kind;
        if state.requests[i].waited {
            state.requests[i].outcome = Some(Outcome::TimedOut);
            drop(state);
            self.changed.notify_all();
        } else {
            state.requests.remove(i);
        }
        Some(kind)
    }

    /// Hands the message in `reader` to the interceptor, then to every
    /// matching subscription's handler, else to the default handler.
    fn dispatch(&self, reader: &mut Reader, (qos, dup, retain, packet_id): (u8, bool, bool, u16)) {
        let Reader {
            topic,
            payload,
            handlers,
            ..
        } = reader;
        let message = Message {
            topic,
            payload,
            qos,
            dup,
            retain,
            packet_id,
        };
        if let Some(interceptor) = &self.interceptor {
            if interceptor(&message) {
                handlers.clear();
                return;
            }
        }
        let to_default = handlers.is_empty();
        let event = Event::Message(&message);
        for handler in handlers.drain(..) {
            handler(&event);
        }
        if to_default {
            self.emit(&event);
        }
    }

    /// Waits until data arrives or `until`, then feeds what is there to the
    /// session. A failure drops the link (the session emits `Disconnected`).
    fn read_some(&self, reader: &mut Reader, until: Instant) {
        let buffered = lock(&self.io)
            .transport
            .as_ref()
            .is_some_and(|t| t.buffered() > 0);
        let read_timeout = match &reader.readiness {
            Some(socket) if !buffered => {
                let wait = until.saturating_duration_since(Instant::now());
                if !wait_readable(socket, wait) {
                    return;
                }
                READ_AFTER_READY
            }
            Some(_) => READ_AFTER_READY,
            None => until
                .saturating_duration_since(Instant::now())
                .clamp(MIN_WAIT, FALLBACK_READ_SLICE),
        };
        let result = {
            let mut io = lock(&self.io);
            if io.link != reader.link {
                return;
            }
            let Some(transport) = io.transport.as_mut() else {
                return; // dropped by a writer; the session knows
            };
            transport.read(&mut reader.buf, read_timeout)
        };
        match result {
            Ok(0) => {}
            Ok(n) => self.lock_state().session.receive(&reader.buf[..n]),
            Err(e) => self.link_failed(reader.link, ClientError::Io(e)),
        }
    }

    /// Reports a lost link and schedules the reconnect.
    fn connection_lost(&self, reader: &mut Reader, reason: &DisconnectReason) {
        reader.online = false;
        reader.readiness = None;
        Self::drop_transport(&mut lock(&self.io));
        self.connected.store(false, Ordering::Release);
        let (error, delay) = {
            let mut state = self.lock_state();
            let error = link_error(reason, state.link_failure.take());
            if state.closed {
                // disconnect() already closed it (perhaps from a handler): no
                // reconnect, no "connection lost" report.
                return;
            }
            let now = Instant::now();
            let stopped = state.reconnect_stopped;
            state.backoff.link_down(self.millis(now), reason);
            if stopped {
                (error, None)
            } else {
                let delay = Duration::from_millis(state.backoff.next_delay(jitter_random()));
                state.reconnect_at = now + delay;
                (error, Some(delay))
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
            Ok(()) => {
                events::state_event(state::STATE_MQTT_CONN_USER_INFO, "MQTT reconnected");
                self.emit(&Event::Reconnected);
                // What the session queued for the new link: subscriptions
                // (without session present), requests, unacknowledged
                // publishes with DUP.
                self.flush();
                Ok(())
            }
            Err(ClientError::Closed) => Err(ClientError::Closed),
            Err(e) => {
                let mut state = self.lock_state();
                let now = Instant::now();
                state
                    .backoff
                    .link_down(self.millis(now), &disconnect_reason(&e));
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
                // What the session decided with the failed link.
                self.pump(reader);
                Ok(())
            }
        }
    }

    /// Opens a transport, hands it to the session (CONNECT) and waits for
    /// CONNACK within the request timeout. Bytes after the CONNACK stay in
    /// the session.
    fn establish(&self, reader: &mut Reader) -> Result<(), ClientError> {
        let credentials = self.connector.credentials();
        let transport = self.connector.open().map_err(ClientError::Open)?;
        let send_login = !credentials.username.is_empty()
            || !credentials.password.is_empty()
            || self.connector.send_empty_login();
        let readiness = transport.readiness_handle();
        let link = {
            let mut state = self.lock_state();
            if state.closed {
                return Err(ClientError::Closed);
            }
            state.link_failure = None;
            state.session.set_login(
                &credentials.client_id,
                send_login.then_some(credentials.username.as_str()),
                send_login.then_some(credentials.password.as_slice()),
            );
            let now = self.millis(Instant::now());
            let closed = state.closed;
            state
                .session
                .connect(now)
                .map_err(|e| session_error(e, PacketType::Connect, closed))?;
            state.link += 1;
            let link = state.link;
            let mut io = lock(&self.io);
            io.shutdown = readiness.as_ref().and_then(|s| s.try_clone().ok());
            io.transport = Some(transport);
            io.link = link;
            link
        };
        reader.link = link;
        reader.readiness = readiness;
        self.flush();
        loop {
            match self.pump(reader) {
                Pumped::Connected => break,
                Pumped::Down(reason) => {
                    Self::drop_transport(&mut lock(&self.io));
                    reader.readiness = None;
                    let mut state = self.lock_state();
                    let error = link_error(&reason, state.link_failure.take());
                    return Err(if state.closed {
                        ClientError::Closed
                    } else {
                        error
                    });
                }
                Pumped::Idle => {}
            }
            let now = Instant::now();
            let timer = {
                let mut state = self.lock_state();
                if state.closed {
                    drop(state);
                    Self::drop_transport(&mut lock(&self.io));
                    return Err(ClientError::Closed);
                }
                state.session.handle_timeout(self.millis(now));
                state
                    .session
                    .next_deadline()
                    .map(|ms| self.epoch + Duration::from_millis(ms))
            };
            let mut until = now + WAIT_SLICE;
            if let Some(timer) = timer {
                until = until.min(timer);
            }
            self.read_some(reader, until);
            self.flush();
        }
        self.connected.store(true, Ordering::Release);
        let now = Instant::now();
        self.lock_state().backoff.link_up(self.millis(now));
        reader.online = true;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.disconnect();
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
