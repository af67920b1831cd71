/* SPDX-License-Identifier: Apache-2.0 */
/* base64.h - strict base64 and base64url (RFC 4648) on top of OpenSSL's codec */
#pragma once

#include <stddef.h>
#include <stdint.h>

/**
 * base64url_encode() - unpadded base64url of @n bytes
 * @data:       bytes
 * @n:          length
 * @ret:        on success, malloc'd NUL-terminated text
 * @ret_n:      on success, its length; may be NULL
 *
 * Return: 0, -ENOMEM or -EOVERFLOW.
 */
int base64url_encode(const void *data, size_t n, char **ret, size_t *ret_n);

/* Same, writing into @out, which must hold base64url_encoded_len(@n) + 1 bytes. Return: length. */
size_t base64url_encode_to(const void *data, size_t n, char *out);
size_t base64url_encoded_len(size_t n);

/**
 * base64url_decode() - decode unpadded base64url, strictly
 * @s:          text
 * @n:          its length
 * @ret:        on success, malloc'd bytes (one extra NUL byte is appended)
 * @ret_n:      on success, their length
 *
 * Padding, whitespace, characters outside the alphabet, an impossible length
 * (n % 4 == 1) and non-zero unused bits are rejected.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int base64url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_n);

/**
 * base64_decode() - decode padded standard base64 (as x5c), strictly
 * @s:          text
 * @n:          its length (a multiple of 4)
 * @ret:        on success, malloc'd bytes
 * @ret_n:      on success, their length
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_n);

/* Padded standard base64 of @n bytes. Return: 0, -ENOMEM or -EOVERFLOW. */
int base64_encode(const void *data, size_t n, char **ret);
