/*
 * infra_state.h: the Link SDK for C 3.2.x header of this name (the STATE_* codes and iotx_state_event).
 * Kept so that vendor code compiles unchanged; everything is declared in
 * iotkit.h, generated from the library's Rust sources.
 */
#ifndef IOTKIT_VENDOR_INFRA_STATE_H
#define IOTKIT_VENDOR_INFRA_STATE_H

#include "iotkit.h"

#endif
