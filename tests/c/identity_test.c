/*
 * Malformed identity responses, end to end: after connecting (and learning
 * its identity from iotkit-sim), the device listens while the test script
 * publishes damaged payloads on /ext/auth/identity/response through the sim's
 * HTTP API. Each must give a state event, leave the identity unchanged, never
 * reach the identity callback, and keep the connection.
 *
 * Usage: identity_test READY_FILE EXPECTED_BAD_PAYLOADS SECONDS
 *
 * identity_test --switch CERT_A KEY_A DN_A CERT_B KEY_B DN_B: in one process,
 * connect with certificate A (g_cli_crt/g_cli_key) and learn its identity,
 * Destroy, assign certificate B and connect again: the second CONNECT must
 * not carry A's identity, and B must learn its own. Persistence is off, so
 * only the identity in memory is at stake.
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

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;
    if (file == NULL) {
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = (char *)calloc(1, (size_t)size + 1);
        if (text != NULL && fread(text, 1, (size_t)size, file) != (size_t)size) {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

static int connect_as(const char *cert_file, const char *key_file, const char *expected_dn)
{
    char *cert = read_file(cert_file);
    char *key = read_file(key_file);
    char dn[IOTX_DEVICE_NAME_LEN + 1];
    void *client;
    int before = identity_callbacks;

    CHECK(cert != NULL && key != NULL);
    g_cli_crt = cert;
    g_cli_key = key;
    client = IOT_MQTT_Construct(NULL);
    CHECK(client != NULL);
    dn[0] = '\0';
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, dn), 0);
    printf("[identity_test] connected with %s as DeviceName '%s'\n", cert_file, dn);
    CHECK_STR(dn, expected_dn);
    CHECK_INT(identity_callbacks, before + 1);
    if (client != NULL) {
        CHECK_INT(IOT_MQTT_Destroy(&client), 0);
    }
    g_cli_crt = NULL;
    g_cli_key = NULL;
    free(cert);
    free(key);
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

    if (argc == 8 && strcmp(argv[1], "--switch") == 0) {
        IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, on_identity);
        iotkit_x509_set_identity_persistence(0);
        IOT_SetLogLevel(IOT_LOG_INFO); /* the log shows each CONNECT's user name */
        connect_as(argv[2], argv[3], argv[4]);
        connect_as(argv[5], argv[6], argv[7]);
        return check_report();
    }
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
