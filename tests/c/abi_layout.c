/*
 * The vendor's C surface, checked from C: every struct of the 3.2.x API is
 * compared field by field with an independent declaration written from the
 * vendor's documentation, and every enum value and constant with its number.
 * Compiled as C11 and as C++ (abi_layout_cxx), so the header is C++-safe too.
 */
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include "infra_types.h"
#include "infra_defs.h"
#include "infra_config.h"
#include "infra_state.h"
#include "infra_compat.h"
#include "dev_sign_api.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "wrappers_defs.h"
#include "wrappers_os.h"
#include "wrappers_tcp.h"
#include "wrappers_tls.h"
#include "wrappers_kv.h"
#include "ota_api.h"
#include "check.h"

/* ---- independent declarations, as the vendor's headers lay them out ---- */
typedef struct {
    char product_key[20 + 1];
    char product_secret[64 + 1];
    char device_name[32 + 1];
    char device_secret[64 + 1];
    char module[64 + 1];
} ref_meta_info;

typedef struct {
    char hostname[64];
    uint16_t port;
    char clientid[200];
    char username[64];
    char password[65];
} ref_sign_mqtt;

typedef struct {
    uint16_t packet_id;
    uint8_t qos;
    uint8_t dup;
    uint8_t retain;
    uint16_t topic_len;
    uint32_t payload_len;
    const char *ptopic;
    const char *payload;
} ref_topic_info;

typedef struct {
    int event_type;
    void *msg;
} ref_event_msg;

typedef struct {
    void (*h_fp)(void *pcontext, void *pclient, ref_event_msg *msg);
    void *pcontext;
} ref_event_handle;

typedef struct {
    uint16_t port;
    const char *host;
    const char *client_id;
    const char *username;
    const char *password;
    const char *customize_info;
    const char *pub_key;
    uint8_t clean_session;
    uint32_t request_timeout_ms;
    uint32_t keepalive_interval_ms;
    uint32_t write_buf_size;
    uint32_t read_buf_size;
    ref_event_handle handle_event;
} ref_mqtt_param;

typedef struct {
    void *(*malloc)(uint32_t size);
    void (*free)(void *ptr);
} ref_ssl_hooks;

typedef struct {
    int priority;
    void *stack_addr;
    int stack_size;
    int detach_state;
    char *name;
} ref_thread_param;

#define SAME_FIELD(T, R, f)                                                   \
    STATIC_CHECK(offsetof(T, f) == offsetof(R, f), #T "." #f " offset");      \
    STATIC_CHECK(sizeof(((T *)0)->f) == sizeof(((R *)0)->f), #T "." #f " size")
#define SAME_SIZE(T, R) STATIC_CHECK(sizeof(T) == sizeof(R), #T " size")

SAME_SIZE(iotx_dev_meta_info_t, ref_meta_info);
SAME_FIELD(iotx_dev_meta_info_t, ref_meta_info, product_key);
SAME_FIELD(iotx_dev_meta_info_t, ref_meta_info, product_secret);
SAME_FIELD(iotx_dev_meta_info_t, ref_meta_info, device_name);
SAME_FIELD(iotx_dev_meta_info_t, ref_meta_info, device_secret);
SAME_FIELD(iotx_dev_meta_info_t, ref_meta_info, module);

SAME_SIZE(iotx_sign_mqtt_t, ref_sign_mqtt);
SAME_FIELD(iotx_sign_mqtt_t, ref_sign_mqtt, hostname);
SAME_FIELD(iotx_sign_mqtt_t, ref_sign_mqtt, port);
SAME_FIELD(iotx_sign_mqtt_t, ref_sign_mqtt, clientid);
SAME_FIELD(iotx_sign_mqtt_t, ref_sign_mqtt, username);
SAME_FIELD(iotx_sign_mqtt_t, ref_sign_mqtt, password);

SAME_SIZE(iotx_mqtt_topic_info_t, ref_topic_info);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, packet_id);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, qos);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, dup);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, retain);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, topic_len);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, payload_len);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, ptopic);
SAME_FIELD(iotx_mqtt_topic_info_t, ref_topic_info, payload);

