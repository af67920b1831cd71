/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC glue end to end over a real Unix socket: unary replies and
 * errors, server streams with cancellation, unknown methods, metadata,
 * peer credentials, request size limits; socket files at listen and stop;
 * shutdown (streams end at once, unary calls in flight get the grace).
 */
#include "test-util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc-client.h"
#include "rpc-server.h"
#include "sigil/log.h"
#include "workload.pb-c.h"

#define UNARY "/test.Svc/Unary"
#define STREAM "/test.Svc/Stream"

typedef struct Fixture {
        char *dir;
        char sock[256];
        char target[300];
        RpcServer *server;
        atomic_int n_cancelled;
        RpcCall *stream_call;
        pthread_mutex_t lock;
        uid_t seen_uid;
        pid_t seen_pid;
        int refuse_uid;
        atomic_int n_held;      /* unary calls "slow" and "hang" being held */
} Fixture;

static void *reply_later(void *userdata) {
        RpcCall *call = userdata;
        JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;

        usleep(300 * 1000);
        assert_int_equal(rpc_call_reply(call, &resp.base), 0);
        rpc_call_unref(call);
        return NULL;
}

static void on_hang_cancel(RpcCall *call, void *ud) {
        Fixture *f = ud;

        atomic_fetch_add(&f->n_cancelled, 1);
        rpc_call_unref(call);
}

/* "slow" is answered 300 ms later from another thread; "hang" never is. */
static bool hold_unary(Fixture *f, RpcCall *call, const char *aud) {
        pthread_t t;

        if (!streq(aud, "slow") && !streq(aud, "hang"))
                return false;
        rpc_call_ref(call);
        if (streq(aud, "hang"))
                rpc_call_on_cancel(call, on_hang_cancel, f);
        else {
                assert_int_equal(pthread_create(&t, NULL, reply_later, call), 0);
                assert_int_equal(pthread_detach(t), 0);
        }
        atomic_fetch_add(&f->n_held, 1);
        return true;
}

/* Unary: echoes the first audience as spiffe_id; audience "fail" -> PERMISSION_DENIED. */
static void on_unary(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const JWTSVIDRequest *r = (const JWTSVIDRequest *) req;
        Fixture *f = ud;
        JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
        JWTSVID svid = JWTSVID__INIT;
        JWTSVID *svids[1] = { &svid };
        _cleanup_(freep) char *hdr = rpc_call_metadata_first(call, "x-test");
        RpcPeerCred cred;

        if (rpc_call_peer_cred(call, &cred) == 0) {
                f->seen_uid = cred.uid;
                f->seen_pid = cred.pid;
                if (cred.pidfd >= 0)
                        close(cred.pidfd);
        }
        if (r->n_audience == 0) {
                rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "audience must be specified");
                return;
        }
        if (streq(r->audience[0], "fail")) {
                rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "no identity issued");
                return;
        }
        if (streq(r->audience[0], "forget"))
                return;         /* the glue must answer INTERNAL */
        if (hold_unary(f, call, r->audience[0]))
                return;
        svid.spiffe_id = r->audience[0];
        svid.svid = hdr ? hdr : "";
        resp.n_svids = 1;
        resp.svids = svids;
        assert_int_equal(rpc_call_reply(call, &resp.base), 0);
        assert_int_equal(rpc_call_reply(call, &resp.base), -EALREADY);
}

static void on_stream_cancel(RpcCall *call, void *ud) {
        Fixture *f = ud;

        atomic_fetch_add(&f->n_cancelled, 1);
        pthread_mutex_lock(&f->lock);
        if (f->stream_call == call)
                f->stream_call = NULL;
        pthread_mutex_unlock(&f->lock);
        rpc_call_unref(call);
}

