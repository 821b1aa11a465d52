/*
 * paho_bench: the workloads of iotkit_bench.c with the Eclipse Paho C client
 * (MQTTClient, synchronous, OpenSSL), against the same mutual-TLS broker and
 * certificates (the IOTX_* variables of scripts/with_mosquitto.sh).
 *
 * Two modes, since Paho is fastest at different things in each:
 *   --mode callbacks (default): MQTTClient_setCallbacks, so Paho's own thread
 *     reads the socket and calls messageArrived while the main thread publishes;
 *   --mode sync: no callbacks; MQTTClient_receive in the calling thread, as
 *     IOT_MQTT_Yield does for iotkit. Here a QoS 1 publish spends ~100 ms in a
 *     poll after its PUBACK has arrived (seen with strace), so its round trip
 *     measures that timeout.
 *
 * CPU time (as in iotkit_bench.c): after the timed runs the QoS 0 and QoS 1
 * workloads run again with waits that block (the callbacks' condition
 * variable; MQTTClient_receive with a 1 ms timeout in sync mode, which
 * returns as soon as a message is there) and the user + system time of the
 * whole process per message is reported: getrusage(RUSAGE_SELF), so the
 * work of Paho's own threads counts too.
 *
 * Usage and output: as iotkit_bench (`RESULT paho <metric> <value> <unit>`).
 */
#include "bench_util.h"

#include <MQTTClient.h>
#include <pthread.h>

static const char *CLIENT = "paho";
static int g_sync_mode;
#define BENCH_TOPIC "/a1BenchPK00/bench-device/user/bench"

typedef struct {
    char uri[300];
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
} endpoint_t;

static void die(const char *what, int rc)
{
    fprintf(stderr, "paho_bench: %s failed (rc %d)\n", what, rc);
    exit(1);
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_arrived = PTHREAD_COND_INITIALIZER;
static long g_received;
static long g_last_seq = -1;

static int on_message(void *context, char *topic, int topic_len, MQTTClient_message *msg)
{
    (void)context;
    (void)topic_len;
    long seq = 0;
    const char *data = (const char *)msg->payload;
    /* The first 8 payload bytes are the decimal sequence number. */
    for (int i = 0; i < 8 && i < msg->payloadlen; i++) {
        seq = seq * 10 + (data[i] - '0');
    }
    MQTTClient_freeMessage(&msg);
    MQTTClient_free(topic);
    pthread_mutex_lock(&g_lock);
    g_last_seq = seq;
    g_received++;
    pthread_cond_broadcast(&g_arrived);
    pthread_mutex_unlock(&g_lock);
    return 1;
}

static void on_lost(void *context, char *cause)
{
    (void)context;
    fprintf(stderr, "paho_bench: connection lost: %s\n", cause != NULL ? cause : "(no cause)");
}

/* Waits until `done(arg)` holds under the lock, at most until `deadline_us`. */
static int wait_until(int (*done)(long), long arg, double deadline_us)
{
    pthread_mutex_lock(&g_lock);
    while (!done(arg)) {
        if (bench_now_us() > deadline_us) {
            pthread_mutex_unlock(&g_lock);
            return 0;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g_arrived, &g_lock, &ts);
    }
    pthread_mutex_unlock(&g_lock);
    return 1;
}

static int seq_arrived(long seq)
{
    return g_last_seq == seq;
}

static int received_at_least(long count)
{
    return g_received >= count;
}

static long received_now(void)
{
    pthread_mutex_lock(&g_lock);
    long n = g_received;
    pthread_mutex_unlock(&g_lock);
    return n;
}

static MQTTClient connect_client(const endpoint_t *ep, const char *client_id)
{
    MQTTClient client;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
    int rc = MQTTClient_create(&client, ep->uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTCLIENT_SUCCESS) {
        die("MQTTClient_create", rc);
    }
    rc = g_sync_mode ? MQTTCLIENT_SUCCESS : MQTTClient_setCallbacks(client, NULL, on_lost, on_message, NULL);
    if (rc != MQTTCLIENT_SUCCESS) {
        die("MQTTClient_setCallbacks", rc);
    }
    ssl.trustStore = ep->ca_file;
    ssl.keyStore = ep->cert_file;
    ssl.privateKey = ep->key_file;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;
    ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    opts.keepAliveInterval = 60;
    opts.cleansession = 1;
    opts.ssl = &ssl;
    rc = MQTTClient_connect(client, &opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        die("MQTTClient_connect", rc);
    }
    return client;
}

static void close_client(MQTTClient *client)
{
    MQTTClient_disconnect(*client, 1000);
    MQTTClient_destroy(client);
}

static void fill_payload(char *payload, long seq)
{
    char head[16];
    snprintf(head, sizeof(head), "%08ld", seq % 100000000);
    memcpy(payload, head, 8);
}

/* Sync mode: takes one message if one comes within `timeout_ms` and counts
 * it as the callback would; returns 1 when one was taken. */
static int receive_one(MQTTClient client, unsigned long timeout_ms)
{
    char *topic = NULL;
    int topic_len = 0;
    MQTTClient_message *msg = NULL;
    int rc = MQTTClient_receive(client, &topic, &topic_len, &msg, timeout_ms);
    if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
        die("MQTTClient_receive", rc);
    }
    if (msg == NULL) {
        return 0;
    }
    on_message(NULL, topic, topic_len, msg);
    return 1;
}

