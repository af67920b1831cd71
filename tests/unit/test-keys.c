/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys: generation and classification of the four supported types, refusal
 * of the others, and every encoding round trip, each with its strictness
 * cases (trailing bytes, truncation, text around PEM, encrypted PEM, wrong
 * block type) and the 0600 atomic key file.
 */
#include "test-util.h"

#include <errno.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "fileio.h"
#include "sigil/keys.h"

/* Generated once: RSA-4096 takes seconds. */
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

static EVP_PKEY *gen_other(const char *alg, const char *curve, size_t bits) {
        EVP_PKEY *k;

        if (curve)
                k = EVP_PKEY_Q_keygen(NULL, NULL, alg, curve);
        else if (bits)
                k = EVP_PKEY_Q_keygen(NULL, NULL, alg, bits);
        else
                k = EVP_PKEY_Q_keygen(NULL, NULL, alg);
        assert_non_null(k);
        return k;
}

/* Keys sigil must refuse: other curves, small RSA, EdDSA. */
static EVP_PKEY *gen_unsupported(int i) {
        switch (i) {
        case 0:
                return gen_other("EC", "P-521", 0);
        case 1:
                return gen_other("EC", "secp256k1", 0);
        case 2:
                return gen_other("RSA", NULL, 1024);
        default:
                return gen_other("ED25519", NULL, 0);
        }
}

static void test_type_strings(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                const char *s = sigil_key_type_to_string((SigilKeyType) t);

                assert_non_null(s);
                assert_int_equal(sigil_key_type_from_string(s), t);
        }
        assert_string_equal(sigil_key_type_to_string(SIGIL_KEY_EC_P256), "ec-p256");
        assert_string_equal(sigil_key_type_to_string(SIGIL_KEY_RSA_4096), "rsa-4096");
        assert_int_equal(sigil_key_type_from_string("ec-p521"), _SIGIL_KEY_TYPE_INVALID);
        assert_int_equal(sigil_key_type_from_string("EC-P256"), _SIGIL_KEY_TYPE_INVALID);
        assert_int_equal(sigil_key_type_from_string(""), _SIGIL_KEY_TYPE_INVALID);
        assert_int_equal(sigil_key_type_from_string(NULL), _SIGIL_KEY_TYPE_INVALID);
        assert_null(sigil_key_type_to_string(_SIGIL_KEY_TYPE_MAX));
        assert_null(sigil_key_type_to_string(_SIGIL_KEY_TYPE_INVALID));
}

static void test_generate_and_classify(void **state) {
        static const int bits[] = { 256, 384, 2048, 4096 };
        EVP_PKEY *k = NULL;

        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                SigilKeyType got;

                assert_int_equal(sigil_key_type_of(keys[t], &got), 0);
                assert_int_equal(got, t);
                assert_int_equal(EVP_PKEY_get_bits(keys[t]), bits[t]);
        }
        assert_int_equal(sigil_key_generate(_SIGIL_KEY_TYPE_MAX, &k), -EINVAL);
        assert_int_equal(sigil_key_generate(_SIGIL_KEY_TYPE_INVALID, &k), -EINVAL);
        assert_null(k);
}

static void test_classify_unsupported(void **state) {
        for (int i = 0; i < 4; i++) {
                EVP_PKEY *k = gen_unsupported(i);
                SigilKeyType t = SIGIL_KEY_RSA_4096;

                assert_int_equal(sigil_key_type_of(k, &t), -EOPNOTSUPP);
                assert_int_equal(t, SIGIL_KEY_RSA_4096);        /* untouched on failure */
                EVP_PKEY_free(k);
        }
        assert_int_equal(sigil_key_type_of(NULL, &(SigilKeyType) { SIGIL_KEY_EC_P256 }), -EINVAL);
}

