/* SPDX-License-Identifier: Apache-2.0 */
/* sigil jwtsvid.h - JWT-SVID signing, parsing and validation */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/spiffeid.h"

#define SIGIL_JWT_TOKEN_MAX (64u * 1024u)       /* bytes of compact JWS accepted */
#define SIGIL_JWT_AUDIENCES_MAX 64
#define SIGIL_JWT_LEEWAY_SEC 30                 /* clock skew tolerated on exp, nbf, iat */

typedef enum SigilJwtAlg {
        SIGIL_JWT_ES256,
        SIGIL_JWT_ES384,
        SIGIL_JWT_ES512,
        SIGIL_JWT_RS256,
        SIGIL_JWT_RS384,
        SIGIL_JWT_RS512,
        SIGIL_JWT_PS256,
        SIGIL_JWT_PS384,
        SIGIL_JWT_PS512,
        _SIGIL_JWT_ALG_MAX,
        _SIGIL_JWT_ALG_INVALID = -EINVAL,
} SigilJwtAlg;

SigilJwtAlg sigil_jwt_alg_from_string(const char *s);
const char *sigil_jwt_alg_to_string(SigilJwtAlg alg);

/*
 * A JWT-SVID signer: a private key, its key ID and algorithm, with the
 * signing context prepared once. Not thread-safe: one signer per thread.
 */
typedef struct SigilJwtSigner SigilJwtSigner;

/**
 * sigil_jwt_signer_new() - prepare a signer
 * @key:        private key (reference taken)
 * @kid:        key ID published in the bundle
 * @alg:        algorithm; must fit the key (ES256 for P-256, ES384 for P-384, RS256..PS512 for RSA)
 * @ret:        on success, the signer
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_jwt_signer_new(EVP_PKEY *key, const char *kid, SigilJwtAlg alg, SigilJwtSigner **ret,
                         SigilErr *reterr);
SigilJwtSigner *sigil_jwt_signer_free(SigilJwtSigner *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SigilJwtSigner *, sigil_jwt_signer_free)

/* Claims of a JWT-SVID to sign. Times are seconds since the epoch. */
typedef struct SigilJwtClaims {
        const SigilSpiffeId *sub;
        const char *const *aud;         /* at least one */
        size_t n_aud;
        uint64_t iat;
        uint64_t exp;
        const char *jti;                /* optional, NULL for none */
        json_t *extra;                  /* optional extra claims (object), borrowed; may be NULL */
} SigilJwtClaims;

/**
 * sigil_jwt_signer_sign() - sign a JWT-SVID
 * @signer:     the signer
 * @claims:     the claims
 * @ret_token:  on success, malloc'd compact JWS (header: alg, kid, typ=JWT)
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL, -ENOMEM or -EIO.
 */
int sigil_jwt_signer_sign(SigilJwtSigner *signer, const SigilJwtClaims *claims, char **ret_token,
                          SigilErr *reterr);

/* A validated JWT-SVID. */
typedef struct SigilJwtSvid {
        SigilSpiffeId id;       /* sub */
        char **aud;             /* NULL-terminated */
        uint64_t exp;
        uint64_t iat;           /* 0 if absent */
        json_t *claims;         /* the whole payload */
        char kid[SIGIL_JWT_KID_MAX + 1];
        SigilJwtAlg alg;
} SigilJwtSvid;

SigilJwtSvid *sigil_jwtsvid_free(SigilJwtSvid *svid);
DEFINE_TRIVIAL_CLEANUP_FUNC(SigilJwtSvid *, sigil_jwtsvid_free)

/**
 * sigil_jwtsvid_validate() - parse a compact JWS and validate it as a JWT-SVID
 * @token:      untrusted text (not necessarily NUL-terminated)
 * @n_token:    its length
 * @bundles:    trust bundles; the one for the trust domain of "sub" is used
 * @audience:   accepted audiences; the token's "aud" must contain at least one (n >= 1)
 * @n_audience: number of @audience values
 * @now:        seconds since the epoch
 * @ret:        on success, the validated SVID; may be NULL
 * @reterr:     on failure, the reason; may be NULL
 *
 * Order of checks: three base64url parts; header JSON (duplicate keys
 * rejected); "alg" in the allow-list (never "none" or HMAC) before anything
 * else; "typ" absent, "JWT" or "JOSE"; "kid" present; payload JSON; "sub" a
 * SPIFFE ID; bundle of its trust domain; key by "kid"; key type matches
 * "alg"; signature; "exp" present and not past (leeway); "nbf"/"iat" not in
 * the future beyond leeway; "aud" present and containing an expected value.
 *
 * Return: 0, -EINVAL (invalid, reason in @reterr), -ENOENT (no bundle or no key), -ENOMEM.
 */
int sigil_jwtsvid_validate(const char *token, size_t n_token, const SigilBundleSet *bundles,
                           const char *const *audience, size_t n_audience, uint64_t now,
                           SigilJwtSvid **ret, SigilErr *reterr);

/**
 * sigil_jwtsvid_parse_insecure() - parse without checking signature, audience or time
 * @token:      untrusted text
 * @n_token:    its length
 * @ret:        on success, the parsed SVID
 * @reterr:     on failure, the reason; may be NULL
 *
 * For tools that display a token. Never use it to authenticate.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_jwtsvid_parse_insecure(const char *token, size_t n_token, SigilJwtSvid **ret,
                                 SigilErr *reterr);