/* Waits for `done(arg)`: in sync mode by receiving in this thread, else on
 * the callback's condition variable. */
static int wait_for(MQTTClient client, int (*done)(long), long arg, double deadline_us)
{
    if (!g_sync_mode) {
        return wait_until(done, arg, deadline_us);
    }
    for (;;) {
        pthread_mutex_lock(&g_lock);
        int ok = done(arg);
        pthread_mutex_unlock(&g_lock);
        if (ok) {
            return 1;
        }
        if (bench_now_us() > deadline_us) {
            return 0;
        }
        if (!receive_one(client, 0)) {
            receive_one(client, 1);
        }
    }
}

static void bench_connect(const endpoint_t *ep, int n)
{
    double *samples = calloc((size_t)n, sizeof(double));
    char id[64];
    for (int i = -1; i < n; i++) {
        snprintf(id, sizeof(id), "paho-connect-%d", i + 1);
        double t0 = bench_now_us();
        MQTTClient client = connect_client(ep, id);
        double t1 = bench_now_us();
        close_client(&client);
        if (i >= 0) {
            samples[i] = (t1 - t0) / 1000.0;
        }
    }
    bench_result(CLIENT, "connect_mean", bench_mean(samples, n), "ms");
    bench_result(CLIENT, "connect_p50", bench_percentile(samples, n, 0.5), "ms");
    free(samples);
}

/* `blocking`: in sync mode, wait (up to 1 ms) for a message once the window
 * is full instead of only taking what has arrived (callbacks mode always
 * waits on the condition variable). */
static double run_qos0(MQTTClient client, int count, int window, char *payload, int size, int blocking)
{
    long base = received_now();
    long sent = 0;
    double t0 = bench_now_us();
    double give_up = t0 + 60e6;
    while (sent < count) {
        long received = received_now() - base;
        while (sent < count && sent - received < window) {
            fill_payload(payload, sent);
            int rc = MQTTClient_publish(client, BENCH_TOPIC, size, payload, 0, 0, NULL);
            if (rc != MQTTCLIENT_SUCCESS) {
                die("QoS 0 publish", rc);
            }
            sent++;
        }
        if (g_sync_mode) {
            /* Take what has arrived, then publish again (blocking here
             * halves sync-mode throughput). */
            if (blocking && sent - (received_now() - base) >= window) {
                receive_one(client, 1);
            }
            while (receive_one(client, 0)) {
            }
            if (bench_now_us() > give_up) {
                break;
            }
        } else if (!wait_for(client, received_at_least, base + sent - window / 2, give_up)) {
            break; /* the window is full: wait for half of it to come back */
        }
    }
    if (!wait_for(client, received_at_least, base + count, give_up)) {
        fprintf(stderr, "QoS 0: only %ld of %d messages came back within 60 s\n", received_now() - base, count);
    }
    return bench_now_us() - t0;
}