static void test_pkcs8_der_roundtrip(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                uint8_t *der = NULL, *longer;
                EVP_PKEY *k = NULL;
                size_t n = 0;

                assert_int_equal(sigil_key_to_pkcs8_der(keys[t], &der, &n), 0);
                assert_int_equal(sigil_key_from_pkcs8_der(der, n, &k), 0);
                assert_true(sigil_key_public_equal(k, keys[t]));
                assert_int_equal(EVP_PKEY_eq(k, keys[t]), 1);
                EVP_PKEY_free(k);
                k = NULL;

                /* One trailing byte, truncation, an empty buffer. */
                longer = malloc(n + 1);
                assert_non_null(longer);
                memcpy(longer, der, n);
                longer[n] = 0;
                assert_int_equal(sigil_key_from_pkcs8_der(longer, n + 1, &k), -EINVAL);
                assert_int_equal(sigil_key_from_pkcs8_der(der, n - 1, &k), -EINVAL);
                assert_int_equal(sigil_key_from_pkcs8_der(der, n / 2, &k), -EINVAL);
                assert_int_equal(sigil_key_from_pkcs8_der(der, 0, &k), -EINVAL);
                assert_null(k);
                free(longer);
                OPENSSL_cleanse(der, n);
                free(der);
        }
}

static void test_pkcs8_der_unsupported(void **state) {
        for (int i = 0; i < 4; i++) {
                EVP_PKEY *k = gen_unsupported(i), *out = NULL;
                uint8_t *der = NULL;
                size_t n = 0;

                assert_int_equal(sigil_key_to_pkcs8_der(k, &der, &n), 0);
                assert_int_equal(sigil_key_from_pkcs8_der(der, n, &out), -EINVAL);
                assert_null(out);
                free(der);
                EVP_PKEY_free(k);
        }
}

static void test_pkcs8_pem_roundtrip(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                SigilErr err = {};
                EVP_PKEY *k = NULL;
                char *pem = NULL;

                assert_int_equal(sigil_key_to_pkcs8_pem(keys[t], &pem), 0);
                assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
                assert_non_null(strstr(pem, "-----END PRIVATE KEY-----\n"));
                assert_int_equal(sigil_key_from_pem(pem, strlen(pem), &k, &err), 0);
                assert_int_equal(EVP_PKEY_eq(k, keys[t]), 1);
                EVP_PKEY_free(k);
                free(pem);
        }
}

/* The "traditional" encodings: SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY). */
static char *encode_type_specific_pem(EVP_PKEY *key) {
        OSSL_ENCODER_CTX *ectx;
        unsigned char *data = NULL;
        size_t n = 0;
        char *s;

        ectx = OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_KEYPAIR |
                                                          OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS,
                                             "PEM", "type-specific", NULL);
        assert_non_null(ectx);
        assert_int_equal(OSSL_ENCODER_to_data(ectx, &data, &n), 1);
        OSSL_ENCODER_CTX_free(ectx);
        s = malloc(n + 1);              /* the encoder's output is not NUL-terminated */
        assert_non_null(s);
        memcpy(s, data, n);
        s[n] = '\0';
        OPENSSL_free(data);
        return s;
}

static void test_traditional_pem(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                char *pem = encode_type_specific_pem(keys[t]);
                const char *label = t <= SIGIL_KEY_EC_P384 ? "-----BEGIN EC PRIVATE KEY-----"
                                                           : "-----BEGIN RSA PRIVATE KEY-----";
                EVP_PKEY *k = NULL;

                assert_non_null(strstr(pem, label));
                assert_int_equal(sigil_key_from_pem(pem, strlen(pem), &k, NULL), 0);
                assert_int_equal(EVP_PKEY_eq(k, keys[t]), 1);
                EVP_PKEY_free(k);
                free(pem);
        }
}

static void assert_pem_rejected(const char *pem, size_t n, const char *why) {
        SigilErr err = {};
        EVP_PKEY *k = NULL;

        assert_int_equal(sigil_key_from_pem(pem, n, &k, &err), -EINVAL);
        assert_null(k);
        assert_true(err.msg[0] != '\0');
        if (why)
                assert_non_null(strstr(err.msg, why));
}

