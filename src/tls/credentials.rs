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
use mbedtls::pk::{EcGroupId, Pk, Type as PkType};
use mbedtls::x509::Certificate;
use zeroize::Zeroizing;

use super::explain::describe;
use crate::state;

/// Largest certificate chain or key accepted (a chain of a few RSA-4096
/// certificates in PEM is well under this).
pub(crate) const MAX_CREDENTIAL_LEN: usize = 64 * 1024;

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
    /// Larger than `MAX_CREDENTIAL_LEN`.
    TooLarge { what: String, len: usize },
    /// The certificate is not valid PEM/DER X.509.
    BadCertificate { what: String, detail: String },
    /// The key is not a valid PEM/DER RSA or EC private key.
    BadKey { what: String, detail: String },
    /// The key parses but cannot sign a handshake under the TLS policy
    /// (curve not offered, RSA too short, ...).
    UnusableKey { what: String, detail: String },
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
            CredentialError::BadCertificate { what, detail } => {
                write!(f, "{what} cannot be used: {detail}.")
            }
            CredentialError::BadKey { what, detail } => write!(
                f,
                "{what} is not a readable RSA or EC private key: {detail}. It must be PEM (\"RSA PRIVATE KEY\", \"EC PRIVATE KEY\", \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\") or DER, complete and unmodified."
            ),
            CredentialError::UnusableKey { what, detail } => {
                write!(f, "{what} cannot be used for TLS: {detail}.")
            }
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

/// Bytes a C caller may leave after the data: the terminating NUL (lengths
/// that count it) and whitespace.
fn is_c_padding(b: u8) -> bool {
    b == 0 || b.is_ascii_whitespace()
}

/// Strips C padding from both ends of text (PEM). Only for text: binary DER
/// may legitimately end in any of those bytes.
fn trim_c_text(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|&b| !is_c_padding(b))
        .map_or(0, |i| i + 1);
    let start = input[..end]
        .iter()
        .position(|&b| !is_c_padding(b))
        .unwrap_or(end);
    &input[start..end]
}

/// ASN.1 tag of a SEQUENCE, the outer element of every DER certificate and key.
const DER_SEQUENCE: u8 = 0x30;

/// Total length (header + content) of the DER element at the start of
/// `input`, when its header is well formed and the element fits.
fn der_element_len(input: &[u8]) -> Option<usize> {
    let (&first, rest) = input.split_first()?;
    let (&len_byte, rest) = rest.split_first()?;
    let (content, header) = if len_byte < 0x80 {
        (usize::from(len_byte), 2)
    } else {
        let n = usize::from(len_byte & 0x7f);
        // 0x80 is BER's indefinite length, never DER; 4 length bytes cover
        // far more than MAX_CREDENTIAL_LEN.
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let content = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (content, 2 + n)
    };
    let total = header.checked_add(content)?;
    (first == DER_SEQUENCE && total <= input.len()).then_some(total)
}

/// How a credential input is encoded, with C padding removed.
enum Encoded<'a> {
    /// PEM text (whitespace and terminating NULs trimmed).
    Pem(&'a [u8]),
    /// One or more DER elements back to back, each exactly as long as its
    /// outer SEQUENCE says; what followed them was only C padding.
    Der(Vec<&'a [u8]>),
}

/// Tells PEM from DER without touching the bytes of a DER element: DER
/// starts with a SEQUENCE whose length says where it ends (a NUL counted in
/// a C length, or a newline a tool appended, may follow).
fn classify(input: &[u8]) -> Result<Encoded<'_>, String> {
    if input.first() == Some(&DER_SEQUENCE) {
        match split_der(input) {
            Ok(elements) => return Ok(Encoded::Der(elements)),
            // Text that happens to start with '0' (0x30), e.g. a saved
            // `openssl s_client -showcerts` listing, is still PEM.
            Err(_) if is_pem(input) => {}
            Err(e) => return Err(e),
        }
    }
    let text = trim_c_text(input);
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    if is_pem(text) {
        Ok(Encoded::Pem(text))
    } else {
        Err("it is neither PEM (no \"-----BEGIN\" line) nor DER (binary DER starts with the byte 0x30)".to_owned())
    }
}

