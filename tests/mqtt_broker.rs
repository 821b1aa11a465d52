//! The MQTT client against a real mosquitto on 127.0.0.1, with
//! mosquitto_pub/mosquitto_sub as the independent peer.

mod mqtt_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use iotkit::mqtt::{Client, ClientError, Event, Handler, QoS};
use iotkit::state;
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn message_count(recorder: &Recorder, topic: &str) -> usize {
    recorder.count(|s| matches!(s, Seen::Message { topic: t, .. } if t == topic))
}

#[test]
fn publish_and_receive_own_messages() {
    for readiness in [true, false] {
        let broker = Broker::start();
        let recorder = Recorder::default();
        let mut connector = TcpConnector::new(broker.addr(), "own");
        connector.readiness = readiness;
        let client = Client::connect(
            test_options(),
            Box::new(connector),
            Some(recorder.handler()),
            None,
        )
        .unwrap();
        assert!(client.is_connected());
        assert_eq!(recorder.snapshot(), vec![Seen::Connected]);

        let id = client
            .subscribe_sync("own/+", QoS::AtLeastOnce, None, LIMIT)
            .unwrap();
        assert!(id > 0);
        assert_eq!(
            client.publish("own/a", b"zero", QoS::AtMostOnce, false),
            Ok(0)
        );
        let qos1_id = client
            .publish("own/b", b"one", QoS::AtLeastOnce, false)
            .unwrap();
        assert!(qos1_id > 0);
        assert!(yield_until(&client, LIMIT, || {
            recorder.messages().len() == 2
                && recorder.count(|s| *s == Seen::PublishAck(qos1_id)) == 1
        }));
        let mut messages = recorder.messages();
        messages.sort();
        assert_eq!(
            messages,
            vec![
                ("own/a".to_owned(), b"zero".to_vec()),
                ("own/b".to_owned(), b"one".to_vec())
            ]
        );
        // The QoS 1 message arrived with QoS 1 (subscription granted 1).
        assert_eq!(
            recorder.count(|s| matches!(
                s,
                Seen::Message {
                    qos: 1,
                    dup: false,
                    ..
                }
            )),
            1
        );
        client.disconnect();
        assert!(!client.is_connected());
        assert_eq!(
            client.publish("own/a", b"x", QoS::AtLeastOnce, false),
            Err(ClientError::Closed)
        );
        assert_eq!(
            client.yield_for(Duration::from_millis(10)),
            Err(ClientError::Closed)
        );
    }
}

#[test]
fn exchanges_messages_with_mosquitto_tools() {
    let broker = Broker::start();
    let recorder = Recorder::default();
    let client = connect(&broker, "tools", test_options(), &recorder);
    let per_topic = Recorder::default();
    client
        .subscribe_sync("in/#", QoS::AtLeastOnce, Some(per_topic.handler()), LIMIT)
        .unwrap();
    broker.pub_lines("in/x", "hello from mosquitto_pub\n", 1);
    assert!(yield_until(&client, LIMIT, || per_topic.messages().len() == 1));
    assert_eq!(
        per_topic.messages(),
        vec![("in/x".to_owned(), b"hello from mosquitto_pub".to_vec())]
    );
    // Routed to the subscription's handler, not the default one.
    assert_eq!(recorder.messages().len(), 0);

    let sub = broker.sub("out/y", 1, 1);
    wait_for_subscriber(&client, &broker, "out/y");
    client
        .publish("out/y", b"hello mosquitto_sub", QoS::AtLeastOnce, false)
        .unwrap();
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| sub_output(sub));
        while !reader.is_finished() {
            let _ = client.yield_for(Duration::from_millis(20));
        }
        reader.join().unwrap()
    });
    assert_eq!(lines, vec!["hello mosquitto_sub".to_owned()]);
}

/// Serves the client until the mosquitto_sub for `topic` has subscribed.
fn wait_for_subscriber(client: &Client, broker: &Broker, topic: &str) {
    let id = Broker::sub_id(topic);
    assert!(
        yield_until(client, LIMIT, || broker.has_subscribed(&id)),
        "mosquitto_sub did not subscribe"
    );
}

