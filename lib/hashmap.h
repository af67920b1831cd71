/* SPDX-License-Identifier: Apache-2.0 */
/* hashmap.h - string-keyed hash map of pointers (private to sigil) */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones). Keys are hashed with FNV-1a from a per-map random seed plus a
 * final mix, so collisions cannot be planned from outside the process. Keys
 * are copied; values are the caller's. Not thread-safe.
 */
typedef struct Hashmap Hashmap;

typedef struct HashmapIter {
        size_t pos;
} HashmapIter;

#define HASHMAP_ITER_INIT ((HashmapIter) { 0 })

Hashmap *hashmap_new(void);
/* Free the map (and its key copies); @free_value, if given, is called on every value. */
Hashmap *hashmap_free(Hashmap *m, void (*free_value)(void *));

/**
 * hashmap_put() - insert or replace
 * @m:          map
 * @key:        key (copied)
 * @value:      value
 * @ret_old:    on replacement, the previous value; may be NULL
 *
 * Return: 1 inserted, 0 replaced, -ENOMEM.
 */
int hashmap_put(Hashmap *m, const char *key, void *value, void **ret_old);
void *hashmap_get(const Hashmap *m, const char *key);
bool hashmap_contains(const Hashmap *m, const char *key);
/* Remove @key; returns its value, or NULL when absent. */
void *hashmap_remove(Hashmap *m, const char *key);
size_t hashmap_size(const Hashmap *m);

/* Iterate: while (hashmap_next(m, &it, &key, &value)) ...; no changes meanwhile. */
bool hashmap_next(const Hashmap *m, HashmapIter *it, const char **ret_key, void **ret_value);
