/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT-SVID signing: JWS compact serialization (JWT-01) with the header
 * {"alg","kid","typ":"JWT"} and nothing else (JWT-02).
 *
 * This is on the hot path of the server (every FetchJWTSVID of every
 * workload), so a signer prepares everything that does not depend on the
 * claims once: the base64url header, the fetched digest, a digest context
 * and a signing context already initialised with padding and hash. A call
 * then writes the claims JSON by hand into a stack buffer, allocates the
 * token once at its exact final size, base64url-encodes the payload straight
 * into it, hashes that prefix, signs the digest and appends the signature.
 * Extra claims, which are rare, go through jansson.
 *
 * ECDSA signatures are converted from DER to the fixed-width r || s that JWS
 * requires (RFC 7518 §3.4). PSS uses a salt as long as the hash (§3.5).
 * Claims are written with no duplicate names: extra claims may not restate
 * sub, aud, exp, iat (or jti when a jti is given).
 */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "base64.h"
#include "json-util.h"
#include "jwk.h"
#include "sigil/jwtsvid.h"
#include "ssl-util.h"

#define JWT_HEADER_JSON_MAX (64 + 6 * SIGIL_JWT_KID_MAX)
#define JWT_SIG_MAX 1024                /* RSA-8192; DER ECDSA P-521 is < 150 */
#define JWT_PAYLOAD_STACK 2048

struct SigilJwtSigner {
        EVP_PKEY *key;
        EVP_PKEY_CTX *pctx;             /* EVP_PKEY_sign_init'ed once, reused for every token */
        EVP_MD_CTX *mdctx;              /* reused for the digest of every token */
        EVP_MD *md;
        const JwkAlgInfo *alg;
        size_t n_sig;                   /* bytes of the JWS signature */
        size_t n_header;                /* strlen(header) */
        char header[];                  /* base64url(header JSON) "." */
};

SigilJwtAlg sigil_jwt_alg_from_string(const char *s) {
        if (!s)
                return _SIGIL_JWT_ALG_INVALID;
        for (SigilJwtAlg a = 0; a < _SIGIL_JWT_ALG_MAX; a++)
                if (streq(jwk_alg_info(a)->name, s))
                        return a;
        return _SIGIL_JWT_ALG_INVALID;
}

const char *sigil_jwt_alg_to_string(SigilJwtAlg alg) {
        const JwkAlgInfo *info = jwk_alg_info(alg);

        return info ? info->name : NULL;
}

SigilJwtSigner *sigil_jwt_signer_free(SigilJwtSigner *s) {
        if (!s)
                return NULL;
        EVP_PKEY_CTX_free(s->pctx);
        EVP_MD_CTX_free(s->mdctx);
        EVP_MD_free(s->md);
        EVP_PKEY_free(s->key);
        free(s);
        return NULL;
}

/* The base64url of {"alg":..,"kid":..,"typ":"JWT"} followed by '.', malloc'd. */
static int header_encode(const char *alg, const char *kid, char **ret, size_t *ret_n) {
        _cleanup_(json_decrefp) json_t *h = NULL;
        char json[JWT_HEADER_JSON_MAX];
        size_t n_json;
        char *out;

        h = json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", kid, "typ", "JWT");
        if (!h)
                return -EINVAL;         /* kid not valid UTF-8 */
        n_json = json_dumpb(h, json, sizeof(json), JSON_COMPACT);
        if (n_json == 0 || n_json > sizeof(json))
                return -EINVAL;
        out = malloc(base64url_encoded_len(n_json) + 2);
        if (!out)
                return -ENOMEM;
        *ret_n = base64url_encode_to(json, n_json, out);
        out[(*ret_n)++] = '.';
        out[*ret_n] = '\0';
        *ret = out;
        return 0;
}

