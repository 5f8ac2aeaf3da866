/* Listeners, peer checks, worker poll loops (see net.h). */
#define _GNU_SOURCE /* accept4, SO_PEERCRED/struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "net.h"

#define SAY(srv, level, ...)                   \
    do {                                       \
        if ((srv)->logf)                       \
            (srv)->logf((level), __VA_ARGS__); \
    } while (0)

#define MAX_LISTENERS 16
#define READ_CHUNK 65536
#define SEND_TIMEOUT_MS 10000

struct wconn {
    int fd;
    struct dld_conn proto;
};

/* An accepted connection and the peer credentials the acceptor checked. */
struct accepted {
    int fd;
    uid_t uid;
    pid_t pid;
};

struct worker {
    pthread_t thread;
    struct dld_server *srv;
    int wake[2];
    atomic_int stop;
    atomic_uint *nclients;
    pthread_mutex_t lock;
    struct accepted *inbox; /* accepted connections waiting to be adopted */
    size_t ninbox, capinbox;
    struct wconn **conns;
    struct pollfd *pfds; /* [0] = wake pipe, [1 + i] = conns[i] */
    size_t n, cap;
    uint8_t buf[READ_CHUNK];
};

static atomic_uint_fast64_t next_conn_id = 1;

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* Write a whole message, waiting (bounded) if the client reads slowly. */
static int send_all(void *arg, const uint8_t *msg, size_t len)
{
    int fd = *(int *)arg;
    while (len) {
        ssize_t k = send(fd, msg, len, MSG_NOSIGNAL);
        if (k > 0) {
            msg += k;
            len -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, SEND_TIMEOUT_MS) <= 0)
                return -ETIMEDOUT;
        } else {
            return -EPIPE;
        }
    }
    return 0;
}

/* Say why before hanging up on a connection we refuse: a header with
 * request_type 0 and the error (docs/protocol.md, "Refusal"). */
static void refuse(int fd, int err)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.version = DLW_VERSION;
    h.error = err;
    uint8_t msg[DLW_HEADER_SIZE];
    dl__wire_encode_header(&h, msg);
    (void)send_all(&fd, msg, sizeof msg);
    close(fd);
}

/* ---- workers ---------------------------------------------------------- */

static void close_conn(struct worker *w, size_t i)
{
    struct wconn *c = w->conns[i];
    dld_conn_closed(w->srv, &c->proto);
    close(c->fd);
    free(c);
    atomic_fetch_sub(w->nclients, 1);
    w->n--;
    w->conns[i] = w->conns[w->n];
    w->pfds[1 + i] = w->pfds[1 + w->n];
}

static void adopt_inbox(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    for (size_t k = 0; k < w->ninbox; k++) {
        int fd = w->inbox[k].fd;
        struct wconn *c = malloc(sizeof *c);
        if (c && w->n == w->cap) {
            size_t ncap = w->cap ? w->cap * 2 : 16;
            struct wconn **nc = realloc(w->conns, ncap * sizeof *nc);
            if (nc)
                w->conns = nc;
            struct pollfd *np = nc ? realloc(w->pfds, (ncap + 1) * sizeof *np) : NULL;
            if (np) {
                w->pfds = np;
                w->cap = ncap;
            }
        }
        if (!c || w->n == w->cap) {
            free(c);
            close(fd);
            atomic_fetch_sub(w->nclients, 1);
            continue;
        }
        c->fd = fd;
        dld_conn_init(&c->proto, atomic_fetch_add(&next_conn_id, 1));
        c->proto.peer_uid = w->inbox[k].uid;
        c->proto.peer_pid = w->inbox[k].pid;
        w->conns[w->n] = c;
        w->pfds[1 + w->n] = (struct pollfd){.fd = fd, .events = POLLIN};
        w->n++;
    }
    w->ninbox = 0;
    pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&w->stop)) {
        w->pfds[0] = (struct pollfd){.fd = w->wake[0], .events = POLLIN};
        int r = poll(w->pfds, 1 + w->n, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            SAY(w->srv, LOG_ERR, "poll: %s", strerror(errno));
            break;
        }
        if (w->pfds[0].revents) {
            char drain[64];
            while (read(w->wake[0], drain, sizeof drain) > 0) {
            }
            adopt_inbox(w);
            continue; /* the pollfd array changed */
        }
        for (size_t i = 0; i < w->n;) {
            if (!w->pfds[1 + i].revents) {
                i++;
                continue;
            }
            struct wconn *c = w->conns[i];
            ssize_t k = recv(c->fd, w->buf, sizeof w->buf, 0);
            int keep;
            if (k > 0)
                keep = dld_conn_input(w->srv, &c->proto, w->buf, (size_t)k, send_all, &c->fd) == 0;
            else
                keep = k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            if (keep) {
                w->pfds[1 + i].revents = 0;
                i++;
            } else {
                close_conn(w, i); /* moves the last one into i: look at i again */
            }
        }
    }
    return NULL;
}

