//! The device session of one MQTT client: how it connects (endpoint, TLS,
//! CONNECT credentials), what it learns (identity, `thing/disable`), what it
//! reports (firmware version), and how a client is started and registered.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use super::registry::{MqttHandle, CLIENTS, CONSTRUCTING};
use super::settings::{
    default_client_settings, x509_client_settings, EventSink, MqttParams, Provisioning, Refusal,
    Settings, X509Params,
};
use crate::device;
use crate::events::{self, ite};
use crate::identity::{self, SignMethod};
use crate::mqtt::client::{
    self as mqtt, Client, ClientError, Connector, Credentials, Event, Message, QoS,
};
use crate::state::*;
use crate::tls::{self, TlsConfig};
use crate::transport::{Transport, TransportError};

const TLS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the first X.509 CONNECT (identity not yet known) presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstConnectForm {
    /// User name and password present, both empty (the platform's sample).
    Empty,
    /// User name `&` and the vendor 3.2.0 signature with an empty secret.
    Vendor,
}

/// The form for clients made from now on ([`FirstConnectForm`] as 0 or 1).
static FIRST_CONNECT_FORM: AtomicI32 = AtomicI32::new(0);

/// Sets the form of the first X.509 CONNECT for clients made afterwards.
pub fn set_first_connect_form(form: FirstConnectForm) {
    let value = match form {
        FirstConnectForm::Empty => 0,
        FirstConnectForm::Vendor => 1,
    };
    FIRST_CONNECT_FORM.store(value, Ordering::Release);
}

/// The form a client made now uses.
pub fn first_connect_form() -> FirstConnectForm {
    match FIRST_CONNECT_FORM.load(Ordering::Acquire) {
        1 => FirstConnectForm::Vendor,
        _ => FirstConnectForm::Empty,
    }
}

/// How a session authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// With the client certificate of this SHA-256 fingerprint.
    X509 { fingerprint: [u8; 32] },
    /// With the HMAC-signed DeviceSecret.
    DeviceSecret,
}

/// What a session is made from (see `settings`).
pub(super) struct SessionParts {
    pub identity: (String, String),
    pub identity_known: bool,
    pub global: bool,
    pub configured_by_firmware: bool,
    pub device_secret: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsConfig,
    pub server_ca: Vec<u8>,
    pub mode: SessionMode,
    pub configured_client_id: Option<String>,
    pub configured_username: Option<String>,
    pub configured_password: Option<String>,
    pub customize_info: String,
    pub persist: bool,
    pub event_sink: Option<EventSink>,
}

/// What stays fixed for a client's life plus the identity it may learn.
pub struct Session {
    /// ProductKey/DeviceName this client connects with: its own copy, so a
    /// client never uses an identity learned for another certificate.
    pub(super) identity: Mutex<(String, String)>,
    /// The default client (IOT_MQTT_Construct) mirrors its learned identity
    /// into the process-wide configuration (IOT_Ioctl GET, HAL_GetProductKey).
    pub(super) global: bool,
    /// The identity was given by the firmware (IOT_Ioctl or the params):
    /// an identity response never changes it.
    pub(super) configured_by_firmware: bool,
    pub(super) device_secret: String,
    /// An identity response was accepted on the current connection.
    pub(super) accepted_on_connection: AtomicBool,
    /// The platform pushed `thing/disable`: the client must not reconnect.
    pub(super) disabled: AtomicBool,
    /// The firmware version went out on the current connection.
    pub(super) version_reported: AtomicBool,
    /// The last failure to open the connection (code, sentence).
    pub(super) open_failure: Mutex<Option<(i32, String)>>,
    /// An identity response too large for the read buffer: its size and the buffer's.
    pub(super) identity_overflow: Mutex<Option<(usize, usize)>>,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: TlsConfig,
    /// The CA `tls` verifies the server with, as resolved when the client was
    /// made: an OTA download over this client trusts the same ([`Session::server_ca`]).
    pub(super) server_ca: Vec<u8>,
    pub(super) mode: SessionMode,
    pub(super) configured_client_id: Option<String>,
    pub(super) configured_username: Option<String>,
    pub(super) configured_password: Option<String>,
    pub(super) customize_info: String,
    /// The first-connect form when the client was made.
    pub(super) first_connect_form: FirstConnectForm,
    /// The client id's `timestamp=` value, fixed when the client is made:
    /// every reconnect is the same client to the broker, so a
    /// `clean_session = 0` session resumes.
    pub(super) client_timestamp_ms: u64,
    pub(super) persist: bool,
    /// Set once the identity is known (given up front, persisted or received).
    pub(super) identity_known: Mutex<bool>,
    pub(super) identity_arrived: Condvar,
    pub(super) handle: Mutex<usize>,
    /// The firmware's handle_event.
    pub(super) event_sink: Option<EventSink>,
}

