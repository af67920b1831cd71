/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <sys/resource.h>

#include "process-util.h"
#include "sigil/log.h"

int process_raise_nofile(uint64_t *ret_limit) {
        struct rlimit rl;
        rlim_t want;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > PROCESS_NOFILE_MAX ?
                       (rlim_t) PROCESS_NOFILE_MAX : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
                rl.rlim_cur = want;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        return log_warning_errno(-errno, "cannot raise the open file limit to "
                                                 "%llu: %m", (unsigned long long) want);
        }
        log_debug("open file limit: %llu", (unsigned long long) rl.rlim_cur);
        if (ret_limit)
                *ret_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t) rl.rlim_cur;
        return 0;
}
