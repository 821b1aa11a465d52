/*
 * IOT_Sign_MQTT in both modes. Run with a client certificate in
 * IOTX_X509_CERT_FILE / IOTX_X509_KEY_FILE (scripts/with_mosquitto.sh
 * provides one): an empty DeviceSecret then means X.509 mode, a DeviceSecret
 * means device-secret mode, signed as the vendor's 3.2.x does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infra_compat.h"
#include "infra_state.h"
#include "dev_sign_api.h"
#include "check.h"

static void fill(iotx_dev_meta_info_t *meta, const char *pk, const char *dn, const char *ds)
{
    memset(meta, 0, sizeof(*meta));
    strcpy(meta->product_key, pk);
    strcpy(meta->device_name, dn);
    strcpy(meta->device_secret, ds);
}

int main(void)
{
    iotx_dev_meta_info_t meta;
    iotx_sign_mqtt_t out;
    uint16_t port = 0;

    /* The runner points IOTX_MQTT_HOST/PORT at its broker; IOT_Sign_MQTT
     * obeys them like IOT_MQTT_Construct (checked at the end), so the
     * platform's own endpoints are checked without them. */
    unsetenv("IOTX_MQTT_HOST");
    unsetenv("IOTX_MQTT_PORT");

    /* Device-secret mode: independently computed with
     * printf %s "clientIda1PK.dev1deviceNamedev1productKeya1PKtimestamp2524608000000" |
     *   openssl dgst -sha256 -hmac secret */
    fill(&meta, "a1PK", "dev1", "secret");
    memset(&out, 0x7f, sizeof(out));
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), 0);
    CHECK_STR(out.hostname, "a1PK.iot-as-mqtt.cn-shanghai.aliyuncs.com");
    CHECK_INT(out.port, 443);
    CHECK_STR(out.clientid,
              "a1PK.dev1|timestamp=2524608000000,_v=sdk-c-3.2.0,securemode=2,signmethod=hmacsha256,lan=C,_ss=1,gw=0,ext=0|");
    CHECK_STR(out.username, "dev1&a1PK");
    CHECK_STR(out.password, "9F7CE5F1DEF39255A2190F764E7AB054533D066201FF5410B4BF011A179A32E2");

    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_GERMANY, &meta, &out), 0);
    CHECK_STR(out.hostname, "a1PK.iot-as-mqtt.eu-central-1.aliyuncs.com");

    /* The custom region needs a host. */
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_CUSTOM, &meta, &out), STATE_USER_INPUT_MQTT_DOMAIN);
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, "mqtt.example.com"), 0);
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_CUSTOM, &meta, &out), 0);
    CHECK_STR(out.hostname, "mqtt.example.com");
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN, ""), 0);

    /* X.509 mode: empty secret, certificate available at run time. */
    fill(&meta, "", "", "");
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), 0);
    CHECK_STR(out.hostname, "x509.itls.cn-shanghai.aliyuncs.com");
    CHECK_INT(out.port, 1883);
    CHECK(strncmp(out.clientid, "x509-", 5) == 0);
    CHECK(strstr(out.clientid, "|securemode=2,signmethod=hmacsha1,timestamp=") != NULL);
    CHECK(out.clientid[strlen(out.clientid) - 1] == '|');
    CHECK_STR(out.username, "");
    CHECK_STR(out.password, "");

    fill(&meta, "a1PK", "dev1", "");
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_CUSTOMIZE_INFO, "mac=001122"), 0);
    port = 8883;
    CHECK_INT(IOT_Ioctl(IOTX_IOCTL_SET_MQTT_PORT, &port), 0);
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), 0);
    CHECK(strncmp(out.clientid, "a1PK.dev1|securemode=2,signmethod=hmacsha1,timestamp=", 53) == 0);
    CHECK(strstr(out.clientid, ",mac=001122|") != NULL);
    CHECK_STR(out.username, "dev1&a1PK");
    CHECK_INT(out.port, 8883);

    /* The environment overrides win, as in IOT_MQTT_Construct. */
    setenv("IOTX_MQTT_HOST", "127.0.0.1", 1);
    setenv("IOTX_MQTT_PORT", "18883", 1);
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), 0);
    CHECK_STR(out.hostname, "127.0.0.1");
    CHECK_INT(out.port, 18883);
    unsetenv("IOTX_MQTT_HOST");
    unsetenv("IOTX_MQTT_PORT");

    /* Bad input: refused, output untouched. */
    memset(&out, 0, sizeof(out));
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, NULL, &out), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_INT(IOT_Sign_MQTT((iotx_mqtt_region_types_t)42, &meta, &out), STATE_USER_INPUT_OUT_RANGE);
    fill(&meta, "a1 PK", "dev1", "s");
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), STATE_USER_INPUT_PK);
    fill(&meta, "a1PK", "dev1", "s");
    memset(meta.device_name, 'd', sizeof(meta.device_name)); /* no NUL inside the field */
    CHECK_INT(IOT_Sign_MQTT(IOTX_CLOUD_REGION_SHANGHAI, &meta, &out), STATE_USER_INPUT_META_INFO);
    CHECK_STR(out.hostname, "");
    return check_report();
}
