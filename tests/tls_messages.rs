//! What a person is told when TLS credentials or connections cannot work:
//! device keys the TLS policy cannot use are refused when they are set and
//! the message names what is supported; Ed25519 certificates are named as
//! such; a damaged certificate inside a chain or CA bundle is refused by
//! position; a handshake that times out says so (also in the code
//! `iotkit_mqtt_construct_x509` reports); `HAL_SSL_Destroy(0)` and
//! `HAL_TCP_Destroy(0)`, what the vendor's core calls after every failed
//! connect, are quiet.

mod support;

use std::ffi::{c_char, CString};
use std::net::TcpListener;
use std::process::Command;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{iotkit_mqtt_construct_x509, iotkit_x509_client_params_t};
use iotkit::ffi::tcp::HAL_TCP_Destroy;
use iotkit::ffi::tls::{
    iotkit_x509_clear_credentials, iotkit_x509_set_credentials, HAL_SSL_Destroy,
};
use iotkit::ffi::types::iotx_mqtt_event_handle_t;
use iotkit::state;
use iotkit::tls::{ClientCredentials, CredentialError, TlsConfig, TlsError};
use support::pki::{self, Pki};

const ITE_STATE_EVERYTHING: i32 = 23;

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    iotkit_x509_clear_credentials();
    EVENTS.lock().unwrap().clear();
    events::register(
        ITE_STATE_EVERYTHING,
        Some(Registration {
            address: 0,
            handler: Handler::State(Arc::new(|code, message: &str| {
                EVENTS.lock().unwrap().push((code, message.to_owned()));
            })),
        }),
    );
    guard
}

fn events_text() -> String {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .map(|(code, message)| format!("{code}: {message}\n"))
        .collect()
}

fn set_credentials(pki: &Pki, name: &str) -> i32 {
    let cert = pki.read(&format!("{name}.crt"));
    let key = pki.read(&format!("{name}.key"));
    iotkit_x509_set_credentials(
        cert.as_ptr().cast(),
        cert.len() as u32,
        key.as_ptr().cast(),
        key.len() as u32,
        ptr::null(),
    )
}

/// No Rust debug formatting: no enum paths, no quoted-escaped dumps.
fn assert_plain_words(text: &str) {
    eprintln!("message: {text}");
    for needle in ["::", "HiError", "LoError", "Some(", "None"] {
        assert!(!text.contains(needle), "{needle:?} in: {text}");
    }
}

#[test]
fn keys_on_curves_the_tls_policy_does_not_offer_are_refused_when_set() {
    let _serial = serial();
    let pki = pki::shared();
    for (name, curve, shown) in [
        ("client_p521", "secp521r1", "P-521"),
        ("client_bp256", "brainpoolP256r1", "brainpoolP256r1"),
        ("client_k256", "secp256k1", "secp256k1"),
    ] {
        pki.issue_client_with_key(
            name,
            "ca",
            &["ecparam", "-name", curve, "-genkey", "-noout"],
        );
        let err = ClientCredentials::from_pem_or_der(
            &pki.read(&format!("{name}.crt")),
            &pki.read(&format!("{name}.key")),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, CredentialError::UnusableKey { .. }), "{err}");
        EVENTS.lock().unwrap().clear();
        assert_eq!(set_credentials(pki, name), state::STATE_USER_INPUT_INVALID);
        let text = events_text();
        assert!(
            text.contains(shown) && text.contains("P-256 (prime256v1) or P-384 (secp384r1)"),
            "{curve}: {text}"
        );
        assert_plain_words(&text);
    }
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_when_set() {
    let _serial = serial();
    let pki = pki::shared();
    pki.issue_client_with_key(
        "client_rsa1024",
        "ca",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
        ],
    );
    assert_eq!(
        set_credentials(pki, "client_rsa1024"),
        state::STATE_USER_INPUT_INVALID
    );
    let text = events_text();
    assert!(
        text.contains("RSA key of 1024 bits") && text.contains("2048 bits or more"),
        "{text}"
    );
    assert_plain_words(&text);
}

#[test]
fn an_ed25519_certificate_is_named_as_unsupported() {
    let _serial = serial();
    let pki = pki::shared();
    pki.issue_client_with_key(
        "client_ed25519",
        "ca",
        &["genpkey", "-algorithm", "ed25519"],
    );
    assert!(set_credentials(pki, "client_ed25519") < 0);
    let text = events_text();
    assert!(
        text.contains("Ed25519") && text.contains("supported are RSA keys"),
        "{text}"
    );
    assert_plain_words(&text);
}

/// `pem` with the base64 body of its `n`-th certificate (1-based) damaged.
fn damage_certificate(pem: &[u8], n: usize) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let begin = text
        .match_indices("-----BEGIN CERTIFICATE-----")
        .nth(n - 1)
        .unwrap()
        .0;
    let body = begin + "-----BEGIN CERTIFICATE-----\n".len() + 100;
    let mut bytes = text.into_bytes();
    bytes[body..body + 8].copy_from_slice(b"!!!!!!!!");
    bytes
}

