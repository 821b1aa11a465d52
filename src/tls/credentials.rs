//! The device's client certificate and private key: parsing (PEM or DER,
//! PKCS#1 / PKCS#8 / SEC1, encrypted or not), checking that they belong
//! together, and telling a person exactly what is wrong when they do not.
//!
//! Private key bytes are held only in `Zeroizing` buffers and inside mbedTLS
//! (whose `mbedtls_pk_free` wipes the key numbers); they are never formatted
//! into any message.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use mbedtls::alloc::{Box as MbedtlsBox, List as MbedtlsList};
use mbedtls::error::codes;
use mbedtls::hash::{Md, Type as MdType};
use mbedtls::pk::{Pk, Type as PkType};
use mbedtls::x509::Certificate;
use zeroize::Zeroizing;

use crate::state;

/// Largest certificate chain or key accepted (a chain of a few RSA-4096
/// certificates in PEM is well under this).
pub const MAX_CREDENTIAL_LEN: usize = 64 * 1024;

/// Where credentials came from; error messages name it and say how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialOrigin {
    /// The exported globals `g_cli_crt` / `g_cli_key`.
    Globals,
    /// `iotkit_x509_set_credentials()`.
    Setter,
    /// Files named by IOTX_X509_CERT_FILE / IOTX_X509_KEY_FILE.
    Files {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    /// Passed directly through the Rust API.
    Direct,
}

impl CredentialOrigin {
    fn cert_name(&self) -> String {
        match self {
            CredentialOrigin::Globals => "the device certificate in g_cli_crt".to_owned(),
            CredentialOrigin::Setter => {
                "the certificate passed to iotkit_x509_set_credentials()".to_owned()
            }
            CredentialOrigin::Files { cert_path, .. } => format!(
                "the certificate file {} (IOTX_X509_CERT_FILE)",
                cert_path.display()
            ),
            CredentialOrigin::Direct => "the device certificate".to_owned(),
        }
    }

    fn key_name(&self) -> String {
        match self {
            CredentialOrigin::Globals => "the private key in g_cli_key".to_owned(),
            CredentialOrigin::Setter => {
                "the key passed to iotkit_x509_set_credentials()".to_owned()
            }
            CredentialOrigin::Files { key_path, .. } => {
                format!("the key file {} (IOTX_X509_KEY_FILE)", key_path.display())
            }
            CredentialOrigin::Direct => "the private key".to_owned(),
        }
    }

    fn password_hint(&self) -> &'static str {
        match self {
            CredentialOrigin::Globals => {
                "g_cli_key cannot carry a password: decrypt the key first, or pass it with its password to iotkit_x509_set_credentials()"
            }
            CredentialOrigin::Setter => "pass the key's password as key_password",
            CredentialOrigin::Files { .. } => "set IOTX_X509_KEY_PASSWORD to the key's password",
            CredentialOrigin::Direct => "supply the key's password",
        }
    }
}

