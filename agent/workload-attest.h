/* SPDX-License-Identifier: Apache-2.0 */
/* workload-attest.h - attest a Workload API peer into selectors (unix, cgroup attestors) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "attest/unix-names.h"
#include "rpc-server.h"
#include "sigil/selector.h"

#define WORKLOAD_PROC_ROOT_DEFAULT "/proc"
#define WORKLOAD_GROUPS_MAX_DEFAULT 128u        /* supplementary groups attested */
#define WORKLOAD_GROUPS_MAX 200u                /* 2 selectors each must fit a selector set */

typedef struct WorkloadAttestor WorkloadAttestor;
typedef struct WorkloadAttestConfig WorkloadAttestConfig;

/*
 * Conditions that cost the workload a selector but not its attestation.
 * workload_attest() logs each (rate-limited) and reports them as a bit mask.
 */
typedef enum WorkloadWarning {
        WORKLOAD_WARN_EXE_DELETED = 1u << 0,        /* exe " (deleted)": no unix:path */
        WORKLOAD_WARN_EXE_OTHER_MNTNS = 1u << 1,    /* another mount namespace: no unix:path */
        WORKLOAD_WARN_EXE_PATH_INVALID = 1u << 2,   /* too long or not UTF-8: no unix:path */
        WORKLOAD_WARN_EXE_TOO_LARGE = 1u << 3,      /* over the size cap: no unix:sha256 */
        WORKLOAD_WARN_EXE_UNREADABLE = 1u << 4,     /* exe unreadable or changing: no path/sha256 */
        WORKLOAD_WARN_GROUPS_TRUNCATED = 1u << 5,   /* more groups than groups_max */
        WORKLOAD_WARN_NAME_INVALID = 1u << 6,       /* a user/group name is not a valid selector */
        WORKLOAD_WARN_CGROUP_CONFLICT = 1u << 7,    /* cgroup lines disagree: no container/unit */
        _WORKLOAD_WARN_ALL = (1u << 8) - 1,
} WorkloadWarning;

enum {
        _WORKLOAD_ATTEST_E_SUCCESS,
        WORKLOAD_ATTEST_E_GONE,         /* the peer exited, is a zombie, or its PID was reused */
        WORKLOAD_ATTEST_E_UNTRUSTED,    /* no pidfd, PID not visible, or /proc contradicts
                                           the socket credentials */
        WORKLOAD_ATTEST_E_MALFORMED,    /* a /proc file is not what the kernel prints */
        _WORKLOAD_ATTEST_E_MAX,
};

struct WorkloadAttestConfig {
        const char *proc_root;          /* NULL: WORKLOAD_PROC_ROOT_DEFAULT */
        UnixNamesSource names;          /* default UNIX_NAMES_NSS */
        const char *names_root;         /* UNIX_NAMES_FILES: <names_root>/etc/{passwd,group} */
        unsigned groups_max;            /* 0: WORKLOAD_GROUPS_MAX_DEFAULT */

        bool unix_path;                 /* opt-in: unix:path (readlink /proc/<pid>/exe) */
        bool unix_sha256;               /* opt-in: unix:sha256 of the executable */
        bool unix_path_any_mntns;       /* also unix:path for another mount namespace */
        uint64_t sha256_size_max;       /* bytes; 0: EXE_HASH_SIZE_MAX_DEFAULT */
        size_t sha256_cache_entries;    /* 0: EXE_HASH_CACHE_ENTRIES_DEFAULT */

        bool cgroup;                    /* container:, docker:, k8s:pod-uid, systemd: selectors */
        bool cgroup_nested;             /* Kubernetes nested in a Docker container (kind) */

        /*
         * Fixture trees only: skip the pidfd liveness checks. Refused when
         * proc_root is a procfs mount.
         */
        bool skip_pid_check;
        /* Tests only: called after everything is read, before the final liveness check. */
        void (*test_before_verify)(void *userdata);
        void *test_userdata;
};

/**
 * workload_attest_config_init() - the defaults: /proc, NSS names, cgroup attestors on,
 * unix:path and unix:sha256 off, pid checks on
 * @cfg:        the config to fill
 */
void workload_attest_config_init(WorkloadAttestConfig *cfg);

/**
 * workload_attestor_new() - an attestor for @cfg (copied; strings too)
 * @cfg:        the configuration
 * @ret:        on success, the attestor; free with workload_attestor_free()
 * @reterr:     on failure, the reason; may be NULL
 *
 * The attestor holds the unix:sha256 cache, so the agent keeps one for its
 * lifetime and shares it between threads.
 *
 * Return: 0, -EINVAL (bad config, e.g. skip_pid_check on the real /proc) or negative errno.
 */
int workload_attestor_new(const WorkloadAttestConfig *cfg, WorkloadAttestor **ret,
                          SigilErr *reterr);
WorkloadAttestor *workload_attestor_free(WorkloadAttestor *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(WorkloadAttestor *, workload_attestor_free)

/**
 * workload_attest() - the selectors of the process behind a Workload API connection
 * @a:          the attestor
 * @cred:       the peer's credentials from accept time (pid, uid, gid, pidfd)
 * @ret:        on success, the selectors (overwritten, not merged into; the
 *              caller releases them with sigil_selector_set_done())
 * @ret_warnings: on success, the WORKLOAD_WARN_* bits that applied; may be NULL
 * @reterr:     on failure, the reason; may be NULL
 *
 * Reads /proc/<pid> through a directory fd, then checks with the pidfd that
 * the process is still the one that connected and has not exited; only then
 * are the selectors returned. The effective uid and gid in /proc must equal
 * the socket's.
 *
 * Return: 0, WORKLOAD_ATTEST_E_GONE, WORKLOAD_ATTEST_E_UNTRUSTED,
 * WORKLOAD_ATTEST_E_MALFORMED, or negative errno.
 */
int workload_attest(WorkloadAttestor *a, const RpcPeerCred *cred, SigilSelectorSet *ret,
                    unsigned *ret_warnings, SigilErr *reterr);

/**
 * workload_attest_callback() - workload_attest() for callers that take negative errno only
 * @userdata:   the WorkloadAttestor
 * @cred:       the peer's credentials
 * @ret:        on success, the selectors
 * @reterr:     on failure, the reason; may be NULL
 *
 * Has the shape of WorkloadApiConfig.attest (agent/workload-api.h): the
 * WORKLOAD_ATTEST_E_* conditions are handled here and become -ESRCH (gone),
 * -EPERM (untrusted) and -EBADMSG (malformed), so a caller testing for r < 0
 * never mistakes one for success.
 *
 * Return: 0, -ESRCH, -EPERM, -EBADMSG or another negative errno.
 */
int workload_attest_callback(void *userdata, const RpcPeerCred *cred, SigilSelectorSet *ret,
                             SigilErr *reterr);

/* A short text for one WORKLOAD_WARN_* bit, or NULL. */
const char *workload_warning_to_string(WorkloadWarning w);

/* sha256 cache counters (tests, metrics). */
void workload_attestor_hash_stats(WorkloadAttestor *a, uint64_t *ret_hashed, uint64_t *ret_hits);
