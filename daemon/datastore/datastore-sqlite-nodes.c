/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attested nodes (agents) in SQLite: one attested_nodes row per agent SPIFFE
 * ID, with its node selectors in node_selectors. Listing pages in SPIFFE ID
 * order with the last ID of a page as the token, as entries do.
 *
 * Rows read back are re-validated (the SPIFFE ID parses and is canonical,
 * selectors parse): node identity feeds authorisation.
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "datastore-sqlite.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"

#define NODE_COLUMNS                                                                       \
        "pk, spiffe_id, attestation_type, serial, expires_at, new_serial, new_expires_at, " \
        "banned, created_at, last_seen_at"

typedef struct NodeRow {
        int64_t pk;
        AttestedNode *node;
} NodeRow;

AttestedNode *attested_node_free(AttestedNode *n) {
        if (!n)
                return NULL;
        free(n->spiffe_id);
        free(n->attestation_type);
        free(n->serial);
        free(n->new_serial);
        sigil_selector_set_done(&n->selectors);
        free(n);
        return NULL;
}

void node_list_done(NodeList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_nodes; i++)
                attested_node_free(l->nodes[i]);
        free(l->nodes);
        *l = (NodeList) {};
}

static bool node_id_is_valid(const char *s) {
        SigilSpiffeId id;

        return s && sigil_spiffeid_from_string(s, &id, NULL) >= 0 && streq(id.str, s);
}

static int node_from_row(sqlite3_stmt *st, NodeRow *ret) {
        _cleanup_(attested_node_freep) AttestedNode *n = NULL;
        int64_t pk, banned;
        int r;

        n = new0(AttestedNode, 1);
        if (!n)
                return -ENOMEM;
        if ((r = ds_column_int64(st, 0, &pk)) < 0 ||
            (r = ds_column_strdup(st, 1, false, &n->spiffe_id)) < 0 ||
            (r = ds_column_strdup(st, 2, false, &n->attestation_type)) < 0 ||
            (r = ds_column_strdup(st, 3, true, &n->serial)) < 0 ||
            (r = ds_column_int64(st, 4, &n->expires_at)) < 0 ||
            (r = ds_column_strdup(st, 5, true, &n->new_serial)) < 0 ||
            (r = ds_column_int64(st, 6, &n->new_expires_at)) < 0 ||
            (r = ds_column_int64(st, 7, &banned)) < 0 ||
            (r = ds_column_int64(st, 8, &n->created_at)) < 0 ||
            (r = ds_column_int64(st, 9, &n->last_seen_at)) < 0)
                return r;
        if (!node_id_is_valid(n->spiffe_id) || isempty(n->attestation_type) ||
            (banned != 0 && banned != 1))
                return log_debug_errno(-EBADMSG, "datastore: bad attested node row %" PRId64, pk);
        n->banned = banned;
        *ret = (NodeRow) { .pk = pk, .node = TAKE_PTR(n) };
        return 0;
}

static int add_node_selector_row(void *item, sqlite3_stmt *st) {
        AttestedNode *n = item;
        const char *s;
        int r;

        r = ds_column_text(st, 1, false, &s);
        if (r < 0)
                return r;
        return ds_selector_set_add_stored(&n->selectors, s);
}

static int node_rows_complete(Datastore *ds, NodeRow *rows, size_t n) {
        _cleanup_(freep) DsOwner *owners = NULL;

        if (n == 0)
                return 0;
        owners = new0(DsOwner, n);
        if (!owners)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                owners[i] = (DsOwner) { .pk = rows[i].pk, .item = rows[i].node };
        return ds_load_children(ds, DS_STMT_NODE_SELECTORS_LOAD,
                                "SELECT node_pk, selector FROM node_selectors "
                                "WHERE node_pk IN (SELECT value FROM json_each(?1))",
                                owners, n, add_node_selector_row);
}

static int node_selectors_insert(Datastore *ds, int64_t pk, const SigilSelectorSet *set) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        char buf[DS_SELECTOR_TEXT_MAX];
        int r;

        r = ds_prepare(ds, DS_STMT_NODE_SELECTOR_INSERT,
                       "INSERT OR IGNORE INTO node_selectors (node_pk, selector) VALUES (?1, ?2)",
                       &st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < set->n_items; i++) {
                r = ds_selector_format(&set->items[i], buf, sizeof(buf));
                if (r < 0)
                        return r;
                if ((r = ds_bind_int64(ds, st, 1, pk)) < 0 || (r = ds_bind_text(ds, st, 2, buf)) < 0 ||
                    (r = ds_exec_stmt(ds, st)) < 0)
                        return r;
        }
        return 0;
}

