/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mutual TLS over real TCP sockets: an RpcServer with rpc_tls_server_credentials() on
 * 127.0.0.1 whose one method answers with the caller's SPIFFE ID (re-verified at call time)
 * and the serial of its certificate, and clients with rpc_tls_client_credentials().
 * Covers anonymous and identified clients, refusals on both sides, expiry, rotation of
 * either identity and of the bundle while running, insecure bootstrap, intermediates and
 * the TLS version floor.
 */
#include "test-util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "rpc-client.h"
#include "rpc-server.h"
#include "rpc-tls.h"
#include "sigil/clock.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"
#include "workload.pb-c.h"

#define WHOAMI "/test.Tls/WhoAmI"
#define TD "example.org"
#define SERVER_ID "spiffe://example.org/sigil/server"
#define AGENT_ID "spiffe://example.org/sigil/agent/join_token/abc"
#define HOUR INT64_C(3600)
/*
 * Clients dial 127.0.0.1 but send this name as SNI, and server SVIDs carry it as a DNS SAN;
 * otherwise gRPC logs "No match found for server name" on every handshake.
 */
#define SERVER_DNS "sigil-server.test"

/*
 * Two CAs of the same trust domain (the second plays "another CA" and "the next CA"), and an
 * intermediate under the first that issues the server's first SVID.
 */
typedef struct Ca {
        EVP_PKEY *key;
        X509 *cert;
} Ca;

static Ca ca1, ca2, inter1;

/*
 * Every test's files live under this directory, removed at the end of the group only: gRPC
 * keeps the credentials of a refused connection (and so its file watcher) for about a second
 * after the test that made them, and a watcher whose files vanished fills the log.
 */
static char *group_dir;

typedef struct Svid {
        EVP_PKEY *key;
        STACK_OF(X509) *chain;
        char serial[64];
} Svid;

typedef struct Fixture {
        char *dir;
        char log_path[300];
        char target[64];
        int port;
        RpcServer *server;
        RpcTlsIdentity *server_identity;
        Svid server_svid;
        atomic_int n_calls;
} Fixture;

/* ---- PKI ---- */

static void ca_init(Ca *ca, const char *cn) {
        uint64_t now = sigil_now_sec();
        SigilCaParams p = {
                .trust_domain = TD,
                .subject = cn,
                .not_before = now - 60,
                .not_after = now + 24 * HOUR,
                .path_len = -1,
        };

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &ca->key), 0);
        assert_int_equal(sigil_x509_ca_create_root(ca->key, &p, &ca->cert, NULL), 0);
}

/* An intermediate CA under @parent. */
static void ca_init_intermediate(Ca *ca, const Ca *parent) {
        uint64_t now = sigil_now_sec();
        SigilCaParams p = {
                .trust_domain = TD,
                .subject = "O=sigil,CN=intermediate",
                .not_before = now - 60,
                .not_after = now + 12 * HOUR,
                .path_len = 0,
        };

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &ca->key), 0);
        assert_int_equal(sigil_x509_ca_create_intermediate(parent->cert, parent->key, ca->key,
                                                           &p, &ca->cert, NULL),
                         0);
}

static void ca_done(Ca *ca) {
        EVP_PKEY_free(ca->key);
        X509_free(ca->cert);
        *ca = (Ca) {};
}

/*
 * A leaf SVID for @id from @ca valid from now+@nb to now+@na (seconds); @ca's cert follows
 * the leaf in the chain when @with_ca. Server SVIDs get the DNS SAN SERVER_DNS.
 */