/* Stream: sends three messages at once and keeps the call for later sends. */
static void on_stream(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Fixture *f = ud;
        JWTBundlesResponse resp = JWTBUNDLES_RESPONSE__INIT;

        for (int i = 0; i < 3; i++)
                assert_int_equal(rpc_call_send(call, &resp.base), 0);
        rpc_call_ref(call);
        pthread_mutex_lock(&f->lock);
        f->stream_call = call;
        pthread_mutex_unlock(&f->lock);
        rpc_call_on_cancel(call, on_stream_cancel, f);
}

static const RpcMethod methods[] = {
        { UNARY, RPC_UNARY, &jwtsvidrequest__descriptor, on_unary, 4096 },
        { STREAM, RPC_SERVER_STREAMING, &jwtbundles_request__descriptor, on_stream, 0 },
};

static int filter(const RpcPeerCred *cred, unsigned n_same, void *ud) {
        Fixture *f = ud;

        return f->refuse_uid >= 0 && (int) cred->uid == f->refuse_uid ? -EPERM : 0;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        f->dir = test_mkdtemp();
        f->refuse_uid = -1;
        pthread_mutex_init(&f->lock, NULL);
        snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
        snprintf(f->target, sizeof(f->target), "unix://%s", f->sock);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &f->server), 0);
        assert_int_equal(rpc_server_listen_unix(f->server, f->sock, 0666, filter), 0);
        assert_int_equal(rpc_server_start(f->server, 2), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        pthread_mutex_lock(&f->lock);
        if (f->stream_call)
                rpc_call_finish(f->stream_call, GRPC_STATUS_UNAVAILABLE, "bye");
        pthread_mutex_unlock(&f->lock);
        rpc_server_shutdown(f->server, 2 * USEC_PER_SEC);
        rpc_server_free(f->server);
        rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/*
 * Lock @f once the stream handler has stored its call: that comes after its
 * sends, so a client can read a message before it. Return: the call.
 */
static RpcCall *lock_stream_call(Fixture *f) {
        for (int i = 0; i < 500; i++) {
                pthread_mutex_lock(&f->lock);
                if (f->stream_call)
                        return f->stream_call;
                pthread_mutex_unlock(&f->lock);
                usleep(10 * 1000);
        }
        fail_msg("the stream handler did not store its call");
        return NULL;
}

static int unary(Fixture *f, const char *method, const char *aud, RpcStatus *st,
                 JWTSVIDResponse **ret) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        char *auds[1] = { (char *) aud };
        RpcMetadata md[] = { { "x-test", "hello" } };

        req.n_audience = aud ? 1 : 0;
        req.audience = auds;
        assert_int_equal(rpc_client_new(f->target, NULL, &c), 0);
        return rpc_client_unary(c, method, &req.base, &jwtsvidresponse__descriptor, md, 1,
                                5 * USEC_PER_SEC, (ProtobufCMessage **) ret, st);
}

