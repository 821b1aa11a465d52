//! wrappers_tls.h: TLS connections behind integer handles, the device
//! credentials globals `g_cli_crt` / `g_cli_key`, our credential setter, and
//! `ssl_hooks_set`.
//!
//! Client credentials are taken at connect time, first found wins:
//! 1. `g_cli_crt` + `g_cli_key` (PEM text the firmware assigns at run time);
//! 2. `iotkit_x509_set_credentials()` (PEM or DER, optional key password);
//! 3. files named by IOTX_X509_CERT_FILE + IOTX_X509_KEY_FILE
//!    (IOTX_X509_KEY_PASSWORD optional).
//!
//! Parsed credentials are cached by content digest, so reconnecting with the
//! same PEM does not parse it again.

use std::ffi::{c_char, c_int};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, SystemTime};

use mbedtls::hash::{Md, Type as MdType};
use zeroize::Zeroizing;

use super::c_str_bounded;
use super::guard;
use super::tcp::{hal_read, hal_write, host_argument, invalid_handle};
use super::types::ssl_hooks_t;
use crate::events::state_event;
use crate::handles::HandleTable;
use crate::net::DEFAULT_CONNECT_TIMEOUT;
use crate::state;
use crate::tls::{
    self, ClientCredentials, CredentialError, CredentialOrigin, CredentialSource, TlsConfig,
    TlsConnection, MAX_CREDENTIAL_LEN,
};

/// Device certificate (PEM, NUL-terminated); NULL until firmware assigns it.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut g_cli_crt: *const c_char = std::ptr::null();

/// Device private key (PEM, NUL-terminated, unencrypted); NULL until
/// firmware assigns it.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut g_cli_key: *const c_char = std::ptr::null();

/// Environment variables for Linux-class devices.
pub const ENV_CERT_FILE: &str = "IOTX_X509_CERT_FILE";
pub const ENV_KEY_FILE: &str = "IOTX_X509_KEY_FILE";
pub const ENV_KEY_PASSWORD: &str = "IOTX_X509_KEY_PASSWORD";
pub const ENV_CA_FILE: &str = "IOTX_X509_CA_FILE";

/// Longest key password accepted.
const MAX_PASSWORD_LEN: usize = 1024;

static CONNECTIONS: HandleTable<Mutex<TlsConnection>> = HandleTable::new();

/// Credentials parsed from one source, with the digest of their input.
struct Cached {
    digest: [u8; 32],
    credentials: Arc<ClientCredentials>,
}

static GLOBALS_CACHE: Mutex<Option<Cached>> = Mutex::new(None);
static FILES_CACHE: Mutex<Option<Cached>> = Mutex::new(None);
static SETTER_CREDENTIALS: Mutex<Option<Arc<ClientCredentials>>> = Mutex::new(None);

/// The last TLS configuration built, reused while CA and credentials match.
struct CachedConfig {
    ca_digest: [u8; 32],
    config: TlsConfig,
}

static CONFIG_CACHE: Mutex<Option<CachedConfig>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Md::hash(MdType::Sha256, data, &mut out).expect("SHA-256 is compiled into mbedTLS");
    out
}

/// Parses `source` unless the same content was parsed last time for this
/// cache. New credentials with a validity problem raise a state event once.
fn parse_cached(
    cache: &Mutex<Option<Cached>>,
    source: CredentialSource,
) -> Result<Arc<ClientCredentials>, CredentialError> {
    let digest = source.content_digest();
    let mut cached = lock(cache);
    if let Some(hit) = cached.as_ref().filter(|c| c.digest == digest) {
        return Ok(hit.credentials.clone());
    }
    let credentials = Arc::new(ClientCredentials::from_source(&source)?);
    report_validity(&credentials);
    *cached = Some(Cached {
        digest,
        credentials: credentials.clone(),
    });
    Ok(credentials)
}

fn report_validity(credentials: &ClientCredentials) {
    if let Some(problem) = credentials.validity_problem(SystemTime::now()) {
        state_event(state::STATE_USER_INPUT_INVALID, &problem);
    }
}

