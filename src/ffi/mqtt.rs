//! mqtt_api.h: the IOT_MQTT_* client API, and IOT_MQTT_Construct's part of
//! the X.509 flow (endpoint, CA, credentials, CONNECT identity, identity
//! response, persisted identity).

#![allow(non_snake_case, non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::types::*;
use super::{c_str_bounded, guard};
use crate::device;
use crate::events::{self, ite};
use crate::handles::HandleTable;
use crate::identity::acceptance::{self, Decision, Facts, Identity, Refusal as Refused};
use crate::identity::{self, SignMethod};
use crate::kv;
use crate::mqtt::client::{
    self as mqtt, Client, ClientError, Connector, Credentials, Event, Message, QoS,
};
use crate::state::*;
use crate::tls::{self, ClientCredentials, TlsConfig};
use crate::transport::{Transport, TransportError};

/// The server's root CA (PEM) as the vendor's firmware sets it. NULL by
/// default; `mqtt_params.pub_key` and IOTX_X509_CA_FILE take precedence (see
/// the README's endpoint section).
#[no_mangle]
pub static mut iotx_ca_crt: *const c_char = std::ptr::null();

/// Environment overrides that point unchanged firmware at another endpoint.
const ENV_CA_FILE: &str = "IOTX_X509_CA_FILE";
/// "0" switches identity persistence off (like iotkit_x509_set_identity_persistence(0)).
const ENV_PERSIST: &str = "IOTX_PERSIST_IDENTITY";

const KEEPALIVE_MS_RANGE: std::ops::RangeInclusive<u32> = 30_000..=1_200_000;
const REQUEST_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u32> = 1_000..=10_000;
const DEFAULT_KEEPALIVE_MS: u32 = 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 5_000;
const DEFAULT_BUFFER: u32 = 3072;
/// Buffers from 128 bytes to 16 MiB are accepted.
const BUFFER_RANGE: std::ops::RangeInclusive<u32> = 128..=16 * 1024 * 1024;
const MAX_HOST_ARG: usize = 255;
const MAX_CA_ARG: usize = 64 * 1024;
const TLS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// ---- registry of clients ---------------------------------------------------------

struct MqttHandle {
    client: Client,
    session: Arc<Session>,
}

static CLIENTS: HandleTable<MqttHandle> = HandleTable::new();
/// The client IOT_MQTT_Construct made; NULL handles mean this one.
static DEFAULT_CLIENT: Mutex<usize> = Mutex::new(0);
/// The thread inside IOT_MQTT_Construct, if any. Construct calls take turns
/// by waiting on `CONSTRUCT_DONE`, not by holding a lock, so the handlers it
/// calls (the identity wait serves the connection) run under no lock, and
/// one calling Construct again is refused instead of deadlocking.
static CONSTRUCTING: Mutex<Option<ThreadId>> = Mutex::new(None);
static CONSTRUCT_DONE: Condvar = Condvar::new();
static PERSIST_IDENTITY: Mutex<Option<bool>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn resolve(handle: *mut c_void) -> Option<(usize, Arc<MqttHandle>)> {
    let id = if handle.is_null() {
        *lock(&DEFAULT_CLIENT)
    } else {
        handle as usize
    };
    CLIENTS.get(id).map(|h| (id, h))
}

/// The CA client `handle` (NULL: the default client) verifies its server
/// with, as it was resolved when the client was made; None when no such
/// client lives. The OTA download over that client trusts the same CA.
pub(crate) fn server_ca(handle: *mut c_void) -> Option<Vec<u8>> {
    resolve(handle).map(|(_, entry)| entry.session.server_ca.clone())
}

fn invalid_handle(function: &str, handle: *mut c_void) -> c_int {
    events::state_event(
        STATE_USER_INPUT_INVALID,
        &format!(
            "{function}: {:#x} is not a live MQTT client (never constructed, or destroyed)",
            handle as usize
        ),
    );
    STATE_USER_INPUT_INVALID
}

fn persistence_enabled() -> bool {
    if let Some(set) = *lock(&PERSIST_IDENTITY) {
        return set;
    }
    std::env::var(ENV_PERSIST).map_or(true, |v| v != "0")
}

/// Whether IOT_MQTT_Construct keeps the identity learned from the platform
/// (in HAL_Kv storage, bound to the certificate) and reuses it on the next
/// run: 1 on (the default), 0 off. Env IOTX_PERSIST_IDENTITY=0 also turns it
/// off when this was never called. Returns 0.
#[no_mangle]
pub extern "C" fn iotkit_x509_set_identity_persistence(enable: c_int) -> c_int {
    guard(
        "iotkit_x509_set_identity_persistence",
        STATE_USER_INPUT_INVALID,
        || {
            *lock(&PERSIST_IDENTITY) = Some(enable != 0);
            STATE_SUCCESS
        },
    )
}

/// How the first X.509 CONNECT (identity not yet known) presents itself;
/// read by each Construct.
static FIRST_CONNECT_FORM: AtomicI32 = AtomicI32::new(FIRST_CONNECT_EMPTY);
/// User name and password present, both empty (the platform's sample).
const FIRST_CONNECT_EMPTY: i32 = 0;
/// User name `&` and the vendor 3.2.0 signature with an empty secret.
const FIRST_CONNECT_VENDOR: i32 = 1;

/// The form of the first X.509 CONNECT, sent while the device's identity is
/// not yet known: 0 (the default) sends the user name and password fields
/// present and both empty, as the platform's own X.509 sample does; 1 sends
/// what the vendor's Link SDK 3.2.0 sends, user name `&` and a 64-hex-digit
/// HMAC-SHA256 password keyed with an empty secret. Later CONNECTs (identity
/// known) are not affected. Applies to clients constructed afterwards.
/// Returns 0, or STATE_USER_INPUT_INVALID (and a state event) for another value.
#[no_mangle]
pub extern "C" fn iotkit_x509_set_first_connect_form(form: c_int) -> c_int {
    guard(
        "iotkit_x509_set_first_connect_form",
        STATE_USER_INPUT_INVALID,
        || {
            if form != FIRST_CONNECT_EMPTY && form != FIRST_CONNECT_VENDOR {
                events::state_event(
                    STATE_USER_INPUT_INVALID,
                    &format!(
                        "iotkit_x509_set_first_connect_form: {form} is not a form; use 0 (empty user name and password) or 1 (the vendor's '&' form)"
                    ),
                );
                return STATE_USER_INPUT_INVALID;
            }
            FIRST_CONNECT_FORM.store(form, Ordering::Release);
            STATE_SUCCESS
        },
    )
}

// ---- the session: how this client connects and learns its identity ---------------

enum Mode {
    X509 { fingerprint: [u8; 32] },
    DeviceSecret,
}

