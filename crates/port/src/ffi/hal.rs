//! The firmware's HAL port, as the vendor's `wrappers.h` declares it, and
//! safe wrappers over it.

use core::ffi::{c_char, c_int, c_void};

// HAL_Malloc/HAL_Free back the global allocator on every target (not in
// the crate's own unit tests, which have no HAL to link).
#[cfg_attr(test, allow(dead_code))]
extern "C" {
    fn HAL_Malloc(size: u32) -> *mut c_void;
    fn HAL_Free(ptr: *mut c_void);
    fn HAL_UptimeMs() -> u64;
    fn HAL_SleepMs(ms: u32);
    fn HAL_Random(region: u32) -> u32;
    fn HAL_TCP_Establish(host: *const c_char, port: u16) -> usize;
    fn HAL_TCP_Destroy(fd: usize) -> i32;
    fn HAL_TCP_Write(fd: usize, buf: *const c_char, len: u32, timeout_ms: u32) -> i32;
    fn HAL_TCP_Read(fd: usize, buf: *mut c_char, len: u32, timeout_ms: u32) -> i32;
    fn HAL_Kv_Set(key: *const c_char, val: *const c_void, len: c_int, sync: c_int) -> c_int;
    fn HAL_Kv_Get(key: *const c_char, val: *mut c_void, buffer_len: *mut c_int) -> c_int;
    fn HAL_Kv_Del(key: *const c_char) -> c_int;
    fn HAL_Printf(fmt: *const c_char, ...);
}

/// `HAL_Malloc`: `size` bytes aligned to 8, or null.
#[cfg_attr(test, allow(dead_code))]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    let Ok(size) = u32::try_from(size) else {
        return core::ptr::null_mut();
    };
    // SAFETY: HAL_Malloc takes any size and returns memory or null.
    unsafe { HAL_Malloc(size).cast() }
}

/// `HAL_Free` of a pointer [`malloc`] returned (null is ignored).
///
/// # Safety
/// `ptr` came from [`malloc`] and is not used afterwards.
#[cfg_attr(test, allow(dead_code))]
pub(crate) unsafe fn free(ptr: *mut u8) {
    if !ptr.is_null() {
        // SAFETY: the caller guarantees ptr came from HAL_Malloc.
        unsafe { HAL_Free(ptr.cast()) }
    }
}

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    // SAFETY: no arguments, no memory.
    unsafe { HAL_UptimeMs() }
}

/// Sleeps `ms` milliseconds.
pub fn sleep_ms(ms: u32) {
    // SAFETY: no memory involved.
    unsafe { HAL_SleepMs(ms) }
}

/// Fills `out` from `HAL_Random`, four bytes per call.
pub fn random_fill(out: &mut [u8]) {
    for chunk in out.chunks_mut(4) {
        // SAFETY: no memory involved.
        let word = unsafe { HAL_Random(u32::MAX) };
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
}

/// Copies `text` into `buf` with a terminating NUL; `None` when it does
/// not fit or holds a NUL.
fn c_string<'a>(text: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    if text.len() >= buf.len() || text.as_bytes().contains(&0) {
        return None;
    }
    buf[..text.len()].copy_from_slice(text.as_bytes());
    buf[text.len()] = 0;
    Some(&buf[..=text.len()])
}

/// A TCP connection of the firmware's port (`HAL_TCP_*`); closed on drop.
pub struct TcpConnection {
    fd: usize,
}

/// What a read or write of the port's TCP connection gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// This many bytes (0: the time ran out first).
    Done(usize),
    /// The peer closed the connection.
    Closed,
    /// The port reported an error.
    Failed,
}

impl TcpConnection {
    /// `HAL_TCP_Establish(host, port)`; `None` when the port returns 0.
    pub fn connect(host: &str, port: u16) -> Option<TcpConnection> {
        let mut buf = [0u8; 128];
        let host = c_string(host, &mut buf)?;
        // SAFETY: host is NUL-terminated and lives across the call.
        let fd = unsafe { HAL_TCP_Establish(host.as_ptr().cast(), port) };
        (fd != 0).then_some(TcpConnection { fd })
    }

    /// `HAL_TCP_Write`.
    pub fn write(&mut self, data: &[u8], timeout_ms: u32) -> Io {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        // SAFETY: data is valid for len bytes during the call.
        let n = unsafe { HAL_TCP_Write(self.fd, data.as_ptr().cast(), len, timeout_ms) };
        match n {
            n if n >= 0 => Io::Done(n as usize),
            _ => Io::Failed,
        }
    }

    /// `HAL_TCP_Read`.
    pub fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Io {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: buf is valid and writable for len bytes during the call.
        let n = unsafe { HAL_TCP_Read(self.fd, buf.as_mut_ptr().cast(), len, timeout_ms) };
        match n {
            n if n >= 0 => Io::Done((n as usize).min(buf.len())),
            -2 => Io::Closed,
            _ => Io::Failed,
        }
    }
}

impl Drop for TcpConnection {
    fn drop(&mut self) {
        // SAFETY: fd came from HAL_TCP_Establish and is destroyed once.
        unsafe {
            HAL_TCP_Destroy(self.fd);
        }
    }
}

/// `HAL_Kv_Get(key)` into `buf`; the stored length, or `None`.
pub fn kv_get(key: &str, buf: &mut [u8]) -> Option<usize> {
    let mut name = [0u8; 64];
    let name = c_string(key, &mut name)?;
    let mut len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: name is NUL-terminated, buf is writable for len bytes and
    // len is a valid in/out pointer.
    let rc = unsafe { HAL_Kv_Get(name.as_ptr().cast(), buf.as_mut_ptr().cast(), &mut len) };
    if rc != 0 || len < 0 {
        return None;
    }
    Some((len as usize).min(buf.len()))
}

/// `HAL_Kv_Set(key, value, sync = 1)`; true on success.
pub fn kv_set(key: &str, value: &[u8]) -> bool {
    let mut name = [0u8; 64];
    let (Some(name), Ok(len)) = (c_string(key, &mut name), c_int::try_from(value.len())) else {
        return false;
    };
    // SAFETY: name is NUL-terminated, value is valid for len bytes.
    unsafe { HAL_Kv_Set(name.as_ptr().cast(), value.as_ptr().cast(), len, 1) == 0 }
}

/// `HAL_Kv_Del(key)`; true on success.
pub fn kv_del(key: &str) -> bool {
    let mut name = [0u8; 64];
    let Some(name) = c_string(key, &mut name) else {
        return false;
    };
    // SAFETY: name is NUL-terminated.
    unsafe { HAL_Kv_Del(name.as_ptr().cast()) == 0 }
}

/// Prints one line through `HAL_Printf` (`"[iotkit] %.*s\n"`).
pub fn log(line: &str) {
    let len = c_int::try_from(line.len()).unwrap_or(c_int::MAX);
    // SAFETY: the format takes an int and a pointer to `len` bytes, which
    // `line` provides; %.*s reads no further than len.
    unsafe { HAL_Printf(c"[iotkit] %.*s\n".as_ptr(), len, line.as_ptr()) }
}
