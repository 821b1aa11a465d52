//! Property and differential tests of the MQTT codec and topic matching:
//! our encoder/decoder against each other and against the independent
//! `mqttbytes` crate, and arbitrary bytes against the decoder.

use bytes::BytesMut;
use mqttbytes::v4 as theirs;
use proptest::prelude::*;

use iotkit::mqtt::codec::{
    self, ConnAck, Connect, DecodeError, Packet, Publish, SubAck, Subscribe, SubscribeFilters,
    Unsubscribe, UnsubscribeFilters, Will,
};
use iotkit::mqtt::topic;

/// A comparable rendering of a packet, the same for both crates.
fn ours(packet: &Packet<'_>) -> String {
    match packet {
        Packet::Connect(c) => format!(
            "CONNECT id={:?} ka={} clean={} will={:?} login={:?}",
            c.client_id,
            c.keep_alive,
            c.clean_session,
            c.will
                .map(|w| (w.topic.to_owned(), w.message.to_vec(), w.qos, w.retain)),
            // mqttbytes reads an empty user name and password as no login.
            c.username
                .map(|u| (
                    u.to_owned(),
                    c.password.map(|p| p.to_vec()).unwrap_or_default()
                ))
                .filter(|(u, p)| !u.is_empty() || !p.is_empty())
        ),
        Packet::ConnAck(a) => format!("CONNACK sp={} rc={}", a.session_present, a.return_code),
        Packet::Publish(p) => format!(
            "PUBLISH {:?} {:?} q={} dup={} retain={} id={}",
            p.topic, p.payload, p.qos, p.dup, p.retain, p.packet_id
        ),
        Packet::PubAck { packet_id } => format!("PUBACK {packet_id}"),
        Packet::PubRec { packet_id } => format!("PUBREC {packet_id}"),
        Packet::PubRel { packet_id } => format!("PUBREL {packet_id}"),
        Packet::PubComp { packet_id } => format!("PUBCOMP {packet_id}"),
        Packet::Subscribe(s) => format!(
            "SUBSCRIBE {} {:?}",
            s.packet_id,
            s.filters.iter().collect::<Vec<_>>()
        ),
        Packet::SubAck(a) => format!("SUBACK {} {:?}", a.packet_id, a.return_codes),
        Packet::Unsubscribe(u) => format!(
            "UNSUBSCRIBE {} {:?}",
            u.packet_id,
            u.filters.iter().collect::<Vec<_>>()
        ),
        Packet::UnsubAck { packet_id } => format!("UNSUBACK {packet_id}"),
        Packet::PingReq => "PINGREQ".into(),
        Packet::PingResp => "PINGRESP".into(),
        Packet::Disconnect => "DISCONNECT".into(),
    }
}

fn theirs_rendered(packet: &theirs::Packet) -> String {
    match packet {
        theirs::Packet::Connect(c) => format!(
            "CONNECT id={:?} ka={} clean={} will={:?} login={:?}",
            c.client_id,
            c.keep_alive,
            c.clean_session,
            c.last_will.as_ref().map(|w| (
                w.topic.clone(),
                w.message.to_vec(),
                w.qos as u8,
                w.retain
            )),
            c.login
                .as_ref()
                .map(|l| (l.username.clone(), l.password.as_bytes().to_vec()))
        ),
        theirs::Packet::ConnAck(a) => {
            format!("CONNACK sp={} rc={}", a.session_present, a.code as u8)
        }
        theirs::Packet::Publish(p) => format!(
            "PUBLISH {:?} {:?} q={} dup={} retain={} id={}",
            p.topic,
            &p.payload[..],
            p.qos as u8,
            p.dup,
            p.retain,
            p.pkid
        ),
        theirs::Packet::PubAck(a) => format!("PUBACK {}", a.pkid),
        theirs::Packet::PubRec(a) => format!("PUBREC {}", a.pkid),
        theirs::Packet::PubRel(a) => format!("PUBREL {}", a.pkid),
        theirs::Packet::PubComp(a) => format!("PUBCOMP {}", a.pkid),
        theirs::Packet::Subscribe(s) => format!(
            "SUBSCRIBE {} {:?}",
            s.pkid,
            s.filters
                .iter()
                .map(|f| (f.path.as_str(), f.qos as u8))
                .collect::<Vec<_>>()
        ),
        theirs::Packet::SubAck(a) => format!(
            "SUBACK {} {:?}",
            a.pkid,
            a.return_codes
                .iter()
                .map(|c| match c {
                    theirs::SubscribeReasonCode::Success(q) => *q as u8,
                    theirs::SubscribeReasonCode::Failure => 0x80,
                })
                .collect::<Vec<_>>()
        ),
        theirs::Packet::Unsubscribe(u) => format!("UNSUBSCRIBE {} {:?}", u.pkid, u.topics),
        theirs::Packet::UnsubAck(a) => format!("UNSUBACK {}", a.pkid),
        theirs::Packet::PingReq => "PINGREQ".into(),
        theirs::Packet::PingResp => "PINGRESP".into(),
        theirs::Packet::Disconnect => "DISCONNECT".into(),
    }
}

