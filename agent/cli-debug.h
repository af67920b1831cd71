/* SPDX-License-Identifier: Apache-2.0 */
/* cli-debug.h - `sigil-agent debug` and `sigil-agent healthcheck` (clients of the admin socket) */
#pragma once

/*
 * argv starts at the command's name. Return: 0 ok, 1 failure (one line on
 * stderr starting "Error: ", or "Agent is unhealthy: ..."), 2 usage error.
 */
int cli_debug(int argc, char *argv[]);
int cli_healthcheck(int argc, char *argv[]);
