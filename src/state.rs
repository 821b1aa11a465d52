//! The vendor's state codes (infra_state.h of the Link SDK for C 3.2.0), one
//! constant each: every individual code of every module. The areas' first
//! codes (`STATE_*_BASE`) are in `ffi::surface`. The 3.2.0 header declares
//! no individual CoAP or OTA codes (the OTA functions return IOT_OTAE_*).
//!
//! The values come from `docs/state-codes.csv`; `tests/state_codes.rs` keeps the
//! two in step. cbindgen turns each constant into a `#define` in iotkit.h.
//!
//! Of these, only the general, user-input, system and MQTT codes are ever
//! returned or raised by iotkit; the codes of the modules it does not provide
//! (WiFi provisioning, the HTTP channel, binding, the device model) exist so
//! that vendor code naming them compiles, and their descriptions say so.

use std::ffi::CStr;

pub const STATE_SUCCESS: i32 = 0x0000;
pub const STATE_USER_INPUT_NULL_POINTER: i32 = -0x0101;
pub const STATE_USER_INPUT_OUT_RANGE: i32 = -0x0102;
pub const STATE_USER_INPUT_PK: i32 = -0x0103;
pub const STATE_USER_INPUT_PS: i32 = -0x0104;
pub const STATE_USER_INPUT_DN: i32 = -0x0105;
pub const STATE_USER_INPUT_DS: i32 = -0x0106;
pub const STATE_USER_INPUT_HTTP_DOMAIN: i32 = -0x0107;
pub const STATE_USER_INPUT_MQTT_DOMAIN: i32 = -0x0108;
pub const STATE_USER_INPUT_HTTP_PORT: i32 = -0x0109;
pub const STATE_USER_INPUT_HTTP_TIMEOUT: i32 = -0x010a;
pub const STATE_USER_INPUT_HTTP_OPTION: i32 = -0x010b;
pub const STATE_USER_INPUT_HTTP_POST_DATA: i32 = -0x010c;
pub const STATE_USER_INPUT_HTTP_URL: i32 = -0x010d;
pub const STATE_USER_INPUT_HTTP_PATH: i32 = -0x010e;
pub const STATE_USER_INPUT_META_INFO: i32 = -0x010f;
pub const STATE_USER_INPUT_DEVID: i32 = -0x0110;
pub const STATE_USER_INPUT_DEVICE_TYPE: i32 = -0x0111;
pub const STATE_USER_INPUT_MSG_TYPE: i32 = -0x0112;
pub const STATE_USER_INPUT_INVALID: i32 = -0x0113;
pub const STATE_SYS_DEPEND_MALLOC: i32 = -0x0201;
pub const STATE_SYS_DEPEND_KV_GET: i32 = -0x0202;
pub const STATE_SYS_DEPEND_KV_SET: i32 = -0x0203;
pub const STATE_SYS_DEPEND_KV_DELETE: i32 = -0x0204;
pub const STATE_SYS_DEPEND_MUTEX_CREATE: i32 = -0x0205;
pub const STATE_SYS_DEPEND_MUTEX_LOCK: i32 = -0x0206;
pub const STATE_SYS_DEPEND_MUTEX_UNLOCK: i32 = -0x0207;
pub const STATE_SYS_DEPEND_NWK_CLOSE: i32 = -0x0208;
pub const STATE_SYS_DEPEND_NWK_TIMEOUT: i32 = -0x0209;
pub const STATE_SYS_DEPEND_NWK_INVALID_HANDLE: i32 = -0x020a;
pub const STATE_SYS_DEPEND_NWK_READ_ERROR: i32 = -0x020b;
pub const STATE_SYS_DEPEND_SEMAPHORE_CREATE: i32 = -0x020c;
pub const STATE_SYS_DEPEND_SEMAPHORE_WAIT: i32 = -0x020d;
pub const STATE_SYS_DEPEND_SNPRINTF: i32 = -0x020e;
pub const STATE_SYS_DEPEND_FIRMWAIRE_WIRTE: i32 = -0x020f;
pub const STATE_MQTT_CONNACK_VERSION_UNACCEPT: i32 = -0x0301;
pub const STATE_MQTT_CONNACK_IDENT_REJECT: i32 = -0x0302;
pub const STATE_MQTT_CONNACK_SERVICE_NA: i32 = -0x0303;
pub const STATE_MQTT_CONNACK_NOT_AUTHORIZED: i32 = -0x0304;
pub const STATE_MQTT_CONNACK_BAD_USERDATA: i32 = -0x0305;
pub const STATE_MQTT_WAIT_RECONN_TIMER: i32 = -0x0306;
pub const STATE_MQTT_SIGN_HOSTNAME_BUF_SHORT: i32 = -0x0307;
pub const STATE_MQTT_SIGN_USERNAME_BUF_SHORT: i32 = -0x0308;
pub const STATE_MQTT_SIGN_CLIENTID_BUF_SHORT: i32 = -0x0309;
pub const STATE_MQTT_SIGN_SOURCE_BUF_SHORT: i32 = -0x030a;
pub const STATE_MQTT_WRAPPER_INIT_FAIL: i32 = -0x030b;
pub const STATE_MQTT_SERIALIZE_CONN_ERROR: i32 = -0x030c;
pub const STATE_MQTT_SERIALIZE_PUBACK_ERROR: i32 = -0x030d;
pub const STATE_MQTT_SERIALIZE_PINGREQ_ERROR: i32 = -0x030e;
pub const STATE_MQTT_SERIALIZE_SUB_ERROR: i32 = -0x030f;
pub const STATE_MQTT_SERIALIZE_UNSUB_ERROR: i32 = -0x0310;
pub const STATE_MQTT_SERIALIZE_PUB_ERROR: i32 = -0x0311;
pub const STATE_MQTT_DESERIALIZE_CONNACK_ERROR: i32 = -0x0312;
pub const STATE_MQTT_DESERIALIZE_SUBACK_ERROR: i32 = -0x0313;
pub const STATE_MQTT_DESERIALIZE_PUB_ERROR: i32 = -0x0314;
pub const STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR: i32 = -0x0315;
pub const STATE_MQTT_PACKET_READ_ERROR: i32 = -0x0316;
pub const STATE_MQTT_CONNACK_UNKNOWN_ERROR: i32 = -0x0317;
pub const STATE_MQTT_RX_BUFFER_TOO_SHORT: i32 = -0x0318;
pub const STATE_MQTT_TX_BUFFER_TOO_SHORT: i32 = -0x0319;
pub const STATE_MQTT_TOPIC_BUF_TOO_SHORT: i32 = -0x031a;
pub const STATE_MQTT_CONN_RETRY_EXCEED_MAX: i32 = -0x031b;
pub const STATE_MQTT_QOS1_REPUB_EXCEED_MAX: i32 = -0x031c;
pub const STATE_MQTT_PUB_QOS_INVALID: i32 = -0x031d;
pub const STATE_MQTT_IN_OFFLINE_STATUS: i32 = -0x031e;
pub const STATE_MQTT_RECV_UNKNOWN_PACKET: i32 = -0x031f;
pub const STATE_MQTT_CLI_EXCEED_MAX: i32 = -0x0320;
pub const STATE_MQTT_SUB_EXCEED_MAX: i32 = -0x0321;
pub const STATE_MQTT_UNEXP_TOPIC_FORMAT: i32 = -0x0322;
pub const STATE_MQTT_SYNC_SUB_TIMEOUT: i32 = -0x0323;
pub const STATE_MQTT_ASYNC_STACK_CONN_IN_PROG: i32 = -0x0324;
pub const STATE_MQTT_ASYNC_STACK_NOT_SUPPORT: i32 = -0x0325;
pub const STATE_MQTT_ASYNC_STACK_UNKNOWN_EVENT: i32 = -0x0326;
pub const STATE_MQTT_CONN_USER_INFO: i32 = -0x0327;
pub const STATE_MQTT_SUB_INFO: i32 = -0x0328;
pub const STATE_MQTT_PUB_INFO: i32 = -0x0329;
/// WiFi provisioning (-0x0401..): iotkit has no WiFi provisioning and never
/// returns these codes; they are defined so vendor code compiles.
pub const STATE_WIFI_ENABLE_AWSS: i32 = -0x0401;
pub const STATE_WIFI_PROCESS_FRAME: i32 = -0x0402;
pub const STATE_WIFI_CHAN_SCAN: i32 = -0x0403;
pub const STATE_WIFI_CONNECT_AP_SUCCESS: i32 = -0x0404;
pub const STATE_WIFI_CONNECT_AP_FAILED: i32 = -0x0405;
pub const STATE_WIFI_IN_PROGRESS: i32 = -0x0406;
pub const STATE_WIFI_FORCE_STOPPED: i32 = -0x0407;
pub const STATE_WIFI_DESTROY: i32 = -0x0408;
pub const STATE_WIFI_GOT_HINT_FRAME: i32 = -0x0409;
pub const STATE_WIFI_ENCRYPT_TYPE: i32 = -0x040a;
pub const STATE_WIFI_CRC_ERROR: i32 = -0x040b;
pub const STATE_WIFI_PASSWD_DECODE_FAILED: i32 = -0x040c;
pub const STATE_WIFI_PASSWD_DECODE_SUCCESS: i32 = -0x040d;
pub const STATE_WIFI_STATISTIC: i32 = -0x040e;
pub const STATE_WIFI_UNEXP_PROT_VERSION: i32 = -0x040f;
pub const STATE_WIFI_MCAST_DEBUG: i32 = -0x0410;
pub const STATE_WIFI_BCAST_DEBUG: i32 = -0x0411;
pub const STATE_WIFI_ZCONFIG_ENROLLEE_DEBUG: i32 = -0x0412;
pub const STATE_WIFI_ZCONFIG_REGISTAR_PARAMS_ERROR: i32 = -0x0413;
pub const STATE_WIFI_ZCONFIG_REGISTAR_DEBUG: i32 = -0x0414;
pub const STATE_WIFI_P2P_DEBUG: i32 = -0x0415;
pub const STATE_WIFI_DEV_AP_DEBUG: i32 = -0x0416;
pub const STATE_WIFI_OTHERS: i32 = -0x0417;
pub const STATE_WIFI_MQTT_INIT_FAILED: i32 = -0x0418;
pub const STATE_WIFI_COAP_INIT_FAILED: i32 = -0x0419;
pub const STATE_WIFI_COAP_UNINIT: i32 = -0x041a;
pub const STATE_WIFI_COAP_RSP_INVALID: i32 = -0x041b;
pub const STATE_WIFI_COAP_PKTBLD_FAILED: i32 = -0x041c;
pub const STATE_WIFI_INVALID_MQTT_EVENT: i32 = -0x041d;
pub const STATE_WIFI_SENT_DEVINFO_NOTIFY: i32 = -0x041e;
pub const STATE_WIFI_SENT_CONNECTAP_NOTIFY: i32 = -0x041f;
pub const STATE_WIFI_GOT_CONNECTAP_QUERY: i32 = -0x0420;
pub const STATE_WIFI_GOT_DEVINFO_QUERY: i32 = -0x0421;
pub const STATE_WIFI_SENT_CONNECTAP_RESP: i32 = -0x0422;
pub const STATE_WIFI_SENT_DEVINFO_RESP: i32 = -0x0423;
/// The HTTP channel: dynamic registration and pre-authentication (-0x0601..).
/// iotkit provides neither and never returns these codes (its OTA download
/// reports IOT_OTAE_* codes); they are defined so vendor code compiles.
pub const STATE_HTTP_DYNREG_FAIL_RESP: i32 = -0x0601;
pub const STATE_HTTP_DYNREG_INVALID_DS: i32 = -0x0602;
pub const STATE_HTTP_PREAUTH_REQ_BUF_SHORT: i32 = -0x0603;
pub const STATE_HTTP_PREAUTH_INVALID_RESP: i32 = -0x0604;
pub const STATE_HTTP_RESP_MISSING_CONTENT_LEN: i32 = -0x0605;
pub const STATE_HTTP_PREAUTH_REQ: i32 = -0x0606;
pub const STATE_HTTP_PREAUTH_RSP: i32 = -0x0607;
/// Device binding (-0x0801..): iotkit has no binding and never returns these
/// codes; they are defined so vendor code compiles.
pub const STATE_BIND_SET_APP_TOKEN: i32 = -0x0801;
pub const STATE_BIND_COAP_INIT_FAIL: i32 = -0x0802;
pub const STATE_BIND_REPORT_TOKEN: i32 = -0x0803;
pub const STATE_BIND_REPORT_TOKEN_SUCCESS: i32 = -0x0804;
pub const STATE_BIND_NOTIFY_TOKEN_SENT: i32 = -0x0805;
pub const STATE_BIND_RECV_TOKEN_QUERY: i32 = -0x0806;
pub const STATE_BIND_SENT_TOKEN_RESP: i32 = -0x0807;
pub const STATE_BIND_MQTT_RSP_INVALID: i32 = -0x0808;
pub const STATE_BIND_MQTT_MSGID_INVALID: i32 = -0x0809;
pub const STATE_BIND_COAP_RSP_INVALID: i32 = -0x080a;
pub const STATE_BIND_COAP_REQ_INVALID: i32 = -0x080b;
pub const STATE_BIND_ASSEMBLE_APP_TOKEN_FAILED: i32 = -0x080c;
pub const STATE_BIND_COAP_REGISTER_FAILED: i32 = -0x080d;
pub const STATE_BIND_TOKEN_EXPIRED: i32 = -0x080e;
pub const STATE_BIND_REPORT_RESET_SUCCESS: i32 = -0x080f;
pub const STATE_BIND_RECV_CLOUD_NOTIFY: i32 = -0x0810;
/// The device model, IOT_Linkkit_* (-0x0901..): iotkit has no device model
/// and never returns these codes; they are defined so vendor code compiles.
/// The STATE_DEV_MODLE_* spellings are the vendor's.
pub const STATE_DEV_MODEL_MASTER_ALREADY_OPEN: i32 = -0x0901;
pub const STATE_DEV_MODEL_MASTER_ALREADY_CONNECT: i32 = -0x0902;
pub const STATE_DEV_MODEL_MASTER_NOT_OPEN_YET: i32 = -0x0903;
pub const STATE_DEV_MODEL_MASTER_NOT_CONNECT_YET: i32 = -0x0904;
pub const STATE_DEV_MODEL_DEVICE_ALREADY_EXIST: i32 = -0x0905;
pub const STATE_DEV_MODEL_DEVICE_NOT_FOUND: i32 = -0x0906;
pub const STATE_DEV_MODEL_SUBD_NOT_DELETEABLE: i32 = -0x0907;
pub const STATE_DEV_MODEL_SUBD_NOT_LOGIN: i32 = -0x0908;
pub const STATE_DEV_MODEL_INTERNAL_ERROR: i32 = -0x0909;
pub const STATE_DEV_MODEL_INTERNAL_MQTT_DUP_INIT: i32 = -0x090a;
pub const STATE_DEV_MODEL_INTERNAL_MQTT_NOT_INIT_YET: i32 = -0x090b;
pub const STATE_DEV_MODEL_CM_OPEN_FAILED: i32 = -0x090c;
pub const STATE_DEV_MODEL_CM_FD_NOT_FOUND: i32 = -0x090d;
pub const STATE_DEV_MODEL_CM_FD_ERROR: i32 = -0x090e;
pub const STATE_DEV_MODEL_MQTT_CONNECT_FAILED: i32 = -0x090f;
pub const STATE_DEV_MODEL_RECV_UNEXP_MQTT_PUB: i32 = -0x0910;
pub const STATE_DEV_MODEL_WRONG_JSON_FORMAT: i32 = -0x0911;
pub const STATE_DEV_MODEL_GET_JSON_ITEM_FAILED: i32 = -0x0912;
pub const STATE_DEV_MODEL_SERVICE_CTX_NOT_EXIST: i32 = -0x0913;
pub const STATE_DEV_MODEL_OTA_NOT_ENABLED: i32 = -0x0914;
pub const STATE_DEV_MODEL_OTA_NOT_INITED: i32 = -0x0915;
pub const STATE_DEV_MODEL_OTA_INIT_FAILED: i32 = -0x0916;
pub const STATE_DEV_MODEL_OTA_STILL_IN_PROGRESS: i32 = -0x0917;
pub const STATE_DEV_MODEL_OTA_IMAGE_CHECK_FAILED: i32 = -0x0918;
pub const STATE_DEV_MODEL_OTA_TYPE_ERROR: i32 = -0x0919;
pub const STATE_DEV_MODEL_OTA_FETCH_FAILED: i32 = -0x091a;
pub const STATE_DEV_MODEL_ALCS_CONSTRUCT_FAILED: i32 = -0x091b;
pub const STATE_DEV_MODEL_GATEWAY_NOT_ENABLED: i32 = -0x091c;
pub const STATE_DEV_MODEL_RRPCID_TOO_LONG: i32 = -0x091d;
pub const STATE_DEV_MODEL_IN_RAWDATA_SOLO: i32 = -0x091e;
pub const STATE_DEV_MODEL_DUP_UPSTREAM_MSG: i32 = -0x091f;
pub const STATE_DEV_MODEL_UPSTREAM_REC_NOT_FOUND: i32 = -0x0920;
pub const STATE_DEV_MODEL_REFUSED_BY_CLOUD: i32 = -0x0921;
pub const STATE_DEV_MODEL_INVALID_DM_OPTION: i32 = -0x0922;
pub const STATE_DEV_MODEL_URL_SPLIT_FAILED: i32 = -0x0923;
pub const STATE_DEV_MODEL_ALINK_MSG_PARSE_FAILED: i32 = -0x0924;
pub const STATE_DEV_MODEL_LOG_REPORT_ERROR: i32 = -0x0925;
pub const STATE_DEV_MODEL_IN_AUTOSUB_MODE: i32 = -0x0926;
pub const STATE_DEV_MODEL_RX_CLOUD_MESSAGE: i32 = -0x0927;
pub const STATE_DEV_MODEL_TX_CLOUD_MESSAGE: i32 = -0x0928;
pub const STATE_DEV_MODLE_RX_LOCAL_MESSAGE: i32 = -0x0929;
pub const STATE_DEV_MODLE_TX_LOCAL_MESSAGE: i32 = -0x092a;
pub const STATE_DEV_MODLE_ALCS_CONTROL: i32 = -0x092b;
pub const STATE_DEV_MODEL_MSGQ_OPERATION: i32 = -0x092c;
pub const STATE_DEV_MODEL_MSGQ_FULL: i32 = -0x092d;
pub const STATE_DEV_MODEL_MSGQ_EMPTY: i32 = -0x092e;
pub const STATE_DEV_MODEL_CTX_LIST_INSERT: i32 = -0x092f;
pub const STATE_DEV_MODEL_CTX_LIST_REMOVE: i32 = -0x0930;
pub const STATE_DEV_MODEL_CTX_LIST_FADEOUT: i32 = -0x0931;
pub const STATE_DEV_MODEL_CTX_LIST_FULL: i32 = -0x0932;
pub const STATE_DEV_MODEL_CTX_LIST_EMPTY: i32 = -0x0933;
pub const STATE_DEV_MODLE_LOG_REPORT_STOP: i32 = -0x0934;
pub const STATE_DEV_MODLE_LOG_REPORT_SWITCH: i32 = -0x0935;
pub const STATE_DEV_MODLE_LOG_REPORT_SEND: i32 = -0x0936;
pub const STATE_DEV_MODEL_SYNC_REQ_LIST: i32 = -0x0937;
pub const STATE_DEV_MODEL_ALINK_PROT_EVENT: i32 = -0x0938;
pub const STATE_DEV_MODEL_ALCS_SEND_FAILED: i32 = -0x0939;
pub const STATE_DEV_MODEL_INVALID_ALINK_PAYLOAD: i32 = -0x093a;
pub const STATE_DEV_MODEL_INVALID_ALINK_TOPIC: i32 = -0x093b;
pub const STATE_DEV_MODEL_YIELD_STOPPED: i32 = -0x093c;
pub const STATE_DEV_MODEL_YIELD_RUNNING: i32 = -0x093d;

