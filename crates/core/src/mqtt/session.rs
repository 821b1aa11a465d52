//! The MQTT 3.1.1 client session as a state machine without I/O.
//!
//! A [`Session`] never touches a socket or a clock. Its driver (the std
//! thread of the C library today, an RTOS task later) feeds it:
//!
//! - the bytes it read, with [`Session::receive`];
//! - the current time in milliseconds from any monotonic clock, with
//!   [`Session::handle_timeout`] and [`Session::poll_transmit`];
//! - the application's calls: [`Session::connect`], [`Session::publish`],
//!   [`Session::subscribe`], [`Session::unsubscribe`], [`Session::disconnect`];
//! - transport failures, typed, with [`Session::transport_failed`];
//!
//! and drains from it:
//!
//! - the packets to write, one whole packet per [`Session::poll_transmit`]
//!   call (write each with one write);
//! - [`Event`]s, with [`Session::poll_event`] (a received message borrows
//!   the session's read buffer, nothing is copied);
//! - the time by which [`Session::handle_timeout`] must be called next,
//!   with [`Session::next_deadline`].
//!
//! # Delivery rules
//!
//! - **QoS 1 out.** A QoS 1 publish takes one slot of the inflight window
//!   ([`Config::inflight_window`], default [`DEFAULT_INFLIGHT_WINDOW`]);
//!   [`SessionError::Full`] when all are taken. The packet id names its slot
//!   (`(id - 1) % window`), so a PUBACK finds its message in constant time.
//!   While the link is up an unacknowledged message is never dropped and
//!   never resent (MQTT 3.1.1 §4.4); after a reconnect every unacknowledged
//!   message is resent before any new one, in its original order, with DUP
//!   set: the oldest alone first, the others once a PUBACK arrives, so that
//!   a message the broker drops the link on does not take the ones behind
//!   it down with it. Attempts count across reconnects: a message the broker
//!   refused [`Config::max_publish_attempts`] times (it dropped the link
//!   each time before acknowledging) is given up with
//!   [`Event::PublishGaveUp`].
//! - **QoS 1 in.** Acknowledged with PUBACK once the driver comes back
//!   for the next event after the message (so after its handler ran); a
//!   link lost before that leaves it unacknowledged, and the broker sends
//!   it again.
//! - **Requests** (SUBSCRIBE, UNSUBSCRIBE) keep their order: they wait in a
//!   first-in first-out queue, are sent in that order and, when the link
//!   drops before their acknowledgement, sent again in that order after the
//!   reconnect. Nothing is ever swapped out of place. A SUBSCRIBE whose
//!   SUBACK does not come within the request timeout is reported
//!   ([`Event::RequestTimedOut`]) and sent again on the next link.
//! - **Subscriptions after a reconnect.** With `session present` the broker
//!   kept them: nothing is re-sent (re-subscribing would make it deliver
//!   retained messages again). Without, every acknowledged subscription is
//!   sent again, in the order it was made, before the waiting requests.
//! - **Keep-alive.** When nothing was sent for [`Config::ping_interval_ms`]
//!   a PINGREQ goes out; without PINGRESP within
//!   [`Config::request_timeout_ms`] the link is declared lost
//!   ([`DisconnectReason::PingTimeout`]).
//! - **Client id.** Fixed in [`Config::client_id`] when the session is made
//!   and sent unchanged in every CONNECT, so a reconnect resumes the same
//!   session on the broker.
//! - **Packet size.** Every outgoing packet is measured against
//!   [`Config::max_packet_size`] before it is queued
//!   ([`SessionError::TooLarge`]); incoming packets larger than
//!   [`Config::max_incoming_packet_size`] are skipped (a QoS 1 one is still
//!   acknowledged when its packet id fits the buffer) with
//!   [`Event::IncomingTooLarge`].
//!
//! # Memory
//!
//! Buffers are allocated when the session is made and grow only to the
//! largest packet seen; after that, publishing and receiving allocate
//! nothing: each inflight slot keeps its encoded packet in a `Vec` that is
//! reused, QoS 0 packets are encoded into buffers taken from a small pool,
//! the read buffer is compacted in place, and the queues are `VecDeque`s
//! whose capacity stays. Subscribing allocates (its filter is kept).

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::codec::{
    self, ConnAck, Connect, DecodeError, EncodeError, Framing, Packet, PacketType, Publish, SubAck,
    Subscribe, SubscribeFilters, Unsubscribe, UnsubscribeFilters, PUBLISH_DUP_FLAG,
};
use super::topic;

/// Milliseconds of a monotonic clock the driver chooses; only differences
/// matter.
pub type Millis = u64;

/// QoS 1 messages that may wait for PUBACK at once, unless configured.
pub const DEFAULT_INFLIGHT_WINDOW: u16 = 16;
/// The largest inflight window [`Session::new`] accepts.
pub const MAX_INFLIGHT_WINDOW: u16 = 1024;
/// Sends of one QoS 1 message (the first and the resends after
/// reconnects) before it is given up, unless configured.
pub const DEFAULT_MAX_PUBLISH_ATTEMPTS: u32 = 5;
/// The vendor's default buffer size, used as the default packet limits.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 3072;
/// SUBSCRIBE/UNSUBSCRIBE requests that may wait at once, unless configured.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 64;
/// The largest request queue [`Session::new`] accepts.
pub const MAX_PENDING_REQUESTS: usize = 1024;

/// Distinct topic filters a session keeps subscribed. With the request
/// queue's maximum this stays below the 4095 packet ids requests have, so
/// the re-subscriptions after a reconnect always find free ids.
pub const MAX_SUBSCRIPTIONS: usize = 2048;

/// Packet ids 1..=PUBLISH_ID_SPACE (rounded down to a multiple of the
/// window) name publishes; the ids above name requests.
const PUBLISH_ID_SPACE: u16 = 0xF000;
const FIRST_REQUEST_ID: u16 = PUBLISH_ID_SPACE + 1;
/// Spare QoS 0 buffers kept for reuse.
const QOS0_POOL: usize = 8;

