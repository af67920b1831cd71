/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API on the admin Unix socket: who may call it, and the health
 * service. The socket lives in a directory of its own, 0700 (0711 when an
 * allow-list of other uids is configured, with the socket then 0666: the
 * uid check below is what admits or refuses them). Every call is checked
 * against SO_PEERCRED read at accept time: root, the server's own uid, or a
 * configured uid; anyone else gets PERMISSION_DENIED.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin-api.h"
#include "fileio.h"
#include "sigil/log.h"

#define ADMIN_THREADS 4

bool admin_authorize(RpcCall *call, Server *s, char *caller, size_t n_caller) {
        RpcPeerCred cred;
        int r;

        r = rpc_call_peer_cred(call, &cred);
        if (r < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                                       "caller credentials unavailable");
                return false;
        }
        if (cred.pidfd >= 0)
                (void) close(cred.pidfd);
        (void) snprintf(caller, n_caller, "uid=%u pid=%d", (unsigned) cred.uid, (int) cred.pid);
        if (!server_config_admin_allowed(s->cfg, cred.uid)) {
                sigil_audit(caller, rpc_call_method(call)->path, NULL, "denied", NULL);
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                                       "uid %u is not allowed to use the admin API",
                                       (unsigned) cred.uid);
                return false;
        }
        return true;
}

grpc_status_code admin_status_from_error(int r) {
        switch (r) {
        case 0:
                return GRPC_STATUS_OK;
        case DS_E_NOT_FOUND:
        case -ENOENT:
                return GRPC_STATUS_NOT_FOUND;
        case DS_E_EXISTS:
        case -EEXIST:
                return GRPC_STATUS_ALREADY_EXISTS;
        case DS_E_EXPIRED:
                return GRPC_STATUS_FAILED_PRECONDITION;
        case -EINVAL:
        case -EOPNOTSUPP:
                return GRPC_STATUS_INVALID_ARGUMENT;
        case -EAGAIN:
                return GRPC_STATUS_UNAVAILABLE;
        case -E2BIG:
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
        default:
                return GRPC_STATUS_INTERNAL;
        }
}

const char *admin_audit_result(int r) {
        switch (admin_status_from_error(r)) {
        case GRPC_STATUS_OK:
                return "ok";
        case GRPC_STATUS_PERMISSION_DENIED:
                return "denied";
        case GRPC_STATUS_INTERNAL:
        case GRPC_STATUS_UNAVAILABLE:
                return "failed";
        default:
                return "refused";
        }
}

bool admin_page_size(RpcCall *call, int32_t page_size, size_t *ret) {
        if (page_size < 0 || page_size > DS_PAGE_SIZE_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "page_size must be 0..%d", DS_PAGE_SIZE_MAX);
                return false;
        }
        *ret = page_size ? (size_t) page_size : DS_PAGE_SIZE_DEFAULT;
        return true;
}

static void health_check(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        Sigil__Admin__V1__HealthCheckResponse resp = SIGIL__ADMIN__V1__HEALTH_CHECK_RESPONSE__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int64_t n_entries = 0, n_agents = 0;
        int r;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        r = ds_entry_count(s->ds, &n_entries);
        if (r == 0)
                r = ds_node_count(s->ds, &n_agents);
        if (r != 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "datastore unavailable");
                return;
        }
        resp.serving = true;
        resp.trust_domain = s->cfg->trust_domain;
        resp.version = (char *) SIGIL_VERSION;
        resp.entries = n_entries;
        resp.agents = n_agents;
        (void) rpc_call_reply(call, &resp.base);
}

static const RpcMethod health_methods[] = {
        { "/sigil.admin.v1.HealthAPI/Check", RPC_UNARY,
          &sigil__admin__v1__health_check_request__descriptor, health_check, 0 },
};

/* All admin methods in one table (the RpcServer keeps a pointer to it). */
static RpcMethod admin_methods[64];
static size_t admin_n_methods;

static void collect_methods(void) {
        const struct {
                const RpcMethod *m;
                size_t n;
        } parts[] = {
                { health_methods, ELEMENTSOF(health_methods) },
                { admin_entry_methods, admin_entry_n_methods },
                { admin_agent_methods, admin_agent_n_methods },
                { admin_bundle_methods, admin_bundle_n_methods },
        };

        admin_n_methods = 0;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                for (size_t k = 0; k < parts[i].n && admin_n_methods < ELEMENTSOF(admin_methods);
                     k++)
                        admin_methods[admin_n_methods++] = parts[i].m[k];
}

int admin_api_start(Server *s, SigilErr *reterr) {
        bool shared = s->cfg->admin_uids.n_uids > 0;
        int r;

        r = socket_dir_prepare(s->cfg->socket_path, shared ? 0711 : 0700, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "admin socket");
        collect_methods();
        r = rpc_server_new(admin_methods, admin_n_methods, s, &s->admin);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create the RPC server");
        r = rpc_server_listen_unix_full(s->admin, s->cfg->socket_path, shared ? 0666 : 0600,
                                        NULL, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "admin socket");
        r = rpc_server_start(s->admin, ADMIN_THREADS);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot start the RPC server");
        return 0;
}

void admin_api_stop(Server *s) {
        if (!s->admin)
                return;
        rpc_server_shutdown(s->admin, s->cfg->shutdown_grace);
        s->admin = rpc_server_free(s->admin);
}
