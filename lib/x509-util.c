/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small X.509 helpers shared by the CA, the issuer, the validator and the
 * bundle encodings: the SPIFFE ID of a certificate, times, serials, PEM, and
 * parsing of concatenated DER certificates from untrusted bytes (with limits,
 * each certificate one DER element, nothing left over).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "sigil/x509svid.h"
#include "ssl-util.h"

#define X509_PEM_MAX (512u * 1024u)

int sigil_x509_spiffe_id(X509 *cert, SigilSpiffeId *ret, SigilErr *reterr) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        const ASN1_IA5STRING *uri = NULL;
        int crit = -1, r;

        if (!cert)
                return sigil_err_set(reterr, -EINVAL, "no certificate");
        names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
        if (!names) {
                ERR_clear_error();
                if (crit == -1)
                        return sigil_err_set(reterr, -EINVAL, "certificate has no subject "
                                                              "alternative name");
                return sigil_err_set(reterr, -EINVAL, "certificate has a malformed or duplicate "
                                                      "subject alternative name extension");
        }
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

                if (gn->type != GEN_URI)
                        continue;
                if (uri)
                        return sigil_err_set(reterr, -EINVAL, "certificate has more than one URI "
                                                              "SAN");
                uri = gn->d.uniformResourceIdentifier;
        }
        if (!uri)
                return sigil_err_set(reterr, -EINVAL, "certificate has no URI SAN");
        r = sigil_spiffeid_parse((const char *) ASN1_STRING_get0_data(uri),
                                 (size_t) ASN1_STRING_length(uri), ret, reterr);
        if (r != 0)
                return sigil_err_prefix(reterr, -EINVAL, "URI SAN is not a SPIFFE ID");
        return 0;
}

static uint64_t asn1_time_to_epoch(const ASN1_TIME *t) {
        struct tm tm = {};
        time_t s;

        if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
                ERR_clear_error();
                return 0;
        }
        s = timegm(&tm);
        return s < 0 ? 0 : (uint64_t) s;
}

uint64_t sigil_x509_not_after(const X509 *cert) {
        return cert ? asn1_time_to_epoch(X509_get0_notAfter(cert)) : 0;
}

uint64_t sigil_x509_not_before(const X509 *cert) {
        return cert ? asn1_time_to_epoch(X509_get0_notBefore(cert)) : 0;
}

int sigil_x509_serial_hex(const X509 *cert, char *buf, size_t n_buf) {
        static const char hex[] = "0123456789abcdef";
        const ASN1_INTEGER *serial;
        const unsigned char *d;
        size_t n;

        if (!cert || !buf)
                return -EINVAL;
        serial = X509_get0_serialNumber(cert);
        if (ASN1_STRING_type(serial) != V_ASN1_INTEGER)
                return -EINVAL;         /* negative serials are not ours to print */
        d = ASN1_STRING_get0_data(serial);
        n = (size_t) ASN1_STRING_length(serial);
        if (n == 0) {
                if (n_buf < 3)
                        return -ENOBUFS;
                memcpy(buf, "00", 3);
                return 0;
        }
        if (n_buf < 2 * n + 1)
                return -ENOBUFS;
        for (size_t i = 0; i < n; i++) {
                buf[2 * i] = hex[d[i] >> 4];
                buf[2 * i + 1] = hex[d[i] & 0xf];
        }
        buf[2 * n] = '\0';
        return 0;
}

/* The contents of a memory BIO as a malloc'd NUL-terminated string. */
static int bio_to_string(BIO *bio, char **ret) {
        char *data, *s;
        long n;

        n = BIO_get_mem_data(bio, &data);
        if (n < 0)
                return -EIO;
        s = malloc((size_t) n + 1);
        if (!s)
                return -ENOMEM;
        if (n > 0)
                memcpy(s, data, (size_t) n);
        s[n] = '\0';
        *ret = s;
        return 0;
}

int sigil_x509_to_pem(X509 *cert, char **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;

        if (!cert)
                return -EINVAL;
        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_X509(bio, cert) != 1) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return bio_to_string(bio, ret);
}

int sigil_x509_chain_to_pem(STACK_OF(X509) *chain, char **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;

        if (!chain)
                return -EINVAL;
        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(chain); i++)
                if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        return bio_to_string(bio, ret);
}

/* One certificate from exactly @n bytes of DER. */
static X509 *x509_from_der_exact(const uint8_t *der, size_t n) {
        const unsigned char *p = der;
        X509 *cert;

        if (!der_is_single_tlv(der, n))
                return NULL;
        cert = d2i_X509(NULL, &p, (long) n);
        if (cert && p != der + n) {
                X509_free(cert);
                cert = NULL;
        }
        ERR_clear_error();
        return cert;
}

