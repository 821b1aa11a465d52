/* Links against the installed library and calls into it. */
#include <stdio.h>
#include <string.h>
#include "infra_compat.h"
#include "mqtt_api.h"
#include "wrappers.h"

int main(void)
{
    char pk[IOTX_PRODUCT_KEY_LEN + 1];
    if (IOT_Ioctl(IOTX_IOCTL_SET_PRODUCT_KEY, (void *)"a1consumer0") != 0) {
        return 1;
    }
    if (IOT_Ioctl(IOTX_IOCTL_GET_PRODUCT_KEY, pk) != 0 || strcmp(pk, "a1consumer0") != 0) {
        return 2;
    }
    printf("installed iotkit %s works: %s\n", iotkit_version(), pk);
    return 0;
}
