//! HAL_TCP_* against plain TCP peers on loopback: IPv4, IPv6 (when the
//! machine has ::1), DNS names, timeouts, peer close, bad handles.

mod support;

use std::ffi::{c_char, CString};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use iotkit::ffi::tcp::{HAL_TCP_Destroy, HAL_TCP_Establish, HAL_TCP_Read, HAL_TCP_Write};

fn establish(host: &str, port: u16) -> usize {
    let host = CString::new(host).unwrap();
    HAL_TCP_Establish(host.as_ptr(), port)
}

/// Connects through HAL_TCP_Establish and returns (handle, server side).
fn pair(listener: &TcpListener, host: &str) -> (usize, TcpStream) {
    let port = listener.local_addr().unwrap().port();
    let handle = establish(host, port);
    assert_ne!(handle, 0, "HAL_TCP_Establish({host}, {port})");
    let (server, _) = listener.accept().unwrap();
    (handle, server)
}

#[test]
fn ipv4_round_trip_with_partial_and_timed_out_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (handle, mut server) = pair(&listener, "127.0.0.1");
    assert!(server.peer_addr().unwrap().ip().is_loopback());

    let msg = b"ping";
    assert_eq!(HAL_TCP_Write(handle, msg.as_ptr().cast(), 4, 1000), 4);
    let mut got = [0u8; 4];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, msg);

    let mut buf = [0 as c_char; 16];
    assert_eq!(
        HAL_TCP_Read(handle, buf.as_mut_ptr(), 16, 100),
        0,
        "nothing sent yet"
    );
    server.write_all(b"pong!").unwrap();
    assert_eq!(
        HAL_TCP_Read(handle, buf.as_mut_ptr(), 16, 300),
        5,
        "partial count on timeout"
    );
    server.write_all(b"0123456789abcdef").unwrap();
    assert_eq!(
        HAL_TCP_Read(handle, buf.as_mut_ptr(), 16, 1000),
        16,
        "full buffer"
    );

    // Peer closes mid-read: the bytes first, then -2.
    server.write_all(b"last").unwrap();
    drop(server);
    assert_eq!(HAL_TCP_Read(handle, buf.as_mut_ptr(), 16, 5000), 4);
    assert_eq!(HAL_TCP_Read(handle, buf.as_mut_ptr(), 16, 5000), -2);

    // Writing to the closed connection fails cleanly (EPIPE, no SIGPIPE).
    let block = [0u8; 4096];
    let failed = (0..100).any(|_| {
        let n = HAL_TCP_Write(handle, block.as_ptr().cast(), block.len() as u32, 200);
        std::thread::sleep(Duration::from_millis(5));
        n < 0
    });
    assert!(failed, "writes after the peer closed must fail");
    assert_eq!(HAL_TCP_Destroy(handle), 0);
    assert_eq!(HAL_TCP_Destroy(handle), -1, "double destroy");
}

#[test]
fn ipv6_and_dns_names_connect() {
    if let Ok(listener) = TcpListener::bind("[::1]:0") {
        let (handle, server) = pair(&listener, "::1");
        assert!(server.peer_addr().unwrap().is_ipv6());
        assert_eq!(HAL_TCP_Destroy(handle), 0);
        let (handle, _server) = pair(&listener, "[::1]");
        assert_eq!(HAL_TCP_Destroy(handle), 0);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // "localhost" may resolve to ::1 first (refused here), then 127.0.0.1.
    let handle = establish("localhost", port);
    assert_ne!(handle, 0);
    assert_eq!(HAL_TCP_Destroy(handle), 0);
}

#[test]
fn bad_arguments_and_stale_handles_fail_without_crashing() {
    assert_eq!(HAL_TCP_Establish(std::ptr::null(), 80), 0);
    assert_eq!(establish("", 80), 0);
    assert_eq!(establish("bad host name", 80), 0);
    let refusing = support::ports::RefusingPort::new();
    assert_eq!(establish("127.0.0.1", refusing.port()), 0, "refused");
    assert_eq!(establish("no-such-host.invalid", 80), 0);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (handle, _server) = pair(&listener, "127.0.0.1");
    let mut buf = [0 as c_char; 8];
    assert_eq!(HAL_TCP_Read(handle, std::ptr::null_mut(), 8, 10), -1);
    assert_eq!(HAL_TCP_Write(handle, std::ptr::null(), 8, 10), -1);
    assert_eq!(HAL_TCP_Read(handle, buf.as_mut_ptr(), 0, 10), 0);
    assert_eq!(HAL_TCP_Destroy(handle), 0);
    for stale in [handle, 0, 3, usize::MAX] {
        assert_eq!(HAL_TCP_Read(stale, buf.as_mut_ptr(), 8, 10), -1);
        assert_eq!(HAL_TCP_Write(stale, buf.as_ptr(), 8, 10), -1);
        // 0 is what a failed establish returned: destroying it is clean-up
        // and succeeds quietly (tests/tls_messages.rs).
        let expected = if stale == 0 { 0 } else { -1 };
        assert_eq!(HAL_TCP_Destroy(stale), expected, "{stale:#x}");
    }
}

#[test]
fn a_refusing_port_refuses_connections_and_nobody_else_can_listen_there() {
    let refusing = support::ports::RefusingPort::new();
    let error = std::net::TcpStream::connect(("127.0.0.1", refusing.port())).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    // std's listener sets SO_REUSEADDR; the refusing socket does not, so the
    // port stays ours.
    assert!(TcpListener::bind(("127.0.0.1", refusing.port())).is_err());
}
