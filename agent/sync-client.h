/* SPDX-License-Identifier: Apache-2.0 */
/* sync-client.h - the Sync stream from sigil-server into the cache, kept open by a thread */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cache-internal.h"
#include "server-client.h"

/*
 * One thread holds the Sync stream open: each (re)connection starts a
 * snapshot (cache_snapshot_begin), every message is converted (untrusted:
 * checked like any input) and applied to the cache at once. When the
 * stream fails it reconnects after an exponential backoff with jitter,
 * on a new channel; the cache keeps serving what it holds meanwhile. When
 * the server refuses the agent's identity (PERMISSION_DENIED or
 * UNAUTHENTICATED: evicted, banned, SVID no longer valid) the thread tells
 * the agent and waits to be resumed with a new identity.
 */

typedef struct SyncClient SyncClient;

typedef struct SyncCallbacks {
        /* The server refused our identity; the stream stays down until sync_client_resume(). */
        void (*rejected)(void *userdata, const char *reason);
        /* Our trust domain's bundle changed (already in the cache and the TLS identity). */
        void (*bundle_changed)(void *userdata, const SigilBundle *b);
        void *userdata;
} SyncCallbacks;

typedef struct SyncStatus {
        bool connected;                 /* a stream is open and the snapshot began */
        uint64_t last_message_usec;     /* wall clock; 0: never */
        uint64_t snapshot_done_usec;
        unsigned n_streams;             /* streams that delivered at least one message */
} SyncStatus;

#define SYNC_RETRY_MIN_USEC (500 * USEC_PER_MSEC)
#define SYNC_POLL_USEC (200 * USEC_PER_MSEC)
#define SYNC_SELECTORS_MAX 512
#define SYNC_NAMES_MAX 256              /* DNS names, federated trust domains per entry */
#define SYNC_KEY_ID_MAX 32              /* bytes of the active CA's key ID */
/*
 * When another CA becomes active, every agent re-signs its SVIDs from the
 * previous one; each waits a random part of this first, so that they do not
 * all reach the server in the same instant.
 */
#define SYNC_CA_RESIGN_SPREAD_USEC (500 * USEC_PER_MSEC)

/**
 * sync_client_start() - start the sync thread
 * @sc:         server client (must outlive the sync client)
 * @cache:      where updates go (must outlive the sync client)
 * @retry_max_usec: cap of the reconnect backoff
 * @cbs:        callbacks (copied); they run on the sync thread
 * @ret:        on success, the running client
 *
 * Return: 0 or negative errno.
 */
int sync_client_start(ServerClient *sc, Cache *cache, uint64_t retry_max_usec,
                      const SyncCallbacks *cbs, SyncClient **ret);

/* Stop the thread (the stream is cancelled) and free. Accepts NULL. */
void sync_client_stop(SyncClient *s);

/* Reconnect now (a new SVID is in use); the backoff starts over. */
void sync_client_reconnect(SyncClient *s);

/* After a rejection: connect again (with the new identity). */
void sync_client_resume(SyncClient *s);

void sync_client_get_status(SyncClient *s, SyncStatus *ret);

