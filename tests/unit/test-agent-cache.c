/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's cache (agent/cache.c, agent/cache-view.c) with fabricated
 * entries and SVIDs from a test CA: subset matching, ordering, hint dedup,
 * bundles and federated bundles in views, snapshots, signing bookkeeping,
 * and watches (fired exactly for relevant changes, never after
 * cache_unwatch, also when unwatched from a callback or another thread).
 */
#include "test-util.h"

#include <pthread.h>
#include <stdatomic.h>

#include "cache-internal.h"
#include "sigil/clock.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define TD "example.org"

typedef struct TestCa {
        EVP_PKEY *key;
        X509 *cert;
        SigilX509Issuer *issuer;
} TestCa;

static TestCa ca1, ca2;

static void test_ca_init(TestCa *ca) {
        SigilCaParams p = { .trust_domain = TD, .not_before = sigil_now_sec() - 60,
                            .not_after = sigil_now_sec() + 86400, .path_len = -1 };

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &ca->key), 0);
        assert_int_equal(sigil_x509_ca_create_root(ca->key, &p, &ca->cert, NULL), 0);
        assert_int_equal(sigil_x509_issuer_new(ca->cert, ca->key, &ca->issuer, NULL), 0);
}

static void test_ca_done(TestCa *ca) {
        sigil_x509_issuer_free(ca->issuer);
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        *ca = (TestCa) {};
}

static int group_setup(void **state) {
        test_ca_init(&ca1);
        test_ca_init(&ca2);
        return 0;
}

static int group_teardown(void **state) {
        test_ca_done(&ca1);
        test_ca_done(&ca2);
        return 0;
}

/* ---- fabricating entries, SVIDs, updates ---- */

static char **split(const char *list) {
        char **l = new0(char *, 16), *copy, *save = NULL;
        size_t n = 0;

        assert_non_null(l);
        if (!list)
                return l;
        copy = strdup(list);
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                l[n++] = strdup(t);
        free(copy);
        return l;
}

static CacheEntry *mk_entry(const char *id, const char *spiffe_id, int64_t revision,
                            int64_t created_at, const char *hint, const char *selectors,
                            const char *federates_with) {
        CacheEntry *e = new0(CacheEntry, 1);
        char **sels = split(selectors);

        assert_non_null(e);
        e->id = strdup(id);
        e->spiffe_id = strdup(spiffe_id);
        e->parent_id = strdup("spiffe://" TD "/sigil/agent/join_token/t");
        e->hint = hint ? strdup(hint) : NULL;
        e->revision = revision;
        e->created_at = created_at;
        for (char **s = sels; *s; s++)
                assert_int_equal(sigil_selector_set_add_string(&e->selectors, *s, NULL), 0);
        strv_free(sels);
        if (federates_with)
                e->federates_with = split(federates_with);
        return e;
}

static void upsert(Cache *c, CacheEntry *e) {
        CacheUpdate u = { .n_upserts = 1 };

        u.upserts = new0(CacheEntry *, 1);
        u.upserts[0] = e;
        assert_int_equal(cache_update(c, &u, sigil_now_usec()), 0);
}

static void remove_entry(Cache *c, const char *id) {
        CacheUpdate u = { .n_removed_ids = 1 };

        u.removed_ids = new0(char *, 1);
        u.removed_ids[0] = strdup(id);
        assert_int_equal(cache_update(c, &u, sigil_now_usec()), 0);
}

static SigilBundle *mk_bundle(const char *td, const TestCa *a, const TestCa *b, uint64_t seq) {
        SigilBundle *bundle = NULL;

        assert_int_equal(sigil_bundle_new(td, &bundle), 0);
        if (a)
                assert_int_equal(sigil_bundle_add_x509_authority(bundle, a->cert), 0);
        if (b)
                assert_int_equal(sigil_bundle_add_x509_authority(bundle, b->cert), 0);
        bundle->sequence = seq;
        return bundle;
}

static void set_bundle(Cache *c, SigilBundle *b) {
        CacheUpdate u = { .bundle = b };

        assert_int_equal(cache_update(c, &u, sigil_now_usec()), 0);
}

static void set_federated(Cache *c, const char *td, uint64_t seq) {
        CacheUpdate u = {};

        assert_int_equal(sigil_bundle_set_put(&u.federated, mk_bundle(td, &ca2, NULL, seq)), 0);
        assert_int_equal(cache_update(c, &u, sigil_now_usec()), 0);
}

/* The subject key ID of @ca as hex: the issuer_key_id of what it signs. */
static void key_id_hex(const TestCa *ca, char *buf, size_t n) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);

        assert_non_null(ski);
        buf[0] = '\0';
        for (int i = 0; i < ASN1_STRING_length(ski) && 2 * (size_t) i + 2 < n; i++)
                (void) snprintf(buf + 2 * i, 3, "%02x", ASN1_STRING_get0_data(ski)[i]);
}

