/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite datastore: entries (CRUD, filters, match modes, paging,
 * duplicates, events, expiry), join tokens, nodes, bundles, kv, schema
 * versions, persistence, corrupt rows, and concurrency.
 *
 * SIGIL_DS_BENCH=1 also times creating 10k and 100k entries one by one and
 * listing them in pages of 500 (printed, not asserted).
 */
#include "test-util.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "datastore/datastore.h"
#include "sigil/clock.h"

#define TD "example.org"

typedef struct Fixture {
        char *dir;
        char path[512];
        Datastore *ds;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        SigilErr err = {};

        assert_non_null(f);
        f->dir = test_mkdtemp();
        (void) snprintf(f->path, sizeof(f->path), "%s/datastore.db", f->dir);
        if (datastore_open(f->path, &f->ds, &err) != 0)
                fail_msg("open: %s", err.msg);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        datastore_close(f->ds);
        rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static void reopen(Fixture *f) {
        SigilErr err = {};

        f->ds = datastore_close(f->ds);
        if (datastore_open(f->path, &f->ds, &err) != 0)
                fail_msg("reopen: %s", err.msg);
}

/* Run one SQL script on the file through a connection of our own. */
static void raw_sql(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        char *msg = NULL;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
                fail_msg("raw SQL failed: %s", msg);
        sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int64_t v;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

/* ---- building entries ---- */

static void set_str(char **p, const char *s) {
        free(*p);
        *p = s ? strdup(s) : NULL;
        if (s)
                assert_non_null(*p);
}

static void set_selectors(SigilSelectorSet *set, const char *selectors) {
        char buf[1024], *save = NULL;

        sigil_selector_set_done(set);
        (void) snprintf(buf, sizeof(buf), "%s", selectors);
        for (char *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save))
                assert_int_equal(sigil_selector_set_add_string(set, s, NULL), 0);
}

static char **strv_split(const char *words) {
        char buf[1024], *save = NULL, **l = calloc(65, sizeof(char *));
        size_t n = 0;

        assert_non_null(l);
        (void) snprintf(buf, sizeof(buf), "%s", words);
        for (char *s = strtok_r(buf, " ", &save); s && n < 64; s = strtok_r(NULL, " ", &save))
                assert_non_null(l[n++] = strdup(s));
        return l;
}

/* An entry spiffe://example.org<path> under spiffe://example.org<parent>. */
static Entry *make_entry(const char *path, const char *parent, const char *selectors) {
        Entry *e = entry_new();
        char id[ENTRY_ID_LEN + 1], buf[256];

        assert_non_null(e);
        assert_int_equal(entry_id_generate(id), 0);
        set_str(&e->id, id);
        (void) snprintf(buf, sizeof(buf), "spiffe://" TD "%s", path);
        set_str(&e->spiffe_id, buf);
        (void) snprintf(buf, sizeof(buf), "spiffe://" TD "%s", parent);
        set_str(&e->parent_id, buf);
        set_selectors(&e->selectors, selectors);
        e->created_at = 1700000000;
        return e;
}

static void assert_entry_equal(const Entry *a, const Entry *b) {
        assert_string_equal(a->id, b->id);
        assert_string_equal(a->spiffe_id, b->spiffe_id);
        assert_string_equal(a->parent_id, b->parent_id);
        assert_true(sigil_selector_set_equal(&a->selectors, &b->selectors));
        assert_int_equal(a->x509_svid_ttl, b->x509_svid_ttl);
        assert_int_equal(a->jwt_svid_ttl, b->jwt_svid_ttl);
        assert_int_equal(strv_length(a->dns_names), strv_length(b->dns_names));
        for (size_t i = 0; i < strv_length(a->dns_names); i++)
                assert_string_equal(a->dns_names[i], b->dns_names[i]);
        assert_int_equal(strv_length(a->federates_with), strv_length(b->federates_with));
        for (size_t i = 0; i < strv_length(a->federates_with); i++)
                assert_string_equal(a->federates_with[i], b->federates_with[i]);
        assert_int_equal(a->admin, b->admin);
        assert_int_equal(a->downstream, b->downstream);
        assert_int_equal(a->expires_at, b->expires_at);
        assert_true(streq_ptr(isempty(a->hint) ? NULL : a->hint, isempty(b->hint) ? NULL : b->hint));
        assert_int_equal(a->created_at, b->created_at);
}

static int64_t count_entries(Datastore *ds) {
        int64_t n = -1;

        assert_int_equal(ds_entry_count(ds, &n), 0);
        return n;
}

/* ---- opening, schema ---- */

static void test_open_schema(void **state) {
        Fixture *f = *state;
        struct stat st;
        char wal[600];

        assert_int_equal(datastore_schema_version(f->ds), 1);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        (void) snprintf(wal, sizeof(wal), "%s-wal", f->path);
        assert_int_equal(stat(wal, &st), 0);    /* WAL mode */
        assert_int_equal(st.st_mode & 0077, 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                          "('entries', 'entry_selectors', 'entry_events', "
                                          "'join_tokens', 'attested_nodes', 'bundles', 'kv')"),
                         7);

        /* Reopening an up-to-date database changes nothing. */
        reopen(f);
        assert_int_equal(datastore_schema_version(f->ds), 1);
}

static void test_newer_schema_refused(void **state) {
        Fixture *f = *state;
        Datastore *ds = NULL;
        SigilErr err = {};

        f->ds = datastore_close(f->ds);
        raw_sql(f->path, "PRAGMA user_version = 2");
        assert_int_equal(datastore_open(f->path, &ds, &err), -EPROTONOSUPPORT);
        assert_null(ds);
        assert_non_null(strstr(err.msg, "newer"));
        /* Refused, not touched. */
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 2);

        raw_sql(f->path, "PRAGMA user_version = 1");
        reopen(f);
}

static void test_foreign_files_refused(void **state) {
        Fixture *f = *state;
        Datastore *ds = NULL;
        SigilErr err = {};
        char path[600];
        FILE *fp;

        (void) snprintf(path, sizeof(path), "%s/other.db", f->dir);
        raw_sql(path, "PRAGMA application_id = 42; CREATE TABLE t (a)");
        assert_int_equal(datastore_open(path, &ds, &err), -EMEDIUMTYPE);
        assert_non_null(strstr(err.msg, "not a sigil datastore"));

        (void) snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
        fp = fopen(path, "we");
        assert_non_null(fp);
        for (int i = 0; i < 512; i++)
                fputs("this is not an SQLite database ", fp);
        fclose(fp);
        assert_true(datastore_open(path, &ds, &err) < 0);
        assert_null(ds);

        (void) snprintf(path, sizeof(path), "%s/no/such/dir/x.db", f->dir);
        assert_int_equal(datastore_open(path, &ds, &err), -ENOENT);
}

/* ---- entries ---- */

