/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sync thread (sync-client.h). The stream is read with a short timeout
 * so that stop and reconnect requests are seen within SYNC_POLL_USEC. The
 * generated SyncUpdate never leaves this file: entries are checked and
 * converted into CacheEntry (a malformed entry is logged and skipped, the
 * rest of the message still applies), bundles are parsed for the trust
 * domain they are sent for.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "schedule.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"
#include "sync-client.h"

#define ENTRY_ID_MAX 256

typedef Sigil__Agent__V1__SyncUpdate SyncUpdate;
typedef Sigil__Admin__V1__Entry ProtoEntry;

struct SyncClient {
        ServerClient *sc;
        Cache *cache;
        SyncCallbacks cbs;
        char trust_domain[SIGIL_TRUST_DOMAIN_MAX + 1];
        Backoff backoff;
        pthread_t thread;
        bool started;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        bool reconnect;                 /* end the current stream and connect again */
        bool paused;                    /* rejected: wait for sync_client_resume() */
        SyncStatus status;
};

/* ---- converting messages ---- */

static int strv_from_proto(char **items, size_t n, bool trust_domains, char ***ret,
                           SigilErr *reterr) {
        _cleanup_(strv_freep) char **l = NULL;

        if (n > SYNC_NAMES_MAX)
                return sigil_err_set(reterr, -EINVAL, "more than %d names", SYNC_NAMES_MAX);
        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        l = new0(char *, n + 1);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (trust_domains && sigil_trust_domain_validate(items[i], NULL, 0) != 0)
                        return sigil_err_set(reterr, -EINVAL, "invalid trust domain '%s'",
                                             items[i]);
                if (!(l[i] = strdup(items[i])))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int entry_ids_check(const ProtoEntry *p, SigilErr *reterr) {
        SigilSpiffeId id;

        if (isempty(p->id) || strlen(p->id) > ENTRY_ID_MAX)
                return sigil_err_set(reterr, -EINVAL, "missing or overlong entry ID");
        if (sigil_spiffeid_from_string(p->spiffe_id, &id, reterr) < 0 ||
            sigil_spiffeid_is_root(&id))
                return sigil_err_set(reterr, -EINVAL, "invalid SPIFFE ID '%s'", p->spiffe_id);
        if (sigil_spiffeid_from_string(p->parent_id, &id, reterr) < 0)
                return sigil_err_set(reterr, -EINVAL, "invalid parent ID '%s'", p->parent_id);
        if (p->n_selectors == 0 || p->n_selectors > SYNC_SELECTORS_MAX)
                return sigil_err_set(reterr, -EINVAL, "needs 1 to %d selectors",
                                     SYNC_SELECTORS_MAX);
        return 0;
}

static int entry_from_proto(const ProtoEntry *p, CacheEntry **ret, SigilErr *reterr) {
        _cleanup_(cache_entry_freep) CacheEntry *e = NULL;
        int r;

        r = entry_ids_check(p, reterr);
        if (r < 0)
                return r;
        e = new0(CacheEntry, 1);
        if (!e)
                return -ENOMEM;
        *e = (CacheEntry) {
                .x509_svid_ttl = p->x509_svid_ttl, .jwt_svid_ttl = p->jwt_svid_ttl,
                .expires_at = p->expires_at, .revision = p->revision_number,
                .created_at = p->created_at, .admin = p->admin, .downstream = p->downstream,
        };
        e->id = strdup(p->id);
        e->spiffe_id = strdup(p->spiffe_id);
        e->parent_id = strdup(p->parent_id);
        e->hint = isempty(p->hint) ? NULL : strdup(p->hint);
        if (!e->id || !e->spiffe_id || !e->parent_id || (!isempty(p->hint) && !e->hint))
                return -ENOMEM;
        for (size_t i = 0; i < p->n_selectors; i++) {
                r = sigil_selector_set_add(&e->selectors, p->selectors[i]->type,
                                           p->selectors[i]->value, reterr);
                if (r < 0)
                        return r;
        }
        r = strv_from_proto(p->dns_names, p->n_dns_names, false, &e->dns_names, reterr);
        if (r >= 0)
                r = strv_from_proto(p->federates_with, p->n_federates_with, true,
                                    &e->federates_with, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

static int convert_entries(const SyncUpdate *m, CacheUpdate *u) {
        u->upserts = new0(CacheEntry *, m->n_upserts);
        if (!u->upserts)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_upserts; i++) {
                SigilErr err = {};
                int r = entry_from_proto(m->upserts[i], &u->upserts[u->n_upserts], &err);

                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning("ignoring entry '%s' from the server: %s",
                                    m->upserts[i]->id, err.msg);
                        continue;
                }
                u->n_upserts++;
        }
        return 0;
}

static int strdup_array(char **items, size_t n, char ***ret, size_t *ret_n) {
        char **l = new0(char *, n);

        if (!l)
                return -ENOMEM;
        *ret = l;
        for (*ret_n = 0; *ret_n < n; (*ret_n)++)
                if (!(l[*ret_n] = strdup(items[*ret_n])))
                        return -ENOMEM;
        return 0;
}

static int convert_bundles(SyncClient *s, const SyncUpdate *m, CacheUpdate *u) {
        SigilErr err = {};
        int r;

        if (m->bundle.len > 0 &&
            sigil_bundle_from_spiffe_json(s->trust_domain, (const char *) m->bundle.data,
                                          m->bundle.len, &u->bundle, &err) < 0)
                log_warning("ignoring a malformed trust bundle from the server: %s", err.msg);
        for (size_t i = 0; i < m->n_federated_bundles; i++) {
                const Sigil__Agent__V1__SyncUpdate__FederatedBundlesEntry *f =
                        m->federated_bundles[i];
                SigilBundle *b = NULL;

                if (sigil_bundle_from_spiffe_json(f->key, (const char *) f->value.data,
                                                  f->value.len, &b, &err) < 0) {
                        log_warning("ignoring the malformed bundle of '%s' from the server: %s",
                                    f->key, err.msg);
                        continue;
                }
                r = sigil_bundle_set_put(&u->federated, b);
                if (r < 0) {
                        sigil_bundle_free(b);
                        return r;
                }
        }
        return strdup_array(m->removed_federated, m->n_removed_federated, &u->removed_federated,
                            &u->n_removed_federated);
}

/* The active CA's key ID as hex (what the rotator records as an SVID's issuer_key_id). */
static int convert_active_ca(const SyncUpdate *m, CacheUpdate *u) {
        const ProtobufCBinaryData *id = &m->active_x509_key_id;
        double spread = (1.0 + schedule_random_unit()) / 2.0;

        if (id->len == 0)
                return 0;
        if (id->len > SYNC_KEY_ID_MAX) {
                log_warning("ignoring an overlong active CA key ID from the server (%zu bytes)",
                            id->len);
                return 0;
        }
        u->active_ca_key_id = malloc(2 * id->len + 1);
        if (!u->active_ca_key_id)
                return -ENOMEM;
        (void) hex_encode(id->data, id->len, u->active_ca_key_id, 2 * id->len + 1);
        u->ca_resign_delay_usec = (uint64_t) (spread * (double) SYNC_CA_RESIGN_SPREAD_USEC);
        return 0;
}

static int convert_update(SyncClient *s, const SyncUpdate *m, CacheUpdate *u) {
        int r;

        u->snapshot = m->snapshot;
        u->snapshot_done = m->snapshot_done;
        r = convert_active_ca(m, u);
        if (r >= 0)
                r = convert_entries(m, u);
        if (r >= 0)
                r = strdup_array(m->removed_ids, m->n_removed_ids, &u->removed_ids,
                                 &u->n_removed_ids);
        if (r >= 0)
                r = convert_bundles(s, m, u);
        return r;
}

/* ---- the stream ---- */

static bool should_leave(SyncClient *s) {
        bool leave;

        pthread_mutex_lock(&s->lock);
        leave = s->stop || s->reconnect;
        pthread_mutex_unlock(&s->lock);
        return leave;
}

/* Whether @b differs from the bundle the cache holds (every snapshot resends it). */
static bool bundle_is_new(SyncClient *s, const SigilBundle *b) {
        _cleanup_(sigil_bundle_freep) SigilBundle *old = NULL;

        if (cache_bundle_get(s->cache, &old) < 0 || !old)
                return true;
        return old->sequence != b->sequence || !sigil_bundle_equal_authorities(old, b);
}

static void log_snapshot_done(SyncClient *s) {
        CacheInfo info = {};
        unsigned n;

        pthread_mutex_lock(&s->lock);
        n = s->status.n_streams;
        pthread_mutex_unlock(&s->lock);
        if (cache_get_info(s->cache, false, &info) < 0)
                return;
        log_info("%s sigil-server: %zu authorised entries", n > 1 ? "synced again with" :
                                                                     "synced with",
                 info.n_records);
        cache_info_done(&info);
}

static int handle_message(SyncClient *s, const SyncUpdate *m) {
        _cleanup_(cache_update_done) CacheUpdate u = {};
        uint64_t now = sigil_now_usec();
        int r;

        log_debug("sync message %llu: %zu upserts, %zu removals%s%s%s",
                  (unsigned long long) m->seq, m->n_upserts, m->n_removed_ids,
                  m->snapshot ? ", snapshot" : "", m->snapshot_done ? " done" : "",
                  m->active_x509_key_id.len > 0 ? ", active CA" : "");
        r = convert_update(s, m, &u);
        if (r < 0)
                return r;
        if (u.bundle && bundle_is_new(s, u.bundle)) {
                r = server_client_set_bundle(s->sc, u.bundle);
                if (r < 0)
                        log_warning_errno(r, "Failed to give the new bundle to TLS: %m");
                if (s->cbs.bundle_changed)
                        s->cbs.bundle_changed(s->cbs.userdata, u.bundle);
        }
        r = cache_update(s->cache, &u, now);
        pthread_mutex_lock(&s->lock);
        if (!s->status.connected)
                s->status.n_streams++;
        s->status.connected = true;
        s->status.last_message_usec = now;
        if (m->snapshot_done)
                s->status.snapshot_done_usec = now;
        pthread_mutex_unlock(&s->lock);
        if (m->snapshot_done)
                log_snapshot_done(s);
        return r;
}

/* The end of a stream: SERVER_E_* from its status, with the reason in @reterr. */
static int stream_ended(SyncClient *s, ServerChannel *ch, const RpcStatus *st, SigilErr *reterr) {
        int k = server_status_error(st, reterr);

        if (k == 0)
                k = sigil_err_set(reterr, SERVER_E_UNAVAILABLE, "the server ended the stream");
        if (k != SERVER_E_DENIED)
                server_client_reset_channel(s->sc, ch);
        return k == SERVER_E_FAILED ? SERVER_E_UNAVAILABLE : k;
}

/* One stream, until it ends. Return: 0 (asked to leave), SERVER_E_UNAVAILABLE, SERVER_E_DENIED. */
static int sync_once(SyncClient *s, SigilErr *reterr) {
        Sigil__Agent__V1__SyncRequest req = SIGIL__AGENT__V1__SYNC_REQUEST__INIT;
        _cleanup_(server_channel_unrefp) ServerChannel *ch = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        int r;

        r = server_client_channel(s->sc, &ch);
        if (r < 0)
                return sigil_err_set(reterr, SERVER_E_UNAVAILABLE, "no channel: %s", strerror(-r));
        r = rpc_client_stream_open(server_channel_rpc(ch), "/sigil.agent.v1.Node/Sync", &req.base,
                                   &sigil__agent__v1__sync_update__descriptor, NULL, 0, 0, &st);
        if (r < 0)
                return sigil_err_set(reterr, SERVER_E_UNAVAILABLE, "cannot open the stream: %s",
                                     strerror(-r));
        cache_snapshot_begin(s->cache);
        while (!should_leave(s)) {
                _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
                RpcStatus status;

                r = rpc_client_stream_next(st, SYNC_POLL_USEC, &msg, &status);
                if (r == -ETIMEDOUT)
                        continue;
                if (r == 0)
                        return stream_ended(s, ch, &status, reterr);
                if (r < 0) {
                        server_client_reset_channel(s->sc, ch);
                        return sigil_err_set(reterr, SERVER_E_UNAVAILABLE, "stream failed: %s",
                                             strerror(-r));
                }
                r = handle_message(s, (const SyncUpdate *) msg);
                if (r < 0)
                        log_error_errno(r, "Failed to apply a sync message: %m");
        }
        return 0;
}

static void set_disconnected(SyncClient *s, bool paused) {
        pthread_mutex_lock(&s->lock);
        s->status.connected = false;
        s->paused = s->paused || paused;
        pthread_mutex_unlock(&s->lock);
}

/* Sleep @usec unless stopped, resumed or asked to reconnect; false when stopping. */
static bool wait_before_retry(SyncClient *s, uint64_t usec) {
        uint64_t until = sigil_monotonic_usec() + usec;
        bool stop;

        pthread_mutex_lock(&s->lock);
        while (!s->stop && !s->reconnect && (s->paused || sigil_monotonic_usec() < until)) {
                uint64_t now = sigil_monotonic_usec(), wait = s->paused ? USEC_PER_SEC :
                                                              MIN(until - MIN(until, now),
                                                                  USEC_PER_SEC);
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += (time_t) (wait / USEC_PER_SEC);
                ts.tv_nsec += (long) (wait % USEC_PER_SEC) * 1000;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                (void) pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        s->reconnect = false;
        stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        return !stop;
}

static void *sync_thread(void *userdata) {
        SyncClient *s = userdata;

        for (;;) {
                SigilErr err = {};
                unsigned before = s->status.n_streams;
                uint64_t delay;
                int k;

                k = sync_once(s, &err);
                set_disconnected(s, k == SERVER_E_DENIED);
                if (k == SERVER_E_DENIED) {
                        log_warning("sigil-server refused this agent's identity: %s", err.msg);
                        if (s->cbs.rejected)
                                s->cbs.rejected(s->cbs.userdata, err.msg);
                        if (!wait_before_retry(s, 0))
                                break;
                        continue;
                }
                if (k == 0) {
                        if (!wait_before_retry(s, 0))
                                break;
                        backoff_reset(&s->backoff);
                        continue;
                }
                if (s->status.n_streams != before)
                        backoff_reset(&s->backoff);
                delay = backoff_next(&s->backoff, schedule_random_unit());
                log_warning("sync stream to sigil-server lost (%s); reconnecting in %llu ms",
                            err.msg, (unsigned long long) (delay / USEC_PER_MSEC));
                if (!wait_before_retry(s, delay))
                        break;
        }
        return NULL;
}

int sync_client_start(ServerClient *sc, Cache *cache, uint64_t retry_max_usec,
                      const SyncCallbacks *cbs, SyncClient **ret) {
        SyncClient *s = new0(SyncClient, 1);
        int r;

        if (!s)
                return -ENOMEM;
        s->sc = sc;
        s->cache = cache;
        s->cbs = *cbs;
        s->backoff = BACKOFF_INIT(SYNC_RETRY_MIN_USEC, MAX(retry_max_usec, SYNC_RETRY_MIN_USEC));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        (void) snprintf(s->trust_domain, sizeof(s->trust_domain), "%s",
                        cache_trust_domain(cache));
        r = -pthread_create(&s->thread, NULL, sync_thread, s);
        if (r < 0) {
                pthread_cond_destroy(&s->cond);
                pthread_mutex_destroy(&s->lock);
                free(s);
                return r;
        }
        s->started = true;
        *ret = s;
        return 0;
}

void sync_client_stop(SyncClient *s) {
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (s->started)
                (void) pthread_join(s->thread, NULL);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

void sync_client_reconnect(SyncClient *s) {
        pthread_mutex_lock(&s->lock);
        s->reconnect = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

void sync_client_resume(SyncClient *s) {
        pthread_mutex_lock(&s->lock);
        s->paused = false;
        s->reconnect = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

void sync_client_get_status(SyncClient *s, SyncStatus *ret) {
        pthread_mutex_lock(&s->lock);
        *ret = s->status;
        pthread_mutex_unlock(&s->lock);
}