/// The raw inputs, before parsing. Key and password bytes are wiped on drop.
pub struct CredentialSource {
    pub origin: CredentialOrigin,
    pub cert: Vec<u8>,
    pub key: Zeroizing<Vec<u8>>,
    pub password: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSource")
            .field("origin", &self.origin)
            .field("cert_len", &self.cert.len())
            .field("key", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl CredentialSource {
    /// SHA-256 over all inputs (length-prefixed), to recognise unchanged
    /// credentials without keeping a copy of the key around for comparison.
    pub fn content_digest(&self) -> [u8; 32] {
        let mut digest = [0u8; 32];
        let parts: [&[u8]; 3] = [
            &self.cert,
            &self.key,
            self.password.as_deref().map_or(&[][..], |p| p.as_slice()),
        ];
        let mut md = Md::new(MdType::Sha256).expect("SHA-256 is compiled into mbedTLS");
        for part in parts {
            md.update(&(part.len() as u64).to_le_bytes())
                .and_then(|()| md.update(part))
                .expect("hashing in memory cannot fail");
        }
        md.finish(&mut digest)
            .expect("the digest buffer fits SHA-256");
        digest
    }
}

/// Why credentials cannot be used. Every message says what is wrong and how
/// to supply working credentials; none contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// Only one of certificate and key was supplied.
    Incomplete { what: String },
    /// A credential file could not be read.
    Unreadable { what: String, detail: String },
    /// Larger than [`MAX_CREDENTIAL_LEN`].
    TooLarge { what: String, len: usize },
    /// The certificate is not valid PEM/DER X.509.
    BadCertificate { what: String, detail: String },
    /// The key is not a valid PEM/DER RSA or EC private key.
    BadKey { what: String, detail: String },
    /// The key is encrypted and no password was given.
    PasswordRequired { what: String, hint: &'static str },
    /// The key is encrypted and the password is wrong.
    WrongPassword { what: String },
    /// The key is encrypted with a scheme this build cannot decrypt.
    UnsupportedEncryption { what: String },
    /// The key does not belong to the certificate.
    KeyMismatch { cert: String, key: String },
}

const SUPPLY_HINT: &str = "Supply the device certificate and key (PEM or DER) by assigning g_cli_crt/g_cli_key, calling iotkit_x509_set_credentials(), or setting IOTX_X509_CERT_FILE/IOTX_X509_KEY_FILE";

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::Incomplete { what } => write!(f, "{what}. {SUPPLY_HINT}."),
            CredentialError::Unreadable { what, detail } => {
                write!(f, "cannot read {what}: {detail}. Check the path and permissions.")
            }
            CredentialError::TooLarge { what, len } => write!(
                f,
                "{what} is {len} bytes, more than the {MAX_CREDENTIAL_LEN} accepted; pass only the certificate chain / the key, with the correct length"
            ),
            CredentialError::BadCertificate { what, detail } => write!(
                f,
                "{what} is not a readable X.509 certificate ({detail}). It must be PEM (\"-----BEGIN CERTIFICATE-----\") or DER, complete and unmodified."
            ),
            CredentialError::BadKey { what, detail } => write!(
                f,
                "{what} is not a readable RSA or EC private key ({detail}). It must be PEM (\"RSA PRIVATE KEY\", \"EC PRIVATE KEY\", \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\") or DER, complete and unmodified."
            ),
            CredentialError::PasswordRequired { what, hint } => {
                write!(f, "{what} is encrypted and no password was given: {hint}.")
            }
            CredentialError::WrongPassword { what } => write!(
                f,
                "{what} is encrypted and the password given does not decrypt it; supply the password it was encrypted with."
            ),
            CredentialError::UnsupportedEncryption { what } => write!(
                f,
                "{what} is encrypted with a scheme this build cannot decrypt (PKCS#8 keys are readable when encrypted with 3DES, e.g. `openssl pkcs8 -topk8 -v2 des3`, but not with OpenSSL 3's default AES); re-encrypt it that way, use a traditional PEM key (`openssl rsa -aes256 -traditional` / `openssl ec -aes256`), or supply it unencrypted."
            ),
            CredentialError::KeyMismatch { cert, key } => write!(
                f,
                "{key} does not belong to {cert}: supply the private key that was generated with this certificate."
            ),
        }
    }
}

impl std::error::Error for CredentialError {}

impl CredentialError {
    /// The vendor state code raised with this error.
    pub fn state_code(&self) -> i32 {
        match self {
            CredentialError::Incomplete { .. } => state::STATE_USER_INPUT_NULL_POINTER,
            CredentialError::TooLarge { .. } => state::STATE_USER_INPUT_OUT_RANGE,
            _ => state::STATE_USER_INPUT_INVALID,
        }
    }
}

/// Strips what C callers commonly leave around text: trailing NULs (lengths
/// that count the terminator) and whitespace.
fn trim_c_text(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &input[..end]
}

fn is_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// mbedTLS parses PEM only from NUL-terminated input.
fn nul_terminated(input: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut owned = Zeroizing::new(Vec::with_capacity(input.len() + 1));
    owned.extend_from_slice(input);
    owned.push(0);
    owned
}

fn describe(err: &mbedtls::Error) -> String {
    let text = err.to_string();
    text.strip_prefix("mbedTLS error ")
        .unwrap_or(&text)
        .to_owned()
}

/// Parses one certificate chain (leaf first), PEM (any number of
/// certificates) or DER (one certificate).
pub(crate) fn parse_certificates(
    input: &[u8],
    what: &str,
) -> Result<MbedtlsList<Certificate>, String> {
    let input = trim_c_text(input);
    if input.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if is_pem(input) {
        Certificate::from_pem_multiple(&nul_terminated(input)).map_err(|e| describe(&e))
    } else {
        let cert = Certificate::from_der(input).map_err(|e| describe(&e))?;
        let mut list = MbedtlsList::new();
        list.push(cert);
        Ok(list)
    }
}

