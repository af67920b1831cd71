/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CA manager: rotation schedule (prepare at 1/2, activate at 5/6, drop at
 * notAfter) seen through the bundle, persistence across restarts, the
 * memory key manager, an upstream (disk) authority, and the signing policy.
 */
#include "test-util.h"

#include <sys/stat.h>

#include "ca/ca.h"
#include "fileio.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/jwtsvid.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define TD "example.org"
#define TTL 600

typedef struct Fixture {
        char *dir;
        char keys[512];
        CaConfig cfg;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        f->dir = test_mkdtemp();
        snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
        f->cfg = (CaConfig) {
                .trust_domain = TD,
                .key_type = SIGIL_KEY_EC_P256,
                .jwt_key_type = SIGIL_KEY_EC_P256,
                .ca_ttl_sec = TTL,
                .keys_dir = f->keys,
                .default_x509_ttl_sec = 3600,
                .default_jwt_ttl_sec = 300,
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static size_t n_x509(Ca *ca) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;

        assert_int_equal(ca_get_bundle(ca, &b), 0);
        return (size_t) sk_X509_num(b->x509_authorities);
}

static size_t n_jwt(Ca *ca) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;

        assert_int_equal(ca_get_bundle(ca, &b), 0);
        return b->n_jwt_authorities;
}

/* The active X.509 CA's key ID, as hex. */
static void active_key_id(Ca *ca, char *buf) {
        uint8_t id[CA_KEY_ID_MAX];
        size_t n = 0;

        assert_int_equal(ca_get_active_x509_key_id(ca, id, &n), 0);
        assert_true(n > 0 && n <= CA_KEY_ID_MAX);
        for (size_t i = 0; i < n; i++)
                (void) snprintf(buf + 2 * i, 3, "%02x", id[i]);
}

static void test_rotation_schedule(void **state) {
        Fixture *f = *state;
        _cleanup_(ca_freep) Ca *ca = NULL;
        uint64_t t0 = sigil_now_sec();
        CaStatus st;
        SigilErr err = {};
        char first[2 * CA_KEY_ID_MAX + 1], now[2 * CA_KEY_ID_MAX + 1];

        f->cfg.keys_dir = NULL;
        assert_int_equal(ca_new(&f->cfg, t0, &ca, &err), 0);
        active_key_id(ca, first);
        ca_get_status(ca, &st);
        assert_int_equal(st.x509_active, 1);
        assert_int_equal(st.jwt_active, 1);
        assert_int_equal(st.x509_prepared, 0);
        assert_int_equal(n_x509(ca), 1);
        assert_int_equal(n_jwt(ca), 1);

        /* Before half-life: nothing changes. */
        assert_int_equal(ca_tick(ca, t0 + TTL / 2 - 20, &err), 0);
        assert_int_equal(n_x509(ca), 1);

        /* Half-life: the next CA is prepared and published before it signs. */
        assert_int_equal(ca_tick(ca, t0 + TTL / 2, &err), 1);
        ca_get_status(ca, &st);
        assert_int_equal(st.x509_prepared, 1);
        assert_int_equal(st.jwt_prepared, 1);
        assert_int_equal(n_x509(ca), 2);
        assert_int_equal(n_jwt(ca), 2);
        active_key_id(ca, now);
        assert_string_equal(now, first);

        /* 5/6: activation; the bundle does not change, the active key ID does. */
        assert_int_equal(ca_tick(ca, t0 + TTL * 5 / 6, &err), 0);
        active_key_id(ca, now);
        assert_string_not_equal(now, first);
        ca_get_status(ca, &st);
        assert_int_equal(st.x509_active, 1);
        assert_int_equal(st.x509_old, 1);
        assert_int_equal(st.x509_prepared, 0);
        assert_int_equal(n_x509(ca), 2);

        /*
         * The old CA's notAfter: it leaves the bundle. The active one, made at
         * t0 + TTL/2, is past its own half-life by then, so its successor is
         * prepared in the same tick.
         */
        assert_int_equal(ca_tick(ca, t0 + TTL + 1, &err), 1);
        ca_get_status(ca, &st);
        assert_int_equal(st.x509_old, 0);
        assert_int_equal(st.x509_active, 1);
        assert_int_equal(st.x509_prepared, 1);
        assert_int_equal(n_x509(ca), 2);
        assert_int_equal(n_jwt(ca), 2);
        assert_true(st.x509_active_not_after >= t0 + TTL + TTL / 2);
        assert_true(ca_next_event(ca, t0 + TTL + 1) > 0);
}

/* Counts of prepared and old X.509 slots after a tick at @t, and what ca_tick() returned. */
static int tick_status(Ca *ca, uint64_t t, CaStatus *ret) {
        SigilErr err = {};
        int r = ca_tick(ca, t, &err);

        assert_true(r >= 0);
        ca_get_status(ca, ret);
        return r;
}

