/* SPDX-License-Identifier: Apache-2.0 */
#include <stdatomic.h>
#include <time.h>

#include "sigil/clock.h"

/* Global on purpose: the test offset applies to the whole process. */
static _Atomic int64_t clock_offset_usec;

static uint64_t clock_read(clockid_t id) {
        struct timespec ts;

        (void) clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000u +
               (uint64_t) atomic_load(&clock_offset_usec);
}

uint64_t sigil_now_usec(void) {
        return clock_read(CLOCK_REALTIME);
}

uint64_t sigil_now_sec(void) {
        return sigil_now_usec() / UINT64_C(1000000);
}

uint64_t sigil_monotonic_usec(void) {
        return clock_read(CLOCK_MONOTONIC);
}

void sigil_clock_shift(int64_t delta_usec) {
        atomic_fetch_add(&clock_offset_usec, delta_usec);
}
