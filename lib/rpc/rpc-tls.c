/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mutual TLS for sigil's gRPC glue: who the peer is, by SPIFFE ID.
 *
 * gRPC does the TLS; everything that decides trust is here. gRPC's own
 * certificate checks are off on both sides (the server requests but does not
 * verify, the client skips server verification and the hostname check) and
 * an external verifier validates the peer's chain as an X.509-SVID against
 * the bundle set of the moment. The facts about gRPC 1.51 this relies on are
 * in rpc-tls.h.
 *
 * Invariants:
 * - A handshake is accepted only if the peer sent no certificate (server
 *   side only) or sigil_x509svid_verify() accepted its chain against the
 *   bundles current at that moment (and, client side, the SPIFFE ID is the
 *   expected one), except in insecure-bootstrap credentials, which say so in
 *   a warning on every handshake.
 * - <dir>/svid.pem only ever holds a complete key and chain that match, and
 *   each version has a larger mtime than the one before (see rpc-tls.h).
 * - Bundle sets are immutable snapshots, replaced whole under the lock and
 *   reference-counted, so a verification never sees half an update.
 * - Refusals are logged (rate-limited) with the SPIFFE ID the peer claimed
 *   and the reason; key material is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "rpc-tls.h"
#include "sigil/clock.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define SVID_FILE "svid.pem"
#define BUNDLE_FILE "bundle.pem"
#define REFUSAL_LOG_WINDOW_USEC (10 * USEC_PER_SEC)
#define REFUSAL_LOG_BURST 20u

typedef struct BundleSnapshot {
        atomic_uint n_ref;
        SigilBundleSet set;
} BundleSnapshot;

struct RpcTlsIdentity {
        atomic_uint n_ref;
        char *dir;
        char *svid_path;
        char *bundle_path;

        /* Serialises the setters' file writes, so that handshakes never wait for an fsync. */
        pthread_mutex_t write_lock;
        int64_t svid_mtime;             /* mtime of the last svid.pem written */

        pthread_mutex_t lock;           /* guards everything below */
        bool has_svid;
        SigilSpiffeId svid_id;
        bool has_bundle_file;
        BundleSnapshot *bundles;        /* NULL until the first rpc_tls_identity_set_bundles() */
        /* File watchers by [watches svid.pem][watches bundle.pem], made on first use. */
        grpc_tls_certificate_provider *providers[2][2];
        uint64_t refusal_window_start;
        unsigned n_refusals_logged;
        unsigned n_refusals_suppressed;
};

typedef enum VerifyMode {
        VERIFY_CLIENT,                  /* server side: anonymous or a valid SVID */
        VERIFY_SERVER,                  /* client side: a valid SVID with the expected ID */
        VERIFY_NOTHING,                 /* client side, insecure bootstrap */
} VerifyMode;

/* gRPC hands @ext.user_data (this struct) back to every callback; destruct frees it. */
typedef struct Verifier {
        grpc_tls_certificate_verifier_external ext;
        RpcTlsIdentity *identity;
        VerifyMode mode;
        SigilSpiffeId expected;
} Verifier;