/// What a session is made with. [`Config::new`] gives the vendor's
/// defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Sent unchanged in every CONNECT of this session.
    pub client_id: String,
    /// CONNECT's user name, if any.
    pub username: Option<String>,
    /// CONNECT's password, if any.
    pub password: Option<Vec<u8>>,
    /// The keep-alive CONNECT advertises, in seconds (0: none).
    pub keep_alive_s: u16,
    /// A PINGREQ goes out when nothing was sent for this long (0: never).
    pub ping_interval_ms: u64,
    /// CONNECT's clean-session flag.
    pub clean_session: bool,
    /// How long CONNACK, SUBACK, UNSUBACK and PINGRESP may take.
    pub request_timeout_ms: u64,
    /// The largest packet this session sends, in bytes.
    pub max_packet_size: usize,
    /// The largest packet this session accepts, in bytes.
    pub max_incoming_packet_size: usize,
    /// QoS 1 messages that may wait for PUBACK at once (1..=1024); also
    /// the number of QoS 0 packets that may wait to be written.
    pub inflight_window: u16,
    /// Sends of one QoS 1 message before it is given up; 0 never gives up.
    pub max_publish_attempts: u32,
    /// SUBSCRIBE/UNSUBSCRIBE requests that may wait at once (1..=1024).
    pub max_pending_requests: usize,
}

impl Config {
    /// The vendor's defaults for `client_id`: keep-alive 120 s advertised
    /// with a PINGREQ every 60 s, a persistent session, 5 s for each
    /// acknowledgement, 3072-byte packets, a window of 16.
    pub fn new(client_id: &str) -> Config {
        Config {
            client_id: String::from(client_id),
            username: None,
            password: None,
            keep_alive_s: 120,
            ping_interval_ms: 60_000,
            clean_session: false,
            request_timeout_ms: 5_000,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_incoming_packet_size: DEFAULT_MAX_PACKET_SIZE,
            inflight_window: DEFAULT_INFLIGHT_WINDOW,
            max_publish_attempts: DEFAULT_MAX_PUBLISH_ATTEMPTS,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(Vec::len))
            .field("keep_alive_s", &self.keep_alive_s)
            .field("ping_interval_ms", &self.ping_interval_ms)
            .field("clean_session", &self.clean_session)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_packet_size", &self.max_packet_size)
            .field("max_incoming_packet_size", &self.max_incoming_packet_size)
            .field("inflight_window", &self.inflight_window)
            .field("max_publish_attempts", &self.max_publish_attempts)
            .field("max_pending_requests", &self.max_pending_requests)
            .finish()
    }
}

/// A [`Config`] the session cannot work with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `inflight_window` is 0 or above [`MAX_INFLIGHT_WINDOW`].
    InflightWindow(u16),
    /// `max_pending_requests` is 0 or above [`MAX_PENDING_REQUESTS`].
    PendingRequests(usize),
    /// A packet limit below 16 bytes.
    PacketSize(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InflightWindow(n) => write!(
                f,
                "an inflight window of {n} messages is outside 1..{MAX_INFLIGHT_WINDOW}"
            ),
            ConfigError::PendingRequests(n) => write!(
                f,
                "a queue of {n} subscribe requests is outside 1..{MAX_PENDING_REQUESTS}"
            ),
            ConfigError::PacketSize(n) => {
                write!(f, "a packet size limit of {n} bytes is below 16 bytes")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// The delivery guarantee of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QoS {
    /// At most once: no acknowledgement.
    AtMostOnce = 0,
    /// At least once: acknowledged with PUBACK, resent after a reconnect.
    AtLeastOnce = 1,
}

/// Which way a transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// Reading failed.
    Read,
    /// Writing failed (or did not finish in time).
    Write,
    /// The peer closed the connection.
    Closed,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Read => "reading from the connection failed",
            TransportError::Write => "writing to the connection failed",
            TransportError::Closed => "the server closed the connection",
        })
    }
}

/// Why the link went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// [`Session::disconnect`] was called.
    Requested,
    /// CONNACK refused the connection with this return code (1..=5).
    Refused(u8),
    /// No CONNACK within the request timeout.
    ConnAckTimeout,
    /// No PINGRESP within the request timeout.
    PingTimeout,
    /// The transport failed.
    Transport(TransportError),
    /// The server sent bytes that are not valid MQTT.
    Protocol {
        /// The packet type its first byte names, when it names one.
        packet: Option<PacketType>,
        /// What is wrong with it.
        error: DecodeError,
    },
    /// The server sent a packet a client never receives, or CONNACK twice.
    UnexpectedPacket(PacketType),
    /// The server sent a QoS 2 message; this client subscribes at QoS 0
    /// and 1 only.
    QoS2Publish,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Requested => f.write_str("the application disconnected"),
            DisconnectReason::Refused(code) => write!(
                f,
                "the server refused the connection: {}",
                connack_reason(*code)
            ),
            DisconnectReason::ConnAckTimeout => {
                f.write_str("the server did not answer CONNECT in time")
            }
            DisconnectReason::PingTimeout => f.write_str(
                "the server did not answer the keep-alive ping in time; the connection is considered lost",
            ),
            DisconnectReason::Transport(error) => write!(f, "{error}"),
            DisconnectReason::Protocol {
                packet: Some(packet),
                error,
            } => write!(f, "the server sent an invalid {packet}: {error}"),
            DisconnectReason::Protocol {
                packet: None,
                error,
            } => write!(f, "the server sent invalid MQTT: {error}"),
            DisconnectReason::UnexpectedPacket(packet) => {
                write!(f, "the server sent a {packet} packet, which a client never receives here")
            }
            DisconnectReason::QoS2Publish => f.write_str(
                "the server sent a QoS 2 message, although this client subscribes at QoS 0 and 1 only",
            ),
        }
    }
}

/// The sentence for a CONNACK return code.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "it does not support MQTT 3.1.1",
        2 => "it rejected the client id",
        3 => "the MQTT service is unavailable",
        4 => "the user name or password is wrong",
        5 => "the device is not authorised",
        _ => "it gave a return code MQTT 3.1.1 does not define",
    }
}

