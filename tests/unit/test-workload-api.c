/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Workload API server over a real Unix socket, against a fake cache
 * (this file implements agent/cache.h) filled with real certificates from
 * a test CA: the security header, no-identity answers, complete messages on
 * every change, stream ends, JWT-SVID caching, validation, WIT refusals.
 */
#include "test-util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "json-util.h"
#include "rpc-client.h"
#include "sigil/clock.h"
#include "sigil/jwtsvid.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"
#include "workload-api.h"
#include "workload.pb-c.h"

#define TD "example.org"
#define FED_TD "partner.org"

/* ---- a fake cache ---- */

struct CacheWatch {
        struct CacheWatch *next;
        SigilSelectorSet selectors;
        void (*cb)(void *);
        void *userdata;
};

struct Cache {
        pthread_mutex_t lock;           /* the data */
        pthread_mutex_t wlock;          /* the watch list; held while callbacks run */
        CacheSvid *svids[8];
        SigilSelectorSet sels[8];
        size_t n;
        SigilBundle *bundle;
        SigilBundle *fed;
        CacheWatch *watches;
        uint64_t generation;
};

static void svid_free(CacheSvid *s) {
        if (!s)
                return;
        free(s->entry_id);
        free(s->spiffe_id);
        free(s->hint);
        strv_free(s->federates_with);
        free(s->chain_der);
        free(s->key_pkcs8);
        free(s);
}

int cache_view_get(Cache *c, const SigilSelectorSet *selectors, CacheView **ret) {
        CacheView *v = calloc(1, sizeof(*v));

        pthread_mutex_lock(&c->lock);
        v->svids = calloc(8, sizeof(CacheSvid *));
        for (size_t i = 0; i < c->n; i++)
                if (sigil_selector_set_is_subset(&c->sels[i], selectors)) {
                        CacheSvid *s = calloc(1, sizeof(*s)), *o = c->svids[i];

                        *s = *o;
                        s->entry_id = strdup(o->entry_id);
                        s->spiffe_id = strdup(o->spiffe_id);
                        s->hint = o->hint ? strdup(o->hint) : NULL;
                        s->federates_with = NULL;
                        s->chain_der = malloc(o->n_chain_der);
                        memcpy(s->chain_der, o->chain_der, o->n_chain_der);
                        s->key_pkcs8 = malloc(o->n_key_pkcs8);
                        memcpy(s->key_pkcs8, o->key_pkcs8, o->n_key_pkcs8);
                        v->svids[v->n_svids++] = s;
                        if (o->federates_with && c->fed && v->federated.n_bundles == 0) {
                                SigilBundle *f;

                                assert_int_equal(sigil_bundle_copy(c->fed, &f), 0);
                                assert_int_equal(sigil_bundle_set_put(&v->federated, f), 0);
                        }
                }
        if (c->bundle)
                assert_int_equal(sigil_bundle_copy(c->bundle, &v->bundle), 0);
        v->generation = c->generation;
        pthread_mutex_unlock(&c->lock);
        *ret = v;
        return 0;
}

CacheView *cache_view_free(CacheView *v) {
        if (!v)
                return NULL;
        for (size_t i = 0; i < v->n_svids; i++)
                svid_free(v->svids[i]);
        free(v->svids);
        sigil_bundle_free(v->bundle);
        sigil_bundle_set_done(&v->federated);
        free(v);
        return NULL;
}

int cache_bundles(Cache *c, SigilBundleSet *ret) {
        SigilBundle *b;

        *ret = (SigilBundleSet) {};
        pthread_mutex_lock(&c->lock);
        assert_int_equal(sigil_bundle_copy(c->bundle, &b), 0);
        pthread_mutex_unlock(&c->lock);
        return sigil_bundle_set_put(ret, b);
}

int cache_watch(Cache *c, const SigilSelectorSet *selectors, void (*cb)(void *userdata),
                void *userdata, CacheWatch **ret) {
        CacheWatch *w = calloc(1, sizeof(*w));

        assert_int_equal(sigil_selector_set_copy(selectors, &w->selectors), 0);
        w->cb = cb;
        w->userdata = userdata;
        pthread_mutex_lock(&c->wlock);
        w->next = c->watches;
        c->watches = w;
        pthread_mutex_unlock(&c->wlock);
        *ret = w;
        return 0;
}

