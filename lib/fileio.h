/* SPDX-License-Identifier: Apache-2.0 */
/* fileio.h - whole-file reads with a size cap, atomic durable writes */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "sigil/error.h"

/**
 * read_full_file() - read a whole file, refusing files larger than @max
 * @path:       file
 * @max:        size cap in bytes
 * @ret:        on success, malloc'd contents with a NUL appended
 * @ret_n:      on success, the length without the NUL; may be NULL
 *
 * Return: 0, -EFBIG or negative errno.
 */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_n);

/**
 * write_file_atomic() - write, fsync, rename over @path, fsync the directory
 * @path:       destination
 * @data:       bytes
 * @n:          length
 * @mode:       permission bits of the new file (e.g. 0600)
 *
 * A reader sees the old contents or the new, never a mix; the temporary file
 * is created with @mode from the start, so secrets are never world-readable.
 *
 * Return: 0 or negative errno.
 */
int write_file_atomic(const char *path, const void *data, size_t n, mode_t mode);

/**
 * mkdir_p() - create a directory and its parents (existing ones are kept as they are)
 * @path:       directory
 * @mode:       mode of directories created
 *
 * Return: 0 or negative errno.
 */
int mkdir_p(const char *path, mode_t mode);

/**
 * socket_dir_prepare() - create the directory of a socket, and check nobody else can change it
 * @socket_path: absolute path of the socket
 * @mode:       mode of directories created
 * @reterr:     on failure, the reason
 *
 * Whoever can rename or replace the socket's directory, or any directory
 * above it, can put a socket of their own where clients look for ours. So
 * the directory and each of its ancestors must be owned by root or by this
 * process's effective uid, and writable by nobody else; an ancestor may be
 * world-writable only with the sticky bit (as /tmp is), where only owners
 * rename entries.
 *
 * Return: 0, -EINVAL (not absolute, or no directory), -EPERM (unsafe
 * directory) or negative errno.
 */
int socket_dir_prepare(const char *socket_path, mode_t mode, SigilErr *reterr);

