/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Workload attestation: from the credentials of a Workload API connection to
 * the selectors of the process behind it.
 *
 * The PID from SO_PEERCRED names a process only as long as that process
 * lives: once it exits its PID can be handed to another, and whatever
 * /proc/<pid> then says is about a stranger. So this file holds the one
 * sequence that makes /proc trustworthy, and the attestors (attest/unix.c,
 * attest/cgroup.c) only ever see what it has vouched for:
 *
 *   1. open /proc/<pid> as a directory fd; every later read goes through it;
 *   2. check the pidfd taken at accept time still has the same PID: the PID
 *      cannot have been reused while the pidfd's process holds it, so the
 *      directory opened in 1 is that process's;
 *   3. read stat (starttime), status, cgroup and the exe link, and attest;
 *   4. check the pidfd again and re-read stat: the process is still alive,
 *      not a zombie, with the same starttime. Only then are the selectors
 *      returned. Any failure after 1 is re-examined: if the process is gone
 *      the answer is WORKLOAD_ATTEST_E_GONE, whatever else went wrong.
 *
 * /proc is also checked against the socket: the effective uid and gid in
 * status must equal SO_PEERCRED's. A process that changed identity after
 * connecting (or that inherited a connection across a setuid exec) gets
 * nothing rather than either identity.
 *
 * Files are read with the caps of proc-parse.h and parsed there. The pid
 * checks can be skipped for fixture trees only: a proc_root that is a procfs
 * mount refuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "attest/cgroup.h"
#include "attest/exe-hash.h"
#include "attest/unix.h"
#include "fileio.h"
#include "proc-parse.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/macro.h"
#include "workload-attest.h"

#define PROC_SUPER_MAGIC_VALUE 0x9fa0
#define WARN_INTERVAL_USEC (10 * USEC_PER_SEC)
#define N_WARNINGS 8

struct WorkloadAttestor {
        WorkloadAttestConfig cfg;       /* strings point at the copies below */
        char *proc_root;
        char *names_root;
        UnixNames names;
        ExeHashCache *cache;

        /* rate limit of warning lines, one slot per WORKLOAD_WARN_* bit */
        pthread_mutex_t warn_lock;
        uint64_t warn_last_usec[N_WARNINGS];
        uint64_t warn_suppressed[N_WARNINGS];
};

static const char *const warning_texts[N_WARNINGS] = {
        "executable deleted or replaced, no unix:path",
        "process in another mount namespace, no unix:path",
        "executable path too long or not UTF-8, no unix:path",
        "executable larger than the sha256 size cap, no unix:sha256",
        "executable not readable or changing, no unix:path/unix:sha256",
        "more supplementary groups than groups_max, the rest left out",
        "a user or group name could not be looked up or is no valid selector",
        "cgroup lines disagree, no container or systemd selectors",
};

const char *workload_warning_to_string(WorkloadWarning w) {
        for (unsigned i = 0; i < N_WARNINGS; i++)
                if (w == (1u << i))
                        return warning_texts[i];
        return NULL;
}

void workload_attest_config_init(WorkloadAttestConfig *cfg) {
        *cfg = (WorkloadAttestConfig) {
                .proc_root = WORKLOAD_PROC_ROOT_DEFAULT,
                .names = UNIX_NAMES_NSS,
                .groups_max = WORKLOAD_GROUPS_MAX_DEFAULT,
                .sha256_size_max = EXE_HASH_SIZE_MAX_DEFAULT,
                .cgroup = true,
        };
}

static int check_config(const WorkloadAttestConfig *cfg, const char *proc_root,
                        SigilErr *reterr) {
        struct statfs sfs;

        if (cfg->names < 0 || cfg->names >= _UNIX_NAMES_SOURCE_MAX)
                return sigil_err_set(reterr, -EINVAL, "unknown user/group name source");
        if (cfg->names == UNIX_NAMES_FILES && isempty(cfg->names_root))
                return sigil_err_set(reterr, -EINVAL, "name files need a root directory");
        if (cfg->groups_max > WORKLOAD_GROUPS_MAX)
                return sigil_err_set(reterr, -EINVAL, "groups_max is over %u",
                                     WORKLOAD_GROUPS_MAX);
        if (proc_root[0] != '/')
                return sigil_err_set(reterr, -EINVAL, "proc root '%s' is not absolute",
                                     proc_root);
        if (statfs(proc_root, &sfs) < 0)
                return sigil_err_set(reterr, -errno, "cannot use proc root '%s': %s", proc_root,
                                     strerror(errno));
        if (cfg->skip_pid_check && sfs.f_type == PROC_SUPER_MAGIC_VALUE)
                return sigil_err_set(reterr, -EINVAL,
                                     "pid checks can only be skipped on fixture trees, "
                                     "not on procfs '%s'", proc_root);
        return 0;
}

