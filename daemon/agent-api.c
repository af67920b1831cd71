/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent API on bind_address:bind_port, TLS with the server SVID. Every
 * method here needs the caller's agent SVID: it is verified against the
 * bundle of now, must name an attested node that is not banned, and must be
 * the node's current SVID (or the one just renewed), so an evicted agent's
 * old certificate opens nothing. Attestation lives in agent-attest.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin-api.h"
#include "agent-api.h"
#include "hashmap.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"
#include "sync-hub.h"

typedef struct AgentCaller {
        SigilSpiffeId id;
        AttestedNode *node;
        char serial[48];        /* of the SVID presented on this connection */
} AgentCaller;

static void agent_caller_done(AgentCaller *c) {
        c->node = attested_node_free(c->node);
}

static int peer_serial(RpcCall *call, char *buf, size_t n) {
        _cleanup_(freep) char *pem = rpc_call_auth_property(call, "x509_pem_cert");
        _cleanup_(X509_freep) X509 *leaf = NULL;

        if (!pem || sigil_x509_from_pem(pem, strlen(pem), &leaf, NULL) < 0)
                return -EINVAL;
        return sigil_x509_serial_hex(leaf, buf, n);
}

/* Authenticate the calling agent, or answer the call with the reason and return false. */
static bool agent_authenticate(RpcCall *call, Server *s, AgentCaller *ret) {
        AgentCaller c = {};
        SigilErr err = {};
        char prefix[300];
        int r;

        r = rpc_call_verify_peer(call, s->tls, &c.id, &err);
        if (r == -ENOTCONN) {
                (void) rpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED,
                                       "an agent SVID is required; attest first");
                return false;
        }
        if (r < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, "%s",
                                       err.msg[0] ? err.msg : "invalid agent SVID");
                return false;
        }
        (void) snprintf(prefix, sizeof(prefix), "spiffe://%s/sigil/agent/", s->cfg->trust_domain);
        if (strncmp(c.id.str, prefix, strlen(prefix)) != 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                                       "'%s' is not an agent ID", c.id.str);
                return false;
        }
        r = ds_node_get(s->ds, c.id.str, &c.node);
        if (r == 0 && c.node->banned)
                r = -EPERM;
        if (r == 0 && (peer_serial(call, c.serial, sizeof(c.serial)) < 0 ||
                       (!streq_ptr(c.serial, c.node->serial) &&
                        !streq_ptr(c.serial, c.node->new_serial))))
                r = -ESTALE;
        if (r != 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "agent '%s' %s",
                                       c.id.str,
                                       r == -EPERM   ? "is banned" :
                                       r == -ESTALE  ? "presented an SVID that is no longer its own" :
                                                       "is not attested (evicted?); re-attest");
                agent_caller_done(&c);
                return false;
        }
        *ret = c;
        return true;
}

int agent_issue_svid(Server *s, const char *agent_id, const uint8_t *csr, size_t n_csr,
                     CaChain *ret, SigilErr *reterr) {
        CaX509Request req = {
                .spiffe_id = agent_id,
                .ttl_sec = s->cfg->agent_svid_ttl / USEC_PER_SEC,
                .csr = csr,
                .n_csr = n_csr,
        };

        int r;

        if (n_csr == 0)
                return sigil_err_set(reterr, -EINVAL, "missing CSR");
        r = ca_sign_x509_svid(s->ca, &req, ret, reterr);
        if (r == 0)
                log_debug("signed an agent SVID for '%s' serial=%s", agent_id, ret->serial);
        return r;
}

