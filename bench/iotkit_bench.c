/*
 * iotkit_bench: connect time, QoS 0 throughput, QoS 1 round trip and heap
 * use of iotkit-rs through the vendor API only, against a mutual-TLS broker
 * on loopback (scripts/with_mosquitto.sh sets the IOTX_* variables). Paho C
 * runs the same workloads in paho_bench.c; scripts/bench.sh runs both.
 *
 * Each client is made with iotkit_mqtt_construct_x509 with a known identity,
 * so no identity response is awaited (mosquitto sends none): the connect
 * time is TCP + TLS handshake + CONNECT/CONNACK, as for Paho.
 *
 * CPU time: after the timed runs (which poll with IOT_MQTT_Yield(client, 0),
 * so their wall-clock figures stay comparable with earlier runs), the same
 * QoS 0 and QoS 1 workloads run again with waits that block, and the
 * process's user + system time (getrusage) per message is reported. The
 * wait blocks in poll() on the client's socket and then hands what arrived
 * to IOT_MQTT_Yield(client, 0); a second variant blocks in
 * IOT_MQTT_Yield(client, 1) alone (public API only, but each call also
 * sleeps out the rest of its millisecond: one timer wake-up more per call,
 * reported as cpu_yield1_idle).
 *
 * Usage: iotkit_bench [--connects N] [--qos0 N] [--window N] [--qos1 N] [--idle N] [--payload BYTES]
 *                     [--cpu-qos0 N] [--cpu-qos1 N]
 * Prints `RESULT iotkit <metric> <value> <unit>` lines. Run under
 * LD_PRELOAD=libmalloc_count.so for the whole-process heap figures.
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "mqtt_api.h"
#include "wrappers.h"

#define CLIENT "iotkit"
#define BENCH_PRODUCT_KEY "a1BenchPK00"
#define BENCH_DEVICE_NAME "bench-device"
#define BENCH_TOPIC "/" BENCH_PRODUCT_KEY "/" BENCH_DEVICE_NAME "/user/bench"

typedef struct {
    const char *host;
    uint16_t port;
    char *ca;
    char *cert;
    char *key;
} endpoint_t;

static volatile long g_received;
static volatile long g_last_seq = -1;

static void on_message(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pcontext;
    (void)pclient;
    if (msg->event_type != IOTX_MQTT_EVENT_PUBLISH_RECEIVED) {
        return;
    }
    const iotx_mqtt_topic_info_t *info = (const iotx_mqtt_topic_info_t *)msg->msg;
    long seq = 0;
    /* The first 8 payload bytes are the decimal sequence number. */
    for (uint32_t i = 0; i < 8 && i < info->payload_len; i++) {
        seq = seq * 10 + (info->payload[i] - '0');
    }
    g_last_seq = seq;
    g_received++;
}

/* The library's last state event, printed when a step fails (the routine
 * ones, such as "TLS handshake done", would only disturb the timings). */
static char g_last_state[512];

static int on_state(int code, const char *message)
{
    snprintf(g_last_state, sizeof(g_last_state), "-0x%04x: %s", -code, message);
    return 0;
}

static void *connect_client(const endpoint_t *ep, const char *client_id)
{
    iotkit_x509_client_params_t params;
    memset(&params, 0, sizeof(params));
    params.host = ep->host;
    params.port = ep->port;
    params.ca_pem = ep->ca;
    params.cert = ep->cert;
    params.key = ep->key;
    params.product_key = BENCH_PRODUCT_KEY;
    params.device_name = BENCH_DEVICE_NAME;
    params.client_id = client_id;
    params.handle_event.h_fp = on_message;
    return iotkit_mqtt_construct_x509(&params);
}

static void fill_payload(char *payload, long seq)
{
    char head[16];
    snprintf(head, sizeof(head), "%08ld", seq % 100000000);
    memcpy(payload, head, 8);
}

static void die(const char *what)
{
    fprintf(stderr, "iotkit_bench: %s failed; last state event %s\n", what, g_last_state);
    exit(1);
}

static void bench_connect(const endpoint_t *ep, int n)
{
    double *samples = calloc((size_t)n, sizeof(double));
    char id[64];
    /* One unmeasured connect first: library and mbedTLS start-up. */
    for (int i = -1; i < n; i++) {
        snprintf(id, sizeof(id), "bench-connect-%d", i + 1);
        double t0 = bench_now_us();
        void *client = connect_client(ep, id);
        double t1 = bench_now_us();
        if (client == NULL) {
            die("connect");
        }
        IOT_MQTT_Destroy(&client);
        if (i >= 0) {
            samples[i] = (t1 - t0) / 1000.0;
        }
    }
    bench_result(CLIENT, "connect_mean", bench_mean(samples, n), "ms");
    bench_result(CLIENT, "connect_p50", bench_percentile(samples, n, 0.5), "ms");
    free(samples);
}

