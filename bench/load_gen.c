/*
 * load_gen: many X.509 devices in one process, each an independent client of
 * iotkit_mqtt_construct_x509 with its own certificate, key and identity.
 * One thread per core (default) each owns a slice of the devices and serves
 * them round-robin with IOT_MQTT_Yield(handle, 0), which only polls; the
 * connects run DEVICES_PER_CONNECTOR to a helper thread.
 *
 * Phases: connect every device (connections per second), subscribe each to
 * its own topic, then for --seconds every device publishes QoS 0 messages to
 * itself (messages per second received). Memory per device is the RSS
 * (/proc/self/status) and, under the malloc_count shim, the live heap after
 * all devices are connected minus before, divided by the devices connected.
 *
 *   load_gen --manifest FILE [--devices N] [--threads T] [--seconds S] [--learn-identity]
 *       FILE: one device a line, `ProductKey,DeviceName,cert.pem,key.pem`
 *   load_gen --shared-cert --devices N ...
 *       every device uses IOTX_X509_CERT_FILE / IOTX_X509_KEY_FILE with its
 *       own client id (for a plain broker such as mosquitto)
 * Endpoint and CA: IOTX_MQTT_HOST, IOTX_MQTT_PORT, IOTX_X509_CA_FILE.
 * Prints `RESULT load <metric> <value> <unit>` lines.
 */
#include "bench_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "mqtt_api.h"
#include "wrappers.h"

typedef struct {
    char product_key[IOTX_PRODUCT_KEY_LEN + 1];
    char device_name[IOTX_DEVICE_NAME_LEN + 1];
    char client_id[65];
    char topic[128];
    char *cert;
    char *key;
    void *client;
    double connect_ms; /* TCP + TLS + CONNECT/CONNACK (+ identity response when learned) */
    atomic_long received;
    long sent; /* message phase; only the owning thread touches it */
} device_t;

typedef struct {
    device_t *devices;
    int first;
    int count;
    int connected;
    int failed;
} slice_t;

static const char *g_host;
static uint16_t g_port;
static char *g_ca;
static int g_learn_identity;
static double g_seconds = 10.0;
static pthread_barrier_t g_barrier;
static atomic_long g_sent;

/* QoS 0 messages a device may have sent and not yet received back. */
#define MESSAGE_WINDOW 8

static void on_message(void *pcontext, void *pclient, iotx_mqtt_event_msg_pt msg)
{
    (void)pclient;
    if (msg->event_type == IOTX_MQTT_EVENT_PUBLISH_RECEIVED && pcontext != NULL) {
        atomic_fetch_add_explicit(&((device_t *)pcontext)->received, 1, memory_order_relaxed);
    }
}

/* Failures only: connection facts (handshake done, subscribed) are routine. */
static int on_state(int code, const char *message)
{
    if (strstr(message, "fail") != NULL || strstr(message, "refused") != NULL || strstr(message, "lost") != NULL) {
        fprintf(stderr, "iotkit state -0x%04x: %s\n", -code, message);
    }
    return 0;
}

static void connect_device(device_t *d)
{
    iotkit_x509_client_params_t params;
    memset(&params, 0, sizeof(params));
    params.host = g_host;
    params.port = g_port;
    params.ca_pem = g_ca;
    params.cert = d->cert;
    params.key = d->key;
    params.client_id = d->client_id[0] != '\0' ? d->client_id : NULL;
    params.keepalive_interval_ms = 300000; /* the connect phase of 1,000 devices may take minutes */
    if (g_learn_identity) {
        params.wait_for_identity = 1;
    } else {
        params.product_key = d->product_key;
        params.device_name = d->device_name;
    }
    d->client = iotkit_mqtt_construct_x509(&params);
    if (d->client != NULL && g_learn_identity) {
        char pk[IOTX_PRODUCT_KEY_LEN + 1], dn[IOTX_DEVICE_NAME_LEN + 1];
        if (iotkit_mqtt_get_identity(d->client, pk, dn) != 0 || strcmp(pk, d->product_key) != 0 ||
            strcmp(dn, d->device_name) != 0) {
            fprintf(stderr, "device %s: the identity learned does not match the manifest\n", d->device_name);
            IOT_MQTT_Destroy(&d->client);
        }
    }
}

