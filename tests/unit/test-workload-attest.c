/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workload attestation end to end (agent/workload-attest.c with the unix and
 * cgroup attestors): against the fixture trees under tests/data/proc with
 * their own passwd/group files, and live against this test process and
 * children that exit before or during attestation.
 */
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload-attest.h"

#define ID_A "f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2f1d2"
#define ID_B "0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d0a1b2c3d"
#define CTR "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961"
#define CRIO "09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6"
#define NODE "93529524695bb00d91c1f6dba692ea8d3550c3b94fb2463af7bc9ec82f992d26"
#define POD "2c48913c-b29f-11e7-9350-020968147796"
#define HELLO_SHA256 "740c101a9f0fbf8263faeeda48228aed6bedcbc1c11c8c6759f40dae0c1633a7"

static char fixture_root[4096], names_root[4096];

static void fixture_paths(void) {
        const char *src = getenv("SIGIL_SOURCE_DIR");

        if (!src)
                src = ".";
        (void) snprintf(fixture_root, sizeof(fixture_root), "%s/tests/data/proc", src);
        (void) snprintf(names_root, sizeof(names_root), "%s/tests/data/proc/names", src);
}

static void fixture_config(WorkloadAttestConfig *cfg) {
        workload_attest_config_init(cfg);
        cfg->proc_root = fixture_root;
        cfg->names = UNIX_NAMES_FILES;
        cfg->names_root = names_root;
        cfg->skip_pid_check = true;
}

static RpcPeerCred cred_of(pid_t pid, uid_t uid, gid_t gid) {
        return (RpcPeerCred) { .pid = pid, .uid = uid, .gid = gid, .pidfd = -1 };
}

/* Attest and return the canonical selector text, or fail the test. */
static char *attest_text(WorkloadAttestor *a, const RpcPeerCred *cred, unsigned *ret_warnings) {
        SigilSelectorSet set = { NULL, 0 };
        SigilErr e = { .msg = "" };
        char *text = NULL;
        unsigned w = 0;
        int r;

        r = workload_attest(a, cred, &set, &w, &e);
        if (r != 0)
                fail_msg("attesting pid %d failed (%d): %s", (int) cred->pid, r, e.msg);
        assert_int_equal(sigil_selector_set_to_string(&set, &text), 0);
        sigil_selector_set_done(&set);
        if (ret_warnings)
                *ret_warnings = w;
        return text;
}

typedef struct FixtureCase {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        const char *selectors;
        unsigned warnings;
} FixtureCase;