/// What stays fixed for a client's life plus the identity it may learn.
struct Session {
    /// ProductKey/DeviceName this client connects with: its own copy, so a
    /// client never uses an identity learned for another certificate.
    identity: Mutex<(String, String)>,
    /// The default client (IOT_MQTT_Construct) mirrors its learned identity
    /// into the process-wide configuration (IOT_Ioctl GET, HAL_GetProductKey).
    global: bool,
    /// The identity was given by the firmware (IOT_Ioctl or the params):
    /// an identity response never changes it.
    configured_by_firmware: bool,
    device_secret: String,
    /// An identity response was accepted on the current connection.
    accepted_on_connection: AtomicBool,
    /// The platform pushed `thing/disable`: the client must not reconnect.
    disabled: AtomicBool,
    /// The firmware version went out on the current connection.
    version_reported: AtomicBool,
    /// The last failure to open the connection (code, sentence).
    open_failure: Mutex<Option<(i32, String)>>,
    /// An identity response too large for the read buffer: its size and the buffer's.
    identity_overflow: Mutex<Option<(usize, usize)>>,
    host: String,
    port: u16,
    tls: TlsConfig,
    /// The CA `tls` verifies the server with, as resolved when the client was
    /// made (see [`read_ca`], or `ca_pem` of iotkit_mqtt_construct_x509): an
    /// OTA download over this client trusts the same ([`server_ca`]).
    server_ca: Vec<u8>,
    mode: Mode,
    configured_client_id: Option<String>,
    configured_username: Option<String>,
    configured_password: Option<String>,
    customize_info: String,
    /// [`iotkit_x509_set_first_connect_form`] when the client was made.
    first_connect_form: i32,
    /// The client id's `timestamp=` value, fixed when the client is made:
    /// every reconnect is the same client to the broker, so a
    /// `clean_session = 0` session resumes.
    client_timestamp_ms: u64,
    persist: bool,
    /// Set once the identity is known (given up front, persisted or received).
    identity_known: Mutex<bool>,
    identity_arrived: Condvar,
    handle: Mutex<usize>,
    event_handler: iotx_mqtt_event_handle_func_fpt,
    event_context: usize,
}

impl Session {
    fn handle(&self) -> usize {
        *lock(&self.handle)
    }

    /// ProductKey, DeviceName, DeviceSecret.
    fn current(&self) -> (String, String, String) {
        let identity = lock(&self.identity);
        (
            identity.0.clone(),
            identity.1.clone(),
            self.device_secret.clone(),
        )
    }

    fn fingerprint(&self) -> Option<&[u8; 32]> {
        match &self.mode {
            Mode::X509 { fingerprint } => Some(fingerprint),
            Mode::DeviceSecret => None,
        }
    }

    /// Reports the firmware version the firmware set (as the vendor does
    /// after CONNACK): QoS 1 `{"id":"<n>","params":{"version":"<v>"}}` on
    /// `/ota/device/inform/${pk}/${dn}`, once per connection and only once
    /// ProductKey and DeviceName are known.
    fn report_version(&self, client: &Client) {
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
        let Some(path) = topic
            .strip_prefix("/sys/")
            .and_then(|t| t.strip_suffix("/thing/disable"))
        else {
            return false;
        };
        let identity = lock(&self.identity);
        path.split_once('/')
            .is_some_and(|(pk, dn)| !pk.is_empty() && pk == identity.0 && dn == identity.1)
    }

    /// The platform disabled this device: say so once and stop the client
    /// from reconnecting (a disabled device that keeps reconnecting gets
    /// the account throttled). Before Construct registered the client,
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

