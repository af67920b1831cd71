/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509-SVIDs (spec-checklist section 2).
 *
 * Issuer side: every certificate sigil makes is parsed back with OpenSSL and
 * checked field by field for every CA/leaf key type combination (X509-01,
 * 05, 07, 08, 11, 13, 14, 15, 16; serials, validity caps, time encodings,
 * SKI/AKI), and compared with what OpenSSL prints.
 *
 * Validator side: every rule has a negative fixture built here with
 * OpenSSL's high-level API, next to a positive fixture built the same way
 * that passes, so each negative fails for the rule it names (X509-02, 04,
 * 10, 15, 18, 19).
 *
 * Also: chain/PEM helpers, the PEM and DER bundle encodings, and cross-checks
 * with the openssl command line tool.
 */
#include "test-util.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

#include "fileio.h"
#include "sigil/bundle.h"
#include "sigil/csr.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"

#define TD "example.org"
#define LEAF_ID "spiffe://example.org/ns/prod/web"
#define DAY (24u * 3600u)

static EVP_PKEY *ca_keys[_SIGIL_KEY_TYPE_MAX], *leaf_keys[_SIGIL_KEY_TYPE_MAX];
static X509 *roots[_SIGIL_KEY_TYPE_MAX];
static uint64_t now;
static long next_serial = 1000;

static const char *const test_dns[] = { "web.example.org", "*.web.example.org" };

/* ---- fixtures ---- */

static X509 *make_root(EVP_PKEY *key, const char *td, const char *subject, uint64_t nb,
                       uint64_t na) {
        SigilCaParams p = {
                .trust_domain = td,
                .subject = subject,
                .not_before = nb,
                .not_after = na,
                .path_len = -1,
        };
        SigilErr err = {};
        X509 *cert = NULL;

        assert_int_equal(sigil_x509_ca_create_root(key, &p, &cert, &err), 0);
        return cert;
}

static X509 *make_intermediate(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, uint64_t na) {
        SigilCaParams p = {
                .trust_domain = TD,
                .subject = "C=US,O=sigil,CN=intermediate",
                .not_before = now - 3600,
                .not_after = na,
                .path_len = 0,
        };
        SigilErr err = {};
        X509 *cert = NULL;

        assert_int_equal(sigil_x509_ca_create_intermediate(issuer, issuer_key, key, &p, &cert,
                                                           &err),
                         0);
        return cert;
}

static int setup(void **state) {
        now = (uint64_t) time(NULL);
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                if (sigil_key_generate((SigilKeyType) t, &ca_keys[t]) != 0 ||
                    sigil_key_generate((SigilKeyType) t, &leaf_keys[t]) != 0)
                        return -1;
                roots[t] = make_root(ca_keys[t], TD, NULL, now - 3600, now + 30 * DAY);
        }
        return 0;
}

static int teardown(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                EVP_PKEY_free(ca_keys[t]);
                EVP_PKEY_free(leaf_keys[t]);
                X509_free(roots[t]);
        }
        return 0;
}

static uint8_t *spki_of(EVP_PKEY *key, size_t *ret_n) {
        uint8_t *der = NULL;

        assert_int_equal(sigil_key_to_spki_der(key, &der, ret_n), 0);
        return der;
}

static X509 *x509_from_der(const uint8_t *der, size_t n) {
        const unsigned char *p = der;
        X509 *cert = d2i_X509(NULL, &p, (long) n);

        assert_non_null(cert);
        assert_ptr_equal(p, der + n);
        return cert;
}

static SigilX509Issuer *new_issuer(X509 *ca, EVP_PKEY *key) {
        SigilX509Issuer *is = NULL;
        SigilErr err = {};

        assert_int_equal(sigil_x509_issuer_new(ca, key, &is, &err), 0);
        return is;
}

static int try_issue(SigilX509Issuer *is, const uint8_t *spki, size_t n_spki, const char *id,
                     const char *const *dns, size_t n_dns, uint64_t nb, uint64_t na,
                     X509 **ret, SigilErr *err) {
        SigilSpiffeId sid;
        SigilLeafParams p = {
                .id = &sid,
                .dns_names = dns,
                .n_dns_names = n_dns,
                .not_before = nb,
                .not_after = na,
        };
        SigilLeafInfo info = {};
        char serial[SIGIL_X509_SERIAL_HEX_MAX];
        uint8_t *der = NULL;
        size_t n = 0;
        int r;

        assert_int_equal(sigil_spiffeid_from_string(id, &sid, NULL), 0);
        r = sigil_x509_issuer_sign_spki_full(is, spki, n_spki, &p, &der, &n, &info, err);
        if (r != 0) {
                assert_null(der);
                assert_int_equal(info.not_after, 0);    /* written only on success */
                return r;
        }
        *ret = x509_from_der(der, n);
        free(der);
        /* What the issuer says it wrote is what OpenSSL reads. */
        assert_int_equal(info.not_before, sigil_x509_not_before(*ret));
        assert_int_equal(info.not_after, sigil_x509_not_after(*ret));
        assert_int_equal(sigil_x509_serial_hex(*ret, serial, sizeof(serial)), 0);
        assert_string_equal(info.serial, serial);
        return 0;
}

static X509 *issue(SigilX509Issuer *is, EVP_PKEY *key, const char *id, const char *const *dns,
                   size_t n_dns, uint64_t nb, uint64_t na) {
        _cleanup_(freep) uint8_t *spki = NULL;
        SigilErr err = {};
        X509 *leaf = NULL;
        size_t n = 0;
        int r;

        spki = spki_of(key, &n);
        r = try_issue(is, spki, n, id, dns, n_dns, nb, na, &leaf, &err);
        if (r != 0)
                fail_msg("issuance failed: %s", err.msg);
        return leaf;
}

/* A certificate built by OpenSSL's high-level API, for fixtures sigil would never make. */
typedef struct CertSpec {
        const char *cn;
        const char *san;        /* X509V3 config value, e.g. "URI:spiffe://td/x", or NULL */
        const char *bc;
        const char *ku;
        const char *eku;
        int64_t nb_off, na_off; /* seconds relative to now */
        bool unknown_critical;
} CertSpec;

static const CertSpec good_leaf = {
        .cn = "leaf",
        .san = "URI:" LEAF_ID ",DNS:web.example.org",
        .bc = "critical,CA:FALSE",
        .ku = "critical,digitalSignature",
        .eku = "serverAuth,clientAuth",
        .nb_off = -60,
        .na_off = 3600,
};

static const CertSpec good_ca = {
        .cn = "custom CA",
        .san = "URI:spiffe://" TD,
        .bc = "critical,CA:TRUE",
        .ku = "critical,keyCertSign,cRLSign",
        .nb_off = -3600,
        .na_off = 7 * DAY,
};

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509_EXTENSION *ext;
        X509V3_CTX ctx;

        if (!value)
                return;
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(cert, ext, -1), 1);
        X509_EXTENSION_free(ext);
}

static void add_unknown_critical(X509 *cert) {
        ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
        ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ext;

        assert_non_null(obj);
        assert_int_equal(ASN1_OCTET_STRING_set(data, (const unsigned char *) "\x05\x00", 2), 1);
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, data);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(cert, ext, -1), 1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(data);
        ASN1_OBJECT_free(obj);
}

/* @issuer NULL: self-signed. */
static X509 *make_cert(const CertSpec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key) {
        X509 *cert = X509_new();
        X509_NAME *name = X509_NAME_new();

        assert_non_null(cert);
        assert_non_null(name);
        assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), next_serial++), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                    (const unsigned char *) s->cn, -1, -1, 0),
                         1);
        assert_int_equal(X509_set_subject_name(cert, name), 1);
        assert_int_equal(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name),
                         1);
        X509_NAME_free(name);
        assert_non_null(ASN1_TIME_set(X509_getm_notBefore(cert), (time_t) (now + s->nb_off)));
        assert_non_null(ASN1_TIME_set(X509_getm_notAfter(cert), (time_t) (now + s->na_off)));
        assert_int_equal(X509_set_pubkey(cert, key), 1);
        add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, s->bc);
        add_ext(cert, issuer ? issuer : cert, NID_key_usage, s->ku);
        add_ext(cert, issuer ? issuer : cert, NID_ext_key_usage, s->eku);
        add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
        if (issuer)
                add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
        add_ext(cert, issuer ? issuer : cert, NID_subject_alt_name, s->san);
        if (s->unknown_critical)
                add_unknown_critical(cert);
        assert_true(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
        return cert;
}

