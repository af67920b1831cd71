/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server healthcheck: for liveness probes and operators. Exit 0 and
 * "Server is healthy." or exit 1 and one line "Server is unhealthy: <why>",
 * whatever the failure (no socket, refused, timeout, not serving).
 *
 * -shallow asks only whether the server answers on its admin socket: any
 * gRPC answer, even PermissionDenied to a caller who is not an admin,
 * proves the process is up. The default (deep) check needs the answer of
 * HealthAPI/Check and the server to report that it is serving.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admin-methods.h"
#include "cli-util.h"

#define HEALTH_TIMEOUT_USEC (5u * 1000000u)

enum {
        OPT_SHALLOW = CLI_OPT_FIRST,
        OPT_VERBOSE,
};

static const struct option health_options[] = {
        { "shallow", optional_argument, NULL, OPT_SHALLOW },
        { "verbose", optional_argument, NULL, OPT_VERBOSE },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_health = {
        .name = "healthcheck",
        .synopsis = "Determines the health of sigil-server: exit status 0 when healthy, 1 when "
                    "not.",
        .options_help =
                "  -shallow                Only check that the server answers on its socket\n"
                "  -verbose                Tell what is checked, and the server's details\n",
        .options = health_options,
};

static int unhealthy(const char *fmt, ...) _printf_(1, 2);
static int unhealthy(const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "Server is unhealthy: %s\n", cli_sanitize(msg));
        return CLI_EXIT_FAILURE;
}

static int health_output(CliOutput output, bool verbose,
                         const Sigil__Admin__V1__HealthCheckResponse *h) {
        if (output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:b, s:o, s:o, s:o, s:o}",
                                                "serving", (int) h->serving,
                                                "trust_domain", cli_json_string(h->trust_domain),
                                                "version", cli_json_string(h->version),
                                                "entries", cli_json_int64(h->entries),
                                                "agents", cli_json_int64(h->agents)));
        printf("Server is healthy.\n");
        if (verbose) {
                _cleanup_(freep) char *td = strdup(h->trust_domain);
                _cleanup_(freep) char *version = strdup(h->version);

                printf("Trust domain: %s\nVersion: %s\nEntries: %" PRId64 "\nAgents: %" PRId64
                       "\n", td ? cli_sanitize(td) : "", version ? cli_sanitize(version) : "",
                       h->entries, h->agents);
        }
        return CLI_EXIT_OK;
}

static int health_check(CliConn *conn, bool shallow, CliOutput output, bool verbose) {
        Sigil__Admin__V1__HealthCheckRequest req = SIGIL__ADMIN__V1__HEALTH_CHECK_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        Sigil__Admin__V1__HealthCheckResponse *h;
        char name[16];
        RpcStatus st;
        int r;

        r = rpc_client_unary(cli_conn_client(conn), ADMIN_HEALTH_CHECK, &req.base,
                             &sigil__admin__v1__health_check_response__descriptor, NULL, 0,
                             HEALTH_TIMEOUT_USEC, &m, &st);
        if (r < 0)
                return unhealthy("health check failed: %s", strerror(-r));
        if (st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
                return unhealthy("no answer from the server: %s", st.message);
        if (shallow && st.code != GRPC_STATUS_OK) {
                Sigil__Admin__V1__HealthCheckResponse answered =
                        SIGIL__ADMIN__V1__HEALTH_CHECK_RESPONSE__INIT;

                if (output == CLI_OUTPUT_JSON) {        /* it answered: that is all we know */
                        answered.serving = true;
                        return health_output(output, verbose, &answered);
                }
                if (verbose)
                        printf("Server answered (code = %s).\n", cli_code_name(st.code, name));
                printf("Server is healthy.\n");
                return CLI_EXIT_OK;
        }
        if (st.code != GRPC_STATUS_OK) {
                char msg[1024];

                cli_format_rpc_error(NULL, st.code, st.message, msg, sizeof(msg));
                return unhealthy("%s", msg);
        }
        h = (Sigil__Admin__V1__HealthCheckResponse *) m;
        if (!shallow && !h->serving)
                return unhealthy("%s", "the server reports that it is not serving");
        return health_output(output, verbose, h);
}

int cli_healthcheck(int argc, char *argv[]) {
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        bool shallow = false, verbose = false;
        CliCommon common;
        CliParser p;
        char reason[512];
        int c;

        cli_parser_init(&p, &cmd_health, &common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                bool *dst = c == OPT_SHALLOW ? &shallow : &verbose;

                if (cli_parse_bool(optarg, dst) < 0)
                        return cli_usage_error(&cmd_health, "invalid boolean value '%s' for -%s",
                                               optarg, c == OPT_SHALLOW ? "shallow" : "verbose");
        }
        if (c < 0)
                return p.exit_status;

        if (verbose && common.output == CLI_OUTPUT_TEXT)        /* JSON is one line alone */
                printf("Checking server health at '%s'...\n", common.socket_path);
        if (cli_conn_open(common.socket_path, &conn, reason, sizeof(reason)) < 0)
                return unhealthy("%s", reason);
        return health_check(conn, shallow, common.output, verbose);
}
