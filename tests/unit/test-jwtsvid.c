/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT-SVID signing and validation (spec-checklist §3). Tokens with hostile
 * headers or claims are forged here with OpenSSL directly (forge()), so the
 * validator is tested against signatures it did not make itself.
 */
#include "test-util.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "json-util.h"
#include "sigil/jwtsvid.h"
#include "ssl-util.h"

#define NOW UINT64_C(1700000000)
#define TD "example.org"
#define SUB "spiffe://example.org/workload"

/* Keys are expensive (RSA): made once for the whole file in setup_keys(). */
static EVP_PKEY *k_p256, *k_p384, *k_p521, *k_rsa, *k_other_p256;
static SigilBundleSet bundles;

static const char *const AUD[] = { "spiffe://example.org/db" };

static EVP_PKEY *keygen(const char *type, const char *curve_or_null, size_t bits) {
        EVP_PKEY *k = curve_or_null ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve_or_null)
                                    : EVP_PKEY_Q_keygen(NULL, NULL, type, bits);

        assert_non_null(k);
        return k;
}

static void bundle_add(const char *td, const char *kid, EVP_PKEY *key) {
        SigilBundle *b = (SigilBundle *) sigil_bundle_set_get(&bundles, td);

        if (!b) {
                assert_int_equal(sigil_bundle_new(td, &b), 0);
                assert_int_equal(sigil_bundle_set_put(&bundles, b), 0);
        }
        assert_int_equal(sigil_bundle_add_jwt_authority(b, kid, key, 0), 0);
}

static int setup_keys(void **state) {
        k_p256 = keygen("EC", "P-256", 0);
        k_p384 = keygen("EC", "P-384", 0);
        k_p521 = keygen("EC", "P-521", 0);
        k_rsa = keygen("RSA", NULL, 2048);
        k_other_p256 = keygen("EC", "P-256", 0);
        bundle_add(TD, "p256", k_p256);
        bundle_add(TD, "p384", k_p384);
        bundle_add(TD, "p521", k_p521);
        bundle_add(TD, "rsa", k_rsa);
        /* a P-384 key under a kid an ES256 token will name */
        bundle_add(TD, "mismatch", k_p384);
        bundle_add("other.org", "other", k_other_p256);
        return 0;
}

static int teardown_keys(void **state) {
        sigil_bundle_set_done(&bundles);
        EVP_PKEY_free(k_p256);
        EVP_PKEY_free(k_p384);
        EVP_PKEY_free(k_p521);
        EVP_PKEY_free(k_rsa);
        EVP_PKEY_free(k_other_p256);
        return 0;
}

static char *b64url(const void *p, size_t n) {
        char *s = NULL;

        assert_int_equal(base64url_encode(p, n, &s, NULL), 0);
        return s;
}

/* Sign @input as JWS @alg with OpenSSL, independently of lib/jwtsvid-sign.c. */
static char *jws_sign(EVP_PKEY *key, const char *alg, const char *input) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        const char *digest = strstr(alg, "384")   ? "SHA384"
                             : strstr(alg, "512") ? "SHA512"
                                                  : "SHA256";
        EVP_PKEY_CTX *pctx = NULL;
        uint8_t sig[1024], raw[132];
        size_t n_sig = sizeof(sig);

        assert_non_null(md);
        assert_int_equal(EVP_DigestSignInit_ex(md, &pctx, digest, NULL, NULL, key, NULL), 1);
        if (alg[0] == 'P') {
                assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
                assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
        }
        assert_int_equal(
                EVP_DigestSign(md, sig, &n_sig, (const uint8_t *) input, strlen(input)), 1);
        if (alg[0] == 'E') {
                const unsigned char *p = sig;
                ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) n_sig);
                int w = (EVP_PKEY_get_bits(key) + 7) / 8;

                assert_non_null(es);
                assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, w), w);
                assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + w, w), w);
                ECDSA_SIG_free(es);
                return b64url(raw, 2 * (size_t) w);
        }
        return b64url(sig, n_sig);
}

/* A compact JWS of the given header and payload JSON texts; key NULL: empty signature. */
static char *forge(EVP_PKEY *key, const char *alg, const char *header, const char *payload) {
        _cleanup_(freep) char *h = b64url(header, strlen(header));
        _cleanup_(freep) char *p = b64url(payload, strlen(payload));
        _cleanup_(freep) char *input = NULL, *sig = NULL;
        char *token;

        assert_true(asprintf(&input, "%s.%s", h, p) > 0);
        sig = key ? jws_sign(key, alg, input) : strdup("");
        assert_non_null(sig);
        assert_true(asprintf(&token, "%s.%s", input, sig) > 0);
        return token;
}

