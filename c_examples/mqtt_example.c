/*
 * The MQTT example as firmware written for the Link SDK for C 3.2.x has it,
 * set up for X.509: ProductKey, DeviceName and DeviceSecret start empty and
 * the platform tells the device who it is after the TLS handshake.
 *
 * Two departures from the vendor's example: the loop runs a number of times
 * given on the command line (default 20), and the certificate, key, CA and
 * endpoint come at run time, never from the source. Usage:
 *   mqtt_example [loop_count [ProductKey DeviceName]]
 * (a broker that sends no identity response, such as mosquitto, needs the
 * identity up front), with these from the environment:
 *   IOTX_X509_CERT_FILE, IOTX_X509_KEY_FILE   device certificate and key (PEM)
 *   IOTX_X509_CA_FILE                         the platform's root CA (PEM)
 *   IOTX_MQTT_HOST, IOTX_MQTT_PORT            endpoint (default: the platform's x509 endpoint)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "dev_sign_api.h"
#include "mqtt_api.h"
#include "wrappers.h"

char g_product_key[IOTX_PRODUCT_KEY_LEN + 1] = "";
char g_device_name[IOTX_DEVICE_NAME_LEN + 1] = "";
char g_device_secret[IOTX_DEVICE_SECRET_LEN + 1] = "";

#define EXAMPLE_TRACE(...)                                      \
    do {                                                        \
        HAL_Printf("\033[1;32;40m%s.%d: ", __func__, __LINE__); \
        HAL_Printf(__VA_ARGS__);                                \
        HAL_Printf("\033[0m\r\n");                              \
    } while (0)

static int identity_response_handle(const char *payload)
{
    EXAMPLE_TRACE("identity: %s", payload);
    return 0;
}

static int everything_state_handle(const int state_code, const char *state_message)
{
    /* Errors and connection facts; the routine ones stay quiet. */
    if (state_code < 0) {
        EXAMPLE_TRACE("state -0x%04x: %s", -state_code, state_message);
    }
    return 0;
}

static void example_message_arrive(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    iotx_mqtt_topic_info_t *topic_info = (iotx_mqtt_topic_info_pt)msg->msg;

    (void)pcontext;
    (void)pclient;
    switch (msg->event_type) {
        case IOTX_MQTT_EVENT_PUBLISH_RECEIVED:
            EXAMPLE_TRACE("Message Arrived:");
            EXAMPLE_TRACE("Topic  : %.*s", topic_info->topic_len, topic_info->ptopic);
            EXAMPLE_TRACE("Payload: %.*s", (int)topic_info->payload_len, topic_info->payload);
            break;
        default:
            break;
    }
}

static int example_subscribe(void *handle)
{
    int res = 0;
    const char *fmt = "/%s/%s/user/get";
    char *topic = NULL;
    int topic_len = 0;

    topic_len = strlen(fmt) + strlen(g_product_key) + strlen(g_device_name) + 1;
    topic = (char *)HAL_Malloc(topic_len);
    if (topic == NULL) {
        EXAMPLE_TRACE("memory not enough");
        return -1;
    }
    memset(topic, 0, topic_len);
    HAL_Snprintf(topic, topic_len, fmt, g_product_key, g_device_name);

    res = IOT_MQTT_Subscribe(handle, topic, IOTX_MQTT_QOS0, example_message_arrive, NULL);
    if (res < 0) {
        EXAMPLE_TRACE("subscribe failed");
        HAL_Free(topic);
        return -1;
    }
    EXAMPLE_TRACE("subscribed to %s", topic);
    HAL_Free(topic);
    return 0;
}

static int example_publish(void *handle)
{
    int res = 0;
    const char *fmt = "/%s/%s/user/get";
    char *topic = NULL;
    int topic_len = 0;
    char *payload = "{\"message\":\"hello!\"}";

    (void)handle; /* the vendor's example publishes through the default client */

    topic_len = strlen(fmt) + strlen(g_product_key) + strlen(g_device_name) + 1;
    topic = (char *)HAL_Malloc(topic_len);
    if (topic == NULL) {
        EXAMPLE_TRACE("memory not enough");
        return -1;
    }
    memset(topic, 0, topic_len);
    HAL_Snprintf(topic, topic_len, fmt, g_product_key, g_device_name);

    res = IOT_MQTT_Publish_Simple(0, topic, IOTX_MQTT_QOS0, payload, strlen(payload));
    if (res < 0) {
        EXAMPLE_TRACE("publish failed, res = %d", res);
        HAL_Free(topic);
        return -1;
    }
    EXAMPLE_TRACE("published to %s", topic);
    HAL_Free(topic);
    return 0;
}

static void example_event_handle(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pcontext;
    (void)pclient;
    EXAMPLE_TRACE("msg->event_type : %d", msg->event_type);
}

int main(int argc, char *argv[])
{
    void *pclient = NULL;
    int res = 0;
    int loop_cnt = 0;
    int loop_max = 20;
    iotx_mqtt_param_t mqtt_params;

    if (argc > 1) {
        loop_max = atoi(argv[1]);
    }
    if (argc > 3) {
        HAL_Snprintf(g_product_key, sizeof(g_product_key), "%s", argv[2]);
        HAL_Snprintf(g_device_name, sizeof(g_device_name), "%s", argv[3]);
    }

    IOT_SetLogLevel(IOT_LOG_WARNING);
    IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, g_product_key);
    IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, g_device_name);
    IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_SECRET, g_device_secret);

    IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, identity_response_handle);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, everything_state_handle);

    EXAMPLE_TRACE("mqtt example");

    memset(&mqtt_params, 0x0, sizeof(mqtt_params));
    mqtt_params.handle_event.h_fp = example_event_handle;

    pclient = IOT_MQTT_Construct(&mqtt_params);
    if (NULL == pclient) {
        EXAMPLE_TRACE("MQTT construct failed");
        return -1;
    }

    IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, g_product_key);
    IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, g_device_name);
    EXAMPLE_TRACE("ProductKey: %s, DeviceName: %s", g_product_key, g_device_name);

    res = example_subscribe(pclient);
    if (res < 0) {
        IOT_MQTT_Destroy(&pclient);
        return -1;
    }

    while (loop_cnt < loop_max) {
        if (0 == loop_cnt % 20) {
            example_publish(pclient);
        }

        IOT_MQTT_Yield(pclient, 200);

        loop_cnt += 1;
    }

    IOT_MQTT_Destroy(&pclient);
    return 0;
}
