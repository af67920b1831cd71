/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Workload API server (see workload-api.h): the socket, the security
 * header, per-call attestation, and the life of streams. A stream registers
 * a cache watch before its first message, so no change can fall between the
 * two; every message is the complete state, and a message identical to the
 * last one sent is not sent again. A stream whose process has exited (its
 * pidfd says so) or that is left with no identity is ended.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
#include "list.h"
#include "sigil/log.h"
#include "workload-internal.h"

typedef struct WlStream {
        struct WlStream *next, *prev;
        WorkloadApi *api;
        RpcCall *call;
        WlStreamKind kind;
        SigilSelectorSet selectors;
        CacheWatch *watch;
        int pidfd;
        pthread_mutex_t lock;
        bool done;                      /* ended: no more sends */
        uint8_t last_digest[SHA256_DIGEST_LENGTH];
        bool sent_any;
} WlStream;

void wl_td_key(const char *td, char *buf, size_t n) {
        (void) snprintf(buf, n, "spiffe://%s", td);
}

static bool process_alive(int pidfd) {
#ifdef SYS_pidfd_send_signal
        if (pidfd < 0)
                return true;    /* no pidfd from this kernel: rely on the connection */
        return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM;
#else
        return true;
#endif
}

static bool header_ok(RpcCall *call) {
        _cleanup_(freep) char *v = NULL;

        if (rpc_call_metadata_count(call, WORKLOAD_API_HEADER) != 1)
                return false;
        v = rpc_call_metadata_first(call, WORKLOAD_API_HEADER);
        return v && streq(v, "true");
}

bool wl_call_prologue(WorkloadApi *api, RpcCall *call, SigilSelectorSet *ret_selectors,
                      int *ret_pidfd) {
        RpcPeerCred cred = { .pidfd = -1 };
        SigilErr err = {};
        int r;

        if (!header_ok(call)) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, NO_HEADER);
                return false;
        }
        r = rpc_call_peer_cred(call, &cred);
        if (r == 0 && !process_alive(cred.pidfd))
                r = -ESRCH;
        if (r == 0)
                r = api->cfg.attest(api->cfg.attest_userdata, &cred, ret_selectors, &err);
        if (r < 0) {
                log_debug("workload attestation failed for pid %d: %s", (int) cred.pid,
                          err.msg[0] ? err.msg : strerror(-r));
                if (cred.pidfd >= 0)
                        (void) close(cred.pidfd);
                sigil_selector_set_done(ret_selectors);
                (void) rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE,
                                       "workload attestation failed");
                return false;
        }
        if (ret_pidfd)
                *ret_pidfd = cred.pidfd;
        else if (cred.pidfd >= 0)
                (void) close(cred.pidfd);
        return true;
}

static int stream_build(WlStream *st, const CacheView *view, WlMessage *ret) {
        switch (st->kind) {
        case WL_STREAM_X509_SVID:
                return wl_build_x509_svid(st->api, view, ret);
        case WL_STREAM_X509_BUNDLES:
                return wl_build_x509_bundles(st->api, view, ret);
        default:
                return wl_build_jwt_bundles(st->api, view, ret);
        }
}

/* Send @m unless it is what the stream sent last (lock held). */
static int stream_send_locked(WlStream *st, const ProtobufCMessage *m) {
        size_t n = protobuf_c_message_get_packed_size(m);
        _cleanup_(freep) uint8_t *buf = malloc(n ? n : 1);
        uint8_t digest[SHA256_DIGEST_LENGTH];

        if (!buf)
                return -ENOMEM;
        (void) protobuf_c_message_pack(m, buf);
        SHA256(buf, n, digest);
        if (st->sent_any && memcmp(digest, st->last_digest, sizeof(digest)) == 0)
                return 0;
        memcpy(st->last_digest, digest, sizeof(digest));
        st->sent_any = true;
        return rpc_call_send(st->call, m);
}

/* End a stream from the server side (lock held). */
static void stream_end_locked(WlStream *st, grpc_status_code code, const char *msg) {
        st->done = true;
        (void) rpc_call_finish(st->call, code, "%s", msg);
}

