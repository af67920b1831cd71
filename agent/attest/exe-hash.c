/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 of workload executables for unix:sha256.
 *
 * The file is read through /proc/<pid>/exe, opened by the caller: that is
 * the inode the process runs, even if the path now names another file or
 * none. Hashing a large binary costs a second or so, and every connection of
 * every process of that binary would pay it, so results are cached by what
 * identifies a file's content without reading it: (dev, inode, size, mtime,
 * ctime). The hash is computed outside the lock, so one slow file does not
 * hold up attestations of others; two threads missing on the same file at
 * once both hash it, and the second insert is a no-op.
 *
 * A file whose stat changes between before and after the read is reported
 * as changed and not cached: what was read may be a mix of two versions.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exe-hash.h"
#include "sigil/macro.h"
#include "ssl-util.h"

#define EXE_HASH_CHUNK (1024u * 1024u)

typedef struct ExeKey {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
} ExeKey;

typedef struct ExeEntry {
        ExeKey key;
        uint64_t last_used;     /* 0: free slot */
        char hex[EXE_HASH_HEX_LEN + 1];
} ExeEntry;

struct ExeHashCache {
        pthread_mutex_t lock;
        ExeEntry *entries;
        size_t n_entries;
        uint64_t tick;
        ExeHashStats stats;
};

int exe_hash_cache_new(size_t n_entries, ExeHashCache **ret) {
        ExeHashCache *c;

        if (n_entries == 0)
                n_entries = EXE_HASH_CACHE_ENTRIES_DEFAULT;
        if (n_entries > EXE_HASH_CACHE_ENTRIES_MAX)
                return -EINVAL;
        c = new0(ExeHashCache, 1);
        if (!c)
                return -ENOMEM;
        c->entries = new0(ExeEntry, n_entries);
        if (!c->entries) {
                free(c);
                return -ENOMEM;
        }
        c->n_entries = n_entries;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

ExeHashCache *exe_hash_cache_free(ExeHashCache *c) {
        if (!c)
                return NULL;
        pthread_mutex_destroy(&c->lock);
        free(c->entries);
        free(c);
        return NULL;
}

static ExeKey key_of(const struct stat *st) {
        ExeKey k;

        /* zeroed first: the key is compared with memcmp, padding included */
        memset(&k, 0, sizeof(k));
        k.dev = st->st_dev;
        k.ino = st->st_ino;
        k.size = st->st_size;
        k.mtime = st->st_mtim;
        k.ctime = st->st_ctim;
        return k;
}

static bool lookup(ExeHashCache *c, const ExeKey *k, char ret_hex[EXE_HASH_HEX_LEN + 1]) {
        bool found = false;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n_entries; i++) {
                ExeEntry *e = &c->entries[i];

                if (e->last_used == 0 || memcmp(&e->key, k, sizeof(*k)) != 0)
                        continue;
                e->last_used = ++c->tick;
                memcpy(ret_hex, e->hex, sizeof(e->hex));
                c->stats.n_hits++;
                found = true;
                break;
        }
        pthread_mutex_unlock(&c->lock);
        return found;
}

static void insert(ExeHashCache *c, const ExeKey *k, const char hex[EXE_HASH_HEX_LEN + 1]) {
        ExeEntry *victim = &c->entries[0];

        pthread_mutex_lock(&c->lock);
        c->stats.n_hashed++;
        for (size_t i = 0; i < c->n_entries; i++) {
                ExeEntry *e = &c->entries[i];

                if (e->last_used != 0 && memcmp(&e->key, k, sizeof(*k)) == 0) {
                        victim = e;     /* another thread got here first */
                        break;
                }
                if (e->last_used < victim->last_used)
                        victim = e;
        }
        memcpy(&victim->key, k, sizeof(*k));
        victim->last_used = ++c->tick;
        memcpy(victim->hex, hex, EXE_HASH_HEX_LEN + 1);
        pthread_mutex_unlock(&c->lock);
}

static int hash_file(int fd, uint64_t size, char ret_hex[EXE_HASH_HEX_LEN + 1]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        unsigned char digest[32];
        unsigned n_digest = 0;
        uint64_t off = 0;

        md = EVP_MD_CTX_new();
        buf = malloc(EXE_HASH_CHUNK);
        if (!md || !buf)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -EIO;
        for (;;) {
                ssize_t k = pread(fd, buf, EXE_HASH_CHUNK, (off_t) off);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                off += (uint64_t) k;
                if (off > size)
                        return EXE_HASH_E_CHANGED;
                if (EVP_DigestUpdate(md, buf, (size_t) k) != 1)
                        return -EIO;
        }
        if (off != size)
                return EXE_HASH_E_CHANGED;
        if (EVP_DigestFinal_ex(md, digest, &n_digest) != 1 || n_digest != sizeof(digest))
                return -EIO;
        for (size_t i = 0; i < sizeof(digest); i++) {
                ret_hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
                ret_hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 0xf];
        }
        ret_hex[EXE_HASH_HEX_LEN] = '\0';
        return 0;
}

int exe_hash_fd(ExeHashCache *c, int fd, uint64_t size_max, char ret_hex[EXE_HASH_HEX_LEN + 1]) {
        char hex[EXE_HASH_HEX_LEN + 1];
        struct stat before, after;
        ExeKey k, k2;
        int r;

        if (fstat(fd, &before) < 0)
                return -errno;
        if (!S_ISREG(before.st_mode))
                return EXE_HASH_E_NOT_REGULAR;
        if ((uint64_t) before.st_size > size_max)
                return EXE_HASH_E_TOO_LARGE;
        k = key_of(&before);
        if (lookup(c, &k, ret_hex))
                return 0;

        r = hash_file(fd, (uint64_t) before.st_size, hex);
        if (r != 0)
                return r;
        if (fstat(fd, &after) < 0)
                return -errno;
        k2 = key_of(&after);
        if (memcmp(&k, &k2, sizeof(k)) != 0)
                return EXE_HASH_E_CHANGED;
        insert(c, &k, hex);
        memcpy(ret_hex, hex, sizeof(hex));
        return 0;
}

void exe_hash_cache_stats(ExeHashCache *c, ExeHashStats *ret) {
        pthread_mutex_lock(&c->lock);
        *ret = c->stats;
        pthread_mutex_unlock(&c->lock);
}
