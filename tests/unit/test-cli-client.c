/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every admin subcommand end to end against a fake admin server: real gRPC
 * over a Unix socket, the messages of proto/sigil/admin.proto, answers
 * chosen by the test. Checks what each command sends (fields, paging,
 * batching) and what it prints (text, JSON, one-line errors, exit codes).
 * The real server's behaviour is tested by the integration suite.
 */
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin-methods.h"
#include "cli-util.h"
#include "fileio.h"
#include "rpc-server.h"
#include "sigil/bundle.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/keys.h"
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

static Fixture *fixture;        /* the handlers' and helpers' view of the running test */

/* ---- the fake server ---- */

static void record(Fixture *f, RpcCall *call, const ProtobufCMessage *req) {
        Recorded *r;

        /* no cmocka assertions on server threads: a missing record fails the test later */
        pthread_mutex_lock(&f->lock);
        if (f->n_calls < RECORD_MAX) {
                r = &f->calls[f->n_calls];
                snprintf(r->method, sizeof(r->method), "%s", rpc_call_method(call)->path);
                r->n = protobuf_c_message_get_packed_size(req);
                r->data = malloc(r->n + 1);
                if (r->data) {
                        protobuf_c_message_pack(req, r->data);
                        f->n_calls++;
                }
        }
        pthread_mutex_unlock(&f->lock);
}

/* Record the call; answer with the configured failure if there is one. */
static bool handled_as_failure(Fixture *f, RpcCall *call, const ProtobufCMessage *req) {
        record(f, call, req);
        if (f->fail_code == GRPC_STATUS_OK)
                return false;
        rpc_call_finish(call, f->fail_code, "%s", f->fail_msg);
        return true;
}

static void reply(RpcCall *call, const ProtobufCMessage *m) {
        if (rpc_call_reply(call, m) < 0)
                rpc_call_finish(call, GRPC_STATUS_INTERNAL, "fake: reply failed");
}

static Sigil__Admin__V1__Selector fake_selector = {
        PROTOBUF_C_MESSAGE_INIT(&sigil__admin__v1__selector__descriptor), (char *) "unix",
        (char *) "uid:1000",
};
static Sigil__Admin__V1__Selector *fake_selectors[] = { &fake_selector };

static AdminEntry *fake_entry(const char *id, const char *spiffe_id, const char *parent) {
        AdminEntry *e = calloc(1, sizeof(*e));

        if (!e)
                abort();
        sigil__admin__v1__entry__init(e);
        e->id = (char *) id;
        e->spiffe_id = (char *) spiffe_id;
        e->parent_id = (char *) parent;
        e->selectors = fake_selectors;
        e->n_selectors = 1;
        e->revision_number = 2;
        return e;
}

static void on_count_entries(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__CountEntriesResponse resp =
                SIGIL__ADMIN__V1__COUNT_ENTRIES_RESPONSE__INIT;

        if (handled_as_failure(ud, call, req))
                return;
        resp.count = 3;
        reply(call, &resp.base);
}

/* Three entries in two pages: "" -> two of them and "p2"; "p2" -> the third. */
static void on_list_entries(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const Sigil__Admin__V1__ListEntriesRequest *r = (const void *) req;
        Sigil__Admin__V1__ListEntriesResponse resp = SIGIL__ADMIN__V1__LIST_ENTRIES_RESPONSE__INIT;
        Fixture *f = ud;
        AdminEntry *e[3] = {
                fake_entry("e-son", "spiffe://example.org/son", "spiffe://example.org/father"),
                fake_entry("e-dau", "spiffe://example.org/daughter", "spiffe://example.org/x"),
                fake_entry("e-abc", "spiffe://example.org/abc", "spiffe://example.org/x"),
        };

        if (!handled_as_failure(f, call, req)) {
                bool first = isempty(r->page_token);

                resp.entries = first ? e : e + 2;
                resp.n_entries = first ? 2 : 1;
                resp.next_page_token = (char *) (first || f->loop_token ? "p2" : "");
                reply(call, &resp.base);
        }
        for (size_t i = 0; i < ELEMENTSOF(e); i++)
                free(e[i]);
}

static void on_get_entry(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const Sigil__Admin__V1__GetEntryRequest *r = (const void *) req;
        AdminEntry *e;

        if (handled_as_failure(ud, call, req))
                return;
        if (!streq(r->id, "e-son")) {
                rpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "no such registration entry");
                return;
        }
        e = fake_entry("e-son", "spiffe://example.org/son", "spiffe://example.org/father");
        reply(call, &e->base);
        free(e);
}

/* Batch create/update: entries whose SPIFFE ID ends in /dup or whose ID is "missing" fail. */
static void batch_write(RpcCall *call, const ProtobufCMessage *req, void *ud, bool update) {
        const Sigil__Admin__V1__BatchCreateEntryRequest *r = (const void *) req;
        Sigil__Admin__V1__BatchCreateEntryResponse resp =
                SIGIL__ADMIN__V1__BATCH_CREATE_ENTRY_RESPONSE__INIT;
        Sigil__Admin__V1__BatchCreateEntryResponse__Result res[64], *pres[64];
        Sigil__Admin__V1__Status st[64];
        AdminEntry copies[64];
        char ids[64][16];

        if (handled_as_failure(ud, call, req))
                return;
        if (r->n_entries > 64) {
                rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "fake: batch too large");
                return;
        }
        for (size_t i = 0; i < r->n_entries; i++) {
                const AdminEntry *e = r->entries[i];
                bool fail = update ? streq(e->id, "missing") : !!strstr(e->spiffe_id, "/dup");

                sigil__admin__v1__batch_create_entry_response__result__init(&res[i]);
                sigil__admin__v1__status__init(&st[i]);
                st[i].code = fail ? (update ? GRPC_STATUS_NOT_FOUND : GRPC_STATUS_ALREADY_EXISTS)
                                  : GRPC_STATUS_OK;
                st[i].message = (char *) (fail ? (update ? "entry not found"
                                                         : "similar entry already exists")
                                               : "OK");
                res[i].status = &st[i];
                if (!fail) {
                        copies[i] = *e;         /* shallow: the request stays untouched */
                        if (!update) {
                                snprintf(ids[i], sizeof(ids[i]), "new-%zu", i);
                                copies[i].id = ids[i];
                        }
                        res[i].entry = &copies[i];
                }
                pres[i] = &res[i];
        }
        resp.results = pres;
        resp.n_results = r->n_entries;
        /* BatchUpdateEntryResponse has the same fields and field numbers */
        reply(call, &resp.base);
}

static void on_batch_create(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        batch_write(call, req, ud, false);
}

static void on_batch_update(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        batch_write(call, req, ud, true);
}

