//! `thing/disable` from the platform (iotkit-sim's DisableThing): the client
//! raises a state event saying so and stops reconnecting; the sim's record
//! of CONNECTs stays put over several backoff periods.
//!
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).

mod lib15_sim;

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Yield};
use iotkit::ffi::types::{iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use iotkit::state::STATE_MQTT_CONNACK_NOT_AUTHORIZED;
use lib15_sim::{http_get, serve, with_device, Serve};

const ITE_STATE_EVERYTHING: i32 = 23;
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// CONNECTs the sim recorded for the device (accepted and refused).
fn connections(serve: &Serve, pk: &str, dn: &str) -> usize {
    let body = http_get(
        serve.http_port,
        &format!("/api/connections?productKey={pk}&deviceName={dn}"),
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("connections JSON");
    v.as_array()
        .or_else(|| v["connections"].as_array())
        .unwrap_or_else(|| panic!("connections: {body}"))
        .len()
}

fn event_seen(code: i32, needle: &str) -> bool {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .any(|(c, m)| *c == code && m.contains(needle))
}

fn events_text() -> String {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .map(|(code, message)| format!("{code}: {message}\n"))
        .collect()
}

#[test]
fn thing_disable_raises_an_event_and_stops_reconnecting() {
    let (sim, pk, device) = with_device("off-dev");
    let serve = serve(&sim);

    events::register(
        ITE_STATE_EVERYTHING,
        Some(Registration {
            address: 0,
            handler: Handler::State(Arc::new(|code, message: &str| {
                EVENTS.lock().unwrap().push((code, message.to_owned()));
            })),
        }),
    );
    std::env::set_var("IOTX_KV_DIR", sim.dir.path());
    std::env::set_var("IOTX_PERSIST_IDENTITY", "0");
    std::env::set_var("IOTX_X509_CERT_FILE", device["certFile"].as_str().unwrap());
    std::env::set_var("IOTX_X509_KEY_FILE", device["keyFile"].as_str().unwrap());
    std::env::set_var("IOTX_MQTT_HOST", "localhost");
    std::env::set_var("IOTX_MQTT_PORT", serve.mqtt_port.to_string());
    let ca = CString::new(std::fs::read(sim.dir.path().join("ca.pem")).unwrap()).unwrap();
    let mut params = iotx_mqtt_param_t {
        port: 0,
        host: ptr::null(),
        client_id: ptr::null(),
        username: ptr::null(),
        password: ptr::null(),
        customize_info: ptr::null(),
        pub_key: ca.as_ptr(),
        clean_session: 0,
        request_timeout_ms: 5000,
        keepalive_interval_ms: 60_000,
        write_buf_size: 0,
        read_buf_size: 0,
        handle_event: iotx_mqtt_event_handle_t {
            h_fp: None,
            pcontext: ptr::null_mut(),
        },
    };
    let mut client: *mut c_void = IOT_MQTT_Construct(&mut params);
    assert!(!client.is_null(), "Construct: {}", events_text());
    let before = connections(&serve, &pk, "off-dev");
    assert!(before >= 1, "the sim recorded no CONNECT");

    let body = http_get(
        serve.http_port,
        &format!("/?Action=DisableThing&ProductKey={pk}&DeviceName=off-dev"),
    );
    assert!(body.contains("\"Success\":true"), "DisableThing: {body}");
    let sentence = "the platform disabled this device (thing/disable)";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !event_seen(STATE_MQTT_CONNACK_NOT_AUTHORIZED, sentence) {
        assert!(
            Instant::now() < deadline,
            "no thing/disable event within 10 s: {}",
            events_text()
        );
        IOT_MQTT_Yield(client, 100);
    }
    // Four seconds cover the first backoff (at most 1 s) and the next two
    // doublings: a client that reconnects shows a refused CONNECT by then.
    let window = Instant::now() + Duration::from_secs(4);
    while Instant::now() < window {
        IOT_MQTT_Yield(client, 200);
    }
    let after = connections(&serve, &pk, "off-dev");
    assert_eq!(after, before, "the client reconnected: {}", events_text());
    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
}
