/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trust commands end to end against the fake admin server (cli-fake.h):
 * bundle show/list/set/delete, x509 mint, jwt mint. Checks what is sent
 * (bundles parsed locally, CSRs, TTLs), what is printed or written (PEM,
 * SPIFFE JSON, files and their modes), and that the answers are checked.
 */
#include "cli-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin-methods.h"
#include "fileio.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"

/* ---- bundles ---- */

static void test_bundle_show(void **state) {
        char *pem = ca_pem();
        json_t *j;
        Captured c;

        c = RUN(cli_bundle, "bundle", "show");
        expect_ok(&c);
        assert_string_equal(c.out, pem);
        captured_done(&c);

        c = RUN(cli_bundle, "bundle", "show", "-format", "SPIFFE");
        expect_ok(&c);
        assert_strstr(c.out, "{\n    \"keys\": [\n");
        j = parse_json(c.out);
        assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "spiffe_sequence")), 4);
        json_decref(j);
        captured_done(&c);

        c = RUN(cli_bundle, "bundle", "show", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_string_equal(json_string_value(json_object_get(j, "trust_domain")), "example.org");
        assert_int_equal(json_array_size(json_object_get(j, "x509_authorities")), 1);
        assert_string_equal(json_string_value(json_object_get(
                json_array_get(json_object_get(j, "jwt_authorities"), 0), "key_id")), "k1");
        assert_string_equal(json_string_value(json_object_get(j, "sequence_number")), "4");
        json_decref(j);
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_bundle, "bundle", "list", "-id", "spiffe://domain2.test");
        expect_ok(&c);
        assert_string_equal(c.out, pem);
        captured_done(&c);

        c = RUN(cli_bundle, "bundle", "list", "-id", "nope.test");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: no federated bundle for trust domain 'nope.test'\n");
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);
        assert_int_equal(n_calls(), 2);

        c = RUN(cli_bundle, "bundle", "set", "-id", "domain3.test", "-path", bad);
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "Error: invalid PEM bundle in '");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));
        captured_done(&c);
        c = RUN(cli_bundle, "bundle", "set", "-id", "domain3.test", "-path", path, "-format",
                "spiffe");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_strstr(c.err, "Error: invalid SPIFFE bundle in '");
        captured_done(&c);
        assert_int_equal(n_calls(), 2);         /* nothing sent for bad files */

        c = RUN(cli_bundle, "bundle", "delete", "-id", "spiffe://domain3.test");
        expect_ok(&c);
        assert_string_equal(c.out, "bundle deleted.\n");
        captured_done(&c);
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
        captured_done(&c);
        c = RUN(cli_bundle, "bundle", "set", "-path", "b.pem");
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_strstr(c.err, "Error: -id is required\n");
        captured_done(&c);
        c = RUN(cli_bundle, "bundle", "delete", "-id", "spiffe://");
        assert_int_equal(c.rc, CLI_EXIT_USAGE);
        assert_strstr(c.err, "Error: invalid -id: invalid trust domain 'spiffe://'");
        captured_done(&c);
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
        captured_done(&c);

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
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_x509, "x509", "mint", "-spiffeID", "spiffe://example.org/tool", "-write",
                "/nonexistent/dir");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: cannot write to '/nonexistent/dir': No such file or "
                                   "directory\n");
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);

        /* the server capped the lifetime: said on stderr, the token still printed */
        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1", "-ttl", "2h");
        assert_int_equal(c.rc, 0);
        assert_strstr(c.err, "JWT-SVID lifetime was capped shorter than specified ttl; expires ");
        captured_done(&c);

        fixture->bad_token = true;
        c = RUN(cli_jwt, "jwt", "mint", "-spiffeID", "spiffe://example.org/tool", "-audience",
                "a1");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: sigil-server returned a token that is not a compact "
                                   "JWS\n");
        captured_done(&c);
        free(path);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_bundle_show, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_bundle_list, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_bundle_set_delete, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_bundle_usage, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_print, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_write_and_json, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_x509_mint_checks_answer, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_jwt_mint, cli_fake_setup, cli_fake_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
