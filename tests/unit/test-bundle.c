/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPIFFE bundle JSON and plain JWK Sets (spec-checklist §4, X509-20/21,
 * JWT-14/15), plus the JWK strictness of lib/jwk.c. Certificates are made
 * here with OpenSSL directly.
 */
#include "test-util.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base64.h"
#include "json-util.h"
#include "jwk.h"
#include "sigil/bundle.h"
#include "sigil/x509svid.h"
#include "sigil/jwtsvid.h"
#include "ssl-util.h"

#define TD "example.org"

/* Made once in setup(): RSA key generation is slow. */
static EVP_PKEY *k_p256, *k_p384, *k_p521, *k_rsa;
static X509 *ca_ec, *ca_rsa, *ca_p384, *leaf;

static EVP_PKEY *keygen(const char *type, const char *curve) {
        EVP_PKEY *k = curve ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve)
                            : EVP_PKEY_Q_keygen(NULL, NULL, type, (size_t) 2048);

        assert_non_null(k);
        return k;
}

static void add_ext(X509 *x, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
}

/* A self-signed certificate: a CA (CA:TRUE, keyCertSign) or, with !ca, a leaf. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, bool ca) {
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        assert_non_null(x);
        assert_non_null(name);
        assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 42), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *) cn, -1, -1, 0),
                         1);
        assert_int_equal(X509_set_subject_name(x, name), 1);
        assert_int_equal(X509_set_issuer_name(x, name), 1);
        X509_NAME_free(name);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
        assert_int_equal(X509_set_pubkey(x, key), 1);
        add_ext(x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        add_ext(x, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        return x;
}

static int setup(void **state) {
        k_p256 = keygen("EC", "P-256");
        k_p384 = keygen("EC", "P-384");
        k_p521 = keygen("EC", "P-521");
        k_rsa = keygen("RSA", NULL);
        ca_ec = make_cert(k_p256, "ca-ec", true);
        ca_rsa = make_cert(k_rsa, "ca-rsa", true);
        ca_p384 = make_cert(k_p384, "ca-p384", true);
        leaf = make_cert(k_p256, "leaf", false);
        return 0;
}

static int teardown(void **state) {
        X509_free(ca_ec);
        X509_free(ca_rsa);
        X509_free(ca_p384);
        X509_free(leaf);
        EVP_PKEY_free(k_p256);
        EVP_PKEY_free(k_p384);
        EVP_PKEY_free(k_p521);
        EVP_PKEY_free(k_rsa);
        return 0;
}

/* Padded standard base64 of the certificate's DER, as x5c holds it. */
static char *cert_b64(X509 *x) {
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        char *s = NULL;
        int n = i2d_X509(x, &der);

        assert_true(n > 0);
        assert_int_equal(base64_encode(der, (size_t) n, &s), 0);
        return s;
}

/* The public JWK members of @key plus "use" (if not NULL) and "kid" (if not NULL). */
static json_t *jwk(EVP_PKEY *key, const char *use, const char *kid) {
        json_t *j = NULL;

        assert_int_equal(jwk_from_pkey(key, &j), 0);
        if (use)
                assert_int_equal(json_object_set_new(j, "use", json_string(use)), 0);
        if (kid)
                assert_int_equal(json_object_set_new(j, "kid", json_string(kid)), 0);
        return j;
}

/* An x509-svid JWK for @ca (its key members and one x5c certificate). */
static json_t *x509_jwk(X509 *ca) {
        _cleanup_(freep) char *b64 = cert_b64(ca);
        json_t *j = jwk(X509_get0_pubkey(ca), "x509-svid", NULL);

        assert_int_equal(json_object_set_new(j, "x5c", json_pack("[s]", b64)), 0);
        return j;
}

/* {"keys": [@keys...]} with extra members merged from @top (may be NULL); steals refs. */
static char *bundle_json(json_t *top, size_t n, ...) {
        json_t *root = top ? top : json_object();
        json_t *keys = json_array();
        va_list ap;
        char *s;

        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(json_array_append_new(keys, va_arg(ap, json_t *)), 0);
        va_end(ap);
        assert_int_equal(json_object_set_new(root, "keys", keys), 0);
        s = json_dumps(root, JSON_COMPACT);
        assert_non_null(s);
        json_decref(root);
        return s;
}

static int parse(const char *json, SigilBundle **ret, SigilErr *err) {
        return sigil_bundle_from_spiffe_json(TD, json, strlen(json), ret, err);
}

