/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSR parser: untrusted PKCS#10 DER -> SigilCsr (public key, its type and its
 * SPKI DER). Only the key and the proof of possession matter; subject and
 * requested extensions are ignored because a certificate's contents come
 * from the registration entry. No I/O. Fuzzed by tests/fuzz/fuzz-csr.c.
 */
#include <errno.h>
#include <string.h>

#include "sigil/csr.h"
#include "ssl-util.h"

SigilCsr *sigil_csr_free(SigilCsr *csr) {
        if (!csr)
                return NULL;
        EVP_PKEY_free(csr->key);
        free(csr->spki);
        free(csr);
        return NULL;
}

/* The SPKI exactly as the request carries it (X509_PUBKEY re-encodes from its parsed fields). */
static int csr_spki_der(X509_REQ *req, SigilCsr *csr) {
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        int n;

        n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);
        if (n <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        csr->spki = malloc((size_t) n);
        if (!csr->spki)
                return -ENOMEM;
        memcpy(csr->spki, der, (size_t) n);
        csr->n_spki = (size_t) n;
        return 0;
}

/*
 * The issuer copies SPKI bytes into certificates and takes EC keys in one encoding only;
 * refuse other encodings (compressed points, explicit parameters) here, with the reason.
 */
static int csr_check_ec_encoding(const SigilCsr *csr) {
        const uint8_t *point;
        size_t n_point;

        if (csr->key_type != SIGIL_KEY_EC_P256 && csr->key_type != SIGIL_KEY_EC_P384)
                return 0;
        return ec_spki_point(csr->spki, csr->n_spki, &point, &n_point) > 0 ? 0 : -EOPNOTSUPP;
}

static int csr_new_from_req(X509_REQ *req, SigilCsr **ret, SigilErr *reterr) {
        _cleanup_(sigil_csr_freep) SigilCsr *csr = NULL;
        EVP_PKEY *key;
        int r;

        if (X509_REQ_get_version(req) != X509_REQ_VERSION_1)
                return sigil_err_set(reterr, -EINVAL, "CSR version is not 1");
        key = X509_REQ_get0_pubkey(req);
        if (!key) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EOPNOTSUPP, "CSR public key is invalid or of an "
                                                          "unsupported algorithm");
        }
        csr = new0(SigilCsr, 1);
        if (!csr)
                return -ENOMEM;
        if (sigil_key_type_of(key, &csr->key_type) != 0)
                return sigil_err_set(reterr, -EOPNOTSUPP, "CSR key type not supported (want EC "
                                                          "P-256/P-384 or RSA 2048/4096)");
        /* Proof of possession: the self-signature over the encoding as received. */
        if (X509_REQ_verify(req, key) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "CSR signature does not verify");
        }
        r = csr_spki_der(req, csr);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot encode the CSR public key");
        r = csr_check_ec_encoding(csr);
        if (r < 0)
                return sigil_err_set(reterr, r, "CSR EC key must use a named curve and an "
                                                "uncompressed point");
        if (!EVP_PKEY_up_ref(key))
                return -ENOMEM;
        csr->key = key;
        *ret = TAKE_PTR(csr);
        return 0;
}

int sigil_csr_parse(const uint8_t *der, size_t n_der, SigilCsr **ret, SigilErr *reterr) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        const unsigned char *p = der;

        if (!der || n_der == 0)
                return sigil_err_set(reterr, -EINVAL, "CSR is empty");
        if (n_der > SIGIL_CSR_DER_MAX)
                return sigil_err_set(reterr, -EINVAL, "CSR larger than %u bytes",
                                     (unsigned) SIGIL_CSR_DER_MAX);
        if (!der_is_single_tlv(der, n_der))
                return sigil_err_set(reterr, -EINVAL, "CSR is not exactly one DER element");
        req = d2i_X509_REQ(NULL, &p, (long) n_der);
        if (!req || p != der + n_der) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "malformed CSR");
        }
        return csr_new_from_req(req, ret, reterr);
}

/* SHA-384 for P-384, none for the one-shot EdDSA algorithms, else SHA-256. */
static const EVP_MD *csr_digest_for(EVP_PKEY *key) {
        SigilKeyType t;

        if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
                return NULL;
        if (sigil_key_type_of(key, &t) == 0 && t == SIGIL_KEY_EC_P384)
                return EVP_sha384();
        return EVP_sha256();
}

int sigil_csr_make(EVP_PKEY *key, uint8_t **ret, size_t *ret_n) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        uint8_t *out;
        int n;

        if (!key)
                return -EINVAL;
        req = X509_REQ_new();
        if (!req)
                return -ENOMEM;
        if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
            X509_REQ_set_pubkey(req, key) != 1 ||
            X509_REQ_sign(req, key, csr_digest_for(key)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        n = i2d_X509_REQ(req, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        out = malloc((size_t) n);
        if (!out)
                return -ENOMEM;
        memcpy(out, der, (size_t) n);
        *ret = out;
        *ret_n = (size_t) n;
        return 0;
}
