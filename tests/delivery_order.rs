//! Requests keep their order across a reconnect: an UNSUBSCRIBE never
//! overtakes the SUBSCRIBE for the same filter. A scripted server on
//! 127.0.0.1 acknowledges only the first of three requests and then drops
//! the link; the second connection records what the client resends.

mod mqtt_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use iotkit::mqtt::codec::{self, Framing};
use iotkit::mqtt::{Client, QoS};
use mqtt_support::*;

const LIMIT: Duration = Duration::from_secs(20);

struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = listener.accept().expect("the client connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next whole packet other than PINGREQ (answered).
    fn packet(&mut self) -> Vec<u8> {
        loop {
            if let Ok(Framing::Complete { total_len, .. }) = codec::frame(&self.buf) {
                if self.buf.len() >= total_len {
                    let packet: Vec<u8> = self.buf.drain(..total_len).collect();
                    if packet == [0xC0, 0] {
                        self.stream.write_all(&[0xD0, 0]).unwrap();
                        continue;
                    }
                    return packet;
                }
            }
            let mut chunk = [0u8; 1024];
            let n = self.stream.read(&mut chunk).expect("the client sends");
            assert!(n > 0, "the client closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// (packet type, packet id, first filter) of a SUBSCRIBE or UNSUBSCRIBE
/// with a one-byte remaining length.
fn request(packet: &[u8]) -> (u8, u16, String) {
    let id = u16::from_be_bytes([packet[2], packet[3]]);
    let len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let filter = String::from_utf8(packet[6..6 + len].to_vec()).unwrap();
    (packet[0] >> 4, id, filter)
}

const SUBSCRIBE: u8 = 8;
const UNSUBSCRIBE: u8 = 10;

#[test]
fn unsubscribe_never_overtakes_the_subscribe_for_the_same_filter() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, resent) = mpsc::channel();
    let server = thread::spawn(move || {
        let mut first = Peer::accept(&listener);
        assert_eq!(first.packet()[0], 0x10, "CONNECT");
        first.stream.write_all(&[0x20, 2, 0, 0]).unwrap();
        let seen: Vec<_> = (0..3).map(|_| request(&first.packet())).collect();
        // Acknowledge only the first request, then drop the link.
        let id = seen[0].1.to_be_bytes();
        first.stream.write_all(&[0x90, 3, id[0], id[1], 1]).unwrap();
        drop(first);
        let mut second = Peer::accept(&listener);
        assert_eq!(second.packet()[0], 0x10, "CONNECT");
        // Session present: the acknowledged subscription is still held.
        second.stream.write_all(&[0x20, 2, 1, 0]).unwrap();
        let again: Vec<_> = (0..2).map(|_| request(&second.packet())).collect();
        done.send((seen, again)).unwrap();
        // Keep the link open until the test has looked.
        let _ = second.stream.read(&mut [0u8; 64]);
    });

    let recorder = Recorder::default();
    let mut options = test_options();
    options.clean_session = false;
    let client = Client::connect(
        options,
        Box::new(TcpConnector::new(addr, "ordered")),
        Some(recorder.handler()),
        None,
    )
    .expect("connects");
    client.subscribe("first/#", QoS::AtLeastOnce, None).unwrap();
    client.subscribe("same/a", QoS::AtLeastOnce, None).unwrap();
    client.unsubscribe("same/a").unwrap();
    let mut result = None;
    assert!(
        yield_until(&client, LIMIT, || {
            if result.is_none() {
                result = resent.try_recv().ok();
            }
            result.is_some()
        }),
        "the server did not see the resent requests: {:?}",
        recorder.snapshot()
    );
    let (seen, again) = result.unwrap();
    assert_eq!(
        seen.iter()
            .map(|(t, _, f)| (*t, f.as_str()))
            .collect::<Vec<_>>(),
        [
            (SUBSCRIBE, "first/#"),
            (SUBSCRIBE, "same/a"),
            (UNSUBSCRIBE, "same/a")
        ]
    );
    assert_eq!(
        again
            .iter()
            .map(|(t, _, f)| (*t, f.as_str()))
            .collect::<Vec<_>>(),
        [(SUBSCRIBE, "same/a"), (UNSUBSCRIBE, "same/a")],
        "resent out of order (or the acknowledged subscription sent again)"
    );
    client.disconnect();
    server.join().unwrap();
}
