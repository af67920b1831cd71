/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The X.509 encodings of a bundle: concatenated PEM certificates (files,
 * the CLI) and concatenated DER certificates (what the Workload API serves,
 * X509-22). Parsing is strict: only whitespace around PEM blocks, only
 * CERTIFICATE blocks, each certificate exactly one DER element, nothing left
 * over, at most SIGIL_BUNDLE_KEYS_MAX certificates.
 */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "sigil/bundle.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define BUNDLE_X509_MAX (4u * 1024u * 1024u)    /* bytes of PEM or DER accepted */

static int bundle_add_der_cert(SigilBundle *b, const unsigned char *der, size_t n) {
        _cleanup_(X509_freep) X509 *cert = NULL;
        const unsigned char *p = der;

        if (!der_is_single_tlv(der, n))
                return -EINVAL;
        cert = d2i_X509(NULL, &p, (long) n);
        if (!cert || p != der + n) {
                ERR_clear_error();
                return -EINVAL;
        }
        return sigil_bundle_add_x509_authority(b, cert);
}

/* Parse every block of @bio into @b; the caller has checked sizes. */
static int bundle_read_pem_blocks(BIO *bio, SigilBundle *b, SigilErr *reterr) {
        for (size_t i = 1;; i++) {
                _cleanup_(pem_block_done) PemBlock blk = {};
                int r;

                r = pem_read_strict(bio, false, &blk);
                if (r == 0)
                        return 0;
                if (r < 0)
                        return sigil_err_set(reterr, -EINVAL, "malformed PEM or unexpected text "
                                                              "before block %zu", i);
                if (!streq(blk.name, "CERTIFICATE"))
                        return sigil_err_set(reterr, -EINVAL, "PEM block %zu is not a "
                                                              "CERTIFICATE", i);
                if (i > SIGIL_BUNDLE_KEYS_MAX)
                        return sigil_err_set(reterr, -EINVAL, "more than %d certificates",
                                             SIGIL_BUNDLE_KEYS_MAX);
                r = bundle_add_der_cert(b, blk.data, (size_t) blk.n_data);
                if (r == -EINVAL)
                        return sigil_err_set(reterr, r, "certificate %zu is malformed", i);
                if (r < 0)
                        return r;
        }
}

int sigil_bundle_from_pem(const char *td, const char *pem, size_t n_pem, SigilBundle **ret,
                          SigilErr *reterr) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        int r;

        if (!pem || n_pem == 0 || n_pem > BUNDLE_X509_MAX)
                return sigil_err_set(reterr, -EINVAL, "bundle PEM is empty or too large");
        if (memchr(pem, '\0', n_pem))
                return sigil_err_set(reterr, -EINVAL, "bundle PEM contains a NUL byte");
        r = sigil_bundle_new(td, &b);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create a bundle for trust domain '%s'",
                                     td ? td : "");
        bio = BIO_new_mem_buf(pem, (int) n_pem);
        if (!bio)
                return -ENOMEM;
        r = bundle_read_pem_blocks(bio, b, reterr);
        if (r < 0)
                return r;
        if (sk_X509_num(b->x509_authorities) == 0)
                return sigil_err_set(reterr, -EINVAL, "bundle PEM holds no certificate");
        *ret = TAKE_PTR(b);
        return 0;
}

int sigil_x509_certs_from_pem_file(const char *path, STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *pem = NULL;
        size_t n;
        int r;

        r = read_full_file(path, BUNDLE_X509_MAX, &pem, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", path, strerror(-r));
        /* A bundle is an ordered, duplicate-free list of certificates: what a chain needs. */
        r = sigil_bundle_from_pem("certificates.invalid", pem, n, &b, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", path);
        *ret = TAKE_PTR(b->x509_authorities);
        return 0;
}

int sigil_bundle_to_pem(const SigilBundle *b, char **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        char *data, *s;
        long n;

        if (!b || !ret)
                return -EINVAL;
        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++)
                if (PEM_write_bio_X509(bio, sk_X509_value(b->x509_authorities, i)) != 1) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        n = BIO_get_mem_data(bio, &data);
        if (n < 0)
                return -ENOMEM;
        s = malloc((size_t) n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, data, (size_t) n);
        s[n] = '\0';
        *ret = s;
        return 0;
}

int sigil_bundle_from_der(const char *td, const uint8_t *der, size_t n_der, SigilBundle **ret,
                          SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        int r;

        if (!der || n_der == 0 || n_der > BUNDLE_X509_MAX)
                return sigil_err_set(reterr, -EINVAL, "bundle DER is empty or too large");
        r = sigil_bundle_new(td, &b);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create a bundle for trust domain '%s'",
                                     td ? td : "");
        r = x509_parse_der_concat(der, n_der, SIGIL_BUNDLE_KEYS_MAX, &certs, reterr);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_num(certs); i++) {
                r = sigil_bundle_add_x509_authority(b, sk_X509_value(certs, i));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

int sigil_bundle_to_der(const SigilBundle *b, uint8_t **ret, size_t *ret_n) {
        _cleanup_(freep) uint8_t *out = NULL;
        size_t total = 0;

        if (!b || !ret || !ret_n)
                return -EINVAL;
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++) {
                int n = i2d_X509(sk_X509_value(b->x509_authorities, i), NULL);

                if (n <= 0)
                        return -EIO;
                total += (size_t) n;
        }
        out = malloc(total ? total : 1);
        if (!out)
                return -ENOMEM;
        for (int i = 0, off = 0; i < sk_X509_num(b->x509_authorities); i++) {
                unsigned char *p = out + off;
                int n = i2d_X509(sk_X509_value(b->x509_authorities, i), &p);

                if (n <= 0)
                        return -EIO;
                off += n;
        }
        *ret = TAKE_PTR(out);
        *ret_n = total;
        return 0;
}
