//! Test harness: runs the real `iotkit-sim` binary and talks to it with an
//! independent, hand-written MQTT client over OpenSSL (it shares no code with
//! the sim).

#![allow(dead_code)]

use openssl::ssl::{Ssl, SslContext, SslFiletype, SslMethod, SslStream, SslVerifyMode};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_iotkit-sim");

pub struct Sim {
    pub dir: tempfile::TempDir,
}

impl Sim {
    /// A fresh data directory, not yet initialised.
    pub fn empty() -> Sim {
        Sim {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A data directory after `init`.
    pub fn new() -> Sim {
        let sim = Sim::empty();
        sim.ok(&["init"]);
        sim
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.arg("--data-dir").arg(self.path()).args(args);
        command.env_remove("IOTKIT_SIM_NOW");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run iotkit-sim")
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "iotkit-sim {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must fail with exit code 1; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "iotkit-sim {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    pub fn product(&self, auth: &str) -> String {
        self.json(&["product", "create", "--name", "p", "--auth-type", auth])["productKey"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn device(&self, pk: &str, name: &str) -> Creds {
        let v = self.json(&[
            "device",
            "create",
            "--product",
            pk,
            "--name",
            name,
            "--key-type",
            "ec-p256",
        ]);
        Creds::from_json(&v)
    }

    pub fn ca(&self) -> PathBuf {
        self.path().join("ca.pem")
    }

    pub fn serve(&self, extra: &[&str]) -> Server {
        self.serve_with_env(extra, &[])
    }

    pub fn serve_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Server {
        // One log per serve run of this data directory (a test may restart it).
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let log_path = self.path().join(format!(
            "serve-{}.log",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut args = vec!["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut command = self.command(&args);
        for (key, value) in env {
            command.env(key, value);
        }
        let serve_json = self.path().join("serve.json");
        let _ = std::fs::remove_file(&serve_json);
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let mut server = Server {
            child,
            mqtt_port: 0,
            http_port: 0,
            log_path,
            data_dir: self.path().to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&serve_json) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    server.mqtt_port = v["mqtt_port"].as_u64().unwrap() as u16;
                    server.http_port = v["http_port"].as_u64().unwrap() as u16;
                    assert_eq!(v["pid"].as_u64().unwrap(), u64::from(server.child.id()));
                    return server;
                }
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("serve exited early ({status}): {}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not start: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Clone, Debug)]
pub struct Creds {
    pub pk: String,
    pub dn: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Creds {
    pub fn from_json(v: &Value) -> Creds {
        Creds {
            pk: v["productKey"].as_str().unwrap().into(),
            dn: v["deviceName"].as_str().unwrap().into(),
            cert: v["certFile"].as_str().unwrap().into(),
            key: v["keyFile"].as_str().unwrap().into(),
        }
    }
}

pub struct Server {
    pub child: Child,
    pub mqtt_port: u16,
    pub http_port: u16,
    pub log_path: PathBuf,
    pub data_dir: PathBuf,
}

impl Server {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (logs are written as events happen).
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (e.g. "TERM", "INT") to our own serve child and waits for it to exit.
    pub fn stop_with(&mut self, signal: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        http(self.http_port, method, path, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 client (one request per connection).
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("HTTP status");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// What the test client puts in its CONNECT.
#[derive(Clone)]
pub struct ConnectOptions {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: u16,
    pub protocol_name: String,
    pub protocol_level: u8,
    /// (topic, message)
    pub will: Option<(String, String)>,
    pub clean_session: bool,
}

impl ConnectOptions {
    pub fn new(client: &str) -> ConnectOptions {
        ConnectOptions {
            client_id: format!(
                "{client}|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|"
            ),
            username: None,
            password: None,
            keep_alive: 300,
            protocol_name: "MQTT".into(),
            protocol_level: 4,
            will: None,
            clean_session: true,
        }
    }
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub struct Client {
    pub stream: SslStream<TcpStream>,
}

/// TLS connection with the device's certificate, verifying the server as "localhost".
pub fn tls_connect(
    port: u16,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<SslStream<TcpStream>, String> {
    // A bare context: SslConnector would also load the system trust store on
    // every call, which costs more than the handshake being measured.
    let mut context = SslContext::builder(SslMethod::tls_client()).unwrap();
    context.set_verify(SslVerifyMode::PEER);
    context.set_ca_file(ca).unwrap();
    context
        .set_certificate_file(cert, SslFiletype::PEM)
        .unwrap();
    context.set_private_key_file(key, SslFiletype::PEM).unwrap();
    let context = context.build();
    let mut ssl = Ssl::new(&context).unwrap();
    ssl.set_hostname("localhost").unwrap();
    ssl.param_mut().set_host("localhost").unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.set_nodelay(true).unwrap();
    ssl.connect(tcp).map_err(|e| e.to_string())
}

impl Client {
    /// Connects and sends CONNECT; returns the client and the CONNACK return code.
    pub fn connect(port: u16, ca: &Path, creds: &Creds, options: &ConnectOptions) -> (Client, u8) {
        let (client, ack) = Client::connect_ack(port, ca, creds, options);
        (client, ack[1])
    }

    /// As `connect`, returning both CONNACK bytes (flags, return code).
    pub fn connect_ack(
        port: u16,
        ca: &Path,
        creds: &Creds,
        options: &ConnectOptions,
    ) -> (Client, [u8; 2]) {
        let stream = tls_connect(port, ca, &creds.cert, &creds.key).expect("TLS handshake");
        let mut client = Client { stream };
        let ack = client.send_connect(options);
        (client, ack)
    }

    /// Sends CONNECT over this (already established) TLS connection and
    /// returns both CONNACK bytes (flags, return code).
    pub fn send_connect(&mut self, options: &ConnectOptions) -> [u8; 2] {
        let client = self;
        let mut body = Vec::new();
        put_str(&mut body, &options.protocol_name);
        body.push(options.protocol_level);
        let mut flags = if options.clean_session { 0x02 } else { 0x00 };
        if options.will.is_some() {
            flags |= 0x04;
        }
        if options.username.is_some() {
            flags |= 0x80;
        }
        if options.password.is_some() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&options.keep_alive.to_be_bytes());
        put_str(&mut body, &options.client_id);
        if let Some((topic, message)) = &options.will {
            put_str(&mut body, topic);
            put_str(&mut body, message);
        }
        if let Some(u) = &options.username {
            put_str(&mut body, u);
        }
        if let Some(p) = &options.password {
            put_str(&mut body, p);
        }
        let mut packet = vec![0x10];
        put_len(&mut packet, body.len());
        packet.extend_from_slice(&body);
        client.stream.write_all(&packet).unwrap();
        let (first, ack) = client.read_packet().expect("CONNACK");
        assert_eq!(first, 0x20, "expected CONNACK");
        assert_eq!(ack.len(), 2);
        [ack[0], ack[1]]
    }

    /// Reads one packet: (first byte, body). None on timeout or close.
    pub fn read_packet(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut first = [0u8; 1];
        self.stream.read_exact(&mut first).ok()?;
        let mut length = 0usize;
        for shift in 0..4 {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b).ok()?;
            length |= usize::from(b[0] & 0x7f) << (7 * shift);
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).ok()?;
        Some((first[0], body))
    }

    /// True when the server closed the connection (end of stream or reset),
    /// false when nothing came within the read timeout. Packets are skipped.
    pub fn ended(&mut self) -> bool {
        let mut buffer = [0u8; 4096];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.stream
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
    }

    /// Next PUBLISH as (topic, payload), answering QoS 1 with PUBACK.
    pub fn next_publish(&mut self) -> Option<(String, Vec<u8>)> {
        loop {
            let (first, body) = self.read_packet()?;
            if first >> 4 != 3 {
                continue;
            }
            let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let topic = String::from_utf8(body[2..2 + topic_len].to_vec()).unwrap();
            let mut rest = 2 + topic_len;
            if (first >> 1) & 3 > 0 {
                let id = [body[rest], body[rest + 1]];
                rest += 2;
                self.stream.write_all(&[0x40, 2, id[0], id[1]]).unwrap();
            }
            return Some((topic, body[rest..].to_vec()));
        }
    }

    /// SUBSCRIBE and wait for the SUBACK; returns its return codes.
    pub fn subscribe(&mut self, packet_id: u16, filters: &[&str]) -> Vec<u8> {
        let mut body = packet_id.to_be_bytes().to_vec();
        for f in filters {
            put_str(&mut body, f);
            body.push(1);
        }
        let mut packet = vec![0x82];
        put_len(&mut packet, body.len());
        packet.extend_from_slice(&body);
        self.stream.write_all(&packet).unwrap();
        loop {
            let (first, body) = self.read_packet().expect("SUBACK");
            if first == 0x90 {
                assert_eq!(&body[..2], &packet_id.to_be_bytes());
                return body[2..].to_vec();
            }
        }
    }

    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: u8, packet_id: u16) {
        let mut body = Vec::new();
        put_str(&mut body, topic);
        if qos > 0 {
            body.extend_from_slice(&packet_id.to_be_bytes());
        }
        body.extend_from_slice(payload);
        let mut packet = vec![0x30 | (qos << 1)];
        put_len(&mut packet, body.len());
        packet.extend_from_slice(&body);
        self.stream.write_all(&packet).unwrap();
    }

    pub fn disconnect(mut self) {
        let _ = self.stream.write_all(&[0xe0, 0]);
    }
}

/// Is the named program installed (e.g. mosquitto_sub)?
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A free loopback port (for children that cannot report their own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
