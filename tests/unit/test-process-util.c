/* SPDX-License-Identifier: Apache-2.0 */
/* The daemons' process set-up (lib/process-util.c): the open-file limit. */
#include "test-util.h"

#include <sys/resource.h>

#include "process-util.h"

static void test_raise_nofile(void **state) {
        struct rlimit rl, low;
        uint64_t limit = 0;
        rlim_t want;

        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > PROCESS_NOFILE_MAX ?
                       (rlim_t) PROCESS_NOFILE_MAX : rl.rlim_max;
        if (want <= 64)
                skip();
        low = (struct rlimit) { .rlim_cur = 64, .rlim_max = rl.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        assert_int_equal(process_raise_nofile(&limit), 0);
        assert_int_equal(limit, want);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &low), 0);
        assert_int_equal(low.rlim_cur, want);
        assert_int_equal(low.rlim_max, rl.rlim_max);
        /* Already there: nothing changes. */
        assert_int_equal(process_raise_nofile(&limit), 0);
        assert_int_equal(limit, want);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_raise_nofile),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