static void test_entry_crud(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *e = make_entry("/web", "/agent/1", "unix:uid:1000 unix:gid:50");
        _cleanup_(entry_freep) Entry *got = NULL, *upd = NULL, *del = NULL;

        e->x509_svid_ttl = 3600;
        e->jwt_svid_ttl = 300;
        e->dns_names = strv_split("web.example.org b.example.org a.example.org");
        e->federates_with = strv_split("partner.org other.org");
        e->admin = true;
        e->expires_at = 2000000000;
        set_str(&e->hint, "frontend");
        e->revision_number = 0;

        assert_int_equal(count_entries(f->ds), 0);
        assert_int_equal(ds_entry_create(f->ds, e), 0);
        assert_int_equal(count_entries(f->ds), 1);
        assert_int_equal(ds_entry_get(f->ds, e->id, &got), 0);
        assert_entry_equal(got, e);
        assert_int_equal(got->revision_number, 0);
        /* DNS names keep their order. */
        assert_string_equal(got->dns_names[0], "web.example.org");
        assert_string_equal(got->dns_names[2], "a.example.org");

        /* Update: new fields, revision + 1, created_at kept from the stored row. */
        e->x509_svid_ttl = 60;
        e->admin = false;
        e->downstream = true;
        e->created_at = 5;
        set_str(&e->hint, NULL);
        set_selectors(&e->selectors, "unix:uid:1001");
        e->dns_names = strv_free(e->dns_names);
        strv_free(e->federates_with);
        e->federates_with = strv_split("third.org");
        assert_int_equal(ds_entry_update(f->ds, e, &upd), 0);
        assert_int_equal(upd->revision_number, 1);
        assert_int_equal(upd->created_at, 1700000000);
        e->created_at = 1700000000;
        assert_entry_equal(upd, e);
        assert_null(upd->dns_names);
        assert_null(upd->hint);
        entry_free(got);
        got = NULL;
        assert_int_equal(ds_entry_get(f->ds, e->id, &got), 0);
        assert_entry_equal(got, e);
        assert_int_equal(ds_entry_update(f->ds, e, NULL), 0);
        entry_free(got);
        got = NULL;
        assert_int_equal(ds_entry_get(f->ds, e->id, &got), 0);
        assert_int_equal(got->revision_number, 2);

        /* Only the updated entry's child rows changed. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_selectors"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_dns_names"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_federates_with"), 1);

        assert_int_equal(ds_entry_delete(f->ds, e->id, &del), 0);
        assert_entry_equal(del, e);
        assert_int_equal(ds_entry_get(f->ds, e->id, &got), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_delete(f->ds, e->id, NULL), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_update(f->ds, e, NULL), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_get(f->ds, "not-an-id", &got), DS_E_NOT_FOUND);
        assert_int_equal(count_entries(f->ds), 0);
        /* Child rows went with the entry. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_selectors"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_federates_with"), 0);
}

static void test_entry_create_invalid(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *e = make_entry("/web", "/agent/1", "unix:uid:1");

        set_str(&e->id, "bad");
        assert_int_equal(ds_entry_create(f->ds, e), -EINVAL);
        set_str(&e->id, "00000000-0000-4000-8000-000000000000");
        sigil_selector_set_done(&e->selectors);
        assert_int_equal(ds_entry_create(f->ds, e), -EINVAL);
        assert_int_equal(count_entries(f->ds), 0);
}

static void test_entry_duplicates(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *a = make_entry("/web", "/agent/1", "unix:uid:1 unix:gid:2 k8s:ns:prod");
        _cleanup_(entry_freep) Entry *b = make_entry("/web", "/agent/1", "k8s:ns:prod unix:gid:2 unix:uid:1");
        _cleanup_(entry_freep) Entry *c = make_entry("/web", "/agent/1", "k8s:ns:prod unix:gid:2 unix:uid:3");
        _cleanup_(entry_freep) Entry *d = make_entry("/web", "/agent/2", "unix:uid:1 unix:gid:2 k8s:ns:prod");
        _cleanup_(entry_freep) Entry *same_id = make_entry("/other", "/agent/9", "x:y");
        _cleanup_(entry_freep) Entry *got = NULL;
        int64_t last = 0;

        assert_int_equal(ds_entry_create(f->ds, a), 0);
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        /* Same registration, selectors given in another order, another ID. */
        assert_int_equal(ds_entry_create(f->ds, b), DS_E_EXISTS);
        /* Same ID, different registration. */
        set_str(&same_id->id, a->id);
        assert_int_equal(ds_entry_create(f->ds, same_id), DS_E_EXISTS);
        /* A refused create leaves no trace. */
        assert_int_equal(count_entries(f->ds), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_selectors"), 3);
        {
                int64_t after = 0;

                assert_int_equal(ds_entry_last_event_id(f->ds, &after), 0);
                assert_int_equal(after, last);
        }

        /* One selector different, or another parent: a different registration. */
        assert_int_equal(ds_entry_create(f->ds, c), 0);
        assert_int_equal(ds_entry_create(f->ds, d), 0);
        /* A selector set that is a subset is different too. */
        set_selectors(&b->selectors, "unix:uid:1 unix:gid:2");
        assert_int_equal(ds_entry_create(f->ds, b), 0);

        /* Updating c into a's registration is refused and changes nothing. */
        set_selectors(&c->selectors, "unix:gid:2 unix:uid:1 k8s:ns:prod");
        assert_int_equal(ds_entry_update(f->ds, c, NULL), DS_E_EXISTS);
        assert_int_equal(ds_entry_get(f->ds, c->id, &got), 0);
        assert_int_equal(got->revision_number, 0);
        assert_true(sigil_selector_set_contains(&got->selectors, "unix", "uid:3"));
        /* Updating an entry to its own registration is fine. */
        assert_int_equal(ds_entry_update(f->ds, a, NULL), 0);
        assert_int_equal(count_entries(f->ds), 4);
}

static void test_entry_create_batch(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *old = make_entry("/old", "/agent/1", "unix:uid:1");
        Entry *e[5];
        int results[5] = { 99, 99, 99, 99, 99 };
        int64_t last = 0;

        assert_int_equal(ds_entry_create(f->ds, old), 0);
        e[0] = make_entry("/b0", "/agent/1", "unix:uid:1");
        e[1] = make_entry("/old", "/agent/1", "unix:uid:1");                    /* exists */
        e[2] = make_entry("/b2", "/agent/1", "unix:uid:1 unix:gid:2");
        e[3] = make_entry("/b2", "/agent/1", "unix:gid:2 unix:uid:1");          /* = e[2] */
        e[4] = make_entry("/b4", "/agent/1", "unix:uid:1");
        sigil_selector_set_done(&e[4]->selectors);                             /* invalid */
        e[3]->dns_names = strv_split("dup.example.org");

        assert_int_equal(ds_entry_create_batch(f->ds, e, 5, results), 0);
        assert_int_equal(results[0], 0);
        assert_int_equal(results[1], DS_E_EXISTS);
        assert_int_equal(results[2], 0);
        assert_int_equal(results[3], DS_E_EXISTS);
        assert_int_equal(results[4], -EINVAL);
        assert_int_equal(count_entries(f->ds), 3);
        /* The refused entries left nothing behind: no rows, no events. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_selectors"), 4);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_dns_names"), 0);
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        assert_int_equal(last, 3);
        {
                Entry *got = NULL;

                assert_int_equal(ds_entry_get(f->ds, e[2]->id, &got), 0);
                assert_entry_equal(got, e[2]);
                entry_free(got);
        }

        assert_int_equal(ds_entry_create_batch(f->ds, e, DS_BATCH_MAX + 1, results), -EINVAL);
        assert_int_equal(ds_entry_create_batch(f->ds, NULL, 0, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(e); i++)
                entry_free(e[i]);
}

/*
 * The filter data set:
 *   E0 /a under /agent/1  {u:1}          federates partner.org        hint h1
 *   E1 /b under /agent/1  {u:1 g:2}
 *   E2 /c under /agent/2  {u:1 g:2 x:3}  federates partner.org other.org  hint h2
 *   E3 /a under /agent/2  {g:2}                                       hint h1
 *   E4 /d under /agent/2  {z:9}
 */
#define N_SET 5
static char set_ids[N_SET][ENTRY_ID_LEN + 1];

static void filter_data(Datastore *ds) {
        static const struct {
                const char *path, *parent, *selectors, *fed, *hint;
        } rows[N_SET] = {
                { "/a", "/agent/1", "t:u:1", "partner.org", "h1" },
                { "/b", "/agent/1", "t:u:1 t:g:2", NULL, NULL },
                { "/c", "/agent/2", "t:u:1 t:g:2 t:x:3", "partner.org other.org", "h2" },
                { "/a", "/agent/2", "t:g:2", NULL, "h1" },
                { "/d", "/agent/2", "t:z:9", NULL, "" },
        };

        for (size_t i = 0; i < N_SET; i++) {
                _cleanup_(entry_freep) Entry *e =
                        make_entry(rows[i].path, rows[i].parent, rows[i].selectors);

                if (rows[i].fed)
                        e->federates_with = strv_split(rows[i].fed);
                set_str(&e->hint, rows[i].hint);
                assert_int_equal(ds_entry_create(ds, e), 0);
                memcpy(set_ids[i], e->id, sizeof(set_ids[i]));
        }
}

/* List everything matching @filter in pages of @page_size; the result must be @mask, in ID order. */
static void expect_list(Datastore *ds, const EntryFilter *filter, size_t page_size,
                        unsigned mask, const char *what) {
        _cleanup_(freep) char *token = NULL;
        unsigned seen = 0;
        char prev[ENTRY_ID_LEN + 1] = "";

        do {
                EntryList l = {};
                char *next = NULL;

                assert_int_equal(ds_entry_list(ds, filter, token, page_size, &l, &next), 0);
                if (page_size > 0)
                        assert_true(l.n_entries <= page_size);
                for (size_t i = 0; i < l.n_entries; i++) {
                        size_t k;

                        for (k = 0; k < N_SET; k++)
                                if (streq(l.entries[i]->id, set_ids[k]))
                                        break;
                        assert_true(k < N_SET);
                        assert_true(strcmp(prev, l.entries[i]->id) < 0);
                        memcpy(prev, l.entries[i]->id, sizeof(prev));
                        assert_false(seen & (1u << k));
                        seen |= 1u << k;
                }
                entry_list_done(&l);
                free(token);
                token = next;
        } while (token);
        if (seen != mask)
                fail_msg("%s (page size %zu): got 0x%x, want 0x%x", what, page_size, seen, mask);
}

static void expect_all_pages(Datastore *ds, const EntryFilter *filter, unsigned mask,
                             const char *what) {
        expect_list(ds, filter, 0, mask, what);
        expect_list(ds, filter, 1, mask, what);
        expect_list(ds, filter, 2, mask, what);
        expect_list(ds, filter, 500, mask, what);
}

#define E(i) (1u << (i))

static void test_entry_list_filters(void **state) {
        Fixture *f = *state;
        SigilSelectorSet s = {};
        EntryFilter flt;

        filter_data(f->ds);

        expect_all_pages(f->ds, NULL, 0x1f, "no filter");
        flt = (EntryFilter) { .spiffe_id = "spiffe://" TD "/a" };
        expect_all_pages(f->ds, &flt, E(0) | E(3), "spiffe_id");
        flt = (EntryFilter) { .spiffe_id = "spiffe://" TD "/none" };
        expect_all_pages(f->ds, &flt, 0, "spiffe_id none");
        flt = (EntryFilter) { .parent_id = "spiffe://" TD "/agent/2" };
        expect_all_pages(f->ds, &flt, E(2) | E(3) | E(4), "parent_id");
        flt = (EntryFilter) { .federates_with = "partner.org" };
        expect_all_pages(f->ds, &flt, E(0) | E(2), "federates_with");
        flt = (EntryFilter) { .federates_with = "other.org" };
        expect_all_pages(f->ds, &flt, E(2), "federates_with other");
        flt = (EntryFilter) { .hint = "h1" };
        expect_all_pages(f->ds, &flt, E(0) | E(3), "hint");
        flt = (EntryFilter) { .hint = "h2" };
        expect_all_pages(f->ds, &flt, E(2), "hint h2");
        flt = (EntryFilter) { .hint = "h" };
        expect_all_pages(f->ds, &flt, 0, "hint prefix");
        flt = (EntryFilter) { .hint = "" };
        expect_all_pages(f->ds, &flt, E(1) | E(4), "no hint");
        flt = (EntryFilter) { .spiffe_id = "spiffe://" TD "/a", .parent_id = "spiffe://" TD "/agent/1",
                              .hint = "h1", .federates_with = "partner.org" };
        expect_all_pages(f->ds, &flt, E(0), "all string filters");

        set_selectors(&s, "t:u:1 t:g:2");
        flt = (EntryFilter) { .selectors = &s, .match = SELECTOR_MATCH_EXACT };
        expect_all_pages(f->ds, &flt, E(1), "exact {u:1 g:2}");
        flt.match = SELECTOR_MATCH_SUBSET;
        expect_all_pages(f->ds, &flt, E(0) | E(1) | E(3), "subset {u:1 g:2}");
        flt.match = SELECTOR_MATCH_SUPERSET;
        expect_all_pages(f->ds, &flt, E(1) | E(2), "superset {u:1 g:2}");
        flt.match = SELECTOR_MATCH_ANY;
        expect_all_pages(f->ds, &flt, E(0) | E(1) | E(2) | E(3), "any {u:1 g:2}");

        set_selectors(&s, "t:u:1");
        flt.match = SELECTOR_MATCH_EXACT;
        expect_all_pages(f->ds, &flt, E(0), "exact {u:1}");
        flt.match = SELECTOR_MATCH_SUBSET;
        expect_all_pages(f->ds, &flt, E(0), "subset {u:1}");
        flt.match = SELECTOR_MATCH_SUPERSET;
        expect_all_pages(f->ds, &flt, E(0) | E(1) | E(2), "superset {u:1}");
        flt.match = SELECTOR_MATCH_ANY;
        expect_all_pages(f->ds, &flt, E(0) | E(1) | E(2), "any {u:1}");

        /* A selector no entry has. */
        set_selectors(&s, "t:q:0");
        for (int m = 0; m < _SELECTOR_MATCH_MAX; m++) {
                flt.match = (SelectorMatch) m;
                expect_all_pages(f->ds, &flt, 0, "unknown selector");
        }
        /* A filter with an unknown selector beside known ones. */
        set_selectors(&s, "t:u:1 t:g:2 t:x:3 t:q:0");
        flt.match = SELECTOR_MATCH_SUBSET;
        expect_all_pages(f->ds, &flt, E(0) | E(1) | E(2) | E(3), "subset with extra");
        flt.match = SELECTOR_MATCH_SUPERSET;
        expect_all_pages(f->ds, &flt, 0, "superset with extra");
        flt.match = SELECTOR_MATCH_EXACT;
        expect_all_pages(f->ds, &flt, 0, "exact with extra");

        /* The empty set: every entry is a superset of it, nothing else matches. */
        sigil_selector_set_done(&s);
        flt.match = SELECTOR_MATCH_SUPERSET;
        expect_all_pages(f->ds, &flt, 0x1f, "superset {}");
        flt.match = SELECTOR_MATCH_EXACT;
        expect_all_pages(f->ds, &flt, 0, "exact {}");
        flt.match = SELECTOR_MATCH_SUBSET;
        expect_all_pages(f->ds, &flt, 0, "subset {}");
        flt.match = SELECTOR_MATCH_ANY;
        expect_all_pages(f->ds, &flt, 0, "any {}");

        /* Selectors and string filters together. */
        set_selectors(&s, "t:g:2");
        flt = (EntryFilter) { .selectors = &s, .match = SELECTOR_MATCH_SUPERSET,
                              .parent_id = "spiffe://" TD "/agent/2" };
        expect_all_pages(f->ds, &flt, E(2) | E(3), "parent + superset");
        flt.hint = "h1";
        expect_all_pages(f->ds, &flt, E(3), "parent + hint + superset");
        flt = (EntryFilter) { .selectors = &s, .match = SELECTOR_MATCH_ANY,
                              .federates_with = "partner.org" };
        expect_all_pages(f->ds, &flt, E(2), "federates + any");

        flt = (EntryFilter) { .selectors = &s, .match = _SELECTOR_MATCH_MAX };
        {
                EntryList l = {};
                char *next = NULL;

                assert_int_equal(ds_entry_list(f->ds, &flt, NULL, 0, &l, &next), -EINVAL);
        }
        sigil_selector_set_done(&s);
}

static int strp_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void test_entry_paging(void **state) {
        Fixture *f = *state;
        const size_t n = 1000;
        char **ids = calloc(n, sizeof(char *));
        EntryList l = {};
        char *next = NULL;

        assert_non_null(ids);
        for (size_t i = 0; i < n; i++) {
                char path[64];
                _cleanup_(entry_freep) Entry *e = NULL;

                (void) snprintf(path, sizeof(path), "/w/%zu", i);
                e = make_entry(path, "/agent/1", "unix:uid:1");
                assert_int_equal(ds_entry_create(f->ds, e), 0);
                ids[i] = strdup(e->id);
        }
        qsort(ids, n, sizeof(char *), strp_compare);

        static const size_t sizes[] = { 1, 2, 3, 500, DS_PAGE_SIZE_MAX, 0 };
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                _cleanup_(freep) char *token = NULL;
                size_t got = 0, pages = 0;

                do {
                        assert_int_equal(ds_entry_list(f->ds, NULL, token, sizes[s], &l, &next), 0);
                        pages++;
                        for (size_t i = 0; i < l.n_entries; i++)
                                assert_string_equal(l.entries[i]->id, ids[got++]);
                        if (next)
                                assert_string_equal(next, l.entries[l.n_entries - 1]->id);
                        entry_list_done(&l);
                        free(token);
                        token = TAKE_PTR(next);
                } while (token);
                assert_int_equal(got, n);
                /* No trailing empty page when n is a multiple of the page size. */
                assert_int_equal(pages, sizes[s] == 0 ? 1 : (n + sizes[s] - 1) / sizes[s]);
        }

        /* Bad arguments. */
        assert_int_equal(ds_entry_list(f->ds, NULL, "garbage", 10, &l, &next), -EINVAL);
        assert_int_equal(ds_entry_list(f->ds, NULL, "' OR 1=1 --", 10, &l, &next), -EINVAL);
        assert_int_equal(ds_entry_list(f->ds, NULL, NULL, DS_PAGE_SIZE_MAX + 1, &l, &next),
                         -EINVAL);

        /* A token stays valid when its entry is deleted meanwhile. */
        assert_int_equal(ds_entry_list(f->ds, NULL, "", 10, &l, &next), 0);
        assert_string_equal(next, ids[9]);
        entry_list_done(&l);
        assert_int_equal(ds_entry_delete(f->ds, ids[9], NULL), 0);
        assert_int_equal(ds_entry_delete(f->ds, ids[10], NULL), 0);
        {
                _cleanup_(freep) char *token = TAKE_PTR(next);

                assert_int_equal(ds_entry_list(f->ds, NULL, token, 2, &l, &next), 0);
        }
        assert_int_equal(l.n_entries, 2);
        assert_string_equal(l.entries[0]->id, ids[11]);
        assert_string_equal(l.entries[1]->id, ids[12]);
        entry_list_done(&l);
        free(next);

        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
}

static void expect_events(Datastore *ds, int64_t after, size_t max, const EntryEventKind *kinds,
                          const char *const *ids, size_t n) {
        _cleanup_(freep) EntryEvent *ev = NULL;
        size_t n_ev = 99;

        assert_int_equal(ds_entry_events_since(ds, after, max, &ev, &n_ev), 0);
        assert_int_equal(n_ev, n);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(ev[i].event_id, after + 1 + (int64_t) i);
                assert_int_equal(ev[i].kind, kinds[i]);
                assert_string_equal(ev[i].entry_id, ids[i]);
        }
}

