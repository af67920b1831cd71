/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The leaf X.509-SVID issuer: the hot signing path.
 *
 * OpenSSL's high-level X509 API spends most of a leaf's cost re-encoding the
 * public key through the provider encoder (X509_set_pubkey). This issuer
 * never decodes the requested key into an EVP_PKEY at all on the EC path: it
 * checks the SubjectPublicKeyInfo DER exactly (fixed header for P-256/P-384,
 * an uncompressed point that is on the curve; a strict DER walk plus
 * d2i_PUBKEY for RSA) and copies those bytes into the certificate.
 *
 * Everything that is the same for every leaf of one CA - the signature
 * AlgorithmIdentifier, the issuer Name, the fixed extensions and the prefix
 * of the variable ones - is encoded once by OpenSSL's own encoders in
 * sigil_x509_issuer_new(). Each leaf then costs one buffer of known size,
 * filled front to back with the per-certificate parts (serial, validity,
 * subject, SPKI, subject key identifier, SAN), one SHA-256/384 and one
 * signature on a signing context prepared once.
 *
 * Invariants: every length written is the exact DER length (sizes are
 * computed before anything is written); each leaf carries exactly one URI
 * SAN; notAfter never exceeds the CA's; the CA key is the key of the CA
 * certificate (checked in _new). One issuer belongs to one thread.
 */
#include <errno.h>
#include <openssl/rsa.h>
#include <string.h>
#include <time.h>

#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define LEAF_CN_MAX 64                          /* ub-common-name (RFC 5280) */
#define SKI_LEN 20                              /* SHA-1 */
#define RSA_EXPONENT_MAX_BYTES 4
#define ISSUER_SIG_MAX 512                      /* RSA-4096 */
#define ISSUER_SPKI_MAX 1024                    /* an RSA-4096 SPKI is 550 bytes */

/* rsaEncryption with NULL parameters (RFC 3279 2.3.1). */
static const uint8_t rsa_algorithm[] = {
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
};
static const uint8_t oid_cn[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
static const uint8_t oid_san[] = { 0x06, 0x03, 0x55, 0x1d, 0x11 };
static const uint8_t version_v3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };

typedef struct DerBlob {
        uint8_t *data;
        size_t n;
} DerBlob;

typedef struct IssuerCurve {
        EC_GROUP *group;
        EC_POINT *point;        /* scratch for the on-curve check */
} IssuerCurve;

struct SigilX509Issuer {
        X509 *ca;
        EVP_PKEY *ca_key;
        SigilTrustDomain td;            /* from the CA's SPIFFE ID */
        bool has_td;
        uint64_t ca_not_after;

        EVP_PKEY_CTX *sign_ctx;         /* EVP_PKEY_sign_init()ed once */
        EVP_MD *md;                     /* digest of the signature algorithm */
        EVP_MD *sha1;                   /* subject key identifiers */
        EVP_MD_CTX *md_ctx;
        size_t max_sig;

        IssuerCurve p256, p384;
        BN_CTX *bn_ctx;

        DerBlob sig_alg;                /* AlgorithmIdentifier of the signature */
        DerBlob issuer_name;            /* the CA's subject */
        DerBlob subject_o;              /* the RDN O=sigil that starts every subject */
        DerBlob ext_bc;                 /* basicConstraints CA:FALSE, critical */
        DerBlob ext_ku_ec;              /* keyUsage digitalSignature, critical */
        DerBlob ext_ku_rsa;             /* keyUsage digitalSignature+keyEncipherment */
        DerBlob ext_eku;                /* serverAuth, clientAuth */
        DerBlob ext_ski;                /* subjectKeyIdentifier, last 20 bytes patched */
        DerBlob ext_aki;                /* authorityKeyIdentifier = the CA's SKI */
};

/* One leaf being built: the checked inputs and the sizes of its variable parts. */
typedef struct Leaf {
        const uint8_t *spki;
        size_t n_spki;
        const uint8_t *key_bits;        /* subjectPublicKey contents, hashed for the SKI */
        size_t n_key_bits;
        bool rsa;
        uint8_t serial[X509_SERIAL_BYTES];
        uint64_t t_not_before, t_not_after;     /* as written */
        char not_before[16], not_after[16];
        size_t n_not_before, n_not_after;
        SigilSpiffeId id;               /* re-parsed: the caller's struct is not trusted */
        const char *const *dns_names;
        size_t n_dns_names;
        size_t n_cn;                    /* 0: no CN */
        uint8_t ski[SKI_LEN];
        size_t n_general_names, n_san_value, n_san;
        size_t n_cn_atv, n_subject_content, n_validity_content;
        size_t n_exts, n_tbs_content;
} Leaf;

