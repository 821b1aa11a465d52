/*
 * Every IOT_MQTT_* function and its error paths, through the vendor headers,
 * against a real broker (run by scripts/with_mosquitto.sh: mosquitto with
 * mutual TLS; certificate, CA and endpoint come from the IOTX_* variables).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "dev_sign_api.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

#define PK "a1ApiTest01"
#define DN "api-device"
#define TOPIC_PREFIX "/" PK "/" DN "/user/"

static int topic_messages;
static int default_messages;
static int publish_acks;
static int subscribe_acks;
static int unsubscribe_acks;
static char last_payload[256];
static int range_events;

static int connect_succ;
static int connect_fail;
static int mqtt_connect_succ;

static int on_connect_succ(void)
{
    connect_succ++;
    return 0;
}

static int on_connect_fail(void)
{
    connect_fail++;
    return 0;
}

static int on_mqtt_connect_succ(void)
{
    mqtt_connect_succ++;
    return 0;
}

static int on_state(const int code, const char *message)
{
    if (code == STATE_USER_INPUT_OUT_RANGE && strstr(message, "30000..1200000") != NULL) {
        range_events++;
    }
    return 0;
}

static void on_topic(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    iotx_mqtt_topic_info_pt info = (iotx_mqtt_topic_info_pt)msg->msg;
    CHECK(pcontext == (void *)&topic_messages);
    CHECK(pclient != NULL);
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        topic_messages++;
        snprintf(last_payload, sizeof(last_payload), "%.*s", (int)info->payload_len, info->payload);
    }
}

static void on_event(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pcontext;
    (void)pclient;
    switch (msg->event_type) {
        case IOTX_MQTT_EVENT_PUBLISH_SUCCESS:
            publish_acks++;
            break;
        case IOTX_MQTT_EVENT_SUBCRIBE_SUCCESS:
            subscribe_acks++;
            break;
        case IOTX_MQTT_EVENT_UNSUBCRIBE_SUCCESS:
            unsubscribe_acks++;
            break;
        case IOTX_MQTT_EVENT_PUBLISH_RECEIVED:
            default_messages++;
            break;
        default:
            break;
    }
}

static void yield_until(void *client, const int *counter, int target)
{
    int i;
    for (i = 0; i < 50 && *counter < target; i++) {
        IOT_MQTT_Yield(client, 100);
    }
}

static void check_without_client(void)
{
    void *none = NULL;
    CHECK(IOT_MQTT_Yield(NULL, 10) < 0);
    CHECK_INT(IOT_MQTT_CheckStateNormal(NULL), 0);
    CHECK(IOT_MQTT_Publish_Simple(NULL, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, "x", 1) < 0);
    CHECK(IOT_MQTT_Subscribe(NULL, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, on_topic, NULL) < 0);
    CHECK(IOT_MQTT_Unsubscribe(NULL, TOPIC_PREFIX "x") < 0);
    CHECK_INT(IOT_MQTT_Destroy(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_MQTT_Destroy(&none), STATE_USER_INPUT_NULL_POINTER);
    none = (void *)0x5000;
    CHECK(IOT_MQTT_Destroy(&none) < 0);
    CHECK(IOT_MQTT_Yield((void *)0x5000, 10) < 0);
}

static void check_failed_construct_leaves_nothing(void)
{
    iotx_mqtt_param_t params;
    char long_id[80];
    memset(&params, 0, sizeof(params));
    memset(long_id, 'c', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    params.client_id = long_id; /* over the platform's 64 characters */
    CHECK(IOT_MQTT_Construct(&params) == NULL);
    CHECK(IOT_MQTT_Construct(&params) == NULL);
    CHECK_INT(IOT_MQTT_CheckStateNormal(NULL), 0);
}

static void check_publish_errors(void *client)
{
    iotx_mqtt_topic_info_t msg;
    char *huge_topic;
    char big_payload[4000];

    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "+", IOTX_MQTT_QOS0, "x", 1), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "#", IOTX_MQTT_QOS0, "x", 1), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, "", IOTX_MQTT_QOS0, "x", 1), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "bad\xff", IOTX_MQTT_QOS0, "x", 1), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, NULL, IOTX_MQTT_QOS0, "x", 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", IOTX_MQTT_QOS2, "x", 1), STATE_MQTT_PUB_QOS_INVALID);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", 3, "x", 1), STATE_MQTT_PUB_QOS_INVALID);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", -1, "x", 1), STATE_MQTT_PUB_QOS_INVALID);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, "x", -5), STATE_USER_INPUT_OUT_RANGE);
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, NULL, 3), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_MQTT_Publish(client, TOPIC_PREFIX "x", NULL), STATE_USER_INPUT_NULL_POINTER);

    huge_topic = (char *)malloc(70000);
    memset(huge_topic, 't', 69999);
    huge_topic[69999] = '\0';
    CHECK_INT(IOT_MQTT_Publish_Simple(client, huge_topic, IOTX_MQTT_QOS0, "x", 1), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    free(huge_topic);

    /* Larger than the default 3072-byte write buffer. */
    memset(big_payload, 'p', sizeof(big_payload));
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, big_payload, (int)sizeof(big_payload)),
              STATE_MQTT_TX_BUFFER_TOO_SHORT);

    memset(&msg, 0, sizeof(msg));
    msg.qos = IOTX_MQTT_QOS2;
    msg.payload = "x";
    msg.payload_len = 1;
    CHECK_INT(IOT_MQTT_Publish(client, TOPIC_PREFIX "x", &msg), STATE_MQTT_PUB_QOS_INVALID);

    CHECK_INT(IOT_MQTT_Subscribe(client, "a/#/b", IOTX_MQTT_QOS0, on_topic, NULL), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Subscribe(client, "a/b+", IOTX_MQTT_QOS0, on_topic, NULL), STATE_MQTT_UNEXP_TOPIC_FORMAT);
    CHECK_INT(IOT_MQTT_Subscribe(client, NULL, IOTX_MQTT_QOS0, on_topic, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_MQTT_Subscribe(client, TOPIC_PREFIX "q", IOTX_MQTT_QOS3_SUB_LOCAL, on_topic, NULL), STATE_MQTT_PUB_QOS_INVALID);
    CHECK_INT(IOT_MQTT_Yield(client, -1), STATE_USER_INPUT_OUT_RANGE);
    CHECK_INT(IOT_MQTT_CheckStateNormal(client), 1);
}

