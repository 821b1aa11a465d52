//! The MQTT client against a scripted server on 127.0.0.1: every path a
//! real broker will not take on request (refusals, malformed packets,
//! withheld acknowledgements, silence).

mod mqtt_support;
#[path = "support/ports.rs"]
mod ports;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use iotkit::events::{self, Registration};
use iotkit::mqtt::codec::{self, Framing, Packet, SubscribeFilters};
use iotkit::mqtt::{Client, ClientError, Connector, Credentials, Event, Handler, Options, QoS};
use iotkit::state;
use iotkit::transport::{Transport, TransportError};
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(20);

/// Every MQTT state event raised in this test binary.
static STATE_EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

fn record_state_events() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let handler = events::Handler::State(Arc::new(|code, message: &str| {
            STATE_EVENTS
                .lock()
                .unwrap()
                .push((code, message.to_owned()));
        }));
        events::register(
            events::state_area(state::STATE_MQTT_PUB_INFO),
            Some(Registration {
                address: 1,
                handler: handler.clone(),
            }),
        );
        events::register(
            events::state_area(state::STATE_SYS_DEPEND_NWK_CLOSE),
            Some(Registration {
                address: 2,
                handler,
            }),
        );
    });
}

fn state_event_seen(code: i32, fragment: &str) -> bool {
    STATE_EVENTS
        .lock()
        .unwrap()
        .iter()
        .any(|(c, m)| *c == code && m.contains(fragment))
}

struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// The next whole packet from the client, raw; `None` when the client
    /// closed the connection or sent nothing for 10 s.
    fn packet(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Ok(Framing::Complete { total_len, .. }) = codec::frame(&self.buf) {
                if self.buf.len() >= total_len {
                    return Some(self.buf.drain(..total_len).collect());
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next packet other than PINGREQ (answered).
    fn packet_skipping_pings(&mut self) -> Option<Vec<u8>> {
        loop {
            let packet = self.packet()?;
            if packet == [0xC0, 0] {
                self.send(&[0xD0, 0]);
                continue;
            }
            return Some(packet);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Reads CONNECT, answers CONNACK with `code`, returns the CONNECT.
    fn handshake_with(&mut self, code: u8) -> Vec<u8> {
        let connect = self.packet().expect("CONNECT");
        assert_eq!(connect[0], 0x10, "first packet is CONNECT");
        self.send(&[0x20, 2, 0, code]);
        connect
    }

    fn handshake(&mut self) -> Vec<u8> {
        self.handshake_with(0)
    }

    /// Waits until the client closes the connection.
    fn wait_closed(&mut self) {
        while self.packet().is_some() {}
    }
}

struct Server {
    listener: TcpListener,
}

impl Server {
    fn new() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Server { listener }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    fn accept(&self) -> Peer {
        let deadline = Instant::now() + LIMIT;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    return Peer {
                        stream,
                        buf: Vec::new(),
                    };
                }
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no client connected: {e}"),
            }
        }
    }
}

fn fast_options() -> Options {
    Options {
        keepalive: Duration::from_secs(30),
        clean_session: true,
        request_timeout: Duration::from_millis(1000),
        read_buf_size: 1024,
        write_buf_size: 1024,
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(40),
        offline_queue_limit: 10,
        inflight_window: 32,
    }
}

fn client_for(
    server: &Server,
    options: Options,
    recorder: &Recorder,
) -> Result<Client, ClientError> {
    Client::connect(
        options,
        Box::new(TcpConnector::new(server.addr(), "fake")),
        Some(recorder.handler()),
        None,
    )
}

#[test]
fn connack_refusals_map_to_state_codes() {
    record_state_events();
    let cases = [
        (
            1u8,
            state::STATE_MQTT_CONNACK_VERSION_UNACCEPT,
            "does not accept MQTT 3.1.1",
        ),
        (
            2,
            state::STATE_MQTT_CONNACK_IDENT_REJECT,
            "client identifier",
        ),
        (3, state::STATE_MQTT_CONNACK_SERVICE_NA, "unavailable"),
        (
            4,
            state::STATE_MQTT_CONNACK_BAD_USERDATA,
            "bad user name or password",
        ),
        (
            5,
            state::STATE_MQTT_CONNACK_NOT_AUTHORIZED,
            "not authorized",
        ),
    ];
    for (code, state_code, fragment) in cases {
        let server = Server::new();
        let script = thread::scope(|s| {
            let script = s.spawn(|| {
                let mut peer = server.accept();
                peer.handshake_with(code);
                peer.wait_closed();
            });
            let result = client_for(&server, fast_options(), &Recorder::default());
            let err = result.unwrap_err();
            assert_eq!(err, ClientError::Refused(code));
            assert_eq!(err.state_code(), state_code);
            assert!(err.to_string().contains(fragment), "{err}");
            script.join()
        });
        script.unwrap();
        // The error is returned, not raised: whoever called connect reports
        // it once (IOT_MQTT_Construct does), so no second event here.
        assert!(
            !state_event_seen(state_code, fragment),
            "connect raised its own state event for code {code}"
        );
    }
}

#[test]
fn connect_failures_are_reported() {
    record_state_events();
    // Nothing listens: the transport cannot open.
    let refusing = ports::RefusingPort::new();
    let port = refusing.port();
    let err = Client::connect(
        fast_options(),
        Box::new(TcpConnector::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "x",
        )),
        None,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Open(_)), "{err:?}");
    assert_eq!(err.state_code(), state::STATE_SYS_DEPEND_NWK_CLOSE);

    // A server that never answers CONNECT.
    let server = Server::new();
    thread::scope(|s| {
        s.spawn(|| {
            let mut peer = server.accept();
            peer.wait_closed();
        });
        let mut options = fast_options();
        options.request_timeout = Duration::from_millis(300);
        let err = client_for(&server, options, &Recorder::default()).unwrap_err();
        assert_eq!(err, ClientError::ConnAckTimeout);
        assert_eq!(err.state_code(), state::STATE_SYS_DEPEND_NWK_TIMEOUT);
    });

    // Options this core cannot work with.
    let mut options = fast_options();
    options.read_buf_size = 4;
    let err = client_for(&server, options, &Recorder::default()).unwrap_err();
    assert!(matches!(err, ClientError::InvalidOptions(_)));
    assert_eq!(err.state_code(), state::STATE_USER_INPUT_OUT_RANGE);
}

