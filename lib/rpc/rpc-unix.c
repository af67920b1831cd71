/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix socket listeners accepted by sigil rather than by gRPC, so that the
 * peer's credentials are read at accept time (SO_PEERCRED plus a pidfd) and
 * stay attached to the connection. A call finds its connection through the
 * peer name gRPC gives it ("fd:N"); the table remembers the socket's inode
 * per fd so that a reused fd number is never mistaken for the old peer.
 * A sweep every RPC_SWEEP_USEC forgets connections gRPC has closed.
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
#include "sigil/log.h"

#define RPC_SWEEP_MSEC 2000
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

int rpc_server_listen_unix(RpcServer *s, const char *path, mode_t mode, RpcAcceptFilter filter) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -1;
        RpcListener *l;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        if (s->n_listeners >= RPC_LISTENERS_MAX)
                return -E2BIG;
        memcpy(sa.sun_path, path, strlen(path) + 1);

        /* Replace a stale socket, but never anything that is not a socket. */
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlink(path) < 0)
                        return -errno;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (chmod(path, mode) < 0)
                return -errno;
        if (listen(fd, SOMAXCONN) < 0)
                return -errno;

        l = reallocarray(s->listeners, s->n_listeners + 1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        s->listeners = l;
        l[s->n_listeners] = (RpcListener) { .fd = fd, .filter = filter, .path = strdup(path) };
        if (!l[s->n_listeners].path)
                return -ENOMEM;
        s->n_listeners++;
        TAKE_FD(fd);
        return 0;
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

static void accept_one(RpcServer *s, RpcListener *l) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        RpcPeerCred cred;
        struct stat st;
        unsigned n_same;
        int fd, r;

        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(-errno, "accept on '%s' failed: %m", l->path);
                return;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || fstat(fd, &st) < 0) {
                (void) close(fd);
                return;
        }
        cred = (RpcPeerCred) { .pid = uc.pid, .uid = uc.uid, .gid = uc.gid, .pidfd = -1 };
        if (uc.pid > 0)
                cred.pidfd = pidfd_open_compat(uc.pid);

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
                return;
        }

        pthread_mutex_lock(&s->peers_lock);
        peer_slot_clear(&s->peers[fd]);
        s->peers[fd] = (RpcPeerSlot) { .used = true, .dev = st.st_dev, .ino = st.st_ino,
                                       .cred = cred };
        pthread_mutex_unlock(&s->peers_lock);

        /* gRPC takes the fd; it must be non-blocking (accept4 made it so). */
        grpc_server_add_channel_from_fd(s->server, fd, s->insecure);
}

static void sweep_peers(RpcServer *s) {
        pthread_mutex_lock(&s->peers_lock);
        for (size_t i = 0; i < s->n_peers; i++)
                if (s->peers[i].used && !peer_slot_current(&s->peers[i], (int) i))
                        peer_slot_clear(&s->peers[i]);
        pthread_mutex_unlock(&s->peers_lock);
}

static void *accept_thread(void *userdata) {
        RpcServer *s = userdata;
        struct pollfd pfd[RPC_LISTENERS_MAX + 1];

        pfd[0] = (struct pollfd) { .fd = s->wake_pipe[0], .events = POLLIN };
        for (size_t i = 0; i < s->n_listeners; i++)
                pfd[i + 1] = (struct pollfd) { .fd = s->listeners[i].fd, .events = POLLIN };

        for (;;) {
                int n = poll(pfd, s->n_listeners + 1, RPC_SWEEP_MSEC);

                if (n < 0 && errno != EINTR)
                        break;
                if (pfd[0].revents)
                        break;
                if (n <= 0) {
                        sweep_peers(s);
                        continue;
                }
                for (size_t i = 0; i < s->n_listeners; i++)
                        if (pfd[i + 1].revents & POLLIN)
                                accept_one(s, &s->listeners[i]);
        }
        return NULL;
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
                if (s->listeners[i].fd >= 0) {
                        (void) close(s->listeners[i].fd);
                        s->listeners[i].fd = -1;
                }
                if (s->listeners[i].path)
                        (void) unlink(s->listeners[i].path);
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
