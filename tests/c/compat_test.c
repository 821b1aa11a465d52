/*
 * IOT_Ioctl round trips and rejections, callback registration, state events
 * (iotx_state_event and IOT_Extension_StateDesc), log levels — through the
 * vendor-named headers, as firmware calls them.
 */
#include <stdio.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "dev_sign_api.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

static int last_code;
static char last_message[600];
static int everything_calls;
static int user_input_calls;
static int mqtt_comm_calls;

static int on_everything(const int code, const char *message)
{
    everything_calls++;
    last_code = code;
    snprintf(last_message, sizeof(last_message), "%s", message);
    return 0;
}

static int on_user_input(const int code, const char *message)
{
    (void)code;
    (void)message;
    user_input_calls++;
    return 0;
}

static int on_mqtt_comm(const int code, const char *message)
{
    (void)code;
    (void)message;
    mqtt_comm_calls++;
    return 0;
}

static int on_identity(const char *payload)
{
    (void)payload;
    return 0;
}

static int on_connect(void)
{
    return 0;
}

static void check_text_option(int set, int get, const char *good, size_t max_len, int error_code)
{
    char buf[128];
    char overlong[200];

    CHECK_INT(IOT_Ioctl(set, (void *)good), 0);
    memset(buf, 'x', sizeof(buf));
    CHECK_INT(IOT_Ioctl(get, buf), 0);
    CHECK_STR(buf, good);

    /* One character too many: refused with the field's code, value kept. */
    memset(overlong, 'a', max_len + 1);
    overlong[max_len + 1] = '\0';
    CHECK_INT(IOT_Ioctl(set, overlong), error_code);
    CHECK_INT(IOT_Ioctl(get, buf), 0);
    CHECK_STR(buf, good);

    /* Exactly the maximum length is accepted. */
    memset(overlong, 'b', max_len);
    overlong[max_len] = '\0';
    CHECK_INT(IOT_Ioctl(set, overlong), 0);
    CHECK_INT(IOT_Ioctl(get, buf), 0);
    CHECK_INT(strlen(buf), max_len);

    /* Empty resets (the X.509 first-run state). */
    CHECK_INT(IOT_Ioctl(set, (void *)""), 0);
    CHECK_INT(IOT_Ioctl(get, buf), 0);
    CHECK_STR(buf, "");
    CHECK_INT(IOT_Ioctl(set, (void *)good), 0);
}

static void check_ioctl(void)
{
    char pk[IOTX_PRODUCT_KEY_LEN + 1];
    char dn[IOTX_DEVICE_NAME_LEN + 1];
    int region = -1;
    int dynreg = 1;
    uint16_t port = 8883;

    check_text_option(IOTX_IOCTL_SET_PRODUCT_KEY, IOTX_IOCTL_GET_PRODUCT_KEY, "a1B2c3D4e5F", IOTX_PRODUCT_KEY_LEN, STATE_USER_INPUT_PK);
    check_text_option(IOTX_IOCTL_SET_DEVICE_NAME, IOTX_IOCTL_GET_DEVICE_NAME, "dev-01_@.:x", IOTX_DEVICE_NAME_LEN, STATE_USER_INPUT_DN);
    check_text_option(IOTX_IOCTL_SET_DEVICE_SECRET, IOTX_IOCTL_GET_DEVICE_SECRET, "s3cr3t", IOTX_DEVICE_SECRET_LEN, STATE_USER_INPUT_DS);
    check_text_option(IOTX_IOCTL_SET_PRODUCT_SECRET, IOTX_IOCTL_GET_PRODUCT_SECRET, "pr0dsecret", IOTX_PRODUCT_SECRET_LEN, STATE_USER_INPUT_PS);
    check_text_option(IOTX_IOCTL_SET_MODULE, IOTX_IOCTL_GET_MODULE, "module-x", IOTX_MODULE_LEN, STATE_USER_INPUT_INVALID);

    /* Invalid characters are refused and change nothing. */
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)"bad key"), STATE_USER_INPUT_PK);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk), 0);
    CHECK_STR(pk, "a1B2c3D4e5F");
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"dev/1"), STATE_USER_INPUT_DN);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, dn), 0);
    CHECK_STR(dn, "dev-01_@.:x");

    /* HAL getters read the same identity. */
    memset(pk, 0, sizeof(pk));
    CHECK_INT(HAL_GetProductKey(pk), (int)strlen("a1B2c3D4e5F"));
    CHECK_STR(pk, "a1B2c3D4e5F");
    CHECK_INT(HAL_GetDeviceName(dn), (int)strlen("dev-01_@.:x"));
    CHECK_STR(dn, "dev-01_@.:x");

    /* Region: valid values round-trip, others are refused. */
    region = IOTX_CLOUD_REGION_GERMANY;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), 0);
    region = -1;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_REGION, &region), 0);
    CHECK_INT(region, IOTX_CLOUD_REGION_GERMANY);
    region = IOTX_CLOUD_DOMAIN_MAX;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), STATE_USER_INPUT_OUT_RANGE);
    region = -7;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), STATE_USER_INPUT_OUT_RANGE);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_REGION, &region), 0);
    CHECK_INT(region, IOTX_CLOUD_REGION_GERMANY);
    region = IOTX_CLOUD_REGION_SHANGHAI;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), 0);

    /* Endpoint overrides. */
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, (void *)"127.0.0.1"), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, (void *)"not a host"), STATE_USER_INPUT_MQTT_DOMAIN);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_PORT, &port), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, (void *)"authtype=x509,mac=00:11"), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, (void *)"no pairs|here"), STATE_USER_INPUT_INVALID);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, (void *)""), 0);
    port = 0;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_PORT, &port), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, (void *)""), 0);

    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DYNAMIC_REGISTER, &dynreg), 0);
    dynreg = 5;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DYNAMIC_REGISTER, &dynreg), 0);
    CHECK_INT(dynreg, 1);
    dynreg = 0;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DYNAMIC_REGISTER, &dynreg), 0);

    /* NULL data, unsupported and unknown options: negative, no crash. */
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK(IOT_Ioctl(IOTX_IOCTL_SET_HTTP_DOMAIN, (void *)"x") < 0);
    CHECK(IOT_Ioctl(IOTX_IOCTL_QUERY_DEVID, pk) < 0);
    CHECK(IOT_Ioctl(12345, pk) < 0);
    CHECK(IOT_Ioctl(-1, pk) < 0);
}