/* ---- DER writing ---- */

/* Lengths here stay far below 2^24: a leaf is bounded by its DNS names and RSA-4096. */
static size_t der_hdr_len(size_t n) {
        return n < 0x80 ? 2 : n <= 0xff ? 3 : n <= 0xffff ? 4 : 5;
}

static size_t der_tlv_len(size_t n) {
        return der_hdr_len(n) + n;
}

static uint8_t *der_put_hdr(uint8_t *p, uint8_t tag, size_t n) {
        size_t k = der_hdr_len(n) - 2;         /* bytes of a long-form length */

        *p++ = tag;
        if (k == 0) {
                *p++ = (uint8_t) n;
                return p;
        }
        *p++ = (uint8_t) (0x80 | k);
        for (size_t i = k; i > 0; i--)
                *p++ = (uint8_t) (n >> (8 * (i - 1)));
        return p;
}

static uint8_t *der_put(uint8_t *p, const void *data, size_t n) {
        memcpy(p, data, n);
        return p + n;
}

static uint8_t *der_put_blob(uint8_t *p, const DerBlob *b) {
        return der_put(p, b->data, b->n);
}

/* ---- strict DER reading (RSA public keys) ---- */

typedef struct DerCursor {
        const uint8_t *p, *end;
} DerCursor;

/* Read one element with tag @tag and a minimally encoded definite length. */
static int der_read(DerCursor *c, uint8_t tag, DerCursor *ret_content) {
        size_t avail = (size_t) (c->end - c->p), len, k;
        const uint8_t *p = c->p;

        if (avail < 2 || p[0] != tag)
                return -EINVAL;
        if (p[1] < 0x80) {
                len = p[1];
                k = 0;
        } else {
                k = p[1] & 0x7f;
                if (k == 0 || k > 2 || avail < 2 + k || p[2] == 0)
                        return -EINVAL;
                len = k == 1 ? p[2] : ((size_t) p[2] << 8) | p[3];
                if (len < 0x80)
                        return -EINVAL;
        }
        if (len > avail - 2 - k)
                return -EINVAL;
        ret_content->p = p + 2 + k;
        ret_content->end = ret_content->p + len;
        c->p = ret_content->end;
        return 0;
}

/* A positive INTEGER in minimal encoding; returns the magnitude without the sign byte. */
static int der_read_positive_int(DerCursor *c, const uint8_t **ret, size_t *ret_n) {
        DerCursor v;
        size_t n;

        if (der_read(c, 0x02, &v) < 0)
                return -EINVAL;
        n = (size_t) (v.end - v.p);
        if (n == 0 || (v.p[0] & 0x80))
                return -EINVAL;
        if (n > 1 && v.p[0] == 0 && !(v.p[1] & 0x80))
                return -EINVAL;
        if (v.p[0] == 0) {
                v.p++;
                n--;
        }
        if (n == 0)
                return -EINVAL;         /* zero */
        *ret = v.p;
        *ret_n = n;
        return 0;
}

/* ---- the requested public key ---- */

/* A P-256/P-384 key, byte for byte as ec_spki_point() wants it, and on its curve. */
static int leaf_check_ec(SigilX509Issuer *is, int nid, const uint8_t *point, size_t n_point,
                         Leaf *l, SigilErr *reterr) {
        const IssuerCurve *curve = nid == NID_secp384r1 ? &is->p384 : &is->p256;

        if (EC_POINT_oct2point(curve->group, curve->point, point, n_point, is->bn_ctx) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, "EC public key is not on the curve");
        }
        l->key_bits = point;
        l->n_key_bits = n_point;
        return 0;
}

/* SEQUENCE { rsaEncryption NULL, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } } */
static int leaf_walk_rsa(Leaf *l) {
        DerCursor c = { l->spki, l->spki + l->n_spki }, spki, bits, key;
        const uint8_t *mod, *exp;
        size_t n_mod, n_exp;
        uint32_t e = 0;

        if (der_read(&c, 0x30, &spki) < 0 || c.p != c.end)
                return -EINVAL;
        if ((size_t) (spki.end - spki.p) < sizeof(rsa_algorithm) ||
            memcmp(spki.p, rsa_algorithm, sizeof(rsa_algorithm)) != 0)
                return -EOPNOTSUPP;
        spki.p += sizeof(rsa_algorithm);
        if (der_read(&spki, 0x03, &bits) < 0 || spki.p != spki.end || bits.p == bits.end ||
            *bits.p++ != 0)
                return -EINVAL;
        l->key_bits = bits.p;
        l->n_key_bits = (size_t) (bits.end - bits.p);
        if (der_read(&bits, 0x30, &key) < 0 || bits.p != bits.end ||
            der_read_positive_int(&key, &mod, &n_mod) < 0 ||
            der_read_positive_int(&key, &exp, &n_exp) < 0 || key.p != key.end)
                return -EINVAL;
        if ((n_mod != 256 && n_mod != 512) || !(mod[0] & 0x80))
                return -EOPNOTSUPP;
        if (n_exp > RSA_EXPONENT_MAX_BYTES)
                return -EINVAL;
        for (size_t i = 0; i < n_exp; i++)
                e = (e << 8) | exp[i];
        if (e < 3 || !(e & 1) || e > INT32_MAX || !(mod[n_mod - 1] & 1))
                return -EINVAL;
        return 0;
}

