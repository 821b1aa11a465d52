//! A fault-injecting loopback proxy between `mqtt::Client` and a real
//! mosquitto, and the session helpers the fault tests share.
//!
//! The proxy reassembles whole units (MQTT packets, or TLS records) in both
//! directions, so a fault hits an exact boundary: it drops, stalls,
//! half-closes, truncates or corrupts the connection at a chosen point. Most
//! faults apply to the first connection only; [`Fault::DropEachAfterSent`] hits
//! every connection, to drive one client through many reconnects.
//!
//! Use from a test file with `mod fault_proxy;` next to `mod mqtt_support;`
//! and `mod support;`. Each test binary compiles its own copy, so not every
//! helper is used everywhere.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use iotkit::mqtt::codec::{self, Framing};
use iotkit::mqtt::{Client, ClientError, Connector, Credentials, Options, QoS};
use iotkit::tls::{self, ClientCredentials, TlsConfig};
use iotkit::transport::{Transport, TransportError};

use crate::mqtt_support::*;
use crate::support::pki::Pki;

/// Upper bound for any single wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(20);

pub const CONNECT: u8 = 0x10;
pub const CONNACK: u8 = 0x20;
pub const DISCONNECT: u8 = 0xE0;
pub const PUBLISH: u8 = 0x30;
pub const SUBSCRIBE: u8 = 0x80;

/// What the proxy does to the first connection it relays (later ones pass),
/// except [`Fault::DropEachAfterSent`], which applies to every connection.
#[derive(Clone, Debug)]
pub enum Fault {
    None,
    /// Relay this many packets (both directions, in arrival order), then
    /// close both sockets.
    DropAfter(usize),
    /// Relay until the client sends its unit number `k` (from 0, counting
    /// only what the client sends), then close both sockets instead.
    DropAfterSent(usize),
    /// Every connection: the n-th (from 0) is closed like `DropAfterSent`
    /// with `k = min + n % spread`, so over many connections the cut lands
    /// at every point from `min` to `min + spread - 1` (inside the TLS
    /// handshake too, with TLS framing). Only the client's units count: a
    /// burst of queued messages from the broker cannot use up a
    /// connection's budget before the client's acknowledgements pass, so
    /// every long enough connection makes progress.
    DropEachAfterSent {
        min: usize,
        spread: usize,
    },
    /// After CONNACK, relay nothing more but keep both sockets open.
    StallAfterConnAck,
    /// After CONNACK, half-close towards the client (FIN) and relay nothing
    /// more, while still reading what the client sends.
    HalfCloseAfterConnAck,
    /// Relay only the first half of the first PUBLISH to the client, then close.
    TruncateFirstPublishToClient,
    /// Send these bytes to the client right after CONNACK.
    GarbageAfterConnAck(Vec<u8>),
    /// TLS stream: after `skip` application-data records to the client, cut
    /// the next one in half and close (`garbage: false`), or replace its body
    /// with bytes that fail authentication (`garbage: true`).
    TlsRecord {
        skip: usize,
        garbage: bool,
    },
}

impl Fault {
    /// The fault for connection `index` (from 0): every fault hits the
    /// first connection; only `DropEachAfterSent` hits the later ones too.
    fn for_connection(&self, index: usize) -> Fault {
        match self {
            Fault::DropEachAfterSent { min, spread } => {
                Fault::DropAfterSent(min + index % (*spread).max(1))
            }
            _ if index == 0 => self.clone(),
            _ => Fault::None,
        }
    }
}

/// The proxy's unit of relaying: MQTT packets, or TLS records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Mqtt,
    Tls,
}

/// Length of the first whole unit in `buf`, if complete.
pub fn unit_len(framing: Unit, buf: &[u8]) -> Option<usize> {
    let total = match framing {
        Unit::Mqtt => match codec::frame(buf) {
            Ok(Framing::Complete { total_len, .. }) => total_len,
            _ => return None,
        },
        // type(1) version(2) length(2), then the body.
        Unit::Tls if buf.len() >= 5 => 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]])),
        Unit::Tls => return None,
    };
    (buf.len() >= total).then_some(total)
}

pub const TLS_APPLICATION_DATA: u8 = 0x17;

/// Shared bookkeeping of one proxy.
#[derive(Default)]
pub struct Log {
    /// First byte of every packet the client sent, per connection (empty
    /// for a proxy started with `record: false`).
    pub client_packets: Vec<Vec<u8>>,
    /// Whole packets seen on the first connection, both directions.
    pub first_connection_packets: usize,
    pub fired: bool,
    /// How many times a fault fired, over all connections.
    pub fires: usize,
}