/* Sign a leaf for @spiffe_id with @ca and publish it for entry @id at @revision. */
static int publish_with(Cache *c, const TestCa *ca, const char *id, const char *spiffe_id,
                        int64_t revision, int64_t lifetime_sec) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *spki = NULL;
        SigilSpiffeId sid;
        uint64_t now = sigil_now_sec();
        SigilLeafParams p = { .id = &sid, .not_before = now - 10,
                              .not_after = (uint64_t) ((int64_t) now + lifetime_sec) };
        CacheSigned s = { .entry_id = id, .revision = revision, .not_before = now - 10,
                          .not_after = p.not_after };
        size_t n_spki;

        assert_int_equal(sigil_spiffeid_from_string(spiffe_id, &sid, NULL), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        assert_int_equal(sigil_key_to_spki_der(key, &spki, &n_spki), 0);
        assert_int_equal(sigil_x509_issuer_sign_spki(ca->issuer, spki, n_spki, &p, &s.chain_der,
                                                     &s.n_chain_der, NULL), 0);
        assert_int_equal(sigil_key_to_pkcs8_der(key, &s.key_pkcs8, &s.n_key_pkcs8), 0);
        s.renew_at_usec = sigil_now_usec() + 3600 * USEC_PER_SEC;
        (void) snprintf(s.serial, sizeof(s.serial), "serial-%s", id);
        key_id_hex(ca, s.issuer_key_id, sizeof(s.issuer_key_id));
        return cache_publish(c, &s, 1, sigil_now_usec());
}

static void publish(Cache *c, const char *id, const char *spiffe_id, int64_t revision) {
        assert_int_equal(publish_with(c, &ca1, id, spiffe_id, revision, 3600), 1);
}

static SigilSelectorSet sels(const char *list) {
        SigilSelectorSet s = {};
        char **l = split(list);

        for (char **p = l; *p; p++)
                assert_int_equal(sigil_selector_set_add_string(&s, *p, NULL), 0);
        strv_free(l);
        return s;
}

/* The entry IDs of a view, comma-separated, into @buf. */
static const char *view_ids(Cache *c, const char *selectors, char *buf, size_t n) {
        _cleanup_(cache_view_freep) CacheView *v = NULL;
        SigilSelectorSet s = sels(selectors);

        assert_int_equal(cache_view_get(c, &s, &v), 0);
        sigil_selector_set_done(&s);
        buf[0] = '\0';
        for (size_t i = 0; i < v->n_svids; i++) {
                assert_non_null(v->svids[i]->chain_der);
                assert_non_null(v->svids[i]->key_pkcs8);
                (void) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "",
                                v->svids[i]->entry_id);
        }
        return buf;
}

static Cache *new_cache(void) {
        Cache *c = NULL;

        assert_int_equal(cache_new(TD, &c), 0);
        return c;
}

/* ---- views ---- */

static void test_view_subset_and_order(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        char buf[256];

        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 300, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("e2", "spiffe://" TD "/two", 1, 100, NULL, "unix:uid:1,unix:gid:2",
                           NULL));
        upsert(c, mk_entry("e3", "spiffe://" TD "/three", 1, 200, NULL, "unix:uid:3", NULL));
        upsert(c, mk_entry("e0", "spiffe://" TD "/zero", 1, 100, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("e5", "spiffe://" TD "/five", 1, 50, NULL, "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        publish(c, "e2", "spiffe://" TD "/two", 1);
        publish(c, "e3", "spiffe://" TD "/three", 1);
        publish(c, "e0", "spiffe://" TD "/zero", 1);
        /* e5 has no SVID yet: not in any view. Equal created_at: by entry ID. */
        assert_string_equal(view_ids(c, "unix:uid:1,unix:gid:2,other:x", buf, sizeof(buf)),
                            "e0,e2,e1");
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "e0,e1");
        assert_string_equal(view_ids(c, "unix:gid:2", buf, sizeof(buf)), "");
        assert_string_equal(view_ids(c, "unix:uid:3", buf, sizeof(buf)), "e3");
        assert_string_equal(view_ids(c, "", buf, sizeof(buf)), "");
        publish(c, "e5", "spiffe://" TD "/five", 1);
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "e5,e0,e1");
}

