//! Security properties as tests: private keys never reach the log at any
//! level, KV and identity files are private to the owner (0600), and the
//! server is always verified — no environment variable and no code path
//! turns verification off.
//!
//! The log and environment checks run the library in a child process (this
//! same test binary, re-invoked on an ignored "child" test) so its stderr
//! can be captured whole and its environment set freely.

mod support;

use std::ffi::{c_int, c_void, CString};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use iotkit::ffi::compat::IOT_Ioctl;
use iotkit::ffi::mqtt::{
    IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Publish_Simple, IOT_MQTT_Yield,
};
use iotkit::ffi::tls::iotkit_x509_set_credentials;
use iotkit::ffi::types::iotx_ioctl_option_t;
use iotkit::kv::KvStore;
use support::{peers, pki};

/// Set in the child's environment: which child scenario to run.
const CHILD_ENV: &str = "IOTKIT_RELIABILITY_CHILD";
const PKI_ENV: &str = "IOTKIT_RELIABILITY_PKI";

/// Runs one ignored child test of this binary with `envs`; returns its
/// exit success and its stdout + stderr.
fn run_child(test: &str, envs: &[(&str, String)]) -> (bool, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("RUST_TEST_THREADS");
    // Start from none of the library's variables, then set what is asked.
    for (key, _) in std::env::vars() {
        if key.starts_with("IOTX_") {
            command.env_remove(key);
        }
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    let out = command.output().expect("run the child test process");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The base64 body lines of a PEM file (what a leaked key would show).
fn pem_body_lines(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.trim().len() >= 16)
        .map(|l| l.trim().to_owned())
        .collect()
}

fn set_text(option: iotx_ioctl_option_t, value: &str) -> c_int {
    let value = CString::new(value).unwrap();
    IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void)
}

/// ProductKey and DeviceName of the device the log tests construct.
fn set_log_test_identity() {
    assert_eq!(
        set_text(
            iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY,
            "a1LogTest01"
        ),
        0
    );
    assert_eq!(
        set_text(
            iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME,
            "log-device"
        ),
        0
    );
}

/// The environment of a device pointed at `broker` with the PKI's files.
fn device_env(pki_dir: &Path, port: u16, kv_dir: &Path, ca: &str) -> Vec<(&'static str, String)> {
    vec![
        (CHILD_ENV, "1".into()),
        (PKI_ENV, pki_dir.display().to_string()),
        (
            "IOTX_X509_CERT_FILE",
            pki_dir.join("client_rsa.crt").display().to_string(),
        ),
        (
            "IOTX_X509_KEY_FILE",
            pki_dir.join("client_rsa.key").display().to_string(),
        ),
        ("IOTX_X509_CA_FILE", pki_dir.join(ca).display().to_string()),
        ("IOTX_MQTT_HOST", "localhost".into()),
        ("IOTX_MQTT_PORT", port.to_string()),
        ("IOTX_KV_DIR", kv_dir.display().to_string()),
    ]
}

