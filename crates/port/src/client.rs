//! The device client: the `iotkit-core` MQTT session driven over
//! [`TlsClient`], with the platform's X.509 identity flow.
//!
//! One [`Client`] is one device. [`Client::connect`] runs the TLS
//! handshake, CONNECT/CONNACK and waits for the identity response on
//! [`IDENTITY_TOPIC`] when the device does not know its productKey and
//! deviceName yet; the identity is then kept with `HAL_Kv_Set` and sent as
//! the MQTT user name (`deviceName&productKey`) on every later CONNECT,
//! also after a reboot.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write;

use iotkit_core::mqtt::session::{
    Config, DisconnectReason, Event, QoS, Session, SessionError, TransportError,
};

use crate::ffi::hal;
use crate::ffi::tls::{HandshakeInfo, TlsClient, TlsError};
use crate::identity::{Identity, IDENTITY_TOPIC, KV_KEY};

/// Bytes of the certificate's SHA-256 in the client id of a device that does
/// not know its identity yet (`x509-<hex>`, as the Linux library).
const FINGERPRINT_ID_BYTES: usize = 12;
/// Keep-alive advertised in CONNECT, seconds (the platform accepts 30..1200).
const KEEP_ALIVE_S: u16 = 60;
/// Bytes read from TLS per call.
const READ_CHUNK: usize = 1024;
/// How long one write may take.
const WRITE_TIMEOUT_MS: u32 = 5_000;

/// What a [`Client`] connects with.
pub struct Params<'a> {
    /// Host name for TCP and for checking the server's certificate.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// CA certificate(s), PEM or DER.
    pub ca: &'a [u8],
    /// Device certificate, PEM or DER.
    pub cert: &'a [u8],
    /// Device private key (RSA or EC), PEM or DER, unencrypted.
    pub key: &'a [u8],
    /// Max Fragment Length to ask for and require (512, 1024, 2048, 4096;
    /// 0: none); must match the build's inbound buffer.
    pub max_fragment: u16,
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// TLS failed.
    Tls(TlsError),
    /// The MQTT session ended.
    Mqtt(DisconnectReason),
    /// The session refused the call.
    Session(SessionError),
    /// The server did not answer in time.
    Timeout(&'static str),
    /// The client is not connected.
    NotConnected,
    /// The argument is unusable.
    BadArgument(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Tls(e) => write!(f, "{e}"),
            ClientError::Mqtt(reason) => write!(f, "the MQTT connection ended: {reason}"),
            ClientError::Session(e) => write!(f, "{e}"),
            ClientError::Timeout(what) => write!(f, "the server did not answer in time: {what}"),
            ClientError::NotConnected => f.write_str("the client is not connected"),
            ClientError::BadArgument(what) => f.write_str(what),
        }
    }
}

impl From<TlsError> for ClientError {
    fn from(e: TlsError) -> ClientError {
        ClientError::Tls(e)
    }
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> ClientError {
        ClientError::Session(e)
    }
}

/// A received message handed to the application.
pub type OnMessage<'a> = &'a mut dyn FnMut(&str, &[u8]);

/// One device's connection to the platform.
pub struct Client {
    tls: TlsClient,
    session: Session,
    host: String,
    port: u16,
    identity: Option<Identity>,
    identity_from_store: bool,
    rx: Vec<u8>,
    handshake: Option<HandshakeInfo>,
    granted: Option<Option<QoS>>,
}

/// What [`Client::pump`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Connected,
    Identity,
    SubAck(u16),
    PubAck(u16),
    Nothing,
}

