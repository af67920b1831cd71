/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc parsers: untrusted text -> validated structs. No I/O; limits are
 * PROC_*_MAX. Fuzzed by tests/fuzz/fuzz-proc.c.
 *
 * The workload controls much of what these files say (its comm, its cgroup
 * names where it has delegation, its groups through whoever started it), so
 * the rule is the kernel's exact format or nothing: every line ends in '\n',
 * no NUL anywhere, numbers are plain decimals that fit, the fields the
 * attestors rely on appear exactly once. A parse either yields a complete,
 * consistent struct or fails with the first line that broke the rule.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proc-parse.h"
#include "sigil/macro.h"

typedef struct Line {
        const char *p;
        size_t n;               /* without the '\n' */
        size_t no;              /* 1-based */
} Line;

typedef struct LineCursor {
        const char *text;
        size_t n, off, no;
} LineCursor;

/* Next '\n'-terminated line; false at the end. The caller has checked the text ends in '\n'. */
static bool line_next(LineCursor *c, Line *ret) {
        const char *nl;

        if (c->off >= c->n)
                return false;
        nl = memchr(c->text + c->off, '\n', c->n - c->off);
        if (!nl)
                return false;
        *ret = (Line) { .p = c->text + c->off, .n = (size_t) (nl - (c->text + c->off)),
                        .no = ++c->no };
        c->off += ret->n + 1;
        return true;
}

/* The shape every line-oriented /proc file shares: non-empty, no NUL, ends with '\n'. */
static int check_text(const char *text, size_t n, size_t max, const char *what,
                      SigilErr *reterr) {
        if (n == 0)
                return sigil_err_set(reterr, PROC_E_MALFORMED, "%s is empty", what);
        if (n > max)
                return sigil_err_set(reterr, PROC_E_MALFORMED, "%s is larger than %zu bytes",
                                     what, max);
        if (memchr(text, '\0', n))
                return sigil_err_set(reterr, PROC_E_MALFORMED, "%s contains a NUL byte", what);
        if (text[n - 1] != '\n')
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "%s does not end with a newline (truncated?)", what);
        return 0;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
                return PROC_E_MALFORMED;
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (!is_digit(s[i]))
                        return PROC_E_MALFORMED;
                d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return PROC_E_MALFORMED;
                v = v * 10 + d;
        }
        if (v > max)
                return PROC_E_MALFORMED;
        *ret = v;
        return 0;
}

int proc_parse_u32(const char *s, size_t n, uint32_t *ret) {
        uint64_t v;

        if (parse_u64(s, n, UINT32_MAX, &v) != 0)
                return PROC_E_MALFORMED;
        *ret = (uint32_t) v;
        return 0;
}

static int parse_pid(const char *s, size_t n, pid_t min, pid_t *ret) {
        uint64_t v;

        if (parse_u64(s, n, PROC_PID_MAX, &v) != 0 || v < (uint64_t) min)
                return PROC_E_MALFORMED;
        *ret = (pid_t) v;
        return 0;
}

/* A uid or gid: 32 bits, but never (uid_t) -1, which means "no change" to the kernel. */
static int parse_id(const char *s, size_t n, uint32_t *ret) {
        uint32_t v;

        if (proc_parse_u32(s, n, &v) != 0 || v == UINT32_MAX)
                return PROC_E_MALFORMED;
        *ret = v;
        return 0;
}

static bool is_key_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

/* "Key:" then the value; the key is [A-Za-z0-9_]+. */
static int split_key(const Line *l, const char **ret_key, size_t *ret_n_key,
                     const char **ret_value, size_t *ret_n_value) {
        const char *colon = memchr(l->p, ':', l->n);
        size_t k;

        if (!colon)
                return PROC_E_MALFORMED;
        k = (size_t) (colon - l->p);
        if (k == 0 || k > PROC_STATUS_KEY_MAX)
                return PROC_E_MALFORMED;
        for (size_t i = 0; i < k; i++)
                if (!is_key_char(l->p[i]))
                        return PROC_E_MALFORMED;
        *ret_key = l->p;
        *ret_n_key = k;
        *ret_value = colon + 1;
        *ret_n_value = l->n - k - 1;
        return 0;
}

static bool key_is(const char *key, size_t n_key, const char *want) {
        return n_key == strlen(want) && memcmp(key, want, n_key) == 0;
}

/* The value after "Key:" must start with one tab; return what follows it. */
static int after_tab(const char *v, size_t n, const char **ret, size_t *ret_n) {
        if (n == 0 || v[0] != '\t')
                return PROC_E_MALFORMED;
        *ret = v + 1;
        *ret_n = n - 1;
        return 0;
}

