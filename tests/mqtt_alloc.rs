//! Heap allocations per published and per received message in steady
//! state, counted by a global allocator in this test binary. Target: zero.

mod mqtt_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iotkit::mqtt::codec::{self, Connect, Packet, Publish};
use iotkit::mqtt::{Client, Event, Handler, QoS};
use mqtt_support::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`, as GlobalAlloc requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 2000;
const LIMIT: Duration = Duration::from_secs(60);

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// Counts messages and acks without allocating.
fn counting_handler(messages: &Arc<AtomicUsize>, acks: &Arc<AtomicUsize>) -> Handler {
    let messages = Arc::clone(messages);
    let acks = Arc::clone(acks);
    Arc::new(move |event: &Event<'_>| match event {
        Event::Message(_) => {
            messages.fetch_add(1, Ordering::SeqCst);
        }
        Event::PublishAck { .. } => {
            acks.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    })
}

/// A bare MQTT publisher on a raw socket: its pre-encoded packets are
/// written without allocating in this process.
fn raw_publisher(broker: &Broker, qos: u8, pass: usize, count: usize) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(broker.addr()).unwrap();
    let mut buf = vec![0u8; 256];
    let n = codec::encode(
        &Packet::Connect(Connect {
            client_id: &format!("raw-{qos}-{pass}"),
            keep_alive: 60,
            clean_session: true,
            username: None,
            password: None,
            will: None,
        }),
        &mut buf,
    )
    .unwrap();
    stream.write_all(&buf[..n]).unwrap();
    let mut packets = Vec::new();
    for i in 0..count {
        let payload = format!("m{i:06}");
        let mut one = [0u8; 64];
        let n = codec::encode(
            &Packet::Publish(Publish {
                topic: "alloc/in",
                payload: payload.as_bytes(),
                qos,
                dup: false,
                retain: false,
                packet_id: if qos > 0 { (i % 60000 + 1) as u16 } else { 0 },
            }),
            &mut one,
        )
        .unwrap();
        packets.extend_from_slice(&one[..n]);
    }
    (stream, packets)
}

fn yield_until_count(client: &Client, counter: &AtomicUsize, target: usize) {
    let deadline = std::time::Instant::now() + LIMIT;
    while counter.load(Ordering::SeqCst) < target {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out at {}",
            counter.load(Ordering::SeqCst)
        );
        let _ = client.yield_for(Duration::from_millis(20));
    }
}

#[test]
fn steady_state_allocations_per_message() {
    let broker = Broker::start();
    let messages = Arc::new(AtomicUsize::new(0));
    let acks = Arc::new(AtomicUsize::new(0));
    let client = Client::connect(
        test_options(),
        Box::new(TcpConnector::new(broker.addr(), "alloc")),
        Some(counting_handler(&messages, &acks)),
        None,
    )
    .unwrap();
    client
        .subscribe_sync("alloc/in", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    let payload = [0x42u8; 100];

    // Each phase runs twice: the first pass grows buffers, pools and tables
    // to their steady size for that traffic pattern, the second is counted.
    let mut counts = [0usize; 4];
    for pass in 0..2 {
        let before = allocations();
        for i in 0..N {
            client
                .publish("alloc/out", &payload, QoS::AtMostOnce, false)
                .unwrap();
            if i % 100 == 0 {
                let _ = client.yield_for(Duration::ZERO);
            }
        }
        let qos0_publish = allocations() - before;

        let acked = acks.load(Ordering::SeqCst);
        let before = allocations();
        // Batches of 32 with all acks in between: at most 32 in flight in
        // both passes (half the test's inflight window), so the second
        // needs no more buffers.
        for i in 0..N {
            client
                .publish("alloc/out", &payload, QoS::AtLeastOnce, false)
                .unwrap();
            if i % 32 == 31 {
                yield_until_count(&client, &acks, acked + i + 1);
            }
        }
        yield_until_count(&client, &acks, acked + N);
        let qos1_publish = allocations() - before;

        let mut received = [0usize; 2];
        for qos in [0u8, 1] {
            let (mut publisher, packets) = raw_publisher(&broker, qos, pass, N);
            let target = messages.load(Ordering::SeqCst) + N;
            let before = allocations();
            publisher.write_all(&packets).unwrap();
            yield_until_count(&client, &messages, target);
            received[usize::from(qos)] = allocations() - before;
        }
        counts = [qos0_publish, qos1_publish, received[0], received[1]];
    }
    let [qos0_publish, qos1_publish, received0, received1] = counts;
    let received = [received0, received1];

    eprintln!(
        "allocations for {N} messages: publish QoS0 {qos0_publish}, publish QoS1 {qos1_publish} \
         (incl. PUBACK handling), receive QoS0 {}, receive QoS1 {} (incl. sending PUBACK)",
        received[0], received[1]
    );
    // The second pass of each phase allocates nothing at all.
    for (what, count) in [
        ("publish QoS0", qos0_publish),
        ("publish QoS1", qos1_publish),
        ("receive QoS0", received[0]),
        ("receive QoS1", received[1]),
    ] {
        assert_eq!(count, 0, "{what}: {count} allocations for {N} messages");
    }
}