/* Recompute and (maybe) send; called on the first message and from the cache watch. */
static void stream_update(WlStream *st) {
        _cleanup_(cache_view_freep) CacheView *view = NULL;
        WlMessage m = {};
        int r;

        pthread_mutex_lock(&st->lock);
        if (st->done)
                goto out;
        if (!process_alive(st->pidfd)) {
                stream_end_locked(st, GRPC_STATUS_PERMISSION_DENIED, NO_IDENTITY);
                goto out;
        }
        r = cache_view_get(st->api->cfg.cache, &st->selectors, &view);
        if (r == 0)
                r = stream_build(st, view, &m);
        if (r == -ENOENT)
                stream_end_locked(st, GRPC_STATUS_PERMISSION_DENIED, NO_IDENTITY);
        else if (r < 0)
                stream_end_locked(st, GRPC_STATUS_UNAVAILABLE, "cannot build the response");
        else if (stream_send_locked(st, m.msg) < 0)
                st->done = true;
out:
        if (m.msg)
                m.free_msg(m.msg);
        pthread_mutex_unlock(&st->lock);
}

static void stream_watch_cb(void *userdata) {
        stream_update(userdata);
}

static void stream_free(WlStream *st) {
        sigil_selector_set_done(&st->selectors);
        if (st->pidfd >= 0)
                (void) close(st->pidfd);
        pthread_mutex_destroy(&st->lock);
        free(st);
}

/* The call is over, whatever ended it: stop watching and forget the stream. */
static void stream_closed(RpcCall *call, void *userdata) {
        WlStream *st = userdata;
        WorkloadApi *api = st->api;

        pthread_mutex_lock(&st->lock);
        st->done = true;
        pthread_mutex_unlock(&st->lock);
        if (st->watch)
                cache_unwatch(api->cfg.cache, st->watch);
        pthread_mutex_lock(&api->lock);
        LIST_REMOVE(prev, next, api->streams, st);
        api->n_streams--;
        pthread_mutex_unlock(&api->lock);
        rpc_call_unref(call);
        stream_free(st);
}

void wl_stream_start(WorkloadApi *api, RpcCall *call, WlStreamKind kind,
                     SigilSelectorSet *selectors, int pidfd) {
        WlStream *st = new0(WlStream, 1);
        int r;

        if (!st) {
                sigil_selector_set_done(selectors);
                if (pidfd >= 0)
                        (void) close(pidfd);
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                return;
        }
        pthread_mutex_init(&st->lock, NULL);
        st->api = api;
        st->call = call;
        st->kind = kind;
        st->selectors = *selectors;     /* ownership moves to the stream */
        *selectors = (SigilSelectorSet) {};
        st->pidfd = pidfd;
        rpc_call_ref(call);
        rpc_call_set_coalesce(call, true);      /* each message is a complete state */

        pthread_mutex_lock(&api->lock);
        st->next = api->streams;
        if (st->next)
                st->next->prev = st;
        api->streams = st;
        api->n_streams++;
        pthread_mutex_unlock(&api->lock);

        r = cache_watch(api->cfg.cache, &st->selectors, stream_watch_cb, st, &st->watch);
        if (r < 0) {
                pthread_mutex_lock(&st->lock);
                stream_end_locked(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many streams");
                pthread_mutex_unlock(&st->lock);
        } else
                stream_update(st);
        rpc_call_on_close(call, stream_closed, st);
}

static void stream_handler(RpcCall *call, WlStreamKind kind, void *userdata) {
        WorkloadApi *api = userdata;
        SigilSelectorSet sels = {};
        int pidfd = -1;

        if (!wl_call_prologue(api, call, &sels, &pidfd))
                return;
        wl_stream_start(api, call, kind, &sels, pidfd);
}

static void fetch_x509_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        stream_handler(call, WL_STREAM_X509_SVID, userdata);
}

static void fetch_x509_bundles(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        stream_handler(call, WL_STREAM_X509_BUNDLES, userdata);
}

static void fetch_jwt_bundles(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        stream_handler(call, WL_STREAM_JWT_BUNDLES, userdata);
}

/* The WIT profile is not supported; like every method of the service, the header comes first. */
static void fetch_wit_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        if (!header_ok(call))
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, NO_HEADER);
        else
                (void) rpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED,
                                       "fetching WIT-SVIDs is not implemented");
}

static void fetch_wit_bundles(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        if (!header_ok(call))
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, NO_HEADER);
        else
                (void) rpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED,
                                       "fetching WIT bundles is not implemented");
}

