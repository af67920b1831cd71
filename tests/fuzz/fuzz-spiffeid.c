/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the identity text parsers: SPIFFE IDs (length-based and
 * NUL-terminated), trust domains, selectors and selector sets, durations.
 * Beyond "no crash", each accepted input must satisfy the invariants the
 * rest of sigil relies on: a parsed ID re-validates, round-trips through its
 * parts and its trust domain; a selector rebuilds to an equal one; a set
 * stays sorted and unique; a duration formats and parses back to itself.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sigil/duration.h"
#include "sigil/selector.h"
#include "sigil/spiffeid.h"

#define FUZZ_INPUT_MAX 8192

#define CHECK(x)                                                                     \
        do {                                                                         \
                if (!(x)) {                                                          \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,   \
                                __LINE__, #x);                                       \
                        abort();                                                     \
                }                                                                    \
        } while (0)

static void check_parsed_id(const uint8_t *data, size_t size, const SigilSpiffeId *id) {
        SigilSpiffeId again, built, root;
        SigilTrustDomain td, td2;

        CHECK(id->n_str == size && memcmp(id->str, data, size) == 0);
        CHECK(strlen(id->str) == id->n_str);
        CHECK(id->n_str <= SIGIL_SPIFFEID_MAX);
        CHECK(id->n_td >= 1 && id->n_td <= SIGIL_TRUST_DOMAIN_MAX);
        CHECK(sigil_spiffeid_validate(id->str, NULL, 0) == 0);
        CHECK(sigil_spiffeid_from_string(id->str, &again, NULL) == 0);
        CHECK(sigil_spiffeid_equal(id, &again) && again.n_td == id->n_td);

        sigil_spiffeid_trust_domain(id, &td);
        CHECK(strlen(td.name) == id->n_td);
        CHECK(sigil_trust_domain_validate(td.name, NULL, 0) == 0);
        CHECK(sigil_spiffeid_member_of(id, td.name));
        CHECK(sigil_spiffeid_from_parts(td.name, sigil_spiffeid_path(id), &built, NULL) == 0);
        CHECK(sigil_spiffeid_equal(id, &built));
        CHECK(sigil_trust_domain_parse(id->str, &td2, NULL) == 0);
        CHECK(strcmp(td.name, td2.name) == 0);

        sigil_trust_domain_to_id(&td, &root);
        CHECK(sigil_spiffeid_is_root(&root) && sigil_spiffeid_member_of(&root, td.name));
        CHECK(sigil_spiffeid_is_root(id) == (sigil_spiffeid_path(id)[0] == '\0'));
        CHECK(sigil_spiffeid_is_root(id) == sigil_spiffeid_equal(id, &root));
}

static void fuzz_spiffeid(const uint8_t *data, size_t size, const char *text) {
        SigilSpiffeId id;
        SigilErr e = { .msg = "" };
        char err[64];

        if (sigil_spiffeid_parse((const char *) data, size, &id, &e) == 0) {
                check_parsed_id(data, size, &id);
                return;
        }
        CHECK(e.msg[0] != '\0');
        /* without NULs both entry points see the same bytes and must agree */
        if (!memchr(data, '\0', size)) {
                CHECK(sigil_spiffeid_validate(text, err, sizeof(err)) != 0);
                CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
        }
}

static void fuzz_trust_domain(const char *text) {
        SigilTrustDomain td;
        SigilSpiffeId root;

        if (sigil_trust_domain_parse(text, &td, NULL) != 0)
                return;
        CHECK(strlen(td.name) >= 1 && strlen(td.name) <= SIGIL_TRUST_DOMAIN_MAX);
        CHECK(sigil_trust_domain_validate(td.name, NULL, 0) == 0);
        sigil_trust_domain_to_id(&td, &root);
        CHECK(sigil_spiffeid_validate(root.str, NULL, 0) == 0);
}

static void fuzz_selector(const char *text) {
        SigilSelector sel = { NULL, NULL }, made = { NULL, NULL };

        if (sigil_selector_parse(text, &sel, NULL) != 0)
                return;
        CHECK(sigil_selector_make(sel.type, sel.value, &made, NULL) == 0);
        CHECK(sigil_selector_compare(&sel, &made) == 0);
        CHECK(strlen(sel.type) + 1 + strlen(sel.value) == strlen(text));
        sigil_selector_done(&sel);
        sigil_selector_done(&made);
}

/* Every line of the input is a selector for one set. */
static void fuzz_selector_set(char *text) {
        SigilSelectorSet set = { NULL, 0 }, copy = { NULL, 0 };
        size_t n_added = 0;
        char *out = NULL;

        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (sigil_selector_set_add_string(&set, line, NULL) == 0)
                        n_added++;
        }
        CHECK(set.n_items <= n_added && set.n_items <= SIGIL_SELECTOR_SET_MAX);
        for (size_t i = 1; i < set.n_items; i++)
                CHECK(sigil_selector_compare(&set.items[i - 1], &set.items[i]) < 0);
        for (size_t i = 0; i < set.n_items; i++)
                CHECK(sigil_selector_set_contains(&set, set.items[i].type, set.items[i].value));
        if (sigil_selector_set_copy(&set, &copy) == 0) {
                CHECK(sigil_selector_set_equal(&set, &copy));
                CHECK(sigil_selector_set_is_subset(&copy, &set));
                if (copy.n_items > 0) {
                        sigil_selector_done(&copy.items[copy.n_items - 1]);
                        copy.n_items--;
                        CHECK(sigil_selector_set_is_subset(&copy, &set));
                        CHECK(!sigil_selector_set_is_subset(&set, &copy));
                }
                sigil_selector_set_done(&copy);
        }
        if (sigil_selector_set_to_string(&set, &out) == 0) {
                CHECK(set.n_items > 0 || out[0] == '\0');
                free(out);
        }
        sigil_selector_set_done(&set);
}

static void fuzz_duration(const char *text) {
        char buf[SIGIL_DURATION_STRING_MAX];
        uint64_t v, back;

        if (sigil_duration_parse(text, &v, NULL) != 0)
                return;
        (void) sigil_duration_format(v, buf, sizeof(buf));
        CHECK(sigil_duration_parse(buf, &back, NULL) == 0 && back == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        fuzz_spiffeid(data, size, text);
        fuzz_trust_domain(text);
        fuzz_selector(text);
        fuzz_duration(text);
        fuzz_selector_set(text);        /* last: it splits @text in place */
        free(text);
        return 0;
}
