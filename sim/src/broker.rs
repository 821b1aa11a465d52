//! The real MQTT broker behind the endpoint: embedded rumqttd by default, or
//! an upstream broker (e.g. mosquitto) given with `--upstream`.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Starts rumqttd on a free loopback port (reachable only from this machine)
/// and returns its address once it accepts connections.
pub fn start_embedded() -> Result<SocketAddr> {
    // rumqttd binds the configured address itself and does not report the
    // port, so reserve a free one first and hand it over.
    let probe =
        TcpListener::bind("127.0.0.1:0").context("finding a free loopback port for the broker")?;
    let address = probe.local_addr()?;
    drop(probe);

    let connection = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: crate::mqtt::MAX_PACKET,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "iotkit-sim-v4".into(),
        listen: address,
        tls: None,
        next_connection_delay_ms: 0,
        connections: connection,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 20_010,
            max_outgoing_packet_count: 200,
            max_segment_size: 104_857_600,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("v4".to_string(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                println!("[sim] embedded broker stopped: {e}");
            }
        })
        .context("starting the embedded broker thread")?;
    wait_reachable(&address.to_string(), Duration::from_secs(10))
        .context("the embedded rumqttd broker did not start listening")?;
    Ok(address)
}

/// Waits until `address` accepts a TCP connection and answers an MQTT CONNECT.
pub fn wait_reachable(address: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    let mut last_error = String::new();
    while Instant::now() < deadline {
        match probe(address) {
            Ok(()) => return Ok(()),
            Err(e) => last_error = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("broker at {address} is not reachable: {last_error}")
}

fn probe(address: &str) -> Result<()> {
    let mut stream = connect(address, &format!("iotkit-sim-probe-{}", std::process::id()))?;
    stream.write_all(&[0xe0, 0])?;
    Ok(())
}

/// An MQTT session with the broker for the sim's own publishes.
pub fn connect(address: &str, client_id: &str) -> Result<TcpStream> {
    let target = address
        .to_socket_addrs()
        .with_context(|| format!("resolving broker address {address}"))?
        .next()
        .with_context(|| format!("broker address {address} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(5))
        .with_context(|| format!("connecting to the broker at {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_nodelay(true)?;
    stream.write_all(&crate::mqtt::connect_packet(client_id, 30))?;
    let mut connack = [0u8; 4];
    stream
        .read_exact(&mut connack)
        .context("waiting for the broker's CONNACK")?;
    if connack[0] != 0x20 || connack[3] != 0 {
        bail!("broker refused the connection (CONNACK {connack:02x?})");
    }
    Ok(stream)
}

/// Publishes one message (QoS 0 or 1) through a short-lived broker session.
pub fn publish(address: &str, client_id: &str, topic: &str, payload: &[u8], qos: u8) -> Result<()> {
    let mut stream = connect(address, client_id)?;
    let mut packet = crate::mqtt::publish(topic, payload, qos, 1);
    // DISCONNECT goes in the same write for QoS 0; QoS 1 waits for PUBACK first.
    if qos == 0 {
        packet.extend_from_slice(&[0xe0, 0]);
        stream.write_all(&packet)?;
        // Wait for the broker to close so the publish is routed before we answer.
        let mut sink = [0u8; 16];
        let _ = stream.read(&mut sink);
        return Ok(());
    }
    stream.write_all(&packet)?;
    let mut puback = [0u8; 4];
    stream
        .read_exact(&mut puback)
        .context("waiting for PUBACK from the broker")?;
    if puback != crate::mqtt::ack(crate::mqtt::PUBACK, 1) {
        bail!("unexpected reply {puback:02x?} instead of PUBACK");
    }
    stream.write_all(&[0xe0, 0])?;
    Ok(())
}
