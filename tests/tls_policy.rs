//! The TLS policy of the README's "TLS policy" table, against real peers:
//! `openssl s_server` limited to one suite class at a time (accepted classes
//! connect, the others are refused with a message that says why), and the
//! ClientHello as it crosses a loopback relay (suite order, groups,
//! signature algorithms, SNI for names and none for IP literals).

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use iotkit::tls::{self, ClientCredentials, TlsConfig, TlsError};
use support::peers::{self, SServer};
use support::pki::{self, KeyKind, Pki};

const TIMEOUT: Duration = Duration::from_secs(10);

fn config(pki: &Pki) -> TlsConfig {
    let creds = ClientCredentials::from_pem_or_der(
        &pki.read("client_ec.crt"),
        &pki.read("client_ec.key"),
        None,
    )
    .unwrap();
    TlsConfig::new(&pki.read("ca.crt"), Some(Arc::new(creds))).unwrap()
}

/// The PKI with an RSA server certificate beside the default EC one.
fn pki_with_rsa_server() -> &'static Pki {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let pki = pki::shared();
    ONCE.call_once(|| {
        pki.issue_server_with(
            "server_rsa",
            "ca",
            "DNS:localhost,IP:127.0.0.1",
            KeyKind::Rsa2048,
        )
    });
    pki
}

/// s_server with `cert`, TLS 1.2 only, offering only the OpenSSL suites `suites`.
fn limited_server<'a>(pki: &Pki, cert: &'a str, suites: &'a str) -> peers::Peer {
    peers::s_server(
        pki,
        &SServer {
            cert,
            extra: vec!["-tls1_2", "-cipher", suites],
            ..SServer::default()
        },
    )
}

#[test]
fn every_accepted_suite_class_connects_and_negotiates_the_expected_suite() {
    let pki = pki_with_rsa_server();
    let conf = config(pki);
    // (server certificate, OpenSSL's name for the only suite it allows, ours)
    let accepted = [
        (
            "server",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
        ),
        (
            "server",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
        ),
        (
            "server",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
        ),
        (
            "server_rsa",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
        ),
        (
            "server_rsa",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
        ),
        (
            "server_rsa",
            "AES128-GCM-SHA256",
            "TLS-RSA-WITH-AES-128-GCM-SHA256",
        ),
        (
            "server_rsa",
            "AES256-GCM-SHA384",
            "TLS-RSA-WITH-AES-256-GCM-SHA384",
        ),
    ];
    for (cert, openssl_suite, ours) in accepted {
        let server = limited_server(pki, cert, openssl_suite);
        let conn = tls::connect("localhost", server.port, &conf, TIMEOUT)
            .unwrap_or_else(|e| panic!("{openssl_suite}: {e}\n{}", server.output()));
        assert_eq!(conn.cipher_suite(), ours);
    }
}

#[test]
fn servers_offering_only_cbc_or_sha1_suites_or_other_versions_are_refused_with_the_reason() {
    let pki = pki_with_rsa_server();
    let conf = config(pki);
    let refused: [(&str, &[&str]); 5] = [
        // CBC with SHA-1 MACs, with and without ECDHE.
        (
            "server_rsa",
            &[
                "-tls1_2",
                "-cipher",
                "ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA",
            ],
        ),
        // RSA key exchange with CBC and SHA-256.
        (
            "server_rsa",
            &["-tls1_2", "-cipher", "AES128-SHA256:AES256-SHA256"],
        ),
        // ECDHE with CBC and SHA-256/384.
        (
            "server",
            &[
                "-tls1_2",
                "-cipher",
                "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384",
            ],
        ),
        // TLS 1.3 only.
        ("server", &["-tls1_3"]),
        // TLS 1.1 only (OpenSSL 3 needs security level 0 to offer it).
        ("server", &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]),
    ];
    for (cert, extra) in refused {
        let server = peers::s_server(
            pki,
            &SServer {
                cert,
                extra: extra.to_vec(),
                ..SServer::default()
            },
        );
        let err = tls::connect("localhost", server.port, &conf, TIMEOUT).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, TlsError::Handshake { .. }),
            "{extra:?}: {text}"
        );
        assert!(
            text.contains("TLS 1.2 only") && text.contains("no CBC suites"),
            "{extra:?}: the message must say what iotkit offers: {text}"
        );
        assert!(!text.contains("::"), "{text}");
    }
}

#[test]
fn server_certificates_signed_with_sha1_or_with_short_rsa_keys_are_refused() {
    let pki = pki::shared();
    let ec = ["ecparam", "-name", "prime256v1", "-genkey", "-noout"];
    let rsa1024 = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
    ];
    pki.issue_server_signed("server_sha1", "ca", &ec, "-sha1");
    pki.issue_server_signed("server_rsa1024", "ca", &rsa1024, "-sha256");
    let conf = config(pki);
    for (cert, expected) in [
        ("server_sha1", "unacceptable hash"),
        ("server_rsa1024", "unacceptable key"),
    ] {
        // OpenSSL 3 itself refuses to serve these at its default level.
        let server = peers::s_server(
            pki,
            &SServer {
                cert,
                extra: vec!["-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0"],
                ..SServer::default()
            },
        );
        let err = tls::connect("localhost", server.port, &conf, TIMEOUT).unwrap_err();
        assert!(
            matches!(err, TlsError::ServerCertificateRejected { .. }),
            "{cert}: {err}"
        );
        assert!(err.to_string().contains(expected), "{cert}: {err}");
    }
}

/// What the relay saw of the ClientHello.
#[derive(Debug)]
struct ClientHello {
    suites: Vec<u16>,
    groups: Vec<u16>,
    signature_algorithms: Vec<u16>,
    server_name: Option<String>,
    version: u16,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2).map(be16).collect()
}

