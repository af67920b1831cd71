/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509-SVID validation, as the SPIFFE spec asks of a validator (X509-02,
 * 04, 10, 15, 18, 19): the SPIFFE rules for the leaf and the signing
 * certificates first, with a reason for each, then RFC 5280 path validation
 * by OpenSSL rooted only in the X.509 authorities of the leaf's own trust
 * domain. Unlike go-spiffe's Verify (DIV-13) the leaf's ID must have a path.
 * Certificates presented after the leaf are untrusted path material; only
 * the bundle confers trust. An authority in the bundle need not be
 * self-signed (X509_V_FLAG_PARTIAL_CHAIN). No host name checks.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "sigil/x509svid.h"
#include "ssl-util.h"

static int verify_leaf(X509 *leaf, SigilSpiffeId *ret_id, SigilErr *reterr) {
        uint32_t flags = X509_get_extension_flags(leaf), ku;
        int r;

        if (flags & EXFLAG_INVALID)
                return sigil_err_set(reterr, -EINVAL, "leaf certificate has invalid or duplicate "
                                                      "extensions");
        r = sigil_x509_spiffe_id(leaf, ret_id, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, -EINVAL, "leaf certificate");
        if (sigil_spiffeid_is_root(ret_id))
                return sigil_err_set(reterr, -EINVAL, "leaf SPIFFE ID '%s' has no path",
                                     ret_id->str);
        /* X509_check_ca() also counts v1 self-signed and keyCertSign-only certificates. */
        if ((flags & EXFLAG_CA) || X509_check_ca(leaf) != 0)
                return sigil_err_set(reterr, -EINVAL, "leaf certificate is a CA");
        if (!(flags & EXFLAG_KUSAGE))
                return sigil_err_set(reterr, -EINVAL, "leaf certificate has no key usage");
        ku = X509_get_key_usage(leaf);
        if (!(ku & KU_DIGITAL_SIGNATURE))
                return sigil_err_set(reterr, -EINVAL, "leaf certificate lacks digitalSignature");
        if (ku & KU_KEY_CERT_SIGN)
                return sigil_err_set(reterr, -EINVAL, "leaf certificate has keyCertSign");
        if (ku & KU_CRL_SIGN)
                return sigil_err_set(reterr, -EINVAL, "leaf certificate has cRLSign");
        return 0;
}

static int verify_intermediate(X509 *cert, int i, SigilErr *reterr) {
        uint32_t flags = X509_get_extension_flags(cert);

        if (flags & EXFLAG_INVALID)
                return sigil_err_set(reterr, -EINVAL, "certificate %d has invalid or duplicate "
                                                      "extensions", i);
        if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA))
                return sigil_err_set(reterr, -EINVAL, "intermediate certificate %d is not a CA",
                                     i);
        if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
                return sigil_err_set(reterr, -EINVAL, "intermediate certificate %d lacks "
                                                      "keyCertSign", i);
        return 0;
}

static int verify_store_from_bundle(const SigilBundle *b, X509_STORE **ret) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();

        if (!store)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(b->x509_authorities, i)) != 1) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        *ret = TAKE_PTR(store);
        return 0;
}

/* RFC 5280 path validation of @chain at @now, trusting only @store. */
static int verify_path(STACK_OF(X509) *chain, X509_STORE *store, uint64_t now,
                       SigilErr *reterr) {
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        _cleanup_(sk_X509_freep) STACK_OF(X509) *untrusted = sk_X509_new_null();
        X509_VERIFY_PARAM *param;
        int err, depth;

        if (!ctx || !untrusted)
                return -ENOMEM;
        for (int i = 1; i < sk_X509_num(chain); i++)
                if (sk_X509_push(untrusted, sk_X509_value(chain, i)) <= 0)
                        return -ENOMEM;
        if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
                ERR_clear_error();
                return -ENOMEM;
        }
        param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_time(param, (time_t) now);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
        X509_VERIFY_PARAM_set_depth(param, SIGIL_X509_CHAIN_MAX);
        if (X509_verify_cert(ctx) == 1)
                return 0;
        err = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        ERR_clear_error();
        return sigil_err_set(reterr, -EINVAL, "chain does not verify: %s (certificate %d)",
                             X509_verify_cert_error_string(err), depth);
}

int sigil_x509svid_verify(STACK_OF(X509) *chain, const SigilBundleSet *bundles, uint64_t now,
                          SigilSpiffeId *ret_id, SigilErr *reterr) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        const SigilBundle *bundle;
        SigilTrustDomain td;
        SigilSpiffeId id;
        int n, r;

        n = chain ? sk_X509_num(chain) : 0;
        if (n <= 0 || n > SIGIL_X509_CHAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "chain is empty or longer than %d",
                                     SIGIL_X509_CHAIN_MAX);
        if (!bundles || now > (uint64_t) INT64_MAX)
                return sigil_err_set(reterr, -EINVAL, "invalid arguments");
        r = verify_leaf(sk_X509_value(chain, 0), &id, reterr);
        if (r < 0)
                return r;
        for (int i = 1; i < n; i++) {
                r = verify_intermediate(sk_X509_value(chain, i), i, reterr);
                if (r < 0)
                        return r;
        }
        sigil_spiffeid_trust_domain(&id, &td);
        bundle = sigil_bundle_set_get(bundles, td.name);
        if (!bundle)
                return sigil_err_set(reterr, -ENOENT, "no bundle for trust domain '%s'",
                                     td.name);
        if (sk_X509_num(bundle->x509_authorities) == 0)
                return sigil_err_set(reterr, -ENOENT, "trust domain '%s' has no X.509 "
                                                      "authorities", td.name);
        r = verify_store_from_bundle(bundle, &store);
        if (r < 0)
                return r;
        r = verify_path(chain, store, now, reterr);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

int sigil_x509_verify_to_roots(X509 *cert, STACK_OF(X509) *untrusted, STACK_OF(X509) *roots,
                               uint64_t now, SigilErr *reterr) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();

        if (!store || !ctx)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(roots); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(roots, i)) != 1)
                        return -ENOMEM;
        if (X509_STORE_CTX_init(ctx, store, cert, untrusted) != 1)
                return -ENOMEM;
        /* A root may be an intermediate the operator trusts: the chain may end there. */
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
        X509_STORE_CTX_set_time(ctx, 0, (time_t) now);
        if (X509_verify_cert(ctx) != 1)
                return sigil_err_set(reterr, -EINVAL, "does not chain to the trusted "
                                     "certificates: %s",
                                     X509_verify_cert_error_string(
                                             X509_STORE_CTX_get_error(ctx)));
        return 0;
}

