/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT-SVID validation (spec-checklist §3): untrusted compact JWS -> a
 * validated SigilJwtSvid, or a reason.
 *
 * The checks run in the order jwtsvid.h documents, and the order matters:
 * the algorithm is checked against the allow-list before anything else is
 * looked at (JWT-03/04), so "none", HMAC and EdDSA tokens are rejected as
 * "unsupported algorithm" without ever reaching a key; the key is chosen by
 * the trust domain of "sub" and the "kid" (JWT-16), and must fit "alg"
 * exactly (an ES256 token is never checked with a P-384 key, nor an RS256
 * one with an EC key); the claims that decide acceptance (exp, nbf, iat,
 * aud) are only trusted after the signature.
 *
 * Strictness: exactly three base64url parts without padding or whitespace
 * (so the JSON serialization is refused, JWT-01); header and payload are JSON
 * objects without duplicate names; time claims are JSON integers (a string
 * or a float "exp" is refused); "crit" is refused since we implement no
 * extension. Leeway: SIGIL_JWT_LEEWAY_SEC on exp, nbf and iat (DIV-11).
 * Audiences: any expected value in "aud" suffices (DIV-12, as go-spiffe and
 * SPIRE), but an empty expected list is an error, never a skip.
 *
 * Reasons quote attacker-supplied strings only through sanitize(), which
 * keeps printable ASCII and truncates, so reasons are safe to log.
 */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "json-util.h"
#include "jwk.h"
#include "sigil/jwtsvid.h"
#include "ssl-util.h"

#define SANITIZE_MAX 64

typedef struct JwtToken {
        const char *input;      /* header "." payload: what the signature covers */
        size_t n_input;
        const char *sig_b64;
        size_t n_sig_b64;
        SigilJwtAlg alg;
        const JwkAlgInfo *info;
        const char *kid;        /* points into header */
        json_t *header;
        json_t *payload;
        SigilSpiffeId sub;
} JwtToken;

static void jwt_token_done(JwtToken *t) {
        json_decref(t->header);
        json_decref(t->payload);
}

/* Printable ASCII copy of @s for a reason text, truncated with "...". */
static const char *sanitize(const char *s, char *buf, size_t n_buf) {
        size_t i = 0;

        for (; s[i] && i + 4 < n_buf; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
        if (s[i])
                memcpy(buf + i, "...", 3), i += 3;
        buf[i] = '\0';
        return buf;
}

SigilJwtSvid *sigil_jwtsvid_free(SigilJwtSvid *svid) {
        if (!svid)
                return NULL;
        strv_free(svid->aud);
        json_decref(svid->claims);
        free(svid);
        return NULL;
}

/* Split the compact serialization into its three parts (JWT-01). */
static int split_token(const char *token, size_t n, JwtToken *t, const char **ret_payload,
                       size_t *ret_n_payload, SigilErr *reterr) {
        const char *dot1, *dot2;

        if (!token || n == 0)
                return sigil_err_set(reterr, -EINVAL, "empty token");
        if (n > SIGIL_JWT_TOKEN_MAX)
                return sigil_err_set(reterr, -EINVAL, "token larger than %u bytes",
                                     SIGIL_JWT_TOKEN_MAX);
        if (token[0] == '{')
                return sigil_err_set(reterr, -EINVAL,
                                     "JWS JSON serialization is not allowed for JWT-SVIDs");
        dot1 = memchr(token, '.', n);
        dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t) (dot1 + 1 - token)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', n - (size_t) (dot2 + 1 - token)))
                return sigil_err_set(reterr, -EINVAL,
                                     "token must have exactly 3 parts (JWS compact serialization)");
        t->input = token;
        t->n_input = (size_t) (dot2 - token);
        *ret_payload = dot1 + 1;
        *ret_n_payload = (size_t) (dot2 - dot1 - 1);
        t->sig_b64 = dot2 + 1;
        t->n_sig_b64 = n - t->n_input - 1;
        return 0;
}

/* base64url-decode one part and parse it as a JSON object. */
static int decode_part(const char *s, size_t n, const char *what, json_t **ret, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *raw = NULL;
        json_error_t jerr;
        size_t n_raw;
        json_t *j;

        if (n == 0 || base64url_decode(s, n, &raw, &n_raw) < 0)
                return sigil_err_set(reterr, -EINVAL, "token %s is not valid base64url", what);
        if (memchr(raw, '\0', n_raw))
                return sigil_err_set(reterr, -EINVAL, "token %s contains a NUL byte", what);
        j = json_loadb((const char *) raw, n_raw, SIGIL_JSON_DECODE_FLAGS, &jerr);
        if (!j)
                return sigil_err_set(reterr, -EINVAL, "token %s is not valid JSON: %s", what,
                                     jerr.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return sigil_err_set(reterr, -EINVAL, "token %s is not a JSON object", what);
        }
        *ret = j;
        return 0;
}

