/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Channels to sigil-server (server-client.h). The agent channel is
 * reference-counted so a caller in the middle of a call keeps it alive while
 * another thread replaces it; replacing never blocks on a call in progress.
 *
 * Channel arguments: gRPC's own reconnect backoff is capped low (the agent
 * has its own, with jitter, and must notice a returning server quickly),
 * and messages up to SERVER_MESSAGE_MAX are accepted (a full signing batch).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "list.h"
#include "rpc-tls.h"
#include "server-client.h"
#include "sigil/clock.h"
#include "sigil/log.h"

#define SERVER_MESSAGE_MAX (64 * 1024 * 1024)
#define RECONNECT_BACKOFF_MIN_MS 200
#define RECONNECT_BACKOFF_MAX_MS 2000

struct ServerChannel {
        atomic_uint n_ref;
        RpcClient *rpc;
        ServerClient *sc;
        ServerChannel *live_prev, *live_next;   /* sc->live, under sc->live_lock */
};

struct ServerClient {
        char *target;                   /* "host:port" */
        SigilSpiffeId server_id;
        bool insecure_bootstrap;
        RpcTlsIdentity *agent_id;       /* presents the agent SVID */
        RpcTlsIdentity *anon_id;        /* presents nothing (attestation) */

        /* Every channel alive (current, replaced but still in use, anonymous): a leaf lock. */
        pthread_mutex_t live_lock;
        ServerChannel *live;
        bool closing;                   /* server_client_shutdown(): no new channels */

        pthread_mutex_t lock;
        bool has_bundle;
        bool has_svid;
        unsigned n_svids_set;
        uint64_t settle_until_usec;     /* monotonic: no channel before (new SVID loading) */
        ServerChannel *channel;
};

static ServerChannel *channel_ref(ServerChannel *ch) {
        atomic_fetch_add(&ch->n_ref, 1);
        return ch;
}

void server_channel_unref(ServerChannel *ch) {
        ServerClient *sc;

        if (!ch || atomic_fetch_sub(&ch->n_ref, 1) != 1)
                return;
        sc = ch->sc;
        pthread_mutex_lock(&sc->live_lock);
        LIST_REMOVE(live_prev, live_next, sc->live, ch);   /* every channel made is listed */
        pthread_mutex_unlock(&sc->live_lock);
        rpc_client_free(ch->rpc);
        free(ch);
}

void server_client_shutdown(ServerClient *sc) {
        pthread_mutex_lock(&sc->live_lock);
        sc->closing = true;
        for (ServerChannel *ch = sc->live; ch; ch = ch->live_next)
                rpc_client_cancel(ch->rpc);
        pthread_mutex_unlock(&sc->live_lock);
}

RpcClient *server_channel_rpc(ServerChannel *ch) {
        return ch->rpc;
}

static int make_target(const char *address, uint16_t port, char **ret) {
        bool v6 = strchr(address, ':') != NULL;
        size_t n = strlen(address) + 16;
        char *t = malloc(n);

        if (!t)
                return -ENOMEM;
        (void) snprintf(t, n, v6 ? "[%s]:%u" : "%s:%u", address, (unsigned) port);
        *ret = t;
        return 0;
}

