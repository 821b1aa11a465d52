//! A TLS 1.2 client on mbedTLS (through `mbedtls-sys-auto`), over the
//! firmware's `HAL_TCP_*` connection.
//!
//! [`TlsClient`] keeps what outlives a connection: the parsed CA,
//! certificate and key, the configuration, the CTR-DRBG (seeded from
//! `HAL_Random`) and the session of the last connection, which the next
//! [`TlsClient::connect`] offers for resumption (a session ticket or the
//! session id, whichever the server gave).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_int, c_uchar};

// mbedtls-sys-auto declares its own `c_void` (and a `c_char` that is signed
// even where C's is not); its callbacks take that `c_void`.
use core::fmt;
use mbedtls_sys::types::raw_types::c_void;

use mbedtls_sys as sys;

use super::hal::{self, Io, TcpConnection};

/// The compatibility policy of the Linux library (src/tls): forward-secret
/// AEAD suites first, then CBC and static-RSA ones for old servers.
static CIPHERSUITES: [c_int; 14] = [
    0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8, 0xC023, 0xC027, 0x009C, 0x009D, 0x003C, 0x002F,
    0x0035, 0,
];

/// The groups offered for ECDHE, as on Linux.
static CURVES: [sys::ecp_group_id; 4] = [
    sys::ECP_DP_CURVE25519,
    sys::ECP_DP_SECP256R1,
    sys::ECP_DP_SECP384R1,
    sys::ECP_DP_NONE,
];

/// Why TLS failed, with mbedTLS's code where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// The CA certificate did not parse.
    BadCa(i32),
    /// The device certificate did not parse.
    BadCertificate(i32),
    /// The device's private key did not parse.
    BadKey(i32),
    /// The key does not belong to the certificate (or setup failed).
    Setup(i32),
    /// `HAL_TCP_Establish` returned 0.
    Connect,
    /// The handshake failed.
    Handshake(i32),
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// Reading or writing failed after the handshake.
    Io(i32),
    /// The server closed the connection.
    Closed,
    /// The server did not grant the Max Fragment Length this build
    /// needs (its inbound buffer holds only this many bytes).
    MaxFragmentRefused(u16),
    /// No memory.
    NoMemory,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TlsError::BadCa(code) => write!(
                f,
                "the CA certificate is not a PEM or DER X.509 certificate (mbedTLS -0x{:04X})",
                -code
            ),
            TlsError::BadCertificate(code) => write!(
                f,
                "the device certificate is not a PEM or DER X.509 certificate (mbedTLS -0x{:04X})",
                -code
            ),
            TlsError::BadKey(code) => write!(
                f,
                "the device's private key is not an unencrypted RSA or EC key in PEM or DER (mbedTLS -0x{:04X})",
                -code
            ),
            TlsError::Setup(code) => write!(
                f,
                "the TLS configuration was refused (mbedTLS -0x{:04X})",
                -code
            ),
            TlsError::Connect => f.write_str("the TCP connection to the server could not be made"),
            TlsError::Handshake(code) => {
                f.write_str("the TLS handshake failed: ")?;
                f.write_str(handshake_reason(code))?;
                write!(f, " (mbedTLS -0x{:04X})", -code)
            }
            TlsError::HandshakeTimeout => f.write_str("the TLS handshake did not finish in time"),
            TlsError::Io(code) => write!(
                f,
                "the TLS connection failed (mbedTLS -0x{:04X})",
                -code
            ),
            TlsError::Closed => f.write_str("the server closed the connection"),
            TlsError::MaxFragmentRefused(len) => write!(
                f,
                "the server did not grant Max Fragment Length {len}, which this firmware's {len}-byte TLS receive buffer needs (build the image without IOTKIT_MCU_MAX_FRAGMENT for this server)"
            ),
            TlsError::NoMemory => f.write_str("out of memory for the TLS connection"),
        }
    }
}

