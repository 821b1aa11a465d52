//! The server CA input takes a bundle of several roots (the platform's
//! current root expires in 2028, so firmware carries its successor beside
//! it): the server's root second in the bundle, and first an expired or
//! unrelated root, through every CA input — `TlsConfig`, `HAL_SSL_Establish`'s
//! `ca_crt`, `IOTX_X509_CA_FILE`, `iotkit_mqtt_construct_x509`'s `ca_pem`,
//! and `IOT_MQTT_Construct`'s `mqtt_params.pub_key` and `iotx_ca_crt`.

mod support;

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::compat::IOT_Ioctl;
use iotkit::ffi::mqtt::{
    iotkit_mqtt_construct_x509, iotkit_x509_client_params_t, IOT_MQTT_Construct, IOT_MQTT_Destroy,
};
use iotkit::ffi::tls::{iotkit_x509_clear_credentials, HAL_SSL_Destroy, HAL_SSL_Establish};
use iotkit::ffi::types::{iotx_ioctl_option_t, iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use iotkit::tls::{self, ClientCredentials, TlsConfig, TlsError};
use support::peers::{self, SServer};
use support::pki::{self, Pki};

const TIMEOUT: Duration = Duration::from_secs(10);
const ITE_STATE_EVERYTHING: i32 = 23;

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// The PKI with two more roots: "other_ca" (valid, unrelated) and
/// "expired_ca" (valid only in 2020).
fn pki() -> &'static Pki {
    static ONCE: Once = Once::new();
    let pki = pki::shared();
    ONCE.call_once(|| {
        pki.new_ca("other_ca");
        pki.new_expired_ca("expired_ca");
    });
    pki
}

