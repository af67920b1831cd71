/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundles as JSON: the SPIFFE bundle format (a JWK Set whose keys carry
 * "use": "x509-svid" or "jwt-svid", plus spiffe_sequence and
 * spiffe_refresh_hint) and the plain JWK Set of JWT keys that the Workload
 * API serves (kid, no use, no SPIFFE members).
 *
 * Rules kept here (spec-checklist §4, X509-20/21, JWT-14/15):
 *  - "keys" is required (it may be empty); unknown top-level members are
 *    tolerated; duplicate JSON keys anywhere reject the whole document.
 *  - A JWK whose "use" is missing or unknown (compared case-sensitively), or
 *    whose "kty" (or EC "crv") we do not know, is skipped. "wit-svid" keys are
 *    skipped too: sigil does not issue WIT-SVIDs.
 *  - A JWK we do understand but which is malformed rejects the whole bundle,
 *    as does a jwt-svid key without "kid": a half-loaded bundle would fail
 *    later in a way that is much harder to diagnose.
 *  - x509-svid keys: skipped when "x5c" is missing or empty; otherwise the
 *    first element must be a DER CA certificate (basicConstraints CA:TRUE,
 *    keyCertSign when keyUsage is present) and later elements are ignored.
 *    The certificate's key must be of the JWK's "kty", and when the JWK also
 *    carries key members (crv/x/y, n/e) they must describe that same key
 *    (RFC 7517 §4.7). SPIRE does not check this; we do, because a JWK whose
 *    members disagree with its certificate is either corrupt or an attempt
 *    to make two consumers trust different keys.
 *  - spiffe_sequence and spiffe_refresh_hint are JSON integers >= 0 (no
 *    floats). jansson keeps integers as int64, so a sequence above 2^53
 *    round-trips exactly; values above 2^63-1 cannot be represented and are
 *    rejected when parsing and refused when emitting.
 *
 * Emitting follows the publisher rules: x509-svid keys have no "kid" and one
 * standard padded base64 certificate in "x5c"; jwt-svid keys have "kid".
 */
#include <errno.h>
#include <limits.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "base64.h"
#include "json-util.h"
#include "jwk.h"
#include "sigil/bundle.h"
#include "ssl-util.h"

#define BUNDLE_JSON_FLAGS_OUT (JSON_INDENT(2) | JSON_ENSURE_ASCII)

typedef enum JwksFormat {
        JWKS_FORMAT_SPIFFE,     /* SPIFFE bundle: "use" required */
        JWKS_FORMAT_PLAIN,      /* Workload API JWT bundle: "use" optional, JWT keys only */
} JwksFormat;

typedef enum JwkRole {
        JWK_ROLE_SKIP,
        JWK_ROLE_X509,
        JWK_ROLE_JWT,
} JwkRole;

static int load_json_object(const char *json, size_t n_json, json_t **ret, SigilErr *reterr) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        json_error_t jerr;

        if (!json || n_json == 0)
                return sigil_err_set(reterr, -EINVAL, "empty bundle");
        if (n_json > SIGIL_BUNDLE_JSON_MAX)
                return sigil_err_set(reterr, -EINVAL, "bundle larger than %u bytes",
                                     SIGIL_BUNDLE_JSON_MAX);
        if (memchr(json, '\0', n_json))
                return sigil_err_set(reterr, -EINVAL, "bundle contains a NUL byte");
        root = json_loadb(json, n_json, SIGIL_JSON_DECODE_FLAGS, &jerr);
        if (!root)
                return sigil_err_set(reterr, -EINVAL, "invalid bundle JSON: %s (line %d)",
                                     jerr.text, jerr.line);
        if (!json_is_object(root))
                return sigil_err_set(reterr, -EINVAL, "bundle JSON is not an object");
        *ret = TAKE_PTR(root);
        return 0;
}