static void test_entry_events(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *a = make_entry("/a", "/agent/1", "unix:uid:1");
        _cleanup_(entry_freep) Entry *b = make_entry("/b", "/agent/1", "unix:uid:2");
        EntryEvent *ev = NULL;
        int64_t last = -1;
        size_t n_ev = 0;

        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        assert_int_equal(last, 0);
        expect_events(f->ds, 0, 100, NULL, NULL, 0);

        assert_int_equal(ds_entry_create(f->ds, a), 0);
        assert_int_equal(ds_entry_create(f->ds, b), 0);
        assert_int_equal(ds_entry_create(f->ds, b), DS_E_EXISTS);       /* no event */
        a->x509_svid_ttl = 5;
        assert_int_equal(ds_entry_update(f->ds, a, NULL), 0);
        assert_int_equal(ds_entry_delete(f->ds, b->id, NULL), 0);
        assert_int_equal(ds_entry_delete(f->ds, b->id, NULL), DS_E_NOT_FOUND); /* no event */

        {
                const EntryEventKind k[] = { ENTRY_EVENT_CREATE, ENTRY_EVENT_CREATE,
                                             ENTRY_EVENT_UPDATE, ENTRY_EVENT_DELETE };
                const char *const ids[] = { a->id, b->id, a->id, b->id };

                expect_events(f->ds, 0, 100, k, ids, 4);
                expect_events(f->ds, 1, 100, k + 1, ids + 1, 3);
                expect_events(f->ds, 1, 2, k + 1, ids + 1, 2);
                expect_events(f->ds, 4, 100, NULL, NULL, 0);
                expect_events(f->ds, 0, 0, NULL, NULL, 0);
        }
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        assert_int_equal(last, 4);
        /* A reader ahead of us saw another database: resync. */
        assert_int_equal(ds_entry_events_since(f->ds, 5, 10, &ev, &n_ev), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_events_since(f->ds, -1, 10, &ev, &n_ev), -EINVAL);

}