void agent_reply_svid(RpcCall *call, Server *s, const char *agent_id, const CaChain *chain) {
        Sigil__Agent__V1__AttestResponse resp = SIGIL__AGENT__V1__ATTEST_RESPONSE__INIT;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *json = NULL;
        ProtobufCBinaryData certs[4];

        if (server_bundle_get(s, &b) < 0 || sigil_bundle_to_spiffe_json(b, &json) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot encode the bundle");
                return;
        }
        for (size_t i = 0; i < chain->n; i++)
                certs[i] = (ProtobufCBinaryData) { .len = chain->n_der[i], .data = chain->der[i] };
        resp.agent_id = (char *) agent_id;
        resp.svid_chain = certs;
        resp.n_svid_chain = chain->n;
        resp.expires_at = (int64_t) chain->expires_at;
        resp.bundle = (ProtobufCBinaryData) { .len = strlen(json), .data = (uint8_t *) json };
        (void) rpc_call_reply(call, &resp.base);
}

void agent_peer_address(RpcCall *call, char *buf, size_t n) {
        _cleanup_(freep) char *peer = rpc_call_peer_name(call);
        char *colon;

        (void) snprintf(buf, n, "%s", peer ? peer : "unknown");
        colon = strrchr(buf, ':');
        if (colon && strchr(buf, ':') != colon)
                *colon = '\0';          /* "ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1" */
}

static void renew_agent(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Agent__V1__RenewAgentRequest *r = (const void *) req;
        Server *s = userdata;
        AgentCaller c;
        CaChain chain = {};
        SigilErr err = {};
        int k;

        if (!agent_authenticate(call, s, &c))
                return;
        k = agent_issue_svid(s, c.id.str, r->csr.data, r->csr.len, &chain, &err);
        if (k == 0) {
                /* The presented SVID becomes the current one; the new one is accepted next. */
                free(c.node->serial);
                c.node->serial = strdup(c.serial);
                free(c.node->new_serial);
                c.node->new_serial = strdup(chain.serial);
                c.node->new_expires_at = (int64_t) chain.expires_at;
                c.node->last_seen_at = (int64_t) sigil_now_sec();
                k = !c.node->serial || !c.node->new_serial ? -ENOMEM : ds_node_update(s->ds, c.node);
        }
        sigil_audit(c.id.str, "agent.renew", c.id.str, admin_audit_result(k),
                    k == 0 ? "serial=%s" : "reason='%s'",
                    k == 0 ? chain.serial : err.msg[0] ? err.msg : "cannot record the node");
        if (k != 0)
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s",
                                       err.msg[0] ? err.msg : "cannot renew");
        else
                agent_reply_svid(call, s, c.id.str, &chain);
        ca_chain_done(&chain);
        agent_caller_done(&c);
}

/* The agent started using its renewed SVID: make it current. */
static void promote_serial(Server *s, AgentCaller *c) {
        if (!c->node->new_serial || !streq(c->serial, c->node->new_serial))
                return;
        free(c->node->serial);
        c->node->serial = TAKE_PTR(c->node->new_serial);
        c->node->expires_at = c->node->new_expires_at;
        c->node->new_expires_at = 0;
        (void) ds_node_update(s->ds, c->node);
}

static void sync_call(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        Server *s = userdata;
        AgentCaller c;
        int k;

        if (!agent_authenticate(call, s, &c))
                return;
        promote_serial(s, &c);
        c.node->last_seen_at = (int64_t) sigil_now_sec();
        (void) ds_node_update(s->ds, c.node);
        k = sync_hub_attach(s->hub, call, c.id.str, &c.node->selectors);
        if (k >= 0) {
                /*
                 * An eviction or ban between agent_authenticate() and the attach found
                 * no stream to end. It wrote the datastore before looking for the
                 * stream, and the stream is in the hub now: so either it ends this
                 * stream, or this second look sees it.
                 */
                _cleanup_(attested_node_freep) AttestedNode *again = NULL;
                int g = ds_node_get(s->ds, c.id.str, &again);

                if (g == DS_E_NOT_FOUND || (g == 0 && again->banned)) {
                        sync_hub_disconnect(s->hub, c.id.str, "agent evicted or banned");
                        agent_caller_done(&c);
                        return;
                }
        }
        if (k < 0)
                (void) rpc_call_finish(call, k == -E2BIG ? GRPC_STATUS_RESOURCE_EXHAUSTED :
                                                           GRPC_STATUS_INTERNAL,
                                       "cannot start the sync stream");
        else
                log_info("agent '%s' connected", c.id.str);
        agent_caller_done(&c);
}

