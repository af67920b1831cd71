/* SPDX-License-Identifier: Apache-2.0 */
/* sigil log.h - leveled logging (text or JSON lines) and the audit channel */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "sigil/macro.h"

typedef enum SigilLogLevel {
        SIGIL_LOG_ERROR,
        SIGIL_LOG_WARNING,
        SIGIL_LOG_INFO,
        SIGIL_LOG_DEBUG,
        _SIGIL_LOG_LEVEL_MAX,
        _SIGIL_LOG_LEVEL_INVALID = -EINVAL,
} SigilLogLevel;

typedef enum SigilLogFormat {
        SIGIL_LOG_FORMAT_TEXT,
        SIGIL_LOG_FORMAT_JSON,
        _SIGIL_LOG_FORMAT_MAX,
        _SIGIL_LOG_FORMAT_INVALID = -EINVAL,
} SigilLogFormat;

/**
 * sigil_log_setup() - configure the process-wide logger
 * @progname:   prefix of every line (e.g. "sigil-server")
 * @level:      most verbose level written
 * @format:     text or JSON lines
 *
 * Logging goes to stderr until sigil_log_open_file() redirects it.
 */
void sigil_log_setup(const char *progname, SigilLogLevel level, SigilLogFormat format);

/**
 * sigil_log_open_file() - send log lines to a file (appended, 0600) instead of stderr
 * @path:       file path, or NULL to go back to stderr
 *
 * Return: 0 or negative errno.
 */
int sigil_log_open_file(const char *path);

/**
 * sigil_log_open_audit_file() - send audit lines to a file of their own (appended, 0600)
 * @path:       file path, or NULL to write audit lines to the main log
 *
 * Return: 0 or negative errno.
 */
int sigil_log_open_audit_file(const char *path);

/* Parse "error", "warn"/"warning", "info", "debug" (case-insensitive). */
SigilLogLevel sigil_log_level_from_string(const char *s);
SigilLogFormat sigil_log_format_from_string(const char *s);
const char *sigil_log_level_to_string(SigilLogLevel level);
void sigil_log_set_level(SigilLogLevel level);
SigilLogLevel sigil_log_get_level(void);

/**
 * sigil_log_internal() - write one log line; use the log_*() macros instead
 * @level:      the line's level
 * @error:      a negative errno to render as %m, or 0
 * @file:       source file
 * @line:       source line
 * @func:       function name
 * @fmt:        printf format
 *
 * Return: @error when it is non-zero, else 0.
 */
int sigil_log_internal(SigilLogLevel level, int error, const char *file, int line,
                       const char *func, const char *fmt, ...) _printf_(6, 7);

#define sigil_log_full(level, error, ...)                                             \
        ({                                                                            \
                int _l_ = (level), _e_ = (error);                                     \
                (sigil_log_get_level() >= _l_)                                        \
                        ? sigil_log_internal(_l_, _e_, __FILE__, __LINE__, __func__,   \
                                             __VA_ARGS__)                             \
                        : _e_;                                                        \
        })

#define log_debug(...) sigil_log_full(SIGIL_LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) sigil_log_full(SIGIL_LOG_INFO, 0, __VA_ARGS__)
#define log_warning(...) sigil_log_full(SIGIL_LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) sigil_log_full(SIGIL_LOG_ERROR, 0, __VA_ARGS__)
#define log_debug_errno(r, ...) sigil_log_full(SIGIL_LOG_DEBUG, (r), __VA_ARGS__)
#define log_info_errno(r, ...) sigil_log_full(SIGIL_LOG_INFO, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) sigil_log_full(SIGIL_LOG_WARNING, (r), __VA_ARGS__)
#define log_error_errno(r, ...) sigil_log_full(SIGIL_LOG_ERROR, (r), __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

/**
 * sigil_audit() - write one audit line: who did what to which object, and the result
 * @caller:     the caller's identity ("uid=0", "spiffe://td/agent/x", ...)
 * @action:     a dotted verb ("entry.create", "svid.mint", "ca.rotate")
 * @object:     the object acted on (entry ID, SPIFFE ID, serial...), may be NULL
 * @result:     "ok" or a short reason of refusal/failure
 * @fmt:        optional extra key=value details (printf format), may be NULL
 *
 * Audit lines are never filtered by level. They must never carry secrets.
 */
void sigil_audit(const char *caller, const char *action, const char *object, const char *result,
                 const char *fmt, ...) _printf_(5, 6);
