//! Who the device says it is on the wire, as rules over values: the X.509
//! client id (its `timestamp=` part is a value the caller fixes once per
//! client, so every reconnect is the same client to the broker), the user
//! name, and when an identity response may set ProductKey/DeviceName
//! ([`acceptance`]). Parsing the response's JSON stays with the caller.

pub mod acceptance;

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// The longest clientId the platform accepts (before the `|...|` section).
pub const CLIENT_ID_MAX_LEN: usize = 64;

/// The clientId (before `|...|`) of an X.509 device: the configured one,
/// else `PK.DN` once known, else a stable id from the certificate. Fails when
/// it is longer than the platform allows.
pub fn x509_base_client_id(
    configured: Option<&str>,
    product_key: &str,
    device_name: &str,
    certificate_fingerprint: &[u8; 32],
) -> Result<String, String> {
    let id = match configured.filter(|c| !c.is_empty()) {
        Some(id) => id.to_owned(),
        None if !product_key.is_empty() && !device_name.is_empty() => {
            format!("{product_key}.{device_name}")
        }
        None => {
            let mut hex = String::with_capacity(24);
            for b in &certificate_fingerprint[..12] {
                let _ = write!(hex, "{b:02x}");
            }
            format!("x509-{hex}")
        }
    };
    if id.len() > CLIENT_ID_MAX_LEN {
        return Err(format!(
            "the MQTT clientId '{id}' is {} characters long; the platform accepts at most {CLIENT_ID_MAX_LEN}",
            id.len()
        ));
    }
    if id.contains(['|', ',', '\0']) {
        return Err(format!(
            "the MQTT clientId '{id}' may not contain '|', ',' or NUL"
        ));
    }
    Ok(id)
}

/// The full X.509 MQTT client id: `clientId|securemode=2,signmethod=hmacsha1,timestamp=<ms>[,k=v...]|`.
/// A configured id that already carries a `|...|` section is sent as it is.
pub fn x509_client_id(base: &str, customize_info: &str, timestamp_ms: u64) -> String {
    if base.contains('|') {
        return base.to_owned();
    }
    let extra = if customize_info.is_empty() {
        String::new()
    } else {
        format!(",{customize_info}")
    };
    format!("{base}|securemode=2,signmethod=hmacsha1,timestamp={timestamp_ms}{extra}|")
}

/// `deviceName&productKey` once both are known, else empty (first connection).
pub fn x509_username(product_key: &str, device_name: &str) -> String {
    if product_key.is_empty() || device_name.is_empty() {
        String::new()
    } else {
        format!("{device_name}&{product_key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x509_client_ids() {
        let fp = [0xABu8; 32];
        assert_eq!(
            x509_base_client_id(None, "", "", &fp).unwrap(),
            "x509-abababababababababababab"
        );
        assert_eq!(
            x509_base_client_id(None, "a1PK", "dev", &fp).unwrap(),
            "a1PK.dev"
        );
        assert_eq!(
            x509_base_client_id(Some("sn-42"), "a1PK", "dev", &fp).unwrap(),
            "sn-42"
        );
        assert!(x509_base_client_id(Some(&"x".repeat(65)), "", "", &fp).is_err());
        assert!(x509_base_client_id(Some(&"x".repeat(64)), "", "", &fp).is_ok());
        assert_eq!(
            x509_client_id("sn-42", "", 1700000000000),
            "sn-42|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|"
        );
        assert_eq!(
            x509_client_id("sn-42", "a=1,b=2", 5),
            "sn-42|securemode=2,signmethod=hmacsha1,timestamp=5,a=1,b=2|"
        );
        assert_eq!(
            x509_client_id("id|securemode=2|", "a=1", 5),
            "id|securemode=2|"
        );
        assert_eq!(x509_username("", "dev"), "");
        assert_eq!(x509_username("a1PK", "dev"), "dev&a1PK");
    }

    #[test]
    fn the_timestamp_is_the_callers_value() {
        // Same inputs, same id: nothing in the rule reads a clock.
        assert_eq!(x509_client_id("a.b", "", 7), x509_client_id("a.b", "", 7));
        assert!(x509_base_client_id(Some("a|b"), "", "", &[0; 32]).is_err());
    }
}