static void test_entry_events_pruned(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *a = make_entry("/a", "/agent/1", "unix:uid:1");
        _cleanup_(entry_freep) Entry *b = make_entry("/b", "/agent/1", "unix:uid:2");
        EntryEvent *ev = NULL;
        int64_t last = 0;
        size_t n_ev = 0;

        assert_int_equal(ds_entry_create(f->ds, a), 0);
        assert_int_equal(ds_entry_create(f->ds, b), 0);

        /* Nothing is older than an hour ago: nothing pruned. */
        assert_int_equal(ds_entry_events_prune(f->ds, (int64_t) sigil_now_sec() - 3600), 0);
        {
                const EntryEventKind k[] = { ENTRY_EVENT_CREATE, ENTRY_EVENT_CREATE };
                const char *const ids[] = { a->id, b->id };

                expect_events(f->ds, 0, 100, k, ids, 2);
        }

        /* Everything is older than a minute from now. */
        assert_int_equal(ds_entry_events_prune(f->ds, (int64_t) sigil_now_sec() + 60), 0);
        assert_int_equal(ds_entry_events_since(f->ds, 0, 10, &ev, &n_ev), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_events_since(f->ds, 1, 10, &ev, &n_ev), DS_E_NOT_FOUND);
        expect_events(f->ds, 2, 10, NULL, NULL, 0);    /* a reader that saw everything is fine */
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        assert_int_equal(last, 2);

        /* IDs are never reused, also across a reopen. */
        reopen(f);
        assert_int_equal(ds_entry_delete(f->ds, a->id, NULL), 0);
        {
                const EntryEventKind k[] = { ENTRY_EVENT_DELETE };
                const char *const ids[] = { a->id };

                expect_events(f->ds, 2, 10, k, ids, 1);
        }
        assert_int_equal(ds_entry_events_since(f->ds, 1, 10, &ev, &n_ev), DS_E_NOT_FOUND);
}

