/* SPDX-License-Identifier: Apache-2.0 */
/* datastore-sqlite.h - internals shared by the datastore-sqlite*.c files */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "datastore.h"

/*
 * Every cached prepared statement has a slot here. The SQL text sits next to
 * the code that uses it (ds_prepare() takes both); each slot is used by
 * exactly one SQL text.
 */
typedef enum DsStmt {
        DS_STMT_BEGIN_DEFERRED,
        DS_STMT_BEGIN_IMMEDIATE,
        DS_STMT_COMMIT,
        DS_STMT_ROLLBACK,
        DS_STMT_SAVEPOINT,
        DS_STMT_SAVEPOINT_ROLLBACK,
        DS_STMT_SAVEPOINT_RELEASE,

        DS_STMT_ENTRY_INSERT,
        DS_STMT_ENTRY_UPDATE,
        DS_STMT_ENTRY_DELETE,
        DS_STMT_ENTRY_GET,
        DS_STMT_ENTRY_COUNT,
        DS_STMT_ENTRY_SELECTOR_INSERT,
        DS_STMT_ENTRY_DNS_INSERT,
        DS_STMT_ENTRY_FED_INSERT,
        DS_STMT_ENTRY_SELECTORS_DELETE,
        DS_STMT_ENTRY_DNS_DELETE,
        DS_STMT_ENTRY_FED_DELETE,
        DS_STMT_ENTRY_SELECTORS_LOAD,
        DS_STMT_ENTRY_DNS_LOAD,
        DS_STMT_ENTRY_FED_LOAD,
        DS_STMT_ENTRY_PRUNE_EVENTS,
        DS_STMT_ENTRY_PRUNE,
        DS_STMT_FILTER_CLEAR,
        DS_STMT_FILTER_ADD,

        DS_STMT_EVENT_INSERT,
        DS_STMT_EVENT_SINCE,
        DS_STMT_EVENT_LAST,
        DS_STMT_EVENT_PRUNED_GET,
        DS_STMT_EVENT_PRUNE_MAX,
        DS_STMT_EVENT_PRUNE,
        DS_STMT_EVENT_PRUNED_SET,

        DS_STMT_TOKEN_INSERT,
        DS_STMT_TOKEN_CONSUME,
        DS_STMT_TOKEN_PRUNE,
        DS_STMT_TOKEN_COUNT,

        DS_STMT_NODE_INSERT,
        DS_STMT_NODE_UPDATE,
        DS_STMT_NODE_DELETE,
        DS_STMT_NODE_GET,
        DS_STMT_NODE_LIST,
        DS_STMT_NODE_COUNT,
        DS_STMT_NODE_SELECTOR_INSERT,
        DS_STMT_NODE_SELECTORS_DELETE,
        DS_STMT_NODE_SELECTORS_LOAD,

        DS_STMT_BUNDLE_GET,
        DS_STMT_BUNDLE_PUT,
        DS_STMT_BUNDLE_DELETE,
        DS_STMT_BUNDLE_LIST,
        DS_STMT_KV_GET,
        DS_STMT_KV_PUT,
        _DS_STMT_MAX,
} DsStmt;

/*
 * ds_entry_list() builds its SQL from the shape of the filter: which string
 * filters are set (5 bits: a hint and "no hint" are different shapes) and the
 * selector match mode (none or one of _SELECTOR_MATCH_MAX), and caches one
 * statement per shape.
 */
#define DS_ENTRY_LIST_FILTER_BITS 32
#define DS_ENTRY_LIST_SHAPES (DS_ENTRY_LIST_FILTER_BITS * (1 + _SELECTOR_MATCH_MAX))

struct Datastore {
        /* One connection, used by one thread at a time: every public function takes it. */
        pthread_mutex_t lock;
        sqlite3 *db;
        sqlite3_stmt *stmts[_DS_STMT_MAX];
        sqlite3_stmt *entry_list_stmts[DS_ENTRY_LIST_SHAPES];
};

/* Lock @ds for the scope: DS_LOCK(ds); (released on return). */
static inline Datastore *ds_lock(Datastore *ds) {
        (void) pthread_mutex_lock(&ds->lock);
        return ds;
}

static inline void ds_unlockp(Datastore **ds) {
        if (*ds)
                (void) pthread_mutex_unlock(&(*ds)->lock);
}

#define DS_LOCK(ds) _cleanup_(ds_unlockp) _unused_ Datastore *_ds_locked_ = ds_lock(ds)

/* Reset a cached statement and drop its bindings when it goes out of scope. */
static inline void ds_stmt_resetp(sqlite3_stmt **st) {
        if (*st) {
                (void) sqlite3_reset(*st);
                (void) sqlite3_clear_bindings(*st);
        }
}

/* Roll back a transaction still open when it goes out of scope. */
void ds_tx_rollbackp(Datastore **tx);

/**
 * ds_tx_begin() - start a transaction, rolled back unless ds_tx_commit() ends it
 * @ds:         datastore (locked)
 * @write:      true for BEGIN IMMEDIATE (takes the write lock now), false for a read snapshot
 * @ret_tx:     on success, @ds; declare it with _cleanup_(ds_tx_rollbackp)
 *
 * Return: 0 or negative errno.
 */
int ds_tx_begin(Datastore *ds, bool write, Datastore **ret_tx);

/* Commit the transaction in *@tx and clear *@tx. Return: 0 or negative errno. */
int ds_tx_commit(Datastore **tx);

/**
 * ds_prepare() - the cached statement of slot @id, prepared from @sql on first use
 * @ds:         datastore (locked)
 * @id:         the slot
 * @sql:        its SQL text
 * @ret:        on success, the statement; declare it with _cleanup_(ds_stmt_resetp)
 *
 * Return: 0 or negative errno.
 */
