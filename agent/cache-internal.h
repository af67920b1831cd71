/* SPDX-License-Identifier: Apache-2.0 */
/* cache-internal.h - the cache's writer side: sync updates, signing work, expiry, inspection */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

/*
 * What the sync client (server-client.c), the rotator (rotator.c) and the
 * debug API (debug-api.c) use; the Workload API reads through cache.h only.
 *
 * Every entry the server authorised for this agent is a record. A record
 * needs signing when it has no SVID, when its SVID was signed for an older
 * revision of the entry, when its renewal time came, or when the CA that
 * issued it left the bundle or stopped signing ("stale": the server says
 * which X.509 CA signs now, and an SVID of another one is re-signed at once
 * rather than at its renewal time). The rotator takes due records as
 * jobs (they are then "in flight" and not handed out again), signs them,
 * and publishes the results or reports failures; a result for an entry that
 * changed meanwhile is discarded and the record stays due.
 */

/* A registration entry as the cache keeps it (converted from the sync stream's messages). */
typedef struct CacheEntry {
        char *id;
        char *spiffe_id;
        char *parent_id;
        SigilSelectorSet selectors;
        char **dns_names;               /* NULL-terminated, may be NULL */
        char **federates_with;          /* NULL-terminated, may be NULL */
        char *hint;                     /* may be NULL */
        int32_t x509_svid_ttl;          /* seconds, 0 = server default */
        int32_t jwt_svid_ttl;
        int64_t expires_at;             /* unix seconds, 0 = never */
        int64_t revision;
        int64_t created_at;
        bool admin;
        bool downstream;
} CacheEntry;

