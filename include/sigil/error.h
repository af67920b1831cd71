/* SPDX-License-Identifier: Apache-2.0 */
/* sigil error.h - a diagnostic message carried beside an error return */
#pragma once

#include <stddef.h>

#include "sigil/macro.h"

#define SIGIL_ERR_MSG_MAX 512

/*
 * SigilErr carries a human-readable reason next to a non-zero return. It is
 * optional everywhere: a function given NULL still returns its code.
 */
typedef struct SigilErr {
        char msg[SIGIL_ERR_MSG_MAX];
} SigilErr;

/**
 * sigil_err_set() - format a message into an optional SigilErr
 * @err:        destination, may be NULL
 * @code:       the value to return
 * @fmt:        printf format of the message
 *
 * Return: @code, so callers can write "return sigil_err_set(err, -EINVAL, ...)".
 */
int sigil_err_set(SigilErr *err, int code, const char *fmt, ...) _printf_(3, 4);

/**
 * sigil_err_prefix() - prepend context to the message already in @err
 * @err:        destination, may be NULL
 * @code:       the value to return
 * @fmt:        printf format of the prefix; ": " and the old message follow it
 *
 * Return: @code.
 */
int sigil_err_prefix(SigilErr *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Copy the message of @err (or a generic text for @code) into a caller's buffer. */
void sigil_err_copy(const SigilErr *err, int code, char *buf, size_t n_buf);
