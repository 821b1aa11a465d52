//! The OTA messages on the platform's `/ota/device/...` topics: parsing the
//! upgrade push, encoding the version report and the progress report.

use serde_json::Value;

/// Longest version string accepted (the vendor's OTA_VERSION_LEN_MAX is 32;
/// the IOT_OTAG_VERSION buffer is sized by the caller).
pub(crate) const VERSION_MAX: usize = 64;
/// Longest download URL accepted.
pub(crate) const URL_MAX: usize = 2048;
/// Largest image accepted (the vendor's sizes are uint32_t).
pub(crate) const SIZE_MAX: u64 = u32::MAX as u64;

/// Which of the four OTA topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Inform,
    Upgrade,
    Progress,
    Request,
}

impl Topic {
    fn segment(self) -> &'static str {
        match self {
            Topic::Inform => "inform",
            Topic::Upgrade => "upgrade",
            Topic::Progress => "progress",
            Topic::Request => "request",
        }
    }

    /// `/ota/device/<kind>/<pk>/<dn>`.
    pub fn name(self, product_key: &str, device_name: &str) -> String {
        format!("/ota/device/{}/{product_key}/{device_name}", self.segment())
    }
}

/// Which digest the push's `sign` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    Md5,
    Sha256,
}

impl SignMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::Md5 => "Md5",
            SignMethod::Sha256 => "SHA256",
        }
    }
}

/// A firmware upgrade the platform pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub id: String,
    pub version: String,
    pub url: String,
    pub size: u64,
    /// Lower-case hex MD5 of the image (`data.md5`), when given.
    pub md5: Option<String>,
    /// Lower-case hex digest of the image (`data.sign`) and its method.
    pub sign: Option<(SignMethod, String)>,
}

fn hex_digest(value: &str, len: usize, what: &str) -> Result<String, String> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "the upgrade message's {what} is not {len} hexadecimal digits"
        ))
    }
}

/// Parses the payload of `/ota/device/upgrade/PK/DN`:
/// `{"code":"1000","data":{"size":N,"version":"..","url":"..","md5":"..",
/// "sign":"..","signMethod":"SHA256"|"Md5"},"id":N,"message":"success"}`.
/// Errors are sentences for a person.
pub fn parse_upgrade(payload: &[u8]) -> Result<Upgrade, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|_| "the upgrade message is not valid JSON".to_owned())?;
    let code = value.get("code").map(|c| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    if let Some(code) = code.as_deref() {
        if code != "1000" {
            let message = value.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(format!(
                "the platform reported code {code} ({message}) instead of an upgrade"
            ));
        }
    }
    let id = match value.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let data = value
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| "the upgrade message has no \"data\" object".to_owned())?;
    let text = |key: &str| data.get(key).and_then(Value::as_str);
    let version = text("version")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "the upgrade message has no version".to_owned())?;
    if version.len() > VERSION_MAX || version.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return Err(format!(
            "the upgrade message's version is longer than {VERSION_MAX} characters or holds control or quote characters"
        ));
    }
    let url = text("url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "the upgrade message has no download url".to_owned())?;
    if url.len() > URL_MAX {
        return Err(format!(
            "the upgrade message's url is longer than {URL_MAX} characters"
        ));
    }
    let size = match data.get("size") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        _ => None,
    }
    .filter(|s| *s > 0 && *s <= SIZE_MAX)
    .ok_or_else(|| "the upgrade message has no valid size (1 to 4294967295 bytes)".to_owned())?;
    let md5 = match text("md5") {
        Some(m) if !m.is_empty() => Some(hex_digest(m, 32, "md5")?),
        _ => None,
    };
    let sign = match (text("signMethod"), text("sign")) {
        (Some(method), Some(sign)) if !sign.is_empty() => {
            let method = if method.eq_ignore_ascii_case("md5") {
                SignMethod::Md5
            } else if method.eq_ignore_ascii_case("sha256") {
                SignMethod::Sha256
            } else {
                return Err(format!(
                    "the upgrade message's signMethod {method:?} is neither Md5 nor SHA256"
                ));
            };
            let len = if method == SignMethod::Md5 { 32 } else { 64 };
            Some((method, hex_digest(sign, len, "sign")?))
        }
        _ => None,
    };
    if md5.is_none() && sign.is_none() {
        return Err(
            "the upgrade message carries neither md5 nor sign: the image could not be checked"
                .to_owned(),
        );
    }
    Ok(Upgrade {
        id,
        version: version.to_owned(),
        url: url.to_owned(),
        size,
        md5,
        sign,
    })
}