/// A call the session refused; nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The link is not up (QoS 0 publishes are not kept offline).
    NotConnected,
    /// [`Session::connect`] while connecting or connected.
    AlreadyConnected,
    /// The inflight window (or the QoS 0 queue) is full; try again after
    /// acknowledgements arrive.
    Full {
        /// The window's size.
        window: u16,
    },
    /// Too many SUBSCRIBE/UNSUBSCRIBE requests wait already.
    RequestQueueFull {
        /// The queue's size.
        limit: usize,
    },
    /// [`MAX_SUBSCRIPTIONS`] filters are subscribed (or being subscribed)
    /// already.
    TooManySubscriptions {
        /// The limit.
        limit: usize,
    },
    /// The packet would be larger than [`Config::max_packet_size`].
    TooLarge {
        /// Its encoded size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The packet cannot be encoded (bad topic, field too long, ...).
    Encode(EncodeError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::NotConnected => f.write_str("the client is not connected"),
            SessionError::AlreadyConnected => {
                f.write_str("the client is already connecting or connected")
            }
            SessionError::Full { window } => write!(
                f,
                "{window} messages already wait for the server's acknowledgement (the inflight window is full)"
            ),
            SessionError::RequestQueueFull { limit } => {
                write!(f, "{limit} subscribe/unsubscribe requests already wait")
            }
            SessionError::TooManySubscriptions { limit } => {
                write!(f, "{limit} topic filters are subscribed already")
            }
            SessionError::TooLarge { len, max } => write!(
                f,
                "the packet would be {len} bytes, above the limit of {max} bytes"
            ),
            SessionError::Encode(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for SessionError {}

impl From<EncodeError> for SessionError {
    fn from(error: EncodeError) -> SessionError {
        SessionError::Encode(error)
    }
}

/// A received PUBLISH, borrowed from the session's read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its topic name.
    pub topic: &'a str,
    /// Its payload.
    pub payload: &'a [u8],
    /// Its QoS.
    pub qos: QoS,
    /// The retain flag: a retained message the broker kept.
    pub retain: bool,
    /// The DUP flag: the broker may have sent it before.
    pub dup: bool,
    /// Its packet id (0 at QoS 0).
    pub packet_id: u16,
}

/// What happened, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// CONNACK accepted the connection.
    Connected {
        /// The broker kept the session (and the subscriptions) of this
        /// client id.
        session_present: bool,
    },
    /// The link is down; the driver closes the transport. Unacknowledged
    /// QoS 1 messages and requests wait for the next [`Session::connect`].
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A message arrived.
    Message(Message<'a>),
    /// PUBACK for a QoS 1 message.
    PublishAcked {
        /// The id [`Session::publish`] returned.
        packet_id: u16,
    },
    /// A QoS 1 message was sent `attempts` times, each time the link went
    /// down before PUBACK; it is dropped.
    PublishGaveUp {
        /// The id [`Session::publish`] returned.
        packet_id: u16,
        /// How often it was sent.
        attempts: u32,
    },
    /// SUBACK for a subscription.
    SubscribeAcked {
        /// The id [`Session::subscribe`] returned.
        packet_id: u16,
        /// The QoS the broker granted; `None`: it refused the filter.
        granted: Option<QoS>,
    },
    /// UNSUBACK.
    UnsubscribeAcked {
        /// The id [`Session::unsubscribe`] returned.
        packet_id: u16,
    },
    /// SUBACK or UNSUBACK did not arrive within the request timeout. An
    /// UNSUBSCRIBE is dropped; a SUBSCRIBE is sent again, silently, on the
    /// next link (the broker may never have received it), so that the
    /// filter the application asked for is not lost with a stalled link.
    RequestTimedOut {
        /// The id the request was given.
        packet_id: u16,
    },
    /// A packet larger than [`Config::max_incoming_packet_size`] arrived
    /// and was skipped.
    IncomingTooLarge {
        /// Its size in bytes.
        needed: usize,
        /// The limit.
        limit: usize,
    },
}

/// Where the link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No transport; [`Session::connect`] starts one.
    Down,
    /// CONNECT is queued or sent; waiting for CONNACK until `deadline`.
    Connecting {
        /// When [`DisconnectReason::ConnAckTimeout`] fires.
        deadline: Millis,
    },
    /// Connected.
    Up,
    /// DISCONNECT is queued; the link goes down once it is handed out.
    Closing,
}

/// One slot of the inflight window.
struct Slot {
    /// 0 while free.
    packet_id: u16,
    /// Which id the slot gives next (id = index + 1 + generation * window).
    generation: u16,
    /// Order of publication, to resend in order.
    seq: u64,
    /// Sends so far.
    attempts: u32,
    /// In the outbound queue right now.
    queued: bool,
    /// The link (see `Session::link`) it was last handed out on.
    sent_on: u32,
    /// The encoded PUBLISH (capacity reused).
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Subscribe,
    Unsubscribe,
    /// A subscription re-made after a reconnect without session present.
    Resubscribe,
    /// A subscription whose SUBACK did not come in time: reported once,
    /// then sent again (silently) on the next link, which the broker may
    /// never have received it on.
    Retry,
}

struct Request {
    packet_id: u16,
    kind: RequestKind,
    filter: String,
    qos: QoS,
    /// When it was handed out (for its timeout); None: not sent on this link.
    sent_at: Option<Millis>,
    queued: bool,
}

/// A packet waiting in the outbound queue.
enum Out {
    Connect,
    Publish { slot: u16, seq: u64 },
    Qos0(Vec<u8>),
    PubAck(u16),
    Request(u16),
    PingReq,
    Disconnect,
}

/// What decoding the next packet gave.
enum Step {
    /// Nothing (yet): wait for more bytes.
    Wait,
    /// A packet was handled; look again.
    Again,
    /// A message: where its parts lie in `rx`.
    Message {
        topic: (usize, usize),
        payload: (usize, usize),
        qos: QoS,
        retain: bool,
        dup: bool,
        packet_id: u16,
    },
}

/// An MQTT 3.1.1 client session: see the module documentation.
pub struct Session {
    config: Config,
    state: State,
    slots: Vec<Slot>,
    /// Slot indices in order of publication (entries of freed slots are
    /// skipped and compacted away).
    order: VecDeque<(u16, u64)>,
    next_seq: u64,
    inflight: u16,
    /// The highest publish id + 1 - window: ids are 1..=publish_id_limit.
    generations: u16,
    requests: VecDeque<Request>,
    next_request_id: u16,
    /// Acknowledged subscriptions, in the order they were made.
    subscriptions: Vec<(String, QoS)>,
    out: VecDeque<Out>,
    qos0_waiting: usize,
    pool: Vec<Vec<u8>>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// Bytes at the start of `rx` already handled.
    rx_done: usize,
    /// Bytes of an oversized packet still to skip.
    skip: usize,
    events: VecDeque<Event<'static>>,
    last_sent: Millis,
    ping_sent: Option<Millis>,
    /// After a reconnect, only the oldest resend is out until its PUBACK.
    probing: bool,
    /// Counts connects: which link a packet went out on.
    link: u32,
    /// The PUBACK of the QoS 1 message handed out last: queued when the
    /// application comes back for the next event, i.e. after it handled it.
    owed_puback: Option<u16>,
    /// The topic of the last oversized PUBLISH skipped, when its head fit.
    oversized_topic: String,
}

impl Session {
    /// A session that is down; call [`Session::connect`] once the driver
    /// has a transport.
    pub fn new(config: Config) -> Result<Session, ConfigError> {
        let window = config.inflight_window;
        if window == 0 || window > MAX_INFLIGHT_WINDOW {
            return Err(ConfigError::InflightWindow(window));
        }
        if config.max_pending_requests == 0 || config.max_pending_requests > MAX_PENDING_REQUESTS {
            return Err(ConfigError::PendingRequests(config.max_pending_requests));
        }
        for size in [config.max_packet_size, config.max_incoming_packet_size] {
            if size < 16 {
                return Err(ConfigError::PacketSize(size));
            }
        }
        let slots = (0..window)
            .map(|_| Slot {
                packet_id: 0,
                generation: 0,
                seq: 0,
                attempts: 0,
                queued: false,
                sent_on: 0,
                bytes: Vec::new(),
            })
            .collect();
        let queue = usize::from(window) * 2 + config.max_pending_requests + 4;
        Ok(Session {
            generations: PUBLISH_ID_SPACE / window,
            slots,
            order: VecDeque::with_capacity(usize::from(window) * 2),
            next_seq: 1,
            inflight: 0,
            requests: VecDeque::with_capacity(config.max_pending_requests),
            next_request_id: FIRST_REQUEST_ID,
            subscriptions: Vec::new(),
            out: VecDeque::with_capacity(queue),
            qos0_waiting: 0,
            pool: Vec::with_capacity(QOS0_POOL),
            // Publishes keep their own buffers; `tx` carries CONNECT, requests
            // and acknowledgements, and grows if one is larger.
            tx: Vec::with_capacity(config.max_packet_size.min(1024)),
            // A packet's unread rest plus one more read of up to the same
            // size (what a driver reading into a buffer of the packet limit
            // hands over), so receiving never grows it after start.
            rx: Vec::with_capacity(2 * config.max_incoming_packet_size.min(64 * 1024) + 5),
            rx_done: 0,
            skip: 0,
            events: VecDeque::with_capacity(queue),
            last_sent: 0,
            ping_sent: None,
            probing: false,
            link: 0,
            owed_puback: None,
            oversized_topic: String::new(),
            state: State::Down,
            config,
        })
    }

    /// The configuration, as given.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the link stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// QoS 1 messages waiting for PUBACK (or for the link to send them).
    pub fn inflight(&self) -> usize {
        usize::from(self.inflight)
    }

    /// SUBSCRIBE/UNSUBSCRIBE requests waiting for their acknowledgement.
    pub fn pending_requests(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| !matches!(r.kind, RequestKind::Resubscribe | RequestKind::Retry))
            .count()
    }

    /// The acknowledged subscriptions, in the order they were made.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, QoS)> {
        self.subscriptions.iter().map(|(f, q)| (f.as_str(), *q))
    }

    /// The topic of the PUBLISH the last [`Event::IncomingTooLarge`] was
    /// about ("" when it was another packet, or its topic did not fit the
    /// limit either).
    pub fn oversized_topic(&self) -> &str {
        &self.oversized_topic
    }

    /// Sets CONNECT's client id, user name and password for the next
    /// [`Session::connect`]; the link that is up keeps what it connected
    /// with. For a driver whose credentials are only known once a
    /// connection opens (a signature, an identity learned meanwhile); the
    /// client id should stay the same across reconnects, so that the
    /// broker resumes the session.
    pub fn set_login(&mut self, client_id: &str, username: Option<&str>, password: Option<&[u8]>) {
        self.config.client_id.clear();
        self.config.client_id.push_str(client_id);
        self.config.username = username.map(String::from);
        self.config.password = password.map(Vec::from);
    }

    /// Changes [`Config::max_publish_attempts`] from the next link loss on.
    pub fn set_max_publish_attempts(&mut self, attempts: u32) {
        self.config.max_publish_attempts = attempts;
    }

    // ---- API calls ---------------------------------------------------------

    /// Starts a connection over a transport the driver just opened: queues
    /// CONNECT (always with [`Config::client_id`]) and expects CONNACK by
    /// `now` + the request timeout.
    pub fn connect(&mut self, now: Millis) -> Result<(), SessionError> {
        if self.state != State::Down {
            return Err(SessionError::AlreadyConnected);
        }
        let len = codec::encoded_len(&Packet::Connect(self.connect_packet()))?;
        if len > self.config.max_packet_size {
            return Err(SessionError::TooLarge {
                len,
                max: self.config.max_packet_size,
            });
        }
        self.rx.clear();
        self.rx_done = 0;
        self.skip = 0;
        self.ping_sent = None;
        self.last_sent = now;
        self.link = self.link.wrapping_add(1);
        self.out.push_back(Out::Connect);
        self.state = State::Connecting {
            deadline: now.saturating_add(self.config.request_timeout_ms),
        };
        Ok(())
    }

    /// Publishes. QoS 0 needs the link up; QoS 1 is accepted offline too
    /// (sent after CONNACK) and returns the packet id that
    /// [`Event::PublishAcked`] or [`Event::PublishGaveUp`] will name.
    /// Returns 0 for QoS 0.
    pub fn publish(
        &mut self,
        topic_name: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<u16, SessionError> {
        let window = self.config.inflight_window;
        let mut packet = Publish {
            topic: topic_name,
            payload,
            qos: qos as u8,
            dup: false,
            retain,
            packet_id: 0,
        };
        let (slot, packet_id) = match qos {
            QoS::AtMostOnce => {
                if self.state != State::Up {
                    return Err(SessionError::NotConnected);
                }
                if self.qos0_waiting >= usize::from(window) {
                    return Err(SessionError::Full { window });
                }
                (None, 0)
            }
            QoS::AtLeastOnce => {
                let Some(index) = self.slots.iter().position(|s| s.packet_id == 0) else {
                    return Err(SessionError::Full { window });
                };
                let slot = &self.slots[index];
                let id = index as u16 + 1 + slot.generation * window;
                packet.packet_id = id;
                (Some(index), id)
            }
        };
        let packet = Packet::Publish(packet);
        let len = codec::encoded_len(&packet)?;
        if len > self.config.max_packet_size {
            return Err(SessionError::TooLarge {
                len,
                max: self.config.max_packet_size,
            });
        }
        match slot {
            None => {
                let mut buf = self.pool.pop().unwrap_or_default();
                buf.clear();
                buf.resize(len, 0);
                codec::encode(&packet, &mut buf)?;
                self.qos0_waiting += 1;
                self.out.push_back(Out::Qos0(buf));
            }
            Some(index) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let up = self.state == State::Up && !self.probing;
                let generations = self.generations;
                let slot = &mut self.slots[index];
                slot.bytes.clear();
                slot.bytes.resize(len, 0);
                codec::encode(&packet, &mut slot.bytes)?;
                slot.packet_id = packet_id;
                slot.generation = (slot.generation + 1) % generations;
                slot.seq = seq;
                slot.attempts = 0;
                slot.queued = up;
                self.inflight += 1;
                self.push_order(index as u16, seq);
                if up {
                    self.out.push_back(Out::Publish {
                        slot: index as u16,
                        seq,
                    });
                }
            }
        }
        Ok(packet_id)
    }

    /// Subscribes to one filter; accepted offline too (sent after CONNACK,
    /// in order). Returns the packet id [`Event::SubscribeAcked`] names.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<u16, SessionError> {
        self.request(RequestKind::Subscribe, filter, qos)
    }

    /// Unsubscribes from one filter; never overtakes an earlier
    /// [`Session::subscribe`]. Returns the packet id
    /// [`Event::UnsubscribeAcked`] names.
    pub fn unsubscribe(&mut self, filter: &str) -> Result<u16, SessionError> {
        self.request(RequestKind::Unsubscribe, filter, QoS::AtMostOnce)
    }

    /// Ends the connection: DISCONNECT is queued and the link goes down
    /// once it is handed out (at once when the link is not up).
    pub fn disconnect(&mut self) {
        match self.state {
            State::Up => {
                self.out.push_back(Out::Disconnect);
                self.state = State::Closing;
            }
            State::Connecting { .. } => self.link_lost(DisconnectReason::Requested),
            State::Down | State::Closing => {}
        }
    }

    // ---- transport -----------------------------------------------------------

    /// Hands out the next packet to write, whole; write it with one write,
    /// then call again until `None`. `now` dates keep-alive and request
    /// timeouts.
    pub fn poll_transmit(&mut self, now: Millis) -> Option<&[u8]> {
        loop {
            let out = self.out.pop_front()?;
            match out {
                Out::Connect => {
                    let len = codec::encoded_len(&Packet::Connect(self.connect_packet())).ok()?;
                    let mut tx = core::mem::take(&mut self.tx);
                    tx.clear();
                    tx.resize(len, 0);
                    let written = codec::encode(&Packet::Connect(self.connect_packet()), &mut tx);
                    self.tx = tx;
                    if written.is_err() {
                        continue;
                    }
                }
                Out::Publish { slot, seq } => {
                    let live = {
                        let s = &self.slots[usize::from(slot)];
                        s.packet_id != 0 && s.seq == seq && s.queued
                    };
                    if !live {
                        continue;
                    }
                    let link = self.link;
                    let s = &mut self.slots[usize::from(slot)];
                    s.queued = false;
                    s.attempts += 1;
                    s.sent_on = link;
                    self.last_sent = now;
                    return Some(&self.slots[usize::from(slot)].bytes);
                }
                Out::Qos0(buf) => {
                    self.qos0_waiting -= 1;
                    let old = core::mem::replace(&mut self.tx, buf);
                    if self.pool.len() < QOS0_POOL {
                        self.pool.push(old);
                    }
                }
                Out::PubAck(packet_id) => {
                    self.encode_tx(&Packet::PubAck { packet_id });
                }
                Out::PingReq => {
                    self.encode_tx(&Packet::PingReq);
                    self.ping_sent = Some(now);
                }
                Out::Request(packet_id) => {
                    let Some(index) = self.requests.iter().position(|r| r.packet_id == packet_id)
                    else {
                        continue;
                    };
                    if !self.requests[index].queued {
                        continue;
                    }
                    let mut tx = core::mem::take(&mut self.tx);
                    let request = &mut self.requests[index];
                    request.queued = false;
                    request.sent_at = Some(now);
                    let list = [(request.filter.as_str(), request.qos as u8)];
                    let filters = [request.filter.as_str()];
                    let packet = match request.kind {
                        RequestKind::Unsubscribe => Packet::Unsubscribe(Unsubscribe {
                            packet_id,
                            filters: UnsubscribeFilters::List(&filters),
                        }),
                        _ => Packet::Subscribe(Subscribe {
                            packet_id,
                            filters: SubscribeFilters::List(&list),
                        }),
                    };
                    let ok = match codec::encoded_len(&packet) {
                        Ok(len) => {
                            tx.clear();
                            tx.resize(len, 0);
                            codec::encode(&packet, &mut tx).is_ok()
                        }
                        Err(_) => false,
                    };
                    self.tx = tx;
                    if !ok {
                        continue;
                    }
                }
                Out::Disconnect => {
                    self.encode_tx(&Packet::Disconnect);
                    self.link_lost(DisconnectReason::Requested);
                }
            }
            self.last_sent = now;
            return Some(&self.tx);
        }
    }

    /// Takes bytes the driver read. They are decoded by
    /// [`Session::poll_event`]; call it until `None` after each receive.
    pub fn receive(&mut self, data: &[u8]) {
        if matches!(self.state, State::Down) {
            return;
        }
        if self.rx_done > 0 {
            self.rx.drain(..self.rx_done);
            self.rx_done = 0;
        }
        self.rx.extend_from_slice(data);
    }

    /// The transport failed: the link is down (see [`Event::Disconnected`]).
    pub fn transport_failed(&mut self, error: TransportError) {
        if self.state != State::Down {
            self.link_lost(DisconnectReason::Transport(error));
        }
    }

    /// Runs the timers: keep-alive ping, PINGRESP, CONNACK and request
    /// timeouts. Call at [`Session::next_deadline`] (earlier is harmless).
    pub fn handle_timeout(&mut self, now: Millis) {
        let timeout = self.config.request_timeout_ms;
        match self.state {
            State::Down | State::Closing => return,
            State::Connecting { deadline } => {
                if now >= deadline {
                    self.link_lost(DisconnectReason::ConnAckTimeout);
                }
                return;
            }
            State::Up => {}
        }
        if let Some(sent) = self.ping_sent {
            if now >= sent.saturating_add(timeout) {
                self.link_lost(DisconnectReason::PingTimeout);
                return;
            }
        } else if self.config.ping_interval_ms > 0
            && now >= self.last_sent.saturating_add(self.config.ping_interval_ms)
            && !self.out.iter().any(|o| matches!(o, Out::PingReq))
        {
            self.out.push_back(Out::PingReq);
        }
        while let Some(index) = self.requests.iter().position(|r| {
            r.sent_at
                .is_some_and(|at| now >= at.saturating_add(timeout))
        }) {
            let request = &mut self.requests[index];
            match request.kind {
                RequestKind::Subscribe | RequestKind::Retry => {
                    if request.kind == RequestKind::Subscribe {
                        self.events.push_back(Event::RequestTimedOut {
                            packet_id: request.packet_id,
                        });
                    }
                    // Kept, unsent, for the next link.
                    request.kind = RequestKind::Retry;
                    request.sent_at = None;
                    request.queued = false;
                }
                RequestKind::Unsubscribe => {
                    self.events.push_back(Event::RequestTimedOut {
                        packet_id: request.packet_id,
                    });
                    self.requests.remove(index);
                }
                RequestKind::Resubscribe => {
                    self.requests.remove(index);
                }
            }
        }
    }

    /// When [`Session::handle_timeout`] must run next; `None`: no timer.
    pub fn next_deadline(&self) -> Option<Millis> {
        let timeout = self.config.request_timeout_ms;
        match self.state {
            State::Down | State::Closing => None,
            State::Connecting { deadline } => Some(deadline),
            State::Up => {
                let ping = match self.ping_sent {
                    Some(sent) => Some(sent.saturating_add(timeout)),
                    None if self.config.ping_interval_ms > 0 => {
                        Some(self.last_sent.saturating_add(self.config.ping_interval_ms))
                    }
                    None => None,
                };
                let request = self
                    .requests
                    .iter()
                    .filter_map(|r| r.sent_at.map(|at| at.saturating_add(timeout)))
                    .min();
                match (ping, request) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// The next event: first those already decided, then what the received
    /// bytes hold. A [`Event::Message`] borrows the read buffer until the
    /// next call.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(packet_id) = self.owed_puback.take() {
            self.out.push_back(Out::PubAck(packet_id));
        }
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            match self.step() {
                Step::Wait => return None,
                Step::Again => continue,
                Step::Message {
                    topic,
                    payload,
                    qos,
                    retain,
                    dup,
                    packet_id,
                } => {
                    let topic = core::str::from_utf8(&self.rx[topic.0..topic.1]).ok()?;
                    return Some(Event::Message(Message {
                        topic,
                        payload: &self.rx[payload.0..payload.1],
                        qos,
                        retain,
                        dup,
                        packet_id,
                    }));
                }
            }
        }
    }

    // ---- inside ----------------------------------------------------------------

    fn connect_packet(&self) -> Connect<'_> {
        Connect {
            client_id: &self.config.client_id,
            keep_alive: self.config.keep_alive_s,
            clean_session: self.config.clean_session,
            username: self.config.username.as_deref(),
            password: self.config.password.as_deref(),
            will: None,
        }
    }

    fn encode_tx(&mut self, packet: &Packet<'_>) {
        let len = codec::encoded_len(packet).unwrap_or(0);
        self.tx.clear();
        self.tx.resize(len, 0);
        // Fixed-size control packets: encoding cannot fail.
        let _ = codec::encode(packet, &mut self.tx);
    }

    fn push_order(&mut self, slot: u16, seq: u64) {
        if self.order.len() >= self.slots.len() * 2 {
            let slots = &self.slots;
            self.order.retain(|&(i, s)| {
                let slot = &slots[usize::from(i)];
                slot.packet_id != 0 && slot.seq == s
            });
        }
        self.order.push_back((slot, seq));
    }

    fn request(&mut self, kind: RequestKind, filter: &str, qos: QoS) -> Result<u16, SessionError> {
        let limit = self.config.max_pending_requests;
        if self.pending_requests() >= limit {
            return Err(SessionError::RequestQueueFull { limit });
        }
        if kind == RequestKind::Subscribe {
            let known = self.subscriptions.iter().any(|(f, _)| f == filter);
            let waiting = self
                .requests
                .iter()
                .filter(|r| r.kind == RequestKind::Subscribe)
                .count();
            if !known && self.subscriptions.len() + waiting >= MAX_SUBSCRIPTIONS {
                return Err(SessionError::TooManySubscriptions {
                    limit: MAX_SUBSCRIPTIONS,
                });
            }
        }
        let probe = match kind {
            RequestKind::Unsubscribe => {
                topic::validate_topic_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
                codec::encoded_len(&Packet::Unsubscribe(Unsubscribe {
                    packet_id: 1,
                    filters: UnsubscribeFilters::List(&[filter]),
                }))?
            }
            _ => codec::encoded_len(&Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: SubscribeFilters::List(&[(filter, qos as u8)]),
            }))?,
        };
        if probe > self.config.max_packet_size {
            return Err(SessionError::TooLarge {
                len: probe,
                max: self.config.max_packet_size,
            });
        }
        let packet_id = self.take_request_id();
        let up = self.state == State::Up;
        self.requests.push_back(Request {
            packet_id,
            kind,
            filter: String::from(filter),
            qos,
            sent_at: None,
            queued: up,
        });
        if up {
            self.out.push_back(Out::Request(packet_id));
        }
        Ok(packet_id)
    }

    fn take_request_id(&mut self) -> u16 {
        loop {
            let id = self.next_request_id;
            self.next_request_id = if id == u16::MAX {
                FIRST_REQUEST_ID
            } else {
                id + 1
            };
            if !self.requests.iter().any(|r| r.packet_id == id) {
                return id;
            }
        }
    }

    /// The link is down: forget what was queued for it, keep what must
    /// survive it, give up messages sent too often.
    fn link_lost(&mut self, reason: DisconnectReason) {
        self.state = State::Down;
        // The broker sends an unacknowledged message again on the next link.
        self.owed_puback = None;
        self.probing = false;
        self.ping_sent = None;
        self.skip = 0;
        self.rx.clear();
        self.rx_done = 0;
        while let Some(out) = self.out.pop_front() {
            if let Out::Qos0(buf) = out {
                if self.pool.len() < QOS0_POOL {
                    self.pool.push(buf);
                }
            }
        }
        self.qos0_waiting = 0;
        self.requests.retain(|r| r.kind != RequestKind::Resubscribe);
        for request in self.requests.iter_mut() {
            request.sent_at = None;
            request.queued = false;
        }
        self.events.push_back(Event::Disconnected { reason });
        let max = self.config.max_publish_attempts;
        for i in 0..self.order.len() {
            let (index, seq) = self.order[i];
            let slot = &mut self.slots[usize::from(index)];
            slot.queued = false;
            if slot.packet_id == 0 || slot.seq != seq {
                continue;
            }
            if max != 0 && slot.attempts >= max {
                self.events.push_back(Event::PublishGaveUp {
                    packet_id: slot.packet_id,
                    attempts: slot.attempts,
                });
                slot.packet_id = 0;
                self.inflight -= 1;
            }
        }
    }

    /// CONNACK accepted: queue what the new link must carry first.
    fn connected(&mut self, session_present: bool) {
        self.state = State::Up;
        self.events.push_back(Event::Connected { session_present });
        if !session_present {
            for i in 0..self.subscriptions.len() {
                let packet_id = self.take_request_id();
                let (filter, qos) = &self.subscriptions[i];
                self.requests.push_front(Request {
                    packet_id,
                    kind: RequestKind::Resubscribe,
                    filter: filter.clone(),
                    qos: *qos,
                    sent_at: None,
                    queued: false,
                });
            }
            // push_front reversed them: restore the order they were made in.
            let n = self.subscriptions.len();
            self.requests.make_contiguous()[..n].reverse();
        }
        for request in self.requests.iter_mut() {
            request.queued = true;
            self.out.push_back(Out::Request(request.packet_id));
        }
        // A message that was sent before and never acknowledged may be the
        // one the broker drops the link on: resend it alone first, and the
        // rest once a PUBACK shows the link carries messages. Otherwise the
        // messages behind it would be sent (and counted as attempts) each
        // time too, and given up with it.
        let head = self.order.iter().find(|&&(index, seq)| {
            let slot = &self.slots[usize::from(index)];
            slot.packet_id != 0 && slot.seq == seq
        });
        self.probing = head.is_some_and(|&(index, _)| self.slots[usize::from(index)].attempts > 0);
        self.queue_publishes(self.probing);
    }

    /// Queues the unsent publishes in order (only the first when `first_only`).
    fn queue_publishes(&mut self, first_only: bool) {
        for i in 0..self.order.len() {
            let (index, seq) = self.order[i];
            let slot = &mut self.slots[usize::from(index)];
            let sent_on_this_link = slot.attempts > 0 && slot.sent_on == self.link;
            if slot.packet_id == 0 || slot.seq != seq || slot.queued || sent_on_this_link {
                continue;
            }
            if slot.attempts > 0 {
                slot.bytes[0] |= PUBLISH_DUP_FLAG;
            }
            slot.queued = true;
            self.out.push_back(Out::Publish { slot: index, seq });
            if first_only {
                break;
            }
        }
    }

    /// Decodes and handles the next packet in `rx`.
    fn step(&mut self) -> Step {
        if matches!(self.state, State::Down) {
            return Step::Wait;
        }
        if self.rx_done > 0 && self.rx_done == self.rx.len() {
            self.rx.clear();
            self.rx_done = 0;
        }
        let pending = &self.rx[self.rx_done..];
        if self.skip > 0 {
            let n = self.skip.min(pending.len());
            self.skip -= n;
            self.rx_done += n;
            return if n == 0 { Step::Wait } else { Step::Again };
        }
        let (header_len, total_len) = match codec::frame(pending) {
            Ok(Framing::Incomplete { .. }) => return Step::Wait,
            Ok(Framing::Complete {
                header_len,
                total_len,
            }) => (header_len, total_len),
            Err(error) => {
                let packet = PacketType::of_first_byte(pending[0]);
                self.link_lost(DisconnectReason::Protocol { packet, error });
                return Step::Again;
            }
        };
        let limit = self.config.max_incoming_packet_size;
        if total_len > limit {
            return self.skip_oversized(header_len, total_len);
        }
        if pending.len() < total_len {
            return Step::Wait;
        }
        let start = self.rx_done;
        self.rx_done += total_len;
        let bytes = &self.rx[start..start + total_len];
        let packet = match codec::decode(bytes) {
            Ok((packet, _)) => packet,
            Err(error) => {
                let packet = PacketType::of_first_byte(bytes[0]);
                self.link_lost(DisconnectReason::Protocol { packet, error });
                return Step::Again;
            }
        };
        let connecting = matches!(self.state, State::Connecting { .. });
        match packet {
            Packet::ConnAck(ConnAck {
                session_present,
                return_code,
            }) if connecting => {
                if return_code == 0 {
                    self.connected(session_present);
                } else {
                    self.link_lost(DisconnectReason::Refused(return_code));
                }
                Step::Again
            }
            _ if connecting => {
                self.link_lost(DisconnectReason::UnexpectedPacket(packet.packet_type()));
                Step::Again
            }
            Packet::Publish(publish) if publish.qos <= 1 => {
                let qos = if publish.qos == 1 {
                    self.owed_puback = Some(publish.packet_id);
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                let base = self.rx.as_ptr() as usize;
                let span = |s: &[u8]| {
                    let from = s.as_ptr() as usize - base;
                    (from, from + s.len())
                };
                Step::Message {
                    topic: span(publish.topic.as_bytes()),
                    payload: span(publish.payload),
                    qos,
                    retain: publish.retain,
                    dup: publish.dup,
                    packet_id: publish.packet_id,
                }
            }
            Packet::PubAck { packet_id } => {
                self.publish_acked(packet_id);
                Step::Again
            }
            Packet::SubAck(SubAck {
                packet_id,
                return_codes,
            }) => {
                let granted = match return_codes.first() {
                    Some(0) => Some(QoS::AtMostOnce),
                    Some(1) | Some(2) => Some(QoS::AtLeastOnce),
                    _ => None, // SUBACK_FAILURE (0x80), or no code at all
                };
                self.request_acked(packet_id, true, granted);
                Step::Again
            }
            Packet::UnsubAck { packet_id } => {
                self.request_acked(packet_id, false, None);
                Step::Again
            }
            Packet::PingResp => {
                self.ping_sent = None;
                Step::Again
            }
            Packet::Publish(_) => {
                self.link_lost(DisconnectReason::QoS2Publish);
                Step::Again
            }
            other => {
                self.link_lost(DisconnectReason::UnexpectedPacket(other.packet_type()));
                Step::Again
            }
        }
    }

    fn skip_oversized(&mut self, header_len: usize, total_len: usize) -> Step {
        let limit = self.config.max_incoming_packet_size;
        let pending = &self.rx[self.rx_done..];
        let first = pending[0];
        let publish = first >> 4 == 3;
        let qos1 = publish && (first >> 1) & 0b11 == 1;
        self.oversized_topic.clear();
        if publish {
            // Wait for the topic while it can fit, to say which it was.
            let Some(len_bytes) = pending.get(header_len..header_len + 2) else {
                return Step::Wait;
            };
            let topic_len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            let topic_end = header_len + 2 + topic_len;
            if topic_end <= limit {
                let Some(topic) = pending.get(header_len + 2..topic_end) else {
                    return Step::Wait;
                };
                if let Ok(topic) = core::str::from_utf8(topic) {
                    self.oversized_topic.push_str(topic);
                }
            }
        }
        if qos1 {
            // The packet id follows the topic: wait for it while it can fit.
            let Some(len_bytes) = pending.get(header_len..header_len + 2) else {
                return Step::Wait;
            };
            let topic_len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            let id_at = header_len + 2 + topic_len;
            if id_at + 2 <= limit {
                let Some(id) = pending.get(id_at..id_at + 2) else {
                    return Step::Wait;
                };
                let packet_id = u16::from_be_bytes([id[0], id[1]]);
                if packet_id != 0 {
                    self.out.push_back(Out::PubAck(packet_id));
                }
            }
        }
        self.events.push_back(Event::IncomingTooLarge {
            needed: total_len,
            limit,
        });
        self.skip = total_len;
        Step::Again
    }

    fn publish_acked(&mut self, packet_id: u16) {
        let window = self.config.inflight_window;
        if packet_id == 0 || packet_id > self.generations * window {
            return;
        }
        let slot = &mut self.slots[usize::from((packet_id - 1) % window)];
        if slot.packet_id != packet_id {
            return; // a late or duplicate PUBACK
        }
        slot.packet_id = 0;
        slot.queued = false;
        self.inflight -= 1;
        self.events.push_back(Event::PublishAcked { packet_id });
        if self.probing {
            self.probing = false;
            self.queue_publishes(false);
        }
        while let Some(&(index, seq)) = self.order.front() {
            let slot = &self.slots[usize::from(index)];
            if slot.packet_id != 0 && slot.seq == seq {
                break;
            }
            self.order.pop_front();
        }
    }

    fn request_acked(&mut self, packet_id: u16, suback: bool, granted: Option<QoS>) {
        let Some(index) = self.requests.iter().position(|r| r.packet_id == packet_id) else {
            return;
        };
        let kind = self.requests[index].kind;
        if suback == (kind == RequestKind::Unsubscribe) || self.requests[index].sent_at.is_none() {
            return; // the wrong kind of acknowledgement, or for an old link
        }
        let Some(request) = self.requests.remove(index) else {
            return;
        };
        let position = self
            .subscriptions
            .iter()
            .position(|(f, _)| *f == request.filter);
        match (kind, granted, position) {
            (RequestKind::Unsubscribe, _, Some(i)) => {
                self.subscriptions.remove(i);
            }
            (RequestKind::Unsubscribe, _, None) => {}
            (_, Some(qos), Some(i)) => self.subscriptions[i].1 = qos,
            (_, Some(qos), None) => self.subscriptions.push((request.filter, qos)),
            (_, None, Some(i)) => {
                self.subscriptions.remove(i);
            }
            (_, None, None) => {}
        }
        match kind {
            RequestKind::Subscribe => {
                self.events
                    .push_back(Event::SubscribeAcked { packet_id, granted });
            }
            RequestKind::Unsubscribe => {
                self.events.push_back(Event::UnsubscribeAcked { packet_id });
            }
            RequestKind::Resubscribe | RequestKind::Retry => {}
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("client_id", &self.config.client_id)
            .field("state", &self.state)
            .field("inflight", &self.inflight)
            .field("requests", &self.requests.len())
            .field("subscriptions", &self.subscriptions.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_limits_are_checked() {
        let mut config = Config::new("c");
        config.inflight_window = 0;
        assert_eq!(
            Session::new(config.clone()).err(),
            Some(ConfigError::InflightWindow(0))
        );
        config.inflight_window = MAX_INFLIGHT_WINDOW + 1;
        assert!(Session::new(config.clone()).is_err());
        config.inflight_window = 4;
        config.max_pending_requests = 0;
        assert_eq!(
            Session::new(config.clone()).err(),
            Some(ConfigError::PendingRequests(0))
        );
        config.max_pending_requests = 4;
        config.max_packet_size = 8;
        assert_eq!(
            Session::new(config.clone()).err(),
            Some(ConfigError::PacketSize(8))
        );
        config.max_packet_size = 64;
        assert!(Session::new(config).is_ok());
    }

    #[test]
    fn sentences_are_sentences() {
        for reason in [
            DisconnectReason::Requested,
            DisconnectReason::Refused(5),
            DisconnectReason::Refused(9),
            DisconnectReason::ConnAckTimeout,
            DisconnectReason::PingTimeout,
            DisconnectReason::Transport(TransportError::Read),
            DisconnectReason::Transport(TransportError::Write),
            DisconnectReason::Transport(TransportError::Closed),
            DisconnectReason::Protocol {
                packet: None,
                error: DecodeError::InvalidQoS,
            },
            DisconnectReason::Protocol {
                packet: Some(PacketType::Publish),
                error: DecodeError::InvalidQoS,
            },
            DisconnectReason::UnexpectedPacket(PacketType::Subscribe),
            DisconnectReason::QoS2Publish,
        ] {
            let text = alloc::format!("{reason}");
            assert!(
                !text.contains('{') && !text.contains("::") && text.len() > 10,
                "{text}"
            );
        }
        for error in [
            SessionError::NotConnected,
            SessionError::AlreadyConnected,
            SessionError::Full { window: 2 },
            SessionError::RequestQueueFull { limit: 3 },
            SessionError::TooManySubscriptions { limit: 4 },
            SessionError::TooLarge { len: 10, max: 5 },
            SessionError::Encode(EncodeError::ZeroPacketId),
        ] {
            let text = alloc::format!("{error}");
            assert!(!text.contains("::") && text.len() > 10, "{text}");
        }
        for error in [
            ConfigError::InflightWindow(0),
            ConfigError::PendingRequests(0),
            ConfigError::PacketSize(1),
        ] {
            assert!(alloc::format!("{error}").len() > 10);
        }
        assert_eq!(connack_reason(5), "the device is not authorised");
        let debug = alloc::format!("{:?}", Config::new("c"));
        assert!(debug.contains("client_id"));
    }
}
