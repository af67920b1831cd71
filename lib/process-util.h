/* SPDX-License-Identifier: Apache-2.0 */
/* process-util.h - process set-up shared by the daemons */
#pragma once

#include <stdint.h>

#define PROCESS_NOFILE_MAX (1024u * 1024u)

/**
 * process_raise_nofile() - raise the soft open-file limit to the hard limit
 * @ret_limit:  on success, the soft limit now in force; may be NULL
 *
 * Each Workload API connection holds a socket and a pidfd, so the common
 * soft limit of 1024 caps a node at a few hundred workloads. The hard limit
 * is what the administrator allowed (LimitNOFILE= in a systemd unit); it is
 * capped at PROCESS_NOFILE_MAX.
 *
 * Failures are logged. Return: 0 or negative errno.
 */
int process_raise_nofile(uint64_t *ret_limit);
