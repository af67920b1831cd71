/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server configuration. One table per JSON section lists every key
 * with its parser and field (sigil_config_apply rejects unknown keys and
 * names the key path in every error); flags override the file; then
 * server_config_check() validates the whole and fills derived defaults.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/x509pop.h"
#include "ca/ca.h"
#include "fileio.h"
#include "json-util.h"
#include "server-config.h"
#include "sigil/clock.h"
#include "sigil/config.h"
#include "sigil/duration.h"
#include "sigil/keys.h"
#include "sigil/spiffeid.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define CA_TTL_DEFAULT (24 * 3600 * USEC_PER_SEC)

static int parse_uids(const char *path, json_t *v, void *field, SigilErr *reterr) {
        UidList *l = field;
        size_t i;
        json_t *e;

        if (!json_is_array(v) || json_array_size(v) > SERVER_ADMIN_UIDS_MAX)
                return sigil_err_set(reterr, -EINVAL, "expected an array of at most %d uids",
                                     SERVER_ADMIN_UIDS_MAX);
        free(l->uids);
        l->uids = new0(int64_t, json_array_size(v));
        l->n_uids = 0;
        if (!l->uids)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                    json_integer_value(e) > 0x7fffffff)
                        return sigil_err_set(reterr, -EINVAL, "element %zu: expected a uid", i);
                l->uids[l->n_uids++] = json_integer_value(e);
        }
        return 0;
}

#define FIELD(name) offsetof(ServerConfig, name)

static const SigilConfigItem server_items[] = {
        { "trust_domain", sigil_config_parse_trust_domain, FIELD(trust_domain), NULL },
        { "data_dir", sigil_config_parse_string, FIELD(data_dir), NULL },
        { "socket_path", sigil_config_parse_string, FIELD(socket_path), NULL },
        { "bind_address", sigil_config_parse_string, FIELD(bind_address), NULL },
        { "bind_port", sigil_config_parse_port, FIELD(bind_port), NULL },
        { "log_level", sigil_config_parse_log_level, FIELD(log_level), NULL },
        { "log_format", sigil_config_parse_log_format, FIELD(log_format), NULL },
        { "log_file", sigil_config_parse_string, FIELD(log_file), NULL },
        { "audit_log_file", sigil_config_parse_string, FIELD(audit_log_file), NULL },
        { "admin_uids", parse_uids, FIELD(admin_uids), NULL },
        { "default_x509_svid_ttl", sigil_config_parse_duration, FIELD(default_x509_svid_ttl), NULL },
        { "default_jwt_svid_ttl", sigil_config_parse_duration, FIELD(default_jwt_svid_ttl), NULL },
        { "agent_svid_ttl", sigil_config_parse_duration, FIELD(agent_svid_ttl), NULL },
        { "join_token_ttl", sigil_config_parse_duration, FIELD(join_token_ttl), NULL },
        { "ca_key_type", sigil_config_parse_key_type, FIELD(ca_key_type), NULL },
        { "jwt_key_type", sigil_config_parse_key_type, FIELD(jwt_key_type), NULL },
        { "ca_ttl", sigil_config_parse_duration, FIELD(ca_ttl), NULL },
        { "ca_subject", sigil_config_parse_string, FIELD(ca_subject), NULL },
        { "jwt_issuer", sigil_config_parse_string, FIELD(jwt_issuer), NULL },
        { "shutdown_grace", sigil_config_parse_duration, FIELD(shutdown_grace), NULL },
        {},
};

static const SigilConfigItem datastore_items[] = {
        { "type", sigil_config_parse_string, FIELD(datastore_type), NULL },
        { "path", sigil_config_parse_string, FIELD(datastore_path), NULL },
        {},
};

static const SigilConfigItem upstream_disk_items[] = {
        { "cert_file_path", sigil_config_parse_string, FIELD(upstream_cert_file), NULL },
        { "key_file_path", sigil_config_parse_string, FIELD(upstream_key_file), NULL },
        { "bundle_file_path", sigil_config_parse_string, FIELD(upstream_bundle_file), NULL },
        {},
};

static const SigilConfigItem upstream_items[] = {
        { "disk", NULL, 0, upstream_disk_items },
        {},
};

static int parse_enabled(const char *path, json_t *v, void *field, SigilErr *reterr) {
        if (!json_is_object(v) || json_object_size(v) != 0)
                return sigil_err_set(reterr, -EINVAL, "expected {} (this attestor takes no settings)");
        *(bool *) field = true;
        return 0;
}