/// PEM bundles whose second certificate is the server's root.
fn bundles(pki: &Pki) -> [(&'static str, Vec<u8>); 2] {
    [
        (
            "unrelated root first",
            [pki.read("other_ca.crt"), pki.read("ca.crt")].concat(),
        ),
        (
            "expired root first",
            [pki.read("expired_ca.crt"), pki.read("ca.crt")].concat(),
        ),
    ]
}

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    iotkit_x509_clear_credentials();
    for var in ["IOTX_X509_CA_FILE", "IOTX_MQTT_HOST", "IOTX_MQTT_PORT"] {
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

fn client_credentials(pki: &Pki) -> Arc<ClientCredentials> {
    Arc::new(
        ClientCredentials::from_pem_or_der(
            &pki.read("client_ec.crt"),
            &pki.read("client_ec.key"),
            None,
        )
        .unwrap(),
    )
}

#[test]
fn the_expired_root_really_is_expired_and_alone_trusts_nothing() {
    let pki = pki();
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(pki.path("expired_ca.crt"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2020"),
        "{out:?}"
    );
    let server = peers::s_server(pki, &SServer::default());
    for root in ["other_ca.crt", "expired_ca.crt"] {
        let conf = TlsConfig::new(&pki.read(root), Some(client_credentials(pki))).unwrap();
        let err = tls::connect("localhost", server.port, &conf, TIMEOUT).unwrap_err();
        assert!(
            matches!(err, TlsError::UntrustedServerCertificate { .. }),
            "{root}: {err}"
        );
    }
}

#[test]
fn tls_config_takes_a_bundle_with_the_server_root_second() {
    let pki = pki();
    let server = peers::s_server(pki, &SServer::default());
    for (case, bundle) in bundles(pki) {
        let conf = TlsConfig::new(&bundle, Some(client_credentials(pki))).unwrap();
        tls::connect("localhost", server.port, &conf, TIMEOUT)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

#[test]
fn hal_ssl_establish_takes_a_bundle_as_argument_and_as_ca_file() {
    let _serial = serial();
    let pki = pki();
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_ec.key"));
    let server = peers::s_server(pki, &SServer::default());
    let host = CString::new("localhost").unwrap();
    for (case, bundle) in bundles(pki) {
        // The vendor's way: PEM whose length counts the NUL.
        let ca = CString::new(bundle.clone()).unwrap();
        let len = ca.as_bytes_with_nul().len() as u32;
        let handle = HAL_SSL_Establish(host.as_ptr(), server.port, ca.as_ptr(), len);
        assert_ne!(handle, 0, "{case}: {}", events_text());
        assert_eq!(HAL_SSL_Destroy(handle), 0);

        pki.write("bundle.pem", &bundle);
        std::env::set_var("IOTX_X509_CA_FILE", pki.path("bundle.pem"));
        let handle = HAL_SSL_Establish(host.as_ptr(), server.port, ptr::null(), 0);
        assert_ne!(handle, 0, "{case} from the file: {}", events_text());
        assert_eq!(HAL_SSL_Destroy(handle), 0);
        std::env::remove_var("IOTX_X509_CA_FILE");
    }
    std::env::remove_var("IOTX_X509_CERT_FILE");
    std::env::remove_var("IOTX_X509_KEY_FILE");
}

#[test]
fn iotkit_mqtt_construct_x509_takes_a_bundle() {
    let _serial = serial();
    let pki = pki();
    let broker = peers::mosquitto(pki, true);
    let host = CString::new("localhost").unwrap();
    let (cert, key) = (pki.read("client_ec.crt"), pki.read("client_ec.key"));
    for (case, bundle) in bundles(pki) {
        let ca = CString::new(bundle).unwrap();
        let params = iotkit_x509_client_params_t {
            host: host.as_ptr(),
            port: broker.port,
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
        let mut client = iotkit_mqtt_construct_x509(&params);
        assert!(!client.is_null(), "{case}: {}", events_text());
        assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
    }
}

fn set_text(option: iotx_ioctl_option_t, value: &str) -> c_int {
    let value = CString::new(value).unwrap();
    IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void)
}

#[test]
fn iot_mqtt_construct_takes_a_bundle_in_pub_key_and_in_iotx_ca_crt() {
    let _serial = serial();
    let pki = pki();
    let broker = peers::mosquitto(pki, true);
    let kv = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::env::set_var("IOTX_KV_DIR", kv.path());
    std::env::set_var("IOTX_PERSIST_IDENTITY", "0");
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_ec.key"));
    std::env::set_var("IOTX_MQTT_HOST", "localhost");
    std::env::set_var("IOTX_MQTT_PORT", broker.port.to_string());
    // A known identity: Construct does not wait for an identity response
    // (mosquitto sends none).
    assert_eq!(
        set_text(
            iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY,
            "a1Bundle001"
        ),
        0
    );
    assert_eq!(
        set_text(
            iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME,
            "bundle-device"
        ),
        0
    );
    for (case, bundle) in bundles(pki) {
        let ca = CString::new(bundle).unwrap();
        let mut params = iotx_mqtt_param_t {
            port: 0,
            host: ptr::null(),
            client_id: ptr::null(),
            username: ptr::null(),
            password: ptr::null(),
            customize_info: ptr::null(),
            pub_key: ca.as_ptr(),
            clean_session: 0,
            request_timeout_ms: 0,
            keepalive_interval_ms: 0,
            write_buf_size: 0,
            read_buf_size: 0,
            handle_event: iotx_mqtt_event_handle_t {
                h_fp: None,
                pcontext: ptr::null_mut(),
            },
        };
        let mut client = IOT_MQTT_Construct(&mut params);
        assert!(!client.is_null(), "{case} in pub_key: {}", events_text());
        assert_eq!(IOT_MQTT_Destroy(&mut client), 0);

        // SAFETY: tests in this binary are serialized; `ca` outlives the
        // Construct call, and the global is reset before it is dropped.
        unsafe { iotkit::ffi::mqtt::iotx_ca_crt = ca.as_ptr() };
        let mut client = IOT_MQTT_Construct(ptr::null_mut());
        // SAFETY: as above.
        unsafe { iotkit::ffi::mqtt::iotx_ca_crt = ptr::null() };
        assert!(
            !client.is_null(),
            "{case} in iotx_ca_crt: {}",
            events_text()
        );
        assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
    }
    for var in [
        "IOTX_KV_DIR",
        "IOTX_PERSIST_IDENTITY",
        "IOTX_X509_CERT_FILE",
        "IOTX_X509_KEY_FILE",
    ] {
        std::env::remove_var(var);
    }
}
