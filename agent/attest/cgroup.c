/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup-based workload attestors: which container, Kubernetes pod and
 * systemd unit a process is in, from its /proc/<pid>/cgroup alone. Pure: the
 * caller reads and parses the file (proc-parse.c); fuzzed with it.
 *
 * A process cannot leave its cgroup for one it has no write access to, so a
 * cgroup path is as trustworthy as the hands that created each component. The
 * runtimes and systemd create the layouts recognised here, from the root
 * down: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, and systemd slice chains
 * (every "a-b.slice" directly inside "a.slice") ending in a unit. Below a
 * unit, systemd may delegate the subtree to the unit's own processes (user
 * managers, Delegate=yes services, containers), which can then create any
 * name they like. So each layout is matched from its anchor only, and
 * anything below the first unit (or container) is ignored - never searched
 * for something that looks like an ID. The one exception is the user manager
 * (user@UID.service): its units become systemd:user_unit, a selector that
 * says what the user chose and is documented as such.
 *
 * When /proc/<pid>/cgroup has several lines (cgroup v1, or hybrid), the
 * container comes from the v1 lines if any of them is below the root, else
 * from the v2 line; every line that names a container must name the same
 * one. The systemd unit comes from the lines systemd tracks processes in (v2
 * and name=systemd); on hybrid hosts those may still show the daemon that
 * spawned a container (containerd.service), so when a container was found
 * the unit line must lead through that container, or no unit is reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "sigil/macro.h"

#define DELETED_SUFFIX " (deleted)"

typedef struct Comp {
        const char *p;
        size_t n;
} Comp;

static const CgroupOptions default_options = {};

static const char *const runtime_names[_CGROUP_RUNTIME_MAX] = {
        [CGROUP_RUNTIME_DOCKER] = "docker",
        [CGROUP_RUNTIME_CONTAINERD] = "containerd",
        [CGROUP_RUNTIME_CRIO] = "crio",
        [CGROUP_RUNTIME_PODMAN] = "podman",
};

/* Unit-name prefixes of container scopes ("<prefix><64 hex>.scope"). */
static const struct {
        const char *prefix;
        CgroupRuntime runtime;
} scope_prefixes[] = {
        { "docker-", CGROUP_RUNTIME_DOCKER },
        { "cri-containerd-", CGROUP_RUNTIME_CONTAINERD },
        { "crio-", CGROUP_RUNTIME_CRIO },
        { "libpod-", CGROUP_RUNTIME_PODMAN },
};

/* The runtime token of containerd's "<pod slice>:<runtime>:<id>" cgroupfs names. */
static const struct {
        const char *token;
        CgroupRuntime runtime;
} colon_runtimes[] = {
        { "cri-containerd", CGROUP_RUNTIME_CONTAINERD },
        { "docker", CGROUP_RUNTIME_DOCKER },
        { "crio", CGROUP_RUNTIME_CRIO },
};

const char *cgroup_runtime_to_string(CgroupRuntime rt) {
        if (rt < 0 || rt >= _CGROUP_RUNTIME_MAX)
                return NULL;
        return runtime_names[rt];
}

static bool comp_eq(Comp c, const char *s) {
        return c.n == strlen(s) && memcmp(c.p, s, c.n) == 0;
}

static bool comp_has_prefix(Comp c, const char *s) {
        size_t k = strlen(s);

        return c.n >= k && memcmp(c.p, s, k) == 0;
}

static bool comp_has_suffix(Comp c, const char *s) {
        size_t k = strlen(s);

        return c.n >= k && memcmp(c.p + c.n - k, s, k) == 0;
}

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_hex64(const char *p, size_t n) {
        if (n != CGROUP_CONTAINER_ID_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_hex(p[i]))
                        return false;
        return true;
}

/* A pod UID 8-4-4-4-12 with @sep between the groups, written out with '-'. */
static bool parse_uuid(const char *p, size_t n, char sep, char ret[CGROUP_POD_UID_LEN + 1]) {
        if (n != CGROUP_POD_UID_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? p[i] != sep : !is_lower_hex(p[i]))
                        return false;
                ret[i] = dash ? '-' : p[i];
        }
        ret[n] = '\0';
        return true;
}

static void set_container(CgroupInfo *info, CgroupRuntime rt, const char *id) {
        info->runtime = rt;
        memcpy(info->container_id, id, CGROUP_CONTAINER_ID_LEN);
        info->container_id[CGROUP_CONTAINER_ID_LEN] = '\0';
}

