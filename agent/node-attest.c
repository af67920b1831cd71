/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of node attestation and agent SVID renewal
 * (node-attest.h). The generated protobuf structs stay in this file: what
 * leaves it is an AgentIdentity and a SigilBundle, both checked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "node-attest.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "sigil/x509pop.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define X509POP_CHAIN_MAX 8

typedef Sigil__Agent__V1__AttestResponse AttestResponse;

/* A new key for the agent SVID and a CSR for it. */
static int new_key_and_csr(EVP_PKEY **ret_key, uint8_t **ret_csr, size_t *ret_n) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        r = sigil_key_generate(SIGIL_KEY_EC_P256, &key);
        if (r < 0)
                return r;
        r = sigil_csr_make(key, ret_csr, ret_n);
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* The concatenated DER of the response's chain, parsed. */
static int response_chain(const AttestResponse *resp, STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(freep) uint8_t *der = NULL;
        size_t n = 0;

        if (resp->n_svid_chain == 0 || resp->n_svid_chain > SIGIL_X509_CHAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "the server sent %zu certificates",
                                     resp->n_svid_chain);
        for (size_t i = 0; i < resp->n_svid_chain; i++)
                n += resp->svid_chain[i].len;
        if (n > SIGIL_X509_CHAIN_DER_MAX)
                return sigil_err_set(reterr, -EINVAL, "the server's chain is too large");
        der = malloc(n ? n : 1);
        if (!der)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < resp->n_svid_chain; i++) {
                memcpy(der + n, resp->svid_chain[i].data, resp->svid_chain[i].len);
                n += resp->svid_chain[i].len;
        }
        return sigil_x509_chain_from_der(der, n, ret, reterr);
}

/* Check the answer to Attest or RenewAgent and turn it into an identity and a bundle. */
static int response_to_identity(const char *td, const AttestResponse *resp, EVP_PKEY *key,
                                AgentIdentity **ret_identity, SigilBundle **ret_bundle,
                                SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *bundle = NULL;
        _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
        SigilBundleSet set;
        int r;

        r = response_chain(resp, &chain, reterr);
        if (r == 0)
                r = sigil_bundle_from_spiffe_json(td, (const char *) resp->bundle.data,
                                                  resp->bundle.len, &bundle, reterr);
        if (r == 0) {
                set = (SigilBundleSet) { .bundles = &bundle, .n_bundles = 1 };
                r = sigil_x509svid_verify(chain, &set, sigil_now_sec(), NULL, reterr);
        }
        if (r == 0)
                r = agent_identity_new(td, key, chain, resp->agent_id, &a, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r == -ENOMEM ? r : -EINVAL,
                                        "the server's answer is not usable");
        TAKE_PTR(chain);
        *ret_identity = TAKE_PTR(a);
        *ret_bundle = TAKE_PTR(bundle);
        return 0;
}

/* Append the certificates of a PEM file to @chain (at most X509POP_CHAIN_MAX in all). */
static int load_certs(const char *path, STACK_OF(X509) *chain, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        int r;

        r = sigil_x509_certs_from_pem_file(path, &certs, reterr);
        if (r < 0)
                return r;
        if (sk_X509_num(chain) + sk_X509_num(certs) > X509POP_CHAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "'%s': more than %d certificates", path,
                                     X509POP_CHAIN_MAX);
        while (sk_X509_num(certs) > 0) {
                X509 *c = sk_X509_shift(certs);

                if (!sk_X509_push(chain, c)) {
                        X509_free(c);
                        return -ENOMEM;
                }
        }
        return 0;
}

