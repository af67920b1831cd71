/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration entries in SQLite: create, read, update, delete, and the
 * entry_events log written in the same transaction as each change.
 *
 * An entry is one row of `entries` plus rows in entry_selectors,
 * entry_dns_names and entry_federates_with. The row keeps the canonical
 * selector-set text (sigil_selector_set_to_string()) under a UNIQUE index
 * with spiffe_id and parent_id, so duplicate detection is one index probe
 * and cannot race. Reading many entries fetches each child table once for
 * the whole batch (ds_load_children()), not once per entry.
 *
 * Every row read back is re-validated: IDs parse as canonical SPIFFE IDs,
 * selectors, DNS names and trust domains parse, numbers are in range, and
 * the number of selector rows matches the row's n_selectors. A row that
 * fails is -EBADMSG.
 *
 * Listing (filters and paging) is in datastore-sqlite-entry-list.c.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "datastore-sqlite.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"

/* ds_entry_prune_expired() writes the DELETE kind into SQL text. */
_Static_assert(ENTRY_EVENT_CREATE == 0 && ENTRY_EVENT_UPDATE == 1 && ENTRY_EVENT_DELETE == 2,
               "entry event kinds are stored as 0, 1, 2");

/* ---- reading ---- */

/* A stored SPIFFE ID must parse and already be in canonical form. */
static int check_stored_id(const char *entry_id, const char *field, const char *s) {
        SigilSpiffeId id;

        if (sigil_spiffeid_from_string(s, &id, NULL) < 0 || !streq(id.str, s))
                return log_debug_errno(-EBADMSG, "datastore: entry %s: bad %s", entry_id, field);
        return 0;
}

static int entry_check_row(const Entry *e) {
        int r;

        if (!entry_id_is_valid(e->id))
                return log_debug_errno(-EBADMSG, "datastore: entry with a bad ID");
        r = check_stored_id(e->id, "spiffe_id", e->spiffe_id);
        if (r < 0)
                return r;
        r = check_stored_id(e->id, "parent_id", e->parent_id);
        if (r < 0)
                return r;
        if (e->x509_svid_ttl < 0 || e->x509_svid_ttl > ENTRY_TTL_MAX || e->jwt_svid_ttl < 0 ||
            e->jwt_svid_ttl > ENTRY_TTL_MAX || e->expires_at < 0 ||
            (e->hint && strlen(e->hint) > ENTRY_HINT_MAX))
                return log_debug_errno(-EBADMSG, "datastore: entry %s: bad field", e->id);
        return 0;
}

static int column_int32(sqlite3_stmt *st, int col, int32_t *ret) {
        int64_t v;
        int r;

        r = ds_column_int64(st, col, &v);
        if (r < 0)
                return r;
        if (v < INT32_MIN || v > INT32_MAX)
                return -EBADMSG;
        *ret = (int32_t) v;
        return 0;
}

