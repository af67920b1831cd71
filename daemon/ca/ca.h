/* SPDX-License-Identifier: Apache-2.0 */
/* ca.h - the CA manager: the only code that holds CA and JWT signing keys */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/keys.h"

/*
 * The CA manager keeps two rotating sets of keys, X.509 CAs and JWT signing
 * keys, each slot moving prepared -> active -> old:
 *
 *   prepared  made at 1/2 of the active slot's lifetime and published in the
 *             bundle at once, so relying parties trust it before it signs;
 *   active    the one that signs; replaced at 5/6 of its lifetime (both
 *             counted from when the slot was made, not its backdated notBefore);
 *   old       kept in the bundle until its notAfter, after which no SVID it
 *             signed can still be valid, then dropped.
 *
 * Requests to sign come through the narrow functions below, which re-check
 * every policy limit themselves (SPIFFE ID in this trust domain with a path,
 * TTL caps, DNS name shape, key types) and trust nothing the API layer
 * checked. Keys live in <keys_dir> (0600, atomic writes) or only in memory.
 */

typedef struct Ca Ca;

#define CA_TTL_MIN_SEC 10
#define CA_SVID_TTL_MAX_SEC (7 * 24 * 3600)

typedef struct CaConfig {
        const char *trust_domain;
        SigilKeyType key_type;          /* X.509 CA keys */
        SigilKeyType jwt_key_type;      /* JWT signing keys */
        uint64_t ca_ttl_sec;
        const char *subject;            /* CA subject, "C=US,O=sigil" form; NULL for a default */
        const char *keys_dir;           /* NULL: memory key manager (nothing persisted) */
        const char *upstream_cert_path; /* upstream_authority.disk; NULL: self-signed root */
        const char *upstream_key_path;
        const char *upstream_bundle_path;       /* roots to publish; NULL: the upstream cert */
        uint64_t default_x509_ttl_sec;
        uint64_t default_jwt_ttl_sec;
        const char *jwt_issuer;         /* "iss" claim of JWT-SVIDs, or NULL for none */
} CaConfig;

/**
 * ca_new() - load the CA state from @cfg->keys_dir, or create a first active CA
 * @cfg:        configuration (copied)
 * @now:        unix seconds
 * @ret:        on success, the CA manager
 * @reterr:     on failure, the reason
 *
 * A restart reuses every slot that is still valid, so the bundle only changes
 * when a rotation is due.
 *
 * Return: 0 or negative errno.
 */
int ca_new(const CaConfig *cfg, uint64_t now, Ca **ret, SigilErr *reterr);
Ca *ca_free(Ca *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ca *, ca_free)

/**
 * ca_tick() - prepare, activate and retire slots as their times come
 * @ca:         the CA manager
 * @now:        unix seconds
 * @reterr:     on failure, the reason
 *
 * Return: 1 when the published bundle changed, 0 when not, negative errno on failure
 * (the CA keeps signing with what it has).
 */
int ca_tick(Ca *ca, uint64_t now, SigilErr *reterr);

/* The seconds until the next scheduled change (for the caller's timer). */
uint64_t ca_next_event(Ca *ca, uint64_t now);

/**
 * ca_get_bundle() - a copy of the trust bundle to publish (all live slots)
 * @ca:         the CA manager
 * @ret:        on success, the bundle (sequence 0: the caller versions it)
 *
 * Return: 0 or -ENOMEM.
 */
int ca_get_bundle(Ca *ca, SigilBundle **ret);

#define CA_KEY_ID_MAX 32                /* bytes of a key identifier (ours are SHA-1: 20) */

/**
 * ca_get_active_x509_key_id() - the key identifier of the X.509 CA that signs now
 * @ca:         the CA manager
 * @ret:        on success, the key ID: the CA certificate's subjectKeyIdentifier (else the
 *              SHA-1 of its public key), which is the authorityKeyIdentifier of every
 *              X.509-SVID it signs
 * @ret_n:      on success, its length
 *
 * Changes when ca_tick() activates another CA, which the bundle alone does not
 * show (the CA was published when it was prepared).
 *
 * Return: 0, -ENOENT (no active X.509 CA) or negative errno.
 */
int ca_get_active_x509_key_id(Ca *ca, uint8_t ret[static CA_KEY_ID_MAX], size_t *ret_n);

typedef struct CaX509Request {
        const char *spiffe_id;
        const char *const *dns_names;
        size_t n_dns_names;
        uint64_t ttl_sec;               /* 0: the default X.509-SVID TTL */
        const uint8_t *csr;             /* PKCS#10 DER, or NULL when @spki is given */
        size_t n_csr;
        const uint8_t *spki;            /* SubjectPublicKeyInfo DER */
        size_t n_spki;
} CaX509Request;

/* A certificate chain as DER, leaf first. */
typedef struct CaChain {
        uint8_t *der[4];
        size_t n_der[4];
        size_t n;
        uint64_t expires_at;            /* leaf notAfter, unix seconds */
        char serial[48];                /* leaf serial, hex */
} CaChain;

void ca_chain_done(CaChain *chain);

/**
 * ca_sign_x509_svid() - issue an X.509-SVID with the active CA
 * @ca:         the CA manager
 * @req:        what to sign
 * @ret:        on success, the chain (leaf, then our intermediate in upstream mode)
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EINVAL (refused by policy: reason in @reterr), -EOPNOTSUPP (key type),
 * or negative errno.
 */
int ca_sign_x509_svid(Ca *ca, const CaX509Request *req, CaChain *ret, SigilErr *reterr);

/**
 * ca_sign_jwt_svid() - sign a JWT-SVID with the active JWT key
 * @ca:         the CA manager
 * @spiffe_id:  subject; must be in this trust domain and have a path
 * @aud:        audiences (at least one)
 * @n_aud:      their number
 * @ttl_sec:    0: the default JWT-SVID TTL
 * @ret_token:  on success, the token
 * @ret_expires: on success, its exp
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EINVAL or negative errno.
 */
int ca_sign_jwt_svid(Ca *ca, const char *spiffe_id, const char *const *aud, size_t n_aud,
                     uint64_t ttl_sec, char **ret_token, uint64_t *ret_expires,
                     SigilErr *reterr);

/* Counts of live slots, for tests and health: X.509 then JWT, each prepared/active/old. */
typedef struct CaStatus {
        unsigned x509_prepared, x509_active, x509_old;
        unsigned jwt_prepared, jwt_active, jwt_old;
        uint64_t x509_active_not_after;
} CaStatus;

void ca_get_status(Ca *ca, CaStatus *ret);
