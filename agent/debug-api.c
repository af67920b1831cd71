/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debug/GetInfo on the agent's admin socket (debug-api.h). Peers are
 * filtered at accept time by uid; the reply is built from an AgentInfo
 * that the agent fills, so this file is the only one that sees the
 * generated agent_admin types.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "debug-api.h"
#include "fileio.h"
#include "rpc-server.h"
#include "sigil/agent_admin.pb-c.h"
#include "sigil/log.h"

#define DEBUG_CONNS_MAX 16

typedef Sigil__Agent__Admin__V1__GetInfoResponse InfoResponse;
typedef Sigil__Agent__Admin__V1__CachedEntry ProtoCachedEntry;

struct DebugApi {
        RpcServer *server;
        char *socket_path;
        DebugInfoFn info;
        void *userdata;
};

static int accept_filter(const RpcPeerCred *cred, unsigned n_same_uid, void *userdata) {
        if (cred->uid != 0 && cred->uid != getuid()) {
                log_warning("refused an admin connection: uid=%u pid=%d is neither root nor the "
                            "agent's uid", (unsigned) cred->uid, (int) cred->pid);
                return -EPERM;
        }
        return n_same_uid >= DEBUG_CONNS_MAX ? -EBUSY : 0;
}

/* The selectors of @e as "type:value" strings, in @out (caller frees the strings). */
static int selectors_to_strings(const CacheEntry *e, char ***ret) {
        char **l = new0(char *, e->selectors.n_items + 1);

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < e->selectors.n_items; i++) {
                const SigilSelector *s = &e->selectors.items[i];
                size_t n = strlen(s->type) + strlen(s->value) + 2;

                l[i] = malloc(n);
                if (!l[i]) {
                        strv_free(l);
                        return -ENOMEM;
                }
                (void) snprintf(l[i], n, "%s:%s", s->type, s->value);
        }
        *ret = l;
        return 0;
}

static int entry_to_proto(const CacheInfoEntry *i, ProtoCachedEntry *p) {
        const CacheEntry *e = i->entry;
        int r;

        sigil__agent__admin__v1__cached_entry__init(p);
        p->entry_id = e->id;
        p->spiffe_id = e->spiffe_id;
        p->parent_id = e->parent_id;
        p->revision_number = e->revision;
        p->svid_revision = i->svid_revision;
        p->svid_serial = (char *) i->serial;
        p->svid_not_before = (int64_t) i->not_before;
        p->svid_not_after = (int64_t) i->not_after;
        p->svid_issuer = (char *) i->issuer;
        p->svid_issuer_key_id = (char *) i->issuer_key_id;
        p->synced_at_usec = (int64_t) i->synced_at_usec;
        p->svid_cached_at_usec = (int64_t) i->svid_cached_at_usec;
        p->renew_at_usec = (int64_t) i->renew_at_usec;
        p->hint = e->hint ? e->hint : (char *) "";
        r = selectors_to_strings(e, &p->selectors);
        if (r < 0)
                return r;
        p->n_selectors = e->selectors.n_items;
        return 0;
}

static void fill_summary(const AgentInfo *info, InfoResponse *resp) {
        resp->version = (char *) SIGIL_VERSION;
        resp->trust_domain = (char *) info->trust_domain;
        resp->agent_id = (char *) info->agent_id;
        resp->agent_svid_serial = (char *) info->agent_serial;
        resp->agent_svid_not_after = (int64_t) info->agent_not_after;
        resp->agent_svid_renew_at = (int64_t) info->agent_renew_at;
        resp->connected = info->sync.connected;
        resp->last_sync_at_usec = (int64_t) info->sync.last_message_usec;
        resp->snapshot_done_at_usec = (int64_t) info->sync.snapshot_done_usec;
        resp->bundle_sequence = info->cache.bundle_sequence;
        resp->bundle_x509_authorities = (uint32_t) info->cache.n_x509_authorities;
        resp->bundle_jwt_authorities = (uint32_t) info->cache.n_jwt_authorities;
        resp->bundle_x509_key_ids = info->cache.x509_key_ids;
        resp->n_bundle_x509_key_ids = strv_length(info->cache.x509_key_ids);
        resp->federated_trust_domains = info->cache.federated;
        resp->n_federated_trust_domains = strv_length(info->cache.federated);
        resp->entry_count = (uint32_t) info->cache.n_records;
        resp->svid_count = (uint32_t) info->cache.n_svids;
        resp->cache_generation = info->cache.generation;
        resp->reconnects = info->sync.n_streams > 0 ? info->sync.n_streams - 1 : 0;
        resp->attestations = info->n_attestations;
}

static void get_info(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Sigil__Agent__Admin__V1__GetInfoRequest *req = (const void *) request;
        InfoResponse resp = SIGIL__AGENT__ADMIN__V1__GET_INFO_RESPONSE__INIT;
        DebugApi *api = userdata;
        ProtoCachedEntry *items = NULL, **ptrs = NULL;
        AgentInfo info = {};
        int r;

        r = api->info(api->userdata, !req->omit_entries, &info);
        if (r >= 0 && info.cache.n_entries > 0) {
                items = new0(ProtoCachedEntry, info.cache.n_entries);
                ptrs = new0(ProtoCachedEntry *, info.cache.n_entries);
                r = items && ptrs ? 0 : -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < info.cache.n_entries; i++) {
                r = entry_to_proto(&info.cache.entries[i], &items[i]);
                ptrs[i] = &items[i];
                resp.n_entries = i + 1;
        }
        if (r < 0)
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        else {
                fill_summary(&info, &resp);
                resp.entries = ptrs;
                (void) rpc_call_reply(call, &resp.base);
        }
        for (size_t i = 0; i < resp.n_entries; i++)
                strv_free(items[i].selectors);
        free(items);
        free(ptrs);
        cache_info_done(&info.cache);
}

static const RpcMethod debug_methods[] = {
        { "/sigil.agent.admin.v1.Debug/GetInfo", RPC_UNARY,
          &sigil__agent__admin__v1__get_info_request__descriptor, get_info, 0 },
};

int debug_api_start(const char *socket_path, DebugInfoFn info, void *userdata, DebugApi **ret,
                    SigilErr *reterr) {
        DebugApi *api;
        int r;

        r = socket_dir_prepare(socket_path, 0700, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "admin socket");
        api = new0(DebugApi, 1);
        if (!api || !(api->socket_path = strdup(socket_path))) {
                free(api);
                return -ENOMEM;
        }
        api->info = info;
        api->userdata = userdata;
        r = rpc_server_new(debug_methods, ELEMENTSOF(debug_methods), api, &api->server);
        if (r >= 0) {
                r = rpc_server_listen_unix_full(api->server, socket_path, 0600, accept_filter,
                                                reterr);
                if (r < 0)
                        (void) sigil_err_prefix(reterr, r, "admin socket");
        }
        if (r >= 0)
                r = rpc_server_start(api->server, DEBUG_API_THREADS);
        if (r < 0) {
                debug_api_stop(api);
                return r;
        }
        *ret = api;
        return 0;
}

void debug_api_stop(DebugApi *api) {
        if (!api)
                return;
        if (api->server) {
                rpc_server_shutdown(api->server, USEC_PER_SEC);
                rpc_server_free(api->server);
        }
        free(api->socket_path);
        free(api);
}
