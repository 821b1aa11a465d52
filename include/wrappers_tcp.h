/*
 * wrappers_tcp.h: the Link SDK for C 3.2.x header of this name (HAL_TCP_*).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_WRAPPERS_TCP_H
#define IOTKIT_VENDOR_WRAPPERS_TCP_H

#include "iotkit.h"

#endif
