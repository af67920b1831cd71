/* SPDX-License-Identifier: Apache-2.0 */
/* exe-hash.h - SHA-256 of workload executables, with a cache so each binary is hashed once */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXE_HASH_HEX_LEN 64
#define EXE_HASH_CACHE_ENTRIES_DEFAULT 128
#define EXE_HASH_CACHE_ENTRIES_MAX 65536
#define EXE_HASH_SIZE_MAX_DEFAULT (512ull * 1024 * 1024)

typedef struct ExeHashCache ExeHashCache;

enum {
        _EXE_HASH_E_SUCCESS,
        EXE_HASH_E_TOO_LARGE,   /* larger than the cap: not hashed */
        EXE_HASH_E_NOT_REGULAR, /* not a regular file */
        EXE_HASH_E_CHANGED,     /* the file changed while it was read */
        _EXE_HASH_E_MAX,
};

typedef struct ExeHashStats {
        uint64_t n_hashed;      /* files read and hashed */
        uint64_t n_hits;        /* answers from the cache */
} ExeHashStats;

/**
 * exe_hash_cache_new() - a cache of executable hashes
 * @n_entries:  how many files it remembers (least recently used go first);
 *              0 for EXE_HASH_CACHE_ENTRIES_DEFAULT
 * @ret:        on success, the cache; free with exe_hash_cache_free()
 *
 * The cache is safe to use from several threads.
 *
 * Return: 0, -EINVAL (over EXE_HASH_CACHE_ENTRIES_MAX) or -ENOMEM.
 */
int exe_hash_cache_new(size_t n_entries, ExeHashCache **ret);
ExeHashCache *exe_hash_cache_free(ExeHashCache *c);

/**
 * exe_hash_fd() - SHA-256 of the file open at @fd, from the cache when it is unchanged
 * @c:          the cache
 * @fd:         the file (e.g. /proc/<pid>/exe opened for reading); its offset is not used
 * @size_max:   files larger than this are not hashed
 * @ret_hex:    on success, 64 lowercase hex digits and a NUL
 *
 * The cache key is (device, inode, size, mtime, ctime): ctime cannot be set
 * from user space, so rewriting a file in place and resetting its mtime still
 * misses the cache.
 *
 * Return: 0, EXE_HASH_E_TOO_LARGE, EXE_HASH_E_NOT_REGULAR, EXE_HASH_E_CHANGED
 * or negative errno.
 */
int exe_hash_fd(ExeHashCache *c, int fd, uint64_t size_max, char ret_hex[EXE_HASH_HEX_LEN + 1]);

void exe_hash_cache_stats(ExeHashCache *c, ExeHashStats *ret);
