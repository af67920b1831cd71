/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for the SPIFFE Workload API of a running sigil-agent, used by
 * scripts/bench/workload-api. Three modes:
 *
 *   -mode x509     N client threads, each with its own connection, open
 *                  FetchX509SVID, time until the first response, cancel, repeat.
 *   -mode jwt      the same with FetchJWTSVID (unary) for one audience, which the
 *                  agent answers from its JWT cache; -uncached gives every call a
 *                  new audience, so each is minted through the server.
 *   -mode streams  open -streams M FetchX509SVID streams (-perConn K per
 *                  connection), time until every one has its first message, then
 *                  hold them open (-readyFile, -hold) while the script reads the
 *                  agent's memory, and close them.
 *
 * Each client's first call (connection set-up) is a warm-up and is not counted,
 * except with -reconnect, where every call makes a new connection and is timed
 * from the connect. Latencies use the monotonic clock. Results are one
 * "result key=value ..." line on stdout; nothing here passes or fails on time.
 */
#include <errno.h>
#include <getopt.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpc-client.h"
#include "sigil/clock.h"
#include "workload.pb-c.h"

#define CLIENTS_MAX 4096
#define STREAMS_MAX 65536
#define CONSECUTIVE_ERRORS_MAX 100
#define AGENT_CPU_USEC_MIN (200 * USEC_PER_MSEC)

typedef enum Mode {
        MODE_X509,
        MODE_JWT,
        MODE_STREAMS,
} Mode;

/* Command-line settings (see usage()). */
static const char *arg_socket;
static Mode arg_mode = MODE_X509;
static unsigned arg_clients = 1;
static double arg_seconds = 3.0;
static unsigned long arg_requests;              /* 0: run for arg_seconds instead */
static const char *arg_audience = "spiffe://example.org/bench";
static bool arg_uncached;
static bool arg_reconnect;
static unsigned arg_streams = 1000;
static unsigned arg_per_conn = 1;
static const char *arg_ready_file;
static double arg_hold = 0.0;
static long arg_agent_pid;
static double arg_timeout = 10.0;

static const RpcMetadata workload_md[] = { { "workload.spiffe.io", "true" } };

/* Latency samples in microseconds. */
typedef struct Samples {
        uint64_t *v;
        size_t n, n_alloc;
} Samples;

