/* SPDX-License-Identifier: Apache-2.0 */
/* Renewal times and backoff delays (agent/schedule.c): bounds, spread, floors, caps. */
#include "test-util.h"

#include "schedule.h"

#define T0 1800000000ull        /* an arbitrary unix time */

static void test_renew_half_life(void **state) {
        /* u = 0: exactly half way. */
        assert_int_equal(schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC, 0.0),
                         (T0 + 1800) * USEC_PER_SEC);
        /* The jitter extremes: 45 % and 55 % of the lifetime. */
        assert_int_equal(schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC, -1.0),
                         (T0 + 1620) * USEC_PER_SEC);
        assert_int_equal(schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC, 1.0),
                         (T0 + 1980) * USEC_PER_SEC);
        /* Out-of-range draws are clamped, never beyond 55 %. */
        assert_int_equal(schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC, 7.0),
                         (T0 + 1980) * USEC_PER_SEC);
        assert_int_equal(schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC, -7.0),
                         (T0 + 1620) * USEC_PER_SEC);
}

static void test_renew_random_draws_in_bounds(void **state) {
        uint64_t lo = UINT64_MAX, hi = 0;

        for (int i = 0; i < 100000; i++) {
                double u = schedule_random_unit();
                uint64_t at;

                assert_true(u >= -1.0 && u <= 1.0);
                at = schedule_renew_at(T0, T0 + 1000, T0 * USEC_PER_SEC, u);
                assert_true(at >= (T0 + 450) * USEC_PER_SEC);
                assert_true(at <= (T0 + 550) * USEC_PER_SEC);
                lo = MIN(lo, at);
                hi = MAX(hi, at);
        }
        /* 100000 draws cover nearly the whole +-10 % window. */
        assert_true(lo < (T0 + 455) * USEC_PER_SEC);
        assert_true(hi > (T0 + 545) * USEC_PER_SEC);
}

/* A thousand SVIDs signed in the same second must not renew in the same second. */
static void test_renew_spread(void **state) {
        static unsigned per_second[400];
        unsigned busiest = 0, used = 0;

        memset(per_second, 0, sizeof(per_second));
        for (int i = 0; i < 1000; i++) {
                uint64_t at = schedule_renew_at(T0, T0 + 3600, T0 * USEC_PER_SEC,
                                                schedule_random_unit());
                uint64_t s = at / USEC_PER_SEC - (T0 + 1620);

                assert_true(s < ELEMENTSOF(per_second));
                per_second[s]++;
        }
        for (size_t i = 0; i < ELEMENTSOF(per_second); i++) {
                busiest = MAX(busiest, per_second[i]);
                used += per_second[i] > 0;
        }
        /* 1000 over a 360 s window: ~2.8 a second on average. */
        assert_true(busiest <= 15);
        assert_true(used >= 200);
}

static void test_renew_floor_and_cap(void **state) {
        uint64_t now = (T0 + 100) * USEC_PER_SEC;

        /* Half-life already passed (a long outage): not before now + 1 s. */
        assert_int_equal(schedule_renew_at(T0, T0 + 120, now, 0.0), now + SCHEDULE_RENEW_MIN_USEC);
        /* The floor never pushes beyond notAfter. */
        assert_int_equal(schedule_renew_at(T0, T0 + 100, now - 500 * USEC_PER_MSEC, 0.0),
                         (T0 + 100) * USEC_PER_SEC);
        /* Expired: now. */
        assert_int_equal(schedule_renew_at(T0, T0 + 50, now, 0.0), now);
        /* A degenerate validity (notAfter <= notBefore) is retried after the floor. */
        assert_int_equal(schedule_renew_at(T0, T0, now, 0.0), now + SCHEDULE_RENEW_MIN_USEC);
        /* Short-lived SVIDs (the test TTLs): 6 s lifetime renews at 2.7..3.3 s. */
        for (double u = -1.0; u <= 1.0; u += 0.25) {
                uint64_t at = schedule_renew_at(T0, T0 + 6, T0 * USEC_PER_SEC, u);

                assert_true(at >= T0 * USEC_PER_SEC + 2700 * USEC_PER_MSEC);
                assert_true(at <= T0 * USEC_PER_SEC + 3300 * USEC_PER_MSEC);
        }
}

static void test_backoff(void **state) {
        Backoff b = BACKOFF_INIT(500 * USEC_PER_MSEC, 10 * USEC_PER_SEC);
        uint64_t expect[] = { 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000 };

        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                assert_int_equal(backoff_next(&b, 0.0), expect[i] * USEC_PER_MSEC);
        backoff_reset(&b);
        assert_int_equal(backoff_next(&b, 0.0), 500 * USEC_PER_MSEC);
        /* Jitter: +-20 %. */
        backoff_reset(&b);
        assert_int_equal(backoff_next(&b, 1.0), 600 * USEC_PER_MSEC);
        assert_int_equal(backoff_next(&b, -1.0), 800 * USEC_PER_MSEC);
        for (int i = 0; i < 10000; i++) {
                uint64_t d = backoff_next(&b, schedule_random_unit());

                assert_true(d >= 400 * USEC_PER_MSEC);
                assert_true(d <= 12 * USEC_PER_SEC);
        }
}

static void test_backoff_odd_bounds(void **state) {
        /* A max that is not a power-of-two multiple of min is reached, not overshot. */
        Backoff b = BACKOFF_INIT(3 * USEC_PER_SEC, 7 * USEC_PER_SEC);

        assert_int_equal(backoff_next(&b, 0.0), 3 * USEC_PER_SEC);
        assert_int_equal(backoff_next(&b, 0.0), 6 * USEC_PER_SEC);
        assert_int_equal(backoff_next(&b, 0.0), 7 * USEC_PER_SEC);
        assert_int_equal(backoff_next(&b, 0.0), 7 * USEC_PER_SEC);
        /* min == max */
        b = BACKOFF_INIT(USEC_PER_SEC, USEC_PER_SEC);
        assert_int_equal(backoff_next(&b, 0.0), USEC_PER_SEC);
        assert_int_equal(backoff_next(&b, 0.0), USEC_PER_SEC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_renew_half_life),
                cmocka_unit_test(test_renew_random_draws_in_bounds),
                cmocka_unit_test(test_renew_spread),
                cmocka_unit_test(test_renew_floor_and_cap),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_backoff_odd_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