/// Every code with its name, for descriptions and tests.
///
/// cbindgen:ignore
pub const ALL: &[(&str, i32)] = &[
    ("STATE_SUCCESS", STATE_SUCCESS),
    (
        "STATE_USER_INPUT_NULL_POINTER",
        STATE_USER_INPUT_NULL_POINTER,
    ),
    ("STATE_USER_INPUT_OUT_RANGE", STATE_USER_INPUT_OUT_RANGE),
    ("STATE_USER_INPUT_PK", STATE_USER_INPUT_PK),
    ("STATE_USER_INPUT_PS", STATE_USER_INPUT_PS),
    ("STATE_USER_INPUT_DN", STATE_USER_INPUT_DN),
    ("STATE_USER_INPUT_DS", STATE_USER_INPUT_DS),
    ("STATE_USER_INPUT_HTTP_DOMAIN", STATE_USER_INPUT_HTTP_DOMAIN),
    ("STATE_USER_INPUT_MQTT_DOMAIN", STATE_USER_INPUT_MQTT_DOMAIN),
    ("STATE_USER_INPUT_HTTP_PORT", STATE_USER_INPUT_HTTP_PORT),
    (
        "STATE_USER_INPUT_HTTP_TIMEOUT",
        STATE_USER_INPUT_HTTP_TIMEOUT,
    ),
    ("STATE_USER_INPUT_HTTP_OPTION", STATE_USER_INPUT_HTTP_OPTION),
    (
        "STATE_USER_INPUT_HTTP_POST_DATA",
        STATE_USER_INPUT_HTTP_POST_DATA,
    ),
    ("STATE_USER_INPUT_HTTP_URL", STATE_USER_INPUT_HTTP_URL),
    ("STATE_USER_INPUT_HTTP_PATH", STATE_USER_INPUT_HTTP_PATH),
    ("STATE_USER_INPUT_META_INFO", STATE_USER_INPUT_META_INFO),
    ("STATE_USER_INPUT_DEVID", STATE_USER_INPUT_DEVID),
    ("STATE_USER_INPUT_DEVICE_TYPE", STATE_USER_INPUT_DEVICE_TYPE),
    ("STATE_USER_INPUT_MSG_TYPE", STATE_USER_INPUT_MSG_TYPE),
    ("STATE_USER_INPUT_INVALID", STATE_USER_INPUT_INVALID),
    ("STATE_SYS_DEPEND_MALLOC", STATE_SYS_DEPEND_MALLOC),
    ("STATE_SYS_DEPEND_KV_GET", STATE_SYS_DEPEND_KV_GET),
    ("STATE_SYS_DEPEND_KV_SET", STATE_SYS_DEPEND_KV_SET),
    ("STATE_SYS_DEPEND_KV_DELETE", STATE_SYS_DEPEND_KV_DELETE),
    (
        "STATE_SYS_DEPEND_MUTEX_CREATE",
        STATE_SYS_DEPEND_MUTEX_CREATE,
    ),
    ("STATE_SYS_DEPEND_MUTEX_LOCK", STATE_SYS_DEPEND_MUTEX_LOCK),
    (
        "STATE_SYS_DEPEND_MUTEX_UNLOCK",
        STATE_SYS_DEPEND_MUTEX_UNLOCK,
    ),
    ("STATE_SYS_DEPEND_NWK_CLOSE", STATE_SYS_DEPEND_NWK_CLOSE),
    ("STATE_SYS_DEPEND_NWK_TIMEOUT", STATE_SYS_DEPEND_NWK_TIMEOUT),
    (
        "STATE_SYS_DEPEND_NWK_INVALID_HANDLE",
        STATE_SYS_DEPEND_NWK_INVALID_HANDLE,
    ),
    (
        "STATE_SYS_DEPEND_NWK_READ_ERROR",
        STATE_SYS_DEPEND_NWK_READ_ERROR,
    ),
    (
        "STATE_SYS_DEPEND_SEMAPHORE_CREATE",
        STATE_SYS_DEPEND_SEMAPHORE_CREATE,
    ),
    (
        "STATE_SYS_DEPEND_SEMAPHORE_WAIT",
        STATE_SYS_DEPEND_SEMAPHORE_WAIT,
    ),
    ("STATE_SYS_DEPEND_SNPRINTF", STATE_SYS_DEPEND_SNPRINTF),
    (
        "STATE_SYS_DEPEND_FIRMWAIRE_WIRTE",
        STATE_SYS_DEPEND_FIRMWAIRE_WIRTE,
    ),
    (
        "STATE_MQTT_CONNACK_VERSION_UNACCEPT",
        STATE_MQTT_CONNACK_VERSION_UNACCEPT,
    ),
    (
        "STATE_MQTT_CONNACK_IDENT_REJECT",
        STATE_MQTT_CONNACK_IDENT_REJECT,
    ),
    (
        "STATE_MQTT_CONNACK_SERVICE_NA",
        STATE_MQTT_CONNACK_SERVICE_NA,
    ),
    (
        "STATE_MQTT_CONNACK_NOT_AUTHORIZED",
        STATE_MQTT_CONNACK_NOT_AUTHORIZED,
    ),
    (
        "STATE_MQTT_CONNACK_BAD_USERDATA",
        STATE_MQTT_CONNACK_BAD_USERDATA,
    ),
    ("STATE_MQTT_WAIT_RECONN_TIMER", STATE_MQTT_WAIT_RECONN_TIMER),
    (
        "STATE_MQTT_SIGN_HOSTNAME_BUF_SHORT",
        STATE_MQTT_SIGN_HOSTNAME_BUF_SHORT,
    ),
    (
        "STATE_MQTT_SIGN_USERNAME_BUF_SHORT",
        STATE_MQTT_SIGN_USERNAME_BUF_SHORT,
    ),
    (
        "STATE_MQTT_SIGN_CLIENTID_BUF_SHORT",
        STATE_MQTT_SIGN_CLIENTID_BUF_SHORT,
    ),
    (
        "STATE_MQTT_SIGN_SOURCE_BUF_SHORT",
        STATE_MQTT_SIGN_SOURCE_BUF_SHORT,
    ),
    ("STATE_MQTT_WRAPPER_INIT_FAIL", STATE_MQTT_WRAPPER_INIT_FAIL),
    (
        "STATE_MQTT_SERIALIZE_CONN_ERROR",
        STATE_MQTT_SERIALIZE_CONN_ERROR,
    ),
    (
        "STATE_MQTT_SERIALIZE_PUBACK_ERROR",
        STATE_MQTT_SERIALIZE_PUBACK_ERROR,
    ),
    (
        "STATE_MQTT_SERIALIZE_PINGREQ_ERROR",
        STATE_MQTT_SERIALIZE_PINGREQ_ERROR,
    ),
    (
        "STATE_MQTT_SERIALIZE_SUB_ERROR",
        STATE_MQTT_SERIALIZE_SUB_ERROR,
    ),
    (
        "STATE_MQTT_SERIALIZE_UNSUB_ERROR",
        STATE_MQTT_SERIALIZE_UNSUB_ERROR,
    ),
    (
        "STATE_MQTT_SERIALIZE_PUB_ERROR",
        STATE_MQTT_SERIALIZE_PUB_ERROR,
    ),
    (
        "STATE_MQTT_DESERIALIZE_CONNACK_ERROR",
        STATE_MQTT_DESERIALIZE_CONNACK_ERROR,
    ),
    (
        "STATE_MQTT_DESERIALIZE_SUBACK_ERROR",
        STATE_MQTT_DESERIALIZE_SUBACK_ERROR,
    ),
    (
        "STATE_MQTT_DESERIALIZE_PUB_ERROR",
        STATE_MQTT_DESERIALIZE_PUB_ERROR,
    ),
    (
        "STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR",
        STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR,
    ),
    ("STATE_MQTT_PACKET_READ_ERROR", STATE_MQTT_PACKET_READ_ERROR),
    (
        "STATE_MQTT_CONNACK_UNKNOWN_ERROR",
        STATE_MQTT_CONNACK_UNKNOWN_ERROR,
    ),
    (
        "STATE_MQTT_RX_BUFFER_TOO_SHORT",
        STATE_MQTT_RX_BUFFER_TOO_SHORT,
    ),
    (
        "STATE_MQTT_TX_BUFFER_TOO_SHORT",
        STATE_MQTT_TX_BUFFER_TOO_SHORT,
    ),
    (
        "STATE_MQTT_TOPIC_BUF_TOO_SHORT",
        STATE_MQTT_TOPIC_BUF_TOO_SHORT,
    ),
    (
        "STATE_MQTT_CONN_RETRY_EXCEED_MAX",
        STATE_MQTT_CONN_RETRY_EXCEED_MAX,
    ),
    (
        "STATE_MQTT_QOS1_REPUB_EXCEED_MAX",
        STATE_MQTT_QOS1_REPUB_EXCEED_MAX,
    ),
    ("STATE_MQTT_PUB_QOS_INVALID", STATE_MQTT_PUB_QOS_INVALID),
    ("STATE_MQTT_IN_OFFLINE_STATUS", STATE_MQTT_IN_OFFLINE_STATUS),
    (
        "STATE_MQTT_RECV_UNKNOWN_PACKET",
        STATE_MQTT_RECV_UNKNOWN_PACKET,
    ),
    ("STATE_MQTT_CLI_EXCEED_MAX", STATE_MQTT_CLI_EXCEED_MAX),
    ("STATE_MQTT_SUB_EXCEED_MAX", STATE_MQTT_SUB_EXCEED_MAX),
    (
        "STATE_MQTT_UNEXP_TOPIC_FORMAT",
        STATE_MQTT_UNEXP_TOPIC_FORMAT,
    ),
    ("STATE_MQTT_SYNC_SUB_TIMEOUT", STATE_MQTT_SYNC_SUB_TIMEOUT),
    (
        "STATE_MQTT_ASYNC_STACK_CONN_IN_PROG",
        STATE_MQTT_ASYNC_STACK_CONN_IN_PROG,
    ),
    (
        "STATE_MQTT_ASYNC_STACK_NOT_SUPPORT",
        STATE_MQTT_ASYNC_STACK_NOT_SUPPORT,
    ),
    (
        "STATE_MQTT_ASYNC_STACK_UNKNOWN_EVENT",
        STATE_MQTT_ASYNC_STACK_UNKNOWN_EVENT,
    ),
    ("STATE_MQTT_CONN_USER_INFO", STATE_MQTT_CONN_USER_INFO),
    ("STATE_MQTT_SUB_INFO", STATE_MQTT_SUB_INFO),
    ("STATE_MQTT_PUB_INFO", STATE_MQTT_PUB_INFO),
    ("STATE_WIFI_ENABLE_AWSS", STATE_WIFI_ENABLE_AWSS),
    ("STATE_WIFI_PROCESS_FRAME", STATE_WIFI_PROCESS_FRAME),
    ("STATE_WIFI_CHAN_SCAN", STATE_WIFI_CHAN_SCAN),
    (
        "STATE_WIFI_CONNECT_AP_SUCCESS",
        STATE_WIFI_CONNECT_AP_SUCCESS,
    ),
    ("STATE_WIFI_CONNECT_AP_FAILED", STATE_WIFI_CONNECT_AP_FAILED),
    ("STATE_WIFI_IN_PROGRESS", STATE_WIFI_IN_PROGRESS),
    ("STATE_WIFI_FORCE_STOPPED", STATE_WIFI_FORCE_STOPPED),
    ("STATE_WIFI_DESTROY", STATE_WIFI_DESTROY),
    ("STATE_WIFI_GOT_HINT_FRAME", STATE_WIFI_GOT_HINT_FRAME),
    ("STATE_WIFI_ENCRYPT_TYPE", STATE_WIFI_ENCRYPT_TYPE),
    ("STATE_WIFI_CRC_ERROR", STATE_WIFI_CRC_ERROR),
    (
        "STATE_WIFI_PASSWD_DECODE_FAILED",
        STATE_WIFI_PASSWD_DECODE_FAILED,
    ),
    (
        "STATE_WIFI_PASSWD_DECODE_SUCCESS",
        STATE_WIFI_PASSWD_DECODE_SUCCESS,
    ),
    ("STATE_WIFI_STATISTIC", STATE_WIFI_STATISTIC),
    (
        "STATE_WIFI_UNEXP_PROT_VERSION",
        STATE_WIFI_UNEXP_PROT_VERSION,
    ),
    ("STATE_WIFI_MCAST_DEBUG", STATE_WIFI_MCAST_DEBUG),
    ("STATE_WIFI_BCAST_DEBUG", STATE_WIFI_BCAST_DEBUG),
    (
        "STATE_WIFI_ZCONFIG_ENROLLEE_DEBUG",
        STATE_WIFI_ZCONFIG_ENROLLEE_DEBUG,
    ),
    (
        "STATE_WIFI_ZCONFIG_REGISTAR_PARAMS_ERROR",
        STATE_WIFI_ZCONFIG_REGISTAR_PARAMS_ERROR,
    ),
    (
        "STATE_WIFI_ZCONFIG_REGISTAR_DEBUG",
        STATE_WIFI_ZCONFIG_REGISTAR_DEBUG,
    ),
    ("STATE_WIFI_P2P_DEBUG", STATE_WIFI_P2P_DEBUG),
    ("STATE_WIFI_DEV_AP_DEBUG", STATE_WIFI_DEV_AP_DEBUG),
    ("STATE_WIFI_OTHERS", STATE_WIFI_OTHERS),
    ("STATE_WIFI_MQTT_INIT_FAILED", STATE_WIFI_MQTT_INIT_FAILED),
    ("STATE_WIFI_COAP_INIT_FAILED", STATE_WIFI_COAP_INIT_FAILED),
    ("STATE_WIFI_COAP_UNINIT", STATE_WIFI_COAP_UNINIT),
    ("STATE_WIFI_COAP_RSP_INVALID", STATE_WIFI_COAP_RSP_INVALID),
    (
        "STATE_WIFI_COAP_PKTBLD_FAILED",
        STATE_WIFI_COAP_PKTBLD_FAILED,
    ),
    (
        "STATE_WIFI_INVALID_MQTT_EVENT",
        STATE_WIFI_INVALID_MQTT_EVENT,
    ),
    (
        "STATE_WIFI_SENT_DEVINFO_NOTIFY",
        STATE_WIFI_SENT_DEVINFO_NOTIFY,
    ),
    (
        "STATE_WIFI_SENT_CONNECTAP_NOTIFY",
        STATE_WIFI_SENT_CONNECTAP_NOTIFY,
    ),
    (
        "STATE_WIFI_GOT_CONNECTAP_QUERY",
        STATE_WIFI_GOT_CONNECTAP_QUERY,
    ),
    ("STATE_WIFI_GOT_DEVINFO_QUERY", STATE_WIFI_GOT_DEVINFO_QUERY),
    (
        "STATE_WIFI_SENT_CONNECTAP_RESP",
        STATE_WIFI_SENT_CONNECTAP_RESP,
    ),
    ("STATE_WIFI_SENT_DEVINFO_RESP", STATE_WIFI_SENT_DEVINFO_RESP),
    ("STATE_HTTP_DYNREG_FAIL_RESP", STATE_HTTP_DYNREG_FAIL_RESP),
    ("STATE_HTTP_DYNREG_INVALID_DS", STATE_HTTP_DYNREG_INVALID_DS),
    (
        "STATE_HTTP_PREAUTH_REQ_BUF_SHORT",
        STATE_HTTP_PREAUTH_REQ_BUF_SHORT,
    ),
    (
        "STATE_HTTP_PREAUTH_INVALID_RESP",
        STATE_HTTP_PREAUTH_INVALID_RESP,
    ),
    (
        "STATE_HTTP_RESP_MISSING_CONTENT_LEN",
        STATE_HTTP_RESP_MISSING_CONTENT_LEN,
    ),
    ("STATE_HTTP_PREAUTH_REQ", STATE_HTTP_PREAUTH_REQ),
    ("STATE_HTTP_PREAUTH_RSP", STATE_HTTP_PREAUTH_RSP),
    ("STATE_BIND_SET_APP_TOKEN", STATE_BIND_SET_APP_TOKEN),
    ("STATE_BIND_COAP_INIT_FAIL", STATE_BIND_COAP_INIT_FAIL),
    ("STATE_BIND_REPORT_TOKEN", STATE_BIND_REPORT_TOKEN),
    (
        "STATE_BIND_REPORT_TOKEN_SUCCESS",
        STATE_BIND_REPORT_TOKEN_SUCCESS,
    ),
    ("STATE_BIND_NOTIFY_TOKEN_SENT", STATE_BIND_NOTIFY_TOKEN_SENT),
    ("STATE_BIND_RECV_TOKEN_QUERY", STATE_BIND_RECV_TOKEN_QUERY),
    ("STATE_BIND_SENT_TOKEN_RESP", STATE_BIND_SENT_TOKEN_RESP),
    ("STATE_BIND_MQTT_RSP_INVALID", STATE_BIND_MQTT_RSP_INVALID),
    (
        "STATE_BIND_MQTT_MSGID_INVALID",
        STATE_BIND_MQTT_MSGID_INVALID,
    ),
    ("STATE_BIND_COAP_RSP_INVALID", STATE_BIND_COAP_RSP_INVALID),
    ("STATE_BIND_COAP_REQ_INVALID", STATE_BIND_COAP_REQ_INVALID),
    (
        "STATE_BIND_ASSEMBLE_APP_TOKEN_FAILED",
        STATE_BIND_ASSEMBLE_APP_TOKEN_FAILED,
    ),
    (
        "STATE_BIND_COAP_REGISTER_FAILED",
        STATE_BIND_COAP_REGISTER_FAILED,
    ),
    ("STATE_BIND_TOKEN_EXPIRED", STATE_BIND_TOKEN_EXPIRED),
    (
        "STATE_BIND_REPORT_RESET_SUCCESS",
        STATE_BIND_REPORT_RESET_SUCCESS,
    ),
    ("STATE_BIND_RECV_CLOUD_NOTIFY", STATE_BIND_RECV_CLOUD_NOTIFY),
    (
        "STATE_DEV_MODEL_MASTER_ALREADY_OPEN",
        STATE_DEV_MODEL_MASTER_ALREADY_OPEN,
    ),
    (
        "STATE_DEV_MODEL_MASTER_ALREADY_CONNECT",
        STATE_DEV_MODEL_MASTER_ALREADY_CONNECT,
    ),
    (
        "STATE_DEV_MODEL_MASTER_NOT_OPEN_YET",
        STATE_DEV_MODEL_MASTER_NOT_OPEN_YET,
    ),
    (
        "STATE_DEV_MODEL_MASTER_NOT_CONNECT_YET",
        STATE_DEV_MODEL_MASTER_NOT_CONNECT_YET,
    ),
    (
        "STATE_DEV_MODEL_DEVICE_ALREADY_EXIST",
        STATE_DEV_MODEL_DEVICE_ALREADY_EXIST,
    ),
    (
        "STATE_DEV_MODEL_DEVICE_NOT_FOUND",
        STATE_DEV_MODEL_DEVICE_NOT_FOUND,
    ),
    (
        "STATE_DEV_MODEL_SUBD_NOT_DELETEABLE",
        STATE_DEV_MODEL_SUBD_NOT_DELETEABLE,
    ),
    (
        "STATE_DEV_MODEL_SUBD_NOT_LOGIN",
        STATE_DEV_MODEL_SUBD_NOT_LOGIN,
    ),
    (
        "STATE_DEV_MODEL_INTERNAL_ERROR",
        STATE_DEV_MODEL_INTERNAL_ERROR,
    ),
    (
        "STATE_DEV_MODEL_INTERNAL_MQTT_DUP_INIT",
        STATE_DEV_MODEL_INTERNAL_MQTT_DUP_INIT,
    ),
    (
        "STATE_DEV_MODEL_INTERNAL_MQTT_NOT_INIT_YET",
        STATE_DEV_MODEL_INTERNAL_MQTT_NOT_INIT_YET,
    ),
    (
        "STATE_DEV_MODEL_CM_OPEN_FAILED",
        STATE_DEV_MODEL_CM_OPEN_FAILED,
    ),
    (
        "STATE_DEV_MODEL_CM_FD_NOT_FOUND",
        STATE_DEV_MODEL_CM_FD_NOT_FOUND,
    ),
    ("STATE_DEV_MODEL_CM_FD_ERROR", STATE_DEV_MODEL_CM_FD_ERROR),
    (
        "STATE_DEV_MODEL_MQTT_CONNECT_FAILED",
        STATE_DEV_MODEL_MQTT_CONNECT_FAILED,
    ),
    (
        "STATE_DEV_MODEL_RECV_UNEXP_MQTT_PUB",
        STATE_DEV_MODEL_RECV_UNEXP_MQTT_PUB,
    ),
    (
        "STATE_DEV_MODEL_WRONG_JSON_FORMAT",
        STATE_DEV_MODEL_WRONG_JSON_FORMAT,
    ),
    (
        "STATE_DEV_MODEL_GET_JSON_ITEM_FAILED",
        STATE_DEV_MODEL_GET_JSON_ITEM_FAILED,
    ),
    (
        "STATE_DEV_MODEL_SERVICE_CTX_NOT_EXIST",
        STATE_DEV_MODEL_SERVICE_CTX_NOT_EXIST,
    ),
    (
        "STATE_DEV_MODEL_OTA_NOT_ENABLED",
        STATE_DEV_MODEL_OTA_NOT_ENABLED,
    ),
    (
        "STATE_DEV_MODEL_OTA_NOT_INITED",
        STATE_DEV_MODEL_OTA_NOT_INITED,
    ),
    (
        "STATE_DEV_MODEL_OTA_INIT_FAILED",
        STATE_DEV_MODEL_OTA_INIT_FAILED,
    ),
    (
        "STATE_DEV_MODEL_OTA_STILL_IN_PROGRESS",
        STATE_DEV_MODEL_OTA_STILL_IN_PROGRESS,
    ),
    (
        "STATE_DEV_MODEL_OTA_IMAGE_CHECK_FAILED",
        STATE_DEV_MODEL_OTA_IMAGE_CHECK_FAILED,
    ),
    (
        "STATE_DEV_MODEL_OTA_TYPE_ERROR",
        STATE_DEV_MODEL_OTA_TYPE_ERROR,
    ),
    (
        "STATE_DEV_MODEL_OTA_FETCH_FAILED",
        STATE_DEV_MODEL_OTA_FETCH_FAILED,
    ),
    (
        "STATE_DEV_MODEL_ALCS_CONSTRUCT_FAILED",
        STATE_DEV_MODEL_ALCS_CONSTRUCT_FAILED,
    ),
    (
        "STATE_DEV_MODEL_GATEWAY_NOT_ENABLED",
        STATE_DEV_MODEL_GATEWAY_NOT_ENABLED,
    ),
    (
        "STATE_DEV_MODEL_RRPCID_TOO_LONG",
        STATE_DEV_MODEL_RRPCID_TOO_LONG,
    ),
    (
        "STATE_DEV_MODEL_IN_RAWDATA_SOLO",
        STATE_DEV_MODEL_IN_RAWDATA_SOLO,
    ),
    (
        "STATE_DEV_MODEL_DUP_UPSTREAM_MSG",
        STATE_DEV_MODEL_DUP_UPSTREAM_MSG,
    ),
    (
        "STATE_DEV_MODEL_UPSTREAM_REC_NOT_FOUND",
        STATE_DEV_MODEL_UPSTREAM_REC_NOT_FOUND,
    ),
    (
        "STATE_DEV_MODEL_REFUSED_BY_CLOUD",
        STATE_DEV_MODEL_REFUSED_BY_CLOUD,
    ),
    (
        "STATE_DEV_MODEL_INVALID_DM_OPTION",
        STATE_DEV_MODEL_INVALID_DM_OPTION,
    ),
    (
        "STATE_DEV_MODEL_URL_SPLIT_FAILED",
        STATE_DEV_MODEL_URL_SPLIT_FAILED,
    ),
    (
        "STATE_DEV_MODEL_ALINK_MSG_PARSE_FAILED",
        STATE_DEV_MODEL_ALINK_MSG_PARSE_FAILED,
    ),
    (
        "STATE_DEV_MODEL_LOG_REPORT_ERROR",
        STATE_DEV_MODEL_LOG_REPORT_ERROR,
    ),
    (
        "STATE_DEV_MODEL_IN_AUTOSUB_MODE",
        STATE_DEV_MODEL_IN_AUTOSUB_MODE,
    ),
    (
        "STATE_DEV_MODEL_RX_CLOUD_MESSAGE",
        STATE_DEV_MODEL_RX_CLOUD_MESSAGE,
    ),
    (
        "STATE_DEV_MODEL_TX_CLOUD_MESSAGE",
        STATE_DEV_MODEL_TX_CLOUD_MESSAGE,
    ),
    (
        "STATE_DEV_MODLE_RX_LOCAL_MESSAGE",
        STATE_DEV_MODLE_RX_LOCAL_MESSAGE,
    ),
    (
        "STATE_DEV_MODLE_TX_LOCAL_MESSAGE",
        STATE_DEV_MODLE_TX_LOCAL_MESSAGE,
    ),
    ("STATE_DEV_MODLE_ALCS_CONTROL", STATE_DEV_MODLE_ALCS_CONTROL),
    (
        "STATE_DEV_MODEL_MSGQ_OPERATION",
        STATE_DEV_MODEL_MSGQ_OPERATION,
    ),
    ("STATE_DEV_MODEL_MSGQ_FULL", STATE_DEV_MODEL_MSGQ_FULL),
    ("STATE_DEV_MODEL_MSGQ_EMPTY", STATE_DEV_MODEL_MSGQ_EMPTY),
    (
        "STATE_DEV_MODEL_CTX_LIST_INSERT",
        STATE_DEV_MODEL_CTX_LIST_INSERT,
    ),
    (
        "STATE_DEV_MODEL_CTX_LIST_REMOVE",
        STATE_DEV_MODEL_CTX_LIST_REMOVE,
    ),
    (
        "STATE_DEV_MODEL_CTX_LIST_FADEOUT",
        STATE_DEV_MODEL_CTX_LIST_FADEOUT,
    ),
    (
        "STATE_DEV_MODEL_CTX_LIST_FULL",
        STATE_DEV_MODEL_CTX_LIST_FULL,
    ),
    (
        "STATE_DEV_MODEL_CTX_LIST_EMPTY",
        STATE_DEV_MODEL_CTX_LIST_EMPTY,
    ),
    (
        "STATE_DEV_MODLE_LOG_REPORT_STOP",
        STATE_DEV_MODLE_LOG_REPORT_STOP,
    ),
    (
        "STATE_DEV_MODLE_LOG_REPORT_SWITCH",
        STATE_DEV_MODLE_LOG_REPORT_SWITCH,
    ),
    (
        "STATE_DEV_MODLE_LOG_REPORT_SEND",
        STATE_DEV_MODLE_LOG_REPORT_SEND,
    ),
    (
        "STATE_DEV_MODEL_SYNC_REQ_LIST",
        STATE_DEV_MODEL_SYNC_REQ_LIST,
    ),
    (
        "STATE_DEV_MODEL_ALINK_PROT_EVENT",
        STATE_DEV_MODEL_ALINK_PROT_EVENT,
    ),
    (
        "STATE_DEV_MODEL_ALCS_SEND_FAILED",
        STATE_DEV_MODEL_ALCS_SEND_FAILED,
    ),
    (
        "STATE_DEV_MODEL_INVALID_ALINK_PAYLOAD",
        STATE_DEV_MODEL_INVALID_ALINK_PAYLOAD,
    ),
    (
        "STATE_DEV_MODEL_INVALID_ALINK_TOPIC",
        STATE_DEV_MODEL_INVALID_ALINK_TOPIC,
    ),
    (
        "STATE_DEV_MODEL_YIELD_STOPPED",
        STATE_DEV_MODEL_YIELD_STOPPED,
    ),
    (
        "STATE_DEV_MODEL_YIELD_RUNNING",
        STATE_DEV_MODEL_YIELD_RUNNING,
    ),
];