/// State the acceptor, the relays and the test share.
struct Shared {
    stop: AtomicBool,
    log: Mutex<Log>,
    /// Keep the per-packet log (`Log::client_packets`). Off for heap
    /// measurements: the log grows with every packet.
    record: bool,
    /// While set, new connections are closed at once, unrelayed.
    refusing: AtomicBool,
    /// Bumped by [`Proxy::cut_all`]; a link started under an older value closes.
    epoch: AtomicUsize,
    /// Relay threads not joined yet; finished ones are reaped on each accept.
    relays: Mutex<Vec<JoinHandle<()>>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start(broker: SocketAddr, fault: Fault) -> Proxy {
        Proxy::start_framed(broker, fault, Unit::Mqtt)
    }

    pub fn start_framed(broker: SocketAddr, fault: Fault, framing: Unit) -> Proxy {
        Proxy::launch(broker, fault, framing, true)
    }

    /// Like [`Proxy::start_framed`], but keeps no per-packet log, so the
    /// proxy's own heap does not grow with the traffic (heap measurements).
    pub fn start_quiet(broker: SocketAddr, fault: Fault, framing: Unit) -> Proxy {
        Proxy::launch(broker, fault, framing, false)
    }

    fn launch(broker: SocketAddr, fault: Fault, framing: Unit, record: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Log::default()),
            record,
            refusing: AtomicBool::new(false),
            epoch: AtomicUsize::new(0),
            relays: Mutex::new(Vec::with_capacity(8)),
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (shared, connections) = (shared.clone(), connections.clone());
            thread::spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if shared.refusing.load(Ordering::Acquire) {
                        drop(client);
                        continue;
                    }
                    let index = connections.fetch_add(1, Ordering::AcqRel);
                    let fault = fault.for_connection(index);
                    if shared.record {
                        shared.log.lock().unwrap().client_packets.push(Vec::new());
                    }
                    let relay_shared = shared.clone();
                    let handle = thread::spawn(move || {
                        relay(client, broker, fault, framing, index, &relay_shared)
                    });
                    let mut relays = shared.relays.lock().unwrap();
                    reap_finished(&mut relays);
                    relays.push(handle);
                }
            })
        };
        Proxy {
            addr,
            connections,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn fired(&self) -> bool {
        self.shared.log.lock().unwrap().fired
    }

    /// How many times the fault fired, over all connections.
    pub fn fires(&self) -> usize {
        self.shared.log.lock().unwrap().fires
    }

    pub fn client_packets(&self) -> Vec<Vec<u8>> {
        self.shared.log.lock().unwrap().client_packets.clone()
    }

    pub fn packets_on_first(&self) -> usize {
        self.shared.log.lock().unwrap().first_connection_packets
    }

    /// While `on`, new connections are closed as soon as they are accepted,
    /// like a broker that is down.
    pub fn set_refusing(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::Release);
    }

    /// Closes every link relaying now; later ones are not affected. A relay
    /// notices within its 100 ms read timeout.
    pub fn cut_all(&self) {
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Relay threads still running.
    pub fn live_links(&self) -> usize {
        let relays = self.shared.relays.lock().unwrap();
        relays.iter().filter(|h| !h.is_finished()).count()
    }

    /// Waits up to `timeout` until no link is relaying, then joins every
    /// relay thread, so their buffers and thread state are released (heap
    /// measurements). Returns whether it got there.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut relays = self.shared.relays.lock().unwrap();
                if relays.iter().all(JoinHandle::is_finished) {
                    for handle in relays.drain(..) {
                        let _ = handle.join();
                    }
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Joins the relay threads that have ended, keeping the list's capacity.
fn reap_finished(relays: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < relays.len() {
        if relays[i].is_finished() {
            let _ = relays.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the acceptor so its thread ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Per-connection shared state of the two relay directions.
pub struct Link {
    client: TcpStream,
    broker: TcpStream,
    fault: Fault,
    relayed: Mutex<usize>,
    framing: Unit,
    /// Application-data records sent to the client so far (TLS framing).
    app_records: AtomicUsize,
    /// Units the client sent so far.
    client_units: AtomicUsize,
    first: bool,
    /// The proxy's `cut_all` epoch when this link started.
    epoch: usize,
    /// Set once the proxy stops relaying (fault fired or one side closed).
    halted: AtomicBool,
    closed: AtomicBool,
}

pub enum Action {
    Forward,
    Replace(Vec<u8>),
    ForwardThen(Vec<u8>),
    Truncate,
    Close,
    Swallow,
}

impl Link {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.broker.shutdown(Shutdown::Both);
    }

    /// Decides the fate of one whole packet; `to_client` says its direction.
    fn decide(&self, packet: &[u8], to_client: bool, log: &Mutex<Log>) -> Action {
        let mut relayed = self.relayed.lock().unwrap();
        let sent_index = (!to_client).then(|| self.client_units.fetch_add(1, Ordering::AcqRel));
        if self.first {
            log.lock().unwrap().first_connection_packets += 1;
        }
        if self.halted.load(Ordering::Acquire) {
            return Action::Swallow;
        }
        let fire = |log: &Mutex<Log>| {
            self.halted.store(true, Ordering::Release);
            let mut log = log.lock().unwrap();
            log.fired = true;
            log.fires += 1;
        };
        let action = match &self.fault {
            Fault::DropAfter(k) if *relayed == *k => {
                fire(log);
                Action::Close
            }
            Fault::DropAfterSent(k) if sent_index == Some(*k) => {
                fire(log);
                Action::Close
            }
            Fault::StallAfterConnAck | Fault::HalfCloseAfterConnAck
                if to_client && packet[0] & 0xF0 == CONNACK =>
            {
                fire(log);
                if matches!(self.fault, Fault::HalfCloseAfterConnAck) {
                    let _ = (&self.client).write_all(packet);
                    let _ = self.client.shutdown(Shutdown::Write);
                    Action::Swallow
                } else {
                    Action::Forward
                }
            }
            Fault::TruncateFirstPublishToClient if to_client && packet[0] & 0xF0 == PUBLISH => {
                fire(log);
                Action::Truncate
            }
            Fault::GarbageAfterConnAck(bytes) if to_client && packet[0] & 0xF0 == CONNACK => {
                fire(log);
                Action::ForwardThen(bytes.clone())
            }
            Fault::TlsRecord { skip, garbage }
                if to_client && packet[0] == TLS_APPLICATION_DATA =>
            {
                if self.app_records.fetch_add(1, Ordering::AcqRel) < *skip {
                    Action::Forward
                } else {
                    fire(log);
                    if *garbage {
                        let mut forged = packet.to_vec();
                        for (i, byte) in forged[5..].iter_mut().enumerate() {
                            *byte ^= 0xA5 ^ (i as u8);
                        }
                        Action::Replace(forged)
                    } else {
                        Action::Truncate
                    }
                }
            }
            _ => Action::Forward,
        };
        *relayed += 1;
        action
    }
}

fn relay(
    client: TcpStream,
    broker_addr: SocketAddr,
    fault: Fault,
    framing: Unit,
    index: usize,
    shared: &Arc<Shared>,
) {
    // While the broker is down, refuse the client at once: it sees a closed
    // connection, like a real outage.
    let Ok(broker) = TcpStream::connect_timeout(&broker_addr, Duration::from_secs(2)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    for s in [&client, &broker] {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let link = Arc::new(Link {
        client,
        broker,
        fault,
        relayed: Mutex::new(0),
        framing,
        app_records: AtomicUsize::new(0),
        client_units: AtomicUsize::new(0),
        first: index == 0,
        epoch: shared.epoch.load(Ordering::Acquire),
        halted: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    });
    let down = {
        let (link, shared) = (link.clone(), shared.clone());
        thread::spawn(move || pump(&link, true, index, &shared))
    };
    pump(&link, false, index, shared);
    let _ = down.join();
}

/// Moves whole packets in one direction until either side closes.
fn pump(link: &Link, to_client: bool, index: usize, shared: &Shared) {
    let (mut from, mut to) = if to_client {
        (&link.broker, &link.client)
    } else {
        (&link.client, &link.broker)
    };
    let log = &shared.log;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !link.closed.load(Ordering::Acquire)
        && !shared.stop.load(Ordering::Acquire)
        && shared.epoch.load(Ordering::Acquire) == link.epoch
    {
        match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        while let Some(total_len) = unit_len(link.framing, &buf) {
            let packet: Vec<u8> = buf.drain(..total_len).collect();
            if !to_client && shared.record {
                log.lock().unwrap().client_packets[index].push(packet[0] & 0xF0);
            }
            match link.decide(&packet, to_client, log) {
                Action::Forward => {
                    let _ = to.write_all(&packet);
                }
                Action::Replace(bytes) => {
                    let _ = to.write_all(&bytes);
                }
                Action::ForwardThen(extra) => {
                    let _ = to.write_all(&packet);
                    let _ = to.write_all(&extra);
                }
                Action::Truncate => {
                    let _ = to.write_all(&packet[..packet.len() / 2]);
                    link.close();
                    return;
                }
                Action::Close => {
                    link.close();
                    return;
                }
                Action::Swallow => {}
            }
        }
    }
    link.close();
}

pub fn options() -> Options {
    Options {
        // Persistent session: the broker keeps QoS 1 messages for the client
        // while it is away, so "at least once" holds end to end.
        clean_session: false,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        ..test_options()
    }
}

/// Connects through the proxy, retrying when the fault hit the very first
/// connection before CONNACK (as firmware retries IOT_MQTT_Construct).
pub fn connect_via(proxy: &Proxy, client_id: &str, opts: Options, recorder: &Recorder) -> Client {
    let deadline = Instant::now() + LIMIT;
    loop {
        match Client::connect(
            opts.clone(),
            Box::new(TcpConnector::new(proxy.addr, client_id)),
            Some(recorder.handler()),
            None,
        ) {
            Ok(client) => return client,
            Err(e) => {
                assert!(Instant::now() < deadline, "never connected: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

pub fn received_payloads(recorder: &Recorder) -> Vec<String> {
    recorder
        .messages()
        .into_iter()
        .map(|(_, payload)| String::from_utf8(payload).unwrap())
        .collect()
}

/// Outcome of one session: distinct messages missing, duplicates seen.
pub struct Tally {
    pub lost: usize,
    pub duplicates: usize,
}

/// Subscribes to its own topic, publishes `count` QoS 1 messages and yields
/// until each came back at least once, then proves the client still works
/// with one more round trip. Returns the tally; panics on a timeout.
pub fn self_round_trip(proxy: &Proxy, client_id: &str, topic: &str, count: usize) -> Tally {
    let recorder = Recorder::default();
    let client = connect_via(proxy, client_id, options(), &recorder);
    client
        .subscribe(topic, QoS::AtLeastOnce, None)
        .expect("subscribe");
    let mut expected = BTreeSet::new();
    for i in 0..count {
        let payload = format!("{client_id}-{i}");
        publish_retrying(&client, topic, &payload);
        expected.insert(payload);
    }
    let all_back = |recorder: &Recorder| {
        let seen: BTreeSet<String> = received_payloads(recorder).into_iter().collect();
        expected.is_subset(&seen)
    };
    yield_until(&client, LIMIT, || all_back(&recorder));
    let received = received_payloads(&recorder);
    let distinct: BTreeSet<&String> = received.iter().collect();
    let lost = expected.iter().filter(|p| !distinct.contains(p)).count();
    let duplicates = received.len() - distinct.len();
    // Usable afterwards: one more message round trip on the same client.
    let last = format!("{client_id}-final");
    publish_retrying(&client, topic, &last);
    assert!(
        yield_until(&client, LIMIT, || received_payloads(&recorder)
            .contains(&last)),
        "{client_id}: no round trip after the fault; events {:?}",
        recorder.snapshot()
    );
    client.disconnect();
    Tally { lost, duplicates }
}

/// QoS 1 publish; only a full offline queue or inflight window is worth
/// retrying (after serving the client, which takes in acknowledgements).
pub fn publish_retrying(client: &Client, topic: &str, payload: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        match client.publish(topic, payload.as_bytes(), QoS::AtLeastOnce, false) {
            Ok(_) => return,
            Err(ClientError::OfflineQueueFull { .. } | ClientError::InflightFull { .. })
                if Instant::now() < deadline =>
            {
                let _ = client.yield_for(Duration::from_millis(20));
            }
            Err(e) => panic!("publish {payload}: {e}"),
        }
    }
}

/// Mutual TLS through the proxy to mosquitto (the library's TLS transport).
pub struct TlsConnector {
    pub addr: SocketAddr,
    pub config: TlsConfig,
    pub client_id: String,
}

impl Connector for TlsConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        tls::connect(
            "127.0.0.1",
            self.addr.port(),
            &self.config,
            Duration::from_secs(10),
        )
        .map(|c| Box::new(c) as Box<dyn Transport>)
        .map_err(|e| TransportError::Failed(e.to_string()))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: self.client_id.clone(),
            ..Default::default()
        }
    }
}

/// The test PKI's CA and EC client certificate, as the TLS transport takes them.
pub fn client_tls_config(pki: &Pki) -> TlsConfig {
    let credentials = ClientCredentials::from_pem_or_der(
        &pki.read("client_ec.crt"),
        &pki.read("client_ec.key"),
        None,
    )
    .unwrap();
    TlsConfig::new(&pki.read("ca.crt"), Some(Arc::new(credentials))).unwrap()
}
