#include "semihost.h"

#include <string.h>

#include "wrappers_min.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_FLEN = 0x0C,
    SYS_REMOVE = 0x0E,
    SYS_TIME = 0x11,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
};

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static long semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (long)r0;
}

void sh_write0(const char *text)
{
    semihost(SYS_WRITE0, text);
}

int sh_open(const char *path, int mode)
{
    uint32_t args[3] = {(uint32_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return (int)semihost(SYS_OPEN, args);
}

int sh_close(int handle)
{
    uint32_t args[1] = {(uint32_t)handle};
    return (int)semihost(SYS_CLOSE, args);
}

long sh_read(int handle, void *buf, size_t len)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    long left = semihost(SYS_READ, args);
    return left < 0 || (size_t)left > len ? -1 : (long)len - left;
}

long sh_write(int handle, const void *buf, size_t len)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    long left = semihost(SYS_WRITE, args);
    return left < 0 || (size_t)left > len ? -1 : (long)len - left;
}

long sh_flen(int handle)
{
    uint32_t args[1] = {(uint32_t)handle};
    return semihost(SYS_FLEN, args);
}

int sh_remove(const char *path)
{
    uint32_t args[2] = {(uint32_t)path, (uint32_t)strlen(path)};
    return (int)semihost(SYS_REMOVE, args);
}

uint32_t sh_time(void)
{
    return (uint32_t)semihost(SYS_TIME, 0);
}

void sh_exit(int code)
{
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, args);
    /* Hosts without the extension: only success or failure. */
    semihost(SYS_EXIT, (const void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0x20023u));
    for (;;) {
    }
}

uint8_t *sh_read_file(const char *path, size_t *len)
{
    int fd = sh_open(path, 1);
    if (fd < 0) {
        return NULL;
    }
    long size = sh_flen(fd);
    uint8_t *buf = size >= 0 ? HAL_Malloc((uint32_t)size + 1) : NULL;
    if (buf == NULL || sh_read(fd, buf, (size_t)size) != size) {
        HAL_Free(buf);
        sh_close(fd);
        return NULL;
    }
    sh_close(fd);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}
