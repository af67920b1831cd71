/* SPDX-License-Identifier: Apache-2.0 */
/* sigil selector.h - workload/node selectors ("type:value") and selector sets */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sigil/error.h"

#define SIGIL_SELECTOR_TYPE_MAX 64
#define SIGIL_SELECTOR_VALUE_MAX 1024
#define SIGIL_SELECTOR_SET_MAX 512

typedef struct SigilSelector {
        char *type;     /* non-empty, [a-z0-9_-] */
        char *value;    /* non-empty, printable, may contain ':' */
} SigilSelector;

/*
 * A set of selectors, kept sorted (by type, then value) and free of
 * duplicates so that equality and subset tests are linear merges.
 */
typedef struct SigilSelectorSet {
        SigilSelector *items;
        size_t n_items;
} SigilSelectorSet;

/**
 * sigil_selector_parse() - parse "type:value" (the value may itself contain ':')
 * @s:          NUL-terminated text
 * @ret:        on success, the selector (free with sigil_selector_done())
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_selector_parse(const char *s, SigilSelector *ret, SigilErr *reterr);

/**
 * sigil_selector_make() - build a selector from a separate type and value, validating both
 * @type:       selector type
 * @value:      selector value
 * @ret:        on success, the selector
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int sigil_selector_make(const char *type, const char *value, SigilSelector *ret,
                        SigilErr *reterr);

void sigil_selector_done(SigilSelector *s);
int sigil_selector_compare(const SigilSelector *a, const SigilSelector *b);

/* Empty the set and free what it holds; the set itself may be reused. */
void sigil_selector_set_done(SigilSelectorSet *set);

/**
 * sigil_selector_set_add() - add a copy of @type/@value, keeping the set sorted; duplicates are ignored
 * @set:        the set
 * @type:       selector type
 * @value:      selector value
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL (invalid selector), -E2BIG (set full) or -ENOMEM.
 */
int sigil_selector_set_add(SigilSelectorSet *set, const char *type, const char *value,
                           SigilErr *reterr);

/**
 * sigil_selector_set_add_string() - parse "type:value" and add it
 * @set:        the set
 * @s:          text
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: as sigil_selector_set_add().
 */
int sigil_selector_set_add_string(SigilSelectorSet *set, const char *s, SigilErr *reterr);

int sigil_selector_set_copy(const SigilSelectorSet *src, SigilSelectorSet *ret);
bool sigil_selector_set_contains(const SigilSelectorSet *set, const char *type, const char *value);

/* True when every selector of @sub is in @super (an empty @sub is a subset of anything). */
bool sigil_selector_set_is_subset(const SigilSelectorSet *sub, const SigilSelectorSet *super);
bool sigil_selector_set_equal(const SigilSelectorSet *a, const SigilSelectorSet *b);

/**
 * sigil_selector_set_to_string() - canonical text "t1:v1,t2:v2" (sorted)
 * @set:        the set
 * @ret:        on success, a new string
 *
 * Values containing ',' or '\\' are escaped with '\\' so the text is unambiguous.
 *
 * Return: 0 or -ENOMEM.
 */
int sigil_selector_set_to_string(const SigilSelectorSet *set, char **ret);
