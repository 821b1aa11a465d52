//! The sans-I/O MQTT session (iotkit-core) driven by fuzzer-chosen
//! operations: server bytes, API calls, time steps, link failures. It never
//! panics, every packet it hands out is one valid MQTT packet within the
//! size limit, and the inflight window holds.
//!
//! Input layout: byte 0 configures (window, limits, attempts), then a list
//! of operations: one opcode byte and its arguments.
#![no_main]

use iotkit_core::mqtt::codec;
use iotkit_core::mqtt::session::{Config, QoS, Session, TransportError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut ops)) = data.split_first() else {
        return;
    };
    let mut config = Config::new("fuzz");
    config.inflight_window = 1 + u16::from(setup & 0x07);
    config.max_pending_requests = 1 + usize::from((setup >> 3) & 0x03);
    config.max_packet_size = 64 + usize::from(setup >> 5) * 32;
    config.max_incoming_packet_size = 64 + usize::from(setup & 0x30) * 4;
    config.max_publish_attempts = u32::from(setup >> 6);
    config.ping_interval_ms = 1_000;
    config.request_timeout_ms = 500;
    let max_packet = config.max_packet_size;
    let window = usize::from(config.inflight_window);
    let Ok(mut session) = Session::new(config) else {
        return;
    };
    let mut now = 0u64;
    let filters = ["/a", "/a/+", "/b/#", "/c"];
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let arg = ops.first().copied().unwrap_or(0);
        match op % 10 {
            0 => {
                let _ = session.connect(now);
            }
            1 => {
                // Server bytes: a length, then that many bytes.
                let body = ops.get(1..).unwrap_or(&[]);
                let len = usize::from(arg).min(body.len());
                session.receive(&body[..len]);
                ops = &body[len..];
            }
            2 => {
                let qos = if arg & 1 == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                let payload = vec![0u8; usize::from(arg) * 2];
                let _ = session.publish("/f/t", &payload, qos, arg & 2 != 0);
            }
            3 => {
                let _ = session.subscribe(filters[usize::from(arg) % 4], QoS::AtLeastOnce);
            }
            4 => {
                let _ = session.unsubscribe(filters[usize::from(arg) % 4]);
            }
            5 => {
                now += u64::from(arg) * 10;
                session.handle_timeout(now);
            }
            6 => session.transport_failed(match arg % 3 {
                0 => TransportError::Read,
                1 => TransportError::Write,
                _ => TransportError::Closed,
            }),
            7 => session.disconnect(),
            8 => session.receive(&[0x20, 0x02, arg & 1, 0]), // CONNACK
            _ => session.receive(&[0x40, 0x02, 0, arg]),     // PUBACK
        }
        if op % 10 != 1 && !ops.is_empty() {
            ops = &ops[1..];
        }
        while let Some(bytes) = session.poll_transmit(now) {
            assert!(bytes.len() <= max_packet);
            let (_, used) = codec::decode(bytes).expect("the session writes valid MQTT");
            assert_eq!(used, bytes.len());
        }
        while session.poll_event().is_some() {}
        assert!(session.inflight() <= window);
    }
});