/* "<runtime prefix><64 hex>.scope": a container scope of the systemd cgroup driver. */
static bool parse_container_scope(Comp c, CgroupRuntime *ret_rt, const char **ret_id) {
        if (!comp_has_suffix(c, ".scope"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(scope_prefixes); i++) {
                size_t k = strlen(scope_prefixes[i].prefix);

                if (!comp_has_prefix(c, scope_prefixes[i].prefix) ||
                    !is_hex64(c.p + k, c.n - k - strlen(".scope")))
                        continue;
                *ret_rt = scope_prefixes[i].runtime;
                *ret_id = c.p + k;
                return true;
        }
        return false;
}

static bool is_unit_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
}

/* A systemd unit name with @suffix (".slice", ".service", ".scope"). */
static bool is_unit(Comp c, const char *suffix) {
        size_t k = strlen(suffix);
        const char *at;

        if (c.n <= k || c.n > CGROUP_UNIT_NAME_MAX || !comp_has_suffix(c, suffix))
                return false;
        for (size_t i = 0; i < c.n; i++)
                if (!is_unit_char(c.p[i]))
                        return false;
        at = memchr(c.p, '@', c.n);
        return !at || (at != c.p && !memchr(at + 1, '@', c.n - (size_t) (at + 1 - c.p)));
}

static bool is_process_unit(Comp c) {
        return is_unit(c, ".service") || is_unit(c, ".scope");
}

/*
 * Slice "N.slice" fits in its parent "P.slice" when N is P, '-', and one more
 * dash-free token. With no parent: at the root N has no '-'; at the start of
 * a relative path (cgroup namespace) the parent is unknown and anything goes.
 */
static bool slice_fits(Comp slice, const Comp *parent, bool relative_start) {
        size_t n = slice.n - strlen(".slice");
        const char *dash = memrchr(slice.p, '-', n);

        if (!parent)
                return relative_start || !dash;
        if (!dash)
                return false;
        return (size_t) (dash - slice.p) == parent->n - strlen(".slice") &&
               memcmp(slice.p, parent->p, (size_t) (dash - slice.p)) == 0 && dash + 1 < slice.p + n;
}

/* Does the dash-separated name @p (length @n) end with the token sequence @tail? */
static bool ends_with_tokens(const char *p, size_t n, const char *tail) {
        size_t k = strlen(tail);

        if (n < k || memcmp(p + n - k, tail, k) != 0)
                return false;
        return n == k || p[n - k - 1] == '-';
}

/* "<P>-pod<uid with '_'>" where P is a kubepods slice or one of its QoS slices. */
static bool parse_pod_slice_name(const char *p, size_t n, char ret[CGROUP_POD_UID_LEN + 1]) {
        const char *dash = memrchr(p, '-', n);
        size_t k;

        if (!dash)
                return false;
        k = (size_t) (dash - p);
        if (!ends_with_tokens(p, k, "kubepods") && !ends_with_tokens(p, k, "kubepods-besteffort") &&
            !ends_with_tokens(p, k, "kubepods-burstable"))
                return false;
        if (n - k - 1 < 3 || memcmp(dash + 1, "pod", 3) != 0)
                return false;
        return parse_uuid(dash + 4, n - k - 4, '_', ret);
}

/* containerd's cgroupfs spelling of a systemd path: "<pod>.slice:<runtime>:<id>". */
static bool parse_colon_form(Comp c, CgroupInfo *info) {
        const char *c1 = memchr(c.p, ':', c.n), *c2;
        char uid[CGROUP_POD_UID_LEN + 1];
        Comp rt;

        if (!c1 || (size_t) (c1 - c.p) < strlen(".slice"))
                return false;
        c2 = memchr(c1 + 1, ':', c.n - (size_t) (c1 + 1 - c.p));
        if (!c2 || memcmp(c1 - strlen(".slice"), ".slice", strlen(".slice")) != 0)
                return false;
        if (!parse_pod_slice_name(c.p, (size_t) (c1 - c.p) - strlen(".slice"), uid) ||
            !is_hex64(c2 + 1, c.n - (size_t) (c2 + 1 - c.p)))
                return false;
        rt = (Comp) { c1 + 1, (size_t) (c2 - c1 - 1) };
        for (size_t i = 0; i < ELEMENTSOF(colon_runtimes); i++) {
                if (!comp_eq(rt, colon_runtimes[i].token))
                        continue;
                set_container(info, colon_runtimes[i].runtime, c2 + 1);
                memcpy(info->pod_uid, uid, sizeof(uid));
                return true;
        }
        return false;
}

