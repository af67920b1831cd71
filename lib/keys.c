/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys: the four key types sigil signs with and issues for (EC P-256/P-384,
 * RSA 2048/4096) and their encodings. Every parser is strict: exactly one
 * object, no trailing bytes, a supported type or an error. Private key bytes
 * that pass through our own buffers are wiped before they are freed; PEM
 * decoding of private keys goes through OpenSSL's secure heap for the same
 * reason.
 */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "sigil/keys.h"
#include "ssl-util.h"

#define KEY_PEM_MAX (64u * 1024u)       /* bytes of one private key PEM file */
#define KEY_SPKI_DER_MAX 4096u          /* an RSA-4096 SPKI is 550 bytes */
#define KEY_PKCS8_DER_MAX 8192u         /* an RSA-4096 PKCS#8 is about 2,400 bytes */

static const char *const key_type_names[_SIGIL_KEY_TYPE_MAX] = {
        [SIGIL_KEY_EC_P256] = "ec-p256",
        [SIGIL_KEY_EC_P384] = "ec-p384",
        [SIGIL_KEY_RSA_2048] = "rsa-2048",
        [SIGIL_KEY_RSA_4096] = "rsa-4096",
};

SigilKeyType sigil_key_type_from_string(const char *s) {
        if (!s)
                return _SIGIL_KEY_TYPE_INVALID;
        for (int i = 0; i < _SIGIL_KEY_TYPE_MAX; i++)
                if (streq(key_type_names[i], s))
                        return (SigilKeyType) i;
        return _SIGIL_KEY_TYPE_INVALID;
}

const char *sigil_key_type_to_string(SigilKeyType t) {
        if (t < 0 || t >= _SIGIL_KEY_TYPE_MAX)
                return NULL;
        return key_type_names[t];
}

int sigil_key_generate(SigilKeyType type, EVP_PKEY **ret) {
        EVP_PKEY *key;

        switch (type) {
        case SIGIL_KEY_EC_P256:
                key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                break;
        case SIGIL_KEY_EC_P384:
                key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
                break;
        case SIGIL_KEY_RSA_2048:
                key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                break;
        case SIGIL_KEY_RSA_4096:
                key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
                break;
        default:
                return -EINVAL;
        }
        if (!key) {
                ERR_clear_error();
                return -EIO;
        }
        *ret = key;
        return 0;
}

static int key_ec_type(const EVP_PKEY *key, SigilKeyType *ret) {
        char group[80];

        /* Explicit curve parameters have no group name and are refused here. */
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           NULL) != 1) {
                ERR_clear_error();
                return -EOPNOTSUPP;
        }
        if (streq(group, "prime256v1") || streq(group, "P-256"))
                *ret = SIGIL_KEY_EC_P256;
        else if (streq(group, "secp384r1") || streq(group, "P-384"))
                *ret = SIGIL_KEY_EC_P384;
        else
                return -EOPNOTSUPP;
        return 0;
}

int sigil_key_type_of(const EVP_PKEY *key, SigilKeyType *ret) {
        if (!key)
                return -EINVAL;
        if (EVP_PKEY_is_a(key, "EC"))
                return key_ec_type(key, ret);
        /* "RSA" only: RSA-PSS keys (id-RSASSA-PSS) are another type. */
        if (!EVP_PKEY_is_a(key, "RSA"))
                return -EOPNOTSUPP;
        switch (EVP_PKEY_get_bits(key)) {
        case 2048:
                *ret = SIGIL_KEY_RSA_2048;
                return 0;
        case 4096:
                *ret = SIGIL_KEY_RSA_4096;
                return 0;
        default:
                return -EOPNOTSUPP;
        }
}

static int key_check_supported(const EVP_PKEY *key, SigilErr *reterr) {
        SigilKeyType t;

        if (sigil_key_type_of(key, &t) != 0)
                return sigil_err_set(reterr, -EOPNOTSUPP,
                                     "key type not supported (want EC P-256/P-384 or RSA "
                                     "2048/4096)");
        return 0;
}

