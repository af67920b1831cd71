/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "jwt-cache.h"

typedef struct JwtToken {
        char *token;
        uint64_t issued_at;
        uint64_t expires_at;
} JwtToken;

struct JwtCache {
        pthread_mutex_t lock;
        Hashmap *tokens;        /* key -> JwtToken* */
        size_t max;
};

static void token_free(void *p) {
        JwtToken *t = p;

        if (!t)
                return;
        if (t->token) {
                OPENSSL_cleanse(t->token, strlen(t->token));
                free(t->token);
        }
        free(t);
}

int jwt_cache_new(size_t max, JwtCache **ret) {
        JwtCache *c = new0(JwtCache, 1);

        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        c->max = max ? max : JWT_CACHE_MAX;
        c->tokens = hashmap_new();
        if (!c->tokens) {
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

JwtCache *jwt_cache_free(JwtCache *c) {
        if (!c)
                return NULL;
        hashmap_free(c->tokens, token_free);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* "<entry>\n<revision>\n" then "<len>:<audience>" for each distinct audience, sorted. */
static char *make_key(const char *entry_id, int64_t revision, const char *const *aud,
                      size_t n_aud) {
        _cleanup_(freep) const char **sorted = newa_checked(const char *, n_aud);
        size_t len = strlen(entry_id) + 32;
        char *key, *p;

        if (!sorted)
                return NULL;
        for (size_t i = 0; i < n_aud; i++) {
                sorted[i] = aud[i];
                len += strlen(aud[i]) + 24;
        }
        qsort(sorted, n_aud, sizeof(char *), compare_strings);
        key = malloc(len);
        if (!key)
                return NULL;
        p = key + sprintf(key, "%s\n%lld\n", entry_id, (long long) revision);
        for (size_t i = 0; i < n_aud; i++) {
                if (i > 0 && streq(sorted[i], sorted[i - 1]))
                        continue;
                p += sprintf(p, "%zu:%s", strlen(sorted[i]), sorted[i]);
        }
        return key;
}

static bool fresh(const JwtToken *t, uint64_t now) {
        return now < t->issued_at + (t->expires_at - t->issued_at) / 2;
}

/* Make room for one more token (lock held): drop stale ones, then any one. */
static void make_room_locked(JwtCache *c, uint64_t now) {
        HashmapIter it = HASHMAP_ITER_INIT;
        const char *key, *victim = NULL;
        void *v;

        if (hashmap_size(c->tokens) < c->max)
                return;
        while (hashmap_next(c->tokens, &it, &key, &v)) {
                victim = key;
                if (!fresh(v, now))
                        break;
        }
        if (victim) {
                char *k = strdup(victim);

                if (k) {
                        token_free(hashmap_remove(c->tokens, k));
                        free(k);
                }
        }
}

int jwt_cache_get(JwtCache *c, const char *entry_id, int64_t revision, const char *const *aud,
                  size_t n_aud, uint64_t now, WorkloadMintJwtFn mint, void *userdata,
                  char **ret_token, SigilErr *reterr) {
        _cleanup_(freep) char *key = make_key(entry_id, revision, aud, n_aud);
        JwtToken *t, *old = NULL;
        char *copy = NULL;
        uint64_t exp = 0;
        int r;

        if (!key)
                return -ENOMEM;
        pthread_mutex_lock(&c->lock);
        t = hashmap_get(c->tokens, key);
        if (t && fresh(t, now))
                copy = strdup(t->token);
        pthread_mutex_unlock(&c->lock);
        if (copy) {
                *ret_token = copy;
                return 0;
        }

        t = new0(JwtToken, 1);
        if (!t)
                return -ENOMEM;
        /* Minting talks to the server: never under the lock. */
        r = mint(userdata, entry_id, aud, n_aud, &t->token, &exp, reterr);
        if (r < 0) {
                token_free(t);
                return r;
        }
        t->issued_at = now;
        t->expires_at = exp > now ? exp : now + 1;
        copy = strdup(t->token);
        if (!copy) {
                token_free(t);
                return -ENOMEM;
        }
        pthread_mutex_lock(&c->lock);
        make_room_locked(c, now);
        if (hashmap_put(c->tokens, key, t, (void **) &old) < 0)
                token_free(t);
        else
                token_free(old);
        pthread_mutex_unlock(&c->lock);
        *ret_token = copy;
        return 0;
}
