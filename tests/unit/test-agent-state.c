/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's stored identity (agent/agent-state.c): round trip, file modes, what is
 * refused when read back (foreign key, non-agent IDs, other trust domains, junk), and
 * the agent IDs of both attestors.
 */
#include "test-util.h"

#include <sys/stat.h>

#include "agent-state.h"
#include "sigil/clock.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define TD "example.org"

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static SigilX509Issuer *issuer;

static int group_setup(void **state) {
        SigilCaParams p = { .trust_domain = TD, .not_before = sigil_now_sec() - 60,
                            .not_after = sigil_now_sec() + 86400, .path_len = -1 };

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &ca_key), 0);
        assert_int_equal(sigil_x509_ca_create_root(ca_key, &p, &ca_cert, NULL), 0);
        assert_int_equal(sigil_x509_issuer_new(ca_cert, ca_key, &issuer, NULL), 0);
        return 0;
}

static int group_teardown(void **state) {
        sigil_x509_issuer_free(issuer);
        X509_free(ca_cert);
        EVP_PKEY_free(ca_key);
        return 0;
}

/* A leaf for @id and @key, as a one-certificate chain. */
static STACK_OF(X509) *leaf_for(const char *id, EVP_PKEY *key) {
        _cleanup_(freep) uint8_t *spki = NULL, *der = NULL;
        STACK_OF(X509) *chain = NULL;
        SigilSpiffeId sid;
        SigilLeafParams p = { .id = &sid, .not_before = sigil_now_sec() - 10,
                              .not_after = sigil_now_sec() + 3600 };
        size_t n_spki, n_der;

        assert_int_equal(sigil_spiffeid_from_string(id, &sid, NULL), 0);
        assert_int_equal(sigil_key_to_spki_der(key, &spki, &n_spki), 0);
        assert_int_equal(sigil_x509_issuer_sign_spki(issuer, spki, n_spki, &p, &der, &n_der,
                                                     NULL), 0);
        assert_int_equal(sigil_x509_chain_from_der(der, n_der, &chain, NULL), 0);
        return chain;
}

static AgentIdentity *identity_for(const char *id) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        AgentIdentity *a = NULL;
        STACK_OF(X509) *chain;

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        chain = leaf_for(id, key);
        assert_int_equal(agent_identity_new(TD, key, chain, NULL, &a, NULL), 0);
        return a;
}