static void on_batch_delete(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const Sigil__Admin__V1__BatchDeleteEntryRequest *r = (const void *) req;
        Sigil__Admin__V1__BatchDeleteEntryResponse resp =
                SIGIL__ADMIN__V1__BATCH_DELETE_ENTRY_RESPONSE__INIT;
        Sigil__Admin__V1__BatchDeleteEntryResponse__Result res =
                SIGIL__ADMIN__V1__BATCH_DELETE_ENTRY_RESPONSE__RESULT__INIT, *pres = &res;
        Sigil__Admin__V1__Status st = SIGIL__ADMIN__V1__STATUS__INIT;

        if (handled_as_failure(ud, call, req))
                return;
        if (r->n_ids != 1) {
                rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "fake: one ID expected");
                return;
        }
        st.code = streq(r->ids[0], "missing") ? GRPC_STATUS_NOT_FOUND : GRPC_STATUS_OK;
        st.message = (char *) (st.code ? "entry not found" : "OK");
        res.status = &st;
        res.id = r->ids[0];
        resp.results = &pres;
        resp.n_results = 1;
        reply(call, &resp.base);
}

static void fake_agent(AdminAgent *a, Sigil__Admin__V1__Selector **sels) {
        sigil__admin__v1__agent__init(a);
        a->id = (char *) "spiffe://example.org/sigil/agent/join_token/abc";
        a->attestation_type = (char *) "join_token";
        a->x509_svid_serial_number = (char *) "4c6f7665";
        a->x509_svid_expires_at = 1552410266;
        a->selectors = sels;
        a->n_selectors = 1;
        a->banned = true;
}

static void on_list_agents(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__ListAgentsResponse resp = SIGIL__ADMIN__V1__LIST_AGENTS_RESPONSE__INIT;
        Sigil__Admin__V1__Selector sel = SIGIL__ADMIN__V1__SELECTOR__INIT, *sels[] = { &sel };
        AdminAgent a, *pa = &a;

        if (handled_as_failure(ud, call, req))
                return;
        sel.type = (char *) "join_token";
        sel.value = (char *) "abc";
        fake_agent(&a, sels);
        resp.agents = &pa;
        resp.n_agents = 1;
        reply(call, &resp.base);
}

static void on_get_agent(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__Selector sel = SIGIL__ADMIN__V1__SELECTOR__INIT, *sels[] = { &sel };
        AdminAgent a;

        if (handled_as_failure(ud, call, req))
                return;
        sel.type = (char *) "join_token";
        sel.value = (char *) "abc";
        fake_agent(&a, sels);
        reply(call, &a.base);
}

static void on_empty(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__Empty resp = SIGIL__ADMIN__V1__EMPTY__INIT;

        if (!handled_as_failure(ud, call, req))
                reply(call, &resp.base);
}

static void on_count_agents(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__CountAgentsResponse resp = SIGIL__ADMIN__V1__COUNT_AGENTS_RESPONSE__INIT;

        if (handled_as_failure(ud, call, req))
                return;
        resp.count = 1;
        reply(call, &resp.base);
}

static void on_join_token(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__JoinToken resp = SIGIL__ADMIN__V1__JOIN_TOKEN__INIT;

        if (handled_as_failure(ud, call, req))
                return;
        resp.value = (char *) "tok-123";
        resp.expires_at = 1999999999;
        reply(call, &resp.base);
}

/* A bundle of trust domain @td holding the test CA (and the JWT key when @jwt). */
typedef struct FakeBundle {
        AdminBundle b;
        Sigil__Admin__V1__X509Authority x, *px;
        Sigil__Admin__V1__JWTAuthority j, *pj;
        unsigned char *der;
        uint8_t *spki;
} FakeBundle;

static void fake_bundle(Fixture *f, FakeBundle *fb, const char *td, bool jwt) {
        size_t n_spki = 0;
        int n;

        sigil__admin__v1__bundle__init(&fb->b);
        sigil__admin__v1__x509_authority__init(&fb->x);
        sigil__admin__v1__jwtauthority__init(&fb->j);
        fb->der = NULL;
        fb->spki = NULL;
        n = i2d_X509(f->ca, &fb->der);
        if (n <= 0)
                abort();
        fb->x.asn1 = (ProtobufCBinaryData) { .len = (size_t) n, .data = fb->der };
        fb->px = &fb->x;
        fb->b.trust_domain = (char *) td;
        fb->b.x509_authorities = &fb->px;
        fb->b.n_x509_authorities = 1;
        fb->b.sequence_number = 4;
        if (jwt) {
                if (sigil_key_to_spki_der(f->jwt_key, &fb->spki, &n_spki) < 0)
                        abort();
                fb->j.public_key = (ProtobufCBinaryData) { .len = n_spki, .data = fb->spki };
                fb->j.key_id = (char *) "k1";
                fb->j.expires_at = 1999999999;
                fb->pj = &fb->j;
                fb->b.jwt_authorities = &fb->pj;
                fb->b.n_jwt_authorities = 1;
        }
}

static void fake_bundle_done(FakeBundle *fb) {
        OPENSSL_free(fb->der);
        free(fb->spki);
}

static void on_get_bundle(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        FakeBundle fb;

        if (handled_as_failure(ud, call, req))
                return;
        fake_bundle(ud, &fb, "example.org", true);
        reply(call, &fb.b.base);
        fake_bundle_done(&fb);
}

static void on_list_bundles(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__ListFederatedBundlesResponse resp =
                SIGIL__ADMIN__V1__LIST_FEDERATED_BUNDLES_RESPONSE__INIT;
        FakeBundle a, b;
        AdminBundle *l[2] = { &a.b, &b.b };

        if (handled_as_failure(ud, call, req))
                return;
        fake_bundle(ud, &a, "domain1.test", false);
        fake_bundle(ud, &b, "domain2.test", false);
        resp.bundles = l;
        resp.n_bundles = 2;
        reply(call, &resp.base);
        fake_bundle_done(&a);
        fake_bundle_done(&b);
}

static void on_set_bundle(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const Sigil__Admin__V1__SetFederatedBundleRequest *r = (const void *) req;

        if (!handled_as_failure(ud, call, req))
                reply(call, &r->bundle->base);
}