static void bundle_snapshot_unref(BundleSnapshot *b) {
        if (!b || atomic_fetch_sub(&b->n_ref, 1) != 1)
                return;
        sigil_bundle_set_done(&b->set);
        free(b);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(BundleSnapshot *, bundle_snapshot_unref)

static int bundle_snapshot_new(const SigilBundleSet *bundles, BundleSnapshot **ret) {
        _cleanup_(bundle_snapshot_unrefp) BundleSnapshot *b = new0(BundleSnapshot, 1);
        int r;

        if (!b)
                return -ENOMEM;
        atomic_init(&b->n_ref, 1);
        for (size_t i = 0; i < bundles->n_bundles; i++) {
                SigilBundle *copy = NULL;

                r = sigil_bundle_copy(bundles->bundles[i], &copy);
                if (r < 0)
                        return r;
                r = sigil_bundle_set_put(&b->set, copy);
                if (r < 0) {
                        sigil_bundle_free(copy);
                        return r;
                }
        }
        *ret = TAKE_PTR(b);
        return 0;
}

/* ---- the peer's chain from PEM ---- */

/*
 * Append the CERTIFICATE blocks of @pem to @chain, leaving out any equal to @skip (gRPC puts
 * the leaf into the chain on the client side but not on the server side).
 */
static int chain_append_pem(STACK_OF(X509) *chain, const char *pem, X509 *skip,
                            SigilErr *reterr) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        size_t n = strlen(pem);
        int r;

        if (n > RPC_TLS_PEM_MAX)
                return sigil_err_set(reterr, -EINVAL, "certificate chain PEM too large");
        bio = BIO_new_mem_buf(pem, (int) n);
        if (!bio)
                return -ENOMEM;
        for (;;) {
                _cleanup_(pem_block_done) PemBlock b = {};
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *one = NULL;

                r = pem_read_strict(bio, false, &b);
                if (r == 0)
                        return 0;
                if (r < 0 || !streq(b.name, "CERTIFICATE"))
                        return sigil_err_set(reterr, -EINVAL, "malformed certificate PEM");
                r = sigil_x509_chain_from_der(b.data, (size_t) b.n_data, &one, reterr);
                if (r < 0)
                        return r;
                if (sk_X509_num(one) != 1)
                        return sigil_err_set(reterr, -EINVAL, "malformed certificate PEM");
                if (skip && X509_cmp(sk_X509_value(one, 0), skip) == 0)
                        continue;
                if (sk_X509_num(chain) >= SIGIL_X509_CHAIN_MAX)
                        return sigil_err_set(reterr, -EINVAL, "more than %d certificates",
                                             SIGIL_X509_CHAIN_MAX);
                if (!sk_X509_push(chain, sk_X509_value(one, 0)))
                        return -ENOMEM;
                (void) sk_X509_shift(one);      /* now owned by @chain */
        }
}

