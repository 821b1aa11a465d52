/*
 * Bad input from C, one row per case, against a real broker (run by
 * scripts/with_mosquitto.sh). Each row checks: the documented negative code,
 * a state event delivered to ITE_STATE_EVERYTHING (where the library raises
 * one), and no crash. After all rows the same client still does a
 * publish/receive round trip, KV still stores and loads, and the device
 * identity set before is unchanged.
 *
 * Rows already covered by tests/c/mqtt_api_test.c (NULL client, wildcard and
 * invalid UTF-8 publish topics, QoS 2/3 publish, negative payload length,
 * Yield(-1), calls after Destroy, double Destroy, over-long client id) are not
 * repeated here; docs/RELIABILITY.md lists the full table.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

#define PK "a1BadInput01"
#define DN "bad-input-device"
#define TOPIC_PREFIX "/" PK "/" DN "/user/"

static int state_events;
static int last_state_code;
static int round_trips;

static int on_state(const int code, const char *message)
{
    (void)message;
    state_events++;
    last_state_code = code;
    return 0;
}

static void on_round_trip(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    iotx_mqtt_topic_info_pt info = (iotx_mqtt_topic_info_pt)msg->msg;
    (void)pcontext;
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED && info->payload_len == 2 &&
        memcmp(info->payload, "rt", 2) == 0) {
        round_trips++;
    }
}

/* One row: the call's result must equal `expected` and, when `event` is set,
 * at least one state event must have been raised during the call. */
static void row(const char *name, int result, int expected, int events_before, int event)
{
    int raised = state_events - events_before;
    if (result != expected) {
        check_failed++;
        fprintf(stderr, "row '%s': returned %d, expected %d\n", name, result, expected);
    } else {
        check_passed++;
    }
    if (event == 1) {
        CHECK(raised >= 1);
        if (raised < 1) {
            fprintf(stderr, "row '%s': no state event\n", name);
        }
    }
    printf("row %-44s -> %6d  events %d\n", name, result, raised);
}

#define ROW(name, call, expected, event)                                                    \
    do {                                                                                     \
        int before_ = state_events;                                                          \
        int result_ = (call);                                                                \
        row(name, result_, expected, before_, event);                                        \
    } while (0)

/* A string of `n` copies of `c`, NUL-terminated; the caller frees it. */
static char *repeat(char c, size_t n)
{
    char *text = (char *)malloc(n + 1);
    memset(text, c, n);
    text[n] = '\0';
    return text;
}

static char *read_file(const char *dir, const char *name, int *len)
{
    char path[1024];
    FILE *f;
    char *data;
    long size;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = (char *)calloc(1, (size_t)size + 1);
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        size = 0;
    }
    fclose(f);
    *len = (int)size;
    return data;
}