/// The description of a code of a module iotkit does not provide: the
/// sentence, then that the library never returns the code.
macro_rules! not_provided {
    (wifi, $sentence:literal) => {
        not_provided!(@ $sentence, "WiFi provisioning is")
    };
    (http, $sentence:literal) => {
        not_provided!(@ $sentence, "the HTTP channel (dynamic registration, pre-authentication) is")
    };
    (bind, $sentence:literal) => {
        not_provided!(@ $sentence, "device binding is")
    };
    (dev_model, $sentence:literal) => {
        not_provided!(@ $sentence, "the device model (IOT_Linkkit_*) is")
    };
    (@ $sentence:literal, $module:literal) => {
        const {
            match CStr::from_bytes_with_nul(
                concat!(
                    $sentence,
                    " (",
                    $module,
                    " not part of iotkit: the library never returns this code; it is defined so vendor code compiles)\0"
                )
                .as_bytes(),
            ) {
                Ok(text) => text,
                Err(_) => panic!("a state description holds a NUL"),
            }
        }
    };
}

/// A sentence for a person, for every code above (IOT_Extension_StateDesc).
pub fn describe(code: i32) -> &'static CStr {
    match code {
        STATE_SUCCESS => c"success",
        STATE_USER_INPUT_NULL_POINTER => c"a required argument was NULL",
        STATE_USER_INPUT_OUT_RANGE => c"an argument is outside the range the function accepts",
        STATE_USER_INPUT_PK => c"the ProductKey is missing, too long or contains characters other than letters and digits",
        STATE_USER_INPUT_PS => c"the ProductSecret is too long or contains characters that are not printable",
        STATE_USER_INPUT_DN => c"the DeviceName is too long or contains characters other than letters, digits and -_@.:",
        STATE_USER_INPUT_DS => c"the DeviceSecret is too long or contains characters that are not printable",
        STATE_USER_INPUT_HTTP_DOMAIN => c"the HTTP domain is not a valid host name",
        STATE_USER_INPUT_MQTT_DOMAIN => c"the MQTT host is too long or is not a valid host name",
        STATE_USER_INPUT_HTTP_PORT => c"the HTTP port is not a valid TCP port",
        STATE_USER_INPUT_HTTP_TIMEOUT => c"the HTTP timeout is outside the accepted range",
        STATE_USER_INPUT_HTTP_OPTION => c"the HTTP option is not supported",
        STATE_USER_INPUT_HTTP_POST_DATA => c"the HTTP request body is missing or too large",
        STATE_USER_INPUT_HTTP_URL => c"the HTTP URL is not valid",
        STATE_USER_INPUT_HTTP_PATH => c"the HTTP path is not valid",
        STATE_USER_INPUT_META_INFO => c"the device identity (ProductKey, DeviceName, secrets) is incomplete or invalid",
        STATE_USER_INPUT_DEVID => c"the device id does not name a known device",
        STATE_USER_INPUT_DEVICE_TYPE => c"the device type is not supported",
        STATE_USER_INPUT_MSG_TYPE => c"the message type is not supported",
        STATE_USER_INPUT_INVALID => c"an argument is invalid, or the option is not supported",
        STATE_SYS_DEPEND_MALLOC => c"memory could not be allocated",
        STATE_SYS_DEPEND_KV_GET => c"a value could not be read from key-value storage",
        STATE_SYS_DEPEND_KV_SET => c"a value could not be written to key-value storage",
        STATE_SYS_DEPEND_KV_DELETE => c"a value could not be deleted from key-value storage",
        STATE_SYS_DEPEND_MUTEX_CREATE => c"a mutex could not be created",
        STATE_SYS_DEPEND_MUTEX_LOCK => c"a mutex could not be locked",
        STATE_SYS_DEPEND_MUTEX_UNLOCK => c"a mutex could not be unlocked",
        STATE_SYS_DEPEND_NWK_CLOSE => c"the network connection was closed",
        STATE_SYS_DEPEND_NWK_TIMEOUT => c"the network did not answer in time",
        STATE_SYS_DEPEND_NWK_INVALID_HANDLE => c"the network handle is not (or no longer) valid",
        STATE_SYS_DEPEND_NWK_READ_ERROR => c"reading from the network failed",
        STATE_SYS_DEPEND_SEMAPHORE_CREATE => c"a semaphore could not be created",
        STATE_SYS_DEPEND_SEMAPHORE_WAIT => c"waiting on a semaphore failed",
        STATE_SYS_DEPEND_SNPRINTF => c"a formatted string did not fit its buffer",
        STATE_SYS_DEPEND_FIRMWAIRE_WIRTE => c"the firmware image could not be written",
        STATE_MQTT_CONNACK_VERSION_UNACCEPT => c"the server refused the connection: it does not accept MQTT 3.1.1",
        STATE_MQTT_CONNACK_IDENT_REJECT => c"the server refused the connection: the client id was rejected",
        STATE_MQTT_CONNACK_SERVICE_NA => c"the server refused the connection: the MQTT service is unavailable",
        STATE_MQTT_CONNACK_NOT_AUTHORIZED => c"the server refused the connection: this device is not authorized",
        STATE_MQTT_CONNACK_BAD_USERDATA => c"the server refused the connection: bad user name or password",
        STATE_MQTT_WAIT_RECONN_TIMER => c"offline; waiting for the next reconnect attempt",
        STATE_MQTT_SIGN_HOSTNAME_BUF_SHORT => c"the host name does not fit the signing buffer",
        STATE_MQTT_SIGN_USERNAME_BUF_SHORT => c"the user name does not fit the signing buffer",
        STATE_MQTT_SIGN_CLIENTID_BUF_SHORT => c"the client id does not fit the signing buffer",
        STATE_MQTT_SIGN_SOURCE_BUF_SHORT => c"the signing input does not fit its buffer",
        STATE_MQTT_WRAPPER_INIT_FAIL => c"the MQTT client could not be set up (network, TLS or credentials)",
        STATE_MQTT_SERIALIZE_CONN_ERROR => c"the CONNECT packet could not be built",
        STATE_MQTT_SERIALIZE_PUBACK_ERROR => c"the PUBACK packet could not be built",
        STATE_MQTT_SERIALIZE_PINGREQ_ERROR => c"the PINGREQ packet could not be built",
        STATE_MQTT_SERIALIZE_SUB_ERROR => c"the SUBSCRIBE packet could not be built",
        STATE_MQTT_SERIALIZE_UNSUB_ERROR => c"the UNSUBSCRIBE packet could not be built",
        STATE_MQTT_SERIALIZE_PUB_ERROR => c"the PUBLISH packet could not be built",
        STATE_MQTT_DESERIALIZE_CONNACK_ERROR => c"the server sent a malformed CONNACK",
        STATE_MQTT_DESERIALIZE_SUBACK_ERROR => c"the server sent a malformed SUBACK",
        STATE_MQTT_DESERIALIZE_PUB_ERROR => c"the server sent a malformed PUBLISH",
        STATE_MQTT_DESERIALIZE_UNSUBACK_ERROR => c"the server sent a malformed UNSUBACK",
        STATE_MQTT_PACKET_READ_ERROR => c"an MQTT packet could not be read from the connection",
        STATE_MQTT_CONNACK_UNKNOWN_ERROR => c"the server refused the connection with an unknown return code",
        STATE_MQTT_RX_BUFFER_TOO_SHORT => c"an incoming packet is larger than the read buffer (raise read_buf_size)",
        STATE_MQTT_TX_BUFFER_TOO_SHORT => c"an outgoing packet is larger than the write buffer (raise write_buf_size)",
        STATE_MQTT_TOPIC_BUF_TOO_SHORT => c"a topic is longer than its buffer",
        STATE_MQTT_CONN_RETRY_EXCEED_MAX => c"gave up reconnecting after the maximum number of attempts",
        STATE_MQTT_QOS1_REPUB_EXCEED_MAX => c"a QoS1 message was resent the maximum number of times without an acknowledgement",
        STATE_MQTT_PUB_QOS_INVALID => c"the QoS is not supported (use 0 or 1)",
        STATE_MQTT_IN_OFFLINE_STATUS => c"the client is offline; the request was not sent",
        STATE_MQTT_RECV_UNKNOWN_PACKET => c"the server sent a packet type the client does not expect",
        STATE_MQTT_CLI_EXCEED_MAX => c"no more MQTT clients can be created",
        STATE_MQTT_SUB_EXCEED_MAX => c"no more subscriptions can be added",
        STATE_MQTT_UNEXP_TOPIC_FORMAT => c"the topic is not valid (empty, too long, not UTF-8, or wildcards where none are allowed)",
        STATE_MQTT_SYNC_SUB_TIMEOUT => c"the server did not acknowledge the subscription in time",
        STATE_MQTT_ASYNC_STACK_CONN_IN_PROG => c"a connection attempt is already in progress",
        STATE_MQTT_ASYNC_STACK_NOT_SUPPORT => c"the asynchronous network stack does not support this",
        STATE_MQTT_ASYNC_STACK_UNKNOWN_EVENT => c"the asynchronous network stack reported an unknown event",
        STATE_MQTT_CONN_USER_INFO => c"connection information (client id, user name, endpoint)",
        STATE_MQTT_SUB_INFO => c"subscription information",
        STATE_MQTT_PUB_INFO => c"publish information",
        STATE_WIFI_ENABLE_AWSS => not_provided!(wifi, "WiFi provisioning was switched on"),
        STATE_WIFI_PROCESS_FRAME => not_provided!(wifi, "WiFi provisioning is processing a captured 802.11 frame"),
        STATE_WIFI_CHAN_SCAN => not_provided!(wifi, "WiFi provisioning is switching or locking the radio channel"),
        STATE_WIFI_CONNECT_AP_SUCCESS => not_provided!(wifi, "the device joined the access point with the provisioned password"),
        STATE_WIFI_CONNECT_AP_FAILED => not_provided!(wifi, "the device could not join the access point with the provisioned password"),
        STATE_WIFI_IN_PROGRESS => not_provided!(wifi, "a provisioning round is already running, so a new one was not started"),
        STATE_WIFI_FORCE_STOPPED => not_provided!(wifi, "WiFi provisioning was stopped on request"),
        STATE_WIFI_DESTROY => not_provided!(wifi, "WiFi provisioning is releasing its resources"),
        STATE_WIFI_GOT_HINT_FRAME => not_provided!(wifi, "WiFi provisioning saw the frame that marks the start of the provisioning data"),
        STATE_WIFI_ENCRYPT_TYPE => not_provided!(wifi, "WiFi provisioning learned how the provisioning data is encrypted (per product or per device)"),
        STATE_WIFI_CRC_ERROR => not_provided!(wifi, "a provisioning packet failed its checksum"),
        STATE_WIFI_PASSWD_DECODE_FAILED => not_provided!(wifi, "the access point password could not be decrypted"),
        STATE_WIFI_PASSWD_DECODE_SUCCESS => not_provided!(wifi, "the access point password was decrypted"),
        STATE_WIFI_STATISTIC => not_provided!(wifi, "WiFi provisioning statistics (packets, bytes, elapsed time)"),
        STATE_WIFI_UNEXP_PROT_VERSION => not_provided!(wifi, "the phone sent a provisioning protocol version the device does not expect"),
        STATE_WIFI_MCAST_DEBUG => not_provided!(wifi, "debug information of multicast provisioning"),
        STATE_WIFI_BCAST_DEBUG => not_provided!(wifi, "debug information of broadcast provisioning (data coded in packet lengths)"),
        STATE_WIFI_ZCONFIG_ENROLLEE_DEBUG => not_provided!(wifi, "debug information of zero-config provisioning, on the device being provisioned"),
        STATE_WIFI_ZCONFIG_REGISTAR_PARAMS_ERROR => not_provided!(wifi, "the provisioning device sent invalid parameters during zero-config provisioning"),
        STATE_WIFI_ZCONFIG_REGISTAR_DEBUG => not_provided!(wifi, "debug information of zero-config provisioning, on the provisioning device"),
        STATE_WIFI_P2P_DEBUG => not_provided!(wifi, "debug information of peer-to-peer provisioning"),
        STATE_WIFI_DEV_AP_DEBUG => not_provided!(wifi, "debug information of provisioning through the device's own access point"),
        STATE_WIFI_OTHERS => not_provided!(wifi, "other WiFi provisioning information"),
        STATE_WIFI_MQTT_INIT_FAILED => not_provided!(wifi, "WiFi provisioning could not set up MQTT (used by zero-config provisioning)"),
        STATE_WIFI_COAP_INIT_FAILED => not_provided!(wifi, "WiFi provisioning could not set up CoAP"),
        STATE_WIFI_COAP_UNINIT => not_provided!(wifi, "WiFi provisioning needs the CoAP server, which is not set up"),
        STATE_WIFI_COAP_RSP_INVALID => not_provided!(wifi, "WiFi provisioning received an invalid CoAP response"),
        STATE_WIFI_COAP_PKTBLD_FAILED => not_provided!(wifi, "WiFi provisioning could not build a CoAP packet"),
        STATE_WIFI_INVALID_MQTT_EVENT => not_provided!(wifi, "WiFi provisioning received an invalid MQTT message"),
        STATE_WIFI_SENT_DEVINFO_NOTIFY => not_provided!(wifi, "the device broadcast its information for provisioning through a phone hotspot"),
        STATE_WIFI_SENT_CONNECTAP_NOTIFY => not_provided!(wifi, "the device broadcast that it joined the access point"),
        STATE_WIFI_GOT_CONNECTAP_QUERY => not_provided!(wifi, "the phone asked whether the device joined the access point"),
        STATE_WIFI_GOT_DEVINFO_QUERY => not_provided!(wifi, "the phone asked for the device's information"),
        STATE_WIFI_SENT_CONNECTAP_RESP => not_provided!(wifi, "the device answered the phone's question about the access point"),
        STATE_WIFI_SENT_DEVINFO_RESP => not_provided!(wifi, "the device answered the phone's request for its information"),
        STATE_HTTP_DYNREG_FAIL_RESP => not_provided!(http, "the platform refused the dynamic registration request"),
        STATE_HTTP_DYNREG_INVALID_DS => not_provided!(http, "the dynamic registration response holds an invalid DeviceSecret"),
        STATE_HTTP_PREAUTH_REQ_BUF_SHORT => not_provided!(http, "the pre-authentication request does not fit its buffer"),
        STATE_HTTP_PREAUTH_INVALID_RESP => not_provided!(http, "the pre-authentication response is invalid or does not fit its buffer"),
        STATE_HTTP_RESP_MISSING_CONTENT_LEN => not_provided!(http, "the HTTP response has no Content-Length"),
        STATE_HTTP_PREAUTH_REQ => not_provided!(http, "pre-authentication request information"),
        STATE_HTTP_PREAUTH_RSP => not_provided!(http, "pre-authentication response information"),
        STATE_BIND_SET_APP_TOKEN => not_provided!(bind, "a binding token was handed in from outside"),
        STATE_BIND_COAP_INIT_FAIL => not_provided!(bind, "binding could not start the local CoAP server that passes the token on"),
        STATE_BIND_REPORT_TOKEN => not_provided!(bind, "the binding token is being sent to the platform"),
        STATE_BIND_REPORT_TOKEN_SUCCESS => not_provided!(bind, "the platform accepted the binding token"),
        STATE_BIND_NOTIFY_TOKEN_SENT => not_provided!(bind, "the binding token was broadcast on the local network"),
        STATE_BIND_RECV_TOKEN_QUERY => not_provided!(bind, "a device on the local network asked for the binding token"),
        STATE_BIND_SENT_TOKEN_RESP => not_provided!(bind, "the binding token was sent to the local device that asked for it"),
        STATE_BIND_MQTT_RSP_INVALID => not_provided!(bind, "the platform's answer to a binding message is invalid"),
        STATE_BIND_MQTT_MSGID_INVALID => not_provided!(bind, "the platform's answer to the binding token is not for the latest request"),
        STATE_BIND_COAP_RSP_INVALID => not_provided!(bind, "the phone's answer to the token notification is invalid"),
        STATE_BIND_COAP_REQ_INVALID => not_provided!(bind, "a token query from the local network is invalid"),
        STATE_BIND_ASSEMBLE_APP_TOKEN_FAILED => not_provided!(bind, "the binding token could not be assembled"),
        STATE_BIND_COAP_REGISTER_FAILED => not_provided!(bind, "a CoAP resource for binding could not be registered"),
        STATE_BIND_TOKEN_EXPIRED => not_provided!(bind, "the binding token expired and must be renewed"),
        STATE_BIND_REPORT_RESET_SUCCESS => not_provided!(bind, "the platform accepted the unbind (reset) message"),
        STATE_BIND_RECV_CLOUD_NOTIFY => not_provided!(bind, "the platform pushed a binding event (bound or unbound)"),
        STATE_DEV_MODEL_MASTER_ALREADY_OPEN => not_provided!(dev_model, "the main device is already open"),
        STATE_DEV_MODEL_MASTER_ALREADY_CONNECT => not_provided!(dev_model, "the main device is already connected"),
        STATE_DEV_MODEL_MASTER_NOT_OPEN_YET => not_provided!(dev_model, "the main device must be opened first"),
        STATE_DEV_MODEL_MASTER_NOT_CONNECT_YET => not_provided!(dev_model, "the main device must be connected first"),
        STATE_DEV_MODEL_DEVICE_ALREADY_EXIST => not_provided!(dev_model, "the device was already created"),
        STATE_DEV_MODEL_DEVICE_NOT_FOUND => not_provided!(dev_model, "there is no such device"),
        STATE_DEV_MODEL_SUBD_NOT_DELETEABLE => not_provided!(dev_model, "the sub-device cannot be deleted"),
        STATE_DEV_MODEL_SUBD_NOT_LOGIN => not_provided!(dev_model, "the sub-device is not logged in, so it cannot log out"),
        STATE_DEV_MODEL_INTERNAL_ERROR => not_provided!(dev_model, "an internal error in the device model"),
        STATE_DEV_MODEL_INTERNAL_MQTT_DUP_INIT => not_provided!(dev_model, "MQTT was already connected, so the device model did not connect it again"),
        STATE_DEV_MODEL_INTERNAL_MQTT_NOT_INIT_YET => not_provided!(dev_model, "the device model needs MQTT, which is not connected"),
        STATE_DEV_MODEL_CM_OPEN_FAILED => not_provided!(dev_model, "the device model's connection layer could not be opened"),
        STATE_DEV_MODEL_CM_FD_NOT_FOUND => not_provided!(dev_model, "the device model's connection layer has no such handle"),
        STATE_DEV_MODEL_CM_FD_ERROR => not_provided!(dev_model, "the device model's connection handle is not valid"),
        STATE_DEV_MODEL_MQTT_CONNECT_FAILED => not_provided!(dev_model, "the device model could not connect MQTT"),
        STATE_DEV_MODEL_RECV_UNEXP_MQTT_PUB => not_provided!(dev_model, "the device model received an MQTT message it does not expect"),
        STATE_DEV_MODEL_WRONG_JSON_FORMAT => not_provided!(dev_model, "the device model received a message that is not valid JSON"),
        STATE_DEV_MODEL_GET_JSON_ITEM_FAILED => not_provided!(dev_model, "a key the device model needs is missing from a JSON message"),
        STATE_DEV_MODEL_SERVICE_CTX_NOT_EXIST => not_provided!(dev_model, "a service reply matches no request from the platform"),
        STATE_DEV_MODEL_OTA_NOT_ENABLED => not_provided!(dev_model, "OTA is not enabled in the device model"),
        STATE_DEV_MODEL_OTA_NOT_INITED => not_provided!(dev_model, "OTA was not initialised in the device model"),
        STATE_DEV_MODEL_OTA_INIT_FAILED => not_provided!(dev_model, "OTA could not be initialised in the device model"),
        STATE_DEV_MODEL_OTA_STILL_IN_PROGRESS => not_provided!(dev_model, "another sub-device's OTA is still running"),
        STATE_DEV_MODEL_OTA_IMAGE_CHECK_FAILED => not_provided!(dev_model, "the downloaded firmware failed its integrity check"),
        STATE_DEV_MODEL_OTA_TYPE_ERROR => not_provided!(dev_model, "the OTA type is neither firmware (FOTA) nor configuration (COTA)"),
        STATE_DEV_MODEL_OTA_FETCH_FAILED => not_provided!(dev_model, "the OTA download did not deliver the expected content"),
        STATE_DEV_MODEL_ALCS_CONSTRUCT_FAILED => not_provided!(dev_model, "local control (ALCS) could not be set up"),
        STATE_DEV_MODEL_GATEWAY_NOT_ENABLED => not_provided!(dev_model, "gateway and sub-device support is not enabled"),
        STATE_DEV_MODEL_RRPCID_TOO_LONG => not_provided!(dev_model, "an RRPC request id is too long"),
        STATE_DEV_MODEL_IN_RAWDATA_SOLO => not_provided!(dev_model, "the device model is in raw-data mode and does not handle JSON messages"),
        STATE_DEV_MODEL_DUP_UPSTREAM_MSG => not_provided!(dev_model, "an upstream message was sent twice"),
        STATE_DEV_MODEL_UPSTREAM_REC_NOT_FOUND => not_provided!(dev_model, "a reply from the platform matches no message the device sent"),
        STATE_DEV_MODEL_REFUSED_BY_CLOUD => not_provided!(dev_model, "the platform refused a device model request"),
        STATE_DEV_MODEL_INVALID_DM_OPTION => not_provided!(dev_model, "the device model option is unknown"),
        STATE_DEV_MODEL_URL_SPLIT_FAILED => not_provided!(dev_model, "a URL in a reply from the platform could not be parsed"),
        STATE_DEV_MODEL_ALINK_MSG_PARSE_FAILED => not_provided!(dev_model, "an Alink message could not be parsed"),
        STATE_DEV_MODEL_LOG_REPORT_ERROR => not_provided!(dev_model, "the device log could not be uploaded to the platform"),
        STATE_DEV_MODEL_IN_AUTOSUB_MODE => not_provided!(dev_model, "the platform subscribes the topics itself, so the subscription was skipped"),
        STATE_DEV_MODEL_RX_CLOUD_MESSAGE => not_provided!(dev_model, "the device model received a message from the platform"),
        STATE_DEV_MODEL_TX_CLOUD_MESSAGE => not_provided!(dev_model, "the device model is sending a message to the platform"),
        STATE_DEV_MODLE_RX_LOCAL_MESSAGE => not_provided!(dev_model, "the device model received a message through local control"),
        STATE_DEV_MODLE_TX_LOCAL_MESSAGE => not_provided!(dev_model, "the device model is sending a message through local control"),
        STATE_DEV_MODLE_ALCS_CONTROL => not_provided!(dev_model, "the device model is handling a local control (ALCS) command"),
        STATE_DEV_MODEL_MSGQ_OPERATION => not_provided!(dev_model, "a message is being added to or taken from the device model's queue"),
        STATE_DEV_MODEL_MSGQ_FULL => not_provided!(dev_model, "the device model's message queue is full"),
        STATE_DEV_MODEL_MSGQ_EMPTY => not_provided!(dev_model, "the device model's message queue is empty"),
        STATE_DEV_MODEL_CTX_LIST_INSERT => not_provided!(dev_model, "a request context is being added to the device model's list"),
        STATE_DEV_MODEL_CTX_LIST_REMOVE => not_provided!(dev_model, "a request context is being removed from the device model's list"),
        STATE_DEV_MODEL_CTX_LIST_FADEOUT => not_provided!(dev_model, "a request context was dropped after waiting too long"),
        STATE_DEV_MODEL_CTX_LIST_FULL => not_provided!(dev_model, "the device model's list of request contexts is full"),
        STATE_DEV_MODEL_CTX_LIST_EMPTY => not_provided!(dev_model, "the device model's list of request contexts is empty"),
        STATE_DEV_MODLE_LOG_REPORT_STOP => not_provided!(dev_model, "uploading the device log was stopped"),
        STATE_DEV_MODLE_LOG_REPORT_SWITCH => not_provided!(dev_model, "uploading the device log was switched on or off"),
        STATE_DEV_MODLE_LOG_REPORT_SEND => not_provided!(dev_model, "a device log message was uploaded"),
        STATE_DEV_MODEL_SYNC_REQ_LIST => not_provided!(dev_model, "the device model's list of synchronous requests is being changed"),
        STATE_DEV_MODEL_ALINK_PROT_EVENT => not_provided!(dev_model, "the device model is handling an Alink protocol message"),
        STATE_DEV_MODEL_ALCS_SEND_FAILED => not_provided!(dev_model, "a local control (ALCS) message could not be sent on the local network"),
        STATE_DEV_MODEL_INVALID_ALINK_PAYLOAD => not_provided!(dev_model, "an Alink message has an invalid payload"),
        STATE_DEV_MODEL_INVALID_ALINK_TOPIC => not_provided!(dev_model, "an Alink message arrived on a topic that does not fit the situation"),
        STATE_DEV_MODEL_YIELD_STOPPED => not_provided!(dev_model, "IOT_Linkkit_Yield has stopped"),
        STATE_DEV_MODEL_YIELD_RUNNING => not_provided!(dev_model, "IOT_Linkkit_Yield is still running"),
        _ => c"unknown state code",
    }
}