static void svid_issue(Svid *s, const Ca *ca, const char *id, int64_t nb, int64_t na,
                       bool with_ca) {
        _cleanup_(sigil_x509_issuer_freep) SigilX509Issuer *is = NULL;
        static const char *const dns[] = { SERVER_DNS };
        uint64_t now = sigil_now_sec();
        SigilSpiffeId sid;
        SigilLeafParams p = {
                .id = &sid,
                .dns_names = dns,
                .n_dns_names = streq(id, SERVER_ID) ? 1 : 0,
                .not_before = (uint64_t) ((int64_t) now + nb),
                .not_after = (uint64_t) ((int64_t) now + na),
        };
        uint8_t *spki = NULL, *der = NULL;
        size_t n_spki, n_der;

        assert_int_equal(sigil_spiffeid_from_string(id, &sid, NULL), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &s->key), 0);
        assert_int_equal(sigil_key_to_spki_der(s->key, &spki, &n_spki), 0);
        assert_int_equal(sigil_x509_issuer_new(ca->cert, ca->key, &is, NULL), 0);
        assert_int_equal(sigil_x509_issuer_sign_spki(is, spki, n_spki, &p, &der, &n_der, NULL),
                         0);
        assert_int_equal(sigil_x509_chain_from_der(der, n_der, &s->chain, NULL), 0);
        assert_int_equal(sigil_x509_serial_hex(sk_X509_value(s->chain, 0), s->serial,
                                               sizeof(s->serial)),
                         0);
        if (with_ca) {
                assert_int_equal(X509_up_ref(ca->cert), 1);
                assert_true(sk_X509_push(s->chain, ca->cert) > 0);
        }
        free(spki);
        free(der);
}

static void svid_done(Svid *s) {
        EVP_PKEY_free(s->key);
        sk_X509_pop_free(s->chain, X509_free);
        *s = (Svid) {};
}

/* Bundles for trust domain TD holding the given CAs (NULL-terminated). */
static void bundles_set(RpcTlsIdentity *id, const Ca *first, ...) {
        SigilBundleSet set = {};
        SigilBundle *b = NULL;
        va_list ap;

        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        va_start(ap, first);
        for (const Ca *ca = first; ca; ca = va_arg(ap, const Ca *))
                assert_int_equal(sigil_bundle_add_x509_authority(b, ca->cert), 0);
        va_end(ap);
        assert_int_equal(sigil_bundle_set_put(&set, b), 0);
        assert_int_equal(rpc_tls_identity_set_bundles(id, &set), 0);
        sigil_bundle_set_done(&set);
}

static RpcTlsIdentity *identity_new(Fixture *f, const char *name) {
        char path[300];
        RpcTlsIdentity *id = NULL;

        (void) snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        assert_int_equal(rpc_tls_identity_new(path, &id), 0);
        return id;
}

/* ---- the server ---- */

/* Replies spiffe_id = the caller's verified ID or "anonymous", svid = its leaf's serial. */
static void on_whoami(RpcCall *call, const ProtobufCMessage *req, void *ud) {
        Fixture *f = ud;
        JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
        JWTSVID svid = JWTSVID__INIT;
        JWTSVID *svids[1] = { &svid };
        _cleanup_(freep) char *pem = rpc_call_auth_property(call, "x509_pem_cert");
        _cleanup_(X509_freep) X509 *leaf = NULL;
        SigilSpiffeId verified, claimed;
        SigilErr err = {};
        char serial[64] = "";
        int r;

        atomic_fetch_add(&f->n_calls, 1);
        r = rpc_call_verify_peer(call, f->server_identity, &verified, &err);
        if (r == -EKEYREJECTED) {
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "%s", err.msg);
                return;
        }
        if (r == -ENOTCONN) {
                assert_null(pem);
                assert_int_equal(rpc_call_peer_spiffe_id(call, &claimed), -ENOTCONN);
                svid.spiffe_id = "anonymous";
        } else {
                assert_int_equal(r, 0);
                assert_int_equal(rpc_call_peer_spiffe_id(call, &claimed), 0);
                assert_string_equal(claimed.str, verified.str);
                assert_int_equal(sigil_x509_from_pem(pem, strlen(pem), &leaf, NULL), 0);
                assert_int_equal(sigil_x509_serial_hex(leaf, serial, sizeof(serial)), 0);
                svid.spiffe_id = verified.str;
        }
        svid.svid = serial;
        resp.n_svids = 1;
        resp.svids = svids;
        assert_int_equal(rpc_call_reply(call, &resp.base), 0);
}

