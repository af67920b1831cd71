/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli-fake.h - a fake sigil-server admin API for the CLI's client tests: real
 * gRPC over a Unix socket, the messages of proto/sigil/admin.proto, answers
 * chosen by the test; and a runner that captures what a command prints.
 */
#pragma once

#include "test-util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>

#include "cli-util.h"
#include "rpc-server.h"
#include "sigil/x509svid.h"

#define RECORD_MAX 16

typedef struct Recorded {
        char method[128];
        uint8_t *data;
        size_t n;
} Recorded;

typedef struct Fixture {
        char *dir;
        char sock[256];
        RpcServer *server;
        pthread_mutex_t lock;
        Recorded calls[RECORD_MAX];
        size_t n_calls;
        /* behaviour */
        grpc_status_code fail_code;
        const char *fail_msg;
        bool loop_token, serving, wrong_svid_id, bad_token;
        int64_t jwt_lifetime;
        /* a CA for bundles and X.509-SVIDs */
        EVP_PKEY *ca_key, *jwt_key;
        X509 *ca;
        SigilX509Issuer *issuer;
} Fixture;

typedef struct Captured {
        int rc;
        char *out, *err;
} Captured;

/* The running test's fake server; set by cli_fake_setup(). */
extern Fixture *fixture;

/* cmocka setup/teardown: a fake server on a fresh socket, with a fresh test CA. */
int cli_fake_setup(void **state);
int cli_fake_teardown(void **state);

/* Run @fn with @args plus "-socketPath <the fake's socket>", stdin from @in (may be NULL). */
Captured run_in(int (*fn)(int, char **), const char *in, const char *const *args);
#define RUN(fn, ...) run_in(fn, NULL, (const char *const[]) { __VA_ARGS__, NULL })
#define RUN_STDIN(fn, in, ...) run_in(fn, in, (const char *const[]) { __VA_ARGS__, NULL })
void captured_done(Captured *c);

/* The command succeeded and printed nothing on stderr. */
void expect_ok(const Captured *c);
void assert_prefix(const char *s, const char *prefix);

/* The @i-th call the fake received, which must be of @method, unpacked as @desc. */
ProtobufCMessage *call_at(size_t i, const char *method, const ProtobufCMessageDescriptor *desc);
size_t n_calls(void);

json_t *parse_json(const char *s);

/* A file holding @data in the test's directory; the caller frees the path. */
char *write_tmp(const char *name, const char *data);

/* The test CA as PEM (every bundle of the fake holds it). */
char *ca_pem(void);
