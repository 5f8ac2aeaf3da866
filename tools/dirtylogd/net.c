/* dirtylogd's unix-socket transport (see net.h): the listeners, the peer
 * checks and limits at accept time, and dld_net_run(), whose calling thread
 * is the acceptor. Accepted connections go to the workers (worker.c); one
 * connection's output queue and deadlines: wconn.c. */
#define _GNU_SOURCE /* SO_PEERCRED/struct ucred, accept4, MSG_DONTWAIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "net_internal.h"

#define MAX_LISTENERS 16
#define DEFAULT_IDLE_TIMEOUT_S 600
#define DEFAULT_IO_TIMEOUT_S 30
/* Out of descriptors and no spare one to refuse with: do not poll the
 * listeners for this long (accept would fail at once, and again...). */
#define ACCEPT_BACKOFF_MS 100
/* The workers' deadlines (timeouts above) are checked on a tick the
 * acceptor sends through their wake pipes, so a worker's poll() needs no
 * timeout of its own (one costs every request a kernel timer). */
#define TICK_MS 1000

int dld__set_nonblock_cloexec(int fd)
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

void dld__uid_put(struct uid_table *t, uid_t uid)
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
        if (dld__set_nonblock_cloexec(fd) == 0)
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

/* Descriptors that connections never take: the daemon's own work needs them
 * (a CTR writes its session's state file through a temporary file and its
 * directory, opens a disk log's device), and the acceptor needs one to take
 * and refuse a client. */
#define FD_RESERVE 8

/* How many connections the descriptor limit leaves room for, beside the
 * descriptors in use now and the reserve. */
static unsigned conns_fd_room(unsigned max_clients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > 1u << 20)
        return max_clients;
    long used = 0;
    for (long fd = 0; fd < (long)rl.rlim_cur; fd++)
        used += fcntl((int)fd, F_GETFD) >= 0;
    long room = (long)rl.rlim_cur - used - FD_RESERVE;
    if (room < 1)
        room = 1;
    return room < (long)max_clients ? (unsigned)room : max_clients;
}

struct acceptor {
    struct dld_server *srv;
    const struct dld_net_config *cfg;
    struct worker *ws;
    unsigned nw, rr;
    atomic_uint nclients;
    struct uid_table uids;
    unsigned per_uid;
    unsigned max_conns; /* --max-clients, or fewer if descriptors are short */
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
    int64_t now = dld__now_ms();
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
    if (dld__worker_give(&a->ws[a->rr++ % a->nw], conn) < 0) {
        if (conn->uid_counted)
            dld__uid_put(&a->uids, conn->uid);
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
    if (atomic_fetch_add(&a->nclients, 1) >= a->max_conns) {
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
        r = dld__set_nonblock_cloexec(lfds[i]);

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
        if ((r = dld__worker_start(w)) < 0)
            break;
    }

    if (r == 0 && cfg->ready)
        r = cfg->ready(cfg->ready_arg);
    a.max_conns = conns_fd_room(cfg->max_clients);
    if (r == 0 && a.max_conns < cfg->max_clients)
        SAY(srv, LOG_WARNING,
            "the descriptor limit leaves room for %u clients, not --max-clients %u (%d are "
            "kept for the daemon's own work; raise LimitNOFILE=, ulimit -n)",
            a.max_conns, cfg->max_clients, FD_RESERVE);
    int64_t rest_until = 0; /* listeners not polled before this time */
    int64_t next_tick = dld__now_ms() + TICK_MS;
    while (r == 0) {
        struct pollfd p[MAX_LISTENERS + 1];
        int64_t now = dld__now_ms();
        if (now >= next_tick) {
            for (unsigned i = 0; i < started; i++)
                dld__worker_wake(&a.ws[i]);
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
                rest_until = dld__now_ms() + ACCEPT_BACKOFF_MS;
    }

    for (unsigned i = 0; i < started; i++)
        dld__worker_stop(&a.ws[i]);
    for (unsigned i = 0; i < started; i++)
        dld__worker_join(&a.ws[i]);
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
