//! The x509 endpoint against real TLS and a real broker: CONNECT rule table,
//! identity response, topic permissions, cloud-to-device publish, CertUrl
//! downloads, mosquitto clients, an upstream mosquitto broker, 200 devices.

mod common;

use common::{Client, ConnectOptions, Creds, Sim};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";

fn identity_payload(creds: &Creds) -> String {
    format!(
        r#"{{"productKey":"{}","deviceName":"{}"}}"#,
        creds.pk, creds.dn
    )
}

/// Connects with `options`, asserts the CONNACK code, and on success the identity response.
fn expect_code(
    sim: &Sim,
    port: u16,
    creds: &Creds,
    options: &ConnectOptions,
    code: u8,
) -> Option<Client> {
    let (mut client, got) = Client::connect(port, &sim.ca(), creds, options);
    assert_eq!(
        got, code,
        "CONNACK for client id {:?} keepalive {}",
        options.client_id, options.keep_alive
    );
    if code != 0 {
        // The endpoint closes a refused connection.
        assert!(client.ended(), "a refused connection must be closed");
        return None;
    }
    let (topic, payload) = client.next_publish().expect("identity response");
    assert_eq!(topic, IDENTITY_TOPIC);
    assert_eq!(String::from_utf8(payload).unwrap(), identity_payload(creds));
    Some(client)
}

#[test]
fn connect_rule_table() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "rule-dev");
    let server = sim.serve(&[]);
    let port = server.mqtt_port;
    let opts = |f: &dyn Fn(&mut ConnectOptions)| {
        let mut o = ConnectOptions::new("sn-0001");
        f(&mut o);
        o
    };

    // Accepted at the boundaries and with every documented variant.
    for accepted in [
        opts(&|o| o.keep_alive = 30),
        opts(&|o| o.keep_alive = 1200),
        // Above 1200 s: accepted and treated as 1200.
        opts(&|o| o.keep_alive = 1201),
        opts(&|o| o.keep_alive = 65535),
        opts(&|o| o.client_id = format!("{}|securemode=2,signmethod=hmacmd5|", "c".repeat(64))),
        opts(&|o| o.client_id = "sn|securemode=2,signmethod=hmacsha256|".into()),
        // signmethod and timestamp are optional; extra key=value pairs are allowed.
        opts(&|o| o.client_id = "sn|securemode=2|".into()),
        opts(&|o| o.client_id = "sn|securemode=2,_v=sdk-c-3.2.0,lan=C,_ss=1,gw=0,ext=0|".into()),
        opts(&|o| o.username = Some(String::new())),
        opts(&|o| {
            o.username = Some(String::new());
            o.password = Some(String::new())
        }),
        opts(&|o| {
            o.username = Some("&".into());
            o.password = Some("ab".repeat(32))
        }),
        opts(&|o| o.username = Some(format!("rule-dev&{pk}"))),
        opts(&|o| o.password = Some("ignored-by-the-platform".into())),
        // MQTT 3.1.
        opts(&|o| {
            o.protocol_name = "MQIsdp".into();
            o.protocol_level = 3
        }),
    ] {
        expect_code(&sim, port, &dev, &accepted, 0)
            .unwrap()
            .disconnect();
    }
    server.wait_log("keepalive 1201 s of pk=");
    server.wait_log("treated as 1200 s (the platform's maximum)");

    // Each rule violated once: (options, CONNACK code, logged reason).
    let refused: Vec<(ConnectOptions, u8, &str)> = vec![
        (
            opts(&|o| o.keep_alive = 29),
            3,
            "keepalive 29 s is below the platform's minimum of 30 s",
        ),
        (opts(&|o| o.keep_alive = 0), 3, "keepalive 0 s is below"),
        (
            opts(&|o| {
                o.client_id = format!("{}|securemode=2,signmethod=hmacsha1|", "c".repeat(65))
            }),
            3,
            "clientId has 65 characters",
        ),
        (
            opts(&|o| o.client_id = "|securemode=2,signmethod=hmacsha1|".into()),
            3,
            "clientId (before the first '|') is empty",
        ),
        (
            opts(&|o| o.client_id = "sn|securemode=3,signmethod=hmacsha1|".into()),
            3,
            "securemode=3",
        ),
        (
            opts(&|o| o.client_id = "sn|signmethod=hmacsha1|".into()),
            3,
            "lacks securemode=2",
        ),
        (
            opts(&|o| o.client_id = "sn|securemode=2,signmethod=hmacsha512|".into()),
            3,
            "signmethod=hmacsha512",
        ),
        (
            opts(&|o| o.client_id = "sn|securemode=2,signmethod=hmacsha1".into()),
            3,
            "closed by a final '|'",
        ),
        (
            opts(&|o| o.client_id = "sn|securemode=2,lonely|".into()),
            3,
            "is not key=value",
        ),
        (opts(&|o| o.protocol_level = 3), 1, "use MQTT 3.1.1"),
        (
            opts(&|o| o.protocol_level = 5),
            1,
            "level 5 is not supported",
        ),
        (
            opts(&|o| o.username = Some(format!("other-dev&{pk}"))),
            5,
            "does not match the certificate's",
        ),
    ];
    for (options, code, reason) in &refused {
        assert!(expect_code(&sim, port, &dev, options, *code).is_none());
        let log = server.wait_log(reason);
        let line = log.lines().find(|l| l.contains(reason)).unwrap();
        assert!(
            line.starts_with(&format!("[sim] REFUSED (code {code}): ")),
            "{line}"
        );
    }

    // A disabled device is refused with 5; enabling it again restores access.
    sim.ok(&["device", "disable", "--product", &pk, "--name", "rule-dev"]);
    assert!(expect_code(&sim, port, &dev, &opts(&|_| {}), 5).is_none());
    server.wait_log("REFUSED (code 5): device disabled");
    sim.ok(&["device", "enable", "--product", &pk, "--name", "rule-dev"]);
    expect_code(&sim, port, &dev, &opts(&|_| {}), 0)
        .unwrap()
        .disconnect();

    // The last CONNECTs are visible with their fields.
    let (status, body) = server.http(
        "GET",
        &format!("/api/connections?productKey={pk}&deviceName=rule-dev"),
        b"",
    );
    assert_eq!(status, 200);
    let list: Vec<Value> = serde_json::from_str(&body).unwrap();
    let accepted = list.iter().filter(|c| c["accepted"] == true).count();
    assert_eq!(accepted, 15);
    let with_user = list
        .iter()
        .find(|c| c["username"] == format!("rule-dev&{pk}").as_str())
        .expect("CONNECT with username recorded");
    assert_eq!(
        with_user["client_id"],
        "sn-0001|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|"
    );
    assert_eq!(with_user["keepalive"], 300);
    assert_eq!(with_user["pk"], pk.as_str());
    assert!(list
        .iter()
        .any(|c| c["return_code"] == 5 && c["reason"].as_str().unwrap().contains("disabled")));
    assert!(server
        .log()
        .contains(&format!("CONNECT ok pk={pk} dn=rule-dev")));
    assert!(server
        .log()
        .contains(&format!("identity sent to pk={pk} dn=rule-dev")));
}