/* forge() with header {"alg":"ES256","kid":"p256","typ":"JWT"} and the P-256 key. */
static char *forge_claims(const char *payload) {
        return forge(k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"p256\",\"typ\":\"JWT\"}",
                     payload);
}

static int validate(const char *token, SigilJwtSvid **ret, SigilErr *err) {
        return sigil_jwtsvid_validate(token, strlen(token), &bundles, AUD, ELEMENTSOF(AUD), NOW,
                                      ret, err);
}

/* Assert @token is rejected with code @code and a reason containing @reason. */
static void expect_reject(const char *token, int code, const char *reason) {
        SigilJwtSvid *svid = NULL;
        SigilErr err = {};
        int r = validate(token, &svid, &err);

        if (r != code || !strstr(err.msg, reason))
                fail_msg("expected %d \"%s\", got %d \"%s\" for %s", code, reason, r, err.msg,
                         token);
        assert_null(svid);
}

static void expect_accept(const char *token) {
        SigilJwtSvid *svid = NULL;
        SigilErr err = {};
        int r = validate(token, &svid, &err);

        if (r != 0)
                fail_msg("expected success, got %d \"%s\" for %s", r, err.msg, token);
        assert_string_equal(svid->id.str, SUB);
        sigil_jwtsvid_free(svid);
}

#define CLAIMS(extra) "{\"sub\":\"" SUB "\",\"aud\":\"spiffe://example.org/db\"" extra "}"
#define EXP_OK ",\"exp\":1700000300"

static SigilJwtSigner *signer(EVP_PKEY *key, const char *kid, SigilJwtAlg alg) {
        SigilJwtSigner *s = NULL;
        SigilErr err = {};

        if (sigil_jwt_signer_new(key, kid, alg, &s, &err) != 0)
                fail_msg("signer: %s", err.msg);
        return s;
}

static char *sign(SigilJwtSigner *s, const char *const *aud, size_t n_aud, uint64_t iat,
                  uint64_t exp, json_t *extra) {
        SigilSpiffeId sub;
        SigilErr err = {};
        char *token = NULL;

        assert_int_equal(sigil_spiffeid_from_string(SUB, &sub, NULL), 0);
        SigilJwtClaims c = {
                .sub = &sub, .aud = aud, .n_aud = n_aud, .iat = iat, .exp = exp, .extra = extra,
        };
        if (sigil_jwt_signer_sign(s, &c, &token, &err) != 0)
                fail_msg("sign: %s", err.msg);
        return token;
}

