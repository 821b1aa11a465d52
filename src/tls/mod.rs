//! TLS 1.2 client over mbedTLS: server verification against a given CA
//! (host name or IP SAN), optional client certificate, and the
//! [`Transport`] implementation behind `HAL_SSL_*` and the MQTT client.
//!
//! Every connection has its own mbedTLS configuration and random generator,
//! so connections share no mutable state; parsed CA lists and credentials are
//! shared read-only through `Arc`.

mod credentials;
mod san;

pub use credentials::{
    format_utc, ClientCredentials, CredentialError, CredentialOrigin, CredentialSource,
    MAX_CREDENTIAL_LEN,
};

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mbedtls::alloc::List as MbedtlsList;
use mbedtls::error::codes;
use mbedtls::pk::EcGroupId;
use mbedtls::rng::{CtrDrbg, OsEntropy};
use mbedtls::ssl::config::{AuthMode, Endpoint, Preset, Transport as TlsTransport};
use mbedtls::ssl::io::Io;
use mbedtls::ssl::{Config, Context, Version};
use mbedtls::x509::{Certificate, VerifyError};

use crate::net::{self, ConnectError, TimeoutCache};
use crate::state;
use crate::transport::{Transport, TransportError};

/// Offered cipher suites, most preferred first: forward-secret AEAD suites,
/// then CBC and static-RSA ones that old servers (and the vendor's own
/// client) still rely on, so no working deployment breaks.
const CIPHERSUITES: &[i32] = &[
    0xC02B, // ECDHE-ECDSA-AES128-GCM-SHA256
    0xC02C, // ECDHE-ECDSA-AES256-GCM-SHA384
    0xCCA9, // ECDHE-ECDSA-CHACHA20-POLY1305
    0xC02F, // ECDHE-RSA-AES128-GCM-SHA256
    0xC030, // ECDHE-RSA-AES256-GCM-SHA384
    0xCCA8, // ECDHE-RSA-CHACHA20-POLY1305
    0xC023, // ECDHE-ECDSA-AES128-CBC-SHA256
    0xC027, // ECDHE-RSA-AES128-CBC-SHA256
    0x009C, // RSA-AES128-GCM-SHA256
    0x009D, // RSA-AES256-GCM-SHA384
    0x003C, // RSA-AES128-CBC-SHA256
    0x002F, // RSA-AES128-CBC-SHA
    0x0035, // RSA-AES256-CBC-SHA
    0,
];

/// Largest plaintext per outgoing TLS record. mbedTLS is built with
/// `MBEDTLS_SSL_OUT_CONTENT_LEN` = this (`.cargo/config.toml`), which saves
/// 12 KiB per connection over the 16 KiB default; the client chooses the size
/// of its own records, so any server accepts them. Writes are cut into chunks
/// of the record size mbedTLS reports at run time, so that a chunk is always
/// taken whole whatever the build set (see `write`).
pub const MAX_RECORD_PAYLOAD: usize = 4 * 1024;

/// How long dropping a connection may spend sending close-notify.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_millis(200);

/// Before this the device clock is surely unset (no RTC, no NTP yet):
/// certificate dates cannot be judged, so date errors are not fatal.
const CLOCK_PLAUSIBLE_AFTER_UNIX: u64 = 1_577_836_800; // 2020-01-01

