/* SPDX-License-Identifier: Apache-2.0 */
/* sigil x509svid.h - X.509 CA certificates, X.509-SVID issuance and validation */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/spiffeid.h"

#define SIGIL_X509_CHAIN_MAX 16          /* certificates in one presented chain */
#define SIGIL_X509_DNS_NAMES_MAX 64
#define SIGIL_X509_DNS_NAME_MAX 253
#define SIGIL_X509_CHAIN_DER_MAX (256u * 1024u)
#define SIGIL_X509_SERIAL_HEX_MAX 41    /* hex of any RFC 5280 serial (20 bytes), with the NUL */
#define SIGIL_X509_TIME_MAX UINT64_C(253402300799)      /* 9999-12-31T23:59:59Z: latest notAfter */

/* Parameters of a CA certificate. Times are seconds since the epoch. */
typedef struct SigilCaParams {
        const char *trust_domain;       /* the CA's URI SAN is spiffe://<trust_domain> */
        const char *subject;            /* "C=US,O=sigil,CN=..." (comma-separated RDNs), or NULL */
        uint64_t not_before;
        uint64_t not_after;
        int path_len;                   /* pathLenConstraint, or -1 for none */
} SigilCaParams;

/* Parameters of a leaf X.509-SVID. Times are seconds since the epoch. */
typedef struct SigilLeafParams {
        const SigilSpiffeId *id;        /* must have a path */
        const char *const *dns_names;   /* first one also becomes the subject CN */
        size_t n_dns_names;
        uint64_t not_before;
        uint64_t not_after;             /* capped at the issuer's notAfter */
} SigilLeafParams;

/**
 * sigil_x509_ca_subject_check() - whether a CA subject string is one the CA functions accept
 * @subject:    "C=US,O=sigil,CN=..." (comma-separated KEY=value RDNs)
 * @reterr:     on failure, what is wrong with it; may be NULL
 *
 * The same parser as sigil_x509_ca_create_root() and sigil_x509_ca_create_intermediate()
 * use, so a configuration can be checked before any key exists.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_x509_ca_subject_check(const char *subject, SigilErr *reterr);

/**
 * sigil_x509_ca_create_root() - a self-signed root CA certificate
 * @key:        the CA's private key
 * @params:     subject, trust domain and validity
 * @ret:        on success, the certificate
 * @reterr:     on failure, the reason; may be NULL
 *
 * The certificate has CA:TRUE (critical), keyCertSign+cRLSign (critical), a
 * subject key identifier, a 128-bit random serial and one URI SAN
 * spiffe://<td> (no path).
 *
 * Return: 0, -EINVAL or -EIO.
 */
int sigil_x509_ca_create_root(EVP_PKEY *key, const SigilCaParams *params, X509 **ret,
                              SigilErr *reterr);

/**
 * sigil_x509_ca_create_intermediate() - an intermediate CA certificate for @pubkey
 * @issuer:     issuing CA certificate
 * @issuer_key: its private key
 * @pubkey:     the intermediate's public key (e.g. from sigil_csr_parse())
 * @params:     subject, trust domain, validity (notAfter capped at the issuer's)
 * @ret:        on success, the certificate
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -EIO.
 */
int sigil_x509_ca_create_intermediate(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pubkey,
                                      const SigilCaParams *params, X509 **ret, SigilErr *reterr);

/*
 * An issuer of leaf X.509-SVIDs. It holds the CA certificate and key and a
 * pre-encoded certificate template, so issuing one leaf costs little more
 * than one signature. Not thread-safe: use one issuer per thread.
 */
typedef struct SigilX509Issuer SigilX509Issuer;

/**
 * sigil_x509_issuer_new() - prepare an issuer for a CA
 * @ca:         the CA certificate (reference taken)
 * @ca_key:     its private key (reference taken)
 * @ret:        on success, the issuer
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL (not a CA, or key mismatch), -EOPNOTSUPP (key type) or -ENOMEM.
 */
int sigil_x509_issuer_new(X509 *ca, EVP_PKEY *ca_key, SigilX509Issuer **ret, SigilErr *reterr);
SigilX509Issuer *sigil_x509_issuer_free(SigilX509Issuer *issuer);
DEFINE_TRIVIAL_CLEANUP_FUNC(SigilX509Issuer *, sigil_x509_issuer_free)

/* The CA certificate of @issuer (borrowed). */
X509 *sigil_x509_issuer_ca(const SigilX509Issuer *issuer);

/**
 * sigil_x509_issuer_sign_spki() - issue a leaf X.509-SVID for a public key given as SPKI DER
 * @issuer:     the issuer
 * @spki:       untrusted SubjectPublicKeyInfo DER (EC P-256/P-384, RSA 2048/4096)
 * @n_spki:     its length
 * @params:     SPIFFE ID, DNS names, validity
 * @ret_der:    on success, malloc'd DER of the leaf
 * @ret_n:      on success, its length
 * @reterr:     on failure, the reason; may be NULL
 *
 * The leaf has CA:FALSE, key usage digitalSignature (+keyEncipherment for
 * RSA keys), EKU serverAuth+clientAuth, one URI SAN, a random 128-bit serial,
 * the authority key identifier of the CA, and notAfter no later than the CA's.
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP, -ENOMEM or -EIO.
 */
int sigil_x509_issuer_sign_spki(SigilX509Issuer *issuer, const uint8_t *spki, size_t n_spki,
                                const SigilLeafParams *params, uint8_t **ret_der, size_t *ret_n,
                                SigilErr *reterr);

/* What the issuer wrote into a leaf, so that a caller need not parse the leaf back. */
typedef struct SigilLeafInfo {
        uint64_t not_before;
        uint64_t not_after;                     /* as written: capped at the CA's notAfter */
        char serial[SIGIL_X509_SERIAL_HEX_MAX]; /* as sigil_x509_serial_hex() prints it */
} SigilLeafInfo;