int sigil_x509_from_pem(const char *pem, size_t n_pem, X509 **ret, SigilErr *reterr) {
        _cleanup_(pem_block_done) PemBlock b = {}, extra = {};
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        X509 *cert;

        if (!pem || n_pem == 0 || n_pem > X509_PEM_MAX)
                return sigil_err_set(reterr, -EINVAL, "certificate PEM is empty or too large");
        if (memchr(pem, '\0', n_pem))
                return sigil_err_set(reterr, -EINVAL, "certificate PEM contains a NUL byte");
        bio = BIO_new_mem_buf(pem, (int) n_pem);
        if (!bio)
                return -ENOMEM;
        if (pem_read_strict(bio, false, &b) <= 0)
                return sigil_err_set(reterr, -EINVAL, "no well-formed PEM block");
        if (!streq(b.name, "CERTIFICATE"))
                return sigil_err_set(reterr, -EINVAL, "PEM block is not a CERTIFICATE");
        if (pem_read_strict(bio, false, &extra) != 0)
                return sigil_err_set(reterr, -EINVAL, "unexpected data after the certificate");
        cert = x509_from_der_exact(b.data, (size_t) b.n_data);
        if (!cert)
                return sigil_err_set(reterr, -EINVAL, "malformed certificate");
        *ret = cert;
        return 0;
}

/* The length of the DER element at @p (header included), or 0 when it is not well-formed. */
static size_t der_element_size(const uint8_t *p, size_t n) {
        size_t len = 0, k;

        if (n < 2)
                return 0;
        if (p[1] < 0x80)
                return (size_t) p[1] + 2 <= n ? (size_t) p[1] + 2 : 0;
        k = p[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k)
                return 0;
        for (size_t i = 0; i < k; i++)
                len = (len << 8) | p[2 + i];
        return len <= n - 2 - k ? len + 2 + k : 0;
}

int x509_parse_der_concat(const uint8_t *der, size_t n_der, size_t max_certs,
                          STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        size_t off = 0;

        certs = sk_X509_new_null();
        if (!certs)
                return -ENOMEM;
        while (off < n_der) {
                size_t n = der_element_size(der + off, n_der - off);
                X509 *cert;

                if ((size_t) sk_X509_num(certs) >= max_certs)
                        return sigil_err_set(reterr, -EINVAL, "more than %zu certificates",
                                             max_certs);
                cert = n > 0 ? x509_from_der_exact(der + off, n) : NULL;
                if (!cert)
                        return sigil_err_set(reterr, -EINVAL, "certificate %d is malformed",
                                             sk_X509_num(certs) + 1);
                if (sk_X509_push(certs, cert) <= 0) {
                        X509_free(cert);
                        return -ENOMEM;
                }
                off += n;
        }
        if (sk_X509_num(certs) == 0)
                return sigil_err_set(reterr, -EINVAL, "no certificate");
        *ret = TAKE_PTR(certs);
        return 0;
}

int sigil_x509_chain_from_der(const uint8_t *der, size_t n_der, STACK_OF(X509) **ret,
                              SigilErr *reterr) {
        if (!der || n_der == 0)
                return sigil_err_set(reterr, -EINVAL, "empty certificate chain");
        if (n_der > SIGIL_X509_CHAIN_DER_MAX)
                return sigil_err_set(reterr, -EINVAL, "certificate chain larger than %u bytes",
                                     SIGIL_X509_CHAIN_DER_MAX);
        return x509_parse_der_concat(der, n_der, SIGIL_X509_CHAIN_MAX, ret, reterr);
}

int sigil_x509_key_id(X509 *cert, uint8_t *ret, size_t n_ret, size_t *ret_n) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (ski) {
                if (ASN1_STRING_length(ski) <= 0)
                        return -EIO;
                if ((size_t) ASN1_STRING_length(ski) > n_ret)
                        return -ENOBUFS;
                *ret_n = (size_t) ASN1_STRING_length(ski);
                memcpy(ret, ASN1_STRING_get0_data(ski), *ret_n);
                return 0;
        }
        if (X509_pubkey_digest(cert, EVP_sha1(), md, &n) != 1 || n == 0) {
                ERR_clear_error();
                return -EIO;
        }
        if (n > n_ret)
                return -ENOBUFS;
        memcpy(ret, md, n);
        *ret_n = n;
        return 0;
}

