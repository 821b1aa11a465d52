//! Every HAL_Kv_* refusal returns its code *and* raises a state event with a
//! sentence for a person, as the README promises (NULL key, NULL value,
//! NULL length pointer, negative or too small buffers, bad keys).

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use iotkit::events::{self, Registration};
use iotkit::ffi::kv::{iotkit_kv_set_dir, HAL_Kv_Del, HAL_Kv_Get, HAL_Kv_Set};
use iotkit::state;

static EVENTS: AtomicUsize = AtomicUsize::new(0);
/// The tests share the process-wide KV directory and event registry.
static SERIAL: Mutex<()> = Mutex::new(());

fn count_state_events() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let handler = events::Handler::State(Arc::new(|_code, _message: &str| {
            EVENTS.fetch_add(1, Ordering::SeqCst);
        }));
        // The two areas these refusals belong to (user input, system).
        for (address, code) in [
            (1, state::STATE_USER_INPUT_NULL_POINTER),
            (2, state::STATE_SYS_DEPEND_KV_SET),
        ] {
            events::register(
                events::state_area(code),
                Some(Registration {
                    address,
                    handler: handler.clone(),
                }),
            );
        }
        let dir = tempfile::tempdir().unwrap().keep();
        let dir = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        assert_eq!(iotkit_kv_set_dir(dir.as_ptr()), 0);
    });
}

/// Runs `call`, checks its code, and returns how many state events it raised.
fn events_of(expected: c_int, call: impl FnOnce() -> c_int) -> usize {
    let before = EVENTS.load(Ordering::SeqCst);
    assert_eq!(call(), expected);
    EVENTS.load(Ordering::SeqCst) - before
}

const KEY: &[u8] = b"rel_kv_events\0";

fn key() -> *const c_char {
    KEY.as_ptr().cast()
}

#[test]
fn kv_null_arguments_raise_state_events() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    count_state_events();
    let value = b"v";
    let null_key = events_of(state::STATE_USER_INPUT_NULL_POINTER, || {
        HAL_Kv_Set(std::ptr::null(), value.as_ptr().cast(), 1, 0)
    });
    let null_value = events_of(state::STATE_USER_INPUT_NULL_POINTER, || {
        HAL_Kv_Set(key(), std::ptr::null(), 4, 0)
    });
    let null_del = events_of(state::STATE_USER_INPUT_NULL_POINTER, || {
        HAL_Kv_Del(std::ptr::null())
    });
    assert_eq!((null_key, null_value, null_del), (1, 1, 1));
}

#[test]
fn kv_get_refusals_raise_state_events() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    count_state_events();
    let value = b"0123456789";
    assert_eq!(HAL_Kv_Set(key(), value.as_ptr().cast(), 10, 1), 0);
    let mut buf = [0u8; 8];
    let buf_ptr = buf.as_mut_ptr() as *mut c_void;
    let mut len: c_int = 8;
    let small = events_of(state::STATE_USER_INPUT_OUT_RANGE, || {
        HAL_Kv_Get(key(), buf_ptr, &mut len)
    });
    assert_eq!(len, 10, "the needed size is reported back");
    let mut negative: c_int = -1;
    let negative_capacity = events_of(state::STATE_USER_INPUT_OUT_RANGE, || {
        HAL_Kv_Get(key(), buf_ptr, &mut negative)
    });
    let null_len = events_of(state::STATE_USER_INPUT_NULL_POINTER, || {
        HAL_Kv_Get(key(), buf_ptr, std::ptr::null_mut())
    });
    let mut big: c_int = 100;
    let null_buf = events_of(state::STATE_USER_INPUT_NULL_POINTER, || {
        HAL_Kv_Get(key(), std::ptr::null_mut(), &mut big)
    });
    assert_eq!(HAL_Kv_Del(key()), 0);
    assert_eq!((small, negative_capacity, null_len, null_buf), (1, 1, 1, 1));
}

/// The refusals that do raise an event today, so this file also has a test
/// that runs by default and proves the counting works.
#[test]
fn kv_bad_keys_raise_state_events() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    count_state_events();
    let value = b"v";
    for bad in [&b"../escape\0"[..], b"a/b\0", b".hidden\0", b"\0"] {
        let raised = events_of(state::STATE_SYS_DEPEND_KV_SET, || {
            HAL_Kv_Set(bad.as_ptr().cast(), value.as_ptr().cast(), 1, 0)
        });
        assert_eq!(raised, 1, "{:?}", String::from_utf8_lossy(bad));
    }
    let raised = events_of(state::STATE_USER_INPUT_OUT_RANGE, || {
        HAL_Kv_Set(key(), value.as_ptr().cast(), -1, 0)
    });
    assert_eq!(raised, 1);
}
