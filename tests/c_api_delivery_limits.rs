//! The C functions that tune delivery (issue #14): the inflight window
//! (`iotkit_mqtt_set_inflight_window`), the largest packet sent
//! (`iotkit_mqtt_set_max_packet_size`) and giving up refused QoS 1 messages
//! (`iotkit_mqtt_set_give_up_refused`), through `IOT_MQTT_Construct` and
//! `IOT_MQTT_Publish_Simple` against mosquitto with mutual TLS on 127.0.0.1.
//! The library's configuration is process-global: one test in this binary.

mod fault_proxy;
mod mqtt_support;
mod offline_queue;
mod support;

use std::ffi::{c_int, c_void, CString};

use iotkit::ffi::mqtt::{
    iotkit_mqtt_set_give_up_refused, iotkit_mqtt_set_inflight_window,
    iotkit_mqtt_set_max_packet_size, IOT_MQTT_Destroy, IOT_MQTT_Publish_Simple,
};
use iotkit::state::{
    STATE_MQTT_QOS1_REPUB_EXCEED_MAX, STATE_MQTT_TX_BUFFER_TOO_SHORT, STATE_SUCCESS,
    STATE_USER_INPUT_INVALID, STATE_USER_INPUT_OUT_RANGE,
};
use offline_queue::{DeviceConfig, LIMIT};
use support::{peers, pki};

const TOPIC: &str = "/a1PK/dev1/user/limits";

fn publish(client: *mut c_void, qos: c_int, payload: &[u8]) -> c_int {
    let topic = CString::new(TOPIC).unwrap();
    IOT_MQTT_Publish_Simple(
        client,
        topic.as_ptr(),
        qos,
        payload.as_ptr() as *mut c_void,
        payload.len() as c_int,
    )
}

#[test]
fn the_window_the_packet_limit_and_giving_up_are_set_from_c() {
    // Values outside 1..1024 are refused and change nothing.
    for bad in [0, -1, 1025, c_int::MAX] {
        assert_eq!(
            iotkit_mqtt_set_inflight_window(bad),
            STATE_USER_INPUT_OUT_RANGE
        );
    }
    assert_eq!(iotkit_mqtt_set_inflight_window(2), STATE_SUCCESS);

    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let text = |file: &str| String::from_utf8(pki.read(file)).unwrap();
    let mut client = offline_queue::construct_and_subscribe(
        &DeviceConfig {
            product_key: "a1PK",
            device_name: "dev1",
            cert_pem: &text("client_rsa.crt"),
            key_pem: &text("client_rsa.key"),
            ca_pem: &text("ca.crt"),
            port: broker.port,
        },
        TOPIC,
    );

    // Two QoS 1 messages wait for PUBACK (nobody yields, so none is read):
    // the third is refused at once with the vendor's "republish list full".
    assert!(publish(client, 1, b"one") > 0);
    assert!(publish(client, 1, b"two") > 0);
    assert_eq!(
        publish(client, 1, b"three"),
        STATE_MQTT_QOS1_REPUB_EXCEED_MAX
    );
    // QoS 0 is not held up by it.
    assert_eq!(publish(client, 0, b"zero"), 0);
    // Yielding takes in the acknowledgements (and our own messages back).
    assert!(offline_queue::yield_until(client, LIMIT, || {
        offline_queue_received(&["one", "two", "zero"])
    }));
    assert!(publish(client, 1, b"three") > 0);

    // The largest packet sent: below 16 bytes is refused; above the limit
    // a publish fails before anything is sent, and the client goes on.
    assert_eq!(
        iotkit_mqtt_set_max_packet_size(client, 8),
        STATE_USER_INPUT_OUT_RANGE
    );
    assert_eq!(iotkit_mqtt_set_max_packet_size(client, 100), STATE_SUCCESS);
    let big = [b'x'; 200];
    assert_eq!(publish(client, 1, &big), STATE_MQTT_TX_BUFFER_TOO_SHORT);
    assert_eq!(publish(client, 0, &big), STATE_MQTT_TX_BUFFER_TOO_SHORT);
    assert!(publish(client, 1, b"small") > 0);
    assert_eq!(iotkit_mqtt_set_max_packet_size(client, 0), STATE_SUCCESS);
    assert!(offline_queue::yield_until(client, LIMIT, || {
        offline_queue_received(&["three", "small"])
    }));
    assert!(publish(client, 1, &big) > 0);

    // Giving up refused messages: per live handle only.
    assert_eq!(iotkit_mqtt_set_give_up_refused(client, 1), STATE_SUCCESS);
    assert_eq!(iotkit_mqtt_set_give_up_refused(client, 0), STATE_SUCCESS);
    let stale = 0xdead_usize as *mut c_void;
    assert_eq!(
        iotkit_mqtt_set_give_up_refused(stale, 1),
        STATE_USER_INPUT_INVALID
    );
    assert_eq!(
        iotkit_mqtt_set_max_packet_size(stale, 100),
        STATE_USER_INPUT_INVALID
    );

    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
    assert_eq!(iotkit_mqtt_set_inflight_window(32), STATE_SUCCESS);
}

/// Whether every one of `payloads` came back to the device.
fn offline_queue_received(payloads: &[&str]) -> bool {
    let got = offline_queue::received_payloads();
    payloads.iter().all(|p| got.iter().any(|g| g == p))
}
