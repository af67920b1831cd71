/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server agent list|show|evict|ban|count: the attested agents, with
 * spire-server's flags and output. Evicting deletes an agent's attestation
 * (it may attest again); banning also refuses its next attestation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin-methods.h"
#include "cli-util.h"

#define AGENT_PAGE_SIZE 1000
#define AGENT_PAGES_MAX 100000

enum {
        OPT_SPIFFE_ID = CLI_OPT_FIRST,
};

static const struct option plain_options[] = {
        CLI_OPTIONS_COMMON,
        {},
};

static const struct option id_options[] = {
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },
        CLI_OPTIONS_COMMON,
        {},
};

#define AGENT_ID_HELP "  -spiffeID ID            SPIFFE ID of the agent (required)\n"

static const CliCommand cmd_list = {
        .name = "agent list",
        .synopsis = "Lists the attested agents.",
        .options_help = "",
        .options = plain_options,
};

static const CliCommand cmd_show = {
        .name = "agent show",
        .synopsis = "Shows the details of an attested agent.",
        .options_help = AGENT_ID_HELP,
        .options = id_options,
};

static const CliCommand cmd_evict = {
        .name = "agent evict",
        .synopsis = "Evicts an attested agent: it must attest again.",
        .options_help = AGENT_ID_HELP,
        .options = id_options,
};

static const CliCommand cmd_ban = {
        .name = "agent ban",
        .synopsis = "Bans an attested agent: it is evicted and may not attest again.",
        .options_help = AGENT_ID_HELP,
        .options = id_options,
};

static const CliCommand cmd_count = {
        .name = "agent count",
        .synopsis = "Counts the attested agents.",
        .options_help = "",
        .options = plain_options,
};

/*
 * Whether the agent can attest again by itself. The admin API does not say;
 * a banned agent cannot until it is evicted, a join token works once, every
 * other attestation method can be repeated.
 */
static bool agent_can_reattest(const AdminAgent *a) {
        return !a->banned && !isempty(a->attestation_type) &&
               !streq(a->attestation_type, "join_token");
}

static json_t *agent_to_json(const AdminAgent *a) {
        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:b}",
                         "id", cli_json_spiffe_id(a->id),
                         "attestation_type", cli_json_string(a->attestation_type),
                         "x509svid_serial_number", cli_json_string(a->x509_svid_serial_number),
                         "x509svid_expires_at", cli_json_int64(a->x509_svid_expires_at),
                         "selectors", cli_json_selectors(a->selectors, a->n_selectors),
                         "banned", (int) a->banned,
                         "can_reattest", (int) agent_can_reattest(a));
}

static void print_field(const char *label, const char *value) {
        _cleanup_(freep) char *copy = strdup(value ? value : "");

        printf("%-18s: %s\n", label, copy ? cli_sanitize(copy) : "");
}

static void agent_print(const AdminAgent *a, bool selectors) {
        char buf[CLI_TIME_MAX + 2048];

        print_field("SPIFFE ID", a->id);
        print_field("Attestation type", a->attestation_type);
        print_field("Expiration time", a->x509_svid_expires_at != 0
                                               ? cli_format_time(a->x509_svid_expires_at, buf)
                                               : "unknown");
        print_field("Serial number", a->x509_svid_serial_number);
        print_field("Banned", a->banned ? "true" : "false");
        print_field("Can re-attest", agent_can_reattest(a) ? "true" : "false");
        for (size_t i = 0; selectors && i < a->n_selectors; i++) {
                (void) snprintf(buf, sizeof(buf), "%s:%s", a->selectors[i]->type,
                                a->selectors[i]->value);
                print_field("Selectors", buf);
        }
        putchar('\n');
}

/* Parse the flags of a command; @ret_id is NULL for commands without -spiffeID. */
static bool agent_args_parse(const CliCommand *cmd, int argc, char *argv[], CliCommon *common,
                             const char **ret_id, int *ret_status) {
        SigilErr e = {};
        CliParser p;
        int c;

        cli_parser_init(&p, cmd, common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                if (c != OPT_SPIFFE_ID || !ret_id)
                        continue;
                if (cli_check_spiffe_id("-spiffeID", optarg, &e) < 0) {
                        *ret_status = cli_usage_error(cmd, "%s", e.msg);
                        return false;
                }
                *ret_id = optarg;
        }
        *ret_status = p.exit_status;
        if (c == 0 && ret_id && !*ret_id) {
                *ret_status = cli_usage_error(cmd, "-spiffeID is required");
                return false;
        }
        return c == 0;
}

static int list_output(CliOutput output, Sigil__Admin__V1__ListAgentsResponse **pages,
                       size_t n_pages) {
        size_t n = 0;
        json_t *a;

        for (size_t i = 0; i < n_pages; i++)
                n += pages[i]->n_agents;
        if (output == CLI_OUTPUT_TEXT) {
                if (n == 0)
                        printf("No attested agents found\n");
                else
                        printf("Found %zu attested %s:\n\n", n, n == 1 ? "agent" : "agents");
                for (size_t i = 0; i < n_pages; i++)
                        for (size_t j = 0; j < pages[i]->n_agents; j++)
                                agent_print(pages[i]->agents[j], false);
                return CLI_EXIT_OK;
        }
        a = json_array();
        for (size_t i = 0; a && i < n_pages; i++)
                for (size_t j = 0; j < pages[i]->n_agents; j++)
                        if (json_array_append_new(a, agent_to_json(pages[i]->agents[j])) < 0) {
                                json_decref(a);
                                return cli_fail("out of memory");
                        }
        return cli_print_json(json_pack("{s:o, s:s}", "agents", a, "next_page_token", ""));
}

typedef struct AgentPages {
        Sigil__Admin__V1__ListAgentsResponse **pages;
        size_t n;
} AgentPages;

