//! MQTT codec speed: encoding into and decoding from preallocated buffers.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iotkit::mqtt::codec::{self, Packet, Publish, Subscribe, SubscribeFilters};

fn publish(payload: &[u8]) -> Packet<'_> {
    Packet::Publish(Publish {
        topic: "/sys/a1B2c3D4e5F/device-0001/thing/event/property/post",
        payload,
        qos: 1,
        dup: false,
        retain: false,
        packet_id: 4242,
    })
}

fn bench_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in [64usize, 1024, 16 * 1024] {
        let payload = vec![0x5Au8; size];
        let packet = publish(&payload);
        let mut buf = vec![0u8; size + 128];
        let len = codec::encode(&packet, &mut buf).unwrap();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("encode_publish_{size}"), |b| {
            b.iter(|| codec::encode(black_box(&packet), black_box(&mut buf)).unwrap())
        });
        let encoded = buf[..len].to_vec();
        group.bench_function(format!("decode_publish_{size}"), |b| {
            b.iter(|| codec::decode(black_box(&encoded)).unwrap().1)
        });
    }
    group.throughput(Throughput::Elements(1));
    let filters = [("/sys/a1B2c3D4e5F/device-0001/thing/#", 1u8)];
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 7,
        filters: SubscribeFilters::List(&filters),
    });
    let mut buf = [0u8; 128];
    group.bench_function("encode_subscribe", |b| {
        b.iter(|| codec::encode(black_box(&subscribe), black_box(&mut buf)).unwrap())
    });
    let puback = [0x40u8, 2, 0x10, 0x92];
    group.bench_function("decode_puback", |b| {
        b.iter(|| codec::decode(black_box(&puback)).unwrap().1)
    });
    let header = [0x32u8, 0x80, 0x80, 0x01];
    group.bench_function("frame_header", |b| {
        b.iter(|| codec::frame(black_box(&header)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