static int check_alg(JwtToken *t, SigilErr *reterr) {
        json_t *alg = json_object_get(t->header, "alg");
        char buf[SANITIZE_MAX];

        if (!json_is_string(alg))
                return sigil_err_set(reterr, -EINVAL, "unsupported algorithm (no \"alg\" string)");
        t->alg = sigil_jwt_alg_from_string(json_string_value(alg));
        if (t->alg < 0)
                return sigil_err_set(reterr, -EINVAL, "unsupported algorithm \"%s\"",
                                     sanitize(json_string_value(alg), buf, sizeof(buf)));
        t->info = jwk_alg_info(t->alg);
        return 0;
}

/* The JOSE header: alg first, then typ, kid and crit. */
static int check_header(JwtToken *t, SigilErr *reterr) {
        json_t *typ, *kid;
        char buf[SANITIZE_MAX];
        int r;

        r = check_alg(t, reterr);
        if (r < 0)
                return r;
        typ = json_object_get(t->header, "typ");
        if (typ && !(json_is_string(typ) && (streq(json_string_value(typ), "JWT") ||
                                             streq(json_string_value(typ), "JOSE"))))
                return sigil_err_set(reterr, -EINVAL, "unsupported token type \"%s\"",
                                     json_is_string(typ) ? sanitize(json_string_value(typ), buf,
                                                                    sizeof(buf))
                                                         : "?");
        kid = json_object_get(t->header, "kid");
        if (!json_is_string(kid) || json_string_length(kid) == 0)
                return sigil_err_set(reterr, -EINVAL, "token header has no key ID (\"kid\")");
        if (json_string_length(kid) > SIGIL_JWT_KID_MAX)
                return sigil_err_set(reterr, -EINVAL, "key ID longer than %d bytes",
                                     SIGIL_JWT_KID_MAX);
        t->kid = json_string_value(kid);
        if (json_object_get(t->header, "crit"))
                return sigil_err_set(reterr, -EINVAL, "unsupported critical header (\"crit\")");
        return 0;
}

static int check_subject(JwtToken *t, SigilErr *reterr) {
        json_t *sub = json_object_get(t->payload, "sub");
        SigilErr e = {};

        if (!json_is_string(sub) || json_string_length(sub) == 0)
                return sigil_err_set(reterr, -EINVAL, "token has no subject (\"sub\")");
        if (sigil_spiffeid_parse(json_string_value(sub), json_string_length(sub), &t->sub, &e) != 0)
                return sigil_err_set(reterr, -EINVAL, "subject is not a valid SPIFFE ID: %s",
                                     e.msg);
        return 0;
}

/* Everything before the signature: parts, header, payload, subject. */
static int jwt_token_parse(const char *token, size_t n, JwtToken *t, SigilErr *reterr) {
        const char *payload = NULL;
        size_t n_payload = 0;
        int r;

        r = split_token(token, n, t, &payload, &n_payload, reterr);
        if (r < 0)
                return r;
        r = decode_part(t->input, (size_t) (payload - 1 - t->input), "header", &t->header, reterr);
        if (r < 0)
                return r;
        r = check_header(t, reterr);
        if (r < 0)
                return r;
        r = decode_part(payload, n_payload, "payload", &t->payload, reterr);
        if (r < 0)
                return r;
        return check_subject(t, reterr);
}

