/*
 * The firmware store of the wrappers-only library (iotkit::hal) as the
 * vendor's C core uses it during OTA: HAL_Firmware_Persistence_Start, then
 * Write for each piece fetched, then Stop. The vendor's core checks the
 * image itself (IOT_OTAG_CHECK_FIRMWARE), so Stop keeps what was written.
 *
 * Usage: hal_ota_storage_test DIR
 *
 * Built twice against iotkit::hal: plain, where the library's weak defaults
 * store DIR/firmware.bin; with OTA_OWN_STORAGE, where this program defines
 * the three functions itself (as device firmware does) and its definitions
 * replace the library's at link time without a clash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wrappers.h"
#include "check.h"

#define IMAGE_LEN 5000
#define PIECE_LEN 700

#ifdef OTA_OWN_STORAGE
static int own_starts;
static uint32_t own_written;
static int own_stops;

void HAL_Firmware_Persistence_Start(void)
{
    own_starts++;
    own_written = 0;
}

int HAL_Firmware_Persistence_Write(char *buffer, uint32_t length)
{
    (void)buffer;
    own_written += length;
    return 0;
}

int HAL_Firmware_Persistence_Stop(void)
{
    own_stops++;
    return 0;
}
#endif

#ifndef OTA_OWN_STORAGE
/* 1 when `path` holds exactly `len` bytes equal to `want`. */
static int file_is(const char *path, const char *want, size_t len)
{
    char *got = (char *)malloc(len + 1);
    FILE *file = fopen(path, "rb");
    size_t n = 0;
    int same = 0;
    if (got != NULL && file != NULL) {
        n = fread(got, 1, len + 1, file);
        same = n == len && memcmp(got, want, len) == 0;
    }
    if (file != NULL) {
        fclose(file);
    }
    free(got);
    return same;
}
#endif

static int exists(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return 0;
    }
    fclose(file);
    return 1;
}

/* Writes `len` bytes of `image` in pieces, as the fetch loop hands them over. */
static int write_in_pieces(char *image, size_t len)
{
    size_t offset;
    for (offset = 0; offset < len; offset += PIECE_LEN) {
        size_t piece = len - offset < PIECE_LEN ? len - offset : PIECE_LEN;
        if (HAL_Firmware_Persistence_Write(image + offset, (uint32_t)piece) != 0) {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char *argv[])
{
    static char image[IMAGE_LEN];
    char stored[1024];
    char partial[1024];
    size_t i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof(image); i++) {
        image[i] = (char)(i * 7 + 3);
    }
    snprintf(stored, sizeof(stored), "%s/firmware.bin", argv[1]);
    snprintf(partial, sizeof(partial), "%s/firmware.bin.part", argv[1]);
    remove(stored);
    remove(partial);
    CHECK_INT(iotkit_ota_set_dir(argv[1]), 0);

#ifdef OTA_OWN_STORAGE
    HAL_Firmware_Persistence_Start();
    CHECK_INT(write_in_pieces(image, sizeof(image)), 0);
    CHECK_INT(HAL_Firmware_Persistence_Stop(), 0);
    CHECK_INT(own_starts, 1);
    CHECK_INT((int)own_written, IMAGE_LEN);
    CHECK_INT(own_stops, 1);
    /* The library's store was not used. */
    CHECK(!exists(stored));
    CHECK(!exists(partial));
#else
    /* Out of order: nothing was started. */
    CHECK_INT(HAL_Firmware_Persistence_Write(image, 10), -1);
    CHECK_INT(HAL_Firmware_Persistence_Stop(), -1);

    /* A whole image: Stop makes it final. */
    HAL_Firmware_Persistence_Start();
    CHECK(exists(partial));
    CHECK_INT(write_in_pieces(image, sizeof(image)), 0);
    CHECK(!exists(stored));
    CHECK_INT(HAL_Firmware_Persistence_Stop(), 0);
    CHECK(file_is(stored, image, sizeof(image)));
    CHECK(!exists(partial));
    CHECK_INT(HAL_Firmware_Persistence_Stop(), -1);

    /* The next image replaces it. */
    HAL_Firmware_Persistence_Start();
    CHECK_INT(write_in_pieces(image + 100, 1234), 0);
    CHECK_INT(HAL_Firmware_Persistence_Stop(), 0);
    CHECK(file_is(stored, image + 100, 1234));

    /* A NULL buffer is refused; an image of no bytes is not kept, and the
     * last one stays. */
    HAL_Firmware_Persistence_Start();
    CHECK_INT(HAL_Firmware_Persistence_Write(NULL, 10), -1);
    CHECK_INT(HAL_Firmware_Persistence_Stop(), -1);
    CHECK(file_is(stored, image + 100, 1234));
    CHECK(!exists(partial));
#endif
    return check_report();
}
