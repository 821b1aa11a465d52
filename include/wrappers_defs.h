/*
 * wrappers_defs.h: the Link SDK for C 3.2.x header of this name (ssl_hooks_t, hal_os_thread_param_t, PLATFORM_WAIT_INFINITE).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_WRAPPERS_DEFS_H
#define IOTKIT_VENDOR_WRAPPERS_DEFS_H

#include "iotkit.h"

#endif
