/*
 * Shows the X.509 identity being kept: run it twice. The first run connects
 * with an empty user name, receives the identity response and persists it;
 * the second run's first CONNECT already carries "DeviceName&ProductKey"
 * and the ProductKey is known before any message arrives.
 *
 * Usage: x509_reconnect [yield_rounds]   (credentials, CA and endpoint from
 * the IOTX_* environment variables, as in mqtt_example). Exits 0 when the
 * device knew its identity and received its own message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "mqtt_api.h"
#include "wrappers.h"

static int identity_responses;
static int echoes;

static int on_identity(const char *payload)
{
    identity_responses++;
    printf("[x509_reconnect] identity response: %s\n", payload);
    return 0;
}

static int on_state(const int code, const char *message)
{
    /* The library reports every CONNECT it sends (client id, user name). */
    if (code == STATE_MQTT_CONN_USER_INFO && strncmp(message, "CONNECT", 7) == 0) {
        printf("[x509_reconnect] %s\n", message);
    } else if (code < 0 && code != STATE_MQTT_SUB_INFO && code != STATE_MQTT_PUB_INFO) {
        printf("[x509_reconnect] state -0x%04X: %s\n", -code, message);
    }
    return 0;
}

static void on_message(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    iotx_mqtt_topic_info_pt info = (iotx_mqtt_topic_info_pt)msg->msg;
    (void)pcontext;
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        echoes++;
        printf("[x509_reconnect] received on %.*s: %.*s\n", info->topic_len, info->ptopic,
               (int)info->payload_len, info->payload);
    }
}

int main(int argc, char *argv[])
{
    char product_key[IOTX_PRODUCT_KEY_LEN + 1] = "";
    char device_name[IOTX_DEVICE_NAME_LEN + 1] = "";
    char topic[128];
    const char *payload = "{\"hello\":\"again\"}";
    iotx_mqtt_param_t params;
    void *client;
    int rounds = argc > 1 ? atoi(argv[1]) : 25;
    int i;

    IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, on_identity);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);

    memset(&params, 0, sizeof(params));
    client = IOT_MQTT_Construct(&params);
    if (client == NULL) {
        printf("[x509_reconnect] construct failed\n");
        return 1;
    }
    IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, product_key);
    IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, device_name);
    printf("[x509_reconnect] after Construct: ProductKey=%s DeviceName=%s (identity responses so far: %d)\n",
           product_key, device_name, identity_responses);
    if (product_key[0] == '\0' || device_name[0] == '\0') {
        printf("[x509_reconnect] identity unknown\n");
        IOT_MQTT_Destroy(&client);
        return 1;
    }

    HAL_Snprintf(topic, sizeof(topic), "/%s/%s/user/get", product_key, device_name);
    if (IOT_MQTT_Subscribe_Sync(client, topic, IOTX_MQTT_QOS1, on_message, NULL, 5000) < 0) {
        printf("[x509_reconnect] subscribe failed\n");
        IOT_MQTT_Destroy(&client);
        return 1;
    }
    IOT_MQTT_Publish_Simple(client, topic, IOTX_MQTT_QOS1, (void *)payload, (int)strlen(payload));
    for (i = 0; i < rounds && echoes == 0; i++) {
        IOT_MQTT_Yield(client, 200);
    }
    IOT_MQTT_Destroy(&client);
    printf("[x509_reconnect] %s\n", echoes > 0 ? "echo received" : "no echo");
    return echoes > 0 ? 0 : 1;
}
