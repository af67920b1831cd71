/* SPDX-License-Identifier: Apache-2.0 */
/* sigil-agent's configuration (agent/agent-config.c): defaults, file, flags, checks, errors. */
#include "test-util.h"

#include <unistd.h>

#include "agent-config.h"

typedef struct Fixture {
        char *dir;
        char path[4200];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->dir = test_mkdtemp();
        (void) snprintf(f->path, sizeof(f->path), "%s/agent.json", f->dir);
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

static void write_file(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
}

/* agent_config_load() on a NULL-terminated list of flags (argv[0] is added). */
#define LOAD(ret, err, ...)                                                                   \
        ({                                                                                    \
                char *_argv[] = { (char *) "run", __VA_ARGS__, NULL };                        \
                agent_config_load((int) ELEMENTSOF(_argv) - 1, _argv, false, (ret), (err));   \
        })

static void test_flags_alone(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        SigilErr err = {};

        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress",
                              "10.0.0.1", "-joinToken", "6d1e2f3a-0000-4000-8000-000000000000",
                              "-insecureBootstrap"), 0);
        assert_string_equal(c->trust_domain, "example.org");
        assert_string_equal(c->server_address, "10.0.0.1");
        assert_int_equal(c->server_port, AGENT_DEFAULT_SERVER_PORT);
        assert_string_equal(c->data_dir, AGENT_DEFAULT_DATA_DIR);
        assert_string_equal(c->socket_path, AGENT_DEFAULT_SOCKET);
        assert_string_equal(c->admin_socket_path, AGENT_DEFAULT_ADMIN_SOCKET);
        assert_string_equal(c->join_token, "6d1e2f3a-0000-4000-8000-000000000000");
        assert_true(c->insecure_bootstrap);
        assert_null(c->trust_bundle_path);
        assert_int_equal(c->log_level, SIGIL_LOG_INFO);
        assert_int_equal(c->log_format, SIGIL_LOG_FORMAT_TEXT);
        assert_int_equal(c->svid_key_type, SIGIL_KEY_EC_P256);
        assert_false(agent_config_uses_x509pop(c));
        /* The Workload API's defaults: /proc, NSS names, cgroup on, opt-ins off. */
        assert_string_equal(c->workload.attest.proc_root, "/proc");
        assert_int_equal(c->workload.attest.names, UNIX_NAMES_NSS);
        assert_true(c->workload.attest.cgroup);
        assert_false(c->workload.attest.unix_path);
        assert_false(c->workload.attest.unix_sha256);
        assert_int_equal(c->workload.n_threads, 0);
}

static void test_double_dash_and_equals(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        SigilErr err = {};

        assert_int_equal(LOAD(&c, &err, "--trustDomain=example.org", "--serverAddress", "srv",
                              "-serverPort=9000", "-logLevel", "debug", "-logFormat", "json",
                              "-dataDir", "/var/tmp/a", "-socketPath", "/run/a/api.sock",
                              "-adminSocketPath", "/run/a/private/admin.sock"), 0);
        assert_int_equal(c->server_port, 9000);
        assert_int_equal(c->log_level, SIGIL_LOG_DEBUG);
        assert_int_equal(c->log_format, SIGIL_LOG_FORMAT_JSON);
        assert_string_equal(c->data_dir, "/var/tmp/a");
        assert_string_equal(c->socket_path, "/run/a/api.sock");
        assert_string_equal(c->admin_socket_path, "/run/a/private/admin.sock");
}

