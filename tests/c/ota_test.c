/*
 * OTA against iotkit-sim, written the way the vendor's OTA example uses
 * ota_api.h: construct the MQTT client, IOT_OTA_Init, report the version,
 * yield until IOT_OTA_IsFetching, then FetchYield / write / report progress
 * until IOT_OTA_IsFetchFinish, then IOT_OTAG_CHECK_FIRMWARE.
 *
 * Usage: ota_test MODE VERSION [TIMEOUT_S]
 *   update    report VERSION, wait for a push, download it through
 *             HAL_Firmware_Persistence_*, print "RESULT good" or "RESULT bad"
 *   boot      after the "reboot": report the version stored in
 *             $IOTX_OTA_DIR/firmware.bin (its first line is VERSION=...)
 *   badinput  every IOT_OTA_* function with bad arguments and wrong states
 * The connection comes from the environment (IOTX_MQTT_HOST, IOTX_MQTT_PORT,
 * IOTX_X509_CA_FILE, IOTX_X509_CERT_FILE, IOTX_X509_KEY_FILE). With
 * OTA_CA_IN_PUB_KEY=FILE the server CA is read from FILE and given only in
 * mqtt_params.pub_key (IOTX_X509_CA_FILE must be unset; iotx_ca_crt stays
 * NULL), and the copy is wiped and freed as soon as IOT_MQTT_Construct
 * returns.
 *
 * Built twice: with OTA_OWN_STORAGE the program defines its own
 * HAL_Firmware_Persistence_* (as device firmware does), which fail once
 * $OTA_FAIL_AT bytes were written; without it the library's defaults are used.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "mqtt_api.h"
#include "ota_api.h"
#include "wrappers.h"
#include "check.h"

#define OTA_BUF_LEN 1500

static int pushed_calls;
static char last_event[512];

static int on_state(int code, const char *message)
{
    if (code != STATE_MQTT_SUB_INFO && code != STATE_MQTT_PUB_INFO && code != STATE_MQTT_CONN_USER_INFO) {
        printf("[ota_test] state %d: %s\n", code, message);
        snprintf(last_event, sizeof(last_event), "%s", message);
    }
    return 0;
}

static int on_pushed(void *context)
{
    (void)context;
    pushed_calls++;
    return 0;
}

#ifdef OTA_OWN_STORAGE
static long own_written;
static long own_fail_at = -1;
void HAL_Firmware_Persistence_Start(void)
{
    const char *at = getenv("OTA_FAIL_AT");
    own_written = 0;
    own_fail_at = at != NULL ? atol(at) : -1;
    printf("[ota_test] own storage: start (fails at %ld)\n", own_fail_at);
}
int HAL_Firmware_Persistence_Write(char *buffer, uint32_t length)
{
    (void)buffer;
    if (own_fail_at >= 0 && own_written + (long)length > own_fail_at) {
        printf("[ota_test] own storage: write failed at byte %ld\n", own_written);
        return -1;
    }
    own_written += (long)length;
    return 0;
}
int HAL_Firmware_Persistence_Stop(void)
{
    printf("[ota_test] own storage: stop after %ld bytes\n", own_written);
    return 0;
}
#endif

/* The whole of `path` as a NUL-terminated string (malloc'd), or NULL. */
static char *read_text_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;
    if (file == NULL) {
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = (char *)malloc((size_t)size + 1);
        if (text != NULL && fread(text, 1, (size_t)size, file) == (size_t)size) {
            text[size] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

static void *connect_client(void)
{
    iotx_mqtt_param_t params;
    const char *ca_file = getenv("OTA_CA_IN_PUB_KEY");
    char *ca = NULL;
    void *client;
    memset(&params, 0, sizeof(params));
    if (ca_file != NULL) {
        /* The CA reaches the library through pub_key and nothing else. */
        CHECK(getenv("IOTX_X509_CA_FILE") == NULL);
        CHECK(iotx_ca_crt == NULL);
        ca = read_text_file(ca_file);
        CHECK(ca != NULL);
        if (ca == NULL) {
            return NULL;
        }
        params.pub_key = ca;
        printf("[ota_test] the server CA is given only in mqtt_params.pub_key\n");
    }
    client = IOT_MQTT_Construct(&params);
    if (ca != NULL) {
        memset(ca, 0, strlen(ca));
        free(ca);
    }
    return client;
}

static int update(void *client, void *ota, int timeout_s)
{
    char buf[OTA_BUF_LEN];
    char version[128] = "";
    char md5sum[33] = "";
    uint32_t fetched = 0, size = 0, valid = 0;
    int last_percent = -1;
    int storage_failed = 0;
    int waited = 0;
    int rc;

    while (!IOT_OTA_IsFetching(ota)) {
        if (waited++ > timeout_s * 10) {
            printf("[ota_test] no upgrade was pushed\n");
            return 1;
        }
        IOT_MQTT_Yield(client, 100);
    }
    CHECK_INT(pushed_calls, 1);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_VERSION, version, sizeof(version)), 0);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_FILE_SIZE, &size, 4), 0);
    printf("[ota_test] upgrade to %s pushed (%u bytes)\n", version, (unsigned)size);
    HAL_Firmware_Persistence_Start();
    do {
        int len = IOT_OTA_FetchYield(ota, buf, OTA_BUF_LEN, 1);
        if (len > 0) {
            if (!storage_failed && HAL_Firmware_Persistence_Write(buf, (uint32_t)len) != 0) {
                storage_failed = 1;
                IOT_OTA_ReportProgress(ota, IOT_OTAP_BURN_FAILED, "storing the firmware failed");
                printf("[ota_test] RESULT storage-failed\n");
                break;
            }
        } else if (len < 0) {
            IOT_OTA_ReportProgress(ota, IOT_OTAP_FETCH_FAILED, NULL);
            printf("[ota_test] fetch failed: %d (last error %d)\n", len, IOT_OTA_GetLastError(ota));
        }
        IOT_OTA_Ioctl(ota, IOT_OTAG_FETCHED_SIZE, &fetched, 4);
        IOT_OTA_Ioctl(ota, IOT_OTAG_MD5SUM, md5sum, 33);
        if (size > 0) {
            int percent = (int)((uint64_t)fetched * 100 / size);
            if (percent / 25 != last_percent / 25) {
                last_percent = percent;
                IOT_OTA_ReportProgress(ota, percent, "downloading");
            }
        }
        IOT_MQTT_Yield(client, 10);
    } while (!IOT_OTA_IsFetchFinish(ota));
    if (storage_failed) {
        HAL_Firmware_Persistence_Stop();
        IOT_MQTT_Yield(client, 500);
        return 0;
    }
    rc = IOT_OTA_Ioctl(ota, IOT_OTAG_CHECK_FIRMWARE, &valid, 4);
    CHECK_INT(rc, 0);
    printf("[ota_test] fetched %u of %u bytes, md5 %s, valid %u, last error %d\n", (unsigned)fetched,
           (unsigned)size, md5sum, (unsigned)valid, IOT_OTA_GetLastError(ota));
    rc = HAL_Firmware_Persistence_Stop();
    printf("[ota_test] HAL_Firmware_Persistence_Stop: %d\n", rc);
    if (valid) {
        CHECK_INT(rc, 0);
        IOT_OTA_ReportProgress(ota, IOT_OTAP_FETCH_PERCENTAGE_MAX, "ready to reboot");
        printf("[ota_test] RESULT good\n");
    } else {
        CHECK(rc != 0);
        CHECK(IOT_OTA_GetLastError(ota) < 0);
        printf("[ota_test] RESULT bad: %s\n", last_event);
    }
    /* Let the progress reports reach the sim. */
    IOT_MQTT_Yield(client, 500);
    return 0;
}