#[test]
fn retained_message_arrives_flagged() {
    let broker = Broker::start();
    broker.pub_message("ret/t", b"kept", 1, true);
    let recorder = Recorder::default();
    let client = connect(&broker, "retain", test_options(), &recorder);
    client
        .subscribe_sync("ret/#", QoS::AtMostOnce, None, LIMIT)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
    assert_eq!(
        recorder.count(
            |s| matches!(s, Seen::Message { retain: true, payload, .. } if payload == b"kept")
        ),
        1
    );
    // Publishing retained ourselves replaces it for the next subscriber.
    client
        .publish("ret/t", b"replaced", QoS::AtLeastOnce, true)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 2));
    let sub = broker.sub("ret/t", 1, 0);
    assert_eq!(sub_output(sub), vec!["replaced".to_owned()]);
}

#[test]
fn large_payload_with_enlarged_buffers() {
    let broker = Broker::start();
    let recorder = Recorder::default();
    let mut options = test_options();
    options.read_buf_size = 70 * 1024;
    options.write_buf_size = 70 * 1024;
    let client = connect(&broker, "large", options, &recorder);
    client
        .subscribe_sync("big", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    client
        .publish("big", &payload, QoS::AtLeastOnce, false)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
    assert_eq!(recorder.messages()[0].1, payload);
}

#[test]
fn oversized_packets_are_refused_or_skipped() {
    let broker = Broker::start();
    let recorder = Recorder::default();
    let mut options = test_options();
    options.read_buf_size = 1024;
    options.write_buf_size = 1024;
    let client = connect(&broker, "oversized", options, &recorder);
    client
        .subscribe_sync("ovr/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();

    let too_big = vec![b'x'; 2000];
    let err = client
        .publish("ovr/out", &too_big, QoS::AtLeastOnce, false)
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::TxBufferTooShort { limit: 1024, .. }
    ));
    assert_eq!(err.state_code(), state::STATE_MQTT_TX_BUFFER_TOO_SHORT);

    // Incoming: a 5000-byte message is skipped, the next one still arrives.
    broker.pub_message("ovr/in", &[b'y'; 5000], 1, false);
    broker.pub_message("ovr/in", b"small", 1, false);
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
    assert_eq!(
        recorder.messages(),
        vec![("ovr/in".to_owned(), b"small".to_vec())]
    );
    let overflows: Vec<Seen> = recorder
        .snapshot()
        .into_iter()
        .filter(|s| matches!(s, Seen::BufferOverflow { .. }))
        .collect();
    assert_eq!(
        overflows,
        vec![Seen::BufferOverflow {
            // header, remaining length, topic "ovr/in", packet id, payload
            needed: 1 + 2 + (2 + 6) + 2 + 5000,
            limit: 1024
        }]
    );
    assert!(client.is_connected());
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
}

#[test]
fn keepalive_pings_keep_an_idle_connection() {
    let broker = Broker::start();
    let recorder = Recorder::default();
    let mut options = test_options();
    // Test-only short keep-alive: mosquitto drops a client silent for 1.5x.
    options.keepalive = Duration::from_secs(2);
    let client = connect(&broker, "pinger", options, &recorder);
    let _ = client.yield_for(Duration::from_millis(4500));
    assert!(client.is_connected());
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    let pings = log.matches("Received PINGREQ from pinger").count();
    assert!(pings >= 3, "expected a ping every second, log had {pings}");
    assert!(log.matches("Sending PINGRESP to pinger").count() >= 3);
}

