//! The safe TLS core (`iotkit::tls`) against real peers on 127.0.0.1:
//! mosquitto with `require_certificate true`, `openssl s_server -Verify 1`,
//! and an mbedTLS server for the close-notify case.

mod support;

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iotkit::tls::{self, ClientCredentials, CredentialError, TlsConfig, TlsError};
use iotkit::transport::{Transport, TransportError};
use support::peers::{self, SServer, MQTT_CONNACK_ACCEPTED};
use support::pki::{self, KeyKind, Pki};

const TIMEOUT: Duration = Duration::from_secs(10);

fn credentials(pki: &Pki, name: &str) -> Arc<ClientCredentials> {
    let cert = pki.read(&format!("{name}.crt"));
    let key = pki.read(&format!("{name}.key"));
    Arc::new(ClientCredentials::from_pem_or_der(&cert, &key, None).expect("test credentials parse"))
}

fn config(pki: &Pki, ca: &str, creds: Option<Arc<ClientCredentials>>) -> TlsConfig {
    TlsConfig::new(&pki.read(&format!("{ca}.crt")), creds).expect("CA parses")
}

/// Reads exactly `n` bytes or fails the test.
fn read_exactly(conn: &mut dyn Transport, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = iotkit::net::read_full_or_timeout(conn, &mut buf, TIMEOUT).expect("read");
    assert_eq!(got, n, "short read: {:?}", &buf[..got]);
    buf
}

/// Waits until the peer printed `text`.
fn wait_for_output(peer: &peers::Peer, text: &str) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if peer.output().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn mqtt_round_trip(client: &str) {
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let creds = credentials(pki, client);
    let mut conn = tls::connect(
        "localhost",
        broker.port,
        &config(pki, "ca", Some(creds)),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("connect: {e}\nbroker log:\n{}", broker.output()));
    let connect = peers::mqtt_connect_packet(client);
    assert_eq!(conn.write(&connect, TIMEOUT), Ok(connect.len()));
    assert_eq!(read_exactly(&mut conn, 4), MQTT_CONNACK_ACCEPTED);
    // use_identity_as_username: the broker saw our certificate's CN.
    assert!(
        wait_for_output(&broker, client),
        "broker log lacks the client CN:\n{}",
        broker.output()
    );
}

#[test]
fn mutual_tls_with_rsa2048_pkcs1_key_reaches_mosquitto() {
    mqtt_round_trip("client_rsa");
}

#[test]
fn mutual_tls_with_ecdsa_p256_key_reaches_mosquitto() {
    mqtt_round_trip("client_ec");
}

#[test]
fn ip_literal_is_checked_against_ip_san_and_data_flows_both_ways() {
    let pki = pki::shared();
    let mut server = peers::s_server(pki, &SServer::default());
    let creds = credentials(pki, "client_ec");
    let mut conn = tls::connect(
        "127.0.0.1",
        server.port,
        &config(pki, "ca", Some(creds)),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.output()));
    assert_eq!(conn.write(b"ping from iotkit\n", TIMEOUT), Ok(17));
    assert!(
        wait_for_output(&server, "ping from iotkit"),
        "{}",
        server.output()
    );
    server.send_stdin(b"pong\n");
    assert_eq!(read_exactly(&mut conn, 5), b"pong\n");
    assert!(conn.readiness_handle().is_some());
}

