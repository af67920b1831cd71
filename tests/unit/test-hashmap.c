/* SPDX-License-Identifier: Apache-2.0 */
/* The hash map against a naive model under random inserts, replaces and removals. */
#include "test-util.h"

#include "hashmap.h"

#define N_KEYS 2000

static void test_model(void **state) {
        Hashmap *m = hashmap_new();
        static int present[N_KEYS];
        char key[32];

        assert_non_null(m);
        srand(42);
        for (int round = 0; round < 200000; round++) {
                int k = rand() % N_KEYS, op = rand() % 3;
                void *old = NULL;

                snprintf(key, sizeof(key), "spiffe://td/k%d", k);
                if (op < 2) {
                        int r = hashmap_put(m, key, (void *) (intptr_t) (k + 1), &old);

                        assert_int_equal(r, present[k] ? 0 : 1);
                        if (!present[k])
                                assert_null(old);
                        present[k] = 1;
                } else {
                        void *v = hashmap_remove(m, key);

                        assert_ptr_equal(v, present[k] ? (void *) (intptr_t) (k + 1) : NULL);
                        present[k] = 0;
                }
                if (round % 1000 == 0) {
                        size_t n = 0;

                        for (int i = 0; i < N_KEYS; i++) {
                                snprintf(key, sizeof(key), "spiffe://td/k%d", i);
                                assert_int_equal(hashmap_contains(m, key), present[i]);
                                if (present[i])
                                        assert_ptr_equal(hashmap_get(m, key),
                                                         (void *) (intptr_t) (i + 1));
                                n += (size_t) present[i];
                        }
                        assert_int_equal(hashmap_size(m), n);
                }
        }
        {
                HashmapIter it = HASHMAP_ITER_INIT;
                const char *k;
                size_t n = 0;

                while (hashmap_next(m, &it, &k, NULL))
                        n++;
                assert_int_equal(n, hashmap_size(m));
        }
        hashmap_free(m, NULL);
}

static void test_free_values(void **state) {
        Hashmap *m = hashmap_new();

        assert_int_equal(hashmap_put(m, "a", strdup("x"), NULL), 1);
        assert_int_equal(hashmap_put(m, "b", strdup("y"), NULL), 1);
        assert_null(hashmap_get(m, "c"));
        hashmap_free(m, free);  /* ASan/valgrind would report a leak otherwise */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model),
                cmocka_unit_test(test_free_values),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
