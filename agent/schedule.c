/* SPDX-License-Identifier: Apache-2.0 */
/* Renewal times and backoff delays (schedule.h); no I/O, no clock reads. */
#include <openssl/rand.h>

#include "schedule.h"
#include "sigil/macro.h"

double schedule_random_unit(void) {
        uint32_t v = 0;

        if (RAND_bytes((unsigned char *) &v, sizeof(v)) != 1)
                return 0.0;     /* no jitter is still a correct schedule */
        return (double) v / (double) UINT32_MAX * 2.0 - 1.0;
}

static double clamp_unit(double u) {
        return u < -1.0 ? -1.0 : u > 1.0 ? 1.0 : u;
}

uint64_t schedule_renew_at(uint64_t not_before, uint64_t not_after, uint64_t now_usec, double u) {
        uint64_t nb = not_before * USEC_PER_SEC, na = not_after * USEC_PER_SEC, at;
        double f = SCHEDULE_RENEW_FRACTION * (1.0 + SCHEDULE_RENEW_JITTER * clamp_unit(u));

        if (na <= nb)
                return now_usec + SCHEDULE_RENEW_MIN_USEC;
        at = nb + (uint64_t) ((double) (na - nb) * f);
        at = MAX(at, now_usec + SCHEDULE_RENEW_MIN_USEC);
        return MIN(at, MAX(na, now_usec));
}

uint64_t backoff_next(Backoff *b, double u) {
        uint64_t d = b->next_usec == 0 ? b->min_usec : b->next_usec;

        d = MIN(MAX(d, b->min_usec), b->max_usec);
        b->next_usec = d > b->max_usec / 2 ? b->max_usec : d * 2;
        return (uint64_t) ((double) d * (1.0 + SCHEDULE_BACKOFF_JITTER * clamp_unit(u)));
}

void backoff_reset(Backoff *b) {
        b->next_usec = 0;
}
