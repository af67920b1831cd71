/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "workload_api" section: the Workload API server's limits and the
 * workload attestors' opt-ins. Parsed with the same table machinery as the
 * rest of the agent's configuration (unknown keys are errors, every error
 * names its key path), into a plain struct first and checked after, so
 * that no half-parsed setting reaches the attestors.
 *
 *   "workload_api": {
 *     "threads": 4, "max_conns_per_uid": 1024, "proc_root": "/proc",
 *     "unix": { "path": false, "path_any_mntns": false, "sha256": false,
 *               "sha256_size_max": 536870912, "sha256_cache_entries": 128,
 *               "groups_max": 128, "names": "nss", "names_root": "/" },
 *     "cgroup": { "enabled": true, "nested": false },
 *     "unsafe_skip_pid_check": false
 *   }
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "attest/exe-hash.h"
#include "sigil/config.h"
#include "workload-config.h"

typedef struct RawConfig {
        int64_t threads;
        int64_t max_conns_per_uid;
        char *proc_root;
        bool skip_pid_check;
        bool unix_path;
        bool unix_path_any_mntns;
        bool unix_sha256;
        int64_t sha256_size_max;
        int64_t sha256_cache_entries;
        int64_t groups_max;
        UnixNamesSource names;
        char *names_root;
        bool cgroup;
        bool cgroup_nested;
} RawConfig;

#define FIELD(name) offsetof(RawConfig, name)

static int parse_names(const char *path, json_t *v, void *field, SigilErr *reterr) {
        static const char *const names[_UNIX_NAMES_SOURCE_MAX] = {
                [UNIX_NAMES_NSS] = "nss",
                [UNIX_NAMES_FILES] = "files",
                [UNIX_NAMES_NONE] = "none",
        };
        const char *s = json_string_value(v);

        for (size_t i = 0; s && i < ELEMENTSOF(names); i++)
                if (streq(s, names[i])) {
                        *(UnixNamesSource *) field = (UnixNamesSource) i;
                        return 0;
                }
        return sigil_err_set(reterr, -EINVAL, "expected \"nss\", \"files\" or \"none\"");
}

static const SigilConfigItem unix_items[] = {
        { "path", sigil_config_parse_bool, FIELD(unix_path), NULL },
        { "path_any_mntns", sigil_config_parse_bool, FIELD(unix_path_any_mntns), NULL },
        { "sha256", sigil_config_parse_bool, FIELD(unix_sha256), NULL },
        { "sha256_size_max", sigil_config_parse_int, FIELD(sha256_size_max), NULL },
        { "sha256_cache_entries", sigil_config_parse_int, FIELD(sha256_cache_entries), NULL },
        { "groups_max", sigil_config_parse_int, FIELD(groups_max), NULL },
        { "names", parse_names, FIELD(names), NULL },
        { "names_root", sigil_config_parse_string, FIELD(names_root), NULL },
        {},
};

static const SigilConfigItem cgroup_items[] = {
        { "enabled", sigil_config_parse_bool, FIELD(cgroup), NULL },
        { "nested", sigil_config_parse_bool, FIELD(cgroup_nested), NULL },
        {},
};

static const SigilConfigItem workload_items[] = {
        { "threads", sigil_config_parse_int, FIELD(threads), NULL },
        { "max_conns_per_uid", sigil_config_parse_int, FIELD(max_conns_per_uid), NULL },
        { "proc_root", sigil_config_parse_string, FIELD(proc_root), NULL },
        { "unsafe_skip_pid_check", sigil_config_parse_bool, FIELD(skip_pid_check), NULL },
        { "unix", NULL, 0, unix_items },
        { "cgroup", NULL, 0, cgroup_items },
        {},
};

static void raw_config_done(RawConfig *raw) {
        free(raw->proc_root);
        free(raw->names_root);
}

static int check_range(const char *key, int64_t v, int64_t max, SigilErr *reterr) {
        if (v < 0 || v > max)
                return sigil_err_set(reterr, -EINVAL, "workload_api.%s: out of range 0..%lld",
                                     key, (long long) max);
        return 0;
}

