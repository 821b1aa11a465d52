//! MQTT 3.1.1 packets, both directions.
//!
//! Decoding borrows: a decoded [`Packet`] holds `&str`/`&[u8]` views into the
//! read buffer, nothing is copied. Encoding writes straight into a
//! caller-provided `&mut [u8]` and fails with [`EncodeError::BufferTooSmall`]
//! when the packet does not fit. [`frame`] tells from a partial buffer how many
//! bytes the next packet needs, for reading packets off a stream.
//!
//! Validation is strict: every defect the decoder finds has its own
//! [`DecodeError`] variant, so a bad server can be told exactly what it did.

use core::fmt;
use core::str;

use super::topic::{self, TopicError};

/// The largest remaining length four length bytes can express.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
/// A fixed header is the type byte plus one to four length bytes.
pub const MAX_FIXED_HEADER_LEN: usize = 5;
/// Longest string or binary field: lengths are 16-bit.
pub const MAX_FIELD_LEN: usize = 65_535;

/// SUBACK return code for a refused subscription.
pub const SUBACK_FAILURE: u8 = 0x80;

/// The control packet types of MQTT 3.1.1 (the upper nibble of byte one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
}

impl PacketType {
    /// The type named by a packet's first byte; `None` for the reserved 0 and 15.
    pub fn of_first_byte(byte: u8) -> Option<PacketType> {
        PacketType::from_nibble(byte >> 4)
    }

    fn from_nibble(nibble: u8) -> Option<PacketType> {
        Some(match nibble {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            _ => return None,
        })
    }

