/* SPDX-License-Identifier: Apache-2.0 */
/* Selectors and selector sets: validation, ordering, set algebra, canonical text. */
#include "test-util.h"

#include <errno.h>

#include "sigil/selector.h"

static void test_parse_valid(void **state) {
        static const struct {
                const char *in, *type, *value;
        } cases[] = {
                { "unix:uid:1000", "unix", "uid:1000" },
                { "k8s:ns:prod", "k8s", "ns:prod" },
                { "a:b", "a", "b" },
                { "docker:label:com.example.name:web app", "docker",
                  "label:com.example.name:web app" },
                { "slurm_job-id:42", "slurm_job-id", "42" },
                { "x::", "x", ":" },
                { "unix:path:/usr/bin/caf\xc3\xa9", "unix", "path:/usr/bin/caf\xc3\xa9" },
                { "t:\xe6\x97\xa5\xe6\x9c\xac", "t", "\xe6\x97\xa5\xe6\x9c\xac" },
                { "t:\xf0\x9f\x94\x91", "t", "\xf0\x9f\x94\x91" },
                { "t:~!@#$%^&*()", "t", "~!@#$%^&*()" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SigilSelector s = { NULL, NULL };
                SigilErr e = { .msg = "" };

                if (sigil_selector_parse(cases[i].in, &s, &e) != 0)
                        fail_msg("'%s' rejected: %s", cases[i].in, e.msg);
                assert_string_equal(s.type, cases[i].type);
                assert_string_equal(s.value, cases[i].value);
                sigil_selector_done(&s);
                assert_null(s.type);
                assert_null(s.value);
        }
}

static void test_parse_invalid(void **state) {
        static const struct {
                const char *in, *msg;
        } cases[] = {
                { "", "selector is empty" },
                { "unix", "type:value" },
                { ":uid:0", "selector type is empty" },
                { "unix:", "selector value is empty" },
                { "Unix:uid:0", "selector type characters" },
                { "un ix:uid:0", "selector type characters" },
                { "un.ix:uid:0", "selector type characters" },
                { "\xc3\xa9:x", "selector type characters" },
                { "unix:uid\n0", "printable" },
                { "unix:uid\t0", "printable" },
                { "unix:\x7f", "printable" },
                { "unix:\x1b[31m", "printable" },
                { "t:\xff", "printable" },
                { "t:\xc0\xaf", "printable" },                 /* overlong '/' */
                { "t:\xe0\x80\xaf", "printable" },             /* overlong '/' */
                { "t:\xed\xa0\x80", "printable" },             /* surrogate */
                { "t:\xf4\x90\x80\x80", "printable" },         /* above U+10FFFF */
                { "t:\xc2\x85", "printable" },                 /* C1 control NEL */
                { "t:caf\xc3", "printable" },                  /* truncated sequence */
                { "t:\xe6\x97", "printable" },
                { "t:\x80", "printable" },                     /* lone continuation */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SigilSelector s = { NULL, NULL };
                SigilErr e = { .msg = "" };

                if (sigil_selector_parse(cases[i].in, &s, &e) == 0)
                        fail_msg("'%s' accepted", cases[i].in);
                assert_strstr(e.msg, cases[i].msg);
                assert_null(s.type);
        }
}

static void test_limits(void **state) {
        char type[SIGIL_SELECTOR_TYPE_MAX + 2], value[SIGIL_SELECTOR_VALUE_MAX + 2];
        char text[SIGIL_SELECTOR_TYPE_MAX + SIGIL_SELECTOR_VALUE_MAX + 8];
        SigilSelector s = { NULL, NULL };
        SigilErr e = { .msg = "" };

        memset(type, 't', SIGIL_SELECTOR_TYPE_MAX);
        type[SIGIL_SELECTOR_TYPE_MAX] = '\0';
        memset(value, 'v', SIGIL_SELECTOR_VALUE_MAX);
        value[SIGIL_SELECTOR_VALUE_MAX] = '\0';
        assert_int_equal(sigil_selector_make(type, value, &s, NULL), 0);
        sigil_selector_done(&s);
        (void) snprintf(text, sizeof(text), "%s:%s", type, value);
        assert_int_equal(sigil_selector_parse(text, &s, NULL), 0);
        assert_int_equal(strlen(s.type), 64);
        assert_int_equal(strlen(s.value), 1024);
        sigil_selector_done(&s);

        strcat(type, "t");
        assert_int_equal(sigil_selector_make(type, "v", &s, &e), -EINVAL);
        assert_strstr(e.msg, "longer than 64");
        (void) snprintf(text, sizeof(text), "%s:v", type);
        assert_int_equal(sigil_selector_parse(text, &s, &e), -EINVAL);
        assert_strstr(e.msg, "longer than 64");

        strcat(value, "v");
        assert_int_equal(sigil_selector_make("t", value, &s, &e), -EINVAL);
        assert_strstr(e.msg, "longer than 1024");
        assert_int_equal(sigil_selector_make(NULL, "v", &s, NULL), -EINVAL);
        assert_int_equal(sigil_selector_make("t", NULL, &s, NULL), -EINVAL);
        assert_int_equal(sigil_selector_parse(NULL, &s, NULL), -EINVAL);
}

static void test_compare(void **state) {
        SigilSelector a = { (char *) "unix", (char *) "uid:1000" };
        SigilSelector b = { (char *) "unix", (char *) "uid:999" };
        SigilSelector c = { (char *) "k8s", (char *) "zzz" };
        SigilSelector d = { (char *) "unix", (char *) "uid:1000" };

        assert_true(sigil_selector_compare(&a, &b) < 0);       /* bytewise: '1' < '9' */
        assert_true(sigil_selector_compare(&b, &a) > 0);
        assert_true(sigil_selector_compare(&c, &a) < 0);       /* type first */
        assert_int_equal(sigil_selector_compare(&a, &d), 0);
}

static void add(SigilSelectorSet *set, const char *s) {
        SigilErr e = { .msg = "" };

        if (sigil_selector_set_add_string(set, s, &e) != 0)
                fail_msg("adding '%s': %s", s, e.msg);
}

static void test_set_sorted_unique(void **state) {
        SigilSelectorSet set = { NULL, 0 };
        _cleanup_(freep) char *text = NULL;

        add(&set, "unix:uid:1000");
        add(&set, "k8s:ns:prod");
        add(&set, "unix:gid:0");
        add(&set, "unix:uid:1000");
        add(&set, "k8s:ns:prod");
        assert_int_equal(sigil_selector_set_add(&set, "unix", "gid:0", NULL), 0);
        assert_int_equal(set.n_items, 3);
        assert_string_equal(set.items[0].type, "k8s");
        assert_string_equal(set.items[1].value, "gid:0");
        assert_string_equal(set.items[2].value, "uid:1000");
        for (size_t i = 1; i < set.n_items; i++)
                assert_true(sigil_selector_compare(&set.items[i - 1], &set.items[i]) < 0);

        assert_true(sigil_selector_set_contains(&set, "unix", "gid:0"));
        assert_false(sigil_selector_set_contains(&set, "unix", "gid:1"));
        assert_false(sigil_selector_set_contains(&set, "unix", NULL));
        assert_int_equal(sigil_selector_set_to_string(&set, &text), 0);
        assert_string_equal(text, "k8s:ns:prod,unix:gid:0,unix:uid:1000");

        /* a failed add leaves the set as it was */
        assert_int_equal(sigil_selector_set_add_string(&set, "bad", NULL), -EINVAL);
        assert_int_equal(sigil_selector_set_add(&set, "Bad", "x", NULL), -EINVAL);
        assert_int_equal(set.n_items, 3);

        sigil_selector_set_done(&set);
        assert_int_equal(set.n_items, 0);
        assert_null(set.items);
        add(&set, "a:b");       /* reusable after done */
        assert_int_equal(set.n_items, 1);
        sigil_selector_set_done(&set);
        sigil_selector_set_done(NULL);
}

static void test_set_limit(void **state) {
        SigilSelectorSet set = { NULL, 0 };
        SigilErr e = { .msg = "" };
        char v[16];

        for (int i = 0; i < SIGIL_SELECTOR_SET_MAX; i++) {
                (void) snprintf(v, sizeof(v), "%d", SIGIL_SELECTOR_SET_MAX - i);
                assert_int_equal(sigil_selector_set_add(&set, "n", v, NULL), 0);
        }
        assert_int_equal(set.n_items, SIGIL_SELECTOR_SET_MAX);
        assert_int_equal(sigil_selector_set_add(&set, "n", "new", &e), -E2BIG);
        assert_strstr(e.msg, "at most 512");
        assert_int_equal(sigil_selector_set_add(&set, "n", "1", NULL), 0);     /* duplicate */
        assert_int_equal(set.n_items, SIGIL_SELECTOR_SET_MAX);
        for (size_t i = 1; i < set.n_items; i++)
                assert_true(sigil_selector_compare(&set.items[i - 1], &set.items[i]) < 0);
        sigil_selector_set_done(&set);
}

static void make_set(SigilSelectorSet *set, const char *const *l) {
        for (; *l; l++)
                add(set, *l);
}

static void test_subset_equal(void **state) {
        static const char *const big[] = { "unix:uid:0", "unix:gid:0", "k8s:ns:a", "k8s:sa:b",
                                           NULL };
        static const char *const part[] = { "k8s:sa:b", "unix:uid:0", NULL };
        static const char *const other[] = { "k8s:sa:b", "unix:uid:1", NULL };
        static const char *const beyond[] = { "zz:z", NULL };
        static const char *const before[] = { "aa:a", NULL };
        SigilSelectorSet a = { NULL, 0 }, b = { NULL, 0 }, c = { NULL, 0 }, empty = { NULL, 0 };
        SigilSelectorSet d = { NULL, 0 }, f = { NULL, 0 }, copy = { NULL, 0 };

        make_set(&a, big);
        make_set(&b, part);
        make_set(&c, other);
        make_set(&d, beyond);
        make_set(&f, before);
        assert_true(sigil_selector_set_is_subset(&b, &a));
        assert_false(sigil_selector_set_is_subset(&a, &b));
        assert_false(sigil_selector_set_is_subset(&c, &a));
        assert_false(sigil_selector_set_is_subset(&d, &a));
        assert_false(sigil_selector_set_is_subset(&f, &a));
        assert_true(sigil_selector_set_is_subset(&a, &a));
        assert_true(sigil_selector_set_is_subset(&empty, &a));
        assert_true(sigil_selector_set_is_subset(&empty, &empty));
        assert_false(sigil_selector_set_is_subset(&b, &empty));

        assert_int_equal(sigil_selector_set_copy(&a, &copy), 0);
        assert_true(sigil_selector_set_equal(&a, &copy));
        assert_true(copy.items != a.items);
        assert_true(copy.items[0].type != a.items[0].type);
        assert_false(sigil_selector_set_equal(&a, &b));
        assert_false(sigil_selector_set_equal(&b, &c));
        assert_true(sigil_selector_set_equal(&empty, &empty));
        add(&copy, "x:y");
        assert_false(sigil_selector_set_equal(&a, &copy));
        assert_true(sigil_selector_set_is_subset(&a, &copy));

        sigil_selector_set_done(&copy);
        assert_int_equal(sigil_selector_set_copy(&empty, &copy), 0);
        assert_int_equal(copy.n_items, 0);
        sigil_selector_set_done(&copy);
        sigil_selector_set_done(&a);
        sigil_selector_set_done(&b);
        sigil_selector_set_done(&c);
        sigil_selector_set_done(&d);
        sigil_selector_set_done(&f);
}

/* Subset and equality against a brute-force reference on random small sets. */
static void test_subset_random(void **state) {
        static const char *const pool[] = { "a:1", "a:2", "b:1", "b:10", "b:2", "c:x" };
        unsigned seed = 12345;

        for (int round = 0; round < 2000; round++) {
                SigilSelectorSet x = { NULL, 0 }, y = { NULL, 0 };
                unsigned mx, my;

                seed = seed * 1103515245u + 12345u;
                mx = (seed >> 8) & 63u;
                seed = seed * 1103515245u + 12345u;
                my = (seed >> 8) & 63u;
                /* insert in a rotating order so sorting is exercised */
                for (size_t k = 0; k < ELEMENTSOF(pool); k++) {
                        size_t i = (k + (size_t) round) % ELEMENTSOF(pool);

                        if (mx & (1u << i))
                                add(&x, pool[i]);
                        if (my & (1u << i))
                                add(&y, pool[i]);
                }
                assert_int_equal(sigil_selector_set_is_subset(&x, &y), (mx & ~my) == 0);
                assert_int_equal(sigil_selector_set_equal(&x, &y), mx == my);
                assert_int_equal(x.n_items, (size_t) __builtin_popcount(mx));
                sigil_selector_set_done(&x);
                sigil_selector_set_done(&y);
        }
}

static void test_to_string_escaping(void **state) {
        SigilSelectorSet set = { NULL, 0 };
        _cleanup_(freep) char *text = NULL, *empty_text = NULL;

        assert_int_equal(sigil_selector_set_to_string(&set, &empty_text), 0);
        assert_string_equal(empty_text, "");
        add(&set, "docker:label:a,b");
        add(&set, "unix:path:C:\\dir");
        add(&set, "a:,\\,");
        assert_int_equal(sigil_selector_set_to_string(&set, &text), 0);
        assert_string_equal(text, "a:\\,\\\\\\,,docker:label:a\\,b,unix:path:C:\\\\dir");
        sigil_selector_set_done(&set);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_compare),
                cmocka_unit_test(test_set_sorted_unique),
                cmocka_unit_test(test_set_limit),
                cmocka_unit_test(test_subset_equal),
                cmocka_unit_test(test_subset_random),
                cmocka_unit_test(test_to_string_escaping),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
