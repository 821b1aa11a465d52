//! The MQTT session, deterministically: the test is the clock (a number it
//! passes in) and the broker (packets encoded and decoded with the codec,
//! handed over in memory). No sockets, no threads, no sleeps.

use iotkit_core::mqtt::codec::{self, ConnAck, Packet, Publish, SubAck};
use iotkit_core::mqtt::session::{
    Config, DisconnectReason, Event, QoS, Session, SessionError, State, TransportError,
    DEFAULT_INFLIGHT_WINDOW,
};

/// An event with the message copied out, to compare and keep.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Connected(bool),
    Down(DisconnectReason),
    Msg {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        dup: bool,
        id: u16,
    },
    Acked(u16),
    GaveUp(u16, u32),
    SubAcked(u16, Option<QoS>),
    UnsubAcked(u16),
    TimedOut(u16),
    TooLarge(usize, usize),
}

/// A packet the session wrote, decoded into owned parts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Connect {
        client_id: String,
        clean: bool,
        keep_alive: u16,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        dup: bool,
        id: u16,
    },
    PubAck(u16),
    Subscribe(u16, String),
    Unsubscribe(u16, String),
    PingReq,
    Disconnect,
}

struct Harness {
    session: Session,
    now: u64,
}

fn config() -> Config {
    let mut config =
        Config::new("pk.dn|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|");
    config.keep_alive_s = 60;
    config.ping_interval_ms = 30_000;
    config.request_timeout_ms = 2_000;
    config
}

impl Harness {
    fn new(config: Config) -> Harness {
        Harness {
            session: Session::new(config).expect("valid config"),
            now: 1_000,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.session.handle_timeout(self.now);
    }

    /// Everything the session wants written, one packet per call, each a
    /// whole packet.
    fn sent(&mut self) -> Vec<Sent> {
        let mut all = Vec::new();
        while let Some(bytes) = self.session.poll_transmit(self.now) {
            let (packet, used) = codec::decode(bytes).expect("the session writes valid MQTT");
            assert_eq!(used, bytes.len(), "one whole packet per write");
            all.push(match packet {
                Packet::Connect(c) => Sent::Connect {
                    client_id: c.client_id.to_owned(),
                    clean: c.clean_session,
                    keep_alive: c.keep_alive,
                },
                Packet::Publish(p) => Sent::Publish {
                    topic: p.topic.to_owned(),
                    payload: p.payload.to_vec(),
                    qos: p.qos,
                    dup: p.dup,
                    id: p.packet_id,
                },
                Packet::PubAck { packet_id } => Sent::PubAck(packet_id),
                Packet::Subscribe(s) => {
                    let filters: Vec<_> = s.filters.iter().collect();
                    assert_eq!(filters.len(), 1);
                    Sent::Subscribe(s.packet_id, filters[0].0.to_owned())
                }
                Packet::Unsubscribe(u) => {
                    let filters: Vec<_> = u.filters.iter().collect();
                    assert_eq!(filters.len(), 1);
                    Sent::Unsubscribe(u.packet_id, filters[0].to_owned())
                }
                Packet::PingReq => Sent::PingReq,
                Packet::Disconnect => Sent::Disconnect,
                other => panic!("a client never sends {other:?}"),
            });
        }
        all
    }

    fn events(&mut self) -> Vec<Ev> {
        let mut all = Vec::new();
        while let Some(event) = self.session.poll_event() {
            all.push(match event {
                Event::Connected { session_present } => Ev::Connected(session_present),
                Event::Disconnected { reason } => Ev::Down(reason),
                Event::Message(m) => Ev::Msg {
                    topic: m.topic.to_owned(),
                    payload: m.payload.to_vec(),
                    qos: m.qos,
                    retain: m.retain,
                    dup: m.dup,
                    id: m.packet_id,
                },
                Event::PublishAcked { packet_id } => Ev::Acked(packet_id),
                Event::PublishGaveUp {
                    packet_id,
                    attempts,
                } => Ev::GaveUp(packet_id, attempts),
                Event::SubscribeAcked { packet_id, granted } => Ev::SubAcked(packet_id, granted),
                Event::UnsubscribeAcked { packet_id } => Ev::UnsubAcked(packet_id),
                Event::RequestTimedOut { packet_id } => Ev::TimedOut(packet_id),
                Event::IncomingTooLarge { needed, limit } => Ev::TooLarge(needed, limit),
            });
        }
        all
    }

    /// The broker sends `packet`; returns the events it caused.
    fn deliver(&mut self, packet: Packet<'_>) -> Vec<Ev> {
        let bytes = encode(&packet);
        self.session.receive(&bytes);
        self.events()
    }

    /// Connects and answers CONNACK; returns what the session wrote after it.
    fn connect(&mut self, session_present: bool) -> Vec<Sent> {
        self.session.connect(self.now).expect("connect");
        let sent = self.sent();
        assert!(matches!(sent[..], [Sent::Connect { .. }]), "{sent:?}");
        let events = self.deliver(Packet::ConnAck(ConnAck {
            session_present,
            return_code: 0,
        }));
        assert_eq!(events, [Ev::Connected(session_present)]);
        assert_eq!(self.session.state(), State::Up);
        self.sent()
    }

    /// The link breaks (a read fails); returns the events.
    fn drop_link(&mut self) -> Vec<Ev> {
        self.session.transport_failed(TransportError::Read);
        self.events()
    }
}

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; codec::encoded_len(packet).unwrap()];
    codec::encode(packet, &mut bytes).unwrap();
    bytes
}

