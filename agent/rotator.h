/* SPDX-License-Identifier: Apache-2.0 */
/* rotator.h - obtains and renews the X.509-SVIDs of the cache's entries */
#pragma once

#include "cache-internal.h"
#include "server-client.h"
#include "sigil/keys.h"

/*
 * One thread. It sleeps until the cache reports work (a new entry, a new
 * revision, a CA that left the bundle) or until the earliest renewal or
 * expiry, then takes the due records, makes a fresh key and CSR for each
 * (a key is never reused across renewals), sends them in batches of
 * ROTATOR_BATCH_MAX, checks every returned chain (our key, the entry's
 * SPIFFE ID, valid for our bundle) and publishes the results with a renewal
 * time from schedule_renew_at(). Failures are retried with a backoff; the
 * cache keeps serving the old SVIDs until they expire (cache_expire).
 */

typedef struct Rotator Rotator;

#define ROTATOR_BATCH_MAX 500           /* the server's limit per BatchNewX509SVID */
#define ROTATOR_ROUND_MAX 2000          /* records taken per round before looking again */
#define ROTATOR_RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define ROTATOR_RETRY_MAX_USEC (30 * USEC_PER_SEC)
#define ROTATOR_ENTRY_RETRY_USEC (5 * USEC_PER_SEC)

typedef struct RotatorConfig {
        Cache *cache;
        ServerClient *sc;
        SigilKeyType key_type;
        /* The server refused the agent's identity (runs on the rotator thread). */
        void (*rejected)(void *userdata, const char *reason);
        void *userdata;
} RotatorConfig;

/**
 * rotator_start() - start the rotation thread
 * @cfg:        configuration (copied; the cache and client must outlive the rotator)
 * @ret:        on success, the rotator
 *
 * Installs itself as the cache's work callback.
 *
 * Return: 0 or negative errno.
 */
int rotator_start(const RotatorConfig *cfg, Rotator **ret);

/* Stop the thread and free (waits for a batch in progress). Accepts NULL. */
void rotator_stop(Rotator *r);

/* Look for work now; with @retry_now also forget failure backoffs (a new identity). */
void rotator_wake(Rotator *r, bool retry_now);

/* SVIDs obtained since start (for logs and the debug view). */
uint64_t rotator_n_signed(Rotator *r);