int main(void)
{
    iotx_mqtt_param_t params;
    iotx_mqtt_topic_info_t msg;
    void *client;
    void *again;
    void *stale;
    char topic_copy[64];
    int id;
    int before;

    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);
    IOT_RegisterCallback(ITE_CONNECT_SUCC, on_connect_succ);
    IOT_RegisterCallback(ITE_CONNECT_FAIL, on_connect_fail);
    IOT_RegisterCallback(ITE_MQTT_CONNECT_SUCC, on_mqtt_connect_succ);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, PK), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, DN), 0);

    check_without_client();
    check_failed_construct_leaves_nothing();
    CHECK_INT(connect_fail, 2);
    CHECK_INT(connect_succ, 0);

    memset(&params, 0, sizeof(params));
    params.keepalive_interval_ms = 5000; /* outside 30..1200 s: default + event */
    params.handle_event.h_fp = on_event;
    client = IOT_MQTT_Construct(&params);
    CHECK(client != NULL);
    if (client == NULL) {
        return check_report();
    }
    CHECK_INT(range_events, 1);
    CHECK_INT(IOT_MQTT_CheckStateNormal(client), 1);
    CHECK_INT(connect_succ, 1);
    CHECK_INT(mqtt_connect_succ, 1);
    again = IOT_MQTT_Construct(&params);
    CHECK(again == client);

    /* The filter is copied: the caller's buffer may change right after. */
    strcpy(topic_copy, TOPIC_PREFIX "+");
    id = IOT_MQTT_Subscribe_Sync(client, topic_copy, IOTX_MQTT_QOS1, on_topic, &topic_messages, 5000);
    memset(topic_copy, 0, sizeof(topic_copy));
    CHECK(id > 0);
    id = IOT_MQTT_Subscribe(client, TOPIC_PREFIX "extra/#", IOTX_MQTT_QOS0, NULL, NULL);
    CHECK(id > 0);
    yield_until(client, &subscribe_acks, 1);
    CHECK(subscribe_acks >= 1);

    id = IOT_MQTT_Publish_Simple(NULL, TOPIC_PREFIX "one", IOTX_MQTT_QOS1, "payload-one", 11);
    CHECK(id > 0);
    yield_until(client, &topic_messages, 1);
    CHECK_INT(topic_messages, 1);
    CHECK_STR(last_payload, "payload-one");
    yield_until(client, &publish_acks, 1);
    CHECK(publish_acks >= 1);

    memset(&msg, 0, sizeof(msg));
    msg.qos = IOTX_MQTT_QOS0;
    msg.payload = "payload-two";
    msg.payload_len = 11;
    CHECK_INT(IOT_MQTT_Publish(client, TOPIC_PREFIX "two", &msg), 0);
    yield_until(client, &topic_messages, 2);
    CHECK_INT(topic_messages, 2);
    CHECK_STR(last_payload, "payload-two");

    /* Matches only the subscription without a handler: handle_event gets it. */
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "extra/deep", IOTX_MQTT_QOS0, "e", 1), 0);
    yield_until(client, &default_messages, 1);
    CHECK(default_messages >= 1);

    check_publish_errors(client);

    CHECK(IOT_MQTT_Unsubscribe(client, TOPIC_PREFIX "+") > 0);
    CHECK(IOT_MQTT_Unsubscribe(client, NULL) < 0);
    yield_until(client, &unsubscribe_acks, 1);
    CHECK_INT(unsubscribe_acks, 1);
    before = topic_messages;
    CHECK_INT(IOT_MQTT_Publish_Simple(client, TOPIC_PREFIX "three", IOTX_MQTT_QOS0, "gone", 4), 0);
    IOT_MQTT_Yield(client, 500);
    CHECK_INT(topic_messages, before);

    stale = client;
    CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    CHECK(client == NULL);
    CHECK(IOT_MQTT_Destroy(&stale) < 0);
    CHECK(IOT_MQTT_Yield(stale, 10) < 0);
    CHECK(IOT_MQTT_Publish_Simple(stale, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, "x", 1) < 0);
    CHECK(IOT_MQTT_Subscribe(stale, TOPIC_PREFIX "x", IOTX_MQTT_QOS0, on_topic, NULL) < 0);
    CHECK(IOT_MQTT_Unsubscribe(stale, TOPIC_PREFIX "x") < 0);
    CHECK_INT(IOT_MQTT_CheckStateNormal(stale), 0);

    /* Construct works again after Destroy. */
    memset(&params, 0, sizeof(params));
    client = IOT_MQTT_Construct(&params);
    CHECK(client != NULL);
    CHECK(client != stale);
    CHECK_INT(IOT_MQTT_CheckStateNormal(client), 1);
    CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    return check_report();
}