fn publish_of(sent: &Sent) -> (u16, bool) {
    match sent {
        Sent::Publish { id, dup, .. } => (*id, *dup),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[test]
fn connect_carries_the_configured_client_id_on_every_reconnect() {
    let config = config();
    let id = config.client_id.clone();
    let mut h = Harness::new(config);
    let mut ids = Vec::new();
    for _ in 0..3 {
        h.session.connect(h.now).unwrap();
        match &h.sent()[..] {
            [Sent::Connect {
                client_id,
                clean,
                keep_alive,
            }] => {
                assert!(!clean);
                assert_eq!(*keep_alive, 60);
                ids.push(client_id.clone());
            }
            other => panic!("{other:?}"),
        }
        h.deliver(Packet::ConnAck(ConnAck {
            session_present: true,
            return_code: 0,
        }));
        h.advance(5_000);
        assert!(h
            .drop_link()
            .contains(&Ev::Down(DisconnectReason::Transport(TransportError::Read))));
    }
    assert_eq!(ids, [id.clone(), id.clone(), id]);
    assert_eq!(
        h.session
            .connect(h.now)
            .and_then(|()| h.session.connect(h.now)),
        Err(SessionError::AlreadyConnected)
    );
}

#[test]
fn keep_alive_pings_when_idle_and_declares_the_link_lost_without_pingresp() {
    let mut h = Harness::new(config());
    h.connect(false);
    let connected_at = h.now;
    assert_eq!(h.session.next_deadline(), Some(connected_at + 30_000));

    h.advance(29_999);
    assert_eq!(h.sent(), []);
    h.advance(1);
    assert_eq!(h.sent(), [Sent::PingReq]);
    // Asking again before the answer does not ping twice.
    h.advance(500);
    assert_eq!(h.sent(), []);
    assert_eq!(
        h.session.next_deadline(),
        Some(connected_at + 30_000 + 2_000)
    );
    assert_eq!(h.deliver(Packet::PingResp), []);

    // Sending resets the idle timer: a publish at +10 s moves the next ping.
    h.advance(10_000);
    h.session
        .publish("/a", b"x", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(h.sent().len(), 1);
    let published_at = h.now;
    assert_eq!(h.session.next_deadline(), Some(published_at + 30_000));
    h.advance(30_000);
    assert_eq!(h.sent(), [Sent::PingReq]);

    // No PINGRESP: lost at exactly the request timeout.
    h.advance(1_999);
    assert_eq!(h.events(), []);
    h.advance(1);
    assert_eq!(h.events(), [Ev::Down(DisconnectReason::PingTimeout)]);
    assert_eq!(h.session.state(), State::Down);
    assert_eq!(h.session.next_deadline(), None);
}

#[test]
fn connack_timeout_and_refusals() {
    let mut h = Harness::new(config());
    h.session.connect(h.now).unwrap();
    h.sent();
    assert_eq!(h.session.next_deadline(), Some(h.now + 2_000));
    h.advance(2_000);
    assert_eq!(h.events(), [Ev::Down(DisconnectReason::ConnAckTimeout)]);

    h.session.connect(h.now).unwrap();
    h.sent();
    let events = h.deliver(Packet::ConnAck(ConnAck {
        session_present: false,
        return_code: 5,
    }));
    assert_eq!(events, [Ev::Down(DisconnectReason::Refused(5))]);
    assert_eq!(h.session.state(), State::Down);

    // Anything but CONNACK first is a protocol violation.
    h.session.connect(h.now).unwrap();
    h.sent();
    let events = h.deliver(Packet::PingResp);
    assert!(matches!(
        events[..],
        [Ev::Down(DisconnectReason::UnexpectedPacket(_))]
    ));
}

#[test]
fn qos1_out_is_acknowledged_and_frees_its_slot() {
    let mut h = Harness::new(config());
    h.connect(false);
    let id = h
        .session
        .publish(
            "/sys/pk/dn/thing/event/post",
            b"{}",
            QoS::AtLeastOnce,
            false,
        )
        .unwrap();
    assert_ne!(id, 0);
    assert_eq!(
        h.sent(),
        [Sent::Publish {
            topic: "/sys/pk/dn/thing/event/post".into(),
            payload: b"{}".to_vec(),
            qos: 1,
            dup: false,
            id,
        }]
    );
    assert_eq!(h.session.inflight(), 1);
    // An ack for an id never used changes nothing.
    assert_eq!(h.deliver(Packet::PubAck { packet_id: id + 1 }), []);
    assert_eq!(h.deliver(Packet::PubAck { packet_id: id }), [Ev::Acked(id)]);
    assert_eq!(h.session.inflight(), 0);
    // A duplicate PUBACK is ignored.
    assert_eq!(h.deliver(Packet::PubAck { packet_id: id }), []);
    // Nothing is resent while the link stays up, however long.
    let id2 = h
        .session
        .publish("/t", b"2", QoS::AtLeastOnce, false)
        .unwrap();
    assert_ne!(id2, id);
    h.sent();
    for _ in 0..10 {
        h.advance(29_000);
        let sent = h.sent();
        assert!(sent.iter().all(|s| *s == Sent::PingReq), "{sent:?}");
        h.deliver(Packet::PingResp);
    }
    assert_eq!(h.session.inflight(), 1);
}

#[test]
fn qos1_in_is_delivered_then_acknowledged_and_qos0_is_not() {
    let mut h = Harness::new(config());
    h.connect(false);
    let events = h.deliver(Packet::Publish(Publish {
        topic: "/in/1",
        payload: b"hello",
        qos: 1,
        dup: true,
        retain: true,
        packet_id: 77,
    }));
    assert_eq!(
        events,
        [Ev::Msg {
            topic: "/in/1".into(),
            payload: b"hello".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: true,
            id: 77
        }]
    );
    assert_eq!(h.sent(), [Sent::PubAck(77)]);
    let events = h.deliver(Packet::Publish(Publish {
        topic: "/in/0",
        payload: b"",
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    }));
    assert!(matches!(
        &events[..],
        [Ev::Msg {
            qos: QoS::AtMostOnce,
            ..
        }]
    ));
    assert_eq!(h.sent(), []);
}

#[test]
fn packets_split_anywhere_and_many_in_one_read_decode_the_same() {
    let mut h = Harness::new(config());
    h.connect(false);
    let mut stream = Vec::new();
    for i in 0..5u16 {
        let topic = format!("/split/{i}");
        stream.extend(encode(&Packet::Publish(Publish {
            topic: &topic,
            payload: &[i as u8; 40],
            qos: 1,
            dup: false,
            retain: false,
            packet_id: 100 + i,
        })));
    }
    stream.extend(encode(&Packet::PingResp));
    // Byte by byte.
    let mut got = Vec::new();
    for byte in &stream {
        h.session.receive(std::slice::from_ref(byte));
        got.extend(h.events());
    }
    assert_eq!(got.len(), 5);
    for (i, ev) in got.iter().enumerate() {
        match ev {
            Ev::Msg {
                topic, id, payload, ..
            } => {
                assert_eq!(topic, &format!("/split/{i}"));
                assert_eq!(*id, 100 + i as u16);
                assert_eq!(payload, &vec![i as u8; 40]);
            }
            other => panic!("{other:?}"),
        }
    }
    let acks: Vec<_> = (0..5).map(|i| Sent::PubAck(100 + i)).collect();
    assert_eq!(h.sent(), acks);
    // All at once.
    h.session.receive(&stream);
    assert_eq!(h.events().len(), 5);
}

#[test]
fn unacknowledged_qos1_is_resent_first_after_reconnect_in_order_with_dup() {
    let mut h = Harness::new(config());
    h.connect(true);
    let ids: Vec<u16> = (0..4)
        .map(|i| {
            h.session
                .publish(&format!("/r/{i}"), &[i], QoS::AtLeastOnce, false)
                .unwrap()
        })
        .collect();
    let first: Vec<_> = h.sent().iter().map(publish_of).collect();
    assert_eq!(first, ids.iter().map(|&id| (id, false)).collect::<Vec<_>>());
    // The second is acknowledged; the others are not when the link drops.
    h.deliver(Packet::PubAck { packet_id: ids[1] });
    assert_eq!(
        h.drop_link(),
        [Ev::Down(DisconnectReason::Transport(TransportError::Read))]
    );
    // Published while offline: kept, sent after the resends, without DUP.
    let offline = h
        .session
        .publish("/r/offline", b"o", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        h.session.publish("/r/q0", b"o", QoS::AtMostOnce, false),
        Err(SessionError::NotConnected)
    );
    // The oldest resend goes alone first ...
    let after = h.connect(true);
    assert_eq!(
        after.iter().map(publish_of).collect::<Vec<_>>(),
        [(ids[0], true)]
    );
    // ... a message published now waits behind the resends ...
    let later = h
        .session
        .publish("/r/later", b"l", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(h.sent(), []);
    // ... and once it is acknowledged the rest follow, in order.
    assert_eq!(
        h.deliver(Packet::PubAck { packet_id: ids[0] }),
        [Ev::Acked(ids[0])]
    );
    let rest: Vec<_> = h.sent().iter().map(publish_of).collect();
    assert_eq!(
        rest,
        [
            (ids[2], true),
            (ids[3], true),
            (offline, false),
            (later, false)
        ]
    );
    for id in [ids[2], ids[3], offline, later] {
        assert_eq!(h.deliver(Packet::PubAck { packet_id: id }), [Ev::Acked(id)]);
    }
    assert_eq!(h.session.inflight(), 0);
    // A message queued but never handed out before the link dropped (twice)
    // is not a resend: no DUP, no attempt counted.
    let id = h
        .session
        .publish("/r/x", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    h.drop_link();
    h.session.connect(h.now).unwrap();
    h.sent();
    h.deliver(Packet::ConnAck(ConnAck {
        session_present: true,
        return_code: 0,
    }));
    h.drop_link(); // before it was handed out
    let again = h.connect(true);
    assert_eq!(
        again.iter().map(publish_of).collect::<Vec<_>>(),
        [(id, false)]
    );
}

#[test]
fn a_message_the_broker_keeps_refusing_is_given_up_after_max_attempts() {
    let mut config = config();
    config.max_publish_attempts = 3;
    let mut h = Harness::new(config);
    h.connect(true);
    let bad = h
        .session
        .publish("/refused", b"big", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        h.sent().iter().map(publish_of).collect::<Vec<_>>(),
        [(bad, false)]
    );
    // The broker drops the link on it, twice more after each resend.
    for attempt in 2..=3 {
        h.session.transport_failed(TransportError::Closed);
        assert_eq!(
            h.events(),
            [Ev::Down(DisconnectReason::Transport(
                TransportError::Closed
            ))]
        );
        let resent = h.connect(true);
        assert_eq!(
            resent.iter().map(publish_of).collect::<Vec<_>>(),
            [(bad, true)],
            "attempt {attempt}"
        );
    }
    h.session.transport_failed(TransportError::Closed);
    assert_eq!(
        h.events(),
        [
            Ev::Down(DisconnectReason::Transport(TransportError::Closed)),
            Ev::GaveUp(bad, 3)
        ]
    );
    assert_eq!(h.session.inflight(), 0);
    // The next message gets through: nothing is stuck in front of it.
    assert_eq!(h.connect(true), []);
    let good = h
        .session
        .publish("/ok", b"ok", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        h.sent().iter().map(publish_of).collect::<Vec<_>>(),
        [(good, false)]
    );
    assert_eq!(
        h.deliver(Packet::PubAck { packet_id: good }),
        [Ev::Acked(good)]
    );
}

#[test]
fn messages_behind_a_refused_one_are_not_given_up_with_it() {
    let mut config = config();
    config.max_publish_attempts = 2;
    let mut h = Harness::new(config);
    h.connect(true);
    let bad = h
        .session
        .publish("/bad", b"b", QoS::AtLeastOnce, false)
        .unwrap();
    let good = h
        .session
        .publish("/good", b"g", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(h.sent().len(), 2); // both written; the broker drops the link on the first
    h.drop_link();
    // Only the refused one is resent, and the broker drops the link again.
    assert_eq!(
        h.connect(true).iter().map(publish_of).collect::<Vec<_>>(),
        [(bad, true)]
    );
    let events = h.drop_link();
    assert_eq!(events[1..], [Ev::GaveUp(bad, 2)]);
    // The good one was sent once only: it is resent, not given up.
    assert_eq!(
        h.connect(true).iter().map(publish_of).collect::<Vec<_>>(),
        [(good, true)]
    );
    assert_eq!(
        h.deliver(Packet::PubAck { packet_id: good }),
        [Ev::Acked(good)]
    );
    assert_eq!(h.session.inflight(), 0);
}

#[test]
fn a_stray_puback_during_the_resend_probe_does_not_resend_twice_on_one_link() {
    let mut h = Harness::new(config());
    h.connect(true);
    let a = h
        .session
        .publish("/a", b"a", QoS::AtLeastOnce, false)
        .unwrap();
    let b = h
        .session
        .publish("/b", b"b", QoS::AtLeastOnce, false)
        .unwrap();
    let c = h
        .session
        .publish("/c", b"c", QoS::AtLeastOnce, false)
        .unwrap();
    h.sent();
    h.drop_link();
    assert_eq!(
        h.connect(true).iter().map(publish_of).collect::<Vec<_>>(),
        [(a, true)]
    );
    // The broker acknowledges b (from the old link) before a: the rest are
    // released, but a, already out on this link, is not sent again.
    assert_eq!(h.deliver(Packet::PubAck { packet_id: b }), [Ev::Acked(b)]);
    assert_eq!(
        h.sent().iter().map(publish_of).collect::<Vec<_>>(),
        [(c, true)]
    );
    assert_eq!(h.deliver(Packet::PubAck { packet_id: a }), [Ev::Acked(a)]);
    assert_eq!(h.sent(), []);
}

#[test]
fn zero_max_attempts_never_gives_up() {
    let mut config = config();
    config.max_publish_attempts = 0;
    let mut h = Harness::new(config);
    h.connect(true);
    let id = h
        .session
        .publish("/forever", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    h.sent();
    for _ in 0..20 {
        assert_eq!(h.drop_link().len(), 1);
        assert_eq!(
            h.connect(true).iter().map(publish_of).collect::<Vec<_>>(),
            [(id, true)]
        );
    }
}

#[test]
fn the_inflight_window_is_bounded_and_ids_map_to_slots() {
    let mut config = config();
    config.inflight_window = 4;
    let mut h = Harness::new(config);
    h.connect(false);
    let ids: Vec<u16> = (0..4)
        .map(|_| {
            h.session
                .publish("/w", b"w", QoS::AtLeastOnce, false)
                .unwrap()
        })
        .collect();
    assert_eq!(
        h.session.publish("/w", b"w", QoS::AtLeastOnce, false),
        Err(SessionError::Full { window: 4 })
    );
    h.sent();
    // Acknowledged out of order: any freed slot takes the next message,
    // and its new id differs from the one just acknowledged.
    assert_eq!(
        h.deliver(Packet::PubAck { packet_id: ids[2] }),
        [Ev::Acked(ids[2])]
    );
    let next = h
        .session
        .publish("/w", b"w", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(!ids.contains(&next));
    assert_eq!(
        (next - 1) % 4,
        (ids[2] - 1) % 4,
        "same slot, next generation"
    );
    assert_eq!(h.session.inflight(), 4);
    // Thousands of messages through the window: ids never collide with
    // one still in flight and stay in the publish range.
    let mut live: Vec<u16> = vec![ids[0], ids[1], ids[3], next];
    h.sent();
    for round in 0..20_000u32 {
        let victim = live.remove((round % 4) as usize % live.len());
        assert_eq!(
            h.deliver(Packet::PubAck { packet_id: victim }),
            [Ev::Acked(victim)]
        );
        let id = h
            .session
            .publish("/w", b"w", QoS::AtLeastOnce, false)
            .unwrap();
        assert!(!live.contains(&id), "id {id} reused while in flight");
        assert!((1..=0xF000).contains(&id));
        live.push(id);
        assert_eq!(h.sent().len(), 1);
    }
    // QoS 0 is bounded by the same number while the writer does not drain.
    for _ in 0..4 {
        h.session
            .publish("/q0", b"0", QoS::AtMostOnce, false)
            .unwrap();
    }
    assert_eq!(
        h.session.publish("/q0", b"0", QoS::AtMostOnce, false),
        Err(SessionError::Full { window: 4 })
    );
    assert_eq!(h.sent().len(), 4);
    h.session
        .publish("/q0", b"0", QoS::AtMostOnce, false)
        .unwrap();
}

#[test]
fn default_window_is_documented_value() {
    let h = Harness::new(Config::new("c"));
    assert_eq!(h.session.config().inflight_window, DEFAULT_INFLIGHT_WINDOW);
    assert_eq!(DEFAULT_INFLIGHT_WINDOW, 16);
}

#[test]
fn subscribe_and_unsubscribe_keep_their_order_across_a_reconnect() {
    let mut h = Harness::new(config());
    h.connect(true);
    let s1 = h.session.subscribe("/a/#", QoS::AtLeastOnce).unwrap();
    let s2 = h.session.subscribe("/b/+", QoS::AtMostOnce).unwrap();
    let u1 = h.session.unsubscribe("/a/#").unwrap();
    let s3 = h.session.subscribe("/a/#", QoS::AtMostOnce).unwrap();
    let order = [
        Sent::Subscribe(s1, "/a/#".into()),
        Sent::Subscribe(s2, "/b/+".into()),
        Sent::Unsubscribe(u1, "/a/#".into()),
        Sent::Subscribe(s3, "/a/#".into()),
    ];
    assert_eq!(h.sent(), order);
    // Only the second is acknowledged before the link drops.
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: s2,
            return_codes: &[0]
        })),
        [Ev::SubAcked(s2, Some(QoS::AtMostOnce))]
    );
    h.drop_link();
    assert_eq!(h.session.pending_requests(), 3);
    // Session present: the acknowledged one is not re-sent; the waiting
    // ones go again in their order (the UNSUBSCRIBE stays between the two
    // SUBSCRIBEs for /a/#).
    assert_eq!(
        h.connect(true),
        [order[0].clone(), order[2].clone(), order[3].clone()]
    );
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: s1,
            return_codes: &[1]
        })),
        [Ev::SubAcked(s1, Some(QoS::AtLeastOnce))]
    );
    // A SUBACK where an UNSUBACK belongs is not taken for it.
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: u1,
            return_codes: &[1]
        })),
        []
    );
    assert_eq!(
        h.deliver(Packet::UnsubAck { packet_id: u1 }),
        [Ev::UnsubAcked(u1)]
    );
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: s3,
            return_codes: &[0]
        })),
        [Ev::SubAcked(s3, Some(QoS::AtMostOnce))]
    );
    let subs: Vec<_> = h
        .session
        .subscriptions()
        .map(|(f, q)| (f.to_owned(), q))
        .collect();
    assert_eq!(
        subs,
        [
            ("/b/+".to_owned(), QoS::AtMostOnce),
            ("/a/#".to_owned(), QoS::AtMostOnce)
        ]
    );
}

