/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven JSON config: loading (syntax errors with file:line:column,
 * duplicate keys), applying a table with a nested section (unknown keys
 * named by full path), and every field parser's accept/reject cases.
 */
#include "test-util.h"

#include <errno.h>
#include <stdbool.h>

#include "fileio.h"
#include "sigil/config.h"
#include "sigil/keys.h"
#include "sigil/log.h"

typedef struct ServerSection {
        char *bind;
        uint16_t port;
        uint64_t ttl;
} ServerSection;

typedef struct TestConfig {
        char *name;
        bool enabled;
        int64_t count;
        char **tags;
        SigilLogLevel level;
        SigilLogFormat format;
        char *trust_domain;
        SigilKeyType key_type;
        ServerSection server;
} TestConfig;

static const SigilConfigItem server_table[] = {
        { "bind", sigil_config_parse_string, offsetof(ServerSection, bind), NULL },
        { "port", sigil_config_parse_port, offsetof(ServerSection, port), NULL },
        { "ttl", sigil_config_parse_duration, offsetof(ServerSection, ttl), NULL },
        { NULL, NULL, 0, NULL },
};

static const SigilConfigItem table[] = {
        { "name", sigil_config_parse_string, offsetof(TestConfig, name), NULL },
        { "enabled", sigil_config_parse_bool, offsetof(TestConfig, enabled), NULL },
        { "count", sigil_config_parse_int, offsetof(TestConfig, count), NULL },
        { "tags", sigil_config_parse_strv, offsetof(TestConfig, tags), NULL },
        { "log_level", sigil_config_parse_log_level, offsetof(TestConfig, level), NULL },
        { "log_format", sigil_config_parse_log_format, offsetof(TestConfig, format), NULL },
        { "trust_domain", sigil_config_parse_trust_domain, offsetof(TestConfig, trust_domain),
          NULL },
        { "key_type", sigil_config_parse_key_type, offsetof(TestConfig, key_type), NULL },
        { "server", NULL, offsetof(TestConfig, server), server_table },
        { NULL, NULL, 0, NULL },
};

static void config_done(TestConfig *c) {
        free(c->name);
        strv_free(c->tags);
        free(c->trust_domain);
        free(c->server.bind);
        memset(c, 0, sizeof(*c));
}

static int setup_dir(void **state) {
        *state = test_mkdtemp();
        return 0;
}

static int teardown_dir(void **state) {
        rm_rf(*state);
        free(*state);
        return 0;
}