static void test_view_svid_fields(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        _cleanup_(cache_view_freep) CacheView *v = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        SigilSelectorSet s = sels("unix:uid:7");
        CacheEntry *e = mk_entry("e7", "spiffe://" TD "/seven", 4, 77, "h7", "unix:uid:7",
                                 "partner.test");
        SigilSpiffeId id;

        e->jwt_svid_ttl = 120;
        upsert(c, e);
        publish(c, "e7", "spiffe://" TD "/seven", 4);
        assert_int_equal(cache_view_get(c, &s, &v), 0);
        sigil_selector_set_done(&s);
        assert_int_equal(v->n_svids, 1);
        assert_string_equal(v->svids[0]->entry_id, "e7");
        assert_string_equal(v->svids[0]->spiffe_id, "spiffe://" TD "/seven");
        assert_string_equal(v->svids[0]->hint, "h7");
        assert_string_equal(v->svids[0]->federates_with[0], "partner.test");
        assert_null(v->svids[0]->federates_with[1]);
        assert_int_equal(v->svids[0]->entry_created_at, 77);
        assert_int_equal(v->svids[0]->entry_revision, 4);
        assert_int_equal(v->svids[0]->jwt_svid_ttl, 120);
        assert_true(v->svids[0]->not_after > sigil_now_sec() + 3000);
        /* The chain is a real SVID for the entry and the key is its key. */
        assert_int_equal(sigil_x509_chain_from_der(v->svids[0]->chain_der,
                                                   v->svids[0]->n_chain_der, &chain, NULL), 0);
        assert_int_equal(sigil_x509_spiffe_id(sk_X509_value(chain, 0), &id, NULL), 0);
        assert_string_equal(id.str, "spiffe://" TD "/seven");
        assert_int_equal(sigil_key_from_pkcs8_der(v->svids[0]->key_pkcs8,
                                                  v->svids[0]->n_key_pkcs8, &key), 0);
        assert_int_equal(sigil_key_public_equal(key, X509_get0_pubkey(sk_X509_value(chain, 0))),
                         1);
        assert_null(v->bundle);
}

static void test_view_hint_dedup(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        static const struct {
                const char *id, *hint;
                int64_t created;
        } es[] = {
                { "e1", "db", 10 }, { "e2", "db", 20 }, { "e3", "", 30 },
                { "e4", NULL, 40 }, { "e5", "web", 5 }, { "e6", "", 35 }, { "e7", "web", 50 },
        };
        char buf[256], sid[64];

        for (size_t i = 0; i < ELEMENTSOF(es); i++) {
                (void) snprintf(sid, sizeof(sid), "spiffe://" TD "/%s", es[i].id);
                upsert(c, mk_entry(es[i].id, sid, 1, es[i].created, es[i].hint, "k8s:ns:a", NULL));
                publish(c, es[i].id, sid, 1);
        }
        /* Oldest first; a repeated non-empty hint goes to the oldest; empty hints never clash. */
        assert_string_equal(view_ids(c, "k8s:ns:a", buf, sizeof(buf)), "e5,e1,e3,e6,e4");
        /* The oldest "db" goes away: the next one takes its hint. */
        remove_entry(c, "e1");
        assert_string_equal(view_ids(c, "k8s:ns:a", buf, sizeof(buf)), "e5,e2,e3,e6,e4");
}

static void test_view_expiry(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheInfo info = {};
        char buf[64];

        upsert(c, mk_entry("old", "spiffe://" TD "/old", 1, 1, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("new", "spiffe://" TD "/new", 1, 2, NULL, "unix:uid:1", NULL));
        assert_int_equal(publish_with(c, &ca1, "old", "spiffe://" TD "/old", 1, -1), 1);
        publish(c, "new", "spiffe://" TD "/new", 1);
        /* An expired SVID is never served, even before cache_expire() dropped it. */
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "new");
        assert_int_equal(cache_get_info(c, true, &info), 0);
        assert_int_equal(info.n_records, 2);
        assert_int_equal(info.n_svids, 1);
        assert_string_equal(info.entries[1].entry->id, "old");
        assert_int_equal(info.entries[1].svid_revision, 1);
        cache_info_done(&info);
        assert_int_equal(cache_expire(c, sigil_now_usec()), 1);
        assert_int_equal(cache_expire(c, sigil_now_usec()), 0);
        assert_int_equal(cache_get_info(c, true, &info), 0);
        assert_string_equal(info.entries[1].serial, "");
        assert_int_equal(info.entries[1].svid_revision, 0);
        cache_info_done(&info);
        /* An entry whose expires_at passed is not served either. */
        {
                CacheEntry *e = mk_entry("new", "spiffe://" TD "/new", 2, 2, NULL, "unix:uid:1",
                                         NULL);

                e->expires_at = (int64_t) sigil_now_sec() - 1;
                upsert(c, e);
        }
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "");
}

