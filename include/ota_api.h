/*
 * ota_api.h: the Link SDK for C 3.2.x header of this name (the IOT_OTA_*
 * firmware update API). Kept so that vendor code compiles unchanged;
 * everything is declared in iotkit.h, generated from the library's Rust
 * sources.
 */
#ifndef IOTKIT_VENDOR_OTA_API_H
#define IOTKIT_VENDOR_OTA_API_H

#include "iotkit.h"

#endif
