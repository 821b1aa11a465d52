//! `iotkit_ntp_sync` against iotkit-sim's NTP service: the device learns the
//! time over `/ext/ntp/${pk}/${dn}/{request,response}`, gets an info event,
//! and (its clock agreeing within a minute) certificate dates are trusted.
//! Bad input gives a negative code and an event.
//!
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).

mod lib15_sim;

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{iotkit_ntp_sync, IOT_MQTT_Construct, IOT_MQTT_Destroy};
use iotkit::ffi::types::{iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use iotkit::state::{STATE_MQTT_PUB_INFO, STATE_USER_INPUT_NULL_POINTER};
use lib15_sim::{serve, with_device};

const ITE_STATE_EVERYTHING: i32 = 23;
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

fn events_text() -> String {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .map(|(code, message)| format!("{code}: {message}\n"))
        .collect()
}

#[test]
fn ntp_sync_learns_the_platform_time() {
    let (sim, _pk, device) = with_device("ntp-dev");
    let server = serve(&sim);
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
    std::env::set_var("IOTX_MQTT_PORT", server.mqtt_port.to_string());
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

    // Bad input first: nothing written, negative codes.
    assert_eq!(
        iotkit_ntp_sync(client, 1000, ptr::null_mut()),
        STATE_USER_INPUT_NULL_POINTER
    );
    let mut utc_ms = 0u64;
    assert!(iotkit_ntp_sync(0x0F_0000 as *mut c_void, 1000, &mut utc_ms) < 0);
    assert_eq!(utc_ms, 0);

    iotkit::tls::set_clock_trusted(false);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let code = iotkit_ntp_sync(client, 5000, &mut utc_ms);
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(code, 0, "{}", events_text());
    // The sim shares this machine's clock: the learned time lies within the call.
    assert!(
        before.saturating_sub(1000) <= utc_ms && utc_ms <= after + 1000,
        "{before} <= {utc_ms} <= {after}"
    );
    assert!(iotkit::tls::clock_trusted(), "{}", events_text());
    let seen = EVENTS.lock().unwrap().iter().any(|(c, m)| {
        *c == STATE_MQTT_PUB_INFO
            && m.contains("time from the platform's NTP service")
            && m.contains("the device clock agrees")
    });
    assert!(seen, "{}", events_text());
    // A second call works the same (the response subscription was cleaned up).
    assert_eq!(
        iotkit_ntp_sync(client, 5000, &mut utc_ms),
        0,
        "{}",
        events_text()
    );
    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
}
