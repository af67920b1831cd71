/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trust bundles (SPIFFE bundle JSON per trust domain) and the small
 * key/value table in SQLite.
 *
 * Bundles are kept as text; the table's CHECK (json_valid(...)) refuses
 * anything that is not JSON, and the bundle code parses it fully when it
 * reads it back. Trust domain names are validated on the way in and out.
 */
#include <assert.h>
#include <string.h>

#include "datastore-sqlite.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"

static bool td_is_valid(const char *td) {
        return td && sigil_trust_domain_validate(td, NULL, 0) == 0;
}

/* The single TEXT column of a one-row lookup. Return: 0, DS_E_NOT_FOUND or negative errno. */
static int lookup_text(Datastore *ds, DsStmt id, const char *sql, const char *key, char **ret) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        r = ds_bind_text(ds, st, 1, key);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        return ds_column_strdup(st, 0, false, ret);
}

/* Run a one-statement write with two text parameters in its own transaction. */
static int write_2(Datastore *ds, DsStmt id, const char *sql, const char *a, const char *b,
                   bool *ret_changed) {
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        sqlite3_stmt *st = NULL;
        int r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, a)) < 0 || (b && (r = ds_bind_text(ds, st, 2, b)) < 0) ||
            (r = ds_exec_stmt(ds, st)) < 0)
                return r;
        if (ret_changed)
                *ret_changed = sqlite3_changes64(ds->db) > 0;
        return ds_tx_commit(&tx);
}

int ds_bundle_get(Datastore *ds, const char *td, char **ret_json) {
        DS_LOCK(ds);

        assert(ret_json);
        if (!td_is_valid(td))
                return DS_E_NOT_FOUND;
        return lookup_text(ds, DS_STMT_BUNDLE_GET,
                           "SELECT bundle FROM bundles WHERE trust_domain = ?1", td, ret_json);
}

int ds_bundle_put(Datastore *ds, const char *td, const char *json) {
        DS_LOCK(ds);

        if (!td_is_valid(td) || !json)
                return -EINVAL;
        return write_2(ds, DS_STMT_BUNDLE_PUT,
                       "INSERT INTO bundles (trust_domain, bundle) VALUES (?1, ?2) "
                       "ON CONFLICT (trust_domain) DO UPDATE SET bundle = excluded.bundle",
                       td, json, NULL);
}

int ds_bundle_delete(Datastore *ds, const char *td) {
        DS_LOCK(ds);
        bool changed = false;
        int r;

        if (!td_is_valid(td))
                return DS_E_NOT_FOUND;
        r = write_2(ds, DS_STMT_BUNDLE_DELETE, "DELETE FROM bundles WHERE trust_domain = ?1", td,
                    NULL, &changed);
        if (r < 0)
                return r;
        return changed ? 0 : DS_E_NOT_FOUND;
}

static int strv_push(char ***l, size_t *n, char *s) {
        char **nl = reallocarray(*l, *n + 2, sizeof(char *));

        if (!nl)
                return -ENOMEM;
        nl[(*n)++] = s;
        nl[*n] = NULL;
        *l = nl;
        return 0;
}

/* Read the trust domains of one page into @l; @limit -1 = all. */
static int bundle_list_rows(Datastore *ds, const char *exclude, const char *after, int64_t limit,
                            char ***l, size_t *n) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_BUNDLE_LIST,
                       "SELECT trust_domain FROM bundles WHERE trust_domain > ?1 "
                       "AND trust_domain != ?2 ORDER BY trust_domain LIMIT ?3", &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, after)) < 0 ||
            (r = ds_bind_text(ds, st, 2, exclude)) < 0 ||
            (r = ds_bind_int64(ds, st, 3, limit)) < 0)
                return r;
        while ((r = ds_step(ds, st)) > 0) {
                char *td = NULL;

                r = ds_column_strdup(st, 0, false, &td);
                if (r < 0)
                        return r;
                if (!td_is_valid(td)) {
                        free(td);
                        return log_debug_errno(-EBADMSG, "datastore: bad trust domain in bundles");
                }
                r = strv_push(l, n, td);
                if (r < 0) {
                        free(td);
                        return r;
                }
        }
        return r;
}

int ds_bundle_list(Datastore *ds, const char *exclude_td, const char *page_token,
                   size_t page_size, char ***ret_tds, char **ret_next) {
        DS_LOCK(ds);
        _cleanup_(strv_freep) char **l = NULL;
        _cleanup_(freep) char *next = NULL;
        size_t n = 0;
        int64_t limit;
        int r;

        assert(ret_tds);
        assert(ret_next);
        if (ds_page_limit(page_size, &limit) < 0)
                return -EINVAL;
        if (!isempty(page_token) && !td_is_valid(page_token))
                return -EINVAL;
        l = new0(char *, 1);
        if (!l)
                return -ENOMEM;
        r = bundle_list_rows(ds, exclude_td ? exclude_td : "", page_token ? page_token : "", limit,
                             &l, &n);
        if (r < 0)
                return r;
        if (page_size > 0 && n > page_size) {
                /* The extra row only says that another page follows; it starts after the last. */
                n--;
                free(l[n]);
                l[n] = NULL;
                next = strdup(l[n - 1]);
                if (!next)
                        return -ENOMEM;
        }
        *ret_tds = TAKE_PTR(l);
        *ret_next = TAKE_PTR(next);
        return 0;
}

int ds_kv_get(Datastore *ds, const char *key, char **ret_value) {
        DS_LOCK(ds);

        assert(ret_value);
        if (isempty(key))
                return DS_E_NOT_FOUND;
        return lookup_text(ds, DS_STMT_KV_GET, "SELECT value FROM kv WHERE key = ?1", key,
                           ret_value);
}

int ds_kv_put(Datastore *ds, const char *key, const char *value) {
        DS_LOCK(ds);

        if (isempty(key) || !value)
                return -EINVAL;
        return write_2(ds, DS_STMT_KV_PUT,
                       "INSERT INTO kv (key, value) VALUES (?1, ?2) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       key, value, NULL);
}