int node_attest_load_x509pop(const AgentConfig *cfg, STACK_OF(X509) **ret_chain,
                             EVP_PKEY **ret_key, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        if (!chain)
                return -ENOMEM;
        r = load_certs(cfg->x509pop_certificate_path, chain, reterr);
        if (r == 0 && sk_X509_num(chain) == 0)
                r = sigil_err_set(reterr, -EINVAL, "'%s': no certificate",
                                  cfg->x509pop_certificate_path);
        if (r == 0 && cfg->x509pop_intermediates_path)
                r = load_certs(cfg->x509pop_intermediates_path, chain, reterr);
        if (r == 0)
                r = sigil_key_load_pem(cfg->x509pop_private_key_path, &key, reterr);
        if (r < 0)
                return r;
        if (sigil_key_public_equal(X509_get0_pubkey(sk_X509_value(chain, 0)), key) != 1)
                return sigil_err_set(reterr, -EINVAL, "'%s' is not the key of the certificate "
                                                      "in '%s'", cfg->x509pop_private_key_path,
                                     cfg->x509pop_certificate_path);
        *ret_chain = TAKE_PTR(chain);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* x509pop step 1: show the chain, get a challenge; step 2 goes into @req. */
static int x509pop_prove(ServerClient *sc, const AgentConfig *cfg, const uint8_t *csr,
                         size_t n_csr, char **ret_challenge_id, uint8_t **ret_sig,
                         size_t *ret_n_sig, SigilErr *reterr) {
        Sigil__Agent__V1__X509PopChallengeRequest req =
                SIGIL__AGENT__V1__X509_POP_CHALLENGE_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        ProtobufCBinaryData certs[X509POP_CHAIN_MAX];
        uint8_t *der[X509POP_CHAIN_MAX] = {};
        const Sigil__Agent__V1__X509PopChallengeResponse *resp;
        int r;

        r = node_attest_load_x509pop(cfg, &chain, &key, reterr);
        if (r < 0)
                return r;
        for (int i = 0; r >= 0 && i < sk_X509_num(chain); i++) {
                int n = i2d_X509(sk_X509_value(chain, i), &der[i]);

                certs[i] = (ProtobufCBinaryData) { .len = n > 0 ? (size_t) n : 0, .data = der[i] };
                r = n > 0 ? 0 : -ENOMEM;
        }
        req.cert_chain = certs;
        req.n_cert_chain = (size_t) sk_X509_num(chain);
        if (r >= 0)
                r = server_client_call(sc, true, "/sigil.agent.v1.Node/X509PopChallenge",
                                       &req.base,
                                       &sigil__agent__v1__x509_pop_challenge_response__descriptor,
                                       &msg, reterr);
        for (int i = 0; i < sk_X509_num(chain); i++)
                OPENSSL_free(der[i]);
        if (r != 0)
                return r;
        resp = (const void *) msg;
        if (resp->nonce.len != SIGIL_X509POP_NONCE_LEN || isempty(resp->challenge_id))
                return sigil_err_set(reterr, -EINVAL, "malformed x509pop challenge");
        r = sigil_x509pop_sign(key, resp->nonce.data, csr, n_csr, ret_sig, ret_n_sig);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot sign the x509pop challenge");
        *ret_challenge_id = strdup(resp->challenge_id);
        return *ret_challenge_id ? 0 : -ENOMEM;
}

int node_attest(ServerClient *sc, const AgentConfig *cfg, const char *join_token,
                AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr) {
        Sigil__Agent__V1__AttestRequest req = SIGIL__AGENT__V1__ATTEST_REQUEST__INIT;
        Sigil__Agent__V1__X509PopProof proof = SIGIL__AGENT__V1__X509_POP_PROOF__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *csr = NULL, *sig = NULL;
        _cleanup_(freep) char *challenge_id = NULL;
        size_t n_csr = 0, n_sig = 0;
        int r;

        r = new_key_and_csr(&key, &csr, &n_csr);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot make a key for the agent SVID");
        req.csr = (ProtobufCBinaryData) { .len = n_csr, .data = csr };
        if (join_token)
                req.join_token = (char *) join_token;
        else {
                r = x509pop_prove(sc, cfg, csr, n_csr, &challenge_id, &sig, &n_sig, reterr);
                if (r != 0)
                        return r;
                proof.challenge_id = challenge_id;
                proof.signature = (ProtobufCBinaryData) { .len = n_sig, .data = sig };
                req.x509pop = &proof;
        }
        r = server_client_call(sc, true, "/sigil.agent.v1.Node/Attest", &req.base,
                               &sigil__agent__v1__attest_response__descriptor, &msg, reterr);
        if (r != 0)
                return r;
        return response_to_identity(cfg->trust_domain, (const AttestResponse *) msg, key,
                                    ret_identity, ret_bundle, reterr);
}

int node_renew(ServerClient *sc, const char *trust_domain, const AgentIdentity *current,
               AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr) {
        Sigil__Agent__V1__RenewAgentRequest req = SIGIL__AGENT__V1__RENEW_AGENT_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *csr = NULL;
        size_t n_csr = 0;
        int r;

        r = new_key_and_csr(&key, &csr, &n_csr);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot make a key for the agent SVID");
        req.csr = (ProtobufCBinaryData) { .len = n_csr, .data = csr };
        r = server_client_call(sc, false, "/sigil.agent.v1.Node/RenewAgent", &req.base,
                               &sigil__agent__v1__attest_response__descriptor, &msg, reterr);
        if (r != 0)
                return r;
        r = response_to_identity(trust_domain, (const AttestResponse *) msg, key, &a, ret_bundle,
                                 reterr);
        if (r < 0)
                return r;
        if (!sigil_spiffeid_equal(&a->id, &current->id)) {
                *ret_bundle = sigil_bundle_free(*ret_bundle);
                return sigil_err_set(reterr, -EINVAL, "the renewed SVID is for '%s', not '%s'",
                                     a->id.str, current->id.str);
        }
        *ret_identity = TAKE_PTR(a);
        return 0;
}
