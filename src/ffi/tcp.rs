//! wrappers_tcp.h: plain TCP connections behind integer handles.

use std::ffi::c_char;
use std::sync::Mutex;
use std::time::Duration;

use super::{c_str_bounded, guard};
use crate::events::state_event;
use crate::handles::HandleTable;
use crate::net::{self, TcpConnection, DEFAULT_CONNECT_TIMEOUT, MAX_HOST_LEN};
use crate::state;
use crate::transport::{Transport, TransportError};

static CONNECTIONS: HandleTable<Mutex<TcpConnection>> = HandleTable::new();

/// Reads a host argument: NUL-terminated, ASCII, at most MAX_HOST_LEN bytes.
/// Raises a state event naming `function` when it is unusable.
///
/// # Safety
/// `host` is NULL or readable up to its NUL or MAX_HOST_LEN + 1 bytes.
pub(crate) unsafe fn host_argument(function: &str, host: *const c_char) -> Option<String> {
    // SAFETY: as promised by the caller; at most MAX_HOST_LEN + 1 bytes are read.
    let bytes = match unsafe { c_str_bounded(host, MAX_HOST_LEN) } {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            state_event(
                state::STATE_USER_INPUT_NULL_POINTER,
                &format!("{function}: host is NULL; pass the server's host name or IP address"),
            );
            return None;
        }
        Err(()) => {
            state_event(
                state::STATE_USER_INPUT_OUT_RANGE,
                &format!("{function}: host is longer than {MAX_HOST_LEN} characters or not NUL-terminated"),
            );
            return None;
        }
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_owned()),
        Err(_) => {
            state_event(
                state::STATE_USER_INPUT_INVALID,
                &format!("{function}: host is not valid text"),
            );
            None
        }
    }
}

/// Connects to `host:port` (DNS name, IPv4 or IPv6) with TCP_NODELAY.
/// Returns a handle, or 0 with a state event saying why.
#[no_mangle]
pub extern "C" fn HAL_TCP_Establish(host: *const c_char, port: u16) -> usize {
    guard("HAL_TCP_Establish", 0, || {
        // SAFETY: the vendor API passes a NUL-terminated host string (or NULL).
        let Some(host) = (unsafe { host_argument("HAL_TCP_Establish", host) }) else {
            return 0;
        };
        match TcpConnection::connect(&host, port, DEFAULT_CONNECT_TIMEOUT) {
            Ok(conn) => CONNECTIONS.insert(std::sync::Arc::new(Mutex::new(conn))),
            Err(e) => {
                state_event(e.state_code(), &format!("HAL_TCP_Establish: {e}"));
                0
            }
        }
    })
}

/// Closes the connection. 0 on success, and for handle 0 ("no
/// connection", what a failed HAL_TCP_Establish returned: destroying it is
/// normal clean-up, so it is quiet); -1 for an unknown handle.
#[no_mangle]
pub extern "C" fn HAL_TCP_Destroy(fd: usize) -> i32 {
    guard("HAL_TCP_Destroy", -1, || match CONNECTIONS.remove(fd) {
        Some(_) => 0,
        None if fd == 0 => 0,
        None => {
            invalid_handle("HAL_TCP_Destroy", fd);
            -1
        }
    })
}

pub(crate) fn invalid_handle(function: &str, handle: usize) {
    crate::log_warn!(
        "{function}: handle {handle:#x} is not an open connection (already destroyed, or never returned by the establish call)"
    );
}

/// Writes `len` bytes within `timeout_ms`. Returns the count written (short
/// when the time ran out), or -1 on error or when nothing could be written in time.
#[no_mangle]
pub extern "C" fn HAL_TCP_Write(fd: usize, buf: *const c_char, len: u32, timeout_ms: u32) -> i32 {
    guard("HAL_TCP_Write", -1, || {
        // Never report more than i32 can carry.
        let len = len.min(i32::MAX as u32) as usize;
        hal_write(
            "HAL_TCP_Write",
            &CONNECTIONS,
            fd,
            buf,
            Some(len),
            Duration::from_millis(u64::from(timeout_ms)),
        )
    })
}

/// The write half of the HAL contract (see [`hal_transfer`]), shared by
/// `HAL_TCP_Write` and `HAL_SSL_Write`.
pub(crate) fn hal_write<C: Transport>(
    function: &str,
    table: &HandleTable<Mutex<C>>,
    handle: usize,
    buf: *const c_char,
    len: Option<usize>,
    timeout: Duration,
) -> i32 {
    hal_transfer(function, table, handle, buf.is_null(), len, |conn, len| {
        // SAFETY: the caller passes `len` readable bytes at `buf` (non-NULL).
        let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
        write_result(conn.write(data, timeout))
    })
}

/// The HAL's argument rules for reads and writes: an unknown handle, a
/// negative length (`None`) or a NULL buffer give -1, a zero length gives 0;
/// otherwise `transfer` runs on the locked connection.
fn hal_transfer<C: Transport>(
    function: &str,
    table: &HandleTable<Mutex<C>>,
    handle: usize,
    buf_is_null: bool,
    len: Option<usize>,
    transfer: impl FnOnce(&mut C, usize) -> i32,
) -> i32 {
    let Some(conn) = table.get(handle) else {
        invalid_handle(function, handle);
        return -1;
    };
    let Some(len) = len else { return -1 };
    if len == 0 {
        return 0;
    }
    if buf_is_null {
        return -1;
    }
    let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    transfer(&mut conn, len)
}

pub(crate) fn write_result(result: Result<usize, TransportError>) -> i32 {
    match result {
        Ok(0) => -1,
        Ok(n) => n as i32,
        Err(e) => {
            crate::log_debug!("write failed: {e}");
            -1
        }
    }
}

/// Reads up to `len` bytes, waiting at most `timeout_ms` for them all.
/// Returns the count read (short or 0 when the time ran out), -1 on error,
/// -2 when the peer closed the connection.
#[no_mangle]
pub extern "C" fn HAL_TCP_Read(fd: usize, buf: *mut c_char, len: u32, timeout_ms: u32) -> i32 {
    guard("HAL_TCP_Read", -1, || {
        let len = len.min(i32::MAX as u32) as usize;
        hal_read(
            "HAL_TCP_Read",
            &CONNECTIONS,
            fd,
            buf,
            Some(len),
            Duration::from_millis(u64::from(timeout_ms)),
        )
    })
}

/// The read half of the HAL contract (see [`hal_transfer`]), shared by
/// `HAL_TCP_Read` and `HAL_SSL_Read`.
pub(crate) fn hal_read<C: Transport>(
    function: &str,
    table: &HandleTable<Mutex<C>>,
    handle: usize,
    buf: *mut c_char,
    len: Option<usize>,
    timeout: Duration,
) -> i32 {
    hal_transfer(function, table, handle, buf.is_null(), len, |conn, len| {
        // SAFETY: the caller passes `len` writable bytes at `buf` (non-NULL).
        let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        read_result(net::read_full_or_timeout(conn, out, timeout))
    })
}

pub(crate) fn read_result(result: Result<usize, TransportError>) -> i32 {
    match result {
        Ok(n) => n as i32,
        Err(TransportError::PeerClosed) => -2,
        Err(e) => {
            crate::log_debug!("read failed: {e}");
            -1
        }
    }
}

/// Number of open TCP handles (for tests and leak checks).
pub fn open_connections() -> usize {
    CONNECTIONS.len()
}
