/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ds_entry_list(): filtered, paged listing of registration entries.
 *
 * Pages are in entry ID order; the page token is the ID of the last entry
 * of the previous page, so a page starts with the first ID after it. That is
 * stable under concurrent changes (nothing is skipped or repeated because
 * rows before the cursor were added or removed) and cheap (an index range
 * scan, no OFFSET). Tokens are checked to have the shape of an entry ID.
 *
 * The SQL depends on the filter's shape (which fields are set, which
 * selector match mode), so each shape gets its own statement, built from
 * fixed pieces and cached; values are always bound, never pasted. Each
 * filter is served by an index: spiffe_id by entries_registration,
 * parent_id and a hint by (column, id) indexes that also give the paging
 * order (entries without a hint are not in the hint index, so "no hint" is
 * a scan), federates_with and selectors by their child tables' value indexes.
 * The filter's selectors go into the connection's temp.filter_selectors
 * table, so the four match modes are set operations in SQL:
 *
 *   superset (entry ⊇ filter): entries with all n filter selectors
 *   exact (entry = filter):    superset, and the entry has n selectors
 *   subset (entry ⊆ filter):   every selector of the entry is in the filter
 *   any:                       at least one selector in common
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "datastore-sqlite.h"
#include "sigil/log.h"

enum {
        FILTER_SPIFFE_ID = 1 << 0,
        FILTER_PARENT_ID = 1 << 1,
        FILTER_HINT = 1 << 2,
        FILTER_FEDERATES_WITH = 1 << 3,
        FILTER_NO_HINT = 1 << 4,
};

/* Bound parameters of the list statements. */
enum {
        P_AFTER = 1,
        P_SPIFFE_ID,
        P_PARENT_ID,
        P_HINT,
        P_FEDERATES_WITH,
        P_N_SELECTORS,
        P_LIMIT,
};

#define SELECTOR_ROWS                                                         \
        "SELECT s.entry_pk FROM entry_selectors s WHERE s.selector IN "      \
        "(SELECT f.selector FROM temp.filter_selectors f)"

static const char *const selector_sql[_SELECTOR_MATCH_MAX] = {
        [SELECTOR_MATCH_EXACT] = " AND e.n_selectors = ?6 AND e.pk IN (" SELECTOR_ROWS
                                 " GROUP BY s.entry_pk HAVING count(*) = ?6)",
        [SELECTOR_MATCH_SUBSET] = " AND e.pk IN (" SELECTOR_ROWS
                                  " GROUP BY s.entry_pk HAVING count(*) = "
                                  "(SELECT x.n_selectors FROM entries x WHERE x.pk = s.entry_pk))",
        [SELECTOR_MATCH_SUPERSET] = " AND e.pk IN (" SELECTOR_ROWS
                                    " GROUP BY s.entry_pk HAVING count(*) = ?6)",
        [SELECTOR_MATCH_ANY] = " AND e.pk IN (" SELECTOR_ROWS ")",
};

/* The filter's shape: bits for the string filters, then 0 or 1 + the match mode. */
static unsigned filter_shape(const EntryFilter *f, bool use_selectors) {
        unsigned bits = 0;

        if (!f)
                return 0;
        if (f->spiffe_id)
                bits |= FILTER_SPIFFE_ID;
        if (f->parent_id)
                bits |= FILTER_PARENT_ID;
        if (f->hint)
                bits |= f->hint[0] ? FILTER_HINT : FILTER_NO_HINT;
        if (f->federates_with)
                bits |= FILTER_FEDERATES_WITH;
        if (use_selectors)
                bits += DS_ENTRY_LIST_FILTER_BITS * (1 + (unsigned) f->match);
        assert(bits < DS_ENTRY_LIST_SHAPES);
        return bits;
}