#[test]
fn a_chain_whose_second_certificate_is_damaged_is_refused_naming_it() {
    let _serial = serial();
    let pki = pki::shared();
    let leaf = pki.read("client_ec.crt");
    let chain = [leaf.clone(), pki.read("ca.crt")].concat();
    // Undamaged, the two-certificate chain is accepted.
    ClientCredentials::from_pem_or_der(&chain, &pki.read("client_ec.key"), None).unwrap();
    let damaged = damage_certificate(&chain, 2);
    let key = pki.read("client_ec.key");
    assert!(
        iotkit_x509_set_credentials(
            damaged.as_ptr().cast(),
            damaged.len() as u32,
            key.as_ptr().cast(),
            key.len() as u32,
            ptr::null(),
        ) < 0
    );
    let text = events_text();
    assert!(
        text.contains("certificate 2 of 2 is not readable"),
        "{text}"
    );
    assert_plain_words(&text);
    // The same for a CA bundle.
    let bundle = damage_certificate(&[pki.read("ca.crt"), pki.read("ca.crt")].concat(), 2);
    let err = TlsConfig::new(&bundle, None).unwrap_err();
    assert!(matches!(err, TlsError::BadCaCertificate { .. }), "{err}");
    assert!(err.to_string().contains("certificate 2 of 2"), "{err}");
    assert_plain_words(&err.to_string());
}

#[test]
fn a_handshake_timeout_says_it_timed_out_and_after_how_long() {
    let _serial = serial();
    let pki = pki::shared();
    // Accepts TCP (in the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = CString::new("127.0.0.1").unwrap();
    let ca = CString::new(pki.read("ca.crt")).unwrap();
    let (cert, key) = (pki.read("client_ec.crt"), pki.read("client_ec.key"));
    let params = iotkit_x509_client_params_t {
        host: host.as_ptr(),
        port: silent.local_addr().unwrap().port(),
        ca_pem: ca.as_ptr(),
        cert: cert.as_ptr().cast::<c_char>(),
        cert_len: cert.len() as u32,
        key: key.as_ptr().cast::<c_char>(),
        key_len: key.len() as u32,
        key_password: ptr::null(),
        product_key: ptr::null(),
        device_name: ptr::null(),
        client_id: ptr::null(),
        keepalive_interval_ms: 0,
        request_timeout_ms: 0,
        read_buf_size: 0,
        write_buf_size: 0,
        handle_event: iotx_mqtt_event_handle_t {
            h_fp: None,
            pcontext: ptr::null_mut(),
        },
        wait_for_identity: 0,
    };
    assert!(iotkit_mqtt_construct_x509(&params).is_null());
    let events = EVENTS.lock().unwrap().clone();
    let (code, message) = events.last().expect("a state event").clone();
    assert_eq!(
        code,
        state::STATE_SYS_DEPEND_NWK_TIMEOUT,
        "the failure's code; events:\n{}",
        events_text()
    );
    assert!(
        message.contains("did not finish within 10000 ms"),
        "{message}"
    );
    assert!(
        state::describe(code).to_str().unwrap().contains("in time"),
        "{:?}",
        state::describe(code)
    );
    assert!(
        events
            .iter()
            .all(|(code, _)| *code != state::STATE_SYS_DEPEND_NWK_CLOSE),
        "nothing says the connection was closed:\n{}",
        events_text()
    );
    drop(silent);
}

#[test]
fn destroying_handle_0_is_quiet_and_succeeds() {
    let _serial = serial();
    assert_eq!(HAL_SSL_Destroy(0), 0);
    assert_eq!(HAL_TCP_Destroy(0), 0);
    assert_eq!(events_text(), "", "no state event");
    // Unknown non-zero handles still fail.
    assert_eq!(HAL_SSL_Destroy(0x5eed), -1);
    assert_eq!(HAL_TCP_Destroy(0x5eed), -1);
}

/// Run by [`destroying_handle_0_prints_no_warning`] in a child process whose
/// stderr it reads.
#[test]
#[ignore = "run by destroying_handle_0_prints_no_warning"]
fn child_destroys_handle_0_then_an_unknown_handle() {
    assert_eq!(HAL_SSL_Destroy(0), 0);
    assert_eq!(HAL_TCP_Destroy(0), 0);
    eprintln!("CHILD: handle 0 destroyed");
    assert_eq!(HAL_SSL_Destroy(0x5eed), -1);
}

#[test]
fn destroying_handle_0_prints_no_warning() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_destroys_handle_0_then_an_unknown_handle",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (before, after) = stderr
        .split_once("CHILD: handle 0 destroyed")
        .unwrap_or_else(|| panic!("the child ran: {stderr}"));
    assert!(!before.contains("[iotkit]"), "handle 0 logged: {before}");
    // The control: an unknown handle is still warned about.
    assert!(after.contains("0x5eed"), "{after}");
}

#[test]
fn mbedtls_errors_reach_messages_in_words() {
    // A key whose DER body is damaged: the message explains, in words.
    let pki = pki::shared();
    let key = pki.read("client_ec.key");
    let mut damaged = key.clone();
    let at = damaged.len() / 2;
    damaged[at..at + 4].copy_from_slice(b"AAAA");
    let err =
        ClientCredentials::from_pem_or_der(&pki.read("client_ec.crt"), &damaged, None).unwrap_err();
    assert!(err.to_string().contains("(mbedTLS error -0x"), "{err}");
    assert_plain_words(&err.to_string());
}
