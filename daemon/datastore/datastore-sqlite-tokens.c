/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Join tokens in SQLite. Only the SHA-256 of a token is stored (lowercase
 * hex, the table's key), so the database file never holds a usable token.
 * A token is high-entropy and single-use, so an unsalted hash is enough.
 *
 * Consuming is one DELETE ... RETURNING inside BEGIN IMMEDIATE: whoever
 * deletes the row owns the token, so it works exactly once however many
 * threads or processes try at the same moment. An expired token is deleted
 * as well, and reported as DS_E_EXPIRED.
 *
 * A token is valid while now <= expires_at, like an entry's expires_at.
 */
#include <assert.h>
#include <openssl/crypto.h>
#include <string.h>

#include "datastore-sqlite.h"

#define DS_TOKEN_MAX 4096

static int token_hash(const char *token, char ret[static 65]) {
        if (isempty(token) || strnlen(token, DS_TOKEN_MAX + 1) > DS_TOKEN_MAX)
                return -EINVAL;
        return ds_sha256_hex(token, ret);
}

int ds_token_create(Datastore *ds, const char *token, int64_t expires_at) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        char hash[65];
        int r;

        r = token_hash(token, hash);
        if (r < 0)
                return r;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_TOKEN_INSERT,
                       "INSERT INTO join_tokens (token_hash, expires_at) VALUES (?1, ?2)", &st);
        if (r < 0)
                return r;
        if ((r = ds_bind_text(ds, st, 1, hash)) < 0 ||
            (r = ds_bind_int64(ds, st, 2, expires_at)) < 0)
                return r;
        r = ds_exec_stmt(ds, st);
        if (r == -EEXIST)
                return DS_E_EXISTS;
        if (r < 0)
                return r;
        return ds_tx_commit(&tx);
}

/* Delete the row of @hash; *@ret_expires_at is its expiry. Return: 0, DS_E_NOT_FOUND, errno. */
static int token_take(Datastore *ds, const char *hash, int64_t *ret_expires_at) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int64_t expires_at;
        int r;

        r = ds_prepare(ds, DS_STMT_TOKEN_CONSUME,
                       "DELETE FROM join_tokens WHERE token_hash = ?1 RETURNING expires_at", &st);
        if (r < 0)
                return r;
        r = ds_bind_text(ds, st, 1, hash);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? DS_E_NOT_FOUND : r;
        r = ds_column_int64(st, 0, &expires_at);
        if (r < 0)
                return r;
        r = ds_step(ds, st); /* finish the statement before COMMIT */
        if (r < 0)
                return r;
        *ret_expires_at = expires_at;
        return 0;
}

int ds_token_consume(Datastore *ds, const char *token, int64_t now) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        int64_t expires_at;
        char hash[65];
        int r;

        r = token_hash(token, hash);
        if (r < 0)
                return r == -EINVAL ? DS_E_NOT_FOUND : r;
        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = token_take(ds, hash, &expires_at);
        if (r != 0)
                return r;
        r = ds_tx_commit(&tx);
        if (r < 0)
                return r;
        return expires_at < now ? DS_E_EXPIRED : 0;
}

int ds_token_prune(Datastore *ds, int64_t now, size_t *ret_n) {
        DS_LOCK(ds);
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        sqlite3_stmt *st = NULL;
        size_t n;
        int r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return r;
        r = ds_prepare(ds, DS_STMT_TOKEN_PRUNE, "DELETE FROM join_tokens WHERE expires_at < ?1",
                       &st);
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

int ds_token_count(Datastore *ds, int64_t *ret) {
        DS_LOCK(ds);
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        int r;

        r = ds_prepare(ds, DS_STMT_TOKEN_COUNT, "SELECT count(*) FROM join_tokens", &st);
        if (r < 0)
                return r;
        r = ds_step(ds, st);
        if (r <= 0)
                return r == 0 ? -EIO : r;
        return ds_column_int64(st, 0, ret);
}
