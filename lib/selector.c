/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Selectors ("unix:uid:1000", "k8s:ns:prod") and selector sets.
 *
 * A selector's type is a short lowercase token; its value is free text that
 * may itself contain ':' but no control characters, so that a selector can
 * be logged, stored and compared without escaping surprises. Values come
 * from attestors that read /proc and from operators, so both are validated
 * here, never trusted.
 *
 * A SigilSelectorSet is kept sorted by (type, value) with no duplicates:
 * membership is a binary search, and subset and equality are linear merges.
 * That matters because the agent matches every workload against the
 * selector sets of all the entries it holds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigil/selector.h"

static bool is_type_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int check_type(const char *type, SigilErr *reterr) {
        size_t n;

        if (isempty(type))
                return sigil_err_set(reterr, -EINVAL, "selector type is empty");
        n = strnlen(type, SIGIL_SELECTOR_TYPE_MAX + 1);
        if (n > SIGIL_SELECTOR_TYPE_MAX)
                return sigil_err_set(reterr, -EINVAL, "selector type is longer than %d bytes",
                                     SIGIL_SELECTOR_TYPE_MAX);
        for (size_t i = 0; i < n; i++)
                if (!is_type_char(type[i]))
                        return sigil_err_set(reterr, -EINVAL,
                                             "selector type characters are limited to lowercase "
                                             "letters, numbers, '_' and '-'");
        return 0;
}

/*
 * Length of the UTF-8 sequence at @s (at most @n bytes), or 0 when it is not
 * valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF are
 * invalid), or is a control character (C0, DEL, C1).
 */
static size_t printable_utf8_len(const unsigned char *s, size_t n) {
        uint32_t cp, min;
        size_t len;

        if (s[0] < 0x80)
                return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1fu;
                min = 0x80;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0fu;
                min = 0x800;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07u;
                min = 0x10000;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        if (cp >= 0x80 && cp <= 0x9f)
                return 0;
        return len;
}

static int check_value(const char *value, SigilErr *reterr) {
        const unsigned char *v = (const unsigned char *) value;
        size_t n;

        if (isempty(value))
                return sigil_err_set(reterr, -EINVAL, "selector value is empty");
        n = strnlen(value, SIGIL_SELECTOR_VALUE_MAX + 1);
        if (n > SIGIL_SELECTOR_VALUE_MAX)
                return sigil_err_set(reterr, -EINVAL, "selector value is longer than %d bytes",
                                     SIGIL_SELECTOR_VALUE_MAX);
        for (size_t i = 0; i < n;) {
                size_t k = printable_utf8_len(v + i, n - i);

                if (k == 0)
                        return sigil_err_set(reterr, -EINVAL,
                                             "selector value must be printable UTF-8 without "
                                             "control characters");
                i += k;
        }
        return 0;
}

int sigil_selector_make(const char *type, const char *value, SigilSelector *ret,
                        SigilErr *reterr) {
        _cleanup_(freep) char *t = NULL, *v = NULL;
        int r;

        r = check_type(type, reterr);
        if (r < 0)
                return r;
        r = check_value(value, reterr);
        if (r < 0)
                return r;
        t = strdup(type);
        v = strdup(value);
        if (!t || !v)
                return sigil_err_set(reterr, -ENOMEM, "out of memory");
        ret->type = TAKE_PTR(t);
        ret->value = TAKE_PTR(v);
        return 0;
}

int sigil_selector_parse(const char *s, SigilSelector *ret, SigilErr *reterr) {
        char type[SIGIL_SELECTOR_TYPE_MAX + 1];
        const char *colon;
        size_t n_type;
        int r;

        if (isempty(s))
                return sigil_err_set(reterr, -EINVAL, "selector is empty");
        colon = strchr(s, ':');
        if (!colon)
                return sigil_err_set(reterr, -EINVAL, "selector must have the form 'type:value'");
        n_type = (size_t) (colon - s);
        if (n_type > SIGIL_SELECTOR_TYPE_MAX)
                return sigil_err_set(reterr, -EINVAL, "selector type is longer than %d bytes",
                                     SIGIL_SELECTOR_TYPE_MAX);
        memcpy(type, s, n_type);
        type[n_type] = '\0';
        r = sigil_selector_make(type, colon + 1, ret, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "invalid selector");
        return 0;
}

void sigil_selector_done(SigilSelector *s) {
        if (!s)
                return;
        free(s->type);
        free(s->value);
        s->type = s->value = NULL;
}

static int compare_parts(const SigilSelector *a, const char *type, const char *value) {
        int c = strcmp(a->type, type);

        return c != 0 ? c : strcmp(a->value, value);
}

int sigil_selector_compare(const SigilSelector *a, const SigilSelector *b) {
        return compare_parts(a, b->type, b->value);
}

void sigil_selector_set_done(SigilSelectorSet *set) {
        if (!set)
                return;
        for (size_t i = 0; i < set->n_items; i++)
                sigil_selector_done(&set->items[i]);
        free(set->items);
        set->items = NULL;
        set->n_items = 0;
}

