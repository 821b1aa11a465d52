//! The real MQTT broker behind the endpoint: embedded rumqttd by default, or
//! an upstream broker (e.g. mosquitto) given with `--upstream`.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Test hook: the first port the embedded broker tries (to test what
/// happens when another process holds it).
pub const TEST_BROKER_PORT_ENV: &str = "IOTKIT_SIM_TEST_BROKER_PORT";
const BROKER_ATTEMPTS: usize = 5;

/// Starts rumqttd on a free loopback port (reachable only from this machine)
/// and returns its address once it accepts connections.
///
/// rumqttd binds the configured address itself and does not report the
/// port, so a free port is picked first and handed over. Another process can
/// take that port in between; then rumqttd's bind fails and a probe would
/// reach the other process instead. So the listening socket on the port must
/// be one of this process's own sockets; if another process holds it, the
/// next free port is tried (bounded).
pub fn start_embedded() -> Result<SocketAddr> {
    let mut forced = std::env::var(TEST_BROKER_PORT_ENV)
        .ok()
        .and_then(|p| p.parse::<u16>().ok());
    let mut last_error = String::new();
    for _ in 0..BROKER_ATTEMPTS {
        let address = match forced.take() {
            Some(port) => SocketAddr::from(([127, 0, 0, 1], port)),
            None => {
                let probe = TcpListener::bind("127.0.0.1:0")
                    .context("finding a free loopback port for the broker")?;
                let address = probe.local_addr()?;
                drop(probe);
                address
            }
        };
        spawn_rumqttd(address)?;
        match wait_own_listener(address, Duration::from_secs(10)) {
            Ok(()) => {
                wait_reachable(&address.to_string(), Duration::from_secs(10))
                    .context("the embedded rumqttd broker did not answer MQTT")?;
                return Ok(address);
            }
            Err(e) => {
                println!(
                    "[sim] embedded broker could not use {address}: {e:#}; trying another port"
                );
                last_error = format!("{e:#}");
            }
        }
    }
    bail!("the embedded rumqttd broker could not bind a loopback port in {BROKER_ATTEMPTS} attempts: {last_error}")
}

fn spawn_rumqttd(address: SocketAddr) -> Result<()> {
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
    Ok(())
}

/// Waits until a socket of this process listens on `address` (Linux:
/// /proc/net/tcp gives the listening socket's inode, /proc/self/fd ours).
/// Fails at once when another process listens there.
fn wait_own_listener(address: SocketAddr, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(inode) = listening_inode(address)? {
            if own_socket_inodes()?.contains(&inode) {
                return Ok(());
            }
            bail!("another process is listening on {address}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "nothing listened on {address} within {} ms",
        limit.as_millis()
    )
}

/// The inode of the socket listening on `address` (IPv4), if any.
fn listening_inode(address: SocketAddr) -> Result<Option<u64>> {
    let SocketAddr::V4(v4) = address else {
        bail!("the embedded broker listens on IPv4 loopback only");
    };
    let table = std::fs::read_to_string("/proc/net/tcp").context("reading /proc/net/tcp")?;
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        if fields.len() > 9 && fields[1] == wanted && fields[3] == "0A" {
            return Ok(fields[9].parse().ok());
        }
    }
    Ok(None)
}

fn own_socket_inodes() -> Result<Vec<u64>> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").context("reading /proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                inodes.push(inode);
            }
        }
    }
    Ok(inodes)
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
        bail!(
            "broker refused the connection (CONNACK {connack})",
            connack = crate::quote::hex(&connack)
        );
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
        bail!(
            "unexpected reply {puback} instead of PUBACK",
            puback = crate::quote::hex(&puback)
        );
    }
    stream.write_all(&[0xe0, 0])?;
    Ok(())
}
