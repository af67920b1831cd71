/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin CLI's local parts: value parsers (TTLs, booleans, selectors,
 * trust domains), flag parsing and usage errors of the real commands (which
 * fail before connecting), error wording, the admin socket pre-check, an
 * entry in spire's text and JSON layouts, and -data files good and bad.
 */
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli-entry.h"
#include "cli-util.h"

/* ---- capturing what a command prints ---- */

typedef struct Captured {
        int rc;
        char *out, *err;
} Captured;

static char *slurp(FILE *f) {
        long n;
        char *s;

        fflush(f);
        n = ftell(f);
        assert_true(n >= 0);
        s = calloc(1, (size_t) n + 1);
        assert_non_null(s);
        rewind(f);
        assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
        return s;
}

/* Run @fn(argv) with stdout and stderr going to temporary files. */
static Captured run_captured(int (*fn)(int, char **), const char *const *args) {
        FILE *out = tmpfile(), *err = tmpfile();
        int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
        char *argv[64];
        Captured c;
        int argc = 0;

        assert_non_null(out);
        assert_non_null(err);
        for (; args[argc]; argc++)
                argv[argc] = (char *) args[argc];
        argv[argc] = NULL;
        fflush(stdout);
        fflush(stderr);
        assert_true(dup2(fileno(out), STDOUT_FILENO) >= 0);
        assert_true(dup2(fileno(err), STDERR_FILENO) >= 0);
        c.rc = fn(argc, argv);
        fflush(stdout);
        fflush(stderr);
        assert_true(dup2(saved_out, STDOUT_FILENO) >= 0);
        assert_true(dup2(saved_err, STDERR_FILENO) >= 0);
        close(saved_out);
        close(saved_err);
        c.out = slurp(out);
        c.err = slurp(err);
        fclose(out);
        fclose(err);
        return c;
}

static void captured_done(Captured *c) {
        free(c->out);
        free(c->err);
}

/* The first line of @s must be exactly @line, or start with it when @line ends with ' '. */
static void assert_first_line(const char *s, const char *line) {
        size_t n = strcspn(s, "\n"), m = strlen(line);
        bool prefix = m > 0 && line[m - 1] == ' ';

        if ((prefix ? n < m : n != m) || strncmp(s, line, m) != 0)
                fail_msg("first line is '%.*s', expected '%s'", (int) n, s, line);
}

/* ---- values ---- */

