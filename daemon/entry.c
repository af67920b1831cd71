/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration entries: the object an operator creates with `entry create`
 * and the datastore keeps.
 *
 * entry_validate() is the single place where the rules for an entry live.
 * The admin API runs it before anything is stored; the datastore re-checks
 * the cheap parts of every row it reads back, with the same helpers
 * (dns_name_validate(), entry_id_is_valid()). Nothing here does I/O or logs.
 *
 * Policy choices:
 *   - DNS names are host names only (RFC 1123 section 2.1): labels of 1-63
 *     bytes of [A-Za-z0-9-] that neither start nor end with '-', at most 253
 *     bytes in all, no trailing dot, and an optional "*." first label. The
 *     last label must not be all digits, so IPv4 literals ("10.0.0.1") are
 *     refused; IPv6 literals fail on ':'. Entries carry no IP SANs. A name
 *     appears at most once per entry, compared case-insensitively.
 *   - federates_with holds bare trust domain names ("example.org"), each at
 *     most once and never our own trust domain.
 *   - Entry IDs are UUIDs in lowercase text form. The datastore pages by ID
 *     and compares IDs bytewise, so one spelling per ID is required.
 *   - The selector set must be what SigilSelectorSet promises (sorted, no
 *     duplicates, each selector valid): an entry built by hand is checked as
 *     strictly as one built with sigil_selector_set_add().
 */
#include <assert.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "entry.h"
#include "sigil/spiffeid.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

Entry *entry_new(void) {
        return new0(Entry, 1);
}

Entry *entry_free(Entry *e) {
        if (!e)
                return NULL;
        free(e->id);
        free(e->spiffe_id);
        free(e->parent_id);
        sigil_selector_set_done(&e->selectors);
        strv_free(e->dns_names);
        strv_free(e->federates_with);
        free(e->hint);
        free(e);
        return NULL;
}

