/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One server-side call: its reference count, its send queue and its end.
 *
 * gRPC core allows one outstanding send-message op per call, so messages
 * wait in a queue and go out one batch at a time; the status goes last,
 * after the queue drains. References: one for the handler dispatch, one for
 * the recv-close op, one per batch in flight, one per handler reference
 * (rpc_call_ref). The call is freed when the last one goes.
 *
 * Invariants: after `over` nothing is sent; the status is sent once;
 * on_cancel runs at most once, only when gRPC reports the call cancelled,
 * only if the handler had not finished it and only while the handler still
 * holds a reference (it may have freed what the callback reads once it let
 * go of the call). Streaming calls are listed on
 * their server from creation until freed, so that shutdown can end them.
 */
#include <errno.h>
#include <grpc/support/alloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "rpc-internal.h"

static void queue_clear(RpcCall *c) {
        for (RpcQueued *q = c->queue_head, *next; q; q = next) {
                next = q->next;
                grpc_byte_buffer_destroy(q->bb);
                free(q);
        }
        c->queue_head = c->queue_tail = NULL;
        c->n_queued = 0;
}

static void streams_link(RpcServer *s, RpcCall *c) {
        pthread_mutex_lock(&s->streams_lock);
        LIST_PREPEND(streams_prev, streams_next, s->streams, c);
        c->listed = true;
        pthread_mutex_unlock(&s->streams_lock);
}

static void streams_unlink(RpcServer *s, RpcCall *c) {
        pthread_mutex_lock(&s->streams_lock);
        LIST_REMOVE(streams_prev, streams_next, s->streams, c);
        c->listed = false;
        pthread_mutex_unlock(&s->streams_lock);
}

static void call_unref_internal(RpcCall *c) {
        RpcServer *s;

        if (atomic_fetch_sub(&c->n_refs, 1) != 1)
                return;
        s = c->server;
        if (c->listed)
                streams_unlink(s, c);   /* shutdown may still look at it until then */
        queue_clear(c);
        if (c->inflight_bb)
                grpc_byte_buffer_destroy(c->inflight_bb);
        if (c->reply_bb)
                grpc_byte_buffer_destroy(c->reply_bb);
        grpc_metadata_array_destroy(&c->metadata);
        grpc_call_unref(c->call);
        pthread_mutex_destroy(&c->lock);
        free(c->status_message);
        free(c);
        atomic_fetch_sub(&s->n_live_calls, 1);
}

RpcCall *rpc_call_new(RpcServer *s, const RpcMethod *method, grpc_call *call,
                      grpc_metadata_array *metadata) {
        RpcCall *c = new0(RpcCall, 1);
        grpc_op op = { .op = GRPC_OP_RECV_CLOSE_ON_SERVER };

        if (!c)
                return NULL;
        c->server = s;
        c->method = method;
        c->call = call;
        c->metadata = *metadata;
        grpc_metadata_array_init(metadata);     /* ownership moved to the call */
        pthread_mutex_init(&c->lock, NULL);
        c->close_tag.kind = RPC_TAG_CLOSE;
        c->send_tag.kind = RPC_TAG_SEND;
        c->status_tag.kind = RPC_TAG_STATUS;
        atomic_store(&c->n_refs, 2);            /* dispatch + recv-close */
        atomic_fetch_add(&s->n_live_calls, 1);
        if (method->kind == RPC_SERVER_STREAMING)
                streams_link(s, c);

        op.data.recv_close_on_server.cancelled = &c->cancelled;
        if (grpc_call_start_batch(call, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) {
                c->over = c->closed = true;
                atomic_fetch_sub(&c->n_refs, 1);
        }
        return c;
}

/* Start the status batch (with a unary reply when there is one); lock held. */
static void call_start_status_locked(RpcCall *c) {
        grpc_slice details = rpc_slice_from_string(c->status_message);
        grpc_op ops[3] = {};
        size_t n = 0;

        if (!c->initial_md_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->initial_md_sent = true;
        }
        if (c->reply_bb) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = c->reply_bb;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = c->status_code;
        ops[n].data.send_status_from_server.status_details = &details;
        n++;

        c->status_sent = true;
        atomic_fetch_add(&c->n_refs, 1);
        if (grpc_call_start_batch(c->call, ops, n, &c->status_tag, NULL) != GRPC_CALL_OK) {
                c->over = true;
                atomic_fetch_sub(&c->n_refs, 1);
        }
        grpc_slice_unref(details);
}

/* Start sending @bb (ownership taken); lock held. */
static int call_start_send_locked(RpcCall *c, grpc_byte_buffer *bb) {
        grpc_op ops[2] = {};
        size_t n = 0;

        if (!c->initial_md_sent) {
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
                c->initial_md_sent = true;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;

        c->inflight_bb = bb;
        c->send_in_flight = true;
        atomic_fetch_add(&c->n_refs, 1);
        if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) != GRPC_CALL_OK) {
                c->inflight_bb = NULL;
                c->send_in_flight = false;
                atomic_fetch_sub(&c->n_refs, 1);
                grpc_byte_buffer_destroy(bb);
                return -EIO;
        }
        return 0;
}

