/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPIFFE IDs and trust domains (SPIFFE-ID.md section 2), parsed from
 * untrusted bytes.
 *
 * The grammar is small enough to check byte by byte, without a general URI
 * parser and without any decoding or case folding. A SigilSpiffeId only ever
 * holds bytes that passed these checks, so its text is canonical and two IDs
 * are equal exactly when their bytes are.
 *
 * Policy choices the spec leaves open (docs/security.md):
 *   - the scheme and the trust domain must already be lowercase; they are
 *     never folded, so look-alikes such as U+212A KELVIN SIGN cannot become
 *     ASCII letters (go-spiffe does the same; DIV-01, DIV-16);
 *   - the whole ID may be at most SIGIL_SPIFFEID_MAX (2048) bytes and the
 *     trust domain SIGIL_TRUST_DOMAIN_MAX (255) bytes, for parsing as well as
 *     for building (DIV-03, DIV-04);
 *   - a trust domain given as a SPIFFE ID is validated as a whole ID (DIV-02).
 *
 * Every rejection says which rule failed. Fuzzed by tests/fuzz/fuzz-spiffeid.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sigil/spiffeid.h"

#define SCHEME_LEN (sizeof(SIGIL_SPIFFE_SCHEME) - 1)

#define TD_CHARSET_MSG                                                                        \
        "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and " \
        "underscores"
#define PATH_CHARSET_MSG                                                                      \
        "path segment characters are limited to letters, numbers, dots, dashes, and underscores"

static bool is_td_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_';
}

static bool is_path_char(char c) {
        return is_td_char(c) || (c >= 'A' && c <= 'Z');
}

/*
 * Check the characters of a trust domain of @n bytes (the URI authority).
 * @what names the thing being parsed in the URI-component messages, so that
 * a bare name with a port is not reported as a SPIFFE ID with one.
 */
static int check_trust_domain(const char *td, size_t n, const char *what, SigilErr *reterr) {
        if (memchr(td, '@', n))
                return sigil_err_set(reterr, -EINVAL, "%s must not contain userinfo", what);
        if (memchr(td, ':', n) && !memchr(td, '[', n))
                return sigil_err_set(reterr, -EINVAL, "%s must not contain a port", what);
        if (n == 0)
                return sigil_err_set(reterr, -EINVAL, "trust domain is missing");
        if (memchr(td, '%', n))
                return sigil_err_set(reterr, -EINVAL,
                                     "trust domain must not contain percent-encoded characters");
        for (size_t i = 0; i < n; i++)
                if (!is_td_char(td[i]))
                        return sigil_err_set(reterr, -EINVAL, TD_CHARSET_MSG);
        if (n > SIGIL_TRUST_DOMAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "trust domain is longer than %d bytes",
                                     SIGIL_TRUST_DOMAIN_MAX);
        return 0;
}

/* Check one path segment (without its leading '/'); @last tells a trailing slash apart. */
static int check_segment(const char *seg, size_t n, bool last, SigilErr *reterr) {
        if (n == 0)
                return sigil_err_set(reterr, -EINVAL,
                                     last ? "path cannot have a trailing slash"
                                          : "path cannot contain empty segments");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return sigil_err_set(reterr, -EINVAL, "path segment cannot be '.' or '..'");
        if (memchr(seg, '%', n))
                return sigil_err_set(reterr, -EINVAL,
                                     "path must not contain percent-encoded characters");
        for (size_t i = 0; i < n; i++)
                if (!is_path_char(seg[i]))
                        return sigil_err_set(reterr, -EINVAL, PATH_CHARSET_MSG);
        return 0;
}

/* Check a path of @n bytes: empty, or one or more "/segment". */
static int check_path(const char *path, size_t n, SigilErr *reterr) {
        size_t i = 0;
        int r;

        if (n == 0)
                return 0;
        if (path[0] != '/')
                return sigil_err_set(reterr, -EINVAL, "path must be empty or start with '/'");
        while (i < n) {
                const char *seg = path + i + 1;
                const char *slash = memchr(seg, '/', n - i - 1);
                size_t n_seg = slash ? (size_t) (slash - seg) : n - i - 1;

                r = check_segment(seg, n_seg, !slash, reterr);
                if (r < 0)
                        return r;
                i += 1 + n_seg;
        }
        return 0;
}

