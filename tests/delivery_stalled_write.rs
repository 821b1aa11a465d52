//! Issue #14, "no lock is held across a blocking transport write": while one
//! thread's write stalls (the server stopped reading, so the socket buffers
//! are full), the reader still takes in acknowledgements and messages, and
//! other publishers only queue, bounded by the inflight window, not by the
//! stalled write. Over the library's own TCP transport, against a scripted
//! server on 127.0.0.1.

mod mqtt_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use iotkit::mqtt::codec::{self, Framing, Packet};
use iotkit::mqtt::{Client, ClientError, Connector, Credentials, Options, QoS};
use iotkit::transport::{Transport, TransportError};
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(30);
/// Far more than loopback's socket buffers hold (a few MiB each way), so
/// the write cannot finish while the server does not read.
const BIG: usize = 16 * 1024 * 1024;

struct NetConnector {
    port: u16,
}

impl Connector for NetConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        iotkit::net::TcpConnection::connect("127.0.0.1", self.port, Duration::from_secs(5))
            .map(|c| Box::new(c) as Box<dyn Transport>)
            .map_err(|e| TransportError::Failed(e.to_string()))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: "stalled".into(),
            ..Default::default()
        }
    }
}

/// The scripted server's side of the connection.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn packet(&mut self) -> Vec<u8> {
        loop {
            if let Ok(Framing::Complete { total_len, .. }) = codec::frame(&self.buf) {
                if self.buf.len() >= total_len {
                    return self.buf.drain(..total_len).collect();
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("the client's next packet");
            assert!(n > 0, "the client closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The id and payload length of the next packet, which must be a QoS 1 PUBLISH.
    fn publish(&mut self) -> (u16, String, usize) {
        let bytes = self.packet();
        match codec::decode(&bytes).unwrap().0 {
            Packet::Publish(p) if p.qos == 1 => (p.packet_id, p.topic.to_owned(), p.payload.len()),
            other => panic!("expected a QoS 1 PUBLISH, got {other:?}"),
        }
    }

    fn puback(&mut self, packet_id: u16) {
        let id = packet_id.to_be_bytes();
        self.stream.write_all(&[0x40, 2, id[0], id[1]]).unwrap();
    }
}

#[test]
fn a_stalled_write_holds_up_neither_the_reader_nor_other_publishers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorder = Recorder::default();
    let (tell_server, server_told) = mpsc::channel::<&'static str>();
    let options = Options {
        write_buf_size: BIG + 1024,
        // The stalled write must not be given up while the test looks at it.
        request_timeout: Duration::from_secs(60),
        ..test_options()
    };
    let big_payload = vec![0x5Au8; BIG];

    thread::scope(|s| {
        let server = s.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let mut peer = Peer {
                stream,
                buf: Vec::new(),
            };
            let connect = peer.packet();
            assert_eq!(connect[0], 0x10, "CONNECT first");
            peer.stream.write_all(&[0x20, 2, 0, 0]).unwrap();
            let (first, _, _) = peer.publish();
            // Not reading from here on: the big publish fills the buffers.
            // Answer only once its first 64 KiB wait unread here, so the
            // client's write is under way and cannot finish.
            assert_eq!(server_told.recv().unwrap(), "stalled");
            let mut probe = vec![0u8; 64 * 1024];
            while peer.stream.peek(&mut probe).unwrap() < probe.len() {
                thread::sleep(Duration::from_millis(5));
            }
            peer.puback(first);
            let message = [&[0x30, 14, 0, 6][..], b"during", b"stall!"].concat();
            peer.stream.write_all(&message).unwrap();
            assert_eq!(server_told.recv().unwrap(), "read");
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (id, topic, len) = peer.publish();
                peer.puback(id);
                seen.push((topic, len));
            }
            assert_eq!(server_told.recv().unwrap(), "done");
            seen
        });

        let client = Arc::new(
            Client::connect(
                options,
                Box::new(NetConnector { port }),
                Some(recorder.handler()),
                None,
            )
            .unwrap(),
        );
        let first = client
            .publish("s/first", b"1", QoS::AtLeastOnce, false)
            .unwrap();
        // Published from another thread: it may write the packet itself
        // (and block in it), or leave it to the yielding thread, which then
        // writes it a slice at a time between reads.
        let (writer, big_payload) = (Arc::clone(&client), &big_payload);
        let big_writer = s.spawn(move || {
            writer
                .publish("s/big", big_payload, QoS::AtLeastOnce, false)
                .unwrap()
        });
        // Let the writer start: the session hands the big packet out.
        assert!(yield_until(&client, LIMIT, || client.inflight() == 2));
        tell_server.send("stalled").unwrap();

        // The server does not read, so the big write cannot finish until
        // it is told to; the PUBACK and the message still come in.
        assert!(
            yield_until(&client, LIMIT, || recorder
                .count(|s| *s == Seen::PublishAck(first))
                == 1
                && recorder.messages().len() == 1),
            "events {:?}",
            recorder.snapshot()
        );
        assert_eq!(
            recorder.messages(),
            [("during".to_owned(), b"stall!".to_vec())]
        );

        // Another publisher queues and returns while the write still
        // stalls (the server still does not read).
        let after = client
            .publish("s/after", b"2", QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(client.inflight(), 2);

        tell_server.send("read").unwrap();
        let big = big_writer.join().unwrap();
        assert!(yield_until(&client, LIMIT, || recorder.count(
            |s| matches!(s, Seen::PublishAck(id) if *id == big || *id == after)
        ) == 2));
        tell_server.send("done").unwrap();
        let seen = server.join().unwrap();
        // In the order they were published, whole.
        assert_eq!(seen, [("s/big".to_owned(), BIG), ("s/after".to_owned(), 1)]);
        assert_eq!(recorder.count(|s| *s == Seen::Disconnected), 0);
        client.disconnect();
    });
}