#[test]
fn lenient_username_accepts_mismatch_with_warning() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "lenient-dev");
    let server = sim.serve(&["--lenient-username"]);
    let mut options = ConnectOptions::new("sn");
    options.username = Some("wrong&name".into());
    expect_code(&sim, server.mqtt_port, &dev, &options, 0)
        .unwrap()
        .disconnect();
    server.wait_log("WARNING username \"wrong&name\"");
}

/// Signs a certificate with the sim's CA that the registry has never seen.
fn unregistered_creds(sim: &Sim) -> Creds {
    use openssl::{
        asn1::Asn1Time, bn::BigNum, ec::*, hash::MessageDigest, nid::Nid, pkey::PKey, x509::*,
    };
    let ca = X509::from_pem(&std::fs::read(sim.ca()).unwrap()).unwrap();
    let ca_key =
        PKey::private_key_from_pem(&std::fs::read(sim.path().join("ca.key")).unwrap()).unwrap();
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(4242).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "generic")
        .unwrap();
    b.set_subject_name(&name.build()).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    // A proper v3 end-entity certificate: only its registration is missing.
    b.append_extension(
        extension::BasicConstraints::new()
            .critical()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.append_extension(
        extension::KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .unwrap(),
    )
    .unwrap();
    let aki = extension::AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(&ca), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let cert = sim.path().join("stranger.pem");
    let key_path = sim.path().join("stranger.key");
    std::fs::write(&cert, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    Creds {
        pk: String::new(),
        dn: String::new(),
        cert,
        key: key_path,
    }
}

#[test]
fn unknown_certificates_and_foreign_cas_are_refused() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    sim.device(&pk, "known-dev");
    let server = sim.serve(&[]);

    // Signed by the platform CA but not in the registry: CONNACK 5.
    let stranger = unregistered_creds(&sim);
    let (_, code) = Client::connect(
        server.mqtt_port,
        &sim.ca(),
        &stranger,
        &ConnectOptions::new("sn"),
    );
    assert_eq!(code, 5);
    server.wait_log("belongs to no registered device");

    // Issued by another sim's CA: the TLS handshake itself fails.
    let other = Sim::new();
    let other_pk = other.product("x509");
    let foreign = other.device(&other_pk, "foreign-dev");
    let result = common::tls_connect(server.mqtt_port, &sim.ca(), &foreign.cert, &foreign.key)
        .and_then(|mut s| {
            use std::io::{Read, Write};
            // TLS 1.3 reports a rejected client certificate after the handshake.
            s.write_all(&[0xe0, 0]).map_err(|e| e.to_string())?;
            let mut buf = [0u8; 1];
            match s.read(&mut buf) {
                Ok(0) | Err(_) => Err("closed".to_string()),
                Ok(_) => Ok(()),
            }
        });
    assert!(
        result.is_err(),
        "a certificate from another CA must not get through"
    );
    server.wait_log("TLS handshake failed");
}

