//! Just enough MQTT 3.1.1 to police a connection: framing, CONNECT parsing,
//! SUBSCRIBE/PUBLISH inspection and the few packets the endpoint writes itself.

use std::fmt;

pub const CONNECT: u8 = 1;
pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREC: u8 = 5;
pub const PUBREL: u8 = 6;
pub const PUBCOMP: u8 = 7;
pub const SUBSCRIBE: u8 = 8;
pub const SUBACK: u8 = 9;

/// Largest packet the endpoint accepts (the platform's payload limit is far below).
pub const MAX_PACKET: usize = 2 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    Malformed(&'static str),
    TooLarge(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(what) => write!(f, "malformed packet: {what}"),
            DecodeError::TooLarge(size) => write!(
                f,
                "packet of {size} bytes exceeds the {MAX_PACKET}-byte limit"
            ),
        }
    }
}

/// Decodes the remaining-length varint from `bytes` (after the first byte).
/// Returns `Ok(None)` when more bytes are needed, else (length, varint size).
pub fn remaining_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for (index, byte) in bytes.iter().enumerate().take(4) {
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            if value > MAX_PACKET {
                return Err(DecodeError::TooLarge(value));
            }
            return Ok(Some((value, index + 1)));
        }
    }
    if bytes.len() >= 4 {
        return Err(DecodeError::Malformed(
            "remaining length longer than 4 bytes",
        ));
    }
    Ok(None)
}

pub fn put_remaining_length(out: &mut Vec<u8>, mut length: usize) {
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if length == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
}

/// A cursor over a packet's variable header and payload.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or(DecodeError::Malformed("truncated"))?;
        self.bytes = rest;
        Ok(first)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = usize::from(self.u16()?);
        if self.bytes.len() < length {
            return Err(DecodeError::Malformed("string runs past the packet end"));
        }
        let (value, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(value)
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.binary()?.to_vec())
            .map_err(|_| DecodeError::Malformed("string is not UTF-8"))
    }
}

#[derive(Debug, Clone)]
pub struct Connect {
    pub protocol_name: String,
    pub protocol_level: u8,
    pub keep_alive: u16,
    pub client_id: String,
    pub will_topic: Option<String>,
    pub username: Option<String>,
    pub has_password: bool,
    pub clean_session: bool,
}

/// Parses a CONNECT packet's body (everything after the fixed header).
pub fn parse_connect(body: &[u8]) -> Result<Connect, DecodeError> {
    let mut reader = Reader { bytes: body };
    let protocol_name = reader.string()?;
    let protocol_level = reader.u8()?;
    let flags = reader.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::Malformed("reserved CONNECT flag is set"));
    }
    let keep_alive = reader.u16()?;
    let client_id = reader.string()?;
    let will_topic = if flags & 0x04 != 0 {
        let topic = reader.string()?;
        reader.binary()?;
        Some(topic)
    } else {
        None
    };
    let username = if flags & 0x80 != 0 {
        Some(reader.string()?)
    } else {
        None
    };
    let has_password = flags & 0x40 != 0;
    if has_password {
        reader.binary()?;
    }
    Ok(Connect {
        protocol_name,
        protocol_level,
        keep_alive,
        client_id,
        will_topic,
        username,
        has_password,
        clean_session: flags & 0x02 != 0,
    })
}

pub fn connack(return_code: u8) -> [u8; 4] {
    [CONNACK << 4, 2, 0, return_code]
}

