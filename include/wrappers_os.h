/*
 * wrappers_os.h: the Link SDK for C 3.2.x header of this name (HAL_Malloc, HAL_UptimeMs, mutexes, threads, HAL_Printf).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_WRAPPERS_OS_H
#define IOTKIT_VENDOR_WRAPPERS_OS_H

#include "iotkit.h"

#endif
