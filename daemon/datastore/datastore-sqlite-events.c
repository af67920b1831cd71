/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The entry event log: reading it and pruning it (rows are appended by
 * datastore-sqlite-entries.c in the transaction of each change).
 *
 * entry_events_pruned.through is the highest ID pruning ever removed. Event
 * IDs are assigned as one more than the larger of the last row and that
 * (DS_EVENT_NEXT_ID), so they only grow, even when every row is pruned. A
 * reader that last saw event A can be served incrementally exactly when no
 * event after A is gone (A >= through) and A is not from the future
 * (A <= last issued: a reader ahead of us saw a database that has since been
 * replaced). Otherwise it must resync fully: DS_E_NOT_FOUND.
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "datastore-sqlite.h"
#include "sigil/log.h"

/* One integer from @sql; @arg is bound to ?1 when the statement has it. */
static int query_int64(Datastore *ds, DsStmt id, const char *sql, int64_t arg, int64_t *ret) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        if (sqlite3_bind_parameter_count(st) > 0) {
                r = ds_bind_int64(ds, st, 1, arg);
                if (r < 0)
                        return r;
        }
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? -EBADMSG : r;
        return ds_column_int64(st, 0, ret);
}

static int last_event_id(Datastore *ds, int64_t *ret) {
        return query_int64(ds, DS_STMT_EVENT_LAST,
                           "SELECT " DS_EVENT_NEXT_ID " - 1",
                           0, ret);
}

static int pruned_through(Datastore *ds, int64_t *ret) {
        return query_int64(ds, DS_STMT_EVENT_PRUNED_GET,
                           "SELECT through FROM entry_events_pruned WHERE one = 1", 0, ret);
}

int ds_entry_last_event_id(Datastore *ds, int64_t *ret) {
        DS_LOCK(ds);
        int64_t v;
        int r;

        r = last_event_id(ds, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

static int event_from_row(sqlite3_stmt *st, EntryEvent *ret) {
        const char *id;
        int64_t kind;
        int r;

        if ((r = ds_column_int64(st, 0, &ret->event_id)) < 0 ||
            (r = ds_column_int64(st, 1, &kind)) < 0 || (r = ds_column_text(st, 2, false, &id)) < 0)
                return r;
        if (kind < ENTRY_EVENT_CREATE || kind > ENTRY_EVENT_DELETE || !entry_id_is_valid(id))
                return log_debug_errno(-EBADMSG, "datastore: bad entry event %" PRId64,
                                       ret->event_id);
        ret->kind = (EntryEventKind) kind;
        memcpy(ret->entry_id, id, ENTRY_ID_LEN + 1);
        return 0;
}

static int events_read(Datastore *ds, int64_t after, size_t max, EntryEvent **ret,
                       size_t *ret_n) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        _cleanup_(freep) EntryEvent *v = NULL;
        size_t n = 0, size = 0;
        int r;

        r = ds_prepare(ds, DS_STMT_EVENT_SINCE,
                       "SELECT event_id, kind, entry_id FROM entry_events WHERE event_id > ?1 "
                       "ORDER BY event_id LIMIT ?2",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, after)) < 0 ||
            (r = ds_bind_int64(ds, st, 2, max > INT64_MAX ? INT64_MAX : (int64_t) max)) < 0)
                return r;
        while ((r = ds_step(ds, st)) > 0) {
                if (n == size) {
                        size_t s = size ? size * 2 : 64;
                        EntryEvent *nv = reallocarray(v, s, sizeof(EntryEvent));

                        if (!nv)
                                return -ENOMEM;
                        v = nv;
                        size = s;
                }
                r = event_from_row(st, &v[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int ds_entry_events_since(Datastore *ds, int64_t after, size_t max, EntryEvent **ret,
                          size_t *ret_n) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(freep) EntryEvent *v = NULL;
        int64_t last, through;
        size_t n = 0;
        int r;

        assert(ret);
        assert(ret_n);
        if (after < 0)
                return -EINVAL;

        r = ds_tx_begin(ds, false, &tx);
        if (r < 0)
                return r;
        if ((r = last_event_id(ds, &last)) < 0 || (r = pruned_through(ds, &through)) < 0)
                return r;
        if (after < through || after > last)
                return DS_E_NOT_FOUND;
        if (max > 0) {
                r = events_read(ds, after, max, &v, &n);
                if (r < 0)
                        return r;
        }
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int ds_entry_events_prune(Datastore *ds, int64_t before) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        sqlite3_stmt *st = NULL;
        int64_t max_id;
        int r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = query_int64(ds, DS_STMT_EVENT_PRUNE_MAX,
                        "SELECT coalesce(max(event_id), 0) FROM entry_events WHERE created_at < ?1",
                        before, &max_id);
        if (r < 0)
                return r;
        if (max_id == 0)
                return 0; /* nothing to prune; the rollback ends the transaction */

        r = ds_prepare(ds, DS_STMT_EVENT_PRUNE, "DELETE FROM entry_events WHERE created_at < ?1",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, before)) < 0 || (r = ds_exec_stmt(ds, st)) < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_EVENT_PRUNED_SET,
                       "UPDATE entry_events_pruned SET through = max(through, ?1) WHERE one = 1",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, st, 1, max_id)) < 0 || (r = ds_exec_stmt(ds, st)) < 0)
                return r;
        return ds_tx_commit(&tx);
}