/* The decoded JSON of part @idx (0 header, 1 payload) of @token. */
static json_t *token_part(const char *token, int idx) {
        _cleanup_(freep) uint8_t *raw = NULL;
        size_t off = 0, len, n;
        json_t *j;

        /* Offsets, not pointers: gcc 12 -O3 takes a pointer into @token for a dangling one. */
        for (int i = 0;; i++) {
                len = strcspn(token + off, ".");
                assert_int_equal(token[off + len], '.');
                if (i == idx)
                        break;
                off += len + 1;
        }
        assert_int_equal(base64url_decode(token + off, len, &raw, &n), 0);
        j = json_loadb((const char *) raw, n, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        return j;
}

static void test_round_trip_every_alg(void **state) {
        static const struct {
                SigilJwtAlg alg;
                const char *kid;
                EVP_PKEY **key;
        } cases[] = {
                { SIGIL_JWT_ES256, "p256", &k_p256 }, { SIGIL_JWT_ES384, "p384", &k_p384 },
                { SIGIL_JWT_ES512, "p521", &k_p521 }, { SIGIL_JWT_RS256, "rsa", &k_rsa },
                { SIGIL_JWT_RS384, "rsa", &k_rsa },   { SIGIL_JWT_RS512, "rsa", &k_rsa },
                { SIGIL_JWT_PS256, "rsa", &k_rsa },   { SIGIL_JWT_PS384, "rsa", &k_rsa },
                { SIGIL_JWT_PS512, "rsa", &k_rsa },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s =
                        signer(*cases[i].key, cases[i].kid, cases[i].alg);
                _cleanup_(freep) char *token = sign(s, AUD, 1, NOW - 5, NOW + 300, NULL);
                _cleanup_(json_decrefp) json_t *h = token_part(token, 0);
                _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
                SigilErr err = {};

                /* JWT-02: the header holds alg, kid, typ and nothing else */
                assert_int_equal(json_object_size(h), 3);
                assert_string_equal(json_string_value(json_object_get(h, "alg")),
                                    sigil_jwt_alg_to_string(cases[i].alg));
                assert_string_equal(json_string_value(json_object_get(h, "kid")), cases[i].kid);
                assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");

                if (validate(token, &svid, &err) != 0)
                        fail_msg("%s: %s", sigil_jwt_alg_to_string(cases[i].alg), err.msg);
                assert_string_equal(svid->id.str, SUB);
                assert_int_equal(svid->alg, cases[i].alg);
                assert_string_equal(svid->kid, cases[i].kid);
                assert_int_equal(svid->exp, NOW + 300);
                assert_int_equal(svid->iat, NOW - 5);
                assert_string_equal(svid->aud[0], AUD[0]);
                assert_null(svid->aud[1]);
                assert_int_equal(sigil_jwt_alg_from_string(sigil_jwt_alg_to_string(cases[i].alg)),
                                 cases[i].alg);
        }
}

static void test_alg_names(void **state) {
        assert_int_equal(sigil_jwt_alg_from_string("ES256"), SIGIL_JWT_ES256);
        assert_int_equal(sigil_jwt_alg_from_string("PS512"), SIGIL_JWT_PS512);
        assert_int_equal(sigil_jwt_alg_from_string("es256"), _SIGIL_JWT_ALG_INVALID);
        assert_int_equal(sigil_jwt_alg_from_string("HS256"), _SIGIL_JWT_ALG_INVALID);
        assert_int_equal(sigil_jwt_alg_from_string("none"), _SIGIL_JWT_ALG_INVALID);
        assert_int_equal(sigil_jwt_alg_from_string(NULL), _SIGIL_JWT_ALG_INVALID);
        assert_null(sigil_jwt_alg_to_string(_SIGIL_JWT_ALG_MAX));
}

static void test_aud_string_or_array(void **state) {
        static const char *const two[] = { "a", "spiffe://example.org/db" };
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = signer(k_p256, "p256",
                                                                      SIGIL_JWT_ES256);
        _cleanup_(freep) char *t1 = sign(s, AUD, 1, NOW, NOW + 60, NULL);
        _cleanup_(freep) char *t2 = sign(s, two, 2, NOW, NOW + 60, NULL);
        _cleanup_(json_decrefp) json_t *p1 = token_part(t1, 1);
        _cleanup_(json_decrefp) json_t *p2 = token_part(t2, 1);
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;

        assert_true(json_is_string(json_object_get(p1, "aud")));
        assert_true(json_is_array(json_object_get(p2, "aud")));
        assert_int_equal(json_array_size(json_object_get(p2, "aud")), 2);
        assert_int_equal(validate(t2, &svid, NULL), 0);
        assert_int_equal(strv_length(svid->aud), 2);
        assert_string_equal(svid->aud[0], "a");
}

static void test_extra_claims(void **state) {
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = signer(k_p256, "p256",
                                                                      SIGIL_JWT_ES256);
        _cleanup_(json_decrefp) json_t *extra = json_pack("{s:s, s:i, s:[i]}", "iss", "sigil",
                                                          "custom", 7, "list", 1);
        _cleanup_(json_decrefp) json_t *bad = json_pack("{s:s}", "sub", "spiffe://evil.org/x");
        _cleanup_(freep) char *token = sign(s, AUD, 1, NOW, NOW + 60, extra);
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        _cleanup_(freep) char *t2 = NULL;
        SigilSpiffeId sub;
        SigilErr err = {};

        /* JWT-12: extra claims survive and are returned */
        assert_int_equal(validate(token, &svid, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(svid->claims, "iss")), "sigil");
        assert_int_equal(json_integer_value(json_object_get(svid->claims, "custom")), 7);

        assert_int_equal(sigil_spiffeid_from_string(SUB, &sub, NULL), 0);
        SigilJwtClaims c = { .sub = &sub, .aud = AUD, .n_aud = 1, .iat = NOW, .exp = NOW + 60,
                             .jti = "id-1", .extra = bad };
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &t2, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "override"));
        assert_null(t2);

        c.extra = NULL;
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &t2, &err), 0);
        sigil_jwtsvid_free(TAKE_PTR(svid));
        assert_int_equal(validate(t2, &svid, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(svid->claims, "jti")), "id-1");
}

