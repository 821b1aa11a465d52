/*
 * Every kind of firmware callback calling every API function, against a real
 * mosquitto with mutual TLS (scripts/with_mosquitto.sh sets the IOTX_*
 * variables). No callback may run under a library lock, so none of these
 * may deadlock, and none may recurse without end: the whole matrix must
 * finish before the alarm (and, under ASan, without a memory error). After
 * it, the library must still connect and round-trip a message.
 *
 * Callback kinds: state events (ITE_STATE_EVERYTHING), ITE_CONNECT_SUCC,
 * ITE_CONNECT_FAIL, ITE_DISCONNECTED, ITE_IDENTITY_RESPONSE, the MQTT event
 * handler (handle_event) and a topic message handler.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dev_sign_api.h"
#include "infra_compat.h"
#include "mqtt_api.h"
#include "wrappers.h"
#include "check.h"

enum kind { K_STATE, K_CONNECT_SUCC, K_CONNECT_FAIL, K_DISCONNECTED, K_IDENTITY, K_MQTT_EVENT, K_TOPIC, K_COUNT };
enum action {
    A_CONSTRUCT, A_DESTROY, A_YIELD, A_PUBLISH, A_SUBSCRIBE, A_UNSUBSCRIBE,
    A_IOCTL, A_SIGN, A_SSL, A_KV, A_COUNT
};
static const char *kind_names[K_COUNT] = {
    "state event", "ITE_CONNECT_SUCC", "ITE_CONNECT_FAIL", "ITE_DISCONNECTED",
    "ITE_IDENTITY_RESPONSE", "MQTT event handler", "topic handler"
};
static const char *action_names[A_COUNT] = {
    "IOT_MQTT_Construct", "IOT_MQTT_Destroy", "IOT_MQTT_Yield", "IOT_MQTT_Publish_Simple",
    "IOT_MQTT_Subscribe", "IOT_MQTT_Unsubscribe", "IOT_Ioctl", "IOT_Sign_MQTT",
    "HAL_SSL_Establish/Destroy", "HAL_Kv_Set/Get"
};

#define PK "a1Matrix"
#define DN "matrix-device"
/* With its own |...| section the client id is sent exactly as given, so
 * kick_client can take it over. */
#define CLIENT_ID "matrix-device|securemode=2,signmethod=hmacsha1|"
#define TOPIC "/matrix/topic"

static int current_kind = -1;
static int current_action;
static int armed;
static int fired;
static void *client;
static char *ca_pem;
static char *cert_pem;
static char *key_pem;
static const char *broker_port;
static int topic_messages;

static void on_mqtt_event(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg);

static char *read_file(const char *path)
{
    FILE *file = path ? fopen(path, "rb") : NULL;
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

static void *construct(void)
{
    iotx_mqtt_param_t params;
    memset(&params, 0, sizeof(params));
    params.client_id = CLIENT_ID;
    params.request_timeout_ms = 1000;
    params.handle_event.h_fp = on_mqtt_event;
    return IOT_MQTT_Construct(&params);
}

static void run_action(void)
{
    switch (current_action) {
    case A_CONSTRUCT: {
        void *made = construct();
        if (client == NULL) {
            client = made;
        }
        break;
    }
    case A_DESTROY:
        if (client != NULL) {
            void *gone = client;
            client = NULL;
            (void)IOT_MQTT_Destroy(&gone);
        }
        break;
    case A_YIELD:
        (void)IOT_MQTT_Yield(client, 10);
        break;
    case A_PUBLISH:
        (void)IOT_MQTT_Publish_Simple(client, "/matrix/other", IOTX_MQTT_QOS0, "x", 1);
        break;
    case A_SUBSCRIBE:
        (void)IOT_MQTT_Subscribe(client, "/matrix/sub", IOTX_MQTT_QOS0, NULL, NULL);
        break;
    case A_UNSUBSCRIBE:
        (void)IOT_MQTT_Unsubscribe(client, "/matrix/sub");
        break;
    case A_IOCTL: {
        char pk[IOTX_PRODUCT_KEY_LEN + 1];
        (void)IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk);
        break;
    }
    case A_SIGN: {
        iotx_dev_meta_info_t meta;
        iotx_sign_mqtt_t out;
        memset(&meta, 0, sizeof(meta));
        memset(&out, 0, sizeof(out));
        (void)IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out);
        break;
    }
    case A_SSL: {
        uintptr_t tls = HAL_SSL_Establish("localhost", (uint16_t)atoi(broker_port), ca_pem,
                                          (uint32_t)strlen(ca_pem) + 1);
        if (tls != 0) {
            (void)HAL_SSL_Destroy(tls);
        }
        break;
    }
    case A_KV: {
        char value[8];
        int len = (int)sizeof(value);
        (void)HAL_Kv_Set("matrix-key", "v", 1, 1);
        (void)HAL_Kv_Get("matrix-key", value, &len);
        break;
    }
    default:
        break;
    }
}