/*
 * The caller's authorised entries, computed once per batch: looking each
 * request up with registry_authorized_entry() walks the whole tree every
 * time, which made a batch of n requests cost n walks (quadratic in the
 * agent's entries; 10k entries took minutes to sign).
 */
typedef struct Authorised {
        EntryList list;
        Hashmap *by_id;                 /* entry ID -> Entry* borrowed from @list */
} Authorised;

static void authorised_done(Authorised *a) {
        hashmap_free(a->by_id, NULL);
        entry_list_done(&a->list);
}

static int authorised_load(Server *s, AgentCaller *c, Authorised *ret) {
        int k;

        k = registry_authorized(s->registry, c->id.str, &c->node->selectors,
                                (int64_t) sigil_now_sec(), &ret->list);
        if (k < 0)
                return k;
        ret->by_id = hashmap_new();
        if (!ret->by_id)
                return -ENOMEM;
        for (size_t i = 0; i < ret->list.n_entries; i++)
                if (hashmap_put(ret->by_id, ret->list.entries[i]->id, ret->list.entries[i],
                                NULL) < 0)
                        return -ENOMEM;
        return 0;
}

/*
 * The entry @entry_id if it is authorised for the caller. An entry that does
 * not exist and one that belongs to another agent get the same answer, so an
 * agent cannot probe for other agents' entries; only @ret_reason, for the
 * audit line, says which it was.
 */
static int entry_for_agent(Server *s, AgentCaller *c, const char *entry_id, Entry **ret,
                           const char **ret_reason, SigilErr *err) {
        int k;

        k = registry_authorized_entry(s->registry, c->id.str, &c->node->selectors, entry_id,
                                      (int64_t) sigil_now_sec(), ret);
        if (k == -ENOENT || k == -EPERM) {
                *ret_reason = k == -ENOENT ? "no such entry" : "entry of another agent";
                return sigil_err_set(err, -EPERM, AGENT_ENTRY_REFUSED);
        }
        if (k < 0)
                return sigil_err_set(err, k, "registry error");
        return 0;
}

/*
 * Sign one request of a batch; the result message borrows from @chain. On a
 * refusal, @ret_reason may say more than @err for the audit line.
 */
static int sign_one(Server *s, AgentCaller *c, const Authorised *auth,
                    const Sigil__Agent__V1__X509SVIDRequest *r, CaChain *chain,
                    int64_t *ret_revision, const char **ret_reason, SigilErr *err) {
        _cleanup_(entry_freep) Entry *copy = NULL;
        const Entry *e;
        CaX509Request req = {};
        int k;

        if (isempty(r->entry_id))
                return sigil_err_set(err, -EINVAL, "missing entry ID");
        e = hashmap_get(auth->by_id, r->entry_id);
        if (!e) {
                /* Not in the batch's set: authorised since it was loaded, or refused. */
                k = entry_for_agent(s, c, r->entry_id, &copy, ret_reason, err);
                if (k < 0)
                        return k;
                e = copy;
        }
        req = (CaX509Request) {
                .spiffe_id = e->spiffe_id,
                .dns_names = (const char *const *) e->dns_names,
                .n_dns_names = strv_length(e->dns_names),
                .ttl_sec = e->x509_svid_ttl > 0 ? (uint64_t) e->x509_svid_ttl : 0,
                .csr = r->csr.data,
                .n_csr = r->csr.len,
        };
        *ret_revision = e->revision_number;
        return ca_sign_x509_svid(s->ca, &req, chain, err);
}

static grpc_status_code sign_status(int k) {
        return k == -EPERM ? GRPC_STATUS_PERMISSION_DENIED : admin_status_from_error(k);
}

