/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server entry create|show|update|delete|count: registration entries
 * through the admin socket, with spire-server's flags and output.
 *
 * Everything that can be checked here is checked before connecting: flag
 * values (SPIFFE IDs, selectors, TTLs, trust domains), required and
 * conflicting flags, -data files. Batch calls report one line per failed
 * entry on stderr and exit 1 if any failed; the entries that succeeded are
 * printed as usual. Large -data files go out in batches of
 * ENTRY_BATCH_MAX, so no single message approaches gRPC's size limit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admin-methods.h"
#include "cli-entry.h"
#include "cli-util.h"
#include "json-util.h"
#include "sigil/spiffeid.h"

#define ENTRY_PAGE_SIZE 500
#define ENTRY_PAGES_MAX 100000
#define ENTRY_BATCH_MAX 50

enum {
        OPT_ENTRY_ID = CLI_OPT_FIRST,
        OPT_SPIFFE_ID,
        OPT_PARENT_ID,
        OPT_SELECTOR,
        OPT_X509_TTL,
        OPT_JWT_TTL,
        OPT_DNS,
        OPT_FEDERATES_WITH,
        OPT_ADMIN,
        OPT_DOWNSTREAM,
        OPT_ENTRY_EXPIRY,
        OPT_HINT,
        OPT_NODE,
        OPT_DATA,
        OPT_MATCH,
};

typedef struct EntryArgs {
        CliCommon common;
        const char *entry_id, *spiffe_id, *parent_id, *hint, *data;
        AdminSelector **selectors;
        size_t n_selectors;
        CliStrv dns_names, federates_with;
        int32_t x509_ttl, jwt_ttl;
        int64_t expiry;
        bool admin, downstream, node;
        int match;              /* -1: not given */
        unsigned n_entry_flags; /* entry or filter flags: all but -entryID and -data */
} EntryArgs;

static void entry_args_done(EntryArgs *a) {
        for (size_t i = 0; i < a->n_selectors; i++)
                protobuf_c_message_free_unpacked(&a->selectors[i]->base, NULL);
        free(a->selectors);
        cli_strv_done(&a->dns_names);
        cli_strv_done(&a->federates_with);
}

#define ENTRY_WRITE_OPTIONS                                                     \
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },                 \
        { "parentID", required_argument, NULL, OPT_PARENT_ID },                 \
        { "selector", required_argument, NULL, OPT_SELECTOR },                  \
        { "x509SVIDTTL", required_argument, NULL, OPT_X509_TTL },               \
        { "jwtSVIDTTL", required_argument, NULL, OPT_JWT_TTL },                 \
        { "dns", required_argument, NULL, OPT_DNS },                            \
        { "federatesWith", required_argument, NULL, OPT_FEDERATES_WITH },       \
        { "admin", optional_argument, NULL, OPT_ADMIN },                        \
        { "downstream", optional_argument, NULL, OPT_DOWNSTREAM },              \
        { "entryExpiry", required_argument, NULL, OPT_ENTRY_EXPIRY },           \
        { "hint", required_argument, NULL, OPT_HINT },                          \
        { "node", optional_argument, NULL, OPT_NODE },                          \
        { "data", required_argument, NULL, OPT_DATA }

#define ENTRY_WRITE_HELP                                                                          \
        "  -spiffeID ID            SPIFFE ID the entry issues to its workloads\n"                 \
        "  -parentID ID            SPIFFE ID of the parent: an agent, or a node entry's ID\n"     \
        "  -node                   A node entry: its parent is the server itself\n"               \
        "                          (spiffe://<trust domain of -spiffeID>/sigil/server)\n"         \
        "  -selector TYPE:VALUE    A selector, e.g. unix:uid:1000; repeat for more (one needed)\n"\
        "  -x509SVIDTTL TTL        X.509-SVID lifetime: seconds or a duration such as 1h\n"      \
        "                          (default: the server's)\n"                                     \
        "  -jwtSVIDTTL TTL         JWT-SVID lifetime: seconds or a duration (default: the "      \
        "server's)\n"                                                                             \
        "  -dns NAME               DNS name for the X.509-SVID; repeat for more\n"                \
        "  -federatesWith TD       Trust domain (spiffe://td or td) whose bundle the workloads\n" \
        "                          also receive; repeat for more\n"                               \
        "  -admin                  The workloads' SVIDs may call the admin API\n"                 \
        "  -downstream             The workloads are downstream CAs\n"                            \
        "  -entryExpiry SECONDS    Unix time at which the entry expires (default: never)\n"      \
        "  -hint HINT              Tells apart several SVIDs a workload receives\n"               \
        "  -data FILE              Entries as JSON {\"entries\": [...]} (\"-\": stdin) instead "  \
        "of\n"                                                                                    \
        "                          the flags above\n"