static const FixtureCase fixture_cases[] = {
        { 100, 1000, 1000,
          "systemd:unit:nginx.service,unix:gid:1000,unix:group:alice,"
          "unix:supplementary_gid:100,unix:supplementary_gid:1000,unix:supplementary_gid:27,"
          "unix:supplementary_gid:4242,unix:supplementary_group:alice,"
          "unix:supplementary_group:sudo,unix:supplementary_group:users,unix:uid:1000,"
          "unix:user:alice", 0 },
        { 101, 1000, 1000,
          "systemd:unit:user@1000.service,systemd:user_unit:foo.service,unix:gid:1000,"
          "unix:group:alice,unix:supplementary_gid:1000,unix:supplementary_group:alice,"
          "unix:uid:1000,unix:user:alice", 0 },
        { 102, 1000, 1000,
          "systemd:unit:session-3.scope,unix:gid:1000,unix:group:alice,"
          "unix:supplementary_gid:1000,unix:supplementary_group:alice,unix:uid:1000,"
          "unix:user:alice", 0 },
        { 200, 0, 0,
          "container:id:" ID_A ",docker:id:" ID_A ",unix:gid:0,unix:group:root,unix:uid:0,"
          "unix:user:root", 0 },
        { 201, 0, 0,
          "container:id:" ID_B ",docker:id:" ID_B ",systemd:unit:docker-" ID_B ".scope,"
          "unix:gid:0,unix:group:root,unix:uid:0,unix:user:root", 0 },
        { 300, 65534, 65534,
          "container:id:" CTR ",k8s:pod-uid:" POD ",unix:gid:65534,unix:group:nogroup,"
          "unix:supplementary_gid:65534,unix:supplementary_group:nogroup,unix:uid:65534,"
          "unix:user:nobody", 0 },
        { 301, 1000, 1000,
          "container:id:" CTR ",containerd:id:" CTR ",k8s:pod-uid:" POD ","
          "systemd:unit:cri-containerd-" CTR ".scope,unix:gid:1000,unix:group:alice,"
          "unix:supplementary_gid:1000,unix:supplementary_group:alice,unix:uid:1000,"
          "unix:user:alice", 0 },
        { 302, 1000, 1000,
          "container:id:" CRIO ",crio:id:" CRIO ",k8s:pod-uid:" POD ",unix:gid:1000,"
          "unix:group:alice,unix:uid:1000,unix:user:alice", 0 },
        { 303, 0, 0,
          "container:id:" NODE ",docker:id:" NODE ",unix:gid:0,unix:group:root,unix:uid:0,"
          "unix:user:root", 0 },
        { 304, 1000, 1000,
          "systemd:unit:user@1000.service,unix:gid:1000,unix:group:alice,"
          "unix:supplementary_gid:1000,unix:supplementary_group:alice,unix:uid:1000,"
          "unix:user:alice", 0 },
        { 405, 0, 0, "unix:gid:0,unix:group:root,unix:uid:0,unix:user:root",
          WORKLOAD_WARN_CGROUP_CONFLICT },
        { 407, 2000, 2000, "unix:gid:2000,unix:group:odd,unix:uid:2000",
          WORKLOAD_WARN_NAME_INVALID },
};

static void test_fixtures(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(fixture_cases); i++) {
                const FixtureCase *c = &fixture_cases[i];
                RpcPeerCred cred = cred_of(c->pid, c->uid, c->gid);
                _cleanup_(freep) char *text = NULL;
                unsigned w;

                text = attest_text(a, &cred, &w);
                if (!streq(text, c->selectors))
                        fail_msg("pid %d:\n got  '%s'\n want '%s'", (int) c->pid, text,
                                 c->selectors);
                if (w != c->warnings)
                        fail_msg("pid %d: warnings 0x%x, want 0x%x", (int) c->pid, w, c->warnings);
        }
}

static void test_fixture_nested(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(freep) char *text = NULL;
        RpcPeerCred cred = cred_of(303, 0, 0);
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        cfg.cgroup_nested = true;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        text = attest_text(a, &cred, NULL);
        assert_string_equal(text, "container:id:" CTR ",k8s:pod-uid:" POD ",unix:gid:0,"
                                  "unix:group:root,unix:uid:0,unix:user:root");
}

static void test_fixture_failures(void **state) {
        static const struct {
                pid_t pid;
                uid_t uid;
                gid_t gid;
                int result;
                const char *msg;
        } cases[] = {
                { 400, 1000, 1000, WORKLOAD_ATTEST_E_GONE, "zombie" },
                { 401, 1000, 1000, WORKLOAD_ATTEST_E_UNTRUSTED, "runs as uid=0 gid=0" },
                { 100, 1000, 1001, WORKLOAD_ATTEST_E_UNTRUSTED, "connected as uid=1000 gid=1001" },
                { 402, 1000, 1000, WORKLOAD_ATTEST_E_MALFORMED, "second 'Uid:'" },
                { 408, 1000, 1000, WORKLOAD_ATTEST_E_MALFORMED, "malformed path" },
                { 999, 1000, 1000, WORKLOAD_ATTEST_E_GONE, "exited" },
                { 0, 1000, 1000, WORKLOAD_ATTEST_E_UNTRUSTED, "not visible" },
        };
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                RpcPeerCred cred = cred_of(cases[i].pid, cases[i].uid, cases[i].gid);
                SigilSelectorSet set = { NULL, 0 };
                SigilErr e = { .msg = "" };

                if (workload_attest(a, &cred, &set, NULL, &e) != cases[i].result)
                        fail_msg("pid %d: not %d: '%s'", (int) cases[i].pid, cases[i].result,
                                 e.msg);
                assert_strstr(e.msg, cases[i].msg);
                assert_int_equal(set.n_items, 0);
        }
}

