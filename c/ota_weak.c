/*
 * HAL_Firmware_Persistence_* as weak symbols: firmware that defines these
 * functions itself (as the vendor's HAL port asks) keeps its own; firmware
 * that does not gets the library's Linux defaults, which write
 * <dir>/firmware.bin atomically (see iotkit_ota_set_dir in iotkit.h).
 * They live in C because stable Rust cannot define weak symbols, and in
 * their own object so a strong definition elsewhere never collides with the
 * Rust object of the library.
 */
#include <stdint.h>

extern void iotkit_firmware_persistence_start(void);
extern int iotkit_firmware_persistence_write(char *buffer, uint32_t length);
extern int iotkit_firmware_persistence_stop(void);

void HAL_Firmware_Persistence_Start(void) __attribute__((weak));
int HAL_Firmware_Persistence_Write(char *buffer, uint32_t length) __attribute__((weak));
int HAL_Firmware_Persistence_Stop(void) __attribute__((weak));

void HAL_Firmware_Persistence_Start(void)
{
    iotkit_firmware_persistence_start();
}

int HAL_Firmware_Persistence_Write(char *buffer, uint32_t length)
{
    return iotkit_firmware_persistence_write(buffer, length);
}

int HAL_Firmware_Persistence_Stop(void)
{
    return iotkit_firmware_persistence_stop();
}