static SigilBundle *parse_ok(const char *json) {
        SigilBundle *b = NULL;
        SigilErr err = {};

        if (parse(json, &b, &err) != 0)
                fail_msg("parse failed: %s\n%s", err.msg, json);
        return b;
}

static void expect_reject(const char *json, const char *reason) {
        SigilBundle *b = NULL;
        SigilErr err = {};
        int r = parse(json, &b, &err);

        if (r != -EINVAL || !strstr(err.msg, reason))
                fail_msg("expected -EINVAL \"%s\", got %d \"%s\"\n%s", reason, r, err.msg, json);
        assert_null(b);
}

static void test_spec_example(void **state) {
        _cleanup_(freep) char *json = bundle_json(
                json_pack("{s:i, s:i}", "spiffe_sequence", 1, "spiffe_refresh_hint", 2419200), 2,
                x509_jwk(ca_rsa), jwk(k_p256, "jwt-svid", "k1"));
        _cleanup_(sigil_bundle_freep) SigilBundle *b = parse_ok(json);

        assert_string_equal(b->td.name, TD);
        assert_int_equal(sk_X509_num(b->x509_authorities), 1);
        assert_int_equal(X509_cmp(sk_X509_value(b->x509_authorities, 0), ca_rsa), 0);
        assert_int_equal(b->n_jwt_authorities, 1);
        assert_string_equal(b->jwt_authorities[0].kid, "k1");
        assert_int_equal(EVP_PKEY_eq(b->jwt_authorities[0].key, k_p256), 1);
        assert_int_equal(b->sequence, 1);
        assert_int_equal(b->refresh_hint_sec, 2419200);     /* BUNDLE-03: seconds (28 days) */
}

static void test_sequence_precision(void **state) {
        /* BUNDLE-02: above 2^53 a float64 parser would round to ...992 */
        static const char json[] = "{\"spiffe_sequence\":9007199254740993,\"keys\":[]}";
        _cleanup_(sigil_bundle_freep) SigilBundle *b = parse_ok(json);
        _cleanup_(sigil_bundle_freep) SigilBundle *again = NULL;
        _cleanup_(freep) char *out = NULL;

        assert_true(b->sequence == UINT64_C(9007199254740993));
        assert_int_equal(sigil_bundle_to_spiffe_json(b, &out), 0);
        assert_non_null(strstr(out, "9007199254740993"));
        again = parse_ok(out);
        assert_true(again->sequence == UINT64_C(9007199254740993));

        b->sequence = UINT64_C(9223372036854775807);
        free(TAKE_PTR(out));
        assert_int_equal(sigil_bundle_to_spiffe_json(b, &out), 0);
        sigil_bundle_free(TAKE_PTR(again));
        again = parse_ok(out);
        assert_true(again->sequence == UINT64_C(9223372036854775807));
        b->sequence = UINT64_C(9223372036854775808);
        free(TAKE_PTR(out));
        assert_int_equal(sigil_bundle_to_spiffe_json(b, &out), -ERANGE);

        expect_reject("{\"spiffe_sequence\":18446744073709551615,\"keys\":[]}",
                      "invalid bundle JSON");
        expect_reject("{\"spiffe_sequence\":1.0,\"keys\":[]}", "non-negative integer");
        expect_reject("{\"spiffe_sequence\":\"1\",\"keys\":[]}", "non-negative integer");
        expect_reject("{\"spiffe_sequence\":-1,\"keys\":[]}", "non-negative integer");
        expect_reject("{\"spiffe_refresh_hint\":1e3,\"keys\":[]}", "non-negative integer");
}

static void test_keys_member(void **state) {
        _cleanup_(sigil_bundle_freep) SigilBundle *empty = parse_ok("{\"keys\":[]}");
        _cleanup_(sigil_bundle_freep) SigilBundle *extra = parse_ok(
                "{\"keys\":[],\"future_member\":{\"x\":[1,2]},\"spiffe_refresh_hint\":300}");

        /* BUNDLE-04 */
        assert_int_equal(sk_X509_num(empty->x509_authorities), 0);
        assert_int_equal(empty->n_jwt_authorities, 0);
        assert_int_equal(empty->sequence, 0);
        /* BUNDLE-01 */
        assert_int_equal(extra->refresh_hint_sec, 300);
        expect_reject("{}", "no \"keys\"");
        expect_reject("{\"spiffe_sequence\":1}", "no \"keys\"");
        expect_reject("{\"keys\":{}}", "not an array");
        expect_reject("{\"keys\":[1]}", "not an object");
        expect_reject("[]", "not an object");
        expect_reject("{\"keys\":[]", "invalid bundle JSON");
        expect_reject("{\"keys\":[]} x", "invalid bundle JSON");
        expect_reject("", "empty");
}