static void test_file_then_flags(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        Fixture *f = *state;
        SigilErr err = {};

        write_file(f->path,
                   "{\"agent\": {\"trust_domain\": \"example.org\", \"server_address\": \"a\","
                   " \"server_port\": 7000, \"data_dir\": \"/d\", \"log_level\": \"warn\","
                   " \"trust_bundle_path\": \"/b.pem\", \"svid_key_type\": \"ec-p384\","
                   " \"sync_retry_max\": \"30s\", \"log_file\": \"/l\"},"
                   " \"node_attestor\": {\"x509pop\": {\"certificate_path\": \"/c.pem\","
                   " \"private_key_path\": \"/k.pem\", \"intermediates_path\": \"/i.pem\"}},"
                   " \"workload_api\": {\"threads\": 2, \"max_conns_per_uid\": 10,"
                   " \"proc_root\": \"/p\", \"unix\": {\"path\": true, \"sha256\": true,"
                   " \"groups_max\": 7, \"names\": \"files\", \"names_root\": \"/r\"},"
                   " \"cgroup\": {\"enabled\": false}}}");
        /* The flag wins over the file, whatever their order on the command line. */
        assert_int_equal(LOAD(&c, &err, "-serverPort", "7001", "-config", f->path), 0);
        assert_int_equal(c->server_port, 7001);
        assert_string_equal(c->server_address, "a");
        assert_string_equal(c->data_dir, "/d");
        assert_int_equal(c->log_level, SIGIL_LOG_WARNING);
        assert_string_equal(c->trust_bundle_path, "/b.pem");
        assert_int_equal(c->svid_key_type, SIGIL_KEY_EC_P384);
        assert_int_equal(c->sync_retry_max, 30 * USEC_PER_SEC);
        assert_string_equal(c->log_file, "/l");
        assert_true(agent_config_uses_x509pop(c));
        assert_string_equal(c->x509pop_certificate_path, "/c.pem");
        assert_string_equal(c->x509pop_private_key_path, "/k.pem");
        assert_string_equal(c->x509pop_intermediates_path, "/i.pem");
        assert_non_null(c->workload_api);
        assert_int_equal(c->workload.n_threads, 2);
        assert_int_equal(c->workload.max_conns_per_uid, 10);
        assert_string_equal(c->workload.attest.proc_root, "/p");
        assert_true(c->workload.attest.unix_path);
        assert_true(c->workload.attest.unix_sha256);
        assert_false(c->workload.attest.unix_path_any_mntns);
        assert_int_equal(c->workload.attest.groups_max, 7);
        assert_int_equal(c->workload.attest.names, UNIX_NAMES_FILES);
        assert_string_equal(c->workload.attest.names_root, "/r");
        assert_false(c->workload.attest.cgroup);
        assert_false(c->workload.attest.skip_pid_check);
        assert_non_null(c->config_path);
}

typedef struct BadCase {
        const char *json;               /* NULL: flags only */
        const char *flags[8];
        const char *message;            /* expected in the error */
} BadCase;

static void test_errors(void **state) {
        static const BadCase cases[] = {
                { "{\"agent\": {\"trust_domain\": \"example.org\", \"colour\": 1}}", {},
                  "agent.colour: unknown key" },
                { "{\"agent\": {\"server_port\": 70000}}", {}, "agent.server_port: port 70000" },
                { "{\"agent\": {\"trust_domain\": \"Example.org\"}}", {}, "agent.trust_domain" },
                { "{\"agent\": {\"insecure_bootstrap\": \"yes\"}}", {},
                  "agent.insecure_bootstrap: expected true or false" },
                { "{\"agent\": {\"log_level\": \"loud\"}}", {}, "agent.log_level" },
                { "{\"agent\": {\"svid_key_type\": \"ed25519\"}}", {}, "agent.svid_key_type" },
                { "{\"agent\": {\"trust_domain\": \"a\", \"trust_domain\": \"b\"}}", {},
                  "duplicate" },
                { "{\"agent\": {", {}, "agent.json:" },
                { "[]", {}, "top level" },
                { "{\"node_attestor\": {\"tpm\": {}}}", {}, "node_attestor.tpm: unknown key" },
                { "{\"workload_api\": 3}", {}, "workload_api" },
                { "{\"workload_api\": {\"colour\": 1}}", { "-trustDomain", "example.org",
                  "-serverAddress", "a" }, "workload_api.colour: unknown key" },
                { "{\"workload_api\": {\"unix\": {\"sha256\": 1}}}", { "-trustDomain",
                  "example.org", "-serverAddress", "a" }, "workload_api.unix.sha256" },
                { "{\"workload_api\": {\"threads\": 1000}}", { "-trustDomain", "example.org",
                  "-serverAddress", "a" }, "workload_api.threads: out of range" },
                { "{\"workload_api\": {\"unix\": {\"names\": \"ldap\"}}}", { "-trustDomain",
                  "example.org", "-serverAddress", "a" }, "workload_api.unix.names: expected" },
                { "{\"workload_api\": {\"unix\": {\"names\": \"files\"}}}", { "-trustDomain",
                  "example.org", "-serverAddress", "a" }, "names_root: required" },
                { "{\"workload_api\": {\"proc_root\": \"proc\"}}", { "-trustDomain",
                  "example.org", "-serverAddress", "a" }, "not an absolute path" },
                { NULL, { "-serverAddress", "a" }, "trust domain is required" },
                { NULL, { "-trustDomain", "example.org" }, "server address is required" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-serverPort",
                          "0" }, "-serverPort: invalid port '0'" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-serverPort",
                          "80x" }, "-serverPort: invalid port '80x'" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-trustBundle",
                          "/b", "-insecureBootstrap" }, "not both" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-joinToken",
                          "has space" }, "join token: unexpected character" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-socketPath",
                          "relative.sock" }, "is not an absolute path" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-socketPath",
                          "/same.sock", "-adminSocketPath", "/same.sock" }, "must differ" },
                { NULL, { "-trustDomain", "example.org", "-serverAddress", "a", "-logFormat",
                          "xml" }, "-logFormat: expected text or json" },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(agent_config_freep) AgentConfig *c = NULL;
                char *argv[16] = { (char *) "run" };
                SigilErr err = {};
                int argc = 1;

                if (cases[i].json) {
                        write_file(f->path, cases[i].json);
                        argv[argc++] = (char *) "-config";
                        argv[argc++] = f->path;
                }
                for (size_t k = 0; k < ELEMENTSOF(cases[i].flags) && cases[i].flags[k]; k++)
                        argv[argc++] = (char *) cases[i].flags[k];
                if (agent_config_load(argc, argv, false, &c, &err) != -EINVAL)
                        fail_msg("case %zu: expected -EINVAL", i);
                assert_null(c);
                assert_strstr(err.msg, cases[i].message);
        }
}