/* An optional non-negative integer member; 0 when absent. */
static int get_uint_member(json_t *root, const char *name, int64_t *ret, SigilErr *reterr) {
        json_t *v = json_object_get(root, name);

        if (!v) {
                *ret = 0;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return sigil_err_set(reterr, -EINVAL, "\"%s\" must be a non-negative integer",
                                     name);
        *ret = json_integer_value(v);
        return 0;
}

static int parse_metadata(json_t *root, SigilBundle *b, SigilErr *reterr) {
        /* Set on success; gcc -O3 cannot see that sigil_err_set() returns a negative code. */
        int64_t seq = 0, hint = 0;
        int r;

        r = get_uint_member(root, "spiffe_sequence", &seq, reterr);
        if (r < 0)
                return r;
        r = get_uint_member(root, "spiffe_refresh_hint", &hint, reterr);
        if (r < 0)
                return r;
        b->sequence = (uint64_t) seq;
        b->refresh_hint_sec = hint;
        return 0;
}

/* What a JWK is for, from its "use" (and the format it came in). */
static int jwk_role(json_t *jwk, JwksFormat format, JwkRole *ret, SigilErr *reterr) {
        json_t *use = json_object_get(jwk, "use");
        const char *u;

        if (!use) {
                *ret = format == JWKS_FORMAT_PLAIN ? JWK_ROLE_JWT : JWK_ROLE_SKIP;
                return 0;
        }
        if (!json_is_string(use))
                return sigil_err_set(reterr, -EINVAL, "\"use\" is not a string");
        u = json_string_value(use);
        if (streq(u, "jwt-svid") || (format == JWKS_FORMAT_PLAIN && streq(u, "sig")))
                *ret = JWK_ROLE_JWT;
        else if (format == JWKS_FORMAT_SPIFFE && streq(u, "x509-svid"))
                *ret = JWK_ROLE_X509;
        else
                *ret = JWK_ROLE_SKIP;
        return 0;
}

static bool kty_supported(json_t *jwk) {
        const char *kty = json_string_value(json_object_get(jwk, "kty"));

        return kty && (streq(kty, "EC") || streq(kty, "RSA"));
}

/* True when the JWK carries members describing a key besides "kty". */
static bool jwk_has_key_members(json_t *jwk) {
        static const char *const members[] = { "crv", "x", "y", "n", "e" };

        for (size_t i = 0; i < ELEMENTSOF(members); i++)
                if (json_object_get(jwk, members[i]))
                        return true;
        return false;
}

/*
 * The x5c certificate's key must be of the JWK's kty, one we can publish as
 * a JWK again (an EC key on another curve is skipped like an unknown "crv",
 * an RSA key outside 2048..8192 bits is refused like one in a jwt-svid
 * JWK), pass the same checks as a JWK key (found by fuzz-bundle: a corrupt
 * modulus inside an unverified certificate), and equal the JWK's key
 * members, if it has any.
 */
static int check_x509_jwk_key(json_t *jwk, X509 *cert, SigilErr *reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *member_key = NULL, *checked_key = NULL;
        _cleanup_(json_decrefp) json_t *cert_jwk = NULL;
        EVP_PKEY *cert_key = X509_get0_pubkey(cert);
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        int r;

        if (!cert_key || !EVP_PKEY_is_a(cert_key, kty))
                return sigil_err_set(reterr, -EINVAL, "x5c certificate key is not of kty %s",
                                     kty);
        r = jwk_from_pkey(cert_key, &cert_jwk);
        if (r == -EOPNOTSUPP && streq(kty, "RSA"))
                return sigil_err_set(reterr, -EINVAL, "x5c certificate RSA key size unsupported");
        if (r < 0)
                return r;
        /* The certificate's signature is not checked here, so its key is untrusted input too. */
        r = jwk_to_pkey(cert_jwk, &checked_key, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "x5c certificate key");
        if (!jwk_has_key_members(jwk))
                return 0;
        r = jwk_to_pkey(jwk, &member_key, reterr);
        if (r < 0)
                return r;
        if (EVP_PKEY_eq(cert_key, member_key) != 1)
                return sigil_err_set(reterr, -EINVAL, "x5c certificate does not match the JWK key");
        return 0;
}

static int parse_x5c_cert(json_t *first, X509 **ret, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *der = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        const unsigned char *p;
        size_t n_der;

        if (!json_is_string(first))
                return sigil_err_set(reterr, -EINVAL, "x5c element is not a string");
        if (base64_decode(json_string_value(first), json_string_length(first), &der, &n_der) < 0 ||
            n_der == 0 || n_der > LONG_MAX)
                return sigil_err_set(reterr, -EINVAL, "x5c element is not base64");
        p = der;
        cert = d2i_X509(NULL, &p, (long) n_der);
        if (!cert || p != der + n_der) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "x5c element is not a DER certificate");
        }
        if (X509_check_ca(cert) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "x5c certificate is not a CA certificate");
        }
        *ret = TAKE_PTR(cert);
        return 0;
}

