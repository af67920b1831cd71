/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite datastore: opening, schema migrations, and the helpers the
 * other datastore-sqlite-*.c files share (statement cache, transactions,
 * checked column access, batched loading of child rows).
 *
 * Invariants:
 *   - one connection per Datastore, used under ds->lock only, so every
 *     public function is thread-safe and SQLite runs in multi-thread mode;
 *   - every write starts with BEGIN IMMEDIATE, so a writer holds SQLite's
 *     write lock before it reads anything it decides on (this is what makes
 *     ds_token_consume() exactly-once even across processes, and it avoids
 *     SQLITE_BUSY_SNAPSHOT in WAL mode); reads that take several statements
 *     run in one read transaction, so they see one snapshot;
 *   - every statement is prepared once (SQLITE_PREPARE_PERSISTENT) and kept;
 *   - the schema is the ordered list of migrations/NNNN-*.sql compiled into
 *     this binary; PRAGMA user_version records how many have been applied,
 *     and a database with a higher version is refused, never touched;
 *   - synchronous=NORMAL in WAL mode: a crash of the process or the OS never
 *     corrupts the database; a power failure may lose the last commits;
 *   - rows read back are semi-trusted: types are checked, text with
 *     embedded NULs is refused, and the callers re-parse what feeds security
 *     decisions. A bad row is -EBADMSG, never a crash.
 */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "datastore-migrations.h"
#include "datastore-sqlite.h"
#include "sigil/log.h"

#define DS_BUSY_TIMEOUT_MSEC 5000
#define DS_APPLICATION_ID 1397311308 /* 'SIGL', set by 0001-initial.sql */
#define DS_SCHEMA_VERSION ((int) ELEMENTSOF(datastore_migrations))
#define DS_CACHE_SIZE -32768               /* KiB (negative: a size, not pages): 32 MiB */
#define DS_WAL_CHECKPOINT_PAGES 8192       /* about 32 MiB of WAL between checkpoints */
#define DS_WAL_SIZE_LIMIT 67108864         /* bytes the WAL file is truncated to after one */

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

int ds_fail(Datastore *ds, const char *what) {
        int rc = sqlite3_extended_errcode(ds->db);
        int r;

        switch (rc & 0xff) {
        case SQLITE_NOMEM:
                r = -ENOMEM;
                break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                r = -EBUSY;
                break;
        case SQLITE_READONLY:
                r = -EROFS;
                break;
        case SQLITE_FULL:
                r = -ENOSPC;
                break;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                r = -EACCES;
                break;
        case SQLITE_CANTOPEN:
                r = -ENOENT;
                break;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_MISMATCH:
                r = -EBADMSG;
                break;
        case SQLITE_TOOBIG:
                r = -E2BIG;
                break;
        case SQLITE_CONSTRAINT:
                r = (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                            ? -EEXIST
                            : -EINVAL;
                break;
        default:
                r = -EIO;
        }
        return log_debug_errno(r, "datastore: %s: %s (SQLite %d)", what,
                               sqlite3_errmsg(ds->db), rc);
}

int ds_prepare(Datastore *ds, DsStmt id, const char *sql, sqlite3_stmt **ret) {
        assert(id < _DS_STMT_MAX);

        if (!ds->stmts[id] &&
            sqlite3_prepare_v3(ds->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &ds->stmts[id],
                               NULL) != SQLITE_OK)
                return ds_fail(ds, "prepare");
        assert(streq(sqlite3_sql(ds->stmts[id]), sql));
        *ret = ds->stmts[id];
        return 0;
}

int ds_step(Datastore *ds, sqlite3_stmt *st) {
        switch (sqlite3_step(st)) {
        case SQLITE_ROW:
                return 1;
        case SQLITE_DONE:
                return 0;
        default:
                return ds_fail(ds, "step");
        }
}

int ds_exec_stmt(Datastore *ds, sqlite3_stmt *st) {
        int r = ds_step(ds, st);

        (void) sqlite3_reset(st);
        (void) sqlite3_clear_bindings(st);
        return r > 0 ? 0 : r;
}

int ds_bind_text(Datastore *ds, sqlite3_stmt *st, int idx, const char *s) {
        int rc = s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, idx);

        return rc == SQLITE_OK ? 0 : ds_fail(ds, "bind");
}

int ds_bind_int64(Datastore *ds, sqlite3_stmt *st, int idx, int64_t v) {
        return sqlite3_bind_int64(st, idx, v) == SQLITE_OK ? 0 : ds_fail(ds, "bind");
}