/*
 * With ca_ttl 30 s the next CA comes at 15 s and takes over at 25 s, counted
 * from when the active CA was made, not from its notBefore (backdated 10 s
 * for clock skew, which brought both 5 s early), and restarts in between keep
 * that schedule. A journal without created_at (an older sigil) counts from
 * notBefore + the backdate, which is when that CA was made.
 */
static void check_schedule(Fixture *f, uint64_t t0, bool restart, bool strip_created_at) {
        const uint64_t ttl = 30;
        Ca *ca = NULL;
        CaStatus st;
        SigilErr err = {};

        f->cfg.ca_ttl_sec = ttl;
        assert_int_equal(ca_new(&f->cfg, t0, &ca, &err), 0);
        assert_int_equal(ca_next_event(ca, t0), ttl / 2);
        if (strip_created_at) {
                ca_free(TAKE_PTR(ca));
                assert_int_equal(run_cmd("sed -i '/\"created_at\"/d' '%s/journal.json' && "
                                         "! grep -q created_at '%s/journal.json'",
                                         f->keys, f->keys),
                                 0);
        }
        if (restart) {
                ca_free(TAKE_PTR(ca));
                assert_int_equal(ca_new(&f->cfg, t0 + 5, &ca, &err), 0);
        }
        assert_int_equal(tick_status(ca, t0 + ttl / 2 - 1, &st), 0);
        assert_int_equal(st.x509_prepared + st.jwt_prepared, 0);
        assert_int_equal(tick_status(ca, t0 + ttl / 2, &st), 1);
        assert_int_equal(st.x509_prepared, 1);
        assert_int_equal(st.jwt_prepared, 1);
        assert_int_equal(ca_next_event(ca, t0 + ttl / 2), ttl * 5 / 6 - ttl / 2);
        if (restart) {
                ca_free(TAKE_PTR(ca));
                assert_int_equal(ca_new(&f->cfg, t0 + ttl / 2 + 1, &ca, &err), 0);
        }
        assert_int_equal(tick_status(ca, t0 + ttl * 5 / 6 - 1, &st), 0);
        assert_int_equal(st.x509_old + st.jwt_old, 0);
        assert_int_equal(tick_status(ca, t0 + ttl * 5 / 6, &st), 0);
        assert_int_equal(st.x509_old, 1);
        assert_int_equal(st.jwt_old, 1);
        assert_int_equal(st.x509_active, 1);
        ca_free(ca);
}

static void test_schedule_follows_ca_ttl(void **state) {
        Fixture *f = *state;
        uint64_t t0 = sigil_now_sec();
        char keys[sizeof(f->keys)];

        memcpy(keys, f->keys, sizeof(keys));
        f->cfg.keys_dir = NULL;
        check_schedule(f, t0, false, false);
        f->cfg.keys_dir = keys;
        check_schedule(f, t0, true, false);
        rm_rf(keys);
        check_schedule(f, t0 + 100, true, true);
}

static void test_restart_keeps_bundle(void **state) {
        Fixture *f = *state;
        _cleanup_(sigil_bundle_freep) SigilBundle *b1 = NULL, *b2 = NULL;
        uint64_t t0 = sigil_now_sec();
        SigilErr err = {};
        Ca *ca = NULL;
        char path[600];
        struct stat st;

        assert_int_equal(ca_new(&f->cfg, t0, &ca, &err), 0);
        assert_int_equal(ca_get_bundle(ca, &b1), 0);
        ca_free(ca);

        /* Keys and journal are private. */
        snprintf(path, sizeof(path), "%s/journal.json", f->keys);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(run_cmd("test -z \"$(find '%s' -name '*.key.pem' ! -perm 0600)\"", f->keys),
                         0);
        assert_int_equal(run_cmd("ls '%s'/*.key.pem | wc -l | grep -qx 2", f->keys), 0);

        assert_int_equal(ca_new(&f->cfg, t0 + 5, &ca, &err), 0);
        assert_int_equal(ca_get_bundle(ca, &b2), 0);
        assert_true(sigil_bundle_equal_authorities(b1, b2));
        ca_free(ca);

        /* The journal of another trust domain is refused, not silently replaced. */
        f->cfg.trust_domain = "other.org";
        assert_int_not_equal(ca_new(&f->cfg, t0, &ca, &err), 0);
        assert_non_null(strstr(err.msg, "example.org"));
}