/// Why a TLS connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// The CA given for verifying the server is unusable.
    BadCaCertificate { detail: String },
    /// The TCP connection failed (DNS, refused, timeout, ...).
    Connect(ConnectError),
    /// The handshake did not finish in time.
    HandshakeTimeout {
        host: String,
        port: u16,
        timeout: Duration,
    },
    /// The server's certificate does not chain to the configured CA.
    UntrustedServerCertificate { host: String, detail: String },
    /// The server's certificate is not issued for the host connected to.
    HostnameMismatch { host: String },
    /// The server's certificate is expired or not yet valid.
    ServerCertificateDates { host: String, detail: String },
    /// Any other reason the server's certificate was refused.
    ServerCertificateRejected { host: String, detail: String },
    /// The server demands a client certificate and none is configured.
    ClientCertificateRequired { host: String },
    /// The server refused the client certificate we sent.
    ClientCertificateRejected {
        host: String,
        subject: String,
        note: String,
    },
    /// The server closed the connection during the handshake.
    ClosedDuringHandshake { host: String, port: u16 },
    /// Any other handshake or setup failure.
    Handshake { host: String, detail: String },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::BadCaCertificate { detail } => write!(
                f,
                "the CA certificate for verifying the server is unusable ({detail}); pass the server's root CA in PEM"
            ),
            TlsError::Connect(e) => e.fmt(f),
            TlsError::HandshakeTimeout { host, port, timeout } => write!(
                f,
                "TLS handshake with {host}:{port} did not finish within {} ms; is the port a TLS port?",
                timeout.as_millis()
            ),
            TlsError::UntrustedServerCertificate { host, detail } => write!(
                f,
                "the certificate of {host} is not trusted: it does not chain to the configured CA ({detail}); pass the CA that issued the server's certificate"
            ),
            TlsError::HostnameMismatch { host } => write!(
                f,
                "the server's certificate is not issued for \"{host}\" (hostname mismatch); connect using a name (or IP) listed in its subjectAltName"
            ),
            TlsError::ServerCertificateDates { host, detail } => write!(
                f,
                "the certificate of {host} is outside its validity period ({detail}); check the device clock"
            ),
            TlsError::ServerCertificateRejected { host, detail } => {
                write!(f, "the certificate of {host} was rejected: {detail}")
            }
            TlsError::ClientCertificateRequired { host } => write!(
                f,
                "{host} requires a client certificate and none is configured; assign g_cli_crt/g_cli_key, call iotkit_x509_set_credentials(), or set IOTX_X509_CERT_FILE/IOTX_X509_KEY_FILE"
            ),
            TlsError::ClientCertificateRejected { host, subject, note } => write!(
                f,
                "{host} rejected the client certificate \"{subject}\"{note}; check that the certificate is registered for this device and issued by a CA the server trusts"
            ),
            TlsError::ClosedDuringHandshake { host, port } => write!(
                f,
                "{host}:{port} closed the connection during the TLS handshake; is the port a TLS port?"
            ),
            TlsError::Handshake { host, detail } => {
                write!(f, "TLS handshake with {host} failed: {detail}")
            }
        }
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    /// The vendor state code that fits this failure best.
    pub fn state_code(&self) -> i32 {
        match self {
            TlsError::Connect(e) => e.state_code(),
            TlsError::HandshakeTimeout { .. } => state::STATE_SYS_DEPEND_NWK_TIMEOUT,
            TlsError::BadCaCertificate { .. } => state::STATE_USER_INPUT_INVALID,
            TlsError::HostnameMismatch { .. } => state::STATE_USER_INPUT_MQTT_DOMAIN,
            TlsError::ClientCertificateRequired { .. } => state::STATE_USER_INPUT_NULL_POINTER,
            TlsError::ClientCertificateRejected { .. } => state::STATE_MQTT_CONNACK_NOT_AUTHORIZED,
            TlsError::UntrustedServerCertificate { .. }
            | TlsError::ServerCertificateDates { .. }
            | TlsError::ServerCertificateRejected { .. }
            | TlsError::ClosedDuringHandshake { .. }
            | TlsError::Handshake { .. } => state::STATE_SYS_DEPEND_NWK_CLOSE,
        }
    }
}

/// What to trust and who we are: the CA list and optional client credentials.
/// Cheap to clone; parsed once and shared by any number of connections.
#[derive(Clone)]
pub struct TlsConfig {
    ca: Arc<MbedtlsList<Certificate>>,
    credentials: Option<Arc<ClientCredentials>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_certificates", &self.ca.iter().count())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl TlsConfig {
    /// `ca_pem`: the server's root CA(s), PEM (a trailing NUL is fine) or one
    /// DER certificate.
    pub fn new(
        ca_pem: &[u8],
        credentials: Option<Arc<ClientCredentials>>,
    ) -> Result<TlsConfig, TlsError> {
        let ca = credentials::parse_certificates(ca_pem, "the CA certificate")
            .map_err(|detail| TlsError::BadCaCertificate { detail })?;
        Ok(TlsConfig {
            ca: Arc::new(ca),
            credentials,
        })
    }

    pub fn credentials(&self) -> Option<&Arc<ClientCredentials>> {
        self.credentials.as_ref()
    }
}

/// The socket under mbedTLS: every call waits at most until `deadline`.
struct SocketIo {
    stream: TcpStream,
    deadline: Instant,
    timeouts: TimeoutCache,
    last_error: Option<String>,
}

impl SocketIo {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl Io for SocketIo {
    fn recv(&mut self, buf: &mut [u8]) -> mbedtls::Result<usize> {
        let left = self.left();
        match net::read_with_timeout(&mut self.stream, &mut self.timeouts, buf, left) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(codes::SslWantRead.into()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(codes::NetConnReset.into()),
            Err(e) => {
                self.last_error = Some(e.to_string());
                Err(codes::NetRecvFailed.into())
            }
        }
    }