void cache_unwatch(Cache *c, CacheWatch *w) {
        pthread_mutex_lock(&c->wlock);
        for (CacheWatch **p = &c->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        pthread_mutex_unlock(&c->wlock);
        sigil_selector_set_done(&w->selectors);
        free(w);
}

/* Fire every watch (the fake does not filter). wlock keeps unwatch out while they run. */
static void cache_notify(Cache *c) {
        pthread_mutex_lock(&c->lock);
        c->generation++;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&c->wlock);
        for (CacheWatch *w = c->watches; w; w = w->next)
                w->cb(w->userdata);
        pthread_mutex_unlock(&c->wlock);
}

/* ---- test PKI ---- */

static SigilX509Issuer *issuer;
static EVP_PKEY *ca_key;
static X509 *ca_cert;
static SigilJwtSigner *jwt_signer;
static EVP_PKEY *jwt_key;
static atomic_int n_mints;
static Cache cache = { .lock = PTHREAD_MUTEX_INITIALIZER, .wlock = PTHREAD_MUTEX_INITIALIZER };
static WorkloadApi *api;
static char sock[300];
static char *dir;

static void make_pki(void) {
        uint64_t now = sigil_now_sec();
        SigilCaParams p = { .trust_domain = TD, .not_before = now - 60,
                            .not_after = now + 86400, .path_len = -1 };
        SigilErr err = {};

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &ca_key), 0);
        assert_int_equal(sigil_x509_ca_create_root(ca_key, &p, &ca_cert, &err), 0);
        assert_int_equal(sigil_x509_issuer_new(ca_cert, ca_key, &issuer, &err), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &jwt_key), 0);
        EVP_PKEY_up_ref(jwt_key);
        assert_int_equal(sigil_jwt_signer_new(jwt_key, "kid1", SIGIL_JWT_ES256, &jwt_signer, &err),
                         0);
        assert_int_equal(sigil_bundle_new(TD, &cache.bundle), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(cache.bundle, ca_cert), 0);
        assert_int_equal(sigil_bundle_add_jwt_authority(cache.bundle, "kid1", jwt_key, 0), 0);
        assert_int_equal(sigil_bundle_new(FED_TD, &cache.fed), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(cache.fed, ca_cert), 0);
}

/* Add an SVID for @id to the fake cache, for workloads with selector @sel. */
static void add_svid(const char *entry_id, const char *id, const char *sel, const char *hint,
                     bool federates) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *spki = NULL;
        CacheSvid *s = calloc(1, sizeof(*s));
        SigilSpiffeId sid;
        SigilLeafParams lp;
        size_t n_spki;
        SigilErr err = {};

        assert_int_equal(sigil_spiffeid_from_string(id, &sid, NULL), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        assert_int_equal(sigil_key_to_spki_der(key, &spki, &n_spki), 0);
        lp = (SigilLeafParams) { .id = &sid, .not_before = sigil_now_sec() - 10,
                                 .not_after = sigil_now_sec() + 3600 };
        assert_int_equal(sigil_x509_issuer_sign_spki(issuer, spki, n_spki, &lp, &s->chain_der,
                                                     &s->n_chain_der, &err), 0);
        assert_int_equal(sigil_key_to_pkcs8_der(key, &s->key_pkcs8, &s->n_key_pkcs8), 0);
        s->entry_id = strdup(entry_id);
        s->spiffe_id = strdup(id);
        s->hint = hint ? strdup(hint) : NULL;
        if (federates) {
                s->federates_with = calloc(2, sizeof(char *));
                s->federates_with[0] = strdup(FED_TD);
        }
        pthread_mutex_lock(&cache.lock);
        cache.svids[cache.n] = s;
        memset(&cache.sels[cache.n], 0, sizeof(cache.sels[0]));
        assert_int_equal(sigil_selector_set_add_string(&cache.sels[cache.n], sel, NULL), 0);
        cache.n++;
        pthread_mutex_unlock(&cache.lock);
        cache_notify(&cache);
}