/* "Uid:\t<real>\t<effective>\t<saved>\t<fs>" (and Gid). */
static int parse_id_quad(const char *v, size_t n, uint32_t ret[4]) {
        uint32_t ids[4];
        size_t start = 0, k = 0;

        for (size_t i = 0; i <= n; i++) {
                if (i < n && v[i] != '\t')
                        continue;
                if (k >= 4 || parse_id(v + start, i - start, &ids[k]) != 0)
                        return PROC_E_MALFORMED;
                k++;
                start = i + 1;
        }
        if (k != 4)
                return PROC_E_MALFORMED;
        memcpy(ret, ids, sizeof(ids));
        return 0;
}

/*
 * "Groups:\t1 2 3 \n": each group followed by one space (older kernels) or
 * separated by spaces with one trailing space (newer); no groups is "" or " ".
 */
static int parse_groups(const char *v, size_t n, ProcStatus *s) {
        _cleanup_(freep) gid_t *groups = NULL;
        size_t n_groups = 0, i = 0;

        if (n > 0 && v[n - 1] == ' ')
                n--;
        if (n == 0)
                return 0;
        groups = newa_checked(gid_t, MIN(n / 2 + 1, (size_t) PROC_GROUPS_MAX));
        if (!groups)
                return -ENOMEM;
        while (i <= n) {
                const char *sp = memchr(v + i, ' ', n - i);
                size_t end = sp ? (size_t) (sp - v) : n;
                uint32_t g;

                if (n_groups >= PROC_GROUPS_MAX || parse_id(v + i, end - i, &g) != 0)
                        return PROC_E_MALFORMED;
                groups[n_groups++] = g;
                i = end + 1;
        }
        s->groups = TAKE_PTR(groups);
        s->n_groups = n_groups;
        return 0;
}

/* "State:\tS (sleeping)": the letter, then nothing or a space and a description. */
static int parse_state(const char *v, size_t n, char *ret) {
        static const char states[] = "RSDZTtXxKWIP";

        if (n == 0 || !strchr(states, v[0]) || (n > 1 && v[1] != ' '))
                return PROC_E_MALFORMED;
        *ret = v[0];
        return 0;
}

enum {
        SEEN_STATE = 1 << 0,
        SEEN_PID = 1 << 1,
        SEEN_PPID = 1 << 2,
        SEEN_UID = 1 << 3,
        SEEN_GID = 1 << 4,
        SEEN_GROUPS = 1 << 5,
        SEEN_REQUIRED = SEEN_STATE | SEEN_PID | SEEN_UID | SEEN_GID | SEEN_GROUPS,
};

static const struct {
        const char *key;
        unsigned bit;
} status_keys[] = {
        { "State", SEEN_STATE }, { "Pid", SEEN_PID },   { "PPid", SEEN_PPID },
        { "Uid", SEEN_UID },     { "Gid", SEEN_GID },   { "Groups", SEEN_GROUPS },
};

static int status_field(unsigned bit, const char *v, size_t n, ProcStatus *s) {
        uint32_t ids[4];
        int r;

        switch (bit) {
        case SEEN_STATE:
                return parse_state(v, n, &s->state);
        case SEEN_PID:
                return parse_pid(v, n, 1, &s->pid);
        case SEEN_PPID:
                return parse_pid(v, n, 0, &s->ppid);
        case SEEN_GROUPS:
                return parse_groups(v, n, s);
        default:
                r = parse_id_quad(v, n, ids);
                if (r != 0)
                        return r;
                for (size_t i = 0; i < 4; i++) {
                        if (bit == SEEN_UID)
                                s->uid[i] = (uid_t) ids[i];
                        else
                                s->gid[i] = (gid_t) ids[i];
                }
                return 0;
        }
}

static int status_line(const Line *l, unsigned *seen, ProcStatus *s, SigilErr *reterr) {
        const char *key, *v;
        size_t n_key, n_v;
        int r;

        if (split_key(l, &key, &n_key, &v, &n_v) != 0)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "status line %zu is not 'Key:<value>'", l->no);
        if (l->n > PROC_STATUS_LINE_MAX && !key_is(key, n_key, "Groups"))
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "status line %zu is longer than %u bytes", l->no,
                                     PROC_STATUS_LINE_MAX);
        for (size_t i = 0; i < ELEMENTSOF(status_keys); i++) {
                if (!key_is(key, n_key, status_keys[i].key))
                        continue;
                if (*seen & status_keys[i].bit)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "status line %zu: a second '%s:'", l->no,
                                             status_keys[i].key);
                *seen |= status_keys[i].bit;
                r = after_tab(v, n_v, &v, &n_v);
                if (r == 0)
                        r = status_field(status_keys[i].bit, v, n_v, s);
                if (r == -ENOMEM)
                        return r;
                if (r != 0)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "status line %zu: malformed '%s:'", l->no,
                                             status_keys[i].key);
                return 0;
        }
        return 0;
}

