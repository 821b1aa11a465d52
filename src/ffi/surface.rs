//! The rest of what the vendor's 3.2.0 MQTT-only headers give firmware
//! (`infra_types.h`, `infra_compat.h`, `infra_state.h`, `mqtt_api.h`):
//! macros, `NetworkAddr`, the async-stack hook, `IOT_SetupConnInfo`, the
//! `iotx_event_*` monitor, and a registration function for every event kind,
//! so `IOT_RegisterCallback(ITE_PROPERTY_SET, cb)` compiles and links.
//!
//! Which events can occur: this library raises ITE_CONNECT_SUCC,
//! ITE_CONNECT_FAIL, ITE_DISCONNECTED, ITE_MQTT_CONNECT_SUCC,
//! ITE_IDENTITY_RESPONSE and the ITE_STATE_* events (ITE_CLOUD_ERROR and
//! ITE_DYNREG_DEVICE_SECRET are registered in `compat` and not raised today). The device-model,
//! provisioning, OTA-through-linkkit and binding events registered here
//! (ITE_AWSS_STATUS, ITE_RAWDATA_ARRIVED, ITE_SERVICE_REQUEST[_EXT],
//! ITE_PROPERTY_SET/GET/DESIRED_GET_REPLY, ITE_REPORT_REPLY,
//! ITE_TRIGGER_EVENT_REPLY, ITE_TIMESTAMP_REPLY, ITE_TOPOLIST_REPLY,
//! ITE_PERMIT_JOIN, ITE_INITIALIZE_COMPLETED, ITE_FOTA, ITE_FOTA_MODULE,
//! ITE_COTA, ITE_BIND_EVENT)
//! belong to modules iotkit does not provide: registering succeeds and the
//! callback is never called.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uchar, c_ushort, c_void};
use std::sync::Mutex;

use super::guard;
use super::sign::IOT_Sign_MQTT;
use super::types::*;
use crate::events;
use crate::state::*;

/// infra_types.h.
pub const IOT_TRUE: c_int = 1;
pub const IOT_FALSE: c_int = 0;

/// mqtt_api.h (the dynamic-memory values: topics are not limited by it here).
pub const CONFIG_MQTT_TOPIC_MAXLEN: c_int = 128;
pub const CONFIG_MQTT_OFFLINE_TOPIC_MAXNUM: c_int = 5;
pub const MUTLI_SUBSCIRBE_MAX: c_int = 5;

/// infra_state.h: the first code of each area (codes count down from it).
pub const STATE_BASE: c_int = 0x0000;
pub const STATE_USER_INPUT_BASE: c_int = -0x0100;
pub const STATE_SYS_DEPEND_BASE: c_int = -0x0200;
pub const STATE_MQTT_BASE: c_int = -0x0300;
pub const STATE_WIFI_BASE: c_int = -0x0400;
pub const STATE_COAP_BASE: c_int = -0x0500;
pub const STATE_HTTP_BASE: c_int = -0x0600;
pub const STATE_OTA_BASE: c_int = -0x0700;
pub const STATE_BIND_BASE: c_int = -0x0800;
pub const STATE_DEV_MODEL_BASE: c_int = -0x0900;

/// infra_compat.h.
pub const NETWORK_ADDR_LEN: usize = 16;

/// A network address (infra_compat.h), for UDP/CoAP HAL ports.
#[repr(C)]
#[allow(non_snake_case)]
pub struct NetworkAddr {
    pub addr: [c_uchar; NETWORK_ADDR_LEN],
    pub port: c_ushort,
}