/// Escapes `text` for a JSON string (without the quotes).
fn json_text(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Payload of `/ota/device/inform/PK/DN`: `{"id":"ID","params":{"version":"V"}}`.
pub fn inform(id: u32, version: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"params\":{{\"version\":\"{}\"}}}}",
        json_text(version)
    )
}

/// Payload of `/ota/device/progress/PK/DN`:
/// `{"id":"ID","params":{"step":"S","desc":"D"}}`; `step` is 0..=100 or a
/// negative IOT_OTAP_* failure.
pub fn progress(id: u32, step: i32, desc: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"params\":{{\"step\":\"{step}\",\"desc\":\"{}\"}}}}",
        json_text(desc)
    )
}

/// Checks a version the firmware reports: 1..=VERSION_MAX printable characters.
pub fn validate_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("the version is empty".to_owned());
    }
    if version.len() > VERSION_MAX {
        return Err(format!(
            "the version is {} characters long; at most {VERSION_MAX} are allowed",
            version.len()
        ));
    }
    if version.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("the version holds control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: &str = r#"{"code":"1000","data":{"size":1024,"version":"2.0.0","url":"https://127.0.0.1:1/ota/x?Expires=1&Signature=ab","md5":"0123456789ABCDEF0123456789abcdef","sign":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","signMethod":"SHA256"},"id":1507707025,"message":"success"}"#;

    #[test]
    fn parses_the_platform_shape() {
        let up = parse_upgrade(PUSH.as_bytes()).unwrap();
        assert_eq!(up.version, "2.0.0");
        assert_eq!(up.size, 1024);
        assert_eq!(up.id, "1507707025");
        assert_eq!(up.md5.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(up.sign.as_ref().unwrap().0, SignMethod::Sha256);
    }

    #[test]
    fn md5_sign_method_and_string_size() {
        let p = r#"{"code":"1000","data":{"size":"7","version":"1","url":"https://h/f","sign":"0123456789abcdef0123456789abcdef","signMethod":"Md5"},"id":"3","message":"success"}"#;
        let up = parse_upgrade(p.as_bytes()).unwrap();
        assert_eq!(up.size, 7);
        assert_eq!(up.sign.unwrap().0, SignMethod::Md5);
        assert!(up.md5.is_none());
    }

    #[test]
    fn refuses_bad_pushes_with_sentences() {
        for (payload, words) in [
            ("not json", "not valid JSON"),
            (r#"{"code":"9112","message":"no firmware"}"#, "code 9112"),
            (r#"{"code":"1000","data":{}}"#, "no version"),
            (
                r#"{"data":{"version":"1","url":"u","size":0,"md5":"00000000000000000000000000000000"}}"#,
                "valid size",
            ),
            (
                r#"{"data":{"version":"1","url":"u","size":5}}"#,
                "neither md5 nor sign",
            ),
            (
                r#"{"data":{"version":"1","url":"u","size":5,"md5":"xyz"}}"#,
                "md5 is not 32",
            ),
            (
                r#"{"data":{"version":"1","url":"u","size":5,"sign":"ab","signMethod":"crc"}}"#,
                "neither Md5 nor SHA256",
            ),
            (
                r#"{"data":{"version":"1","url":"u","size":5,"sign":"ab","signMethod":"SHA256"}}"#,
                "sign is not 64",
            ),
            (
                r#"{"data":{"version":"1","url":"u","size":99999999999,"md5":"00000000000000000000000000000000"}}"#,
                "valid size",
            ),
        ] {
            let err = parse_upgrade(payload.as_bytes()).unwrap_err();
            assert!(err.contains(words), "{payload}: {err}");
            assert!(!err.contains("Error("), "{err}");
        }
    }

    #[test]
    fn encodes_reports() {
        assert_eq!(
            inform(0, "1.0\"x"),
            r#"{"id":"0","params":{"version":"1.0\"x"}}"#
        );
        assert_eq!(
            progress(5, -3, "bad"),
            r#"{"id":"5","params":{"step":"-3","desc":"bad"}}"#
        );
        let v: Value = serde_json::from_str(&progress(1, 50, "a\nb")).unwrap();
        assert_eq!(v["params"]["desc"], "a\nb");
        assert_eq!(Topic::Upgrade.name("pk", "dn"), "/ota/device/upgrade/pk/dn");
    }

    #[test]
    fn versions_are_checked() {
        assert!(validate_version("1.0.0").is_ok());
        assert!(validate_version("").is_err());
        assert!(validate_version(&"9".repeat(65)).is_err());
        assert!(validate_version("1\n").is_err());
    }
}