static void on_mint_x509(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        const Sigil__Admin__V1__MintX509SVIDRequest *r = (const void *) req;
        Sigil__Admin__V1__MintX509SVIDResponse resp =
                SIGIL__ADMIN__V1__MINT_X509_SVIDRESPONSE__INIT;
        Fixture *f = ud;
        SigilCsr *csr = NULL;
        SigilSpiffeId id;
        uint8_t *der = NULL;
        size_t n = 0;
        ProtobufCBinaryData chain[1];
        uint64_t now = sigil_now_sec();
        SigilLeafParams p = { .id = &id, .not_before = now - 10, .not_after = now + 3600 };
        int k;

        if (handled_as_failure(f, call, req))
                return;
        if (sigil_csr_parse(r->csr.data, r->csr.len, &csr, NULL) < 0 ||
            sigil_spiffeid_from_string(f->wrong_svid_id ? "spiffe://example.org/other"
                                                        : r->spiffe_id, &id, NULL) < 0) {
                sigil_csr_free(csr);
                rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "fake: bad CSR or ID");
                return;
        }
        pthread_mutex_lock(&f->lock);
        k = sigil_x509_issuer_sign_spki(f->issuer, csr->spki, csr->n_spki, &p, &der, &n, NULL);
        pthread_mutex_unlock(&f->lock);
        sigil_csr_free(csr);
        if (k < 0) {
                rpc_call_finish(call, GRPC_STATUS_INTERNAL, "fake: signing failed");
                return;
        }
        chain[0] = (ProtobufCBinaryData) { .len = n, .data = der };
        resp.cert_chain = chain;
        resp.n_cert_chain = 1;
        resp.expires_at = (int64_t) p.not_after;
        reply(call, &resp.base);
        free(der);
}

static void on_mint_jwt(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__MintJWTSVIDResponse resp = SIGIL__ADMIN__V1__MINT_JWTSVIDRESPONSE__INIT;
        Fixture *f = ud;

        if (handled_as_failure(f, call, req))
                return;
        resp.token = (char *) (f->bad_token ? "abc.def\nghi"
                                            : "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
        resp.issued_at = (int64_t) sigil_now_sec();
        resp.expires_at = resp.issued_at + f->jwt_lifetime;
        reply(call, &resp.base);
}

static void on_health(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Sigil__Admin__V1__HealthCheckResponse resp = SIGIL__ADMIN__V1__HEALTH_CHECK_RESPONSE__INIT;
        Fixture *f = ud;

        if (handled_as_failure(f, call, req))
                return;
        resp.serving = f->serving;
        resp.trust_domain = (char *) "example.org";
        resp.version = (char *) "0.1.0";
        resp.entries = 3;
        resp.agents = 1;
        reply(call, &resp.base);
}

#define M(path, desc, fn) { path, RPC_UNARY, &sigil__admin__v1__##desc##__descriptor, fn, 0 }

static const RpcMethod methods[] = {
        M(ADMIN_ENTRY_COUNT, count_entries_request, on_count_entries),
        M(ADMIN_ENTRY_LIST, list_entries_request, on_list_entries),
        M(ADMIN_ENTRY_GET, get_entry_request, on_get_entry),
        M(ADMIN_ENTRY_BATCH_CREATE, batch_create_entry_request, on_batch_create),
        M(ADMIN_ENTRY_BATCH_UPDATE, batch_update_entry_request, on_batch_update),
        M(ADMIN_ENTRY_BATCH_DELETE, batch_delete_entry_request, on_batch_delete),
        M(ADMIN_AGENT_COUNT, count_agents_request, on_count_agents),
        M(ADMIN_AGENT_LIST, list_agents_request, on_list_agents),
        M(ADMIN_AGENT_GET, get_agent_request, on_get_agent),
        M(ADMIN_AGENT_DELETE, delete_agent_request, on_empty),
        M(ADMIN_AGENT_BAN, ban_agent_request, on_empty),
        M(ADMIN_AGENT_CREATE_JOIN_TOKEN, create_join_token_request, on_join_token),
        M(ADMIN_BUNDLE_GET, get_bundle_request, on_get_bundle),
        M(ADMIN_BUNDLE_LIST_FEDERATED, list_federated_bundles_request, on_list_bundles),
        M(ADMIN_BUNDLE_SET_FEDERATED, set_federated_bundle_request, on_set_bundle),
        M(ADMIN_BUNDLE_DELETE_FEDERATED, delete_federated_bundle_request, on_empty),
        M(ADMIN_SVID_MINT_X509, mint_x509_svidrequest, on_mint_x509),
        M(ADMIN_SVID_MINT_JWT, mint_jwtsvidrequest, on_mint_jwt),
        M(ADMIN_HEALTH_CHECK, health_check_request, on_health),
};

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        uint64_t now = sigil_now_sec();
        SigilCaParams ca = {
                .trust_domain = "example.org", .subject = "O=sigil test,CN=test CA",
                .not_before = now - 60, .not_after = now + 86400, .path_len = -1,
        };

        assert_non_null(f);
        f->dir = test_mkdtemp();
        f->serving = true;
        f->jwt_lifetime = 3000;
        pthread_mutex_init(&f->lock, NULL);
        snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &f->ca_key), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &f->jwt_key), 0);
        assert_int_equal(sigil_x509_ca_create_root(f->ca_key, &ca, &f->ca, NULL), 0);
        assert_int_equal(sigil_x509_issuer_new(f->ca, f->ca_key, &f->issuer, NULL), 0);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &f->server), 0);
        assert_int_equal(rpc_server_listen_unix(f->server, f->sock, 0600, NULL), 0);
        assert_int_equal(rpc_server_start(f->server, 2), 0);
        fixture = f;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f->server) {
                rpc_server_shutdown(f->server, USEC_PER_SEC);
                rpc_server_free(f->server);
        }
        for (size_t i = 0; i < f->n_calls; i++)
                free(f->calls[i].data);
        sigil_x509_issuer_free(f->issuer);
        X509_free(f->ca);
        EVP_PKEY_free(f->ca_key);
        EVP_PKEY_free(f->jwt_key);
        rm_rf(f->dir);
        free(f->dir);
        free(f);
        fixture = NULL;
        return 0;
}

/* ---- running commands ---- */

typedef struct Captured {
        int rc;
        char *out, *err;
} Captured;

static char *slurp(FILE *f) {
        long n;
        char *s;

        fflush(f);
        n = ftell(f);
        assert_true(n >= 0);
        s = calloc(1, (size_t) n + 1);
        assert_non_null(s);
        rewind(f);
        assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
        return s;
}

/* Run @fn with @args plus "-socketPath <the fake's socket>", stdin from @in (may be NULL). */
static Captured run_in(int (*fn)(int, char **), const char *in, const char *const *args) {
        FILE *out = tmpfile(), *err = tmpfile(), *inf = tmpfile();
        int saved[3] = { dup(STDIN_FILENO), dup(STDOUT_FILENO), dup(STDERR_FILENO) };
        char *argv[128];
        Captured c;
        int argc = 0;

        assert_non_null(out);
        assert_non_null(err);
        assert_non_null(inf);
        if (in)
                fputs(in, inf);
        fflush(inf);
        rewind(inf);
        for (; args[argc]; argc++) {
                assert_true(argc < 120);
                argv[argc] = (char *) args[argc];
        }
        argv[argc++] = (char *) "-socketPath";
        argv[argc++] = fixture->sock;
        argv[argc] = NULL;
        fflush(stdout);
        fflush(stderr);
        assert_true(dup2(fileno(inf), STDIN_FILENO) >= 0);
        assert_true(dup2(fileno(out), STDOUT_FILENO) >= 0);
        assert_true(dup2(fileno(err), STDERR_FILENO) >= 0);
        c.rc = fn(argc, argv);
        fflush(stdout);
        fflush(stderr);
        for (int i = 0; i < 3; i++) {
                assert_true(dup2(saved[i], i) >= 0);
                close(saved[i]);
        }
        c.out = slurp(out);
        c.err = slurp(err);
        fclose(out);
        fclose(err);
        fclose(inf);
        return c;
}

