/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry commands end to end against the fake admin server (cli-fake.h):
 * entry create/show/update/delete/count, agent, token generate, healthcheck,
 * server errors and unreachable servers. Checks what each command sends
 * (fields, paging, batching) and what it prints (text, JSON, one-line errors,
 * exit codes). The real server's behaviour is tested by the integration suite.
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
        captured_done(&c);

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
        captured_done(&c);
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
        captured_done(&c);

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
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_entry, "entry", "create", "-data", "/nonexistent/entries.json");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: cannot read '/nonexistent/entries.json': No such file "
                                   "or directory\n");
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);

        fixture->loop_token = true;
        c = RUN(cli_entry, "entry", "show");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: error fetching entries: sigil-server returned the same "
                                   "page token twice\n");
        captured_done(&c);
        fixture->loop_token = false;

        c = RUN(cli_entry, "entry", "show", "-entryID", "e-son");
        expect_ok(&c);
        assert_prefix(c.out, "Found 1 entry\nEntry ID         : e-son\n");
        captured_done(&c);

        c = RUN(cli_entry, "entry", "show", "-entryID", "nope");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Error: error fetching entry ID nope: rpc error: code = "
                                   "NotFound desc = no such registration entry\n");
        captured_done(&c);
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
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_entry, "entry", "delete", "-entryID", "e-son");
        expect_ok(&c);
        assert_string_equal(c.out, "Deleted entry with ID: e-son\n");
        captured_done(&c);

        c = RUN(cli_entry, "entry", "delete", "-entryID", "missing", "-output", "json");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "{\"results\":[{\"status\":{\"code\":5,\"message\":\"entry not "
                                   "found\"},\"id\":\"missing\"}]}\n");
        assert_string_equal(c.err, "Error: failed to delete entry missing: rpc error: code = "
                                   "NotFound desc = entry not found\n");
        captured_done(&c);

        c = RUN(cli_entry, "entry", "count");
        expect_ok(&c);
        assert_string_equal(c.out, "3 registration entries\n");
        captured_done(&c);

        c = RUN(cli_entry, "entry", "count", "-output", "json");
        expect_ok(&c);
        j = parse_json(c.out);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
        json_decref(j);
        captured_done(&c);
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
        captured_done(&c);

        fixture->fail_code = GRPC_STATUS_INVALID_ARGUMENT;
        fixture->fail_msg = "bad\nthings";
        c = RUN(cli_agent, "agent", "ban", "-spiffeID", "spiffe://example.org/a");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Error: rpc error: code = InvalidArgument desc = bad?things\n");
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_agent, "agent", "list", "-output", "json");
        expect_ok(&c);
        assert_string_equal(c.out,
                "{\"agents\":[{\"id\":{\"trust_domain\":\"example.org\",\"path\":"
                "\"/sigil/agent/join_token/abc\"},\"attestation_type\":\"join_token\","
                "\"x509svid_serial_number\":\"4c6f7665\",\"x509svid_expires_at\":\"1552410266\","
                "\"selectors\":[{\"type\":\"join_token\",\"value\":\"abc\"}],\"banned\":true,"
                "\"can_reattest\":false}],\"next_page_token\":\"\"}\n");
        captured_done(&c);

        c = RUN(cli_agent, "agent", "show", "-spiffeID",
                "spiffe://example.org/sigil/agent/join_token/abc");
        expect_ok(&c);
        assert_prefix(c.out, "Found an attested agent given its SPIFFE ID\n\nSPIFFE ID  ");
        assert_strstr(c.out, "Selectors         : join_token:abc\n");
        captured_done(&c);

        c = RUN(cli_agent, "agent", "evict", "-spiffeID", "spiffe://example.org/a1");
        expect_ok(&c);
        assert_string_equal(c.out, "Agent evicted successfully\n");
        captured_done(&c);
        c = RUN(cli_agent, "agent", "ban", "-spiffeID", "spiffe://example.org/a2", "-output",
                "json");
        expect_ok(&c);
        assert_string_equal(c.out, "{}\n");
        captured_done(&c);
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
        captured_done(&c);
        c = RUN(cli_agent, "agent", "count", "-output", "json");
        j = parse_json(c.out);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
        captured_done(&c);
}

