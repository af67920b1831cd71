/* SPDX-License-Identifier: Apache-2.0 */
/* sigil keys.h - key generation, PEM/PKCS#8/SPKI encodings, atomic 0600 key files */
#pragma once

#include <stdint.h>
#include <openssl/evp.h>

#include "sigil/error.h"

typedef enum SigilKeyType {
        SIGIL_KEY_EC_P256,
        SIGIL_KEY_EC_P384,
        SIGIL_KEY_RSA_2048,
        SIGIL_KEY_RSA_4096,
        _SIGIL_KEY_TYPE_MAX,
        _SIGIL_KEY_TYPE_INVALID = -EINVAL,
} SigilKeyType;

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-4096" */
SigilKeyType sigil_key_type_from_string(const char *s);
const char *sigil_key_type_to_string(SigilKeyType t);

/**
 * sigil_key_generate() - generate a new private key
 * @type:       key type
 * @ret:        on success, the key
 *
 * Return: 0, -EINVAL or -EIO (OpenSSL failure).
 */
int sigil_key_generate(SigilKeyType type, EVP_PKEY **ret);

/**
 * sigil_key_type_of() - classify a key (private or public)
 * @key:        the key
 * @ret:        on success, its type
 *
 * Return: 0, or -EOPNOTSUPP for any key outside the four supported types
 * (other curves, RSA of other sizes, Ed25519, DSA...).
 */
int sigil_key_type_of(const EVP_PKEY *key, SigilKeyType *ret);

/**
 * sigil_key_from_pem() - load a private key from PEM (PKCS#8, SEC1 or PKCS#1), unencrypted
 * @pem:        bytes
 * @n_pem:      length
 * @ret:        on success, the key
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL (not a supported private key) or -ENOMEM.
 */
int sigil_key_from_pem(const char *pem, size_t n_pem, EVP_PKEY **ret, SigilErr *reterr);

/**
 * sigil_key_load_pem() - read a private key PEM file
 * @path:       file
 * @ret:        on success, the key
 * @reterr:     on failure, the reason (names the file); may be NULL
 *
 * Return: 0, -EINVAL or a negative errno from reading.
 */
int sigil_key_load_pem(const char *path, EVP_PKEY **ret, SigilErr *reterr);

/**
 * sigil_key_store_pem() - write a private key as PKCS#8 PEM, atomically, mode 0600
 * @path:       destination
 * @key:        the key
 *
 * Return: 0 or negative errno.
 */
int sigil_key_store_pem(const char *path, EVP_PKEY *key);

/**
 * sigil_key_to_pkcs8_der() - unencrypted PKCS#8 DER of a private key
 * @key:        the key
 * @ret:        on success, malloc'd bytes; wipe with OPENSSL_cleanse before free
 * @ret_n:      on success, their length
 *
 * Return: 0, -ENOMEM or -EIO.
 */
int sigil_key_to_pkcs8_der(EVP_PKEY *key, uint8_t **ret, size_t *ret_n);

/**
 * sigil_key_to_pkcs8_pem() - unencrypted PKCS#8 PEM of a private key
 * @key:        the key
 * @ret:        on success, malloc'd NUL-terminated text; wipe before free
 *
 * Return: 0, -ENOMEM or -EIO.
 */
int sigil_key_to_pkcs8_pem(EVP_PKEY *key, char **ret);

/**
 * sigil_key_from_pkcs8_der() - parse an unencrypted PKCS#8 DER private key (no trailing bytes)
 * @der:        bytes
 * @n_der:      length
 * @ret:        on success, the key
 *
 * Return: 0 or -EINVAL (malformed, or not one of the four supported key types).
 */
int sigil_key_from_pkcs8_der(const uint8_t *der, size_t n_der, EVP_PKEY **ret);

/**
 * sigil_key_to_spki_der() - SubjectPublicKeyInfo DER of a key's public part
 * @key:        the key
 * @ret:        on success, malloc'd bytes
 * @ret_n:      on success, their length
 *
 * Return: 0, -ENOMEM or -EIO.
 */
int sigil_key_to_spki_der(const EVP_PKEY *key, uint8_t **ret, size_t *ret_n);

/**
 * sigil_key_from_spki_der() - parse a SubjectPublicKeyInfo of a supported type (no trailing bytes)
 * @der:        bytes
 * @n_der:      length
 * @ret:        on success, the public key
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -EOPNOTSUPP (valid but unsupported key type).
 */
int sigil_key_from_spki_der(const uint8_t *der, size_t n_der, EVP_PKEY **ret, SigilErr *reterr);

/* True when the public halves of @a and @b are equal. */
int sigil_key_public_equal(const EVP_PKEY *a, const EVP_PKEY *b);