impl Session {
    /// The client's handle (0 until registered).
    pub fn handle(&self) -> usize {
        *lock(&self.handle)
    }

    /// ProductKey, DeviceName, DeviceSecret.
    pub fn current(&self) -> (String, String, String) {
        let identity = lock(&self.identity);
        (
            identity.0.clone(),
            identity.1.clone(),
            self.device_secret.clone(),
        )
    }

    /// The CA this client verifies its server with.
    pub fn server_ca(&self) -> &[u8] {
        &self.server_ca
    }

    pub(super) fn fingerprint(&self) -> Option<&[u8; 32]> {
        match &self.mode {
            SessionMode::X509 { fingerprint } => Some(fingerprint),
            SessionMode::DeviceSecret => None,
        }
    }

    /// Reports the firmware version the firmware set (as the vendor does
    /// after CONNACK): QoS 1 `{"id":"<n>","params":{"version":"<v>"}}` on
    /// `/ota/device/inform/${pk}/${dn}`, once per connection and only once
    /// ProductKey and DeviceName are known.
    pub(super) fn report_version(&self, client: &Client) {
        static NEXT_ID: AtomicI32 = AtomicI32::new(1);
        let Some(version) = crate::os::firmware_version_if_set() else {
            return;
        };
        let (pk, dn, _) = self.current();
        if pk.is_empty() || dn.is_empty() || self.version_reported.swap(true, Ordering::AcqRel) {
            return;
        }
        let topic = format!("/ota/device/inform/{pk}/{dn}");
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let payload =
            serde_json::json!({"id": id.to_string(), "params": {"version": version}}).to_string();
        match client.publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, false) {
            Ok(_) => events::state_event(
                STATE_MQTT_PUB_INFO,
                &format!("reported firmware version {version} on {topic}"),
            ),
            Err(e) => {
                self.version_reported.store(false, Ordering::Release);
                events::state_event(
                    e.state_code(),
                    &format!("reporting firmware version {version} on {topic}: {e}"),
                );
            }
        }
    }

    /// Whether `topic` is this device's `/sys/${pk}/${dn}/thing/disable`.
    fn is_disable_push(&self, topic: &str) -> bool {
        let identity = lock(&self.identity);
        is_disable_topic(topic, &identity.0, &identity.1)
    }

    /// The platform disabled this device: say so once and stop the client
    /// from reconnecting (a disabled device that keeps reconnecting gets
    /// the account throttled). Before the client is registered,
    /// `start_client` stops it once it is there.
    fn on_disable_push(&self) {
        if self.disabled.swap(true, Ordering::AcqRel) {
            return;
        }
        events::state_event(
            STATE_MQTT_CONNACK_NOT_AUTHORIZED,
            "the platform disabled this device (thing/disable); it no longer reconnects — enable it in the console and restart",
        );
        if let Some(handle) = CLIENTS.get(self.handle()) {
            handle.client.stop_reconnecting();
        }
    }

    /// A PUBLISH larger than the read buffer: say which and what size it needs.
    fn on_overflow(&self, needed: usize, limit: usize, topic: &str) {
        let what = if topic == identity::IDENTITY_TOPIC {
            *lock(&self.identity_overflow) = Some((needed, limit));
            format!("the identity response arrived on {topic}, but")
        } else if topic.is_empty() {
            "an incoming packet".to_owned()
        } else {
            format!("a message on {topic}")
        };
        events::state_event(
            STATE_MQTT_RX_BUFFER_TOO_SHORT,
            &format!(
                "{what} is {needed} bytes, more than the read buffer of {limit} bytes, and was skipped; \
                 set mqtt_params.read_buf_size to at least {needed}"
            ),
        );
    }

    /// Blocks until the identity is known or `timeout` passes, serving the
    /// connection meanwhile (the identity arrives as a PUBLISH).
    fn wait_for_identity(&self, client: &Client, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if *lock(&self.identity_known) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if client
                .yield_for(left.min(Duration::from_millis(50)))
                .is_err()
            {
                return *lock(&self.identity_known);
            }
        }
    }

    /// Handles an event of the client and hands it to the firmware's
    /// handle_event.
    pub fn deliver(&self, event: &Event<'_>) {
        match event {
            Event::Connected | Event::Reconnected => {
                self.accepted_on_connection.store(false, Ordering::Release);
                self.version_reported.store(false, Ordering::Release);
                // The first connection's report is sent by start_client once
                // the client is registered (and the identity known).
                if let Some(registered) = CLIENTS.get(self.handle()) {
                    self.report_version(&registered.client);
                }
                events::notify(ite::CONNECT_SUCC);
                events::notify(ite::MQTT_CONNECT_SUCC);
            }
            Event::BufferOverflow {
                needed,
                limit,
                topic,
            } => self.on_overflow(*needed, *limit, topic),
            _ => {}
        }
        if let Some(sink) = &self.event_sink {
            sink(self.handle(), event);
        }
    }
}