static void test_token(void **state) {
        Sigil__Admin__V1__CreateJoinTokenRequest *req;
        Captured c;

        c = RUN(cli_token, "token", "generate", "-spiffeID", "spiffe://example.org/host1", "-ttl",
                "10m");
        expect_ok(&c);
        assert_string_equal(c.out, "Token: tok-123\n");
        captured_done(&c);
        req = (void *) call_at(0, ADMIN_AGENT_CREATE_JOIN_TOKEN,
                               &sigil__admin__v1__create_join_token_request__descriptor);
        assert_string_equal(req->agent_id, "spiffe://example.org/host1");
        assert_int_equal(req->ttl, 600);
        protobuf_c_message_free_unpacked(&req->base, NULL);

        c = RUN(cli_token, "token", "generate", "-output", "json");
        expect_ok(&c);
        assert_string_equal(c.out, "{\"value\":\"tok-123\",\"expires_at\":\"1999999999\"}\n");
        captured_done(&c);
        req = (void *) call_at(1, ADMIN_AGENT_CREATE_JOIN_TOKEN,
                               &sigil__admin__v1__create_join_token_request__descriptor);
        assert_string_equal(req->agent_id, "");
        assert_int_equal(req->ttl, 0);
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- health ---- */

static void test_healthcheck(void **state) {
        struct timespec t0, t1;
        Captured c;

        c = RUN(cli_healthcheck, "healthcheck");
        expect_ok(&c);
        assert_string_equal(c.out, "Server is healthy.\n");
        captured_done(&c);

        c = RUN(cli_healthcheck, "healthcheck", "-verbose");
        expect_ok(&c);
        assert_strstr(c.out, "Server is healthy.\nTrust domain: example.org\n");
        captured_done(&c);

        fixture->serving = false;
        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.out, "");
        assert_string_equal(c.err, "Server is unhealthy: the server reports that it is not "
                                   "serving\n");
        captured_done(&c);
        c = RUN(cli_healthcheck, "healthcheck", "-shallow");
        expect_ok(&c);
        captured_done(&c);

        fixture->fail_code = GRPC_STATUS_PERMISSION_DENIED;
        fixture->fail_msg = "not an admin";
        c = RUN(cli_healthcheck, "healthcheck", "-shallow");
        expect_ok(&c);                          /* it answered: it is up */
        captured_done(&c);
        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_string_equal(c.err, "Server is unhealthy: rpc error: code = PermissionDenied "
                                   "desc = not an admin\n");
        captured_done(&c);
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
        captured_done(&c);
        c = RUN(cli_agent, "agent", "count");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_prefix(c.err, "Error: connection error: cannot reach sigil-server at '");
        captured_done(&c);
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
        captured_done(&c);

        c = RUN(cli_healthcheck, "healthcheck");
        assert_int_equal(c.rc, CLI_EXIT_FAILURE);
        assert_prefix(c.err, "Server is unhealthy: no answer from the server: ");
        assert_int_equal(strcspn(c.err, "\n") + 1, strlen(c.err));
        captured_done(&c);

        shutdown(lfd, SHUT_RDWR);
        close(lfd);
        pthread_join(t, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_entry_create_flags, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_node, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_partial_failure, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_batches_and_stdin, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_create_bad_data_sends_nothing, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_paging, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_filters, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_show_json_and_errors, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_entry_update_delete_count, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_server_errors, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_agents, cli_fake_setup, cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_token, cli_fake_setup, cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_healthcheck, cli_fake_setup,
                                                cli_fake_teardown),
                cmocka_unit_test_setup_teardown(test_not_a_grpc_server, cli_fake_setup,
                                                cli_fake_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
