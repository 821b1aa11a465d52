//! Every `extern "C"` symbol of the library, one file per vendor header area.
//!
//! Each exported function is a thin shell: it runs its body inside [`guard`]
//! (a panic becomes the function's failure value), checks and converts the C
//! arguments with the helpers below, calls the safe core and maps the result
//! to the vendor's codes. All `unsafe` of the crate lives under this module.

// These functions are called from C, where every call is unsafe; each one
// checks its pointer arguments before use, so they stay plain `extern "C"`
// as in the vendor's headers rather than `unsafe extern "C"`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// Every `unsafe` block of the crate is here, each with its `// SAFETY:` reason.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod types;

pub mod kv;
pub mod os;
pub mod ota;
pub mod tcp;
pub mod tls;

#[cfg(feature = "sdk")]
pub mod compat;
#[cfg(feature = "sdk")]
pub mod mqtt;
#[cfg(feature = "sdk")]
pub mod sign;
#[cfg(feature = "sdk")]
pub mod surface;

/// Runs `body`, turning a panic into `on_panic` plus a state event, so that no
/// unwind ever crosses into C.
///
/// It also marks the export for the event queue: notices and state events
/// raised inside are delivered to the firmware's handlers when the outermost
/// export of the thread returns, after every library lock is released (see
/// `events`), so no firmware callback ever runs under a library lock.
pub(crate) fn guard<T>(name: &str, on_panic: T, body: impl FnOnce() -> T) -> T {
    let _events = crate::events::ExportScope::enter();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => {
            // Raising the event may itself call firmware code; a second panic
            // there must not escape either.
            let _ = catch_unwind(|| {
                crate::events::state_event(
                    crate::state::STATE_USER_INPUT_INVALID,
                    &format!("{name}: internal error (a bug in iotkit); the call failed and changed nothing"),
                );
            });
            on_panic
        }
    }
}

/// Borrows a C string as UTF-8 text. `None` for NULL or invalid UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller promises a valid NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

/// Borrows at most `max + 1` bytes of a C string: `Err(())` when no NUL ends
/// it within that many bytes (an overlong or unterminated argument), `Ok(None)`
/// for NULL. Never reads past the first NUL or past `max + 1` bytes.
///
/// # Safety
/// `ptr` is NULL or readable up to its NUL or `max + 1` bytes, whichever comes first.
pub(crate) unsafe fn c_str_bounded<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<Option<&'a [u8]>, ()> {
    if ptr.is_null() {
        return Ok(None);
    }
    let mut len = 0;
    // SAFETY: reads stop at the first NUL and never go past max + 1 bytes.
    while unsafe { *ptr.add(len) } != 0 {
        len += 1;
        if len > max {
            return Err(());
        }
    }
    // SAFETY: the `len` bytes before the NUL were just read and are valid.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }))
}

/// Copies `text` and a NUL into the caller's buffer of `capacity` bytes.
/// Returns false (and writes nothing) when it does not fit.
///
/// # Safety
/// `dst` is writable for `capacity` bytes.
pub(crate) unsafe fn copy_out_c_str(dst: *mut c_char, capacity: usize, text: &str) -> bool {
    if dst.is_null() || text.len() + 1 > capacity {
        return false;
    }
    // SAFETY: the caller promises `capacity` writable bytes; text.len() + 1 <= capacity.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), dst.cast::<u8>(), text.len());
        *dst.add(text.len()) = 0;
    }
    true
}
