/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server bundle show|list|set|delete: this trust domain's bundle and
 * the federated bundles, with spire-server's flags and output.
 *
 * Bundles cross this file in both directions through libsigil's bundle
 * parsers: what the server sends is parsed before it is printed (so a
 * broken authority is reported, not printed), and what an operator gives to
 * "bundle set" is parsed here first, so a bad file is refused with the
 * parser's reason before anything is sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin-methods.h"
#include "cli-util.h"
#include "sigil/bundle.h"
#include "sigil/keys.h"
#include "ssl-util.h"

#define BUNDLE_PAGE_SIZE 100
#define BUNDLE_PAGES_MAX 100000
#define BUNDLE_HEADER_RULE "****************************************"

enum {
        OPT_FORMAT = CLI_OPT_FIRST,
        OPT_ID,
        OPT_PATH,
};

typedef enum BundleFormat {
        BUNDLE_FORMAT_PEM,
        BUNDLE_FORMAT_SPIFFE,
} BundleFormat;

typedef struct BundleArgs {
        CliCommon common;
        BundleFormat format;
        char *td;               /* -id, as a bare trust domain name */
        const char *path;
} BundleArgs;

static void bundle_args_done(BundleArgs *a) {
        free(a->td);
}

#define FORMAT_HELP "  -format pem|spiffe      Bundle format (default \"pem\")\n"