int workload_attestor_new(const WorkloadAttestConfig *cfg, WorkloadAttestor **ret,
                          SigilErr *reterr) {
        const char *proc_root = cfg->proc_root ? cfg->proc_root : WORKLOAD_PROC_ROOT_DEFAULT;
        _cleanup_(workload_attestor_freep) WorkloadAttestor *a = NULL;
        int r;

        r = check_config(cfg, proc_root, reterr);
        if (r < 0)
                return r;
        a = new0(WorkloadAttestor, 1);
        if (!a)
                return -ENOMEM;
        pthread_mutex_init(&a->warn_lock, NULL);
        a->cfg = *cfg;
        a->proc_root = strdup(proc_root);
        a->names_root = cfg->names_root ? strdup(cfg->names_root) : NULL;
        if (!a->proc_root || (cfg->names_root && !a->names_root))
                return -ENOMEM;
        a->cfg.proc_root = a->proc_root;
        a->cfg.names_root = a->names_root;
        if (a->cfg.groups_max == 0)
                a->cfg.groups_max = WORKLOAD_GROUPS_MAX_DEFAULT;
        if (a->cfg.sha256_size_max == 0)
                a->cfg.sha256_size_max = EXE_HASH_SIZE_MAX_DEFAULT;
        a->names = (UnixNames) { .source = cfg->names, .root = a->names_root };
        r = exe_hash_cache_new(cfg->sha256_cache_entries, &a->cache);
        if (r < 0)
                return sigil_err_set(reterr, r, "sha256 cache size is invalid");
        *ret = TAKE_PTR(a);
        return 0;
}

WorkloadAttestor *workload_attestor_free(WorkloadAttestor *a) {
        if (!a)
                return NULL;
        exe_hash_cache_free(a->cache);
        pthread_mutex_destroy(&a->warn_lock);
        free(a->proc_root);
        free(a->names_root);
        free(a);
        return NULL;
}

void workload_attestor_hash_stats(WorkloadAttestor *a, uint64_t *ret_hashed, uint64_t *ret_hits) {
        ExeHashStats s;

        exe_hash_cache_stats(a->cache, &s);
        *ret_hashed = s.n_hashed;
        *ret_hits = s.n_hits;
}

#define READ_AT_INITIAL 4096u

/*
 * Read a /proc file through the process's directory fd, refusing more than
 * @max bytes. The buffer starts small and doubles: /proc files are mostly a
 * few hundred bytes, and this runs on every Workload API call.
 */
static int read_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_n) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, size = MIN((size_t) READ_AT_INITIAL, max + 1);

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n == size) {
                        size_t bigger = MIN(size * 2, max + 1);
                        char *p = realloc(buf, bigger + 1);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        size = bigger;
                }
                k = read(fd, buf + n, size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

static int pidfd_signal0(int pidfd) {
#ifdef SYS_pidfd_send_signal
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return -errno;
        return 0;
#else
        return -ENOSYS;
#endif
}

/*
 * Is the pidfd's process alive and still @pid here? Signal 0 fails with
 * ESRCH once it has exited; fdinfo's Pid: is -1 once it has been reaped.
 */
static int verify_pidfd(int pidfd, pid_t pid, SigilErr *reterr) {
        _cleanup_(freep) char *text = NULL;
        char path[64];
        pid_t now;
        size_t n;
        int r;

        r = pidfd_signal0(pidfd);
        if (r == -ESRCH)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE, "process %d has exited",
                                     (int) pid);
        if (r < 0 && r != -EPERM)       /* EPERM: it exists, we may not signal it */
                return sigil_err_set(reterr, r, "pidfd of process %d: %s", (int) pid,
                                     strerror(-r));
        (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        r = read_full_file(path, PROC_FDINFO_SIZE_MAX, &text, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", path, strerror(-r));
        r = proc_fdinfo_parse_pid(text, n, &now, reterr);
        if (r == PROC_E_MISSING)        /* an old kernel: signal 0 and starttime must do */
                return 0;
        if (r != 0)
                return sigil_err_prefix(reterr, WORKLOAD_ATTEST_E_MALFORMED, "pidfd fdinfo");
        if (now != pid)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE,
                                     "process %d has exited (pidfd now names pid %d)",
                                     (int) pid, (int) now);
        return 0;
}

static bool is_dead_state(char state) {
        return state == 'Z' || state == 'X' || state == 'x';
}

static int read_stat(int dirfd, pid_t pid, ProcStat *ret, SigilErr *reterr) {
        _cleanup_(freep) char *text = NULL;
        size_t n;
        int r;

        r = read_at(dirfd, "stat", PROC_STAT_SIZE_MAX, &text, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read stat of process %d: %s", (int) pid,
                                     strerror(-r));
        if (proc_stat_parse(text, n, ret, reterr) != 0)
                return sigil_err_prefix(reterr, WORKLOAD_ATTEST_E_MALFORMED, "process %d",
                                        (int) pid);
        if (ret->pid != pid)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_MALFORMED,
                                     "stat of process %d names pid %d", (int) pid,
                                     (int) ret->pid);
        if (is_dead_state(ret->state))
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE,
                                     "process %d is a zombie", (int) pid);
        return 0;
}

