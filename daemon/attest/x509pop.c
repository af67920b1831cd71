/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509pop challenges (see x509pop.h). Pending challenges live in memory
 * only: a server restart invalidates them, which costs an agent one retry.
 * The presented chain is verified when the challenge is issued and again
 * (time may have passed) when the proof arrives.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "hashmap.h"
#include "hex.h"
#include "sigil/bundle.h"
#include "sigil/log.h"
#include "ssl-util.h"
#include "x509pop.h"

typedef struct Pending {
        uint8_t nonce[SIGIL_X509POP_NONCE_LEN];
        STACK_OF(X509) *chain;
        uint64_t expires_at;
} Pending;

struct X509Pop {
        STACK_OF(X509) *cas;
        pthread_mutex_t lock;
        Hashmap *pending;       /* challenge ID -> Pending* */
};

static void pending_free(void *p) {
        Pending *c = p;

        if (!c)
                return;
        sk_X509_pop_free(c->chain, X509_free);
        free(c);
}

int x509pop_new(const char *ca_bundle_path, X509Pop **ret, SigilErr *reterr) {
        _cleanup_(freep) char *pem = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        X509Pop *p;
        size_t n;
        int r;

        r = read_full_file(ca_bundle_path, 4u * 1024u * 1024u, &pem, &n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", ca_bundle_path,
                                     strerror(-r));
        r = sigil_bundle_from_pem("x509pop.invalid", pem, n, &b, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", ca_bundle_path);
        p = new0(X509Pop, 1);
        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        p->cas = TAKE_PTR(b->x509_authorities);
        p->pending = hashmap_new();
        if (!p->pending) {
                x509pop_free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

X509Pop *x509pop_free(X509Pop *p) {
        if (!p)
                return NULL;
        hashmap_free(p->pending, pending_free);
        sk_X509_pop_free(p->cas, X509_free);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

/* A stack of borrowed certificates: free the stack, not its members. */
static void sk_X509_shallow_freep(STACK_OF(X509) **p) {
        sk_X509_free(*p);
}

/* Verify @chain (leaf first) to the node CAs at @now; on success @ret_path gets the verified path. */
static int verify_chain(X509Pop *p, STACK_OF(X509) *chain, uint64_t now,
                        STACK_OF(X509) **ret_path, SigilErr *reterr) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        _cleanup_(sk_X509_shallow_freep) STACK_OF(X509) *untrusted = sk_X509_dup(chain);
        X509 *leaf = sk_X509_value(chain, 0);

        if (!store || !ctx || !untrusted)
                return -ENOMEM;
        (void) sk_X509_shift(untrusted);        /* the leaf is not its own intermediate */
        for (int i = 0; i < sk_X509_num(p->cas); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(p->cas, i)) != 1)
                        return -ENOMEM;
        if (X509_check_ca(leaf) != 0)
                return sigil_err_set(reterr, -EINVAL, "the node certificate is a CA");
        if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
                return -ENOMEM;
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
        X509_STORE_CTX_set_time(ctx, 0, (time_t) now);
        if (X509_verify_cert(ctx) != 1)
                return sigil_err_set(reterr, -EINVAL,
                                     "node certificate does not chain to the x509pop CAs: %s",
                                     X509_verify_cert_error_string(
                                             X509_STORE_CTX_get_error(ctx)));
        if (ret_path) {
                *ret_path = X509_STORE_CTX_get1_chain(ctx);
                if (!*ret_path)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_chain(const uint8_t *const *certs, const size_t *n_certs, size_t n,
                       STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();

        if (!chain)
                return -ENOMEM;
        if (n == 0 || n > X509POP_CHAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "expected 1 to %d certificates",
                                     X509POP_CHAIN_MAX);
        for (size_t i = 0; i < n; i++) {
                const unsigned char *q = certs[i];
                X509 *c = n_certs[i] > 0 ? d2i_X509(NULL, &q, (long) n_certs[i]) : NULL;

                if (!c || q != certs[i] + n_certs[i]) {
                        X509_free(c);
                        return sigil_err_set(reterr, -EINVAL, "certificate %zu does not parse",
                                             i);
                }
                if (sk_X509_push(chain, c) <= 0) {
                        X509_free(c);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(chain);
        return 0;
}

static void prune_locked(X509Pop *p, uint64_t now) {
        for (;;) {
                HashmapIter it = HASHMAP_ITER_INIT;
                const char *key, *stale = NULL;
                void *v;

                while (!stale && hashmap_next(p->pending, &it, &key, &v))
                        if (((Pending *) v)->expires_at <= now)
                                stale = key;
                if (!stale)
                        return;
                pending_free(hashmap_remove(p->pending, stale));
        }
}

int x509pop_challenge(X509Pop *p, const uint8_t *const *certs, const size_t *n_certs, size_t n,
                      uint64_t now, char *ret_id, uint8_t ret_nonce[SIGIL_X509POP_NONCE_LEN],
                      SigilErr *reterr) {
        Pending *c = NULL;
        uint8_t raw[X509POP_CHALLENGE_ID_LEN / 2];
        int r;

        c = new0(Pending, 1);
        if (!c)
                return -ENOMEM;
        r = parse_chain(certs, n_certs, n, &c->chain, reterr);
        if (r == 0)
                r = verify_chain(p, c->chain, now, NULL, reterr);
        if (r == 0 && (RAND_bytes(c->nonce, sizeof(c->nonce)) != 1 ||
                       RAND_bytes(raw, sizeof(raw)) != 1))
                r = -EIO;
        if (r < 0) {
                pending_free(c);
                return r;
        }
        (void) hex_encode(raw, sizeof(raw), ret_id, 2 * sizeof(raw) + 1);
        c->expires_at = now + X509POP_CHALLENGE_TTL_SEC;
        memcpy(ret_nonce, c->nonce, SIGIL_X509POP_NONCE_LEN);

        pthread_mutex_lock(&p->lock);
        if (hashmap_size(p->pending) >= X509POP_PENDING_MAX)
                prune_locked(p, now);
        r = hashmap_size(p->pending) >= X509POP_PENDING_MAX ? -EBUSY :
            hashmap_put(p->pending, ret_id, c, NULL) < 0   ? -ENOMEM : 0;
        pthread_mutex_unlock(&p->lock);
        if (r < 0) {
                pending_free(c);
                return sigil_err_set(reterr, r, "too many pending x509pop challenges");
        }
        return 0;
}

static int fingerprint(X509 *c, char out[41]) {
        uint8_t md[20];
        unsigned n = 0;

        if (X509_digest(c, EVP_sha1(), md, &n) != 1 || n != sizeof(md))
                return -EIO;
        (void) hex_encode(md, sizeof(md), out, 41);
        return 0;
}

static int add_san_selectors(X509 *leaf, SigilSelectorSet *sels) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *sans =
                X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
        int r = 0;

        for (int i = 0; sans && r == 0 && i < sk_GENERAL_NAME_num(sans); i++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
                const char *kind = g->type == GEN_DNS ? "san:dns:" :
                                   g->type == GEN_URI ? "san:uri:" : NULL;
                char value[1100];
                const ASN1_IA5STRING *s = g->d.ia5;

                if (!kind || s->length <= 0 || s->length > 1000 ||
                    memchr(s->data, '\0', (size_t) s->length))
                        continue;
                (void) snprintf(value, sizeof(value), "%s%.*s", kind, s->length, s->data);
                r = sigil_selector_set_add(sels, "x509pop", value, NULL);
                if (r == -EINVAL)
                        r = 0;  /* an odd SAN makes no selector, not a failure */
        }
        return r;
}

static int build_selectors(X509 *leaf, STACK_OF(X509) *path, X509PopResult *ret) {
        char buf[600], fp[41];
        int r = 0;

        if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, buf, 256) >
            0) {
                char v[300];

                (void) snprintf(v, sizeof(v), "subject:cn:%s", buf);
                if (sigil_selector_set_add(&ret->selectors, "x509pop", v, NULL) == -ENOMEM)
                        return -ENOMEM;
        }
        for (int i = 1; r == 0 && i < sk_X509_num(path); i++) {
                r = fingerprint(sk_X509_value(path, i), fp);
                if (r == 0) {
                        (void) snprintf(buf, sizeof(buf), "ca:fingerprint:%s", fp);
                        r = sigil_selector_set_add(&ret->selectors, "x509pop", buf, NULL);
                }
        }
        if (r == 0) {
                const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
                char hexsn[100] = "";

                (void) hex_encode(sn->data, (size_t) sn->length, hexsn, 81);
                (void) snprintf(buf, sizeof(buf), "serialnumber:%s", hexsn);
                r = sigil_selector_set_add(&ret->selectors, "x509pop", buf, NULL);
        }
        return r == 0 ? add_san_selectors(leaf, &ret->selectors) : r;
}

int x509pop_verify(X509Pop *p, const char *id, const uint8_t *sig, size_t n_sig,
                   const uint8_t *csr, size_t n_csr, uint64_t now, X509PopResult *ret,
                   SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *path = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        X509PopResult res = {};
        Pending *c;
        X509 *leaf;
        int r;

        pthread_mutex_lock(&p->lock);
        c = id ? hashmap_remove(p->pending, id) : NULL;
        pthread_mutex_unlock(&p->lock);
        if (!c)
                return sigil_err_set(reterr, -ENOENT, "unknown or already used challenge");
        leaf = sk_X509_value(c->chain, 0);
        if (c->expires_at <= now)
                r = sigil_err_set(reterr, -ETIME, "challenge expired");
        else if (!(pub = X509_get_pubkey(leaf)))
                r = sigil_err_set(reterr, -EKEYREJECTED, "node certificate has no usable key");
        else
                r = sigil_x509pop_verify(pub, c->nonce, csr, n_csr, sig, n_sig, reterr);
        if (r == 0)
                r = verify_chain(p, c->chain, now, &path, reterr);
        if (r == 0)
                r = fingerprint(leaf, res.fingerprint);
        if (r == 0)
                r = build_selectors(leaf, path, &res);
        if (r == 0)
                (void) snprintf(res.agent_path, sizeof(res.agent_path), "x509pop/%s",
                                res.fingerprint);
        pending_free(c);
        if (r < 0) {
                sigil_selector_set_done(&res.selectors);
                return r;
        }
        *ret = res;
        return 0;
}
