/* SPDX-License-Identifier: Apache-2.0 */
/* agent-api.h - helpers shared by the agent API's files (private to daemon/) */
#pragma once

#include "rpc-server.h"
#include "server-state.h"
#include "sigil/agent.pb-c.h"

#define AGENT_API_THREADS 4
#define AGENT_SIGN_BATCH_MAX 500
#define AGENT_ATTEST_BURST 20           /* attestation attempts per source address... */
#define AGENT_ATTEST_PER_MINUTE 30      /* ...and their refill rate */

/* What an agent hears when it asks for an entry that does not exist or is not its own. */
#define AGENT_ENTRY_REFUSED "entry is not authorised for this agent"

/* The methods of agent-attest.c (no client certificate needed). */
extern const RpcMethod agent_attest_methods[];
extern const size_t agent_attest_n_methods;

/**
 * agent_issue_svid() - sign an agent SVID for @agent_id from a CSR
 * @s:          server
 * @agent_id:   the agent's SPIFFE ID
 * @csr:        PKCS#10 DER
 * @n_csr:      its length
 * @ret:        on success, the chain
 * @reterr:     on failure, the reason
 *
 * Return: 0 or negative errno.
 */
int agent_issue_svid(Server *s, const char *agent_id, const uint8_t *csr, size_t n_csr,
                     CaChain *ret, SigilErr *reterr);

/* Reply to Attest or RenewAgent with the chain and our bundle. */
void agent_reply_svid(RpcCall *call, Server *s, const char *agent_id, const CaChain *chain);

/* "ipv4:1.2.3.4" from a call's peer (port dropped), for rate limits and logs. */
void agent_peer_address(RpcCall *call, char *buf, size_t n);
