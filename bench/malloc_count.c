/*
 * malloc_count: an LD_PRELOAD shim that counts heap use of a whole process
 * (the Rust library, mbedTLS, OpenSSL, Paho, libc) — what HAL_Malloc's own
 * counters cannot see.
 *
 *   LD_PRELOAD=./libmalloc_count.so PROGRAM ...
 *
 * Counts malloc/calloc/realloc/free (and the aligned variants) calls, live
 * and peak bytes (usable sizes as glibc reports them). A program reads the
 * counters through malloc_count_get() (look it up with dlsym so it also runs
 * without the shim); with MALLOC_COUNT_REPORT=1 they are printed at exit.
 *
 * It forwards to glibc's __libc_* entry points instead of dlsym(RTLD_NEXT),
 * because dlsym itself allocates and would recurse into the shim.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "malloc_count.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static atomic_ullong g_mallocs, g_callocs, g_reallocs, g_frees;
static atomic_llong g_live_bytes, g_peak_bytes;

static void note_peak(long long live)
{
    long long peak = atomic_load_explicit(&g_peak_bytes, memory_order_relaxed);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&g_peak_bytes, &peak, live, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void *counted(void *ptr)
{
    if (ptr != NULL) {
        long long size = (long long)malloc_usable_size(ptr);
        note_peak(atomic_fetch_add_explicit(&g_live_bytes, size, memory_order_relaxed) + size);
    }
    return ptr;
}

static void uncount(void *ptr)
{
    if (ptr != NULL) {
        atomic_fetch_sub_explicit(&g_live_bytes, (long long)malloc_usable_size(ptr), memory_order_relaxed);
    }
}

void *malloc(size_t size)
{
    atomic_fetch_add_explicit(&g_mallocs, 1, memory_order_relaxed);
    return counted(__libc_malloc(size));
}

void *calloc(size_t count, size_t size)
{
    atomic_fetch_add_explicit(&g_callocs, 1, memory_order_relaxed);
    return counted(__libc_calloc(count, size));
}

void *realloc(void *ptr, size_t size)
{
    atomic_fetch_add_explicit(&g_reallocs, 1, memory_order_relaxed);
    /* The old block's size must be read before glibc may free it. */
    long long old_size = ptr != NULL ? (long long)malloc_usable_size(ptr) : 0;
    void *moved = __libc_realloc(ptr, size);
    if (moved == NULL) {
        if (size == 0 && ptr != NULL) { /* realloc(p, 0) freed p */
            atomic_fetch_sub_explicit(&g_live_bytes, old_size, memory_order_relaxed);
        }
        return NULL;
    }
    long long delta = (long long)malloc_usable_size(moved) - old_size;
    note_peak(atomic_fetch_add_explicit(&g_live_bytes, delta, memory_order_relaxed) + delta);
    return moved;
}

void free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    atomic_fetch_add_explicit(&g_frees, 1, memory_order_relaxed);
    uncount(ptr);
    __libc_free(ptr);
}

void *memalign(size_t alignment, size_t size)
{
    atomic_fetch_add_explicit(&g_mallocs, 1, memory_order_relaxed);
    return counted(__libc_memalign(alignment, size));
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    void *ptr = memalign(alignment, size);
    if (ptr == NULL) {
        return ENOMEM;
    }
    *out = ptr;
    return 0;
}

void malloc_count_get(malloc_count_t *out)
{
    out->mallocs = atomic_load(&g_mallocs);
    out->callocs = atomic_load(&g_callocs);
    out->reallocs = atomic_load(&g_reallocs);
    out->frees = atomic_load(&g_frees);
    out->live_bytes = atomic_load(&g_live_bytes);
    out->peak_bytes = atomic_load(&g_peak_bytes);
}

void malloc_count_reset_peak(void)
{
    atomic_store(&g_peak_bytes, atomic_load(&g_live_bytes));
}

__attribute__((destructor)) static void malloc_count_report(void)
{
    const char *report = getenv("MALLOC_COUNT_REPORT");
    if (report == NULL || strcmp(report, "1") != 0) {
        return;
    }
    malloc_count_t c;
    malloc_count_get(&c);
    fprintf(stderr,
            "malloc_count: malloc=%llu calloc=%llu realloc=%llu free=%llu live=%lld peak=%lld bytes\n",
            c.mallocs, c.callocs, c.reallocs, c.frees, c.live_bytes, c.peak_bytes);
}