static void test_ttl(void **state) {
        static const struct {
                const char *in;
                int r;
                int32_t sec;
        } cases[] = {
                { "0", 0, 0 },
                { "3600", 0, 3600 },
                { "1h", 0, 3600 },
                { "1h30m", 0, 5400 },
                { "90s", 0, 90 },
                { "1500ms", 0, 2 },             /* rounded up, as spire does */
                { "1us", 0, 1 },
                { "2147483647", 0, INT32_MAX },
                { "2147483648", -ERANGE, 0 },
                { "100000d", -ERANGE, 0 },
                { "-1", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "1.5h", -EINVAL, 0 },
                { "ten", -EINVAL, 0 },
                { "10 s", -EINVAL, 0 },
                { "10x", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int32_t v = -7;
                SigilErr e = {};
                int r = cli_parse_ttl(cases[i].in, &v, &e);

                if (r != cases[i].r)
                        fail_msg("'%s': got %d, want %d (%s)", cases[i].in, r, cases[i].r, e.msg);
                if (r == 0)
                        assert_int_equal(v, cases[i].sec);
                else {
                        assert_int_equal(v, -7);        /* untouched on failure */
                        assert_true(e.msg[0] != '\0');
                }
        }
}

static void test_bool(void **state) {
        static const struct {
                const char *in;
                int r;
                bool v;
        } cases[] = {
                { NULL, 0, true }, { "true", 0, true }, { "True", 0, true }, { "TRUE", 0, true },
                { "t", 0, true }, { "1", 0, true }, { "false", 0, false }, { "F", 0, false },
                { "0", 0, false }, { "yes", -EINVAL, false }, { "", -EINVAL, false },
                { "tru", -EINVAL, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool v = !cases[i].v;

                assert_int_equal(cli_parse_bool(cases[i].in, &v), cases[i].r);
                if (cases[i].r == 0)
                        assert_int_equal(v, cases[i].v);
        }
}

static void test_int64(void **state) {
        int64_t v = 0;

        assert_int_equal(cli_parse_int64("1552410266", 0, INT64_MAX, &v), 0);
        assert_int_equal(v, 1552410266);
        assert_int_equal(cli_parse_int64("9223372036854775807", 0, INT64_MAX, &v), 0);
        assert_true(v == INT64_MAX);
        assert_int_equal(cli_parse_int64("9223372036854775808", 0, INT64_MAX, &v), -ERANGE);
        assert_int_equal(cli_parse_int64("-1", 0, INT64_MAX, &v), -ERANGE);
        assert_int_equal(cli_parse_int64("12abc", 0, INT64_MAX, &v), -EINVAL);
        assert_int_equal(cli_parse_int64(" 12", 0, INT64_MAX, &v), -EINVAL);
        assert_int_equal(cli_parse_int64("", 0, INT64_MAX, &v), -EINVAL);
        assert_int_equal(cli_parse_int64("1h", 0, INT64_MAX, &v), -EINVAL);
}

static void test_output_and_match(void **state) {
        assert_int_equal(cli_output_from_string("text"), CLI_OUTPUT_TEXT);
        assert_int_equal(cli_output_from_string("pretty"), CLI_OUTPUT_TEXT);
        assert_int_equal(cli_output_from_string("json"), CLI_OUTPUT_JSON);
        assert_int_equal(cli_output_from_string("JSON"), _CLI_OUTPUT_INVALID);
        assert_int_equal(cli_output_from_string("yaml"), _CLI_OUTPUT_INVALID);

        assert_int_equal(cli_match_from_string("exact"),
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_EXACT);
        assert_int_equal(cli_match_from_string("subset"),
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUBSET);
        assert_int_equal(cli_match_from_string("superset"),
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUPERSET);
        assert_int_equal(cli_match_from_string("any"),
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_ANY);
        assert_int_equal(cli_match_from_string("all"), -EINVAL);
}

static void test_selectors(void **state) {
        AdminSelector *s = NULL;
        SigilErr e = {};

        assert_int_equal(cli_selector_new("unix:uid:1000", NULL, &s, &e), 0);
        assert_string_equal(s->type, "unix");
        assert_string_equal(s->value, "uid:1000");
        protobuf_c_message_free_unpacked(&s->base, NULL);

        assert_int_equal(cli_selector_new("k8s", "ns:prod", &s, &e), 0);
        assert_string_equal(s->type, "k8s");
        assert_string_equal(s->value, "ns:prod");
        protobuf_c_message_free_unpacked(&s->base, NULL);

        s = NULL;
        assert_int_equal(cli_selector_new("unix", NULL, &s, &e), -EINVAL);
        assert_null(s);
        assert_strstr(e.msg, "invalid selector 'unix'");
        assert_int_equal(cli_selector_new("Unix:uid:0", NULL, &s, &e), -EINVAL);
        assert_strstr(e.msg, "selector type");
        assert_int_equal(cli_selector_new("unix", "", &s, &e), -EINVAL);
        assert_strstr(e.msg, "invalid selector 'unix:'");
}

static void test_ids(void **state) {
        char *td = NULL, *server = NULL;
        SigilErr e = {};

        assert_int_equal(cli_check_spiffe_id("-spiffeID", "spiffe://example.org/web", &e), 0);
        assert_int_equal(cli_check_spiffe_id("-spiffeID", "example.org/web", &e), -EINVAL);
        assert_strstr(e.msg, "invalid -spiffeID 'example.org/web': ");
        assert_int_equal(cli_check_spiffe_id("-parentID", "spiffe://EXAMPLE.org/x", &e), -EINVAL);
        assert_strstr(e.msg, "invalid -parentID");

        assert_int_equal(cli_parse_trust_domain("spiffe://example.org", &td, &e), 0);
        assert_string_equal(td, "example.org");
        free(td);
        assert_int_equal(cli_parse_trust_domain("example.org", &td, &e), 0);
        assert_string_equal(td, "example.org");
        free(td);
        td = NULL;
        assert_int_equal(cli_parse_trust_domain("https://example.org", &td, &e), -EINVAL);
        assert_null(td);
        assert_strstr(e.msg, "invalid trust domain 'https://example.org'");

        assert_int_equal(cli_server_id("spiffe://example.org/ns/web", &server, &e), 0);
        assert_string_equal(server, "spiffe://example.org/sigil/server");
        free(server);
}

static void test_rpc_error_wording(void **state) {
        char buf[256], name[16];

        cli_format_rpc_error(NULL, 7, "caller uid 1000 is not an admin", buf, sizeof(buf));
        assert_string_equal(buf, "rpc error: code = PermissionDenied desc = caller uid 1000 is "
                                 "not an admin");
        cli_format_rpc_error("error fetching entries", 13, "internal server error", buf,
                             sizeof(buf));
        assert_string_equal(buf, "error fetching entries: rpc error: code = Internal desc = "
                                 "internal server error");
        /* a server's message never breaks the line */
        cli_format_rpc_error(NULL, 5, "no such\nentry\x1b[31m", buf, sizeof(buf));
        assert_string_equal(buf, "rpc error: code = NotFound desc = no such?entry?[31m");
        assert_string_equal(cli_code_name(16, name), "Unauthenticated");
        assert_string_equal(cli_code_name(0, name), "OK");
        assert_string_equal(cli_code_name(42, name), "Code(42)");
        assert_string_equal(cli_code_name(-1, name), "Code(-1)");
}

static void test_time_format(void **state) {
        char buf[CLI_TIME_MAX];

        assert_string_equal(cli_format_time(1552410266, buf), "2019-03-12 17:04:26 +0000 UTC");
        assert_string_equal(cli_format_time(0, buf), "1970-01-01 00:00:00 +0000 UTC");
}

static void test_json_values(void **state) {
        json_t *j;
        char *s;

        j = cli_json_spiffe_id("spiffe://example.org/ns/web");
        s = json_dumps(j, JSON_COMPACT);
        assert_string_equal(s, "{\"trust_domain\":\"example.org\",\"path\":\"/ns/web\"}");
        free(s);
        json_decref(j);

        j = cli_json_spiffe_id("spiffe://example.org");
        s = json_dumps(j, JSON_COMPACT);
        assert_string_equal(s, "{\"trust_domain\":\"example.org\",\"path\":\"\"}");
        free(s);
        json_decref(j);

        j = cli_json_spiffe_id("");
        assert_true(json_is_null(j));
        json_decref(j);

        j = cli_json_int64(-42);
        assert_string_equal(json_string_value(j), "-42");
        json_decref(j);

        j = cli_json_bytes((const uint8_t *) "\x01\x02\x03\xff", 4);
        assert_string_equal(json_string_value(j), "AQID/w==");
        json_decref(j);

        j = cli_json_string("caf\xc3\xa9 \xff");     /* invalid UTF-8 is replaced, not dropped */
        assert_string_equal(json_string_value(j), "caf?? ?");
        json_decref(j);
}

/* ---- an entry ---- */

static AdminEntry *sample_entry(void) {
        AdminEntry *e = cli_entry_new();
        AdminSelector *s;

        assert_non_null(e);
        e->id = strdup("00000000-0000-0000-0000-000000000003");
        e->spiffe_id = strdup("spiffe://example.org/son");
        e->parent_id = strdup("spiffe://example.org/mother");
        assert_int_equal(cli_selector_new("unix:uid:1000", NULL, &s, NULL), 0);
        assert_int_equal(cli_entry_add_selector(e, s), 0);
        assert_int_equal(cli_selector_new("baz:bat", NULL, &s, NULL), 0);
        assert_int_equal(cli_entry_add_selector(e, s), 0);
        assert_int_equal(cli_strings_push(&e->dns_names, &e->n_dns_names, "son.example.org"), 0);
        assert_int_equal(cli_strings_push(&e->federates_with, &e->n_federates_with,
                                          "domain.test"), 0);
        e->x509_svid_ttl = 3600;
        e->admin = true;
        e->expires_at = 1552410266;
        e->revision_number = 7;
        e->created_at = 1552400000;
        e->hint = strdup("internal");
        return e;
}

static char *print_to_string(const AdminEntry *e) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        assert_non_null(f);
        cli_entry_print(f, e);
        fclose(f);
        return buf;
}

static void test_entry_text(void **state) {
        AdminEntry *e = sample_entry();
        char *text;

        cli_entries_sort(&e, 1);        /* selectors: by type, then value */
        text = print_to_string(e);
        assert_string_equal(text,
                "Entry ID         : 00000000-0000-0000-0000-000000000003\n"
                "SPIFFE ID        : spiffe://example.org/son\n"
                "Parent ID        : spiffe://example.org/mother\n"
                "Revision         : 7\n"
                "X509-SVID TTL    : 3600\n"
                "JWT-SVID TTL     : default\n"
                "Selector         : baz:bat\n"
                "Selector         : unix:uid:1000\n"
                "DNS name         : son.example.org\n"
                "FederatesWith    : domain.test\n"
                "Admin            : true\n"
                "Expiration time  : 2019-03-12 17:04:26 +0000 UTC\n"
                "Hint             : internal\n"
                "\n");
        free(text);

        /* what is not set is not printed; a hostile hint stays on its line */
        free(e->hint);
        e->hint = strdup("a\nEntry ID         : forged");
        e->admin = false;
        e->expires_at = 0;
        text = print_to_string(e);
        assert_not_strstr(text, "Admin");
        assert_not_strstr(text, "Expiration");
        assert_strstr(text, "Hint             : a?Entry ID         : forged\n\n");
        free(text);
        cli_entry_free(e);
}

static void test_entry_json(void **state) {
        AdminEntry *e = sample_entry();
        json_t *j = cli_entry_to_json(e);
        char *s = json_dumps(j, JSON_COMPACT);

        assert_string_equal(s,
                "{\"id\":\"00000000-0000-0000-0000-000000000003\","
                "\"spiffe_id\":{\"trust_domain\":\"example.org\",\"path\":\"/son\"},"
                "\"parent_id\":{\"trust_domain\":\"example.org\",\"path\":\"/mother\"},"
                "\"selectors\":[{\"type\":\"unix\",\"value\":\"uid:1000\"},"
                "{\"type\":\"baz\",\"value\":\"bat\"}],"
                "\"x509_svid_ttl\":3600,\"federates_with\":[\"domain.test\"],"
                "\"admin\":true,\"downstream\":false,\"expires_at\":\"1552410266\","
                "\"dns_names\":[\"son.example.org\"],\"revision_number\":\"7\","
                "\"jwt_svid_ttl\":0,\"hint\":\"internal\",\"created_at\":\"1552400000\"}");
        free(s);
        json_decref(j);
        cli_entry_free(e);
}

static void test_entry_sort(void **state) {
        static const char *const ids[][3] = {
                { "3", "spiffe://td/son", "spiffe://td/mother" },
                { "1", "spiffe://td/daughter", "spiffe://td/father" },
                { "0", "spiffe://td/son", "spiffe://td/father" },
                { "2", "spiffe://td/daughter", "spiffe://td/mother" },
        };
        AdminEntry *l[ELEMENTSOF(ids)];

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                l[i] = cli_entry_new();
                l[i]->id = strdup(ids[i][0]);
                l[i]->spiffe_id = strdup(ids[i][1]);
                l[i]->parent_id = strdup(ids[i][2]);
        }
        cli_entries_sort(l, ELEMENTSOF(l));
        /* daughter/father, daughter/mother, son/father, son/mother */
        for (size_t i = 0; i < ELEMENTSOF(l); i++) {
                static const char *const want[] = { "1", "2", "0", "3" };

                assert_string_equal(l[i]->id, want[i]);
                cli_entry_free(l[i]);
        }
}