SAME_SIZE(iotx_mqtt_event_msg_t, ref_event_msg);
SAME_FIELD(iotx_mqtt_event_msg_t, ref_event_msg, event_type);
SAME_FIELD(iotx_mqtt_event_msg_t, ref_event_msg, msg);

SAME_SIZE(iotx_mqtt_event_handle_t, ref_event_handle);
SAME_FIELD(iotx_mqtt_event_handle_t, ref_event_handle, h_fp);
SAME_FIELD(iotx_mqtt_event_handle_t, ref_event_handle, pcontext);

SAME_SIZE(iotx_mqtt_param_t, ref_mqtt_param);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, port);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, host);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, client_id);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, username);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, password);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, customize_info);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, pub_key);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, clean_session);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, request_timeout_ms);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, keepalive_interval_ms);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, write_buf_size);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, read_buf_size);
SAME_FIELD(iotx_mqtt_param_t, ref_mqtt_param, handle_event);

SAME_SIZE(ssl_hooks_t, ref_ssl_hooks);
SAME_FIELD(ssl_hooks_t, ref_ssl_hooks, malloc);
SAME_FIELD(ssl_hooks_t, ref_ssl_hooks, free);

SAME_SIZE(hal_os_thread_param_t, ref_thread_param);
SAME_FIELD(hal_os_thread_param_t, ref_thread_param, priority);
SAME_FIELD(hal_os_thread_param_t, ref_thread_param, stack_addr);
SAME_FIELD(hal_os_thread_param_t, ref_thread_param, stack_size);
SAME_FIELD(hal_os_thread_param_t, ref_thread_param, detach_state);
SAME_FIELD(hal_os_thread_param_t, ref_thread_param, name);

/* Enums are int-sized, as C compilers make them. */
STATIC_CHECK(sizeof(iotx_mqtt_qos_t) == sizeof(int), "qos enum size");
STATIC_CHECK(sizeof(iotx_mqtt_event_type_t) == sizeof(int), "event enum size");
STATIC_CHECK(sizeof(iotx_mqtt_region_types_t) == sizeof(int), "region enum size");
STATIC_CHECK(sizeof(IOT_LogLevel) == sizeof(int), "log level enum size");

/* The pointer typedefs exist and point at their structs. */
static iotx_mqtt_param_pt param_pt_check;
static iotx_mqtt_topic_info_pt topic_info_pt_check;
static iotx_mqtt_event_msg_pt event_msg_pt_check;
static iotx_mqtt_event_handle_pt event_handle_pt_check;

