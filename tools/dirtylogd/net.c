/* Listeners, peer checks, worker poll loops (see net.h). */
#define _GNU_SOURCE /* SO_PEERCRED/struct ucred, accept4, MSG_DONTWAIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
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
#include <time.h>
#include <unistd.h>

#include "net.h"

#define SAY(srv, level, ...)                   \
    do {                                       \
        if ((srv)->logf)                       \
            (srv)->logf((level), __VA_ARGS__); \
    } while (0)

#define MAX_LISTENERS 16
/* One recv per ready connection per turn of a worker's loop: a client
 * flooding requests gets at most this much of its worker's time per turn. */
#define READ_CHUNK 16384
/* The largest reply of the request layer: a header and 4096 bytes of
 * payload (server.c, DLD_REPLY_MAX). */
#define REPLY_MAX (DLW_HEADER_SIZE + 4096)
/* A connection's requests are not read while more than OUT_BOUND bytes of
 * its replies wait to be sent (backpressure). One READ_CHUNK holds at most
 * READ_CHUNK / DLW_HEADER_SIZE + 1 requests, each answered by one reply, so
 * the queue never needs more than OUT_LIMIT; a reply beyond it is a bug,
 * and closes the connection rather than growing without bound. */
#define OUT_BOUND 65536
#define OUT_LIMIT (OUT_BOUND + (READ_CHUNK / DLW_HEADER_SIZE + 1) * REPLY_MAX)
#define OUT_KEEP 4096 /* queue memory a connection keeps between replies */
#define DEFAULT_IDLE_TIMEOUT_S 600
#define DEFAULT_IO_TIMEOUT_S 30
/* Out of descriptors and no spare one to refuse with: do not poll the
 * listeners for this long (accept would fail at once, and again...). */
#define ACCEPT_BACKOFF_MS 100
/* The workers' deadlines (timeouts above) are checked on a tick the
 * acceptor sends through their wake pipes, so a worker's poll() needs no
 * timeout of its own (one costs every request a kernel timer). */
#define TICK_MS 1000

/* Queued replies of one connection: bytes buf[off, len) are still to send. */
struct outq {
    uint8_t *buf;
    size_t off, len, cap;
};

struct wconn {
    int fd;
    uid_t uid;
    int uid_counted; /* holds one of the uid's --max-clients-per-uid slots */
    struct dld_conn proto;
    struct outq out;
    int64_t last_active_ms; /* last byte received or sent: the idle clock */
    int64_t msg_start_ms;   /* when the request in progress began */
    int64_t out_since_ms;   /* replies queued and no send progress since */
    unsigned long replies;  /* replies queued so far */
};

/* Connections per peer uid (only the limited uids). Entries with a count of
 * 0 are removed, so the table holds at most max_clients entries; in practice
 * a few, as only allowed uids get this far. */
struct uid_count {
    uid_t uid;
    unsigned n;
};

struct uid_table {
    pthread_mutex_t lock;
    struct uid_count *v;
    size_t len, cap;
};

/* An accepted connection and the peer credentials the acceptor checked. */
struct accepted {
    int fd;
    uid_t uid;
    pid_t pid;
    int uid_counted;
};

struct worker {
    pthread_t thread;
    struct dld_server *srv;
    int wake[2];
    atomic_int stop;
    atomic_uint *nclients;
    struct uid_table *uids;
    int64_t idle_ms, io_ms;
    pthread_mutex_t lock;
    struct accepted *inbox; /* accepted connections waiting to be adopted */
    size_t ninbox, capinbox;
    struct wconn **conns;
    struct pollfd *pfds; /* [0] = wake pipe, [1 + i] = conns[i] */
    size_t n, cap;
    uint8_t buf[READ_CHUNK];
};

static atomic_uint_fast64_t next_conn_id = 1;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Say why before hanging up on a connection we refuse: a header with
 * request_type 0 and the error (docs/protocol.md, "Refusal"). One
 * non-blocking send into the fresh socket's empty buffer: never waits. */
