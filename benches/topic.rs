//! Topic filter validation and matching speed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use iotkit::mqtt::topic;

const TOPIC: &str = "/sys/a1B2c3D4e5F/device-0001/thing/event/property/post_reply";

fn bench_topic(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic");
    for (name, filter) in [
        ("exact", TOPIC),
        ("single_level", "/sys/+/+/thing/event/property/post_reply"),
        ("multi_level", "/sys/a1B2c3D4e5F/device-0001/#"),
        (
            "mismatch_early",
            "/ota/device/upgrade/a1B2c3D4e5F/device-0001",
        ),
    ] {
        group.bench_function(format!("match_{name}"), |b| {
            b.iter(|| topic::matches(black_box(filter), black_box(TOPIC)))
        });
    }
    // A device's typical subscription table, scanned for every message.
    let table: Vec<String> = (0..32)
        .map(|i| format!("/sys/a1B2c3D4e5F/device-0001/thing/service/s{i}"))
        .chain(["/sys/a1B2c3D4e5F/device-0001/thing/event/+/post_reply".to_owned()])
        .collect();
    group.bench_function("scan_33_filters", |b| {
        b.iter(|| {
            table
                .iter()
                .filter(|f| topic::matches(f, black_box(TOPIC)))
                .count()
        })
    });
    group.bench_function("validate_filter", |b| {
        b.iter(|| topic::validate_topic_filter(black_box("/sys/+/device-0001/thing/#")))
    });
    group.bench_function("validate_name", |b| {
        b.iter(|| topic::validate_topic_name(black_box(TOPIC)))
    });
    group.finish();
}

criterion_group!(benches, bench_topic);
criterion_main!(benches);