/// The events of `iotx_event_regist_cb` (infra_compat.h `enum iotx_event_t`).
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum iotx_event_t {
    IOTX_AWSS_START = 0x1000,
    IOTX_AWSS_ENABLE,
    IOTX_AWSS_LOCK_CHAN,
    IOTX_AWSS_CS_ERR,
    IOTX_AWSS_PASSWD_ERR,
    IOTX_AWSS_GOT_SSID_PASSWD,
    IOTX_AWSS_CONNECT_ADHA,
    IOTX_AWSS_CONNECT_ADHA_FAIL,
    IOTX_AWSS_CONNECT_AHA,
    IOTX_AWSS_CONNECT_AHA_FAIL,
    IOTX_AWSS_SETUP_NOTIFY,
    IOTX_AWSS_CONNECT_ROUTER,
    IOTX_AWSS_CONNECT_ROUTER_FAIL,
    IOTX_AWSS_GOT_IP,
    IOTX_AWSS_SUC_NOTIFY,
    IOTX_AWSS_BIND_NOTIFY,
    IOTX_AWSS_ENABLE_TIMEOUT,
    IOTX_CONN_CLOUD = 0x2000,
    IOTX_CONN_CLOUD_FAIL,
    IOTX_CONN_CLOUD_SUC,
    IOTX_RESET = 0x3000,
}

/// Network events of an asynchronous protocol stack (mqtt_api.h).
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum iotx_mqtt_nwk_event_values {
    IOTX_MQTT_SOC_CONNECTED,
    IOTX_MQTT_SOC_CLOSE,
    IOTX_MQTT_SOC_READ,
    IOTX_MQTT_SOC_WRITE,
    IOTX_MQTT_SOC_MAX,
}

/// An `iotx_mqtt_nwk_event_t` as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct iotx_mqtt_nwk_event_t(pub c_int);

/// The socket an async network event is about (mqtt_api.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct iotx_mqtt_nwk_param_t {
    pub fd: usize,
}

/// For firmware on an asynchronous protocol stack. iotkit drives its own
/// sockets, so this returns STATE_MQTT_ASYNC_STACK_NOT_SUPPORT (as the
/// vendor's library built without ASYNC_PROTOCOL_STACK does), with a state event.
#[no_mangle]
pub extern "C" fn IOT_MQTT_Nwk_Event_Handler(
    handle: *mut c_void,
    event: iotx_mqtt_nwk_event_t,
    param: *mut iotx_mqtt_nwk_param_t,
) -> c_int {
    guard(
        "IOT_MQTT_Nwk_Event_Handler",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = (handle, param);
            events::state_event(
            STATE_MQTT_ASYNC_STACK_NOT_SUPPORT,
            &format!(
                "IOT_MQTT_Nwk_Event_Handler(event {}): iotkit runs its own sockets and does not work on an asynchronous protocol stack",
                event.0
            ),
        );
            STATE_MQTT_ASYNC_STACK_NOT_SUPPORT
        },
    )
}

/// Where `iotx_conn_info_t` points into (overwritten by each call, as the
/// vendor's static was).
struct ConnInfo {
    info: iotx_conn_info_t,
    sign: iotx_sign_mqtt_t,
}

// SAFETY: the raw pointers in `info` point into the same leaked, never freed
// allocation (or to the firmware's iotx_ca_crt); access is serialised by CONN.
unsafe impl Send for ConnInfo {}

static CONN: Mutex<Option<&'static mut ConnInfo>> = Mutex::new(None);

/// The connection parameters of IOT_SetupConnInfo (infra_compat.h).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct iotx_conn_info_t {
    pub port: u16,
    pub init: u8,
    pub host_name: *mut c_char,
    pub client_id: *mut c_char,
    pub username: *mut c_char,
    pub password: *mut c_char,
    pub pub_key: *const c_char,
}
#[allow(non_camel_case_types)]
pub type iotx_conn_info_pt = *mut iotx_conn_info_t;

fn copy_field<const N: usize>(dst: &mut [c_char; N], text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() + 1 > N || bytes.contains(&0) {
        return false;
    }
    for (d, s) in dst.iter_mut().zip(bytes) {
        *d = *s as c_char;
    }
    dst[bytes.len()] = 0;
    true
}