    /// The packet's name as the specification spells it.
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
        }
    }

    /// The fixed-header flags every packet but PUBLISH must carry.
    fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every defect the decoder recognises, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a defect: the buffer ends before the packet does. `needed` is the
    /// smallest total buffer length that can make progress.
    Incomplete { needed: usize },
    /// Packet type 0 or 15, which MQTT 3.1.1 reserves.
    ReservedPacketType(u8),
    /// The low nibble of byte one is not what the packet type requires.
    InvalidFixedHeaderFlags { packet: PacketType, flags: u8 },
    /// The remaining length uses more than four bytes.
    RemainingLengthTooLong,
    /// PUBLISH with QoS 3 (both QoS bits set).
    InvalidQoS,
    /// PUBLISH with the DUP flag set at QoS 0.
    DupOnQoS0,
    /// A packet of fixed size with a different remaining length.
    WrongRemainingLength {
        packet: PacketType,
        expected: usize,
        actual: usize,
    },
    /// A field runs past the end of the packet.
    Truncated { packet: PacketType },
    /// Bytes are left over after the packet's last field.
    TrailingBytes { packet: PacketType },
    /// A string field is not valid UTF-8.
    InvalidUtf8 { packet: PacketType },
    /// A string field contains U+0000.
    NulInString { packet: PacketType },
    /// A packet identifier of 0, which MQTT forbids.
    ZeroPacketId { packet: PacketType },
    /// The PUBLISH (or will) topic is not a valid topic name.
    InvalidTopicName(TopicError),
    /// A SUBSCRIBE/UNSUBSCRIBE topic filter is not valid.
    InvalidTopicFilter(TopicError),
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    NoTopicFilters { packet: PacketType },
    /// A SUBSCRIBE options byte with reserved bits set or QoS above 2.
    InvalidRequestedQoS(u8),
    /// A SUBACK return code other than 0, 1, 2 or 0x80.
    InvalidSubAckCode(u8),
    /// SUBACK without any return code.
    NoSubAckCodes,
    /// CONNACK acknowledge flags with reserved bits set.
    InvalidConnAckFlags(u8),
    /// CONNACK with session present set although the connection is refused.
    SessionPresentWithError,
    /// CONNACK return code above 5 (reserved).
    InvalidConnAckCode(u8),
    /// CONNECT whose protocol name is not "MQTT".
    InvalidProtocolName,
    /// CONNECT with a protocol level other than 4 (MQTT 3.1.1).
    UnsupportedProtocolLevel(u8),
    /// CONNECT flags that contradict each other or set the reserved bit.
    InvalidConnectFlags(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Incomplete { needed } => {
                write!(f, "incomplete packet: at least {needed} bytes are needed")
            }
            DecodeError::ReservedPacketType(t) => {
                write!(f, "packet type {t} is reserved in MQTT 3.1.1")
            }
            DecodeError::InvalidFixedHeaderFlags { packet, flags } => {
                write!(f, "{packet} carries invalid fixed-header flags 0x{flags:X}")
            }
            DecodeError::RemainingLengthTooLong => {
                f.write_str("the remaining length field is longer than 4 bytes")
            }
            DecodeError::InvalidQoS => f.write_str("PUBLISH with QoS 3, which does not exist"),
            DecodeError::DupOnQoS0 => f.write_str("PUBLISH with the DUP flag set at QoS 0"),
            DecodeError::WrongRemainingLength {
                packet,
                expected,
                actual,
            } => write!(
                f,
                "{packet} must have remaining length {expected} but has {actual}"
            ),
            DecodeError::Truncated { packet } => {
                write!(f, "{packet} is truncated: a field runs past its end")
            }
            DecodeError::TrailingBytes { packet } => {
                write!(f, "{packet} has unexpected bytes after its last field")
            }
            DecodeError::InvalidUtf8 { packet } => {
                write!(f, "{packet} contains a string that is not valid UTF-8")
            }
            DecodeError::NulInString { packet } => {
                write!(f, "{packet} contains a string with a NUL character")
            }
            DecodeError::ZeroPacketId { packet } => {
                write!(f, "{packet} has packet identifier 0, which is not allowed")
            }
            DecodeError::InvalidTopicName(e) => write!(f, "invalid topic name: {e}"),
            DecodeError::InvalidTopicFilter(e) => write!(f, "invalid topic filter: {e}"),
            DecodeError::NoTopicFilters { packet } => {
                write!(f, "{packet} carries no topic filter")
            }
            DecodeError::InvalidRequestedQoS(b) => {
                write!(f, "SUBSCRIBE requests invalid QoS byte 0x{b:02X}")
            }
            DecodeError::InvalidSubAckCode(c) => {
                write!(f, "SUBACK return code 0x{c:02X} is not 0, 1, 2 or 0x80")
            }
            DecodeError::NoSubAckCodes => f.write_str("SUBACK carries no return code"),
            DecodeError::InvalidConnAckFlags(b) => {
                write!(f, "CONNACK acknowledge flags 0x{b:02X} set reserved bits")
            }
            DecodeError::SessionPresentWithError => {
                f.write_str("CONNACK refuses the connection but claims a session is present")
            }
            DecodeError::InvalidConnAckCode(c) => {
                write!(f, "CONNACK return code {c} is reserved")
            }
            DecodeError::InvalidProtocolName => {
                f.write_str("CONNECT protocol name is not \"MQTT\"")
            }
            DecodeError::UnsupportedProtocolLevel(l) => {
                write!(f, "CONNECT protocol level {l} is not 4 (MQTT 3.1.1)")
            }
            DecodeError::InvalidConnectFlags(b) => {
                write!(f, "CONNECT flags 0x{b:02X} are inconsistent")
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The packet needs `needed` bytes but the buffer has `available`.
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
    /// The packet's remaining length exceeds 268,435,455 bytes.
    PacketTooLarge {
        remaining: usize,
    },
    /// A string or binary field is longer than 65,535 bytes.
    FieldTooLong {
        field: &'static str,
    },
    /// A string field contains U+0000.
    NulInString {
        field: &'static str,
    },
    InvalidTopicName(TopicError),
    InvalidTopicFilter(TopicError),
    ZeroPacketId,
    /// QoS outside 0..=2.
    InvalidQoS(u8),
    DupOnQoS0,
    NoTopicFilters,
    InvalidSubAckCode(u8),
    NoSubAckCodes,
    InvalidConnAckCode(u8),
    /// MQTT 3.1.1 allows a password only together with a user name.
    PasswordWithoutUsername,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::BufferTooSmall { needed, available } => write!(
                f,
                "the packet needs {needed} bytes but the buffer holds only {available}"
            ),
            EncodeError::PacketTooLarge { remaining } => write!(
                f,
                "the packet body of {remaining} bytes exceeds MQTT's limit of {MAX_REMAINING_LENGTH}"
            ),
            EncodeError::FieldTooLong { field } => {
                write!(f, "the {field} is longer than 65535 bytes")
            }
            EncodeError::NulInString { field } => {
                write!(f, "the {field} contains a NUL character")
            }
            EncodeError::InvalidTopicName(e) => write!(f, "invalid topic name: {e}"),
            EncodeError::InvalidTopicFilter(e) => write!(f, "invalid topic filter: {e}"),
            EncodeError::ZeroPacketId => f.write_str("packet identifier 0 is not allowed"),
            EncodeError::InvalidQoS(q) => write!(f, "QoS {q} does not exist"),
            EncodeError::DupOnQoS0 => f.write_str("DUP must not be set on a QoS 0 PUBLISH"),
            EncodeError::NoTopicFilters => f.write_str("at least one topic filter is needed"),
            EncodeError::InvalidSubAckCode(c) => write!(f, "invalid SUBACK code 0x{c:02X}"),
            EncodeError::NoSubAckCodes => f.write_str("SUBACK needs at least one return code"),
            EncodeError::InvalidConnAckCode(c) => write!(f, "invalid CONNACK code {c}"),
            EncodeError::PasswordWithoutUsername => {
                f.write_str("MQTT 3.1.1 allows a password only together with a user name")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// CONNECT's last will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub message: &'a [u8],
    pub qos: u8,
    pub retain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    /// Seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    pub clean_session: bool,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub will: Option<Will<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// 0 accepted; 1..=5 the refusal reasons of MQTT 3.1.1 section 3.2.2.3.
    pub return_code: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
    /// 0 at QoS 0 (where the packet carries none).
    pub packet_id: u16,
}

/// SUBSCRIBE's (filter, requested QoS) list: either still in wire form (as
/// decoded, validated) or given by the caller (to encode).
#[derive(Debug, Clone, Copy)]
pub enum SubscribeFilters<'a> {
    Encoded(&'a [u8]),
    List(&'a [(&'a str, u8)]),
}

impl<'a> SubscribeFilters<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, u8)> + 'a {
        let (encoded, list): (&'a [u8], &'a [(&'a str, u8)]) = match *self {
            SubscribeFilters::Encoded(bytes) => (bytes, &[]),
            SubscribeFilters::List(list) => (&[], list),
        };
        let mut rest = encoded;
        core::iter::from_fn(move || {
            let (filter, after) = split_prefixed_str(rest)?;
            let (&options, after) = after.split_first()?;
            rest = after;
            Some((filter, options))
        })
        .chain(list.iter().copied())
    }
}

impl PartialEq for SubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SubscribeFilters<'_> {}

/// UNSUBSCRIBE's filter list, in wire form or given by the caller.
#[derive(Debug, Clone, Copy)]
pub enum UnsubscribeFilters<'a> {
    Encoded(&'a [u8]),
    List(&'a [&'a str]),
}