#[test]
fn the_leaf_fingerprint_matches_openssl() {
    let pki = pki::shared();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pki.path("client_rsa.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let expected: String = text
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_lowercase();
    let actual: String = credentials(pki, "client_rsa")
        .fingerprint_sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn der_certificate_and_pkcs8_keys_are_accepted() {
    let pki = pki::shared();
    pki.cert_der("client_rsa", "client_rsa.der");
    pki.key_der("client_rsa", "client_rsa.key.der");
    pki.key_pkcs8("client_ec", "client_ec.p8");
    let pem = credentials(pki, "client_rsa");
    let der = ClientCredentials::from_pem_or_der(
        &pki.read("client_rsa.der"),
        &pki.read("client_rsa.key.der"),
        None,
    )
    .expect("DER certificate + DER PKCS#8 key");
    assert_eq!(der.fingerprint_sha256(), pem.fingerprint_sha256());
    let p8 = ClientCredentials::from_pem_or_der(
        &pki.read("client_ec.crt"),
        &pki.read("client_ec.p8"),
        None,
    )
    .expect("PEM PKCS#8 EC key");
    // A C string with its terminating NUL counted in the length is fine too.
    let mut cert = pki.read("client_ec.crt");
    cert.push(0);
    let with_nul = ClientCredentials::from_pem_or_der(&cert, &pki.read("client_ec.key"), None)
        .expect("trailing NUL");
    assert_eq!(p8.fingerprint_sha256(), with_nul.fingerprint_sha256());
}

#[test]
fn server_from_another_ca_is_untrusted() {
    let pki = pki::shared();
    pki.new_ca("other_ca");
    let server = peers::s_server(pki, &SServer::default());
    let err = tls::connect(
        "localhost",
        server.port,
        &config(pki, "other_ca", Some(credentials(pki, "client_ec"))),
        TIMEOUT,
    )
    .unwrap_err();
    assert!(
        matches!(err, TlsError::UntrustedServerCertificate { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[test]
fn hostname_and_ip_mismatches_are_named() {
    let pki = pki::shared();
    pki.issue_server("server_elsewhere", "ca", "DNS:elsewhere.example");
    let options = SServer {
        cert: "server_elsewhere",
        extra: vec![],
        ..SServer::default()
    };
    let server = peers::s_server(pki, &options);
    let conf = config(pki, "ca", Some(credentials(pki, "client_ec")));
    for host in ["localhost", "127.0.0.1"] {
        let err = tls::connect(host, server.port, &conf, TIMEOUT).unwrap_err();
        assert_eq!(
            err,
            TlsError::HostnameMismatch {
                host: host.to_owned()
            }
        );
        assert!(err.to_string().contains("hostname mismatch"), "{err}");
    }
}

#[test]
fn server_demanding_a_certificate_when_none_is_configured_is_explained() {
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());
    let err =
        tls::connect("localhost", server.port, &config(pki, "ca", None), TIMEOUT).unwrap_err();
    assert!(
        matches!(err, TlsError::ClientCertificateRequired { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("requires a client certificate") && text.contains("g_cli_crt"),
        "{text}"
    );

    let broker = peers::mosquitto(pki, true);
    let err =
        tls::connect("localhost", broker.port, &config(pki, "ca", None), TIMEOUT).unwrap_err();
    assert!(
        matches!(err, TlsError::ClientCertificateRequired { .. }),
        "{err:?}"
    );
}

#[test]
fn client_certificate_from_an_untrusted_ca_is_reported_as_rejected() {
    let pki = pki::shared();
    pki.new_ca("rogue_ca");
    pki.issue_client("client_rogue", "rogue_ca", KeyKind::EcP256);
    let server = peers::s_server(pki, &SServer::default());
    let err = tls::connect(
        "localhost",
        server.port,
        &config(pki, "ca", Some(credentials(pki, "client_rogue"))),
        TIMEOUT,
    )
    .unwrap_err();
    assert!(
        matches!(err, TlsError::ClientCertificateRejected { .. }),
        "{err:?}"
    );
}

#[test]
fn key_not_matching_the_certificate_is_refused_before_connecting() {
    let pki = pki::shared();
    let err = ClientCredentials::from_pem_or_der(
        &pki.read("client_rsa.crt"),
        &pki.read("client_ec.key"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, CredentialError::KeyMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not belong to"), "{err}");
}

#[test]
fn expired_client_certificate_is_reported_and_the_server_rejects_it() {
    let pki = pki::shared();
    pki.issue_expired_client("client_expired", "ca");
    let creds = credentials(pki, "client_expired");
    let problem = creds
        .validity_problem(std::time::SystemTime::now())
        .expect("an expired certificate has a validity problem");
    assert!(problem.contains("expired on 2020-12-31"), "{problem}");
    let server = peers::s_server(pki, &SServer::default());
    let err = tls::connect(
        "localhost",
        server.port,
        &config(pki, "ca", Some(creds)),
        TIMEOUT,
    )
    .unwrap_err();
    match &err {
        TlsError::ClientCertificateRejected { note, .. } => {
            assert!(note.contains("expired"), "{note}")
        }
        other => panic!("expected a rejected client certificate, got {other:?}"),
    }
}

#[test]
fn malformed_pem_is_reported_without_echoing_the_key() {
    let pki = pki::shared();
    let cert = pki.read("client_ec.crt");
    let key = pki.read("client_ec.key");
    // Damage the base64 body of the certificate.
    let mut bad_cert = cert.clone();
    let mid = bad_cert.len() / 2;
    bad_cert[mid..mid + 8].copy_from_slice(b"!!!!!!!!");
    let err = ClientCredentials::from_pem_or_der(&bad_cert, &key, None).unwrap_err();
    assert!(
        matches!(err, CredentialError::BadCertificate { .. }),
        "{err:?}"
    );
    // A truncated key.
    let err = ClientCredentials::from_pem_or_der(&cert, &key[..key.len() / 2], None).unwrap_err();
    assert!(matches!(err, CredentialError::BadKey { .. }), "{err:?}");
    let key_text = String::from_utf8(key).unwrap();
    let body_line = key_text.lines().nth(1).unwrap();
    assert!(!err.to_string().contains(body_line));
    assert!(!format!("{err:?}").contains(body_line));
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let pki = pki::shared();
    pki.encrypt_key_pkcs8("client_rsa", "s3cret", "des3", "client_rsa.p8des3.key");
    pki.encrypt_rsa_key_traditional("client_rsa", "s3cret", "client_rsa.aes.key");
    let cert = pki.read("client_rsa.crt");
    let expected = credentials(pki, "client_rsa").fingerprint_sha256();
    for file in ["client_rsa.p8des3.key", "client_rsa.aes.key"] {
        let key = pki.read(file);
        let err = ClientCredentials::from_pem_or_der(&cert, &key, Some(b"wrong")).unwrap_err();
        assert!(
            matches!(err, CredentialError::WrongPassword { .. }),
            "{file}: {err:?}"
        );
        assert!(
            !err.to_string().contains("wrong"),
            "the password must not be echoed: {err}"
        );
        let err = ClientCredentials::from_pem_or_der(&cert, &key, None).unwrap_err();
        assert!(
            matches!(err, CredentialError::PasswordRequired { .. }),
            "{file}: {err:?}"
        );
        let ok = ClientCredentials::from_pem_or_der(&cert, &key, Some(b"s3cret"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(ok.fingerprint_sha256(), expected);
    }
}

#[test]
fn pkcs8_aes_encryption_is_explained_as_unsupported() {
    let pki = pki::shared();
    pki.encrypt_key_pkcs8("client_ec", "s3cret", "aes-256-cbc", "client_ec.p8aes.key");
    let err = ClientCredentials::from_pem_or_der(
        &pki.read("client_ec.crt"),
        &pki.read("client_ec.p8aes.key"),
        Some(b"s3cret"),
    )
    .unwrap_err();
    assert!(
        matches!(err, CredentialError::UnsupportedEncryption { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("-v2 des3"), "{err}");
}

#[test]
fn read_timeout_returns_nothing_or_the_partial_count_and_close_gives_peer_closed() {
    let pki = pki::shared();
    let mut server = peers::s_server(pki, &SServer::default());
    let creds = credentials(pki, "client_rsa");
    let mut conn = tls::connect(
        "localhost",
        server.port,
        &config(pki, "ca", Some(creds)),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.output()));
    let mut buf = [0u8; 64];
    // Nothing sent: the timeout passes with 0 bytes.
    assert_eq!(
        iotkit::net::read_full_or_timeout(&mut conn, &mut buf, Duration::from_millis(200)),
        Ok(0)
    );
    // Four bytes sent, 64 asked for: the partial count when time runs out.
    server.send_stdin(b"abc\n");
    let got = iotkit::net::read_full_or_timeout(&mut conn, &mut buf, Duration::from_millis(1500));
    assert_eq!(got, Ok(4), "{:?}", String::from_utf8_lossy(&buf));
    assert_eq!(&buf[..4], b"abc\n");
    // Data, then the server closes while a long read waits for more: the
    // data first, then PeerClosed. s_server takes "Q" only as a line of its
    // own read: it is sent once the record carrying "xyz" has reached this
    // socket (a peek on the socket, which leaves the record to the read).
    server.send_stdin(b"xyz\n");
    let socket = conn.readiness_handle().expect("a socket");
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(
        socket.peek(&mut [0u8; 1]).unwrap() > 0,
        "the record arrived"
    );
    server.send_stdin(b"Q\n");
    assert_eq!(
        iotkit::net::read_full_or_timeout(&mut conn, &mut buf, TIMEOUT),
        Ok(4)
    );
    assert_eq!(&buf[..4], b"xyz\n");
    assert_eq!(
        iotkit::net::read_full_or_timeout(&mut conn, &mut buf, TIMEOUT),
        Err(TransportError::PeerClosed)
    );
    // Writing to a closed connection fails cleanly (EPIPE, no signal).
    let mut failed = false;
    for _ in 0..50 {
        match conn.write(&[0u8; 512], Duration::from_millis(500)) {
            Err(_) => {
                failed = true;
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(failed, "writes to a closed connection must start failing");
}

/// An mbedTLS server that sends "bye" and close-notify but keeps the TCP
/// connection open: only close-notify can make the client see the close.
#[test]
fn close_notify_alone_makes_the_next_read_report_peer_closed() {
    use mbedtls::alloc::List;
    use mbedtls::pk::Pk;
    use mbedtls::rng::{CtrDrbg, OsEntropy};
    use mbedtls::ssl::config::{AuthMode, Endpoint, Preset, Transport as Kind};
    use mbedtls::ssl::{Config, Context};
    use mbedtls::x509::Certificate;

    let pki = pki::shared();
    let nul = |mut v: Vec<u8>| {
        v.push(0);
        v
    };
    let chain: List<Certificate> =
        Certificate::from_pem_multiple(&nul(pki.read("server.crt"))).unwrap();
    let key = Pk::from_private_key(&nul(pki.read("server.key")), None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let mut conf = Config::new(Endpoint::Server, Kind::Stream, Preset::Default);
        conf.set_rng(Arc::new(
            CtrDrbg::new(Arc::new(OsEntropy::new()), None).unwrap(),
        ));
        conf.push_cert(Arc::new(chain), Arc::new(key)).unwrap();
        conf.set_authmode(AuthMode::None);
        let mut ctx = Context::new(Arc::new(conf));
        let (socket, _) = listener.accept().unwrap();
        let keep_open = socket.try_clone().unwrap();
        ctx.establish(socket, None).unwrap();
        ctx.write_all(b"bye").unwrap();
        ctx.close();
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
        drop(keep_open);
    });
    let mut conn = tls::connect("localhost", port, &config(pki, "ca", None), TIMEOUT).unwrap();
    assert_eq!(read_exactly(&mut conn, 3), b"bye");
    let mut buf = [0u8; 16];
    // With the TCP connection still open, a 20 s read can only end early
    // with PeerClosed if the close-notify was understood.
    assert_eq!(
        conn.read(&mut buf, Duration::from_secs(20)),
        Err(TransportError::PeerClosed)
    );
    assert_eq!(
        conn.read(&mut buf, TIMEOUT),
        Err(TransportError::PeerClosed)
    );
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn connecting_to_a_closed_port_or_unknown_host_names_the_cause() {
    let pki = pki::shared();
    let conf = config(pki, "ca", None);
    let refusing = support::ports::RefusingPort::new();
    let err = tls::connect("127.0.0.1", refusing.port(), &conf, TIMEOUT).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    let err = tls::connect("no-such-host.invalid", 8883, &conf, TIMEOUT).unwrap_err();
    assert!(err.to_string().contains("cannot resolve"), "{err}");
}

#[test]
fn a_silent_server_hits_the_handshake_timeout() {
    let pki = pki::shared();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = tls::connect(
        "127.0.0.1",
        port,
        &config(pki, "ca", None),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout { .. }), "{err:?}");
    drop(listener);
}

/// (content type, length) of each TLS record, in the order sent.
type RecordLog = Arc<std::sync::Mutex<Vec<(u8, usize)>>>;

/// Relays one connection from 127.0.0.1:`returned port` to `server_port`,
/// noting the TLS records the client sends.
fn record_logging_relay(server_port: u16) -> (u16, RecordLog) {
    use std::io::Read as _;
    use std::net::TcpStream;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let records = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = records.clone();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut client_rx, mut server_tx) =
            (server.try_clone().unwrap(), client.try_clone().unwrap());
        // Server to client: copied as is.
        std::thread::spawn(move || std::io::copy(&mut client_rx, &mut server_tx));
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = client.read(&mut chunk) {
            pending.extend_from_slice(&chunk[..n]);
            while pending.len() >= 5 {
                let len = usize::from(u16::from_be_bytes([pending[3], pending[4]]));
                if pending.len() < 5 + len {
                    break;
                }
                log.lock().unwrap().push((pending[0], len));
                pending.drain(..5 + len);
            }
            if server.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
    });
    (port, records)
}

#[test]
fn large_writes_go_out_in_records_of_at_most_4_kib_and_arrive_whole() {
    use iotkit::mqtt::codec::{self, Packet, Publish, Subscribe, SubscribeFilters};
    const APPLICATION_DATA: u8 = 0x17;
    // Only AEAD suites are offered: AES-GCM adds an 8-byte explicit nonce
    // and a 16-byte tag, ChaCha20-Poly1305 a 16-byte tag.
    const MAX_EXPANSION: usize = 8 + 16;
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let (relay_port, records) = record_logging_relay(broker.port);
    let mut conn = tls::connect(
        "127.0.0.1",
        relay_port,
        &config(pki, "ca", Some(credentials(pki, "client_ec"))),
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("connect: {e}\nbroker log:\n{}", broker.output()));
    let connect = peers::mqtt_connect_packet("client_ec");
    assert_eq!(conn.write(&connect, TIMEOUT), Ok(connect.len()));
    assert_eq!(read_exactly(&mut conn, 4), MQTT_CONNACK_ACCEPTED);
    let mut packet = vec![0u8; 16 * 1024];
    let filters = [("big/records", 0u8)];
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: SubscribeFilters::List(&filters),
    });
    let n = codec::encode(&subscribe, &mut packet).unwrap();
    assert_eq!(conn.write(&packet[..n], TIMEOUT), Ok(n));
    assert_eq!(read_exactly(&mut conn, 5), [0x90, 0x03, 0x00, 0x01, 0x00]);
    // 10,000 bytes: more than two full records.
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let publish = Packet::Publish(Publish {
        topic: "big/records",
        payload: &payload,
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    });
    let n = codec::encode(&publish, &mut packet).unwrap();
    assert_eq!(conn.write(&packet[..n], TIMEOUT), Ok(n));
    // The broker decrypted and reassembled it: the echo is byte for byte.
    let echoed = read_exactly(&mut conn, n);
    assert_eq!(echoed, &packet[..n]);
    let sent: Vec<usize> = records
        .lock()
        .unwrap()
        .iter()
        .filter(|(kind, _)| *kind == APPLICATION_DATA)
        .map(|&(_, len)| len)
        .collect();
    assert!(
        sent.iter()
            .all(|&len| len <= tls::MAX_RECORD_PAYLOAD + MAX_EXPANSION),
        "a record over {} bytes of plaintext: {sent:?}",
        tls::MAX_RECORD_PAYLOAD
    );
    // The publish really was cut at the limit, not into tiny pieces.
    let full = sent
        .iter()
        .filter(|&&len| len > tls::MAX_RECORD_PAYLOAD)
        .count();
    assert_eq!(full, n / tls::MAX_RECORD_PAYLOAD, "records: {sent:?}");
}

#[test]
fn certificate_chain_over_one_record_is_explained() {
    let pki = pki::shared();
    let leaf = pki.read("client_rsa.crt");
    // The leaf followed by copies of itself as "intermediates" (600 bytes of
    // DER each): ten of them cannot go out in one 4 KiB handshake record.
    let chain: Vec<u8> = leaf.iter().copied().cycle().take(leaf.len() * 10).collect();
    let creds = ClientCredentials::from_pem_or_der(&chain, &pki.read("client_rsa.key"), None)
        .expect("a long chain still parses");
    let server = peers::s_server(pki, &SServer::default());
    let Err(err) = tls::connect(
        "localhost",
        server.port,
        &config(pki, "ca", Some(Arc::new(creds))),
        TIMEOUT,
    ) else {
        panic!("the handshake cannot succeed");
    };
    let text = err.to_string();
    assert!(
        text.contains("does not fit in one 4096-byte TLS record"),
        "{text}"
    );
}
