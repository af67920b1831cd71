/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User and group names for unix:user, unix:group and unix:supplementary_group.
 *
 * Names are looked up by ID, never the other way round: the IDs come from the
 * kernel (SO_PEERCRED and /proc/<pid>/status) and are what is attested; a
 * name is only a second spelling of the same ID, so an ID without a name (a
 * container's user unknown to the host) simply yields no name selector.
 *
 * In production the names come from NSS, which may be LDAP or sssd behind
 * the scenes and may block; the caller runs on a worker thread. Tests and
 * chroot setups read passwd/group files under a root directory instead,
 * parsed here with the same caution as /proc text.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "proc-parse.h"
#include "sigil/macro.h"
#include "unix-names.h"

/* A copy of @n bytes as a string; unlike strndup() it never looks past them for a NUL. */
static char *memdup_str(const char *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

/* The third ':'-separated field of @line, and the first (the name). */
static bool db_line_id(const char *line, size_t n, uint32_t *ret_id, size_t *ret_n_name) {
        const char *c1 = memchr(line, ':', n), *c2, *c3;

        if (!c1 || c1 == line)
                return false;
        c2 = memchr(c1 + 1, ':', n - (size_t) (c1 + 1 - line));
        if (!c2)
                return false;
        c3 = memchr(c2 + 1, ':', n - (size_t) (c2 + 1 - line));
        if (!c3)
                return false;
        if (proc_parse_u32(c2 + 1, (size_t) (c3 - c2 - 1), ret_id) != 0)
                return false;
        *ret_n_name = (size_t) (c1 - line);
        return true;
}

int unix_names_parse_db(const char *text, size_t n, uint32_t id, char **ret) {
        size_t off = 0;

        if (n > UNIX_NAMES_FILE_MAX || memchr(text, '\0', n))
                return -EBADMSG;
        while (off < n) {
                const char *nl = memchr(text + off, '\n', n - off);
                size_t len = nl ? (size_t) (nl - text - off) : n - off, n_name;
                const char *line = text + off;
                uint32_t v;

                off += len + 1;
                if (len == 0 || len > UNIX_NAMES_LINE_MAX || strchr("#+-", line[0]))
                        continue;
                if (!db_line_id(line, len, &v, &n_name) || v != id)
                        continue;
                *ret = memdup_str(line, n_name);
                return *ret ? 0 : -ENOMEM;
        }
        return UNIX_NAMES_E_NOT_FOUND;
}

static int names_from_file(const char *root, const char *file, uint32_t id, char **ret) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        size_t n;
        int r;

        if (asprintf(&path, "%s/etc/%s", root, file) < 0)
                return -ENOMEM;
        r = read_full_file(path, UNIX_NAMES_FILE_MAX, &text, &n);
        if (r == -ENOENT)
                return UNIX_NAMES_E_NOT_FOUND;
        if (r < 0)
                return r;
        return unix_names_parse_db(text, n, id, ret);
}

/* Start with what sysconf suggests and double on ERANGE, up to UNIX_NAMES_BUFFER_MAX. */
static size_t initial_buffer(int name) {
        long k = sysconf(name);

        return k > 0 && (unsigned long) k <= UNIX_NAMES_BUFFER_MAX ? (size_t) k : 4096;
}

static int nss_user(uid_t uid, char **ret) {
        for (size_t size = initial_buffer(_SC_GETPW_R_SIZE_MAX); size <= UNIX_NAMES_BUFFER_MAX;
             size *= 2) {
                _cleanup_(freep) char *buf = malloc(size);
                struct passwd pw, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, size, &res);
                if (r == ERANGE)
                        continue;
                if (r != 0)
                        return -r;
                if (!res || isempty(res->pw_name))
                        return UNIX_NAMES_E_NOT_FOUND;
                *ret = strdup(res->pw_name);
                return *ret ? 0 : -ENOMEM;
        }
        return -ERANGE;
}

static int nss_group(gid_t gid, char **ret) {
        for (size_t size = initial_buffer(_SC_GETGR_R_SIZE_MAX); size <= UNIX_NAMES_BUFFER_MAX;
             size *= 2) {
                _cleanup_(freep) char *buf = malloc(size);
                struct group gr, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getgrgid_r(gid, &gr, buf, size, &res);
                if (r == ERANGE)
                        continue;
                if (r != 0)
                        return -r;
                if (!res || isempty(res->gr_name))
                        return UNIX_NAMES_E_NOT_FOUND;
                *ret = strdup(res->gr_name);
                return *ret ? 0 : -ENOMEM;
        }
        return -ERANGE;
}

int unix_names_user(const UnixNames *names, uid_t uid, char **ret) {
        switch (names->source) {
        case UNIX_NAMES_NSS:
                return nss_user(uid, ret);
        case UNIX_NAMES_FILES:
                return names_from_file(names->root, "passwd", (uint32_t) uid, ret);
        default:
                return UNIX_NAMES_E_NOT_FOUND;
        }
}

int unix_names_group(const UnixNames *names, gid_t gid, char **ret) {
        switch (names->source) {
        case UNIX_NAMES_NSS:
                return nss_group(gid, ret);
        case UNIX_NAMES_FILES:
                return names_from_file(names->root, "group", (uint32_t) gid, ret);
        default:
                return UNIX_NAMES_E_NOT_FOUND;
        }
}