/* r || s of an ES* signature -> DER ECDSA-Sig-Value. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t n_sig, uint8_t **ret, size_t *ret_n) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *esig = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int) (n_sig / 2), NULL);
        BIGNUM *s = BN_bin2bn(sig + n_sig / 2, (int) (n_sig / 2), NULL);
        unsigned char *der = NULL;
        int n_der;

        if (!esig || !r || !s || ECDSA_SIG_set0(esig, r, s) != 1) {
                BN_free(r);
                BN_free(s);
                return -ENOMEM;
        }
        n_der = i2d_ECDSA_SIG(esig, &der);
        if (n_der <= 0)
                return -ENOMEM;
        *ret = der;
        *ret_n = (size_t) n_der;
        return 0;
}

static int verify_init(EVP_MD_CTX *md, const JwkAlgInfo *info, EVP_PKEY *key) {
        EVP_PKEY_CTX *pctx = NULL;

        if (EVP_DigestVerifyInit_ex(md, &pctx, info->digest, NULL, NULL, key, NULL) != 1)
                return -EIO;
        if (info->family == JWK_ALG_RSA_PKCS1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
                return -EIO;
        if (info->family == JWK_ALG_RSA_PSS &&
            (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
             EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, info->digest, NULL) != 1 ||
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
                return -EIO;
        return 0;
}

static int verify_signature(const JwtToken *t, EVP_PKEY *key, SigilErr *reterr) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        _cleanup_(freep) uint8_t *sig = NULL;
        _cleanup_(openssl_freep) uint8_t *der = NULL;
        size_t n_sig = 0, n_der = 0, want;
        int r;

        if (t->n_sig_b64 == 0 || base64url_decode(t->sig_b64, t->n_sig_b64, &sig, &n_sig) < 0)
                return sigil_err_set(reterr, -EINVAL, "token signature is not valid base64url");
        want = t->info->family == JWK_ALG_ECDSA ? 2 * t->info->ec_field_size
                                                : (size_t) EVP_PKEY_get_size(key);
        if (n_sig != want)
                return sigil_err_set(reterr, -EINVAL, "invalid signature length %zu for %s",
                                     n_sig, t->info->name);
        if (t->info->family == JWK_ALG_ECDSA) {
                r = ecdsa_raw_to_der(sig, n_sig, &der, &n_der);
                if (r < 0)
                        return r;
        }
        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        r = verify_init(md, t->info, key);
        if (r < 0) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "cannot verify %s signatures with this key",
                                     t->info->name);
        }
        r = der ? EVP_DigestVerify(md, der, n_der, (const uint8_t *) t->input, t->n_input)
                : EVP_DigestVerify(md, sig, n_sig, (const uint8_t *) t->input, t->n_input);
        ERR_clear_error();
        if (r != 1)
                return sigil_err_set(reterr, -EINVAL, "signature verification failed");
        return 0;
}

/* The bundle of the subject's trust domain and the key named by kid, fitting alg. */
static int find_key(const JwtToken *t, const SigilBundleSet *bundles, EVP_PKEY **ret,
                    SigilErr *reterr) {
        const SigilJwtAuthority *a;
        const SigilBundle *b;
        SigilTrustDomain td;
        char buf[SANITIZE_MAX];

        sigil_spiffeid_trust_domain(&t->sub, &td);
        b = bundles ? sigil_bundle_set_get(bundles, td.name) : NULL;
        if (!b)
                return sigil_err_set(reterr, -ENOENT, "no bundle for trust domain \"%s\"",
                                     td.name);
        a = sigil_bundle_find_jwt_authority(b, t->kid);
        if (!a)
                return sigil_err_set(reterr, -ENOENT,
                                     "key not found: no key \"%s\" in the JWT bundle of \"%s\"",
                                     sanitize(t->kid, buf, sizeof(buf)), td.name);
        if (jwk_key_fits_alg(a->key, t->alg) < 0)
                return sigil_err_set(reterr, -EINVAL, "key \"%s\" cannot be used with %s",
                                     sanitize(t->kid, buf, sizeof(buf)), t->info->name);
        *ret = a->key;
        return 0;
}

/* An optional NumericDate claim; must be a JSON integer >= 0. Return: 1 present, 0 absent. */
static int get_time_claim(json_t *payload, const char *name, uint64_t *ret, SigilErr *reterr) {
        json_t *v = json_object_get(payload, name);

        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return sigil_err_set(reterr, -EINVAL, "\"%s\" must be an integer number of seconds",
                                     name);
        *ret = (uint64_t) json_integer_value(v);
        return 1;
}