int ds_prepare(Datastore *ds, DsStmt id, const char *sql, sqlite3_stmt **ret);

/**
 * ds_step() - sqlite3_step() with SQLite's result mapped
 * @ds:         datastore (locked)
 * @st:         statement
 *
 * Return: 1 (a row), 0 (done), -EEXIST (a UNIQUE or PRIMARY KEY constraint
 * failed), other negative errno.
 */
int ds_step(Datastore *ds, sqlite3_stmt *st);

/* Step a statement that returns no rows, then reset it. Return as ds_step(), never 1. */
int ds_exec_stmt(Datastore *ds, sqlite3_stmt *st);

/* Map the connection's last error to a negative errno, logging @what at debug level. */
int ds_fail(Datastore *ds, const char *what);

/* Bind @s as text at @idx (NULL binds SQL NULL); @s must outlive the step. */
int ds_bind_text(Datastore *ds, sqlite3_stmt *st, int idx, const char *s);
int ds_bind_int64(Datastore *ds, sqlite3_stmt *st, int idx, int64_t v);

/**
 * ds_column_text() - a TEXT column, checked: the right type and no embedded NUL
 * @st:         statement positioned on a row
 * @col:        column index
 * @nullable:   whether SQL NULL is acceptable (then *@ret is NULL)
 * @ret:        on success, the text, valid until the next step or reset
 *
 * Return: 0 or -EBADMSG (wrong type, NULL where not allowed, embedded NUL).
 */
int ds_column_text(sqlite3_stmt *st, int col, bool nullable, const char **ret);

/* As ds_column_text() but a malloc'd copy. Return: 0, -EBADMSG or -ENOMEM. */
int ds_column_strdup(sqlite3_stmt *st, int col, bool nullable, char **ret);

/* An INTEGER column. Return: 0 or -EBADMSG. */
int ds_column_int64(sqlite3_stmt *st, int col, int64_t *ret);

/* The selector as stored in a child table: "type:value", into @buf. Return: 0 or -EINVAL. */
int ds_selector_format(const SigilSelector *s, char *buf, size_t n_buf);

/* Sizes a buffer for ds_selector_format(). */
#define DS_SELECTOR_TEXT_MAX (SIGIL_SELECTOR_TYPE_MAX + 1 + SIGIL_SELECTOR_VALUE_MAX + 1)

/* An owner row (entry or node) waiting for its child rows. */
typedef struct DsOwner {
        int64_t pk;
        void *item;
} DsOwner;

/* Handle one child row of @item; the row's columns 1.. hold the child. */
typedef int (*DsChildFn)(void *item, sqlite3_stmt *st);

/**
 * ds_load_children() - load the child rows of many owners with one query
 * @ds:         datastore (locked)
 * @id:         statement slot
 * @sql:        "SELECT owner_pk, ... FROM t WHERE owner_pk IN (SELECT value FROM json_each(?1))"
 * @owners:     the owners; sorted by pk here
 * @n_owners:   their number
 * @fn:         called for each row with the owner's item
 *
 * Return: 0, -EBADMSG (a row of an unknown owner) or an error of @fn, or negative errno.
 */
int ds_load_children(Datastore *ds, DsStmt id, const char *sql, DsOwner *owners, size_t n_owners,
                     DsChildFn fn);

/* Add a stored "type:value" selector to @set. Return: 0, -EBADMSG or -ENOMEM. */
int ds_selector_set_add_stored(SigilSelectorSet *set, const char *text);

/* The lowercase hex SHA-256 of @s into @ret. Return: 0 or -EIO. */
int ds_sha256_hex(const char *s, char ret[static 65]);

/* Check and prepare paging arguments: @page_size 0 means no limit. Return: 0 or -EINVAL. */
int ds_page_limit(size_t page_size, int64_t *ret_limit);

/*
 * The next entry event ID, as an SQL expression: one more than the last event
 * written or pruned, so IDs never repeat (see migrations/0001-initial.sql).
 */
#define DS_EVENT_NEXT_ID                                                              \
        "(max(coalesce((SELECT max(event_id) FROM entry_events), 0), "               \
        "(SELECT through FROM entry_events_pruned WHERE one = 1)) + 1)"

/* ---- entries: shared by datastore-sqlite-entries.c and datastore-sqlite-entry-list.c ---- */

/* The columns ds_entry_from_row() expects, in order, from "entries e". */
#define DS_ENTRY_COLUMNS                                                                    \
        "e.pk, e.id, e.spiffe_id, e.parent_id, e.x509_svid_ttl, e.jwt_svid_ttl, e.admin, " \
        "e.downstream, e.expires_at, e.hint, e.revision_number, e.created_at, e.n_selectors"

/* An entry read from its row, waiting for its child rows. */
typedef struct EntryRow {
        int64_t pk;
        int64_t n_selectors;
        Entry *entry;
} EntryRow;

/* Read and check the DS_ENTRY_COLUMNS of the current row. Return: 0, -EBADMSG or -ENOMEM. */
int ds_entry_from_row(sqlite3_stmt *st, EntryRow *ret);

/**
 * ds_entry_rows_complete() - load selectors, DNS names and federates_with of @n rows
 * @ds:         datastore (locked, in the transaction that read the rows)
 * @rows:       the rows; their entries are filled in
 * @n:          their number
 *
 * Return: 0, -EBADMSG (a bad child row, or selectors missing) or negative errno.
 */
int ds_entry_rows_complete(Datastore *ds, EntryRow *rows, size_t n);
