/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake admin API server of the CLI client tests (see cli-fake.h). Its
 * handlers run on server threads, so they never use cmocka assertions: a
 * wrong request shows up as a wrong answer or a missing record instead.
 */
#include "cli-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin-methods.h"
#include "sigil/bundle.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/keys.h"

Fixture *fixture;

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

int cli_fake_setup(void **state) {
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

int cli_fake_teardown(void **state) {
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
Captured run_in(int (*fn)(int, char **), const char *in, const char *const *args) {
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


void captured_done(Captured *c) {
        free(c->out);
        free(c->err);
}

void assert_prefix(const char *s, const char *prefix) {
        if (strncmp(s, prefix, strlen(prefix)) != 0)
                fail_msg("'%s' does not start with '%s'", s, prefix);
}

void expect_ok(const Captured *c) {
        if (c->rc != 0)
                fail_msg("exit %d, stderr: %s", c->rc, c->err);
        assert_string_equal(c->err, "");
}

/* The @i-th recorded call, which must be of @method, unpacked as @desc. */
ProtobufCMessage *call_at(size_t i, const char *method,
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

size_t n_calls(void) {
        size_t n;

        pthread_mutex_lock(&fixture->lock);
        n = fixture->n_calls;
        pthread_mutex_unlock(&fixture->lock);
        return n;
}

json_t *parse_json(const char *s) {
        json_error_t e;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &e);

        if (!j)
                fail_msg("output is not JSON (%s): %s", e.text, s);
        return j;
}

char *write_tmp(const char *name, const char *data) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", fixture->dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(data, f);
        fclose(f);
        return path;
}

char *ca_pem(void) {
        char *pem = NULL;

        assert_int_equal(sigil_x509_to_pem(fixture->ca, &pem), 0);
        return pem;
}