static void test_signer_rejects(void **state) {
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        _cleanup_(freep) unsigned char *der = NULL;
        const unsigned char *p;
        SigilErr err = {};
        int n;

        assert_int_equal(sigil_jwt_signer_new(k_p256, "k", SIGIL_JWT_ES384, &s, &err), -EINVAL);
        assert_int_equal(sigil_jwt_signer_new(k_p256, "k", SIGIL_JWT_RS256, &s, &err), -EINVAL);
        assert_int_equal(sigil_jwt_signer_new(k_rsa, "k", SIGIL_JWT_ES256, &s, &err), -EINVAL);
        assert_int_equal(sigil_jwt_signer_new(k_p256, "", SIGIL_JWT_ES256, &s, &err), -EINVAL);
        assert_int_equal(sigil_jwt_signer_new(k_p256, "k", _SIGIL_JWT_ALG_MAX, &s, &err), -EINVAL);
        /* a public key cannot sign */
        n = i2d_PUBKEY(k_p256, &der);
        assert_true(n > 0);
        p = der;
        pub = d2i_PUBKEY(NULL, &p, n);
        assert_non_null(pub);
        assert_int_equal(sigil_jwt_signer_new(pub, "k", SIGIL_JWT_ES256, &s, &err), -EINVAL);
        assert_null(s);

        s = signer(k_p256, "p256", SIGIL_JWT_ES256);
        SigilSpiffeId sub;
        char *t = NULL;
        assert_int_equal(sigil_spiffeid_from_string(SUB, &sub, NULL), 0);
        SigilJwtClaims c = { .sub = &sub, .aud = AUD, .n_aud = 0, .iat = NOW, .exp = NOW + 60 };
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &t, &err), -EINVAL);      /* no aud */
        c.n_aud = 1;
        c.exp = NOW;
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &t, &err), -EINVAL);      /* exp <= iat */
        static const char *const bad_utf8[] = { "\xc3\x28" };
        c.exp = NOW + 60;
        c.aud = bad_utf8;
        assert_int_equal(sigil_jwt_signer_sign(s, &c, &t, &err), -EINVAL);
        assert_null(t);
}

static void test_json_escaping(void **state) {
        static const char *const aud[] = { "quote\" back\\ nl\n \xc3\xa9" };
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = signer(k_p256, "p256",
                                                                      SIGIL_JWT_ES256);
        _cleanup_(freep) char *token = sign(s, aud, 1, NOW, NOW + 60, NULL);
        _cleanup_(json_decrefp) json_t *p = token_part(token, 1);
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;

        assert_string_equal(json_string_value(json_object_get(p, "aud")), aud[0]);
        assert_int_equal(sigil_jwtsvid_validate(token, strlen(token), &bundles, aud, 1, NOW, &svid,
                                                NULL),
                         0);
}

static void test_expiry(void **state) {
        _cleanup_(freep) char *expired = forge_claims(CLAIMS(",\"exp\":1699999940"));
        _cleanup_(freep) char *leeway = forge_claims(CLAIMS(",\"exp\":1699999990"));
        _cleanup_(freep) char *str = forge_claims(CLAIMS(",\"exp\":\"1700000300\""));
        _cleanup_(freep) char *flt = forge_claims(CLAIMS(",\"exp\":1700000300.0"));
        _cleanup_(freep) char *neg = forge_claims(CLAIMS(",\"exp\":-1"));
        _cleanup_(freep) char *missing = forge_claims(CLAIMS(""));

        expect_reject(expired, -EINVAL, "token has expired");
        expect_accept(leeway);          /* 10 s late is within SIGIL_JWT_LEEWAY_SEC */
        expect_reject(str, -EINVAL, "\"exp\" must be an integer");
        expect_reject(flt, -EINVAL, "\"exp\" must be an integer");
        expect_reject(neg, -EINVAL, "\"exp\" must be an integer");
        expect_reject(missing, -EINVAL, "no expiry");
}

static void test_not_before_and_issued_at(void **state) {
        _cleanup_(freep) char *nbf = forge_claims(CLAIMS(EXP_OK ",\"nbf\":1700000100"));
        _cleanup_(freep) char *nbf_ok = forge_claims(CLAIMS(EXP_OK ",\"nbf\":1700000010"));
        _cleanup_(freep) char *iat = forge_claims(CLAIMS(EXP_OK ",\"iat\":1700000100"));
        _cleanup_(freep) char *iat_ok = forge_claims(CLAIMS(EXP_OK ",\"iat\":1700000010"));
        _cleanup_(freep) char *iat_str = forge_claims(CLAIMS(EXP_OK ",\"iat\":\"1\""));

        expect_reject(nbf, -EINVAL, "not valid yet");
        expect_accept(nbf_ok);
        expect_reject(iat, -EINVAL, "issued in the future");
        expect_accept(iat_ok);
        expect_reject(iat_str, -EINVAL, "\"iat\" must be an integer");
}

