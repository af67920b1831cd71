/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's cache, writer side (cache-internal.h): what the sync stream
 * says the agent is authorised for, the SVIDs the rotator obtained, and the
 * bundles. Views and watches are in cache-view.c.
 *
 * Invariants (all under c->lock):
 * - A record exists exactly for each entry the server last said is ours.
 * - A record's SVID, when present, has the entry's current SPIFFE ID; the
 *   SvidRef it points to is never modified (a metadata change publishes a
 *   new SvidRef holding the same certificate and key).
 * - A job handed out by cache_take_due() leaves its record in flight until
 *   cache_publish() or cache_sign_failed() answers it; in-flight records
 *   are never handed out twice.
 * - Every change that may alter a view is recorded in a CacheChanges and
 *   announced through cache_unlock_and_notify(), never with the lock held.
 */
#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cache-private.h"
#include "hex.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

CacheEntry *cache_entry_free(CacheEntry *e) {
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

static int strv_copy(char *const *l, char ***ret) {
        size_t n = strv_length(l);
        char **c;

        if (!l) {
                *ret = NULL;
                return 0;
        }
        c = new0(char *, n + 1);
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(l[i]))) {
                        strv_free(c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;

        if (s && !c)
                *oom = true;
        return c;
}

static int cache_entry_copy(const CacheEntry *e, CacheEntry **ret) {
        _cleanup_(cache_entry_freep) CacheEntry *c = new0(CacheEntry, 1);
        bool oom = false;

        if (!c)
                return -ENOMEM;
        *c = (CacheEntry) {
                .x509_svid_ttl = e->x509_svid_ttl, .jwt_svid_ttl = e->jwt_svid_ttl,
                .expires_at = e->expires_at, .revision = e->revision,
                .created_at = e->created_at, .admin = e->admin, .downstream = e->downstream,
        };
        c->id = strdup_or_null(e->id, &oom);
        c->spiffe_id = strdup_or_null(e->spiffe_id, &oom);
        c->parent_id = strdup_or_null(e->parent_id, &oom);
        c->hint = strdup_or_null(e->hint, &oom);
        if (oom || sigil_selector_set_copy(&e->selectors, &c->selectors) < 0 ||
            strv_copy(e->dns_names, &c->dns_names) < 0 ||
            strv_copy(e->federates_with, &c->federates_with) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

void cache_update_done(CacheUpdate *u) {
        for (size_t i = 0; i < u->n_upserts; i++)
                cache_entry_free(u->upserts[i]);
        free(u->upserts);
        for (size_t i = 0; i < u->n_removed_ids; i++)
                free(u->removed_ids[i]);
        free(u->removed_ids);
        for (size_t i = 0; i < u->n_removed_federated; i++)
                free(u->removed_federated[i]);
        free(u->removed_federated);
        free(u->active_ca_key_id);
        sigil_bundle_free(u->bundle);
        sigil_bundle_set_done(&u->federated);
        *u = (CacheUpdate) {};
}

/* ---- SVID references ---- */

SvidRef *svid_ref_ref(SvidRef *s) {
        atomic_fetch_add(&s->n_ref, 1);
        return s;
}

void svid_ref_unref(SvidRef *s) {
        if (!s || atomic_fetch_sub(&s->n_ref, 1) != 1)
                return;
        free(s->svid.entry_id);
        free(s->svid.spiffe_id);
        free(s->svid.hint);
        strv_free(s->svid.federates_with);
        free(s->svid.chain_der);
        clear_free(s->svid.key_pkcs8, s->svid.n_key_pkcs8);
        free(s);
}

/* A new SvidRef for @e holding @chain and @key (both taken, even on failure). */
static SvidRef *svid_ref_new(const CacheEntry *e, uint8_t *chain, size_t n_chain, uint8_t *key,
                             size_t n_key, uint64_t not_after) {
        SvidRef *s = new0(SvidRef, 1);
        bool oom = !s;

        if (s) {
                atomic_init(&s->n_ref, 1);
                s->svid = (CacheSvid) {
                        .entry_created_at = e->created_at, .entry_revision = e->revision,
                        .jwt_svid_ttl = e->jwt_svid_ttl, .chain_der = chain,
                        .n_chain_der = n_chain, .key_pkcs8 = key, .n_key_pkcs8 = n_key,
                        .not_after = not_after,
                };
                s->svid.entry_id = strdup_or_null(e->id, &oom);
                s->svid.spiffe_id = strdup_or_null(e->spiffe_id, &oom);
                s->svid.hint = strdup_or_null(e->hint, &oom);
                if (strv_copy(e->federates_with, &s->svid.federates_with) < 0)
                        oom = true;
        }
        if (oom) {
                if (s)
                        svid_ref_unref(s);
                else {
                        free(chain);
                        clear_free(key, n_key);
                }
                return NULL;
        }
        return s;
}

/* The same certificate and key under @e's current metadata (hint, federations, revision). */
static SvidRef *svid_ref_rebind(const SvidRef *old, const CacheEntry *e) {
        uint8_t *chain = malloc(old->svid.n_chain_der), *key = malloc(old->svid.n_key_pkcs8);

        if (!chain || !key) {
                free(chain);
                free(key);
                return NULL;
        }
        memcpy(chain, old->svid.chain_der, old->svid.n_chain_der);
        memcpy(key, old->svid.key_pkcs8, old->svid.n_key_pkcs8);
        return svid_ref_new(e, chain, old->svid.n_chain_der, key, old->svid.n_key_pkcs8,
                            old->svid.not_after);
}

/* ---- records ---- */

bool record_servable(const Record *r, uint64_t now_sec) {
        return r->svid && r->svid->svid.not_after > now_sec &&
               (r->entry->expires_at == 0 || r->entry->expires_at > (int64_t) now_sec);
}

static void record_drop_svid(Record *r, CacheChanges *ch) {
        if (!r->svid)
                return;
        svid_ref_unref(r->svid);
        r->svid = NULL;
        r->svid_revision = 0;
        r->serial[0] = r->issuer[0] = r->issuer_key_id[0] = '\0';
        r->not_before = r->renew_at_usec = r->svid_cached_at_usec = 0;
        cache_changes_add_set(ch, &r->entry->selectors);
        ch->any = ch->work = true;
}

static void record_free(void *p) {
        Record *r = p;

        if (!r)
                return;
        svid_ref_unref(r->svid);
        cache_entry_free(r->entry);
        free(r);
}

int cache_new(const char *trust_domain, Cache **ret) {
        Cache *c;

        if (sigil_trust_domain_validate(trust_domain, NULL, 0) != 0)
                return -EINVAL;
        c = new0(Cache, 1);
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->unpinned, NULL);
        (void) snprintf(c->td.name, sizeof(c->td.name), "%s", trust_domain);
        c->records = hashmap_new();
        c->federated_seen = hashmap_new();
        if (!c->records || !c->federated_seen) {
                cache_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

Cache *cache_free(Cache *c) {
        if (!c)
                return NULL;
        assert(!c->watches);
        hashmap_free(c->records, record_free);
        hashmap_free(c->federated_seen, NULL);
        sigil_bundle_free(c->bundle);
        sigil_bundle_set_done(&c->federated);
        pthread_cond_destroy(&c->unpinned);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

const char *cache_trust_domain(const Cache *c) {
        return c->td.name;
}

void cache_set_work_callback(Cache *c, void (*cb)(void *userdata), void *userdata) {
        pthread_mutex_lock(&c->lock);
        c->work_cb = cb;
        c->work_userdata = userdata;
        pthread_mutex_unlock(&c->lock);
}

void cache_snapshot_begin(Cache *c) {
        HashmapIter it = HASHMAP_ITER_INIT;
        Hashmap *seen = hashmap_new();
        void *v;

        pthread_mutex_lock(&c->lock);
        while (hashmap_next(c->records, &it, NULL, &v))
                ((Record *) v)->seen = false;
        if (seen) {
                hashmap_free(c->federated_seen, NULL);
                c->federated_seen = seen;
        }
        pthread_mutex_unlock(&c->lock);
}

/* ---- applying sync messages ---- */

/* @e replaces what @r held for an older revision (lock held). */
static void record_change_entry(Record *r, CacheEntry *e, CacheChanges *ch) {
        _cleanup_(cache_entry_freep) CacheEntry *old = r->entry;
        SvidRef *n;

        ch->any = ch->work = true;
        r->entry = e;
        r->retry_at_usec = 0;
        if (!r->svid)
                return;         /* in no view: nobody to tell */
        cache_changes_add_set(ch, &old->selectors);
        cache_changes_add_set(ch, &e->selectors);
        /*
         * Same SPIFFE ID: keep serving the certificate, under the entry's new
         * metadata, until the re-signed one arrives. A new SPIFFE ID: drop it now.
         */
        n = streq(old->spiffe_id, e->spiffe_id) ? svid_ref_rebind(r->svid, e) : NULL;
        if (!n) {
                record_drop_svid(r, ch);
                return;
        }
        svid_ref_unref(r->svid);
        r->svid = n;
}

static int apply_upsert(Cache *c, CacheEntry *e, uint64_t now_usec, CacheChanges *ch) {
        Record *r = hashmap_get(c->records, e->id);

        if (r) {
                r->seen = true;
                if (r->entry->revision == e->revision) {
                        cache_entry_free(e);
                        return 0;
                }
                r->synced_at_usec = now_usec;
                record_change_entry(r, e, ch);
                return 0;
        }
        r = new0(Record, 1);
        if (!r) {
                cache_entry_free(e);
                return -ENOMEM;
        }
        r->entry = e;
        r->seen = true;
        r->synced_at_usec = now_usec;
        if (hashmap_put(c->records, e->id, r, NULL) < 0) {
                record_free(r);
                return -ENOMEM;
        }
        ch->any = ch->work = true;
        return 0;
}

static void apply_remove(Cache *c, const char *id, CacheChanges *ch) {
        Record *r = hashmap_remove(c->records, id);

        if (!r)
                return;
        ch->any = true;
        if (r->svid)
                cache_changes_add_set(ch, &r->entry->selectors);
        record_free(r);
}

/* Whether some authority of @b issued the top certificate of @der (a DER chain). */
static bool chain_issuer_in_bundle(const uint8_t *der, size_t n, const SigilBundle *b) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        X509 *top;

        if (!b || sigil_x509_chain_from_der(der, n, &chain, NULL) < 0)
                return false;
        top = sk_X509_value(chain, sk_X509_num(chain) - 1);
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++)
                if (X509_check_issued(sk_X509_value(b->x509_authorities, i), top) == X509_V_OK)
                        return true;
        return false;
}

/* Our bundle is now @b (taken): mark the SVIDs whose CA left it (lock held). */
static void apply_bundle(Cache *c, SigilBundle *b, CacheChanges *ch) {
        HashmapIter it = HASHMAP_ITER_INIT;
        bool same = c->bundle && sigil_bundle_equal_authorities(c->bundle, b) &&
                    c->bundle->sequence == b->sequence;
        void *v;

        sigil_bundle_free(c->bundle);
        c->bundle = b;
        if (same)
                return;
        ch->any = ch->all = true;
        while (hashmap_next(c->records, &it, NULL, &v)) {
                Record *r = v;

                if (!r->svid || r->stale ||
                    chain_issuer_in_bundle(r->svid->svid.chain_der, r->svid->svid.n_chain_der, b))
                        continue;
                log_info("the CA that issued the SVID of entry '%s' left the bundle; re-signing",
                         r->entry->id);
                r->stale = true;
                ch->work = true;
        }
}

/* Whether @r holds an SVID that a CA other than the one signing now issued (lock held). */
static bool record_from_other_ca(const Cache *c, const Record *r) {
        return r->svid && c->active_ca_key_id[0] && r->issuer_key_id[0] &&
               !streq(r->issuer_key_id, c->active_ca_key_id);
}

/*
 * The server signs with the X.509 CA @key_id now: the SVIDs of the others are
 * re-signed at @resign_at_usec rather than at their renewal times, which can
 * be far off (lock held).
 */
static void apply_active_ca(Cache *c, const char *key_id, uint64_t resign_at_usec,
                            CacheChanges *ch) {
        HashmapIter it = HASHMAP_ITER_INIT;
        size_t n = 0;
        void *v;

        if (isempty(key_id) || strlen(key_id) >= sizeof(c->active_ca_key_id) ||
            streq(key_id, c->active_ca_key_id))
                return;
        (void) snprintf(c->active_ca_key_id, sizeof(c->active_ca_key_id), "%s", key_id);
        while (hashmap_next(c->records, &it, NULL, &v)) {
                Record *r = v;

                r->ca_resigned = false;
                if (!record_from_other_ca(c, r))
                        continue;
                if (!r->stale)
                        r->retry_at_usec = MAX(r->retry_at_usec, resign_at_usec);
                r->stale = true;
                n++;
        }
        if (n == 0)
                return;
        log_info("the X.509 CA %s signs now; re-signing the %zu SVID(s) another CA issued",
                 key_id, n);
        ch->work = true;
}

static int apply_federated(Cache *c, SigilBundleSet *set, CacheChanges *ch) {
        while (set->n_bundles > 0) {
                SigilBundle *b = set->bundles[set->n_bundles - 1];
                const SigilBundle *old = sigil_bundle_set_get(&c->federated, b->td.name);
                bool same = old && sigil_bundle_equal_authorities(old, b) &&
                            old->sequence == b->sequence;
                int r;

                set->n_bundles--;
                if (streq(b->td.name, c->td.name)) {
                        sigil_bundle_free(b);   /* ours never comes as a federated one */
                        continue;
                }
                (void) hashmap_put(c->federated_seen, b->td.name, NULL, NULL);
                if (same) {
                        sigil_bundle_free(b);
                        continue;
                }
                cache_changes_add_td(ch, b->td.name);
                ch->any = true;
                r = sigil_bundle_set_put(&c->federated, b);
                if (r < 0) {
                        sigil_bundle_free(b);
                        return r;
                }
        }
        return 0;
}

static void remove_federated(Cache *c, const char *td, CacheChanges *ch) {
        if (!sigil_bundle_set_get(&c->federated, td))
                return;
        (void) sigil_bundle_set_remove(&c->federated, td);
        cache_changes_add_td(ch, td);
        ch->any = true;
}

/* The end of a snapshot: drop what it did not name (lock held). */
static void sweep_unseen(Cache *c, CacheChanges *ch) {
        for (;;) {
                HashmapIter it = HASHMAP_ITER_INIT;
                const char *id = NULL;
                void *v;

                while (hashmap_next(c->records, &it, &id, &v) && ((Record *) v)->seen)
                        id = NULL;
                if (!id)
                        break;
                log_debug("entry '%s' was not in the snapshot; dropping it", id);
                apply_remove(c, id, ch);
        }
        for (size_t i = c->federated.n_bundles; i > 0; i--) {
                char td[sizeof(c->federated.bundles[i - 1]->td.name)];

                memcpy(td, c->federated.bundles[i - 1]->td.name, sizeof(td));
                if (!hashmap_contains(c->federated_seen, td))
                        remove_federated(c, td, ch);
        }
}

int cache_update(Cache *c, CacheUpdate *u, uint64_t now_usec) {
        CacheChanges ch = {};
        int r = 0;

        pthread_mutex_lock(&c->lock);
        if (u->bundle) {
                if (streq(u->bundle->td.name, c->td.name))
                        apply_bundle(c, TAKE_PTR(u->bundle), &ch);
                else
                        log_warning("ignoring a bundle of trust domain '%s' sent as ours",
                                    u->bundle->td.name);
        }
        for (size_t i = 0; i < u->n_upserts && r >= 0; i++)
                r = apply_upsert(c, TAKE_PTR(u->upserts[i]), now_usec, &ch);
        for (size_t i = 0; i < u->n_removed_ids; i++)
                apply_remove(c, u->removed_ids[i], &ch);
        if (u->active_ca_key_id)
                apply_active_ca(c, u->active_ca_key_id, now_usec + u->ca_resign_delay_usec, &ch);
        if (r >= 0)
                r = apply_federated(c, &u->federated, &ch);
        for (size_t i = 0; i < u->n_removed_federated; i++)
                remove_federated(c, u->removed_federated[i], &ch);
        if (r >= 0 && u->snapshot_done)
                sweep_unseen(c, &ch);
        cache_unlock_and_notify(c, &ch);
        cache_update_done(u);
        return r;
}

int cache_set_bundle(Cache *c, SigilBundle *b) {
        CacheChanges ch = {};

        if (!streq(b->td.name, c->td.name)) {
                sigil_bundle_free(b);
                return -EINVAL;
        }
        pthread_mutex_lock(&c->lock);
        apply_bundle(c, b, &ch);
        cache_unlock_and_notify(c, &ch);
        return 0;
}

int cache_bundle_get(Cache *c, SigilBundle **ret) {
        int r = 0;

        pthread_mutex_lock(&c->lock);
        if (c->bundle)
                r = sigil_bundle_copy(c->bundle, ret);
        else
                *ret = NULL;
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* ---- signing ---- */

void cache_sign_jobs_free(CacheSignJob *jobs, size_t n) {
        for (size_t i = 0; jobs && i < n; i++) {
                free(jobs[i].entry_id);
                free(jobs[i].spiffe_id);
        }
        free(jobs);
}

/* When @r needs signing (0: now), and when its SVID expires (USEC_INFINITY: none). */
static uint64_t record_due_usec(const Record *r, uint64_t *ret_expiry) {
        bool needs_new = !r->svid || r->svid_revision != r->entry->revision || r->stale;

        *ret_expiry = r->svid ? r->svid->svid.not_after * USEC_PER_SEC : USEC_INFINITY;
        if (needs_new)
                return r->retry_at_usec;
        return MAX(r->renew_at_usec, r->retry_at_usec);
}

static bool entry_expired(const CacheEntry *e, uint64_t now_usec) {
        return e->expires_at > 0 && (uint64_t) e->expires_at * USEC_PER_SEC <= now_usec;
}

static int job_fill(CacheSignJob *j, const Record *r) {
        j->entry_id = strdup(r->entry->id);
        j->spiffe_id = strdup(r->entry->spiffe_id);
        j->revision = r->entry->revision;
        return j->entry_id && j->spiffe_id ? 0 : -ENOMEM;
}

int cache_take_due(Cache *c, uint64_t now_usec, size_t max, CacheSignJob **ret, size_t *ret_n,
                   uint64_t *ret_next_usec) {
        HashmapIter it = HASHMAP_ITER_INIT;
        CacheSignJob *jobs = NULL;
        uint64_t next = USEC_INFINITY;
        size_t n = 0;
        int r = 0;
        void *v;

        pthread_mutex_lock(&c->lock);
        if (max > 0)
                jobs = new0(CacheSignJob, MIN(max, hashmap_size(c->records)));
        if (max > 0 && !jobs)
                r = -ENOMEM;
        while (r >= 0 && hashmap_next(c->records, &it, NULL, &v)) {
                Record *rec = v;
                uint64_t expiry, due;

                if (rec->in_flight || entry_expired(rec->entry, now_usec))
                        continue;
                due = record_due_usec(rec, &expiry);
                next = MIN(next, expiry);
                /* Wake at the entry's expiry too: cache_expire() withdraws its SVID then. */
                if (rec->svid && rec->entry->expires_at > 0)
                        next = MIN(next, (uint64_t) rec->entry->expires_at * USEC_PER_SEC);
                if (due > now_usec || n >= max) {
                        next = MIN(next, MAX(due, now_usec));
                        continue;
                }
                r = job_fill(&jobs[n], rec);
                if (r >= 0)
                        rec->in_flight = true;
                n++;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++) {
                        Record *rec = jobs[i].entry_id ? hashmap_get(c->records, jobs[i].entry_id)
                                                       : NULL;

                        if (rec)
                                rec->in_flight = false;
                }
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                cache_sign_jobs_free(jobs, n);
                return r;
        }
        if (n == 0) {
                free(jobs);
                jobs = NULL;
        }
        *ret = jobs;
        *ret_n = n;
        *ret_next_usec = next;
        return 0;
}

/* Install one result (lock held). Return: 1 published, 0 discarded, -ENOMEM. */
static int publish_one(Cache *c, CacheSigned *s, uint64_t now_usec, CacheChanges *ch) {
        Record *r = hashmap_get(c->records, s->entry_id);
        SvidRef *ref;

        if (r)
                r->in_flight = false;
        if (!r || r->entry->revision != s->revision) {
                log_debug("discarding the SVID signed for entry '%s' revision %lld: the entry "
                          "changed meanwhile", s->entry_id, (long long) s->revision);
                return 0;
        }
        ref = svid_ref_new(r->entry, TAKE_PTR(s->chain_der), s->n_chain_der,
                           TAKE_PTR(s->key_pkcs8), s->n_key_pkcs8, s->not_after);
        if (!ref)
                return -ENOMEM;
        svid_ref_unref(r->svid);
        r->svid = ref;
        r->svid_revision = s->revision;
        r->not_before = s->not_before;
        r->renew_at_usec = s->renew_at_usec;
        r->retry_at_usec = 0;
        r->svid_cached_at_usec = now_usec;
        r->stale = false;
        memcpy(r->serial, s->serial, sizeof(r->serial));
        memcpy(r->issuer, s->issuer, sizeof(r->issuer));
        memcpy(r->issuer_key_id, s->issuer_key_id, sizeof(r->issuer_key_id));
        cache_changes_add_set(ch, &r->entry->selectors);
        ch->any = true;
        /*
         * Signed by the previous CA while the news of the next one was on its
         * way: once more. Only once per activation, so that a server whose CA
         * never matches what it announced cannot make us re-sign in a loop.
         */
        if (record_from_other_ca(c, r) && !r->ca_resigned) {
                log_debug("the SVID of entry '%s' is from CA %s, not the active %s; re-signing",
                          r->entry->id, r->issuer_key_id, c->active_ca_key_id);
                r->ca_resigned = r->stale = ch->work = true;
        }
        return 1;
}

int cache_publish(Cache *c, CacheSigned *items, size_t n, uint64_t now_usec) {
        CacheChanges ch = {};
        int r = 0, k;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < n; i++) {
                k = publish_one(c, &items[i], now_usec, &ch);
                if (k < 0 && r >= 0)
                        r = k;
                else if (k > 0 && r >= 0)
                        r++;
                free(TAKE_PTR(items[i].chain_der));
                items[i].key_pkcs8 = clear_free(items[i].key_pkcs8, items[i].n_key_pkcs8);
        }
        cache_unlock_and_notify(c, &ch);
        return r;
}

void cache_sign_failed(Cache *c, const char *entry_id, uint64_t retry_at_usec) {
        Record *r;

        pthread_mutex_lock(&c->lock);
        r = hashmap_get(c->records, entry_id);
        if (r) {
                r->in_flight = false;
                r->retry_at_usec = retry_at_usec;
        }
        pthread_mutex_unlock(&c->lock);
}

void cache_retry_now(Cache *c) {
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        pthread_mutex_lock(&c->lock);
        while (hashmap_next(c->records, &it, NULL, &v))
                ((Record *) v)->retry_at_usec = 0;
        pthread_mutex_unlock(&c->lock);
}

size_t cache_expire(Cache *c, uint64_t now_usec) {
        HashmapIter it = HASHMAP_ITER_INIT;
        CacheChanges ch = {};
        size_t n = 0;
        void *v;

        pthread_mutex_lock(&c->lock);
        while (hashmap_next(c->records, &it, NULL, &v)) {
                Record *r = v;

                if (!r->svid)
                        continue;
                if (entry_expired(r->entry, now_usec))
                        log_info("entry '%s' (%s) expired: its SVID is withdrawn", r->entry->id,
                                 r->entry->spiffe_id);
                else if (r->svid->svid.not_after * USEC_PER_SEC <= now_usec)
                        log_warning("the SVID of entry '%s' (%s) expired before it could be "
                                    "renewed", r->entry->id, r->entry->spiffe_id);
                else
                        continue;
                record_drop_svid(r, &ch);
                n++;
        }
        cache_unlock_and_notify(c, &ch);
        return n;
}

/* ---- inspection ---- */

static int info_entry_fill(CacheInfoEntry *i, const Record *r) {
        *i = (CacheInfoEntry) {
                .svid_revision = r->svid ? r->svid_revision : 0,
                .not_before = r->svid ? r->not_before : 0,
                .not_after = r->svid ? r->svid->svid.not_after : 0,
                .synced_at_usec = r->synced_at_usec,
                .svid_cached_at_usec = r->svid_cached_at_usec,
                .renew_at_usec = r->renew_at_usec,
        };
        memcpy(i->serial, r->serial, sizeof(i->serial));
        memcpy(i->issuer, r->issuer, sizeof(i->issuer));
        memcpy(i->issuer_key_id, r->issuer_key_id, sizeof(i->issuer_key_id));
        return cache_entry_copy(r->entry, &i->entry);
}

static int info_entry_compare(const void *a, const void *b) {
        return strcmp(((const CacheInfoEntry *) a)->entry->id,
                      ((const CacheInfoEntry *) b)->entry->id);
}

static int string_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The subject key identifiers of @b's X.509 authorities as hex strings. */
static int bundle_key_ids(const SigilBundle *b, char ***ret) {
        int n = b ? sk_X509_num(b->x509_authorities) : 0;
        char **l = new0(char *, (size_t) n + 1);

        if (!l)
                return -ENOMEM;
        *ret = l;
        for (int i = 0; i < n; i++) {
                const ASN1_OCTET_STRING *ski =
                        X509_get0_subject_key_id(sk_X509_value(b->x509_authorities, i));
                size_t len = ski ? (size_t) ASN1_STRING_length(ski) : 0;
                const uint8_t *d = ski ? ASN1_STRING_get0_data(ski) : NULL;

                l[i] = malloc(2 * len + 1);
                if (!l[i])
                        return -ENOMEM;
                (void) hex_encode(d, len, l[i], 2 * len + 1);
        }
        return 0;
}

static int info_fill_locked(Cache *c, bool with_entries, CacheInfo *info) {
        HashmapIter it = HASHMAP_ITER_INIT;
        uint64_t now = sigil_now_sec();
        void *v;
        int r;

        info->generation = c->generation;
        info->n_records = hashmap_size(c->records);
        if (c->bundle) {
                info->bundle_sequence = c->bundle->sequence;
                info->n_x509_authorities = (size_t) sk_X509_num(c->bundle->x509_authorities);
                info->n_jwt_authorities = c->bundle->n_jwt_authorities;
        }
        r = bundle_key_ids(c->bundle, &info->x509_key_ids);
        if (r < 0)
                return r;
        info->federated = new0(char *, c->federated.n_bundles + 1);
        if (!info->federated)
                return -ENOMEM;
        for (size_t i = 0; i < c->federated.n_bundles; i++)
                if (!(info->federated[i] = strdup(c->federated.bundles[i]->td.name)))
                        return -ENOMEM;
        qsort(info->federated, c->federated.n_bundles, sizeof(char *), string_compare);
        if (with_entries && !(info->entries = new0(CacheInfoEntry, info->n_records)))
                return -ENOMEM;
        while (hashmap_next(c->records, &it, NULL, &v)) {
                if (record_servable(v, now))
                        info->n_svids++;
                if (!with_entries)
                        continue;
                r = info_entry_fill(&info->entries[info->n_entries++], v);
                if (r < 0)
                        return r;
        }
        if (with_entries)
                qsort(info->entries, info->n_entries, sizeof(CacheInfoEntry), info_entry_compare);
        return 0;
}

int cache_get_info(Cache *c, bool with_entries, CacheInfo *ret) {
        CacheInfo info = {};
        int r;

        pthread_mutex_lock(&c->lock);
        r = info_fill_locked(c, with_entries, &info);
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                cache_info_done(&info);
                return r;
        }
        *ret = info;
        return 0;
}

void cache_info_done(CacheInfo *info) {
        strv_free(info->x509_key_ids);
        strv_free(info->federated);
        for (size_t i = 0; i < info->n_entries; i++)
                cache_entry_free(info->entries[i].entry);
        free(info->entries);
        *info = (CacheInfo) {};
}
