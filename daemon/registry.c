/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory registry (see registry.h for the authorisation rule).
 * by_id owns the entries; by_parent maps a parent ID to a vector of
 * borrowed pointers into by_id. A read-write lock lets many agents compute
 * their authorised sets at once while changes are rare and short.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "registry.h"
#include "sigil/clock.h"
#include "sigil/log.h"

typedef struct EntryVec {
        Entry **items;
        size_t n, cap;
} EntryVec;

struct Registry {
        pthread_rwlock_t lock;
        char server_id[512];
        Hashmap *by_id;                 /* id -> Entry* (owned) */
        Hashmap *by_parent;             /* parent_id -> EntryVec* */
        RegistryListener listener;
        void *listener_userdata;
};

static bool entry_live(const Entry *e, int64_t now) {
        return e->expires_at == 0 || e->expires_at > now;
}

static void entry_vec_free(void *p) {
        EntryVec *v = p;

        if (v)
                free(v->items);
        free(v);
}

static void entry_free_void(void *p) {
        entry_free(p);
}

int registry_new(const char *trust_domain, Registry **ret) {
        Registry *r = new0(Registry, 1);

        if (!r)
                return -ENOMEM;
        pthread_rwlock_init(&r->lock, NULL);
        (void) snprintf(r->server_id, sizeof(r->server_id), "spiffe://%s/sigil/server",
                        trust_domain);
        r->by_id = hashmap_new();
        r->by_parent = hashmap_new();
        if (!r->by_id || !r->by_parent) {
                registry_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

Registry *registry_free(Registry *r) {
        if (!r)
                return NULL;
        hashmap_free(r->by_parent, entry_vec_free);
        hashmap_free(r->by_id, entry_free_void);
        pthread_rwlock_destroy(&r->lock);
        free(r);
        return NULL;
}

const char *registry_server_id(const Registry *r) {
        return r->server_id;
}

void registry_set_listener(Registry *r, RegistryListener cb, void *userdata) {
        pthread_rwlock_wrlock(&r->lock);
        r->listener = cb;
        r->listener_userdata = userdata;
        pthread_rwlock_unlock(&r->lock);
}

static int index_add(Registry *r, Entry *e) {
        EntryVec *v = hashmap_get(r->by_parent, e->parent_id);

        if (!v) {
                v = new0(EntryVec, 1);
                if (!v)
                        return -ENOMEM;
                if (hashmap_put(r->by_parent, e->parent_id, v, NULL) < 0) {
                        free(v);
                        return -ENOMEM;
                }
        }
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 4;
                Entry **items = reallocarray(v->items, cap, sizeof(*items));

                if (!items)
                        return -ENOMEM;
                v->items = items;
                v->cap = cap;
        }
        v->items[v->n++] = e;
        return 0;
}

static void index_remove(Registry *r, Entry *e) {
        EntryVec *v = hashmap_get(r->by_parent, e->parent_id);

        if (!v)
                return;
        for (size_t i = 0; i < v->n; i++)
                if (v->items[i] == e) {
                        v->items[i] = v->items[--v->n];
                        break;
                }
        if (v->n == 0)
                entry_vec_free(hashmap_remove(r->by_parent, e->parent_id));
}

/* Swap @e in for the entry with its ID; returns the replaced entry (to free) via @ret_old. */
static int put_locked(Registry *r, Entry *e, Entry **ret_old) {
        Entry *old = hashmap_get(r->by_id, e->id);
        int k;

        if (old)
                index_remove(r, old);
        k = hashmap_put(r->by_id, e->id, e, NULL);
        if (k >= 0)
                k = index_add(r, e);
        if (k < 0) {
                /* Put things back as they were. */
                if (old) {
                        (void) hashmap_put(r->by_id, old->id, old, NULL);
                        (void) index_add(r, old);
                } else
                        (void) hashmap_remove(r->by_id, e->id);
                return k;
        }
        *ret_old = old;
        return 0;
}

int registry_put(Registry *r, const Entry *e) {
        Entry *copy = NULL, *old = NULL;
        RegistryListener cb;
        void *ud;
        int k;

        k = entry_copy(e, &copy);
        if (k < 0)
                return k;
        pthread_rwlock_wrlock(&r->lock);
        k = put_locked(r, copy, &old);
        cb = r->listener;
        ud = r->listener_userdata;
        pthread_rwlock_unlock(&r->lock);
        if (k < 0) {
                entry_free(copy);
                return k;
        }
        if (cb)
                cb(ud, old, e);
        entry_free(old);
        return 0;
}

int registry_remove(Registry *r, const char *id) {
        RegistryListener cb;
        Entry *old;
        void *ud;

        pthread_rwlock_wrlock(&r->lock);
        old = hashmap_remove(r->by_id, id);
        if (old)
                index_remove(r, old);
        cb = r->listener;
        ud = r->listener_userdata;
        pthread_rwlock_unlock(&r->lock);
        if (!old)
                return -ENOENT;
        if (cb)
                cb(ud, old, NULL);
        entry_free(old);
        return 0;
}

size_t registry_size(Registry *r) {
        size_t n;

        pthread_rwlock_rdlock(&r->lock);
        n = hashmap_size(r->by_id);
        pthread_rwlock_unlock(&r->lock);
        return n;
}

bool registry_alias_matches(Registry *r, const char *id, const SigilSelectorSet *selectors) {
        int64_t now = (int64_t) sigil_now_sec();
        bool match = false;
        EntryVec *aliases;

        pthread_rwlock_rdlock(&r->lock);
        aliases = hashmap_get(r->by_parent, r->server_id);
        for (size_t i = 0; aliases && i < aliases->n && !match; i++) {
                Entry *a = aliases->items[i];

                match = streq(a->spiffe_id, id) && entry_live(a, now) &&
                        sigil_selector_set_is_subset(&a->selectors, selectors);
        }
        pthread_rwlock_unlock(&r->lock);
        return match;
}

bool registry_has_children(Registry *r, const char *spiffe_id) {
        bool has;

        pthread_rwlock_rdlock(&r->lock);
        has = hashmap_contains(r->by_parent, spiffe_id);
        pthread_rwlock_unlock(&r->lock);
        return has;
}

size_t registry_prune_expired(Registry *r, int64_t now) {
        _cleanup_(strv_freep) char **ids = NULL;
        HashmapIter it = HASHMAP_ITER_INIT;
        size_t n = 0, cap = 0;
        void *v;

        pthread_rwlock_rdlock(&r->lock);
        while (hashmap_next(r->by_id, &it, NULL, &v)) {
                Entry *e = v;
                char **l;

                if (entry_live(e, now))
                        continue;
                if (n + 1 >= cap) {
                        cap = cap ? cap * 2 : 8;
                        l = reallocarray(ids, cap, sizeof(char *));
                        if (!l)
                                break;
                        ids = l;
                }
                ids[n] = strdup(e->id);
                if (!ids[n])
                        break;
                ids[++n] = NULL;
        }
        pthread_rwlock_unlock(&r->lock);
        for (size_t i = 0; i < n; i++)
                (void) registry_remove(r, ids[i]);
        return n;
}

int registry_load(Registry *r, Datastore *ds) {
        _cleanup_(freep) char *token = NULL;
        int k;

        do {
                EntryList l = {};
                char *next = NULL;

                k = ds_entry_list(ds, NULL, token, DS_PAGE_SIZE_MAX, &l, &next);
                if (k != 0)
                        return k < 0 ? k : -EIO;
                for (size_t i = 0; k >= 0 && i < l.n_entries; i++) {
                        Entry *old = NULL;

                        pthread_rwlock_wrlock(&r->lock);
                        k = put_locked(r, l.entries[i], &old);
                        pthread_rwlock_unlock(&r->lock);
                        if (k >= 0)
                                l.entries[i] = NULL;    /* now owned by the registry */
                        entry_free(old);
                }
                entry_list_done(&l);
                free(token);
                token = next;
        } while (k >= 0 && token);
        return k < 0 ? k : 0;
}

/* The IDs still to visit, and every ID ever queued (each is walked once). */
typedef struct IdQueue {
        char **ids;
        size_t n, cap;
        Hashmap *seen;
} IdQueue;

static void id_queue_done(IdQueue *q) {
        for (size_t i = 0; i < q->n; i++)
                free(q->ids[i]);
        free(q->ids);
        hashmap_free(q->seen, NULL);
}

static int id_queue_push(IdQueue *q, const char *id) {
        if (hashmap_contains(q->seen, id))
                return 0;
        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 8;
                char **ids = reallocarray(q->ids, cap, sizeof(char *));

                if (!ids)
                        return -ENOMEM;
                q->ids = ids;
                q->cap = cap;
        }
        q->ids[q->n] = strdup(id);
        if (!q->ids[q->n])
                return -ENOMEM;
        q->n++;
        return hashmap_put(q->seen, id, NULL, NULL) < 0 ? -ENOMEM : 0;
}

