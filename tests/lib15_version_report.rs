//! After CONNACK the client reports the firmware version the firmware set
//! on `/ota/device/inform/${pk}/${dn}` (QoS 1), as the vendor does; on a
//! first X.509 connection it waits for the identity, so the report names the
//! device. iotkit-sim records reported versions (`GET /api/ota/jobs`).
//!
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).

mod lib15_sim;

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Yield};
use iotkit::ffi::os::iotkit_set_firmware_version;
use iotkit::ffi::types::{iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use lib15_sim::{http_get, serve, with_device};

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
fn the_set_version_is_reported_once_the_identity_is_known() {
    let (sim, pk, device) = with_device("ver-dev");
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
    let version = CString::new("fw-lib15-3.1").unwrap();
    assert_eq!(iotkit_set_firmware_version(version.as_ptr()), 0);
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

    let deadline = Instant::now() + Duration::from_secs(10);
    let versions = loop {
        let body = http_get(server.http_port, "/api/ota/jobs");
        let v: serde_json::Value = serde_json::from_str(&body).expect("OTA JSON");
        let versions = v["versions"].as_array().cloned().unwrap_or_default();
        if !versions.is_empty() {
            break versions;
        }
        assert!(
            Instant::now() < deadline,
            "no version reported within 10 s: {body}\n{}",
            events_text()
        );
        IOT_MQTT_Yield(client, 100);
    };
    // One report, naming the device (never /ota/device/inform//).
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["productKey"], pk.as_str());
    assert_eq!(versions[0]["deviceName"], "ver-dev");
    assert_eq!(versions[0]["version"], "fw-lib15-3.1");
    assert!(
        EVENTS.lock().unwrap().iter().any(|(_, m)| m
            == &format!(
                "reported firmware version fw-lib15-3.1 on /ota/device/inform/{pk}/ver-dev"
            )),
        "{}",
        events_text()
    );
    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
}
