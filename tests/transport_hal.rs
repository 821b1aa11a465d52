//! HAL_SSL_* and the run-time credential sources (g_cli_crt/g_cli_key,
//! iotkit_x509_set_credentials, IOTX_X509_* files) against
//! `openssl s_server -Verify 1` on 127.0.0.1.
//!
//! The credential sources are process-wide, so every test takes `SERIAL`.

mod support;

use std::ffi::{c_char, c_int, CString};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::tls::{
    iotkit_x509_clear_credentials, iotkit_x509_set_credentials, ssl_hooks_set, HAL_SSL_Destroy,
    HAL_SSL_Establish, HAL_SSL_Read, HAL_SSL_Write,
};
use iotkit::ffi::types::ssl_hooks_t;
use support::peers::{self, Peer, SServer};
use support::pki::{self, KeyKind, Pki};

static SERIAL: Mutex<()> = Mutex::new(());

/// ITE_STATE_EVERYTHING in the vendor's iotx_ioctl_event_t.
const ITE_STATE_EVERYTHING: i32 = 23;

static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// Takes the test lock, resets every credential source and starts
/// recording state events.
fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    set_globals(None, None);
    iotkit_x509_clear_credentials();
    for var in [
        "IOTX_X509_CERT_FILE",
        "IOTX_X509_KEY_FILE",
        "IOTX_X509_KEY_PASSWORD",
        "IOTX_X509_CA_FILE",
    ] {
        std::env::remove_var(var);
    }
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

fn set_globals(cert: Option<&CString>, key: Option<&CString>) {
    // SAFETY: tests are serialized; the strings outlive every use (callers
    // reset the globals before dropping them).
    unsafe {
        iotkit::ffi::tls::g_cli_crt = cert.map_or(ptr::null(), |c| c.as_ptr());
        iotkit::ffi::tls::g_cli_key = key.map_or(ptr::null(), |k| k.as_ptr());
    }
}

fn c_text(pki: &Pki, file: &str) -> CString {
    CString::new(pki.read(file)).unwrap()
}

fn set_credentials(pki: &Pki, name: &str) -> c_int {
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

/// HAL_SSL_Establish with the CA passed the vendor's way: PEM text whose
/// length counts the trailing NUL.
fn establish(pki: &Pki, host: &str, port: u16) -> usize {
    let host = CString::new(host).unwrap();
    let ca = c_text(pki, "ca.crt");
    let len = ca.as_bytes_with_nul().len() as u32;
    HAL_SSL_Establish(host.as_ptr(), port, ca.as_ptr(), len)
}

/// The CN of the last client certificate s_server verified.
fn last_client_cn(server: &Peer) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let output = server.output();
        let found = output
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("depth=0 CN = "))
            .map(str::to_owned);
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect_as(pki: &Pki, server: &Peer) -> Option<String> {
    let before = server.output().matches("depth=0 CN = ").count();
    let handle = establish(pki, "localhost", server.port);
    assert_ne!(handle, 0, "establish failed; events:\n{}", events_text());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.output().matches("depth=0 CN = ").count() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(HAL_SSL_Destroy(handle), 0);
    last_client_cn(server)
}

#[test]
fn credential_sources_follow_the_documented_precedence() {
    let _serial = serial();
    let pki = pki::shared();
    pki.issue_client("client_global", "ca", KeyKind::EcP256);
    let server = peers::s_server(pki, &SServer::default());

    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_rsa.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_rsa.key"));
    assert_eq!(
        connect_as(pki, &server).as_deref(),
        Some("client_rsa"),
        "files"
    );

    assert_eq!(set_credentials(pki, "client_ec"), 0);
    assert_eq!(
        connect_as(pki, &server).as_deref(),
        Some("client_ec"),
        "setter over files"
    );

    let cert = c_text(pki, "client_global.crt");
    let key = c_text(pki, "client_global.key");
    set_globals(Some(&cert), Some(&key));
    assert_eq!(
        connect_as(pki, &server).as_deref(),
        Some("client_global"),
        "globals over setter"
    );
    // Same globals again: served from the cache, same identity.
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_global"));

    set_globals(None, None);
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_ec"));
    iotkit_x509_clear_credentials();
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_rsa"));
}

