/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durations as operators write them in config files and on the command line:
 * a Go-style sequence of <integer><unit> ("1h30m", "250ms", "2d"), or a bare
 * integer meaning seconds, as spire's TTL flags take. The value is uint64_t
 * microseconds, sigil's unit of time.
 *
 * The parser is strict on purpose: a TTL that silently means something else
 * than its author thought ("1.5h" read as 1h, "-5m" wrapped around, "10 s"
 * cut at the space) is worse than an error. Formatting is exact and
 * round-trips through the parser.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sigil/duration.h"

/* At most this much of an unknown unit is quoted back in the error. */
#define UNIT_NAME_SHOWN 16

typedef struct DurationUnit {
        const char *name;
        uint64_t usec;
} DurationUnit;

/* Largest first: sigil_duration_format() relies on this order. */
static const DurationUnit units[] = {
        { "d", UINT64_C(86400) * USEC_PER_SEC },
        { "h", UINT64_C(3600) * USEC_PER_SEC },
        { "m", UINT64_C(60) * USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "ms", USEC_PER_MSEC },
        { "us", 1 },
};

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_letter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const DurationUnit *unit_find(const char *s, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strlen(units[i].name) == n && memcmp(units[i].name, s, n) == 0)
                        return &units[i];
        return NULL;
}

/* Read the digits at *p into *ret, advancing *p. */
static int parse_number(const char **p, uint64_t *ret, SigilErr *reterr) {
        uint64_t v = 0;

        for (; is_digit(**p); (*p)++) {
                unsigned d = (unsigned) (**p - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return sigil_err_set(reterr, -ERANGE, "duration is too large");
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Say why @p, where a number was expected, does not start one. */
static int number_expected(const char *p, SigilErr *reterr) {
        if (*p == '-')
                return sigil_err_set(reterr, -EINVAL, "negative durations are not allowed");
        if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
                return sigil_err_set(reterr, -EINVAL, "duration must not contain whitespace");
        if (*p == '.')
                return sigil_err_set(reterr, -EINVAL, "fractions are not allowed in durations");
        return sigil_err_set(reterr, -EINVAL,
                             "invalid duration: expected a number followed by a unit "
                             "(us, ms, s, m, h, d)");
}

/* Multiply @v by @unit into *ret, refusing to wrap around. */
static int scale(uint64_t v, uint64_t unit, uint64_t *ret, SigilErr *reterr) {
        if (v > UINT64_MAX / unit)
                return sigil_err_set(reterr, -ERANGE, "duration is too large");
        *ret = v * unit;
        return 0;
}

/* Read one <number><unit> term at *p, advancing *p; *ret is its value in microseconds. */
static int parse_term(const char **p, uint64_t *ret, SigilErr *reterr) {
        const DurationUnit *u;
        const char *name;
        uint64_t v = 0;
        int r;

        if (!is_digit(**p))
                return number_expected(*p, reterr);
        r = parse_number(p, &v, reterr);
        if (r < 0)
                return r;
        if (**p == '.')
                return number_expected(*p, reterr);
        for (name = *p; is_letter(**p); (*p)++)
                ;
        if (*p == name)
                return **p == '\0' ? sigil_err_set(reterr, -EINVAL,
                                                   "duration is missing a unit after its last "
                                                   "number")
                                   : number_expected(*p, reterr);
        u = unit_find(name, (size_t) (*p - name));
        if (!u)
                return sigil_err_set(reterr, -EINVAL,
                                     "unknown duration unit '%.*s' (use us, ms, s, m, h or d)",
                                     (int) MIN(*p - name, UNIT_NAME_SHOWN), name);
        return scale(v, u->usec, ret, reterr);
}

int sigil_duration_parse(const char *s, uint64_t *ret_usec, SigilErr *reterr) {
        const char *p = s;
        uint64_t total = 0, v = 0;
        int r;

        if (isempty(s))
                return sigil_err_set(reterr, -EINVAL, "duration is empty");
        if (s[strspn(s, "0123456789")] == '\0') {
                /* a bare integer: seconds */
                r = parse_number(&p, &v, reterr);
                if (r < 0)
                        return r;
                r = scale(v, USEC_PER_SEC, &total, reterr);
                if (r < 0)
                        return r;
                *ret_usec = total;
                return 0;
        }
        while (*p) {
                r = parse_term(&p, &v, reterr);
                if (r < 0)
                        return r;
                if (total > UINT64_MAX - v)
                        return sigil_err_set(reterr, -ERANGE, "duration is too large");
                total += v;
        }
        *ret_usec = total;
        return 0;
}

char *sigil_duration_format(uint64_t usec, char *buf, size_t n_buf) {
        size_t off = 0;

        if (!buf || n_buf == 0)
                return buf;
        buf[0] = '\0';
        if (usec == 0) {
                (void) snprintf(buf, n_buf, "0s");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && usec > 0; i++) {
                uint64_t v = usec / units[i].usec;
                int k;

                if (v == 0)
                        continue;
                usec -= v * units[i].usec;
                k = snprintf(buf + off, n_buf - off, "%" PRIu64 "%s", v, units[i].name);
                if (k < 0 || (size_t) k >= n_buf - off) {
                        buf[off] = '\0';      /* drop a partly written term */
                        break;
                }
                off += (size_t) k;
        }
        return buf;
}
