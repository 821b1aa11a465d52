//! Shared helpers for the integration tests: test certificates made with the
//! openssl CLI, real peers (mosquitto, `openssl s_server`) on free 127.0.0.1
//! ports, and a live-heap probe.
//!
//! Use from a test file with `mod support;`. Each test binary compiles its
//! own copy, so not every helper is used everywhere.
#![allow(dead_code)]

pub mod heap;
pub mod peers;
pub mod pki;

use std::net::TcpListener;

/// A port nothing listens on right now (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port on 127.0.0.1")
        .port()
}
