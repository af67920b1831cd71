/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSR parser: requests made by sigil_csr_make() for each supported key type
 * parse and carry the right key and SPKI; tampered signatures, unsupported
 * key types (P-521, RSA-1024, Ed25519), trailing bytes, truncation at every
 * length, BER lengths and oversized input are all refused.
 */
#include "test-util.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sigil/csr.h"
#include "sigil/keys.h"

static EVP_PKEY *keys[_SIGIL_KEY_TYPE_MAX];

static int setup_keys(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++)
                if (sigil_key_generate((SigilKeyType) t, &keys[t]) != 0)
                        return -1;
        return 0;
}

static int teardown_keys(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++)
                EVP_PKEY_free(keys[t]);
        return 0;
}

static void assert_csr_rejected(const uint8_t *der, size_t n, int code) {
        SigilCsr *csr = NULL;
        SigilErr err = {};

        assert_int_equal(sigil_csr_parse(der, n, &csr, &err), code);
        assert_null(csr);
        assert_true(err.msg[0] != '\0');
}

static void test_parse_each_type(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                uint8_t *der = NULL, *spki = NULL;
                size_t n = 0, n_spki = 0;
                SigilCsr *csr = NULL;
                SigilErr err = {};

                assert_int_equal(sigil_csr_make(keys[t], &der, &n), 0);
                assert_int_equal(sigil_csr_parse(der, n, &csr, &err), 0);
                assert_int_equal(csr->key_type, t);
                assert_true(sigil_key_public_equal(csr->key, keys[t]));
                assert_int_equal(sigil_key_to_spki_der(keys[t], &spki, &n_spki), 0);
                assert_int_equal(csr->n_spki, n_spki);
                assert_memory_equal(csr->spki, spki, n_spki);
                csr = sigil_csr_free(csr);
                assert_null(csr);
                free(spki);
                free(der);
        }
        assert_null(sigil_csr_free(NULL));
}

/* The CSR's signature is the last element: flip a bit in it. */
static void test_tampered_signature(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                uint8_t *der = NULL;
                size_t n = 0;

                assert_int_equal(sigil_csr_make(keys[t], &der, &n), 0);
                der[n - 2] ^= 0x01;
                assert_csr_rejected(der, n, -EINVAL);
                free(der);
        }
}

/* Sign the request of one key with another: the proof of possession fails. */
static void test_wrong_key_signature(void **state) {
        X509_REQ *req = X509_REQ_new();
        unsigned char *der = NULL;
        int n;

        assert_non_null(req);
        assert_int_equal(X509_REQ_set_pubkey(req, keys[SIGIL_KEY_EC_P256]), 1);
        assert_true(X509_REQ_sign(req, keys[SIGIL_KEY_EC_P384], EVP_sha256()) > 0);
        n = i2d_X509_REQ(req, &der);
        assert_true(n > 0);
        assert_csr_rejected(der, (size_t) n, -EINVAL);
        OPENSSL_free(der);
        X509_REQ_free(req);
}

static void test_unsupported_keys(void **state) {
        EVP_PKEY *others[] = {
                EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
                EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024),
                EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
        };

        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                uint8_t *der = NULL;
                size_t n = 0;

                assert_non_null(others[i]);
                assert_int_equal(sigil_csr_make(others[i], &der, &n), 0);
                assert_csr_rejected(der, n, -EOPNOTSUPP);
                free(der);
                EVP_PKEY_free(others[i]);
        }
}