static void mqtt_rows(void *client)
{
    char *huge = repeat('t', 70000);
    iotx_mqtt_topic_info_t msg;

    ROW("Subscribe invalid UTF-8 filter", IOT_MQTT_Subscribe(client, TOPIC_PREFIX "\xc3\x28", IOTX_MQTT_QOS0, on_round_trip, NULL),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Subscribe over-long filter (70000)", IOT_MQTT_Subscribe(client, huge, IOTX_MQTT_QOS0, on_round_trip, NULL),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Subscribe empty filter", IOT_MQTT_Subscribe(client, "", IOTX_MQTT_QOS0, on_round_trip, NULL),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Subscribe QoS 2", IOT_MQTT_Subscribe(client, TOPIC_PREFIX "q2", IOTX_MQTT_QOS2, on_round_trip, NULL),
        STATE_MQTT_PUB_QOS_INVALID, 1);
    ROW("Subscribe negative QoS", IOT_MQTT_Subscribe(client, TOPIC_PREFIX "qn", (iotx_mqtt_qos_t)-1, on_round_trip, NULL),
        STATE_MQTT_PUB_QOS_INVALID, 1);
    ROW("Subscribe_Sync NULL filter", IOT_MQTT_Subscribe_Sync(client, NULL, IOTX_MQTT_QOS0, on_round_trip, NULL, 1000),
        STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("Subscribe_Sync negative timeout", IOT_MQTT_Subscribe_Sync(client, TOPIC_PREFIX "neg", IOTX_MQTT_QOS0, on_round_trip, NULL, -1),
        STATE_USER_INPUT_OUT_RANGE, 1);
    ROW("Subscribe_Sync QoS 3", IOT_MQTT_Subscribe_Sync(client, TOPIC_PREFIX "q3", IOTX_MQTT_QOS3_SUB_LOCAL, on_round_trip, NULL, 1000),
        STATE_MQTT_PUB_QOS_INVALID, 1);
    ROW("Unsubscribe invalid UTF-8 filter", IOT_MQTT_Unsubscribe(client, TOPIC_PREFIX "\xff"),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Unsubscribe misplaced wildcard a/#/b", IOT_MQTT_Unsubscribe(client, "a/#/b"), STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Unsubscribe over-long filter (70000)", IOT_MQTT_Unsubscribe(client, huge), STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Publish wildcard inside a level a+b", IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "a+b", IOTX_MQTT_QOS0, "x", 1),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Publish truncated UTF-8 sequence", IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "\xe2\x82", IOTX_MQTT_QOS0, "x", 1),
        STATE_MQTT_UNEXP_TOPIC_FORMAT, 1);
    ROW("Publish INT_MIN payload length", IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, "x", INT_MIN),
        STATE_USER_INPUT_OUT_RANGE, 1);
    memset(&msg, 0, sizeof(msg));
    msg.qos = IOTX_MQTT_QOS0;
    msg.payload = NULL;
    msg.payload_len = 5;
    ROW("Publish msg with NULL payload, len 5", IOT_MQTT_Publish(client, TOPIC_PREFIX "x", &msg), STATE_USER_INPUT_NULL_POINTER, 1);
    msg.qos = 3;
    msg.payload = "x";
    msg.payload_len = 1;
    ROW("Publish msg with QoS 3", IOT_MQTT_Publish(client, TOPIC_PREFIX "x", &msg), STATE_MQTT_PUB_QOS_INVALID, 1);
    ROW("Yield INT_MIN timeout", IOT_MQTT_Yield(client, INT_MIN), STATE_USER_INPUT_OUT_RANGE, 1);
    /* A zero-length payload is valid MQTT: accepted, and NULL is fine with it. */
    ROW("Publish zero-length payload (valid)", IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "empty", IOTX_MQTT_QOS0, NULL, 0), 0, 0);
    free(huge);
}

static void ioctl_rows(void)
{
    char *long_pk = repeat('p', IOTX_PRODUCT_KEY_LEN + 1);
    char *long_dn = repeat('d', IOTX_DEVICE_NAME_LEN + 1);
    char *long_ds = repeat('s', IOTX_DEVICE_SECRET_LEN + 1);
    char *long_ps = repeat('s', IOTX_PRODUCT_SECRET_LEN + 1);
    char *long_domain = repeat('h', IOTX_DOMAIN_MAX_LEN + 1);
    char *long_info = repeat('i', IOTX_CUSTOMIZE_INFO_LEN + 1);
    int region = 99;

    ROW("Ioctl SET_PRODUCT_KEY over-long (21)", IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, long_pk), STATE_USER_INPUT_PK, 1);
    ROW("Ioctl SET_PRODUCT_KEY with '/'", IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)"a1/b"), STATE_USER_INPUT_PK, 1);
    ROW("Ioctl SET_PRODUCT_KEY invalid UTF-8", IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)"a1\xff"), STATE_USER_INPUT_PK, 1);
    ROW("Ioctl SET_DEVICE_NAME over-long (33)", IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, long_dn), STATE_USER_INPUT_DN, 1);
    ROW("Ioctl SET_DEVICE_NAME with '&'", IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"dev&x"), STATE_USER_INPUT_DN, 1);
    ROW("Ioctl SET_DEVICE_SECRET over-long (65)", IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_SECRET, long_ds), STATE_USER_INPUT_DS, 1);
    ROW("Ioctl SET_PRODUCT_SECRET over-long (65)", IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_SECRET, long_ps), STATE_USER_INPUT_PS, 1);
    ROW("Ioctl SET_MQTT_DOMAIN over-long (65)", IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, long_domain), STATE_USER_INPUT_MQTT_DOMAIN, 1);
    ROW("Ioctl SET_CUSTOMIZE_INFO over-long (81)", IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, long_info), STATE_USER_INPUT_INVALID, 1);
    ROW("Ioctl SET_CUSTOMIZE_INFO with '|'", IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, (void *)"a=b|c"), STATE_USER_INPUT_INVALID, 1);
    ROW("Ioctl SET_REGION 99", IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), STATE_USER_INPUT_OUT_RANGE, 1);
    region = -1;
    ROW("Ioctl SET_REGION -1", IOT_Ioctl(IOTX_IOCTL_SET_REGION, &region), STATE_USER_INPUT_OUT_RANGE, 1);
    ROW("Ioctl GET_PRODUCT_KEY NULL buffer", IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, NULL), STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("Ioctl SET_DEVICE_NAME NULL", IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, NULL), STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("Ioctl unknown option 9999", IOT_Ioctl(9999, &region), STATE_USER_INPUT_INVALID, 1);
    ROW("Ioctl negative option -3", IOT_Ioctl(-3, &region), STATE_USER_INPUT_INVALID, 1);

    {
        /* GET ioctls take no size: the buffer must hold LEN + 1 bytes. With
         * exactly that, nothing past it is written (canary intact). */
        char pk[IOTX_PRODUCT_KEY_LEN + 1 + 4];
        char dn[IOTX_DEVICE_NAME_LEN + 1 + 4];
        memset(pk, 0x5A, sizeof(pk));
        memset(dn, 0x5A, sizeof(dn));
        CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk), 0);
        CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, dn), 0);
        CHECK_STR(pk, PK);
        CHECK_STR(dn, DN);
        CHECK(memcmp(pk + IOTX_PRODUCT_KEY_LEN + 1, "\x5A\x5A\x5A\x5A", 4) == 0);
        CHECK(memcmp(dn + IOTX_DEVICE_NAME_LEN + 1, "\x5A\x5A\x5A\x5A", 4) == 0);
    }
    free(long_pk);
    free(long_dn);
    free(long_ds);
    free(long_ps);
    free(long_domain);
    free(long_info);
}

