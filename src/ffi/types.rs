//! The vendor's C types, with their 3.2.x names, field order and enum values.
//! cbindgen copies them into include/iotkit.h; tests/c/abi_layout.c checks the
//! sizes, offsets and values from C.
//!
//! Enums that C passes *into* the library arrive as `#[repr(transparent)]`
//! integers (`iotx_mqtt_qos_t(c_int)` and friends): C may pass any int in an
//! enum type, and a Rust enum holding an undeclared value would be undefined
//! behaviour. cbindgen.toml renames the `*_values` enums to the vendor type
//! names, so the header still shows real `typedef enum { ... }` types.

#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]

use std::ffi::{c_char, c_int, c_void};

// ---- infra_defs.h ---------------------------------------------------------

pub const IOTX_PRODUCT_KEY_LEN: usize = 20;
pub const IOTX_DEVICE_NAME_LEN: usize = 32;
pub const IOTX_DEVICE_SECRET_LEN: usize = 64;
pub const IOTX_PRODUCT_SECRET_LEN: usize = 64;
pub const IOTX_MODULE_LEN: usize = 64;
pub const IOTX_DEVICE_ID_LEN: usize = 64;
pub const IOTX_FIRMWARE_VER_LEN: usize = 64;
pub const IOTX_DOMAIN_MAX_LEN: usize = 64;
pub const IOTX_CUSTOMIZE_INFO_LEN: usize = 80;
pub const DEV_SIGN_HOSTNAME_MAXLEN: usize = 64;
pub const DEV_SIGN_CLIENT_ID_MAXLEN: usize = 200;
pub const DEV_SIGN_USERNAME_MAXLEN: usize = 64;
pub const DEV_SIGN_PASSWORD_MAXLEN: usize = 65;
pub const CONFIG_MQTT_KEEPALIVE_INTERVAL_MIN: u32 = 30;
pub const CONFIG_MQTT_KEEPALIVE_INTERVAL_MAX: u32 = 1200;
pub const CONFIG_MQTT_REQ_TIMEOUT_MIN: u32 = 1000;
pub const CONFIG_MQTT_REQ_TIMEOUT_MAX: u32 = 10000;
pub const CONFIG_MQTT_REQUEST_TIMEOUT: u32 = 5000;
pub const CONFIG_MQTT_KEEPALIVE_INTERVAL: u32 = 60;
pub const CONFIG_MQTT_MESSAGE_MAXLEN: u32 = 3072;

/// `iotx_mqtt_region_types_t` as C declares it.
#[repr(C)]
pub enum iotx_mqtt_region_types_values {
    IOTX_CLOUD_REGION_SHANGHAI = 0,
    IOTX_CLOUD_REGION_SINGAPORE,
    IOTX_CLOUD_REGION_JAPAN,
    IOTX_CLOUD_REGION_USA_WEST,
    IOTX_CLOUD_REGION_GERMANY,
    IOTX_CLOUD_REGION_CUSTOM,
    IOTX_CLOUD_DOMAIN_MAX,
}

/// A region as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct iotx_mqtt_region_types_t(pub c_int);

#[repr(C)]
// Literal sizes (LEN + 1): cbindgen cannot emit an array whose length is an
// expression; tests/c/abi_layout.c checks them against the constants.
pub struct iotx_dev_meta_info_t {
    pub product_key: [c_char; 21],
    pub product_secret: [c_char; 65],
    pub device_name: [c_char; 33],
    pub device_secret: [c_char; 65],
    pub module: [c_char; 65],
}

#[repr(C)]
pub struct iotx_sign_mqtt_t {
    pub hostname: [c_char; DEV_SIGN_HOSTNAME_MAXLEN],
    pub port: u16,
    pub clientid: [c_char; DEV_SIGN_CLIENT_ID_MAXLEN],
    pub username: [c_char; DEV_SIGN_USERNAME_MAXLEN],
    pub password: [c_char; DEV_SIGN_PASSWORD_MAXLEN],
}

// ---- mqtt_api.h -----------------------------------------------------------

#[repr(C)]
pub enum iotx_mqtt_qos_values {
    IOTX_MQTT_QOS0 = 0,
    IOTX_MQTT_QOS1,
    IOTX_MQTT_QOS2,
    IOTX_MQTT_QOS3_SUB_LOCAL,
}

