/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache's reader side (cache.h): views and watches.
 *
 * A view is built under the lock from the records whose entry selectors are
 * a subset of the workload's, holding references to the (immutable) SVIDs
 * and copies of the bundles, so it stays valid however long the reader
 * keeps it. Ordering: oldest entry first (created_at, then entry ID, so the
 * order is total and stable); a non-empty hint already taken by an older
 * entry hides the younger one.
 *
 * Watches: a mutation records what it changed (cache-private.h); before the
 * lock is released, the watches whose view may differ are pinned; then the
 * lock is dropped and their callbacks run on the mutating thread. A watch
 * is relevant when our bundle changed, when a changed entry's selectors are
 * a subset of its selectors, or when a federated bundle changed that one of
 * its servable SVIDs federates with. cache_unwatch() unlinks the watch (no
 * new pins), then waits for the pins of running notifications to go; pins
 * held by the calling thread itself (a callback unwatching) are not waited
 * for, and the notification frees the watch when it drops the last one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache-private.h"
#include "list.h"
#include "sigil/clock.h"
#include "sigil/log.h"

/*
 * The watches this thread holds pinned while it runs callbacks (one frame per
 * notification, nested when a callback changes the cache), so that
 * cache_unwatch() called from a callback does not wait for pins its own
 * thread holds.
 */
typedef struct PinFrame {
        CacheWatch **pinned;
        size_t n;
        struct PinFrame *outer;
} PinFrame;

static _Thread_local PinFrame *pin_frames;

static unsigned pins_held_here(const CacheWatch *w) {
        unsigned n = 0;

        for (const PinFrame *f = pin_frames; f; f = f->outer)
                for (size_t i = 0; i < f->n; i++)
                        n += f->pinned[i] == w;
        return n;
}

/* ---- change sets ---- */

void cache_changes_add_set(CacheChanges *ch, const SigilSelectorSet *selectors) {
        _cleanup_(freep) char *key = NULL;
        SigilSelectorSet *copy;

        if (ch->all)
                return;
        if (!ch->sets)
                ch->sets = hashmap_new();
        if (!ch->sets || sigil_selector_set_to_string(selectors, &key) < 0)
                goto widen;
        if (hashmap_contains(ch->sets, key))
                return;
        copy = new0(SigilSelectorSet, 1);
        if (!copy)
                goto widen;
        if (sigil_selector_set_copy(selectors, copy) < 0) {
                free(copy);
                goto widen;
        }
        if (hashmap_put(ch->sets, key, copy, NULL) < 0) {
                sigil_selector_set_done(copy);
                free(copy);
                goto widen;
        }
        return;
widen:
        ch->all = true;
}

void cache_changes_add_td(CacheChanges *ch, const char *td) {
        if (ch->all)
                return;
        if (!ch->tds)
                ch->tds = hashmap_new();
        if (!ch->tds || hashmap_put(ch->tds, td, NULL, NULL) < 0)
                ch->all = true;
}

static void selector_set_free(void *p) {
        sigil_selector_set_done(p);
        free(p);
}

static void changes_done(CacheChanges *ch) {
        hashmap_free(ch->sets, selector_set_free);
        hashmap_free(ch->tds, NULL);
        *ch = (CacheChanges) {};
}

/* Whether a servable SVID in @w's view federates with a trust domain in @tds (lock held). */
static bool watch_uses_td(Cache *c, const CacheWatch *w, const Hashmap *tds) {
        HashmapIter it = HASHMAP_ITER_INIT;
        uint64_t now = sigil_now_sec();
        void *v;

        while (hashmap_next(c->records, &it, NULL, &v)) {
                const Record *r = v;

                if (!record_servable(r, now) ||
                    !sigil_selector_set_is_subset(&r->entry->selectors, &w->selectors))
                        continue;
                for (char **td = r->svid->svid.federates_with; td && *td; td++)
                        if (hashmap_contains(tds, *td))
                                return true;
        }
        return false;
}