/* Queue the agent's ID and the node aliases its selectors satisfy. */
static int push_roots_locked(Registry *r, IdQueue *q, const char *agent_id,
                             const SigilSelectorSet *selectors, int64_t now) {
        EntryVec *aliases = hashmap_get(r->by_parent, r->server_id);
        int k = id_queue_push(q, agent_id);

        for (size_t i = 0; k >= 0 && aliases && i < aliases->n; i++) {
                Entry *a = aliases->items[i];

                if (entry_live(a, now) && selectors &&
                    sigil_selector_set_is_subset(&a->selectors, selectors))
                        k = id_queue_push(q, a->spiffe_id);
        }
        return k;
}

/* Breadth-first walk from the roots; calls @visit on every authorised entry. */
static int walk_locked(Registry *r, const char *agent_id, const SigilSelectorSet *selectors,
                       int64_t now, int (*visit)(Entry *e, void *ud), void *ud) {
        IdQueue q = { .seen = hashmap_new() };
        int k = q.seen ? 0 : -ENOMEM;

        if (k >= 0)
                k = push_roots_locked(r, &q, agent_id, selectors, now);
        for (size_t i = 0; k >= 0 && i < q.n; i++) {
                EntryVec *children = hashmap_get(r->by_parent, q.ids[i]);

                for (size_t c = 0; k >= 0 && children && c < children->n; c++) {
                        Entry *e = children->items[c];

                        if (!entry_live(e, now))
                                continue;
                        k = visit(e, ud);
                        if (k >= 0)
                                k = id_queue_push(&q, e->spiffe_id);
                }
        }
        id_queue_done(&q);
        return k;
}