fn handshake_reason(code: i32) -> &'static str {
    match code {
        sys::ERR_X509_CERT_VERIFY_FAILED => {
            "the server's certificate does not verify against the CA (or is not issued for this host name)"
        }
        sys::ERR_SSL_FATAL_ALERT_MESSAGE => {
            "the server refused it with an alert (often: it does not accept the device certificate)"
        }
        sys::ERR_SSL_CONN_EOF | sys::ERR_SSL_PEER_CLOSE_NOTIFY => {
            "the server closed the connection during the handshake"
        }
        sys::ERR_NET_SEND_FAILED | sys::ERR_NET_RECV_FAILED => {
            "the TCP connection failed during the handshake"
        }
        _ => "mbedTLS reported an error",
    }
}

/// The result of one [`TlsClient::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// The IANA number of the negotiated cipher suite.
    pub ciphersuite: u16,
    /// The session of the previous connection was resumed (no certificate
    /// exchange, no private-key operation).
    pub resumed: bool,
    /// The largest record the server may send (16384 without Max Fragment
    /// Length).
    pub max_in_record: usize,
}

struct Config {
    conf: sys::ssl_config,
    drbg: sys::ctr_drbg_context,
    ca: sys::x509_crt,
    crt: sys::x509_crt,
    pk: sys::pk_context,
    session: sys::ssl_session,
    have_session: bool,
}

struct Connection {
    ssl: sys::ssl_context,
    tcp: TcpConnection,
}

/// A TLS client: credentials, configuration and the saved session.
pub struct TlsClient {
    config: Box<Config>,
    conn: Option<Box<Connection>>,
    max_fragment: u16,
}

/// mbedTLS parses PEM only with the terminating NUL counted.
fn with_nul(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.extend_from_slice(data);
    let is_pem = data.windows(10).any(|w| w == b"-----BEGIN");
    if is_pem && data.last() != Some(&0) {
        v.push(0);
    }
    v
}

/// Boxes a zeroed C struct; the `*_init` call of its type runs next.
fn boxed_zeroed<T>() -> Option<Box<T>> {
    let layout = core::alloc::Layout::new::<T>();
    // SAFETY: the layout is that of T and not zero-sized (mbedTLS contexts).
    let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: ptr is a fresh, zeroed allocation of T's layout; every
    // mbedTLS context is plain data for which all-zero bytes is a valid
    // (pre-init) value.
    Some(unsafe { Box::from_raw(ptr) })
}

unsafe extern "C" fn entropy(_ctx: *mut c_void, out: *mut c_uchar, len: usize) -> c_int {
    // SAFETY: mbedTLS passes a writable buffer of len bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(out, len) };
    hal::random_fill(out);
    0
}

unsafe extern "C" fn bio_send(ctx: *mut c_void, buf: *const c_uchar, len: usize) -> c_int {
    // SAFETY: ctx is the TcpConnection of the boxed Connection set with
    // ssl_set_bio; it lives as long as the ssl context that calls this.
    let tcp = unsafe { &mut *ctx.cast::<TcpConnection>() };
    // SAFETY: mbedTLS passes a readable buffer of len bytes.
    let data = unsafe { core::slice::from_raw_parts(buf, len) };
    match tcp.write(data, 5_000) {
        Io::Done(0) => sys::ERR_SSL_WANT_WRITE,
        Io::Done(n) => n as c_int,
        Io::Closed | Io::Failed => sys::ERR_NET_SEND_FAILED,
    }
}

unsafe extern "C" fn bio_recv(
    ctx: *mut c_void,
    buf: *mut c_uchar,
    len: usize,
    timeout: u32,
) -> c_int {
    // SAFETY: as in bio_send.
    let tcp = unsafe { &mut *ctx.cast::<TcpConnection>() };
    // SAFETY: mbedTLS passes a writable buffer of len bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let timeout = if timeout == 0 { u32::MAX } else { timeout };
    match tcp.read(out, timeout) {
        Io::Done(0) => sys::ERR_SSL_TIMEOUT,
        Io::Done(n) => n as c_int,
        Io::Closed => 0,
        Io::Failed => sys::ERR_NET_RECV_FAILED,
    }
}

