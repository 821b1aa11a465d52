//! Who the device says it is on the wire: MQTT client id, user name and
//! password for X.509 and device-secret modes, the platform's identity
//! response, and the identity persisted between runs.

pub mod acceptance;

use crate::device::Field;
use crate::kv::{KvError, KvStore};

/// The endpoint of X.509 devices (Shanghai is the only region offering it).
pub(crate) const X509_HOST: &str = "x509.itls.cn-shanghai.aliyuncs.com";
pub(crate) const X509_PORT: u16 = 1883;
/// Device-secret devices: `<ProductKey>.iot-as-mqtt.<site>.aliyuncs.com:443`.
pub(crate) const SECRET_PORT: u16 = 443;
/// The longest clientId the platform accepts (before the `|...|` section).
pub(crate) const CLIENT_ID_MAX_LEN: usize = 64;
/// The topic the platform sends the identity on, without any subscription.
pub(crate) const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";
/// The fixed timestamp the vendor's 3.2.x device-secret signing uses.
pub(crate) const VENDOR_SIGN_TIMESTAMP: &str = "2524608000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMethod {
    HmacMd5,
    HmacSha1,
    HmacSha256,
}

impl SignMethod {
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::HmacMd5 => "hmacmd5",
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }

    fn md_type(self) -> mbedtls::hash::Type {
        match self {
            SignMethod::HmacMd5 => mbedtls::hash::Type::Md5,
            SignMethod::HmacSha1 => mbedtls::hash::Type::Sha1,
            SignMethod::HmacSha256 => mbedtls::hash::Type::Sha256,
        }
    }
}

/// Uppercase hex HMAC of `message` keyed with `key`.
pub fn hmac_hex(method: SignMethod, key: &[u8], message: &[u8]) -> String {
    let mut out = [0u8; 32];
    let len = mbedtls::hash::Hmac::hmac(method.md_type(), key, message, &mut out).unwrap_or(0);
    out[..len].iter().map(|b| format!("{b:02X}")).collect()
}

/// The three CONNECT strings and the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedConnect {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: String,
    pub password: String,
}

/// Device-secret mode, as the vendor's 3.2.x signs it (HMAC over the identity
/// and a fixed timestamp, keyed with the DeviceSecret).
pub fn sign_device_secret(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    host: &str,
    port: u16,
    method: SignMethod,
) -> SignedConnect {
    let device_id = format!("{product_key}.{device_name}");
    let message = format!(
        "clientId{device_id}deviceName{device_name}productKey{product_key}timestamp{VENDOR_SIGN_TIMESTAMP}"
    );
    SignedConnect {
        host: host.to_owned(),
        port,
        client_id: format!(
            "{device_id}|timestamp={VENDOR_SIGN_TIMESTAMP},_v=sdk-c-3.2.0,securemode=2,signmethod={},lan=C,_ss=1,gw=0,ext=0|",
            method.name()
        ),
        username: format!("{device_name}&{product_key}"),
        password: hmac_hex(method, device_secret.as_bytes(), message.as_bytes()),
    }
}

