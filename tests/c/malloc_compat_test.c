/*
 * HAL_Malloc / HAL_Free are interchangeable with the C library's allocator:
 * firmware written for the vendor SDK resizes HAL_Malloc blocks with
 * realloc, frees them with free, hands malloc blocks to HAL_Free, and hooks
 * JSON parsers with { HAL_Malloc, HAL_Free, realloc }. Each pattern runs
 * here, also from several threads at once; under the asan preset
 * AddressSanitizer checks every block went back to the allocator it came
 * from. The heap counters must stay meaningful through all of it: they count
 * only HAL_Malloc blocks and never drop below what is really live.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wrappers.h"
#include "check.h"

static iotkit_heap_stats_t stats_now(void)
{
    iotkit_heap_stats_t s;
    memset(&s, 0, sizeof(s));
    CHECK_INT(iotkit_heap_stats(&s), 0);
    return s;
}

/* HAL_Malloc -> realloc (growing, so it usually moves) -> free. */
static void hal_malloc_realloc_free(void)
{
    char *p = (char *)HAL_Malloc(16);
    char *q;
    CHECK(p != NULL);
    if (p == NULL) {
        return;
    }
    memcpy(p, "0123456789abcde", 16);
    q = (char *)realloc(p, 64 * 1024);
    CHECK(q != NULL);
    if (q == NULL) {
        free(p);
        return;
    }
    CHECK_STR(q, "0123456789abcde");
    memset(q + 16, 'x', 64 * 1024 - 16);
    free(q);
}

/* HAL_Malloc -> realloc -> HAL_Free, and HAL_Malloc -> free. */
static void hal_malloc_realloc_hal_free(void)
{
    char *p = (char *)HAL_Malloc(100);
    char *q;
    CHECK(p != NULL);
    if (p == NULL) {
        return;
    }
    memset(p, 1, 100);
    q = (char *)realloc(p, 4000);
    CHECK(q != NULL);
    if (q == NULL) {
        HAL_Free(p);
        return;
    }
    CHECK(q[99] == 1);
    HAL_Free(q);

    p = (char *)HAL_Malloc(10);
    CHECK(p != NULL);
    free(p);
}

/* malloc / calloc / realloc / strdup blocks -> HAL_Free. */
static void libc_blocks_to_hal_free(void)
{
    char *m = (char *)malloc(33);
    char *c = (char *)calloc(7, 9);
    char *r = (char *)realloc(NULL, 500);
    char *d = strdup("from strdup");
    CHECK(m && c && r && d);
    HAL_Free(m);
    HAL_Free(c);
    HAL_Free(r);
    HAL_Free(d);
}

/* A JSON library's allocator hooks as the vendor's examples set them. */
struct alloc_hooks {
    void *(*malloc_fn)(size_t size);
    void (*free_fn)(void *ptr);
    void *(*realloc_fn)(void *ptr, size_t size);
};

static void *hal_malloc_hook(size_t size)
{
    return size > UINT32_MAX ? NULL : HAL_Malloc((uint32_t)size);
}

/* A print buffer that doubles with realloc_fn, plus a list of nodes, the
 * way a JSON printer and parser use their hooks; everything is released
 * through free_fn. */
static void json_like_hooks(const struct alloc_hooks *hooks)
{
    struct node {
        struct node *next;
        char *text;
    } *head = NULL;
    size_t cap = 8;
    size_t len = 0;
    char *buf = (char *)hooks->malloc_fn(cap);
    int i;

    CHECK(buf != NULL);
    if (buf == NULL) {
        return;
    }
    for (i = 0; i < 200; i++) {
        char item[32];
        size_t n = (size_t)HAL_Snprintf(item, sizeof(item), "\"k%d\":%d,", i, i * 7);
        struct node *nd;
        if (len + n + 1 > cap) {
            char *grown;
            while (len + n + 1 > cap) {
                cap *= 2;
            }
            grown = (char *)hooks->realloc_fn(buf, cap);
            CHECK(grown != NULL);
            if (grown == NULL) {
                break;
            }
            buf = grown;
        }
        memcpy(buf + len, item, n + 1);
        len += n;

        nd = (struct node *)hooks->malloc_fn(sizeof(*nd));
        CHECK(nd != NULL);
        if (nd == NULL) {
            break;
        }
        nd->text = (char *)hooks->malloc_fn(n + 1);
        CHECK(nd->text != NULL);
        if (nd->text != NULL) {
            memcpy(nd->text, item, n + 1);
        }
        nd->next = head;
        head = nd;
    }
    CHECK(strncmp(buf, "\"k0\":0,\"k1\":7,", 14) == 0);
    CHECK(strstr(buf, "\"k199\":1393,") != NULL);
    hooks->free_fn(buf);
    while (head != NULL) {
        struct node *next = head->next;
        hooks->free_fn(head->text);
        hooks->free_fn(head);
        head = next;
    }
}

