//! The whole MQTT client fed scripted server bytes through an in-memory
//! transport: whatever the server sends (garbage, truncated packets, packets
//! a client must never receive, several connections' worth), the client
//! never panics and every call returns within a bounded number of yields.
//!
//! Input layout: byte 0 = flags, byte 1 = read chunk size, then the server's
//! byte stream for the first connection; `SPLIT` starts the stream of the
//! next connection (reconnects). Once the scripts run out, opening fails.
#![no_main]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iotkit::mqtt::{Client, Connector, Credentials, Event, Options, QoS};
use iotkit::transport::{Transport, TransportError};
use libfuzzer_sys::fuzz_target;

const SPLIT: &[u8] = b"\xA5\x5A\xA5";
const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];
/// Yields per input: bounds the run even when the script keeps the client busy.
const MAX_YIELDS: usize = 24;

struct Scripted {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    writes_left: Option<usize>,
}

impl Transport for Scripted {
    fn read(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<usize, TransportError> {
        if self.at >= self.data.len() {
            // End of script: the server hangs up (never waits, so no input stalls).
            return Err(TransportError::PeerClosed);
        }
        let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    fn write(&mut self, buf: &[u8], _timeout: Duration) -> Result<usize, TransportError> {
        match &mut self.writes_left {
            Some(0) => Err(TransportError::Failed("scripted write failure".into())),
            Some(n) => {
                *n -= 1;
                Ok(buf.len())
            }
            None => Ok(buf.len()),
        }
    }
}

struct ScriptConnector {
    scripts: Arc<Mutex<VecDeque<Vec<u8>>>>,
    chunk: usize,
    writes_left: Option<usize>,
}

impl Connector for ScriptConnector {
    fn open(&self) -> Result<Box<dyn Transport>, TransportError> {
        let data = self
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| TransportError::Failed("no more scripted connections".into()))?;
        Ok(Box::new(Scripted {
            data,
            at: 0,
            chunk: self.chunk,
            writes_left: self.writes_left,
        }))
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            client_id: "fuzz".into(),
            username: "dn&pk".into(),
            password: Vec::new(),
        }
    }
}

fn split_scripts(mut rest: &[u8], prepend_connack: bool) -> VecDeque<Vec<u8>> {
    let mut scripts = VecDeque::new();
    loop {
        let end = rest
            .windows(SPLIT.len())
            .position(|w| w == SPLIT)
            .unwrap_or(rest.len());
        let mut script = Vec::with_capacity(end + 4);
        if prepend_connack {
            script.extend_from_slice(&CONNACK_OK);
        }
        script.extend_from_slice(&rest[..end]);
        scripts.push_back(script);
        if end == rest.len() || scripts.len() >= 8 {
            return scripts;
        }
        rest = &rest[end + SPLIT.len()..];
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    iotkit::log::set_level(iotkit::log::Level::None);
    let flags = data[0];
    let chunk = usize::from(data[1] % 64) + 1;
    let scripts = Arc::new(Mutex::new(split_scripts(&data[2..], flags & 1 != 0)));
    let connector = ScriptConnector {
        scripts: Arc::clone(&scripts),
        chunk,
        // Bit 5: writes start failing after a few packets.
        writes_left: (flags & 0x20 != 0).then_some(usize::from(flags >> 6) + 1),
    };
    let options = Options {
        keepalive: Duration::from_secs(30),
        clean_session: flags & 2 != 0,
        request_timeout: Duration::from_millis(200),
        // Small buffers make the overflow/skip path reachable.
        read_buf_size: if flags & 4 != 0 { 64 } else { 1024 },
        write_buf_size: 1024,
        reconnect_min: Duration::from_millis(1),
        reconnect_max: Duration::from_millis(2),
        offline_queue_limit: 4,
        inflight_window: 4,
    };
    // Handlers publish and subscribe from inside callbacks, as firmware does.
    let slot: Arc<Mutex<Option<Arc<Client>>>> = Arc::default();
    let inner = Arc::clone(&slot);
    let handler = Arc::new(move |event: &Event<'_>| {
        if let Event::Message(m) = event {
            assert!(m.qos <= 1, "QoS 2 must never reach a handler");
            if let Some(client) = inner.lock().unwrap().as_ref() {
                let _ = client.publish("echo/back", m.payload, QoS::AtMostOnce, false);
            }
        }
    });
    let interceptor = Arc::new(|m: &iotkit::mqtt::Message<'_>| m.topic.starts_with("/ext/"));
    let Ok(client) = Client::connect(
        options,
        Box::new(connector),
        Some(handler),
        Some(interceptor),
    ) else {
        return;
    };
    let client = Arc::new(client);
    if flags & 8 != 0 {
        *slot.lock().unwrap() = Some(Arc::clone(&client));
    }
    if flags & 0x10 != 0 {
        let _ = client.subscribe("a/+/c", QoS::AtLeastOnce, None);
        let _ = client.subscribe("#", QoS::AtMostOnce, None);
        let _ = client.publish("a/b/c", b"payload", QoS::AtLeastOnce, false);
    }
    for _ in 0..MAX_YIELDS {
        let _ = client.yield_for(Duration::ZERO);
        if !client.is_connected() {
            if scripts.lock().unwrap().is_empty() {
                break;
            }
            // Let the 1-2 ms reconnect backoff elapse: another script waits.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let _ = client.unsubscribe("a/+/c");
    let _ = client.publish("a/b/c", b"late", QoS::AtLeastOnce, false);
    client.disconnect();
    // Break the handler's reference cycle so each input frees its client.
    slot.lock().unwrap().take();
});