    fn send(&mut self, buf: &[u8]) -> mbedtls::Result<usize> {
        loop {
            let left = self.left();
            if left.is_zero() {
                return Err(codes::SslWantWrite.into());
            }
            if let Err(e) = self.timeouts.set_write(&self.stream, left) {
                self.last_error = Some(e.to_string());
                return Err(codes::NetSendFailed.into());
            }
            // TcpStream::write sends with MSG_NOSIGNAL: no SIGPIPE into C.
            match self.stream.write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if net::is_timeout(&e) => return Err(codes::SslWantWrite.into()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    self.last_error = Some(e.to_string());
                    return Err(codes::NetConnReset.into());
                }
                Err(e) => {
                    self.last_error = Some(e.to_string());
                    return Err(codes::NetSendFailed.into());
                }
            }
        }
    }
}

/// What the verify callback saw, for explaining a failed handshake.
#[derive(Default)]
struct VerifyOutcome {
    flags: AtomicU32,
    leaf_seen: AtomicBool,
}

fn clock_is_plausible() -> bool {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() >= CLOCK_PLAUSIBLE_AFTER_UNIX)
}

/// `host` as an IP address when it is a literal (IPv6 possibly bracketed).
fn ip_literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

fn mbedtls_config(
    config: &TlsConfig,
    ip_host: Option<IpAddr>,
    outcome: Arc<VerifyOutcome>,
) -> mbedtls::Result<Config> {
    let mut conf = Config::new(Endpoint::Client, TlsTransport::Stream, Preset::Default);
    conf.set_min_version(Version::Tls1_2)?;
    conf.set_max_version(Version::Tls1_2)?;
    conf.set_authmode(AuthMode::Required);
    conf.set_ciphersuites(Arc::new(CIPHERSUITES.to_vec()));
    conf.set_curves(Arc::new(vec![
        EcGroupId::Curve25519.into(),
        EcGroupId::SecP256R1.into(),
        EcGroupId::SecP384R1.into(),
        EcGroupId::None.into(),
    ]));
    conf.set_rng(Arc::new(CtrDrbg::new(Arc::new(OsEntropy::new()), None)?));
    conf.set_ca_list(config.ca.clone(), None);
    if let Some(credentials) = &config.credentials {
        conf.push_cert(credentials.chain.clone(), credentials.key.clone())?;
    }
    let clock_ok = clock_is_plausible();
    conf.set_verify_callback(
        move |cert: &Certificate, depth: i32, flags: &mut VerifyError| {
            if depth == 0 {
                outcome.leaf_seen.store(true, Ordering::Relaxed);
                if let Some(ip) = ip_host {
                    let listed = cert
                        .extensions_raw()
                        .map(|raw| san::ip_addresses(&raw).contains(&ip))
                        .unwrap_or(false);
                    if !listed {
                        flags.insert(VerifyError::CERT_CN_MISMATCH);
                    }
                }
            }
            if !clock_ok && flags.intersects(VerifyError::CERT_EXPIRED | VerifyError::CERT_FUTURE) {
                crate::log_warn!(
                    "device clock is unset (before 2020): ignoring the validity dates of the server's certificate"
                );
                flags.remove(VerifyError::CERT_EXPIRED | VerifyError::CERT_FUTURE);
            }
            outcome.flags.fetch_or(flags.bits(), Ordering::Relaxed);
            Ok(())
        },
    );
    Ok(conf)
}

fn describe(err: &mbedtls::Error) -> String {
    let text = err.to_string();
    text.strip_prefix("mbedTLS error ")
        .unwrap_or(&text)
        .to_owned()
}

fn is_want(err: &mbedtls::Error) -> bool {
    matches!(
        err.high_level(),
        Some(codes::SslWantRead | codes::SslWantWrite)
    )
}

fn is_peer_gone(err: &mbedtls::Error) -> bool {
    matches!(
        err.high_level(),
        Some(codes::SslPeerCloseNotify | codes::SslConnEof)
    ) || err.low_level() == Some(codes::NetConnReset)
}

