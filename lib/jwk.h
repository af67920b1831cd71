/* SPDX-License-Identifier: Apache-2.0 */
/* jwk.h - JSON Web Keys (RFC 7517/7518) to and from OpenSSL public keys (private to sigil) */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>

#include "sigil/error.h"

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