static STACK_OF(X509) *chain_of(X509 *a, X509 *b, X509 *c) {
        STACK_OF(X509) *chain = sk_X509_new_null();
        X509 *certs[] = { a, b, c };

        assert_non_null(chain);
        for (size_t i = 0; i < ELEMENTSOF(certs) && certs[i]; i++) {
                assert_int_equal(X509_up_ref(certs[i]), 1);
                assert_true(sk_X509_push(chain, certs[i]) > 0);
        }
        return chain;
}

static void bundles_add(SigilBundleSet *set, const char *td, X509 *a, X509 *b) {
        SigilBundle *bundle = NULL;

        assert_int_equal(sigil_bundle_new(td, &bundle), 0);
        if (a)
                assert_int_equal(sigil_bundle_add_x509_authority(bundle, a), 0);
        if (b)
                assert_int_equal(sigil_bundle_add_x509_authority(bundle, b), 0);
        assert_int_equal(sigil_bundle_set_put(set, bundle), 0);
}

/* Verify @chain against @set at @at; on failure the reason must contain @why. */
static int verify_at(STACK_OF(X509) *chain, const SigilBundleSet *set, uint64_t at,
                     const char *why) {
        SigilSpiffeId id = {};
        SigilErr err = {};
        int r;

        r = sigil_x509svid_verify(chain, set, at, &id, &err);
        if (r == 0)
                return 0;
        if (why && !strstr(err.msg, why))
                fail_msg("expected a reason containing '%s', got '%s'", why, err.msg);
        return r;
}

static void verify_ok(STACK_OF(X509) *chain, const SigilBundleSet *set, const char *want_id) {
        SigilSpiffeId id = {};
        SigilErr err = {};
        int r;

        r = sigil_x509svid_verify(chain, set, now, &id, &err);
        if (r != 0)
                fail_msg("verification failed: %s", err.msg);
        assert_string_equal(id.str, want_id);
}

/* ---- issued leaves, field by field ---- */

static int sig_nid_for(int ca_type) {
        return ca_type == SIGIL_KEY_EC_P256   ? NID_ecdsa_with_SHA256
               : ca_type == SIGIL_KEY_EC_P384 ? NID_ecdsa_with_SHA384
                                              : NID_sha256WithRSAEncryption;
}

static X509_EXTENSION *ext_of(X509 *cert, int nid) {
        int i = X509_get_ext_by_NID(cert, nid, -1);

        assert_true(i >= 0);
        assert_int_equal(X509_get_ext_by_NID(cert, nid, i), -1);       /* only one */
        return X509_get_ext(cert, i);
}

static void check_serial_128(X509 *cert) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);

        assert_non_null(bn);
        assert_false(BN_is_negative(bn));
        assert_int_equal(BN_num_bits(bn), 128);
        BN_free(bn);
}

static void check_key_ids(X509 *cert, X509 *ca) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert), *aki;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        assert_non_null(ski);
        assert_int_equal(X509_pubkey_digest(cert, EVP_sha1(), md, &n), 1);
        assert_int_equal(ASN1_STRING_length(ski), (int) n);
        assert_memory_equal(ASN1_STRING_get0_data(ski), md, n);
        if (!ca)
                return;
        aki = X509_get0_authority_key_id(cert);
        assert_non_null(aki);
        assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca)), 0);
}

/* X509-01, X509-05: one URI SAN (the ID), then the DNS names in order. */
static void check_leaf_san(X509 *leaf, const char *id, const char *const *dns, size_t n_dns) {
        GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
        X509_EXTENSION *ext = ext_of(leaf, NID_subject_alt_name);
        SigilSpiffeId sid;
        int n_uri = 0;

        assert_non_null(names);
        assert_int_equal(sk_GENERAL_NAME_num(names), (int) (1 + n_dns));
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
                const ASN1_IA5STRING *s = gn->d.ia5;

                if (gn->type == GEN_URI) {
                        n_uri++;
                        assert_int_equal(ASN1_STRING_length(s), (int) strlen(id));
                        assert_memory_equal(ASN1_STRING_get0_data(s), id, strlen(id));
                        continue;
                }
                assert_int_equal(gn->type, GEN_DNS);
                assert_int_equal(ASN1_STRING_length(s), (int) strlen(dns[i - 1]));
                assert_memory_equal(ASN1_STRING_get0_data(s), dns[i - 1], strlen(dns[i - 1]));
        }
        assert_int_equal(n_uri, 1);
        GENERAL_NAMES_free(names);
        assert_int_equal(sigil_x509_spiffe_id(leaf, &sid, NULL), 0);
        assert_string_equal(sid.str, id);
        if (X509_NAME_entry_count(X509_get_subject_name(leaf)) == 0)
                assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
}

static void check_leaf_subject(X509 *leaf, const char *const *dns, size_t n_dns) {
        X509_NAME *subject = X509_get_subject_name(leaf);
        char buf[256];

        assert_int_equal(X509_NAME_get_text_by_NID(subject, NID_organizationName, buf,
                                                   sizeof(buf)),
                         5);
        assert_string_equal(buf, "sigil");
        if (n_dns > 0 && strlen(dns[0]) <= 64) {
                assert_true(X509_NAME_get_text_by_NID(subject, NID_commonName, buf,
                                                      sizeof(buf)) > 0);
                assert_string_equal(buf, dns[0]);
                assert_int_equal(X509_NAME_entry_count(subject), 2);
        } else {
                assert_int_equal(X509_NAME_get_index_by_NID(subject, NID_commonName, -1), -1);
                assert_int_equal(X509_NAME_entry_count(subject), 1);
        }
}

/* X509-11, 13, 15, 16. */
static void check_leaf_usage(X509 *leaf, bool rsa) {
        uint32_t flags = X509_get_extension_flags(leaf);
        EXTENDED_KEY_USAGE *eku;

        assert_false(flags & EXFLAG_INVALID);
        assert_true(flags & EXFLAG_BCONS);
        assert_false(flags & EXFLAG_CA);
        assert_int_equal(X509_check_ca(leaf), 0);
        assert_int_equal(X509_EXTENSION_get_critical(ext_of(leaf, NID_basic_constraints)), 1);
        assert_int_equal(X509_EXTENSION_get_critical(ext_of(leaf, NID_key_usage)), 1);
        assert_int_equal(X509_get_key_usage(leaf),
                         rsa ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT : KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, NULL, NULL);
        assert_non_null(eku);
        assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
        assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
        assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 1)), NID_client_auth);
        EXTENDED_KEY_USAGE_free(eku);
        assert_int_equal(X509_get_ext_count(leaf), 6);
}

typedef struct LeafExpect {
        X509 *ca;
        int ca_type;
        EVP_PKEY *key;
        int key_type;
        const uint8_t *spki;
        size_t n_spki;
        const char *id;
        const char *const *dns;
        size_t n_dns;
        uint64_t nb, na;
} LeafExpect;

static void check_leaf(X509 *leaf, const LeafExpect *e) {
        const X509_ALGOR *outer_alg = NULL;
        unsigned char *spki = NULL;
        int n;

        assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
        check_serial_128(leaf);
        assert_int_equal(X509_get_signature_nid(leaf), sig_nid_for(e->ca_type));
        X509_get0_signature(NULL, &outer_alg, leaf);
        assert_int_equal(X509_ALGOR_cmp(X509_get0_tbs_sigalg(leaf), outer_alg), 0);
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(e->ca)),
                         0);
        assert_int_equal(X509_check_issued(e->ca, leaf), X509_V_OK);
        assert_int_equal(sigil_x509_not_before(leaf), e->nb);
        assert_int_equal(sigil_x509_not_after(leaf), e->na);
        check_leaf_subject(leaf, e->dns, e->n_dns);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), e->key), 1);
        n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &spki);
        assert_int_equal(n, (int) e->n_spki);
        assert_memory_equal(spki, e->spki, e->n_spki);
        OPENSSL_free(spki);
        check_leaf_usage(leaf, e->key_type >= SIGIL_KEY_RSA_2048);
        check_key_ids(leaf, e->ca);
        check_leaf_san(leaf, e->id, e->dns, e->n_dns);
        assert_int_equal(X509_verify(leaf, X509_get0_pubkey(e->ca)), 1);
}

