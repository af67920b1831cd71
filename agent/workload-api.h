/* SPDX-License-Identifier: Apache-2.0 */
/* workload-api.h - the SPIFFE Workload API on the agent's public Unix socket */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "rpc-server.h"
#include "sigil/error.h"
#include "sigil/selector.h"

/*
 * Serves the five SPIFFE Workload API RPCs (and answers the two WIT RPCs
 * with UNIMPLEMENTED) from the agent's cache. Callers are identified by the
 * kernel: peer credentials and a pidfd read when the connection is accepted,
 * attested into selectors for every call; a call without the header
 * `workload.spiffe.io: true` is refused with INVALID_ARGUMENT. Streams get a
 * complete message at once and another after every change that touches
 * what the caller is entitled to; a stream whose caller is left with no
 * identity ends with PERMISSION_DENIED "no identity issued".
 */

typedef struct WorkloadApi WorkloadApi;

/* Attest a caller into selectors. Return: 0, or negative errno (no identity). */
typedef int (*WorkloadAttestFn)(void *userdata, const RpcPeerCred *cred,
                                SigilSelectorSet *ret, SigilErr *reterr);

/*
 * Mint a JWT-SVID for an entry through the server. Return: 0, or negative
 * errno with a reason (e.g. -EAGAIN when the server cannot be reached).
 */
typedef int (*WorkloadMintJwtFn)(void *userdata, const char *entry_id, const char *const *aud,
                                 size_t n_aud, char **ret_token, uint64_t *ret_expires,
                                 SigilErr *reterr);

typedef struct WorkloadApiConfig {
        const char *socket_path;        /* its directory is created 0755 if missing */
        Cache *cache;
        WorkloadAttestFn attest;
        void *attest_userdata;
        WorkloadMintJwtFn mint_jwt;
        void *mint_userdata;
        unsigned max_conns_per_uid;     /* 0 = WORKLOAD_API_CONNS_PER_UID */
        unsigned n_threads;             /* 0 = WORKLOAD_API_THREADS */
} WorkloadApiConfig;

#define WORKLOAD_API_CONNS_PER_UID 1024
#define WORKLOAD_API_THREADS 4
#define WORKLOAD_API_HEADER "workload.spiffe.io"

/**
 * workload_api_start() - create the socket and serve
 * @cfg:        configuration (copied; cache and callbacks must outlive the API)
 * @ret:        on success, the running API
 * @reterr:     on failure, the reason
 *
 * Return: 0 or negative errno.
 */
int workload_api_start(const WorkloadApiConfig *cfg, WorkloadApi **ret, SigilErr *reterr);

/* End every stream (UNAVAILABLE), stop serving and remove the socket. Accepts NULL. */
void workload_api_stop(WorkloadApi *api);

/* Open streams right now (for health and metrics). */
size_t workload_api_n_streams(WorkloadApi *api);