static const struct option show_options[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_show = {
        .name = "bundle show",
        .synopsis = "Prints this trust domain's bundle.",
        .options_help = FORMAT_HELP,
        .options = show_options,
};

static const struct option list_options[] = {
        { "id", required_argument, NULL, OPT_ID },
        { "format", required_argument, NULL, OPT_FORMAT },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_list = {
        .name = "bundle list",
        .synopsis = "Prints the federated bundles, or the one of trust domain -id.",
        .options_help = "  -id TD                  Only the bundle of this trust domain "
                        "(spiffe://td or td)\n" FORMAT_HELP,
        .options = list_options,
};

static const struct option set_options[] = {
        { "id", required_argument, NULL, OPT_ID },
        { "path", required_argument, NULL, OPT_PATH },
        { "format", required_argument, NULL, OPT_FORMAT },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_set = {
        .name = "bundle set",
        .synopsis = "Creates or replaces the federated bundle of a trust domain.",
        .options_help = "  -id TD                  Trust domain of the bundle (spiffe://td or td; "
                        "required)\n"
                        "  -path FILE              File to read the bundle from; \"-\" or no "
                        "-path: stdin\n" FORMAT_HELP,
        .options = set_options,
};

static const struct option delete_options[] = {
        { "id", required_argument, NULL, OPT_ID },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_delete = {
        .name = "bundle delete",
        .synopsis = "Deletes the federated bundle of a trust domain.",
        .options_help = "  -id TD                  Trust domain of the bundle (spiffe://td or td; "
                        "required)\n",
        .options = delete_options,
};

static bool bundle_args_parse(const CliCommand *cmd, int argc, char *argv[], BundleArgs *a,
                              int *ret_status) {
        SigilErr e = {};
        CliParser p;
        int c;

        cli_parser_init(&p, cmd, &a->common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                if (c == OPT_FORMAT && strcasecmp(optarg, "pem") == 0)
                        a->format = BUNDLE_FORMAT_PEM;
                else if (c == OPT_FORMAT && strcasecmp(optarg, "spiffe") == 0)
                        a->format = BUNDLE_FORMAT_SPIFFE;
                else if (c == OPT_FORMAT) {
                        *ret_status = cli_usage_error(cmd, "invalid -format '%s': must be pem "
                                                           "or spiffe", optarg);
                        return false;
                } else if (c == OPT_PATH)
                        a->path = optarg;
                else if (c == OPT_ID) {
                        free(a->td);
                        a->td = NULL;
                        if (cli_parse_trust_domain(optarg, &a->td, &e) < 0) {
                                *ret_status = cli_usage_error(cmd, "invalid -id: %s", e.msg);
                                return false;
                        }
                }
        }
        *ret_status = p.exit_status;
        return c == 0;
}

/* ---- between the wire and libsigil ---- */

static int bundle_from_proto(const AdminBundle *pb, SigilBundle **ret, SigilErr *err) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        int r;

        r = sigil_bundle_new(pb->trust_domain, &b);
        if (r < 0)
                return sigil_err_set(err, r, "invalid trust domain '%s'", pb->trust_domain);
        for (size_t i = 0; i < pb->n_x509_authorities; i++) {
                const ProtobufCBinaryData *d = &pb->x509_authorities[i]->asn1;
                const unsigned char *p = d->data;
                _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &p, (long) d->len);

                if (!x || p != d->data + d->len)
                        return sigil_err_set(err, -EINVAL, "X.509 authority %zu is not a DER "
                                                           "certificate", i);
                r = sigil_bundle_add_x509_authority(b, x);
                if (r < 0)
                        return sigil_err_set(err, r, "X.509 authority %zu: %s", i, strerror(-r));
        }
        for (size_t i = 0; i < pb->n_jwt_authorities; i++) {
                const Sigil__Admin__V1__JWTAuthority *j = pb->jwt_authorities[i];
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;

                r = sigil_key_from_spki_der(j->public_key.data, j->public_key.len, &key, err);
                if (r < 0)
                        return sigil_err_prefix(err, r, "JWT authority '%s'", j->key_id);
                r = sigil_bundle_add_jwt_authority(b, j->key_id, key, j->expires_at > 0
                                                           ? (uint64_t) j->expires_at : 0);
                if (r < 0)
                        return sigil_err_set(err, r, "JWT authority '%s': %s", j->key_id,
                                             strerror(-r));
        }
        b->sequence = pb->sequence_number;
        b->refresh_hint_sec = pb->refresh_hint;
        *ret = TAKE_PTR(b);
        return 0;
}

/* An AdminBundle whose storage is owned here (the request of "bundle set"). */
typedef struct WireBundle {
        AdminBundle msg;
        Sigil__Admin__V1__X509Authority *x509, **x509_ptrs;
        Sigil__Admin__V1__JWTAuthority *jwt, **jwt_ptrs;
} WireBundle;

static void wire_bundle_done(WireBundle *w) {
        for (size_t i = 0; w->x509 && i < w->msg.n_x509_authorities; i++)
                OPENSSL_free(w->x509[i].asn1.data);
        for (size_t i = 0; w->jwt && i < w->msg.n_jwt_authorities; i++)
                free(w->jwt[i].public_key.data);
        free(w->x509);
        free(w->x509_ptrs);
        free(w->jwt);
        free(w->jwt_ptrs);
}

static int wire_bundle_x509(WireBundle *w, const SigilBundle *b) {
        size_t n = (size_t) sk_X509_num(b->x509_authorities);

        w->x509 = new0(Sigil__Admin__V1__X509Authority, n);
        w->x509_ptrs = new0(Sigil__Admin__V1__X509Authority *, n);
        if (!w->x509 || !w->x509_ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                unsigned char *der = NULL;
                int k = i2d_X509(sk_X509_value(b->x509_authorities, (int) i), &der);

                if (k <= 0)
                        return -ENOMEM;
                sigil__admin__v1__x509_authority__init(&w->x509[i]);
                w->x509[i].asn1 = (ProtobufCBinaryData) { .len = (size_t) k, .data = der };
                w->x509_ptrs[i] = &w->x509[i];
                w->msg.n_x509_authorities = i + 1;
        }
        w->msg.x509_authorities = w->x509_ptrs;
        return 0;
}

static int wire_bundle_jwt(WireBundle *w, const SigilBundle *b) {
        size_t n = b->n_jwt_authorities;

        w->jwt = new0(Sigil__Admin__V1__JWTAuthority, n);
        w->jwt_ptrs = new0(Sigil__Admin__V1__JWTAuthority *, n);
        if (!w->jwt || !w->jwt_ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const SigilJwtAuthority *a = &b->jwt_authorities[i];
                uint8_t *spki = NULL;
                size_t n_spki = 0;
                int r;

                r = sigil_key_to_spki_der(a->key, &spki, &n_spki);
                if (r < 0)
                        return r;
                sigil__admin__v1__jwtauthority__init(&w->jwt[i]);
                w->jwt[i].public_key = (ProtobufCBinaryData) { .len = n_spki, .data = spki };
                w->jwt[i].key_id = a->kid;
                w->jwt[i].expires_at = a->expires_at <= INT64_MAX ? (int64_t) a->expires_at : 0;
                w->jwt_ptrs[i] = &w->jwt[i];
                w->msg.n_jwt_authorities = i + 1;
        }
        w->msg.jwt_authorities = w->jwt_ptrs;
        return 0;
}

static int wire_bundle_init(WireBundle *w, const SigilBundle *b) {
        int r;

        *w = (WireBundle) {};
        sigil__admin__v1__bundle__init(&w->msg);
        w->msg.trust_domain = (char *) b->td.name;
        w->msg.sequence_number = b->sequence;
        w->msg.refresh_hint = b->refresh_hint_sec;
        r = wire_bundle_x509(w, b);
        return r < 0 ? r : wire_bundle_jwt(w, b);
}

/* ---- output ---- */

static json_t *bundle_to_json(const AdminBundle *b) {
        json_t *x = json_array(), *j = json_array();
        char seq[32];

        for (size_t i = 0; x && i < b->n_x509_authorities; i++) {
                const ProtobufCBinaryData *d = &b->x509_authorities[i]->asn1;

                if (json_array_append_new(x, json_pack("{s:o}", "asn1",
                                                       cli_json_bytes(d->data, d->len))) < 0)
                        json_decref(TAKE_PTR(x));
        }
        for (size_t i = 0; j && i < b->n_jwt_authorities; i++) {
                const Sigil__Admin__V1__JWTAuthority *a = b->jwt_authorities[i];

                if (json_array_append_new(j, json_pack("{s:o, s:o, s:o}", "public_key",
                                                       cli_json_bytes(a->public_key.data,
                                                                      a->public_key.len),
                                                       "key_id", cli_json_string(a->key_id),
                                                       "expires_at",
                                                       cli_json_int64(a->expires_at))) < 0)
                        json_decref(TAKE_PTR(j));
        }
        (void) snprintf(seq, sizeof(seq), "%" PRIu64, b->sequence_number);
        return json_pack("{s:o, s:o, s:o, s:o, s:s}", "trust_domain",
                         cli_json_string(b->trust_domain), "x509_authorities", x,
                         "jwt_authorities", j, "refresh_hint", cli_json_int64(b->refresh_hint),
                         "sequence_number", seq);
}

/* The SPIFFE bundle JSON, indented by four spaces as spire-server prints it. */
static int spiffe_json_indented(const SigilBundle *b, char **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(freep) char *compact = NULL;
        int r;

        r = sigil_bundle_to_spiffe_json(b, &compact);
        if (r < 0)
                return r;
        j = json_loads(compact, 0, NULL);
        if (!j)
                return -ENOMEM;
        *ret = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        return *ret ? 0 : -ENOMEM;
}

static int bundle_print(const AdminBundle *pb, BundleFormat format, bool header) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *text = NULL;
        SigilErr e = {};
        int r;

        r = bundle_from_proto(pb, &b, &e);
        if (r < 0)
                return cli_fail("invalid bundle from sigil-server for '%s': %s", pb->trust_domain,
                                e.msg);
        r = format == BUNDLE_FORMAT_PEM ? sigil_bundle_to_pem(b, &text)
                                        : spiffe_json_indented(b, &text);
        if (r < 0)
                return cli_fail("cannot encode the bundle of '%s': %s", pb->trust_domain,
                                strerror(-r));
        if (header)
                printf(BUNDLE_HEADER_RULE "\n* %s\n" BUNDLE_HEADER_RULE "\n", b->td.name);
        fputs(text, stdout);
        if (format == BUNDLE_FORMAT_SPIFFE)
                putchar('\n');
        return CLI_EXIT_OK;
}

/* ---- commands ---- */

static int bundle_show(int argc, char *argv[]) {
        Sigil__Admin__V1__GetBundleRequest req = SIGIL__ADMIN__V1__GET_BUNDLE_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(bundle_args_done) BundleArgs a = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        int r;

        if (!bundle_args_parse(&cmd_show, argc, argv, &a, &r))
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_call(conn, ADMIN_BUNDLE_GET, &req.base, &sigil__admin__v1__bundle__descriptor,
                     NULL, &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (a.common.output == CLI_OUTPUT_JSON)
                return cli_print_json(bundle_to_json((AdminBundle *) m));
        return bundle_print((AdminBundle *) m, a.format, false);
}

typedef struct BundlePages {
        Sigil__Admin__V1__ListFederatedBundlesResponse **pages;
        size_t n;
} BundlePages;

static void bundle_pages_done(BundlePages *p) {
        for (size_t i = 0; i < p->n; i++)
                protobuf_c_message_free_unpacked(&p->pages[i]->base, NULL);
        free(p->pages);
}

static int bundle_pages_fetch(CliConn *conn, BundlePages *out) {
        Sigil__Admin__V1__ListFederatedBundlesRequest req =
                SIGIL__ADMIN__V1__LIST_FEDERATED_BUNDLES_REQUEST__INIT;

        req.page_size = BUNDLE_PAGE_SIZE;
        for (;;) {
                Sigil__Admin__V1__ListFederatedBundlesResponse **l, *resp;
                const char *prev = req.page_token;
                ProtobufCMessage *m = NULL;
                int r;

                if (out->n >= BUNDLE_PAGES_MAX)
                        return cli_fail("error listing bundles: more than %d pages",
                                        BUNDLE_PAGES_MAX);
                r = cli_call(conn, ADMIN_BUNDLE_LIST_FEDERATED, &req.base,
                             &sigil__admin__v1__list_federated_bundles_response__descriptor,
                             NULL, &m);
                if (r != CLI_EXIT_OK)
                        return r;
                resp = (Sigil__Admin__V1__ListFederatedBundlesResponse *) m;
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
                        return cli_fail("error listing bundles: sigil-server returned the same "
                                        "page token twice");
                req.page_token = resp->next_page_token;     /* owned by the kept page */
        }
}

static const AdminBundle *bundle_find(const BundlePages *p, const char *td) {
        for (size_t i = 0; i < p->n; i++)
                for (size_t j = 0; j < p->pages[i]->n_bundles; j++) {
                        const AdminBundle *b = p->pages[i]->bundles[j];
                        SigilTrustDomain t;

                        if (sigil_trust_domain_parse(b->trust_domain, &t, NULL) == 0 &&
                            streq(t.name, td))
                                return b;
                }
        return NULL;
}

static int list_all(const BundlePages *p, CliOutput output, BundleFormat format) {
        json_t *a = output == CLI_OUTPUT_JSON ? json_array() : NULL;
        size_t k = 0;
        int r = CLI_EXIT_OK;

        for (size_t i = 0; i < p->n && r == CLI_EXIT_OK; i++)
                for (size_t j = 0; j < p->pages[i]->n_bundles && r == CLI_EXIT_OK; j++) {
                        const AdminBundle *b = p->pages[i]->bundles[j];

                        if (output == CLI_OUTPUT_JSON) {
                                if (a && json_array_append_new(a, bundle_to_json(b)) < 0)
                                        json_decref(TAKE_PTR(a));
                                continue;
                        }
                        if (k++ > 0)
                                putchar('\n');
                        r = bundle_print(b, format, true);
                }
        if (output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:o, s:s}", "bundles", a, "next_page_token", ""));
        return r;
}

static int bundle_list(int argc, char *argv[]) {
        _cleanup_(bundle_args_done) BundleArgs a = {};
        _cleanup_(bundle_pages_done) BundlePages pages = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        const AdminBundle *b;
        int r;

        if (!bundle_args_parse(&cmd_list, argc, argv, &a, &r))
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        r = bundle_pages_fetch(conn, &pages);
        if (r != CLI_EXIT_OK)
                return r;
        if (!a.td)
                return list_all(&pages, a.common.output, a.format);
        b = bundle_find(&pages, a.td);
        if (!b)
                return cli_fail("no federated bundle for trust domain '%s'", a.td);
        if (a.common.output == CLI_OUTPUT_JSON)
                return cli_print_json(bundle_to_json(b));
        return bundle_print(b, a.format, false);
}

static int bundle_read(const BundleArgs *a, SigilBundle **ret) {
        _cleanup_(freep) char *text = NULL;
        const char *name = streq(a->path, "-") ? "stdin" : a->path;
        SigilErr e = {};
        size_t n;
        int r;

        r = cli_read_input(a->path, SIGIL_BUNDLE_JSON_MAX, &text, &n);
        if (r == -EFBIG)
                return cli_fail("cannot read '%s': larger than %u bytes", name,
                                SIGIL_BUNDLE_JSON_MAX);
        if (r < 0)
                return cli_fail("cannot read '%s': %s", name, strerror(-r));
        r = a->format == BUNDLE_FORMAT_PEM ? sigil_bundle_from_pem(a->td, text, n, ret, &e)
                                           : sigil_bundle_from_spiffe_json(a->td, text, n, ret,
                                                                           &e);
        if (r == -ENOMEM)
                return cli_fail("out of memory");
        if (r < 0)
                return cli_fail("invalid %s bundle in '%s': %s",
                                a->format == BUNDLE_FORMAT_PEM ? "PEM" : "SPIFFE", name, e.msg);
        if (sk_X509_num((*ret)->x509_authorities) == 0 && (*ret)->n_jwt_authorities == 0) {
                *ret = sigil_bundle_free(*ret);
                return cli_fail("the bundle in '%s' holds no X.509 or JWT authority", name);
        }
        return CLI_EXIT_OK;
}

static int bundle_set(int argc, char *argv[]) {
        Sigil__Admin__V1__SetFederatedBundleRequest req =
                SIGIL__ADMIN__V1__SET_FEDERATED_BUNDLE_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(bundle_args_done) BundleArgs a = {};
        _cleanup_(wire_bundle_done) WireBundle w = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        int r;

        if (!bundle_args_parse(&cmd_set, argc, argv, &a, &r))
                return r;
        if (!a.td)
                return cli_usage_error(&cmd_set, "-id is required");
        if (!a.path && isatty(STDIN_FILENO))
                return cli_usage_error(&cmd_set, "-path is required when stdin is a terminal");
        if (!a.path)
                a.path = "-";
        r = bundle_read(&a, &b);
        if (r != CLI_EXIT_OK)
                return r;
        if (wire_bundle_init(&w, b) < 0)
                return cli_fail("cannot encode the bundle: out of memory");
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        req.bundle = &w.msg;
        r = cli_call(conn, ADMIN_BUNDLE_SET_FEDERATED, &req.base,
                     &sigil__admin__v1__bundle__descriptor, "error setting federated bundle", &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (a.common.output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:[{s:{s:i, s:s}, s:o}]}", "results", "status",
                                                "code", 0, "message", "OK", "bundle",
                                                bundle_to_json((AdminBundle *) m)));
        printf("bundle set.\n");
        return CLI_EXIT_OK;
}

static int bundle_delete(int argc, char *argv[]) {
        Sigil__Admin__V1__DeleteFederatedBundleRequest req =
                SIGIL__ADMIN__V1__DELETE_FEDERATED_BUNDLE_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(bundle_args_done) BundleArgs a = {};
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        int r;

        if (!bundle_args_parse(&cmd_delete, argc, argv, &a, &r))
                return r;
        if (!a.td)
                return cli_usage_error(&cmd_delete, "-id is required");
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        req.trust_domain = a.td;
        r = cli_call(conn, ADMIN_BUNDLE_DELETE_FEDERATED, &req.base,
                     &sigil__admin__v1__empty__descriptor, "error deleting federated bundle", &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (a.common.output == CLI_OUTPUT_JSON)
                return cli_print_json(json_pack("{s:[{s:{s:i, s:s}, s:s}]}", "results", "status",
                                                "code", 0, "message", "OK", "trust_domain",
                                                a.td));
        printf("bundle deleted.\n");
        return CLI_EXIT_OK;
}

static const CliVerb bundle_verbs[] = {
        { "show", bundle_show, "Print this trust domain's bundle" },
        { "list", bundle_list, "Print federated bundles" },
        { "set", bundle_set, "Create or replace a federated bundle" },
        { "delete", bundle_delete, "Delete a federated bundle" },
};

int cli_bundle(int argc, char *argv[]) {
        return cli_dispatch(bundle_verbs, ELEMENTSOF(bundle_verbs), argc, argv);
}