/* ---- listeners -------------------------------------------------------- */

static int unix_listener(struct dld_server *srv, const char *path, const char *group)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        SAY(srv, LOG_ERR, "socket path %s is too long", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    /* A live daemon on that path? Then do not steal it. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(fd);
        SAY(srv, LOG_ERR, "another daemon is already listening on %s", path);
        return -EADDRINUSE;
    }
    close(fd);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* stale socket of a dead daemon */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    mode_t old = umask(0177); /* created 0600: no window where others may connect */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r == 0 && group) {
        struct group *g = getgrnam(group);
        if (!g) {
            SAY(srv, LOG_ERR, "unknown group %s", group);
            r = -1;
            errno = EINVAL;
        } else if (chown(path, (uid_t)-1, g->gr_gid) < 0 || chmod(path, 0660) < 0) {
            r = -1;
        }
    }
    if (r == 0)
        r = listen(fd, 128);
    if (r < 0) {
        int e = errno;
        SAY(srv, LOG_ERR, "cannot listen on %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static int tcp_listener(struct dld_server *srv, const char *spec)
{
    char host[256] = "127.0.0.1", port[32];
    const char *colon = strrchr(spec, ':');
    if (colon) {
        size_t hl = (size_t)(colon - spec);
        if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') { /* [v6addr]:port */
            spec++;
            hl -= 2;
        }
        if (hl == 0 || hl >= sizeof host)
            return -EINVAL;
        memcpy(host, spec, hl);
        host[hl] = '\0';
        spec = colon + 1;
    }
    if (!*spec || strlen(spec) >= sizeof port)
        return -EINVAL;
    strcpy(port, spec);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e) {
        SAY(srv, LOG_ERR, "tcp %s:%s: %s", host, port, gai_strerror(e));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    int one = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0)) {
        e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        e = errno;
        SAY(srv, LOG_ERR, "cannot listen on tcp %s:%s: %s", host, port, strerror(e));
        return -e;
    }
    SAY(srv, LOG_INFO, "listening on tcp %s:%s", host, port);
    return fd;
}

