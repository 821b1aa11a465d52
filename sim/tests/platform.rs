//! The platform's rules (sim/rules.toml) against the real sim: each rule
//! once, with an independent MQTT client over OpenSSL.

mod common;

use common::{Client, ConnectOptions, Sim};

/// Another process (here: this test) holds the port the embedded broker was
/// about to use. The sim must notice that the listener is not its own and
/// move to another port, instead of relaying devices to a stranger.
#[test]
fn broker_port_taken_by_another_process_is_not_used() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "port-dev");
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port().to_string();
    let server = sim.serve_with_env(&[], &[("IOTKIT_SIM_TEST_BROKER_PORT", &port)]);
    server.wait_log("could not use 127.0.0.1:");
    let (mut client, code) = Client::connect(
        server.mqtt_port,
        &sim.ca(),
        &dev,
        &ConnectOptions::new("sn-port"),
    );
    assert_eq!(code, 0, "{}", server.log());
    assert!(client.next_publish().is_some(), "identity response");
    // The stranger never saw a connection.
    squatter.set_nonblocking(true).unwrap();
    assert!(squatter.accept().is_err(), "the sim connected to the squatter");
}
