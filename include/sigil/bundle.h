/* SPDX-License-Identifier: Apache-2.0 */
/* sigil bundle.h - trust bundles of one trust domain, sets of them, and their encodings */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sigil/error.h"
#include "sigil/spiffeid.h"

#define SIGIL_BUNDLE_JSON_MAX (4u * 1024u * 1024u)     /* bytes of SPIFFE bundle JSON accepted */
#define SIGIL_BUNDLE_KEYS_MAX 1024                     /* JWKs in one bundle */
#define SIGIL_JWT_KID_MAX 256

typedef struct SigilJwtAuthority {
        char *kid;              /* key ID, non-empty */
        EVP_PKEY *key;          /* public key */
        uint64_t expires_at;    /* seconds since epoch; 0 = unknown */
} SigilJwtAuthority;

/*
 * The trust bundle of one trust domain: X.509 authorities (CA certificates)
 * and JWT authorities (public keys with key IDs), plus the SPIFFE bundle
 * metadata. A bundle holds references; it owns what it was given.
 */
typedef struct SigilBundle {
        SigilTrustDomain td;
        STACK_OF(X509) *x509_authorities;
        SigilJwtAuthority *jwt_authorities;
        size_t n_jwt_authorities;
        uint64_t sequence;              /* spiffe_sequence; 0 = absent */
        int64_t refresh_hint_sec;       /* spiffe_refresh_hint; 0 = absent */
} SigilBundle;

/* A set of bundles keyed by trust domain (one bundle per trust domain). */
typedef struct SigilBundleSet {
        SigilBundle **bundles;
        size_t n_bundles;
} SigilBundleSet;

/**
 * sigil_bundle_new() - an empty bundle for a trust domain
 * @td:         trust domain name (validated)
 * @ret:        on success, the bundle
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_bundle_new(const char *td, SigilBundle **ret);
SigilBundle *sigil_bundle_free(SigilBundle *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(SigilBundle *, sigil_bundle_free)

/**
 * sigil_bundle_copy() - a deep copy of @b
 * @b:          the bundle
 * @ret:        on success, the copy
 *
 * Return: 0 or -ENOMEM.
 */
int sigil_bundle_copy(const SigilBundle *b, SigilBundle **ret);

/* Add a CA certificate (reference taken on success; duplicates are ignored). Return: 0 or -ENOMEM. */
int sigil_bundle_add_x509_authority(SigilBundle *b, X509 *ca);

/**
 * sigil_bundle_add_jwt_authority() - add a JWT public key under @kid (reference taken on success)
 * @b:          the bundle
 * @kid:        key ID, non-empty, at most SIGIL_JWT_KID_MAX bytes
 * @key:        public (or private: only the public part is used) key
 * @expires_at: seconds since epoch, or 0
 *
 * Return: 0, -EINVAL, -EEXIST (kid already present with another key) or -ENOMEM.
 */
int sigil_bundle_add_jwt_authority(SigilBundle *b, const char *kid, EVP_PKEY *key,
                                   uint64_t expires_at);

/* The JWT authority with key ID @kid, or NULL. */
const SigilJwtAuthority *sigil_bundle_find_jwt_authority(const SigilBundle *b, const char *kid);

/* True when both bundles hold the same authorities (metadata ignored). */
bool sigil_bundle_equal_authorities(const SigilBundle *a, const SigilBundle *b);

/**
 * sigil_bundle_from_spiffe_json() - parse a SPIFFE bundle (a JWK Set) for trust domain @td
 * @td:         the trust domain the bundle belongs to
 * @json:       untrusted bytes
 * @n_json:     their length
 * @ret:        on success, the bundle
 * @reterr:     on failure, the reason; may be NULL
 *
 * Duplicate JSON keys are rejected; "keys" is required; JWKs with unknown
 * "kty" or missing/unknown "use" are skipped; x509-svid JWKs use the first
 * x5c certificate and are skipped when x5c is missing or empty; jwt-svid JWKs
 * need a "kid". The x5c certificate must be a CA certificate whose key
 * matches the JWK's kty and key members (when present). A JWK of a known
 * kind that is malformed rejects the whole bundle. spiffe_sequence must be
 * an integer in 0..2^63-1.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_bundle_from_spiffe_json(const char *td, const char *json, size_t n_json,
                                  SigilBundle **ret, SigilErr *reterr);

/**
 * sigil_bundle_to_spiffe_json() - the SPIFFE bundle format (JWKS with use/x5c/kid)
 * @b:          the bundle
 * @ret:        on success, malloc'd JSON text
 *
 * spiffe_sequence and spiffe_refresh_hint are written when non-zero.
 *
 * Return: 0, -ENOMEM, -ERANGE (sequence above 2^63-1 or negative refresh
 * hint: JSON integers here are int64) or -EOPNOTSUPP (a key that has no JWK
 * form: not EC P-256/P-384/P-521 and not RSA 2048..8192).
 */
int sigil_bundle_to_spiffe_json(const SigilBundle *b, char **ret);

/**
 * sigil_bundle_to_jwt_jwks_json() - the JWT authorities as a plain JWK Set (kid, no use)
 * @b:          the bundle
 * @ret:        on success, malloc'd JSON text (what the Workload API serves)
 *
 * Return: 0, -ENOMEM or -EOPNOTSUPP (a key that has no JWK form).
 */
int sigil_bundle_to_jwt_jwks_json(const SigilBundle *b, char **ret);

/**
 * sigil_bundle_from_jwks_json() - parse a plain JWK Set of JWT keys (kid required, use optional)
 * @td:         trust domain
 * @json:       untrusted bytes
 * @n_json:     their length
 * @ret:        on success, a bundle holding only JWT authorities
 * @reterr:     on failure, the reason; may be NULL
 *
 * A key with "use" other than "jwt-svid" or "sig" is skipped; so is one of an
 * unknown "kty" or curve. spiffe_* members are ignored.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_bundle_from_jwks_json(const char *td, const char *json, size_t n_json,
                                SigilBundle **ret, SigilErr *reterr);

/**
 * sigil_bundle_from_pem() - X.509 authorities from concatenated PEM certificates
 * @td:         trust domain
 * @pem:        untrusted bytes
 * @n_pem:      length
 * @ret:        on success, the bundle
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL (no certificate, or garbage) or -ENOMEM.
 */
int sigil_bundle_from_pem(const char *td, const char *pem, size_t n_pem, SigilBundle **ret,
                          SigilErr *reterr);
int sigil_bundle_to_pem(const SigilBundle *b, char **ret);

/**
 * sigil_bundle_from_der() - X.509 authorities from concatenated DER certificates
 * @td:         trust domain
 * @der:        untrusted bytes
 * @n_der:      length
 * @ret:        on success, the bundle
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_bundle_from_der(const char *td, const uint8_t *der, size_t n_der, SigilBundle **ret,
                          SigilErr *reterr);

/* Concatenated DER of the X.509 authorities (what the Workload API serves). Return: 0 or -ENOMEM. */
int sigil_bundle_to_der(const SigilBundle *b, uint8_t **ret, size_t *ret_n);

void sigil_bundle_set_done(SigilBundleSet *set);

/* Insert @b (ownership taken on success), replacing a bundle of the same trust domain. */
int sigil_bundle_set_put(SigilBundleSet *set, SigilBundle *b);
const SigilBundle *sigil_bundle_set_get(const SigilBundleSet *set, const char *td);
int sigil_bundle_set_remove(SigilBundleSet *set, const char *td);
