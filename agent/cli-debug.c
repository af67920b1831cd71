/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sigil-agent debug` and `sigil-agent healthcheck`: thin clients of the
 * agent's admin socket (Debug/GetInfo, proto/sigil/agent_admin.proto).
 * debug prints everything the agent holds (text for people, -output json
 * for scripts and tests); healthcheck says whether the agent is up and
 * holds a valid identity, and exits 0 or 1 accordingly. Like spire-agent's,
 * `healthcheck -socketPath P` checks the Workload API socket instead: it
 * answers a FetchX509Bundles call (with bundles, or with PermissionDenied
 * when this caller has no identity, which still proves the agent serves).
 */
#include <errno.h>
#include <getopt.h>
#include <grpc/support/log.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent-config.h"
#include "cli-debug.h"
#include "json-util.h"
#include "rpc-client.h"
#include "sigil/agent_admin.pb-c.h"
#include "sigil/clock.h"
#include "workload.pb-c.h"

#define DEBUG_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef Sigil__Agent__Admin__V1__GetInfoResponse InfoResponse;
typedef Sigil__Agent__Admin__V1__CachedEntry CachedEntry;

typedef struct DebugArgs {
        const char *socket_path;
        const char *workload_socket_path;       /* healthcheck -socketPath */
        bool json;
        bool shallow;
        bool summary;
} DebugArgs;

enum {
        ARG_ADMIN_SOCKET = 0x100,
        ARG_OUTPUT,
        ARG_SHALLOW,
        ARG_SUMMARY,
        ARG_SOCKET,
};

static void usage(FILE *f, const char *cmd) {
        fprintf(f, "Usage: sigil-agent %s [options]\n\n"
                   "Options:\n"
                   "  -adminSocketPath PATH  the agent's admin socket (default "
                   AGENT_DEFAULT_ADMIN_SOCKET ")\n"
                   "  -output text|json      output format (default text)\n"
                   "%s%s"
                   "  -h, -help              show this help\n",
                cmd,
                streq(cmd, "healthcheck") ? "  -shallow               only check that the "
                                            "agent answers\n" :
                                            "  -summary               leave out the entries\n",
                streq(cmd, "healthcheck") ? "  -socketPath PATH       check the Workload API on "
                                            "this socket instead\n" : "");
}

static int fail(const char *fmt, ...) _printf_(1, 2);
static int fail(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "Error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

static int usage_error(const char *cmd, const char *what, const char *arg) {
        fprintf(stderr, "Error: %s%s%s\n\n", what, arg ? " " : "", arg ? arg : "");
        usage(stderr, cmd);
        return 2;
}

/* Return: 0 parsed, -1 done (exit status in *ret_status). */
static int parse_args(int argc, char *argv[], DebugArgs *a, int *ret_status) {
        static const struct option options[] = {
                { "adminSocketPath", required_argument, NULL, ARG_ADMIN_SOCKET },
                { "output", required_argument, NULL, ARG_OUTPUT },
                { "shallow", no_argument, NULL, ARG_SHALLOW },
                { "summary", no_argument, NULL, ARG_SUMMARY },
                { "socketPath", required_argument, NULL, ARG_SOCKET },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *cmd = argv[0];
        int c;

        *a = (DebugArgs) { .socket_path = AGENT_DEFAULT_ADMIN_SOCKET };
        optind = 0;
        opterr = 0;
        while ((c = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                if (c == 'h') {
                        usage(stdout, cmd);
                        *ret_status = 0;
                        return -1;
                }
                if (c == ARG_ADMIN_SOCKET)
                        a->socket_path = optarg;
                else if (c == ARG_OUTPUT && (streq(optarg, "json") || streq(optarg, "text") ||
                                             streq(optarg, "pretty")))
                        a->json = streq(optarg, "json");
                else if (c == ARG_SHALLOW && streq(cmd, "healthcheck"))
                        a->shallow = true;
                else if (c == ARG_SOCKET && streq(cmd, "healthcheck"))
                        a->workload_socket_path = optarg;
                else if (c == ARG_SUMMARY && streq(cmd, "debug"))
                        a->summary = true;
                else if (c == ARG_OUTPUT) {
                        *ret_status = usage_error(cmd, "-output: expected text or json, not",
                                                  optarg);
                        return -1;
                } else {
                        *ret_status = usage_error(cmd, c == '?' && optopt >= ARG_ADMIN_SOCKET ?
                                                               "flag needs an argument:" :
                                                               "flag provided but not defined:",
                                                  argv[optind - 1]);
                        return -1;
                }
        }
        if (optind < argc) {
                *ret_status = usage_error(cmd, "unexpected argument", argv[optind]);
                return -1;
        }
        return 0;
}

static void grpc_log_drop(gpr_log_func_args *args) {
}

static int get_info(const DebugArgs *a, bool omit_entries, InfoResponse **ret) {
        Sigil__Agent__Admin__V1__GetInfoRequest req =
                SIGIL__AGENT__ADMIN__V1__GET_INFO_REQUEST__INIT;
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        ProtobufCMessage *resp = NULL;
        char target[4200];
        RpcStatus st;
        int r;

        gpr_set_log_function(grpc_log_drop);
        (void) snprintf(target, sizeof(target), "unix://%s", a->socket_path);
        req.omit_entries = omit_entries;
        r = rpc_client_new(target, NULL, &c);
        if (r < 0)
                return fail("cannot connect to '%s': %s", a->socket_path, strerror(-r));
        r = rpc_client_unary(c, "/sigil.agent.admin.v1.Debug/GetInfo", &req.base,
                             &sigil__agent__admin__v1__get_info_response__descriptor, NULL, 0,
                             DEBUG_TIMEOUT_USEC, &resp, &st);
        if (r < 0)
                return fail("cannot reach sigil-agent at '%s': %s", a->socket_path, strerror(-r));
        if (st.code != GRPC_STATUS_OK)
                return fail("cannot reach sigil-agent at '%s' (is it running? "
                            "-adminSocketPath selects the socket): %s: %s", a->socket_path,
                            rpc_status_to_string(st.code), st.message);
        *ret = (InfoResponse *) resp;
        return 0;
}

static json_t *entry_to_json(const CachedEntry *e) {
        json_t *sel = json_array();

        for (size_t i = 0; sel && i < e->n_selectors; i++)
                json_array_append_new(sel, json_string(e->selectors[i]));
        return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:I, "
                         "s:s}",
                         "entry_id", e->entry_id, "spiffe_id", e->spiffe_id, "parent_id",
                         e->parent_id, "selectors", sel ? sel : json_array(),
                         "revision_number", (json_int_t) e->revision_number, "svid_revision",
                         (json_int_t) e->svid_revision, "svid_serial", e->svid_serial,
                         "svid_not_before", (json_int_t) e->svid_not_before, "svid_not_after",
                         (json_int_t) e->svid_not_after, "svid_issuer", e->svid_issuer,
                         "svid_issuer_key_id", e->svid_issuer_key_id, "synced_at_usec",
                         (json_int_t) e->synced_at_usec, "svid_cached_at_usec",
                         (json_int_t) e->svid_cached_at_usec, "renew_at_usec",
                         (json_int_t) e->renew_at_usec, "hint", e->hint);
}

static json_t *strings_to_json(char **l, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(l[i]));
        return a ? a : json_array();
}

static json_t *info_to_json(const InfoResponse *r) {
        json_t *entries = json_array(),
               *feds = strings_to_json(r->federated_trust_domains, r->n_federated_trust_domains),
               *kids = strings_to_json(r->bundle_x509_key_ids, r->n_bundle_x509_key_ids);

        for (size_t i = 0; entries && i < r->n_entries; i++)
                json_array_append_new(entries, entry_to_json(r->entries[i]));
        return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
                         "s:I, s:I, s:I, s:I, s:I, s:o}",
                         "version", r->version, "trust_domain", r->trust_domain, "agent_id",
                         r->agent_id, "agent_svid_serial", r->agent_svid_serial,
                         "agent_svid_not_after", (json_int_t) r->agent_svid_not_after,
                         "agent_svid_renew_at", (json_int_t) r->agent_svid_renew_at,
                         "connected", r->connected, "last_sync_at_usec",
                         (json_int_t) r->last_sync_at_usec, "snapshot_done_at_usec",
                         (json_int_t) r->snapshot_done_at_usec, "bundle_sequence",
                         (json_int_t) r->bundle_sequence, "bundle_x509_authorities",
                         (json_int_t) r->bundle_x509_authorities, "bundle_jwt_authorities",
                         (json_int_t) r->bundle_jwt_authorities, "bundle_x509_key_ids", kids,
                         "federated_trust_domains", feds, "entry_count",
                         (json_int_t) r->entry_count,
                         "svid_count", (json_int_t) r->svid_count, "cache_generation",
                         (json_int_t) r->cache_generation, "reconnects",
                         (json_int_t) r->reconnects, "attestations",
                         (json_int_t) r->attestations, "entries",
                         entries ? entries : json_array());
}

static void print_time(const char *label, int64_t t) {
        char buf[64] = "-";
        time_t tt = (time_t) t;
        struct tm tm;

        if (t > 0 && gmtime_r(&tt, &tm))
                (void) strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
        printf("%-22s: %s\n", label, buf);
}

static void print_text(const InfoResponse *r) {
        printf("%-22s: %s\n", "Agent ID", isempty(r->agent_id) ? "(not attested)" : r->agent_id);
        printf("%-22s: %s\n", "Agent SVID serial", r->agent_svid_serial);
        print_time("Agent SVID expires", r->agent_svid_not_after);
        print_time("Agent SVID renewal", r->agent_svid_renew_at);
        printf("%-22s: %s\n", "Connected", r->connected ? "yes" : "no");
        print_time("Last sync", r->last_sync_at_usec / (int64_t) USEC_PER_SEC);
        printf("%-22s: %llu (%u X.509, %u JWT authorities)\n", "Bundle sequence",
               (unsigned long long) r->bundle_sequence, r->bundle_x509_authorities,
               r->bundle_jwt_authorities);
        for (size_t i = 0; i < r->n_federated_trust_domains; i++)
                printf("%-22s: %s\n", "Federated bundle", r->federated_trust_domains[i]);
        printf("%-22s: %u (%u with an SVID)\n", "Entries", r->entry_count, r->svid_count);
        for (size_t i = 0; i < r->n_entries; i++) {
                const CachedEntry *e = r->entries[i];

                printf("\n%-22s: %s\n%-22s: %s\n%-22s: %lld\n", "Entry ID", e->entry_id,
                       "SPIFFE ID", e->spiffe_id, "Revision", (long long) e->revision_number);
                printf("%-22s: %s\n", "SVID serial",
                       isempty(e->svid_serial) ? "(none)" : e->svid_serial);
                print_time("SVID expires", e->svid_not_after);
                printf("%-22s: %s\n", "SVID issuer", e->svid_issuer);
        }
}

int cli_debug(int argc, char *argv[]) {
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        InfoResponse *info = NULL;
        DebugArgs a;
        int status, r;

        if (parse_args(argc, argv, &a, &status) < 0)
                return status;
        r = get_info(&a, a.summary, &info);
        if (r != 0)
                return r;
        msg = &info->base;
        if (!a.json) {
                print_text(info);
                return 0;
        }
        j = info_to_json(info);
        if (!j || json_dumpf(j, stdout, JSON_COMPACT) < 0)
                return fail("out of memory");
        putchar('\n');
        return 0;
}

/* Why the agent is unhealthy, or NULL. */
static const char *unhealthy_reason(const InfoResponse *r, bool shallow) {
        if (shallow)
                return NULL;
        if (isempty(r->agent_id))
                return "the agent has not attested yet";
        if (r->agent_svid_not_after <= (int64_t) sigil_now_sec())
                return "the agent SVID expired";
        return NULL;
}

/*
 * Whether the Workload API at @path serves: NULL when a FetchX509Bundles
 * stream answers with a message or PermissionDenied, else the reason
 * (in @buf).
 */
static const char *workload_api_unhealthy(const char *path, char *buf, size_t n_buf) {
        X509BundlesRequest req = X509_BUNDLES_REQUEST__INIT;
        static const RpcMetadata md[] = { { "workload.spiffe.io", "true" } };
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        ProtobufCMessage *msg = NULL;
        char target[4200];
        RpcStatus status = {};
        int r;

        gpr_set_log_function(grpc_log_drop);
        (void) snprintf(target, sizeof(target), "unix://%s", path);
        r = rpc_client_new(target, NULL, &c);
        if (r == 0)
                r = rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509Bundles", &req.base,
                                           &x509_bundles_response__descriptor, md,
                                           ELEMENTSOF(md), DEBUG_TIMEOUT_USEC, &st);
        if (r == 0)
                r = rpc_client_stream_next(st, DEBUG_TIMEOUT_USEC, &msg, &status);
        if (r == 1) {
                protobuf_c_message_free_unpacked(msg, NULL);
                return NULL;
        }
        if (r == 0 && status.code == GRPC_STATUS_PERMISSION_DENIED)
                return NULL;
        if (r < 0)
                (void) snprintf(buf, n_buf, "the Workload API at '%s' does not answer: %s", path,
                                strerror(-r));
        else
                (void) snprintf(buf, n_buf, "the Workload API at '%s' answers %s: %s", path,
                                rpc_status_to_string(status.code), status.message);
        return buf;
}

static int report_health(const DebugArgs *a, const char *why, const char *agent_id,
                         bool connected) {
        if (a->json) {
                _cleanup_(json_decrefp) json_t *j = json_pack(
                        "{s:b, s:s?, s:b, s:s?}", "healthy", !why, "agent_id", agent_id,
                        "connected", connected, "reason", why);

                if (!j || json_dumpf(j, stdout, JSON_COMPACT) < 0)
                        return fail("out of memory");
                putchar('\n');
                return why ? 1 : 0;
        }
        if (why) {
                fprintf(stderr, "Agent is unhealthy: %s\n", why);
                return 1;
        }
        printf("Agent is healthy.\n");
        return 0;
}

int cli_healthcheck(int argc, char *argv[]) {
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        InfoResponse *info = NULL;
        const char *why;
        DebugArgs a;
        int status, r;

        if (parse_args(argc, argv, &a, &status) < 0)
                return status;
        if (a.workload_socket_path) {
                char buf[4400];

                why = workload_api_unhealthy(a.workload_socket_path, buf, sizeof(buf));
                return report_health(&a, why, NULL, !why);
        }
        r = get_info(&a, true, &info);
        if (r != 0)
                return r;
        msg = &info->base;
        why = unhealthy_reason(info, a.shallow);
        return report_health(&a, why, info->agent_id, info->connected);
}
