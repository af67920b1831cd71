/* SPDX-License-Identifier: Apache-2.0 */
/* Strict base64 and base64url: RFC 4648 vectors, canonical-only decoding, round trips. */
#include "test-util.h"

#include <errno.h>

#include "base64.h"
#include "hex.h"

/* RFC 4648 section 10. */
static const struct {
        const char *raw, *std, *url;
} vectors[] = {
        { "", "", "" },
        { "f", "Zg==", "Zg" },
        { "fo", "Zm8=", "Zm8" },
        { "foo", "Zm9v", "Zm9v" },
        { "foob", "Zm9vYg==", "Zm9vYg" },
        { "fooba", "Zm9vYmE=", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static void test_rfc4648_encode(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                _cleanup_(freep) char *std = NULL, *url = NULL;
                char to[16];
                size_t n_raw = strlen(vectors[i].raw), n_url = 99;

                assert_int_equal(base64_encode(vectors[i].raw, n_raw, &std), 0);
                assert_string_equal(std, vectors[i].std);
                assert_int_equal(base64url_encode(vectors[i].raw, n_raw, &url, &n_url), 0);
                assert_string_equal(url, vectors[i].url);
                assert_int_equal(n_url, strlen(vectors[i].url));
                assert_int_equal(base64url_encoded_len(n_raw), strlen(vectors[i].url));
                memset(to, 'x', sizeof(to));
                assert_int_equal(base64url_encode_to(vectors[i].raw, n_raw, to),
                                 strlen(vectors[i].url));
                assert_string_equal(to, vectors[i].url);
        }
}

static void test_rfc4648_decode(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                _cleanup_(freep) uint8_t *a = NULL, *b = NULL;
                size_t n_a = 99, n_b = 99, n_raw = strlen(vectors[i].raw);

                assert_int_equal(base64_decode(vectors[i].std, strlen(vectors[i].std), &a, &n_a),
                                 0);
                assert_int_equal(n_a, n_raw);
                assert_memory_equal(a, vectors[i].raw, n_raw);
                assert_int_equal(base64url_decode(vectors[i].url, strlen(vectors[i].url), &b,
                                                  &n_b),
                                 0);
                assert_int_equal(n_b, n_raw);
                assert_memory_equal(b, vectors[i].raw, n_raw);
                assert_int_equal(b[n_b], 0);            /* the documented extra NUL */
        }
}

/* The two alphabets differ only in 62 and 63. */
static void test_alphabets(void **state) {
        static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
        _cleanup_(freep) char *std = NULL, *url = NULL;
        _cleanup_(freep) uint8_t *back = NULL, *back2 = NULL;
        size_t n;

        assert_int_equal(base64_encode(bytes, sizeof(bytes), &std), 0);
        assert_string_equal(std, "+/+/");
        assert_int_equal(base64url_encode(bytes, sizeof(bytes), &url, NULL), 0);
        assert_string_equal(url, "-_-_");
        assert_int_equal(base64url_decode("-_-_", 4, &back, &n), 0);
        assert_memory_equal(back, bytes, sizeof(bytes));
        assert_int_equal(base64_decode("+/+/", 4, &back2, &n), 0);
        assert_memory_equal(back2, bytes, sizeof(bytes));
}

static void test_url_decode_strict(void **state) {
        static const char *const bad[] = {
                "Zg==",         /* padding */
                "Zg=",
                "Zm9v\n",       /* whitespace */
                "Zm 9v",
                " Zm9v",
                "Zm9v\r",
                "+/+/",         /* standard alphabet */
                "Zm9vY",        /* n % 4 == 1 */
                "Z",
                "Zh",           /* non-zero unused bits: canonical is "Zg" */
                "Zm9",          /* canonical "Zm8" */
                "Zm9vYh",
                "Zm.v",
                "Zm9v\xc3\xa9",
        };
        uint8_t *nul_out = NULL;
        size_t n_nul;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint8_t *out = NULL;
                size_t n = 0;

                if (base64url_decode(bad[i], strlen(bad[i]), &out, &n) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_null(out);
        }
        /* an embedded NUL is outside the alphabet too */
        assert_int_equal(base64url_decode("Zm\0v", 4, &nul_out, &n_nul), -EINVAL);
        assert_null(nul_out);
}

static void test_std_decode_strict(void **state) {
        static const char *const bad[] = {
                "Zg",           /* padding is required */
                "Zg=",
                "Zm9vY",
                "Z===",
                "====",
                "Zg==Zg==",     /* padding in the middle */
                "Zg=A",
                "Zh==",         /* non-zero unused bits */
                "Zm9=",
                "-_-_",         /* url alphabet */
                "Zm9v\n",
                "Zm9 v",
                "Zm9v====",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint8_t *out = NULL;
                size_t n = 0;

                if (base64_decode(bad[i], strlen(bad[i]), &out, &n) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_null(out);
        }
}

/* Random bytes of every length up to 300 survive both codecs. */
static void test_round_trip(void **state) {
        uint8_t data[300];
        uint32_t x = 2463534242u;

        for (size_t len = 0; len <= sizeof(data); len++) {
                _cleanup_(freep) char *std = NULL, *url = NULL;
                _cleanup_(freep) uint8_t *a = NULL, *b = NULL;
                size_t n_a, n_b, n_url;

                for (size_t i = 0; i < len; i++) {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        data[i] = (uint8_t) x;
                }
                assert_int_equal(base64_encode(data, len, &std), 0);
                assert_int_equal(strlen(std), (len + 2) / 3 * 4);
                assert_int_equal(base64_decode(std, strlen(std), &a, &n_a), 0);
                assert_int_equal(n_a, len);
                assert_memory_equal(a, data, len);

                assert_int_equal(base64url_encode(data, len, &url, &n_url), 0);
                assert_int_equal(n_url, base64url_encoded_len(len));
                assert_null(strpbrk(url, "+/="));
                assert_int_equal(base64url_decode(url, n_url, &b, &n_b), 0);
                assert_int_equal(n_b, len);
                assert_memory_equal(b, data, len);
        }
}

/* lib/hex.c, the other text encoding of bytes. */
static void test_hex(void **state) {
        static const uint8_t d[] = { 0x00, 0x0f, 0xa5, 0xff };
        char buf[16];

        assert_int_equal(hex_encode(d, sizeof(d), buf, sizeof(buf)), 8);
        assert_string_equal(buf, "000fa5ff");
        /* Too small: whole bytes only, always terminated. */
        assert_int_equal(hex_encode(d, sizeof(d), buf, 6), 4);
        assert_string_equal(buf, "000f");
        assert_int_equal(hex_encode(d, sizeof(d), buf, 1), 0);
        assert_string_equal(buf, "");
        assert_int_equal(hex_encode(d, 0, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc4648_encode),
                cmocka_unit_test(test_hex),
                cmocka_unit_test(test_rfc4648_decode),
                cmocka_unit_test(test_alphabets),
                cmocka_unit_test(test_url_decode_strict),
                cmocka_unit_test(test_std_decode_strict),
                cmocka_unit_test(test_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