int proc_status_parse(const char *text, size_t n, ProcStatus *ret, SigilErr *reterr) {
        _cleanup_(proc_status_done) ProcStatus s = {};
        LineCursor c = { .text = text, .n = n };
        unsigned seen = 0;
        Line l;
        int r;

        r = check_text(text, n, PROC_STATUS_SIZE_MAX, "status", reterr);
        if (r != 0)
                return r;
        while (line_next(&c, &l)) {
                if (l.no > PROC_STATUS_LINES_MAX)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "status has more than %u lines",
                                             PROC_STATUS_LINES_MAX);
                r = status_line(&l, &seen, &s, reterr);
                if (r != 0)
                        return r;
        }
        if ((seen & SEEN_REQUIRED) != SEEN_REQUIRED)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "status lacks one of State:, Pid:, Uid:, Gid:, Groups:");
        *ret = s;
        s = (ProcStatus) {};
        return 0;
}

void proc_status_done(ProcStatus *s) {
        if (!s)
                return;
        free(s->groups);
        *s = (ProcStatus) {};
}

/* A signed decimal as the kernel prints it: optional '-', digits, no leading zero. */
static int parse_stat_number(const char *s, size_t n, uint64_t *ret_abs) {
        if (n > 0 && s[0] == '-') {
                if (n == 2 && s[1] == '0')
                        return PROC_E_MALFORMED;
                s++;
                n--;
        }
        return parse_u64(s, n, UINT64_MAX, ret_abs);
}

/* Fields 3.. of stat ("S ppid pgrp ..."): the state letter, then numbers. */
static int stat_fields(const char *p, size_t n, ProcStat *st) {
        size_t i = 0, field = 3;

        if (n < 2 || parse_state(p, 1, &st->state) != 0 || p[1] != ' ')
                return PROC_E_MALFORMED;
        i = 2;
        while (i < n) {
                const char *sp = memchr(p + i, ' ', n - i);
                size_t end = sp ? (size_t) (sp - p) : n;
                uint64_t v;

                field++;
                if (field > PROC_STAT_FIELDS_MAX || parse_stat_number(p + i, end - i, &v) != 0)
                        return PROC_E_MALFORMED;
                if (field == 4) {
                        if (p[i] == '-' || v > PROC_PID_MAX)
                                return PROC_E_MALFORMED;
                        st->ppid = (pid_t) v;
                }
                if (field == 22) {
                        if (p[i] == '-')
                                return PROC_E_MALFORMED;
                        st->starttime = v;
                }
                if (!sp)
                        break;
                i = end + 1;
                if (i == n)     /* a trailing space */
                        return PROC_E_MALFORMED;
        }
        return field >= 22 ? 0 : PROC_E_MALFORMED;
}

int proc_stat_parse(const char *text, size_t n, ProcStat *ret, SigilErr *reterr) {
        const char *open, *close;
        ProcStat st = {};
        int r;

        r = check_text(text, n, PROC_STAT_SIZE_MAX, "stat", reterr);
        if (r != 0)
                return r;
        n--;    /* the final '\n' */

        /* "pid (comm) S ...": comm may hold spaces and parentheses, so use the last ')'. */
        open = memchr(text, '(', n);
        close = open ? memrchr(open, ')', n - (size_t) (open - text)) : NULL;
        if (!open || !close || open == text || open[-1] != ' ')
                return sigil_err_set(reterr, PROC_E_MALFORMED, "stat is not 'pid (comm) ...'");
        if ((size_t) (close - open - 1) > PROC_STAT_COMM_MAX)
                return sigil_err_set(reterr, PROC_E_MALFORMED, "stat comm is too long");
        if (parse_pid(text, (size_t) (open - 1 - text), 1, &st.pid) != 0)
                return sigil_err_set(reterr, PROC_E_MALFORMED, "stat has a malformed pid");
        if ((size_t) (close - text) + 2 > n || close[1] != ' ')
                return sigil_err_set(reterr, PROC_E_MALFORMED, "stat ends after comm");
        if (stat_fields(close + 2, n - (size_t) (close + 2 - text), &st) != 0)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "stat fields after comm are malformed or too few");
        *ret = st;
        return 0;
}

/* A copy of @n bytes as a string; unlike strndup() it never looks past them for a NUL. */
static char *memdup_str(const char *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static bool is_controller_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
               c == '-' || c == '.' || c == '=' || c == ',';
}