static void test_duplicate_json_keys(void **state) {
        expect_reject("{\"keys\":[],\"keys\":[]}", "duplicate");
        expect_reject("{\"keys\":[{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"use\":\"x509-svid\"}]}",
                      "duplicate");
        expect_reject("{\"spiffe_sequence\":1,\"spiffe_sequence\":2,\"keys\":[]}", "duplicate");
}

static void test_skipped_keys(void **state) {
        json_t *okp = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "use", "jwt-svid", "kid",
                                "ed", "crv", "Ed25519", "x",
                                "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        json_t *no_use = jwk(k_p384, NULL, "no-use");
        json_t *foo = jwk(k_p384, "foo", "foo");
        json_t *upper = jwk(k_p384, "X509-SVID", "upper");
        json_t *upper_jwt = jwk(k_p384, "JWT-SVID", "upper-jwt");
        json_t *wit = jwk(k_p384, "wit-svid", "wit");
        json_t *sig = jwk(k_p384, "sig", "sig");
        json_t *curve = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "use", "jwt-svid",
                                  "kid", "k1", "crv", "secp256k1", "x", "AA", "y", "AA");
        _cleanup_(freep) char *json = bundle_json(NULL, 9, okp, no_use, foo, upper, upper_jwt, wit,
                                                  sig, curve, jwk(k_p256, "jwt-svid", "good"));
        _cleanup_(sigil_bundle_freep) SigilBundle *b = parse_ok(json);

        /* BUNDLE-05, BUNDLE-08: only the valid entry is loaded */
        assert_int_equal(b->n_jwt_authorities, 1);
        assert_string_equal(b->jwt_authorities[0].kid, "good");
        assert_int_equal(sk_X509_num(b->x509_authorities), 0);
        expect_reject("{\"keys\":[{\"kty\":\"EC\",\"use\":1}]}", "\"use\" is not a string");
        expect_reject("{\"keys\":[{\"use\":\"jwt-svid\",\"kid\":\"a\"}]}", "no \"kty\"");
}

static void test_x5c_rules(void **state) {
        _cleanup_(freep) char *ec = cert_b64(ca_ec), *rsa = cert_b64(ca_rsa);
        json_t *no_x5c = jwk(k_p384, "x509-svid", NULL);
        json_t *empty = jwk(k_p384, "x509-svid", NULL);
        json_t *two = jwk(k_p256, "x509-svid", NULL);
        json_t *bare = json_pack("{s:s, s:s, s:[s]}", "kty", "RSA", "use", "x509-svid", "x5c", rsa);
        _cleanup_(freep) char *json = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;

        assert_int_equal(json_object_set_new(empty, "x5c", json_array()), 0);
        /* X509-21: only the first of two certificates is used */
        assert_int_equal(json_object_set_new(two, "x5c", json_pack("[s,s]", ec, rsa)), 0);
        json = bundle_json(NULL, 4, no_x5c, empty, two, bare);
        b = parse_ok(json);
        assert_int_equal(sk_X509_num(b->x509_authorities), 2);
        assert_int_equal(X509_cmp(sk_X509_value(b->x509_authorities, 0), ca_ec), 0);
        assert_int_equal(X509_cmp(sk_X509_value(b->x509_authorities, 1), ca_rsa), 0);
        assert_int_equal(b->n_jwt_authorities, 0);
        free(TAKE_PTR(json));

        /* a kid on an x509-svid key is tolerated on input */
        json = bundle_json(NULL, 1, json_pack("{s:s, s:s, s:s, s:[s]}", "kty", "EC", "use",
                                              "x509-svid", "kid", "k", "x5c", ec));
        sigil_bundle_free(TAKE_PTR(b));
        b = parse_ok(json);
        assert_int_equal(sk_X509_num(b->x509_authorities), 1);
}

/* A bundle with one x509-svid JWK of kty @kty and x5c [@x5c] must be rejected. */
static void expect_x509_reject(const char *kty, const char *x5c, const char *reason) {
        _cleanup_(freep) char *json = bundle_json(NULL, 1,
                                                  json_pack("{s:s, s:s, s:[s]}", "kty", kty, "use",
                                                            "x509-svid", "x5c", x5c));

        expect_reject(json, reason);
}

