/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-util.h - protobuf-c messages to and from gRPC core byte buffers */
#pragma once

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "sigil/macro.h"

#define RPC_MESSAGE_MAX_DEFAULT (1024u * 1024u)

DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_byte_buffer *, grpc_byte_buffer_destroy)

static inline void protobuf_c_message_freep(ProtobufCMessage **m) {
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
}

/**
 * rpc_pack() - serialise a protobuf-c message into a new gRPC byte buffer
 * @msg:        the message
 * @ret:        on success, the buffer (caller destroys it, or a send op takes it)
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_pack(const ProtobufCMessage *msg, grpc_byte_buffer **ret);

/**
 * rpc_unpack() - parse a gRPC byte buffer as a message of type @desc
 * @bb:         the buffer (NULL means an empty message)
 * @desc:       the expected message type
 * @max:        size cap in bytes, checked before parsing
 * @ret:        on success, the message (free with protobuf_c_message_free_unpacked)
 *
 * Return: 0, -EMSGSIZE, -EBADMSG or -ENOMEM.
 */
int rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, size_t max,
               ProtobufCMessage **ret);

/* Make a gRPC slice from a C string (copied). */
grpc_slice rpc_slice_from_string(const char *s);

/* A malloc'd NUL-terminated copy of a slice; NULL on OOM or embedded NUL. */
char *rpc_slice_to_string(grpc_slice s);

/* The name of a status code ("PERMISSION_DENIED"), for logs and CLI errors. */
const char *rpc_status_to_string(grpc_status_code code);

/* Call grpc_init() once per process (thread-safe); grpc_shutdown is left to exit. */
void rpc_init(void);

/*
 * Send gRPC core's own log lines into sigil's log (daemons call this once at
 * start): gRPC errors become warnings prefixed "grpc:", everything else
 * debug; a few known-harmless lines are demoted to debug.
 */
void rpc_route_grpc_logs(void);
