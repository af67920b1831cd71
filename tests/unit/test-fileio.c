/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: capped whole-file reads, atomic 0600 writes, mkdir_p. */
#include "test-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

static int setup_dir(void **state) {
        *state = test_mkdtemp();
        return 0;
}

static int teardown_dir(void **state) {
        rm_rf(*state);
        free(*state);
        return 0;
}

static void path_in(char *buf, size_t n, void **state, const char *name) {
        (void) snprintf(buf, n, "%s/%s", (const char *) *state, name);
}

static void write_bytes(const char *path, size_t n, char c) {
        _cleanup_(freep) char *data = malloc(n ? n : 1);
        FILE *f = fopen(path, "we");

        assert_non_null(data);
        assert_non_null(f);
        memset(data, c, n);
        assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static mode_t mode_of(const char *path) {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return st.st_mode & 07777;
}

/* umask 0 must not make a secret world-readable, and no temporary file is left behind. */
static void test_atomic_write_mode_umask0(void **state) {
        char p[4096];
        _cleanup_(freep) char *back = NULL;
        mode_t old = umask(0);
        size_t n;

        path_in(p, sizeof(p), state, "key.pem");
        assert_int_equal(write_file_atomic(p, "secret", 6, 0600), 0);
        (void) umask(old);
        assert_int_equal(mode_of(p), 0600);
        assert_int_equal(read_full_file(p, 100, &back, &n), 0);
        assert_int_equal(n, 6);
        assert_string_equal(back, "secret");
        assert_int_equal(count_entries(*state), 1);
}

/* Replacing a world-readable file gives the new mode, whatever the umask. */
static void test_atomic_write_replaces(void **state) {
        char p[4096];
        _cleanup_(freep) char *back = NULL;
        mode_t old;

        path_in(p, sizeof(p), state, "state.json");
        write_bytes(p, 10, 'o');
        assert_int_equal(chmod(p, 0644), 0);
        old = umask(0);
        assert_int_equal(write_file_atomic(p, "new", 3, 0600), 0);
        (void) umask(old);
        assert_int_equal(mode_of(p), 0600);
        assert_int_equal(read_full_file(p, 100, &back, NULL), 0);
        assert_string_equal(back, "new");

        /* a stricter umask does not tighten an explicitly requested mode either */
        old = umask(077);
        assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
        (void) umask(old);
        assert_int_equal(mode_of(p), 0644);
        assert_int_equal(count_entries(*state), 1);
}

static void test_atomic_write_errors(void **state) {
        char p[4096];

        path_in(p, sizeof(p), state, "missing-dir/file");
        assert_int_equal(write_file_atomic(p, "x", 1, 0600), -ENOENT);
        assert_int_equal(count_entries(*state), 0);
}

static void test_read_cap(void **state) {
        char p[4096];
        static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 5000, 8192, 70000 };

        path_in(p, sizeof(p), state, "f");
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                size_t sz = sizes[i];

                write_bytes(p, sz, 'a');
                /* exactly at the cap is fine, one byte over is not */
                {
                        _cleanup_(freep) char *buf = NULL;
                        size_t n = 99;

                        if (read_full_file(p, sz, &buf, &n) != 0)
                                fail_msg("a %zu-byte file with cap %zu was refused", sz, sz);
                        assert_int_equal(n, sz);
                        assert_int_equal(buf[sz], '\0');
                        assert_int_equal(strspn(buf, "a"), sz);
                }
                if (sz > 0) {
                        char *buf = NULL;

                        assert_int_equal(read_full_file(p, sz - 1, &buf, NULL), -EFBIG);
                        assert_null(buf);
                }
        }
}

/* Files whose size stat() does not know (procfs, devices) are capped while reading. */
static void test_read_cap_unknown_size(void **state) {
        char *buf = NULL;
        _cleanup_(freep) char *status = NULL;
        size_t n;

        assert_int_equal(read_full_file("/dev/zero", 1000, &buf, NULL), -EFBIG);
        assert_null(buf);
        assert_int_equal(read_full_file("/proc/self/status", 64, &buf, NULL), -EFBIG);
        assert_null(buf);
        assert_int_equal(read_full_file("/proc/self/status", 1024 * 1024, &status, &n), 0);
        assert_true(n > 64);
        assert_int_equal(strlen(status), n);
        assert_non_null(strstr(status, "Name:"));
}