#define RUN(fn, ...) run_in(fn, NULL, (const char *const[]) { __VA_ARGS__, NULL })
#define RUN_STDIN(fn, in, ...) run_in(fn, in, (const char *const[]) { __VA_ARGS__, NULL })

static void done(Captured *c) {
        free(c->out);
        free(c->err);
}

static void assert_prefix(const char *s, const char *prefix) {
        if (strncmp(s, prefix, strlen(prefix)) != 0)
                fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void expect_ok(const Captured *c) {
        if (c->rc != 0)
                fail_msg("exit %d, stderr: %s", c->rc, c->err);
        assert_string_equal(c->err, "");
}

/* The @i-th recorded call, which must be of @method, unpacked as @desc. */
static ProtobufCMessage *call_at(size_t i, const char *method,
                                 const ProtobufCMessageDescriptor *desc) {
        Recorded *r;

        pthread_mutex_lock(&fixture->lock);
        if (i >= fixture->n_calls)
                fail_msg("call %zu of %s was not made (%zu calls)", i, method, fixture->n_calls);
        r = &fixture->calls[i];
        pthread_mutex_unlock(&fixture->lock);
        assert_string_equal(r->method, method);
        return protobuf_c_message_unpack(desc, NULL, r->n, r->data);
}

static size_t n_calls(void) {
        size_t n;

        pthread_mutex_lock(&fixture->lock);
        n = fixture->n_calls;
        pthread_mutex_unlock(&fixture->lock);
        return n;
}

static json_t *parse_json(const char *s) {
        json_error_t e;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &e);

        if (!j)
                fail_msg("output is not JSON (%s): %s", e.text, s);
        return j;
}

static char *write_tmp(const char *name, const char *data) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", fixture->dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(data, f);
        fclose(f);
        return path;
}

/* ---- entries ---- */

static void test_entry_create_flags(void **state) {
        Sigil__Admin__V1__BatchCreateEntryRequest *req;
        AdminEntry *e;
        Captured c;

        c = RUN(cli_entry, "entry", "create", "-spiffeID", "spiffe://example.org/web",
                "-parentID", "spiffe://example.org/node", "-selector", "unix:uid:1000",
                "-selector", "unix:gid:1000", "-x509SVIDTTL", "1h", "-jwtSVIDTTL", "300",
                "-dns", "web.example.org", "-dns", "www.example.org", "-federatesWith",
                "spiffe://domain.test", "-admin", "-downstream=true", "-entryExpiry",
                "1999999999", "-hint", "blue");
        expect_ok(&c);
        assert_prefix(c.out, "Entry ID         : new-0\n"
                             "SPIFFE ID        : spiffe://example.org/web\n"
                             "Parent ID        : spiffe://example.org/node\n");
        assert_strstr(c.out, "X509-SVID TTL    : 3600\nJWT-SVID TTL     : 300\n"
                             "Selector         : unix:uid:1000\n"
                             "Selector         : unix:gid:1000\n"
                             "DNS name         : web.example.org\n"
                             "DNS name         : www.example.org\n"
                             "FederatesWith    : domain.test\n");
        assert_strstr(c.out, "Admin            : true\nDownstream       : true\n");
        done(&c);

        req = (void *) call_at(0, ADMIN_ENTRY_BATCH_CREATE,
                               &sigil__admin__v1__batch_create_entry_request__descriptor);
        assert_int_equal(req->n_entries, 1);
        e = req->entries[0];
        assert_string_equal(e->id, "");
        assert_string_equal(e->spiffe_id, "spiffe://example.org/web");
        assert_string_equal(e->parent_id, "spiffe://example.org/node");
        assert_int_equal(e->n_selectors, 2);
        assert_string_equal(e->selectors[0]->type, "unix");
        assert_string_equal(e->selectors[0]->value, "uid:1000");
        assert_int_equal(e->x509_svid_ttl, 3600);
        assert_int_equal(e->jwt_svid_ttl, 300);
        assert_int_equal(e->n_dns_names, 2);
        assert_string_equal(e->dns_names[1], "www.example.org");
        assert_int_equal(e->n_federates_with, 1);
        assert_string_equal(e->federates_with[0], "domain.test");
        assert_true(e->admin);
        assert_true(e->downstream);
        assert_true(e->expires_at == 1999999999);
        assert_string_equal(e->hint, "blue");
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void test_entry_create_node(void **state) {
        Sigil__Admin__V1__BatchCreateEntryRequest *req;
        Captured c;

        c = RUN(cli_entry, "entry", "create", "-node", "-spiffeID",
                "spiffe://example.org/cluster/a", "-selector", "k8s_psat:cluster:a");
        expect_ok(&c);
        done(&c);
        req = (void *) call_at(0, ADMIN_ENTRY_BATCH_CREATE,
                               &sigil__admin__v1__batch_create_entry_request__descriptor);
        assert_string_equal(req->entries[0]->parent_id, "spiffe://example.org/sigil/server");
        assert_false(req->entries[0]->admin);
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

#define DATA_ENTRY(id)                                                                     \
        "{\"spiffe_id\": \"spiffe://example.org/" id "\", \"parent_id\": "                 \
        "\"spiffe://example.org/node\", \"selectors\": [{\"type\": \"unix\", \"value\": "  \
        "\"uid:1\"}]}"

static void test_entry_create_partial_failure(void **state) {
        char *path = write_tmp("entries.json", "{\"entries\": [" DATA_ENTRY("ok") ", "
                                               DATA_ENTRY("dup") "]}");
        json_t *j;
        Captured c;

        c = RUN(cli_entry, "entry", "create", "-data", path);
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.out, "SPIFFE ID        : spiffe://example.org/ok\n");
        assert_not_strstr(c.out, "/dup");
        assert_string_equal(c.err, "Error: failed to create entry for spiffe://example.org/dup "
                                   "(parent spiffe://example.org/node): rpc error: code = "
                                   "AlreadyExists desc = similar entry already exists\n");
        done(&c);

        c = RUN(cli_entry, "entry", "create", "-data", path, "-output", "json");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "code = AlreadyExists");
        j = parse_json(c.out);
        assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(
                json_array_get(json_object_get(j, "results"), 1), "status"), "code")), 6);
        assert_true(json_is_null(json_object_get(json_array_get(json_object_get(j, "results"), 1),
                                                 "entry")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
                json_array_get(json_object_get(j, "results"), 0), "entry"), "spiffe_id"), "path")),
                "/ok");
        json_decref(j);
        done(&c);
        free(path);
}

