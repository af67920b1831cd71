/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server jwt mint: a JWT-SVID for an operator's tool. The token is a
 * bearer credential: it is printed alone on one line (so "$(...)" captures
 * exactly it) or written 0600, and wiped from our memory afterwards.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "admin-methods.h"
#include "cli-util.h"
#include "fileio.h"

enum {
        OPT_SPIFFE_ID = CLI_OPT_FIRST,
        OPT_AUDIENCE,
        OPT_TTL,
        OPT_WRITE,
};

static const struct option mint_options[] = {
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },
        { "audience", required_argument, NULL, OPT_AUDIENCE },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "write", required_argument, NULL, OPT_WRITE },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_mint = {
        .name = "jwt mint",
        .synopsis = "Mints a JWT-SVID.",
        .options_help =
                "  -spiffeID ID            SPIFFE ID of the JWT-SVID (required)\n"
                "  -audience AUD           Audience claim; repeat for more (one needed)\n"
                "  -ttl TTL                Lifetime: seconds or a duration such as 5m\n"
                "                          (default: the server's)\n"
                "  -write FILE             Write the token to FILE (mode 0600) instead of "
                "stdout\n",
        .options = mint_options,
};

typedef struct JwtArgs {
        CliCommon common;
        const char *spiffe_id, *write;
        CliStrv audience;
        int32_t ttl;
} JwtArgs;

static void jwt_args_done(JwtArgs *a) {
        cli_strv_done(&a->audience);
}

static void mint_response_freep(Sigil__Admin__V1__MintJWTSVIDResponse **r) {
        if (!*r)
                return;
        OPENSSL_cleanse((*r)->token, strlen((*r)->token));
        protobuf_c_message_free_unpacked(&(*r)->base, NULL);
}

static int jwt_arg(JwtArgs *a, int c, const char *v) {
        SigilErr e = {};

        switch (c) {
        case OPT_SPIFFE_ID:
                if (cli_check_spiffe_id("-spiffeID", v, &e) < 0)
                        return cli_usage_error(&cmd_mint, "%s", e.msg);
                a->spiffe_id = v;
                return CLI_EXIT_OK;
        case OPT_AUDIENCE:
                if (isempty(v))
                        return cli_usage_error(&cmd_mint, "-audience is empty");
                return cli_strv_push(&a->audience, v) < 0 ? cli_fail("out of memory") : 0;
        case OPT_TTL:
                if (cli_parse_ttl(v, &a->ttl, &e) < 0)
                        return cli_usage_error(&cmd_mint, "invalid -ttl '%s': %s", v, e.msg);
                return CLI_EXIT_OK;
        case OPT_WRITE:
                if (isempty(v))
                        return cli_usage_error(&cmd_mint, "-write is empty");
                a->write = v;
                return CLI_EXIT_OK;
        }
        return cli_usage_error(&cmd_mint, "unexpected flag");
}

static bool jwt_args_parse(int argc, char *argv[], JwtArgs *a, int *ret_status) {
        CliParser p;
        int c;

        cli_parser_init(&p, &cmd_mint, &a->common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                *ret_status = jwt_arg(a, c, optarg);
                if (*ret_status != CLI_EXIT_OK)
                        return false;
        }
        *ret_status = p.exit_status;
        if (c != 0)
                return false;
        if (!a->spiffe_id)
                *ret_status = cli_usage_error(&cmd_mint, "-spiffeID is required");
        else if (a->audience.n == 0)
                *ret_status = cli_usage_error(&cmd_mint, "at least one -audience is required");
        return *ret_status == CLI_EXIT_OK;
}

/* A compact JWS: three base64url parts, nothing that could break a line or a shell. */
static bool token_looks_valid(const char *t) {
        size_t dots = 0;

        for (const char *p = t; *p; p++) {
                if (*p == '.')
                        dots++;
                else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                           (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
                        return false;
        }
        return dots == 2;
}

static int jwt_output(const JwtArgs *a, const Sigil__Admin__V1__MintJWTSVIDResponse *resp) {
        int r;

        if (a->write) {
                r = write_file_atomic(a->write, resp->token, strlen(resp->token), 0600);
                if (r < 0)
                        return cli_fail("unable to write token to '%s': %s", a->write,
                                        strerror(-r));
                if (a->common.output == CLI_OUTPUT_JSON)
                        return cli_print_json(json_pack("{s:o}", "path",
                                                        cli_json_string(a->write)));
                printf("JWT-SVID written to %s\n", a->write);
                return CLI_EXIT_OK;
        }
        if (a->common.output == CLI_OUTPUT_JSON) {
                _cleanup_(json_decrefp) json_t *id = cli_json_spiffe_id(a->spiffe_id);
                _cleanup_(freep) char *id_text = id ? json_dumps(id, JSON_COMPACT) : NULL;

                if (!id_text)
                        return cli_fail("out of memory");
                /* by hand, so the token never sits in a jansson string freed unwiped; it is
                 * base64url and dots (checked), safe inside a JSON string as it is */
                printf("{\"svid\":{\"token\":\"%s\",\"id\":%s,\"expires_at\":\"%" PRId64
                       "\",\"issued_at\":\"%" PRId64 "\"}}\n",
                       resp->token, id_text, resp->expires_at, resp->issued_at);
                return CLI_EXIT_OK;
        }
        printf("%s\n", resp->token);
        return CLI_EXIT_OK;
}

static int jwt_mint(int argc, char *argv[]) {
        Sigil__Admin__V1__MintJWTSVIDRequest req = SIGIL__ADMIN__V1__MINT_JWTSVIDREQUEST__INIT;
        _cleanup_(mint_response_freep) Sigil__Admin__V1__MintJWTSVIDResponse *resp = NULL;
        _cleanup_(jwt_args_done) JwtArgs a = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        ProtobufCMessage *m = NULL;
        int r;

        if (!jwt_args_parse(argc, argv, &a, &r))
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        req.spiffe_id = (char *) a.spiffe_id;
        req.audience = a.audience.items;
        req.n_audience = a.audience.n;
        req.ttl = a.ttl;
        r = cli_call(conn, ADMIN_SVID_MINT_JWT, &req.base,
                     &sigil__admin__v1__mint_jwtsvidresponse__descriptor, "unable to mint SVID",
                     &m);
        if (r != CLI_EXIT_OK)
                return r;
        resp = (Sigil__Admin__V1__MintJWTSVIDResponse *) m;
        if (isempty(resp->token))
                return cli_fail("server response missing token");
        if (!token_looks_valid(resp->token))
                return cli_fail("sigil-server returned a token that is not a compact JWS");
        cli_warn_capped("JWT-SVID", a.ttl, resp->expires_at);
        return jwt_output(&a, resp);
}

static const CliVerb jwt_verbs[] = {
        { "mint", jwt_mint, "Mint a JWT-SVID" },
};

int cli_jwt(int argc, char *argv[]) {
        return cli_dispatch(jwt_verbs, ELEMENTSOF(jwt_verbs), argc, argv);
}