impl Client {
    /// Parses the credentials and reads a persisted identity
    /// (`HAL_Kv_Get`); nothing is sent yet.
    pub fn new(params: &Params<'_>) -> Result<Client, ClientError> {
        if params.host.is_empty() || params.port == 0 {
            return Err(ClientError::BadArgument(
                "the host name is empty or the port is 0",
            ));
        }
        let tls = TlsClient::new(params.ca, params.cert, params.key, params.max_fragment)?;
        let mut stored = [0u8; 160];
        let identity =
            hal::kv_get(KV_KEY, &mut stored).and_then(|n| Identity::decode(&stored[..n]));
        let mut client_id = String::new();
        match &identity {
            Some(id) => {
                client_id.push_str(&id.product_key);
                client_id.push('.');
                client_id.push_str(&id.device_name);
            }
            // Unique per certificate: with a shared id, devices would take
            // over each other's persistent broker session (subscriptions,
            // queued messages).
            None => {
                client_id.push_str("x509-");
                for b in &tls.certificate_fingerprint()[..FINGERPRINT_ID_BYTES] {
                    let _ = write!(client_id, "{b:02x}");
                }
            }
        }
        client_id.push_str("|securemode=2,signmethod=hmacsha1|");
        let mut config = Config::new(&client_id);
        config.keep_alive_s = KEEP_ALIVE_S;
        config.ping_interval_ms = u64::from(KEEP_ALIVE_S) * 1000 / 2;
        config.inflight_window = 4;
        config.max_pending_requests = 8;
        if let Some(id) = &identity {
            let mut username = String::new();
            id.username(&mut username);
            config.username = Some(username);
        }
        let session = Session::new(config)
            .map_err(|_| ClientError::BadArgument("the MQTT session configuration is invalid"))?;
        Ok(Client {
            tls,
            session,
            host: String::from(params.host),
            port: params.port,
            identity_from_store: identity.is_some(),
            identity,
            rx: vec![0; READ_CHUNK],
            handshake: None,
            granted: None,
        })
    }

    /// The identity, once known.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Whether the identity came from the key-value store at start.
    pub fn identity_from_store(&self) -> bool {
        self.identity_from_store
    }

    /// The last handshake.
    pub fn handshake(&self) -> Option<HandshakeInfo> {
        self.handshake
    }

    /// TLS handshake, CONNECT, CONNACK and (for a device that does not know
    /// its identity) the identity response, all within `timeout_ms`.
    pub fn connect(
        &mut self,
        timeout_ms: u32,
        on_message: OnMessage<'_>,
    ) -> Result<HandshakeInfo, ClientError> {
        let start = hal::uptime_ms();
        let info = match self.tls.connect(&self.host, self.port, timeout_ms) {
            // A server that refuses to resume (some answer a resumption
            // attempt with a fatal alert) gets one full handshake.
            Err(TlsError::Handshake(_)) if self.tls.has_session() => {
                hal::log("the server refused to resume the TLS session; trying a full handshake");
                self.tls.forget_session();
                self.tls
                    .connect(&self.host, self.port, remaining(start, timeout_ms))?
            }
            other => other?,
        };
        self.handshake = Some(info);
        self.session.connect(hal::uptime_ms())?;
        let left = remaining(start, timeout_ms);
        self.pump(left, Until::Connected, on_message)?;
        if self.identity.is_none() {
            let left = remaining(start, timeout_ms);
            self.pump(left, Until::Identity, on_message)?;
        }
        Ok(info)
    }

    /// Subscribes and waits for SUBACK; `Ok(false)` when the server refused
    /// the filter.
    pub fn subscribe(
        &mut self,
        filter: &str,
        qos: QoS,
        timeout_ms: u32,
        on_message: OnMessage<'_>,
    ) -> Result<bool, ClientError> {
        let id = self.session.subscribe(filter, qos)?;
        self.granted = None;
        self.pump(timeout_ms, Until::SubAck(id), on_message)?;
        Ok(self.granted.take().flatten().is_some())
    }

