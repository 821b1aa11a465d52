//! wrappers_kv.h: HAL_Kv_Set / HAL_Kv_Get / HAL_Kv_Del on crash-safe files.

use std::ffi::{c_char, c_int, c_void};

use super::{c_str, guard};
use crate::events;
use crate::kv::{self, KvError, VALUE_MAX_LEN};
use crate::state::*;

fn null_argument(action: &str, what: &str) -> c_int {
    events::state_event(
        STATE_USER_INPUT_NULL_POINTER,
        &format!("{action}: {what} is NULL"),
    );
    STATE_USER_INPUT_NULL_POINTER
}

fn report(code: i32, action: &str, key: &str, err: &KvError) -> c_int {
    events::state_event(code, &format!("{action} '{key}': {err}"));
    code
}

/// Reads a key argument; NULL, invalid UTF-8 or an invalid key fail with `code`.
fn key_arg<'a>(key: *const c_char, code: i32, action: &str) -> Result<&'a str, c_int> {
    // SAFETY: NULL or a NUL-terminated key from the caller.
    match unsafe { c_str(key) } {
        Some(text) => match kv::validate_key(text) {
            Ok(()) => Ok(text),
            Err(err) => Err(report(code, action, text, &err)),
        },
        None if key.is_null() => Err(null_argument(action, "key")),
        None => Err(report(
            code,
            action,
            "?",
            &KvError::InvalidKey("not UTF-8".to_owned()),
        )),
    }
}

/// Stores `len` bytes of `val` under `key` (1..64 characters of letters,
/// digits and `_.-`; values up to 64 KiB). Always durable (`sync` is
/// accepted and ignored). Returns 0 or a negative STATE_* code.
#[no_mangle]
pub extern "C" fn HAL_Kv_Set(
    key: *const c_char,
    val: *const c_void,
    len: c_int,
    sync: c_int,
) -> c_int {
    let _ = sync;
    guard("HAL_Kv_Set", STATE_SYS_DEPEND_KV_SET, || {
        let key = match key_arg(key, STATE_SYS_DEPEND_KV_SET, "HAL_Kv_Set") {
            Ok(key) => key,
            Err(code) => return code,
        };
        let Ok(len) = usize::try_from(len) else {
            events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("HAL_Kv_Set '{key}': negative length {len}"),
            );
            return STATE_USER_INPUT_OUT_RANGE;
        };
        if len > VALUE_MAX_LEN {
            return report(
                STATE_SYS_DEPEND_KV_SET,
                "HAL_Kv_Set",
                key,
                &KvError::ValueTooLarge(len),
            );
        }
        if val.is_null() && len > 0 {
            return null_argument("HAL_Kv_Set", "val (with a non-zero length)");
        }
        let value: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: non-NULL and the caller promises `len` readable bytes.
            unsafe { std::slice::from_raw_parts(val.cast::<u8>(), len) }
        };
        match kv::default_store().and_then(|store| store.set(key, value)) {
            Ok(()) => STATE_SUCCESS,
            Err(err) => report(STATE_SYS_DEPEND_KV_SET, "HAL_Kv_Set", key, &err),
        }
    })
}

/// Copies the value of `key` into `val`, whose size is `*buffer_len` on
/// entry; on success `*buffer_len` becomes the value's length and 0 is
/// returned. When the buffer is too small nothing is copied, `*buffer_len`
/// is set to the size needed and STATE_USER_INPUT_OUT_RANGE returned. A
/// missing key returns STATE_SYS_DEPEND_KV_GET quietly; a damaged file
/// returns it with a state event.
#[no_mangle]
pub extern "C" fn HAL_Kv_Get(
    key: *const c_char,
    val: *mut c_void,
    buffer_len: *mut c_int,
) -> c_int {
    guard("HAL_Kv_Get", STATE_SYS_DEPEND_KV_GET, || {
        let key = match key_arg(key, STATE_SYS_DEPEND_KV_GET, "HAL_Kv_Get") {
            Ok(key) => key,
            Err(code) => return code,
        };
        if buffer_len.is_null() {
            return null_argument("HAL_Kv_Get", "buffer_len");
        }
        // SAFETY: non-NULL in/out parameter from the caller.
        let capacity = unsafe { buffer_len.read() };
        let value = match kv::default_store().and_then(|store| store.get(key)) {
            Ok(value) => value,
            Err(KvError::NotFound) => return STATE_SYS_DEPEND_KV_GET,
            Err(err) => return report(STATE_SYS_DEPEND_KV_GET, "HAL_Kv_Get", key, &err),
        };
        let needed = value.len() as c_int;
        if usize::try_from(capacity).map_or(true, |cap| cap < value.len()) {
            // SAFETY: as above.
            unsafe { buffer_len.write(needed) };
            events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("HAL_Kv_Get '{key}': the buffer holds {capacity} bytes, the value needs {needed}; *buffer_len now says so"),
            );
            return STATE_USER_INPUT_OUT_RANGE;
        }
        if !value.is_empty() {
            if val.is_null() {
                return null_argument("HAL_Kv_Get", "val");
            }
            // SAFETY: `val` has `capacity` >= value.len() writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), val.cast::<u8>(), value.len()) };
        }
        // SAFETY: as above.
        unsafe { buffer_len.write(needed) };
        STATE_SUCCESS
    })
}

/// Deletes `key` (a missing key is not an error). Returns 0 or a negative code.
#[no_mangle]
pub extern "C" fn HAL_Kv_Del(key: *const c_char) -> c_int {
    guard("HAL_Kv_Del", STATE_SYS_DEPEND_KV_DELETE, || {
        let key = match key_arg(key, STATE_SYS_DEPEND_KV_DELETE, "HAL_Kv_Del") {
            Ok(key) => key,
            Err(code) => return code,
        };
        match kv::default_store().and_then(|store| store.delete(key)) {
            Ok(()) => STATE_SUCCESS,
            Err(err) => report(STATE_SYS_DEPEND_KV_DELETE, "HAL_Kv_Del", key, &err),
        }
    })
}

/// Sets the directory HAL_Kv_* keep their files in (created 0700 on first
/// use); NULL or "" returns to the default: env IOTX_KV_DIR, else
/// $HOME/.iotkit/kv, else ./.iotkit/kv. Returns 0.
#[no_mangle]
pub extern "C" fn iotkit_kv_set_dir(dir: *const c_char) -> c_int {
    guard("iotkit_kv_set_dir", STATE_USER_INPUT_INVALID, || {
        // SAFETY: NULL or a NUL-terminated path from the caller.
        match unsafe { c_str(dir) } {
            Some(path) if !path.is_empty() => kv::set_dir(Some(path.into())),
            Some(_) => kv::set_dir(None),
            None if dir.is_null() => kv::set_dir(None),
            None => return STATE_USER_INPUT_INVALID,
        }
        STATE_SUCCESS
    })
}
