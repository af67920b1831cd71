/* SPDX-License-Identifier: Apache-2.0 */
/* cli-util.h - what the admin subcommands share: flags, values, the admin socket, output */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "sigil/admin.pb-c.h"
#include "sigil/error.h"

/* Short names for the generated admin API types. */
typedef Sigil__Admin__V1__Selector AdminSelector;
typedef Sigil__Admin__V1__Entry AdminEntry;
typedef Sigil__Admin__V1__Status AdminStatus;
typedef Sigil__Admin__V1__Agent AdminAgent;
typedef Sigil__Admin__V1__Bundle AdminBundle;

/* ---- commands, flags and usage ---- */

typedef enum CliOutput {
        CLI_OUTPUT_TEXT,
        CLI_OUTPUT_JSON,
        _CLI_OUTPUT_MAX,
        _CLI_OUTPUT_INVALID = -EINVAL,
} CliOutput;

/* "text" (or spire's "pretty") and "json"; anything else is _CLI_OUTPUT_INVALID. */
CliOutput cli_output_from_string(const char *s);

/* Option values of the flags every command takes; a command's own flags start at CLI_OPT_FIRST. */
enum {
        CLI_OPT_SOCKET_PATH = 0x100,
        CLI_OPT_OUTPUT,
        CLI_OPT_FIRST = 0x200,
};

/* Put this at the end of every command's option table (before the terminating {}). */
#define CLI_OPTIONS_COMMON                                                      \
        { "socketPath", required_argument, NULL, CLI_OPT_SOCKET_PATH },         \
        { "output", required_argument, NULL, CLI_OPT_OUTPUT },                  \
        { "help", no_argument, NULL, 'h' },                                     \
        { "h", no_argument, NULL, 'h' }

typedef struct CliCommand {
        const char *name;               /* "entry create" */
        const char *synopsis;           /* one sentence */
        const char *args;               /* what follows the name in the usage line */
        const char *options_help;       /* its own flags, one "  -flag ARG  text\n" each */
        const struct option *options;   /* its option table, ending with CLI_OPTIONS_COMMON, {} */
} CliCommand;

/* Flags every command takes. */
typedef struct CliCommon {
        const char *socket_path;
        CliOutput output;
} CliCommon;

typedef struct CliParser {
        const CliCommand *cmd;
        CliCommon *common;
        int argc;
        char **argv;
        int exit_status;        /* once cli_parser_next() returned -1: what the command returns */
} CliParser;

/* Prepare to parse @argv (argv[0] is the command's own name) and set @common to its defaults. */
void cli_parser_init(CliParser *p, const CliCommand *cmd, CliCommon *common, int argc,
                     char *argv[]);

/**
 * cli_parser_next() - the next flag of the command
 * @p:          parser
 *
 * Flags are spire's: -flag or --flag, values as "-flag value" or
 * "-flag=value"; abbreviations and positional arguments are refused.
 * -socketPath, -output and -h/-help are handled here.
 *
 * Return: the option's value (> 0; optarg holds its argument, NULL for a
 * bare boolean flag), 0 when all flags were read, or -1 when the command
 * must stop and return p->exit_status (0 after -h, which printed the usage
 * on stdout; CLI_EXIT_USAGE after a usage error, already reported).
 */
int cli_parser_next(CliParser *p);

/* Print the usage of @cmd on @f. */
void cli_usage(const CliCommand *cmd, FILE *f);

/**
 * cli_usage_error() - report a usage error: "Error: <message>", a blank line, the usage, on stderr
 * @cmd:        the command
 * @fmt:        printf format of the message
 *
 * Return: CLI_EXIT_USAGE.
 */
int cli_usage_error(const CliCommand *cmd, const char *fmt, ...) _printf_(2, 3);

/**
 * cli_fail() - report a failure as one line "Error: <message>" on stderr
 * @fmt:        printf format of the message
 *
 * Return: CLI_EXIT_FAILURE.
 */
