/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-agent configuration. One table per JSON section lists every key
 * with its parser and field (sigil_config_apply rejects unknown keys and
 * names the key path in every error); flags override the file; then
 * agent_config_check() validates the whole and fills the defaults that
 * depend on other keys. The flags alone are enough to run an agent.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-config.h"
#include "json-util.h"
#include "sigil/config.h"
#include "sigil/spiffeid.h"

#define SYNC_RETRY_MAX_DEFAULT (10 * USEC_PER_SEC)
#define JOIN_TOKEN_MAX 256

#define FIELD(name) offsetof(AgentConfig, name)

static int parse_object(const char *path, json_t *v, void *field, SigilErr *reterr) {
        json_t **out = field;

        if (!json_is_object(v))
                return sigil_err_set(reterr, -EINVAL, "expected an object");
        json_decref(*out);
        *out = json_incref(v);
        return 0;
}

static const SigilConfigItem agent_items[] = {
        { "trust_domain", sigil_config_parse_trust_domain, FIELD(trust_domain), NULL },
        { "server_address", sigil_config_parse_string, FIELD(server_address), NULL },
        { "server_port", sigil_config_parse_port, FIELD(server_port), NULL },
        { "data_dir", sigil_config_parse_string, FIELD(data_dir), NULL },
        { "socket_path", sigil_config_parse_string, FIELD(socket_path), NULL },
        { "admin_socket_path", sigil_config_parse_string, FIELD(admin_socket_path), NULL },
        { "join_token", sigil_config_parse_string, FIELD(join_token), NULL },
        { "trust_bundle_path", sigil_config_parse_string, FIELD(trust_bundle_path), NULL },
        { "insecure_bootstrap", sigil_config_parse_bool, FIELD(insecure_bootstrap), NULL },
        { "log_level", sigil_config_parse_log_level, FIELD(log_level), NULL },
        { "log_format", sigil_config_parse_log_format, FIELD(log_format), NULL },
        { "log_file", sigil_config_parse_string, FIELD(log_file), NULL },
        { "svid_key_type", sigil_config_parse_key_type, FIELD(svid_key_type), NULL },
        { "sync_retry_max", sigil_config_parse_duration, FIELD(sync_retry_max), NULL },
        {},
};

static const SigilConfigItem x509pop_items[] = {
        { "certificate_path", sigil_config_parse_string, FIELD(x509pop_certificate_path), NULL },
        { "private_key_path", sigil_config_parse_string, FIELD(x509pop_private_key_path), NULL },
        { "intermediates_path", sigil_config_parse_string, FIELD(x509pop_intermediates_path),
          NULL },
        {},
};

static const SigilConfigItem attestor_items[] = {
        { "x509pop", NULL, 0, x509pop_items },
        {},
};

static const SigilConfigItem top_items[] = {
        { "agent", NULL, 0, agent_items },
        { "node_attestor", NULL, 0, attestor_items },
        { "workload_api", parse_object, FIELD(workload_api), NULL },
        {},
};

static AgentConfig *agent_config_new_defaults(void) {
        AgentConfig *c = new0(AgentConfig, 1);

        if (!c)
                return NULL;
        c->server_port = AGENT_DEFAULT_SERVER_PORT;
        c->log_level = SIGIL_LOG_INFO;
        c->log_format = SIGIL_LOG_FORMAT_TEXT;
        c->svid_key_type = SIGIL_KEY_EC_P256;
        c->sync_retry_max = SYNC_RETRY_MAX_DEFAULT;
        return c;
}

AgentConfig *agent_config_free(AgentConfig *c) {
        if (!c)
                return NULL;
        char **strings[] = { &c->config_path, &c->trust_domain, &c->server_address,
                             &c->data_dir, &c->socket_path, &c->admin_socket_path,
                             &c->trust_bundle_path, &c->log_file,
                             &c->x509pop_certificate_path, &c->x509pop_private_key_path,
                             &c->x509pop_intermediates_path };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                free(*strings[i]);
        if (c->join_token) {
                OPENSSL_cleanse(c->join_token, strlen(c->join_token));
                free(c->join_token);
        }
        json_decref(c->workload_api);
        workload_config_done(&c->workload);
        free(c);
        return NULL;
}

