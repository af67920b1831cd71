/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the bundle JSON parsers: sigil_bundle_from_spiffe_json() and
 * sigil_bundle_from_jwks_json(). Whatever parses must be emitted again
 * (an encoder failure on a parsed bundle is a bug) and must re-parse to the
 * same authorities and metadata; a SPIFFE bundle's JWT keys must also
 * survive the plain JWK Set the Workload API serves.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "sigil/bundle.h"

#define FUZZ_TD "example.org"

typedef int (*ParseFn)(const char *td, const char *json, size_t n, SigilBundle **ret,
                       SigilErr *reterr);
typedef int (*EmitFn)(const SigilBundle *b, char **ret);

/* Emit @b with @emit, parse it back with @parse, and return the copy; abort on any failure. */
static SigilBundle *round_trip(const SigilBundle *b, EmitFn emit, ParseFn parse) {
        SigilBundle *again = NULL;
        SigilErr err = {};
        char *json = NULL;

        if (emit(b, &json) != 0)
                abort();
        if (parse(FUZZ_TD, json, strlen(json), &again, &err) != 0) {
                fprintf(stderr, "re-parse failed: %s\n%s\n", err.msg, json);
                abort();
        }
        free(json);
        return again;
}

static bool same_jwt_authorities(const SigilBundle *a, const SigilBundle *b) {
        if (a->n_jwt_authorities != b->n_jwt_authorities)
                return false;
        for (size_t i = 0; i < a->n_jwt_authorities; i++) {
                const SigilJwtAuthority *o =
                        sigil_bundle_find_jwt_authority(b, a->jwt_authorities[i].kid);

                if (!o || EVP_PKEY_eq(o->key, a->jwt_authorities[i].key) != 1)
                        return false;
        }
        return true;
}

static void fuzz_spiffe(const char *data, size_t size) {
        SigilBundle *b = NULL, *again, *jwks;

        if (sigil_bundle_from_spiffe_json(FUZZ_TD, data, size, &b, NULL) != 0)
                return;
        again = round_trip(b, sigil_bundle_to_spiffe_json, sigil_bundle_from_spiffe_json);
        if (!sigil_bundle_equal_authorities(b, again) || b->sequence != again->sequence ||
            b->refresh_hint_sec != again->refresh_hint_sec)
                abort();
        jwks = round_trip(b, sigil_bundle_to_jwt_jwks_json, sigil_bundle_from_jwks_json);
        if (!same_jwt_authorities(b, jwks) || sk_X509_num(jwks->x509_authorities) != 0)
                abort();
        sigil_bundle_free(jwks);
        sigil_bundle_free(again);
        sigil_bundle_free(b);
}

static void fuzz_jwks(const char *data, size_t size) {
        SigilBundle *b = NULL, *again;

        if (sigil_bundle_from_jwks_json(FUZZ_TD, data, size, &b, NULL) != 0)
                return;
        if (sk_X509_num(b->x509_authorities) != 0)
                abort();
        again = round_trip(b, sigil_bundle_to_jwt_jwks_json, sigil_bundle_from_jwks_json);
        if (!sigil_bundle_equal_authorities(b, again))
                abort();
        sigil_bundle_free(again);
        sigil_bundle_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_spiffe((const char *) data, size);
        fuzz_jwks((const char *) data, size);
        return 0;
}
