/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON Web Keys (RFC 7517, RFC 7518 §6) <-> OpenSSL public keys.
 *
 * Only the public members are ever read or written. Untrusted JWKs are held
 * to the canonical encoding, so that one key has one spelling: EC
 * coordinates are exactly the field size, RSA n and e carry no leading zero
 * octet, and the EC point must lie on the named curve. OpenSSL 3.0 checks
 * the point and refuses coordinates >= p; the key is also re-encoded and
 * compared with the input, so that stays true whatever a provider does. A JWK
 * carrying private members ("d", ...) is refused rather than silently
 * stripped: a bundle with private keys in it is a leak somewhere upstream.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <string.h>

#include "base64.h"
#include "json-util.h"
#include "jwk.h"
#include "ssl-util.h"

#define JWK_RSA_BITS_MIN 2048
#define JWK_RSA_BITS_MAX 8192
#define JWK_RSA_E_BYTES_MAX 8
#define JWK_EC_FIELD_MAX 66

typedef struct JwkCurve {
        const char *crv;        /* JWK name */
        const char *group;      /* OpenSSL group name */
        size_t field_size;      /* bytes of one coordinate */
} JwkCurve;

static const JwkCurve jwk_curves[] = {
        { "P-256", "prime256v1", 32 },
        { "P-384", "secp384r1", 48 },
        { "P-521", "secp521r1", 66 },
};

static const JwkCurve *curve_by_crv(const char *crv) {
        for (size_t i = 0; i < ELEMENTSOF(jwk_curves); i++)
                if (streq(jwk_curves[i].crv, crv))
                        return &jwk_curves[i];
        return NULL;
}

static const JwkCurve *curve_by_group(const char *group) {
        for (size_t i = 0; i < ELEMENTSOF(jwk_curves); i++)
                if (streq(jwk_curves[i].group, group))
                        return &jwk_curves[i];
        /* OpenSSL may also report the NIST names */
        if (streq(group, "P-256"))
                return &jwk_curves[0];
        if (streq(group, "P-384"))
                return &jwk_curves[1];
        if (streq(group, "P-521"))
                return &jwk_curves[2];
        return NULL;
}

/* Set member @name of @obj to the base64url of @n bytes at @data. */
static int set_b64url(json_t *obj, const char *name, const uint8_t *data, size_t n) {
        _cleanup_(freep) char *s = NULL;
        int r;

        r = base64url_encode(data, n, &s, NULL);
        if (r < 0)
                return r;
        if (json_object_set_new(obj, name, json_string(s)) < 0)
                return -ENOMEM;
        return 0;
}

/* Set @name to a big-endian BIGNUM, padded to @width bytes (0: minimal length). */
static int set_bn(json_t *obj, const char *name, const EVP_PKEY *key, const char *param,
                  size_t width) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        uint8_t buf[JWK_RSA_BITS_MAX / 8];
        int n;

        if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
                return -EOPNOTSUPP;
        if (width == 0)
                width = (size_t) BN_num_bytes(bn);
        if (width == 0 || width > sizeof(buf))
                return -EOPNOTSUPP;
        n = BN_bn2binpad(bn, buf, (int) width);
        if (n < 0)
                return -EOPNOTSUPP;
        return set_b64url(obj, name, buf, (size_t) n);
}

static int jwk_from_ec(const EVP_PKEY *key, json_t *jwk) {
        const JwkCurve *c;
        char group[64];
        size_t n_group;
        int r;

        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &n_group) != 1)
                return -EOPNOTSUPP;
        c = curve_by_group(group);
        if (!c)
                return -EOPNOTSUPP;
        if (json_object_set_new(jwk, "kty", json_string("EC")) < 0 ||
            json_object_set_new(jwk, "crv", json_string(c->crv)) < 0)
                return -ENOMEM;
        r = set_bn(jwk, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, c->field_size);
        if (r < 0)
                return r;
        return set_bn(jwk, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, c->field_size);
}