/// Signs the device-secret MQTT connection of `product_key`/`device_name`/
/// `device_secret` for the configured region (as IOT_Sign_MQTT) and sets
/// `*info_ptr` to an `iotx_conn_info_t` with the host, port, client id, user
/// name, password and `iotx_ca_crt`. The structure is the library's and is
/// overwritten by the next call. Returns 0 or a negative STATE_* code.
#[no_mangle]
pub extern "C" fn IOT_SetupConnInfo(
    product_key: *const c_char,
    device_name: *const c_char,
    device_secret: *const c_char,
    info_ptr: *mut *mut c_void,
) -> c_int {
    guard("IOT_SetupConnInfo", STATE_USER_INPUT_INVALID, || {
        let fail = |code: i32, why: &str| {
            events::state_event(code, &format!("IOT_SetupConnInfo: {why}"));
            code
        };
        if product_key.is_null()
            || device_name.is_null()
            || device_secret.is_null()
            || info_ptr.is_null()
        {
            return fail(
                STATE_USER_INPUT_NULL_POINTER,
                "product_key, device_name, device_secret and info_ptr are required",
            );
        }
        let arg = |ptr, max| {
            // SAFETY: non-NULL, NUL-terminated; at most max + 1 bytes are read.
            match unsafe { super::c_str_bounded(ptr, max) } {
                Ok(Some(b)) if !b.is_empty() => std::str::from_utf8(b).ok(),
                _ => None,
            }
        };
        let (Some(pk), Some(dn), Some(ds)) = (
            arg(product_key, IOTX_PRODUCT_KEY_LEN),
            arg(device_name, IOTX_DEVICE_NAME_LEN),
            arg(device_secret, IOTX_DEVICE_SECRET_LEN),
        ) else {
            return fail(
                STATE_USER_INPUT_META_INFO,
                "the product key, device name or device secret is empty, too long or not text",
            );
        };
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut meta: iotx_dev_meta_info_t = unsafe { std::mem::zeroed() };
        if !(copy_field(&mut meta.product_key, pk)
            && copy_field(&mut meta.device_name, dn)
            && copy_field(&mut meta.device_secret, ds))
        {
            return fail(
                STATE_USER_INPUT_META_INFO,
                "the product key, device name or device secret does not fit",
            );
        }
        let mut slot = CONN.lock().unwrap_or_else(|p| p.into_inner());
        let conn: &'static mut ConnInfo = match slot.take() {
            Some(conn) => conn,
            None => Box::leak(Box::new(ConnInfo {
                // SAFETY: all-zero is a valid value (NULL pointers, zero numbers).
                info: unsafe { std::mem::zeroed() },
                // SAFETY: as above.
                sign: unsafe { std::mem::zeroed() },
            })),
        };
        let region = iotx_mqtt_region_types_t(crate::device::snapshot().region as c_int);
        let rc = IOT_Sign_MQTT(region, &mut meta, &mut conn.sign);
        if rc < 0 {
            *slot = Some(conn);
            return rc;
        }
        // SAFETY: only the pointer value of the firmware's global is read.
        let ca = unsafe { std::ptr::addr_of!(super::mqtt::iotx_ca_crt).read() };
        conn.info = iotx_conn_info_t {
            port: conn.sign.port,
            init: 1,
            host_name: conn.sign.hostname.as_mut_ptr(),
            client_id: conn.sign.clientid.as_mut_ptr(),
            username: conn.sign.username.as_mut_ptr(),
            password: conn.sign.password.as_mut_ptr(),
            pub_key: ca,
        };
        // SAFETY: info_ptr was checked non-NULL; the caller provides a writable void*.
        unsafe { *info_ptr = std::ptr::addr_of_mut!(conn.info).cast::<c_void>() };
        *slot = Some(conn);
        STATE_SUCCESS
    })
}

type iotkit_event_monitor_t = Option<unsafe extern "C" fn(event: c_int)>;
static MONITOR: Mutex<iotkit_event_monitor_t> = Mutex::new(None);