#[test]
fn encrypted_key_file_uses_the_password_variable() {
    let _serial = serial();
    let pki = pki::shared();
    pki.encrypt_rsa_key_traditional("client_rsa", "pw-123", "client_rsa.env.key");
    let server = peers::s_server(pki, &SServer::default());
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_rsa.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_rsa.env.key"));

    assert_eq!(establish(pki, "localhost", server.port), 0);
    assert!(
        events_text().contains("IOTX_X509_KEY_PASSWORD"),
        "{}",
        events_text()
    );

    std::env::set_var("IOTX_X509_KEY_PASSWORD", "pw-123");
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_rsa"));
}

#[test]
fn missing_or_half_configured_credentials_fail_with_a_clear_event() {
    let _serial = serial();
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());

    assert_eq!(establish(pki, "localhost", server.port), 0);
    let text = events_text();
    assert!(text.contains("requires a client certificate"), "{text}");
    assert!(text.contains("iotkit_x509_set_credentials"), "{text}");

    EVENTS.lock().unwrap().clear();
    let cert = c_text(pki, "client_ec.crt");
    set_globals(Some(&cert), None);
    assert_eq!(establish(pki, "localhost", server.port), 0);
    assert!(
        events_text().contains("g_cli_key is NULL"),
        "{}",
        events_text()
    );
    set_globals(None, None);

    EVENTS.lock().unwrap().clear();
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("does-not-exist.key"));
    assert_eq!(establish(pki, "localhost", server.port), 0);
    assert!(
        events_text().contains("does-not-exist.key"),
        "{}",
        events_text()
    );
}

#[test]
fn setter_rejects_bad_input_and_keeps_the_previous_credentials() {
    let _serial = serial();
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());
    assert_eq!(set_credentials(pki, "client_ec"), 0);

    let cert = pki.read("client_rsa.crt");
    let wrong_key = pki.read("client_ec.key");
    let code = iotkit_x509_set_credentials(
        cert.as_ptr().cast(),
        cert.len() as u32,
        wrong_key.as_ptr().cast(),
        wrong_key.len() as u32,
        ptr::null(),
    );
    assert!(code < 0);
    assert!(
        events_text().contains("does not belong to"),
        "{}",
        events_text()
    );

    let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    assert!(
        iotkit_x509_set_credentials(
            garbage.as_ptr().cast(),
            garbage.len() as u32,
            wrong_key.as_ptr().cast(),
            wrong_key.len() as u32,
            ptr::null()
        ) < 0
    );
    assert!(iotkit_x509_set_credentials(ptr::null(), 0, ptr::null(), 0, ptr::null()) < 0);
    assert!(
        iotkit_x509_set_credentials(
            cert.as_ptr().cast(),
            u32::MAX,
            wrong_key.as_ptr().cast(),
            10,
            ptr::null()
        ) < 0
    );

    // NUL-terminated strings with length 0 work; the earlier good set stays.
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_ec"));
    let cert = c_text(pki, "client_rsa.crt");
    let key = c_text(pki, "client_rsa.key");
    assert_eq!(
        iotkit_x509_set_credentials(cert.as_ptr(), 0, key.as_ptr(), 0, ptr::null()),
        0
    );
    assert_eq!(connect_as(pki, &server).as_deref(), Some("client_rsa"));
}

#[test]
fn ca_comes_from_the_argument_or_the_ca_file_variable() {
    let _serial = serial();
    let pki = pki::shared();
    assert_eq!(set_credentials(pki, "client_ec"), 0);
    let server = peers::s_server(pki, &SServer::default());
    let host = CString::new("localhost").unwrap();

    assert_eq!(
        HAL_SSL_Establish(host.as_ptr(), server.port, ptr::null(), 0),
        0
    );
    assert!(
        events_text().contains("IOTX_X509_CA_FILE"),
        "{}",
        events_text()
    );

    std::env::set_var("IOTX_X509_CA_FILE", pki.path("ca.crt"));
    let handle = HAL_SSL_Establish(host.as_ptr(), server.port, ptr::null(), 0);
    assert_ne!(handle, 0, "{}", events_text());
    assert_eq!(HAL_SSL_Destroy(handle), 0);

    // Length without the NUL, and 0 meaning "NUL-terminated", work too.
    let ca = c_text(pki, "ca.crt");
    for len in [ca.as_bytes().len() as u32, 0] {
        let handle = HAL_SSL_Establish(host.as_ptr(), server.port, ca.as_ptr(), len);
        assert_ne!(handle, 0, "len {len}: {}", events_text());
        assert_eq!(HAL_SSL_Destroy(handle), 0);
    }
    assert_eq!(
        HAL_SSL_Establish(ptr::null(), server.port, ca.as_ptr(), 0),
        0
    );
}

