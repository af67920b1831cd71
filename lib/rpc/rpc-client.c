/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking gRPC core clients: the CLIs and the agent's server client use
 * these. Every call gets its own pluck completion queue, so calls on the
 * same channel from different threads never see each other's events.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "rpc-client.h"

#define RPC_MD_MAX 8

/* A call waiting for its answer, on its client's list so rpc_client_cancel() finds it. */
typedef struct RpcInflight {
        grpc_call *call;
        struct RpcInflight *prev, *next;
} RpcInflight;

struct RpcClient {
        grpc_channel *channel;
        pthread_mutex_t lock;
        bool cancelled;                 /* rpc_client_cancel() was called: no new calls */
        RpcInflight *inflight;
};

struct RpcStream {
        RpcClient *client;
        RpcInflight inflight;
        grpc_completion_queue *cq;
        grpc_call *call;
        const ProtobufCMessageDescriptor *resp_desc;
        grpc_metadata md[RPC_MD_MAX];
        size_t n_md;
        grpc_byte_buffer *req_bb;
        grpc_metadata_array initial_md;
        grpc_metadata_array trailing_md;
        grpc_byte_buffer *recv_bb;
        grpc_status_code status;
        grpc_slice status_details;
        int tag_start, tag_recv, tag_status;
        bool start_pending, recv_pending, status_pending, ended;
};