impl TlsClient {
    /// Parses the CA, the device certificate and key (PEM or DER), seeds
    /// the DRBG and prepares a TLS 1.2 client configuration that requires
    /// a server certificate chaining to `ca`. `max_fragment` (512, 1024,
    /// 2048 or 4096; 0: none) asks the server for records of at most that
    /// size (Max Fragment Length, RFC 6066) and refuses a server that does
    /// not grant it; it must match the build's `MBEDTLS_SSL_IN_CONTENT_LEN`.
    pub fn new(
        ca: &[u8],
        cert: &[u8],
        key: &[u8],
        max_fragment: u16,
    ) -> Result<TlsClient, TlsError> {
        let mfl_code = match max_fragment {
            0 => None,
            512 => Some(1u8),
            1024 => Some(2),
            2048 => Some(3),
            4096 => Some(4),
            _ => return Err(TlsError::Setup(sys::ERR_SSL_BAD_INPUT_DATA)),
        };
        let config: Box<Config> = boxed_zeroed().ok_or(TlsError::NoMemory)?;
        let mut client = TlsClient {
            config,
            conn: None,
            max_fragment: 0,
        };
        let c = &mut *client.config;
        // SAFETY: every context is initialised first, so Drop (which runs on
        // the early returns too) frees only initialised contexts; the
        // configuration keeps pointers to the DRBG, the certificates and the
        // key, which live in the same Box as long as it; the static lists
        // live forever.
        unsafe {
            sys::ssl_config_init(&mut c.conf);
            sys::ctr_drbg_init(&mut c.drbg);
            sys::x509_crt_init(&mut c.ca);
            sys::x509_crt_init(&mut c.crt);
            sys::pk_init(&mut c.pk);
            sys::ssl_session_init(&mut c.session);

            let ca = with_nul(ca);
            let rc = sys::x509_crt_parse(&mut c.ca, ca.as_ptr(), ca.len());
            if rc != 0 {
                return Err(TlsError::BadCa(rc));
            }
            let cert = with_nul(cert);
            let rc = sys::x509_crt_parse(&mut c.crt, cert.as_ptr(), cert.len());
            if rc != 0 {
                return Err(TlsError::BadCertificate(rc));
            }
            let key = with_nul(key);
            let rc = sys::pk_parse_key(&mut c.pk, key.as_ptr(), key.len(), core::ptr::null(), 0);
            if rc != 0 {
                return Err(TlsError::BadKey(rc));
            }
            let personal = b"iotkit-mcu";
            let rc = sys::ctr_drbg_seed(
                &mut c.drbg,
                Some(entropy),
                core::ptr::null_mut(),
                personal.as_ptr(),
                personal.len(),
            );
            if rc != 0 {
                return Err(TlsError::Setup(rc));
            }
            let rc = sys::ssl_config_defaults(
                &mut c.conf,
                sys::SSL_IS_CLIENT,
                sys::SSL_TRANSPORT_STREAM,
                sys::SSL_PRESET_DEFAULT,
            );
            if rc != 0 {
                return Err(TlsError::Setup(rc));
            }
            sys::ssl_conf_min_version(
                &mut c.conf,
                sys::SSL_MAJOR_VERSION_3,
                sys::SSL_MINOR_VERSION_3,
            );
            sys::ssl_conf_max_version(
                &mut c.conf,
                sys::SSL_MAJOR_VERSION_3,
                sys::SSL_MINOR_VERSION_3,
            );
            sys::ssl_conf_authmode(&mut c.conf, sys::SSL_VERIFY_REQUIRED);
            sys::ssl_conf_ciphersuites(&mut c.conf, CIPHERSUITES.as_ptr());
            sys::ssl_conf_curves(&mut c.conf, CURVES.as_ptr());
            let drbg: *mut sys::ctr_drbg_context = &mut c.drbg;
            sys::ssl_conf_rng(&mut c.conf, Some(sys::ctr_drbg_random), drbg.cast());
            sys::ssl_conf_ca_chain(&mut c.conf, &mut c.ca, core::ptr::null_mut());
            let rc = sys::ssl_conf_own_cert(&mut c.conf, &mut c.crt, &mut c.pk);
            if rc != 0 {
                return Err(TlsError::Setup(rc));
            }
            if let Some(code) = mfl_code {
                let rc = sys::ssl_conf_max_frag_len(&mut c.conf, code);
                if rc != 0 {
                    return Err(TlsError::Setup(rc));
                }
            }
        }
        client.max_fragment = max_fragment;
        Ok(client)
    }

