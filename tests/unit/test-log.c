/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The logger: level filtering, text and JSON lines, the audit channel, files,
 * and the line-safety guarantees (one line per call, valid JSON, no secrets).
 */
#include "test-util.h"

#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

#include "fileio.h"
#include "sigil/log.h"

typedef struct LogTest {
        char *dir;
        char log[4096];
        char audit[4096];
} LogTest;

static int setup(void **state) {
        LogTest *t = calloc(1, sizeof(LogTest));

        assert_non_null(t);
        t->dir = test_mkdtemp();
        (void) snprintf(t->log, sizeof(t->log), "%s/sigil.log", t->dir);
        (void) snprintf(t->audit, sizeof(t->audit), "%s/audit.log", t->dir);
        sigil_log_setup("test-log", SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_TEXT);
        assert_int_equal(sigil_log_open_file(t->log), 0);
        assert_int_equal(sigil_log_open_audit_file(NULL), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        LogTest *t = *state;

        (void) sigil_log_open_file(NULL);
        (void) sigil_log_open_audit_file(NULL);
        rm_rf(t->dir);
        free(t->dir);
        free(t);
        return 0;
}

/* The whole file; the caller frees it. */
static char *slurp(const char *path) {
        char *text = NULL;

        if (read_full_file(path, 1024 * 1024, &text, NULL) == -ENOENT)
                return strdup("");
        assert_non_null(text);
        return text;
}

static size_t count_lines(const char *text) {
        size_t n = 0;

        for (; *text; text++)
                n += *text == '\n';
        return n;
}

/* Parse every line as a JSON object; return them in an array. */
static json_t *parse_lines(const char *text) {
        json_t *arr = json_array();
        const char *p = text;

        assert_non_null(arr);
        while (*p) {
                const char *nl = strchr(p, '\n');
                json_error_t jerr;
                json_t *o;

                assert_non_null(nl);    /* every line is complete */
                o = json_loadb(p, (size_t) (nl - p), JSON_REJECT_DUPLICATES, &jerr);
                if (!o)
                        fail_msg("not JSON (%s): '%.*s'", jerr.text, (int) (nl - p), p);
                assert_true(json_is_object(o));
                assert_int_equal(json_array_append_new(arr, o), 0);
                p = nl + 1;
        }
        return arr;
}

static const char *field(json_t *arr, size_t i, const char *key) {
        return json_string_value(json_object_get(json_array_get(arr, i), key));
}

static void test_level_filtering(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL, *text2 = NULL;

        log_debug("hidden-debug");
        log_info("shown-info");
        log_warning("shown-warning");
        log_error("shown-error");
        text = slurp(t->log);
        assert_not_strstr(text, "hidden-debug");
        assert_strstr(text, "shown-info");
        assert_strstr(text, "test-log[");
        assert_strstr(text, ": info: shown-info");
        assert_strstr(text, ": warning: shown-warning");
        assert_strstr(text, ": error: shown-error");
        assert_int_equal(count_lines(text), 3);

        sigil_log_set_level(SIGIL_LOG_ERROR);
        assert_int_equal(sigil_log_get_level(), SIGIL_LOG_ERROR);
        log_info("hidden-info");
        log_warning("hidden-warning");
        log_error("second-error");
        sigil_log_set_level(SIGIL_LOG_DEBUG);
        log_debug("shown-debug");
        sigil_log_set_level(_SIGIL_LOG_LEVEL_INVALID);  /* ignored */
        assert_int_equal(sigil_log_get_level(), SIGIL_LOG_DEBUG);
        text2 = slurp(t->log);
        assert_not_strstr(text2, "hidden-");
        assert_strstr(text2, "second-error");
        assert_strstr(text2, ": debug: shown-debug");
        assert_int_equal(count_lines(text2), 5);
}

static void test_errno_variants(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;

        errno = 0;
        assert_int_equal(log_error_errno(-ENOENT, "open '%s': %m", "x.pem"), -ENOENT);
        assert_int_equal(errno, 0);     /* preserved */
        assert_int_equal(log_debug_errno(-EIO, "filtered: %m"), -EIO);
        assert_int_equal(log_info("plain"), 0);
        text = slurp(t->log);
        assert_strstr(text, "open 'x.pem': No such file or directory");
        assert_not_strstr(text, "filtered");
}

static void test_file_mode_and_append(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;
        struct stat st;
        char other[4200];
        mode_t old;

        /* a new log file is created 0600 even under umask 0 */
        (void) snprintf(other, sizeof(other), "%s/other.log", t->dir);
        old = umask(0);
        assert_int_equal(sigil_log_open_file(other), 0);
        (void) umask(old);
        assert_int_equal(stat(other, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* reopening appends rather than truncates */
        log_info("first");
        assert_int_equal(sigil_log_open_file(other), 0);
        log_info("second");
        text = slurp(other);
        assert_strstr(text, "first");
        assert_strstr(text, "second");
        assert_int_equal(count_lines(text), 2);

        (void) snprintf(other, sizeof(other), "%s/no/such/dir.log", t->dir);
        assert_int_equal(sigil_log_open_file(other), -ENOENT);
}

static void test_json_lines(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;
        json_t *lines;

        sigil_log_setup(NULL, SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_JSON);
        log_info("hello %s", "world");
        log_warning("quote \" backslash \\ tab\t newline\n end");
        log_error("latin1 \xe9 utf8 \xc3\xa9 ctrl \x01");
        log_debug("filtered");
        text = slurp(t->log);
        assert_int_equal(count_lines(text), 3);
        lines = parse_lines(text);
        assert_int_equal(json_array_size(lines), 3);
        assert_string_equal(field(lines, 0, "msg"), "hello world");
        assert_string_equal(field(lines, 0, "level"), "info");
        assert_string_equal(field(lines, 0, "prog"), "test-log");
        assert_strstr(field(lines, 0, "src"), "test-log.c:");
        assert_int_equal(strlen(field(lines, 0, "time")), strlen("2025-01-01T00:00:00.000Z"));
        assert_string_equal(field(lines, 1, "level"), "warning");
        assert_string_equal(field(lines, 1, "msg"), "quote \" backslash \\ tab? newline? end");
        assert_string_equal(field(lines, 2, "level"), "error");
        assert_string_equal(field(lines, 2, "msg"), "latin1 ? utf8 ?? ctrl ?");
        json_decref(lines);
        sigil_log_setup(NULL, SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_TEXT);
}

/* A message longer than a line is shortened, never split and never lost. */
static void test_long_lines(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *big = malloc(10000), *text = NULL, *json_text = NULL;
        json_t *lines;

        assert_non_null(big);
        memset(big, '"', 9999);         /* escaping doubles the size in JSON */
        big[9999] = '\0';
        log_info("text:%s", big);
        text = slurp(t->log);
        assert_int_equal(count_lines(text), 1);
        assert_true(strlen(text) <= 4096);
        assert_strstr(text, "text:\"\"\"");

        assert_int_equal(sigil_log_open_file(t->audit), 0);     /* a fresh file */
        sigil_log_setup(NULL, SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_JSON);
        log_info("json:%s", big);
        sigil_audit("uid=0", "entry.create", big, "ok", "note=%s", big);
        sigil_log_setup(NULL, SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_TEXT);
        json_text = slurp(t->audit);
        assert_int_equal(count_lines(json_text), 2);
        assert_true(strlen(json_text) <= 2 * 4096);
        lines = parse_lines(json_text);
        assert_strstr(field(lines, 0, "msg"), "json:\"\"\"");
        assert_true(strlen(field(lines, 0, "msg")) > 100);
        assert_string_equal(field(lines, 1, "action"), "entry.create");
        assert_string_equal(field(lines, 1, "result"), "ok");
        json_decref(lines);
}

/* A peer-controlled newline cannot forge a second line. */
static void test_no_line_injection(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;

        log_warning("peer sent '%s'", "x\n2025-01-01T00:00:00.000Z sigil[1]: error: forged");
        sigil_audit("uid=1000", "entry.delete", "id\nforged", "ok\r", "why=%s", "a\nb");
        text = slurp(t->log);
        assert_int_equal(count_lines(text), 2);
        assert_strstr(text, "x?2025");
        assert_strstr(text, "object='id?forged'");
}

static void test_audit_text(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;

        sigil_log_set_level(SIGIL_LOG_ERROR);   /* audit lines ignore the level */
        sigil_audit("uid=0", "entry.create", "spiffe://example.org/web", "ok", "entry_id=%s ttl=%d",
                    "e-1", 3600);
        sigil_audit("spiffe://example.org/agent/x", "svid.mint", NULL, "denied", NULL);
        sigil_audit(NULL, NULL, NULL, NULL, NULL);
        text = slurp(t->log);
        assert_int_equal(count_lines(text), 3);
        assert_strstr(text, "test-log[");
        assert_strstr(text, "audit: caller=uid=0 action=entry.create "
                            "object='spiffe://example.org/web' result=ok entry_id=e-1 ttl=3600\n");
        assert_strstr(text, "audit: caller=spiffe://example.org/agent/x action=svid.mint "
                            "object='' result=denied\n");
        assert_strstr(text, "audit: caller=- action=- object='' result=-\n");
        sigil_log_set_level(SIGIL_LOG_INFO);
}

static void test_audit_json_and_own_file(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *audit = NULL, *log = NULL;
        json_t *lines, *o;
        struct stat st;

        assert_int_equal(sigil_log_open_audit_file(t->audit), 0);
        assert_int_equal(stat(t->audit, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
        sigil_log_setup(NULL, SIGIL_LOG_ERROR, SIGIL_LOG_FORMAT_JSON);
        sigil_audit("uid=0", "ca.rotate", "x509", "ok", "serial=%d", 7);
        log_error("main-log-line");
        sigil_log_setup(NULL, SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_TEXT);

        audit = slurp(t->audit);
        log = slurp(t->log);
        assert_not_strstr(log, "ca.rotate");
        assert_strstr(log, "main-log-line");
        assert_not_strstr(audit, "main-log-line");
        lines = parse_lines(audit);
        assert_int_equal(json_array_size(lines), 1);
        o = json_array_get(lines, 0);
        assert_true(json_is_true(json_object_get(o, "audit")));
        assert_string_equal(field(lines, 0, "caller"), "uid=0");
        assert_string_equal(field(lines, 0, "action"), "ca.rotate");
        assert_string_equal(field(lines, 0, "object"), "x509");
        assert_string_equal(field(lines, 0, "result"), "ok");
        assert_string_equal(field(lines, 0, "details"), "serial=7");
        assert_string_equal(field(lines, 0, "prog"), "test-log");
        assert_non_null(field(lines, 0, "time"));
        json_decref(lines);
}

/* Secrets that reach a log call by mistake are redacted: tokens by key name, JWTs by shape. */
static void test_never_a_secret(void **state) {
        static const char jwt[] = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzcGlmZmUifQ."
                                  "c2lnbmF0dXJl";
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;

        sigil_audit("uid=0", "token.create", "join-token", "ok", "token=%s ttl=600",
                    "0d5e7a1c-secret-join-token");
        sigil_audit("uid=0", "x", "y", "ok", "Password=hunter2 private_key=%s", "MHcCAQEEI");
        log_warning("rejected JWT-SVID %s: expired", jwt);
        log_info("bearer(%s)", jwt);
        log_info("not a secret: tokens=3 eyJ alone, eyJ.only-one-dot, keyJa.b.c");
        text = slurp(t->log);
        assert_not_strstr(text, "0d5e7a1c");
        assert_not_strstr(text, "hunter2");
        assert_not_strstr(text, "MHcCAQEEI");
        assert_not_strstr(text, "c2lnbmF0dXJl");
        assert_not_strstr(text, "eyJhbGci");
        assert_strstr(text, "token=<redacted> ttl=600");
        assert_strstr(text, "Password=<redacted> private_key=<redacted>");
        assert_strstr(text, "rejected JWT-SVID <redacted>: expired");
        assert_strstr(text, "bearer(<redacted>)");
        assert_strstr(text, "not a secret: tokens=3 eyJ alone, eyJ.only-one-dot, keyJa.b.c");
}

static void test_back_to_stderr(void **state) {
        LogTest *t = *state;
        _cleanup_(freep) char *text = NULL;

        assert_int_equal(sigil_log_open_file(NULL), 0);
        log_info("to-stderr");
        text = slurp(t->log);
        assert_not_strstr(text, "to-stderr");
}

static void test_level_and_format_names(void **state) {
        static const struct {
                const char *s;
                SigilLogLevel l;
        } levels[] = {
                { "error", SIGIL_LOG_ERROR },   { "ERROR", SIGIL_LOG_ERROR },
                { "warn", SIGIL_LOG_WARNING },  { "Warning", SIGIL_LOG_WARNING },
                { "info", SIGIL_LOG_INFO },     { "debug", SIGIL_LOG_DEBUG },
                { "DeBuG", SIGIL_LOG_DEBUG },   { "", _SIGIL_LOG_LEVEL_INVALID },
                { "trace", _SIGIL_LOG_LEVEL_INVALID }, { "info ", _SIGIL_LOG_LEVEL_INVALID },
                { NULL, _SIGIL_LOG_LEVEL_INVALID },
        };

        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                assert_int_equal(sigil_log_level_from_string(levels[i].s), levels[i].l);
        assert_string_equal(sigil_log_level_to_string(SIGIL_LOG_WARNING), "warning");
        assert_string_equal(sigil_log_level_to_string(SIGIL_LOG_DEBUG), "debug");
        assert_null(sigil_log_level_to_string(_SIGIL_LOG_LEVEL_MAX));
        assert_null(sigil_log_level_to_string(_SIGIL_LOG_LEVEL_INVALID));
        assert_int_equal(sigil_log_format_from_string("json"), SIGIL_LOG_FORMAT_JSON);
        assert_int_equal(sigil_log_format_from_string("TEXT"), SIGIL_LOG_FORMAT_TEXT);
        assert_int_equal(sigil_log_format_from_string("xml"), _SIGIL_LOG_FORMAT_INVALID);
        assert_int_equal(sigil_log_format_from_string(NULL), _SIGIL_LOG_FORMAT_INVALID);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_level_filtering),
                T(test_errno_variants),
                T(test_file_mode_and_append),
                T(test_json_lines),
                T(test_long_lines),
                T(test_no_line_injection),
                T(test_audit_text),
                T(test_audit_json_and_own_file),
                T(test_never_a_secret),
                T(test_back_to_stderr),
                cmocka_unit_test(test_level_and_format_names),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