static int parse_x509_jwk(SigilBundle *b, json_t *jwk, SigilErr *reterr) {
        _cleanup_(X509_freep) X509 *cert = NULL;
        json_t *x5c = json_object_get(jwk, "x5c");
        int r;

        if (!x5c)
                return 0;       /* X509-21: skipped */
        if (!json_is_array(x5c))
                return sigil_err_set(reterr, -EINVAL, "x5c is not an array");
        if (json_array_size(x5c) == 0)
                return 0;
        r = parse_x5c_cert(json_array_get(x5c, 0), &cert, reterr);
        if (r < 0)
                return r;
        r = check_x509_jwk_key(jwk, cert, reterr);
        if (r == -EOPNOTSUPP)
                return 0;       /* members of a curve we do not know: skip like an unknown kty */
        if (r < 0)
                return r;
        r = sigil_bundle_add_x509_authority(b, cert);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot add X.509 authority");
        return 0;
}

static int parse_jwt_jwk(SigilBundle *b, json_t *jwk, SigilErr *reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        json_t *kid = json_object_get(jwk, "kid");
        int r;

        if (!json_is_string(kid) || json_string_length(kid) == 0)
                return sigil_err_set(reterr, -EINVAL, "JWT key without \"kid\"");
        if (json_string_length(kid) > SIGIL_JWT_KID_MAX)
                return sigil_err_set(reterr, -EINVAL, "\"kid\" longer than %d bytes",
                                     SIGIL_JWT_KID_MAX);
        r = jwk_to_pkey(jwk, &key, reterr);
        if (r == -EOPNOTSUPP)
                return 0;
        if (r < 0)
                return r;
        r = sigil_bundle_add_jwt_authority(b, json_string_value(kid), key, 0);
        if (r == -EEXIST)
                return sigil_err_set(reterr, -EINVAL, "two JWT keys share one \"kid\"");
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot add JWT authority");
        return 0;
}

static int parse_one_jwk(SigilBundle *b, json_t *jwk, JwksFormat format, SigilErr *reterr) {
        JwkRole role = JWK_ROLE_SKIP;
        int r;

        if (!json_is_object(jwk))
                return sigil_err_set(reterr, -EINVAL, "not an object");
        r = jwk_role(jwk, format, &role, reterr);
        if (r < 0)
                return r;
        if (role == JWK_ROLE_SKIP)
                return 0;
        if (!json_is_string(json_object_get(jwk, "kty")))
                return sigil_err_set(reterr, -EINVAL, "no \"kty\"");
        if (!kty_supported(jwk))
                return 0;       /* BUNDLE-05: unknown kty skipped */
        if (role == JWK_ROLE_X509)
                return parse_x509_jwk(b, jwk, reterr);
        return parse_jwt_jwk(b, jwk, reterr);
}

static int parse_keys(json_t *root, SigilBundle *b, JwksFormat format, SigilErr *reterr) {
        json_t *keys = json_object_get(root, "keys");
        json_t *jwk;
        size_t i;
        int r;

        if (!keys)
                return sigil_err_set(reterr, -EINVAL, "bundle has no \"keys\"");
        if (!json_is_array(keys))
                return sigil_err_set(reterr, -EINVAL, "\"keys\" is not an array");
        if (json_array_size(keys) > SIGIL_BUNDLE_KEYS_MAX)
                return sigil_err_set(reterr, -EINVAL, "bundle has more than %d keys",
                                     SIGIL_BUNDLE_KEYS_MAX);
        json_array_foreach(keys, i, jwk) {
                r = parse_one_jwk(b, jwk, format, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "key %zu", i);
        }
        return 0;
}

