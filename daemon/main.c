/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server: the certificate authority and registry. main() only parses
 * the subcommand and hands over; every subcommand lives in its own file.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sigil/macro.h"

static void help(FILE *f) {
        fprintf(f,
                "Usage: sigil-server <command> [options]\n"
                "\n"
                "sigil-server is the certificate authority and registry of a sigil trust domain.\n"
                "\n"
                "Commands:\n"
                "  help                 Show this help\n"
                "  version              Show the version\n"
                "\n"
                "Options:\n"
                "  -h, --help           Show this help\n"
                "      --version        Show the version\n");
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        if (argc > 1 && argv[1][0] != '-') {
                if (streq(argv[1], "help")) {
                        help(stdout);
                        return 0;
                }
                if (streq(argv[1], "version")) {
                        printf("sigil-server %s\n", SIGIL_VERSION);
                        return 0;
                }
                fprintf(stderr, "sigil-server: unknown command '%s'\n\n", argv[1]);
                help(stderr);
                return 2;
        }

        while ((c = getopt_long_only(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help(stdout);
                        return 0;
                case 'V':
                        printf("sigil-server %s\n", SIGIL_VERSION);
                        return 0;
                default:
                        help(stderr);
                        return 2;
                }
        }
        help(stderr);
        return 2;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
