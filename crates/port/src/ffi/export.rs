//! The C functions the firmware calls (`mcu/include/iotkit_mcu.h`).
//!
//! Every function checks its pointers, returns 0 or a negative
//! `IOTKIT_MCU_ERR_*` code, and on failure keeps a sentence for
//! `iotkit_mcu_last_error` and prints it with `HAL_Printf`.

use alloc::boxed::Box;
use alloc::string::String;
use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt::Write;

use iotkit_core::mqtt::session::QoS;

use super::hal;
use crate::client::{Client, ClientError, Params};

/// A null pointer or an unusable argument.
pub const ERR_ARGUMENT: c_int = -2;
/// TLS failed (credentials, handshake, connection).
pub const ERR_TLS: c_int = -3;
/// The MQTT connection ended (refused, lost, protocol error).
pub const ERR_MQTT: c_int = -4;
/// The server did not answer in time.
pub const ERR_TIMEOUT: c_int = -5;
/// Not connected.
pub const ERR_NOT_CONNECTED: c_int = -6;
/// The session refused the call (window full, packet too large, ...).
pub const ERR_REFUSED: c_int = -7;

/// What `iotkit_mcu_new` takes.
#[repr(C)]
pub struct IotkitMcuParams {
    host: *const c_char,
    port: u16,
    ca: *const u8,
    ca_len: usize,
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
    max_fragment: u16,
}

/// `void on_message(void *ctx, const char *topic, size_t topic_len,
/// const uint8_t *payload, size_t payload_len)`.
pub type OnMessageFn =
    Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const u8, usize)>;

struct Handle {
    client: Client,
    last_error: String,
}

fn code(error: &ClientError) -> c_int {
    match error {
        ClientError::Tls(_) => ERR_TLS,
        ClientError::Mqtt(_) => ERR_MQTT,
        ClientError::Timeout(_) => ERR_TIMEOUT,
        ClientError::NotConnected => ERR_NOT_CONNECTED,
        ClientError::Session(_) => ERR_REFUSED,
        ClientError::BadArgument(_) => ERR_ARGUMENT,
    }
}

fn fail(last: &mut String, error: &ClientError) -> c_int {
    last.clear();
    let _ = write!(last, "{error}");
    hal::log(last);
    code(error)
}

/// # Safety
/// `ptr` is null or valid for `len` bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() || len == 0 {
        return None;
    }
    // SAFETY: the caller guarantees ptr is valid for len bytes.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// `ptr` is null or a NUL-terminated string.
unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

/// # Safety
/// `handle` is null or came from `iotkit_mcu_new` and is not destroyed.
unsafe fn handle<'a>(handle: *mut c_void) -> Option<&'a mut Handle> {
    // SAFETY: as the caller guarantees.
    unsafe { handle.cast::<Handle>().as_mut() }
}

fn copy_out(text: &str, out: *mut c_char, len: usize) -> bool {
    if out.is_null() || text.len() >= len {
        return false;
    }
    // SAFETY: out is writable for len bytes (the caller's contract) and
    // text.len() + 1 <= len.
    unsafe {
        core::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
        *out.add(text.len()) = 0;
    }
    true
}

/// Calls the C callback for each message.
fn forward(cb: OnMessageFn, ctx: *mut c_void) -> impl FnMut(&str, &[u8]) {
    move |topic: &str, payload: &[u8]| {
        if let Some(cb) = cb {
            // SAFETY: the pointers are valid for the given lengths during
            // the call; the callback's contract is the firmware's.
            unsafe {
                cb(
                    ctx,
                    topic.as_ptr().cast(),
                    topic.len(),
                    payload.as_ptr(),
                    payload.len(),
                )
            }
        }
    }
}