static void clear_svids(void) {
        pthread_mutex_lock(&cache.lock);
        for (size_t i = 0; i < cache.n; i++) {
                svid_free(cache.svids[i]);
                sigil_selector_set_done(&cache.sels[i]);
        }
        cache.n = 0;
        pthread_mutex_unlock(&cache.lock);
        cache_notify(&cache);
}

static int fake_attest(void *ud, const RpcPeerCred *cred, SigilSelectorSet *ret, SigilErr *err) {
        char v[32];

        snprintf(v, sizeof(v), "unix:uid:%u", (unsigned) cred->uid);
        *ret = (SigilSelectorSet) {};
        return sigil_selector_set_add_string(ret, v, err);
}

static int fake_mint(void *ud, const char *entry_id, const char *const *aud, size_t n_aud,
                     char **ret_token, uint64_t *ret_exp, SigilErr *err) {
        SigilSpiffeId sub;
        uint64_t now = sigil_now_sec();
        SigilJwtClaims c;
        const char *id = NULL;

        pthread_mutex_lock(&cache.lock);
        for (size_t i = 0; i < cache.n; i++)
                if (streq(cache.svids[i]->entry_id, entry_id))
                        id = cache.svids[i]->spiffe_id;
        assert_non_null(id);
        assert_int_equal(sigil_spiffeid_from_string(id, &sub, NULL), 0);
        pthread_mutex_unlock(&cache.lock);
        c = (SigilJwtClaims) { .sub = &sub, .aud = aud, .n_aud = n_aud, .iat = now,
                               .exp = now + 300 };
        atomic_fetch_add(&n_mints, 1);
        *ret_exp = now + 300;
        return sigil_jwt_signer_sign(jwt_signer, &c, ret_token, err);
}

static int group_setup(void **state) {
        WorkloadApiConfig cfg = { .cache = &cache, .attest = fake_attest, .mint_jwt = fake_mint };
        SigilErr err = {};

        make_pki();
        dir = test_mkdtemp();
        snprintf(sock, sizeof(sock), "%s/public/api.sock", dir);
        cfg.socket_path = sock;
        assert_int_equal(workload_api_start(&cfg, &api, &err), 0);
        return 0;
}

static int group_teardown(void **state) {
        workload_api_stop(api);
        clear_svids();
        rm_rf(dir);
        free(dir);
        sigil_bundle_free(cache.bundle);
        sigil_bundle_free(cache.fed);
        sigil_x509_issuer_free(issuer);
        sigil_jwt_signer_free(jwt_signer);
        EVP_PKEY_free(jwt_key);
        return 0;
}

/* ---- client side ---- */

static char my_sel[32];

static RpcClient *client(void) {
        RpcClient *c = NULL;
        char target[400];

        snprintf(target, sizeof(target), "unix://%s", sock);
        assert_int_equal(rpc_client_new(target, NULL, &c), 0);
        return c;
}

static const RpcMetadata hdr[] = { { "workload.spiffe.io", "true" } };
static const RpcMetadata bad_hdr[] = { { "workload.spiffe.io", "True" } };

static void test_security_header(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        X509SVIDRequest xreq = X509_SVIDREQUEST__INIT;
        char *aud[] = { "a" };
        ProtobufCMessage *resp = NULL;
        RpcStream *st = NULL;
        RpcStatus status;

        req.audience = aud;
        req.n_audience = 1;
        assert_int_equal(rpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
                                          &jwtsvidresponse__descriptor, NULL, 0, 5 * USEC_PER_SEC,
                                          &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(status.message, "security header missing from request");
        assert_int_equal(rpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
                                          &jwtsvidresponse__descriptor, bad_hdr, 1,
                                          5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        /* Streams too. */
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &xreq.base,
                                                &x509_svidresponse__descriptor, NULL, 0, 0, &st),
                         0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        rpc_client_stream_free(st);
}

static void test_wit_unimplemented(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        WITSVIDRequest req = WITSVIDREQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        RpcStream *st = NULL;
        RpcStatus status;

        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchWITSVID", &req.base,
                                                &witsvidresponse__descriptor, hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_UNIMPLEMENTED);
        rpc_client_stream_free(st);
        /* Without the header, the header is what is wrong (WEP-05 covers every method). */
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchWITSVID", &req.base,
                                                &witsvidresponse__descriptor, NULL, 0, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(status.message, "security header missing from request");
        rpc_client_stream_free(st);
}

