/* SPDX-License-Identifier: Apache-2.0 */
/* datastore.h - the server's persistent state: entries, join tokens, nodes, bundles */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "sigil/error.h"
#include "sigil/selector.h"

/*
 * One interface, one implementation today (SQLite, datastore-sqlite.c).
 * Every function is thread-safe. Positive returns are documented outcomes
 * (DS_E_*) that the direct caller must handle; negative errnos are failures.
 * Rows read back are re-validated where they feed security decisions.
 */

typedef struct Datastore Datastore;

enum {
        DS_E_SUCCESS = 0,
        DS_E_NOT_FOUND = 1,     /* no such object */
        DS_E_EXISTS = 2,        /* an equal object exists (same ID, or same registration) */
        DS_E_EXPIRED = 3,       /* join token expired */
};

#define DS_PAGE_SIZE_MAX 1000
#define DS_PAGE_SIZE_DEFAULT 500

/**
 * datastore_open() - open (creating if needed) the SQLite datastore and migrate it
 * @path:       database file
 * @reterr:     on failure, the reason
 * @ret:        on success, the datastore
 *
 * Uses WAL, foreign keys on, a busy timeout; applies schema migrations in
 * order inside a transaction; refuses a database whose schema is newer than
 * this binary knows. A new file is created 0600. @path ":memory:" gives a
 * private in-memory datastore (tests).
 *
 * Return: 0 or negative errno: -EPROTONOSUPPORT (schema newer than this
 * binary), -EMEDIUMTYPE (an SQLite file that is not a sigil datastore), ...
 */
int datastore_open(const char *path, Datastore **ret, SigilErr *reterr);
Datastore *datastore_close(Datastore *ds);
DEFINE_TRIVIAL_CLEANUP_FUNC(Datastore *, datastore_close)

/* The schema version the database is at (for tests and `validate`). */
int datastore_schema_version(Datastore *ds);

/* ---- registration entries ---- */

typedef enum SelectorMatch {
        SELECTOR_MATCH_EXACT,           /* entry selectors == filter */
        SELECTOR_MATCH_SUBSET,          /* entry selectors ⊆ filter */
        SELECTOR_MATCH_SUPERSET,        /* entry selectors ⊇ filter */
        SELECTOR_MATCH_ANY,             /* at least one in common */
        _SELECTOR_MATCH_MAX,
} SelectorMatch;

typedef struct EntryFilter {
        const char *spiffe_id;          /* NULL = any */
        const char *parent_id;
        /*
         * NULL = any. An empty set: SUPERSET matches every entry, the other
         * modes none (no entry has an empty selector set).
         */
        const SigilSelectorSet *selectors;
        SelectorMatch match;
        const char *federates_with;     /* a trust domain name */
        const char *hint;               /* "" = entries without a hint */
} EntryFilter;

typedef struct EntryList {
        Entry **entries;
        size_t n_entries;
} EntryList;

void entry_list_done(EntryList *l);

/**
 * ds_entry_create() - store a new entry (id, created_at and revision set by the caller)
 * @ds:         datastore
 * @e:          the entry (validated by the caller with entry_validate())
 *
 * Return: 0, DS_E_EXISTS (same id, or same spiffe_id+parent_id+selector set), or negative errno
 * (-EINVAL when @e lacks a valid id, the IDs or any selector).
 */
int ds_entry_create(Datastore *ds, const Entry *e);

#define DS_BATCH_MAX 1000

/**
 * ds_entry_create_batch() - ds_entry_create() for several entries, in one transaction
 * @ds:         datastore
 * @entries:    the entries
 * @n:          their number, at most DS_BATCH_MAX
 * @ret_results: on success, @n results: what ds_entry_create() would have returned
 *              for each entry (0, DS_E_EXISTS or -EINVAL); a failed entry leaves no trace
 *
 * One commit for the whole batch, so far cheaper per entry than a loop of
 * ds_entry_create() (each commit writes about ten database pages).
 *
 * Return: 0 or negative errno (then nothing was stored).
 */
int ds_entry_create_batch(Datastore *ds, Entry *const *entries, size_t n, int *ret_results);

/*
 * Entries read back: hint is NULL when there is none; dns_names and
 * federates_with are NULL when empty; a row that fails re-validation is
 * -EBADMSG.
 */

/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_entry_get(Datastore *ds, const char *id, Entry **ret);

/**
 * ds_entry_update() - replace an entry's fields; revision_number is incremented
 * @ds:         datastore
 * @e:          the new contents; e->id names the entry; e->created_at is kept from the stored row
 * @ret:        on success, the stored entry after the update; may be NULL
 *
 * Return: 0, DS_E_NOT_FOUND, DS_E_EXISTS (would duplicate another entry), or negative errno.
 */
int ds_entry_update(Datastore *ds, const Entry *e, Entry **ret);

/* Return: 0, DS_E_NOT_FOUND or negative errno. @ret_deleted may be NULL. */
int ds_entry_delete(Datastore *ds, const char *id, Entry **ret_deleted);

/**
 * ds_entry_list() - one page of entries matching @filter, in entry ID order
 * @ds:         datastore
 * @filter:     conditions (all must hold); NULL = all entries
 * @page_token: "" or NULL for the first page, else the token a previous call returned
 * @page_size:  1..DS_PAGE_SIZE_MAX; 0 = all remaining (no paging)
 * @ret:        on success, the entries (caller frees with entry_list_done)
 * @ret_next:   on success, the next page token, or NULL when this was the last page
 *
 * Return: 0, -EINVAL (bad token) or negative errno.
 */