    /// The interceptor's work: the platform's identity response, accepted
    /// only as `identity::acceptance::decide` rules.
    fn on_identity_response(&self, message: &Message<'_>) {
        let parsed = identity::parse_identity_response(message.payload);
        let known_flag = *lock(&self.identity_known);
        let known = known_flag
            .then(|| lock(&self.identity).clone())
            .filter(|(pk, dn)| !pk.is_empty() && !dn.is_empty());
        let facts = Facts {
            x509: self.fingerprint().is_some(),
            configured_by_firmware: self.configured_by_firmware,
            retained: message.retain,
            accepted_on_this_connection: self.accepted_on_connection.load(Ordering::Acquire),
            known: known.as_ref().map(|(pk, dn)| Identity {
                product_key: pk,
                device_name: dn,
            }),
        };
        let response = parsed.as_ref().ok().map(|(pk, dn)| Identity {
            product_key: pk,
            device_name: dn,
        });
        let topic = identity::IDENTITY_TOPIC;
        let (product_key, device_name) = match (acceptance::decide(&facts, response), &parsed) {
            (Decision::Accept, Ok(identity)) => identity.clone(),
            (Decision::Matches, _) => {
                self.accepted_on_connection.store(true, Ordering::Release);
                crate::log_info!("identity response on {topic}: confirms the known identity");
                return;
            }
            (Decision::Refuse(Refused::Malformed), Err(why)) | (Decision::Accept, Err(why)) => {
                events::state_event(
                    STATE_USER_INPUT_META_INFO,
                    &format!("identity response on {topic}: {why}; identity unchanged"),
                );
                return;
            }
            (Decision::Refuse(refusal), _) => {
                let named = match &parsed {
                    Ok((pk, dn)) => format!(" (productKey={pk} deviceName={dn})"),
                    Err(_) => String::new(),
                };
                let known = match (refusal, &known) {
                    (Refused::DiffersFromKnown, Some((pk, dn))) => {
                        format!(" (known: productKey={pk} deviceName={dn})")
                    }
                    _ => String::new(),
                };
                events::state_event(
                    STATE_USER_INPUT_META_INFO,
                    &format!(
                        "identity response on {topic}{named} {}{known}",
                        refusal.sentence()
                    ),
                );
                return;
            }
        };
        *lock(&self.identity) = (product_key.clone(), device_name.clone());
        self.accepted_on_connection.store(true, Ordering::Release);
        crate::log_info!("identity response: productKey={product_key} deviceName={device_name}");
        if let Some(fingerprint) = self.fingerprint() {
            if self.global {
                // Validated by parse_identity_response: cannot fail.
                let _ = device::set_learned_identity(&product_key, &device_name, fingerprint);
            }
            if self.persist {
                let saved = kv::default_store().and_then(|store| {
                    identity::save_identity(&store, fingerprint, &product_key, &device_name)
                });
                if let Err(err) = saved {
                    events::state_event(
                        STATE_SYS_DEPEND_KV_SET,
                        &format!("the identity could not be persisted ({err}); it will be learned again next time"),
                    );
                }
            }
        }
        *lock(&self.identity_known) = true;
        self.identity_arrived.notify_all();
        if self.global {
            events::identity_response(&String::from_utf8_lossy(message.payload));
        }
        // A first X.509 connection reports the version now that the topic
        // can name the device (never /ota/device/inform//).
        if let Some(registered) = CLIENTS.get(self.handle()) {
            self.report_version(&registered.client);
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

    /// Hands an event to the firmware's handle_event, in the vendor's shape.
    fn deliver(&self, event: &Event<'_>) {
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
        let Some(handler) = self.event_handler else {
            return;
        };
        deliver_to(handler, self.event_context, self.handle(), event);
    }
}

/// Converts an event to `iotx_mqtt_event_msg_t` and calls `handler`.
fn deliver_to(
    handler: unsafe extern "C" fn(*mut c_void, *mut c_void, iotx_mqtt_event_msg_pt),
    context: usize,
    client: usize,
    event: &Event<'_>,
) {
    use iotx_mqtt_event_type_t::*;
    let with_id = |kind, id: u16| (kind, id as usize as *mut c_void);
    let mut topic_info;
    let (event_type, msg) = match *event {
        Event::Connected => return,
        Event::Disconnected => (IOTX_MQTT_EVENT_DISCONNECT, std::ptr::null_mut()),
        Event::Reconnected => (IOTX_MQTT_EVENT_RECONNECT, std::ptr::null_mut()),
        Event::SubscribeAck { packet_id } => with_id(IOTX_MQTT_EVENT_SUBCRIBE_SUCCESS, packet_id),
        Event::SubscribeNack { packet_id } => with_id(IOTX_MQTT_EVENT_SUBCRIBE_NACK, packet_id),
        Event::SubscribeTimeout { packet_id } => {
            with_id(IOTX_MQTT_EVENT_SUBCRIBE_TIMEOUT, packet_id)
        }
        Event::UnsubscribeAck { packet_id } => {
            with_id(IOTX_MQTT_EVENT_UNSUBCRIBE_SUCCESS, packet_id)
        }
        Event::UnsubscribeTimeout { packet_id } => {
            with_id(IOTX_MQTT_EVENT_UNSUBCRIBE_TIMEOUT, packet_id)
        }
        Event::PublishAck { packet_id } => with_id(IOTX_MQTT_EVENT_PUBLISH_SUCCESS, packet_id),
        Event::PublishTimeout { packet_id } => with_id(IOTX_MQTT_EVENT_PUBLISH_TIMEOUT, packet_id),
        Event::BufferOverflow { .. } => (IOTX_MQTT_EVENT_BUFFER_OVERFLOW, std::ptr::null_mut()),
        Event::Message(message) => {
            // Points into the read buffer: no copy. Like the vendor's, the
            // topic is not NUL-terminated; topic_len says where it ends.
            topic_info = iotx_mqtt_topic_info_t {
                packet_id: message.packet_id,
                qos: message.qos,
                dup: u8::from(message.dup),
                retain: u8::from(message.retain),
                topic_len: message.topic.len() as u16,
                payload_len: message.payload.len() as u32,
                ptopic: message.topic.as_ptr().cast(),
                payload: message.payload.as_ptr().cast(),
            };
            (
                IOTX_MQTT_EVENT_PUBLISH_RECEIVED,
                (&mut topic_info as *mut iotx_mqtt_topic_info_t).cast::<c_void>(),
            )
        }
    };
    let mut msg = iotx_mqtt_event_msg_t { event_type, msg };
    // SAFETY: the firmware's handler with the context it registered; `msg`
    // and what it points to live until the call returns.
    unsafe { handler(context as *mut c_void, client as *mut c_void, &mut msg) };
}

struct DeviceConnector {
    session: Arc<Session>,
}

impl Connector for DeviceConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        let s = &self.session;
        match tls::connect(&s.host, s.port, &s.tls, TLS_CONNECT_TIMEOUT) {
            Ok(connection) => {
                let client_auth = match s.mode {
                    Mode::X509 { .. } => "device certificate presented",
                    Mode::DeviceSecret => "no client certificate",
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
        matches!(self.session.mode, Mode::X509 { .. })
    }

    fn credentials(&self) -> Credentials {
        let s = &self.session;
        let (product_key, device_name, device_secret) = s.current();
        let (client_id, username, password) = match &s.mode {
            Mode::X509 { fingerprint } => {
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
                if first && s.first_connect_form == FIRST_CONNECT_VENDOR {
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
            Mode::DeviceSecret => {
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
        let credentials = Credentials {
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
        };
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

// ---- IOT_MQTT_Construct ---------------------------------------------------------------

/// A Construct failure: the code and the sentence raised as a state event.
struct Refusal(i32, String);

fn refuse<T>(code: i32, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(code, message.into()))
}

/// Reads an optional string parameter; overlong or non-UTF-8 is refused.
fn param_text(name: &str, ptr: *const c_char, max: usize) -> Result<Option<String>, Refusal> {
    // SAFETY: NULL or a NUL-terminated string; at most max + 1 bytes are read.
    match unsafe { c_str_bounded(ptr, max) } {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => match std::str::from_utf8(bytes) {
            Ok("") => Ok(None),
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => refuse(
                STATE_USER_INPUT_INVALID,
                format!("mqtt_params.{name} is not valid UTF-8"),
            ),
        },
        Err(()) => refuse(
            STATE_USER_INPUT_OUT_RANGE,
            format!("mqtt_params.{name} is longer than {max} characters"),
        ),
    }
}

/// The vendor's rule: out-of-range values fall back to the default, with a
/// state event naming the allowed range.
fn in_range_or_default(
    name: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
) -> u32 {
    if value == 0 {
        return default;
    }
    if range.contains(&value) {
        return value;
    }
    events::state_event(
        STATE_USER_INPUT_OUT_RANGE,
        &format!(
            "mqtt_params.{name} = {value} is outside {}..{}; using the default {default}",
            range.start(),
            range.end()
        ),
    );
    default
}

/// The server CA of IOT_MQTT_Construct: IOTX_X509_CA_FILE, else
/// `mqtt_params.pub_key`, else `iotx_ca_crt`.
fn read_ca(pub_key: Option<String>) -> Result<Vec<u8>, Refusal> {
    if let Some(result) = super::tls::ca_from_environment() {
        return result.map_err(|why| Refusal(STATE_USER_INPUT_INVALID, why));
    }
    if let Some(pem) = pub_key {
        return Ok(pem.into_bytes());
    }
    // SAFETY: firmware assigns iotx_ca_crt before connecting; reading the
    // pointer value races with nothing the library does.
    let global = unsafe { std::ptr::addr_of!(iotx_ca_crt).read() };
    // SAFETY: NULL or a NUL-terminated PEM string owned by the firmware.
    match unsafe { c_str_bounded(global, MAX_CA_ARG) } {
        Ok(Some(bytes)) if !bytes.is_empty() => Ok(bytes.to_vec()),
        Ok(_) => refuse(
            STATE_USER_INPUT_NULL_POINTER,
            format!(
                "no server CA certificate: set iotx_ca_crt or mqtt_params.pub_key to the platform's root CA (PEM), \
                 or {ENV_CA_FILE} to a PEM file"
            ),
        ),
        Err(()) => refuse(STATE_USER_INPUT_OUT_RANGE, format!("iotx_ca_crt is longer than {MAX_CA_ARG} bytes")),
    }
}

/// Session settings with the vendor's fallbacks: out-of-range keep-alive and
/// request timeouts use the defaults (with a state event); buffers must be
/// 128 B..16 MiB (0 = 3072).
fn session_options(
    keepalive_interval_ms: u32,
    request_timeout_ms: u32,
    read_buf_size: u32,
    write_buf_size: u32,
    clean_session: bool,
) -> Result<mqtt::Options, Refusal> {
    let keepalive_ms = in_range_or_default(
        "keepalive_interval_ms",
        keepalive_interval_ms,
        KEEPALIVE_MS_RANGE,
        DEFAULT_KEEPALIVE_MS,
    );
    let request_timeout_ms = in_range_or_default(
        "request_timeout_ms",
        request_timeout_ms,
        REQUEST_TIMEOUT_MS_RANGE,
        DEFAULT_REQUEST_TIMEOUT_MS,
    );
    let buffer = |name: &str, value: u32| -> Result<usize, Refusal> {
        match value {
            0 => Ok(DEFAULT_BUFFER as usize),
            v if BUFFER_RANGE.contains(&v) => Ok(v as usize),
            v => refuse(
                STATE_USER_INPUT_OUT_RANGE,
                format!(
                    "{name} = {v} is outside {}..{} bytes",
                    BUFFER_RANGE.start(),
                    BUFFER_RANGE.end()
                ),
            ),
        }
    };
    // As the vendor does: PINGREQ every configured interval, CONNECT
    // advertising twice that, never above 1200 s (the platform's maximum).
    let advertised_s =
        (u64::from(keepalive_ms) * 2 / 1000).min(u64::from(CONFIG_MQTT_KEEPALIVE_INTERVAL_MAX));
    Ok(mqtt::Options {
        keepalive: Duration::from_secs(advertised_s),
        clean_session,
        request_timeout: Duration::from_millis(u64::from(request_timeout_ms)),
        read_buf_size: buffer("read_buf_size", read_buf_size)?,
        write_buf_size: buffer("write_buf_size", write_buf_size)?,
        ..mqtt::Options::default()
    })
}

/// The vendor's state code for a refused endpoint plan.
pub(crate) fn plan_error_code(why: &crate::agent::PlanError) -> i32 {
    use crate::agent::PlanError;
    match why {
        PlanError::NoCredentials => STATE_USER_INPUT_META_INFO,
        PlanError::X509OutsideShanghai(_) | PlanError::CustomRegionNeedsHost => {
            STATE_USER_INPUT_MQTT_DOMAIN
        }
        PlanError::BadEnvPort(_) => STATE_USER_INPUT_OUT_RANGE,
    }
}

struct Settings {
    options: mqtt::Options,
    session: Session,
    wait_for_identity: bool,
}

fn build_settings(params: Option<&iotx_mqtt_param_t>) -> Result<Settings, Refusal> {
    let config = device::snapshot();
    let text = |name, ptr, max| -> Result<Option<String>, Refusal> {
        if params.is_none() {
            return Ok(None);
        }
        param_text(name, ptr, max)
    };
    let p = params;
    let host_param = text("host", p.map_or(std::ptr::null(), |p| p.host), MAX_HOST_ARG)?;
    let client_id = text(
        "client_id",
        p.map_or(std::ptr::null(), |p| p.client_id),
        DEV_SIGN_CLIENT_ID_MAXLEN,
    )?;
    let username = text(
        "username",
        p.map_or(std::ptr::null(), |p| p.username),
        DEV_SIGN_USERNAME_MAXLEN,
    )?;
    let password = text(
        "password",
        p.map_or(std::ptr::null(), |p| p.password),
        DEV_SIGN_PASSWORD_MAXLEN,
    )?;
    let customize = text(
        "customize_info",
        p.map_or(std::ptr::null(), |p| p.customize_info),
        IOTX_CUSTOMIZE_INFO_LEN,
    )?;
    let pub_key = text(
        "pub_key",
        p.map_or(std::ptr::null(), |p| p.pub_key),
        MAX_CA_ARG,
    )?;

    let customize_info = customize.unwrap_or(config.customize_info.clone());
    if let Err(why) = device::Field::CustomizeInfo.validate(customize_info.as_bytes()) {
        return refuse(STATE_USER_INPUT_INVALID, format!("customize_info: {why}"));
    }

    // Mode: X.509 whenever a client certificate is available at run time.
    let credentials: Option<Arc<ClientCredentials>> = match super::tls::runtime_client_credentials()
    {
        Ok(credentials) => credentials,
        Err(e) => return refuse(e.state_code(), e.to_string()),
    };
    let persist = persistence_enabled();
    let mode = match &credentials {
        Some(credentials) => {
            let fingerprint = credentials.fingerprint_sha256();
            if let Some(problem) = credentials.validity_problem(std::time::SystemTime::now()) {
                events::state_event(STATE_USER_INPUT_INVALID, &problem);
            }
            Mode::X509 { fingerprint }
        }
        None => {
            if config.product_key.is_empty()
                || config.device_name.is_empty()
                || config.device_secret.is_empty()
            {
                return refuse(
                    STATE_USER_INPUT_META_INFO,
                    "no device credentials: for X.509 supply the certificate and key at run time \
                     (g_cli_crt/g_cli_key, iotkit_x509_set_credentials, or IOTX_X509_CERT_FILE/IOTX_X509_KEY_FILE); \
                     for device-secret mode set ProductKey, DeviceName and DeviceSecret with IOT_Ioctl",
                );
            }
            Mode::DeviceSecret
        }
    };

    // The identity: the firmware's (IOT_Ioctl), else the one learned in
    // this process for this certificate, else the one persisted for it.
    // Nothing global changes here: a failed Construct changes nothing.
    let configured_by_firmware = config.identity_configured_by_firmware();
    let (identity, identity_known) = match &mode {
        Mode::DeviceSecret => (
            (config.product_key.clone(), config.device_name.clone()),
            true,
        ),
        Mode::X509 { .. } if configured_by_firmware => (
            (config.product_key.clone(), config.device_name.clone()),
            true,
        ),
        Mode::X509 { fingerprint } => {
            let learned_here = config.identity_source
                == device::IdentitySource::Learned(*fingerprint)
                && !config.product_key.is_empty()
                && !config.device_name.is_empty();
            if learned_here {
                (
                    (config.product_key.clone(), config.device_name.clone()),
                    true,
                )
            } else if persist {
                match kv::default_store()
                    .map_err(|e| e.to_string())
                    .and_then(|store| identity::load_identity(&store, fingerprint))
                {
                    Ok(Some((pk, dn))) => {
                        crate::log_info!(
                            "using the persisted identity productKey={pk} deviceName={dn}"
                        );
                        ((pk, dn), true)
                    }
                    Ok(None) => (Default::default(), false),
                    Err(why) => {
                        events::state_event(STATE_SYS_DEPEND_KV_GET, &why);
                        (Default::default(), false)
                    }
                }
            } else {
                (Default::default(), false)
            }
        }
    };
    if let Mode::X509 { fingerprint } = &mode {
        if let Err(why) = identity::x509_base_client_id(
            client_id.as_deref(),
            &identity.0,
            &identity.1,
            fingerprint,
        ) {
            if !client_id.as_deref().is_some_and(|id| id.contains('|')) {
                return refuse(STATE_MQTT_SIGN_CLIENTID_BUF_SHORT, why);
            }
        }
    }

    // Endpoint: one rule with IOT_Sign_MQTT (iotkit_core::agent::endpoint).
    let endpoint = crate::agent::plan(
        &config,
        &crate::agent::Request {
            certificate: matches!(mode, Mode::X509 { .. }),
            product_key: &config.product_key,
            device_name: &config.device_name,
            device_secret: &config.device_secret,
            region: config.region,
            param_host: host_param.as_deref(),
            param_port: p.map_or(0, |p| p.port),
        },
    )
    .map_err(|why| Refusal(plan_error_code(&why), why.to_string()))?;
    let (host, port) = (endpoint.host, endpoint.port);

    let ca = read_ca(pub_key)?;
    let tls =
        TlsConfig::new(&ca, credentials).map_err(|e| Refusal(e.state_code(), e.to_string()))?;

    let options = session_options(
        p.map_or(0, |p| p.keepalive_interval_ms),
        p.map_or(0, |p| p.request_timeout_ms),
        p.map_or(0, |p| p.read_buf_size),
        p.map_or(0, |p| p.write_buf_size),
        p.is_some_and(|p| p.clean_session != 0),
    )?;
    let wait_for_identity = matches!(mode, Mode::X509 { .. }) && !identity_known;
    Ok(Settings {
        options,
        session: Session {
            identity: Mutex::new(identity),
            global: true,
            configured_by_firmware,
            device_secret: config.device_secret.clone(),
            accepted_on_connection: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            version_reported: AtomicBool::new(false),
            open_failure: Mutex::new(None),
            identity_overflow: Mutex::new(None),
            host,
            port,
            tls,
            server_ca: ca,
            mode,
            configured_client_id: client_id,
            configured_username: username,
            configured_password: password,
            customize_info,
            first_connect_form: FIRST_CONNECT_FORM.load(Ordering::Acquire),
            client_timestamp_ms: crate::os::unix_time_ms(),
            persist,
            identity_known: Mutex::new(identity_known),
            identity_arrived: Condvar::new(),
            handle: Mutex::new(0),
            event_handler: p.and_then(|p| p.handle_event.h_fp),
            event_context: p.map_or(0, |p| p.handle_event.pcontext as usize),
        },
        wait_for_identity,
    })
}

/// Connects and returns the client (the default client for NULL-handle
/// calls). `pInitParams` may be NULL or zeroed: all defaults. In X.509 mode
/// with no ProductKey/DeviceName yet, waits (up to the request timeout,
/// serving the connection) for the platform's identity response, so
/// IOTX_IOCTL_GET_PRODUCT_KEY works right after. Like the vendor's, a second
/// call while the default client lives returns that client. Returns NULL
/// with a state event saying why on failure, leaving nothing behind.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Construct(pInitParams: *mut iotx_mqtt_param_t) -> *mut c_void {
    guard("IOT_MQTT_Construct", std::ptr::null_mut(), || {
        let Some(_turn) = ConstructTurn::take() else {
            events::state_event(
                STATE_MQTT_ASYNC_STACK_CONN_IN_PROG,
                "IOT_MQTT_Construct was called from a handler while this thread is inside \
                 IOT_MQTT_Construct; call it again after that call has returned",
            );
            return std::ptr::null_mut();
        };
        let existing = *lock(&DEFAULT_CLIENT);
        if CLIENTS.get(existing).is_some() {
            crate::log_warn!("IOT_MQTT_Construct: the client already exists; returning it");
            return existing as *mut c_void;
        }
        // SAFETY: NULL or the caller's parameter block, read during this call only.
        let params = unsafe { pInitParams.as_ref() };
        match construct(params) {
            Ok(handle) => {
                *lock(&DEFAULT_CLIENT) = handle;
                handle as *mut c_void
            }
            Err(Refusal(code, message)) => {
                // The one report of this failure: one state event, one notice.
                events::state_event(code, &format!("IOT_MQTT_Construct failed: {message}"));
                events::notify(ite::CONNECT_FAIL);
                std::ptr::null_mut()
            }
        }
    })
}

/// This thread's turn inside IOT_MQTT_Construct; other threads wait for it
/// to end (on a condition variable, so no lock is held meanwhile).
struct ConstructTurn;

impl ConstructTurn {
    /// None when this thread is already inside Construct (a handler called it).
    fn take() -> Option<ConstructTurn> {
        let me = thread::current().id();
        let mut owner = lock(&CONSTRUCTING);
        loop {
            match *owner {
                None => {
                    *owner = Some(me);
                    return Some(ConstructTurn);
                }
                Some(other) if other == me => return None,
                Some(_) => {
                    owner = CONSTRUCT_DONE
                        .wait(owner)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }
}

impl Drop for ConstructTurn {
    fn drop(&mut self) {
        *lock(&CONSTRUCTING) = None;
        CONSTRUCT_DONE.notify_all();
    }
}

fn construct(params: Option<&iotx_mqtt_param_t>) -> Result<usize, Refusal> {
    start_client(build_settings(params)?)
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

/// Disconnects and frees the client, and sets `*phandle` to NULL. Safe at any
/// time, also while another thread is in IOT_MQTT_Yield or reconnecting (that
/// call returns an error). Returns 0, or a negative code for a NULL or dead handle.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Destroy(phandle: *mut *mut c_void) -> c_int {
    guard("IOT_MQTT_Destroy", STATE_USER_INPUT_INVALID, || {
        if phandle.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        // SAFETY: non-NULL pointer to the caller's handle variable.
        let handle = unsafe { phandle.read() };
        if handle.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let Some(entry) = CLIENTS.remove(handle as usize) else {
            return invalid_handle("IOT_MQTT_Destroy", handle);
        };
        {
            let mut default = lock(&DEFAULT_CLIENT);
            if *default == handle as usize {
                *default = 0;
            }
        }
        entry.client.disconnect();
        // SAFETY: as above.
        unsafe { phandle.write(std::ptr::null_mut()) };
        STATE_SUCCESS
    })
}

fn client_error(function: &str, error: &ClientError) -> c_int {
    let code = error.state_code();
    events::state_event(code, &format!("{function}: {error}"));
    code
}

/// Serves the connection for `timeout_ms`: reads and dispatches messages,
/// keep-alive, acknowledgements, resends and reconnects, in the calling
/// thread. `timeout_ms` 0 only handles what has already arrived and returns
/// at once, so one thread can serve many clients in turn. Returns 0, or a negative code (bad handle or timeout, the client
/// was destroyed, or called from inside a handler).
#[no_mangle]
pub extern "C" fn IOT_MQTT_Yield(handle: *mut c_void, timeout_ms: c_int) -> c_int {
    guard("IOT_MQTT_Yield", STATE_USER_INPUT_INVALID, || {
        let Some((_, entry)) = resolve(handle) else {
            return invalid_handle("IOT_MQTT_Yield", handle);
        };
        let Ok(timeout_ms) = u64::try_from(timeout_ms) else {
            events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("IOT_MQTT_Yield: timeout_ms {timeout_ms} is negative"),
            );
            return STATE_USER_INPUT_OUT_RANGE;
        };
        match entry.client.yield_for(Duration::from_millis(timeout_ms)) {
            Ok(()) => STATE_SUCCESS,
            Err(e) => client_error("IOT_MQTT_Yield", &e),
        }
    })
}

/// 1 when the client is connected, 0 otherwise (also for a dead handle).
#[no_mangle]
pub extern "C" fn IOT_MQTT_CheckStateNormal(handle: *mut c_void) -> c_int {
    guard("IOT_MQTT_CheckStateNormal", 0, || {
        resolve(handle).map_or(0, |(_, entry)| c_int::from(entry.client.is_connected()))
    })
}

/// Borrows the caller's topic for the duration of the call (no copy: the
/// publish path allocates nothing; the client copies what it keeps).
fn topic_arg<'a>(function: &str, topic: *const c_char) -> Result<&'a str, c_int> {
    // SAFETY: NULL or a NUL-terminated topic that stays valid for this call;
    // at most 65535 + 1 bytes are read.
    match unsafe { c_str_bounded(topic, u16::MAX as usize) } {
        Ok(None) => {
            events::state_event(
                STATE_USER_INPUT_NULL_POINTER,
                &format!("{function}: the topic is NULL"),
            );
            Err(STATE_USER_INPUT_NULL_POINTER)
        }
        Ok(Some(bytes)) => std::str::from_utf8(bytes).map_err(|_| {
            events::state_event(
                STATE_MQTT_UNEXP_TOPIC_FORMAT,
                &format!("{function}: the topic is not valid UTF-8"),
            );
            STATE_MQTT_UNEXP_TOPIC_FORMAT
        }),
        Err(()) => {
            events::state_event(
                STATE_MQTT_UNEXP_TOPIC_FORMAT,
                &format!("{function}: the topic is longer than 65535 bytes"),
            );
            Err(STATE_MQTT_UNEXP_TOPIC_FORMAT)
        }
    }
}

fn qos_arg(function: &str, qos: c_int) -> Result<QoS, c_int> {
    match qos {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        other => {
            events::state_event(
                STATE_MQTT_PUB_QOS_INVALID,
                &format!("{function}: QoS {other} is not supported; use IOTX_MQTT_QOS0 or IOTX_MQTT_QOS1"),
            );
            Err(STATE_MQTT_PUB_QOS_INVALID)
        }
    }
}

fn subscribe(
    function: &str,
    handle: *mut c_void,
    topic_filter: *const c_char,
    qos: iotx_mqtt_qos_t,
    topic_handle_func: iotx_mqtt_event_handle_func_fpt,
    pcontext: *mut c_void,
    sync_timeout: Option<c_int>,
) -> c_int {
    let Some((id, entry)) = resolve(handle) else {
        return invalid_handle(function, handle);
    };
    let filter = match topic_arg(function, topic_filter) {
        Ok(filter) => filter,
        Err(code) => return code,
    };
    let qos = match qos_arg(function, qos.0) {
        Ok(qos) => qos,
        Err(code) => return code,
    };
    let handler = topic_handle_func.map(|func| {
        let context = pcontext as usize;
        let session = Arc::clone(&entry.session);
        let handler: mqtt::Handler = Arc::new(move |event: &Event<'_>| {
            if let Event::Message(_) = event {
                deliver_to(func, context, id, event);
            } else {
                session.deliver(event);
            }
        });
        handler
    });
    let result = match sync_timeout {
        None => entry.client.subscribe(filter, qos, handler),
        Some(timeout_ms) => {
            let Ok(timeout_ms) = u64::try_from(timeout_ms) else {
                events::state_event(
                    STATE_USER_INPUT_OUT_RANGE,
                    &format!("{function}: timeout_ms is negative"),
                );
                return STATE_USER_INPUT_OUT_RANGE;
            };
            // Inside a handler the connection is being served by the caller's
            // own Yield: subscribe without waiting rather than fail.
            match entry.client.subscribe_sync(
                filter,
                qos,
                handler.clone(),
                Duration::from_millis(timeout_ms),
            ) {
                Err(ClientError::Reentrant(_)) => entry.client.subscribe(filter, qos, handler),
                other => other,
            }
        }
    };
    match result {
        Ok(packet_id) => {
            events::state_event(
                STATE_MQTT_SUB_INFO,
                &format!("subscribed to {filter} (packet id {packet_id})"),
            );
            c_int::from(packet_id)
        }
        Err(e) => client_error(function, &e),
    }
}

/// Subscribes to `topic_filter` (`+`/`#` allowed) with QoS 0 or 1; messages
/// go to `topic_handle_func` (or handle_event when NULL). The filter is
/// copied. Returns the packet id (>= 0) or a negative code.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Subscribe(
    handle: *mut c_void,
    topic_filter: *const c_char,
    qos: iotx_mqtt_qos_t,
    topic_handle_func: iotx_mqtt_event_handle_func_fpt,
    pcontext: *mut c_void,
) -> c_int {
    guard("IOT_MQTT_Subscribe", STATE_USER_INPUT_INVALID, || {
        subscribe(
            "IOT_MQTT_Subscribe",
            handle,
            topic_filter,
            qos,
            topic_handle_func,
            pcontext,
            None,
        )
    })
}

/// Like IOT_MQTT_Subscribe, but waits up to `timeout_ms` for the SUBACK.
/// Returns the packet id, STATE_MQTT_SYNC_SUB_TIMEOUT, or another negative code.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Subscribe_Sync(
    handle: *mut c_void,
    topic_filter: *const c_char,
    qos: iotx_mqtt_qos_t,
    topic_handle_func: iotx_mqtt_event_handle_func_fpt,
    pcontext: *mut c_void,
    timeout_ms: c_int,
) -> c_int {
    guard("IOT_MQTT_Subscribe_Sync", STATE_USER_INPUT_INVALID, || {
        subscribe(
            "IOT_MQTT_Subscribe_Sync",
            handle,
            topic_filter,
            qos,
            topic_handle_func,
            pcontext,
            Some(timeout_ms),
        )
    })
}

/// Unsubscribes `topic_filter`. Returns the packet id or a negative code.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Unsubscribe(handle: *mut c_void, topic_filter: *const c_char) -> c_int {
    guard("IOT_MQTT_Unsubscribe", STATE_USER_INPUT_INVALID, || {
        let Some((_, entry)) = resolve(handle) else {
            return invalid_handle("IOT_MQTT_Unsubscribe", handle);
        };
        let filter = match topic_arg("IOT_MQTT_Unsubscribe", topic_filter) {
            Ok(filter) => filter,
            Err(code) => return code,
        };
        match entry.client.unsubscribe(filter) {
            Ok(packet_id) => c_int::from(packet_id),
            Err(e) => client_error("IOT_MQTT_Unsubscribe", &e),
        }
    })
}

fn publish(
    function: &str,
    handle: *mut c_void,
    topic: *const c_char,
    qos: c_int,
    payload: &[u8],
    retain: bool,
) -> c_int {
    let Some((_, entry)) = resolve(handle) else {
        return invalid_handle(function, handle);
    };
    let topic = match topic_arg(function, topic) {
        Ok(topic) => topic,
        Err(code) => return code,
    };
    let qos = match qos_arg(function, qos) {
        Ok(qos) => qos,
        Err(code) => return code,
    };
    match entry.client.publish(topic, payload, qos, retain) {
        Ok(packet_id) => c_int::from(packet_id),
        Err(e) => client_error(function, &e),
    }
}

/// Borrows `len` bytes at `data`; NULL is only allowed with length 0.
fn payload_arg<'a>(function: &str, data: *const c_void, len: i64) -> Result<&'a [u8], c_int> {
    let Ok(len) = usize::try_from(len) else {
        events::state_event(
            STATE_USER_INPUT_OUT_RANGE,
            &format!("{function}: negative payload length {len}"),
        );
        return Err(STATE_USER_INPUT_OUT_RANGE);
    };
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        events::state_event(
            STATE_USER_INPUT_NULL_POINTER,
            &format!("{function}: payload is NULL"),
        );
        return Err(STATE_USER_INPUT_NULL_POINTER);
    }
    // SAFETY: non-NULL and the caller promises `len` readable bytes for this call.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Publishes `topic_msg->payload` (payload_len bytes) to `topic_name` with
/// topic_msg->qos (0 or 1) and retain. Returns the packet id (0 for QoS 0)
/// or a negative code; offline, QoS 0 gives STATE_MQTT_IN_OFFLINE_STATUS and
/// QoS 1 is queued (up to 32) and sent after reconnecting.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Publish(
    handle: *mut c_void,
    topic_name: *const c_char,
    topic_msg: iotx_mqtt_topic_info_pt,
) -> c_int {
    guard("IOT_MQTT_Publish", STATE_USER_INPUT_INVALID, || {
        // SAFETY: NULL or the caller's message description, read during this call.
        let Some(msg) = (unsafe { topic_msg.as_ref() }) else {
            events::state_event(
                STATE_USER_INPUT_NULL_POINTER,
                "IOT_MQTT_Publish: topic_msg is NULL",
            );
            return STATE_USER_INPUT_NULL_POINTER;
        };
        let payload = match payload_arg(
            "IOT_MQTT_Publish",
            msg.payload.cast(),
            i64::from(msg.payload_len),
        ) {
            Ok(payload) => payload,
            Err(code) => return code,
        };
        publish(
            "IOT_MQTT_Publish",
            handle,
            topic_name,
            c_int::from(msg.qos),
            payload,
            msg.retain != 0,
        )
    })
}

/// Publishes `len` bytes of `data` to `topic_name`; `handle` may be NULL for
/// the default client. Returns the packet id (0 for QoS 0) or a negative code.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Publish_Simple(
    handle: *mut c_void,
    topic_name: *const c_char,
    qos: c_int,
    data: *mut c_void,
    len: c_int,
) -> c_int {
    guard("IOT_MQTT_Publish_Simple", STATE_USER_INPUT_INVALID, || {
        let payload = match payload_arg("IOT_MQTT_Publish_Simple", data, i64::from(len)) {
            Ok(payload) => payload,
            Err(code) => return code,
        };
        publish(
            "IOT_MQTT_Publish_Simple",
            handle,
            topic_name,
            qos,
            payload,
            false,
        )
    })
}

// ---- many devices per process (our extension) ----------------------------------

/// One X.509 device of many in a process: its own certificate, key, CA,
/// endpoint and identity, independent of the vendor API's global state.
#[repr(C)]
pub struct iotkit_x509_client_params_t {
    /// Endpoint host (required) and port (0 = 1883).
    pub host: *const c_char,
    pub port: u16,
    /// The server's root CA, PEM (required).
    pub ca_pem: *const c_char,
    /// Device certificate: PEM or DER, `cert_len` bytes (0 = a NUL-terminated PEM).
    pub cert: *const c_char,
    pub cert_len: u32,
    /// Private key: PEM or DER (PKCS#1, PKCS#8, SEC1), `key_len` bytes (0 = NUL-terminated PEM).
    pub key: *const c_char,
    pub key_len: u32,
    /// Password of an encrypted key, or NULL.
    pub key_password: *const c_char,
    /// The identity when already known (both or neither), else NULL: learned
    /// from the identity response.
    pub product_key: *const c_char,
    pub device_name: *const c_char,
    /// The clientId (at most 64 characters) or NULL for `PK.DN` / a certificate-derived id.
    pub client_id: *const c_char,
    /// As in iotx_mqtt_param_t (0 = the defaults).
    pub keepalive_interval_ms: u32,
    pub request_timeout_ms: u32,
    pub read_buf_size: u32,
    pub write_buf_size: u32,
    /// Events and messages without a topic handler; `pclient` is this client.
    pub handle_event: iotx_mqtt_event_handle_t,
    /// Non-zero: return only once the identity is known (up to the request timeout).
    pub wait_for_identity: u8,
}

fn x509_client_settings(p: &iotkit_x509_client_params_t) -> Result<Settings, Refusal> {
    let required = |name: &str, ptr: *const c_char, max: usize| -> Result<String, Refusal> {
        param_text(name, ptr, max)?
            .ok_or_else(|| Refusal(STATE_USER_INPUT_NULL_POINTER, format!("{name} is required")))
    };
    let host = required("host", p.host, MAX_HOST_ARG)?;
    let ca = required("ca_pem", p.ca_pem, MAX_CA_ARG)?;
    let bytes = |name: &str, ptr: *const c_char, len: u32| -> Result<Vec<u8>, Refusal> {
        if ptr.is_null() {
            return refuse(STATE_USER_INPUT_NULL_POINTER, format!("{name} is required"));
        }
        if len == 0 {
            return Ok(required(name, ptr, MAX_CA_ARG)?.into_bytes());
        }
        if len as usize > MAX_CA_ARG {
            return refuse(
                STATE_USER_INPUT_OUT_RANGE,
                format!("{name} is larger than {MAX_CA_ARG} bytes"),
            );
        }
        // SAFETY: non-NULL and the caller promises `len` readable bytes.
        Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) }.to_vec())
    };
    let mut cert = bytes("cert", p.cert, p.cert_len)?;
    let mut key = bytes("key", p.key, p.key_len)?;
    let password = param_text("key_password", p.key_password, 1024)?;
    let credentials =
        ClientCredentials::from_pem_or_der(&cert, &key, password.as_deref().map(str::as_bytes));
    zeroize::Zeroize::zeroize(&mut key);
    zeroize::Zeroize::zeroize(&mut cert);
    let credentials = Arc::new(credentials.map_err(|e| Refusal(e.state_code(), e.to_string()))?);
    let fingerprint = credentials.fingerprint_sha256();
    let product_key =
        param_text("product_key", p.product_key, IOTX_PRODUCT_KEY_LEN)?.unwrap_or_default();
    let device_name =
        param_text("device_name", p.device_name, IOTX_DEVICE_NAME_LEN)?.unwrap_or_default();
    if product_key.is_empty() != device_name.is_empty() {
        return refuse(
            STATE_USER_INPUT_META_INFO,
            "give both product_key and device_name, or neither",
        );
    }
    for (field, value) in [
        (device::Field::ProductKey, &product_key),
        (device::Field::DeviceName, &device_name),
    ] {
        field
            .validate(value.as_bytes())
            .map_err(|why| Refusal(field.error_code(), why))?;
    }
    let client_id = param_text("client_id", p.client_id, DEV_SIGN_CLIENT_ID_MAXLEN)?;
    identity::x509_base_client_id(
        client_id.as_deref(),
        &product_key,
        &device_name,
        &fingerprint,
    )
    .map_err(|why| Refusal(STATE_MQTT_SIGN_CLIENTID_BUF_SHORT, why))?;
    let tls = TlsConfig::new(ca.as_bytes(), Some(credentials))
        .map_err(|e| Refusal(e.state_code(), e.to_string()))?;
    let options = session_options(
        p.keepalive_interval_ms,
        p.request_timeout_ms,
        p.read_buf_size,
        p.write_buf_size,
        false,
    )?;
    let identity_known = !product_key.is_empty();
    Ok(Settings {
        options,
        wait_for_identity: p.wait_for_identity != 0 && !identity_known,
        session: Session {
            identity: Mutex::new((product_key, device_name)),
            global: false,
            configured_by_firmware: identity_known,
            device_secret: String::new(),
            accepted_on_connection: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            version_reported: AtomicBool::new(false),
            open_failure: Mutex::new(None),
            identity_overflow: Mutex::new(None),
            host,
            port: if p.port == 0 {
                identity::X509_PORT
            } else {
                p.port
            },
            tls,
            server_ca: ca.into_bytes(),
            mode: Mode::X509 { fingerprint },
            configured_client_id: client_id,
            configured_username: None,
            configured_password: None,
            customize_info: String::new(),
            first_connect_form: FIRST_CONNECT_FORM.load(Ordering::Acquire),
            client_timestamp_ms: crate::os::unix_time_ms(),
            persist: false,
            identity_known: Mutex::new(identity_known),
            identity_arrived: Condvar::new(),
            handle: Mutex::new(0),
            event_handler: p.handle_event.h_fp,
            event_context: p.handle_event.pcontext as usize,
        },
    })
}

