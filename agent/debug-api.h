/* SPDX-License-Identifier: Apache-2.0 */
/* debug-api.h - the agent's admin socket: Debug/GetInfo (proto/sigil/agent_admin.proto) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cache-internal.h"
#include "sigil/error.h"
#include "sigil/spiffeid.h"
#include "sync-client.h"

/*
 * The admin socket lives in a directory of its own, created 0700 (an
 * existing one must not be writable by group or others); the socket is
 * 0600, and every connection is checked at accept time: only root and the
 * agent's own uid get through (SO_PEERCRED). It answers what the agent
 * holds, for `sigil-agent debug` and `sigil-agent healthcheck`.
 */

typedef struct DebugApi DebugApi;

/* What GetInfo reports, gathered by the agent. */
typedef struct AgentInfo {
        char trust_domain[SIGIL_TRUST_DOMAIN_MAX + 1];
        char agent_id[SIGIL_SPIFFEID_MAX + 1];          /* "" before attestation */
        char agent_serial[48];
        uint64_t agent_not_after;
        uint64_t agent_renew_at;
        SyncStatus sync;
        CacheInfo cache;
        unsigned n_attestations;
} AgentInfo;

typedef int (*DebugInfoFn)(void *userdata, bool with_entries, AgentInfo *ret);

#define DEBUG_API_THREADS 1

/**
 * debug_api_start() - serve the admin socket
 * @socket_path: the socket
 * @info:       fills a report (called on the API's thread)
 * @userdata:   for @info
 * @ret:        on success, the running API
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EPERM (the directory is writable by others) or negative errno.
 */
int debug_api_start(const char *socket_path, DebugInfoFn info, void *userdata, DebugApi **ret,
                    SigilErr *reterr);

/* Stop serving and remove the socket. Accepts NULL. */
void debug_api_stop(DebugApi *api);
