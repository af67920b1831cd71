/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server token generate: a join token for one agent's first
 * attestation. With -spiffeID the server also registers a node entry that
 * gives the agent that ID. The token is a secret: it is printed once and
 * its copies in memory are wiped.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "admin-methods.h"
#include "cli-util.h"

enum {
        OPT_SPIFFE_ID = CLI_OPT_FIRST,
        OPT_TTL,
};

static const struct option generate_options[] = {
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },
        { "ttl", required_argument, NULL, OPT_TTL },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_generate = {
        .name = "token generate",
        .synopsis = "Generates a join token with which an agent attests its node once.",
        .options_help =
                "  -spiffeID ID            Also register a node entry giving the agent this ID\n"
                "  -ttl TTL                Lifetime of the token: seconds or a duration such as\n"
                "                          10m (default 600 seconds)\n",
        .options = generate_options,
};

static void join_token_freep(Sigil__Admin__V1__JoinToken **t) {
        if (!*t)
                return;
        OPENSSL_cleanse((*t)->value, strlen((*t)->value));
        protobuf_c_message_free_unpacked(&(*t)->base, NULL);
}

static int token_output(CliOutput output, const Sigil__Admin__V1__JoinToken *t) {
        if (isempty(t->value))
                return cli_fail("sigil-server answered without a token");
        if (output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:o, s:o}", "value", cli_json_string(t->value),
                                                "expires_at", cli_json_int64(t->expires_at)));
        printf("Token: %s\n", t->value);
        return CLI_EXIT_OK;
}

static int token_generate(int argc, char *argv[]) {
        Sigil__Admin__V1__CreateJoinTokenRequest req =
                SIGIL__ADMIN__V1__CREATE_JOIN_TOKEN_REQUEST__INIT;
        _cleanup_(join_token_freep) Sigil__Admin__V1__JoinToken *token = NULL;
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        ProtobufCMessage *m = NULL;
        CliCommon common;
        SigilErr e = {};
        CliParser p;
        int c, r;

        cli_parser_init(&p, &cmd_generate, &common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                if (c == OPT_SPIFFE_ID && cli_check_spiffe_id("-spiffeID", optarg, &e) < 0)
                        return cli_usage_error(&cmd_generate, "%s", e.msg);
                if (c == OPT_SPIFFE_ID)
                        req.agent_id = optarg;
                if (c == OPT_TTL && cli_parse_ttl(optarg, &req.ttl, &e) < 0)
                        return cli_usage_error(&cmd_generate, "invalid -ttl '%s': %s", optarg,
                                               e.msg);
        }
        if (c < 0)
                return p.exit_status;

        r = cli_connect(common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_call(conn, ADMIN_AGENT_CREATE_JOIN_TOKEN, &req.base,
                     &sigil__admin__v1__join_token__descriptor, NULL, &m);
        if (r != CLI_EXIT_OK)
                return r;
        token = (Sigil__Admin__V1__JoinToken *) m;
        return token_output(common.output, token);
}

static const CliVerb token_verbs[] = {
        { "generate", token_generate, "Generate a join token" },
};

int cli_token(int argc, char *argv[]) {
        return cli_dispatch(token_verbs, ELEMENTSOF(token_verbs), argc, argv);
}
