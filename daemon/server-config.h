/* SPDX-License-Identifier: Apache-2.0 */
/* server-config.h - sigil-server's configuration: JSON file, then flags, then checks */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "sigil/error.h"
#include "sigil/keys.h"
#include "sigil/log.h"

#define SERVER_DEFAULT_SOCKET "/tmp/sigil-server/private/api.sock"
#define SERVER_DEFAULT_DATA_DIR "/var/lib/sigil/server"
#define SERVER_DEFAULT_BIND_ADDRESS "0.0.0.0"
#define SERVER_DEFAULT_BIND_PORT 8081
#define SERVER_ADMIN_UIDS_MAX 64

typedef struct UidList {
        int64_t *uids;
        size_t n_uids;
} UidList;

typedef struct ServerConfig {
        char *config_path;              /* NULL when none was given */

        /* "server" section */
        char *trust_domain;
        char *data_dir;
        char *socket_path;
        char *bind_address;
        uint16_t bind_port;
        SigilLogLevel log_level;
        SigilLogFormat log_format;
        char *log_file;
        char *audit_log_file;
        UidList admin_uids;
        uint64_t default_x509_svid_ttl; /* microseconds, like every duration */
        uint64_t default_jwt_svid_ttl;
        uint64_t agent_svid_ttl;
        uint64_t join_token_ttl;
        SigilKeyType ca_key_type;
        SigilKeyType jwt_key_type;
        uint64_t ca_ttl;
        char *ca_subject;
        char *jwt_issuer;
        uint64_t shutdown_grace;

        /* "datastore" section */
        char *datastore_type;           /* "sqlite" */
        char *datastore_path;           /* default <data_dir>/datastore.sqlite3 */

        char *key_manager;              /* "disk" (default) or "memory" */

        /* "upstream_authority": { "disk": { ... } } */
        char *upstream_cert_file;
        char *upstream_key_file;
        char *upstream_bundle_file;

        /* "node_attestors" */
        bool join_token_enabled;
        char *x509pop_ca_bundle_path;
} ServerConfig;

/* server_config_load()'s results besides 0 and negative errno. */
enum {
        SERVER_CONFIG_E_HELP = 1,       /* -h given: usage printed on stdout */
        SERVER_CONFIG_E_USAGE,          /* unknown flag, stray argument, missing -config */
};

/**
 * server_config_load() - defaults, then the file named by -config (if any), then flags
 * @argc:       argument count (argv[0] is the subcommand name)
 * @argv:       arguments
 * @need_file:  whether -config is required (validate)
 * @ret:        on success, the checked configuration
 * @reterr:     on failure, one line naming the key or flag at fault
 *
 * Return: 0, SERVER_CONFIG_E_HELP, SERVER_CONFIG_E_USAGE (the caller prints the reason in
 * @reterr and the usage), -EINVAL (bad config or flag value; reason in @reterr), or negative
 * errno.
 */
int server_config_load(int argc, char *argv[], bool need_file, ServerConfig **ret,
                       SigilErr *reterr);

/**
 * server_config_check_files() - read and check the files the configuration names
 * @c:          a configuration from server_config_load()
 * @reterr:     on failure, one line naming the key at fault
 *
 * The upstream authority's certificate, key (which must match it and may sign certificates)
 * and bundle (the certificate must chain to it), and x509pop's CA bundle, checked as the CA
 * and the attestor will use them.
 *
 * Return: 0, -EINVAL or negative errno.
 */
int server_config_check_files(const ServerConfig *c, SigilErr *reterr);

/* The usage of `sigil-server run` and `validate`. */
void server_config_usage(FILE *f);

ServerConfig *server_config_free(ServerConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServerConfig *, server_config_free)

/* Whether @uid may use the admin API: root, the server's own uid, or listed. */
bool server_config_admin_allowed(const ServerConfig *c, uid_t uid);