/// Hands out a new client id on every attempt, like a device that learnt
/// its identity between connects.
struct CountingConnector {
    addr: SocketAddr,
    attempts: AtomicUsize,
}

impl Connector for CountingConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        Ok(Box::new(Tcp::connect(self.addr, true)?))
    }

    fn credentials(&self) -> Credentials {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        Credentials {
            client_id: format!("dev-{n}"),
            username: "user".into(),
            password: b"secret".to_vec(),
        }
    }
}

#[test]
fn connect_carries_identity_and_reconnect_resubscribes() {
    let server = Server::new();
    let recorder = Recorder::default();
    thread::scope(|s| {
        let script = s.spawn(|| {
            let mut peer = server.accept();
            let connect = peer.handshake();
            let (Packet::Connect(c), _) = codec::decode(&connect).unwrap() else {
                panic!("not CONNECT")
            };
            assert_eq!(c.client_id, "dev-0");
            assert_eq!(c.username, Some("user"));
            assert_eq!(c.password, Some(&b"secret"[..]));
            assert_eq!(c.keep_alive, 30);
            assert!(c.clean_session);
            let subscribe = peer.packet_skipping_pings().unwrap();
            let (Packet::Subscribe(sub), _) = codec::decode(&subscribe).unwrap() else {
                panic!("not SUBSCRIBE")
            };
            assert_eq!(sub.filters, SubscribeFilters::List(&[("a/+", 1)]));
            let id = sub.packet_id.to_be_bytes();
            peer.send(&[0x90, 3, id[0], id[1], 1]);
            drop(peer); // connection lost

            let mut peer = server.accept();
            let connect = peer.handshake();
            let (Packet::Connect(c), _) = codec::decode(&connect).unwrap() else {
                panic!("not CONNECT")
            };
            assert_eq!(c.client_id, "dev-1");
            let subscribe = peer.packet_skipping_pings().unwrap();
            let (Packet::Subscribe(sub), _) = codec::decode(&subscribe).unwrap() else {
                panic!("not SUBSCRIBE")
            };
            assert_eq!(sub.filters, SubscribeFilters::List(&[("a/+", 1)]));
            let id = sub.packet_id.to_be_bytes();
            peer.send(&[0x90, 3, id[0], id[1], 1]);
            peer.send(&[0x30, 6, 0, 3, b'a', b'/', b'b', b'!']);
            peer.wait_closed();
        });
        let client = Client::connect(
            fast_options(),
            Box::new(CountingConnector {
                addr: server.addr(),
                attempts: AtomicUsize::new(0),
            }),
            Some(recorder.handler()),
            None,
        )
        .unwrap();
        client
            .subscribe_sync("a/+", QoS::AtLeastOnce, None, LIMIT)
            .unwrap();
        assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
        assert_eq!(recorder.count(|s| *s == Seen::Reconnected), 1);
        assert_eq!(recorder.messages(), vec![("a/b".to_owned(), b"!".to_vec())]);
        client.disconnect();
        script.join().unwrap();
    });
}

