/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sigil-agent api`: fetch X.509-SVIDs (printed, or written as svid.N.pem,
 * svid.N.key, bundle.N.pem, federated_bundle.N.M.pem), fetch JWT-SVIDs with
 * the JWT bundles, validate a JWT-SVID, and watch the X.509 stream - the
 * same commands as spire-agent's, against any SPIFFE Workload API.
 */
#include <errno.h>
#include <getopt.h>
#include <grpc/support/log.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli-api.h"
#include "fileio.h"
#include "json-struct.h"
#include "json-util.h"
#include "rpc-client.h"
#include "sigil/bundle.h"
#include "sigil/clock.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"
#include "workload.pb-c.h"

#define API_DEFAULT_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define AUDIENCES_MAX 32

typedef struct ApiArgs {
        char socket[4096];
        bool socket_set;        /* -socketPath given: $SPIFFE_ENDPOINT_SOCKET is not read */
        const char *write_dir;
        const char *audience[AUDIENCES_MAX];
        size_t n_audience;
        const char *spiffe_id;
        const char *svid;
        bool json;
        uint64_t timeout;
} ApiArgs;

static const RpcMetadata workload_md[] = { { "workload.spiffe.io", "true" } };

int cli_api_socket_from_env(const char *value, char *buf, size_t n_buf) {
        const char *path;

        if (strncmp(value, "unix://", 7) == 0) {
                path = value + 7;
                if (path[0] != '/')
                        return -EINVAL;         /* unix://host/... has an authority */
        } else if (strncmp(value, "unix:", 5) == 0)
                path = value + 5;
        else
                return -EINVAL;
        if (path[0] != '/' || path[1] == '\0' || strpbrk(path, "?#") || strlen(path) >= n_buf)
                return -EINVAL;
        (void) snprintf(buf, n_buf, "%s", path);
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: sigil-agent api fetch x509 [-write DIR] [options]\n"
                "       sigil-agent api fetch jwt -audience AUD [-audience AUD...] [-spiffeID ID] "
                "[options]\n"
                "       sigil-agent api validate jwt -audience AUD -svid TOKEN [options]\n"
                "       sigil-agent api watch [options]\n\n"
                "Options:\n"
                "  -socketPath PATH   Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET, else\n"
                "                     " CLI_API_DEFAULT_SOCKET ")\n"
                "  -timeout SECONDS   how long to wait for an answer (default 5)\n"
                "  -output text|json  output format (default text)\n"
                "  -h, -help          show this help\n");
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "Error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n\n");
        usage(stderr);
        return 2;
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

enum {
        ARG_SOCKET = 0x100,
        ARG_WRITE,
        ARG_AUDIENCE,
        ARG_SPIFFE_ID,
        ARG_SVID,
        ARG_OUTPUT,
        ARG_TIMEOUT,
};

static void grpc_log_drop(gpr_log_func_args *args) {
}

/* Without -socketPath: $SPIFFE_ENDPOINT_SOCKET, else the default (WEP-07). */
static int socket_default(ApiArgs *a) {
        const char *env = secure_getenv("SPIFFE_ENDPOINT_SOCKET");

        if (a->socket_set)
                return 0;
        if (isempty(env)) {
                (void) snprintf(a->socket, sizeof(a->socket), "%s", CLI_API_DEFAULT_SOCKET);
                return 0;
        }
        if (cli_api_socket_from_env(env, a->socket, sizeof(a->socket)) < 0)
                return usage_error("SPIFFE_ENDPOINT_SOCKET '%s' is not a unix:///path URI", env);
        return 0;
}

static int parse_args(int argc, char *argv[], ApiArgs *a) {
        static const struct option options[] = {
                { "socketPath", required_argument, NULL, ARG_SOCKET },
                { "write", required_argument, NULL, ARG_WRITE },
                { "audience", required_argument, NULL, ARG_AUDIENCE },
                { "spiffeID", required_argument, NULL, ARG_SPIFFE_ID },
                { "svid", required_argument, NULL, ARG_SVID },
                { "output", required_argument, NULL, ARG_OUTPUT },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        char *end;
        long t;
        int c;

        *a = (ApiArgs) { .timeout = API_DEFAULT_TIMEOUT_USEC };
        optind = 0;
        opterr = 0;
        while ((c = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        usage(stdout);
                        return 1;
                case ARG_SOCKET:
                        if (strlen(optarg) >= sizeof(a->socket))
                                return usage_error("socket path too long: '%s'", optarg);
                        (void) snprintf(a->socket, sizeof(a->socket), "%s", optarg);
                        a->socket_set = true;
                        break;
                case ARG_WRITE:
                        a->write_dir = optarg;
                        break;
                case ARG_AUDIENCE:
                        if (a->n_audience >= AUDIENCES_MAX)
                                return usage_error("too many audiences");
                        a->audience[a->n_audience++] = optarg;
                        break;
                case ARG_SPIFFE_ID:
                        a->spiffe_id = optarg;
                        break;
                case ARG_SVID:
                        a->svid = optarg;
                        break;
                case ARG_OUTPUT:
                        if (!streq(optarg, "json") && !streq(optarg, "text"))
                                return usage_error("-output must be text or json, not '%s'",
                                                   optarg);
                        a->json = streq(optarg, "json");
                        break;
                case ARG_TIMEOUT:
                        errno = 0;
                        t = strtol(optarg, &end, 10);
                        if (errno || *end || t <= 0 || t > 3600)
                                return usage_error("invalid -timeout '%s' (seconds)", optarg);
                        a->timeout = (uint64_t) t * USEC_PER_SEC;
                        break;
                default:
                        return usage_error("unknown or incomplete flag '%s'", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        return socket_default(a);
}

static int connect_api(const ApiArgs *a, RpcClient **ret) {
        char target[4200];
        struct stat st;

        if (stat(a->socket, &st) < 0 || !S_ISSOCK(st.st_mode))
                return fail("cannot reach the Workload API: no socket at '%s'", a->socket);
        (void) snprintf(target, sizeof(target), "unix://%s", a->socket);
        if (rpc_client_new(target, NULL, ret) < 0)
                return fail("out of memory");
        return 0;
}

static int rpc_fail(const char *what, const RpcStatus *st) {
        return fail("%s: rpc error: code = %s desc = %s", what, rpc_status_to_string(st->code),
                    st->message);
}

static void format_time(time_t t, char *buf, size_t n) {
        struct tm tm;

        (void) gmtime_r(&t, &tm);
        (void) strftime(buf, n, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
}

static time_t asn1_time(const ASN1_TIME *t) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return timegm(&tm);
}

static void print_validity(const char *label, X509 *c) {
        char a[64], b[64];

        format_time(asn1_time(X509_get0_notBefore(c)), a, sizeof(a));
        format_time(asn1_time(X509_get0_notAfter(c)), b, sizeof(b));
        printf("%s Valid After:\t%s\n%s Valid Until:\t%s\n", label, a, label, b);
}

static int print_x509_svid(const X509SVID *s) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL, *bundle = NULL;

        if (sigil_x509_chain_from_der(s->x509_svid.data, s->x509_svid.len, &chain, NULL) < 0 ||
            sigil_x509_chain_from_der(s->bundle.data, s->bundle.len, &bundle, NULL) < 0)
                return fail("the agent sent a certificate that does not parse");
        printf("SPIFFE ID:\t\t%s\n", s->spiffe_id);
        if (!isempty(s->hint))
                printf("Hint:\t\t\t%s\n", s->hint);
        print_validity("SVID", sk_X509_value(chain, 0));
        for (int i = 1; i < sk_X509_num(chain); i++) {
                char label[32];

                (void) snprintf(label, sizeof(label), "Intermediate #%d", i);
                print_validity(label, sk_X509_value(chain, i));
        }
        for (int i = 0; i < sk_X509_num(bundle); i++) {
                char label[32];

                (void) snprintf(label, sizeof(label), "CA #%d", i + 1);
                print_validity(label, sk_X509_value(bundle, i));
        }
        return 0;
}

static int der_to_pem_file(const char *dir, const char *name, const uint8_t *der, size_t n) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(freep) char *pem = NULL;
        char path[4200];
        int r;

        r = sigil_x509_chain_from_der(der, n, &chain, NULL);
        if (r == 0)
                r = sigil_x509_chain_to_pem(chain, &pem);
        if (r < 0)
                return fail("the agent sent certificates that do not parse");
        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        r = write_file_atomic(path, pem, strlen(pem), 0644);
        if (r < 0)
                return fail("cannot write '%s': %s", path, strerror(-r));
        printf("Wrote %s\n", path);
        return 0;
}

static int key_to_pem_file(const char *dir, const char *name, const uint8_t *der, size_t n) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        char path[4200], *pem = NULL;
        int r;

        r = sigil_key_from_pkcs8_der(der, n, &key);
        if (r == 0)
                r = sigil_key_to_pkcs8_pem(key, &pem);
        if (r < 0)
                return fail("the agent sent a private key that does not parse");
        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        r = write_file_atomic(path, pem, strlen(pem), 0600);
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
        if (r < 0)
                return fail("cannot write '%s': %s", path, strerror(-r));
        printf("Wrote %s\n", path);
        return 0;
}

static int write_x509(const ApiArgs *a, const X509SVIDResponse *resp) {
        int r = 0;

        for (size_t i = 0; r == 0 && i < resp->n_svids; i++) {
                const X509SVID *s = resp->svids[i];
                char name[64];

                (void) snprintf(name, sizeof(name), "svid.%zu.pem", i);
                r = der_to_pem_file(a->write_dir, name, s->x509_svid.data, s->x509_svid.len);
                (void) snprintf(name, sizeof(name), "svid.%zu.key", i);
                if (r == 0)
                        r = key_to_pem_file(a->write_dir, name, s->x509_svid_key.data,
                                            s->x509_svid_key.len);
                (void) snprintf(name, sizeof(name), "bundle.%zu.pem", i);
                if (r == 0)
                        r = der_to_pem_file(a->write_dir, name, s->bundle.data, s->bundle.len);
                for (size_t k = 0; r == 0 && k < resp->n_federated_bundles; k++) {
                        const X509SVIDResponse__FederatedBundlesEntry *f =
                                resp->federated_bundles[k];

                        (void) snprintf(name, sizeof(name), "federated_bundle.%zu.%zu.pem", i, k);
                        r = der_to_pem_file(a->write_dir, name, f->value.data, f->value.len);
                }
        }
        return r;
}

static int json_x509(const X509SVIDResponse *resp) {
        _cleanup_(json_decrefp) json_t *root = json_pack("{s:[], s:{}}", "svids",
                                                         "federated_bundles");
        json_t *svids = json_object_get(root, "svids");

        for (size_t i = 0; root && i < resp->n_svids; i++) {
                const X509SVID *s = resp->svids[i];
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
                _cleanup_(freep) char *pem = NULL;

                if (sigil_x509_chain_from_der(s->x509_svid.data, s->x509_svid.len, &chain,
                                              NULL) < 0 ||
                    sigil_x509_chain_to_pem(chain, &pem) < 0)
                        return fail("the agent sent a certificate that does not parse");
                (void) json_array_append_new(
                        svids, json_pack("{s:s, s:s, s:s, s:I}", "spiffe_id", s->spiffe_id,
                                         "hint", s->hint ? s->hint : "", "x509_svid", pem,
                                         "expires_at",
                                         (json_int_t) sigil_x509_not_after(sk_X509_value(chain, 0))));
        }
        for (size_t k = 0; root && k < resp->n_federated_bundles; k++)
                (void) json_object_set_new(json_object_get(root, "federated_bundles"),
                                           resp->federated_bundles[k]->key,
                                           json_integer((json_int_t) resp->federated_bundles[k]
                                                                ->value.len));
        if (!root)
                return fail("out of memory");
        (void) json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
        return 0;
}

/* Open FetchX509SVID; wait for one message. */
static int x509_first(const ApiArgs *a, RpcClient *c, RpcStream **ret_st,
                      X509SVIDResponse **ret) {
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        RpcStatus status;
        int r;

        r = rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                   &x509_svidresponse__descriptor, workload_md, 1, 0, ret_st);
        if (r < 0)
                return fail("cannot start FetchX509SVID: %s", strerror(-r));
        r = rpc_client_stream_next(*ret_st, a->timeout, (ProtobufCMessage **) ret, &status);
        if (r == -ETIMEDOUT)
                return fail("no answer from the Workload API at '%s' within the timeout",
                            a->socket);
        if (r == 0)
                return rpc_fail("fetching X.509-SVIDs", &status);
        if (r < 0)
                return fail("fetching X.509-SVIDs: %s", strerror(-r));
        return 0;
}

static int show_x509(const ApiArgs *a, const X509SVIDResponse *resp, uint64_t took_usec) {
        if (a->write_dir)
                return write_x509(a, resp);
        if (a->json)
                return json_x509(resp);
        printf("Received %zu svid%s after %.3fms\n", resp->n_svids, resp->n_svids == 1 ? "" : "s",
               (double) took_usec / 1000.0);
        for (size_t i = 0; i < resp->n_svids; i++) {
                printf("\n");
                if (print_x509_svid(resp->svids[i]) != 0)
                        return 1;
        }
        for (size_t k = 0; k < resp->n_federated_bundles; k++)
                printf("\nFederated bundle:\t%s\n", resp->federated_bundles[k]->key);
        return 0;
}

static int fetch_x509(const ApiArgs *a) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        X509SVIDResponse *resp = NULL;
        uint64_t start = sigil_monotonic_usec();
        int r;

        r = connect_api(a, &c);
        if (r == 0)
                r = x509_first(a, c, &st, &resp);
        if (r == 0)
                r = show_x509(a, resp, sigil_monotonic_usec() - start);
        if (resp)
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        return r;
}

static int watch(const ApiArgs *a) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        X509SVIDRequest req = X509_SVIDREQUEST__INIT;
        uint64_t start = sigil_monotonic_usec();
        int r;

        r = connect_api(a, &c);
        if (r != 0)
                return r;
        r = rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
                                   &x509_svidresponse__descriptor, workload_md, 1, 0, &st);
        if (r < 0)
                return fail("cannot start FetchX509SVID: %s", strerror(-r));
        for (;;) {
                X509SVIDResponse *resp = NULL;
                RpcStatus status;

                r = rpc_client_stream_next(st, 3600 * USEC_PER_SEC, (ProtobufCMessage **) &resp,
                                           &status);
                if (r == -ETIMEDOUT)
                        continue;
                if (r == 0)
                        return rpc_fail("watching X.509-SVIDs", &status);
                if (r < 0)
                        return fail("watching X.509-SVIDs: %s", strerror(-r));
                r = show_x509(a, resp, sigil_monotonic_usec() - start);
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                if (r != 0)
                        return r;
                printf("\n");
                fflush(stdout);
                start = sigil_monotonic_usec();
        }
}

static int print_jwt_bundles(const ApiArgs *a, RpcClient *c, json_t *out) {
        _cleanup_(rpc_client_stream_freep) RpcStream *st = NULL;
        JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
        JWTBundlesResponse *resp = NULL;
        RpcStatus status;
        int r;

        r = rpc_client_stream_open(c, "/SpiffeWorkloadAPI/FetchJWTBundles", &req.base,
                                   &jwtbundles_response__descriptor, workload_md, 1, 0, &st);
        if (r == 0)
                r = rpc_client_stream_next(st, a->timeout, (ProtobufCMessage **) &resp, &status);
        if (r == 0)
                return rpc_fail("fetching JWT bundles", &status);
        if (r < 0)
                return fail("fetching JWT bundles: %s", strerror(-r));
        for (size_t i = 0; i < resp->n_bundles; i++) {
                const JWTBundlesResponse__BundlesEntry *b = resp->bundles[i];

                if (out) {
                        json_t *jwks = json_loadb((const char *) b->value.data, b->value.len, 0,
                                                  NULL);

                        (void) json_object_set_new(json_object_get(out, "bundles"), b->key,
                                                   jwks ? jwks : json_null());
                } else
                        printf("bundle(%s):\n\t%.*s\n", b->key, (int) b->value.len,
                               (const char *) b->value.data);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

static int fetch_jwt(const ApiArgs *a) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(json_decrefp) json_t *out = NULL;
        JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
        JWTSVIDResponse *resp = NULL;
        RpcStatus status;
        int r;

        if (a->n_audience == 0)
                return usage_error("-audience is required");
        r = connect_api(a, &c);
        if (r != 0)
                return r;
        req.audience = (char **) a->audience;
        req.n_audience = a->n_audience;
        req.spiffe_id = (char *) (a->spiffe_id ? a->spiffe_id : "");
        r = rpc_client_unary(c, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
                             &jwtsvidresponse__descriptor, workload_md, 1, a->timeout,
                             (ProtobufCMessage **) &resp, &status);
        if (r < 0)
                return fail("fetching JWT-SVIDs: %s", strerror(-r));
        if (status.code != GRPC_STATUS_OK)
                return rpc_fail("fetching JWT-SVIDs", &status);
        if (a->json)
                out = json_pack("{s:[], s:{}}", "svids", "bundles");
        for (size_t i = 0; i < resp->n_svids; i++) {
                if (out)
                        (void) json_array_append_new(
                                json_object_get(out, "svids"),
                                json_pack("{s:s, s:s, s:s}", "spiffe_id", resp->svids[i]->spiffe_id,
                                          "svid", resp->svids[i]->svid, "hint",
                                          resp->svids[i]->hint ? resp->svids[i]->hint : ""));
                else
                        printf("token(%s):\n\t%s\n\n", resp->svids[i]->spiffe_id,
                               resp->svids[i]->svid);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        r = print_jwt_bundles(a, c, out);
        if (r == 0 && out) {
                (void) json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("\n");
        }
        return r;
}

static int validate_jwt(const ApiArgs *a) {
        _cleanup_(rpc_client_freep) RpcClient *c = NULL;
        _cleanup_(json_decrefp) json_t *claims = NULL;
        _cleanup_(freep) char *text = NULL;
        ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
        ValidateJWTSVIDResponse *resp = NULL;
        RpcStatus status;
        int r;

        if (a->n_audience != 1)
                return usage_error("exactly one -audience is required");
        if (!a->svid)
                return usage_error("-svid is required");
        r = connect_api(a, &c);
        if (r != 0)
                return r;
        req.audience = (char *) a->audience[0];
        req.svid = (char *) a->svid;
        r = rpc_client_unary(c, "/SpiffeWorkloadAPI/ValidateJWTSVID", &req.base,
                             &validate_jwtsvidresponse__descriptor, workload_md, 1, a->timeout,
                             (ProtobufCMessage **) &resp, &status);
        if (r < 0)
                return fail("validating the JWT-SVID: %s", strerror(-r));
        if (status.code != GRPC_STATUS_OK)
                return rpc_fail("SVID is not valid", &status);
        claims = struct_to_json(resp->claims);
        text = claims ? json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (a->json)
                printf("{\"spiffe_id\":\"%s\",\"claims\":%s}\n", resp->spiffe_id,
                       text ? text : "{}");
        else
                printf("SVID is valid.\nSPIFFE ID : %s\nClaims    : %s\n", resp->spiffe_id,
                       text ? text : "{}");
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

typedef struct ApiCommand {
        const char *verb;
        const char *what;       /* NULL: the verb takes no object */
        int (*run)(const ApiArgs *a);
} ApiCommand;

static const ApiCommand api_commands[] = {
        { "fetch", "x509", fetch_x509 },
        { "fetch", "jwt", fetch_jwt },
        { "validate", "jwt", validate_jwt },
        { "watch", NULL, watch },
};

/* The command named by @verb and @what, or NULL after a usage error (*ret_rc set). */
static const ApiCommand *find_command(const char *verb, const char *what, int *ret_rc) {
        bool known_verb = false;

        for (size_t i = 0; i < ELEMENTSOF(api_commands); i++) {
                const ApiCommand *cmd = &api_commands[i];

                if (!streq(cmd->verb, verb))
                        continue;
                known_verb = true;
                if (!cmd->what || streq_ptr(cmd->what, what))
                        return cmd;
        }
        if (!known_verb)
                *ret_rc = usage_error("unknown api command '%s'", verb);
        else if (!what || what[0] == '-')
                *ret_rc = usage_error("missing what to %s (%s)", verb,
                                      streq(verb, "fetch") ? "x509 or jwt" : "jwt");
        else
                *ret_rc = usage_error("cannot %s '%s' (%s)", verb, what,
                                      streq(verb, "fetch") ? "x509 or jwt" : "jwt");
        return NULL;
}

int cli_api(int argc, char *argv[]) {
        const char *verb = argc > 1 ? argv[1] : NULL, *what = argc > 2 ? argv[2] : NULL;
        const ApiCommand *cmd;
        int skip, r = 2;
        ApiArgs a;

        if (!verb || streq(verb, "-h") || streq(verb, "-help") || streq(verb, "--help")) {
                usage(verb ? stdout : stderr);
                return verb ? 0 : 2;
        }
        cmd = find_command(verb, what, &r);
        if (!cmd)
                return r;
        skip = cmd->what ? 2 : 1;
        r = parse_args(argc - skip, argv + skip, &a);
        if (r != 0)
                return r == 1 ? 0 : r;
        /* gRPC's own lines would only repeat, worse, the one error line printed here. */
        if (!secure_getenv("GRPC_VERBOSITY"))
                gpr_set_log_function(grpc_log_drop);
        return cmd->run(&a);
}