/* ---- -data files ---- */

static void test_data_good(void **state) {
        static const char json[] =
                "{\"entries\": ["
                " {\"spiffe_id\": \"spiffe://example.org/Blog\","
                "  \"parent_id\": \"spiffe://example.org/spire/agent/a1\","
                "  \"selectors\": [{\"type\": \"unix\", \"value\": \"uid:111\"}],"
                "  \"x509_svid_ttl\": 200, \"jwt_svid_ttl\": 30,"
                "  \"dns_names\": [\"blog.example.org\"],"
                "  \"federates_with\": [\"spiffe://domain.test\", \"other.test\"],"
                "  \"admin\": true, \"downstream\": false, \"expires_at\": 1999999999,"
                "  \"hint\": \"h\", \"store_svid\": false},"
                " {\"spiffe_id\": \"spiffe://example.org/db\","
                "  \"parent_id\": \"spiffe://example.org/spire/agent/a1\","
                "  \"selectors\": [{\"type\": \"unix\", \"value\": \"uid:5\"},"
                "                {\"type\": \"unix\", \"value\": \"gid:5\"}],"
                "  \"ttl\": 90}"
                "]}";
        CliEntryList l = {};
        SigilErr e = {};
        AdminEntry *a, *b;

        if (cli_entries_from_json(json, strlen(json), false, &l, &e) != 0)
                fail_msg("rejected: %s", e.msg);
        assert_int_equal(l.n, 2);
        a = l.entries[0];
        b = l.entries[1];
        assert_string_equal(a->spiffe_id, "spiffe://example.org/Blog");
        assert_string_equal(a->parent_id, "spiffe://example.org/spire/agent/a1");
        assert_int_equal(a->n_selectors, 1);
        assert_string_equal(a->selectors[0]->type, "unix");
        assert_string_equal(a->selectors[0]->value, "uid:111");
        assert_int_equal(a->x509_svid_ttl, 200);
        assert_int_equal(a->jwt_svid_ttl, 30);
        assert_int_equal(a->n_dns_names, 1);
        assert_string_equal(a->dns_names[0], "blog.example.org");
        assert_int_equal(a->n_federates_with, 2);
        assert_string_equal(a->federates_with[0], "domain.test");      /* normalised */
        assert_string_equal(a->federates_with[1], "other.test");
        assert_true(a->admin);
        assert_false(a->downstream);
        assert_true(a->expires_at == 1999999999);
        assert_string_equal(a->hint, "h");
        assert_string_equal(a->id, "");
        assert_int_equal(b->n_selectors, 2);
        assert_int_equal(b->x509_svid_ttl, 90);                        /* spire's old "ttl" */
        cli_entry_list_done(&l);
        assert_int_equal(l.n, 0);
}