static int parse_audience(json_t *payload, char ***ret, SigilErr *reterr) {
        _cleanup_(strv_freep) char **l = NULL;
        json_t *aud = json_object_get(payload, "aud"), *v;
        size_t n, i;

        if (!aud)
                return sigil_err_set(reterr, -EINVAL, "token has no audience (\"aud\")");
        if (!json_is_string(aud) && !json_is_array(aud))
                return sigil_err_set(reterr, -EINVAL, "\"aud\" must be a string or an array");
        n = json_is_string(aud) ? 1 : json_array_size(aud);
        if (n == 0)
                return sigil_err_set(reterr, -EINVAL, "token audience is empty");
        if (n > SIGIL_JWT_AUDIENCES_MAX)
                return sigil_err_set(reterr, -EINVAL, "token has more than %d audiences",
                                     SIGIL_JWT_AUDIENCES_MAX);
        l = new0(char *, n + 1);
        if (!l)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                v = json_is_string(aud) ? aud : json_array_get(aud, i);
                if (!json_is_string(v))
                        return sigil_err_set(reterr, -EINVAL, "\"aud\" values must be strings");
                l[i] = strdup(json_string_value(v));
                if (!l[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* The claims every JWT-SVID has, shape only: exp (required), iat, nbf, aud. */
static int parse_claims(const JwtToken *t, SigilJwtSvid *svid, uint64_t *ret_nbf,
                        SigilErr *reterr) {
        int r;

        r = get_time_claim(t->payload, "exp", &svid->exp, reterr);
        if (r == 0)
                return sigil_err_set(reterr, -EINVAL, "token has no expiry (\"exp\")");
        if (r < 0)
                return r;
        r = get_time_claim(t->payload, "iat", &svid->iat, reterr);
        if (r < 0)
                return r;
        r = get_time_claim(t->payload, "nbf", ret_nbf, reterr);
        if (r < 0)
                return r;
        return parse_audience(t->payload, &svid->aud, reterr);
}

static int check_times(const SigilJwtSvid *svid, uint64_t nbf, uint64_t now, SigilErr *reterr) {
        if (svid->exp + SIGIL_JWT_LEEWAY_SEC <= now)
                return sigil_err_set(reterr, -EINVAL, "token has expired");
        if (nbf > now + SIGIL_JWT_LEEWAY_SEC)
                return sigil_err_set(reterr, -EINVAL, "token is not valid yet (nbf)");
        if (svid->iat > now + SIGIL_JWT_LEEWAY_SEC)
                return sigil_err_set(reterr, -EINVAL, "token was issued in the future (iat)");
        return 0;
}

/* Append "[\"a\", \"b\"]" of @l (sanitized) to @buf. */
static void format_list(char *buf, size_t n_buf, const char *const *l, size_t n) {
        size_t len = 0;
        char tmp[SANITIZE_MAX];

        len += (size_t) snprintf(buf, n_buf, "[");
        for (size_t i = 0; i < n && len < n_buf; i++)
                len += (size_t) snprintf(buf + len, n_buf - len, "%s\"%s\"", i > 0 ? ", " : "",
                                         sanitize(l[i], tmp, sizeof(tmp)));
        if (len < n_buf)
                (void) snprintf(buf + len, n_buf - len, "]");
}

static int check_audience(char *const *aud, const char *const *expected, size_t n_expected,
                          SigilErr *reterr) {
        char want[192], got[192];

        for (size_t i = 0; i < n_expected; i++)
                for (char *const *a = aud; *a; a++)
                        if (expected[i] && streq(*a, expected[i]))
                                return 0;
        format_list(want, sizeof(want), expected, n_expected);
        format_list(got, sizeof(got), (const char *const *) aud, strv_length(aud));
        return sigil_err_set(reterr, -EINVAL, "expected audience in %s (audience=%s)", want, got);
}

static int svid_new(JwtToken *t, SigilJwtSvid **ret) {
        SigilJwtSvid *svid = new0(SigilJwtSvid, 1);

        if (!svid)
                return -ENOMEM;
        svid->id = t->sub;
        svid->alg = t->alg;
        (void) snprintf(svid->kid, sizeof(svid->kid), "%s", t->kid);
        svid->claims = json_incref(t->payload);
        *ret = svid;
        return 0;
}

int sigil_jwtsvid_validate(const char *token, size_t n_token, const SigilBundleSet *bundles,
                           const char *const *audience, size_t n_audience, uint64_t now,
                           SigilJwtSvid **ret, SigilErr *reterr) {
        _cleanup_(jwt_token_done) JwtToken t = {};
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        EVP_PKEY *key = NULL;
        uint64_t nbf = 0;
        int r;

        if (n_audience == 0 || !audience || n_audience > SIGIL_JWT_AUDIENCES_MAX)
                return sigil_err_set(reterr, -EINVAL, "no expected audience given");
        r = jwt_token_parse(token, n_token, &t, reterr);
        if (r < 0)
                return r;
        r = find_key(&t, bundles, &key, reterr);
        if (r < 0)
                return r;
        r = verify_signature(&t, key, reterr);
        if (r < 0)
                return r;
        r = svid_new(&t, &svid);
        if (r < 0)
                return r;
        r = parse_claims(&t, svid, &nbf, reterr);
        if (r < 0)
                return r;
        r = check_times(svid, nbf, now, reterr);
        if (r < 0)
                return r;
        r = check_audience(svid->aud, audience, n_audience, reterr);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(svid);
        return 0;
}

int sigil_jwtsvid_parse_insecure(const char *token, size_t n_token, SigilJwtSvid **ret,
                                 SigilErr *reterr) {
        _cleanup_(jwt_token_done) JwtToken t = {};
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        uint64_t nbf = 0;
        int r;

        r = jwt_token_parse(token, n_token, &t, reterr);
        if (r < 0)
                return r;
        r = svid_new(&t, &svid);
        if (r < 0)
                return r;
        r = parse_claims(&t, svid, &nbf, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(svid);
        return 0;
}