#[test]
fn topic_permissions_and_cloud_to_device_publish() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let a = sim.device(&pk, "dev-a");
    let b = sim.device(&pk, "dev-b");
    let server = sim.serve(&[]);
    let mut client_a =
        expect_code(&sim, server.mqtt_port, &a, &ConnectOptions::new("a"), 0).unwrap();
    let mut client_b =
        expect_code(&sim, server.mqtt_port, &b, &ConnectOptions::new("b"), 0).unwrap();

    let own = format!("/{pk}/dev-a/user/get");
    let sys = format!("/sys/{pk}/dev-a/thing/service/#");
    let foreign = format!("/{pk}/dev-b/user/get");
    // Mixed SUBSCRIBE: the foreign filter and another device's /ext/ tree get 0x80.
    assert_eq!(
        client_a.subscribe(1, &[&own, &foreign, &sys, "/ext/ntp/#"]),
        vec![1, 0x80, 1, 0x80]
    );
    assert_eq!(client_a.subscribe(2, &["#"]), vec![0x80]);
    server.wait_log("REFUSED subscribe");
    assert_eq!(client_b.subscribe(1, &[&foreign]), vec![1]);

    // A publishes into B's topic: dropped (PUBACK so A does not retry), B gets nothing of it.
    client_a.publish(&foreign, b"intrusion", 1, 7);
    let (first, body) = client_a
        .read_packet()
        .expect("PUBACK for a dropped publish");
    assert_eq!((first, body), (0x40, vec![0, 7]));
    server.wait_log(&format!(
        "DROPPED publish from pk={pk} dn=dev-a to \"{foreign}\""
    ));
    // QoS 2 into a foreign topic: the endpoint completes the handshake itself.
    client_a.publish(&foreign, b"intrusion-2", 2, 8);
    assert_eq!(client_a.read_packet().unwrap(), (0x50, vec![0, 8]));
    {
        use std::io::Write;
        client_a.stream.write_all(&[0x62, 2, 0, 8]).unwrap();
    }
    assert_eq!(client_a.read_packet().unwrap(), (0x70, vec![0, 8]));

    // Cloud -> device over HTTP reaches the subscribed device, at QoS 0 and 1.
    let (status, body) = server.http(
        "POST",
        &format!("/api/pub?topic={foreign}&qos=0"),
        b"cloud-0",
    );
    assert_eq!(status, 200, "{body}");
    let (topic, payload) = client_b.next_publish().expect("cloud message");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (foreign.as_str(), &b"cloud-0"[..])
    );
    let (status, _) = server.http(
        "POST",
        &format!("/api/pub?topic={}&qos=1", own.replace('/', "%2F")),
        b"cloud-1",
    );
    assert_eq!(status, 200);
    let (topic, payload) = client_a.next_publish().expect("cloud message at QoS 1");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (own.as_str(), &b"cloud-1"[..])
    );

    // A device publishing on its own topic is routed through the broker
    // (user/get is subscribe-only by default: give it both rights first, as
    // the vendor's echo example asks users to do in the console).
    sim.ok(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/get",
        "--access",
        "ALL",
    ]);
    client_a.disconnect();
    let mut client_a =
        expect_code(&sim, server.mqtt_port, &a, &ConnectOptions::new("a"), 0).unwrap();
    assert_eq!(client_a.subscribe(3, &[&own]), vec![1]);
    client_a.publish(&own, b"loopback", 0, 0);
    let (topic, payload) = client_a.next_publish().expect("own publish routed");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (own.as_str(), &b"loopback"[..])
    );

    // Bad HTTP requests get a message, not a crash.
    assert_eq!(server.http("POST", "/api/pub?qos=0", b"x").0, 400);
    assert_eq!(
        server.http("POST", "/api/pub?topic=/a/%23&qos=0", b"x").0,
        400
    );
    assert_eq!(
        server.http("POST", "/api/pub?topic=/a/b&qos=2", b"x").0,
        400
    );
    assert_eq!(server.http("GET", "/api/pub", b"").0, 405);
    assert_eq!(server.http("GET", "/nowhere", b"").0, 404);
    assert_eq!(server.http("GET", "/healthz", b""), (200, "ok\n".into()));
    client_a.disconnect();
    client_b.disconnect();
    server.wait_log(&format!("DISCONNECT pk={pk} dn=dev-a"));
}

