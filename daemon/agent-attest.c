/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node attestation: the two calls an agent makes before it has an SVID.
 * join_token: the token is consumed (once, atomically) and the agent becomes
 * spiffe://<td>/sigil/agent/join_token/<token>. x509pop: a challenge, then a
 * proof (attest/x509pop.c). Either way the CSR is checked before anything is
 * consumed, banned nodes are refused before anything is signed, attempts are
 * rate limited per source address, and every outcome is audited (never the
 * token itself).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin-api.h"
#include "agent-api.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/log.h"

static bool attest_allowed(RpcCall *call, Server *s, char *source, size_t n_source) {
        agent_peer_address(call, source, n_source);
        if (rate_limit_take(s->attest_limit, source, sigil_now_usec()))
                return true;
        sigil_audit(source, "agent.attest", NULL, "refused", "reason='rate limited'");
        (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                               "too many attestation attempts from %s; retry later", source);
        return false;
}

static void x509pop_challenge_call(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Agent__V1__X509PopChallengeRequest *r = (const void *) req;
        Sigil__Agent__V1__X509PopChallengeResponse resp =
                SIGIL__AGENT__V1__X509_POP_CHALLENGE_RESPONSE__INIT;
        const uint8_t *certs[X509POP_CHAIN_MAX];
        size_t n_certs[X509POP_CHAIN_MAX];
        uint8_t nonce[SIGIL_X509POP_NONCE_LEN];
        char id[X509POP_CHALLENGE_ID_LEN + 1], source[128];
        Server *s = userdata;
        SigilErr err = {};
        int k;

        if (!attest_allowed(call, s, source, sizeof(source)))
                return;
        if (!s->x509pop) {
                (void) rpc_call_finish(call, GRPC_STATUS_FAILED_PRECONDITION,
                                       "x509pop attestation is not configured on this server");
                return;
        }
        if (r->n_cert_chain == 0 || r->n_cert_chain > X509POP_CHAIN_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "expected 1 to %d certificates", X509POP_CHAIN_MAX);
                return;
        }
        for (size_t i = 0; i < r->n_cert_chain; i++) {
                certs[i] = r->cert_chain[i].data;
                n_certs[i] = r->cert_chain[i].len;
        }
        k = x509pop_challenge(s->x509pop, certs, n_certs, r->n_cert_chain, sigil_now_sec(), id,
                              nonce, &err);
        if (k < 0) {
                sigil_audit(source, "agent.attest.x509pop", NULL, "refused", "reason='%s'",
                            err.msg);
                (void) rpc_call_finish(call, k == -EBUSY ? GRPC_STATUS_RESOURCE_EXHAUSTED :
                                                           GRPC_STATUS_PERMISSION_DENIED,
                                       "%s", err.msg);
                return;
        }
        resp.challenge_id = id;
        resp.nonce = (ProtobufCBinaryData) { .len = sizeof(nonce), .data = nonce };
        (void) rpc_call_reply(call, &resp.base);
}

typedef struct Attestation {
        char agent_id[512];
        const char *type;
        SigilSelectorSet selectors;
} Attestation;

static int attest_join_token(Server *s, const char *token, Attestation *a, SigilErr *err) {
        int k;

        if (!s->cfg->join_token_enabled)
                return sigil_err_set(err, -EOPNOTSUPP, "join_token attestation is disabled");
        if (!entry_id_is_valid(token))
                return sigil_err_set(err, -EINVAL, "malformed join token");
        k = ds_token_consume(s->ds, token, (int64_t) sigil_now_sec());
        if (k == DS_E_NOT_FOUND)
                return sigil_err_set(err, -EPERM,
                                     "join token does not exist or has already been used");
        if (k == DS_E_EXPIRED)
                return sigil_err_set(err, -EPERM, "join token expired");
        if (k != 0)
                return sigil_err_set(err, -EIO, "datastore error");
        (void) snprintf(a->agent_id, sizeof(a->agent_id), "spiffe://%s/sigil/agent/join_token/%s",
                        s->cfg->trust_domain, token);
        a->type = "join_token";
        return 0;
}

static int attest_x509pop(Server *s, const Sigil__Agent__V1__X509PopProof *p,
                          const ProtobufCBinaryData *csr, Attestation *a, SigilErr *err) {
        X509PopResult res = {};
        int k;

        if (!s->x509pop)
                return sigil_err_set(err, -EOPNOTSUPP, "x509pop attestation is not configured");
        k = x509pop_verify(s->x509pop, p->challenge_id, p->signature.data, p->signature.len,
                           csr->data, csr->len, sigil_now_sec(), &res, err);
        if (k < 0)
                return -EPERM;
        (void) snprintf(a->agent_id, sizeof(a->agent_id), "spiffe://%s/sigil/agent/%s",
                        s->cfg->trust_domain, res.agent_path);
        a->type = "x509pop";
        a->selectors = res.selectors;
        return 0;
}

