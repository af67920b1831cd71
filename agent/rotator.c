/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SVID rotation (rotator.h). The BatchNewX509SVID messages are built and
 * read here and go no further: the cache receives checked DER and keys.
 *
 * A result is believed only after it passed the checks a relying party
 * would make, plus ours: the chain validates against our bundle now, the
 * leaf names the job's SPIFFE ID, and its key is the one we generated. A
 * chain from a CA the agent does not know yet (a rotation whose bundle
 * update is still on its way) is retried shortly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "rotator.h"
#include "schedule.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

struct Rotator {
        RotatorConfig cfg;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        bool wake;
        bool retry_now;                 /* reset @backoff before the next round */
        Backoff backoff;                /* whole-batch failures; rotator thread only */
        atomic_uint_fast64_t n_signed;
};

/* One job's key material while its batch is out. */
typedef struct Pending {
        EVP_PKEY *key;
        uint8_t *csr;
        size_t n_csr;
        uint8_t *pkcs8;                 /* the key as the cache keeps it; wiped when freed */
        size_t n_pkcs8;
} Pending;

static void pending_done(Pending *p, size_t n) {
        for (size_t i = 0; p && i < n; i++) {
                EVP_PKEY_free(p[i].key);
                free(p[i].csr);
                clear_free(p[i].pkcs8, p[i].n_pkcs8);
        }
        free(p);
}

static int pending_make(SigilKeyType type, Pending *p) {
        int r = sigil_key_generate(type, &p->key);

        if (r >= 0)
                r = sigil_csr_make(p->key, &p->csr, &p->n_csr);
        if (r >= 0)
                r = sigil_key_to_pkcs8_der(p->key, &p->pkcs8, &p->n_pkcs8);
        return r;
}

/* ---- checking a result ---- */

static void describe_issuer(X509 *leaf, CacheSigned *s) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
        char *p = NULL;
        long n;

        s->issuer[0] = '\0';
        if (bio && X509_NAME_print_ex(bio, X509_get_issuer_name(leaf), 0, XN_FLAG_RFC2253) >= 0) {
                n = BIO_get_mem_data(bio, &p);
                (void) snprintf(s->issuer, sizeof(s->issuer), "%.*s", (int) MIN(n, 255L), p);
        }
        if (aki)
                (void) hex_encode(ASN1_STRING_get0_data(aki), (size_t) ASN1_STRING_length(aki),
                                  s->issuer_key_id, sizeof(s->issuer_key_id));
        ERR_clear_error();
}

/* Check @res for @job and fill @out (chain copied). Return: 0 or -EINVAL with @reterr. */
static int result_check(const Sigil__Agent__V1__X509SVIDResult *res, const CacheSignJob *job,
                        const Pending *p, const SigilBundleSet *bundles, CacheSigned *out,
                        SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(freep) uint8_t *der = NULL;
        SigilSpiffeId id;
        size_t n = 0;
        X509 *leaf;
        int r;

        for (size_t i = 0; i < res->n_svid_chain; i++)
                n += res->svid_chain[i].len;
        if (res->n_svid_chain == 0 || res->n_svid_chain > SIGIL_X509_CHAIN_MAX ||
            n > SIGIL_X509_CHAIN_DER_MAX)
                return sigil_err_set(reterr, -EINVAL, "malformed chain");
        der = malloc(n);
        if (!der)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < res->n_svid_chain; i++) {
                memcpy(der + n, res->svid_chain[i].data, res->svid_chain[i].len);
                n += res->svid_chain[i].len;
        }
        r = sigil_x509_chain_from_der(der, n, &chain, reterr);
        if (r == 0)
                r = sigil_x509svid_verify(chain, bundles, sigil_now_sec(), &id, reterr);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        leaf = sk_X509_value(chain, 0);
        if (!streq(id.str, job->spiffe_id))
                return sigil_err_set(reterr, -EINVAL, "SVID is for '%s'", id.str);
        if (sigil_key_public_equal(X509_get0_pubkey(leaf), p->key) != 1)
                return sigil_err_set(reterr, -EINVAL, "SVID is not for the key we sent");
        *out = (CacheSigned) {
                .entry_id = job->entry_id, .revision = job->revision,
                .n_chain_der = n, .not_before = sigil_x509_not_before(leaf),
                .not_after = sigil_x509_not_after(leaf),
        };
        (void) sigil_x509_serial_hex(leaf, out->serial, sizeof(out->serial));
        describe_issuer(leaf, out);
        out->chain_der = TAKE_PTR(der);
        return 0;
}

