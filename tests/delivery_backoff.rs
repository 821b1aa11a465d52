//! Reconnect backoff end to end, against a server on 127.0.0.1 that accepts
//! every CONNECT and then drops the device at once (what a platform does to
//! two devices sharing one certificate, or to a disabled device), and one
//! that refuses with CONNACK 5 ("not authorised").

mod mqtt_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use iotkit::mqtt::{Client, Options};
use mqtt_support::*;

/// Accepts connections; answers the first `accept_first` CONNECTs with
/// CONNACK 0 (kept open) and every later one with CONNACK `code`, closing
/// the socket right after. Records when each connection arrived.
fn kicking_server(
    accept_first: usize,
    code: u8,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(Instant::now());
                seen.len()
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 512];
            // One read holds a whole small CONNECT on loopback.
            if stream.read(&mut buf).unwrap_or(0) == 0 {
                continue;
            }
            if n <= accept_first {
                let _ = stream.write_all(&[0x20, 2, 0, 0]);
                // The kick: the server closes the link 50 ms after accepting.
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(50));
                    drop(stream);
                });
            } else {
                let _ = stream.write_all(&[0x20, 2, 0, code]);
                drop(stream);
            }
        }
    });
    (addr, arrivals)
}

fn options() -> Options {
    Options {
        keepalive: Duration::from_secs(30),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(1600),
        ..test_options()
    }
}

#[test]
fn a_server_that_accepts_then_kicks_sees_growing_delays_up_to_the_cap() {
    // CONNACK 0 every time, then the link is dropped 50 ms later.
    let (addr, arrivals) = kicking_server(usize::MAX, 0);
    let recorder = Recorder::default();
    let client = Client::connect(
        options(),
        Box::new(TcpConnector::new(addr, "kicked")),
        Some(recorder.handler()),
        None,
    )
    .expect("first connect");
    assert!(
        yield_until(&client, Duration::from_secs(20), || arrivals
            .lock()
            .unwrap()
            .len()
            >= 7),
        "the device did not keep reconnecting"
    );
    client.disconnect();
    let times = arrivals.lock().unwrap().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Each gap is the 50 ms the link stayed up plus the backoff delay, which
    // doubles per kick from 50..100 ms up to the cap of 800..1600 ms: the link
    // never stayed up for a keep-alive period, so the sequence never starts over.
    let floor = |i: usize| Duration::from_millis((50u64 << i).min(800));
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap >= floor(i),
            "gap {i} is {gap:?}, below {:?}: {gaps:?}",
            floor(i)
        );
        assert!(
            *gap <= Duration::from_millis(1600 + 1000),
            "gap {i} is {gap:?}, over the cap: {gaps:?}"
        );
    }
    assert!(gaps[5] >= Duration::from_millis(800), "{gaps:?}");
}

#[test]
fn connack_not_authorised_backs_off_to_the_cap() {
    // The first CONNECT is accepted (Client::connect needs it), every later
    // one refused with return code 5.
    let (addr, arrivals) = kicking_server(1, 5);
    let recorder = Recorder::default();
    let client = Client::connect(
        options(),
        Box::new(TcpConnector::new(addr, "refused")),
        Some(recorder.handler()),
        None,
    )
    .expect("first connect");
    assert!(
        yield_until(&client, Duration::from_secs(20), || arrivals
            .lock()
            .unwrap()
            .len()
            >= 4),
        "the device did not retry"
    );
    client.disconnect();
    let times = arrivals.lock().unwrap().clone();
    // Arrival 1 -> 2 is the first backoff after the kick (small); after the
    // refusal at arrival 2 every delay is at the cap (800..1600 ms).
    for i in 2..times.len() {
        let gap = times[i] - times[i - 1];
        assert!(
            gap >= Duration::from_millis(800),
            "gap before arrival {i}: {gap:?}"
        );
    }
}

#[test]
fn stop_reconnecting_leaves_a_lost_link_down() {
    let (addr, arrivals) = kicking_server(usize::MAX, 0);
    let recorder = Recorder::default();
    let client = Client::connect(
        options(),
        Box::new(TcpConnector::new(addr, "disabled")),
        Some(recorder.handler()),
        None,
    )
    .expect("first connect");
    client.stop_reconnecting();
    assert!(
        yield_until(&client, Duration::from_secs(10), || {
            recorder.count(|s| *s == Seen::Disconnected) == 1
        }),
        "the kick was not reported"
    );
    // Well past several backoff delays (50..100 ms first): no new attempt.
    let _ = client.yield_for(Duration::from_millis(1500));
    assert!(!client.is_connected());
    assert_eq!(arrivals.lock().unwrap().len(), 1, "the client reconnected");
    assert_eq!(recorder.count(|s| *s == Seen::Reconnected), 0);
}
