/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-server.h - gRPC core servers for protobuf-c services: unary and server-streaming calls */
#pragma once

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <sys/types.h>

#include "rpc-util.h"
#include "sigil/error.h"
#include "sigil/macro.h"

/*
 * An RpcServer serves a table of methods. Each request is unpacked (with a
 * size cap) into the method's request type and handed to its handler on one
 * of the server's threads. A handler answers with rpc_call_reply() or
 * rpc_call_finish(), at once or later from any thread (holding a reference
 * with rpc_call_ref() meanwhile). Streaming handlers keep a reference and
 * send with rpc_call_send() whenever they like; they learn that the client
 * went away through the cancel callback.
 *
 * Unix listeners are accepted here, not by gRPC, so the peer's credentials
 * (SO_PEERCRED, and a pidfd) are captured at accept time and every call can
 * ask for them.
 */

typedef struct RpcServer RpcServer;
typedef struct RpcCall RpcCall;

typedef enum RpcKind {
        RPC_UNARY,
        RPC_SERVER_STREAMING,
} RpcKind;

/* @request is borrowed for the duration of the handler. */
typedef void (*RpcHandler)(RpcCall *call, const ProtobufCMessage *request, void *userdata);

typedef struct RpcMethod {
        const char *path;                               /* "/pkg.Service/Method" */
        RpcKind kind;
        const ProtobufCMessageDescriptor *request;
        RpcHandler handler;
        size_t max_request;                             /* bytes; 0 = RPC_MESSAGE_MAX_DEFAULT */
} RpcMethod;

/* Credentials of a Unix socket peer, read when its connection was accepted. */
typedef struct RpcPeerCred {
        uint64_t conn_id;       /* unique per connection for the life of the server */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        int pidfd;              /* -1 when the kernel gave none */
} RpcPeerCred;

/*
 * Decides whether to accept a new Unix connection. @n_same_uid counts the
 * connections the same uid already has open. Return 0 to accept, negative to
 * close the connection at once.
 */
typedef int (*RpcAcceptFilter)(const RpcPeerCred *cred, unsigned n_same_uid, void *userdata);

/**
 * rpc_server_new() - a server for a method table
 * @methods:    the table (must outlive the server)
 * @n_methods:  its length
 * @userdata:   passed to every handler and filter
 * @ret:        on success, the server
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_server_new(const RpcMethod *methods, size_t n_methods, void *userdata, RpcServer **ret);

/**
 * rpc_server_listen_unix_full() - listen on a Unix socket (created fresh, mode @mode)
 * @s:          server, not yet started
 * @path:       socket path
 * @mode:       permission bits of the socket file
 * @filter:     accept filter, or NULL to accept everyone
 * @reterr:     on failure, the reason; may be NULL
 *
 * A socket file already at @path is replaced only when it is stale (a
 * connect() to it is refused): one that accepts a connection, or whose
 * backlog is full, belongs to a process that still serves it, and anything
 * that is not a socket is never removed. The socket file is removed when the
 * server stops, unless it was replaced by another one meanwhile.
 *
 * Return: 0, -EADDRINUSE (another process serves @path), -EEXIST (@path is
 * not a socket) or negative errno.
 */
int rpc_server_listen_unix_full(RpcServer *s, const char *path, mode_t mode,
                                RpcAcceptFilter filter, SigilErr *reterr);

/* rpc_server_listen_unix_full() without the message. */
int rpc_server_listen_unix(RpcServer *s, const char *path, mode_t mode, RpcAcceptFilter filter);

/**
 * rpc_server_listen_tcp() - listen on a TCP address with gRPC's own listener
 * @s:          server, not yet started
 * @addr:       "host:port" (port 0 picks one)
 * @creds:      server credentials (ownership stays with the caller)
 * @ret_port:   on success, the bound port; may be NULL
 *
 * Return: 0 or -EADDRNOTAVAIL.
 */
int rpc_server_listen_tcp(RpcServer *s, const char *addr, grpc_server_credentials *creds,
                          int *ret_port);

/**
 * rpc_server_start() - start serving with @n_threads completion-queue threads
 * @s:          server
 * @n_threads:  1 or more
 *
 * Return: 0 or negative errno.
 */
int rpc_server_start(RpcServer *s, unsigned n_threads);

