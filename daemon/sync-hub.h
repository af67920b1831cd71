/* SPDX-License-Identifier: Apache-2.0 */
/* sync-hub.h - the agents' sync streams: snapshot on connect, then every change as it happens */
#pragma once

#include "registry.h"
#include "rpc-server.h"
#include "sigil/selector.h"

/*
 * Each connected agent holds one Sync stream. On connect it gets a snapshot
 * of its authorised entries, our bundle and the federated bundles those
 * entries need; afterwards the hub pushes, as they happen, every change to
 * that set (the registry's listener), every change of our bundle, and every
 * change of a federated bundle the agent uses. An evicted or banned agent's
 * stream is ended at once.
 */

typedef struct SyncHub SyncHub;
typedef struct Server Server;

#define SYNC_PAGE_ENTRIES 500           /* upserts, and removed IDs, per message at most */
#define SYNC_STREAMS_MAX 100000

int sync_hub_new(Server *s, SyncHub **ret);
SyncHub *sync_hub_free(SyncHub *hub);

/**
 * sync_hub_attach() - start serving a Sync stream for an authenticated agent
 * @hub:        the hub
 * @call:       the streaming call (the hub takes a reference)
 * @agent_id:   the agent's SPIFFE ID
 * @selectors:  its attested selectors
 *
 * Sends the snapshot before returning. A second stream of the same agent
 * replaces the first (which is ended).
 *
 * Return: 0, -E2BIG (too many streams) or negative errno.
 */
int sync_hub_attach(SyncHub *hub, RpcCall *call, const char *agent_id,
                    const SigilSelectorSet *selectors);

/* End the stream of @agent_id (evicted, banned) with PERMISSION_DENIED. */
void sync_hub_disconnect(SyncHub *hub, const char *agent_id, const char *reason);

/* Our bundle changed: push it (SPIFFE JSON) to every stream. */
void sync_hub_bundle_changed(SyncHub *hub, const char *bundle_json);

/**
 * sync_hub_set_active_x509() - the X.509 CA that signs SVIDs now
 * @hub:        the hub
 * @key_id:     its key identifier (ca_get_active_x509_key_id())
 * @n_key_id:   its length, 1 to CA_KEY_ID_MAX
 *
 * Remembered for the snapshots of streams that open later; when it differs
 * from what the hub held, sent to every stream at once so that agents
 * re-sign the SVIDs of the CA that stopped signing.
 *
 * Return: 1 when it changed, 0 when not, -EINVAL.
 */
int sync_hub_set_active_x509(SyncHub *hub, const uint8_t *key_id, size_t n_key_id);

/* A federated bundle was set (json) or deleted (json NULL): push it where it is used. */
void sync_hub_federated_changed(SyncHub *hub, const char *td, const char *bundle_json);

/* The registry listener; install with registry_set_listener(r, sync_hub_on_entry, hub). */
void sync_hub_on_entry(void *hub, const Entry *old, const Entry *new_entry);

/* End every stream with UNAVAILABLE (server shutdown). */
void sync_hub_close_all(SyncHub *hub);

/* Number of connected agents. */
size_t sync_hub_count(SyncHub *hub);

/* Whether @agent_id has a stream open now. */
bool sync_hub_is_connected(SyncHub *hub, const char *agent_id);
