/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide logger. Each line is formatted into one buffer and written
 * with a single write(2), so lines from different threads never interleave.
 * Lines longer than LOG_LINE_MAX are truncated, never split. Audit lines go
 * to their own file when one is configured, else to the main log, and are
 * written whatever the level.
 *
 * Messages quote what peers sent, so every line is sanitized: control
 * characters cannot forge a second line, JSON lines stay valid JSON, and
 * anything shaped like a secret (a JWT, the value of token=/password=/...)
 * is replaced by "<redacted>" as a last line of defence.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/*
 * Make @s safe to put on one line. Control characters become '?': text a peer
 * sent must not be able to end a line and forge the next one. In JSON mode
 * bytes >= 0x80 become '?' too, because JSON strings must be valid UTF-8.
 */
static void sanitize(char *s) {
        bool ascii = log_format == SIGIL_LOG_FORMAT_JSON;

        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c < 0x20 || c == 0x7f || (ascii && c >= 0x80))
                        *s = '?';
        }
}

static bool is_word_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
}

/* Length of "<key>=" at @s when <key> names a secret, else 0. */
static size_t secret_key_len(const char *s) {
        static const char *const keys[] = {
                "token", "join_token", "jwt", "svid", "secret", "password", "passphrase",
                "private_key",
        };

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                size_t n = strlen(keys[i]);

                if (strncasecmp(s, keys[i], n) == 0 && s[n] == '=')
                        return n + 1;
        }
        return 0;
}

/* Length of the JWT-shaped word at @s ("eyJ..." with at least two dots), else 0. */
static size_t jwt_len(const char *s) {
        size_t n, dots = 0;

        if (strncmp(s, "eyJ", 3) != 0)
                return 0;
        for (n = 0; is_word_char(s[n]); n++)
                dots += s[n] == '.';
        return dots >= 2 ? n : 0;
}

/*
 * Copy @in to @out (@n_out bytes) with secrets replaced by "<redacted>": the
 * value of any key=value whose key names a secret, and any word shaped like
 * a JWT. The callers never mean to log a secret; this catches the mistake.
 */
static void redact(const char *in, char *out, size_t n_out) {
        static const char mark[] = "<redacted>";
        const char *start = in;
        size_t o = 0;

        while (*in && o + 1 < n_out) {
                bool word_start = in == start || !is_word_char(in[-1]);
                size_t k = word_start ? secret_key_len(in) : 0, skip = 0;

                if (k > 0) {
                        memcpy(out + o, in, MIN(k, n_out - 1 - o));
                        o += MIN(k, n_out - 1 - o);
                        in += k;
                        skip = strcspn(in, " \t");
                } else if (word_start)
                        skip = jwt_len(in);
                if (skip > 0 || k > 0) {
                        size_t m = MIN(sizeof(mark) - 1, n_out - 1 - o);

                        memcpy(out + o, mark, m);
                        o += m;
                        in += skip;
                } else
                        out[o++] = *in++;
        }
        out[o] = '\0';
}

static size_t format_log_json(SigilLogLevel level, char *msg, const char *src, const char *ts,
                              char *out) {
        for (;;) {
                size_t n = emit_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", ts, "level",
                                               level_names[level], "msg", msg, "prog",
                                               log_progname, "src", src),
                                     out);

                /* too long once escaped: shorten the message rather than lose the line */
                if (n > 0 || msg[0] == '\0')
                        return n;
                msg[strlen(msg) / 2] = '\0';
        }
}

int sigil_log_internal(SigilLogLevel level, int error, const char *file, int line,
                       const char *func, const char *fmt, ...) {
        char raw[LOG_LINE_MAX], msg[LOG_LINE_MAX], out[LOG_LINE_MAX + 1], ts[40], src[256];
        int saved_errno = errno;
        size_t n;
        va_list ap;

        if (level < 0 || level >= _SIGIL_LOG_LEVEL_MAX)
                level = SIGIL_LOG_ERROR;
        errno = error < 0 ? -error : error;     /* so that %m renders @error */
        va_start(ap, fmt);
        (void) vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        redact(raw, msg, sizeof(msg));
        sanitize(msg);
        format_time(ts, sizeof(ts));

        if (log_format == SIGIL_LOG_FORMAT_JSON) {
                (void) snprintf(src, sizeof(src), "%s:%d", file, line);
                n = format_log_json(level, msg, src, ts, out);
        } else {
                int k = snprintf(out, LOG_LINE_MAX, "%s %s[%d]: %s: %s", ts, log_progname,
                                 (int) getpid(), level_names[level], msg);
                n = k < 0 ? 0 : (size_t) k;
        }
        if (n > 0)
                write_line(atomic_load(&log_fd), out, n);
        errno = saved_errno;
        return error;
}

/* The fields of one audit line, sanitized. */
typedef struct AuditLine {
        char who[256], action[128], what[1024], result[256], details[LOG_LINE_MAX / 2];
} AuditLine;

static size_t format_audit_json(AuditLine *a, const char *ts, char *out) {
        for (;;) {
                size_t n = emit_json(json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s}", "time",
                                               ts, "prog", log_progname, "audit", 1, "caller",
                                               a->who, "action", a->action, "object", a->what,
                                               "result", a->result, "details", a->details),
                                     out);

                if (n > 0 || (a->details[0] == '\0' && a->what[0] == '\0'))
                        return n;
                if (a->details[0] != '\0')
                        a->details[strlen(a->details) / 2] = '\0';
                else
                        a->what[strlen(a->what) / 2] = '\0';
        }
}

void sigil_audit(const char *caller, const char *action, const char *object, const char *result,
                 const char *fmt, ...) {
        char raw[LOG_LINE_MAX / 2] = "", out[LOG_LINE_MAX + 1], ts[40];
        int fd = atomic_load(&audit_fd);
        AuditLine a;
        size_t n;

        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                (void) vsnprintf(raw, sizeof(raw), fmt, ap);
                va_end(ap);
        }
        (void) snprintf(a.who, sizeof(a.who), "%s", caller ? caller : "-");
        (void) snprintf(a.action, sizeof(a.action), "%s", action ? action : "-");
        (void) snprintf(a.what, sizeof(a.what), "%s", object ? object : "");
        (void) snprintf(a.result, sizeof(a.result), "%s", result ? result : "-");
        redact(raw, a.details, sizeof(a.details));
        sanitize(a.who);
        sanitize(a.action);
        sanitize(a.what);
        sanitize(a.result);
        sanitize(a.details);
        format_time(ts, sizeof(ts));
        if (log_format == SIGIL_LOG_FORMAT_JSON)
                n = format_audit_json(&a, ts, out);
        else {
                int k = snprintf(out, LOG_LINE_MAX,
                                 "%s %s[%d]: audit: caller=%s action=%s object='%s' result=%s%s%s",
                                 ts, log_progname, (int) getpid(), a.who, a.action, a.what,
                                 a.result, a.details[0] ? " " : "", a.details);
                n = k < 0 ? 0 : (size_t) k;
        }
        if (n > 0)
                write_line(fd >= 0 ? fd : atomic_load(&log_fd), out, n);
}