static void refuse(int fd, int err)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.version = DLW_VERSION;
    h.error = err;
    uint8_t msg[DLW_HEADER_SIZE];
    dl__wire_encode_header(&h, msg);
    (void)!send(fd, msg, sizeof msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

/* ---- connections per uid ---------------------------------------------- */

static int uid_take(struct uid_table *t, uid_t uid, unsigned limit)
{
    int r = 0;
    pthread_mutex_lock(&t->lock);
    size_t i = 0;
    while (i < t->len && t->v[i].uid != uid)
        i++;
    if (i == t->len && t->len == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        struct uid_count *nv = realloc(t->v, nc * sizeof *nv);
        if (nv) {
            t->v = nv;
            t->cap = nc;
        } else {
            r = -ENOMEM;
        }
    }
    if (r == 0 && i == t->len)
        t->v[t->len++] = (struct uid_count){.uid = uid, .n = 0};
    if (r == 0 && t->v[i].n >= limit)
        r = -EAGAIN;
    if (r == 0)
        t->v[i].n++;
    pthread_mutex_unlock(&t->lock);
    return r;
}

static void uid_put(struct uid_table *t, uid_t uid)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->len; i++)
        if (t->v[i].uid == uid) {
            if (--t->v[i].n == 0)
                t->v[i] = t->v[--t->len];
            break;
        }
    pthread_mutex_unlock(&t->lock);
}

/* ---- replies: queued, sent without blocking ---------------------------- */

static size_t out_pending(const struct wconn *c)
{
    return c->out.len - c->out.off;
}

/* The send callback of dld_conn_input: queue the reply; the replies to
 * everything one read brought are sent together afterwards (one send and
 * one wake-up of the client, not one per request). Fails (the connection
 * is then closed) only past OUT_LIMIT. */
static int queue_reply(void *arg, const uint8_t *msg, size_t len)
{
    struct wconn *c = arg;
    struct outq *q = &c->out;
    c->replies++;
    if (out_pending(c) + len > OUT_LIMIT)
        return -ENOBUFS;
    if (q->off) { /* keep the pending bytes at the start */
        memmove(q->buf, q->buf + q->off, out_pending(c));
        q->len -= q->off;
        q->off = 0;
    }
    if (q->len + len > q->cap) {
        size_t nc = q->cap ? q->cap : 4096;
        while (nc < q->len + len)
            nc *= 2;
        uint8_t *nb = realloc(q->buf, nc);
        if (!nb)
            return -ENOMEM;
        q->buf = nb;
        q->cap = nc;
    }
    memcpy(q->buf + q->len, msg, len);
    q->len += len;
    return 0;
}

/* Send queued replies as far as the socket takes them. 0 or -EPIPE. */
static int flush_replies(struct wconn *c, int64_t now)
{
    struct outq *q = &c->out;
    while (out_pending(c)) {
        ssize_t k = send(c->fd, q->buf + q->off, out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (k <= 0)
            return -EPIPE;
        q->off += (size_t)k;
        c->out_since_ms = c->last_active_ms = now;
    }
    /* Drained. Keep a small buffer (every reply passes through it), not
     * the memory of a burst. */
    q->off = q->len = 0;
    if (q->cap > OUT_KEEP) {
        free(q->buf);
        *q = (struct outq){0};
    }
    return 0;
}

/* ---- workers ---------------------------------------------------------- */

static void close_conn(struct worker *w, size_t i)
{
    struct wconn *c = w->conns[i];
    dld_conn_closed(w->srv, &c->proto);
    close(c->fd);
    if (c->uid_counted)
        uid_put(w->uids, c->uid);
    free(c->out.buf);
    free(c);
    atomic_fetch_sub(w->nclients, 1);
    w->n--;
    w->conns[i] = w->conns[w->n];
    w->pfds[1 + i] = w->pfds[1 + w->n];
}

static void adopt_inbox(struct worker *w)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&w->lock);
    for (size_t k = 0; k < w->ninbox; k++) {
        const struct accepted *a = &w->inbox[k];
        struct wconn *c = calloc(1, sizeof *c);
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
            close(a->fd);
            if (a->uid_counted)
                uid_put(w->uids, a->uid);
            atomic_fetch_sub(w->nclients, 1);
            continue;
        }
        c->fd = a->fd;
        c->uid = a->uid;
        c->uid_counted = a->uid_counted;
        dld_conn_init(&c->proto, atomic_fetch_add(&next_conn_id, 1));
        c->proto.peer_uid = a->uid;
        c->proto.peer_pid = a->pid;
        c->last_active_ms = now;
        w->pfds[1 + w->n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        w->conns[w->n++] = c;
    }
    w->ninbox = 0;
    pthread_mutex_unlock(&w->lock);
}

