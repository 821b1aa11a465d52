//! DER credentials whose last byte is one that trimming a C string would
//! strip (00, 09, 0A, 0C, 0D, 20), through every entry point that takes DER:
//! the credential parser (the one `iotkit_mqtt_construct_x509` uses),
//! `iotkit_x509_set_credentials`, the `IOTX_X509_*_FILE` files, a DER CA
//! given to `HAL_SSL_Establish`, and `iotkit_mqtt_construct_x509` end to end
//! against mosquitto.
//!
//! The certificates and keys are made in this process with mbedTLS: keys
//! are generated until the DER ends in the wanted byte, then certificates
//! for them are signed with increasing serial numbers until the DER ends in
//! it too. Every run has one of each, whatever the random keys turn out to
//! be; each test checks the last bytes before using them.

mod support;

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{
    iotkit_mqtt_construct_x509, iotkit_x509_client_params_t, IOT_MQTT_Destroy,
};
use iotkit::ffi::tls::{
    iotkit_x509_clear_credentials, iotkit_x509_set_credentials, HAL_SSL_Destroy, HAL_SSL_Establish,
};
use iotkit::ffi::types::iotx_mqtt_event_handle_t;
use iotkit::tls::ClientCredentials;
use mbedtls::hash::{Md, Type as MdType};
use mbedtls::pk::{EcGroupId, Pk};
use mbedtls::rng::{CtrDrbg, OsEntropy};
use mbedtls::x509::certificate::Builder;
use mbedtls::x509::{KeyUsage, Time};
use support::peers::{self, Peer, SServer};
use support::pki::{self, Pki};

/// The bytes `trim_c_text` used to strip from the end of every input.
const TRIMMED: [u8; 6] = [0x00, 0x09, 0x0A, 0x0C, 0x0D, 0x20];

/// Generous bound on attempts: each try hits the wanted byte with
/// probability 1/256, so 20,000 tries all failing has probability e^-78.
const MAX_TRIES: u32 = 20_000;

const ITE_STATE_EVERYTHING: i32 = 23;

/// A device certificate and its key (SEC1 DER), both ending in `last`.
struct DerPair {
    last: u8,
    cn: String,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn nul(mut v: Vec<u8>) -> Vec<u8> {
    v.push(0);
    v
}

fn rng() -> CtrDrbg {
    CtrDrbg::new(Arc::new(OsEntropy::new()), None).expect("random generator")
}

fn ca_key(pki: &Pki) -> Pk {
    Pk::from_private_key(&nul(pki.read("ca.key")), None).expect("test CA key")
}

/// The shared PKI's CA subject, as openssl wrote it.
const CA_SUBJECT: &str = "CN=iotkit test CA ca";

/// Signs certificates with serials 1, 2, ... until the DER ends in `last`.
fn sign_until(last: u8, mut build: impl FnMut(&[u8]) -> Vec<u8>) -> Vec<u8> {
    for serial in 1..=MAX_TRIES {
        let der = build(&serial.to_be_bytes());
        if der.last() == Some(&last) {
            return der;
        }
    }
    panic!("no certificate ending in {last:#04x} after {MAX_TRIES} serials");
}

fn der_pairs() -> &'static [DerPair] {
    static PAIRS: OnceLock<Vec<DerPair>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        let pki = pki::shared();
        let mut rng = rng();
        let mut issuer = ca_key(pki);
        TRIMMED
            .iter()
            .map(|&last| {
                let (mut key, key_der) = (0..MAX_TRIES)
                    .find_map(|_| {
                        let mut key = Pk::generate_ec(&mut rng, EcGroupId::SecP256R1).unwrap();
                        let der = key.write_private_der_vec().unwrap();
                        (der.last() == Some(&last)).then_some((key, der))
                    })
                    .unwrap_or_else(|| panic!("no key ending in {last:#04x}"));
                let cn = format!("der-end-{last:02x}");
                let cert = sign_until(last, |serial| {
                    let mut builder = Builder::new();
                    builder
                        .subject(&format!("CN={cn}"))
                        .unwrap()
                        .issuer(CA_SUBJECT)
                        .unwrap()
                        .subject_key(&mut key)
                        .issuer_key(&mut issuer)
                        .signature_hash(MdType::Sha256)
                        .validity(
                            Time::new(2025, 1, 1, 0, 0, 0).unwrap(),
                            Time::new(2045, 1, 1, 0, 0, 0).unwrap(),
                        )
                        .unwrap()
                        .serial(serial)
                        .unwrap();
                    builder.write_der_vec(&mut rng).unwrap()
                });
                DerPair {
                    last,
                    cn,
                    cert,
                    key: key_der,
                }
            })
            .collect()
    })
}

