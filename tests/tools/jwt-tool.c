/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt-tool: a thin command-line face of libsigil's JWT-SVID and bundle code,
 * so that tools not written in C (tests/interop/test-jwcrypto.py) can check
 * what libsigil signs and emits, and feed it tokens of their own.
 *
 *   jwt-tool keygen ALG KEY.pem
 *   jwt-tool sign KEY.pem KID ALG SUB TTL_SEC AUD [AUD...]
 *   jwt-tool jwks [--spiffe] TD KID=KEY.pem [KID=KEY.pem...]
 *   jwt-tool verify [--jwks] BUNDLE.json TD AUD TOKEN|-
 *
 * verify reads BUNDLE.json as a SPIFFE bundle, or with --jwks as a plain JWK
 * Set (no guessing: a plain JWKS is also a valid SPIFFE bundle, one whose
 * keys are all skipped for lack of "use"); it prints "OK <sub> <alg>
 * <claims>", or "ERROR <reason>" and exits 1. Test keys only: key files are
 * written without ceremony.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json-util.h"
#include "sigil/clock.h"
#include "sigil/jwtsvid.h"
#include "ssl-util.h"

static EVP_PKEY *keygen_for(SigilJwtAlg alg) {
        switch (alg) {
        case SIGIL_JWT_ES256:
                return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        case SIGIL_JWT_ES384:
                return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        case SIGIL_JWT_ES512:
                return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        default:
                return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        }
}

static EVP_PKEY *load_key(const char *path) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_file(path, "r");
        EVP_PKEY *k;

        if (!bio) {
                fprintf(stderr, "cannot open '%s'\n", path);
                return NULL;
        }
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!k)
                fprintf(stderr, "'%s' holds no private key\n", path);
        return k;
}

static SigilJwtAlg parse_alg(const char *s) {
        SigilJwtAlg alg = sigil_jwt_alg_from_string(s);

        if (alg < 0)
                fprintf(stderr, "unknown algorithm '%s'\n", s);
        return alg;
}

static int cmd_keygen(int argc, char **argv) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        SigilJwtAlg alg;

        if (argc != 3)
                return 2;
        alg = parse_alg(argv[1]);
        if (alg < 0)
                return 2;
        k = keygen_for(alg);
        bio = BIO_new_file(argv[2], "w");
        if (!k || !bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) {
                fprintf(stderr, "cannot write '%s'\n", argv[2]);
                return 1;
        }
        return 0;
}

static int cmd_sign(int argc, char **argv) {
        _cleanup_(sigil_jwt_signer_freep) SigilJwtSigner *s = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(freep) char *token = NULL;
        SigilSpiffeId sub;
        SigilErr err = {};
        SigilJwtAlg alg;
        uint64_t now = sigil_now_sec();

        if (argc < 7)
                return 2;
        k = load_key(argv[1]);
        alg = parse_alg(argv[3]);
        if (!k || alg < 0)
                return 1;
        if (sigil_spiffeid_from_string(argv[4], &sub, &err) != 0 ||
            sigil_jwt_signer_new(k, argv[2], alg, &s, &err) != 0) {
                fprintf(stderr, "ERROR %s\n", err.msg);
                return 1;
        }
        SigilJwtClaims c = {
                .sub = &sub,
                .aud = (const char *const *) argv + 6,
                .n_aud = (size_t) (argc - 6),
                .iat = now,
                .exp = now + strtoull(argv[5], NULL, 10),
        };
        if (sigil_jwt_signer_sign(s, &c, &token, &err) != 0) {
                fprintf(stderr, "ERROR %s\n", err.msg);
                return 1;
        }
        printf("%s\n", token);
        return 0;
}

static int cmd_jwks(int argc, char **argv) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *out = NULL;
        bool spiffe = argc > 1 && streq(argv[1], "--spiffe");
        int i = spiffe ? 2 : 1, r;

        if (argc < i + 2 || sigil_bundle_new(argv[i], &b) != 0)
                return 2;
        for (i++; i < argc; i++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
                char *eq = strchr(argv[i], '=');

                if (!eq)
                        return 2;
                *eq = '\0';
                k = load_key(eq + 1);
                if (!k || sigil_bundle_add_jwt_authority(b, argv[i], k, 0) != 0)
                        return 1;
        }
        r = spiffe ? sigil_bundle_to_spiffe_json(b, &out) : sigil_bundle_to_jwt_jwks_json(b, &out);
        if (r != 0)
                return 1;
        printf("%s\n", out);
        return 0;
}

static int read_token(const char *arg, char **ret) {
        size_t n = 0, size = 0;
        char *buf = NULL;
        int c;

        if (!streq(arg, "-")) {
                *ret = strdup(arg);
                return *ret ? 0 : -ENOMEM;
        }
        while ((c = getchar()) != EOF && c != '\n') {
                if (n + 1 >= size) {
                        char *p = realloc(buf, size = size ? size * 2 : 1024);

                        if (!p) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = p;
                }
                buf[n++] = (char) c;
        }
        if (!buf)
                return -EINVAL;
        buf[n] = '\0';
        *ret = buf;
        return 0;
}

static int cmd_verify(int argc, char **argv) {
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        _cleanup_(freep) char *json = NULL, *token = NULL, *claims = NULL;
        SigilBundleSet set = {};
        SigilBundle *b = NULL;
        const char *aud[1];
        bool jwks = argc > 1 && streq(argv[1], "--jwks");
        SigilErr err = {};
        size_t n;
        int r;

        if (jwks) {
                argc--;
                argv++;
        }
        if (argc != 5)
                return 2;
        if (read_full_file(argv[1], SIGIL_BUNDLE_JSON_MAX, &json, &n) < 0 ||
            read_token(argv[4], &token) < 0) {
                fprintf(stderr, "cannot read bundle or token\n");
                return 1;
        }
        r = jwks ? sigil_bundle_from_jwks_json(argv[2], json, n, &b, &err)
                 : sigil_bundle_from_spiffe_json(argv[2], json, n, &b, &err);
        if (r != 0) {
                printf("ERROR bundle: %s\n", err.msg);
                return 1;
        }
        if (sigil_bundle_set_put(&set, b) < 0) {
                sigil_bundle_free(b);
                return 1;
        }
        aud[0] = argv[3];
        r = sigil_jwtsvid_validate(token, strlen(token), &set, aud, 1, sigil_now_sec(), &svid,
                                   &err);
        sigil_bundle_set_done(&set);
        if (r != 0) {
                printf("ERROR %s\n", err.msg);
                return 1;
        }
        claims = json_dumps(svid->claims, JSON_COMPACT | JSON_SORT_KEYS);
        printf("OK %s %s %s\n", svid->id.str, sigil_jwt_alg_to_string(svid->alg),
               claims ? claims : "{}");
        return 0;
}

static int run(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } cmds[] = {
                { "keygen", cmd_keygen },
                { "sign", cmd_sign },
                { "jwks", cmd_jwks },
                { "verify", cmd_verify },
        };

        if (argc >= 2)
                for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
                        if (streq(argv[1], cmds[i].name))
                                return cmds[i].fn(argc - 1, argv + 1);
        return 2;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);

        if (r == 2)
                fprintf(stderr,
                        "usage: jwt-tool keygen ALG KEY.pem\n"
                        "       jwt-tool sign KEY.pem KID ALG SUB TTL_SEC AUD [AUD...]\n"
                        "       jwt-tool jwks [--spiffe] TD KID=KEY.pem...\n"
                        "       jwt-tool verify [--jwks] BUNDLE.json TD AUD TOKEN|-\n");
        return r;
}