static void test_issue_all_key_combinations(void **state) {
        for (int c = 0; c < _SIGIL_KEY_TYPE_MAX; c++) {
                SigilX509Issuer *is = new_issuer(roots[c], ca_keys[c]);
                SigilBundleSet set = {};

                bundles_add(&set, TD, roots[c], NULL);
                for (int l = 0; l < _SIGIL_KEY_TYPE_MAX; l++) {
                        size_t n_spki = 0;
                        uint8_t *spki = spki_of(leaf_keys[l], &n_spki);
                        LeafExpect e = {
                                .ca = roots[c], .ca_type = c,
                                .key = leaf_keys[l], .key_type = l,
                                .spki = spki, .n_spki = n_spki,
                                .id = LEAF_ID, .dns = test_dns, .n_dns = 2,
                                .nb = now - 30, .na = now + 3600,
                        };
                        X509 *leaf = NULL;
                        STACK_OF(X509) *chain;

                        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, test_dns, 2, e.nb,
                                                   e.na, &leaf, NULL),
                                         0);
                        check_leaf(leaf, &e);
                        chain = chain_of(leaf, NULL, NULL);
                        verify_ok(chain, &set, LEAF_ID);
                        sk_X509_pop_free(chain, X509_free);
                        X509_free(leaf);
                        free(spki);
                }
                sigil_bundle_set_done(&set);
                sigil_x509_issuer_free(is);
        }
}

static char *print_cert(X509 *cert) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data, *s;
        long n;

        assert_non_null(bio);
        assert_int_equal(X509_print_ex(bio, cert, XN_FLAG_ONELINE, 0), 1);
        n = BIO_get_mem_data(bio, &data);
        s = malloc((size_t) n + 1);     /* BIO memory is not NUL-terminated */
        assert_non_null(s);
        memcpy(s, data, (size_t) n);
        s[n] = '\0';
        BIO_free(bio);
        return s;
}

/* What OpenSSL prints about our leaves. */
static void test_issue_openssl_text(void **state) {
        static const char *const want[] = {
                "Version: 3 (0x2)",
                "X509v3 Basic Constraints: critical",
                "CA:FALSE",
                "X509v3 Key Usage: critical",
                "TLS Web Server Authentication, TLS Web Client Authentication",
                "X509v3 Subject Key Identifier",
                "X509v3 Authority Key Identifier",
                "URI:" LEAF_ID ", DNS:web.example.org, DNS:*.web.example.org",
                "Subject: O = sigil, CN = web.example.org",
        };

        for (int l = 0; l < _SIGIL_KEY_TYPE_MAX; l += 2) {
                SigilX509Issuer *is = new_issuer(roots[SIGIL_KEY_EC_P256],
                                                 ca_keys[SIGIL_KEY_EC_P256]);
                X509 *leaf = issue(is, leaf_keys[l], LEAF_ID, test_dns, 2, now, now + 3600);
                char *text = print_cert(leaf);

                for (size_t i = 0; i < ELEMENTSOF(want); i++)
                        if (!strstr(text, want[i]))
                                fail_msg("'%s' missing from:\n%s", want[i], text);
                if (l >= SIGIL_KEY_RSA_2048)
                        assert_non_null(strstr(text, "Digital Signature, Key Encipherment"));
                else
                        assert_non_null(strstr(text, "Digital Signature\n"));
                assert_null(strstr(text, "Certificate Sign"));
                assert_null(strstr(text, "CRL Sign"));
                free(text);
                X509_free(leaf);
                sigil_x509_issuer_free(is);
        }
}

static void test_serials_random_and_distinct(void **state) {
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        char hex[64][41];

        for (int i = 0; i < 64; i++) {
                X509 *leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, now + 60);

                check_serial_128(leaf);
                assert_int_equal(sigil_x509_serial_hex(leaf, hex[i], sizeof(hex[i])), 0);
                assert_int_equal(strlen(hex[i]), 32);
                for (int j = 0; j < i; j++)
                        assert_string_not_equal(hex[i], hex[j]);
                X509_free(leaf);
        }
        sigil_x509_issuer_free(is);
}

static void test_not_after_capped(void **state) {
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        uint64_t ca_na = sigil_x509_not_after(roots[0]);
        X509 *leaf, *inter;

        assert_int_equal(ca_na, now + 30 * DAY);
        leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, ca_na + DAY);
        assert_int_equal(sigil_x509_not_after(leaf), ca_na);
        assert_int_equal(sigil_x509_not_before(leaf), now);
        X509_free(leaf);
        sigil_x509_issuer_free(is);

        inter = make_intermediate(roots[0], ca_keys[0], ca_keys[1], ca_na + 365 * DAY);
        assert_int_equal(sigil_x509_not_after(inter), ca_na);
        X509_free(inter);
}

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
static void test_time_encoding(void **state) {
        const uint64_t y2049_end = UINT64_C(2524607999);        /* 2049-12-31T23:59:59Z */
        const uint64_t y2055 = UINT64_C(2682374400);            /* 2055-01-01T00:00:00Z */
        X509 *root = make_root(ca_keys[0], TD, NULL, now - 60, UINT64_C(2840140800));
        SigilX509Issuer *is = new_issuer(root, ca_keys[0]);
        X509 *leaf;

        assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(root)), V_ASN1_GENERALIZEDTIME);
        leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, y2055);
        assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(leaf)), V_ASN1_UTCTIME);
        assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_GENERALIZEDTIME);
        assert_int_equal(sigil_x509_not_after(leaf), y2055);
        X509_free(leaf);
        leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, y2049_end);
        assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_UTCTIME);
        assert_int_equal(sigil_x509_not_after(leaf), y2049_end);
        X509_free(leaf);
        sigil_x509_issuer_free(is);
        X509_free(root);
}

static void test_subject_without_dns(void **state) {
        static const char long_name[] =
                "a-very-long-host-label-that-goes-on-and-on.example-with-more.example.org";
        const char *const dns[] = { long_name };
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        X509 *leaf;

        leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, now + 60);
        check_leaf_subject(leaf, NULL, 0);
        check_leaf_san(leaf, LEAF_ID, NULL, 0);
        X509_free(leaf);

        assert_true(strlen(long_name) > 64);            /* too long for a CN */
        leaf = issue(is, leaf_keys[0], LEAF_ID, dns, 1, now, now + 60);
        check_leaf_subject(leaf, dns, 1);
        check_leaf_san(leaf, LEAF_ID, dns, 1);
        X509_free(leaf);
        sigil_x509_issuer_free(is);
}

/* The maximum number of DNS names gives long lengths everywhere; still exact DER. */
static void test_many_dns_names(void **state) {
        const char *dns[SIGIL_X509_DNS_NAMES_MAX + 1];
        char names[SIGIL_X509_DNS_NAMES_MAX + 1][80];
        SigilX509Issuer *is = new_issuer(roots[2], ca_keys[2]);
        _cleanup_(freep) uint8_t *spki = NULL;
        X509 *leaf = NULL;
        SigilErr err = {};
        size_t n_spki;

        for (int i = 0; i <= SIGIL_X509_DNS_NAMES_MAX; i++) {
                (void) snprintf(names[i], sizeof(names[i]),
                                "host-%02d.a-fairly-long-subdomain-name.example.org", i);
                dns[i] = names[i];
        }
        spki = spki_of(leaf_keys[3], &n_spki);
        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, dns, SIGIL_X509_DNS_NAMES_MAX, now,
                                   now + 60, &leaf, &err),
                         0);
        check_leaf_san(leaf, LEAF_ID, dns, SIGIL_X509_DNS_NAMES_MAX);
        assert_int_equal(X509_verify(leaf, ca_keys[2]), 1);
        X509_free(leaf);
        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, dns, SIGIL_X509_DNS_NAMES_MAX + 1,
                                   now, now + 60, &leaf, &err),
                         -EINVAL);
        sigil_x509_issuer_free(is);
}