static void test_entry_create_batches_and_stdin(void **state) {
        char *data = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&data, &n);
        Captured c;

        fputs("{\"entries\": [", f);
        for (int i = 0; i < 120; i++)
                fprintf(f, "%s{\"spiffe_id\": \"spiffe://example.org/w%d\", \"parent_id\": "
                           "\"spiffe://example.org/node\", \"selectors\": [{\"type\": \"unix\", "
                           "\"value\": \"uid:%d\"}]}", i ? ", " : "", i, i);
        fputs("]}", f);
        fclose(f);

        c = RUN_STDIN(cli_entry, data, "entry", "create", "-data", "-");
        expect_ok(&c);
        done(&c);
        assert_int_equal(n_calls(), 3);         /* 50 + 50 + 20 */
        for (size_t i = 0; i < 3; i++) {
                Sigil__Admin__V1__BatchCreateEntryRequest *req = (void *) call_at(
                        i, ADMIN_ENTRY_BATCH_CREATE,
                        &sigil__admin__v1__batch_create_entry_request__descriptor);

                assert_int_equal(req->n_entries, i < 2 ? 50 : 20);
                protobuf_c_message_free_unpacked(&req->base, NULL);
        }
        free(data);
}

static void test_entry_create_bad_data_sends_nothing(void **state) {
        char *path = write_tmp("bad.json", "{\"entries\": [{\"spiffe_id\": \"x\"}]}");
        Captured c;

        c = RUN(cli_entry, "entry", "create", "-data", path);
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "Error: invalid -data file '");
        assert_strstr(c.err, "': invalid entries[0].spiffe_id 'x': ");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));     /* one line */
        assert_int_equal(n_calls(), 0);
        done(&c);

        c = RUN(cli_entry, "entry", "create", "-data", "/nonexistent/entries.json");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: cannot read '/nonexistent/entries.json': No such file "
                                   "or directory\n");
        done(&c);
        free(path);
}

static void test_entry_show_paging(void **state) {
        Sigil__Admin__V1__ListEntriesRequest *req;
        Captured c;

        c = RUN(cli_entry, "entry", "show");
        expect_ok(&c);
        assert_prefix(c.out, "Found 3 entries\nEntry ID         : e-abc\n");
        /* sorted by SPIFFE ID: abc, daughter, son; blocks end with a blank line */
        assert_true(strstr(c.out, "e-abc") < strstr(c.out, "e-dau"));
        assert_true(strstr(c.out, "e-dau") < strstr(c.out, "e-son"));
        assert_strstr(c.out, "Revision         : 2\nX509-SVID TTL    : default\n"
                             "JWT-SVID TTL     : default\nSelector         : unix:uid:1000\n\n");
        done(&c);
        assert_int_equal(n_calls(), 2);
        req = (void *) call_at(0, ADMIN_ENTRY_LIST,
                               &sigil__admin__v1__list_entries_request__descriptor);
        assert_string_equal(req->page_token, "");
        assert_int_equal(req->page_size, 500);
        assert_null(req->by_selectors);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        req = (void *) call_at(1, ADMIN_ENTRY_LIST,
                               &sigil__admin__v1__list_entries_request__descriptor);
        assert_string_equal(req->page_token, "p2");
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void test_entry_show_filters(void **state) {
        Sigil__Admin__V1__ListEntriesRequest *req;
        Captured c;

        c = RUN(cli_entry, "entry", "show", "-spiffeID", "spiffe://example.org/son", "-parentID",
                "spiffe://example.org/father", "-selector", "unix:uid:1000", "-federatesWith",
                "spiffe://domain.test", "-hint", "h");
        expect_ok(&c);
        done(&c);
        req = (void *) call_at(0, ADMIN_ENTRY_LIST,
                               &sigil__admin__v1__list_entries_request__descriptor);
        assert_string_equal(req->by_spiffe_id, "spiffe://example.org/son");
        assert_string_equal(req->by_parent_id, "spiffe://example.org/father");
        assert_string_equal(req->by_federates_with, "domain.test");
        assert_string_equal(req->by_hint, "h");
        assert_non_null(req->by_selectors);
        assert_int_equal(req->by_selectors->n_selectors, 1);
        assert_int_equal(req->by_selectors->match,
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUPERSET);
        protobuf_c_message_free_unpacked(&req->base, NULL);

        c = RUN(cli_entry, "entry", "show", "-selector", "a:b", "-matchSelectorsOn", "exact");
        expect_ok(&c);
        done(&c);
        req = (void *) call_at(2, ADMIN_ENTRY_LIST,
                               &sigil__admin__v1__list_entries_request__descriptor);
        assert_int_equal(req->by_selectors->match,
                         SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_EXACT);
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void test_entry_show_json_and_errors(void **state) {
        json_t *j;
        Captured c;

        c = RUN(cli_entry, "entry", "show", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_int_equal(json_array_size(json_object_get(j, "entries")), 3);
        assert_string_equal(json_string_value(json_object_get(j, "next_page_token")), "");
        assert_string_equal(json_string_value(json_object_get(
                json_array_get(json_object_get(j, "entries"), 0), "revision_number")), "2");
        json_decref(j);
        done(&c);

        fixture->loop_token = true;
        c = RUN(cli_entry, "entry", "show");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: error fetching entries: sigil-server returned the same "
                                   "page token twice\n");
        done(&c);
        fixture->loop_token = false;

        c = RUN(cli_entry, "entry", "show", "-entryID", "e-son");
        expect_ok(&c);
        assert_prefix(c.out, "Found 1 entry\nEntry ID         : e-son\n");
        done(&c);

        c = RUN(cli_entry, "entry", "show", "-entryID", "nope");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: error fetching entry ID nope: rpc error: code = "
                                   "NotFound desc = no such registration entry\n");
        done(&c);
}

static void test_entry_update_delete_count(void **state) {
        Sigil__Admin__V1__BatchUpdateEntryRequest *req;
        json_t *j;
        Captured c;

        c = RUN(cli_entry, "entry", "update", "-entryID", "e-son", "-spiffeID",
                "spiffe://example.org/son", "-parentID", "spiffe://example.org/father",
                "-selector", "unix:uid:1001");
        expect_ok(&c);
        assert_strstr(c.out, "Entry ID         : e-son\n");
        done(&c);
        req = (void *) call_at(0, ADMIN_ENTRY_BATCH_UPDATE,
                               &sigil__admin__v1__batch_update_entry_request__descriptor);
        assert_string_equal(req->entries[0]->id, "e-son");
        assert_string_equal(req->entries[0]->selectors[0]->value, "uid:1001");
        protobuf_c_message_free_unpacked(&req->base, NULL);

        c = RUN(cli_entry, "entry", "update", "-entryID", "missing", "-spiffeID",
                "spiffe://example.org/son", "-parentID", "spiffe://example.org/father",
                "-selector", "unix:uid:1001");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: failed to update entry missing: rpc error: code = "
                                   "NotFound desc = entry not found\n");
        done(&c);

        c = RUN(cli_entry, "entry", "delete", "-entryID", "e-son");
        expect_ok(&c);
        assert_string_equal(c.out, "Deleted entry with ID: e-son\n");
        done(&c);

        c = RUN(cli_entry, "entry", "delete", "-entryID", "missing", "-output", "json");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "{\"results\":[{\"status\":{\"code\":5,\"message\":\"entry not "
                                   "found\"},\"id\":\"missing\"}]}\n");
        assert_string_equal(c.err, "Error: failed to delete entry missing: rpc error: code = "
                                   "NotFound desc = entry not found\n");
        done(&c);

        c = RUN(cli_entry, "entry", "count");
        expect_ok(&c);
        assert_string_equal(c.out, "3 registration entries\n");
        done(&c);

        c = RUN(cli_entry, "entry", "count", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
        json_decref(j);
        done(&c);
}