int ds_entry_list(Datastore *ds, const EntryFilter *filter, const char *page_token,
                  size_t page_size, EntryList *ret, char **ret_next);

int ds_entry_count(Datastore *ds, int64_t *ret);

/* Delete entries whose expires_at is set and < @now; @ret_n may be NULL. */
int ds_entry_prune_expired(Datastore *ds, int64_t now, size_t *ret_n);

/*
 * Entry events: every create, update and delete appends one row in the same
 * transaction (monotonic event_id), so that agents that reconnect can be
 * sent what changed since the last event they saw.
 */
typedef enum EntryEventKind {
        ENTRY_EVENT_CREATE,
        ENTRY_EVENT_UPDATE,
        ENTRY_EVENT_DELETE,
} EntryEventKind;

typedef struct EntryEvent {
        int64_t event_id;
        EntryEventKind kind;
        char entry_id[ENTRY_ID_LEN + 1];
} EntryEvent;

/**
 * ds_entry_events_since() - events with event_id > @after, oldest first, at most @max
 * @ds:         datastore
 * @after:      last event ID seen (0 = from the start)
 * @max:        cap on the number returned
 * @ret:        on success, malloc'd array (NULL when none)
 * @ret_n:      on success, its length
 *
 * Event IDs only grow, also across pruning.
 *
 * Return: 0, DS_E_NOT_FOUND (events after @after were pruned, or @after is
 * beyond the last event ever written, as after a restore: resync fully),
 * negative errno.
 */
int ds_entry_events_since(Datastore *ds, int64_t after, size_t max, EntryEvent **ret,
                          size_t *ret_n);
int ds_entry_last_event_id(Datastore *ds, int64_t *ret);
/* Drop events older than @before (unix seconds, by the time each was written). */
int ds_entry_events_prune(Datastore *ds, int64_t before);

/* ---- join tokens (only a SHA-256 of each token is stored) ---- */

/* Return: 0, DS_E_EXISTS or negative errno. */
int ds_token_create(Datastore *ds, const char *token, int64_t expires_at);

/**
 * ds_token_consume() - atomically look up and delete a join token
 * @ds:         datastore
 * @token:      the token text
 * @now:        unix seconds; a token is valid while @now <= its expires_at
 *
 * Exactly one of any number of concurrent callers (threads or processes) gets 0.
 *
 * Return: 0 (valid, now consumed), DS_E_NOT_FOUND, DS_E_EXPIRED (deleted too), negative errno.
 */
int ds_token_consume(Datastore *ds, const char *token, int64_t now);
int ds_token_prune(Datastore *ds, int64_t now, size_t *ret_n);
int ds_token_count(Datastore *ds, int64_t *ret);

/* ---- attested nodes (agents) ---- */

typedef struct AttestedNode {
        char *spiffe_id;
        char *attestation_type;
        char *serial;                   /* serial (hex) of the current agent SVID */
        int64_t expires_at;             /* of the current agent SVID */
        char *new_serial;               /* serial of a renewed SVID not yet in use, or NULL */
        int64_t new_expires_at;
        bool banned;
        int64_t created_at;
        int64_t last_seen_at;
        SigilSelectorSet selectors;
} AttestedNode;

AttestedNode *attested_node_free(AttestedNode *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(AttestedNode *, attested_node_free)

typedef struct NodeList {
        AttestedNode **nodes;
        size_t n_nodes;
} NodeList;

void node_list_done(NodeList *l);

/* Return: 0, DS_E_EXISTS or negative errno. */
int ds_node_create(Datastore *ds, const AttestedNode *n);
/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_node_get(Datastore *ds, const char *spiffe_id, AttestedNode **ret);
/*
 * Replace everything but spiffe_id and created_at; banned can be set but not
 * cleared (delete the node to lift a ban). Return: 0, DS_E_NOT_FOUND, negative errno.
 */
int ds_node_update(Datastore *ds, const AttestedNode *n);
/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_node_delete(Datastore *ds, const char *spiffe_id);
/* Paged like ds_entry_list; @banned: -1 any, 0 not banned, 1 banned. */
int ds_node_list(Datastore *ds, int banned, const char *page_token, size_t page_size,
                 NodeList *ret, char **ret_next);
int ds_node_count(Datastore *ds, int64_t *ret);

/* ---- bundles: SPIFFE bundle JSON per trust domain (own and federated) ---- */

/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_bundle_get(Datastore *ds, const char *td, char **ret_json);
/* Insert or replace. Return: 0 or negative errno. */
int ds_bundle_put(Datastore *ds, const char *td, const char *json);
/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_bundle_delete(Datastore *ds, const char *td);
/**
 * ds_bundle_list() - one page of the trust domains with a stored bundle, sorted by name
 * @ds:         datastore
 * @exclude_td: a trust domain to leave out (the server's own), or NULL
 * @page_token: "" or NULL for the first page, else the token a previous call returned
 * @page_size:  1..DS_PAGE_SIZE_MAX; 0 = all remaining (no paging)
 * @ret_tds:    on success, the names, NULL-terminated
 * @ret_next:   on success, the next page token, or NULL when this was the last page
 *
 * Return: 0, -EINVAL (bad page size or token) or negative errno.
 */
int ds_bundle_list(Datastore *ds, const char *exclude_td, const char *page_token,
                   size_t page_size, char ***ret_tds, char **ret_next);

/* ---- small key/value state (CA journal and the like) ---- */

/* Return: 0, DS_E_NOT_FOUND or negative errno. */
int ds_kv_get(Datastore *ds, const char *key, char **ret_value);
int ds_kv_put(Datastore *ds, const char *key, const char *value);