static int column_bool(sqlite3_stmt *st, int col, bool *ret) {
        int64_t v;
        int r;

        r = ds_column_int64(st, col, &v);
        if (r < 0)
                return r;
        if (v != 0 && v != 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int ds_entry_from_row(sqlite3_stmt *st, EntryRow *ret) {
        _cleanup_(entry_freep) Entry *e = NULL;
        int64_t pk, n_selectors;
        int r;

        e = entry_new();
        if (!e)
                return -ENOMEM;
        if ((r = ds_column_int64(st, 0, &pk)) < 0 ||
            (r = ds_column_strdup(st, 1, false, &e->id)) < 0 ||
            (r = ds_column_strdup(st, 2, false, &e->spiffe_id)) < 0 ||
            (r = ds_column_strdup(st, 3, false, &e->parent_id)) < 0 ||
            (r = column_int32(st, 4, &e->x509_svid_ttl)) < 0 ||
            (r = column_int32(st, 5, &e->jwt_svid_ttl)) < 0 ||
            (r = column_bool(st, 6, &e->admin)) < 0 ||
            (r = column_bool(st, 7, &e->downstream)) < 0 ||
            (r = ds_column_int64(st, 8, &e->expires_at)) < 0 ||
            (r = ds_column_strdup(st, 9, false, &e->hint)) < 0 ||
            (r = ds_column_int64(st, 10, &e->revision_number)) < 0 ||
            (r = ds_column_int64(st, 11, &e->created_at)) < 0 ||
            (r = ds_column_int64(st, 12, &n_selectors)) < 0)
                return r;
        if (e->hint[0] == '\0') {
                free(e->hint);
                e->hint = NULL;
        }
        r = entry_check_row(e);
        if (r < 0)
                return r;
        *ret = (EntryRow) { .pk = pk, .n_selectors = n_selectors, .entry = TAKE_PTR(e) };
        return 0;
}

static int strv_append(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **nl, *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        nl = reallocarray(*l, n + 2, sizeof(char *));
        if (!nl) {
                free(c);
                return -ENOMEM;
        }
        nl[n] = c;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

static int add_selector_row(void *item, sqlite3_stmt *st) {
        Entry *e = item;
        const char *s;
        int r;

        r = ds_column_text(st, 1, false, &s);
        if (r < 0)
                return r;
        return ds_selector_set_add_stored(&e->selectors, s);
}

static int add_dns_row(void *item, sqlite3_stmt *st) {
        Entry *e = item;
        const char *s;
        int r;

        r = ds_column_text(st, 1, false, &s);
        if (r < 0)
                return r;
        if (dns_name_validate(s, NULL) < 0)
                return log_debug_errno(-EBADMSG, "datastore: entry %s: bad DNS name", e->id);
        return strv_append(&e->dns_names, s);
}

static int add_fed_row(void *item, sqlite3_stmt *st) {
        Entry *e = item;
        const char *s;
        int r;

        r = ds_column_text(st, 1, false, &s);
        if (r < 0)
                return r;
        if (sigil_trust_domain_validate(s, NULL, 0) != 0)
                return log_debug_errno(-EBADMSG, "datastore: entry %s: bad federated trust domain",
                                       e->id);
        return strv_append(&e->federates_with, s);
}

int ds_entry_rows_complete(Datastore *ds, EntryRow *rows, size_t n) {
        _cleanup_(freep) DsOwner *owners = NULL;
        int r;

        if (n == 0)
                return 0;
        owners = new0(DsOwner, n);
        if (!owners)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                owners[i] = (DsOwner) { .pk = rows[i].pk, .item = rows[i].entry };

        r = ds_load_children(ds, DS_STMT_ENTRY_SELECTORS_LOAD,
                             "SELECT entry_pk, selector FROM entry_selectors "
                             "WHERE entry_pk IN (SELECT value FROM json_each(?1))",
                             owners, n, add_selector_row);
        if (r < 0)
                return r;
        r = ds_load_children(ds, DS_STMT_ENTRY_DNS_LOAD,
                             "SELECT entry_pk, name FROM entry_dns_names "
                             "WHERE entry_pk IN (SELECT value FROM json_each(?1)) "
                             "ORDER BY entry_pk, pos",
                             owners, n, add_dns_row);
        if (r < 0)
                return r;
        r = ds_load_children(ds, DS_STMT_ENTRY_FED_LOAD,
                             "SELECT entry_pk, trust_domain FROM entry_federates_with "
                             "WHERE entry_pk IN (SELECT value FROM json_each(?1)) "
                             "ORDER BY entry_pk, pos",
                             owners, n, add_fed_row);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++)
                if ((int64_t) rows[i].entry->selectors.n_items != rows[i].n_selectors)
                        return log_debug_errno(-EBADMSG,
                                               "datastore: entry %s: selector rows missing",
                                               rows[i].entry->id);
        return 0;
}

/* Read one entry by ID (the caller holds the lock, in a transaction or not). */
static int entry_get_locked(Datastore *ds, const char *id, Entry **ret) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        EntryRow row = {};
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_GET,
                       "SELECT " DS_ENTRY_COLUMNS " FROM entries e WHERE e.id = ?1", &st);
        if (r < 0)
                return r;
        r = ds_bind_text(ds, st, 1, id);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        r = ds_entry_from_row(st, &row);
        if (r < 0)
                return r;
        (void) sqlite3_reset(st);

        r = ds_entry_rows_complete(ds, &row, 1);
        if (r < 0) {
                entry_free(row.entry);
                return r;
        }
        *ret = row.entry;
        return 0;
}

int ds_entry_get(Datastore *ds, const char *id, Entry **ret) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        int r;

        assert(ret);
        if (!entry_id_is_valid(id))
                return DS_E_NOT_FOUND;
        r = ds_tx_begin(ds, false, &tx);
        if (r < 0)
                return r;
        r = entry_get_locked(ds, id, ret);
        if (r != 0)
                return r;
        (void) ds_tx_commit(&tx); /* read-only: nothing to lose */
        return 0;
}