/**
 * rpc_server_shutdown() - stop accepting, end streams, let unary calls in flight finish
 * @s:          server
 * @grace_usec: how long unary calls in flight may take before they are cancelled
 *
 * Server-streaming calls end at once: messages still queued are dropped and
 * the client gets the status the handler already set with rpc_call_finish(),
 * or UNAVAILABLE; the cancel callbacks of streams not finished run. Unary
 * calls still running after @grace_usec are cancelled (their cancel callbacks
 * run). Returns when every thread has stopped.
 */
void rpc_server_shutdown(RpcServer *s, uint64_t grace_usec);
RpcServer *rpc_server_free(RpcServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcServer *, rpc_server_free)

void rpc_call_ref(RpcCall *call);
void rpc_call_unref(RpcCall *call);

const RpcMethod *rpc_call_method(const RpcCall *call);

/* Number of values of metadata key @key, and the first one (malloc'd), or NULL. */
size_t rpc_call_metadata_count(const RpcCall *call, const char *key);
char *rpc_call_metadata_first(const RpcCall *call, const char *key);

/**
 * rpc_call_peer_cred() - the credentials of the Unix peer this call came from
 * @call:       the call
 * @ret:        on success, the credentials; ret->pidfd is a dup the caller closes
 *
 * Return: 0, -ENOTCONN (not a Unix peer, or the connection is gone) or negative errno.
 */
int rpc_call_peer_cred(const RpcCall *call, RpcPeerCred *ret);

/* The peer as gRPC names it ("ipv4:127.0.0.1:5555", "fd:7"), malloc'd, or NULL. */
char *rpc_call_peer_name(RpcCall *call);

/* A TLS auth-context property of the call (e.g. "x509_pem_cert"), malloc'd, or NULL. */
char *rpc_call_auth_property(RpcCall *call, const char *name);

/**
 * rpc_call_reply() - answer a unary call with a message and status OK
 * @call:       the call
 * @msg:        the response
 *
 * Return: 0, -EALREADY (already answered) or negative errno.
 */
int rpc_call_reply(RpcCall *call, const ProtobufCMessage *msg);

/**
 * rpc_call_send() - queue a message on a streaming call
 * @call:       the call
 * @msg:        the message
 *
 * Messages go out in order, one at a time. With coalescing on, a message
 * queued while another is in flight replaces any queued one (each message is
 * then a complete state). Without it, more than RPC_SEND_QUEUE_MAX queued
 * messages end the call with RESOURCE_EXHAUSTED.
 *
 * Return: 0, -ECANCELED (call is over) or negative errno.
 */
int rpc_call_send(RpcCall *call, const ProtobufCMessage *msg);

#define RPC_SEND_QUEUE_MAX 4096

void rpc_call_set_coalesce(RpcCall *call, bool coalesce);

/**
 * rpc_call_finish() - end a call with a status (after any queued messages)
 * @call:       the call
 * @code:       gRPC status code
 * @fmt:        printf format of the status message, or NULL
 *
 * Return: 0, -EALREADY or negative errno.
 */
int rpc_call_finish(RpcCall *call, grpc_status_code code, const char *fmt, ...) _printf_(3, 4);

/*
 * @cb runs once, on a server thread, when the call ends without the server
 * finishing it (client cancelled, deadline, connection lost, server shutdown).
 * It runs only while the handler holds a reference (rpc_call_ref()), and never
 * once rpc_call_finish() or rpc_call_reply() was called, even if the call is
 * then cut short before its status went out.
 */
void rpc_call_on_cancel(RpcCall *call, void (*cb)(RpcCall *call, void *userdata), void *userdata);

/*
 * @cb runs once, on a server thread, when the call is over for whatever
 * reason (finished by the server, cancelled, connection lost), after any
 * cancel callback. If the call is already over, @cb runs at once.
 */
void rpc_call_on_close(RpcCall *call, void (*cb)(RpcCall *call, void *userdata), void *userdata);

/* True once the call was finished or cancelled: nothing more can be sent. */
bool rpc_call_is_over(RpcCall *call);

/* Per-call slot for the handler's own state. */
void rpc_call_set_userdata(RpcCall *call, void *userdata);
void *rpc_call_get_userdata(const RpcCall *call);