enum close_reason { IDLE, NOT_READING, SLOW_REQUEST };
static const char *const close_reason_text[] = {
    [IDLE] = "is idle",
    [NOT_READING] = "does not read its replies",
    [SLOW_REQUEST] = "sends its request too slowly",
};

/* When connection c must be closed, and why. */
static int64_t conn_deadline(const struct worker *w, const struct wconn *c,
                             enum close_reason *why)
{
    if (!out_pending(c) && !c->proto.hdr_len) {
        *why = IDLE;
        return c->last_active_ms + w->idle_ms;
    }
    int64_t d = INT64_MAX;
    if (out_pending(c)) {
        d = c->out_since_ms + w->io_ms;
        *why = NOT_READING;
    }
    if (c->proto.hdr_len && c->msg_start_ms + w->io_ms < d) {
        d = c->msg_start_ms + w->io_ms;
        *why = SLOW_REQUEST;
    }
    return d;
}

/* Has the peer sent something (or hung up) we have not read yet? */
static int has_input(int fd)
{
    uint8_t b;
    ssize_t k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return k > 0;
}

/* Close the connections whose time is up (on each tick). */
static void sweep(struct worker *w, int64_t now)
{
    for (size_t i = 0; i < w->n;) {
        struct wconn *c = w->conns[i];
        enum close_reason why;
        int64_t d = conn_deadline(w, c, &why);
        if (d <= now && why == IDLE && has_input(c->fd)) {
            c->last_active_ms = now; /* its request just came: not idle after all */
            continue;
        }
        if (d > now) {
            i++;
            continue;
        }
        SAY(w->srv, why == IDLE ? LOG_INFO : LOG_NOTICE, "conn %" PRIu64 " (uid %ld) %s: closing",
            c->proto.id, (long)c->uid, close_reason_text[why]);
        close_conn(w, i); /* moves the last one into i */
    }
}

/* What to poll a connection for: requests only while few replies wait. */
static short conn_events(const struct wconn *c)
{
    return (short)((out_pending(c) <= OUT_BOUND ? POLLIN : 0) | (out_pending(c) ? POLLOUT : 0));
}