/* ?1 spiffe_id, ?2..?9 the other columns. */
static int node_bind_fields(Datastore *ds, sqlite3_stmt *st, const AttestedNode *n) {
        int r;

        if ((r = ds_bind_text(ds, st, 1, n->spiffe_id)) < 0 ||
            (r = ds_bind_text(ds, st, 2, n->attestation_type)) < 0 ||
            (r = ds_bind_text(ds, st, 3, n->serial)) < 0 ||
            (r = ds_bind_int64(ds, st, 4, n->expires_at)) < 0 ||
            (r = ds_bind_text(ds, st, 5, n->new_serial)) < 0 ||
            (r = ds_bind_int64(ds, st, 6, n->new_expires_at)) < 0 ||
            (r = ds_bind_int64(ds, st, 7, n->banned)) < 0 ||
            (r = ds_bind_int64(ds, st, 8, n->created_at)) < 0 ||
            (r = ds_bind_int64(ds, st, 9, n->last_seen_at)) < 0)
                return r;
        return 0;
}

static int node_check_input(const AttestedNode *n) {
        if (!n || !node_id_is_valid(n->spiffe_id) || isempty(n->attestation_type) ||
            n->selectors.n_items > SIGIL_SELECTOR_SET_MAX)
                return -EINVAL;
        return 0;
}

/*
 * Write the row of @n with the statement @id/@sql (an INSERT or an UPDATE,
 * both "... RETURNING pk"), then replace its selectors. Return: 0,
 * DS_E_NOT_FOUND (no row), -EEXIST or negative errno.
 */
static int node_write(Datastore *ds, DsStmt id, const char *sql, const AttestedNode *n) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        sqlite3_stmt *del = NULL;
        int64_t pk;
        int r;

        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        r = node_bind_fields(ds, st, n);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        r = ds_column_int64(st, 0, &pk);
        if (r < 0)
                return r;
        (void) sqlite3_reset(st);

        r = ds_prepare(ds, DS_STMT_NODE_SELECTORS_DELETE,
                       "DELETE FROM node_selectors WHERE node_pk = ?1", &del);
        if (r < 0)
                return r;
        if ((r = ds_bind_int64(ds, del, 1, pk)) < 0 || (r = ds_exec_stmt(ds, del)) < 0)
                return r;
        return node_selectors_insert(ds, pk, &n->selectors);
}

static int node_write_tx(Datastore *ds, DsStmt id, const char *sql, const AttestedNode *n) {
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        int r;

        r = node_check_input(n);
        if (r < 0)
                return r;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = node_write(ds, id, sql, n);
        if (r == -EEXIST)
                return DS_E_EXISTS;
        if (r != 0)
                return r;
        return ds_tx_commit(&tx);
}

int ds_node_create(Datastore *ds, const AttestedNode *n) {
        DS_LOCK(ds);

        return node_write_tx(ds, DS_STMT_NODE_INSERT,
                             "INSERT INTO attested_nodes (spiffe_id, attestation_type, serial, "
                             "expires_at, new_serial, new_expires_at, banned, created_at, "
                             "last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                             "RETURNING pk",
                             n);
}

int ds_node_update(Datastore *ds, const AttestedNode *n) {
        DS_LOCK(ds);

        /*
         * ?8 (created_at) is bound but unused: the stored creation time is kept.
         * A ban sticks: a writer that read the node before an operator banned it
         * (a renewal in flight) must not undo the ban; only deleting the node does.
         */
        return node_write_tx(ds, DS_STMT_NODE_UPDATE,
                             "UPDATE attested_nodes SET attestation_type = ?2, serial = ?3, "
                             "expires_at = ?4, new_serial = ?5, new_expires_at = ?6, "
                             "banned = MAX(banned, ?7), "
                             "last_seen_at = ?9 WHERE spiffe_id = ?1 "
                             "RETURNING pk",
                             n);
}

int ds_node_get(Datastore *ds, const char *spiffe_id, AttestedNode **ret) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        NodeRow row = {};
        int r;

        assert(ret);
        if (!spiffe_id)
                return DS_E_NOT_FOUND;
        r = ds_tx_begin(ds, false, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_NODE_GET,
                       "SELECT " NODE_COLUMNS " FROM attested_nodes WHERE spiffe_id = ?1", &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, spiffe_id)) < 0 || (r = ds_step(ds, st)) <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        r = node_from_row(st, &row);
        if (r < 0)
                return r;
        (void) sqlite3_reset(st);
        r = node_rows_complete(ds, &row, 1);
        if (r >= 0)
                r = ds_tx_commit(&tx);
        if (r < 0) {
                attested_node_free(row.node);
                return r;
        }
        *ret = row.node;
        return 0;
}