typedef struct Collect {
        EntryList *list;
        size_t cap;
        Hashmap *ids;           /* an entry is reached once even through two parents */
} Collect;

static int collect(Entry *e, void *ud) {
        Collect *c = ud;
        Entry *copy;
        int k;

        if (hashmap_contains(c->ids, e->id))
                return 0;
        if (c->list->n_entries == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                Entry **items = reallocarray(c->list->entries, cap, sizeof(*items));

                if (!items)
                        return -ENOMEM;
                c->list->entries = items;
                c->cap = cap;
        }
        k = entry_copy(e, &copy);
        if (k < 0)
                return k;
        c->list->entries[c->list->n_entries++] = copy;
        return hashmap_put(c->ids, e->id, NULL, NULL) < 0 ? -ENOMEM : 0;
}

static int compare_entry_ids(const void *a, const void *b) {
        return strcmp((*(Entry *const *) a)->id, (*(Entry *const *) b)->id);
}

int registry_authorized(Registry *r, const char *agent_id, const SigilSelectorSet *selectors,
                        int64_t now, EntryList *ret) {
        EntryList l = {};
        Collect c = { .list = &l, .ids = hashmap_new() };
        int k;

        if (!c.ids)
                return -ENOMEM;
        pthread_rwlock_rdlock(&r->lock);
        k = walk_locked(r, agent_id, selectors, now, collect, &c);
        pthread_rwlock_unlock(&r->lock);
        hashmap_free(c.ids, NULL);
        if (k < 0) {
                entry_list_done(&l);
                return k;
        }
        if (l.n_entries > 1)
                qsort(l.entries, l.n_entries, sizeof(Entry *), compare_entry_ids);
        *ret = l;
        return 0;
}

typedef struct FindOne {
        const char *id;
        bool found;
} FindOne;

static int find_one(Entry *e, void *ud) {
        FindOne *f = ud;

        if (streq(e->id, f->id))
                f->found = true;
        return 0;
}

int registry_authorized_entry(Registry *r, const char *agent_id,
                              const SigilSelectorSet *selectors, const char *entry_id,
                              int64_t now, Entry **ret) {
        FindOne f = { .id = entry_id };
        Entry *e;
        int k;

        pthread_rwlock_rdlock(&r->lock);
        e = hashmap_get(r->by_id, entry_id);
        k = !e || !entry_live(e, now) ? -ENOENT :
                                        walk_locked(r, agent_id, selectors, now, find_one, &f);
        if (k >= 0 && !f.found)
                k = -EPERM;
        if (k >= 0)
                k = entry_copy(e, ret);
        pthread_rwlock_unlock(&r->lock);
        return k;
}