#[test]
fn a_full_inflight_window_is_refused_with_a_clear_error_until_acknowledgements_arrive() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorder = Recorder::default();
    let (tell_server, server_told) = mpsc::channel::<()>();
    let options = Options {
        inflight_window: 4,
        ..test_options()
    };
    thread::scope(|s| {
        let server = s.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let mut peer = Peer {
                stream,
                buf: Vec::new(),
            };
            peer.packet();
            peer.stream.write_all(&[0x20, 2, 0, 0]).unwrap();
            let ids: Vec<u16> = (0..4).map(|_| peer.publish().0).collect();
            let zero = peer.packet();
            assert!(matches!(codec::decode(&zero).unwrap().0, Packet::Publish(p) if p.qos == 0));
            server_told.recv().unwrap();
            for id in &ids {
                peer.puback(*id);
            }
            let (fifth, _, _) = peer.publish();
            peer.puback(fifth);
            server_told.recv().unwrap();
        });
        let client = Client::connect(
            options,
            Box::new(NetConnector { port }),
            Some(recorder.handler()),
            None,
        )
        .unwrap();
        for i in 0..4 {
            client
                .publish("w/n", &[i], QoS::AtLeastOnce, false)
                .unwrap();
        }
        let refused = client
            .publish("w/n", b"5", QoS::AtLeastOnce, false)
            .unwrap_err();
        assert_eq!(refused, ClientError::InflightFull { window: 4 });
        assert_eq!(
            refused.state_code(),
            iotkit::state::STATE_MQTT_QOS1_REPUB_EXCEED_MAX
        );
        assert!(refused.to_string().contains("inflight window is full"));
        // QoS 0 is not held up by QoS 1's window.
        client
            .publish("w/zero", b"0", QoS::AtMostOnce, false)
            .unwrap();
        tell_server.send(()).unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| matches!(s, Seen::PublishAck(_)))
            == 4));
        let fifth = client
            .publish("w/n", b"5", QoS::AtLeastOnce, false)
            .unwrap();
        assert!(yield_until(&client, LIMIT, || recorder
            .count(|s| *s == Seen::PublishAck(fifth))
            == 1));
        tell_server.send(()).unwrap();
        server.join().unwrap();
        client.disconnect();
    });
}