static void test_x509pop_checks(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *json;
                const char *message;
        } cases[] = {
                { "{\"agent\": {\"trust_domain\": \"example.org\", \"server_address\": \"a\"},"
                  " \"node_attestor\": {\"x509pop\": {\"certificate_path\": \"/c\"}}}",
                  "certificate_path and private_key_path are both required" },
                { "{\"agent\": {\"trust_domain\": \"example.org\", \"server_address\": \"a\","
                  " \"join_token\": \"t\"}, \"node_attestor\": {\"x509pop\":"
                  " {\"certificate_path\": \"/c\", \"private_key_path\": \"/k\"}}}",
                  "either a join token or node_attestor.x509pop" },
                { "{\"agent\": {\"trust_domain\": \"example.org\", \"server_address\": \"a\","
                  " \"sync_retry_max\": \"10ms\"}}", "sync_retry_max: at least 1s" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(agent_config_freep) AgentConfig *c = NULL;
                SigilErr err = {};

                write_file(f->path, cases[i].json);
                assert_int_equal(LOAD(&c, &err, "-config", f->path), -EINVAL);
                assert_strstr(err.msg, cases[i].message);
        }
}

static void test_socket_path_length(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        char path[200];
        SigilErr err = {};

        memset(path, 'a', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = '\0';
        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress", "a",
                              "-adminSocketPath", path), -EINVAL);
        assert_strstr(err.msg, "longer than 107 bytes");
        path[AGENT_UNIX_PATH_MAX] = '\0';
        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress", "a",
                              "-adminSocketPath", path), 0);
}

static void test_help(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        SigilErr err = {};

        assert_int_equal(LOAD(&c, &err, "-h"), AGENT_CONFIG_E_HELP);
        assert_null(c);
}

/* Usage errors are told apart from bad values: the caller prints usage and exits 2. */
static void test_usage_errors(void **state) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        char *validate[] = { (char *) "validate", (char *) "-trustDomain", (char *) "example.org",
                             (char *) "-serverAddress", (char *) "a", NULL };
        SigilErr err = {};

        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress", "a",
                              "-colour"), AGENT_CONFIG_E_USAGE);
        assert_strstr(err.msg, "unknown or incomplete flag '-colour'");
        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress", "a",
                              "extra"), AGENT_CONFIG_E_USAGE);
        assert_strstr(err.msg, "unexpected argument 'extra'");
        assert_int_equal(LOAD(&c, &err, "-trustDomain"), AGENT_CONFIG_E_USAGE);
        assert_strstr(err.msg, "'-trustDomain'");
        /* validate needs -config, even when the flags alone would do for run. */
        assert_int_equal(agent_config_load((int) ELEMENTSOF(validate) - 1, validate, true, &c,
                                           &err), AGENT_CONFIG_E_USAGE);
        assert_strstr(err.msg, "-config FILE is required");
        assert_null(c);
        /* A bad flag value is a configuration error, not a usage error. */
        assert_int_equal(LOAD(&c, &err, "-trustDomain", "example.org", "-serverAddress", "a",
                              "-logLevel", "loud"), -EINVAL);
        assert_null(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_flags_alone),
                cmocka_unit_test(test_double_dash_and_equals),
                cmocka_unit_test_setup_teardown(test_file_then_flags, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_x509pop_checks, setup, teardown),
                cmocka_unit_test(test_socket_path_length),
                cmocka_unit_test(test_help),
                cmocka_unit_test(test_usage_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
