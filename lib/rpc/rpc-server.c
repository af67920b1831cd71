/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server side of sigil's gRPC glue: method registration, the
 * completion-queue threads, request slots and dispatch, shutdown.
 *
 * Each registered method keeps RPC_SLOTS_PER_METHOD requests outstanding
 * with gRPC; a completed slot is turned into an RpcCall, re-armed, and the
 * handler runs on the thread that saw the completion. A catch-all slot
 * answers calls to unknown methods with UNIMPLEMENTED.
 */
#include <errno.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc-internal.h"
#include "sigil/log.h"

/* After the last call, how long idle connections are left to gRPC before being closed. */
#define RPC_FLUSH_USEC (300 * 1000)

#define RPC_SLOTS_PER_METHOD 8

static void slot_arm(RpcSlot *slot) {
        RpcServer *s = slot->server;
        grpc_call_error e;

        slot->call = NULL;
        slot->payload = NULL;
        grpc_metadata_array_init(&slot->metadata);
        if (slot->method == SIZE_MAX) {
                grpc_call_details_init(&slot->details);
                e = grpc_server_request_call(s->server, &slot->call, &slot->details,
                                             &slot->metadata, s->cq, s->cq, &slot->tag);
        } else
                e = grpc_server_request_registered_call(s->server, s->registered[slot->method],
                                                        &slot->call, &slot->deadline,
                                                        &slot->metadata, &slot->payload, s->cq,
                                                        s->cq, &slot->tag);
        if (e != GRPC_CALL_OK) {
                log_error("gRPC refused to queue a request slot: %s", grpc_call_error_to_string(e));
                grpc_metadata_array_destroy(&slot->metadata);
                free(slot);
        }
}

static void slot_release(RpcSlot *slot) {
        grpc_metadata_array_destroy(&slot->metadata);
        if (slot->method == SIZE_MAX)
                grpc_call_details_destroy(&slot->details);
        if (slot->payload)
                grpc_byte_buffer_destroy(slot->payload);
        free(slot);
}

static int slot_new(RpcServer *s, size_t method) {
        RpcSlot *slot = new0(RpcSlot, 1);

        if (!slot)
                return -ENOMEM;
        slot->tag.kind = method == SIZE_MAX ? RPC_TAG_UNKNOWN_CALL : RPC_TAG_NEW_CALL;
        slot->server = s;
        slot->method = method;
        slot_arm(slot);
        return 0;
}

static void dispatch(RpcServer *s, const RpcMethod *m, grpc_call *gcall,
                     grpc_metadata_array *metadata, grpc_byte_buffer *payload) {
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *req = NULL;
        RpcCall *c = rpc_call_new(s, m, gcall, metadata);
        int r;

        if (!c) {
                grpc_call_cancel_with_status(gcall, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                             "out of memory", NULL);
                grpc_call_unref(gcall);
                return;
        }
        r = rpc_unpack(payload, m->request, m->max_request ?: RPC_MESSAGE_MAX_DEFAULT, &req);
        if (r == -EMSGSIZE)
                (void) rpc_call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "request too large");
        else if (r < 0)
                (void) rpc_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request");
        else if (atomic_load(&s->shutting_down))
                (void) rpc_call_finish(c, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
        else
                m->handler(c, req, s->userdata);
        rpc_call_after_handler(c);
}

static void handle_new_call(RpcSlot *slot, bool ok) {
        RpcServer *s = slot->server;
        grpc_call *gcall = slot->call;
        grpc_metadata_array metadata = slot->metadata;
        grpc_byte_buffer *payload = slot->payload;
        size_t method = slot->method;

        if (!ok) {
                /* Server shutdown: the slot will not be re-armed. */
                slot_release(slot);
                return;
        }
        if (method == SIZE_MAX) {
                grpc_call_details_destroy(&slot->details);
                grpc_call_details_init(&slot->details);
        }
        /* Re-arm first so new calls are accepted while this one is handled. */
        if (atomic_load(&s->shutting_down)) {
                grpc_metadata_array_init(&slot->metadata);
                slot->payload = NULL;
                slot_release(slot);
        } else
                slot_arm(slot);

        if (method == SIZE_MAX) {
                grpc_call_cancel_with_status(gcall, GRPC_STATUS_UNIMPLEMENTED,
                                             "unknown service or method", NULL);
                grpc_call_unref(gcall);
        } else
                dispatch(s, &s->methods[method], gcall, &metadata, payload);
        grpc_metadata_array_destroy(&metadata);
        if (payload)
                grpc_byte_buffer_destroy(payload);
}