int ds_column_text(sqlite3_stmt *st, int col, bool nullable, const char **ret) {
        const char *s;
        int n;

        switch (sqlite3_column_type(st, col)) {
        case SQLITE_NULL:
                if (!nullable)
                        return log_debug_errno(-EBADMSG, "datastore: NULL in column %d", col);
                *ret = NULL;
                return 0;
        case SQLITE_TEXT:
                break;
        default:
                return log_debug_errno(-EBADMSG, "datastore: column %d is not text", col);
        }
        s = (const char *) sqlite3_column_text(st, col);
        n = sqlite3_column_bytes(st, col);
        if (!s)
                return -ENOMEM;
        if (memchr(s, '\0', (size_t) n))
                return log_debug_errno(-EBADMSG, "datastore: NUL byte in column %d", col);
        *ret = s;
        return 0;
}

int ds_column_strdup(sqlite3_stmt *st, int col, bool nullable, char **ret) {
        const char *s;
        char *c = NULL;
        int r;

        r = ds_column_text(st, col, nullable, &s);
        if (r < 0)
                return r;
        if (s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int ds_column_int64(sqlite3_stmt *st, int col, int64_t *ret) {
        if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
                return log_debug_errno(-EBADMSG, "datastore: column %d is not an integer", col);
        *ret = sqlite3_column_int64(st, col);
        return 0;
}

void ds_tx_rollbackp(Datastore **tx) {
        sqlite3_stmt *st = NULL;

        if (!*tx)
                return;
        if (ds_prepare(*tx, DS_STMT_ROLLBACK, "ROLLBACK", &st) < 0 ||
            ds_exec_stmt(*tx, st) < 0)
                /* Only fails when no transaction is open any more (SQLite ended it). */
                (void) log_debug("datastore: rollback failed");
        *tx = NULL;
}

int ds_tx_begin(Datastore *ds, bool write, Datastore **ret_tx) {
        sqlite3_stmt *st = NULL;
        int r;

        r = write ? ds_prepare(ds, DS_STMT_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE", &st)
                  : ds_prepare(ds, DS_STMT_BEGIN_DEFERRED, "BEGIN DEFERRED", &st);
        if (r < 0)
                return r;
        r = ds_exec_stmt(ds, st);
        if (r < 0)
                return r;
        *ret_tx = ds;
        return 0;
}

int ds_tx_commit(Datastore **tx) {
        sqlite3_stmt *st = NULL;
        int r;

        assert(*tx);
        r = ds_prepare(*tx, DS_STMT_COMMIT, "COMMIT", &st);
        if (r < 0)
                return r;
        r = ds_exec_stmt(*tx, st);
        if (r < 0)
                return r; /* still open: the caller's cleanup rolls back */
        *tx = NULL;
        return 0;
}

int ds_selector_format(const SigilSelector *s, char *buf, size_t n_buf) {
        int n;

        if (!s->type || !s->value)
                return -EINVAL;
        n = snprintf(buf, n_buf, "%s:%s", s->type, s->value);
        if (n < 0 || (size_t) n >= n_buf)
                return -EINVAL;
        return 0;
}

int ds_selector_set_add_stored(SigilSelectorSet *set, const char *text) {
        SigilErr err = {};
        int r;

        r = sigil_selector_set_add_string(set, text, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_debug_errno(-EBADMSG, "datastore: bad stored selector: %s", err.msg);
        return 0;
}

int ds_sha256_hex(const char *s, char ret[static 65]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[32];
        unsigned n = 0;

        if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 || n != sizeof(md))
                return -EIO;
        for (size_t i = 0; i < sizeof(md); i++) {
                ret[2 * i] = hex[md[i] >> 4];
                ret[2 * i + 1] = hex[md[i] & 0x0f];
        }
        ret[64] = '\0';
        return 0;
}

int ds_page_limit(size_t page_size, int64_t *ret_limit) {
        if (page_size > DS_PAGE_SIZE_MAX)
                return -EINVAL;
        *ret_limit = page_size == 0 ? -1 : (int64_t) page_size + 1; /* one more: is there a next page? */
        return 0;
}

static int owner_compare(const void *a, const void *b) {
        const DsOwner *x = a, *y = b;

        return x->pk < y->pk ? -1 : x->pk > y->pk;
}

/* "[pk,pk,...]" for json_each(). */
static int owners_to_json(const DsOwner *owners, size_t n, char **ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 3 + n * 21, o = 0;

        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        buf[o++] = '[';
        for (size_t i = 0; i < n; i++)
                o += (size_t) snprintf(buf + o, size - o, "%s%" PRId64, i > 0 ? "," : "",
                                       owners[i].pk);
        buf[o++] = ']';
        buf[o] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

int ds_load_children(Datastore *ds, DsStmt id, const char *sql, DsOwner *owners, size_t n_owners,
                     DsChildFn fn) {
        _cleanup_(ds_stmt_resetp) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *json = NULL;
        int r;

        if (n_owners == 0)
                return 0;
        qsort(owners, n_owners, sizeof(DsOwner), owner_compare);
        r = owners_to_json(owners, n_owners, &json);
        if (r < 0)
                return r;
        r = ds_prepare(ds, id, sql, &st);
        if (r < 0)
                return r;
        r = ds_bind_text(ds, st, 1, json);
        if (r < 0)
                return r;

        while ((r = ds_step(ds, st)) > 0) {
                DsOwner key = { .pk = sqlite3_column_int64(st, 0) };
                DsOwner *o = bsearch(&key, owners, n_owners, sizeof(DsOwner), owner_compare);

                if (!o)
                        return log_debug_errno(-EBADMSG, "datastore: child of unknown row");
                r = fn(o->item, st);
                if (r < 0)
                        return r;
        }
        return r;
}

/* ---- opening and migrations ---- */

static int ds_exec(Datastore *ds, const char *sql) {
        if (sqlite3_exec(ds->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return ds_fail(ds, "exec");
        return 0;
}

static int ds_pragma_int(Datastore *ds, const char *sql, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r;

        if (sqlite3_prepare_v2(ds->db, sql, -1, &st, NULL) != SQLITE_OK)
                return ds_fail(ds, "prepare");
        r = ds_step(ds, st);
        if (r > 0)
                r = ds_column_int64(st, 0, ret);
        else if (r == 0)
                r = -ENODATA;
        (void) sqlite3_finalize(st);
        return r;
}

static int ds_configure(Datastore *ds, bool memory, SigilErr *reterr) {
        sqlite3_stmt *st = NULL;
        int64_t fk = 0;
        bool wal = false;
        int r;

        (void) sqlite3_extended_result_codes(ds->db, 1);
        (void) sqlite3_busy_timeout(ds->db, DS_BUSY_TIMEOUT_MSEC);
        if (sqlite3_db_readonly(ds->db, "main") == 1)
                return sigil_err_set(reterr, -EROFS, "database is read-only");

        r = ds_exec(ds, "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; "
                        "PRAGMA cache_size = " STRINGIFY(DS_CACHE_SIZE));
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot set pragmas: %s", sqlite3_errmsg(ds->db));
        r = ds_pragma_int(ds, "PRAGMA foreign_keys", &fk);
        if (r < 0 || fk != 1)
                return sigil_err_set(reterr, -ENOTSUP, "SQLite does not enforce foreign keys");

        if (memory)
                return 0;
        if (sqlite3_prepare_v2(ds->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                wal = streq_ptr((const char *) sqlite3_column_text(st, 0), "wal");
        (void) sqlite3_finalize(st);
        if (!wal)
                return sigil_err_set(reterr, -ENOTSUP, "cannot switch to WAL mode: %s",
                                     sqlite3_errmsg(ds->db));
        /*
         * Each change is its own small transaction and dirties a handful of
         * pages; checkpointing rarely lets one checkpoint write a page that
         * many transactions changed once, instead of once each.
         */
        r = ds_exec(ds, "PRAGMA synchronous = NORMAL; "
                        "PRAGMA wal_autocheckpoint = " STRINGIFY(DS_WAL_CHECKPOINT_PAGES) "; "
                        "PRAGMA journal_size_limit = " STRINGIFY(DS_WAL_SIZE_LIMIT));
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot set pragmas: %s", sqlite3_errmsg(ds->db));
        return 0;
}

/* Under the write lock: refuse foreign or newer databases, apply what is missing. */
static int ds_migrate_locked(Datastore *ds, SigilErr *reterr) {
        int64_t version = 0, app_id = 0;
        char sql[64];
        int r;

        r = ds_pragma_int(ds, "PRAGMA user_version", &version);
        if (r >= 0)
                r = ds_pragma_int(ds, "PRAGMA application_id", &app_id);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read the schema version: %s",
                                     sqlite3_errmsg(ds->db));
        if (app_id != DS_APPLICATION_ID && (app_id != 0 || version != 0))
                return sigil_err_set(reterr, -EMEDIUMTYPE,
                                     "not a sigil datastore (application_id %" PRId64
                                     ", user_version %" PRId64 ")", app_id, version);
        if (version > DS_SCHEMA_VERSION)
                return sigil_err_set(reterr, -EPROTONOSUPPORT,
                                     "schema version %" PRId64 " is newer than this sigil-server "
                                     "knows (%d); refusing to use it", version,
                                     DS_SCHEMA_VERSION);

        for (int64_t v = version; v < DS_SCHEMA_VERSION; v++) {
                r = ds_exec(ds, datastore_migrations[v]);
                if (r < 0)
                        return sigil_err_set(reterr, r, "schema migration %04" PRId64
                                             " failed: %s", v + 1, sqlite3_errmsg(ds->db));
                log_debug("datastore: applied schema migration %04" PRId64, v + 1);
        }
        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", DS_SCHEMA_VERSION);
        return ds_exec(ds, sql);
}

static int ds_migrate(Datastore *ds, SigilErr *reterr) {
        _cleanup_(ds_tx_rollbackp) Datastore *tx = NULL;
        int r;

        r = ds_tx_begin(ds, true, &tx);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot lock the database: %s",
                                     sqlite3_errmsg(ds->db));
        r = ds_migrate_locked(ds, reterr);
        if (r < 0)
                return r;
        r = ds_tx_commit(&tx);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot commit the schema: %s",
                                     sqlite3_errmsg(ds->db));
        /* Private to this connection: the selector set of the ds_entry_list() filter. */
        r = ds_exec(ds, "CREATE TEMP TABLE filter_selectors (selector TEXT PRIMARY KEY) "
                        "WITHOUT ROWID");
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create a temporary table: %s",
                                     sqlite3_errmsg(ds->db));
        return 0;
}

/* Create the file 0600 ourselves: SQLite would use 0644, and the -wal/-shm files copy its mode. */
static int ds_create_file(const char *path) {
        int fd;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        (void) close(fd);
        return 0;
}

int datastore_open(const char *path, Datastore **ret, SigilErr *reterr) {
        _cleanup_(datastore_closep) Datastore *ds = NULL;
        bool memory;
        int r;

        assert(path);
        assert(ret);

        if (sqlite3_threadsafe() == 0)
                return sigil_err_set(reterr, -ENOTSUP, "SQLite was built without thread support");
        memory = streq(path, ":memory:");
        if (!memory) {
                r = ds_create_file(path);
                if (r < 0)
                        return sigil_err_set(reterr, r, "cannot create '%s': %s", path,
                                             strerror(-r));
        }

        ds = new0(Datastore, 1);
        if (!ds)
                return -ENOMEM;
        r = pthread_mutex_init(&ds->lock, NULL);
        if (r != 0) {
                free(TAKE_PTR(ds));
                return -r;
        }
        if (sqlite3_open_v2(path, &ds->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK)
                return sigil_err_set(reterr, ds->db ? ds_fail(ds, "open") : -ENOMEM,
                                     "cannot open '%s': %s", path,
                                     ds->db ? sqlite3_errmsg(ds->db) : "out of memory");

        r = ds_configure(ds, memory, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", path);
        r = ds_migrate(ds, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", path);
        *ret = TAKE_PTR(ds);
        return 0;
}

Datastore *datastore_close(Datastore *ds) {
        if (!ds)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(ds->stmts); i++)
                (void) sqlite3_finalize(ds->stmts[i]);
        for (size_t i = 0; i < ELEMENTSOF(ds->entry_list_stmts); i++)
                (void) sqlite3_finalize(ds->entry_list_stmts[i]);
        if (ds->db) {
                /* Keeps the query planner's statistics current; cheap when nothing changed. */
                (void) sqlite3_exec(ds->db, "PRAGMA optimize", NULL, NULL, NULL);
                (void) sqlite3_close(ds->db);
        }
        (void) pthread_mutex_destroy(&ds->lock);
        free(ds);
        return NULL;
}

int datastore_schema_version(Datastore *ds) {
        int64_t v = 0;
        int r;
        DS_LOCK(ds);

        r = ds_pragma_int(ds, "PRAGMA user_version", &v);
        if (r < 0)
                return r;
        return v < 0 || v > INT32_MAX ? -EBADMSG : (int) v;
}