fn their_qos(q: u8) -> mqttbytes::QoS {
    mqttbytes::qos(q).unwrap()
}

fn decode_theirs(bytes: &[u8]) -> Result<theirs::Packet, mqttbytes::Error> {
    let mut stream = BytesMut::from(bytes);
    theirs::read(&mut stream, 1 << 20)
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,6}",
        Just("device".to_owned()),
        Just("é€".to_owned()),
    ]
}

/// Never empty, and never starting with a multi-byte character (mqttbytes
/// 0.6 slices the first byte of a topic as a str and panics on those).
fn topic_name() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[a-z0-9_-]{1,6}",
        prop::collection::vec(level(), 0..4),
    )
        .prop_map(|(leading_slash, first, rest)| {
            let mut levels = if leading_slash {
                vec![String::new(), first]
            } else {
                vec![first]
            };
            levels.extend(rest);
            levels.join("/")
        })
}

fn topic_filter() -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => "[a-z0-9_-]{1,6}", 1 => Just("+".to_owned()), 1 => Just(String::new())],
        prop::collection::vec(prop_oneof![3 => level(), 1 => Just("+".to_owned())], 0..4),
        any::<bool>(),
    )
        .prop_map(|(first, rest, hash)| {
            let mut levels = vec![first];
            levels.extend(rest);
            if hash {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_map(|filter| {
            if filter.is_empty() {
                "#".to_owned()
            } else {
                filter
            }
        })
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// An owned description of a packet, from which a borrowed `Packet` is made.
#[derive(Debug, Clone)]
enum Spec {
    Connect {
        client_id: String,
        keep_alive: u16,
        clean: bool,
        login: Option<(String, String)>,
        will: Option<(String, Vec<u8>, u8, bool)>,
    },
    ConnAck(bool, u8),
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        dup: bool,
        retain: bool,
        id: u16,
    },
    Ack(u8, u16),
    Subscribe(u16, Vec<(String, u8)>),
    SubAck(u16, Vec<u8>),
    Unsubscribe(u16, Vec<String>),
    Empty(u8),
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (
            "[a-zA-Z0-9]{0,23}",
            any::<u16>(),
            any::<bool>(),
            prop::option::of(("[a-z]{0,8}", "[a-z0-9]{0,12}")),
            prop::option::of((
                topic_name(),
                prop::collection::vec(any::<u8>(), 0..20),
                0u8..=2,
                any::<bool>()
            )),
        )
            .prop_map(
                |(client_id, keep_alive, clean, login, will)| Spec::Connect {
                    client_id,
                    keep_alive,
                    clean,
                    login,
                    will
                }
            ),
        (0u8..=5, any::<bool>()).prop_map(|(rc, sp)| Spec::ConnAck(sp && rc == 0, rc)),
        (
            topic_name(),
            prop::collection::vec(any::<u8>(), 0..300),
            0u8..=2,
            any::<bool>(),
            any::<bool>(),
            packet_id()
        )
            .prop_map(|(topic, payload, qos, dup, retain, id)| Spec::Publish {
                topic,
                payload,
                qos,
                dup: dup && qos > 0,
                retain,
                id: if qos > 0 { id } else { 0 },
            }),
        (prop::sample::select(vec![4u8, 5, 6, 7, 11]), packet_id())
            .prop_map(|(kind, id)| Spec::Ack(kind, id)),
        (
            packet_id(),
            prop::collection::vec((topic_filter(), 0u8..=2), 1..4)
        )
            .prop_map(|(id, filters)| Spec::Subscribe(id, filters)),
        (
            packet_id(),
            prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0x80]), 1..5)
        )
            .prop_map(|(id, codes)| Spec::SubAck(id, codes)),
        (packet_id(), prop::collection::vec(topic_filter(), 1..4))
            .prop_map(|(id, filters)| Spec::Unsubscribe(id, filters)),
        prop::sample::select(vec![12u8, 13, 14]).prop_map(Spec::Empty),
    ]
}