static void test_unary_ok(void **state) {
        Fixture *f = *state;
        JWTSVIDResponse *resp = NULL;
        RpcStatus st;

        assert_int_equal(unary(f, UNARY, "spiffe://example.org/x", &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_OK);
        assert_non_null(resp);
        assert_int_equal(resp->n_svids, 1);
        assert_string_equal(resp->svids[0]->spiffe_id, "spiffe://example.org/x");
        assert_string_equal(resp->svids[0]->svid, "hello");
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        assert_int_equal(f->seen_uid, getuid());
        assert_int_equal(f->seen_pid, getpid());
}

static void test_unary_errors(void **state) {
        Fixture *f = *state;
        JWTSVIDResponse *resp = NULL;
        RpcStatus st;

        assert_int_equal(unary(f, UNARY, "fail", &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_PERMISSION_DENIED);
        assert_string_equal(st.message, "no identity issued");
        assert_null(resp);

        assert_int_equal(unary(f, UNARY, NULL, &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);

        assert_int_equal(unary(f, UNARY, "forget", &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_INTERNAL);

        assert_int_equal(unary(f, "/test.Svc/Nope", "x", &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_UNIMPLEMENTED);
}

static void test_request_too_large(void **state) {
        Fixture *f = *state;
        JWTSVIDResponse *resp = NULL;
        char big[8192];
        RpcStatus st;

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(unary(f, UNARY, big, &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
}

static void test_stream_and_cancel(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
        JWTBundlesResponse later = JWTBUNDLES_RESPONSE__INIT;
        RpcStream *st = NULL;
        ProtobufCMessage *m;
        RpcStatus status;

        assert_int_equal(rpc_client_new(f->target, NULL, &c), 0);
        assert_int_equal(rpc_client_stream_open(c, STREAM, &req.base,
                                                &jwtbundles_response__descriptor, NULL, 0, 0, &st),
                         0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status), 1);
                protobuf_c_message_free_unpacked(m, NULL);
        }
        assert_int_equal(rpc_client_stream_next(st, 200 * USEC_PER_MSEC, &m, &status), -ETIMEDOUT);

        /* A later push reaches the client. */
        assert_int_equal(rpc_call_send(lock_stream_call(f), &later.base), 0);
        pthread_mutex_unlock(&f->lock);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status), 1);
        protobuf_c_message_free_unpacked(m, NULL);

        /* The client goes away: the server hears of it. */
        rpc_client_stream_free(st);
        for (int i = 0; i < 100 && atomic_load(&f->n_cancelled) == 0; i++)
                usleep(20000);
        assert_int_equal(atomic_load(&f->n_cancelled), 1);
}

static void test_stream_finished_by_server(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
        ProtobufCMessage *m;
        RpcStatus status;
        int r;

        assert_int_equal(rpc_client_new(f->target, NULL, &c), 0);
        assert_int_equal(rpc_client_stream_open(c, STREAM, &req.base,
                                                &jwtbundles_response__descriptor, NULL, 0, 0, &st),
                         0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status), 1);
        protobuf_c_message_free_unpacked(m, NULL);
        assert_int_equal(rpc_call_finish(lock_stream_call(f), GRPC_STATUS_PERMISSION_DENIED,
                                         "no identity issued"), 0);
        rpc_call_unref(f->stream_call);
        f->stream_call = NULL;
        pthread_mutex_unlock(&f->lock);
        /* Queued messages are delivered before the status. */
        while ((r = rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status)) == 1)
                protobuf_c_message_free_unpacked(m, NULL);
        assert_int_equal(r, 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);
        assert_string_equal(status.message, "no identity issued");
        assert_int_equal(atomic_load(&f->n_cancelled), 0);
}

static void test_refused_peer(void **state) {
        Fixture *f = *state;
        JWTSVIDResponse *resp = NULL;
        RpcStatus st;

        f->refuse_uid = (int) getuid();
        assert_int_equal(unary(f, UNARY, "x", &st, &resp), 0);
        assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
        f->refuse_uid = -1;
}

static int unary_at(const char *target, const char *aud, RpcStatus *st) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        JWTSVIDResponse *resp = NULL;
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        char *auds[1] = { (char *) aud };
        int r;

        req.n_audience = 1;
        req.audience = auds;
        assert_int_equal(rpc_client_new(target, NULL, &c), 0);
        r = rpc_client_unary(c, UNARY, &req.base, &jwtsvidresponse__descriptor, NULL, 0,
                             5 * USEC_PER_SEC, (ProtobufCMessage **) &resp, st);
        if (resp)
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        return r;
}

static ino_t inode_of(const char *path) {
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_ino;
}

/* A socket file as a process that died leaves it: bound, then closed (connect refused). */
static void make_stale_socket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);
}

