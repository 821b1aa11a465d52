/*
 * The POSIX port's HAL_Kv_* on their own (run by test.sh before the flow):
 * set/get round trip, replacement, the size-needed answer for a short
 * buffer, refused key names, delete (and deleting a missing key), no
 * temporary file left behind, the value's file name as the flow expects.
 * Usage: kv_test DIR (an empty directory; IOTKIT_PORT_KV_DIR is set to it).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wrappers_min.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kv_test DIR\n");
        return 2;
    }
    setenv("IOTKIT_PORT_KV_DIR", argv[1], 1);
    char buf[64];
    int len = sizeof buf;

    check(HAL_Kv_Get("absent", buf, &len) != 0, "a missing key is not found");
    check(HAL_Kv_Set("iotkit.x509.identity", "first value", 11, 1) == 0, "set");
    len = sizeof buf;
    check(HAL_Kv_Get("iotkit.x509.identity", buf, &len) == 0 && len == 11 && memcmp(buf, "first value", 11) == 0,
          "get returns what was set");
    check(HAL_Kv_Set("iotkit.x509.identity", "2nd", 3, 0) == 0, "replace");
    len = sizeof buf;
    check(HAL_Kv_Get("iotkit.x509.identity", buf, &len) == 0 && len == 3 && memcmp(buf, "2nd", 3) == 0,
          "get returns the replacement, not a mix");
    len = 2;
    check(HAL_Kv_Get("iotkit.x509.identity", buf, &len) != 0 && len == 3, "a short buffer gets the size needed");

    char path[4096];
    snprintf(path, sizeof path, "%s/kv-iotkit.x509.identity.bin", argv[1]);
    struct stat st;
    check(stat(path, &st) == 0 && st.st_size == 3, "the value is the file kv-KEY.bin");
    check(entries(argv[1]) == 1, "no temporary file is left behind");

    check(HAL_Kv_Set("", "x", 1, 1) != 0, "an empty key is refused");
    check(HAL_Kv_Set("../escape", "x", 1, 1) != 0, "a key with a slash is refused");
    check(HAL_Kv_Set("a b", "x", 1, 1) != 0, "a key with a space is refused");
    check(HAL_Kv_Set("k", NULL, 1, 1) != 0, "a NULL value is refused");

    check(HAL_Kv_Del("iotkit.x509.identity") == 0, "delete");
    len = sizeof buf;
    check(HAL_Kv_Get("iotkit.x509.identity", buf, &len) != 0, "a deleted key is gone");
    check(HAL_Kv_Del("iotkit.x509.identity") == 0, "deleting a missing key succeeds");
    check(entries(argv[1]) == 0, "the directory is empty again");

    if (failures == 0) {
        printf("kv_test: OK\n");
    }
    return failures == 0 ? 0 : 1;
}
