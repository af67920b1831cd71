/* SPDX-License-Identifier: Apache-2.0 */
/* sigil clock.h - the one clock every timestamp comes from */
#pragma once

#include <stdint.h>

/*
 * All wall-clock reads go through sigil_now_usec() so that tests can move
 * time. The offset is process-local and starts at zero.
 */

/* Microseconds since the epoch (CLOCK_REALTIME plus the test offset). */
uint64_t sigil_now_usec(void);

/* Seconds since the epoch. */
uint64_t sigil_now_sec(void);

/* Monotonic microseconds (CLOCK_MONOTONIC plus the test offset), for timers. */
uint64_t sigil_monotonic_usec(void);

/* Shift both clocks by @delta_usec (tests only). */
void sigil_clock_shift(int64_t delta_usec);