/* Connects run in parallel, DEVICES_PER_CONNECTOR to a thread: a connect
 * blocks for a whole round trip or more (the identity response), unlike
 * serving, which one thread per core does best. */
#define DEVICES_PER_CONNECTOR 50

typedef struct {
    device_t *devices;
    int count;
    int connected;
    int failed;
} connect_job_t;

static void *connect_range(void *arg)
{
    connect_job_t *job = arg;
    for (int i = 0; i < job->count; i++) {
        device_t *d = &job->devices[i];
        double t0 = bench_now_us();
        connect_device(d);
        d->connect_ms = (bench_now_us() - t0) / 1000.0;
        if (d->client != NULL) {
            job->connected++;
        } else {
            job->failed++;
        }
    }
    return NULL;
}

static void connect_slice(slice_t *s)
{
    int jobs = (s->count + DEVICES_PER_CONNECTOR - 1) / DEVICES_PER_CONNECTOR;
    connect_job_t *job = calloc((size_t)jobs, sizeof(connect_job_t));
    pthread_t *tids = calloc((size_t)jobs, sizeof(pthread_t));
    if (job == NULL || tids == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int j = 0; j < jobs; j++) {
        job[j].devices = s->devices + s->first + j * DEVICES_PER_CONNECTOR;
        int rest = s->count - j * DEVICES_PER_CONNECTOR;
        job[j].count = rest < DEVICES_PER_CONNECTOR ? rest : DEVICES_PER_CONNECTOR;
        if (pthread_create(&tids[j], NULL, connect_range, &job[j]) != 0) {
            connect_range(&job[j]); /* no thread: connect them here */
            tids[j] = 0;
        }
    }
    for (int j = 0; j < jobs; j++) {
        if (tids[j] != 0) {
            pthread_join(tids[j], NULL);
        }
        s->connected += job[j].connected;
        s->failed += job[j].failed;
    }
    free(job);
    free(tids);
}

static void *run_slice(void *arg)
{
    slice_t *s = arg;
    device_t *mine = s->devices + s->first;
    char payload[64];

    pthread_barrier_wait(&g_barrier); /* connect */
    connect_slice(s);
    pthread_barrier_wait(&g_barrier); /* connected: main measures */
    pthread_barrier_wait(&g_barrier); /* subscribe */
    for (int i = 0; i < s->count; i++) {
        if (mine[i].client != NULL &&
            IOT_MQTT_Subscribe_Sync(mine[i].client, mine[i].topic, IOTX_MQTT_QOS0, on_message, &mine[i], 10000) < 0) {
            fprintf(stderr, "device %d: subscribe failed\n", s->first + i);
        }
    }
    pthread_barrier_wait(&g_barrier); /* subscribed */
    pthread_barrier_wait(&g_barrier); /* messages */
    double end = bench_now_us() + g_seconds * 1e6;
    memset(payload, 'm', sizeof(payload));
    while (bench_now_us() < end) {
        int published = 0;
        for (int i = 0; i < s->count; i++) {
            device_t *d = &mine[i];
            if (d->client == NULL) {
                continue;
            }
            /* A window per device, as a real device's own pace would give:
             * an unpaced flood only measures how fast the broker drops. */
            long in_flight = d->sent - atomic_load_explicit(&d->received, memory_order_relaxed);
            if (in_flight < MESSAGE_WINDOW &&
                IOT_MQTT_Publish_Simple(d->client, d->topic, IOTX_MQTT_QOS0, payload, sizeof(payload)) == 0) {
                d->sent++;
                published++;
                atomic_fetch_add_explicit(&g_sent, 1, memory_order_relaxed);
            }
            IOT_MQTT_Yield(d->client, 0); /* a poll: returns at once when nothing is there */
        }
        if (published == 0) {
            /* Every window is full: leave the cores to the broker for a moment. */
            struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
        }
    }
    pthread_barrier_wait(&g_barrier); /* messages done: main counts */
    pthread_barrier_wait(&g_barrier); /* destroy */
    for (int i = 0; i < s->count; i++) {
        if (mine[i].client != NULL) {
            IOT_MQTT_Destroy(&mine[i].client);
        }
    }
    return NULL;
}