static bool watch_relevant(Cache *c, const CacheWatch *w, const CacheChanges *ch) {
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        if (ch->all)
                return true;
        while (ch->sets && hashmap_next(ch->sets, &it, NULL, &v))
                if (sigil_selector_set_is_subset(v, &w->selectors))
                        return true;
        return ch->tds && hashmap_size(ch->tds) > 0 && watch_uses_td(c, w, ch->tds);
}

static void watch_free(CacheWatch *w) {
        sigil_selector_set_done(&w->selectors);
        free(w);
}

/* Pin the relevant watches into a new array (lock held); NULL with *ret_n 0 when none. */
static CacheWatch **pin_relevant(Cache *c, const CacheChanges *ch, size_t *ret_n) {
        CacheWatch **pinned;
        size_t n = 0;

        *ret_n = 0;
        if (!ch->any || c->n_watches == 0)
                return NULL;
        pinned = new0(CacheWatch *, c->n_watches);
        if (!pinned) {
                log_oom();
                return NULL;
        }
        for (CacheWatch *w = c->watches; w; w = w->next)
                if (watch_relevant(c, w, ch)) {
                        w->n_pins++;
                        pinned[n++] = w;
                }
        *ret_n = n;
        return pinned;
}

void cache_unlock_and_notify(Cache *c, CacheChanges *ch) {
        void (*work_cb)(void *) = ch->work ? c->work_cb : NULL;
        void *work_userdata = c->work_userdata;
        CacheWatch **pinned;
        PinFrame frame;
        size_t n;

        if (ch->any)
                c->generation++;
        pinned = pin_relevant(c, ch, &n);
        pthread_mutex_unlock(&c->lock);
        changes_done(ch);

        if (work_cb)
                work_cb(work_userdata);
        if (n == 0) {
                free(pinned);
                return;
        }
        frame = (PinFrame) { .pinned = pinned, .n = n, .outer = pin_frames };
        pin_frames = &frame;
        for (size_t i = 0; i < n; i++)
                if (!atomic_load(&pinned[i]->removed))
                        pinned[i]->cb(pinned[i]->userdata);
        pin_frames = frame.outer;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < n; i++) {
                CacheWatch *w = pinned[i];

                w->n_pins--;
                if (w->orphaned && w->n_pins == 0)
                        watch_free(w);
                else if (atomic_load(&w->removed))
                        pthread_cond_broadcast(&c->unpinned);
        }
        pthread_mutex_unlock(&c->lock);
        free(pinned);
}

/* ---- watches ---- */

int cache_watch(Cache *c, const SigilSelectorSet *selectors, void (*cb)(void *userdata),
                void *userdata, CacheWatch **ret) {
        CacheWatch *w = new0(CacheWatch, 1);
        int r;

        if (!w)
                return -ENOMEM;
        r = sigil_selector_set_copy(selectors, &w->selectors);
        if (r < 0) {
                free(w);
                return r;
        }
        w->cb = cb;
        w->userdata = userdata;
        atomic_init(&w->removed, false);
        pthread_mutex_lock(&c->lock);
        if (c->n_watches >= CACHE_WATCHES_MAX) {
                pthread_mutex_unlock(&c->lock);
                watch_free(w);
                return -E2BIG;
        }
        LIST_PREPEND(prev, next, c->watches, w);
        c->n_watches++;
        pthread_mutex_unlock(&c->lock);
        *ret = w;
        return 0;
}

void cache_unwatch(Cache *c, CacheWatch *w) {
        unsigned own;

        if (!w)
                return;
        own = pins_held_here(w);
        pthread_mutex_lock(&c->lock);
        atomic_store(&w->removed, true);
        LIST_REMOVE(prev, next, c->watches, w);
        c->n_watches--;
        /* Notifications running on this very thread cannot finish until we return. */
        while (w->n_pins > own)
                pthread_cond_wait(&c->unpinned, &c->lock);
        if (w->n_pins == 0)
                watch_free(w);
        else
                w->orphaned = true;
        pthread_mutex_unlock(&c->lock);
}

/* ---- views ---- */