/* Binary search: true if found; *ret_pos is the index found, or where to insert. */
static bool set_find(const SigilSelectorSet *set, const char *type, const char *value,
                     size_t *ret_pos) {
        size_t lo = 0, hi = set->n_items;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = compare_parts(&set->items[mid], type, value);

                if (c == 0) {
                        *ret_pos = mid;
                        return true;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_pos = lo;
        return false;
}

/* Insert @sel (taking its strings) at @pos. */
static int set_insert(SigilSelectorSet *set, size_t pos, SigilSelector *sel) {
        SigilSelector *items;

        items = reallocarray(set->items, set->n_items + 1, sizeof(SigilSelector));
        if (!items)
                return -ENOMEM;
        set->items = items;
        memmove(items + pos + 1, items + pos, (set->n_items - pos) * sizeof(SigilSelector));
        items[pos] = *sel;
        set->n_items++;
        *sel = (SigilSelector) { NULL, NULL };
        return 0;
}

int sigil_selector_set_add(SigilSelectorSet *set, const char *type, const char *value,
                           SigilErr *reterr) {
        SigilSelector sel = { NULL, NULL };
        size_t pos;
        int r;

        r = check_type(type, reterr);
        if (r < 0)
                return r;
        r = check_value(value, reterr);
        if (r < 0)
                return r;
        if (set_find(set, type, value, &pos))
                return 0;
        if (set->n_items >= SIGIL_SELECTOR_SET_MAX)
                return sigil_err_set(reterr, -E2BIG, "a selector set holds at most %d selectors",
                                     SIGIL_SELECTOR_SET_MAX);
        r = sigil_selector_make(type, value, &sel, reterr);
        if (r < 0)
                return r;
        r = set_insert(set, pos, &sel);
        sigil_selector_done(&sel);
        if (r < 0)
                return sigil_err_set(reterr, r, "out of memory");
        return 0;
}

int sigil_selector_set_add_string(SigilSelectorSet *set, const char *s, SigilErr *reterr) {
        SigilSelector sel = { NULL, NULL };
        int r;

        r = sigil_selector_parse(s, &sel, reterr);
        if (r < 0)
                return r;
        r = sigil_selector_set_add(set, sel.type, sel.value, reterr);
        sigil_selector_done(&sel);
        return r;
}

int sigil_selector_set_copy(const SigilSelectorSet *src, SigilSelectorSet *ret) {
        SigilSelectorSet copy = { NULL, 0 };

        copy.items = new0(SigilSelector, src->n_items);
        if (!copy.items)
                return -ENOMEM;
        for (size_t i = 0; i < src->n_items; i++) {
                copy.items[i].type = strdup(src->items[i].type);
                copy.items[i].value = strdup(src->items[i].value);
                copy.n_items = i + 1;
                if (!copy.items[i].type || !copy.items[i].value) {
                        sigil_selector_set_done(&copy);
                        return -ENOMEM;
                }
        }
        *ret = copy;
        return 0;
}

bool sigil_selector_set_contains(const SigilSelectorSet *set, const char *type,
                                 const char *value) {
        size_t pos;

        if (!type || !value)
                return false;
        return set_find(set, type, value, &pos);
}

bool sigil_selector_set_is_subset(const SigilSelectorSet *sub, const SigilSelectorSet *super) {
        size_t j = 0;

        if (sub->n_items > super->n_items)
                return false;
        for (size_t i = 0; i < sub->n_items; i++) {
                int c = 1;

                /* Both are sorted: skip the members of @super that sort before sub[i]. */
                while (j < super->n_items &&
                       (c = sigil_selector_compare(&super->items[j], &sub->items[i])) < 0)
                        j++;
                if (j == super->n_items || c != 0)
                        return false;
                j++;
        }
        return true;
}

bool sigil_selector_set_equal(const SigilSelectorSet *a, const SigilSelectorSet *b) {
        if (a->n_items != b->n_items)
                return false;
        for (size_t i = 0; i < a->n_items; i++)
                if (sigil_selector_compare(&a->items[i], &b->items[i]) != 0)
                        return false;
        return true;
}

/* Bytes needed for "type:value" with ',' and '\\' in the value escaped. */
static size_t escaped_len(const SigilSelector *s) {
        size_t n = strlen(s->type) + 1;

        for (const char *p = s->value; *p; p++)
                n += (*p == ',' || *p == '\\') ? 2 : 1;
        return n;
}

int sigil_selector_set_to_string(const SigilSelectorSet *set, char **ret) {
        size_t n = 1;
        char *out, *p;

        for (size_t i = 0; i < set->n_items; i++)
                n += escaped_len(&set->items[i]) + 1;
        out = malloc(n);
        if (!out)
                return -ENOMEM;
        p = out;
        for (size_t i = 0; i < set->n_items; i++) {
                const SigilSelector *s = &set->items[i];
                size_t n_type = strlen(s->type);

                if (i > 0)
                        *p++ = ',';
                memcpy(p, s->type, n_type);
                p += n_type;
                *p++ = ':';
                for (const char *v = s->value; *v; v++) {
                        if (*v == ',' || *v == '\\')
                                *p++ = '\\';
                        *p++ = *v;
                }
        }
        *p = '\0';
        *ret = out;
        return 0;
}
