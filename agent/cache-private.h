/* SPDX-License-Identifier: Apache-2.0 */
/* cache-private.h - the cache's layout, shared by cache.c and cache-view.c only */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "cache-internal.h"
#include "hashmap.h"

/* A published SVID: immutable, shared by the cache and every view holding it. */
typedef struct SvidRef {
        atomic_uint n_ref;
        CacheSvid svid;
} SvidRef;

/* One authorised entry and what the agent holds for it. */
typedef struct Record {
        CacheEntry *entry;
        SvidRef *svid;                  /* NULL: no SVID to serve */
        int64_t svid_revision;          /* the entry revision @svid was signed for */
        uint64_t not_before;            /* of @svid, unix seconds */
        char serial[48];
        char issuer[256];
        char issuer_key_id[128];
        uint64_t renew_at_usec;
        uint64_t retry_at_usec;         /* 0: no failure pending */
        uint64_t synced_at_usec;
        uint64_t svid_cached_at_usec;
        bool stale;                     /* re-sign at once (the issuing CA left the bundle or
                                         * another CA signs now) */
        bool ca_resigned;               /* re-signed once for the active CA already: a result
                                         * still from another CA is kept, not retried */
        bool in_flight;                 /* handed to the rotator, no answer yet */
        bool seen;                      /* named by the snapshot in progress */
} Record;

struct CacheWatch {
        SigilSelectorSet selectors;
        void (*cb)(void *userdata);
        void *userdata;
        unsigned n_pins;                /* notifications holding it (lock held to change) */
        atomic_bool removed;            /* cache_unwatch() was called */
        bool orphaned;                  /* unwatched from its own callback: last unpin frees */
        CacheWatch *prev, *next;
};

struct Cache {
        pthread_mutex_t lock;
        pthread_cond_t unpinned;        /* a watch lost its last pin */
        SigilTrustDomain td;
        Hashmap *records;               /* entry ID -> Record* */
        SigilBundle *bundle;            /* ours; NULL before the first */
        SigilBundleSet federated;
        Hashmap *federated_seen;        /* trust domains named by the snapshot in progress */
        char active_ca_key_id[128];     /* hex; "" until the server said */
        uint64_t generation;
        CacheWatch *watches;
        size_t n_watches;
        void (*work_cb)(void *userdata);
        void *work_userdata;
};

/*
 * What one mutation changed, gathered under the lock so that the watches to
 * tell can be picked before it is released. On OOM while recording, the
 * change is widened to "everything" (a spurious callback is harmless, a
 * missed one is not).
 */
typedef struct CacheChanges {
        bool any;                       /* bump the generation */
        bool all;                       /* every view may differ (our bundle changed) */
        bool work;                      /* records became due: wake the rotator */
        Hashmap *sets;                  /* canonical text -> SigilSelectorSet* of changed entries */
        Hashmap *tds;                   /* federated trust domains that changed */
} CacheChanges;

/* Note that views containing an entry with @selectors may have changed. */
void cache_changes_add_set(CacheChanges *ch, const SigilSelectorSet *selectors);
/* Note that the federated bundle of @td changed. */
void cache_changes_add_td(CacheChanges *ch, const char *td);

/* With the lock held: finish a mutation; releases the lock, then runs the callbacks. */
void cache_unlock_and_notify(Cache *c, CacheChanges *ch);

SvidRef *svid_ref_ref(SvidRef *s);
void svid_ref_unref(SvidRef *s);

/* Whether @r has an SVID that may be served at @now_sec. */
bool record_servable(const Record *r, uint64_t now_sec);
