/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parsers of the workload attestors: /proc/<pid>/status, stat,
 * cgroup, pidfd fdinfo (agent/proc-parse.c), cgroup path layouts and their
 * selectors (agent/attest/cgroup.c), passwd/group text
 * (agent/attest/unix-names.c). Table-driven from fixture strings.
 */
#include "test-util.h"

#include <errno.h>

#include "attest/cgroup.h"
#include "attest/unix-names.h"
#include "proc-parse.h"

#define ID_A "f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2"
#define ID_B "0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d"
#define POD "2c48913c-b29f-11e7-9350-020968147796"
#define POD_ "2c48913c_b29f_11e7_9350_020968147796"
#define POD2_ "5d3f0a1e_0000_4c1a_9aaa_0123456789ab"

#define STATUS_HEAD "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4321\nNgid:\t0\n" \
                    "Pid:\t4321\nPPid:\t4000\nTracerPid:\t0\n"
#define STATUS_IDS "Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nFDSize:\t256\n"
#define STATUS_TAIL "NStgid:\t4321\nNSpid:\t4321\nVmPeak:\t   10000 kB\n" \
                    "Speculation_Store_Bypass:\tthread vulnerable\nCpus_allowed_list:\t0-3\n"

/* ---- status ---- */

static void test_status_valid(void **state) {
        static const struct {
                const char *text;
                size_t n_groups;
                gid_t groups[4];
                char state;
        } cases[] = {
                { STATUS_HEAD STATUS_IDS "Groups:\t4 24 27 1000 \n" STATUS_TAIL, 4,
                  { 4, 24, 27, 1000 }, 'S' },
                { STATUS_HEAD STATUS_IDS "Groups:\t4 24\n" STATUS_TAIL, 2, { 4, 24 }, 'S' },
                { STATUS_HEAD STATUS_IDS "Groups:\t \n" STATUS_TAIL, 0, {}, 'S' },
                { STATUS_HEAD STATUS_IDS "Groups:\t\n" STATUS_TAIL, 0, {}, 'S' },
                { STATUS_HEAD STATUS_IDS "Groups:\t0\n", 1, { 0 }, 'S' },
                /* the kernel escapes comm in status; an escaped newline is just text */
                { "Name:\tevil\\nUid:\\t0\nState:\tZ (zombie)\nPid:\t4321\n" STATUS_IDS
                  "Groups:\t\n", 0, {}, 'Z' },
                { "State:\tR\nPid:\t4321\n" STATUS_IDS "Groups:\t4294967294\n", 1,
                  { 4294967294u }, 'R' },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ProcStatus st = {};
                SigilErr e = { .msg = "" };

                if (proc_status_parse(cases[i].text, strlen(cases[i].text), &st, &e) != 0)
                        fail_msg("case %zu rejected: %s", i, e.msg);
                assert_int_equal(st.pid, 4321);
                assert_int_equal(st.state, cases[i].state);
                assert_int_equal(st.uid[0], 1000);
                assert_int_equal(st.uid[1], 1001);
                assert_int_equal(st.uid[3], 1003);
                assert_int_equal(st.gid[0], 100);
                assert_int_equal(st.gid[1], 101);
                assert_int_equal(st.n_groups, cases[i].n_groups);
                for (size_t j = 0; j < cases[i].n_groups; j++)
                        assert_int_equal(st.groups[j], cases[i].groups[j]);
                proc_status_done(&st);
                assert_null(st.groups);
        }
}

static void test_status_ppid(void **state) {
        static const char text[] = STATUS_HEAD STATUS_IDS "Groups:\t\n";
        ProcStatus st = {};

        assert_int_equal(proc_status_parse(text, strlen(text), &st, NULL), 0);
        assert_int_equal(st.ppid, 4000);
        proc_status_done(&st);
}

