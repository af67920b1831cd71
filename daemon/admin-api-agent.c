/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AgentAPI: attested agents (list, show, evict, ban, count) and join
 * tokens. A join token is 128 random bits in UUID form; only its SHA-256 is
 * stored. Every change is audited; tokens never appear in logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin-api.h"
#include "sigil/clock.h"
#include "sigil/log.h"

#define JOIN_TOKEN_TTL_MAX (7 * 24 * 3600)

static int agent_to_proto(const AttestedNode *n, Sigil__Admin__V1__Agent *a,
                          Sigil__Admin__V1__Selector **sel_ptrs, Sigil__Admin__V1__Selector *sels) {
        sigil__admin__v1__agent__init(a);
        a->id = n->spiffe_id;
        a->attestation_type = n->attestation_type ? n->attestation_type : (char *) "";
        a->x509_svid_serial_number = n->serial ? n->serial : (char *) "";
        a->x509_svid_expires_at = n->expires_at;
        a->banned = n->banned;
        a->created_at = n->created_at;
        a->last_seen_at = n->last_seen_at;
        for (size_t i = 0; i < n->selectors.n_items; i++) {
                sigil__admin__v1__selector__init(&sels[i]);
                sels[i].type = n->selectors.items[i].type;
                sels[i].value = n->selectors.items[i].value;
                sel_ptrs[i] = &sels[i];
        }
        a->selectors = sel_ptrs;
        a->n_selectors = n->selectors.n_items;
        return 0;
}

/* Reply with one agent, or a list of them. */
static void reply_agents(RpcCall *call, AttestedNode **nodes, size_t n, const char *next,
                         bool single) {
        Sigil__Admin__V1__ListAgentsResponse resp = SIGIL__ADMIN__V1__LIST_AGENTS_RESPONSE__INIT;
        Sigil__Admin__V1__Agent *agents = new0(Sigil__Admin__V1__Agent, n);
        Sigil__Admin__V1__Agent **ptrs = new0(Sigil__Admin__V1__Agent *, n);
        Sigil__Admin__V1__Selector ***sel_ptrs = new0(Sigil__Admin__V1__Selector **, n);
        Sigil__Admin__V1__Selector **sels = new0(Sigil__Admin__V1__Selector *, n);
        bool oom = !agents || !ptrs || !sel_ptrs || !sels;

        for (size_t i = 0; !oom && i < n; i++) {
                sel_ptrs[i] = new0(Sigil__Admin__V1__Selector *, nodes[i]->selectors.n_items);
                sels[i] = new0(Sigil__Admin__V1__Selector, nodes[i]->selectors.n_items);
                oom = !sel_ptrs[i] || !sels[i];
                if (!oom)
                        (void) agent_to_proto(nodes[i], &agents[i], sel_ptrs[i], sels[i]);
                ptrs[i] = &agents[i];
        }
        if (oom)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
        else if (single)
                (void) rpc_call_reply(call, &agents[0].base);
        else {
                resp.agents = ptrs;
                resp.n_agents = n;
                resp.next_page_token = next ? (char *) next : (char *) "";
                (void) rpc_call_reply(call, &resp.base);
        }
        for (size_t i = 0; sel_ptrs && sels && i < n; i++) {
                free(sel_ptrs[i]);
                free(sels[i]);
        }
        free(sel_ptrs);
        free(sels);
        free(ptrs);
        free(agents);
}

static void count_agents(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        Sigil__Admin__V1__CountAgentsResponse resp = SIGIL__ADMIN__V1__COUNT_AGENTS_RESPONSE__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (ds_node_count(s->ds, &resp.count) != 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot count agents");
                return;
        }
        (void) rpc_call_reply(call, &resp.base);
}

static void list_agents(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__ListAgentsRequest *r = (const void *) req;
        _cleanup_(freep) char *next = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        size_t page_size;
        NodeList l = {};
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (!admin_page_size(call, r->page_size, &page_size))
                return;
        k = ds_node_list(s->ds, r->filter_by_banned ? (r->by_banned ? 1 : 0) : -1,
                         r->page_token, page_size, &l, &next);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k),
                                       k == -EINVAL ? "invalid page token" : "cannot list agents");
                return;
        }
        reply_agents(call, l.nodes, l.n_nodes, next, false);
        node_list_done(&l);
}

static void get_agent(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__GetAgentRequest *r = (const void *) req;
        _cleanup_(attested_node_freep) AttestedNode *n = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = isempty(r->id) ? -EINVAL : ds_node_get(s->ds, r->id, &n);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "agent '%s' %s",
                                       r->id ? r->id : "", k == -EINVAL ? "is not a valid ID" :
                                       "not found");
                return;
        }
        reply_agents(call, &n, 1, NULL, true);
}

static void empty_reply(RpcCall *call) {
        Sigil__Admin__V1__Empty e = SIGIL__ADMIN__V1__EMPTY__INIT;

        (void) rpc_call_reply(call, &e.base);
}

static const char *agent_audit_reason(int k) {
        return k == -EINVAL ? "missing ID" : k == DS_E_NOT_FOUND ? "agent not found" :
                                                                   "datastore error";
}