/// DER elements back to back, then nothing but C padding.
fn split_der(input: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut elements = Vec::new();
    let mut rest = input;
    while rest.first() == Some(&DER_SEQUENCE) {
        let Some(len) = der_element_len(rest) else {
            return Err(
                "it looks like DER but is truncated: its length field promises more bytes than were given; pass the whole file, with its length".to_owned()
            );
        };
        elements.push(&rest[..len]);
        rest = &rest[len..];
    }
    if let Some(offset) = rest.iter().position(|&b| !is_c_padding(b)) {
        return Err(format!(
            "it is DER followed by data that is not part of it (from byte {} of {}); pass only the DER data and its exact length",
            input.len() - rest.len() + offset,
            input.len()
        ));
    }
    Ok(elements)
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

const PEM_CERT_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_CERT_END: &[u8] = b"-----END CERTIFICATE-----";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The CERTIFICATE blocks of PEM text, each from its BEGIN line through its
/// END line. Other blocks (a key in a combined file) and text between blocks
/// are skipped, as mbedTLS does.
fn pem_certificate_blocks(text: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = find(rest, PEM_CERT_BEGIN) {
        let from_begin = &rest[begin..];
        let Some(end) = find(from_begin, PEM_CERT_END) else {
            return Err(format!(
                "certificate {} has no \"-----END CERTIFICATE-----\" line: the text is cut off",
                blocks.len() + 1
            ));
        };
        let block_len = end + PEM_CERT_END.len();
        blocks.push(&from_begin[..block_len]);
        rest = &from_begin[block_len..];
    }
    if blocks.is_empty() {
        return Err("it holds no \"-----BEGIN CERTIFICATE-----\" block".to_owned());
    }
    Ok(blocks)
}

/// What a parse failure of certificate `index` (1-based) of `count` means.
fn certificate_failure(index: usize, count: usize, err: &mbedtls::Error) -> String {
    let which = if count == 1 {
        "the certificate".to_owned()
    } else {
        format!("certificate {index} of {count}")
    };
    let reason = if matches!(
        err.high_level(),
        Some(codes::X509UnknownSigAlg | codes::PkUnknownPkAlg | codes::X509FeatureUnavailable)
    ) {
        format!(
            "uses a key or signature algorithm this library cannot use (Ed25519 and Ed448 are not supported); {SUPPORTED_KEYS}"
        )
    } else {
        format!(
            "is not readable: {}; it must be PEM (\"-----BEGIN CERTIFICATE-----\") or DER, complete and unmodified",
            describe(err)
        )
    };
    format!("{which} {reason}")
}

/// Parses one certificate chain (leaf first) or CA bundle: PEM with any
/// number of certificates, or DER certificates back to back. Every
/// certificate must parse; a damaged one is named by its position.
pub(crate) fn parse_certificates(input: &[u8]) -> Result<MbedtlsList<Certificate>, String> {
    let mut list = MbedtlsList::new();
    match classify(input)? {
        Encoded::Pem(text) => {
            let blocks = pem_certificate_blocks(text)?;
            for (i, block) in blocks.iter().enumerate() {
                let cert = Certificate::from_pem(&nul_terminated(block))
                    .map_err(|e| certificate_failure(i + 1, blocks.len(), &e))?;
                list.push(cert);
            }
        }
        Encoded::Der(elements) => {
            for (i, der) in elements.iter().enumerate() {
                let cert = Certificate::from_der(der)
                    .map_err(|e| certificate_failure(i + 1, elements.len(), &e))?;
                list.push(cert);
            }
        }
    }
    Ok(list)
}

/// The key types a device key may have, for messages.
pub(crate) const SUPPORTED_KEYS: &str =
    "supported are RSA keys of 2048 bits or more and ECDSA keys on P-256 (prime256v1) or P-384 (secp384r1)";

/// Smallest RSA key accepted (the TLS profile refuses shorter server keys too).
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// Curves a device's ECDSA key may use: those the TLS configuration offers
/// for signatures (Curve25519 is offered for key exchange only).
pub(crate) const SIGNATURE_CURVES: [EcGroupId; 2] = [EcGroupId::SecP256R1, EcGroupId::SecP384R1];

fn curve_name(curve: EcGroupId) -> &'static str {
    match curve {
        EcGroupId::SecP192R1 => "P-192 (secp192r1)",
        EcGroupId::SecP224R1 => "P-224 (secp224r1)",
        EcGroupId::SecP256R1 => "P-256 (prime256v1)",
        EcGroupId::SecP384R1 => "P-384 (secp384r1)",
        EcGroupId::SecP521R1 => "P-521 (secp521r1)",
        EcGroupId::Bp256R1 => "brainpoolP256r1",
        EcGroupId::Bp384R1 => "brainpoolP384r1",
        EcGroupId::Bp512R1 => "brainpoolP512r1",
        EcGroupId::Curve25519 => "Curve25519",
        EcGroupId::SecP192K1 => "secp192k1",
        EcGroupId::SecP224K1 => "secp224k1",
        EcGroupId::SecP256K1 => "secp256k1",
        EcGroupId::Curve448 => "Curve448",
        EcGroupId::None => "an unnamed curve",
    }
}