/* How a loop waits for the broker. */
typedef enum {
    WAIT_SPIN,   /* IOT_MQTT_Yield(client, 0) in a loop (the timed runs) */
    WAIT_POLL,   /* poll() on the client's socket (<= 1 ms), then IOT_MQTT_Yield(client, 0) */
    WAIT_YIELD1, /* IOT_MQTT_Yield(client, 1): blocks, and sleeps out its millisecond */
} wait_mode_t;

/* The client socket that WAIT_POLL waits on (-1: none found). */
static int g_client_fd = -1;

static void wait_for_data(void *client, wait_mode_t mode)
{
    if (mode == WAIT_POLL && g_client_fd >= 0) {
        struct pollfd p = {.fd = g_client_fd, .events = POLLIN};
        /* At most 1 ms: data the library holds decrypted but unread does
         * not make the socket readable, so look again soon in any case. */
        (void)poll(&p, 1, 1);
        IOT_MQTT_Yield(client, 0);
    } else if (mode == WAIT_SPIN) {
        IOT_MQTT_Yield(client, 0);
    } else {
        IOT_MQTT_Yield(client, 1);
    }
}

/* A descriptor of this process's only TCP connection to `port`, or -1 when
 * there is none or more than one. The library does not hand out its socket;
 * with one client connected it is the one whose peer is the broker (the
 * library holds it under several descriptors: dup()s of one socket, told
 * apart from other connections by their inode). */
static int socket_to_port(uint16_t port)
{
    int found = -1;
    ino_t found_inode = 0;
    for (int fd = 0; fd < 4096; fd++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        struct stat st;
        if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 || fstat(fd, &st) != 0) {
            continue;
        }
        uint16_t peer_port = 0;
        if (peer.ss_family == AF_INET) {
            peer_port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
        } else if (peer.ss_family == AF_INET6) {
            peer_port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
        }
        if (peer_port != port) {
            continue;
        }
        if (found < 0) {
            found = fd;
            found_inode = st.st_ino;
        } else if (st.st_ino != found_inode) {
            return -1;
        }
    }
    return found;
}

/* Publishes `count` QoS 0 messages to its own subscription, at most `window`
 * ahead of those received; returns the microseconds until all came back. */
static double run_qos0(void *client, int count, int window, char *payload, int size, wait_mode_t mode)
{
    long base = g_received;
    long sent = 0;
    double t0 = bench_now_us();
    double give_up = t0 + 60e6;
    while (g_received - base < count) {
        while (sent < count && sent - (g_received - base) < window) {
            fill_payload(payload, sent);
            if (IOT_MQTT_Publish_Simple(client, BENCH_TOPIC, IOTX_MQTT_QOS0, payload, size) < 0) {
                die("QoS 0 publish");
            }
            sent++;
        }
        wait_for_data(client, mode);
        if (bench_now_us() > give_up) {
            fprintf(stderr, "QoS 0: only %ld of %d messages came back within 60 s\n", g_received - base, count);
            break;
        }
    }
    return bench_now_us() - t0;
}

static void bench_qos0(void *client, const bench_config_t *cfg, char *payload)
{
    malloc_count_t before, after;
    iotkit_heap_stats_t hal_before, hal_after;
    run_qos0(client, 1000, cfg->qos0_window, payload, cfg->payload, WAIT_SPIN); /* warm-up */
    bench_malloc_counts(&before);
    iotkit_heap_stats(&hal_before);
    double us = run_qos0(client, cfg->qos0_messages, cfg->qos0_window, payload, cfg->payload, WAIT_SPIN);
    bench_malloc_counts(&after);
    iotkit_heap_stats(&hal_after);
    bench_result(CLIENT, "qos0_msgs_per_s", cfg->qos0_messages / (us / 1e6), "msg/s");
    bench_result(CLIENT, "qos0_allocs_per_msg",
                 (double)(bench_allocations(&after) - bench_allocations(&before)) / cfg->qos0_messages, "allocs");
    bench_result(CLIENT, "qos0_hal_allocs_per_msg",
                 (double)(hal_after.total_allocations - hal_before.total_allocations) / cfg->qos0_messages,
                 "allocs");
}

