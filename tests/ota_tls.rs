//! The OTA download is verified against the configured CA: a server whose
//! certificate chains elsewhere (or names another host) is refused at once,
//! with a sentence, and never retried; a trusted one is used. Real TLS: the
//! library's mbedTLS client against `openssl s_server`.

mod support;

use iotkit::ota::message::parse_upgrade;
use iotkit::ota::session::{Session, State};
use iotkit::ota::TlsDialer;
use iotkit::tls::TlsConfig;
use std::time::Duration;
use support::peers::{s_server, SServer};

fn push(port: u16, host: &str) -> iotkit::ota::message::Upgrade {
    let payload = format!(
        r#"{{"code":"1000","data":{{"size":10,"version":"9.9","url":"https://{host}:{port}/fw","md5":"00000000000000000000000000000000"}},"id":1,"message":"success"}}"#
    );
    parse_upgrade(payload.as_bytes()).unwrap()
}

fn server(pki: &support::pki::Pki) -> support::peers::Peer {
    s_server(
        pki,
        &SServer {
            cert: "server",
            client_ca: "ca",
            require_client_cert: false,
            quiet: true,
            extra: vec!["-www"],
        },
    )
}

#[test]
fn an_untrusted_download_server_is_refused_without_retrying() {
    let pki = support::pki::shared();
    pki.new_ca("ota-other-ca");
    let peer = server(pki);
    let dialer = TlsDialer {
        config: TlsConfig::new(&pki.read("ota-other-ca.crt"), None).unwrap(),
    };
    let mut session = Session::new();
    session.on_upgrade(push(peer.port, "127.0.0.1")).unwrap();
    let failure = session
        .fetch(&dialer, &mut [0u8; 64], Duration::from_secs(10))
        .unwrap_err();
    assert!(
        failure.message.contains("not trusted"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("resumed"), "{}", failure.message);
    assert_eq!(session.state(), State::Fetched);
    assert!(!session.is_good());
}

#[test]
fn a_trusted_server_is_used_and_its_answer_checked() {
    let pki = support::pki::shared();
    let peer = server(pki);
    let dialer = TlsDialer {
        config: TlsConfig::new(&pki.read("ca.crt"), None).unwrap(),
    };
    // The handshake succeeds; s_server -www answers HTTP/1.0 without a
    // Content-Length, which the client refuses by name.
    let mut session = Session::new();
    session.on_upgrade(push(peer.port, "127.0.0.1")).unwrap();
    let failure = session
        .fetch(&dialer, &mut [0u8; 64], Duration::from_secs(10))
        .unwrap_err();
    assert!(
        failure.message.contains("no Content-Length"),
        "{}",
        failure.message
    );
}