int cli_fail(const char *fmt, ...) _printf_(1, 2);

/* One subcommand of a command group ("entry create", "entry show", ...). */
typedef struct CliVerb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} CliVerb;

/**
 * cli_dispatch() - run the subcommand named by argv[1] of group argv[0]
 * @verbs:      the group's subcommands
 * @n_verbs:    their number
 * @argc:       argument count
 * @argv:       "entry", "create", flags...
 *
 * Return: the subcommand's exit status; 0 for "-h"/"help"; CLI_EXIT_USAGE for
 * a missing or unknown subcommand.
 */
int cli_dispatch(const CliVerb *verbs, size_t n_verbs, int argc, char *argv[]);

/* ---- values ---- */

/* A growable list of owned strings, laid out as protobuf-c repeated strings. */
typedef struct CliStrv {
        char **items;
        size_t n;
} CliStrv;

/* Append a copy of @s. Return: 0 or -ENOMEM. */
int cli_strv_push(CliStrv *v, const char *s);
void cli_strv_done(CliStrv *v);

/**
 * cli_parse_bool() - a boolean flag's value, as Go's flag package reads it
 * @s:          NULL (the bare flag: true), or 1/0, t/f, true/false in any of Go's spellings
 * @ret:        on success, the value
 *
 * Return: 0 or -EINVAL.
 */
int cli_parse_bool(const char *s, bool *ret);

/**
 * cli_parse_ttl() - a TTL in whole seconds: "3600" (spire) or a duration such as "1h30m"
 * @s:          text
 * @ret:        on success, seconds (a duration with a fraction of a second is rounded up)
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ERANGE (above INT32_MAX seconds).
 */
int cli_parse_ttl(const char *s, int32_t *ret, SigilErr *reterr);

/**
 * cli_parse_int64() - a decimal integer within [@min, @max], nothing else
 * @s:          text
 * @min:        smallest accepted value
 * @max:        largest accepted value
 * @ret:        on success, the value
 *
 * Return: 0, -EINVAL or -ERANGE.
 */
int cli_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/**
 * cli_check_spiffe_id() - check a SPIFFE ID given on the command line or in a file
 * @what:       how to name it in the message ("-spiffeID", "entries[0].parent_id")
 * @s:          the text
 * @reterr:     on failure, "invalid <what> '<s>': <reason>"; may be NULL
 *
 * Return: 0 or -EINVAL.
 */
int cli_check_spiffe_id(const char *what, const char *s, SigilErr *reterr);

/**
 * cli_parse_trust_domain() - "example.org" or "spiffe://example.org" -> "example.org"
 * @s:          text
 * @ret:        on success, the bare name (malloc'd)
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int cli_parse_trust_domain(const char *s, char **ret, SigilErr *reterr);

/**
 * cli_selector_new() - a validated AdminSelector from "type:value" (or from separate parts)
 * @s:          "type:value" (the value may contain ':'), or the type when @value is not NULL
 * @value:      NULL, or the value
 * @ret:        on success, a malloc'd message (free with protobuf_c_message_free_unpacked)
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int cli_selector_new(const char *s, const char *value, AdminSelector **ret, SigilErr *reterr);

/* "exact", "subset", "superset", "any" -> the SelectorMatch behaviour, or -EINVAL. */
int cli_match_from_string(const char *s);

/**
 * cli_read_input() - the whole of a file, or of stdin for "-", with a size cap
 * @path:       file name or "-"
 * @max:        largest size accepted, in bytes
 * @ret:        on success, malloc'd contents with a NUL appended
 * @ret_n:      on success, their length
 *
 * Return: 0, -EFBIG or negative errno.
 */
int cli_read_input(const char *path, size_t max, char **ret, size_t *ret_n);

/* ---- the admin socket ---- */

typedef struct CliConn CliConn;

/**
 * cli_socket_check() - can a client connect to the Unix socket at @path right now?
 * @path:       socket path
 * @reason:     on failure, why not (no trailing newline)
 * @n_reason:   size of @reason
 *
 * Connects (non-blocking, waiting at most about a second) and disconnects,
 * so that a missing or dead server is reported at once and clearly.
 *
 * Return: 0 or negative errno.
 */