/// Registers the firmware's event monitor (infra_compat.h); NULL removes it.
/// iotkit posts no events itself; `iotx_event_post` calls it. Returns 0.
#[no_mangle]
pub extern "C" fn iotx_event_regist_cb(monitor_cb: iotkit_event_monitor_t) -> c_int {
    guard("iotx_event_regist_cb", -1, || {
        *MONITOR.lock().unwrap_or_else(|p| p.into_inner()) = monitor_cb;
        0
    })
}

/// Calls the monitor registered with `iotx_event_regist_cb` with `event`
/// (outside any library lock). Returns 0, or -1 when none is registered.
#[no_mangle]
pub extern "C" fn iotx_event_post(event: c_int) -> c_int {
    guard("iotx_event_post", -1, || {
        let monitor = *MONITOR.lock().unwrap_or_else(|p| p.into_inner());
        match monitor {
            Some(cb) => {
                // SAFETY: a function the firmware registered for this purpose.
                unsafe { cb(event) };
                0
            }
            None => -1,
        }
    })
}

// ---- registrations for events iotkit never raises --------------------------------

/// ITE_AWSS_STATUS: `int (*)(int)`.
pub type iotkit_awss_status_handler_t = Option<unsafe extern "C" fn(c_int) -> c_int>;
/// ITE_RAWDATA_ARRIVED: `int (*)(const int, const unsigned char *, const int)`.
pub type iotkit_rawdata_handler_t =
    Option<unsafe extern "C" fn(c_int, *const c_uchar, c_int) -> c_int>;
/// ITE_SERVICE_REQUEST: `int (*)(const int, const char *, const int, const char *, const int, char **, int *)`.
pub type iotkit_service_request_handler_t = Option<
    unsafe extern "C" fn(
        c_int,
        *const c_char,
        c_int,
        *const c_char,
        c_int,
        *mut *mut c_char,
        *mut c_int,
    ) -> c_int,
>;
/// ITE_SERVICE_REQUEST_EXT: `int (*)(int, const char *, int, const char *, int, const char *, int, void *)`.
pub type iotkit_service_request_ext_handler_t = Option<
    unsafe extern "C" fn(
        c_int,
        *const c_char,
        c_int,
        *const c_char,
        c_int,
        *const c_char,
        c_int,
        *mut c_void,
    ) -> c_int,
>;
/// ITE_PROPERTY_SET: `int (*)(const int, const char *, const int)`.
pub type iotkit_property_set_handler_t =
    Option<unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int>;
/// ITE_PROPERTY_DESIRED_GET_REPLY, ITE_PERMIT_JOIN: `int (*)(const char *, const int)`.
pub type iotkit_text_len_handler_t = Option<unsafe extern "C" fn(*const c_char, c_int) -> c_int>;
/// ITE_PROPERTY_GET: `int (*)(const int, const char *, const int, char **, int *)`.
pub type iotkit_property_get_handler_t = Option<
    unsafe extern "C" fn(c_int, *const c_char, c_int, *mut *mut c_char, *mut c_int) -> c_int,
>;
/// ITE_REPORT_REPLY, ITE_TOPOLIST_REPLY: `int (*)(const int, const int, const int, const char *, const int)`.
pub type iotkit_reply_handler_t =
    Option<unsafe extern "C" fn(c_int, c_int, c_int, *const c_char, c_int) -> c_int>;