static void test_x5c_rejected(void **state) {
        _cleanup_(freep) char *ec = cert_b64(ca_ec), *lf = cert_b64(leaf);
        _cleanup_(freep) char *p384 = cert_b64(ca_p384);
        _cleanup_(freep) char *trailing = NULL, *url = NULL, *unpadded = NULL, *json = NULL;
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        unsigned char *der2;
        json_t *mismatch;
        int n;

        expect_x509_reject("EC", lf, "not a CA certificate");
        expect_x509_reject("RSA", ec, "not of kty RSA");
        expect_x509_reject("EC", "not base64!", "not base64");
        expect_x509_reject("EC", "AAAA", "not a DER certificate");

        /* trailing bytes after the DER certificate */
        n = i2d_X509(ca_ec, &der);
        der2 = malloc((size_t) n + 2);
        assert_non_null(der2);
        memcpy(der2, der, (size_t) n);
        der2[n] = 0;
        der2[n + 1] = 0;
        assert_int_equal(base64_encode(der2, (size_t) n + 2, &trailing), 0);
        free(der2);
        expect_x509_reject("EC", trailing, "not a DER certificate");

        /* x5c is standard padded base64, never base64url or unpadded */
        url = strdup(ec);
        unpadded = strdup(ec);
        assert_non_null(url);
        assert_non_null(unpadded);
        for (char *c = url; *c; c++)
                *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        if (!streq(url, ec))
                expect_x509_reject("EC", url, "not base64");
        if (strchr(unpadded, '=')) {
                *strchr(unpadded, '=') = '\0';
                expect_x509_reject("EC", unpadded, "not base64");
        }

        /* RFC 7517 §4.7: the members must describe the certificate's key */
        mismatch = jwk(k_p384, "x509-svid", NULL);
        assert_int_equal(json_object_set_new(mismatch, "x5c", json_pack("[s]", ec)), 0);
        assert_int_equal(json_object_set_new(mismatch, "crv", json_string("P-256")), 0);
        json = bundle_json(NULL, 1, mismatch);
        expect_reject(json, "");
        free(TAKE_PTR(json));
        mismatch = jwk(k_p256, "x509-svid", NULL);
        assert_int_equal(json_object_set_new(mismatch, "x5c", json_pack("[s]", p384)),
                         0);
        json = bundle_json(NULL, 1, mismatch);
        expect_reject(json, "does not match");
        free(TAKE_PTR(json));
        json = bundle_json(NULL, 1, json_pack("{s:s, s:s, s:i}", "kty", "EC", "use", "x509-svid",
                                              "x5c", 1));
        expect_reject(json, "x5c is not an array");
        free(TAKE_PTR(json));
        json = bundle_json(NULL, 1, json_pack("{s:s, s:s, s:[i]}", "kty", "EC", "use", "x509-svid",
                                              "x5c", 1));
        expect_reject(json, "x5c element is not a string");
}

static void test_x5c_key_types(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *p224 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                                                         (size_t) 1024);
        _cleanup_(X509_freep) X509 *ca224 = NULL, *ca1024 = NULL;
        _cleanup_(freep) char *b224 = NULL, *b1024 = NULL, *json = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;

        assert_non_null(p224);
        assert_non_null(rsa1024);
        ca224 = make_cert(p224, "ca-p224", true);
        ca1024 = make_cert(rsa1024, "ca-rsa1024", true);
        b224 = cert_b64(ca224);
        b1024 = cert_b64(ca1024);
        /* a CA on a curve JWK cannot name is skipped, like an unknown "crv" */
        json = bundle_json(NULL, 2,
                           json_pack("{s:s, s:s, s:[s]}", "kty", "EC", "use", "x509-svid", "x5c",
                                     b224),
                           x509_jwk(ca_ec));
        b = parse_ok(json);
        assert_int_equal(sk_X509_num(b->x509_authorities), 1);
        assert_int_equal(X509_cmp(sk_X509_value(b->x509_authorities, 0), ca_ec), 0);
        /* a 1024-bit RSA CA is refused, as a 1024-bit JWT key is */
        expect_x509_reject("RSA", b1024, "RSA key size");
}

