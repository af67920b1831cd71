/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Workload API as a service of the running agent (a row of
 * agent-services.c): one workload attestor made from the "workload_api"
 * section, shared by every call, and the Workload API server on the agent's
 * public socket, reading the agent's cache and minting JWT-SVIDs through
 * the agent's connection to sigil-server.
 */
#include <errno.h>
#include <stdlib.h>

#include "agent.h"
#include "sigil/log.h"
#include "workload-api.h"
#include "workload-attest.h"

typedef struct WorkloadService {
        WorkloadAttestor *attestor;
        WorkloadApi *api;
} WorkloadService;

void agent_workload_service_stop(void *state) {
        WorkloadService *s = state;

        if (!s)
                return;
        workload_api_stop(s->api);
        workload_attestor_free(s->attestor);
        free(s);
}

int agent_workload_service_start(Agent *a, void **ret_state, SigilErr *reterr) {
        const AgentConfig *cfg = agent_config(a);
        WorkloadService *s = new0(WorkloadService, 1);
        WorkloadApiConfig api_cfg;
        int r;

        if (!s)
                return -ENOMEM;
        r = workload_attestor_new(&cfg->workload.attest, &s->attestor, reterr);
        if (r < 0) {
                agent_workload_service_stop(s);
                return sigil_err_prefix(reterr, r, "workload_api");
        }
        api_cfg = (WorkloadApiConfig) {
                .socket_path = cfg->socket_path,
                .cache = agent_cache(a),
                .attest = workload_attest_callback,
                .attest_userdata = s->attestor,
                .mint_jwt = agent_mint_jwt,
                .mint_userdata = a,
                .max_conns_per_uid = cfg->workload.max_conns_per_uid,
                .n_threads = cfg->workload.n_threads,
        };
        r = workload_api_start(&api_cfg, &s->api, reterr);
        if (r < 0) {
                agent_workload_service_stop(s);
                return r;
        }
        log_info("Workload API listening on %s", cfg->socket_path);
        *ret_state = s;
        return 0;
}
