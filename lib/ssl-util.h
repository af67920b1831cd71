/* SPDX-License-Identifier: Apache-2.0 */
/* ssl-util.h - cleanup helpers for OpenSSL types (private to sigil) */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>

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

static inline void sk_X509_pop_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_pop_free(*p, X509_free);
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
