//! The x509 MQTT endpoint: terminates mutual TLS, enforces the platform's
//! CONNECT rules, then relays the MQTT byte stream to a real broker, filtering
//! SUBSCRIBE and PUBLISH by the device's topic permissions.

use crate::mqtt;
use crate::store::{CertIdentity, Store};
use openssl::ssl::{Ssl, SslAcceptor};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_openssl::SslStream;

pub const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
const RECENT_CONNECTIONS: usize = 1000;

// CONNACK return codes (MQTT 3.1.1, section 3.2.2.3).
pub const RC_BAD_PROTOCOL: u8 = 1;
pub const RC_IDENTIFIER_REJECTED: u8 = 2;
pub const RC_SERVER_UNAVAILABLE: u8 = 3;
pub const RC_NOT_AUTHORIZED: u8 = 5;

/// One CONNECT seen by the endpoint, for `GET /api/connections`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRecord {
    pub time: i64,
    pub time_text: String,
    pub peer: String,
    pub client_id: String,
    pub username: Option<String>,
    pub keepalive: u16,
    /// A password is ignored (the certificate authenticates) but noted.
    pub password_present: bool,
    pub pk: Option<String>,
    pub dn: Option<String>,
    pub accepted: bool,
    pub return_code: u8,
    pub reason: Option<String>,
}

pub struct Shared {
    pub store: Mutex<Store>,
    pub broker: String,
    pub lenient_username: bool,
    pub connections: Mutex<VecDeque<ConnectionRecord>>,
}

impl Shared {
    fn record(&self, record: ConnectionRecord) {
        let mut recent = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_CONNECTIONS {
            recent.pop_front();
        }
        recent.push_back(record);
    }
}

pub async fn run(listener: TcpListener, acceptor: Arc<SslAcceptor>, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move { handle(tcp, peer, acceptor, shared).await });
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                println!("[sim] accept failed: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A device's own topics, plus the shared `/ext/` tree.
pub fn topic_permitted(topic: &str, identity: &CertIdentity) -> bool {
    let pk = &identity.product_key;
    let dn = &identity.device_name;
    topic.starts_with("/ext/")
        || topic
            .strip_prefix('/')
            .and_then(|t| t.strip_prefix(pk.as_str()))
            .and_then(|t| t.strip_prefix('/'))
            .and_then(|t| t.strip_prefix(dn.as_str()))
            .is_some_and(|t| t.starts_with('/'))
        || topic
            .strip_prefix("/sys/")
            .and_then(|t| t.strip_prefix(pk.as_str()))
            .and_then(|t| t.strip_prefix('/'))
            .and_then(|t| t.strip_prefix(dn.as_str()))
            .is_some_and(|t| t.starts_with('/'))
}

/// A whole MQTT packet read into `raw`; returns (first byte, body offset),
/// or None on a clean end of stream before the first byte.
async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    raw: &mut Vec<u8>,
) -> Result<Option<(u8, usize)>, String> {
    raw.clear();
    let mut first = [0u8; 1];
    match reader.read(&mut first).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(format!("read failed: {e}")),
    }
    raw.push(first[0]);
    let (length, header) = loop {
        let mut byte = [0u8; 1];
        reader
            .read_exact(&mut byte)
            .await
            .map_err(|e| format!("stream ended inside a packet header: {e}"))?;
        raw.push(byte[0]);
        match mqtt::remaining_length(&raw[1..]) {
            Ok(Some((length, size))) => break (length, 1 + size),
            Ok(None) => continue,
            Err(e) => return Err(e.to_string()),
        }
    };
    raw.resize(header + length, 0);
    reader
        .read_exact(&mut raw[header..])
        .await
        .map_err(|e| format!("stream ended inside a packet: {e}"))?;
    Ok(Some((first[0], header)))
}

struct Refusal {
    code: u8,
    reason: String,
}