#[test]
fn qos1_survives_a_broker_restart() {
    let mut broker = Broker::start();
    let recorder = Recorder::default();
    let mut options = test_options();
    options.clean_session = false;
    // Room for everything published while the broker is away.
    options.inflight_window = 300;
    let client = connect(&broker, "survivor", options, &recorder);
    client
        .subscribe_sync("surv/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    let total = 300;
    for i in 0..total {
        if i == 100 {
            broker.stop();
        }
        if i == 200 {
            broker.restart();
        }
        // While the broker is down these are queued (or in flight and resent).
        client
            .publish("surv/n", i.to_string().as_bytes(), QoS::AtLeastOnce, false)
            .unwrap();
        let _ = client.yield_for(Duration::from_millis(if i % 10 == 0 { 20 } else { 0 }));
    }
    let all: BTreeSet<String> = (0..total).map(|i| i.to_string()).collect();
    let received = || -> BTreeSet<String> {
        recorder
            .messages()
            .into_iter()
            .map(|(_, p)| String::from_utf8(p).unwrap())
            .collect()
    };
    assert!(
        yield_until(&client, Duration::from_secs(60), || received() == all),
        "missing: {:?}",
        all.difference(&received()).collect::<Vec<_>>()
    );
    assert!(recorder.count(|s| *s == Seen::Disconnected) >= 1);
    assert!(recorder.count(|s| *s == Seen::Reconnected) >= 1);
    assert!(client.is_connected());
}

#[test]
fn disconnect_during_reconnect_backoff() {
    let mut broker = Broker::start();
    let recorder = Recorder::default();
    let mut options = test_options();
    options.reconnect_min = Duration::from_secs(5);
    options.reconnect_max = Duration::from_secs(10);
    let client = Arc::new(connect(&broker, "quitter", options, &recorder));
    broker.stop();
    assert!(yield_until(&client, LIMIT, || recorder
        .count(|s| *s == Seen::Disconnected)
        == 1));
    assert!(!client.is_connected());
    // QoS 0 is refused offline, QoS 1 queued.
    let err = client
        .publish("q/x", b"lost", QoS::AtMostOnce, false)
        .unwrap_err();
    assert_eq!(err, ClientError::Offline);
    assert_eq!(err.state_code(), state::STATE_MQTT_IN_OFFLINE_STATUS);
    assert!(
        client
            .publish("q/x", b"kept", QoS::AtLeastOnce, false)
            .unwrap()
            > 0
    );

    let yielder = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.yield_for(Duration::from_secs(20)))
    };
    thread::sleep(Duration::from_millis(200));
    client.disconnect();
    assert_eq!(yielder.join().unwrap(), Err(ClientError::Closed));
    assert_eq!(
        client.subscribe("q/#", QoS::AtMostOnce, None),
        Err(ClientError::Closed)
    );
    client.disconnect(); // twice is fine
}

#[test]
fn ten_thousand_messages_each_way() {
    const N: usize = 10_000;
    let broker = Broker::start();
    let recorder = Recorder::default();
    let received = Arc::new(Mutex::new(Vec::<u32>::with_capacity(N)));
    let handler: Handler = {
        let received = Arc::clone(&received);
        Arc::new(move |event: &Event<'_>| {
            if let Event::Message(m) = event {
                let n: u32 = std::str::from_utf8(m.payload).unwrap().parse().unwrap();
                received.lock().unwrap().push(n);
            }
        })
    };
    let client = connect(&broker, "bulk", test_options(), &recorder);
    client
        .subscribe_sync("bulk/in", QoS::AtLeastOnce, Some(handler), LIMIT)
        .unwrap();

    // In: mosquitto_pub sends N lines while we yield.
    let lines: String = (0..N).map(|i| format!("{i}\n")).collect();
    thread::scope(|s| {
        let publisher = s.spawn(|| broker.pub_lines("bulk/in", &lines, 1));
        assert!(yield_until(&client, Duration::from_secs(120), || received
            .lock()
            .unwrap()
            .len()
            >= N));
        publisher.join().unwrap();
    });
    let mut got = received.lock().unwrap().clone();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), N);

    // Out: N QoS 1 publishes, all acknowledged and all seen by mosquitto_sub.
    let sub = broker.sub("bulk/out", N, 1);
    wait_for_subscriber(&client, &broker, "bulk/out");
    thread::scope(|s| {
        let reader = s.spawn(|| sub_output(sub));
        for i in 0..N {
            publish_waiting(
                &client,
                "bulk/out",
                i.to_string().as_bytes(),
                QoS::AtLeastOnce,
            );
            if i % 100 == 0 {
                let _ = client.yield_for(Duration::ZERO);
            }
        }
        assert!(yield_until(&client, Duration::from_secs(120), || recorder
            .count(|s| matches!(s, Seen::PublishAck(_)))
            >= N));
        let lines = reader.join().unwrap();
        let distinct: BTreeSet<usize> = lines.iter().map(|l| l.parse().unwrap()).collect();
        assert_eq!(distinct.len(), N);
    });
    assert_eq!(recorder.count(|s| matches!(s, Seen::PublishTimeout(_))), 0);
}