static void test_issue_rejects_params(void **state) {
        static const char *const bad_dns[] = {
                "", "bad..name", "-x.example.org", "x-.example.org", "a b.org", "host.",
                "*", "foo.*.example.org", "exa_mple.org", "é.example.org",
        };
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        uint64_t ca_na = sigil_x509_not_after(roots[0]);
        _cleanup_(freep) uint8_t *spki = NULL;
        SigilLeafParams p = {};
        SigilSpiffeId sid;
        uint8_t *der = NULL;
        X509 *leaf = NULL;
        SigilErr err = {};
        size_t n_spki, n;

        spki = spki_of(leaf_keys[0], &n_spki);
        assert_int_equal(try_issue(is, spki, n_spki, "spiffe://" TD, NULL, 0, now, now + 60,
                                   &leaf, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "no path"));
        assert_int_equal(try_issue(is, spki, n_spki, "spiffe://other.org/x", NULL, 0, now,
                                   now + 60, &leaf, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "trust domain"));
        for (size_t i = 0; i < ELEMENTSOF(bad_dns); i++) {
                assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, &bad_dns[i], 1, now,
                                           now + 60, &leaf, &err),
                                 -EINVAL);
                assert_non_null(strstr(err.msg, "DNS"));
        }
        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, NULL, 0, now, now, &leaf, &err),
                         -EINVAL);
        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, NULL, 0, ca_na, ca_na + 60, &leaf,
                                   &err),
                         -EINVAL);
        assert_int_equal(try_issue(is, spki, n_spki, LEAF_ID, NULL, 0, now,
                                   UINT64_C(253402300800), &leaf, &err),
                         -EINVAL);
        assert_null(leaf);

        /* A SigilSpiffeId whose fields disagree with its text. */
        assert_int_equal(sigil_spiffeid_from_string(LEAF_ID, &sid, NULL), 0);
        sid.n_str += 1;
        p = (SigilLeafParams) { .id = &sid, .not_before = now, .not_after = now + 60 };
        assert_int_equal(sigil_x509_issuer_sign_spki(is, spki, n_spki, &p, &der, &n, &err),
                         -EINVAL);
        p.id = NULL;
        assert_int_equal(sigil_x509_issuer_sign_spki(is, spki, n_spki, &p, &der, &n, &err),
                         -EINVAL);
        assert_int_equal(sigil_x509_issuer_sign_spki(is, spki, n_spki, NULL, &der, &n, &err),
                         -EINVAL);
        assert_null(der);
        sigil_x509_issuer_free(is);
}

static int issue_raw(SigilX509Issuer *is, const uint8_t *spki, size_t n) {
        X509 *leaf = NULL;
        SigilErr err = {};
        int r;

        r = try_issue(is, spki, n, LEAF_ID, NULL, 0, now, now + 60, &leaf, &err);
        if (r == 0)
                X509_free(leaf);
        else
                assert_true(err.msg[0] != '\0');
        return r;
}

static void test_issue_rejects_unsupported_keys(void **state) {
        EVP_PKEY *others[] = {
                EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
                EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"),
                EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024),
                EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072),
                EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
        };
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);

        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                size_t n;
                uint8_t *spki;

                assert_non_null(others[i]);
                spki = spki_of(others[i], &n);
                assert_int_equal(issue_raw(is, spki, n), -EOPNOTSUPP);
                free(spki);
                EVP_PKEY_free(others[i]);
        }
        sigil_x509_issuer_free(is);
}

/* Hand-altered P-256 SPKIs: every one must be refused. */
static void test_issue_rejects_bad_ec_spki(void **state) {
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        uint8_t buf[256], *spki;
        size_t n;

        spki = spki_of(leaf_keys[SIGIL_KEY_EC_P256], &n);
        assert_int_equal(n, 91);
        assert_int_equal(issue_raw(is, spki, n), 0);

        memcpy(buf, spki, n);
        buf[n] = 0x00;
        assert_int_equal(issue_raw(is, buf, n + 1), -EINVAL);           /* trailing byte */
        for (size_t k = 0; k < n; k += 5)
                assert_true(issue_raw(is, spki, k) < 0);                /* truncated */
        memcpy(buf, spki, n);
        buf[n - 1] ^= 0x01;                                             /* off the curve */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);
        memcpy(buf, spki, n);
        buf[26] = 0x06;                                                 /* hybrid point */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);
        memcpy(buf, spki, n);
        memset(buf + 27, 0xff, 32);                                     /* x >= p */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);
        memset(buf + 26, 0, 65);                                        /* point at infinity */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);

        /* The same key as a compressed point: a shorter SPKI we do not take. */
        memcpy(buf, spki, 26);
        buf[1] = 0x39;
        buf[24] = 0x22;
        buf[26] = (uint8_t) (0x02 | (spki[n - 1] & 1));
        memcpy(buf + 27, spki + 27, 32);
        assert_true(issue_raw(is, buf, 59) < 0);

        /* A P-256 key labelled as P-384. */
        memcpy(buf, spki, n);
        buf[22] = 0x08;
        assert_true(issue_raw(is, buf, n) < 0);
        assert_true(issue_raw(is, NULL, 0) < 0);
        free(spki);
        sigil_x509_issuer_free(is);
}

static void test_issue_rejects_bad_rsa_spki(void **state) {
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        uint8_t buf[1024], *spki;
        size_t n;

        spki = spki_of(leaf_keys[SIGIL_KEY_RSA_2048], &n);
        assert_int_equal(n, 294);
        assert_int_equal(issue_raw(is, spki, n), 0);

        memcpy(buf, spki, n);
        buf[n] = 0x00;
        assert_int_equal(issue_raw(is, buf, n + 1), -EINVAL);           /* trailing byte */
        for (size_t k = 0; k < n; k += 13)
                assert_true(issue_raw(is, spki, k) < 0);                /* truncated */

        /* BER: the outer length in three bytes instead of two. */
        buf[0] = 0x30;
        buf[1] = 0x83;
        buf[2] = 0x00;
        memcpy(buf + 3, spki + 2, n - 2);
        assert_int_equal(issue_raw(is, buf, n + 1), -EINVAL);

        memcpy(buf, spki, n);
        assert_int_equal(buf[n - 1], 0x01);                             /* e = 65537 */
        buf[n - 1] = 0x00;                                              /* e = 65536: even */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);
        memcpy(buf, spki, n);
        buf[n - 6] ^= 0x01;                                             /* modulus made even */
        assert_int_equal(issue_raw(is, buf, n), -EINVAL);
        memcpy(buf, spki, n);
        buf[4] = 0x0b;                                                  /* not an AlgId */
        assert_true(issue_raw(is, buf, n) < 0);
        free(spki);
        sigil_x509_issuer_free(is);
}

static void test_issuer_new_rejects(void **state) {
        SigilX509Issuer *is = NULL;
        EVP_PKEY *pub = NULL, *p521;
        X509 *leaf, *not_signing;
        SigilErr err = {};
        uint8_t *spki;
        size_t n;

        leaf = make_cert(&good_leaf, leaf_keys[0], roots[0], ca_keys[0]);
        assert_int_equal(sigil_x509_issuer_new(leaf, leaf_keys[0], &is, &err), -EINVAL);
        assert_int_equal(sigil_x509_issuer_new(roots[0], ca_keys[1], &is, &err), -EINVAL);
        assert_int_equal(sigil_x509_issuer_new(roots[0], leaf_keys[0], &is, &err), -EINVAL);
        spki = spki_of(ca_keys[0], &n);
        assert_int_equal(sigil_key_from_spki_der(spki, n, &pub, NULL), 0);
        assert_int_equal(sigil_x509_issuer_new(roots[0], pub, &is, &err), -EINVAL);
        p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        assert_int_equal(sigil_x509_issuer_new(roots[0], p521, &is, &err), -EOPNOTSUPP);
        not_signing = make_cert(&(CertSpec) { .cn = "no sign", .san = "URI:spiffe://" TD,
                                              .bc = "critical,CA:TRUE",
                                              .ku = "critical,digitalSignature",
                                              .nb_off = -60, .na_off = DAY },
                                ca_keys[0], NULL, NULL);
        assert_int_equal(sigil_x509_issuer_new(not_signing, ca_keys[0], &is, &err), -EINVAL);
        assert_int_equal(sigil_x509_issuer_new(NULL, ca_keys[0], &is, &err), -EINVAL);
        assert_null(is);
        assert_null(sigil_x509_issuer_free(NULL));
        assert_null(sigil_x509_issuer_ca(NULL));
        is = new_issuer(roots[0], ca_keys[0]);
        assert_ptr_equal(sigil_x509_issuer_ca(is), roots[0]);
        sigil_x509_issuer_free(is);
        X509_free(not_signing);
        EVP_PKEY_free(p521);
        EVP_PKEY_free(pub);
        free(spki);
        X509_free(leaf);
}

