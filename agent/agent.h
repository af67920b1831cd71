/* SPDX-License-Identifier: Apache-2.0 */
/* agent.h - `sigil-agent run`: the agent's lifecycle, and what services started with it get */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-config.h"
#include "cache.h"
#include "sigil/error.h"

typedef struct Agent Agent;

/* `sigil-agent run [flags]`: runs until SIGTERM/SIGINT. Return: the exit status. */
int agent_run(int argc, char *argv[]);

/* `sigil-agent validate [flags]`: check a configuration. Return: the exit status. */
int agent_validate(int argc, char *argv[]);

/*
 * Services run beside the agent core (agent_services[] in agent-services.c):
 * each is started in table order, those marked before_identity as soon as
 * the data directory is locked, the others once the agent has an identity;
 * all stop in reverse order at shutdown, before the core. A service that
 * fails to start stops the agent (exit status 1). The Workload API is one
 * (issue 5); the admin/debug API is another.
 */
typedef struct AgentService {
        const char *name;
        bool before_identity;   /* start before attestation (the admin API: see it happen) */
        /* Start; on success *ret_state is handed back to stop(). */
        int (*start)(Agent *a, void **ret_state, SigilErr *reterr);
        void (*stop)(void *state);
} AgentService;

extern const AgentService agent_services[];
extern const size_t agent_n_services;

/* The agent's configuration (immutable while it runs). */
const AgentConfig *agent_config(Agent *a);

/* The cache of entries, SVIDs and bundles (cache.h); valid until every service stopped. */
Cache *agent_cache(Agent *a);

/**
 * agent_mint_jwt() - have sigil-server sign a JWT-SVID for an entry (a WorkloadMintJwtFn)
 * @userdata:   the Agent
 * @entry_id:   an entry authorised for this agent
 * @aud:        audiences (at least one)
 * @n_aud:      their number
 * @ret_token:  on success, the token (wipe before freeing)
 * @ret_expires: on success, its exp (unix seconds)
 * @reterr:     on failure, the reason
 *
 * Return: 0, -EAGAIN (server unreachable), -EPERM (refused), -EINVAL or negative errno.
 */
int agent_mint_jwt(void *userdata, const char *entry_id, const char *const *aud, size_t n_aud,
                   char **ret_token, uint64_t *ret_expires, SigilErr *reterr);

/* Service rows of the core itself (agent-services.c lists them). */
int agent_debug_service_start(Agent *a, void **ret_state, SigilErr *reterr);
void agent_debug_service_stop(void *state);
int agent_workload_service_start(Agent *a, void **ret_state, SigilErr *reterr);  /* workload-service.c */
void agent_workload_service_stop(void *state);
