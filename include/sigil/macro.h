/* SPDX-License-Identifier: Apache-2.0 */
/* sigil macro.h - cleanup attributes, ownership transfer, checked allocation */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The GNU extensions sigil relies on are spelled here, once, with
 * __attribute__ and __typeof__ so the code builds in strict C11 mode.
 */
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Return the pointer and leave NULL behind, so the cleanup attribute does nothing. */
#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) _ptr_ = (p);           \
                (p) = NULL;                          \
                _ptr_;                               \
        })

/* Same for file descriptors. */
#define TAKE_FD(fd)                                  \
        ({                                           \
                int _fd_ = (fd);                     \
                (fd) = -1;                           \
                _fd_;                                \
        })

#define new0(t, n) ((t *) calloc((n) ? (n) : 1, sizeof(t)))
#define newa_checked(t, n) ((t *) reallocarray(NULL, (n) ? (n) : 1, sizeof(t)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Define a function usable with _cleanup_ that calls @func on *p when p is non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)              \
        static inline void func##p(type *p) {                \
                if (*p)                                      \
                        func(*p);                            \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* Free a NULL-terminated array of strings and the array itself. */
static inline char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **s = l; *s; s++)
                free(*s);
        free(l);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

static inline size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || (s)[0] == '\0')

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_INFINITY UINT64_MAX
