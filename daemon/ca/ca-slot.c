/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Making CA slots: a fresh key, and for X.509 a CA certificate, either a
 * self-signed root or an intermediate signed by the upstream authority read
 * from disk. The upstream key is read when needed and dropped right after.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <string.h>

#include "ca-internal.h"
#include "fileio.h"
#include "sigil/log.h"
#include "ssl-util.h"

#define CA_DEFAULT_SUBJECT "C=US,O=sigil"

static int random_id(char *buf, size_t n_chars) {
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        unsigned char rnd[64];

        if (n_chars > sizeof(rnd) || RAND_bytes(rnd, (int) n_chars) != 1)
                return -EIO;
        for (size_t i = 0; i < n_chars; i++)
                buf[i] = alphabet[rnd[i] % 62];         /* 256 % 62 bias is irrelevant for IDs */
        buf[n_chars] = '\0';
        return 0;
}

int ca_upstream_load(Ca *ca, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL, *roots = NULL;
        X509 *upstream;
        int r;

        r = sigil_x509_certs_from_pem_file(ca->cfg.upstream_cert_path, &certs, reterr);
        if (r < 0)
                return r;
        upstream = sk_X509_value(certs, 0);
        if (X509_check_ca(upstream) != 1)
                return sigil_err_set(reterr, -EINVAL, "upstream certificate '%s' is not a CA",
                                     ca->cfg.upstream_cert_path);
        if (ca->cfg.upstream_bundle_path) {
                r = sigil_x509_certs_from_pem_file(ca->cfg.upstream_bundle_path, &roots, reterr);
                if (r < 0)
                        return r;
        } else {
                roots = sk_X509_new_null();
                if (!roots || !X509_up_ref(upstream) || sk_X509_push(roots, upstream) <= 0)
                        return sigil_err_set(reterr, -ENOMEM, "out of memory");
        }
        /* Certificates of the upstream file that are not roots travel in every chain. */
        sk_X509_pop_free(ca->upstream_chain, X509_free);
        ca->upstream_chain = sk_X509_new_null();
        if (!ca->upstream_chain)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(certs); i++) {
                X509 *c = sk_X509_value(certs, i);
                bool is_root = false;

                for (int k = 0; k < sk_X509_num(roots); k++)
                        if (X509_cmp(c, sk_X509_value(roots, k)) == 0)
                                is_root = true;
                if (is_root)
                        continue;
                if (!X509_up_ref(c) || sk_X509_push(ca->upstream_chain, c) <= 0)
                        return -ENOMEM;
        }
        sk_X509_pop_free(ca->upstream_roots, X509_free);
        ca->upstream_roots = TAKE_PTR(roots);
        return 0;
}

/* Verify that @cert chains to the upstream roots through the upstream chain. */
int ca_upstream_verify(Ca *ca, X509 *cert, uint64_t now, SigilErr *reterr) {
        int r = sigil_x509_verify_to_roots(cert, ca->upstream_chain, ca->upstream_roots, now,
                                           reterr);

        return r < 0 ? sigil_err_prefix(reterr, r, "CA certificate, upstream bundle") : 0;
}

static int make_x509_cert(Ca *ca, EVP_PKEY *key, uint64_t now, X509 **ret, SigilErr *reterr) {
        SigilCaParams params = {
                .trust_domain = ca->cfg.trust_domain,
                .subject = ca->cfg.subject ? ca->cfg.subject : CA_DEFAULT_SUBJECT,
                .not_before = now - CA_BACKDATE_SEC,
                .not_after = now + ca->cfg.ca_ttl_sec,
                .path_len = -1,
        };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *upstream_key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        int r;

        if (!ca->cfg.upstream_cert_path)
                return sigil_x509_ca_create_root(key, &params, ret, reterr);

        /* Re-read the upstream authority: it may have been rotated on disk. */
        r = ca_upstream_load(ca, reterr);
        if (r < 0)
                return r;
        r = sigil_key_load_pem(ca->cfg.upstream_key_path, &upstream_key, reterr);
        if (r < 0)
                return r;
        {
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;

                r = sigil_x509_certs_from_pem_file(ca->cfg.upstream_cert_path, &certs, reterr);
                if (r < 0)
                        return r;
                r = sigil_x509_ca_create_intermediate(sk_X509_value(certs, 0), upstream_key, key,
                                                      &params, &cert, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "upstream authority refused");
        }
        r = ca_upstream_verify(ca, cert, now, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(cert);
        return 0;
}

int ca_slot_make(Ca *ca, CaSlotKind kind, uint64_t now, CaSlot *ret, SigilErr *reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        CaSlot slot = { .kind = kind, .status = CA_SLOT_PREPARED };
        int r;

        r = sigil_key_generate(kind == CA_SLOT_X509 ? ca->cfg.key_type : ca->cfg.jwt_key_type,
                               &key);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot generate a CA key");
        r = random_id(slot.id, 32);
        if (r < 0)
                return sigil_err_set(reterr, r, "no randomness for a key ID");
        if (kind == CA_SLOT_X509) {
                r = make_x509_cert(ca, key, now, &slot.cert, reterr);
                if (r < 0)
                        return r;
                slot.not_before = sigil_x509_not_before(slot.cert);
                slot.not_after = sigil_x509_not_after(slot.cert);
        } else {
                slot.not_before = now;
                slot.not_after = now + ca->cfg.ca_ttl_sec;
        }
        slot.created_at = now;
        slot.key = TAKE_PTR(key);
        *ret = slot;
        return 0;
}
