/* SPDX-License-Identifier: Apache-2.0 */
/* cache.h - the agent's cache: authorised entries, their SVIDs, the bundles; views and watches */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/macro.h"
#include "sigil/selector.h"

/*
 * The cache holds what the server sent this agent (entries authorised for
 * it, our trust bundle, federated bundles) and the X.509-SVIDs the agent
 * obtained for those entries. The Workload API reads it through views and
 * learns of changes through watches:
 *
 *  - cache_view_get(selectors) returns an immutable snapshot of what a
 *    workload with those attested selectors is entitled to: every entry whose
 *    selectors are a subset of them and that has a current SVID, in a stable
 *    order (oldest entry first: the first is the default identity), with
 *    duplicate non-empty hints resolved in favour of the oldest entry, plus
 *    our bundle and the federated bundles those entries federate with.
 *  - cache_watch(selectors, cb) calls cb after every change that may alter
 *    that view: an SVID issued, renewed or dropped, an entry changed or
 *    removed, a bundle changed. The callback runs on the thread that made the
 *    change, outside the cache's lock; it must not block (it typically
 *    queues a send), and it may call cache_view_get().
 *
 * Everything is thread-safe. Views are reference-counted snapshots, so a
 * slow reader never holds up the cache.
 */

typedef struct Cache Cache;
typedef struct CacheWatch CacheWatch;

/* One X.509-SVID of an entry (immutable once published). */
typedef struct CacheSvid {
        char *entry_id;
        char *spiffe_id;
        char *hint;                     /* NULL or "" for none */
        char **federates_with;          /* trust domain names, NULL-terminated, may be NULL */
        int64_t entry_created_at;
        int64_t entry_revision;
        int32_t jwt_svid_ttl;           /* seconds, 0 = server default */
        uint8_t *chain_der;             /* leaf first, DER certificates back to back */
        size_t n_chain_der;
        uint8_t *key_pkcs8;             /* unencrypted PKCS#8 DER; wiped when freed */
        size_t n_key_pkcs8;
        uint64_t not_after;             /* unix seconds */
} CacheSvid;

typedef struct CacheView {
        CacheSvid **svids;              /* borrowed from the view; the view owns references */
        size_t n_svids;
        SigilBundle *bundle;            /* our trust domain's bundle (NULL before the first sync) */
        SigilBundleSet federated;       /* bundles of the trust domains the SVIDs federate with */
        uint64_t generation;            /* grows with every cache change */
} CacheView;

/**
 * cache_view_get() - what a workload with @selectors is entitled to, now
 * @c:          the cache
 * @selectors:  the workload's attested selectors
 * @ret:        on success, a snapshot (free with cache_view_free)
 *
 * Return: 0 or -ENOMEM. An empty view (no SVID) is not an error.
 */
int cache_view_get(Cache *c, const SigilSelectorSet *selectors, CacheView **ret);
CacheView *cache_view_free(CacheView *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(CacheView *, cache_view_free)

/**
 * cache_bundles() - a copy of every bundle the agent holds (ours and all federated ones)
 * @c:          the cache
 * @ret:        on success, the set (free with sigil_bundle_set_done)
 *
 * Return: 0 or -ENOMEM.
 */
int cache_bundles(Cache *c, SigilBundleSet *ret);

/**
 * cache_watch() - be told of changes that may alter the view of @selectors
 * @c:          the cache
 * @selectors:  copied
 * @cb:         the callback (see above)
 * @userdata:   passed to @cb
 * @ret:        on success, the watch
 *
 * Return: 0, -E2BIG (too many watches) or -ENOMEM.
 */
int cache_watch(Cache *c, const SigilSelectorSet *selectors, void (*cb)(void *userdata),
                void *userdata, CacheWatch **ret);

/* Stop a watch; when it returns, @cb is not running and will not run again. */
void cache_unwatch(Cache *c, CacheWatch *w);

#define CACHE_WATCHES_MAX 100000