/* ---- writing ---- */

static int event_append(Datastore *ds, EntryEventKind kind, const char *entry_id) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_EVENT_INSERT,
                       "INSERT INTO entry_events (event_id, kind, entry_id, created_at) "
                       "VALUES (" DS_EVENT_NEXT_ID ", ?1, ?2, ?3)",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, kind)) < 0 ||
            (r = ds_bind_text(ds, st, 2, entry_id)) < 0 ||
            (r = ds_bind_int64(ds, st, 3, (int64_t) sigil_now_sec())) < 0)
                return r;
        return ds_exec_stmt(ds, st);
}

/* Insert one child row (@pk, @pos, @text); @pos < 0 for tables without a position. */
static int child_insert(Datastore *ds, sqlite3_stmt *st, int64_t pk, int64_t pos, const char *text) {
        int r;

        if ((r = ds_bind_int64(ds, st, 1, pk)) < 0 ||
            (r = ds_bind_text(ds, st, 2, text)) < 0 ||
            (pos >= 0 && (r = ds_bind_int64(ds, st, 3, pos)) < 0))
                return r;
        return ds_exec_stmt(ds, st);
}

static int selectors_insert(Datastore *ds, int64_t pk, const SigilSelectorSet *set) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        char buf[DS_SELECTOR_TEXT_MAX];
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_SELECTOR_INSERT,
                       "INSERT INTO entry_selectors (entry_pk, selector) VALUES (?1, ?2)", &st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < set->n_items; i++) {
                r = ds_selector_format(&set->items[i], buf, sizeof(buf));
                if (r < 0)
                        return r;
                r = child_insert(ds, st, pk, -1, buf);
                if (r < 0)
                        return r == -EEXIST ? -EINVAL : r; /* not a set: duplicates */
        }
        return 0;
}

