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
pub mod ports;

use std::net::TcpListener;

/// A port nothing listens on right now (bound to port 0, then released), for
/// servers that cannot bind port 0 themselves (mosquitto). Another process
/// may take it at any moment, so the caller must check that the listener is
/// its own server (see `ports`) and try again if not. A port that must refuse
/// connections is a [`ports::RefusingPort`].
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port on 127.0.0.1")
        .port()
}

/// A NUL-terminated copy of `text` that stays valid for the rest of the test
/// process, for C globals such as `g_cli_crt` that the library reads later.
/// The copies stay reachable from a static, so a leak checker does not count
/// them when a test points the global elsewhere.
pub fn lasting_c_text(text: impl Into<Vec<u8>>) -> *const std::ffi::c_char {
    static KEPT: std::sync::Mutex<Vec<std::ffi::CString>> = std::sync::Mutex::new(Vec::new());
    let text = std::ffi::CString::new(text).expect("text without NUL bytes");
    // A CString's bytes live in their own heap block: moving the CString into
    // the vector does not move them, so the pointer stays valid.
    let pointer = text.as_ptr();
    KEPT.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(text);
    pointer
}