static void test_round_trip(void **state) {
        _cleanup_(agent_identity_freep) AgentIdentity *a = identity_for(
                "spiffe://" TD "/sigil/agent/join_token/6d1e2f3a-0000-4000-8000-000000000000");
        _cleanup_(agent_identity_freep) AgentIdentity *back = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL, *bback = NULL;
        char *dir = test_mkdtemp(), path[4200];
        struct stat st;

        assert_int_equal(a->attestation, AGENT_ATTESTATION_JOIN_TOKEN);
        assert_string_equal(agent_identity_join_token(a), "6d1e2f3a-0000-4000-8000-000000000000");
        assert_true(a->not_after > a->not_before);
        assert_true(strlen(a->serial) > 0);

        /* Nothing stored yet: no identity, no bundle, no error. */
        assert_int_equal(agent_state_load(dir, TD, &back, &bback, NULL), 0);
        assert_null(back);
        assert_null(bback);

        assert_int_equal(agent_state_store_identity(dir, a), 0);
        assert_int_equal(sigil_bundle_new(TD, &b), 0);
        assert_int_equal(sigil_bundle_add_x509_authority(b, ca_cert), 0);
        b->sequence = 42;
        assert_int_equal(agent_state_store_bundle(dir, b), 0);
        (void) snprintf(path, sizeof(path), "%s/" AGENT_STATE_SVID_FILE, dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        (void) snprintf(path, sizeof(path), "%s/" AGENT_STATE_BUNDLE_FILE, dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(agent_state_load(dir, TD, &back, &bback, NULL), 0);
        assert_non_null(back);
        assert_string_equal(back->id.str, a->id.str);
        assert_string_equal(back->serial, a->serial);
        assert_int_equal(back->not_after, a->not_after);
        assert_int_equal(sigil_key_public_equal(back->key, a->key), 1);
        assert_non_null(bback);
        assert_int_equal(bback->sequence, 42);
        assert_true(sigil_bundle_equal_authorities(b, bback));

        assert_int_equal(agent_state_remove_identity(dir), 0);
        assert_int_equal(agent_state_remove_identity(dir), 0);
        back = agent_identity_free(back);
        bback = sigil_bundle_free(bback);
        assert_int_equal(agent_state_load(dir, TD, &back, &bback, NULL), 0);
        assert_null(back);
        assert_non_null(bback);
        rm_rf(dir);
        free(dir);
}

static void test_agent_ids(void **state) {
        static const struct {
                const char *id;
                int ok;
        } cases[] = {
                { "spiffe://" TD "/sigil/agent/join_token/abc", AGENT_ATTESTATION_JOIN_TOKEN },
                { "spiffe://" TD "/sigil/agent/x509pop/0123abcd", AGENT_ATTESTATION_X509POP },
                { "spiffe://" TD "/sigil/agent/k8s_psat/x", -1 },
                { "spiffe://" TD "/sigil/agent/join_token/a/b", -1 },
                { "spiffe://" TD "/sigil/server", -1 },
                { "spiffe://" TD "/workload", -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
                _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
                STACK_OF(X509) *chain;
                SigilErr err = {};
                int r;

                assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
                chain = leaf_for(cases[i].id, key);
                r = agent_identity_new(TD, key, chain, NULL, &a, &err);
                if (cases[i].ok < 0) {
                        assert_int_equal(r, -EINVAL);
                        assert_strstr(err.msg, "is not an agent ID");
                        sk_X509_pop_free(chain, X509_free);
                        continue;
                }
                assert_int_equal(r, 0);
                assert_int_equal((int) a->attestation, cases[i].ok);
                if (a->attestation == AGENT_ATTESTATION_X509POP)
                        assert_null(agent_identity_join_token(a));
        }
}

static void test_refused(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL, *other = NULL;
        _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
        const char *id = "spiffe://" TD "/sigil/agent/join_token/t";
        STACK_OF(X509) *chain;
        SigilErr err = {};

        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &key), 0);
        assert_int_equal(sigil_key_generate(SIGIL_KEY_EC_P256, &other), 0);
        chain = leaf_for(id, key);
        assert_int_equal(agent_identity_new(TD, other, chain, NULL, &a, &err), -EINVAL);
        assert_strstr(err.msg, "does not match its key");
        assert_int_equal(agent_identity_new(TD, key, chain, "spiffe://" TD "/sigil/agent/"
                                            "join_token/u", &a, &err), -EINVAL);
        assert_strstr(err.msg, "the server announced");
        assert_int_equal(agent_identity_new("other.org", key, chain, id, &a, &err), -EINVAL);
        assert_strstr(err.msg, "of trust domain 'other.org'");
        assert_int_equal(agent_identity_new(TD, key, chain, id, &a, &err), 0);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

/* A file that is there but wrong is an error, never an absent identity. */
static void test_bad_files(void **state) {
        _cleanup_(agent_identity_freep) AgentIdentity *a = identity_for(
                "spiffe://" TD "/sigil/agent/x509pop/00ff");
        char *dir = test_mkdtemp(), path[4200], *pem = NULL;
        AgentIdentity *back = NULL;
        SigilBundle *b = NULL;
        SigilErr err = {};

        (void) snprintf(path, sizeof(path), "%s/" AGENT_STATE_SVID_FILE, dir);
        write_text(path, "garbage\n");
        assert_int_equal(agent_state_load(dir, TD, &back, &b, &err), -EINVAL);
        assert_strstr(err.msg, AGENT_STATE_SVID_FILE);
        /* The chain alone, without its key. */
        assert_int_equal(sigil_x509_chain_to_pem(a->chain, &pem), 0);
        write_text(path, pem);
        free(pem);
        assert_int_equal(agent_state_load(dir, TD, &back, &b, &err), -EINVAL);
        assert_strstr(err.msg, "needs a certificate chain and a key");
        /* Stored for another trust domain. */
        assert_int_equal(agent_state_store_identity(dir, a), 0);
        assert_int_equal(agent_state_load(dir, "other.org", &back, &b, &err), -EINVAL);
        assert_int_equal(agent_state_load(dir, TD, &back, &b, &err), 0);
        agent_identity_free(back);
        /* A bundle file that does not parse. */
        (void) snprintf(path, sizeof(path), "%s/" AGENT_STATE_BUNDLE_FILE, dir);
        write_text(path, "{\"keys\": [], \"keys\": []}");
        assert_int_equal(agent_state_load(dir, TD, &back, &b, &err), -EINVAL);
        assert_strstr(err.msg, AGENT_STATE_BUNDLE_FILE);
        rm_rf(dir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_agent_ids),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_bad_files),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
