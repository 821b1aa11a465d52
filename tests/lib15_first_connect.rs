//! The exact bytes of the first X.509 CONNECT (identity not yet known), as a
//! raw TLS server (`openssl s_server`, which writes what it receives to its
//! stdout) sees them: by default the user name and password flags are set
//! and both strings are empty (the platform's X.509 sample); with
//! `iotkit_x509_set_first_connect_form(1)` the vendor 3.2.0 form, user name
//! `&` and the HMAC-SHA256 of the vendor's sign content keyed with an empty
//! secret.

mod support;

use std::ffi::{c_int, CString};
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::ptr;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use iotkit::ffi::mqtt::{iotkit_x509_set_first_connect_form, IOT_MQTT_Construct};
use iotkit::ffi::types::{iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use support::pki::{self, Pki};

static SERIAL: Mutex<()> = Mutex::new(());

/// The HMAC-SHA256, keyed with an empty secret, of
/// `clientId.deviceNameproductKeytimestamp2524608000000` (the vendor's sign
/// content with empty ProductKey and DeviceName), computed with
/// `openssl dgst -sha256 -hmac ""`, upper case like the vendor's hex.
const VENDOR_EMPTY_PASSWORD: &str =
    "B36DABAE2EBB7B8FA6FFD92B217E13D97C1AB196441561B0F71B3C3BF1DACA05";

struct Server {
    child: Child,
    port: u16,
    received: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_server` requiring a client certificate from "ca", its stdout
/// (the bytes the client sent) in a file. It binds port 0 itself, and as a
/// quiet server does not print the port it got: that is read from /proc, so
/// no other process can take the port first.
fn raw_server(pki: &Pki, name: &str) -> Server {
    let received = pki.path(&format!("{name}.received"));
    let out = File::create(&received).unwrap();
    let mut child = Command::new("openssl")
        .arg("s_server")
        .arg("-accept")
        .arg("127.0.0.1:0")
        .arg("-cert")
        .arg(pki.path("server.crt"))
        .arg("-key")
        .arg(pki.path("server.key"))
        .arg("-CAfile")
        .arg(pki.path("ca.crt"))
        .args(["-Verify", "1", "-verify_return_error", "-quiet"])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let port = support::ports::wait_listening_port(&mut child, Duration::from_secs(10));
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("openssl s_server did not start listening");
    };
    Server {
        child,
        port,
        received,
    }
}

/// The first complete MQTT packet in `bytes`, if there is one.
fn first_packet(bytes: &[u8]) -> Option<&[u8]> {
    let mut length = 0usize;
    let mut shift = 0;
    for (i, &b) in bytes.iter().enumerate().skip(1).take(4) {
        length |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            let end = 1 + i + length;
            return (bytes.len() >= end).then(|| &bytes[..end]);
        }
    }
    None
}

fn string(text: &[u8]) -> Vec<u8> {
    let mut out = (text.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(text);
    out
}

/// The CONNECT a device with an unknown identity sends to `server` in the
/// current form. Construct itself fails (s_server never answers CONNACK)
/// within its request timeout.
fn first_connect(pki: &Pki, server: &Server) -> Vec<u8> {
    std::env::set_var("IOTX_KV_DIR", pki.dir());
    std::env::set_var("IOTX_PERSIST_IDENTITY", "0");
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_ec.key"));
    std::env::set_var("IOTX_MQTT_HOST", "localhost");
    std::env::set_var("IOTX_MQTT_PORT", server.port.to_string());
    let ca = CString::new(pki.read("ca.crt")).unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut params = iotx_mqtt_param_t {
            port: 0,
            host: ptr::null(),
            client_id: ptr::null(),
            username: ptr::null(),
            password: ptr::null(),
            customize_info: ptr::null(),
            pub_key: ca.as_ptr(),
            clean_session: 0,
            request_timeout_ms: 1000,
            keepalive_interval_ms: 60_000,
            write_buf_size: 0,
            read_buf_size: 0,
            handle_event: iotx_mqtt_event_handle_t {
                h_fp: None,
                pcontext: ptr::null_mut(),
            },
        };
        let client = IOT_MQTT_Construct(&mut params);
        let _ = done.send(client.is_null());
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let packet = loop {
        let bytes = std::fs::read(&server.received).unwrap();
        if let Some(packet) = first_packet(&bytes) {
            break packet.to_vec();
        }
        assert!(
            Instant::now() < deadline,
            "no complete CONNECT within 15 s; received {bytes:02x?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let failed = finished
        .recv_timeout(Duration::from_secs(15))
        .expect("IOT_MQTT_Construct did not return");
    assert!(failed, "Construct succeeded without a CONNACK");
    packet
}

/// Checks the CONNECT's client id is the certificate-derived first-connect
/// id and returns the packet the library must have sent with it.
fn expected(packet: &[u8], username: &[u8], password: &[u8]) -> Vec<u8> {
    // 0x10, remaining length (one or two bytes), then protocol name.
    let header = if packet[1] & 0x80 == 0 { 2 } else { 3 };
    let at = header + 10;
    let id_len = usize::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
    let client_id = std::str::from_utf8(&packet[at + 2..at + 2 + id_len]).unwrap();
    let (base, rest) = client_id.split_once('|').unwrap();
    assert!(
        base.starts_with("x509-") && base.len() == 29,
        "client id {client_id}"
    );
    assert!(
        rest.starts_with("securemode=2,signmethod=hmacsha1,timestamp="),
        "client id {client_id}"
    );
    let mut body = string(b"MQTT");
    // Level 4; user name, password, no will, clean session 0; keep-alive
    // 120 s (twice the 60 s ping interval, as the vendor advertises it).
    body.extend_from_slice(&[0x04, 0xC0, 0x00, 120]);
    body.extend(string(client_id.as_bytes()));
    body.extend(string(username));
    body.extend(string(password));
    let mut out = vec![0x10];
    let mut length = body.len();
    loop {
        let mut b = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            b |= 0x80;
        }
        out.push(b);
        if length == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

#[test]
fn the_first_connect_sends_an_empty_user_name_and_password_by_default() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let pki = pki::shared();
    assert_eq!(iotkit_x509_set_first_connect_form(0), 0);
    let server = raw_server(pki, "form0");
    let packet = first_connect(pki, &server);
    assert_eq!(packet, expected(&packet, b"", b""), "{packet:02x?}");
}

#[test]
fn the_vendor_form_sends_an_ampersand_and_the_empty_secret_signature() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let pki = pki::shared();
    assert_eq!(iotkit_x509_set_first_connect_form(1), 0);
    let server = raw_server(pki, "form1");
    let packet = first_connect(pki, &server);
    assert_eq!(iotkit_x509_set_first_connect_form(0), 0);
    assert_eq!(
        packet,
        expected(&packet, b"&", VENDOR_EMPTY_PASSWORD.as_bytes()),
        "{packet:02x?}"
    );
}

#[test]
fn other_forms_are_refused() {
    for form in [-1 as c_int, 2, c_int::MAX] {
        assert!(iotkit_x509_set_first_connect_form(form) < 0, "{form}");
    }
}
