//! Shared pieces of the MQTT integration tests: a mosquitto broker on
//! 127.0.0.1, a plain TCP transport, and event collection.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotkit::mqtt::{Client, ClientError, Connector, Credentials, Event, Handler, Options, QoS};
use iotkit::transport::{Transport, TransportError};

/// A port nothing listens on right now (bound to port 0, then released):
/// another process may take it at any time, so a server started on it must
/// detect that and try another ([`Broker::start`] does).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts mosquitto with the configuration in `dir` and waits (bounded)
/// until its log says it is running, or it has exited because the port is
/// taken. Any other failure panics with the log.
fn launch_once(dir: &Path) -> Launch {
    let log_path = dir.join("mosquitto.log");
    let seen = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
    let mut child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read(&log_path).unwrap_or_default();
        let this_launch = String::from_utf8_lossy(log.get(seen..).unwrap_or_default());
        if this_launch
            .lines()
            .any(|l| l.contains("mosquitto version") && l.ends_with(" running"))
        {
            return Launch::Running(child);
        }
        if child.try_wait().unwrap().is_some() {
            assert!(
                this_launch.contains("Address already in use"),
                "mosquitto exited:\n{this_launch}"
            );
            return Launch::PortTaken;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mosquitto did not start within 10 s:\n{this_launch}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A mosquitto broker in a temporary directory, killed on drop.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// How one mosquitto launch ended.
enum Launch {
    Running(Child),
    /// Another process holds the port (mosquitto exited saying so).
    PortTaken,
}

impl Broker {
    /// Starts mosquitto on a free port. The port is chosen before mosquitto
    /// binds it, so another process can take it in between: mosquitto then
    /// exits with "Address already in use" and another port is tried.
    pub fn start() -> Broker {
        Broker::start_trying(&[])
    }

    /// Like [`Broker::start`], trying `ports` first (a test holds one to
    /// check that a taken port is detected and another one tried).
    pub fn start_trying(ports: &[u16]) -> Broker {
        Broker::start_configured(ports, "")
    }

    /// Like [`Broker::start`] with `extra` lines appended to mosquitto.conf
    /// (e.g. "max_packet_size 1000\n").
    pub fn start_with(extra: &str) -> Broker {
        Broker::start_configured(&[], extra)
    }

    fn start_configured(ports: &[u16], extra: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        for attempt in 0..8 {
            let port = ports.get(attempt).copied().unwrap_or_else(free_port);
            let conf = format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n\
                 persistence_location {}/\nmax_queued_messages 100000\nmax_inflight_messages 0\n\
                 log_dest file {}/mosquitto.log\nlog_type all\n{extra}",
                dir.path().display(),
                dir.path().display()
            );
            std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
            if let Launch::Running(child) = launch_once(dir.path()) {
                return Broker {
                    port,
                    dir,
                    child: Some(child),
                };
            }
        }
        panic!("mosquitto found no free port in 8 attempts");
    }

    /// Starts mosquitto again on the same port (clients reconnect to it).
    /// The port was just released by mosquitto itself, so another process
    /// taking it is unlikely; retried for a few seconds all the same.
    fn launch(&mut self) {
        for _ in 0..20 {
            if let Launch::Running(child) = launch_once(self.dir.path()) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("mosquitto could not bind port {} again", self.port);
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops the broker (SIGTERM, so it saves its persistent state).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn sub_id(topic: &str) -> String {
        format!("sub-{}", topic.replace('/', "-"))
    }

    /// Whether the broker log shows a SUBSCRIBE from `client_id`.
    pub fn has_subscribed(&self, client_id: &str) -> bool {
        std::fs::read_to_string(self.log_path())
            .map(|log| log.contains(&format!("Received SUBSCRIBE from {client_id}\n")))
            .unwrap_or(false)
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    /// `mosquitto_sub` receiving `count` messages on `topic`, printing
    /// payloads; its client id is `sub-` plus the topic without slashes.
    pub fn sub(&self, topic: &str, count: usize, qos: u8) -> Child {
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic])
            .args(["-i", &Broker::sub_id(topic)])
            .args(["-C", &count.to_string(), "-q", &qos.to_string(), "-W", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub runs")
    }

    /// `mosquitto_pub` sending one message per line of `lines`.
    pub fn pub_lines(&self, topic: &str, lines: &str, qos: u8) {
        let mut child = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic])
            .args(["-q", &qos.to_string(), "-l"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_pub runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
    }

    pub fn pub_message(&self, topic: &str, message: &[u8], qos: u8, retain: bool) {
        let mut command = Command::new("mosquitto_pub");
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", topic])
            .args(["-q", &qos.to_string(), "-s"]);
        if retain {
            command.arg("-r");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_pub runs");
        child.stdin.take().unwrap().write_all(message).unwrap();
        assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) for a `mosquitto_sub` to finish and returns its lines.
pub fn sub_output(mut child: Child) -> Vec<String> {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    out.lines().map(str::to_owned).collect()
}

/// Plain TCP, optionally without a readiness handle (to exercise the
/// short-timed-read fallback).
pub struct Tcp {
    stream: TcpStream,
    readiness: bool,
}

impl Tcp {
    pub fn connect(addr: SocketAddr, readiness: bool) -> Result<Tcp, TransportError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| TransportError::Failed(format!("connect {addr}: {e}")))?;
        stream.set_nodelay(true).unwrap();
        Ok(Tcp { stream, readiness })
    }
}

fn io_error(e: std::io::Error) -> Result<usize, TransportError> {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Ok(0),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
            Err(TransportError::PeerClosed)
        }
        _ => Err(TransportError::Failed(e.to_string())),
    }
}

impl Transport for Tcp {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
        match self.stream.read(buf) {
            Ok(0) => Err(TransportError::PeerClosed),
            Ok(n) => Ok(n),
            Err(e) => io_error(e),
        }
    }

    fn write(&mut self, buf: &[u8], timeout: Duration) -> Result<usize, TransportError> {
        self.stream
            .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
        match self.stream.write(buf) {
            Ok(n) => Ok(n),
            Err(e) => io_error(e),
        }
    }

    fn readiness_handle(&self) -> Option<TcpStream> {
        if self.readiness {
            self.stream.try_clone().ok()
        } else {
            None
        }
    }
}

/// Connects to one address; counts how often it was asked to.
pub struct TcpConnector {
    pub addr: SocketAddr,
    pub client_id: String,
    pub readiness: bool,
    pub opens: Arc<Mutex<usize>>,
}

impl TcpConnector {
    pub fn new(addr: SocketAddr, client_id: &str) -> TcpConnector {
        TcpConnector {
            addr,
            client_id: client_id.to_owned(),
            readiness: true,
            opens: Arc::default(),
        }
    }
}

impl Connector for TcpConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        *self.opens.lock().unwrap() += 1;
        Ok(Box::new(Tcp::connect(self.addr, self.readiness)?))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: self.client_id.clone(),
            username: String::new(),
            password: Vec::new(),
        }
    }
}