static void check_enum_values(void)
{
    CHECK_INT(IOTX_MQTT_QOS0, 0);
    CHECK_INT(IOTX_MQTT_QOS1, 1);
    CHECK_INT(IOTX_MQTT_QOS2, 2);
    CHECK_INT(IOTX_MQTT_QOS3_SUB_LOCAL, 3);

    CHECK_INT(IOTX_MQTT_EVENT_UNDEF, 0);
    CHECK_INT(IOTX_MQTT_EVENT_DISCONNECT, 1);
    CHECK_INT(IOTX_MQTT_EVENT_RECONNECT, 2);
    CHECK_INT(IOTX_MQTT_EVENT_SUBCRIBE_SUCCESS, 3);
    CHECK_INT(IOTX_MQTT_EVENT_SUBCRIBE_TIMEOUT, 4);
    CHECK_INT(IOTX_MQTT_EVENT_SUBCRIBE_NACK, 5);
    CHECK_INT(IOTX_MQTT_EVENT_UNSUBCRIBE_SUCCESS, 6);
    CHECK_INT(IOTX_MQTT_EVENT_UNSUBCRIBE_TIMEOUT, 7);
    CHECK_INT(IOTX_MQTT_EVENT_UNSUBCRIBE_NACK, 8);
    CHECK_INT(IOTX_MQTT_EVENT_PUBLISH_SUCCESS, 9);
    CHECK_INT(IOTX_MQTT_EVENT_PUBLISH_TIMEOUT, 10);
    CHECK_INT(IOTX_MQTT_EVENT_PUBLISH_NACK, 11);
    CHECK_INT(IOTX_MQTT_EVENT_PUBLISH_RECEIVED, 12);
    CHECK_INT(IOTX_MQTT_EVENT_BUFFER_OVERFLOW, 13);

    CHECK_INT(IOTX_CLOUD_REGION_SHANGHAI, 0);
    CHECK_INT(IOTX_CLOUD_REGION_SINGAPORE, 1);
    CHECK_INT(IOTX_CLOUD_REGION_JAPAN, 2);
    CHECK_INT(IOTX_CLOUD_REGION_USA_WEST, 3);
    CHECK_INT(IOTX_CLOUD_REGION_GERMANY, 4);
    CHECK_INT(IOTX_CLOUD_REGION_CUSTOM, 5);
    CHECK_INT(IOTX_CLOUD_DOMAIN_MAX, 6);

    CHECK_INT(IOT_LOG_NONE, 0);
    CHECK_INT(IOT_LOG_CRIT, 1);
    CHECK_INT(IOT_LOG_ERROR, 2);
    CHECK_INT(IOT_LOG_WARNING, 3);
    CHECK_INT(IOT_LOG_INFO, 4);
    CHECK_INT(IOT_LOG_DEBUG, 5);

    CHECK_INT(ITE_AWSS_STATUS, 0);
    CHECK_INT(ITE_CONNECT_SUCC, 1);
    CHECK_INT(ITE_CONNECT_FAIL, 2);
    CHECK_INT(ITE_DISCONNECTED, 3);
    CHECK_INT(ITE_RAWDATA_ARRIVED, 4);
    CHECK_INT(ITE_SERVICE_REQUEST, 5);
    CHECK_INT(ITE_SERVICE_REQUEST_EXT, 6);
    CHECK_INT(ITE_PROPERTY_SET, 7);
    CHECK_INT(ITE_PROPERTY_GET, 8);
    CHECK_INT(ITE_REPORT_REPLY, 9);
    CHECK_INT(ITE_TRIGGER_EVENT_REPLY, 10);
    CHECK_INT(ITE_TIMESTAMP_REPLY, 11);
    CHECK_INT(ITE_TOPOLIST_REPLY, 12);
    CHECK_INT(ITE_PERMIT_JOIN, 13);
    CHECK_INT(ITE_INITIALIZE_COMPLETED, 14);
    CHECK_INT(ITE_FOTA, 15);
    CHECK_INT(ITE_FOTA_MODULE, 16);
    CHECK_INT(ITE_COTA, 17);
    CHECK_INT(ITE_MQTT_CONNECT_SUCC, 18);
    CHECK_INT(ITE_CLOUD_ERROR, 19);
    CHECK_INT(ITE_DYNREG_DEVICE_SECRET, 20);
    CHECK_INT(ITE_IDENTITY_RESPONSE, 21);
    CHECK_INT(ITE_BIND_EVENT, 22);
    CHECK_INT(ITE_STATE_EVERYTHING, 23);
    CHECK_INT(ITE_STATE_USER_INPUT, 24);
    CHECK_INT(ITE_STATE_SYS_DEPEND, 25);
    CHECK_INT(ITE_STATE_MQTT_COMM, 26);
    CHECK_INT(ITE_STATE_WIFI_PROV, 27);
    CHECK_INT(ITE_STATE_COAP_LOCAL, 28);
    CHECK_INT(ITE_STATE_HTTP_COMM, 29);
    CHECK_INT(ITE_STATE_OTA, 30);
    CHECK_INT(ITE_STATE_DEV_BIND, 31);
    CHECK_INT(ITE_STATE_DEV_MODEL, 32);

    CHECK_INT(IOTX_IOCTL_SET_REGION, 0);
    CHECK_INT(IOTX_IOCTL_GET_REGION, 1);
    CHECK_INT(IOTX_IOCTL_SET_MQTT_DOMAIN, 2);
    CHECK_INT(IOTX_IOCTL_SET_HTTP_DOMAIN, 3);
    CHECK_INT(IOTX_IOCTL_SET_DYNAMIC_REGISTER, 4);
    CHECK_INT(IOTX_IOCTL_GET_DYNAMIC_REGISTER, 5);
    CHECK_INT(IOTX_IOCTL_RECV_PROP_REPLY, 6);
    CHECK_INT(IOTX_IOCTL_RECV_EVENT_REPLY, 7);
    CHECK_INT(IOTX_IOCTL_SEND_PROP_SET_REPLY, 8);
    CHECK_INT(IOTX_IOCTL_SET_SUBDEV_SIGN, 9);
    CHECK_INT(IOTX_IOCTL_GET_SUBDEV_LOGIN, 10);
    CHECK_INT(IOTX_IOCTL_SET_OTA_DEV_ID, 11);
    CHECK_INT(IOTX_IOCTL_FOTA_TIMEOUT_MS, 12);
    CHECK_INT(IOTX_IOCTL_SET_CUSTOMIZE_INFO, 13);
    CHECK_INT(IOTX_IOCTL_SET_MQTT_PORT, 14);
    CHECK_INT(IOTX_IOCTL_SET_AWSS_ENABLE_INTERVAL, 15);
    CHECK_INT(IOTX_IOCTL_SET_AWSS_CHANNEL_SCAN_INTERVAL, 16);
    CHECK_INT(IOTX_IOCTL_SET_PROXY_REGISTER, 17);
    CHECK_INT(IOTX_IOCTL_QUERY_DEVID, 18);
    CHECK_INT(IOTX_IOCTL_SUB_USER_TOPIC, 19);
    CHECK_INT(IOTX_IOCTL_SET_PRODUCT_KEY, 20);
    CHECK_INT(IOTX_IOCTL_GET_PRODUCT_KEY, 21);
    CHECK_INT(IOTX_IOCTL_SET_PRODUCT_SECRET, 22);
    CHECK_INT(IOTX_IOCTL_GET_PRODUCT_SECRET, 23);
    CHECK_INT(IOTX_IOCTL_SET_DEVICE_NAME, 24);
    CHECK_INT(IOTX_IOCTL_GET_DEVICE_NAME, 25);
    CHECK_INT(IOTX_IOCTL_SET_DEVICE_SECRET, 26);
    CHECK_INT(IOTX_IOCTL_GET_DEVICE_SECRET, 27);
    CHECK_INT(IOTX_IOCTL_SET_MODULE, 28);
    CHECK_INT(IOTX_IOCTL_GET_MODULE, 29);

    CHECK_INT(os_thread_priority_idle, -3);
    CHECK_INT(os_thread_priority_normal, 0);
    CHECK_INT(os_thread_priority_realtime, 3);
    CHECK_INT(os_thread_priority_error, 0x84);
}

