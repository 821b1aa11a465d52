//! infra_compat.h / infra_state.h: IOT_Ioctl, event callbacks, state events,
//! log level and memory statistics.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use super::types::*;
use super::{c_str, c_str_bounded, copy_out_c_str, guard};
use crate::device::{self, Field};
use crate::events::{self, ite, Handler, Registration};
use crate::log::{self, Level};
use crate::state::*;

// ---- IOT_Ioctl ----------------------------------------------------------------

fn text_field(option: c_int) -> Option<(Field, bool)> {
    use iotx_ioctl_option_t::*;
    const fn o(option: iotx_ioctl_option_t) -> c_int {
        option as c_int
    }
    Some(match option {
        x if x == o(IOTX_IOCTL_SET_PRODUCT_KEY) => (Field::ProductKey, true),
        x if x == o(IOTX_IOCTL_GET_PRODUCT_KEY) => (Field::ProductKey, false),
        x if x == o(IOTX_IOCTL_SET_PRODUCT_SECRET) => (Field::ProductSecret, true),
        x if x == o(IOTX_IOCTL_GET_PRODUCT_SECRET) => (Field::ProductSecret, false),
        x if x == o(IOTX_IOCTL_SET_DEVICE_NAME) => (Field::DeviceName, true),
        x if x == o(IOTX_IOCTL_GET_DEVICE_NAME) => (Field::DeviceName, false),
        x if x == o(IOTX_IOCTL_SET_DEVICE_SECRET) => (Field::DeviceSecret, true),
        x if x == o(IOTX_IOCTL_GET_DEVICE_SECRET) => (Field::DeviceSecret, false),
        x if x == o(IOTX_IOCTL_SET_MODULE) => (Field::Module, true),
        x if x == o(IOTX_IOCTL_GET_MODULE) => (Field::Module, false),
        x if x == o(IOTX_IOCTL_SET_MQTT_DOMAIN) => (Field::MqttDomain, true),
        x if x == o(IOTX_IOCTL_SET_CUSTOMIZE_INFO) => (Field::CustomizeInfo, true),
        _ => return None,
    })
}

fn set_text(field: Field, data: *const c_char) -> c_int {
    // SAFETY: IOT_Ioctl's SET options take a NUL-terminated string; at most
    // max_len + 1 bytes are read, so an unterminated value is caught.
    match unsafe { c_str_bounded(data, field.max_len()) } {
        Ok(Some(value)) => match device::set(field, value) {
            Ok(()) => STATE_SUCCESS,
            Err(code) => code,
        },
        Ok(None) => STATE_USER_INPUT_NULL_POINTER,
        Err(()) => {
            events::state_event(
                field.error_code(),
                &format!(
                    "IOT_Ioctl: {} is longer than {} characters; value unchanged",
                    field.label(),
                    field.max_len()
                ),
            );
            field.error_code()
        }
    }
}

fn get_text(field: Field, data: *mut c_char) -> c_int {
    let value = device::get(field);
    // SAFETY: GET options write into a caller buffer of the documented size,
    // max_len + 1 bytes; stored values never exceed max_len.
    if unsafe { copy_out_c_str(data, field.max_len() + 1, &value) } {
        STATE_SUCCESS
    } else {
        STATE_USER_INPUT_OUT_RANGE
    }
}