/// The shared CA re-issued (same key and name, so it verifies the same
/// server certificates) as DER ending in `last`.
fn ca_der_ending_in(last: u8) -> Vec<u8> {
    let pki = pki::shared();
    let mut rng = rng();
    let mut subject_key = ca_key(pki);
    let mut issuer_key = ca_key(pki);
    sign_until(last, |serial| {
        let mut builder = Builder::new();
        builder
            .subject(CA_SUBJECT)
            .unwrap()
            .issuer(CA_SUBJECT)
            .unwrap()
            .subject_key(&mut subject_key)
            .issuer_key(&mut issuer_key)
            .signature_hash(MdType::Sha256)
            .validity(
                Time::new(2025, 1, 1, 0, 0, 0).unwrap(),
                Time::new(2045, 1, 1, 0, 0, 0).unwrap(),
            )
            .unwrap()
            .basic_constraints(true, None)
            .unwrap()
            .key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN)
            .unwrap()
            .serial(serial)
            .unwrap();
        builder.write_der_vec(&mut rng).unwrap()
    })
}

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// Takes the test lock, clears the process-wide credential sources and
/// records state events.
fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
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

/// Waits until s_server has verified one more client certificate than
/// `before` and returns the CN of the last one.
fn next_client_cn(server: &Peer, before: usize) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = server.output();
        if output.matches("depth=0 CN = ").count() > before {
            return output
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("depth=0 CN = "))
                .map(str::to_owned);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// HAL_SSL_Establish with the given CA bytes; returns the CN s_server saw.
fn establish_with_ca(server: &Peer, ca: &[u8]) -> Option<String> {
    let before = server.output().matches("depth=0 CN = ").count();
    let host = CString::new("localhost").unwrap();
    let handle = HAL_SSL_Establish(
        host.as_ptr(),
        server.port,
        ca.as_ptr().cast(),
        ca.len() as u32,
    );
    assert_ne!(
        handle,
        0,
        "HAL_SSL_Establish failed; events:\n{}",
        events_text()
    );
    let cn = next_client_cn(server, before);
    assert_eq!(HAL_SSL_Destroy(handle), 0);
    cn
}

fn pem_ca() -> Vec<u8> {
    nul(pki::shared().read("ca.crt"))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Md::hash(MdType::Sha256, data, &mut out).unwrap();
    out
}

#[test]
fn the_generated_credentials_end_in_every_trimmed_byte() {
    let lasts: Vec<(u8, u8, u8)> = der_pairs()
        .iter()
        .map(|p| (p.last, *p.cert.last().unwrap(), *p.key.last().unwrap()))
        .collect();
    for (last, cert_last, key_last) in lasts {
        assert_eq!((cert_last, key_last), (last, last));
    }
}

