/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every admin subcommand shares. Operators and their scripts know
 * spire-server, so flags are read the way Go's flag package reads them
 * (-flag and --flag, "-flag value" and "-flag=value", booleans take
 * "=false"), messages use spire's wording ("Error: rpc error: code =
 * NotFound desc = ..."), and JSON output is shaped like protojson (int64
 * as strings, bytes as base64, SPIFFE IDs as {trust_domain, path}).
 *
 * Invariants: a failing command prints exactly one line per failure on
 * stderr, never a gRPC log line, and never a control character from the
 * server; abbreviated flags are refused, so that adding a flag later
 * cannot change what an existing script means.
 */
#include <errno.h>
#include <fcntl.h>
#include <grpc/support/log.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "cli-util.h"
#include "fileio.h"
#include "sigil/clock.h"
#include "sigil/duration.h"
#include "sigil/selector.h"
#include "sigil/spiffeid.h"

#define CLI_CONNECT_TIMEOUT_SEC 1

struct CliConn {
        RpcClient *client;
        char *socket_path;
};

CliOutput cli_output_from_string(const char *s) {
        if (streq(s, "text") || streq(s, "pretty"))
                return CLI_OUTPUT_TEXT;
        if (streq(s, "json"))
                return CLI_OUTPUT_JSON;
        return _CLI_OUTPUT_INVALID;
}

/* ---- flags and usage ---- */

void cli_parser_init(CliParser *p, const CliCommand *cmd, CliCommon *common, int argc,
                     char *argv[]) {
        *p = (CliParser) {
                .cmd = cmd, .common = common, .argc = argc, .argv = argv,
                .exit_status = CLI_EXIT_OK,
        };
        *common = (CliCommon) { .socket_path = CLI_DEFAULT_SOCKET, .output = CLI_OUTPUT_TEXT };
        optind = 0;     /* glibc: start afresh, so one process can parse several commands */
        opterr = 0;     /* errors are reported here, in Go's words */
}

/* The word of argv that named the flag just returned (its value may be the next word). */
static const char *option_word(const CliParser *p) {
        if (optarg && optind >= 2 && optarg == p->argv[optind - 1])
                return p->argv[optind - 2];
        return p->argv[optind - 1];
}

static bool word_names(const char *word, const char *name) {
        size_t n;

        word += word[1] == '-' ? 2 : 1;
        n = strcspn(word, "=");
        return n == strlen(name) && strncmp(word, name, n) == 0;
}

static const struct option *option_by_val(const struct option *options, int val) {
        for (const struct option *o = options; o->name; o++)
                if (o->val == val)
                        return o;
        return NULL;
}

static int parser_stop(CliParser *p, int status) {
        p->exit_status = status;
        return -1;
}

static int parser_common(CliParser *p, int c) {
        switch (c) {
        case 'h':
                cli_usage(p->cmd, stdout);
                return parser_stop(p, CLI_EXIT_OK);
        case CLI_OPT_SOCKET_PATH:
                if (isempty(optarg))
                        return parser_stop(p, cli_usage_error(p->cmd, "-socketPath is empty"));
                p->common->socket_path = optarg;
                return 0;
        case CLI_OPT_OUTPUT:
                p->common->output = cli_output_from_string(optarg);
                if (p->common->output < 0)
                        return parser_stop(p, cli_usage_error(p->cmd,
                                           "invalid -output '%s': must be text or json", optarg));
                return 0;
        }
        return 1;
}

static int parser_bad_flag(CliParser *p, int c) {
        const char *word = p->argv[optind - 1];
        const struct option *o = optopt ? option_by_val(p->cmd->options, optopt) : NULL;

        if (c == ':')
                return parser_stop(p, cli_usage_error(p->cmd, "flag needs an argument: %s", word));
        if (o && o->has_arg == no_argument)
                return parser_stop(p, cli_usage_error(p->cmd, "flag does not take a value: %s",
                                                      word));
        return parser_stop(p, cli_usage_error(p->cmd, "flag provided but not defined: %s", word));
}

int cli_parser_next(CliParser *p) {
        for (;;) {
                int idx = -1, c, r;

                optarg = NULL;
                c = getopt_long_only(p->argc, p->argv, "+:h", p->cmd->options, &idx);
                if (c == -1)
                        break;
                if (c == '?' || c == ':')
                        return parser_bad_flag(p, c);
                if (idx >= 0 && !word_names(option_word(p), p->cmd->options[idx].name))
                        return parser_stop(p, cli_usage_error(p->cmd,
                                           "flag provided but not defined: %s", option_word(p)));
                r = parser_common(p, c);
                if (r < 0)
                        return r;
                if (r > 0)
                        return c;
        }
        if (optind < p->argc)
                return parser_stop(p, cli_usage_error(p->cmd, "unexpected argument '%s'",
                                                      p->argv[optind]));
        return 0;
}

