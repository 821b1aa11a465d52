/* Counters of the malloc_count LD_PRELOAD shim (see malloc_count.c). */
#ifndef MALLOC_COUNT_H
#define MALLOC_COUNT_H

typedef struct {
    unsigned long long mallocs;  /* malloc, memalign, aligned_alloc, posix_memalign */
    unsigned long long callocs;
    unsigned long long reallocs;
    unsigned long long frees;    /* free(non-NULL) */
    long long live_bytes;        /* usable bytes allocated and not freed */
    long long peak_bytes;        /* highest live_bytes since start or the last reset */
} malloc_count_t;

typedef void (*malloc_count_get_fn)(malloc_count_t *out);
typedef void (*malloc_count_reset_peak_fn)(void);

void malloc_count_get(malloc_count_t *out);
void malloc_count_reset_peak(void);

#endif
