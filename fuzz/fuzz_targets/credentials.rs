//! Parsing a certificate and private key from arbitrary bytes (PEM or DER,
//! with or without a password) never panics and never crosses into
//! undefined behaviour in the Rust layer; a failure always has a message.
//!
//! Input layout: u16 (LE) certificate length, u8 password length (0xFF: no
//! password), then certificate, password, and the rest as the key.
#![no_main]

use iotkit::tls::ClientCredentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    iotkit::log::set_level(iotkit::log::Level::None);
    let rest = &data[3..];
    let cert_len = usize::from(u16::from_le_bytes([data[0], data[1]])).min(rest.len());
    let (cert, rest) = rest.split_at(cert_len);
    let (password, key) = match data[2] {
        0xFF => (None, rest),
        n => {
            let n = usize::from(n).min(rest.len());
            let (p, k) = rest.split_at(n);
            (Some(p), k)
        }
    };
    match ClientCredentials::from_pem_or_der(cert, key, password) {
        Ok(credentials) => {
            let _ = credentials.subject();
            // Reversed validity dates parse, but are always reported.
            if credentials.not_before() > credentials.not_after() {
                let now = std::time::SystemTime::now();
                assert!(credentials.validity_problem(now).is_some());
            }
            let shown = format!("{credentials:?}");
            assert!(shown.contains("<redacted>"));
        }
        Err(error) => {
            let text = error.to_string();
            assert!(!text.is_empty());
            // Words for a person, never Rust debug output of mbedTLS codes.
            assert!(!text.contains("::") && !text.contains("HiError"), "{text}");
            let _ = error.state_code();
        }
    }
});