#[test]
fn malformed_packets_drop_the_connection_and_the_client_recovers() {
    record_state_events();
    let cases: Vec<(&[u8], i32, &str)> = vec![
        (&[0xF0, 0], state::STATE_MQTT_PACKET_READ_ERROR, "reserved"),
        (
            &[0xD1, 0],
            state::STATE_MQTT_PACKET_READ_ERROR,
            "fixed-header flags",
        ),
        (
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "longer than 4 bytes",
        ),
        (
            &[0x36, 3, 0, 1, b't'],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "QoS 3",
        ),
        (
            &[0x38, 3, 0, 1, b't'],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "DUP",
        ),
        (
            &[0x40, 3, 0, 1, 0],
            state::STATE_MQTT_PACKET_READ_ERROR,
            "remaining length 2",
        ),
        (
            &[0x30, 3, 0, 5, b't'],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "truncated",
        ),
        (
            &[0x30, 4, 0, 2, 0xC3, 0x28],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "UTF-8",
        ),
        (
            &[0x30, 3, 0, 1, 0],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "NUL",
        ),
        (
            &[0x40, 2, 0, 0],
            state::STATE_MQTT_PACKET_READ_ERROR,
            "identifier 0",
        ),
        (
            &[0x30, 3, 0, 1, b'#'],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "wildcards",
        ),
        (
            &[0x30, 2, 0, 0],
            state::STATE_MQTT_DESERIALIZE_PUB_ERROR,
            "empty",
        ),
        (
            &[0x90, 3, 0, 1, 3],
            state::STATE_MQTT_DESERIALIZE_SUBACK_ERROR,
            "SUBACK return code",
        ),
        (
            &[0x90, 2, 0, 1],
            state::STATE_MQTT_DESERIALIZE_SUBACK_ERROR,
            "no return code",
        ),
        (
            &[0xB0, 1, 0],
            state::STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR,
            "remaining length 2",
        ),
        (
            &[0x20, 2, 2, 0],
            state::STATE_MQTT_DESERIALIZE_CONNACK_ERROR,
            "acknowledge flags",
        ),
        (
            &[0x20, 2, 0, 0],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent CONNACK",
        ),
        (
            &[0x82, 6, 0, 1, 0, 1, b'a', 0],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent SUBSCRIBE",
        ),
        (
            &[0xC0, 0],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent PINGREQ",
        ),
        (
            &[0x50, 2, 0, 1],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent PUBREC",
        ),
        (
            &[0x62, 2, 0, 1],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent PUBREL",
        ),
        (
            &[0x70, 2, 0, 1],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent PUBCOMP",
        ),
        (
            &[0xE0, 0],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "sent DISCONNECT",
        ),
        (
            &[0x34, 5, 0, 1, b't', 0, 1],
            state::STATE_MQTT_RECV_UNKNOWN_PACKET,
            "QoS 2",
        ),
    ];
    let server = Server::new();
    let recorder = Recorder::default();
    let alive = Mutex::new(Vec::new());
    thread::scope(|s| {
        s.spawn(|| {
            for (bytes, _, _) in &cases {
                let mut peer = server.accept();
                peer.handshake();
                peer.send(bytes);
                peer.wait_closed();
            }
            let mut peer = server.accept();
            peer.handshake();
            let publish = peer.packet_skipping_pings().unwrap();
            alive.lock().unwrap().push(publish);
            peer.wait_closed();
        });
        let client = client_for(&server, fast_options(), &recorder).unwrap();
        assert!(yield_until(&client, Duration::from_secs(60), || {
            recorder.count(|s| *s == Seen::Reconnected) == cases.len() && client.is_connected()
        }));
        client
            .publish("still/alive", b"yes", QoS::AtMostOnce, false)
            .unwrap();
        assert!(yield_until(&client, LIMIT, || !alive
            .lock()
            .unwrap()
            .is_empty()));
        client.disconnect();
    });
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), cases.len());
    let publish = alive.into_inner().unwrap().pop().unwrap();
    assert!(
        matches!(codec::decode(&publish).unwrap().0, Packet::Publish(p) if p.payload == b"yes")
    );
    for (bytes, code, fragment) in &cases {
        assert!(
            state_event_seen(*code, fragment),
            "no state event {code} '{fragment}' for {bytes:02X?}"
        );
    }
}