/* Tell a wrong scheme apart from an uppercase one, which is a common mistake worth naming. */
static int scheme_error(const char *s, size_t n, SigilErr *reterr) {
        bool upper = n >= SCHEME_LEN;

        for (size_t i = 0; upper && i < SCHEME_LEN; i++) {
                char c = s[i], want = SIGIL_SPIFFE_SCHEME[i];

                upper = c == want || (want >= 'a' && want <= 'z' && c == want - 'a' + 'A');
        }
        if (upper)
                return sigil_err_set(reterr, -EINVAL,
                                     "scheme is missing or invalid: it must be 'spiffe://' "
                                     "in lowercase");
        return sigil_err_set(reterr, -EINVAL,
                             "scheme is missing or invalid: a SPIFFE ID starts with 'spiffe://'");
}

/* Validate @n bytes as a SPIFFE ID; on success *ret_n_td is the trust domain's length. */
static int check_id(const char *s, size_t n, size_t *ret_n_td, SigilErr *reterr) {
        const char *td, *end = s + n;
        size_t n_td;
        int r;

        if (n == 0)
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is empty");
        if (n > SIGIL_SPIFFEID_MAX)
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is longer than %d bytes",
                                     SIGIL_SPIFFEID_MAX);
        if (memchr(s, '\0', n))
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID must not contain a NUL byte");
        if (n < SCHEME_LEN || memcmp(s, SIGIL_SPIFFE_SCHEME, SCHEME_LEN) != 0)
                return scheme_error(s, n, reterr);

        /* The authority ends at the first '/', '?' or '#' (RFC 3986 section 3.2). */
        td = s + SCHEME_LEN;
        for (n_td = 0; td + n_td < end; n_td++)
                if (td[n_td] == '/' || td[n_td] == '?' || td[n_td] == '#')
                        break;
        if (memchr(td, '?', (size_t) (end - td)))
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID must not contain a query");
        if (memchr(td, '#', (size_t) (end - td)))
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID must not contain a fragment");

        r = check_trust_domain(td, n_td, "SPIFFE ID", reterr);
        if (r < 0)
                return r;
        r = check_path(td + n_td, (size_t) (end - td - n_td), reterr);
        if (r < 0)
                return r;
        *ret_n_td = n_td;
        return 0;
}

int sigil_spiffeid_parse(const char *s, size_t n, SigilSpiffeId *ret, SigilErr *reterr) {
        size_t n_td;
        int r;

        if (!s)
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is missing");
        r = check_id(s, n, &n_td, reterr);
        if (r < 0)
                return r;
        memcpy(ret->str, s, n);
        ret->str[n] = '\0';
        ret->n_str = n;
        ret->n_td = n_td;
        return 0;
}

int sigil_spiffeid_from_string(const char *s, SigilSpiffeId *ret, SigilErr *reterr) {
        if (!s)
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is missing");
        /* strnlen: a longer string fails the length check without being scanned to its end */
        return sigil_spiffeid_parse(s, strnlen(s, SIGIL_SPIFFEID_MAX + 1), ret, reterr);
}

int sigil_spiffeid_validate(const char *id, char *err, size_t errlen) {
        SigilErr e = { .msg = "" };
        size_t n_td;
        int r;

        if (!id)
                r = sigil_err_set(&e, -EINVAL, "SPIFFE ID is missing");
        else
                r = check_id(id, strnlen(id, SIGIL_SPIFFEID_MAX + 1), &n_td, &e);
        if (r < 0)
                sigil_err_copy(&e, r, err, errlen);
        return r;
}