/// Calls `f` with the borrowed packet `spec` describes.
fn with_packet<R>(spec: &Spec, f: impl FnOnce(&Packet<'_>) -> R) -> R {
    match spec {
        Spec::Connect {
            client_id,
            keep_alive,
            clean,
            login,
            will,
        } => f(&Packet::Connect(Connect {
            client_id,
            keep_alive: *keep_alive,
            clean_session: *clean,
            username: login.as_ref().map(|(u, _)| u.as_str()),
            password: login.as_ref().map(|(_, p)| p.as_bytes()),
            will: will.as_ref().map(|(topic, message, qos, retain)| Will {
                topic,
                message,
                qos: *qos,
                retain: *retain,
            }),
        })),
        Spec::ConnAck(sp, rc) => f(&Packet::ConnAck(ConnAck {
            session_present: *sp,
            return_code: *rc,
        })),
        Spec::Publish {
            topic,
            payload,
            qos,
            dup,
            retain,
            id,
        } => f(&Packet::Publish(Publish {
            topic,
            payload,
            qos: *qos,
            dup: *dup,
            retain: *retain,
            packet_id: *id,
        })),
        Spec::Ack(kind, packet_id) => {
            let packet_id = *packet_id;
            f(&match kind {
                4 => Packet::PubAck { packet_id },
                5 => Packet::PubRec { packet_id },
                6 => Packet::PubRel { packet_id },
                7 => Packet::PubComp { packet_id },
                _ => Packet::UnsubAck { packet_id },
            })
        }
        Spec::Subscribe(id, filters) => {
            let list: Vec<(&str, u8)> = filters.iter().map(|(t, q)| (t.as_str(), *q)).collect();
            f(&Packet::Subscribe(Subscribe {
                packet_id: *id,
                filters: SubscribeFilters::List(&list),
            }))
        }
        Spec::SubAck(id, codes) => f(&Packet::SubAck(SubAck {
            packet_id: *id,
            return_codes: codes,
        })),
        Spec::Unsubscribe(id, filters) => {
            let list: Vec<&str> = filters.iter().map(String::as_str).collect();
            f(&Packet::Unsubscribe(Unsubscribe {
                packet_id: *id,
                filters: UnsubscribeFilters::List(&list),
            }))
        }
        Spec::Empty(kind) => f(&match kind {
            12 => Packet::PingReq,
            13 => Packet::PingResp,
            _ => Packet::Disconnect,
        }),
    }
}

/// The same packet built and written by mqttbytes.
fn write_theirs(spec: &Spec) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    match spec {
        Spec::Publish {
            topic,
            payload,
            qos,
            dup,
            retain,
            id,
        } => {
            let mut p = theirs::Publish::new(topic.as_str(), their_qos(*qos), payload.clone());
            p.dup = *dup;
            p.retain = *retain;
            p.pkid = *id;
            p.write(&mut out).ok()?;
        }
        Spec::Subscribe(id, filters) => {
            let mut s = theirs::Subscribe::new_many(
                filters
                    .iter()
                    .map(|(t, q)| theirs::SubscribeFilter::new(t.clone(), their_qos(*q))),
            );
            s.pkid = *id;
            s.write(&mut out).ok()?;
        }
        Spec::SubAck(id, codes) => {
            let codes = codes
                .iter()
                .map(|&c| theirs::SubscribeReasonCode::try_from(c).unwrap())
                .collect();
            theirs::SubAck::new(*id, codes).write(&mut out).ok()?;
        }
        Spec::Unsubscribe(id, filters) => {
            let mut u = theirs::Unsubscribe::new(filters[0].as_str());
            u.topics = filters.clone();
            u.pkid = *id;
            u.write(&mut out).ok()?;
        }
        Spec::Ack(4, id) => {
            theirs::PubAck::new(*id).write(&mut out).ok()?;
        }
        Spec::Ack(11, id) => {
            theirs::UnsubAck::new(*id).write(&mut out).ok()?;
        }
        _ => return None,
    }
    Some(out.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn encode_decode_round_trip_and_agree_with_mqttbytes(spec in spec()) {
        let mut buf = vec![0u8; 4096];
        let (len, rendered) = with_packet(&spec, |packet| {
            let len = codec::encode(packet, &mut buf).unwrap();
            prop_assert_eq!(codec::encoded_len(packet), Ok(len));
            let (decoded, used) = codec::decode(&buf[..len]).unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(&decoded, packet);
            // One byte short is always incomplete, never an error.
            let short = codec::decode(&buf[..len - 1]);
            prop_assert!(matches!(short, Err(DecodeError::Incomplete { .. })), "{:?}", short);
            // A buffer too small by one byte is refused without writing.
            let mut small = vec![0xEEu8; len - 1];
            prop_assert!(codec::encode(packet, &mut small).is_err());
            prop_assert!(small.iter().all(|&b| b == 0xEE));
            Ok((len, ours(packet)))
        })?;
        // mqttbytes reads what we wrote identically.
        let decoded = decode_theirs(&buf[..len]);
        prop_assert!(decoded.is_ok(), "mqttbytes rejects our {:?}: {:?}", spec, decoded);
        prop_assert_eq!(theirs_rendered(&decoded.unwrap()), rendered.clone());
        // And we read what mqttbytes writes identically.
        if let Some(their_bytes) = write_theirs(&spec) {
            let (packet, used) = codec::decode(&their_bytes).unwrap();
            prop_assert_eq!(used, their_bytes.len());
            prop_assert_eq!(ours(&packet), rendered);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_agree_when_both_accept(
        bytes in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        match codec::decode(&bytes) {
            Ok((packet, used)) => {
                prop_assert!(used <= bytes.len());
                if let Ok(their) = decode_theirs(&bytes[..used]) {
                    prop_assert_eq!(theirs_rendered(&their), ours(&packet));
                }
                // What we accept re-encodes to the same bytes, except for a
                // non-minimal remaining length, which we accept but never write.
                let mut out = vec![0u8; used];
                let n = codec::encode(&packet, &mut out).unwrap();
                if n == used {
                    prop_assert_eq!(&out[..n], &bytes[..used]);
                }
            }
            Err(DecodeError::Incomplete { needed }) => prop_assert!(needed > bytes.len()),
            Err(_) => {}
        }
    }

    #[test]
    fn structured_garbage_never_panics(
        first in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        // A valid header with an arbitrary body reaches the body decoders.
        let mut bytes = vec![first];
        let mut remaining = body.len();
        loop {
            let mut b = (remaining & 0x7F) as u8;
            remaining >>= 7;
            if remaining > 0 { b |= 0x80; }
            bytes.push(b);
            if remaining == 0 { break; }
        }
        bytes.extend_from_slice(&body);
        let _ = codec::frame(&bytes);
        if let Ok((packet, used)) = codec::decode(&bytes) {
            prop_assert_eq!(used, bytes.len());
            if let Ok(their) = decode_theirs(&bytes) {
                prop_assert_eq!(theirs_rendered(&their), ours(&packet));
            }
        }
    }

    #[test]
    fn topic_matching_agrees_with_mqttbytes(filter in topic_filter(), name in topic_name()) {
        prop_assert_eq!(topic::validate_topic_filter(&filter), Ok(()));
        prop_assert_eq!(topic::validate_topic_name(&name), Ok(()));
        prop_assert_eq!(
            topic::matches(&filter, &name),
            mqttbytes::matches(&name, &filter),
            "filter {:?} topic {:?}", filter, name
        );
    }

    #[test]
    fn a_topic_always_matches_itself_and_hash(name in topic_name()) {
        prop_assert!(topic::matches(&name, &name));
        prop_assert!(topic::matches("#", &name));
    }
}