/* The path a server takes: CSR from the agent, SPKI from the CSR, leaf from the SPKI. */
static void test_issue_from_csr(void **state) {
        SigilX509Issuer *is = new_issuer(roots[1], ca_keys[1]);

        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                uint8_t *der = NULL;
                SigilCsr *csr = NULL;
                X509 *leaf = NULL;
                size_t n = 0;

                assert_int_equal(sigil_csr_make(leaf_keys[t], &der, &n), 0);
                assert_int_equal(sigil_csr_parse(der, n, &csr, NULL), 0);
                assert_int_equal(try_issue(is, csr->spki, csr->n_spki, LEAF_ID, NULL, 0, now,
                                           now + 60, &leaf, NULL),
                                 0);
                assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), leaf_keys[t]), 1);
                assert_int_equal(X509_verify(leaf, ca_keys[1]), 1);
                X509_free(leaf);
                sigil_csr_free(csr);
                free(der);
        }
        sigil_x509_issuer_free(is);
}

/* ---- CA certificates ---- */

/* X509-07, 08, 11, 13, 14. */
static void check_ca(X509 *ca, X509 *issuer, const char *td) {
        uint32_t flags = X509_get_extension_flags(ca);
        SigilSpiffeId id;
        char want[300];

        assert_int_equal(X509_get_version(ca), X509_VERSION_3);
        check_serial_128(ca);
        assert_false(flags & EXFLAG_INVALID);
        assert_true(flags & EXFLAG_BCONS);
        assert_true(flags & EXFLAG_CA);
        assert_int_equal(X509_EXTENSION_get_critical(ext_of(ca, NID_basic_constraints)), 1);
        assert_int_equal(X509_EXTENSION_get_critical(ext_of(ca, NID_key_usage)), 1);
        assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
        check_key_ids(ca, issuer);
        assert_int_equal(sigil_x509_spiffe_id(ca, &id, NULL), 0);
        (void) snprintf(want, sizeof(want), "spiffe://%s", td);
        assert_string_equal(id.str, want);
        assert_true(sigil_spiffeid_is_root(&id));
        assert_int_equal(X509_verify(ca, X509_get0_pubkey(issuer ? issuer : ca)), 1);
        if (!issuer)
                assert_true(X509_get_extension_flags(ca) & EXFLAG_SS);
}

static void test_root_ca(void **state) {
        char buf[128];

        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                check_ca(roots[t], NULL, TD);
                assert_int_equal(X509_get_signature_nid(roots[t]), sig_nid_for(t));
                assert_int_equal(X509_get_pathlen(roots[t]), -1);
                assert_int_equal(sigil_x509_not_before(roots[t]), now - 3600);
        }
        {
                SigilCaParams p = {
                        .trust_domain = "td.test",
                        .subject = "C=US, O=sigil ,CN=Test Root,OU=ops",
                        .not_before = now,
                        .not_after = now + DAY,
                        .path_len = 2,
                };
                X509 *root = NULL;

                assert_int_equal(sigil_x509_ca_create_root(ca_keys[0], &p, &root, NULL), 0);
                check_ca(root, NULL, "td.test");
                assert_int_equal(X509_get_pathlen(root), 2);
                X509_NAME_oneline(X509_get_subject_name(root), buf, sizeof(buf));
                assert_string_equal(buf, "/C=US/O=sigil/CN=Test Root/OU=ops");
                X509_free(root);
        }
}

static void test_intermediate_ca(void **state) {
        for (int t = 0; t < _SIGIL_KEY_TYPE_MAX; t++) {
                int k = (t + 1) % _SIGIL_KEY_TYPE_MAX;
                X509 *inter = make_intermediate(roots[t], ca_keys[t], ca_keys[k], now + DAY);

                check_ca(inter, roots[t], TD);
                assert_int_equal(X509_get_pathlen(inter), 0);
                assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(inter),
                                               X509_get_subject_name(roots[t])),
                                 0);
                assert_int_equal(X509_check_issued(roots[t], inter), X509_V_OK);
                assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(inter), ca_keys[k]), 1);
                assert_int_equal(X509_get_signature_nid(inter), sig_nid_for(t));
                X509_free(inter);
        }
}

static void test_ca_rejects(void **state) {
        static const char *const bad_subjects[] = {
                "", "CN", "X=1", "CN=", "C=USA", "CN=a,,O=b", "CN=a,O", "emailAddress=a@b",
        };
        SigilCaParams p = {
                .trust_domain = TD, .not_before = now, .not_after = now + DAY, .path_len = -1,
        };
        X509 *cert = NULL, *leaf;
        SigilErr err = {};

        for (size_t i = 0; i < ELEMENTSOF(bad_subjects); i++) {
                p.subject = bad_subjects[i];
                assert_int_equal(sigil_x509_ca_create_root(ca_keys[0], &p, &cert, &err),
                                 -EINVAL);
        }
        p.subject = NULL;
        p.trust_domain = "Bad TD";
        assert_int_equal(sigil_x509_ca_create_root(ca_keys[0], &p, &cert, &err), -EINVAL);
        p.trust_domain = TD;
        p.not_after = now;
        assert_int_equal(sigil_x509_ca_create_root(ca_keys[0], &p, &cert, &err), -EINVAL);
        p.not_after = now + DAY;
        p.path_len = -2;
        assert_int_equal(sigil_x509_ca_create_root(ca_keys[0], &p, &cert, &err), -EINVAL);
        p.path_len = -1;
        assert_int_equal(sigil_x509_ca_create_root(NULL, &p, &cert, &err), -EINVAL);
        assert_int_equal(sigil_x509_ca_create_intermediate(roots[0], ca_keys[1], ca_keys[2], &p,
                                                           &cert, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "does not match"));
        leaf = make_cert(&good_leaf, leaf_keys[0], roots[0], ca_keys[0]);
        assert_int_equal(sigil_x509_ca_create_intermediate(leaf, leaf_keys[0], ca_keys[2], &p,
                                                           &cert, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "not a CA"));
        /* Starts after its issuer has expired. */
        p.not_before = sigil_x509_not_after(roots[0]);
        p.not_after = p.not_before + DAY;
        assert_int_equal(sigil_x509_ca_create_intermediate(roots[0], ca_keys[0], ca_keys[2], &p,
                                                           &cert, &err),
                         -EINVAL);
        assert_null(cert);
        X509_free(leaf);
}

/* ---- the validator ---- */

typedef struct Pki {
        X509 *inter;            /* sigil intermediate under roots[0] */
        SigilBundleSet set;     /* TD -> roots[0] */
} Pki;

static void pki_init(Pki *pki) {
        *pki = (Pki) {};
        pki->inter = make_intermediate(roots[0], ca_keys[0], ca_keys[1], now + 7 * DAY);
        bundles_add(&pki->set, TD, roots[0], NULL);
}

static void pki_done(Pki *pki) {
        X509_free(pki->inter);
        sigil_bundle_set_done(&pki->set);
}