/// Reads a NUL-terminated credential string from a C pointer.
///
/// # Safety
/// `pointer` is NULL or a NUL-terminated string (or readable for at least
/// MAX_CREDENTIAL_LEN + 1 bytes).
unsafe fn global_text(pointer: *const c_char, name: &str) -> Result<Vec<u8>, CredentialError> {
    // SAFETY: as promised by the caller; at most MAX_CREDENTIAL_LEN + 1
    // bytes are read.
    match unsafe { c_str_bounded(pointer, MAX_CREDENTIAL_LEN) } {
        Ok(Some(bytes)) => Ok(bytes.to_vec()),
        Ok(None) => Err(CredentialError::Incomplete {
            what: format!("{name} is NULL"),
        }),
        Err(()) => Err(CredentialError::TooLarge {
            what: format!("{name} (no NUL terminator within the limit)"),
            len: MAX_CREDENTIAL_LEN + 1,
        }),
    }
}

fn from_globals() -> Option<Result<CredentialSource, CredentialError>> {
    // SAFETY: plain pointer-sized reads of the exported globals, which
    // firmware assigns before connecting; no reference to them is formed.
    let (cert, key) = unsafe {
        (
            std::ptr::addr_of!(g_cli_crt).read_volatile(),
            std::ptr::addr_of!(g_cli_key).read_volatile(),
        )
    };
    match (cert.is_null(), key.is_null()) {
        (true, true) => None,
        (false, true) => Some(Err(CredentialError::Incomplete {
            what: "g_cli_crt is set but g_cli_key is NULL: assign the device's private key to g_cli_key too".to_owned(),
        })),
        (true, false) => Some(Err(CredentialError::Incomplete {
            what: "g_cli_key is set but g_cli_crt is NULL: assign the device certificate to g_cli_crt too".to_owned(),
        })),
        (false, false) => Some((|| {
            // SAFETY: firmware assigns NUL-terminated PEM strings to the globals.
            let (cert, key) = unsafe {
                (global_text(cert, "g_cli_crt")?, global_text(key, "g_cli_key")?)
            };
            Ok(CredentialSource {
                origin: CredentialOrigin::Globals,
                cert,
                key: Zeroizing::new(key),
                password: None,
            })
        })()),
    }
}

fn read_file(path: &PathBuf, variable: &str) -> Result<Vec<u8>, CredentialError> {
    let what = format!("{} ({variable})", path.display());
    let meta = std::fs::metadata(path).map_err(|e| CredentialError::Unreadable {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    if meta.len() > MAX_CREDENTIAL_LEN as u64 {
        return Err(CredentialError::TooLarge {
            what,
            len: meta.len() as usize,
        });
    }
    std::fs::read(path).map_err(|e| CredentialError::Unreadable {
        what,
        detail: e.to_string(),
    })
}

fn env_path(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn from_files() -> Option<Result<CredentialSource, CredentialError>> {
    match (env_path(ENV_CERT_FILE), env_path(ENV_KEY_FILE)) {
        (None, None) => None,
        (Some(_), None) => Some(Err(CredentialError::Incomplete {
            what: format!(
                "{ENV_CERT_FILE} is set but {ENV_KEY_FILE} is not: set it to the private key file"
            ),
        })),
        (None, Some(_)) => Some(Err(CredentialError::Incomplete {
            what: format!(
                "{ENV_KEY_FILE} is set but {ENV_CERT_FILE} is not: set it to the certificate file"
            ),
        })),
        (Some(cert_path), Some(key_path)) => Some((|| {
            let cert = read_file(&cert_path, ENV_CERT_FILE)?;
            let key = Zeroizing::new(read_file(&key_path, ENV_KEY_FILE)?);
            let password =
                std::env::var_os(ENV_KEY_PASSWORD).map(|p| Zeroizing::new(p.into_encoded_bytes()));
            Ok(CredentialSource {
                origin: CredentialOrigin::Files {
                    cert_path,
                    key_path,
                },
                cert,
                key,
                password,
            })
        })()),
    }
}

/// The client credentials to use now, in precedence order: the globals, the
/// setter, the environment. `Ok(None)` when none is configured (servers that
/// do not ask for a client certificate still work).
pub(crate) fn runtime_client_credentials() -> Result<Option<Arc<ClientCredentials>>, CredentialError>
{
    if let Some(source) = from_globals() {
        return parse_cached(&GLOBALS_CACHE, source?).map(Some);
    }
    if let Some(credentials) = lock(&SETTER_CREDENTIALS).clone() {
        return Ok(Some(credentials));
    }
    if let Some(source) = from_files() {
        return parse_cached(&FILES_CACHE, source?).map(Some);
    }
    Ok(None)
}

/// The server CA from IOTX_X509_CA_FILE, when set.
pub(crate) fn ca_from_environment() -> Option<Result<Vec<u8>, String>> {
    let path = env_path(ENV_CA_FILE)?;
    Some(read_file(&path, ENV_CA_FILE).map_err(|e| e.to_string()))
}

/// Borrows `len` bytes at `data`, or up to the NUL when `len` is 0.
///
/// # Safety
/// `data` is readable for `len` bytes, or NUL-terminated when `len` is 0.
unsafe fn c_bytes<'a>(
    data: *const c_char,
    len: u32,
    max: usize,
) -> Result<Option<&'a [u8]>, usize> {
    if data.is_null() {
        return Ok(None);
    }
    if len == 0 {
        // SAFETY: as promised by the caller, the string is NUL-terminated.
        return unsafe { c_str_bounded(data, max) }.map_err(|()| max + 1);
    }
    let len = len as usize;
    if len > max {
        return Err(len);
    }
    // SAFETY: the caller promises `len` readable bytes at `data`.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(data.cast::<u8>(), len)
    }))
}