/* Runs the round's action once, from the first callback of the round's kind. */
static void callback_of(int kind)
{
    if (kind == current_kind && armed) {
        armed = 0;
        run_action();
        fired = 1;
    }
}

static int on_state(const int code, const char *message)
{
    (void)code;
    (void)message;
    callback_of(K_STATE);
    return 0;
}
static int on_connect_succ(void) { callback_of(K_CONNECT_SUCC); return 0; }
static int on_connect_fail(void) { callback_of(K_CONNECT_FAIL); return 0; }
static int on_disconnected(void) { callback_of(K_DISCONNECTED); return 0; }
static int on_identity(const char *payload)
{
    (void)payload;
    callback_of(K_IDENTITY);
    return 0;
}

static void on_mqtt_event(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pcontext;
    (void)pclient;
    (void)msg;
    callback_of(K_MQTT_EVENT);
}

static void on_topic(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pcontext;
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        topic_messages++;
    }
    callback_of(K_TOPIC);
}

static void set_identity(const char *pk, const char *dn)
{
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)pk), 0);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_DEVICE_NAME, (void *)dn), 0);
}

static void ensure_client(void)
{
    if (client == NULL) {
        client = construct();
    }
}

static void drop_client(void)
{
    if (client != NULL) {
        void *gone = client;
        client = NULL;
        (void)IOT_MQTT_Destroy(&gone);
    }
}

/* Serves the client (while there is one) until the round's callback ran. */
static void wait_fired(void)
{
    int i;
    for (i = 0; i < 200 && !fired; i++) {
        if (client == NULL) {
            break;
        }
        (void)IOT_MQTT_Yield(client, 50);
    }
}

/* Another connection with the same client id (a hand-made CONNECT over
 * HAL_SSL_*): the broker drops ours. */
static void kick_client(void)
{
    unsigned char packet[128];
    unsigned char reply[4];
    size_t id_len = strlen(CLIENT_ID);
    size_t len = 0;
    uintptr_t tls;
    static const unsigned char head[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60};

    packet[len++] = 0x10;
    packet[len++] = (unsigned char)(sizeof(head) + 2 + id_len);
    memcpy(packet + len, head, sizeof(head));
    len += sizeof(head);
    packet[len++] = 0;
    packet[len++] = (unsigned char)id_len;
    memcpy(packet + len, CLIENT_ID, id_len);
    len += id_len;
    tls = HAL_SSL_Establish("localhost", (uint16_t)atoi(broker_port), ca_pem, (uint32_t)strlen(ca_pem) + 1);
    CHECK(tls != 0);
    if (tls == 0) {
        return;
    }
    CHECK_INT(HAL_SSL_Write(tls, (const char *)packet, (int)len, 2000), (int)len);
    CHECK_INT(HAL_SSL_Read(tls, (char *)reply, 4, 2000), 4);
    CHECK_INT(reply[0], 0x20);
    (void)HAL_SSL_Destroy(tls);
}