static void test_x5c_corrupt_key(void **state) {
        /* found by fuzz-bundle: the certificate signature is not checked, its key must be */
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        _cleanup_(BN_freep) BIGNUM *n = NULL;
        _cleanup_(freep) char *b64 = NULL;
        uint8_t mod[256];
        uint8_t *at;
        int n_der;

        assert_int_equal(EVP_PKEY_get_bn_param(k_rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(BN_bn2bin(n, mod), 256);
        n_der = i2d_X509(ca_rsa, &der);
        assert_true(n_der > 0);
        at = memmem(der, (size_t) n_der, mod, sizeof(mod));
        assert_non_null(at);
        at[255] ^= 1;           /* an even modulus */
        assert_int_equal(base64_encode(der, (size_t) n_der, &b64), 0);
        expect_x509_reject("RSA", b64, "x5c certificate key");
}

static void test_jwt_keys(void **state) {
        _cleanup_(freep) char *no_kid = bundle_json(NULL, 1, jwk(k_p256, "jwt-svid", NULL));
        _cleanup_(freep) char *empty_kid = bundle_json(NULL, 1, jwk(k_p256, "jwt-svid", ""));
        _cleanup_(freep) char *dup = bundle_json(NULL, 2, jwk(k_p256, "jwt-svid", "k"),
                                                 jwk(k_p384, "jwt-svid", "k"));
        _cleanup_(freep) char *same = bundle_json(NULL, 2, jwk(k_p256, "jwt-svid", "k"),
                                                  jwk(k_p256, "jwt-svid", "k"));
        _cleanup_(freep) char *all = bundle_json(NULL, 4, jwk(k_p256, "jwt-svid", "a"),
                                                 jwk(k_p384, "jwt-svid", "b"),
                                                 jwk(k_p521, "jwt-svid", "c"),
                                                 jwk(k_rsa, "jwt-svid", "d"));
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        json_t *num = jwk(k_p256, "jwt-svid", NULL);
        _cleanup_(freep) char *num_kid = NULL;

        /* JWT-14 */
        expect_reject(no_kid, "JWT key without \"kid\"");
        expect_reject(empty_kid, "JWT key without \"kid\"");
        assert_int_equal(json_object_set_new(num, "kid", json_integer(1)), 0);
        num_kid = bundle_json(NULL, 1, num);
        expect_reject(num_kid, "JWT key without \"kid\"");
        expect_reject(dup, "share one \"kid\"");
        b = parse_ok(same);
        assert_int_equal(b->n_jwt_authorities, 1);
        sigil_bundle_free(TAKE_PTR(b));
        b = parse_ok(all);
        assert_int_equal(b->n_jwt_authorities, 4);
        assert_int_equal(EVP_PKEY_eq(sigil_bundle_find_jwt_authority(b, "a")->key, k_p256), 1);
        assert_int_equal(EVP_PKEY_eq(sigil_bundle_find_jwt_authority(b, "b")->key, k_p384), 1);
        assert_int_equal(EVP_PKEY_eq(sigil_bundle_find_jwt_authority(b, "c")->key, k_p521), 1);
        assert_int_equal(EVP_PKEY_eq(sigil_bundle_find_jwt_authority(b, "d")->key, k_rsa), 1);
}

/* A jwt-svid JWK of @key with member @name replaced by base64url(@data). */
static char *jwk_with(EVP_PKEY *key, const char *name, const uint8_t *data, size_t n) {
        _cleanup_(freep) char *s = NULL;
        json_t *j = jwk(key, "jwt-svid", "k");

        assert_int_equal(base64url_encode(data, n, &s, NULL), 0);
        assert_int_equal(json_object_set_new(j, name, json_string(s)), 0);
        return bundle_json(NULL, 1, j);
}

static size_t member_bytes(json_t *j, const char *name, uint8_t *buf, size_t size) {
        _cleanup_(freep) uint8_t *raw = NULL;
        json_t *v = json_object_get(j, name);
        size_t n;

        assert_int_equal(
                base64url_decode(json_string_value(v), json_string_length(v), &raw, &n), 0);
        assert_true(n <= size);
        memcpy(buf, raw, n);
        return n;
}

static void test_jwk_strict(void **state) {
        _cleanup_(json_decrefp) json_t *ec = jwk(k_p256, NULL, NULL);
        _cleanup_(json_decrefp) json_t *p521 = jwk(k_p521, NULL, NULL);
        _cleanup_(json_decrefp) json_t *rsa = jwk(k_rsa, NULL, NULL);
        uint8_t buf[600], n_lead[600];
        size_t n;
        char *json;

        /* coordinates one byte short */
        n = member_bytes(ec, "x", buf, sizeof(buf));
        assert_int_equal(n, 32);
        json = jwk_with(k_p256, "x", buf + 1, n - 1);
        expect_reject(json, "must be 32 bytes");
        free(json);
        /* a point off the curve */
        n = member_bytes(ec, "y", buf, sizeof(buf));
        buf[31] ^= 1;
        json = jwk_with(k_p256, "y", buf, n);
        expect_reject(json, "not on curve");
        free(json);
        /* P-521: x + p still fits in 66 bytes, and must not be accepted */
        {
                _cleanup_(BN_freep) BIGNUM *x = NULL, *p = BN_new();

                assert_non_null(p);
                n = member_bytes(p521, "x", buf, sizeof(buf));
                assert_int_equal(n, 66);
                x = BN_bin2bn(buf, (int) n, NULL);
                assert_int_equal(BN_set_bit(p, 521), 1);
                assert_int_equal(BN_sub_word(p, 1), 1);
                assert_int_equal(BN_add(x, x, p), 1);
                assert_int_equal(BN_bn2binpad(x, buf, 66), 66);
                json = jwk_with(k_p521, "x", buf, 66);
                expect_reject(json, "not on curve");
                free(json);
        }
        /* RSA: no leading zero octet, at least 2048 bits */
        n = member_bytes(rsa, "n", buf, sizeof(buf));
        assert_int_equal(n, 256);
        n_lead[0] = 0;
        memcpy(n_lead + 1, buf, n);
        json = jwk_with(k_rsa, "n", n_lead, n + 1);
        expect_reject(json, "not minimal");
        free(json);
        json = jwk_with(k_rsa, "n", buf, 128);
        expect_reject(json, "modulus must be 2048..8192 bits");
        free(json);
        json = jwk_with(k_rsa, "e", (const uint8_t *) "\x01\x00\x00", 3);
        expect_reject(json, "exponent");
        free(json);
        /* private members are refused, not stripped */
        json = jwk_with(k_p256, "d", buf, 32);
        expect_reject(json, "private key material");
        free(json);
        /* padded base64url */
        {
                json_t *j = jwk(k_p256, "jwt-svid", "k");
                char padded[128];

                (void) snprintf(padded, sizeof(padded), "%s=",
                                json_string_value(json_object_get(j, "x")));
                assert_int_equal(json_object_set_new(j, "x", json_string(padded)), 0);
                json = bundle_json(NULL, 1, j);
                expect_reject(json, "not base64url");
                free(json);
        }
}

static void test_jwk_from_pkey(void **state) {
        _cleanup_(json_decrefp) json_t *p521 = jwk(k_p521, NULL, NULL);
        _cleanup_(json_decrefp) json_t *rsa = jwk(k_rsa, NULL, NULL);
        _cleanup_(BN_freep) BIGNUM *x = NULL, *n = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *back = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        uint8_t buf[600], want[600];
        json_t *j = NULL;

        /* checked against OpenSSL's own numbers, not against jwk_to_pkey() */
        assert_string_equal(json_string_value(json_object_get(p521, "kty")), "EC");
        assert_string_equal(json_string_value(json_object_get(p521, "crv")), "P-521");
        assert_int_equal(json_string_length(json_object_get(p521, "x")), 88);
        assert_int_equal(EVP_PKEY_get_bn_param(k_p521, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
        assert_int_equal(BN_bn2binpad(x, want, 66), 66);
        assert_int_equal(member_bytes(p521, "x", buf, sizeof(buf)), 66);
        assert_memory_equal(buf, want, 66);
        assert_null(json_object_get(p521, "d"));

        assert_string_equal(json_string_value(json_object_get(rsa, "kty")), "RSA");
        assert_string_equal(json_string_value(json_object_get(rsa, "e")), "AQAB");
        assert_int_equal(EVP_PKEY_get_bn_param(k_rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(BN_bn2bin(n, want), 256);
        assert_int_equal(member_bytes(rsa, "n", buf, sizeof(buf)), 256);
        assert_memory_equal(buf, want, 256);
        assert_null(json_object_get(rsa, "d"));

        assert_int_equal(jwk_to_pkey(rsa, &back, NULL), 0);
        assert_int_equal(EVP_PKEY_eq(back, k_rsa), 1);
        assert_non_null(ed);
        assert_int_equal(jwk_from_pkey(ed, &j), -EOPNOTSUPP);
        assert_null(j);
}

static void test_emit_spiffe(void **state) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL, *again = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(freep) char *out = NULL, *want_x5c = cert_b64(ca_ec);
        size_t i, n_x509 = 0, n_jwt = 0;
        json_t *k;

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, ca_ec), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, ca_rsa), 0);
        assert_int_equal(sigil_bundle_add_jwt_authority(b, "j1", k_p256, 0), 0);
        assert_int_equal(sigil_bundle_add_jwt_authority(b, "j2", k_rsa, 0), 0);
        b->sequence = 7;
        b->refresh_hint_sec = 300;
        assert_int_equal(sigil_bundle_to_spiffe_json(b, &out), 0);

        root = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(root);
        assert_int_equal(json_integer_value(json_object_get(root, "spiffe_sequence")), 7);
        assert_int_equal(json_integer_value(json_object_get(root, "spiffe_refresh_hint")), 300);
        json_array_foreach(json_object_get(root, "keys"), i, k) {
                const char *use = json_string_value(json_object_get(k, "use"));

                assert_non_null(use);
                if (streq(use, "x509-svid")) {
                        /* X509-20: no kid, exactly one padded standard base64 certificate */
                        json_t *x5c = json_object_get(k, "x5c");

                        assert_null(json_object_get(k, "kid"));
                        assert_int_equal(json_array_size(x5c), 1);
                        if (n_x509 == 0)
                                assert_string_equal(json_string_value(json_array_get(x5c, 0)),
                                                    want_x5c);
                        n_x509++;
                } else {
                        /* JWT-14: a non-empty kid */
                        assert_string_equal(use, "jwt-svid");
                        assert_true(json_string_length(json_object_get(k, "kid")) > 0);
                        assert_null(json_object_get(k, "x5c"));
                        n_jwt++;
                }
        }
        assert_int_equal(n_x509, 2);
        assert_int_equal(n_jwt, 2);

        again = parse_ok(out);
        assert_true(sigil_bundle_equal_authorities(b, again));
        assert_int_equal(again->sequence, 7);
        assert_int_equal(again->refresh_hint_sec, 300);
}

static void test_plain_jwks(void **state) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL, *again = NULL, *other = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(freep) char *out = NULL;
        SigilErr err = {};
        size_t i;
        json_t *k;

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, ca_ec), 0);
        assert_int_equal(sigil_bundle_add_jwt_authority(b, "j1", k_p256, 0), 0);
        assert_int_equal(sigil_bundle_add_jwt_authority(b, "j2", k_p384, 0), 0);
        b->sequence = 7;
        b->refresh_hint_sec = 300;
        assert_int_equal(sigil_bundle_to_jwt_jwks_json(b, &out), 0);

        /* DIV-17: kid, no use, no SPIFFE members, no X.509 keys */
        root = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(root);
        assert_int_equal(json_object_size(root), 1);
        assert_int_equal(json_array_size(json_object_get(root, "keys")), 2);
        json_array_foreach(json_object_get(root, "keys"), i, k) {
                assert_non_null(json_object_get(k, "kid"));
                assert_null(json_object_get(k, "use"));
                assert_null(json_object_get(k, "x5c"));
        }

        assert_int_equal(sigil_bundle_from_jwks_json(TD, out, strlen(out), &again, &err), 0);
        assert_int_equal(sk_X509_num(again->x509_authorities), 0);
        assert_int_equal(again->n_jwt_authorities, 2);
        assert_int_equal(EVP_PKEY_eq(sigil_bundle_find_jwt_authority(again, "j2")->key, k_p384), 1);

        /* in a plain JWKS, x509-svid keys are skipped and kid is still required */
        free(TAKE_PTR(out));
        out = bundle_json(NULL, 3, x509_jwk(ca_ec), jwk(k_p256, "sig", "s"),
                          jwk(k_p384, "enc", "e"));
        assert_int_equal(sigil_bundle_from_jwks_json(TD, out, strlen(out), &other, &err), 0);
        assert_int_equal(sk_X509_num(other->x509_authorities), 0);
        assert_int_equal(other->n_jwt_authorities, 1);
        assert_string_equal(other->jwt_authorities[0].kid, "s");
        free(TAKE_PTR(out));
        sigil_bundle_free(TAKE_PTR(other));
        out = bundle_json(NULL, 1, jwk(k_p256, NULL, NULL));
        assert_int_equal(sigil_bundle_from_jwks_json(TD, out, strlen(out), &other, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "kid"));
        assert_int_equal(sigil_bundle_from_jwks_json(TD, "{}", 2, &other, &err), -EINVAL);
        assert_null(other);
}