static int samples_add(Samples *s, uint64_t usec) {
        if (s->n == s->n_alloc) {
                size_t n = s->n_alloc ? s->n_alloc * 2 : 1024;
                uint64_t *v = reallocarray(s->v, n, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->n_alloc = n;
        }
        s->v[s->n++] = usec;
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Nearest-rank @p-th percentile of sorted samples, in ms. */
static double pct_ms(const Samples *s, size_t p) {
        size_t k = (p * s->n + 99) / 100;       /* rank: ceil(p/100 * n), 1-based */

        if (s->n == 0)
                return 0.0;
        return (double) s->v[MIN(MAX(k, (size_t) 1), s->n) - 1] / 1000.0;
}

static void print_latency(Samples *s) {
        qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
        printf(" p50_ms=%.3f p99_ms=%.3f max_ms=%.3f", pct_ms(s, 50), pct_ms(s, 99),
               s->n ? (double) s->v[s->n - 1] / 1000.0 : 0.0);
}

/* utime + stime of @pid in microseconds, or 0 when unknown. */
static uint64_t agent_cpu_usec(long pid) {
        unsigned long long utime, stime;
        char path[64], buf[2048], *p;
        FILE *f;
        size_t n;

        if (pid <= 0)
                return 0;
        (void) snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');  /* the command name may hold spaces and parentheses */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                         &utime, &stime) != 2)
                return 0;
        return (utime + stime) * USEC_PER_SEC / (uint64_t) sysconf(_SC_CLK_TCK);
}

static void grpc_log_drop(gpr_log_func_args *args) {
}

/* A channel of its own: without the local pool, channels to one target share a connection. */
static const grpc_channel_args *own_connection_args(void) {
        static grpc_arg arg = {
                .type = GRPC_ARG_INTEGER,
                .key = (char *) GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                .value.integer = 1,
        };
        static const grpc_channel_args args = { .num_args = 1, .args = &arg };

        return &args;
}

/* The agent's socket as a gRPC target, set once by main() before any thread starts. */
static char target[4200];

/* ---- modes x509 and jwt: client threads ---- */

typedef struct Worker {
        pthread_t thread;
        RpcClient *client;
        Samples lat;
        unsigned long n_errors, n_consecutive;
        char first_error[300];
} Worker;

/* Shared by the worker threads; written by main before the start barrier only. */
static pthread_barrier_t warm_barrier, go_barrier;
static uint64_t stop_at;
static atomic_long budget;              /* calls left, with -requests */
static atomic_ulong audience_seq;       /* -uncached: each call's audience is new */
static char audience_prefix[64];

static void worker_error(Worker *w, const char *fmt, ...) _printf_(2, 3);
static void worker_error(Worker *w, const char *fmt, ...) {
        va_list ap;

        w->n_errors++;
        w->n_consecutive++;
        if (w->first_error[0])
                return;
        va_start(ap, fmt);
        (void) vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
        va_end(ap);
}

static uint64_t timeout_usec(void) {
        return (uint64_t) (arg_timeout * 1e6);
}

/* One FetchX509SVID up to its first message; returns 0 or -1 (recorded in @w). */
static int call_x509(Worker *w) {
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        X509SVIDResponse *resp = NULL;
        RpcStatus status;
        int r;

        r = rpc_client_stream_open(w->client, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                   &x509_svidresponse__descriptor, workload_md, 1, 0, &st);
        if (r == 0)
                r = rpc_client_stream_next(st, timeout_usec(), (ProtobufCMessage **) &resp,
                                           &status);
        if (r == 1 && resp->n_svids == 0)
                r = -ENOENT;
        if (resp)
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (r == 1)
                return 0;
        if (r == 0)
                worker_error(w, "FetchX509SVID: %s: %s", rpc_status_to_string(status.code),
                             status.message);
        else
                worker_error(w, "FetchX509SVID: %s", strerror(-r));
        return -1;
}

/* One FetchJWTSVID; returns 0 or -1 (recorded in @w). */
static int call_jwt(Worker *w, bool fresh_audience) {
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        JWTSVIDResponse *resp = NULL;
        char aud_buf[128];
        char *aud[1] = { (char *) arg_audience };
        RpcStatus status;
        int r;

        if (fresh_audience) {
                (void) snprintf(aud_buf, sizeof(aud_buf), "%s-%lu", audience_prefix,
                                atomic_fetch_add(&audience_seq, 1));
                aud[0] = aud_buf;
        }
        req.audience = aud;
        req.n_audience = 1;
        req.spiffe_id = (char *) "";
        r = rpc_client_unary(w->client, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
                             &jwtsvidresponse__descriptor, workload_md, 1, timeout_usec(),
                             (ProtobufCMessage **) &resp, &status);
        if (r == 0 && status.code == GRPC_STATUS_OK && resp->n_svids == 0)
                r = -ENOENT;
        if (resp)
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        if (r == 0 && status.code == GRPC_STATUS_OK)
                return 0;
        if (r == 0)
                worker_error(w, "FetchJWTSVID: %s: %s", rpc_status_to_string(status.code),
                             status.message);
        else
                worker_error(w, "FetchJWTSVID: %s", strerror(-r));
        return -1;
}

static int connect_client(Worker *w) {
        int r = rpc_client_new_with_args(target, NULL, own_connection_args(), &w->client);

        if (r < 0)
                worker_error(w, "cannot create a channel: %s", strerror(-r));
        return r;
}

/* One timed call: connect first with -reconnect; latency in @ret_usec. */
static int call_once(Worker *w, bool warm_up, uint64_t *ret_usec) {
        uint64_t start = sigil_monotonic_usec();
        int r = 0;

        if (arg_reconnect || !w->client)
                r = connect_client(w);
        if (r == 0)
                r = arg_mode == MODE_X509 ? call_x509(w) : call_jwt(w, arg_uncached && !warm_up);
        *ret_usec = sigil_monotonic_usec() - start;
        if (arg_reconnect)
                w->client = rpc_client_free(w->client);
        return r;
}

static bool worker_more(void) {
        if (arg_requests > 0)
                return atomic_fetch_sub(&budget, 1) > 0;
        return sigil_monotonic_usec() < stop_at;
}

static void *worker_run(void *userdata) {
        Worker *w = userdata;
        uint64_t usec;

        /* Warm-up: the connection (unless -reconnect) and the agent's JWT cache entry. */
        (void) call_once(w, true, &usec);
        w->n_errors = w->n_consecutive = 0;
        w->first_error[0] = '\0';
        (void) pthread_barrier_wait(&warm_barrier);
        (void) pthread_barrier_wait(&go_barrier);
        while (w->n_consecutive < CONSECUTIVE_ERRORS_MAX && worker_more()) {
                if (call_once(w, false, &usec) < 0)
                        continue;
                w->n_consecutive = 0;
                if (samples_add(&w->lat, usec) < 0) {
                        worker_error(w, "out of memory");
                        break;
                }
        }
        w->client = rpc_client_free(w->client);
        return NULL;
}

static const char *mode_name(void) {
        if (arg_mode == MODE_X509)
                return arg_reconnect ? "x509-reconnect" : "x509";
        if (arg_uncached)
                return "jwt-uncached";
        return arg_reconnect ? "jwt-reconnect" : "jwt";
}

static int report_clients(Worker *w, unsigned n, uint64_t wall_usec, uint64_t cpu_usec) {
        Samples all = {};
        unsigned long n_errors = 0;
        const char *first_error = NULL;

        for (unsigned i = 0; i < n; i++) {
                for (size_t k = 0; k < w[i].lat.n; k++)
                        if (samples_add(&all, w[i].lat.v[k]) < 0) {
                                free(all.v);
                                return -ENOMEM;
                        }
                n_errors += w[i].n_errors;
                if (!first_error && w[i].first_error[0])
                        first_error = w[i].first_error;
        }
        printf("result mode=%s clients=%u calls=%zu errors=%lu seconds=%.3f calls_per_sec=%.0f",
               mode_name(), n, all.n, n_errors, (double) wall_usec / 1e6,
               (double) all.n * 1e6 / (double) (wall_usec ? wall_usec : 1));
        print_latency(&all);
        if (arg_agent_pid > 0)
                printf(" agent_cpu_ms=%.0f", (double) cpu_usec / 1e3);
        /* /proc counts CPU time in clock ticks (10 ms): too coarse for a short run. */
        if (arg_agent_pid > 0 && cpu_usec >= AGENT_CPU_USEC_MIN && all.n > 0)
                printf(" agent_cpu_us_per_call=%.1f", (double) cpu_usec / (double) all.n);
        printf("\n");
        if (first_error)
                fprintf(stderr, "bench-workload-api: %lu failed calls; the first: %s\n", n_errors,
                        first_error);
        free(all.v);
        return all.n > 0 ? 0 : -EIO;
}

static int run_clients(void) {
        _cleanup_(freep) Worker *w = new0(Worker, arg_clients);
        uint64_t start, cpu0;
        unsigned n = 0;
        int r = 0;

        if (!w)
                return -ENOMEM;
        (void) snprintf(audience_prefix, sizeof(audience_prefix), "bench-uncached-%ld-%llu",
                        (long) getpid(), (unsigned long long) sigil_now_usec());
        atomic_store(&budget, (long) arg_requests);
        (void) pthread_barrier_init(&warm_barrier, NULL, arg_clients + 1);
        (void) pthread_barrier_init(&go_barrier, NULL, arg_clients + 1);
        for (n = 0; n < arg_clients; n++) {
                r = -pthread_create(&w[n].thread, NULL, worker_run, &w[n]);
                if (r < 0) {
                        fprintf(stderr, "cannot start client thread %u: %s\n", n, strerror(-r));
                        exit(1);        /* the barriers count on every thread */
                }
        }
        (void) pthread_barrier_wait(&warm_barrier);
        cpu0 = agent_cpu_usec(arg_agent_pid);
        start = sigil_monotonic_usec();
        stop_at = start + (uint64_t) (arg_seconds * 1e6);
        (void) pthread_barrier_wait(&go_barrier);
        for (unsigned i = 0; i < n; i++)
                (void) pthread_join(w[i].thread, NULL);
        start = sigil_monotonic_usec() - start;
        r = report_clients(w, n, start, agent_cpu_usec(arg_agent_pid) - cpu0);
        for (unsigned i = 0; i < n; i++)
                free(w[i].lat.v);
        return r;
}

/* ---- mode streams: many streams held open, one completion queue ---- */

typedef struct HoldStream HoldStream;

typedef struct HoldTag {
        HoldStream *st;
        bool is_status;
} HoldTag;

struct HoldStream {
        HoldTag first_tag, status_tag;
        grpc_call *call;
        grpc_byte_buffer *req_bb, *recv_bb;
        grpc_metadata_array initial_md, trailing_md;
        grpc_status_code status;
        grpc_slice details;
        uint64_t opened_at, first_at;
        bool first_done, first_ok, status_done;
};

typedef struct Hold {
        grpc_completion_queue *cq;
        grpc_channel **channels;
        size_t n_channels;
        HoldStream *streams;
        size_t n_streams;
        size_t n_started, n_first, n_first_ok;
        size_t n_pending;       /* batches started and not completed */
        bool closing;
        char first_error[300];
} Hold;

/* The security header of every held stream: gRPC reads it until each batch completes. */
static grpc_metadata hold_md[1];

static int hold_start(Hold *h, HoldStream *st, grpc_channel *ch) {
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        grpc_slice method = grpc_slice_from_static_string("/SpiffeWorkloadAPI/FetchX509SVID");
        grpc_op ops[5] = {}, status_op = { .op = GRPC_OP_RECV_STATUS_ON_CLIENT };

        st->first_tag = (HoldTag) { .st = st };
        st->status_tag = (HoldTag) { .st = st, .is_status = true };
        st->details = grpc_empty_slice();
        grpc_metadata_array_init(&st->initial_md);
        grpc_metadata_array_init(&st->trailing_md);
        if (rpc_pack(&req.base, &st->req_bb) < 0)
                return -ENOMEM;
        st->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, h->cq, method, NULL,
                                            gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (!st->call)
                return -ENOMEM;
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = hold_md;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = st->req_bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &st->recv_bb;
        status_op.data.recv_status_on_client.trailing_metadata = &st->trailing_md;
        status_op.data.recv_status_on_client.status = &st->status;
        status_op.data.recv_status_on_client.status_details = &st->details;
        st->opened_at = sigil_monotonic_usec();
        if (grpc_call_start_batch(st->call, ops, 5, &st->first_tag, NULL) != GRPC_CALL_OK)
                return -EIO;
        h->n_pending++;
        h->n_started++;
        if (grpc_call_start_batch(st->call, &status_op, 1, &st->status_tag, NULL) != GRPC_CALL_OK)
                return -EIO;
        h->n_pending++;
        return 0;
}

static void hold_error(Hold *h, const char *what, const HoldStream *st) {
        size_t n = GRPC_SLICE_LENGTH(st->details);

        if (h->first_error[0])
                return;
        (void) snprintf(h->first_error, sizeof(h->first_error), "%s: %s: %.*s", what,
                        rpc_status_to_string(st->status), (int) MIN(n, (size_t) 200),
                        (const char *) GRPC_SLICE_START_PTR(st->details));
}

static void hold_event(Hold *h, const grpc_event *ev) {
        HoldTag *tag = ev->tag;
        HoldStream *st = tag->st;

        h->n_pending--;
        if (tag->is_status) {
                st->status_done = true;
                if (!h->closing)
                        hold_error(h, "stream ended by the agent", st);
                return;
        }
        st->first_done = true;
        st->first_at = sigil_monotonic_usec();
        st->first_ok = ev->success && st->recv_bb;
        h->n_first++;
        if (st->first_ok)
                h->n_first_ok++;
        if (st->recv_bb)
                grpc_byte_buffer_destroy(st->recv_bb);
        st->recv_bb = NULL;
}

/* Handle completions until @done(h) or @until (monotonic usec); false on timeout. */
static bool hold_pump(Hold *h, bool (*done)(const Hold *h), uint64_t until) {
        while (!done(h)) {
                uint64_t now = sigil_monotonic_usec();
                grpc_event ev;

                if (now >= until)
                        return false;
                ev = grpc_completion_queue_next(
                        h->cq,
                        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_micros((int64_t) MIN(until - now, 50000u),
                                                          GPR_TIMESPAN)),
                        NULL);
                if (ev.type == GRPC_OP_COMPLETE)
                        hold_event(h, &ev);
        }
        return true;
}

static bool all_first(const Hold *h) {
        return h->n_first == h->n_started;
}

static bool all_over(const Hold *h) {
        return h->n_pending == 0;
}

static bool never(const Hold *h) {
        return false;
}

static int hold_open(Hold *h) {
        int r;

        h->n_channels = (h->n_streams + arg_per_conn - 1) / arg_per_conn;
        h->channels = new0(grpc_channel *, h->n_channels);
        h->streams = new0(HoldStream, h->n_streams);
        if (!h->channels || !h->streams)
                return -ENOMEM;
        h->cq = grpc_completion_queue_create_for_next(NULL);
        for (size_t i = 0; i < h->n_channels; i++) {
                grpc_channel_credentials *creds = grpc_insecure_credentials_create();

                h->channels[i] = grpc_channel_create(target, creds, own_connection_args());
                grpc_channel_credentials_release(creds);
                if (!h->channels[i])
                        return -ENOMEM;
        }
        for (size_t i = 0; i < h->n_streams; i++) {
                r = hold_start(h, &h->streams[i], h->channels[i / arg_per_conn]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Cancel every stream still open and wait for all outstanding batches. */
static void hold_close(Hold *h) {
        h->closing = true;
        for (size_t i = 0; i < h->n_streams; i++)
                if (h->streams[i].call && !h->streams[i].status_done)
                        grpc_call_cancel(h->streams[i].call, NULL);
        (void) hold_pump(h, all_over, UINT64_MAX);
        for (size_t i = 0; i < h->n_streams; i++) {
                HoldStream *st = &h->streams[i];

                if (st->call)
                        grpc_call_unref(st->call);
                if (st->req_bb)
                        grpc_byte_buffer_destroy(st->req_bb);
                grpc_metadata_array_destroy(&st->initial_md);
                grpc_metadata_array_destroy(&st->trailing_md);
                grpc_slice_unref(st->details);
        }
        for (size_t i = 0; i < h->n_channels; i++)
                if (h->channels[i])
                        grpc_channel_destroy(h->channels[i]);
        grpc_completion_queue_shutdown(h->cq);
        while (grpc_completion_queue_next(h->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(h->cq);
        free(h->streams);
        free(h->channels);
}

static void report_streams(Hold *h, uint64_t start, uint64_t cpu_usec) {
        Samples lat = {};
        uint64_t last = start;

        for (size_t i = 0; i < h->n_streams; i++) {
                const HoldStream *st = &h->streams[i];

                if (!st->first_done || !st->first_ok)
                        continue;
                last = MAX(last, st->first_at);
                if (samples_add(&lat, st->first_at - st->opened_at) < 0)
                        break;
        }
        printf("result mode=streams streams=%zu conns=%zu first=%zu errors=%zu all_first_ms=%.3f",
               h->n_streams, h->n_channels, h->n_first_ok, h->n_streams - h->n_first_ok,
               (double) (last - start) / 1000.0);
        print_latency(&lat);
        if (arg_agent_pid > 0)
                printf(" agent_cpu_ms=%.0f", (double) cpu_usec / 1e3);
        printf("\n");
        if (h->first_error[0])
                fprintf(stderr, "bench-workload-api: %s\n", h->first_error);
        fflush(stdout);
        free(lat.v);
}

/* Keep the streams open until -readyFile is removed or -hold seconds have passed. */
static void hold_wait(Hold *h) {
        uint64_t until = sigil_monotonic_usec() + (uint64_t) (arg_hold * 1e6);
        FILE *f;

        if (arg_ready_file) {
                f = fopen(arg_ready_file, "we");
                if (f)
                        fclose(f);
        }
        for (;;) {
                uint64_t now = sigil_monotonic_usec();

                if (now >= until || (arg_ready_file && access(arg_ready_file, F_OK) < 0))
                        break;
                (void) hold_pump(h, never, MIN(until, now + 100000));
        }
        if (arg_ready_file)
                (void) unlink(arg_ready_file);
}

static int run_streams(void) {
        Hold h = { .n_streams = arg_streams };
        uint64_t start, cpu0, closing;
        int r;

        hold_md[0] = (grpc_metadata) {
                .key = grpc_slice_from_static_string(workload_md[0].key),
                .value = grpc_slice_from_static_string(workload_md[0].value),
        };
        cpu0 = agent_cpu_usec(arg_agent_pid);
        start = sigil_monotonic_usec();
        r = hold_open(&h);
        if (r < 0)
                fprintf(stderr, "bench-workload-api: cannot open the streams: %s\n",
                        strerror(-r));
        else if (!hold_pump(&h, all_first, start + timeout_usec()))
                fprintf(stderr, "bench-workload-api: %zu of %zu streams had no message after "
                        "%.0f s\n", h.n_streams - h.n_first, h.n_streams, arg_timeout);
        report_streams(&h, start, agent_cpu_usec(arg_agent_pid) - cpu0);
        if (r == 0)
                hold_wait(&h);
        closing = sigil_monotonic_usec();
        hold_close(&h);
        printf("closed streams=%zu close_ms=%.3f\n", h.n_streams,
               (double) (sigil_monotonic_usec() - closing) / 1000.0);
        return r < 0 || h.n_first_ok < h.n_streams ? -EIO : 0;
}

/* ---- command line ---- */

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-workload-api -socketPath PATH [-mode x509|jwt|streams] [options]\n"
                "  -clients N        concurrent clients, one connection each (x509, jwt; 1)\n"
                "  -seconds S        measure for S seconds after the warm-up (3)\n"
                "  -requests N       or: stop after N calls in all\n"
                "  -audience AUD     JWT audience (spiffe://example.org/bench)\n"
                "  -uncached         jwt: a new audience for every call (minted by the server)\n"
                "  -reconnect        a new connection for every call, timed from the connect\n"
                "  -streams M        streams: how many to open (1000)\n"
                "  -perConn K        streams: per connection (1)\n"
                "  -readyFile PATH   streams: created once all have a message; they stay open\n"
                "                    until it is removed (or -hold passes)\n"
                "  -hold S           streams: longest time to hold them open (0)\n"
                "  -agentPid PID     report the agent's CPU time over the measurement\n"
                "  -timeout S        per call; for streams, for all first messages (10)\n");
}

static int parse_number(const char *s, double min, double max, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

enum {
        ARG_SOCKET = 0x100,
        ARG_MODE,
        ARG_CLIENTS,
        ARG_SECONDS,
        ARG_REQUESTS,
        ARG_AUDIENCE,
        ARG_UNCACHED,
        ARG_RECONNECT,
        ARG_STREAMS,
        ARG_PER_CONN,
        ARG_READY_FILE,
        ARG_HOLD,
        ARG_AGENT_PID,
        ARG_TIMEOUT,
};

static int parse_mode(const char *s) {
        if (streq(s, "x509"))
                arg_mode = MODE_X509;
        else if (streq(s, "jwt"))
                arg_mode = MODE_JWT;
        else if (streq(s, "streams"))
                arg_mode = MODE_STREAMS;
        else
                return -EINVAL;
        return 0;
}

/* Options that take a whole number: its range and where it goes. */
static int parse_count(const char *s, double min, double max, void (*set)(double)) {
        double v;
        int r = parse_number(s, min, max, &v);

        if (r == 0)
                set(v);
        return r;
}

static void set_clients(double v) {
        arg_clients = (unsigned) v;
}

static void set_requests(double v) {
        arg_requests = (unsigned long) v;
}

static void set_streams(double v) {
        arg_streams = (unsigned) v;
}

static void set_per_conn(double v) {
        arg_per_conn = (unsigned) v;
}

static void set_agent_pid(double v) {
        arg_agent_pid = (long) v;
}

/* Options that take a number: where it goes and its range. */
static int parse_numeric(int c, const char *s) {
        switch (c) {
        case ARG_CLIENTS:
                return parse_count(s, 1, CLIENTS_MAX, set_clients);
        case ARG_SECONDS:
                return parse_number(s, 0.01, 3600, &arg_seconds);
        case ARG_REQUESTS:
                return parse_count(s, 1, 1e9, set_requests);
        case ARG_STREAMS:
                return parse_count(s, 1, STREAMS_MAX, set_streams);
        case ARG_PER_CONN:
                return parse_count(s, 1, STREAMS_MAX, set_per_conn);
        case ARG_HOLD:
                return parse_number(s, 0, 86400, &arg_hold);
        case ARG_AGENT_PID:
                return parse_count(s, 1, 1 << 30, set_agent_pid);
        case ARG_TIMEOUT:
                return parse_number(s, 0.1, 3600, &arg_timeout);
        default:
                return -EINVAL;
        }
}

static int parse_args(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socketPath", required_argument, NULL, ARG_SOCKET },
                { "mode", required_argument, NULL, ARG_MODE },
                { "clients", required_argument, NULL, ARG_CLIENTS },
                { "seconds", required_argument, NULL, ARG_SECONDS },
                { "requests", required_argument, NULL, ARG_REQUESTS },
                { "audience", required_argument, NULL, ARG_AUDIENCE },
                { "uncached", no_argument, NULL, ARG_UNCACHED },
                { "reconnect", no_argument, NULL, ARG_RECONNECT },
                { "streams", required_argument, NULL, ARG_STREAMS },
                { "perConn", required_argument, NULL, ARG_PER_CONN },
                { "readyFile", required_argument, NULL, ARG_READY_FILE },
                { "hold", required_argument, NULL, ARG_HOLD },
                { "agentPid", required_argument, NULL, ARG_AGENT_PID },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, r;

        while ((c = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                r = 0;
                if (c == 'h') {
                        usage(stdout);
                        exit(0);
                } else if (c == ARG_SOCKET)
                        arg_socket = optarg;
                else if (c == ARG_MODE)
                        r = parse_mode(optarg);
                else if (c == ARG_AUDIENCE)
                        arg_audience = optarg;
                else if (c == ARG_UNCACHED)
                        arg_uncached = true;
                else if (c == ARG_RECONNECT)
                        arg_reconnect = true;
                else if (c == ARG_READY_FILE)
                        arg_ready_file = optarg;
                else if (c == '?' || c == ':')
                        r = -EINVAL;
                else
                        r = parse_numeric(c, optarg);
                if (r < 0) {
                        fprintf(stderr, "bench-workload-api: bad or unknown option '%s'\n",
                                argv[optind - 1]);
                        return r;
                }
        }
        if (optind < argc || !arg_socket || (arg_uncached && arg_mode != MODE_JWT)) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

/* Each client and stream holds a socket; the soft limit of 1024 is too low for 1,000. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char *argv[]) {
        int r;

        if (parse_args(argc, argv) < 0)
                return 2;
        (void) snprintf(target, sizeof(target), "unix://%s", arg_socket);
        raise_nofile();
        if (!secure_getenv("GRPC_VERBOSITY"))
                gpr_set_log_function(grpc_log_drop);
        rpc_init();
        r = arg_mode == MODE_STREAMS ? run_streams() : run_clients();
        fflush(stdout);
        return r < 0 ? 1 : 0;
}