/* ---- one batch ---- */

typedef struct Batch {
        CacheSignJob *jobs;
        Pending *pending;
        size_t n;
        SigilKeyType key_type;
        int prepare_result;             /* of batch_prepare(), when run on a helper thread */
        CacheSigned *signed_items;
        size_t n_signed;
        size_t n_failed;
} Batch;

static void batch_fail_all(Rotator *rot, Batch *b, uint64_t retry_at) {
        for (size_t i = 0; i < b->n; i++)
                cache_sign_failed(rot->cfg.cache, b->jobs[i].entry_id, retry_at);
}

static void batch_take_result(Rotator *rot, Batch *b, size_t i,
                              const Sigil__Agent__V1__X509SVIDResult *res,
                              const SigilBundleSet *bundles, uint64_t now) {
        const CacheSignJob *job = &b->jobs[i];
        CacheSigned *s = &b->signed_items[b->n_signed];
        SigilErr err = {};
        int r;

        if (!res || !streq_ptr(res->entry_id, job->entry_id))
                r = sigil_err_set(&err, -EINVAL, "no result for it in the server's answer");
        else if (res->status && res->status->code != GRPC_STATUS_OK)
                r = sigil_err_set(&err, -EPERM, "code = %s desc = %s",
                                  rpc_status_to_string(res->status->code),
                                  res->status->message ? res->status->message : "");
        else if (res->revision_number != job->revision)
                r = sigil_err_set(&err, -ESTALE, "signed for revision %lld, we hold %lld",
                                  (long long) res->revision_number, (long long) job->revision);
        else
                r = result_check(res, job, &b->pending[i], bundles, s, &err);
        if (r < 0) {
                log_warning("no X.509-SVID for entry '%s' (%s): %s", job->entry_id,
                            job->spiffe_id, err.msg);
                cache_sign_failed(rot->cfg.cache, job->entry_id,
                                  now + (uint64_t) ((double) ROTATOR_ENTRY_RETRY_USEC *
                                                    (1.0 + 0.2 * schedule_random_unit())));
                b->n_failed++;
                return;
        }
        s->key_pkcs8 = TAKE_PTR(b->pending[i].pkcs8);
        s->n_key_pkcs8 = b->pending[i].n_pkcs8;
        s->renew_at_usec = schedule_renew_at(MAX(s->not_before, now / USEC_PER_SEC),
                                             s->not_after, now, schedule_random_unit());
        b->n_signed++;
}

static int batch_request(Batch *b, Sigil__Agent__V1__BatchNewX509SVIDRequest *req,
                         Sigil__Agent__V1__X509SVIDRequest *items,
                         Sigil__Agent__V1__X509SVIDRequest **ptrs) {
        for (size_t i = 0; i < b->n; i++) {
                sigil__agent__v1__x509_svidrequest__init(&items[i]);
                items[i].entry_id = b->jobs[i].entry_id;
                items[i].csr = (ProtobufCBinaryData) { .len = b->pending[i].n_csr,
                                                       .data = b->pending[i].csr };
                ptrs[i] = &items[i];
        }
        req->requests = ptrs;
        req->n_requests = b->n;
        return 0;
}

/* Sign @b->n jobs in one call. Return: 0 (per-job outcomes applied) or SERVER_E_*. */
static int batch_sign(Rotator *rot, Batch *b, SigilErr *reterr) {
        Sigil__Agent__V1__BatchNewX509SVIDRequest req =
                SIGIL__AGENT__V1__BATCH_NEW_X509_SVIDREQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *msg = NULL;
        _cleanup_(freep) Sigil__Agent__V1__X509SVIDRequest *items = NULL;
        _cleanup_(freep) Sigil__Agent__V1__X509SVIDRequest **ptrs = NULL;
        _cleanup_(sigil_bundle_set_done) SigilBundleSet bundles = {};
        const Sigil__Agent__V1__BatchNewX509SVIDResponse *resp;
        SigilBundle *ours = NULL;
        uint64_t now;
        int r;

        items = new0(Sigil__Agent__V1__X509SVIDRequest, b->n);
        ptrs = new0(Sigil__Agent__V1__X509SVIDRequest *, b->n);
        if (!items || !ptrs)
                return -ENOMEM;
        (void) batch_request(b, &req, items, ptrs);
        r = server_client_call(rot->cfg.sc, false, "/sigil.agent.v1.Node/BatchNewX509SVID",
                               &req.base,
                               &sigil__agent__v1__batch_new_x509_svidresponse__descriptor, &msg,
                               reterr);
        if (r != 0)
                return r;
        r = cache_bundle_get(rot->cfg.cache, &ours);
        if (r >= 0 && ours && (r = sigil_bundle_set_put(&bundles, ours)) < 0)
                sigil_bundle_free(ours);
        if (r < 0)
                return r;
        resp = (const void *) msg;
        now = sigil_now_usec();
        for (size_t i = 0; i < b->n; i++)
                batch_take_result(rot, b, i, i < resp->n_results ? resp->results[i] : NULL,
                                  &bundles, now);
        return 0;
}