static void copy_comp(char *dst, size_t n_dst, Comp c) {
        size_t k = MIN(c.n, n_dst - 1);

        memcpy(dst, c.p, k);
        dst[k] = '\0';
}

/* "user@<digits>.service": a per-user systemd manager, which owns the subtree below it. */
static bool is_user_manager(Comp c) {
        size_t k = strlen("user@"), s = strlen(".service");

        if (c.n <= k + s || !comp_has_prefix(c, "user@") || !comp_has_suffix(c, ".service"))
                return false;
        for (size_t i = k; i < c.n - s; i++)
                if (c.p[i] < '0' || c.p[i] > '9')
                        return false;
        return true;
}

/* Below user@UID.service: the user's slices from their own root, then the user unit. */
static void walk_user_manager(const Comp *c, size_t n, CgroupInfo *info) {
        const Comp *parent = NULL;

        for (size_t i = 0; i < n; i++) {
                if (is_unit(c[i], ".slice")) {
                        if (!slice_fits(c[i], parent, false))
                                return;
                        parent = &c[i];
                        continue;
                }
                if (is_process_unit(c[i]))
                        copy_comp(info->user_unit, sizeof(info->user_unit), c[i]);
                return;
        }
}

static void classify_components(const Comp *c, size_t n, bool relative, const CgroupOptions *opts,
                                CgroupInfo *info);

/*
 * An outer Docker container holding a whole Kubernetes node (kind): with
 * opts->nested, the inner pod container replaces the outer one.
 */
static void maybe_nested(const Comp *rest, size_t n, const CgroupOptions *opts, CgroupInfo *info) {
        CgroupInfo inner = {};

        if (!opts->nested || n == 0 || info->runtime != CGROUP_RUNTIME_DOCKER)
                return;
        classify_components(rest, n, false, &(const CgroupOptions) { .nested = false }, &inner);
        if (inner.container_id[0] == '\0' || inner.pod_uid[0] == '\0')
                return;
        set_container(info, inner.runtime, inner.container_id);
        memcpy(info->pod_uid, inner.pod_uid, sizeof(info->pod_uid));
}

/* The systemd driver's layouts: a slice chain, then the first unit. */
static void walk_systemd(const Comp *c, size_t n, bool relative, const CgroupOptions *opts,
                         CgroupInfo *info) {
        char pod[CGROUP_POD_UID_LEN + 1] = "", uid[CGROUP_POD_UID_LEN + 1];
        const Comp *parent = NULL;
        CgroupRuntime rt;
        const char *id;

        for (size_t i = 0; i < n; i++) {
                if (is_unit(c[i], ".slice")) {
                        if (!slice_fits(c[i], parent, relative && i == 0))
                                return;
                        /* a pod slice holds containers only, no further slices */
                        if (pod[0] != '\0')
                                return;
                        if (parse_pod_slice_name(c[i].p, c[i].n - strlen(".slice"), uid))
                                memcpy(pod, uid, sizeof(pod));
                        parent = &c[i];
                        continue;
                }
                if (i == 0 && parse_colon_form(c[i], info))
                        return;
                if (!is_process_unit(c[i]))
                        return;
                copy_comp(info->unit, sizeof(info->unit), c[i]);
                if (parse_container_scope(c[i], &rt, &id)) {
                        set_container(info, rt, id);
                        memcpy(info->pod_uid, pod, sizeof(pod));
                        maybe_nested(c + i + 1, n - i - 1, opts, info);
                } else if (is_user_manager(c[i]))
                        walk_user_manager(c + i + 1, n - i - 1, info);
                return;
        }
}

/* A container directory of the cgroupfs driver: the bare ID, or "crio-<id>". */
static bool parse_cgroupfs_container(Comp c, CgroupInfo *info) {
        if (is_hex64(c.p, c.n)) {
                set_container(info, CGROUP_RUNTIME_UNKNOWN, c.p);
                return true;
        }
        if (comp_has_prefix(c, "crio-") && is_hex64(c.p + 5, c.n - 5)) {
                set_container(info, CGROUP_RUNTIME_CRIO, c.p + 5);
                return true;
        }
        return false;
}

