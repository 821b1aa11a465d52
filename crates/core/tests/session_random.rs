//! The session under random input: random bytes from the "server", random
//! valid packets, random API calls, random time steps and link failures,
//! from fixed seeds (reproducible). It must never panic, every packet it
//! writes must be one valid MQTT packet within the size limit, and its
//! bookkeeping must stay within its bounds.

use iotkit_core::mqtt::codec::{self, ConnAck, Packet, Publish, SubAck};
use iotkit_core::mqtt::session::{Config, Event, QoS, Session, State, TransportError};

/// xorshift64*: small, deterministic, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; codec::encoded_len(packet).unwrap()];
    codec::encode(packet, &mut bytes).unwrap();
    bytes
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut config = Config::new("random");
    config.inflight_window = 1 + rng.below(8) as u16;
    config.max_pending_requests = 1 + rng.below(8) as usize;
    config.max_packet_size = 64 + rng.below(256) as usize;
    config.max_incoming_packet_size = 64 + rng.below(256) as usize;
    config.max_publish_attempts = rng.below(4) as u32;
    config.ping_interval_ms = 1_000;
    config.request_timeout_ms = 500;
    let max_packet = config.max_packet_size;
    let window = usize::from(config.inflight_window);
    let mut session = Session::new(config).unwrap();
    let mut now = 0u64;
    let mut ids: Vec<u16> = Vec::new();
    for _ in 0..steps {
        match rng.below(14) {
            0 => {
                let _ = session.connect(now);
            }
            1 => {
                let accepted = rng.below(4) != 0;
                session.receive(&encode(&Packet::ConnAck(ConnAck {
                    session_present: rng.below(2) == 0,
                    return_code: if accepted { 0 } else { 1 + rng.below(5) as u8 },
                })));
            }
            2 | 3 => {
                let payload = vec![0u8; rng.below(300) as usize];
                let qos = if rng.below(2) == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                if let Ok(id) = session.publish("/r/t", &payload, qos, false) {
                    if id != 0 {
                        ids.push(id);
                    }
                }
            }
            4 => {
                let id = if ids.is_empty() || rng.below(4) == 0 {
                    1 + rng.below(0xFFFF) as u16
                } else {
                    ids[rng.below(ids.len() as u64) as usize]
                };
                session.receive(&encode(&Packet::PubAck { packet_id: id }));
            }
            5 => {
                let filter = ["/a", "/a/+", "/b/#", "/c"][rng.below(4) as usize];
                let _ = if rng.below(2) == 0 {
                    session.subscribe(filter, QoS::AtLeastOnce)
                } else {
                    session.unsubscribe(filter)
                };
            }
            6 => {
                let id = 0xF000 + rng.below(0x1000) as u16;
                let packet = if rng.below(2) == 0 {
                    Packet::SubAck(SubAck {
                        packet_id: id.max(1),
                        return_codes: &[[0u8, 1, 0x80][rng.below(3) as usize]],
                    })
                } else {
                    Packet::UnsubAck {
                        packet_id: id.max(1),
                    }
                };
                session.receive(&encode(&packet));
            }
            7 => {
                let payload = vec![7u8; rng.below(400) as usize];
                let qos = rng.below(2) as u8;
                session.receive(&encode(&Packet::Publish(Publish {
                    topic: "/in",
                    payload: &payload,
                    qos,
                    dup: false,
                    retain: false,
                    packet_id: if qos == 0 {
                        0
                    } else {
                        1 + rng.below(100) as u16
                    },
                })));
            }
            8 => {
                let garbage: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
                session.receive(&garbage);
            }
            9 => session.receive(&encode(&Packet::PingResp)),
            10 => session.transport_failed(
                [
                    TransportError::Read,
                    TransportError::Write,
                    TransportError::Closed,
                ][rng.below(3) as usize],
            ),
            11 => session.disconnect(),
            _ => {
                now += rng.below(1_500);
                session.handle_timeout(now);
            }
        }
        while let Some(bytes) = session.poll_transmit(now) {
            assert!(bytes.len() <= max_packet, "{} > {max_packet}", bytes.len());
            let (_, used) = codec::decode(bytes).expect("valid MQTT out");
            assert_eq!(used, bytes.len());
        }
        while let Some(event) = session.poll_event() {
            if let Event::Message(m) = event {
                assert_eq!(m.topic, "/in");
            }
        }
        assert!(session.inflight() <= window);
        if session.next_deadline().is_some() {
            assert!(session.state() != State::Down, "a timer while down");
        }
    }
}

#[test]
fn random_input_never_breaks_the_session() {
    for seed in 1..=200u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, 2_000);
    }
}