static void test_audience(void **state) {
        _cleanup_(freep) char *wrong = forge_claims(
                "{\"sub\":\"" SUB "\",\"aud\":[\"audience\"]" EXP_OK "}");
        _cleanup_(freep) char *absent = forge_claims("{\"sub\":\"" SUB "\"" EXP_OK "}");
        _cleanup_(freep) char *empty = forge_claims("{\"sub\":\"" SUB "\",\"aud\":[]" EXP_OK "}");
        _cleanup_(freep) char *single = forge_claims(CLAIMS(EXP_OK));
        _cleanup_(freep) char *among = forge_claims(
                "{\"sub\":\"" SUB "\",\"aud\":[\"x\",\"spiffe://example.org/db\"]" EXP_OK "}");
        _cleanup_(freep) char *nonstr = forge_claims("{\"sub\":\"" SUB "\",\"aud\":[1]" EXP_OK "}");
        _cleanup_(freep) char *number = forge_claims("{\"sub\":\"" SUB "\",\"aud\":7" EXP_OK "}");
        static const char *const two[] = { "another", "spiffe://example.org/db" };
        SigilErr err = {};

        expect_reject(wrong, -EINVAL, "expected audience in [\"spiffe://example.org/db\"]");
        expect_reject(wrong, -EINVAL, "(audience=[\"audience\"])");
        expect_reject(absent, -EINVAL, "no audience");
        expect_reject(empty, -EINVAL, "audience is empty");
        expect_accept(single);
        expect_accept(among);
        expect_reject(nonstr, -EINVAL, "must be strings");
        expect_reject(number, -EINVAL, "string or an array");
        /* any one of several expected audiences suffices (DIV-12) */
        assert_int_equal(sigil_jwtsvid_validate(single, strlen(single), &bundles, two, 2, NOW,
                                                NULL, NULL),
                         0);
        /* an empty expected set is an error, never a skipped check */
        assert_int_equal(sigil_jwtsvid_validate(single, strlen(single), &bundles, AUD, 0, NOW,
                                                NULL, &err),
                         -EINVAL);
}

static void test_kid(void **state) {
        _cleanup_(freep) char *none = forge(k_p256, "ES256", "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
                                            CLAIMS(EXP_OK));
        _cleanup_(freep) char *empty = forge(k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"\"}",
                                             CLAIMS(EXP_OK));
        _cleanup_(freep) char *number = forge(k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":1}",
                                              CLAIMS(EXP_OK));
        _cleanup_(freep) char *unknown = forge(k_p256, "ES256",
                                               "{\"alg\":\"ES256\",\"kid\":\"nope\"}",
                                               CLAIMS(EXP_OK));

        expect_reject(none, -EINVAL, "no key ID");
        expect_reject(empty, -EINVAL, "no key ID");
        expect_reject(number, -EINVAL, "no key ID");
        expect_reject(unknown, -ENOENT, "key not found");
}

static void test_unsupported_algorithms(void **state) {
        _cleanup_(freep) unsigned char *spki = NULL;
        _cleanup_(freep) char *h = NULL, *p = NULL, *mac_b64 = NULL, *hs = NULL, *input = NULL;
        _cleanup_(freep) char *none = NULL, *none_sig = NULL, *eddsa = NULL, *noalg = NULL;
        _cleanup_(freep) char *lower = NULL;
        static const char hs_header[] = "{\"alg\":\"HS256\",\"kid\":\"p256\",\"typ\":\"JWT\"}";
        uint8_t mac[EVP_MAX_MD_SIZE];
        size_t n_mac;
        int n_spki;

        /* JWT-04: HMAC keyed with the bundle's public key bytes (alg confusion) */
        n_spki = i2d_PUBKEY(k_p256, &spki);
        assert_true(n_spki > 0);
        h = b64url(hs_header, strlen(hs_header));
        p = b64url(CLAIMS(EXP_OK), strlen(CLAIMS(EXP_OK)));
        assert_true(asprintf(&input, "%s.%s", h, p) > 0);
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, spki, (size_t) n_spki,
                                  (const uint8_t *) input, strlen(input), mac, sizeof(mac),
                                  &n_mac));
        mac_b64 = b64url(mac, n_mac);
        assert_true(asprintf(&hs, "%s.%s", input, mac_b64) > 0);
        expect_reject(hs, -EINVAL, "unsupported algorithm \"HS256\"");

        none = forge(NULL, "none", "{\"alg\":\"none\",\"kid\":\"p256\"}", CLAIMS(EXP_OK));
        expect_reject(none, -EINVAL, "unsupported algorithm \"none\"");
        none_sig = forge(NULL, "none", "{\"alg\":\"none\"}", CLAIMS(EXP_OK));
        expect_reject(none_sig, -EINVAL, "unsupported algorithm \"none\"");
        eddsa = forge(NULL, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"p256\"}", CLAIMS(EXP_OK));
        expect_reject(eddsa, -EINVAL, "unsupported algorithm \"EdDSA\"");
        lower = forge(k_p256, "ES256", "{\"alg\":\"es256\",\"kid\":\"p256\"}", CLAIMS(EXP_OK));
        expect_reject(lower, -EINVAL, "unsupported algorithm \"es256\"");
        noalg = forge(k_p256, "ES256", "{\"kid\":\"p256\"}", CLAIMS(EXP_OK));
        expect_reject(noalg, -EINVAL, "unsupported algorithm");
}