static void test_status_invalid(void **state) {
        static const struct {
                const char *text;
                size_t n;       /* 0: strlen */
                const char *msg;
        } cases[] = {
                { "", 0, "empty" },
                { STATUS_HEAD STATUS_IDS "Groups:\t1", 0, "newline" },
                { "Name:\ta\0b\n" STATUS_HEAD STATUS_IDS "Groups:\t\n",
                  sizeof("Name:\ta\0b\n" STATUS_HEAD STATUS_IDS "Groups:\t\n") - 1, "NUL" },
                { STATUS_HEAD STATUS_IDS "Groups:\t\nUid:\t0\t0\t0\t0\n", 0, "second 'Uid:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t\nGroups:\t0\n", 0, "second 'Groups:'" },
                { STATUS_HEAD "Uid:\t1\t2\t3\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t1\t2\t3\t4\t5\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t1 2 3 4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid: 1\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t+1\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t01\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t-1\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t0x10\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD "Uid:\t4294967295\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0,
                  "'Uid:'" },
                { STATUS_HEAD "Uid:\t4294967296\t2\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0,
                  "'Uid:'" },
                { STATUS_HEAD "Uid:\t1\t\t3\t4\nGid:\t1\t1\t1\t1\nGroups:\t\n", 0, "'Uid:'" },
                { STATUS_HEAD STATUS_IDS, 0, "lacks" },
                { STATUS_HEAD "Gid:\t1\t1\t1\t1\nGroups:\t\n", 0, "lacks" },
                { STATUS_HEAD STATUS_IDS "Groups:\t1  2\n", 0, "'Groups:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t 1\n", 0, "'Groups:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t1  \n", 0, "'Groups:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t1,2\n", 0, "'Groups:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t1\t2\n", 0, "'Groups:'" },
                { STATUS_HEAD STATUS_IDS "Groups:\t\nno colon here\n", 0, "not 'Key:" },
                { STATUS_HEAD STATUS_IDS "Groups:\t\nVm Peak:\t1\n", 0, "not 'Key:" },
                { STATUS_HEAD STATUS_IDS "Groups:\t\n:\tx\n", 0, "not 'Key:" },
                { "State:\tS\nPid:\t0\n" STATUS_IDS "Groups:\t\n", 0, "'Pid:'" },
                { "State:\tS\nPid:\t4194305\n" STATUS_IDS "Groups:\t\n", 0, "'Pid:'" },
                { "State:\tS\nPid:\t12a\n" STATUS_IDS "Groups:\t\n", 0, "'Pid:'" },
                { "State:\tQ (what)\nPid:\t1\n" STATUS_IDS "Groups:\t\n", 0, "'State:'" },
                { "State:\tSS\nPid:\t1\n" STATUS_IDS "Groups:\t\n", 0, "'State:'" },
                { "State:\t\nPid:\t1\n" STATUS_IDS "Groups:\t\n", 0, "'State:'" },
                { "State:\tS\nPid:\t1\nPPid:\t-1\n" STATUS_IDS "Groups:\t\n", 0, "'PPid:'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t n = cases[i].n ? cases[i].n : strlen(cases[i].text);
                ProcStatus st = {};
                SigilErr e = { .msg = "" };

                if (proc_status_parse(cases[i].text, n, &st, &e) != PROC_E_MALFORMED)
                        fail_msg("case %zu accepted", i);
                assert_strstr(e.msg, cases[i].msg);
                assert_null(st.groups);
        }
}

/* Build a status with @n_groups groups and/or one over-long ignored line. */
static char *status_with(size_t n_groups, size_t long_line) {
        size_t cap = 1024 + n_groups * 8 + long_line;
        char *s = malloc(cap), *p;

        assert_non_null(s);
        p = s + sprintf(s, "%s%sGroups:\t", STATUS_HEAD, STATUS_IDS);
        for (size_t i = 0; i < n_groups; i++)
                p += sprintf(p, "%zu ", i % 100000);
        p += sprintf(p, "\n");
        if (long_line > 0) {
                p += sprintf(p, "Comment:\t");
                memset(p, 'x', long_line);
                p += long_line;
                *p++ = '\n';
        }
        *p = '\0';
        return s;
}

static void test_status_limits(void **state) {
        static const struct {
                size_t n_groups, long_line;
                int result;
        } cases[] = {
                { PROC_GROUPS_MAX, 0, 0 },
                { PROC_GROUPS_MAX + 1, 0, PROC_E_MALFORMED },
                { 0, PROC_STATUS_LINE_MAX - strlen("Comment:\t"), 0 },
                { 0, PROC_STATUS_LINE_MAX - strlen("Comment:\t") + 1, PROC_E_MALFORMED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *s = status_with(cases[i].n_groups, cases[i].long_line);
                ProcStatus st = {};

                assert_int_equal(proc_status_parse(s, strlen(s), &st, NULL), cases[i].result);
                if (cases[i].result == 0)
                        assert_int_equal(st.n_groups, cases[i].n_groups);
                proc_status_done(&st);
        }
}

static void test_status_too_many_lines(void **state) {
        _cleanup_(freep) char *s = malloc(PROC_STATUS_LINES_MAX * 16 + 1024);
        char *p;

        assert_non_null(s);
        p = s + sprintf(s, "%s%sGroups:\t\n", STATUS_HEAD, STATUS_IDS);
        for (size_t i = 0; i < PROC_STATUS_LINES_MAX; i++)
                p += sprintf(p, "X%zu:\t0\n", i);
        assert_int_equal(proc_status_parse(s, strlen(s), &(ProcStatus) {}, NULL),
                         PROC_E_MALFORMED);
}

/* ---- stat ---- */

#define STAT_REST " S 4000 4321 4321 34816 4321 4194304 100 0 0 0 12 3 0 0 20 0 1 0 " \
                  "987654321 10000000 500 18446744073709551615 1 1 0 0 0 0 0 3670020 " \
                  "1266777851 0 0 0 17 2 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

static void test_stat_valid(void **state) {
        static const struct {
                const char *text;
                char state;
        } cases[] = {
                { "4321 (bash)" STAT_REST, 'S' },
                { "4321 (a b) c)" STAT_REST, 'S' },
                { "4321 ()" STAT_REST, 'S' },
                { "4321 (x) S 4000 4321\n9 (y)" STAT_REST, 'S' },       /* comm with "\n" */
                { "4321 ((() ()) S)" STAT_REST, 'S' },
                { "4321 (t) Z 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 -5 1 0 987654321\n", 'Z' },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ProcStat st;
                SigilErr e = { .msg = "" };

                if (proc_stat_parse(cases[i].text, strlen(cases[i].text), &st, &e) != 0)
                        fail_msg("case %zu rejected: %s", i, e.msg);
                assert_int_equal(st.pid, 4321);
                assert_int_equal(st.ppid, 4000);
                assert_int_equal(st.state, cases[i].state);
                assert_int_equal(st.starttime, 987654321);
        }
}

static void test_stat_invalid(void **state) {
        static const char *const cases[] = {
                "",
                "4321 (bash)" " S 4000",
                "4321 bash" STAT_REST,
                "4321 (bash" STAT_REST,
                "x4321 (bash)" STAT_REST,
                "0 (bash)" STAT_REST,
                "4321(bash)" STAT_REST,
                "4321 (0123456789012345678901234567890123456789012345678901234567890123456789)"
                STAT_REST,
                "4321 (bash)S 4000\n",
                "4321 (bash)\n",
                "4321 (bash) Q 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 9\n",
                "4321 (bash) S 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0\n",
                "4321 (bash) S 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 -9\n",
                "4321 (bash) S -4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 9\n",
                "4321 (bash) S 4000 4321 4321 0 --1 4 0 0 0 0 0 0 0 0 20 0 1 0 9\n",
                "4321 (bash) S 4000 4321 4321 0 -0 4 0 0 0 0 0 0 0 0 20 0 1 0 9\n",
                "4321 (bash) S 4000  4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 9\n",
                "4321 (bash) S 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 9 \n",
                "4321 (bash) S 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 "
                "99999999999999999999\n",
                "4321 (bash) S 4000 4321 4321 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 9",
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ProcStat st;

                if (proc_stat_parse(cases[i], strlen(cases[i]), &st, NULL) != PROC_E_MALFORMED)
                        fail_msg("case %zu accepted: '%s'", i, cases[i]);
        }
        assert_int_equal(proc_stat_parse("4321 (a\0b)" STAT_REST,
                                         sizeof("4321 (a\0b)" STAT_REST) - 1, &(ProcStat) {}, NULL),
                         PROC_E_MALFORMED);
}

/* ---- cgroup file ---- */

static void test_cgroup_valid(void **state) {
        static const struct {
                const char *text;
                size_t n_lines;
                unsigned hierarchy0;
                const char *controllers0, *path0;
        } cases[] = {
                { "0::/\n", 1, 0, "", "/" },
                { "0::/system.slice/nginx.service\n", 1, 0, "", "/system.slice/nginx.service" },
                { "12:cpu,cpuacct:/docker/" ID_A "\n1:name=systemd:/docker/" ID_A "\n0::/\n", 3,
                  12, "cpu,cpuacct", "/docker/" ID_A },
                { "1:name=systemd:/kubepods-besteffort-pod" POD_ ".slice:cri-containerd:" ID_A "\n",
                  1, 1, "name=systemd",
                  "/kubepods-besteffort-pod" POD_ ".slice:cri-containerd:" ID_A },
                { "0::/system.slice/gone.service (deleted)\n", 1, 0, "",
                  "/system.slice/gone.service (deleted)" },
                { "3:net_cls,net_prio:/\n", 1, 3, "net_cls,net_prio", "/" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ProcCgroup cg = {};
                SigilErr e = { .msg = "" };

                if (proc_cgroup_parse(cases[i].text, strlen(cases[i].text), &cg, &e) != 0)
                        fail_msg("case %zu rejected: %s", i, e.msg);
                assert_int_equal(cg.n_lines, cases[i].n_lines);
                assert_int_equal(cg.lines[0].hierarchy, cases[i].hierarchy0);
                assert_string_equal(cg.lines[0].controllers, cases[i].controllers0);
                assert_string_equal(cg.lines[0].path, cases[i].path0);
                proc_cgroup_done(&cg);
                assert_null(cg.lines);
        }
}

static void test_cgroup_invalid(void **state) {
        static const struct {
                const char *text;
                const char *msg;
        } cases[] = {
                { "", "empty" },
                { "0::/", "newline" },
                { "0::/\n0::/x\n", "repeats hierarchy 0" },
                { "4:memory:/a\n4:pids:/b\n", "repeats hierarchy 4" },
                { "0:cpu:/\n", "controllers do not fit" },
                { "3::/x\n", "controllers do not fit" },
                { "1:cpu:x\n", "relative" },
                { "1:cpu:\n", "empty" },
                { "1:cpu\n", "hierarchy:controllers:path" },
                { "/docker/x\n", "hierarchy:controllers:path" },
                { "a:cpu:/\n", "hierarchy ID" },
                { "01:cpu:/\n", "hierarchy ID" },
                { "-1:cpu:/\n", "hierarchy ID" },
                { "70000:cpu:/\n", "hierarchy ID" },
                { "1:cp u:/\n", "controller list" },
                { "1:cpu:/\n\n", "hierarchy:controllers:path" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ProcCgroup cg = {};
                SigilErr e = { .msg = "" };

                if (proc_cgroup_parse(cases[i].text, strlen(cases[i].text), &cg, &e) !=
                    PROC_E_MALFORMED)
                        fail_msg("case %zu accepted", i);
                assert_strstr(e.msg, cases[i].msg);
                assert_null(cg.lines);
        }
        assert_int_equal(proc_cgroup_parse("0::/a\0b\n", 8, &(ProcCgroup) {}, NULL),
                         PROC_E_MALFORMED);
}

static void test_cgroup_limits(void **state) {
        _cleanup_(freep) char *s = malloc(PROC_CGROUP_SIZE_MAX + 16);
        ProcCgroup cg = {};
        char *p = s;

        assert_non_null(s);
        for (unsigned i = 1; i <= PROC_CGROUP_LINES_MAX; i++)
                p += sprintf(p, "%u:c%u:/\n", i, i);
        assert_int_equal(proc_cgroup_parse(s, strlen(s), &cg, NULL), 0);
        assert_int_equal(cg.n_lines, PROC_CGROUP_LINES_MAX);
        proc_cgroup_done(&cg);
        (void) sprintf(p, "999:x:/\n");
        assert_int_equal(proc_cgroup_parse(s, strlen(s), &cg, NULL), PROC_E_MALFORMED);

        /* a path of exactly PROC_CGROUP_PATH_MAX bytes, then one more */
        p = s + sprintf(s, "0::/");
        memset(p, 'a', PROC_CGROUP_PATH_MAX - 1);
        strcpy(p + PROC_CGROUP_PATH_MAX - 1, "\n");
        assert_int_equal(proc_cgroup_parse(s, strlen(s), &cg, NULL), 0);
        proc_cgroup_done(&cg);
        strcpy(p + PROC_CGROUP_PATH_MAX - 1, "a\n");
        assert_int_equal(proc_cgroup_parse(s, strlen(s), &cg, NULL), PROC_E_MALFORMED);
}

/* ---- fdinfo ---- */

static void test_fdinfo(void **state) {
        static const struct {
                const char *text;
                int result;
                pid_t pid;
        } cases[] = {
                { "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t4321\nNSpid:\t4321\n",
                  0, 4321 },
                { "pos:\t0\nPid:\t-1\nNSpid:\t-1\n", 0, -1 },
                { "Pid:\t0\n", 0, 0 },
                { "pos:\t0\nflags:\t02000002\n", PROC_E_MISSING, 0 },
                { "Pid:\tabc\n", PROC_E_MALFORMED, 0 },
                { "Pid:\t-2\n", PROC_E_MALFORMED, 0 },
                { "Pid: 5\n", PROC_E_MALFORMED, 0 },
                { "Pid:\t5\nPid:\t6\n", PROC_E_MALFORMED, 0 },
                { "Pid:\t5", PROC_E_MALFORMED, 0 },
                { "garbage\n", PROC_E_MALFORMED, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                pid_t pid = 12345;

                assert_int_equal(proc_fdinfo_parse_pid(cases[i].text, strlen(cases[i].text), &pid,
                                                       NULL),
                                 cases[i].result);
                assert_int_equal(pid, cases[i].result == 0 ? cases[i].pid : 12345);
        }
}

static void test_parse_u32(void **state) {
        static const struct {
                const char *s;
                int result;
                uint32_t v;
        } cases[] = {
                { "0", 0, 0 },           { "4294967295", 0, 4294967295u },
                { "4294967296", PROC_E_MALFORMED, 0 }, { "", PROC_E_MALFORMED, 0 },
                { "00", PROC_E_MALFORMED, 0 },         { "1 ", PROC_E_MALFORMED, 0 },
                { "+1", PROC_E_MALFORMED, 0 },
                { "99999999999999999999999", PROC_E_MALFORMED, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint32_t v = 7;

                assert_int_equal(proc_parse_u32(cases[i].s, strlen(cases[i].s), &v),
                                 cases[i].result);
                assert_int_equal(v, cases[i].result == 0 ? cases[i].v : 7);
        }
}

/* ---- cgroup paths ---- */

typedef struct PathCase {
        const char *path;
        bool nested;
        CgroupRuntime runtime;
        const char *id, *pod, *unit, *user_unit;
} PathCase;

static const PathCase path_cases[] = {
        /* Docker */
        { "/docker/" ID_A, false, CGROUP_RUNTIME_DOCKER, ID_A, "", "", "" },
        { "/docker/" ID_A "/inner/cgroup", false, CGROUP_RUNTIME_DOCKER, ID_A, "", "", "" },
        { "/system.slice/docker-" ID_B ".scope", false, CGROUP_RUNTIME_DOCKER, ID_B, "",
          "docker-" ID_B ".scope", "" },
        { "/system.slice/docker-" ID_B ".scope/init", false, CGROUP_RUNTIME_DOCKER, ID_B, "",
          "docker-" ID_B ".scope", "" },
        { "/machine.slice/libpod-" ID_A ".scope", false, CGROUP_RUNTIME_PODMAN, ID_A, "",
          "libpod-" ID_A ".scope", "" },
        /* Kubernetes, cgroupfs driver */
        { "/kubepods/burstable/pod" POD "/" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, POD, "",
          "" },
        { "/kubepods/besteffort/pod" POD "/" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, POD, "",
          "" },
        { "/kubepods/pod" POD "/" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, POD, "", "" },
        { "/kubepods/burstable/pod" POD "/crio-" ID_A, false, CGROUP_RUNTIME_CRIO, ID_A, POD, "",
          "" },
        /* Kubernetes, systemd driver */
        { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_
          ".slice/cri-containerd-" ID_A ".scope", false, CGROUP_RUNTIME_CONTAINERD, ID_A, POD,
          "cri-containerd-" ID_A ".scope", "" },
        { "/kubepods.slice/kubepods-pod" POD_ ".slice/docker-" ID_B ".scope", false,
          CGROUP_RUNTIME_DOCKER, ID_B, POD, "docker-" ID_B ".scope", "" },
        { "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_
          ".slice/crio-" ID_A ".scope", false, CGROUP_RUNTIME_CRIO, ID_A, POD,
          "crio-" ID_A ".scope", "" },
        { "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_
          ".slice/crio-conmon-" ID_A ".scope", false, CGROUP_RUNTIME_NONE, "", "",
          "crio-conmon-" ID_A ".scope", "" },
        { "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
          "kubelet-kubepods-besteffort-pod" POD_ ".slice/cri-containerd-" ID_A ".scope", false,
          CGROUP_RUNTIME_CONTAINERD, ID_A, POD, "cri-containerd-" ID_A ".scope", "" },
        { "/kubepods-besteffort-pod" POD_ ".slice:cri-containerd:" ID_A, false,
          CGROUP_RUNTIME_CONTAINERD, ID_A, POD, "", "" },
        /* the reader in a cgroup namespace */
        { "/../../kubepods-besteffort.slice/kubepods-besteffort-pod" POD_ ".slice/cri-containerd-"
          ID_A ".scope", false, CGROUP_RUNTIME_CONTAINERD, ID_A, POD,
          "cri-containerd-" ID_A ".scope", "" },
        { "/../../besteffort/pod" POD "/" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, POD, "", "" },
        { "/../pod" POD "/" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, POD, "", "" },
        { "/../" ID_A, false, CGROUP_RUNTIME_UNKNOWN, ID_A, "", "", "" },
        { "/../docker-" ID_B ".scope", false, CGROUP_RUNTIME_DOCKER, ID_B, "",
          "docker-" ID_B ".scope", "" },
        { "/../../system.slice/nginx.service", false, CGROUP_RUNTIME_NONE, "", "", "nginx.service",
          "" },
        { "/../../user.slice/user-1000.slice/user@1000.service/app.slice/fake-kubepods-pod" POD_
          ".slice/cri-containerd-" ID_A ".scope", false, CGROUP_RUNTIME_NONE, "", "",
          "user@1000.service", "" },
        /* systemd */
        { "/system.slice/nginx.service", false, CGROUP_RUNTIME_NONE, "", "", "nginx.service", "" },
        { "/system.slice/nginx.service/worker", false, CGROUP_RUNTIME_NONE, "", "", "nginx.service",
          "" },
        { "/system.slice/system-getty.slice/getty@tty1.service", false, CGROUP_RUNTIME_NONE, "",
          "", "getty@tty1.service", "" },
        { "/system.slice/dbus\\x2dbroker.service", false, CGROUP_RUNTIME_NONE, "", "",
          "dbus\\x2dbroker.service", "" },
        { "/init.scope", false, CGROUP_RUNTIME_NONE, "", "", "init.scope", "" },
        { "/user.slice/user-1000.slice/session-3.scope", false, CGROUP_RUNTIME_NONE, "", "",
          "session-3.scope", "" },
        { "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", false,
          CGROUP_RUNTIME_NONE, "", "", "user@1000.service", "foo.service" },
        { "/user.slice/user-1000.slice/user@1000.service/init.scope", false, CGROUP_RUNTIME_NONE,
          "", "", "user@1000.service", "init.scope" },
        { "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/"
          "vte-spawn-1.scope", false, CGROUP_RUNTIME_NONE, "", "", "user@1000.service",
          "vte-spawn-1.scope" },
        /* delegated subtrees cannot claim a container or a pod */
        { "/user.slice/user-1000.slice/user@1000.service/docker/" ID_A, false, CGROUP_RUNTIME_NONE,
          "", "", "user@1000.service", "" },
        { "/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" ID_A ".scope", false,
          CGROUP_RUNTIME_NONE, "", "", "user@1000.service", "docker-" ID_A ".scope" },
        { "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_A ".scope", false,
          CGROUP_RUNTIME_NONE, "", "", "user@1000.service", "libpod-" ID_A ".scope" },
        { "/system.slice/foo.service/docker/" ID_A, false, CGROUP_RUNTIME_NONE, "", "",
          "foo.service", "" },
        { "/system.slice/foo.service/kubepods/burstable/pod" POD "/" ID_A, false,
          CGROUP_RUNTIME_NONE, "", "", "foo.service", "" },
        { "/system.slice/foo.service/kubepods.slice/kubepods-pod" POD_ ".slice/docker-" ID_A
          ".scope", false, CGROUP_RUNTIME_NONE, "", "", "foo.service", "" },
        /* not quite a layout */
        { "/docker/f1d2", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/docker/F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2F1D2", false,
          CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/docker/" ID_A "0", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/lxc/" ID_A, false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/x/docker/" ID_A, false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods/burstable/pod2c48913c-b29f-11e7-9350-02096814779/" ID_A, false,
          CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods/burstable/pod" POD_ "/" ID_A, false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods/burstable/pod" POD, false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods/" ID_A, false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods.slice/kubepods-burstable-pod" POD_ ".slice/cri-containerd-" ID_A ".scope",
          false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/kubepods.slice/kubepods-pod" POD_ ".slice/kubepods-pod" POD_ "-pod" POD2_
          ".slice/cri-containerd-" ID_A ".scope", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/user-1000.slice/x.service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/foo-bar.slice/x.service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/nginx.service (deleted)", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/nginx.service/sub (deleted)", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/@x.service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/a@b@c.service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/.service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/system.slice/nginx service", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/", false, CGROUP_RUNTIME_NONE, "", "", "", "" },
        { "/process_api/89c75f3616f2359ed1104855f699309e", false, CGROUP_RUNTIME_NONE, "", "", "",
          "" },
        /* kind: a pod in a Docker container, attested as such only on request */
        { "/docker/" ID_B "/kubepods/besteffort/pod" POD "/" ID_A, false, CGROUP_RUNTIME_DOCKER,
          ID_B, "", "", "" },
        { "/docker/" ID_B "/kubepods/besteffort/pod" POD "/" ID_A, true, CGROUP_RUNTIME_UNKNOWN,
          ID_A, POD, "", "" },
        { "/docker/" ID_B "/system.slice/containerd.service", true, CGROUP_RUNTIME_DOCKER, ID_B, "",
          "", "" },
        { "/system.slice/docker-" ID_B ".scope/kubelet.slice/kubelet-kubepods.slice/"
          "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" POD_
          ".slice/cri-containerd-" ID_A ".scope", true, CGROUP_RUNTIME_CONTAINERD, ID_A, POD,
          "docker-" ID_B ".scope", "" },
        { "/docker/" ID_B "/docker/" ID_A, true, CGROUP_RUNTIME_DOCKER, ID_B, "", "", "" },
};

static void test_path_classify(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(path_cases); i++) {
                const PathCase *c = &path_cases[i];
                CgroupInfo info;
                int r;

                r = cgroup_path_classify(c->path, &(const CgroupOptions) { .nested = c->nested },
                                         &info);
                if (r != 0)
                        fail_msg("case %zu '%s' rejected: %d", i, c->path, r);
                if (info.runtime != c->runtime || !streq(info.container_id, c->id) ||
                    !streq(info.pod_uid, c->pod) || !streq(info.unit, c->unit) ||
                    !streq(info.user_unit, c->user_unit))
                        fail_msg("case %zu '%s': got runtime=%d id='%s' pod='%s' unit='%s' "
                                 "user_unit='%s'", i, c->path, info.runtime, info.container_id,
                                 info.pod_uid, info.unit, info.user_unit);
        }
}

static void test_path_malformed(void **state) {
        static const char *const cases[] = {
                "", "x", ("docker/" ID_A), "//", "/docker//x", "/docker/", "/./x", "/a/./b",
                "/a/../b", "/../a/..", "/a/..",
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CgroupInfo info;

                if (cgroup_path_classify(cases[i], NULL, &info) != PROC_E_MALFORMED)
                        fail_msg("case %zu '%s' accepted", i, cases[i]);
        }
}

static void test_path_component_limit(void **state) {
        _cleanup_(freep) char *s = malloc(CGROUP_PATH_COMPONENTS_MAX * 2 + 8);
        CgroupInfo info;
        char *p = s;

        assert_non_null(s);
        for (size_t i = 0; i < CGROUP_PATH_COMPONENTS_MAX; i++)
                p += sprintf(p, "/a");
        assert_int_equal(cgroup_path_classify(s, NULL, &info), 0);
        (void) sprintf(p, "/a");
        assert_int_equal(cgroup_path_classify(s, NULL, &info), PROC_E_MALFORMED);
}

/* ---- whole cgroup files to selectors ---- */

typedef struct AttestCase {
        const char *file;
        bool conflict;
        const char *selectors;  /* canonical set text */
} AttestCase;

static const AttestCase attest_cases[] = {
        { "0::/system.slice/nginx.service\n", false, "systemd:unit:nginx.service" },
        { "0::/\n", false, "" },
        { "0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", false,
          "systemd:unit:user@1000.service,systemd:user_unit:foo.service" },
        /* v1 on a systemd host: only name=systemd says which unit */
        { "4:memory:/system.slice/nginx.service\n3:cpu:/system.slice\n2:cpuset:/\n"
          "1:name=systemd:/system.slice/nginx.service\n", false, "systemd:unit:nginx.service" },
        /* v1 without systemd: the controllers do not name units */
        { "2:memory:/system.slice/nginx.service\n1:cpu:/system.slice/nginx.service\n", false, "" },
        { "2:memory:/docker/" ID_A "\n1:name=systemd:/docker/" ID_A "\n0::/\n", false,
          "container:id:" ID_A ",docker:id:" ID_A },
        { "0::/system.slice/docker-" ID_B ".scope\n", false,
          "container:id:" ID_B ",docker:id:" ID_B ",systemd:unit:docker-" ID_B ".scope" },
        /* hybrid, systemd driver: every line agrees, the unit is the container's scope */
        { "2:memory:/system.slice/docker-" ID_B ".scope\n1:name=systemd:/system.slice/docker-" ID_B
          ".scope\n0::/system.slice/docker-" ID_B ".scope\n", false,
          "container:id:" ID_B ",docker:id:" ID_B ",systemd:unit:docker-" ID_B ".scope" },
        /* hybrid, CRI-O: the v2 line still shows crio.service, which is not the pod's unit */
        { "3:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_
          ".slice/crio-" ID_A ".scope\n2:rdma:/\n1:name=systemd:/kubepods.slice/"
          "kubepods-besteffort.slice/kubepods-besteffort-pod" POD_ ".slice/crio-" ID_A ".scope\n"
          "0::/system.slice/crio.service\n", false,
          "container:id:" ID_A ",crio:id:" ID_A ",k8s:pod-uid:" POD },
        /* hybrid, Docker cgroupfs driver: docker.service is the daemon's unit, not this one's */
        { "2:memory:/docker/" ID_A "\n1:cpu:/docker/" ID_A "\n0::/system.slice/docker.service\n",
          false, "container:id:" ID_A ",docker:id:" ID_A },
        /* pure v2: the v2 line is the only one */
        { "0::/kubepods/burstable/pod" POD "/" ID_A "\n", false,
          "container:id:" ID_A ",k8s:pod-uid:" POD },
        /* v1 lines at the root leave the v2 line in charge */
        { "2:memory:/\n1:cpu:/\n0::/kubepods/burstable/pod" POD "/" ID_A "\n", false,
          "container:id:" ID_A ",k8s:pod-uid:" POD },
        /* disagreement: no container */
        { "2:memory:/docker/" ID_A "\n1:cpu:/docker/" ID_B "\n", true, "" },
        { "2:memory:/docker/" ID_A "\n1:cpu:/kubepods/pod" POD "/" ID_A "\n", true, "" },
        { "1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n", true, "" },
};

static void test_cgroup_attest(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(attest_cases); i++) {
                SigilSelectorSet set = { NULL, 0 };
                _cleanup_(freep) char *text = NULL;
                ProcCgroup cg = {};
                bool conflict = !attest_cases[i].conflict;
                SigilErr e = { .msg = "" };

                assert_int_equal(proc_cgroup_parse(attest_cases[i].file,
                                                   strlen(attest_cases[i].file), &cg, NULL), 0);
                if (cgroup_attest(&cg, NULL, &set, &conflict, &e) != 0)
                        fail_msg("case %zu failed: %s", i, e.msg);
                assert_int_equal(sigil_selector_set_to_string(&set, &text), 0);
                if (!streq(text, attest_cases[i].selectors) || conflict != attest_cases[i].conflict)
                        fail_msg("case %zu: got '%s' conflict=%d", i, text, conflict);
                sigil_selector_set_done(&set);
                proc_cgroup_done(&cg);
        }
}

static void test_cgroup_attest_malformed_path(void **state) {
        SigilSelectorSet set = { NULL, 0 };
        ProcCgroup cg = {};
        SigilErr e = { .msg = "" };

        assert_int_equal(proc_cgroup_parse("1:cpu:/a//b\n", 12, &cg, NULL), 0);
        assert_int_equal(cgroup_attest(&cg, NULL, &set, NULL, &e), PROC_E_MALFORMED);
        assert_strstr(e.msg, "hierarchy 1");
        assert_int_equal(set.n_items, 0);
        proc_cgroup_done(&cg);
}

static void test_runtime_names(void **state) {
        assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_DOCKER), "docker");
        assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_CONTAINERD), "containerd");
        assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_CRIO), "crio");
        assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_PODMAN), "podman");
        assert_null(cgroup_runtime_to_string(CGROUP_RUNTIME_UNKNOWN));
        assert_null(cgroup_runtime_to_string(CGROUP_RUNTIME_NONE));
        assert_null(cgroup_runtime_to_string(_CGROUP_RUNTIME_MAX));
}