/* The adapter for the Workload API maps every documented failure to a negative errno. */
static void test_fixture_callback(void **state) {
        static const struct {
                pid_t pid;
                uid_t uid;
                int result;
        } cases[] = {
                { 100, 1000, 0 },
                { 400, 1000, -ESRCH },
                { 999, 1000, -ESRCH },
                { 401, 1000, -EPERM },
                { 402, 1000, -EBADMSG },
        };
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                RpcPeerCred cred = cred_of(cases[i].pid, cases[i].uid, 1000);
                SigilSelectorSet set = { NULL, 0 };

                assert_int_equal(workload_attest_callback(a, &cred, &set, NULL), cases[i].result);
                assert_int_equal(set.n_items > 0, cases[i].result == 0);
                sigil_selector_set_done(&set);
        }
}

static void test_fixture_cgroup_off(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(freep) char *text = NULL;
        RpcPeerCred cred = cred_of(200, 0, 0);
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        cfg.cgroup = false;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        text = attest_text(a, &cred, NULL);
        assert_string_equal(text, "unix:gid:0,unix:group:root,unix:uid:0,unix:user:root");
}

static void test_fixture_no_names(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(freep) char *text = NULL;
        RpcPeerCred cred = cred_of(100, 1000, 1000);
        WorkloadAttestConfig cfg;

        fixture_config(&cfg);
        cfg.names = UNIX_NAMES_NONE;
        cfg.cgroup = false;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        text = attest_text(a, &cred, NULL);
        assert_string_equal(text, "unix:gid:1000,unix:supplementary_gid:100,"
                                  "unix:supplementary_gid:1000,unix:supplementary_gid:27,"
                                  "unix:supplementary_gid:4242,unix:uid:1000");
}

static void test_fixture_groups_max(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(freep) char *text = NULL;
        RpcPeerCred cred = cred_of(406, 1000, 1000);
        WorkloadAttestConfig cfg;
        unsigned w;

        fixture_config(&cfg);
        cfg.groups_max = 3;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        text = attest_text(a, &cred, &w);
        assert_int_equal(w, WORKLOAD_WARN_GROUPS_TRUNCATED);
        assert_string_equal(text, "unix:gid:1000,unix:group:alice,unix:supplementary_gid:5000,"
                                  "unix:supplementary_gid:5001,unix:supplementary_gid:5002,"
                                  "unix:supplementary_group:g5000,unix:supplementary_group:g5001,"
                                  "unix:supplementary_group:g5002,unix:uid:1000,unix:user:alice");
}

static void test_fixture_exe(void **state) {
        static const struct {
                pid_t pid;
                bool path, sha256;
                const char *want;       /* the exe selectors only */
                unsigned warnings;
        } cases[] = {
                { 100, true, false, "unix:path:/usr/sbin/nginx", 0 },
                { 403, true, false, "", WORKLOAD_WARN_EXE_DELETED },
                { 404, false, true, "unix:sha256:" HELLO_SHA256, 0 },
                { 404, true, true, "unix:sha256:" HELLO_SHA256, WORKLOAD_WARN_EXE_PATH_INVALID },
                { 100, false, true, "", WORKLOAD_WARN_EXE_UNREADABLE },
                { 400, true, false, NULL, 0 },  /* zombie: fails before */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
                RpcPeerCred cred = cred_of(cases[i].pid, 1000, 1000);
                SigilSelectorSet set = { NULL, 0 };
                WorkloadAttestConfig cfg;
                char got[256] = "";
                unsigned w = 0;
                int r;

                fixture_config(&cfg);
                cfg.cgroup = false;
                cfg.names = UNIX_NAMES_NONE;
                cfg.unix_path = cases[i].path;
                cfg.unix_sha256 = cases[i].sha256;
                cfg.unix_path_any_mntns = true;
                assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
                r = workload_attest(a, &cred, &set, &w, NULL);
                if (!cases[i].want) {
                        assert_int_equal(r, WORKLOAD_ATTEST_E_GONE);
                        continue;
                }
                assert_int_equal(r, 0);
                for (size_t j = 0; j < set.n_items; j++)
                        if (strncmp(set.items[j].value, "path:", 5) == 0 ||
                            strncmp(set.items[j].value, "sha256:", 7) == 0)
                                (void) snprintf(got, sizeof(got), "%s:%s", set.items[j].type,
                                                set.items[j].value);
                if (!streq(got, cases[i].want) || w != cases[i].warnings)
                        fail_msg("case %zu: got '%s' warnings 0x%x", i, got, w);
                sigil_selector_set_done(&set);
        }
}

