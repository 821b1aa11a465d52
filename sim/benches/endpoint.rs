//! Endpoint speed against a running sim: a device's full connect (mutual TLS,
//! CONNECT checks, broker CONNECT, identity response) and a publish round
//! trip through the endpoint and the embedded broker.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Client, ConnectOptions, Sim};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_endpoint(c: &mut Criterion) {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let ec = sim.device(&pk, "bench-ec");
    let rsa = common::Creds::from_json(&sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        "bench-rsa",
    ]));
    // The relay round trip echoes on a class of its own (publish and subscribe).
    sim.ok(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/echo",
        "--access",
        "ALL",
    ]);
    let server = sim.serve(&[]);
    let port = server.mqtt_port;
    let ca = sim.ca();

    let mut group = c.benchmark_group("endpoint");
    group.sample_size(30);
    for (label, creds) in [("ec_p256", &ec), ("rsa_2048", &rsa)] {
        group.bench_function(format!("connect_identity_{label}"), |b| {
            b.iter(|| {
                let (mut client, code) =
                    Client::connect(port, &ca, creds, &ConnectOptions::new("bench"));
                assert_eq!(code, 0);
                client.next_publish().expect("identity response");
                client.disconnect();
            })
        });
    }

    let (mut client, code) = Client::connect(port, &ca, &ec, &ConnectOptions::new("bench-relay"));
    assert_eq!(code, 0);
    client.next_publish().expect("identity response");
    let topic = format!("/{pk}/bench-ec/user/echo");
    assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
    for size in [64usize, 4096] {
        let payload = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("publish_round_trip_{size}"), |b| {
            b.iter(|| {
                client.publish(&topic, &payload, 0, 0);
                let (_, got) = client.next_publish().expect("echo");
                assert_eq!(got.len(), size);
            })
        });
    }
    group.finish();
    client.disconnect();
}

criterion_group!(benches, bench_endpoint);
criterion_main!(benches);
