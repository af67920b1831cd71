/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unix workload attestor, with spire-agent's selector names: unix:uid,
 * unix:user, unix:gid, unix:group, unix:supplementary_gid,
 * unix:supplementary_group, and the opt-ins unix:path and unix:sha256.
 *
 * The IDs are the process's effective uid and gid (what the kernel checks
 * permissions against, what SO_PEERCRED reports, and what spire-agent
 * attests); the caller has already checked that /proc and the socket agree.
 *
 * Whatever stops one selector from being computed costs the workload that
 * selector only, and is reported as a warning: fewer selectors can only ever
 * match fewer registration entries, never more, so leaving one out fails
 * closed. Only a full selector set and memory exhaustion fail the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sigil/macro.h"
#include "unix.h"
#include "workload-attest.h"

#define DELETED_SUFFIX " (deleted)"
#define SELF_MNTNS "/proc/self/ns/mnt"

static int add(SigilSelectorSet *set, const char *key, const char *value, SigilErr *reterr) {
        char v[SIGIL_SELECTOR_VALUE_MAX + 2];

        if ((size_t) snprintf(v, sizeof(v), "%s:%s", key, value) >= sizeof(v))
                return sigil_err_set(reterr, -EINVAL, "selector value too long");
        return sigil_selector_set_add(set, "unix", v, reterr);
}

static int add_id(SigilSelectorSet *set, const char *key, uint32_t id, SigilErr *reterr) {
        char buf[16];

        (void) snprintf(buf, sizeof(buf), "%" PRIu32, id);
        return add(set, key, buf, reterr);
}

/* A name that is no valid selector value (control characters, too long) is left out. */
static int add_name(SigilSelectorSet *set, const char *key, int lookup, const char *name,
                    unsigned *warnings, SigilErr *reterr) {
        int r;

        if (lookup == -ENOMEM)
                return lookup;
        if (lookup == UNIX_NAMES_E_NOT_FOUND)
                return 0;
        if (lookup != 0) {
                *warnings |= WORKLOAD_WARN_NAME_INVALID;        /* NSS failed: no name */
                return 0;
        }
        r = add(set, key, name, reterr);
        if (r == -EINVAL) {
                *warnings |= WORKLOAD_WARN_NAME_INVALID;
                return 0;
        }
        return r;
}

static int add_user(const UnixNames *names, uid_t uid, SigilSelectorSet *set, unsigned *warnings,
                    SigilErr *reterr) {
        _cleanup_(freep) char *name = NULL;
        int r;

        r = add_id(set, "uid", (uint32_t) uid, reterr);
        if (r < 0)
                return r;
        r = unix_names_user(names, uid, &name);
        return add_name(set, "user", r, name, warnings, reterr);
}

static int add_group(const UnixNames *names, gid_t gid, const char *id_key, const char *name_key,
                     SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr) {
        _cleanup_(freep) char *name = NULL;
        int r;

        r = add_id(set, id_key, (uint32_t) gid, reterr);
        if (r < 0)
                return r;
        r = unix_names_group(names, gid, &name);
        return add_name(set, name_key, r, name, warnings, reterr);
}

int unix_attest_ids(const UnixNames *names, const ProcStatus *st, size_t groups_max,
                    SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr) {
        int r;

        r = add_user(names, st->uid[1], set, warnings, reterr);
        if (r < 0)
                return r;
        r = add_group(names, st->gid[1], "gid", "group", set, warnings, reterr);
        if (r < 0)
                return r;
        for (size_t i = 0; i < st->n_groups && i < groups_max; i++) {
                r = add_group(names, st->groups[i], "supplementary_gid", "supplementary_group",
                              set, warnings, reterr);
                if (r < 0)
                        return r;
        }
        if (st->n_groups > groups_max)
                *warnings |= WORKLOAD_WARN_GROUPS_TRUNCATED;
        return 0;
}

/* Does the process share the agent's mount namespace (so its exe path means the same file)? */
static unsigned check_mntns(int proc_dirfd) {
        struct stat theirs, ours;

        if (fstatat(proc_dirfd, "ns/mnt", &theirs, 0) < 0 || stat(SELF_MNTNS, &ours) < 0)
                return WORKLOAD_WARN_EXE_UNREADABLE;
        if (theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino)
                return WORKLOAD_WARN_EXE_OTHER_MNTNS;
        return 0;
}

/* The exe link's text, or the warning that explains why there is no usable path. */
static unsigned read_exe_path(int proc_dirfd, char *buf, size_t n_buf) {
        ssize_t k = readlinkat(proc_dirfd, "exe", buf, n_buf);
        size_t n;

        if (k < 0)
                return WORKLOAD_WARN_EXE_UNREADABLE;
        if ((size_t) k >= n_buf)
                return WORKLOAD_WARN_EXE_PATH_INVALID;
        n = (size_t) k;
        buf[n] = '\0';
        /* the binary was unlinked or replaced: the path names another file, or none */
        if (n >= strlen(DELETED_SUFFIX) &&
            memcmp(buf + n - strlen(DELETED_SUFFIX), DELETED_SUFFIX, strlen(DELETED_SUFFIX)) == 0)
                return WORKLOAD_WARN_EXE_DELETED;
        if (buf[0] != '/')
                return WORKLOAD_WARN_EXE_PATH_INVALID;
        return 0;
}

static int attest_path(int proc_dirfd, const UnixExeOptions *opts, SigilSelectorSet *set,
                       unsigned *warnings, SigilErr *reterr) {
        char buf[PATH_MAX + 1];
        unsigned w;
        int r;

        w = read_exe_path(proc_dirfd, buf, sizeof(buf));
        if (w == 0 && !opts->path_any_mntns)
                w = check_mntns(proc_dirfd);
        if (w != 0) {
                *warnings |= w;
                return 0;
        }
        r = add(set, "path", buf, reterr);
        if (r == -EINVAL) {
                *warnings |= WORKLOAD_WARN_EXE_PATH_INVALID;
                return 0;
        }
        return r;
}

static int attest_sha256(int proc_dirfd, const UnixExeOptions *opts, ExeHashCache *cache,
                         SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr) {
        _cleanup_(closep) int fd = -1;
        char hex[EXE_HASH_HEX_LEN + 1];
        int r;

        /* through the link, not the path: the inode the process runs, even if replaced */
        fd = openat(proc_dirfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                *warnings |= WORKLOAD_WARN_EXE_UNREADABLE;
                return 0;
        }
        r = exe_hash_fd(cache, fd, opts->size_max, hex);
        if (r == -ENOMEM)
                return r;
        if (r == EXE_HASH_E_TOO_LARGE) {
                *warnings |= WORKLOAD_WARN_EXE_TOO_LARGE;
                return 0;
        }
        if (r != 0) {
                *warnings |= WORKLOAD_WARN_EXE_UNREADABLE;
                return 0;
        }
        return add(set, "sha256", hex, reterr);
}

int unix_attest_exe(int proc_dirfd, const UnixExeOptions *opts, ExeHashCache *cache,
                    SigilSelectorSet *set, unsigned *warnings, SigilErr *reterr) {
        int r;

        if (opts->path) {
                r = attest_path(proc_dirfd, opts, set, warnings, reterr);
                if (r < 0)
                        return r;
        }
        if (opts->sha256) {
                r = attest_sha256(proc_dirfd, opts, cache, set, warnings, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}
