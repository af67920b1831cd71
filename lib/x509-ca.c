/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CA certificates: self-signed roots and intermediates. Rare operations, so
 * they use OpenSSL's high-level X509 API. Every CA certificate is a signing
 * certificate in the SPIFFE sense (X509-06..08, 11, 13, 14): CA:TRUE and
 * keyCertSign+cRLSign, both critical; one URI SAN spiffe://<td> without a
 * path; a subject key identifier; intermediates also carry the issuer's key
 * identifier and never outlive their issuer.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define CA_SUBJECT_MAX 1024
#define CA_PATH_LEN_MAX 16

/* The attribute types a subject string may use, by OpenSSL short name. */
static const char *const ca_subject_keys[] = {
        "C", "ST", "L", "O", "OU", "CN", "serialNumber", "DC",
};

static bool ca_subject_key_allowed(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(ca_subject_keys); i++)
                if (streq(ca_subject_keys[i], key))
                        return true;
        return false;
}

/* One "KEY=value" RDN, with surrounding spaces trimmed. */
static int ca_subject_add_rdn(X509_NAME *name, char *rdn, SigilErr *reterr) {
        char *eq = strchr(rdn, '='), *key = rdn, *value, *end;

        if (!eq)
                return sigil_err_set(reterr, -EINVAL, "subject RDN '%s' has no '='", rdn);
        *eq = '\0';
        value = eq + 1;
        while (*key == ' ')
                key++;
        for (end = eq; end > key && end[-1] == ' '; end--)
                end[-1] = '\0';
        while (*value == ' ')
                value++;
        for (end = value + strlen(value); end > value && end[-1] == ' '; end--)
                end[-1] = '\0';
        if (!ca_subject_key_allowed(key))
                return sigil_err_set(reterr, -EINVAL, "subject attribute '%s' not supported", key);
        if (*value == '\0')
                return sigil_err_set(reterr, -EINVAL, "subject attribute '%s' is empty", key);
        if (X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (const unsigned char *) value,
                                       -1, -1, 0) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "invalid value for subject attribute '%s'",
                                     key);
        }
        return 0;
}

/* "C=US,O=sigil,CN=x" -> X509_NAME. No escaping: values cannot contain ','. */
static int ca_parse_subject(const char *s, X509_NAME **ret, SigilErr *reterr) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        char buf[CA_SUBJECT_MAX + 1], *p = buf;
        int r;

        if (isempty(s) || strlen(s) > CA_SUBJECT_MAX)
                return sigil_err_set(reterr, -EINVAL, "subject is empty or too long");
        (void) snprintf(buf, sizeof(buf), "%s", s);
        name = X509_NAME_new();
        if (!name)
                return -ENOMEM;
        for (;;) {
                char *comma = strchr(p, ',');

                if (comma)
                        *comma = '\0';
                r = ca_subject_add_rdn(name, p, reterr);
                if (r < 0)
                        return r;
                if (!comma)
                        break;
                p = comma + 1;
        }
        *ret = TAKE_PTR(name);
        return 0;
}

int sigil_x509_ca_subject_check(const char *subject, SigilErr *reterr) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;

        return ca_parse_subject(subject, &name, reterr);
}

static int ca_set_random_serial(X509 *cert) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        uint8_t serial[X509_SERIAL_BYTES];
        int r;

        r = x509_serial_random(serial);
        if (r < 0)
                return r;
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

/* Version, serial, names, validity and public key. */
static int ca_set_fields(X509 *cert, X509 *issuer, EVP_PKEY *pubkey, X509_NAME *subject,
                         uint64_t not_before, uint64_t not_after) {
        int r;

        r = ca_set_random_serial(cert);
        if (r < 0)
                return r;
        if (X509_set_version(cert, X509_VERSION_3) != 1 ||
            X509_set_subject_name(cert, subject) != 1 ||
            X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
            !ASN1_TIME_set(X509_getm_notBefore(cert), (time_t) not_before) ||
            !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t) not_after) ||
            X509_set_pubkey(cert, pubkey) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