static int cgroup_line(const Line *l, ProcCgroupLine *ret, SigilErr *reterr) {
        const char *c1, *c2;
        size_t n_ctl, n_path;
        uint32_t h;

        c1 = memchr(l->p, ':', l->n);
        c2 = c1 ? memchr(c1 + 1, ':', l->n - (size_t) (c1 + 1 - l->p)) : NULL;
        if (!c2)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "cgroup line %zu is not 'hierarchy:controllers:path'",
                                     l->no);
        if (proc_parse_u32(l->p, (size_t) (c1 - l->p), &h) != 0 || h > PROC_CGROUP_HIERARCHY_MAX)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "cgroup line %zu: malformed hierarchy ID", l->no);
        n_ctl = (size_t) (c2 - c1 - 1);
        n_path = l->n - (size_t) (c2 + 1 - l->p);
        if (n_ctl > PROC_CGROUP_CONTROLLERS_MAX || (h == 0) != (n_ctl == 0))
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "cgroup line %zu: controllers do not fit hierarchy %u",
                                     l->no, (unsigned) h);
        for (size_t i = 0; i < n_ctl; i++)
                if (!is_controller_char(c1[1 + i]))
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "cgroup line %zu: malformed controller list",
                                             l->no);
        if (n_path == 0 || c2[1] != '/' || n_path > PROC_CGROUP_PATH_MAX)
                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                     "cgroup line %zu: the path is empty, relative or longer "
                                     "than %u bytes", l->no, PROC_CGROUP_PATH_MAX);
        ret->hierarchy = (unsigned) h;
        ret->controllers = memdup_str(c1 + 1, n_ctl);
        ret->path = memdup_str(c2 + 1, n_path);
        if (!ret->controllers || !ret->path)
                return -ENOMEM;
        return 0;
}

int proc_cgroup_parse(const char *text, size_t n, ProcCgroup *ret, SigilErr *reterr) {
        _cleanup_(proc_cgroup_done) ProcCgroup cg = {};
        LineCursor c = { .text = text, .n = n };
        Line l;
        int r;

        r = check_text(text, n, PROC_CGROUP_SIZE_MAX, "cgroup", reterr);
        if (r != 0)
                return r;
        cg.lines = new0(ProcCgroupLine, PROC_CGROUP_LINES_MAX);
        if (!cg.lines)
                return -ENOMEM;
        while (line_next(&c, &l)) {
                if (cg.n_lines >= PROC_CGROUP_LINES_MAX)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "cgroup has more than %u lines",
                                             PROC_CGROUP_LINES_MAX);
                r = cgroup_line(&l, &cg.lines[cg.n_lines++], reterr);
                if (r != 0)
                        return r;
                for (size_t i = 0; i + 1 < cg.n_lines; i++)
                        if (cg.lines[i].hierarchy == cg.lines[cg.n_lines - 1].hierarchy)
                                return sigil_err_set(reterr, PROC_E_MALFORMED,
                                                     "cgroup line %zu repeats hierarchy %u",
                                                     l.no, cg.lines[i].hierarchy);
        }
        *ret = cg;
        cg = (ProcCgroup) {};
        return 0;
}

void proc_cgroup_done(ProcCgroup *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_lines; i++) {
                free(c->lines[i].controllers);
                free(c->lines[i].path);
        }
        free(c->lines);
        *c = (ProcCgroup) {};
}

int proc_fdinfo_parse_pid(const char *text, size_t n, pid_t *ret_pid, SigilErr *reterr) {
        LineCursor c = { .text = text, .n = n };
        bool found = false;
        pid_t pid = 0;
        Line l;
        int r;

        r = check_text(text, n, PROC_FDINFO_SIZE_MAX, "fdinfo", reterr);
        if (r != 0)
                return r;
        while (line_next(&c, &l)) {
                const char *key, *v;
                size_t n_key, n_v;

                if (split_key(&l, &key, &n_key, &v, &n_v) != 0)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "fdinfo line %zu is not 'key:<value>'", l.no);
                if (!key_is(key, n_key, "Pid"))
                        continue;
                if (found || after_tab(v, n_v, &v, &n_v) != 0)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "fdinfo line %zu: malformed or repeated 'Pid:'",
                                             l.no);
                if (n_v == 2 && v[0] == '-' && v[1] == '1')
                        pid = -1;
                else if (parse_pid(v, n_v, 0, &pid) != 0)
                        return sigil_err_set(reterr, PROC_E_MALFORMED,
                                             "fdinfo line %zu: malformed pid", l.no);
                found = true;
        }
        if (!found)
                return sigil_err_set(reterr, PROC_E_MISSING, "fdinfo has no 'Pid:' line");
        *ret_pid = pid;
        return 0;
}