/// Connects one more X.509 device, independent of IOT_MQTT_Construct's
/// default client and of the global identity (IOT_Ioctl), so one process can
/// run many devices. The handle works with every IOT_MQTT_* function
/// (Yield, Subscribe, Publish, Destroy, ...). Returns NULL with a state event
/// on failure.
#[no_mangle]
pub extern "C" fn iotkit_mqtt_construct_x509(
    params: *const iotkit_x509_client_params_t,
) -> *mut c_void {
    guard("iotkit_mqtt_construct_x509", std::ptr::null_mut(), || {
        // SAFETY: NULL or the caller's parameter block, read during this call only.
        let Some(params) = (unsafe { params.as_ref() }) else {
            events::state_event(
                STATE_USER_INPUT_NULL_POINTER,
                "iotkit_mqtt_construct_x509: params is NULL",
            );
            return std::ptr::null_mut();
        };
        match x509_client_settings(params).and_then(start_client) {
            Ok(handle) => handle as *mut c_void,
            Err(Refusal(code, message)) => {
                events::state_event(
                    code,
                    &format!("iotkit_mqtt_construct_x509 failed: {message}"),
                );
                std::ptr::null_mut()
            }
        }
    })
}

/// Copies a client's ProductKey and DeviceName (buffers of
/// IOTX_PRODUCT_KEY_LEN + 1 and IOTX_DEVICE_NAME_LEN + 1 bytes; empty while
/// unknown). For the default client this is the global identity. Returns 0
/// or a negative code.
#[no_mangle]
pub extern "C" fn iotkit_mqtt_get_identity(
    handle: *mut c_void,
    product_key: *mut c_char,
    device_name: *mut c_char,
) -> c_int {
    guard("iotkit_mqtt_get_identity", STATE_USER_INPUT_INVALID, || {
        let Some((_, entry)) = resolve(handle) else {
            return invalid_handle("iotkit_mqtt_get_identity", handle);
        };
        if product_key.is_null() || device_name.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let (pk, dn, _) = entry.session.current();
        // SAFETY: the caller provides buffers of the documented sizes; values
        // are validated to fit them.
        let copied = unsafe {
            super::copy_out_c_str(product_key, IOTX_PRODUCT_KEY_LEN + 1, &pk)
                && super::copy_out_c_str(device_name, IOTX_DEVICE_NAME_LEN + 1, &dn)
        };
        if copied {
            STATE_SUCCESS
        } else {
            STATE_USER_INPUT_OUT_RANGE
        }
    })
}