static void test_entry_prune_expired(void **state) {
        Fixture *f = *state;
        static const int64_t expiry[] = { 0, 100, 200, 300 };
        char ids[4][ENTRY_ID_LEN + 1];
        Entry *got = NULL;
        int64_t last = 0;
        size_t n = 99;

        for (size_t i = 0; i < ELEMENTSOF(expiry); i++) {
                char path[32];
                _cleanup_(entry_freep) Entry *e = NULL;

                (void) snprintf(path, sizeof(path), "/e/%zu", i);
                e = make_entry(path, "/agent/1", "unix:uid:1");
                e->expires_at = expiry[i];
                assert_int_equal(ds_entry_create(f->ds, e), 0);
                memcpy(ids[i], e->id, sizeof(ids[i]));
        }
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);

        assert_int_equal(ds_entry_prune_expired(f->ds, 100, &n), 0);
        assert_int_equal(n, 0);                 /* expires_at < now, strictly */
        assert_int_equal(ds_entry_prune_expired(f->ds, 200, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(ds_entry_get(f->ds, ids[1], &got), DS_E_NOT_FOUND);
        assert_int_equal(ds_entry_prune_expired(f->ds, 1000, NULL), 0);
        assert_int_equal(count_entries(f->ds), 1);
        assert_int_equal(ds_entry_get(f->ds, ids[0], &got), 0);   /* 0 = never */
        entry_free(got);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entry_selectors"), 1);

        /* Each pruned entry got a delete event. */
        {
                _cleanup_(freep) EntryEvent *ev = NULL;
                size_t n_ev = 0;

                assert_int_equal(ds_entry_events_since(f->ds, last, 10, &ev, &n_ev), 0);
                assert_int_equal(n_ev, 3);
                assert_string_equal(ev[0].entry_id, ids[1]);
                for (size_t i = 0; i < 3; i++)
                        assert_int_equal(ev[i].kind, ENTRY_EVENT_DELETE);
                assert_true((streq(ev[1].entry_id, ids[2]) && streq(ev[2].entry_id, ids[3])) ||
                            (streq(ev[1].entry_id, ids[3]) && streq(ev[2].entry_id, ids[2])));
        }
}

/* ---- corrupt rows ---- */

static void test_corrupt_rows(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *good = make_entry("/good", "/agent/1", "unix:uid:1");
        Entry *got = NULL;
        EntryList l = {};
        char *next = NULL;
        EntryEvent *ev = NULL;
        size_t n_ev = 0;
        AttestedNode *node = NULL;
        NodeList nl = {};

        assert_int_equal(ds_entry_create(f->ds, good), 0);
        /* An entry row with a SPIFFE ID that does not parse. */
        raw_sql(f->path,
                "INSERT INTO entries (pk, id, spiffe_id, parent_id, selector_key, n_selectors, "
                "x509_svid_ttl, jwt_svid_ttl, admin, downstream, expires_at, hint, "
                "revision_number, created_at) VALUES (100, '11111111-1111-4111-8111-111111111111', "
                "'spiffe://example.org/../x', 'spiffe://example.org/agent/1', 'unix:uid:2', 1, "
                "0, 0, 0, 0, 0, '', 0, 0);"
                "INSERT INTO entry_selectors VALUES (100, 'unix:uid:2');");
        assert_int_equal(ds_entry_get(f->ds, "11111111-1111-4111-8111-111111111111", &got),
                         -EBADMSG);
        assert_int_equal(ds_entry_list(f->ds, NULL, NULL, 0, &l, &next), -EBADMSG);
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), 0);   /* others still readable */
        entry_free(got);
        raw_sql(f->path, "DELETE FROM entries WHERE pk = 100");
        assert_int_equal(ds_entry_list(f->ds, NULL, NULL, 0, &l, &next), 0);
        assert_int_equal(l.n_entries, 1);
        entry_list_done(&l);

        /* A selector row that does not parse. */
        raw_sql(f->path, "UPDATE entry_selectors SET selector = 'Bad Type:x'");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), -EBADMSG);
        /* A selector row missing. */
        raw_sql(f->path, "DELETE FROM entry_selectors");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), -EBADMSG);
        raw_sql(f->path, "INSERT INTO entry_selectors SELECT pk, 'unix:uid:1' FROM entries");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), 0);
        entry_free(got);
        /* A bad DNS name, a bad trust domain, a bad TTL, a bad entry ID. */
        raw_sql(f->path, "INSERT INTO entry_dns_names SELECT pk, 0, 'a..b' FROM entries");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), -EBADMSG);
        raw_sql(f->path, "DELETE FROM entry_dns_names;"
                         "INSERT INTO entry_federates_with SELECT pk, 0, 'Bad TD' FROM entries");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), -EBADMSG);
        raw_sql(f->path, "DELETE FROM entry_federates_with; UPDATE entries SET x509_svid_ttl = -4");
        assert_int_equal(ds_entry_get(f->ds, good->id, &got), -EBADMSG);
        raw_sql(f->path, "UPDATE entries SET x509_svid_ttl = 0, parent_id = 'x\x01y'");
        assert_int_equal(ds_entry_list(f->ds, NULL, NULL, 0, &l, &next), -EBADMSG);
        raw_sql(f->path, "UPDATE entries SET parent_id = 'spiffe://example.org/p', id = 'ZZ'");
        assert_int_equal(ds_entry_list(f->ds, NULL, NULL, 0, &l, &next), -EBADMSG);

        /* A bad event row. */
        raw_sql(f->path, "INSERT INTO entry_events (kind, entry_id, created_at) VALUES (0, 'x', 0)");
        assert_int_equal(ds_entry_events_since(f->ds, 0, 100, &ev, &n_ev), -EBADMSG);

        /* A bad node row. */
        raw_sql(f->path, "INSERT INTO attested_nodes (spiffe_id, attestation_type, expires_at, "
                         "new_expires_at, banned, created_at, last_seen_at) "
                         "VALUES ('spiffe://EXAMPLE.org/agent', 'join_token', 0, 0, 0, 0, 0)");
        assert_int_equal(ds_node_get(f->ds, "spiffe://EXAMPLE.org/agent", &node), -EBADMSG);
        assert_int_equal(ds_node_list(f->ds, -1, NULL, 0, &nl, &next), -EBADMSG);
}

/* ---- join tokens ---- */

static bool file_contains(const char *path, const void *needle, size_t n) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *fp = fopen(path, "re");
        long len;
        bool found;

        if (!fp)
                return false;
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        len = ftell(fp);
        assert_true(len >= 0);
        rewind(fp);
        buf = malloc((size_t) len + 1);
        assert_non_null(buf);
        size = fread(buf, 1, (size_t) len, fp);
        fclose(fp);
        found = size >= n && memmem(buf, size, needle, n) != NULL;
        return found;
}

static bool db_files_contain(const char *path, const char *needle) {
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char p[600];

                (void) snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
                if (file_contains(p, needle, strlen(needle)))
                        return true;
        }
        return false;
}