static void test_server_errors(void **state) {
        Captured c;

        fixture->fail_code = GRPC_STATUS_PERMISSION_DENIED;
        fixture->fail_msg = "caller uid 1000 is not an admin";
        c = RUN(cli_entry, "entry", "count");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: rpc error: code = PermissionDenied desc = caller uid "
                                   "1000 is not an admin\n");
        done(&c);

        fixture->fail_code = GRPC_STATUS_INVALID_ARGUMENT;
        fixture->fail_msg = "bad\nthings";
        c = RUN(cli_agent, "agent", "ban", "-spiffeID", "spiffe://example.org/a");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: rpc error: code = InvalidArgument desc = bad?things\n");
        done(&c);
        fixture->fail_code = GRPC_STATUS_OK;
}

/* ---- agents, tokens ---- */

static void test_agents(void **state) {
        Sigil__Admin__V1__BanAgentRequest *ban;
        Sigil__Admin__V1__DeleteAgentRequest *del;
        json_t *j;
        Captured c;

        c = RUN(cli_agent, "agent", "list");
        expect_ok(&c);
        assert_string_equal(c.out,
                "Found 1 attested agent:\n\n"
                "SPIFFE ID         : spiffe://example.org/sigil/agent/join_token/abc\n"
                "Attestation type  : join_token\n"
                "Expiration time   : 2019-03-12 17:04:26 +0000 UTC\n"
                "Serial number     : 4c6f7665\n"
                "Banned            : true\n"
                "Can re-attest     : false\n\n");
        done(&c);

        c = RUN(cli_agent, "agent", "list", "-output", "json");
        expect_ok(&c);
        assert_string_equal(c.out,
                "{\"agents\":[{\"id\":{\"trust_domain\":\"example.org\",\"path\":"
                "\"/sigil/agent/join_token/abc\"},\"attestation_type\":\"join_token\","
                "\"x509svid_serial_number\":\"4c6f7665\",\"x509svid_expires_at\":\"1552410266\","
                "\"selectors\":[{\"type\":\"join_token\",\"value\":\"abc\"}],\"banned\":true,"
                "\"can_reattest\":false}],\"next_page_token\":\"\"}\n");
        done(&c);

        c = RUN(cli_agent, "agent", "show", "-spiffeID",
                "spiffe://example.org/sigil/agent/join_token/abc");
        expect_ok(&c);
        assert_prefix(c.out, "Found an attested agent given its SPIFFE ID\n\nSPIFFE ID  ");
        assert_strstr(c.out, "Selectors         : join_token:abc\n");
        done(&c);

        c = RUN(cli_agent, "agent", "evict", "-spiffeID", "spiffe://example.org/a1");
        expect_ok(&c);
        assert_string_equal(c.out, "Agent evicted successfully\n");
        done(&c);
        c = RUN(cli_agent, "agent", "ban", "-spiffeID", "spiffe://example.org/a2", "-output",
                "json");
        expect_ok(&c);
        assert_string_equal(c.out, "{}\n");
        done(&c);
        del = (void *) call_at(3, ADMIN_AGENT_DELETE,
                               &sigil__admin__v1__delete_agent_request__descriptor);
        assert_string_equal(del->id, "spiffe://example.org/a1");
        protobuf_c_message_free_unpacked(&del->base, NULL);
        ban = (void *) call_at(4, ADMIN_AGENT_BAN,
                               &sigil__admin__v1__ban_agent_request__descriptor);
        assert_string_equal(ban->id, "spiffe://example.org/a2");
        protobuf_c_message_free_unpacked(&ban->base, NULL);

        c = RUN(cli_agent, "agent", "count");
        expect_ok(&c);
        assert_string_equal(c.out, "1 attested agent\n");
        done(&c);
        c = RUN(cli_agent, "agent", "count", "-output", "json");
        j = parse_json(c.out);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
        done(&c);
}

static void test_token(void **state) {
        Sigil__Admin__V1__CreateJoinTokenRequest *req;
        Captured c;

        c = RUN(cli_token, "token", "generate", "-spiffeID", "spiffe://example.org/host1", "-ttl",
                "10m");
        expect_ok(&c);
        assert_string_equal(c.out, "Token: tok-123\n");
        done(&c);
        req = (void *) call_at(0, ADMIN_AGENT_CREATE_JOIN_TOKEN,
                               &sigil__admin__v1__create_join_token_request__descriptor);
        assert_string_equal(req->agent_id, "spiffe://example.org/host1");
        assert_int_equal(req->ttl, 600);
        protobuf_c_message_free_unpacked(&req->base, NULL);

        c = RUN(cli_token, "token", "generate", "-output", "json");
        expect_ok(&c);
        assert_string_equal(c.out, "{\"value\":\"tok-123\",\"expires_at\":\"1999999999\"}\n");
        done(&c);
        req = (void *) call_at(1, ADMIN_AGENT_CREATE_JOIN_TOKEN,
                               &sigil__admin__v1__create_join_token_request__descriptor);
        assert_string_equal(req->agent_id, "");
        assert_int_equal(req->ttl, 0);
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- bundles ---- */

static char *ca_pem(void) {
        char *pem = NULL;

        assert_int_equal(sigil_x509_to_pem(fixture->ca, &pem), 0);
        return pem;
}

static void test_bundle_show(void **state) {
        char *pem = ca_pem();
        json_t *j;
        Captured c;

        c = RUN(cli_bundle, "bundle", "show");
        expect_ok(&c);
        assert_string_equal(c.out, pem);
        done(&c);

        c = RUN(cli_bundle, "bundle", "show", "-format", "SPIFFE");
        expect_ok(&c);
        assert_strstr(c.out, "{\n    \"keys\": [\n");
        j = parse_json(c.out);
        assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "spiffe_sequence")), 4);
        json_decref(j);
        done(&c);

        c = RUN(cli_bundle, "bundle", "show", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_string_equal(json_string_value(json_object_get(j, "trust_domain")), "example.org");
        assert_int_equal(json_array_size(json_object_get(j, "x509_authorities")), 1);
        assert_string_equal(json_string_value(json_object_get(
                json_array_get(json_object_get(j, "jwt_authorities"), 0), "key_id")), "k1");
        assert_string_equal(json_string_value(json_object_get(j, "sequence_number")), "4");
        json_decref(j);
        done(&c);
        free(pem);
}