static int read_status(int dirfd, const RpcPeerCred *cred, ProcStatus *ret, SigilErr *reterr) {
        _cleanup_(freep) char *text = NULL;
        size_t n;
        int r;

        r = read_at(dirfd, "status", PROC_STATUS_SIZE_MAX, &text, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read status of process %d: %s",
                                     (int) cred->pid, strerror(-r));
        r = proc_status_parse(text, n, ret, reterr);
        if (r == -ENOMEM)
                return r;
        if (r != 0)
                return sigil_err_prefix(reterr, WORKLOAD_ATTEST_E_MALFORMED, "process %d",
                                        (int) cred->pid);
        if (ret->pid != cred->pid)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_MALFORMED,
                                     "status of process %d names pid %d", (int) cred->pid,
                                     (int) ret->pid);
        if (is_dead_state(ret->state))
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE,
                                     "process %d is a zombie", (int) cred->pid);
        if (ret->uid[1] != cred->uid || ret->gid[1] != cred->gid)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_UNTRUSTED,
                                     "process %d runs as uid=%u gid=%u but connected as "
                                     "uid=%u gid=%u", (int) cred->pid, (unsigned) ret->uid[1],
                                     (unsigned) ret->gid[1], (unsigned) cred->uid,
                                     (unsigned) cred->gid);
        return 0;
}

static int attest_cgroup(WorkloadAttestor *a, int dirfd, pid_t pid, SigilSelectorSet *set,
                         unsigned *warnings, SigilErr *reterr) {
        _cleanup_(proc_cgroup_done) ProcCgroup cg = {};
        _cleanup_(freep) char *text = NULL;
        CgroupOptions opts = { .nested = a->cfg.cgroup_nested };
        bool conflict = false;
        size_t n;
        int r;

        r = read_at(dirfd, "cgroup", PROC_CGROUP_SIZE_MAX, &text, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read cgroup of process %d: %s",
                                     (int) pid, strerror(-r));
        r = proc_cgroup_parse(text, n, &cg, reterr);
        if (r == 0)
                r = cgroup_attest(&cg, &opts, set, &conflict, reterr);
        if (r == PROC_E_MALFORMED)
                return sigil_err_prefix(reterr, WORKLOAD_ATTEST_E_MALFORMED, "process %d",
                                        (int) pid);
        if (r != 0)
                return r;
        if (conflict)
                *warnings |= WORKLOAD_WARN_CGROUP_CONFLICT;
        return 0;
}

/* Steps 2 and 4 of the sequence above (2 without a stat to compare). */
static int verify_alive(WorkloadAttestor *a, const RpcPeerCred *cred, int dirfd,
                        const ProcStat *before, SigilErr *reterr) {
        ProcStat now;
        int r;

        if (!a->cfg.skip_pid_check) {
                r = verify_pidfd(cred->pidfd, cred->pid, reterr);
                if (r != 0)
                        return r;
        }
        if (!before)
                return 0;
        r = read_stat(dirfd, cred->pid, &now, reterr);
        if (r == -ENOENT || r == -ESRCH)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE, "process %d has exited",
                                     (int) cred->pid);
        if (r != 0)
                return r;
        if (now.starttime != before->starttime)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE,
                                     "process %d was replaced (start time changed)",
                                     (int) cred->pid);
        return 0;
}

/* A failure after /proc/<pid> was opened: if the process is gone, that is the answer. */
static int fail(WorkloadAttestor *a, const RpcPeerCred *cred, int dirfd, int r,
                SigilErr *reterr) {
        SigilErr e = {};

        if (r == WORKLOAD_ATTEST_E_GONE || r == -ENOMEM)
                return r;
        if (verify_alive(a, cred, dirfd, NULL, &e) == WORKLOAD_ATTEST_E_GONE) {
                if (reterr)
                        *reterr = e;
                return WORKLOAD_ATTEST_E_GONE;
        }
        return r;
}