/* Replace the signature part of @token by base64url(@sig). */
static char *with_signature(const char *token, const uint8_t *sig, size_t n) {
        _cleanup_(freep) char *s = b64url(sig, n);
        const char *last = strrchr(token, '.');
        char *t;

        assert_true(asprintf(&t, "%.*s.%s", (int) (last - token), token, s) > 0);
        return t;
}

static void test_tampering(void **state) {
        _cleanup_(freep) char *good = forge_claims(CLAIMS(EXP_OK));
        _cleanup_(freep) char *other = forge_claims(
                "{\"sub\":\"spiffe://example.org/admin\",\"aud\":\"spiffe://example.org/db\"" EXP_OK
                "}");
        _cleanup_(freep) char *swapped = NULL, *flipped = NULL, *shorter = NULL, *der = NULL;
        _cleanup_(freep) uint8_t *sig = NULL;
        const char *g1 = strchr(good, '.'), *o1 = strchr(other, '.');
        const char *g2 = strchr(g1 + 1, '.'), *o2 = strchr(o1 + 1, '.');
        size_t n_sig;

        expect_accept(good);
        /* payload of one token with the signature of another */
        assert_true(asprintf(&swapped, "%.*s%.*s%s", (int) (g1 - good), good, (int) (o2 - o1), o1,
                             g2) > 0);
        expect_reject(swapped, -EINVAL, "signature verification failed");

        assert_int_equal(base64url_decode(g2 + 1, strlen(g2 + 1), &sig, &n_sig), 0);
        assert_int_equal(n_sig, 64);
        sig[10] ^= 0x01;
        flipped = with_signature(good, sig, n_sig);
        expect_reject(flipped, -EINVAL, "signature verification failed");
        sig[10] ^= 0x01;
        shorter = with_signature(good, sig, n_sig - 1);
        expect_reject(shorter, -EINVAL, "invalid signature length");

        /* a DER signature is not a JWS ECDSA signature */
        {
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = ECDSA_SIG_new();
                _cleanup_(openssl_freep) unsigned char *d = NULL;
                int n_d;

                assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
                                                BN_bin2bn(sig + 32, 32, NULL)),
                                 1);
                n_d = i2d_ECDSA_SIG(es, &d);
                assert_true(n_d > 0);
                der = with_signature(good, d, (size_t) n_d);
                expect_reject(der, -EINVAL, "invalid signature length");
        }
}

static void test_subject(void **state) {
        _cleanup_(freep) char *missing = forge_claims(
                "{\"aud\":\"spiffe://example.org/db\"" EXP_OK "}");
        _cleanup_(freep) char *invalid = forge_claims(
                "{\"sub\":\"invalid subject\",\"aud\":\"spiffe://example.org/db\"" EXP_OK "}");
        _cleanup_(freep) char *scheme = forge_claims(
                "{\"sub\":\"spiffeid://somewhere.over.the\",\"aud\":\"a\"" EXP_OK "}");
        _cleanup_(freep) char *number = forge_claims("{\"sub\":1,\"aud\":\"a\"" EXP_OK "}");
        _cleanup_(freep) char *foreign = forge_claims(
                "{\"sub\":\"spiffe://another.domain/w\",\"aud\":\"spiffe://example.org/db\"" EXP_OK
                "}");
        /* signed by other.org's key, names other.org's kid, but claims example.org */
        _cleanup_(freep) char *cross = forge(k_other_p256, "ES256",
                                             "{\"alg\":\"ES256\",\"kid\":\"other\"}",
                                             CLAIMS(EXP_OK));
        _cleanup_(freep) char *cross_ok = forge(
                k_other_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"other\"}",
                "{\"sub\":\"spiffe://other.org/w\",\"aud\":\"spiffe://example.org/db\"" EXP_OK "}");
        SigilJwtSvid *svid = NULL;

        expect_reject(missing, -EINVAL, "no subject");
        expect_reject(invalid, -EINVAL, "not a valid SPIFFE ID");
        expect_reject(scheme, -EINVAL, "not a valid SPIFFE ID");
        expect_reject(number, -EINVAL, "no subject");
        expect_reject(foreign, -ENOENT, "no bundle for trust domain \"another.domain\"");
        expect_reject(cross, -ENOENT, "key not found");
        assert_int_equal(validate(cross_ok, &svid, NULL), 0);
        assert_string_equal(svid->id.str, "spiffe://other.org/w");
        sigil_jwtsvid_free(svid);
}

