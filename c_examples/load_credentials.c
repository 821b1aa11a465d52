/*
 * Firmware that keeps its certificate and key in secure storage assigns the
 * vendor's globals g_cli_crt / g_cli_key at run time, before connecting.
 * Here "secure storage" is two files named on the command line.
 *
 * Usage: load_credentials CERT.pem KEY.pem [yield_rounds]
 * (CA and endpoint from IOTX_X509_CA_FILE / IOTX_MQTT_HOST / IOTX_MQTT_PORT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "mqtt_api.h"
#include "wrappers.h"

static int echoes;

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (file == NULL) {
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = (char *)malloc((size_t)size + 1);
        if (text != NULL && fread(text, 1, (size_t)size, file) == (size_t)size) {
            text[size] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

static void on_message(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    iotx_mqtt_topic_info_pt info = (iotx_mqtt_topic_info_pt)msg->msg;
    (void)pcontext;
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        echoes++;
        printf("[load_credentials] received %.*s\n", (int)info->payload_len, info->payload);
    }
}

int main(int argc, char *argv[])
{
    char product_key[IOTX_PRODUCT_KEY_LEN + 1] = "";
    char device_name[IOTX_DEVICE_NAME_LEN + 1] = "";
    char topic[128];
    char *cert;
    char *key;
    void *client;
    int rounds = argc > 3 ? atoi(argv[3]) : 25;
    int i;

    if (argc < 3) {
        fprintf(stderr, "usage: %s CERT.pem KEY.pem [yield_rounds]\n", argv[0]);
        return 2;
    }
    cert = read_file(argv[1]);
    key = read_file(argv[2]);
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "cannot read %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    g_cli_crt = cert;
    g_cli_key = key;

    client = IOT_MQTT_Construct(NULL);
    if (client == NULL) {
        printf("[load_credentials] construct failed\n");
        return 1;
    }
    IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, product_key);
    IOT_Ioctl(IOTX_IOCTL_GET_DEVICE_NAME, device_name);
    printf("[load_credentials] connected as %s/%s\n", product_key, device_name);
    HAL_Snprintf(topic, sizeof(topic), "/%s/%s/user/get", product_key, device_name);
    IOT_MQTT_Subscribe_Sync(client, topic, IOTX_MQTT_QOS0, on_message, NULL, 5000);
    IOT_MQTT_Publish_Simple(NULL, topic, IOTX_MQTT_QOS0, (void *)"from-globals", 12);
    for (i = 0; i < rounds && echoes == 0; i++) {
        IOT_MQTT_Yield(client, 200);
    }
    IOT_MQTT_Destroy(&client);

    /* The key is secret: wipe it before giving the memory back. */
    g_cli_crt = NULL;
    g_cli_key = NULL;
    memset(key, 0, strlen(key));
    free(key);
    free(cert);
    return echoes > 0 ? 0 : 1;
}
