/* SPDX-License-Identifier: Apache-2.0 */
/* The x509pop proof: one message layout, signed and verified with OpenSSL. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "sigil/x509pop.h"
#include "ssl-util.h"

#define X509POP_DOMAIN "sigil-x509pop-v1"
#define X509POP_MSG_LEN (sizeof(X509POP_DOMAIN) - 1 + SIGIL_X509POP_NONCE_LEN + 32)

static int build_message(const uint8_t *nonce, const uint8_t *csr, size_t n_csr,
                         uint8_t msg[X509POP_MSG_LEN]) {
        size_t n = sizeof(X509POP_DOMAIN) - 1;

        memcpy(msg, X509POP_DOMAIN, n);
        memcpy(msg + n, nonce, SIGIL_X509POP_NONCE_LEN);
        if (EVP_Digest(csr, n_csr, msg + n + SIGIL_X509POP_NONCE_LEN, NULL, EVP_sha256(), NULL) !=
            1)
                return -EIO;
        return 0;
}

/* Make @ctx use RSA-PSS with a digest-length salt when @key is RSA. */
static int setup_padding(EVP_PKEY *key, EVP_PKEY_CTX *pctx) {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
                return 0;
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) <= 0)
                return -EIO;
        return 0;
}

static bool key_supported(EVP_PKEY *key) {
        int id = EVP_PKEY_get_base_id(key);

        return id == EVP_PKEY_EC || id == EVP_PKEY_RSA;
}

int sigil_x509pop_sign(EVP_PKEY *key, const uint8_t nonce[SIGIL_X509POP_NONCE_LEN],
                       const uint8_t *csr, size_t n_csr, uint8_t **ret_sig, size_t *ret_n) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_(freep) uint8_t *sig = NULL;
        uint8_t msg[X509POP_MSG_LEN];
        EVP_PKEY_CTX *pctx = NULL;
        size_t n = 0;

        if (!key_supported(key))
                return -EOPNOTSUPP;
        if (!ctx || build_message(nonce, csr, n_csr, msg) < 0)
                return -EIO;
        if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1 ||
            setup_padding(key, pctx) < 0 ||
            EVP_DigestSign(ctx, NULL, &n, msg, sizeof(msg)) != 1)
                return -EIO;
        sig = malloc(n);
        if (!sig)
                return -ENOMEM;
        if (EVP_DigestSign(ctx, sig, &n, msg, sizeof(msg)) != 1)
                return -EIO;
        *ret_sig = TAKE_PTR(sig);
        *ret_n = n;
        return 0;
}

int sigil_x509pop_verify(EVP_PKEY *pub, const uint8_t nonce[SIGIL_X509POP_NONCE_LEN],
                         const uint8_t *csr, size_t n_csr, const uint8_t *sig, size_t n_sig,
                         SigilErr *reterr) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t msg[X509POP_MSG_LEN];
        EVP_PKEY_CTX *pctx = NULL;

        if (!key_supported(pub))
                return sigil_err_set(reterr, -EKEYREJECTED, "unsupported certificate key type");
        if (n_sig == 0 || n_sig > SIGIL_X509POP_SIG_MAX)
                return sigil_err_set(reterr, -EKEYREJECTED, "signature missing or too long");
        if (!ctx || build_message(nonce, csr, n_csr, msg) < 0 ||
            EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub) != 1 ||
            setup_padding(pub, pctx) < 0)
                return sigil_err_set(reterr, -EKEYREJECTED, "cannot set up verification");
        if (EVP_DigestVerify(ctx, sig, n_sig, msg, sizeof(msg)) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EKEYREJECTED,
                                     "proof of possession does not verify");
        }
        return 0;
}