/* Write @text to <dir>/@name and return the path in @path. */
static void write_config(void **state, const char *name, const char *text, char *path,
                         size_t n_path) {
        (void) snprintf(path, n_path, "%s/%s", (const char *) *state, name);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* Load @text as a file and apply the table; return the result, message in @e. */
static int load_apply(void **state, const char *text, TestConfig *c, SigilErr *e) {
        char path[4096];
        json_t *root = NULL;
        int r;

        write_config(state, "c.json", text, path, sizeof(path));
        r = sigil_config_load_file(path, &root, e);
        if (r < 0)
                return r;
        r = sigil_config_apply(table, root, "", c, e);
        json_decref(root);
        return r;
}

static void test_sample(void **state) {
        static const char text[] =
                "{\n"
                "  \"name\": \"sigil-test\",\n"
                "  \"enabled\": true,\n"
                "  \"count\": -42,\n"
                "  \"tags\": [\"a\", \"b c\"],\n"
                "  \"log_level\": \"warn\",\n"
                "  \"log_format\": \"json\",\n"
                "  \"trust_domain\": \"example.org\",\n"
                "  \"key_type\": \"ec-p384\",\n"
                "  \"server\": {\n"
                "    \"bind\": \"0.0.0.0\",\n"
                "    \"port\": 8081,\n"
                "    \"ttl\": \"1h30m\"\n"
                "  }\n"
                "}\n";
        TestConfig c = { .name = NULL };
        SigilErr e = { .msg = "" };

        if (load_apply(state, text, &c, &e) != 0)
                fail_msg("%s", e.msg);
        assert_string_equal(c.name, "sigil-test");
        assert_true(c.enabled);
        assert_int_equal(c.count, -42);
        assert_int_equal(strv_length(c.tags), 2);
        assert_string_equal(c.tags[1], "b c");
        assert_int_equal(c.level, SIGIL_LOG_WARNING);
        assert_int_equal(c.format, SIGIL_LOG_FORMAT_JSON);
        assert_string_equal(c.trust_domain, "example.org");
        assert_int_equal(c.key_type, SIGIL_KEY_EC_P384);
        assert_string_equal(c.server.bind, "0.0.0.0");
        assert_int_equal(c.server.port, 8081);
        assert_int_equal(c.server.ttl, UINT64_C(5400) * USEC_PER_SEC);
        config_done(&c);
}

/* Keys absent from the file keep what the target held (the defaults). */
static void test_defaults_kept(void **state) {
        TestConfig c = { .count = 7, .server.port = 443 };
        SigilErr e = { .msg = "" };

        assert_int_equal(load_apply(state, "{\"server\": {}}", &c, &e), 0);
        assert_int_equal(c.count, 7);
        assert_int_equal(c.server.port, 443);
        assert_null(c.name);
        config_done(&c);
}

static void test_unknown_keys(void **state) {
        static const struct {
                const char *text, *msg;
        } cases[] = {
                { "{\"bogus\": 1}", "bogus: unknown key" },
                { "{\"server\": {\"port\": 1, \"foo\": true}}", "server.foo: unknown key" },
                { "{\"Name\": \"x\"}", "Name: unknown key" },
                { "{\"server\": {\"server\": {}}}", "server.server: unknown key" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestConfig c = { .name = NULL };
                SigilErr e = { .msg = "" };

                assert_int_equal(load_apply(state, cases[i].text, &c, &e), -EINVAL);
                assert_string_equal(e.msg, cases[i].msg);
                config_done(&c);
        }
}

/* A key path too long to name in full is refused rather than reported cut short. */
static void test_long_key_path(void **state) {
        char text[1024], key[400];
        TestConfig c = { .name = NULL };
        SigilErr e = { .msg = "" };

        memset(key, 'k', 300);
        key[300] = '\0';
        (void) snprintf(text, sizeof(text), "{\"server\": {\"%s\": 1}}", key);
        assert_int_equal(load_apply(state, text, &c, &e), -EINVAL);
        assert_strstr(e.msg, "key path is too long");
        assert_strstr(e.msg, "server.kkk");
        config_done(&c);
}

static void test_duplicate_keys(void **state) {
        static const char *const texts[] = {
                "{\"name\": \"a\", \"name\": \"b\"}",
                "{\"server\": {\"port\": 1, \"port\": 2}}",
                "{\"server\": {}, \"server\": {}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                TestConfig c = { .name = NULL };
                SigilErr e = { .msg = "" };

                assert_int_equal(load_apply(state, texts[i], &c, &e), -EINVAL);
                assert_strstr(e.msg, "duplicate");
                assert_strstr(e.msg, "c.json:1:");
                config_done(&c);
        }
}

static void test_syntax_error_position(void **state) {
        char path[4096], want[4200];
        json_t *root = (json_t *) 0x1;
        SigilErr e = { .msg = "" };

        /* the stray comma is on line 3; jansson reports the column of the token after it */
        write_config(state, "bad.json", "{\n  \"name\": \"x\",\n  }\n", path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        assert_ptr_equal(root, (json_t *) 0x1);
        (void) snprintf(want, sizeof(want), "%s:3:3: ", path);
        assert_strstr(e.msg, want);

        write_config(state, "trailing.json", "{}\n{}\n", path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        (void) snprintf(want, sizeof(want), "%s:2:", path);
        assert_strstr(e.msg, want);
}

static void test_load_errors(void **state) {
        char path[4096];
        _cleanup_(freep) char *big = NULL;
        json_t *root = NULL;
        SigilErr e = { .msg = "" };

        write_config(state, "array.json", "[1, 2]", path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        assert_strstr(e.msg, "the top level must be a JSON object");

        write_config(state, "empty.json", "", path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        assert_strstr(e.msg, "empty.json:");

        (void) snprintf(path, sizeof(path), "%s/none.json", (const char *) *state);
        assert_int_equal(sigil_config_load_file(path, &root, &e), -ENOENT);
        assert_strstr(e.msg, "none.json: No such file or directory");

        (void) snprintf(path, sizeof(path), "%s/nul.json", (const char *) *state);
        assert_int_equal(write_file_atomic(path, "{\"a\":\0 1}", 9, 0600), 0);
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        assert_strstr(e.msg, "NUL");

        big = malloc(SIGIL_CONFIG_FILE_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', SIGIL_CONFIG_FILE_MAX + 1);
        big[0] = '{';
        big[SIGIL_CONFIG_FILE_MAX] = '}';
        big[SIGIL_CONFIG_FILE_MAX + 1] = '\0';
        write_config(state, "big.json", big, path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), -EINVAL);
        assert_strstr(e.msg, "larger than");
        big[SIGIL_CONFIG_FILE_MAX] = '\0';              /* exactly the limit is fine */
        big[SIGIL_CONFIG_FILE_MAX - 1] = '}';
        write_config(state, "max.json", big, path, sizeof(path));
        assert_int_equal(sigil_config_load_file(path, &root, &e), 0);
        json_decref(root);
}

/* A field parser's error is prefixed with the full key path. */
static void test_error_paths(void **state) {
        static const struct {
                const char *text, *msg;
        } cases[] = {
                { "{\"server\": {\"port\": 0}}", "server.port: port 0 out of range 1..65535" },
                { "{\"server\": {\"ttl\": \"1.5h\"}}", "server.ttl: fractions" },
                { "{\"server\": 5}", "server: expected an object" },
                { "{\"enabled\": \"yes\"}", "enabled: expected true or false" },
                { "{\"tags\": [\"a\", 1]}", "tags: element 1: expected a string" },
                { "{\"trust_domain\": \"Example.org\"}", "trust_domain: trust domain characters" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestConfig c = { .name = NULL };
                SigilErr e = { .msg = "" };

                assert_int_equal(load_apply(state, cases[i].text, &c, &e), -EINVAL);
                assert_strstr(e.msg, cases[i].msg);
                config_done(&c);
        }
}

/* Run @parse on the JSON text @json; return its result. */
static int run_parser(SigilConfigParser parse, const char *json, void *field, SigilErr *e) {
        json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
        int r;

        assert_non_null(v);
        r = parse("k", v, field, e);
        json_decref(v);
        return r;
}

#define ACCEPT(parser, json, field)                                                   \
        do {                                                                          \
                SigilErr _e_ = { .msg = "" };                                         \
                if (run_parser(parser, json, field, &_e_) != 0)                       \
                        fail_msg("%s rejected %s: %s", #parser, json, _e_.msg);       \
        } while (0)

#define REJECT(parser, json, field)                                                   \
        do {                                                                          \
                SigilErr _e_ = { .msg = "" };                                         \
                if (run_parser(parser, json, field, &_e_) != -EINVAL)                 \
                        fail_msg("%s accepted %s", #parser, json);                    \
                assert_true(_e_.msg[0] != '\0');                                      \
        } while (0)

static void test_parse_string_bool_int(void **state) {
        _cleanup_(freep) char *s = NULL;
        bool b = false;
        int64_t i = 0;

        ACCEPT(sigil_config_parse_string, "\"hello\"", &s);
        assert_string_equal(s, "hello");
        ACCEPT(sigil_config_parse_string, "\"\"", &s);  /* replaces and frees the old value */
        assert_string_equal(s, "");
        REJECT(sigil_config_parse_string, "1", &s);
        REJECT(sigil_config_parse_string, "null", &s);
        REJECT(sigil_config_parse_string, "[\"a\"]", &s);
        assert_string_equal(s, "");

        ACCEPT(sigil_config_parse_bool, "true", &b);
        assert_true(b);
        ACCEPT(sigil_config_parse_bool, "false", &b);
        assert_false(b);
        REJECT(sigil_config_parse_bool, "0", &b);
        REJECT(sigil_config_parse_bool, "\"true\"", &b);

        ACCEPT(sigil_config_parse_int, "9223372036854775807", &i);
        assert_int_equal(i, INT64_MAX);
        ACCEPT(sigil_config_parse_int, "-5", &i);
        assert_int_equal(i, -5);
        REJECT(sigil_config_parse_int, "1.0", &i);
        REJECT(sigil_config_parse_int, "\"5\"", &i);
        assert_int_equal(i, -5);
}

/* Strings with an embedded NUL (possible in programmatically built JSON) are refused. */
static void test_parse_nul_strings(void **state) {
        json_t *v = json_stringn("debug\0x", 7);
        _cleanup_(freep) char *s = NULL;
        SigilLogLevel l = SIGIL_LOG_INFO;
        uint64_t d = 0;
        SigilErr e = { .msg = "" };

        assert_non_null(v);
        assert_int_equal(sigil_config_parse_string("k", v, &s, &e), -EINVAL);
        assert_int_equal(sigil_config_parse_log_level("k", v, &l, &e), -EINVAL);
        assert_int_equal(l, SIGIL_LOG_INFO);
        json_decref(v);
        v = json_stringn("1h\0garbage", 10);
        assert_non_null(v);
        assert_int_equal(sigil_config_parse_duration("k", v, &d, &e), -EINVAL);
        assert_int_equal(d, 0);
        json_decref(v);
        assert_null(s);
}

static void test_parse_port(void **state) {
        uint16_t p = 0;

        ACCEPT(sigil_config_parse_port, "1", &p);
        assert_int_equal(p, 1);
        ACCEPT(sigil_config_parse_port, "65535", &p);
        assert_int_equal(p, 65535);
        REJECT(sigil_config_parse_port, "0", &p);
        REJECT(sigil_config_parse_port, "65536", &p);
        REJECT(sigil_config_parse_port, "-1", &p);
        REJECT(sigil_config_parse_port, "\"80\"", &p);
        REJECT(sigil_config_parse_port, "80.0", &p);
        assert_int_equal(p, 65535);
}

static void test_parse_duration(void **state) {
        uint64_t d = 0;

        ACCEPT(sigil_config_parse_duration, "90", &d);
        assert_int_equal(d, 90 * USEC_PER_SEC);
        ACCEPT(sigil_config_parse_duration, "0", &d);
        assert_int_equal(d, 0);
        ACCEPT(sigil_config_parse_duration, "\"1h30m\"", &d);
        assert_int_equal(d, UINT64_C(5400) * USEC_PER_SEC);
        ACCEPT(sigil_config_parse_duration, "\"250ms\"", &d);
        assert_int_equal(d, 250 * USEC_PER_MSEC);
        ACCEPT(sigil_config_parse_duration, "\"300\"", &d);
        assert_int_equal(d, 300 * USEC_PER_SEC);
        REJECT(sigil_config_parse_duration, "-1", &d);
        REJECT(sigil_config_parse_duration, "1.5", &d);
        REJECT(sigil_config_parse_duration, "\"1.5h\"", &d);
        REJECT(sigil_config_parse_duration, "\"soon\"", &d);
        REJECT(sigil_config_parse_duration, "\"\"", &d);
        REJECT(sigil_config_parse_duration, "9223372036854775807", &d);
        REJECT(sigil_config_parse_duration, "\"99999999999999999999s\"", &d);
        REJECT(sigil_config_parse_duration, "true", &d);
        assert_int_equal(d, 300 * USEC_PER_SEC);
}

static void test_parse_strv(void **state) {
        char **l = NULL;

        ACCEPT(sigil_config_parse_strv, "[\"a\", \"b\", \"\"]", &l);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "a");
        assert_string_equal(l[2], "");
        assert_null(l[3]);
        ACCEPT(sigil_config_parse_strv, "[]", &l);
        assert_non_null(l);
        assert_int_equal(strv_length(l), 0);
        REJECT(sigil_config_parse_strv, "\"a\"", &l);
        REJECT(sigil_config_parse_strv, "[\"a\", null]", &l);
        REJECT(sigil_config_parse_strv, "[[\"a\"]]", &l);
        assert_int_equal(strv_length(l), 0);
        strv_free(l);
}

static void test_parse_log_settings(void **state) {
        SigilLogLevel l = SIGIL_LOG_INFO;
        SigilLogFormat f = SIGIL_LOG_FORMAT_TEXT;

        ACCEPT(sigil_config_parse_log_level, "\"debug\"", &l);
        assert_int_equal(l, SIGIL_LOG_DEBUG);
        ACCEPT(sigil_config_parse_log_level, "\"WARN\"", &l);
        assert_int_equal(l, SIGIL_LOG_WARNING);
        REJECT(sigil_config_parse_log_level, "\"verbose\"", &l);
        REJECT(sigil_config_parse_log_level, "3", &l);
        REJECT(sigil_config_parse_log_level, "null", &l);
        assert_int_equal(l, SIGIL_LOG_WARNING);

        ACCEPT(sigil_config_parse_log_format, "\"json\"", &f);
        assert_int_equal(f, SIGIL_LOG_FORMAT_JSON);
        ACCEPT(sigil_config_parse_log_format, "\"text\"", &f);
        assert_int_equal(f, SIGIL_LOG_FORMAT_TEXT);
        REJECT(sigil_config_parse_log_format, "\"yaml\"", &f);
        REJECT(sigil_config_parse_log_format, "1", &f);
}

static void test_parse_trust_domain(void **state) {
        _cleanup_(freep) char *td = NULL;

        ACCEPT(sigil_config_parse_trust_domain, "\"example.org\"", &td);
        assert_string_equal(td, "example.org");
        REJECT(sigil_config_parse_trust_domain, "\"Example.org\"", &td);
        REJECT(sigil_config_parse_trust_domain, "\"spiffe://example.org\"", &td);
        REJECT(sigil_config_parse_trust_domain, "\"example.org:443\"", &td);
        REJECT(sigil_config_parse_trust_domain, "\"\"", &td);
        REJECT(sigil_config_parse_trust_domain, "42", &td);
        assert_string_equal(td, "example.org");
}

static void test_parse_key_type(void **state) {
        SigilKeyType t = SIGIL_KEY_EC_P256;

        ACCEPT(sigil_config_parse_key_type, "\"rsa-2048\"", &t);
        assert_int_equal(t, SIGIL_KEY_RSA_2048);
        ACCEPT(sigil_config_parse_key_type, "\"ec-p256\"", &t);
        assert_int_equal(t, SIGIL_KEY_EC_P256);
        REJECT(sigil_config_parse_key_type, "\"ed25519\"", &t);
        REJECT(sigil_config_parse_key_type, "\"EC-P256 \"", &t);
        REJECT(sigil_config_parse_key_type, "256", &t);
        REJECT(sigil_config_parse_key_type, "null", &t);
        assert_int_equal(t, SIGIL_KEY_EC_P256);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
        const struct CMUnitTest tests[] = {
                T(test_sample),
                T(test_defaults_kept),
                T(test_unknown_keys),
                T(test_long_key_path),
                T(test_duplicate_keys),
                T(test_syntax_error_position),
                T(test_load_errors),
                T(test_error_paths),
                cmocka_unit_test(test_parse_string_bool_int),
                cmocka_unit_test(test_parse_nul_strings),
                cmocka_unit_test(test_parse_port),
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_parse_strv),
                cmocka_unit_test(test_parse_log_settings),
                cmocka_unit_test(test_parse_trust_domain),
                cmocka_unit_test(test_parse_key_type),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
