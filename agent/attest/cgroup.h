/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.h - the cgroup-based workload attestors: containers, Kubernetes pods, systemd units */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "proc-parse.h"
#include "sigil/selector.h"

#define CGROUP_CONTAINER_ID_LEN 64
#define CGROUP_POD_UID_LEN 36
#define CGROUP_UNIT_NAME_MAX 255                /* systemd's UNIT_NAME_MAX minus the NUL */
#define CGROUP_PATH_COMPONENTS_MAX 256

typedef struct CgroupInfo CgroupInfo;
typedef struct CgroupOptions CgroupOptions;

typedef enum CgroupRuntime {
        CGROUP_RUNTIME_NONE,            /* not in a container */
        CGROUP_RUNTIME_UNKNOWN,         /* a container, but the path does not name its runtime */
        CGROUP_RUNTIME_DOCKER,
        CGROUP_RUNTIME_CONTAINERD,
        CGROUP_RUNTIME_CRIO,
        CGROUP_RUNTIME_PODMAN,
        _CGROUP_RUNTIME_MAX,
        _CGROUP_RUNTIME_INVALID = -EINVAL,
} CgroupRuntime;

/* What one cgroup path says about the process in it. Empty strings: not known. */
struct CgroupInfo {
        CgroupRuntime runtime;
        char container_id[CGROUP_CONTAINER_ID_LEN + 1];
        char pod_uid[CGROUP_POD_UID_LEN + 1];           /* canonical 8-4-4-4-12, lowercase */
        char unit[CGROUP_UNIT_NAME_MAX + 1];            /* system unit (.service or .scope) */
        char user_unit[CGROUP_UNIT_NAME_MAX + 1];       /* unit of a user@UID.service manager */
};

struct CgroupOptions {
        /*
         * Accept a Kubernetes layout nested inside a Docker container
         * (/docker/<node>/kubepods/...: kind nodes on cgroup v1 hosts) and
         * attest the inner pod container. Off by default: the inner layout
         * is then written by whoever is root in the outer container.
         */
        bool nested;
};

/**
 * cgroup_runtime_to_string() - the selector type of a runtime ("docker", "containerd", ...)
 * @rt:         runtime
 *
 * Return: the name, or NULL for CGROUP_RUNTIME_NONE and CGROUP_RUNTIME_UNKNOWN.
 */
const char *cgroup_runtime_to_string(CgroupRuntime rt);

/**
 * cgroup_path_classify() - what a cgroup path (as /proc/<pid>/cgroup prints it) says
 * @path:       the path, untrusted
 * @opts:       options; NULL for the defaults
 * @ret:        on success, the container, pod and units found (each may be empty)
 *
 * Only layouts anchored where the runtime or systemd put them are recognised:
 * a name that merely looks like a container somewhere below a cgroup the
 * workload may write (a delegated subtree) is ignored. A leading run of ".."
 * (the reader is in a cgroup namespace) anchors the rest at an ancestor of the
 * reader's own cgroup.
 *
 * Return: 0, or PROC_E_MALFORMED when the path is not a well formed cgroup path.
 */
int cgroup_path_classify(const char *path, const CgroupOptions *opts, CgroupInfo *ret);

/**
 * cgroup_attest() - add the cgroup-based selectors of a process to @set
 * @cg:         its parsed /proc/<pid>/cgroup
 * @opts:       options; NULL for the defaults
 * @set:        selectors are added here
 * @ret_conflict: set to true when the lines disagree about the container (no
 *              container selectors are added then); may be NULL
 * @reterr:     on failure, the reason; may be NULL
 *
 * Selectors: container:id, <runtime>:id, k8s:pod-uid, systemd:unit,
 * systemd:user_unit (docs/workload-attestors.md). Nothing is added for a
 * process in no recognised layout.
 *
 * Return: 0, PROC_E_MALFORMED, -E2BIG (set full) or -ENOMEM.
 */
int cgroup_attest(const ProcCgroup *cg, const CgroupOptions *opts, SigilSelectorSet *set,
                  bool *ret_conflict, SigilErr *reterr);