/*
 * Whether @a may get an SVID: a banned node may not, and neither may anyone
 * while the datastore cannot say. Checked before signing, so that a refused
 * node never gets a certificate (store_node() checks again: a ban may land
 * while the CA signs).
 */
static int node_check_allowed(Server *s, const Attestation *a, SigilErr *err) {
        _cleanup_(attested_node_freep) AttestedNode *n = NULL;
        int k;

        k = ds_node_get(s->ds, a->agent_id, &n);
        if (k == DS_E_NOT_FOUND)
                return 0;
        if (k != 0)
                return sigil_err_set(err, -EIO, "cannot read the node's record");
        if (n->banned)
                return sigil_err_set(err, -EPERM, "agent is banned");
        return 0;
}

/* Record the node and its new SVID: a new node, or an x509pop node attesting again. */
static int store_node(Server *s, const Attestation *a, const CaChain *chain) {
        _cleanup_(attested_node_freep) AttestedNode *n = NULL;
        int64_t now = (int64_t) sigil_now_sec();
        bool exists;
        int k;

        k = ds_node_get(s->ds, a->agent_id, &n);
        exists = k == 0;
        if (k != 0 && k != DS_E_NOT_FOUND)
                return -EIO;
        if (exists && n->banned)
                return -EPERM;
        if (!exists) {
                n = new0(AttestedNode, 1);
                if (!n || !(n->spiffe_id = strdup(a->agent_id)))
                        return -ENOMEM;
                n->created_at = now;
        }
        free(n->attestation_type);
        free(n->serial);
        free(n->new_serial);
        n->attestation_type = strdup(a->type);
        n->serial = strdup(chain->serial);
        n->new_serial = NULL;
        n->expires_at = (int64_t) chain->expires_at;
        n->last_seen_at = now;
        sigil_selector_set_done(&n->selectors);
        if (!n->attestation_type || !n->serial ||
            sigil_selector_set_copy(&a->selectors, &n->selectors) < 0)
                return -ENOMEM;
        k = exists ? ds_node_update(s->ds, n) : ds_node_create(s->ds, n);
        return k == 0 ? 0 : -EIO;
}

static grpc_status_code attest_status(int k) {
        return k == -EPERM ? GRPC_STATUS_PERMISSION_DENIED :
               k == -EOPNOTSUPP ? GRPC_STATUS_FAILED_PRECONDITION :
               k == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL;
}

static void attest_call(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Agent__V1__AttestRequest *r = (const void *) req;
        _cleanup_(sigil_csr_freep) SigilCsr *csr = NULL;
        Attestation a = {};
        Server *s = userdata;
        char source[128];
        CaChain chain = {};
        SigilErr err = {};
        int k;

        if (!attest_allowed(call, s, source, sizeof(source)))
                return;
        /* The CSR is checked before a token is consumed or a challenge spent. */
        k = sigil_csr_parse(r->csr.data, r->csr.len, &csr, &err);
        if (k < 0)
                k = sigil_err_prefix(&err, -EINVAL, "CSR refused");
        else if (!isempty(r->join_token) == !!r->x509pop)
                k = sigil_err_set(&err, -EINVAL, "give exactly one of join_token and x509pop");
        else if (!isempty(r->join_token))
                k = attest_join_token(s, r->join_token, &a, &err);
        else
                k = attest_x509pop(s, r->x509pop, &r->csr, &a, &err);
        if (k == 0)
                k = node_check_allowed(s, &a, &err);
        if (k == 0)
                k = agent_issue_svid(s, a.agent_id, r->csr.data, r->csr.len, &chain, &err);
        if (k == 0) {
                k = store_node(s, &a, &chain);
                if (k == -EPERM)
                        (void) sigil_err_set(&err, k, "agent is banned");
                else if (k < 0)
                        (void) sigil_err_set(&err, k, "cannot record the node");
        }
        sigil_audit(source, "agent.attest", k == 0 ? a.agent_id : NULL, k == 0 ? "ok" : "refused",
                    "type=%s%s%s%s", a.type ? a.type : (r->x509pop ? "x509pop" : "join_token"),
                    k == 0 ? "" : " reason='", k == 0 ? "" : err.msg, k == 0 ? "" : "'");
        if (k < 0)
                (void) rpc_call_finish(call, attest_status(k), "%s", err.msg);
        else
                agent_reply_svid(call, s, a.agent_id, &chain);
        ca_chain_done(&chain);
        sigil_selector_set_done(&a.selectors);
}

const RpcMethod agent_attest_methods[] = {
        { "/sigil.agent.v1.Node/X509PopChallenge", RPC_UNARY,
          &sigil__agent__v1__x509_pop_challenge_request__descriptor, x509pop_challenge_call, 0 },
        { "/sigil.agent.v1.Node/Attest", RPC_UNARY,
          &sigil__agent__v1__attest_request__descriptor, attest_call, 0 },
};
const size_t agent_attest_n_methods = ELEMENTSOF(agent_attest_methods);
