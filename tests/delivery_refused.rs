//! A QoS 1 publish the broker refuses, end to end against mosquitto with
//! `max_packet_size`: mosquitto drops the connection on such a packet, so a
//! client that resends it first after every reconnect never gets a later
//! publish through. It must be given up after a bounded number of attempts
//! (a publish-timeout event and a state event), and the later ones delivered.

mod mqtt_support;

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use iotkit::events::{self, Registration};
use iotkit::mqtt::client::MAX_PUBLISH_RESENDS;
use iotkit::mqtt::{ClientError, QoS};
use iotkit::state;
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(30);

static STATE_EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

fn record_state_events() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let handler = events::Handler::State(Arc::new(|code, message: &str| {
            STATE_EVENTS
                .lock()
                .unwrap()
                .push((code, message.to_owned()));
        }));
        events::register(
            events::state_area(state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX),
            Some(Registration {
                address: 1,
                handler,
            }),
        );
    });
}

#[test]
fn a_refused_qos1_publish_is_given_up_and_later_ones_get_through() {
    record_state_events();
    let broker = Broker::start_with("max_packet_size 1000\n");
    let recorder = Recorder::default();
    let client = connect(&broker, "refused-pub", test_options(), &recorder);
    client.give_up_refused_publishes(true);
    let topic = "refused/later";
    let sub = broker.sub(topic, 10, 1);
    assert!(
        yield_until(&client, LIMIT, || broker
            .has_subscribed(&Broker::sub_id(topic))),
        "mosquitto_sub did not subscribe"
    );

    let big = client
        .publish(topic, &[b'x'; 2000], QoS::AtLeastOnce, false)
        .expect("queued");
    let mut later = Vec::new();
    for i in 0..10 {
        later.push(
            client
                .publish(topic, format!("m{i}").as_bytes(), QoS::AtLeastOnce, false)
                .expect("queued"),
        );
    }
    let acked = |id: u16| recorder.count(|s| *s == Seen::PublishAck(id)) == 1;
    assert!(
        yield_until(&client, LIMIT, || {
            recorder.count(|s| *s == Seen::PublishTimeout(big)) == 1
                && later.iter().all(|&id| acked(id))
        }),
        "not given up or later publishes not acknowledged: {:?}",
        recorder.snapshot()
    );
    let lines = sub_output(sub);
    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(lines, expected);
    // Given up exactly once, after at most MAX_PUBLISH_RESENDS + 1 kicks
    // (a reconnect whose resends are cut short by the kick still counts);
    // the link has stayed up since.
    let seen = recorder.snapshot();
    assert_eq!(recorder.count(|s| *s == Seen::PublishTimeout(big)), 1);
    let kicks = recorder.count(|s| *s == Seen::Disconnected);
    assert!(
        (1..=MAX_PUBLISH_RESENDS as usize + 1).contains(&kicks),
        "{kicks} kicks: {seen:?}"
    );
    let timeout_at = seen.iter().position(|s| *s == Seen::PublishTimeout(big));
    let last_kick = seen.iter().rposition(|s| *s == Seen::Disconnected);
    assert!(last_kick < timeout_at, "{seen:?}");
    assert!(client.is_connected());
    let given_up: Vec<_> = STATE_EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(code, message)| {
            *code == state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX
                && message.contains(&format!("publish {big} given up"))
        })
        .cloned()
        .collect();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    client.disconnect();
}

#[test]
fn a_packet_over_the_configured_maximum_is_refused_before_sending() {
    let broker = Broker::start_with("max_packet_size 1000\n");
    let recorder = Recorder::default();
    let client = connect(&broker, "max-packet", test_options(), &recorder);
    client.set_max_packet_size(1000);
    assert_eq!(client.max_packet_size(), 1000);
    let error = client
        .publish("t/big", &[b'x'; 2000], QoS::AtLeastOnce, false)
        .unwrap_err();
    assert!(
        matches!(error, ClientError::TxBufferTooShort { limit: 1000, .. }),
        "{error:?}"
    );
    assert_eq!(error.state_code(), state::STATE_MQTT_TX_BUFFER_TOO_SHORT);
    // Nothing went out: the link stays up and a small publish is acknowledged.
    let id = client
        .publish("t/small", b"ok", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(yield_until(&client, LIMIT, || recorder
        .count(|s| *s == Seen::PublishAck(id))
        == 1));
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
    client.disconnect();
}