#[test]
fn subscriptions_are_resent_in_order_only_without_session_present() {
    let mut h = Harness::new(config());
    h.connect(false);
    let filters = ["/one", "/two/+", "/three/#"];
    for filter in filters {
        let id = h.session.subscribe(filter, QoS::AtLeastOnce).unwrap();
        h.sent();
        h.deliver(Packet::SubAck(SubAck {
            packet_id: id,
            return_codes: &[1],
        }));
    }
    let refused = h.session.subscribe("/denied", QoS::AtLeastOnce).unwrap();
    h.sent();
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: refused,
            return_codes: &[0x80]
        })),
        [Ev::SubAcked(refused, None)]
    );

    h.drop_link();
    assert_eq!(h.connect(true), [], "session present: nothing re-sent");

    h.drop_link();
    let pending = h.session.subscribe("/four", QoS::AtMostOnce).unwrap();
    let resent = h.connect(false);
    let names: Vec<String> = resent
        .iter()
        .map(|s| match s {
            Sent::Subscribe(_, f) => f.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["/one", "/two/+", "/three/#", "/four"]);
    // The re-subscriptions are the session's own: their SUBACKs raise no
    // event; the application's request does.
    let mut events = Vec::new();
    for s in &resent {
        if let Sent::Subscribe(id, _) = s {
            events.extend(h.deliver(Packet::SubAck(SubAck {
                packet_id: *id,
                return_codes: &[1],
            })));
        }
    }
    assert_eq!(events, [Ev::SubAcked(pending, Some(QoS::AtLeastOnce))]);
    assert_eq!(h.session.subscriptions().count(), 4);
}