static int bundle_from_json(const char *td, const char *json, size_t n_json, JwksFormat format,
                            SigilBundle **ret, SigilErr *reterr) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        int r;

        r = sigil_bundle_new(td, &b);
        if (r == -EINVAL)
                return sigil_err_set(reterr, r, "invalid trust domain");
        if (r < 0)
                return r;
        r = load_json_object(json, n_json, &root, reterr);
        if (r < 0)
                return r;
        if (format == JWKS_FORMAT_SPIFFE) {
                r = parse_metadata(root, b, reterr);
                if (r < 0)
                        return r;
        }
        r = parse_keys(root, b, format, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int sigil_bundle_from_spiffe_json(const char *td, const char *json, size_t n_json,
                                  SigilBundle **ret, SigilErr *reterr) {
        return bundle_from_json(td, json, n_json, JWKS_FORMAT_SPIFFE, ret, reterr);
}

int sigil_bundle_from_jwks_json(const char *td, const char *json, size_t n_json,
                                SigilBundle **ret, SigilErr *reterr) {
        return bundle_from_json(td, json, n_json, JWKS_FORMAT_PLAIN, ret, reterr);
}

static int set_string(json_t *obj, const char *name, const char *value) {
        return json_object_set_new(obj, name, json_string(value)) < 0 ? -ENOMEM : 0;
}

static int jwt_authority_to_jwk(const SigilJwtAuthority *a, bool with_use, json_t **ret) {
        _cleanup_(json_decrefp) json_t *jwk = NULL;
        int r;

        r = jwk_from_pkey(a->key, &jwk);
        if (r < 0)
                return r;
        r = set_string(jwk, "kid", a->kid);
        if (r == 0 && with_use)
                r = set_string(jwk, "use", "jwt-svid");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(jwk);
        return 0;
}

static int x509_authority_to_jwk(X509 *ca, json_t **ret) {
        _cleanup_(json_decrefp) json_t *jwk = NULL;
        _cleanup_(freep) unsigned char *der = NULL;
        _cleanup_(freep) char *b64 = NULL;
        json_t *x5c;
        int n_der, r;

        r = jwk_from_pkey(X509_get0_pubkey(ca), &jwk);
        if (r < 0)
                return r;
        n_der = i2d_X509(ca, &der);
        if (n_der <= 0)
                return -ENOMEM;
        r = base64_encode(der, (size_t) n_der, &b64);
        if (r < 0)
                return r;
        x5c = json_array();
        if (json_object_set_new(jwk, "x5c", x5c) < 0 ||
            json_array_append_new(x5c, json_string(b64)) < 0)
                return -ENOMEM;
        r = set_string(jwk, "use", "x509-svid");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(jwk);
        return 0;
}

static int append_jwt_keys(const SigilBundle *b, bool with_use, json_t *keys) {
        for (size_t i = 0; i < b->n_jwt_authorities; i++) {
                json_t *jwk = NULL;
                int r;

                r = jwt_authority_to_jwk(&b->jwt_authorities[i], with_use, &jwk);
                if (r < 0)
                        return r;
                if (json_array_append_new(keys, jwk) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int append_x509_keys(const SigilBundle *b, json_t *keys) {
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++) {
                json_t *jwk = NULL;
                int r;

                r = x509_authority_to_jwk(sk_X509_value(b->x509_authorities, i), &jwk);
                if (r < 0)
                        return r;
                if (json_array_append_new(keys, jwk) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int dump_json(json_t *root, char **ret) {
        char *s = json_dumps(root, BUNDLE_JSON_FLAGS_OUT);

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int set_metadata(const SigilBundle *b, json_t *root) {
        if (b->sequence > (uint64_t) INT64_MAX || b->refresh_hint_sec < 0)
                return -ERANGE;
        if (b->sequence != 0 &&
            json_object_set_new(root, "spiffe_sequence",
                                json_integer((json_int_t) b->sequence)) < 0)
                return -ENOMEM;
        if (b->refresh_hint_sec != 0 &&
            json_object_set_new(root, "spiffe_refresh_hint",
                                json_integer((json_int_t) b->refresh_hint_sec)) < 0)
                return -ENOMEM;
        return 0;
}

int sigil_bundle_to_spiffe_json(const SigilBundle *b, char **ret) {
        _cleanup_(json_decrefp) json_t *root = json_object();
        json_t *keys = json_array();
        int r;

        if (!root || json_object_set_new(root, "keys", keys) < 0)
                return -ENOMEM;
        r = append_x509_keys(b, keys);
        if (r < 0)
                return r;
        r = append_jwt_keys(b, true, keys);
        if (r < 0)
                return r;
        r = set_metadata(b, root);
        if (r < 0)
                return r;
        return dump_json(root, ret);
}

int sigil_bundle_to_jwt_jwks_json(const SigilBundle *b, char **ret) {
        _cleanup_(json_decrefp) json_t *root = json_object();
        json_t *keys = json_array();
        int r;

        if (!root || json_object_set_new(root, "keys", keys) < 0)
                return -ENOMEM;
        r = append_jwt_keys(b, false, keys);
        if (r < 0)
                return r;
        return dump_json(root, ret);
}