static void test_view_bundles(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        _cleanup_(sigil_bundle_set_done) SigilBundleSet all = {};
        CacheView *v = NULL;
        SigilSelectorSet s = sels("unix:uid:1");

        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", "td2.test"));
        upsert(c, mk_entry("e2", "spiffe://" TD "/two", 1, 2, NULL, "unix:uid:2",
                           "td3.test,td2.test"));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        publish(c, "e2", "spiffe://" TD "/two", 1);
        set_bundle(c, mk_bundle(TD, &ca1, NULL, 7));
        set_federated(c, "td2.test", 1);
        set_federated(c, "td3.test", 1);
        set_federated(c, "td4.test", 1);
        /* A bundle sent as federated for our own trust domain is ignored. */
        set_federated(c, TD, 99);

        assert_int_equal(cache_view_get(c, &s, &v), 0);
        assert_non_null(v->bundle);
        assert_string_equal(v->bundle->td.name, TD);
        assert_int_equal(v->bundle->sequence, 7);
        assert_int_equal(sk_X509_num(v->bundle->x509_authorities), 1);
        assert_int_equal(v->federated.n_bundles, 1);
        assert_non_null(sigil_bundle_set_get(&v->federated, "td2.test"));
        v = cache_view_free(v);
        sigil_selector_set_done(&s);

        s = sels("unix:uid:1,unix:uid:2");
        assert_int_equal(cache_view_get(c, &s, &v), 0);
        assert_int_equal(v->n_svids, 2);
        assert_int_equal(v->federated.n_bundles, 2);
        assert_non_null(sigil_bundle_set_get(&v->federated, "td3.test"));
        assert_null(sigil_bundle_set_get(&v->federated, "td4.test"));
        v = cache_view_free(v);
        sigil_selector_set_done(&s);

        assert_int_equal(cache_bundles(c, &all), 0);
        assert_int_equal(all.n_bundles, 4);
        assert_int_equal(sigil_bundle_set_get(&all, TD)->sequence, 7);
        assert_non_null(sigil_bundle_set_get(&all, "td4.test"));
}

/* ---- entry changes ---- */

static void test_revision_change(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheSignJob *jobs = NULL;
        size_t n = 0;
        uint64_t next;
        CacheView *v = NULL;
        SigilSelectorSet s = sels("unix:uid:1");

        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, "a", "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);

        /* New revision, same SPIFFE ID: still served, under the new metadata, and due. */
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 2, 1, "b", "unix:uid:1", NULL));
        assert_int_equal(cache_view_get(c, &s, &v), 0);
        assert_int_equal(v->n_svids, 1);
        assert_string_equal(v->svids[0]->hint, "b");
        assert_int_equal(v->svids[0]->entry_revision, 2);
        v = cache_view_free(v);
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].entry_id, "e1");
        assert_int_equal(jobs[0].revision, 2);
        /* A result signed for revision 1 arriving now is discarded; the record stays due. */
        assert_int_equal(publish_with(c, &ca1, "e1", "spiffe://" TD "/one", 1, 3600), 0);
        cache_sign_jobs_free(jobs, n);
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 1);
        assert_int_equal(publish_with(c, &ca1, "e1", "spiffe://" TD "/one", 2, 3600), 1);
        cache_sign_jobs_free(jobs, n);

        /* A new SPIFFE ID: the old SVID goes at once. */
        upsert(c, mk_entry("e1", "spiffe://" TD "/renamed", 3, 1, "b", "unix:uid:1", NULL));
        assert_int_equal(cache_view_get(c, &s, &v), 0);
        assert_int_equal(v->n_svids, 0);
        v = cache_view_free(v);
        sigil_selector_set_done(&s);
}

static void test_snapshot_sweep(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheUpdate u = { .snapshot = true, .snapshot_done = true, .n_upserts = 1 };
        CacheInfo info = {};
        char buf[64];

        upsert(c, mk_entry("a", "spiffe://" TD "/a", 1, 1, NULL, "unix:uid:1", "td2.test"));
        upsert(c, mk_entry("b", "spiffe://" TD "/b", 1, 2, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("c", "spiffe://" TD "/c", 1, 3, NULL, "unix:uid:1", NULL));
        publish(c, "a", "spiffe://" TD "/a", 1);
        publish(c, "b", "spiffe://" TD "/b", 1);
        set_federated(c, "td2.test", 1);
        set_federated(c, "td3.test", 1);

        /* A new stream's snapshot names a (same revision) and td3 only. */
        cache_snapshot_begin(c);
        u.upserts = new0(CacheEntry *, 1);
        u.upserts[0] = mk_entry("a", "spiffe://" TD "/a", 1, 1, NULL, "unix:uid:1", "td2.test");
        assert_int_equal(sigil_bundle_set_put(&u.federated, mk_bundle("td3.test", &ca2, NULL, 1)),
                         0);
        assert_int_equal(cache_update(c, &u, sigil_now_usec()), 0);
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "a");
        assert_int_equal(cache_get_info(c, false, &info), 0);
        assert_int_equal(info.n_records, 1);
        assert_int_equal(info.n_svids, 1);
        assert_null(info.entries);
        assert_string_equal(info.federated[0], "td3.test");
        assert_null(info.federated[1]);
        cache_info_done(&info);
}

/* ---- signing bookkeeping ---- */

