/* SPDX-License-Identifier: Apache-2.0 */
/* bench-common.h - the timing loop the benchmark programs share */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigil/clock.h"

/* One operation; returns 0 or a negative errno (which ends the run). */
typedef int (*BenchOp)(void *userdata);

/*
 * Run @op on this thread for about @seconds and return operations per second, or a
 * negative value when @op failed. The clock is read every BENCH_CHECK_EVERY calls
 * only, so that reading it costs nothing measurable.
 */
#define BENCH_CHECK_EVERY 32

static inline double bench_run(BenchOp op, void *userdata, double seconds) {
        uint64_t start = sigil_monotonic_usec(), stop = start + (uint64_t) (seconds * 1e6), now;
        unsigned long long n = 0;

        do {
                for (int i = 0; i < BENCH_CHECK_EVERY; i++, n++)
                        if (op(userdata) < 0)
                                return -1.0;
                now = sigil_monotonic_usec();
        } while (now < stop);
        return (double) n * 1e6 / (double) (now - start);
}

/* "-seconds N" (default 3) is the only argument the programs take. */
static inline double bench_seconds(int argc, char *argv[]) {
        if (argc == 3 && (strcmp(argv[1], "-seconds") == 0 || strcmp(argv[1], "--seconds") == 0))
                return atof(argv[2]) > 0 ? atof(argv[2]) : 3.0;
        if (argc != 1) {
                fprintf(stderr, "Usage: %s [-seconds N]\n", argv[0]);
                exit(2);
        }
        return 3.0;
}
