/*
 * infra_types.h: the Link SDK for C 3.2.x header of this name (basic types (stdint, stddef)).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_INFRA_TYPES_H
#define IOTKIT_VENDOR_INFRA_TYPES_H

#include "iotkit.h"

#endif
