//! The private mosquitto brokers of the tests and scripts start reliably: a
//! port taken by another process between choosing and binding it is
//! detected and another one tried (instead of talking to whatever holds
//! it), a broker started as root can read certificates kept in a private
//! (0700) directory, and the certificates scripts/with_mosquitto.sh issues
//! are X.509 v3 with the extensions strict brokers require.

mod mqtt_support;

use std::fs::Permissions;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use mqtt_support::Broker;

fn held_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn broker_tries_another_port_when_one_is_taken() {
    let (_holder, taken) = held_port();
    let broker = Broker::start_trying(&[taken]);
    assert_ne!(broker.port, taken);
    // It is mosquitto that answers on the port it reports.
    broker.pub_message("probe/topic", b"hello", 1, false);
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    assert!(log.contains("Address already in use"), "{log}");
}

fn certificate_text(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// scripts/with_mosquitto.sh in a private (0700) directory, as `mktemp -d`
/// makes them (this suite runs as root in CI, where mosquitto used to switch
/// to its own user and fail with "Unable to load CA certificates ...
/// Permission denied"), with its first port already taken: the command
/// still runs against a mosquitto that accepts the device certificate.
#[test]
fn with_mosquitto_script_survives_a_taken_port_and_issues_v3_certificates() {
    let (_holder, taken) = held_port();
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), Permissions::from_mode(0o700)).unwrap();
    let work = private.path().join("mosquitto");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/with_mosquitto.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&work)
        .args([
            "sh",
            "-c",
            "echo port=$MOSQUITTO_PORT; mosquitto_pub -h localhost -p $MOSQUITTO_PORT \
             --cafile $PKI_DIR/ca.pem --cert $PKI_DIR/device.pem --key $PKI_DIR/device.key \
             -t probe -m hello -q 1 && echo published",
        ])
        .env("MOSQUITTO_TRY_PORTS", taken.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("published"), "{stdout}");
    assert!(
        stderr.contains(&format!("port {taken} is taken")),
        "the taken port was not noticed:\n{stderr}"
    );
    assert!(!stdout.contains(&format!("port={taken}\n")), "{stdout}");

    let pki = work.join("pki");
    for (name, wanted) in [
        (
            "ca.pem",
            &["Basic Constraints: critical", "CA:TRUE", "Certificate Sign"][..],
        ),
        (
            "server.pem",
            &[
                "CA:FALSE",
                "TLS Web Server Authentication",
                "DNS:localhost, IP Address:127.0.0.1",
                "Subject Key Identifier",
                "Authority Key Identifier",
            ][..],
        ),
        (
            "device.pem",
            &[
                "CA:FALSE",
                "Digital Signature",
                "TLS Web Client Authentication",
                "Subject Key Identifier",
                "Authority Key Identifier",
            ][..],
        ),
    ] {
        let text = certificate_text(&pki.join(name));
        assert!(
            text.contains("Version: 3 (0x2)"),
            "{name} is not v3:\n{text}"
        );
        for extension in wanted {
            assert!(
                text.contains(extension),
                "{name} lacks {extension}:\n{text}"
            );
        }
    }
    let verify = Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(pki.join("ca.pem"))
        .arg(pki.join("server.pem"))
        .arg(pki.join("device.pem"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