/* A fixture whose exe is over the size cap is not hashed. */
static void test_fixture_exe_too_large(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        RpcPeerCred cred = cred_of(404, 1000, 1000);
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        unsigned w = 0;

        fixture_config(&cfg);
        cfg.unix_sha256 = true;
        cfg.sha256_size_max = 8;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        assert_int_equal(workload_attest(a, &cred, &set, &w, NULL), 0);
        assert_int_equal(w, WORKLOAD_WARN_EXE_TOO_LARGE);
        assert_false(sigil_selector_set_contains(&set, "unix", "sha256:" HELLO_SHA256));
        sigil_selector_set_done(&set);
}

/* ---- the race: a copy of the tree that the test rewrites between read and verify ---- */

static const char *hook_stat_path;
static const char *hook_stat_text;

static void rewrite_stat(void *userdata) {
        FILE *f = fopen(hook_stat_path, "we");

        assert_non_null(f);
        assert_true(fputs(hook_stat_text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void test_fixture_replaced(void **state) {
        static const struct {
                const char *stat;
                int result;
        } cases[] = {
                /* the same process */
                { "100 (nginx) S 1 100 100 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 4242 0\n", 0 },
                /* PID reused: another start time */
                { "100 (nginx) S 1 100 100 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 4243 0\n",
                  WORKLOAD_ATTEST_E_GONE },
                /* died meanwhile */
                { "100 (nginx) Z 1 100 100 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 4242 0\n",
                  WORKLOAD_ATTEST_E_GONE },
        };
        _cleanup_(freep) char *tmp = test_mkdtemp();
        char root[4200], stat_path[4300];

        assert_int_equal(run_cmd("cp -a '%s/100' '%s/'", fixture_root, tmp), 0);
        (void) snprintf(root, sizeof(root), "%s", tmp);
        (void) snprintf(stat_path, sizeof(stat_path), "%s/100/stat", tmp);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
                RpcPeerCred cred = cred_of(100, 1000, 1000);
                SigilSelectorSet set = { NULL, 0 };
                WorkloadAttestConfig cfg;
                SigilErr e = { .msg = "" };

                fixture_config(&cfg);
                cfg.proc_root = root;
                cfg.test_before_verify = rewrite_stat;
                hook_stat_path = stat_path;
                hook_stat_text = cases[i].stat;
                assert_int_equal(run_cmd("cp '%s/100/stat' '%s'", fixture_root, stat_path), 0);
                assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
                if (workload_attest(a, &cred, &set, NULL, &e) != cases[i].result)
                        fail_msg("case %zu: '%s'", i, e.msg);
                assert_int_equal(set.n_items > 0, cases[i].result == 0);
                sigil_selector_set_done(&set);
        }
        rm_rf(tmp);
}

static void test_config_invalid(void **state) {
        WorkloadAttestor *a = NULL;
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };

        workload_attest_config_init(&cfg);
        cfg.skip_pid_check = true;              /* on the real /proc */
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -EINVAL);
        assert_strstr(e.msg, "fixture");
        cfg.proc_root = "/proc/";               /* spelled differently: still procfs */
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -EINVAL);

        workload_attest_config_init(&cfg);
        cfg.groups_max = WORKLOAD_GROUPS_MAX + 1;
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -EINVAL);

        workload_attest_config_init(&cfg);
        cfg.names = UNIX_NAMES_FILES;
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -EINVAL);

        workload_attest_config_init(&cfg);
        cfg.proc_root = "relative/proc";
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -EINVAL);

        workload_attest_config_init(&cfg);
        cfg.proc_root = "/nonexistent-proc-root";
        assert_int_equal(workload_attestor_new(&cfg, &a, &e), -ENOENT);
        assert_null(a);
}

