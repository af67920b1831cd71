/* SPDX-License-Identifier: Apache-2.0 */
/* ssl-util.h - cleanup helpers for OpenSSL types (private to sigil) */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sigil/error.h"
#include "sigil/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL *, X509_CRL_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS *, BASIC_CONSTRAINTS_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING *, ASN1_BIT_STRING_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(AUTHORITY_KEYID *, AUTHORITY_KEYID_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_PUBKEY *, X509_PUBKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_ALGOR *, X509_ALGOR_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME *, ASN1_TIME_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EC_GROUP *, EC_GROUP_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EC_POINT *, EC_POINT_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BN_CTX *, BN_CTX_free)

/* For buffers OpenSSL allocated (i2d_*() output, BN_bn2hex() text). */
static inline void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

static inline void sk_X509_pop_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_pop_free(*p, X509_free);
}

/* Free a stack that borrows its certificates. */
static inline void sk_X509_freep(STACK_OF(X509) **p) {
        sk_X509_free(*p);
}

/* Wipe @n bytes at *@p and free them. */
static inline void *clear_free(void *p, size_t n) {
        if (p) {
                OPENSSL_cleanse(p, n);
                free(p);
        }
        return NULL;
}

/* Drain OpenSSL's error queue into a short string for diagnostics. */
static inline const char *ssl_error_string(char *buf, size_t n) {
        unsigned long e = ERR_get_error();

        if (e == 0) {
                (void) snprintf(buf, n, "unknown OpenSSL error");
                return buf;
        }
        ERR_error_string_n(e, buf, n);
        ERR_clear_error();
        return buf;
}

/* A PEM block read by pem_read_strict(); free with pem_block_done(). */
typedef struct PemBlock {
        char *name;             /* "CERTIFICATE", "PRIVATE KEY", ... */
        unsigned char *data;    /* the decoded DER */
        long n_data;
        bool secure;            /* allocated from the secure heap, wiped on free */
} PemBlock;

static inline void pem_block_done(PemBlock *b) {
        if (b->secure) {
                OPENSSL_secure_free(b->name);
                OPENSSL_secure_clear_free(b->data, b->data ? (size_t) b->n_data : 0);
        } else {
                OPENSSL_free(b->name);
                OPENSSL_free(b->data);
        }
        *b = (PemBlock) {};
}

/*
 * pem_read_strict() - read the next PEM block of a read-only memory BIO
 * @bio:        a BIO_new_mem_buf() over untrusted text
 * @secure:     decode through the secure heap (private keys), so the base64 is wiped too
 * @ret:        on return 1, the block
 *
 * Only whitespace may come before a block; PEM headers (encryption) are refused.
 *
 * Return: 1 (a block), 0 (only whitespace left) or -EINVAL (garbage, malformed PEM).
 */
static inline int pem_read_strict(BIO *bio, bool secure, PemBlock *ret) {
        static const char begin[] = "-----BEGIN ";
        unsigned int flags = PEM_FLAG_EAY_COMPATIBLE | (secure ? PEM_FLAG_SECURE : 0);
        PemBlock b = { .secure = secure };
        char *header = NULL, *p, c;
        bool empty_header;
        long n;

        /* Skip whitespace, then insist on a BEGIN line: PEM_read_bio() would skip any text. */
        while ((n = BIO_get_mem_data(bio, &p)) > 0 && memchr(" \t\r\n", *p, 4))
                if (BIO_read(bio, &c, 1) != 1)
                        return -EINVAL;
        if (n <= 0)
                return 0;
        if (n < (long) sizeof(begin) - 1 || memcmp(p, begin, sizeof(begin) - 1) != 0)
                return -EINVAL;

        if (PEM_read_bio_ex(bio, &b.name, &header, &b.data, &b.n_data, flags) != 1) {
                ERR_clear_error();
                return -EINVAL;
        }
        empty_header = header[0] == '\0';
        if (secure)
                OPENSSL_secure_free(header);
        else
                OPENSSL_free(header);
        if (!empty_header || b.n_data <= 0) {
                pem_block_done(&b);
                return -EINVAL;
        }
        *ret = b;
        return 1;
}

/*
 * der_is_single_tlv() - whether @der is exactly one DER element: a low tag number and a
 * definite, minimally encoded length that spans the rest of the buffer. d2i_*() accept BER
 * lengths and some decoders swallow trailing bytes, so strict parsers check this first.
 */
static inline bool der_is_single_tlv(const uint8_t *der, size_t n) {
        size_t len = 0, k;

        if (n < 2 || (der[0] & 0x1f) == 0x1f)
                return false;
        if (der[1] < 0x80)
                return (size_t) der[1] + 2 == n;
        k = der[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k || der[2] == 0)
                return false;
        for (size_t i = 0; i < k; i++)
                len = (len << 8) | der[2 + i];
        return len >= 0x80 && len == n - 2 - k;
}

/*
 * ec_spki_point() - find the point in a P-256/P-384 SubjectPublicKeyInfo written the one way
 * sigil issues for: id-ecPublicKey, the named curve, an uncompressed point, nothing else.
 * Only the bytes are compared: whether the point is on the curve is the caller's check.
 *
 * Return: NID_X9_62_prime256v1 or NID_secp384r1 with *@ret_point and *@ret_n set; -1 when
 * only the first byte of the point is wrong (hybrid, infinity); else 0.
 */
static inline int ec_spki_point(const uint8_t *spki, size_t n, const uint8_t **ret_point,
                                size_t *ret_n) {
        static const uint8_t p256[] = {
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        };
        static const uint8_t p384[] = {
                0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
                0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        };
        static const struct {
                const uint8_t *prefix;
                size_t n_prefix, n_point;
                int nid;
        } forms[] = {
                { p256, sizeof(p256), 65, NID_X9_62_prime256v1 },
                { p384, sizeof(p384), 97, NID_secp384r1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
                if (n != forms[i].n_prefix + forms[i].n_point ||
                    memcmp(spki, forms[i].prefix, forms[i].n_prefix) != 0)
                        continue;
                if (spki[forms[i].n_prefix] != 0x04)
                        return -1;
                *ret_point = spki + forms[i].n_prefix;
                *ret_n = forms[i].n_point;
                return forms[i].nid;
        }
        return 0;
}

#define X509_SERIAL_BYTES 16

/*
 * x509_serial_random() - a fresh certificate serial: 128 random-ish bits with the top bit set,
 * so every serial is a positive 128-bit number (127 bits of entropy) encoded in DER as
 * 02 11 00 <16 bytes>.
 *
 * Return: 0 or -EIO.
 */
static inline int x509_serial_random(uint8_t ret[X509_SERIAL_BYTES]) {
        if (RAND_bytes(ret, X509_SERIAL_BYTES) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        ret[0] |= 0x80;
        return 0;
}

/*
 * Private to libsigil, in x509-ca.c: @issuer has CA:TRUE, may sign certificates (keyCertSign
 * when it has a key usage) and @issuer_key matches its public key.
 * Return: 0 or -EINVAL.
 */
int x509_check_signing_ca(X509 *issuer, EVP_PKEY *issuer_key, SigilErr *reterr);

/*
 * Private to libsigil, in x509-util.c: concatenated DER certificates -> stack, each one a
 * single DER element, at most @max_certs of them, at least one.
 * Return: 0, -EINVAL or -ENOMEM.
 */
int x509_parse_der_concat(const uint8_t *der, size_t n_der, size_t max_certs,
                          STACK_OF(X509) **ret, SigilErr *reterr);