static void test_verify_valid_chains(void **state) {
        SigilX509Issuer *is;
        STACK_OF(X509) *chain;
        SigilBundleSet inter_only = {};
        X509 *leaf, *custom;
        Pki pki;

        pki_init(&pki);
        is = new_issuer(pki.inter, ca_keys[1]);
        leaf = issue(is, leaf_keys[0], LEAF_ID, test_dns, 2, now - 60, now + 3600);

        chain = chain_of(leaf, pki.inter, NULL);
        verify_ok(chain, &pki.set, LEAF_ID);
        sk_X509_pop_free(chain, X509_free);

        /* The root may be presented too (it is not trusted for being there). */
        chain = chain_of(leaf, pki.inter, roots[0]);
        verify_ok(chain, &pki.set, LEAF_ID);
        sk_X509_pop_free(chain, X509_free);

        /* An intermediate as the trust anchor (partial chain). */
        bundles_add(&inter_only, TD, pki.inter, NULL);
        chain = chain_of(leaf, NULL, NULL);
        verify_ok(chain, &inter_only, LEAF_ID);
        /* ... but without the intermediate, the root alone is not enough. */
        assert_int_equal(verify_at(chain, &pki.set, now, "does not verify"), -EINVAL);
        sk_X509_pop_free(chain, X509_free);

        /* The OpenSSL-built leaf every negative fixture below derives from (X509-03, 12). */
        custom = make_cert(&good_leaf, leaf_keys[0], pki.inter, ca_keys[1]);
        chain = chain_of(custom, pki.inter, NULL);
        verify_ok(chain, &pki.set, LEAF_ID);
        sk_X509_pop_free(chain, X509_free);

        /* ret_id may be NULL. */
        chain = chain_of(leaf, pki.inter, NULL);
        assert_int_equal(sigil_x509svid_verify(chain, &pki.set, now, NULL, NULL), 0);
        sk_X509_pop_free(chain, X509_free);

        X509_free(custom);
        X509_free(leaf);
        sigil_bundle_set_done(&inter_only);
        sigil_x509_issuer_free(is);
        pki_done(&pki);
}

typedef struct LeafCase {
        const char *name;
        CertSpec spec;
        const char *why;
} LeafCase;

#define LEAF_WITH(...) ({ CertSpec _s = good_leaf; __VA_ARGS__; _s; })

static void test_verify_leaf_rules(void **state) {
        const LeafCase cases[] = {
                { "leaf CA:TRUE", LEAF_WITH(_s.bc = "critical,CA:TRUE"), "is a CA" },
                { "leaf keyCertSign", LEAF_WITH(_s.ku = "critical,digitalSignature,keyCertSign"),
                  "keyCertSign" },
                { "leaf cRLSign", LEAF_WITH(_s.ku = "critical,digitalSignature,cRLSign"),
                  "cRLSign" },
                { "no digitalSignature", LEAF_WITH(_s.ku = "critical,keyEncipherment"),
                  "digitalSignature" },
                { "no key usage", LEAF_WITH(_s.ku = NULL), "no key usage" },
                { "no URI SAN", LEAF_WITH(_s.san = "DNS:web.example.org"), "no URI SAN" },
                { "no SAN", LEAF_WITH(_s.san = NULL), "no subject alternative name" },
                { "two URI SANs", LEAF_WITH(_s.san = "URI:" LEAF_ID ",URI:spiffe://" TD "/b"),
                  "more than one URI" },
                { "root-path ID", LEAF_WITH(_s.san = "URI:spiffe://" TD), "no path" },
                { "not SPIFFE", LEAF_WITH(_s.san = "URI:https://" TD "/x"), "not a SPIFFE ID" },
                { "unknown critical extension", LEAF_WITH(_s.unknown_critical = true),
                  "unhandled critical extension" },
        };
        Pki pki;

        pki_init(&pki);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                X509 *leaf = make_cert(&cases[i].spec, leaf_keys[0], pki.inter, ca_keys[1]);
                STACK_OF(X509) *chain = chain_of(leaf, pki.inter, NULL);

                print_message("  %s\n", cases[i].name);
                assert_int_equal(verify_at(chain, &pki.set, now, cases[i].why), -EINVAL);
                sk_X509_pop_free(chain, X509_free);
                X509_free(leaf);
        }
        pki_done(&pki);
}

static void test_verify_intermediate_rules(void **state) {
        const struct {
                CertSpec spec;
                const char *why;
        } cases[] = {
                { good_ca, NULL },
                { ({ CertSpec _s = good_ca; _s.bc = "critical,CA:FALSE"; _s; }), "not a CA" },
                { ({ CertSpec _s = good_ca; _s.bc = NULL; _s; }), "not a CA" },
                { ({ CertSpec _s = good_ca; _s.ku = "critical,cRLSign,digitalSignature"; _s; }),
                  "lacks keyCertSign" },
                { ({ CertSpec _s = good_ca; _s.ku = NULL; _s; }), "lacks keyCertSign" },
        };
        SigilBundleSet set = {};

        bundles_add(&set, TD, roots[0], NULL);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                X509 *inter = make_cert(&cases[i].spec, ca_keys[2], roots[0], ca_keys[0]);
                X509 *leaf = make_cert(&good_leaf, leaf_keys[0], inter, ca_keys[2]);
                STACK_OF(X509) *chain = chain_of(leaf, inter, NULL);

                if (cases[i].why)
                        assert_int_equal(verify_at(chain, &set, now, cases[i].why), -EINVAL);
                else
                        verify_ok(chain, &set, LEAF_ID);
                sk_X509_pop_free(chain, X509_free);
                X509_free(leaf);
                X509_free(inter);
        }
        sigil_bundle_set_done(&set);
}

/* X509-18: a leaf of TD example.org signed by other.org's CA, with both bundles loaded. */
static void test_verify_other_trust_domain(void **state) {
        X509 *other_root = make_root(ca_keys[2], "other.org", "O=other,CN=other root", now - 60,
                                     now + DAY);
        X509 *leaf = make_cert(&good_leaf, leaf_keys[0], other_root, ca_keys[2]);
        STACK_OF(X509) *chain = chain_of(leaf, NULL, NULL);
        SigilBundleSet both = {}, wrong = {};
        SigilX509Issuer *is;

        bundles_add(&both, TD, roots[0], NULL);
        bundles_add(&both, "other.org", other_root, NULL);
        assert_int_equal(verify_at(chain, &both, now, "does not verify"), -EINVAL);
        /* The same chain passes once other.org's CA is what example.org trusts. */
        bundles_add(&wrong, TD, other_root, NULL);
        verify_ok(chain, &wrong, LEAF_ID);
        /* And sigil's issuer refuses to make such a leaf in the first place. */
        is = new_issuer(other_root, ca_keys[2]);
        {
                size_t n;
                uint8_t *spki = spki_of(leaf_keys[0], &n);

                assert_int_equal(issue_raw(is, spki, n), -EINVAL);
                free(spki);
        }
        sigil_x509_issuer_free(is);
        sigil_bundle_set_done(&both);
        sigil_bundle_set_done(&wrong);
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
        X509_free(other_root);
}

static void test_verify_time(void **state) {
        SigilX509Issuer *is;
        STACK_OF(X509) *chain;
        X509 *leaf;
        Pki pki;

        pki_init(&pki);
        is = new_issuer(pki.inter, ca_keys[1]);
        leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, now + 3600);
        chain = chain_of(leaf, pki.inter, NULL);
        assert_int_equal(verify_at(chain, &pki.set, now, NULL), 0);
        /* OpenSSL already counts the notAfter second itself as expired. */
        assert_int_equal(verify_at(chain, &pki.set, now + 3599, NULL), 0);
        assert_int_equal(verify_at(chain, &pki.set, now + 3600, "expired"), -EINVAL);
        assert_int_equal(verify_at(chain, &pki.set, now - 1, "not yet valid"), -EINVAL);
        /* Long after the root's own expiry. */
        assert_int_equal(verify_at(chain, &pki.set, now + 365 * DAY, "expired"), -EINVAL);
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
        sigil_x509_issuer_free(is);
        pki_done(&pki);
}

/* X509-10: signing certificates are never accepted as a leaf. */
static void test_verify_ca_as_leaf(void **state) {
        CertSpec ca_with_path = good_ca;
        STACK_OF(X509) *chain;
        X509 *ca;
        Pki pki;

        pki_init(&pki);
        chain = chain_of(pki.inter, NULL, NULL);
        assert_int_equal(verify_at(chain, &pki.set, now, NULL), -EINVAL);
        sk_X509_pop_free(chain, X509_free);
        chain = chain_of(roots[0], NULL, NULL);
        assert_int_equal(verify_at(chain, &pki.set, now, NULL), -EINVAL);
        sk_X509_pop_free(chain, X509_free);

        /* Even with a SPIFFE ID that has a path, so that the CA rule is what fails. */
        ca_with_path.san = "URI:" LEAF_ID;
        ca_with_path.ku = "critical,keyCertSign,digitalSignature";
        ca = make_cert(&ca_with_path, ca_keys[2], pki.inter, ca_keys[1]);
        chain = chain_of(ca, pki.inter, NULL);
        assert_int_equal(verify_at(chain, &pki.set, now, "is a CA"), -EINVAL);
        sk_X509_pop_free(chain, X509_free);
        X509_free(ca);
        pki_done(&pki);
}