/*
 * No d2i_PUBKEY() here: OpenSSL's decoder costs ten times the signature, and the walk above
 * already pins down everything it would check. fuzz-csr cross-checks that OpenSSL parses
 * every key this accepts.
 */
static int leaf_check_rsa(Leaf *l, SigilErr *reterr) {
        int r;

        r = leaf_walk_rsa(l);
        if (r == -EOPNOTSUPP)
                return sigil_err_set(reterr, r, "public key type not supported (want EC "
                                                "P-256/P-384 or RSA 2048/4096)");
        if (r < 0)
                return sigil_err_set(reterr, r, "malformed RSA public key");
        l->rsa = true;
        return 0;
}

static int leaf_check_spki(SigilX509Issuer *is, Leaf *l, SigilErr *reterr) {
        const uint8_t *point;
        size_t n_point;
        int nid;

        if (!l->spki || l->n_spki == 0)
                return sigil_err_set(reterr, -EINVAL, "no public key");
        nid = ec_spki_point(l->spki, l->n_spki, &point, &n_point);
        if (nid < 0)
                return sigil_err_set(reterr, -EINVAL, "EC public key is not an uncompressed "
                                                      "point");
        if (nid > 0)
                return leaf_check_ec(is, nid, point, n_point, l, reterr);
        /* Anything else must be RSA: compressed or hybrid points, explicit curves end here. */
        return leaf_check_rsa(l, reterr);
}

/* ---- names and validity ---- */

static bool dns_label_valid(const char *s, size_t n) {
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return true;
}

/* A host name of LDH labels; the first label may be a lone '*' wildcard. */
static bool dns_name_valid(const char *name) {
        size_t n = name ? strnlen(name, SIGIL_X509_DNS_NAME_MAX + 1) : 0;
        const char *s = name;

        if (n == 0 || n > SIGIL_X509_DNS_NAME_MAX)
                return false;
        if (n > 2 && s[0] == '*' && s[1] == '.')
                s += 2;
        for (;;) {
                const char *dot = strchr(s, '.');
                size_t k = dot ? (size_t) (dot - s) : strlen(s);

                if (!dns_label_valid(s, k))
                        return false;
                if (!dot)
                        return true;
                s = dot + 1;
        }
}

static int leaf_check_names(const SigilX509Issuer *is, const SigilLeafParams *p, Leaf *l,
                            SigilErr *reterr) {
        const SigilSpiffeId *id = p->id;

        if (!id || strnlen(id->str, sizeof(id->str)) != id->n_str ||
            sigil_spiffeid_parse(id->str, id->n_str, &l->id, NULL) != 0 || l->id.n_td != id->n_td)
                return sigil_err_set(reterr, -EINVAL, "invalid SPIFFE ID");
        if (sigil_spiffeid_is_root(&l->id))
                return sigil_err_set(reterr, -EINVAL, "leaf SPIFFE ID '%s' has no path",
                                     l->id.str);
        if (is->has_td && !sigil_spiffeid_member_of(&l->id, is->td.name))
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID '%s' is not in the CA's trust "
                                     "domain '%s'", l->id.str, is->td.name);
        if (p->n_dns_names > SIGIL_X509_DNS_NAMES_MAX || (p->n_dns_names > 0 && !p->dns_names))
                return sigil_err_set(reterr, -EINVAL, "too many DNS names");
        for (size_t i = 0; i < p->n_dns_names; i++)
                if (!dns_name_valid(p->dns_names[i]))
                        return sigil_err_set(reterr, -EINVAL, "invalid DNS name '%s'",
                                             p->dns_names[i] ? p->dns_names[i] : "");
        l->dns_names = p->dns_names;
        l->n_dns_names = p->n_dns_names;
        if (p->n_dns_names > 0 && strlen(p->dns_names[0]) <= LEAF_CN_MAX)
                l->n_cn = strlen(p->dns_names[0]);
        return 0;
}