#[test]
fn cert_urls_serve_for_30_days_then_refuse() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let created: i64 = 1_700_000_000;
    let out = sim
        .command(&[
            "device",
            "batch",
            "--product",
            &pk,
            "--count",
            "2",
            "--key-type",
            "ec-p256",
            "--json",
        ])
        .env("IOTKIT_SIM_NOW", created.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch: Value = serde_json::from_slice(&out.stdout).unwrap();
    let csv = std::fs::read_to_string(batch["csvFile"].as_str().unwrap()).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let (device_name, url) = (row[1].to_string(), row[2].to_string());
    let path = &url[url.find("/certs/").unwrap()..];

    // Day 29: the CertUrl serves certificate and key, and they connect.
    let day = 86_400;
    let inside = (created + 30 * day - 1).to_string();
    let server = sim.serve_with_env(&[], &[("IOTKIT_SIM_NOW", inside.as_str())]);
    let (status, bundle) = server.http("GET", path, b"");
    assert_eq!(status, 200);
    assert!(bundle.contains("BEGIN CERTIFICATE") && bundle.contains("BEGIN EC PRIVATE KEY"));
    let cert = sim.path().join("dl.pem");
    std::fs::write(&cert, &bundle).unwrap();
    let creds = Creds {
        pk: pk.clone(),
        dn: device_name.clone(),
        cert: cert.clone(),
        key: cert,
    };
    expect_code(
        &sim,
        server.mqtt_port,
        &creds,
        &ConnectOptions::new("dl"),
        0,
    )
    .unwrap()
    .disconnect();
    // QueryDeviceCert over HTTP.
    let (status, body) = server.http(
        "GET",
        &format!("/api/device-cert?productKey={pk}&deviceName={device_name}"),
        b"",
    );
    assert_eq!(status, 200);
    let record: Value = serde_json::from_str(&body).unwrap();
    assert!(bundle.starts_with(record["certificate"].as_str().unwrap()));
    assert_eq!(record["status"], "valid");
    assert_eq!(server.http("GET", "/certs/0123456789abcdef", b"").0, 404);
    assert_eq!(
        server.http("GET", "/api/device-cert?productKey=x", b"").0,
        400
    );
    drop(server);

    // Day 30: refused with a message that says what to do instead.
    let after = (created + 30 * day).to_string();
    let server = sim.serve_with_env(&[], &[("IOTKIT_SIM_NOW", after.as_str())]);
    let (status, body) = server.http("GET", path, b"");
    assert_eq!(status, 410);
    assert!(
        body.contains("expired") && body.contains("device cert --product"),
        "{body}"
    );
}

