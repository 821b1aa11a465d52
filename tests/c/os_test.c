/*
 * The OS wrappers from C: HAL_Snprintf formatting and truncation, HAL_Random
 * range, HAL_Malloc counters, clock, mutex / semaphore / thread basics,
 * firmware version.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "wrappers.h"
#include "infra_state.h"
#include "check.h"

static void check_snprintf(void)
{
    char buf[8];
    CHECK_INT(HAL_Snprintf(buf, sizeof(buf), "%d-%s", 42, "ab"), 5);
    CHECK_STR(buf, "42-ab");
    /* Truncated to fit, NUL-terminated, returns the untruncated length. */
    CHECK_INT(HAL_Snprintf(buf, sizeof(buf), "%s", "0123456789"), 10);
    CHECK_STR(buf, "0123456");
    CHECK_INT(HAL_Snprintf(buf, 1, "%s", "abc"), 3);
    CHECK_STR(buf, "");
    /* Measuring with no buffer is allowed; bad arguments fail cleanly. */
    CHECK_INT(HAL_Snprintf(NULL, 0, "%s", "abcd"), 4);
    CHECK_INT(HAL_Snprintf(NULL, 5, "%s", "abcd"), -1);
    CHECK_INT(HAL_Snprintf(buf, -1, "%s", "abcd"), -1);
    CHECK_INT(HAL_Snprintf(buf, sizeof(buf), NULL), -1);
}

static void check_random(void)
{
    int seen[10] = {0};
    int i;
    int all = 1;
    HAL_Srandom(1234);
    for (i = 0; i < 2000; i++) {
        uint32_t v = HAL_Random(10);
        if (v >= 10) {
            all = 0;
        } else {
            seen[v]++;
        }
    }
    CHECK(all);
    for (i = 0; i < 10; i++) {
        CHECK(seen[i] > 100);
    }
    CHECK_INT(HAL_Random(0), 0);
    CHECK_INT(HAL_Random(1), 0);
}

static void check_malloc_counters(void)
{
    iotkit_heap_stats_t before;
    iotkit_heap_stats_t during;
    iotkit_heap_stats_t after;
    char *a;
    char *b;

    CHECK_INT(iotkit_heap_stats(&before), 0);
    a = (char *)HAL_Malloc(100);
    b = (char *)HAL_Malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    /* HAL_Malloc is malloc: aligned for any type (8 bytes on armv7, 16 on
     * x86-64 and aarch64), not to a fixed 16. */
    CHECK((((uintptr_t)a) % _Alignof(max_align_t)) == 0);
    memset(a, 0x5a, 100);
    CHECK_INT(iotkit_heap_stats(&during), 0);
    CHECK_INT(during.live_bytes, before.live_bytes + 100);
    CHECK_INT(during.live_allocations, before.live_allocations + 2);
    CHECK(during.peak_bytes >= during.live_bytes);
    HAL_Free(a);
    HAL_Free(b);
    HAL_Free(NULL);
    CHECK_INT(iotkit_heap_stats(&after), 0);
    CHECK_INT(after.live_bytes, before.live_bytes);
    CHECK_INT(after.live_allocations, before.live_allocations);
    CHECK_INT(iotkit_heap_stats(NULL), STATE_USER_INPUT_NULL_POINTER);
    iotkit_heap_reset_peak();
    CHECK_INT(iotkit_heap_stats(&after), 0);
    CHECK_INT(after.peak_bytes, after.live_bytes);
    CHECK_INT(after.total_allocations, 0);
    /* A 4 GiB request either succeeds or returns NULL; both free cleanly. */
    {
        void *huge = HAL_Malloc(0xFFFFFFFFu);
        HAL_Free(huge);
    }
}

static void check_clock(void)
{
    uint64_t t0 = HAL_UptimeMs();
    HAL_SleepMs(20);
    CHECK(HAL_UptimeMs() >= t0 + 19);
}

struct worker {
    void *mutex;
    void *done;
    int counter;
};

