/* SPDX-License-Identifier: Apache-2.0 */
/* cli-api.h - `sigil-agent api ...`: a Workload API client for operators and scripts */
#pragma once

#define CLI_API_DEFAULT_SOCKET "/tmp/sigil-agent/public/api.sock"

/*
 * argv starts at "api": `api fetch x509|jwt`, `api validate jwt`, `api watch`.
 * The socket is -socketPath, else $SPIFFE_ENDPOINT_SOCKET (unix:///path or
 * unix:/path), else CLI_API_DEFAULT_SOCKET. Return: 0 ok, 1 failure (one line
 * on stderr), 2 usage.
 */
int cli_api(int argc, char *argv[]);

/**
 * cli_api_socket_from_env() - the socket path named by SPIFFE_ENDPOINT_SOCKET
 * @value:      the variable's value
 * @buf:        on success, the path
 * @n_buf:      size of @buf
 *
 * Only unix: URIs are accepted (unix:///abs/path, unix:/abs/path); an
 * authority, a query, a fragment or a relative path is refused.
 *
 * Return: 0 or -EINVAL.
 */
int cli_api_socket_from_env(const char *value, char *buf, size_t n_buf);