static void agent_pages_done(AgentPages *p) {
        for (size_t i = 0; i < p->n; i++)
                protobuf_c_message_free_unpacked(&p->pages[i]->base, NULL);
        free(p->pages);
}

static int agent_pages_fetch(CliConn *conn, AgentPages *out) {
        Sigil__Admin__V1__ListAgentsRequest req = SIGIL__ADMIN__V1__LIST_AGENTS_REQUEST__INIT;

        req.page_size = AGENT_PAGE_SIZE;
        for (;;) {
                Sigil__Admin__V1__ListAgentsResponse **l, *resp;
                ProtobufCMessage *m = NULL;
                const char *prev = req.page_token;
                int r;

                if (out->n >= AGENT_PAGES_MAX)
                        return cli_fail("error listing agents: more than %d pages",
                                        AGENT_PAGES_MAX);
                r = cli_call(conn, ADMIN_AGENT_LIST, &req.base,
                             &sigil__admin__v1__list_agents_response__descriptor, NULL, &m);
                if (r != CLI_EXIT_OK)
                        return r;
                resp = (Sigil__Admin__V1__ListAgentsResponse *) m;
                l = reallocarray(out->pages, out->n + 1, sizeof(*l));
                if (!l) {
                        protobuf_c_message_free_unpacked(m, NULL);
                        return cli_fail("out of memory");
                }
                out->pages = l;
                l[out->n++] = resp;
                if (isempty(resp->next_page_token))
                        return CLI_EXIT_OK;
                if (!isempty(prev) && streq(prev, resp->next_page_token))
                        return cli_fail("error listing agents: sigil-server returned the same "
                                        "page token twice");
                req.page_token = resp->next_page_token;     /* owned by the kept page */
        }
}

static int agent_list(int argc, char *argv[]) {
        _cleanup_(agent_pages_done) AgentPages pages = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        CliCommon common;
        int r;

        if (!agent_args_parse(&cmd_list, argc, argv, &common, NULL, &r))
                return r;
        r = cli_connect(common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = agent_pages_fetch(conn, &pages);
        if (r != CLI_EXIT_OK)
                return r;
        return list_output(common.output, pages.pages, pages.n);
}

static int agent_show(int argc, char *argv[]) {
        Sigil__Admin__V1__GetAgentRequest req = SIGIL__ADMIN__V1__GET_AGENT_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        const char *id = NULL;
        CliCommon common;
        int r;

        if (!agent_args_parse(&cmd_show, argc, argv, &common, &id, &r))
                return r;
        r = cli_connect(common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        req.id = (char *) id;
        r = cli_call(conn, ADMIN_AGENT_GET, &req.base, &sigil__admin__v1__agent__descriptor, NULL,
                     &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (common.output == CLI_OUTPUT_JSON)
                return cli_print_json(agent_to_json((AdminAgent *) m));
        printf("Found an attested agent given its SPIFFE ID\n\n");
        agent_print((AdminAgent *) m, true);
        return CLI_EXIT_OK;
}

/* evict and ban: a request carrying the agent's ID, an Empty answer, a fixed message. */
static int agent_act(const CliCommand *cmd, bool ban, int argc, char *argv[]) {
        Sigil__Admin__V1__DeleteAgentRequest dreq = SIGIL__ADMIN__V1__DELETE_AGENT_REQUEST__INIT;
        Sigil__Admin__V1__BanAgentRequest breq = SIGIL__ADMIN__V1__BAN_AGENT_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        const char *id = NULL;
        CliCommon common;
        int r;

        if (!agent_args_parse(cmd, argc, argv, &common, &id, &r))
                return r;
        r = cli_connect(common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        dreq.id = breq.id = (char *) id;
        r = cli_call(conn, ban ? ADMIN_AGENT_BAN : ADMIN_AGENT_DELETE,
                     ban ? &breq.base : &dreq.base, &sigil__admin__v1__empty__descriptor, NULL,
                     &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (common.output == CLI_OUTPUT_JSON)
                return cli_print_json(json_object());
        printf("Agent %s successfully\n", ban ? "banned" : "evicted");
        return CLI_EXIT_OK;
}

static int agent_evict(int argc, char *argv[]) {
        return agent_act(&cmd_evict, false, argc, argv);
}

static int agent_ban(int argc, char *argv[]) {
        return agent_act(&cmd_ban, true, argc, argv);
}

static int agent_count(int argc, char *argv[]) {
        Sigil__Admin__V1__CountAgentsRequest req = SIGIL__ADMIN__V1__COUNT_AGENTS_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        CliCommon common;
        int64_t n;
        int r;

        if (!agent_args_parse(&cmd_count, argc, argv, &common, NULL, &r))
                return r;
        r = cli_connect(common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_call(conn, ADMIN_AGENT_COUNT, &req.base,
                     &sigil__admin__v1__count_agents_response__descriptor, NULL, &m);
        if (r != CLI_EXIT_OK)
                return r;
        n = ((Sigil__Admin__V1__CountAgentsResponse *) m)->count;
        if (common.output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:I}", "count", (json_int_t) n));
        printf("%" PRId64 " attested %s\n", n, n == 1 ? "agent" : "agents");
        return CLI_EXIT_OK;
}

static const CliVerb agent_verbs[] = {
        { "list", agent_list, "List attested agents" },
        { "show", agent_show, "Show the details of an attested agent" },
        { "evict", agent_evict, "Evict an attested agent" },
        { "ban", agent_ban, "Ban an attested agent" },
        { "count", agent_count, "Count attested agents" },
};

int cli_agent(int argc, char *argv[]) {
        return cli_dispatch(agent_verbs, ELEMENTSOF(agent_verbs), argc, argv);
}