/// `ClientCredentials::from_pem_or_der` is what `iotkit_mqtt_construct_x509`,
/// `iotkit_x509_set_credentials` and the file variables all parse with.
#[test]
fn der_certificates_and_keys_parse_whatever_their_last_byte() {
    for pair in der_pairs() {
        for trailer in [&b""[..], b"\0"] {
            let cert = [&pair.cert[..], trailer].concat();
            let key = [&pair.key[..], trailer].concat();
            let creds = ClientCredentials::from_pem_or_der(&cert, &key, None).unwrap_or_else(|e| {
                panic!(
                    "DER ending in {:#04x} (trailer {trailer:?}): {e}",
                    pair.last
                )
            });
            assert_eq!(creds.fingerprint_sha256(), sha256(&pair.cert));
            assert_eq!(creds.subject(), format!("CN={}", pair.cn));
        }
    }
}

#[test]
fn der_credentials_set_with_the_setter_complete_a_handshake() {
    let _serial = serial();
    let server = peers::s_server(pki::shared(), &SServer::default());
    for pair in der_pairs() {
        let code = iotkit_x509_set_credentials(
            pair.cert.as_ptr().cast(),
            pair.cert.len() as u32,
            pair.key.as_ptr().cast(),
            pair.key.len() as u32,
            ptr::null(),
        );
        assert_eq!(code, 0, "last byte {:#04x}: {}", pair.last, events_text());
        assert_eq!(
            establish_with_ca(&server, &pem_ca()).as_deref(),
            Some(pair.cn.as_str()),
            "{}",
            server.output()
        );
    }
}

#[test]
fn der_credential_files_complete_a_handshake() {
    let _serial = serial();
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());
    for pair in der_pairs() {
        let (cert_file, key_file) = (format!("{}.der", pair.cn), format!("{}.key.der", pair.cn));
        pki.write(&cert_file, &pair.cert);
        pki.write(&key_file, &pair.key);
        std::env::set_var("IOTX_X509_CERT_FILE", pki.path(&cert_file));
        std::env::set_var("IOTX_X509_KEY_FILE", pki.path(&key_file));
        assert_eq!(
            establish_with_ca(&server, &pem_ca()).as_deref(),
            Some(pair.cn.as_str()),
            "last byte {:#04x}: {}",
            pair.last,
            events_text()
        );
    }
}

#[test]
fn a_der_ca_for_hal_ssl_establish_works_whatever_its_last_byte() {
    let _serial = serial();
    let pki = pki::shared();
    let server = peers::s_server(pki, &SServer::default());
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_ec.key"));
    for last in TRIMMED {
        let ca = ca_der_ending_in(last);
        assert_eq!(ca.last(), Some(&last));
        // With the exact length, and with a length that counts a C NUL.
        for ca in [ca.clone(), nul(ca)] {
            assert_eq!(
                establish_with_ca(&server, &ca).as_deref(),
                Some("client_ec"),
                "CA ending in {last:#04x}"
            );
        }
    }
}

#[test]
fn iotkit_mqtt_construct_x509_connects_with_der_credentials() {
    let _serial = serial();
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let host = CString::new("localhost").unwrap();
    let ca = CString::new(pki.read("ca.crt")).unwrap();
    for pair in der_pairs() {
        let client_id = CString::new(pair.cn.as_str()).unwrap();
        let params = iotkit_x509_client_params_t {
            host: host.as_ptr(),
            port: broker.port,
            ca_pem: ca.as_ptr(),
            cert: pair.cert.as_ptr().cast::<c_char>(),
            cert_len: pair.cert.len() as u32,
            key: pair.key.as_ptr().cast::<c_char>(),
            key_len: pair.key.len() as u32,
            key_password: ptr::null(),
            product_key: ptr::null(),
            device_name: ptr::null(),
            client_id: client_id.as_ptr(),
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
        let mut client: *mut c_void = iotkit_mqtt_construct_x509(&params);
        assert!(
            !client.is_null(),
            "last byte {:#04x}: {}\nbroker:\n{}",
            pair.last,
            events_text(),
            broker.output()
        );
        // mosquitto took the certificate's CN as the user name.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !broker.output().contains(&pair.cn) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(broker.output().contains(&pair.cn), "{}", broker.output());
        assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
    }
}