static int signer_init_ctx(SigilJwtSigner *s) {
        s->md = EVP_MD_fetch(NULL, s->alg->digest, NULL);
        s->mdctx = EVP_MD_CTX_new();
        s->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL);
        if (!s->md || !s->mdctx || !s->pctx)
                return -ENOMEM;
        if (EVP_PKEY_sign_init(s->pctx) != 1 || EVP_PKEY_CTX_set_signature_md(s->pctx, s->md) != 1)
                return -EINVAL;
        if (s->alg->family == JWK_ALG_RSA_PKCS1 &&
            EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PADDING) != 1)
                return -EINVAL;
        if (s->alg->family == JWK_ALG_RSA_PSS &&
            (EVP_PKEY_CTX_set_rsa_padding(s->pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
             EVP_PKEY_CTX_set_rsa_mgf1_md(s->pctx, s->md) != 1 ||
             EVP_PKEY_CTX_set_rsa_pss_saltlen(s->pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
                return -EINVAL;
        return 0;
}

/* Sign @n bytes of digest; on success @sig holds the JWS signature of s->n_sig bytes. */
static int signer_sign_digest(SigilJwtSigner *s, const uint8_t *dgst, size_t n, uint8_t *sig) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *esig = NULL;
        uint8_t der[JWT_SIG_MAX];
        size_t n_der = sizeof(der);
        const unsigned char *p = der;
        const BIGNUM *r, *sv;
        size_t w;

        if (s->alg->family != JWK_ALG_ECDSA) {
                n_der = s->n_sig;
                if (EVP_PKEY_sign(s->pctx, sig, &n_der, dgst, n) != 1 || n_der != s->n_sig)
                        return -EIO;
                return 0;
        }
        if (EVP_PKEY_sign(s->pctx, der, &n_der, dgst, n) != 1)
                return -EIO;
        esig = d2i_ECDSA_SIG(NULL, &p, (long) n_der);
        if (!esig)
                return -EIO;
        ECDSA_SIG_get0(esig, &r, &sv);
        w = s->alg->ec_field_size;
        if (BN_bn2binpad(r, sig, (int) w) != (int) w ||
            BN_bn2binpad(sv, sig + w, (int) w) != (int) w)
                return -EIO;
        return 0;
}

int sigil_jwt_signer_new(EVP_PKEY *key, const char *kid, SigilJwtAlg alg, SigilJwtSigner **ret,
                         SigilErr *reterr) {
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = NULL;
        _cleanup_(freep) char *header = NULL;
        uint8_t probe[64] = {}, sig[JWT_SIG_MAX];
        size_t n_header;
        int r;

        if (!key || !jwk_alg_info(alg))
                return sigil_err_set(reterr, -EINVAL, "no key or unknown algorithm");
        if (isempty(kid) || strlen(kid) > SIGIL_JWT_KID_MAX)
                return sigil_err_set(reterr, -EINVAL, "key ID must be 1..%d bytes",
                                     SIGIL_JWT_KID_MAX);
        if (jwk_key_fits_alg(key, alg) < 0)
                return sigil_err_set(reterr, -EINVAL, "key does not fit algorithm %s",
                                     jwk_alg_info(alg)->name);
        r = header_encode(jwk_alg_info(alg)->name, kid, &header, &n_header);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot encode JWT header");

        s = malloc(sizeof(*s) + n_header + 1);
        if (!s)
                return -ENOMEM;
        *s = (SigilJwtSigner) {
                .alg = jwk_alg_info(alg),
                .n_header = n_header,
        };
        memcpy(s->header, header, n_header + 1);
        if (!EVP_PKEY_up_ref(key))
                return -ENOMEM;
        s->key = key;
        s->n_sig = s->alg->family == JWK_ALG_ECDSA ? 2 * s->alg->ec_field_size
                                                   : (size_t) EVP_PKEY_get_size(key);
        if (s->n_sig == 0 || s->n_sig > JWT_SIG_MAX)
                return sigil_err_set(reterr, -EINVAL, "unsupported key size");
        r = signer_init_ctx(s);
        if (r < 0) {
                ERR_clear_error();
                return sigil_err_set(reterr, r, "cannot prepare the signing context");
        }
        /* One signature now, so that a public-only key fails here, not on first use. */
        r = signer_sign_digest(s, probe, s->alg->n_digest, sig);
        if (r < 0) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "key cannot sign (not a private key?)");
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* A byte buffer that starts on the caller's stack and moves to the heap if it must grow. */
typedef struct JsonOut {
        char *p;
        size_t n, size;
        bool heap;
} JsonOut;

static void json_out_done(JsonOut *o) {
        if (o->heap)
                free(o->p);
}

static int json_out_reserve(JsonOut *o, size_t extra) {
        size_t want;
        char *p;

        if (extra > SIGIL_JWT_TOKEN_MAX || o->n + extra > SIGIL_JWT_TOKEN_MAX)
                return -E2BIG;
        if (o->n + extra <= o->size)
                return 0;
        want = MAX(o->size * 2, o->n + extra);
        p = o->heap ? realloc(o->p, want) : malloc(want);
        if (!p)
                return -ENOMEM;
        if (!o->heap)
                memcpy(p, o->p, o->n);
        o->p = p;
        o->size = want;
        o->heap = true;
        return 0;
}

static int json_out_put(JsonOut *o, const char *s, size_t n) {
        int r = json_out_reserve(o, n);

        if (r < 0)
                return r;
        memcpy(o->p + o->n, s, n);
        o->n += n;
        return 0;
}

#define json_out_lit(o, s) json_out_put((o), (s), sizeof(s) - 1)

static int json_out_u64(JsonOut *o, uint64_t v) {
        char buf[20];
        size_t i = sizeof(buf);

        do {
                buf[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        return json_out_put(o, buf + i, sizeof(buf) - i);
}

/* Length of the UTF-8 sequence at @s (at most @n bytes), or 0 when it is not valid UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
        uint32_t cp, min;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                len = 2, cp = s[0] & 0x1f, min = 0x80;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, cp = s[0] & 0x0f, min = 0x800;
        else if ((s[0] & 0xf8) == 0xf0)
                len = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

/* Append @s as a JSON string; -EINVAL when it is not valid UTF-8. */
static int json_out_string(JsonOut *o, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *u = (const unsigned char *) s;
        size_t n = strlen(s);
        int r;

        /* worst case: every byte becomes \u00XX */
        r = json_out_reserve(o, n * 6 + 2);
        if (r < 0)
                return r;
        o->p[o->n++] = '"';
        for (size_t i = 0; i < n;) {
                size_t len = utf8_seq_len(u + i, n - i);

                if (len == 0)
                        return -EINVAL;
                if (u[i] == '"' || u[i] == '\\') {
                        o->p[o->n++] = '\\';
                        o->p[o->n++] = (char) u[i];
                } else if (u[i] < 0x20) {
                        memcpy(o->p + o->n, "\\u00", 4);
                        o->p[o->n + 4] = hex[u[i] >> 4];
                        o->p[o->n + 5] = hex[u[i] & 0xf];
                        o->n += 6;
                } else {
                        memcpy(o->p + o->n, u + i, len);
                        o->n += len;
                }
                i += len;
        }
        o->p[o->n++] = '"';
        return 0;
}

static int write_aud(JsonOut *o, const SigilJwtClaims *c) {
        int r;

        /* One audience is a plain string, several an array (as SPIRE issues them). */
        if (c->n_aud == 1)
                return json_out_string(o, c->aud[0]);
        r = json_out_lit(o, "[");
        for (size_t i = 0; r == 0 && i < c->n_aud; i++) {
                if (i > 0)
                        r = json_out_lit(o, ",");
                if (r == 0)
                        r = json_out_string(o, c->aud[i]);
        }
        return r < 0 ? r : json_out_lit(o, "]");
}

static bool extra_claim_allowed(const char *name, const SigilJwtClaims *c) {
        static const char *const reserved[] = { "sub", "aud", "exp", "iat" };

        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (streq(name, reserved[i]))
                        return false;
        return !(c->jti && streq(name, "jti"));
}

/* Append ",<members of extra>" (nothing for an empty object). */
static int write_extra(JsonOut *o, const SigilJwtClaims *c, SigilErr *reterr) {
        const char *name;
        json_t *v;
        size_t n;
        int r;

        if (!json_is_object(c->extra))
                return sigil_err_set(reterr, -EINVAL, "extra claims must be a JSON object");
        if (json_object_size(c->extra) == 0)
                return 0;
        json_object_foreach(c->extra, name, v)
                if (!extra_claim_allowed(name, c))
                        return sigil_err_set(reterr, -EINVAL,
                                             "extra claim \"%s\" would override a claim", name);
        n = json_dumpb(c->extra, NULL, 0, JSON_COMPACT);
        if (n < 2)
                return sigil_err_set(reterr, -EINVAL, "extra claims cannot be encoded");
        r = json_out_reserve(o, n);
        if (r < 0)
                return sigil_err_set(reterr, r, "claims too large");
        if (json_dumpb(c->extra, o->p + o->n, n, JSON_COMPACT) != n)
                return sigil_err_set(reterr, -EINVAL, "extra claims cannot be encoded");
        /* "{...}" -> ",..." : overwrite the brace, drop the closing one */
        o->p[o->n] = ',';
        o->n += n - 1;
        return 0;
}

static int check_claims(const SigilJwtClaims *c, SigilErr *reterr) {
        if (!c->sub || c->sub->n_str == 0)
                return sigil_err_set(reterr, -EINVAL, "no subject");
        if (c->n_aud == 0 || !c->aud)
                return sigil_err_set(reterr, -EINVAL, "at least one audience is required");
        if (c->n_aud > SIGIL_JWT_AUDIENCES_MAX)
                return sigil_err_set(reterr, -EINVAL, "more than %d audiences",
                                     SIGIL_JWT_AUDIENCES_MAX);
        for (size_t i = 0; i < c->n_aud; i++)
                if (isempty(c->aud[i]))
                        return sigil_err_set(reterr, -EINVAL, "empty audience");
        if (c->exp == 0 || c->exp <= c->iat || c->exp > (uint64_t) INT64_MAX)
                return sigil_err_set(reterr, -EINVAL, "exp must be after iat");
        if (c->jti && c->jti[0] == '\0')
                return sigil_err_set(reterr, -EINVAL, "empty jti");
        return 0;
}

/* The claims as compact JSON: sub, aud, exp, iat, jti, then the extra claims. */
static int write_payload(JsonOut *o, const SigilJwtClaims *c, SigilErr *reterr) {
        int r;

        r = json_out_lit(o, "{\"sub\":");
        if (r == 0)
                r = json_out_string(o, c->sub->str);
        if (r == 0)
                r = json_out_lit(o, ",\"aud\":");
        if (r == 0)
                r = write_aud(o, c);
        if (r == 0)
                r = json_out_lit(o, ",\"exp\":");
        if (r == 0)
                r = json_out_u64(o, c->exp);
        if (r == 0)
                r = json_out_lit(o, ",\"iat\":");
        if (r == 0)
                r = json_out_u64(o, c->iat);
        if (r == 0 && c->jti) {
                r = json_out_lit(o, ",\"jti\":");
                if (r == 0)
                        r = json_out_string(o, c->jti);
        }
        if (r == -EINVAL)
                return sigil_err_set(reterr, r, "claim is not valid UTF-8");
        if (r < 0)
                return sigil_err_set(reterr, r, "claims too large");
        if (c->extra) {
                r = write_extra(o, c, reterr);
                if (r < 0)
                        return r;
        }
        r = json_out_lit(o, "}");
        return r < 0 ? sigil_err_set(reterr, r, "claims too large") : 0;
}

/* Hash, sign and append the signature to @token, which holds @n signing-input bytes. */
static int sign_token(SigilJwtSigner *s, char *token, size_t n) {
        uint8_t dgst[EVP_MAX_MD_SIZE], sig[JWT_SIG_MAX];
        unsigned n_dgst;
        int r;

        if (EVP_DigestInit_ex2(s->mdctx, s->md, NULL) != 1 ||
            EVP_DigestUpdate(s->mdctx, token, n) != 1 ||
            EVP_DigestFinal_ex(s->mdctx, dgst, &n_dgst) != 1)
                return -EIO;
        r = signer_sign_digest(s, dgst, n_dgst, sig);
        if (r < 0)
                return r;
        token[n] = '.';
        (void) base64url_encode_to(sig, s->n_sig, token + n + 1);
        return 0;
}

int sigil_jwt_signer_sign(SigilJwtSigner *signer, const SigilJwtClaims *claims, char **ret_token,
                          SigilErr *reterr) {
        char stack[JWT_PAYLOAD_STACK];
        _cleanup_(json_out_done) JsonOut o = { .p = stack, .size = sizeof(stack) };
        _cleanup_(freep) char *token = NULL;
        size_t n_input, n_token;
        int r;

        if (!signer || !claims)
                return sigil_err_set(reterr, -EINVAL, "no signer or claims");
        r = check_claims(claims, reterr);
        if (r < 0)
                return r;
        r = write_payload(&o, claims, reterr);
        if (r < 0)
                return r;

        n_input = signer->n_header + base64url_encoded_len(o.n);
        n_token = n_input + 1 + base64url_encoded_len(signer->n_sig);
        if (n_token > SIGIL_JWT_TOKEN_MAX)
                return sigil_err_set(reterr, -EINVAL, "token would exceed %u bytes",
                                     SIGIL_JWT_TOKEN_MAX);
        token = malloc(n_token + 1);
        if (!token)
                return -ENOMEM;
        memcpy(token, signer->header, signer->n_header);
        (void) base64url_encode_to(o.p, o.n, token + signer->n_header);
        r = sign_token(signer, token, n_input);
        if (r < 0) {
                ERR_clear_error();
                return sigil_err_set(reterr, r, "signing failed");
        }
        *ret_token = TAKE_PTR(token);
        return 0;
}