/* Keys, CSRs and PKCS#8 forms for every job of @b (CPU only: may run on a helper thread). */
static int batch_prepare(Batch *b) {
        b->pending = new0(Pending, b->n);
        b->signed_items = new0(CacheSigned, b->n);
        if (!b->pending || !b->signed_items)
                return -ENOMEM;
        for (size_t i = 0; i < b->n; i++) {
                int r = pending_make(b->key_type, &b->pending[i]);

                if (r < 0)
                        return r;
        }
        return 0;
}

static void *batch_prepare_thread(void *userdata) {
        Batch *b = userdata;

        b->prepare_result = batch_prepare(b);
        return NULL;
}

static void batch_done(Batch *b) {
        pending_done(b->pending, b->n);
        free(b->signed_items);
        b->pending = NULL;
        b->signed_items = NULL;
}

/* Sign a prepared batch and publish. Returns the time of the next attempt if it all failed. */
static uint64_t batch_run(Rotator *rot, Batch *b, int prepared) {
        SigilErr err = {};
        uint64_t retry = 0;
        int r = prepared;

        if (r == 0)
                r = batch_sign(rot, b, &err);
        if (r != 0) {
                retry = sigil_now_usec() + backoff_next(&rot->backoff, schedule_random_unit());
                if (r < 0)
                        log_error_errno(r, "Failed to sign %zu SVID(s): %m", b->n);
                else
                        log_warning("cannot get %zu X.509-SVID(s) signed: %s; retrying in %llu ms",
                                    b->n, err.msg,
                                    (unsigned long long) ((retry - sigil_now_usec()) /
                                                          USEC_PER_MSEC));
                if (r == SERVER_E_DENIED && rot->cfg.rejected)
                        rot->cfg.rejected(rot->cfg.userdata, err.msg);
                batch_fail_all(rot, b, retry);
                return retry;
        }
        backoff_reset(&rot->backoff);
        r = cache_publish(rot->cfg.cache, b->signed_items, b->n_signed, sigil_now_usec());
        if (r > 0)
                atomic_fetch_add(&rot->n_signed, (uint64_t) r);
        log_debug("obtained %zu X.509-SVID(s), %zu failed", b->n_signed, b->n_failed);
        return 0;
}

/*
 * Sign @n jobs in batches. While one batch is out at the server, a helper
 * thread prepares the next (key generation and CSRs are most of the agent's
 * share of the work), so agent and server work at the same time.
 */
static uint64_t sign_jobs(Rotator *rot, CacheSignJob *jobs, size_t n) {
        size_t n_batches = (n + ROTATOR_BATCH_MAX - 1) / ROTATOR_BATCH_MAX;
        _cleanup_(freep) Batch *b = new0(Batch, n_batches);
        uint64_t retry = 0;
        int prepared;

        if (!b) {
                retry = sigil_now_usec() + ROTATOR_RETRY_MIN_USEC;
                log_oom();
                batch_fail_all(rot, &(Batch) { .jobs = jobs, .n = n }, retry);
                return retry;
        }
        for (size_t i = 0; i < n_batches; i++)
                b[i] = (Batch) { .jobs = jobs + i * ROTATOR_BATCH_MAX,
                                 .n = MIN(n - i * ROTATOR_BATCH_MAX, (size_t) ROTATOR_BATCH_MAX),
                                 .key_type = rot->cfg.key_type };
        prepared = batch_prepare(&b[0]);
        for (size_t i = 0; i < n_batches; i++) {
                pthread_t helper;
                bool helping = false;

                if (i + 1 < n_batches && !retry)
                        helping = pthread_create(&helper, NULL, batch_prepare_thread,
                                                 &b[i + 1]) == 0;
                if (retry)
                        batch_fail_all(rot, &b[i], retry);
                else
                        retry = batch_run(rot, &b[i], prepared);
                batch_done(&b[i]);
                if (helping)
                        (void) pthread_join(helper, NULL);
                else if (i + 1 < n_batches && !retry)
                        b[i + 1].prepare_result = batch_prepare(&b[i + 1]);
                if (i + 1 < n_batches)
                        prepared = b[i + 1].prepare_result;
        }
        for (size_t i = 0; i < n_batches; i++)
                batch_done(&b[i]);
        return retry;
}