static int stored_version(char *out, size_t cap)
{
    char path[1024];
    char line[200] = "";
    const char *dir = getenv("IOTX_OTA_DIR");
    FILE *file;
    if (dir == NULL) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/firmware.bin", dir);
    file = fopen(path, "rb");
    if (file == NULL) {
        return -1;
    }
    if (fgets(line, sizeof(line), file) == NULL || strncmp(line, "VERSION=", 8) != 0) {
        fclose(file);
        return -1;
    }
    fclose(file);
    line[strcspn(line, "\r\n")] = '\0';
    /* A version longer than the caller's buffer is an error, not cut short. */
    if (strlen(line + 8) + 1 > cap) {
        return -1;
    }
    memcpy(out, line + 8, strlen(line + 8) + 1);
    return 0;
}

static void bad_input(void *client)
{
    char small[4];
    uint32_t value = 7;
    char long_version[100];
    void *fake = (void *)(intptr_t)0x12345678;
    void *ota;

    /* Handles that are not OTA handles. */
    CHECK(IOT_OTA_Init(NULL, NULL, fake) == NULL);
    CHECK_INT(IOT_OTA_Deinit(NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Deinit(fake), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_ReportVersion(NULL, "1.0"), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_ReportProgress(fake, 10, NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_IsFetching(NULL), 0);
    CHECK_INT(IOT_OTA_IsFetchFinish(fake), 0);
    CHECK_INT(IOT_OTA_FetchYield(NULL, small, sizeof(small), 1), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Ioctl(NULL, IOT_OTAG_FILE_SIZE, &value, 4), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_GetLastError(NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_SetOnPushedCallback(fake, on_pushed), IOT_OTAE_INVALID_PARAM);
    CHECK(strstr(last_event, "not a live OTA handle") != NULL);

    /* A product key that is not the connection's, an overlong one. */
    CHECK(IOT_OTA_Init("a1NotMine", NULL, client) == NULL);
    CHECK(strstr(last_event, "not the one of the MQTT connection") != NULL);
    CHECK(IOT_OTA_Init("a1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, client) == NULL);

    ota = IOT_OTA_Init("", NULL, client);
    CHECK(ota != NULL);
    if (ota == NULL) {
        return;
    }
    /* Wrong states: nothing was pushed. */
    CHECK_INT(IOT_OTA_IsFetching(ota), 0);
    CHECK_INT(IOT_OTA_FetchYield(ota, small, sizeof(small), 1), IOT_OTAE_INVALID_STATE);
    CHECK_INT(IOT_OTA_GetLastError(ota), IOT_OTAE_INVALID_STATE);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_CHECK_FIRMWARE, &value, 4), IOT_OTAE_INVALID_STATE);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_VERSION, small, sizeof(small)), IOT_OTAE_INVALID_STATE);
    CHECK_INT(IOT_OTA_ReportProgress(ota, 50, NULL), IOT_OTAE_INVALID_STATE);
    /* Bad arguments. */
    CHECK_INT(IOT_OTA_FetchYield(ota, NULL, 100, 1), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_FetchYield(ota, small, 0, 1), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_FILE_SIZE, NULL, 4), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_FILE_SIZE, &value, 2), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_FETCHED_SIZE, &value, 4), 0);
    CHECK_INT(value, 0);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_OTA_TYPE, &value, 4), 0);
    CHECK_INT(value, IOT_OTAT_NONE);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_COTA_URL, small, sizeof(small)), IOT_OTAE_INVALID_PARAM);
    CHECK(strstr(last_event, "COTA") != NULL);
    CHECK_INT(IOT_OTA_Ioctl(ota, (IOT_OTA_CmdType_t)999, &value, 4), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_Ioctl(ota, IOT_OTAG_RESET_FETCHED_SIZE, NULL, 0), 0);
    CHECK_INT(IOT_OTA_ReportVersion(ota, NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_ReportVersion(ota, ""), IOT_OTAE_INVALID_PARAM);
    memset(long_version, '9', sizeof(long_version) - 1);
    long_version[sizeof(long_version) - 1] = '\0';
    CHECK_INT(IOT_OTA_ReportVersion(ota, long_version), IOT_OTAE_STR_TOO_LONG);
    CHECK_INT(IOT_OTA_ReportVersion(ota, "1.0\n"), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_ReportProgress(ota, 101, NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_ReportProgress(ota, -5, NULL), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_SetOnPushedCallback(ota, NULL), 0);
    /* The persistence defaults out of order. */
    CHECK_INT(iotkit_firmware_persistence_write(small, sizeof(small)), -1);
    CHECK_INT(iotkit_firmware_persistence_stop(), -1);
    CHECK_INT(iotkit_ota_set_dir(""), IOT_OTAE_INVALID_PARAM);
    /* A valid report still works, then the handle dies. */
    CHECK_INT(IOT_OTA_ReportVersion(ota, "1.0.0"), 0);
    CHECK_INT(IOT_OTA_Deinit(ota), 0);
    CHECK_INT(IOT_OTA_Deinit(ota), IOT_OTAE_INVALID_PARAM);
    CHECK_INT(IOT_OTA_IsFetching(ota), 0);
}

int main(int argc, char *argv[])
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *version = argc > 2 ? argv[2] : "1.0.0";
    int timeout_s = argc > 3 ? atoi(argv[3]) : 20;
    char running[64];
    void *client;
    void *ota;
    int rc = 0;
    int i;

    IOT_RegisterCallback(ITE_STATE_EVERYTHING, on_state);
    client = connect_client();
    if (client == NULL) {
        printf("[ota_test] IOT_MQTT_Construct failed\n");
        return 1;
    }
    if (strcmp(mode, "badinput") == 0) {
        bad_input(client);
        IOT_MQTT_Destroy(&client);
        return check_report();
    }
    snprintf(running, sizeof(running), "%s", version);
    if (strcmp(mode, "boot") == 0 && stored_version(running, sizeof(running)) != 0) {
        printf("[ota_test] no stored firmware image with a VERSION= line\n");
        return 1;
    }
    /* Empty product key and device name: the identity of the X.509 connection. */
    ota = IOT_OTA_Init(NULL, "", client);
    CHECK(ota != NULL);
    if (ota == NULL) {
        return 1;
    }
    CHECK_INT(IOT_OTA_SetOnPushedCallback(ota, on_pushed), 0);
    CHECK_INT(IOT_OTA_ReportVersion(ota, running), 0);
    printf("[ota_test] running version %s\n", running);
    if (strcmp(mode, "update") == 0) {
        rc = update(client, ota, timeout_s);
    } else {
        for (i = 0; i < 5; i++) {
            IOT_MQTT_Yield(client, 100);
        }
    }
    CHECK_INT(IOT_OTA_Deinit(ota), 0);
    IOT_MQTT_Destroy(&client);
    return check_report() != 0 || rc != 0 ? 1 : 0;
}
