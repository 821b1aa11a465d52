/*
 * The Linux board around mcu/example/mqtt_example.c (compiled unchanged,
 * with its main renamed to iotkit_example_main): the semihosting calls it
 * makes, done with POSIX files, and a main that runs it on a thread whose
 * stack is painted beforehand, so mcu_stack_unused() reports the real
 * high-water mark as on the MCU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "semihost.h"
#include "wrappers_min.h"

int iotkit_example_main(void);

#define STACK_SIZE (256u * 1024u)
#define STACK_PAINT 0xA5u

static unsigned char *stack_base; /* lowest address; the stack grows down to it */

uint32_t sh_time(void)
{
    return (uint32_t)time(NULL);
}

void sh_exit(int code)
{
    fflush(stdout);
    exit(code);
}

uint8_t *sh_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > 0x7FFFFFF0) {
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = HAL_Malloc((uint32_t)size + 1u);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            HAL_Free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *len = got;
    return buf;
}

uint32_t mcu_stack_size(void)
{
    return STACK_SIZE;
}

uint32_t mcu_stack_unused(void)
{
    uint32_t n = 0;
    while (n < STACK_SIZE && stack_base[n] == STACK_PAINT) {
        n++;
    }
    return n;
}

static void *run_example(void *arg)
{
    *(int *)arg = iotkit_example_main();
    return NULL;
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    /* One inaccessible page below the stack catches an overflow. */
    unsigned char *map = mmap(NULL, STACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map, (size_t)page, PROT_NONE) != 0) {
        perror("posix_main: stack");
        return 70;
    }
    stack_base = map + page;
    memset(stack_base, STACK_PAINT, STACK_SIZE);
    pthread_attr_t attr;
    pthread_t thread;
    int rc = 70;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, stack_base, STACK_SIZE) != 0 ||
        pthread_create(&thread, &attr, run_example, &rc) != 0) {
        fprintf(stderr, "posix_main: cannot start the example's thread\n");
        return 70;
    }
    pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
    fflush(stdout);
    return rc;
}
