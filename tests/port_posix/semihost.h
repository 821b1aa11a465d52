/*
 * What mcu/example/mqtt_example.c uses of the MCU board's semihosting
 * (mcu/board/semihost.h), for Linux: files of the current directory, the
 * clock, exit. Implemented in posix_main.c.
 */
#ifndef PORT_POSIX_SEMIHOST_H
#define PORT_POSIX_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

/* Seconds since 1970. */
uint32_t sh_time(void);
/* Ends the program with this exit code. */
__attribute__((noreturn)) void sh_exit(int code);
/* Reads a whole file into a HAL_Malloc'd buffer (NUL appended, not
 * counted); NULL when missing. */
uint8_t *sh_read_file(const char *path, size_t *len);
#endif