static void check_callbacks_and_state_events(void)
{
    int before;

    CHECK_INT(IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_everything), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_STATE_USER_INPUT, on_user_input), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_STATE_MQTT_COMM, on_mqtt_comm), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, on_identity), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_CONNECT_SUCC, on_connect), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_CONNECT_FAIL, on_connect), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_DISCONNECTED, on_connect), 0);
    CHECK_INT(IOT_RegisterCallback(ITE_MQTT_CONNECT_SUCC, on_connect), 0);

    CHECK(iotx_event_callback(ITE_IDENTITY_RESPONSE) == (void *)on_identity);
    CHECK(iotx_event_callback(ITE_STATE_EVERYTHING) == (void *)on_everything);
    CHECK(iotx_event_callback(ITE_FOTA) == NULL);
    CHECK(iotx_event_callback(-1) == NULL);
    CHECK(iotx_event_callback(1000) == NULL);

    /* iotx_state_event formats and delivers to the area and EVERYTHING. */
    before = everything_calls;
    CHECK_INT(iotx_state_event(ITE_STATE_MQTT_COMM, STATE_MQTT_SUB_INFO, "topic %s qos %d", "/a/b", 1), 0);
    CHECK_INT(everything_calls, before + 1);
    CHECK_INT(mqtt_comm_calls, 1);
    CHECK_INT(last_code, STATE_MQTT_SUB_INFO);
    CHECK_STR(last_message, "topic /a/b qos 1");

    /* A long message is cut, not overflowed. */
    {
        char big[2000];
        memset(big, 'm', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK_INT(iotx_state_event(ITE_STATE_MQTT_COMM, STATE_MQTT_PUB_INFO, "%s", big), 0);
        CHECK_INT(strlen(last_message), 511);
    }
    CHECK(iotx_state_event(99, STATE_MQTT_PUB_INFO, "x") < 0);
    CHECK_INT(iotx_state_event(ITE_STATE_MQTT_COMM, STATE_MQTT_PUB_INFO, NULL), 0);
    CHECK_STR(last_message, "");

    /* Library-raised events reach the area handler: a refused ioctl. */
    before = user_input_calls;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"has space"), STATE_USER_INPUT_DN);
    CHECK_INT(user_input_calls, before + 1);
    CHECK_INT(last_code, STATE_USER_INPUT_DN);
    CHECK(strstr(last_message, "DeviceName") != NULL);

    /* Unregistering stops delivery. */
    CHECK_INT(IOT_RegisterCallback(ITE_STATE_USER_INPUT, NULL), 0);
    before = user_input_calls;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"has space"), STATE_USER_INPUT_DN);
    CHECK_INT(user_input_calls, before);
}

static void check_state_descriptions(void)
{
    static const int codes[] = {
#include "state_code_list.inc"
    };
    size_t i;
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *text = IOT_Extension_StateDesc(codes[i]);
        CHECK(text != NULL && strlen(text) > 5 && strcmp(text, "unknown state code") != 0);
    }
    CHECK_STR(IOT_Extension_StateDesc(12345), "unknown state code");
}

static void check_log_levels(void)
{
    int level;
    for (level = -3; level <= 9; level++) {
        IOT_SetLogLevel((IOT_LogLevel)level);
        IOT_DumpMemoryStats((IOT_LogLevel)level);
    }
    IOT_SetLogLevel(IOT_LOG_NONE);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"quiet please"), STATE_USER_INPUT_DN);
    IOT_SetLogLevel(IOT_LOG_WARNING);
    CHECK(iotkit_version() != NULL && strlen(iotkit_version()) >= 5);
}

int main(void)
{
    check_ioctl();
    check_callbacks_and_state_events();
    check_state_descriptions();
    check_log_levels();
    return check_report();
}