fn parse_key(
    input: &[u8],
    password: Option<&[u8]>,
    origin: &CredentialOrigin,
) -> Result<Pk, CredentialError> {
    let what = origin.key_name();
    let input = trim_c_text(input);
    if input.is_empty() {
        return Err(CredentialError::BadKey {
            what,
            detail: "it is empty".to_owned(),
        });
    }
    let password = password.filter(|p| !p.is_empty());
    let parsed = if is_pem(input) {
        Pk::from_private_key(&nul_terminated(input), password)
    } else {
        Pk::from_private_key(input, password)
    };
    let key = parsed.map_err(|e| match e.high_level() {
        Some(codes::PkPasswordRequired | codes::PemPasswordRequired) => {
            CredentialError::PasswordRequired {
                what: what.clone(),
                hint: origin.password_hint(),
            }
        }
        Some(
            codes::PkPasswordMismatch
            | codes::PemPasswordMismatch
            | codes::Pkcs5PasswordMismatch
            | codes::Pkcs12PasswordMismatch,
        ) => CredentialError::WrongPassword { what: what.clone() },
        Some(
            codes::Pkcs5FeatureUnavailable
            | codes::Pkcs12FeatureUnavailable
            | codes::PemFeatureUnavailable
            | codes::PemUnknownEncAlg,
        ) => CredentialError::UnsupportedEncryption { what: what.clone() },
        _ => CredentialError::BadKey {
            what: what.clone(),
            detail: describe(&e),
        },
    })?;
    match key.pk_type() {
        PkType::Rsa | PkType::Eckey | PkType::Ecdsa => Ok(key),
        other => Err(CredentialError::BadKey {
            what,
            detail: format!("{other:?} keys cannot sign a TLS handshake; use RSA or ECDSA"),
        }),
    }
}

/// Seconds since the Unix epoch of a UTC calendar time (proleptic Gregorian).
fn x509_time_to_system(time: &mbedtls::x509::Time) -> SystemTime {
    let (y, m, d) = (
        i64::from(time.year()),
        i64::from(time.month()),
        i64::from(time.day()),
    );
    // Days from civil date, shifting the year to start in March.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400
        + i64::from(time.hour()) * 3600
        + i64::from(time.minute()) * 60
        + i64::from(time.second());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
    }
}