static void test_no_identity(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        JWTBundlesRequest jreq = JWTBUNDLES_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        RpcStream *st = NULL;
        RpcStatus status;

        clear_svids();
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                                &x509_svidresponse__descriptor, hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);
        assert_string_equal(status.message, "no identity issued");
        rpc_client_stream_free(st);
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchJWTBundles",
                                                &jreq.base, &jwtbundles_response__descriptor,
                                                hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);
        rpc_client_stream_free(st);
        /* An SVID for another uid is not ours. */
        add_svid("e-other", "spiffe://example.org/other", "unix:uid:4242", NULL, false);
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                                &x509_svidresponse__descriptor, hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &resp, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);
        rpc_client_stream_free(st);
        clear_svids();
}

static void check_svid(const X509SVID *s, const char *id) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL, *bundle = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        SigilSpiffeId got;

        assert_string_equal(s->spiffe_id, id);
        assert_int_equal(sigil_x509_chain_from_der(s->x509_svid.data, s->x509_svid.len, &chain,
                                                   NULL), 0);
        assert_int_equal(sigil_x509_spiffe_id(sk_X509_value(chain, 0), &got, NULL), 0);
        assert_string_equal(got.str, id);
        assert_int_equal(sigil_key_from_pkcs8_der(s->x509_svid_key.data, s->x509_svid_key.len,
                                                  &key), 0);
        pub = X509_get_pubkey(sk_X509_value(chain, 0));
        assert_int_equal(EVP_PKEY_eq(pub, key), 1);
        assert_int_equal(sigil_x509_chain_from_der(s->bundle.data, s->bundle.len, &bundle, NULL),
                         0);
        assert_int_equal(X509_cmp(sk_X509_value(bundle, 0), ca_cert), 0);
}

static X509SVIDResponse *next_x509(RpcStream *st) {
        ProtobufCMessage *m = NULL;
        RpcStatus status;

        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status), 1);
        return (X509SVIDResponse *) m;
}

static void test_x509_stream(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        X509SVIDResponse *r;
        ProtobufCMessage *m = NULL;
        RpcStream *st = NULL;
        RpcStatus status;

        add_svid("e1", "spiffe://example.org/one", my_sel, "db", true);
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                                &x509_svidresponse__descriptor, hdr, 1, 0, &st), 0);
        r = next_x509(st);
        assert_int_equal(r->n_svids, 1);
        check_svid(r->svids[0], "spiffe://example.org/one");
        assert_string_equal(r->svids[0]->hint, "db");
        assert_int_equal(r->n_federated_bundles, 1);
        assert_string_equal(r->federated_bundles[0]->key, "spiffe://partner.org");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        /* A second identity: the next message carries both (complete state). */
        add_svid("e2", "spiffe://example.org/two", my_sel, NULL, false);
        r = next_x509(st);
        assert_int_equal(r->n_svids, 2);
        check_svid(r->svids[1], "spiffe://example.org/two");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        /* Nothing changed: nothing is sent. */
        cache_notify(&cache);
        assert_int_equal(rpc_client_stream_next(st, 300 * USEC_PER_MSEC, &m, &status),
                         -ETIMEDOUT);

        /* Every identity gone: the stream ends with PERMISSION_DENIED. */
        clear_svids();
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, &m, &status), 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);
        rpc_client_stream_free(st);
        for (int i = 0; i < 100 && workload_api_n_streams(api) > 0; i++)
                usleep(10000);
        assert_int_equal(workload_api_n_streams(api), 0);
}

