/* SPDX-License-Identifier: Apache-2.0 */
/* Durations: strict parsing, exact formatting, round trips. */
#include "test-util.h"

#include <errno.h>
#include <inttypes.h>

#include "sigil/duration.h"

#define SEC USEC_PER_SEC
#define MIN_ (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)

static void test_parse_valid(void **state) {
        static const struct {
                const char *in;
                uint64_t usec;
        } cases[] = {
                { "1h30m", HOUR + 30 * MIN_ },
                { "90s", 90 * SEC },
                { "250ms", 250 * USEC_PER_MSEC },
                { "10us", 10 },
                { "2d", 2 * DAY },
                { "90", 90 * SEC },
                { "0", 0 },
                { "0s", 0 },
                { "000", 0 },
                { "007s", 7 * SEC },
                { "168h", 168 * HOUR },
                { "1d2h3m4s5ms6us", DAY + 2 * HOUR + 3 * MIN_ + 4 * SEC + 5000 + 6 },
                { "30m1h", HOUR + 30 * MIN_ },          /* any order, as Go */
                { "1h1h", 2 * HOUR },
                { "1m30s", 90 * SEC },
                { "18446744073709551615us", UINT64_MAX },
                { "18446744073709s", UINT64_C(18446744073709) * SEC },
                { "213503982d", UINT64_C(213503982) * DAY },
                { "18446744073709551614us1us", UINT64_MAX },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 42;
                SigilErr e = { .msg = "" };

                if (sigil_duration_parse(cases[i].in, &v, &e) != 0)
                        fail_msg("'%s' rejected: %s", cases[i].in, e.msg);
                if (v != cases[i].usec)
                        fail_msg("'%s' = %" PRIu64 ", expected %" PRIu64, cases[i].in, v,
                                 cases[i].usec);
        }
}

static void test_parse_invalid(void **state) {
        static const struct {
                const char *in;
                int r;
                const char *msg;
        } cases[] = {
                { "", -EINVAL, "empty" },
                { "-1s", -EINVAL, "negative" },
                { "-5", -EINVAL, "negative" },
                { "1h-5m", -EINVAL, "negative" },
                { "1.5h", -EINVAL, "fractions" },
                { ".5s", -EINVAL, "fractions" },
                { "1h.", -EINVAL, "fractions" },
                { "1h ", -EINVAL, "whitespace" },
                { " 1h", -EINVAL, "whitespace" },
                { "1 h", -EINVAL, "whitespace" },
                { "1h\n", -EINVAL, "whitespace" },
                { "\t5s", -EINVAL, "whitespace" },
                { "1x", -EINVAL, "unknown duration unit 'x'" },
                { "1ns", -EINVAL, "unknown duration unit 'ns'" },
                { "1H", -EINVAL, "unknown duration unit 'H'" },
                { "1hm", -EINVAL, "unknown duration unit 'hm'" },
                { "1sec", -EINVAL, "unknown duration unit 'sec'" },
                { "1h30", -EINVAL, "missing a unit" },
                { "h", -EINVAL, "expected a number" },
                { "+1s", -EINVAL, "expected a number" },
                { "1\xc2\xb5s", -EINVAL, "expected a number" },
                { "1h,30m", -EINVAL, "expected a number" },
                { "0x10s", -EINVAL, "unknown duration unit 'x'" },
                { "18446744073709551616us", -ERANGE, "too large" },
                { "18446744073710s", -ERANGE, "too large" },
                { "213503983d", -ERANGE, "too large" },
                { "18446744073709551615us1us", -ERANGE, "too large" },
                { "18446744073710", -ERANGE, "too large" },
                { "99999999999999999999999", -ERANGE, "too large" },
                { "99999999999999999999999h", -ERANGE, "too large" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 42;
                SigilErr e = { .msg = "" };
                int r = sigil_duration_parse(cases[i].in, &v, &e);

                if (r != cases[i].r)
                        fail_msg("'%s': returned %d, expected %d (%s)", cases[i].in, r,
                                 cases[i].r, e.msg);
                assert_strstr(e.msg, cases[i].msg);
                assert_int_equal(v, 42);                /* untouched on failure */
        }
        assert_int_equal(sigil_duration_parse(NULL, &(uint64_t) { 0 }, NULL), -EINVAL);
}

static void test_format(void **state) {
        static const struct {
                uint64_t usec;
                const char *out;
        } cases[] = {
                { 0, "0s" },
                { 1, "1us" },
                { 999, "999us" },
                { 1000, "1ms" },
                { 90 * USEC_PER_MSEC, "90ms" },
                { 1500, "1ms500us" },
                { SEC, "1s" },
                { 90 * SEC, "1m30s" },
                { HOUR + 30 * MIN_, "1h30m" },
                { DAY, "1d" },
                { 7 * DAY, "7d" },
                { DAY + HOUR + MIN_ + SEC + 1001, "1d1h1m1s1ms1us" },
                { UINT64_MAX, "213503982d8h1m49s551ms615us" },
        };
        char buf[SIGIL_DURATION_STRING_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_ptr_equal(sigil_duration_format(cases[i].usec, buf, sizeof(buf)), buf);
                assert_string_equal(buf, cases[i].out);
        }
}

static void test_format_small_buffer(void **state) {
        char buf[6];

        memset(buf, 'x', sizeof(buf));
        (void) sigil_duration_format(HOUR + 30 * MIN_ + 15 * SEC, buf, sizeof(buf));
        assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
        assert_string_equal(buf, "1h30m");      /* "15s" did not fit and was left out */
        (void) sigil_duration_format(HOUR + 30 * MIN_, buf, 4);
        assert_string_equal(buf, "1h");         /* never a truncated "1h3" */
        (void) sigil_duration_format(HOUR, buf, 1);
        assert_string_equal(buf, "");
        assert_null(sigil_duration_format(HOUR, NULL, 0));
}

/* format() then parse() gives back the value, for edge and pseudo-random values. */
static void test_round_trip(void **state) {
        uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
        char buf[SIGIL_DURATION_STRING_MAX];

        for (int i = 0; i < 100000; i++) {
                uint64_t v, back = 0;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                switch (i % 4) {
                case 0:
                        v = x;
                        break;
                case 1:
                        v = x % (30 * DAY);
                        break;
                case 2:
                        v = (x % 100000) * SEC;
                        break;
                default:
                        v = (uint64_t) i;
                        break;
                }
                (void) sigil_duration_format(v, buf, sizeof(buf));
                if (sigil_duration_parse(buf, &back, NULL) != 0 || back != v)
                        fail_msg("%" PRIu64 " -> '%s' -> %" PRIu64, v, buf, back);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_format_small_buffer),
                cmocka_unit_test(test_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
