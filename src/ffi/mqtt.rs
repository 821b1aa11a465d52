//! mqtt_api.h: the IOT_MQTT_* client API and our iotkit_mqtt_* / iotkit_x509_*
//! / iotkit_ntp_sync extensions. Each function decodes its C arguments
//! (`iotx_mqtt_param_t` becomes a [`crate::agent::settings::MqttParams`] right
//! here), calls the device agent (`crate::agent`) and maps the result to the
//! vendor's codes; the session, the identity flow, the handle registry and
//! the NTP exchange live in the agent.

#![allow(non_snake_case, non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use iotkit_core::agent::options::OptionInput;

use super::types::*;
use super::{c_str_bounded, guard};
use crate::agent::client::{self as agent_client, ConstructError, FirstConnectForm};
use crate::agent::registry::{MqttHandle, CLIENTS};
use crate::agent::settings::{
    refuse, EventSink, GlobalCa, MqttParams, Provisioning, Refusal, X509Params, MAX_CA_LEN,
};
use crate::agent::{identity_flow, ntp, settings};
use crate::events::{self, ite};
use crate::mqtt::client::{self as mqtt, ClientError, Event, QoS};
use crate::state::*;
use crate::tls::{ClientCredentials, CredentialError};

/// The server's root CA (PEM) as the vendor's firmware sets it. NULL by
/// default; `mqtt_params.pub_key` and IOTX_X509_CA_FILE take precedence (see
/// the README's endpoint section).
#[no_mangle]
pub static mut iotx_ca_crt: *const c_char = std::ptr::null();

/// The longest `mqtt_params.host` accepted.
const MAX_HOST_ARG: usize = 255;
/// The longest key password accepted.
const MAX_KEY_PASSWORD_ARG: usize = 1024;

// ---- handles ----------------------------------------------------------------------

/// The client a C handle names (NULL: the default client), with its id.
fn resolve(handle: *mut c_void) -> Option<(usize, Arc<MqttHandle>)> {
    CLIENTS.resolve(handle as usize)
}

/// The CA client `handle` (NULL: the default client) verifies its server
/// with, as it was resolved when the client was made; None when no such
/// client lives. The OTA download over that client trusts the same CA.
pub(crate) fn server_ca(handle: *mut c_void) -> Option<Vec<u8>> {
    resolve(handle).map(|(_, entry)| entry.session.server_ca().to_vec())
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
            identity_flow::set_persistence(enable != 0);
            STATE_SUCCESS
        },
    )
}

/// `iotkit_x509_set_first_connect_form`'s values.
const FIRST_CONNECT_EMPTY: c_int = 0;
const FIRST_CONNECT_VENDOR: c_int = 1;

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
            let form = match form {
                FIRST_CONNECT_EMPTY => FirstConnectForm::Empty,
                FIRST_CONNECT_VENDOR => FirstConnectForm::Vendor,
                other => {
                    events::state_event(
                        STATE_USER_INPUT_INVALID,
                        &format!(
                            "iotkit_x509_set_first_connect_form: {other} is not a form; use 0 (empty user name and password) or 1 (the vendor's '&' form)"
                        ),
                    );
                    return STATE_USER_INPUT_INVALID;
                }
            };
            agent_client::set_first_connect_form(form);
            STATE_SUCCESS
        },
    )
}

/// QoS 1 messages a client lets wait for PUBACK at once (its inflight
/// window), for clients constructed after this call: 1..1024, 32 unless set.
/// Messages queued while offline count too. One more QoS 1 publish fails at
/// once with STATE_MQTT_QOS1_REPUB_EXCEED_MAX (call IOT_MQTT_Yield, which
/// takes in the acknowledgements, and publish again). Returns 0, or
/// STATE_USER_INPUT_OUT_RANGE (and a state event) for another value.
#[no_mangle]
pub extern "C" fn iotkit_mqtt_set_inflight_window(window: c_int) -> c_int {
    guard(
        "iotkit_mqtt_set_inflight_window",
        STATE_USER_INPUT_INVALID,
        || match settings::set_inflight_window(i64::from(window)) {
            Ok(()) => STATE_SUCCESS,
            Err(why) => {
                events::state_event(
                    STATE_USER_INPUT_OUT_RANGE,
                    &format!("iotkit_mqtt_set_inflight_window: {why}"),
                );
                STATE_USER_INPUT_OUT_RANGE
            }
        },
    )
}