/// Parses a ClientHello handshake message (type 1 and its 3-byte length
/// already checked by the caller; `body` starts at client_version).
fn parse_client_hello(body: &[u8]) -> ClientHello {
    let version = be16(body);
    let mut at = 2 + 32; // version, random
    let session_id_len = usize::from(body[at]);
    at += 1 + session_id_len;
    let suites_len = usize::from(be16(&body[at..]));
    let suites = u16_list(&body[at + 2..at + 2 + suites_len]);
    at += 2 + suites_len;
    let compression_len = usize::from(body[at]);
    at += 1 + compression_len;
    let mut hello = ClientHello {
        suites,
        groups: Vec::new(),
        signature_algorithms: Vec::new(),
        server_name: None,
        version,
    };
    if at == body.len() {
        return hello;
    }
    let extensions_end = at + 2 + usize::from(be16(&body[at..]));
    at += 2;
    while at < extensions_end {
        let kind = be16(&body[at..]);
        let len = usize::from(be16(&body[at + 2..]));
        let data = &body[at + 4..at + 4 + len];
        match kind {
            // server_name: list length, name type 0, name length, name.
            0 => {
                let name_len = usize::from(be16(&data[3..]));
                hello.server_name =
                    Some(String::from_utf8(data[5..5 + name_len].to_vec()).unwrap());
            }
            10 => hello.groups = u16_list(&data[2..]),
            13 => hello.signature_algorithms = u16_list(&data[2..]),
            _ => {}
        }
        at += 4 + len;
    }
    hello
}

/// Relays one connection to `server_port` and sends the client's first
/// handshake message (the ClientHello) on the returned channel.
fn client_hello_relay(server_port: u16) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut from_server, mut to_client) =
            (server.try_clone().unwrap(), client.try_clone().unwrap());
        std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
        let mut seen = Vec::new();
        let mut sent = false;
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = client.read(&mut chunk) {
            if !sent {
                seen.extend_from_slice(&chunk[..n]);
                // One handshake record (type 22): 5-byte header, then the message.
                if seen.len() >= 5 {
                    let len = usize::from(be16(&seen[3..]));
                    if seen.len() >= 5 + len {
                        let _ = tx.send(seen[5..5 + len].to_vec());
                        sent = true;
                    }
                }
            }
            if server.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

/// Connects to s_server through the relay as `host` and returns the ClientHello.
fn client_hello_for(host: &str) -> ClientHello {
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());
    let (port, hello) = client_hello_relay(server.port);
    let conn = tls::connect(host, port, &config(pki), TIMEOUT)
        .unwrap_or_else(|e| panic!("through the relay as {host}: {e}\n{}", server.output()));
    drop(conn);
    let message = hello
        .recv_timeout(TIMEOUT)
        .expect("the relay saw a ClientHello");
    assert_eq!(message[0], 1, "handshake type ClientHello");
    let len = usize::from(message[1]) << 16 | usize::from(be16(&message[2..]));
    assert_eq!(message.len(), 4 + len);
    parse_client_hello(&message[4..])
}

#[test]
fn the_client_hello_offers_the_documented_suites_groups_and_signatures_in_order() {
    let hello = client_hello_for("localhost");
    assert_eq!(hello.version, 0x0303, "TLS 1.2");
    // 0x00FF (the renegotiation SCSV) is a signal, not a suite.
    let suites: Vec<u16> = hello.suites.into_iter().filter(|&s| s != 0x00FF).collect();
    let documented: Vec<u16> = tls::CIPHERSUITES.iter().map(|&(id, _)| id).collect();
    assert_eq!(suites, documented);
    assert_eq!(
        suites,
        [0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8, 0x009C, 0x009D],
        "ECDHE first, RSA key exchange with AES-GCM last, nothing else"
    );
    // x25519, secp256r1, secp384r1.
    assert_eq!(hello.groups, [0x001D, 0x0017, 0x0018]);
    // (hash, signature) pairs: SHA-512/384/256/224/1 with ECDSA (3) and
    // RSA (1), mbedTLS 2.28's defaults (the crate cannot change them; SHA-1
    // can only ever sign the server's key exchange, certificates signed with
    // SHA-1 are refused).
    assert_eq!(
        hello.signature_algorithms,
        [0x0603, 0x0601, 0x0503, 0x0501, 0x0403, 0x0401, 0x0303, 0x0301, 0x0203, 0x0201],
        "{:04x?}",
        hello.signature_algorithms
    );
}

#[test]
fn sni_carries_host_names_and_is_absent_for_ip_literals() {
    assert_eq!(
        client_hello_for("localhost").server_name.as_deref(),
        Some("localhost")
    );
    assert_eq!(client_hello_for("127.0.0.1").server_name, None);
}

#[test]
fn s_server_sees_the_server_name_it_is_configured_for() {
    // The real server's view: with -servername and -servername_fatal,
    // s_server aborts handshakes whose SNI is not "localhost".
    let pki = pki::shared();
    let server = peers::s_server(
        pki,
        &SServer {
            extra: vec![
                "-servername",
                "localhost",
                "-cert2",
                pki.path("server.crt").to_str().unwrap(),
                "-key2",
                pki.path("server.key").to_str().unwrap(),
                "-servername_fatal",
            ],
            ..SServer::default()
        },
    );
    let conn = tls::connect("localhost", server.port, &config(pki), TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.output()));
    // s_server prints it after the handshake, on its own schedule.
    let seen = "Hostname in TLS extension: \"localhost\"";
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !server.output().contains(seen) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.output().contains(seen), "{}", server.output());
    drop(conn);
}