/// Connects to `host:port` and completes a TLS 1.2 handshake, all within
/// `timeout`. DNS names are sent as SNI and checked against the server's
/// certificate; IP literals are checked against its iPAddress SANs.
pub fn connect(
    host: &str,
    port: u16,
    config: &TlsConfig,
    timeout: Duration,
) -> Result<TlsConnection, TlsError> {
    let deadline = Instant::now() + timeout;
    let stream = net::connect_stream(host, port, timeout).map_err(TlsError::Connect)?;
    let setup_error = |e: io::Error| TlsError::Handshake {
        host: host.to_owned(),
        detail: format!("socket setup failed: {e}"),
    };
    let readiness = stream.try_clone().map_err(setup_error)?;
    let ip_host = ip_literal(host);
    let outcome = Arc::new(VerifyOutcome::default());
    let conf =
        mbedtls_config(config, ip_host, outcome.clone()).map_err(|e| TlsError::Handshake {
            host: host.to_owned(),
            detail: format!("TLS setup failed: {}", describe(&e)),
        })?;
    let mut ctx = Context::new(Arc::new(conf));
    let io = SocketIo {
        stream,
        deadline,
        timeouts: TimeoutCache::default(),
        last_error: None,
    };
    let sni = if ip_host.is_some() { None } else { Some(host) };
    let result = {
        let _exclusive_key = config.credentials.as_ref().map(|c| c.lock_for_handshake());
        ctx.establish(io, sni)
    };
    match result {
        Ok(()) => Ok(TlsConnection {
            ctx,
            readiness,
            peer_closed: false,
            pending_write: false,
            peer: format!("{host}:{port}"),
        }),
        Err(e) => Err(classify_handshake_error(
            &e,
            host,
            port,
            timeout,
            config,
            &outcome,
            ctx.io().and_then(|io| io.last_error.clone()),
        )),
    }
}

fn classify_handshake_error(
    err: &mbedtls::Error,
    host: &str,
    port: u16,
    timeout: Duration,
    config: &TlsConfig,
    outcome: &VerifyOutcome,
    io_error: Option<String>,
) -> TlsError {
    let host_owned = host.to_owned();
    let flags = VerifyError::from_bits_truncate(outcome.flags.load(Ordering::Relaxed));
    if err.high_level() == Some(codes::X509CertVerifyFailed) || !flags.is_empty() {
        let detail = flags.error_info().join("; ");
        return if flags.intersects(VerifyError::CERT_NOT_TRUSTED | VerifyError::CERT_MISSING) {
            TlsError::UntrustedServerCertificate {
                host: host_owned,
                detail,
            }
        } else if flags.contains(VerifyError::CERT_CN_MISMATCH) {
            TlsError::HostnameMismatch { host: host_owned }
        } else if flags.intersects(VerifyError::CERT_EXPIRED | VerifyError::CERT_FUTURE) {
            TlsError::ServerCertificateDates {
                host: host_owned,
                detail,
            }
        } else {
            TlsError::ServerCertificateRejected {
                host: host_owned,
                detail,
            }
        };
    }
    if is_want(err) {
        return TlsError::HandshakeTimeout {
            host: host_owned,
            port,
            timeout,
        };
    }
    // The server's certificate passed and the server then ended the
    // handshake: what it objects to is our certificate (or its absence).
    let server_verified = outcome.leaf_seen.load(Ordering::Relaxed);
    if server_verified
        && (err.high_level() == Some(codes::SslFatalAlertMessage) || is_peer_gone(err))
    {
        return match &config.credentials {
            None => TlsError::ClientCertificateRequired { host: host_owned },
            Some(credentials) => TlsError::ClientCertificateRejected {
                host: host_owned,
                subject: credentials.subject().to_owned(),
                note: credentials
                    .validity_problem(SystemTime::now())
                    .map(|problem| format!(" ({problem})"))
                    .unwrap_or_default(),
            },
        };
    }
    if is_peer_gone(err) {
        return TlsError::ClosedDuringHandshake {
            host: host_owned,
            port,
        };
    }
    let mut detail = match err.high_level() {
        Some(codes::SslFatalAlertMessage) => {
            "the server aborted the handshake (no common TLS version or cipher suite?)".to_owned()
        }
        Some(codes::SslCertificateTooLarge) => format!(
            "the device certificate chain does not fit in one {MAX_RECORD_PAYLOAD}-byte TLS \
             record; send the device certificate alone (the platform knows its CA) or use \
             a shorter chain"
        ),
        _ => describe(err),
    };
    if let Some(io_error) = io_error {
        detail.push_str(&format!(" (socket: {io_error})"));
    }
    TlsError::Handshake {
        host: host_owned,
        detail,
    }
}