fn refuse(code: u8, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

const SIGN_METHODS: [&str; 3] = ["hmacmd5", "hmacsha1", "hmacsha256"];

/// The platform's CONNECT rules that do not need the registry.
fn check_connect_format(connect: &mqtt::Connect) -> Result<(), Refusal> {
    if connect.protocol_name != "MQTT" || connect.protocol_level != 4 {
        return Err(refuse(
            RC_BAD_PROTOCOL,
            format!(
                "protocol {:?} level {} is not supported; use MQTT 3.1.1 (level 4)",
                connect.protocol_name, connect.protocol_level
            ),
        ));
    }
    let parts = mqtt::split_client_id(&connect.client_id).map_err(|e| {
        refuse(
            RC_IDENTIFIER_REJECTED,
            format!("client id {:?}: {e}", connect.client_id),
        )
    })?;
    let length = parts.client_id.chars().count();
    if length == 0 {
        return Err(refuse(
            RC_IDENTIFIER_REJECTED,
            "clientId (before the first '|') is empty",
        ));
    }
    if length > 64 {
        return Err(refuse(
            RC_IDENTIFIER_REJECTED,
            format!("clientId has {length} characters; the platform allows at most 64"),
        ));
    }
    let param = |key: &str| {
        parts
            .params
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    };
    match param("securemode") {
        Some("2") => {}
        Some(other) => {
            return Err(refuse(
                RC_IDENTIFIER_REJECTED,
                format!("securemode={other}; the x509 endpoint requires securemode=2 (TLS direct)"),
            ))
        }
        None => {
            return Err(refuse(
                RC_IDENTIFIER_REJECTED,
                "client id lacks securemode=2; use clientId|securemode=2,signmethod=hmacsha1|",
            ))
        }
    }
    match param("signmethod") {
        Some(method) if SIGN_METHODS.contains(&method) => {}
        Some(other) => {
            return Err(refuse(
                RC_IDENTIFIER_REJECTED,
                format!("signmethod={other}; use one of hmacmd5, hmacsha1, hmacsha256"),
            ))
        }
        None => {
            return Err(refuse(
                RC_IDENTIFIER_REJECTED,
                "client id lacks signmethod; use one of hmacmd5, hmacsha1, hmacsha256",
            ))
        }
    }
    if !(30..=1200).contains(&connect.keep_alive) {
        return Err(refuse(
            RC_IDENTIFIER_REJECTED,
            format!(
                "keepalive {} s is out of range; the platform requires 30 to 1200 s",
                connect.keep_alive
            ),
        ));
    }
    Ok(())
}

fn peer_identity(shared: &Shared, fingerprint: &str) -> Result<CertIdentity, Refusal> {
    let store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
    match store.identity_by_fingerprint(fingerprint) {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => Err(refuse(
            RC_NOT_AUTHORIZED,
            format!(
                "certificate (sha256 {}) belongs to no registered device",
                &fingerprint[..16]
            ),
        )),
        Err(e) => Err(refuse(
            RC_SERVER_UNAVAILABLE,
            format!("registry lookup failed: {e:#}"),
        )),
    }
}

fn check_identity(
    shared: &Shared,
    connect: &mqtt::Connect,
    identity: &CertIdentity,
) -> Result<(), Refusal> {
    let (pk, dn) = (&identity.product_key, &identity.device_name);
    if identity.auth_type != "x509" {
        return Err(refuse(
            RC_NOT_AUTHORIZED,
            format!(
                "product {pk} uses {} authentication, not x509",
                identity.auth_type
            ),
        ));
    }
    if identity.device_status != "enabled" {
        return Err(refuse(
            RC_NOT_AUTHORIZED,
            format!("device disabled (pk={pk} dn={dn}); enable it with `iotkit-sim device enable`"),
        ));
    }
    if let Some(username) = connect.username.as_deref().filter(|u| !u.is_empty()) {
        let expected = format!("{dn}&{pk}");
        if username != expected {
            if shared.lenient_username {
                println!(
                    "[sim] WARNING username {username:?} does not match the certificate's {expected:?}; \
                     accepted because of --lenient-username"
                );
            } else {
                return Err(refuse(
                    RC_NOT_AUTHORIZED,
                    format!("username {username:?} does not match the certificate's {expected:?}"),
                ));
            }
        }
    }
    if let Some(topic) = &connect.will_topic {
        if !topic_permitted(topic, identity) {
            return Err(refuse(
                RC_NOT_AUTHORIZED,
                format!("will topic {topic:?} is not one of the device's topics"),
            ));
        }
    }
    Ok(())
}

async fn handle(tcp: TcpStream, peer: SocketAddr, acceptor: Arc<SslAcceptor>, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let tls = match Ssl::new(acceptor.context()).and_then(|ssl| SslStream::new(ssl, tcp)) {
        Ok(tls) => tls,
        Err(e) => {
            println!("[sim] TLS setup failed peer={peer}: {e}");
            return;
        }
    };
    let mut tls = tls;
    match timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut tls).accept()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let verify = tls.ssl().verify_result();
            println!(
                "[sim] TLS handshake failed peer={peer}: {e} (certificate check: {})",
                verify.error_string()
            );
            return;
        }
        Err(_) => {
            println!("[sim] TLS handshake timed out peer={peer}");
            return;
        }
    }
    let fingerprint = match tls
        .ssl()
        .peer_certificate()
        .map(|c| crate::pki::fingerprint(&c))
    {
        Some(Ok(fingerprint)) => fingerprint,
        _ => {
            println!("[sim] REFUSED peer={peer}: no client certificate");
            return;
        }
    };

    let mut raw = Vec::with_capacity(512);
    let connect = match timeout(CONNECT_TIMEOUT, read_packet(&mut tls, &mut raw)).await {
        Err(_) => {
            println!("[sim] no CONNECT within {CONNECT_TIMEOUT:?} peer={peer}; closing");
            return;
        }
        Ok(Ok(None)) => {
            println!("[sim] peer={peer} closed before sending CONNECT");
            return;
        }
        Ok(Err(e)) => {
            println!("[sim] peer={peer} sent a broken first packet: {e}; closing");
            return;
        }
        Ok(Ok(Some((first, body)))) => {
            if first >> 4 != mqtt::CONNECT {
                println!(
                    "[sim] peer={peer} first packet is type {} instead of CONNECT; closing",
                    first >> 4
                );
                return;
            }
            match mqtt::parse_connect(&raw[body..]) {
                Ok(connect) => connect,
                Err(e) => {
                    println!("[sim] peer={peer} sent a malformed CONNECT ({e}); closing");
                    return;
                }
            }
        }
    };

    let mut record = ConnectionRecord {
        time: crate::clock::now(),
        time_text: crate::clock::rfc3339(crate::clock::now()),
        peer: peer.to_string(),
        client_id: connect.client_id.clone(),
        username: connect.username.clone(),
        keepalive: connect.keep_alive,
        password_present: connect.has_password,
        pk: None,
        dn: None,
        accepted: false,
        return_code: 0,
        reason: None,
    };
    // Look the certificate up first so every refusal can name the device.
    let identity = peer_identity(&shared, &fingerprint);
    if let Ok(identity) = &identity {
        record.pk = Some(identity.product_key.clone());
        record.dn = Some(identity.device_name.clone());
    }
    let verdict = check_connect_format(&connect).and_then(|()| {
        let identity = identity?;
        check_identity(&shared, &connect, &identity)?;
        Ok(identity)
    });
    let identity = match verdict {
        Ok(identity) => identity,
        Err(refusal) => {
            println!(
                "[sim] REFUSED (code {}): {} pk={} dn={} client={:?} peer={peer}",
                refusal.code,
                refusal.reason,
                record.pk.as_deref().unwrap_or("-"),
                record.dn.as_deref().unwrap_or("-"),
                connect.client_id
            );
            record.return_code = refusal.code;
            record.reason = Some(refusal.reason);
            shared.record(record);
            let _ = tls.write_all(&mqtt::connack(refusal.code)).await;
            let _ = tls.flush().await;
            let _ = tls.shutdown().await;
            return;
        }
    };
    let pk = identity.product_key.clone();
    let dn = identity.device_name.clone();

    let broker = match relay_connect(&shared.broker, &raw).await {
        Ok((broker, connack)) => {
            let code = connack[3];
            if code != 0 {
                let reason = format!("the broker answered CONNACK code {code}");
                println!(
                    "[sim] REFUSED (code {code}): {reason} pk={pk} dn={dn} client={:?}",
                    connect.client_id
                );
                record.return_code = code;
                record.reason = Some(reason);
                shared.record(record);
                let _ = tls.write_all(&connack).await;
                let _ = tls.shutdown().await;
                return;
            }
            broker
        }
        Err(e) => {
            let reason = format!("broker {} unavailable: {e}", shared.broker);
            println!(
                "[sim] REFUSED (code 3): {reason} pk={pk} dn={dn} client={:?}",
                connect.client_id
            );
            record.return_code = RC_SERVER_UNAVAILABLE;
            record.reason = Some(reason);
            shared.record(record);
            let _ = tls.write_all(&mqtt::connack(RC_SERVER_UNAVAILABLE)).await;
            let _ = tls.shutdown().await;
            return;
        }
    };

    // The broker's CONNACK and the identity response leave in one write.
    // Field order as in the platform's documentation.
    let payload = format!(
        "{{\"productKey\":{},\"deviceName\":{}}}",
        serde_json::Value::from(pk.as_str()),
        serde_json::Value::from(dn.as_str())
    );
    let mut greeting = mqtt::connack(0).to_vec();
    greeting.extend_from_slice(&mqtt::publish_qos0(IDENTITY_TOPIC, payload.as_bytes()));
    // Recorded before the CONNACK leaves (as refusals are): a client that
    // has its CONNACK and then asks /api/connections must find itself.
    record.accepted = true;
    shared.record(record);
    if let Err(e) = async {
        tls.write_all(&greeting).await?;
        tls.flush().await
    }
    .await
    {
        println!("[sim] DISCONNECT pk={pk} dn={dn}: writing CONNACK failed: {e}");
        return;
    }
    println!(
        "[sim] CONNECT ok pk={pk} dn={dn} client={:?} username={:?} keepalive={} peer={peer}",
        connect.client_id,
        connect.username.as_deref().unwrap_or(""),
        connect.keep_alive
    );
    println!(
        "[sim] identity sent to pk={pk} dn={dn} client={:?} payload={payload}",
        connect.client_id
    );

    let reason = relay(tls, broker, &identity).await;
    println!(
        "[sim] DISCONNECT pk={pk} dn={dn} client={:?}: {reason}",
        connect.client_id
    );
}