static int list_sql(unsigned shape, char *buf, size_t n_buf) {
        unsigned mode = shape / DS_ENTRY_LIST_FILTER_BITS;
        int n;

        static_assert(P_SPIFFE_ID == 2 && P_PARENT_ID == 3 && P_HINT == 4 &&
                      P_FEDERATES_WITH == 5 && P_N_SELECTORS == 6 && P_LIMIT == 7,
                      "the SQL below names the parameters by number");
        n = snprintf(buf, n_buf,
                     "SELECT " DS_ENTRY_COLUMNS " FROM entries e WHERE e.id > ?1%s%s%s%s%s%s "
                     "ORDER BY e.id LIMIT ?7",
                     shape & FILTER_SPIFFE_ID ? " AND e.spiffe_id = ?2" : "",
                     shape & FILTER_PARENT_ID ? " AND e.parent_id = ?3" : "",
                     /* The literal "<> ''" lets SQLite use the partial index entries_hint. */
                     shape & FILTER_HINT ? " AND e.hint = ?4 AND e.hint <> ''" : "",
                     shape & FILTER_NO_HINT ? " AND e.hint = ''" : "",
                     shape & FILTER_FEDERATES_WITH
                             ? " AND e.pk IN (SELECT w.entry_pk FROM entry_federates_with w "
                               "WHERE w.trust_domain = ?5)"
                             : "",
                     mode > 0 ? selector_sql[mode - 1] : "");
        return n < 0 || (size_t) n >= n_buf ? -ENOBUFS : 0;
}

static int list_prepare(Datastore *ds, unsigned shape, sqlite3_stmt **ret) {
        char sql[2048];
        int r;

        if (!ds->entry_list_stmts[shape]) {
                r = list_sql(shape, sql, sizeof(sql));
                if (r < 0)
                        return r;
                if (sqlite3_prepare_v3(ds->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                       &ds->entry_list_stmts[shape], NULL) != SQLITE_OK)
                        return ds_fail(ds, "prepare");
        }
        *ret = ds->entry_list_stmts[shape];
        return 0;
}

static int list_bind(Datastore *ds, sqlite3_stmt *st, const EntryFilter *f, bool use_selectors,
                     const char *after, int64_t limit) {
        int r;

        if ((r = ds_bind_text(ds, st, P_AFTER, after)) < 0 ||
            (r = ds_bind_int64(ds, st, P_LIMIT, limit)) < 0)
                return r;
        if (!f)
                return 0;
        if ((f->spiffe_id && (r = ds_bind_text(ds, st, P_SPIFFE_ID, f->spiffe_id)) < 0) ||
            (f->parent_id && (r = ds_bind_text(ds, st, P_PARENT_ID, f->parent_id)) < 0) ||
            (!isempty(f->hint) && (r = ds_bind_text(ds, st, P_HINT, f->hint)) < 0) ||
            (f->federates_with &&
             (r = ds_bind_text(ds, st, P_FEDERATES_WITH, f->federates_with)) < 0) ||
            (use_selectors &&
             (r = ds_bind_int64(ds, st, P_N_SELECTORS, (int64_t) f->selectors->n_items)) < 0))
                return r;
        return 0;
}

