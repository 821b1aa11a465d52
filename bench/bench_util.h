/*
 * Helpers shared by the C benchmarks: monotonic time, percentiles, RSS,
 * files, the malloc_count shim (found with dlsym, so every program also runs
 * without LD_PRELOAD) and the result lines scripts/bench.sh turns into tables:
 *   RESULT <client> <metric> <value> <unit>
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "malloc_count.h"

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of `n` samples, sorting them in place. */
static inline double bench_percentile(double *samples, int n, double q)
{
    if (n <= 0) {
        return 0.0;
    }
    qsort(samples, (size_t)n, sizeof(double), bench_cmp_double);
    int index = (int)(q * (double)(n - 1) + 0.5);
    return samples[index];
}

static inline double bench_mean(const double *samples, int n)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        sum += samples[i];
    }
    return n > 0 ? sum / n : 0.0;
}

/* CPU time (user + system) this process has used so far, all its threads
 * (Paho's receive thread too), in microseconds: getrusage(RUSAGE_SELF). */
static inline double bench_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Resident set size of this process in KiB (VmRSS), or -1. */
static inline long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* The whole file as a NUL-terminated string (exits with a message on failure). */
static inline char *bench_read_file(const char *path)
{
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        fprintf(stderr, "cannot read '%s' (set the IOTX_X509_* variables, see scripts/with_mosquitto.sh)\n",
                path != NULL ? path : "(unset)");
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read '%s'\n", path);
        exit(2);
    }
    data[size] = '\0';
    fclose(f);
    return data;
}

static inline const char *bench_env(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

/* Counters of the LD_PRELOADed malloc_count shim; all zero without it. */
static inline int bench_malloc_counts(malloc_count_t *out)
{
    static malloc_count_get_fn get;
    static int looked_up;
    if (!looked_up) {
        get = (malloc_count_get_fn)dlsym(RTLD_DEFAULT, "malloc_count_get");
        looked_up = 1;
    }
    memset(out, 0, sizeof(*out));
    if (get == NULL) {
        return 0;
    }
    get(out);
    return 1;
}

static inline void bench_malloc_reset_peak(void)
{
    malloc_count_reset_peak_fn reset =
        (malloc_count_reset_peak_fn)dlsym(RTLD_DEFAULT, "malloc_count_reset_peak");
    if (reset != NULL) {
        reset();
    }
}

static inline unsigned long long bench_allocations(const malloc_count_t *c)
{
    return c->mallocs + c->callocs + c->reallocs;
}

static inline void bench_result(const char *client, const char *metric, double value, const char *unit)
{
    printf("RESULT %s %s %.3f %s\n", client, metric, value, unit);
    fflush(stdout);
}

typedef struct {
    int connects;      /* connect-time samples */
    int qos0_messages; /* QoS 0 messages in the throughput run */
    int qos0_window;   /* QoS 0 messages published ahead of those received */
    int qos1_messages; /* QoS 1 round trips */
    int idle_conns;    /* extra idle connections for heap per connection */
    int payload;       /* payload bytes */
    int cpu_qos0;      /* QoS 0 messages in the CPU-time run (blocking waits) */
    int cpu_qos1;      /* QoS 1 round trips in the CPU-time run (blocking waits) */
} bench_config_t;

static inline void bench_parse_args(int argc, char **argv, bench_config_t *cfg)
{
    cfg->connects = 20;
    cfg->qos0_messages = 20000;
    cfg->qos0_window = 100;
    cfg->qos1_messages = 1000;
    cfg->idle_conns = 10;
    cfg->payload = 64;
    cfg->cpu_qos0 = 5000;
    cfg->cpu_qos1 = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        int value = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--connects") == 0) {
            cfg->connects = value;
        } else if (strcmp(argv[i], "--qos0") == 0) {
            cfg->qos0_messages = value;
        } else if (strcmp(argv[i], "--window") == 0) {
            cfg->qos0_window = value;
        } else if (strcmp(argv[i], "--qos1") == 0) {
            cfg->qos1_messages = value;
        } else if (strcmp(argv[i], "--idle") == 0) {
            cfg->idle_conns = value;
        } else if (strcmp(argv[i], "--payload") == 0) {
            cfg->payload = value;
        } else if (strcmp(argv[i], "--cpu-qos0") == 0) {
            cfg->cpu_qos0 = value;
        } else if (strcmp(argv[i], "--cpu-qos1") == 0) {
            cfg->cpu_qos1 = value;
        } else {
            fprintf(stderr, "unknown option %s (options: --connects N --qos0 N --window N --qos1 N --idle N --payload BYTES "
                    "--cpu-qos0 N --cpu-qos1 N)\n",
                    argv[i]);
            exit(2);
        }
    }
    if (cfg->connects < 1 || cfg->qos0_messages < 1 || cfg->qos0_window < 1 || cfg->qos1_messages < 1 ||
        cfg->idle_conns < 1 || cfg->cpu_qos0 < 1 || cfg->cpu_qos1 < 1 || cfg->payload < 16 || cfg->payload > 65536) {
        fprintf(stderr, "every count must be >= 1 and the payload 16..65536 bytes\n");
        exit(2);
    }
}

#endif