static const RpcMethod methods[] = {
        { WHOAMI, RPC_UNARY, &jwtsvidrequest__descriptor, on_whoami, 0 },
};

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        _cleanup_(grpc_server_credentials_releasep) grpc_server_credentials *creds = NULL;

        assert_non_null(f);
        assert_true(asprintf(&f->dir, "%s/test-XXXXXX", group_dir) > 0);
        assert_non_null(mkdtemp(f->dir));
        (void) snprintf(f->log_path, sizeof(f->log_path), "%s/log", f->dir);
        assert_int_equal(sigil_log_open_file(f->log_path), 0);
        f->server_identity = identity_new(f, "server");
        svid_issue(&f->server_svid, &inter1, SERVER_ID, -60, HOUR, true);
        assert_int_equal(rpc_tls_identity_set_svid(f->server_identity, f->server_svid.key,
                                                   f->server_svid.chain, NULL),
                         0);
        bundles_set(f->server_identity, &ca1, NULL);
        assert_int_equal(rpc_tls_server_credentials(f->server_identity, &creds), 0);
        assert_int_equal(rpc_server_new(methods, ELEMENTSOF(methods), f, &f->server), 0);
        assert_int_equal(rpc_server_listen_tcp(f->server, "127.0.0.1:0", creds, &f->port), 0);
        assert_int_equal(rpc_server_start(f->server, 2), 0);
        (void) snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", f->port);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        rpc_server_shutdown(f->server, 2 * USEC_PER_SEC);
        rpc_server_free(f->server);
        rpc_tls_identity_unref(f->server_identity);
        svid_done(&f->server_svid);
        assert_int_equal(sigil_log_open_file(NULL), 0);
        free(f->dir);
        free(f);
        return 0;
}

/* ---- the client ---- */

typedef struct Answer {
        RpcStatus status;
        char id[SIGIL_SPIFFEID_MAX + 1];
        char serial[64];
} Answer;

static void client_new(Fixture *f, grpc_channel_credentials *creds, RpcClient **ret) {
        grpc_arg sni = {
                .type = GRPC_ARG_STRING,
                .key = (char *) GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
                .value.string = (char *) SERVER_DNS,
        };
        grpc_channel_args args = { .num_args = 1, .args = &sni };

        assert_int_equal(rpc_client_new_with_args(f->target, creds, &args, ret), 0);
}

/* One call over a client @c. */
static void whoami_on(RpcClient *c, Answer *ret) {
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        JWTSVIDResponse *resp;

        *ret = (Answer) {};
        assert_int_equal(rpc_client_unary(c, WHOAMI, &req.base, &jwtsvidresponse__descriptor,
                                          NULL, 0, 5 * USEC_PER_SEC, &m, &ret->status),
                         0);
        if (ret->status.code != GRPC_STATUS_OK)
                return;
        resp = (JWTSVIDResponse *) m;
        assert_int_equal(resp->n_svids, 1);
        (void) snprintf(ret->id, sizeof(ret->id), "%s", resp->svids[0]->spiffe_id);
        (void) snprintf(ret->serial, sizeof(ret->serial), "%s", resp->svids[0]->svid);
}

/* One call over a new channel (so a new connection and handshake) with @creds. */
static void whoami(Fixture *f, grpc_channel_credentials *creds, Answer *ret) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;

        client_new(f, creds, &c);
        whoami_on(c, ret);
}

/* One call with new credentials of @id expecting @server_id. */
static void whoami_as(Fixture *f, RpcTlsIdentity *id, const char *server_id, Answer *ret) {
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        SigilSpiffeId sid;

        assert_int_equal(sigil_spiffeid_from_string(server_id, &sid, NULL), 0);
        assert_int_equal(rpc_tls_client_credentials(id, &sid, &creds), 0);
        whoami(f, creds, ret);
}

static char *log_contents(Fixture *f) {
        char *s = NULL;

        assert_int_equal(read_full_file(f->log_path, 1 << 20, &s, NULL), 0);
        return s;
}

/* ---- tests ---- */

static void test_anonymous(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        Answer a;

        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, "anonymous");
}

static void test_identified(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(svid_done) Svid s = {};
        SigilSpiffeId sid;
        Answer a;

        svid_issue(&s, &ca1, AGENT_ID, -60, HOUR, false);
        assert_int_equal(rpc_tls_identity_get_spiffe_id(agent, &sid), -ENOKEY);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s.key, s.chain, NULL), 0);
        assert_int_equal(rpc_tls_identity_get_spiffe_id(agent, &sid), 0);
        assert_string_equal(sid.str, AGENT_ID);
        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, AGENT_ID);
        assert_string_equal(a.serial, s.serial);
}

