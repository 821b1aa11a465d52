//! The session against a real broker: mosquitto on 127.0.0.1, driven by a
//! minimal blocking std driver written here (TCP, a clock, a read timeout).
//! Skipped with a note when /usr/sbin/mosquitto is not installed.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iotkit_core::mqtt::session::{
    Config, DisconnectReason, Event, QoS, Session, State, TransportError,
};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const LIMIT: Duration = Duration::from_secs(20);

struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    /// A fresh mosquitto with `extra` configuration lines, or None when it
    /// is not installed.
    fn start(name: &str, extra: &str) -> Option<Broker> {
        if !std::path::Path::new(MOSQUITTO).exists() {
            eprintln!("{MOSQUITTO} is not installed: skipped");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mosquitto-{name}-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Running as root, mosquitto would drop to its own user unless told
        // to stay root.
        let user = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n{user}persistence false\n\
             max_queued_messages 1000\n{extra}\n"
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs");
        let broker = Broker { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(broker.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(broker)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Connected(bool),
    Down(DisconnectReason),
    Msg(String, Vec<u8>, bool),
    Acked(u16),
    GaveUp(u16, u32),
    SubAcked(u16, Option<QoS>),
    Other,
}

/// Runs one session over TCP.
struct Driver {
    session: Session,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    start: Instant,
    buf: Vec<u8>,
    /// Bytes of SUBSCRIBE packets written (to see that none was re-sent).
    subscribes_written: usize,
}

impl Driver {
    fn new(config: Config, addr: SocketAddr) -> Driver {
        Driver {
            session: Session::new(config).unwrap(),
            addr,
            stream: None,
            start: Instant::now(),
            buf: vec![0u8; 4096],
            subscribes_written: 0,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn open(&mut self) {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        self.stream = Some(stream);
        let now = self.now();
        self.session.connect(now).unwrap();
    }

    /// Writes, reads and runs timers until `done` holds for the events
    /// seen so far (or the limit passes). Returns the events.
    fn run_until(&mut self, mut done: impl FnMut(&[Ev]) -> bool) -> Vec<Ev> {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        while !done(&seen) {
            assert!(
                Instant::now() < deadline,
                "not done within {LIMIT:?}: {seen:?}"
            );
            let now = self.now();
            while let Some(packet) = self.session.poll_transmit(now) {
                if packet[0] >> 4 == 8 {
                    self.subscribes_written += 1;
                }
                let result = match self.stream.as_mut() {
                    Some(stream) => stream.write_all(packet),
                    None => Err(ErrorKind::NotConnected.into()),
                };
                if result.is_err() {
                    self.session.transport_failed(TransportError::Write);
                    break;
                }
            }
            if let Some(stream) = self.stream.as_mut() {
                match stream.read(&mut self.buf) {
                    Ok(0) => self.session.transport_failed(TransportError::Closed),
                    Ok(n) => self.session.receive(&self.buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => self.session.transport_failed(TransportError::Read),
                }
            }
            self.session.handle_timeout(self.now());
            while let Some(event) = self.session.poll_event() {
                seen.push(match event {
                    Event::Connected { session_present } => Ev::Connected(session_present),
                    Event::Disconnected { reason } => Ev::Down(reason),
                    Event::Message(m) => Ev::Msg(m.topic.to_owned(), m.payload.to_vec(), m.dup),
                    Event::PublishAcked { packet_id } => Ev::Acked(packet_id),
                    Event::PublishGaveUp {
                        packet_id,
                        attempts,
                    } => Ev::GaveUp(packet_id, attempts),
                    Event::SubscribeAcked { packet_id, granted } => {
                        Ev::SubAcked(packet_id, granted)
                    }
                    _ => Ev::Other,
                });
            }
            if self.session.state() == State::Down {
                self.stream = None;
            }
        }
        seen
    }
}

/// A device subscribed with a persistent session goes offline; 10 QoS 1
/// messages are published for it meanwhile; it reconnects with the same
/// session (the same client id, fixed once): the broker resumes the
/// session, nothing is re-subscribed, and all 10 arrive.
#[test]
fn messages_queued_while_offline_arrive_after_a_reconnect() {
    let Some(broker) = Broker::start("queued", "") else {
        return;
    };
    let mut config = Config::new("pk.dn|securemode=2,timestamp=1700000000000|");
    config.clean_session = false;
    let mut device = Driver::new(config, broker.addr());
    device.open();
    device.run_until(|e| e.iter().any(|e| matches!(e, Ev::Connected(_))));
    let sub = device
        .session
        .subscribe("dev/inbox", QoS::AtLeastOnce)
        .unwrap();
    device.run_until(|e| e.contains(&Ev::SubAcked(sub, Some(QoS::AtLeastOnce))));
    assert_eq!(device.subscribes_written, 1);
    device.session.disconnect();
    device.run_until(|e| e.contains(&Ev::Down(DisconnectReason::Requested)));

    let mut sender = Driver::new(Config::new("sender"), broker.addr());
    sender.open();
    sender.run_until(|e| e.iter().any(|e| matches!(e, Ev::Connected(_))));
    let ids: Vec<u16> = (0..10)
        .map(|i| {
            sender
                .session
                .publish(
                    "dev/inbox",
                    format!("m{i}").as_bytes(),
                    QoS::AtLeastOnce,
                    false,
                )
                .unwrap()
        })
        .collect();
    sender.run_until(|e| ids.iter().all(|id| e.contains(&Ev::Acked(*id))));

    device.open();
    let events = device.run_until(|e| e.iter().filter(|e| matches!(e, Ev::Msg(..))).count() == 10);
    assert_eq!(
        events[0],
        Ev::Connected(true),
        "the broker resumed the session"
    );
    let payloads: Vec<Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            Ev::Msg(topic, payload, _) if topic == "dev/inbox" => Some(payload.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<Vec<u8>> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
    assert_eq!(payloads, expected, "10 of 10, in order");
    assert_eq!(
        device.subscribes_written, 1,
        "no re-subscribe with session present"
    );
}

/// The broker drops the link on any packet above 200 bytes. A QoS 1
/// message of 300 bytes is sent, refused, resent after each reconnect and
/// given up after 3 attempts; the next message gets through.
#[test]
fn a_message_the_broker_refuses_is_given_up_and_the_next_gets_through() {
    let Some(broker) = Broker::start("refuse", "max_packet_size 200") else {
        return;
    };
    let mut config = Config::new("refused-device");
    config.max_publish_attempts = 3;
    let mut device = Driver::new(config, broker.addr());
    device.open();
    device.run_until(|e| e.iter().any(|e| matches!(e, Ev::Connected(_))));
    let big = device
        .session
        .publish("dev/big", &[0x42; 300], QoS::AtLeastOnce, false)
        .unwrap();
    let good = device
        .session
        .publish("dev/ok", b"small", QoS::AtLeastOnce, false)
        .unwrap();
    let mut attempts = 0;
    let mut all = Vec::new();
    while !all.iter().any(|e| matches!(e, Ev::GaveUp(..))) {
        let events =
            device.run_until(|e| e.iter().any(|e| matches!(e, Ev::Down(_) | Ev::GaveUp(..))));
        attempts += events.iter().filter(|e| matches!(e, Ev::Down(_))).count();
        all.extend(events);
        if !all.iter().any(|e| matches!(e, Ev::GaveUp(..))) {
            device.open();
        }
        assert!(attempts <= 3, "{all:?}");
    }
    assert!(all.contains(&Ev::GaveUp(big, 3)), "{all:?}");
    assert_eq!(attempts, 3);
    assert!(!all.contains(&Ev::Acked(good)));
    // After giving up, the next message is the first in line and is
    // acknowledged.
    device.open();
    let events = device.run_until(|e| e.contains(&Ev::Acked(good)));
    assert!(
        !events.iter().any(|e| matches!(e, Ev::Down(_))),
        "{events:?}"
    );
    assert_eq!(device.session.inflight(), 0);
}