#[test]
fn mosquitto_clients_with_rsa_certificates() {
    if !common::have("mosquitto_sub") {
        eprintln!("skipped: mosquitto_sub is not installed (apt-get install mosquitto-clients)");
        return;
    }
    let sim = Sim::new();
    let pk = sim.product("x509");
    // Default key type: RSA 2048 with a PKCS#1 key, as in the platform's guide.
    let v = sim.json(&["device", "create", "--product", &pk, "--name", "mosq-dev"]);
    let dev = Creds::from_json(&v);
    assert!(std::fs::read_to_string(&dev.key)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let server = sim.serve(&[]);
    let port = server.mqtt_port.to_string();
    let tls_args = |host: &str| {
        vec![
            "--cafile".to_string(),
            sim.ca().display().to_string(),
            "--cert".into(),
            dev.cert.display().to_string(),
            "--key".into(),
            dev.key.display().to_string(),
            "-h".into(),
            host.into(),
            "-p".into(),
            port.clone(),
        ]
    };
    let out = Command::new("mosquitto_sub")
        .args(tls_args("127.0.0.1"))
        .args([
            "-t",
            IDENTITY_TOPIC,
            "-i",
            "id|securemode=2,signmethod=hmacsha1|",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        identity_payload(&dev)
    );

    // A keepalive below 30 s is refused with 3; mosquitto reports it.
    let out = Command::new("mosquitto_pub")
        .args(tls_args("localhost"))
        .args([
            "-t",
            "/ext/x",
            "-m",
            "m",
            "-i",
            "id|securemode=2,signmethod=hmacsha1|",
            "-k",
            "10",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broker unavailable"), "{stderr}");
    server.wait_log("REFUSED (code 3): keepalive 10 s");
}

/// A real mosquitto broker behind the endpoint (`--upstream`).
struct Mosquitto(std::process::Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts mosquitto on a free loopback port and waits (bounded) for its own
/// "running" line. The port is chosen before mosquitto binds it, so another
/// process may take it first: mosquitto then says "Address already in use"
/// (or exits) and another port is tried.
fn start_mosquitto(program: &str, dir: &std::path::Path) -> (Mosquitto, u16) {
    use std::io::BufRead;
    let mut last = String::new();
    for _ in 0..5 {
        let port = common::free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(program)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // stderr: unbuffered, so each line arrives as mosquitto logs it.
        let log = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(log).lines() {
                let Ok(line) = line else { break };
                // Once the start is seen nobody listens; keep draining so
                // mosquitto never blocks on (or is cut off from) its log.
                let _ = tx.send(line);
            }
        });
        let broker = Mosquitto(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(" running") => return (broker, port),
                Ok(line) if line.contains("Address already in use") => {
                    last = line;
                    break;
                }
                Ok(line) => last = line,
                // Exited (its log closed) or silent too long: another port.
                Err(_) => break,
            }
        }
        drop(broker);
    }
    panic!("mosquitto did not start in 5 attempts; last line: {last}");
}

#[test]
fn upstream_mosquitto_broker() {
    let Some(mosquitto) = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipped: mosquitto is not installed (apt-get install mosquitto)");
        return;
    };
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "upstream-dev");
    let (_broker, port) = start_mosquitto(mosquitto, sim.path());
    let upstream = format!("127.0.0.1:{port}");
    let server = sim.serve(&["--upstream", &upstream]);
    assert!(server
        .log()
        .contains(&format!("broker=upstream {upstream}")));
    let mut client =
        expect_code(&sim, server.mqtt_port, &dev, &ConnectOptions::new("up"), 0).unwrap();
    let topic = format!("/{pk}/upstream-dev/user/get");
    assert_eq!(client.subscribe(3, &[&topic, "/other/x"]), vec![1, 0x80]);
    let (status, _) = server.http("POST", &format!("/api/pub?topic={topic}"), b"via mosquitto");
    assert_eq!(status, 200);
    let (got_topic, payload) = client.next_publish().unwrap();
    assert_eq!((got_topic, payload), (topic, b"via mosquitto".to_vec()));
    client.disconnect();
}