static int load_manifest(const char *path, device_t *devices, int max)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;
    if (f == NULL) {
        fprintf(stderr, "cannot open the manifest '%s'\n", path);
        exit(2);
    }
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        char *pk = strtok(line, ",\n");
        char *dn = strtok(NULL, ",\n");
        char *cert = strtok(NULL, ",\n");
        char *key = strtok(NULL, ",\n");
        if (pk == NULL || dn == NULL || cert == NULL || key == NULL) {
            continue;
        }
        snprintf(devices[n].product_key, sizeof(devices[n].product_key), "%s", pk);
        snprintf(devices[n].device_name, sizeof(devices[n].device_name), "%s", dn);
        devices[n].cert = bench_read_file(cert);
        devices[n].key = bench_read_file(key);
        n++;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    const char *manifest = NULL;
    int shared = 0, count = 100, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--manifest") == 0 && i + 1 < argc) {
            manifest = argv[++i];
        } else if (strcmp(argv[i], "--shared-cert") == 0) {
            shared = 1;
        } else if (strcmp(argv[i], "--learn-identity") == 0) {
            g_learn_identity = 1;
        } else if (strcmp(argv[i], "--devices") == 0 && i + 1 < argc) {
            count = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            g_seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: load_gen (--manifest FILE | --shared-cert) [--devices N] [--threads T] "
                            "[--seconds S] [--learn-identity]\n");
            return 2;
        }
    }
    if ((manifest == NULL) == (shared == 0) || count < 1 || count > 100000 || g_seconds <= 0 || threads < 0) {
        fprintf(stderr, "give exactly one of --manifest / --shared-cert, 1..100000 devices, seconds > 0\n");
        return 2;
    }
    if (threads == 0) {
        /* One serving thread per core: IOT_MQTT_Yield(handle, 0) is a poll, so
         * one thread serves hundreds of devices; more threads only contend. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)cores : 1;
    }
    if (threads > count) {
        threads = count;
    }
    g_host = bench_env("IOTX_MQTT_HOST", "localhost");
    g_port = (uint16_t)atoi(bench_env("IOTX_MQTT_PORT", "8883"));
    g_ca = bench_read_file(getenv("IOTX_X509_CA_FILE"));
    IOT_SetLogLevel(IOT_LOG_ERROR);
    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);

    device_t *devices = calloc((size_t)count, sizeof(device_t));
    if (shared) {
        char *cert = bench_read_file(getenv("IOTX_X509_CERT_FILE"));
        char *key = bench_read_file(getenv("IOTX_X509_KEY_FILE"));
        for (int i = 0; i < count; i++) {
            snprintf(devices[i].product_key, sizeof(devices[i].product_key), "a1LoadPK000");
            snprintf(devices[i].device_name, sizeof(devices[i].device_name), "load-%05d", i);
            snprintf(devices[i].client_id, sizeof(devices[i].client_id), "load-%05d", i);
            devices[i].cert = cert;
            devices[i].key = key;
        }
    } else {
        int loaded = load_manifest(manifest, devices, count);
        if (loaded < count) {
            fprintf(stderr, "the manifest has %d devices, fewer than --devices %d: using %d\n", loaded, count, loaded);
            count = loaded;
        }
    }
    for (int i = 0; i < count; i++) {
        snprintf(devices[i].topic, sizeof(devices[i].topic), "/%s/%s/user/get", devices[i].product_key,
                 devices[i].device_name);
    }

    slice_t *slices = calloc((size_t)threads, sizeof(slice_t));
    pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
    pthread_barrier_init(&g_barrier, NULL, (unsigned)threads + 1);
    for (int t = 0, first = 0; t < threads; t++) {
        int size = count / threads + (t < count % threads ? 1 : 0);
        slices[t].devices = devices;
        slices[t].first = first;
        slices[t].count = size;
        first += size;
        if (pthread_create(&tids[t], NULL, run_slice, &slices[t]) != 0) {
            fprintf(stderr, "cannot start thread %d\n", t);
            return 1;
        }
    }

    malloc_count_t heap_before, heap_after;
    bench_malloc_counts(&heap_before);
    long rss_before = bench_rss_kib();
    double t0 = bench_now_us();
    pthread_barrier_wait(&g_barrier);
    pthread_barrier_wait(&g_barrier);
    double connect_s = (bench_now_us() - t0) / 1e6;
    int connected = 0, failed = 0;
    for (int t = 0; t < threads; t++) {
        connected += slices[t].connected;
        failed += slices[t].failed;
    }
    pthread_barrier_wait(&g_barrier);
    pthread_barrier_wait(&g_barrier);
    bench_malloc_counts(&heap_after);
    long rss_after = bench_rss_kib();
    long received_before = 0;
    for (int i = 0; i < count; i++) {
        received_before += atomic_load(&devices[i].received);
    }
    double m0 = bench_now_us();
    pthread_barrier_wait(&g_barrier);
    pthread_barrier_wait(&g_barrier);
    double message_s = (bench_now_us() - m0) / 1e6;
    long received = -received_before;
    int silent = 0;
    for (int i = 0; i < count; i++) {
        long r = atomic_load(&devices[i].received);
        received += r;
        silent += devices[i].client != NULL && r == 0;
    }
    long rss_messages = bench_rss_kib();
    pthread_barrier_wait(&g_barrier);
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
    }

    printf("load_gen: %d devices, %d threads, endpoint %s:%u, %s\n", count, threads, g_host, g_port,
           shared ? "one shared certificate" : (g_learn_identity ? "own certificates, identity learned" :
                                                                   "own certificates, identity known"));
    bench_result("load", "devices_connected", connected, "devices");
    bench_result("load", "devices_failed", failed, "devices");
    bench_result("load", "connect_phase", connect_s, "s");
    bench_result("load", "connections_per_s", connected / connect_s, "conn/s");
    double *latencies = calloc((size_t)count, sizeof(double));
    int timed = 0;
    for (int i = 0; i < count; i++) {
        if (devices[i].client != NULL || devices[i].connect_ms > 0) {
            latencies[timed++] = devices[i].connect_ms;
        }
    }
    bench_result("load", "connect_latency_p50", bench_percentile(latencies, timed, 0.50), "ms");
    bench_result("load", "connect_latency_p99", bench_percentile(latencies, timed, 0.99), "ms");
    free(latencies);
    bench_result("load", "rss_total_connected", (double)rss_after / 1024.0, "MiB");
    bench_result("load", "rss_per_device", connected > 0 ? (double)(rss_after - rss_before) / connected : 0, "KiB");
    if (heap_after.peak_bytes > 0) {
        bench_result("load", "heap_per_device",
                     connected > 0 ? (double)(heap_after.live_bytes - heap_before.live_bytes) / connected / 1024.0 : 0,
                     "KiB");
    }
    bench_result("load", "rss_after_messages", (double)rss_messages / 1024.0, "MiB");
    bench_result("load", "messages_sent_per_s", (double)atomic_load(&g_sent) / message_s, "msg/s");
    bench_result("load", "messages_received_per_s", (double)received / message_s, "msg/s");
    bench_result("load", "devices_without_messages", silent, "devices");
    return failed > 0 ? 1 : 0;
}
