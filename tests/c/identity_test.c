/*
 * Malformed identity responses, end to end: after connecting (and learning
 * its identity from iotkit-sim), the device listens while the test script
 * publishes damaged payloads on /ext/auth/identity/response through the sim's
 * HTTP API. Each must give a state event, leave the identity unchanged, never
 * reach the identity callback, and keep the connection.
 *
 * Usage: identity_test READY_FILE EXPECTED_BAD_PAYLOADS SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

static int identity_callbacks;
static int malformed_events;
static char first_payload[256];

static int on_identity(const char *payload)
{
    identity_callbacks++;
    if (identity_callbacks == 1) {
        snprintf(first_payload, sizeof(first_payload), "%s", payload);
    }
    return 0;
}

static int on_state(const int code, const char *message)
{
    if (code == STATE_USER_INPUT_META_INFO && strstr(message, "identity") != NULL) {
        malformed_events++;
        printf("[identity_test] state event: %s\n", message);
    }
    return 0;
}

int main(int argc, char *argv[])
{
    char pk_before[IOTX_PRODUCT_KEY_LEN + 1];
    char dn_before[IOTX_DEVICE_NAME_LEN + 1];
    char pk_after[IOTX_PRODUCT_KEY_LEN + 1];
    char dn_after[IOTX_DEVICE_NAME_LEN + 1];
    int expected_bad;
    int rounds;
    int i;
    void *client;
    FILE *ready;

    if (argc < 4) {
        fprintf(stderr, "usage: %s READY_FILE EXPECTED_BAD_PAYLOADS SECONDS\n", argv[0]);
        return 2;
    }
    expected_bad = atoi(argv[2]);
    rounds = atoi(argv[3]) * 10;
    IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, on_identity);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);

    client = IOT_MQTT_Construct(NULL);
    CHECK(client != NULL);
    if (client == NULL) {
        return check_report();
    }
    CHECK_INT(identity_callbacks, 1);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk_before), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, dn_before), 0);
    CHECK(pk_before[0] != '\0' && dn_before[0] != '\0');
    /* The payload reached the callback exactly as the platform sent it. */
    {
        char expected[256];
        snprintf(expected, sizeof(expected), "{\"productKey\":\"%s\",\"deviceName\":\"%s\"}", pk_before, dn_before);
        CHECK_STR(first_payload, expected);
    }
    CHECK(IOT_MQTT_Subscribe_Sync(client, "/ext/auth/identity/response", IOTX_MQTT_QOS0, NULL, NULL, 5000) >= 0);

    ready = fopen(argv[1], "w");
    if (ready != NULL) {
        fputs("ready\n", ready);
        fclose(ready);
    }
    for (i = 0; i < rounds && malformed_events < expected_bad; i++) {
        IOT_MQTT_Yield(client, 100);
    }
    IOT_MQTT_Yield(client, 300);

    CHECK_INT(malformed_events, expected_bad);
    CHECK_INT(identity_callbacks, 1);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk_after), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, dn_after), 0);
    CHECK_STR(pk_after, pk_before);
    CHECK_STR(dn_after, dn_before);
    CHECK_INT(IOT_MQTT_CheckStateNormal(client), 1);
    CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    return check_report();
}
