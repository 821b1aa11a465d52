//! The device side of the offline-queue tests (tests/delivery_offline_queue.rs
//! against mosquitto, tests/lib15_offline_queue.rs against iotkit-sim): a
//! `clean_session = 0` X.509 device made with `IOT_MQTT_Construct` and served
//! only by `IOT_MQTT_Yield`, connected through the fault proxy, and the
//! scenario: subscribe at QoS 1, cut the link and turn reconnects away,
//! let the broker queue 10 QoS 1 messages, let connections through again,
//! and check that exactly those 10 arrive, in order, once each.
//!
//! Use with `mod offline_queue;` next to `mod fault_proxy;`,
//! `mod mqtt_support;` and `mod support;`. The library's configuration is
//! process-global, so a test binary holds one such test.
#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iotkit::ffi::compat::{iotx_register_for_ITE_STATE_EVERYTHING, IOT_Ioctl};
use iotkit::ffi::mqtt::{
    IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Subscribe_Sync, IOT_MQTT_Yield,
};
use iotkit::ffi::types::{
    iotx_ioctl_option_t, iotx_mqtt_event_handle_t, iotx_mqtt_event_msg_pt, iotx_mqtt_event_type_t,
    iotx_mqtt_param_t, iotx_mqtt_qos_t, iotx_mqtt_topic_info_t,
};

use crate::fault_proxy::Proxy;

pub const COUNT: usize = 10;
/// Upper bound of each wait; a passing run takes a few seconds.
pub const LIMIT: Duration = Duration::from_secs(12);

/// State events (the CONNECT lines carry the client id).
static STATES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// (payload, dup flag) of every message the device received, in order.
static RECEIVED: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());
/// Connection events of the device's handle_event: DISCONNECT, RECONNECT.
static LINK: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_state(_code: c_int, message: *const c_char) -> c_int {
    // SAFETY: the library passes a NUL-terminated message valid for the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    STATES.lock().unwrap().push(text);
    0
}

unsafe extern "C" fn on_event(
    _context: *mut c_void,
    _client: *mut c_void,
    msg: iotx_mqtt_event_msg_pt,
) {
    // SAFETY: the library passes a valid event for the call.
    let kind = unsafe { (*msg).event_type };
    match kind {
        iotx_mqtt_event_type_t::IOTX_MQTT_EVENT_DISCONNECT => {
            LINK.lock().unwrap().push("disconnect")
        }
        iotx_mqtt_event_type_t::IOTX_MQTT_EVENT_RECONNECT => LINK.lock().unwrap().push("reconnect"),
        _ => {}
    }
}

unsafe extern "C" fn on_message(
    _context: *mut c_void,
    _client: *mut c_void,
    msg: iotx_mqtt_event_msg_pt,
) {
    // SAFETY: the library passes a valid event for the call; a received
    // message carries an iotx_mqtt_topic_info_t whose payload is valid for
    // payload_len bytes during the call.
    unsafe {
        if (*msg).event_type != iotx_mqtt_event_type_t::IOTX_MQTT_EVENT_PUBLISH_RECEIVED {
            return;
        }
        let info = &*((*msg).msg as *const iotx_mqtt_topic_info_t);
        let payload =
            std::slice::from_raw_parts(info.payload.cast::<u8>(), info.payload_len as usize);
        RECEIVED
            .lock()
            .unwrap()
            .push((String::from_utf8_lossy(payload).into_owned(), info.dup != 0));
    }
}

fn lasting(text: &str) -> *const c_char {
    crate::support::lasting_c_text(text)
}

fn set_text(option: iotx_ioctl_option_t, value: &str) {
    let value = CString::new(value).unwrap();
    assert_eq!(IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void), 0);
}

/// The client ids of the CONNECTs sent so far, from the state events.
pub fn connect_ids() -> Vec<String> {
    STATES
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.strip_prefix("CONNECT "))
        .filter_map(|e| e.split(" clientId=").nth(1))
        .filter_map(|e| e.split(" username=").next())
        .map(str::to_owned)
        .collect()
}

fn link_events(kind: &str) -> usize {
    LINK.lock().unwrap().iter().filter(|k| **k == kind).count()
}

/// The payloads the device received so far, in order.
pub fn received_payloads() -> Vec<String> {
    RECEIVED
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

/// The payloads the broker queues: `queued-0` .. `queued-9`.
pub fn payloads() -> Vec<String> {
    (0..COUNT).map(|i| format!("queued-{i}")).collect()
}

/// Serves the device (its own reconnect logic included) until `done()`
/// holds or `limit` passes; returns whether it held.
pub fn yield_until(client: *mut c_void, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        IOT_MQTT_Yield(client, 20);
    }
    done()
}