static int key_from_pkcs8(const uint8_t *der, size_t n_der, EVP_PKEY **ret) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        const unsigned char *p = der;
        EVP_PKEY *key;

        if (n_der > KEY_PKCS8_DER_MAX || !der_is_single_tlv(der, n_der))
                return -EINVAL;
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) n_der);
        if (!p8 || p != der + n_der) {
                ERR_clear_error();
                return -EINVAL;
        }
        key = EVP_PKCS82PKEY(p8);
        if (!key) {
                ERR_clear_error();
                return -EINVAL;
        }
        *ret = key;
        return 0;
}

/* Decode the DER of one PEM block by its label: PKCS#8, SEC1 or PKCS#1. */
static int key_from_pem_block(const PemBlock *b, EVP_PKEY **ret) {
        const unsigned char *p = b->data;
        size_t n = (size_t) b->n_data;
        EVP_PKEY *key;
        int type;

        if (streq(b->name, "PRIVATE KEY"))
                return key_from_pkcs8(b->data, n, ret);
        if (streq(b->name, "EC PRIVATE KEY"))
                type = EVP_PKEY_EC;
        else if (streq(b->name, "RSA PRIVATE KEY"))
                type = EVP_PKEY_RSA;
        else
                return -EINVAL;
        if (n > KEY_PKCS8_DER_MAX || !der_is_single_tlv(b->data, n))
                return -EINVAL;
        key = d2i_PrivateKey(type, NULL, &p, (long) n);
        if (!key || p != b->data + n) {
                EVP_PKEY_free(key);
                ERR_clear_error();
                return -EINVAL;
        }
        *ret = key;
        return 0;
}

int sigil_key_from_pem(const char *pem, size_t n_pem, EVP_PKEY **ret, SigilErr *reterr) {
        _cleanup_(pem_block_done) PemBlock b = {}, extra = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        int r;

        if (!pem || n_pem == 0 || n_pem > KEY_PEM_MAX)
                return sigil_err_set(reterr, -EINVAL, "private key PEM is empty or too large");
        if (memchr(pem, '\0', n_pem))
                return sigil_err_set(reterr, -EINVAL, "private key PEM contains a NUL byte");
        bio = BIO_new_mem_buf(pem, (int) n_pem);
        if (!bio)
                return -ENOMEM;
        r = pem_read_strict(bio, true, &b);
        if (r <= 0)
                return sigil_err_set(reterr, -EINVAL, "no well-formed unencrypted PEM block");
        if (streq(b.name, "EC PARAMETERS"))
                return sigil_err_set(reterr, -EINVAL, "unexpected EC PARAMETERS block before the "
                                                      "key (make keys with openssl genpkey)");
        if (pem_read_strict(bio, true, &extra) != 0)
                return sigil_err_set(reterr, -EINVAL, "unexpected data after the private key");
        r = key_from_pem_block(&b, &key);
        if (r < 0)
                return sigil_err_set(reterr, r, "'%s' is not a valid private key", b.name);
        if (key_check_supported(key, reterr) < 0)
                return -EINVAL;
        *ret = TAKE_PTR(key);
        return 0;
}

int sigil_key_load_pem(const char *path, EVP_PKEY **ret, SigilErr *reterr) {
        char *buf = NULL;
        size_t n = 0;
        int r;

        r = read_full_file(path, KEY_PEM_MAX, &buf, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "Failed to read key file '%s': %s", path,
                                     strerror(-r));
        r = sigil_key_from_pem(buf, n, ret, reterr);
        (void) clear_free(buf, n);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "Key file '%s'", path);
        return 0;
}

int sigil_key_store_pem(const char *path, EVP_PKEY *key) {
        char *pem = NULL;
        int r;

        r = sigil_key_to_pkcs8_pem(key, &pem);
        if (r < 0)
                return r;
        r = write_file_atomic(path, pem, strlen(pem), 0600);
        (void) clear_free(pem, strlen(pem));
        return r;
}

