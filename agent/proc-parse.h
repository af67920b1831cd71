/* SPDX-License-Identifier: Apache-2.0 */
/* proc-parse.h - pure parsers of the /proc text the workload attestors read */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sigil/error.h"

/*
 * Everything under /proc/<pid> is written, directly or not, by the workload
 * being attested, so these parsers take pointer + length, do no I/O, accept
 * exactly what the kernel prints and reject the rest. Callers read the files
 * with the *_SIZE_MAX caps below. Fuzzed by tests/fuzz/fuzz-proc.c.
 */

#define PROC_PID_MAX 4194304                    /* PID_MAX_LIMIT */
#define PROC_GROUPS_MAX 65536u                  /* NGROUPS_MAX */

#define PROC_STATUS_SIZE_MAX (1024u * 1024u)    /* a Groups: line of PROC_GROUPS_MAX fits */
#define PROC_STATUS_LINE_MAX 4096u              /* any status line but Groups: */
#define PROC_STATUS_LINES_MAX 256u
#define PROC_STATUS_KEY_MAX 64u

#define PROC_STAT_SIZE_MAX 4096u
#define PROC_STAT_COMM_MAX 64u                  /* kernel threads may exceed TASK_COMM_LEN */
#define PROC_STAT_FIELDS_MAX 64u

#define PROC_CGROUP_SIZE_MAX (256u * 1024u)
#define PROC_CGROUP_LINES_MAX 64u
#define PROC_CGROUP_PATH_MAX 4096u
#define PROC_CGROUP_CONTROLLERS_MAX 256u
#define PROC_CGROUP_HIERARCHY_MAX 65535u

#define PROC_FDINFO_SIZE_MAX 4096u

typedef struct ProcStatus ProcStatus;
typedef struct ProcStat ProcStat;
typedef struct ProcCgroupLine ProcCgroupLine;
typedef struct ProcCgroup ProcCgroup;

enum {
        _PROC_E_SUCCESS,
        PROC_E_MALFORMED,       /* not what the kernel prints, or over a limit */
        PROC_E_MISSING,         /* well formed, but the field asked for is absent */
        _PROC_E_MAX,
};

/* The fields of /proc/<pid>/status the attestors use. */
struct ProcStatus {
        char state;             /* 'R', 'S', 'D', 'Z', 'T', 't', 'X', 'I', ... */
        pid_t pid;
        pid_t ppid;
        uid_t uid[4];           /* real, effective, saved, filesystem */
        gid_t gid[4];
        gid_t *groups;          /* supplementary groups, as the kernel lists them */
        size_t n_groups;
};

/* The fields of /proc/<pid>/stat the race checks use. */
struct ProcStat {
        pid_t pid;
        char state;
        pid_t ppid;
        uint64_t starttime;     /* clock ticks after boot: with pid, identifies a process */
};

/* One line of /proc/<pid>/cgroup: "hierarchy:controllers:path". */
struct ProcCgroupLine {
        unsigned hierarchy;     /* 0 for the cgroup v2 (unified) line */
        char *controllers;      /* "" on the v2 line; "cpu,cpuacct" or "name=systemd" on v1 */
        char *path;             /* starts with '/'; may contain ':' */
};

struct ProcCgroup {
        ProcCgroupLine *lines;
        size_t n_lines;
};

/**
 * proc_status_parse() - parse /proc/<pid>/status
 * @text:       the file's bytes (untrusted)
 * @n:          their number
 * @ret:        on success, the fields; release with proc_status_done()
 * @reterr:     on failure, which line and why; may be NULL
 *
 * Requires State:, Pid:, Uid:, Gid: and Groups:, each once; other lines are
 * checked for shape (key, length, no NUL) and skipped.
 *
 * Return: 0, PROC_E_MALFORMED or -ENOMEM.
 */
int proc_status_parse(const char *text, size_t n, ProcStatus *ret, SigilErr *reterr);
void proc_status_done(ProcStatus *s);

/**
 * proc_stat_parse() - parse /proc/<pid>/stat up to the fields the race checks need
 * @text:       the file's bytes (untrusted; comm may hold any byte but NUL)
 * @n:          their number
 * @ret:        on success, pid, state, ppid and starttime
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0 or PROC_E_MALFORMED.
 */
int proc_stat_parse(const char *text, size_t n, ProcStat *ret, SigilErr *reterr);

/**
 * proc_cgroup_parse() - parse /proc/<pid>/cgroup (v1 lines, the v2 line, or both)
 * @text:       the file's bytes (untrusted)
 * @n:          their number
 * @ret:        on success, the lines in file order; release with proc_cgroup_done()
 * @reterr:     on failure, which line and why; may be NULL
 *
 * Each hierarchy may appear once; the v2 line has no controllers; every path
 * starts with '/'. Cgroup names can hold neither '/' nor '\n' (the kernel
 * refuses both), so a name cannot forge a line of its own.
 *
 * Return: 0, PROC_E_MALFORMED or -ENOMEM.
 */
int proc_cgroup_parse(const char *text, size_t n, ProcCgroup *ret, SigilErr *reterr);
void proc_cgroup_done(ProcCgroup *c);

/**
 * proc_fdinfo_parse_pid() - the "Pid:" of a pidfd's /proc/self/fdinfo/<fd>
 * @text:       the file's bytes
 * @n:          their number
 * @ret_pid:    on success, the pid in the reader's namespace: -1 once the
 *              process has been reaped, 0 when it is not visible there
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, PROC_E_MALFORMED, or PROC_E_MISSING (a kernel without the line).
 */
int proc_fdinfo_parse_pid(const char *text, size_t n, pid_t *ret_pid, SigilErr *reterr);

/**
 * proc_parse_u32() - a strict decimal: digits only, no sign, no leading zero, fits in 32 bits
 * @s:          text
 * @n:          its length
 * @ret:        on success, the value
 *
 * Return: 0 or PROC_E_MALFORMED.
 */
int proc_parse_u32(const char *s, size_t n, uint32_t *ret);
