//! mbedTLS error codes in words for people. The `mbedtls` crate's own
//! `Display` prints Rust enum paths ("HiError :: PkUnknownPkAlg"), which must
//! not reach a state event; every message built from an mbedTLS error goes
//! through [`describe`].

use mbedtls::error::{codes, Error};

/// A sentence fragment saying what went wrong, with mbedTLS's numeric code
/// for searching its documentation, e.g. "the data is not valid DER: a
/// length field is wrong (mbedTLS error -0x2262)".
pub(crate) fn describe(err: &Error) -> String {
    let code = err.to_int();
    let code = if code < 0 {
        format!("-0x{:04X}", code.unsigned_abs())
    } else {
        format!("0x{code:04X}")
    };
    format!("{} (mbedTLS error {code})", words(err))
}

fn words(err: &Error) -> &'static str {
    if let Some(high) = err.high_level() {
        if let Some(text) = high_level_words(high) {
            return text;
        }
    }
    if let Some(low) = err.low_level() {
        if let Some(text) = low_level_words(low) {
            return text;
        }
    }
    "an unexpected error"
}

fn high_level_words(code: mbedtls::error::HiError) -> Option<&'static str> {
    Some(match code {
        codes::PemNoHeaderFooterPresent => "no PEM BEGIN/END lines were found",
        codes::PemInvalidData => "the PEM base64 text is damaged",
        codes::PemInvalidEncIv | codes::PemUnknownEncAlg => {
            "the PEM encryption header (DEK-Info) is not readable"
        }
        codes::PemPasswordRequired | codes::PkPasswordRequired => "a password is required",
        codes::PemPasswordMismatch | codes::PkPasswordMismatch => "the password is wrong",
        codes::PkKeyInvalidFormat => "the key's structure is damaged or not a private key",
        codes::PkKeyInvalidVersion => "the key has an unsupported format version",
        codes::PkInvalidPubkey => "the public key is damaged",
        codes::PkInvalidAlg => "the key's algorithm identifier is damaged",
        codes::PkUnknownPkAlg => {
            "the key algorithm is not supported (only RSA and ECDSA keys are)"
        }
        codes::PkUnknownNamedCurve => "the EC curve is not supported",
        codes::X509InvalidFormat => "the certificate's structure is damaged",
        codes::X509InvalidVersion | codes::X509UnknownVersion => {
            "the certificate has an unsupported version"
        }
        codes::X509InvalidSerial => "the certificate's serial number is damaged",
        codes::X509InvalidAlg => "the certificate's algorithm identifier is damaged",
        codes::X509InvalidName => "the certificate's subject or issuer name is damaged",
        codes::X509InvalidDate => "the certificate's validity dates are damaged",
        codes::X509InvalidSignature => "the certificate's signature is damaged",
        codes::X509InvalidExtensions => "the certificate's extensions are damaged",
        codes::X509UnknownOid => "the certificate uses an unknown object identifier",
        codes::X509UnknownSigAlg => {
            "the certificate is signed with an unsupported algorithm (Ed25519 and Ed448 are not supported)"
        }
        codes::X509SigMismatch => "the certificate's two signature algorithm fields differ",
        codes::X509CertUnknownFormat => "the data is neither PEM nor DER certificate data",
        codes::X509BadInputData => "the input is empty or malformed",
        codes::X509FeatureUnavailable => "the certificate needs a feature this build lacks",
        codes::X509AllocFailed | codes::SslAllocFailed => "out of memory",
        codes::X509CertVerifyFailed => "the certificate could not be verified",
        codes::SslFatalAlertMessage => "the server ended the handshake with a fatal alert",
        codes::SslPeerCloseNotify => "the peer closed the connection",
        codes::SslConnEof => "the connection was closed",
        codes::SslNoCipherChosen | codes::SslNoUsableCiphersuite => {
            "no cipher suite is acceptable to both sides"
        }
        codes::SslBadHsProtocolVersion => "the server does not speak TLS 1.2",
        codes::SslBadHsServerHello => "the server's hello message is unacceptable",
        codes::SslBadHsCertificate => "the server's certificate message is unacceptable",
        codes::SslBadHsServerKeyExchange => "the server's key exchange message is unacceptable",
        codes::SslBadHsCertificateRequest => "the server's certificate request is unacceptable",
        codes::SslBadHsFinished => "the handshake's final check failed",
        codes::SslUnexpectedMessage | codes::SslUnexpectedRecord => {
            "the peer sent something unexpected (is it a TLS server?)"
        }
        codes::SslInvalidRecord => "the peer sent a record that is not TLS (is it a TLS port?)",
        codes::SslInvalidMac => "a record failed its integrity check",
        codes::SslPeerVerifyFailed => "the peer's certificate was not accepted",
        codes::SslCertificateTooLarge => "the certificate chain does not fit in one TLS record",
        codes::SslWantRead | codes::SslWantWrite => "the operation did not finish in time",
        codes::SslBadInputData => "an argument was rejected",
        codes::EcpInvalidKey | codes::EcpBadInputData => "the EC key is invalid",
        codes::EcpFeatureUnavailable => "the EC curve is not supported",
        codes::RsaKeyCheckFailed | codes::RsaBadInputData => "the RSA key is invalid",
        _ => return None,
    })
}

fn low_level_words(code: mbedtls::error::LoError) -> Option<&'static str> {
    Some(match code {
        codes::Asn1OutOfData | codes::Asn1InvalidLength | codes::Asn1LengthMismatch => {
            "the data is not valid DER: it is cut off or a length field is wrong"
        }
        codes::Asn1UnexpectedTag | codes::Asn1InvalidData => {
            "the data is not valid DER: an element has the wrong type"
        }
        codes::Base64InvalidCharacter | codes::Base64BufferTooSmall => {
            "the PEM base64 text is damaged"
        }
        codes::NetConnReset => "the peer reset the connection",
        codes::NetRecvFailed => "receiving from the socket failed",
        codes::NetSendFailed => "sending on the socket failed",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_words_with_the_numeric_code_and_no_rust_paths() {
        let err: Error = codes::PkUnknownPkAlg.into();
        let text = describe(&err);
        assert!(
            text.starts_with("the key algorithm is not supported"),
            "{text}"
        );
        assert!(text.ends_with("(mbedTLS error -0x3C80)"), "{text}");
        for err in [
            codes::X509InvalidFormat | codes::Asn1OutOfData,
            Error::from(codes::Asn1UnexpectedTag),
            Error::from(-0x7fff),
        ] {
            let text = describe(&err);
            assert!(!text.contains("::") && !text.contains("Error"), "{text}");
        }
    }
}
