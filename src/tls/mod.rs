//! TLS 1.2 client over mbedTLS: server verification against a given CA
//! (host name or IP SAN), optional client certificate, and the
//! [`Transport`] implementation behind `HAL_SSL_*` and the MQTT client.
//!
//! Every connection has its own mbedTLS configuration and random generator,
//! so connections share no mutable state; parsed CA lists and credentials are
//! shared read-only through `Arc`.

mod credentials;
mod explain;
mod san;

pub(crate) use credentials::MAX_CREDENTIAL_LEN;
pub use credentials::{
    format_utc, ClientCredentials, CredentialError, CredentialOrigin, CredentialSource,
};

use explain::describe;

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

/// The TLS policy (README "TLS policy"): TLS 1.2 only, AEAD suites only,
/// forward-secret ECDHE first, RSA key exchange with AES-GCM as the fallback
/// for servers that offer nothing else (the vendor's 3.2.x client offered
/// mbedTLS's defaults, so which suites the platform accepts is not known).
/// No CBC suite and nothing with SHA-1 MACs. Most preferred first.
pub const CIPHERSUITES: [(u16, &str); 8] = [
    (0xC02B, "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"),
    (0xC02C, "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"),
    (0xCCA9, "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256"),
    (0xC02F, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"),
    (0xC030, "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"),
    (0xCCA8, "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256"),
    (0x009C, "TLS-RSA-WITH-AES-128-GCM-SHA256"),
    (0x009D, "TLS-RSA-WITH-AES-256-GCM-SHA384"),
];

/// Key-exchange groups offered, most preferred first (the `supported_groups`
/// extension). Certificates' ECDSA keys must be on P-256 or P-384.
pub const CURVES: [(EcGroupId, &str); 3] = [
    (EcGroupId::Curve25519, "x25519"),
    (EcGroupId::SecP256R1, "secp256r1"),
    (EcGroupId::SecP384R1, "secp384r1"),
];

/// What the handshake-failure message says iotkit offers.
const OFFER_SUMMARY: &str = "iotkit offers TLS 1.2 only, with ECDHE-ECDSA, ECDHE-RSA or RSA key exchange and AES-GCM or ChaCha20-Poly1305 (no CBC suites, no TLS 1.0/1.1/1.3)";

/// Largest plaintext per outgoing TLS record. mbedTLS is built with
/// `MBEDTLS_SSL_OUT_CONTENT_LEN` = this (`.cargo/config.toml`), which saves
/// 12 KiB per connection over the 16 KiB default; the client chooses the size
/// of its own records, so any server accepts them. Writes are cut into chunks
/// of the record size mbedTLS reports at run time, so that a chunk is always
/// taken whole whatever the build set (see `write`).
///
/// cbindgen:ignore
pub const MAX_RECORD_PAYLOAD: usize = 4 * 1024;

/// How long dropping a connection may spend sending close-notify.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_millis(200);

/// Before this the device clock was surely never set (no RTC, no NTP yet):
/// a date before this library's release. Until the time is known to be
/// right ([`set_clock_trusted`]), a clock reading earlier makes the validity
/// dates of the server's certificates unjudgeable, so they are not checked.
pub(crate) const CLOCK_PLAUSIBLE_AFTER_UNIX: u64 = 1_735_689_600; // 2025-01-01 00:00:00 UTC

/// Set once the firmware (or a time service) vouches for the device clock.
static CLOCK_TRUSTED: AtomicBool = AtomicBool::new(false);

/// Declares whether the device clock shows the real time. Once `true`, the
/// validity dates of server certificates are always checked, whatever the
/// clock reads; `false` returns to the default: dates are checked when the
/// clock reads 2025-01-01 or later and skipped (with a warning) before.
/// Applies to handshakes started afterwards.
pub fn set_clock_trusted(trusted: bool) {
    CLOCK_TRUSTED.store(trusted, Ordering::Relaxed);
}

/// Whether [`set_clock_trusted`] vouched for the clock.
pub fn clock_trusted() -> bool {
    CLOCK_TRUSTED.load(Ordering::Relaxed)
}

/// How the next handshake treats certificate validity dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCheck {
    /// Expired or not-yet-valid server certificates are refused.
    Enforced,
    /// The clock reads before 2025-01-01 and nobody
    /// vouched for it: dates are not checked (everything else is).
    SkippedClockUnset,
}