#[test]
fn a_request_without_its_acknowledgement_times_out() {
    let mut h = Harness::new(config());
    h.connect(false);
    let id = h.session.subscribe("/slow", QoS::AtMostOnce).unwrap();
    h.advance(500);
    h.sent();
    assert_eq!(h.session.next_deadline(), Some(h.now + 2_000));
    h.advance(1_999);
    assert_eq!(h.events(), []);
    h.advance(1);
    assert_eq!(h.events(), [Ev::TimedOut(id)]);
    assert_eq!(h.session.pending_requests(), 0);
    // A late SUBACK is ignored.
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: id,
            return_codes: &[0]
        })),
        []
    );
}

#[test]
fn request_queue_is_bounded() {
    let mut config = config();
    config.max_pending_requests = 2;
    let mut h = Harness::new(config);
    h.session.subscribe("/a", QoS::AtMostOnce).unwrap();
    h.session.unsubscribe("/a").unwrap();
    assert_eq!(
        h.session.subscribe("/b", QoS::AtMostOnce),
        Err(SessionError::RequestQueueFull { limit: 2 })
    );
}

#[test]
fn outgoing_packets_are_checked_against_the_maximum_packet_size() {
    let mut config = config();
    config.max_packet_size = 128;
    let mut h = Harness::new(config);
    h.connect(false);
    let fits = vec![0u8; 128 - 2 - 2 - 2 - 2]; // header, topic length, "/t", id
    let id = h
        .session
        .publish("/t", &fits, QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(h.sent().len(), 1);
    h.deliver(Packet::PubAck { packet_id: id });
    let too_big = vec![0u8; fits.len() + 1];
    assert_eq!(
        h.session.publish("/t", &too_big, QoS::AtLeastOnce, false),
        Err(SessionError::TooLarge { len: 129, max: 128 })
    );
    // QoS 0 carries no packet id: two bytes more payload fit, three do not.
    let qos0_too_big = vec![0u8; fits.len() + 3];
    assert_eq!(
        h.session
            .publish("/t", &qos0_too_big, QoS::AtMostOnce, false),
        Err(SessionError::TooLarge { len: 129, max: 128 })
    );
    assert_eq!(
        h.session.inflight(),
        0,
        "nothing queued for a refused message"
    );
    let long_filter = format!("/{}", "f".repeat(200));
    assert!(matches!(
        h.session.subscribe(&long_filter, QoS::AtMostOnce),
        Err(SessionError::TooLarge { max: 128, .. })
    ));
    assert!(matches!(
        h.session.unsubscribe(&long_filter),
        Err(SessionError::TooLarge { max: 128, .. })
    ));
    assert!(matches!(
        h.session.publish("/bad/+", b"", QoS::AtMostOnce, false),
        Err(SessionError::Encode(_))
    ));
    assert!(matches!(
        h.session.unsubscribe("/bad/#/x"),
        Err(SessionError::Encode(_))
    ));
    assert_eq!(h.sent(), []);
    // CONNECT too: a client id that does not fit is refused before sending.
    let mut config = Config::new(&"c".repeat(200));
    config.max_packet_size = 128;
    let mut session = Session::new(config).unwrap();
    assert!(matches!(
        session.connect(0),
        Err(SessionError::TooLarge { .. })
    ));
    assert_eq!(session.state(), State::Down);
}

#[test]
fn oversized_incoming_packets_are_skipped_and_still_acknowledged() {
    let mut config = config();
    config.max_incoming_packet_size = 64;
    let mut h = Harness::new(config);
    h.connect(false);
    let big = encode(&Packet::Publish(Publish {
        topic: "/big",
        payload: &[7u8; 300],
        qos: 1,
        dup: false,
        retain: false,
        packet_id: 9,
    }));
    let small = encode(&Packet::Publish(Publish {
        topic: "/small",
        payload: b"s",
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    }));
    let mut events = Vec::new();
    for chunk in big.chunks(10).chain([&small[..]]) {
        h.session.receive(chunk);
        events.extend(h.events());
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Ev::TooLarge(big.len(), 64));
    assert!(matches!(&events[1], Ev::Msg { topic, .. } if topic == "/small"));
    assert_eq!(h.sent(), [Sent::PubAck(9)]);
}

#[test]
fn bad_bytes_from_the_server_end_the_link_with_a_reason() {
    let mut h = Harness::new(config());
    h.connect(false);
    h.session.receive(&[0x00, 0x00]); // reserved packet type 0
    let events = h.events();
    assert!(
        matches!(events[..], [Ev::Down(DisconnectReason::Protocol { .. })]),
        "{events:?}"
    );
    assert_eq!(h.session.state(), State::Down);
    // Bytes while down are ignored.
    h.session.receive(&[0xD0, 0x00]);
    assert_eq!(h.events(), []);

    h.connect(false);
    let events = h.deliver(Packet::PingReq); // a server never sends this
    assert!(matches!(
        events[..],
        [Ev::Down(DisconnectReason::UnexpectedPacket(_))]
    ));

    h.connect(false);
    // A body that does not decode (PUBACK with 3 bytes).
    h.session.receive(&[0x40, 0x03, 0, 1, 2]);
    assert!(matches!(
        h.events()[..],
        [Ev::Down(DisconnectReason::Protocol { .. })]
    ));
}

#[test]
fn transport_errors_keep_their_direction() {
    for error in [
        TransportError::Read,
        TransportError::Write,
        TransportError::Closed,
    ] {
        let mut h = Harness::new(config());
        h.connect(false);
        h.session.transport_failed(error);
        assert_eq!(h.events(), [Ev::Down(DisconnectReason::Transport(error))]);
        // Reported once: a second failure of the same link adds nothing.
        h.session.transport_failed(error);
        assert_eq!(h.events(), []);
    }
}

#[test]
fn disconnect_sends_disconnect_then_the_link_is_down() {
    let mut h = Harness::new(config());
    h.connect(false);
    h.session.disconnect();
    assert_eq!(h.session.state(), State::Closing);
    assert_eq!(h.sent(), [Sent::Disconnect]);
    assert_eq!(h.events(), [Ev::Down(DisconnectReason::Requested)]);
    assert_eq!(h.session.state(), State::Down);
    h.session.disconnect();
    assert_eq!(h.events(), []);
    // While waiting for CONNACK: down at once.
    h.session.connect(h.now).unwrap();
    h.session.disconnect();
    assert_eq!(h.events(), [Ev::Down(DisconnectReason::Requested)]);
    assert_eq!(h.sent(), []);
}

#[test]
fn clean_session_flag_is_sent() {
    let mut config = config();
    config.clean_session = true;
    config.username = Some("dn&pk".into());
    config.password = Some(b"secret".to_vec());
    let mut h = Harness::new(config);
    h.session.connect(h.now).unwrap();
    let bytes = h.session.poll_transmit(h.now).unwrap().to_vec();
    match codec::decode(&bytes).unwrap().0 {
        Packet::Connect(c) => {
            assert!(c.clean_session);
            assert_eq!(c.username, Some("dn&pk"));
            assert_eq!(c.password, Some(&b"secret"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{:?}", h.session.config()).contains("secret"));
}

#[test]
fn subscriptions_are_bounded_so_resubscribing_always_finds_packet_ids() {
    use iotkit_core::mqtt::session::MAX_SUBSCRIPTIONS;
    let mut config = config();
    config.max_pending_requests = 1024;
    let mut h = Harness::new(config);
    h.connect(false);
    for i in 0..MAX_SUBSCRIPTIONS {
        let id = h
            .session
            .subscribe(&format!("/s/{i}"), QoS::AtMostOnce)
            .unwrap();
        h.sent();
        h.deliver(Packet::SubAck(SubAck {
            packet_id: id,
            return_codes: &[0],
        }));
    }
    assert_eq!(h.session.subscriptions().count(), MAX_SUBSCRIPTIONS);
    assert_eq!(
        h.session.subscribe("/one/more", QoS::AtMostOnce),
        Err(SessionError::TooManySubscriptions {
            limit: MAX_SUBSCRIPTIONS
        })
    );
    // Re-subscribing a known filter (another QoS) is still fine.
    assert!(h.session.subscribe("/s/0", QoS::AtLeastOnce).is_ok());
    // With the request queue full as well, a reconnect without session
    // present re-sends every subscription, each with its own packet id.
    for i in 0..1023 {
        h.session.unsubscribe(&format!("/s/{i}")).unwrap();
    }
    h.drop_link();
    let resent = h.connect(false);
    assert_eq!(resent.len(), MAX_SUBSCRIPTIONS + 1024);
    let mut ids: Vec<u16> = resent
        .iter()
        .map(|s| match s {
            Sent::Subscribe(id, _) | Sent::Unsubscribe(id, _) => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), MAX_SUBSCRIPTIONS + 1024);
}

#[test]
fn an_incoming_qos1_is_acknowledged_only_when_the_driver_comes_back_for_the_next_event() {
    let mut h = Harness::new(config());
    h.connect(false);
    h.session.receive(&encode(&Packet::Publish(Publish {
        topic: "in/t",
        payload: b"m",
        qos: 1,
        dup: false,
        retain: false,
        packet_id: 42,
    })));
    assert!(matches!(
        h.session.poll_event(),
        Some(Event::Message(m)) if m.packet_id == 42
    ));
    // The handler is running: nothing acknowledged yet.
    assert_eq!(h.sent(), []);
    assert_eq!(h.session.poll_event(), None);
    assert_eq!(h.sent(), [Sent::PubAck(42)]);

    // Lost before the driver came back: not acknowledged, the broker resends.
    h.session.receive(&encode(&Packet::Publish(Publish {
        topic: "in/t",
        payload: b"m",
        qos: 1,
        dup: false,
        retain: false,
        packet_id: 43,
    })));
    assert!(matches!(h.session.poll_event(), Some(Event::Message(_))));
    h.session.transport_failed(TransportError::Closed);
    assert_eq!(
        h.events(),
        [Ev::Down(DisconnectReason::Transport(
            TransportError::Closed
        ))]
    );
    assert_eq!(h.sent(), []);
}

#[test]
fn a_subscribe_that_timed_out_is_sent_again_on_the_next_link_even_with_session_present() {
    let mut h = Harness::new(config());
    h.connect(true);
    let id = h.session.subscribe("cmd/#", QoS::AtLeastOnce).unwrap();
    assert_eq!(h.sent(), [Sent::Subscribe(id, "cmd/#".into())]);
    h.advance(2_000);
    assert_eq!(h.events(), [Ev::TimedOut(id)]);
    // Not again on this link, and not counted as waiting.
    h.advance(10_000);
    assert_eq!(h.session.pending_requests(), 0);
    assert!(h.sent().iter().all(|s| !matches!(s, Sent::Subscribe(..))));
    h.drop_link();
    // The broker kept the session, but may never have seen the SUBSCRIBE.
    let sent = h.connect(true);
    let again = match &sent[..] {
        [Sent::Subscribe(again, filter)] if filter == "cmd/#" => *again,
        other => panic!("{other:?}"),
    };
    // Its SUBACK is silent (the application was told it timed out) but
    // records the subscription.
    assert_eq!(
        h.deliver(Packet::SubAck(SubAck {
            packet_id: again,
            return_codes: &[1],
        })),
        []
    );
    assert_eq!(
        h.session.subscriptions().collect::<Vec<_>>(),
        [("cmd/#", QoS::AtLeastOnce)]
    );
    // Timing out again stays silent and tries once more later.
    let id2 = h.session.subscribe("cfg/#", QoS::AtMostOnce).unwrap();
    h.sent();
    h.advance(2_000);
    assert_eq!(h.events(), [Ev::TimedOut(id2)]);
    h.drop_link();
    assert!(matches!(&h.connect(true)[..], [Sent::Subscribe(_, f)] if f == "cfg/#"));
    h.advance(2_000);
    assert_eq!(h.events(), []);
    h.drop_link();
    assert!(matches!(&h.connect(true)[..], [Sent::Subscribe(_, f)] if f == "cfg/#"));
}

#[test]
fn an_unsubscribe_that_timed_out_is_dropped() {
    let mut h = Harness::new(config());
    h.connect(true);
    let id = h.session.unsubscribe("old/#").unwrap();
    assert_eq!(h.sent(), [Sent::Unsubscribe(id, "old/#".into())]);
    h.advance(2_000);
    assert_eq!(h.events(), [Ev::TimedOut(id)]);
    h.drop_link();
    assert_eq!(h.connect(true), []);
}

#[test]
fn the_login_can_be_set_for_the_next_connect_only() {
    let mut h = Harness::new(config());
    h.session
        .set_login("pk.dn|securemode=2|", Some("dn&pk"), Some(b""));
    h.session.connect(h.now).unwrap();
    let bytes = h.session.poll_transmit(h.now).unwrap().to_vec();
    let Packet::Connect(c) = codec::decode(&bytes).unwrap().0 else {
        panic!("not CONNECT")
    };
    assert_eq!(
        (c.client_id, c.username, c.password),
        ("pk.dn|securemode=2|", Some("dn&pk"), Some(&b""[..]))
    );
    h.deliver(Packet::ConnAck(ConnAck {
        session_present: false,
        return_code: 0,
    }));
    // The link that is up keeps its login; the next CONNECT carries the new one.
    h.session.set_login("other", None, None);
    assert_eq!(h.session.state(), State::Up);
    h.drop_link();
    h.session.connect(h.now).unwrap();
    let bytes = h.session.poll_transmit(h.now).unwrap().to_vec();
    let Packet::Connect(c) = codec::decode(&bytes).unwrap().0 else {
        panic!("not CONNECT")
    };
    assert_eq!((c.client_id, c.username, c.password), ("other", None, None));
}

#[test]
fn giving_up_can_be_turned_on_and_off_while_running() {
    let mut config = config();
    config.max_publish_attempts = 0;
    let mut h = Harness::new(config);
    h.connect(false);
    let id = h
        .session
        .publish("t", b"refused", QoS::AtLeastOnce, false)
        .unwrap();
    for _ in 0..6 {
        h.sent();
        assert!(!h.drop_link().iter().any(|e| matches!(e, Ev::GaveUp(..))));
        h.connect(false);
    }
    h.session.set_max_publish_attempts(8);
    h.drop_link();
    h.connect(false);
    assert_eq!(h.drop_link()[1..], [Ev::GaveUp(id, 8)]);
    assert_eq!(h.session.inflight(), 0);
}

#[test]
fn malformed_packets_and_qos2_name_what_they_were() {
    let mut h = Harness::new(config());
    h.connect(false);
    // A SUBACK with a return code MQTT 3.1.1 does not define.
    h.session.receive(&[0x90, 3, 0, 1, 3]);
    match &h.events()[..] {
        [Ev::Down(DisconnectReason::Protocol {
            packet: Some(codec::PacketType::SubAck),
            ..
        })] => {}
        other => panic!("{other:?}"),
    }
    h.connect(false);
    h.session.receive(&[0xF0, 0]);
    assert!(matches!(
        &h.events()[..],
        [Ev::Down(DisconnectReason::Protocol { packet: None, .. })]
    ));
    h.connect(false);
    h.session.receive(&[0x34, 5, 0, 1, b't', 0, 1]);
    assert_eq!(h.events(), [Ev::Down(DisconnectReason::QoS2Publish)]);
}

#[test]
fn an_oversized_publish_names_its_topic_when_the_topic_fits() {
    let mut config = config();
    config.max_incoming_packet_size = 64;
    let mut h = Harness::new(config);
    h.connect(false);
    let payload = vec![7u8; 200];
    let bytes = encode(&Packet::Publish(Publish {
        topic: "big/topic",
        payload: &payload,
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    }));
    // The head arrives in pieces: the topic is waited for.
    h.session.receive(&bytes[..4]);
    assert_eq!(h.events(), []);
    h.session.receive(&bytes[4..]);
    assert_eq!(h.events(), [Ev::TooLarge(bytes.len(), 64)]);
    assert_eq!(h.session.oversized_topic(), "big/topic");
    // A topic longer than the limit is not waited for.
    let long_topic = "t".repeat(100);
    let bytes = encode(&Packet::Publish(Publish {
        topic: &long_topic,
        payload: b"x",
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    }));
    h.session.receive(&bytes[..10]);
    assert_eq!(h.events(), [Ev::TooLarge(bytes.len(), 64)]);
    assert_eq!(h.session.oversized_topic(), "");
    h.session.receive(&bytes[10..]);
    assert_eq!(h.events(), []);
    assert_eq!(h.session.state(), State::Up);
}