/// A QoS as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct iotx_mqtt_qos_t(pub c_int);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum iotx_mqtt_event_type_t {
    IOTX_MQTT_EVENT_UNDEF = 0,
    IOTX_MQTT_EVENT_DISCONNECT = 1,
    IOTX_MQTT_EVENT_RECONNECT = 2,
    IOTX_MQTT_EVENT_SUBCRIBE_SUCCESS = 3,
    IOTX_MQTT_EVENT_SUBCRIBE_TIMEOUT = 4,
    IOTX_MQTT_EVENT_SUBCRIBE_NACK = 5,
    IOTX_MQTT_EVENT_UNSUBCRIBE_SUCCESS = 6,
    IOTX_MQTT_EVENT_UNSUBCRIBE_TIMEOUT = 7,
    IOTX_MQTT_EVENT_UNSUBCRIBE_NACK = 8,
    IOTX_MQTT_EVENT_PUBLISH_SUCCESS = 9,
    IOTX_MQTT_EVENT_PUBLISH_TIMEOUT = 10,
    IOTX_MQTT_EVENT_PUBLISH_NACK = 11,
    IOTX_MQTT_EVENT_PUBLISH_RECEIVED = 12,
    IOTX_MQTT_EVENT_BUFFER_OVERFLOW = 13,
}

#[repr(C)]
pub struct iotx_mqtt_topic_info_t {
    pub packet_id: u16,
    pub qos: u8,
    pub dup: u8,
    pub retain: u8,
    pub topic_len: u16,
    pub payload_len: u32,
    pub ptopic: *const c_char,
    pub payload: *const c_char,
}
pub type iotx_mqtt_topic_info_pt = *mut iotx_mqtt_topic_info_t;

#[repr(C)]
pub struct iotx_mqtt_event_msg_t {
    pub event_type: iotx_mqtt_event_type_t,
    pub msg: *mut c_void,
}
pub type iotx_mqtt_event_msg_pt = *mut iotx_mqtt_event_msg_t;

pub type iotx_mqtt_event_handle_func_fpt = Option<
    unsafe extern "C" fn(pcontext: *mut c_void, pclient: *mut c_void, msg: iotx_mqtt_event_msg_pt),
>;

#[repr(C)]
pub struct iotx_mqtt_event_handle_t {
    pub h_fp: iotx_mqtt_event_handle_func_fpt,
    pub pcontext: *mut c_void,
}
pub type iotx_mqtt_event_handle_pt = *mut iotx_mqtt_event_handle_t;

#[repr(C)]
pub struct iotx_mqtt_param_t {
    pub port: u16,
    pub host: *const c_char,
    pub client_id: *const c_char,
    pub username: *const c_char,
    pub password: *const c_char,
    pub customize_info: *const c_char,
    pub pub_key: *const c_char,
    pub clean_session: u8,
    pub request_timeout_ms: u32,
    pub keepalive_interval_ms: u32,
    pub write_buf_size: u32,
    pub read_buf_size: u32,
    pub handle_event: iotx_mqtt_event_handle_t,
}
pub type iotx_mqtt_param_pt = *mut iotx_mqtt_param_t;

// ---- infra_compat.h -------------------------------------------------------

#[repr(C)]
pub enum iotx_ioctl_event_t {
    ITE_AWSS_STATUS = 0,
    ITE_CONNECT_SUCC,
    ITE_CONNECT_FAIL,
    ITE_DISCONNECTED,
    ITE_RAWDATA_ARRIVED,
    ITE_SERVICE_REQUEST,
    ITE_SERVICE_REQUEST_EXT,
    ITE_PROPERTY_SET,
    ITE_PROPERTY_GET,
    ITE_REPORT_REPLY,
    ITE_TRIGGER_EVENT_REPLY,
    ITE_TIMESTAMP_REPLY,
    ITE_TOPOLIST_REPLY,
    ITE_PERMIT_JOIN,
    ITE_INITIALIZE_COMPLETED,
    ITE_FOTA,
    ITE_FOTA_MODULE,
    ITE_COTA,
    ITE_MQTT_CONNECT_SUCC,
    ITE_CLOUD_ERROR,
    ITE_DYNREG_DEVICE_SECRET,
    ITE_IDENTITY_RESPONSE,
    ITE_BIND_EVENT,
    ITE_STATE_EVERYTHING,
    ITE_STATE_USER_INPUT,
    ITE_STATE_SYS_DEPEND,
    ITE_STATE_MQTT_COMM,
    ITE_STATE_WIFI_PROV,
    ITE_STATE_COAP_LOCAL,
    ITE_STATE_HTTP_COMM,
    ITE_STATE_OTA,
    ITE_STATE_DEV_BIND,
    ITE_STATE_DEV_MODEL,
}

