/*
 * infra_defs.h: the Link SDK for C 3.2.x header of this name (lengths, regions, device meta info).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_INFRA_DEFS_H
#define IOTKIT_VENDOR_INFRA_DEFS_H

#include "iotkit.h"

#endif