static void check_constants(void)
{
    CHECK_STR(IOTX_SDK_VERSION, "3.2.0");
    CHECK_INT(IOTX_PRODUCT_KEY_LEN, 20);
    CHECK_INT(IOTX_DEVICE_NAME_LEN, 32);
    CHECK_INT(IOTX_DEVICE_SECRET_LEN, 64);
    CHECK_INT(IOTX_PRODUCT_SECRET_LEN, 64);
    CHECK_INT(IOTX_MODULE_LEN, 64);
    CHECK_INT(IOTX_DEVICE_ID_LEN, 64);
    CHECK_INT(IOTX_FIRMWARE_VER_LEN, 64);
    CHECK_INT(IOTX_DOMAIN_MAX_LEN, 64);
    CHECK_INT(IOTX_CUSTOMIZE_INFO_LEN, 80);
    CHECK_INT(DEV_SIGN_HOSTNAME_MAXLEN, 64);
    CHECK_INT(DEV_SIGN_CLIENT_ID_MAXLEN, 200);
    CHECK_INT(DEV_SIGN_USERNAME_MAXLEN, 64);
    CHECK_INT(DEV_SIGN_PASSWORD_MAXLEN, 65);
    CHECK_INT(CONFIG_MQTT_KEEPALIVE_INTERVAL_MIN, 30);
    CHECK_INT(CONFIG_MQTT_KEEPALIVE_INTERVAL_MAX, 1200);
    CHECK_INT(CONFIG_MQTT_REQ_TIMEOUT_MIN, 1000);
    CHECK_INT(CONFIG_MQTT_REQ_TIMEOUT_MAX, 10000);
    CHECK_INT(CONFIG_MQTT_REQUEST_TIMEOUT, 5000);
    CHECK_INT(CONFIG_MQTT_KEEPALIVE_INTERVAL, 60);
    CHECK_INT(CONFIG_MQTT_MESSAGE_MAXLEN, 3072);
    CHECK_INT(PLATFORM_WAIT_INFINITE, ~0);
    CHECK(IOTKIT_VERSION_MAJOR >= 0 && IOTKIT_VERSION_MINOR >= 0 && IOTKIT_VERSION_PATCH >= 0);
}

