/* SPDX-License-Identifier: Apache-2.0 */
/* fileio.h - whole-file reads with a size cap, atomic durable writes */
#pragma once

#include <stddef.h>
#include <sys/types.h>

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