/* Put the filter's selectors into temp.filter_selectors (inside the read transaction). */
static int filter_selectors_store(Datastore *ds, const SigilSelectorSet *set) {
        sqlite3_stmt *st = NULL;
        char buf[DS_SELECTOR_TEXT_MAX];
        int r;

        r = ds_prepare(ds, DS_STMT_FILTER_CLEAR, "DELETE FROM temp.filter_selectors", &st);
        if (r < 0)
                return r;
        r = ds_exec_stmt(ds, st);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_FILTER_ADD,
                       "INSERT OR IGNORE INTO temp.filter_selectors (selector) VALUES (?1)", &st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < set->n_items; i++) {
                r = ds_selector_format(&set->items[i], buf, sizeof(buf));
                if (r < 0)
                        return r;
                r = ds_bind_text(ds, st, 1, buf);
                if (r >= 0)
                        r = ds_exec_stmt(ds, st);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct RowVec {
        EntryRow *rows;
        size_t n;
        size_t size;
} RowVec;

static void row_vec_done(RowVec *v) {
        for (size_t i = 0; i < v->n; i++)
                entry_free(v->rows[i].entry);
        free(v->rows);
        *v = (RowVec) {};
}

static int row_vec_push(RowVec *v, EntryRow row) {
        if (v->n == v->size) {
                size_t size = v->size ? v->size * 2 : 64;
                EntryRow *rows = reallocarray(v->rows, size, sizeof(EntryRow));

                if (!rows)
                        return -ENOMEM;
                v->rows = rows;
                v->size = size;
        }
        v->rows[v->n++] = row;
        return 0;
}

static int list_rows(Datastore *ds, sqlite3_stmt *st, RowVec *v) {
        int r;

        while ((r = ds_step(ds, st)) > 0) {
                EntryRow row = {};

                r = ds_entry_from_row(st, &row);
                if (r < 0)
                        return r;
                r = row_vec_push(v, row);
                if (r < 0) {
                        entry_free(row.entry);
                        return r;
                }
        }
        return r;
}

static int list_check_args(const EntryFilter *f, const char *page_token, size_t page_size) {
        if (page_size > DS_PAGE_SIZE_MAX)
                return -EINVAL;
        if (!isempty(page_token) && !entry_id_is_valid(page_token))
                return -EINVAL;
        if (f && f->selectors) {
                if ((unsigned) f->match >= _SELECTOR_MATCH_MAX)
                        return -EINVAL;
                if (f->selectors->n_items > SIGIL_SELECTOR_SET_MAX)
                        return -EINVAL;
        }
        return 0;
}

/* An empty filter set: superset matches everything (no condition), the other modes nothing. */
static bool list_is_empty_result(const EntryFilter *f) {
        return f && f->selectors && f->selectors->n_items == 0 &&
               f->match != SELECTOR_MATCH_SUPERSET;
}

/* Fetch the matching rows of one page, complete them, and work out the next token. */
static int list_locked(Datastore *ds, const EntryFilter *f, const char *after, size_t page_size,
                       RowVec *v, char **ret_next) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        bool use_selectors = f && f->selectors && f->selectors->n_items > 0;
        int64_t limit;
        int r;

        r = ds_page_limit(page_size, &limit);
        if (r < 0)
                return r;
        if (use_selectors) {
                r = filter_selectors_store(ds, f->selectors);
                if (r < 0)
                        return r;
        }
        r = list_prepare(ds, filter_shape(f, use_selectors), &st);
        if (r < 0)
                return r;
        r = list_bind(ds, st, f, use_selectors, after, limit);
        if (r < 0)
                return r;
        r = list_rows(ds, st, v);
        if (r < 0)
                return r;
        (void) sqlite3_reset(st);

        *ret_next = NULL;
        if (page_size > 0 && v->n > page_size) {
                entry_free(v->rows[--v->n].entry);
                *ret_next = strdup(v->rows[v->n - 1].entry->id);
                if (!*ret_next)
                        return -ENOMEM;
        }
        return ds_entry_rows_complete(ds, v->rows, v->n);
}

int ds_entry_list(Datastore *ds, const EntryFilter *filter, const char *page_token,
                  size_t page_size, EntryList *ret, char **ret_next) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(row_vec_done) RowVec v = {};
        _cleanup_(freep) char *next = NULL;
        _cleanup_(freep) Entry **entries = NULL;
        int r;

        assert(ret);
        assert(ret_next);

        r = list_check_args(filter, page_token, page_size);
        if (r < 0)
                return r;
        if (!list_is_empty_result(filter)) {
                r = ds_tx_begin(ds, false, &tx);
                if (r < 0)
                        return r;
                r = list_locked(ds, filter, page_token ? page_token : "", page_size, &v, &next);
                if (r < 0)
                        return r;
                r = ds_tx_commit(&tx);
                if (r < 0)
                        return r;
        }

        entries = new0(Entry *, v.n);
        if (!entries)
                return -ENOMEM;
        for (size_t i = 0; i < v.n; i++)
                entries[i] = TAKE_PTR(v.rows[i].entry);
        *ret = (EntryList) { .entries = TAKE_PTR(entries), .n_entries = v.n };
        *ret_next = TAKE_PTR(next);
        return 0;
}

void entry_list_done(EntryList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_entries; i++)
                entry_free(l->entries[i]);
        free(l->entries);
        *l = (EntryList) {};
}