/// Sets the device certificate (chain) and private key, PEM or DER; RSA keys
/// in PKCS#1 or PKCS#8, EC keys, encrypted keys with `key_password` (NULL
/// when the key is not encrypted). A length of 0 means "NUL-terminated".
/// They are parsed and checked to belong together now: 0 on success,
/// otherwise a negative state code (and a state event saying what is wrong);
/// on failure the previous credentials stay in place.
/// Used when g_cli_crt/g_cli_key are NULL.
#[no_mangle]
pub extern "C" fn iotkit_x509_set_credentials(
    cert: *const c_char,
    cert_len: u32,
    key: *const c_char,
    key_len: u32,
    key_password: *const c_char,
) -> c_int {
    guard(
        "iotkit_x509_set_credentials",
        state::STATE_USER_INPUT_INVALID,
        || {
            let fail = |e: CredentialError| {
                state_event(e.state_code(), &format!("iotkit_x509_set_credentials: {e}"));
                e.state_code()
            };
            let too_large = |what: &str, len: usize| {
                fail(CredentialError::TooLarge {
                    what: what.to_owned(),
                    len,
                })
            };
            // SAFETY: the caller passes `cert_len` readable bytes (or a
            // NUL-terminated string when 0).
            let cert = match unsafe { c_bytes(cert, cert_len, MAX_CREDENTIAL_LEN) } {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return fail(CredentialError::Incomplete {
                        what: "the certificate argument is NULL".to_owned(),
                    })
                }
                Err(len) => return too_large("the certificate", len),
            };
            // SAFETY: as above, for the key.
            let key = match unsafe { c_bytes(key, key_len, MAX_CREDENTIAL_LEN) } {
                Ok(Some(k)) => Zeroizing::new(k.to_vec()),
                Ok(None) => {
                    return fail(CredentialError::Incomplete {
                        what: "the key argument is NULL".to_owned(),
                    })
                }
                Err(len) => return too_large("the key", len),
            };
            // SAFETY: NULL or a NUL-terminated password; bounded read.
            let password = match unsafe { c_str_bounded(key_password, MAX_PASSWORD_LEN) } {
                Ok(p) => p.map(|p| Zeroizing::new(p.to_vec())),
                Err(()) => return too_large("the key password", MAX_PASSWORD_LEN + 1),
            };
            let source = CredentialSource {
                origin: CredentialOrigin::Setter,
                cert: cert.to_vec(),
                key,
                password,
            };
            match ClientCredentials::from_source(&source) {
                Ok(credentials) => {
                    report_validity(&credentials);
                    *lock(&SETTER_CREDENTIALS) = Some(Arc::new(credentials));
                    0
                }
                Err(e) => fail(e),
            }
        },
    )
}

/// Forgets credentials set with iotkit_x509_set_credentials (the key is wiped
/// once no connection uses it any more).
#[no_mangle]
pub extern "C" fn iotkit_x509_clear_credentials() {
    guard("iotkit_x509_clear_credentials", (), || {
        lock(&SETTER_CREDENTIALS).take();
    })
}

/// Declares whether the device clock shows the real time (non-zero: yes,
/// e.g. after NTP or a time service answered; 0: back to the default).
///
/// By default the validity dates of the server's certificates are checked
/// whenever the clock reads 2025 or later, and not checked (with a warning)
/// while it reads earlier: a device without a real-time clock starts in
/// 1970 and must still be able to connect. Once the clock is declared
/// right, the dates are always checked, whatever it reads. Applies to
/// handshakes started afterwards. Returns 0.
#[no_mangle]
pub extern "C" fn iotkit_tls_set_clock_trusted(trusted: c_int) -> c_int {
    guard("iotkit_tls_set_clock_trusted", 0, || {
        tls::set_clock_trusted(trusted != 0);
        0
    })
}

