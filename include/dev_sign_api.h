/*
 * dev_sign_api.h: the Link SDK for C 3.2.x header of this name (IOT_Sign_MQTT and iotx_sign_mqtt_t).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_DEV_SIGN_API_H
#define IOTKIT_VENDOR_DEV_SIGN_API_H

#include "iotkit.h"

#endif