static void test_data_update_needs_id(void **state) {
        static const char with_id[] =
                "{\"entries\": [{\"entry_id\": \"abc\", \"spiffe_id\": \"spiffe://td/w\","
                " \"parent_id\": \"spiffe://td/n\", \"selectors\": [{\"type\": \"a\", "
                "\"value\": \"b\"}]}]}";
        static const char without_id[] =
                "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": "
                "\"spiffe://td/n\", \"selectors\": [{\"type\": \"a\", \"value\": \"b\"}]}]}";
        CliEntryList l = {};
        SigilErr e = {};

        assert_int_equal(cli_entries_from_json(with_id, strlen(with_id), true, &l, &e), 0);
        assert_string_equal(l.entries[0]->id, "abc");
        cli_entry_list_done(&l);
        assert_int_equal(cli_entries_from_json(without_id, strlen(without_id), true, &l, &e),
                         -EINVAL);
        assert_strstr(e.msg, "entries[0]: entry_id is required");
        assert_int_equal(l.n, 0);
        assert_int_equal(cli_entries_from_json(without_id, strlen(without_id), false, &l, &e), 0);
        cli_entry_list_done(&l);
}

#define OK_ENTRY                                                                                \
        "\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": \"spiffe://td/n\", \"selectors\": "  \
        "[{\"type\": \"a\", \"value\": \"b\"}]"