/*
 * A client chain with an intermediate: the server side's chain property lacks the leaf (the
 * server's own chain has one in every test).
 */
static void test_intermediates(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(svid_done) Svid s = {};
        Answer a;

        svid_issue(&s, &inter1, AGENT_ID, -60, HOUR, true);
        assert_int_equal(sk_X509_num(s.chain), 2);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s.key, s.chain, NULL), 0);
        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, AGENT_ID);
        assert_string_equal(a.serial, s.serial);
}

static void test_client_from_other_ca_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(svid_done) Svid s = {};
        _cleanup_(freep) char *log = NULL;
        Answer a;

        svid_issue(&s, &ca2, AGENT_ID, -60, HOUR, false);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s.key, s.chain, NULL), 0);
        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_int_equal(atomic_load(&f->n_calls), 0);
        log = log_contents(f);
        assert_strstr(log, "Refused TLS client: peer_spiffe_id='" AGENT_ID "' reason='chain does");
        assert_not_strstr(log, "PRIVATE KEY");
}

static void test_wrong_server_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(freep) char *log = NULL;
        Answer a;

        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, "spiffe://example.org/sigil/other", &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_strstr(a.status.message, "not the expected 'spiffe://example.org/sigil/other'");
        log = log_contents(f);
        assert_strstr(log, "Refused TLS server: peer_spiffe_id='" SERVER_ID "'");

        /* A server whose CA is not in the client's bundle is refused too... */
        bundles_set(agent, &ca2, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_strstr(a.status.message, "chain does not verify");
        /* ...and so is every server once the trust domain has left the bundle set. */
        assert_int_equal(rpc_tls_identity_set_bundles(agent, &(SigilBundleSet) {}), 0);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_strstr(a.status.message, "no bundle for trust domain 'example.org'");
        assert_int_equal(atomic_load(&f->n_calls), 0);
}

static void test_expired_client_refused(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(svid_done) Svid s = {};
        _cleanup_(freep) char *log = NULL;
        Answer a;

        svid_issue(&s, &ca1, AGENT_ID, -2 * HOUR, -60, false);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s.key, s.chain, NULL), 0);
        bundles_set(agent, &ca1, NULL);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_int_equal(atomic_load(&f->n_calls), 0);
        log = log_contents(f);
        assert_strstr(log, "Refused TLS client: peer_spiffe_id='" AGENT_ID "'");
        assert_strstr(log, "expired");
}

/* Poll @id's calls (new credentials and channel each time) until @pred holds; 5 s at most. */
static bool poll_until(Fixture *f, RpcTlsIdentity *id, grpc_channel_credentials *creds,
                       bool (*pred)(const Answer *a, const void *arg), const void *arg) {
        uint64_t deadline = sigil_monotonic_usec() + 5 * USEC_PER_SEC;
        Answer a;

        do {
                if (creds)
                        whoami(f, creds, &a);
                else
                        whoami_as(f, id, SERVER_ID, &a);
                if (pred(&a, arg))
                        return true;
                (void) usleep(50 * 1000);
        } while (sigil_monotonic_usec() < deadline);
        return false;
}

static bool answer_ok(const Answer *a, const void *arg) {
        return a->status.code == GRPC_STATUS_OK;
}

static bool answer_has_serial(const Answer *a, const void *serial) {
        return a->status.code == GRPC_STATUS_OK && streq(a->serial, serial);
}

/* CA rotation: the server gets an SVID from the next CA, which agents already trust. */
static void test_rotate_server(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *both = identity_new(f, "both");
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *next = identity_new(f, "next");
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *prev = identity_new(f, "prev");
        _cleanup_(svid_done) Svid s = {};
        Answer a;

        bundles_set(both, &ca1, &ca2, NULL);
        bundles_set(next, &ca2, NULL);
        bundles_set(prev, &ca1, NULL);
        whoami_as(f, next, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);    /* old SVID served */

        svid_issue(&s, &ca2, SERVER_ID, -60, HOUR, false);
        assert_int_equal(rpc_tls_identity_set_svid(f->server_identity, s.key, s.chain, NULL), 0);
        assert_true(poll_until(f, next, NULL, answer_ok, NULL));
        whoami_as(f, prev, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);    /* old SVID gone */
        whoami_as(f, both, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, "anonymous");
}