/* Serve one connection poll() reported. 1 to keep it, 0 to close it. */
static int serve(struct worker *w, struct wconn *c, short revents, int64_t now)
{
    if (out_pending(c) && flush_replies(c, now) < 0)
        return 0;
    if (out_pending(c) > OUT_BOUND) /* not reading its requests now */
        return !(revents & (POLLHUP | POLLERR));
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return 1;
    ssize_t k = recv(c->fd, w->buf, sizeof w->buf, 0);
    if (k <= 0)
        return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    int was_mid = c->proto.hdr_len != 0, was_pending = out_pending(c) != 0;
    unsigned long replies = c->replies;
    int r = dld_conn_input(w->srv, &c->proto, w->buf, (size_t)k, queue_reply, c);
    c->last_active_ms = now;
    /* A request still in progress began now unless it is the one that was
     * in progress before (no reply since): the slowloris clock. */
    if (c->proto.hdr_len && (!was_mid || c->replies != replies))
        c->msg_start_ms = now;
    if (!was_pending && out_pending(c))
        c->out_since_ms = now;
    /* The replies (after a protocol error: its error reply, if the socket
     * takes it; the connection is closed anyway). */
    if (flush_replies(c, now) < 0)
        return 0;
    return r == 0;
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
            adopt_inbox(w); /* new connections, or a tick */
            sweep(w, now_ms());
            continue; /* the pollfd array changed */
        }
        int64_t now = now_ms();
        for (size_t i = 0; i < w->n;) {
            struct pollfd *p = &w->pfds[1 + i];
            if (!p->revents) {
                i++;
            } else if (serve(w, w->conns[i], p->revents, now)) {
                p->events = conn_events(w->conns[i]);
                p->revents = 0;
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

static int is_unix_socket(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
}

/* Sockets handed over by the service manager (LISTEN_PID/LISTEN_FDS): the
 * number taken, or -EPROTONOSUPPORT if one is not a unix socket (a peer on
 * any other socket has no identity we could check). */
static int inherited_listeners(struct dld_server *srv, int *fds, int max)
{
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    if (!pid || !n || strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    long count = strtol(n, NULL, 10);
    int got = 0;
    for (long i = 0; i < count && got < max; i++) {
        int fd = 3 + (int)i;
        if (!is_unix_socket(fd)) {
            SAY(srv, LOG_ERR, "socket %d from the service manager is not a unix socket: "
                "only unix sockets are served (raw TCP was removed: it had no authentication)",
                fd);
            while (got)
                close(fds[--got]);
            return -EPROTONOSUPPORT;
        }
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
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
        return 0; /* (every listener is a unix socket: checked when set up) */
    *uid = cred.uid;
    *pid = cred.pid;
    for (size_t i = 0; i < cfg->nallow; i++)
        if (cfg->allow[i] == cred.uid)
            return 1;
    return 0;
}

/* ---- the acceptor ----------------------------------------------------- */

struct acceptor {
    struct dld_server *srv;
    const struct dld_net_config *cfg;
    struct worker *ws;
    unsigned nw, rr;
    atomic_uint nclients;
    struct uid_table uids;
    unsigned per_uid;
    uid_t own_uid;
    int spare_fd;    /* held for refusing clients when out of descriptors */
    int out_of_fds;  /* said so once per episode */
    int64_t refusal_said_ms; /* refusals are logged at most once a second */
    unsigned long refusals_unsaid;
};

/* Log a refusal, but not a flood of them: a client refused in a loop must
 * not fill the log. */
static void say_refused(struct acceptor *a, uid_t uid, const char *why)
{
    int64_t now = now_ms();
    if (now - a->refusal_said_ms < 1000) {
        a->refusals_unsaid++;
        return;
    }
    if (a->refusals_unsaid)
        SAY(a->srv, LOG_WARNING, "refused a client of uid %ld: %s (and %lu other client(s) "
            "since the last message)", (long)uid, why, a->refusals_unsaid);
    else
        SAY(a->srv, LOG_WARNING, "refused a client of uid %ld: %s", (long)uid, why);
    a->refusal_said_ms = now;
    a->refusals_unsaid = 0;
}

/* Hand a checked connection to the next worker. */
static void dispatch_conn(struct acceptor *a, const struct accepted *conn)
{
    struct worker *w = &a->ws[a->rr++ % a->nw];
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
        w->inbox[w->ninbox++] = *conn;
    pthread_mutex_unlock(&w->lock);
    if (ok) {
        (void)!write(w->wake[1], "", 1);
    } else {
        if (conn->uid_counted)
            uid_put(&a->uids, conn->uid);
        atomic_fetch_sub(&a->nclients, 1);
        close(conn->fd);
    }
}

/* accept() failed with EMFILE/ENFILE: free the spare descriptor to take the
 * oldest waiting client, tell it why, and take the spare back. 0 when that
 * worked, -1 when the listeners must rest (no spare, or still no fd). */
static int refuse_without_fds(struct acceptor *a, int lfd)
{
    if (!a->out_of_fds)
        SAY(a->srv, LOG_WARNING, "out of file descriptors: refusing new clients "
            "(raise the limit: LimitNOFILE=, ulimit -n)");
    a->out_of_fds = 1;
    if (a->spare_fd < 0)
        a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a->spare_fd < 0)
        return -1;
    close(a->spare_fd);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        refuse(fd, -EAGAIN);
    a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 && a->spare_fd >= 0 ? 0 : -1;
}

/* Accept one client from listener lfd, check it, hand it over. 0, or -1
 * when the listeners must rest for ACCEPT_BACKOFF_MS. */
static int accept_one(struct acceptor *a, int lfd)
{
    const struct dld_net_config *cfg = a->cfg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            return refuse_without_fds(a, lfd);
        return errno == ENOBUFS || errno == ENOMEM ? -1 : 0;
    }
    a->out_of_fds = 0;
    struct accepted conn = {.fd = fd, .uid = (uid_t)-1};
    if (!peer_allowed(fd, cfg, &conn.uid, &conn.pid)) {
        say_refused(a, conn.uid, "uid not allowed");
        refuse(fd, -EACCES);
        return 0;
    }
    if (atomic_fetch_add(&a->nclients, 1) >= cfg->max_clients) {
        atomic_fetch_sub(&a->nclients, 1);
        say_refused(a, conn.uid, "--max-clients reached");
        refuse(fd, -EAGAIN);
        return 0;
    }
    /* Root and the daemon's own uid could stop the daemon anyway: no limit
     * protects it from them. Everyone else gets a share. */
    if (conn.uid != 0 && conn.uid != a->own_uid) {
        int r = uid_take(&a->uids, conn.uid, a->per_uid);
        if (r < 0) {
            atomic_fetch_sub(&a->nclients, 1);
            say_refused(a, conn.uid, r == -EAGAIN ? "--max-clients-per-uid reached"
                                                  : "out of memory");
            refuse(fd, -EAGAIN);
            return 0;
        }
        conn.uid_counted = 1;
    }
    dispatch_conn(a, &conn);
    return 0;
}

static unsigned timeout_ms(unsigned seconds, unsigned dflt)
{
    return (seconds ? seconds : dflt) * 1000u;
}

int dld_net_run(struct dld_server *srv, const struct dld_net_config *cfg, int stop_fd)
{
    int lfds[MAX_LISTENERS], nl = inherited_listeners(srv, lfds, MAX_LISTENERS - 1);
    int created_socket = 0, r = 0;
    if (nl < 0)
        return nl;
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
    if (r == 0 && nl == 0) {
        SAY(srv, LOG_ERR, "nothing to listen on");
        r = -EINVAL;
    }
    for (int i = 0; r == 0 && i < nl; i++)
        r = set_nonblock_cloexec(lfds[i]);

    struct acceptor a = {.srv = srv, .cfg = cfg, .nw = cfg->threads ? cfg->threads : 1,
                         .own_uid = geteuid(), .spare_fd = -1,
                         .refusal_said_ms = INT64_MIN / 2};
    a.per_uid = cfg->max_clients_per_uid ? cfg->max_clients_per_uid : cfg->max_clients / 4;
    if (a.per_uid == 0)
        a.per_uid = 1;
    pthread_mutex_init(&a.uids.lock, NULL);
    a.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    a.ws = r == 0 ? calloc(a.nw, sizeof *a.ws) : NULL;
    unsigned started = 0;
    if (r == 0 && !a.ws)
        r = -ENOMEM;
    for (; r == 0 && started < a.nw; started++) {
        struct worker *w = &a.ws[started];
        w->srv = srv;
        w->nclients = &a.nclients;
        w->uids = &a.uids;
        w->idle_ms = timeout_ms(cfg->idle_timeout, DEFAULT_IDLE_TIMEOUT_S);
        w->io_ms = timeout_ms(cfg->io_timeout, DEFAULT_IO_TIMEOUT_S);
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

    int64_t rest_until = 0; /* listeners not polled before this time */
    int64_t next_tick = now_ms() + TICK_MS;
    while (r == 0) {
        struct pollfd p[MAX_LISTENERS + 1];
        int64_t now = now_ms();
        if (now >= next_tick) {
            for (unsigned i = 0; i < started; i++)
                (void)!write(a.ws[i].wake[1], "", 1);
            next_tick = now + TICK_MS;
        }
        int resting = now < rest_until;
        int64_t wake_at = resting && rest_until < next_tick ? rest_until : next_tick;
        p[0] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        for (int i = 0; i < nl; i++)
            p[1 + i] = (struct pollfd){.fd = resting ? -1 : lfds[i], .events = POLLIN};
        if (poll(p, 1 + (nfds_t)nl, (int)(wake_at - now)) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (p[0].revents)
            break;
        for (int i = 0; i < nl; i++)
            if (p[1 + i].revents && accept_one(&a, lfds[i]) < 0)
                rest_until = now_ms() + ACCEPT_BACKOFF_MS;
    }

    for (unsigned i = 0; i < started; i++) {
        atomic_store(&a.ws[i].stop, 1);
        (void)!write(a.ws[i].wake[1], "", 1);
    }
    for (unsigned i = 0; i < started; i++) {
        struct worker *w = &a.ws[i];
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
    free(a.ws);
    free(a.uids.v);
    pthread_mutex_destroy(&a.uids.lock);
    if (a.spare_fd >= 0)
        close(a.spare_fd);
    for (int i = 0; i < nl; i++)
        close(lfds[i]);
    if (created_socket)
        unlink(cfg->socket_path);
    return r;
}