#[test]
fn suback_failure_is_a_nack() {
    let server = Server::new();
    let recorder = Recorder::default();
    thread::scope(|s| {
        s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            while let Some(packet) = peer.packet_skipping_pings() {
                if let (Packet::Subscribe(sub), _) = codec::decode(&packet).unwrap() {
                    let id = sub.packet_id.to_be_bytes();
                    peer.send(&[0x90, 3, id[0], id[1], 0x80]);
                }
            }
        });
        let client = client_for(&server, fast_options(), &recorder).unwrap();
        let err = client
            .subscribe_sync("denied/+", QoS::AtMostOnce, None, LIMIT)
            .unwrap_err();
        assert_eq!(err, ClientError::SubscribeRefused);
        let id = client
            .subscribe("denied/2", QoS::AtLeastOnce, None)
            .unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::SubscribeNack(id))
            == 1));
        assert_eq!(recorder.count(|s| matches!(s, Seen::SubscribeAck(_))), 0);
        client.disconnect();
    });
}

#[test]
fn unacknowledged_qos1_is_resent_with_dup_after_reconnect() {
    let server = Server::new();
    let recorder = Recorder::default();
    thread::scope(|s| {
        let script = s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            let first = peer.packet_skipping_pings().unwrap();
            let (Packet::Publish(p), _) = codec::decode(&first).unwrap() else {
                panic!("not PUBLISH")
            };
            assert!(!p.dup);
            assert_eq!(p.qos, 1);
            let id = p.packet_id;
            drop(peer); // no PUBACK: the client must resend after reconnecting

            let mut peer = server.accept();
            peer.handshake();
            let again = peer.packet_skipping_pings().unwrap();
            let (Packet::Publish(p), _) = codec::decode(&again).unwrap() else {
                panic!("not PUBLISH")
            };
            assert!(p.dup, "resend carries DUP");
            assert_eq!(
                (p.packet_id, p.topic, p.payload),
                (id, "q/1", &b"payload"[..])
            );
            let b = id.to_be_bytes();
            peer.send(&[0x40, 2, b[0], b[1]]);
            peer.wait_closed();
            id
        });
        let client = client_for(&server, fast_options(), &recorder).unwrap();
        let id = client
            .publish("q/1", b"payload", QoS::AtLeastOnce, false)
            .unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::PublishAck(id))
            == 1));
        client.disconnect();
        assert_eq!(script.join().unwrap(), id);
    });
}

