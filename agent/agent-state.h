/* SPDX-License-Identifier: Apache-2.0 */
/* agent-state.h - the agent's own identity (SVID, key, bundle) and its files in the data dir */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/spiffeid.h"

/*
 * The agent SVID is what the agent authenticates to the server with. It is
 * kept in <data_dir>/agent-svid.pem (the chain, then the PKCS#8 key: one
 * file, so a reader never pairs one SVID's key with another's certificate)
 * and the trust bundle in <data_dir>/bundle.json (SPIFFE bundle JSON). Both
 * are written 0600 through a temporary file, fsync and rename. A restart
 * reuses them: join tokens are single use, so re-attesting is not free.
 */

#define AGENT_STATE_SVID_FILE "agent-svid.pem"
#define AGENT_STATE_BUNDLE_FILE "bundle.json"
#define AGENT_STATE_FILE_MAX (1024u * 1024u)

typedef enum AgentAttestation {
        AGENT_ATTESTATION_JOIN_TOKEN,
        AGENT_ATTESTATION_X509POP,
        _AGENT_ATTESTATION_MAX,
        _AGENT_ATTESTATION_INVALID = -EINVAL,
} AgentAttestation;

typedef struct AgentIdentity {
        SigilSpiffeId id;               /* spiffe://<td>/sigil/agent/<type>/<...> */
        AgentAttestation attestation;
        EVP_PKEY *key;
        STACK_OF(X509) *chain;          /* leaf first */
        uint64_t not_before;            /* of the leaf, unix seconds */
        uint64_t not_after;
        char serial[48];                /* of the leaf, hex */
} AgentIdentity;

AgentIdentity *agent_identity_free(AgentIdentity *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentIdentity *, agent_identity_free)

/**
 * agent_identity_new() - check and wrap an agent SVID
 * @trust_domain: our trust domain
 * @key:        the SVID's private key (reference taken on success)
 * @chain:      leaf first (taken on success)
 * @expected_id: the agent ID the server announced, or NULL to accept any agent ID
 * @ret:        on success, the identity
 * @reterr:     on failure, the reason
 *
 * The leaf must carry one SPIFFE ID, an agent ID of @trust_domain
 * (/sigil/agent/join_token/... or /sigil/agent/x509pop/...), equal to
 * @expected_id when given, and match @key.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int agent_identity_new(const char *trust_domain, EVP_PKEY *key, STACK_OF(X509) *chain,
                       const char *expected_id, AgentIdentity **ret, SigilErr *reterr);

/* The join token an agent ID of a join_token attestation carries, or NULL. */
const char *agent_identity_join_token(const AgentIdentity *a);

/**
 * agent_state_load() - read the stored identity and bundle
 * @data_dir:   the data directory
 * @trust_domain: our trust domain
 * @ret_identity: on success, the identity, or NULL when none is stored
 * @ret_bundle: on success, the bundle, or NULL when none is stored
 * @reterr:     on failure, the reason (names the file)
 *
 * Files that exist but do not parse are errors (never silently replaced).
 *
 * Return: 0, -EINVAL or negative errno.
 */
int agent_state_load(const char *data_dir, const char *trust_domain,
                     AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr);

/**
 * agent_state_store_identity() - write the identity atomically, 0600
 * @data_dir:   the data directory
 * @a:          the identity
 *
 * Return: 0 or negative errno.
 */
int agent_state_store_identity(const char *data_dir, const AgentIdentity *a);

/**
 * agent_state_store_bundle() - write the bundle (SPIFFE JSON) atomically, 0600
 * @data_dir:   the data directory
 * @b:          the bundle
 *
 * Return: 0 or negative errno.
 */
int agent_state_store_bundle(const char *data_dir, const SigilBundle *b);

/* Remove the stored identity (it was refused for good). Return: 0 or negative errno. */
int agent_state_remove_identity(const char *data_dir);
