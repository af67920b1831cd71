/* SPDX-License-Identifier: Apache-2.0 */
/* x509pop.h - the server side of x509pop node attestation: challenges and their checks */
#pragma once

#include <stdint.h>

#include "sigil/error.h"
#include "sigil/selector.h"
#include "sigil/x509pop.h"

/*
 * An agent presents a node certificate chain; it must chain to the CAs of
 * node_attestors.x509pop.ca_bundle_path. The server answers with a nonce
 * kept for X509POP_CHALLENGE_TTL_SEC and usable once; the agent returns a
 * proof (include/sigil/x509pop.h). The agent's ID is
 * spiffe://<td>/sigil/agent/x509pop/<SHA-1 fingerprint of the leaf, hex>,
 * so the same certificate always maps to the same node, and its selectors:
 *   x509pop:subject:cn:<CN>
 *   x509pop:ca:fingerprint:<SHA-1 hex of each CA certificate in the verified path>
 *   x509pop:san:dns:<name> and x509pop:san:uri:<uri> for each SAN of the leaf
 *   x509pop:serialnumber:<hex>
 */

#define X509POP_CHALLENGE_TTL_SEC 60
#define X509POP_PENDING_MAX 4096
#define X509POP_CHAIN_MAX 8
#define X509POP_CHALLENGE_ID_LEN 32

typedef struct X509Pop X509Pop;

typedef struct X509PopResult {
        char agent_path[128];           /* "x509pop/<fingerprint>" */
        SigilSelectorSet selectors;
        char fingerprint[41];
} X509PopResult;

/**
 * x509pop_new() - load the CA certificates node certificates must chain to
 * @ca_bundle_path: PEM file of CA certificates
 * @ret:        on success, the attestor
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EINVAL or negative errno.
 */
int x509pop_new(const char *ca_bundle_path, X509Pop **ret, SigilErr *reterr);
X509Pop *x509pop_free(X509Pop *p);

/**
 * x509pop_challenge() - check a presented chain and issue a nonce for it
 * @p:          attestor
 * @certs:      DER certificates, leaf first
 * @n_certs:    their lengths
 * @n:          number of certificates (1..X509POP_CHAIN_MAX)
 * @now:        unix seconds
 * @ret_id:     on success, the challenge ID (X509POP_CHALLENGE_ID_LEN + 1 bytes)
 * @ret_nonce:  on success, the nonce
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EINVAL (chain refused), -EBUSY (too many pending challenges).
 */
int x509pop_challenge(X509Pop *p, const uint8_t *const *certs, const size_t *n_certs, size_t n,
                      uint64_t now, char *ret_id, uint8_t ret_nonce[SIGIL_X509POP_NONCE_LEN],
                      SigilErr *reterr);

/**
 * x509pop_verify() - consume a challenge and check its proof
 * @p:          attestor
 * @id:         challenge ID
 * @sig:        the proof
 * @n_sig:      its length
 * @csr:        the CSR sent with it
 * @n_csr:      its length
 * @now:        unix seconds
 * @ret:        on success, the agent's ID path and selectors (caller frees the selectors)
 * @reterr:     on failure, the reason
 *
 * The challenge is gone after this call, whatever the outcome.
 *
 * Return: 0, -ENOENT (unknown or used challenge), -ETIME (expired), -EKEYREJECTED (bad proof).
 */
int x509pop_verify(X509Pop *p, const char *id, const uint8_t *sig, size_t n_sig,
                   const uint8_t *csr, size_t n_csr, uint64_t now, X509PopResult *ret,
                   SigilErr *reterr);