/// Makes a client: parses the credentials, reads the persisted identity.
/// NULL on failure, with the sentence in `error` (`error_len` bytes, may
/// be NULL).
///
/// # Safety
/// `params` points to an `iotkit_mcu_params_t` whose pointers are valid
/// for their lengths; `error` is NULL or writable for `error_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_new(
    params: *const IotkitMcuParams,
    error: *mut c_char,
    error_len: usize,
) -> *mut c_void {
    #[cfg(not(test))]
    super::panic::install();
    let mut last = String::new();
    // SAFETY: params is null or valid (the caller's contract).
    let Some(p) = (unsafe { params.as_ref() }) else {
        let _ = fail(
            &mut last,
            &ClientError::BadArgument("iotkit_mcu_new: params is NULL"),
        );
        copy_out(&last, error, error_len);
        return core::ptr::null_mut();
    };
    // SAFETY: the pointers of params are valid (the caller's contract).
    let (host, ca, cert, key) = unsafe {
        (
            text(p.host),
            bytes(p.ca, p.ca_len),
            bytes(p.cert, p.cert_len),
            bytes(p.key, p.key_len),
        )
    };
    let (Some(host), Some(ca), Some(cert), Some(key)) = (host, ca, cert, key) else {
        let _ = fail(
            &mut last,
            &ClientError::BadArgument(
                "iotkit_mcu_new: the host, CA, certificate or key is missing",
            ),
        );
        copy_out(&last, error, error_len);
        return core::ptr::null_mut();
    };
    let params = Params {
        host,
        port: p.port,
        ca,
        cert,
        key,
        max_fragment: p.max_fragment,
    };
    match Client::new(&params) {
        Ok(client) => Box::into_raw(Box::new(Handle {
            client,
            last_error: String::new(),
        }))
        .cast(),
        Err(e) => {
            let _ = fail(&mut last, &e);
            copy_out(&last, error, error_len);
            core::ptr::null_mut()
        }
    }
}

/// TLS handshake, CONNECT and (without a persisted identity) the identity
/// response, within `timeout_ms`. Messages other than the identity go to
/// `on_message`.
///
/// # Safety
/// `client` came from `iotkit_mcu_new`; `on_message` is NULL or a function
/// of the `OnMessageFn` type.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_connect(
    client: *mut c_void,
    timeout_ms: u32,
    on_message: OnMessageFn,
    ctx: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { handle(client) }) else {
        return ERR_ARGUMENT;
    };
    let mut cb = forward(on_message, ctx);
    match h.client.connect(timeout_ms, &mut cb) {
        Ok(_) => 0,
        Err(e) => fail(&mut h.last_error, &e),
    }
}

/// Copies productKey and deviceName (NUL-terminated). Returns 1 when they
/// came from the key-value store at start, 0 when learned from the
/// identity response, negative when unknown or a buffer is too small.
///
/// # Safety
/// `client` came from `iotkit_mcu_new`; the buffers are writable for
/// their lengths.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_identity(
    client: *mut c_void,
    product_key: *mut c_char,
    pk_len: usize,
    device_name: *mut c_char,
    dn_len: usize,
) -> c_int {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { handle(client) }) else {
        return ERR_ARGUMENT;
    };
    let Some(id) = h.client.identity() else {
        return ERR_NOT_CONNECTED;
    };
    if !copy_out(&id.product_key, product_key, pk_len)
        || !copy_out(&id.device_name, device_name, dn_len)
    {
        return ERR_ARGUMENT;
    }
    c_int::from(h.client.identity_from_store())
}

/// The last handshake: cipher suite number, whether the session was
/// resumed, the largest record the server may send.
///
/// # Safety
/// `client` came from `iotkit_mcu_new`; the out pointers are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_handshake_info(
    client: *mut c_void,
    ciphersuite: *mut u16,
    resumed: *mut c_int,
    max_in_record: *mut usize,
) -> c_int {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { handle(client) }) else {
        return ERR_ARGUMENT;
    };
    let Some(info) = h.client.handshake() else {
        return ERR_NOT_CONNECTED;
    };
    // SAFETY: each pointer is NULL or writable (the caller's contract).
    unsafe {
        if let Some(p) = ciphersuite.as_mut() {
            *p = info.ciphersuite;
        }
        if let Some(p) = resumed.as_mut() {
            *p = c_int::from(info.resumed);
        }
        if let Some(p) = max_in_record.as_mut() {
            *p = info.max_in_record;
        }
    }
    0
}

fn qos(value: c_int) -> Option<QoS> {
    match value {
        0 => Some(QoS::AtMostOnce),
        1 => Some(QoS::AtLeastOnce),
        _ => None,
    }
}

