/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz.h - the libFuzzer entry point every fuzz-<parser>.c defines */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
