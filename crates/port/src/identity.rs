//! The X.509 identity: the platform's identity response and how it is kept
//! in the firmware's key-value store.

use alloc::string::String;

/// The topic on which the endpoint tells an X.509 device who it is.
pub const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";
/// The key-value store key the identity is persisted under.
pub const KV_KEY: &str = "iotkit.x509.identity";

/// A device's productKey and deviceName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The productKey.
    pub product_key: String,
    /// The deviceName.
    pub device_name: String,
}

impl Identity {
    /// Parses the identity response `{"productKey":"..","deviceName":".."}`.
    /// `None` when a field is missing, empty, escaped or not a string.
    pub fn from_response(payload: &[u8]) -> Option<Identity> {
        let text = core::str::from_utf8(payload).ok()?;
        let product_key = string_field(text, "productKey")?;
        let device_name = string_field(text, "deviceName")?;
        Some(Identity {
            product_key: String::from(product_key),
            device_name: String::from(device_name),
        })
    }

    /// The stored form, `productKey` and `deviceName` on two lines.
    pub fn encode(&self, out: &mut String) {
        out.clear();
        out.push_str(&self.product_key);
        out.push('\n');
        out.push_str(&self.device_name);
    }

    /// Reads what [`Identity::encode`] wrote; `None` for anything else.
    pub fn decode(stored: &[u8]) -> Option<Identity> {
        let text = core::str::from_utf8(stored).ok()?;
        let (pk, dn) = text.split_once('\n')?;
        if !valid_name(pk) || !valid_name(dn) {
            return None;
        }
        Some(Identity {
            product_key: String::from(pk),
            device_name: String::from(dn),
        })
    }

    /// The MQTT user name of a device that knows its identity.
    pub fn username(&self, out: &mut String) {
        out.clear();
        out.push_str(&self.device_name);
        out.push('&');
        out.push_str(&self.product_key);
    }
}

/// The platform's names: 1..=64 characters of letters, digits and `-_@.:`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_@.:".contains(&b))
}

/// The value of `"key":"value"` in a flat JSON object, when it is a plain
/// string of valid name characters.
fn string_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = text;
    loop {
        let at = rest.find('"')?;
        rest = &rest[at + 1..];
        let end = rest.find('"')?;
        let name = &rest[..end];
        rest = rest[end + 1..].trim_start();
        let Some(after_colon) = rest.strip_prefix(':') else {
            continue;
        };
        let value = after_colon.trim_start();
        if name != key {
            rest = value;
            continue;
        }
        let value = value.strip_prefix('"')?;
        let end = value.find('"')?;
        let value = &value[..end];
        return valid_name(value).then_some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_endpoint_response() {
        let id = Identity::from_response(br#"{"productKey":"a1B2c3D4e5F","deviceName":"dev-1"}"#)
            .unwrap();
        assert_eq!(id.product_key, "a1B2c3D4e5F");
        assert_eq!(id.device_name, "dev-1");
        let mut s = String::new();
        id.encode(&mut s);
        assert_eq!(Identity::decode(s.as_bytes()), Some(id.clone()));
        id.username(&mut s);
        assert_eq!(s, "dev-1&a1B2c3D4e5F");
    }

    #[test]
    fn refuses_bad_responses() {
        for bad in [
            &b""[..],
            b"{}",
            br#"{"productKey":"a1"}"#,
            br#"{"productKey":"","deviceName":"d"}"#,
            br#"{"productKey":"a\"1","deviceName":"d"}"#,
            br#"{"productKey":1,"deviceName":"d"}"#,
            b"\xff\xfe",
        ] {
            assert_eq!(Identity::from_response(bad), None, "{bad:?}");
        }
        assert_eq!(Identity::decode(b"pk"), None);
        assert_eq!(Identity::decode(b"pk\nd n"), None);
    }
}