/* SVID renewal on the client: the same credentials present the new SVID on new channels. */
static void test_rotate_client(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        _cleanup_(svid_done) Svid s1 = {}, s2 = {};
        SigilSpiffeId server_id;
        Answer a;

        svid_issue(&s1, &ca1, AGENT_ID, -60, HOUR, false);
        svid_issue(&s2, &ca1, AGENT_ID, -60, 2 * HOUR, false);
        assert_string_not_equal(s1.serial, s2.serial);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s1.key, s1.chain, NULL), 0);
        bundles_set(agent, &ca1, NULL);
        assert_int_equal(sigil_spiffeid_from_string(SERVER_ID, &server_id, NULL), 0);
        assert_int_equal(rpc_tls_client_credentials(agent, &server_id, &creds), 0);
        whoami(f, creds, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.serial, s1.serial);

        assert_int_equal(rpc_tls_identity_set_svid(agent, s2.key, s2.chain, NULL), 0);
        assert_true(poll_until(f, agent, creds, answer_has_serial, s2.serial));
        whoami(f, creds, &a);
        assert_string_equal(a.serial, s2.serial);
}

/* A CA that leaves the server's bundle: open connections are caught at call time. */
static void test_reverify_at_call_time(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(svid_done) Svid s = {};
        SigilSpiffeId server_id;
        Answer a;

        svid_issue(&s, &ca2, AGENT_ID, -60, HOUR, false);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s.key, s.chain, NULL), 0);
        bundles_set(agent, &ca1, NULL);
        bundles_set(f->server_identity, &ca1, &ca2, NULL);
        assert_int_equal(sigil_spiffeid_from_string(SERVER_ID, &server_id, NULL), 0);
        assert_int_equal(rpc_tls_client_credentials(agent, &server_id, &creds), 0);
        client_new(f, creds, &c);
        whoami_on(c, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, AGENT_ID);

        bundles_set(f->server_identity, &ca1, NULL);
        whoami_on(c, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_PERMISSION_DENIED);
        assert_strstr(a.status.message, "chain does not verify");
        /* A new channel with the same credentials shares the open connection... */
        whoami(f, creds, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_PERMISSION_DENIED);
        /* ...new credentials make a new connection, refused at the handshake. */
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
}

static void test_insecure_bootstrap(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
        _cleanup_(freep) char *log = NULL;
        SigilSpiffeId server_id;
        Answer a;

        /* Without a bundle the verifying client cannot accept the server... */
        assert_int_equal(sigil_spiffeid_from_string(SERVER_ID, &server_id, NULL), 0);
        whoami_as(f, agent, SERVER_ID, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_UNAVAILABLE);
        assert_strstr(a.status.message, "no trust bundle");
        /* ...the bootstrap one does, and says so. */
        assert_int_equal(rpc_tls_client_credentials_insecure_bootstrap(agent, &creds), 0);
        whoami(f, creds, &a);
        assert_int_equal(a.status.code, GRPC_STATUS_OK);
        assert_string_equal(a.id, "anonymous");
        log = log_contents(f);
        assert_strstr(log, "insecure_bootstrap: server NOT verified, it claims "
                           "peer_spiffe_id='" SERVER_ID "'");
}

/* A raw OpenSSL client limited to @max_version: does the handshake with the server succeed? */
static bool handshake_with_max_version(Fixture *f, int max_version) {
        static const unsigned char alpn[] = { 2, 'h', '2' };
        _cleanup_(closep) int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) f->port) };
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        SSL *ssl;
        bool ok;

        assert_true(fd >= 0);
        assert_non_null(ctx);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        SSL_CTX_set_security_level(ctx, 0);     /* let this client offer TLS 1.0/1.1 */
        assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION), 1);
        assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
        assert_int_equal(SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)), 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ssl = SSL_new(ctx);
        assert_non_null(ssl);
        assert_int_equal(SSL_set_fd(ssl, fd), 1);
        ok = SSL_connect(ssl) == 1;
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return ok;
}

