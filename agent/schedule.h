/* SPDX-License-Identifier: Apache-2.0 */
/* schedule.h - when to renew an SVID, jitter, and retry backoff (pure arithmetic) */
#pragma once

#include <stdint.h>

#include "sigil/macro.h"

/*
 * Renewal: an SVID valid from nb to na is renewed at
 *
 *      nb + (na - nb) * SCHEDULE_RENEW_FRACTION * (1 + SCHEDULE_RENEW_JITTER * u)
 *
 * with u uniform in [-1, 1] drawn per SVID, so a thousand SVIDs signed in
 * the same second renew spread over a fifth of their half-life rather than
 * all at once. The result is never before @now + SCHEDULE_RENEW_MIN_USEC
 * (an SVID whose life is nearly over is still not re-signed in a loop), and
 * never after the SVID's notAfter.
 *
 * For an SVID just received, callers pass MAX(notBefore, now) as its start:
 * the server backdates notBefore a little for clock skew, which would
 * otherwise make short-lived SVIDs due for renewal the moment they arrive.
 *
 * Backoff: each failure doubles the delay from min to max; each delay is
 * jittered by +-SCHEDULE_BACKOFF_JITTER so that agents that lost the same
 * server do not come back in step.
 */

#define SCHEDULE_RENEW_FRACTION 0.5
#define SCHEDULE_RENEW_JITTER 0.1
#define SCHEDULE_RENEW_MIN_USEC (1 * USEC_PER_SEC)
#define SCHEDULE_BACKOFF_JITTER 0.2

/* A uniform random number in [-1, 1] (OpenSSL's CSPRNG: rotations must not be predictable). */
double schedule_random_unit(void);

/**
 * schedule_renew_at() - when to renew an SVID
 * @not_before: unix seconds
 * @not_after:  unix seconds
 * @now_usec:   the current time, microseconds
 * @u:          jitter draw in [-1, 1] (schedule_random_unit())
 *
 * Return: the renewal time, microseconds.
 */
uint64_t schedule_renew_at(uint64_t not_before, uint64_t not_after, uint64_t now_usec, double u);

typedef struct Backoff {
        uint64_t min_usec;
        uint64_t max_usec;
        uint64_t next_usec;     /* the un-jittered delay of the next failure; 0 = min */
} Backoff;

#define BACKOFF_INIT(min, max) ((Backoff) { .min_usec = (min), .max_usec = (max) })

/**
 * backoff_next() - the delay before the next attempt after a failure
 * @b:          the backoff state (advanced)
 * @u:          jitter draw in [-1, 1]
 *
 * Return: the delay, microseconds, within [min * 0.8, max * 1.2].
 */
uint64_t backoff_next(Backoff *b, double u);

/* A success: the next failure waits the minimum again. */
void backoff_reset(Backoff *b);