static void bench_qos0(MQTTClient client, const bench_config_t *cfg, char *payload)
{
    malloc_count_t before, after;
    run_qos0(client, 1000, cfg->qos0_window, payload, cfg->payload, 0);
    bench_malloc_counts(&before);
    double us = run_qos0(client, cfg->qos0_messages, cfg->qos0_window, payload, cfg->payload, 0);
    bench_malloc_counts(&after);
    bench_result(CLIENT, "qos0_msgs_per_s", cfg->qos0_messages / (us / 1e6), "msg/s");
    bench_result(CLIENT, "qos0_allocs_per_msg",
                 (double)(bench_allocations(&after) - bench_allocations(&before)) / cfg->qos0_messages, "allocs");
}

static void bench_qos1(MQTTClient client, const bench_config_t *cfg, char *payload)
{
    int n = cfg->qos1_messages;
    int warmup = 50;
    if (g_sync_mode && n > 100) {
        /* Each sync-mode round trip sits out Paho's ~100 ms poll: 100 samples
         * show it as well as 1,000 and save a minute and a half per round. */
        fprintf(stderr, "paho_bench: sync mode takes 100 QoS 1 samples, not %d\n", n);
        n = 100;
        warmup = 5;
    }
    double *samples = calloc((size_t)n, sizeof(double));
    malloc_count_t before, after;
    MQTTClient_deliveryToken token = 0;
    for (int i = -warmup; i < n; i++) {
        long seq = 50000000 + i + warmup;
        if (i == 0) {
            bench_malloc_counts(&before);
        }
        fill_payload(payload, seq);
        double t0 = bench_now_us();
        int rc = MQTTClient_publish(client, BENCH_TOPIC, cfg->payload, payload, 1, 0, &token);
        if (rc != MQTTCLIENT_SUCCESS) {
            die("QoS 1 publish", rc);
        }
        if (!wait_for(client, seq_arrived, seq, t0 + 10e6)) {
            die("QoS 1 round trip (10 s)", -1);
        }
        if (i >= 0) {
            samples[i] = bench_now_us() - t0;
        }
    }
    MQTTClient_waitForCompletion(client, token, 1000); /* the last PUBACK */
    bench_malloc_counts(&after);
    bench_result(CLIENT, "qos1_rtt_p50", bench_percentile(samples, n, 0.50), "us");
    bench_result(CLIENT, "qos1_rtt_p99", bench_percentile(samples, n, 0.99), "us");
    bench_result(CLIENT, "qos1_allocs_per_msg", (double)(bench_allocations(&after) - bench_allocations(&before)) / n,
                 "allocs");
    free(samples);
}

/* CPU time (user + system, whole process) per message with blocking waits. */
static void bench_cpu(MQTTClient client, const bench_config_t *cfg, char *payload)
{
    int n = cfg->cpu_qos1;
    if (g_sync_mode && n > 50) {
        /* ~100 ms of waiting per sync-mode round trip (see bench_qos1). */
        fprintf(stderr, "paho_bench: sync mode takes 50 QoS 1 round trips for CPU time, not %d\n", n);
        n = 50;
    }
    malloc_count_t before, after;
    bench_malloc_counts(&before);
    double c0 = bench_cpu_us();
    run_qos0(client, cfg->cpu_qos0, cfg->qos0_window, payload, cfg->payload, 1);
    double per_qos0 = (bench_cpu_us() - c0) / cfg->cpu_qos0;
    MQTTClient_deliveryToken token = 0;
    c0 = bench_cpu_us();
    for (int i = 0; i < n; i++) {
        long seq = 60000000 + i;
        fill_payload(payload, seq);
        double t0 = bench_now_us();
        int rc = MQTTClient_publish(client, BENCH_TOPIC, cfg->payload, payload, 1, 0, &token);
        if (rc != MQTTCLIENT_SUCCESS) {
            die("QoS 1 publish (CPU run)", rc);
        }
        if (!wait_for(client, seq_arrived, seq, t0 + 10e6)) {
            die("QoS 1 round trip (CPU run, 10 s)", -1);
        }
    }
    MQTTClient_waitForCompletion(client, token, 1000); /* the last PUBACK */
    double per_qos1 = (bench_cpu_us() - c0) / n;
    bench_malloc_counts(&after);
    bench_result(CLIENT, "cpu_qos0_per_msg", per_qos0, "us");
    bench_result(CLIENT, "cpu_qos1_per_rtt", per_qos1, "us");
    bench_result(CLIENT, "cpu_allocs_per_msg",
                 (double)(bench_allocations(&after) - bench_allocations(&before)) / (cfg->cpu_qos0 + n), "allocs");
}