/// Sets or reads one device option. `data` points to what the option names:
/// an `int` (region, dynamic register), a `uint16_t` (MQTT port), a string
/// for SET_* text options, or a buffer of the field's LEN + 1 bytes for GET_*.
/// Returns 0, or a negative STATE_USER_INPUT_* code; a refused SET changes nothing.
#[no_mangle]
pub extern "C" fn IOT_Ioctl(option: c_int, data: *mut c_void) -> c_int {
    use iotx_ioctl_option_t::*;
    guard("IOT_Ioctl", STATE_USER_INPUT_INVALID, || {
        if data.is_null() {
            events::state_event(
                STATE_USER_INPUT_NULL_POINTER,
                &format!("IOT_Ioctl({option}): data is NULL"),
            );
            return STATE_USER_INPUT_NULL_POINTER;
        }
        if let Some((field, is_set)) = text_field(option) {
            return if is_set {
                set_text(field, data.cast())
            } else {
                get_text(field, data.cast())
            };
        }
        let int_data = data.cast::<c_int>();
        match option {
            x if x == IOTX_IOCTL_SET_REGION as c_int => {
                // SAFETY: SET_REGION takes an `int *`.
                let value = unsafe { int_data.read_unaligned() };
                device::set_region(i64::from(value))
                    .err()
                    .unwrap_or(STATE_SUCCESS)
            }
            x if x == IOTX_IOCTL_GET_REGION as c_int => {
                // SAFETY: GET_REGION writes an `int`.
                unsafe { int_data.write_unaligned(device::snapshot().region as c_int) };
                STATE_SUCCESS
            }
            x if x == IOTX_IOCTL_SET_MQTT_PORT as c_int => {
                // SAFETY: SET_MQTT_PORT takes a `uint16_t *`.
                let port = unsafe { data.cast::<u16>().read_unaligned() };
                device::set_mqtt_port(i64::from(port))
                    .err()
                    .unwrap_or(STATE_SUCCESS)
            }
            x if x == IOTX_IOCTL_SET_DYNAMIC_REGISTER as c_int => {
                // SAFETY: SET_DYNAMIC_REGISTER takes an `int *`.
                let enabled = unsafe { int_data.read_unaligned() } != 0;
                if enabled {
                    events::state_event(
                        STATE_USER_INPUT_INVALID,
                        "IOT_Ioctl(SET_DYNAMIC_REGISTER): dynamic registration is not offered by iotkit; \
                         use an X.509 certificate or a DeviceSecret",
                    );
                }
                device::set_dynamic_register(enabled);
                STATE_SUCCESS
            }
            x if x == IOTX_IOCTL_GET_DYNAMIC_REGISTER as c_int => {
                // SAFETY: GET_DYNAMIC_REGISTER writes an `int`.
                unsafe {
                    int_data.write_unaligned(c_int::from(device::snapshot().dynamic_register))
                };
                STATE_SUCCESS
            }
            _ => {
                events::state_event(
                    STATE_USER_INPUT_INVALID,
                    &format!("IOT_Ioctl: option {option} is not supported by iotkit"),
                );
                STATE_USER_INPUT_INVALID
            }
        }
    })
}

// ---- callbacks ------------------------------------------------------------------

fn register(event: i32, address: usize, handler: Option<Handler>) -> c_int {
    let registration = handler.map(|handler| Registration { address, handler });
    if events::register(event, registration) {
        STATE_SUCCESS
    } else {
        STATE_USER_INPUT_OUT_RANGE
    }
}

fn register_notice(event: i32, cb: iotkit_notice_handler_t) -> c_int {
    let handler = cb.map(|f| {
        Handler::Notice(Arc::new(move || {
            // SAFETY: the firmware registered `f` as `int (*)(void)`.
            unsafe { f() };
        }))
    });
    register(event, cb.map_or(0, |f| f as usize), handler)
}

fn register_state(event: i32, cb: state_handler_t) -> c_int {
    let handler = cb.map(|f| {
        Handler::State(Arc::new(move |code, message: &str| {
            let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: `f` is `int (*)(const int, const char *)`; the message
            // lives until the call returns.
            unsafe { f(code, text.as_ptr()) };
        }))
    });
    register(event, cb.map_or(0, |f| f as usize), handler)
}

fn register_payload(event: i32, cb: iotkit_payload_handler_t) -> c_int {
    let handler = cb.map(|f| {
        Handler::Payload(Arc::new(move |payload: &str| {
            let text = CString::new(payload.replace('\0', " ")).unwrap_or_default();
            // SAFETY: `f` is `int (*)(const char *)`; the payload string lives
            // until the call returns.
            unsafe { f(text.as_ptr()) };
        }))
    });
    register(event, cb.map_or(0, |f| f as usize), handler)
}

/// Registers `int (*)(void)`, called when the connection to the platform succeeded. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_CONNECT_SUCC(callback: iotkit_notice_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_CONNECT_SUCC",
        STATE_USER_INPUT_INVALID,
        || register_notice(ite::CONNECT_SUCC, callback),
    )
}