static void test_take_due(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheSignJob *jobs = NULL;
        uint64_t now = sigil_now_usec(), next = 0;
        size_t n = 0;

        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_null(jobs);
        assert_int_equal(next, USEC_INFINITY);
        for (int i = 0; i < 5; i++) {
                char id[8], sid[64];

                (void) snprintf(id, sizeof(id), "e%d", i);
                (void) snprintf(sid, sizeof(sid), "spiffe://" TD "/%d", i);
                upsert(c, mk_entry(id, sid, 1, i, NULL, "unix:uid:1", NULL));
        }
        /* At most @max, then the rest; in-flight records are not handed out twice. */
        assert_int_equal(cache_take_due(c, now, 3, &jobs, &n, &next), 0);
        assert_int_equal(n, 3);
        assert_int_equal(next, now);
        cache_sign_jobs_free(jobs, n);
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 2);
        /* Fail both: not due before their retry time. */
        for (size_t i = 0; i < n; i++)
                cache_sign_failed(c, jobs[i].entry_id, now + 5 * USEC_PER_SEC);
        cache_sign_jobs_free(jobs, n);
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_int_equal(next, now + 5 * USEC_PER_SEC);
        assert_int_equal(cache_take_due(c, now + 5 * USEC_PER_SEC, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
                cache_sign_failed(c, jobs[i].entry_id, now + 3600 * USEC_PER_SEC);
        cache_sign_jobs_free(jobs, n);
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        /* A new identity: retry times are forgotten, the records are due at once. */
        cache_retry_now(c);
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 2);
        cache_sign_jobs_free(jobs, n);
}

