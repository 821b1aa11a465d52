//! The offline queue of tests/delivery_offline_queue.rs against iotkit-sim,
//! the platform model, over its mutual TLS: a `clean_session = 0` device
//! with its own sim-issued certificate gets the 10 QoS 1 messages published
//! for it (`POST /api/pub`) while its link was cut, in order, once each,
//! after reconnecting by itself.
//!
//! The sim keys sessions by device (ProductKey/DeviceName; rule
//! `session_per_device`), as the platform does, so unlike mosquitto it
//! would also have resumed the session for the old per-CONNECT client ids:
//! this case checks the delivery against the platform's rules, the mosquitto
//! case the client id.
//!
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).

mod fault_proxy;
mod lib15_sim;
mod mqtt_support;
mod offline_queue;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use fault_proxy::{Fault, Proxy, Unit};
use lib15_sim::{serve, with_device};
use offline_queue::DeviceConfig;

/// `POST path` with `body` to the sim's HTTP API; the status and body.
fn http_post(port: u16, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn messages_queued_while_offline_arrive_after_the_reconnect_sim() {
    let (sim, pk, device) = with_device("queue-dev");
    let server = serve(&sim);
    std::env::set_var("IOTX_KV_DIR", sim.dir.path());
    std::env::set_var("IOTX_PERSIST_IDENTITY", "0");
    let proxy = Proxy::start_framed(
        SocketAddr::from(([127, 0, 0, 1], server.mqtt_port)),
        Fault::None,
        Unit::Tls,
    );
    let read = |path: &str| std::fs::read_to_string(path).unwrap();
    let topic = format!("/{pk}/queue-dev/user/get");
    let client = offline_queue::construct_and_subscribe(
        &DeviceConfig {
            product_key: &pk,
            device_name: "queue-dev",
            cert_pem: &read(device["certFile"].as_str().unwrap()),
            key_pem: &read(device["keyFile"].as_str().unwrap()),
            ca_pem: &read(sim.dir.path().join("ca.pem").to_str().unwrap()),
            port: proxy.addr.port(),
        },
        &topic,
    );
    let log = || std::fs::read_to_string(sim.dir.path().join("serve.log")).unwrap_or_default();
    let cut_line = format!("DISCONNECT pk={pk} dn=queue-dev");
    offline_queue::queued_messages_arrive_after_the_reconnect(
        &proxy,
        client,
        |_| log().contains(&cut_line),
        |payloads, _serve| {
            let encoded = topic.replace('/', "%2F");
            for payload in payloads {
                let (status, body) = http_post(
                    server.http_port,
                    &format!("/api/pub?topic={encoded}&qos=1"),
                    payload.as_bytes(),
                );
                assert_eq!(status, 200, "{body}");
            }
        },
        log,
    );
}