static const struct option create_options[] = {
        ENTRY_WRITE_OPTIONS,
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_create = {
        .name = "entry create",
        .synopsis = "Creates registration entries.",
        .options_help = ENTRY_WRITE_HELP,
        .options = create_options,
};

static const struct option update_options[] = {
        { "entryID", required_argument, NULL, OPT_ENTRY_ID },
        ENTRY_WRITE_OPTIONS,
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_update = {
        .name = "entry update",
        .synopsis = "Updates registration entries: the given fields replace all of the entry's.",
        .options_help = "  -entryID ID             ID of the entry to update (required unless "
                        "-data)\n" ENTRY_WRITE_HELP,
        .options = update_options,
};

static const struct option show_options[] = {
        { "entryID", required_argument, NULL, OPT_ENTRY_ID },
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },
        { "parentID", required_argument, NULL, OPT_PARENT_ID },
        { "selector", required_argument, NULL, OPT_SELECTOR },
        { "matchSelectorsOn", required_argument, NULL, OPT_MATCH },
        { "federatesWith", required_argument, NULL, OPT_FEDERATES_WITH },
        { "hint", required_argument, NULL, OPT_HINT },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_show = {
        .name = "entry show",
        .synopsis = "Displays registration entries, all of them or those matching the filters.",
        .options_help =
                "  -entryID ID             The entry with this ID (no other filter allowed)\n"
                "  -spiffeID ID            Entries with this SPIFFE ID\n"
                "  -parentID ID            Entries with this parent ID\n"
                "  -selector TYPE:VALUE    Entries matching this selector; repeat for more\n"
                "  -matchSelectorsOn HOW   exact, subset, superset or any (default \"superset\")\n"
                "  -federatesWith TD       Entries federating with this trust domain\n"
                "  -hint HINT              Entries with this hint\n",
        .options = show_options,
};

static const struct option id_options[] = {
        { "entryID", required_argument, NULL, OPT_ENTRY_ID },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_delete = {
        .name = "entry delete",
        .synopsis = "Deletes a registration entry.",
        .options_help = "  -entryID ID             ID of the entry to delete (required)\n",
        .options = id_options,
};

static const struct option count_options[] = {
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_count = {
        .name = "entry count",
        .synopsis = "Counts registration entries.",
        .options_help = "",
        .options = count_options,
};

/* ---- flags ---- */

static int bad_value(const CliCommand *cmd, const char *flag, const char *v, const SigilErr *e) {
        if (e && e->msg[0])
                return cli_usage_error(cmd, "invalid %s '%s': %s", flag, v, e->msg);
        return cli_usage_error(cmd, "invalid %s '%s'", flag, v);
}

static int arg_selector(const CliCommand *cmd, EntryArgs *a, const char *v) {
        AdminSelector **l, *s = NULL;
        SigilErr e = {};
        int r;

        r = cli_selector_new(v, NULL, &s, &e);
        if (r == -ENOMEM)
                return cli_fail("out of memory");
        if (r < 0)
                return cli_usage_error(cmd, "%s", e.msg);
        l = reallocarray(a->selectors, a->n_selectors + 1, sizeof(*l));
        if (!l) {
                protobuf_c_message_free_unpacked(&s->base, NULL);
                return cli_fail("out of memory");
        }
        a->selectors = l;
        l[a->n_selectors++] = s;
        return CLI_EXIT_OK;
}

static int arg_federates_with(const CliCommand *cmd, EntryArgs *a, const char *v) {
        _cleanup_(freep) char *td = NULL;
        SigilErr e = {};
        int r;

        r = cli_parse_trust_domain(v, &td, &e);
        if (r == -ENOMEM)
                return cli_fail("out of memory");
        if (r < 0)
                return cli_usage_error(cmd, "invalid -federatesWith: %s", e.msg);
        return cli_strv_push(&a->federates_with, td) < 0 ? cli_fail("out of memory") : 0;
}

static int arg_ttl(const CliCommand *cmd, const char *flag, const char *v, int32_t *ret) {
        SigilErr e = {};

        return cli_parse_ttl(v, ret, &e) < 0 ? bad_value(cmd, flag, v, &e) : CLI_EXIT_OK;
}

static int arg_bool(const CliCommand *cmd, const char *flag, const char *v, bool *ret) {
        if (cli_parse_bool(v, ret) < 0)
                return cli_usage_error(cmd, "invalid boolean value '%s' for %s", v, flag);
        return CLI_EXIT_OK;
}

static int arg_id(const CliCommand *cmd, const char *flag, const char *v, const char **ret) {
        SigilErr e = {};

        if (cli_check_spiffe_id(flag, v, &e) < 0)
                return cli_usage_error(cmd, "%s", e.msg);
        *ret = v;
        return CLI_EXIT_OK;
}

static int arg_entry_field(const CliCommand *cmd, EntryArgs *a, int c, const char *v) {
        switch (c) {
        case OPT_SPIFFE_ID:
                return arg_id(cmd, "-spiffeID", v, &a->spiffe_id);
        case OPT_PARENT_ID:
                return arg_id(cmd, "-parentID", v, &a->parent_id);
        case OPT_SELECTOR:
                return arg_selector(cmd, a, v);
        case OPT_X509_TTL:
                return arg_ttl(cmd, "-x509SVIDTTL", v, &a->x509_ttl);
        case OPT_JWT_TTL:
                return arg_ttl(cmd, "-jwtSVIDTTL", v, &a->jwt_ttl);
        case OPT_DNS:
                if (isempty(v))
                        return cli_usage_error(cmd, "-dns is empty");
                return cli_strv_push(&a->dns_names, v) < 0 ? cli_fail("out of memory") : 0;
        case OPT_FEDERATES_WITH:
                return arg_federates_with(cmd, a, v);
        case OPT_ADMIN:
                return arg_bool(cmd, "-admin", v, &a->admin);
        case OPT_DOWNSTREAM:
                return arg_bool(cmd, "-downstream", v, &a->downstream);
        case OPT_NODE:
                return arg_bool(cmd, "-node", v, &a->node);
        case OPT_ENTRY_EXPIRY:
                if (cli_parse_int64(v, 0, INT64_MAX, &a->expiry) < 0)
                        return cli_usage_error(cmd, "invalid -entryExpiry '%s': must be unix "
                                                    "seconds", v);
                return CLI_EXIT_OK;
        case OPT_HINT:
                a->hint = v;
                return CLI_EXIT_OK;
        case OPT_MATCH:
                a->match = cli_match_from_string(v);
                if (a->match < 0)
                        return cli_usage_error(cmd, "invalid -matchSelectorsOn '%s': must be "
                                                    "exact, subset, superset or any", v);
                return CLI_EXIT_OK;
        }
        return cli_usage_error(cmd, "unexpected flag");
}

/* Parse the flags into @a. Return: true to go on; false to return *ret_status. */
static bool entry_args_parse(const CliCommand *cmd, int argc, char *argv[], EntryArgs *a,
                             int *ret_status) {
        CliParser p;
        int c, r;

        a->match = -1;
        cli_parser_init(&p, cmd, &a->common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                if (c == OPT_ENTRY_ID) {
                        a->entry_id = optarg;
                        r = isempty(optarg) ? cli_usage_error(cmd, "-entryID is empty")
                                            : CLI_EXIT_OK;
                } else if (c == OPT_DATA) {
                        a->data = optarg;
                        r = CLI_EXIT_OK;
                } else {
                        a->n_entry_flags++;
                        r = arg_entry_field(cmd, a, c, optarg);
                }
                if (r != CLI_EXIT_OK) {
                        *ret_status = r;
                        return false;
                }
        }
        *ret_status = p.exit_status;
        return c == 0;
}

/* ---- create and update ---- */

static int entries_from_data(const CliCommand *cmd, const EntryArgs *a, bool update,
                             CliEntryList *ret) {
        _cleanup_(freep) char *text = NULL;
        SigilErr e = {};
        size_t n;
        int r;

        if (a->n_entry_flags > 0 || a->entry_id)
                return cli_usage_error(cmd, "-data can't be combined with other entry flags");
        r = cli_read_input(a->data, CLI_ENTRY_DATA_MAX, &text, &n);
        if (r == -EFBIG)
                return cli_fail("cannot read '%s': larger than %u bytes", a->data,
                                CLI_ENTRY_DATA_MAX);
        if (r < 0)
                return cli_fail("cannot read '%s': %s", a->data, strerror(-r));
        r = cli_entries_from_json(text, n, update, ret, &e);
        if (r == -ENOMEM)
                return cli_fail("out of memory");
        if (r < 0)
                return cli_fail("invalid -data file '%s': %s", a->data, e.msg);
        return CLI_EXIT_OK;
}

static int entry_check_flags(const CliCommand *cmd, const EntryArgs *a, bool update) {
        if (update && !a->entry_id)
                return cli_usage_error(cmd, "-entryID is required");
        if (!a->spiffe_id)
                return cli_usage_error(cmd, "-spiffeID is required");
        if (a->node && a->parent_id)
                return cli_usage_error(cmd, "-node and -parentID can't be combined");
        if (!a->node && !a->parent_id)
                return cli_usage_error(cmd, "-parentID is required (or -node)");
        if (a->n_selectors == 0)
                return cli_usage_error(cmd, "at least one -selector is required");
        return CLI_EXIT_OK;
}

static int entries_from_flags(const CliCommand *cmd, EntryArgs *a, bool update,
                              CliEntryList *ret) {
        _cleanup_(cli_entry_freep) AdminEntry *e = NULL;
        int r;

        r = entry_check_flags(cmd, a, update);
        if (r != CLI_EXIT_OK)
                return r;
        e = cli_entry_new();
        if (!e || (update && !(e->id = strdup(a->entry_id))) ||
            !(e->spiffe_id = strdup(a->spiffe_id)) || !(e->hint = strdup(a->hint ? a->hint : "")))
                return cli_fail("out of memory");
        if (a->node ? cli_server_id(a->spiffe_id, &e->parent_id, NULL) < 0
                    : !(e->parent_id = strdup(a->parent_id)))
                return cli_fail("out of memory");
        e->selectors = TAKE_PTR(a->selectors);
        e->n_selectors = a->n_selectors;
        a->n_selectors = 0;
        e->dns_names = TAKE_PTR(a->dns_names.items);
        e->n_dns_names = a->dns_names.n;
        a->dns_names.n = 0;
        e->federates_with = TAKE_PTR(a->federates_with.items);
        e->n_federates_with = a->federates_with.n;
        a->federates_with.n = 0;
        e->x509_svid_ttl = a->x509_ttl;
        e->jwt_svid_ttl = a->jwt_ttl;
        e->expires_at = a->expiry;
        e->admin = a->admin;
        e->downstream = a->downstream;
        if (cli_entry_list_push(ret, e) < 0)
                return cli_fail("out of memory");
        TAKE_PTR(e);
        return CLI_EXIT_OK;
}

typedef struct WriteState {
        bool update;
        CliOutput output;
        json_t *results;        /* for -output json */
        size_t n_failed;
} WriteState;

static int write_result(WriteState *w, const AdminEntry *sent, const AdminStatus *st,
                        const AdminEntry *got) {
        const AdminEntry *shown = got ? got : sent;
        char what[SIGIL_SPIFFEID_MAX * 2 + 128], msg[sizeof(what) + 1024];

        if (w->output == CLI_OUTPUT_JSON &&
            json_array_append_new(w->results,
                                  json_pack("{s:o, s:o?}", "status", cli_json_status(st),
                                            "entry", got ? cli_entry_to_json(got) : NULL)) < 0)
                return cli_fail("out of memory");
        if (!st || st->code == GRPC_STATUS_OK) {
                if (w->output == CLI_OUTPUT_TEXT)
                        cli_entry_print(stdout, shown);
                return CLI_EXIT_OK;
        }
        w->n_failed++;
        if (w->update)
                (void) snprintf(what, sizeof(what), "failed to update entry %s", sent->id);
        else
                (void) snprintf(what, sizeof(what), "failed to create entry for %s (parent %s)",
                                sent->spiffe_id, sent->parent_id);
        cli_format_rpc_error(what, st->code, st->message, msg, sizeof(msg));
        (void) cli_fail("%s", msg);
        return CLI_EXIT_OK;
}

static int write_batch(CliConn *conn, WriteState *w, AdminEntry **entries, size_t n) {
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        Sigil__Admin__V1__BatchCreateEntryRequest creq =
                SIGIL__ADMIN__V1__BATCH_CREATE_ENTRY_REQUEST__INIT;
        Sigil__Admin__V1__BatchUpdateEntryRequest ureq =
                SIGIL__ADMIN__V1__BATCH_UPDATE_ENTRY_REQUEST__INIT;
        int r;

        creq.entries = ureq.entries = entries;
        creq.n_entries = ureq.n_entries = n;
        if (w->update)
                r = cli_call(conn, ADMIN_ENTRY_BATCH_UPDATE, &ureq.base,
                             &sigil__admin__v1__batch_update_entry_response__descriptor,
                             "error updating entries", &m);
        else
                r = cli_call(conn, ADMIN_ENTRY_BATCH_CREATE, &creq.base,
                             &sigil__admin__v1__batch_create_entry_response__descriptor,
                             "error creating entries", &m);
        if (r != CLI_EXIT_OK)
                return r;

        if (w->update) {
                Sigil__Admin__V1__BatchUpdateEntryResponse *resp = (void *) m;

                if (resp->n_results != n)
                        return cli_fail("sigil-server answered %zu results for %zu entries",
                                        resp->n_results, n);
                for (size_t i = 0; i < n && r == CLI_EXIT_OK; i++)
                        r = write_result(w, entries[i], resp->results[i]->status,
                                         resp->results[i]->entry);
        } else {
                Sigil__Admin__V1__BatchCreateEntryResponse *resp = (void *) m;

                if (resp->n_results != n)
                        return cli_fail("sigil-server answered %zu results for %zu entries",
                                        resp->n_results, n);
                for (size_t i = 0; i < n && r == CLI_EXIT_OK; i++)
                        r = write_result(w, entries[i], resp->results[i]->status,
                                         resp->results[i]->entry);
        }
        return r;
}

static int entry_write(const CliCommand *cmd, bool update, int argc, char *argv[]) {
        _cleanup_(entry_args_done) EntryArgs a = {};
        _cleanup_(cli_entry_list_done) CliEntryList list = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        _cleanup_(json_decrefp) json_t *results = json_array();
        WriteState w = { .update = update, .results = results };
        int r;

        if (!entry_args_parse(cmd, argc, argv, &a, &r))
                return r;
        r = a.data ? entries_from_data(cmd, &a, update, &list)
                   : entries_from_flags(cmd, &a, update, &list);
        if (r != CLI_EXIT_OK)
                return r;
        if (!results)
                return cli_fail("out of memory");
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;

        w.output = a.common.output;
        for (size_t off = 0; off < list.n && r == CLI_EXIT_OK; off += ENTRY_BATCH_MAX)
                r = write_batch(conn, &w, list.entries + off, MIN(list.n - off,
                                                                 (size_t) ENTRY_BATCH_MAX));
        /* A batch that failed as a whole (say, the server shut down) must not hide the
         * batches before it: those entries exist, so their results are still printed. */
        if (w.output == CLI_OUTPUT_JSON && (r == CLI_EXIT_OK || json_array_size(results) > 0)) {
                int k = cli_print_json(json_pack("{s:O}", "results", results));

                if (r == CLI_EXIT_OK)
                        r = k;
        }
        if (r == CLI_EXIT_OK && w.n_failed > 0)
                r = CLI_EXIT_FAILURE;
        return r;
}

static int entry_create(int argc, char *argv[]) {
        return entry_write(&cmd_create, false, argc, argv);
}

static int entry_update(int argc, char *argv[]) {
        return entry_write(&cmd_update, true, argc, argv);
}

/* ---- show ---- */

static int show_check_flags(const EntryArgs *a) {
        if (a->entry_id && a->n_entry_flags > 0)
                return cli_usage_error(&cmd_show,
                                       "the -entryID flag can't be combined with others");
        if (a->match >= 0 && a->n_selectors == 0)
                return cli_usage_error(&cmd_show, "-matchSelectorsOn needs at least one -selector");
        if (a->federates_with.n > 1)
                return cli_usage_error(&cmd_show, "-federatesWith can be given only once");
        return CLI_EXIT_OK;
}

static int get_entry(CliConn *conn, const char *id, CliEntryList *out) {
        Sigil__Admin__V1__GetEntryRequest req = SIGIL__ADMIN__V1__GET_ENTRY_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        char what[256];
        int r;

        req.id = (char *) id;
        (void) snprintf(what, sizeof(what), "error fetching entry ID %s", id);
        r = cli_call(conn, ADMIN_ENTRY_GET, &req.base, &sigil__admin__v1__entry__descriptor, what,
                     &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (cli_entry_list_push(out, (AdminEntry *) m) < 0) {
                protobuf_c_message_free_unpacked(m, NULL);
                return cli_fail("out of memory");
        }
        return CLI_EXIT_OK;
}

/* Move the entries of one page into @out (the page keeps an empty array). */
static int take_page(Sigil__Admin__V1__ListEntriesResponse *resp, CliEntryList *out) {
        for (; resp->n_entries > 0; resp->n_entries--) {
                if (cli_entry_list_push(out, resp->entries[resp->n_entries - 1]) < 0)
                        return cli_fail("out of memory");
        }
        return CLI_EXIT_OK;
}

static int list_entries(CliConn *conn, EntryArgs *a, CliEntryList *out) {
        Sigil__Admin__V1__ListEntriesRequest req = SIGIL__ADMIN__V1__LIST_ENTRIES_REQUEST__INIT;
        Sigil__Admin__V1__SelectorMatch match = SIGIL__ADMIN__V1__SELECTOR_MATCH__INIT;
        _cleanup_(freep) char *token = NULL;

        req.by_spiffe_id = (char *) (a->spiffe_id ? a->spiffe_id : "");
        req.by_parent_id = (char *) (a->parent_id ? a->parent_id : "");
        req.by_hint = (char *) (a->hint ? a->hint : "");
        req.by_federates_with = a->federates_with.n > 0 ? a->federates_with.items[0] : "";
        if (a->n_selectors > 0) {
                match.selectors = a->selectors;
                match.n_selectors = a->n_selectors;
                match.match = a->match >= 0 ? a->match
                        : SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUPERSET;
                req.by_selectors = &match;
        }
        req.page_size = ENTRY_PAGE_SIZE;
        for (unsigned page = 0;; page++) {
                _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
                Sigil__Admin__V1__ListEntriesResponse *resp;
                int r;

                if (page >= ENTRY_PAGES_MAX)
                        return cli_fail("error fetching entries: more than %d pages",
                                        ENTRY_PAGES_MAX);
                req.page_token = token ? token : "";
                r = cli_call(conn, ADMIN_ENTRY_LIST, &req.base,
                             &sigil__admin__v1__list_entries_response__descriptor,
                             "error fetching entries", &m);
                if (r != CLI_EXIT_OK)
                        return r;
                resp = (Sigil__Admin__V1__ListEntriesResponse *) m;
                r = take_page(resp, out);
                if (r != CLI_EXIT_OK || isempty(resp->next_page_token))
                        return r;
                if (token && streq(token, resp->next_page_token))
                        return cli_fail("error fetching entries: sigil-server returned the same "
                                        "page token twice");
                free(token);
                token = strdup(resp->next_page_token);
                if (!token)
                        return cli_fail("out of memory");
        }
}

static int show_output(CliOutput output, CliEntryList *l) {
        json_t *a;

        cli_entries_sort(l->entries, l->n);
        if (output == CLI_OUTPUT_TEXT) {
                printf("Found %zu %s\n", l->n, l->n == 1 ? "entry" : "entries");
                for (size_t i = 0; i < l->n; i++)
                        cli_entry_print(stdout, l->entries[i]);
                return CLI_EXIT_OK;
        }
        a = json_array();
        for (size_t i = 0; a && i < l->n; i++)
                if (json_array_append_new(a, cli_entry_to_json(l->entries[i])) < 0) {
                        json_decref(a);
                        return cli_fail("out of memory");
                }
        return cli_print_json(json_pack("{s:o, s:s}", "entries", a, "next_page_token", ""));
}

static int entry_show(int argc, char *argv[]) {
        _cleanup_(entry_args_done) EntryArgs a = {};
        _cleanup_(cli_entry_list_done) CliEntryList list = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        int r;

        if (!entry_args_parse(&cmd_show, argc, argv, &a, &r))
                return r;
        r = show_check_flags(&a);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = a.entry_id ? get_entry(conn, a.entry_id, &list) : list_entries(conn, &a, &list);
        if (r != CLI_EXIT_OK)
                return r;
        return show_output(a.common.output, &list);
}

/* ---- delete and count ---- */

static int delete_output(CliOutput output, const char *id,
                         const Sigil__Admin__V1__BatchDeleteEntryResponse__Result *res) {
        char what[256], msg[1024 + sizeof(what)];
        int r = CLI_EXIT_OK;

        if (output == CLI_OUTPUT_JSON)
                r = cli_print_json(json_pack("{s:[{s:o, s:o}]}", "results", "status",
                                             cli_json_status(res->status), "id",
                                             cli_json_string(isempty(res->id) ? id : res->id)));
        if (res->status && res->status->code != GRPC_STATUS_OK) {
                (void) snprintf(what, sizeof(what), "failed to delete entry %s", id);
                cli_format_rpc_error(what, res->status->code, res->status->message, msg,
                                     sizeof(msg));
                return cli_fail("%s", msg);
        }
        if (output == CLI_OUTPUT_TEXT)
                printf("Deleted entry with ID: %s\n", id);
        return r;
}

static int entry_delete(int argc, char *argv[]) {
        _cleanup_(entry_args_done) EntryArgs a = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        Sigil__Admin__V1__BatchDeleteEntryRequest req =
                SIGIL__ADMIN__V1__BATCH_DELETE_ENTRY_REQUEST__INIT;
        Sigil__Admin__V1__BatchDeleteEntryResponse *resp;
        char *ids[1];
        int r;

        if (!entry_args_parse(&cmd_delete, argc, argv, &a, &r))
                return r;
        if (!a.entry_id)
                return cli_usage_error(&cmd_delete, "-entryID is required");
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        ids[0] = (char *) a.entry_id;
        req.ids = ids;
        req.n_ids = 1;
        r = cli_call(conn, ADMIN_ENTRY_BATCH_DELETE, &req.base,
                     &sigil__admin__v1__batch_delete_entry_response__descriptor,
                     "error deleting entry", &m);
        if (r != CLI_EXIT_OK)
                return r;
        resp = (Sigil__Admin__V1__BatchDeleteEntryResponse *) m;
        if (resp->n_results != 1)
                return cli_fail("sigil-server answered %zu results for 1 entry", resp->n_results);
        return delete_output(a.common.output, a.entry_id, resp->results[0]);
}

static int entry_count(int argc, char *argv[]) {
        _cleanup_(entry_args_done) EntryArgs a = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        Sigil__Admin__V1__CountEntriesRequest req = SIGIL__ADMIN__V1__COUNT_ENTRIES_REQUEST__INIT;
        int64_t n;
        int r;

        if (!entry_args_parse(&cmd_count, argc, argv, &a, &r))
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_call(conn, ADMIN_ENTRY_COUNT, &req.base,
                     &sigil__admin__v1__count_entries_response__descriptor, NULL, &m);
        if (r != CLI_EXIT_OK)
                return r;
        n = ((Sigil__Admin__V1__CountEntriesResponse *) m)->count;
        if (a.common.output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:I}", "count", (json_int_t) n));
        printf("%" PRId64 " registration %s\n", n, n == 1 ? "entry" : "entries");
        return CLI_EXIT_OK;
}

static const CliVerb entry_verbs[] = {
        { "create", entry_create, "Create registration entries" },
        { "show", entry_show, "Display registration entries" },
        { "update", entry_update, "Update registration entries" },
        { "delete", entry_delete, "Delete a registration entry" },
        { "count", entry_count, "Count registration entries" },
};

int cli_entry(int argc, char *argv[]) {
        return cli_dispatch(entry_verbs, ELEMENTSOF(entry_verbs), argc, argv);
}