#[repr(C)]
pub enum iotx_ioctl_option_t {
    IOTX_IOCTL_SET_REGION = 0,
    IOTX_IOCTL_GET_REGION,
    IOTX_IOCTL_SET_MQTT_DOMAIN,
    IOTX_IOCTL_SET_HTTP_DOMAIN,
    IOTX_IOCTL_SET_DYNAMIC_REGISTER,
    IOTX_IOCTL_GET_DYNAMIC_REGISTER,
    IOTX_IOCTL_RECV_PROP_REPLY,
    IOTX_IOCTL_RECV_EVENT_REPLY,
    IOTX_IOCTL_SEND_PROP_SET_REPLY,
    IOTX_IOCTL_SET_SUBDEV_SIGN,
    IOTX_IOCTL_GET_SUBDEV_LOGIN,
    IOTX_IOCTL_SET_OTA_DEV_ID,
    IOTX_IOCTL_FOTA_TIMEOUT_MS,
    IOTX_IOCTL_SET_CUSTOMIZE_INFO,
    IOTX_IOCTL_SET_MQTT_PORT,
    IOTX_IOCTL_SET_AWSS_ENABLE_INTERVAL,
    IOTX_IOCTL_SET_AWSS_CHANNEL_SCAN_INTERVAL,
    IOTX_IOCTL_SET_PROXY_REGISTER,
    IOTX_IOCTL_QUERY_DEVID,
    IOTX_IOCTL_SUB_USER_TOPIC,
    IOTX_IOCTL_SET_PRODUCT_KEY,
    IOTX_IOCTL_GET_PRODUCT_KEY,
    IOTX_IOCTL_SET_PRODUCT_SECRET,
    IOTX_IOCTL_GET_PRODUCT_SECRET,
    IOTX_IOCTL_SET_DEVICE_NAME,
    IOTX_IOCTL_GET_DEVICE_NAME,
    IOTX_IOCTL_SET_DEVICE_SECRET,
    IOTX_IOCTL_GET_DEVICE_SECRET,
    IOTX_IOCTL_SET_MODULE,
    IOTX_IOCTL_GET_MODULE,
}

#[repr(C)]
pub enum IOT_LogLevel_values {
    IOT_LOG_NONE = 0,
    IOT_LOG_CRIT,
    IOT_LOG_ERROR,
    IOT_LOG_WARNING,
    IOT_LOG_INFO,
    IOT_LOG_DEBUG,
}

/// A log level as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct IOT_LogLevel(pub c_int);

/// `int (*)(const int state_code, const char *state_message)`.
pub type state_handler_t =
    Option<unsafe extern "C" fn(state_code: c_int, state_message: *const c_char) -> c_int>;
/// `int (*)(void)`: connect / disconnect notices.
pub type iotkit_notice_handler_t = Option<unsafe extern "C" fn() -> c_int>;
/// `int (*)(const char *payload)`: the identity response.
pub type iotkit_payload_handler_t = Option<unsafe extern "C" fn(payload: *const c_char) -> c_int>;
/// `int (*)(const int code, const char *detail, const char *message)`.
pub type iotkit_cloud_error_handler_t = Option<
    unsafe extern "C" fn(code: c_int, detail: *const c_char, message: *const c_char) -> c_int,
>;

/// `void (*)(void)`: what HAL_Reboot calls (iotkit_set_reboot_handler).
pub type iotkit_reboot_handler_t = Option<unsafe extern "C" fn()>;

// ---- wrappers_defs.h ------------------------------------------------------

#[repr(C)]
pub struct ssl_hooks_t {
    pub malloc: Option<unsafe extern "C" fn(size: u32) -> *mut c_void>,
    pub free: Option<unsafe extern "C" fn(ptr: *mut c_void)>,
}

#[repr(C)]
pub enum hal_os_thread_priority_t {
    os_thread_priority_idle = -3,
    os_thread_priority_low = -2,
    os_thread_priority_belowNormal = -1,
    os_thread_priority_normal = 0,
    os_thread_priority_aboveNormal = 1,
    os_thread_priority_high = 2,
    os_thread_priority_realtime = 3,
    os_thread_priority_error = 0x84,
}

/// Thread parameters. `priority` is read as a plain int (any value C stores).
#[repr(C)]
pub struct hal_os_thread_param_t {
    pub priority: hal_os_thread_priority_raw,
    pub stack_addr: *mut c_void,
    pub stack_size: c_int,
    pub detach_state: c_int,
    pub name: *mut c_char,
}

/// `hal_os_thread_priority_t` as stored by C (any int); renamed in the header.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct hal_os_thread_priority_raw(pub c_int);

/// Heap counters of `HAL_Malloc` / `HAL_Free` (see `iotkit_heap_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct iotkit_heap_stats_t {
    /// Bytes currently allocated through HAL_Malloc and not yet freed.
    pub live_bytes: u64,
    /// Allocations currently live.
    pub live_allocations: u64,
    /// Highest `live_bytes` seen since start (or the last reset).
    pub peak_bytes: u64,
    /// HAL_Malloc calls that succeeded since start (or the last reset).
    pub total_allocations: u64,
}
