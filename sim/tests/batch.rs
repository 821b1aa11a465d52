//! Batch creation under a hard kill, and the 10,000-device batch.

mod common;

use common::Sim;
use std::time::Instant;

fn device_count(sim: &Sim, pk: &str) -> usize {
    sim.json(&["device", "list", "--product", pk])
        .as_array()
        .unwrap()
        .len()
}

/// kill -9 at many points of a batch: the registry holds all of it or none.
#[test]
fn kill_during_batch_leaves_consistent_registry() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let count = 1500;
    let count_text = count.to_string();
    let args = [
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        &count_text,
        "--key-type",
        "ec-p256",
    ];

    // Measure one uninterrupted run to spread the kills over its duration.
    let started = Instant::now();
    sim.ok(&args);
    let full = started.elapsed();
    let mut expected = count;
    assert_eq!(device_count(&sim, &pk), expected);

    for step in 1..=6u32 {
        let mut child = sim
            .command(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * step / 6);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let found = device_count(&sim, &pk);
        if status.success() {
            expected += count;
        }
        assert!(
            found == expected || found == expected + count,
            "after kill at step {step}: {found} devices, expected {expected} or {}",
            expected + count
        );
        expected = found;
        let check = sim.ok(&["check", "--json"]);
        assert!(check.contains("\"ok\": true"), "{check}");
    }
    // The registry still accepts work afterwards.
    sim.ok(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "2",
        "--key-type",
        "ec-p256",
    ]);
    assert_eq!(device_count(&sim, &pk), expected + 2);
}

/// kill -9 while the batch's transaction is open, half of its rows written:
/// none of them may survive.
#[test]
fn kill_inside_the_batch_transaction_rolls_it_back() {
    use std::io::{BufRead, BufReader};
    let sim = Sim::new();
    let pk = sim.product("x509");
    sim.ok(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "3",
        "--key-type",
        "ec-p256",
    ]);
    let mut child = sim
        .command(&[
            "device",
            "batch",
            "--product",
            &pk,
            "--count",
            "40",
            "--key-type",
            "ec-p256",
        ])
        .env("IOTKIT_SIM_TEST_PAUSE_IN_BATCH_MS", "30000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reached = stderr
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("pausing inside the batch transaction"));
    assert!(reached, "the batch never reached its transaction");
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(
        device_count(&sim, &pk),
        3,
        "the killed batch must leave no devices"
    );
    assert_eq!(
        sim.json(&["device", "batches"]).as_array().unwrap().len(),
        1
    );
    assert!(sim.ok(&["check"]).contains("registry OK (3 devices)"));
    // Readers and writers carry on (the hot journal was rolled back).
    sim.ok(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "2",
        "--key-type",
        "ec-p256",
    ]);
    assert_eq!(device_count(&sim, &pk), 5);
}

/// 10,000 RSA-2048 devices (the platform's limit). Slow: run with
/// `cargo test --release -p iotkit-sim --test batch -- --ignored --nocapture`.
#[test]
#[ignore]
fn batch_of_ten_thousand_devices() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    for key_type in ["ec-p256", "rsa-2048"] {
        let started = Instant::now();
        let v = sim.json(&[
            "device",
            "batch",
            "--product",
            &pk,
            "--count",
            "10000",
            "--key-type",
            key_type,
        ]);
        let elapsed = started.elapsed();
        eprintln!(
            "batch of 10000 {key_type} devices: {:.1} s",
            elapsed.as_secs_f64()
        );
        let csv = std::fs::read_to_string(v["csvFile"].as_str().unwrap()).unwrap();
        assert_eq!(csv.lines().count(), 10_001);
    }
    assert!(sim.ok(&["check"]).contains("registry OK (20000 devices)"));
}
