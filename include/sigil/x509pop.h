/* SPDX-License-Identifier: Apache-2.0 */
/* sigil x509pop.h - proof of possession of an X.509 certificate's key (node attestation) */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "sigil/error.h"

#define SIGIL_X509POP_NONCE_LEN 32
#define SIGIL_X509POP_SIG_MAX 1024

/*
 * The agent proves it holds the key of its node certificate by signing
 *
 *   "sigil-x509pop-v1" || nonce || SHA-256(csr)
 *
 * with SHA-256 (ECDSA, DER signature; RSA-PSS with a 32-byte salt for RSA
 * keys). The server's nonce makes a recorded proof useless, and the CSR's
 * hash binds the proof to the agent SVID being requested, so a proof cannot
 * be moved to another key.
 */

/**
 * sigil_x509pop_sign() - sign a challenge
 * @key:        the node certificate's private key
 * @nonce:      the server's nonce (SIGIL_X509POP_NONCE_LEN bytes)
 * @csr:        DER of the CSR sent with the proof
 * @n_csr:      its length
 * @ret_sig:    on success, malloc'd signature
 * @ret_n:      on success, its length
 *
 * Return: 0, -EOPNOTSUPP (key type) or -EIO.
 */
int sigil_x509pop_sign(EVP_PKEY *key, const uint8_t nonce[SIGIL_X509POP_NONCE_LEN],
                       const uint8_t *csr, size_t n_csr, uint8_t **ret_sig, size_t *ret_n);

/**
 * sigil_x509pop_verify() - check a proof
 * @pub:        the node certificate's public key
 * @nonce:      the nonce the server issued
 * @csr:        DER of the CSR that came with the proof
 * @n_csr:      its length
 * @sig:        untrusted signature
 * @n_sig:      its length
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0 or -EKEYREJECTED.
 */
int sigil_x509pop_verify(EVP_PKEY *pub, const uint8_t nonce[SIGIL_X509POP_NONCE_LEN],
                         const uint8_t *csr, size_t n_csr, const uint8_t *sig, size_t n_sig,
                         SigilErr *reterr);