static void test_limits_and_garbage(void **state) {
        SigilBundle *b = NULL;
        SigilErr err = {};
        size_t n = SIGIL_BUNDLE_JSON_MAX + 1;
        char *big = malloc(n);

        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, "{\"keys\":[]}", 11);
        assert_int_equal(sigil_bundle_from_spiffe_json(TD, big, n, &b, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "larger than"));
        /* the same document below the cap parses (trailing whitespace is fine) */
        assert_int_equal(sigil_bundle_from_spiffe_json(TD, big, 4096, &b, &err), 0);
        sigil_bundle_free(TAKE_PTR(b));
        free(big);
        assert_int_equal(sigil_bundle_from_spiffe_json(TD, "{\"keys\":[]}\0", 12, &b, &err),
                         -EINVAL);
        assert_int_equal(sigil_bundle_from_spiffe_json("Bad TD", "{\"keys\":[]}", 11, &b, &err),
                         -EINVAL);
        assert_int_equal(sigil_bundle_from_spiffe_json(TD, "{\"keys\":[]}", 11, &b, &err), 0);
        sigil_bundle_free(b);
}

static void test_empty_bundle_invalidates(void **state) {
        /* BUNDLE-06: after loading an empty bundle, a token of that trust domain fails */
        static const char *const aud[] = { "a" };
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = NULL;
        _cleanup_(freep) char *token = NULL, *json = bundle_json(NULL, 1,
                                                                 jwk(k_p256, "jwt-svid", "k"));
        SigilBundleSet set = {};
        SigilSpiffeId sub;

        assert_int_equal(sigil_jwt_signer_new(k_p256, "k", SIGIL_JWT_ES256, &s, NULL), 0);
        assert_int_equal(sigil_spiffeid_from_string("spiffe://example.org/w", &sub, NULL), 0);
        SigilJwtClaims c = { .sub = &sub, .aud = aud, .n_aud = 1, .iat = 1000, .exp = 2000 };
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &token, NULL), 0);

        assert_int_equal(sigil_bundle_set_put(&set, parse_ok(json)), 0);
        assert_int_equal(sigil_jwtsvid_validate(token, strlen(token), &set, aud, 1, 1500, NULL,
                                                NULL),
                         0);
        assert_int_equal(sigil_bundle_set_put(&set, parse_ok("{\"keys\":[]}")), 0);
        assert_int_equal(sigil_jwtsvid_validate(token, strlen(token), &set, aud, 1, 1500, NULL,
                                                NULL),
                         -ENOENT);
        sigil_bundle_set_done(&set);
}