static void test_warning_strings(void **state) {
        for (unsigned bit = 1; bit <= _WORKLOAD_WARN_ALL; bit <<= 1)
                assert_non_null(workload_warning_to_string((WorkloadWarning) bit));
        assert_null(workload_warning_to_string((WorkloadWarning) 0));
        assert_null(workload_warning_to_string((WorkloadWarning) 3));
}

/* ---- live: this process and its children, on the real /proc ---- */

/* A child that waits to be killed, and dies with the test if an assertion fails first. */
static pid_t fork_paused_child(void) {
        pid_t parent = getpid(), child = fork();

        assert_true(child >= 0);
        if (child == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                (void) alarm(60);
                for (;;)
                        pause();
        }
        return child;
}

static int pidfd_open_or_skip(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);

        if (fd < 0 && errno == ENOSYS)
                skip();
        assert_true(fd >= 0);
        return fd;
}

static void sha256_file(const char *path, char hex[65]) {
        unsigned char buf[65536], md[32];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n_md = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k;

        assert_non_null(ctx);
        assert_true(fd >= 0);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        while ((k = read(fd, buf, sizeof(buf))) > 0)
                assert_int_equal(EVP_DigestUpdate(ctx, buf, (size_t) k), 1);
        assert_int_equal(k, 0);
        assert_int_equal(EVP_DigestFinal_ex(ctx, md, &n_md), 1);
        for (unsigned i = 0; i < n_md; i++)
                (void) sprintf(hex + 2 * i, "%02x", md[i]);
        EVP_MD_CTX_free(ctx);
        (void) close(fd);
}

static void test_live_self(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(closep) int pidfd = pidfd_open_or_skip(getpid());
        RpcPeerCred cred = { .pid = getpid(), .uid = geteuid(), .gid = getegid(), .pidfd = pidfd };
        char want[128], exe[4096], sel[4200], hex[65];
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };
        uint64_t hashed, hits;
        ssize_t k;

        workload_attest_config_init(&cfg);
        cfg.unix_path = true;
        cfg.unix_sha256 = true;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        for (int round = 0; round < 2; round++) {
                if (workload_attest(a, &cred, &set, NULL, &e) != 0)
                        fail_msg("attesting myself failed: %s", e.msg);
                (void) snprintf(want, sizeof(want), "uid:%u", (unsigned) geteuid());
                assert_true(sigil_selector_set_contains(&set, "unix", want));
                (void) snprintf(want, sizeof(want), "gid:%u", (unsigned) getegid());
                assert_true(sigil_selector_set_contains(&set, "unix", want));

                k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
                assert_true(k > 0);
                exe[k] = '\0';
                (void) snprintf(sel, sizeof(sel), "path:%s", exe);
                assert_true(sigil_selector_set_contains(&set, "unix", sel));
                sha256_file("/proc/self/exe", hex);
                (void) snprintf(sel, sizeof(sel), "sha256:%s", hex);
                assert_true(sigil_selector_set_contains(&set, "unix", sel));
                sigil_selector_set_done(&set);
        }
        /* the second round came from the cache */
        workload_attestor_hash_stats(a, &hashed, &hits);
        assert_int_equal(hashed, 1);
        assert_int_equal(hits, 1);
}

