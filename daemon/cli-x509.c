/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server x509 mint: an X.509-SVID for an operator's tool. The key is
 * generated here and only a CSR goes to the server, so the private key
 * exists in this process and in the output alone: every copy of it in our
 * memory is wiped before it is freed, and key.pem is written 0600.
 *
 * What the server answers is checked before it is shown: the chain must
 * parse, and its leaf must carry the requested SPIFFE ID and our public key.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin-methods.h"
#include "base64.h"
#include "cli-util.h"
#include "fileio.h"
#include "sigil/csr.h"
#include "sigil/keys.h"
#include "sigil/spiffeid.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

enum {
        OPT_SPIFFE_ID = CLI_OPT_FIRST,
        OPT_TTL,
        OPT_DNS,
        OPT_WRITE,
        OPT_KEY_TYPE,
};

static const struct option mint_options[] = {
        { "spiffeID", required_argument, NULL, OPT_SPIFFE_ID },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "dns", required_argument, NULL, OPT_DNS },
        { "write", required_argument, NULL, OPT_WRITE },
        { "keyType", required_argument, NULL, OPT_KEY_TYPE },
        CLI_OPTIONS_COMMON,
        {},
};

static const CliCommand cmd_mint = {
        .name = "x509 mint",
        .synopsis = "Mints an X.509-SVID; the private key is generated locally.",
        .options_help =
                "  -spiffeID ID            SPIFFE ID of the X.509-SVID (required)\n"
                "  -ttl TTL                Lifetime: seconds or a duration such as 1h\n"
                "                          (default: the server's)\n"
                "  -dns NAME               DNS name to include; repeat for more\n"
                "  -write DIR              Write svid.pem, key.pem (0600) and bundle.pem into "
                "DIR\n"
                "                          instead of printing them\n"
                "  -keyType TYPE           ec-p256, ec-p384, rsa-2048 or rsa-4096 (default "
                "ec-p256)\n",
        .options = mint_options,
};

typedef struct MintArgs {
        CliCommon common;
        const char *spiffe_id, *write_dir;
        int32_t ttl;
        CliStrv dns_names;
        SigilKeyType key_type;
} MintArgs;

static void mint_args_done(MintArgs *a) {
        cli_strv_done(&a->dns_names);
}

static void x509_stack_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}

/* Free a NUL-terminated secret after wiping it. */
static void secret_freep(char **s) {
        if (!*s)
                return;
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
}

static int mint_arg(MintArgs *a, int c, const char *v) {
        SigilErr e = {};

        switch (c) {
        case OPT_SPIFFE_ID:
                if (cli_check_spiffe_id("-spiffeID", v, &e) < 0)
                        return cli_usage_error(&cmd_mint, "%s", e.msg);
                a->spiffe_id = v;
                return CLI_EXIT_OK;
        case OPT_TTL:
                if (cli_parse_ttl(v, &a->ttl, &e) < 0)
                        return cli_usage_error(&cmd_mint, "invalid -ttl '%s': %s", v, e.msg);
                return CLI_EXIT_OK;
        case OPT_DNS:
                if (isempty(v))
                        return cli_usage_error(&cmd_mint, "-dns is empty");
                return cli_strv_push(&a->dns_names, v) < 0 ? cli_fail("out of memory") : 0;
        case OPT_WRITE:
                a->write_dir = v;
                return CLI_EXIT_OK;
        case OPT_KEY_TYPE:
                a->key_type = sigil_key_type_from_string(v);
                if (a->key_type < 0)
                        return cli_usage_error(&cmd_mint, "invalid -keyType '%s': must be "
                                                          "ec-p256, ec-p384, rsa-2048 or "
                                                          "rsa-4096", v);
                return CLI_EXIT_OK;
        }
        return cli_usage_error(&cmd_mint, "unexpected flag");
}

static bool mint_args_parse(int argc, char *argv[], MintArgs *a, int *ret_status) {
        struct stat st;
        CliParser p;
        int c;

        a->key_type = SIGIL_KEY_EC_P256;
        cli_parser_init(&p, &cmd_mint, &a->common, argc, argv);
        while ((c = cli_parser_next(&p)) > 0) {
                *ret_status = mint_arg(a, c, optarg);
                if (*ret_status != CLI_EXIT_OK)
                        return false;
        }
        *ret_status = p.exit_status;
        if (c != 0)
                return false;
        if (!a->spiffe_id) {
                *ret_status = cli_usage_error(&cmd_mint, "-spiffeID is required");
                return false;
        }
        if (a->write_dir && stat(a->write_dir, &st) < 0) {
                *ret_status = cli_fail("cannot write to '%s': %s", a->write_dir, strerror(errno));
                return false;
        }
        if (a->write_dir && !S_ISDIR(st.st_mode)) {
                *ret_status = cli_fail("cannot write to '%s': not a directory", a->write_dir);
                return false;
        }
        return true;
}

