/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-client.h - blocking gRPC core clients for protobuf-c services */
#pragma once

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "rpc-util.h"
#include "sigil/macro.h"

typedef struct RpcClient RpcClient;
typedef struct RpcStream RpcStream;

/* The outcome of a call: a gRPC status code and its message. */
typedef struct RpcStatus {
        grpc_status_code code;
        char message[512];
} RpcStatus;

typedef struct RpcMetadata {
        const char *key;
        const char *value;
} RpcMetadata;

/**
 * rpc_client_new() - a channel to @target ("unix:///path" or "host:port")
 * @target:     gRPC target URI
 * @creds:      channel credentials, or NULL for plaintext (ownership stays with the caller)
 * @ret:        on success, the client
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_client_new(const char *target, grpc_channel_credentials *creds, RpcClient **ret);

/**
 * rpc_client_new_with_args() - like rpc_client_new() with extra channel arguments
 * @target:     gRPC target URI
 * @creds:      channel credentials, or NULL for plaintext
 * @args:       channel arguments, or NULL
 * @ret:        on success, the client
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_client_new_with_args(const char *target, grpc_channel_credentials *creds,
                             const grpc_channel_args *args, RpcClient **ret);
RpcClient *rpc_client_free(RpcClient *c);

/*
 * Cancel every call of @c still waiting (unary calls and open streams end
 * with CANCELLED), and every call made on @c from now on. For shutting down
 * while another thread waits on a server that does not answer. Thread-safe.
 */
void rpc_client_cancel(RpcClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcClient *, rpc_client_free)

/**
 * rpc_client_unary() - one blocking unary call
 * @c:          client
 * @method:     "/pkg.Service/Method"
 * @req:        request
 * @resp_desc:  type of the response
 * @md:         request metadata, may be NULL
 * @n_md:       number of @md entries
 * @timeout_usec: deadline from now
 * @ret_resp:   on status OK, the response (free with protobuf_c_message_free_unpacked)
 * @ret_status: the call's status (always written)
 *
 * Return: 0 when the call completed (look at @ret_status), negative errno when
 * it could not be made or the response did not parse.
 */
int rpc_client_unary(RpcClient *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const RpcMetadata *md,
                     size_t n_md, uint64_t timeout_usec, ProtobufCMessage **ret_resp,
                     RpcStatus *ret_status);

/**
 * rpc_client_stream_open() - start a server-streaming call
 * @c:          client
 * @method:     "/pkg.Service/Method"
 * @req:        request
 * @resp_desc:  type of the streamed messages
 * @md:         request metadata, may be NULL
 * @n_md:       number of @md entries
 * @timeout_usec: deadline of the whole stream from now (0 = none)
 * @ret:        on success, the stream
 *
 * Return: 0 or negative errno.
 */
int rpc_client_stream_open(RpcClient *c, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *resp_desc, const RpcMetadata *md,
                           size_t n_md, uint64_t timeout_usec, RpcStream **ret);

/**
 * rpc_client_stream_next() - wait for the next message of a stream
 * @st:         stream
 * @timeout_usec: how long to wait for it
 * @ret_msg:    on 1, the message
 * @ret_status: on 0, the final status
 *
 * Return: 1 (a message), 0 (the stream ended: see @ret_status), -ETIMEDOUT, or negative errno.
 */
int rpc_client_stream_next(RpcStream *st, uint64_t timeout_usec, ProtobufCMessage **ret_msg,
                           RpcStatus *ret_status);

/* Cancel (if still open) and free a stream. */
RpcStream *rpc_client_stream_free(RpcStream *st);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcStream *, rpc_client_stream_free)
