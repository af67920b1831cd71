/* SPDX-License-Identifier: Apache-2.0 */
/* workload-internal.h - shared by workload-api.c, workload-x509.c, workload-jwt.c */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "jwt-cache.h"
#include "workload-api.h"
#include "workload.pb-c.h"

#define NO_IDENTITY "no identity issued"
#define NO_HEADER "security header missing from request"

struct WorkloadApi {
        WorkloadApiConfig cfg;
        char *socket_path;
        RpcServer *server;
        JwtCache *jwts;
        pthread_mutex_t lock;
        struct WlStream *streams;       /* open streams, linked */
        size_t n_streams;
        bool stopping;
};

typedef enum WlStreamKind {
        WL_STREAM_X509_SVID,
        WL_STREAM_X509_BUNDLES,
        WL_STREAM_JWT_BUNDLES,
} WlStreamKind;

/*
 * Builds the message a stream sends for the current view. Returns 0 with
 * *ret set, -ENOENT when the caller has no identity (the stream ends), or
 * negative errno. The message is freed by the caller with @free_msg.
 */
typedef struct WlMessage {
        ProtobufCMessage *msg;
        void (*free_msg)(ProtobufCMessage *msg);
} WlMessage;

int wl_build_x509_svid(WorkloadApi *api, const CacheView *view, WlMessage *ret);
int wl_build_x509_bundles(WorkloadApi *api, const CacheView *view, WlMessage *ret);
int wl_build_jwt_bundles(WorkloadApi *api, const CacheView *view, WlMessage *ret);

/* Attest the caller of @call, answering it on failure (and returning false). */
bool wl_call_prologue(WorkloadApi *api, RpcCall *call, SigilSelectorSet *ret_selectors,
                      int *ret_pidfd);

/* Start a stream of @kind for an attested caller (takes @pidfd). */
void wl_stream_start(WorkloadApi *api, RpcCall *call, WlStreamKind kind,
                     SigilSelectorSet *selectors, int pidfd);

/* The unary handlers of workload-jwt.c. */
void wl_fetch_jwt_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata);
void wl_validate_jwt_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata);

/* "spiffe://<td>" for a bundle map key. */
void wl_td_key(const char *td, char *buf, size_t n);