CacheEntry *cache_entry_free(CacheEntry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(CacheEntry *, cache_entry_free)

/* One message of the sync stream, converted. */
typedef struct CacheUpdate {
        bool snapshot;                  /* part of a snapshot: what it names is marked seen */
        bool snapshot_done;             /* the snapshot's last message: drop the unseen */
        CacheEntry **upserts;           /* owned by the update */
        size_t n_upserts;
        char **removed_ids;             /* owned */
        size_t n_removed_ids;
        SigilBundle *bundle;            /* owned; NULL when the message carries none */
        SigilBundleSet federated;       /* owned: federated bundles set or changed */
        char **removed_federated;       /* owned */
        size_t n_removed_federated;
        char *active_ca_key_id;         /* owned; hex key ID of the X.509 CA that signs now,
                                         * NULL when the message does not say */
        uint64_t ca_resign_delay_usec;  /* when it changed: re-sign the SVIDs of other CAs
                                         * this long after now (spreads agents out) */
} CacheUpdate;

void cache_update_done(CacheUpdate *u);

/**
 * cache_new() - an empty cache for the agent of @trust_domain
 * @trust_domain: our trust domain (bundles of other domains are federated ones)
 * @ret:        on success, the cache
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int cache_new(const char *trust_domain, Cache **ret);
/* Free the cache; no watch may remain. Accepts NULL. */
Cache *cache_free(Cache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cache *, cache_free)

/* Our trust domain's name (fixed for the life of the cache). */
const char *cache_trust_domain(const Cache *c);

/* Called outside the lock whenever records became due for signing (wakes the rotator). */
void cache_set_work_callback(Cache *c, void (*cb)(void *userdata), void *userdata);

/* A new sync stream starts: forget which records and bundles the last snapshot named. */
void cache_snapshot_begin(Cache *c);

/**
 * cache_update() - apply one sync message
 * @c:          the cache
 * @u:          the message (emptied: what it owned is taken or freed)
 * @now_usec:   wall clock, microseconds (for the debug view's timestamps)
 *
 * Upserts with an unchanged revision only mark the record seen. A new
 * revision keeps serving the current SVID (with the entry's new hint and
 * federations) unless the SPIFFE ID changed, in which case it is dropped at
 * once, and makes the record due. A bundle whose authorities no longer
 * include the CA that issued an SVID makes that record due, and so does a
 * new active CA (@u->active_ca_key_id) other than the SVID's issuer.
 *
 * Return: 0 or -ENOMEM (the cache stays consistent; part of @u may be applied).
 */
int cache_update(Cache *c, CacheUpdate *u, uint64_t now_usec);

/**
 * cache_set_bundle() - install our trust domain's bundle outside the sync stream
 * @c:          the cache
 * @b:          the bundle (taken, even on failure)
 *
 * Used at start with the bundle stored in the data directory.
 *
 * Return: 0, -EINVAL (another trust domain) or -ENOMEM.
 */
int cache_set_bundle(Cache *c, SigilBundle *b);

/* A copy of our bundle into *@ret, or NULL when there is none yet. Return: 0 or -ENOMEM. */
int cache_bundle_get(Cache *c, SigilBundle **ret);

/* What the rotator must sign for one record. */
typedef struct CacheSignJob {
        char *entry_id;
        char *spiffe_id;
        int64_t revision;
} CacheSignJob;

void cache_sign_jobs_free(CacheSignJob *jobs, size_t n);

/**
 * cache_take_due() - records due for signing now, marked in flight
 * @c:          the cache
 * @now_usec:   wall clock, microseconds
 * @max:        at most this many
 * @ret:        on success, the jobs (free with cache_sign_jobs_free); NULL when none
 * @ret_n:      their number
 * @ret_next_usec: when the next record becomes due or an SVID expires (USEC_INFINITY: never)
 *
 * Every job must be answered with cache_publish() or cache_sign_failed().
 *
 * Return: 0 or -ENOMEM.
 */
int cache_take_due(Cache *c, uint64_t now_usec, size_t max, CacheSignJob **ret, size_t *ret_n,
                   uint64_t *ret_next_usec);

/* One signed SVID for cache_publish(). */
typedef struct CacheSigned {
        const char *entry_id;
        int64_t revision;               /* of the entry the SVID was signed for */
        uint8_t *chain_der;             /* taken: leaf first, concatenated DER */
        size_t n_chain_der;
        uint8_t *key_pkcs8;             /* taken: wiped when freed */
        size_t n_key_pkcs8;
        uint64_t not_before;            /* unix seconds */
        uint64_t not_after;
        uint64_t renew_at_usec;
        char serial[48];                /* hex */
        char issuer[256];               /* issuer DN, one line */
        char issuer_key_id[128];        /* authority key identifier, hex */
} CacheSigned;

/**
 * cache_publish() - publish signed SVIDs and answer their jobs
 * @c:          the cache
 * @items:      the results (their buffers are taken, or wiped and freed)
 * @n:          their number
 * @now_usec:   wall clock, microseconds
 *
 * A result whose record is gone or whose revision changed since the job was
 * taken is discarded (the record, if any, stays due).
 *
 * Return: the number published, or -ENOMEM.
 */
int cache_publish(Cache *c, CacheSigned *items, size_t n, uint64_t now_usec);

/* A job failed: its record is retried at @retry_at_usec. */
void cache_sign_failed(Cache *c, const char *entry_id, uint64_t retry_at_usec);

/* Forget every pending retry time: due records are handed out again at once (new identity). */
void cache_retry_now(Cache *c);

/*
 * Drop the SVIDs whose notAfter is at or before @now_usec, and those of
 * entries whose expires_at passed (watchers are told); returns how many.
 */
size_t cache_expire(Cache *c, uint64_t now_usec);

/* One record, for the debug API. */
typedef struct CacheInfoEntry {
        CacheEntry *entry;              /* a copy */
        int64_t svid_revision;          /* 0 without an SVID */
        char serial[48];
        char issuer[256];
        char issuer_key_id[128];
        uint64_t not_before;
        uint64_t not_after;
        uint64_t synced_at_usec;
        uint64_t svid_cached_at_usec;
        uint64_t renew_at_usec;
} CacheInfoEntry;

typedef struct CacheInfo {
        uint64_t generation;
        uint64_t bundle_sequence;
        size_t n_x509_authorities;
        size_t n_jwt_authorities;
        char **x509_key_ids;            /* subject key IDs of our X.509 authorities, hex */
        char **federated;               /* trust domains, sorted, NULL-terminated */
        size_t n_records;
        size_t n_svids;
        CacheInfoEntry *entries;        /* sorted by entry ID; NULL unless asked for */
        size_t n_entries;
} CacheInfo;

/**
 * cache_get_info() - a copy of the cache's state for inspection
 * @c:          the cache
 * @with_entries: also copy every record
 * @ret:        on success, the copy (free with cache_info_done)
 *
 * Return: 0 or -ENOMEM.
 */
int cache_get_info(Cache *c, bool with_entries, CacheInfo *ret);
void cache_info_done(CacheInfo *info);
