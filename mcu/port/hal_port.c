/*
 * The firmware's HAL port for QEMU mps2-an386, with the vendor's
 * wrappers.h signatures:
 *
 * - HAL_TCP_*: a TCP connection through the CMSDK UART0, the way a
 *   cellular modem in transparent mode carries one. HAL_TCP_Establish sends
 *   AT+CIPSTART="TCP","host",port and waits for "CONNECT OK"; then bytes
 *   pass through unchanged. HAL_TCP_Destroy sends "+++" between two guard
 *   times of silence. mcu/uart_bridge.py plays the modem on the host.
 * - HAL_UptimeMs / HAL_SleepMs: SysTick at 1 kHz (25 MHz core clock).
 * - HAL_Malloc / HAL_Free: newlib's malloc with an in-use and peak counter.
 * - HAL_Random / HAL_Srandom: xorshift64*, seeded by the host (QEMU has no
 *   TRNG; a board feeds its TRNG here).
 * - HAL_Kv_*: one host file per key over semihosting ("kv-KEY.bin").
 * - Mutexes: single task, no-ops. HAL_Printf: semihosting console.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotkit_mcu.h"
#include "semihost.h"
#include "wrappers_min.h"

/* ---- SysTick ------------------------------------------------------------ */

#define CORE_CLOCK_HZ 25000000u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint64_t uptime_ms;

void SysTick_Handler(void)
{
    uptime_ms++;
}

static void systick_start(void)
{
    static int started;
    if (!started) {
        started = 1;
        SYST_RVR = CORE_CLOCK_HZ / 1000u - 1u;
        SYST_CVR = 0;
        SYST_CSR = 7u; /* core clock, interrupt, enable */
    }
}

uint64_t HAL_UptimeMs(void)
{
    systick_start();
    uint64_t a, b;
    do { /* a 64-bit read is two loads; retry across a tick */
        a = uptime_ms;
        b = uptime_ms;
    } while (a != b);
    return a;
}

static void idle(void)
{
    __asm__ volatile("wfi");
}

void HAL_SleepMs(uint32_t ms)
{
    uint64_t end = HAL_UptimeMs() + ms;
    while (HAL_UptimeMs() < end) {
        idle();
    }
}

/* ---- heap ------------------------------------------------------------------ */

static uint32_t heap_in_use, heap_peak;
extern uint8_t __heap_start, __heap_end;
static uint8_t *brk = &__heap_start;

void *_sbrk(ptrdiff_t increment);
void *_sbrk(ptrdiff_t increment)
{
    if (increment > &__heap_end - brk || (increment < 0 && -increment > brk - &__heap_start)) {
        return (void *)-1;
    }
    uint8_t *old = brk;
    brk += increment;
    return old;
}

/* Each block carries its size in front (8 bytes, keeps 8-byte alignment). */
void *HAL_Malloc(uint32_t size)
{
    if (size > 0x7FFFFFF0u) {
        return NULL;
    }
    uint64_t *block = malloc((size_t)size + 8u);
    if (block == NULL) {
        return NULL;
    }
    *(uint32_t *)block = size;
    heap_in_use += size;
    if (heap_in_use > heap_peak) {
        heap_peak = heap_in_use;
    }
    return block + 1;
}

void HAL_Free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    uint64_t *block = (uint64_t *)ptr - 1;
    heap_in_use -= *(uint32_t *)block;
    free(block);
}