/* A PEM file of certificates: file order kept, duplicates dropped, errors name the file. */
static void test_certs_from_pem_file(void **state) {
        _cleanup_(freep) char *dir = test_mkdtemp();
        STACK_OF(X509) *certs = NULL;
        char path[4200], *pem = NULL;
        SigilErr err = {};
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/chain.pem", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        X509 *order[] = { leaf, ca_ec, leaf, ca_rsa };
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                assert_int_equal(sigil_x509_to_pem(order[i], &pem), 0);
                fputs(pem, f);
                free(pem);
        }
        assert_int_equal(fclose(f), 0);
        assert_int_equal(sigil_x509_certs_from_pem_file(path, &certs, &err), 0);
        assert_int_equal(sk_X509_num(certs), 3);
        assert_int_equal(X509_cmp(sk_X509_value(certs, 0), leaf), 0);
        assert_int_equal(X509_cmp(sk_X509_value(certs, 1), ca_ec), 0);
        assert_int_equal(X509_cmp(sk_X509_value(certs, 2), ca_rsa), 0);
        sk_X509_pop_free(certs, X509_free);
        certs = NULL;

        f = fopen(path, "we");
        assert_non_null(f);
        fputs("not a certificate\n", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(sigil_x509_certs_from_pem_file(path, &certs, &err), -EINVAL);
        assert_null(certs);
        assert_non_null(strstr(err.msg, path));
        (void) snprintf(path, sizeof(path), "%s/missing.pem", dir);
        err = (SigilErr) {};
        assert_int_equal(sigil_x509_certs_from_pem_file(path, &certs, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "cannot read"));
        rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_example),
                cmocka_unit_test(test_certs_from_pem_file),
                cmocka_unit_test(test_sequence_precision),
                cmocka_unit_test(test_keys_member),
                cmocka_unit_test(test_duplicate_json_keys),
                cmocka_unit_test(test_skipped_keys),
                cmocka_unit_test(test_x5c_rules),
                cmocka_unit_test(test_x5c_rejected),
                cmocka_unit_test(test_x5c_key_types),
                cmocka_unit_test(test_x5c_corrupt_key),
                cmocka_unit_test(test_jwt_keys),
                cmocka_unit_test(test_jwk_strict),
                cmocka_unit_test(test_jwk_from_pkey),
                cmocka_unit_test(test_emit_spiffe),
                cmocka_unit_test(test_plain_jwks),
                cmocka_unit_test(test_limits_and_garbage),
                cmocka_unit_test(test_empty_bundle_invalidates),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
