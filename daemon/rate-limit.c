/* SPDX-License-Identifier: Apache-2.0 */
/* Token buckets, one per key, refilled continuously. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "rate-limit.h"
#include "sigil/macro.h"

typedef struct Bucket {
        double tokens;
        uint64_t updated_usec;
} Bucket;

struct RateLimit {
        pthread_mutex_t lock;
        Hashmap *buckets;
        double burst;
        double per_usec;
};

int rate_limit_new(unsigned burst, unsigned per_minute, RateLimit **ret) {
        RateLimit *l = new0(RateLimit, 1);

        if (!l)
                return -ENOMEM;
        pthread_mutex_init(&l->lock, NULL);
        l->burst = burst;
        l->per_usec = per_minute / 60e6;
        l->buckets = hashmap_new();
        if (!l->buckets) {
                free(l);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

RateLimit *rate_limit_free(RateLimit *l) {
        if (!l)
                return NULL;
        hashmap_free(l->buckets, free);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
}

static void refill(RateLimit *l, Bucket *b, uint64_t now) {
        if (now > b->updated_usec)
                b->tokens = MIN(l->burst, b->tokens + (double) (now - b->updated_usec) * l->per_usec);
        b->updated_usec = now;
}

/* Forget buckets that are full again (lock held): they carry no state worth keeping. */
static void forget_full(RateLimit *l, uint64_t now) {
        HashmapIter it = HASHMAP_ITER_INIT;
        char **full = new0(char *, hashmap_size(l->buckets) + 1);
        size_t n = 0;
        const char *key;
        void *v;

        if (!full)
                return;
        while (hashmap_next(l->buckets, &it, &key, &v)) {
                refill(l, v, now);
                if (((Bucket *) v)->tokens >= l->burst && (full[n] = strdup(key)))
                        n++;
        }
        for (size_t i = 0; i < n; i++) {
                free(hashmap_remove(l->buckets, full[i]));
                free(full[i]);
        }
        free(full);
}

bool rate_limit_take(RateLimit *l, const char *key, uint64_t now_usec) {
        Bucket *b;
        bool ok = false;

        pthread_mutex_lock(&l->lock);
        b = hashmap_get(l->buckets, key);
        if (!b) {
                if (hashmap_size(l->buckets) >= RATE_LIMIT_KEYS_MAX)
                        forget_full(l, now_usec);
                b = hashmap_size(l->buckets) < RATE_LIMIT_KEYS_MAX ? new0(Bucket, 1) : NULL;
                if (b) {
                        *b = (Bucket) { .tokens = l->burst, .updated_usec = now_usec };
                        if (hashmap_put(l->buckets, key, b, NULL) < 0) {
                                free(b);
                                b = NULL;
                        }
                }
        }
        if (b) {
                refill(l, b, now_usec);
                if (b->tokens >= 1.0) {
                        b->tokens -= 1.0;
                        ok = true;
                }
        }
        pthread_mutex_unlock(&l->lock);
        return ok;
}