/* Sockets handed over by the service manager (LISTEN_PID/LISTEN_FDS). */
static int inherited_listeners(int *fds, int max)
{
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    if (!pid || !n || strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    long count = strtol(n, NULL, 10);
    int got = 0;
    for (long i = 0; i < count && got < max; i++) {
        int fd = 3 + (int)i;
        if (set_nonblock_cloexec(fd) == 0)
            fds[got++] = fd;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return got;
}

static int peer_allowed(int fd, const struct dld_net_config *cfg, uid_t *uid, pid_t *pid)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    if (ss.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        *uid = (uid_t)-1;
        *pid = 0;
        return 1; /* TCP has no peer identity: see docs/dirtylogd.md */
    }
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
        return 0;
    *uid = cred.uid;
    *pid = cred.pid;
    for (size_t i = 0; i < cfg->nallow; i++)
        if (cfg->allow[i] == cred.uid)
            return 1;
    return 0;
}

int dld_net_run(struct dld_server *srv, const struct dld_net_config *cfg, int stop_fd)
{
    int lfds[MAX_LISTENERS], nl = inherited_listeners(lfds, MAX_LISTENERS - 2);
    int created_socket = 0, r = 0;
    if (nl)
        SAY(srv, LOG_INFO, "using %d socket(s) from the service manager", nl);
    if (cfg->socket_path) {
        int fd = unix_listener(srv, cfg->socket_path, cfg->group);
        if (fd < 0)
            r = fd;
        else {
            lfds[nl++] = fd;
            created_socket = 1;
            SAY(srv, LOG_INFO, "listening on %s", cfg->socket_path);
        }
    }
    if (r == 0 && cfg->tcp) {
        int fd = tcp_listener(srv, cfg->tcp);
        if (fd < 0)
            r = fd;
        else
            lfds[nl++] = fd;
    }
    if (r == 0 && nl == 0) {
        SAY(srv, LOG_ERR, "nothing to listen on");
        r = -EINVAL;
    }
    for (int i = 0; r == 0 && i < nl; i++)
        r = set_nonblock_cloexec(lfds[i]);

    unsigned nw = cfg->threads ? cfg->threads : 1;
    struct worker *ws = r == 0 ? calloc(nw, sizeof *ws) : NULL;
    atomic_uint nclients = 0;
    unsigned started = 0;
    if (r == 0 && !ws)
        r = -ENOMEM;
    for (; r == 0 && started < nw; started++) {
        struct worker *w = &ws[started];
        w->srv = srv;
        w->nclients = &nclients;
        w->pfds = malloc(sizeof *w->pfds);
        if (!w->pfds || pipe(w->wake) < 0) {
            free(w->pfds);
            r = -ENOMEM;
            break;
        }
        set_nonblock_cloexec(w->wake[0]);
        set_nonblock_cloexec(w->wake[1]);
        pthread_mutex_init(&w->lock, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            close(w->wake[0]);
            close(w->wake[1]);
            pthread_mutex_destroy(&w->lock);
            free(w->pfds);
            r = -EAGAIN;
            break;
        }
    }

    unsigned rr = 0;
    while (r == 0) {
        struct pollfd p[MAX_LISTENERS + 1];
        p[0] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        for (int i = 0; i < nl; i++)
            p[1 + i] = (struct pollfd){.fd = lfds[i], .events = POLLIN};
        if (poll(p, 1 + (nfds_t)nl, -1) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (p[0].revents)
            break;
        for (int i = 0; i < nl; i++) {
            if (!p[1 + i].revents)
                continue;
            int fd = accept(lfds[i], NULL, NULL);
            if (fd < 0)
                continue;
            uid_t uid = (uid_t)-1;
            pid_t pid = 0;
            if (set_nonblock_cloexec(fd) < 0) {
                close(fd);
                continue;
            }
            if (!peer_allowed(fd, cfg, &uid, &pid)) {
                SAY(srv, LOG_WARNING, "refused a client with uid %ld", (long)uid);
                refuse(fd, -EACCES);
                continue;
            }
            if (atomic_fetch_add(&nclients, 1) >= cfg->max_clients) {
                atomic_fetch_sub(&nclients, 1);
                SAY(srv, LOG_WARNING, "refused a client: limit of %u clients reached",
                    cfg->max_clients);
                refuse(fd, -EAGAIN);
                continue;
            }
            struct worker *w = &ws[rr++ % nw];
            pthread_mutex_lock(&w->lock);
            int ok = 1;
            if (w->ninbox == w->capinbox) {
                size_t nc = w->capinbox ? w->capinbox * 2 : 16;
                struct accepted *ni = realloc(w->inbox, nc * sizeof *ni);
                if (ni) {
                    w->inbox = ni;
                    w->capinbox = nc;
                } else {
                    ok = 0;
                }
            }
            if (ok)
                w->inbox[w->ninbox++] = (struct accepted){.fd = fd, .uid = uid, .pid = pid};
            pthread_mutex_unlock(&w->lock);
            if (ok) {
                (void)!write(w->wake[1], "", 1);
            } else {
                atomic_fetch_sub(&nclients, 1);
                close(fd);
            }
        }
    }

    for (unsigned i = 0; i < started; i++) {
        atomic_store(&ws[i].stop, 1);
        (void)!write(ws[i].wake[1], "", 1);
    }
    for (unsigned i = 0; i < started; i++) {
        struct worker *w = &ws[i];
        pthread_join(w->thread, NULL);
        adopt_inbox(w);
        while (w->n)
            close_conn(w, w->n - 1);
        close(w->wake[0]);
        close(w->wake[1]);
        pthread_mutex_destroy(&w->lock);
        free(w->inbox);
        free(w->conns);
        free(w->pfds);
    }
    free(ws);
    for (int i = 0; i < nl; i++)
        close(lfds[i]);
    if (created_socket)
        unlink(cfg->socket_path);
    return r;
}
