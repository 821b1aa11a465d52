/*
 * infra_compat.h: the Link SDK for C 3.2.x header of this name (IOT_Ioctl, IOT_RegisterCallback, event ids, log levels).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_INFRA_COMPAT_H
#define IOTKIT_VENDOR_INFRA_COMPAT_H

#include "iotkit.h"

#endif
