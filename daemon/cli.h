/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - sigil-server's admin subcommands: thin clients of the admin socket */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rpc-client.h"

/*
 * Every subcommand takes argv starting at the subcommand name
 * ("entry", "create", "-spiffeID", ...), parses flags with
 * getopt_long_only (so -flag and --flag both work, as with spire-server),
 * talks to the admin socket (-socketPath, default CLI_DEFAULT_SOCKET), and
 * returns an exit status: 0 success, 1 failure (one line on stderr saying
 * what is wrong), 2 usage error (usage printed on stderr).
 */

#define CLI_DEFAULT_SOCKET "/tmp/sigil-server/private/api.sock"
#define CLI_TIMEOUT_USEC (30u * 1000000u)

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAILURE = 1,
        CLI_EXIT_USAGE = 2,
};

int cli_entry(int argc, char *argv[]);
int cli_token(int argc, char *argv[]);
int cli_agent(int argc, char *argv[]);
int cli_bundle(int argc, char *argv[]);
int cli_x509(int argc, char *argv[]);
int cli_jwt(int argc, char *argv[]);
int cli_healthcheck(int argc, char *argv[]);