static int check_raw(const RawConfig *raw, SigilErr *reterr) {
        int r = 0;

        if (r == 0)
                r = check_range("threads", raw->threads, WORKLOAD_THREADS_MAX, reterr);
        if (r == 0)
                r = check_range("max_conns_per_uid", raw->max_conns_per_uid,
                                WORKLOAD_CONNS_PER_UID_MAX, reterr);
        if (r == 0)
                r = check_range("unix.groups_max", raw->groups_max, WORKLOAD_GROUPS_MAX, reterr);
        if (r == 0)
                r = check_range("unix.sha256_size_max", raw->sha256_size_max, INT64_MAX, reterr);
        if (r == 0)
                r = check_range("unix.sha256_cache_entries", raw->sha256_cache_entries,
                                EXE_HASH_CACHE_ENTRIES_MAX, reterr);
        if (r < 0)
                return r;
        if (raw->proc_root && raw->proc_root[0] != '/')
                return sigil_err_set(reterr, -EINVAL,
                                     "workload_api.proc_root: '%s' is not an absolute path",
                                     raw->proc_root);
        if (raw->names == UNIX_NAMES_FILES && isempty(raw->names_root))
                return sigil_err_set(reterr, -EINVAL, "workload_api.unix.names_root: required "
                                                      "when names is \"files\"");
        if (raw->names_root && raw->names != UNIX_NAMES_FILES)
                return sigil_err_set(reterr, -EINVAL, "workload_api.unix.names_root: only used "
                                                      "when names is \"files\"");
        if (raw->unix_path_any_mntns && !raw->unix_path)
                return sigil_err_set(reterr, -EINVAL, "workload_api.unix.path_any_mntns: needs "
                                                      "unix.path");
        if (raw->cgroup_nested && !raw->cgroup)
                return sigil_err_set(reterr, -EINVAL, "workload_api.cgroup.nested: needs "
                                                      "cgroup.enabled");
        return 0;
}

static void raw_config_to(RawConfig *raw, WorkloadServiceConfig *c) {
        WorkloadAttestConfig *a = &c->attest;

        workload_attest_config_init(a);
        c->proc_root = TAKE_PTR(raw->proc_root);
        c->names_root = TAKE_PTR(raw->names_root);
        if (c->proc_root)
                a->proc_root = c->proc_root;
        a->names = raw->names;
        a->names_root = c->names_root;
        a->groups_max = (unsigned) raw->groups_max;
        a->unix_path = raw->unix_path;
        a->unix_path_any_mntns = raw->unix_path_any_mntns;
        a->unix_sha256 = raw->unix_sha256;
        if (raw->sha256_size_max > 0)
                a->sha256_size_max = (uint64_t) raw->sha256_size_max;
        a->sha256_cache_entries = (size_t) raw->sha256_cache_entries;
        a->cgroup = raw->cgroup;
        a->cgroup_nested = raw->cgroup_nested;
        a->skip_pid_check = raw->skip_pid_check;
        c->n_threads = (unsigned) raw->threads;
        c->max_conns_per_uid = (unsigned) raw->max_conns_per_uid;
}

int workload_config_parse(json_t *obj, WorkloadServiceConfig *ret, SigilErr *reterr) {
        _cleanup_(raw_config_done) RawConfig raw = {
                .names = UNIX_NAMES_NSS,
                .cgroup = true,
        };
        int r;

        if (obj) {
                r = sigil_config_apply(workload_items, obj, "workload_api", &raw, reterr);
                if (r < 0)
                        return r;
        }
        r = check_raw(&raw, reterr);
        if (r < 0)
                return r;
        raw_config_to(&raw, ret);
        return 0;
}

void workload_config_done(WorkloadServiceConfig *c) {
        free(c->proc_root);
        free(c->names_root);
        *c = (WorkloadServiceConfig) {};
}