/// Opt-in, per client (`handle` NULL: the default client): 1 gives up a
/// QoS 1 message the broker dropped the connection on four times (what a
/// broker does to a message it refuses, e.g. one over its size limit), with
/// IOTX_MQTT_EVENT_PUBLISH_TIMEOUT and a STATE_MQTT_QOS1_REPUB_EXCEED_MAX
/// state event, so the messages behind it get through. 0 (the default)
/// keeps every QoS 1 message until PUBACK, resending it after each
/// reconnect: on a flaky link a cut looks the same as a refusal. Returns 0,
/// or a negative code for a bad handle.
#[no_mangle]
pub extern "C" fn iotkit_mqtt_set_give_up_refused(handle: *mut c_void, enable: c_int) -> c_int {
    guard(
        "iotkit_mqtt_set_give_up_refused",
        STATE_USER_INPUT_INVALID,
        || {
            let Some((_, entry)) = resolve(handle) else {
                return invalid_handle("iotkit_mqtt_set_give_up_refused", handle);
            };
            entry.client.give_up_refused_publishes(enable != 0);
            STATE_SUCCESS
        },
    )
}

/// The largest packet a client sends (`handle` NULL: the default client),
/// e.g. the broker's maximum packet size: a publish or subscription that
/// would be larger fails with STATE_MQTT_TX_BUFFER_TOO_SHORT before anything
/// is sent, instead of making the broker drop the connection. Never above
/// write_buf_size; 0 restores that. Returns 0, or a negative code for a bad
/// handle or a size below 16 bytes.
#[no_mangle]
pub extern "C" fn iotkit_mqtt_set_max_packet_size(handle: *mut c_void, bytes: u32) -> c_int {
    guard(
        "iotkit_mqtt_set_max_packet_size",
        STATE_USER_INPUT_INVALID,
        || {
            let Some((_, entry)) = resolve(handle) else {
                return invalid_handle("iotkit_mqtt_set_max_packet_size", handle);
            };
            if bytes != 0 && bytes < 16 {
                events::state_event(
                    STATE_USER_INPUT_OUT_RANGE,
                    &format!(
                        "iotkit_mqtt_set_max_packet_size: {bytes} bytes cannot hold an MQTT packet; use 16 or more, or 0 for write_buf_size"
                    ),
                );
                return STATE_USER_INPUT_OUT_RANGE;
            }
            entry.client.set_max_packet_size(bytes as usize);
            STATE_SUCCESS
        },
    )
}

// ---- decoding the C arguments -----------------------------------------------------

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

/// The firmware's `handle_event` as the agent calls it.
fn event_sink(handle_event: &iotx_mqtt_event_handle_t) -> Option<EventSink> {
    let handler = handle_event.h_fp?;
    let context = handle_event.pcontext as usize;
    Some(Arc::new(move |client: usize, event: &Event<'_>| {
        deliver_to(handler, context, client, event)
    }))
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

/// `iotx_mqtt_param_t` as Rust values; overlong or non-UTF-8 strings are refused.
fn decode_params(p: &iotx_mqtt_param_t) -> Result<MqttParams, Refusal> {
    Ok(MqttParams {
        host: param_text("host", p.host, MAX_HOST_ARG)?,
        port: p.port,
        client_id: param_text("client_id", p.client_id, DEV_SIGN_CLIENT_ID_MAXLEN)?,
        username: param_text("username", p.username, DEV_SIGN_USERNAME_MAXLEN)?,
        password: param_text("password", p.password, DEV_SIGN_PASSWORD_MAXLEN)?,
        customize_info: param_text("customize_info", p.customize_info, IOTX_CUSTOMIZE_INFO_LEN)?,
        pub_key: param_text("pub_key", p.pub_key, MAX_CA_LEN)?,
        options: OptionInput {
            keepalive_interval_ms: p.keepalive_interval_ms,
            request_timeout_ms: p.request_timeout_ms,
            read_buf_size: p.read_buf_size,
            write_buf_size: p.write_buf_size,
            clean_session: p.clean_session != 0,
        },
        event_sink: event_sink(&p.handle_event),
    })
}

/// What the firmware provisioned in C globals and the environment: the
/// client credentials and CA sources of `ffi::tls`, and `iotx_ca_crt`.
struct Firmware;

impl Provisioning for Firmware {
    fn client_credentials(&self) -> Result<Option<Arc<ClientCredentials>>, CredentialError> {
        super::tls::runtime_client_credentials()
    }

    fn environment_ca(&self) -> Option<Result<Vec<u8>, String>> {
        super::tls::ca_from_environment()
    }

    fn global_ca(&self) -> GlobalCa {
        // SAFETY: firmware assigns iotx_ca_crt before connecting; reading the
        // pointer value races with nothing the library does.
        let global = unsafe { std::ptr::addr_of!(iotx_ca_crt).read() };
        // SAFETY: NULL or a NUL-terminated PEM string owned by the firmware.
        match unsafe { c_str_bounded(global, MAX_CA_LEN) } {
            Ok(Some(bytes)) if !bytes.is_empty() => GlobalCa::Pem(bytes.to_vec()),
            Ok(_) => GlobalCa::Unset,
            Err(()) => GlobalCa::TooLong,
        }
    }
}

