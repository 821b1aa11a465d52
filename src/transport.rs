//! The byte-stream contract shared by the TCP and TLS transports and the MQTT
//! session: one trait, so the session runs unchanged over TCP, TLS or a
//! scripted test peer.

use std::fmt;
use std::time::Duration;

/// Why a transport operation failed. A timeout is not an error: reads return
/// `Ok(0)` and writes a short count when time runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The peer closed the connection (FIN or TLS close-notify).
    PeerClosed,
    /// Any other failure; the message says what happened, for a person.
    Failed(String),
    /// The connection could not be opened. `state_code` is the vendor's
    /// `STATE_*` code that fits the cause (a handshake timeout is
    /// `STATE_SYS_DEPEND_NWK_TIMEOUT`, an untrusted server something else
    /// than "the connection was closed"), so callers can pass it on.
    OpenFailed { state_code: i32, message: String },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::PeerClosed => f.write_str("the peer closed the connection"),
            TransportError::Failed(why) => f.write_str(why),
            TransportError::OpenFailed { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for TransportError {}

/// A connected, bidirectional byte stream with per-call timeouts.
pub trait Transport: Send {
    /// Waits up to `timeout` for data and returns as soon as at least one byte
    /// was read (at most `buf.len()`); `Ok(0)` means nothing arrived in time.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError>;

    /// Writes as much of `buf` as possible within `timeout` and returns the
    /// count written; a count below `buf.len()` means the time ran out.
    fn write(&mut self, buf: &[u8], timeout: Duration) -> Result<usize, TransportError>;

    /// Bytes already received and decoded (e.g. inside the TLS layer) that a
    /// `read` returns without waiting.
    fn buffered(&self) -> usize {
        0
    }

    /// A second handle on the underlying socket, for waiting until it is
    /// readable (`peek` with a read timeout) without exclusive access to the
    /// transport, so writers can use it meanwhile. `None` when there is no
    /// socket (test transports); callers then fall back to short timed reads.
    fn readiness_handle(&self) -> Option<std::net::TcpStream> {
        None
    }
}
