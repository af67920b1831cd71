/* SPDX-License-Identifier: Apache-2.0 */
/* agent-config.h - sigil-agent's configuration: JSON file, then flags, then checks */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sigil/error.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "workload-config.h"

#define AGENT_DEFAULT_DATA_DIR "/var/lib/sigil/agent"
#define AGENT_DEFAULT_SOCKET "/tmp/sigil-agent/public/api.sock"
#define AGENT_DEFAULT_ADMIN_SOCKET "/tmp/sigil-agent/private/admin.sock"
#define AGENT_DEFAULT_SERVER_PORT 8081
#define AGENT_UNIX_PATH_MAX 107         /* sun_path minus the NUL */

typedef struct AgentConfig {
        char *config_path;              /* NULL when none was given */

        /* "agent" section */
        char *trust_domain;
        char *server_address;
        uint16_t server_port;
        char *data_dir;
        char *socket_path;              /* the Workload API socket (served by workload-api.c) */
        char *admin_socket_path;        /* the debug/admin socket (debug-api.c) */
        char *join_token;
        char *trust_bundle_path;
        bool insecure_bootstrap;
        SigilLogLevel log_level;
        SigilLogFormat log_format;
        char *log_file;
        SigilKeyType svid_key_type;     /* keys of workload X.509-SVIDs */
        uint64_t sync_retry_max;        /* cap of the reconnect backoff, microseconds */

        /* "node_attestor": { "x509pop": { ... } } */
        char *x509pop_certificate_path;
        char *x509pop_private_key_path;
        char *x509pop_intermediates_path;

        /* "workload_api": the object as given, and what workload-config.c made of it. */
        json_t *workload_api;
        WorkloadServiceConfig workload;
} AgentConfig;

/* agent_config_load()'s results besides 0 and negative errno. */
enum {
        AGENT_CONFIG_E_HELP = 1,        /* -h given: usage printed on stdout */
        AGENT_CONFIG_E_USAGE,           /* unknown flag, stray argument, missing -config */
};

/**
 * agent_config_load() - defaults, then the file named by -config (if any), then flags
 * @argc:       argument count (argv[0] is the subcommand name)
 * @argv:       arguments
 * @need_file:  whether -config is required (validate)
 * @ret:        on success, the checked configuration
 * @reterr:     on failure, one line naming the file, key or flag at fault
 *
 * Return: 0, AGENT_CONFIG_E_HELP, AGENT_CONFIG_E_USAGE (the caller prints the reason in
 * @reterr and the usage), -EINVAL (bad config or flag value; reason in @reterr) or negative
 * errno.
 */
int agent_config_load(int argc, char *argv[], bool need_file, AgentConfig **ret,
                      SigilErr *reterr);

/* The usage of `sigil-agent run` and `validate`. */
void agent_config_usage(FILE *f);

AgentConfig *agent_config_free(AgentConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentConfig *, agent_config_free)

/* Whether node attestation uses x509pop (a certificate is configured). */
bool agent_config_uses_x509pop(const AgentConfig *c);