/* ---- passwd/group text ---- */

static void test_names_db(void **state) {
        static const char db[] = "root:x:0:0:root:/root:/bin/bash\n"
                                 "# comment:x:5:\n"
                                 "+nis:x:6:\n"
                                 "-nis:x:7:\n"
                                 "short:x:8\n"
                                 ":x:9:\n"
                                 "lead:x:010:\n"
                                 "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                 "alice2:x:1000:\n"
                                 "\n"
                                 "last:x:4294967294:";
        static const struct {
                uint32_t id;
                int result;
                const char *name;
        } cases[] = {
                { 0, 0, "root" },   { 1000, 0, "alice" }, { 4294967294u, 0, "last" },
                { 5, UNIX_NAMES_E_NOT_FOUND, NULL }, { 6, UNIX_NAMES_E_NOT_FOUND, NULL },
                { 7, UNIX_NAMES_E_NOT_FOUND, NULL }, { 8, UNIX_NAMES_E_NOT_FOUND, NULL },
                { 9, UNIX_NAMES_E_NOT_FOUND, NULL }, { 10, UNIX_NAMES_E_NOT_FOUND, NULL },
                { 4242, UNIX_NAMES_E_NOT_FOUND, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *name = NULL;

                assert_int_equal(unix_names_parse_db(db, strlen(db), cases[i].id, &name),
                                 cases[i].result);
                if (cases[i].name)
                        assert_string_equal(name, cases[i].name);
        }
        assert_int_equal(unix_names_parse_db("a:x:0:\0", 7, 0, &(char *) { NULL }), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_valid),
                cmocka_unit_test(test_status_ppid),
                cmocka_unit_test(test_status_invalid),
                cmocka_unit_test(test_status_limits),
                cmocka_unit_test(test_status_too_many_lines),
                cmocka_unit_test(test_stat_valid),
                cmocka_unit_test(test_stat_invalid),
                cmocka_unit_test(test_cgroup_valid),
                cmocka_unit_test(test_cgroup_invalid),
                cmocka_unit_test(test_cgroup_limits),
                cmocka_unit_test(test_fdinfo),
                cmocka_unit_test(test_parse_u32),
                cmocka_unit_test(test_path_classify),
                cmocka_unit_test(test_path_malformed),
                cmocka_unit_test(test_path_component_limit),
                cmocka_unit_test(test_cgroup_attest),
                cmocka_unit_test(test_cgroup_attest_malformed_path),
                cmocka_unit_test(test_runtime_names),
                cmocka_unit_test(test_names_db),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