int sigil_key_to_pkcs8_der(EVP_PKEY *key, uint8_t **ret, size_t *ret_n) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        unsigned char *der = NULL;
        uint8_t *out;
        int n;

        if (!key)
                return -EINVAL;
        p8 = EVP_PKEY2PKCS8(key);
        if (!p8) {
                ERR_clear_error();
                return -EIO;
        }
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        out = malloc((size_t) n);
        if (out)
                memcpy(out, der, (size_t) n);
        OPENSSL_clear_free(der, (size_t) n);
        if (!out)
                return -ENOMEM;
        *ret = out;
        *ret_n = (size_t) n;
        return 0;
}

int sigil_key_to_pkcs8_pem(EVP_PKEY *key, char **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        uint8_t *der = NULL;
        size_t n_der = 0;
        char *text, *out;
        long n;
        int r;

        r = sigil_key_to_pkcs8_der(key, &der, &n_der);
        if (r < 0)
                return r;
        /* A secure-heap memory BIO is wiped when freed. */
        bio = BIO_new(BIO_s_secmem());
        if (!bio) {
                (void) clear_free(der, n_der);
                return -ENOMEM;
        }
        r = PEM_write_bio(bio, "PRIVATE KEY", "", der, (long) n_der);
        (void) clear_free(der, n_der);
        if (r <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        n = BIO_get_mem_data(bio, &text);
        if (n <= 0)
                return -EIO;
        out = malloc((size_t) n + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, text, (size_t) n);
        out[n] = '\0';
        *ret = out;
        return 0;
}

int sigil_key_from_pkcs8_der(const uint8_t *der, size_t n_der, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        if (!der || n_der == 0)
                return -EINVAL;
        r = key_from_pkcs8(der, n_der, &key);
        if (r < 0)
                return r;
        if (key_check_supported(key, NULL) < 0)
                return -EINVAL;
        *ret = TAKE_PTR(key);
        return 0;
}

int sigil_key_to_spki_der(const EVP_PKEY *key, uint8_t **ret, size_t *ret_n) {
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        uint8_t *out;
        int n;

        if (!key)
                return -EINVAL;
        n = i2d_PUBKEY(key, &der);
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

/* Whether the algorithm of a well-formed SPKI is one sigil could support at all. */
static bool key_spki_algorithm_known(const X509_PUBKEY *xpk) {
        const ASN1_OBJECT *alg = NULL;
        int nid;

        if (X509_PUBKEY_get0_param((ASN1_OBJECT **) &alg, NULL, NULL, NULL, xpk) != 1)
                return false;
        nid = OBJ_obj2nid(alg);
        return nid == NID_X9_62_id_ecPublicKey || nid == NID_rsaEncryption;
}

int sigil_key_from_spki_der(const uint8_t *der, size_t n_der, EVP_PKEY **ret, SigilErr *reterr) {
        _cleanup_(X509_PUBKEY_freep) X509_PUBKEY *xpk = NULL;
        const unsigned char *p = der;
        EVP_PKEY *key;

        if (!der || n_der == 0 || n_der > KEY_SPKI_DER_MAX)
                return sigil_err_set(reterr, -EINVAL, "public key is empty or too large");
        if (!der_is_single_tlv(der, n_der))
                return sigil_err_set(reterr, -EINVAL, "public key is not one DER element");
        xpk = d2i_X509_PUBKEY(NULL, &p, (long) n_der);
        if (!xpk || p != der + n_der) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "malformed SubjectPublicKeyInfo");
        }
        key = X509_PUBKEY_get0(xpk);
        if (!key) {
                ERR_clear_error();
                if (!key_spki_algorithm_known(xpk))
                        return sigil_err_set(reterr, -EOPNOTSUPP, "public key algorithm not "
                                                                  "supported");
                return sigil_err_set(reterr, -EINVAL, "invalid public key");
        }
        if (key_check_supported(key, reterr) < 0)
                return -EOPNOTSUPP;
        if (!EVP_PKEY_up_ref(key))
                return -ENOMEM;
        *ret = key;
        return 0;
}

int sigil_key_public_equal(const EVP_PKEY *a, const EVP_PKEY *b) {
        if (!a || !b)
                return false;
        return EVP_PKEY_eq(a, b) == 1;
}