static void test_pem_strict(void **state) {
        char *pem = NULL, buf[16384], *pub;
        size_t n;

        assert_int_equal(sigil_key_to_pkcs8_pem(keys[SIGIL_KEY_EC_P256], &pem), 0);
        n = strlen(pem);

        /* Whitespace around the block is fine. */
        (void) snprintf(buf, sizeof(buf), "\n  %s\n\n", pem);
        {
                EVP_PKEY *k = NULL;

                assert_int_equal(sigil_key_from_pem(buf, strlen(buf), &k, NULL), 0);
                EVP_PKEY_free(k);
        }
        (void) snprintf(buf, sizeof(buf), "%sgarbage\n", pem);
        assert_pem_rejected(buf, strlen(buf), "after");
        (void) snprintf(buf, sizeof(buf), "comment\n%s", pem);
        assert_pem_rejected(buf, strlen(buf), NULL);
        (void) snprintf(buf, sizeof(buf), "%s%s", pem, pem);
        assert_pem_rejected(buf, strlen(buf), "after");
        /* What "openssl ecparam -genkey" writes: parameters, then the key. */
        (void) snprintf(buf, sizeof(buf),
                        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                        "-----END EC PARAMETERS-----\n%s", pem);
        assert_pem_rejected(buf, strlen(buf), "EC PARAMETERS");
        assert_pem_rejected(pem, n - 30, NULL);                         /* truncated */
        assert_pem_rejected(pem, 0, NULL);
        assert_pem_rejected("", 0, NULL);
        memcpy(buf, pem, n);
        buf[40] = '\0';                                                 /* embedded NUL */
        assert_pem_rejected(buf, n, "NUL");
        memcpy(buf, pem, n);
        buf[40] = buf[40] == 'A' ? '!' : 'A';                           /* bad base64/DER */
        assert_pem_rejected(buf, n, NULL);

        /* A public key is not a private key. */
        {
                BIO *bio = BIO_new(BIO_s_mem());
                long n_pub;

                assert_int_equal(PEM_write_bio_PUBKEY(bio, keys[SIGIL_KEY_EC_P256]), 1);
                n_pub = BIO_get_mem_data(bio, &pub);
                assert_pem_rejected(pub, (size_t) n_pub, "PUBLIC KEY");
                BIO_free(bio);
        }
        free(pem);
}

static void test_pem_encrypted_rejected(void **state) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long n;

        assert_non_null(bio);
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, keys[SIGIL_KEY_EC_P256],
                                                       EVP_aes_256_cbc(), NULL, 0, NULL,
                                                       (void *) "secret"),
                         1);
        n = BIO_get_mem_data(bio, &data);
        assert_non_null(memmem(data, (size_t) n, "ENCRYPTED PRIVATE KEY", 21));
        assert_pem_rejected(data, (size_t) n, NULL);
        BIO_free(bio);
}

static void test_pem_unsupported_type(void **state) {
        for (int i = 0; i < 4; i++) {
                EVP_PKEY *k = gen_unsupported(i);
                char *pem = NULL;

                assert_int_equal(sigil_key_to_pkcs8_pem(k, &pem), 0);
                assert_pem_rejected(pem, strlen(pem), "not supported");
                free(pem);
                EVP_PKEY_free(k);
        }
}

