/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the parsers that untrusted bytes reach on their way to the CA: the
 * PKCS#10 parser, the SubjectPublicKeyInfo parser, the issuer's own SPKI
 * checks, DER certificate chains and single PEM certificates. Whatever
 * parses goes one step further, as it would in the server: a CSR's key is
 * issued a leaf by a fixed test CA (and the leaf must verify against it), a
 * chain is run through the X.509-SVID validator.
 *
 * The test CA (P-256, trust domain fuzz.test) is made once per process.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sigil/bundle.h"
#include "sigil/csr.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define FUZZ_NOW UINT64_C(1767225600)   /* 2026-01-01T00:00:00Z: fixed, so runs repeat */

/* Process-wide on purpose: libFuzzer calls the entry point for every input. */
static SigilX509Issuer *fuzz_issuer;
static SigilBundleSet fuzz_bundles;
static SigilSpiffeId fuzz_id;

static void fuzz_setup(void) {
        SigilCaParams params = {
                .trust_domain = "fuzz.test",
                .not_before = FUZZ_NOW - 3600,
                .not_after = FUZZ_NOW + 365 * 24 * 3600,
                .path_len = -1,
        };
        EVP_PKEY *key = NULL;
        SigilBundle *bundle = NULL;
        X509 *ca = NULL;

        if (sigil_key_generate(SIGIL_KEY_EC_P256, &key) != 0 ||
            sigil_x509_ca_create_root(key, &params, &ca, NULL) != 0 ||
            sigil_x509_issuer_new(ca, key, &fuzz_issuer, NULL) != 0 ||
            sigil_bundle_new("fuzz.test", &bundle) != 0 ||
            sigil_bundle_add_x509_authority(bundle, ca) != 0 ||
            sigil_bundle_set_put(&fuzz_bundles, bundle) != 0 ||
            sigil_spiffeid_from_string("spiffe://fuzz.test/workload", &fuzz_id, NULL) != 0)
                abort();
        X509_free(ca);
        EVP_PKEY_free(key);
}

/* Issue a leaf for @spki when the issuer takes it; what it makes must verify. */
static void fuzz_issue(const uint8_t *spki, size_t n_spki) {
        static const char *const dns[] = { "workload.fuzz.test" };
        SigilLeafParams params = {
                .id = &fuzz_id,
                .dns_names = dns,
                .n_dns_names = 1,
                .not_before = FUZZ_NOW,
                .not_after = FUZZ_NOW + 3600,
        };
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *der = NULL;
        SigilKeyType t;
        size_t n = 0;

        if (sigil_x509_issuer_sign_spki(fuzz_issuer, spki, n_spki, &params, &der, &n, NULL) != 0)
                return;
        /* The issuer checks keys by their bytes alone: OpenSSL must agree with it. */
        if (sigil_key_from_spki_der(spki, n_spki, &key, NULL) != 0 ||
            sigil_key_type_of(key, &t) != 0)
                abort();
        if (sigil_x509_chain_from_der(der, n, &chain, NULL) != 0 || sk_X509_num(chain) != 1 ||
            EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), key) != 1 ||
            sigil_x509svid_verify(chain, &fuzz_bundles, FUZZ_NOW + 60, NULL, NULL) != 0)
                abort();                /* the issuer made something its validator refuses */
}

static void fuzz_chain(const uint8_t *data, size_t size) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        SigilSpiffeId id;
        char hex[41];

        if (sigil_x509_chain_from_der(data, size, &chain, NULL) != 0)
                return;
        (void) sigil_x509_spiffe_id(sk_X509_value(chain, 0), &id, NULL);
        (void) sigil_x509_serial_hex(sk_X509_value(chain, 0), hex, sizeof(hex));
        (void) sigil_x509_not_after(sk_X509_value(chain, 0));
        (void) sigil_x509svid_verify(chain, &fuzz_bundles, FUZZ_NOW, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sigil_csr_freep) SigilCsr *csr = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;

        if (!fuzz_issuer)
                fuzz_setup();

        if (sigil_csr_parse(data, size, &csr, NULL) == 0) {
                assert(csr->key && csr->spki && csr->n_spki > 0);
                fuzz_issue(csr->spki, csr->n_spki);
        }
        if (sigil_key_from_spki_der(data, size, &key, NULL) == 0) {
                SigilKeyType t;

                if (sigil_key_type_of(key, &t) != 0)
                        abort();        /* the parser let an unsupported key through */
        }
        /* The issuer's SPKI checks are a parser of their own, stricter than the one above. */
        fuzz_issue(data, size);
        fuzz_chain(data, size);
        if (sigil_x509_from_pem((const char *) data, size, &cert, NULL) == 0)
                (void) sigil_x509_not_before(cert);
        ERR_clear_error();
        return 0;
}