static void bench_idle_heap(const endpoint_t *ep, int count)
{
    MQTTClient *clients = calloc((size_t)count, sizeof(MQTTClient));
    malloc_count_t before, after, peak;
    char id[64];
    bench_malloc_counts(&before);
    long rss_before = bench_rss_kib();
    bench_malloc_reset_peak();
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "paho-idle-%d", i);
        clients[i] = connect_client(ep, id);
        int rc = MQTTClient_subscribe(clients[i], BENCH_TOPIC "/idle", 1);
        if (rc != MQTTCLIENT_SUCCESS) {
            die("idle subscribe", rc);
        }
        if (i == 0) {
            bench_malloc_counts(&peak);
        }
    }
    bench_malloc_counts(&after);
    long rss_after = bench_rss_kib();
    bench_result(CLIENT, "heap_per_idle_conn", (double)(after.live_bytes - before.live_bytes) / count / 1024.0, "KiB");
    bench_result(CLIENT, "peak_heap_first_conn", (double)(peak.peak_bytes - before.live_bytes) / 1024.0, "KiB");
    bench_result(CLIENT, "rss_per_idle_conn", (double)(rss_after - rss_before) / count, "KiB");
    for (int i = 0; i < count; i++) {
        close_client(&clients[i]);
    }
    free(clients);
}

int main(int argc, char **argv)
{
    bench_config_t cfg;
    endpoint_t ep;
    /* --mode sync|callbacks comes first; the rest are bench_parse_args options. */
    if (argc > 2 && strcmp(argv[1], "--mode") == 0) {
        if (strcmp(argv[2], "sync") == 0) {
            g_sync_mode = 1;
            CLIENT = "paho-sync";
        } else if (strcmp(argv[2], "callbacks") != 0) {
            fprintf(stderr, "paho_bench: --mode is sync or callbacks\n");
            return 2;
        }
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    bench_parse_args(argc, argv, &cfg);
    snprintf(ep.uri, sizeof(ep.uri), "ssl://%s:%s", bench_env("IOTX_MQTT_HOST", "localhost"),
             bench_env("IOTX_MQTT_PORT", "8883"));
    ep.ca_file = getenv("IOTX_X509_CA_FILE");
    ep.cert_file = getenv("IOTX_X509_CERT_FILE");
    ep.key_file = getenv("IOTX_X509_KEY_FILE");
    if (ep.ca_file == NULL || ep.cert_file == NULL || ep.key_file == NULL) {
        fprintf(stderr, "paho_bench: set IOTX_X509_CA_FILE, IOTX_X509_CERT_FILE and IOTX_X509_KEY_FILE\n");
        return 2;
    }

    bench_connect(&ep, cfg.connects);

    MQTTClient client = connect_client(&ep, "paho-main");
    int rc = MQTTClient_subscribe(client, BENCH_TOPIC, 1);
    if (rc != MQTTCLIENT_SUCCESS) {
        die("subscribe", rc);
    }
    char *payload = malloc((size_t)cfg.payload);
    memset(payload, 'x', (size_t)cfg.payload);
    bench_qos0(client, &cfg, payload);
    bench_qos1(client, &cfg, payload);
    bench_cpu(client, &cfg, payload);
    bench_idle_heap(&ep, cfg.idle_conns);
    close_client(&client);
    free(payload);
    return 0;
}
