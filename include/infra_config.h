/*
 * infra_config.h: the Link SDK for C 3.2.x header of this name (build-time configuration (CONFIG_MQTT_*)).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_INFRA_CONFIG_H
#define IOTKIT_VENDOR_INFRA_CONFIG_H

#include "iotkit.h"

#endif