    /// SHA-256 of the device certificate (DER), the stable id of a device
    /// that does not know its identity yet.
    pub fn certificate_fingerprint(&self) -> [u8; 32] {
        let crt = &self.config.crt;
        let mut out = [0u8; 32];
        // SAFETY: crt was parsed in new, so raw points to its DER bytes
        // (raw.len of them); out holds the 32-byte digest.
        unsafe {
            let _ = sys::sha256_ret(crt.raw.p, crt.raw.len, out.as_mut_ptr(), 0);
        }
        out
    }

    /// Whether a session is saved for resumption.
    pub fn has_session(&self) -> bool {
        self.config.have_session
    }

    /// Forgets the saved session: the next handshake is a full one.
    pub fn forget_session(&mut self) {
        let c = &mut *self.config;
        // SAFETY: the session was initialised in new.
        unsafe {
            sys::ssl_session_free(&mut c.session);
            sys::ssl_session_init(&mut c.session);
        }
        c.have_session = false;
    }

    /// Connects over `HAL_TCP_Establish(host, port)` and runs the
    /// handshake (server name `host`) within `timeout_ms`, offering the
    /// saved session. Closes a previous connection first.
    pub fn connect(
        &mut self,
        host: &str,
        port: u16,
        timeout_ms: u32,
    ) -> Result<HandshakeInfo, TlsError> {
        self.close();
        let tcp = TcpConnection::connect(host, port).ok_or(TlsError::Connect)?;
        let mut name = Vec::with_capacity(host.len() + 1);
        name.extend_from_slice(host.as_bytes());
        name.push(0);
        // SAFETY: an all-zero ssl_context is its pre-init state (plain data,
        // null pointers, no callbacks); ssl_init runs before any use.
        let mut conn = Box::new(Connection {
            ssl: unsafe { core::mem::zeroed() },
            tcp,
        });
        let c = &mut *self.config;
        let deadline = hal::uptime_ms().saturating_add(u64::from(timeout_ms));
        // SAFETY: ssl keeps pointers to the configuration (which outlives
        // every connection: close() runs before the Box<Config> is dropped)
        // and to conn.tcp, which lives in the same Box as ssl.
        let info = unsafe {
            sys::ssl_init(&mut conn.ssl);
            let ssl: *mut sys::ssl_context = &mut conn.ssl;
            let rc = sys::ssl_setup(ssl, &c.conf);
            if rc != 0 {
                drop_connection(conn);
                return Err(TlsError::Setup(rc));
            }
            let rc = sys::ssl_set_hostname(ssl, name.as_ptr().cast());
            if rc != 0 {
                drop_connection(conn);
                return Err(TlsError::Setup(rc));
            }
            let tcp: *mut TcpConnection = &mut conn.tcp;
            sys::ssl_set_bio(ssl, tcp.cast(), Some(bio_send), None, Some(bio_recv));
            if c.have_session {
                // A failure here only means a full handshake.
                let _ = sys::ssl_set_session(ssl, &c.session);
            }
            sys::ssl_conf_read_timeout(&mut c.conf, 1_000);
            let mut resumed = false;
            loop {
                if (*ssl).state == sys::SSL_HANDSHAKE_OVER as c_int {
                    break;
                }
                let before = (*ssl).state;
                let rc = sys::ssl_handshake_step(ssl);
                if rc == 0 && before == sys::SSL_SERVER_HELLO as c_int && self.max_fragment != 0 {
                    let hello = core::slice::from_raw_parts((*ssl).in_msg, (*ssl).in_hslen);
                    if !server_hello_has_extension(hello, EXT_MAX_FRAGMENT_LENGTH) {
                        drop_connection(conn);
                        return Err(TlsError::MaxFragmentRefused(self.max_fragment));
                    }
                }
                if !(*ssl).handshake.is_null() && (*(*ssl).handshake).resume != 0 {
                    resumed = true;
                }
                match rc {
                    0 => {}
                    sys::ERR_SSL_WANT_READ | sys::ERR_SSL_WANT_WRITE | sys::ERR_SSL_TIMEOUT => {
                        if hal::uptime_ms() >= deadline {
                            drop_connection(conn);
                            return Err(TlsError::HandshakeTimeout);
                        }
                    }
                    rc => {
                        drop_connection(conn);
                        return Err(TlsError::Handshake(rc));
                    }
                }
            }
            // Keep this session for the next connection.
            sys::ssl_session_free(&mut c.session);
            sys::ssl_session_init(&mut c.session);
            c.have_session = sys::ssl_get_session(ssl, &mut c.session) == 0;
            HandshakeInfo {
                ciphersuite: ciphersuite_id(ssl),
                resumed,
                max_in_record: inbound_record_limit(self.max_fragment),
            }
        };
        self.conn = Some(conn);
        Ok(info)
    }

