/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPIFFE ID and trust domain parsing, one test per rule of section 1 of the
 * spec checklist (ID-01..ID-19) and the divergences we pin a policy for
 * (DIV-01..DIV-05, DIV-16). Every case checks both entry points: the
 * length-based sigil_spiffeid_parse() and the NUL-terminated
 * sigil_spiffeid_validate().
 */
#include "test-util.h"

#include <errno.h>

#include "sigil/spiffeid.h"

/* @err is NULL for a valid ID, else a fragment the error message must contain. */
typedef struct IdCase {
        const char *id;
        const char *err;
} IdCase;

#define MSG_SCHEME "scheme is missing or invalid"
#define MSG_TD_MISSING "trust domain is missing"
#define MSG_TD_CHARS                                                                         \
        "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and " \
        "underscores"
#define MSG_PATH_CHARS                                                                       \
        "path segment characters are limited to letters, numbers, dots, dashes, and underscores"
#define MSG_QUERY "SPIFFE ID must not contain a query"
#define MSG_FRAGMENT "SPIFFE ID must not contain a fragment"
#define MSG_USERINFO "SPIFFE ID must not contain userinfo"
#define MSG_PORT "SPIFFE ID must not contain a port"
#define MSG_TRAILING "path cannot have a trailing slash"
#define MSG_EMPTY_SEG "path cannot contain empty segments"
#define MSG_DOT_SEG "path segment cannot be '.' or '..'"
#define MSG_PERCENT "percent-encoded"
#define MSG_TOO_LONG "SPIFFE ID is longer than 2048 bytes"

/* Check one case through every parsing entry point. */
static void check_case(const IdCase *c) {
        SigilSpiffeId id;
        SigilErr e = { .msg = "" };
        char err[SIGIL_ERR_MSG_MAX] = "";
        int r;

        r = sigil_spiffeid_parse(c->id, strlen(c->id), &id, &e);
        if (!c->err) {
                if (r != 0)
                        fail_msg("'%s' rejected: %s", c->id, e.msg);
                assert_string_equal(id.str, c->id);
                assert_int_equal(id.n_str, strlen(c->id));
                assert_int_equal(sigil_spiffeid_validate(c->id, err, sizeof(err)), 0);
                assert_int_equal(sigil_spiffeid_validate(c->id, NULL, 0), 0);
                return;
        }
        if (r == 0)
                fail_msg("'%s' accepted, expected '%s'", c->id, c->err);
        assert_int_equal(r, -EINVAL);
        assert_strstr(e.msg, c->err);
        assert_int_not_equal(sigil_spiffeid_validate(c->id, err, sizeof(err)), 0);
        assert_string_equal(err, e.msg);
        assert_int_not_equal(sigil_spiffeid_from_string(c->id, &id, NULL), 0);
}

static void check_cases(const IdCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                check_case(&cases[i]);
}

#define CHECK_CASES(...)                                        \
        do {                                                    \
                static const IdCase _c_[] = { __VA_ARGS__ };    \
                check_cases(_c_, ELEMENTSOF(_c_));              \
        } while (0)

/* Parse @n bytes at @s and return the result, for the byte sweeps. */
static int parse_bytes(const char *s, size_t n) {
        SigilSpiffeId id;

        return sigil_spiffeid_parse(s, n, &id, NULL);
}

static bool in_td_charset(int c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_';
}

static bool in_path_charset(int c) {
        return in_td_charset(c) || (c >= 'A' && c <= 'Z');
}

/* ID-01: the scheme is "spiffe", exactly. */
static void test_id01_scheme(void **state) {
        CHECK_CASES({ "http://domain.test/path/element", MSG_SCHEME },
                    { "xspiffe://td/p", MSG_SCHEME },
                    { "spiffe:/td/p", MSG_SCHEME },
                    { "spiffe:td/p", MSG_SCHEME },
                    { "192.168.2.2:6688", MSG_SCHEME },
                    { "spiffe", MSG_SCHEME },
                    { "spiffe:", MSG_SCHEME },
                    { "spiffe:/", MSG_SCHEME },
                    { "//td/p", MSG_SCHEME },
                    { " spiffe://td/p", MSG_SCHEME },
                    { "spiffe//td/p", MSG_SCHEME },
                    { "spiffe://td/p", NULL });
}