/// MQTT 3.1.1 §4.4: while the link is up, an unacknowledged QoS 1 message
/// is neither resent nor dropped (the vendor's client resent it every
/// request timeout and then dropped it); it goes again, with DUP, only
/// after a reconnect.
#[test]
fn unacknowledged_qos1_is_kept_while_the_link_is_up() {
    let server = Server::new();
    let recorder = Recorder::default();
    let seen = Mutex::new(Vec::new());
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (server_ref, seen_ref) = (&server, &seen);
    thread::scope(|s| {
        s.spawn(move || {
            let (server, seen) = (server_ref, seen_ref);
            let mut peer = server.accept();
            peer.handshake();
            // Never acknowledged on this link: read until told to drop it.
            peer.stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            while released.try_recv().is_err() {
                if let Some(packet) = peer.packet() {
                    if let (Packet::Publish(p), _) = codec::decode(&packet).unwrap() {
                        seen.lock().unwrap().push((p.packet_id, p.dup));
                    }
                }
            }
            drop(peer);
            let mut peer = server.accept();
            peer.handshake();
            let again = peer.packet_skipping_pings().unwrap();
            let (Packet::Publish(p), _) = codec::decode(&again).unwrap() else {
                panic!("not PUBLISH")
            };
            seen.lock().unwrap().push((p.packet_id, p.dup));
            let b = p.packet_id.to_be_bytes();
            peer.send(&[0x40, 2, b[0], b[1]]);
            peer.wait_closed();
        });
        let mut options = fast_options();
        options.request_timeout = Duration::from_millis(100);
        let client = client_for(&server, options, &recorder).unwrap();
        let id = client
            .publish("q/2", b"never acked", QoS::AtLeastOnce, false)
            .unwrap();
        // Ten request timeouts on a live link.
        let until = Instant::now() + Duration::from_millis(1000);
        while Instant::now() < until {
            client.yield_for(Duration::from_millis(50)).unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), [(id, false)], "sent once only");
        assert_eq!(recorder.count(|s| *s == Seen::PublishTimeout(id)), 0);
        assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
        assert_eq!(client.inflight(), 1);
        release.send(()).unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::PublishAck(id))
            == 1));
        assert_eq!(*seen.lock().unwrap(), [(id, false), (id, true)]);
        assert_eq!(client.inflight(), 0);
        client.disconnect();
    });
}

#[test]
fn missing_pingresp_drops_and_reconnects() {
    record_state_events();
    let server = Server::new();
    let recorder = Recorder::default();
    thread::scope(|s| {
        s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            let ping = peer.packet().unwrap();
            assert_eq!(ping, [0xC0, 0]);
            // No PINGRESP: the client must give up on this connection.
            peer.wait_closed();
            let mut peer = server.accept();
            peer.handshake();
            peer.wait_closed();
        });
        let mut options = fast_options();
        options.keepalive = Duration::from_secs(1);
        options.request_timeout = Duration::from_millis(300);
        let client = client_for(&server, options, &recorder).unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::Reconnected)
            == 1));
        assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 1);
        client.disconnect();
    });
    assert!(state_event_seen(
        state::STATE_SYS_DEPEND_NWK_TIMEOUT,
        "PINGREQ"
    ));
}

#[test]
fn incoming_qos1_is_acknowledged_after_the_handler() {
    let server = Server::new();
    let handled = Arc::new(AtomicBool::new(false));
    let intercepted = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let script = s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            // Intercepted (consumed) QoS 1 message: still acknowledged.
            peer.send(&[0x32, 9, 0, 5, b'/', b'e', b'x', b't', b'/', 0x00, 0x07]);
            let ack = peer.packet_skipping_pings().unwrap();
            assert_eq!(ack, [0x40, 2, 0x00, 0x07]);
            // Normal QoS 1 message, with DUP set as a redelivery would.
            peer.send(&[0x3A, 8, 0, 3, b'x', b'/', b'y', 0x12, 0x34, b'!']);
            let ack = peer.packet_skipping_pings().unwrap();
            assert_eq!(ack, [0x40, 2, 0x12, 0x34]);
            handled.load(Ordering::SeqCst)
        });
        let handler: Handler = {
            let handled = Arc::clone(&handled);
            Arc::new(move |event: &Event<'_>| {
                if let Event::Message(m) = event {
                    assert!(m.dup);
                    assert_eq!(m.packet_id, 0x1234);
                    thread::sleep(Duration::from_millis(50));
                    handled.store(true, Ordering::SeqCst);
                }
            })
        };
        let interceptor = {
            let intercepted = Arc::clone(&intercepted);
            Arc::new(move |m: &iotkit::mqtt::Message<'_>| {
                if m.topic.starts_with("/ext/") {
                    intercepted.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
                false
            })
        };
        let client = Client::connect(
            fast_options(),
            Box::new(TcpConnector::new(server.addr(), "acker")),
            Some(handler),
            Some(interceptor),
        )
        .unwrap();
        assert!(yield_until(&client, LIMIT, || script.is_finished()));
        assert!(
            script.join().unwrap(),
            "PUBACK came before the handler finished"
        );
        assert_eq!(intercepted.load(Ordering::SeqCst), 1);
        client.disconnect();
    });
}