/* Another server on the path of a live one is refused, and neither removes the socket. */
static void test_listen_refuses_live_socket(void **state) {
        Fixture *f = *state;
        RpcServer *other = NULL;
        ino_t ino = inode_of(f->sock);
        SigilErr err = {};
        RpcStatus st;

        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &other), 0);
        assert_int_equal(rpc_server_listen_unix(other, f->sock, 0600, NULL), -EADDRINUSE);
        assert_int_equal(rpc_server_listen_unix_full(other, f->sock, 0600, NULL, &err),
                         -EADDRINUSE);
        assert_strstr(err.msg, "socket in use by another process");
        rpc_server_free(other);
        assert_int_equal(inode_of(f->sock), ino);
        assert_int_equal(unary_at(f->target, "spiffe://example.org/x", &st), 0);
        assert_int_equal(st.code, GRPC_STATUS_OK);
}

/* A stale socket is replaced; a file or a symlink that is not a socket never is. */
static void test_listen_replaces_only_stale_sockets(void **state) {
        Fixture *f = *state;
        char path[300], target[320];
        RpcServer *s = NULL;
        RpcStatus st;

        snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
        snprintf(target, sizeof(target), "unix://%s", path);
        make_stale_socket(path);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &s), 0);
        assert_int_equal(rpc_server_listen_unix(s, path, 0600, NULL), 0);
        assert_int_equal(rpc_server_start(s, 1), 0);
        assert_int_equal(unary_at(target, "spiffe://example.org/x", &st), 0);
        assert_int_equal(st.code, GRPC_STATUS_OK);
        rpc_server_shutdown(s, USEC_PER_SEC);
        rpc_server_free(s);
        assert_int_equal(access(path, F_OK), -1);       /* ours: removed on stop */

        snprintf(path, sizeof(path), "%s/file", f->dir);
        assert_int_equal(run_cmd("echo keep > '%s'", path), 0);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &s), 0);
        assert_int_equal(rpc_server_listen_unix(s, path, 0600, NULL), -EEXIST);
        snprintf(path, sizeof(path), "%s/link", f->dir);
        assert_int_equal(symlink(f->sock, path), 0);
        assert_int_equal(rpc_server_listen_unix(s, path, 0600, NULL), -EEXIST);
        rpc_server_free(s);
        assert_int_equal(run_cmd("grep -qx keep '%s/file' && test -L '%s'", f->dir, path), 0);
}

/* Stopping leaves alone a socket that replaced ours at the path. */
static void test_stop_leaves_replaced_socket(void **state) {
        Fixture *f = *state;
        RpcServer *s = NULL;
        char path[300];
        ino_t ino;

        snprintf(path, sizeof(path), "%s/replaced.sock", f->dir);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &s), 0);
        assert_int_equal(rpc_server_listen_unix(s, path, 0600, NULL), 0);
        assert_int_equal(rpc_server_start(s, 1), 0);
        assert_int_equal(unlink(path), 0);
        make_stale_socket(path);
        ino = inode_of(path);
        rpc_server_shutdown(s, USEC_PER_SEC);
        rpc_server_free(s);
        assert_int_equal(inode_of(path), ino);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static RpcStream *open_stream(RpcClient *c) {
        JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
        RpcStream *st = NULL;

        assert_int_equal(rpc_client_stream_open(c, STREAM, &req.base,
                                                &jwtbundles_response__descriptor, NULL, 0, 0, &st),
                         0);
        return st;
}

/* Read what arrives until the stream ends; its status. */
static RpcStatus stream_drain(RpcStream *st) {
        ProtobufCMessage *m;
        RpcStatus status = {};
        int r;

        while ((r = rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status)) == 1)
                protobuf_c_message_free_unpacked(m, NULL);
        assert_int_equal(r, 0);
        return status;
}

/* Queue far more than flow control lets out to a client that does not read. */
static void flood(RpcCall *call) {
        static uint8_t big[256 * 1024];
        JWTBundlesResponse__BundlesEntry e = JWTBUNDLES_RESPONSE__BUNDLES_ENTRY__INIT;
        JWTBundlesResponse__BundlesEntry *es[1] = { &e };
        JWTBundlesResponse resp = JWTBUNDLES_RESPONSE__INIT;

        e.key = "spiffe://example.org";
        e.value = (ProtobufCBinaryData) { .len = sizeof(big), .data = big };
        resp.n_bundles = 1;
        resp.bundles = es;
        for (int i = 0; i < 128; i++)
                assert_int_equal(rpc_call_send(call, &resp.base), 0);
}