int ds_node_delete(Datastore *ds, const char *spiffe_id) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        sqlite3_stmt *st = NULL;
        int r;

        if (!spiffe_id)
                return DS_E_NOT_FOUND;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_NODE_DELETE, "DELETE FROM attested_nodes WHERE spiffe_id = ?1",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, spiffe_id)) < 0 || (r = ds_exec_stmt(ds, st)) < 0)
                return r;
        if (sqlite3_changes64(ds->db) == 0)
                return DS_E_NOT_FOUND;
        return ds_tx_commit(&tx);
}

int ds_node_count(Datastore *ds, int64_t *ret) {
        DS_LOCK(ds);
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_NODE_COUNT, "SELECT count(*) FROM attested_nodes", &st);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? -EIO : r;
        return ds_column_int64(st, 0, ret);
}

static void node_rows_free(NodeRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++)
                attested_node_free(rows[i].node);
        free(rows);
}

/* Read the rows of one page (plus one, to know whether another page follows). */
static int node_list_rows(Datastore *ds, int banned, const char *after, int64_t limit,
                          NodeRow **ret, size_t *ret_n) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        NodeRow *rows = NULL;
        size_t n = 0, size = 0;
        int r;

        r = ds_prepare(ds, DS_STMT_NODE_LIST,
                       "SELECT " NODE_COLUMNS " FROM attested_nodes WHERE spiffe_id > ?1 "
                       "AND (?2 < 0 OR banned = ?2) ORDER BY spiffe_id LIMIT ?3",
                       &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, after)) < 0 || (r = ds_bind_int64(ds, st, 2, banned)) < 0 ||
            (r = ds_bind_int64(ds, st, 3, limit)) < 0)
                return r;
        while ((r = ds_step(ds, st)) > 0) {
                if (n == size) {
                        size_t s = size ? size * 2 : 64;
                        NodeRow *nr = reallocarray(rows, s, sizeof(NodeRow));

                        if (!nr) {
                                r = -ENOMEM;
                                break;
                        }
                        rows = nr;
                        size = s;
                }
                r = node_from_row(st, &rows[n]);
                if (r < 0)
                        break;
                n++;
        }
        if (r < 0) {
                node_rows_free(rows, n);
                return r;
        }
        *ret = rows;
        *ret_n = n;
        return 0;
}

/* Cut the page to @page_size, note the next token, load selectors, and hand the nodes over. */
static int node_list_finish(Datastore *ds, NodeRow *rows, size_t n, size_t page_size,
                            NodeList *ret, char **ret_next) {
        _cleanup_(freep) AttestedNode **nodes = NULL;
        _cleanup_(freep) char *next = NULL;
        int r;

        if (page_size > 0 && n > page_size) {
                n--;
                rows[n].node = attested_node_free(rows[n].node);
                next = strdup(rows[n - 1].node->spiffe_id);
                if (!next)
                        return -ENOMEM;
        }
        r = node_rows_complete(ds, rows, n);
        if (r < 0)
                return r;
        nodes = new0(AttestedNode *, n);
        if (!nodes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                nodes[i] = TAKE_PTR(rows[i].node);
        *ret = (NodeList) { .nodes = TAKE_PTR(nodes), .n_nodes = n };
        *ret_next = TAKE_PTR(next);
        return 0;
}

int ds_node_list(Datastore *ds, int banned, const char *page_token, size_t page_size,
                 NodeList *ret, char **ret_next) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        NodeRow *rows = NULL;
        NodeList l = {};
        char *next = NULL;
        size_t n = 0;
        int64_t limit;
        int r;

        assert(ret);
        assert(ret_next);
        if (banned < -1 || banned > 1 || ds_page_limit(page_size, &limit) < 0)
                return -EINVAL;
        if (!isempty(page_token) && !node_id_is_valid(page_token))
                return -EINVAL;

        r = ds_tx_begin(ds, false, &tx);
        if (r < 0)
                return r;
        r = node_list_rows(ds, banned, page_token ? page_token : "", limit, &rows, &n);
        if (r < 0)
                return r;
        r = node_list_finish(ds, rows, n, page_size, &l, &next);
        if (r >= 0)
                r = ds_tx_commit(&tx);
        if (r < 0) {
                node_list_done(&l);
                free(next);
        }
        node_rows_free(rows, n);
        if (r < 0)
                return r;
        *ret = l;
        *ret_next = next;
        return 0;
}
