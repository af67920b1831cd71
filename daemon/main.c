/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-server: the certificate authority and registry. main() only picks
 * the subcommand; each lives in its own file (server.c, cli-*.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "server.h"
#include "sigil/macro.h"

typedef struct Command {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} Command;

static const Command commands[] = {
        { "run", server_run, "Run the server" },
        { "validate", server_validate, "Validate a server configuration file" },
        { "healthcheck", cli_healthcheck, "Check that the server is up and serving" },
        { "entry", cli_entry, "Create, show, update, delete and count registration entries" },
        { "token", cli_token, "Generate join tokens for agents" },
        { "agent", cli_agent, "List, show, evict, ban and count attested agents" },
        { "bundle", cli_bundle, "Show this trust domain's bundle; manage federated bundles" },
        { "x509", cli_x509, "Mint X.509-SVIDs" },
        { "jwt", cli_jwt, "Mint JWT-SVIDs" },
};

static void help(FILE *f) {
        fprintf(f, "Usage: sigil-server <command> [options]\n\n"
                   "sigil-server is the certificate authority and registry of a sigil trust "
                   "domain.\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "  %-12s %s\n  %-12s %s\n\n", "help", "Show this help", "version",
                "Show the version");
        fprintf(f, "Run 'sigil-server <command> -h' for the options of a command.\n");
}

static int run(int argc, char *argv[]) {
        const char *cmd = argc > 1 ? argv[1] : NULL;

        if (!cmd) {
                help(stderr);
                return 2;
        }
        if (streq(cmd, "help") || streq(cmd, "-h") || streq(cmd, "--help") ||
            streq(cmd, "-help")) {
                help(stdout);
                return 0;
        }
        if (streq(cmd, "version") || streq(cmd, "--version") || streq(cmd, "-version")) {
                printf("sigil-server %s\n", SIGIL_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(cmd, commands[i].name))
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "sigil-server: unknown command '%s'\n\n", cmd);
        help(stderr);
        return 2;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
