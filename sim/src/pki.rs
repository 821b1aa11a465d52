//! The platform's certificate authority, built on OpenSSL (nothing shared with
//! the device library's mbedTLS stack).

use anyhow::{Context, Result};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    #[value(name = "rsa-2048")]
    /// RSA 2048, PKCS#1 "RSA PRIVATE KEY" PEM (as in the platform's guide)
    Rsa2048,
    #[value(name = "ec-p256")]
    /// ECDSA P-256, SEC1 "EC PRIVATE KEY" PEM
    EcP256,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::EcP256 => "ec-p256",
        }
    }
}

/// A private key with its traditional PEM (PKCS#1 for RSA, SEC1 for EC).
pub struct KeyPair {
    pub key: PKey<Private>,
    pub pem: String,
}

pub fn generate_key(key_type: KeyType) -> Result<KeyPair> {
    match key_type {
        KeyType::Rsa2048 => {
            let rsa = Rsa::generate(2048).context("generating an RSA-2048 key")?;
            let pem = String::from_utf8(rsa.private_key_to_pem()?)?;
            Ok(KeyPair {
                key: PKey::from_rsa(rsa)?,
                pem,
            })
        }
        KeyType::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let ec = EcKey::generate(&group).context("generating a P-256 key")?;
            let pem = String::from_utf8(ec.private_key_to_pem()?)?;
            Ok(KeyPair {
                key: PKey::from_ec_key(ec)?,
                pem,
            })
        }
    }
}

pub struct Ca {
    pub cert: X509,
    pub key: PKey<Private>,
}

pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    /// Upper-case hex serial number.
    pub serial: String,
    /// Lower-case hex SHA-256 of the DER certificate: the registry's lookup key.
    pub fingerprint: String,
    pub not_after: i64,
}

const DAY: u32 = 86_400;

fn random_serial() -> Result<Asn1Integer> {
    let mut serial = BigNum::new()?;
    // 127 random bits with the top bit clear keeps the DER integer positive.
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(serial.to_asn1_integer()?)
}

/// A random positive serial of exactly `bytes` bytes in DER (top bit clear,
/// first byte non-zero), like the platform's 7-byte device serials.
fn short_serial(bytes: usize) -> Result<Asn1Integer> {
    let mut serial = BigNum::new()?;
    // Top two bits of the top byte fixed to 01: never zero, never negative.
    serial.rand((bytes * 8 - 1) as i32, MsbOption::ONE, false)?;
    Ok(serial.to_asn1_integer()?)
}

/// Back-dated by a day so a device whose clock lags a little still accepts it.
fn not_before(builder: &mut X509Builder) -> Result<()> {
    let now = crate::clock::real_now();
    let start = Asn1Time::from_unix(now - i64::from(DAY))?;
    builder.set_not_before(&start)?;
    Ok(())
}