static void counters_stay_meaningful(void)
{
    const struct alloc_hooks vendor_hooks = {hal_malloc_hook, HAL_Free, realloc};
    iotkit_heap_stats_t before = stats_now();
    iotkit_heap_stats_t after;
    char *p;
    int i;

    /* Blocks from malloc handed to HAL_Free count nothing. */
    for (i = 0; i < 100; i++) {
        libc_blocks_to_hal_free();
    }
    after = stats_now();
    CHECK_INT(after.live_bytes, before.live_bytes);
    CHECK_INT(after.live_allocations, before.live_allocations);

    /* HAL_Malloc's own blocks are counted in requested bytes, exactly. */
    p = (char *)HAL_Malloc(1000);
    CHECK(p != NULL);
    after = stats_now();
    CHECK_INT(after.live_bytes, before.live_bytes + 1000);
    CHECK_INT(after.live_allocations, before.live_allocations + 1);
    HAL_Free(p);
    after = stats_now();
    CHECK_INT(after.live_bytes, before.live_bytes);
    CHECK_INT(after.live_allocations, before.live_allocations);

    /* Mixed use may leave blocks counted that libc already took back, but
     * the counts never fall below what was live before, and stay bounded by
     * the blocks that went around HAL_Free (4 per round here). */
    for (i = 0; i < 50; i++) {
        hal_malloc_realloc_free();
        hal_malloc_realloc_hal_free();
        json_like_hooks(&vendor_hooks);
    }
    after = stats_now();
    CHECK(after.live_allocations >= before.live_allocations);
    CHECK(after.live_allocations <= before.live_allocations + 4 * 50);
    CHECK(after.live_bytes >= before.live_bytes);
    CHECK(after.live_bytes <= before.live_bytes + (16 + 100 + 10 + 8) * 50);
    CHECK(after.peak_bytes >= after.live_bytes);
}

/* The same patterns from several threads: the counters' table is shared. */
struct worker {
    void *done;
    int rounds;
};

static void *mixed_worker(void *arg)
{
    struct worker *w = (struct worker *)arg;
    const struct alloc_hooks vendor_hooks = {hal_malloc_hook, HAL_Free, realloc};
    int i;
    for (i = 0; i < w->rounds; i++) {
        void *a = HAL_Malloc((uint32_t)(i % 300));
        void *b = malloc((size_t)(i % 200) + 1);
        HAL_Free(b);
        if (i % 2) {
            free(a);
        } else {
            HAL_Free(a);
        }
        if (i % 50 == 0) {
            json_like_hooks(&vendor_hooks);
            hal_malloc_realloc_free();
        }
    }
    HAL_SemaphorePost(w->done);
    return NULL;
}

static void threads_mix_allocators(void)
{
    struct worker w;
    void *handles[4];
    int i;
    w.done = HAL_SemaphoreCreate();
    w.rounds = 5000;
    CHECK(w.done != NULL);
    for (i = 0; i < 4; i++) {
        CHECK_INT(HAL_ThreadCreate(&handles[i], mixed_worker, &w, NULL, NULL), 0);
    }
    for (i = 0; i < 4; i++) {
        CHECK_INT(HAL_SemaphoreWait(w.done, 60000), 0);
    }
    HAL_SemaphoreDestroy(w.done);
}

int main(void)
{
    const struct alloc_hooks vendor_hooks = {hal_malloc_hook, HAL_Free, realloc};
    hal_malloc_realloc_free();
    hal_malloc_realloc_hal_free();
    libc_blocks_to_hal_free();
    json_like_hooks(&vendor_hooks);
    counters_stay_meaningful();
    threads_mix_allocators();
    HAL_Free(NULL);
    return check_report();
}
