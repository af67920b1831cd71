/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the parsers of what the workload attestors read (agent/proc-parse.c,
 * agent/attest/cgroup.c, agent/attest/unix-names.c): /proc/<pid>/status,
 * stat, cgroup, a pidfd's fdinfo, cgroup paths, passwd/group text. Every
 * input goes through all of them. Beyond "no crash", what is accepted must
 * hold the invariants the attestors rely on: a parsed cgroup file prints
 * back to exactly the input, IDs are in range, container IDs are 64 hex
 * digits, pod UIDs are canonical, units end in .service or .scope, and the
 * selectors built are valid.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/cgroup.h"
#include "attest/unix-names.h"
#include "fuzz.h"
#include "proc-parse.h"
#include "sigil/selector.h"

#define FUZZ_INPUT_MAX (64 * 1024)

#define CHECK(x)                                                                     \
        do {                                                                         \
                if (!(x)) {                                                          \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,   \
                                __LINE__, #x);                                       \
                        abort();                                                     \
                }                                                                    \
        } while (0)

static bool all_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0')
                        return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void check_info(const CgroupInfo *info) {
        if (info->container_id[0] != '\0') {
                CHECK(strlen(info->container_id) == CGROUP_CONTAINER_ID_LEN);
                CHECK(all_hex(info->container_id, CGROUP_CONTAINER_ID_LEN));
                CHECK(info->runtime != CGROUP_RUNTIME_NONE);
        } else {
                CHECK(info->runtime == CGROUP_RUNTIME_NONE);
                CHECK(info->pod_uid[0] == '\0');
        }
        if (info->pod_uid[0] != '\0') {
                CHECK(strlen(info->pod_uid) == CGROUP_POD_UID_LEN);
                for (size_t i = 0; i < CGROUP_POD_UID_LEN; i++)
                        CHECK((i == 8 || i == 13 || i == 18 || i == 23)
                                      ? info->pod_uid[i] == '-'
                                      : all_hex(&info->pod_uid[i], 1));
        }
        if (info->unit[0] != '\0')
                CHECK(ends_with(info->unit, ".service") || ends_with(info->unit, ".scope"));
        if (info->user_unit[0] != '\0') {
                CHECK(strncmp(info->unit, "user@", 5) == 0);
                CHECK(ends_with(info->user_unit, ".service") ||
                      ends_with(info->user_unit, ".scope"));
        }
}

static void fuzz_status(const char *data, size_t size) {
        ProcStatus st = {};

        if (proc_status_parse(data, size, &st, NULL) != 0)
                return;
        CHECK(st.pid >= 1 && st.pid <= PROC_PID_MAX);
        CHECK(st.ppid >= 0 && st.ppid <= PROC_PID_MAX);
        CHECK(st.n_groups <= PROC_GROUPS_MAX && (st.n_groups == 0) == (st.groups == NULL));
        for (size_t i = 0; i < 4; i++)
                CHECK(st.uid[i] != (uid_t) -1 && st.gid[i] != (gid_t) -1);
        CHECK(strchr("RSDZTtXxKWIP", st.state) && st.state != '\0');
        proc_status_done(&st);
}

static void fuzz_stat(const char *data, size_t size) {
        ProcStat st;

        if (proc_stat_parse(data, size, &st, NULL) != 0)
                return;
        CHECK(st.pid >= 1 && st.pid <= PROC_PID_MAX);
        CHECK(st.ppid >= 0 && st.ppid <= PROC_PID_MAX);
}

/* An accepted cgroup file prints back to itself, byte for byte. */
static void check_cgroup_roundtrip(const ProcCgroup *cg, const char *data, size_t size) {
        size_t off = 0;

        CHECK(cg->n_lines >= 1 && cg->n_lines <= PROC_CGROUP_LINES_MAX);
        for (size_t i = 0; i < cg->n_lines; i++) {
                const ProcCgroupLine *l = &cg->lines[i];
                char head[32];
                int k = snprintf(head, sizeof(head), "%u:", l->hierarchy);
                size_t nc = strlen(l->controllers), np = strlen(l->path);

                CHECK(l->path[0] == '/');
                CHECK((l->hierarchy == 0) == (nc == 0));
                for (size_t j = 0; j < i; j++)
                        CHECK(cg->lines[j].hierarchy != l->hierarchy);
                CHECK(off + (size_t) k + nc + 1 + np + 1 <= size);
                CHECK(memcmp(data + off, head, (size_t) k) == 0);
                off += (size_t) k;
                CHECK(memcmp(data + off, l->controllers, nc) == 0 && data[off + nc] == ':');
                off += nc + 1;
                CHECK(memcmp(data + off, l->path, np) == 0 && data[off + np] == '\n');
                off += np + 1;
        }
        CHECK(off == size);
}

static void fuzz_cgroup(const char *data, size_t size) {
        SigilSelectorSet set = { NULL, 0 };
        ProcCgroup cg = {};
        bool conflict = false;

        if (proc_cgroup_parse(data, size, &cg, NULL) != 0)
                return;
        check_cgroup_roundtrip(&cg, data, size);
        for (size_t i = 0; i < cg.n_lines; i++) {
                CgroupInfo info;

                if (cgroup_path_classify(cg.lines[i].path, NULL, &info) == 0)
                        check_info(&info);
                if (cgroup_path_classify(cg.lines[i].path,
                                         &(const CgroupOptions) { .nested = true }, &info) == 0)
                        check_info(&info);
        }
        if (cgroup_attest(&cg, NULL, &set, &conflict, NULL) == 0)
                for (size_t i = 0; i < set.n_items; i++)
                        CHECK(sigil_selector_set_contains(&set, set.items[i].type,
                                                          set.items[i].value));
        sigil_selector_set_done(&set);
        proc_cgroup_done(&cg);
}

/* The whole input as one cgroup path, with and without nesting. */
static void fuzz_path(const char *text) {
        CgroupInfo info;

        if (cgroup_path_classify(text, NULL, &info) == 0)
                check_info(&info);
        if (cgroup_path_classify(text, &(const CgroupOptions) { .nested = true }, &info) == 0)
                check_info(&info);
}

static void fuzz_fdinfo(const char *data, size_t size) {
        pid_t pid;

        if (proc_fdinfo_parse_pid(data, size, &pid, NULL) == 0)
                CHECK(pid >= -1 && pid <= PROC_PID_MAX);
}

static void fuzz_names(const char *data, size_t size) {
        static const uint32_t ids[] = { 0, 1, 1000, 65534, 4294967294u };

        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                char *name = NULL;

                if (unix_names_parse_db(data, size, ids[i], &name) != 0)
                        continue;
                CHECK(name && name[0] != '\0' && !strchr(name, ':') && !strchr(name, '\n'));
                free(name);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data;
        char *text;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        fuzz_status(p, size);
        fuzz_stat(p, size);
        fuzz_cgroup(p, size);
        fuzz_fdinfo(p, size);
        fuzz_names(p, size);
        fuzz_path(text);
        free(text);
        return 0;
}