static int set_string(char **field, const char *value) {
        char *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

static int default_string(char **field, const char *value) {
        return *field ? 0 : set_string(field, value);
}

void agent_config_usage(FILE *f) {
        fprintf(f,
                "Usage: sigil-agent run [options]\n"
                "       sigil-agent validate -config FILE [options]\n\n"
                "Options (each overrides the configuration file):\n"
                "  -config FILE            JSON configuration file\n"
                "  -trustDomain NAME       trust domain (required here or in the file)\n"
                "  -serverAddress HOST     sigil-server's agent API address (required)\n"
                "  -serverPort PORT        its port (default %d)\n"
                "  -dataDir DIR            agent state (default " AGENT_DEFAULT_DATA_DIR ")\n"
                "  -socketPath PATH        Workload API socket (default "
                AGENT_DEFAULT_SOCKET ")\n"
                "  -adminSocketPath PATH   admin/debug socket (default "
                AGENT_DEFAULT_ADMIN_SOCKET ")\n"
                "  -joinToken TOKEN        attest with this join token\n"
                "  -trustBundle FILE       PEM bundle that authenticates the server at first "
                "contact\n"
                "  -insecureBootstrap      do not authenticate the server at first contact "
                "(INSECURE)\n"
                "  -logLevel LEVEL         debug, info, warn or error (default info)\n"
                "  -logFormat FORMAT       text or json (default text)\n"
                "  -h, -help               show this help\n",
                AGENT_DEFAULT_SERVER_PORT);
}

enum {
        ARG_CONFIG = 0x100,
        ARG_TRUST_DOMAIN,
        ARG_SERVER_ADDRESS,
        ARG_SERVER_PORT,
        ARG_DATA_DIR,
        ARG_SOCKET_PATH,
        ARG_ADMIN_SOCKET_PATH,
        ARG_JOIN_TOKEN,
        ARG_TRUST_BUNDLE,
        ARG_INSECURE_BOOTSTRAP,
        ARG_LOG_LEVEL,
        ARG_LOG_FORMAT,
};

static const struct option options[] = {
        { "config", required_argument, NULL, ARG_CONFIG },
        { "trustDomain", required_argument, NULL, ARG_TRUST_DOMAIN },
        { "serverAddress", required_argument, NULL, ARG_SERVER_ADDRESS },
        { "serverPort", required_argument, NULL, ARG_SERVER_PORT },
        { "dataDir", required_argument, NULL, ARG_DATA_DIR },
        { "socketPath", required_argument, NULL, ARG_SOCKET_PATH },
        { "adminSocketPath", required_argument, NULL, ARG_ADMIN_SOCKET_PATH },
        { "joinToken", required_argument, NULL, ARG_JOIN_TOKEN },
        { "trustBundle", required_argument, NULL, ARG_TRUST_BUNDLE },
        { "insecureBootstrap", no_argument, NULL, ARG_INSECURE_BOOTSTRAP },
        { "logLevel", required_argument, NULL, ARG_LOG_LEVEL },
        { "logFormat", required_argument, NULL, ARG_LOG_FORMAT },
        { "help", no_argument, NULL, 'h' },
        {},
};

/*
 * Flags are read twice: first only -config (so the file comes first), then the rest. Usage
 * errors (an unknown or incomplete flag, a stray argument) come out of this first pass.
 */
static int find_config_flag(int argc, char *argv[], char **ret, SigilErr *reterr) {
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                if (c == 'h')
                        return AGENT_CONFIG_E_HELP;
                if (c == '?' || c == ':') {
                        (void) sigil_err_set(reterr, -EINVAL, "unknown or incomplete flag '%s'",
                                             argv[optind - 1]);
                        return AGENT_CONFIG_E_USAGE;
                }
                if (c == ARG_CONFIG && set_string(ret, optarg) < 0)
                        return -ENOMEM;
        }
        if (optind < argc) {
                (void) sigil_err_set(reterr, -EINVAL, "unexpected argument '%s'", argv[optind]);
                return AGENT_CONFIG_E_USAGE;
        }
        return 0;
}