/// A QoS 0 PUBLISH packet.
pub fn publish_qos0(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + topic.len() + payload.len());
    out.push(PUBLISH << 4);
    put_remaining_length(&mut out, 2 + topic.len() + payload.len());
    put_str(&mut out, topic.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// A PUBLISH at QoS 0 or 1 (packet id used only for QoS 1).
pub fn publish(topic: &str, payload: &[u8], qos: u8, packet_id: u16) -> Vec<u8> {
    if qos == 0 {
        return publish_qos0(topic, payload);
    }
    let mut out = Vec::with_capacity(10 + topic.len() + payload.len());
    out.push((PUBLISH << 4) | (qos << 1));
    put_remaining_length(&mut out, 4 + topic.len() + payload.len());
    put_str(&mut out, topic.as_bytes());
    out.extend_from_slice(&packet_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A two-byte acknowledgement (PUBACK, PUBREC, PUBCOMP) for `packet_id`.
pub fn ack(kind: u8, packet_id: u16) -> [u8; 4] {
    let id = packet_id.to_be_bytes();
    [kind << 4, 2, id[0], id[1]]
}

/// A CONNECT for the sim's own broker clients (HTTP publisher).
pub fn connect_packet(client_id: &str, keep_alive: u16) -> Vec<u8> {
    connect_packet_with(client_id, keep_alive, true)
}

/// An MQTT 3.1.1 CONNECT without will, user name or password.
pub fn connect_packet_with(client_id: &str, keep_alive: u16, clean_session: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + client_id.len());
    put_str(&mut body, b"MQTT");
    body.push(4);
    body.push(if clean_session { 0x02 } else { 0x00 });
    body.extend_from_slice(&keep_alive.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    let mut out = vec![CONNECT << 4];
    put_remaining_length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// A PUBLISH's routing fields, borrowed from the packet (no allocation per message).
pub struct PublishInfo<'a> {
    pub qos: u8,
    pub retain: bool,
    pub topic: &'a str,
    pub packet_id: Option<u16>,
    pub payload: &'a [u8],
}

pub fn parse_publish(first_byte: u8, body: &[u8]) -> Result<PublishInfo<'_>, DecodeError> {
    let qos = (first_byte >> 1) & 0x03;
    if qos == 3 {
        return Err(DecodeError::Malformed("PUBLISH with QoS 3"));
    }
    let mut reader = Reader { bytes: body };
    let topic = std::str::from_utf8(reader.binary()?)
        .map_err(|_| DecodeError::Malformed("topic is not UTF-8"))?;
    let packet_id = if qos > 0 { Some(reader.u16()?) } else { None };
    Ok(PublishInfo {
        qos,
        retain: first_byte & 0x01 != 0,
        topic,
        packet_id,
        payload: reader.bytes,
    })
}

pub struct Subscribe {
    pub packet_id: u16,
    pub filters: Vec<(String, u8)>,
}

pub fn parse_subscribe(body: &[u8]) -> Result<Subscribe, DecodeError> {
    let mut reader = Reader { bytes: body };
    let packet_id = reader.u16()?;
    let mut filters = Vec::new();
    while !reader.bytes.is_empty() {
        let filter = reader.string()?;
        let qos = reader.u8()?;
        filters.push((filter, qos));
    }
    if filters.is_empty() {
        return Err(DecodeError::Malformed("SUBSCRIBE without topic filters"));
    }
    Ok(Subscribe { packet_id, filters })
}

pub fn subscribe_packet(packet_id: u16, filters: &[(String, u8)]) -> Vec<u8> {
    let length = 2 + filters.iter().map(|(f, _)| 3 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(length + 5);
    out.push((SUBSCRIBE << 4) | 0x02);
    put_remaining_length(&mut out, length);
    out.extend_from_slice(&packet_id.to_be_bytes());
    for (filter, qos) in filters {
        put_str(&mut out, filter.as_bytes());
        out.push(*qos);
    }
    out
}

pub fn suback_packet(packet_id: u16, codes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len() + 5);
    out.push(SUBACK << 4);
    put_remaining_length(&mut out, 2 + codes.len());
    out.extend_from_slice(&packet_id.to_be_bytes());
    out.extend_from_slice(codes);
    out
}

/// The packet id at the start of an acknowledgement-style body.
pub fn packet_id(body: &[u8]) -> Option<u16> {
    (body.len() >= 2).then(|| u16::from_be_bytes([body[0], body[1]]))
}

/// The platform client id, split: `clientId|key=value,key=value|`.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientIdParts<'a> {
    pub client_id: &'a str,
    pub params: Vec<(&'a str, &'a str)>,
}

pub fn split_client_id(full: &str) -> Result<ClientIdParts<'_>, String> {
    let Some((client_id, rest)) = full.split_once('|') else {
        return Ok(ClientIdParts {
            client_id: full,
            params: Vec::new(),
        });
    };
    let Some(inner) = rest.strip_suffix('|') else {
        return Err("the extended parameters must be closed by a final '|'".into());
    };
    let mut params = Vec::new();
    for pair in inner.split(',').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "extended parameter {pair} is not key=value",
                pair = crate::quote::q(&pair)
            ));
        };
        params.push((key, value));
    }
    Ok(ClientIdParts { client_id, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_round_trips() {
        for value in [0usize, 127, 128, 16_383, 16_384, 2_097_151] {
            let mut out = Vec::new();
            put_remaining_length(&mut out, value);
            assert_eq!(remaining_length(&out).unwrap(), Some((value, out.len())));
        }
        assert_eq!(remaining_length(&[0x80]).unwrap(), None);
        assert!(remaining_length(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn splits_platform_client_id() {
        let parts = split_client_id("sn1|securemode=2,signmethod=hmacsha1,timestamp=1|").unwrap();
        assert_eq!(parts.client_id, "sn1");
        assert_eq!(
            parts.params,
            vec![
                ("securemode", "2"),
                ("signmethod", "hmacsha1"),
                ("timestamp", "1")
            ]
        );
        assert!(split_client_id("sn1|securemode=2").is_err());
        assert!(split_client_id("sn1|securemode|").is_err());
        assert_eq!(split_client_id("plain").unwrap().params, vec![]);
    }

    #[test]
    fn connect_round_trip() {
        let packet = connect_packet("abc", 60);
        let (length, size) = remaining_length(&packet[1..]).unwrap().unwrap();
        let connect = parse_connect(&packet[1 + size..1 + size + length]).unwrap();
        assert_eq!(connect.client_id, "abc");
        assert_eq!(connect.keep_alive, 60);
        assert_eq!(connect.protocol_level, 4);
        assert!(connect.username.is_none());
    }

    #[test]
    fn truncated_connect_is_an_error_not_a_panic() {
        let packet = connect_packet("abc", 60);
        for cut in 0..packet.len() - 2 {
            let _ = parse_connect(&packet[2..2 + cut]);
        }
        assert!(parse_connect(&[0, 4, b'M']).is_err());
    }
}