CacheView *cache_view_free(CacheView *v) {
        if (!v)
                return NULL;
        for (size_t i = 0; i < v->n_svids; i++)
                svid_ref_unref((SvidRef *) ((uint8_t *) v->svids[i] - offsetof(SvidRef, svid)));
        free(v->svids);
        sigil_bundle_free(v->bundle);
        sigil_bundle_set_done(&v->federated);
        free(v);
        return NULL;
}

static int svid_compare(const void *a, const void *b) {
        const CacheSvid *x = *(CacheSvid *const *) a, *y = *(CacheSvid *const *) b;

        if (x->entry_created_at != y->entry_created_at)
                return x->entry_created_at < y->entry_created_at ? -1 : 1;
        return strcmp(x->entry_id, y->entry_id);
}

/* Keep the first SVID of each non-empty hint (the array is sorted oldest first). */
static void dedup_hints(CacheView *v) {
        size_t n = 0;

        for (size_t i = 0; i < v->n_svids; i++) {
                CacheSvid *s = v->svids[i];
                bool dup = false;

                for (size_t k = 0; !isempty(s->hint) && k < n && !dup; k++)
                        dup = streq_ptr(v->svids[k]->hint, s->hint);
                if (dup)
                        svid_ref_unref((SvidRef *) ((uint8_t *) s - offsetof(SvidRef, svid)));
                else
                        v->svids[n++] = s;
        }
        v->n_svids = n;
}

/* Copies of our bundle and of the federated bundles the view's SVIDs need (lock held). */
static int view_add_bundles(Cache *c, CacheView *v) {
        int r;

        if (c->bundle) {
                r = sigil_bundle_copy(c->bundle, &v->bundle);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < v->n_svids; i++)
                for (char **td = v->svids[i]->federates_with; td && *td; td++) {
                        const SigilBundle *b = sigil_bundle_set_get(&c->federated, *td);
                        SigilBundle *copy = NULL;

                        if (!b || sigil_bundle_set_get(&v->federated, *td))
                                continue;
                        r = sigil_bundle_copy(b, &copy);
                        if (r >= 0)
                                r = sigil_bundle_set_put(&v->federated, copy);
                        if (r < 0) {
                                sigil_bundle_free(copy);
                                return r;
                        }
                }
        return 0;
}

static int view_fill_locked(Cache *c, const SigilSelectorSet *selectors, CacheView *v) {
        HashmapIter it = HASHMAP_ITER_INIT;
        uint64_t now = sigil_now_sec();
        void *p;

        v->generation = c->generation;
        v->svids = new0(CacheSvid *, hashmap_size(c->records));
        if (!v->svids)
                return -ENOMEM;
        while (hashmap_next(c->records, &it, NULL, &p)) {
                Record *r = p;

                if (!record_servable(r, now) ||
                    !sigil_selector_set_is_subset(&r->entry->selectors, selectors))
                        continue;
                v->svids[v->n_svids++] = &svid_ref_ref(r->svid)->svid;
        }
        qsort(v->svids, v->n_svids, sizeof(CacheSvid *), svid_compare);
        dedup_hints(v);
        return view_add_bundles(c, v);
}

int cache_view_get(Cache *c, const SigilSelectorSet *selectors, CacheView **ret) {
        CacheView *v = new0(CacheView, 1);
        int r;

        if (!v)
                return -ENOMEM;
        pthread_mutex_lock(&c->lock);
        r = view_fill_locked(c, selectors, v);
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                cache_view_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

int cache_bundles(Cache *c, SigilBundleSet *ret) {
        SigilBundleSet set = {};
        int r = 0;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; r >= 0 && i <= c->federated.n_bundles; i++) {
                const SigilBundle *b = i < c->federated.n_bundles ? c->federated.bundles[i]
                                                                  : c->bundle;
                SigilBundle *copy = NULL;

                if (!b)
                        continue;
                r = sigil_bundle_copy(b, &copy);
                if (r >= 0)
                        r = sigil_bundle_set_put(&set, copy);
                if (r < 0)
                        sigil_bundle_free(copy);
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                sigil_bundle_set_done(&set);
                return r;
        }
        *ret = set;
        return 0;
}