#[test]
fn threads_publish_while_one_yields_and_handlers_publish() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 500;
    let broker = Broker::start();
    let recorder = Recorder::default();
    // The publishing threads leave half the window to the handler, which
    // cannot wait for room (it runs in the thread that reads the PUBACKs).
    let mut options = test_options();
    options.inflight_window = 1024;
    let client = Arc::new(connect(&broker, "threads", options, &recorder));
    let work = Arc::new(AtomicUsize::new(0));
    let echoes = Arc::new(AtomicUsize::new(0));
    // Handler that publishes (and subscribes) from inside the dispatch.
    let echo_handler: Handler = {
        let client = Arc::downgrade(&client);
        let work = Arc::clone(&work);
        Arc::new(move |event: &Event<'_>| {
            if let (Event::Message(m), Some(client)) = (event, client.upgrade()) {
                work.fetch_add(1, Ordering::SeqCst);
                client
                    .publish("th/echo", m.payload, QoS::AtLeastOnce, false)
                    .unwrap();
                if m.payload == b"0-0" {
                    client.subscribe("th/extra", QoS::AtMostOnce, None).unwrap();
                    assert!(matches!(
                        client.subscribe_sync("th/x", QoS::AtMostOnce, None, LIMIT),
                        Err(ClientError::Reentrant(_))
                    ));
                    assert!(matches!(
                        client.yield_for(Duration::ZERO),
                        Err(ClientError::Reentrant(_))
                    ));
                }
            }
        })
    };
    let echo_counter: Handler = {
        let echoes = Arc::clone(&echoes);
        Arc::new(move |event: &Event<'_>| {
            if matches!(event, Event::Message(_)) {
                echoes.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    client
        .subscribe_sync("th/work", QoS::AtLeastOnce, Some(echo_handler), LIMIT)
        .unwrap();
    client
        .subscribe_sync("th/echo", QoS::AtLeastOnce, Some(echo_counter), LIMIT)
        .unwrap();

    let publishers: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let qos = if i % 2 == 0 {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    };
                    while client.inflight() >= 512 {
                        let _ = client.yield_for(Duration::from_millis(5));
                    }
                    publish_waiting(&client, "th/work", format!("{t}-{i}").as_bytes(), qos);
                    if i % 50 == 0 {
                        // A second thread calling subscribe_sync while the
                        // main thread yields: it waits for the SUBACK.
                        client
                            .subscribe_sync(&format!("th/s{t}"), QoS::AtMostOnce, None, LIMIT)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let expected = THREADS * PER_THREAD;
    assert!(
        yield_until(&client, Duration::from_secs(120), || echoes
            .load(Ordering::SeqCst)
            >= expected),
        "work {} echoes {}",
        work.load(Ordering::SeqCst),
        echoes.load(Ordering::SeqCst)
    );
    for publisher in publishers {
        publisher.join().unwrap();
    }
    assert_eq!(work.load(Ordering::SeqCst), expected);
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
}

#[test]
fn unsubscribe_stops_delivery() {
    let broker = Broker::start();
    let recorder = Recorder::default();
    let client = connect(&broker, "unsub", test_options(), &recorder);
    client
        .subscribe_sync("u/a", QoS::AtMostOnce, None, LIMIT)
        .unwrap();
    client
        .subscribe_sync("u/marker", QoS::AtMostOnce, None, LIMIT)
        .unwrap();
    let id = client.unsubscribe("u/a").unwrap();
    assert!(yield_until(&client, LIMIT, || recorder
        .count(|s| *s == Seen::UnsubscribeAck(id))
        == 1));
    client
        .publish("u/a", b"gone", QoS::AtMostOnce, false)
        .unwrap();
    client
        .publish("u/marker", b"after", QoS::AtMostOnce, false)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || message_count(
        &recorder, "u/marker"
    ) == 1));
    assert_eq!(message_count(&recorder, "u/a"), 0);
}

#[test]
fn concurrent_yielders_subscribers_and_publishers_do_not_deadlock() {
    const MESSAGES: usize = 2000;
    let broker = Broker::start();
    let recorder = Recorder::default();
    let client = Arc::new(connect(&broker, "stress", test_options(), &recorder));
    let received = Arc::new(AtomicUsize::new(0));
    let counter: Handler = {
        let received = Arc::clone(&received);
        Arc::new(move |event: &Event<'_>| {
            if matches!(event, Event::Message(_)) {
                received.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    client
        .subscribe_sync("st/data", QoS::AtLeastOnce, Some(counter), LIMIT)
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    // Two threads competing to serve the connection.
    for _ in 0..2 {
        let (client, stop) = (Arc::clone(&client), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = client.yield_for(Duration::from_millis(5));
            }
        }));
    }
    // Subscription churn on other topics, sync and async.
    {
        let (client, stop) = (Arc::clone(&client), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let filter = format!("st/churn/{}", round % 7);
                let _ = client.subscribe_sync(&filter, QoS::AtMostOnce, None, LIMIT);
                client.unsubscribe(&filter).unwrap();
                client.subscribe(&filter, QoS::AtLeastOnce, None).unwrap();
                round += 1;
            }
        }));
    }
    let publishers: Vec<_> = (0..2)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                for i in 0..MESSAGES / 2 {
                    let qos = if i % 3 == 0 {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    };
                    publish_waiting(&client, "st/data", format!("{t}:{i}").as_bytes(), qos);
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::SeqCst) < MESSAGES && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(received.load(Ordering::SeqCst), MESSAGES);
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
}

