//! The MQTT client over the library's mutual-TLS transport to mosquitto:
//! many small messages arrive in few TLS records, so the client must use
//! the transport's `buffered()` count and not only the socket's readiness.

mod mqtt_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use iotkit::mqtt::{Client, Connector, Credentials, QoS};
use iotkit::tls::{self, ClientCredentials, TlsConfig};
use iotkit::transport::{Transport, TransportError};
use mqtt_support::{publish_waiting, yield_until, Recorder, Seen};
use support::{peers, pki};

const LIMIT: Duration = Duration::from_secs(60);

struct TlsConnector {
    port: u16,
    config: TlsConfig,
}

impl Connector for TlsConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        tls::connect(
            "localhost",
            self.port,
            &self.config,
            Duration::from_secs(10),
        )
        .map(|c| Box::new(c) as Box<dyn Transport>)
        .map_err(|e| TransportError::Failed(e.to_string()))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: "mqtt-over-tls".into(),
            ..Default::default()
        }
    }
}

#[test]
fn publish_and_receive_over_mutual_tls() {
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let creds = Arc::new(
        ClientCredentials::from_pem_or_der(
            &pki.read("client_ec.crt"),
            &pki.read("client_ec.key"),
            None,
        )
        .unwrap(),
    );
    let config = TlsConfig::new(&pki.read("ca.crt"), Some(creds)).unwrap();
    let recorder = Recorder::default();
    let mut options = mqtt_support::test_options();
    options.read_buf_size = 32 * 1024;
    options.write_buf_size = 32 * 1024;
    let client = Client::connect(
        options,
        Box::new(TlsConnector {
            port: broker.port,
            config,
        }),
        Some(recorder.handler()),
        None,
    )
    .unwrap_or_else(|e| panic!("connect: {e}\n{}", broker.output()));
    client
        .subscribe_sync("tls/#", QoS::AtLeastOnce, None, LIMIT)
        .unwrap();

    const N: usize = 1000;
    for i in 0..N {
        publish_waiting(
            &client,
            "tls/small",
            i.to_string().as_bytes(),
            QoS::AtLeastOnce,
        );
    }
    let big: Vec<u8> = (0..20_000).map(|i| (i % 253) as u8).collect();
    publish_waiting(&client, "tls/big", &big, QoS::AtLeastOnce);
    assert!(
        yield_until(&client, LIMIT, || recorder.messages().len() == N + 1
            && recorder.count(|s| matches!(s, Seen::PublishAck(_))) == N + 1),
        "got {} messages",
        recorder.messages().len()
    );
    let messages = recorder.messages();
    let small: Vec<String> = messages
        .iter()
        .filter(|(t, _)| t == "tls/small")
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect();
    assert_eq!(small, (0..N).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(messages.iter().any(|(t, p)| t == "tls/big" && *p == big));
    assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
    client.disconnect();
}