static void test_tokens(void **state) {
        Fixture *f = *state;
        const char *secret = "Sg7-join-token-4f1c2b9e8d7a6f5e4d3c2b1a";
        /* Its SHA-256, computed independently (sha256sum). */
        const char *hash = "3325f5f6526dd45473267558e05839193f18a66fde6e688e1c45e41eaed6a0e2";
        int64_t now = 1700000000, n = -1;
        size_t pruned = 99;

        assert_int_equal(ds_token_create(f->ds, secret, now + 600), 0);
        assert_int_equal(ds_token_create(f->ds, secret, now + 900), DS_E_EXISTS);
        assert_int_equal(ds_token_create(f->ds, "", now + 600), -EINVAL);
        assert_int_equal(ds_token_count(f->ds, &n), 0);
        assert_int_equal(n, 1);

        /* The token is nowhere in the files, before and after a checkpoint; its hash is. */
        assert_false(db_files_contain(f->path, secret));
        assert_false(db_files_contain(f->path, "Sg7-join-token"));
        reopen(f);
        assert_false(db_files_contain(f->path, secret));
        /* The search does find what is there: the hash. */
        assert_true(db_files_contain(f->path, hash));
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM join_tokens"), 1);
        assert_int_equal(ds_token_consume(f->ds, "Sg7-join-token-4f1c2b9e8d7a6f5e4d3c2b1", now),
                         DS_E_NOT_FOUND);
        assert_int_equal(ds_token_consume(f->ds, secret, now + 600), 0);   /* valid up to expiry */
        assert_int_equal(ds_token_consume(f->ds, secret, now), DS_E_NOT_FOUND);
        assert_int_equal(ds_token_count(f->ds, &n), 0);
        assert_int_equal(n, 0);

        /* Expired: refused, and gone. */
        assert_int_equal(ds_token_create(f->ds, "old-token", now - 1), 0);
        assert_int_equal(ds_token_consume(f->ds, "old-token", now), DS_E_EXPIRED);
        assert_int_equal(ds_token_consume(f->ds, "old-token", now - 10), DS_E_NOT_FOUND);

        /* Pruning removes only expired tokens. */
        assert_int_equal(ds_token_create(f->ds, "t-expired", now - 5), 0);
        assert_int_equal(ds_token_create(f->ds, "t-valid", now + 5), 0);
        assert_int_equal(ds_token_prune(f->ds, now, &pruned), 0);
        assert_int_equal(pruned, 1);
        assert_int_equal(ds_token_consume(f->ds, "t-valid", now), 0);
        assert_int_equal(ds_token_consume(f->ds, "", now), DS_E_NOT_FOUND);
}

typedef struct ConsumeRace {
        Datastore *shared;              /* one handle for all threads, or NULL: one each */
        const char *path;
        const char *token;
        pthread_barrier_t *barrier;
        int result;
} ConsumeRace;

static void *consume_thread(void *p) {
        ConsumeRace *c = p;
        Datastore *ds = c->shared;

        if (!ds && datastore_open(c->path, &ds, NULL) < 0) {
                c->result = -EIO;
                (void) pthread_barrier_wait(c->barrier);
                return NULL;
        }
        (void) pthread_barrier_wait(c->barrier);
        c->result = ds_token_consume(ds, c->token, 1000);
        if (!c->shared)
                datastore_close(ds);
        return NULL;
}

static void race(Fixture *f, bool shared, const char *token) {
        enum { N = 8 };
        ConsumeRace c[N];
        pthread_t t[N];
        pthread_barrier_t barrier;
        int ok = 0, not_found = 0;

        assert_int_equal(ds_token_create(f->ds, token, 2000), 0);
        assert_int_equal(pthread_barrier_init(&barrier, NULL, N), 0);
        for (int i = 0; i < N; i++) {
                c[i] = (ConsumeRace) { .shared = shared ? f->ds : NULL, .path = f->path,
                                       .token = token, .barrier = &barrier };
                assert_int_equal(pthread_create(&t[i], NULL, consume_thread, &c[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                ok += c[i].result == 0;
                not_found += c[i].result == DS_E_NOT_FOUND;
        }
        pthread_barrier_destroy(&barrier);
        assert_int_equal(ok, 1);
        assert_int_equal(not_found, N - 1);
}

static void test_token_concurrent(void **state) {
        Fixture *f = *state;

        for (int i = 0; i < 10; i++) {
                char token[64];

                (void) snprintf(token, sizeof(token), "shared-race-%d", i);
                race(f, true, token);
                (void) snprintf(token, sizeof(token), "separate-race-%d", i);
                race(f, false, token);
        }
}

/* ---- concurrency in general ---- */

typedef struct CreateWorker {
        Datastore *ds;
        int base;
        int n;
        int failures;
} CreateWorker;

static void *create_thread(void *p) {
        CreateWorker *w = p;

        for (int i = 0; i < w->n; i++) {
                char path[64];
                Entry *e;

                (void) snprintf(path, sizeof(path), "/t/%d", w->base + i);
                e = make_entry(path, "/agent/1", "unix:uid:1");
                w->failures += ds_entry_create(w->ds, e) != 0;
                entry_free(e);
        }
        return NULL;
}

static void test_concurrent_creates(void **state) {
        Fixture *f = *state;
        CreateWorker w[4];
        pthread_t t[4];

        for (int i = 0; i < 4; i++) {
                w[i] = (CreateWorker) { .ds = f->ds, .base = i * 1000, .n = 200 };
                assert_int_equal(pthread_create(&t[i], NULL, create_thread, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(w[i].failures, 0);
        }
        assert_int_equal(count_entries(f->ds), 800);
}

/* ---- nodes ---- */

static void node_init(AttestedNode *n, const char *name, bool banned) {
        char id[128];

        (void) snprintf(id, sizeof(id), "spiffe://" TD "/agent/%s", name);
        *n = (AttestedNode) {
                .spiffe_id = strdup(id),
                .attestation_type = strdup("join_token"),
                .serial = strdup("0a1b"),
                .expires_at = 1700003600,
                .banned = banned,
                .created_at = 1700000000,
                .last_seen_at = 1700000001,
        };
        assert_non_null(n->spiffe_id);
        set_selectors(&n->selectors, "join_token:abc host:name:x");
}

static void node_done(AttestedNode *n) {
        free(n->spiffe_id);
        free(n->attestation_type);
        free(n->serial);
        free(n->new_serial);
        sigil_selector_set_done(&n->selectors);
}

static size_t list_nodes(Datastore *ds, int banned, size_t page_size) {
        _cleanup_(freep) char *token = NULL;
        char prev[256] = "";
        size_t total = 0;

        do {
                NodeList l = {};
                char *next = NULL;

                assert_int_equal(ds_node_list(ds, banned, token, page_size, &l, &next), 0);
                for (size_t i = 0; i < l.n_nodes; i++) {
                        assert_true(strcmp(prev, l.nodes[i]->spiffe_id) < 0);
                        (void) snprintf(prev, sizeof(prev), "%s", l.nodes[i]->spiffe_id);
                        if (banned >= 0)
                                assert_int_equal(l.nodes[i]->banned, banned);
                        assert_int_equal(l.nodes[i]->selectors.n_items, 2);
                }
                total += l.n_nodes;
                node_list_done(&l);
                free(token);
                token = next;
        } while (token);
        return total;
}

static void test_nodes(void **state) {
        Fixture *f = *state;
        AttestedNode n;
        _cleanup_(attested_node_freep) AttestedNode *got = NULL;
        NodeList l = {};
        char *next = NULL;
        int64_t count = -1;

        node_init(&n, "a", false);
        assert_int_equal(ds_node_create(f->ds, &n), 0);
        assert_int_equal(ds_node_create(f->ds, &n), DS_E_EXISTS);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &got), 0);
        assert_string_equal(got->spiffe_id, n.spiffe_id);
        assert_string_equal(got->attestation_type, "join_token");
        assert_string_equal(got->serial, "0a1b");
        assert_null(got->new_serial);
        assert_int_equal(got->expires_at, 1700003600);
        assert_false(got->banned);
        assert_int_equal(got->created_at, 1700000000);
        assert_int_equal(got->last_seen_at, 1700000001);
        assert_true(sigil_selector_set_equal(&got->selectors, &n.selectors));
        got = attested_node_free(got);

        /* Update (a renewal, then a ban); created_at is kept. */
        set_str(&n.new_serial, "ffee");
        n.new_expires_at = 1700007200;
        n.created_at = 1;
        n.last_seen_at = 1700000500;
        set_selectors(&n.selectors, "join_token:abc");
        assert_int_equal(ds_node_update(f->ds, &n), 0);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &got), 0);
        assert_string_equal(got->new_serial, "ffee");
        assert_int_equal(got->new_expires_at, 1700007200);
        assert_int_equal(got->created_at, 1700000000);
        assert_int_equal(got->last_seen_at, 1700000500);
        assert_int_equal(got->selectors.n_items, 1);
        got = attested_node_free(got);
        n.banned = true;
        set_str(&n.serial, NULL);
        assert_int_equal(ds_node_update(f->ds, &n), 0);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &got), 0);
        assert_true(got->banned);
        assert_null(got->serial);
        got = attested_node_free(got);
        /* A writer that read the node before the ban (a renewal) does not lift it. */
        n.banned = false;
        set_str(&n.serial, "0c0d");
        assert_int_equal(ds_node_update(f->ds, &n), 0);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &got), 0);
        assert_true(got->banned);
        assert_string_equal(got->serial, "0c0d");
        got = attested_node_free(got);
        assert_int_equal(ds_node_delete(f->ds, n.spiffe_id), 0);
        assert_int_equal(ds_node_delete(f->ds, n.spiffe_id), DS_E_NOT_FOUND);
        assert_int_equal(ds_node_update(f->ds, &n), DS_E_NOT_FOUND);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &got), DS_E_NOT_FOUND);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM node_selectors"), 0);
        set_str(&n.spiffe_id, "not a spiffe id");
        assert_int_equal(ds_node_create(f->ds, &n), -EINVAL);
        node_done(&n);

        /* Listing with the banned filter, paged. */
        for (int i = 0; i < 7; i++) {
                char name[8];

                (void) snprintf(name, sizeof(name), "n%d", i);
                node_init(&n, name, i % 3 == 0);        /* n0, n3, n6 banned */
                assert_int_equal(ds_node_create(f->ds, &n), 0);
                node_done(&n);
        }
        assert_int_equal(ds_node_count(f->ds, &count), 0);
        assert_int_equal(count, 7);
        for (size_t ps = 0; ps <= 3; ps++) {
                assert_int_equal(list_nodes(f->ds, -1, ps), 7);
                assert_int_equal(list_nodes(f->ds, 1, ps), 3);
                assert_int_equal(list_nodes(f->ds, 0, ps), 4);
        }
        assert_int_equal(ds_node_list(f->ds, -1, "bogus", 2, &l, &next), -EINVAL);
        assert_int_equal(ds_node_list(f->ds, 2, NULL, 2, &l, &next), -EINVAL);
        assert_int_equal(ds_node_list(f->ds, -1, NULL, DS_PAGE_SIZE_MAX + 1, &l, &next), -EINVAL);
}