static void test_store_and_load(void **state) {
        char *dir = test_mkdtemp(), path[512];
        SigilErr err = {};
        EVP_PKEY *k = NULL;
        struct stat st;

        (void) snprintf(path, sizeof(path), "%s/ca.key", dir);
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                assert_int_equal(sigil_key_store_pem(path, keys[t]), 0);
                assert_int_equal(stat(path, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0600);
                assert_int_equal(sigil_key_load_pem(path, &k, &err), 0);
                assert_int_equal(EVP_PKEY_eq(k, keys[t]), 1);
                EVP_PKEY_free(k);
                k = NULL;
        }
        /* The file is PKCS#8 PEM, readable by openssl. */
        assert_int_equal(run_cmd("openssl pkey -in '%s' -noout 2>/dev/null", path), 0);

        (void) snprintf(path, sizeof(path), "%s/missing.key", dir);
        assert_int_equal(sigil_key_load_pem(path, &k, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "missing.key"));
        (void) snprintf(path, sizeof(path), "%s/junk.key", dir);
        assert_int_equal(write_file_atomic(path, "junk\n", 5, 0600), 0);
        assert_int_equal(sigil_key_load_pem(path, &k, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "junk.key"));
        assert_null(k);
        rm_rf(dir);
        free(dir);
}

static void test_spki_roundtrip(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                uint8_t *der = NULL, *longer;
                SigilErr err = {};
                EVP_PKEY *k = NULL;
                SigilKeyType kt;
                size_t n = 0;

                assert_int_equal(sigil_key_to_spki_der(keys[t], &der, &n), 0);
                assert_int_equal(sigil_key_from_spki_der(der, n, &k, &err), 0);
                assert_true(sigil_key_public_equal(k, keys[t]));
                assert_int_equal(sigil_key_type_of(k, &kt), 0);
                assert_int_equal(kt, t);
                EVP_PKEY_free(k);
                k = NULL;

                longer = malloc(n + 2);
                assert_non_null(longer);
                memcpy(longer, der, n);
                longer[n] = 0x05;
                longer[n + 1] = 0x00;                   /* a trailing ASN.1 NULL */
                assert_int_equal(sigil_key_from_spki_der(longer, n + 2, &k, &err), -EINVAL);
                for (size_t cut = 1; cut < n; cut += 7)
                        assert_int_equal(sigil_key_from_spki_der(der, n - cut, &k, &err),
                                         -EINVAL);
                assert_null(k);
                free(longer);
                free(der);
        }
}

static void test_spki_unsupported(void **state) {
        static const uint8_t garbage[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
        SigilErr err = {};
        EVP_PKEY *out = NULL;

        for (int i = 0; i < 4; i++) {
                EVP_PKEY *k = gen_unsupported(i);
                uint8_t *der = NULL;
                size_t n = 0;

                assert_int_equal(sigil_key_to_spki_der(k, &der, &n), 0);
                assert_int_equal(sigil_key_from_spki_der(der, n, &out, &err), -EOPNOTSUPP);
                assert_null(out);
                free(der);
                EVP_PKEY_free(k);
        }
        assert_int_equal(sigil_key_from_spki_der(garbage, sizeof(garbage), &out, &err), -EINVAL);
        assert_int_equal(sigil_key_from_spki_der(garbage, 0, &out, &err), -EINVAL);
        assert_null(out);
}

static void test_public_equal(void **state) {
        assert_true(sigil_key_public_equal(keys[0], keys[0]));
        assert_false(sigil_key_public_equal(keys[0], keys[1]));
        assert_false(sigil_key_public_equal(keys[2], keys[3]));
        assert_false(sigil_key_public_equal(keys[0], NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_strings),
                cmocka_unit_test(test_generate_and_classify),
                cmocka_unit_test(test_classify_unsupported),
                cmocka_unit_test(test_pkcs8_der_roundtrip),
                cmocka_unit_test(test_pkcs8_der_unsupported),
                cmocka_unit_test(test_pkcs8_pem_roundtrip),
                cmocka_unit_test(test_traditional_pem),
                cmocka_unit_test(test_pem_strict),
                cmocka_unit_test(test_pem_encrypted_rejected),
                cmocka_unit_test(test_pem_unsupported_type),
                cmocka_unit_test(test_store_and_load),
                cmocka_unit_test(test_spki_roundtrip),
                cmocka_unit_test(test_spki_unsupported),
                cmocka_unit_test(test_public_equal),
        };

        return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
