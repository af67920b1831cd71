/* SPDX-License-Identifier: Apache-2.0 */
/* unix-names.h - user and group names for the unix attestor: NSS, or passwd/group files */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UNIX_NAMES_FILE_MAX (16u * 1024u * 1024u)
#define UNIX_NAMES_LINE_MAX 4096u
#define UNIX_NAMES_BUFFER_MAX (1024u * 1024u)   /* getpwuid_r()/getgrgid_r() scratch */

typedef enum UnixNamesSource {
        UNIX_NAMES_NSS,         /* getpwuid_r()/getgrgid_r(): whatever nsswitch.conf says */
        UNIX_NAMES_FILES,       /* <root>/etc/passwd and <root>/etc/group (tests, chroots) */
        UNIX_NAMES_NONE,        /* no unix:user, unix:group, unix:supplementary_group */
        _UNIX_NAMES_SOURCE_MAX,
        _UNIX_NAMES_SOURCE_INVALID = -EINVAL,
} UnixNamesSource;

enum {
        _UNIX_NAMES_E_SUCCESS,
        UNIX_NAMES_E_NOT_FOUND,         /* no such user or group (or names are turned off) */
        _UNIX_NAMES_E_MAX,
};

typedef struct UnixNames {
        UnixNamesSource source;
        const char *root;               /* UNIX_NAMES_FILES only; must outlive the struct */
} UnixNames;

/**
 * unix_names_user() - the name of user @uid
 * @names:      where names come from
 * @uid:        the user ID
 * @ret:        on success, a new string
 *
 * Return: 0, UNIX_NAMES_E_NOT_FOUND or negative errno.
 */
int unix_names_user(const UnixNames *names, uid_t uid, char **ret);

/**
 * unix_names_group() - the name of group @gid
 * @names:      where names come from
 * @gid:        the group ID
 * @ret:        on success, a new string
 *
 * Return: 0, UNIX_NAMES_E_NOT_FOUND or negative errno.
 */
int unix_names_group(const UnixNames *names, gid_t gid, char **ret);

/**
 * unix_names_parse_db() - find the entry with ID @id in passwd or group text
 * @text:       the file (untrusted: lines of "name:password:ID:...")
 * @n:          its length
 * @id:         the uid or gid (the third field of either file)
 * @ret:        on success, the name of the first matching entry
 *
 * Pure. Lines that are empty, comments ('#'), NIS compat ('+', '-'), over
 * UNIX_NAMES_LINE_MAX or without a numeric third field are skipped, as
 * glibc's files module does; a NUL anywhere rejects the whole text.
 *
 * Return: 0, UNIX_NAMES_E_NOT_FOUND, -EBADMSG (NUL, or over UNIX_NAMES_FILE_MAX) or -ENOMEM.
 */
int unix_names_parse_db(const char *text, size_t n, uint32_t id, char **ret);