static void test_key_must_fit_alg(void **state) {
        /* ES256 header naming a P-384 key: refused before any signature check */
        _cleanup_(freep) char *es256_p384 = forge(k_p256, "ES256",
                                                  "{\"alg\":\"ES256\",\"kid\":\"mismatch\"}",
                                                  CLAIMS(EXP_OK));
        _cleanup_(freep) char *es384 = forge(k_p384, "ES384",
                                             "{\"alg\":\"ES384\",\"kid\":\"mismatch\"}",
                                             CLAIMS(EXP_OK));
        _cleanup_(freep) char *rs_ec = forge(k_rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"p256\"}",
                                             CLAIMS(EXP_OK));
        _cleanup_(freep) char *es_rsa = forge(k_p256, "ES256",
                                              "{\"alg\":\"ES256\",\"kid\":\"rsa\"}",
                                              CLAIMS(EXP_OK));
        _cleanup_(freep) char *ps_as_rs = forge(k_rsa, "PS256",
                                                "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
                                                CLAIMS(EXP_OK));
        /* JWT-11: right kid, different key */
        _cleanup_(freep) char *other_key = forge(k_other_p256, "ES256",
                                                 "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
                                                 CLAIMS(EXP_OK));

        expect_reject(es256_p384, -EINVAL, "cannot be used with ES256");
        expect_accept(es384);
        expect_reject(rs_ec, -EINVAL, "cannot be used with RS256");
        expect_reject(es_rsa, -EINVAL, "cannot be used with ES256");
        expect_reject(ps_as_rs, -EINVAL, "signature verification failed");
        expect_reject(other_key, -EINVAL, "signature verification failed");
}

static void test_typ_and_crit(void **state) {
        _cleanup_(freep) char *other = forge(
                k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"p256\",\"typ\":\"OTHER\"}",
                CLAIMS(EXP_OK));
        _cleanup_(freep) char *empty = forge(k_p256, "ES256",
                                             "{\"alg\":\"ES256\",\"kid\":\"p256\",\"typ\":\"\"}",
                                             CLAIMS(EXP_OK));
        _cleanup_(freep) char *jose = forge(k_p256, "ES256",
                                            "{\"alg\":\"ES256\",\"kid\":\"p256\",\"typ\":\"JOSE\"}",
                                            CLAIMS(EXP_OK));
        _cleanup_(freep) char *absent = forge(k_p256, "ES256",
                                              "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
                                              CLAIMS(EXP_OK));
        _cleanup_(freep) char *crit = forge(
                k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"p256\",\"crit\":[\"exp\"]}",
                CLAIMS(EXP_OK));
        _cleanup_(freep) char *dup = forge(
                k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"p256\",\"alg\":\"ES256\"}",
                CLAIMS(EXP_OK));
        _cleanup_(freep) char *dup_claim = forge_claims(CLAIMS(EXP_OK ",\"exp\":1700000300"));
        _cleanup_(freep) char *array = forge(k_p256, "ES256", "[1]", CLAIMS(EXP_OK));
        _cleanup_(freep) char *payload_str = forge_claims("\"x\"");
        _cleanup_(freep) char *payload_arr = forge_claims("[" CLAIMS(EXP_OK) "]");

        expect_reject(other, -EINVAL, "unsupported token type \"OTHER\"");
        expect_reject(empty, -EINVAL, "unsupported token type \"\"");
        expect_accept(jose);
        expect_accept(absent);
        expect_reject(crit, -EINVAL, "crit");
        expect_reject(dup, -EINVAL, "header is not valid JSON");
        expect_reject(dup_claim, -EINVAL, "payload is not valid JSON");
        expect_reject(array, -EINVAL, "header is not a JSON object");
        expect_reject(payload_str, -EINVAL, "payload is not valid JSON");
        expect_reject(payload_arr, -EINVAL, "payload is not a JSON object");
}

