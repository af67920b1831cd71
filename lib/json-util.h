/* SPDX-License-Identifier: Apache-2.0 */
/* json-util.h - jansson cleanup helpers and strict decoding (private to sigil) */
#pragma once

#include <jansson.h>

#include "sigil/macro.h"

/* jansson >= 2.11 provides json_decrefp() for _cleanup_(json_decrefp). */

/* Every JSON sigil reads from outside is decoded with these flags. */
#define SIGIL_JSON_DECODE_FLAGS JSON_REJECT_DUPLICATES