/* ID-02: the trust domain is non-empty. */
static void test_id02_trust_domain_missing(void **state) {
        CHECK_CASES({ "spiffe://", MSG_TD_MISSING },
                    { "spiffe:///", MSG_TD_MISSING },
                    { "spiffe:///path", MSG_TD_MISSING },
                    { "spiffe:////", MSG_TD_MISSING });
}

/* ID-03: no query component, wherever the '?' is. */
static void test_id03_query(void **state) {
        CHECK_CASES({ "spiffe://domain.test/path/element?query=1", MSG_QUERY },
                    { "spiffe://example.org?query=123", MSG_QUERY },
                    { "spiffe://example.org/?", MSG_QUERY },
                    { "spiffe://example.org?", MSG_QUERY },
                    { "spiffe://example.org/a?b/c", MSG_QUERY });
}

/* ID-04: no fragment component. */
static void test_id04_fragment(void **state) {
        CHECK_CASES({ "spiffe://domain.test/path/element#fragment-1", MSG_FRAGMENT },
                    { "spiffe://example.org#frag", MSG_FRAGMENT },
                    { "spiffe://example.org/#", MSG_FRAGMENT });
}

/* ID-05: no userinfo, with or without a password. */
static void test_id05_userinfo(void **state) {
        CHECK_CASES({ "spiffe://user:password@test.org/path/element", MSG_USERINFO },
                    { "spiffe://user@example.org/service", MSG_USERINFO },
                    { "spiffe://@example.org/service", MSG_USERINFO });
}

/* ID-06: no port, empty or not. */
static void test_id06_port(void **state) {
        CHECK_CASES({ "spiffe://domain.test:8080/path/element", MSG_PORT },
                    { "spiffe://1.2.3.4:8443/service", MSG_PORT },
                    { "spiffe://example.org:/service", MSG_PORT },
                    { "spiffe://example.org:8443", MSG_PORT });
}

/* ID-07: we never produce an uppercase trust domain, and we refuse to parse one (DIV-01). */
static void test_id07_lowercase_trust_domain(void **state) {
        SigilSpiffeId id;
        SigilTrustDomain td;
        SigilErr e = { .msg = "" };

        assert_int_equal(sigil_spiffeid_from_parts("Example.org", "/x", &id, &e), -EINVAL);
        assert_strstr(e.msg, MSG_TD_CHARS);
        assert_int_equal(sigil_trust_domain_parse("EXAMPLE.ORG", &td, NULL), -EINVAL);
        assert_int_not_equal(sigil_trust_domain_validate("example.Org", NULL, 0), 0);
        CHECK_CASES({ "spiffe://Example.org/x", MSG_TD_CHARS });
}

/* ID-08: sweep every byte through the trust domain; accepted iff in a-z 0-9 . - _ */
static void test_id08_trust_domain_byte_sweep(void **state) {
        for (int c = 0; c < 256; c++) {
                char id[64], bare[32];
                int n = snprintf(id, sizeof(id), "spiffe://trustdomain%c/path", c);
                bool ok = in_td_charset(c);

                if (c == 0)
                        n = (int) strlen("spiffe://trustdomain") + 1 + (int) strlen("/path");
                if ((parse_bytes(id, (size_t) n) == 0) != ok)
                        fail_msg("byte 0x%02x in the trust domain: expected %s", c,
                                 ok ? "accept" : "reject");
                if (c == 0)
                        continue;
                assert_int_equal(sigil_spiffeid_validate(id, NULL, 0) == 0, ok);
                (void) snprintf(bare, sizeof(bare), "trust%cdomain", c);
                if ((sigil_trust_domain_validate(bare, NULL, 0) == 0) != ok)
                        fail_msg("byte 0x%02x in a bare trust domain: expected %s", c,
                                 ok ? "accept" : "reject");
        }
}

