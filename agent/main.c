/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigil-agent: the node agent. main() only picks the subcommand from the
 * table below; each lives in its own file (agent.c runs the agent,
 * cli-*.c are the clients). A new subcommand is one row here.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cli-api.h"
#include "cli-debug.h"
#include "sigil/macro.h"

typedef struct Command {
        const char *name;
        int (*run)(int argc, char *argv[]);     /* argv[0] is the command's name */
        const char *summary;
} Command;

static const Command commands[] = {
        { "run", agent_run, "Run the agent" },
        { "validate", agent_validate, "Validate an agent configuration file" },
        { "healthcheck", cli_healthcheck, "Check that the agent is up and holds an identity" },
        { "debug", cli_debug, "Show what the agent holds: identity, sync state, entries, SVIDs" },
        { "api", cli_api, "Use the Workload API: fetch x509|jwt, validate jwt, watch" },
};

static void help(FILE *f) {
        fprintf(f, "Usage: sigil-agent <command> [options]\n\n"
                   "sigil-agent attests its node and the workloads on it and serves the SPIFFE "
                   "Workload API.\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "  %-12s %s\n  %-12s %s\n\n", "help", "Show this help", "version",
                "Show the version");
        fprintf(f, "Run 'sigil-agent <command> -h' for the options of a command.\n");
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
                printf("sigil-agent %s\n", SIGIL_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(cmd, commands[i].name))
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "sigil-agent: unknown command '%s'\n\n", cmd);
        help(stderr);
        return 2;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
