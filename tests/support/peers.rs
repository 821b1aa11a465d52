//! Real TLS peers on 127.0.0.1: `openssl s_server` and mosquitto, started on
//! free ports and killed when the handle drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::free_port;
use super::pki::Pki;
use super::ports;

/// How long a peer may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running peer process.
pub struct Peer {
    child: Child,
    pub port: u16,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
    _workdir: Option<tempfile::TempDir>,
}

impl Peer {
    /// Everything the peer printed so far (stdout and stderr), for diagnostics.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Frees what was collected so far (heap measurements in the test
    /// process must not count the peer's log).
    pub fn discard_output(&self) {
        drop(std::mem::take(&mut *self.output.lock().unwrap()));
    }

    /// Writes to the peer's stdin (s_server sends stdin lines to the client).
    pub fn send_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("peer stdin is piped");
        stdin.write_all(data).expect("write to peer stdin");
        stdin.flush().expect("flush peer stdin");
    }

    /// Waits up to `timeout` for the process to end on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll peer process") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the peer now (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies a child's output stream into `sink`, sending the lines that
/// start with `marker` on its channel.
fn collect(
    stream: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    marker: Option<(&'static str, mpsc::Sender<String>)>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some((text, tx)) = &marker {
                if line.starts_with(*text) {
                    let _ = tx.send(line.trim_end().to_owned());
                }
            }
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

/// Options for [`s_server`].
#[derive(Debug, Clone)]
pub struct SServer<'a> {
    /// Name of the server certificate in the PKI ("server").
    pub cert: &'a str,
    /// CA the server trusts for client certificates ("ca").
    pub client_ca: &'a str,
    /// `-Verify 1 -verify_return_error`: a valid client certificate is required.
    pub require_client_cert: bool,
    /// Extra arguments, e.g. `["-naccept", "1"]`.
    pub extra: Vec<&'a str>,
    /// `-quiet`: no output at all (for measurements in this process that
    /// must not include the collected log); readiness is then probed over TCP.
    pub quiet: bool,
}

impl Default for SServer<'_> {
    fn default() -> Self {
        SServer {
            cert: "server",
            client_ca: "ca",
            require_client_cert: true,
            extra: Vec::new(),
            quiet: false,
        }
    }
}

/// Starts `openssl s_server` on a free 127.0.0.1 port and waits until it
/// accepts connections. Lines written with [`Peer::send_stdin`] go to the
/// connected client; a line "Q" makes it close the connection and exit.
///
/// s_server binds port 0 itself, so no other process can take the port in
/// between; it reports the port it got ("ACCEPT 127.0.0.1:PORT"), and for a
/// quiet server, which prints nothing, the port is read from /proc.
pub fn s_server(pki: &Pki, options: &SServer<'_>) -> Peer {
    let mut last_output = String::new();
    for _ in 0..3 {
        let port = 0;
        let mut args = vec![
            "s_server".to_owned(),
            "-accept".to_owned(),
            format!("127.0.0.1:{port}"),
            "-cert".to_owned(),
            pki.path(&format!("{}.crt", options.cert))
                .display()
                .to_string(),
            "-key".to_owned(),
            pki.path(&format!("{}.key", options.cert))
                .display()
                .to_string(),
            "-CAfile".to_owned(),
            pki.path(&format!("{}.crt", options.client_ca))
                .display()
                .to_string(),
        ];
        if options.require_client_cert {
            args.extend(["-Verify", "1", "-verify_return_error"].map(String::from));
        }
        if options.quiet {
            args.push("-quiet".to_owned());
        }
        args.extend(options.extra.iter().map(|s| s.to_string()));
        let mut child = Command::new("openssl")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl s_server");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        collect(
            child.stdout.take().unwrap(),
            output.clone(),
            Some(("ACCEPT", tx)),
        );
        collect(child.stderr.take().unwrap(), output.clone(), None);
        let stdin = child.stdin.take();
        let mut peer = Peer {
            child,
            port,
            stdin,
            output,
            _workdir: None,
        };
        let ready = if options.quiet {
            wait_listening(&mut peer)
        } else {
            match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => match line.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
                    Some(bound) => {
                        peer.port = bound;
                        true
                    }
                    None => false,
                },
                Err(_) => false,
            }
        };
        if ready {
            return peer;
        }
        peer.kill();
        last_output = peer.output();
    }
    panic!("openssl s_server did not start:\n{last_output}");
}

/// Starts mosquitto with a TLS listener on a free 127.0.0.1 port using the
/// PKI's "server" certificate; with `require_certificate`, clients must
/// present a certificate issued by "ca". It logs everything (see
/// [`Peer::output`]).
pub fn mosquitto(pki: &Pki, require_certificate: bool) -> Peer {
    mosquitto_with(pki, require_certificate, true)
}

/// Like [`mosquitto`]; `log: false` silences it (for heap measurements in
/// this process, which must not include the collected log).
pub fn mosquitto_with(pki: &Pki, require_certificate: bool, log: bool) -> Peer {
    let mut last_output = String::new();
    for _ in 0..3 {
        let port = free_port();
        let workdir = tempfile::Builder::new()
            .prefix("iotkit-mosquitto-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create mosquitto directory");
        let config = format!(
            "listener {port} 127.0.0.1\n\
             cafile {ca}\n\
             certfile {cert}\n\
             keyfile {key}\n\
             require_certificate {require_certificate}\n\
             use_identity_as_username {require_certificate}\n\
             allow_anonymous true\n\
             persistence false\n\
             {logging}\
             {user}",
            logging = if log {
                "log_dest stderr\nlog_type all\n"
            } else {
                "log_dest none\n"
            },
            // Started as root, mosquitto would switch to the "mosquitto" user,
            // which cannot read the private temporary directories.
            user = if running_as_root() { "user root\n" } else { "" },
            ca = pki.path("ca.crt").display(),
            cert = pki.path("server.crt").display(),
            key = pki.path("server.key").display(),
        );
        let config_path = workdir.path().join("mosquitto.conf");
        std::fs::write(&config_path, config).expect("write mosquitto.conf");
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), output.clone(), None);
        collect(child.stderr.take().unwrap(), output.clone(), None);
        let mut peer = Peer {
            child,
            port,
            stdin: None,
            output,
            _workdir: Some(workdir),
        };
        if wait_listening(&mut peer) {
            return peer;
        }
        peer.kill();
        last_output = peer.output();
    }
    panic!("mosquitto did not start:\n{last_output}");
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn mosquitto_binary() -> &'static Path {
    let debian = Path::new("/usr/sbin/mosquitto");
    if debian.exists() {
        debian
    } else {
        Path::new("mosquitto")
    }
}

/// Polls until the peer process itself listens on its port, or it exits.
/// The listener must be the peer's own socket (read from /proc): a stranger
/// that took the port first does not count, and the peer is then retried. A
/// peer started on port 0 gets the port it bound.
fn wait_listening(peer: &mut Peer) -> bool {
    match ports::wait_listening_port(&mut peer.child, START_TIMEOUT) {
        Some(port) if peer.port == 0 || port == peer.port => {
            peer.port = port;
            true
        }
        _ => false,
    }
}

/// An MQTT 3.1.1 CONNECT packet with clean session and the given client id.
pub fn mqtt_connect_packet(client_id: &str) -> Vec<u8> {
    let mut variable = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    variable.extend((client_id.len() as u16).to_be_bytes());
    variable.extend(client_id.as_bytes());
    let mut packet = vec![0x10, variable.len() as u8];
    packet.extend(variable);
    packet
}

/// CONNACK with session-present 0 and return code 0 (accepted).
pub const MQTT_CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