#[test]
fn oversized_incoming_qos1_is_skipped_and_acknowledged() {
    let server = Server::new();
    let recorder = Recorder::default();
    thread::scope(|s| {
        let script = s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            let mut big = vec![0x32, 0x83, 0x04, 0, 1, b'b', 0, 77];
            big.extend_from_slice(&[b'z'; 512 + 3 - 5]);
            assert!(matches!(codec::decode(&big), Ok((Packet::Publish(_), _))));
            peer.send(&big);
            peer.send(&[0x30, 4, 0, 1, b's', b'!']);
            let ack = peer.packet_skipping_pings().unwrap();
            assert_eq!(ack, [0x40, 2, 0, 77]);
            peer.wait_closed();
            big.len()
        });
        let mut options = fast_options();
        options.read_buf_size = 64;
        let client = client_for(&server, options, &recorder).unwrap();
        assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
        assert_eq!(recorder.messages(), vec![("s".to_owned(), b"!".to_vec())]);
        client.disconnect();
        let total = script.join().unwrap();
        assert_eq!(
            recorder.count(|s| *s
                == Seen::BufferOverflow {
                    needed: total,
                    limit: 64
                }),
            1
        );
        assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
    });
}

#[test]
fn disconnect_from_inside_a_handler_closes_quietly() {
    let server = Server::new();
    let recorder = Recorder::default();
    let slot: Arc<std::sync::OnceLock<std::sync::Weak<Client>>> = Arc::default();
    thread::scope(|s| {
        let script = s.spawn(|| {
            let mut peer = server.accept();
            peer.handshake();
            peer.send(&[0x32, 6, 0, 1, b'q', 0, 9, b'!']);
            // The handler disconnects before the PUBACK could be sent.
            let rest: Vec<Vec<u8>> = std::iter::from_fn(|| peer.packet()).collect();
            rest
        });
        let handler: Handler = {
            let slot = Arc::clone(&slot);
            let record = recorder.handler();
            Arc::new(move |event: &Event<'_>| {
                record(event);
                if let (Event::Message(_), Some(client)) =
                    (event, slot.get().and_then(std::sync::Weak::upgrade))
                {
                    client.disconnect();
                }
            })
        };
        let client = Arc::new(
            Client::connect(
                fast_options(),
                Box::new(TcpConnector::new(server.addr(), "quiet")),
                Some(handler),
                None,
            )
            .unwrap(),
        );
        slot.set(Arc::downgrade(&client)).unwrap();
        let mut result = Ok(());
        let deadline = Instant::now() + LIMIT;
        while result.is_ok() && Instant::now() < deadline {
            result = client.yield_for(Duration::from_millis(50));
        }
        assert_eq!(result, Err(ClientError::Closed));
        assert_eq!(recorder.messages().len(), 1);
        assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
        assert_eq!(recorder.count(|s| *s == Seen::Reconnected), 0);
        // The server saw DISCONNECT and nothing else.
        assert_eq!(script.join().unwrap(), vec![vec![0xE0, 0]]);
    });
}

#[test]
fn zero_timeout_yield_still_reads() {
    for readiness in [true, false] {
        let server = Server::new();
        let recorder = Recorder::default();
        thread::scope(|s| {
            s.spawn(|| {
                let mut peer = server.accept();
                peer.handshake();
                peer.send(&[0x30, 4, 0, 1, b'z', b'0']);
                peer.wait_closed();
            });
            let mut connector = TcpConnector::new(server.addr(), "zero");
            connector.readiness = readiness;
            let client = Client::connect(
                fast_options(),
                Box::new(connector),
                Some(recorder.handler()),
                None,
            )
            .unwrap();
            let deadline = Instant::now() + LIMIT;
            while recorder.messages().is_empty() && Instant::now() < deadline {
                client.yield_for(Duration::ZERO).unwrap();
            }
            assert_eq!(recorder.messages(), vec![("z".to_owned(), b"0".to_vec())]);
            client.disconnect();
        });
    }
}