void cli_usage(const CliCommand *cmd, FILE *f) {
        fprintf(f, "Usage: sigil-server %s %s\n\n%s\n\nFlags:\n%s", cmd->name,
                cmd->args ? cmd->args : "[flags]", cmd->synopsis, cmd->options_help);
        fprintf(f, "  -socketPath PATH        Path to sigil-server's admin socket\n"
                   "                          (default \"%s\")\n"
                   "  -output text|json       Output format (default \"text\")\n"
                   "  -h, -help               Show this help\n",
                CLI_DEFAULT_SOCKET);
}

static void vfail(const char *fmt, va_list ap) _printf_(1, 0);
static void vfail(const char *fmt, va_list ap) {
        char msg[2048];

        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        fprintf(stderr, "Error: %s\n", cli_sanitize(msg));
}

int cli_usage_error(const CliCommand *cmd, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfail(fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cli_usage(cmd, stderr);
        return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfail(fmt, ap);
        va_end(ap);
        return CLI_EXIT_FAILURE;
}

static void group_help(const char *group, const CliVerb *verbs, size_t n_verbs, FILE *f) {
        fprintf(f, "Usage: sigil-server %s <command> [flags]\n\nCommands:\n", group);
        for (size_t i = 0; i < n_verbs; i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun 'sigil-server %s <command> -h' for the flags of a command.\n", group);
}

int cli_dispatch(const CliVerb *verbs, size_t n_verbs, int argc, char *argv[]) {
        const char *group = argv[0], *verb = argc > 1 ? argv[1] : NULL;

        if (!verb) {
                fprintf(stderr, "Error: missing %s command\n\n", group);
                group_help(group, verbs, n_verbs, stderr);
                return CLI_EXIT_USAGE;
        }
        if (streq(verb, "help") || streq(verb, "-h") || streq(verb, "-help") ||
            streq(verb, "--help")) {
                group_help(group, verbs, n_verbs, stdout);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < n_verbs; i++)
                if (streq(verb, verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "Error: unknown command '%s %s'\n\n", group, verb);
        group_help(group, verbs, n_verbs, stderr);
        return CLI_EXIT_USAGE;
}

/* ---- values ---- */

int cli_strv_push(CliStrv *v, const char *s) {
        char **l;

        l = reallocarray(v->items, v->n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        v->items = l;
        l[v->n] = strdup(s);
        if (!l[v->n])
                return -ENOMEM;
        v->n++;
        return 0;
}

void cli_strv_done(CliStrv *v) {
        for (size_t i = 0; i < v->n; i++)
                free(v->items[i]);
        free(v->items);
        *v = (CliStrv) {};
}

int cli_parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
        static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

        if (!s) {
                *ret = true;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(s, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (streq(s, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int cli_parse_ttl(const char *s, int32_t *ret, SigilErr *reterr) {
        uint64_t usec, sec;
        int r;

        r = sigil_duration_parse(s, &usec, reterr);
        if (r < 0)
                return r;
        sec = usec / USEC_PER_SEC + (usec % USEC_PER_SEC != 0);
        if (sec > INT32_MAX)
                return sigil_err_set(reterr, -ERANGE, "TTL is longer than %d seconds", INT32_MAX);
        *ret = (int32_t) sec;
        return 0;
}

int cli_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        char *end = NULL;
        long long v;

        if (isempty(s) || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0' || end == s)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (int64_t) v;
        return 0;
}

int cli_check_spiffe_id(const char *what, const char *s, SigilErr *reterr) {
        char why[SIGIL_ERR_MSG_MAX] = "";

        if (sigil_spiffeid_validate(s, why, sizeof(why)) != 0)
                return sigil_err_set(reterr, -EINVAL, "invalid %s '%s': %s", what, s, why);
        return 0;
}

int cli_parse_trust_domain(const char *s, char **ret, SigilErr *reterr) {
        SigilTrustDomain td;
        char *name;
        int r;

        r = sigil_trust_domain_parse(s, &td, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "invalid trust domain '%s'", s);
        name = strdup(td.name);
        if (!name)
                return -ENOMEM;
        *ret = name;
        return 0;
}

int cli_selector_new(const char *s, const char *value, AdminSelector **ret, SigilErr *reterr) {
        SigilSelector sel = { NULL, NULL };
        AdminSelector *m;
        int r;

        r = value ? sigil_selector_make(s, value, &sel, reterr)
                  : sigil_selector_parse(s, &sel, reterr);
        if (r < 0)
                return value ? sigil_err_prefix(reterr, r, "invalid selector '%s:%s'", s, value)
                             : sigil_err_prefix(reterr, r, "invalid selector '%s'", s);
        m = malloc(sizeof(*m));
        if (!m) {
                sigil_selector_done(&sel);
                return -ENOMEM;
        }
        sigil__admin__v1__selector__init(m);
        m->type = TAKE_PTR(sel.type);
        m->value = TAKE_PTR(sel.value);
        *ret = m;
        return 0;
}

int cli_match_from_string(const char *s) {
        static const char *const names[] = {
                [SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_EXACT] = "exact",
                [SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUBSET] = "subset",
                [SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_SUPERSET] = "superset",
                [SIGIL__ADMIN__V1__SELECTOR_MATCH__MATCH_BEHAVIOR__MATCH_ANY] = "any",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        return -EINVAL;
}

static int read_stdin(size_t max, char **ret, size_t *ret_n) {
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, cap = 0;

        for (;;) {
                ssize_t k;

                if (n == cap) {
                        char *nb;

                        if (cap > max)
                                return -EFBIG;
                        cap = cap ? MIN(cap * 2, max + 1) : MIN((size_t) 4096, max + 1);
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(STDIN_FILENO, buf + n, cap - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

int cli_read_input(const char *path, size_t max, char **ret, size_t *ret_n) {
        if (streq(path, "-"))
                return read_stdin(max, ret, ret_n);
        return read_full_file(path, max, ret, ret_n);
}

/* ---- the admin socket ---- */

static const char *socket_errno_reason(int err) {
        switch (err) {
        case ENOENT:
                return "no such socket (is sigil-server running? -socketPath selects the socket)";
        case ECONNREFUSED:
                return "connection refused (no server is listening on this socket)";
        case EACCES:
        case EPERM:
                return "permission denied (the admin socket is for root and sigil-server's "
                       "own user)";
        case ENOTSOCK:
                return "not a socket";
        case EAGAIN:
        case EINPROGRESS:
        case ETIMEDOUT:
                return "timed out (the server does not accept connections)";
        case ENAMETOOLONG:
                return "socket path is too long";
        }
        return NULL;
}

static int socket_fail(int err, char *reason, size_t n_reason) {
        const char *why = socket_errno_reason(err);

        (void) snprintf(reason, n_reason, "%s", why ? why : strerror(err));
        return -err;
}

int cli_socket_check(const char *path, char *reason, size_t n_reason) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = CLI_CONNECT_TIMEOUT_SEC };
        _cleanup_(closep) int fd = -1;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return socket_fail(ENAMETOOLONG, reason, n_reason);
        if (stat(path, &st) < 0)
                return socket_fail(errno, reason, n_reason);
        if (!S_ISSOCK(st.st_mode))
                return socket_fail(ENOTSOCK, reason, n_reason);
        memcpy(sa.sun_path, path, strlen(path) + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return socket_fail(errno, reason, n_reason);
        /* connect() on a Unix socket waits for room in the backlog at most SO_SNDTIMEO */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return socket_fail(errno, reason, n_reason);
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return socket_fail(errno, reason, n_reason);
        return 0;
}

static void grpc_log_drop(gpr_log_func_args *args) {
}

int cli_conn_open(const char *socket_path, CliConn **ret, char *reason, size_t n_reason) {
        _cleanup_(cli_conn_freep) CliConn *c = NULL;
        _cleanup_(freep) char *target = NULL;
        char why[256];
        int r;

        r = cli_socket_check(socket_path, why, sizeof(why));
        if (r < 0) {
                (void) snprintf(reason, n_reason, "cannot reach sigil-server at '%s': %s",
                                socket_path, why);
                return r;
        }

        /* gRPC's own log lines would break the one-line-per-error promise */
        if (!secure_getenv("GRPC_VERBOSITY"))
                gpr_set_log_function(grpc_log_drop);

        c = new0(CliConn, 1);
        if (!c || !(c->socket_path = strdup(socket_path)) ||
            asprintf(&target, "unix:%s", socket_path) < 0) {
                (void) snprintf(reason, n_reason, "out of memory");
                return -ENOMEM;
        }
        r = rpc_client_new(target, NULL, &c->client);
        if (r < 0) {
                (void) snprintf(reason, n_reason, "cannot create a gRPC channel to '%s'",
                                socket_path);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

RpcClient *cli_conn_client(CliConn *c) {
        return c->client;
}

int cli_connect(const char *socket_path, CliConn **ret) {
        char reason[512];

        if (cli_conn_open(socket_path, ret, reason, sizeof(reason)) < 0)
                return cli_fail("connection error: %s", reason);
        return 0;
}

CliConn *cli_conn_free(CliConn *c) {
        if (!c)
                return NULL;
        rpc_client_free(c->client);
        free(c->socket_path);
        free(c);
        return NULL;
}

const char *cli_code_name(int code, char buf[static 16]) {
        static const char *const names[] = {
                "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
                "Unavailable", "DataLoss", "Unauthenticated",
        };

        if (code >= 0 && (size_t) code < ELEMENTSOF(names))
                return names[code];
        (void) snprintf(buf, 16, "Code(%d)", code);
        return buf;
}

void cli_format_rpc_error(const char *what, int code, const char *message, char *buf,
                          size_t n_buf) {
        char name[16];

        (void) snprintf(buf, n_buf, "%s%srpc error: code = %s desc = %s", what ? what : "",
                        what ? ": " : "", cli_code_name(code, name), message ? message : "");
        cli_sanitize(buf);
}

int cli_call(CliConn *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, const char *what,
             ProtobufCMessage **ret) {
        ProtobufCMessage *resp = NULL;
        RpcStatus st;
        char msg[1024];
        int r;

        r = rpc_client_unary(c->client, method, req, resp_desc, NULL, 0, CLI_TIMEOUT_USEC, &resp,
                             &st);
        if (r == -EBADMSG)
                return cli_fail("%s%sinvalid response from sigil-server to %s", what ? what : "",
                                what ? ": " : "", method);
        if (r < 0)
                return cli_fail("%s%scall %s failed: %s", what ? what : "", what ? ": " : "",
                                method, strerror(-r));
        if (st.code == GRPC_STATUS_UNAVAILABLE)
                return cli_fail("connection error: cannot reach sigil-server at '%s': %s",
                                c->socket_path, cli_sanitize(st.message));
        if (st.code != GRPC_STATUS_OK) {
                cli_format_rpc_error(what, st.code, st.message, msg, sizeof(msg));
                return cli_fail("%s", msg);
        }
        *ret = resp;
        return 0;
}

/* ---- output ---- */

char *cli_format_time(int64_t t, char buf[static CLI_TIME_MAX]) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm) || strftime(buf, CLI_TIME_MAX, "%Y-%m-%d %H:%M:%S +0000 UTC",
                                            &tm) == 0)
                (void) snprintf(buf, CLI_TIME_MAX, "%" PRId64, t);
        return buf;
}

void cli_warn_capped(const char *what, int32_t ttl, int64_t expires_at) {
        time_t t = (time_t) expires_at;
        char when[64];
        struct tm tm;

        if (ttl <= 0 || expires_at <= 0 ||
            (uint64_t) expires_at >= sigil_now_sec() + (uint64_t) ttl)
                return;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return;
        fprintf(stderr, "%s lifetime was capped shorter than specified ttl; expires \"%s\"\n",
                what, when);
}

char *cli_sanitize(char *s) {
        for (unsigned char *p = (unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

int cli_print_json(json_t *j) {
        int r;

        if (!j)
                return cli_fail("out of memory");
        r = json_dumpf(j, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF;
        json_decref(j);
        return r ? cli_fail("cannot write the output") : CLI_EXIT_OK;
}

json_t *cli_json_string(const char *s) {
        _cleanup_(freep) char *copy = NULL;
        json_t *j;

        j = json_string(s ? s : "");
        if (j || !s)
                return j;
        /* not UTF-8: keep the ASCII, mark the rest */
        copy = strdup(s);
        if (!copy)
                return NULL;
        for (unsigned char *p = (unsigned char *) copy; *p; p++)
                if (*p >= 0x80)
                        *p = '?';
        return json_string(copy);
}

json_t *cli_json_int64(int64_t v) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRId64, v);
        return json_string(buf);
}

json_t *cli_json_bytes(const uint8_t *data, size_t n) {
        _cleanup_(freep) char *b64 = NULL;

        if (n == 0)
                return json_string("");
        if (base64_encode(data, n, &b64) < 0)
                return NULL;
        return json_string(b64);
}

json_t *cli_json_spiffe_id(const char *id) {
        const char *td, *path;

        if (isempty(id))
                return json_null();
        if (strncmp(id, SIGIL_SPIFFE_SCHEME, strlen(SIGIL_SPIFFE_SCHEME)) != 0)
                return json_pack("{s:s, s:o}", "trust_domain", "", "path", cli_json_string(id));
        td = id + strlen(SIGIL_SPIFFE_SCHEME);
        path = td + strcspn(td, "/");
        return json_pack("{s:o, s:o}", "trust_domain", json_stringn(td, (size_t) (path - td)),
                         "path", cli_json_string(path));
}

json_t *cli_json_strv(char *const *items, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, cli_json_string(items[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

json_t *cli_json_selectors(AdminSelector *const *s, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_pack("{s:o, s:o}", "type",
                                                       cli_json_string(s[i]->type), "value",
                                                       cli_json_string(s[i]->value))) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

json_t *cli_json_status(const AdminStatus *st) {
        return json_pack("{s:i, s:o}", "code", st ? st->code : 0,
                         "message", cli_json_string(st ? st->message : ""));
}