static void test_verify_bundle_lookup(void **state) {
        SigilBundleSet other = {}, empty = {};
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        X509 *leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, now + 60);
        STACK_OF(X509) *chain = chain_of(leaf, NULL, NULL);

        bundles_add(&other, "other.org", roots[0], NULL);
        assert_int_equal(verify_at(chain, &other, now, "no bundle for trust domain"), -ENOENT);
        bundles_add(&empty, TD, NULL, NULL);
        assert_int_equal(verify_at(chain, &empty, now, "no X.509 authorities"), -ENOENT);
        sigil_bundle_set_done(&other);
        sigil_bundle_set_done(&empty);
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
        sigil_x509_issuer_free(is);
}

/* A leaf naming roots[0] as issuer, with its AKI, but signed by another key. */
static void test_verify_forged_signature(void **state) {
        X509 *leaf = make_cert(&good_leaf, leaf_keys[0], roots[0], ca_keys[1]);
        STACK_OF(X509) *chain = chain_of(leaf, NULL, NULL);
        SigilBundleSet set = {};

        bundles_add(&set, TD, roots[0], NULL);
        assert_int_equal(verify_at(chain, &set, now, "signature"), -EINVAL);
        sigil_bundle_set_done(&set);
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
}

static void test_verify_bad_arguments(void **state) {
        STACK_OF(X509) *chain = sk_X509_new_null();
        SigilBundleSet set = {};
        SigilX509Issuer *is = new_issuer(roots[0], ca_keys[0]);
        X509 *leaf = issue(is, leaf_keys[0], LEAF_ID, NULL, 0, now, now + 60);

        bundles_add(&set, TD, roots[0], NULL);
        assert_int_equal(verify_at(chain, &set, now, "empty"), -EINVAL);
        assert_int_equal(verify_at(NULL, &set, now, "empty"), -EINVAL);
        for (int i = 0; i <= SIGIL_X509_CHAIN_MAX; i++) {
                assert_int_equal(X509_up_ref(i == 0 ? leaf : roots[0]), 1);
                assert_true(sk_X509_push(chain, i == 0 ? leaf : roots[0]) > 0);
        }
        assert_int_equal(verify_at(chain, &set, now, "longer than"), -EINVAL);
        (void) sk_X509_pop(chain);
        X509_free(roots[0]);
        assert_int_equal(verify_at(chain, &set, now, NULL), 0);
        sk_X509_pop_free(chain, X509_free);
        sigil_bundle_set_done(&set);
        X509_free(leaf);
        sigil_x509_issuer_free(is);
}

/* ---- helpers: chains, PEM, serials ---- */

static uint8_t *der_of(X509 *cert, size_t *ret_n) {
        unsigned char *der = NULL;
        int n = i2d_X509(cert, &der);

        assert_true(n > 0);
        *ret_n = (size_t) n;
        return der;
}

static void test_chain_from_der(void **state) {
        X509 *inter = make_intermediate(roots[0], ca_keys[0], ca_keys[1], now + DAY);
        size_t n1, n2, n = 0;
        uint8_t *d1 = der_of(roots[0], &n1), *d2 = der_of(inter, &n2);
        uint8_t *buf = malloc((n1 + n2) * (SIGIL_X509_CHAIN_MAX + 1) + 1);
        STACK_OF(X509) *chain = NULL;
        SigilErr err = {};

        assert_non_null(buf);
        memcpy(buf, d2, n2);
        memcpy(buf + n2, d1, n1);
        assert_int_equal(sigil_x509_chain_from_der(buf, n1 + n2, &chain, &err), 0);
        assert_int_equal(sk_X509_num(chain), 2);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 0), inter), 0);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 1), roots[0]), 0);
        sk_X509_pop_free(chain, X509_free);
        chain = NULL;

        buf[n1 + n2] = 0x00;
        assert_int_equal(sigil_x509_chain_from_der(buf, n1 + n2 + 1, &chain, &err), -EINVAL);
        assert_int_equal(sigil_x509_chain_from_der(buf, n1 + n2 - 1, &chain, &err), -EINVAL);
        assert_int_equal(sigil_x509_chain_from_der(buf, n2 - 1, &chain, &err), -EINVAL);
        assert_int_equal(sigil_x509_chain_from_der(buf, 0, &chain, &err), -EINVAL);
        assert_int_equal(sigil_x509_chain_from_der(buf, SIGIL_X509_CHAIN_DER_MAX + 1, &chain,
                                                   &err),
                         -EINVAL);
        for (int i = 0; i <= SIGIL_X509_CHAIN_MAX; i++)
                memcpy(buf + n, d1, n1), n += n1;
        assert_int_equal(sigil_x509_chain_from_der(buf, n, &chain, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "more than"));
        assert_int_equal(sigil_x509_chain_from_der(buf, n - n1, &chain, &err), 0);
        assert_int_equal(sk_X509_num(chain), SIGIL_X509_CHAIN_MAX);
        sk_X509_pop_free(chain, X509_free);
        free(buf);
        OPENSSL_free(d1);
        OPENSSL_free(d2);
        X509_free(inter);
}

static void test_pem_helpers(void **state) {
        X509 *inter = make_intermediate(roots[0], ca_keys[0], ca_keys[1], now + DAY), *x = NULL;
        STACK_OF(X509) *chain = chain_of(inter, roots[0], NULL);
        char *pem = NULL, *two = NULL, buf[16384];
        SigilErr err = {};

        assert_int_equal(sigil_x509_to_pem(inter, &pem), 0);
        assert_true(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
        assert_int_equal(sigil_x509_from_pem(pem, strlen(pem), &x, &err), 0);
        assert_int_equal(X509_cmp(x, inter), 0);
        X509_free(x);
        x = NULL;
        assert_int_equal(sigil_x509_chain_to_pem(chain, &two), 0);
        assert_true(strncmp(two, pem, strlen(pem)) == 0);
        assert_non_null(strstr(two + strlen(pem), "-----BEGIN CERTIFICATE-----"));
        assert_int_equal(sigil_x509_from_pem(two, strlen(two), &x, &err), -EINVAL);
        (void) snprintf(buf, sizeof(buf), "%sjunk", pem);
        assert_int_equal(sigil_x509_from_pem(buf, strlen(buf), &x, &err), -EINVAL);
        (void) snprintf(buf, sizeof(buf), "junk\n%s", pem);
        assert_int_equal(sigil_x509_from_pem(buf, strlen(buf), &x, &err), -EINVAL);
        assert_int_equal(sigil_x509_from_pem(pem, strlen(pem) - 10, &x, &err), -EINVAL);
        assert_null(x);
        free(two);
        free(pem);
        sk_X509_pop_free(chain, X509_free);
        X509_free(inter);
}

static void test_serial_hex_and_times(void **state) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(roots[0]), NULL);
        char hex[41], small[8], *want;

        assert_int_equal(sigil_x509_serial_hex(roots[0], hex, sizeof(hex)), 0);
        want = BN_bn2hex(bn);
        for (char *p = want; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        assert_string_equal(hex, want);
        assert_int_equal(sigil_x509_serial_hex(roots[0], small, sizeof(small)), -ENOBUFS);
        OPENSSL_free(want);
        BN_free(bn);
        assert_int_equal(sigil_x509_not_before(roots[0]), now - 3600);
        assert_int_equal(sigil_x509_not_after(roots[0]), now + 30 * DAY);
        assert_int_equal(sigil_x509_not_after(NULL), 0);
}

/* ---- PEM and DER bundles ---- */