/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
static int format_time(uint64_t t, char buf[static 16], size_t *ret_n) {
        time_t s = (time_t) t;
        struct tm tm;
        int n;

        if (!gmtime_r(&s, &tm))
                return -EINVAL;
        if (tm.tm_year + 1900 < 2050)
                n = snprintf(buf, 16, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        else
                n = snprintf(buf, 16, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (n != 13 && n != 15)
                return -EINVAL;
        *ret_n = (size_t) n;
        return 0;
}

static int leaf_set_validity(const SigilX509Issuer *is, const SigilLeafParams *p, Leaf *l,
                             SigilErr *reterr) {
        uint64_t not_after = MIN(p->not_after, is->ca_not_after);

        if (p->not_after > SIGIL_X509_TIME_MAX)
                return sigil_err_set(reterr, -EINVAL, "notAfter out of range");
        if (p->not_before >= not_after)
                return sigil_err_set(reterr, -EINVAL, "empty validity period (or the CA "
                                                      "expires before notBefore)");
        if (format_time(p->not_before, l->not_before, &l->n_not_before) < 0 ||
            format_time(not_after, l->not_after, &l->n_not_after) < 0)
                return sigil_err_set(reterr, -EINVAL, "cannot represent the validity period");
        l->t_not_before = p->not_before;
        l->t_not_after = not_after;
        return 0;
}

/* ---- sizes, then bytes ---- */

static void leaf_compute_sizes(const SigilX509Issuer *is, Leaf *l) {
        l->n_general_names = der_tlv_len(l->id.n_str);
        for (size_t i = 0; i < l->n_dns_names; i++)
                l->n_general_names += der_tlv_len(strlen(l->dns_names[i]));
        l->n_san_value = der_tlv_len(l->n_general_names);      /* GeneralNames SEQUENCE */
        l->n_san = der_tlv_len(sizeof(oid_san) + der_tlv_len(l->n_san_value));

        l->n_subject_content = is->subject_o.n;
        if (l->n_cn > 0) {
                l->n_cn_atv = sizeof(oid_cn) + der_tlv_len(l->n_cn);
                l->n_subject_content += der_tlv_len(der_tlv_len(l->n_cn_atv));
        }
        l->n_validity_content = der_tlv_len(l->n_not_before) + der_tlv_len(l->n_not_after);

        l->n_exts = is->ext_bc.n + (l->rsa ? is->ext_ku_rsa.n : is->ext_ku_ec.n) +
                    is->ext_eku.n + is->ext_ski.n + is->ext_aki.n + l->n_san;
        l->n_tbs_content = sizeof(version_v3) + der_tlv_len(1 + X509_SERIAL_BYTES) +
                           is->sig_alg.n + is->issuer_name.n +
                           der_tlv_len(l->n_validity_content) +
                           der_tlv_len(l->n_subject_content) + l->n_spki +
                           der_tlv_len(der_tlv_len(l->n_exts));
}

static uint8_t *leaf_put_validity(uint8_t *p, const Leaf *l) {
        p = der_put_hdr(p, 0x30, l->n_validity_content);
        p = der_put_hdr(p, l->n_not_before == 13 ? 0x17 : 0x18, l->n_not_before);
        p = der_put(p, l->not_before, l->n_not_before);
        p = der_put_hdr(p, l->n_not_after == 13 ? 0x17 : 0x18, l->n_not_after);
        return der_put(p, l->not_after, l->n_not_after);
}

/* O=sigil, then CN=<first DNS name> as a UTF8String when there is one that fits. */
static uint8_t *leaf_put_subject(uint8_t *p, const SigilX509Issuer *is, const Leaf *l) {
        p = der_put_hdr(p, 0x30, l->n_subject_content);
        p = der_put_blob(p, &is->subject_o);
        if (l->n_cn == 0)
                return p;
        p = der_put_hdr(p, 0x31, der_tlv_len(l->n_cn_atv));
        p = der_put_hdr(p, 0x30, l->n_cn_atv);
        p = der_put(p, oid_cn, sizeof(oid_cn));
        p = der_put_hdr(p, 0x0c, l->n_cn);
        return der_put(p, l->dns_names[0], l->n_cn);
}

/* Not critical: the subject is never empty (RFC 5280 4.2.1.6). */
static uint8_t *leaf_put_san(uint8_t *p, const Leaf *l) {
        p = der_put_hdr(p, 0x30, sizeof(oid_san) + der_tlv_len(l->n_san_value));
        p = der_put(p, oid_san, sizeof(oid_san));
        p = der_put_hdr(p, 0x04, l->n_san_value);
        p = der_put_hdr(p, 0x30, l->n_general_names);
        p = der_put_hdr(p, 0x86, l->id.n_str);          /* [6] uniformResourceIdentifier */
        p = der_put(p, l->id.str, l->id.n_str);
        for (size_t i = 0; i < l->n_dns_names; i++) {
                size_t n = strlen(l->dns_names[i]);

                p = der_put_hdr(p, 0x82, n);            /* [2] dNSName */
                p = der_put(p, l->dns_names[i], n);
        }
        return p;
}

static uint8_t *leaf_put_extensions(uint8_t *p, const SigilX509Issuer *is, const Leaf *l) {
        p = der_put_hdr(p, 0xa3, der_tlv_len(l->n_exts));
        p = der_put_hdr(p, 0x30, l->n_exts);
        p = der_put_blob(p, &is->ext_bc);
        p = der_put_blob(p, l->rsa ? &is->ext_ku_rsa : &is->ext_ku_ec);
        p = der_put_blob(p, &is->ext_eku);
        p = der_put(p, is->ext_ski.data, is->ext_ski.n - SKI_LEN);     /* the key ID last */
        p = der_put(p, l->ski, SKI_LEN);
        p = der_put_blob(p, &is->ext_aki);
        return leaf_put_san(p, l);
}

static uint8_t *leaf_put_tbs(uint8_t *p, const SigilX509Issuer *is, const Leaf *l) {
        p = der_put_hdr(p, 0x30, l->n_tbs_content);
        p = der_put(p, version_v3, sizeof(version_v3));
        p = der_put_hdr(p, 0x02, 1 + X509_SERIAL_BYTES);
        *p++ = 0x00;                                    /* the serial's top bit is set */
        p = der_put(p, l->serial, sizeof(l->serial));
        p = der_put_blob(p, &is->sig_alg);
        p = der_put_blob(p, &is->issuer_name);
        p = leaf_put_validity(p, l);
        p = leaf_put_subject(p, is, l);
        p = der_put(p, l->spki, l->n_spki);
        return leaf_put_extensions(p, is, l);
}

static int issuer_digest(SigilX509Issuer *is, const EVP_MD *md, const uint8_t *data, size_t n,
                         uint8_t *ret, unsigned int *ret_n) {
        if (EVP_DigestInit_ex2(is->md_ctx, md, NULL) != 1 ||
            EVP_DigestUpdate(is->md_ctx, data, n) != 1 ||
            EVP_DigestFinal_ex(is->md_ctx, ret, ret_n) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

static int issuer_sign(SigilX509Issuer *is, const uint8_t *tbs, size_t n_tbs, uint8_t *sig,
                       size_t *n_sig) {
        uint8_t dgst[EVP_MAX_MD_SIZE];
        unsigned int n_dgst = 0;
        int r;

        r = issuer_digest(is, is->md, tbs, n_tbs, dgst, &n_dgst);
        if (r < 0)
                return r;
        *n_sig = is->max_sig;
        if (EVP_PKEY_sign(is->sign_ctx, sig, n_sig, dgst, n_dgst) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

static int leaf_prepare(SigilX509Issuer *is, const uint8_t *spki, size_t n_spki,
                        const SigilLeafParams *params, Leaf *l, SigilErr *reterr) {
        unsigned int n = 0;
        int r;

        *l = (Leaf) { .spki = spki, .n_spki = n_spki };
        r = leaf_check_spki(is, l, reterr);
        if (r < 0)
                return r;
        r = leaf_check_names(is, params, l, reterr);
        if (r < 0)
                return r;
        r = leaf_set_validity(is, params, l, reterr);
        if (r < 0)
                return r;
        /* RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
        r = issuer_digest(is, is->sha1, l->key_bits, l->n_key_bits, l->ski, &n);
        if (r < 0 || n != SKI_LEN)
                return sigil_err_set(reterr, -EIO, "cannot compute the subject key identifier");
        r = x509_serial_random(l->serial);
        if (r < 0)
                return sigil_err_set(reterr, r, "no random bytes for the serial number");
        leaf_compute_sizes(is, l);
        return 0;
}

_Static_assert(SIGIL_X509_SERIAL_HEX_MAX > 2 * X509_SERIAL_BYTES, "serial hex does not fit");

static void leaf_get_info(const Leaf *l, SigilLeafInfo *ret) {
        static const char hex[] = "0123456789abcdef";

        ret->not_before = l->t_not_before;
        ret->not_after = l->t_not_after;
        for (size_t i = 0; i < X509_SERIAL_BYTES; i++) {
                ret->serial[2 * i] = hex[l->serial[i] >> 4];
                ret->serial[2 * i + 1] = hex[l->serial[i] & 0xf];
        }
        ret->serial[2 * X509_SERIAL_BYTES] = '\0';
}

int sigil_x509_issuer_sign_spki(SigilX509Issuer *is, const uint8_t *spki, size_t n_spki,
                                const SigilLeafParams *params, uint8_t **ret_der, size_t *ret_n,
                                SigilErr *reterr) {
        return sigil_x509_issuer_sign_spki_full(is, spki, n_spki, params, ret_der, ret_n, NULL,
                                                reterr);
}

int sigil_x509_issuer_sign_spki_full(SigilX509Issuer *is, const uint8_t *spki, size_t n_spki,
                                     const SigilLeafParams *params, uint8_t **ret_der,
                                     size_t *ret_n, SigilLeafInfo *ret_info, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *buf = NULL;
        uint8_t sig[ISSUER_SIG_MAX], *tbs, *p;
        size_t n_tbs, n_sig, n_content, start;
        Leaf l;
        int r;

        if (!is || !params || !ret_der || !ret_n)
                return sigil_err_set(reterr, -EINVAL, "missing argument");
        if (n_spki > ISSUER_SPKI_MAX)
                return sigil_err_set(reterr, -EINVAL, "public key too large");
        r = leaf_prepare(is, spki, n_spki, params, &l, reterr);
        if (r < 0)
                return r;

        /* Room for the largest Certificate header, then TBS, algorithm and signature. */
        n_tbs = der_tlv_len(l.n_tbs_content);
        buf = malloc(5 + n_tbs + is->sig_alg.n + 5 + 1 + is->max_sig);
        if (!buf)
                return -ENOMEM;
        tbs = buf + 5;
        p = leaf_put_tbs(tbs, is, &l);
        if (p != tbs + n_tbs)
                abort();                /* the size computation and the writer disagree */
        r = issuer_sign(is, tbs, n_tbs, sig, &n_sig);
        if (r < 0)
                return sigil_err_set(reterr, r, "signing failed");

        p = der_put_blob(p, &is->sig_alg);
        p = der_put_hdr(p, 0x03, 1 + n_sig);
        *p++ = 0x00;                                    /* no unused bits */
        p = der_put(p, sig, n_sig);
        n_content = (size_t) (p - tbs);
        start = 5 - der_hdr_len(n_content);
        (void) der_put_hdr(buf + start, 0x30, n_content);
        if (start > 0)
                memmove(buf, buf + start, der_tlv_len(n_content));
        if (ret_info)
                leaf_get_info(&l, ret_info);
        *ret_n = der_tlv_len(n_content);
        *ret_der = TAKE_PTR(buf);
        return 0;
}

/* ---- setting up an issuer ---- */

static void der_blob_done(DerBlob *b) {
        OPENSSL_free(b->data);
        *b = (DerBlob) {};
}

/* Take the output of an i2d_*() call. */
static int der_blob_take(DerBlob *b, int n, unsigned char *der) {
        if (n <= 0 || !der) {
                OPENSSL_free(der);
                ERR_clear_error();
                return -EIO;
        }
        b->data = der;
        b->n = (size_t) n;
        return 0;
}

static int der_blob_ext(DerBlob *b, int nid, int crit, void *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        unsigned char *der = NULL;
        int n;

        if (!value)
                return -ENOMEM;
        ext = X509V3_EXT_i2d(nid, crit, value);
        if (!ext) {
                ERR_clear_error();
                return -EIO;
        }
        n = i2d_X509_EXTENSION(ext, &der);
        return der_blob_take(b, n, der);
}

static int issuer_encode_key_usage(SigilX509Issuer *is) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ec = ASN1_BIT_STRING_new();
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *rsa = ASN1_BIT_STRING_new();
        int r;

        /* digitalSignature(0); RSA keys may also encrypt session keys: keyEncipherment(2). */
        if (!ec || !rsa || ASN1_BIT_STRING_set_bit(ec, 0, 1) != 1 ||
            ASN1_BIT_STRING_set_bit(rsa, 0, 1) != 1 || ASN1_BIT_STRING_set_bit(rsa, 2, 1) != 1)
                return -ENOMEM;
        r = der_blob_ext(&is->ext_ku_ec, NID_key_usage, 1, ec);
        if (r < 0)
                return r;
        return der_blob_ext(&is->ext_ku_rsa, NID_key_usage, 1, rsa);
}

static int issuer_encode_eku(SigilX509Issuer *is) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

        if (!eku || sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) <= 0 ||
            sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) <= 0)
                return -ENOMEM;
        return der_blob_ext(&is->ext_eku, NID_ext_key_usage, 0, eku);
}

/* The subject key identifier extension with a zero key ID, patched per leaf. */
static int issuer_encode_ski(SigilX509Issuer *is) {
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
        static const uint8_t zero[SKI_LEN] = {};
        int r;

        if (!id || ASN1_OCTET_STRING_set(id, zero, SKI_LEN) != 1)
                return -ENOMEM;
        r = der_blob_ext(&is->ext_ski, NID_subject_key_identifier, 0, id);
        if (r < 0)
                return r;
        if (is->ext_ski.n < SKI_LEN ||
            memcmp(is->ext_ski.data + is->ext_ski.n - SKI_LEN, zero, SKI_LEN) != 0)
                return -EIO;
        return 0;
}

static int issuer_encode_aki(SigilX509Issuer *is) {
        _cleanup_(AUTHORITY_KEYID_freep) AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
        uint8_t id[256];        /* an upstream CA's SKI may be longer than a digest */
        size_t n = 0;
        int r;

        if (!aki)
                return -ENOMEM;
        r = sigil_x509_key_id(is->ca, id, sizeof(id), &n);
        if (r < 0)
                return r;
        aki->keyid = ASN1_OCTET_STRING_new();
        if (!aki->keyid || ASN1_OCTET_STRING_set(aki->keyid, id, (int) n) != 1)
                return -ENOMEM;
        return der_blob_ext(&is->ext_aki, NID_authority_key_identifier, 0, aki);
}

/* The names: the CA's subject as issuer, and the content of the Name "O=sigil". */
static int issuer_encode_names(SigilX509Issuer *is) {
        _cleanup_(X509_NAME_freep) X509_NAME *o = X509_NAME_new();
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        unsigned char *issuer = NULL;
        size_t hdr;
        int n, r;

        n = i2d_X509_NAME(X509_get_subject_name(is->ca), &issuer);
        r = der_blob_take(&is->issuer_name, n, issuer);
        if (r < 0)
                return r;
        if (!o || X509_NAME_add_entry_by_NID(o, NID_organizationName, MBSTRING_UTF8,
                                             (const unsigned char *) "sigil", -1, -1, 0) != 1)
                return -ENOMEM;
        n = i2d_X509_NAME(o, &der);
        if (n < 2 || der[1] >= 0x80)
                return -EIO;
        hdr = 2;
        is->subject_o.data = OPENSSL_memdup(der + hdr, (size_t) n - hdr);
        if (!is->subject_o.data)
                return -ENOMEM;
        is->subject_o.n = (size_t) n - hdr;
        return 0;
}

static int issuer_encode_template(SigilX509Issuer *is) {
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
        int r;

        r = der_blob_ext(&is->ext_bc, NID_basic_constraints, 1, bc);   /* cA FALSE: DEFAULT */
        if (r >= 0)
                r = issuer_encode_key_usage(is);
        if (r >= 0)
                r = issuer_encode_eku(is);
        if (r >= 0)
                r = issuer_encode_ski(is);
        if (r >= 0)
                r = issuer_encode_aki(is);
        if (r >= 0)
                r = issuer_encode_names(is);
        return r;
}

static int issuer_init_signer(SigilX509Issuer *is, SigilKeyType t) {
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *alg = X509_ALGOR_new();
        bool rsa = t == SIGIL_KEY_RSA_2048 || t == SIGIL_KEY_RSA_4096;
        int nid = t == SIGIL_KEY_EC_P256   ? NID_ecdsa_with_SHA256
                  : t == SIGIL_KEY_EC_P384 ? NID_ecdsa_with_SHA384
                                           : NID_sha256WithRSAEncryption;
        unsigned char *der = NULL;
        int n;

        is->md = EVP_MD_fetch(NULL, t == SIGIL_KEY_EC_P384 ? "SHA384" : "SHA256", NULL);
        is->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
        is->md_ctx = EVP_MD_CTX_new();
        is->sign_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, is->ca_key, NULL);
        if (!alg || !is->md || !is->sha1 || !is->md_ctx || !is->sign_ctx)
                return -ENOMEM;
        if (EVP_PKEY_sign_init(is->sign_ctx) != 1 ||
            EVP_PKEY_CTX_set_signature_md(is->sign_ctx, is->md) != 1 ||
            (rsa && EVP_PKEY_CTX_set_rsa_padding(is->sign_ctx, RSA_PKCS1_PADDING) != 1))
                return -EIO;
        is->max_sig = (size_t) EVP_PKEY_get_size(is->ca_key);
        if (is->max_sig == 0 || is->max_sig > ISSUER_SIG_MAX)
                return -EIO;
        /* ECDSA: parameters absent (RFC 5758 3.2); RSA: NULL (RFC 4055 5). */
        X509_ALGOR_set0(alg, OBJ_nid2obj(nid), rsa ? V_ASN1_NULL : V_ASN1_UNDEF, NULL);
        n = i2d_X509_ALGOR(alg, &der);
        return der_blob_take(&is->sig_alg, n, der);
}

static int issuer_init_curve(IssuerCurve *c, int nid) {
        c->group = EC_GROUP_new_by_curve_name(nid);
        c->point = c->group ? EC_POINT_new(c->group) : NULL;
        return c->point ? 0 : -ENOMEM;
}

static void issuer_curve_done(IssuerCurve *c) {
        EC_POINT_free(c->point);
        EC_GROUP_free(c->group);
}

/* The CA must be allowed to sign certificates, and its key must work and match it. */
static int issuer_check_ca(SigilX509Issuer *is, SigilErr *reterr) {
        uint8_t sig[ISSUER_SIG_MAX];
        const uint8_t probe[] = "sigil issuer probe";
        size_t n_sig;
        int r;

        r = x509_check_signing_ca(is->ca, is->ca_key, reterr);
        if (r < 0)
                return r;
        is->ca_not_after = sigil_x509_not_after(is->ca);
        if (is->ca_not_after == 0)
                return sigil_err_set(reterr, -EINVAL, "CA certificate has an invalid notAfter");
        /* A public-only key matches the certificate too; only a signature proves the key. */
        if (issuer_sign(is, probe, sizeof(probe), sig, &n_sig) < 0)
                return sigil_err_set(reterr, -EINVAL, "CA key cannot sign");
        return 0;
}

static int issuer_init(SigilX509Issuer *is, SigilKeyType t, SigilErr *reterr) {
        SigilSpiffeId id;
        int r;

        r = issuer_init_signer(is, t);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot prepare the signing context");
        r = issuer_check_ca(is, reterr);
        if (r < 0)
                return r;
        if (sigil_x509_spiffe_id(is->ca, &id, NULL) == 0) {
                sigil_spiffeid_trust_domain(&id, &is->td);
                is->has_td = true;
        }
        is->bn_ctx = BN_CTX_new();
        if (!is->bn_ctx || issuer_init_curve(&is->p256, NID_X9_62_prime256v1) < 0 ||
            issuer_init_curve(&is->p384, NID_secp384r1) < 0)
                return -ENOMEM;
        r = issuer_encode_template(is);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot encode the certificate template");
        return 0;
}

int sigil_x509_issuer_new(X509 *ca, EVP_PKEY *ca_key, SigilX509Issuer **ret, SigilErr *reterr) {
        _cleanup_(sigil_x509_issuer_freep) SigilX509Issuer *is = NULL;
        SigilKeyType t;
        int r;

        if (!ca || !ca_key || !ret)
                return sigil_err_set(reterr, -EINVAL, "missing CA certificate or key");
        if (sigil_key_type_of(ca_key, &t) != 0)
                return sigil_err_set(reterr, -EOPNOTSUPP, "CA key type not supported");
        is = new0(SigilX509Issuer, 1);
        if (!is)
                return -ENOMEM;
        if (!X509_up_ref(ca))
                return -ENOMEM;
        is->ca = ca;
        if (!EVP_PKEY_up_ref(ca_key))
                return -ENOMEM;
        is->ca_key = ca_key;
        r = issuer_init(is, t, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(is);
        return 0;
}

SigilX509Issuer *sigil_x509_issuer_free(SigilX509Issuer *is) {
        if (!is)
                return NULL;
        DerBlob *blobs[] = {
                &is->sig_alg, &is->issuer_name, &is->subject_o, &is->ext_bc, &is->ext_ku_ec,
                &is->ext_ku_rsa, &is->ext_eku, &is->ext_ski, &is->ext_aki,
        };

        for (size_t i = 0; i < ELEMENTSOF(blobs); i++)
                der_blob_done(blobs[i]);
        issuer_curve_done(&is->p256);
        issuer_curve_done(&is->p384);
        BN_CTX_free(is->bn_ctx);
        EVP_PKEY_CTX_free(is->sign_ctx);
        EVP_MD_CTX_free(is->md_ctx);
        EVP_MD_free(is->md);
        EVP_MD_free(is->sha1);
        EVP_PKEY_free(is->ca_key);
        X509_free(is->ca);
        free(is);
        return NULL;
}

X509 *sigil_x509_issuer_ca(const SigilX509Issuer *is) {
        return is ? is->ca : NULL;
}