/* ID-09: no percent-encoding in the trust domain, and nothing is decoded. */
static void test_id09_trust_domain_percent(void **state) {
        CHECK_CASES({ "spiffe://%62%61%64/path", MSG_PERCENT },
                    { "spiffe://example%2eorg/service", MSG_PERCENT },
                    { "spiffe://example.org%/service", MSG_PERCENT });
        assert_int_not_equal(sigil_trust_domain_validate("example%2eorg", NULL, 0), 0);
}

/* ID-10: trust domains are opaque names, IP-looking or not; IPv6 literals are out. */
static void test_id10_trust_domain_shapes(void **state) {
        CHECK_CASES({ "spiffe://1.2.3.4/service", NULL },
                    { "spiffe://example..org/path", NULL },
                    { "spiffe://-example.org/path", NULL },
                    { "spiffe://example.org./path", NULL },
                    { "spiffe://_/path", NULL },
                    { "spiffe://..", NULL },
                    { "spiffe://[::1]/service", MSG_TD_CHARS },
                    { "spiffe://[2001:db8::1]", MSG_TD_CHARS });
}

/* ID-11: no percent-encoding in the path either. */
static void test_id11_path_percent(void **state) {
        CHECK_CASES({ "spiffe://trustdomain/%62%61%64", MSG_PERCENT },
                    { "spiffe://example.org/foo%2Fbar", MSG_PERCENT },
                    { "spiffe://example.org/foo%", MSG_PERCENT });
}

/* ID-12: no empty segments. */
static void test_id12_empty_segments(void **state) {
        CHECK_CASES({ "spiffe://trustdomain//", MSG_EMPTY_SEG },
                    { "spiffe://trustdomain//path", MSG_EMPTY_SEG },
                    { "spiffe://example.org/foo//bar", MSG_EMPTY_SEG },
                    { "spiffe://example.org/foo///", MSG_EMPTY_SEG });
}

/* ID-13: no "." or ".." segments; segments that merely contain dots are fine. */
static void test_id13_dot_segments(void **state) {
        CHECK_CASES({ "spiffe://trustdomain/.", MSG_DOT_SEG },
                    { "spiffe://trustdomain/./path", MSG_DOT_SEG },
                    { "spiffe://trustdomain/path/./other", MSG_DOT_SEG },
                    { "spiffe://trustdomain/..", MSG_DOT_SEG },
                    { "spiffe://trustdomain/../path", MSG_DOT_SEG },
                    { "spiffe://trustdomain/path/..", MSG_DOT_SEG },
                    { "spiffe://trustdomain/.path", NULL },
                    { "spiffe://trustdomain/..path", NULL },
                    { "spiffe://trustdomain/...", NULL },
                    { "spiffe://trustdomain/path./a..b/.c.", NULL });
}

/* ID-14: no trailing slash. */
static void test_id14_trailing_slash(void **state) {
        CHECK_CASES({ "spiffe://trustdomain/", MSG_TRAILING },
                    { "spiffe://trustdomain/path/", MSG_TRAILING },
                    { "spiffe://trustdomain/a/b/c/", MSG_TRAILING });
}