/// Whether `topic` is `/sys/${pk}/${dn}/thing/disable` for this non-empty
/// ProductKey and this DeviceName.
fn is_disable_topic(topic: &str, product_key: &str, device_name: &str) -> bool {
    let Some(path) = topic
        .strip_prefix("/sys/")
        .and_then(|t| t.strip_suffix("/thing/disable"))
    else {
        return false;
    };
    path.split_once('/')
        .is_some_and(|(pk, dn)| !pk.is_empty() && pk == product_key && dn == device_name)
}

/// The client's transport and CONNECT identity, from its session.
struct DeviceConnector {
    session: Arc<Session>,
}

impl Connector for DeviceConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        let s = &self.session;
        match tls::connect(&s.host, s.port, &s.tls, TLS_CONNECT_TIMEOUT) {
            Ok(connection) => {
                let client_auth = match s.mode {
                    SessionMode::X509 { .. } => "device certificate presented",
                    SessionMode::DeviceSecret => "no client certificate",
                };
                events::state_event(
                    STATE_MQTT_CONN_USER_INFO,
                    &format!(
                        "TLS handshake with {}:{} done: server certificate verified against the CA, {client_auth}",
                        s.host, s.port
                    ),
                );
                Ok(Box::new(connection))
            }
            Err(e) => {
                // Reported once by whoever asked: Construct (first
                // connection) or the client's reconnect (later ones).
                let sentence = format!("connecting to {}:{}: {e}", s.host, s.port);
                *lock(&s.open_failure) = Some((e.state_code(), sentence));
                Err(TransportError::OpenFailed {
                    state_code: e.state_code(),
                    message: e.to_string(),
                })
            }
        }
    }

    /// X.509: the first CONNECT carries the user name and password fields
    /// even when both are empty, the form the platform is known to accept.
    fn send_empty_login(&self) -> bool {
        matches!(self.session.mode, SessionMode::X509 { .. })
    }

    fn credentials(&self) -> Credentials {
        let s = &self.session;
        let credentials = connect_credentials(s);
        events::state_event(
            STATE_MQTT_CONN_USER_INFO,
            &format!(
                "CONNECT {}:{} clientId={} username={}",
                s.host,
                s.port,
                credentials.client_id,
                if credentials.username.is_empty() {
                    "(empty)"
                } else {
                    &credentials.username
                }
            ),
        );
        credentials
    }
}