int server_client_new(const char *address, uint16_t port, const char *trust_domain,
                      const char *tls_dir, bool insecure_bootstrap, ServerClient **ret) {
        _cleanup_(server_client_freep) ServerClient *sc = NULL;
        char anon_dir[4096];
        int r;

        sc = new0(ServerClient, 1);
        if (!sc)
                return -ENOMEM;
        pthread_mutex_init(&sc->live_lock, NULL);
        pthread_mutex_init(&sc->lock, NULL);
        sc->insecure_bootstrap = insecure_bootstrap;
        r = make_target(address, port, &sc->target);
        if (r < 0)
                return r;
        r = sigil_spiffeid_from_parts(trust_domain, "/sigil/server", &sc->server_id, NULL);
        if (r < 0)
                return r;
        r = rpc_tls_identity_new(tls_dir, &sc->agent_id);
        if (r < 0)
                return r;
        (void) snprintf(anon_dir, sizeof(anon_dir), "%s/bootstrap", tls_dir);
        r = rpc_tls_identity_new(anon_dir, &sc->anon_id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(sc);
        return 0;
}

ServerClient *server_client_free(ServerClient *sc) {
        if (!sc)
                return NULL;
        server_channel_unref(sc->channel);
        assert(!sc->live);      /* every user of a channel is gone before the client */
        rpc_tls_identity_unref(sc->agent_id);
        rpc_tls_identity_unref(sc->anon_id);
        pthread_mutex_destroy(&sc->lock);
        pthread_mutex_destroy(&sc->live_lock);
        free(sc->target);
        free(sc);
        return NULL;
}

int server_client_set_bundle(ServerClient *sc, const SigilBundle *b) {
        SigilBundleSet set = { .bundles = (SigilBundle **) &b, .n_bundles = 1 };
        int r;

        r = rpc_tls_identity_set_bundles(sc->agent_id, &set);
        if (r >= 0)
                r = rpc_tls_identity_set_bundles(sc->anon_id, &set);
        if (r < 0)
                return r;
        pthread_mutex_lock(&sc->lock);
        sc->has_bundle = true;
        pthread_mutex_unlock(&sc->lock);
        return 0;
}

int server_client_set_svid(ServerClient *sc, EVP_PKEY *key, STACK_OF(X509) *chain,
                           SigilErr *reterr) {
        ServerChannel *old;
        int r;

        r = rpc_tls_identity_set_svid(sc->agent_id, key, chain, reterr);
        if (r < 0)
                return r;
        pthread_mutex_lock(&sc->lock);
        /* The file watcher made for an earlier SVID needs a refresh to see this one. */
        if (sc->n_svids_set++ > 0)
                sc->settle_until_usec = sigil_monotonic_usec() + SERVER_SVID_SETTLE_USEC;
        sc->has_svid = true;
        old = TAKE_PTR(sc->channel);
        pthread_mutex_unlock(&sc->lock);
        server_channel_unref(old);
        return 0;
}

static const grpc_channel_args *channel_args(void) {
        static grpc_arg args[] = {
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                  .value.integer = RECONNECT_BACKOFF_MIN_MS },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                  .value.integer = RECONNECT_BACKOFF_MIN_MS },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                  .value.integer = RECONNECT_BACKOFF_MAX_MS },
                { .type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                  .value.integer = SERVER_MESSAGE_MAX },
        };
        static const grpc_channel_args set = { .num_args = ELEMENTSOF(args), .args = args };

        return &set;
}

static int channel_new(ServerClient *sc, grpc_channel_credentials *creds, ServerChannel **ret) {
        ServerChannel *ch = new0(ServerChannel, 1);
        int r;

        if (!ch)
                return -ENOMEM;
        atomic_init(&ch->n_ref, 1);
        ch->sc = sc;
        r = rpc_client_new_with_args(sc->target, creds, channel_args(), &ch->rpc);
        if (r < 0) {
                free(ch);
                return r;
        }
        pthread_mutex_lock(&sc->live_lock);
        if (!sc->closing)
                LIST_PREPEND(live_prev, live_next, sc->live, ch);
        r = sc->closing ? -ESHUTDOWN : 0;
        pthread_mutex_unlock(&sc->live_lock);
        if (r < 0) {
                rpc_client_free(ch->rpc);
                free(ch);
                return r;
        }
        *ret = ch;
        return 0;
}

static void sleep_until_monotonic(uint64_t until) {
        for (uint64_t now = sigil_monotonic_usec(); now < until; now = sigil_monotonic_usec()) {
                uint64_t d = until - now;
                struct timespec ts = { .tv_sec = (time_t) (d / USEC_PER_SEC),
                                       .tv_nsec = (long) (d % USEC_PER_SEC) * 1000 };

                (void) nanosleep(&ts, NULL);
        }
}