impl<'a> UnsubscribeFilters<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (encoded, list): (&'a [u8], &'a [&'a str]) = match *self {
            UnsubscribeFilters::Encoded(bytes) => (bytes, &[]),
            UnsubscribeFilters::List(list) => (&[], list),
        };
        let mut rest = encoded;
        core::iter::from_fn(move || {
            let (filter, after) = split_prefixed_str(rest)?;
            rest = after;
            Some(filter)
        })
        .chain(list.iter().copied())
    }
}

impl PartialEq for UnsubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnsubscribeFilters<'_> {}

/// Splits a 16-bit-length-prefixed string off `bytes` (already validated).
fn split_prefixed_str(bytes: &[u8]) -> Option<(&str, &[u8])> {
    if bytes.len() < 2 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    let body = bytes.get(2..2 + len)?;
    Some((str::from_utf8(body).ok()?, &bytes[2 + len..]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    pub packet_id: u16,
    pub filters: SubscribeFilters<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    pub packet_id: u16,
    /// One per requested filter: granted QoS 0..=2, or [`SUBACK_FAILURE`].
    pub return_codes: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    pub packet_id: u16,
    pub filters: UnsubscribeFilters<'a>,
}

/// One MQTT 3.1.1 control packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Connect(Connect<'a>),
    ConnAck(ConnAck),
    Publish(Publish<'a>),
    PubAck { packet_id: u16 },
    PubRec { packet_id: u16 },
    PubRel { packet_id: u16 },
    PubComp { packet_id: u16 },
    Subscribe(Subscribe<'a>),
    SubAck(SubAck<'a>),
    Unsubscribe(Unsubscribe<'a>),
    UnsubAck { packet_id: u16 },
    PingReq,
    PingResp,
    Disconnect,
}

impl Packet<'_> {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck { .. } => PacketType::PubAck,
            Packet::PubRec { .. } => PacketType::PubRec,
            Packet::PubRel { .. } => PacketType::PubRel,
            Packet::PubComp { .. } => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck { .. } => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }
}

/// How far a buffer holds the next packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The fixed header is not complete yet; read at least up to `needed`
    /// bytes in total before asking again.
    Incomplete { needed: usize },
    /// The fixed header is complete: the packet spans `total_len` bytes, of
    /// which the first `header_len` are the fixed header. The buffer may hold
    /// fewer than `total_len` bytes so far.
    Complete { header_len: usize, total_len: usize },
}

/// Reads the fixed header at the start of `buf` and tells how long the packet
/// is. Rejects reserved packet types, wrong header flags and over-long length
/// fields as soon as those bytes are present.
pub fn frame(buf: &[u8]) -> Result<Framing, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(Framing::Incomplete { needed: 2 });
    };
    let packet =
        PacketType::from_nibble(first >> 4).ok_or(DecodeError::ReservedPacketType(first >> 4))?;
    let flags = first & 0x0F;
    match packet.required_flags() {
        Some(required) if flags != required => {
            return Err(DecodeError::InvalidFixedHeaderFlags { packet, flags });
        }
        None if (flags >> 1) & 0b11 == 0b11 => return Err(DecodeError::InvalidQoS),
        None if flags & 0b1000 != 0 && (flags >> 1) & 0b11 == 0 => {
            return Err(DecodeError::DupOnQoS0)
        }
        _ => {}
    }
    let mut remaining = 0usize;
    for index in 0..4 {
        let Some(&byte) = buf.get(1 + index) else {
            return Ok(Framing::Incomplete { needed: 2 + index });
        };
        remaining |= usize::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            let header_len = 2 + index;
            return Ok(Framing::Complete {
                header_len,
                total_len: header_len + remaining,
            });
        }
    }
    Err(DecodeError::RemainingLengthTooLong)
}

/// Reads fields off a packet body, naming the packet in its errors.
struct Fields<'a> {
    rest: &'a [u8],
    packet: PacketType,
}

impl<'a> Fields<'a> {
    fn truncated(&self) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self.rest.split_first().ok_or_else(|| self.truncated())?;
        self.rest = rest;
        Ok(byte)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        if self.rest.len() < 2 {
            return Err(self.truncated());
        }
        let value = u16::from_be_bytes([self.rest[0], self.rest[1]]);
        self.rest = &self.rest[2..];
        Ok(value)
    }

    fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16()? {
            0 => Err(DecodeError::ZeroPacketId {
                packet: self.packet,
            }),
            id => Ok(id),
        }
    }

    fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16()?);
        if self.rest.len() < len {
            return Err(self.truncated());
        }
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(field)
    }

    fn string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        let text = str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 {
            packet: self.packet,
        })?;
        if bytes.contains(&0) {
            return Err(DecodeError::NulInString {
                packet: self.packet,
            });
        }
        Ok(text)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet: self.packet,
            })
        }
    }
}

/// Decodes the packet at the start of `buf`, returning it and the number of
/// bytes it occupied. The packet borrows from `buf`.
pub fn decode(buf: &[u8]) -> Result<(Packet<'_>, usize), DecodeError> {
    let (header_len, total_len) = match frame(buf)? {
        Framing::Incomplete { needed } => return Err(DecodeError::Incomplete { needed }),
        Framing::Complete {
            header_len,
            total_len,
        } => (header_len, total_len),
    };
    if buf.len() < total_len {
        return Err(DecodeError::Incomplete { needed: total_len });
    }
    let packet_type =
        PacketType::from_nibble(buf[0] >> 4).ok_or(DecodeError::ReservedPacketType(buf[0] >> 4))?;
    let flags = buf[0] & 0x0F;
    let body = &buf[header_len..total_len];
    let packet = decode_body(packet_type, flags, body)?;
    Ok((packet, total_len))
}

