//! The platform's identifier rules: productKey form and deviceName syntax.

use anyhow::{bail, Result};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `count` random characters from `alphabet`, drawn from OpenSSL's CSPRNG.
pub fn random_string(alphabet: &[u8], count: usize) -> String {
    let mut bytes = vec![0u8; count * 2];
    openssl::rand::rand_bytes(&mut bytes).expect("OpenSSL random generator failed");
    bytes
        .chunks(2)
        .map(|pair| {
            let value = u16::from_le_bytes([pair[0], pair[1]]) as usize;
            alphabet[value % alphabet.len()] as char
        })
        .collect()
}

/// A productKey in the platform's form: "a1" followed by 9 alphanumerics.
pub fn new_product_key() -> String {
    format!("a1{}", random_string(ALPHANUMERIC, 9))
}

/// A generated deviceName (20 alphanumerics, like the platform's auto names).
pub fn new_device_name() -> String {
    random_string(ALPHANUMERIC, 20)
}

/// Random hex token, e.g. for CertUrl paths.
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut raw).expect("OpenSSL random generator failed");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The platform's deviceName rule: 4-32 characters of letters, digits and `-_@.:`.
pub fn validate_device_name(name: &str) -> Result<()> {
    let length = name.chars().count();
    if !(4..=32).contains(&length) {
        bail!(
            "invalid device name {name}: it has {length} characters, the platform allows 4 to 32 \
             (letters, digits and - _ @ . :)",
            name = crate::quote::q(&name)
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_@.:".contains(*c)))
    {
        bail!(
            "invalid device name {name}: character {bad} is not allowed; use letters, digits \
             and - _ @ . : only",
            name = crate::quote::q(&name),
            bad = crate::quote::q(&bad.to_string())
        );
    }
    Ok(())
}

pub fn validate_product_name(name: &str) -> Result<()> {
    let length = name.chars().count();
    if !(1..=64).contains(&length) || name.chars().any(|c| c.is_control()) {
        bail!(
            "invalid product name {name}: use 1 to 64 printable characters",
            name = crate::quote::q(&name)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_key_has_platform_form() {
        let key = new_product_key();
        assert_eq!(key.len(), 11);
        assert!(key.starts_with("a1"));
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn device_name_rule() {
        assert!(validate_device_name("dev1").is_ok());
        assert!(validate_device_name("a-b_c@d.e:f").is_ok());
        assert!(validate_device_name(&"x".repeat(32)).is_ok());
        assert!(validate_device_name("abc").is_err());
        assert!(validate_device_name(&"x".repeat(33)).is_err());
        assert!(validate_device_name("with space").is_err());
        assert!(validate_device_name("slash/name").is_err());
        assert!(validate_device_name(&new_device_name()).is_ok());
    }
}
