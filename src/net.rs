//! Plain TCP: name resolution, connecting with a deadline, and the
//! [`Transport`] implementation behind `HAL_TCP_*` and under TLS.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::state;
use crate::transport::{Transport, TransportError};

/// How long `HAL_TCP_Establish` / `HAL_SSL_Establish` (which take no timeout)
/// wait for the TCP connection, and for the TLS handshake after it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest host name accepted (RFC 1035 limit for a full name).
pub(crate) const MAX_HOST_LEN: usize = 253;

/// Why a TCP connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The host name is empty, too long or contains characters no host has.
    InvalidHost { host: String },
    /// Name resolution failed or returned no address.
    Dns { host: String, detail: String },
    /// Every address refused the connection (nothing listens on the port).
    Refused { host: String, port: u16 },
    /// No address answered before the deadline.
    Timeout {
        host: String,
        port: u16,
        timeout: Duration,
    },
    /// Any other socket error (network unreachable, ...).
    Io {
        host: String,
        port: u16,
        detail: String,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidHost { host } => write!(
                f,
                "\"{}\" is not a valid host name; pass a DNS name or an IPv4/IPv6 address",
                host.escape_debug()
            ),
            ConnectError::Dns { host, detail } => write!(
                f,
                "cannot resolve host \"{host}\" ({detail}); check the host name and the device's DNS settings"
            ),
            ConnectError::Refused { host, port } => write!(
                f,
                "connection to {host}:{port} refused: nothing accepts connections on that port; check host and port"
            ),
            ConnectError::Timeout { host, port, timeout } => write!(
                f,
                "no answer from {host}:{port} within {} ms; check the network path and firewall",
                timeout.as_millis()
            ),
            ConnectError::Io { host, port, detail } => {
                write!(f, "cannot connect to {host}:{port}: {detail}")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    /// The vendor state code that fits this failure best.
    pub fn state_code(&self) -> i32 {
        match self {
            ConnectError::InvalidHost { .. } | ConnectError::Dns { .. } => {
                state::STATE_USER_INPUT_MQTT_DOMAIN
            }
            ConnectError::Timeout { .. } => state::STATE_SYS_DEPEND_NWK_TIMEOUT,
            ConnectError::Refused { .. } | ConnectError::Io { .. } => {
                state::STATE_SYS_DEPEND_NWK_CLOSE
            }
        }
    }
}

fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
}

/// Resolves `host` (DNS name, IPv4 or IPv6 literal, IPv6 optionally in
/// brackets) to the socket addresses to try, in resolver order.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if !plausible_host(bare) {
        return Err(ConnectError::InvalidHost {
            host: host.to_owned(),
        });
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Dns {
            host: host.to_owned(),
            detail: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Dns {
            host: host.to_owned(),
            detail: "the resolver returned no address".to_owned(),
        });
    }
    Ok(addrs)
}

/// Opens a TCP connection to `host:port`, trying each resolved address until
/// one answers, all within `timeout`. The socket has TCP_NODELAY set: MQTT
/// sends small packets that must not wait for Nagle's algorithm.
pub fn connect_stream(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let deadline = Instant::now() + timeout;
    let addrs = resolve(host, port)?;
    let mut refused = false;
    let mut last_error = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(|e| ConnectError::Io {
                    host: host.to_owned(),
                    port,
                    detail: format!("cannot set TCP_NODELAY: {e}"),
                })?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused = true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => last_error = Some(format!("{addr}: {e}")),
        }
    }
    Err(if let Some(detail) = last_error {
        ConnectError::Io {
            host: host.to_owned(),
            port,
            detail,
        }
    } else if refused {
        ConnectError::Refused {
            host: host.to_owned(),
            port,
        }
    } else {
        ConnectError::Timeout {
            host: host.to_owned(),
            port,
            timeout,
        }
    })
}

/// Applies socket timeouts only when they change, to save a system call per
/// read in the common case of repeated equal timeouts.
#[derive(Debug, Default)]
pub(crate) struct TimeoutCache {
    read: Option<Duration>,
    write: Option<Duration>,
}

/// Socket timeouts cannot be zero; anything shorter waits this long.
const MIN_SOCKET_TIMEOUT: Duration = Duration::from_millis(1);

