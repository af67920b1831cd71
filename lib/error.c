/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sigil/error.h"

int sigil_err_set(SigilErr *err, int code, const char *fmt, ...) {
        va_list ap;

        if (!err)
                return code;
        va_start(ap, fmt);
        (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        return code;
}

int sigil_err_prefix(SigilErr *err, int code, const char *fmt, ...) {
        char prefix[SIGIL_ERR_MSG_MAX], old[SIGIL_ERR_MSG_MAX];
        va_list ap;

        if (!err)
                return code;
        memcpy(old, err->msg, sizeof(old));
        old[sizeof(old) - 1] = '\0';
        va_start(ap, fmt);
        (void) vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        if (old[0] == '\0')
                (void) snprintf(err->msg, sizeof(err->msg), "%s", prefix);
        else
                (void) snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
        return code;
}

void sigil_err_copy(const SigilErr *err, int code, char *buf, size_t n_buf) {
        if (!buf || n_buf == 0)
                return;
        if (err && err->msg[0] != '\0')
                (void) snprintf(buf, n_buf, "%s", err->msg);
        else
                (void) snprintf(buf, n_buf, "%s", strerror(code < 0 ? -code : code));
}