static void test_renewal_due(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheSignJob *jobs = NULL;
        uint64_t now = sigil_now_usec(), next = 0;
        size_t n = 0;

        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);     /* renew_at: now + 1 h */
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_true(next >= now + 3599 * USEC_PER_SEC && next <= now + 3601 * USEC_PER_SEC);
        assert_int_equal(cache_take_due(c, now + 3601 * USEC_PER_SEC, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 1);
        cache_sign_jobs_free(jobs, n);
        /* cache_retry_now() has nothing to undo here; the job is still in flight. */
        cache_retry_now(c);
        assert_int_equal(cache_take_due(c, now + 3601 * USEC_PER_SEC, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
}

static void test_ca_left_bundle(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheSignJob *jobs = NULL;
        uint64_t next;
        size_t n = 0;

        set_bundle(c, mk_bundle(TD, &ca1, NULL, 1));
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("e2", "spiffe://" TD "/two", 1, 1, NULL, "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        assert_int_equal(publish_with(c, &ca2, "e2", "spiffe://" TD "/two", 1, 3600), 1);
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        /* A rotation prepares CA2: both CAs are trusted, nothing to re-sign. */
        set_bundle(c, mk_bundle(TD, &ca1, &ca2, 2));
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        /* CA1 leaves: e1's SVID is re-signed at once, e2's is fine. */
        set_bundle(c, mk_bundle(TD, &ca2, NULL, 3));
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].entry_id, "e1");
        assert_int_equal(publish_with(c, &ca2, "e1", "spiffe://" TD "/one", 1, 3600), 1);
        cache_sign_jobs_free(jobs, n);
        assert_int_equal(cache_take_due(c, sigil_now_usec(), 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
}

/* The server says @ca signs now; SVIDs of other CAs are to be re-signed @delay_usec after @now. */
static void set_active_ca(Cache *c, const TestCa *ca, uint64_t now, uint64_t delay_usec) {
        char hex[128];
        CacheUpdate u = { .ca_resign_delay_usec = delay_usec };

        key_id_hex(ca, hex, sizeof(hex));
        u.active_ca_key_id = strdup(hex);
        assert_int_equal(cache_update(c, &u, now), 0);
}

static int compare_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The entry IDs due at @now, sorted and comma-separated (the jobs are left in flight). */
static const char *due_ids(Cache *c, uint64_t now, char *buf, size_t n_buf) {
        CacheSignJob *jobs = NULL;
        uint64_t next;
        size_t n = 0;
        char *ids[8];

        assert_int_equal(cache_take_due(c, now, 8, &jobs, &n, &next), 0);
        for (size_t i = 0; i < n; i++)
                ids[i] = jobs[i].entry_id;
        qsort(ids, n, sizeof(char *), compare_str);
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++)
                (void) snprintf(buf + strlen(buf), n_buf - strlen(buf), "%s%s", i ? "," : "",
                                ids[i]);
        cache_sign_jobs_free(jobs, n);
        return buf;
}

/*
 * A CA rotation never takes the old CA out of the bundle while its SVIDs
 * live; what moves them to the new CA at once is the server saying which CA
 * signs now.
 */
static void test_active_ca_changed(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        uint64_t now = sigil_now_usec(), next;
        CacheSignJob *jobs = NULL;
        char buf[64];
        size_t n;

        set_bundle(c, mk_bundle(TD, &ca1, &ca2, 1));
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        upsert(c, mk_entry("e2", "spiffe://" TD "/two", 1, 1, NULL, "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        publish(c, "e2", "spiffe://" TD "/two", 1);
        /* CA1 signs: as we hold. */
        set_active_ca(c, &ca1, now, 0);
        assert_string_equal(due_ids(c, now, buf, sizeof(buf)), "");
        /* CA2 takes over: CA1's SVIDs are due after the spread, long before renewal. */
        set_active_ca(c, &ca2, now, 300 * USEC_PER_MSEC);
        assert_int_equal(cache_take_due(c, now, 8, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_int_equal(next, now + 300 * USEC_PER_MSEC);
        assert_string_equal(due_ids(c, now + 300 * USEC_PER_MSEC, buf, sizeof(buf)), "e1,e2");
        /* e2 comes back from CA1 still (signed just before the switch): once more, only once. */
        assert_int_equal(publish_with(c, &ca2, "e1", "spiffe://" TD "/one", 1, 3600), 1);
        publish(c, "e2", "spiffe://" TD "/two", 1);
        assert_string_equal(due_ids(c, now, buf, sizeof(buf)), "e2");
        publish(c, "e2", "spiffe://" TD "/two", 1);
        assert_string_equal(due_ids(c, now, buf, sizeof(buf)), "");
        /* Said again (every snapshot says it): nothing new to do. */
        set_active_ca(c, &ca2, now, 0);
        assert_string_equal(due_ids(c, now, buf, sizeof(buf)), "");
        /* And back to CA1 (a restored server): e2 still holds CA1's SVID, e1 moves. */
        set_active_ca(c, &ca1, now, 0);
        assert_string_equal(due_ids(c, now, buf, sizeof(buf)), "e1");
}

/* ---- watches ---- */

typedef struct Counter {
        atomic_int n;
} Counter;

static void count_cb(void *userdata) {
        atomic_fetch_add(&((Counter *) userdata)->n, 1);
}

static CacheWatch *watch(Cache *c, const char *selectors, Counter *ctr) {
        SigilSelectorSet s = sels(selectors);
        CacheWatch *w = NULL;

        assert_int_equal(cache_watch(c, &s, count_cb, ctr, &w), 0);
        sigil_selector_set_done(&s);
        return w;
}

#define ASSERT_COUNTS(a, b, c_)                                                  \
        do {                                                                    \
                assert_int_equal(atomic_load(&w1n.n), (a));                     \
                assert_int_equal(atomic_load(&w2n.n), (b));                     \
                assert_int_equal(atomic_load(&w3n.n), (c_));                    \
        } while (0)

static void test_watch_relevance(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        Counter w1n = {}, w2n = {}, w3n = {};
        CacheWatch *w1 = watch(c, "unix:uid:1", &w1n);
        CacheWatch *w2 = watch(c, "unix:uid:2", &w2n);
        CacheWatch *w3 = watch(c, "unix:uid:1,unix:gid:5", &w3n);

        /* An entry without an SVID changes no view, nor does a new revision of it. */
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 0, 1, NULL, "unix:uid:1", "td2.test"));
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", "td2.test"));
        ASSERT_COUNTS(0, 0, 0);
        /* Its SVID: the views of uid 1 (and uid 1 + gid 5). */
        publish(c, "e1", "spiffe://" TD "/one", 1);
        ASSERT_COUNTS(1, 0, 1);
        /* The same revision again (a snapshot): nothing. */
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", "td2.test"));
        ASSERT_COUNTS(1, 0, 1);
        /* A new revision: those views again. */
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 2, 1, "h", "unix:uid:1", "td2.test"));
        ASSERT_COUNTS(2, 0, 2);
        /* An SVID only the uid 1 + gid 5 workload gets. */
        upsert(c, mk_entry("e2", "spiffe://" TD "/two", 1, 2, NULL, "unix:uid:1,unix:gid:5",
                           NULL));
        publish(c, "e2", "spiffe://" TD "/two", 1);
        ASSERT_COUNTS(2, 0, 3);
        /* Our bundle: everyone; the same bundle again: no one. */
        set_bundle(c, mk_bundle(TD, &ca1, NULL, 1));
        ASSERT_COUNTS(3, 1, 4);
        set_bundle(c, mk_bundle(TD, &ca1, NULL, 1));
        ASSERT_COUNTS(3, 1, 4);
        set_bundle(c, mk_bundle(TD, &ca1, NULL, 2));
        ASSERT_COUNTS(4, 2, 5);
        /* A federated bundle e1 federates with; one nobody uses; e1's again, unchanged. */
        set_federated(c, "td2.test", 1);
        ASSERT_COUNTS(5, 2, 6);
        set_federated(c, "td9.test", 1);
        ASSERT_COUNTS(5, 2, 6);
        set_federated(c, "td2.test", 1);
        ASSERT_COUNTS(5, 2, 6);
        /* Entry removed: the views that held its SVID. */
        remove_entry(c, "e2");
        ASSERT_COUNTS(5, 2, 7);
        remove_entry(c, "nonexistent");
        ASSERT_COUNTS(5, 2, 7);
        /* Unwatched: never again. */
        cache_unwatch(c, w1);
        publish(c, "e1", "spiffe://" TD "/one", 2);
        ASSERT_COUNTS(5, 2, 8);
        set_bundle(c, mk_bundle(TD, &ca2, NULL, 3));
        ASSERT_COUNTS(5, 3, 9);
        /* Expiry is a change too. */
        assert_int_equal(publish_with(c, &ca2, "e1", "spiffe://" TD "/one", 2, 0), 1);
        ASSERT_COUNTS(5, 3, 10);
        assert_int_equal(cache_expire(c, sigil_now_usec()), 1);
        ASSERT_COUNTS(5, 3, 11);
        cache_unwatch(c, w2);
        cache_unwatch(c, w3);
}

typedef struct ViewingWatch {
        Cache *cache;
        CacheWatch *w;
        SigilSelectorSet selectors;
        int calls;
        size_t last_n_svids;
        bool unwatch_self;
} ViewingWatch;

static void viewing_cb(void *userdata) {
        ViewingWatch *vw = userdata;
        CacheView *v = NULL;

        vw->calls++;
        assert_int_equal(cache_view_get(vw->cache, &vw->selectors, &v), 0);
        vw->last_n_svids = v->n_svids;
        cache_view_free(v);
        if (vw->unwatch_self) {
                cache_unwatch(vw->cache, vw->w);
                vw->w = NULL;
        }
}

/* An entry's expires_at wakes the rotator, and cache_expire() then withdraws its SVID. */
static void test_entry_expiry_withdraws(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        uint64_t now = sigil_now_usec(), next = 0;
        int64_t expires_at = (int64_t) sigil_now_sec() + 60;
        Counter wn = {};
        CacheWatch *w = watch(c, "unix:uid:1", &wn);
        CacheSignJob *jobs = NULL;
        CacheEntry *e = mk_entry("e", "spiffe://" TD "/e", 1, 1, NULL, "unix:uid:1", NULL);
        size_t n = 0;
        char buf[16];

        e->expires_at = expires_at;
        upsert(c, e);
        publish(c, "e", "spiffe://" TD "/e", 1);
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "e");
        assert_int_equal(cache_take_due(c, now, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_int_equal(next, (uint64_t) expires_at * USEC_PER_SEC);
        /* Before its time nothing goes; at its time the SVID goes and the watcher is told. */
        atomic_store(&wn.n, 0);
        assert_int_equal(cache_expire(c, next - 1), 0);
        assert_int_equal(atomic_load(&wn.n), 0);
        assert_int_equal(cache_expire(c, next), 1);
        assert_int_equal(atomic_load(&wn.n), 1);
        assert_string_equal(view_ids(c, "unix:uid:1", buf, sizeof(buf)), "");
        /* Nothing is signed for it any more, and no wake-up for it either. */
        assert_int_equal(cache_take_due(c, next, 10, &jobs, &n, &next), 0);
        assert_int_equal(n, 0);
        assert_int_equal(next, USEC_INFINITY);
        assert_int_equal(cache_expire(c, next), 0);
        cache_unwatch(c, w);
}

static void test_watch_callback_views_and_unwatches(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        ViewingWatch a = { .cache = c, .selectors = sels("unix:uid:1") };
        ViewingWatch b = { .cache = c, .selectors = sels("unix:uid:1"), .unwatch_self = true };

        assert_int_equal(cache_watch(c, &a.selectors, viewing_cb, &a, &a.w), 0);
        assert_int_equal(cache_watch(c, &b.selectors, viewing_cb, &b, &b.w), 0);
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        publish(c, "e1", "spiffe://" TD "/one", 1);
        /* The callback sees the change it is told about. */
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.last_n_svids, 1);
        assert_int_equal(b.calls, 1);
        assert_null(b.w);
        remove_entry(c, "e1");
        assert_int_equal(a.calls, 2);
        assert_int_equal(a.last_n_svids, 0);
        assert_int_equal(b.calls, 1);
        cache_unwatch(c, a.w);
        sigil_selector_set_done(&a.selectors);
        sigil_selector_set_done(&b.selectors);
}

/* A callback that unwatches another watch pinned by the same notification must not deadlock. */
typedef struct CrossWatch {
        Cache *cache;
        CacheWatch **other;
        int calls;
} CrossWatch;

static void cross_cb(void *userdata) {
        CrossWatch *x = userdata;

        x->calls++;
        if (*x->other) {
                cache_unwatch(x->cache, *x->other);
                *x->other = NULL;
        }
}

static void test_watch_unwatch_other_in_callback(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheWatch *wa = NULL, *wb = NULL;
        CrossWatch xa = { .cache = c, .other = &wb }, xb = { .cache = c, .other = &wa };
        SigilSelectorSet s = sels("unix:uid:1");

        assert_int_equal(cache_watch(c, &s, cross_cb, &xa, &wa), 0);
        assert_int_equal(cache_watch(c, &s, cross_cb, &xb, &wb), 0);
        set_bundle(c, mk_bundle(TD, &ca1, NULL, 1));
        /* Whichever ran first unwatched the other, which then did not run. */
        assert_int_equal(xa.calls + xb.calls, 1);
        assert_true((wa == NULL) != (wb == NULL));
        cache_unwatch(c, wa ? wa : wb);
        sigil_selector_set_done(&s);
}

typedef struct Churn {
        Cache *cache;
        atomic_bool stop;
} Churn;

static void *churn_thread(void *userdata) {
        Churn *ch = userdata;
        uint64_t seq = 1;

        for (; !atomic_load(&ch->stop); seq++)
                set_bundle(ch->cache, mk_bundle(TD, seq % 2 ? &ca1 : &ca2, NULL, seq));
        return NULL;
}

typedef struct Guarded {
        atomic_bool dead;
        atomic_int violations;
        atomic_int calls;
} Guarded;

static void guarded_cb(void *userdata) {
        Guarded *g = userdata;

        atomic_fetch_add(&g->calls, 1);
        if (atomic_load(&g->dead))
                atomic_fetch_add(&g->violations, 1);
}

static void test_unwatch_races_notifications(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        Churn ch = { .cache = c };
        SigilSelectorSet s = sels("unix:uid:1");
        pthread_t t;
        int calls = 0;

        assert_int_equal(pthread_create(&t, NULL, churn_thread, &ch), 0);
        for (int i = 0; i < 2000; i++) {
                Guarded *g = calloc(1, sizeof(*g));
                CacheWatch *w = NULL;

                assert_non_null(g);
                assert_int_equal(cache_watch(c, &s, guarded_cb, g, &w), 0);
                /* Every tenth watch waits to be called, so the race surely happens. */
                for (uint64_t until = sigil_monotonic_usec() + 2 * USEC_PER_SEC;
                     i % 10 == 0 && atomic_load(&g->calls) == 0 && sigil_monotonic_usec() < until;)
                        ;
                cache_unwatch(c, w);
                atomic_store(&g->dead, true);
                /* Were a callback still to run, it would find @g freed: ASan would say so. */
                assert_int_equal(atomic_load(&g->violations), 0);
                calls += atomic_load(&g->calls);
                free(g);
        }
        atomic_store(&ch.stop, true);
        assert_int_equal(pthread_join(t, NULL), 0);
        sigil_selector_set_done(&s);
        /* The churn did reach watches (the race was exercised). */
        assert_true(calls > 0);
}

static void test_generation(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        CacheInfo info = {};
        uint64_t g0, g1;

        assert_int_equal(cache_get_info(c, false, &info), 0);
        g0 = info.generation;
        cache_info_done(&info);
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        assert_int_equal(cache_get_info(c, false, &info), 0);
        g1 = info.generation;
        cache_info_done(&info);
        assert_true(g1 > g0);
        upsert(c, mk_entry("e1", "spiffe://" TD "/one", 1, 1, NULL, "unix:uid:1", NULL));
        assert_int_equal(cache_get_info(c, false, &info), 0);
        assert_int_equal(info.generation, g1);
        cache_info_done(&info);
}

static void test_set_bundle_checks_trust_domain(void **state) {
        _cleanup_(cache_freep) Cache *c = new_cache();
        SigilBundle *b = NULL;

        assert_int_equal(cache_set_bundle(c, mk_bundle("other.test", &ca1, NULL, 1)), -EINVAL);
        assert_int_equal(cache_bundle_get(c, &b), 0);
        assert_null(b);
        assert_int_equal(cache_set_bundle(c, mk_bundle(TD, &ca1, NULL, 1)), 0);
        assert_int_equal(cache_bundle_get(c, &b), 0);
        assert_non_null(b);
        sigil_bundle_free(b);
        assert_string_equal(cache_trust_domain(c), TD);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_view_subset_and_order),
                cmocka_unit_test(test_view_svid_fields),
                cmocka_unit_test(test_view_hint_dedup),
                cmocka_unit_test(test_view_expiry),
                cmocka_unit_test(test_view_bundles),
                cmocka_unit_test(test_revision_change),
                cmocka_unit_test(test_snapshot_sweep),
                cmocka_unit_test(test_take_due),
                cmocka_unit_test(test_renewal_due),
                cmocka_unit_test(test_ca_left_bundle),
                cmocka_unit_test(test_active_ca_changed),
                cmocka_unit_test(test_watch_relevance),
                cmocka_unit_test(test_entry_expiry_withdraws),
                cmocka_unit_test(test_watch_callback_views_and_unwatches),
                cmocka_unit_test(test_watch_unwatch_other_in_callback),
                cmocka_unit_test(test_unwatch_races_notifications),
                cmocka_unit_test(test_generation),
                cmocka_unit_test(test_set_bundle_checks_trust_domain),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