/// Subscribes (QoS 0 or 1) and waits for SUBACK. 0: granted; ERR_REFUSED:
/// the server refused the filter.
///
/// # Safety
/// As `iotkit_mcu_connect`; `filter` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_subscribe(
    client: *mut c_void,
    filter: *const c_char,
    qos_level: c_int,
    timeout_ms: u32,
    on_message: OnMessageFn,
    ctx: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    let (Some(h), Some(filter)) = (unsafe { handle(client) }, unsafe { text(filter) }) else {
        return ERR_ARGUMENT;
    };
    let Some(qos) = qos(qos_level) else {
        return fail(
            &mut h.last_error,
            &ClientError::BadArgument("the QoS must be 0 or 1"),
        );
    };
    let mut cb = forward(on_message, ctx);
    match h.client.subscribe(filter, qos, timeout_ms, &mut cb) {
        Ok(true) => 0,
        Ok(false) => {
            h.last_error.clear();
            let _ = write!(
                h.last_error,
                "the server refused the subscription to {filter}"
            );
            hal::log(&h.last_error);
            ERR_REFUSED
        }
        Err(e) => fail(&mut h.last_error, &e),
    }
}

/// Publishes; at QoS 1 waits for PUBACK within `timeout_ms`.
///
/// # Safety
/// As `iotkit_mcu_connect`; `topic` is NUL-terminated; `payload` is valid
/// for `len` bytes (or NULL with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_publish(
    client: *mut c_void,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos_level: c_int,
    timeout_ms: u32,
    on_message: OnMessageFn,
    ctx: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    let (Some(h), Some(topic)) = (unsafe { handle(client) }, unsafe { text(topic) }) else {
        return ERR_ARGUMENT;
    };
    // SAFETY: payload is valid for len bytes (the caller's contract).
    let payload = unsafe { bytes(payload, len) }.unwrap_or(&[]);
    let Some(qos) = qos(qos_level) else {
        return fail(
            &mut h.last_error,
            &ClientError::BadArgument("the QoS must be 0 or 1"),
        );
    };
    let mut cb = forward(on_message, ctx);
    match h.client.publish(topic, payload, qos, timeout_ms, &mut cb) {
        Ok(()) => 0,
        Err(e) => fail(&mut h.last_error, &e),
    }
}

/// Runs the connection for `timeout_ms` (keep-alive, incoming messages).
///
/// # Safety
/// As `iotkit_mcu_connect`.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_yield(
    client: *mut c_void,
    timeout_ms: u32,
    on_message: OnMessageFn,
    ctx: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { handle(client) }) else {
        return ERR_ARGUMENT;
    };
    let mut cb = forward(on_message, ctx);
    match h.client.yield_for(timeout_ms, &mut cb) {
        Ok(()) => 0,
        Err(e) => fail(&mut h.last_error, &e),
    }
}

/// Sends DISCONNECT and closes the connection (the client can connect
/// again, offering the TLS session for resumption).
///
/// # Safety
/// As `iotkit_mcu_connect`.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_disconnect(client: *mut c_void) {
    // SAFETY: the caller's contract.
    if let Some(h) = unsafe { handle(client) } {
        h.client.disconnect();
    }
}

/// Copies the sentence of the last failure (NUL-terminated, cut to fit);
/// returns its full length.
///
/// # Safety
/// As `iotkit_mcu_connect`; `out` is writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_last_error(
    client: *mut c_void,
    out: *mut c_char,
    len: usize,
) -> usize {
    // SAFETY: the caller's contract.
    let Some(h) = (unsafe { handle(client) }) else {
        return 0;
    };
    if !out.is_null() && len > 0 {
        let n = h.last_error.len().min(len - 1);
        let cut = (0..=n)
            .rev()
            .find(|&i| h.last_error.is_char_boundary(i))
            .unwrap_or(0);
        copy_out(&h.last_error[..cut], out, len);
    }
    h.last_error.len()
}

/// Removes the persisted identity (`HAL_Kv_Del`); 0 on success.
#[no_mangle]
pub extern "C" fn iotkit_mcu_forget_identity() -> c_int {
    #[cfg(not(test))]
    super::panic::install();
    if Client::forget_identity() {
        0
    } else {
        ERR_ARGUMENT
    }
}

/// Disconnects and frees the client.
///
/// # Safety
/// `client` is NULL or came from `iotkit_mcu_new`; it is not used after.
#[no_mangle]
pub unsafe extern "C" fn iotkit_mcu_destroy(client: *mut c_void) {
    if client.is_null() {
        return;
    }
    // SAFETY: the caller's contract: the pointer came from Box::into_raw
    // in iotkit_mcu_new and is destroyed once.
    let mut h = unsafe { Box::from_raw(client.cast::<Handle>()) };
    h.client.disconnect();
    drop(h);
}
