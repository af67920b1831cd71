/* SPDX-License-Identifier: Apache-2.0 */
/* jwk.h - JSON Web Keys (RFC 7517/7518) <-> OpenSSL public keys, and JWS algorithms (private) */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>

#include "sigil/error.h"
#include "sigil/jwtsvid.h"

/**
 * jwk_from_pkey() - the public JWK members of @key: kty, crv/x/y (EC) or n/e (RSA)
 * @key:        EC P-256/P-384/P-521 or RSA key
 * @ret:        on success, a new JSON object
 *
 * Return: 0, -EOPNOTSUPP or -ENOMEM.
 */
int jwk_from_pkey(const EVP_PKEY *key, json_t **ret);

/**
 * jwk_to_pkey() - the public key described by a JWK object
 * @jwk:        untrusted JSON object
 * @ret:        on success, the key
 * @reterr:     on failure, the reason; may be NULL
 *
 * EC points are checked to be on the curve; RSA moduli must be 2048..8192 bits.
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP (unknown kty/crv) or -ENOMEM.
 */
int jwk_to_pkey(json_t *jwk, EVP_PKEY **ret, SigilErr *reterr);

/* How a JWS algorithm (RFC 7518 §3) signs. */
typedef enum JwkAlgFamily {
        JWK_ALG_ECDSA,          /* ES*: ECDSA, signature is r || s, each ec_field_size bytes */
        JWK_ALG_RSA_PKCS1,      /* RS*: RSASSA-PKCS1-v1_5 */
        JWK_ALG_RSA_PSS,        /* PS*: RSASSA-PSS, MGF1 with the same hash, salt = hash length */
} JwkAlgFamily;

typedef struct JwkAlgInfo {
        const char *name;       /* "ES256" */
        const char *digest;     /* OpenSSL digest name */
        size_t n_digest;        /* its output length */
        JwkAlgFamily family;
        const char *crv;        /* ES*: the one curve allowed ("P-256"); NULL for RSA */
        size_t ec_field_size;   /* ES*: bytes of r and of s */
} JwkAlgInfo;

/* The description of @alg, or NULL when @alg is out of range. */
const JwkAlgInfo *jwk_alg_info(SigilJwtAlg alg);

/**
 * jwk_key_fits_alg() - check that @key may be used with @alg
 * @key:        public or private key
 * @alg:        JWS algorithm
 *
 * ES256/ES384/ES512 need an EC key on P-256/P-384/P-521 respectively; RS* and
 * PS* need an RSA key of 2048..8192 bits.
 *
 * Return: 0 or -EINVAL.
 */
int jwk_key_fits_alg(const EVP_PKEY *key, SigilJwtAlg alg);