/* ID-15: sweep every byte through a path segment; accepted iff in A-Z a-z 0-9 . - _ */
static void test_id15_path_byte_sweep(void **state) {
        for (int c = 0; c < 256; c++) {
                char id[64];
                int n = snprintf(id, sizeof(id), "spiffe://trustdomain/path%c", c);
                char mid[64];
                bool ok = in_path_charset(c);

                if (c == 0)
                        n = (int) strlen("spiffe://trustdomain/path") + 1;
                if ((parse_bytes(id, (size_t) n) == 0) != ok)
                        fail_msg("byte 0x%02x at the end of the path: expected %s", c,
                                 ok ? "accept" : "reject");
                /* the same byte in the middle of a segment that is not the last one */
                n = snprintf(mid, sizeof(mid), "spiffe://trustdomain/pa%cth/x", c);
                if (c == 0)
                        n = (int) strlen("spiffe://trustdomain/pa") + 1 + (int) strlen("th/x");
                if ((parse_bytes(mid, (size_t) n) == 0) != (ok || c == '/'))
                        fail_msg("byte 0x%02x inside the path: expected %s", c,
                                 ok ? "accept" : "reject");
                if (c != 0)
                        assert_int_equal(sigil_spiffeid_validate(id, NULL, 0) == 0, ok);
        }
        CHECK_CASES({ "spiffe://trustdomain/foo;bar", MSG_PATH_CHARS },
                    { "spiffe://trustdomain/foo:bar", MSG_PATH_CHARS },
                    { "spiffe://trustdomain/foo@bar", MSG_PATH_CHARS },
                    { "spiffe://trustdomain/foo bar", MSG_PATH_CHARS },
                    { "spiffe://trustdomain/path$", MSG_PATH_CHARS },
                    { "spiffe://trustdomain/Path/UPPER/MiXeD_0-9.", NULL });
}

/* ID-16: the path is optional; such an ID names the trust domain itself. */
static void test_id16_root_id(void **state) {
        SigilSpiffeId id;
        SigilTrustDomain td;

        assert_int_equal(sigil_spiffeid_from_string("spiffe://trustdomain", &id, NULL), 0);
        sigil_spiffeid_trust_domain(&id, &td);
        assert_string_equal(td.name, "trustdomain");
        assert_string_equal(sigil_spiffeid_path(&id), "");
        assert_true(sigil_spiffeid_is_root(&id));

        assert_int_equal(sigil_spiffeid_from_string("spiffe://trustdomain/a/b", &id, NULL), 0);
        assert_string_equal(sigil_spiffeid_path(&id), "/a/b");
        assert_false(sigil_spiffeid_is_root(&id));
}

/* ID-17: the path compares case-sensitively (the trust domain is lowercase by policy). */
static void test_id17_path_case(void **state) {
        SigilSpiffeId a, b, c;

        assert_int_equal(sigil_spiffeid_from_string("spiffe://example.org/service", &a, NULL), 0);
        assert_int_equal(sigil_spiffeid_from_string("spiffe://example.org/Service", &b, NULL), 0);
        assert_int_equal(sigil_spiffeid_from_string("spiffe://example.org/service", &c, NULL), 0);
        assert_false(sigil_spiffeid_equal(&a, &b));
        assert_true(sigil_spiffeid_equal(&a, &c));
        assert_string_equal(sigil_spiffeid_path(&b), "/Service");
}

static char *make_id(size_t n_total) {
        static const char prefix[] = "spiffe://example.org/";
        char *s = malloc(n_total + 1);

        assert_non_null(s);
        assert_true(n_total >= sizeof(prefix));
        memcpy(s, prefix, sizeof(prefix) - 1);
        memset(s + sizeof(prefix) - 1, 'a', n_total - (sizeof(prefix) - 1));
        s[n_total] = '\0';
        return s;
}

/*
 * ID-18 and DIV-03: 2048 bytes are accepted; 2049 are refused when building
 * and, by our policy (other parsers accept them), when parsing too.
 */
static void test_id18_length(void **state) {
        _cleanup_(freep) char *max = make_id(SIGIL_SPIFFEID_MAX);
        _cleanup_(freep) char *over = make_id(SIGIL_SPIFFEID_MAX + 1);
        _cleanup_(freep) char *huge = make_id(100000);
        SigilSpiffeId id;
        SigilErr e = { .msg = "" };

        assert_int_equal(strlen(max), 2048);
        assert_int_equal(sigil_spiffeid_from_string(max, &id, NULL), 0);
        assert_int_equal(id.n_str, 2048);
        assert_string_equal(id.str, max);
        assert_int_equal(sigil_spiffeid_validate(max, NULL, 0), 0);

        assert_int_equal(sigil_spiffeid_from_string(over, &id, &e), -EINVAL);
        assert_string_equal(e.msg, MSG_TOO_LONG);
        assert_int_not_equal(sigil_spiffeid_validate(over, NULL, 0), 0);
        assert_int_not_equal(sigil_spiffeid_parse(over, strlen(over), &id, NULL), 0);
        assert_int_not_equal(sigil_spiffeid_validate(huge, NULL, 0), 0);

        /* building: "spiffe://example.org" is 20 bytes, so a 2028-byte path is the limit */
        assert_int_equal(sigil_spiffeid_from_parts("example.org", max + 20, &id, NULL), 0);
        assert_int_equal(id.n_str, 2048);
        assert_int_equal(sigil_spiffeid_from_parts("example.org", over + 20, &id, &e), -EINVAL);
        assert_string_equal(e.msg, MSG_TOO_LONG);
}