static void test_restart_after_expiry(void **state) {
        Fixture *f = *state;
        _cleanup_(sigil_bundle_freep) SigilBundle *b1 = NULL, *b2 = NULL;
        uint64_t t0 = sigil_now_sec();
        SigilErr err = {};
        Ca *ca = NULL;

        assert_int_equal(ca_new(&f->cfg, t0, &ca, &err), 0);
        assert_int_equal(ca_get_bundle(ca, &b1), 0);
        ca_free(ca);
        /* Down for longer than the CA TTL: a new CA, and the old keys are gone. */
        assert_int_equal(ca_new(&f->cfg, t0 + 2 * TTL, &ca, &err), 0);
        assert_int_equal(ca_get_bundle(ca, &b2), 0);
        assert_false(sigil_bundle_equal_authorities(b1, b2));
        assert_int_equal(n_x509(ca), 1);
        ca_free(ca);
        assert_int_equal(run_cmd("ls '%s'/*.key.pem | wc -l | grep -qx 2", f->keys), 0);
}

static void test_memory_key_manager(void **state) {
        Fixture *f = *state;
        _cleanup_(ca_freep) Ca *ca = NULL;
        SigilErr err = {};

        f->cfg.keys_dir = NULL;
        assert_int_equal(ca_new(&f->cfg, sigil_now_sec(), &ca, &err), 0);
        assert_int_equal(run_cmd("test ! -e '%s'", f->keys), 0);
}

/* @leaf names its CA by the key ID the CA manager reports as active (what agents compare). */
static void check_issued_by_active(Ca *ca, X509 *leaf) {
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
        uint8_t active[CA_KEY_ID_MAX];
        size_t n_active = 0;

        assert_int_equal(ca_get_active_x509_key_id(ca, active, &n_active), 0);
        assert_non_null(aki);
        assert_int_equal(ASN1_STRING_length(aki), n_active);
        assert_memory_equal(ASN1_STRING_get0_data(aki), active, n_active);
}

static void sign_and_verify(Ca *ca, const char *id, int expect_chain, uint64_t max_ttl) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        SigilBundleSet set = {};
        SigilSpiffeId got;
        CaChain c = {};
        char serial[SIGIL_X509_SERIAL_HEX_MAX];
        uint8_t *csr;
        size_t n_csr;
        SigilErr err = {};
        const char *dns[] = { "svc.example.org" };
        CaX509Request req = { .spiffe_id = id, .dns_names = dns, .n_dns_names = 1 };

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        assert_int_equal(sigil_csr_make(key, &csr, &n_csr), 0);
        req.csr = csr;
        req.n_csr = n_csr;
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), 0);
        free(csr);
        assert_int_equal(c.n, (size_t) expect_chain);
        assert_true(c.expires_at <= sigil_now_sec() + max_ttl);
        assert_true(strlen(c.serial) > 0);
        for (size_t i = 0; i < c.n; i++) {
                const unsigned char *p = c.der[i];

                sk_X509_push(chain, d2i_X509(NULL, &p, (long) c.n_der[i]));
                assert_ptr_equal(p, c.der[i] + c.n_der[i]);
        }
        /* The expiry and serial the CA reports are the leaf's own. */
        assert_int_equal(c.expires_at, sigil_x509_not_after(sk_X509_value(chain, 0)));
        assert_int_equal(sigil_x509_serial_hex(sk_X509_value(chain, 0), serial, sizeof(serial)),
                         0);
        assert_string_equal(c.serial, serial);
        assert_int_equal(ca_get_bundle(ca, &b), 0);
        assert_int_equal(sigil_bundle_set_put(&set, TAKE_PTR(b)), 0);
        assert_int_equal(sigil_x509svid_verify(chain, &set, sigil_now_sec(), &got, &err), 0);
        assert_string_equal(got.str, id);
        check_issued_by_active(ca, sk_X509_value(chain, 0));
        sigil_bundle_set_done(&set);
        ca_chain_done(&c);
}

static void test_sign_policy(void **state) {
        Fixture *f = *state;
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        uint8_t *spki;
        size_t n_spki;
        CaChain c = {};
        SigilErr err = {};
        const char *bad_dns[] = { "-bad-.example" };
        CaX509Request req = {};

        f->cfg.keys_dir = NULL;
        assert_int_equal(ca_new(&f->cfg, sigil_now_sec(), &ca, &err), 0);
        /* TTL capped at the CA's remaining lifetime (600 s), not the 1 h default. */
        sign_and_verify(ca, "spiffe://example.org/workload", 1, TTL);

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        assert_int_equal(sigil_key_to_spki_der(key, &spki, &n_spki), 0);
        req.spki = spki;
        req.n_spki = n_spki;

        req.spiffe_id = "spiffe://other.org/workload";
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "trust domain"));
        req.spiffe_id = "spiffe://example.org";
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), -EINVAL);
        req.spiffe_id = "not an id";
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), -EINVAL);
        req.spiffe_id = "spiffe://example.org/ok";
        req.dns_names = bad_dns;
        req.n_dns_names = 1;
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), -EINVAL);
        req.n_dns_names = 0;
        req.n_spki = 10;
        assert_int_not_equal(ca_sign_x509_svid(ca, &req, &c, &err), 0);
        req.n_spki = n_spki;
        assert_int_equal(ca_sign_x509_svid(ca, &req, &c, &err), 0);
        ca_chain_done(&c);
        free(spki);
}