impl TimeoutCache {
    /// Always set: the read timeout belongs to the socket, and the readiness
    /// handle (a clone of it) changes it behind this cache's back.
    pub(crate) fn set_read(&mut self, stream: &TcpStream, timeout: Duration) -> io::Result<()> {
        let timeout = timeout.max(MIN_SOCKET_TIMEOUT);
        stream.set_read_timeout(Some(timeout))?;
        self.read = Some(timeout);
        Ok(())
    }

    pub(crate) fn set_write(&mut self, stream: &TcpStream, timeout: Duration) -> io::Result<()> {
        let timeout = timeout.max(MIN_SOCKET_TIMEOUT);
        if self.write != Some(timeout) {
            stream.set_write_timeout(Some(timeout))?;
            self.write = Some(timeout);
        }
        Ok(())
    }
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Asks the kernel to acknowledge received data at once instead of delaying
/// the ACK (~40 ms on Linux). A device mostly reads and rarely has data of
/// its own to piggy-back the ACK on, and a broker with Nagle's algorithm on
/// (mosquitto's default) holds its next small packet - e.g. the PUBLISH
/// after a PUBACK - until that ACK comes: without this, QoS 1 round trips
/// sometimes took 40 ms instead of 0.1 ms. Linux clears the flag as it
/// leaves quick-ack mode, so it is set again after every read. Best effort:
/// a failure only costs latency.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn acknowledge_promptly(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn acknowledge_promptly(_stream: &TcpStream) {}

/// Whether a read on `stream` would return at once (data, end of stream or an
/// error), asked without waiting and without touching the socket's blocking
/// mode, which it shares with the clones other threads wait on. This lets a
/// zero timeout really mean "only what is already there".
#[cfg(unix)]
pub(crate) fn readable_now(stream: &TcpStream) -> bool {
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
    match socket2::SockRef::from(stream).recv_with_flags(&mut probe, flags) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => readable_now(stream),
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    }
}

/// Without MSG_DONTWAIT: the shortest blocking peek.
#[cfg(not(unix))]
pub(crate) fn readable_now(stream: &TcpStream) -> bool {
    if stream.set_read_timeout(Some(MIN_SOCKET_TIMEOUT)).is_err() {
        return true;
    }
    !matches!(stream.peek(&mut [0u8; 1]), Err(e) if is_timeout(&e))
}