static int jwk_from_rsa(const EVP_PKEY *key, json_t *jwk) {
        int bits = EVP_PKEY_get_bits(key);
        int r;

        if (bits < JWK_RSA_BITS_MIN || bits > JWK_RSA_BITS_MAX)
                return -EOPNOTSUPP;
        if (json_object_set_new(jwk, "kty", json_string("RSA")) < 0)
                return -ENOMEM;
        r = set_bn(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
        if (r < 0)
                return r;
        return set_bn(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
}

int jwk_from_pkey(const EVP_PKEY *key, json_t **ret) {
        _cleanup_(json_decrefp) json_t *jwk = NULL;
        int r;

        if (!key)
                return -EINVAL;
        jwk = json_object();
        if (!jwk)
                return -ENOMEM;
        if (EVP_PKEY_is_a(key, "EC"))
                r = jwk_from_ec(key, jwk);
        else if (EVP_PKEY_is_a(key, "RSA"))
                r = jwk_from_rsa(key, jwk);
        else
                r = -EOPNOTSUPP;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(jwk);
        return 0;
}

/* Decode the base64url string member @name of @jwk. */
static int get_b64url(json_t *jwk, const char *name, uint8_t **ret, size_t *ret_n,
                      SigilErr *reterr) {
        json_t *v = json_object_get(jwk, name);

        if (!json_is_string(v))
                return sigil_err_set(reterr, -EINVAL, "JWK member \"%s\" missing or not a string",
                                     name);
        if (base64url_decode(json_string_value(v), json_string_length(v), ret, ret_n) < 0)
                return sigil_err_set(reterr, -EINVAL, "JWK member \"%s\" is not base64url", name);
        return 0;
}

/*
 * Build a public key; with @check, also run OpenSSL's public key check. That
 * is only done for EC (point on the curve, right order): for RSA, OpenSSL 3.0
 * runs Miller-Rabin with random bases, so the same modulus can pass once and
 * fail the next time (found by fuzz-bundle), and a bundle must not flap.
 * RSA moduli get deterministic checks in jwk_to_rsa() instead.
 */
static int pkey_from_params(const char *type, const OSSL_PARAM *params, bool check,
                            EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *cctx = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;

        ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *) params) != 1)
                return -EINVAL;
        if (check) {
                cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
                if (!cctx)
                        return -ENOMEM;
                if (EVP_PKEY_public_check(cctx) != 1)
                        return -EINVAL;
        }
        *ret = TAKE_PTR(pkey);
        return 0;
}

static int jwk_to_ec(json_t *jwk, EVP_PKEY **ret, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *x = NULL, *y = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        uint8_t point[1 + 2 * JWK_EC_FIELD_MAX], again[1 + 2 * JWK_EC_FIELD_MAX];
        json_t *crv = json_object_get(jwk, "crv");
        size_t n_x, n_y, n_point, n_again;
        const JwkCurve *c;
        int r;

        if (!json_is_string(crv))
                return sigil_err_set(reterr, -EINVAL, "EC JWK without \"crv\"");
        c = curve_by_crv(json_string_value(crv));
        if (!c)
                return sigil_err_set(reterr, -EOPNOTSUPP, "unsupported curve");
        r = get_b64url(jwk, "x", &x, &n_x, reterr);
        if (r < 0)
                return r;
        r = get_b64url(jwk, "y", &y, &n_y, reterr);
        if (r < 0)
                return r;
        if (n_x != c->field_size || n_y != c->field_size)
                return sigil_err_set(reterr, -EINVAL, "EC JWK coordinates must be %zu bytes",
                                     c->field_size);

        point[0] = 0x04;        /* uncompressed */
        memcpy(point + 1, x, n_x);
        memcpy(point + 1 + n_x, y, n_y);
        n_point = 1 + n_x + n_y;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) c->group, 0),
                OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, n_point),
                OSSL_PARAM_construct_end(),
        };
        r = pkey_from_params("EC", params, true, &pkey);
        if (r == -EINVAL)
                return sigil_err_set(reterr, r, "EC JWK point is not on curve %s", c->crv);
        if (r < 0)
                return r;
        /* OpenSSL may reduce coordinates mod p: insist the key encodes back to the input. */
        if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, again,
                                            sizeof(again), &n_again) != 1 ||
            n_again != n_point || memcmp(again, point, n_point) != 0)
                return sigil_err_set(reterr, -EINVAL, "EC JWK coordinates are not canonical");
        *ret = TAKE_PTR(pkey);
        return 0;
}

