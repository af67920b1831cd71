/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File helpers. Writes of keys and state go through write_file_atomic():
 * temp file in the same directory (O_EXCL, final mode), write, fsync,
 * rename, fsync of the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "sigil/macro.h"

/* True when @fd is at end of file; used once a buffer of exactly the cap is full. */
static int at_eof(int fd) {
        char c;

        for (;;) {
                ssize_t k = read(fd, &c, 1);

                if (k >= 0)
                        return k == 0;
                if (errno != EINTR)
                        return -errno;
        }
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_n) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0, cap = MIN((size_t) 4096, max);
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > max)
                return -EFBIG;

        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n == cap) {
                        char *nb;

                        if (cap >= max) {
                                /* a file of exactly @max bytes is fine; one byte more is not */
                                int eof = at_eof(fd);

                                if (eof < 0)
                                        return eof;
                                if (!eof)
                                        return -EFBIG;
                                break;
                        }
                        cap = MIN(cap * 2, max);
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        if (ret_n)
                *ret_n = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int write_all(int fd, const void *data, size_t n) {
        const uint8_t *p = data;

        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int fsync_parent_dir(const char *path) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        _cleanup_(closep) int fd = -1;

        if (!slash)
                (void) snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
                (void) snprintf(dir, sizeof(dir), "/");
        else if ((size_t) (slash - path) >= sizeof(dir))
                return -ENAMETOOLONG;
        else
                (void) snprintf(dir, sizeof(dir), "%.*s", (int) (slash - path), path);

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t n, mode_t mode) {
        char tmp[PATH_MAX];
        _cleanup_(closep) int fd = -1;
        unsigned char rnd[6];
        int r;

        if (getentropy(rnd, sizeof(rnd)) < 0)
                return -errno;
        r = snprintf(tmp, sizeof(tmp), "%s.tmp%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1],
                     rnd[2], rnd[3], rnd[4], rnd[5]);
        if (r < 0 || (size_t) r >= sizeof(tmp))
                return -ENAMETOOLONG;

        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, mode) < 0 ? -errno : 0;  /* the umask must not loosen or tighten it */
        if (r == 0)
                r = write_all(fd, data, n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return fsync_parent_dir(path);
}

int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        size_t n = strlen(path);

        if (n == 0)
                return -EINVAL;
        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0) {
                struct stat st;

                if (errno != EEXIST)
                        return -errno;
                /* EEXIST is only success if what exists is a directory */
                if (stat(buf, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

/* One directory on the way to a socket: see socket_dir_prepare(). */
static int check_socket_dir(const char *path, bool last, SigilErr *reterr) {
        struct stat st;

        if (stat(path, &st) < 0)
                return sigil_err_set(reterr, -errno, "cannot stat '%s': %s", path,
                                     strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return sigil_err_set(reterr, -ENOTDIR, "'%s' is not a directory", path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return sigil_err_set(reterr, -EPERM, "'%s' is owned by uid %u, neither root nor "
                                     "this process: it could replace the socket", path,
                                     (unsigned) st.st_uid);
        if ((st.st_mode & 0022) && (last || !(st.st_mode & S_ISVTX)))
                return sigil_err_set(reterr, -EPERM, "'%s' is writable by others (mode %o): "
                                     "they could replace the socket", path,
                                     (unsigned) (st.st_mode & 07777));
        return 0;
}

int socket_dir_prepare(const char *socket_path, mode_t mode, SigilErr *reterr) {
        char dir[PATH_MAX];
        char *slash;
        int r;

        if (socket_path[0] != '/' || strlen(socket_path) >= sizeof(dir))
                return sigil_err_set(reterr, -EINVAL, "socket path '%s' is not an absolute path "
                                     "of at most %zu bytes", socket_path, sizeof(dir) - 1);
        memcpy(dir, socket_path, strlen(socket_path) + 1);
        slash = strrchr(dir, '/');
        if (slash == dir)
                return sigil_err_set(reterr, -EINVAL, "socket '%s' needs a directory of its own",
                                     socket_path);
        *slash = '\0';
        r = mkdir_p(dir, mode);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create '%s': %s", dir, strerror(-r));
        r = check_socket_dir("/", false, reterr);
        for (char *p = dir + 1; r == 0 && *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                r = check_socket_dir(dir, false, reterr);
                *p = '/';
        }
        return r < 0 ? r : check_socket_dir(dir, true, reterr);
}