static void bench_qos1(void *client, const bench_config_t *cfg, char *payload)
{
    int n = cfg->qos1_messages;
    int warmup = 50;
    double *samples = calloc((size_t)n, sizeof(double));
    malloc_count_t before, after;
    for (int i = -warmup; i < n; i++) {
        long seq = 50000000 + i + warmup;
        if (i == 0) {
            bench_malloc_counts(&before);
        }
        fill_payload(payload, seq);
        double t0 = bench_now_us();
        if (IOT_MQTT_Publish_Simple(client, BENCH_TOPIC, IOTX_MQTT_QOS1, payload, cfg->payload) < 0) {
            die("QoS 1 publish");
        }
        while (g_last_seq != seq) {
            IOT_MQTT_Yield(client, 0);
            if (bench_now_us() - t0 > 10e6) {
                die("QoS 1 round trip (10 s)");
            }
        }
        if (i >= 0) {
            samples[i] = bench_now_us() - t0;
        }
    }
    /* Let the last PUBACK in before counting. */
    IOT_MQTT_Yield(client, 20);
    bench_malloc_counts(&after);
    bench_result(CLIENT, "qos1_rtt_p50", bench_percentile(samples, n, 0.50), "us");
    bench_result(CLIENT, "qos1_rtt_p99", bench_percentile(samples, n, 0.99), "us");
    bench_result(CLIENT, "qos1_allocs_per_msg", (double)(bench_allocations(&after) - bench_allocations(&before)) / n,
                 "allocs");
    free(samples);
}

/* CPU time per QoS 1 round trip (publish, PUBACK in, the message back, PUBACK
 * out), waiting as `mode` says; sequence numbers from `first_seq`. */
static double cpu_qos1(void *client, int n, char *payload, int size, long first_seq, wait_mode_t mode)
{
    double c0 = bench_cpu_us();
    for (int i = 0; i < n; i++) {
        long seq = first_seq + i;
        fill_payload(payload, seq);
        double t0 = bench_now_us();
        if (IOT_MQTT_Publish_Simple(client, BENCH_TOPIC, IOTX_MQTT_QOS1, payload, size) < 0) {
            die("QoS 1 publish (CPU run)");
        }
        while (g_last_seq != seq) {
            wait_for_data(client, mode);
            if (bench_now_us() - t0 > 10e6) {
                die("QoS 1 round trip (CPU run, 10 s)");
            }
        }
    }
    return (bench_cpu_us() - c0) / n;
}

/* CPU time (user + system, whole process) per message with blocking waits. */
static void bench_cpu(void *client, const endpoint_t *ep, const bench_config_t *cfg, char *payload)
{
    g_client_fd = socket_to_port(ep->port);
    if (g_client_fd < 0) {
        fprintf(stderr, "iotkit_bench: the client's socket was not found; cpu_*_poll use IOT_MQTT_Yield(client, 1)\n");
    }
    IOT_MQTT_Yield(client, 100); /* drain whatever is still in flight */
    malloc_count_t before, after;
    bench_malloc_counts(&before);
    double c0 = bench_cpu_us();
    run_qos0(client, cfg->cpu_qos0, cfg->qos0_window, payload, cfg->payload, WAIT_POLL);
    double per_qos0 = (bench_cpu_us() - c0) / cfg->cpu_qos0;
    double per_qos1 = cpu_qos1(client, cfg->cpu_qos1, payload, cfg->payload, 60000000, WAIT_POLL);
    bench_malloc_counts(&after);
    c0 = bench_cpu_us();
    run_qos0(client, cfg->cpu_qos0, cfg->qos0_window, payload, cfg->payload, WAIT_YIELD1);
    double per_qos0_yield1 = (bench_cpu_us() - c0) / cfg->cpu_qos0;
    double per_qos1_yield1 = cpu_qos1(client, cfg->cpu_qos1, payload, cfg->payload, 70000000, WAIT_YIELD1);
    IOT_MQTT_Yield(client, 20);
    const int idle_calls = 200;
    c0 = bench_cpu_us();
    for (int i = 0; i < idle_calls; i++) {
        IOT_MQTT_Yield(client, 1);
    }
    double idle = (bench_cpu_us() - c0) / idle_calls;
    bench_result(CLIENT, "cpu_qos0_per_msg", per_qos0, "us");
    bench_result(CLIENT, "cpu_qos1_per_rtt", per_qos1, "us");
    bench_result(CLIENT, "cpu_allocs_per_msg",
                 (double)(bench_allocations(&after) - bench_allocations(&before)) / (cfg->cpu_qos0 + cfg->cpu_qos1),
                 "allocs");
    bench_result(CLIENT, "cpu_qos0_per_msg_yield1", per_qos0_yield1, "us");
    bench_result(CLIENT, "cpu_qos1_per_rtt_yield1", per_qos1_yield1, "us");
    bench_result(CLIENT, "cpu_yield1_idle", idle, "us");
}

