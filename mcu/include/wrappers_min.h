/*
 * The HAL functions of the vendor's wrappers/ port that libiotkit_port.a
 * imports, with the vendor's signatures (see include/wrappers.h of the
 * repository), and the heap/stack counters of this port.
 */
#ifndef IOTKIT_MCU_WRAPPERS_MIN_H
#define IOTKIT_MCU_WRAPPERS_MIN_H
#include <stddef.h>
#include <stdint.h>

void *HAL_Malloc(uint32_t size);
void HAL_Free(void *ptr);
uint64_t HAL_UptimeMs(void);
void HAL_SleepMs(uint32_t ms);
void HAL_Srandom(uint32_t seed);
uint32_t HAL_Random(uint32_t region);
void *HAL_MutexCreate(void);
void HAL_MutexDestroy(void *mutex);
void HAL_MutexLock(void *mutex);
void HAL_MutexUnlock(void *mutex);
size_t HAL_TCP_Establish(const char *host, uint16_t port);
int32_t HAL_TCP_Destroy(size_t fd);
int32_t HAL_TCP_Write(size_t fd, const char *buf, uint32_t len, uint32_t timeout_ms);
int32_t HAL_TCP_Read(size_t fd, char *buf, uint32_t len, uint32_t timeout_ms);
int HAL_Kv_Set(const char *key, const void *val, int len, int sync);
int HAL_Kv_Get(const char *key, void *val, int *buffer_len);
int HAL_Kv_Del(const char *key);
void HAL_Printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* This port's counters: bytes in use through HAL_Malloc and their peak. */
void mcu_heap_stats(uint32_t *in_use, uint32_t *peak);
void mcu_heap_reset_peak(void);
/* Bytes of the stack never written since boot. */
uint32_t mcu_stack_unused(void);
uint32_t mcu_stack_size(void);
/* Mixes host-provided seed bytes into HAL_Random's state. */
void mcu_random_mix(const uint8_t *seed, size_t len);
#endif