/// An established TLS connection.
pub struct TlsConnection {
    ctx: Context<SocketIo>,
    readiness: TcpStream,
    peer_closed: bool,
    /// A record was queued in mbedTLS when a write timed out; it was reported
    /// as written and must go out before anything else.
    pending_write: bool,
    peer: String,
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection")
            .field("peer", &self.peer)
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}

impl TlsConnection {
    fn set_deadline(&mut self, deadline: Instant) {
        if let Some(io) = self.ctx.io_mut() {
            io.deadline = deadline;
        }
    }

    fn failure(&self, op: &str, err: &mbedtls::Error) -> TransportError {
        let socket = self
            .ctx
            .io()
            .and_then(|io| io.last_error.as_deref())
            .map(|e| format!(" (socket: {e})"))
            .unwrap_or_default();
        TransportError::Failed(format!(
            "TLS {op} with {} failed: {}{socket}",
            self.peer,
            describe(err)
        ))
    }

    /// Sends a record left queued by a timed-out write. Returns false when
    /// the deadline passed first.
    fn flush_pending(&mut self, deadline: Instant) -> Result<bool, TransportError> {
        while self.pending_write {
            // With output queued, mbedtls_ssl_write only flushes it and
            // ignores the (here empty) data.
            match Io::send(&mut self.ctx, &[]) {
                Ok(_) => self.pending_write = false,
                Err(e) if is_want(&e) => {
                    if Instant::now() >= deadline {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(self.failure("write", &e)),
            }
        }
        Ok(true)
    }
}

impl Transport for TlsConnection {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.peer_closed {
            return Err(TransportError::PeerClosed);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = Instant::now() + timeout;
        self.set_deadline(deadline);
        self.flush_pending(deadline)?;
        loop {
            match Io::recv(&mut self.ctx, buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    return Err(TransportError::PeerClosed);
                }
                Ok(n) => return Ok(n),
                Err(e) if is_want(&e) => {
                    if Instant::now() >= deadline {
                        return Ok(0);
                    }
                }
                Err(e) if is_peer_gone(&e) => {
                    self.peer_closed = true;
                    return Err(TransportError::PeerClosed);
                }
                Err(e) => return Err(self.failure("read", &e)),
            }
        }
    }

    fn write(&mut self, buf: &[u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = Instant::now() + timeout;
        self.set_deadline(deadline);
        if !self.flush_pending(deadline)? {
            return Ok(0);
        }
        // One record's worth per send, as mbedTLS was built and negotiated
        // (not our constant): a chunk is then always taken whole, also when
        // the send blocks. 512 is the smallest record TLS allows.
        let record = crate::ffi::tls::max_out_record_payload(&self.ctx).unwrap_or(512);
        let mut written = 0;
        while written < buf.len() {
            let chunk = &buf[written..buf.len().min(written + record)];
            match Io::send(&mut self.ctx, chunk) {
                Ok(n) => written += n,
                Err(e) if is_want(&e) => {
                    if Instant::now() >= deadline {
                        // mbedTLS encrypted the chunk into its output buffer;
                        // it is committed and goes out before the next data.
                        self.pending_write = true;
                        written += chunk.len();
                        break;
                    }
                    // Retrying with the same chunk flushes the queued record.
                }
                Err(e) if is_peer_gone(&e) => {
                    self.peer_closed = true;
                    return Err(TransportError::Failed(format!(
                        "TLS write to {} failed: the peer closed the connection",
                        self.peer
                    )));
                }
                Err(e) => return Err(self.failure("write", &e)),
            }
        }
        Ok(written)
    }

    fn buffered(&self) -> usize {
        self.ctx.bytes_available()
    }

    fn readiness_handle(&self) -> Option<TcpStream> {
        self.readiness.try_clone().ok()
    }
}

impl Drop for TlsConnection {
    fn drop(&mut self) {
        // Dropping the context sends close-notify; bound how long that may take.
        self.set_deadline(Instant::now() + CLOSE_NOTIFY_TIMEOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_recognised_with_and_without_brackets() {
        assert_eq!(ip_literal("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("localhost"), None);
    }

    #[test]
    fn cipher_list_is_terminated_and_starts_with_aead_ecdhe() {
        assert_eq!(CIPHERSUITES.last(), Some(&0));
        assert_eq!(CIPHERSUITES[0], 0xC02B);
    }

    #[test]
    fn unusable_ca_is_reported() {
        let err = TlsConfig::new(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None,
        )
        .unwrap_err();
        assert!(matches!(err, TlsError::BadCaCertificate { .. }));
        assert!(TlsConfig::new(b"\0", None).is_err());
    }
}