static void test_data_bad(void **state) {
        static const struct {
                const char *json, *msg;
        } cases[] = {
                { "", "invalid JSON at line" },
                { "{\"entries\": [", "invalid JSON at line 1" },
                { "[]", "expected an object with one key" },
                { "{}", "expected an object with one key" },
                { "{\"entries\": {}}", "expected an object with one key" },
                { "{\"entries\": [], \"x\": 1}", "expected an object with one key" },
                { "{\"entries\": []}", "\"entries\" is empty" },
                { "{\"entries\": [1]}", "entries[0]: must be an object" },
                { "{\"entries\": [{" OK_ENTRY ", \"colour\": 1}]}",
                  "entries[0].colour: unknown key" },
                { "{\"entries\": [{" OK_ENTRY "}, {" OK_ENTRY ", \"spiffe_id\": 1}]}",
                  "duplicate object key" },
                { "{\"entries\": [{" OK_ENTRY "}, {\"parent_id\": \"spiffe://td/n\", "
                  "\"selectors\": [{\"type\": \"a\", \"value\": \"b\"}]}]}",
                  "entries[1]: spiffe_id is required" },
                { "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"selectors\": "
                  "[{\"type\": \"a\", \"value\": \"b\"}]}]}", "entries[0]: parent_id is required" },
                { "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": "
                  "\"spiffe://td/n\"}]}", "entries[0]: selectors is required" },
                { "{\"entries\": [{\"spiffe_id\": \"http://td/w\", \"parent_id\": "
                  "\"spiffe://td/n\", \"selectors\": [{\"type\": \"a\", \"value\": \"b\"}]}]}",
                  "invalid entries[0].spiffe_id 'http://td/w'" },
                { "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": "
                  "\"spiffe://td/n\", \"selectors\": []}]}",
                  "entries[0].selectors: must be a non-empty array" },
                { "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": "
                  "\"spiffe://td/n\", \"selectors\": [\"unix:uid:1\"]}]}",
                  "entries[0].selectors: each selector must be" },
                { "{\"entries\": [{\"spiffe_id\": \"spiffe://td/w\", \"parent_id\": "
                  "\"spiffe://td/n\", \"selectors\": [{\"type\": \"Unix\", \"value\": \"b\"}]}]}",
                  "entries[0].selectors: invalid selector 'Unix:b'" },
                { "{\"entries\": [{" OK_ENTRY ", \"x509_svid_ttl\": -1}]}",
                  "entries[0].x509_svid_ttl: is out of range" },
                { "{\"entries\": [{" OK_ENTRY ", \"jwt_svid_ttl\": 2147483648}]}",
                  "entries[0].jwt_svid_ttl: is out of range" },
                { "{\"entries\": [{" OK_ENTRY ", \"x509_svid_ttl\": \"1h\"}]}",
                  "entries[0].x509_svid_ttl: must be an integer" },
                { "{\"entries\": [{" OK_ENTRY ", \"ttl\": 5, \"x509_svid_ttl\": 6}]}",
                  "given twice" },
                { "{\"entries\": [{" OK_ENTRY ", \"admin\": \"yes\"}]}",
                  "entries[0].admin: must be true or false" },
                { "{\"entries\": [{" OK_ENTRY ", \"store_svid\": true}]}",
                  "entries[0].store_svid: is not supported" },
                { "{\"entries\": [{" OK_ENTRY ", \"federates_with\": [\"spiffe://BAD\"]}]}",
                  "entries[0].federates_with: invalid trust domain 'spiffe://BAD'" },
                { "{\"entries\": [{" OK_ENTRY ", \"dns_names\": [\"\"]}]}",
                  "entries[0].dns_names: must be an array of non-empty strings" },
                { "{\"entries\": [{" OK_ENTRY ", \"hint\": \"a\\u0000b\"}]}",
                  "\\u0000 is not allowed" },
                { "{\"entries\": [{" OK_ENTRY ", \"expires_at\": 1.5}]}",
                  "entries[0].expires_at: must be an integer" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CliEntryList l = {};
                SigilErr e = {};
                int r = cli_entries_from_json(cases[i].json, strlen(cases[i].json), false, &l,
                                              &e);

                if (r != -EINVAL)
                        fail_msg("case %zu accepted (%d): %s", i, r, cases[i].json);
                assert_strstr(e.msg, cases[i].msg);
                assert_int_equal(l.n, 0);
        }
}

/* ---- flags and usage errors of the real commands (no server needed) ---- */

static void expect_usage(int (*fn)(int, char **), const char *const *argv, const char *msg) {
        Captured c = run_captured(fn, argv);

        if (c.rc != CLI_EXIT_USAGE)
                fail_msg("%s %s: exit %d, stderr '%s'", argv[0], argv[1], c.rc, c.err);
        assert_first_line(c.err, msg);
        assert_strstr(c.err, "\nUsage: sigil-server ");       /* then the usage */
        assert_string_equal(c.out, "");
        captured_done(&c);
}

static void test_usage_errors(void **state) {
        static const struct {
                const char *argv[12];
                const char *msg;
        } cases[] = {
                { { "entry", "create", "-spiffeID", "spiffe://td/w", "-selector", "a:b" },
                  "Error: -parentID is required (or -node)" },
                { { "entry", "create", "-parentID", "spiffe://td/n", "-selector", "a:b" },
                  "Error: -spiffeID is required" },
                { { "entry", "create", "-spiffeID", "spiffe://td/w", "-parentID", "spiffe://td/n" },
                  "Error: at least one -selector is required" },
                { { "entry", "create", "-spiffeID", "spiffe://td/w", "-node", "-parentID",
                    "spiffe://td/n", "-selector", "a:b" },
                  "Error: -node and -parentID can't be combined" },
                { { "entry", "create", "-spiffeID", "td/w" },
                  "Error: invalid -spiffeID 'td/w': " },
                { { "entry", "create", "-selector", "nocolon" },
                  "Error: invalid selector 'nocolon': " },
                { { "entry", "create", "-x509SVIDTTL", "soon" },
                  "Error: invalid -x509SVIDTTL 'soon': " },
                { { "entry", "create", "-admin=maybe" },
                  "Error: invalid boolean value 'maybe' for -admin" },
                { { "entry", "create", "-entryExpiry", "tomorrow" },
                  "Error: invalid -entryExpiry 'tomorrow': must be unix seconds" },
                { { "entry", "create", "-data", "x.json", "-spiffeID", "spiffe://td/w" },
                  "Error: -data can't be combined with other entry flags" },
                { { "entry", "create", "-colour", "blue" },
                  "Error: flag provided but not defined: -colour" },
                { { "entry", "create", "-spiff", "spiffe://td/w" },   /* no abbreviations */
                  "Error: flag provided but not defined: -spiff" },
                { { "entry", "create", "-entryID", "x" },             /* update's flag only */
                  "Error: flag provided but not defined: -entryID" },
                { { "entry", "create", "-spiffeID" }, "Error: flag needs an argument: -spiffeID" },
                { { "entry", "create", "-help=yes" },
                  "Error: flag does not take a value: -help=yes" },
                { { "entry", "create", "stray" }, "Error: unexpected argument 'stray'" },
                { { "entry", "create", "-output", "yaml" },
                  "Error: invalid -output 'yaml': must be text or json" },
                { { "entry", "update", "-spiffeID", "spiffe://td/w", "-parentID", "spiffe://td/n",
                    "-selector", "a:b" }, "Error: -entryID is required" },
                { { "entry", "show", "-entryID", "x", "-spiffeID", "spiffe://td/w" },
                  "Error: the -entryID flag can't be combined with others" },
                { { "entry", "show", "-matchSelectorsOn", "any" },
                  "Error: -matchSelectorsOn needs at least one -selector" },
                { { "entry", "show", "-selector", "a:b", "-matchSelectorsOn", "most" },
                  "Error: invalid -matchSelectorsOn 'most': must be exact, subset, superset or "
                  "any" },
                { { "entry", "show", "-federatesWith", "a.test", "-federatesWith", "b.test" },
                  "Error: -federatesWith can be given only once" },
                { { "entry", "delete" }, "Error: -entryID is required" },
                { { "entry", "count", "-entryID", "x" },
                  "Error: flag provided but not defined: -entryID" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_usage(cli_entry, cases[i].argv, cases[i].msg);
}

static void test_usage_errors_other(void **state) {
        static const struct {
                int (*fn)(int, char **);
                const char *argv[10];
                const char *msg;
        } cases[] = {
                { cli_agent, { "agent", "show" }, "Error: -spiffeID is required" },
                { cli_agent, { "agent", "evict", "-spiffeID", "nope" },
                  "Error: invalid -spiffeID 'nope': " },
                { cli_agent, { "agent", "ban" }, "Error: -spiffeID is required" },
                { cli_agent, { "agent", "list", "-spiffeID", "spiffe://td/a" },
                  "Error: flag provided but not defined: -spiffeID" },
                { cli_token, { "token", "generate", "-ttl", "-5" }, "Error: invalid -ttl '-5': " },
                { cli_token, { "token", "generate", "-spiffeID", "spiffe://td/a/../b" },
                  "Error: invalid -spiffeID 'spiffe://td/a/../b': " },
                { cli_x509, { "x509", "mint" }, "Error: -spiffeID is required" },
                { cli_x509, { "x509", "mint", "-spiffeID", "spiffe://td/w", "-keyType", "dsa" },
                  "Error: invalid -keyType 'dsa': must be ec-p256, ec-p384, rsa-2048 or rsa-4096" },
                { cli_jwt, { "jwt", "mint", "-spiffeID", "spiffe://td/w" },
                  "Error: at least one -audience is required" },
                { cli_jwt, { "jwt", "mint", "-audience", "a" }, "Error: -spiffeID is required" },
                { cli_healthcheck, { "healthcheck", "-deep" },
                  "Error: flag provided but not defined: -deep" },
                { cli_healthcheck, { "healthcheck", "-shallow=sometimes" },
                  "Error: invalid boolean value 'sometimes' for -shallow" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_usage(cases[i].fn, cases[i].argv, cases[i].msg);
}

static void test_dispatch_and_help(void **state) {
        Captured c;

        c = run_captured(cli_entry, (const char *const[]) { "entry", NULL });
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_first_line(c.err, "Error: missing entry command");
        assert_strstr(c.err, "  create ");
        captured_done(&c);

        c = run_captured(cli_entry, (const char *const[]) { "entry", "list", NULL });
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_first_line(c.err, "Error: unknown command 'entry list'");
        captured_done(&c);

        c = run_captured(cli_agent, (const char *const[]) { "agent", "-h", NULL });
        assert_int_equal(c.rc, CLI_EXIT_OK);
        assert_strstr(c.out, "Usage: sigil-server agent <command>");
        assert_string_equal(c.err, "");
        captured_done(&c);

        /* -h, -help and --help print the usage on stdout and exit 0, after any other flag */
        static const char *const helps[][6] = {
                { "entry", "create", "-h" },
                { "entry", "create", "-help" },
                { "entry", "show", "--help" },
                { "entry", "create", "-spiffeID", "spiffe://td/w", "--h" },
        };
        for (size_t i = 0; i < ELEMENTSOF(helps); i++) {
                c = run_captured(cli_entry, helps[i]);
                assert_int_equal(c.rc, CLI_EXIT_OK);
                assert_strstr(c.out, "Usage: sigil-server entry ");
                assert_strstr(c.out, "-socketPath PATH");
                assert_string_equal(c.err, "");
                captured_done(&c);
        }

        c = run_captured(cli_healthcheck, (const char *const[]) { "healthcheck", "-h", NULL });
        assert_int_equal(c.rc, CLI_EXIT_OK);
        assert_strstr(c.out, "Usage: sigil-server healthcheck [flags]");
        assert_strstr(c.out, "-shallow");
        captured_done(&c);
}

/* Flags work as -flag, --flag, -flag=value; the error then comes from the missing server. */
static void test_flag_spellings_reach_connect(void **state) {
        static const char *const spellings[][12] = {
                { "entry", "create", "-spiffeID", "spiffe://td/w", "-parentID", "spiffe://td/n",
                  "-selector", "a:b", "-socketPath", "/nonexistent/sigil/api.sock" },
                { "entry", "create", "--spiffeID=spiffe://td/w", "--node", "--selector", "a:b",
                  "-admin=false", "--socketPath=/nonexistent/sigil/api.sock" },
                { "entry", "show", "-selector", "a:b", "-matchSelectorsOn", "exact",
                  "-socketPath", "/nonexistent/sigil/api.sock" },
        };

        for (size_t i = 0; i < ELEMENTSOF(spellings); i++) {
                Captured c = run_captured(cli_entry, spellings[i]);

                assert_int_equal(c.rc, CLI_EXIT_FAILURE);
                assert_string_equal(c.err, "Error: connection error: cannot reach sigil-server at "
                                           "'/nonexistent/sigil/api.sock': no such socket (is "
                                           "sigil-server running? -socketPath selects the "
                                           "socket)\n");
                captured_done(&c);
        }
}

/* ---- the admin socket pre-check ---- */

static void test_socket_check(void **state) {
        char *dir = test_mkdtemp(), path[256], reason[256];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timespec t0, t1;
        int fd, lfd;

        snprintf(path, sizeof(path), "%s/missing.sock", dir);
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), -ENOENT);
        assert_strstr(reason, "no such socket");

        snprintf(path, sizeof(path), "%s/file", dir);
        fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), -ENOTSOCK);
        assert_string_equal(reason, "not a socket");

        /* bound but nobody listening: a server that died and left its socket */
        snprintf(path, sizeof(path), "%s/stale.sock", dir);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), -ECONNREFUSED);
        assert_strstr(reason, "connection refused");
        close(fd);

        snprintf(path, sizeof(path), "%s/live.sock", dir);
        strcpy(sa.sun_path, path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 0), 0);
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), 0);

        /* a listener that never accepts: the backlog fills, the check gives up in ~1 s */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 64; i++)
                if (cli_socket_check(path, reason, sizeof(reason)) < 0)
                        break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), -EAGAIN);
        assert_strstr(reason, "timed out");
        assert_true(t1.tv_sec - t0.tv_sec < 5);
        close(lfd);

        memset(path, 'x', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = '\0';
        assert_int_equal(cli_socket_check(path, reason, sizeof(reason)), -ENAMETOOLONG);

        rm_rf(dir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ttl),
                cmocka_unit_test(test_bool),
                cmocka_unit_test(test_int64),
                cmocka_unit_test(test_output_and_match),
                cmocka_unit_test(test_selectors),
                cmocka_unit_test(test_ids),
                cmocka_unit_test(test_rpc_error_wording),
                cmocka_unit_test(test_time_format),
                cmocka_unit_test(test_json_values),
                cmocka_unit_test(test_entry_text),
                cmocka_unit_test(test_entry_json),
                cmocka_unit_test(test_entry_sort),
                cmocka_unit_test(test_data_good),
                cmocka_unit_test(test_data_update_needs_id),
                cmocka_unit_test(test_data_bad),
                cmocka_unit_test(test_usage_errors),
                cmocka_unit_test(test_usage_errors_other),
                cmocka_unit_test(test_dispatch_and_help),
                cmocka_unit_test(test_flag_spellings_reach_connect),
                cmocka_unit_test(test_socket_check),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
