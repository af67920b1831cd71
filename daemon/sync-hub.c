/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sync hub (see sync-hub.h). Per stream it remembers what the agent was
 * sent (entry ID -> revision), the "closure" (IDs whose children the agent
 * is authorised for, with a count of how many paths reach each), and which
 * federated bundles it holds. A registry change is applied as a small delta
 * when it cannot change the shape of the authorisation tree (an entry that
 * is nobody's parent, under a parent the agent reaches); anything else (node
 * aliases, entries that are parents) recomputes that agent's set and sends
 * the difference. Lock order: hub, then registry (never the reverse: the
 * registry calls its listener outside its own lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "admin-api.h"
#include "hashmap.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sync-hub.h"

typedef struct SyncStream {
        RpcCall *call;
        char *agent_id;
        SigilSelectorSet selectors;
        Hashmap *sent;          /* entry ID -> int64_t* revision */
        Hashmap *closure;       /* ID -> intptr_t count of paths reaching it */
        Hashmap *feds;          /* trust domains whose bundle the agent holds */
        uint64_t seq;
        bool dead;              /* a send failed: the call is over; reap it */
} SyncStream;

struct SyncHub {
        Server *server;
        pthread_mutex_t lock;
        Hashmap *streams;       /* agent ID -> SyncStream* */
        uint8_t active_key_id[CA_KEY_ID_MAX];   /* of the X.509 CA signing now; sent in */
        size_t n_active_key_id;                 /* snapshots and when it changes */
};

/* One SyncUpdate being assembled; entries and strings are borrowed until it is sent. */
typedef struct SyncMsg {
        Sigil__Agent__V1__SyncUpdate msg;
        Sigil__Admin__V1__Entry **upserts;
        size_t cap_upserts;
        char **removed;
        size_t cap_removed;
        Sigil__Agent__V1__SyncUpdate__FederatedBundlesEntry **feds;
        size_t cap_feds;
        char **fed_json;        /* owned JSON texts of @feds */
        char *bundle_json;      /* owned */
} SyncMsg;

static void sync_msg_init(SyncMsg *m) {
        *m = (SyncMsg) {};
        sigil__agent__v1__sync_update__init(&m->msg);
}

static void sync_msg_done(SyncMsg *m) {
        for (size_t i = 0; i < m->msg.n_upserts; i++)
                admin_entry_proto_free(m->upserts[i]);
        for (size_t i = 0; i < m->msg.n_federated_bundles; i++) {
                free(m->feds[i]->key);
                free(m->feds[i]);
                free(m->fed_json[i]);
        }
        for (size_t i = 0; i < m->msg.n_removed_ids; i++)
                free(m->removed[i]);
        free(m->upserts);
        free(m->removed);
        free(m->feds);
        free(m->fed_json);
        free(m->bundle_json);
        sync_msg_init(m);
}

static int grow(void **items, size_t *cap, size_t n, size_t size) {
        void *p;
        size_t c;

        if (n < *cap)
                return 0;
        c = *cap ? *cap * 2 : 16;
        p = reallocarray(*items, c, size);
        if (!p)
                return -ENOMEM;
        *items = p;
        *cap = c;
        return 0;
}

static int sync_msg_upsert(SyncMsg *m, const Entry *e) {
        int r = grow((void **) &m->upserts, &m->cap_upserts, m->msg.n_upserts, sizeof(void *));

        if (r < 0)
                return r;
        r = admin_entry_to_proto(e, &m->upserts[m->msg.n_upserts]);
        if (r < 0)
                return r;
        m->msg.n_upserts++;
        return 0;
}

static int sync_msg_remove(SyncMsg *m, const char *id) {
        int r = grow((void **) &m->removed, &m->cap_removed, m->msg.n_removed_ids, sizeof(void *));

        if (r < 0)
                return r;
        m->removed[m->msg.n_removed_ids] = strdup(id);
        if (!m->removed[m->msg.n_removed_ids])
                return -ENOMEM;
        m->msg.n_removed_ids++;
        return 0;
}

/* Add a federated bundle (JSON ownership taken, even on failure). */
static int sync_msg_federated(SyncMsg *m, const char *td, char *json) {
        Sigil__Agent__V1__SyncUpdate__FederatedBundlesEntry *e = NULL;
        size_t n = m->msg.n_federated_bundles;

        if (n == m->cap_feds) {
                size_t cap = m->cap_feds ? m->cap_feds * 2 : 4;
                void *a = reallocarray(m->feds, cap, sizeof(void *));

                if (a)
                        m->feds = a;
                a = a ? reallocarray(m->fed_json, cap, sizeof(char *)) : NULL;
                if (!a) {
                        free(json);
                        return -ENOMEM;
                }
                m->fed_json = a;
                m->cap_feds = cap;
        }
        e = new0(Sigil__Agent__V1__SyncUpdate__FederatedBundlesEntry, 1);
        if (e) {
                sigil__agent__v1__sync_update__federated_bundles_entry__init(e);
                e->key = strdup(td);
        }
        if (!e || !e->key) {
                free(e);
                free(json);
                return -ENOMEM;
        }
        e->value = (ProtobufCBinaryData) { .len = strlen(json), .data = (uint8_t *) json };
        m->feds[n] = e;
        m->fed_json[n] = json;
        m->msg.n_federated_bundles++;
        return 0;
}

static bool sync_msg_empty(const SyncMsg *m) {
        return m->msg.n_upserts == 0 && m->msg.n_removed_ids == 0 && m->msg.bundle.len == 0 &&
               m->msg.n_federated_bundles == 0 && m->msg.n_removed_federated == 0 &&
               m->msg.active_x509_key_id.len == 0 && !m->msg.snapshot;
}

/* Send and reset @m; on failure the stream is dead (the cancel path removes it). */
static int sync_msg_send(SyncStream *st, SyncMsg *m) {
        int r = 0;

        if (!sync_msg_empty(m)) {
                m->msg.seq = ++st->seq;
                m->msg.upserts = m->upserts;
                m->msg.removed_ids = m->removed;
                m->msg.federated_bundles = m->feds;
                r = rpc_call_send(st->call, &m->msg.base);
                if (r < 0)
                        st->dead = true;
        }
        sync_msg_done(m);
        return r;
}

static void stream_free(SyncStream *st) {
        if (!st)
                return;
        hashmap_free(st->sent, free);
        hashmap_free(st->closure, NULL);
        hashmap_free(st->feds, NULL);
        sigil_selector_set_done(&st->selectors);
        free(st->agent_id);
        free(st);
}

static int closure_add(Hashmap *closure, const char *id) {
        intptr_t n = (intptr_t) hashmap_get(closure, id);

        return hashmap_put(closure, id, (void *) (n + 1), NULL) < 0 ? -ENOMEM : 0;
}

static void closure_drop(Hashmap *closure, const char *id) {
        intptr_t n = (intptr_t) hashmap_get(closure, id);

        if (n <= 1)
                (void) hashmap_remove(closure, id);
        else
                (void) hashmap_put(closure, id, (void *) (n - 1), NULL);
}

static int sent_put(Hashmap *sent, const Entry *e) {
        int64_t *rev = malloc(sizeof(*rev));
        void *old = NULL;

        if (!rev)
                return -ENOMEM;
        *rev = e->revision_number;
        if (hashmap_put(sent, e->id, rev, &old) < 0) {
                free(rev);
                return -ENOMEM;
        }
        free(old);
        return 0;
}

/* Federated bundles @e needs that the agent lacks go into @m. */
static int add_needed_federated(SyncHub *hub, SyncStream *st, const Entry *e, SyncMsg *m) {
        for (char **td = e->federates_with; td && *td; td++) {
                char *json = NULL;

                if (hashmap_contains(st->feds, *td))
                        continue;
                if (ds_bundle_get(hub->server->ds, *td, &json) != 0)
                        continue;       /* not set yet: it is pushed when an operator sets it */
                if (hashmap_put(st->feds, *td, NULL, NULL) < 0 ||
                    sync_msg_federated(m, *td, json) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The IDs whose children the agent is authorised for. */
static int closure_rebuild(SyncHub *hub, SyncStream *st, const EntryList *l) {
        Registry *r = hub->server->registry;
        Hashmap *c = hashmap_new();
        int k = c ? closure_add(c, st->agent_id) : -ENOMEM;

        /*
         * Roots: the agent, and the parents of its authorised entries (which
         * include the node aliases it matches that have children; an alias
         * with no child yet is found by registry_alias_matches() when one
         * appears).
         */
        for (size_t i = 0; k >= 0 && i < l->n_entries; i++) {
                k = closure_add(c, l->entries[i]->spiffe_id);
                if (k >= 0 && !hashmap_contains(c, l->entries[i]->parent_id) &&
                    !streq(l->entries[i]->parent_id, registry_server_id(r)))
                        k = closure_add(c, l->entries[i]->parent_id);
        }
        if (k < 0) {
                hashmap_free(c, NULL);
                return k;
        }
        hashmap_free(st->closure, NULL);
        st->closure = c;
        return 0;
}

/* Send @m if it holds a full page of upserts or removals, so no message grows with the set. */
static int sync_msg_page(SyncStream *st, SyncMsg *m) {
        bool snapshot = m->msg.snapshot;
        int r;

        if (m->msg.n_upserts < SYNC_PAGE_ENTRIES && m->msg.n_removed_ids < SYNC_PAGE_ENTRIES)
                return 0;
        log_debug("sync stream of '%s': a page of %zu upserts and %zu removals",
                  st->agent_id, m->msg.n_upserts, m->msg.n_removed_ids);
        r = sync_msg_send(st, m);
        m->msg.snapshot = snapshot;     /* the next page continues the same snapshot */
        return r;
}

/*
 * Recompute the agent's set and send the difference (or, for @snapshot,
 * everything), a page at a time: a node alias the agent starts to match can
 * bring it thousands of entries at once, like a snapshot.
 */
static int stream_resync(SyncHub *hub, SyncStream *st, bool snapshot) {
        Server *s = hub->server;
        Hashmap *sent = hashmap_new();
        HashmapIter it = HASHMAP_ITER_INIT;
        EntryList l = {};
        SyncMsg m;
        const char *id;
        int k;

        sync_msg_init(&m);
        k = sent ? registry_authorized(s->registry, st->agent_id, &st->selectors,
                                       (int64_t) sigil_now_sec(), &l) : -ENOMEM;
        if (k < 0)
                goto out;
        m.msg.snapshot = snapshot;
        for (size_t i = 0; k >= 0 && i < l.n_entries; i++) {
                const Entry *e = l.entries[i];
                int64_t *rev = hashmap_get(st->sent, e->id);

                k = sent_put(sent, e);
                if (k >= 0 && (snapshot || !rev || *rev != e->revision_number))
                        k = sync_msg_upsert(&m, e);
                if (k >= 0)
                        k = add_needed_federated(hub, st, e, &m);
                if (k >= 0)
                        k = sync_msg_page(st, &m);
        }
        while (k >= 0 && !snapshot && hashmap_next(st->sent, &it, &id, NULL))
                if (!hashmap_contains(sent, id)) {
                        k = sync_msg_remove(&m, id);
                        if (k >= 0)
                                k = sync_msg_page(st, &m);
                }
        if (k >= 0)
                k = closure_rebuild(hub, st, &l);
        if (k < 0)
                goto out;
        hashmap_free(st->sent, free);
        st->sent = TAKE_PTR(sent);
        m.msg.snapshot_done = snapshot;
        k = sync_msg_send(st, &m);
out:
        sync_msg_done(&m);
        hashmap_free(sent, free);
        entry_list_done(&l);
        return k;
}

/* A small change: an entry that is nobody's parent. Returns 1 when a full resync is needed. */
static int stream_delta(SyncHub *hub, SyncStream *st, const Entry *old, const Entry *e) {
        Registry *r = hub->server->registry;
        bool was = old && hashmap_contains(st->sent, old->id);
        bool is = e && (e->expires_at == 0 || e->expires_at > (int64_t) sigil_now_sec()) &&
                  (hashmap_contains(st->closure, e->parent_id) ||
                   registry_alias_matches(r, e->parent_id, &st->selectors));
        SyncMsg m;
        int k = 0;

        if (!was && !is)
                return 0;
        if ((old && registry_has_children(r, old->spiffe_id)) ||
            (e && registry_has_children(r, e->spiffe_id)) ||
            (old && e && !streq(old->spiffe_id, e->spiffe_id)))
                return 1;
        sync_msg_init(&m);
        if (is) {
                k = sync_msg_upsert(&m, e);
                if (k >= 0)
                        k = add_needed_federated(hub, st, e, &m);
                if (k >= 0)
                        k = sent_put(st->sent, e);
                if (k >= 0 && !was)
                        k = closure_add(st->closure, e->spiffe_id);
        } else {
                k = sync_msg_remove(&m, old->id);
                free(hashmap_remove(st->sent, old->id));
                closure_drop(st->closure, old->spiffe_id);
        }
        if (k >= 0)
                k = sync_msg_send(st, &m);
        sync_msg_done(&m);
        return k;
}

static bool is_alias(SyncHub *hub, const Entry *e) {
        return e && streq(e->parent_id, registry_server_id(hub->server->registry));
}

/* The stream's call is over: forget it (lock held). */
static void stream_drop_locked(SyncHub *hub, SyncStream *st) {
        if (hashmap_get(hub->streams, st->agent_id) == st)
                (void) hashmap_remove(hub->streams, st->agent_id);
        rpc_call_unref(st->call);
        stream_free(st);
}

/* Drop streams whose last send failed (lock held). */
static void reap_dead_locked(SyncHub *hub) {
        for (;;) {
                HashmapIter it = HASHMAP_ITER_INIT;
                SyncStream *found = NULL;
                void *v;

                while (!found && hashmap_next(hub->streams, &it, NULL, &v))
                        if (((SyncStream *) v)->dead)
                                found = v;
                if (!found)
                        return;
                log_warning("sync stream of '%s' failed, closing it", found->agent_id);
                (void) rpc_call_finish(found->call, GRPC_STATUS_UNAVAILABLE,
                                       "sync stream failed; reconnect");
                stream_drop_locked(hub, found);
        }
}

void sync_hub_on_entry(void *userdata, const Entry *old, const Entry *new_entry) {
        SyncHub *hub = userdata;
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        pthread_mutex_lock(&hub->lock);
        while (hashmap_next(hub->streams, &it, NULL, &v)) {
                SyncStream *st = v;
                int k = is_alias(hub, old) || is_alias(hub, new_entry) ? 1 :
                        stream_delta(hub, st, old, new_entry);

                if (k == 1)
                        k = stream_resync(hub, st, false);
                if (k < 0)
                        st->dead = true;
        }
        reap_dead_locked(hub);
        pthread_mutex_unlock(&hub->lock);
}

static void stream_cancelled(RpcCall *call, void *userdata) {
        SyncStream *st = rpc_call_get_userdata(call);
        SyncHub *hub = userdata;

        pthread_mutex_lock(&hub->lock);
        if (st && hashmap_get(hub->streams, st->agent_id) == st) {
                log_info("agent '%s' disconnected", st->agent_id);
                stream_drop_locked(hub, st);
        }
        pthread_mutex_unlock(&hub->lock);
}

static int stream_new(RpcCall *call, const char *agent_id, const SigilSelectorSet *selectors,
                      SyncStream **ret) {
        SyncStream *st = new0(SyncStream, 1);

        if (!st)
                return -ENOMEM;
        st->call = call;
        st->agent_id = strdup(agent_id);
        st->sent = hashmap_new();
        st->closure = hashmap_new();
        st->feds = hashmap_new();
        if (!st->agent_id || !st->sent || !st->closure || !st->feds ||
            sigil_selector_set_copy(selectors, &st->selectors) < 0) {
                stream_free(st);
                return -ENOMEM;
        }
        *ret = st;
        return 0;
}

static int send_bundle(SyncHub *hub, SyncStream *st) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        SyncMsg m;
        int k;

        sync_msg_init(&m);
        k = server_bundle_get(hub->server, &b);
        if (k >= 0)
                k = sigil_bundle_to_spiffe_json(b, &m.bundle_json);
        if (k >= 0) {
                m.msg.bundle = (ProtobufCBinaryData) { .len = strlen(m.bundle_json),
                                                       .data = (uint8_t *) m.bundle_json };
                m.msg.active_x509_key_id = (ProtobufCBinaryData) {
                        .len = hub->n_active_key_id, .data = hub->active_key_id };
                m.msg.snapshot = true;
                k = sync_msg_send(st, &m);
        }
        sync_msg_done(&m);
        return k;
}

int sync_hub_attach(SyncHub *hub, RpcCall *call, const char *agent_id,
                    const SigilSelectorSet *selectors) {
        SyncStream *st = NULL, *old;
        int k;

        k = stream_new(call, agent_id, selectors, &st);
        if (k < 0)
                return k;
        pthread_mutex_lock(&hub->lock);
        if (hashmap_size(hub->streams) >= SYNC_STREAMS_MAX) {
                pthread_mutex_unlock(&hub->lock);
                stream_free(st);
                return -E2BIG;
        }
        old = hashmap_get(hub->streams, agent_id);
        if (old) {
                (void) rpc_call_finish(old->call, GRPC_STATUS_UNAVAILABLE,
                                       "replaced by a newer sync stream of the same agent");
                stream_drop_locked(hub, old);
        }
        rpc_call_ref(call);
        rpc_call_set_userdata(call, st);
        k = send_bundle(hub, st);
        if (k >= 0)
                k = stream_resync(hub, st, true);
        if (k >= 0)
                k = hashmap_put(hub->streams, agent_id, st, NULL) < 0 ? -ENOMEM : 0;
        if (k < 0) {
                rpc_call_set_userdata(call, NULL);
                rpc_call_unref(call);
                stream_free(st);
        }
        pthread_mutex_unlock(&hub->lock);
        if (k >= 0)
                rpc_call_on_cancel(call, stream_cancelled, hub);
        return k;
}

void sync_hub_disconnect(SyncHub *hub, const char *agent_id, const char *reason) {
        SyncStream *st;

        pthread_mutex_lock(&hub->lock);
        st = hashmap_get(hub->streams, agent_id);
        if (st) {
                (void) rpc_call_finish(st->call, GRPC_STATUS_PERMISSION_DENIED, "%s", reason);
                stream_drop_locked(hub, st);
                log_info("closed the sync stream of '%s': %s", agent_id, reason);
        }
        pthread_mutex_unlock(&hub->lock);
}

void sync_hub_bundle_changed(SyncHub *hub, const char *bundle_json) {
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        pthread_mutex_lock(&hub->lock);
        while (hashmap_next(hub->streams, &it, NULL, &v)) {
                SyncStream *st = v;
                SyncMsg m;

                sync_msg_init(&m);
                m.bundle_json = strdup(bundle_json);
                if (!m.bundle_json)
                        break;
                m.msg.bundle = (ProtobufCBinaryData) { .len = strlen(m.bundle_json),
                                                       .data = (uint8_t *) m.bundle_json };
                (void) sync_msg_send(st, &m);
        }
        reap_dead_locked(hub);
        pthread_mutex_unlock(&hub->lock);
}

int sync_hub_set_active_x509(SyncHub *hub, const uint8_t *key_id, size_t n_key_id) {
        HashmapIter it = HASHMAP_ITER_INIT;
        bool first;
        void *v;

        if (n_key_id == 0 || n_key_id > sizeof(hub->active_key_id))
                return -EINVAL;
        pthread_mutex_lock(&hub->lock);
        if (n_key_id == hub->n_active_key_id &&
            memcmp(key_id, hub->active_key_id, n_key_id) == 0) {
                pthread_mutex_unlock(&hub->lock);
                return 0;
        }
        first = hub->n_active_key_id == 0;
        memcpy(hub->active_key_id, key_id, n_key_id);
        hub->n_active_key_id = n_key_id;
        while (hashmap_next(hub->streams, &it, NULL, &v)) {
                SyncMsg m;

                sync_msg_init(&m);
                m.msg.active_x509_key_id = (ProtobufCBinaryData) {
                        .len = hub->n_active_key_id, .data = hub->active_key_id };
                (void) sync_msg_send(v, &m);
        }
        if (!first)
                log_info("told %zu agent(s) that another X.509 CA signs now",
                         hashmap_size(hub->streams));
        reap_dead_locked(hub);
        pthread_mutex_unlock(&hub->lock);
        return 1;
}

void sync_hub_federated_changed(SyncHub *hub, const char *td, const char *bundle_json) {
        HashmapIter it = HASHMAP_ITER_INIT;
        char *removed[1] = { (char *) td };
        void *v;

        pthread_mutex_lock(&hub->lock);
        while (hashmap_next(hub->streams, &it, NULL, &v)) {
                SyncStream *st = v;
                SyncMsg m;

                if (!hashmap_contains(st->feds, td) && bundle_json) {
                        /* Only agents whose entries federate with @td want it. */
                        EntryList l = {};
                        bool needed = false;

                        if (registry_authorized(hub->server->registry, st->agent_id,
                                                &st->selectors, (int64_t) sigil_now_sec(),
                                                &l) >= 0)
                                for (size_t i = 0; i < l.n_entries && !needed; i++)
                                        for (char **f = l.entries[i]->federates_with; f && *f; f++)
                                                needed = needed || streq(*f, td);
                        entry_list_done(&l);
                        if (!needed)
                                continue;
                }
                if (!bundle_json && !hashmap_contains(st->feds, td))
                        continue;
                sync_msg_init(&m);
                if (bundle_json) {
                        char *json = strdup(bundle_json);

                        if (!json || hashmap_put(st->feds, td, NULL, NULL) < 0 ||
                            sync_msg_federated(&m, td, json) < 0) {
                                sync_msg_done(&m);
                                break;
                        }
                } else {
                        (void) hashmap_remove(st->feds, td);
                        m.msg.removed_federated = removed;
                        m.msg.n_removed_federated = 1;
                }
                (void) sync_msg_send(st, &m);
        }
        reap_dead_locked(hub);
        pthread_mutex_unlock(&hub->lock);
}

void sync_hub_close_all(SyncHub *hub) {
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        pthread_mutex_lock(&hub->lock);
        while (hashmap_next(hub->streams, &it, NULL, &v)) {
                SyncStream *st = v;

                (void) rpc_call_finish(st->call, GRPC_STATUS_UNAVAILABLE, "server shutting down");
                rpc_call_unref(st->call);
                stream_free(st);
        }
        hashmap_free(hub->streams, NULL);
        hub->streams = hashmap_new();
        pthread_mutex_unlock(&hub->lock);
}

size_t sync_hub_count(SyncHub *hub) {
        size_t n;

        pthread_mutex_lock(&hub->lock);
        n = hashmap_size(hub->streams);
        pthread_mutex_unlock(&hub->lock);
        return n;
}

bool sync_hub_is_connected(SyncHub *hub, const char *agent_id) {
        bool c;

        pthread_mutex_lock(&hub->lock);
        c = hashmap_contains(hub->streams, agent_id);
        pthread_mutex_unlock(&hub->lock);
        return c;
}

int sync_hub_new(Server *s, SyncHub **ret) {
        SyncHub *hub = new0(SyncHub, 1);

        if (!hub)
                return -ENOMEM;
        hub->server = s;
        pthread_mutex_init(&hub->lock, NULL);
        hub->streams = hashmap_new();
        if (!hub->streams) {
                free(hub);
                return -ENOMEM;
        }
        *ret = hub;
        return 0;
}

SyncHub *sync_hub_free(SyncHub *hub) {
        if (!hub)
                return NULL;
        sync_hub_close_all(hub);
        hashmap_free(hub->streams, NULL);
        pthread_mutex_destroy(&hub->lock);
        free(hub);
        return NULL;
}
