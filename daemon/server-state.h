/* SPDX-License-Identifier: Apache-2.0 */
/* server-state.h - what a running sigil-server holds, shared by its services */
#pragma once

#include <pthread.h>

#include "ca/ca.h"
#include "datastore/datastore.h"
#include "rpc-server.h"
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
};

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
