//! Heap allocations of the MQTT session per message in steady state,
//! counted per thread by this test binary's global allocator. Target: zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use iotkit_core::mqtt::codec::{self, ConnAck, Packet, Publish};
use iotkit_core::mqtt::session::{Config, Event, QoS, Session};

struct Counting;

thread_local! {
    /// Allocations made by this thread: each test counts its own, so the
    /// harness and other tests running beside it are never counted.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: `ptr` came from `System` with `layout`, as GlobalAlloc requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; codec::encoded_len(packet).unwrap()];
    codec::encode(packet, &mut bytes).unwrap();
    bytes
}

/// One round: a QoS 1 and a QoS 0 publish out, their PUBACK in, a QoS 1
/// message in and its PUBACK out, the timers run. Returns packets written
/// and events seen.
fn round(session: &mut Session, now: u64, incoming: &[u8], payload: &[u8]) -> (usize, usize) {
    let id = session
        .publish(
            "/sys/pk/dn/thing/event/property/post",
            payload,
            QoS::AtLeastOnce,
            false,
        )
        .unwrap();
    session
        .publish(
            "/sys/pk/dn/thing/event/property/post",
            payload,
            QoS::AtMostOnce,
            false,
        )
        .unwrap();
    let mut written = 0;
    while let Some(bytes) = session.poll_transmit(now) {
        written += bytes.len().min(1);
    }
    let ack = [0x40, 0x02, (id >> 8) as u8, id as u8];
    session.receive(&ack);
    session.receive(incoming);
    let mut events = 0;
    while let Some(event) = session.poll_event() {
        if let Event::Message(m) = event {
            assert_eq!(m.payload.len(), payload.len());
        }
        events += 1;
    }
    while session.poll_transmit(now).is_some() {
        written += 1;
    }
    session.handle_timeout(now);
    let _ = session.next_deadline();
    (written, events)
}

#[test]
fn no_allocation_per_message_in_steady_state() {
    let mut session = Session::new(Config::new("pk.dn|timestamp=1|")).unwrap();
    session.connect(0).unwrap();
    while session.poll_transmit(0).is_some() {}
    session.receive(&encode(&Packet::ConnAck(ConnAck {
        session_present: false,
        return_code: 0,
    })));
    while session.poll_event().is_some() {}
    let payload = vec![0x5Au8; 256];
    let incoming = encode(&Packet::Publish(Publish {
        topic: "/pk/dn/user/get",
        payload: &payload,
        qos: 1,
        dup: false,
        retain: false,
        packet_id: 42,
    }));
    for i in 0..200 {
        round(&mut session, i, &incoming, &payload);
    }
    let before = allocations();
    const ROUNDS: u64 = 5_000;
    let mut totals = (0, 0);
    for i in 0..ROUNDS {
        let (w, e) = round(&mut session, 200 + i, &incoming, &payload);
        totals.0 += w;
        totals.1 += e;
    }
    let allocations = allocations() - before;
    assert_eq!(totals, (3 * ROUNDS as usize, 2 * ROUNDS as usize));
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in {ROUNDS} rounds of 3 messages"
    );
}

/// A driver reads into a buffer of the packet limit and hands each read
/// over whole, so packets arrive split anywhere: an unread rest of one
/// packet plus a full read must fit the read buffer the session starts
/// with, with no growth later (it grew at some unlucky split before).
#[test]
fn reads_of_the_packet_limit_split_anywhere_never_grow_the_read_buffer() {
    const LIMIT: usize = 1024;
    let mut config = Config::new("reads");
    config.max_incoming_packet_size = LIMIT;
    let mut session = Session::new(config).unwrap();
    session.connect(0).unwrap();
    while session.poll_transmit(0).is_some() {}
    session.receive(&encode(&Packet::ConnAck(ConnAck {
        session_present: false,
        return_code: 0,
    })));
    while session.poll_event().is_some() {}
    // Messages of sizes near the limit, back to back.
    let mut stream = Vec::new();
    for i in 0..200usize {
        let payload = vec![b'p'; LIMIT - 40 - (i * 37) % 300];
        stream.extend(encode(&Packet::Publish(Publish {
            topic: "in/t",
            payload: &payload,
            qos: 0,
            dup: false,
            retain: false,
            packet_id: 0,
        })));
    }
    let before = allocations();
    let mut messages = 0;
    for chunk in stream.chunks(LIMIT) {
        session.receive(chunk);
        while let Some(event) = session.poll_event() {
            if matches!(event, Event::Message(_)) {
                messages += 1;
            }
        }
    }
    let allocations = allocations() - before;
    assert_eq!(messages, 200);
    assert_eq!(allocations, 0, "{allocations} allocations while receiving");
}