#[test]
fn hal_read_write_follow_the_vendor_semantics() {
    let _serial = serial();
    let pki = pki::shared();
    assert_eq!(set_credentials(pki, "client_rsa"), 0);
    let mut server = peers::s_server(pki, &SServer::default());
    let handle = establish(pki, "127.0.0.1", server.port);
    assert_ne!(handle, 0, "{}", events_text());

    let message = b"hello over HAL_SSL_Write\n";
    assert_eq!(
        HAL_SSL_Write(
            handle,
            message.as_ptr().cast(),
            message.len() as c_int,
            2000
        ),
        message.len() as c_int
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.output().contains("hello over HAL_SSL_Write") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.output().contains("hello over HAL_SSL_Write"));

    let mut buf = [0 as c_char; 32];
    assert_eq!(
        HAL_SSL_Read(handle, buf.as_mut_ptr(), 32, 100),
        0,
        "nothing arrived"
    );
    server.send_stdin(b"12345\n");
    assert_eq!(
        HAL_SSL_Read(handle, buf.as_mut_ptr(), 32, 1000),
        6,
        "partial count"
    );
    assert_eq!(HAL_SSL_Read(handle, buf.as_mut_ptr(), 0, 1000), 0);
    assert_eq!(HAL_SSL_Read(handle, ptr::null_mut(), 32, 1000), -1);
    assert_eq!(HAL_SSL_Read(handle, buf.as_mut_ptr(), -5, 1000), -1);

    server.send_stdin(b"Q\n");
    assert_eq!(
        HAL_SSL_Read(handle, buf.as_mut_ptr(), 32, 10_000),
        -2,
        "peer closed"
    );
    assert_eq!(
        HAL_SSL_Read(handle, buf.as_mut_ptr(), 32, 10_000),
        -2,
        "stays closed"
    );
    let mut write_failed = false;
    for _ in 0..50 {
        if HAL_SSL_Write(handle, message.as_ptr().cast(), message.len() as c_int, 500) < 0 {
            write_failed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(write_failed, "writes after the peer closed must fail");

    assert_eq!(HAL_SSL_Destroy(handle), 0);
    assert_eq!(HAL_SSL_Destroy(handle), -1, "double destroy");
    assert_eq!(
        HAL_SSL_Read(handle, buf.as_mut_ptr(), 32, 10),
        -1,
        "stale handle"
    );
    assert_eq!(
        HAL_SSL_Write(handle, message.as_ptr().cast(), 4, 10),
        -1,
        "stale handle"
    );
    for bogus in [0usize, 1, 0xdead_beef, usize::MAX] {
        assert_eq!(HAL_SSL_Read(bogus, buf.as_mut_ptr(), 32, 10), -1);
        // 0 is "no connection": the vendor's core destroys it after every
        // failed connect, and that succeeds quietly (tests/tls_messages.rs).
        let expected = if bogus == 0 { 0 } else { -1 };
        assert_eq!(HAL_SSL_Destroy(bogus), expected, "{bogus:#x}");
    }
}

#[test]
fn ssl_hooks_set_checks_its_argument() {
    let _serial = serial();
    unsafe extern "C" fn test_malloc(size: u32) -> *mut std::ffi::c_void {
        // SAFETY: plain libc allocation.
        unsafe { libc::malloc(size as usize) }
    }
    unsafe extern "C" fn test_free(ptr: *mut std::ffi::c_void) {
        // SAFETY: ptr came from test_malloc.
        unsafe { libc::free(ptr) }
    }
    assert_eq!(ssl_hooks_set(ptr::null_mut()), -1);
    let mut half = ssl_hooks_t {
        malloc: Some(test_malloc),
        free: None,
    };
    assert_eq!(ssl_hooks_set(&mut half), -1);
    let mut hooks = ssl_hooks_t {
        malloc: Some(test_malloc),
        free: Some(test_free),
    };
    assert_eq!(ssl_hooks_set(&mut hooks), 0);
    assert!(iotkit::ffi::tls::ssl_hooks_installed());
}