/* ---- the rest of the MQTT-only surface and ota_api.h ---- */
typedef struct {
    unsigned char addr[16];
    unsigned short port;
} ref_network_addr;

typedef struct {
    uint16_t port;
    uint8_t init;
    char *host_name;
    char *client_id;
    char *username;
    char *password;
    const char *pub_key;
} ref_conn_info;

SAME_SIZE(NetworkAddr, ref_network_addr);
SAME_FIELD(NetworkAddr, ref_network_addr, addr);
SAME_FIELD(NetworkAddr, ref_network_addr, port);
SAME_SIZE(iotx_conn_info_t, ref_conn_info);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, port);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, init);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, host_name);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, client_id);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, username);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, password);
SAME_FIELD(iotx_conn_info_t, ref_conn_info, pub_key);
STATIC_CHECK(sizeof(iotx_mqtt_nwk_param_t) == sizeof(uintptr_t), "iotx_mqtt_nwk_param_t size");
STATIC_CHECK(sizeof(iotx_mqtt_nwk_event_t) == sizeof(int), "iotx_mqtt_nwk_event_t size");
STATIC_CHECK(sizeof(IOT_OTA_CmdType_t) == sizeof(int), "IOT_OTA_CmdType_t size");
STATIC_CHECK(sizeof(IOT_OTA_Progress_t) == sizeof(int), "IOT_OTA_Progress_t size");

static int on_property_set(const int devid, const char *request, const int request_len)
{
    (void)devid;
    (void)request;
    (void)request_len;
    return 0;
}

static int monitored = -1;
static void on_monitor(int event)
{
    monitored = event;
}