static int ca_add_basic_constraints(X509 *cert, int path_len) {
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

        if (!bc)
                return -ENOMEM;
        bc->ca = 0xff;
        if (path_len >= 0) {
                bc->pathlen = ASN1_INTEGER_new();
                if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, path_len) != 1)
                        return -ENOMEM;
        }
        return X509_add1_ext_i2d(cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1
                       ? 0
                       : -EIO;
}

static int ca_add_key_usage(X509 *cert) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();

        /* Bits of KeyUsage (RFC 5280 4.2.1.3): keyCertSign(5), cRLSign(6). */
        if (!ku || ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 || ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1)
                return -ENOMEM;
        return X509_add1_ext_i2d(cert, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1 ? 0 : -EIO;
}

/* RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
static int ca_key_id(const X509 *cert, ASN1_OCTET_STRING **ret) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *id = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (X509_pubkey_digest(cert, EVP_sha1(), md, &n) != 1)
                return -EIO;
        id = ASN1_OCTET_STRING_new();
        if (!id || ASN1_OCTET_STRING_set(id, md, (int) n) != 1)
                return -ENOMEM;
        *ret = TAKE_PTR(id);
        return 0;
}

static int ca_add_key_ids(X509 *cert, X509 *issuer) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *ski = NULL;
        _cleanup_(AUTHORITY_KEYID_freep) AUTHORITY_KEYID *aki = NULL;
        const ASN1_OCTET_STRING *issuer_ski;
        int r;

        r = ca_key_id(cert, &ski);
        if (r < 0)
                return r;
        if (X509_add1_ext_i2d(cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1)
                return -EIO;
        if (!issuer)
                return 0;
        aki = AUTHORITY_KEYID_new();
        if (!aki)
                return -ENOMEM;
        issuer_ski = X509_get0_subject_key_id(issuer);
        if (issuer_ski)
                aki->keyid = ASN1_OCTET_STRING_dup(issuer_ski);
        else
                r = ca_key_id(issuer, &aki->keyid);
        if (r < 0 || !aki->keyid)
                return r < 0 ? r : -ENOMEM;
        return X509_add1_ext_i2d(cert, NID_authority_key_identifier, aki, 0,
                                 X509V3_ADD_DEFAULT) == 1
                       ? 0
                       : -EIO;
}

static int ca_add_san(X509 *cert, const char *td) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        GENERAL_NAME *gn;
        ASN1_IA5STRING *uri;
        char id[sizeof(SIGIL_SPIFFE_SCHEME) + SIGIL_TRUST_DOMAIN_MAX];

        (void) snprintf(id, sizeof(id), SIGIL_SPIFFE_SCHEME "%s", td);
        names = GENERAL_NAMES_new();
        gn = GENERAL_NAME_new();
        uri = ASN1_IA5STRING_new();
        if (!names || !gn || !uri || ASN1_STRING_set(uri, id, -1) != 1) {
                GENERAL_NAME_free(gn);
                ASN1_IA5STRING_free(uri);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(gn, GEN_URI, uri);
        if (sk_GENERAL_NAME_push(names, gn) <= 0) {
                GENERAL_NAME_free(gn);
                return -ENOMEM;
        }
        /* The subject is never empty, so the SAN need not be critical (RFC 5280 4.2.1.6). */
        return X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1
                       ? 0
                       : -EIO;
}

static int ca_check_params(const SigilCaParams *p, SigilErr *reterr) {
        if (!p)
                return sigil_err_set(reterr, -EINVAL, "no CA parameters");
        if (sigil_trust_domain_validate(p->trust_domain, NULL, 0) != 0)
                return sigil_err_set(reterr, -EINVAL, "invalid trust domain '%s'",
                                     p->trust_domain ? p->trust_domain : "");
        if (p->not_after > SIGIL_X509_TIME_MAX || p->not_before >= p->not_after)
                return sigil_err_set(reterr, -EINVAL, "invalid CA validity period");
        if (p->path_len < -1 || p->path_len > CA_PATH_LEN_MAX)
                return sigil_err_set(reterr, -EINVAL, "invalid path length constraint %d",
                                     p->path_len);
        return 0;
}

