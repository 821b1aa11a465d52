//! The x509 MQTT endpoint: terminates mutual TLS, enforces the platform's
//! CONNECT rules (from the rule file), then relays the MQTT byte stream to a
//! real broker, filtering SUBSCRIBE and PUBLISH by the product's topic
//! classes and the device's system topics.

use crate::mqtt;
use crate::rules::{Access, Retain, Rules, Violation, Will};
use crate::store::{CertIdentity, Store};
use openssl::ssl::{NameType, Ssl, SslAcceptor};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_openssl::SslStream;

pub const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
const RECENT_CONNECTIONS: usize = 1000;

// CONNACK return codes (MQTT 3.1.1, section 3.2.2.3) the endpoint uses itself.
pub const RC_BAD_PROTOCOL: u8 = 1;
pub const RC_SERVER_UNAVAILABLE: u8 = 3;

/// One CONNECT seen by the endpoint, for `GET /api/connections`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRecord {
    pub time: i64,
    pub time_text: String,
    pub peer: String,
    /// The server name the client sent in its TLS ClientHello, if any.
    pub sni: Option<String>,
    pub protocol_level: u8,
    pub client_id: String,
    pub username: Option<String>,
    pub keepalive: u16,
    /// A password is ignored (the certificate authenticates) but noted.
    pub password_present: bool,
    pub will_present: bool,
    pub clean_session: bool,
    pub pk: Option<String>,
    pub dn: Option<String>,
    pub accepted: bool,
    pub return_code: u8,
    pub reason: Option<String>,
}

/// What the HTTP side can ask of a live connection.
#[derive(Debug)]
pub enum Control {
    /// Another connection of the same device took over.
    Replaced,
    /// DisableThing: push `/sys/${pk}/${dn}/thing/disable`, then close.
    Disable,
}

struct Session {
    id: u64,
    control: mpsc::UnboundedSender<Control>,
}

pub struct Shared {
    pub store: Mutex<Store>,
    pub broker: String,
    pub lenient_username: bool,
    pub rules: Rules,
    pub region: String,
    pub data_dir: std::path::PathBuf,
    pub connections: Mutex<VecDeque<ConnectionRecord>>,
    sessions: Mutex<HashMap<String, Session>>,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new(
        store: Store,
        broker: String,
        lenient_username: bool,
        rules: Rules,
        region: String,
        data_dir: std::path::PathBuf,
    ) -> Shared {
        Shared {
            store: Mutex::new(store),
            broker,
            lenient_username,
            rules,
            region,
            data_dir,
            connections: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        }
    }

    fn record(&self, record: ConnectionRecord) {
        let mut recent = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_CONNECTIONS {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    /// Registers a live connection under `key`; the one it replaces is told to close.
    fn open_session(&self, key: &str) -> (u64, mpsc::UnboundedReceiver<Control>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let old = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.to_string(),
                Session {
                    id,
                    control: sender,
                },
            );
        if let Some(old) = old {
            let _ = old.control.send(Control::Replaced);
        }
        (id, receiver)
    }

    fn close_session(&self, key: &str, id: u64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.get(key).is_some_and(|s| s.id == id) {
            sessions.remove(key);
        }
    }

    /// Sends `control` to the device's live connection; false if it has none.
    pub fn control(&self, pk: &str, dn: &str, control: Control) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&device_key(pk, dn))
            .is_some_and(|s| s.control.send(control).is_ok())
    }
}