/* ---- bundles and kv ---- */

/* Pages of @page_size from the start; every name, in order, joined by ' '. */
static void bundle_pages(Datastore *ds, size_t page_size, char *buf, size_t n_buf,
                         size_t *ret_pages) {
        _cleanup_(freep) char *token = NULL;
        size_t pages = 0;

        buf[0] = '\0';
        do {
                _cleanup_(strv_freep) char **tds = NULL;
                char *next = NULL;

                assert_int_equal(ds_bundle_list(ds, TD, token, page_size, &tds, &next), 0);
                assert_true(strv_length(tds) <= page_size);
                assert_true(next == NULL || strv_length(tds) == page_size);
                for (size_t i = 0; tds[i]; i++) {
                        (void) strncat(buf, tds[i], n_buf - strlen(buf) - 1);
                        (void) strncat(buf, " ", n_buf - strlen(buf) - 1);
                }
                free(token);
                token = next;
                pages++;
        } while (token);
        *ret_pages = pages;
}

/* Keyset paging by name, the own trust domain left out, as ListFederatedBundles uses it. */
static void test_bundle_list_pages(void **state) {
        static const char *const names[] = { "e.org", "a.org", TD, "c.org", "b.org", "d.org" };
        _cleanup_(strv_freep) char **tds = NULL;
        Fixture *f = *state;
        char *next = NULL;
        char all[256];
        size_t pages;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert_int_equal(ds_bundle_put(f->ds, names[i], "{\"keys\":[]}"), 0);
        bundle_pages(f->ds, 2, all, sizeof(all), &pages);
        assert_string_equal(all, "a.org b.org c.org d.org e.org ");
        assert_int_equal(pages, 3);
        bundle_pages(f->ds, 5, all, sizeof(all), &pages);
        assert_string_equal(all, "a.org b.org c.org d.org e.org ");
        assert_int_equal(pages, 1);             /* exactly one page: no empty second page */
        bundle_pages(f->ds, 1, all, sizeof(all), &pages);
        assert_int_equal(pages, 5);
        /* A token is a name: paging goes on after it even if it was deleted meanwhile. */
        assert_int_equal(ds_bundle_list(f->ds, NULL, "b.org", 2, &tds, &next), 0);
        assert_int_equal(strv_length(tds), 2);
        assert_string_equal(tds[0], "c.org");
        assert_string_equal(tds[1], "d.org");
        assert_string_equal(next, "d.org");
        free(next);
        assert_int_equal(ds_bundle_list(f->ds, NULL, "not a name", 2, &tds, &next),
                         -EINVAL);
        assert_int_equal(ds_bundle_list(f->ds, NULL, NULL, DS_PAGE_SIZE_MAX + 1, &tds, &next),
                         -EINVAL);
}

static void test_bundles_kv(void **state) {
        Fixture *f = *state;
        _cleanup_(freep) char *json = NULL, *value = NULL, *next = NULL;
        _cleanup_(strv_freep) char **tds = NULL;

        assert_int_equal(ds_bundle_get(f->ds, TD, &json), DS_E_NOT_FOUND);
        assert_int_equal(ds_bundle_put(f->ds, TD, "{\"keys\":[]}"), 0);
        assert_int_equal(ds_bundle_put(f->ds, "b.org", "{\"keys\":[1]}"), 0);
        assert_int_equal(ds_bundle_put(f->ds, "a.org", "{\"keys\":[2]}"), 0);
        assert_int_equal(ds_bundle_put(f->ds, TD, "{\"keys\":[3]}"), 0);        /* replaces */
        assert_int_equal(ds_bundle_get(f->ds, TD, &json), 0);
        assert_string_equal(json, "{\"keys\":[3]}");
        assert_int_equal(ds_bundle_put(f->ds, "c.org", "{not json"), -EINVAL);
        assert_int_equal(ds_bundle_put(f->ds, "Bad.Org", "{}"), -EINVAL);
        assert_int_equal(ds_bundle_put(f->ds, "spiffe://x.org", "{}"), -EINVAL);
        assert_int_equal(ds_bundle_list(f->ds, NULL, NULL, 0, &tds, &next), 0);
        assert_null(next);
        assert_int_equal(strv_length(tds), 3);
        assert_string_equal(tds[0], "a.org");
        assert_string_equal(tds[1], "b.org");
        assert_string_equal(tds[2], TD);
        assert_int_equal(ds_bundle_delete(f->ds, "b.org"), 0);
        assert_int_equal(ds_bundle_delete(f->ds, "b.org"), DS_E_NOT_FOUND);
        free(json);
        json = NULL;
        assert_int_equal(ds_bundle_get(f->ds, "b.org", &json), DS_E_NOT_FOUND);

        assert_int_equal(ds_kv_get(f->ds, "ca.journal", &value), DS_E_NOT_FOUND);
        assert_int_equal(ds_kv_put(f->ds, "ca.journal", "v1"), 0);
        assert_int_equal(ds_kv_put(f->ds, "ca.journal", "v2"), 0);
        assert_int_equal(ds_kv_get(f->ds, "ca.journal", &value), 0);
        assert_string_equal(value, "v2");
        assert_int_equal(ds_kv_put(f->ds, "", "x"), -EINVAL);
        assert_int_equal(ds_kv_put(f->ds, "k", ""), 0);
}