/// The library's own TCP transport (with its readiness handle) under the client.
struct NetConnector {
    port: u16,
}

impl iotkit::mqtt::Connector for NetConnector {
    fn open(
        &self,
    ) -> Result<Box<dyn iotkit::transport::Transport>, iotkit::transport::TransportError> {
        iotkit::net::TcpConnection::connect("127.0.0.1", self.port, Duration::from_secs(5))
            .map(|c| Box::new(c) as Box<dyn iotkit::transport::Transport>)
            .map_err(|e| iotkit::transport::TransportError::Failed(e.to_string()))
    }

    fn credentials(&self) -> iotkit::mqtt::Credentials {
        iotkit::mqtt::Credentials {
            client_id: "net-tcp".into(),
            ..Default::default()
        }
    }
}

#[test]
fn works_over_net_tcp_connection_across_a_restart() {
    let mut broker = Broker::start();
    let recorder = Recorder::default();
    let client = Client::connect(
        test_options(),
        Box::new(NetConnector { port: broker.port }),
        Some(recorder.handler()),
        None,
    )
    .unwrap();
    client
        .subscribe_sync("net/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    client
        .publish("net/a", b"before", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 1));
    broker.restart();
    assert!(yield_until(&client, LIMIT, || recorder
        .count(|s| *s == Seen::Reconnected)
        == 1));
    client
        .publish("net/a", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder.messages().len() == 2));
    assert_eq!(recorder.messages()[1].1, b"after");
}