static void test_read_errors(void **state) {
        char p[4096];
        char *buf = NULL;

        path_in(p, sizeof(p), state, "nope");
        assert_int_equal(read_full_file(p, 100, &buf, NULL), -ENOENT);
        assert_int_equal(read_full_file(*state, 100, &buf, NULL), -EISDIR);
        assert_null(buf);
}

static void test_mkdir_p(void **state) {
        char p[4096], f[4096], under[4096];
        mode_t old = umask(0);

        path_in(p, sizeof(p), state, "a/b/c");
        assert_int_equal(mkdir_p(p, 0700), 0);
        (void) umask(old);
        assert_int_equal(mode_of(p), 0700);
        path_in(p, sizeof(p), state, "a");
        assert_int_equal(mode_of(p), 0700);
        path_in(p, sizeof(p), state, "a/b/c");
        assert_int_equal(mkdir_p(p, 0755), 0);                  /* exists: fine, unchanged */
        assert_int_equal(mode_of(p), 0700);
        path_in(p, sizeof(p), state, "a/b/c/d/");
        assert_int_equal(mkdir_p(p, 0700), 0);                  /* trailing slash */
        path_in(p, sizeof(p), state, "x//y");
        assert_int_equal(mkdir_p(p, 0700), 0);                  /* doubled slash */

        /* a file where a directory should be is an error, at the end or on the way */
        path_in(f, sizeof(f), state, "file");
        write_bytes(f, 1, 'x');
        assert_int_equal(mkdir_p(f, 0700), -ENOTDIR);
        path_in(under, sizeof(under), state, "file/sub");
        assert_int_equal(mkdir_p(under, 0700), -ENOTDIR);
        assert_int_equal(mkdir_p("", 0700), -EINVAL);
}

static void test_socket_dir_prepare(void **state) {
        char p[4096], d[4096];
        SigilErr err = {};

        /* Made with @mode; under /tmp (sticky, world-writable) that is allowed. */
        path_in(p, sizeof(p), state, "run/agent/public/api.sock");
        assert_int_equal(socket_dir_prepare(p, 0755, &err), 0);
        path_in(d, sizeof(d), state, "run/agent/public");
        assert_int_equal(mode_of(d), 0755 & ~(mode_t) 0022);
        assert_int_equal(socket_dir_prepare(p, 0755, &err), 0);        /* again: fine */

        /* The socket's own directory writable by others, even sticky: refused. */
        assert_int_equal(chmod(d, 01777), 0);
        assert_int_equal(socket_dir_prepare(p, 0755, &err), -EPERM);
        assert_non_null(strstr(err.msg, "writable by others"));
        assert_non_null(strstr(err.msg, d));
        assert_int_equal(chmod(d, 0755), 0);

        /* An ancestor writable by its group (no sticky bit): refused, named. */
        path_in(d, sizeof(d), state, "run");
        assert_int_equal(chmod(d, 0775), 0);
        err = (SigilErr) {};
        assert_int_equal(socket_dir_prepare(p, 0755, &err), -EPERM);
        assert_non_null(strstr(err.msg, d));
        /* ... unless sticky, like /tmp. */
        assert_int_equal(chmod(d, 01777), 0);
        assert_int_equal(socket_dir_prepare(p, 0755, &err), 0);
        assert_int_equal(chmod(d, 0755), 0);

        /* Owned by someone else (only root can make that happen here). */
        if (geteuid() == 0) {
                path_in(d, sizeof(d), state, "run/agent");
                assert_int_equal(chown(d, 4242, 4242), 0);
                err = (SigilErr) {};
                assert_int_equal(socket_dir_prepare(p, 0755, &err), -EPERM);
                assert_non_null(strstr(err.msg, "owned by uid 4242"));
                assert_int_equal(chown(d, 0, 0), 0);
        }

        /* Not absolute, no directory, a file on the way. */
        assert_int_equal(socket_dir_prepare("api.sock", 0755, &err), -EINVAL);
        assert_int_equal(socket_dir_prepare("/api.sock", 0755, &err), -EINVAL);
        path_in(d, sizeof(d), state, "file");
        write_bytes(d, 1, 'x');
        path_in(p, sizeof(p), state, "file/api.sock");
        assert_int_equal(socket_dir_prepare(p, 0755, &err), -ENOTDIR);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_atomic_write_mode_umask0, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(test_atomic_write_errors, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_read_cap, setup_dir, teardown_dir),
                cmocka_unit_test(test_read_cap_unknown_size),
                cmocka_unit_test_setup_teardown(test_read_errors, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_socket_dir_prepare, setup_dir, teardown_dir),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
