/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix socket listeners accepted by sigil rather than by gRPC, so that the
 * peer's credentials are read at accept time (SO_PEERCRED plus a pidfd) and
 * stay attached to the connection. A call finds its connection through the
 * peer name gRPC gives it ("fd:N"); the table remembers the socket's inode
 * per fd so that a reused fd number is never mistaken for the old peer.
 * A sweep every RPC_SWEEP_USEC forgets connections gRPC has closed.
 *
 * The socket file is ours only between bind and stop: listening replaces a
 * stale socket (connect refused) but never one another process still serves,
 * nor anything that is not a socket; stopping removes the file only while it
 * is still the inode we bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_posix.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc-internal.h"
#include "sigil/clock.h"
#include "sigil/log.h"

#define RPC_SWEEP_MSEC 2000
#define RPC_EXHAUSTED_PAUSE_MSEC 100
#define RPC_EXHAUSTED_LOG_USEC (10 * USEC_PER_SEC)
#define RPC_PEER_FD_MAX (1 << 20)
#define RPC_LISTENERS_MAX 8

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);

        if (fd >= 0)
                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
#else
        errno = ENOSYS;
        return -1;
#endif
}

/*
 * Make way for our socket at @sa's path: nothing there, or a stale socket
 * (connect refused), which is removed. A socket that accepts the connection,
 * or whose backlog is full, is served by a live process.
 */