/* The peer's chain, leaf first, from the leaf's PEM and gRPC's chain PEM (may be NULL). */
static int peer_chain_from_pem(const char *leaf_pem, const char *chain_pem,
                               STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        int r;

        if (!chain)
                return -ENOMEM;
        r = chain_append_pem(chain, leaf_pem, NULL, reterr);
        if (r < 0)
                return r;
        if (sk_X509_num(chain) != 1)
                return sigil_err_set(reterr, -EINVAL, "expected one leaf certificate");
        if (chain_pem) {
                r = chain_append_pem(chain, chain_pem, sk_X509_value(chain, 0), reterr);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(chain);
        return 0;
}

/* Verify @chain as an X.509-SVID against @id's bundles of now. */
static int identity_verify_chain(RpcTlsIdentity *id, STACK_OF(X509) *chain,
                                 SigilSpiffeId *ret_id, SigilErr *reterr) {
        _cleanup_(bundle_snapshot_unrefp) BundleSnapshot *b = NULL;

        pthread_mutex_lock(&id->lock);
        b = id->bundles;
        if (b)
                atomic_fetch_add(&b->n_ref, 1);
        pthread_mutex_unlock(&id->lock);
        if (!b)
                return sigil_err_set(reterr, -ENOENT, "no trust bundle");
        return sigil_x509svid_verify(chain, &b->set, sigil_now_sec(), ret_id, reterr);
}

/* ---- files ---- */

/* "@a@sep@b", malloc'd, or NULL. */
static char *strjoin3(const char *a, const char *sep, const char *b) {
        size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
        char *p = malloc(n);

        if (p)
                (void) snprintf(p, n, "%s%s%s", a, sep, b);
        return p;
}

static int fsync_dir(const char *dir) {
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/*
 * Replace @path with @data (mode 0600), giving it the modification time @mtime before it
 * appears under @path.
 */
static int write_file_with_mtime(const char *dir, const char *path, const void *data, size_t n,
                                 int64_t mtime) {
        _cleanup_(freep) char *tmp = strjoin3(path, ".", "new");
        struct timespec ts[2] = {
                { .tv_nsec = UTIME_NOW },
                { .tv_sec = (time_t) mtime },
        };
        int r;

        if (!tmp)
                return -ENOMEM;
        r = write_file_atomic(tmp, data, n, 0600);
        if (r >= 0 && utimensat(AT_FDCWD, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return fsync_dir(dir);
}

/* The PEM chain followed by the PKCS#8 key, in a buffer the caller wipes and frees. */
static int svid_file_contents(EVP_PKEY *key, STACK_OF(X509) *chain, char **ret, size_t *ret_n) {
        _cleanup_(freep) char *chain_pem = NULL;
        char *key_pem = NULL, *out;
        size_t n_chain, n_key;
        int r;

        r = sigil_x509_chain_to_pem(chain, &chain_pem);
        if (r < 0)
                return r;
        r = sigil_key_to_pkcs8_pem(key, &key_pem);
        if (r < 0)
                return r;
        n_chain = strlen(chain_pem);
        n_key = strlen(key_pem);
        out = malloc(n_chain + n_key + 1);
        if (out) {
                memcpy(out, chain_pem, n_chain);
                memcpy(out + n_chain, key_pem, n_key + 1);
        }
        clear_free(key_pem, n_key);
        if (!out)
                return -ENOMEM;
        *ret = out;
        *ret_n = n_chain + n_key;
        return 0;
}

/* ---- the identity ---- */

int rpc_tls_identity_new(const char *dir, RpcTlsIdentity **ret) {
        RpcTlsIdentity *id;
        struct stat st;
        int r;

        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        if (stat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return -EPERM;

        id = new0(RpcTlsIdentity, 1);
        if (!id)
                return -ENOMEM;
        atomic_init(&id->n_ref, 1);
        pthread_mutex_init(&id->write_lock, NULL);
        pthread_mutex_init(&id->lock, NULL);
        id->dir = strdup(dir);
        id->svid_path = strjoin3(dir, "/", SVID_FILE);
        id->bundle_path = strjoin3(dir, "/", BUNDLE_FILE);
        if (!id->dir || !id->svid_path || !id->bundle_path) {
                rpc_tls_identity_unref(id);
                return -ENOMEM;
        }
        /* Never serve an earlier run's key; a later write's mtime must exceed the old one's. */
        if (stat(id->svid_path, &st) == 0)
                id->svid_mtime = (int64_t) st.st_mtime;
        (void) unlink(id->svid_path);
        (void) unlink(id->bundle_path);
        *ret = id;
        return 0;
}

RpcTlsIdentity *rpc_tls_identity_ref(RpcTlsIdentity *id) {
        atomic_fetch_add(&id->n_ref, 1);
        return id;
}

RpcTlsIdentity *rpc_tls_identity_unref(RpcTlsIdentity *id) {
        if (!id || atomic_fetch_sub(&id->n_ref, 1) != 1)
                return NULL;
        for (size_t i = 0; i < 2; i++)
                for (size_t k = 0; k < 2; k++)
                        if (id->providers[i][k])
                                grpc_tls_certificate_provider_release(id->providers[i][k]);
        bundle_snapshot_unref(id->bundles);
        pthread_mutex_destroy(&id->write_lock);
        pthread_mutex_destroy(&id->lock);
        free(id->dir);
        free(id->svid_path);
        free(id->bundle_path);
        free(id);
        return NULL;
}

static int svid_check(EVP_PKEY *key, STACK_OF(X509) *chain, SigilSpiffeId *ret_id,
                      SigilErr *reterr) {
        X509 *leaf;
        int r;

        if (!key || !chain || sk_X509_num(chain) < 1 || sk_X509_num(chain) > SIGIL_X509_CHAIN_MAX)
                return sigil_err_set(reterr, -EINVAL, "need a key and 1 to %d certificates",
                                     SIGIL_X509_CHAIN_MAX);
        leaf = sk_X509_value(chain, 0);
        r = sigil_x509_spiffe_id(leaf, ret_id, reterr);
        if (r < 0)
                return r;
        if (sigil_key_public_equal(X509_get0_pubkey(leaf), key) != 1)
                return sigil_err_set(reterr, -EINVAL, "the private key does not match the "
                                                      "certificate of '%s'", ret_id->str);
        return 0;
}

int rpc_tls_identity_set_svid(RpcTlsIdentity *id, EVP_PKEY *key, STACK_OF(X509) *chain,
                              SigilErr *reterr) {
        char *data = NULL;
        SigilSpiffeId sid;
        int64_t mtime;
        size_t n = 0;
        int r;

        r = svid_check(key, chain, &sid, reterr);
        if (r < 0)
                return r;
        r = svid_file_contents(key, chain, &data, &n);
        if (r < 0)
                return r;

        pthread_mutex_lock(&id->write_lock);
        mtime = MAX((int64_t) sigil_now_sec(), id->svid_mtime + 1);
        r = write_file_with_mtime(id->dir, id->svid_path, data, n, mtime);
        if (r >= 0) {
                id->svid_mtime = mtime;
                pthread_mutex_lock(&id->lock);
                id->svid_id = sid;
                id->has_svid = true;
                pthread_mutex_unlock(&id->lock);
        }
        pthread_mutex_unlock(&id->write_lock);
        clear_free(data, n);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot write '%s'", id->svid_path);
        log_debug("TLS identity is now spiffe_id='%s'", sid.str);
        return 0;
}

int rpc_tls_identity_set_svid_pem(RpcTlsIdentity *id, const char *key_pem, const char *chain_pem,
                                  SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        if (!chain)
                return -ENOMEM;
        if (!key_pem || !chain_pem)
                return sigil_err_set(reterr, -EINVAL, "missing key or chain");
        r = sigil_key_from_pem(key_pem, strlen(key_pem), &key, reterr);
        if (r < 0)
                return r;
        r = chain_append_pem(chain, chain_pem, NULL, reterr);
        if (r < 0)
                return r;
        return rpc_tls_identity_set_svid(id, key, chain, reterr);
}

/* The X.509 authorities of every bundle, as PEM; NULL when there are none. */
static int bundles_to_pem(const SigilBundleSet *bundles, char **ret) {
        _cleanup_(sk_X509_freep) STACK_OF(X509) *all = sk_X509_new_null();

        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < bundles->n_bundles; i++) {
                STACK_OF(X509) *cas = bundles->bundles[i]->x509_authorities;

                for (int k = 0; k < sk_X509_num(cas); k++)
                        if (!sk_X509_push(all, sk_X509_value(cas, k)))
                                return -ENOMEM;
        }
        if (sk_X509_num(all) == 0) {
                *ret = NULL;
                return 0;
        }
        return sigil_x509_chain_to_pem(all, ret);
}

int rpc_tls_identity_set_bundles(RpcTlsIdentity *id, const SigilBundleSet *bundles) {
        _cleanup_(bundle_snapshot_unrefp) BundleSnapshot *b = NULL;
        _cleanup_(freep) char *pem = NULL;
        int r;

        r = bundle_snapshot_new(bundles, &b);
        if (r < 0)
                return r;
        r = bundles_to_pem(bundles, &pem);
        if (r < 0)
                return r;

        pthread_mutex_lock(&id->write_lock);
        /* The file only keeps gRPC off the system roots: with no authority, keep the old one. */
        if (pem)
                r = write_file_atomic(id->bundle_path, pem, strlen(pem), 0600);
        if (r >= 0) {
                BundleSnapshot *old;

                pthread_mutex_lock(&id->lock);
                id->has_bundle_file = id->has_bundle_file || pem;
                old = id->bundles;
                id->bundles = TAKE_PTR(b);
                b = old;
                pthread_mutex_unlock(&id->lock);
        }
        pthread_mutex_unlock(&id->write_lock);
        return r;
}

int rpc_tls_identity_get_spiffe_id(RpcTlsIdentity *id, SigilSpiffeId *ret) {
        int r = -ENOKEY;

        pthread_mutex_lock(&id->lock);
        if (id->has_svid) {
                *ret = id->svid_id;
                r = 0;
        }
        pthread_mutex_unlock(&id->lock);
        return r;
}

/* ---- handshake verification ---- */

/* Log a refusal, at most REFUSAL_LOG_BURST per window per identity. */
static void log_refusal(RpcTlsIdentity *id, const char *role, const char *claimed,
                        const char *reason) {
        uint64_t now = sigil_monotonic_usec();
        unsigned suppressed = 0;
        bool log;

        pthread_mutex_lock(&id->lock);
        if (now - id->refusal_window_start >= REFUSAL_LOG_WINDOW_USEC) {
                suppressed = id->n_refusals_suppressed;
                id->refusal_window_start = now;
                id->n_refusals_logged = id->n_refusals_suppressed = 0;
        }
        log = id->n_refusals_logged < REFUSAL_LOG_BURST;
        if (log)
                id->n_refusals_logged++;
        else
                id->n_refusals_suppressed++;
        pthread_mutex_unlock(&id->lock);

        if (suppressed > 0)
                log_warning("TLS handshake refusals: %u more not logged", suppressed);
        if (log)
                log_warning("Refused TLS %s: peer_spiffe_id='%s' reason='%s'", role, claimed,
                            reason);
}

/* The SPIFFE ID a peer's leaf claims, unverified, for log lines. */
static void claimed_spiffe_id(const char *leaf_pem, STACK_OF(X509) *chain, SigilSpiffeId *ret) {
        if (isempty(leaf_pem))
                (void) snprintf(ret->str, sizeof(ret->str), "(none)");
        else if (!chain || sigil_x509_spiffe_id(sk_X509_value(chain, 0), ret, NULL) < 0)
                (void) snprintf(ret->str, sizeof(ret->str), "(unreadable)");
}

/* The checks of @v's mode; 0 or negative with @reterr set. @chain is NULL without a cert. */
static int verifier_check(Verifier *v, STACK_OF(X509) *chain, SigilErr *reterr) {
        SigilSpiffeId sid;
        int r;

        if (!chain)
                return v->mode == VERIFY_SERVER ? sigil_err_set(reterr, -EINVAL, "no certificate")
                                                : 0;
        if (v->mode == VERIFY_NOTHING)
                return 0;
        r = identity_verify_chain(v->identity, chain, &sid, reterr);
        if (r < 0)
                return r;
        if (v->mode == VERIFY_SERVER && !streq(sid.str, v->expected.str))
                return sigil_err_set(reterr, -EINVAL, "SPIFFE ID is not the expected '%s'",
                                     v->expected.str);
        return 0;
}

static int verifier_verify(void *userdata, grpc_tls_custom_verification_check_request *request,
                           grpc_tls_on_custom_verification_check_done_cb callback,
                           void *callback_arg, grpc_status_code *ret_status,
                           char **ret_details) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        const char *leaf = request->peer_info.peer_cert;
        Verifier *v = userdata;
        const char *role = v->mode == VERIFY_CLIENT ? "client" : "server";
        SigilErr err = {};
        SigilSpiffeId claimed;
        int r = 0;

        if (!isempty(leaf))
                r = peer_chain_from_pem(leaf, request->peer_info.peer_cert_full_chain, &chain,
                                        &err);
        if (r >= 0)
                r = verifier_check(v, chain, &err);
        claimed_spiffe_id(leaf, chain, &claimed);
        if (r < 0) {
                if (r == -ENOMEM)
                        sigil_err_set(&err, r, "out of memory");
                log_refusal(v->identity, role, claimed.str, err.msg);
                *ret_status = GRPC_STATUS_UNAUTHENTICATED;
                *ret_details = gpr_strdup(err.msg);
                return 1;
        }
        if (v->mode == VERIFY_NOTHING)
                log_warning("insecure_bootstrap: server NOT verified, it claims "
                            "peer_spiffe_id='%s'", claimed.str);
        else
                log_debug("Accepted TLS %s: peer_spiffe_id='%s'", role,
                          chain ? claimed.str : "(anonymous)");
        *ret_status = GRPC_STATUS_OK;
        return 1;
}

/* Verification is synchronous: nothing is ever pending, so there is nothing to cancel. */
static void verifier_cancel(void *userdata, grpc_tls_custom_verification_check_request *request) {
}

static void verifier_destruct(void *userdata) {
        Verifier *v = userdata;

        rpc_tls_identity_unref(v->identity);
        free(v);
}

static grpc_tls_certificate_verifier *verifier_new(RpcTlsIdentity *id, VerifyMode mode,
                                                   const SigilSpiffeId *expected) {
        grpc_tls_certificate_verifier *gv;
        Verifier *v = new0(Verifier, 1);

        if (!v)
                return NULL;
        v->ext.user_data = v;
        v->ext.verify = verifier_verify;
        v->ext.cancel = verifier_cancel;
        v->ext.destruct = verifier_destruct;
        v->identity = rpc_tls_identity_ref(id);
        v->mode = mode;
        if (expected)
                v->expected = *expected;
        gv = grpc_tls_certificate_verifier_external_create(&v->ext);
        if (!gv)
                verifier_destruct(v);
        return gv;
}

/* ---- credentials ---- */

/* The file watcher for this combination of files, made on first use; lock held. */
static grpc_tls_certificate_provider *provider_get_locked(RpcTlsIdentity *id, bool svid,
                                                          bool bundle) {
        grpc_tls_certificate_provider **p = &id->providers[svid][bundle];

        if (!svid && !bundle)
                return NULL;
        if (!*p)
                *p = grpc_tls_certificate_provider_file_watcher_create(
                        svid ? id->svid_path : NULL, svid ? id->svid_path : NULL,
                        bundle ? id->bundle_path : NULL, RPC_TLS_REFRESH_SEC);
        return *p;
}

int rpc_tls_server_credentials(RpcTlsIdentity *id, grpc_server_credentials **ret) {
        grpc_tls_credentials_options *options;
        grpc_tls_certificate_provider *provider;
        grpc_tls_certificate_verifier *verifier;
        grpc_server_credentials *creds;

        bool svid;

        rpc_init();
        pthread_mutex_lock(&id->lock);
        svid = id->has_svid;
        provider = svid ? provider_get_locked(id, true, false) : NULL;
        pthread_mutex_unlock(&id->lock);
        if (!svid)
                return -ENOKEY;
        if (!provider)
                return -ENOMEM;
        verifier = verifier_new(id, VERIFY_CLIENT, NULL);
        if (!verifier)
                return -ENOMEM;
        options = grpc_tls_credentials_options_create();
        grpc_tls_credentials_options_set_certificate_provider(options, provider);
        grpc_tls_credentials_options_watch_identity_key_cert_pairs(options);
        grpc_tls_credentials_options_set_cert_request_type(
                options, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
        grpc_tls_credentials_options_set_certificate_verifier(options, verifier);
        grpc_tls_certificate_verifier_release(verifier);
        creds = grpc_tls_server_credentials_create(options);
        if (!creds)
                return -ENOMEM;
        *ret = creds;
        return 0;
}

static int client_credentials(RpcTlsIdentity *id, VerifyMode mode, const SigilSpiffeId *expected,
                              grpc_channel_credentials **ret) {
        grpc_tls_credentials_options *options;
        grpc_tls_certificate_provider *provider;
        grpc_tls_certificate_verifier *verifier;
        grpc_channel_credentials *creds;
        bool svid, bundle;

        rpc_init();
        pthread_mutex_lock(&id->lock);
        svid = id->has_svid;
        bundle = id->has_bundle_file;
        provider = provider_get_locked(id, svid, bundle);
        pthread_mutex_unlock(&id->lock);
        if ((svid || bundle) && !provider)
                return -ENOMEM;
        verifier = verifier_new(id, mode, expected);
        if (!verifier)
                return -ENOMEM;
        options = grpc_tls_credentials_options_create();
        if (provider)
                grpc_tls_credentials_options_set_certificate_provider(options, provider);
        if (svid)
                grpc_tls_credentials_options_watch_identity_key_cert_pairs(options);
        if (bundle)
                grpc_tls_credentials_options_watch_root_certs(options);
        grpc_tls_credentials_options_set_verify_server_cert(options, 0);
        grpc_tls_credentials_options_set_check_call_host(options, 0);
        grpc_tls_credentials_options_set_certificate_verifier(options, verifier);
        grpc_tls_certificate_verifier_release(verifier);
        creds = grpc_tls_credentials_create(options);
        if (!creds)
                return -ENOMEM;
        *ret = creds;
        return 0;
}

int rpc_tls_client_credentials(RpcTlsIdentity *id, const SigilSpiffeId *server_id,
                               grpc_channel_credentials **ret) {
        return client_credentials(id, VERIFY_SERVER, server_id, ret);
}

int rpc_tls_client_credentials_insecure_bootstrap(RpcTlsIdentity *id,
                                                  grpc_channel_credentials **ret) {
        return client_credentials(id, VERIFY_NOTHING, NULL, ret);
}

/* ---- per call ---- */

/* The chain the caller presented, leaf first; -ENOTCONN without one. */
static int call_peer_chain(RpcCall *call, STACK_OF(X509) **ret, SigilErr *reterr) {
        _cleanup_(freep) char *leaf = NULL, *rest = NULL;

        leaf = rpc_call_auth_property(call, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        if (isempty(leaf))
                return -ENOTCONN;
        rest = rpc_call_auth_property(call, GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
        return peer_chain_from_pem(leaf, rest, ret, reterr);
}

int rpc_call_peer_spiffe_id(RpcCall *call, SigilSpiffeId *ret) {
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(freep) char *leaf = NULL;
        int r;

        leaf = rpc_call_auth_property(call, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        if (isempty(leaf))
                return -ENOTCONN;
        r = sigil_x509_from_pem(leaf, strlen(leaf), &cert, NULL);
        if (r < 0)
                return r;
        return sigil_x509_spiffe_id(cert, ret, NULL);
}

int rpc_call_verify_peer(RpcCall *call, RpcTlsIdentity *id, SigilSpiffeId *ret_id,
                         SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        SigilSpiffeId sid;
        int r;

        r = call_peer_chain(call, &chain, reterr);
        if (r == -ENOTCONN || r == -ENOMEM)
                return r;
        if (r >= 0)
                r = identity_verify_chain(id, chain, &sid, reterr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EKEYREJECTED;
        if (ret_id)
                *ret_id = sid;
        return 0;
}
