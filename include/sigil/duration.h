/* SPDX-License-Identifier: Apache-2.0 */
/* sigil duration.h - durations as written by operators: "90s", "1h30m", "168h", "250ms" */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sigil/error.h"

#define SIGIL_DURATION_STRING_MAX 64

/**
 * sigil_duration_parse() - parse a duration into microseconds
 * @s:          Go-style sequence of <number><unit> with units us, ms, s, m, h, d;
 *              a bare non-negative integer means seconds (as spire's TTL flags)
 * @ret_usec:   on success, the value
 * @reterr:     on failure, the reason; may be NULL
 *
 * Negative values, fractions, unknown units, overflow and trailing garbage
 * are rejected.
 *
 * Return: 0, -EINVAL or -ERANGE.
 */
int sigil_duration_parse(const char *s, uint64_t *ret_usec, SigilErr *reterr);

/**
 * sigil_duration_format() - write @usec in the shortest exact form ("1h30m", "90ms", "0s")
 * @usec:       duration
 * @buf:        destination
 * @n_buf:      size of @buf (SIGIL_DURATION_STRING_MAX is always enough)
 *
 * Return: @buf.
 */
char *sigil_duration_format(uint64_t usec, char *buf, size_t n_buf);