static void test_serialization(void **state) {
        _cleanup_(freep) char *good = forge_claims(CLAIMS(EXP_OK));
        _cleanup_(freep) char *json = NULL, *four = NULL, *padded = NULL, *hdr_pad = NULL;
        _cleanup_(freep) char *space = NULL, *std = NULL;
        const char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
        char *big;
        size_t n;

        expect_reject("", -EINVAL, "empty token");
        expect_reject("abc", -EINVAL, "exactly 3 parts");
        assert_true(asprintf(&json,
                             "{\"payload\":\"%.*s\",\"protected\":\"%.*s\",\"signature\":\"%s\"}",
                             (int) (d2 - d1 - 1), d1 + 1, (int) (d1 - good), good, d2 + 1) > 0);
        expect_reject(json, -EINVAL, "JSON serialization");
        /* two parts */
        {
                char two[4096];

                (void) snprintf(two, sizeof(two), "%.*s", (int) (d2 - good), good);
                expect_reject(two, -EINVAL, "exactly 3 parts");
        }
        assert_true(asprintf(&four, "%s.", good) > 0);
        expect_reject(four, -EINVAL, "exactly 3 parts");
        assert_true(asprintf(&padded, "%s=", good) > 0);     /* 64-byte sig: 86 chars + '=' */
        expect_reject(padded, -EINVAL, "not valid base64url");
        assert_true(asprintf(&hdr_pad, "%.*s=%s", (int) (d1 - good), good, d1) > 0);
        expect_reject(hdr_pad, -EINVAL, "header is not valid base64url");
        assert_true(asprintf(&space, " %s", good) > 0);
        expect_reject(space, -EINVAL, "not valid base64url");
        /* standard base64 alphabet is not base64url */
        std = strdup(good);
        for (char *c = std; *c; c++)
                if (*c == '-')
                        *c = '+';
                else if (*c == '_')
                        *c = '/';
        if (!streq(std, good))
                expect_reject(std, -EINVAL, "base64url");

        /* an embedded NUL ends nothing: the length given is what counts */
        assert_int_equal(sigil_jwtsvid_validate(good, strlen(good) + 1, &bundles, AUD, 1, NOW,
                                                NULL, NULL),
                         -EINVAL);

        n = SIGIL_JWT_TOKEN_MAX + 1;
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'A', n);
        big[n] = '\0';
        expect_reject(big, -EINVAL, "larger than");
        free(big);
}

static void test_not_jwt_key(void **state) {
        /* JWT-15: a key that is only an X.509 authority never validates a JWT */
        SigilBundleSet set = {};
        SigilBundle *b = NULL;
        _cleanup_(freep) char *token = forge_claims(CLAIMS(EXP_OK));
        SigilErr err = {};

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_set_put(&set, b), 0);
        assert_int_equal(
                sigil_jwtsvid_validate(token, strlen(token), &set, AUD, 1, NOW, NULL, &err),
                -ENOENT);
        assert_non_null(strstr(err.msg, "key not found"));
        assert_int_equal(
                sigil_jwtsvid_validate(token, strlen(token), NULL, AUD, 1, NOW, NULL, &err),
                -ENOENT);
        sigil_bundle_set_done(&set);
}

static void test_parse_insecure(void **state) {
        _cleanup_(freep) char *tampered = forge(k_other_p256, "ES256",
                                                "{\"alg\":\"ES256\",\"kid\":\"p256\"}",
                                                CLAIMS(",\"exp\":1000"));
        _cleanup_(freep) char *none = forge(NULL, "none", "{\"alg\":\"none\",\"kid\":\"p256\"}",
                                            CLAIMS(EXP_OK));
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        SigilJwtSvid *s2 = NULL;
        SigilErr err = {};

        assert_int_equal(sigil_jwtsvid_parse_insecure(tampered, strlen(tampered), &svid, &err), 0);
        assert_string_equal(svid->id.str, SUB);
        assert_int_equal(svid->exp, 1000);
        assert_string_equal(svid->kid, "p256");
        assert_string_equal(svid->aud[0], "spiffe://example.org/db");
        assert_int_equal(sigil_jwtsvid_parse_insecure(none, strlen(none), &s2, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "unsupported algorithm"));
        assert_null(s2);
}

static void test_limits(void **state) {
        _cleanup_(freep) char *many = NULL, *json = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&json, &size);

        assert_non_null(f);
        fputs("{\"sub\":\"" SUB "\"" EXP_OK ",\"aud\":[", f);
        for (int i = 0; i <= SIGIL_JWT_AUDIENCES_MAX; i++)
                fprintf(f, "%s\"spiffe://example.org/db\"", i ? "," : "");
        fputs("]}", f);
        assert_int_equal(fclose(f), 0);
        many = forge_claims(json);
        expect_reject(many, -EINVAL, "more than");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_every_alg),
                cmocka_unit_test(test_alg_names),
                cmocka_unit_test(test_aud_string_or_array),
                cmocka_unit_test(test_extra_claims),
                cmocka_unit_test(test_signer_rejects),
                cmocka_unit_test(test_json_escaping),
                cmocka_unit_test(test_expiry),
                cmocka_unit_test(test_not_before_and_issued_at),
                cmocka_unit_test(test_audience),
                cmocka_unit_test(test_kid),
                cmocka_unit_test(test_unsupported_algorithms),
                cmocka_unit_test(test_tampering),
                cmocka_unit_test(test_subject),
                cmocka_unit_test(test_key_must_fit_alg),
                cmocka_unit_test(test_typ_and_crit),
                cmocka_unit_test(test_serialization),
                cmocka_unit_test(test_not_jwt_key),
                cmocka_unit_test(test_parse_insecure),
                cmocka_unit_test(test_limits),
        };

        return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
