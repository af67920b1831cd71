/* SPDX-License-Identifier: Apache-2.0 */
/* workload-config.h - the "workload_api" section of sigil-agent's configuration */
#pragma once

#include <jansson.h>

#include "sigil/error.h"
#include "sigil/macro.h"
#include "workload-attest.h"

#define WORKLOAD_THREADS_MAX 64u
#define WORKLOAD_CONNS_PER_UID_MAX 65536u

/*
 * What the Workload API service is started with: the attestors' settings
 * (attest.proc_root and attest.names_root point at the strings owned here)
 * and the server's limits (0: the defaults of workload-api.h).
 */
typedef struct WorkloadServiceConfig {
        WorkloadAttestConfig attest;
        char *proc_root;
        char *names_root;
        unsigned n_threads;
        unsigned max_conns_per_uid;
} WorkloadServiceConfig;

/**
 * workload_config_parse() - check the "workload_api" object and fill @ret
 * @obj:        the object, or NULL (all defaults)
 * @ret:        on success, the settings; release with workload_config_done()
 * @reterr:     on failure, "workload_api.<key>: <reason>"
 *
 * Unknown keys are errors. The attestors' own checks (the proc root exists,
 * pid checks are only skipped on fixture trees) run when the attestor is made.
 *
 * Return: 0, -EINVAL or negative errno.
 */
int workload_config_parse(json_t *obj, WorkloadServiceConfig *ret, SigilErr *reterr);

/* Release what workload_config_parse() allocated; the struct may be parsed into again. */
void workload_config_done(WorkloadServiceConfig *c);