int rpc_client_new_with_args(const char *target, grpc_channel_credentials *creds,
                             const grpc_channel_args *args, RpcClient **ret) {
        grpc_channel_credentials *insecure = NULL;
        RpcClient *c;

        rpc_init();
        c = new0(RpcClient, 1);
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        if (!creds)
                creds = insecure = grpc_insecure_credentials_create();
        c->channel = grpc_channel_create(target, creds, args);
        if (insecure)
                grpc_channel_credentials_release(insecure);
        if (!c->channel) {
                pthread_mutex_destroy(&c->lock);
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int rpc_client_new(const char *target, grpc_channel_credentials *creds, RpcClient **ret) {
        return rpc_client_new_with_args(target, creds, NULL, ret);
}

RpcClient *rpc_client_free(RpcClient *c) {
        if (!c)
                return NULL;
        grpc_channel_destroy(c->channel);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

/* Put @call on @c's list. Return: false when @c was cancelled (the call is cancelled too). */
static bool inflight_add(RpcClient *c, RpcInflight *n, grpc_call *call) {
        bool ok;

        pthread_mutex_lock(&c->lock);
        ok = !c->cancelled;
        *n = (RpcInflight) { .call = call };
        if (ok)
                LIST_PREPEND(prev, next, c->inflight, n);
        pthread_mutex_unlock(&c->lock);
        if (!ok)
                grpc_call_cancel(call, NULL);
        return ok;
}

static void inflight_remove(RpcClient *c, RpcInflight *n) {
        pthread_mutex_lock(&c->lock);
        LIST_REMOVE(prev, next, c->inflight, n);
        pthread_mutex_unlock(&c->lock);
}

void rpc_client_cancel(RpcClient *c) {
        pthread_mutex_lock(&c->lock);
        c->cancelled = true;
        for (RpcInflight *n = c->inflight; n; n = n->next)
                grpc_call_cancel(n->call, NULL);
        pthread_mutex_unlock(&c->lock);
}

static gpr_timespec deadline_after(uint64_t usec) {
        if (usec == 0)
                return gpr_inf_future(GPR_CLOCK_MONOTONIC);
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_micros((int64_t) usec, GPR_TIMESPAN));
}

static void status_fill(RpcStatus *st, grpc_status_code code, grpc_slice details) {
        size_t n = MIN(GRPC_SLICE_LENGTH(details), sizeof(st->message) - 1);

        st->code = code;
        memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
        st->message[n] = '\0';
}

static void cq_destroy(grpc_completion_queue *cq) {
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(cq);
}

static size_t md_fill(grpc_metadata *out, const RpcMetadata *md, size_t n_md) {
        size_t n = MIN(n_md, (size_t) RPC_MD_MAX);

        for (size_t i = 0; i < n; i++)
                out[i] = (grpc_metadata) { .key = rpc_slice_from_string(md[i].key),
                                           .value = rpc_slice_from_string(md[i].value) };
        return n;
}

static void md_release(grpc_metadata *md, size_t n) {
        for (size_t i = 0; i < n; i++) {
                grpc_slice_unref(md[i].key);
                grpc_slice_unref(md[i].value);
        }
}

static bool pluck(grpc_completion_queue *cq, void *tag, gpr_timespec deadline, bool *ret_ok) {
        grpc_event ev = grpc_completion_queue_pluck(cq, tag, deadline, NULL);

        if (ev.type != GRPC_OP_COMPLETE)
                return false;
        *ret_ok = ev.success;
        return true;
}

int rpc_client_unary(RpcClient *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const RpcMetadata *md,
                     size_t n_md, uint64_t timeout_usec, ProtobufCMessage **ret_resp,
                     RpcStatus *ret_status) {
        grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
        grpc_slice method_slice = rpc_slice_from_string(method);
        gpr_timespec deadline = deadline_after(timeout_usec);
        grpc_metadata_array initial_md, trailing_md;
        grpc_byte_buffer *req_bb = NULL, *resp_bb = NULL;
        grpc_status_code code = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        grpc_metadata mds[RPC_MD_MAX];
        grpc_op ops[6] = {};
        grpc_call *call;
        size_t k = md_fill(mds, md, n_md);
        bool ok = false;
        int tag = 1, r;

        *ret_status = (RpcStatus) { .code = GRPC_STATUS_UNKNOWN };
        grpc_metadata_array_init(&initial_md);
        grpc_metadata_array_init(&trailing_md);
        r = rpc_pack(req, &req_bb);
        call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                        method_slice, NULL, deadline, NULL);
        if (r == 0 && call) {
                ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
                ops[0].data.send_initial_metadata.count = k;
                ops[0].data.send_initial_metadata.metadata = mds;
                ops[1].op = GRPC_OP_SEND_MESSAGE;
                ops[1].data.send_message.send_message = req_bb;
                ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
                ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
                ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
                ops[4].op = GRPC_OP_RECV_MESSAGE;
                ops[4].data.recv_message.recv_message = &resp_bb;
                ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
                ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
                ops[5].data.recv_status_on_client.status = &code;
                ops[5].data.recv_status_on_client.status_details = &details;
                RpcInflight node;
                bool listed = inflight_add(c, &node, call);

                if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK)
                        r = -EIO;
                else if (!pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), &ok) || !ok)
                        r = -EIO;
                if (listed)
                        inflight_remove(c, &node);
        } else if (r == 0)
                r = -ENOMEM;

        if (r == 0) {
                status_fill(ret_status, code, details);
                if (code == GRPC_STATUS_OK) {
                        r = rpc_unpack(resp_bb, resp_desc, SIZE_MAX, ret_resp);
                        if (r < 0)
                                r = -EBADMSG;
                }
        }
        if (call)
                grpc_call_unref(call);
        if (req_bb)
                grpc_byte_buffer_destroy(req_bb);
        if (resp_bb)
                grpc_byte_buffer_destroy(resp_bb);
        grpc_slice_unref(details);
        grpc_slice_unref(method_slice);
        grpc_metadata_array_destroy(&initial_md);
        grpc_metadata_array_destroy(&trailing_md);
        md_release(mds, k);
        cq_destroy(cq);
        return r;
}