/* "kubepods[/burstable|/besteffort]/pod<uid>/<container>" of the cgroupfs driver. */
static void walk_kubepods(const Comp *c, size_t n, bool relative, CgroupInfo *info) {
        char uid[CGROUP_POD_UID_LEN + 1];
        size_t i = 0;

        if (n > 0 && comp_eq(c[0], "kubepods"))
                i++;
        else if (!relative)
                return;
        if (i < n && (comp_eq(c[i], "burstable") || comp_eq(c[i], "besteffort")))
                i++;
        if (i < n && comp_has_prefix(c[i], "pod") && parse_uuid(c[i].p + 3, c[i].n - 3, '-', uid)) {
                i++;
        } else {
                /* relative and right after "..": a sibling container of the reader's */
                if (relative && i == 0 && n > 0)
                        (void) parse_cgroupfs_container(c[0], info);
                return;
        }
        if (i < n && parse_cgroupfs_container(c[i], info))
                memcpy(info->pod_uid, uid, sizeof(uid));
}

static void walk_cgroupfs(const Comp *c, size_t n, bool relative, const CgroupOptions *opts,
                          CgroupInfo *info) {
        if (n >= 2 && comp_eq(c[0], "docker") && is_hex64(c[1].p, c[1].n)) {
                set_container(info, CGROUP_RUNTIME_DOCKER, c[1].p);
                maybe_nested(c + 2, n - 2, opts, info);
                return;
        }
        walk_kubepods(c, n, relative, info);
}

static void classify_components(const Comp *c, size_t n, bool relative, const CgroupOptions *opts,
                                CgroupInfo *info) {
        walk_systemd(c, n, relative, opts, info);
        if (info->container_id[0] == '\0')
                walk_cgroupfs(c, n, relative, opts, info);
}

/*
 * Split "/a/b/c" into components. No empty ones (so no "//" or trailing '/'),
 * no ".", and ".." only as a leading run (a path outside the reader's cgroup
 * namespace); "/" has none. Return the number of leading "..".
 */
static int split_path(const char *path, Comp *comps, size_t *ret_n, size_t *ret_up) {
        size_t n = 0, up = 0, len = strlen(path);
        const char *p = path + 1;

        if (path[0] != '/' || len > PROC_CGROUP_PATH_MAX)
                return PROC_E_MALFORMED;
        while (len > 1 && p < path + len) {
                const char *slash = memchr(p, '/', (size_t) (path + len - p));
                Comp c = { p, slash ? (size_t) (slash - p) : (size_t) (path + len - p) };

                if (c.n == 0 || comp_eq(c, ".") || n >= CGROUP_PATH_COMPONENTS_MAX)
                        return PROC_E_MALFORMED;
                if (comp_eq(c, "..")) {
                        if (up != n)
                                return PROC_E_MALFORMED;
                        up++;
                }
                comps[n++] = c;
                if (!slash)
                        break;
                p = slash + 1;
                if (p == path + len)
                        return PROC_E_MALFORMED;
        }
        *ret_n = n;
        *ret_up = up;
        return 0;
}

int cgroup_path_classify(const char *path, const CgroupOptions *opts, CgroupInfo *ret) {
        _cleanup_(freep) Comp *comps = NULL;
        CgroupInfo info = {};
        size_t n, up, len;
        int r;

        if (!opts)
                opts = &default_options;
        comps = new0(Comp, CGROUP_PATH_COMPONENTS_MAX);
        if (!comps)
                return -ENOMEM;
        r = split_path(path, comps, &n, &up);
        if (r != 0)
                return r;

        /* cgroup v2 marks the cgroup of an exiting process that was removed: nothing to say */
        len = strlen(path);
        if (len < strlen(DELETED_SUFFIX) ||
            strcmp(path + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX) != 0)
                classify_components(comps + up, n - up, up > 0, opts, &info);
        *ret = info;
        return 0;
}

static bool same_container(const CgroupInfo *a, const CgroupInfo *b) {
        return a->runtime == b->runtime && streq(a->container_id, b->container_id) &&
               streq(a->pod_uid, b->pod_uid);
}

