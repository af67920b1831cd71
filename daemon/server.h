/* SPDX-License-Identifier: Apache-2.0 */
/* server.h - `sigil-server run` and `sigil-server validate` */
#pragma once

/* argv starts at "run": flags and -config. Return: process exit status. */
int server_run(int argc, char *argv[]);

/* argv starts at "validate". Return: 0 valid, 1 invalid, 2 usage. */
int server_validate(int argc, char *argv[]);