/// Child: everything at debug level — failing credential loads (a key of
/// another certificate, a wrong password), then a full mutual-TLS MQTT
/// session through the C API.
#[test]
#[ignore = "child process of private_keys_never_appear_in_logs"]
fn child_logs_everything() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var(PKI_ENV).unwrap());
    iotkit::log::set_level(iotkit::log::Level::Debug);
    let cert = std::fs::read(dir.join("client_rsa.crt")).unwrap();
    for (key_file, password) in [
        ("client_ec.key", None),
        ("client_rsa_enc.key", Some("wrong password")),
        ("client_rsa.key", Some("unexpected password")),
    ] {
        let key = std::fs::read(dir.join(key_file)).unwrap();
        let password = password.map(|p| CString::new(p).unwrap());
        let code = iotkit_x509_set_credentials(
            cert.as_ptr().cast(),
            cert.len() as u32,
            key.as_ptr().cast(),
            key.len() as u32,
            password.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
        );
        println!("set_credentials({key_file}) = {code}");
    }
    // A key handed over where a certificate belongs: a parse error must not
    // echo what it could not parse.
    let key = std::fs::read(dir.join("client_rsa.key")).unwrap();
    let code = iotkit_x509_set_credentials(
        key.as_ptr().cast(),
        key.len() as u32,
        key.as_ptr().cast(),
        key.len() as u32,
        std::ptr::null(),
    );
    println!("set_credentials(key as certificate) = {code}");
    // The key file given as the server CA.
    let ca = std::env::var("IOTX_X509_CA_FILE").unwrap();
    std::env::set_var("IOTX_X509_CA_FILE", dir.join("client_ec.key"));
    assert!(IOT_MQTT_Construct(std::ptr::null_mut()).is_null());
    std::env::set_var("IOTX_X509_CA_FILE", ca);
    set_log_test_identity();
    let mut client = IOT_MQTT_Construct(std::ptr::null_mut());
    assert!(
        !client.is_null(),
        "the good pair from the environment connects"
    );
    let topic = CString::new("/a1LogTest01/log-device/user/x").unwrap();
    let payload = b"hello";
    let id = IOT_MQTT_Publish_Simple(
        client,
        topic.as_ptr(),
        1,
        payload.as_ptr() as *mut c_void,
        payload.len() as c_int,
    );
    assert!(id > 0);
    assert_eq!(IOT_MQTT_Yield(client, 300), 0);
    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
    println!("CHILD-DONE");
}

#[test]
fn private_keys_never_appear_in_logs() {
    let pki = pki::shared();
    pki.encrypt_rsa_key_traditional("client_rsa", "secret", "client_rsa_enc.key");
    let broker = peers::mosquitto(pki, true);
    let kv = tempfile::tempdir().unwrap();
    let (ok, output) = run_child(
        "child_logs_everything",
        &device_env(pki.dir(), broker.port, kv.path(), "ca.crt"),
    );
    assert!(
        ok && output.contains("CHILD-DONE"),
        "child failed:\n{output}"
    );
    // The run logged (the library has no debug-only lines on this path
    // today; warnings and infos are there), and the bad pairs were refused
    // with a message. A password given for an unencrypted key is ignored.
    assert!(output.contains("[iotkit]["), "no library output:\n{output}");
    for (key_file, expected) in [
        ("client_ec.key", "= -275"),
        ("client_rsa_enc.key", "= -275"),
        ("client_rsa.key", "= 0"),
    ] {
        assert!(
            output.contains(&format!("set_credentials({key_file}) {expected}")),
            "{key_file}: expected {expected}:\n{output}"
        );
    }
    assert!(output.contains("does not belong to the certificate"));
    assert!(output.contains("password given does not decrypt it"));
    assert!(output.contains("set_credentials(key as certificate) = -"));
    let mut checked = 0;
    for key_file in ["client_rsa.key", "client_ec.key", "client_rsa_enc.key"] {
        for line in pem_body_lines(&pki.read(key_file)) {
            checked += 1;
            assert!(
                !output.contains(&line),
                "a line of {key_file} appears in the log:\n{line}"
            );
            // A partial leak (e.g. a truncated dump) is as bad.
            assert!(
                !output.contains(&line[..16]),
                "part of {key_file} appears in the log"
            );
        }
    }
    assert!(checked > 20, "too few key lines checked ({checked})");
    println!("{output}");
    println!(
        "checked {checked} key lines against {} lines of debug output",
        output.lines().count()
    );
}

/// Child: a device configured against a server whose certificate its CA
/// does not trust, with every variable that could plausibly relax checks.
#[test]
#[ignore = "child process of untrusted_server_is_refused_whatever_the_environment"]
fn child_connects_to_untrusted_server() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    iotkit::log::set_level(iotkit::log::Level::Debug);
    set_log_test_identity();
    let client = IOT_MQTT_Construct(std::ptr::null_mut());
    assert!(
        client.is_null(),
        "connected to a server its CA does not trust"
    );
    println!("CHILD-REFUSED");
}