// ---- IOT_MQTT_Construct ---------------------------------------------------------------

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
        let decode = || {
            // SAFETY: NULL or the caller's parameter block, read during this call only.
            match unsafe { pInitParams.as_ref() } {
                Some(params) => decode_params(params),
                None => Ok(MqttParams::default()),
            }
        };
        match agent_client::construct_default(decode, &Firmware) {
            Ok(handle) => handle as *mut c_void,
            Err(ConstructError::Reentered) => {
                events::state_event(
                    STATE_MQTT_ASYNC_STACK_CONN_IN_PROG,
                    "IOT_MQTT_Construct was called from a handler while this thread is inside \
                     IOT_MQTT_Construct; call it again after that call has returned",
                );
                std::ptr::null_mut()
            }
            Err(ConstructError::Refused(Refusal(code, message))) => {
                // The one report of this failure: one state event, one notice.
                events::state_event(code, &format!("IOT_MQTT_Construct failed: {message}"));
                events::notify(ite::CONNECT_FAIL);
                std::ptr::null_mut()
            }
        }
    })
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
        if !agent_client::destroy(handle as usize) {
            return invalid_handle("IOT_MQTT_Destroy", handle);
        }
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
/// QoS 1 is queued and sent after reconnecting. At most 32 QoS 1 messages
/// (see iotkit_mqtt_set_inflight_window) wait for PUBACK at once, online or
/// offline; beyond, STATE_MQTT_QOS1_REPUB_EXCEED_MAX. A QoS 1 message is
/// resent only after a reconnect, never dropped while it waits (see
/// iotkit_mqtt_set_give_up_refused).
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

/// `iotkit_x509_client_params_t` as Rust values: strings checked, the
/// certificate and key parsed (their copies wiped).
fn decode_x509_params(p: &iotkit_x509_client_params_t) -> Result<X509Params, Refusal> {
    let required = |name: &str, ptr: *const c_char, max: usize| -> Result<String, Refusal> {
        param_text(name, ptr, max)?
            .ok_or_else(|| Refusal(STATE_USER_INPUT_NULL_POINTER, format!("{name} is required")))
    };
    let host = required("host", p.host, MAX_HOST_ARG)?;
    let ca_pem = required("ca_pem", p.ca_pem, MAX_CA_LEN)?;
    let bytes = |name: &str, ptr: *const c_char, len: u32| -> Result<Vec<u8>, Refusal> {
        if ptr.is_null() {
            return Err(Refusal(
                STATE_USER_INPUT_NULL_POINTER,
                format!("{name} is required"),
            ));
        }
        if len == 0 {
            return Ok(required(name, ptr, MAX_CA_LEN)?.into_bytes());
        }
        if len as usize > MAX_CA_LEN {
            return Err(Refusal(
                STATE_USER_INPUT_OUT_RANGE,
                format!("{name} is larger than {MAX_CA_LEN} bytes"),
            ));
        }
        // SAFETY: non-NULL and the caller promises `len` readable bytes.
        Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) }.to_vec())
    };
    let mut cert = bytes("cert", p.cert, p.cert_len)?;
    let mut key = bytes("key", p.key, p.key_len)?;
    let password = param_text("key_password", p.key_password, MAX_KEY_PASSWORD_ARG)?;
    let credentials =
        ClientCredentials::from_pem_or_der(&cert, &key, password.as_deref().map(str::as_bytes));
    zeroize::Zeroize::zeroize(&mut key);
    zeroize::Zeroize::zeroize(&mut cert);
    let credentials = Arc::new(credentials.map_err(|e| Refusal(e.state_code(), e.to_string()))?);
    Ok(X509Params {
        host,
        port: p.port,
        ca_pem,
        credentials,
        product_key: param_text("product_key", p.product_key, IOTX_PRODUCT_KEY_LEN)?
            .unwrap_or_default(),
        device_name: param_text("device_name", p.device_name, IOTX_DEVICE_NAME_LEN)?
            .unwrap_or_default(),
        client_id: param_text("client_id", p.client_id, DEV_SIGN_CLIENT_ID_MAXLEN)?,
        options: OptionInput {
            keepalive_interval_ms: p.keepalive_interval_ms,
            request_timeout_ms: p.request_timeout_ms,
            read_buf_size: p.read_buf_size,
            write_buf_size: p.write_buf_size,
            clean_session: false,
        },
        event_sink: event_sink(&p.handle_event),
        wait_for_identity: p.wait_for_identity != 0,
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
        match decode_x509_params(params).and_then(agent_client::construct_x509) {
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
        match ntp::sync(FUNCTION, &entry, timeout_ms) {
            Ok(utc_ms) => {
                // SAFETY: checked non-NULL above; the caller passes a writable u64.
                unsafe { utc_ms_out.write_unaligned(utc_ms) };
                STATE_SUCCESS
            }
            Err(code) => code,
        }
    })
}