static int strv_insert(Datastore *ds, DsStmt id, const char *sql, int64_t pk, char *const *l) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        if (strv_length(l) == 0)
                return 0;
        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        for (size_t i = 0; l[i]; i++) {
                r = child_insert(ds, st, pk, (int64_t) i, l[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int children_insert(Datastore *ds, int64_t pk, const Entry *e) {
        int r;

        r = selectors_insert(ds, pk, &e->selectors);
        if (r < 0)
                return r;
        r = strv_insert(ds, DS_STMT_ENTRY_DNS_INSERT,
                        "INSERT INTO entry_dns_names (entry_pk, name, pos) VALUES (?1, ?2, ?3)",
                        pk, e->dns_names);
        if (r < 0)
                return r;
        return strv_insert(ds, DS_STMT_ENTRY_FED_INSERT,
                           "INSERT INTO entry_federates_with (entry_pk, trust_domain, pos) "
                           "VALUES (?1, ?2, ?3)",
                           pk, e->federates_with);
}

static int children_delete(Datastore *ds, int64_t pk) {
        static const struct {
                DsStmt id;
                const char *sql;
        } tables[] = {
                { DS_STMT_ENTRY_SELECTORS_DELETE, "DELETE FROM entry_selectors WHERE entry_pk = ?1" },
                { DS_STMT_ENTRY_DNS_DELETE, "DELETE FROM entry_dns_names WHERE entry_pk = ?1" },
                { DS_STMT_ENTRY_FED_DELETE, "DELETE FROM entry_federates_with WHERE entry_pk = ?1" },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                sqlite3_stmt *st = NULL;

                r = ds_prepare(ds, tables[i].id, tables[i].sql, &st);
                if (r < 0)
                        return r;
                r = ds_bind_int64(ds, st, 1, pk);
                if (r >= 0)
                        r = ds_exec_stmt(ds, st);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Cheap checks of what callers hand us; entry_validate() is the admin API's job. */
static int entry_check_input(const Entry *e) {
        if (!e || !entry_id_is_valid(e->id) || isempty(e->spiffe_id) || isempty(e->parent_id) ||
            e->selectors.n_items == 0 || e->selectors.n_items > SIGIL_SELECTOR_SET_MAX ||
            e->expires_at < 0 || (e->hint && strlen(e->hint) > ENTRY_HINT_MAX))
                return -EINVAL;
        return 0;
}

/*
 * Bind the fields shared by INSERT and UPDATE: ?1 id, ?2 spiffe_id, ?3 parent_id,
 * ?4 selector_key, ?5 n_selectors, ?6..?11 the scalars.
 */
static int entry_bind_fields(Datastore *ds, sqlite3_stmt *st, const Entry *e, const char *key) {
        int r;

        if ((r = ds_bind_text(ds, st, 1, e->id)) < 0 ||
            (r = ds_bind_text(ds, st, 2, e->spiffe_id)) < 0 ||
            (r = ds_bind_text(ds, st, 3, e->parent_id)) < 0 ||
            (r = ds_bind_text(ds, st, 4, key)) < 0 ||
            (r = ds_bind_int64(ds, st, 5, (int64_t) e->selectors.n_items)) < 0 ||
            (r = ds_bind_int64(ds, st, 6, e->x509_svid_ttl)) < 0 ||
            (r = ds_bind_int64(ds, st, 7, e->jwt_svid_ttl)) < 0 ||
            (r = ds_bind_int64(ds, st, 8, e->admin)) < 0 ||
            (r = ds_bind_int64(ds, st, 9, e->downstream)) < 0 ||
            (r = ds_bind_int64(ds, st, 10, e->expires_at)) < 0 ||
            (r = ds_bind_text(ds, st, 11, e->hint ? e->hint : "")) < 0)
                return r;
        return 0;
}

/* Insert the entries row; *@ret_pk is its pk. Return: 0, -EEXIST or negative errno. */
static int entry_row_insert(Datastore *ds, const Entry *e, const char *key, int64_t *ret_pk) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_INSERT,
                       "INSERT INTO entries (id, spiffe_id, parent_id, selector_key, n_selectors, "
                       "x509_svid_ttl, jwt_svid_ttl, admin, downstream, expires_at, hint, "
                       "revision_number, created_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                       &st);
        if (r < 0)
                return r;
        if ((r = entry_bind_fields(ds, st, e, key)) < 0 ||
            (r = ds_bind_int64(ds, st, 12, e->revision_number)) < 0 ||
            (r = ds_bind_int64(ds, st, 13, e->created_at)) < 0)
                return r;
        r = ds_step(ds, st);
        if (r < 0)
                return r;
        *ret_pk = sqlite3_last_insert_rowid(ds->db);
        return 0;
}

/* Store @e inside the caller's write transaction. Return: 0, -EEXIST or negative errno. */
static int entry_insert_locked(Datastore *ds, const Entry *e) {
        _cleanup_(freep) char *key = NULL;
        int64_t pk;
        int r;

        r = sigil_selector_set_to_string(&e->selectors, &key);
        if (r < 0)
                return r;
        r = entry_row_insert(ds, e, key, &pk);
        if (r < 0)
                return r;
        r = children_insert(ds, pk, e);
        if (r < 0)
                return r;
        return event_append(ds, ENTRY_EVENT_CREATE, e->id);
}

int ds_entry_create(Datastore *ds, const Entry *e) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        int r;

        r = entry_check_input(e);
        if (r < 0)
                return r;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = entry_insert_locked(ds, e);
        if (r == -EEXIST)
                return DS_E_EXISTS;
        if (r < 0)
                return r;
        return ds_tx_commit(&tx);
}

static int savepoint(Datastore *ds, DsStmt id, const char *sql) {
        sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        return ds_exec_stmt(ds, st);
}

/*
 * One entry of a batch, under a savepoint so that a duplicate leaves no
 * trace. Return: 0, DS_E_EXISTS, -EINVAL (bad input), other negative errno.
 */
static int batch_insert_one(Datastore *ds, const Entry *e) {
        int r, k;

        r = entry_check_input(e);
        if (r < 0)
                return r;
        r = savepoint(ds, DS_STMT_SAVEPOINT, "SAVEPOINT entry");
        if (r < 0)
                return r;
        r = entry_insert_locked(ds, e);
        if (r < 0) {
                k = savepoint(ds, DS_STMT_SAVEPOINT_ROLLBACK, "ROLLBACK TO entry");
                if (k < 0)
                        return k;
        }
        k = savepoint(ds, DS_STMT_SAVEPOINT_RELEASE, "RELEASE entry");
        if (k < 0)
                return k;
        return r == -EEXIST ? DS_E_EXISTS : r;
}

int ds_entry_create_batch(Datastore *ds, Entry *const *entries, size_t n, int *ret_results) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(freep) int *results = NULL;
        int r;

        assert(entries || n == 0);
        assert(ret_results || n == 0);
        if (n > DS_BATCH_MAX)
                return -EINVAL;
        if (n == 0)
                return 0;
        results = new0(int, n);
        if (!results)
                return -ENOMEM;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = batch_insert_one(ds, entries[i]);
                if (r < 0 && r != -EINVAL)
                        return r;
                results[i] = r;
        }
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        memcpy(ret_results, results, n * sizeof(int));
        return 0;
}

/* Update the entries row of e->id. Return: 0, DS_E_NOT_FOUND, -EEXIST or negative errno. */
static int entry_row_update(Datastore *ds, const Entry *e, const char *key, int64_t *ret_pk) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_UPDATE,
                       "UPDATE entries SET spiffe_id = ?2, parent_id = ?3, selector_key = ?4, "
                       "n_selectors = ?5, x509_svid_ttl = ?6, jwt_svid_ttl = ?7, admin = ?8, "
                       "downstream = ?9, expires_at = ?10, hint = ?11, "
                       "revision_number = revision_number + 1 "
                       "WHERE id = ?1 RETURNING pk",
                       &st);
        if (r < 0)
                return r;
        r = entry_bind_fields(ds, st, e, key);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        return ds_column_int64(st, 0, ret_pk);
}