int server_client_channel(ServerClient *sc, ServerChannel **ret) {
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        ServerChannel *ch = NULL;
        uint64_t settle;
        int r;

        pthread_mutex_lock(&sc->lock);
        settle = sc->settle_until_usec;
        r = sc->has_svid ? 0 : -ENOKEY;
        pthread_mutex_unlock(&sc->lock);
        if (r < 0)
                return r;
        sleep_until_monotonic(settle);

        pthread_mutex_lock(&sc->lock);
        if (!sc->channel) {
                r = rpc_tls_client_credentials(sc->agent_id, &sc->server_id, &creds);
                if (r >= 0)
                        r = channel_new(sc, creds, &sc->channel);
        }
        if (r >= 0)
                ch = channel_ref(sc->channel);
        pthread_mutex_unlock(&sc->lock);
        if (r < 0)
                return r;
        *ret = ch;
        return 0;
}

void server_client_reset_channel(ServerClient *sc, ServerChannel *failed) {
        ServerChannel *old = NULL;

        pthread_mutex_lock(&sc->lock);
        if (sc->channel && (!failed || sc->channel == failed))
                old = TAKE_PTR(sc->channel);
        pthread_mutex_unlock(&sc->lock);
        server_channel_unref(old);
}

int server_status_class(grpc_status_code code) {
        switch (code) {
        case GRPC_STATUS_OK:
                return 0;
        case GRPC_STATUS_PERMISSION_DENIED:
        case GRPC_STATUS_UNAUTHENTICATED:
                return SERVER_E_DENIED;
        case GRPC_STATUS_UNAVAILABLE:
        case GRPC_STATUS_DEADLINE_EXCEEDED:
        case GRPC_STATUS_RESOURCE_EXHAUSTED:
        case GRPC_STATUS_CANCELLED:
        case GRPC_STATUS_ABORTED:
                return SERVER_E_UNAVAILABLE;
        default:
                return SERVER_E_FAILED;
        }
}

int server_status_error(const RpcStatus *st, SigilErr *reterr) {
        int k = server_status_class(st->code);

        if (k != 0)
                (void) sigil_err_set(reterr, k, "code = %s desc = %s",
                                     rpc_status_to_string(st->code), st->message);
        return k;
}

/* A channel on the anonymous identity, made for one call. */
static int anonymous_channel(ServerClient *sc, ServerChannel **ret, SigilErr *reterr) {
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        bool bundle;
        int r;

        pthread_mutex_lock(&sc->lock);
        bundle = sc->has_bundle;
        pthread_mutex_unlock(&sc->lock);
        if (bundle)
                r = rpc_tls_client_credentials(sc->anon_id, &sc->server_id, &creds);
        else if (sc->insecure_bootstrap)
                r = rpc_tls_client_credentials_insecure_bootstrap(sc->anon_id, &creds);
        else
                return sigil_err_set(reterr, -ENOKEY,
                                     "no trust bundle to authenticate the server with: give "
                                     "-trustBundle FILE (or, at your own risk, "
                                     "-insecureBootstrap)");
        if (r < 0)
                return r;
        return channel_new(sc, creds, ret);
}

int server_client_call(ServerClient *sc, bool anonymous, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       ProtobufCMessage **ret_resp, SigilErr *reterr) {
        _cleanup_(server_channel_unrefp) ServerChannel *ch = NULL;
        ProtobufCMessage *resp = NULL;
        RpcStatus st;
        int r;

        r = anonymous ? anonymous_channel(sc, &ch, reterr) : server_client_channel(sc, &ch);
        if (r < 0)
                return r == -ENOKEY && anonymous ? r : sigil_err_set(reterr, r, "no channel: %s",
                                                                      strerror(-r));
        r = rpc_client_unary(ch->rpc, method, req, resp_desc, NULL, 0, SERVER_CALL_TIMEOUT_USEC,
                             &resp, &st);
        if (r < 0) {
                if (!anonymous)
                        server_client_reset_channel(sc, ch);
                return sigil_err_set(reterr, SERVER_E_UNAVAILABLE, "call failed: %s",
                                     strerror(-r));
        }
        r = server_status_error(&st, reterr);
        if (r == SERVER_E_UNAVAILABLE && !anonymous)
                server_client_reset_channel(sc, ch);
        if (r != 0)
                return r;
        *ret_resp = resp;
        return 0;
}