/// Opens the broker connection, forwards the CONNECT and returns its CONNACK.
async fn relay_connect(broker: &str, connect: &[u8]) -> Result<(TcpStream, [u8; 4]), String> {
    let mut stream = timeout(BROKER_TIMEOUT, TcpStream::connect(broker))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    stream.write_all(connect).await.map_err(|e| e.to_string())?;
    let mut connack = [0u8; 4];
    timeout(BROKER_TIMEOUT, stream.read_exact(&mut connack))
        .await
        .map_err(|_| "no CONNACK from the broker".to_string())?
        .map_err(|e| format!("broker closed before CONNACK: {e}"))?;
    if connack[0] != mqtt::CONNACK << 4 || connack[1] != 2 {
        return Err(format!("broker sent {connack:02x?} instead of a CONNACK"));
    }
    Ok((stream, connack))
}

type ClientWriter = Arc<tokio::sync::Mutex<tokio::io::WriteHalf<SslStream<TcpStream>>>>;

async fn write_client(writer: &ClientWriter, bytes: &[u8]) -> std::io::Result<()> {
    let mut guard = writer.lock().await;
    guard.write_all(bytes).await?;
    guard.flush().await
}

/// Relays packets both ways until either side closes; returns why it ended.
async fn relay(tls: SslStream<TcpStream>, broker: TcpStream, identity: &CertIdentity) -> String {
    let (client_read, client_write) = tokio::io::split(tls);
    let client_write: ClientWriter = Arc::new(tokio::sync::Mutex::new(client_write));
    let (broker_read, mut broker_write) = broker.into_split();
    // SUBSCRIBE packet id -> positions of refused filters, to patch the broker's SUBACK.
    let pending: Mutex<HashMap<u16, Vec<usize>>> = Mutex::new(HashMap::new());

    let upstream = async {
        let mut reader = BufReader::new(client_read);
        let mut raw = Vec::with_capacity(1024);
        let mut refused_qos2: HashSet<u16> = HashSet::new();
        loop {
            let (first, body) = match read_packet(&mut reader, &mut raw).await {
                Ok(Some(packet)) => packet,
                Ok(None) => return "device closed the connection".to_string(),
                Err(e) => return format!("device stream error: {e}"),
            };
            let forward = match first >> 4 {
                mqtt::PUBLISH => match mqtt::parse_publish(first, &raw[body..]) {
                    Err(e) => return format!("device sent a bad PUBLISH: {e}"),
                    Ok(publish) if topic_permitted(publish.topic, identity) => true,
                    Ok(publish) => {
                        println!(
                            "[sim] DROPPED publish from pk={} dn={} to {:?}: not one of the device's topics",
                            identity.product_key, identity.device_name, publish.topic
                        );
                        // Acknowledge so the device does not retransmit forever.
                        let reply = match (publish.qos, publish.packet_id) {
                            (1, Some(id)) => Some(mqtt::ack(mqtt::PUBACK, id)),
                            (2, Some(id)) => {
                                refused_qos2.insert(id);
                                Some(mqtt::ack(mqtt::PUBREC, id))
                            }
                            _ => None,
                        };
                        if let Some(reply) = reply {
                            if let Err(e) = write_client(&client_write, &reply).await {
                                return format!("device write failed: {e}");
                            }
                        }
                        false
                    }
                },
                mqtt::PUBREL => match mqtt::packet_id(&raw[body..]) {
                    Some(id) if refused_qos2.remove(&id) => {
                        if let Err(e) =
                            write_client(&client_write, &mqtt::ack(mqtt::PUBCOMP, id)).await
                        {
                            return format!("device write failed: {e}");
                        }
                        false
                    }
                    _ => true,
                },
                mqtt::SUBSCRIBE => match mqtt::parse_subscribe(&raw[body..]) {
                    Err(e) => return format!("device sent a bad SUBSCRIBE: {e}"),
                    Ok(subscribe) => {
                        let refused: Vec<usize> = subscribe
                            .filters
                            .iter()
                            .enumerate()
                            .filter(|(_, (filter, _))| !topic_permitted(filter, identity))
                            .map(|(index, _)| index)
                            .collect();
                        for &index in &refused {
                            println!(
                                "[sim] REFUSED subscribe pk={} dn={} filter={:?}: not one of the device's topics",
                                identity.product_key, identity.device_name, subscribe.filters[index].0
                            );
                        }
                        if refused.is_empty() {
                            true
                        } else if refused.len() == subscribe.filters.len() {
                            let codes = vec![0x80; refused.len()];
                            let suback = mqtt::suback_packet(subscribe.packet_id, &codes);
                            if let Err(e) = write_client(&client_write, &suback).await {
                                return format!("device write failed: {e}");
                            }
                            false
                        } else {
                            let allowed: Vec<(String, u8)> = subscribe
                                .filters
                                .iter()
                                .enumerate()
                                .filter(|(index, _)| !refused.contains(index))
                                .map(|(_, filter)| filter.clone())
                                .collect();
                            pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(subscribe.packet_id, refused);
                            raw = mqtt::subscribe_packet(subscribe.packet_id, &allowed);
                            true
                        }
                    }
                },
                mqtt::CONNECT => {
                    return "device sent a second CONNECT (protocol violation)".to_string()
                }
                _ => true,
            };
            if forward {
                if let Err(e) = broker_write.write_all(&raw).await {
                    return format!("broker write failed: {e}");
                }
            }
            if first >> 4 == 14 {
                return "device sent DISCONNECT".to_string();
            }
        }
    };

    let downstream = async {
        let mut reader = BufReader::new(broker_read);
        let mut raw = Vec::with_capacity(1024);
        loop {
            let (first, body) = match read_packet(&mut reader, &mut raw).await {
                Ok(Some(packet)) => packet,
                Ok(None) => return "broker closed the connection".to_string(),
                Err(e) => return format!("broker stream error: {e}"),
            };
            if first >> 4 == mqtt::SUBACK {
                let refused = mqtt::packet_id(&raw[body..]).and_then(|id| {
                    pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id)
                        .map(|r| (id, r))
                });
                if let Some((id, refused)) = refused {
                    let mut granted = raw[body + 2..].iter().copied();
                    let total = raw.len() - body - 2 + refused.len();
                    let codes: Vec<u8> = (0..total)
                        .map(|index| {
                            if refused.contains(&index) {
                                0x80
                            } else {
                                granted.next().unwrap_or(0x80)
                            }
                        })
                        .collect();
                    raw = mqtt::suback_packet(id, &codes);
                }
            }
            if let Err(e) = write_client(&client_write, &raw).await {
                return format!("device write failed: {e}");
            }
        }
    };

    let reason = tokio::select! {
        reason = upstream => reason,
        reason = downstream => reason,
    };
    let _ = client_write.lock().await.shutdown().await;
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> CertIdentity {
        CertIdentity {
            product_key: "a1PK".into(),
            device_name: "dev1".into(),
            device_status: "enabled".into(),
            auth_type: "x509".into(),
        }
    }

    #[test]
    fn topic_rules() {
        let id = identity();
        for ok in [
            "/a1PK/dev1/user/get",
            "/sys/a1PK/dev1/thing/event/#",
            "/ext/auth/identity/response",
            "/a1PK/dev1/#",
        ] {
            assert!(topic_permitted(ok, &id), "{ok}");
        }
        for bad in [
            "/a1PK/dev2/user/get",
            "/a1PK/dev1",
            "/a1PK/+/get",
            "#",
            "/sys/a1PK/dev10/x",
            "$SYS/x",
            "/a1PK/dev1x/y",
        ] {
            assert!(!topic_permitted(bad, &id), "{bad}");
        }
    }

    fn connect(client_id: &str, keep_alive: u16) -> mqtt::Connect {
        mqtt::Connect {
            protocol_name: "MQTT".into(),
            protocol_level: 4,
            keep_alive,
            client_id: client_id.into(),
            will_topic: None,
            username: None,
            has_password: false,
        }
    }

    fn shared(lenient_username: bool) -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path()).unwrap();
        let shared = Shared {
            store: Mutex::new(store),
            broker: "127.0.0.1:1".into(),
            lenient_username,
            connections: Mutex::new(VecDeque::new()),
        };
        (dir, shared)
    }

    #[test]
    fn identity_rules() {
        let (_dir, strict) = shared(false);
        let good = connect("sn|securemode=2,signmethod=hmacsha1|", 60);
        let code = |shared: &Shared, c: &mqtt::Connect, id: &CertIdentity| {
            check_identity(shared, c, id).err().map(|r| r.code)
        };
        assert_eq!(code(&strict, &good, &identity()), None);

        let mut secret = identity();
        secret.auth_type = "secret".into();
        assert_eq!(code(&strict, &good, &secret), Some(RC_NOT_AUTHORIZED));
        let mut disabled = identity();
        disabled.device_status = "disabled".into();
        assert_eq!(code(&strict, &good, &disabled), Some(RC_NOT_AUTHORIZED));

        let mut named = connect("sn|securemode=2,signmethod=hmacsha1|", 60);
        named.username = Some("dev1&a1PK".into());
        assert_eq!(code(&strict, &named, &identity()), None);
        named.username = Some("dev2&a1PK".into());
        assert_eq!(code(&strict, &named, &identity()), Some(RC_NOT_AUTHORIZED));
        let (_dir2, lenient) = shared(true);
        assert_eq!(code(&lenient, &named, &identity()), None);

        let mut will = good.clone();
        will.will_topic = Some("/a1PK/dev2/lastwill".into());
        assert_eq!(code(&strict, &will, &identity()), Some(RC_NOT_AUTHORIZED));
        will.will_topic = Some("/a1PK/dev1/lastwill".into());
        assert_eq!(code(&strict, &will, &identity()), None);
    }

    #[test]
    fn unknown_fingerprint_is_not_authorized() {
        let (_dir, shared) = shared(false);
        let refusal = peer_identity(&shared, &"ab".repeat(32)).err().unwrap();
        assert_eq!(refusal.code, RC_NOT_AUTHORIZED);
    }

    #[test]
    fn connect_format_rules() {
        let good = "sn|securemode=2,signmethod=hmacsha1,timestamp=1|";
        assert!(check_connect_format(&connect(good, 30)).is_ok());
        assert!(check_connect_format(&connect(good, 1200)).is_ok());
        let code = |c: mqtt::Connect| check_connect_format(&c).err().map(|r| r.code);
        assert_eq!(code(connect(good, 29)), Some(RC_IDENTIFIER_REJECTED));
        assert_eq!(code(connect(good, 1201)), Some(RC_IDENTIFIER_REJECTED));
        assert_eq!(
            code(connect("sn|securemode=3,signmethod=hmacsha1|", 60)),
            Some(RC_IDENTIFIER_REJECTED)
        );
        assert_eq!(
            code(connect("sn|securemode=2,signmethod=sha1|", 60)),
            Some(RC_IDENTIFIER_REJECTED)
        );
        let long = format!("{}|securemode=2,signmethod=hmacsha1|", "x".repeat(65));
        assert_eq!(code(connect(&long, 60)), Some(RC_IDENTIFIER_REJECTED));
        let mut old = connect(good, 60);
        old.protocol_level = 3;
        assert_eq!(code(old), Some(RC_BAD_PROTOCOL));
    }
}