    /// Writes all of `data` within `timeout_ms`.
    pub fn write_all(&mut self, data: &[u8], timeout_ms: u32) -> Result<(), TlsError> {
        let conn = self.conn.as_mut().ok_or(TlsError::Closed)?;
        let deadline = hal::uptime_ms().saturating_add(u64::from(timeout_ms));
        let mut done = 0;
        while done < data.len() {
            // SAFETY: ssl is set up; data[done..] is readable.
            let rc =
                unsafe { sys::ssl_write(&mut conn.ssl, data[done..].as_ptr(), data.len() - done) };
            match rc {
                n if n > 0 => done += n as usize,
                sys::ERR_SSL_WANT_READ | sys::ERR_SSL_WANT_WRITE if hal::uptime_ms() < deadline => {
                }
                sys::ERR_SSL_WANT_READ | sys::ERR_SSL_WANT_WRITE => {
                    return Err(TlsError::Io(sys::ERR_NET_SEND_FAILED))
                }
                rc => return Err(TlsError::Io(rc)),
            }
        }
        Ok(())
    }

    /// Reads what arrives within `timeout_ms` (at least one byte, or 0 when
    /// the time ran out).
    pub fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, TlsError> {
        let conn = self.conn.as_mut().ok_or(TlsError::Closed)?;
        let c = &mut *self.config;
        // SAFETY: ssl is set up and buf is writable for its length; the
        // read timeout is read by the ssl context on each receive.
        let rc = unsafe {
            sys::ssl_conf_read_timeout(&mut c.conf, timeout_ms.max(1));
            sys::ssl_read(&mut conn.ssl, buf.as_mut_ptr(), buf.len())
        };
        match rc {
            n if n > 0 => Ok(n as usize),
            sys::ERR_SSL_TIMEOUT | sys::ERR_SSL_WANT_READ | sys::ERR_SSL_WANT_WRITE => Ok(0),
            0 | sys::ERR_SSL_PEER_CLOSE_NOTIFY | sys::ERR_SSL_CONN_EOF => Err(TlsError::Closed),
            rc => Err(TlsError::Io(rc)),
        }
    }

    /// Sends close-notify (best effort) and closes the TCP connection.
    pub fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // SAFETY: ssl is set up; a failed close-notify is harmless.
            unsafe {
                let _ = sys::ssl_close_notify(&mut conn.ssl);
            }
            drop_connection(conn);
        }
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }
}

fn ciphersuite_id(ssl: *const sys::ssl_context) -> u16 {
    // SAFETY: ssl is a context after a finished handshake; session is
    // non-null then.
    unsafe {
        let session = (*ssl).session;
        if session.is_null() {
            0
        } else {
            (*session).ciphersuite as u16
        }
    }
}

/// RFC 6066's max_fragment_length extension.
const EXT_MAX_FRAGMENT_LENGTH: u16 = 1;