    /// Publishes; at QoS 1 waits for PUBACK within `timeout_ms`.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        timeout_ms: u32,
        on_message: OnMessage<'_>,
    ) -> Result<(), ClientError> {
        let id = self.session.publish(topic, payload, qos, false)?;
        if qos == QoS::AtMostOnce {
            return self.flush();
        }
        self.pump(timeout_ms, Until::PubAck(id), on_message)
    }

    /// Runs the connection for `timeout_ms`: keep-alive, received messages.
    pub fn yield_for(
        &mut self,
        timeout_ms: u32,
        on_message: OnMessage<'_>,
    ) -> Result<(), ClientError> {
        self.pump(timeout_ms, Until::Nothing, on_message)
    }

    /// Sends DISCONNECT and closes the connection.
    pub fn disconnect(&mut self) {
        self.session.disconnect();
        let now = hal::uptime_ms();
        while let Some(packet) = self.session.poll_transmit(now) {
            if self.tls.write_all(packet, WRITE_TIMEOUT_MS).is_err() {
                break;
            }
        }
        while self.session.poll_event().is_some() {}
        self.tls.close();
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        let now = hal::uptime_ms();
        while let Some(packet) = self.session.poll_transmit(now) {
            if let Err(e) = self.tls.write_all(packet, WRITE_TIMEOUT_MS) {
                self.session.transport_failed(TransportError::Write);
                self.tls.close();
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Moves bytes both ways and handles events until `until` happened
    /// (`Until::Nothing`: until the time is up).
    fn pump(
        &mut self,
        timeout_ms: u32,
        until: Until,
        on_message: OnMessage<'_>,
    ) -> Result<(), ClientError> {
        let start = hal::uptime_ms();
        loop {
            self.flush()?;
            if let Some(done) = self.handle_events(until, on_message)? {
                if done {
                    self.flush()?;
                    return Ok(());
                }
            }
            let left = remaining(start, timeout_ms);
            if left == 0 {
                let what = match until {
                    Until::Nothing => return Ok(()),
                    Until::Connected => "no CONNACK",
                    Until::Identity => "no identity response on /ext/auth/identity/response",
                    Until::SubAck(_) => "no SUBACK",
                    Until::PubAck(_) => "no PUBACK",
                };
                return Err(ClientError::Timeout(what));
            }
            let now = hal::uptime_ms();
            let wait = match self.session.next_deadline() {
                Some(deadline) => deadline.saturating_sub(now).min(u64::from(left)) as u32,
                None => left,
            };
            match self.tls.read(&mut self.rx, wait.clamp(1, 200)) {
                Ok(0) => {}
                Ok(n) => self.session.receive(&self.rx[..n]),
                Err(TlsError::Closed) => {
                    self.session.transport_failed(TransportError::Closed);
                    self.tls.close();
                }
                Err(e) => {
                    self.session.transport_failed(TransportError::Read);
                    self.tls.close();
                    return Err(e.into());
                }
            }
            self.session.handle_timeout(hal::uptime_ms());
        }
    }

    /// `Some(true)` when `until` happened.
    fn handle_events(
        &mut self,
        until: Until,
        on_message: OnMessage<'_>,
    ) -> Result<Option<bool>, ClientError> {
        let mut done = false;
        let mut learned: Option<Identity> = None;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected { .. } => done |= until == Until::Connected,
                Event::Disconnected { reason } => {
                    self.tls.close();
                    return Err(ClientError::Mqtt(reason));
                }
                Event::Message(m) if m.topic == IDENTITY_TOPIC => {
                    match Identity::from_response(m.payload) {
                        Some(id) => learned = Some(id),
                        None => hal::log("the identity response is not {\"productKey\":..,\"deviceName\":..}; ignored"),
                    }
                    done |= until == Until::Identity;
                }
                Event::Message(m) => on_message(m.topic, m.payload),
                Event::SubscribeAcked { packet_id, granted }
                    if until == Until::SubAck(packet_id) =>
                {
                    self.granted = Some(granted);
                    done = true;
                }
                Event::PublishAcked { packet_id } => done |= until == Until::PubAck(packet_id),
                Event::RequestTimedOut { packet_id } if until == Until::SubAck(packet_id) => {
                    return Err(ClientError::Timeout("no SUBACK"));
                }
                _ => {}
            }
        }
        if let Some(id) = learned {
            self.learn(id);
        }
        Ok(Some(done))
    }

    fn learn(&mut self, id: Identity) {
        if self.identity.as_ref() == Some(&id) {
            return;
        }
        let mut stored = String::new();
        id.encode(&mut stored);
        if !hal::kv_set(KV_KEY, stored.as_bytes()) {
            hal::log("HAL_Kv_Set failed: the identity is not kept for the next boot");
        }
        self.identity = Some(id);
    }

    /// Forgets the persisted identity (`HAL_Kv_Del`).
    pub fn forget_identity() -> bool {
        hal::kv_del(KV_KEY)
    }
}

fn remaining(start: u64, timeout_ms: u32) -> u32 {
    let spent = hal::uptime_ms().saturating_sub(start);
    u64::from(timeout_ms).saturating_sub(spent) as u32
}
