/* SPDX-License-Identifier: Apache-2.0 */
/* test-util.h - helpers shared by the unit tests (cmocka) */
#pragma once

#undef NDEBUG
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "sigil/macro.h"

/* Make a fresh temporary directory for one test; the caller removes it with rm_rf(). */
static inline char *test_mkdtemp(void) {
        char *d = strdup("/tmp/sigil-test-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static inline void rm_rf(const char *path) {
        char cmd[4200];

        if (isempty(path) || strncmp(path, "/tmp/", 5) != 0)
                return;
        (void) snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", path);
        (void) !system(cmd);
}

/* Run a shell command, return its exit status (or -1). */
static inline int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run_cmd(const char *fmt, ...) {
        char cmd[8192];
        va_list ap;
        int st;

        va_start(ap, fmt);
        (void) vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        st = system(cmd);
        if (st < 0 || !WIFEXITED(st))
                return -1;
        return WEXITSTATUS(st);
}

/* Fail unless @haystack contains @needle; prints both on failure. */
#define assert_strstr(haystack, needle)                                                  \
        do {                                                                            \
                const char *_h_ = (haystack), *_n_ = (needle);                           \
                if (!_h_ || !strstr(_h_, _n_))                                           \
                        fail_msg("'%s' does not contain '%s'", _h_ ? _h_ : "(null)", _n_); \
        } while (0)

/* Fail if @haystack contains @needle. */
#define assert_not_strstr(haystack, needle)                                              \
        do {                                                                            \
                const char *_h_ = (haystack), *_n_ = (needle);                           \
                if (_h_ && strstr(_h_, _n_))                                             \
                        fail_msg("'%s' contains '%s'", _h_, _n_);                        \
        } while (0)