/* What to do next once nothing is in flight; lock held. */
static void call_pump_locked(RpcCall *c) {
        RpcQueued *q;

        if (c->send_in_flight || c->status_sent || c->over)
                return;
        q = c->queue_head;
        if (q) {
                c->queue_head = q->next;
                if (!c->queue_head)
                        c->queue_tail = NULL;
                c->n_queued--;
                (void) call_start_send_locked(c, q->bb);
                free(q);
                return;
        }
        if (c->finishing)
                call_start_status_locked(c);
}

static int call_enqueue_locked(RpcCall *c, grpc_byte_buffer *bb) {
        RpcQueued *q;

        if (c->coalesce && c->queue_head) {
                /* Each message is a complete state: the newer one replaces the queued one. */
                grpc_byte_buffer_destroy(c->queue_head->bb);
                c->queue_head->bb = bb;
                return 0;
        }
        if (c->n_queued >= RPC_SEND_QUEUE_MAX)
                return -ENOBUFS;
        q = new0(RpcQueued, 1);
        if (!q)
                return -ENOMEM;
        q->bb = bb;
        if (c->queue_tail)
                c->queue_tail->next = q;
        else
                c->queue_head = q;
        c->queue_tail = q;
        c->n_queued++;
        return 0;
}

static void call_set_status_locked(RpcCall *c, grpc_status_code code, const char *msg) {
        c->finishing = true;
        c->status_code = code;
        free(c->status_message);
        c->status_message = msg ? strdup(msg) : NULL;
}

