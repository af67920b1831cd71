/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay for builds without libFuzzer: runs LLVMFuzzerTestOneInput on
 * every file named on the command line, or every file in the directories
 * named there. Sanitizer builds turn any memory error into a failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz.h"
#include "sigil/macro.h"

#define FUZZ_INPUT_MAX (4u * 1024u * 1024u)

static int replay_file(const char *path) {
        _cleanup_(freep) char *data = NULL;
        size_t n;
        int r;

        r = read_full_file(path, FUZZ_INPUT_MAX, &data, &n);
        if (r < 0) {
                fprintf(stderr, "fuzz: cannot read '%s': %s\n", path, strerror(-r));
                return -1;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) data, n);
        return 0;
}

static int replay_dir(const char *path, size_t *n_files) {
        DIR *d = opendir(path);
        struct dirent *de;
        int failed = 0;

        if (!d) {
                fprintf(stderr, "fuzz: cannot open '%s'\n", path);
                return -1;
        }
        while ((de = readdir(d))) {
                char p[4096];

                if (de->d_name[0] == '.')
                        continue;
                (void) snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
                if (replay_file(p) < 0)
                        failed = -1;
                (*n_files)++;
        }
        closedir(d);
        return failed;
}

int main(int argc, char *argv[]) {
        size_t n_files = 0;
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "fuzz: '%s' not found\n", argv[i]);
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (replay_dir(argv[i], &n_files) < 0)
                                failed = 1;
                } else {
                        if (replay_file(argv[i]) < 0)
                                failed = 1;
                        n_files++;
                }
        }
        if (n_files == 0) {
                fprintf(stderr, "fuzz: empty corpus\n");
                return EXIT_FAILURE;
        }
        printf("fuzz: replayed %zu inputs\n", n_files);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