/* ID-19 and DIV-04: a trust domain is at most 255 bytes, bare or inside an ID (as rust-spiffe). */
static void test_id19_trust_domain_length(void **state) {
        char td[300], id[400];
        SigilTrustDomain t;
        SigilSpiffeId sid;
        SigilErr e = { .msg = "" };

        memset(td, 'a', 255);
        td[255] = '\0';
        assert_int_equal(sigil_trust_domain_validate(td, NULL, 0), 0);
        assert_int_equal(sigil_trust_domain_parse(td, &t, NULL), 0);
        assert_string_equal(t.name, td);
        (void) snprintf(id, sizeof(id), "spiffe://%s/p", td);
        assert_int_equal(sigil_spiffeid_from_string(id, &sid, NULL), 0);
        sigil_spiffeid_trust_domain(&sid, &t);
        assert_string_equal(t.name, td);

        memset(td, 'a', 256);
        td[256] = '\0';
        assert_int_not_equal(sigil_trust_domain_validate(td, NULL, 0), 0);
        assert_int_equal(sigil_trust_domain_parse(td, &t, &e), -EINVAL);
        assert_string_equal(e.msg, "trust domain is longer than 255 bytes");
        (void) snprintf(id, sizeof(id), "spiffe://%s/p", td);
        assert_int_equal(sigil_spiffeid_from_string(id, &sid, &e), -EINVAL);
        assert_string_equal(e.msg, "trust domain is longer than 255 bytes");
        assert_int_not_equal(sigil_spiffeid_from_parts(td, "/p", &sid, NULL), 0);
}

/* DIV-01: uppercase scheme or trust domain letters are rejected, never lowercased. */
static void test_div01_case_policy(void **state) {
        SigilSpiffeId id;
        SigilErr e = { .msg = "" };

        CHECK_CASES({ "SPIFFE://example.org/p", MSG_SCHEME },
                    { "Spiffe://example.org/p", MSG_SCHEME },
                    { "spiffE://example.org/p", MSG_SCHEME },
                    { "spiffe://EXAMPLE.org/p", MSG_TD_CHARS },
                    { "spiffe://example.orG", MSG_TD_CHARS },
                    { "spiffe://example.org/UPPER", NULL });
        /* an uppercase scheme gets a hint, an unrelated one does not */
        assert_int_equal(sigil_spiffeid_from_string("SPIFFE://td", &id, &e), -EINVAL);
        assert_strstr(e.msg, "lowercase");
        assert_int_equal(sigil_spiffeid_from_string("https://td", &id, &e), -EINVAL);
        assert_not_strstr(e.msg, "lowercase");
}