static int jwk_to_rsa(json_t *jwk, EVP_PKEY **ret, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *n = NULL, *e = NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(BN_freep) BIGNUM *bn_n = NULL, *bn_e = NULL;
        size_t n_n, n_e;
        int bits, r;

        r = get_b64url(jwk, "n", &n, &n_n, reterr);
        if (r < 0)
                return r;
        r = get_b64url(jwk, "e", &e, &n_e, reterr);
        if (r < 0)
                return r;
        if (n_n == 0 || n[0] == 0 || n_e == 0 || e[0] == 0 || n_e > JWK_RSA_E_BYTES_MAX)
                return sigil_err_set(reterr, -EINVAL, "RSA JWK \"n\"/\"e\" not minimal");
        if (n_n > JWK_RSA_BITS_MAX / 8)
                return sigil_err_set(reterr, -EINVAL, "RSA JWK modulus must be %d..%d bits",
                                     JWK_RSA_BITS_MIN, JWK_RSA_BITS_MAX);
        bn_n = BN_bin2bn(n, (int) n_n, NULL);
        bn_e = BN_bin2bn(e, (int) n_e, NULL);
        if (!bn_n || !bn_e)
                return -ENOMEM;
        bits = BN_num_bits(bn_n);
        if (bits < JWK_RSA_BITS_MIN || bits > JWK_RSA_BITS_MAX)
                return sigil_err_set(reterr, -EINVAL, "RSA JWK modulus must be %d..%d bits",
                                     JWK_RSA_BITS_MIN, JWK_RSA_BITS_MAX);
        if (!BN_is_odd(bn_n))
                return sigil_err_set(reterr, -EINVAL, "RSA JWK modulus is even");
        if (!BN_is_odd(bn_e) || BN_is_one(bn_e))
                return sigil_err_set(reterr, -EINVAL, "RSA JWK exponent is invalid");

        bld = OSSL_PARAM_BLD_new();
        if (!bld || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
                return -ENOMEM;
        params = OSSL_PARAM_BLD_to_param(bld);
        if (!params)
                return -ENOMEM;
        r = pkey_from_params("RSA", params, false, ret);
        if (r == -EINVAL)
                return sigil_err_set(reterr, r, "RSA JWK is not a valid public key");
        return r;
}

/* Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2). */
static bool jwk_has_private_members(json_t *jwk) {
        static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth" };

        for (size_t i = 0; i < ELEMENTSOF(private_members); i++)
                if (json_object_get(jwk, private_members[i]))
                        return true;
        return false;
}

int jwk_to_pkey(json_t *jwk, EVP_PKEY **ret, SigilErr *reterr) {
        json_t *kty;
        int r;

        if (!json_is_object(jwk))
                return sigil_err_set(reterr, -EINVAL, "JWK is not an object");
        kty = json_object_get(jwk, "kty");
        if (!json_is_string(kty))
                return sigil_err_set(reterr, -EINVAL, "JWK without \"kty\"");
        if (jwk_has_private_members(jwk))
                return sigil_err_set(reterr, -EINVAL, "JWK holds private key material");
        if (streq(json_string_value(kty), "EC"))
                r = jwk_to_ec(jwk, ret, reterr);
        else if (streq(json_string_value(kty), "RSA"))
                r = jwk_to_rsa(jwk, ret, reterr);
        else
                r = sigil_err_set(reterr, -EOPNOTSUPP, "unsupported key type");
        if (r < 0)
                ERR_clear_error();
        return r;
}

static const JwkAlgInfo jwk_algs[_SIGIL_JWT_ALG_MAX] = {
        [SIGIL_JWT_ES256] = { "ES256", "SHA256", 32, JWK_ALG_ECDSA, "P-256", 32 },
        [SIGIL_JWT_ES384] = { "ES384", "SHA384", 48, JWK_ALG_ECDSA, "P-384", 48 },
        [SIGIL_JWT_ES512] = { "ES512", "SHA512", 64, JWK_ALG_ECDSA, "P-521", 66 },
        [SIGIL_JWT_RS256] = { "RS256", "SHA256", 32, JWK_ALG_RSA_PKCS1, NULL, 0 },
        [SIGIL_JWT_RS384] = { "RS384", "SHA384", 48, JWK_ALG_RSA_PKCS1, NULL, 0 },
        [SIGIL_JWT_RS512] = { "RS512", "SHA512", 64, JWK_ALG_RSA_PKCS1, NULL, 0 },
        [SIGIL_JWT_PS256] = { "PS256", "SHA256", 32, JWK_ALG_RSA_PSS, NULL, 0 },
        [SIGIL_JWT_PS384] = { "PS384", "SHA384", 48, JWK_ALG_RSA_PSS, NULL, 0 },
        [SIGIL_JWT_PS512] = { "PS512", "SHA512", 64, JWK_ALG_RSA_PSS, NULL, 0 },
};

const JwkAlgInfo *jwk_alg_info(SigilJwtAlg alg) {
        if (alg < 0 || alg >= _SIGIL_JWT_ALG_MAX)
                return NULL;
        return &jwk_algs[alg];
}

int jwk_key_fits_alg(const EVP_PKEY *key, SigilJwtAlg alg) {
        const JwkAlgInfo *info = jwk_alg_info(alg);
        const JwkCurve *c;
        char group[64];
        size_t n_group;
        int bits;

        if (!info || !key)
                return -EINVAL;
        if (info->family != JWK_ALG_ECDSA) {
                /* EVP_PKEY_is_a(key, "RSA") is false for RSA-PSS-restricted keys: refused */
                bits = EVP_PKEY_get_bits(key);
                if (!EVP_PKEY_is_a(key, "RSA") || bits < JWK_RSA_BITS_MIN ||
                    bits > JWK_RSA_BITS_MAX)
                        return -EINVAL;
                return 0;
        }
        if (!EVP_PKEY_is_a(key, "EC") ||
            EVP_PKEY_get_group_name(key, group, sizeof(group), &n_group) != 1)
                return -EINVAL;
        c = curve_by_group(group);
        if (!c || !streq(c->crv, info->crv))
                return -EINVAL;
        return 0;
}
