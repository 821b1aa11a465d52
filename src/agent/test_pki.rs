//! A self-signed ECDSA P-256 certificate and its key for the agent's unit
//! tests, made once per test run with the openssl CLI (as `tests/support`
//! does for the integration tests).

use std::process::Command;
use std::sync::{Arc, OnceLock};

use crate::tls::ClientCredentials;

/// The certificate (PEM) and the key (PEM).
pub(crate) fn certificate() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
            .args(["-subj", "/CN=iotkit-agent-unit-test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs (the tests need the openssl CLI)");
        assert!(
            out.status.success(),
            "openssl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            std::fs::read_to_string(cert).unwrap(),
            std::fs::read_to_string(key).unwrap(),
        )
    })
}

/// The certificate and key as parsed credentials.
pub(crate) fn credentials() -> Arc<ClientCredentials> {
    let (cert, key) = certificate();
    Arc::new(ClientCredentials::from_pem_or_der(cert.as_bytes(), key.as_bytes(), None).unwrap())
}