/* DIV-02: a trust domain may be given as an ID, and then the whole ID is validated. */
static void test_div02_trust_domain_from_id(void **state) {
        static const IdCase cases[] = {
                { "example.org", NULL },
                { "spiffe://example.org", NULL },
                { "spiffe://example.org/path/x", NULL },
                { "spiffe://example.org/", MSG_TRAILING },
                { "spiffe://example.org//x", MSG_EMPTY_SEG },
                { "spiffe://example.org/a?b", MSG_QUERY },
                { "SPIFFE://example.org", MSG_SCHEME },
                { "https://example.org", MSG_SCHEME },
                { "spiffe://", MSG_TD_MISSING },
                { "", MSG_TD_MISSING },
                { "example.org/path", "trust domain must not contain a path" },
                { "example.org:443", "trust domain must not contain a port" },
                { "user@example.org", "trust domain must not contain userinfo" },
                { "Example.org", MSG_TD_CHARS },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SigilTrustDomain td = { .name = "unchanged" };
                SigilErr e = { .msg = "" };
                int r = sigil_trust_domain_parse(cases[i].id, &td, &e);

                if (!cases[i].err) {
                        if (r != 0)
                                fail_msg("'%s' rejected: %s", cases[i].id, e.msg);
                        assert_string_equal(td.name, "example.org");
                        continue;
                }
                if (r == 0)
                        fail_msg("'%s' accepted", cases[i].id);
                assert_int_equal(r, -EINVAL);
                assert_strstr(e.msg, cases[i].err);
                assert_string_equal(td.name, "unchanged");
        }
}

/* DIV-05: a trailing newline (or any whitespace) is an invalid character, not an end of line. */
static void test_div05_trailing_newline(void **state) {
        CHECK_CASES({ "spiffe://example.org/foo\n", MSG_PATH_CHARS },
                    { "spiffe://example.org\n", MSG_TD_CHARS },
                    { "spiffe://example.org/foo\r\n", MSG_PATH_CHARS },
                    { "spiffe://example.org/foo ", MSG_PATH_CHARS });
        assert_int_not_equal(sigil_trust_domain_validate("example.org\n", NULL, 0), 0);
}

/* DIV-16: bytes are checked before any folding, so U+212A KELVIN SIGN is not a 'k'. */
static void test_div16_unicode_case_folding(void **state) {
        CHECK_CASES({ "spiffe://\xe2\x84\xaa" "elvin.example/path", MSG_TD_CHARS },
                    { "spiffe://kelvin.example/p\xe2\x84\xaa", MSG_PATH_CHARS },
                    { "spiffe://caf\xc3\xa9.example/p", MSG_TD_CHARS },
                    { "spiffe://\xef\xbd\x85xample.org/p", MSG_TD_CHARS });
        assert_int_not_equal(sigil_trust_domain_validate("\xe2\x84\xaa" "elvin.example", NULL, 0),
                             0);
}

/* Embedded NULs are rejected by the length-based parser, wherever they are. */
static void test_embedded_nul(void **state) {
        static const char with_nul[] = "spiffe://td/a\0b";
        static const char td_nul[] = "spiffe://t\0d/a";
        static const char tail_nul[] = "spiffe://td/a\0";
        SigilSpiffeId id;
        SigilErr e = { .msg = "" };

        assert_int_equal(sigil_spiffeid_parse(with_nul, sizeof(with_nul) - 1, &id, &e), -EINVAL);
        assert_string_equal(e.msg, "SPIFFE ID must not contain a NUL byte");
        assert_int_equal(sigil_spiffeid_parse(td_nul, sizeof(td_nul) - 1, &id, NULL), -EINVAL);
        assert_int_equal(sigil_spiffeid_parse(tail_nul, sizeof(tail_nul) - 1, &id, NULL), -EINVAL);
        /* the same bytes without the NUL are fine */
        assert_int_equal(sigil_spiffeid_parse(tail_nul, sizeof(tail_nul) - 2, &id, NULL), 0);
        assert_string_equal(id.str, "spiffe://td/a");
}

/* The parser reads exactly @n bytes: what follows them does not matter. */
static void test_length_based(void **state) {
        static const char buf[] = "spiffe://td/ab/../garbage";
        SigilSpiffeId id;

        assert_int_equal(sigil_spiffeid_parse(buf, strlen("spiffe://td/ab"), &id, NULL), 0);
        assert_string_equal(id.str, "spiffe://td/ab");
        assert_int_equal(sigil_spiffeid_parse(buf, strlen("spiffe://td"), &id, NULL), 0);
        assert_true(sigil_spiffeid_is_root(&id));
        assert_int_equal(sigil_spiffeid_parse(buf, 0, &id, NULL), -EINVAL);
        assert_int_equal(sigil_spiffeid_parse(NULL, 0, &id, NULL), -EINVAL);
}