static const EVP_MD *ca_digest_for(EVP_PKEY *key) {
        SigilKeyType t;

        if (sigil_key_type_of(key, &t) != 0)
                return NULL;
        return t == SIGIL_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
}

/* Build and sign a CA certificate; @issuer is NULL for a self-signed root. */
static int ca_build(X509 *issuer, EVP_PKEY *sign_key, EVP_PKEY *pubkey, const SigilCaParams *p,
                    const char *default_subject, X509 **ret, SigilErr *reterr) {
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        const EVP_MD *md = ca_digest_for(sign_key);
        uint64_t not_after = p->not_after;
        int r;

        if (!md)
                return sigil_err_set(reterr, -EINVAL, "signing key type not supported");
        if (issuer)
                not_after = MIN(not_after, sigil_x509_not_after(issuer));
        if (not_after <= p->not_before)
                return sigil_err_set(reterr, -EINVAL, "validity ends before it starts (issuer "
                                                      "expires too early)");
        r = ca_parse_subject(p->subject ? p->subject : default_subject, &subject, reterr);
        if (r < 0)
                return r;
        cert = X509_new();
        if (!cert)
                return -ENOMEM;
        r = ca_set_fields(cert, issuer, pubkey, subject, p->not_before, not_after);
        if (r >= 0)
                r = ca_add_basic_constraints(cert, p->path_len);
        if (r >= 0)
                r = ca_add_key_usage(cert);
        if (r >= 0)
                r = ca_add_key_ids(cert, issuer);
        if (r >= 0)
                r = ca_add_san(cert, p->trust_domain);
        if (r >= 0 && X509_sign(cert, sign_key, md) <= 0)
                r = -EIO;
        if (r < 0) {
                ERR_clear_error();
                return sigil_err_set(reterr, r == -ENOMEM ? r : -EIO,
                                     "cannot build the CA certificate");
        }
        *ret = TAKE_PTR(cert);
        return 0;
}

int sigil_x509_ca_create_root(EVP_PKEY *key, const SigilCaParams *params, X509 **ret,
                              SigilErr *reterr) {
        int r;

        if (!key)
                return sigil_err_set(reterr, -EINVAL, "no CA key");
        r = ca_check_params(params, reterr);
        if (r < 0)
                return r;
        return ca_build(NULL, key, key, params, "O=sigil,CN=sigil root CA", ret, reterr);
}

int x509_check_signing_ca(X509 *issuer, EVP_PKEY *issuer_key, SigilErr *reterr) {
        uint32_t flags = X509_get_extension_flags(issuer);

        if ((flags & EXFLAG_INVALID) || !(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
                return sigil_err_set(reterr, -EINVAL, "issuer is not a CA certificate");
        if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN))
                return sigil_err_set(reterr, -EINVAL, "issuer may not sign certificates");
        if (X509_check_private_key(issuer, issuer_key) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "issuer key does not match its "
                                                      "certificate");
        }
        return 0;
}

int sigil_x509_ca_create_intermediate(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pubkey,
                                      const SigilCaParams *params, X509 **ret, SigilErr *reterr) {
        SigilKeyType t;
        int r;

        if (!issuer || !issuer_key || !pubkey)
                return sigil_err_set(reterr, -EINVAL, "missing issuer, issuer key or public key");
        r = ca_check_params(params, reterr);
        if (r < 0)
                return r;
        r = x509_check_signing_ca(issuer, issuer_key, reterr);
        if (r < 0)
                return r;
        if (sigil_key_type_of(pubkey, &t) != 0)
                return sigil_err_set(reterr, -EINVAL, "intermediate key type not supported");
        return ca_build(issuer, issuer_key, pubkey, params, "O=sigil,CN=sigil intermediate CA",
                        ret, reterr);
}
