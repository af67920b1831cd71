/* SPDX-License-Identifier: Apache-2.0 */
/* unix.h - the unix workload attestor: uid, gid, groups, names; opt-in exe path and SHA-256 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "exe-hash.h"
#include "proc-parse.h"
#include "sigil/selector.h"
#include "unix-names.h"

typedef struct UnixExeOptions {
        bool path;              /* unix:path */
        bool sha256;            /* unix:sha256 */
        bool path_any_mntns;    /* unix:path even when the process has another mount namespace */
        uint64_t size_max;      /* no unix:sha256 above this size */
} UnixExeOptions;

/**
 * unix_attest_ids() - unix:uid, unix:user, unix:gid, unix:group and the supplementary groups
 * @names:      where names come from
 * @st:         the process's parsed status (its effective uid and gid are attested)
 * @groups_max: supplementary groups beyond this many are left out
 * @set:        selectors are added here
 * @warnings:   WORKLOAD_WARN_GROUPS_TRUNCATED and WORKLOAD_WARN_NAME_INVALID are or'ed in
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -E2BIG (set full) or negative errno.
 */
int unix_attest_ids(const UnixNames *names, const ProcStatus *st, size_t groups_max,
                    SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr);

/**
 * unix_attest_exe() - unix:path and unix:sha256 of the executable of /proc/<pid>
 * @proc_dirfd: an open /proc/<pid> directory
 * @opts:       which selectors
 * @cache:      hash cache
 * @set:        selectors are added here
 * @warnings:   WORKLOAD_WARN_EXE_* bits are or'ed in
 * @reterr:     on failure, the reason; may be NULL
 *
 * Whatever keeps a selector from being computed (a deleted binary, another
 * mount namespace, no permission, a file over the cap) is a warning and
 * leaves that selector out; only a full set or memory exhaustion fails.
 *
 * Return: 0, -E2BIG or -ENOMEM.
 */
int unix_attest_exe(int proc_dirfd, const UnixExeOptions *opts, ExeHashCache *cache,
                    SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr);