static void *work(void *arg)
{
    struct worker *w = (struct worker *)arg;
    int i;
    for (i = 0; i < 10000; i++) {
        HAL_MutexLock(w->mutex);
        w->counter++;
        HAL_MutexUnlock(w->mutex);
    }
    HAL_SemaphorePost(w->done);
    return NULL;
}

static void check_threads(void)
{
    struct worker w;
    void *threads[4];
    hal_os_thread_param_t param;
    int stack_used = -1;
    int i;

    w.mutex = HAL_MutexCreate();
    w.done = HAL_SemaphoreCreate();
    w.counter = 0;
    CHECK(w.mutex != NULL && w.done != NULL);

    memset(&param, 0, sizeof(param));
    param.stack_size = 4096;
    param.name = (char *)"iotkit-test";
    for (i = 0; i < 4; i++) {
        CHECK_INT(HAL_ThreadCreate(&threads[i], work, &w, i == 0 ? NULL : &param, &stack_used), 0);
        CHECK(threads[i] != NULL);
    }
    CHECK_INT(stack_used, 0);
    for (i = 0; i < 4; i++) {
        CHECK_INT(HAL_SemaphoreWait(w.done, 10000), 0);
    }
    HAL_MutexLock(w.mutex);
    CHECK_INT(w.counter, 40000);
    HAL_MutexUnlock(w.mutex);

    /* Recursive locking from one thread does not deadlock. */
    HAL_MutexLock(w.mutex);
    HAL_MutexLock(w.mutex);
    HAL_MutexUnlock(w.mutex);
    HAL_MutexUnlock(w.mutex);

    CHECK_INT(HAL_SemaphoreWait(w.done, 10), -1);
    HAL_SemaphorePost(w.done);
    CHECK_INT(HAL_SemaphoreWait(w.done, PLATFORM_WAIT_INFINITE), 0);

    HAL_MutexDestroy(w.mutex);
    HAL_SemaphoreDestroy(w.done);
    /* Destroyed and bogus handles are ignored, never dereferenced. */
    HAL_MutexLock(w.mutex);
    HAL_MutexUnlock(w.mutex);
    HAL_MutexDestroy(w.mutex);
    HAL_SemaphorePost(w.done);
    CHECK_INT(HAL_SemaphoreWait(w.done, 1), -1);
    HAL_MutexLock(NULL);
    HAL_SemaphoreDestroy((void *)0x1234);

    CHECK_INT(HAL_ThreadCreate(NULL, work, &w, NULL, NULL), -1);
    CHECK_INT(HAL_ThreadCreate(&threads[0], NULL, &w, NULL, NULL), -1);
}

static void check_firmware_version(void)
{
    char version[IOTX_FIRMWARE_VER_LEN + 1];
    char overlong[IOTX_FIRMWARE_VER_LEN + 2];
    CHECK(HAL_GetFirmwareVersion(version) > 0);
    CHECK_INT(iotkit_set_firmware_version("fw-9.8.7"), 0);
    CHECK_INT(HAL_GetFirmwareVersion(version), 8);
    CHECK_STR(version, "fw-9.8.7");
    memset(overlong, 'v', sizeof(overlong) - 1);
    overlong[sizeof(overlong) - 1] = '\0';
    CHECK(iotkit_set_firmware_version(overlong) < 0);
    CHECK(iotkit_set_firmware_version("has space") < 0);
    CHECK_INT(iotkit_set_firmware_version(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(HAL_GetFirmwareVersion(version), 8);
    CHECK_INT(HAL_GetFirmwareVersion(NULL), STATE_USER_INPUT_NULL_POINTER);
}

static int reboots;
static void count_reboot(void)
{
    reboots++;
}

static void check_reboot(void)
{
    HAL_Reboot(); /* no handler: logged, ignored */
    iotkit_set_reboot_handler(count_reboot);
    HAL_Reboot();
    CHECK_INT(reboots, 1);
    iotkit_set_reboot_handler(NULL);
    HAL_Reboot();
    CHECK_INT(reboots, 1);
}

int main(void)
{
    check_snprintf();
    check_random();
    check_malloc_counters();
    check_clock();
    check_threads();
    check_firmware_version();
    check_reboot();
    HAL_Printf("HAL_Printf is %s\n", "printf");
    return check_report();
}
