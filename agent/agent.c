/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sigil-agent run`: load the configuration, take the data directory's
 * lock, establish the agent's identity (agent-identity.c), then start, in
 * this order, the rotator (SVIDs of the cache's entries), the sync stream
 * (entries and bundles into the cache) and the services (admin API,
 * Workload API). The main thread then waits for signals, for a worker's
 * report that the server refused our identity, and for the agent SVID's
 * renewal time. SIGTERM/SIGINT stop everything in reverse order and exit 0;
 * an identity that cannot be recovered exits 1.
 *
 * Signals are blocked in every thread and read from a signalfd by the main
 * loop only; workers wake it through an eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent-private.h"
#include "debug-api.h"
#include "fileio.h"
#include "node-attest.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "process-util.h"
#include "sigil/log.h"
#include "ssl-util.h"

#define AGENT_LOCK_FILE "agent.lock"

const AgentConfig *agent_config(Agent *a) {
        return a->cfg;
}

Cache *agent_cache(Agent *a) {
        return a->cache;
}

int agent_wait(Agent *a, uint64_t usec) {
        struct pollfd p[2] = {
                { .fd = a->signal_fd, .events = POLLIN },
                { .fd = a->event_fd, .events = POLLIN },
        };
        int timeout = usec >= (uint64_t) INT32_MAX * USEC_PER_MSEC ? INT32_MAX :
                      (int) ((usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
        struct signalfd_siginfo si;
        uint64_t v;

        if (poll(p, ELEMENTSOF(p), timeout) <= 0)
                return 0;
        if (p[1].revents & POLLIN)
                (void) !read(a->event_fd, &v, sizeof(v));
        if (!(p[0].revents & POLLIN) || read(a->signal_fd, &si, sizeof(si)) != sizeof(si))
                return 0;
        if (si.ssi_signo == SIGHUP) {
                log_info("SIGHUP: configuration reload is not supported; restart to apply "
                         "changes");
                return 0;
        }
        log_info("received %s, shutting down", strsignal((int) si.ssi_signo));
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_mutex_unlock(&a->lock);
        return AGENT_E_STOP;
}

void agent_note_rejected(void *userdata, const char *reason) {
        Agent *a = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&a->lock);
        if (!a->rejected)
                (void) snprintf(a->reject_reason, sizeof(a->reject_reason), "%s", reason);
        a->rejected = true;
        pthread_mutex_unlock(&a->lock);
        (void) !write(a->event_fd, &one, sizeof(one));
}

static void on_bundle_changed(void *userdata, const SigilBundle *b) {
        Agent *a = userdata;
        int r = agent_state_store_bundle(a->cfg->data_dir, b);

        if (r < 0)
                log_warning_errno(r, "Failed to store the new bundle: %m");
        log_info("trust bundle updated (sequence %llu, %d X.509 authorities)",
                 (unsigned long long) b->sequence, sk_X509_num(b->x509_authorities));
}

/* ---- the admin API's view of the agent ---- */

static int agent_debug_info(void *userdata, bool with_entries, AgentInfo *ret) {
        Agent *a = userdata;
        AgentInfo *info = ret;
        SyncClient *sync;
        int r;

        *info = (AgentInfo) {};
        (void) snprintf(info->trust_domain, sizeof(info->trust_domain), "%s",
                        a->cfg->trust_domain);
        pthread_mutex_lock(&a->lock);
        if (a->identity) {
                (void) snprintf(info->agent_id, sizeof(info->agent_id), "%s",
                                a->identity->id.str);
                memcpy(info->agent_serial, a->identity->serial, sizeof(info->agent_serial));
                info->agent_not_after = a->identity->not_after;
                info->agent_renew_at = a->renew_at_usec / USEC_PER_SEC;
        }
        info->n_attestations = a->n_attestations;
        sync = a->sync;         /* set once; freed only after the admin API stopped */
        pthread_mutex_unlock(&a->lock);
        if (sync)
                sync_client_get_status(sync, &info->sync);
        r = cache_get_info(a->cache, with_entries, &info->cache);
        return r;
}

int agent_debug_service_start(Agent *a, void **ret_state, SigilErr *reterr) {
        DebugApi *api = NULL;
        int r;

        r = debug_api_start(a->cfg->admin_socket_path, agent_debug_info, a, &api, reterr);
        if (r < 0)
                return r;
        *ret_state = api;
        return 0;
}

void agent_debug_service_stop(void *state) {
        debug_api_stop(state);
}

/* ---- JWT-SVIDs for the Workload API ---- */

int agent_mint_jwt(void *userdata, const char *entry_id, const char *const *aud, size_t n_aud,
                   char **ret_token, uint64_t *ret_expires, SigilErr *reterr) {
        Sigil__Agent__V1__NewJWTSVIDRequest req = SIGIL__AGENT__V1__NEW_JWTSVIDREQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        const Sigil__Agent__V1__NewJWTSVIDResponse *resp;
        Agent *a = userdata;
        int r;

        if (isempty(entry_id) || n_aud == 0)
                return sigil_err_set(reterr, -EINVAL, "an entry and an audience are required");
        req.entry_id = (char *) entry_id;
        req.audience = (char **) aud;
        req.n_audience = n_aud;
        r = server_client_call(a->sc, false, "/sigil.agent.v1.Node/NewJWTSVID", &req.base,
                               &sigil__agent__v1__new_jwtsvidresponse__descriptor, &msg, reterr);
        if (r == SERVER_E_UNAVAILABLE)
                return -EAGAIN;
        if (r == SERVER_E_DENIED)
                return -EPERM;
        if (r == SERVER_E_FAILED)
                return -EINVAL;
        if (r < 0)
                return r;
        resp = (const void *) msg;
        if (isempty(resp->token) || resp->expires_at <= 0)
                return sigil_err_set(reterr, -EINVAL, "the server sent no token");
        *ret_token = strdup(resp->token);
        if (!*ret_token)
                return -ENOMEM;
        OPENSSL_cleanse(resp->token, strlen(resp->token));
        *ret_expires = (uint64_t) resp->expires_at;
        return 0;
}

/* ---- start and stop ---- */

static int take_lock(Agent *a) {
        char path[4096];

        (void) snprintf(path, sizeof(path), "%s/" AGENT_LOCK_FILE, a->cfg->data_dir);
        a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (a->lock_fd < 0)
                return log_error_errno(-errno, "Failed to open '%s': %m", path);
        if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return log_error_errno(-errno, "Data directory '%s' is in use by another "
                                       "sigil-agent", a->cfg->data_dir);
        return 0;
}

static int start_workers(Agent *a) {
        RotatorConfig rc = {
                .cache = a->cache,
                .sc = a->sc,
                .key_type = a->cfg->svid_key_type,
                .rejected = agent_note_rejected,
                .userdata = a,
        };
        SyncCallbacks cbs = {
                .rejected = agent_note_rejected,
                .bundle_changed = on_bundle_changed,
                .userdata = a,
        };
        SyncClient *sync = NULL;
        int r;

        r = rotator_start(&rc, &a->rotator);
        if (r < 0)
                return log_error_errno(r, "Failed to start the rotator: %m");
        r = sync_client_start(a->sc, a->cache, a->cfg->sync_retry_max, &cbs, &sync);
        if (r < 0)
                return log_error_errno(r, "Failed to start the sync stream: %m");
        pthread_mutex_lock(&a->lock);
        a->sync = sync;
        pthread_mutex_unlock(&a->lock);
        return 0;
}

static int start_services(Agent *a, bool before_identity) {
        if (!a->service_states) {
                a->service_states = new0(void *, agent_n_services);
                a->services_started = new0(size_t, agent_n_services);
                if (!a->service_states || !a->services_started)
                        return log_oom();
        }
        for (size_t i = 0; i < agent_n_services; i++) {
                SigilErr err = {};
                int r;

                if (agent_services[i].before_identity != before_identity)
                        continue;
                r = agent_services[i].start(a, &a->service_states[i], &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the %s: %s",
                                               agent_services[i].name,
                                               err.msg[0] ? err.msg : strerror(-r));
                a->services_started[a->n_services_started++] = i;
        }
        return 0;
}

/* Return: 0, AGENT_E_STOP, AGENT_E_FATAL. */
static int agent_start(Agent *a) {
        char tls_dir[4096];
        int r;

        r = mkdir_p(a->cfg->data_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Failed to create data directory '%s': %m", a->cfg->data_dir);
                return AGENT_E_FATAL;
        }
        if (take_lock(a) < 0)
                return AGENT_E_FATAL;
        r = cache_new(a->cfg->trust_domain, &a->cache);
        if (r < 0) {
                log_oom();
                return AGENT_E_FATAL;
        }
        (void) snprintf(tls_dir, sizeof(tls_dir), "%s/tls", a->cfg->data_dir);
        r = server_client_new(a->cfg->server_address, a->cfg->server_port, a->cfg->trust_domain,
                              tls_dir, a->cfg->insecure_bootstrap, &a->sc);
        if (r < 0) {
                log_error_errno(r, "Failed to set up TLS in '%s': %m", tls_dir);
                return AGENT_E_FATAL;
        }
        if (start_services(a, true) < 0)
                return AGENT_E_FATAL;
        r = agent_identity_establish(a);
        if (r != 0)
                return r;
        if (start_workers(a) < 0 || start_services(a, false) < 0)
                return AGENT_E_FATAL;
        return 0;
}

static void agent_stop(Agent *a) {
        /* Nothing waits for the server from now on: a hung call would hold up the stop. */
        if (a->sc)
                server_client_shutdown(a->sc);
        for (size_t i = a->n_services_started; i > 0; i--) {
                size_t k = a->services_started[i - 1];

                agent_services[k].stop(a->service_states[k]);
        }
        free(a->service_states);
        free(a->services_started);
        sync_client_stop(a->sync);
        rotator_stop(a->rotator);
        server_client_free(a->sc);
        cache_free(a->cache);
        agent_identity_free(a->identity);
        if (a->lock_fd >= 0)
                (void) close(a->lock_fd);
        if (a->signal_fd >= 0)
                (void) close(a->signal_fd);
        if (a->event_fd >= 0)
                (void) close(a->event_fd);
        pthread_mutex_destroy(&a->lock);
}

/* The main loop. Return: 0 (stopped by a signal) or AGENT_E_FATAL. */
static int agent_loop(Agent *a) {
        for (;;) {
                char reason[AGENT_REJECT_REASON_MAX] = "";
                uint64_t now = sigil_now_usec(), next = agent_identity_next_usec(a);
                bool rejected;
                int k;

                k = agent_wait(a, next > now ? next - now : 0);
                if (k == AGENT_E_STOP)
                        return 0;
                pthread_mutex_lock(&a->lock);
                rejected = a->rejected;
                if (rejected)
                        memcpy(reason, a->reject_reason, sizeof(reason));
                a->rejected = false;
                pthread_mutex_unlock(&a->lock);
                k = rejected ? agent_identity_recover(a, reason) : 0;
                if (k == 0)
                        k = agent_identity_tick(a);
                if (k == AGENT_E_STOP)
                        return 0;
                if (k == AGENT_E_FATAL)
                        return k;
        }
}

static int setup_logging(const AgentConfig *c) {
        int r;

        sigil_log_setup("sigil-agent", c->log_level, c->log_format);
        if (c->log_file) {
                r = sigil_log_open_file(c->log_file);
                if (r < 0)
                        return log_error_errno(r, "Failed to open log file '%s': %m", c->log_file);
        }
        return 0;
}

static int setup_fds(Agent *a) {
        sigset_t mask;

        /* Block the signals before any thread starts, so that only the signalfd sees them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        a->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        a->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (a->signal_fd < 0 || a->event_fd < 0)
                return log_error_errno(-errno, "Failed to set up signal handling: %m");
        return 0;
}

/* The configuration; errors are printed here. Return: 0, AGENT_CONFIG_E_* or negative errno. */
static int load_config(int argc, char *argv[], bool need_file, AgentConfig **ret) {
        SigilErr err = {};
        int r;

        r = agent_config_load(argc, argv, need_file, ret, &err);
        if (r == AGENT_CONFIG_E_USAGE) {
                fprintf(stderr, "sigil-agent: %s\n\n", err.msg);
                agent_config_usage(stderr);
        } else if (r < 0)
                fprintf(stderr, "sigil-agent: %s\n", err.msg[0] ? err.msg : strerror(-r));
        return r;
}

/* The exit status for a load_config() failure: 0 after -h, 2 for a usage error, else 1. */
static int load_config_exit_status(int r) {
        return r == AGENT_CONFIG_E_HELP ? 0 : r == AGENT_CONFIG_E_USAGE ? 2 : 1;
}

int agent_run(int argc, char *argv[]) {
        _cleanup_(agent_config_freep) AgentConfig *cfg = NULL;
        Agent a = { .lock_fd = -1, .signal_fd = -1, .event_fd = -1 };
        int r;

        r = load_config(argc, argv, false, &cfg);
        if (r != 0)
                return load_config_exit_status(r);
        if (setup_logging(cfg) < 0)
                return 1;
        rpc_route_grpc_logs();
        (void) process_raise_nofile(NULL);
        a.cfg = cfg;
        a.renew_backoff = BACKOFF_INIT(AGENT_RENEW_RETRY_MIN_USEC, AGENT_RENEW_RETRY_MAX_USEC);
        pthread_mutex_init(&a.lock, NULL);
        r = setup_fds(&a);
        if (r == 0)
                r = agent_start(&a);
        if (r == 0) {
                log_info("sigil-agent %s running for trust domain '%s' (server %s:%u, admin "
                         "socket '%s')", SIGIL_VERSION, cfg->trust_domain, cfg->server_address,
                         (unsigned) cfg->server_port, cfg->admin_socket_path);
                r = agent_loop(&a);
        }
        agent_stop(&a);
        log_info("sigil-agent stopped");
        return r == 0 || r == AGENT_E_STOP ? 0 : 1;
}

/* What validate can check beyond the syntax: the files the configuration names. */
static int validate_files(const AgentConfig *cfg, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *pem = NULL;
        size_t n;
        int r;

        if (agent_config_uses_x509pop(cfg)) {
                r = node_attest_load_x509pop(cfg, &chain, &key, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "node_attestor.x509pop");
        }
        if (!cfg->trust_bundle_path)
                return 0;
        r = read_full_file(cfg->trust_bundle_path, SIGIL_BUNDLE_JSON_MAX, &pem, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read the trust bundle '%s': %s",
                                     cfg->trust_bundle_path, strerror(-r));
        r = sigil_bundle_from_pem(cfg->trust_domain, pem, n, &b, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "trust bundle '%s'", cfg->trust_bundle_path);
        return 0;
}

int agent_validate(int argc, char *argv[]) {
        _cleanup_(agent_config_freep) AgentConfig *cfg = NULL;
        SigilErr err = {};
        int r;

        r = load_config(argc, argv, true, &cfg);
        if (r != 0)
                return load_config_exit_status(r);
        r = validate_files(cfg, &err);
        if (r < 0) {
                fprintf(stderr, "sigil-agent: %s\n", err.msg[0] ? err.msg : strerror(-r));
                return 1;
        }
        printf("Configuration is valid.\n");
        return 0;
}
