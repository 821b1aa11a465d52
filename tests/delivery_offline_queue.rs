//! Messages the broker queues for a `clean_session = 0` device while it is
//! offline reach it after it reconnects by itself: 10 of 10, in order, once
//! each (issue #14, "client id computed once per client"). Before the fix
//! the client id's `timestamp=` part changed on every CONNECT, so the
//! reconnect was a new client to the broker and the queue (0 of 10) stayed
//! with the old session.
//!
//! Real parts: mosquitto on 127.0.0.1 with mutual TLS (queueing for offline
//! persistent sessions is its default), the device made with
//! `IOT_MQTT_Construct` in X.509 mode and served only by `IOT_MQTT_Yield`,
//! a loopback relay (tests/fault_proxy) that cuts the device's link and
//! turns its reconnects away while the messages are published, and
//! `mosquitto_pub` with its own certificate as the second client.

mod fault_proxy;
mod mqtt_support;
mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, Proxy, Unit};
use iotkit::ffi::compat::{iotx_register_for_ITE_STATE_EVERYTHING, IOT_Ioctl};
use iotkit::ffi::mqtt::{
    IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Subscribe_Sync, IOT_MQTT_Yield,
};
use iotkit::ffi::types::{
    iotx_ioctl_option_t, iotx_mqtt_event_handle_t, iotx_mqtt_event_msg_pt, iotx_mqtt_event_type_t,
    iotx_mqtt_param_t, iotx_mqtt_qos_t, iotx_mqtt_topic_info_t,
};
use support::{peers, pki};

const TOPIC: &str = "/a1PK/dev1/user/queued";
const COUNT: usize = 10;
/// Upper bound of each wait below; a passing run takes a few seconds.
const LIMIT: Duration = Duration::from_secs(12);

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
    support::lasting_c_text(text)
}

fn set_text(option: iotx_ioctl_option_t, value: &str) {
    let value = CString::new(value).unwrap();
    assert_eq!(IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void), 0);
}

/// The client ids of the CONNECTs sent so far, from the state events.
fn connect_ids() -> Vec<String> {
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

/// Serves the device (its own reconnect logic included) until `done()`
/// holds or `limit` passes; returns whether it held.
fn yield_until(client: *mut c_void, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        IOT_MQTT_Yield(client, 20);
    }
    done()
}

/// Whether mosquitto's log says the session of `client_id` lost its link.
fn broker_saw_disconnect(broker: &peers::Peer, client_id: &str) -> bool {
    broker.output().lines().any(|line| {
        line.contains(client_id)
            && (line.contains("closed its connection")
                || line.contains("disconnecting")
                || line.contains("disconnected"))
    })
}

#[test]
fn messages_queued_while_offline_arrive_after_the_reconnect() {
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let proxy = Proxy::start_framed(
        SocketAddr::from(([127, 0, 0, 1], broker.port)),
        Fault::None,
        Unit::Tls,
    );
    iotkit::device::reset();
    iotx_register_for_ITE_STATE_EVERYTHING(Some(on_state));
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY, "a1PK");
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME, "dev1");
    // SAFETY: this test binary has one test; nothing else reads the globals.
    unsafe {
        iotkit::ffi::tls::g_cli_crt =
            lasting(&String::from_utf8(pki.read("client_rsa.crt")).unwrap());
        iotkit::ffi::tls::g_cli_key =
            lasting(&String::from_utf8(pki.read("client_rsa.key")).unwrap());
    }
    // SAFETY: all-zero is the documented "defaults" value of the struct.
    let mut params: iotx_mqtt_param_t = unsafe { std::mem::zeroed() };
    params.host = lasting("127.0.0.1");
    params.port = proxy.addr.port();
    params.pub_key = lasting(&String::from_utf8(pki.read("ca.crt")).unwrap());
    params.clean_session = 0;
    params.request_timeout_ms = 2000;
    params.handle_event = iotx_mqtt_event_handle_t {
        h_fp: Some(on_event),
        pcontext: std::ptr::null_mut(),
    };
    let mut client = IOT_MQTT_Construct(&mut params);
    assert!(!client.is_null(), "construct: {:?}", STATES.lock().unwrap());
    let topic = CString::new(TOPIC).unwrap();
    assert!(
        IOT_MQTT_Subscribe_Sync(
            client,
            topic.as_ptr(),
            iotx_mqtt_qos_t(1),
            Some(on_message),
            std::ptr::null_mut(),
            5000,
        ) >= 0,
        "subscribe: {:?}",
        STATES.lock().unwrap()
    );
    let first_id = connect_ids()[0].clone();

    // Offline: the link is cut and reconnects are turned away until the
    // broker has queued every message for the device's session.
    proxy.set_refusing(true);
    proxy.cut_all();
    assert!(
        yield_until(client, LIMIT, || link_events("disconnect") >= 1
            && broker_saw_disconnect(&broker, &first_id)),
        "the cut was not noticed: {:?} / broker log:\n{}",
        LINK.lock().unwrap(),
        broker.output()
    );
    let lines: String = (0..COUNT).map(|i| format!("queued-{i}\n")).collect();
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args([
            "-i",
            "offline-queue-publisher",
            "-t",
            TOPIC,
            "-q",
            "1",
            "-l",
        ])
        .arg("--cafile")
        .arg(pki.path("ca.crt"))
        .arg("--cert")
        .arg(pki.path("client_ec.crt"))
        .arg("--key")
        .arg(pki.path("client_ec.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub runs");
    {
        use std::io::Write;
        let mut stdin = publisher.stdin.take().unwrap();
        stdin.write_all(lines.as_bytes()).unwrap();
    }
    // mosquitto_pub exits once every QoS 1 PUBLISH is acknowledged, i.e.
    // queued for the offline session. Serve the device meanwhile (it keeps
    // trying to reconnect and is turned away).
    let mut published = None;
    assert!(
        yield_until(client, LIMIT, || {
            published = publisher.try_wait().unwrap();
            published.is_some()
        }),
        "mosquitto_pub did not finish"
    );
    assert!(published.unwrap().success(), "mosquitto_pub failed");
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
         link events {:?}",
        received.len(),
        LINK.lock().unwrap()
    );
    let expected: Vec<(String, bool)> =
        (0..COUNT).map(|i| (format!("queued-{i}"), false)).collect();
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
