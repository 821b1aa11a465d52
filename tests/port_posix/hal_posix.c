/*
 * The HAL port of libiotkit_port.a (crates/port) for Linux/POSIX, with the
 * vendor's wrappers.h signatures (mcu/include/wrappers_min.h):
 *
 * - HAL_TCP_*: BSD sockets, non-blocking, every wait bounded with poll(2);
 *   TCP_NODELAY; send with MSG_NOSIGNAL (a closed peer is an error, not a
 *   SIGPIPE). Handles are the descriptor + 1 (0 means "no connection").
 * - HAL_UptimeMs: CLOCK_MONOTONIC, from the first call. HAL_SleepMs:
 *   nanosleep, resumed after signals.
 * - HAL_Malloc / HAL_Free: malloc/free with a 16-byte header holding the
 *   size, for the in-use and peak counters (mcu_heap_stats).
 * - HAL_Random: getrandom(2), the kernel's CSPRNG (HAL_Srandom and
 *   mcu_random_mix have nothing to seed and do nothing).
 * - HAL_Kv_*: one file per key, "kv-KEY.bin", in the directory named by
 *   IOTKIT_PORT_KV_DIR (the current directory when unset). A value is
 *   written to a temporary file, fsync'ed, renamed over the old one and the
 *   directory fsync'ed: after a crash the key holds the old or the new
 *   value, never a torn one.
 * - Mutexes: pthread mutexes. HAL_Printf: vprintf, flushed per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iotkit_mcu.h"
#include "wrappers_min.h"

/* ---- time ------------------------------------------------------------------- */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static uint64_t start_ms;

static void remember_start(void)
{
    start_ms = monotonic_ms();
}

uint64_t HAL_UptimeMs(void)
{
    pthread_once(&start_once, remember_start);
    return monotonic_ms() - start_ms;
}

void HAL_SleepMs(uint32_t ms)
{
    struct timespec left = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* Milliseconds until `deadline` (an HAL_UptimeMs value) for poll(2). */
static int remaining_ms(uint64_t deadline)
{
    uint64_t now = HAL_UptimeMs();
    if (now >= deadline) {
        return 0;
    }
    uint64_t left = deadline - now;
    return left > 0x7FFFFFFFu ? 0x7FFFFFFF : (int)left;
}

static uint64_t deadline_after(uint32_t timeout_ms)
{
    return HAL_UptimeMs() + timeout_ms;
}

/* ---- heap --------------------------------------------------------------------- */

#define HEAP_HEADER 16u /* keeps malloc's 16-byte alignment */

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t heap_in_use, heap_peak;

void *HAL_Malloc(uint32_t size)
{
    unsigned char *block = malloc((size_t)size + HEAP_HEADER);
    if (block == NULL) {
        return NULL;
    }
    memcpy(block, &size, sizeof size);
    pthread_mutex_lock(&heap_lock);
    heap_in_use += size;
    if (heap_in_use > heap_peak) {
        heap_peak = heap_in_use;
    }
    pthread_mutex_unlock(&heap_lock);
    return block + HEAP_HEADER;
}

void HAL_Free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    unsigned char *block = (unsigned char *)ptr - HEAP_HEADER;
    uint32_t size;
    memcpy(&size, block, sizeof size);
    pthread_mutex_lock(&heap_lock);
    heap_in_use -= size;
    pthread_mutex_unlock(&heap_lock);
    free(block);
}

/* mbedTLS's calloc/free (MBEDTLS_PLATFORM_CALLOC_MACRO in
 * mcu/mbedtls-config/mbedtls/target_config.h). */
void *iotkit_port_calloc(size_t count, size_t size)
{
    if (size != 0 && count > (size_t)0xFFFFFFF0u / size) {
        return NULL;
    }
    void *p = HAL_Malloc((uint32_t)(count * size));
    if (p != NULL) {
        memset(p, 0, count * size);
    }
    return p;
}

void iotkit_port_free(void *ptr)
{
    HAL_Free(ptr);
}

static uint32_t clamp32(size_t v)
{
    return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)v;
}

void mcu_heap_stats(uint32_t *in_use, uint32_t *peak)
{
    pthread_mutex_lock(&heap_lock);
    *in_use = clamp32(heap_in_use);
    *peak = clamp32(heap_peak);
    pthread_mutex_unlock(&heap_lock);
}

void mcu_heap_reset_peak(void)
{
    pthread_mutex_lock(&heap_lock);
    heap_peak = heap_in_use;
    pthread_mutex_unlock(&heap_lock);
}