// ---- iotkit_ntp_sync: the platform's NTP service over MQTT --------------------------

/// An NTP response's payload and the device time (ms) it arrived.
type NtpAnswer = (Vec<u8>, u64);

/// The learned time agrees with the device clock when they differ by at most this.
const NTP_CLOCK_AGREEMENT_MS: u64 = 60_000;

/// A millisecond field of the NTP response: a string of digits (as the
/// platform sends it) or a number.
fn ntp_field(object: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<u64> {
    match object.get(key)? {
        serde_json::Value::String(text) => text.parse().ok(),
        value => value.as_u64(),
    }
}

/// The UTC time in ms from an NTP response and the device's receive time.
fn ntp_time(payload: &[u8], device_recv_ms: u64) -> Result<u64, String> {
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| "the NTP response is not valid JSON".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "the NTP response is not a JSON object".to_owned())?;
    let field = |key: &str| {
        ntp_field(object, key)
            .ok_or_else(|| format!("the NTP response has no millisecond value \"{key}\""))
    };
    let (sent, received, answered) = (
        field("deviceSendTime")?,
        field("serverRecvTime")?,
        field("serverSendTime")?,
    );
    // (serverRecvTime + serverSendTime + deviceRecvTime - deviceSendTime) / 2
    received
        .checked_add(answered)
        .and_then(|sum| sum.checked_add(device_recv_ms))
        .and_then(|sum| sum.checked_sub(sent))
        .map(|sum| sum / 2)
        .ok_or_else(|| "the NTP response's times are out of range".to_owned())
}

