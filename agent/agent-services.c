/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The services sigil-agent runs beside its core, in start order (they stop
 * in reverse). Each row names a start and a stop function (agent.h); a
 * service reaches the cache, the configuration and the server through the
 * Agent it is given. The Workload API starts once the agent has an
 * identity, so a workload never meets a socket that has nothing to give.
 */
#include "agent.h"

const AgentService agent_services[] = {
        { "admin API", true, agent_debug_service_start, agent_debug_service_stop },
        { "Workload API", false, agent_workload_service_start, agent_workload_service_stop },
};

const size_t agent_n_services = ELEMENTSOF(agent_services);