/* ---- persistence ---- */

static void test_persistence(void **state) {
        Fixture *f = *state;
        _cleanup_(entry_freep) Entry *e = make_entry("/p", "/agent/1", "unix:uid:7 unix:gid:8");
        _cleanup_(entry_freep) Entry *got = NULL;
        _cleanup_(freep) char *json = NULL, *value = NULL;
        _cleanup_(attested_node_freep) AttestedNode *node = NULL;
        AttestedNode n;
        int64_t last = 0;

        e->dns_names = strv_split("p.example.org");
        e->federates_with = strv_split("partner.org");
        set_str(&e->hint, "persist");
        assert_int_equal(ds_entry_create(f->ds, e), 0);
        assert_int_equal(ds_token_create(f->ds, "persist-token", 5000), 0);
        node_init(&n, "p", false);
        assert_int_equal(ds_node_create(f->ds, &n), 0);
        assert_int_equal(ds_bundle_put(f->ds, TD, "{\"keys\":[]}"), 0);
        assert_int_equal(ds_kv_put(f->ds, "k", "v"), 0);

        reopen(f);
        assert_int_equal(datastore_schema_version(f->ds), 1);
        assert_int_equal(ds_entry_get(f->ds, e->id, &got), 0);
        assert_entry_equal(got, e);
        assert_int_equal(ds_entry_last_event_id(f->ds, &last), 0);
        assert_int_equal(last, 1);
        assert_int_equal(ds_node_get(f->ds, n.spiffe_id, &node), 0);
        assert_int_equal(ds_bundle_get(f->ds, TD, &json), 0);
        assert_int_equal(ds_kv_get(f->ds, "k", &value), 0);
        assert_string_equal(value, "v");
        assert_int_equal(ds_token_consume(f->ds, "persist-token", 100), 0);
        node_done(&n);
}

/* ---- the measure (SIGIL_DS_BENCH=1) ---- */

static double elapsed(const struct timespec *a) {
        struct timespec b;

        clock_gettime(CLOCK_MONOTONIC, &b);
        return (double) (b.tv_sec - a->tv_sec) + (double) (b.tv_nsec - a->tv_nsec) / 1e9;
}

static Entry *bench_entry(size_t i) {
        char path[64], parent[64], sel[64];

        (void) snprintf(path, sizeof(path), "/workload/%zu", i);
        (void) snprintf(parent, sizeof(parent), "/agent/%zu", i % 100);
        (void) snprintf(sel, sizeof(sel), "unix:uid:%zu k8s:ns:ns%zu", i, i % 50);
        return make_entry(path, parent, sel);
}

static void bench_batched(Fixture *f, size_t n) {
        enum { BATCH = 500 };
        struct timespec t0;
        Entry *batch[BATCH];
        int results[BATCH];

        reopen(f);
        raw_sql(f->path, "DELETE FROM entries; DELETE FROM entry_events");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < n; i += BATCH) {
                size_t k = MIN((size_t) BATCH, n - i);

                for (size_t j = 0; j < k; j++)
                        batch[j] = bench_entry(i + j);
                assert_int_equal(ds_entry_create_batch(f->ds, batch, k, results), 0);
                for (size_t j = 0; j < k; j++) {
                        assert_int_equal(results[j], 0);
                        entry_free(batch[j]);
                }
        }
        printf("# %zu entries: create in batches of %d %.2f s\n", n, BATCH, elapsed(&t0));
        assert_int_equal(count_entries(f->ds), (int64_t) n);
}

static void bench(Fixture *f, size_t n) {
        struct timespec t0;
        _cleanup_(freep) char *token = NULL;
        size_t got = 0, got_parent = 0;
        EntryFilter flt = { .parent_id = "spiffe://" TD "/agent/7" };
        SigilSelectorSet s = {};
        double create_s;

        reopen(f);
        raw_sql(f->path, "DELETE FROM entries; DELETE FROM entry_events");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(entry_freep) Entry *e = bench_entry(i);

                assert_int_equal(ds_entry_create(f->ds, e), 0);
        }
        create_s = elapsed(&t0);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
                EntryList l = {};
                char *next = NULL;

                assert_int_equal(ds_entry_list(f->ds, NULL, token, 500, &l, &next), 0);
                got += l.n_entries;
                entry_list_done(&l);
                free(token);
                token = next;
        } while (token);
        assert_int_equal(got, n);
        printf("# %zu entries: create one by one %.2f s (%.1f us each), list in pages of 500 "
               "%.3f s\n", n, create_s, create_s * 1e6 / (double) n, elapsed(&t0));

        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
                EntryList l = {};
                char *next = NULL;

                assert_int_equal(ds_entry_list(f->ds, &flt, token, 500, &l, &next), 0);
                got_parent += l.n_entries;
                entry_list_done(&l);
                free(token);
                token = next;
        } while (token);
        printf("#   by parent_id: %zu entries in %.4f s\n", got_parent, elapsed(&t0));

        set_selectors(&s, "unix:uid:4242 k8s:ns:ns42");
        flt = (EntryFilter) { .selectors = &s, .match = SELECTOR_MATCH_SUBSET };
        clock_gettime(CLOCK_MONOTONIC, &t0);
        {
                EntryList l = {};
                char *next = NULL;

                assert_int_equal(ds_entry_list(f->ds, &flt, NULL, 500, &l, &next), 0);
                printf("#   selectors subset: %zu entries in %.4f s\n", l.n_entries, elapsed(&t0));
                entry_list_done(&l);
                free(next);
        }
        sigil_selector_set_done(&s);
}

static void test_bench(void **state) {
        Fixture *f = *state;
        const char *b = secure_getenv("SIGIL_DS_BENCH");

        if (isempty(b) || streq(b, "0"))
                skip();
        bench(f, 10000);
        bench(f, 100000);
        bench_batched(f, 10000);
        bench_batched(f, 100000);
}

int main(void) {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_open_schema),
                T(test_newer_schema_refused),
                T(test_foreign_files_refused),
                T(test_entry_crud),
                T(test_entry_create_invalid),
                T(test_entry_duplicates),
                T(test_entry_create_batch),
                T(test_entry_list_filters),
                T(test_entry_paging),
                T(test_entry_events),
                T(test_entry_events_pruned),
                T(test_entry_prune_expired),
                T(test_corrupt_rows),
                T(test_tokens),
                T(test_token_concurrent),
                T(test_concurrent_creates),
                T(test_nodes),
                T(test_bundles_kv),
                T(test_bundle_list_pages),
                T(test_persistence),
                T(test_bench),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