/* The audit result word for sign_status(k): "ok", "denied", "refused" or "failed". */
static const char *sign_audit_result(int k) {
        return k == -EPERM ? "denied" : admin_audit_result(k);
}

static void batch_new_x509(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Agent__V1__BatchNewX509SVIDRequest *r = (const void *) req;
        Sigil__Agent__V1__BatchNewX509SVIDResponse resp =
                SIGIL__AGENT__V1__BATCH_NEW_X509_SVIDRESPONSE__INIT;
        Server *s = userdata;
        Sigil__Agent__V1__X509SVIDResult *res = NULL, **ptrs = NULL;
        Sigil__Admin__V1__Status *st = NULL;
        ProtobufCBinaryData *certs = NULL;
        CaChain *chains = NULL;
        char *msgs = NULL;         /* n messages of SIGIL_ERR_MSG_MAX bytes */
        Authorised auth = {};
        AgentCaller c;
        size_t n = r->n_requests;

        if (!agent_authenticate(call, s, &c))
                return;
        if (n > AGENT_SIGN_BATCH_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "at most %d requests per batch", AGENT_SIGN_BATCH_MAX);
                agent_caller_done(&c);
                return;
        }
        if (n > 0 && authorised_load(s, &c, &auth) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                authorised_done(&auth);
                agent_caller_done(&c);
                return;
        }
        res = new0(Sigil__Agent__V1__X509SVIDResult, n);
        ptrs = new0(Sigil__Agent__V1__X509SVIDResult *, n);
        st = new0(Sigil__Admin__V1__Status, n);
        certs = reallocarray(NULL, n ? 4 * n : 1, sizeof(ProtobufCBinaryData));
        chains = new0(CaChain, n);
        msgs = reallocarray(NULL, n ? n : 1, SIGIL_ERR_MSG_MAX);
        if (!res || !ptrs || !st || !certs || !chains || !msgs) {
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                SigilErr err = {};
                const char *reason = NULL;
                int64_t rev = 0;
                int k = sign_one(s, &c, &auth, r->requests[i], &chains[i], &rev, &reason,
                                 &err);

                sigil__agent__v1__x509_svidresult__init(&res[i]);
                sigil__admin__v1__status__init(&st[i]);
                char *msg = msgs + i * SIGIL_ERR_MSG_MAX;

                (void) snprintf(msg, SIGIL_ERR_MSG_MAX, "%s", k == 0 ? "OK" : err.msg);
                st[i].code = k == 0 ? GRPC_STATUS_OK : (int32_t) sign_status(k);
                st[i].message = msg;
                res[i].entry_id = r->requests[i]->entry_id;
                res[i].status = &st[i];
                res[i].revision_number = rev;
                for (size_t j = 0; k == 0 && j < chains[i].n; j++)
                        certs[4 * i + j] = (ProtobufCBinaryData) { .len = chains[i].n_der[j],
                                                                   .data = chains[i].der[j] };
                res[i].svid_chain = &certs[4 * i];
                res[i].n_svid_chain = k == 0 ? chains[i].n : 0;
                res[i].expires_at = (int64_t) chains[i].expires_at;
                ptrs[i] = &res[i];
                sigil_audit(c.id.str, "svid.sign.x509", r->requests[i]->entry_id,
                            sign_audit_result(k), k == 0 ? "serial=%s" : "reason='%s'",
                            k == 0 ? chains[i].serial : reason ? reason : err.msg);
        }
        resp.results = ptrs;
        resp.n_results = n;
        (void) rpc_call_reply(call, &resp.base);
out:
        for (size_t i = 0; chains && i < n; i++)
                ca_chain_done(&chains[i]);
        free(chains);
        free(certs);
        free(st);
        free(ptrs);
        free(res);
        free(msgs);
        authorised_done(&auth);
        agent_caller_done(&c);
}