static void test_bundle_list(void **state) {
        char *pem = ca_pem(), *want = NULL;
        Captured c;

        assert_true(asprintf(&want,
                             "****************************************\n* domain1.test\n"
                             "****************************************\n%s\n"
                             "****************************************\n* domain2.test\n"
                             "****************************************\n%s", pem, pem) > 0);
        c = RUN(cli_bundle, "bundle", "list");
        expect_ok(&c);
        assert_string_equal(c.out, want);
        done(&c);

        c = RUN(cli_bundle, "bundle", "list", "-id", "spiffe://domain2.test");
        expect_ok(&c);
        assert_string_equal(c.out, pem);
        done(&c);

        c = RUN(cli_bundle, "bundle", "list", "-id", "nope.test");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: no federated bundle for trust domain 'nope.test'\n");
        done(&c);
        free(want);
        free(pem);
}

static void test_bundle_set_delete(void **state) {
        Sigil__Admin__V1__SetFederatedBundleRequest *req;
        Sigil__Admin__V1__DeleteFederatedBundleRequest *del;
        char *pem = ca_pem(), *path = write_tmp("b.pem", pem), *bad = write_tmp("bad.pem", "junk");
        unsigned char *der = NULL;
        int n = i2d_X509(fixture->ca, &der);
        Captured c;

        c = RUN(cli_bundle, "bundle", "set", "-id", "spiffe://domain3.test", "-path", path);
        expect_ok(&c);
        assert_string_equal(c.out, "bundle set.\n");
        done(&c);
        req = (void *) call_at(0, ADMIN_BUNDLE_SET_FEDERATED,
                               &sigil__admin__v1__set_federated_bundle_request__descriptor);
        assert_string_equal(req->bundle->trust_domain, "domain3.test");
        assert_int_equal(req->bundle->n_x509_authorities, 1);
        assert_int_equal(req->bundle->x509_authorities[0]->asn1.len, n);
        assert_memory_equal(req->bundle->x509_authorities[0]->asn1.data, der, n);
        protobuf_c_message_free_unpacked(&req->base, NULL);

        /* from stdin, as spire-server reads it without -path */
        c = RUN_STDIN(cli_bundle, pem, "bundle", "set", "-id", "domain4.test");
        expect_ok(&c);
        done(&c);
        assert_int_equal(n_calls(), 2);

        c = RUN(cli_bundle, "bundle", "set", "-id", "domain3.test", "-path", bad);
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "Error: invalid PEM bundle in '");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));
        done(&c);
        c = RUN(cli_bundle, "bundle", "set", "-id", "domain3.test", "-path", path, "-format",
                "spiffe");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "Error: invalid SPIFFE bundle in '");
        done(&c);
        assert_int_equal(n_calls(), 2);         /* nothing sent for bad files */

        c = RUN(cli_bundle, "bundle", "delete", "-id", "spiffe://domain3.test");
        expect_ok(&c);
        assert_string_equal(c.out, "bundle deleted.\n");
        done(&c);
        del = (void *) call_at(2, ADMIN_BUNDLE_DELETE_FEDERATED,
                               &sigil__admin__v1__delete_federated_bundle_request__descriptor);
        assert_string_equal(del->trust_domain, "domain3.test");
        protobuf_c_message_free_unpacked(&del->base, NULL);

        OPENSSL_free(der);
        free(pem);
        free(path);
        free(bad);
}

static void test_bundle_usage(void **state) {
        Captured c;

        c = RUN(cli_bundle, "bundle", "show", "-format", "der");
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_strstr(c.err, "Error: invalid -format 'der': must be pem or spiffe\n\nUsage:");
        done(&c);
        c = RUN(cli_bundle, "bundle", "set", "-path", "b.pem");
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_strstr(c.err, "Error: -id is required\n");
        done(&c);
        c = RUN(cli_bundle, "bundle", "delete", "-id", "spiffe://");
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_strstr(c.err, "Error: invalid -id: invalid trust domain 'spiffe://'");
        done(&c);
        assert_int_equal(n_calls(), 0);
}

/* ---- minting ---- */

static void test_x509_mint_print(void **state) {
        Sigil__Admin__V1__MintX509SVIDRequest *req;
        EVP_PKEY *key = NULL;
        X509 *leaf = NULL;
        const char *k, *end;
        Captured c;

        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool", "-dns",
                "tool.example.org", "-ttl", "30m");
        expect_ok(&c);
        assert_prefix(c.out, "X509-SVID:\n-----BEGIN CERTIFICATE-----\n");
        assert_strstr(c.out, "-----END CERTIFICATE-----\n\nPrivate key:\n-----BEGIN PRIVATE KEY");
        assert_strstr(c.out, "-----END PRIVATE KEY-----\n\nRoot CAs:\n-----BEGIN CERTIFICATE");
        k = strstr(c.out, "-----BEGIN PRIVATE KEY");
        end = strstr(k, "-----END PRIVATE KEY-----\n") + strlen("-----END PRIVATE KEY-----\n");
        assert_int_equal(sigil_key_from_pem(k, (size_t) (end - k), &key, NULL), 0);
        end = strstr(c.out, "-----END CERTIFICATE-----\n");
        assert_non_null(end);
        end += strlen("-----END CERTIFICATE-----\n");
        assert_int_equal(sigil_x509_from_pem(c.out + 11, (size_t) (end - (c.out + 11)), &leaf,
                                             NULL), 0);
        assert_int_equal(sigil_key_public_equal(X509_get0_pubkey(leaf), key), 1);
        done(&c);

        req = (void *) call_at(0, ADMIN_SVID_MINT_X509,
                               &sigil__admin__v1__mint_x509_svidrequest__descriptor);
        assert_string_equal(req->spiffe_id, "spiffe://example.org/tool");
        assert_int_equal(req->ttl, 1800);
        assert_int_equal(req->n_dns_names, 1);
        protobuf_c_message_free_unpacked(&req->base, NULL);
        protobuf_c_message_free_unpacked(call_at(1, ADMIN_BUNDLE_GET,
                                                 &sigil__admin__v1__get_bundle_request__descriptor),
                                         NULL);
        EVP_PKEY_free(key);
        X509_free(leaf);
}