static bool same_units(const CgroupInfo *a, const CgroupInfo *b) {
        return streq(a->unit, b->unit) && streq(a->user_unit, b->user_unit);
}

/* The container the lines agree on (or none); false when they disagree. */
static bool pick_container(const ProcCgroup *cg, const CgroupInfo *infos, const CgroupInfo **ret) {
        bool use_v1 = false;

        *ret = NULL;
        for (size_t i = 0; i < cg->n_lines; i++)
                if (cg->lines[i].hierarchy != 0 && !streq(cg->lines[i].path, "/"))
                        use_v1 = true;
        for (size_t i = 0; i < cg->n_lines; i++) {
                if ((cg->lines[i].hierarchy != 0) != use_v1 || infos[i].container_id[0] == '\0')
                        continue;
                if (*ret && !same_container(*ret, &infos[i])) {
                        *ret = NULL;
                        return false;
                }
                if (!*ret)
                        *ret = &infos[i];
        }
        return true;
}

static bool is_unit_line(const ProcCgroupLine *l, const CgroupInfo *info) {
        return (l->hierarchy == 0 || streq(l->controllers, "name=systemd")) &&
               info->unit[0] != '\0';
}

/* The units the systemd-tracking lines agree on (or none); false when they disagree. */
static bool pick_units(const ProcCgroup *cg, const CgroupInfo *infos, const CgroupInfo *container,
                       const CgroupInfo **ret) {
        *ret = NULL;

        /* a daemon's unit (hybrid hosts) is not the unit of the container it spawned */
        for (size_t i = 0; container && i < cg->n_lines; i++)
                if (is_unit_line(&cg->lines[i], &infos[i]) &&
                    !same_container(container, &infos[i]))
                        return true;

        for (size_t i = 0; i < cg->n_lines; i++) {
                if (!is_unit_line(&cg->lines[i], &infos[i]))
                        continue;
                if (*ret && !same_units(*ret, &infos[i])) {
                        *ret = NULL;
                        return false;
                }
                if (!*ret)
                        *ret = &infos[i];
        }
        return true;
}

static int add(SigilSelectorSet *set, const char *type, const char *key, const char *value,
               SigilErr *reterr) {
        char v[SIGIL_SELECTOR_VALUE_MAX + 1];

        if ((size_t) snprintf(v, sizeof(v), "%s:%s", key, value) >= sizeof(v))
                return sigil_err_set(reterr, -EINVAL, "selector value too long");
        return sigil_selector_set_add(set, type, v, reterr);
}

static int add_selectors(const CgroupInfo *container, const CgroupInfo *units,
                         SigilSelectorSet *set, SigilErr *reterr) {
        const char *rt;
        int r = 0;

        if (container) {
                r = add(set, "container", "id", container->container_id, reterr);
                rt = cgroup_runtime_to_string(container->runtime);
                if (r == 0 && rt)
                        r = add(set, rt, "id", container->container_id, reterr);
                if (r == 0 && container->pod_uid[0] != '\0')
                        r = add(set, "k8s", "pod-uid", container->pod_uid, reterr);
        }
        if (r == 0 && units)
                r = add(set, "systemd", "unit", units->unit, reterr);
        if (r == 0 && units && units->user_unit[0] != '\0')
                r = add(set, "systemd", "user_unit", units->user_unit, reterr);
        return r;
}

int cgroup_attest(const ProcCgroup *cg, const CgroupOptions *opts, SigilSelectorSet *set,
                  bool *ret_conflict, SigilErr *reterr) {
        _cleanup_(freep) CgroupInfo *infos = NULL;
        const CgroupInfo *container, *units;
        bool ok_container, ok_units;
        int r;

        infos = new0(CgroupInfo, cg->n_lines);
        if (!infos)
                return -ENOMEM;
        for (size_t i = 0; i < cg->n_lines; i++) {
                r = cgroup_path_classify(cg->lines[i].path, opts, &infos[i]);
                if (r != 0)
                        return r == PROC_E_MALFORMED
                                       ? sigil_err_set(reterr, r,
                                                       "cgroup hierarchy %u: malformed path",
                                                       cg->lines[i].hierarchy)
                                       : r;
        }
        ok_container = pick_container(cg, infos, &container);
        ok_units = pick_units(cg, infos, container, &units);
        if (ret_conflict)
                *ret_conflict = !ok_container || !ok_units;
        return add_selectors(container, units, set, reterr);
}