static int strdup_null(const char *s, char **ret) {
        char *c = NULL;

        if (s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static int strv_copy(char *const *l, char ***ret) {
        _cleanup_(strv_freep) char **c = NULL;
        size_t n = strv_length(l);

        if (l) {
                c = new0(char *, n + 1);
                if (!c)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        c[i] = strdup(l[i]);
                        if (!c[i])
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int entry_copy(const Entry *e, Entry **ret) {
        _cleanup_(entry_freep) Entry *c = NULL;

        assert(e);
        assert(ret);

        c = entry_new();
        if (!c)
                return -ENOMEM;
        if (strdup_null(e->id, &c->id) < 0 || strdup_null(e->spiffe_id, &c->spiffe_id) < 0 ||
            strdup_null(e->parent_id, &c->parent_id) < 0 || strdup_null(e->hint, &c->hint) < 0 ||
            strv_copy(e->dns_names, &c->dns_names) < 0 ||
            strv_copy(e->federates_with, &c->federates_with) < 0 ||
            sigil_selector_set_copy(&e->selectors, &c->selectors) < 0)
                return -ENOMEM;
        c->x509_svid_ttl = e->x509_svid_ttl;
        c->jwt_svid_ttl = e->jwt_svid_ttl;
        c->admin = e->admin;
        c->downstream = e->downstream;
        c->expires_at = e->expires_at;
        c->revision_number = e->revision_number;
        c->created_at = e->created_at;
        *ret = TAKE_PTR(c);
        return 0;
}

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool entry_id_is_valid(const char *id) {
        if (!id || strnlen(id, ENTRY_ID_LEN + 1) != ENTRY_ID_LEN)
                return false;
        for (size_t i = 0; i < ENTRY_ID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? id[i] != '-' : !is_lower_hex(id[i]))
                        return false;
        }
        return true;
}

int entry_id_generate(char ret[static ENTRY_ID_LEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char b[16];
        size_t o = 0;

        if (RAND_bytes(b, sizeof(b)) != 1)
                return -EIO;
        b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
        for (size_t i = 0; i < sizeof(b); i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        ret[o++] = '-';
                ret[o++] = hex[b[i] >> 4];
                ret[o++] = hex[b[i] & 0x0f];
        }
        ret[o] = '\0';
        assert(o == ENTRY_ID_LEN);
        return 0;
}

bool entry_same_registration(const Entry *a, const Entry *b) {
        assert(a);
        assert(b);
        return streq_ptr(a->spiffe_id, b->spiffe_id) && streq_ptr(a->parent_id, b->parent_id) &&
               sigil_selector_set_equal(&a->selectors, &b->selectors);
}

static bool is_label_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-';
}

/* Check one label of @n bytes; *@ret_numeric tells whether it is all digits. */
static int dns_label_validate(const char *l, size_t n, bool *ret_numeric, SigilErr *reterr) {
        bool numeric = true;

        if (n == 0)
                return sigil_err_set(reterr, -EINVAL, "empty label");
        if (n > DNS_LABEL_MAX)
                return sigil_err_set(reterr, -EINVAL, "label longer than %d bytes",
                                     DNS_LABEL_MAX);
        if (l[0] == '-' || l[n - 1] == '-')
                return sigil_err_set(reterr, -EINVAL, "label starts or ends with '-'");
        for (size_t i = 0; i < n; i++) {
                if (l[i] == '*')
                        return sigil_err_set(reterr, -EINVAL,
                                             "'*' is allowed only as the whole first label");
                if (!is_label_char(l[i]))
                        return sigil_err_set(reterr, -EINVAL,
                                             "labels are limited to letters, digits and '-'");
                if (l[i] < '0' || l[i] > '9')
                        numeric = false;
        }
        *ret_numeric = numeric;
        return 0;
}

int dns_name_validate(const char *name, SigilErr *reterr) {
        const char *p;
        bool numeric = false;
        size_t n;
        int r;

        if (isempty(name))
                return sigil_err_set(reterr, -EINVAL, "DNS name is empty");
        n = strnlen(name, DNS_NAME_MAX + 1);
        if (n > DNS_NAME_MAX)
                return sigil_err_set(reterr, -EINVAL, "DNS name is longer than %d bytes",
                                     DNS_NAME_MAX);
        if (name[n - 1] == '.')
                return sigil_err_set(reterr, -EINVAL, "DNS name must not end with '.'");

        p = name;
        if (p[0] == '*' && p[1] == '.')
                p += 2;
        for (;;) {
                size_t k = strcspn(p, ".");

                r = dns_label_validate(p, k, &numeric, reterr);
                if (r < 0)
                        return r;
                if (p[k] == '\0')
                        break;
                p += k + 1;
        }
        if (numeric)
                return sigil_err_set(reterr, -EINVAL,
                                     "the last label must not be numeric (IP addresses are "
                                     "not DNS names)");
        return 0;
}

/* @field must be a SPIFFE ID of @td; with @need_path it must not be the trust domain's ID. */
static int validate_id_field(const char *field, const char *s, const char *td, bool need_path,
                             SigilErr *reterr) {
        SigilSpiffeId id;
        int r;

        if (isempty(s))
                return sigil_err_set(reterr, -EINVAL, "%s is missing", field);
        r = sigil_spiffeid_from_string(s, &id, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, -EINVAL, "%s '%s'", field, s);
        if (!sigil_spiffeid_member_of(&id, td))
                return sigil_err_set(reterr, -EINVAL,
                                     "%s '%s' is not in trust domain '%s'", field, s, td);
        if (need_path && sigil_spiffeid_is_root(&id))
                return sigil_err_set(reterr, -EINVAL, "%s '%s' has no path", field, s);
        return 0;
}

static int validate_selectors(const SigilSelectorSet *set, SigilErr *reterr) {
        if (set->n_items == 0 || !set->items)
                return sigil_err_set(reterr, -EINVAL, "selectors: at least one is required");
        if (set->n_items > SIGIL_SELECTOR_SET_MAX)
                return sigil_err_set(reterr, -EINVAL, "selectors: more than %d",
                                     SIGIL_SELECTOR_SET_MAX);

        for (size_t i = 0; i < set->n_items; i++) {
                const SigilSelector *s = &set->items[i];
                SigilSelector check = {};
                int r;

                if (!s->type || !s->value)
                        return sigil_err_set(reterr, -EINVAL, "selectors[%zu] is incomplete", i);
                r = sigil_selector_make(s->type, s->value, &check, reterr);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return sigil_err_prefix(reterr, -EINVAL, "selectors[%zu]", i);
                sigil_selector_done(&check);
                if (i > 0 && sigil_selector_compare(&set->items[i - 1], s) >= 0)
                        return sigil_err_set(reterr, -EINVAL,
                                             "selectors: set is not sorted or has duplicates");
        }
        return 0;
}

static int validate_dns_names(char *const *names, SigilErr *reterr) {
        size_t n = strv_length(names);

        if (n > ENTRY_DNS_NAMES_MAX)
                return sigil_err_set(reterr, -EINVAL, "dns_names: more than %d",
                                     ENTRY_DNS_NAMES_MAX);
        for (size_t i = 0; i < n; i++) {
                if (dns_name_validate(names[i], reterr) < 0)
                        return sigil_err_prefix(reterr, -EINVAL, "dns_names[%zu] '%s'", i,
                                                names[i]);
                for (size_t j = 0; j < i; j++)
                        if (strcasecmp(names[j], names[i]) == 0)
                                return sigil_err_set(reterr, -EINVAL,
                                                     "dns_names: '%s' appears twice", names[i]);
        }
        return 0;
}

static int validate_federates_with(char *const *tds, const char *own, SigilErr *reterr) {
        size_t n = strv_length(tds);

        if (n > ENTRY_FEDERATES_WITH_MAX)
                return sigil_err_set(reterr, -EINVAL, "federates_with: more than %d",
                                     ENTRY_FEDERATES_WITH_MAX);
        for (size_t i = 0; i < n; i++) {
                char msg[SIGIL_ERR_MSG_MAX] = "";

                if (sigil_trust_domain_validate(tds[i], msg, sizeof(msg)) != 0)
                        return sigil_err_set(reterr, -EINVAL, "federates_with[%zu] '%s': %s", i,
                                             tds[i], msg);
                if (streq(tds[i], own))
                        return sigil_err_set(reterr, -EINVAL,
                                             "federates_with: '%s' is our own trust domain",
                                             tds[i]);
                for (size_t j = 0; j < i; j++)
                        if (streq(tds[j], tds[i]))
                                return sigil_err_set(reterr, -EINVAL,
                                                     "federates_with: '%s' appears twice",
                                                     tds[i]);
        }
        return 0;
}

static int validate_scalars(const Entry *e, SigilErr *reterr) {
        if (e->id && !entry_id_is_valid(e->id))
                return sigil_err_set(reterr, -EINVAL, "id '%s' is not a lowercase UUID", e->id);
        if (e->x509_svid_ttl < 0 || e->x509_svid_ttl > ENTRY_TTL_MAX)
                return sigil_err_set(reterr, -EINVAL, "x509_svid_ttl %" PRId32
                                     " is outside 0..%d seconds", e->x509_svid_ttl,
                                     ENTRY_TTL_MAX);
        if (e->jwt_svid_ttl < 0 || e->jwt_svid_ttl > ENTRY_TTL_MAX)
                return sigil_err_set(reterr, -EINVAL, "jwt_svid_ttl %" PRId32
                                     " is outside 0..%d seconds", e->jwt_svid_ttl,
                                     ENTRY_TTL_MAX);
        if (e->expires_at < 0)
                return sigil_err_set(reterr, -EINVAL, "expires_at must not be negative");
        if (e->hint && strnlen(e->hint, ENTRY_HINT_MAX + 1) > ENTRY_HINT_MAX)
                return sigil_err_set(reterr, -EINVAL, "hint is longer than %d bytes",
                                     ENTRY_HINT_MAX);
        return 0;
}

int entry_check_not_expired(const Entry *e, uint64_t now, SigilErr *reterr) {
        if (e->expires_at == 0 || (uint64_t) e->expires_at > now)
                return 0;
        return sigil_err_set(reterr, -EINVAL,
                             "expires_at %" PRId64 " is not in the future (now %" PRIu64 ")",
                             e->expires_at, now);
}

int entry_validate(const Entry *e, const char *trust_domain, SigilErr *reterr) {
        int r;

        assert(e);
        assert(trust_domain);

        r = validate_id_field("spiffe_id", e->spiffe_id, trust_domain, true, reterr);
        if (r < 0)
                return r;
        r = validate_id_field("parent_id", e->parent_id, trust_domain, false, reterr);
        if (r < 0)
                return r;
        r = validate_selectors(&e->selectors, reterr);
        if (r < 0)
                return r;
        r = validate_scalars(e, reterr);
        if (r < 0)
                return r;
        r = validate_dns_names(e->dns_names, reterr);
        if (r < 0)
                return r;
        return validate_federates_with(e->federates_with, trust_domain, reterr);
}