/* mbedTLS's calloc/free (MBEDTLS_PLATFORM_CALLOC_MACRO). */
void *iotkit_port_calloc(size_t count, size_t size)
{
    if (size != 0 && count > 0xFFFFFFF0u / size) {
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

void mcu_heap_stats(uint32_t *in_use, uint32_t *peak)
{
    *in_use = heap_in_use;
    *peak = heap_peak;
}

void mcu_heap_reset_peak(void)
{
    heap_peak = heap_in_use;
}

/* ---- random ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void HAL_Srandom(uint32_t seed)
{
    rng_state ^= ((uint64_t)seed << 32) | seed;
    if (rng_state == 0) {
        rng_state = 0x9E3779B97F4A7C15ull;
    }
}

void mcu_random_mix(const uint8_t *seed, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        rng_state = (rng_state ^ seed[i]) * 0x100000001B3ull;
    }
    if (rng_state == 0) {
        rng_state = 0x9E3779B97F4A7C15ull;
    }
}

uint32_t HAL_Random(uint32_t region)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint32_t r = (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
    return region == 0 ? 0 : (region == 0xFFFFFFFFu ? r : r % region);
}

/* ---- mutexes (one task) --------------------------------------------------------- */

static int the_mutex;

void *HAL_MutexCreate(void)
{
    return &the_mutex;
}

void HAL_MutexDestroy(void *mutex)
{
    (void)mutex;
}

void HAL_MutexLock(void *mutex)
{
    (void)mutex;
}

void HAL_MutexUnlock(void *mutex)
{
    (void)mutex;
}

/* ---- console ------------------------------------------------------------------ */

void HAL_Printf(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sh_write0(line);
}

__attribute__((weak)) void iotkit_panic_hook(const char *message, size_t len)
{
    HAL_Printf("iotkit panic: %.*s\n", (int)len, message);
    sh_exit(101);
}

/* ---- key-value store: semihosting files ------------------------------------------ */

static int kv_path(const char *key, char *path, size_t len)
{
    if (key == NULL || key[0] == 0 || strlen(key) > 64 || strpbrk(key, "/\\") != NULL) {
        return -1;
    }
    snprintf(path, len, "kv-%s.bin", key);
    return 0;
}

int HAL_Kv_Set(const char *key, const void *val, int len, int sync)
{
    (void)sync; /* the host writes at close */
    char path[80];
    if (kv_path(key, path, sizeof path) != 0 || val == NULL || len < 0) {
        return -1;
    }
    int fd = sh_open(path, 5);
    if (fd < 0) {
        return -1;
    }
    long n = sh_write(fd, val, (size_t)len);
    sh_close(fd);
    return n == len ? 0 : -1;
}

int HAL_Kv_Get(const char *key, void *val, int *buffer_len)
{
    char path[80];
    if (kv_path(key, path, sizeof path) != 0 || val == NULL || buffer_len == NULL || *buffer_len < 0) {
        return -1;
    }
    int fd = sh_open(path, 1);
    if (fd < 0) {
        return -1;
    }
    long size = sh_flen(fd);
    if (size < 0 || size > *buffer_len) {
        sh_close(fd);
        return -1;
    }
    long n = sh_read(fd, val, (size_t)size);
    sh_close(fd);
    if (n != size) {
        return -1;
    }
    *buffer_len = (int)n;
    return 0;
}

int HAL_Kv_Del(const char *key)
{
    char path[80];
    if (kv_path(key, path, sizeof path) != 0) {
        return -1;
    }
    return sh_remove(path) == 0 ? 0 : -1;
}

/* ---- UART0 (CMSDK APB UART) -------------------------------------------------------- */

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u
#define UART_CTRL_TX_EN 1u
#define UART_CTRL_RX_EN 2u
#define UART_CTRL_RX_INT_EN 8u
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ISPR0 (*(volatile uint32_t *)0xE000E200u)

/* Received bytes, filled by the RX interrupt. When the ring is full the
 * interrupt is masked and the byte stays in the UART: QEMU then stops
 * delivering and TCP flow control holds the sender back, as RTS/CTS would on
 * a board. uart_getc unmasks it once there is room. */
static uint8_t rx_ring[2048];
static volatile uint32_t rx_head, rx_tail;

void UART0_RX_Handler(void)
{
    /* Cleared first: a byte arriving after the loop raises it again. */
    UART_INTCLEAR = 2u;
    while (UART_STATE & UART_STATE_RXFULL) {
        uint32_t next = (rx_head + 1u) % sizeof rx_ring;
        if (next == rx_tail) {
            UART_CTRL &= ~UART_CTRL_RX_INT_EN;
            return;
        }
        rx_ring[rx_head] = (uint8_t)UART_DATA;
        rx_head = next;
    }
}

static void uart_start(void)
{
    static int started;
    if (!started) {
        started = 1;
        UART_BAUDDIV = 16;
        UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INT_EN;
        NVIC_ISER0 = 1u; /* IRQ 0: UART0 RX */
    }
}

static int uart_getc(void)
{
    if (rx_tail == rx_head) {
        return -1;
    }
    uint8_t b = rx_ring[rx_tail];
    rx_tail = (rx_tail + 1u) % sizeof rx_ring;
    if (!(UART_CTRL & UART_CTRL_RX_INT_EN)) {
        UART_CTRL |= UART_CTRL_RX_INT_EN;
        NVIC_ISPR0 = 1u; /* room again: run the handler for the waiting byte */
    }
    return b;
}

static int uart_write(const uint8_t *buf, uint32_t len, uint64_t deadline)
{
    uint32_t done = 0;
    while (done < len) {
        if (UART_STATE & UART_STATE_TXFULL) {
            if (HAL_UptimeMs() >= deadline) {
                break;
            }
            continue;
        }
        UART_DATA = buf[done++];
    }
    return (int)done;
}

static void uart_puts(const char *text)
{
    uart_write((const uint8_t *)text, (uint32_t)strlen(text), HAL_UptimeMs() + 1000u);
}

/* Reads one line (without CR LF) within the deadline; -1 when none came. */
static int uart_line(char *line, size_t len, uint64_t deadline)
{
    size_t n = 0;
    while (HAL_UptimeMs() < deadline) {
        int c = uart_getc();
        if (c < 0) {
            idle();
            continue;
        }
        if (c == '\n') {
            if (n == 0) {
                continue;
            }
            line[n] = 0;
            return (int)n;
        }
        if (c != '\r' && n + 1 < len) {
            line[n++] = (char)c;
        }
    }
    return -1;
}

static void uart_drain(uint32_t quiet_ms)
{
    uint64_t until = HAL_UptimeMs() + quiet_ms;
    while (HAL_UptimeMs() < until) {
        if (uart_getc() >= 0) {
            until = HAL_UptimeMs() + quiet_ms;
        } else {
            idle();
        }
    }
}

/* ---- HAL_TCP over the UART ------------------------------------------------------------ */

#define MODEM_GUARD_MS 600u
#define TCP_HANDLE 1u
static int tcp_open;

size_t HAL_TCP_Establish(const char *host, uint16_t port)
{
    if (host == NULL || host[0] == 0 || strlen(host) > 100 || strpbrk(host, "\",\r\n") != NULL) {
        HAL_Printf("HAL_TCP_Establish: the host name is empty, too long or holds quotes, commas or line breaks\n");
        return 0;
    }
    if (tcp_open) {
        HAL_TCP_Destroy(TCP_HANDLE);
    }
    uart_start();
    uart_drain(20);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "AT+CIPSTART=\"TCP\",\"%s\",%u\r\n", host, (unsigned)port);
    uart_puts(cmd);
    char line[64];
    uint64_t deadline = HAL_UptimeMs() + 10000u;
    while (uart_line(line, sizeof line, deadline) >= 0) {
        if (strcmp(line, "CONNECT OK") == 0) {
            tcp_open = 1;
            return TCP_HANDLE;
        }
        if (strncmp(line, "ERROR", 5) == 0 || strncmp(line, "CONNECT FAIL", 12) == 0) {
            HAL_Printf("HAL_TCP_Establish: the modem could not connect to %s:%u (%s)\n", host, (unsigned)port, line);
            return 0;
        }
    }
    HAL_Printf("HAL_TCP_Establish: the modem did not answer AT+CIPSTART within 10 s\n");
    return 0;
}

int32_t HAL_TCP_Destroy(size_t fd)
{
    if (fd != TCP_HANDLE || !tcp_open) {
        return -1;
    }
    tcp_open = 0;
    /* Escape to command mode: silence, "+++", silence; the modem closes. */
    HAL_SleepMs(MODEM_GUARD_MS);
    uart_puts("+++");
    HAL_SleepMs(MODEM_GUARD_MS);
    uart_drain(20);
    return 0;
}

int32_t HAL_TCP_Write(size_t fd, const char *buf, uint32_t len, uint32_t timeout_ms)
{
    if (fd != TCP_HANDLE || !tcp_open || buf == NULL) {
        return -1;
    }
    uart_start();
    int n = uart_write((const uint8_t *)buf, len, HAL_UptimeMs() + timeout_ms);
    return n == 0 && len > 0 ? -1 : n;
}

int32_t HAL_TCP_Read(size_t fd, char *buf, uint32_t len, uint32_t timeout_ms)
{
    if (fd != TCP_HANDLE || !tcp_open || buf == NULL) {
        return -1;
    }
    uart_start();
    uint64_t deadline = HAL_UptimeMs() + timeout_ms;
    uint32_t n = 0;
    while (n < len) {
        int c = uart_getc();
        if (c >= 0) {
            buf[n++] = (char)c;
            continue;
        }
        if (HAL_UptimeMs() >= deadline) {
            break;
        }
        idle();
    }
    return (int32_t)n;
}
