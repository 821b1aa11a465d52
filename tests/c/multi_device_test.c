/*
 * Several X.509 devices in one process (iotkit_mqtt_construct_x509): each
 * with its own certificate and key learns its own identity from iotkit-sim,
 * subscribes to its own topic and receives its own message; the vendor API's
 * global identity stays untouched.
 *
 * Usage: multi_device_test HOST PORT CA.pem CERT1 KEY1 [CERT2 KEY2 ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

#define MAX_DEVICES 8

static int received[MAX_DEVICES];

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

static void on_message(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        received[(int)(intptr_t)pcontext]++;
    }
}

int main(int argc, char *argv[])
{
    void *clients[MAX_DEVICES];
    char pk[MAX_DEVICES][IOTX_PRODUCT_KEY_LEN + 1];
    char dn[MAX_DEVICES][IOTX_DEVICE_NAME_LEN + 1];
    char global_pk[IOTX_PRODUCT_KEY_LEN + 1];
    char *ca;
    int count;
    int i;
    int round;

    if (argc < 6 || (argc - 4) % 2 != 0 || (argc - 4) / 2 > MAX_DEVICES) {
        fprintf(stderr, "usage: %s HOST PORT CA CERT KEY [CERT KEY ...]\n", argv[0]);
        return 2;
    }
    count = (argc - 4) / 2;
    ca = read_file(argv[3]);
    CHECK(iotkit_mqtt_construct_x509(NULL) == NULL);
    for (i = 0; i < count; i++) {
        iotkit_x509_client_params_t params;
        char *cert = read_file(argv[4 + 2 * i]);
        char *key = read_file(argv[5 + 2 * i]);
        memset(&params, 0, sizeof(params));
        params.host = argv[1];
        params.port = (uint16_t)atoi(argv[2]);
        params.ca_pem = ca;
        params.cert = cert;
        params.key = key;
        params.wait_for_identity = 1;
        clients[i] = iotkit_mqtt_construct_x509(&params);
        CHECK(clients[i] != NULL);
        free(cert);
        memset(key, 0, strlen(key));
        free(key);
        if (clients[i] == NULL) {
            return check_report();
        }
        CHECK_INT(iotkit_mqtt_get_identity(clients[i], pk[i], dn[i]), 0);
        CHECK(pk[i][0] != '\0' && dn[i][0] != '\0');
        printf("device %d: %s/%s\n", i, pk[i], dn[i]);
    }
    for (i = 1; i < count; i++) {
        CHECK(strcmp(dn[i], dn[0]) != 0);
    }
    /* The vendor API's identity is not touched by these clients. */
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, global_pk), 0);
    CHECK_STR(global_pk, "");

    for (i = 0; i < count; i++) {
        char topic[128];
        HAL_Snprintf(topic, sizeof(topic), "/%s/%s/user/get", pk[i], dn[i]);
        CHECK(IOT_MQTT_Subscribe_Sync(clients[i], topic, IOTX_MQTT_QOS1, on_message, (void *)(intptr_t)i, 5000) > 0);
        CHECK(IOT_MQTT_Publish_Simple(clients[i], topic, IOTX_MQTT_QOS1, "hi", 2) > 0);
    }
    for (round = 0; round < 50; round++) {
        int done = 1;
        for (i = 0; i < count; i++) {
            IOT_MQTT_Yield(clients[i], 20);
            done = done && received[i] > 0;
        }
        if (done) {
            break;
        }
    }
    for (i = 0; i < count; i++) {
        CHECK_INT(received[i], 1);
        CHECK_INT(IOT_MQTT_Destroy(&clients[i]), 0);
    }
    free(ca);
    return check_report();
}