static void kv_rows(void)
{
    char *long_key = repeat('k', 300);
    char buf[8];
    int len;

    ROW("Kv_Set NULL key", HAL_Kv_Set(NULL, "v", 1, 0), STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("Kv_Set empty key", HAL_Kv_Set("", "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set key ../escape", HAL_Kv_Set("../escape", "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set key a/b", HAL_Kv_Set("a/b", "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set key .hidden", HAL_Kv_Set(".hidden", "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set key invalid UTF-8", HAL_Kv_Set("k\xff", "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set over-long key (300)", HAL_Kv_Set(long_key, "v", 1, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set negative length", HAL_Kv_Set("rel_ok", "v", -1, 0), STATE_USER_INPUT_OUT_RANGE, 1);
    ROW("Kv_Set length above the value limit", HAL_Kv_Set("rel_ok", long_key, INT_MAX, 0), STATE_SYS_DEPEND_KV_SET, 1);
    ROW("Kv_Set NULL value, length 4", HAL_Kv_Set("rel_ok", NULL, 4, 0), STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("Kv_Del bad key ../x", HAL_Kv_Del("../x"), STATE_SYS_DEPEND_KV_DELETE, 1);
    ROW("Kv_Del NULL key", HAL_Kv_Del(NULL), STATE_USER_INPUT_NULL_POINTER, 1);

    CHECK_INT(HAL_Kv_Set("rel_ok", "0123456789", 10, 1), 0);
    len = (int)sizeof(buf);
    ROW("Kv_Get buffer too small (8 < 10)", HAL_Kv_Get("rel_ok", buf, &len), STATE_USER_INPUT_OUT_RANGE, 1);
    CHECK_INT(len, 10); /* the size needed is reported back */
    len = -1;
    ROW("Kv_Get negative capacity", HAL_Kv_Get("rel_ok", buf, &len), STATE_USER_INPUT_OUT_RANGE, 1);
    ROW("Kv_Get NULL length pointer", HAL_Kv_Get("rel_ok", buf, NULL), STATE_USER_INPUT_NULL_POINTER, 1);
    len = 100;
    ROW("Kv_Get NULL buffer, capacity 100", HAL_Kv_Get("rel_ok", NULL, &len), STATE_USER_INPUT_NULL_POINTER, 1);
    len = (int)sizeof(buf);
    ROW("Kv_Get bad key a/../b", HAL_Kv_Get("a/../b", buf, &len), STATE_SYS_DEPEND_KV_GET, 1);
    ROW("Kv_Get missing key (not an error event)", HAL_Kv_Get("rel_missing", buf, &len), STATE_SYS_DEPEND_KV_GET, 0);

    {
        /* Still works after all of the above. */
        char value[16];
        int value_len = (int)sizeof(value);
        CHECK_INT(HAL_Kv_Set("rel_ok", "after", 5, 1), 0);
        CHECK_INT(HAL_Kv_Get("rel_ok", value, &value_len), 0);
        CHECK_INT(value_len, 5);
        CHECK(memcmp(value, "after", 5) == 0);
        CHECK_INT(HAL_Kv_Del("rel_ok"), 0);
    }
    free(long_key);
}

static void credential_rows(void)
{
    const char *pki = getenv("PKI_DIR");
    char *cert;
    char *other_key;
    int cert_len = 0;
    int key_len = 0;

    ROW("x509_set_credentials NULL cert", iotkit_x509_set_credentials(NULL, 0, "k", 1, NULL), STATE_USER_INPUT_NULL_POINTER, 1);
    ROW("x509_set_credentials garbage", iotkit_x509_set_credentials("not a cert", 10, "not a key", 9, NULL),
        STATE_USER_INPUT_INVALID, 1);
    if (pki == NULL) {
        CHECK(pki != NULL);
        return;
    }
    cert = read_file(pki, "device.pem", &cert_len);
    other_key = read_file(pki, "server.key", &key_len);
    CHECK(cert != NULL && other_key != NULL);
    if (cert != NULL && other_key != NULL) {
        ROW("x509_set_credentials key of another cert",
            iotkit_x509_set_credentials(cert, (uint32_t)cert_len, other_key, (uint32_t)key_len, NULL), STATE_USER_INPUT_INVALID, 1);
        ROW("x509_set_credentials length past the PEM end", iotkit_x509_set_credentials(cert, 5, other_key, 7, NULL),
            STATE_USER_INPUT_INVALID, 1);
    }
    free(cert);
    free(other_key);
    /* Nothing was accepted above: the environment's pair stays in use. */
    iotkit_x509_clear_credentials();
}

static void round_trip(void *client, const char *when)
{
    int target = round_trips + 1;
    int i;
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "rt", IOTX_MQTT_QOS1, "rt", 2) > 0, 1);
    for (i = 0; i < 100 && round_trips < target; i++) {
        IOT_MQTT_Yield(client, 50);
    }
    if (round_trips < target) {
        fprintf(stderr, "no round trip %s\n", when);
    }
    CHECK_INT(round_trips, target);
}

int main(void)
{
    iotx_mqtt_param_t params;
    void *client;
    void *stale;

    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, PK), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, DN), 0);


    memset(&params, 0, sizeof(params));
    client = IOT_MQTT_Construct(&params);
    CHECK(client != NULL);
    if (client == NULL) {
        return check_report();
    }
    CHECK(IOT_MQTT_Subscribe_Sync(client, TOPIC_PREFIX "rt", IOTX_MQTT_QOS1, on_round_trip, NULL, 5000) >= 0);
    round_trip(client, "before the bad input");

    mqtt_rows(client);
    round_trip(client, "after the MQTT rows");
    ioctl_rows();
    kv_rows();
    credential_rows();
    round_trip(client, "after the ioctl, KV and credential rows");
    CHECK_INT(IOT_MQTT_CheckStateNormal(client), 1);

    /* Log level and state descriptions take any value. */
    IOT_SetLogLevel((IOT_LogLevel)-7);
    IOT_SetLogLevel((IOT_LogLevel)99);
    IOT_SetLogLevel(IOT_LOG_WARNING);
    CHECK(IOT_Extension_StateDesc(123456) != NULL);
    CHECK(IOT_Extension_StateDesc(INT_MIN) != NULL);

    /* Destroy twice, use after Destroy (codes in mqtt_api_test), then a new
     * client works. */
    stale = client;
    CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    ROW("Destroy twice", IOT_MQTT_Destroy(&stale), STATE_USER_INPUT_INVALID, 1);
    ROW("Publish after Destroy", IOT_MQTT_Publish_Simple(stale, TOPIC_PREFIX "rt", IOTX_MQTT_QOS0, "x", 1),
        STATE_USER_INPUT_INVALID, 1);
    client = IOT_MQTT_Construct(&params);
    CHECK(client != NULL);
    if (client != NULL) {
        CHECK(IOT_MQTT_Subscribe_Sync(client, TOPIC_PREFIX "rt", IOTX_MQTT_QOS1, on_round_trip, NULL, 5000) >= 0);
        round_trip(client, "with a new client after Destroy");
        CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    }
    printf("%d state events in total\n", state_events);
    return check_report();
}