static void delete_agent(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__DeleteAgentRequest *r = (const void *) req;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = isempty(r->id) ? -EINVAL : ds_node_delete(s->ds, r->id);
        sigil_audit(caller, "agent.evict", r->id, admin_audit_result(k),
                    k == 0 ? NULL : "reason='%s'", agent_audit_reason(k));
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "agent '%s' not found",
                                       r->id ? r->id : "");
                return;
        }
        if (s->on_agent_gone)
                s->on_agent_gone(s, r->id);
        empty_reply(call);
}

static void ban_agent(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__BanAgentRequest *r = (const void *) req;
        _cleanup_(attested_node_freep) AttestedNode *n = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = isempty(r->id) ? -EINVAL : ds_node_get(s->ds, r->id, &n);
        if (k == 0) {
                n->banned = true;
                k = ds_node_update(s->ds, n);
        }
        sigil_audit(caller, "agent.ban", r->id, admin_audit_result(k),
                    k == 0 ? NULL : "reason='%s'", agent_audit_reason(k));
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "agent '%s' not found",
                                       r->id ? r->id : "");
                return;
        }
        if (s->on_agent_gone)
                s->on_agent_gone(s, r->id);
        empty_reply(call);
}

/* The node entry `token generate -spiffeID` asks for: the agent's ID aliased to @agent_id. */
static int create_token_entry(Server *s, const char *token, const char *agent_id,
                              SigilErr *err) {
        _cleanup_(entry_freep) Entry *e = entry_new();
        char id[ENTRY_ID_LEN + 1], parent[512];
        int r;

        if (!e)
                return -ENOMEM;
        (void) snprintf(parent, sizeof(parent), "spiffe://%s/sigil/agent/join_token/%s",
                        s->cfg->trust_domain, token);
        r = entry_id_generate(id);
        if (r < 0)
                return r;
        e->id = strdup(id);
        e->spiffe_id = strdup(agent_id);
        e->parent_id = strdup(parent);
        if (!e->id || !e->spiffe_id || !e->parent_id)
                return -ENOMEM;
        r = sigil_selector_set_add(&e->selectors, "spiffe_id", parent, err);
        if (r < 0)
                return r;
        e->created_at = (int64_t) sigil_now_sec();
        r = entry_validate(e, s->cfg->trust_domain, err);
        if (r < 0)
                return r;
        r = ds_entry_create(s->ds, e);
        if (r != 0)
                return sigil_err_set(err, r, "cannot create the agent's entry");
        return registry_put(s->registry, e);
}

static void create_join_token(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__CreateJoinTokenRequest *r = (const void *) req;
        Sigil__Admin__V1__JoinToken resp = SIGIL__ADMIN__V1__JOIN_TOKEN__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX], token[ENTRY_ID_LEN + 1];
        uint64_t ttl = r->ttl > 0 ? (uint64_t) r->ttl : s->cfg->join_token_ttl / USEC_PER_SEC;
        int64_t expires = (int64_t) (sigil_now_sec() + ttl);
        SigilErr err = {};
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (r->ttl < 0 || ttl > JOIN_TOKEN_TTL_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "ttl must be 1..%d seconds", JOIN_TOKEN_TTL_MAX);
                return;
        }
        k = entry_id_generate(token);
        if (k == 0)
                k = ds_token_create(s->ds, token, expires);
        if (k == 0 && !isempty(r->agent_id))
                k = create_token_entry(s, token, r->agent_id, &err);
        sigil_audit(caller, "token.create", isempty(r->agent_id) ? NULL : r->agent_id,
                    k == 0 ? "ok" : "failed", "ttl=%llu", (unsigned long long) ttl);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s",
                                       err.msg[0] ? err.msg : "cannot create a join token");
                return;
        }
        resp.value = token;
        resp.expires_at = expires;
        (void) rpc_call_reply(call, &resp.base);
}

const RpcMethod admin_agent_methods[] = {
        { "/sigil.admin.v1.AgentAPI/CountAgents", RPC_UNARY,
          &sigil__admin__v1__count_agents_request__descriptor, count_agents, 0 },
        { "/sigil.admin.v1.AgentAPI/ListAgents", RPC_UNARY,
          &sigil__admin__v1__list_agents_request__descriptor, list_agents, 0 },
        { "/sigil.admin.v1.AgentAPI/GetAgent", RPC_UNARY,
          &sigil__admin__v1__get_agent_request__descriptor, get_agent, 0 },
        { "/sigil.admin.v1.AgentAPI/DeleteAgent", RPC_UNARY,
          &sigil__admin__v1__delete_agent_request__descriptor, delete_agent, 0 },
        { "/sigil.admin.v1.AgentAPI/BanAgent", RPC_UNARY,
          &sigil__admin__v1__ban_agent_request__descriptor, ban_agent, 0 },
        { "/sigil.admin.v1.AgentAPI/CreateJoinToken", RPC_UNARY,
          &sigil__admin__v1__create_join_token_request__descriptor, create_join_token, 0 },
};
const size_t admin_agent_n_methods = ELEMENTSOF(admin_agent_methods);
