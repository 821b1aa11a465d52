/* A tiny stand-in for the vendor's C core in the "wrappers only" setup: it
 * declares the HAL functions itself (as the vendor core does through its own
 * wrappers.h), is linked against the HAL-only libiotkit.a, assigns the
 * device credentials to g_cli_crt / g_cli_key at run time (read from files)
 * and completes mutual-TLS round trips through HAL_SSL_*.
 *
 * Usage: hal_core_mtls <host> <port> <ca.crt> <client.crt> <client.key>
 * (run_with_peer.sh starts the peer and passes these). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

/* What the vendor core expects from the wrappers (wrappers_tls.h, 3.2.x). */
typedef struct {
    void *(*malloc)(uint32_t size);
    void (*free)(void *ptr);
} ssl_hooks_t;
uintptr_t HAL_SSL_Establish(const char *host, uint16_t port, const char *ca_crt, uint32_t ca_crt_len);
int HAL_SSL_Read(uintptr_t handle, char *buf, int len, int timeout_ms);
int HAL_SSL_Write(uintptr_t handle, const char *buf, int len, int timeout_ms);
int32_t HAL_SSL_Destroy(uintptr_t handle);
int ssl_hooks_set(ssl_hooks_t *hooks);
extern const char *g_cli_crt;
extern const char *g_cli_key;

#define ROUND_TRIPS 3

/* Reads a whole file into a NUL-terminated heap buffer. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            text = malloc((size_t)size + 1);
            if (text != NULL && fread(text, 1, (size_t)size, f) == (size_t)size) {
                text[size] = '\0';
            } else {
                free(text);
                text = NULL;
            }
        }
    }
    fclose(f);
    return text;
}

/* Reads until a newline arrives (the peer answers line by line). */
static int read_line(uintptr_t handle, char *buf, int cap)
{
    int used = 0;
    while (used < cap - 1) {
        int n = HAL_SSL_Read(handle, buf + used, 1, 5000);
        if (n <= 0) {
            return n == 0 ? -100 : n;
        }
        used += n;
        if (buf[used - 1] == '\n') {
            break;
        }
    }
    buf[used] = '\0';
    return used;
}

static void round_trip(const char *host, uint16_t port, const char *ca)
{
    uintptr_t handle = HAL_SSL_Establish(host, port, ca, (uint32_t)strlen(ca) + 1);
    CHECK(handle != 0);
    if (handle == 0) {
        return;
    }
    const char *ping = "ping from the vendor core\n";
    CHECK_INT(HAL_SSL_Write(handle, ping, (int)strlen(ping), 2000), (int)strlen(ping));
    char answer[64];
    CHECK_INT(read_line(handle, answer, sizeof answer), (int)strlen(ping));
    CHECK_STR(answer, "eroc rodnev eht morf gnip\n");
    /* Nothing more is coming: a short read times out with 0. */
    CHECK_INT(HAL_SSL_Read(handle, answer, sizeof answer, 50), 0);
    CHECK_INT(HAL_SSL_Destroy(handle), 0);
    /* The handle is dead now: every use fails cleanly. */
    CHECK_INT(HAL_SSL_Destroy(handle), -1);
    CHECK_INT(HAL_SSL_Read(handle, answer, sizeof answer, 10), -1);
    CHECK_INT(HAL_SSL_Write(handle, ping, 4, 10), -1);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s <host> <port> <ca.crt> <client.crt> <client.key>\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    uint16_t port = (uint16_t)atoi(argv[2]);
    char *ca = read_file(argv[3]);
    char *cert = read_file(argv[4]);
    char *key = read_file(argv[5]);
    if (ca == NULL || cert == NULL || key == NULL) {
        return 2;
    }

    /* Out of the box the credentials are unset and the server, which
     * demands a client certificate, refuses us. */
    CHECK(g_cli_crt == NULL && g_cli_key == NULL);
    CHECK(HAL_SSL_Establish(host, port, ca, (uint32_t)strlen(ca) + 1) == 0);

    /* Firmware supplies them at run time. */
    g_cli_crt = cert;
    g_cli_key = key;
    for (int i = 0; i < ROUND_TRIPS; i++) {
        round_trip(host, port, ca);
    }

    /* Bad arguments fail without crashing. */
    CHECK(HAL_SSL_Establish(NULL, port, ca, 0) == 0);
    CHECK(HAL_SSL_Read(0, NULL, 10, 10) == -1);
    CHECK_INT(ssl_hooks_set(NULL), -1);

    g_cli_crt = NULL;
    g_cli_key = NULL;
    free(ca);
    free(cert);
    free(key);
    return check_report();
}