static int parse_port_flag(const char *arg, uint16_t *ret, SigilErr *reterr) {
        char *end = NULL;
        long port;

        errno = 0;
        port = strtol(arg, &end, 10);
        if (errno || !end || end == arg || *end || port < 1 || port > 65535)
                return sigil_err_set(reterr, -EINVAL, "-serverPort: invalid port '%s'", arg);
        *ret = (uint16_t) port;
        return 0;
}

static int apply_flag(AgentConfig *c, int opt, const char *arg, SigilErr *reterr) {
        switch (opt) {
        case ARG_TRUST_DOMAIN:
                return set_string(&c->trust_domain, arg);
        case ARG_SERVER_ADDRESS:
                return set_string(&c->server_address, arg);
        case ARG_SERVER_PORT:
                return parse_port_flag(arg, &c->server_port, reterr);
        case ARG_DATA_DIR:
                return set_string(&c->data_dir, arg);
        case ARG_SOCKET_PATH:
                return set_string(&c->socket_path, arg);
        case ARG_ADMIN_SOCKET_PATH:
                return set_string(&c->admin_socket_path, arg);
        case ARG_JOIN_TOKEN:
                return set_string(&c->join_token, arg);
        case ARG_TRUST_BUNDLE:
                return set_string(&c->trust_bundle_path, arg);
        case ARG_INSECURE_BOOTSTRAP:
                c->insecure_bootstrap = true;
                return 0;
        case ARG_LOG_LEVEL:
                c->log_level = sigil_log_level_from_string(arg);
                if (c->log_level < 0)
                        return sigil_err_set(reterr, -EINVAL, "-logLevel: unknown level '%s'", arg);
                return 0;
        case ARG_LOG_FORMAT:
                c->log_format = sigil_log_format_from_string(arg);
                if (c->log_format < 0)
                        return sigil_err_set(reterr, -EINVAL,
                                             "-logFormat: expected text or json, not '%s'", arg);
                return 0;
        default:
                return 0;
        }
}

static int apply_flags(AgentConfig *c, int argc, char *argv[], SigilErr *reterr) {
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                r = apply_flag(c, opt, optarg, reterr);
                if (r < 0)
                        return r == -ENOMEM ? sigil_err_set(reterr, r, "out of memory") : r;
        }
        return 0;
}

static int load_file(AgentConfig *c, SigilErr *reterr) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        int r;

        r = sigil_config_load_file(c->config_path, &root, reterr);
        if (r < 0)
                return r;
        r = sigil_config_apply(top_items, root, "", c, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "%s", c->config_path);
        return 0;
}

static int check_socket_path(const char *key, const char *path, SigilErr *reterr) {
        if (path[0] != '/')
                return sigil_err_set(reterr, -EINVAL, "%s: '%s' is not an absolute path", key,
                                     path);
        if (strlen(path) > AGENT_UNIX_PATH_MAX)
                return sigil_err_set(reterr, -EINVAL, "%s: longer than %d bytes", key,
                                     AGENT_UNIX_PATH_MAX);
        return 0;
}

static int check_paths(AgentConfig *c, SigilErr *reterr) {
        int r;

        r = default_string(&c->data_dir, AGENT_DEFAULT_DATA_DIR);
        if (r == 0)
                r = default_string(&c->socket_path, AGENT_DEFAULT_SOCKET);
        if (r == 0)
                r = default_string(&c->admin_socket_path, AGENT_DEFAULT_ADMIN_SOCKET);
        if (r < 0)
                return sigil_err_set(reterr, r, "out of memory");
        r = check_socket_path("agent.socket_path (-socketPath)", c->socket_path, reterr);
        if (r == 0)
                r = check_socket_path("agent.admin_socket_path (-adminSocketPath)",
                                      c->admin_socket_path, reterr);
        if (r < 0)
                return r;
        if (streq(c->socket_path, c->admin_socket_path))
                return sigil_err_set(reterr, -EINVAL,
                                     "the Workload API and admin sockets must differ ('%s')",
                                     c->socket_path);
        return 0;
}