int cli_socket_check(const char *path, char *reason, size_t n_reason);

/**
 * cli_conn_open() - check the admin socket and open a gRPC channel to it, printing nothing
 * @socket_path: the socket
 * @ret:        on success, the connection
 * @reason:     on failure, "cannot reach sigil-server at '<path>': <why>"
 * @n_reason:   size of @reason
 *
 * Return: 0 or negative errno.
 */
int cli_conn_open(const char *socket_path, CliConn **ret, char *reason, size_t n_reason);

/* The gRPC client of @c, for calls that report their errors themselves. */
RpcClient *cli_conn_client(CliConn *c);

/**
 * cli_connect() - open a gRPC channel to sigil-server's admin socket
 * @socket_path: the socket
 * @ret:        on success, the connection
 *
 * On failure one line was printed on stderr.
 *
 * Return: 0 or CLI_EXIT_FAILURE.
 */
int cli_connect(const char *socket_path, CliConn **ret);
CliConn *cli_conn_free(CliConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CliConn *, cli_conn_free)

/**
 * cli_call() - one unary admin call; on failure one line is printed on stderr
 * @c:          connection
 * @method:     ADMIN_* method path
 * @req:        the request
 * @resp_desc:  type of the response
 * @what:       what failed, for the message ("error fetching entries"), or NULL
 * @ret:        on success, the response (free with protobuf_c_message_free_unpacked)
 *
 * Return: 0 or CLI_EXIT_FAILURE.
 */
int cli_call(CliConn *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, const char *what,
             ProtobufCMessage **ret);

/* The name spire prints for a gRPC status code ("PermissionDenied"), "Code(N)" if unknown. */
const char *cli_code_name(int code, char buf[static 16]);

/**
 * cli_format_rpc_error() - the one-line message for a failed call
 * @what:       context ("error fetching entries"), or NULL
 * @code:       gRPC status code
 * @message:    the server's description (control characters are replaced)
 * @buf:        destination: "<what>: rpc error: code = <Code> desc = <message>"
 * @n_buf:      its size
 */
void cli_format_rpc_error(const char *what, int code, const char *message, char *buf,
                          size_t n_buf);

/* ---- output ---- */

#define CLI_TIME_MAX 64

/* "2019-03-12 17:04:26 +0000 UTC", as spire prints times. Return: @buf. */
char *cli_format_time(int64_t t, char buf[static CLI_TIME_MAX]);

/**
 * cli_warn_capped() - tell on stderr when the server shortened the lifetime asked for
 * @what:       "X509-SVID" or "JWT-SVID"
 * @ttl:        the lifetime asked for, in seconds (0: none asked for, no warning)
 * @expires_at: the expiry the server set, unix seconds
 */
void cli_warn_capped(const char *what, int32_t ttl, int64_t expires_at);

/* Replace control characters of @s in place so that it prints on one line. Return: @s. */
char *cli_sanitize(char *s);

/* Print @j (consumed; NULL means OOM) compactly on stdout, with a newline.
 * Return: 0 or CLI_EXIT_FAILURE. */
int cli_print_json(json_t *j);

/* JSON values shaped as protojson writes them (the first ones return NULL on OOM). */
json_t *cli_json_string(const char *s);                 /* invalid UTF-8 is replaced */
json_t *cli_json_int64(int64_t v);                      /* int64 is a string in protojson */
json_t *cli_json_bytes(const uint8_t *data, size_t n);  /* standard padded base64 */
json_t *cli_json_spiffe_id(const char *id);             /* {"trust_domain", "path"} or null */
json_t *cli_json_strv(char *const *items, size_t n);
json_t *cli_json_selectors(AdminSelector *const *s, size_t n);
json_t *cli_json_status(const AdminStatus *st);         /* {"code", "message"} */
