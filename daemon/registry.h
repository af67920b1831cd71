/* SPDX-License-Identifier: Apache-2.0 */
/* registry.h - every registration entry in memory, indexed, with change listeners */
#pragma once

#include <stdbool.h>

#include "datastore/datastore.h"
#include "entry.h"

/*
 * The registry answers "which entries is this agent authorised for" without
 * touching the datastore: entries are indexed by ID and by parent ID, and
 * the admin API applies every change here right after the datastore
 * accepted it. Authorised for an agent A with attested selectors S:
 *
 *   roots   = { A's ID } + { E.spiffe_id | E.parent_id == server ID and
 *                            E.selectors is a subset of S }   (node aliases)
 *   entries = every entry whose parent is a root, and, transitively, every
 *             entry whose parent is the SPIFFE ID of an entry already in.
 *
 * Expired entries (expires_at in the past) are never authorised. All
 * functions are thread-safe; listeners run after the change, outside the
 * registry's lock, and must not call registry_put/registry_remove.
 */

typedef struct Registry Registry;

/* (old, new): old NULL on create, new NULL on delete. Both are borrowed for the call. */
typedef void (*RegistryListener)(void *userdata, const Entry *old, const Entry *new_entry);

int registry_new(const char *trust_domain, Registry **ret);
Registry *registry_free(Registry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Registry *, registry_free)

/* Load every entry from @ds (at start). Return: 0 or negative errno. */
int registry_load(Registry *r, Datastore *ds);

/* The server's own SPIFFE ID, the parent of node-alias entries. */
const char *registry_server_id(const Registry *r);

/* Insert or replace (by ID) a copy of @e. Return: 0 or -ENOMEM. */
int registry_put(Registry *r, const Entry *e);
/* Return: 0 or -ENOENT. */
int registry_remove(Registry *r, const char *id);
size_t registry_size(Registry *r);

/* True when a live node-alias entry with SPIFFE ID @id has selectors within @selectors. */
bool registry_alias_matches(Registry *r, const char *id, const SigilSelectorSet *selectors);

/* True when some entry has @spiffe_id as its parent. */
bool registry_has_children(Registry *r, const char *spiffe_id);

/**
 * registry_prune_expired() - drop entries whose expires_at has passed (listener told of each)
 * @r:          registry
 * @now:        unix seconds
 *
 * Return: the number dropped.
 */
size_t registry_prune_expired(Registry *r, int64_t now);

/* Set the one listener (the sync hub); NULL to clear. */
void registry_set_listener(Registry *r, RegistryListener cb, void *userdata);

/**
 * registry_authorized() - deep copies of the entries authorised for an agent
 * @r:          registry
 * @agent_id:   the agent's SPIFFE ID
 * @selectors:  the agent's attested selectors (may be empty)
 * @now:        unix seconds (entries expired at @now are left out)
 * @ret:        on success, the entries, sorted by ID (free with entry_list_done)
 *
 * Return: 0 or -ENOMEM.
 */
int registry_authorized(Registry *r, const char *agent_id, const SigilSelectorSet *selectors,
                        int64_t now, EntryList *ret);

/**
 * registry_authorized_entry() - a copy of one entry if it is authorised for the agent
 * @r:          registry
 * @agent_id:   the agent's SPIFFE ID
 * @selectors:  its attested selectors
 * @entry_id:   the entry asked for
 * @now:        unix seconds
 * @ret:        on success, the copy
 *
 * Return: 0, -ENOENT (no such entry), -EPERM (not authorised) or -ENOMEM.
 */
int registry_authorized_entry(Registry *r, const char *agent_id,
                              const SigilSelectorSet *selectors, const char *entry_id,
                              int64_t now, Entry **ret);