pub fn fingerprint(cert: &X509) -> Result<String> {
    let digest = cert.digest(MessageDigest::sha256())?;
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn serial_hex(cert: &X509) -> Result<String> {
    Ok(cert.serial_number().to_bn()?.to_hex_str()?.to_string())
}

fn name(entries: &[(Nid, &str)]) -> Result<openssl::x509::X509Name> {
    let mut name = X509NameBuilder::new()?;
    for (nid, value) in entries {
        name.append_entry_by_nid(*nid, value)?;
    }
    Ok(name.build())
}

/// How long the sim's CAs live: past every device certificate's notAfter.
const CA_NOT_AFTER: &str = "21291231000000Z";

/// What the device certificates look like (from the rule file).
#[derive(Clone, Debug)]
pub struct DeviceProfile {
    pub subject_cn: String,
    pub serial_bytes: usize,
    pub not_after: i64,
}

impl DeviceProfile {
    pub fn from_rules(rules: &crate::rules::Rules) -> DeviceProfile {
        DeviceProfile {
            subject_cn: rules.cert_subject_cn.clone(),
            serial_bytes: rules.cert_serial_bytes,
            not_after: rules.cert_not_after,
        }
    }
}

impl Ca {
    /// A new self-signed root CA (RSA 2048, SHA-256, valid to 2129).
    pub fn generate(common_name: &str) -> Result<(Ca, String)> {
        let pair = generate_key(KeyType::Rsa2048)?;
        let subject = name(&[
            (Nid::ORGANIZATIONNAME, "iotkit-sim"),
            (Nid::COMMONNAME, common_name),
        ])?;
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(&subject)?;
        builder.set_pubkey(&pair.key)?;
        not_before(&mut builder)?;
        let end = Asn1Time::from_str(CA_NOT_AFTER)?;
        builder.set_not_after(&end)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&pair.key, MessageDigest::sha256())?;
        Ok((
            Ca {
                cert: builder.build(),
                key: pair.key,
            },
            pair.pem,
        ))
    }

    /// An intermediate CA signed by this one (pathlen 0), e.g. the
    /// "Operation CA" that issues device certificates.
    pub fn intermediate(&self, common_name: &str) -> Result<(Ca, String)> {
        let pair = generate_key(KeyType::Rsa2048)?;
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial()?;
        builder.set_serial_number(&serial)?;
        let subject = name(&[
            (Nid::ORGANIZATIONNAME, "iotkit-sim"),
            (Nid::COMMONNAME, common_name),
        ])?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(self.cert.subject_name())?;
        builder.set_pubkey(&pair.key)?;
        not_before(&mut builder)?;
        let end = Asn1Time::from_str(CA_NOT_AFTER)?;
        builder.set_not_after(&end)?;
        builder.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski =
            SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        Ok((
            Ca {
                cert: builder.build(),
                key: pair.key,
            },
            pair.pem,
        ))
    }

    pub fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Ca> {
        Ok(Ca {
            cert: X509::from_pem(cert_pem).context("parsing the CA certificate")?,
            key: PKey::private_key_from_pem(key_pem).context("parsing the CA private key")?,
        })
    }

    /// An end-entity certificate: v3, CA:FALSE, key usage, SKI/AKI; serverAuth
    /// and SAN for a server, no extended key usage for a device (as the
    /// platform's device certificates).
    fn leaf(
        &self,
        subject: &[(Nid, &str)],
        key: &PKey<Private>,
        serial: &Asn1Integer,
        not_after: i64,
        server_names: Option<&[String]>,
    ) -> Result<X509> {
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        builder.set_serial_number(serial)?;
        let subject = name(subject)?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(self.cert.subject_name())?;
        builder.set_pubkey(key)?;
        not_before(&mut builder)?;
        let end = Asn1Time::from_unix(not_after)?;
        builder.set_not_after(&end)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if key.rsa().is_ok() {
            usage.key_encipherment();
        }
        builder.append_extension(usage.build()?)?;
        if server_names.is_some() {
            builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        }
        let ski =
            SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        if let Some(names) = server_names {
            let mut san = SubjectAlternativeName::new();
            for entry in names {
                if IpAddr::from_str(entry).is_ok() {
                    san.ip(entry);
                } else {
                    san.dns(entry);
                }
            }
            let san = san.build(&builder.x509v3_context(Some(&self.cert), None))?;
            builder.append_extension(san)?;
        }
        builder.sign(&self.key, MessageDigest::sha256())?;
        Ok(builder.build())
    }

    /// The endpoint's server certificate (RSA 2048, 5 years) for the given
    /// DNS names / IPs; returns (certificate PEM followed by this CA's, key PEM).
    pub fn issue_server(&self, names: &[String]) -> Result<(String, String)> {
        let pair = generate_key(KeyType::Rsa2048)?;
        let not_after = crate::clock::real_now() + 5 * 365 * i64::from(DAY);
        let cert = self.leaf(
            &[
                (Nid::ORGANIZATIONNAME, "iotkit-sim"),
                (
                    Nid::COMMONNAME,
                    names.first().map(String::as_str).unwrap_or("localhost"),
                ),
            ],
            &pair.key,
            &random_serial()?,
            not_after,
            Some(names),
        )?;
        let mut chain = String::from_utf8(cert.to_pem()?)?;
        chain.push_str(std::str::from_utf8(&self.cert.to_pem()?)?);
        Ok((chain, pair.pem))
    }

    /// A device certificate shaped like the platform's: generic subject (no
    /// ProductKey or DeviceName: the endpoint maps a certificate to its device
    /// by fingerprint), a short serial, no extended key usage, a far notAfter.
    pub fn issue_device(&self, profile: &DeviceProfile, key_type: KeyType) -> Result<Issued> {
        let pair = generate_key(key_type)?;
        let cert = self.leaf(
            &[(Nid::COMMONNAME, profile.subject_cn.as_str())],
            &pair.key,
            &short_serial(profile.serial_bytes)?,
            profile.not_after,
            None,
        )?;
        Ok(Issued {
            cert_pem: String::from_utf8(cert.to_pem()?)?,
            key_pem: pair.pem,
            serial: serial_hex(&cert)?,
            fingerprint: fingerprint(&cert)?,
            not_after: profile.not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> DeviceProfile {
        DeviceProfile::from_rules(&crate::rules::Rules::defaults())
    }

    #[test]
    fn device_certificate_is_shaped_like_the_platforms() {
        let (root, _) = Ca::generate("test root").unwrap();
        let (operation, _) = root.intermediate("test Operation CA").unwrap();
        let issued = operation
            .issue_device(&profile(), KeyType::Rsa2048)
            .unwrap();
        assert!(issued
            .key_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let cert = X509::from_pem(issued.cert_pem.as_bytes()).unwrap();
        assert!(cert.verify(&operation.cert.public_key().unwrap()).unwrap());
        assert!(operation
            .cert
            .verify(&root.cert.public_key().unwrap())
            .unwrap());
        assert_eq!(fingerprint(&cert).unwrap(), issued.fingerprint);
        assert_eq!(cert.version(), 2, "v3");
        // 7-byte serial, generic subject, no EKU, notAfter 2119 as GeneralizedTime.
        assert_eq!(cert.serial_number().to_bn().unwrap().num_bytes(), 7);
        let text = String::from_utf8(cert.to_text().unwrap()).unwrap();
        assert!(
            text.contains("Subject: CN=IoT Device Certificate"),
            "{text}"
        );
        assert!(!text.contains("Extended Key Usage"), "{text}");
        assert!(
            text.contains("Not After : Jun  1 00:00:00 2119 GMT"),
            "{text}"
        );
        let der = cert.to_der().unwrap();
        // GeneralizedTime tag 0x18 with 15 bytes: 21190601000000Z.
        assert!(der.windows(17).any(|w| w == b"\x18\x0f21190601000000Z"));
        let ec = operation.issue_device(&profile(), KeyType::EcP256).unwrap();
        assert!(ec.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_ne!(ec.serial, issued.serial);
    }

    #[test]
    fn serials_are_always_exactly_the_asked_length() {
        for _ in 0..200 {
            let serial = short_serial(7).unwrap().to_bn().unwrap();
            assert_eq!(serial.num_bytes(), 7);
            assert!(!serial.is_negative());
        }
    }
}