/// Asks the platform's NTP service for the time: publishes
/// `{"deviceSendTime":"<ms>"}` to `/ext/ntp/${pk}/${dn}/request` and serves
/// the connection (like IOT_MQTT_Subscribe_Sync) for up to `timeout_ms`
/// until `/ext/ntp/${pk}/${dn}/response` arrives. On success writes the UTC
/// time in milliseconds since 1970 to `*utc_ms_out`, raises a state event
/// with it and returns 0. When the device clock agrees with it within a
/// minute, certificate dates are checked from then on as if the clock were
/// set; otherwise the event says by how many seconds the device clock is off
/// (the library does not set the system clock). `handle` NULL is the
/// default client. Not from inside an MQTT callback (the connection is
/// being served there). Negative on failure, with a state event.
#[no_mangle]
pub extern "C" fn iotkit_ntp_sync(
    handle: *mut c_void,
    timeout_ms: u32,
    utc_ms_out: *mut u64,
) -> c_int {
    guard("iotkit_ntp_sync", STATE_USER_INPUT_INVALID, || {
        const FUNCTION: &str = "iotkit_ntp_sync";
        let Some((_, entry)) = resolve(handle) else {
            return invalid_handle(FUNCTION, handle);
        };
        if utc_ms_out.is_null() {
            events::state_event(
                STATE_USER_INPUT_NULL_POINTER,
                "iotkit_ntp_sync: utc_ms_out is NULL",
            );
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let (pk, dn, _) = entry.session.current();
        if pk.is_empty() || dn.is_empty() {
            events::state_event(
                STATE_USER_INPUT_META_INFO,
                "iotkit_ntp_sync: the device's ProductKey and DeviceName are not known yet (the identity response has not arrived)",
            );
            return STATE_USER_INPUT_META_INFO;
        }
        let response_topic = format!("/ext/ntp/{pk}/{dn}/response");
        let request_topic = format!("/ext/ntp/{pk}/{dn}/request");
        let answer: Arc<Mutex<Option<NtpAnswer>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&answer);
        let handler: mqtt::Handler = Arc::new(move |event: &Event<'_>| {
            if let Event::Message(message) = event {
                *lock(&slot) = Some((message.payload.to_vec(), crate::os::unix_time_ms()));
            }
        });
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let deadline = Instant::now() + timeout;
        let fail = |code: i32, sentence: String| {
            events::state_event(code, &format!("{FUNCTION}: {sentence}"));
            code
        };
        match entry
            .client
            .subscribe_sync(&response_topic, QoS::AtMostOnce, Some(handler), timeout)
        {
            Ok(_) => {}
            Err(ClientError::Reentrant(_)) => {
                return fail(
                    STATE_USER_INPUT_INVALID,
                    "called from inside an MQTT callback; call it from the firmware's own thread"
                        .to_owned(),
                )
            }
            Err(e) => {
                return fail(
                    e.state_code(),
                    format!("subscribing to {response_topic}: {e}"),
                )
            }
        }
        let sent_ms = crate::os::unix_time_ms();
        let request = format!("{{\"deviceSendTime\":\"{sent_ms}\"}}");
        let result =
            match entry
                .client
                .publish(&request_topic, request.as_bytes(), QoS::AtMostOnce, false)
            {
                Err(e) => Err(fail(
                    e.state_code(),
                    format!("publishing to {request_topic}: {e}"),
                )),
                Ok(_) => loop {
                    if let Some((payload, recv_ms)) = lock(&answer).take() {
                        break ntp_time(&payload, recv_ms)
                            .map_err(|sentence| fail(STATE_MQTT_DESERIALIZE_PUB_ERROR, sentence));
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break Err(fail(
                            STATE_SYS_DEPEND_NWK_TIMEOUT,
                            format!(
                                "no answer from the platform's NTP service within {timeout_ms} ms"
                            ),
                        ));
                    }
                    let slice = (deadline - now).min(Duration::from_millis(100));
                    if let Err(e) = entry.client.yield_for(slice) {
                        break Err(fail(e.state_code(), format!("serving the connection: {e}")));
                    }
                },
            };
        let _ = entry.client.unsubscribe(&response_topic);
        let utc_ms = match result {
            Ok(utc_ms) => utc_ms,
            Err(code) => return code,
        };
        // SAFETY: checked non-NULL above; the caller passes a writable u64.
        unsafe { utc_ms_out.write_unaligned(utc_ms) };
        let device_ms = crate::os::unix_time_ms();
        let off_ms = device_ms.abs_diff(utc_ms);
        if off_ms <= NTP_CLOCK_AGREEMENT_MS {
            tls::set_clock_trusted(true);
            events::state_event(
                STATE_MQTT_PUB_INFO,
                &format!("time from the platform's NTP service: {utc_ms} ms since 1970 UTC; the device clock agrees (within {} ms), certificate dates are checked against it", off_ms),
            );
        } else {
            events::state_event(
                STATE_MQTT_PUB_INFO,
                &format!(
                    "time from the platform's NTP service: {utc_ms} ms since 1970 UTC; the device clock is off by {} s ({}); the library cannot set the system clock — set it from this time",
                    off_ms / 1000,
                    if device_ms > utc_ms { "ahead" } else { "behind" }
                ),
            );
        }
        STATE_SUCCESS
    })
}