/*
 * SIGTERM with agents connected: a stream the handler never ends, and one it
 * finished whose status waits behind messages a slow client does not read,
 * must not hold shutdown for the grace period. Both clients see their stream
 * end; only the stream not finished gets the cancel callback.
 */
/* Lines of @path that contain @needle. */
static unsigned count_lines(const char *path, const char *needle) {
        char line[1024];
        unsigned n = 0;
        FILE *fp = fopen(path, "re");

        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
                if (strstr(line, needle))
                        n++;
        fclose(fp);
        return n;
}

/*
 * Out of file descriptors, the server leaves the connection in the backlog,
 * logs once (not once per retry: it used to spin and log millions of lines)
 * and serves again when descriptors are free.
 */
static void test_accept_out_of_fds(void **state) {
        Fixture *f = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct rlimit old, low;
        char log_path[4200];
        int fds[256], n_fds = 0, client;
        RpcStatus st;

        snprintf(log_path, sizeof(log_path), "%s/log", f->dir);
        assert_int_equal(sigil_log_open_file(log_path), 0);
        memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = old;
        low.rlim_cur = (rlim_t) fcntl(0, F_DUPFD, 0) + 1;   /* the lowest free fd, plus one */
        close((int) low.rlim_cur - 1);
        low.rlim_cur += 64;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        /* Fill the table, then connect with the last free descriptor. */
        while (n_fds < (int) ELEMENTSOF(fds) && (fds[n_fds] = open("/dev/null", O_RDONLY)) >= 0)
                n_fds++;
        assert_int_equal(errno, EMFILE);
        close(fds[--n_fds]);
        client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(client >= 0);
        assert_int_equal(connect(client, (struct sockaddr *) &sa, sizeof(sa)), 0);
        usleep(1000 * 1000);
        /* Free the table (before asserting anything: cmocka needs descriptors too). */
        while (n_fds > 0)
                close(fds[--n_fds]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        /* One line for a second of retries every 100 ms, and serving again. */
        assert_int_equal(count_lines(log_path, "cannot accept connections"), 1);
        assert_int_equal(unary_at(f->target, "x", &st), 0);
        assert_int_equal(st.code, GRPC_STATUS_OK);
        close(client);
        assert_int_equal(count_lines(log_path, "cannot accept connections"), 1);
        assert_int_equal(sigil_log_open_file(NULL), 0);        /* back to stderr */
}

static void test_shutdown_ends_streams_at_once(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *slow = NULL, *open = NULL;
        ProtobufCMessage *m;
        RpcStatus status;
        uint64_t t0, took;

        assert_int_equal(rpc_client_new(f->target, NULL, &c), 0);
        slow = open_stream(c);
        assert_int_equal(rpc_client_stream_next(slow, 5 * USEC_PER_SEC, &m, &status), 1);
        protobuf_c_message_free_unpacked(m, NULL);
        flood(lock_stream_call(f));
        assert_int_equal(rpc_call_finish(f->stream_call, GRPC_STATUS_PERMISSION_DENIED,
                                         "agent evicted"), 0);
        rpc_call_unref(f->stream_call);
        f->stream_call = NULL;
        pthread_mutex_unlock(&f->lock);

        open = open_stream(c);
        assert_int_equal(rpc_client_stream_next(open, 5 * USEC_PER_SEC, &m, &status), 1);
        protobuf_c_message_free_unpacked(m, NULL);
        (void) lock_stream_call(f);
        pthread_mutex_unlock(&f->lock);

        t0 = now_usec();
        rpc_server_shutdown(f->server, 10 * USEC_PER_SEC);
        took = now_usec() - t0;
        if (took > 3 * USEC_PER_SEC)
                fail_msg("shutdown took %.1f s with streams open (grace 10 s)", took / 1e6);

        assert_int_equal(stream_drain(open).code, GRPC_STATUS_UNAVAILABLE);
        /* Its own status, unless the transport went first with the data it still held. */
        status = stream_drain(slow);
        if (status.code != GRPC_STATUS_PERMISSION_DENIED)
                assert_int_equal(status.code, GRPC_STATUS_UNAVAILABLE);
        assert_int_equal(atomic_load(&f->n_cancelled), 1);
        pthread_mutex_lock(&f->lock);
        assert_null(f->stream_call);
        pthread_mutex_unlock(&f->lock);
}

typedef struct UnaryCaller {
        Fixture *f;
        const char *aud;
        RpcStatus st;
        int r;
} UnaryCaller;

static void *unary_thread(void *userdata) {
        UnaryCaller *u = userdata;

        u->r = unary_at(u->f->target, u->aud, &u->st);
        return NULL;
}

/* Unary calls in flight are waited for, up to the grace period and no longer. */
/* A client that keeps an idle connection open does not hold up shutdown. */
static void test_shutdown_with_idle_client(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        JWTSVIDResponse *resp = NULL;
        char *auds[1] = { (char *) "x" };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t t0, took;
        RpcStatus st;
        int mute;

        req.n_audience = 1;
        req.audience = auds;
        assert_int_equal(rpc_client_new(f->target, NULL, &c), 0);
        assert_int_equal(rpc_client_unary(c, UNARY, &req.base, &jwtsvidresponse__descriptor,
                                          NULL, 0, 5 * USEC_PER_SEC,
                                          (ProtobufCMessage **) &resp, &st), 0);
        assert_int_equal(st.code, GRPC_STATUS_OK);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        /* And one that connected and said nothing (nor will it close on GOAWAY). */
        memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
        mute = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(mute >= 0);
        assert_int_equal(connect(mute, (struct sockaddr *) &sa, sizeof(sa)), 0);
        usleep(100 * 1000);     /* accepted */

        t0 = now_usec();
        rpc_server_shutdown(f->server, 10 * USEC_PER_SEC);
        took = now_usec() - t0;
        close(mute);
        if (took > 3 * USEC_PER_SEC)
                fail_msg("shutdown took %.2f s with idle clients (grace 10 s)", took / 1e6);
}

static void test_shutdown_waits_for_unary(void **state) {
        Fixture *f = *state;
        UnaryCaller calls[2] = { { .f = f, .aud = "slow" }, { .f = f, .aud = "hang" } };
        pthread_t threads[2];
        uint64_t t0, took;

        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&threads[i], NULL, unary_thread, &calls[i]), 0);
        for (int i = 0; i < 500 && atomic_load(&f->n_held) < 2; i++)
                usleep(10 * 1000);
        assert_int_equal(atomic_load(&f->n_held), 2);

        t0 = now_usec();
        rpc_server_shutdown(f->server, USEC_PER_SEC);
        took = now_usec() - t0;
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_join(threads[i], NULL), 0);
        if (took < 900 * USEC_PER_MSEC || took > 5 * USEC_PER_SEC)
                fail_msg("shutdown took %.2f s with a call that never ends (grace 1 s)",
                         took / 1e6);
        assert_int_equal(calls[0].r, 0);
        assert_int_equal(calls[0].st.code, GRPC_STATUS_OK);
        assert_int_equal(calls[1].r, 0);
        assert_int_not_equal(calls[1].st.code, GRPC_STATUS_OK);
        assert_int_equal(atomic_load(&f->n_cancelled), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_unary_ok, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unary_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_request_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream_and_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream_finished_by_server, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_peer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_accept_out_of_fds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_refuses_live_socket, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_replaces_only_stale_sockets, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_stop_leaves_replaced_socket, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_shutdown_ends_streams_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_shutdown_waits_for_unary, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shutdown_with_idle_client, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
