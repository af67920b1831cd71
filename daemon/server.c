/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sigil-server run`: load the configuration, take the data directory's
 * lock, open the datastore, start the CA manager and the APIs, then wait
 * for signals while keeping time for the CA (rotation), the bundle and
 * housekeeping. SIGTERM/SIGINT: stop accepting, let in-flight calls finish,
 * close the database. `sigil-server validate` checks a configuration only.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-api.h"
#include "fileio.h"
#include "server-state.h"
#include "server.h"
#include "sync-hub.h"
#include "sigil/clock.h"
#include "process-util.h"
#include "sigil/log.h"

#define HOUSEKEEPING_SEC 30

static int bundle_load_stored(Server *s, SigilBundle **ret) {
        _cleanup_(freep) char *json = NULL;
        int r;

        r = ds_bundle_get(s->ds, s->cfg->trust_domain, &json);
        if (r != 0)
                return r < 0 ? r : 0;
        r = sigil_bundle_from_spiffe_json(s->cfg->trust_domain, json, strlen(json), ret, NULL);
        if (r < 0)
                log_warning("stored bundle of '%s' does not parse; publishing a new one",
                            s->cfg->trust_domain);
        return 0;
}

int server_bundle_refresh(Server *s) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *json = NULL;
        int r;

        r = ca_get_bundle(s->ca, &b);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->bundle_lock);
        if (!s->bundle)
                (void) bundle_load_stored(s, &s->bundle);
        if (s->bundle && sigil_bundle_equal_authorities(s->bundle, b)) {
                pthread_mutex_unlock(&s->bundle_lock);
                return 0;
        }
        b->sequence = (s->bundle ? s->bundle->sequence : 0) + 1;
        b->refresh_hint_sec = SERVER_BUNDLE_REFRESH_HINT_SEC;
        r = sigil_bundle_to_spiffe_json(b, &json);
        if (r >= 0)
                r = ds_bundle_put(s->ds, s->cfg->trust_domain, json);
        if (r >= 0) {
                sigil_bundle_free(s->bundle);
                s->bundle = TAKE_PTR(b);
                sigil_audit("sigil-server", "bundle.update", s->cfg->trust_domain, "ok",
                            "sequence=%llu", (unsigned long long) s->bundle->sequence);
        }
        pthread_mutex_unlock(&s->bundle_lock);
        return r < 0 ? r : 1;
}

int server_bundle_get(Server *s, SigilBundle **ret) {
        int r;

        pthread_mutex_lock(&s->bundle_lock);
        r = sigil_bundle_copy(s->bundle, ret);
        pthread_mutex_unlock(&s->bundle_lock);
        return r;
}

static int take_lock(Server *s) {
        char path[4096];

        (void) snprintf(path, sizeof(path), "%s/server.lock", s->cfg->data_dir);
        s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0)
                return log_error_errno(-errno, "Failed to open '%s': %m", path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return log_error_errno(-errno,
                                       "Data directory '%s' is in use by another sigil-server",
                                       s->cfg->data_dir);
        return 0;
}

static int start_ca(Server *s) {
        char keys_dir[4096];
        SigilErr err = {};
        CaConfig cc = {
                .trust_domain = s->cfg->trust_domain,
                .key_type = s->cfg->ca_key_type,
                .jwt_key_type = s->cfg->jwt_key_type,
                .ca_ttl_sec = s->cfg->ca_ttl / USEC_PER_SEC,
                .subject = s->cfg->ca_subject,
                .upstream_cert_path = s->cfg->upstream_cert_file,
                .upstream_key_path = s->cfg->upstream_key_file,
                .upstream_bundle_path = s->cfg->upstream_bundle_file,
                .default_x509_ttl_sec = s->cfg->default_x509_svid_ttl / USEC_PER_SEC,
                .default_jwt_ttl_sec = s->cfg->default_jwt_svid_ttl / USEC_PER_SEC,
                .jwt_issuer = s->cfg->jwt_issuer,
        };
        int r;

        (void) snprintf(keys_dir, sizeof(keys_dir), "%s/keys", s->cfg->data_dir);
        if (streq(s->cfg->key_manager, "disk"))
                cc.keys_dir = keys_dir;
        r = ca_new(&cc, sigil_now_sec(), &s->ca, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to start the CA: %s", err.msg);
        r = server_bundle_refresh(s);
        if (r < 0)
                return log_error_errno(r, "Failed to publish the trust bundle: %m");
        return 0;
}

static void agent_gone(Server *s, const char *agent_id) {
        if (s->hub)
                sync_hub_disconnect(s->hub, agent_id, "agent evicted or banned");
}

/* The registry, the sync hub, node attestors and the agent API (TLS). */
static int start_agent_side(Server *s) {
        SigilErr err = {};
        int r;

        r = registry_new(s->cfg->trust_domain, &s->registry);
        if (r == 0)
                r = registry_load(s->registry, s->ds);
        if (r < 0)
                return log_error_errno(r, "Failed to load registration entries: %m");
        r = sync_hub_new(s, &s->hub);
        if (r == 0)
                r = rate_limit_new(AGENT_ATTEST_BURST, AGENT_ATTEST_PER_MINUTE, &s->attest_limit);
        if (r < 0)
                return log_oom();
        registry_set_listener(s->registry, sync_hub_on_entry, s->hub);
        s->on_agent_gone = agent_gone;
        if (s->cfg->x509pop_ca_bundle_path) {
                r = x509pop_new(s->cfg->x509pop_ca_bundle_path, &s->x509pop, &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up x509pop: %s", err.msg);
        }
        r = server_tls_start(s, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to make the server SVID: %s", err.msg);
        r = agent_api_start(s, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to start the agent API: %s", err.msg);
        log_info("agent API listening on %s port %d (%zu entries loaded)", s->cfg->bind_address,
                 s->agent_api_port, registry_size(s->registry));
        return 0;
}

static int server_start(Server *s) {
        SigilErr err = {};
        int r;

        r = mkdir_p(s->cfg->data_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create data directory '%s': %m",
                                       s->cfg->data_dir);
        r = take_lock(s);
        if (r < 0)
                return r;
        r = datastore_open(s->cfg->datastore_path, &s->ds, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to open datastore '%s': %s",
                                       s->cfg->datastore_path, err.msg);
        r = start_ca(s);
        if (r < 0)
                return r;
        r = start_agent_side(s);
        if (r < 0)
                return r;
        r = admin_api_start(s, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to start the admin API on '%s': %s",
                                       s->cfg->socket_path, err.msg);
        return 0;
}

static void housekeeping(Server *s, uint64_t now) {
        size_t n = 0;

        if (ds_token_prune(s->ds, (int64_t) now, &n) == 0 && n > 0)
                log_info("pruned %zu expired join token(s)", n);
        n = 0;
        if (ds_entry_prune_expired(s->ds, (int64_t) now, &n) == 0 && n > 0)
                sigil_audit("sigil-server", "entry.expire", NULL, "ok", "count=%zu", n);
        if (s->registry)
                (void) registry_prune_expired(s->registry, (int64_t) now);
}

static void tick(Server *s, uint64_t *next_housekeeping) {
        uint64_t now = sigil_now_sec();
        SigilErr err = {};
        int r;

        r = ca_tick(s->ca, now, &err);
        if (r < 0)
                log_error("CA rotation failed, will retry: %s", err.msg);
        else if (r > 0) {
                r = server_bundle_refresh(s);
                if (r < 0)
                        log_error("Failed to publish the rotated bundle, will retry");
                else if (r > 0)
                        server_bundle_changed(s);
        }
        (void) server_tls_tick(s, now);
        if (now >= *next_housekeeping) {
                housekeeping(s, now);
                *next_housekeeping = now + HOUSEKEEPING_SEC;
        }
}

static int wait_for_signal(Server *s, const sigset_t *mask) {
        uint64_t next_housekeeping = 0;

        for (;;) {
                uint64_t wait = MIN(ca_next_event(s->ca, sigil_now_sec()), (uint64_t) 5);
                struct timespec ts = { .tv_sec = (time_t) wait };
                int sig = sigtimedwait(mask, NULL, &ts);

                if (sig == SIGTERM || sig == SIGINT) {
                        log_info("received %s, shutting down", strsignal(sig));
                        return 0;
                }
                if (sig == SIGHUP)
                        log_info("SIGHUP: configuration reload is not supported; restart to "
                                 "apply changes");
                tick(s, &next_housekeeping);
        }
}

static void server_stop(Server *s) {
        agent_api_stop(s);
        admin_api_stop(s);
        if (s->registry)
                registry_set_listener(s->registry, NULL, NULL);
        sync_hub_free(s->hub);
        registry_free(s->registry);
        rpc_tls_identity_unref(s->tls);
        x509pop_free(s->x509pop);
        rate_limit_free(s->attest_limit);
        ca_free(s->ca);
        datastore_close(s->ds);
        sigil_bundle_free(s->bundle);
        if (s->lock_fd >= 0)
                (void) close(s->lock_fd);
        pthread_mutex_destroy(&s->bundle_lock);
}

static int setup_logging(const ServerConfig *c) {
        int r;

        sigil_log_setup("sigil-server", c->log_level, c->log_format);
        if (c->log_file) {
                r = sigil_log_open_file(c->log_file);
                if (r < 0)
                        return log_error_errno(r, "Failed to open log file '%s': %m", c->log_file);
        }
        if (c->audit_log_file) {
                r = sigil_log_open_audit_file(c->audit_log_file);
                if (r < 0)
                        return log_error_errno(r, "Failed to open audit log '%s': %m",
                                               c->audit_log_file);
        }
        return 0;
}

/*
 * The configuration and the files it names, for run and validate alike; errors are printed
 * here. Return: 0, SERVER_CONFIG_E_HELP, SERVER_CONFIG_E_USAGE or negative errno.
 */
static int load_config(int argc, char *argv[], bool need_file, ServerConfig **ret) {
        _cleanup_(server_config_freep) ServerConfig *cfg = NULL;
        SigilErr err = {};
        int r;

        r = server_config_load(argc, argv, need_file, &cfg, &err);
        if (r == SERVER_CONFIG_E_HELP)
                return r;
        if (r == SERVER_CONFIG_E_USAGE) {
                fprintf(stderr, "sigil-server: %s\n\n", err.msg);
                server_config_usage(stderr);
                return r;
        }
        if (r == 0)
                r = server_config_check_files(cfg, &err);
        if (r < 0) {
                fprintf(stderr, "sigil-server: %s\n", err.msg[0] ? err.msg : strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(cfg);
        return 0;
}

/* The exit status for a load_config() failure: 0 after -h, 2 for a usage error, else 1. */
static int load_config_exit_status(int r) {
        return r == SERVER_CONFIG_E_HELP ? 0 : r == SERVER_CONFIG_E_USAGE ? 2 : 1;
}

int server_run(int argc, char *argv[]) {
        _cleanup_(server_config_freep) ServerConfig *cfg = NULL;
        Server s = { .lock_fd = -1 };
        sigset_t mask;
        int r;

        r = load_config(argc, argv, false, &cfg);
        if (r != 0)
                return load_config_exit_status(r);
        r = setup_logging(cfg);
        if (r < 0)
                return 1;
        rpc_route_grpc_logs();
        (void) process_raise_nofile(NULL);

        /* Signals are taken by the main loop only: block them before any thread starts. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        s.cfg = cfg;
        pthread_mutex_init(&s.bundle_lock, NULL);
        r = server_start(&s);
        if (r == 0) {
                log_info("sigil-server %s serving trust domain '%s'; admin socket '%s'",
                         SIGIL_VERSION, cfg->trust_domain, cfg->socket_path);
                r = wait_for_signal(&s, &mask);
        }
        server_stop(&s);
        log_info("sigil-server stopped");
        return r < 0 ? 1 : 0;
}

int server_validate(int argc, char *argv[]) {
        _cleanup_(server_config_freep) ServerConfig *cfg = NULL;
        int r;

        r = load_config(argc, argv, true, &cfg);
        if (r != 0)
                return load_config_exit_status(r);
        printf("Configuration is valid.\n");
        return 0;
}
