/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libsigil's issuing primitives on one thread, each for -seconds (default 3):
 *   x509_leaf  sigil_x509_issuer_sign_spki(): SPKI DER in, leaf DER out
 *   csr_check  sigil_csr_parse(): parse a PKCS#10 request and verify its signature
 *   jwt_es256  sigil_jwt_signer_sign(): one JWT-SVID signed with ES256
 * Prints "name per_second" lines for scripts/bench/issue, which sets them next
 * to `openssl speed ecdsap256` measured in the same run.
 */
#include <errno.h>

#include "bench-common.h"
#include "sigil/csr.h"
#include "sigil/jwtsvid.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

typedef struct IssueBench {
        SigilX509Issuer *issuer;
        SigilJwtSigner *signer;
        SigilSpiffeId id;
        uint8_t *spki, *csr;
        size_t n_spki, n_csr;
        uint64_t now;
} IssueBench;

static const char *const audience[] = { "spiffe://example.org/db" };

static int op_leaf(void *userdata) {
        IssueBench *b = userdata;
        SigilLeafParams p = {
                .id = &b->id,
                .not_before = b->now - 10,
                .not_after = b->now + 3600,
        };
        uint8_t *der = NULL;
        size_t n;
        SigilErr err = {};
        int r;

        r = sigil_x509_issuer_sign_spki(b->issuer, b->spki, b->n_spki, &p, &der, &n, &err);
        if (r < 0) {
                fprintf(stderr, "sigil_x509_issuer_sign_spki: %s\n", err.msg);
                return r;
        }
        free(der);
        return 0;
}

static int op_csr(void *userdata) {
        IssueBench *b = userdata;
        SigilCsr *csr = NULL;
        SigilErr err = {};
        int r;

        r = sigil_csr_parse(b->csr, b->n_csr, &csr, &err);
        if (r < 0) {
                fprintf(stderr, "sigil_csr_parse: %s\n", err.msg);
                return r;
        }
        sigil_csr_free(csr);
        return 0;
}

static int op_jwt(void *userdata) {
        IssueBench *b = userdata;
        SigilJwtClaims c = {
                .sub = &b->id,
                .aud = audience,
                .n_aud = 1,
                .iat = b->now,
                .exp = b->now + 300,
        };
        char *token = NULL;
        SigilErr err = {};
        int r;

        r = sigil_jwt_signer_sign(b->signer, &c, &token, &err);
        if (r < 0) {
                fprintf(stderr, "sigil_jwt_signer_sign: %s\n", err.msg);
                return r;
        }
        free(token);
        return 0;
}

/* A root CA and its issuer, a JWT signer, and a workload key as SPKI and as a CSR. */
static int setup(IssueBench *b) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = NULL, *jwt_key = NULL, *wl_key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL;
        SigilCaParams cp = {
                .trust_domain = "example.org",
                .not_before = b->now - 10,
                .not_after = b->now + 24 * 3600,
                .path_len = -1,
        };
        SigilErr err = {};

        if (sigil_key_generate(SIGIL_KEY_EC_P256, &ca_key) < 0 ||
            sigil_key_generate(SIGIL_KEY_EC_P256, &jwt_key) < 0 ||
            sigil_key_generate(SIGIL_KEY_EC_P256, &wl_key) < 0 ||
            sigil_spiffeid_from_string("spiffe://example.org/ns/prod/sa/web", &b->id, &err) < 0 ||
            sigil_x509_ca_create_root(ca_key, &cp, &ca, &err) < 0 ||
            sigil_x509_issuer_new(ca, ca_key, &b->issuer, &err) < 0 ||
            sigil_jwt_signer_new(jwt_key, "bench-kid", SIGIL_JWT_ES256, &b->signer, &err) < 0 ||
            sigil_key_to_spki_der(wl_key, &b->spki, &b->n_spki) < 0 ||
            sigil_csr_make(wl_key, &b->csr, &b->n_csr) < 0) {
                fprintf(stderr, "setup failed: %s\n", err.msg[0] ? err.msg : "(no detail)");
                return -EIO;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds(argc, argv), leaf = -1, csr = -1, jwt = -1;
        IssueBench b = { .now = sigil_now_sec() };

        if (setup(&b) == 0) {
                leaf = bench_run(op_leaf, &b, seconds);
                csr = bench_run(op_csr, &b, seconds);
                jwt = bench_run(op_jwt, &b, seconds);
        }
        sigil_x509_issuer_free(b.issuer);
        sigil_jwt_signer_free(b.signer);
        free(b.spki);
        free(b.csr);
        if (leaf < 0 || csr < 0 || jwt < 0)
                return 1;
        printf("x509_leaf_per_sec %.1f\ncsr_check_per_sec %.1f\njwt_es256_per_sec %.1f\n",
               leaf, csr, jwt);
        return 0;
}
