//! The vendor's state codes (infra_state.h), one constant each.
//!
//! The values come from `docs/state-codes.csv`; `tests/state_codes.rs` keeps the
//! two in step. cbindgen turns each constant into a `#define` in iotkit.h.

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

/// Every code with its name, for descriptions and tests.
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
];

/// A sentence for a person, for every code above (IOT_Extension_StateDesc).
pub fn describe(code: i32) -> &'static std::ffi::CStr {
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
        _ => c"unknown state code",
    }
}
