/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "sigil/macro.h"

#define HASHMAP_MIN_CAPACITY 16

typedef struct Slot {
        char *key;              /* NULL = empty */
        uint64_t hash;
        void *value;
} Slot;

struct Hashmap {
        Slot *slots;
        size_t capacity;        /* a power of two */
        size_t n;
        uint64_t seed;
};

static uint64_t hash_key(const Hashmap *m, const char *key) {
        uint64_t h = UINT64_C(0xcbf29ce484222325) ^ m->seed;

        for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
                h ^= *p;
                h *= UINT64_C(0x100000001b3);
        }
        /* Final avalanche so that the low bits used as index depend on every byte. */
        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        return h;
}

Hashmap *hashmap_new(void) {
        Hashmap *m = new0(Hashmap, 1);

        if (!m)
                return NULL;
        m->capacity = HASHMAP_MIN_CAPACITY;
        m->slots = new0(Slot, m->capacity);
        if (!m->slots || RAND_bytes((unsigned char *) &m->seed, sizeof(m->seed)) != 1) {
                free(m->slots);
                free(m);
                return NULL;
        }
        return m;
}

Hashmap *hashmap_free(Hashmap *m, void (*free_value)(void *)) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->capacity; i++) {
                if (!m->slots[i].key)
                        continue;
                free(m->slots[i].key);
                if (free_value)
                        free_value(m->slots[i].value);
        }
        free(m->slots);
        free(m);
        return NULL;
}

static size_t find(const Hashmap *m, const char *key, uint64_t h, bool *found) {
        size_t mask = m->capacity - 1, i = (size_t) h & mask;

        for (;;) {
                const Slot *s = &m->slots[i];

                if (!s->key) {
                        *found = false;
                        return i;
                }
                if (s->hash == h && streq(s->key, key)) {
                        *found = true;
                        return i;
                }
                i = (i + 1) & mask;
        }
}

static int grow(Hashmap *m) {
        Slot *old = m->slots;
        size_t old_cap = m->capacity, cap = old_cap * 2;

        if (cap < old_cap)
                return -ENOMEM;
        m->slots = new0(Slot, cap);
        if (!m->slots) {
                m->slots = old;
                return -ENOMEM;
        }
        m->capacity = cap;
        for (size_t i = 0; i < old_cap; i++) {
                bool found;
                size_t k;

                if (!old[i].key)
                        continue;
                k = find(m, old[i].key, old[i].hash, &found);
                m->slots[k] = old[i];
        }
        free(old);
        return 0;
}

int hashmap_put(Hashmap *m, const char *key, void *value, void **ret_old) {
        uint64_t h = hash_key(m, key);
        bool found;
        size_t i;
        char *k;

        i = find(m, key, h, &found);
        if (found) {
                if (ret_old)
                        *ret_old = m->slots[i].value;
                m->slots[i].value = value;
                return 0;
        }
        if ((m->n + 1) * 4 > m->capacity * 3) {         /* keep the load under 3/4 */
                if (grow(m) < 0)
                        return -ENOMEM;
                i = find(m, key, h, &found);
        }
        k = strdup(key);
        if (!k)
                return -ENOMEM;
        m->slots[i] = (Slot) { .key = k, .hash = h, .value = value };
        m->n++;
        return 1;
}

void *hashmap_get(const Hashmap *m, const char *key) {
        bool found;
        size_t i = find(m, key, hash_key(m, key), &found);

        return found ? m->slots[i].value : NULL;
}

bool hashmap_contains(const Hashmap *m, const char *key) {
        bool found;

        (void) find(m, key, hash_key(m, key), &found);
        return found;
}

void *hashmap_remove(Hashmap *m, const char *key) {
        size_t mask = m->capacity - 1, i, j;
        bool found;
        void *value;

        i = find(m, key, hash_key(m, key), &found);
        if (!found)
                return NULL;
        value = m->slots[i].value;
        free(m->slots[i].key);
        m->slots[i] = (Slot) {};
        m->n--;
        /* Backward shift: move later members of the probe run into the hole. */
        for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
                size_t home = (size_t) m->slots[j].hash & mask;

                /* Leave slot j alone when its home lies cyclically in (i, j]. */
                if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
                        continue;
                m->slots[i] = m->slots[j];
                m->slots[j] = (Slot) {};
                i = j;
        }
        return value;
}

size_t hashmap_size(const Hashmap *m) {
        return m->n;
}

bool hashmap_next(const Hashmap *m, HashmapIter *it, const char **ret_key, void **ret_value) {
        for (; it->pos < m->capacity; it->pos++) {
                const Slot *s = &m->slots[it->pos];

                if (!s->key)
                        continue;
                if (ret_key)
                        *ret_key = s->key;
                if (ret_value)
                        *ret_value = s->value;
                it->pos++;
                return true;
        }
        return false;
}
