/*
 * The vendor-style MQTT example on QEMU mps2-an386: an X.509 device with
 * empty ProductKey/DeviceName connects with mutual TLS, learns its identity
 * from the identity response (or reuses the one persisted by an earlier
 * boot), subscribes to /PK/DN/user/get, publishes {"message":"hello!"} there
 * and waits for its own message.
 *
 * Host files read over semihosting (from QEMU's working directory):
 * endpoint.txt ("HOST PORT [reconnect]"), ca.pem, device.pem,
 * device.key, seed.bin (random bytes for HAL_Random; QEMU has no TRNG).
 * Exit code 0 when every step passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotkit_mcu.h"
#include "semihost.h"
#include "wrappers_min.h"

/* The inbound TLS record size the image is built for (0: 16 KiB). */
#ifndef IOTKIT_MCU_MAX_FRAGMENT
#define IOTKIT_MCU_MAX_FRAGMENT 0
#endif

static int received;
static char own_topic[200];

static void on_message(void *ctx, const char *topic, size_t topic_len, const uint8_t *payload, size_t len)
{
    (void)ctx;
    HAL_Printf("Message: Topic: %.*s Payload: %.*s\n", (int)topic_len, topic, (int)len, (const char *)payload);
    if (own_topic[0] == 0) {
        return; /* before the identity is known (queued for this client id) */
    }
    if (topic_len == strlen(own_topic) && memcmp(topic, own_topic, topic_len) == 0) {
        received++;
    } else {
        HAL_Printf("FAIL: a message on a topic this device did not subscribe to\n");
        sh_exit(11);
    }
}

static void heap(const char *when)
{
    uint32_t in_use, peak;
    mcu_heap_stats(&in_use, &peak);
    HAL_Printf("heap %s: in use %lu B, peak %lu B\n", when, (unsigned long)in_use, (unsigned long)peak);
}

static int connect_once(void *client, const char *label)
{
    uint32_t in_use, peak;
    mcu_heap_reset_peak();
    uint64_t t0 = HAL_UptimeMs();
    int rc = iotkit_mcu_connect(client, 60000, on_message, NULL);
    uint64_t t1 = HAL_UptimeMs();
    if (rc != 0) {
        HAL_Printf("FAIL: connect: %d\n", rc);
        return rc;
    }
    mcu_heap_stats(&in_use, &peak);
    uint16_t suite = 0;
    int resumed = 0;
    size_t max_in = 0;
    iotkit_mcu_handshake_info(client, &suite, &resumed, &max_in);
    HAL_Printf("%s: connected in %lu ms, cipher suite 0x%04X, %s handshake, inbound records up to %u B, "
               "heap peak during connect %lu B\n",
               label, (unsigned long)(t1 - t0), suite, resumed ? "resumed" : "full", (unsigned)max_in,
               (unsigned long)peak);
    return 0;
}

int main(void)
{
    HAL_Printf("mqtt_example on mps2-an386 (Cortex-M4)\n");
    size_t len = 0;
    uint8_t *seed = sh_read_file("seed.bin", &len);
    if (seed != NULL) {
        mcu_random_mix(seed, len);
        HAL_Free(seed);
    }
    HAL_Srandom(sh_time());

    size_t ep_len = 0, ca_len = 0, cert_len = 0, key_len = 0;
    char *endpoint = (char *)sh_read_file("endpoint.txt", &ep_len);
    uint8_t *ca = sh_read_file("ca.pem", &ca_len);
    uint8_t *cert = sh_read_file("device.pem", &cert_len);
    uint8_t *key = sh_read_file("device.key", &key_len);
    if (endpoint == NULL || ca == NULL || cert == NULL || key == NULL) {
        HAL_Printf("FAIL: endpoint.txt, ca.pem, device.pem and device.key must be in QEMU's working directory\n");
        return 2;
    }
    char host[101];
    size_t host_len = strcspn(endpoint, " \t\r\n");
    char *after = NULL;
    unsigned long port = host_len > 0 ? strtoul(endpoint + host_len, &after, 10) : 0;
    if (host_len == 0 || host_len >= sizeof host || after == endpoint + host_len || port == 0 || port > 65535) {
        HAL_Printf("FAIL: endpoint.txt must hold \"HOST PORT\"\n");
        return 2;
    }
    memcpy(host, endpoint, host_len);
    host[host_len] = 0;
    int reconnect = strstr(endpoint, "reconnect") != NULL;

    heap("at start");
    iotkit_mcu_params_t params = {
        .host = host,
        .port = (uint16_t)port,
        .ca = ca,
        .ca_len = ca_len,
        .cert = cert,
        .cert_len = cert_len,
        .key = key,
        .key_len = key_len,
        .max_fragment = IOTKIT_MCU_MAX_FRAGMENT,
    };
    char error[160];
    void *client = iotkit_mcu_new(&params, error, sizeof error);
    HAL_Free(ca);
    HAL_Free(cert);
    HAL_Free(key);
    HAL_Free(endpoint);
    if (client == NULL) {
        HAL_Printf("FAIL: iotkit_mcu_new: %s\n", error);
        return 3;
    }
    heap("with the credentials parsed");

    if (connect_once(client, "connection 1") != 0) {
        return 4;
    }
    char pk[80], dn[80];
    int from_store = iotkit_mcu_identity(client, pk, sizeof pk, dn, sizeof dn);
    if (from_store < 0) {
        HAL_Printf("FAIL: no identity\n");
        return 5;
    }
    HAL_Printf("identity: {\"productKey\":\"%s\",\"deviceName\":\"%s\"} (%s)\n", pk, dn,
               from_store ? "persisted by an earlier boot, sent as the CONNECT user name"
                          : "from the identity response, now persisted");

    char *topic = own_topic;
    snprintf(own_topic, sizeof own_topic, "/%s/%s/user/get", pk, dn);
    if (iotkit_mcu_subscribe(client, topic, 1, 10000, on_message, NULL) != 0) {
        HAL_Printf("FAIL: subscribe %s\n", topic);
        return 6;
    }
    HAL_Printf("subscribed to %s\n", topic);
    const char *hello = "{\"message\":\"hello!\"}";
    if (iotkit_mcu_publish(client, topic, hello, strlen(hello), 1, 10000, on_message, NULL) != 0) {
        HAL_Printf("FAIL: publish\n");
        return 7;
    }
    for (int i = 0; i < 100 && received == 0; i++) {
        if (iotkit_mcu_yield(client, 100, on_message, NULL) != 0) {
            HAL_Printf("FAIL: yield\n");
            return 8;
        }
    }
    if (received == 0) {
        HAL_Printf("FAIL: the echo did not arrive within 10 s\n");
        return 9;
    }
    heap("steady (connected, subscribed, after the echo)");

    if (reconnect) {
        iotkit_mcu_disconnect(client);
        if (connect_once(client, "connection 2") != 0) {
            return 10;
        }
        heap("steady after the reconnect");
    }
    iotkit_mcu_destroy(client);
    heap("after destroy");
    HAL_Printf("stack: %lu of %lu B used\n", (unsigned long)(mcu_stack_size() - mcu_stack_unused()),
               (unsigned long)mcu_stack_size());
    HAL_Printf("mqtt_example: OK\n");
    return 0;
}