static const SigilConfigItem x509pop_items[] = {
        { "ca_bundle_path", sigil_config_parse_string, FIELD(x509pop_ca_bundle_path), NULL },
        {},
};

static const SigilConfigItem attestor_items[] = {
        { "join_token", parse_enabled, FIELD(join_token_enabled), NULL },
        { "x509pop", NULL, 0, x509pop_items },
        {},
};

static const SigilConfigItem top_items[] = {
        { "server", NULL, 0, server_items },
        { "datastore", NULL, 0, datastore_items },
        { "key_manager", sigil_config_parse_string, FIELD(key_manager), NULL },
        { "upstream_authority", NULL, 0, upstream_items },
        { "node_attestors", NULL, 0, attestor_items },
        {},
};

static ServerConfig *config_new_defaults(void) {
        ServerConfig *c = new0(ServerConfig, 1);

        if (!c)
                return NULL;
        c->bind_port = SERVER_DEFAULT_BIND_PORT;
        c->log_level = SIGIL_LOG_INFO;
        c->log_format = SIGIL_LOG_FORMAT_TEXT;
        c->default_x509_svid_ttl = 3600 * USEC_PER_SEC;
        c->default_jwt_svid_ttl = 300 * USEC_PER_SEC;
        c->agent_svid_ttl = 3600 * USEC_PER_SEC;
        c->join_token_ttl = 600 * USEC_PER_SEC;
        c->ca_key_type = SIGIL_KEY_EC_P256;
        c->jwt_key_type = SIGIL_KEY_EC_P256;
        c->ca_ttl = CA_TTL_DEFAULT;
        c->shutdown_grace = 10 * USEC_PER_SEC;
        c->join_token_enabled = true;
        return c;
}

ServerConfig *server_config_free(ServerConfig *c) {
        if (!c)
                return NULL;
        char **strings[] = { &c->config_path, &c->trust_domain, &c->data_dir, &c->socket_path,
                             &c->bind_address, &c->log_file, &c->audit_log_file, &c->ca_subject,
                             &c->jwt_issuer, &c->datastore_type, &c->datastore_path,
                             &c->key_manager, &c->upstream_cert_file, &c->upstream_key_file,
                             &c->upstream_bundle_file, &c->x509pop_ca_bundle_path };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                free(*strings[i]);
        free(c->admin_uids.uids);
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

void server_config_usage(FILE *f) {
        fprintf(f,
                "Usage: sigil-server run [options]\n"
                "       sigil-server validate -config FILE\n\n"
                "Options (each overrides the configuration file):\n"
                "  -config FILE          JSON configuration file\n"
                "  -trustDomain NAME     trust domain (required here or in the file)\n"
                "  -dataDir DIR          data directory (default " SERVER_DEFAULT_DATA_DIR ")\n"
                "  -socketPath PATH      admin socket (default " SERVER_DEFAULT_SOCKET ")\n"
                "  -bindAddress ADDR     agent API address (default " SERVER_DEFAULT_BIND_ADDRESS ")\n"
                "  -bindPort PORT        agent API port (default %d)\n"
                "  -logLevel LEVEL       debug, info, warn or error (default info)\n"
                "  -logFormat FORMAT     text or json (default text)\n"
                "  -h, -help             show this help\n",
                SERVER_DEFAULT_BIND_PORT);
}

enum {
        ARG_CONFIG = 0x100,
        ARG_TRUST_DOMAIN,
        ARG_DATA_DIR,
        ARG_SOCKET_PATH,
        ARG_BIND_ADDRESS,
        ARG_BIND_PORT,
        ARG_LOG_LEVEL,
        ARG_LOG_FORMAT,
};

static const struct option options[] = {
        { "config", required_argument, NULL, ARG_CONFIG },
        { "trustDomain", required_argument, NULL, ARG_TRUST_DOMAIN },
        { "dataDir", required_argument, NULL, ARG_DATA_DIR },
        { "socketPath", required_argument, NULL, ARG_SOCKET_PATH },
        { "bindAddress", required_argument, NULL, ARG_BIND_ADDRESS },
        { "bindPort", required_argument, NULL, ARG_BIND_PORT },
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
                        return SERVER_CONFIG_E_HELP;
                if (c == '?' || c == ':') {
                        (void) sigil_err_set(reterr, -EINVAL, "unknown or incomplete flag '%s'",
                                             argv[optind - 1]);
                        return SERVER_CONFIG_E_USAGE;
                }
                if (c == ARG_CONFIG && set_string(ret, optarg) < 0)
                        return -ENOMEM;
        }
        if (optind < argc) {
                (void) sigil_err_set(reterr, -EINVAL, "unexpected argument '%s'", argv[optind]);
                return SERVER_CONFIG_E_USAGE;
        }
        return 0;
}