/* The exact message for each kind of mistake, and the err buffer contract. */
static void test_error_messages(void **state) {
        static const struct {
                const char *id, *msg;
        } cases[] = {
                { "spiffe:///p", "trust domain is missing" },
                { "spiffe://td/a/", "path cannot have a trailing slash" },
                { "spiffe://td/a/../b", "path segment cannot be '.' or '..'" },
                { "spiffe://td/a//b", "path cannot contain empty segments" },
                { "spiffe://TD", MSG_TD_CHARS },
                { "spiffe://td/a!", MSG_PATH_CHARS },
                { "spiffe://td:1/a", "SPIFFE ID must not contain a port" },
                { "spiffe://u@td/a", "SPIFFE ID must not contain userinfo" },
                { "spiffe://td/a?x", "SPIFFE ID must not contain a query" },
                { "spiffe://td/a#x", "SPIFFE ID must not contain a fragment" },
                { "spiffe://td/%41", "path must not contain percent-encoded characters" },
                { "spiffe://%41", "trust domain must not contain percent-encoded characters" },
                { "", "SPIFFE ID is empty" },
        };
        char err[SIGIL_ERR_MSG_MAX], small[8];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_not_equal(sigil_spiffeid_validate(cases[i].id, err, sizeof(err)), 0);
                assert_string_equal(err, cases[i].msg);
        }
        assert_int_not_equal(sigil_spiffeid_validate("spiffe://td/", small, sizeof(small)), 0);
        assert_string_equal(small, "path ca");
        assert_int_not_equal(sigil_spiffeid_validate(NULL, err, sizeof(err)), 0);
        assert_int_not_equal(sigil_trust_domain_validate(NULL, err, sizeof(err)), 0);
        assert_string_equal(err, "trust domain is missing");
        assert_int_not_equal(sigil_trust_domain_validate("example.org:80", err, sizeof(err)), 0);
        assert_string_equal(err, "trust domain must not contain a port");
        assert_int_not_equal(sigil_trust_domain_validate("spiffe://example.org", err, sizeof(err)),
                             0);
        assert_strstr(err, "not a URI");
}

static void test_from_parts(void **state) {
        static const struct {
                const char *td, *path, *want;
        } ok[] = {
                { "example.org", "", "spiffe://example.org" },
                { "example.org", NULL, "spiffe://example.org" },
                { "example.org", "/a", "spiffe://example.org/a" },
                { "td", "/A/b.c/-_", "spiffe://td/A/b.c/-_" },
        };
        static const struct {
                const char *td, *path, *msg;
        } bad[] = {
                { "example.org", "a", "path must be empty or start with '/'" },
                { "example.org", "/", MSG_TRAILING },
                { "example.org", "/a//b", MSG_EMPTY_SEG },
                { "example.org", "/./b", MSG_DOT_SEG },
                { "example.org", "/a b", MSG_PATH_CHARS },
                { "example.org", "/a?b", MSG_PATH_CHARS },
                { "", "/a", MSG_TD_MISSING },
                { NULL, "/a", MSG_TD_MISSING },
                { "spiffe://example.org", "/a", "not a URI" },
        };
        SigilSpiffeId id;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                SigilSpiffeId again;

                assert_int_equal(sigil_spiffeid_from_parts(ok[i].td, ok[i].path, &id, NULL), 0);
                assert_string_equal(id.str, ok[i].want);
                assert_int_equal(id.n_str, strlen(ok[i].want));
                assert_true(sigil_spiffeid_member_of(&id, ok[i].td));
                assert_int_equal(sigil_spiffeid_from_string(id.str, &again, NULL), 0);
                assert_true(sigil_spiffeid_equal(&id, &again));
                assert_int_equal(again.n_td, id.n_td);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SigilErr e = { .msg = "" };

                assert_int_equal(sigil_spiffeid_from_parts(bad[i].td, bad[i].path, &id, &e),
                                 -EINVAL);
                assert_strstr(e.msg, bad[i].msg);
        }
}

