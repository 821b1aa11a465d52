/* A firmware that keeps the vendor's C core and takes only the wrappers
 * (HAL_*) from iotkit: links iotkit::hal / iotkit-hal.pc and calls into it. */
#include <stdio.h>
#include <string.h>
#include "wrappers.h"

int main(void)
{
    char text[32];
    char *copy = (char *)HAL_Malloc(16);
    if (copy == NULL) {
        return 1;
    }
    HAL_Snprintf(text, sizeof(text), "hal %d", 42);
    memcpy(copy, text, strlen(text) + 1);
    if (strcmp(copy, "hal 42") != 0) {
        HAL_Free(copy);
        return 2;
    }
    HAL_Free(copy);
    printf("installed iotkit wrappers work: %s\n", text);
    return 0;
}
