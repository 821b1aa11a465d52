/*
 * wrappers_tls.h: the Link SDK for C 3.2.x header of this name (HAL_SSL_*, g_cli_crt / g_cli_key).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_WRAPPERS_TLS_H
#define IOTKIT_VENDOR_WRAPPERS_TLS_H

#include "iotkit.h"

#endif