int ds_entry_update(Datastore *ds, const Entry *e, Entry **ret) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(entry_freep) Entry *stored = NULL;
        _cleanup_(freep) char *key = NULL;
        int64_t pk;
        int r;

        r = entry_check_input(e);
        if (r < 0)
                return r;
        r = sigil_selector_set_to_string(&e->selectors, &key);
        if (r < 0)
                return r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = entry_row_update(ds, e, key, &pk);
        if (r == -EEXIST)
                return DS_E_EXISTS;
        if (r != 0)
                return r;
        if ((r = children_delete(ds, pk)) < 0 || (r = children_insert(ds, pk, e)) < 0 ||
            (r = event_append(ds, ENTRY_EVENT_UPDATE, e->id)) < 0)
                return r;
        if (ret) {
                r = entry_get_locked(ds, e->id, &stored);
                if (r != 0)
                        return r < 0 ? r : -EIO;
        }
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(stored);
        return 0;
}

static int entry_row_delete(Datastore *ds, const char *id) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_DELETE, "DELETE FROM entries WHERE id = ?1 RETURNING pk",
                       &st);
        if (r < 0)
                return r;
        r = ds_bind_text(ds, st, 1, id);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        /* Run the statement to completion before anything else uses the connection. */
        r = ds_step(ds, st);
        return r < 0 ? r : 0;
}

int ds_entry_delete(Datastore *ds, const char *id, Entry **ret_deleted) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(entry_freep) Entry *old = NULL;
        int r;

        if (!entry_id_is_valid(id))
                return DS_E_NOT_FOUND;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        if (ret_deleted) {
                r = entry_get_locked(ds, id, &old);
                if (r != 0)
                        return r;
        }
        r = entry_row_delete(ds, id);
        if (r != 0)
                return r;
        r = event_append(ds, ENTRY_EVENT_DELETE, id);
        if (r < 0)
                return r;
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        if (ret_deleted)
                *ret_deleted = TAKE_PTR(old);
        return 0;
}

int ds_entry_count(Datastore *ds, int64_t *ret) {
        DS_LOCK(ds);
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_ENTRY_COUNT, "SELECT count(*) FROM entries", &st);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? -EIO : r;
        return ds_column_int64(st, 0, ret);
}

int ds_entry_prune_expired(Datastore *ds, int64_t now, size_t *ret_n) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        sqlite3_stmt *st = NULL;
        size_t n;
        int r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_ENTRY_PRUNE_EVENTS,
                       "INSERT INTO entry_events (event_id, kind, entry_id, created_at) "
                       "SELECT " DS_EVENT_NEXT_ID " - 1 + row_number() OVER (ORDER BY id), 2, "
                       "id, ?2 FROM entries WHERE expires_at > 0 AND expires_at < ?1 ORDER BY id",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, now)) < 0 ||
            (r = ds_bind_int64(ds, st, 2, (int64_t) sigil_now_sec())) < 0 ||
            (r = ds_exec_stmt(ds, st)) < 0)
                return r;

        r = ds_prepare(ds, DS_STMT_ENTRY_PRUNE,
                       "DELETE FROM entries WHERE expires_at > 0 AND expires_at < ?1", &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, now)) < 0 || (r = ds_exec_stmt(ds, st)) < 0)
                return r;
        n = (size_t) sqlite3_changes64(ds->db);
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = n;
        return 0;
}