static void test_bundle_pem(void **state) {
        SigilBundle *b = NULL, *back = NULL;
        char *pem = NULL, buf[32768];
        SigilErr err = {};
        size_t n;

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, roots[0]), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, roots[2]), 0);
        assert_int_equal(sigil_bundle_to_pem(b, &pem), 0);
        n = strlen(pem);
        assert_int_equal(sigil_bundle_from_pem(TD, pem, n, &back, &err), 0);
        assert_true(sigil_bundle_equal_authorities(b, back));
        assert_int_equal(sk_X509_num(back->x509_authorities), 2);
        assert_int_equal(X509_cmp(sk_X509_value(back->x509_authorities, 0), roots[0]), 0);
        back = sigil_bundle_free(back);

        /* Whitespace between and around blocks is fine; anything else is not. */
        (void) snprintf(buf, sizeof(buf), "\n\n%s\n  \n", pem);
        assert_int_equal(sigil_bundle_from_pem(TD, buf, strlen(buf), &back, &err), 0);
        back = sigil_bundle_free(back);
        {
                const char *mid = strstr(pem + 1, "-----BEGIN");
                int k = (int) (mid - pem);

                (void) snprintf(buf, sizeof(buf), "%.*sgarbage\n%s", k, pem, mid);
                assert_int_equal(sigil_bundle_from_pem(TD, buf, strlen(buf), &back, &err),
                                 -EINVAL);
                assert_non_null(strstr(err.msg, "block 2"));
        }
        (void) snprintf(buf, sizeof(buf), "%sgarbage", pem);
        assert_int_equal(sigil_bundle_from_pem(TD, buf, strlen(buf), &back, &err), -EINVAL);
        (void) snprintf(buf, sizeof(buf), "# roots\n%s", pem);
        assert_int_equal(sigil_bundle_from_pem(TD, buf, strlen(buf), &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_pem(TD, pem, n - 5, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_pem(TD, " \n", 2, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_pem(TD, "", 0, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_pem("Not A TD", pem, n, &back, &err), -EINVAL);
        memcpy(buf, pem, n);
        buf[n / 2] = '\0';
        assert_int_equal(sigil_bundle_from_pem(TD, buf, n, &back, &err), -EINVAL);
        {
                char *key = NULL;

                assert_int_equal(sigil_key_to_pkcs8_pem(ca_keys[0], &key), 0);
                (void) snprintf(buf, sizeof(buf), "%s%s", pem, key);
                assert_int_equal(sigil_bundle_from_pem(TD, buf, strlen(buf), &back, &err),
                                 -EINVAL);
                assert_non_null(strstr(err.msg, "not a CERTIFICATE"));
                OPENSSL_cleanse(key, strlen(key));
                free(key);
        }
        assert_null(back);
        free(pem);
        sigil_bundle_free(b);
}

static void test_bundle_der(void **state) {
        SigilBundle *b = NULL, *back = NULL;
        uint8_t *der = NULL, *longer;
        size_t n = 0, n1;
        uint8_t *d1 = der_of(roots[1], &n1);
        SigilErr err = {};

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, roots[1]), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, roots[3]), 0);
        assert_int_equal(sigil_bundle_to_der(b, &der, &n), 0);
        assert_true(n > n1);
        assert_memory_equal(der, d1, n1);                       /* back to back, in order */
        assert_int_equal(sigil_bundle_from_der(TD, der, n, &back, &err), 0);
        assert_true(sigil_bundle_equal_authorities(b, back));
        back = sigil_bundle_free(back);

        longer = malloc(n + 1);
        assert_non_null(longer);
        memcpy(longer, der, n);
        longer[n] = 0x30;
        assert_int_equal(sigil_bundle_from_der(TD, longer, n + 1, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_der(TD, der, n - 1, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_der(TD, der, 0, &back, &err), -EINVAL);
        assert_int_equal(sigil_bundle_from_der("bad td!", der, n, &back, &err), -EINVAL);
        assert_null(back);
        free(longer);
        free(der);
        OPENSSL_free(d1);
        sigil_bundle_free(b);
}

/* ---- cross-checks with the openssl command line tool ---- */

static void write_pem(const char *dir, const char *name, X509 *cert) {
        char path[512], *pem = NULL;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(sigil_x509_to_pem(cert, &pem), 0);
        assert_int_equal(write_file_atomic(path, pem, strlen(pem), 0644), 0);
        free(pem);
}

static void test_openssl_cli(void **state) {
        static const char *const want[] = {
                "CA:FALSE",
                "Digital Signature",
                "TLS Web Server Authentication, TLS Web Client Authentication",
                "URI:spiffe://",
        };
        static const int ca_types[] = { SIGIL_KEY_EC_P256, SIGIL_KEY_RSA_2048, SIGIL_KEY_EC_P384 };
        char *dir = test_mkdtemp();

        if (run_cmd("openssl version >/dev/null 2>&1") != 0) {
                rm_rf(dir);
                free(dir);
                skip();
        }
        for (size_t i = 0; i < ELEMENTSOF(ca_types); i++) {
                int t = ca_types[i], k = (t + 2) % _SIGIL_KEY_TYPE_MAX;
                X509 *inter = make_intermediate(roots[t], ca_keys[t], ca_keys[k], now + DAY);
                SigilX509Issuer *is = new_issuer(inter, ca_keys[k]);
                X509 *leaf = issue(is, leaf_keys[t], LEAF_ID, test_dns, 2, now - 60, now + 3600);

                write_pem(dir, "root.pem", roots[t]);
                write_pem(dir, "other-root.pem", roots[(t + 1) % _SIGIL_KEY_TYPE_MAX]);
                write_pem(dir, "intermediate.pem", inter);
                write_pem(dir, "leaf.pem", leaf);
                assert_int_equal(run_cmd("cd '%s' && openssl verify -CAfile root.pem -untrusted "
                                         "intermediate.pem leaf.pem >/dev/null 2>&1", dir),
                                 0);
                /* The same command can fail: wrong root, or no intermediate. */
                assert_int_not_equal(run_cmd("cd '%s' && openssl verify -CAfile other-root.pem "
                                             "-untrusted intermediate.pem leaf.pem "
                                             ">/dev/null 2>&1", dir),
                                     0);
                assert_int_not_equal(run_cmd("cd '%s' && openssl verify -CAfile root.pem "
                                             "leaf.pem >/dev/null 2>&1", dir),
                                     0);
                for (size_t j = 0; j < ELEMENTSOF(want); j++)
                        assert_int_equal(run_cmd("openssl x509 -in '%s/leaf.pem' -text -noout | "
                                                 "grep -qF '%s'", dir, want[j]),
                                         0);
                assert_int_not_equal(run_cmd("openssl x509 -in '%s/leaf.pem' -text -noout | "
                                             "grep -qF 'Certificate Sign'", dir),
                                     0);
                assert_int_equal(run_cmd("openssl x509 -in '%s/intermediate.pem' -text -noout | "
                                         "grep -qF 'CA:TRUE'", dir),
                                 0);
                X509_free(leaf);
                sigil_x509_issuer_free(is);
                X509_free(inter);
        }
        rm_rf(dir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_issue_all_key_combinations),
                cmocka_unit_test(test_issue_openssl_text),
                cmocka_unit_test(test_serials_random_and_distinct),
                cmocka_unit_test(test_not_after_capped),
                cmocka_unit_test(test_time_encoding),
                cmocka_unit_test(test_subject_without_dns),
                cmocka_unit_test(test_many_dns_names),
                cmocka_unit_test(test_issue_rejects_params),
                cmocka_unit_test(test_issue_rejects_unsupported_keys),
                cmocka_unit_test(test_issue_rejects_bad_ec_spki),
                cmocka_unit_test(test_issue_rejects_bad_rsa_spki),
                cmocka_unit_test(test_issuer_new_rejects),
                cmocka_unit_test(test_issue_from_csr),
                cmocka_unit_test(test_root_ca),
                cmocka_unit_test(test_intermediate_ca),
                cmocka_unit_test(test_ca_rejects),
                cmocka_unit_test(test_verify_valid_chains),
                cmocka_unit_test(test_verify_leaf_rules),
                cmocka_unit_test(test_verify_intermediate_rules),
                cmocka_unit_test(test_verify_other_trust_domain),
                cmocka_unit_test(test_verify_time),
                cmocka_unit_test(test_verify_ca_as_leaf),
                cmocka_unit_test(test_verify_bundle_lookup),
                cmocka_unit_test(test_verify_forged_signature),
                cmocka_unit_test(test_verify_bad_arguments),
                cmocka_unit_test(test_chain_from_der),
                cmocka_unit_test(test_pem_helpers),
                cmocka_unit_test(test_serial_hex_and_times),
                cmocka_unit_test(test_bundle_pem),
                cmocka_unit_test(test_bundle_der),
                cmocka_unit_test(test_openssl_cli),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