static int remove_stale_socket(const struct sockaddr_un *sa, SigilErr *reterr) {
        const char *path = sa->sun_path;
        _cleanup_(closep) int fd = -1;
        struct stat st;
        int r;

        if (lstat(path, &st) < 0) {
                r = -errno;
                return r == -ENOENT ? 0 : sigil_err_set(reterr, r, "cannot stat '%s': %s", path,
                                                        strerror(-r));
        }
        if (!S_ISSOCK(st.st_mode))
                return sigil_err_set(reterr, -EEXIST, "'%s' exists and is not a socket", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sigil_err_set(reterr, -errno, "cannot create a socket: %s", strerror(errno));
        r = connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0 ? -errno : 0;
        if (r == 0 || r == -EAGAIN)
                return sigil_err_set(reterr, -EADDRINUSE,
                                     "'%s': socket in use by another process", path);
        if (r == -ENOENT)
                return 0;       /* removed meanwhile */
        if (r != -ECONNREFUSED)
                return sigil_err_set(reterr, r, "cannot tell whether '%s' is in use: %s", path,
                                     strerror(-r));
        if (unlink(path) < 0 && errno != ENOENT)
                return sigil_err_set(reterr, -errno, "cannot remove stale socket '%s': %s", path,
                                     strerror(errno));
        log_debug("removed stale socket '%s'", path);
        return 0;
}

/* Remove @l's socket file if it is still the one we bound, not one put there since. */
static void listener_unlink(RpcListener *l) {
        struct stat st;

        if (!l->bound)
                return;
        l->bound = false;
        if (lstat(l->path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != l->dev ||
            st.st_ino != l->ino) {
                log_debug("socket '%s' was replaced or removed; leaving it", l->path);
                return;
        }
        (void) unlink(l->path);
}

/* Bind, chmod and listen; on failure the socket file we made is removed again. */
static int listener_bind(RpcListener *l, const struct sockaddr_un *sa, mode_t mode,
                         SigilErr *reterr) {
        struct stat st;
        int r;

        if (bind(l->fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0)
                return sigil_err_set(reterr, -errno, "cannot bind '%s': %s", l->path,
                                     strerror(errno));
        if (lstat(l->path, &st) < 0)
                return sigil_err_set(reterr, -errno, "cannot stat '%s': %s", l->path,
                                     strerror(errno));
        l->bound = true;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        if (chmod(l->path, mode) < 0 || listen(l->fd, SOMAXCONN) < 0) {
                r = -errno;
                listener_unlink(l);
                return sigil_err_set(reterr, r, "cannot listen on '%s': %s", l->path,
                                     strerror(-r));
        }
        return 0;
}

int rpc_server_listen_unix_full(RpcServer *s, const char *path, mode_t mode,
                                RpcAcceptFilter filter, SigilErr *reterr) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(freep) char *p = NULL;
        _cleanup_(closep) int fd = -1;
        RpcListener l, *ls;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return sigil_err_set(reterr, -ENAMETOOLONG, "socket path '%s' is too long", path);
        if (s->n_listeners >= RPC_LISTENERS_MAX)
                return sigil_err_set(reterr, -E2BIG, "too many listeners");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        ls = reallocarray(s->listeners, s->n_listeners + 1, sizeof(*ls));
        if (ls)
                s->listeners = ls;
        p = strdup(path);
        if (!ls || !p)
                return sigil_err_set(reterr, -ENOMEM, "out of memory");

        r = remove_stale_socket(&sa, reterr);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sigil_err_set(reterr, -errno, "cannot create a socket: %s", strerror(errno));
        l = (RpcListener) { .fd = fd, .path = p, .filter = filter };
        r = listener_bind(&l, &sa, mode, reterr);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        TAKE_PTR(p);
        s->listeners[s->n_listeners++] = l;
        return 0;
}

int rpc_server_listen_unix(RpcServer *s, const char *path, mode_t mode, RpcAcceptFilter filter) {
        return rpc_server_listen_unix_full(s, path, mode, filter, NULL);
}

/* Whether @fd still refers to the socket recorded in @slot. */
static bool peer_slot_current(const RpcPeerSlot *slot, int fd) {
        struct stat st;

        return slot->used && fstat(fd, &st) == 0 && st.st_dev == slot->dev &&
               st.st_ino == slot->ino;
}

static void peer_slot_clear(RpcPeerSlot *slot) {
        if (slot->used && slot->cred.pidfd >= 0)
                (void) close(slot->cred.pidfd);
        *slot = (RpcPeerSlot) {};
}

static unsigned count_uid_locked(RpcServer *s, uid_t uid) {
        unsigned n = 0;

        for (size_t i = 0; i < s->n_peers; i++)
                if (s->peers[i].used && s->peers[i].cred.uid == uid &&
                    peer_slot_current(&s->peers[i], (int) i))
                        n++;
        return n;
}

static int peers_reserve_locked(RpcServer *s, int fd) {
        RpcPeerSlot *p;
        size_t n;

        if ((size_t) fd < s->n_peers)
                return 0;
        if (fd >= RPC_PEER_FD_MAX)
                return -EMFILE;
        n = MAX((size_t) fd + 1, s->n_peers * 2);
        p = reallocarray(s->peers, n, sizeof(*p));
        if (!p)
                return -ENOMEM;
        memset(p + s->n_peers, 0, (n - s->n_peers) * sizeof(*p));
        s->peers = p;
        s->n_peers = n;
        return 0;
}

static bool accept_resource_error(int err) {
        return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/*
 * Accept one connection. Return: 0, or a negative errno when the process
 * (or the system) is out of file descriptors or memory: the connection
 * stays in the backlog and the caller must wait before trying again.
 */
static int accept_one(RpcServer *s, RpcListener *l) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        RpcPeerCred cred;
        struct stat st;
        unsigned n_same;
        int fd, r;

        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                if (accept_resource_error(errno))
                        return -errno;
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(-errno, "accept on '%s' failed: %m", l->path);
                return 0;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || fstat(fd, &st) < 0) {
                (void) close(fd);
                return 0;
        }
        cred = (RpcPeerCred) { .pid = uc.pid, .uid = uc.uid, .gid = uc.gid, .pidfd = -1 };
        if (uc.pid > 0)
                cred.pidfd = pidfd_open_compat(uc.pid);
        if (cred.pidfd < 0 && accept_resource_error(errno)) {
                /* Without its pidfd the peer could not be attested: drop it, back off. */
                r = -errno;
                (void) close(fd);
                return r;
        }

        pthread_mutex_lock(&s->peers_lock);
        cred.conn_id = ++s->next_conn_id;
        n_same = count_uid_locked(s, uc.uid);
        r = peers_reserve_locked(s, fd);
        pthread_mutex_unlock(&s->peers_lock);

        if (r == 0 && l->filter)
                r = l->filter(&cred, n_same, s->userdata);
        if (r < 0) {
                if (cred.pidfd >= 0)
                        (void) close(cred.pidfd);
                (void) close(fd);
                return 0;
        }

        pthread_mutex_lock(&s->peers_lock);
        peer_slot_clear(&s->peers[fd]);
        s->peers[fd] = (RpcPeerSlot) { .used = true, .dev = st.st_dev, .ino = st.st_ino,
                                       .cred = cred };
        pthread_mutex_unlock(&s->peers_lock);

        /* gRPC takes the fd; it must be non-blocking (accept4 made it so). */
        grpc_server_add_channel_from_fd(s->server, fd, s->insecure);
        return 0;
}

static void sweep_peers(RpcServer *s) {
        pthread_mutex_lock(&s->peers_lock);
        for (size_t i = 0; i < s->n_peers; i++)
                if (s->peers[i].used && !peer_slot_current(&s->peers[i], (int) i))
                        peer_slot_clear(&s->peers[i]);
        pthread_mutex_unlock(&s->peers_lock);
}

/*
 * Out of file descriptors (or memory): leave the connections in the backlog,
 * reclaim what closed connections hold, and listen again after a pause. One
 * log line per RPC_EXHAUSTED_LOG_USEC with the number of pauses since the last.
 */
static void accept_exhausted(RpcServer *s, int err, uint64_t *last_log, unsigned *n_quiet) {
        uint64_t now = sigil_now_usec();

        if (*last_log == 0 || now - *last_log >= RPC_EXHAUSTED_LOG_USEC) {
                log_warning_errno(err, "cannot accept connections: %m (%u more times since the "
                                  "last message); raise the open file limit (LimitNOFILE=)",
                                  *n_quiet);
                *last_log = now;
                *n_quiet = 0;
        } else
                (*n_quiet)++;
        sweep_peers(s);
}

static void *accept_thread(void *userdata) {
        RpcServer *s = userdata;
        struct pollfd pfd[RPC_LISTENERS_MAX + 1];
        uint64_t last_log = 0;
        unsigned n_quiet = 0;
        bool paused = false;

        pfd[0] = (struct pollfd) { .fd = s->wake_pipe[0], .events = POLLIN };
        for (size_t i = 0; i < s->n_listeners; i++)
                pfd[i + 1] = (struct pollfd) { .fd = s->listeners[i].fd, .events = POLLIN };

        for (;;) {
                /* While paused only the wake pipe is watched, until the timeout. */
                int n = poll(pfd, paused ? 1 : s->n_listeners + 1,
                             paused ? RPC_EXHAUSTED_PAUSE_MSEC : RPC_SWEEP_MSEC);

                if (n < 0 && errno != EINTR)
                        break;
                if (pfd[0].revents)
                        break;
                if (n <= 0) {
                        if (!paused)
                                sweep_peers(s);
                        paused = false;
                        continue;
                }
                for (size_t i = 0; i < s->n_listeners && !paused; i++) {
                        int r = pfd[i + 1].revents & POLLIN ?
                                        accept_one(s, &s->listeners[i]) : 0;

                        if (r < 0) {
                                accept_exhausted(s, r, &last_log, &n_quiet);
                                paused = true;
                        }
                }
        }
        return NULL;
}

/*
 * Close the read and write sides of every connection still open. At shutdown
 * gRPC waits for each client to close its connection after GOAWAY, and a
 * client with an idle channel may not; once no call is left, this ends them.
 * The inode check makes it unlikely to hit a descriptor gRPC closed and the
 * process reused meanwhile; shutdown() never closes a descriptor either way.
 */
void rpc_unix_shutdown_peers(RpcServer *s) {
        pthread_mutex_lock(&s->peers_lock);
        for (size_t i = 0; i < s->n_peers; i++)
                if (peer_slot_current(&s->peers[i], (int) i))
                        (void) shutdown((int) i, SHUT_RDWR);
        pthread_mutex_unlock(&s->peers_lock);
}

int rpc_unix_start(RpcServer *s) {
        int r;

        if (s->n_listeners == 0)
                return 0;
        if (pipe2(s->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        r = -pthread_create(&s->accept_thread, NULL, accept_thread, s);
        if (r < 0)
                return r;
        s->accept_running = true;
        return 0;
}

void rpc_unix_stop(RpcServer *s) {
        if (s->accept_running) {
                (void) !write(s->wake_pipe[1], "x", 1);
                (void) pthread_join(s->accept_thread, NULL);
                s->accept_running = false;
        }
        for (size_t i = 0; i < s->n_listeners; i++) {
                /* While bound, our socket pins its inode: its number cannot be reused yet. */
                listener_unlink(&s->listeners[i]);
                if (s->listeners[i].fd >= 0) {
                        (void) close(s->listeners[i].fd);
                        s->listeners[i].fd = -1;
                }
        }
}

void rpc_unix_free(RpcServer *s) {
        rpc_unix_stop(s);
        for (size_t i = 0; i < s->n_listeners; i++)
                free(s->listeners[i].path);
        free(s->listeners);
        for (size_t i = 0; i < s->n_peers; i++)
                if (s->peers[i].used && s->peers[i].cred.pidfd >= 0)
                        (void) close(s->peers[i].cred.pidfd);
        free(s->peers);
        if (s->wake_pipe[0] >= 0)
                (void) close(s->wake_pipe[0]);
        if (s->wake_pipe[1] >= 0)
                (void) close(s->wake_pipe[1]);
}

int rpc_unix_lookup(RpcServer *s, int fd, RpcPeerCred *ret) {
        int r = -ENOTCONN;

        pthread_mutex_lock(&s->peers_lock);
        if (fd >= 0 && (size_t) fd < s->n_peers && peer_slot_current(&s->peers[fd], fd)) {
                *ret = s->peers[fd].cred;
                ret->pidfd = -1;
                if (s->peers[fd].cred.pidfd >= 0) {
                        ret->pidfd = fcntl(s->peers[fd].cred.pidfd, F_DUPFD_CLOEXEC, 3);
                        if (ret->pidfd < 0)
                                r = -errno;
                        else
                                r = 0;
                } else
                        r = 0;
        }
        pthread_mutex_unlock(&s->peers_lock);
        return r;
}