static int open_proc_dir(WorkloadAttestor *a, const RpcPeerCred *cred, int *ret,
                         SigilErr *reterr) {
        char path[4200];
        int fd;

        if (cred->pid <= 0)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_UNTRUSTED,
                                     "peer pid is not visible in the agent's pid namespace");
        if (!a->cfg.skip_pid_check && cred->pidfd < 0)
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_UNTRUSTED,
                                     "no pidfd for process %d", (int) cred->pid);
        if ((size_t) snprintf(path, sizeof(path), "%s/%d", a->proc_root, (int) cred->pid) >=
            sizeof(path))
                return sigil_err_set(reterr, -ENAMETOOLONG, "proc root is too long");
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && (errno == ENOENT || errno == ESRCH))
                return sigil_err_set(reterr, WORKLOAD_ATTEST_E_GONE, "process %d has exited",
                                     (int) cred->pid);
        if (fd < 0)
                return sigil_err_set(reterr, -errno, "cannot open '%s': %s", path,
                                     strerror(errno));
        *ret = fd;
        return 0;
}

static int collect(WorkloadAttestor *a, const RpcPeerCred *cred, int dirfd,
                   SigilSelectorSet *set, unsigned *warnings, ProcStat *ret_stat,
                   SigilErr *reterr) {
        _cleanup_(proc_status_done) ProcStatus status = {};
        UnixExeOptions exe = {
                .path = a->cfg.unix_path,
                .sha256 = a->cfg.unix_sha256,
                .path_any_mntns = a->cfg.unix_path_any_mntns,
                .size_max = a->cfg.sha256_size_max,
        };
        int r;

        r = read_stat(dirfd, cred->pid, ret_stat, reterr);
        if (r != 0)
                return r;
        r = read_status(dirfd, cred, &status, reterr);
        if (r != 0)
                return r;
        r = unix_attest_ids(&a->names, &status, a->cfg.groups_max, set, warnings, reterr);
        if (r != 0)
                return r;
        if (a->cfg.cgroup) {
                r = attest_cgroup(a, dirfd, cred->pid, set, warnings, reterr);
                if (r != 0)
                        return r;
        }
        return unix_attest_exe(dirfd, &exe, a->cache, set, warnings, reterr);
}

static void log_warnings(WorkloadAttestor *a, const RpcPeerCred *cred, unsigned warnings) {
        uint64_t now = sigil_monotonic_usec();

        pthread_mutex_lock(&a->warn_lock);
        for (unsigned i = 0; i < N_WARNINGS; i++) {
                if (!(warnings & (1u << i)))
                        continue;
                if (a->warn_last_usec[i] != 0 && now - a->warn_last_usec[i] < WARN_INTERVAL_USEC) {
                        a->warn_suppressed[i]++;
                        continue;
                }
                log_warning("Workload attestation: %s pid=%d uid=%u (%" PRIu64
                            " more suppressed)", warning_texts[i], (int) cred->pid,
                            (unsigned) cred->uid, a->warn_suppressed[i]);
                a->warn_last_usec[i] = now;
                a->warn_suppressed[i] = 0;
        }
        pthread_mutex_unlock(&a->warn_lock);
}

int workload_attest(WorkloadAttestor *a, const RpcPeerCred *cred, SigilSelectorSet *ret,
                    unsigned *ret_warnings, SigilErr *reterr) {
        _cleanup_(sigil_selector_set_done) SigilSelectorSet set = {};
        _cleanup_(closep) int dirfd = -1;
        unsigned warnings = 0;
        ProcStat before;
        int r;

        r = open_proc_dir(a, cred, &dirfd, reterr);
        if (r != 0)
                return r;
        r = verify_alive(a, cred, dirfd, NULL, reterr);
        if (r == 0)
                r = collect(a, cred, dirfd, &set, &warnings, &before, reterr);
        if (r != 0)
                return fail(a, cred, dirfd, r, reterr);
        if (a->cfg.test_before_verify)
                a->cfg.test_before_verify(a->cfg.test_userdata);
        r = verify_alive(a, cred, dirfd, &before, reterr);
        if (r != 0)
                return fail(a, cred, dirfd, r, reterr);

        log_warnings(a, cred, warnings);
        if (ret_warnings)
                *ret_warnings = warnings;
        *ret = set;
        set = (SigilSelectorSet) {};
        return 0;
}

int workload_attest_callback(void *userdata, const RpcPeerCred *cred, SigilSelectorSet *ret,
                             SigilErr *reterr) {
        int r = workload_attest(userdata, cred, ret, NULL, reterr);

        switch (r) {
        case WORKLOAD_ATTEST_E_GONE:
                return -ESRCH;
        case WORKLOAD_ATTEST_E_UNTRUSTED:
                return -EPERM;
        case WORKLOAD_ATTEST_E_MALFORMED:
                return -EBADMSG;
        default:
                return r;
        }
}