static void *cq_thread(void *userdata) {
        RpcServer *s = userdata;

        for (;;) {
                grpc_event ev = grpc_completion_queue_next(
                        s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                RpcTag *tag;

                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                tag = ev.tag;
                switch (tag->kind) {
                case RPC_TAG_NEW_CALL:
                case RPC_TAG_UNKNOWN_CALL:
                        handle_new_call((RpcSlot *) tag, ev.success);
                        break;
                case RPC_TAG_SHUTDOWN:
                        pthread_mutex_lock(&s->shutdown_lock);
                        s->shutdown_done = true;
                        pthread_cond_broadcast(&s->shutdown_cond);
                        pthread_mutex_unlock(&s->shutdown_lock);
                        break;
                case RPC_TAG_SEND:
                        rpc_call_handle_tag((RpcCall *) ((char *) tag - offsetof(RpcCall, send_tag)),
                                            tag, ev.success);
                        break;
                case RPC_TAG_STATUS:
                        rpc_call_handle_tag(
                                (RpcCall *) ((char *) tag - offsetof(RpcCall, status_tag)), tag,
                                ev.success);
                        break;
                case RPC_TAG_CLOSE:
                        rpc_call_handle_tag(
                                (RpcCall *) ((char *) tag - offsetof(RpcCall, close_tag)), tag,
                                ev.success);
                        break;
                default:
                        break;
                }
        }
        return NULL;
}

int rpc_server_new(const RpcMethod *methods, size_t n_methods, void *userdata, RpcServer **ret) {
        RpcServer *s;

        rpc_init();
        s = new0(RpcServer, 1);
        if (!s)
                return -ENOMEM;
        s->methods = methods;
        s->n_methods = n_methods;
        s->userdata = userdata;
        s->wake_pipe[0] = s->wake_pipe[1] = -1;
        pthread_mutex_init(&s->peers_lock, NULL);
        pthread_mutex_init(&s->streams_lock, NULL);
        pthread_mutex_init(&s->shutdown_lock, NULL);
        pthread_cond_init(&s->shutdown_cond, NULL);
        s->shutdown_tag.kind = RPC_TAG_SHUTDOWN;
        s->server = grpc_server_create(NULL, NULL);
        s->cq = grpc_completion_queue_create_for_next(NULL);
        s->insecure = grpc_insecure_server_credentials_create();
        s->registered = new0(void *, n_methods);
        if (!s->server || !s->cq || !s->insecure || !s->registered) {
                rpc_server_free(s);
                return -ENOMEM;
        }
        grpc_server_register_completion_queue(s->server, s->cq, NULL);
        for (size_t i = 0; i < n_methods; i++) {
                s->registered[i] = grpc_server_register_method(
                        s->server, methods[i].path, NULL,
                        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
                if (!s->registered[i]) {
                        rpc_server_free(s);
                        return -EINVAL;
                }
        }
        *ret = s;
        return 0;
}

int rpc_server_listen_tcp(RpcServer *s, const char *addr, grpc_server_credentials *creds,
                          int *ret_port) {
        int port = grpc_server_add_http2_port(s->server, addr, creds);

        if (port <= 0)
                return -EADDRNOTAVAIL;
        if (ret_port)
                *ret_port = port;
        return 0;
}

int rpc_server_start(RpcServer *s, unsigned n_threads) {
        int r;

        if (n_threads == 0)
                return -EINVAL;
        grpc_server_start(s->server);
        s->started = true;
        for (size_t i = 0; i < s->n_methods; i++)
                for (int k = 0; k < RPC_SLOTS_PER_METHOD; k++) {
                        r = slot_new(s, i);
                        if (r < 0)
                                return r;
                }
        r = slot_new(s, SIZE_MAX);
        if (r < 0)
                return r;

        s->threads = new0(pthread_t, n_threads);
        if (!s->threads)
                return -ENOMEM;
        for (unsigned i = 0; i < n_threads; i++) {
                r = -pthread_create(&s->threads[i], NULL, cq_thread, s);
                if (r < 0)
                        return r;
                s->n_threads++;
        }
        return rpc_unix_start(s);
}

/* CLOCK_REALTIME @usec from now (pthread_cond_timedwait's clock). */
static struct timespec timespec_after(uint64_t usec) {
        struct timespec t;

        (void) clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += (time_t) (usec / 1000000u);
        t.tv_nsec += (long) (usec % 1000000u) * 1000;
        if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
        }
        return t;
}

static bool timespec_before(struct timespec a, struct timespec b) {
        return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static struct timespec timespec_min(struct timespec a, struct timespec b) {
        return timespec_before(a, b) ? a : b;
}

/* Wait for gRPC's shutdown notice until @deadline. Return: whether it came. */
static bool wait_shutdown_done(RpcServer *s, struct timespec deadline) {
        bool done;

        pthread_mutex_lock(&s->shutdown_lock);
        while (!s->shutdown_done)
                if (pthread_cond_timedwait(&s->shutdown_cond, &s->shutdown_lock, &deadline) ==
                    ETIMEDOUT)
                        break;
        done = s->shutdown_done;
        pthread_mutex_unlock(&s->shutdown_lock);
        return done;
}

/* Wait until no call is alive, or @deadline (CLOCK_REALTIME) passed. */
static void wait_calls_gone(RpcServer *s, const struct timespec *deadline) {
        struct timespec now;

        while (atomic_load(&s->n_live_calls) > 0) {
                (void) clock_gettime(CLOCK_REALTIME, &now);
                if (!timespec_before(now, *deadline))
                        return;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
}

void rpc_server_shutdown(RpcServer *s, uint64_t grace_usec) {
        struct timespec deadline;
        bool done;

        if (!s->started || atomic_exchange(&s->shutting_down, true))
                return;
        rpc_unix_stop(s);
        grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
        /* A stream never ends by itself: only unary calls in flight get the grace. */
        rpc_calls_end_streams(s);

        deadline = timespec_after(grace_usec);
        /*
         * Once no call is left, connections kept open by idle clients are all
         * that remain: after a pause in which gRPC writes out the last
         * statuses (a call is freed when its status is queued, not sent),
         * close them.
         */
        wait_calls_gone(s, &deadline);
        done = wait_shutdown_done(s, timespec_min(timespec_after(RPC_FLUSH_USEC), deadline));
        if (!done) {
                rpc_unix_shutdown_peers(s);
                done = wait_shutdown_done(s, deadline);
        }
        if (!done) {
                log_info("cancelling calls still running after the shutdown grace period");
                grpc_server_cancel_all_calls(s->server);
                pthread_mutex_lock(&s->shutdown_lock);
                while (!s->shutdown_done)
                        pthread_cond_wait(&s->shutdown_cond, &s->shutdown_lock);
                pthread_mutex_unlock(&s->shutdown_lock);
        }
        /* Calls still referenced by handlers finish when those let go; then the queue drains. */
        grpc_completion_queue_shutdown(s->cq);
        for (size_t i = 0; i < s->n_threads; i++)
                (void) pthread_join(s->threads[i], NULL);
        s->n_threads = 0;
}

RpcServer *rpc_server_free(RpcServer *s) {
        if (!s)
                return NULL;
        if (s->started)
                rpc_server_shutdown(s, 0);
        if (s->server)
                grpc_server_destroy(s->server);
        if (s->cq)
                grpc_completion_queue_destroy(s->cq);
        if (s->insecure)
                grpc_server_credentials_release(s->insecure);
        rpc_unix_free(s);
        free(s->registered);
        free(s->threads);
        pthread_mutex_destroy(&s->peers_lock);
        pthread_mutex_destroy(&s->streams_lock);
        pthread_mutex_destroy(&s->shutdown_lock);
        pthread_cond_destroy(&s->shutdown_cond);
        free(s);
        return NULL;
}
