/*
 * mqtt_api.h: the Link SDK for C 3.2.x header of this name (the IOT_MQTT_* client API).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_MQTT_API_H
#define IOTKIT_VENDOR_MQTT_API_H

#include "iotkit.h"

#endif
