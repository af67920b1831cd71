/* SPDX-License-Identifier: Apache-2.0 */
/* entry.h - registration entries: the model and its validation */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sigil/error.h"
#include "sigil/selector.h"

#define ENTRY_ID_LEN 36                  /* UUID text form */
#define ENTRY_HINT_MAX 1024
#define ENTRY_DNS_NAMES_MAX 64
#define ENTRY_FEDERATES_WITH_MAX 64
#define ENTRY_TTL_MAX (365 * 24 * 3600)  /* seconds */

typedef struct Entry {
        char *id;                       /* UUID, assigned by the server at creation */
        char *spiffe_id;
        char *parent_id;
        SigilSelectorSet selectors;     /* at least one */
        int32_t x509_svid_ttl;          /* seconds; 0 = server default */
        int32_t jwt_svid_ttl;           /* seconds; 0 = server default */
        char **dns_names;               /* NULL-terminated, or NULL */
        char **federates_with;          /* trust domain names, NULL-terminated, or NULL */
        bool admin;
        bool downstream;
        int64_t expires_at;             /* unix seconds; 0 = never */
        char *hint;                     /* NULL or "" = none (read back from the datastore: NULL) */
        int64_t revision_number;
        int64_t created_at;             /* unix seconds */
} Entry;

Entry *entry_new(void);
Entry *entry_free(Entry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Entry *, entry_free)

/**
 * entry_copy() - deep copy of an entry
 * @e:          the entry
 * @ret:        on success, the copy
 *
 * Return: 0 or -ENOMEM.
 */
int entry_copy(const Entry *e, Entry **ret);

/**
 * entry_validate() - check an entry as an operator submitted it
 * @e:          the entry
 * @trust_domain: the server's trust domain; spiffe_id and parent_id must be in it
 * @reterr:     on failure, a message naming the offending field
 *
 * Rules: spiffe_id and parent_id valid SPIFFE IDs of @trust_domain, spiffe_id
 * with a path; at least one selector, each valid, the set sorted and free of
 * duplicates (as sigil_selector_set_add() keeps it); TTLs 0..ENTRY_TTL_MAX; DNS
 * names valid (dns_name_validate()), at most ENTRY_DNS_NAMES_MAX, none twice
 * (case-insensitively); federates_with bare trust domain names, valid, other
 * than our own, none twice, at most ENTRY_FEDERATES_WITH_MAX; hint at most
 * ENTRY_HINT_MAX bytes; expires_at >= 0; id, when set, a lowercase UUID.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int entry_validate(const Entry *e, const char *trust_domain, SigilErr *reterr);

/**
 * entry_check_not_expired() - refuse an entry that would be born expired
 * @e:          the entry to be created or written by an update
 * @now:        unix seconds
 * @reterr:     on failure, a message naming expires_at
 *
 * Kept apart from entry_validate(), which does not depend on the clock: entries read back
 * or made by the server itself may be past their expiry until housekeeping prunes them.
 *
 * Return: 0 (no expiry, or one after @now) or -EINVAL.
 */
int entry_check_not_expired(const Entry *e, uint64_t now, SigilErr *reterr);

/* A new random UUIDv4 in lowercase text form, written into @ret. Return: 0 or -EIO. */
int entry_id_generate(char ret[static ENTRY_ID_LEN + 1]);

/* True when @id has the UUID text shape, lowercase hex (any version). */
bool entry_id_is_valid(const char *id);

/* True when @a and @b name the same registration: spiffe_id, parent_id and selector set. */
bool entry_same_registration(const Entry *a, const Entry *b);

/*
 * Validate one DNS name (as in an X.509 SAN): a host name per RFC 1123, labels
 * of 1-63 bytes of [A-Za-z0-9-] not starting or ending with '-', at most 253
 * bytes, no trailing dot, an optional "*." first label. The last label must not
 * be numeric, so IP addresses are refused. Return: 0 or -EINVAL.
 */
int dns_name_validate(const char *name, SigilErr *reterr);
