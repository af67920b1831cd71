/* SPDX-License-Identifier: Apache-2.0 */
/* Registration entries: IDs, validation rule by rule, DNS names, copies. */
#include "test-util.h"

#include <errno.h>

#include "entry.h"

#define TD "example.org"

static char **strv_make(const char *a, const char *b) {
        char **l = calloc(3, sizeof(char *));

        assert_non_null(l);
        if (a)
                assert_non_null(l[0] = strdup(a));
        if (b)
                assert_non_null(l[1] = strdup(b));
        return l;
}

static void set_str(char **p, const char *s) {
        free(*p);
        *p = s ? strdup(s) : NULL;
        if (s)
                assert_non_null(*p);
}

static Entry *valid_entry(void) {
        Entry *e = entry_new();
        char id[ENTRY_ID_LEN + 1];

        assert_non_null(e);
        assert_int_equal(entry_id_generate(id), 0);
        set_str(&e->id, id);
        set_str(&e->spiffe_id, "spiffe://example.org/web");
        set_str(&e->parent_id, "spiffe://example.org/agent/node1");
        assert_int_equal(sigil_selector_set_add_string(&e->selectors, "unix:uid:1000", NULL), 0);
        assert_int_equal(sigil_selector_set_add_string(&e->selectors, "unix:gid:50", NULL), 0);
        e->x509_svid_ttl = 3600;
        e->jwt_svid_ttl = 300;
        e->dns_names = strv_make("web.example.org", "*.web.example.org");
        e->federates_with = strv_make("partner.org", NULL);
        set_str(&e->hint, "frontend");
        e->expires_at = 2000000000;
        return e;
}

static void test_id_generate(void **state) {
        char prev[ENTRY_ID_LEN + 1] = "";

        for (int i = 0; i < 1000; i++) {
                char id[ENTRY_ID_LEN + 1];

                assert_int_equal(entry_id_generate(id), 0);
                assert_int_equal(strlen(id), ENTRY_ID_LEN);
                assert_true(entry_id_is_valid(id));
                assert_int_equal(id[14], '4');                  /* version 4 */
                assert_non_null(strchr("89ab", id[19]));        /* RFC 4122 variant */
                assert_string_not_equal(id, prev);
                memcpy(prev, id, sizeof(id));
        }
}

