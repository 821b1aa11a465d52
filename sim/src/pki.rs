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

fn validity(builder: &mut X509Builder, days: u32) -> Result<i64> {
    let now = crate::clock::real_now();
    // Back-date by a day so a device whose clock lags a little still accepts it.
    let not_before = Asn1Time::from_unix(now - i64::from(DAY))?;
    builder.set_not_before(&not_before)?;
    let not_after = now + i64::from(days) * i64::from(DAY);
    let expiry = Asn1Time::from_unix(not_after)?;
    builder.set_not_after(&expiry)?;
    Ok(not_after)
}

pub fn fingerprint(cert: &X509) -> Result<String> {
    let digest = cert.digest(MessageDigest::sha256())?;
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn serial_hex(cert: &X509) -> Result<String> {
    Ok(cert.serial_number().to_bn()?.to_hex_str()?.to_string())
}

impl Ca {
    /// A new self-signed root CA (RSA 2048, SHA-256, 20 years).
    pub fn generate(common_name: &str) -> Result<(Ca, String)> {
        let pair = generate_key(KeyType::Rsa2048)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "iotkit-sim")?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        let name = name.build();
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&pair.key)?;
        validity(&mut builder, 20 * 365)?;
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

    pub fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Ca> {
        Ok(Ca {
            cert: X509::from_pem(cert_pem).context("parsing the CA certificate")?,
            key: PKey::private_key_from_pem(key_pem).context("parsing the CA private key")?,
        })
    }

    fn leaf(
        &self,
        subject: &[(Nid, &str)],
        key: &PKey<Private>,
        days: u32,
        server_names: Option<&[String]>,
    ) -> Result<(X509, i64)> {
        let mut name = X509NameBuilder::new()?;
        for (nid, value) in subject {
            name.append_entry_by_nid(*nid, value)?;
        }
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name.build())?;
        builder.set_issuer_name(self.cert.subject_name())?;
        builder.set_pubkey(key)?;
        let not_after = validity(&mut builder, days)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if key.rsa().is_ok() {
            usage.key_encipherment();
        }
        builder.append_extension(usage.build()?)?;
        let mut extended = ExtendedKeyUsage::new();
        match server_names {
            Some(_) => extended.server_auth(),
            None => extended.client_auth(),
        };
        builder.append_extension(extended.build()?)?;
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
        Ok((builder.build(), not_after))
    }

    /// The endpoint's server certificate (RSA 2048) for the given DNS names / IPs.
    pub fn issue_server(&self, names: &[String]) -> Result<(String, String)> {
        let pair = generate_key(KeyType::Rsa2048)?;
        let (cert, _) = self.leaf(
            &[
                (Nid::ORGANIZATIONNAME, "iotkit-sim"),
                (
                    Nid::COMMONNAME,
                    names.first().map(String::as_str).unwrap_or("localhost"),
                ),
            ],
            &pair.key,
            5 * 365,
            Some(names),
        )?;
        Ok((String::from_utf8(cert.to_pem()?)?, pair.pem))
    }

    /// A device certificate (10 years). The subject is informative only: the
    /// endpoint maps a certificate to its device by fingerprint, never by subject.
    pub fn issue_device(
        &self,
        product_key: &str,
        device_name: &str,
        key_type: KeyType,
    ) -> Result<Issued> {
        let pair = generate_key(key_type)?;
        let (cert, not_after) = self.leaf(
            &[
                (Nid::ORGANIZATIONNAME, "iotkit-sim device"),
                (Nid::ORGANIZATIONALUNITNAME, product_key),
                (Nid::COMMONNAME, device_name),
            ],
            &pair.key,
            10 * 365,
            None,
        )?;
        Ok(Issued {
            cert_pem: String::from_utf8(cert.to_pem()?)?,
            key_pem: pair.pem,
            serial: serial_hex(&cert)?,
            fingerprint: fingerprint(&cert)?,
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_certificate_chains_to_ca_and_keys_are_traditional_pem() {
        let (ca, _) = Ca::generate("test CA").unwrap();
        let issued = ca
            .issue_device("a1AAAAAAAAA", "dev1", KeyType::Rsa2048)
            .unwrap();
        assert!(issued
            .key_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let cert = X509::from_pem(issued.cert_pem.as_bytes()).unwrap();
        assert!(cert.verify(&ca.cert.public_key().unwrap()).unwrap());
        assert_eq!(fingerprint(&cert).unwrap(), issued.fingerprint);
        let ec = ca
            .issue_device("a1AAAAAAAAA", "dev2", KeyType::EcP256)
            .unwrap();
        assert!(ec.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_ne!(ec.serial, issued.serial);
    }
}