/// An event with its borrows copied out, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected,
    Disconnected,
    Reconnected,
    SubscribeAck(u16),
    SubscribeNack(u16),
    SubscribeTimeout(u16),
    UnsubscribeAck(u16),
    UnsubscribeTimeout(u16),
    PublishAck(u16),
    PublishTimeout(u16),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        dup: bool,
        retain: bool,
    },
    BufferOverflow {
        needed: usize,
        limit: usize,
    },
}

impl Seen {
    pub fn of(event: &Event<'_>) -> Seen {
        match *event {
            Event::Connected => Seen::Connected,
            Event::Disconnected => Seen::Disconnected,
            Event::Reconnected => Seen::Reconnected,
            Event::SubscribeAck { packet_id } => Seen::SubscribeAck(packet_id),
            Event::SubscribeNack { packet_id } => Seen::SubscribeNack(packet_id),
            Event::SubscribeTimeout { packet_id } => Seen::SubscribeTimeout(packet_id),
            Event::UnsubscribeAck { packet_id } => Seen::UnsubscribeAck(packet_id),
            Event::UnsubscribeTimeout { packet_id } => Seen::UnsubscribeTimeout(packet_id),
            Event::PublishAck { packet_id } => Seen::PublishAck(packet_id),
            Event::PublishTimeout { packet_id } => Seen::PublishTimeout(packet_id),
            Event::Message(m) => Seen::Message {
                topic: m.topic.to_owned(),
                payload: m.payload.to_vec(),
                qos: m.qos,
                dup: m.dup,
                retain: m.retain,
            },
            Event::BufferOverflow { needed, limit, .. } => Seen::BufferOverflow { needed, limit },
        }
    }
}

/// Records every event a handler gets.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn handler(&self) -> Handler {
        let seen = Arc::clone(&self.seen);
        Arc::new(move |event: &Event<'_>| seen.lock().unwrap().push(Seen::of(event)))
    }

    pub fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&Seen) -> bool) -> usize {
        self.seen.lock().unwrap().iter().filter(|s| pred(s)).count()
    }

    pub fn messages(&self) -> Vec<(String, Vec<u8>)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s {
                Seen::Message { topic, payload, .. } => Some((topic.clone(), payload.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Yields until `done()` holds or `limit` passes; returns whether it held.
pub fn yield_until(client: &Client, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        let _ = client.yield_for(Duration::from_millis(20));
    }
    done()
}

/// Options for tests: small timeouts so failures surface quickly.
pub fn test_options() -> Options {
    Options {
        keepalive: Duration::from_secs(30),
        clean_session: true,
        request_timeout: Duration::from_millis(2000),
        read_buf_size: 4096,
        write_buf_size: 4096,
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(800),
        offline_queue_limit: 1000,
        inflight_window: 64,
    }
}

pub fn connect(broker: &Broker, client_id: &str, options: Options, recorder: &Recorder) -> Client {
    Client::connect(
        options,
        Box::new(TcpConnector::new(broker.addr(), client_id)),
        Some(recorder.handler()),
        None,
    )
    .expect("connects to mosquitto")
}

/// Publishes, serving the client while its inflight window is full (the
/// acknowledgements that free it are read by `yield_for`), as a firmware
/// loop does. Returns the packet id.
pub fn publish_waiting(client: &Client, topic: &str, payload: &[u8], qos: QoS) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.publish(topic, payload, qos, false) {
            Ok(packet_id) => return packet_id,
            Err(ClientError::InflightFull { .. }) if Instant::now() < deadline => {
                let _ = client.yield_for(Duration::from_millis(5));
            }
            Err(e) => panic!("publish to {topic}: {e}"),
        }
    }
}
