//! A TLS write that times out part-way never loses bytes, whatever outgoing
//! record size mbedTLS was built with: the write path cuts its chunks at the
//! size mbedTLS reports at run time (`mbedtls_ssl_get_max_out_record_payload`),
//! so the chunk it counts as sent when a send blocks is the chunk mbedTLS
//! really took. ctest runs this test twice: in the normal build (4 KiB
//! records) and, as `tls_record_size_2048`, with mbedTLS built with
//! `-DMBEDTLS_SSL_OUT_CONTENT_LEN=2048`, where a fixed 4 KiB chunk lost 2 KiB
//! on every timed-out write.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use iotkit::mqtt::codec::{self, Packet, Publish, Subscribe, SubscribeFilters};
use iotkit::tls::{self, ClientCredentials, TlsConfig};
use iotkit::transport::Transport;
use support::peers::{self, MQTT_CONNACK_ACCEPTED};
use support::pki;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Pauses the client-to-server direction of a relay on request.
#[derive(Default)]
struct Valve {
    closed: Mutex<bool>,
    changed: Condvar,
}

impl Valve {
    fn set(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.changed.notify_all();
    }

    fn wait_open(&self) {
        let mut closed = self.closed.lock().unwrap();
        while *closed {
            closed = self.changed.wait(closed).unwrap();
        }
    }
}

/// Relays one connection to `server_port`; while the valve is closed it
/// stops reading from the client, whose socket then fills up. The accepted
/// socket has a small receive buffer so that happens quickly.
fn stalling_relay(server_port: u16, valve: Arc<Valve>) -> u16 {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    let listener: TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut from_server, mut to_client) =
            (server.try_clone().unwrap(), client.try_clone().unwrap());
        std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
        let mut chunk = [0u8; 4096];
        loop {
            valve.wait_open();
            match client.read(&mut chunk) {
                Ok(n @ 1..) if server.write_all(&chunk[..n]).is_ok() => {}
                _ => break,
            }
        }
    });
    port
}

fn read_exactly(conn: &mut dyn Transport, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = iotkit::net::read_full_or_timeout(conn, &mut buf, TIMEOUT).expect("read");
    assert_eq!(
        got, n,
        "{got} of {n} bytes came back: the broker received a damaged stream and dropped the connection"
    );
    buf
}

#[test]
fn a_write_that_times_out_on_a_stalled_link_loses_no_bytes() {
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let valve = Arc::new(Valve::default());
    let relay_port = stalling_relay(broker.port, valve.clone());
    let credentials = Arc::new(
        ClientCredentials::from_pem_or_der(
            &pki.read("client_ec.crt"),
            &pki.read("client_ec.key"),
            None,
        )
        .expect("test credentials parse"),
    );
    let config = TlsConfig::new(&pki.read("ca.crt"), Some(credentials)).expect("CA parses");
    let mut conn = tls::connect("127.0.0.1", relay_port, &config, TIMEOUT)
        .unwrap_or_else(|e| panic!("connect: {e}\nbroker log:\n{}", broker.output()));
    let connect = peers::mqtt_connect_packet("record_size");
    assert_eq!(conn.write(&connect, TIMEOUT), Ok(connect.len()));
    assert_eq!(read_exactly(&mut conn, 4), MQTT_CONNACK_ACCEPTED);
    let mut packet = vec![0u8; 8 * 1024 * 1024 + 64];
    let filters = [("records/stalled", 0u8)];
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: SubscribeFilters::List(&filters),
    });
    let n = codec::encode(&subscribe, &mut packet).unwrap();
    assert_eq!(conn.write(&packet[..n], TIMEOUT), Ok(n));
    assert_eq!(read_exactly(&mut conn, 5), [0x90, 0x03, 0x00, 0x01, 0x00]);

    // 8 MiB publish (more than loopback socket buffers hold), written with
    // short timeouts while the relay stalls: the writes time out part-way,
    // each reporting what it took.
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let publish = Packet::Publish(Publish {
        topic: "records/stalled",
        payload: &payload,
        qos: 0,
        dup: false,
        retain: false,
        packet_id: 0,
    });
    let n = codec::encode(&publish, &mut packet).unwrap();
    valve.set(true);
    let mut sent = 0;
    let mut timed_out_writes = 0;
    let deadline = Instant::now() + TIMEOUT;
    while sent < n {
        assert!(
            Instant::now() < deadline,
            "only {sent} of {n} bytes written"
        );
        let rest = n - sent;
        let took = conn
            .write(&packet[sent..n], Duration::from_millis(30))
            .expect("write");
        sent += took;
        if took < rest {
            timed_out_writes += 1;
            if timed_out_writes == 3 {
                valve.set(false);
            }
        }
    }
    valve.set(false);
    assert!(
        timed_out_writes >= 3,
        "the stalled link never made a write time out"
    );
    // The broker decrypted a well-formed stream: the echo is byte for byte.
    let echoed = read_exactly(&mut conn, n);
    assert!(
        echoed == packet[..n],
        "the echoed publish differs from what was written"
    );
}
