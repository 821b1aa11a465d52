//! Messages the broker queues for a `clean_session = 0` device while it is
//! offline reach it after it reconnects by itself: 10 of 10, in order, once
//! each (issue #14, "client id computed once per client"). Before the fix
//! the client id's `timestamp=` part changed on every CONNECT, so the
//! reconnect was a new client to mosquitto (which keys sessions by client
//! id) and the queue (0 of 10) stayed with the old session.
//!
//! Real parts: mosquitto on 127.0.0.1 with mutual TLS (queueing for offline
//! persistent sessions is its default), the device made with
//! `IOT_MQTT_Construct` in X.509 mode and served only by `IOT_MQTT_Yield`
//! (tests/offline_queue), a loopback relay (tests/fault_proxy) that cuts the
//! device's link and turns its reconnects away while the messages are
//! published, and `mosquitto_pub` with its own certificate as the second
//! client.

mod fault_proxy;
mod mqtt_support;
mod offline_queue;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use fault_proxy::{Fault, Proxy, Unit};
use offline_queue::{DeviceConfig, LIMIT};
use support::{peers, pki};

const TOPIC: &str = "/a1PK/dev1/user/queued";

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
    let text = |file: &str| String::from_utf8(pki.read(file)).unwrap();
    let client = offline_queue::construct_and_subscribe(
        &DeviceConfig {
            product_key: "a1PK",
            device_name: "dev1",
            cert_pem: &text("client_rsa.crt"),
            key_pem: &text("client_rsa.key"),
            ca_pem: &text("ca.crt"),
            port: proxy.addr.port(),
        },
        TOPIC,
    );
    offline_queue::queued_messages_arrive_after_the_reconnect(
        &proxy,
        client,
        |id| broker_saw_disconnect(&broker, id),
        |payloads, serve| {
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
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto_pub runs");
            let lines: String = payloads.iter().map(|p| format!("{p}\n")).collect();
            // Dropping stdin ends the input.
            publisher
                .stdin
                .take()
                .unwrap()
                .write_all(lines.as_bytes())
                .unwrap();
            // mosquitto_pub exits once every QoS 1 PUBLISH is acknowledged,
            // i.e. queued for the offline session. The device is served
            // meanwhile (it keeps trying to reconnect and is turned away).
            let deadline = std::time::Instant::now() + LIMIT;
            let status = loop {
                if let Some(status) = publisher.try_wait().unwrap() {
                    break status;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "mosquitto_pub did not finish"
                );
                serve();
            };
            assert!(status.success(), "mosquitto_pub failed");
        },
        || broker.output(),
    );
}