/// ITE_TRIGGER_EVENT_REPLY: `int (*)(const int, const int, const int, const char *, const int, const char *, const int)`.
pub type iotkit_event_reply_handler_t = Option<
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_char, c_int, *const c_char, c_int) -> c_int,
>;
/// ITE_TIMESTAMP_REPLY, ITE_BIND_EVENT: `int (*)(const char *)`.
pub type iotkit_text_handler_t = Option<unsafe extern "C" fn(*const c_char) -> c_int>;
/// ITE_INITIALIZE_COMPLETED: `int (*)(const int)`.
pub type iotkit_devid_handler_t = Option<unsafe extern "C" fn(c_int) -> c_int>;
/// ITE_FOTA: `int (*)(const int, const char *)`.
pub type iotkit_fota_handler_t = Option<unsafe extern "C" fn(c_int, *const c_char) -> c_int>;
/// ITE_FOTA_MODULE: `int (*)(const int, const char *, const char *)`.
pub type iotkit_int_text_text_handler_t =
    Option<unsafe extern "C" fn(c_int, *const c_char, *const c_char) -> c_int>;
/// ITE_COTA: `int (*)(const int, const char *, int, const char *, const char *, const char *, const char *)`.
pub type iotkit_cota_handler_t = Option<
    unsafe extern "C" fn(
        c_int,
        *const c_char,
        c_int,
        *const c_char,
        *const c_char,
        *const c_char,
        *const c_char,
    ) -> c_int,
>;

/// ITE_AWSS_STATUS (WiFi provisioning). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_AWSS_STATUS(
    callback: iotkit_awss_status_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_AWSS_STATUS",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_RAWDATA_ARRIVED (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_RAWDATA_ARRIVED(
    callback: iotkit_rawdata_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_RAWDATA_ARRIVED",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_SERVICE_REQUEST (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_SERVICE_REQUEST(
    callback: iotkit_service_request_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_SERVICE_REQUEST",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_SERVICE_REQUEST_EXT (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_SERVICE_REQUEST_EXT(
    callback: iotkit_service_request_ext_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_SERVICE_REQUEST_EXT",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_PROPERTY_SET (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_PROPERTY_SET(
    callback: iotkit_property_set_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_PROPERTY_SET",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_PROPERTY_GET (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_PROPERTY_GET(
    callback: iotkit_property_get_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_PROPERTY_GET",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_PROPERTY_DESIRED_GET_REPLY (device model with shadow). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_PROPERTY_DESIRED_GET_REPLY(
    callback: iotkit_text_len_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_PROPERTY_DESIRED_GET_REPLY",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_REPORT_REPLY (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_REPORT_REPLY(callback: iotkit_reply_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_REPORT_REPLY",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_TRIGGER_EVENT_REPLY (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_TRIGGER_EVENT_REPLY(
    callback: iotkit_event_reply_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_TRIGGER_EVENT_REPLY",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_TIMESTAMP_REPLY (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_TIMESTAMP_REPLY(callback: iotkit_text_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_TIMESTAMP_REPLY",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_TOPOLIST_REPLY (gateway). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_TOPOLIST_REPLY(callback: iotkit_reply_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_TOPOLIST_REPLY",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_PERMIT_JOIN (gateway). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_PERMIT_JOIN(callback: iotkit_text_len_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_PERMIT_JOIN",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_INITIALIZE_COMPLETED (device model). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_INITIALIZE_COMPLETED(
    callback: iotkit_devid_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_INITIALIZE_COMPLETED",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_FOTA (OTA through linkkit; use ota_api.h). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_FOTA(callback: iotkit_fota_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_FOTA",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_FOTA_MODULE (OTA through linkkit; use ota_api.h). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_FOTA_MODULE(
    callback: iotkit_int_text_text_handler_t,
) -> c_int {
    guard(
        "iotx_register_for_ITE_FOTA_MODULE",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_COTA (remote configuration). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_COTA(callback: iotkit_cota_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_COTA",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}

/// ITE_BIND_EVENT (device binding). iotkit never raises this event: registering succeeds (returns 0)
/// and the callback is never called.
#[no_mangle]
pub extern "C" fn iotx_register_for_ITE_BIND_EVENT(callback: iotkit_text_handler_t) -> c_int {
    guard(
        "iotx_register_for_ITE_BIND_EVENT",
        STATE_USER_INPUT_INVALID,
        || {
            let _ = callback;
            STATE_SUCCESS
        },
    )
}
