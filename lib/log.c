/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide logger. Each line is formatted into one buffer and written
 * with a single write(2), so lines from different threads never interleave.
 * Lines longer than LOG_LINE_MAX are truncated, never split. Audit lines go
 * to their own file when one is configured, else to the main log, and are
 * written whatever the level.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sigil/clock.h"
#include "sigil/log.h"

#define LOG_LINE_MAX 4096

/* Globals on purpose: there is one logger per process, set up by main(). */
static char log_progname[64] = "sigil";
static _Atomic int log_level = SIGIL_LOG_INFO;
static SigilLogFormat log_format = SIGIL_LOG_FORMAT_TEXT;
static _Atomic int log_fd = STDERR_FILENO;
static _Atomic int audit_fd = -1;

static const char *const level_names[_SIGIL_LOG_LEVEL_MAX] = {
        [SIGIL_LOG_ERROR] = "error",
        [SIGIL_LOG_WARNING] = "warning",
        [SIGIL_LOG_INFO] = "info",
        [SIGIL_LOG_DEBUG] = "debug",
};

void sigil_log_setup(const char *progname, SigilLogLevel level, SigilLogFormat format) {
        if (progname)
                (void) snprintf(log_progname, sizeof(log_progname), "%s", progname);
        if (level >= 0 && level < _SIGIL_LOG_LEVEL_MAX)
                atomic_store(&log_level, level);
        if (format >= 0 && format < _SIGIL_LOG_FORMAT_MAX)
                log_format = format;
}

static int open_append(const char *path, _Atomic int *slot, int fallback) {
        int fd = fallback, old;

        if (path) {
                fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return -errno;
        }
        old = atomic_exchange(slot, fd);
        if (old > STDERR_FILENO)
                (void) close(old);
        return 0;
}

int sigil_log_open_file(const char *path) {
        return open_append(path, &log_fd, STDERR_FILENO);
}

int sigil_log_open_audit_file(const char *path) {
        return open_append(path, &audit_fd, -1);
}

SigilLogLevel sigil_log_level_from_string(const char *s) {
        if (!s)
                return _SIGIL_LOG_LEVEL_INVALID;
        if (strcasecmp(s, "warn") == 0)
                return SIGIL_LOG_WARNING;
        for (int i = 0; i < _SIGIL_LOG_LEVEL_MAX; i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (SigilLogLevel) i;
        return _SIGIL_LOG_LEVEL_INVALID;
}

SigilLogFormat sigil_log_format_from_string(const char *s) {
        if (s && strcasecmp(s, "text") == 0)
                return SIGIL_LOG_FORMAT_TEXT;
        if (s && strcasecmp(s, "json") == 0)
                return SIGIL_LOG_FORMAT_JSON;
        return _SIGIL_LOG_FORMAT_INVALID;
}

const char *sigil_log_level_to_string(SigilLogLevel level) {
        if (level < 0 || level >= _SIGIL_LOG_LEVEL_MAX)
                return NULL;
        return level_names[level];
}

void sigil_log_set_level(SigilLogLevel level) {
        if (level >= 0 && level < _SIGIL_LOG_LEVEL_MAX)
                atomic_store(&log_level, level);
}

SigilLogLevel sigil_log_get_level(void) {
        return (SigilLogLevel) atomic_load(&log_level);
}

static void format_time(char *buf, size_t n) {
        uint64_t now = sigil_now_usec();
        time_t sec = (time_t) (now / 1000000u);
        struct tm tm;

        (void) gmtime_r(&sec, &tm);
        (void) snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        (unsigned) (now % 1000000u / 1000u));
}

static void write_line(int fd, char *line, size_t n) {
        if (fd < 0)
                return;
        if (n >= LOG_LINE_MAX)
                n = LOG_LINE_MAX - 1;
        line[n] = '\n';
        /* Lossy by design: a full pipe or a signal loses a line, it never blocks the daemon. */
        (void) !write(fd, line, n + 1);
}

static size_t emit_json(json_t *obj, char *line) {
        size_t n;

        if (!obj)
                return 0;
        n = json_dumpb(obj, line, LOG_LINE_MAX - 1, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(obj);
        return n >= LOG_LINE_MAX ? 0 : n;
}

/* JSON strings must be UTF-8; log text may quote anything a peer sent. */
static void make_ascii(char *s) {
        for (; *s; s++)
                if ((unsigned char) *s >= 0x80)
                        *s = '?';
}

int sigil_log_internal(SigilLogLevel level, int error, const char *file, int line,
                       const char *func, const char *fmt, ...) {
        char msg[LOG_LINE_MAX], out[LOG_LINE_MAX + 1], ts[40];
        int saved_errno = errno;
        size_t n;
        va_list ap;

        errno = error < 0 ? -error : error;     /* so that %m renders @error */
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (log_format == SIGIL_LOG_FORMAT_JSON)
                make_ascii(msg);
        format_time(ts, sizeof(ts));

        if (log_format == SIGIL_LOG_FORMAT_JSON) {
                char src[256];

                (void) snprintf(src, sizeof(src), "%s:%d", file, line);
                n = emit_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", ts, "level",
                                        level_names[level], "msg", msg, "prog", log_progname,
                                        "src", src),
                              out);
        } else {
                int k = snprintf(out, LOG_LINE_MAX, "%s %s[%d]: %s: %s", ts, log_progname,
                                 (int) getpid(), level_names[level], msg);
                n = k < 0 ? 0 : (size_t) k;
        }
        write_line(atomic_load(&log_fd), out, n);
        errno = saved_errno;
        return error;
}

void sigil_audit(const char *caller, const char *action, const char *object, const char *result,
                 const char *fmt, ...) {
        char details[LOG_LINE_MAX / 2] = "", who[256], what[1024], out[LOG_LINE_MAX + 1], ts[40];
        int fd = atomic_load(&audit_fd);
        size_t n;

        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                (void) vsnprintf(details, sizeof(details), fmt, ap);
                va_end(ap);
        }
        (void) snprintf(who, sizeof(who), "%s", caller ? caller : "-");
        (void) snprintf(what, sizeof(what), "%s", object ? object : "");
        make_ascii(details);
        make_ascii(who);
        make_ascii(what);
        format_time(ts, sizeof(ts));
        if (log_format == SIGIL_LOG_FORMAT_JSON) {
                n = emit_json(json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s}", "time", ts,
                                        "prog", log_progname, "audit", 1, "caller", who,
                                        "action", action, "object", what, "result", result,
                                        "details", details),
                              out);
        } else {
                int k = snprintf(out, LOG_LINE_MAX,
                                 "%s %s[%d]: audit: caller=%s action=%s object='%s' result=%s%s%s",
                                 ts, log_progname, (int) getpid(), who, action, what, result,
                                 details[0] ? " " : "", details);
                n = k < 0 ? 0 : (size_t) k;
        }
        write_line(fd >= 0 ? fd : atomic_load(&log_fd), out, n);
}