/// The firmware's allocator hooks, kept for when TLS memory can use them.
static SSL_HOOKS: Mutex<Option<ssl_hooks_t>> = Mutex::new(None);

/// Records allocator hooks for TLS memory. Returns 0, or -1 when `hooks` or
/// one of its functions is NULL.
///
/// The mbedTLS bundled with the `mbedtls` crate is built without
/// MBEDTLS_PLATFORM_MEMORY (and without MBEDTLS_PLATFORM_C), so its
/// allocations call the C library's calloc/free directly and cannot be
/// redirected at run time; the hooks are accepted (firmware checks the
/// result) and a warning says that TLS memory comes from the system heap.
#[no_mangle]
pub extern "C" fn ssl_hooks_set(hooks: *mut ssl_hooks_t) -> c_int {
    guard("ssl_hooks_set", -1, || {
        if hooks.is_null() {
            state_event(
                state::STATE_USER_INPUT_NULL_POINTER,
                "ssl_hooks_set: hooks is NULL; pass a struct with malloc and free set",
            );
            return -1;
        }
        // SAFETY: non-NULL and, as the API requires, points to an ssl_hooks_t.
        let given = unsafe { std::ptr::read(hooks) };
        if given.malloc.is_none() || given.free.is_none() {
            state_event(
                state::STATE_USER_INPUT_NULL_POINTER,
                "ssl_hooks_set: hooks->malloc and hooks->free must both be set",
            );
            return -1;
        }
        *lock(&SSL_HOOKS) = Some(given);
        static WARN_ONCE: Once = Once::new();
        WARN_ONCE.call_once(|| {
            crate::log_warn!(
                "ssl_hooks_set: this build's mbedTLS allocates TLS memory with the C library's calloc/free (it is compiled without MBEDTLS_PLATFORM_MEMORY); the hooks are recorded but TLS buffers come from the system heap"
            );
        });
        0
    })
}

/// Whether firmware installed allocator hooks.
pub fn ssl_hooks_installed() -> bool {
    lock(&SSL_HOOKS).is_some()
}

fn config_for(
    ca: &[u8],
    credentials: Option<Arc<ClientCredentials>>,
) -> Result<TlsConfig, tls::TlsError> {
    let ca_digest = sha256(ca);
    let mut cached = lock(&CONFIG_CACHE);
    if let Some(hit) = cached.as_ref() {
        let same_credentials = match (hit.config.credentials(), &credentials) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if hit.ca_digest == ca_digest && same_credentials {
            return Ok(hit.config.clone());
        }
    }
    let config = TlsConfig::new(ca, credentials)?;
    *cached = Some(CachedConfig {
        ca_digest,
        config: config.clone(),
    });
    Ok(config)
}

/// The CA to verify the server with: the argument, else IOTX_X509_CA_FILE.
///
/// # Safety
/// `ca_crt` is NULL, or readable for `ca_crt_len` bytes (NUL-terminated when
/// `ca_crt_len` is 0).
unsafe fn ca_argument(ca_crt: *const c_char, ca_crt_len: u32) -> Option<Vec<u8>> {
    // SAFETY: as promised by the caller (the vendor's length includes the NUL).
    match unsafe { c_bytes(ca_crt, ca_crt_len, MAX_CREDENTIAL_LEN) } {
        Ok(Some(ca)) => Some(ca.to_vec()),
        Ok(None) => match ca_from_environment() {
            Some(Ok(ca)) => Some(ca),
            Some(Err(e)) => {
                state_event(
                    state::STATE_USER_INPUT_INVALID,
                    &format!("HAL_SSL_Establish: {e}"),
                );
                None
            }
            None => {
                state_event(
                    state::STATE_USER_INPUT_NULL_POINTER,
                    &format!("HAL_SSL_Establish: no CA certificate to verify the server: pass ca_crt (PEM) or set {ENV_CA_FILE} to a PEM file"),
                );
                None
            }
        },
        Err(len) => {
            state_event(
                state::STATE_USER_INPUT_OUT_RANGE,
                &format!("HAL_SSL_Establish: ca_crt is {len} bytes, more than {MAX_CREDENTIAL_LEN}; check ca_crt_len"),
            );
            None
        }
    }
}