static void test_live_no_pidfd(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        RpcPeerCred cred = cred_of(getpid(), geteuid(), getegid());
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };

        workload_attest_config_init(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        assert_int_equal(workload_attest(a, &cred, &set, NULL, &e), WORKLOAD_ATTEST_E_UNTRUSTED);
        assert_strstr(e.msg, "no pidfd");
}

static void test_live_wrong_uid(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(closep) int pidfd = pidfd_open_or_skip(getpid());
        RpcPeerCred cred = { .pid = getpid(), .uid = geteuid() + 1, .gid = getegid(),
                             .pidfd = pidfd };
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;

        workload_attest_config_init(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        assert_int_equal(workload_attest(a, &cred, &set, NULL, NULL), WORKLOAD_ATTEST_E_UNTRUSTED);
        assert_int_equal(set.n_items, 0);
}

/* The pidfd of another process, with the pid the socket would have reported. */
static void test_live_pidfd_mismatch(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(closep) int pidfd = -1;
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };
        RpcPeerCred cred;
        pid_t child;

        child = fork_paused_child();
        pidfd = pidfd_open_or_skip(child);
        cred = (RpcPeerCred) { .pid = getpid(), .uid = geteuid(), .gid = getegid(),
                               .pidfd = pidfd };
        workload_attest_config_init(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        assert_int_equal(workload_attest(a, &cred, &set, NULL, &e), WORKLOAD_ATTEST_E_GONE);
        assert_strstr(e.msg, "pidfd now names");
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, NULL, 0), child);
}

/* A child that exits before attestation: reaped (PID free) or not yet (zombie). */
static void test_live_child_exited(void **state) {
        for (int reap = 0; reap < 2; reap++) {
                _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
                _cleanup_(closep) int pidfd = -1;
                SigilSelectorSet set = { NULL, 0 };
                WorkloadAttestConfig cfg;
                SigilErr e = { .msg = "" };
                RpcPeerCred cred;
                siginfo_t si;
                pid_t child;

                child = fork();
                assert_true(child >= 0);
                if (child == 0)
                        _exit(0);
                pidfd = pidfd_open_or_skip(child);
                /* wait until it has exited, reaping it only when asked to */
                assert_int_equal(waitid(P_PID, (id_t) child, &si,
                                        WEXITED | (reap ? 0 : WNOWAIT)), 0);
                cred = (RpcPeerCred) { .pid = child, .uid = geteuid(), .gid = getegid(),
                                       .pidfd = pidfd };
                workload_attest_config_init(&cfg);
                assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
                if (workload_attest(a, &cred, &set, NULL, &e) != WORKLOAD_ATTEST_E_GONE)
                        fail_msg("reap=%d: not gone: '%s'", reap, e.msg);
                assert_int_equal(set.n_items, 0);
                if (!reap)
                        assert_int_equal(waitpid(child, NULL, 0), child);
        }
}

static pid_t victim;

static void kill_victim(void *userdata) {
        assert_int_equal(kill(victim, SIGKILL), 0);
        assert_int_equal(waitpid(victim, NULL, 0), victim);
}

/* A child that is alive when attestation starts and dies before the final check. */
static void test_live_child_dies_during(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(closep) int pidfd = -1;
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };
        RpcPeerCred cred;

        victim = fork_paused_child();
        pidfd = pidfd_open_or_skip(victim);
        cred = (RpcPeerCred) { .pid = victim, .uid = geteuid(), .gid = getegid(),
                               .pidfd = pidfd };
        workload_attest_config_init(&cfg);
        cfg.test_before_verify = kill_victim;
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        if (workload_attest(a, &cred, &set, NULL, &e) != WORKLOAD_ATTEST_E_GONE)
                fail_msg("not gone: '%s'", e.msg);
        assert_int_equal(set.n_items, 0);
}