/// Whether a ServerHello handshake message (with its 4-byte header)
/// carries extension `wanted`. mbedTLS 2.28 checks a Max Fragment Length
/// answer but keeps no record of whether there was one.
fn server_hello_has_extension(msg: &[u8], wanted: u16) -> bool {
    // type(1) length(3) version(2) random(32) session_id(1 + n)
    // cipher_suite(2) compression(1) extensions(2 + ...)
    let Some(&sid_len) = msg.get(38) else {
        return false;
    };
    let mut at = 39 + usize::from(sid_len) + 3;
    let Some(ext_len) = msg.get(at..at + 2) else {
        return false;
    };
    let end = (at + 2 + usize::from(u16::from_be_bytes([ext_len[0], ext_len[1]]))).min(msg.len());
    at += 2;
    while at + 4 <= end {
        let kind = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if kind == wanted {
            return true;
        }
        at += 4 + len;
    }
    false
}

/// The largest record the server may send: the granted Max Fragment
/// Length, else 16384.
fn inbound_record_limit(max_fragment: u16) -> usize {
    if max_fragment == 0 {
        16_384
    } else {
        usize::from(max_fragment)
    }
}

fn drop_connection(mut conn: Box<Connection>) {
    // SAFETY: ssl was initialised; the TCP connection closes when the Box
    // drops, after the ssl context no longer uses it.
    unsafe { sys::ssl_free(&mut conn.ssl) };
    drop(conn);
}

impl Drop for TlsClient {
    fn drop(&mut self) {
        self.close();
        let c = &mut *self.config;
        // SAFETY: all were initialised in new (init before any early
        // return) and are freed once.
        unsafe {
            sys::ssl_session_free(&mut c.session);
            sys::ssl_config_free(&mut c.conf);
            sys::ctr_drbg_free(&mut c.drbg);
            sys::x509_crt_free(&mut c.ca);
            sys::x509_crt_free(&mut c.crt);
            sys::pk_free(&mut c.pk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello with a 32-byte session id and the given extensions.
    fn server_hello(extensions: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(32);
        body.extend_from_slice(&[9; 32]);
        body.extend_from_slice(&[0xC0, 0x2F, 0]);
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        }
        if !extensions.is_empty() {
            body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            body.extend_from_slice(&ext);
        }
        let mut msg = vec![2, 0, (body.len() >> 8) as u8, body.len() as u8];
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn finds_the_max_fragment_length_answer() {
        let granted = server_hello(&[(0xFF01, &[0]), (EXT_MAX_FRAGMENT_LENGTH, &[3]), (23, &[])]);
        assert!(server_hello_has_extension(
            &granted,
            EXT_MAX_FRAGMENT_LENGTH
        ));
        let ignored = server_hello(&[(0xFF01, &[0]), (23, &[])]);
        assert!(!server_hello_has_extension(
            &ignored,
            EXT_MAX_FRAGMENT_LENGTH
        ));
        assert!(!server_hello_has_extension(
            &server_hello(&[]),
            EXT_MAX_FRAGMENT_LENGTH
        ));
    }

    #[test]
    fn survives_truncated_and_lying_server_hellos() {
        let full = server_hello(&[(23, &[]), (EXT_MAX_FRAGMENT_LENGTH, &[3])]);
        for cut in 0..full.len() {
            // Never panics; an extension cut off is not found.
            let _ = server_hello_has_extension(&full[..cut], EXT_MAX_FRAGMENT_LENGTH);
        }
        let mut lying = full.clone();
        let at = 4 + 2 + 32 + 1 + 32 + 3;
        lying[at] = 0xFF; // extensions length far beyond the message
        lying[at + 1] = 0xFF;
        assert!(server_hello_has_extension(&lying, EXT_MAX_FRAGMENT_LENGTH));
        let mut bad_len = server_hello(&[(23, &[1, 2]), (EXT_MAX_FRAGMENT_LENGTH, &[3])]);
        let first_len = at + 2 + 2;
        bad_len[first_len] = 0xFF; // first extension claims 65 KB
        assert!(!server_hello_has_extension(
            &bad_len,
            EXT_MAX_FRAGMENT_LENGTH
        ));
    }
}