/// Reads once from `stream`, waiting at most `timeout`; a zero timeout
/// takes only what is already there (see [`readable_now`]).
/// `Ok(None)` on timeout, `Ok(Some(0))` on end of stream.
pub(crate) fn read_with_timeout(
    stream: &mut TcpStream,
    timeouts: &mut TimeoutCache,
    buf: &mut [u8],
    timeout: Duration,
) -> io::Result<Option<usize>> {
    if timeout.is_zero() && !readable_now(stream) {
        return Ok(None);
    }
    // Data is there when the timeout is zero: the minimum wait is not spent.
    let deadline = Instant::now() + timeout.max(MIN_SOCKET_TIMEOUT);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        timeouts.set_read(stream, left)?;
        match stream.read(buf) {
            Ok(n) => {
                if n > 0 {
                    acknowledge_promptly(stream);
                }
                return Ok(Some(n));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// A plain TCP connection.
#[derive(Debug)]
pub struct TcpConnection {
    stream: TcpStream,
    peer: SocketAddr,
    timeouts: TimeoutCache,
    peer_closed: bool,
}

impl TcpConnection {
    /// Connects to `host:port` within `timeout` (see [`connect_stream`]).
    pub fn connect(
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpConnection, ConnectError> {
        let stream = connect_stream(host, port, timeout)?;
        let peer = stream.peer_addr().map_err(|e| ConnectError::Io {
            host: host.to_owned(),
            port,
            detail: e.to_string(),
        })?;
        Ok(TcpConnection {
            stream,
            peer,
            timeouts: TimeoutCache::default(),
            peer_closed: false,
        })
    }

    /// The address actually connected to.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

impl Transport for TcpConnection {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.peer_closed {
            return Err(TransportError::PeerClosed);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match read_with_timeout(&mut self.stream, &mut self.timeouts, buf, timeout) {
            Ok(None) => Ok(0),
            Ok(Some(0)) => {
                self.peer_closed = true;
                Err(TransportError::PeerClosed)
            }
            Ok(Some(n)) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                self.peer_closed = true;
                Err(TransportError::PeerClosed)
            }
            Err(e) => Err(TransportError::Failed(format!(
                "TCP read from {} failed: {e}",
                self.peer
            ))),
        }
    }

    fn write(&mut self, buf: &[u8], timeout: Duration) -> Result<usize, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut written = 0;
        while written < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.timeouts
                .set_write(&self.stream, left)
                .map_err(|e| TransportError::Failed(format!("TCP socket error: {e}")))?;
            // TcpStream::write uses send(MSG_NOSIGNAL): a closed peer gives
            // EPIPE instead of killing the firmware's process with SIGPIPE.
            match self.stream.write(&buf[written..]) {
                Ok(0) => {
                    return Err(TransportError::Failed(format!(
                        "TCP write to {} failed: the connection accepts no more data",
                        self.peer
                    )))
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => break,
                Err(e) => {
                    return Err(TransportError::Failed(format!(
                        "TCP write to {} failed: {e}",
                        self.peer
                    )))
                }
            }
        }
        Ok(written)
    }

    fn readiness_handle(&self) -> Option<TcpStream> {
        self.stream.try_clone().ok()
    }
}

/// The vendor HAL's read semantics over any transport, where bytes that
/// arrived before the peer closed are returned first; the close is reported
/// by the next call (the transports remember it). This is what the HAL read
/// functions promise: a count, then -2.
pub fn read_full_or_timeout(
    transport: &mut dyn Transport,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<usize, TransportError> {
    let deadline = Instant::now() + timeout;
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && filled > 0 {
            break;
        }
        match transport.read(&mut buf[filled..], left) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(TransportError::PeerClosed) if filled > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn bad_hosts_are_refused_before_any_lookup() {
        for host in ["", "a b", "x\ny", &"h".repeat(300)] {
            assert!(matches!(
                resolve(host, 1),
                Err(ConnectError::InvalidHost { .. })
            ));
        }
        assert_eq!(
            resolve("[::1]", 7).unwrap(),
            vec!["[::1]:7".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn refused_connection_is_named() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = TcpConnection::connect("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
        assert!(err.to_string().contains("refused"));
    }

    #[test]
    fn partial_data_before_close_is_returned_then_close_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"abc").unwrap();
        });
        let mut conn = TcpConnection::connect("127.0.0.1", port, Duration::from_secs(2)).unwrap();
        peer.join().unwrap();
        let mut buf = [0u8; 8];
        let n = read_full_or_timeout(&mut conn, &mut buf, Duration::from_secs(2)).unwrap();
        assert_eq!(&buf[..n], b"abc");
        assert_eq!(
            read_full_or_timeout(&mut conn, &mut buf, Duration::from_secs(2)),
            Err(TransportError::PeerClosed)
        );
    }

    #[test]
    fn a_zero_timeout_takes_only_what_is_already_there() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut conn = TcpConnection::connect("127.0.0.1", port, Duration::from_secs(2)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8];
        // Nothing sent yet.
        assert!(!readable_now(&conn.stream));
        assert_eq!(conn.read(&mut buf, Duration::ZERO), Ok(0));
        server.write_all(b"xy").unwrap();
        // Arrival on loopback is not instantaneous: wait for it (untimed).
        conn.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.stream.peek(&mut [0u8; 1]).unwrap();
        assert!(readable_now(&conn.stream));
        // The probe consumed nothing; a zero-timeout read gets the bytes.
        assert_eq!(conn.read(&mut buf, Duration::ZERO), Ok(2));
        assert_eq!(&buf[..2], b"xy");
        assert!(!readable_now(&conn.stream));
        // End of stream counts as readable, so the read reports the close.
        drop(server);
        conn.stream.peek(&mut [0u8; 1]).unwrap();
        assert!(readable_now(&conn.stream));
        assert_eq!(
            conn.read(&mut buf, Duration::ZERO),
            Err(TransportError::PeerClosed)
        );
    }
}