/* Cost of IOT_MQTT_Yield(client, 0) on a connection with nothing waiting:
 * what a thread serving many clients round-robin pays per idle client. */
static void bench_idle_yield(void *client)
{
    const int calls = 10000;
    IOT_MQTT_Yield(client, 100); /* drain whatever is still in flight */
    double t0 = bench_now_us();
    for (int i = 0; i < calls; i++) {
        IOT_MQTT_Yield(client, 0);
    }
    bench_result(CLIENT, "yield0_idle", (bench_now_us() - t0) / calls, "us");
}

static void bench_idle_heap(const endpoint_t *ep, int count)
{
    void **clients = calloc((size_t)count, sizeof(void *));
    malloc_count_t before, after, peak;
    iotkit_heap_stats_t hal_before, hal_after;
    char id[64];
    bench_malloc_counts(&before);
    iotkit_heap_stats(&hal_before);
    long rss_before = bench_rss_kib();
    bench_malloc_reset_peak();
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "bench-idle-%d", i);
        clients[i] = connect_client(ep, id);
        if (clients[i] == NULL) {
            die("idle connect");
        }
        if (IOT_MQTT_Subscribe_Sync(clients[i], BENCH_TOPIC "/idle", IOTX_MQTT_QOS1, on_message, NULL, 5000) < 0) {
            die("idle subscribe");
        }
        if (i == 0) {
            bench_malloc_counts(&peak);
        }
    }
    bench_malloc_counts(&after);
    iotkit_heap_stats(&hal_after);
    long rss_after = bench_rss_kib();
    bench_result(CLIENT, "heap_per_idle_conn", (double)(after.live_bytes - before.live_bytes) / count / 1024.0, "KiB");
    bench_result(CLIENT, "peak_heap_first_conn", (double)(peak.peak_bytes - before.live_bytes) / 1024.0, "KiB");
    bench_result(CLIENT, "hal_heap_per_idle_conn",
                 (double)(hal_after.live_bytes - hal_before.live_bytes) / count / 1024.0, "KiB");
    bench_result(CLIENT, "rss_per_idle_conn", (double)(rss_after - rss_before) / count, "KiB");
    for (int i = 0; i < count; i++) {
        IOT_MQTT_Destroy(&clients[i]);
    }
    free(clients);
}

int main(int argc, char **argv)
{
    bench_config_t cfg;
    endpoint_t ep;
    bench_parse_args(argc, argv, &cfg);
    ep.host = bench_env("IOTX_MQTT_HOST", "localhost");
    ep.port = (uint16_t)atoi(bench_env("IOTX_MQTT_PORT", "8883"));
    ep.ca = bench_read_file(getenv("IOTX_X509_CA_FILE"));
    ep.cert = bench_read_file(getenv("IOTX_X509_CERT_FILE"));
    ep.key = bench_read_file(getenv("IOTX_X509_KEY_FILE"));

    IOT_SetLogLevel(IOT_LOG_ERROR);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);
    malloc_count_t probe;
    if (!bench_malloc_counts(&probe)) {
        fprintf(stderr, "iotkit_bench: malloc_count shim not preloaded: heap figures are HAL_Malloc only\n");
    }

    bench_connect(&ep, cfg.connects);

    void *client = connect_client(&ep, "bench-main");
    if (client == NULL) {
        die("connect");
    }
    if (IOT_MQTT_Subscribe_Sync(client, BENCH_TOPIC, IOTX_MQTT_QOS1, on_message, NULL, 5000) < 0) {
        die("subscribe");
    }
    char *payload = malloc((size_t)cfg.payload);
    memset(payload, 'x', (size_t)cfg.payload);
    bench_qos0(client, &cfg, payload);
    bench_qos1(client, &cfg, payload);
    bench_cpu(client, &ep, &cfg, payload);
    bench_idle_yield(client);
    bench_idle_heap(&ep, cfg.idle_conns);
    IOT_MQTT_Destroy(&client);
    free(payload);
    free(ep.ca);
    free(ep.cert);
    free(ep.key);
    return 0;
}
