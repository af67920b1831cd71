/* SPDX-License-Identifier: Apache-2.0 */
/* rate-limit.h - token buckets keyed by a string (peer address, uid...) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct RateLimit RateLimit;

/**
 * rate_limit_new() - buckets of @burst tokens refilled at @per_minute a minute
 * @burst:      the most a key may spend at once
 * @per_minute: refill rate
 * @ret:        on success, the limiter
 *
 * At most RATE_LIMIT_KEYS_MAX keys are tracked; full buckets are forgotten
 * first when the table is full.
 *
 * Return: 0 or -ENOMEM.
 */
int rate_limit_new(unsigned burst, unsigned per_minute, RateLimit **ret);
RateLimit *rate_limit_free(RateLimit *l);

#define RATE_LIMIT_KEYS_MAX 65536

/* Spend one token of @key at @now_usec; false when the bucket is empty. Thread-safe. */
bool rate_limit_take(RateLimit *l, const char *key, uint64_t now_usec);