/* A bare trust domain name: the same rules as the authority of an ID, plus no URI syntax. */
static int check_bare_trust_domain(const char *td, SigilErr *reterr) {
        size_t n;

        if (!td)
                return sigil_err_set(reterr, -EINVAL, "trust domain is missing");
        n = strnlen(td, SIGIL_TRUST_DOMAIN_MAX + 1);
        if (strstr(td, "://"))
                return sigil_err_set(reterr, -EINVAL,
                                     "trust domain must be a bare name such as 'example.org', "
                                     "not a URI");
        if (strchr(td, '/'))
                return sigil_err_set(reterr, -EINVAL, "trust domain must not contain a path");
        if (strchr(td, '?'))
                return sigil_err_set(reterr, -EINVAL, "trust domain must not contain a query");
        if (strchr(td, '#'))
                return sigil_err_set(reterr, -EINVAL, "trust domain must not contain a fragment");
        return check_trust_domain(td, n, "trust domain", reterr);
}

int sigil_trust_domain_validate(const char *td, char *err, size_t errlen) {
        SigilErr e = { .msg = "" };
        int r;

        r = check_bare_trust_domain(td, &e);
        if (r < 0)
                sigil_err_copy(&e, r, err, errlen);
        return r;
}

int sigil_trust_domain_parse(const char *s, SigilTrustDomain *ret, SigilErr *reterr) {
        SigilSpiffeId id;
        int r;

        if (!s)
                return sigil_err_set(reterr, -EINVAL, "trust domain is missing");
        if (!strstr(s, "://")) {
                r = check_bare_trust_domain(s, reterr);
                if (r < 0)
                        return r;
                memcpy(ret->name, s, strlen(s) + 1);
                return 0;
        }
        /* Anything URI-shaped must be a whole valid SPIFFE ID, path included (DIV-02). */
        r = sigil_spiffeid_from_string(s, &id, reterr);
        if (r < 0)
                return r;
        sigil_spiffeid_trust_domain(&id, ret);
        return 0;
}

int sigil_spiffeid_from_parts(const char *td, const char *path, SigilSpiffeId *ret,
                              SigilErr *reterr) {
        size_t n_td, n_path;
        int r;

        if (!path)
                path = "";
        r = check_bare_trust_domain(td, reterr);
        if (r < 0)
                return r;
        n_td = strlen(td);
        n_path = strnlen(path, SIGIL_SPIFFEID_MAX + 1);
        if (SCHEME_LEN + n_td + n_path > SIGIL_SPIFFEID_MAX)
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is longer than %d bytes",
                                     SIGIL_SPIFFEID_MAX);
        r = check_path(path, n_path, reterr);
        if (r < 0)
                return r;
        memcpy(ret->str, SIGIL_SPIFFE_SCHEME, SCHEME_LEN);
        memcpy(ret->str + SCHEME_LEN, td, n_td);
        memcpy(ret->str + SCHEME_LEN + n_td, path, n_path);
        ret->n_str = SCHEME_LEN + n_td + n_path;
        ret->str[ret->n_str] = '\0';
        ret->n_td = n_td;
        return 0;
}

void sigil_spiffeid_trust_domain(const SigilSpiffeId *id, SigilTrustDomain *ret) {
        memcpy(ret->name, id->str + SCHEME_LEN, id->n_td);
        ret->name[id->n_td] = '\0';
}

const char *sigil_spiffeid_path(const SigilSpiffeId *id) {
        return id->str + SCHEME_LEN + id->n_td;
}

bool sigil_spiffeid_is_root(const SigilSpiffeId *id) {
        return id->n_str == SCHEME_LEN + id->n_td;
}

bool sigil_spiffeid_member_of(const SigilSpiffeId *id, const char *td) {
        if (!td)
                return false;
        return strlen(td) == id->n_td && memcmp(id->str + SCHEME_LEN, td, id->n_td) == 0;
}

bool sigil_spiffeid_equal(const SigilSpiffeId *a, const SigilSpiffeId *b) {
        return a->n_str == b->n_str && memcmp(a->str, b->str, a->n_str) == 0;
}

void sigil_trust_domain_to_id(const SigilTrustDomain *td, SigilSpiffeId *ret) {
        size_t n = strnlen(td->name, SIGIL_TRUST_DOMAIN_MAX);

        memcpy(ret->str, SIGIL_SPIFFE_SCHEME, SCHEME_LEN);
        memcpy(ret->str + SCHEME_LEN, td->name, n);
        ret->n_str = SCHEME_LEN + n;
        ret->str[ret->n_str] = '\0';
        ret->n_td = n;
}