static int apply_flag(ServerConfig *c, int opt, const char *arg, SigilErr *reterr) {
        char *end = NULL;
        long port;

        switch (opt) {
        case ARG_TRUST_DOMAIN:
                return set_string(&c->trust_domain, arg);
        case ARG_DATA_DIR:
                return set_string(&c->data_dir, arg);
        case ARG_SOCKET_PATH:
                return set_string(&c->socket_path, arg);
        case ARG_BIND_ADDRESS:
                return set_string(&c->bind_address, arg);
        case ARG_BIND_PORT:
                errno = 0;
                port = strtol(arg, &end, 10);
                if (errno || !end || *end || port < 0 || port > 65535)
                        return sigil_err_set(reterr, -EINVAL, "-bindPort: invalid port '%s'", arg);
                c->bind_port = (uint16_t) port;
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

static int apply_flags(ServerConfig *c, int argc, char *argv[], SigilErr *reterr) {
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

static int load_file(ServerConfig *c, SigilErr *reterr) {
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

static int check_paths(ServerConfig *c, SigilErr *reterr) {
        char buf[4096];
        int r;

        r = default_string(&c->data_dir, SERVER_DEFAULT_DATA_DIR);
        if (r == 0)
                r = default_string(&c->socket_path, SERVER_DEFAULT_SOCKET);
        if (r == 0)
                r = default_string(&c->bind_address, SERVER_DEFAULT_BIND_ADDRESS);
        if (r == 0)
                r = default_string(&c->datastore_type, "sqlite");
        if (r == 0)
                r = default_string(&c->key_manager, "disk");
        if (r == 0 && !c->datastore_path) {
                (void) snprintf(buf, sizeof(buf), "%s/datastore.sqlite3", c->data_dir);
                r = set_string(&c->datastore_path, buf);
        }
        if (r < 0)
                return sigil_err_set(reterr, r, "out of memory");
        if (strlen(c->socket_path) >= 108)
                return sigil_err_set(reterr, -EINVAL, "socket_path: longer than 107 bytes");
        if (!streq(c->datastore_type, "sqlite"))
                return sigil_err_set(reterr, -EINVAL,
                                     "datastore.type: unsupported datastore '%s' (expected sqlite)",
                                     c->datastore_type);
        if (!streq(c->key_manager, "disk") && !streq(c->key_manager, "memory"))
                return sigil_err_set(reterr, -EINVAL,
                                     "key_manager: expected \"disk\" or \"memory\", not '%s'",
                                     c->key_manager);
        if (!c->upstream_cert_file != !c->upstream_key_file)
                return sigil_err_set(reterr, -EINVAL,
                                     "upstream_authority.disk: cert_file_path and key_file_path "
                                     "go together");
        return 0;
}

/* What the CA would refuse at start (lib/x509-ca.c), named by key before anything starts. */
static int check_ca(const ServerConfig *c, SigilErr *reterr) {
        uint64_t now = sigil_now_sec();
        int r;

        if (c->ca_ttl < CA_TTL_MIN_SEC * USEC_PER_SEC)
                return sigil_err_set(reterr, -EINVAL, "server.ca_ttl: must be at least %ds",
                                     CA_TTL_MIN_SEC);
        if (now >= SIGIL_X509_TIME_MAX || c->ca_ttl / USEC_PER_SEC > SIGIL_X509_TIME_MAX - now)
                return sigil_err_set(reterr, -EINVAL,
                                     "server.ca_ttl: too long (a CA certificate must end by "
                                     "9999-12-31)");
        if (c->ca_subject) {
                r = sigil_x509_ca_subject_check(c->ca_subject, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "server.ca_subject");
        }
        return 0;
}

static int server_config_check(ServerConfig *c, SigilErr *reterr) {
        char why[256];
        int r;

        if (!c->trust_domain)
                return sigil_err_set(reterr, -EINVAL,
                                     "trust domain is required (server.trust_domain or -trustDomain)");
        if (sigil_trust_domain_validate(c->trust_domain, why, sizeof(why)) != 0)
                return sigil_err_set(reterr, -EINVAL, "trust domain '%s': %s", c->trust_domain,
                                     why);
        r = check_paths(c, reterr);
        if (r < 0)
                return r;
        r = check_ca(c, reterr);
        if (r < 0)
                return r;
        if (c->default_x509_svid_ttl < USEC_PER_SEC || c->default_jwt_svid_ttl < USEC_PER_SEC ||
            c->agent_svid_ttl < USEC_PER_SEC || c->join_token_ttl < USEC_PER_SEC)
                return sigil_err_set(reterr, -EINVAL, "server: TTLs must be at least 1s");
        if (c->bind_port == 0)
                return sigil_err_set(reterr, -EINVAL, "server.bind_port: must not be 0");
        return 0;
}

int server_config_load(int argc, char *argv[], bool need_file, ServerConfig **ret,
                       SigilErr *reterr) {
        _cleanup_(server_config_freep) ServerConfig *c = config_new_defaults();
        int r;

        if (!c)
                return -ENOMEM;
        r = find_config_flag(argc, argv, &c->config_path, reterr);
        if (r == SERVER_CONFIG_E_HELP) {
                server_config_usage(stdout);
                return r;
        }
        if (r != 0)
                return r;
        if (need_file && !c->config_path) {
                (void) sigil_err_set(reterr, -EINVAL, "-config FILE is required");
                return SERVER_CONFIG_E_USAGE;
        }
        if (c->config_path) {
                r = load_file(c, reterr);
                if (r < 0)
                        return r;
        }
        r = apply_flags(c, argc, argv, reterr);
        if (r < 0)
                return r;
        r = server_config_check(c, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

bool server_config_admin_allowed(const ServerConfig *c, uid_t uid) {
        if (uid == 0 || uid == getuid())
                return true;
        for (size_t i = 0; i < c->admin_uids.n_uids; i++)
                if (c->admin_uids.uids[i] == (int64_t) uid)
                        return true;
        return false;
}

#define UPSTREAM_KEY "upstream_authority.disk."

static int check_upstream_files(const ServerConfig *c, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL, *roots = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        uint64_t now = sigil_now_sec();
        X509 *cert;
        int r;

        r = sigil_x509_certs_from_pem_file(c->upstream_cert_file, &certs, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, UPSTREAM_KEY "cert_file_path");
        cert = sk_X509_value(certs, 0);
        if (X509_check_ca(cert) != 1)
                return sigil_err_set(reterr, -EINVAL, UPSTREAM_KEY "cert_file_path: '%s' is "
                                     "not a CA certificate", c->upstream_cert_file);
        r = sigil_key_load_pem(c->upstream_key_file, &key, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, UPSTREAM_KEY "key_file_path");
        if (X509_check_private_key(cert, key) != 1) {
                ERR_clear_error();
                return sigil_err_set(reterr, -EINVAL, UPSTREAM_KEY "key_file_path: '%s' does "
                                     "not match its certificate (cert_file_path)",
                                     c->upstream_key_file);
        }
        /* What the CA checks of an issuer before it signs (lib/x509-ca.c). */
        r = x509_check_signing_ca(cert, key, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, UPSTREAM_KEY "cert_file_path");
        if (sigil_x509_not_after(cert) <= now)
                return sigil_err_set(reterr, -EINVAL, UPSTREAM_KEY "cert_file_path: the "
                                     "certificate has expired");
        if (!c->upstream_bundle_file)
                return 0;
        r = sigil_x509_certs_from_pem_file(c->upstream_bundle_file, &roots, reterr);
        if (r == 0)
                r = sigil_x509_verify_to_roots(cert, certs, roots, now, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, UPSTREAM_KEY "bundle_file_path");
        return 0;
}

int server_config_check_files(const ServerConfig *c, SigilErr *reterr) {
        X509Pop *pop = NULL;
        int r;

        if (c->upstream_cert_file) {
                r = check_upstream_files(c, reterr);
                if (r < 0)
                        return r;
        } else if (c->upstream_bundle_file)
                return sigil_err_set(reterr, -EINVAL, UPSTREAM_KEY "bundle_file_path: needs "
                                     "cert_file_path and key_file_path");
        if (c->x509pop_ca_bundle_path) {
                r = x509pop_new(c->x509pop_ca_bundle_path, &pop, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "node_attestors.x509pop.ca_bundle_path");
                x509pop_free(pop);
        }
        return 0;
}