static void check_surface(void)
{
    iotx_conn_info_pt info = NULL;
    iotx_mqtt_nwk_param_t nwk;
    CHECK_INT(IOT_TRUE, 1);
    CHECK_INT(IOT_FALSE, 0);
    CHECK_INT(CONFIG_MQTT_TOPIC_MAXLEN, 128);
    CHECK_INT(NETWORK_ADDR_LEN, 16);
    CHECK_INT(STATE_BASE, 0);
    CHECK_INT(STATE_USER_INPUT_BASE, -0x0100);
    CHECK_INT(STATE_SYS_DEPEND_BASE, -0x0200);
    CHECK_INT(STATE_MQTT_BASE, -0x0300);
    CHECK_INT(STATE_WIFI_BASE, -0x0400);
    CHECK_INT(STATE_COAP_BASE, -0x0500);
    CHECK_INT(STATE_HTTP_BASE, -0x0600);
    CHECK_INT(STATE_OTA_BASE, -0x0700);
    CHECK_INT(STATE_BIND_BASE, -0x0800);
    CHECK_INT(STATE_DEV_MODEL_BASE, -0x0900);
    CHECK_INT(STATE_USER_INPUT_NULL_POINTER, STATE_USER_INPUT_BASE - 1);
    CHECK_INT(STATE_MQTT_PUB_INFO, STATE_MQTT_BASE - 0x29);
    /* The vendor's 3.2.0 layout: no timer codes among the system ones. */
    CHECK_INT(STATE_SYS_DEPEND_MUTEX_CREATE, STATE_SYS_DEPEND_BASE - 0x05);
    CHECK_INT(STATE_SYS_DEPEND_FIRMWAIRE_WIRTE, STATE_SYS_DEPEND_BASE - 0x0F);
    /* The modules iotkit does not provide (3.2.0 has no CoAP or OTA codes). */
    CHECK_INT(STATE_WIFI_ENABLE_AWSS, STATE_WIFI_BASE - 0x01);
    CHECK_INT(STATE_WIFI_SENT_DEVINFO_RESP, STATE_WIFI_BASE - 0x23);
    CHECK_INT(STATE_HTTP_DYNREG_FAIL_RESP, STATE_HTTP_BASE - 0x01);
    CHECK_INT(STATE_HTTP_PREAUTH_RSP, STATE_HTTP_BASE - 0x07);
    CHECK_INT(STATE_BIND_SET_APP_TOKEN, STATE_BIND_BASE - 0x01);
    CHECK_INT(STATE_BIND_RECV_CLOUD_NOTIFY, STATE_BIND_BASE - 0x10);
    CHECK_INT(STATE_DEV_MODEL_MASTER_ALREADY_OPEN, STATE_DEV_MODEL_BASE - 0x01);
    CHECK_INT(STATE_DEV_MODLE_ALCS_CONTROL, STATE_DEV_MODEL_BASE - 0x2B);
    CHECK_INT(STATE_DEV_MODEL_YIELD_RUNNING, STATE_DEV_MODEL_BASE - 0x3D);
    CHECK_INT(IOTX_MQTT_SOC_CONNECTED, 0);
    CHECK_INT(IOTX_MQTT_SOC_MAX, 4);
    CHECK_INT(IOTX_AWSS_START, 0x1000);
    CHECK_INT(IOTX_AWSS_ENABLE_TIMEOUT, 0x1010);
    CHECK_INT(IOTX_CONN_CLOUD_SUC, 0x2002);
    CHECK_INT(IOTX_RESET, 0x3000);
    CHECK_INT(IOT_OTAE_OSC_FAILED, -7);
    CHECK_INT(IOT_OTAS_FETCHED, 3);
    CHECK_INT(IOT_OTAT_FOTA, 2);
    CHECK_INT(IOT_OTAP_BURN_FAILED, -4);
    CHECK_INT(IOT_OTAP_FETCH_PERCENTAGE_MAX, 100);
    CHECK_INT(IOT_OTAG_COTA_CONFIG_ID, 0);
    CHECK_INT(IOT_OTAG_FETCHED_SIZE, 7);
    CHECK_INT(IOT_OTAG_CHECK_FIRMWARE, 11);
    CHECK_INT(IOT_OTAG_RESET_FETCHED_SIZE, 13);
    CHECK_INT(OTA_CH_SIGNAL_MQTT, 0);
    /* Events iotkit never raises still register. */
    CHECK_INT(IOT_RegisterCallback(ITE_PROPERTY_SET, on_property_set), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_PROPERTY_SET, NULL), 0);
    /* The event monitor. */
    CHECK_INT(iotx_event_post(IOTX_CONN_CLOUD), -1);
    CHECK_INT(iotx_event_regist_cb(on_monitor), 0);
    CHECK_INT(iotx_event_post(IOTX_CONN_CLOUD_SUC), 0);
    CHECK_INT(monitored, IOTX_CONN_CLOUD_SUC);
    CHECK_INT(iotx_event_regist_cb(NULL), 0);
    /* The async-stack hook is refused with its code. */
    nwk.fd = 3;
    CHECK_INT(IOT_MQTT_Nwk_Event_Handler(NULL, IOTX_MQTT_SOC_READ, &nwk), STATE_MQTT_ASYNC_STACK_NOT_SUPPORT);
    /* Connection info for the device-secret mode. */
    CHECK_INT(IOT_SetupConnInfo(NULL, "dn", "ds", (void **)&info), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_SetupConnInfo("a1pk", "dn", "", (void **)&info), STATE_USER_INPUT_META_INFO);
    CHECK(info == NULL);
    CHECK_INT(IOT_SetupConnInfo("a1234567890", "device-1", "0123456789abcdef0123456789abcdef", (void **)&info), 0);
    CHECK(info != NULL);
    if (info != NULL) {
        CHECK_INT(info->init, 1);
        CHECK(info->port != 0);
        CHECK(strstr(info->host_name, "a1234567890") != NULL);
        CHECK(strcmp(info->username, "device-1&a1234567890") == 0);
        CHECK(strlen(info->password) == 64);
    }
}

int main(void)
{
    (void)param_pt_check;
    (void)topic_info_pt_check;
    (void)event_msg_pt_check;
    (void)event_handle_pt_check;
    check_enum_values();
    check_constants();
    check_surface();
#include "state_codes.inc"
    return check_report();
}
