/*
 * iotkit-rs on a microcontroller: the client functions of libiotkit_port.a
 * (crates/port), built no_std for thumbv7em-none-eabihf (mcu/), or for a
 * hosted target over a POSIX HAL port (tests/port_posix/).
 *
 * The library imports the firmware's HAL port with the vendor's signatures
 * (HAL_TCP_Establish/Read/Write/Destroy, HAL_UptimeMs, HAL_SleepMs,
 * HAL_Malloc/HAL_Free, HAL_Random, HAL_Kv_Set/Get/Del, HAL_Printf) and
 * iotkit_panic_hook (below). Single-threaded: call from one task.
 *
 * Every function returns 0 or a negative IOTKIT_MCU_ERR_* code; on failure
 * it prints a sentence with HAL_Printf and keeps it for
 * iotkit_mcu_last_error.
 */
#ifndef IOTKIT_MCU_H
#define IOTKIT_MCU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOTKIT_MCU_ERR_ARGUMENT (-2)      /* NULL pointer or unusable argument */
#define IOTKIT_MCU_ERR_TLS (-3)           /* credentials, handshake, connection */
#define IOTKIT_MCU_ERR_MQTT (-4)          /* refused, lost, protocol error */
#define IOTKIT_MCU_ERR_TIMEOUT (-5)       /* the server did not answer in time */
#define IOTKIT_MCU_ERR_NOT_CONNECTED (-6) /* not connected / identity unknown */
#define IOTKIT_MCU_ERR_REFUSED (-7)       /* refused subscription, window full, too large */

typedef struct {
    const char *host;     /* TCP host and the name the server certificate must carry */
    uint16_t port;
    const uint8_t *ca;    /* CA certificate(s), PEM or DER */
    size_t ca_len;
    const uint8_t *cert;  /* device certificate, PEM or DER */
    size_t cert_len;
    const uint8_t *key;   /* device private key, RSA or EC, PEM or DER, unencrypted */
    size_t key_len;
    uint16_t max_fragment; /* Max Fragment Length to ask for and require: 512, 1024, 2048
                            * or 4096, the MBEDTLS_SSL_IN_CONTENT_LEN of the build
                            * (IOTKIT_MCU_MAX_FRAGMENT); 0: none, 16 KiB records */
} iotkit_mcu_params_t;

/* A received message (topic and payload are not NUL-terminated). */
typedef void (*iotkit_mcu_on_message_t)(void *ctx, const char *topic, size_t topic_len,
                                        const uint8_t *payload, size_t payload_len);

/* Parses the credentials (the buffers may be freed afterwards) and reads the
 * persisted identity. NULL on failure, with the reason in `error`. */
void *iotkit_mcu_new(const iotkit_mcu_params_t *params, char *error, size_t error_len);
/* TLS handshake, CONNECT, CONNACK and, without a persisted identity, the
 * identity response on /ext/auth/identity/response (kept with HAL_Kv_Set). */
int iotkit_mcu_connect(void *client, uint32_t timeout_ms, iotkit_mcu_on_message_t on_message, void *ctx);
/* productKey and deviceName; 1: from HAL_Kv_Get at start, 0: learned now. */
int iotkit_mcu_identity(void *client, char *product_key, size_t pk_len, char *device_name, size_t dn_len);
/* The last handshake: IANA suite number, resumed (1/0), largest inbound record. */
int iotkit_mcu_handshake_info(void *client, uint16_t *ciphersuite, int *resumed, size_t *max_in_record);
/* QoS 0 or 1; waits for SUBACK. IOTKIT_MCU_ERR_REFUSED: the server refused the filter. */
int iotkit_mcu_subscribe(void *client, const char *filter, int qos, uint32_t timeout_ms,
                         iotkit_mcu_on_message_t on_message, void *ctx);
/* QoS 0 or 1; at QoS 1 waits for PUBACK. */
int iotkit_mcu_publish(void *client, const char *topic, const void *payload, size_t len, int qos,
                       uint32_t timeout_ms, iotkit_mcu_on_message_t on_message, void *ctx);
/* Runs the connection (keep-alive, incoming messages) for timeout_ms. */
int iotkit_mcu_yield(void *client, uint32_t timeout_ms, iotkit_mcu_on_message_t on_message, void *ctx);
/* DISCONNECT and close; iotkit_mcu_connect may follow (TLS session resumed when the server agrees). */
void iotkit_mcu_disconnect(void *client);
/* The sentence of the last failure, cut to fit `len`; returns its full length. */
size_t iotkit_mcu_last_error(void *client, char *out, size_t len);
/* Deletes the persisted identity (HAL_Kv_Del). */
int iotkit_mcu_forget_identity(void);
void iotkit_mcu_destroy(void *client);

/* Called on a panic inside the library with its message (not NUL-terminated).
 * Should log and reset the device and not return. The port in mcu/port gives a
 * weak default that prints over semihosting and exits with code 101; the POSIX
 * port in tests/port_posix one that prints and calls abort(). */
void iotkit_panic_hook(const char *message, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* IOTKIT_MCU_H */