static void test_accessors(void **state) {
        SigilSpiffeId id, root, a, b;
        SigilTrustDomain td;

        assert_int_equal(sigil_spiffeid_from_string("spiffe://example.org/ns/prod", &id, NULL), 0);
        assert_int_equal(id.n_td, strlen("example.org"));
        assert_true(sigil_spiffeid_member_of(&id, "example.org"));
        assert_false(sigil_spiffeid_member_of(&id, "example.or"));
        assert_false(sigil_spiffeid_member_of(&id, "example.org.evil"));
        assert_false(sigil_spiffeid_member_of(&id, "xample.org"));
        assert_false(sigil_spiffeid_member_of(&id, NULL));

        sigil_spiffeid_trust_domain(&id, &td);
        assert_string_equal(td.name, "example.org");
        sigil_trust_domain_to_id(&td, &root);
        assert_string_equal(root.str, "spiffe://example.org");
        assert_int_equal(root.n_str, strlen("spiffe://example.org"));
        assert_true(sigil_spiffeid_is_root(&root));
        assert_true(sigil_spiffeid_member_of(&root, "example.org"));
        assert_false(sigil_spiffeid_equal(&id, &root));

        /* a prefix of another ID is a different ID */
        assert_int_equal(sigil_spiffeid_from_string("spiffe://td/a", &a, NULL), 0);
        assert_int_equal(sigil_spiffeid_from_string("spiffe://td/ab", &b, NULL), 0);
        assert_false(sigil_spiffeid_equal(&a, &b));
        assert_false(sigil_spiffeid_equal(&b, &a));
}

/* A failed parse leaves *ret alone (output parameters are written only on success). */
static void test_ret_untouched_on_failure(void **state) {
        SigilSpiffeId id;
        SigilTrustDomain td;

        memset(&id, 0x5a, sizeof(id));
        assert_int_not_equal(sigil_spiffeid_from_string("spiffe://td/", &id, NULL), 0);
        assert_int_equal(id.str[0], 0x5a);
        assert_int_equal(id.n_str, (size_t) 0x5a5a5a5a5a5a5a5aull);
        memset(&td, 0x5a, sizeof(td));
        assert_int_not_equal(sigil_trust_domain_parse("spiffe://td/", &td, NULL), 0);
        assert_int_equal(td.name[0], 0x5a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id01_scheme),
                cmocka_unit_test(test_id02_trust_domain_missing),
                cmocka_unit_test(test_id03_query),
                cmocka_unit_test(test_id04_fragment),
                cmocka_unit_test(test_id05_userinfo),
                cmocka_unit_test(test_id06_port),
                cmocka_unit_test(test_id07_lowercase_trust_domain),
                cmocka_unit_test(test_id08_trust_domain_byte_sweep),
                cmocka_unit_test(test_id09_trust_domain_percent),
                cmocka_unit_test(test_id10_trust_domain_shapes),
                cmocka_unit_test(test_id11_path_percent),
                cmocka_unit_test(test_id12_empty_segments),
                cmocka_unit_test(test_id13_dot_segments),
                cmocka_unit_test(test_id14_trailing_slash),
                cmocka_unit_test(test_id15_path_byte_sweep),
                cmocka_unit_test(test_id16_root_id),
                cmocka_unit_test(test_id17_path_case),
                cmocka_unit_test(test_id18_length),
                cmocka_unit_test(test_id19_trust_domain_length),
                cmocka_unit_test(test_div01_case_policy),
                cmocka_unit_test(test_div02_trust_domain_from_id),
                cmocka_unit_test(test_div05_trailing_newline),
                cmocka_unit_test(test_div16_unicode_case_folding),
                cmocka_unit_test(test_embedded_nul),
                cmocka_unit_test(test_length_based),
                cmocka_unit_test(test_error_messages),
                cmocka_unit_test(test_from_parts),
                cmocka_unit_test(test_accessors),
                cmocka_unit_test(test_ret_untouched_on_failure),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