/**
 * sigil_x509_issuer_sign_spki_full() - sigil_x509_issuer_sign_spki(), also telling what it wrote
 * @issuer:     the issuer
 * @spki:       untrusted SubjectPublicKeyInfo DER (EC P-256/P-384, RSA 2048/4096)
 * @n_spki:     its length
 * @params:     SPIFFE ID, DNS names, validity
 * @ret_der:    on success, malloc'd DER of the leaf
 * @ret_n:      on success, its length
 * @ret_info:   on success, the leaf's validity and serial number; may be NULL
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL, -EOPNOTSUPP, -ENOMEM or -EIO.
 */
int sigil_x509_issuer_sign_spki_full(SigilX509Issuer *issuer, const uint8_t *spki,
                                     size_t n_spki, const SigilLeafParams *params,
                                     uint8_t **ret_der, size_t *ret_n, SigilLeafInfo *ret_info,
                                     SigilErr *reterr);

/**
 * sigil_x509_chain_from_der() - parse concatenated DER certificates
 * @der:        untrusted bytes
 * @n_der:      length (at most SIGIL_X509_CHAIN_DER_MAX)
 * @ret:        on success, the certificates in order
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_x509_chain_from_der(const uint8_t *der, size_t n_der, STACK_OF(X509) **ret,
                              SigilErr *reterr);

/**
 * sigil_x509svid_verify() - validate an X.509-SVID chain the way the spec demands of a validator
 * @chain:      leaf first, then intermediates (roots may be present and are ignored as trust)
 * @bundles:    trust bundles; the leaf's own trust domain's bundle is used
 * @now:        seconds since the epoch
 * @ret_id:     on success, the leaf's SPIFFE ID; may be NULL
 * @reterr:     on failure, the reason; may be NULL
 *
 * Leaf rules: exactly one URI SAN, a SPIFFE ID with a path, CA:FALSE,
 * digitalSignature, no keyCertSign/cRLSign. Signing certificates: CA:TRUE
 * and keyCertSign. Then RFC 5280 path validation to the X.509 authorities of
 * the leaf's trust domain, at time @now.
 *
 * Return: 0 or -EINVAL (not valid), -ENOENT (no bundle for the trust domain), -ENOMEM.
 */
int sigil_x509svid_verify(STACK_OF(X509) *chain, const SigilBundleSet *bundles, uint64_t now,
                          SigilSpiffeId *ret_id, SigilErr *reterr);

/**
 * sigil_x509_spiffe_id() - the single SPIFFE URI SAN of a certificate
 * @cert:       the certificate
 * @ret:        on success, the ID
 * @reterr:     on failure, the reason (none, several, not a SPIFFE ID); may be NULL
 *
 * Return: 0 or -EINVAL.
 */
int sigil_x509_spiffe_id(X509 *cert, SigilSpiffeId *ret, SigilErr *reterr);

/* notAfter of @cert as seconds since the epoch (0 on error). */
/**
 * sigil_x509_key_id() - the key identifier of a CA certificate, as its SVIDs' AKI carries it
 * @cert:       the certificate
 * @ret:        buffer for the identifier
 * @n_ret:      its size (20 bytes hold the SHA-1 form)
 * @ret_n:      on success, the identifier's length
 *
 * The subjectKeyIdentifier when the certificate has one, else the SHA-1 of
 * its public key (RFC 5280 4.2.1.2, method 1).
 *
 * Return: 0, -ENOBUFS (@ret too small) or -EIO.
 */
int sigil_x509_key_id(X509 *cert, uint8_t *ret, size_t n_ret, size_t *ret_n);

uint64_t sigil_x509_not_after(const X509 *cert);
uint64_t sigil_x509_not_before(const X509 *cert);

/*
 * Serial number of @cert as lowercase hex, two digits a byte, into @buf (41 bytes hold any
 * RFC 5280 serial). Return: 0, -EINVAL (negative serial) or -ENOBUFS (@buf too small).
 */
int sigil_x509_serial_hex(const X509 *cert, char *buf, size_t n_buf);

/* PEM text of one certificate / a stack of certificates. Return: 0 or -ENOMEM. */
int sigil_x509_to_pem(X509 *cert, char **ret);
int sigil_x509_chain_to_pem(STACK_OF(X509) *chain, char **ret);
int sigil_x509_from_pem(const char *pem, size_t n_pem, X509 **ret, SigilErr *reterr);

/**
 * sigil_x509_certs_from_pem_file() - the certificates of a PEM file, in file order
 * @path:       file of PEM CERTIFICATE blocks only (strict: no other text, at most 4 MiB)
 * @ret:        on success, the certificates (duplicates dropped); free with sk_X509_pop_free
 * @reterr:     on failure, "cannot read '<path>': ..." or "'<path>': <what is wrong>"
 *
 * Return: 0, -EINVAL or negative errno.
 */
int sigil_x509_certs_from_pem_file(const char *path, STACK_OF(X509) **ret, SigilErr *reterr);

/**
 * sigil_x509_verify_to_roots() - plain path validation of @cert to @roots at @now
 * @cert:       the certificate
 * @untrusted:  certificates that may complete the path; may be NULL
 * @roots:      trusted certificates (a path may end at any of them)
 * @now:        unix seconds
 * @reterr:     on failure, "does not chain to the trusted certificates: <why>"
 *
 * No SPIFFE rules: for CA certificates (the upstream CA), not SVIDs.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_x509_verify_to_roots(X509 *cert, STACK_OF(X509) *untrusted, STACK_OF(X509) *roots,
                               uint64_t now, SigilErr *reterr);