/* A child in a mount namespace of its own: its exe path may name another file here. */
static void test_live_other_mntns(void **state) {
        _cleanup_(closep) int pidfd = -1;
        int sync[2];
        pid_t child;
        char c;

        assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                c = unshare(CLONE_NEWNS) == 0 ? 'y' : 'n';
                (void) !write(sync[1], &c, 1);
                (void) alarm(60);
                for (;;)
                        pause();
        }
        (void) close(sync[1]);
        assert_int_equal(read(sync[0], &c, 1), 1);
        (void) close(sync[0]);
        if (c != 'y') {
                (void) kill(child, SIGKILL);
                (void) waitpid(child, NULL, 0);
                skip();         /* unshare needs CAP_SYS_ADMIN */
        }
        pidfd = pidfd_open_or_skip(child);
        for (int any = 0; any < 2; any++) {
                _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
                RpcPeerCred cred = { .pid = child, .uid = geteuid(), .gid = getegid(),
                                     .pidfd = pidfd };
                SigilSelectorSet set = { NULL, 0 };
                WorkloadAttestConfig cfg;
                bool has_path = false;
                unsigned w = 0;

                workload_attest_config_init(&cfg);
                cfg.unix_path = true;
                cfg.unix_path_any_mntns = any;
                assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
                assert_int_equal(workload_attest(a, &cred, &set, &w, NULL), 0);
                for (size_t i = 0; i < set.n_items; i++)
                        has_path |= strncmp(set.items[i].value, "path:", 5) == 0;
                assert_int_equal(has_path, any);
                assert_int_equal(w & WORKLOAD_WARN_EXE_OTHER_MNTNS,
                                 any ? 0 : WORKLOAD_WARN_EXE_OTHER_MNTNS);
                sigil_selector_set_done(&set);
        }
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, NULL, 0), child);
}

/* The same child alive throughout is attested (the checks do not fail everyone). */
static void test_live_child_alive(void **state) {
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        _cleanup_(closep) int pidfd = -1;
        SigilSelectorSet set = { NULL, 0 };
        WorkloadAttestConfig cfg;
        SigilErr e = { .msg = "" };
        RpcPeerCred cred;
        char want[64];
        pid_t child;

        child = fork_paused_child();
        pidfd = pidfd_open_or_skip(child);
        cred = (RpcPeerCred) { .pid = child, .uid = geteuid(), .gid = getegid(), .pidfd = pidfd };
        workload_attest_config_init(&cfg);
        assert_int_equal(workload_attestor_new(&cfg, &a, NULL), 0);
        if (workload_attest(a, &cred, &set, NULL, &e) != 0)
                fail_msg("attesting a live child failed: '%s'", e.msg);
        (void) snprintf(want, sizeof(want), "uid:%u", (unsigned) geteuid());
        assert_true(sigil_selector_set_contains(&set, "unix", want));
        sigil_selector_set_done(&set);
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, NULL, 0), child);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixtures),
                cmocka_unit_test(test_fixture_nested),
                cmocka_unit_test(test_fixture_failures),
                cmocka_unit_test(test_fixture_callback),
                cmocka_unit_test(test_fixture_cgroup_off),
                cmocka_unit_test(test_fixture_no_names),
                cmocka_unit_test(test_fixture_groups_max),
                cmocka_unit_test(test_fixture_exe),
                cmocka_unit_test(test_fixture_exe_too_large),
                cmocka_unit_test(test_fixture_replaced),
                cmocka_unit_test(test_config_invalid),
                cmocka_unit_test(test_warning_strings),
                cmocka_unit_test(test_live_self),
                cmocka_unit_test(test_live_no_pidfd),
                cmocka_unit_test(test_live_wrong_uid),
                cmocka_unit_test(test_live_pidfd_mismatch),
                cmocka_unit_test(test_live_child_exited),
                cmocka_unit_test(test_live_child_dies_during),
                cmocka_unit_test(test_live_other_mntns),
                cmocka_unit_test(test_live_child_alive),
        };

        fixture_paths();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