int rpc_call_send(RpcCall *c, const ProtobufCMessage *msg) {
        grpc_byte_buffer *bb;
        int r;

        r = rpc_pack(msg, &bb);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        if (c->over || c->finishing) {
                pthread_mutex_unlock(&c->lock);
                grpc_byte_buffer_destroy(bb);
                return -ECANCELED;
        }
        if (!c->send_in_flight)
                r = call_start_send_locked(c, bb);
        else {
                r = call_enqueue_locked(c, bb);
                if (r < 0) {
                        grpc_byte_buffer_destroy(bb);
                        if (r == -ENOBUFS) {
                                queue_clear(c);
                                call_set_status_locked(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                                       "client too slow: send queue full");
                        }
                }
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

int rpc_call_reply(RpcCall *c, const ProtobufCMessage *msg) {
        grpc_byte_buffer *bb;
        int r;

        r = rpc_pack(msg, &bb);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        if (c->over || c->finishing) {
                pthread_mutex_unlock(&c->lock);
                grpc_byte_buffer_destroy(bb);
                return -EALREADY;
        }
        c->reply_bb = bb;
        call_set_status_locked(c, GRPC_STATUS_OK, NULL);
        call_pump_locked(c);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

int rpc_call_finish(RpcCall *c, grpc_status_code code, const char *fmt, ...) {
        char msg[1024];

        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                (void) vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        pthread_mutex_lock(&c->lock);
        if (c->over || c->finishing) {
                pthread_mutex_unlock(&c->lock);
                return -EALREADY;
        }
        call_set_status_locked(c, code, fmt ? msg : NULL);
        call_pump_locked(c);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

void rpc_call_set_coalesce(RpcCall *c, bool coalesce) {
        pthread_mutex_lock(&c->lock);
        c->coalesce = coalesce;
        pthread_mutex_unlock(&c->lock);
}

void rpc_call_on_cancel(RpcCall *c, void (*cb)(RpcCall *call, void *userdata), void *userdata) {
        bool run_now;

        pthread_mutex_lock(&c->lock);
        run_now = c->closed && c->cancelled && !c->finishing && c->n_user_refs > 0;
        if (!run_now) {
                c->on_cancel = cb;
                c->on_cancel_userdata = userdata;
        }
        pthread_mutex_unlock(&c->lock);
        if (run_now && cb)
                cb(c, userdata);
}

bool rpc_call_is_over(RpcCall *c) {
        bool over;

        pthread_mutex_lock(&c->lock);
        over = c->over || c->finishing;
        pthread_mutex_unlock(&c->lock);
        return over;
}

void rpc_call_set_userdata(RpcCall *c, void *userdata) {
        c->userdata = userdata;
}

void *rpc_call_get_userdata(const RpcCall *c) {
        return c->userdata;
}

const RpcMethod *rpc_call_method(const RpcCall *c) {
        return c->method;
}

void rpc_call_ref(RpcCall *c) {
        atomic_fetch_add(&c->n_refs, 1);
        pthread_mutex_lock(&c->lock);
        c->n_user_refs++;
        pthread_mutex_unlock(&c->lock);
}

/* A handler let go of a call it never answered: end it rather than leave it hanging. */
static void call_finish_abandoned_locked(RpcCall *c) {
        if (c->n_user_refs == 0 && !c->finishing && !c->over) {
                call_set_status_locked(c, GRPC_STATUS_INTERNAL, "request was not answered");
                call_pump_locked(c);
        }
}

void rpc_call_unref(RpcCall *c) {
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->n_user_refs--;
        call_finish_abandoned_locked(c);
        pthread_mutex_unlock(&c->lock);
        call_unref_internal(c);
}

void rpc_call_after_handler(RpcCall *c) {
        pthread_mutex_lock(&c->lock);
        call_finish_abandoned_locked(c);
        pthread_mutex_unlock(&c->lock);
        call_unref_internal(c);
}

static void call_handle_close(RpcCall *c) {
        void (*cb)(RpcCall *, void *) = NULL, (*close_cb)(RpcCall *, void *);
        void *ud = NULL, *close_ud;

        pthread_mutex_lock(&c->lock);
        c->over = true;
        c->closed = true;
        queue_clear(c);
        if (c->cancelled && !c->finishing && c->n_user_refs > 0) {
                cb = c->on_cancel;
                ud = c->on_cancel_userdata;
        }
        c->on_cancel = NULL;
        close_cb = c->on_close;
        close_ud = c->on_close_userdata;
        c->on_close = NULL;
        pthread_mutex_unlock(&c->lock);
        if (cb)
                cb(c, ud);
        if (close_cb)
                close_cb(c, close_ud);
}

void rpc_call_on_close(RpcCall *c, void (*cb)(RpcCall *call, void *userdata), void *userdata) {
        bool run_now;

        pthread_mutex_lock(&c->lock);
        run_now = c->closed;
        if (!run_now) {
                c->on_close = cb;
                c->on_close_userdata = userdata;
        }
        pthread_mutex_unlock(&c->lock);
        if (run_now && cb)
                cb(c, userdata);
}

void rpc_call_handle_tag(RpcCall *c, RpcTag *tag, bool ok) {
        switch (tag->kind) {
        case RPC_TAG_SEND:
                pthread_mutex_lock(&c->lock);
                grpc_byte_buffer_destroy(c->inflight_bb);
                c->inflight_bb = NULL;
                c->send_in_flight = false;
                if (!ok) {
                        c->over = true;
                        queue_clear(c);
                } else
                        call_pump_locked(c);
                pthread_mutex_unlock(&c->lock);
                break;
        case RPC_TAG_STATUS:
                pthread_mutex_lock(&c->lock);
                c->over = true;
                pthread_mutex_unlock(&c->lock);
                break;
        case RPC_TAG_CLOSE:
                call_handle_close(c);
                break;
        default:
                break;
        }
        call_unref_internal(c);
}

/*
 * Server shutdown: end every open stream now instead of waiting for it. What is
 * still queued is dropped; the client gets the status the handler already set,
 * or UNAVAILABLE. The cancel callbacks of streams not yet finished then run.
 */
void rpc_calls_end_streams(RpcServer *s) {
        pthread_mutex_lock(&s->streams_lock);
        for (RpcCall *c = s->streams; c; c = c->streams_next) {
                bool own;

                pthread_mutex_lock(&c->lock);
                own = c->finishing && c->status_code != GRPC_STATUS_OK;
                if (!c->over && !c->status_sent) {
                        c->over = true;
                        queue_clear(c);
                        grpc_call_cancel_with_status(
                                c->call, own ? c->status_code : GRPC_STATUS_UNAVAILABLE,
                                own && c->status_message ? c->status_message
                                                         : "server is shutting down",
                                NULL);
                }
                pthread_mutex_unlock(&c->lock);
        }
        pthread_mutex_unlock(&s->streams_lock);
}

size_t rpc_call_metadata_count(const RpcCall *c, const char *key) {
        size_t n = 0;

        for (size_t i = 0; i < c->metadata.count; i++)
                if (grpc_slice_str_cmp(c->metadata.metadata[i].key, key) == 0)
                        n++;
        return n;
}

char *rpc_call_metadata_first(const RpcCall *c, const char *key) {
        for (size_t i = 0; i < c->metadata.count; i++)
                if (grpc_slice_str_cmp(c->metadata.metadata[i].key, key) == 0)
                        return rpc_slice_to_string(c->metadata.metadata[i].value);
        return NULL;
}

int rpc_call_peer_cred(const RpcCall *c, RpcPeerCred *ret) {
        char *peer = grpc_call_get_peer(c->call);
        char *end = NULL;
        long fd;
        int r;

        if (!peer)
                return -ENOTCONN;
        if (strncmp(peer, "fd:", 3) != 0) {
                gpr_free(peer);
                return -ENOTCONN;
        }
        errno = 0;
        fd = strtol(peer + 3, &end, 10);
        r = (errno != 0 || !end || *end != '\0' || fd < 0 || fd > INT32_MAX) ? -ENOTCONN : 0;
        gpr_free(peer);
        if (r < 0)
                return r;
        return rpc_unix_lookup(c->server, (int) fd, ret);
}

char *rpc_call_peer_name(RpcCall *c) {
        char *peer = grpc_call_get_peer(c->call);
        char *out = peer ? strdup(peer) : NULL;

        gpr_free(peer);
        return out;
}

char *rpc_call_auth_property(RpcCall *c, const char *name) {
        grpc_auth_context *ctx = grpc_call_auth_context(c->call);
        grpc_auth_property_iterator it;
        const grpc_auth_property *p;
        char *out = NULL;

        if (!ctx)
                return NULL;
        it = grpc_auth_context_find_properties_by_name(ctx, name);
        p = grpc_auth_property_iterator_next(&it);
        if (p && p->value && !memchr(p->value, '\0', p->value_length))
                out = strndup(p->value, p->value_length);
        grpc_auth_context_release(ctx);
        return out;
}
