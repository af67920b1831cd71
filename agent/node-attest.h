/* SPDX-License-Identifier: Apache-2.0 */
/* node-attest.h - node attestation (join_token, x509pop) and agent SVID renewal */
#pragma once

#include "agent-config.h"
#include "agent-state.h"
#include "server-client.h"

/*
 * Attestation runs on the anonymous identity (server-client.h): a fresh
 * ec-p256 key, a CSR for it, and either the join token or the x509pop
 * challenge and proof. The answer is checked before it is believed: the
 * chain must be an agent SVID of our trust domain for the announced agent ID,
 * match our key, and validate against the bundle that came with it.
 */

/* Outcomes besides 0: SERVER_E_UNAVAILABLE (retry later), SERVER_E_DENIED (refused, for good). */

/**
 * node_attest() - attest this node with the configured attestor
 * @sc:         server client
 * @cfg:        the agent's configuration (attestor settings)
 * @join_token: the join token to use (join_token attestation), or NULL for x509pop
 * @ret_identity: on success, the agent SVID
 * @ret_bundle: on success, our trust domain's bundle
 * @reterr:     on failure, the reason
 *
 * Return: 0, SERVER_E_UNAVAILABLE, SERVER_E_DENIED, SERVER_E_FAILED, -EINVAL (bad local
 * files or a malformed answer), -ENOKEY (no trust bundle and no insecure bootstrap) or
 * negative errno.
 */
int node_attest(ServerClient *sc, const AgentConfig *cfg, const char *join_token,
                AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr);

/**
 * node_renew() - renew the agent SVID over mutual TLS with the current one
 * @sc:         server client
 * @trust_domain: our trust domain
 * @current:    the current identity (the renewed one must carry the same agent ID)
 * @ret_identity: on success, the new SVID
 * @ret_bundle: on success, the bundle that came with it
 * @reterr:     on failure, the reason
 *
 * Return: as node_attest().
 */
int node_renew(ServerClient *sc, const char *trust_domain, const AgentIdentity *current,
               AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr);

/**
 * node_attest_load_x509pop() - the x509pop certificate chain and key from the configured files
 * @cfg:        configuration
 * @ret_chain:  on success, leaf first, then the intermediates
 * @ret_key:    on success, the leaf's private key
 * @reterr:     on failure, the reason (names the file)
 *
 * Return: 0, -EINVAL or negative errno.
 */
int node_attest_load_x509pop(const AgentConfig *cfg, STACK_OF(X509) **ret_chain,
                             EVP_PKEY **ret_key, SigilErr *reterr);