/// The CONNECT client id, user name and password for the session's current
/// identity; what the firmware configured wins (a client id only when it
/// carries its own `|...|` parameters).
fn connect_credentials(s: &Session) -> Credentials {
    let (product_key, device_name, device_secret) = s.current();
    let (client_id, username, password) = match &s.mode {
        SessionMode::X509 { fingerprint } => {
            let base = identity::x509_base_client_id(
                s.configured_client_id.as_deref(),
                &product_key,
                &device_name,
                fingerprint,
            )
            // Checked at Construct; a learned identity is validated, so
            // PK.DN (at most 53 characters) always fits.
            .unwrap_or_else(|_| format!("{product_key}.{device_name}"));
            let client_id =
                identity::x509_client_id(&base, &s.customize_info, s.client_timestamp_ms);
            let first = product_key.is_empty() || device_name.is_empty();
            if first && s.first_connect_form == FirstConnectForm::Vendor {
                let vendor = identity::sign_device_secret(
                    "",
                    "",
                    "",
                    &s.host,
                    s.port,
                    SignMethod::HmacSha256,
                );
                (client_id, vendor.username, vendor.password)
            } else {
                (
                    client_id,
                    identity::x509_username(&product_key, &device_name),
                    String::new(),
                )
            }
        }
        SessionMode::DeviceSecret => {
            let signed = identity::sign_device_secret(
                &product_key,
                &device_name,
                &device_secret,
                &s.host,
                s.port,
                SignMethod::HmacSha256,
            );
            (signed.client_id, signed.username, signed.password)
        }
    };
    Credentials {
        client_id: s
            .configured_client_id
            .clone()
            .filter(|id| id.contains('|'))
            .unwrap_or(client_id),
        username: s.configured_username.clone().unwrap_or(username),
        password: s
            .configured_password
            .clone()
            .unwrap_or(password)
            .into_bytes(),
    }
}

/// Why IOT_MQTT_Construct made no client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstructError {
    /// This thread is already inside IOT_MQTT_Construct (a handler called it).
    Reentered,
    /// The client could not be made; nothing was left behind.
    Refused(Refusal),
}

/// IOT_MQTT_Construct's work: one call at a time; while the default client
/// lives, that client; else the client `decode` describes (decoded only
/// then), connected, registered and made the default. Returns its handle.
pub fn construct_default(
    decode: impl FnOnce() -> Result<MqttParams, Refusal>,
    provisioning: &dyn Provisioning,
) -> Result<usize, ConstructError> {
    let Some(_turn) = CONSTRUCTING.take() else {
        return Err(ConstructError::Reentered);
    };
    if let Some(existing) = CLIENTS.live_default() {
        crate::log_warn!("IOT_MQTT_Construct: the client already exists; returning it");
        return Ok(existing);
    }
    let handle = decode()
        .and_then(|params| default_client_settings(params, provisioning))
        .and_then(start_client)
        .map_err(ConstructError::Refused)?;
    CLIENTS.set_default(handle);
    Ok(handle)
}

/// iotkit_mqtt_construct_x509's work: one more X.509 device, registered
/// (not the default client). Returns its handle.
pub fn construct_x509(params: X509Params) -> Result<usize, Refusal> {
    x509_client_settings(params).and_then(start_client)
}

/// Disconnects and unregisters the client `handle`; false when no such
/// client lives.
pub fn destroy(handle: usize) -> bool {
    match CLIENTS.remove(handle) {
        Some(entry) => {
            entry.client.disconnect();
            true
        }
        None => false,
    }
}