int rpc_client_stream_open(RpcClient *c, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, const RpcMetadata *md,
                           size_t n_md, uint64_t timeout_usec, RpcStream **ret) {
        grpc_slice method_slice = rpc_slice_from_string(method);
        grpc_op ops[4] = {};
        RpcStream *st;
        int r;

        st = new0(RpcStream, 1);
        if (!st)
                return -ENOMEM;
        st->resp_desc = resp_desc;
        st->status_details = grpc_empty_slice();
        grpc_metadata_array_init(&st->initial_md);
        grpc_metadata_array_init(&st->trailing_md);
        st->cq = grpc_completion_queue_create_for_pluck(NULL);
        st->n_md = md_fill(st->md, md, n_md);
        r = rpc_pack(req, &st->req_bb);
        if (r == 0) {
                st->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                    st->cq, method_slice, NULL,
                                                    deadline_after(timeout_usec), NULL);
                if (!st->call)
                        r = -ENOMEM;
                else if (inflight_add(c, &st->inflight, st->call))
                        st->client = c;
        }
        grpc_slice_unref(method_slice);
        if (r < 0) {
                rpc_client_stream_free(st);
                return r;
        }
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[0].data.send_initial_metadata.count = st->n_md;
        ops[0].data.send_initial_metadata.metadata = st->md;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = st->req_bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
        if (grpc_call_start_batch(st->call, ops, 4, &st->tag_start, NULL) != GRPC_CALL_OK) {
                rpc_client_stream_free(st);
                return -EIO;
        }
        st->start_pending = true;
        *ret = st;
        return 0;
}

static int stream_finish(RpcStream *st, uint64_t timeout_usec, RpcStatus *ret_status) {
        bool ok;

        if (!st->status_pending && !st->ended) {
                grpc_op op = { .op = GRPC_OP_RECV_STATUS_ON_CLIENT };

                op.data.recv_status_on_client.trailing_metadata = &st->trailing_md;
                op.data.recv_status_on_client.status = &st->status;
                op.data.recv_status_on_client.status_details = &st->status_details;
                if (grpc_call_start_batch(st->call, &op, 1, &st->tag_status, NULL) !=
                    GRPC_CALL_OK)
                        return -EIO;
                st->status_pending = true;
        }
        if (st->status_pending) {
                if (!pluck(st->cq, &st->tag_status, deadline_after(timeout_usec), &ok))
                        return -ETIMEDOUT;
                st->status_pending = false;
                st->ended = true;
        }
        status_fill(ret_status, st->status, st->status_details);
        return 0;
}

int rpc_client_stream_next(RpcStream *st, uint64_t timeout_usec, ProtobufCMessage **ret_msg,
                           RpcStatus *ret_status) {
        bool ok;
        int r;

        if (st->ended || st->status_pending)
                return stream_finish(st, timeout_usec, ret_status);
        if (!st->recv_pending) {
                grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

                op.data.recv_message.recv_message = &st->recv_bb;
                if (grpc_call_start_batch(st->call, &op, 1, &st->tag_recv, NULL) != GRPC_CALL_OK)
                        return -EIO;
                st->recv_pending = true;
        }
        if (!pluck(st->cq, &st->tag_recv, deadline_after(timeout_usec), &ok))
                return -ETIMEDOUT;
        st->recv_pending = false;
        if (!ok || !st->recv_bb)
                return stream_finish(st, 0, ret_status);

        r = rpc_unpack(st->recv_bb, st->resp_desc, SIZE_MAX, ret_msg);
        grpc_byte_buffer_destroy(st->recv_bb);
        st->recv_bb = NULL;
        if (r < 0)
                return -EBADMSG;
        return 1;
}

RpcStream *rpc_client_stream_free(RpcStream *st) {
        bool ok;

        if (!st)
                return NULL;
        if (st->client)
                inflight_remove(st->client, &st->inflight);
        if (st->call) {
                if (!st->ended)
                        grpc_call_cancel(st->call, NULL);
                if (st->start_pending)
                        (void) pluck(st->cq, &st->tag_start, gpr_inf_future(GPR_CLOCK_REALTIME),
                                     &ok);
                if (st->recv_pending)
                        (void) pluck(st->cq, &st->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME),
                                     &ok);
                if (st->status_pending)
                        (void) pluck(st->cq, &st->tag_status,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), &ok);
                grpc_call_unref(st->call);
        }
        if (st->recv_bb)
                grpc_byte_buffer_destroy(st->recv_bb);
        if (st->req_bb)
                grpc_byte_buffer_destroy(st->req_bb);
        grpc_metadata_array_destroy(&st->initial_md);
        grpc_metadata_array_destroy(&st->trailing_md);
        grpc_slice_unref(st->status_details);
        md_release(st->md, st->n_md);
        if (st->cq)
                cq_destroy(st->cq);
        free(st);
        return NULL;
}