static void new_jwt(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Agent__V1__NewJWTSVIDRequest *r = (const void *) req;
        Sigil__Agent__V1__NewJWTSVIDResponse resp = SIGIL__AGENT__V1__NEW_JWTSVIDRESPONSE__INIT;
        _cleanup_(entry_freep) Entry *e = NULL;
        Server *s = userdata;
        const char *reason = NULL;
        char *token = NULL;
        uint64_t exp = 0;
        SigilErr err = {};
        AgentCaller c;
        int k;

        if (!agent_authenticate(call, s, &c))
                return;
        k = isempty(r->entry_id) ? sigil_err_set(&err, -EINVAL, "missing entry ID") :
                                   entry_for_agent(s, &c, r->entry_id, &e, &reason, &err);
        if (k == 0)
                k = ca_sign_jwt_svid(s->ca, e->spiffe_id, (const char *const *) r->audience,
                                     r->n_audience,
                                     e->jwt_svid_ttl > 0 ? (uint64_t) e->jwt_svid_ttl : 0, &token,
                                     &exp, &err);
        sigil_audit(c.id.str, "svid.sign.jwt", r->entry_id, sign_audit_result(k),
                    k == 0 ? NULL : "reason='%s'", reason ? reason : err.msg);
        if (k != 0)
                (void) rpc_call_finish(call, sign_status(k), "%s", err.msg);
        else {
                resp.token = token;
                resp.expires_at = (int64_t) exp;
                resp.issued_at = (int64_t) sigil_now_sec();
                (void) rpc_call_reply(call, &resp.base);
                OPENSSL_cleanse(token, strlen(token));
                free(token);
        }
        agent_caller_done(&c);
}

static const RpcMethod agent_node_methods[] = {
        { "/sigil.agent.v1.Node/RenewAgent", RPC_UNARY,
          &sigil__agent__v1__renew_agent_request__descriptor, renew_agent, 0 },
        { "/sigil.agent.v1.Node/Sync", RPC_SERVER_STREAMING,
          &sigil__agent__v1__sync_request__descriptor, sync_call, 0 },
        { "/sigil.agent.v1.Node/BatchNewX509SVID", RPC_UNARY,
          &sigil__agent__v1__batch_new_x509_svidrequest__descriptor, batch_new_x509,
          8u * 1024u * 1024u },
        { "/sigil.agent.v1.Node/NewJWTSVID", RPC_UNARY,
          &sigil__agent__v1__new_jwtsvidrequest__descriptor, new_jwt, 0 },
};

static RpcMethod agent_methods[16];

int agent_api_start(Server *s, SigilErr *reterr) {
        _cleanup_(grpc_server_credentials_releasep) grpc_server_credentials *creds = NULL;
        char addr[512];
        size_t n = 0;
        int r;

        for (size_t i = 0; i < agent_attest_n_methods; i++)
                agent_methods[n++] = agent_attest_methods[i];
        for (size_t i = 0; i < ELEMENTSOF(agent_node_methods); i++)
                agent_methods[n++] = agent_node_methods[i];
        r = rpc_tls_server_credentials(s->tls, &creds);
        if (r == 0)
                r = rpc_server_new(agent_methods, n, s, &s->agent_api);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot set up the agent API");
        (void) snprintf(addr, sizeof(addr), strchr(s->cfg->bind_address, ':') ? "[%s]:%u" : "%s:%u",
                        s->cfg->bind_address, (unsigned) s->cfg->bind_port);
        r = rpc_server_listen_tcp(s->agent_api, addr, creds, &s->agent_api_port);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot listen on %s (in use?)", addr);
        r = rpc_server_start(s->agent_api, AGENT_API_THREADS);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot start the agent API");
        return 0;
}

void agent_api_stop(Server *s) {
        if (!s->agent_api)
                return;
        if (s->hub)
                sync_hub_close_all(s->hub);
        rpc_server_shutdown(s->agent_api, s->cfg->shutdown_grace);
        s->agent_api = rpc_server_free(s->agent_api);
}
