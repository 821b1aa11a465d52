//! Just enough DER to read a certificate's iPAddress subjectAltNames, which
//! mbedTLS 2.28 does not check: its host-name check compares dNSName entries
//! and the CN only.

use std::net::IpAddr;

/// One DER element: (tag, content, rest of input). Definite lengths only,
/// as DER requires.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const EXPLICIT_EXTENSIONS: u8 = 0xa3;
/// GeneralName iPAddress: [7] IMPLICIT OCTET STRING.
const GENERAL_NAME_IP: u8 = 0x87;
/// id-ce-subjectAltName, 2.5.29.17.
const SUBJECT_ALT_NAME_OID: &[u8] = &[0x55, 0x1d, 0x11];

/// The iPAddress entries of the subjectAltName extension, given the
/// certificate's extensions (`SEQUENCE OF Extension`, optionally still
/// wrapped in its `[3]` tag). Malformed input yields what was readable.
pub fn ip_addresses(extensions: &[u8]) -> Vec<IpAddr> {
    let mut found = Vec::new();
    let Some((mut tag, mut list, _)) = element(extensions) else {
        return found;
    };
    if tag == EXPLICIT_EXTENSIONS {
        match element(list) {
            Some((inner_tag, inner, _)) => (tag, list) = (inner_tag, inner),
            None => return found,
        }
    }
    if tag != SEQUENCE {
        return found;
    }
    while let Some((SEQUENCE, extension, rest)) = element(list) {
        list = rest;
        let Some((OID, oid, mut fields)) = element(extension) else {
            continue;
        };
        if oid != SUBJECT_ALT_NAME_OID {
            continue;
        }
        if let Some((BOOLEAN, _, after)) = element(fields) {
            fields = after;
        }
        let Some((OCTET_STRING, value, _)) = element(fields) else {
            continue;
        };
        let Some((SEQUENCE, mut names, _)) = element(value) else {
            continue;
        };
        while let Some((name_tag, content, rest)) = element(names) {
            names = rest;
            if name_tag != GENERAL_NAME_IP {
                continue;
            }
            if let Ok(v4) = <[u8; 4]>::try_from(content) {
                found.push(IpAddr::from(v4));
            } else if let Ok(v6) = <[u8; 16]>::try_from(content) {
                found.push(IpAddr::from(v6));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn san_extension(names: &[Vec<u8>], critical: bool) -> Vec<u8> {
        let general_names = tlv(SEQUENCE, &names.concat());
        let mut fields = tlv(OID, SUBJECT_ALT_NAME_OID);
        if critical {
            fields.extend(tlv(BOOLEAN, &[0xff]));
        }
        fields.extend(tlv(OCTET_STRING, &general_names));
        tlv(SEQUENCE, &fields)
    }

    #[test]
    fn finds_v4_and_v6_entries_and_skips_dns_names() {
        let names = vec![
            tlv(0x82, b"localhost"),
            tlv(GENERAL_NAME_IP, &[127, 0, 0, 1]),
            tlv(
                GENERAL_NAME_IP,
                &[0; 15]
                    .iter()
                    .chain([1u8].iter())
                    .copied()
                    .collect::<Vec<_>>(),
            ),
        ];
        let other = tlv(
            SEQUENCE,
            &[tlv(OID, &[0x55, 0x1d, 0x13]), tlv(OCTET_STRING, &[0x30, 0])].concat(),
        );
        let exts = tlv(SEQUENCE, &[other, san_extension(&names, true)].concat());
        let expected: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(ip_addresses(&exts), expected);
        assert_eq!(ip_addresses(&tlv(EXPLICIT_EXTENSIONS, &exts)), expected);
    }

    #[test]
    fn malformed_input_never_panics() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x05, 0x30],
        ] {
            assert!(ip_addresses(input).is_empty());
        }
    }
}
