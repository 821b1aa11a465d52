//! After a reconnect with CONNACK "session present", the client does not
//! subscribe again (mosquitto, persistent session across a broker restart):
//! re-subscribing would make the broker deliver retained messages again.

mod mqtt_support;

use std::time::Duration;

use iotkit::mqtt::QoS;
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(20);

fn subscribes_logged(broker: &Broker, client_id: &str) -> usize {
    std::fs::read_to_string(broker.log_path())
        .unwrap_or_default()
        .matches(&format!("Received SUBSCRIBE from {client_id}\n"))
        .count()
}

#[test]
fn a_resumed_session_is_not_subscribed_again() {
    let mut broker = Broker::start();
    broker.pub_message("kept/state", b"retained", 1, true);
    let recorder = Recorder::default();
    let mut options = test_options();
    options.clean_session = false;
    let id = "resumer";
    let client = connect(&broker, id, options, &recorder);
    client
        .subscribe_sync("kept/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    let retained = |r: &Recorder| {
        r.count(|s| matches!(s, Seen::Message { payload, .. } if payload == b"retained"))
    };
    assert!(yield_until(&client, LIMIT, || retained(&recorder) == 1));

    broker.restart();
    assert!(
        yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::Reconnected)
            == 1),
        "no reconnect: {:?}",
        recorder.snapshot()
    );
    // The broker still routes the topic to the device (the session kept the
    // subscription), and nothing was subscribed again.
    broker.pub_message("kept/live", b"after", 1, false);
    assert!(
        yield_until(&client, LIMIT, || recorder.count(
            |s| matches!(s, Seen::Message { payload, .. } if payload == b"after")
        ) == 1),
        "{:?}",
        recorder.snapshot()
    );
    assert_eq!(subscribes_logged(&broker, id), 1);
    assert_eq!(retained(&recorder), 1, "the retained message came again");
    client.disconnect();
}

#[test]
fn a_fresh_session_is_subscribed_again() {
    // clean_session = 1: the broker forgets the subscription, the client
    // must send it again after the reconnect.
    let mut broker = Broker::start();
    let recorder = Recorder::default();
    let id = "fresh";
    let client = connect(&broker, id, test_options(), &recorder);
    client
        .subscribe_sync("fresh/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();
    broker.restart();
    assert!(yield_until(&client, LIMIT, || {
        recorder.count(|s| *s == Seen::Reconnected) == 1 && subscribes_logged(&broker, id) == 2
    }));
    broker.pub_message("fresh/live", b"after", 1, false);
    assert!(yield_until(&client, LIMIT, || recorder.count(
        |s| matches!(s, Seen::Message { payload, .. } if payload == b"after")
    ) == 1));
    client.disconnect();
}