fn expect_len(packet: PacketType, body: &[u8], expected: usize) -> Result<(), DecodeError> {
    if body.len() == expected {
        Ok(())
    } else {
        Err(DecodeError::WrongRemainingLength {
            packet,
            expected,
            actual: body.len(),
        })
    }
}

fn decode_body(packet: PacketType, flags: u8, body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut fields = Fields { rest: body, packet };
    let decoded = match packet {
        PacketType::Connect => Packet::Connect(decode_connect(&mut fields)?),
        PacketType::ConnAck => {
            expect_len(packet, body, 2)?;
            let ack_flags = fields.u8()?;
            let return_code = fields.u8()?;
            if ack_flags & !1 != 0 {
                return Err(DecodeError::InvalidConnAckFlags(ack_flags));
            }
            if return_code > 5 {
                return Err(DecodeError::InvalidConnAckCode(return_code));
            }
            let session_present = ack_flags & 1 == 1;
            if session_present && return_code != 0 {
                return Err(DecodeError::SessionPresentWithError);
            }
            Packet::ConnAck(ConnAck {
                session_present,
                return_code,
            })
        }
        PacketType::Publish => {
            let qos = (flags >> 1) & 0b11;
            let topic = fields.string().map_err(|e| match e {
                DecodeError::NulInString { .. } => {
                    DecodeError::InvalidTopicName(TopicError::ContainsNul)
                }
                other => other,
            })?;
            topic::validate_topic_name(topic).map_err(DecodeError::InvalidTopicName)?;
            let packet_id = if qos > 0 { fields.packet_id()? } else { 0 };
            Packet::Publish(Publish {
                topic,
                payload: fields.rest,
                qos,
                dup: flags & 0b1000 != 0,
                retain: flags & 1 != 0,
                packet_id,
            })
        }
        PacketType::PubAck
        | PacketType::PubRec
        | PacketType::PubRel
        | PacketType::PubComp
        | PacketType::UnsubAck => {
            expect_len(packet, body, 2)?;
            let packet_id = fields.packet_id()?;
            match packet {
                PacketType::PubAck => Packet::PubAck { packet_id },
                PacketType::PubRec => Packet::PubRec { packet_id },
                PacketType::PubRel => Packet::PubRel { packet_id },
                PacketType::PubComp => Packet::PubComp { packet_id },
                _ => Packet::UnsubAck { packet_id },
            }
        }
        PacketType::Subscribe => {
            let packet_id = fields.packet_id()?;
            let encoded = fields.rest;
            if encoded.is_empty() {
                return Err(DecodeError::NoTopicFilters { packet });
            }
            while !fields.rest.is_empty() {
                let filter = topic_filter_field(&mut fields)?;
                topic::validate_topic_filter(filter).map_err(DecodeError::InvalidTopicFilter)?;
                let options = fields.u8()?;
                if options > 2 {
                    return Err(DecodeError::InvalidRequestedQoS(options));
                }
            }
            Packet::Subscribe(Subscribe {
                packet_id,
                filters: SubscribeFilters::Encoded(encoded),
            })
        }
        PacketType::SubAck => {
            let packet_id = fields.packet_id()?;
            let return_codes = fields.rest;
            if return_codes.is_empty() {
                return Err(DecodeError::NoSubAckCodes);
            }
            if let Some(&bad) = return_codes.iter().find(|&&c| c > 2 && c != SUBACK_FAILURE) {
                return Err(DecodeError::InvalidSubAckCode(bad));
            }
            Packet::SubAck(SubAck {
                packet_id,
                return_codes,
            })
        }
        PacketType::Unsubscribe => {
            let packet_id = fields.packet_id()?;
            let encoded = fields.rest;
            if encoded.is_empty() {
                return Err(DecodeError::NoTopicFilters { packet });
            }
            while !fields.rest.is_empty() {
                let filter = topic_filter_field(&mut fields)?;
                topic::validate_topic_filter(filter).map_err(DecodeError::InvalidTopicFilter)?;
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters: UnsubscribeFilters::Encoded(encoded),
            })
        }
        PacketType::PingReq | PacketType::PingResp | PacketType::Disconnect => {
            expect_len(packet, body, 0)?;
            match packet {
                PacketType::PingReq => Packet::PingReq,
                PacketType::PingResp => Packet::PingResp,
                _ => Packet::Disconnect,
            }
        }
    };
    // Only CONNECT can end before its remaining length: the other variable
    // packets take everything left as payload or filter list.
    if matches!(decoded, Packet::Connect(_)) {
        fields.finish()?;
    }
    Ok(decoded)
}

fn topic_filter_field<'a>(fields: &mut Fields<'a>) -> Result<&'a str, DecodeError> {
    fields.string().map_err(|e| match e {
        DecodeError::NulInString { .. } => DecodeError::InvalidTopicFilter(TopicError::ContainsNul),
        other => other,
    })
}