/// The date policy for a clock reading `now` (see [`set_clock_trusted`]).
pub fn date_check_at(now: SystemTime, trusted: bool) -> DateCheck {
    let plausible = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() >= CLOCK_PLAUSIBLE_AFTER_UNIX);
    if trusted || plausible {
        DateCheck::Enforced
    } else {
        DateCheck::SkippedClockUnset
    }
}

/// The date policy now.
pub fn date_check() -> DateCheck {
    date_check_at(SystemTime::now(), clock_trusted())
}

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
                "the CA certificate(s) for verifying the server cannot be used: {detail}; pass the server's root CA (one or more certificates, PEM or DER)"
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
            TlsError::ServerCertificateRejected { host, detail } => write!(
                f,
                "the certificate of {host} was rejected: {detail} The server must present a certificate signed with SHA-256 or stronger, with an RSA key of 2048 bits or more or an ECDSA key"
            ),
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
    /// `ca_pem`: the server's root CA(s): a PEM bundle of any number of
    /// certificates (a trailing NUL is fine) or DER certificates back to
    /// back. Every certificate in it must be readable.
    pub fn new(
        ca_pem: &[u8],
        credentials: Option<Arc<ClientCredentials>>,
    ) -> Result<TlsConfig, TlsError> {
        let ca = credentials::parse_certificates(ca_pem)
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
    let mut suites: Vec<i32> = CIPHERSUITES.iter().map(|&(id, _)| i32::from(id)).collect();
    suites.push(0);
    conf.set_ciphersuites(Arc::new(suites));
    let mut curves: Vec<_> = CURVES.iter().map(|&(curve, _)| curve.into()).collect();
    curves.push(EcGroupId::None.into());
    conf.set_curves(Arc::new(curves));
    conf.set_rng(Arc::new(CtrDrbg::new(Arc::new(OsEntropy::new()), None)?));
    conf.set_ca_list(config.ca.clone(), None);
    if let Some(credentials) = &config.credentials {
        conf.push_cert(credentials.chain.clone(), credentials.key.clone())?;
    }
    let dates = date_check();
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
            let date_flags = VerifyError::CERT_EXPIRED | VerifyError::CERT_FUTURE;
            if dates == DateCheck::SkippedClockUnset && flags.intersects(date_flags) {
                crate::log_warn!(
                    "the device clock reads {}, before {}: it was never set, so the validity dates of the server's certificate \"{}\" are not checked (everything else is); call iotkit_tls_set_clock_trusted(1) once the clock is right",
                    format_utc(SystemTime::now()),
                    format_utc(SystemTime::UNIX_EPOCH + Duration::from_secs(CLOCK_PLAUSIBLE_AFTER_UNIX)),
                    cert.subject().unwrap_or_default()
                );
                flags.remove(date_flags);
            }
            outcome.flags.fetch_or(flags.bits(), Ordering::Relaxed);
            Ok(())
        },
    );
    Ok(conf)
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
        Some(codes::SslFatalAlertMessage) => format!(
            "the server refused the handshake before showing its certificate: it accepts none of the TLS versions and cipher suites offered ({OFFER_SUMMARY})"
        ),
        Some(codes::SslBadHsProtocolVersion) => format!(
            "the server does not speak TLS 1.2 ({OFFER_SUMMARY})"
        ),
        Some(codes::SslBadHsServerHello) => format!(
            "the server chose a TLS version or cipher suite that was not offered ({OFFER_SUMMARY})"
        ),
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
    /// The negotiated cipher suite's name, e.g.
    /// "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256".
    pub fn cipher_suite(&self) -> &'static str {
        let id = self.ctx.ciphersuite().ok();
        CIPHERSUITES
            .iter()
            .find(|&&(suite, _)| Some(suite) == id)
            .map_or("(unknown)", |&(_, name)| name)
    }

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
    fn dates_are_checked_once_the_clock_is_plausible_or_trusted() {
        let unset = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        let set = SystemTime::UNIX_EPOCH + Duration::from_secs(CLOCK_PLAUSIBLE_AFTER_UNIX);
        assert_eq!(date_check_at(unset, false), DateCheck::SkippedClockUnset);
        assert_eq!(date_check_at(unset, true), DateCheck::Enforced);
        assert_eq!(date_check_at(set, false), DateCheck::Enforced);
        assert_eq!(date_check_at(set, true), DateCheck::Enforced);
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