static void test_id_is_valid(void **state) {
        static const char *const good[] = {
                "00000000-0000-0000-0000-000000000000",
                "0f1e2d3c-4b5a-4697-8899-aabbccddeeff",
        };
        static const char *const bad[] = {
                "",
                "0f1e2d3c-4b5a-4697-8899-aabbccddeef",         /* short */
                "0f1e2d3c-4b5a-4697-8899-aabbccddeeff0",       /* long */
                "0F1E2D3C-4B5A-4697-8899-AABBCCDDEEFF",        /* uppercase */
                "0f1e2d3c4b5a-4697-8899-aabbccddeeff-",        /* dash misplaced */
                "0f1e2d3c-4b5a-4697-8899-aabbccddeefg",        /* not hex */
                "../../../../../../../../../etc/pass",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_true(entry_id_is_valid(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (entry_id_is_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
        assert_false(entry_id_is_valid(NULL));
}

static void test_validate_ok(void **state) {
        _cleanup_(entry_freep) Entry *e = valid_entry();
        SigilErr err = {};

        if (entry_validate(e, TD, &err) != 0)
                fail_msg("valid entry rejected: %s", err.msg);

        /* Optional fields may be absent; the parent may be the trust domain itself. */
        e->dns_names = strv_free(e->dns_names);
        e->federates_with = strv_free(e->federates_with);
        set_str(&e->hint, NULL);
        set_str(&e->id, NULL);
        set_str(&e->parent_id, "spiffe://example.org");
        e->x509_svid_ttl = ENTRY_TTL_MAX;
        e->jwt_svid_ttl = 0;
        e->expires_at = 0;
        if (entry_validate(e, TD, &err) != 0)
                fail_msg("minimal entry rejected: %s", err.msg);
}

/* ---- one mutation per rule ---- */

static void m_no_spiffe_id(Entry *e) { set_str(&e->spiffe_id, NULL); }
static void m_bad_spiffe_id(Entry *e) { set_str(&e->spiffe_id, "spiffe://example.org/a//b"); }
static void m_spiffe_id_scheme(Entry *e) { set_str(&e->spiffe_id, "https://example.org/web"); }
static void m_spiffe_id_foreign(Entry *e) { set_str(&e->spiffe_id, "spiffe://other.org/web"); }
static void m_spiffe_id_root(Entry *e) { set_str(&e->spiffe_id, "spiffe://example.org"); }
static void m_spiffe_id_upper(Entry *e) { set_str(&e->spiffe_id, "spiffe://Example.org/web"); }
static void m_no_parent_id(Entry *e) { set_str(&e->parent_id, ""); }
static void m_bad_parent_id(Entry *e) { set_str(&e->parent_id, "spiffe://example.org/agent/"); }
static void m_parent_foreign(Entry *e) { set_str(&e->parent_id, "spiffe://evil.org/agent/x"); }
static void m_no_selectors(Entry *e) { sigil_selector_set_done(&e->selectors); }

static void m_bad_selector(Entry *e) {
        /* Built by hand, past sigil_selector_set_add()'s checks. */
        set_str(&e->selectors.items[0].type, "Unix");
}

static void m_empty_selector_value(Entry *e) { set_str(&e->selectors.items[1].value, ""); }

static void m_unsorted_selectors(Entry *e) {
        SigilSelector t = e->selectors.items[0];

        e->selectors.items[0] = e->selectors.items[1];
        e->selectors.items[1] = t;
}

static void m_x509_ttl_neg(Entry *e) { e->x509_svid_ttl = -1; }
static void m_x509_ttl_big(Entry *e) { e->x509_svid_ttl = ENTRY_TTL_MAX + 1; }
static void m_jwt_ttl_neg(Entry *e) { e->jwt_svid_ttl = -5; }
static void m_jwt_ttl_big(Entry *e) { e->jwt_svid_ttl = INT32_MAX; }
static void m_expires_neg(Entry *e) { e->expires_at = -1; }

static void m_dns_bad(Entry *e) {
        strv_free(e->dns_names);
        e->dns_names = strv_make("ok.example.org", "bad_name.example.org");
}

static void m_dns_dup(Entry *e) {
        strv_free(e->dns_names);
        e->dns_names = strv_make("a.example.org", "A.Example.org");
}

static void m_dns_too_many(Entry *e) {
        strv_free(e->dns_names);
        e->dns_names = calloc(ENTRY_DNS_NAMES_MAX + 2, sizeof(char *));
        assert_non_null(e->dns_names);
        for (int i = 0; i <= ENTRY_DNS_NAMES_MAX; i++) {
                char name[32];

                (void) snprintf(name, sizeof(name), "h%d.example.org", i);
                assert_non_null(e->dns_names[i] = strdup(name));
        }
}

static void m_fed_own(Entry *e) {
        strv_free(e->federates_with);
        e->federates_with = strv_make("partner.org", TD);
}

static void m_fed_invalid(Entry *e) {
        strv_free(e->federates_with);
        e->federates_with = strv_make("Partner.org", NULL);
}

static void m_fed_as_id(Entry *e) {
        strv_free(e->federates_with);
        e->federates_with = strv_make("spiffe://partner.org", NULL);
}

static void m_fed_dup(Entry *e) {
        strv_free(e->federates_with);
        e->federates_with = strv_make("partner.org", "partner.org");
}

static void m_hint_long(Entry *e) {
        char *h = malloc(ENTRY_HINT_MAX + 2);

        assert_non_null(h);
        memset(h, 'h', ENTRY_HINT_MAX + 1);
        h[ENTRY_HINT_MAX + 1] = '\0';
        free(e->hint);
        e->hint = h;
}

static void m_bad_id(Entry *e) { set_str(&e->id, "not-a-uuid"); }

static void test_validate_rules(void **state) {
        static const struct {
                void (*mutate)(Entry *e);
                const char *msg;
        } cases[] = {
                { m_no_spiffe_id, "spiffe_id is missing" },
                { m_bad_spiffe_id, "spiffe_id 'spiffe://example.org/a//b'" },
                { m_spiffe_id_scheme, "spiffe_id" },
                { m_spiffe_id_foreign, "not in trust domain 'example.org'" },
                { m_spiffe_id_root, "has no path" },
                { m_spiffe_id_upper, "spiffe_id" },
                { m_no_parent_id, "parent_id is missing" },
                { m_bad_parent_id, "parent_id" },
                { m_parent_foreign, "parent_id 'spiffe://evil.org/agent/x' is not in trust domain" },
                { m_no_selectors, "at least one" },
                { m_bad_selector, "selectors[0]" },
                { m_empty_selector_value, "selectors[1]" },
                { m_unsorted_selectors, "not sorted" },
                { m_x509_ttl_neg, "x509_svid_ttl -1" },
                { m_x509_ttl_big, "x509_svid_ttl" },
                { m_jwt_ttl_neg, "jwt_svid_ttl -5" },
                { m_jwt_ttl_big, "jwt_svid_ttl" },
                { m_expires_neg, "expires_at" },
                { m_dns_bad, "dns_names[1] 'bad_name.example.org'" },
                { m_dns_dup, "appears twice" },
                { m_dns_too_many, "dns_names: more than" },
                { m_fed_own, "our own trust domain" },
                { m_fed_invalid, "federates_with[0] 'Partner.org'" },
                { m_fed_as_id, "federates_with[0]" },
                { m_fed_dup, "appears twice" },
                { m_hint_long, "hint is longer than 1024" },
                { m_bad_id, "id 'not-a-uuid'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(entry_freep) Entry *e = valid_entry();
                SigilErr err = {};

                cases[i].mutate(e);
                if (entry_validate(e, TD, &err) != -EINVAL)
                        fail_msg("case %zu (%s) accepted", i, cases[i].msg);
                if (!strstr(err.msg, cases[i].msg))
                        fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].msg);
                /* Without a SigilErr the verdict is the same. */
                assert_int_equal(entry_validate(e, TD, NULL), -EINVAL);
        }
}

static void test_hint_at_limit(void **state) {
        _cleanup_(entry_freep) Entry *e = valid_entry();

        m_hint_long(e);
        e->hint[ENTRY_HINT_MAX] = '\0';
        assert_int_equal(entry_validate(e, TD, NULL), 0);
}

static void test_dns_name_validate(void **state) {
        static const char *const good[] = {
                "a",
                "example.org",
                "EXAMPLE.org",
                "*.example.org",
                "*.svc",
                "xn--bcher-kva.example",
                "1.example.org",
                "a-b.c-d.e",
                "a23456789012345678901234567890123456789012345678901234567890123.org",
        };
        static const struct {
                const char *name, *msg;
        } bad[] = {
                { "", "empty" },
                { "example.org.", "must not end with '.'" },
                { ".example.org", "empty label" },
                { "a..b", "empty label" },
                { "-a.org", "starts or ends with '-'" },
                { "a-.org", "starts or ends with '-'" },
                { "a_b.org", "letters, digits" },
                { "a b.org", "letters, digits" },
                { "*", "'*'" },
                { "*.", "must not end" },
                { "*.*.example.org", "'*'" },
                { "a.*.example.org", "'*'" },
                { "f*o.example.org", "'*'" },
                { "**.example.org", "'*'" },
                { "10.0.0.1", "IP addresses" },
                { "example.123", "numeric" },
                { "::1", "letters, digits" },
                { "[::1]", "letters, digits" },
                { "caf\xc3\xa9.org", "letters, digits" },
                { "a234567890123456789012345678901234567890123456789012345678901234.org",
                  "longer than 63" },
        };
        char long_name[300];

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                SigilErr err = {};

                if (dns_name_validate(good[i], &err) != 0)
                        fail_msg("'%s' rejected: %s", good[i], err.msg);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SigilErr err = {};

                if (dns_name_validate(bad[i].name, &err) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i].name);
                if (!strstr(err.msg, bad[i].msg))
                        fail_msg("'%s': message '%s' lacks '%s'", bad[i].name, err.msg,
                                 bad[i].msg);
        }
        assert_int_equal(dns_name_validate(NULL, NULL), -EINVAL);

        /* 253 bytes is the limit: labels of 9 letters and a dot. */
        memset(long_name, 0, sizeof(long_name));
        for (size_t o = 0; o < 250; o += 10)
                memcpy(long_name + o, "abcdefghi.", 10);
        memcpy(long_name + 250, "com", 3);
        assert_int_equal(strlen(long_name), 253);
        assert_int_equal(dns_name_validate(long_name, NULL), 0);
        long_name[253] = 'x';
        assert_int_equal(dns_name_validate(long_name, NULL), -EINVAL);
}

static void test_copy(void **state) {
        _cleanup_(entry_freep) Entry *e = valid_entry(), *c = NULL;

        e->admin = true;
        e->revision_number = 7;
        e->created_at = 1234;
        assert_int_equal(entry_copy(e, &c), 0);
        assert_ptr_not_equal(c->spiffe_id, e->spiffe_id);
        assert_string_equal(c->id, e->id);
        assert_string_equal(c->spiffe_id, e->spiffe_id);
        assert_string_equal(c->parent_id, e->parent_id);
        assert_true(sigil_selector_set_equal(&c->selectors, &e->selectors));
        assert_ptr_not_equal(c->selectors.items, e->selectors.items);
        assert_int_equal(strv_length(c->dns_names), 2);
        assert_string_equal(c->dns_names[1], "*.web.example.org");
        assert_ptr_not_equal(c->dns_names[1], e->dns_names[1]);
        assert_string_equal(c->federates_with[0], "partner.org");
        assert_null(c->federates_with[1]);
        assert_string_equal(c->hint, "frontend");
        assert_int_equal(c->x509_svid_ttl, 3600);
        assert_int_equal(c->jwt_svid_ttl, 300);
        assert_true(c->admin);
        assert_false(c->downstream);
        assert_int_equal(c->expires_at, 2000000000);
        assert_int_equal(c->revision_number, 7);
        assert_int_equal(c->created_at, 1234);
        assert_true(entry_same_registration(e, c));

        /* NULL lists stay NULL. */
        e->dns_names = strv_free(e->dns_names);
        entry_free(c);
        assert_int_equal(entry_copy(e, &c), 0);
        assert_null(c->dns_names);
}

static void test_same_registration(void **state) {
        _cleanup_(entry_freep) Entry *a = valid_entry(), *b = entry_new();

        assert_non_null(b);
        set_str(&b->spiffe_id, a->spiffe_id);
        set_str(&b->parent_id, a->parent_id);
        /* Added in the other order: sets are canonical. */
        assert_int_equal(sigil_selector_set_add_string(&b->selectors, "unix:gid:50", NULL), 0);
        assert_int_equal(sigil_selector_set_add_string(&b->selectors, "unix:uid:1000", NULL), 0);
        b->x509_svid_ttl = 1; /* other fields do not matter */
        assert_true(entry_same_registration(a, b));

        assert_int_equal(sigil_selector_set_add_string(&b->selectors, "unix:gid:51", NULL), 0);
        assert_false(entry_same_registration(a, b));
        sigil_selector_set_done(&b->selectors);
        assert_int_equal(sigil_selector_set_copy(&a->selectors, &b->selectors), 0);
        assert_true(entry_same_registration(a, b));
        set_str(&b->parent_id, "spiffe://example.org/agent/node2");
        assert_false(entry_same_registration(a, b));
        set_str(&b->parent_id, a->parent_id);
        set_str(&b->spiffe_id, "spiffe://example.org/web2");
        assert_false(entry_same_registration(a, b));
}

static void test_free_null(void **state) {
        assert_null(entry_free(NULL));
        assert_null(entry_free(entry_new()));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id_generate),
                cmocka_unit_test(test_id_is_valid),
                cmocka_unit_test(test_validate_ok),
                cmocka_unit_test(test_validate_rules),
                cmocka_unit_test(test_hint_at_limit),
                cmocka_unit_test(test_dns_name_validate),
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_same_registration),
                cmocka_unit_test(test_free_null),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
