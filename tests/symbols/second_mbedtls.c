/*
 * Firmware that links its own mbedTLS beside libiotkit.a (most RTOS SDKs
 * ship one). Built two ways:
 *   SECOND_MBEDTLS_SYSTEM: linked with a real second mbedTLS (Debian's
 *     libmbedtls.a, libmbedx509.a, libmbedcrypto.a, another 2.28 release);
 *   otherwise: this file defines a few mbedtls_* functions itself, as a
 *     firmware's own TLS port would.
 * Either way the firmware's calls must reach its own mbedTLS, and iotkit must
 * keep using its own: a mutual-TLS connection to the broker that
 * scripts/with_mosquitto.sh runs (IOTX_* variables) must succeed. Before
 * libiotkit.a localised its mbedtls_* symbols this either did not link
 * (multiple definitions) or the firmware silently got iotkit's copy.
 */
#include <stdio.h>
#include <string.h>
#include "infra_compat.h"
#include "mqtt_api.h"
#include "wrappers.h"

#ifdef SECOND_MBEDTLS_SYSTEM
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

static int check_firmware_mbedtls(void)
{
    static const unsigned char abc_digest[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    unsigned char digest[32];
    mbedtls_ssl_context ssl;
    unsigned int version = mbedtls_version_get_number();
    if (version != (unsigned int)MBEDTLS_VERSION_NUMBER) {
        fprintf(stderr, "the firmware's mbedtls_version_get_number() returned 0x%08x, its own mbedTLS is 0x%08x: "
                        "the call reached another copy of mbedTLS\n", version, (unsigned int)MBEDTLS_VERSION_NUMBER);
        return -1;
    }
    if (mbedtls_sha256_ret((const unsigned char *)"abc", 3, digest, 0) != 0 ||
        memcmp(digest, abc_digest, sizeof(digest)) != 0) {
        fprintf(stderr, "the firmware's mbedTLS computed a wrong SHA-256\n");
        return -1;
    }
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_free(&ssl);
    printf("firmware mbedTLS %s in use beside iotkit\n", MBEDTLS_VERSION_STRING);
    return 0;
}
#else
/* The firmware's own mbedTLS port: same names as mbedTLS, its own bodies. */
static int firmware_calls;

typedef struct {
    int initialised;
} mbedtls_ssl_context;

void mbedtls_ssl_init(mbedtls_ssl_context *ssl);
void mbedtls_ssl_free(mbedtls_ssl_context *ssl);
unsigned int mbedtls_version_get_number(void);
int mbedtls_ssl_write(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len);

void mbedtls_ssl_init(mbedtls_ssl_context *ssl)
{
    ssl->initialised = 0x5eed;
    firmware_calls++;
}

void mbedtls_ssl_free(mbedtls_ssl_context *ssl)
{
    ssl->initialised = 0;
    firmware_calls++;
}

unsigned int mbedtls_version_get_number(void)
{
    firmware_calls++;
    return 0x7f000000u;
}

int mbedtls_ssl_write(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len)
{
    (void)buf;
    firmware_calls++;
    return ssl->initialised == 0x5eed ? (int)len : -1;
}

static int check_firmware_mbedtls(void)
{
    mbedtls_ssl_context ssl;
    firmware_calls = 0;
    mbedtls_ssl_init(&ssl);
    if (mbedtls_version_get_number() != 0x7f000000u || mbedtls_ssl_write(&ssl, (const unsigned char *)"x", 1) != 1) {
        fprintf(stderr, "the firmware's mbedtls_* calls did not reach its own definitions\n");
        return -1;
    }
    mbedtls_ssl_free(&ssl);
    if (firmware_calls != 4) {
        fprintf(stderr, "the firmware's own mbedtls_* functions ran %d times, not 4\n", firmware_calls);
        return -1;
    }
    printf("firmware mbedtls_* stand-ins in use beside iotkit\n");
    return 0;
}
#endif

int main(void)
{
    iotx_mqtt_param_t params;
    void *client;
    if (check_firmware_mbedtls() != 0) {
        return 1;
    }
    IOT_SetLogLevel(IOT_LOG_WARNING);
    IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)"a1TwoTls001");
    IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)"two-tls-device");
    memset(&params, 0, sizeof(params));
    client = IOT_MQTT_Construct(&params);
    if (client == NULL) {
        fprintf(stderr, "iotkit could not connect over mutual TLS beside the firmware's mbedTLS\n");
        return 2;
    }
    if (IOT_MQTT_Publish_Simple(client, "/a1TwoTls001/two-tls-device/user/update", IOTX_MQTT_QOS1, "hi", 2) < 0 ||
        IOT_MQTT_Yield(client, 200) < 0 || IOT_MQTT_CheckStateNormal(client) != 1) {
        fprintf(stderr, "iotkit's connection failed after the handshake\n");
        IOT_MQTT_Destroy(&client);
        return 3;
    }
    IOT_MQTT_Destroy(&client);
    if (check_firmware_mbedtls() != 0) {
        return 4;
    }
    printf("iotkit connected over TLS with its own mbedTLS; the firmware's mbedTLS is its own\n");
    return 0;
}