static void test_jwt(void **state) {
        Fixture *f = *state;
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        const char *aud[] = { "db" }, *none[] = { "" };
        SigilBundleSet set = {};
        char *token = NULL;
        uint64_t exp = 0;
        SigilErr err = {};

        f->cfg.keys_dir = NULL;
        f->cfg.jwt_issuer = "https://issuer.example.org";
        assert_int_equal(ca_new(&f->cfg, sigil_now_sec(), &ca, &err), 0);
        assert_int_equal(ca_sign_jwt_svid(ca, "spiffe://example.org/w", aud, 1, 0, &token, &exp,
                                          &err), 0);
        assert_true(exp <= sigil_now_sec() + 300);
        assert_int_equal(ca_get_bundle(ca, &b), 0);
        assert_int_equal(sigil_bundle_set_put(&set, TAKE_PTR(b)), 0);
        assert_int_equal(sigil_jwtsvid_validate(token, strlen(token), &set, aud, 1,
                                                sigil_now_sec(), &svid, &err), 0);
        assert_string_equal(svid->id.str, "spiffe://example.org/w");
        assert_string_equal(json_string_value(json_object_get(svid->claims, "iss")),
                            "https://issuer.example.org");
        free(token);
        sigil_bundle_set_done(&set);

        assert_int_equal(ca_sign_jwt_svid(ca, "spiffe://example.org/w", aud, 0, 0, &token, &exp,
                                          &err), -EINVAL);
        assert_int_equal(ca_sign_jwt_svid(ca, "spiffe://example.org/w", none, 1, 0, &token, &exp,
                                          &err), -EINVAL);
        assert_int_equal(ca_sign_jwt_svid(ca, "spiffe://evil.org/w", aud, 1, 0, &token, &exp,
                                          &err), -EINVAL);
}

static void write_pem(const char *path, const char *pem) {
        assert_int_equal(write_file_atomic(path, pem, strlen(pem), 0600), 0);
}

static void test_upstream(void **state) {
        Fixture *f = *state;
        _cleanup_(ca_freep) Ca *ca = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *root_key = NULL;
        _cleanup_(X509_freep) X509 *root = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *cert_pem = NULL, *key_pem = NULL;
        char cert_path[600], key_path[600];
        uint64_t now = sigil_now_sec();
        SigilCaParams p = { .trust_domain = TD, .subject = "O=Upstream", .not_before = now - 60,
                            .not_after = now + 86400, .path_len = -1 };
        SigilErr err = {};

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &root_key), 0);
        assert_int_equal(sigil_x509_ca_create_root(root_key, &p, &root, &err), 0);
        assert_int_equal(sigil_x509_to_pem(root, &cert_pem), 0);
        assert_int_equal(sigil_key_to_pkcs8_pem(root_key, &key_pem), 0);
        snprintf(cert_path, sizeof(cert_path), "%s/upstream.pem", f->dir);
        snprintf(key_path, sizeof(key_path), "%s/upstream.key", f->dir);
        write_pem(cert_path, cert_pem);
        write_pem(key_path, key_pem);

        f->cfg.upstream_cert_path = cert_path;
        f->cfg.upstream_key_path = key_path;
        assert_int_equal(ca_new(&f->cfg, now, &ca, &err), 0);
        /* The bundle publishes the upstream root; SVID chains carry our intermediate. */
        assert_int_equal(ca_get_bundle(ca, &b), 0);
        assert_int_equal(sk_X509_num(b->x509_authorities), 1);
        assert_int_equal(X509_cmp(sk_X509_value(b->x509_authorities, 0), root), 0);
        sign_and_verify(ca, "spiffe://example.org/upstreamed", 2, TTL);

        /* After a restart the intermediate is reused and still chains. */
        ca_free(TAKE_PTR(ca));
        assert_int_equal(ca_new(&f->cfg, now + 1, &ca, &err), 0);
        sign_and_verify(ca, "spiffe://example.org/again", 2, TTL);

        /* A half-configured upstream is refused. */
        f->cfg.upstream_key_path = NULL;
        assert_int_not_equal(ca_new(&f->cfg, now, &(Ca *) { NULL }, &err), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rotation_schedule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_schedule_follows_ca_ttl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_keeps_bundle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_after_expiry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory_key_manager, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sign_policy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upstream, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