/// Formats a time as `YYYY-MM-DD HH:MM:SS UTC` for messages.
pub fn format_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days (inverse of the computation above).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A parsed client certificate chain and its private key, checked to belong
/// together. Shared by all connections using it (`Arc`).
pub struct ClientCredentials {
    pub(crate) chain: Arc<MbedtlsList<Certificate>>,
    pub(crate) key: Arc<Pk>,
    fingerprint: [u8; 32],
    subject: String,
    not_before: SystemTime,
    not_after: SystemTime,
    origin: CredentialOrigin,
    /// mbedTLS is built without MBEDTLS_THREADING_C: one key's RSA blinding
    /// state must not be used by two handshakes at once.
    handshake_lock: Mutex<()>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("subject", &self.subject)
            .field("fingerprint_sha256", &hex(&self.fingerprint))
            .field("not_after", &format_utc(self.not_after))
            .field("key", &"<redacted>")
            .finish()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ClientCredentials {
    /// Parses a certificate (chain, leaf first) and its private key, each PEM
    /// or DER; `password` decrypts an encrypted key.
    pub fn from_pem_or_der(
        cert: &[u8],
        key: &[u8],
        password: Option<&[u8]>,
    ) -> Result<Self, CredentialError> {
        Self::parse(cert, key, password, CredentialOrigin::Direct)
    }

    /// Parses credentials from a resolved source.
    pub fn from_source(source: &CredentialSource) -> Result<Self, CredentialError> {
        Self::parse(
            &source.cert,
            &source.key,
            source.password.as_deref().map(|p| p.as_slice()),
            source.origin.clone(),
        )
    }

    fn parse(
        cert: &[u8],
        key: &[u8],
        password: Option<&[u8]>,
        origin: CredentialOrigin,
    ) -> Result<Self, CredentialError> {
        for (what, len) in [
            (origin.cert_name(), cert.len()),
            (origin.key_name(), key.len()),
        ] {
            if len > MAX_CREDENTIAL_LEN {
                return Err(CredentialError::TooLarge { what, len });
            }
        }
        let chain = parse_certificates(cert, &origin.cert_name()).map_err(|detail| {
            CredentialError::BadCertificate {
                what: origin.cert_name(),
                detail,
            }
        })?;
        let key = parse_key(key, password, &origin)?;
        let leaf: &MbedtlsBox<Certificate> =
            chain
                .iter()
                .next()
                .ok_or_else(|| CredentialError::BadCertificate {
                    what: origin.cert_name(),
                    detail: "it holds no certificate".to_owned(),
                })?;
        if !Pk::check_pair(leaf.public_key(), &key) {
            return Err(CredentialError::KeyMismatch {
                cert: origin.cert_name(),
                key: origin.key_name(),
            });
        }
        let mut fingerprint = [0u8; 32];
        Md::hash(MdType::Sha256, leaf.as_der(), &mut fingerprint)
            .expect("SHA-256 is compiled into mbedTLS");
        let subject = leaf
            .subject()
            .unwrap_or_else(|_| "(unreadable subject)".to_owned());
        let dates = leaf
            .not_before()
            .and_then(|b| leaf.not_after().map(|a| (b, a)));
        let (not_before, not_after) = dates.map_err(|e| CredentialError::BadCertificate {
            what: origin.cert_name(),
            detail: format!("unreadable validity dates: {}", describe(&e)),
        })?;
        Ok(ClientCredentials {
            fingerprint,
            subject,
            not_before: x509_time_to_system(&not_before),
            not_after: x509_time_to_system(&not_after),
            chain: Arc::new(chain),
            key: Arc::new(key),
            origin,
            handshake_lock: Mutex::new(()),
        })
    }

    /// SHA-256 of the leaf certificate's DER: the device identity is bound to it.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The leaf certificate's subject, e.g. `CN=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of the leaf certificate's validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the leaf certificate's validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Where these credentials came from.
    pub fn origin(&self) -> &CredentialOrigin {
        &self.origin
    }

    /// A message when the certificate is expired or not yet valid at `now`.
    /// Not fatal by itself: devices without a real-time clock often run with
    /// a wrong date, and the server has the final word.
    pub fn validity_problem(&self, now: SystemTime) -> Option<String> {
        if now > self.not_after {
            Some(format!(
                "{} ({}) expired on {}; the server will reject it: obtain a renewed certificate",
                self.origin.cert_name(),
                self.subject,
                format_utc(self.not_after)
            ))
        } else if now < self.not_before {
            Some(format!(
                "{} ({}) is not valid before {} and the device clock says {}; set the device clock, or the server will reject it",
                self.origin.cert_name(),
                self.subject,
                format_utc(self.not_before),
                format_utc(now)
            ))
        } else {
            None
        }
    }

    pub(crate) fn lock_for_handshake(&self) -> MutexGuard<'_, ()> {
        self.handshake_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_terminators_and_whitespace() {
        assert_eq!(trim_c_text(b"abc\n\0\0"), b"abc");
        assert_eq!(trim_c_text(b"\0"), b"");
        assert_eq!(trim_c_text(b""), b"");
    }

    #[test]
    fn utc_formatting_round_trips_known_dates() {
        let t = mbedtls::x509::Time::new(2024, 2, 29, 23, 59, 58).unwrap();
        assert_eq!(
            format_utc(x509_time_to_system(&t)),
            "2024-02-29 23:59:58 UTC"
        );
        let epoch = mbedtls::x509::Time::new(1970, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(x509_time_to_system(&epoch), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn garbage_is_reported_as_such_without_echoing_key_bytes() {
        let err =
            ClientCredentials::from_pem_or_der(b"not a cert", b"SECRETKEYBYTES", None).unwrap_err();
        assert!(
            matches!(err, CredentialError::BadCertificate { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(!msg.contains("SECRETKEYBYTES"));
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b'A'; MAX_CREDENTIAL_LEN + 1];
        let err = ClientCredentials::from_pem_or_der(&big, b"k", None).unwrap_err();
        assert!(matches!(err, CredentialError::TooLarge { .. }));
    }

    #[test]
    fn source_debug_redacts_the_key() {
        let source = CredentialSource {
            origin: CredentialOrigin::Setter,
            cert: b"c".to_vec(),
            key: Zeroizing::new(b"TOPSECRET".to_vec()),
            password: Some(Zeroizing::new(b"PW".to_vec())),
        };
        let text = format!("{source:?}");
        assert!(!text.contains("TOPSECRET") && !text.contains("PW\""));
        assert_ne!(source.content_digest(), [0u8; 32]);
    }
}