/// Connects to `host:port` and completes a TLS 1.2 handshake, verifying the
/// server against `ca_crt` (PEM; `ca_crt_len` may count the trailing NUL;
/// NULL falls back to IOTX_X509_CA_FILE) and presenting the device
/// credentials when configured. Returns a handle, or 0 with a state event
/// that names the cause.
#[no_mangle]
pub extern "C" fn HAL_SSL_Establish(
    host: *const c_char,
    port: u16,
    ca_crt: *const c_char,
    ca_crt_len: u32,
) -> usize {
    guard("HAL_SSL_Establish", 0, || {
        // SAFETY: the vendor API passes a NUL-terminated host string (or NULL).
        let Some(host) = (unsafe { host_argument("HAL_SSL_Establish", host) }) else {
            return 0;
        };
        // SAFETY: the vendor API passes `ca_crt_len` readable bytes (or NULL).
        let Some(ca) = (unsafe { ca_argument(ca_crt, ca_crt_len) }) else {
            return 0;
        };
        let credentials = match runtime_client_credentials() {
            Ok(credentials) => credentials,
            Err(e) => {
                state_event(e.state_code(), &format!("HAL_SSL_Establish: {e}"));
                return 0;
            }
        };
        let connected = config_for(&ca, credentials)
            .and_then(|config| tls::connect(&host, port, &config, DEFAULT_CONNECT_TIMEOUT));
        match connected {
            Ok(conn) => CONNECTIONS.insert(Arc::new(Mutex::new(conn))),
            Err(e) => {
                state_event(e.state_code(), &format!("HAL_SSL_Establish: {e}"));
                0
            }
        }
    })
}

fn timeout_from(timeout_ms: c_int) -> Duration {
    Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0))
}

/// Reads up to `len` bytes, waiting at most `timeout_ms` for them all.
/// Returns the count read (short or 0 when the time ran out), -1 on error,
/// -2 when the peer closed the connection (close-notify or FIN).
#[no_mangle]
pub extern "C" fn HAL_SSL_Read(
    handle: usize,
    buf: *mut c_char,
    len: c_int,
    timeout_ms: c_int,
) -> c_int {
    guard("HAL_SSL_Read", -1, || {
        hal_read(
            "HAL_SSL_Read",
            &CONNECTIONS,
            handle,
            buf,
            usize::try_from(len).ok(),
            timeout_from(timeout_ms),
        )
    })
}

/// Writes `len` bytes within `timeout_ms`. Returns the count written (short
/// when the time ran out), or -1 on error or when nothing went out in time.
#[no_mangle]
pub extern "C" fn HAL_SSL_Write(
    handle: usize,
    buf: *const c_char,
    len: c_int,
    timeout_ms: c_int,
) -> c_int {
    guard("HAL_SSL_Write", -1, || {
        hal_write(
            "HAL_SSL_Write",
            &CONNECTIONS,
            handle,
            buf,
            usize::try_from(len).ok(),
            timeout_from(timeout_ms),
        )
    })
}

/// Sends close-notify and closes the connection. 0 on success, and for
/// handle 0 ("no connection": the vendor's core destroys it after every
/// failed connect, so that is quiet); -1 for an unknown (or already
/// destroyed) handle.
#[no_mangle]
pub extern "C" fn HAL_SSL_Destroy(handle: usize) -> i32 {
    guard("HAL_SSL_Destroy", -1, || match CONNECTIONS.remove(handle) {
        Some(_) => 0,
        None if handle == 0 => 0,
        None => {
            invalid_handle("HAL_SSL_Destroy", handle);
            -1
        }
    })
}

/// Number of open TLS handles (for tests and leak checks).
pub fn open_connections() -> usize {
    CONNECTIONS.len()
}

extern "C" {
    // mbedTLS (built by mbedtls-sys), which the `mbedtls` crate does not wrap.
    fn mbedtls_ssl_get_max_out_record_payload(ssl: *const std::ffi::c_void) -> c_int;
}

/// The largest plaintext mbedTLS puts in one outgoing record of `ctx`: its
/// build's `MBEDTLS_SSL_OUT_CONTENT_LEN`, lowered by a negotiated maximum
/// fragment length. `None` when mbedTLS reports an error.
pub(crate) fn max_out_record_payload<T>(ctx: &mbedtls::ssl::Context<T>) -> Option<usize> {
    let raw: *const _ = ctx.into();
    // SAFETY: `raw` points to the live ssl_context inside `ctx`, borrowed for
    // the whole call; the function only reads its configuration and session.
    let payload = unsafe { mbedtls_ssl_get_max_out_record_payload(raw.cast()) };
    usize::try_from(payload).ok().filter(|&n| n > 0)
}