/// Connects a client for `settings`, registers its handle and, when asked,
/// waits for the identity response.
fn start_client(settings: Settings) -> Result<usize, Refusal> {
    let Settings {
        options,
        session,
        wait_for_identity,
    } = settings;
    let request_timeout = options.request_timeout;
    let session = Arc::new(session);
    let handler_session = Arc::clone(&session);
    let default_handler: mqtt::Handler =
        Arc::new(move |event: &Event<'_>| handler_session.deliver(event));
    let identity_session = Arc::clone(&session);
    let interceptor: mqtt::Interceptor = Arc::new(move |message: &Message<'_>| {
        if message.topic == identity::IDENTITY_TOPIC {
            identity_session.on_identity_response(message);
            true
        } else {
            if identity_session.is_disable_push(message.topic) {
                // Still delivered: firmware that subscribed sees it too.
                identity_session.on_disable_push();
            }
            false
        }
    });
    let connector = Box::new(DeviceConnector {
        session: Arc::clone(&session),
    });
    let client = Client::connect(options, connector, Some(default_handler), Some(interceptor))
        .map_err(|e| match (&e, lock(&session.open_failure).take()) {
            // The TLS layer's own code and sentence say more than "could not open".
            (ClientError::Open(_), Some((code, sentence))) => Refusal(code, sentence),
            _ => Refusal(
                e.state_code(),
                format!("{}:{}: {e}", session.host, session.port),
            ),
        })?;
    if session.global {
        if let (Some(fingerprint), false) = (session.fingerprint(), session.configured_by_firmware)
        {
            // Now that Construct succeeds, the process-wide identity is this
            // certificate's (possibly still empty: learned when it arrives).
            let (pk, dn, _) = session.current();
            let _ = device::set_learned_identity(&pk, &dn, fingerprint);
        }
    }
    let handle = CLIENTS.insert(Arc::new(MqttHandle {
        client,
        session: Arc::clone(&session),
    }));
    *lock(&session.handle) = handle;
    if session.disabled.load(Ordering::Acquire) {
        if let Some(registered) = CLIENTS.get(handle) {
            registered.client.stop_reconnecting();
        }
    }
    if wait_for_identity {
        let entry = CLIENTS
            .get(handle)
            .ok_or_else(|| Refusal(STATE_USER_INPUT_INVALID, "client vanished".into()))?;
        if !session.wait_for_identity(&entry.client, request_timeout) {
            match *lock(&session.identity_overflow) {
                Some((needed, limit)) => events::state_event(
                    STATE_MQTT_RX_BUFFER_TOO_SHORT,
                    &format!(
                        "the identity response arrived on {} but is {needed} bytes, more than the read buffer \
                         ({} bytes): set mqtt_params.read_buf_size to at least {needed}; ProductKey/DeviceName stay empty",
                        identity::IDENTITY_TOPIC,
                        limit
                    ),
                ),
                None => events::state_event(
                    STATE_MQTT_CONN_USER_INFO,
                    &format!(
                        "no identity response within {} ms; ProductKey/DeviceName stay empty until it arrives",
                        request_timeout.as_millis()
                    ),
                ),
            }
        }
    }
    if let Some(registered) = CLIENTS.get(handle) {
        session.report_version(&registered.client);
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::settings::X509Params;
    use crate::agent::test_pki;
    use iotkit_core::agent::options::OptionInput;

    fn x509_params() -> X509Params {
        X509Params {
            host: "broker.example".to_owned(),
            port: 0,
            ca_pem: test_pki::certificate().0.clone(),
            credentials: test_pki::credentials(),
            product_key: String::new(),
            device_name: String::new(),
            client_id: None,
            options: OptionInput::default(),
            event_sink: None,
            wait_for_identity: true,
        }
    }

    fn session(params: X509Params) -> (Session, bool) {
        let settings = x509_client_settings(params).expect("valid settings");
        (settings.session, settings.wait_for_identity)
    }

    fn timestamp_part(session: &Session) -> String {
        format!(
            "|securemode=2,signmethod=hmacsha1,timestamp={}|",
            session.client_timestamp_ms
        )
    }

    #[test]
    fn an_unknown_x509_device_first_connects_with_its_certificate_id_and_empty_login() {
        let (mut session, wait) = session(x509_params());
        assert!(wait, "the identity is to be waited for");
        assert_eq!(
            (session.host.as_str(), session.port),
            ("broker.example", 1883)
        );
        session.first_connect_form = FirstConnectForm::Empty;
        let credentials = connect_credentials(&session);
        let fingerprint = test_pki::credentials().fingerprint_sha256();
        let hex: String = fingerprint[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            credentials.client_id,
            format!("x509-{hex}{}", timestamp_part(&session))
        );
        assert_eq!(credentials.username, "");
        assert!(credentials.password.is_empty());
        // The same client to the broker on every reconnect.
        assert_eq!(
            connect_credentials(&session).client_id,
            credentials.client_id
        );
    }

    #[test]
    fn the_vendor_first_connect_form_signs_with_an_empty_secret_until_the_identity_is_known() {
        let (mut session, _) = session(x509_params());
        session.first_connect_form = FirstConnectForm::Vendor;
        let first = connect_credentials(&session);
        assert_eq!(first.username, "&");
        assert_eq!(first.password.len(), 64);
        assert!(first.password.iter().all(u8::is_ascii_hexdigit));
        // Once learned, the form no longer applies.
        *lock(&session.identity) = ("a1PK".to_owned(), "dev".to_owned());
        let later = connect_credentials(&session);
        assert_eq!(later.username, "dev&a1PK");
        assert!(later.password.is_empty());
        assert_eq!(
            later.client_id,
            format!("a1PK.dev{}", timestamp_part(&session))
        );
    }

    #[test]
    fn a_given_identity_is_known_and_configured_so_nothing_is_waited_for() {
        let (session, wait) = session(X509Params {
            product_key: "a1PK".to_owned(),
            device_name: "dev".to_owned(),
            client_id: Some("my-device".to_owned()),
            port: 8883,
            ..x509_params()
        });
        assert!(!wait);
        assert!(*lock(&session.identity_known));
        assert!(session.configured_by_firmware);
        assert_eq!(session.port, 8883);
        let credentials = connect_credentials(&session);
        assert_eq!(
            credentials.client_id,
            format!("my-device{}", timestamp_part(&session))
        );
        assert_eq!(credentials.username, "dev&a1PK");
    }

    #[test]
    fn x509_settings_refuse_half_an_identity_a_bad_client_id_and_a_bad_ca() {
        let refusal = |params| x509_client_settings(params).err().expect("refused");
        let half = refusal(X509Params {
            product_key: "a1PK".to_owned(),
            ..x509_params()
        });
        assert_eq!(
            half,
            Refusal(
                STATE_USER_INPUT_META_INFO,
                "give both product_key and device_name, or neither".to_owned()
            )
        );
        let piped = refusal(X509Params {
            client_id: Some("id|securemode=2|".to_owned()),
            ..x509_params()
        });
        assert_eq!(piped.0, STATE_MQTT_SIGN_CLIENTID_BUF_SHORT);
        let long = refusal(X509Params {
            client_id: Some("x".repeat(65)),
            ..x509_params()
        });
        assert_eq!(long.0, STATE_MQTT_SIGN_CLIENTID_BUF_SHORT);
        let bad_ca = refusal(X509Params {
            ca_pem: "not a certificate".to_owned(),
            ..x509_params()
        });
        assert_ne!(bad_ca.0, STATE_SUCCESS);
        let buffer = refusal(X509Params {
            options: OptionInput {
                read_buf_size: 64,
                ..OptionInput::default()
            },
            ..x509_params()
        });
        assert_eq!(buffer.0, STATE_USER_INPUT_OUT_RANGE);
    }

    #[test]
    fn what_the_firmware_configured_wins_over_the_derived_login() {
        let (mut session, _) = session(x509_params());
        session.configured_client_id = Some("own|securemode=2,signmethod=hmacsha256|".to_owned());
        session.configured_username = Some("user".to_owned());
        session.configured_password = Some("secret".to_owned());
        let credentials = connect_credentials(&session);
        assert_eq!(
            credentials.client_id,
            "own|securemode=2,signmethod=hmacsha256|"
        );
        assert_eq!(credentials.username, "user");
        assert_eq!(credentials.password, b"secret");
        // A configured id without its own |...| section gets the derived one.
        session.configured_client_id = Some("own".to_owned());
        assert_eq!(
            connect_credentials(&session).client_id,
            format!("own{}", timestamp_part(&session))
        );
    }

    #[test]
    fn device_secret_mode_signs_with_the_secret() {
        let (mut session, _) = session(x509_params());
        session.mode = SessionMode::DeviceSecret;
        *lock(&session.identity) = ("a1PK".to_owned(), "dev".to_owned());
        session.device_secret = "s3cret".to_owned();
        let signed = identity::sign_device_secret(
            "a1PK",
            "dev",
            "s3cret",
            "broker.example",
            1883,
            SignMethod::HmacSha256,
        );
        let credentials = connect_credentials(&session);
        assert_eq!(credentials.client_id, signed.client_id);
        assert_eq!(credentials.username, "dev&a1PK");
        assert_eq!(credentials.password, signed.password.as_bytes());
        let other = identity::sign_device_secret(
            "a1PK",
            "dev",
            "other",
            "broker.example",
            1883,
            SignMethod::HmacSha256,
        );
        assert_ne!(credentials.password, other.password.as_bytes());
    }

    #[test]
    fn events_reach_the_firmware_with_the_clients_handle() {
        let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
        let sink_seen = Arc::clone(&seen);
        let sink: EventSink = Arc::new(move |handle: usize, event: &Event<'_>| {
            lock(&sink_seen).push((handle, format!("{event:?}")));
        });
        let (session, _) = session(X509Params {
            event_sink: Some(sink),
            ..x509_params()
        });
        *lock(&session.handle) = 4242;
        session.deliver(&Event::SubscribeAck { packet_id: 7 });
        session.deliver(&Event::Disconnected);
        let seen = lock(&seen);
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|(handle, _)| *handle == 4242));
        assert!(seen[0].1.contains("SubscribeAck"), "{:?}", seen[0]);
    }

    #[test]
    fn a_reconnect_forgets_what_the_last_connection_accepted() {
        let (session, _) = session(x509_params());
        session
            .accepted_on_connection
            .store(true, Ordering::Release);
        session.version_reported.store(true, Ordering::Release);
        session.deliver(&Event::Reconnected);
        assert!(!session.accepted_on_connection.load(Ordering::Acquire));
        assert!(!session.version_reported.load(Ordering::Acquire));
    }

    #[test]
    fn an_identity_response_is_taken_once_and_wakes_the_waiter() {
        let (session, _) = session(x509_params());
        let message = |payload: &'static [u8]| Message {
            topic: identity::IDENTITY_TOPIC,
            payload,
            qos: 0,
            packet_id: 0,
            dup: false,
            retain: false,
        };
        session.on_identity_response(&message(br#"{"productKey":"a1PK","deviceName":"dev"}"#));
        assert!(*lock(&session.identity_known));
        assert_eq!(session.current().0, "a1PK");
        // A second one on the same connection changes nothing.
        session.on_identity_response(&message(br#"{"productKey":"a1PK","deviceName":"other"}"#));
        assert_eq!(session.current().1, "dev");
    }

    #[test]
    fn only_this_devices_disable_topic_counts() {
        assert!(is_disable_topic(
            "/sys/a1PK/dev/thing/disable",
            "a1PK",
            "dev"
        ));
        assert!(!is_disable_topic(
            "/sys/a1PK/other/thing/disable",
            "a1PK",
            "dev"
        ));
        assert!(!is_disable_topic(
            "/sys/b1PK/dev/thing/disable",
            "a1PK",
            "dev"
        ));
        assert!(!is_disable_topic(
            "/sys/a1PK/dev/thing/enable",
            "a1PK",
            "dev"
        ));
        assert!(!is_disable_topic(
            "/ext/a1PK/dev/thing/disable",
            "a1PK",
            "dev"
        ));
        // An unknown identity matches nothing, not even an empty path.
        assert!(!is_disable_topic("/sys///thing/disable", "", ""));
        assert!(!is_disable_topic("/sys//dev/thing/disable", "", "dev"));
    }

    #[test]
    fn the_first_connect_form_is_kept_for_later_clients() {
        // The only test touching the process-wide form; it restores it.
        assert_eq!(first_connect_form(), FirstConnectForm::Empty);
        set_first_connect_form(FirstConnectForm::Vendor);
        assert_eq!(first_connect_form(), FirstConnectForm::Vendor);
        set_first_connect_form(FirstConnectForm::Empty);
        assert_eq!(first_connect_form(), FirstConnectForm::Empty);
    }
}
