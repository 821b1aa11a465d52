//! Transport errors are typed end to end: a write that fails on a live
//! connection to mosquitto is reported as a write failure (not as a read
//! error), once, and the client reconnects.

mod mqtt_support;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use iotkit::events::{self, Registration};
use iotkit::mqtt::{Client, Connector, Credentials, QoS};
use iotkit::state;
use iotkit::transport::{Transport, TransportError};
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(20);

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
            events::state_area(state::STATE_SYS_DEPEND_NWK_CLOSE),
            Some(Registration {
                address: 1,
                handler,
            }),
        );
    });
}

/// Real TCP to the broker whose writes fail while `fail_writes` is set
/// (what a socket does when the peer's host vanished: reads may still
/// time out quietly, the write reports the error).
struct FailingWrites {
    inner: Tcp,
    fail_writes: Arc<AtomicBool>,
}

impl Transport for FailingWrites {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.inner.read(buf, timeout)
    }

    fn write(&mut self, buf: &[u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.fail_writes.swap(false, Ordering::AcqRel) {
            return Err(TransportError::Failed("the network is unreachable".into()));
        }
        self.inner.write(buf, timeout)
    }

    fn readiness_handle(&self) -> Option<TcpStream> {
        self.inner.readiness_handle()
    }
}

struct FailingConnector {
    addr: SocketAddr,
    fail_writes: Arc<AtomicBool>,
}

impl Connector for FailingConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        Ok(Box::new(FailingWrites {
            inner: Tcp::connect(self.addr, true)?,
            fail_writes: Arc::clone(&self.fail_writes),
        }))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: "failing-writes".into(),
            username: String::new(),
            password: Vec::new(),
        }
    }
}

#[test]
fn a_failed_write_is_reported_as_a_write_failure() {
    record_state_events();
    let broker = Broker::start();
    let fail_writes = Arc::new(AtomicBool::new(false));
    let recorder = Recorder::default();
    let client = Client::connect(
        test_options(),
        Box::new(FailingConnector {
            addr: broker.addr(),
            fail_writes: Arc::clone(&fail_writes),
        }),
        Some(recorder.handler()),
        None,
    )
    .expect("connects");
    fail_writes.store(true, Ordering::Release);
    // Queued for the reconnect: the write failed, the publish is kept.
    let id = client
        .publish("t/write", b"kept", QoS::AtLeastOnce, false)
        .expect("a QoS 1 publish is queued even when its write fails");
    assert!(
        yield_until(&client, LIMIT, || {
            recorder.count(|s| *s == Seen::Reconnected) == 1
                && recorder.count(|s| *s == Seen::PublishAck(id)) == 1
        }),
        "{:?}",
        recorder.snapshot()
    );
    let lost: Vec<_> = STATE_EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.starts_with("MQTT connection lost"))
        .cloned()
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let (code, message) = &lost[0];
    assert_eq!(*code, state::STATE_SYS_DEPEND_NWK_CLOSE, "{message}");
    assert!(
        message.contains("writing to the MQTT connection failed: ")
            && message.contains("the network is unreachable"),
        "{message}"
    );
    assert!(!message.contains("reading"), "{message}");
    client.disconnect();
}