/// The default device-secret host for a region site such as "cn-shanghai".
pub fn secret_host(product_key: &str, site: &str) -> String {
    format!("{product_key}.iot-as-mqtt.{site}.aliyuncs.com")
}

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
            let hex: String = certificate_fingerprint[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
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

/// Parses `{"productKey":"...","deviceName":"..."}` and validates both
/// values like IOT_Ioctl input. The error is a sentence for a person.
pub fn parse_identity_response(payload: &[u8]) -> Result<(String, String), String> {
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the identity response is not valid JSON ({e})"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "the identity response is not a JSON object".to_owned())?;
    let text = |key: &str, field: Field| -> Result<String, String> {
        let raw = object
            .get(key)
            .ok_or_else(|| format!("the identity response has no \"{key}\""))?;
        let text = raw
            .as_str()
            .ok_or_else(|| format!("\"{key}\" in the identity response is not a string"))?;
        if text.is_empty() {
            return Err(format!("\"{key}\" in the identity response is empty"));
        }
        field
            .validate(text.as_bytes())
            .map_err(|why| format!("identity response: {why}"))?;
        Ok(text.to_owned())
    };
    Ok((
        text("productKey", Field::ProductKey)?,
        text("deviceName", Field::DeviceName)?,
    ))
}

/// The identity kept for one certificate: the KV key names the certificate's
/// fingerprint, and the value repeats it, so another certificate never
/// picks up a stale identity.
pub fn persisted_identity_key(certificate_fingerprint: &[u8; 32]) -> String {
    let hex: String = certificate_fingerprint[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("iotkit-identity-{hex}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn save_identity(
    store: &KvStore,
    certificate_fingerprint: &[u8; 32],
    product_key: &str,
    device_name: &str,
) -> Result<(), KvError> {
    let record = serde_json::json!({
        "certificateSha256": hex(certificate_fingerprint),
        "productKey": product_key,
        "deviceName": device_name,
    });
    store.set(
        &persisted_identity_key(certificate_fingerprint),
        record.to_string().as_bytes(),
    )
}

/// The identity stored for this certificate: `Ok(None)` when there is none,
/// `Err` (a sentence) when the stored record is damaged or belongs elsewhere.
pub fn load_identity(
    store: &KvStore,
    certificate_fingerprint: &[u8; 32],
) -> Result<Option<(String, String)>, String> {
    let bytes = match store.get(&persisted_identity_key(certificate_fingerprint)) {
        Ok(bytes) => bytes,
        Err(KvError::NotFound) => return Ok(None),
        Err(err) => return Err(format!("the persisted identity cannot be used: {err}")),
    };
    let record: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the persisted identity is not valid JSON ({e})"))?;
    if record.get("certificateSha256").and_then(|v| v.as_str())
        != Some(hex(certificate_fingerprint).as_str())
    {
        return Err("the persisted identity belongs to another certificate; ignored".to_owned());
    }
    parse_identity_response(&bytes)
        .map(Some)
        .map_err(|why| format!("the persisted identity is damaged: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_secret_signing_matches_an_independent_hmac() {
        let signed = sign_device_secret("a1PK", "dev1", "secret", "h", 443, SignMethod::HmacSha256);
        assert_eq!(signed.username, "dev1&a1PK");
        assert_eq!(
            signed.client_id,
            "a1PK.dev1|timestamp=2524608000000,_v=sdk-c-3.2.0,securemode=2,signmethod=hmacsha256,lan=C,_ss=1,gw=0,ext=0|"
        );
        // Independently: `printf %s "clientIda1PK.dev1deviceNamedev1productKeya1PKtimestamp2524608000000"
        //   | openssl dgst -sha256 -hmac secret`
        assert_eq!(
            signed.password,
            "9F7CE5F1DEF39255A2190F764E7AB054533D066201FF5410B4BF011A179A32E2"
        );
        // RFC 2202 / RFC 4231 vectors for the three methods.
        assert_eq!(
            hmac_hex(
                SignMethod::HmacMd5,
                b"Jefe",
                b"what do ya want for nothing?"
            ),
            "750C783E6AB0B503EAA86E310A5DB738"
        );
        assert_eq!(
            hmac_hex(
                SignMethod::HmacSha1,
                b"Jefe",
                b"what do ya want for nothing?"
            ),
            "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79"
        );
        assert_eq!(
            hmac_hex(
                SignMethod::HmacSha256,
                b"Jefe",
                b"what do ya want for nothing?"
            ),
            "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"
        );
    }

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
    fn identity_payloads() {
        assert_eq!(
            parse_identity_response(br#"{"productKey":"a1PK","deviceName":"dev-1"}"#).unwrap(),
            ("a1PK".to_owned(), "dev-1".to_owned())
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"productKey":"a1PK"}"#,
            br#"{"productKey":"a1PK","deviceName":7}"#,
            br#"{"productKey":"","deviceName":"d"}"#,
            br#"{"productKey":"aaaaaaaaaaaaaaaaaaaaa","deviceName":"dev"}"#,
            br#"{"productKey":"a1PK","deviceName":"has space"}"#,
            br#"{"productKey":"a1PK","deviceName":"ddddddddddddddddddddddddddddddddd"}"#,
            b"",
            &[0xFF, 0xFE],
        ] {
            assert!(
                parse_identity_response(bad).is_err(),
                "accepted: {}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn persisted_identity_is_bound_to_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap();
        let cert_a = [1u8; 32];
        let cert_b = [2u8; 32];
        assert_eq!(load_identity(&store, &cert_a), Ok(None));
        save_identity(&store, &cert_a, "a1PK", "dev").unwrap();
        assert_eq!(
            load_identity(&store, &cert_a),
            Ok(Some(("a1PK".into(), "dev".into())))
        );
        assert_eq!(load_identity(&store, &cert_b), Ok(None));
        // A record copied under B's key is refused: it names A's certificate.
        let a_bytes = store.get(&persisted_identity_key(&cert_a)).unwrap();
        store
            .set(&persisted_identity_key(&cert_b), &a_bytes)
            .unwrap();
        assert!(load_identity(&store, &cert_b).is_err());
        // Damaged files are reported, not trusted.
        std::fs::write(
            dir.path()
                .join(format!("{}.kv", persisted_identity_key(&cert_a))),
            b"junk",
        )
        .unwrap();
        assert!(load_identity(&store, &cert_a).is_err());
    }
}