/* A P-256 key sent as a compressed point: valid, but not an encoding sigil issues for. */
static void test_compressed_point(void **state) {
        EVP_PKEY *k = EVP_PKEY_dup(keys[SIGIL_KEY_EC_P256]);
        uint8_t *der = NULL;
        SigilCsr *csr = NULL;
        SigilErr err = {};
        size_t n = 0;

        assert_non_null(k);
        assert_int_equal(EVP_PKEY_set_utf8_string_param(
                                 k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
                         1);
        assert_int_equal(sigil_csr_make(k, &der, &n), 0);
        assert_int_equal(sigil_csr_parse(der, n, &csr, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "uncompressed"));
        assert_null(csr);
        free(der);
        EVP_PKEY_free(k);
}

static void test_trailing_and_truncated(void **state) {
        uint8_t *der = NULL, *longer;
        size_t n = 0;

        assert_int_equal(sigil_csr_make(keys[SIGIL_KEY_EC_P256], &der, &n), 0);
        longer = malloc(n + 1);
        assert_non_null(longer);
        memcpy(longer, der, n);
        longer[n] = 0x00;
        assert_csr_rejected(longer, n + 1, -EINVAL);
        for (size_t k = 0; k < n; k++)
                assert_csr_rejected(der, k, -EINVAL);
        free(longer);
        free(der);
}

/* A long-form length where the short form fits is BER, not DER. */
static void test_ber_length_rejected(void **state) {
        uint8_t *der = NULL, *ber;
        size_t n = 0, len, hdr;

        assert_int_equal(sigil_csr_make(keys[SIGIL_KEY_EC_P256], &der, &n), 0);
        assert_int_equal(der[1], 0x81);                 /* a P-256 CSR is 128..255 bytes */
        len = der[2];
        hdr = 3;
        ber = malloc(n + 1);
        assert_non_null(ber);
        ber[0] = 0x30;
        ber[1] = 0x82;
        ber[2] = 0x00;
        ber[3] = (uint8_t) len;
        memcpy(ber + 4, der + hdr, n - hdr);
        {
                /* OpenSSL alone takes it: the strictness is ours. */
                const unsigned char *p = ber;
                X509_REQ *req = d2i_X509_REQ(NULL, &p, (long) n + 1);

                assert_non_null(req);
                X509_REQ_free(req);
        }
        assert_csr_rejected(ber, n + 1, -EINVAL);
        free(ber);
        free(der);
}

static void test_size_limits(void **state) {
        uint8_t *big = calloc(1, SIGIL_CSR_DER_MAX + 1);

        assert_non_null(big);
        big[0] = 0x30;
        big[1] = 0x82;
        big[2] = (uint8_t) ((SIGIL_CSR_DER_MAX - 3) >> 8);
        big[3] = (uint8_t) (SIGIL_CSR_DER_MAX - 3);
        assert_csr_rejected(big, SIGIL_CSR_DER_MAX + 1, -EINVAL);
        assert_csr_rejected(big, 0, -EINVAL);
        assert_csr_rejected(NULL, 10, -EINVAL);
        free(big);
}

static void test_garbage(void **state) {
        static const uint8_t not_csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
        static const uint8_t text[] = "-----BEGIN CERTIFICATE REQUEST-----";

        assert_csr_rejected(not_csr, sizeof(not_csr), -EINVAL);
        assert_csr_rejected(text, sizeof(text) - 1, -EINVAL);
}

/* A certificate is not a request, even though both start with a SEQUENCE. */
static void test_certificate_is_not_csr(void **state) {
        X509 *cert = X509_new();
        unsigned char *der = NULL;
        int n;

        assert_non_null(cert);
        assert_int_equal(X509_set_pubkey(cert, keys[SIGIL_KEY_EC_P256]), 1);
        assert_true(X509_sign(cert, keys[SIGIL_KEY_EC_P256], EVP_sha256()) > 0);
        n = i2d_X509(cert, &der);
        assert_true(n > 0);
        assert_csr_rejected(der, (size_t) n, -EINVAL);
        OPENSSL_free(der);
        X509_free(cert);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_each_type),
                cmocka_unit_test(test_tampered_signature),
                cmocka_unit_test(test_wrong_key_signature),
                cmocka_unit_test(test_unsupported_keys),
                cmocka_unit_test(test_compressed_point),
                cmocka_unit_test(test_trailing_and_truncated),
                cmocka_unit_test(test_ber_length_rejected),
                cmocka_unit_test(test_size_limits),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_certificate_is_not_csr),
        };

        return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