static int check_join_token(const char *t, SigilErr *reterr) {
        if (isempty(t) || strlen(t) > JOIN_TOKEN_MAX)
                return sigil_err_set(reterr, -EINVAL, "join token: empty or longer than %d bytes",
                                     JOIN_TOKEN_MAX);
        for (const char *p = t; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return sigil_err_set(reterr, -EINVAL,
                                             "join token: unexpected character (a token is "
                                             "what 'sigil-server token generate' prints)");
        return 0;
}

static int check_attestor(AgentConfig *c, SigilErr *reterr) {
        bool x509pop = c->x509pop_certificate_path || c->x509pop_private_key_path ||
                       c->x509pop_intermediates_path;

        if (x509pop && (!c->x509pop_certificate_path || !c->x509pop_private_key_path))
                return sigil_err_set(reterr, -EINVAL,
                                     "node_attestor.x509pop: certificate_path and "
                                     "private_key_path are both required");
        if (x509pop && c->join_token)
                return sigil_err_set(reterr, -EINVAL,
                                     "give either a join token or node_attestor.x509pop, not both");
        if (c->join_token)
                return check_join_token(c->join_token, reterr);
        return 0;
}

static int agent_config_check(AgentConfig *c, SigilErr *reterr) {
        char why[256];
        int r;

        if (!c->trust_domain)
                return sigil_err_set(reterr, -EINVAL, "trust domain is required "
                                                      "(agent.trust_domain or -trustDomain)");
        if (sigil_trust_domain_validate(c->trust_domain, why, sizeof(why)) != 0)
                return sigil_err_set(reterr, -EINVAL, "trust domain '%s': %s", c->trust_domain,
                                     why);
        if (isempty(c->server_address))
                return sigil_err_set(reterr, -EINVAL, "server address is required "
                                                      "(agent.server_address or -serverAddress)");
        if (c->insecure_bootstrap && c->trust_bundle_path)
                return sigil_err_set(reterr, -EINVAL,
                                     "give either a trust bundle or insecure_bootstrap, not both");
        if (c->sync_retry_max < USEC_PER_SEC)
                return sigil_err_set(reterr, -EINVAL, "agent.sync_retry_max: at least 1s");
        r = check_paths(c, reterr);
        if (r < 0)
                return r;
        r = check_attestor(c, reterr);
        if (r < 0)
                return r;
        workload_config_done(&c->workload);
        return workload_config_parse(c->workload_api, &c->workload, reterr);
}

int agent_config_load(int argc, char *argv[], bool need_file, AgentConfig **ret,
                      SigilErr *reterr) {
        _cleanup_(agent_config_freep) AgentConfig *c = agent_config_new_defaults();
        int r;

        if (!c)
                return -ENOMEM;
        r = find_config_flag(argc, argv, &c->config_path, reterr);
        if (r == AGENT_CONFIG_E_HELP) {
                agent_config_usage(stdout);
                return r;
        }
        if (r != 0)
                return r;
        if (need_file && !c->config_path) {
                (void) sigil_err_set(reterr, -EINVAL, "-config FILE is required");
                return AGENT_CONFIG_E_USAGE;
        }
        if (c->config_path) {
                r = load_file(c, reterr);
                if (r < 0)
                        return r;
        }
        r = apply_flags(c, argc, argv, reterr);
        if (r < 0)
                return r;
        r = agent_config_check(c, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

bool agent_config_uses_x509pop(const AgentConfig *c) {
        return c->x509pop_certificate_path != NULL;
}