/* ---- random --------------------------------------------------------------------- */

static uint32_t random_word(void)
{
    uint32_t word;
    size_t got = 0;
    while (got < sizeof word) {
        ssize_t n = getrandom((unsigned char *)&word + got, sizeof word - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            /* No entropy would make every key and nonce guessable: stop. */
            HAL_Printf("HAL_Random: getrandom failed: %s\n", strerror(errno));
            abort();
        }
        got += (size_t)n;
    }
    return word;
}

uint32_t HAL_Random(uint32_t region)
{
    if (region == 0) {
        return 0;
    }
    if (region == 0xFFFFFFFFu) {
        return random_word();
    }
    /* Rejection sampling: no modulo bias. */
    uint32_t limit = 0xFFFFFFFFu - (0xFFFFFFFFu % region);
    uint32_t r;
    do {
        r = random_word();
    } while (r >= limit);
    return r % region;
}

void HAL_Srandom(uint32_t seed)
{
    (void)seed; /* the kernel's generator takes no seed */
}

void mcu_random_mix(const uint8_t *seed, size_t len)
{
    (void)seed;
    (void)len;
}

/* ---- mutexes --------------------------------------------------------------------- */

void *HAL_MutexCreate(void)
{
    pthread_mutex_t *m = malloc(sizeof *m);
    if (m != NULL && pthread_mutex_init(m, NULL) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

void HAL_MutexDestroy(void *mutex)
{
    if (mutex != NULL) {
        pthread_mutex_destroy(mutex);
        free(mutex);
    }
}

void HAL_MutexLock(void *mutex)
{
    if (mutex != NULL) {
        pthread_mutex_lock(mutex);
    }
}

void HAL_MutexUnlock(void *mutex)
{
    if (mutex != NULL) {
        pthread_mutex_unlock(mutex);
    }
}

/* ---- console ------------------------------------------------------------------------ */

void HAL_Printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

__attribute__((weak)) void iotkit_panic_hook(const char *message, size_t len)
{
    HAL_Printf("iotkit panic: %.*s\n", (int)len, message);
    abort();
}

/* ---- key-value store: one file per key -------------------------------------------------- */

static const char *kv_dir(void)
{
    const char *dir = getenv("IOTKIT_PORT_KV_DIR");
    return dir != NULL && dir[0] != 0 ? dir : ".";
}

/* "DIR/kv-KEY.bin"; keys are 1..64 characters of letters, digits and "_.-". */
static int kv_path(const char *key, char *path, size_t len)
{
    if (key == NULL) {
        return -1;
    }
    size_t n = strlen(key);
    if (n == 0 || n > 64 || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
        return -1;
    }
    int w = snprintf(path, len, "%s/kv-%s.bin", kv_dir(), key);
    return w > 0 && (size_t)w < len ? 0 : -1;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int HAL_Kv_Set(const char *key, const void *val, int len, int sync)
{
    (void)sync; /* always durable */
    char path[4096], tmp[4160];
    if (kv_path(key, path, sizeof path) != 0 || (val == NULL && len != 0) || len < 0) {
        return -1;
    }
    /* A unique temporary name (mkostemp: mode 0600), so that two writers of
     * one key never share a temporary file. */
    snprintf(tmp, sizeof tmp, "%s/.kv-%s.bin.XXXXXX", kv_dir(), key);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        HAL_Printf("HAL_Kv_Set: cannot create %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, val, (size_t)len) != 0 || fsync(fd) != 0) {
        HAL_Printf("HAL_Kv_Set: cannot write %s: %s\n", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        HAL_Printf("HAL_Kv_Set: cannot replace %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (fsync_dir(kv_dir()) != 0) {
        HAL_Printf("HAL_Kv_Set: cannot sync the directory %s: %s\n", kv_dir(), strerror(errno));
        return -1;
    }
    return 0;
}

int HAL_Kv_Get(const char *key, void *val, int *buffer_len)
{
    char path[4096];
    if (kv_path(key, path, sizeof path) != 0 || val == NULL || buffer_len == NULL || *buffer_len < 0) {
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1; /* missing: quietly */
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > 0x7FFFFFFF) {
        close(fd);
        return -1;
    }
    if (st.st_size > *buffer_len) {
        *buffer_len = (int)st.st_size; /* the size needed */
        close(fd);
        return -1;
    }
    size_t got = 0, want = (size_t)st.st_size;
    while (got < want) {
        ssize_t n = read(fd, (unsigned char *)val + got, want - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    *buffer_len = (int)got;
    return 0;
}

int HAL_Kv_Del(const char *key)
{
    char path[4096];
    if (kv_path(key, path, sizeof path) != 0) {
        return -1;
    }
    if (unlink(path) != 0) {
        return errno == ENOENT ? 0 : -1;
    }
    return fsync_dir(kv_dir()) == 0 ? 0 : -1;
}

/* ---- TCP ------------------------------------------------------------------------------------ */

#define CONNECT_TIMEOUT_MS 10000u

static int handle_fd(size_t handle)
{
    return handle == 0 || handle > 0x7FFFFFFFu ? -1 : (int)(handle - 1u);
}

/* A non-blocking connect to one address, bounded by CONNECT_TIMEOUT_MS. */
static int connect_one(const struct addrinfo *ai, char *why, size_t why_len)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(why, why_len, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            snprintf(why, why_len, "connect: %s", strerror(errno));
            close(fd);
            return -1;
        }
        uint64_t deadline = deadline_after(CONNECT_TIMEOUT_MS);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int rc;
        do {
            rc = poll(&p, 1, remaining_ms(deadline));
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            snprintf(why, why_len, "no answer within %u ms", CONNECT_TIMEOUT_MS);
            close(fd);
            return -1;
        }
        int err = 0;
        socklen_t err_len = sizeof err;
        if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
            snprintf(why, why_len, "connect: %s", strerror(rc < 0 ? errno : err));
            close(fd);
            return -1;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

size_t HAL_TCP_Establish(const char *host, uint16_t port)
{
    if (host == NULL || host[0] == 0) {
        HAL_Printf("HAL_TCP_Establish: no host name\n");
        return 0;
    }
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    /* No AI_ADDRCONFIG: on a host with only loopback it would hide localhost. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0) {
        HAL_Printf("HAL_TCP_Establish: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return 0;
    }
    char why[160] = "no address";
    int fd = -1;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, why, sizeof why);
    }
    freeaddrinfo(list);
    if (fd < 0) {
        HAL_Printf("HAL_TCP_Establish: cannot connect to %s:%u (%s)\n", host, (unsigned)port, why);
        return 0;
    }
    return (size_t)fd + 1u;
}

int32_t HAL_TCP_Destroy(size_t handle)
{
    if (handle == 0) {
        return 0;
    }
    int fd = handle_fd(handle);
    if (fd < 0) {
        return -1;
    }
    shutdown(fd, SHUT_RDWR);
    return close(fd) == 0 ? 0 : -1;
}

/* Waits until fd is ready for `events` or the deadline passes: 1 ready,
 * 0 time out, -1 error. */
static int wait_for(int fd, short events, uint64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int rc = poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc < 0) {
            return -1;
        }
        return rc == 0 ? 0 : 1;
    }
}

int32_t HAL_TCP_Write(size_t handle, const char *buf, uint32_t len, uint32_t timeout_ms)
{
    int fd = handle_fd(handle);
    if (fd < 0 || (buf == NULL && len > 0)) {
        return -1;
    }
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    uint64_t deadline = deadline_after(timeout_ms);
    uint32_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (uint32_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return done > 0 ? (int32_t)done : -1;
        }
        int ready = wait_for(fd, POLLOUT, deadline);
        if (ready < 0) {
            return done > 0 ? (int32_t)done : -1;
        }
        if (ready == 0) {
            break;
        }
    }
    return done == 0 && len > 0 ? -1 : (int32_t)done;
}

int32_t HAL_TCP_Read(size_t handle, char *buf, uint32_t len, uint32_t timeout_ms)
{
    int fd = handle_fd(handle);
    if (fd < 0 || (buf == NULL && len > 0)) {
        return -1;
    }
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    uint64_t deadline = deadline_after(timeout_ms);
    uint32_t done = 0;
    while (done < len) {
        ssize_t n = recv(fd, buf + done, len - done, MSG_DONTWAIT);
        if (n > 0) {
            done += (uint32_t)n;
            continue;
        }
        if (n == 0) {
            return done > 0 ? (int32_t)done : -2; /* the peer closed */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return done > 0 ? (int32_t)done : -1;
        }
        int ready = wait_for(fd, POLLIN, deadline);
        if (ready < 0) {
            return done > 0 ? (int32_t)done : -1;
        }
        if (ready == 0) {
            break;
        }
    }
    return (int32_t)done;
}
