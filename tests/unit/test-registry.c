/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory registry: authorisation by parent, through node aliases
 * (selector subsets), transitively, never across agents; expiry; updates and
 * removals with the listener told of each.
 */
#include "test-util.h"

#include "registry.h"

#define TD "example.org"
#define SERVER "spiffe://example.org/sigil/server"
#define AGENT_A "spiffe://example.org/sigil/agent/join_token/a"
#define AGENT_B "spiffe://example.org/sigil/agent/join_token/b"

static int n_events;
static char last_old[64], last_new[64];

static void listener(void *ud, const Entry *old, const Entry *new_entry) {
        n_events++;
        snprintf(last_old, sizeof(last_old), "%s", old ? old->id : "-");
        snprintf(last_new, sizeof(last_new), "%s", new_entry ? new_entry->id : "-");
}

static void put(Registry *r, const char *id, const char *spiffe_id, const char *parent,
                const char *selector, int64_t expires_at) {
        _cleanup_(entry_freep) Entry *e = entry_new();

        e->id = strdup(id);
        e->spiffe_id = strdup(spiffe_id);
        e->parent_id = strdup(parent);
        e->expires_at = expires_at;
        assert_int_equal(sigil_selector_set_add_string(&e->selectors, selector, NULL), 0);
        assert_int_equal(registry_put(r, e), 0);
}

/* The authorised entry IDs, joined with ',' (sorted). */
static char *authorized(Registry *r, const char *agent, const char *sel_a, const char *sel_b) {
        _cleanup_(sigil_selector_set_done) SigilSelectorSet sels = {};
        static char buf[1024];
        EntryList l = {};

        if (sel_a)
                assert_int_equal(sigil_selector_set_add_string(&sels, sel_a, NULL), 0);
        if (sel_b)
                assert_int_equal(sigil_selector_set_add_string(&sels, sel_b, NULL), 0);
        assert_int_equal(registry_authorized(r, agent, &sels, 1000, &l), 0);
        buf[0] = '\0';
        for (size_t i = 0; i < l.n_entries; i++) {
                strcat(buf, i ? "," : "");
                strcat(buf, l.entries[i]->id);
        }
        entry_list_done(&l);
        return buf;
}

static void test_authorization(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;

        assert_int_equal(registry_new(TD, &r), 0);
        assert_string_equal(registry_server_id(r), SERVER);
        /* Direct children of agent A. */
        put(r, "e1", "spiffe://example.org/w1", AGENT_A, "unix:uid:1000", 0);
        /* A grandchild through e1 (nested parent). */
        put(r, "e2", "spiffe://example.org/w2", "spiffe://example.org/w1", "unix:uid:1001", 0);
        /* A node alias for nodes with selector gpu:true, and a workload under it. */
        put(r, "alias", "spiffe://example.org/gpu-nodes", SERVER, "x509pop:gpu:true", 0);
        put(r, "e3", "spiffe://example.org/trainer", "spiffe://example.org/gpu-nodes",
            "slurm:job_id:42", 0);
        /* Agent B's own entry, and an expired one of A. */
        put(r, "e4", "spiffe://example.org/w4", AGENT_B, "unix:uid:1000", 0);
        put(r, "e5", "spiffe://example.org/w5", AGENT_A, "unix:uid:1000", 999);

        assert_string_equal(authorized(r, AGENT_A, NULL, NULL), "e1,e2");
        assert_string_equal(authorized(r, AGENT_A, "x509pop:gpu:true", NULL), "e1,e2,e3");
        assert_string_equal(authorized(r, AGENT_B, "x509pop:gpu:false", NULL), "e4");
        assert_string_equal(authorized(r, AGENT_B, "x509pop:gpu:true", "x509pop:rack:1"),
                            "e3,e4");
        assert_string_equal(authorized(r, "spiffe://example.org/nobody", NULL, NULL), "");

        {
                _cleanup_(entry_freep) Entry *e = NULL;
                SigilSelectorSet none = {};

                assert_int_equal(registry_authorized_entry(r, AGENT_A, &none, "e2", 1000, &e), 0);
                assert_string_equal(e->spiffe_id, "spiffe://example.org/w2");
                assert_int_equal(registry_authorized_entry(r, AGENT_A, &none, "e4", 1000,
                                                           &(Entry *) { NULL }), -EPERM);
                assert_int_equal(registry_authorized_entry(r, AGENT_A, &none, "e5", 1000,
                                                           &(Entry *) { NULL }), -ENOENT);
                assert_int_equal(registry_authorized_entry(r, AGENT_A, &none, "nope", 1000,
                                                           &(Entry *) { NULL }), -ENOENT);
        }
}

static void test_changes(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;

        assert_int_equal(registry_new(TD, &r), 0);
        registry_set_listener(r, listener, NULL);
        n_events = 0;
        put(r, "e1", "spiffe://example.org/w1", AGENT_A, "unix:uid:1000", 0);
        assert_int_equal(n_events, 1);
        assert_string_equal(last_old, "-");
        assert_string_equal(last_new, "e1");
        /* Moving e1 to agent B. */
        put(r, "e1", "spiffe://example.org/w1", AGENT_B, "unix:uid:1000", 0);
        assert_int_equal(n_events, 2);
        assert_string_equal(last_old, "e1");
        assert_string_equal(authorized(r, AGENT_A, NULL, NULL), "");
        assert_string_equal(authorized(r, AGENT_B, NULL, NULL), "e1");
        assert_int_equal(registry_size(r), 1);
        assert_int_equal(registry_remove(r, "e1"), 0);
        assert_int_equal(n_events, 3);
        assert_string_equal(last_new, "-");
        assert_int_equal(registry_remove(r, "e1"), -ENOENT);
        assert_int_equal(registry_size(r), 0);
        assert_string_equal(authorized(r, AGENT_B, NULL, NULL), "");
}

static void test_cycle(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;

        /* Entries that parent each other must not loop the walk. */
        assert_int_equal(registry_new(TD, &r), 0);
        put(r, "a", "spiffe://example.org/x", AGENT_A, "unix:uid:1", 0);
        put(r, "b", "spiffe://example.org/y", "spiffe://example.org/x", "unix:uid:2", 0);
        put(r, "c", "spiffe://example.org/x", "spiffe://example.org/y", "unix:uid:3", 0);
        assert_string_equal(authorized(r, AGENT_A, NULL, NULL), "a,b,c");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_authorization),
                cmocka_unit_test(test_changes),
                cmocka_unit_test(test_cycle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
