/* SPDX-License-Identifier: Apache-2.0 */
/* sigil csr.h - PKCS#10 certificate signing requests from untrusted DER */
#pragma once

#include <stdint.h>
#include <openssl/evp.h>

#include "sigil/error.h"
#include "sigil/keys.h"

#define SIGIL_CSR_DER_MAX 16384

typedef struct SigilCsr {
        EVP_PKEY *key;          /* the requested public key */
        SigilKeyType key_type;
        uint8_t *spki;          /* SubjectPublicKeyInfo DER of @key */
        size_t n_spki;
} SigilCsr;

/**
 * sigil_csr_parse() - parse and check a PKCS#10 request
 * @der:        untrusted DER bytes
 * @n_der:      their length (at most SIGIL_CSR_DER_MAX); trailing bytes are rejected
 * @ret:        on success, the request
 * @reterr:     on failure, the reason; may be NULL
 *
 * The self-signature must verify; the key must be EC P-256/P-384 (named
 * curve, uncompressed point: the encoding the issuer copies into
 * certificates) or RSA 2048/4096. Subject and requested extensions are
 * ignored: what a certificate says comes from the registration entry, never
 * from the CSR.
 *
 * Return: 0, -EINVAL (malformed or bad signature), -EOPNOTSUPP (key type) or -ENOMEM.
 */
int sigil_csr_parse(const uint8_t *der, size_t n_der, SigilCsr **ret, SigilErr *reterr);
SigilCsr *sigil_csr_free(SigilCsr *csr);
DEFINE_TRIVIAL_CLEANUP_FUNC(SigilCsr *, sigil_csr_free)

/**
 * sigil_csr_make() - build and self-sign a CSR for @key (used by agents and tests)
 * @key:        private key
 * @ret:        on success, malloc'd DER
 * @ret_n:      on success, its length
 *
 * Return: 0, -ENOMEM or -EIO.
 */
int sigil_csr_make(EVP_PKEY *key, uint8_t **ret, size_t *ret_n);