static void test_x509_mint_write_and_json(void **state) {
        char *dir = NULL, path[512];
        SigilKeyType type;
        EVP_PKEY *key = NULL;
        struct stat st;
        json_t *j;
        Captured c;

        assert_true(asprintf(&dir, "%s/out", fixture->dir) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool", "-write", dir,
                "-keyType", "ec-p384");
        expect_ok(&c);
        snprintf(path, sizeof(path), "X509-SVID written to %s/svid.pem\nPrivate key written to "
                                     "%s/key.pem\nRoot CAs written to %s/bundle.pem\n", dir, dir,
                 dir);
        assert_string_equal(c.out, path);
        done(&c);
        snprintf(path, sizeof(path), "%s/key.pem", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(sigil_key_load_pem(path, &key, NULL), 0);
        assert_int_equal(sigil_key_type_of(key, &type), 0);
        assert_int_equal(type, SIGIL_KEY_EC_P384);
        EVP_PKEY_free(key);
        snprintf(path, sizeof(path), "%s/svid.pem", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);

        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool", "-output",
                "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_int_equal(json_array_size(json_object_get(j, "x509_svid")), 1);
        assert_int_equal(json_array_size(json_object_get(j, "root_cas")), 1);
        assert_true(json_string_length(json_object_get(j, "private_key")) > 100);
        json_decref(j);
        done(&c);

        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool", "-write",
                "/nonexistent/dir");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: cannot write to '/nonexistent/dir': No such file or "
                                   "directory\n");
        done(&c);
        free(dir);
}

static void test_x509_mint_checks_answer(void **state) {
        Captured c;

        fixture->wrong_svid_id = true;
        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: sigil-server returned an X.509-SVID for "
                                   "'spiffe://example.org/other', not "
                                   "'spiffe://example.org/tool'\n");
        done(&c);
}

static void test_jwt_mint(void **state) {
        Sigil__Admin__V1__MintJWTSVIDRequest *req;
        char *path = NULL, *text = NULL;
        struct stat st;
        json_t *j;
        Captured c;

        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1", "-audience", "a2", "-ttl", "300");
        expect_ok(&c);
        assert_string_equal(c.out, "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n");
        done(&c);
        req = (void *) call_at(0, ADMIN_SVID_MINT_JWT,
                               &sigil__admin__v1__mint_jwtsvidrequest__descriptor);
        assert_int_equal(req->n_audience, 2);
        assert_string_equal(req->audience[1], "a2");
        assert_int_equal(req->ttl, 300);
        protobuf_c_message_free_unpacked(&req->base, NULL);

        assert_true(asprintf(&path, "%s/token", fixture->dir) > 0);
        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1", "-write", path);
        expect_ok(&c);
        assert_strstr(c.out, "JWT-SVID written to ");
        done(&c);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(read_full_file(path, 4096, &text, NULL), 0);
        assert_string_equal(text, "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");

        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "svid"),
                                                              "token")),
                            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
        json_decref(j);
        done(&c);

        /* the server capped the lifetime: said on stderr, the token still printed */
        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1", "-ttl", "2h");
        assert_int_equal(c.rc, 0);
        assert_strstr(c.err, "JWT-SVID lifetime was capped shorter than specified ttl; expires ");
        done(&c);

        fixture->bad_token = true;
        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: sigil-server returned a token that is not a compact "
                                   "JWS\n");
        done(&c);
        free(path);
        free(text);
}

/* ---- health ---- */

static void test_healthcheck(void **state) {
        struct timespec t0, t1;
        Captured c;

        c = RUN(cli_healthcheck, "healthcheck");
        expect_ok(&c);
        assert_string_equal(c.out, "Server is healthy.\n");
        done(&c);

        c = RUN(cli_healthcheck, "healthcheck", "-verbose");
        expect_ok(&c);
        assert_strstr(c.out, "Server is healthy.\nTrust domain: example.org\n");
        done(&c);

        fixture->serving = false;
        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Server is unhealthy: the server reports that it is not "
                                   "serving\n");
        done(&c);
        c = RUN(cli_healthcheck, "healthcheck", "-shallow");
        expect_ok(&c);
        done(&c);

        fixture->fail_code = GRPC_STATUS_PERMISSION_DENIED;
        fixture->fail_msg = "not an admin";
        c = RUN(cli_healthcheck, "healthcheck", "-shallow");
        expect_ok(&c);                          /* it answered: it is up */
        done(&c);
        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Server is unhealthy: rpc error: code = PermissionDenied "
                                   "desc = not an admin\n");
        done(&c);
        fixture->fail_code = GRPC_STATUS_OK;

        /* the server goes away: a quick, clear, one-line answer */
        rpc_server_shutdown(fixture->server, USEC_PER_SEC);
        rpc_server_free(fixture->server);
        fixture->server = NULL;
        (void) unlink(fixture->sock);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        c = RUN(cli_healthcheck, "healthcheck");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_prefix(c.err, "Server is unhealthy: cannot reach sigil-server at '");
        assert_strstr(c.err, "': no such socket (is sigil-server running? -socketPath selects "
                             "the socket)\n");
        assert_true(t1.tv_sec - t0.tv_sec < 2);
        done(&c);
        c = RUN(cli_agent, "agent", "count");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_prefix(c.err, "Error: connection error: cannot reach sigil-server at '");
        done(&c);
}

/* A listener that accepts and hangs up at once: reachable, but not a gRPC server. */
static void *hang_up_loop(void *arg) {
        int lfd = *(int *) arg;

        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0)
                        return NULL;
                close(fd);
        }
}

static void test_not_a_grpc_server(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pthread_t t;
        int lfd;
        Captured c;

        rpc_server_shutdown(fixture->server, USEC_PER_SEC);
        rpc_server_free(fixture->server);
        fixture->server = NULL;
        (void) unlink(fixture->sock);
        strcpy(sa.sun_path, fixture->sock);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 16), 0);
        assert_int_equal(pthread_create(&t, NULL, hang_up_loop, &lfd), 0);

        c = RUN(cli_entry, "entry", "count");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_prefix(c.err, "Error: connection error: cannot reach sigil-server at '");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));     /* one line, no gRPC log */
        done(&c);

        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_prefix(c.err, "Server is unhealthy: no answer from the server: ");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));
        done(&c);

        shutdown(lfd, SHUT_RDWR);
        close(lfd);
        pthread_join(t, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_entry_create_flags, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_node, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_partial_failure, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_batches_and_stdin, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_bad_data_sends_nothing, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_paging, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_filters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_json_and_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entry_update_delete_count, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bundle_show, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bundle_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bundle_set_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bundle_usage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_print, setup, teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_write_and_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_checks_answer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwt_mint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_healthcheck, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_grpc_server, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