/// Who the device is and where it connects (the fault proxy's port).
pub struct DeviceConfig<'a> {
    pub product_key: &'a str,
    pub device_name: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    pub ca_pem: &'a str,
    pub port: u16,
}

/// `IOT_MQTT_Construct` with `clean_session = 0` in X.509 mode (the
/// certificate in g_cli_crt/g_cli_key, the identity known, as firmware sets
/// it with IOT_Ioctl), then a QoS 1 subscription to `topic`.
pub fn construct_and_subscribe(config: &DeviceConfig<'_>, topic: &str) -> *mut c_void {
    iotkit::device::reset();
    iotx_register_for_ITE_STATE_EVERYTHING(Some(on_state));
    set_text(
        iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY,
        config.product_key,
    );
    set_text(
        iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME,
        config.device_name,
    );
    // SAFETY: the test binary has one test; nothing else reads the globals.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = lasting(config.cert_pem);
        iotkit::ffi::tls::g_cli_key = lasting(config.key_pem);
    }
    // SAFETY: all-zero is the documented "defaults" value of the struct.
    let mut params: iotx_mqtt_param_t = unsafe { std::mem::zeroed() };
    params.host = lasting("127.0.0.1");
    params.port = config.port;
    params.pub_key = lasting(config.ca_pem);
    params.clean_session = 0;
    params.request_timeout_ms = 2000;
    params.handle_event = iotx_mqtt_event_handle_t {
        h_fp: Some(on_event),
        pcontext: std::ptr::null_mut(),
    };
    let client = IOT_MQTT_Construct(&mut params);
    assert!(!client.is_null(), "construct: {:?}", STATES.lock().unwrap());
    let filter = CString::new(topic).unwrap();
    assert!(
        IOT_MQTT_Subscribe_Sync(
            client,
            filter.as_ptr(),
            iotx_mqtt_qos_t(1),
            Some(on_message),
            std::ptr::null_mut(),
            5000,
        ) >= 0,
        "subscribe: {:?}",
        STATES.lock().unwrap()
    );
    client
}

/// The scenario on a constructed, subscribed device. `broker_saw_cut(id)`
/// tells when the broker has noticed that the session with client id `id`
/// lost its link; `publish(payloads, serve)` has the broker queue the
/// payloads at QoS 1 (in order, each acknowledged) and may call `serve()` to
/// keep serving the device meanwhile. Destroys the client at the end.
pub fn queued_messages_arrive_after_the_reconnect(
    proxy: &Proxy,
    mut client: *mut c_void,
    broker_saw_cut: impl Fn(&str) -> bool,
    publish: impl FnOnce(&[String], &mut dyn FnMut()),
    broker_log: impl Fn() -> String,
) {
    let first_id = connect_ids()[0].clone();
    // Offline: the link is cut and reconnects are turned away until the
    // broker has queued every message for the device's session.
    proxy.set_refusing(true);
    proxy.cut_all();
    assert!(
        yield_until(client, LIMIT, || link_events("disconnect") >= 1
            && broker_saw_cut(&first_id)),
        "the cut was not noticed: {:?} / broker log:\n{}",
        LINK.lock().unwrap(),
        broker_log()
    );
    let payloads = payloads();
    publish(&payloads, &mut || {
        IOT_MQTT_Yield(client, 20);
    });
    assert_eq!(
        RECEIVED.lock().unwrap().len(),
        0,
        "a message reached the device while it was offline"
    );

    // Online again: the device reconnects by itself and gets the queue.
    proxy.set_refusing(false);
    let arrived = yield_until(client, LIMIT, || RECEIVED.lock().unwrap().len() >= COUNT);
    // A little longer, so a duplicate would be seen too.
    yield_until(client, Duration::from_millis(300), || false);
    let received = RECEIVED.lock().unwrap().clone();
    let ids = connect_ids();
    assert!(
        arrived,
        "{} of {COUNT} queued messages arrived: {received:?}; CONNECT client ids {ids:?}; \
         link events {:?}\nbroker log:\n{}",
        received.len(),
        LINK.lock().unwrap(),
        broker_log()
    );
    let expected: Vec<(String, bool)> = payloads.into_iter().map(|p| (p, false)).collect();
    assert_eq!(
        received, expected,
        "not exactly once each, in order (payload, dup)"
    );
    assert!(link_events("reconnect") >= 1, "{:?}", LINK.lock().unwrap());
    assert!(ids.len() >= 2, "no second CONNECT: {ids:?}");
    assert!(
        ids.iter().all(|id| *id == first_id),
        "the client id changed: {ids:?}"
    );
    IOT_MQTT_Destroy(&mut client);
}