fn decode_connect<'a>(fields: &mut Fields<'a>) -> Result<Connect<'a>, DecodeError> {
    let name = fields.binary()?;
    if name != b"MQTT" {
        return Err(DecodeError::InvalidProtocolName);
    }
    let level = fields.u8()?;
    if level != 4 {
        return Err(DecodeError::UnsupportedProtocolLevel(level));
    }
    let flags = fields.u8()?;
    let has_will = flags & 0b0000_0100 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0b0010_0000 != 0;
    let has_password = flags & 0b0100_0000 != 0;
    let has_username = flags & 0b1000_0000 != 0;
    let reserved = flags & 1 != 0;
    let bad_will = if has_will {
        will_qos == 3
    } else {
        will_qos != 0 || will_retain
    };
    if reserved || bad_will || (has_password && !has_username) {
        return Err(DecodeError::InvalidConnectFlags(flags));
    }
    let keep_alive = fields.u16()?;
    let client_id = fields.string()?;
    let will = if has_will {
        let topic = fields.string().map_err(|e| match e {
            DecodeError::NulInString { .. } => {
                DecodeError::InvalidTopicName(TopicError::ContainsNul)
            }
            other => other,
        })?;
        topic::validate_topic_name(topic).map_err(DecodeError::InvalidTopicName)?;
        let message = fields.binary()?;
        Some(Will {
            topic,
            message,
            qos: will_qos,
            retain: will_retain,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(fields.string()?)
    } else {
        None
    };
    let password = if has_password {
        Some(fields.binary()?)
    } else {
        None
    };
    Ok(Connect {
        client_id,
        keep_alive,
        clean_session: flags & 0b10 != 0,
        username,
        password,
        will,
    })
}

/// Bytes the remaining-length field takes for `remaining`.
fn remaining_length_len(remaining: usize) -> usize {
    match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

fn field_len(len: usize, field: &'static str) -> Result<usize, EncodeError> {
    if len > MAX_FIELD_LEN {
        Err(EncodeError::FieldTooLong { field })
    } else {
        Ok(2 + len)
    }
}

fn string_len(text: &str, field: &'static str) -> Result<usize, EncodeError> {
    if text.as_bytes().contains(&0) {
        return Err(EncodeError::NulInString { field });
    }
    field_len(text.len(), field)
}

fn check_packet_id(packet_id: u16) -> Result<(), EncodeError> {
    if packet_id == 0 {
        Err(EncodeError::ZeroPacketId)
    } else {
        Ok(())
    }
}

/// The byte one and remaining length of `packet`, after checking every field.
fn header_and_remaining(packet: &Packet<'_>) -> Result<(u8, usize), EncodeError> {
    let kind = (packet.packet_type() as u8) << 4;
    Ok(match packet {
        Packet::Connect(c) => {
            let mut len = 6 + 1 + 1 + 2 + string_len(c.client_id, "client id")?;
            if let Some(will) = &c.will {
                topic::validate_topic_name(will.topic).map_err(EncodeError::InvalidTopicName)?;
                if will.qos > 2 {
                    return Err(EncodeError::InvalidQoS(will.qos));
                }
                len += string_len(will.topic, "will topic")?;
                len += field_len(will.message.len(), "will message")?;
            }
            if let Some(username) = c.username {
                len += string_len(username, "user name")?;
            }
            if let Some(password) = c.password {
                if c.username.is_none() {
                    return Err(EncodeError::PasswordWithoutUsername);
                }
                len += field_len(password.len(), "password")?;
            }
            (kind, len)
        }
        Packet::ConnAck(ack) => {
            if ack.return_code > 5 {
                return Err(EncodeError::InvalidConnAckCode(ack.return_code));
            }
            (kind, 2)
        }
        Packet::Publish(p) => {
            topic::validate_topic_name(p.topic).map_err(EncodeError::InvalidTopicName)?;
            if p.qos > 2 {
                return Err(EncodeError::InvalidQoS(p.qos));
            }
            if p.dup && p.qos == 0 {
                return Err(EncodeError::DupOnQoS0);
            }
            let mut len = 2 + p.topic.len() + p.payload.len();
            if p.qos > 0 {
                check_packet_id(p.packet_id)?;
                len += 2;
            }
            let flags = (u8::from(p.dup) << 3) | (p.qos << 1) | u8::from(p.retain);
            (kind | flags, len)
        }
        Packet::PubAck { packet_id }
        | Packet::PubRec { packet_id }
        | Packet::PubComp { packet_id }
        | Packet::UnsubAck { packet_id } => {
            check_packet_id(*packet_id)?;
            (kind, 2)
        }
        Packet::PubRel { packet_id } => {
            check_packet_id(*packet_id)?;
            (kind | 0b0010, 2)
        }
        Packet::Subscribe(s) => {
            check_packet_id(s.packet_id)?;
            let mut len = 2;
            let mut count = 0;
            for (filter, qos) in s.filters.iter() {
                topic::validate_topic_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
                if qos > 2 {
                    return Err(EncodeError::InvalidQoS(qos));
                }
                len += 2 + filter.len() + 1;
                count += 1;
            }
            if count == 0 {
                return Err(EncodeError::NoTopicFilters);
            }
            (kind | 0b0010, len)
        }
        Packet::SubAck(ack) => {
            check_packet_id(ack.packet_id)?;
            if ack.return_codes.is_empty() {
                return Err(EncodeError::NoSubAckCodes);
            }
            if let Some(&bad) = ack
                .return_codes
                .iter()
                .find(|&&c| c > 2 && c != SUBACK_FAILURE)
            {
                return Err(EncodeError::InvalidSubAckCode(bad));
            }
            (kind, 2 + ack.return_codes.len())
        }
        Packet::Unsubscribe(u) => {
            check_packet_id(u.packet_id)?;
            let mut len = 2;
            let mut count = 0;
            for filter in u.filters.iter() {
                topic::validate_topic_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
                len += 2 + filter.len();
                count += 1;
            }
            if count == 0 {
                return Err(EncodeError::NoTopicFilters);
            }
            (kind | 0b0010, len)
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => (kind, 0),
    })
}

/// The number of bytes `packet` encodes to, after validating it.
pub fn encoded_len(packet: &Packet<'_>) -> Result<usize, EncodeError> {
    let (_, remaining) = header_and_remaining(packet)?;
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge { remaining });
    }
    Ok(1 + remaining_length_len(remaining) + remaining)
}

/// Writes into a slice already known to be large enough.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn u8(&mut self, byte: u8) {
        self.buf[self.pos] = byte;
        self.pos += 1;
    }

    fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// A field whose length was checked against [`MAX_FIELD_LEN`] already.
    fn prefixed(&mut self, bytes: &[u8]) {
        self.u16(bytes.len() as u16);
        self.bytes(bytes);
    }

    fn remaining_length(&mut self, mut remaining: usize) {
        loop {
            let mut byte = (remaining & 0x7F) as u8;
            remaining >>= 7;
            if remaining > 0 {
                byte |= 0x80;
            }
            self.u8(byte);
            if remaining == 0 {
                break;
            }
        }
    }
}

