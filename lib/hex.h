/* SPDX-License-Identifier: Apache-2.0 */
/* hex.h - lowercase hex text of bytes (key IDs, serials, fingerprints) */
#pragma once

#include <stddef.h>
#include <stdint.h>

/**
 * hex_encode() - write @d as lowercase hex into @out, NUL-terminated
 * @d:          bytes
 * @n:          their number
 * @out:        buffer; 2 * @n + 1 bytes hold everything
 * @n_out:      its size, at least 1
 *
 * When @out is too small, only the bytes that fit whole are written.
 *
 * Return: the length of the text.
 */
size_t hex_encode(const uint8_t *d, size_t n, char *out, size_t n_out);
