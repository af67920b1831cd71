/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-internal.h - shared state of rpc-server.c, rpc-call.c and rpc-unix.c */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "rpc-server.h"

/* Every tag on the completion queue starts with this header. */
typedef enum RpcTagKind {
        RPC_TAG_NEW_CALL,       /* a request slot got a call */
        RPC_TAG_UNKNOWN_CALL,   /* the catch-all slot got a call to an unregistered method */
        RPC_TAG_SEND,           /* a send-message batch completed */
        RPC_TAG_STATUS,         /* the send-status batch completed */
        RPC_TAG_CLOSE,          /* recv-close-on-server completed: call over */
        RPC_TAG_SHUTDOWN,       /* server shutdown notification */
        RPC_TAG_DISCARD,        /* a batch whose completion needs no action but an unref */
} RpcTagKind;

typedef struct RpcTag {
        RpcTagKind kind;
} RpcTag;

/* An outstanding grpc_server_request_registered_call for one method. */
typedef struct RpcSlot {
        RpcTag tag;
        RpcServer *server;
        size_t method;          /* index into the table, or SIZE_MAX for the catch-all */
        grpc_call *call;
        gpr_timespec deadline;
        grpc_call_details details;
        grpc_metadata_array metadata;
        grpc_byte_buffer *payload;
} RpcSlot;

typedef struct RpcQueued {
        struct RpcQueued *next;
        grpc_byte_buffer *bb;
} RpcQueued;

struct RpcCall {
        RpcServer *server;
        const RpcMethod *method;
        grpc_call *call;
        grpc_metadata_array metadata;
        pthread_mutex_t lock;
        atomic_int n_refs;
        int n_user_refs;        /* references held by handlers (under @lock) */

        RpcTag close_tag;
        RpcTag send_tag;
        RpcTag status_tag;
        int cancelled;          /* written by gRPC when close_tag completes */

        bool initial_md_sent;
        bool send_in_flight;
        bool coalesce;
        bool finishing;         /* finish requested: status goes after the queue drains */
        bool status_sent;
        bool over;              /* close seen, or status sent */
        bool closed;            /* recv-close completed: the call is gone */
        RpcQueued *queue_head, *queue_tail;
        size_t n_queued;
        grpc_byte_buffer *inflight_bb;  /* the message being sent; destroyed on completion */
        grpc_byte_buffer *reply_bb;     /* a unary reply, sent with the status */
        grpc_status_code status_code;
        char *status_message;

        void (*on_cancel)(RpcCall *call, void *userdata);
        void *on_cancel_userdata;
        void (*on_close)(RpcCall *call, void *userdata);
        void *on_close_userdata;
        void *userdata;

        /* Streaming calls are on the server's list (under its streams_lock) until freed. */
        bool listed;
        RpcCall *streams_prev, *streams_next;
};

/* One accepted Unix connection, indexed by fd number. */
typedef struct RpcPeerSlot {
        bool used;
        dev_t dev;
        ino_t ino;
        RpcPeerCred cred;
} RpcPeerSlot;

typedef struct RpcListener {
        int fd;
        char *path;
        bool bound;             /* @path is the socket file we bound (@dev, @ino) */
        dev_t dev;
        ino_t ino;
        RpcAcceptFilter filter;
} RpcListener;

struct RpcServer {
        const RpcMethod *methods;
        size_t n_methods;
        void *userdata;
        grpc_server *server;
        grpc_completion_queue *cq;
        grpc_server_credentials *insecure;
        void **registered;      /* grpc handles, one per method */
        bool started;
        atomic_bool shutting_down;

        pthread_t *threads;
        size_t n_threads;
        atomic_int n_live_calls;

        RpcListener *listeners;
        size_t n_listeners;
        pthread_t accept_thread;
        bool accept_running;
        int wake_pipe[2];

        pthread_mutex_t peers_lock;
        RpcPeerSlot *peers;
        size_t n_peers;
        uint64_t next_conn_id;

        pthread_mutex_t streams_lock;
        RpcCall *streams;       /* live server-streaming calls, ended at once on shutdown */

        pthread_mutex_t shutdown_lock;
        pthread_cond_t shutdown_cond;
        bool shutdown_done;
        RpcTag shutdown_tag;
};

RpcCall *rpc_call_new(RpcServer *s, const RpcMethod *method, grpc_call *call,
                      grpc_metadata_array *metadata);
void rpc_call_handle_tag(RpcCall *call, RpcTag *tag, bool ok);
void rpc_call_after_handler(RpcCall *call);
void rpc_calls_end_streams(RpcServer *s);

int rpc_unix_start(RpcServer *s);
void rpc_unix_stop(RpcServer *s);
void rpc_unix_shutdown_peers(RpcServer *s);
void rpc_unix_free(RpcServer *s);
int rpc_unix_lookup(RpcServer *s, int fd, RpcPeerCred *ret);