#[test]
fn untrusted_server_is_refused_whatever_the_environment() {
    let pki = pki::shared();
    pki.new_ca("other_ca");
    let broker = peers::mosquitto(pki, true);
    let kv = tempfile::tempdir().unwrap();
    let mut env = device_env(pki.dir(), broker.port, kv.path(), "other_ca.crt");
    // Every variable the library reads, plus names other TLS stacks use to
    // relax verification: none may switch it off.
    for (key, value) in [
        ("IOTX_PERSIST_IDENTITY", "0"),
        ("IOTX_FIRMWARE_VERSION", "1.0"),
        ("IOTX_X509_KEY_PASSWORD", ""),
        ("IOTX_TLS_INSECURE", "1"),
        ("IOTX_TLS_VERIFY", "0"),
        ("IOTX_SKIP_VERIFY", "1"),
        ("IOTKIT_INSECURE", "1"),
        ("SSL_CERT_FILE", &pki.path("ca.crt").display().to_string()),
        ("SSL_CERT_DIR", &pki.dir().display().to_string()),
        ("CURL_CA_BUNDLE", &pki.path("ca.crt").display().to_string()),
        ("MBEDTLS_SSL_VERIFY_NONE", "1"),
        ("NODE_TLS_REJECT_UNAUTHORIZED", "0"),
        ("PYTHONHTTPSVERIFY", "0"),
    ] {
        env.push((key, value.to_owned()));
    }
    let (ok, output) = run_child("child_connects_to_untrusted_server", &env);
    assert!(
        ok && output.contains("CHILD-REFUSED"),
        "child failed:\n{output}"
    );
    assert!(
        output.contains("not trusted"),
        "the refusal does not say why:\n{output}"
    );

    // And with no CA at all, the library refuses instead of connecting
    // unverified.
    env.retain(|(k, _)| *k != "IOTX_X509_CA_FILE");
    let (ok, output) = run_child("child_connects_to_untrusted_server", &env);
    assert!(
        ok && output.contains("CHILD-REFUSED"),
        "child failed:\n{output}"
    );
    assert!(output.contains("no server CA"), "{output}");
}

/// No code path relaxes verification: the only authmode set anywhere in the
/// library is Required.
#[test]
fn verification_is_required_in_every_code_path() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut required = 0;
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in [
                "AuthMode::None",
                "AuthMode::Optional",
                "VERIFY_NONE",
                "VERIFY_OPTIONAL",
            ] {
                assert!(
                    !text.contains(needle),
                    "{} contains {needle}",
                    path.display()
                );
            }
            required += text.matches("set_authmode(AuthMode::Required)").count();
        }
    }
    assert_eq!(required, 1, "expected exactly one authmode setting");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn kv_and_identity_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("kv");
    let store = KvStore::open(&store_dir).unwrap();
    store.set("plain_value", b"v").unwrap();
    iotkit::identity::save_identity(&store, &[7u8; 32], "a1Private01", "private-device").unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&store_dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            mode_of(&path),
            0o600,
            "{} is readable by others",
            path.display()
        );
        files += 1;
    }
    assert_eq!(files, 2, "one file per key, no leftover temporary files");
    // Overwriting keeps the mode (the temporary file is created 0600 too).
    store.set("plain_value", b"second").unwrap();
    for entry in std::fs::read_dir(&store_dir).unwrap() {
        assert_eq!(mode_of(&entry.unwrap().path()), 0o600);
    }
    // The directory the library creates is not listable by others.
    let dir_mode = mode_of(&store_dir);
    assert_eq!(dir_mode & 0o077, 0, "KV directory mode {dir_mode:o}");
}