#[test]
fn two_hundred_concurrent_devices() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let batch = sim.json(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "200",
        "--key-type",
        "ec-p256",
    ]);
    let csv = std::fs::read_to_string(batch["csvFile"].as_str().unwrap()).unwrap();
    let server = sim.serve(&[]);
    let devices: Vec<Creds> = csv
        .lines()
        .skip(1)
        .enumerate()
        .map(|(index, line)| {
            let cols: Vec<&str> = line.split(',').collect();
            let path = &cols[2][cols[2].find("/certs/").unwrap()..];
            let (status, bundle) = server.http("GET", path, b"");
            assert_eq!(status, 200);
            let file = sim.path().join(format!("d{index}.pem"));
            std::fs::write(&file, bundle).unwrap();
            Creds {
                pk: cols[0].into(),
                dn: cols[1].into(),
                cert: file.clone(),
                key: file,
            }
        })
        .collect();
    assert_eq!(devices.len(), 200);

    // Connect from 4 threads; every connection stays open until all are in.
    let chunks: Vec<Vec<Creds>> = devices.chunks(50).map(|c| c.to_vec()).collect();
    let port = server.mqtt_port;
    let ca = sim.ca();
    let clients: Vec<Client> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let ca = ca.clone();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|creds| {
                            let (mut client, code) =
                                Client::connect(port, &ca, creds, &ConnectOptions::new(&creds.dn));
                            assert_eq!(code, 0);
                            let (topic, payload) = client.next_publish().expect("identity");
                            assert_eq!(topic, IDENTITY_TOPIC);
                            assert_eq!(
                                String::from_utf8(payload).unwrap(),
                                identity_payload(creds)
                            );
                            client
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(clients.len(), 200);
    // All 200 sessions are live: each subscribes and gets a cloud message.
    let mut clients = clients;
    for (client, creds) in clients.iter_mut().zip(&devices).take(20) {
        let topic = format!("/{}/{}/user/get", creds.pk, creds.dn);
        assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
        assert_eq!(
            server
                .http("POST", &format!("/api/pub?topic={topic}"), b"hi")
                .0,
            200
        );
        client.set_timeout(Duration::from_secs(10));
        assert_eq!(client.next_publish().unwrap().1, b"hi");
    }
    for client in clients {
        client.disconnect();
    }
}

#[test]
fn sigterm_and_sigint_stop_cleanly_and_state_survives_restart() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "restart-dev");
    for (round, signal) in ["TERM", "INT"].into_iter().enumerate() {
        let mut server = sim.serve(&[]);
        let client_id = format!("r{round}");
        expect_code(
            &sim,
            server.mqtt_port,
            &dev,
            &ConnectOptions::new(&client_id),
            0,
        )
        .unwrap()
        .disconnect();
        let status = server.stop_with(signal);
        assert!(
            status.success(),
            "serve exit status {status} after SIG{signal}"
        );
        assert!(server
            .log()
            .contains(&format!("[sim] stopped (SIG{signal})")));
        assert!(
            !sim.path().join("serve.json").exists(),
            "serve.json must be removed on stop"
        );
    }
    // Everything committed before survives: the device still connects.
    let server = sim.serve(&[]);
    expect_code(&sim, server.mqtt_port, &dev, &ConnectOptions::new("r2"), 0)
        .unwrap()
        .disconnect();
}

#[test]
fn garbage_after_the_handshake_does_not_hurt_the_endpoint() {
    use std::io::Write;
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "sturdy-dev");
    let server = sim.serve(&[]);
    let port = server.mqtt_port;
    let garbage: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f],
        &[0x10, 3, 0, 4, b'M'],
        &[0x82, 2, 0, 1],
        &[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x01, 0, 60, 0, 0],
    ];
    for bytes in garbage {
        let mut stream = common::tls_connect(port, &sim.ca(), &dev.cert, &dev.key).unwrap();
        let _ = stream.write_all(bytes);
        let _ = stream.flush();
        drop(stream);
    }
    // A CONNECT that never comes is cut off by the timeout; meanwhile others connect fine.
    let _idle = common::tls_connect(port, &sim.ca(), &dev.cert, &dev.key).unwrap();
    expect_code(&sim, port, &dev, &ConnectOptions::new("after-garbage"), 0)
        .unwrap()
        .disconnect();
    let log = server.wait_log("first packet is type 8 instead of CONNECT");
    assert!(log.contains("malformed CONNECT"), "{log}");
    assert_eq!(server.http("GET", "/healthz", b"").0, 200);
}