/* Parse DER certificates from the wire into a stack. */
static int certs_parse(ProtobufCBinaryData *ders, size_t n, STACK_OF(X509) **ret) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *s = sk_X509_new_null();

        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const unsigned char *p = ders[i].data;
                _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &p, (long) ders[i].len);

                if (!x || p != ders[i].data + ders[i].len)
                        return -EINVAL;
                if (sk_X509_push(s, x) <= 0)
                        return -ENOMEM;
                TAKE_PTR(x);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int check_leaf(X509 *leaf, const char *want, EVP_PKEY *key) {
        SigilSpiffeId id;
        SigilErr e = {};

        if (sigil_x509_spiffe_id(leaf, &id, &e) < 0)
                return cli_fail("sigil-server returned an invalid X.509-SVID: %s", e.msg);
        if (!streq(id.str, want))
                return cli_fail("sigil-server returned an X.509-SVID for '%s', not '%s'", id.str,
                                want);
        if (sigil_key_public_equal(X509_get0_pubkey(leaf), key) != 1)
                return cli_fail("sigil-server returned an X.509-SVID for another public key");
        return CLI_EXIT_OK;
}

typedef struct Minted {
        STACK_OF(X509) *chain;
        STACK_OF(X509) *roots;
        char *key_pem;          /* secret */
        uint8_t *key_der;       /* secret */
        size_t n_key_der;
} Minted;

static void minted_done(Minted *m) {
        x509_stack_freep(&m->chain);
        x509_stack_freep(&m->roots);
        secret_freep(&m->key_pem);
        if (m->key_der)
                OPENSSL_cleanse(m->key_der, m->n_key_der);
        free(m->key_der);
}

static int print_b64_array(STACK_OF(X509) *s) {
        for (int i = 0; i < sk_X509_num(s); i++) {
                _cleanup_(freep) char *b64 = NULL;
                unsigned char *der = NULL;
                int n = i2d_X509(sk_X509_value(s, i), &der);

                if (n <= 0 || base64_encode(der, (size_t) n, &b64) < 0) {
                        OPENSSL_free(der);
                        return -ENOMEM;
                }
                OPENSSL_free(der);
                printf("%s\"%s\"", i > 0 ? "," : "", b64);
        }
        return 0;
}

/*
 * JSON {"x509_svid": [...], "private_key": "...", "root_cas": [...]}, DER as
 * base64 (which needs no escaping), written by hand so the key never enters
 * a jansson string that would be freed unwiped.
 */
static int print_json(const Minted *m) {
        _cleanup_(secret_freep) char *key = NULL;

        if (base64_encode(m->key_der, m->n_key_der, &key) < 0)
                return cli_fail("out of memory");
        printf("{\"x509_svid\":[");
        if (print_b64_array(m->chain) < 0)
                return cli_fail("out of memory");
        printf("],\"private_key\":\"%s\",\"root_cas\":[", key);
        if (print_b64_array(m->roots) < 0)
                return cli_fail("out of memory");
        printf("]}\n");
        return CLI_EXIT_OK;
}

static int print_text(const Minted *m) {
        _cleanup_(freep) char *chain = NULL, *roots = NULL;

        if (sigil_x509_chain_to_pem(m->chain, &chain) < 0 ||
            sigil_x509_chain_to_pem(m->roots, &roots) < 0)
                return cli_fail("out of memory");
        printf("X509-SVID:\n%s\nPrivate key:\n%s\nRoot CAs:\n%s\n", chain, m->key_pem, roots);
        return CLI_EXIT_OK;
}

/* Write @data to @dir/@name; report it as text, or as key @key of @paths for JSON. */
static int write_one(const char *dir, const char *name, const char *what, const char *key,
                     const char *data, mode_t mode, CliOutput output, json_t *paths) {
        _cleanup_(freep) char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return cli_fail("out of memory");
        r = write_file_atomic(path, data, strlen(data), mode);
        if (r < 0)
                return cli_fail("unable to write %s to '%s': %s", what, path, strerror(-r));
        if (output == CLI_OUTPUT_TEXT)
                printf("%s written to %s\n", what, path);
        else if (json_object_set_new(paths, key, cli_json_string(path)) < 0)
                return cli_fail("out of memory");
        return CLI_EXIT_OK;
}