/// Registers `int (*)(void)`, called when a connection attempt failed. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_CONNECT_FAIL(callback: iotkit_notice_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_CONNECT_FAIL",
        STATE_USER_INPUT_INVALID,
        || register_notice(ite::CONNECT_FAIL, callback),
    )
}

/// Registers `int (*)(void)`, called when the connection was lost. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_DISCONNECTED(callback: iotkit_notice_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_DISCONNECTED",
        STATE_USER_INPUT_INVALID,
        || register_notice(ite::DISCONNECTED, callback),
    )
}

/// Registers `int (*)(void)`, called when the MQTT session was established (CONNACK accepted). NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_MQTT_CONNECT_SUCC(
    callback: iotkit_notice_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_MQTT_CONNECT_SUCC",
        STATE_USER_INPUT_INVALID,
        || register_notice(ite::MQTT_CONNECT_SUCC, callback),
    )
}

/// Registers a `state_handler_t` for every state event. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_EVERYTHING(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_EVERYTHING",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_EVERYTHING, callback),
    )
}

/// Registers a `state_handler_t` for state events of the STATE_USER_INPUT_* kind. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_USER_INPUT(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_USER_INPUT",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_USER_INPUT, callback),
    )
}

/// Registers a `state_handler_t` for state events of the STATE_SYS_DEPEND_* kind. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_SYS_DEPEND(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_SYS_DEPEND",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_SYS_DEPEND, callback),
    )
}

/// Registers a `state_handler_t` for state events of the mqtt comm area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_MQTT_COMM(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_MQTT_COMM",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_MQTT_COMM, callback),
    )
}

/// Registers a `state_handler_t` for state events of the wifi prov area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_WIFI_PROV(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_WIFI_PROV",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_WIFI_PROV, callback),
    )
}

/// Registers a `state_handler_t` for state events of the coap local area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_COAP_LOCAL(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_COAP_LOCAL",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_COAP_LOCAL, callback),
    )
}

/// Registers a `state_handler_t` for state events of the http comm area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_HTTP_COMM(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_HTTP_COMM",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_HTTP_COMM, callback),
    )
}

/// Registers a `state_handler_t` for state events of the ota area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_OTA(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_OTA",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_OTA, callback),
    )
}

/// Registers a `state_handler_t` for state events of the dev bind area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_DEV_BIND(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_DEV_BIND",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_DEV_BIND, callback),
    )
}

/// Registers a `state_handler_t` for state events of the dev model area. NULL removes it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_STATE_DEV_MODEL(callback: state_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_STATE_DEV_MODEL",
        STATE_USER_INPUT_INVALID,
        || register_state(ite::STATE_DEV_MODEL, callback),
    )
}

/// Registers the identity response callback: called with the payload of
/// `/ext/auth/identity/response` as a NUL-terminated string. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_IDENTITY_RESPONSE(
    callback: iotkit_payload_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_IDENTITY_RESPONSE",
        STATE_USER_INPUT_INVALID,
        || register_payload(ite::IDENTITY_RESPONSE, callback),
    )
}

/// Registers the `int (*)(const char *)` callback for a dynamically registered
/// DeviceSecret. iotkit does not offer dynamic registration, so it is never
/// called; registering it is accepted for source compatibility. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_DYNREG_DEVICE_SECRET(
    callback: iotkit_payload_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_DYNREG_DEVICE_SECRET",
        STATE_USER_INPUT_INVALID,
        || register_payload(ite::DYNREG_DEVICE_SECRET, callback),
    )
}

/// Registers the cloud error callback `int (*)(const int, const char *, const char *)`. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_CLOUD_ERROR(
    callback: iotkit_cloud_error_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_CLOUD_ERROR",
        STATE_USER_INPUT_INVALID,
        || {
            let handler = callback.map(|f| {
                Handler::CloudError(Arc::new(move |code, detail: &str, message: &str| {
                    let detail = CString::new(detail.replace('\0', " ")).unwrap_or_default();
                    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
                    // SAFETY: `f` has the registered signature; both strings live
                    // until the call returns.
                    unsafe { f(code, detail.as_ptr(), message.as_ptr()) };
                }))
            });
            register(
                ite::CLOUD_ERROR,
                callback.map_or(0, |f| f as usize),
                handler,
            )
        },
    )
}