/// Why this key cannot sign a TLS handshake with the configured policy.
fn unusable_key(key: &Pk) -> Option<String> {
    match key.pk_type() {
        PkType::Rsa => {
            let bits = key.len();
            (bits < MIN_RSA_BITS).then(|| {
                format!("it is an RSA key of {bits} bits, too short for TLS; {SUPPORTED_KEYS}")
            })
        }
        PkType::Eckey | PkType::Ecdsa => match key.curve() {
            Ok(curve) if SIGNATURE_CURVES.contains(&curve) => None,
            Ok(curve) => Some(format!(
                "it is an EC key on the curve {}, which the TLS configuration does not offer; {SUPPORTED_KEYS}",
                curve_name(curve)
            )),
            Err(_) => Some(format!("its EC curve is not readable; {SUPPORTED_KEYS}")),
        },
        PkType::EckeyDh => Some(format!(
            "it is an EC key restricted to key agreement (ECDH), which cannot sign; {SUPPORTED_KEYS}"
        )),
        PkType::RsassaPss => Some(format!(
            "it is an RSA-PSS-only key, which TLS 1.2 client authentication cannot use; {SUPPORTED_KEYS}"
        )),
        _ => Some(format!("it is of a type that cannot sign a TLS handshake; {SUPPORTED_KEYS}")),
    }
}

fn parse_key(
    input: &[u8],
    password: Option<&[u8]>,
    origin: &CredentialOrigin,
) -> Result<Pk, CredentialError> {
    let what = origin.key_name();
    let bad = |detail: String| CredentialError::BadKey {
        what: what.clone(),
        detail,
    };
    let password = password.filter(|p| !p.is_empty());
    let parsed = match classify(input).map_err(bad)? {
        Encoded::Pem(text) => Pk::from_private_key(&nul_terminated(text), password),
        Encoded::Der(elements) => match elements.as_slice() {
            [der] => Pk::from_private_key(der, password),
            _ => {
                return Err(bad(format!(
                    "it holds {} DER elements where one key was expected",
                    elements.len()
                )))
            }
        },
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
        Some(codes::PkUnknownPkAlg) => bad(format!(
            "its algorithm is not supported (Ed25519 and Ed448 keys are not); {SUPPORTED_KEYS}"
        )),
        Some(codes::PkUnknownNamedCurve) => bad(format!(
            "it is an EC key on a curve this build does not know; {SUPPORTED_KEYS}"
        )),
        _ => bad(describe(&e)),
    })?;
    match unusable_key(&key) {
        None => Ok(key),
        Some(detail) => Err(CredentialError::UnusableKey { what, detail }),
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
        let chain = parse_certificates(cert).map_err(|detail| CredentialError::BadCertificate {
            what: origin.cert_name(),
            detail,
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
        assert_eq!(trim_c_text(b"\n  abc"), b"abc");
        assert_eq!(trim_c_text(b"\0"), b"");
        assert_eq!(trim_c_text(b""), b"");
    }

    fn der_elements(input: &[u8]) -> Vec<&[u8]> {
        match classify(input) {
            Ok(Encoded::Der(elements)) => elements,
            Ok(Encoded::Pem(_)) => panic!("classified as PEM"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn der_keeps_its_trailing_bytes_and_drops_only_what_follows_it() {
        // SEQUENCEs whose last content byte is one trim_c_text would strip.
        for last in [0x00, 0x09, 0x0A, 0x0C, 0x0D, 0x20] {
            let der = [0x30, 0x03, 0x02, 0x01, last];
            assert_eq!(der_elements(&der), [&der[..]]);
            let mut with_nul = der.to_vec();
            with_nul.extend_from_slice(b"\0");
            assert_eq!(der_elements(&with_nul), [&der[..]]);
        }
        // Long-form lengths, and two elements back to back (a DER chain).
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat(0x20).take(256));
        let mut chain = long.clone();
        chain.extend_from_slice(&[0x30, 0x00, 0x00]);
        assert_eq!(der_elements(&chain), [&long[..], &[0x30, 0x00][..]]);
    }

    #[test]
    fn truncated_or_padded_der_is_explained() {
        let err = classify(&[0x30, 0x82, 0x01, 0x00, 0x01]).err().unwrap();
        assert!(err.contains("truncated"), "{err}");
        let err = classify(&[0x30, 0x01, 0x05, b'x']).err().unwrap();
        assert!(err.contains("from byte 3 of 4"), "{err}");
        assert!(
            classify(&[0x30, 0x80, 0x00, 0x00]).is_err(),
            "BER indefinite length"
        );
        let err = classify(b"\x01\x02").err().unwrap();
        assert!(err.contains("neither PEM"), "{err}");
        // Text that starts with '0' is still PEM.
        let listing = b"0 s:CN=x\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        assert!(matches!(classify(listing), Ok(Encoded::Pem(_))));
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