/* ---- the thread ---- */

static bool wait_for_work(Rotator *rot, uint64_t next_usec) {
        bool stop;

        pthread_mutex_lock(&rot->lock);
        while (!rot->stop && !rot->wake) {
                uint64_t now = sigil_now_usec();
                struct timespec ts;

                if (next_usec <= now)
                        break;
                next_usec = MIN(next_usec, now + 10 * USEC_PER_SEC);
                ts.tv_sec = (time_t) (next_usec / USEC_PER_SEC);
                ts.tv_nsec = (long) (next_usec % USEC_PER_SEC) * 1000;
                (void) pthread_cond_timedwait(&rot->cond, &rot->lock, &ts);
        }
        if (rot->retry_now)
                backoff_reset(&rot->backoff);
        rot->wake = rot->retry_now = false;
        stop = rot->stop;
        pthread_mutex_unlock(&rot->lock);
        return !stop;
}

/* One round: expire, take what is due, sign it. Returns when to look again. */
static uint64_t rotator_round(Rotator *rot) {
        uint64_t now = sigil_now_usec(), next = USEC_INFINITY, retry = 0;
        CacheSignJob *jobs = NULL;
        size_t n = 0;
        int r;

        (void) cache_expire(rot->cfg.cache, now);
        r = cache_take_due(rot->cfg.cache, now, ROTATOR_ROUND_MAX, &jobs, &n, &next);
        if (r < 0) {
                log_oom();
                return now + ROTATOR_RETRY_MIN_USEC;
        }
        if (n > 0)
                retry = sign_jobs(rot, jobs, n);
        cache_sign_jobs_free(jobs, n);
        if (retry)
                return MIN(next, retry);
        return n > 0 ? now : next;     /* after work, look again at once */
}

static void *rotator_thread(void *userdata) {
        Rotator *rot = userdata;
        uint64_t next = 0;

        while (wait_for_work(rot, next))
                next = rotator_round(rot);
        return NULL;
}

static void rotator_on_work(void *userdata) {
        rotator_wake(userdata, false);
}

int rotator_start(const RotatorConfig *cfg, Rotator **ret) {
        Rotator *rot = new0(Rotator, 1);
        int r;

        if (!rot)
                return -ENOMEM;
        rot->cfg = *cfg;
        rot->backoff = BACKOFF_INIT(ROTATOR_RETRY_MIN_USEC, ROTATOR_RETRY_MAX_USEC);
        atomic_init(&rot->n_signed, 0);
        pthread_mutex_init(&rot->lock, NULL);
        pthread_cond_init(&rot->cond, NULL);
        r = -pthread_create(&rot->thread, NULL, rotator_thread, rot);
        if (r < 0) {
                pthread_cond_destroy(&rot->cond);
                pthread_mutex_destroy(&rot->lock);
                free(rot);
                return r;
        }
        cache_set_work_callback(cfg->cache, rotator_on_work, rot);
        *ret = rot;
        return 0;
}

void rotator_stop(Rotator *rot) {
        if (!rot)
                return;
        cache_set_work_callback(rot->cfg.cache, NULL, NULL);
        pthread_mutex_lock(&rot->lock);
        rot->stop = true;
        pthread_cond_broadcast(&rot->cond);
        pthread_mutex_unlock(&rot->lock);
        (void) pthread_join(rot->thread, NULL);
        pthread_cond_destroy(&rot->cond);
        pthread_mutex_destroy(&rot->lock);
        free(rot);
}

void rotator_wake(Rotator *rot, bool retry_now) {
        if (retry_now)
                cache_retry_now(rot->cfg.cache);
        pthread_mutex_lock(&rot->lock);
        rot->wake = true;
        rot->retry_now = rot->retry_now || retry_now;
        pthread_cond_broadcast(&rot->cond);
        pthread_mutex_unlock(&rot->lock);
}

uint64_t rotator_n_signed(Rotator *rot) {
        return atomic_load(&rot->n_signed);
}