static void test_tls_version_floor(void **state) {
        Fixture *f = *state;

        assert_false(handshake_with_max_version(f, TLS1_VERSION));
        assert_false(handshake_with_max_version(f, TLS1_1_VERSION));
        assert_true(handshake_with_max_version(f, TLS1_2_VERSION));
        assert_true(handshake_with_max_version(f, TLS1_3_VERSION));
}

/* ---- the identity holder alone ---- */

static void test_identity_checks(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_tls_identity_unrefp) RpcTlsIdentity *agent = identity_new(f, "agent");
        _cleanup_(grpc_server_credentials_releasep) grpc_server_credentials *sc = NULL;
        _cleanup_(svid_done) Svid s1 = {}, s2 = {};
        _cleanup_(freep) char *chain_pem = NULL, *key_pem = NULL, *dir = NULL;
        RpcTlsIdentity *bad = NULL;
        struct stat st1, st2;
        SigilErr err = {};

        assert_int_equal(rpc_tls_server_credentials(agent, &sc), -ENOKEY);
        svid_issue(&s1, &ca1, AGENT_ID, -60, HOUR, false);
        svid_issue(&s2, &ca1, AGENT_ID, -60, HOUR, false);
        /* A key that is not the leaf's. */
        assert_int_equal(rpc_tls_identity_set_svid(agent, s2.key, s1.chain, &err), -EINVAL);
        assert_strstr(err.msg, "does not match");
        /* Not PEM, no certificate, a CA certificate as leaf. */
        assert_int_equal(sigil_x509_chain_to_pem(s1.chain, &chain_pem), 0);
        assert_int_equal(sigil_key_to_pkcs8_pem(s1.key, &key_pem), 0);
        assert_int_equal(rpc_tls_identity_set_svid_pem(agent, key_pem, "garbage", NULL), -EINVAL);
        assert_int_equal(rpc_tls_identity_set_svid_pem(agent, "garbage", chain_pem, NULL), -EINVAL);
        assert_int_equal(rpc_tls_identity_set_svid_pem(agent, key_pem, "", NULL), -EINVAL);

        /* Two SVIDs in the same second: the file is 0600 and its mtime still moves on. */
        assert_int_equal(rpc_tls_identity_set_svid_pem(agent, key_pem, chain_pem, &err), 0);
        assert_true(asprintf(&dir, "%s/agent/svid.pem", f->dir) > 0);
        assert_int_equal(stat(dir, &st1), 0);
        assert_int_equal(st1.st_mode & 07777, 0600);
        assert_int_equal(rpc_tls_identity_set_svid(agent, s2.key, s2.chain, NULL), 0);
        assert_int_equal(stat(dir, &st2), 0);
        assert_true(st2.st_mtime > st1.st_mtime);
        assert_int_equal(rpc_tls_server_credentials(agent, &sc), 0);

        /* A directory others may write to is refused. */
        free(dir);
        assert_true(asprintf(&dir, "%s/open", f->dir) > 0);
        assert_int_equal(mkdir(dir, 0777), 0);
        assert_int_equal(chmod(dir, 0777), 0);
        assert_int_equal(rpc_tls_identity_new(dir, &bad), -EPERM);
        assert_null(bad);
}

static int group_setup(void **state) {
        sigil_log_setup("test-rpc-tls", SIGIL_LOG_INFO, SIGIL_LOG_FORMAT_TEXT);
        group_dir = test_mkdtemp();
        ca_init(&ca1, "O=sigil,CN=CA one");
        ca_init(&ca2, "O=sigil,CN=CA two");
        ca_init_intermediate(&inter1, &ca1);
        return 0;
}

static int group_teardown(void **state) {
        ca_done(&ca1);
        ca_done(&ca2);
        ca_done(&inter1);
        rm_rf(group_dir);
        free(group_dir);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
                cmocka_unit_test_setup_teardown(test_identified, setup, teardown),
                cmocka_unit_test_setup_teardown(test_intermediates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_from_other_ca_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_wrong_server_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expired_client_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotate_server, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotate_client, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reverify_at_call_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insecure_bootstrap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tls_version_floor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_identity_checks, setup, teardown),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