static const RpcMethod workload_methods[] = {
        { "/SpiffeWorkloadAPI/FetchX509SVID", RPC_SERVER_STREAMING,
          &x509_svidrequest__descriptor, fetch_x509_svid, 4096 },
        { "/SpiffeWorkloadAPI/FetchX509Bundles", RPC_SERVER_STREAMING,
          &x509_bundles_request__descriptor, fetch_x509_bundles, 4096 },
        { "/SpiffeWorkloadAPI/FetchJWTSVID", RPC_UNARY, &jwtsvidrequest__descriptor,
          wl_fetch_jwt_svid, 64u * 1024u },
        { "/SpiffeWorkloadAPI/FetchJWTBundles", RPC_SERVER_STREAMING,
          &jwtbundles_request__descriptor, fetch_jwt_bundles, 4096 },
        { "/SpiffeWorkloadAPI/ValidateJWTSVID", RPC_UNARY, &validate_jwtsvidrequest__descriptor,
          wl_validate_jwt_svid, 128u * 1024u },
        { "/SpiffeWorkloadAPI/FetchWITSVID", RPC_SERVER_STREAMING, &witsvidrequest__descriptor,
          fetch_wit_svid, 4096 },
        { "/SpiffeWorkloadAPI/FetchWITBundles", RPC_SERVER_STREAMING,
          &witbundles_request__descriptor, fetch_wit_bundles, 4096 },
};

static int accept_filter(const RpcPeerCred *cred, unsigned n_same_uid, void *userdata) {
        WorkloadApi *api = userdata;
        unsigned max = api->cfg.max_conns_per_uid ? api->cfg.max_conns_per_uid :
                                                    WORKLOAD_API_CONNS_PER_UID;

        if (n_same_uid < max)
                return 0;
        log_warning("uid %u has %u Workload API connections open; refusing another",
                    (unsigned) cred->uid, n_same_uid);
        return -EUSERS;
}

int workload_api_start(const WorkloadApiConfig *cfg, WorkloadApi **ret, SigilErr *reterr) {
        WorkloadApi *api = new0(WorkloadApi, 1);
        int r;

        if (!api)
                return -ENOMEM;
        api->cfg = *cfg;
        pthread_mutex_init(&api->lock, NULL);
        api->socket_path = strdup(cfg->socket_path);
        r = api->socket_path ? jwt_cache_new(0, &api->jwts) : -ENOMEM;
        if (r == 0)
                r = rpc_server_new(workload_methods, ELEMENTSOF(workload_methods), api,
                                   &api->server);
        if (r == 0) {
                /* Any process may connect: what it gets is decided by attestation. */
                r = socket_dir_prepare(cfg->socket_path, 0755, reterr);
                if (r == 0)
                        r = rpc_server_listen_unix_full(api->server, cfg->socket_path, 0777,
                                                        accept_filter, reterr);
                if (r < 0)
                        (void) sigil_err_prefix(reterr, r, "Workload API socket");
        }
        if (r == 0)
                r = rpc_server_start(api->server, cfg->n_threads ? cfg->n_threads :
                                                                   WORKLOAD_API_THREADS);
        if (r < 0) {
                if (!reterr || !reterr->msg[0])
                        (void) sigil_err_set(reterr, r, "cannot start the Workload API");
                workload_api_stop(api);
                return r;
        }
        *ret = api;
        return 0;
}

void workload_api_stop(WorkloadApi *api) {
        if (!api)
                return;
        pthread_mutex_lock(&api->lock);
        api->stopping = true;
        for (WlStream *st = api->streams; st; st = st->next) {
                pthread_mutex_lock(&st->lock);
                if (!st->done)
                        stream_end_locked(st, GRPC_STATUS_UNAVAILABLE, "agent shutting down");
                pthread_mutex_unlock(&st->lock);
        }
        pthread_mutex_unlock(&api->lock);
        if (api->server) {
                rpc_server_shutdown(api->server, 2 * USEC_PER_SEC);
                rpc_server_free(api->server);
        }
        jwt_cache_free(api->jwts);
        free(api->socket_path);
        pthread_mutex_destroy(&api->lock);
        free(api);
}

size_t workload_api_n_streams(WorkloadApi *api) {
        size_t n;

        pthread_mutex_lock(&api->lock);
        n = api->n_streams;
        pthread_mutex_unlock(&api->lock);
        return n;
}