static void test_bundle_streams(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        X509BundlesRequest xreq = X509_BUNDLES_REQUEST__INIT;
        JWTBundlesRequest jreq = JWTBUNDLES_REQUEST__INIT;
        X509BundlesResponse *xb = NULL;
        JWTBundlesResponse *jb = NULL;
        RpcStream *st = NULL;
        RpcStatus status;

        add_svid("e1", "spiffe://example.org/one", my_sel, NULL, true);
        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509Bundles",
                                                &xreq.base, &x509_bundles_response__descriptor,
                                                hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, (ProtobufCMessage **) &xb,
                                                &status), 1);
        assert_int_equal(xb->n_bundles, 2);
        assert_string_equal(xb->bundles[0]->key, "spiffe://example.org");
        protobuf_c_message_free_unpacked(&xb->base, NULL);
        rpc_client_stream_free(st);

        assert_int_equal(rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchJWTBundles",
                                                &jreq.base, &jwtbundles_response__descriptor,
                                                hdr, 1, 0, &st), 0);
        assert_int_equal(rpc_client_stream_next(st, 5 * USEC_PER_SEC, (ProtobufCMessage **) &jb,
                                                &status), 1);
        assert_string_equal(jb->bundles[0]->key, "spiffe://example.org");
        {
                _cleanup_(json_decrefp) json_t *jwks =
                        json_loadb((const char *) jb->bundles[0]->value.data,
                                   jb->bundles[0]->value.len, JSON_REJECT_DUPLICATES, NULL);
                json_t *k0 = json_array_get(json_object_get(jwks, "keys"), 0);

                assert_non_null(k0);
                assert_string_equal(json_string_value(json_object_get(k0, "kid")), "kid1");
                assert_null(json_object_get(k0, "x5c"));
        }
        protobuf_c_message_free_unpacked(&jb->base, NULL);
        rpc_client_stream_free(st);
        clear_svids();
}

static int fetch_jwt(RpcClient *c, const char *aud, const char *id, RpcStatus *status,
                     JWTSVIDResponse **ret) {
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        char *auds[] = { (char *) aud };

        req.audience = auds;
        req.n_audience = aud ? 1 : 0;
        req.spiffe_id = (char *) (id ? id : "");
        return rpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
                                &jwtsvidresponse__descriptor, hdr, 1, 5 * USEC_PER_SEC,
                                (ProtobufCMessage **) ret, status);
}

