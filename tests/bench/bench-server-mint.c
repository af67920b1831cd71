/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's signing path on one thread: ca_sign_x509_svid() from an SPKI
 * (what the agent API does for each CSR once parsed) and ca_sign_jwt_svid(),
 * each for -seconds (default 3). Prints "name per_second" lines for
 * scripts/bench/server-mint, which puts them next to `openssl speed`.
 * The CA is the real CA manager with the memory key manager (EC P-256).
 */
#include <errno.h>

#include "bench-common.h"
#include "ca/ca.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "ssl-util.h"

typedef struct MintBench {
        Ca *ca;
        uint8_t *spki;
        size_t n_spki;
} MintBench;

static const char *const audience[] = { "spiffe://example.org/db" };

static int op_x509(void *userdata) {
        MintBench *b = userdata;
        CaX509Request req = {
                .spiffe_id = "spiffe://example.org/ns/prod/sa/web",
                .spki = b->spki,
                .n_spki = b->n_spki,
        };
        CaChain chain = {};
        SigilErr err = {};
        int r;

        r = ca_sign_x509_svid(b->ca, &req, &chain, &err);
        if (r < 0) {
                fprintf(stderr, "ca_sign_x509_svid: %s\n", err.msg);
                return r;
        }
        ca_chain_done(&chain);
        return 0;
}

static int op_jwt(void *userdata) {
        MintBench *b = userdata;
        char *token = NULL;
        uint64_t exp;
        SigilErr err = {};
        int r;

        r = ca_sign_jwt_svid(b->ca, "spiffe://example.org/ns/prod/sa/web", audience, 1, 0,
                             &token, &exp, &err);
        if (r < 0) {
                fprintf(stderr, "ca_sign_jwt_svid: %s\n", err.msg);
                return r;
        }
        free(token);
        return 0;
}

int main(int argc, char *argv[]) {
        double seconds = bench_seconds(argc, argv), x509, jwt;
        CaConfig cfg = {
                .trust_domain = "example.org",
                .key_type = SIGIL_KEY_EC_P256,
                .jwt_key_type = SIGIL_KEY_EC_P256,
                .ca_ttl_sec = 24 * 3600,
                .default_x509_ttl_sec = 3600,
                .default_jwt_ttl_sec = 300,
        };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        MintBench b = {};
        SigilErr err = {};
        int r;

        if (sigil_key_generate(SIGIL_KEY_EC_P256, &key) < 0 ||
            sigil_key_to_spki_der(key, &b.spki, &b.n_spki) < 0) {
                fprintf(stderr, "cannot make a workload key\n");
                return 1;
        }
        (void) sigil_log_open_audit_file("/dev/null");        /* the CA audits its keys */
        r = ca_new(&cfg, sigil_now_sec(), &b.ca, &err);
        if (r < 0) {
                fprintf(stderr, "ca_new: %s\n", err.msg);
                return 1;
        }
        x509 = bench_run(op_x509, &b, seconds);
        jwt = bench_run(op_jwt, &b, seconds);
        ca_free(b.ca);
        free(b.spki);
        if (x509 < 0 || jwt < 0)
                return 1;
        printf("x509_svid_per_sec %.1f\njwt_svid_per_sec %.1f\n", x509, jwt);
        return 0;
}