/// The function registered for `evt`, or NULL.
#[no_mangle]
pub extern "C" fn iotx_event_callback(evt: c_int) -> *mut c_void {
    guard("iotx_event_callback", std::ptr::null_mut(), || {
        events::registration(evt).map_or(std::ptr::null_mut(), |r| r.address as *mut c_void)
    })
}

// ---- state events ------------------------------------------------------------------

/// Raises a state event with a ready-made message: delivered to the handler
/// of `event` (an ITE_STATE_* value) and to ITE_STATE_EVERYTHING, and logged.
/// `iotx_state_event` formats its message and calls this. Returns 0, or
/// STATE_USER_INPUT_OUT_RANGE when `event` is not an ITE_STATE_* value.
#[no_mangle]
pub extern "C" fn iotkit_raise_state_event(
    event: c_int,
    state_code: c_int,
    message: *const c_char,
) -> c_int {
    guard("iotkit_raise_state_event", STATE_USER_INPUT_INVALID, || {
        if !(ite::STATE_EVERYTHING..=ite::STATE_DEV_MODEL).contains(&event) {
            return STATE_USER_INPUT_OUT_RANGE;
        }
        // SAFETY: NULL or a NUL-terminated message from the caller.
        let text = match unsafe { c_str(message) } {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None if message.is_null() => std::borrow::Cow::Borrowed(""),
            // SAFETY: non-NULL and NUL-terminated; only its UTF-8 check failed.
            None => {
                String::from_utf8_lossy(unsafe { std::ffi::CStr::from_ptr(message) }.to_bytes())
            }
        };
        events::state_event_for(event, state_code, &text);
        STATE_SUCCESS
    })
}

/// How many notices and state events were dropped since start instead of
/// reaching a handler. Handlers never recurse: an event raised while one of
/// the thread's handlers runs (e.g. a failed call made from an
/// ITE_STATE_EVERYTHING handler) is delivered after that handler returns,
/// and events raised in turn by the handlers of such a late event are
/// dropped and counted here (as are events beyond 256 waiting on one thread).
/// The log still shows every event.
#[no_mangle]
pub extern "C" fn iotkit_state_events_dropped() -> u64 {
    guard("iotkit_state_events_dropped", 0, events::dropped_events)
}

/// A sentence describing `code`; never NULL, "unknown state code" for codes
/// the vendor did not define.
#[no_mangle]
pub extern "C" fn IOT_Extension_StateDesc(code: c_int) -> *const c_char {
    guard(
        "IOT_Extension_StateDesc",
        c"unknown state code".as_ptr(),
        || describe(code).as_ptr(),
    )
}

// ---- log and memory -----------------------------------------------------------------

/// Sets the log level; values beyond IOT_LOG_DEBUG mean DEBUG, below NONE mean NONE.
#[no_mangle]
pub extern "C" fn IOT_SetLogLevel(level: IOT_LogLevel) {
    guard("IOT_SetLogLevel", (), || {
        log::set_level(Level::from_int(i64::from(level.0)))
    })
}

/// Logs the HAL_Malloc counters at `level` (nothing when the log is quieter).
#[no_mangle]
pub extern "C" fn IOT_DumpMemoryStats(level: IOT_LogLevel) {
    guard("IOT_DumpMemoryStats", (), || {
        let stats = crate::os::heap_stats();
        log::write(
            Level::from_int(i64::from(level.0)),
            format_args!(
                "memory: {} bytes live in {} blocks, peak {} bytes, {} allocations",
                stats.live_bytes, stats.live_allocations, stats.peak_bytes, stats.total_allocations
            ),
        );
    })
}

/// The library's version, e.g. "0.1.0" (IOTX_SDK_VERSION stays "3.2.0").
#[no_mangle]
pub extern "C" fn iotkit_version() -> *const c_char {
    guard("iotkit_version", c"".as_ptr(), || {
        static VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
            concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
        ) {
            Ok(v) => v,
            Err(_) => c"",
        };
        VERSION.as_ptr()
    })
}