static void test_jwt(void **state) {
        _cleanup_(rpc_client_freep) RpcClient *c = client();
        ValidateJWTSVIDRequest vreq = VALIDATE_JWTSVIDREQUEST__INIT;
        ValidateJWTSVIDResponse *vr = NULL;
        JWTSVIDResponse *r = NULL, *r2 = NULL;
        RpcStatus status;

        add_svid("e1", "spiffe://example.org/one", my_sel, NULL, false);
        add_svid("e2", "spiffe://example.org/two", my_sel, NULL, false);
        assert_int_equal(fetch_jwt(c, NULL, NULL, &status, &r), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(status.message, "audience must be specified");
        assert_int_equal(fetch_jwt(c, "db", "not-an-id", &status, &r), 0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        assert_int_equal(fetch_jwt(c, "db", "spiffe://example.org/three", &status, &r), 0);
        assert_int_equal(status.code, GRPC_STATUS_PERMISSION_DENIED);

        atomic_store(&n_mints, 0);
        assert_int_equal(fetch_jwt(c, "db", NULL, &status, &r), 0);
        assert_int_equal(status.code, GRPC_STATUS_OK);
        assert_int_equal(r->n_svids, 2);
        assert_int_equal(atomic_load(&n_mints), 2);
        /* Cached: the same audience again mints nothing. */
        assert_int_equal(fetch_jwt(c, "db", "spiffe://example.org/two", &status, &r2), 0);
        assert_int_equal(r2->n_svids, 1);
        assert_string_equal(r2->svids[0]->svid, r->svids[1]->svid);
        assert_int_equal(atomic_load(&n_mints), 2);
        protobuf_c_message_free_unpacked(&r2->base, NULL);

        /* ValidateJWTSVID: good, wrong audience, missing fields. */
        vreq.audience = "db";
        vreq.svid = r->svids[0]->svid;
        assert_int_equal(rpc_client_unary(c, "/SpiffeWorkloadAPI/ValidateJWTSVID", &vreq.base,
                                          &validate_jwtsvidresponse__descriptor, hdr, 1,
                                          5 * USEC_PER_SEC, (ProtobufCMessage **) &vr, &status),
                         0);
        assert_int_equal(status.code, GRPC_STATUS_OK);
        assert_string_equal(vr->spiffe_id, "spiffe://example.org/one");
        {
                bool aud_list = false, has_exp = false;

                for (size_t i = 0; i < vr->claims->n_fields; i++) {
                        const Google__Protobuf__Struct__FieldsEntry *f = vr->claims->fields[i];

                        if (streq(f->key, "aud"))
                                aud_list = f->value->kind_case ==
                                           GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
                        if (streq(f->key, "exp"))
                                has_exp = true;
                }
                assert_true(aud_list);
                assert_true(has_exp);
        }
        protobuf_c_message_free_unpacked(&vr->base, NULL);
        vreq.audience = "other";
        assert_int_equal(rpc_client_unary(c, "/SpiffeWorkloadAPI/ValidateJWTSVID", &vreq.base,
                                          &validate_jwtsvidresponse__descriptor, hdr, 1,
                                          5 * USEC_PER_SEC, (ProtobufCMessage **) &vr, &status),
                         0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        vreq.audience = "";
        assert_int_equal(rpc_client_unary(c, "/SpiffeWorkloadAPI/ValidateJWTSVID", &vreq.base,
                                          &validate_jwtsvidresponse__descriptor, hdr, 1,
                                          5 * USEC_PER_SEC, (ProtobufCMessage **) &vr, &status),
                         0);
        assert_int_equal(status.code, GRPC_STATUS_INVALID_ARGUMENT);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        clear_svids();
}

/*
 * The client half of test_process_exits, run in a fresh process (exec'd:
 * gRPC does not survive fork): open a stream, read one message, exit
 * without a goodbye so that only the kernel closes the socket.
 */
static int client_main(const char *path) {
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        RpcClient *c = NULL;
        RpcStream *s = NULL;
        ProtobufCMessage *m = NULL;
        RpcStatus status;
        char target[400];

        snprintf(target, sizeof(target), "unix://%s", path);
        if (rpc_client_new(target, NULL, &c) < 0 ||
            rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                   &x509_svidresponse__descriptor, hdr, 1, 0, &s) < 0 ||
            rpc_client_stream_next(s, 5 * USEC_PER_SEC, &m, &status) != 1)
                _exit(1);
        _exit(0);
}

/* A workload that exits mid-stream: the server forgets the stream. */
static void test_process_exits(void **state) {
        pid_t pid;
        int st;

        add_svid("e1", "spiffe://example.org/one", my_sel, NULL, false);
        pid = fork();
        if (pid == 0) {
                execl("/proc/self/exe", "test-workload-api", "--client", sock, (char *) NULL);
                _exit(127);
        }
        assert_true(pid > 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        clear_svids();
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        for (int i = 0; i < 300 && workload_api_n_streams(api) > 0; i++)
                usleep(10000);
        assert_int_equal(workload_api_n_streams(api), 0);
}

static void test_many_streams(void **state) {
        enum { N = 64 };
        RpcClient *c[N];
        RpcStream *st[N];
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;

        add_svid("e1", "spiffe://example.org/one", my_sel, NULL, false);
        for (int i = 0; i < N; i++) {
                c[i] = client();
                assert_int_equal(rpc_client_stream_open(c[i], "/SpiffeWorkloadAPI/FetchX509SVID",
                                                        &req.base, &x509_svidresponse__descriptor,
                                                        hdr, 1, 0, &st[i]), 0);
                protobuf_c_message_free_unpacked(&next_x509(st[i])->base, NULL);
        }
        assert_int_equal(workload_api_n_streams(api), N);
        /* One change reaches every stream. */
        add_svid("e2", "spiffe://example.org/two", my_sel, NULL, false);
        for (int i = 0; i < N; i++) {
                X509SVIDResponse *r = next_x509(st[i]);

                assert_int_equal(r->n_svids, 2);
                protobuf_c_message_free_unpacked(&r->base, NULL);
                rpc_client_stream_free(st[i]);
                rpc_client_free(c[i]);
        }
        clear_svids();
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_security_header),
                cmocka_unit_test(test_wit_unimplemented),
                cmocka_unit_test(test_no_identity),
                cmocka_unit_test(test_x509_stream),
                cmocka_unit_test(test_bundle_streams),
                cmocka_unit_test(test_jwt),
                cmocka_unit_test(test_process_exits),
                cmocka_unit_test(test_many_streams),
        };

        if (argc == 3 && streq(argv[1], "--client"))
                return client_main(argv[2]);
        snprintf(my_sel, sizeof(my_sel), "unix:uid:%u", (unsigned) getuid());
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
