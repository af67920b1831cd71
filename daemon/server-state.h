/* SPDX-License-Identifier: Apache-2.0 */
/* server-state.h - what a running sigil-server holds, shared by its services */
#pragma once

#include <pthread.h>

#include "attest/x509pop.h"
#include "ca/ca.h"
#include "datastore/datastore.h"
#include "registry.h"
#include "rate-limit.h"
#include "rpc-server.h"
#include "rpc-tls.h"
#include "server-config.h"
#include "sigil/bundle.h"

#define SERVER_BUNDLE_REFRESH_HINT_SEC 300

typedef struct Server Server;

struct Server {
        ServerConfig *cfg;
        Datastore *ds;
        Ca *ca;
        RpcServer *admin;
        int lock_fd;

        pthread_mutex_t bundle_lock;
        SigilBundle *bundle;            /* our trust domain's bundle, with its sequence */

        /* Called after an agent was evicted or banned, to cut it off at once. */
        void (*on_agent_gone)(Server *s, const char *agent_id);

        Registry *registry;             /* every entry, in memory */
        struct SyncHub *hub;            /* connected agents */
        RpcTlsIdentity *tls;            /* the server's own SVID for the agent API */
        uint64_t tls_renew_at;          /* unix seconds */
        RpcServer *agent_api;
        int agent_api_port;
        X509Pop *x509pop;               /* NULL when x509pop attestation is off */
        RateLimit *attest_limit;        /* attestation attempts per source address */
};

/* server-tls.c: the server SVID that agents see, renewed at half-life. */
int server_tls_start(Server *s, SigilErr *reterr);
/* Renew when due; returns 0 or negative errno (the old SVID stays in use). */
int server_tls_tick(Server *s, uint64_t now);
/* Push a changed bundle to the TLS verifier and to agents. */
void server_bundle_changed(Server *s);

/* agent-api.c */
int agent_api_start(Server *s, SigilErr *reterr);
void agent_api_stop(Server *s);

/**
 * server_bundle_refresh() - publish the CA's current authorities if they changed
 * @s:          the server
 *
 * Compares with the published bundle; on a change bumps spiffe_sequence and
 * stores the new bundle in the datastore.
 *
 * Return: 1 when the bundle changed, 0 when not, negative errno.
 */
int server_bundle_refresh(Server *s);

/**
 * server_bundle_get() - a copy of our current bundle
 * @s:          the server
 * @ret:        on success, the copy
 *
 * Return: 0 or -ENOMEM.
 */
int server_bundle_get(Server *s, SigilBundle **ret);

/* admin-api.c */
int admin_api_start(Server *s, SigilErr *reterr);
void admin_api_stop(Server *s);