/// The session key and the client id the broker sees: one per device.
fn device_key(pk: &str, dn: &str) -> String {
    format!("{pk}&{dn}")
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

/// What a device may do: its product's topic classes and its own system topics.
pub struct Policy {
    pk: String,
    dn: String,
    /// (class segments below /pk/dn/, rights)
    classes: Vec<(Vec<String>, Access)>,
}

/// MQTT topic matching of `filter` segments against `topic` segments.
fn matches(filter: &[&str], topic: &[&str]) -> bool {
    match (filter.split_first(), topic.split_first()) {
        (Some((&"#", _)), _) => true,
        (Some((f, f_rest)), Some((t, t_rest))) => (*f == "+" || f == t) && matches(f_rest, t_rest),
        (None, None) => true,
        _ => false,
    }
}

impl Policy {
    pub fn new(pk: &str, dn: &str, classes: &[(String, Access)]) -> Policy {
        Policy {
            pk: pk.to_string(),
            dn: dn.to_string(),
            classes: classes
                .iter()
                .map(|(short, access)| (short.split('/').map(str::to_string).collect(), *access))
                .collect(),
        }
    }

    /// The product's classes: the rule file's defaults, replaced or extended by added ones.
    pub fn load(store: &Store, rules: &Rules, pk: &str, dn: &str) -> anyhow::Result<Policy> {
        let mut classes: Vec<(String, Access)> = Vec::new();
        let added = store.topic_classes(pk)?;
        for (short, access) in &rules.default_topic_classes {
            if !added.iter().any(|(t, _)| t == short) {
                classes.push((short.clone(), *access));
            }
        }
        for (short, access) in added {
            if let Some(access) = Access::parse(&access) {
                classes.push((short, access));
            }
        }
        Ok(Policy::new(pk, dn, &classes))
    }

    /// The device's own system topics (publish and subscribe).
    fn own_system_topic(&self, segments: &[&str]) -> bool {
        let (pk, dn) = (self.pk.as_str(), self.dn.as_str());
        match segments {
            ["", "sys", p, d, rest @ ..] => *p == pk && *d == dn && !rest.is_empty(),
            ["", "ota", "device", kind, p, d] => {
                ["inform", "upgrade", "progress", "request"].contains(kind) && *p == pk && *d == dn
            }
            ["", "shadow", kind, p, d] => ["update", "get"].contains(kind) && *p == pk && *d == dn,
            ["", "ext", "ntp", p, d, kind] => {
                ["request", "response"].contains(kind) && *p == pk && *d == dn
            }
            ["", "ext", "session", p, d, rest @ ..] => *p == pk && *d == dn && !rest.is_empty(),
            _ => false,
        }
    }

    /// The class rights for a custom topic `/pk/dn/...`: Ok(Some(access)) for
    /// a defined class, Ok(None) for none, Err for someone else's topic.
    fn class_access(&self, segments: &[&str], filter: bool) -> Result<Option<Access>, String> {
        let rest = match segments {
            ["", p, d, rest @ ..] if *p == self.pk && *d == self.dn && !rest.is_empty() => rest,
            _ => return Err("not one of the device's topics".into()),
        };
        let wildcard = rest.iter().any(|s| *s == "+" || *s == "#");
        let mut found = None;
        for (class, access) in &self.classes {
            let class: Vec<&str> = class.iter().map(String::as_str).collect();
            // A filter must name a class exactly (wildcards included); a
            // concrete topic may fall under a class with wildcards.
            let hit = if filter && wildcard {
                class == rest
            } else {
                matches(&class, rest)
            };
            if hit {
                found = Some(match found {
                    None => *access,
                    Some(previous) if previous == *access => *access,
                    Some(_) => Access::All,
                });
            }
        }
        Ok(found)
    }

    pub fn may_publish(&self, topic: &str) -> Result<(), String> {
        if topic.contains(['+', '#']) {
            return Err("a PUBLISH topic must not contain wildcards".into());
        }
        let segments: Vec<&str> = topic.split('/').collect();
        if self.own_system_topic(&segments) {
            return Ok(());
        }
        match self.class_access(&segments, false)? {
            Some(access) if access.can_publish() => Ok(()),
            Some(access) => Err(format!(
                "its topic class allows {} only, not publish",
                access.as_str()
            )),
            None => Err("no topic class of the product covers it".into()),
        }
    }

    pub fn may_subscribe(&self, filter: &str) -> Result<(), String> {
        if filter == IDENTITY_TOPIC {
            return Ok(());
        }
        let segments: Vec<&str> = filter.split('/').collect();
        if self.own_system_topic(&segments) {
            return Ok(());
        }
        match self.class_access(&segments, true)? {
            Some(access) if access.can_subscribe() => Ok(()),
            Some(access) => Err(format!(
                "its topic class allows {} only, not subscribe",
                access.as_str()
            )),
            None => Err("no topic class of the product defines it".into()),
        }
    }
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

/// The platform's CONNECT rules that do not need the registry.
fn check_connect_format(rules: &Rules, connect: &mqtt::Connect) -> Result<(), Refusal> {
    let known = matches!(
        (connect.protocol_name.as_str(), connect.protocol_level),
        ("MQIsdp", 3) | ("MQTT", 4)
    );
    if !known || !rules.protocol_levels.contains(&connect.protocol_level) {
        return Err(refuse(
            RC_BAD_PROTOCOL,
            format!(
                "protocol {} level {} is not supported; use MQTT 3.1.1 (MQTT, level 4) or MQTT 3.1 (MQIsdp, level 3)",
                crate::quote::q(&connect.protocol_name), connect.protocol_level
            ),
        ));
    }
    let code = rules.bad_client_id_code;
    let parts = mqtt::split_client_id(&connect.client_id).map_err(|e| {
        refuse(
            code,
            format!("client id {}: {e}", crate::quote::q(&connect.client_id)),
        )
    })?;
    let length = parts.client_id.chars().count();
    if length == 0 {
        return Err(refuse(code, "clientId (before the first '|') is empty"));
    }
    if length > rules.client_id_max {
        return Err(refuse(
            code,
            format!(
                "clientId has {length} characters; the platform allows at most {}",
                rules.client_id_max
            ),
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
        Some(mode) if mode == rules.securemode => {}
        Some(other) => {
            return Err(refuse(
                code,
                format!(
                    "securemode={other}; the x509 endpoint requires securemode={} (TLS direct)",
                    rules.securemode
                ),
            ))
        }
        None => {
            return Err(refuse(
                code,
                format!(
                    "client id lacks securemode={}; use clientId|securemode={}|",
                    rules.securemode, rules.securemode
                ),
            ))
        }
    }
    if let Some(method) = param("signmethod") {
        if !rules.sign_methods.iter().any(|m| m == method) {
            return Err(refuse(
                code,
                format!(
                    "signmethod={method}; use one of {} (or leave it out)",
                    rules.sign_methods.join(", ")
                ),
            ));
        }
    }
    if connect.keep_alive < rules.keepalive_min {
        return Err(refuse(
            rules.keepalive_min_code,
            format!(
                "keepalive {} s is below the platform's minimum of {} s",
                connect.keep_alive, rules.keepalive_min
            ),
        ));
    }
    if connect.will_topic.is_some() && rules.will == Will::Refuse {
        return Err(refuse(
            rules.will_refuse_code,
            "the CONNECT carries a will message; the platform does not support wills",
        ));
    }
    Ok(())
}

fn peer_identity(shared: &Shared, fingerprint: &str) -> Result<CertIdentity, Refusal> {
    let store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
    match store.identity_by_fingerprint(fingerprint) {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => Err(refuse(
            shared.rules.not_authorized_code,
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
    let code = shared.rules.not_authorized_code;
    if identity.auth_type != "x509" {
        return Err(refuse(
            code,
            format!(
                "product {pk} uses {} authentication, not x509",
                identity.auth_type
            ),
        ));
    }
    if identity.device_status != "enabled" {
        return Err(refuse(
            code,
            format!("device disabled (pk={pk} dn={dn}); enable it with `iotkit-sim device enable`"),
        ));
    }
    if let Some(username) = connect.username.as_deref() {
        let expected = format!("{dn}&{pk}");
        let first_connect = shared
            .rules
            .first_connect_usernames
            .iter()
            .any(|u| u == username);
        if !first_connect && username != expected {
            if shared.lenient_username {
                println!(
                    "[sim] WARNING username {username} does not match the certificate's {expected}; \
                     accepted because of --lenient-username", username = crate::quote::q(&username), expected = crate::quote::q(&expected)
                );
            } else {
                return Err(refuse(
                    code,
                    format!(
                        "username {username} does not match the certificate's {expected}",
                        username = crate::quote::q(&username),
                        expected = crate::quote::q(&expected)
                    ),
                ));
            }
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
    let sni = tls
        .ssl()
        .servername(NameType::HOST_NAME)
        .map(str::to_string);
    if shared.rules.tls_sni_required && sni.is_none() {
        println!("[sim] REFUSED peer={peer}: no SNI in the ClientHello (rule tls_sni_required)");
        let _ = tls.shutdown().await;
        return;
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
            println!(
                "[sim] no CONNECT within {} s peer={peer}; closing",
                CONNECT_TIMEOUT.as_secs()
            );
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
        sni,
        protocol_level: connect.protocol_level,
        client_id: connect.client_id.clone(),
        username: connect.username.clone(),
        keepalive: connect.keep_alive,
        password_present: connect.has_password,
        will_present: connect.will_topic.is_some(),
        clean_session: connect.clean_session,
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
    let verdict = check_connect_format(&shared.rules, &connect).and_then(|()| {
        let identity = identity?;
        check_identity(&shared, &connect, &identity)?;
        let policy = {
            let store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
            Policy::load(
                &store,
                &shared.rules,
                &identity.product_key,
                &identity.device_name,
            )
        }
        .map_err(|e| {
            refuse(
                RC_SERVER_UNAVAILABLE,
                format!("registry lookup failed: {e:#}"),
            )
        })?;
        Ok((identity, policy))
    });
    let (identity, policy) = match verdict {
        Ok(found) => found,
        Err(refusal) => {
            println!(
                "[sim] REFUSED (code {}): {} pk={} dn={} client={} peer={peer}",
                refusal.code,
                refusal.reason,
                record.pk.as_deref().unwrap_or("-"),
                record.dn.as_deref().unwrap_or("-"),
                crate::quote::q(&connect.client_id)
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
    let rules = &shared.rules;
    if connect.will_topic.is_some() {
        println!(
            "[sim] will message of pk={pk} dn={dn} ignored: the platform does not support wills (it is never delivered)"
        );
    }
    let keep_alive = connect.keep_alive.min(rules.keepalive_max);
    if keep_alive != connect.keep_alive {
        println!(
            "[sim] keepalive {} s of pk={pk} dn={dn} treated as {keep_alive} s (the platform's maximum)",
            connect.keep_alive
        );
    }
    // The broker sees one client id per device, so a session belongs to the
    // device (ProductKey/DeviceName), not to the raw client-id string.
    let session_key = if rules.session_per_device {
        device_key(&pk, &dn)
    } else {
        connect.client_id.clone()
    };
    let clean_session = connect.clean_session || !rules.persistent_session;
    let broker_connect = mqtt::connect_packet_with(&session_key, keep_alive, clean_session);

    let (session_id, control) = shared.open_session(&session_key);
    let broker = match relay_connect(&shared.broker, &broker_connect).await {
        Ok((broker, connack)) => {
            let code = connack[3];
            if code != 0 {
                let reason = format!("the broker answered CONNACK code {code}");
                println!(
                    "[sim] REFUSED (code {code}): {reason} pk={pk} dn={dn} client={}",
                    crate::quote::q(&connect.client_id)
                );
                shared.close_session(&session_key, session_id);
                record.return_code = code;
                record.reason = Some(reason);
                shared.record(record);
                let _ = tls.write_all(&connack).await;
                let _ = tls.shutdown().await;
                return;
            }
            (broker, connack[2] & 0x01)
        }
        Err(e) => {
            let reason = format!("broker {} unavailable: {e}", shared.broker);
            println!(
                "[sim] REFUSED (code 3): {reason} pk={pk} dn={dn} client={}",
                crate::quote::q(&connect.client_id)
            );
            shared.close_session(&session_key, session_id);
            record.return_code = RC_SERVER_UNAVAILABLE;
            record.reason = Some(reason);
            shared.record(record);
            let _ = tls.write_all(&mqtt::connack(RC_SERVER_UNAVAILABLE)).await;
            let _ = tls.shutdown().await;
            return;
        }
    };
    let (broker, session_present) = broker;

    // The CONNACK and the identity response leave in one write.
    // Field order as in the platform's documentation.
    let payload = format!(
        "{{\"productKey\":{},\"deviceName\":{}}}",
        serde_json::Value::from(pk.as_str()),
        serde_json::Value::from(dn.as_str())
    );
    let mut greeting = mqtt::connack(0).to_vec();
    // MQTT 3.1 has no session-present flag (the byte is reserved).
    if connect.protocol_level == 4 {
        greeting[2] = session_present;
    }
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
        shared.close_session(&session_key, session_id);
        return;
    }
    println!(
        "[sim] CONNECT ok pk={pk} dn={dn} client={} username={} keepalive={} peer={peer}",
        crate::quote::q(&connect.client_id),
        crate::quote::q(connect.username.as_deref().unwrap_or("")),
        connect.keep_alive
    );
    println!(
        "[sim] identity sent to pk={pk} dn={dn} client={} payload={payload}",
        crate::quote::q(&connect.client_id)
    );

    let reason = relay(tls, broker, &policy, rules, control).await;
    shared.close_session(&session_key, session_id);
    println!(
        "[sim] DISCONNECT pk={pk} dn={dn} client={}: {reason}",
        crate::quote::q(&connect.client_id)
    );
}

/// Opens the broker connection, sends the CONNECT and returns its CONNACK.
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
        return Err(format!(
            "broker sent {connack} instead of a CONNACK",
            connack = crate::quote::hex(&connack)
        ));
    }
    Ok((stream, connack))
}

type ClientWriter = Arc<tokio::sync::Mutex<tokio::io::WriteHalf<SslStream<TcpStream>>>>;

async fn write_client(writer: &ClientWriter, bytes: &[u8]) -> std::io::Result<()> {
    let mut guard = writer.lock().await;
    guard.write_all(bytes).await?;
    guard.flush().await
}

/// The platform's NTP answer to `{"deviceSendTime":"…"}`: the device's time
/// echoed, with the server's receive and send times (ms since epoch, strings).
pub fn ntp_response(request: &[u8], received_ms: i64, sent_ms: i64) -> Result<Vec<u8>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(request).map_err(|_| "the NTP request is not JSON".to_string())?;
    let device_time = match value.get("deviceSendTime") {
        Some(serde_json::Value::String(text)) if text.parse::<i64>().is_ok() => text.clone(),
        Some(serde_json::Value::Number(number)) if number.is_i64() => number.to_string(),
        _ => {
            return Err(
                "the NTP request lacks deviceSendTime (milliseconds since 1970, as a string)"
                    .into(),
            )
        }
    };
    Ok(serde_json::json!({
        "deviceSendTime": device_time,
        "serverRecvTime": received_ms.to_string(),
        "serverSendTime": sent_ms.to_string(),
    })
    .to_string()
    .into_bytes())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a device's PUBLISH does not reach the broker.
enum Dropped {
    /// Dropped; QoS 1/2 acknowledged so the device does not resend forever.
    Quietly,
    /// The connection closes.
    Disconnect(String),
}

/// Relays packets both ways until either side closes or the HTTP side asks
/// to close; returns why it ended.
async fn relay(
    tls: SslStream<TcpStream>,
    broker: TcpStream,
    policy: &Policy,
    rules: &Rules,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> String {
    let (pk, dn) = (policy.pk.as_str(), policy.dn.as_str());
    let (client_read, client_write) = tokio::io::split(tls);
    let client_write: ClientWriter = Arc::new(tokio::sync::Mutex::new(client_write));
    let (broker_read, broker_write) = broker.into_split();
    let broker_write = Arc::new(tokio::sync::Mutex::new(broker_write));
    // SUBSCRIBE packet id -> positions of refused filters, to patch the broker's SUBACK.
    let pending: Mutex<HashMap<u16, Vec<usize>>> = Mutex::new(HashMap::new());
    let ntp_request = format!("/ext/ntp/{pk}/{dn}/request");
    let ntp_reply_topic = format!("/ext/ntp/{pk}/{dn}/response");

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
            let mut inject: Option<Vec<u8>> = None;
            let forward = match first >> 4 {
                mqtt::PUBLISH => {
                    let publish = match mqtt::parse_publish(first, &raw[body..]) {
                        Err(e) => return format!("device sent a bad PUBLISH: {e}"),
                        Ok(publish) => publish,
                    };
                    let verdict = if publish.qos == 2 {
                        println!(
                            "[sim] DROPPED publish from pk={pk} dn={dn} to {}: QoS 2 is not supported by the platform",
                            crate::quote::q(&publish.topic)
                        );
                        match rules.qos2 {
                            Violation::Drop => Err(Dropped::Quietly),
                            Violation::Disconnect => Err(Dropped::Disconnect(
                                "device published at QoS 2 (rule qos2 = disconnect)".into(),
                            )),
                        }
                    } else if publish.payload.len() > rules.max_payload {
                        println!(
                            "[sim] DROPPED publish from pk={pk} dn={dn} to {}: payload of {} bytes exceeds the {}-byte limit",
                            crate::quote::q(&publish.topic),
                            publish.payload.len(),
                            rules.max_payload
                        );
                        Err(Dropped::Quietly)
                    } else if let Err(why) = policy.may_publish(publish.topic) {
                        println!(
                            "[sim] DROPPED publish from pk={pk} dn={dn} to {}: No authorization ({why})",
                            crate::quote::q(&publish.topic)
                        );
                        match rules.unauthorized_publish {
                            Violation::Drop => Err(Dropped::Quietly),
                            Violation::Disconnect => Err(Dropped::Disconnect(format!(
                                "No authorization to publish to {} (rule unauthorized_publish = disconnect)",
                                crate::quote::q(&publish.topic)
                            ))),
                        }
                    } else if publish.retain && rules.retain == Retain::Drop {
                        println!(
                            "[sim] DROPPED publish from pk={pk} dn={dn} to {}: retain is not supported by the platform",
                            crate::quote::q(&publish.topic)
                        );
                        Err(Dropped::Quietly)
                    } else if publish.topic == ntp_request {
                        let received = now_ms();
                        match ntp_response(publish.payload, received, now_ms()) {
                            Ok(answer) => {
                                inject = Some(mqtt::publish_qos0(&ntp_reply_topic, &answer));
                                println!("[sim] NTP request of pk={pk} dn={dn} answered on {ntp_reply_topic}");
                            }
                            Err(why) => {
                                println!("[sim] NTP request of pk={pk} dn={dn} not answered: {why}")
                            }
                        }
                        // Answered by the platform's NTP service, not routed.
                        Err(Dropped::Quietly)
                    } else {
                        Ok(publish.retain)
                    };
                    if verdict.is_ok() && publish.topic.starts_with("/ota/device/") {
                        crate::ota::device_published(pk, dn, publish.topic, publish.payload);
                    }
                    let (qos, packet_id) = (publish.qos, publish.packet_id);
                    match verdict {
                        Ok(retain) => {
                            if retain {
                                println!(
                                    "[sim] retain flag of a publish from pk={pk} dn={dn} ignored: retain is not supported by the platform"
                                );
                                raw[0] &= !0x01;
                            }
                            true
                        }
                        Err(Dropped::Disconnect(reason)) => return reason,
                        Err(Dropped::Quietly) => {
                            let reply = match (qos, packet_id) {
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
                    }
                }
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
                        let mut refused = Vec::new();
                        for (index, (filter, _)) in subscribe.filters.iter().enumerate() {
                            if let Err(why) = policy.may_subscribe(filter) {
                                println!(
                                    "[sim] REFUSED subscribe pk={pk} dn={dn} filter={filter}: {why}", filter = crate::quote::q(&filter)
                                );
                                refused.push(index);
                            }
                        }
                        let downgrade = subscribe.filters.iter().any(|(_, qos)| *qos > 1);
                        if refused.is_empty() && !downgrade {
                            true
                        } else if refused.len() == subscribe.filters.len() {
                            let codes = vec![0x80; refused.len()];
                            let suback = mqtt::suback_packet(subscribe.packet_id, &codes);
                            if let Err(e) = write_client(&client_write, &suback).await {
                                return format!("device write failed: {e}");
                            }
                            false
                        } else {
                            // QoS 2 is not supported: ask the broker for QoS 1.
                            let allowed: Vec<(String, u8)> = subscribe
                                .filters
                                .iter()
                                .enumerate()
                                .filter(|(index, _)| !refused.contains(index))
                                .map(|(_, (filter, qos))| (filter.clone(), (*qos).min(1)))
                                .collect();
                            if !refused.is_empty() {
                                pending
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(subscribe.packet_id, refused);
                            }
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
            if forward || inject.is_some() {
                let mut writer = broker_write.lock().await;
                if forward {
                    if let Err(e) = writer.write_all(&raw).await {
                        return format!("broker write failed: {e}");
                    }
                }
                if let Some(extra) = &inject {
                    if let Err(e) = writer.write_all(extra).await {
                        return format!("broker write failed: {e}");
                    }
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

    let commanded = async {
        match control.recv().await {
            Some(Control::Replaced) => {
                "another connection of the same device (ProductKey/DeviceName) replaced this one"
                    .to_string()
            }
            Some(Control::Disable) => {
                let topic = format!("/sys/{pk}/{dn}/thing/disable");
                let payload = format!(
                    "{{\"id\":\"{}\",\"version\":\"1.0\",\"params\":{{}},\"method\":\"thing.disable\"}}",
                    now_ms()
                );
                let _ = write_client(
                    &client_write,
                    &mqtt::publish_qos0(&topic, payload.as_bytes()),
                )
                .await;
                println!("[sim] pushed {topic} to pk={pk} dn={dn}");
                "the device was disabled (DisableThing)".to_string()
            }
            None => std::future::pending().await,
        }
    };

    let reason = tokio::select! {
        reason = upstream => reason,
        reason = downstream => reason,
        reason = commanded => reason,
    };
    let _ = client_write.lock().await.shutdown().await;
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(
            "a1PK",
            "dev1",
            &[
                ("user/update".into(), Access::Pub),
                ("user/update/error".into(), Access::Pub),
                ("user/get".into(), Access::Sub),
                ("user/+/cmd".into(), Access::All),
            ],
        )
    }

    #[test]
    fn topic_classes_and_system_topics() {
        let p = policy();
        for ok in [
            "/a1PK/dev1/user/update",
            "/a1PK/dev1/user/x/cmd",
            "/sys/a1PK/dev1/thing/event/property/post",
            "/ota/device/inform/a1PK/dev1",
            "/shadow/update/a1PK/dev1",
            "/ext/ntp/a1PK/dev1/request",
            "/ext/session/a1PK/dev1/combine/login",
        ] {
            assert_eq!(p.may_publish(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/a1PK/dev1/user/get",
            "/a1PK/dev1/user/other",
            "/a1PK/dev2/user/update",
            "/sys/a1PK/dev2/thing/event/property/post",
            "/ota/device/inform/a1PK/dev2",
            "/ota/device/other/a1PK/dev1",
            "/ext/ntp/a1PK/dev2/request",
            "/ext/anything",
            "/a1PK/dev1",
            "/a1PK/dev1/user/+",
        ] {
            assert!(p.may_publish(bad).is_err(), "{bad}");
        }
        for ok in [
            "/a1PK/dev1/user/get",
            "/a1PK/dev1/user/+/cmd",
            "/a1PK/dev1/user/q/cmd",
            "/sys/a1PK/dev1/thing/#",
            "/ext/ntp/a1PK/dev1/response",
            IDENTITY_TOPIC,
        ] {
            assert_eq!(p.may_subscribe(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/a1PK/dev1/user/update",
            "/a1PK/dev1/#",
            "/a1PK/dev1/user/#",
            "/a1PK/+/user/get",
            "/sys/a1PK/+/thing/#",
            "/ext/#",
            "#",
            "$SYS/x",
            "/a1PK/dev10/user/get",
        ] {
            assert!(p.may_subscribe(bad).is_err(), "{bad}");
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
            clean_session: true,
        }
    }

    fn shared(lenient_username: bool) -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path()).unwrap();
        let shared = Shared::new(
            store,
            "127.0.0.1:1".into(),
            lenient_username,
            Rules::defaults(),
            "cn-shanghai".into(),
            dir.path().to_path_buf(),
        );
        (dir, shared)
    }

    fn identity() -> CertIdentity {
        CertIdentity {
            product_key: "a1PK".into(),
            device_name: "dev1".into(),
            device_status: "enabled".into(),
            auth_type: "x509".into(),
        }
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
        assert_eq!(code(&strict, &good, &secret), Some(5));
        let mut disabled = identity();
        disabled.device_status = "disabled".into();
        assert_eq!(code(&strict, &good, &disabled), Some(5));
        let mut named = good.clone();
        for accepted in ["", "&", "dev1&a1PK"] {
            named.username = Some(accepted.into());
            assert_eq!(code(&strict, &named, &identity()), None, "{accepted:?}");
        }
        named.username = Some("dev2&a1PK".into());
        assert_eq!(code(&strict, &named, &identity()), Some(5));
        let (_dir2, lenient) = shared(true);
        assert_eq!(code(&lenient, &named, &identity()), None);
    }

    #[test]
    fn unknown_fingerprint_is_not_authorized() {
        let (_dir, shared) = shared(false);
        let refusal = peer_identity(&shared, &"ab".repeat(32)).err().unwrap();
        assert_eq!(refusal.code, 5);
    }

    #[test]
    fn connect_format_rules() {
        let rules = Rules::defaults();
        let check = |c: &mqtt::Connect| check_connect_format(&rules, c).err().map(|r| r.code);
        for ok in [
            "sn|securemode=2,signmethod=hmacsha1,timestamp=1|",
            "sn|securemode=2|",
            ".|timestamp=2524608000000,_v=sdk-c-3.2.0,securemode=2,signmethod=hmacsha256,lan=C,_ss=1,gw=0,ext=0|",
        ] {
            assert_eq!(check(&connect(ok, 30)), None, "{ok}");
            assert_eq!(check(&connect(ok, 65535)), None, "{ok}");
        }
        let good = "sn|securemode=2|";
        assert_eq!(check(&connect(good, 29)), Some(3));
        assert_eq!(check(&connect("sn|securemode=3|", 60)), Some(3));
        assert_eq!(check(&connect("sn|signmethod=hmacsha1|", 60)), Some(3));
        assert_eq!(
            check(&connect("sn|securemode=2,signmethod=sha1|", 60)),
            Some(3)
        );
        assert_eq!(check(&connect("sn|securemode=2", 60)), Some(3));
        assert_eq!(check(&connect("|securemode=2|", 60)), Some(3));
        let long = format!("{}|securemode=2|", "x".repeat(65));
        assert_eq!(check(&connect(&long, 60)), Some(3));
        let longest = format!("{}|securemode=2|", "x".repeat(64));
        assert_eq!(check(&connect(&longest, 60)), None);
        let mut old = connect(good, 60);
        old.protocol_name = "MQIsdp".into();
        old.protocol_level = 3;
        assert_eq!(check(&old), None);
        old.protocol_level = 4;
        assert_eq!(check(&old), Some(1));
        let mut five = connect(good, 60);
        five.protocol_level = 5;
        assert_eq!(check(&five), Some(1));
        let mut will = connect(good, 60);
        will.will_topic = Some("/a1PK/dev1/user/update".into());
        assert_eq!(check(&will), None, "wills are ignored by default");
    }

    #[test]
    fn ntp_answer_shape() {
        let answer = ntp_response(br#"{"deviceSendTime":"1700000000000"}"#, 5, 6).unwrap();
        assert_eq!(
            String::from_utf8(answer).unwrap(),
            r#"{"deviceSendTime":"1700000000000","serverRecvTime":"5","serverSendTime":"6"}"#
        );
        assert!(ntp_response(b"{}", 1, 2).is_err());
        assert!(ntp_response(b"garbage", 1, 2).is_err());
        assert!(ntp_response(br#"{"deviceSendTime":"soon"}"#, 1, 2).is_err());
    }
}