/// Encodes `packet` at the start of `buf` and returns the byte count.
/// Nothing is written when the packet is invalid or does not fit.
pub fn encode(packet: &Packet<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let (first, remaining) = header_and_remaining(packet)?;
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge { remaining });
    }
    let total = 1 + remaining_length_len(remaining) + remaining;
    if total > buf.len() {
        return Err(EncodeError::BufferTooSmall {
            needed: total,
            available: buf.len(),
        });
    }
    let mut w = Writer { buf, pos: 0 };
    w.u8(first);
    w.remaining_length(remaining);
    match packet {
        Packet::Connect(c) => {
            w.prefixed(b"MQTT");
            w.u8(4);
            let mut flags = u8::from(c.clean_session) << 1;
            if let Some(will) = &c.will {
                flags |= 0b100 | (will.qos << 3) | (u8::from(will.retain) << 5);
            }
            if c.password.is_some() {
                flags |= 0b0100_0000;
            }
            if c.username.is_some() {
                flags |= 0b1000_0000;
            }
            w.u8(flags);
            w.u16(c.keep_alive);
            w.prefixed(c.client_id.as_bytes());
            if let Some(will) = &c.will {
                w.prefixed(will.topic.as_bytes());
                w.prefixed(will.message);
            }
            if let Some(username) = c.username {
                w.prefixed(username.as_bytes());
            }
            if let Some(password) = c.password {
                w.prefixed(password);
            }
        }
        Packet::ConnAck(ack) => {
            w.u8(u8::from(ack.session_present));
            w.u8(ack.return_code);
        }
        Packet::Publish(p) => {
            w.prefixed(p.topic.as_bytes());
            if p.qos > 0 {
                w.u16(p.packet_id);
            }
            w.bytes(p.payload);
        }
        Packet::PubAck { packet_id }
        | Packet::PubRec { packet_id }
        | Packet::PubRel { packet_id }
        | Packet::PubComp { packet_id }
        | Packet::UnsubAck { packet_id } => w.u16(*packet_id),
        Packet::Subscribe(s) => {
            w.u16(s.packet_id);
            for (filter, qos) in s.filters.iter() {
                w.prefixed(filter.as_bytes());
                w.u8(qos);
            }
        }
        Packet::SubAck(ack) => {
            w.u16(ack.packet_id);
            w.bytes(ack.return_codes);
        }
        Packet::Unsubscribe(u) => {
            w.u16(u.packet_id);
            for filter in u.filters.iter() {
                w.prefixed(filter.as_bytes());
            }
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    debug_assert_eq!(w.pos, total);
    Ok(total)
}

/// The fixed-header DUP bit of a PUBLISH, set in byte one to mark a resend.
pub const PUBLISH_DUP_FLAG: u8 = 0b1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(packet: Packet<'_>) {
        let mut buf = [0u8; 512];
        let n = encode(&packet, &mut buf).expect("encodes");
        assert_eq!(encoded_len(&packet), Ok(n));
        let (decoded, used) = decode(&buf[..n]).expect("decodes");
        assert_eq!(used, n);
        assert_eq!(decoded, packet);
        // Every strict prefix is incomplete, never an error or a panic.
        for cut in 0..n {
            match decode(&buf[..cut]) {
                Err(DecodeError::Incomplete { needed }) => assert!(needed > cut),
                other => panic!("prefix {cut} of {packet:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_packet_round_trips() {
        roundtrip(Packet::Connect(Connect {
            client_id: "dev1",
            keep_alive: 60,
            clean_session: true,
            username: Some("u"),
            password: Some(b"p\0w"),
            will: Some(Will {
                topic: "last/will",
                message: b"bye",
                qos: 1,
                retain: true,
            }),
        }));
        roundtrip(Packet::Connect(Connect {
            client_id: "",
            keep_alive: 0,
            clean_session: false,
            username: None,
            password: None,
            will: None,
        }));
        roundtrip(Packet::ConnAck(ConnAck {
            session_present: true,
            return_code: 0,
        }));
        roundtrip(Packet::Publish(Publish {
            topic: "a/b",
            payload: b"hello",
            qos: 1,
            dup: true,
            retain: true,
            packet_id: 7,
        }));
        roundtrip(Packet::Publish(Publish {
            topic: "a",
            payload: b"",
            qos: 0,
            dup: false,
            retain: false,
            packet_id: 0,
        }));
        roundtrip(Packet::PubAck { packet_id: 1 });
        roundtrip(Packet::PubRec { packet_id: 2 });
        roundtrip(Packet::PubRel { packet_id: 3 });
        roundtrip(Packet::PubComp { packet_id: 65535 });
        roundtrip(Packet::Subscribe(Subscribe {
            packet_id: 9,
            filters: SubscribeFilters::List(&[("a/+", 1), ("#", 0)]),
        }));
        roundtrip(Packet::SubAck(SubAck {
            packet_id: 9,
            return_codes: &[0, 1, 2, 0x80],
        }));
        roundtrip(Packet::Unsubscribe(Unsubscribe {
            packet_id: 10,
            filters: UnsubscribeFilters::List(&["a/+", "b"]),
        }));
        roundtrip(Packet::UnsubAck { packet_id: 10 });
        roundtrip(Packet::PingReq);
        roundtrip(Packet::PingResp);
        roundtrip(Packet::Disconnect);
    }

    #[test]
    fn known_bytes() {
        let mut buf = [0u8; 64];
        let n = encode(&Packet::PingReq, &mut buf).unwrap();
        assert_eq!(&buf[..n], &[0xC0, 0x00]);
        let n = encode(
            &Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: SubscribeFilters::List(&[("a", 1)]),
            }),
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..n], &[0x82, 6, 0, 1, 0, 1, b'a', 1]);
        let n = encode(
            &Packet::Publish(Publish {
                topic: "t",
                payload: b"x",
                qos: 1,
                dup: false,
                retain: true,
                packet_id: 0x0102,
            }),
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..n], &[0x33, 6, 0, 1, b't', 1, 2, b'x']);
    }

    #[test]
    fn remaining_length_boundaries() {
        let payload = vec![0u8; 20_000];
        let mut buf = vec![0u8; 20_100];
        for body in [127usize, 128, 16_383, 16_384] {
            // topic "t" takes 3 bytes of the body at QoS 0.
            let p = Packet::Publish(Publish {
                topic: "t",
                payload: &payload[..body - 3],
                qos: 0,
                dup: false,
                retain: false,
                packet_id: 0,
            });
            let n = encode(&p, &mut buf).unwrap();
            assert_eq!(n, 1 + remaining_length_len(body) + body);
            assert_eq!(decode(&buf[..n]).unwrap().0, p);
        }
        // Longest possible remaining length header is accepted by framing.
        assert_eq!(
            frame(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
            Ok(Framing::Complete {
                header_len: 5,
                total_len: 5 + MAX_REMAINING_LENGTH
            })
        );
    }

    #[test]
    fn framing_partial_headers() {
        assert_eq!(frame(&[]), Ok(Framing::Incomplete { needed: 2 }));
        assert_eq!(frame(&[0x30]), Ok(Framing::Incomplete { needed: 2 }));
        assert_eq!(frame(&[0x30, 0x80]), Ok(Framing::Incomplete { needed: 3 }));
        assert_eq!(
            frame(&[0x30, 0x80, 0x01]),
            Ok(Framing::Complete {
                header_len: 3,
                total_len: 131
            })
        );
    }

    fn err(bytes: &[u8]) -> DecodeError {
        decode(bytes).expect_err("must be rejected")
    }

    #[test]
    fn every_decode_error() {
        use DecodeError as E;
        use PacketType as P;
        assert_eq!(err(&[0x00, 0]), E::ReservedPacketType(0));
        assert_eq!(err(&[0xF0, 0]), E::ReservedPacketType(15));
        assert_eq!(
            err(&[0xC1, 0]),
            E::InvalidFixedHeaderFlags {
                packet: P::PingReq,
                flags: 1
            }
        );
        assert_eq!(
            err(&[0x80, 0]),
            E::InvalidFixedHeaderFlags {
                packet: P::Subscribe,
                flags: 0
            }
        );
        assert_eq!(
            err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
            E::RemainingLengthTooLong
        );
        assert_eq!(err(&[0x36, 3, 0, 1, b't']), E::InvalidQoS);
        assert_eq!(err(&[0x38, 3, 0, 1, b't']), E::DupOnQoS0);
        assert_eq!(
            err(&[0x40, 3, 0, 1, 0]),
            E::WrongRemainingLength {
                packet: P::PubAck,
                expected: 2,
                actual: 3
            }
        );
        assert_eq!(
            err(&[0xD0, 1, 0]),
            E::WrongRemainingLength {
                packet: P::PingResp,
                expected: 0,
                actual: 1
            }
        );
        assert_eq!(
            err(&[0x30, 3, 0, 5, b't']),
            E::Truncated { packet: P::Publish }
        );
        assert_eq!(
            err(&[0x32, 3, 0, 1, b't']),
            E::Truncated { packet: P::Publish }
        );
        assert_eq!(err(&[0xB0, 2, 0]), E::Incomplete { needed: 4 });
        assert_eq!(
            err(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0, 0xAA]),
            E::TrailingBytes { packet: P::Connect }
        );
        assert_eq!(
            err(&[0x82, 7, 0, 1, 0, 1, b'a', 1, 9]),
            E::Truncated {
                packet: P::Subscribe
            }
        );
        assert_eq!(
            err(&[0x30, 4, 0, 2, 0xC3, 0x28]),
            E::InvalidUtf8 { packet: P::Publish }
        );
        assert_eq!(
            err(&[0x30, 3, 0, 1, 0]),
            E::InvalidTopicName(TopicError::ContainsNul)
        );
        assert_eq!(
            err(&[0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 2, b'a', 0]),
            E::NulInString { packet: P::Connect }
        );
        assert_eq!(err(&[0x40, 2, 0, 0]), E::ZeroPacketId { packet: P::PubAck });
        assert_eq!(
            err(&[0x32, 5, 0, 1, b't', 0, 0]),
            E::ZeroPacketId { packet: P::Publish }
        );
        assert_eq!(
            err(&[0x30, 2, 0, 0]),
            E::InvalidTopicName(TopicError::Empty)
        );
        assert_eq!(
            err(&[0x30, 3, 0, 1, b'+']),
            E::InvalidTopicName(TopicError::WildcardInName)
        );
        assert_eq!(err(&[0x82, 6, 0, 1]), E::Incomplete { needed: 8 });
        assert_eq!(
            err(&[0x82, 7, 0, 1, 0, 2, b'a', b'#', 0]),
            E::InvalidTopicFilter(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            err(&[0xA2, 5, 0, 1, 0, 1, 0]),
            E::InvalidTopicFilter(TopicError::ContainsNul)
        );
        assert_eq!(
            err(&[0x82, 2, 0, 1]),
            E::NoTopicFilters {
                packet: P::Subscribe
            }
        );
        assert_eq!(
            err(&[0xA2, 2, 0, 1]),
            E::NoTopicFilters {
                packet: P::Unsubscribe
            }
        );
        assert_eq!(
            err(&[0x82, 6, 0, 1, 0, 1, b'a', 3]),
            E::InvalidRequestedQoS(3)
        );
        assert_eq!(
            err(&[0x82, 6, 0, 1, 0, 1, b'a', 0x41]),
            E::InvalidRequestedQoS(0x41)
        );
        assert_eq!(err(&[0x90, 3, 0, 1, 3]), E::InvalidSubAckCode(3));
        assert_eq!(err(&[0x90, 2, 0, 1]), E::NoSubAckCodes);
        assert_eq!(err(&[0x20, 2, 2, 0]), E::InvalidConnAckFlags(2));
        assert_eq!(err(&[0x20, 2, 1, 5]), E::SessionPresentWithError);
        assert_eq!(err(&[0x20, 2, 0, 6]), E::InvalidConnAckCode(6));
        assert_eq!(
            err(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 0]),
            E::InvalidProtocolName
        );
        assert_eq!(
            err(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 3, 2, 0, 60, 0, 0]),
            E::UnsupportedProtocolLevel(3)
        );
        // Reserved bit, password without user name, will QoS without will.
        for flags in [0x01u8, 0x40, 0x08, 0x20, 0x1C] {
            assert_eq!(
                err(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60, 0, 0]),
                E::InvalidConnectFlags(flags)
            );
        }
    }

    #[test]
    fn every_encode_error() {
        use EncodeError as E;
        let mut small = [0u8; 3];
        assert_eq!(
            encode(&Packet::PubAck { packet_id: 1 }, &mut small),
            Err(E::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
        let big = vec![0u8; MAX_REMAINING_LENGTH];
        let mut buf = [0u8; 64];
        assert!(matches!(
            encode(
                &Packet::Publish(Publish {
                    topic: "t",
                    payload: &big,
                    qos: 0,
                    dup: false,
                    retain: false,
                    packet_id: 0
                }),
                &mut buf
            ),
            Err(E::PacketTooLarge { .. })
        ));
        let long = "x".repeat(MAX_FIELD_LEN + 1);
        let connect = |client_id, username, password| {
            Packet::Connect(Connect {
                client_id,
                keep_alive: 0,
                clean_session: true,
                username,
                password,
                will: None,
            })
        };
        assert_eq!(
            encode(&connect(&long, None, None), &mut buf),
            Err(E::FieldTooLong { field: "client id" })
        );
        assert_eq!(
            encode(&connect("a\0", None, None), &mut buf),
            Err(E::NulInString { field: "client id" })
        );
        assert_eq!(
            encode(&connect("a", None, Some(b"pw")), &mut buf),
            Err(E::PasswordWithoutUsername)
        );
        let publish = |topic, qos, dup, packet_id| {
            Packet::Publish(Publish {
                topic,
                payload: b"",
                qos,
                dup,
                retain: false,
                packet_id,
            })
        };
        assert_eq!(
            encode(&publish("a/+", 0, false, 0), &mut buf),
            Err(E::InvalidTopicName(TopicError::WildcardInName))
        );
        assert_eq!(
            encode(&publish("a", 1, false, 0), &mut buf),
            Err(E::ZeroPacketId)
        );
        assert_eq!(
            encode(&publish("a", 3, false, 1), &mut buf),
            Err(E::InvalidQoS(3))
        );
        assert_eq!(
            encode(&publish("a", 0, true, 0), &mut buf),
            Err(E::DupOnQoS0)
        );
        assert_eq!(
            encode(
                &Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    filters: SubscribeFilters::List(&[("a#", 0)])
                }),
                &mut buf
            ),
            Err(E::InvalidTopicFilter(
                TopicError::MisplacedMultiLevelWildcard
            ))
        );
        assert_eq!(
            encode(
                &Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    filters: SubscribeFilters::List(&[])
                }),
                &mut buf
            ),
            Err(E::NoTopicFilters)
        );
        assert_eq!(
            encode(
                &Packet::SubAck(SubAck {
                    packet_id: 1,
                    return_codes: &[7]
                }),
                &mut buf
            ),
            Err(E::InvalidSubAckCode(7))
        );
        assert_eq!(
            encode(
                &Packet::SubAck(SubAck {
                    packet_id: 1,
                    return_codes: &[]
                }),
                &mut buf
            ),
            Err(E::NoSubAckCodes)
        );
        assert_eq!(
            encode(
                &Packet::ConnAck(ConnAck {
                    session_present: false,
                    return_code: 9
                }),
                &mut buf
            ),
            Err(E::InvalidConnAckCode(9))
        );
        // A failed encode leaves the buffer untouched.
        assert_eq!(small, [0u8; 3]);
    }
}
