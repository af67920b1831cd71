/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "rpc-util.h"
#include "sigil/log.h"

int rpc_pack(const ProtobufCMessage *msg, grpc_byte_buffer **ret) {
        size_t n = protobuf_c_message_get_packed_size(msg);
        grpc_slice slice = grpc_slice_malloc(n);
        grpc_byte_buffer *bb;

        if (protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice)) != n) {
                grpc_slice_unref(slice);
                return -EINVAL;
        }
        bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        if (!bb)
                return -ENOMEM;
        *ret = bb;
        return 0;
}

int rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, size_t max,
               ProtobufCMessage **ret) {
        grpc_byte_buffer_reader reader;
        ProtobufCMessage *m;
        grpc_slice all;

        if (!bb) {
                m = protobuf_c_message_unpack(desc, NULL, 0, (const uint8_t *) "");
                if (!m)
                        return -ENOMEM;
                *ret = m;
                return 0;
        }
        if (grpc_byte_buffer_length(bb) > max)
                return -EMSGSIZE;
        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return -EBADMSG;
        all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all),
                                      GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
        if (!m)
                return -EBADMSG;
        *ret = m;
        return 0;
}

grpc_slice rpc_slice_from_string(const char *s) {
        return grpc_slice_from_copied_string(s ? s : "");
}

char *rpc_slice_to_string(grpc_slice s) {
        size_t n = GRPC_SLICE_LENGTH(s);
        char *out;

        if (memchr(GRPC_SLICE_START_PTR(s), '\0', n))
                return NULL;
        out = malloc(n + 1);
        if (!out)
                return NULL;
        memcpy(out, GRPC_SLICE_START_PTR(s), n);
        out[n] = '\0';
        return out;
}

const char *rpc_status_to_string(grpc_status_code code) {
        static const char *const names[] = {
                [GRPC_STATUS_OK] = "OK",
                [GRPC_STATUS_CANCELLED] = "CANCELLED",
                [GRPC_STATUS_UNKNOWN] = "UNKNOWN",
                [GRPC_STATUS_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
                [GRPC_STATUS_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
                [GRPC_STATUS_NOT_FOUND] = "NOT_FOUND",
                [GRPC_STATUS_ALREADY_EXISTS] = "ALREADY_EXISTS",
                [GRPC_STATUS_PERMISSION_DENIED] = "PERMISSION_DENIED",
                [GRPC_STATUS_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
                [GRPC_STATUS_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
                [GRPC_STATUS_ABORTED] = "ABORTED",
                [GRPC_STATUS_OUT_OF_RANGE] = "OUT_OF_RANGE",
                [GRPC_STATUS_UNIMPLEMENTED] = "UNIMPLEMENTED",
                [GRPC_STATUS_INTERNAL] = "INTERNAL",
                [GRPC_STATUS_UNAVAILABLE] = "UNAVAILABLE",
                [GRPC_STATUS_DATA_LOSS] = "DATA_LOSS",
                [GRPC_STATUS_UNAUTHENTICATED] = "UNAUTHENTICATED",
        };

        if ((unsigned) code >= ELEMENTSOF(names) || !names[code])
                return "UNKNOWN";
        return names[code];
}

static pthread_once_t rpc_once = PTHREAD_ONCE_INIT;

static void rpc_init_once(void) {
        grpc_init();
}

void rpc_init(void) {
        (void) pthread_once(&rpc_once, rpc_init_once);
}

/* gRPC lines that say nothing an operator can act on. */
static bool grpc_line_is_noise(const char *msg) {
        static const char *const noise[] = {
                "No match found for server name",       /* agents dial by IP, SVIDs carry no IP SAN */
        };

        for (size_t i = 0; i < ELEMENTSOF(noise); i++)
                if (strstr(msg, noise[i]))
                        return true;
        return false;
}

static void grpc_log_to_sigil(gpr_log_func_args *args) {
        const char *msg = args->message ? args->message : "";

        if (args->severity == GPR_LOG_SEVERITY_ERROR && !grpc_line_is_noise(msg))
                log_warning("grpc: %s", msg);
        else
                log_debug("grpc: %s (%s:%d)", msg, args->file ? args->file : "?", args->line);
}

void rpc_route_grpc_logs(void) {
        gpr_set_log_function(grpc_log_to_sigil);
}
