//! The MQTT session's own cost per message, without I/O: what the driver
//! adds on top is the transport.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iotkit_core::mqtt::codec::{self, ConnAck, Packet, Publish};
use iotkit_core::mqtt::session::{Config, Event, QoS, Session};

const TOPIC: &str = "/sys/a1B2c3D4e5F/device-0001/thing/event/property/post";

fn connected() -> Session {
    let mut session = Session::new(Config::new("a1B2c3D4e5F.device-0001|timestamp=1|")).unwrap();
    session.connect(0).unwrap();
    while session.poll_transmit(0).is_some() {}
    let mut connack = [0u8; 4];
    codec::encode(
        &Packet::ConnAck(ConnAck {
            session_present: false,
            return_code: 0,
        }),
        &mut connack,
    )
    .unwrap();
    session.receive(&connack);
    while session.poll_event().is_some() {}
    session
}

fn bench_session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(1));
    let payload = vec![0x5Au8; 256];

    let mut session = connected();
    group.bench_function("qos0_publish_256", |b| {
        b.iter(|| {
            session
                .publish(TOPIC, black_box(&payload), QoS::AtMostOnce, false)
                .unwrap();
            black_box(session.poll_transmit(0).unwrap().len())
        })
    });

    let mut session = connected();
    group.bench_function("qos1_publish_and_puback_256", |b| {
        b.iter(|| {
            let id = session
                .publish(TOPIC, black_box(&payload), QoS::AtLeastOnce, false)
                .unwrap();
            black_box(session.poll_transmit(0).unwrap().len());
            session.receive(&[0x40, 0x02, (id >> 8) as u8, id as u8]);
            while let Some(event) = session.poll_event() {
                black_box(event);
            }
        })
    });

    let mut session = connected();
    let incoming = {
        let packet = Packet::Publish(Publish {
            topic: TOPIC,
            payload: &payload,
            qos: 1,
            dup: false,
            retain: false,
            packet_id: 7,
        });
        let mut bytes = vec![0u8; codec::encoded_len(&packet).unwrap()];
        codec::encode(&packet, &mut bytes).unwrap();
        bytes
    };
    group.bench_function("qos1_receive_and_ack_256", |b| {
        b.iter(|| {
            session.receive(black_box(&incoming));
            while let Some(event) = session.poll_event() {
                if let Event::Message(m) = event {
                    black_box(m.payload.len());
                }
            }
            black_box(session.poll_transmit(0).unwrap().len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_session);
criterion_main!(benches);
