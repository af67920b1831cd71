/* SPDX-License-Identifier: Apache-2.0 */
/* sigil spiffeid.h - SPIFFE IDs and trust domains, parsed and validated per the SPIFFE-ID spec */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sigil/error.h"

#define SIGIL_SPIFFEID_MAX 2048          /* whole URI, bytes */
#define SIGIL_TRUST_DOMAIN_MAX 255       /* trust domain name, bytes */
#define SIGIL_SPIFFE_SCHEME "spiffe://"

/*
 * A parsed SPIFFE ID. @str is the canonical text form; the trust domain is
 * str[9 .. 9 + n_td) and the path (possibly empty) follows it. Plain value:
 * copy it with '='.
 */
typedef struct SigilSpiffeId {
        char str[SIGIL_SPIFFEID_MAX + 1];
        size_t n_str;
        size_t n_td;
} SigilSpiffeId;

typedef struct SigilTrustDomain {
        char name[SIGIL_TRUST_DOMAIN_MAX + 1];
} SigilTrustDomain;

/**
 * sigil_spiffeid_validate() - check a NUL-terminated string is a valid SPIFFE ID
 * @id:         the candidate
 * @err:        buffer for the reason on failure, may be NULL
 * @errlen:     size of @err
 *
 * Uppercase letters in the scheme or trust domain are rejected (the spec
 * requires lowercase; see docs/security.md for the policy).
 *
 * Return: 0 if valid, non-zero (a negative errno) otherwise.
 */
int sigil_spiffeid_validate(const char *id, char *err, size_t errlen);

/**
 * sigil_trust_domain_validate() - check a NUL-terminated trust domain name
 * @td:         the candidate, a bare name such as "example.org"
 * @err:        buffer for the reason on failure, may be NULL
 * @errlen:     size of @err
 *
 * Return: 0 if valid, non-zero (a negative errno) otherwise.
 */
int sigil_trust_domain_validate(const char *td, char *err, size_t errlen);

/**
 * sigil_spiffeid_parse() - parse a SPIFFE ID from untrusted bytes
 * @s:          the text, not necessarily NUL-terminated
 * @n:          its length; embedded NULs are rejected
 * @ret:        on success, the parsed ID
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0 or -EINVAL.
 */
int sigil_spiffeid_parse(const char *s, size_t n, SigilSpiffeId *ret, SigilErr *reterr);

/**
 * sigil_spiffeid_from_string() - sigil_spiffeid_parse() of a NUL-terminated string
 * @s:          the text
 * @ret:        on success, the parsed ID
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0 or -EINVAL.
 */
int sigil_spiffeid_from_string(const char *s, SigilSpiffeId *ret, SigilErr *reterr);

/**
 * sigil_spiffeid_from_parts() - build an ID from a trust domain and a path
 * @td:         trust domain name
 * @path:       "" or a path starting with '/'
 * @ret:        on success, the ID
 * @reterr:     on failure, the reason (also when the result exceeds 2048 bytes)
 *
 * Return: 0 or -EINVAL.
 */
int sigil_spiffeid_from_parts(const char *td, const char *path, SigilSpiffeId *ret,
                              SigilErr *reterr);

/**
 * sigil_trust_domain_parse() - parse a trust domain from a bare name or a SPIFFE ID
 * @s:          "example.org" or "spiffe://example.org[/path]" (the whole ID is validated)
 * @ret:        on success, the trust domain
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0 or -EINVAL.
 */
int sigil_trust_domain_parse(const char *s, SigilTrustDomain *ret, SigilErr *reterr);

/* The trust domain part of @id, copied into @ret. */
void sigil_spiffeid_trust_domain(const SigilSpiffeId *id, SigilTrustDomain *ret);

/* The path of @id ("" for a trust-domain ID); points into @id. */
const char *sigil_spiffeid_path(const SigilSpiffeId *id);

/* True when @id has no path (it names a trust domain). */
bool sigil_spiffeid_is_root(const SigilSpiffeId *id);

/* True when @id belongs to trust domain @td (a bare name). */
bool sigil_spiffeid_member_of(const SigilSpiffeId *id, const char *td);

/* True when @a and @b are the same ID (exact bytes: both are canonical). */
bool sigil_spiffeid_equal(const SigilSpiffeId *a, const SigilSpiffeId *b);

/* "spiffe://<td>" for trust domain @td, written into @ret. */
void sigil_trust_domain_to_id(const SigilTrustDomain *td, SigilSpiffeId *ret);
