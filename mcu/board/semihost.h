/* ARM semihosting (BKPT 0xAB) for QEMU: console, host files, exit code. */
#ifndef MCU_SEMIHOST_H
#define MCU_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

void sh_write0(const char *text);
/* mode: 1 read binary, 5 write binary (truncate). Returns a handle or -1. */
int sh_open(const char *path, int mode);
int sh_close(int handle);
/* Bytes transferred, or -1. */
long sh_read(int handle, void *buf, size_t len);
long sh_write(int handle, const void *buf, size_t len);
long sh_flen(int handle);
int sh_remove(const char *path);
/* Seconds since 1970 on the host. */
uint32_t sh_time(void);
/* Ends QEMU with this exit code. */
__attribute__((noreturn)) void sh_exit(int code);
/* Reads a whole host file into a HAL_Malloc'd buffer (NUL appended, not
 * counted); NULL when missing. */
uint8_t *sh_read_file(const char *path, size_t *len);
#endif