static void trigger(int kind)
{
    switch (kind) {
    case K_STATE:
        ensure_client();
        /* A made-up handle is refused with a state event naming it. */
        (void)IOT_MQTT_Publish_Simple((void *)(uintptr_t)(0x100000 + 8 * current_action), TOPIC,
                                      IOTX_MQTT_QOS0, "x", 1);
        break;
    case K_CONNECT_SUCC:
        drop_client();
        ensure_client();
        break;
    case K_CONNECT_FAIL:
        drop_client();
        setenv("IOTX_MQTT_PORT", "1", 1); /* nothing listens on port 1 */
        client = construct();
        CHECK(client == NULL || current_action == A_CONSTRUCT);
        setenv("IOTX_MQTT_PORT", broker_port, 1);
        break;
    case K_DISCONNECTED: {
        int i;
        /* A fresh client each round: after a kick the old one waits out its
         * reconnect backoff, which grows with every kick inside one
         * keep-alive period (up to a minute), and only a connected client can
         * be disconnected. */
        drop_client();
        ensure_client();
        /* Online first (Construct returns connected; this only guards). */
        for (i = 0; i < 200 && client != NULL && !IOT_MQTT_CheckStateNormal(client); i++) {
            (void)IOT_MQTT_Yield(client, 50);
        }
        kick_client();
        break;
    }
    case K_IDENTITY: {
        static const char response[] = "{\"productKey\":\"" PK "\",\"deviceName\":\"" DN "\"}";
        drop_client();
        set_identity("", ""); /* unknown: the response is accepted */
        ensure_client();
        if (client != NULL) {
            (void)IOT_MQTT_Subscribe(client, "/ext/auth/identity/response", IOTX_MQTT_QOS0, NULL, NULL);
            (void)IOT_MQTT_Yield(client, 100);
            (void)IOT_MQTT_Publish_Simple(client, "/ext/auth/identity/response", IOTX_MQTT_QOS0,
                                          (void *)response, (int)strlen(response));
        }
        break;
    }
    case K_MQTT_EVENT:
        ensure_client();
        (void)IOT_MQTT_Subscribe(client, "/matrix/event", IOTX_MQTT_QOS0, NULL, NULL);
        break;
    case K_TOPIC:
        ensure_client();
        (void)IOT_MQTT_Subscribe(client, TOPIC, IOTX_MQTT_QOS0, on_topic, NULL);
        (void)IOT_MQTT_Yield(client, 100);
        (void)IOT_MQTT_Publish_Simple(client, TOPIC, IOTX_MQTT_QOS0, "m", 1);
        break;
    default:
        break;
    }
}

int main(void)
{
    int kind;
    int action;
    int before;

    /* A deadlock ends the test here instead of hanging it. */
    alarm(600);
    broker_port = getenv("MOSQUITTO_PORT");
    ca_pem = read_file(getenv("IOTX_X509_CA_FILE"));
    cert_pem = read_file(getenv("IOTX_X509_CERT_FILE"));
    key_pem = read_file(getenv("IOTX_X509_KEY_FILE"));
    if (broker_port == NULL || ca_pem == NULL || cert_pem == NULL || key_pem == NULL) {
        fprintf(stderr, "run me with scripts/with_mosquitto.sh\n");
        return 2;
    }
    IOT_SetLogLevel(IOT_LOG_NONE);
    iotkit_x509_set_identity_persistence(0);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);
    IOT_RegisterCallback(ITE_CONNECT_SUCC, on_connect_succ);
    IOT_RegisterCallback(ITE_CONNECT_FAIL, on_connect_fail);
    IOT_RegisterCallback(ITE_DISCONNECTED, on_disconnected);
    IOT_RegisterCallback(ITE_IDENTITY_RESPONSE, on_identity);

    for (kind = 0; kind < K_COUNT; kind++) {
        for (action = 0; action < A_COUNT; action++) {
            set_identity(PK, DN);
            current_kind = kind;
            current_action = action;
            fired = 0;
            armed = 1;
            trigger(kind);
            wait_fired();
            armed = 0;
            if (!fired) {
                fprintf(stderr, "%s never called back (action %s)\n", kind_names[kind], action_names[action]);
            }
            CHECK(fired);
            printf("%-22s -> %-26s %s\n", kind_names[kind], action_names[action], fired ? "ok" : "NOT CALLED");
            fflush(stdout);
        }
    }
    current_kind = -1;

    /* Still working: connect, subscribe, round-trip a message. */
    set_identity(PK, DN);
    drop_client();
    ensure_client();
    CHECK(client != NULL);
    if (client != NULL) {
        int i;
        CHECK(IOT_MQTT_Subscribe_Sync(client, TOPIC, IOTX_MQTT_QOS1, on_topic, NULL, 5000) >= 0);
        before = topic_messages;
        CHECK(IOT_MQTT_Publish_Simple(client, TOPIC, IOTX_MQTT_QOS1, "end", 3) >= 0);
        for (i = 0; i < 100 && topic_messages == before; i++) {
            (void)IOT_MQTT_Yield(client, 50);
        }
        CHECK(topic_messages > before);
    }
    drop_client();
    free(ca_pem);
    free(cert_pem);
    free(key_pem);
    return check_report();
}