static int write_files(const Minted *m, const char *dir, CliOutput output) {
        _cleanup_(json_decrefp) json_t *paths = json_object();
        _cleanup_(freep) char *chain = NULL, *roots = NULL;
        int r;

        if (!paths || sigil_x509_chain_to_pem(m->chain, &chain) < 0 ||
            sigil_x509_chain_to_pem(m->roots, &roots) < 0)
                return cli_fail("out of memory");
        r = write_one(dir, "svid.pem", "X509-SVID", "x509_svid", chain, 0644, output, paths);
        if (r == CLI_EXIT_OK)
                r = write_one(dir, "key.pem", "Private key", "private_key", m->key_pem, 0600,
                              output, paths);
        if (r == CLI_EXIT_OK)
                r = write_one(dir, "bundle.pem", "Root CAs", "root_cas", roots, 0644, output,
                              paths);
        if (r == CLI_EXIT_OK && output == CLI_OUTPUT_JSON)
                r = cli_print_json(json_incref(paths));
        return r;
}

static int mint_call(CliConn *conn, const MintArgs *a, EVP_PKEY *key, Minted *out) {
        Sigil__Admin__V1__MintX509SVIDRequest req = SIGIL__ADMIN__V1__MINT_X509_SVIDREQUEST__INIT;
        Sigil__Admin__V1__MintX509SVIDResponse *resp;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(freep) uint8_t *csr = NULL;
        size_t n_csr;
        int r;

        if (sigil_csr_make(key, &csr, &n_csr) < 0)
                return cli_fail("unable to generate CSR");
        req.csr = (ProtobufCBinaryData) { .len = n_csr, .data = csr };
        req.spiffe_id = (char *) a->spiffe_id;
        req.ttl = a->ttl;
        req.dns_names = a->dns_names.items;
        req.n_dns_names = a->dns_names.n;
        r = cli_call(conn, ADMIN_SVID_MINT_X509, &req.base,
                     &sigil__admin__v1__mint_x509_svidresponse__descriptor, "unable to mint SVID",
                     &m);
        if (r != CLI_EXIT_OK)
                return r;
        resp = (Sigil__Admin__V1__MintX509SVIDResponse *) m;
        if (resp->n_cert_chain == 0)
                return cli_fail("server response missing SVID chain");
        if (certs_parse(resp->cert_chain, resp->n_cert_chain, &out->chain) < 0)
                return cli_fail("sigil-server returned an SVID chain that does not parse");
        r = check_leaf(sk_X509_value(out->chain, 0), a->spiffe_id, key);
        if (r == CLI_EXIT_OK)
                cli_warn_capped("X509-SVID", a->ttl, resp->expires_at);
        return r;
}

static int roots_call(CliConn *conn, Minted *out) {
        Sigil__Admin__V1__GetBundleRequest req = SIGIL__ADMIN__V1__GET_BUNDLE_REQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *m = NULL;
        _cleanup_(freep) ProtobufCBinaryData *ders = NULL;
        AdminBundle *b;
        int r;

        r = cli_call(conn, ADMIN_BUNDLE_GET, &req.base, &sigil__admin__v1__bundle__descriptor,
                     "unable to get bundle", &m);
        if (r != CLI_EXIT_OK)
                return r;
        b = (AdminBundle *) m;
        if (b->n_x509_authorities == 0)
                return cli_fail("server response missing X509 Authorities");
        ders = new0(ProtobufCBinaryData, b->n_x509_authorities);
        if (!ders)
                return cli_fail("out of memory");
        for (size_t i = 0; i < b->n_x509_authorities; i++)
                ders[i] = b->x509_authorities[i]->asn1;
        if (certs_parse(ders, b->n_x509_authorities, &out->roots) < 0)
                return cli_fail("sigil-server returned X.509 authorities that do not parse");
        return CLI_EXIT_OK;
}

static int x509_mint(int argc, char *argv[]) {
        _cleanup_(mint_args_done) MintArgs a = {};
        _cleanup_(minted_done) Minted m = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(cli_conn_freep) CliConn *conn = NULL;
        int r;

        if (!mint_args_parse(argc, argv, &a, &r))
                return r;
        r = cli_connect(a.common.socket_path, &conn);
        if (r != CLI_EXIT_OK)
                return r;
        if (sigil_key_generate(a.key_type, &key) < 0)
                return cli_fail("unable to generate key (%s)",
                                sigil_key_type_to_string(a.key_type));
        r = mint_call(conn, &a, key, &m);
        if (r == CLI_EXIT_OK)
                r = roots_call(conn, &m);
        if (r != CLI_EXIT_OK)
                return r;
        if (sigil_key_to_pkcs8_pem(key, &m.key_pem) < 0 ||
            sigil_key_to_pkcs8_der(key, &m.key_der, &m.n_key_der) < 0)
                return cli_fail("unable to encode the private key");
        if (a.write_dir)
                return write_files(&m, a.write_dir, a.common.output);
        return a.common.output == CLI_OUTPUT_JSON ? print_json(&m) : print_text(&m);
}

static const CliVerb x509_verbs[] = {
        { "mint", x509_mint, "Mint an X.509-SVID" },
};

int cli_x509(int argc, char *argv[]) {
        return cli_dispatch(x509_verbs, ELEMENTSOF(x509_verbs), argc, argv);
}
