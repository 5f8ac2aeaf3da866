/* Connection handling of the userspace client (see client_conn.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "remote/client_conn.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_RECONNECT_MS 30000
#define RESENDS_BEFORE_RECONNECT 2

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int env_ms(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n <= 0 || n > 86400000 ? dflt : (int)n;
}

static void disconnect(struct rc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int dl__rc_connect_reason(const char *path, int err, char *buf, size_t len)
{
    struct stat st;
    /* Linux answers ECONNREFUSED for a path that is not a socket at all. */
    if ((err == -ECONNREFUSED || err == -ENOTSOCK) && stat(path, &st) == 0 &&
        !S_ISSOCK(st.st_mode))
        err = -ENOTSOCK;
    const char *hint = "is dirtylogd running? give the path of its --socket with socket=, "
                       "--socket or $" DLW_SOCKET_ENV;
    switch (-err) {
    case ENOENT:
        snprintf(buf, len, "no such socket (%s)", hint);
        break;
    case ECONNREFUSED:
        snprintf(buf, len, "nothing listens on this socket (left behind by a dirtylogd that "
                 "stopped? %s)", hint);
        break;
    case ENOTSOCK:
        snprintf(buf, len, "not a socket (%s)", hint);
        break;
    case EACCES:
    case EPERM:
        snprintf(buf, len, "permission denied on the socket or its directory (the daemon's "
                 "socket is root's, mode 0600, unless dirtylogd runs with --group; also "
                 "allow this uid with --allow-uid)");
        break;
    case ENOTDIR:
        snprintf(buf, len, "a component of the path is not a directory (%s)", hint);
        break;
    case ENAMETOOLONG:
        snprintf(buf, len, "the path is too long for a unix socket (at most %zu bytes)",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        break;
    default:
        snprintf(buf, len, "%s", dl_strerror(err));
    }
    return err;
}

/* Connect to the daemon's socket; on failure the log's message says why
 * (c->connect_err keeps the error for later messages). */
static int connect_socket(struct rc_conn *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1, e = 0;
    if (strlen(c->socket_path) >= sizeof sa.sun_path)
        e = -ENAMETOOLONG;
    else if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        e = -errno;
    if (fd >= 0) {
        strcpy(sa.sun_path, c->socket_path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            e = -errno;
    }
    if (e < 0) {
        char why[320];
        if (fd >= 0)
            close(fd);
        e = c->connect_err = dl__rc_connect_reason(c->socket_path, e, why, sizeof why);
        dl_log_errorf(c->log, "cannot reach dirtylogd at %s: %s", c->socket_path, why);
        return e;
    }
    c->connect_err = 0;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* Bound every blocking recv/send by the request timeout (slices of it,
     * so a deadline is noticed within ~1/4 of the timeout). */
    int slice = c->timeout_ms / 4 > 0 ? c->timeout_ms / 4 : 1;
    struct timeval tv = {.tv_sec = slice / 1000, .tv_usec = (slice % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Read exactly n bytes before the deadline: 0, -ETIMEDOUT, or -EPIPE. The
 * socket has SO_RCVTIMEO set, so recv() blocks (one syscall per reply in the
 * common case, like a raw ping-pong) but never past the request timeout. */
static int read_full(int fd, void *buf, size_t n, int64_t deadline)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = recv(fd, p, n, 0);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k == 0)
            return -EPIPE;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -EPIPE;
        if (now_ms() >= deadline)
            return -ETIMEDOUT;
    }
    return 0;
}

static int send_request(struct rc_conn *c, uint32_t type, uint32_t seq, const void *payload,
                        size_t len)
{
    struct dlw_header h;
    if (dl__wire_request_header(&h, c->uuid, c->luid, seq, type, (uint32_t)len) < 0)
        return -EINVAL; /* checked at open */
    uint8_t hdr[DLW_HEADER_SIZE];
    dl__wire_encode_header(&h, hdr);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    size_t total = sizeof hdr + len;
    while (total) {
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -EPIPE;
        }
        total -= (size_t)k;
        /* Partial write: advance the iovecs. */
        while (k > 0 && m.msg_iovlen) {
            if ((size_t)k >= m.msg_iov[0].iov_len) {
                k -= (ssize_t)m.msg_iov[0].iov_len;
                m.msg_iov++;
                m.msg_iovlen--;
            } else {
                m.msg_iov[0].iov_base = (uint8_t *)m.msg_iov[0].iov_base + k;
                m.msg_iov[0].iov_len -= (size_t)k;
                k = 0;
            }
        }
    }
    return 0;
}

/* After a failed send: did the daemon refuse us (and hang up) first? Its
 * refusal may still be waiting in the socket. The error, or `err`. */
static int refusal_or(struct rc_conn *c, int err)
{
    uint8_t hdr[DLW_HEADER_SIZE];
    struct dlw_header h;
    if (recv(c->fd, hdr, sizeof hdr, MSG_DONTWAIT) == (ssize_t)sizeof hdr &&
        dl__wire_decode_header(hdr, DLW_MAX_PAYLOAD, &h) == 0 && h.request_type == 0 && h.seq == 0 &&
        h.error < 0) {
        dl_log_errorf(c->log, "dirtylogd refused the connection: %s", dl_strerror(h.error));
        return h.error;
    }
    return err;
}

/* One request on the current connection, re-sent with a new seq after a
 * timeout. 0 with *err = the reply's error, or a connection failure. */
static int exchange(struct rc_conn *c, uint32_t type, const void *payload, size_t len, void *out,
                    size_t out_cap, size_t *out_len, int *err)
{
    for (int attempt = 0; attempt <= RESENDS_BEFORE_RECONNECT; attempt++) {
        uint32_t seq = ++c->seq;
        int r = send_request(c, type, seq, payload, len);
        if (r < 0)
            return refusal_or(c, r);
        int64_t deadline = now_ms() + c->timeout_ms;
        for (;;) {
            uint8_t hdr[DLW_HEADER_SIZE];
            struct dlw_header h;
            r = read_full(c->fd, hdr, sizeof hdr, deadline);
            if (r == -ETIMEDOUT)
                break; /* resend */
            if (r < 0)
                return r;
            if (dl__wire_decode_header(hdr, DLW_MAX_PAYLOAD, &h) < 0)
                return -EPROTO;
            /* The payload, or as much as fits; the rest is drained. */
            size_t keep = h.seq == seq && h.data_size <= out_cap ? h.data_size : 0;
            if (keep && (r = read_full(c->fd, out, keep, deadline + c->timeout_ms)) < 0)
                return r;
            for (size_t left = h.data_size - keep; left;) {
                uint8_t junk[512];
                size_t k = left < sizeof junk ? left : sizeof junk;
                if ((r = read_full(c->fd, junk, k, deadline + c->timeout_ms)) < 0)
                    return r;
                left -= k;
            }
            if (h.request_type == 0 && h.seq == 0 && h.error < 0) {
                /* The daemon refused the connection (docs/protocol.md). */
                dl_log_errorf(c->log, "dirtylogd refused the connection: %s",
                              dl_strerror(h.error));
                return h.error;
            }
            if (h.seq != seq)
                continue; /* the late answer to an earlier try */
            if (keep < h.data_size && h.error == 0)
                return -EPROTO;
            *out_len = keep;
            *err = h.error;
            if (h.error < 0 && keep && memchr(out, '\0', keep))
                dl_log_errorf(c->log, "dirtylogd: %s", (const char *)out);
            return 0;
        }
    }
    return -ETIMEDOUT;
}

/* Re-send the held marks (MARK_REGION batches) on a fresh connection. */
static int send_held(struct rc_conn *c, int *err)
{
    if (c->held.len == 0)
        return 0;
    uint8_t *batch = malloc(DLW_REGIONS_PER_MSG * 8);
    if (!batch)
        return -ENOMEM;
    char msg[512];
    size_t n = 0, k = 0;
    int r = 0;
    for (size_t i = 0; r == 0 && *err == 0 && i <= c->held.cap; i++) {
        int end = i == c->held.cap;
        if (!end && c->held.used[i])
            put_le64(batch + 8 * k++, c->held.keys[i]);
        if (k == DLW_REGIONS_PER_MSG || (end && k)) {
            r = exchange(c, DLW_MARK_REGION, batch, k * 8, msg, sizeof msg, &n, err);
            k = 0;
        }
    }
    free(batch);
    return r;
}

/* Connect, CTR, the held marks, and RESUME if the log had been resumed
 * (docs/protocol.md: the RESUME tells a restarted daemon that this client
 * is back with all its marks). 0, a connection failure (worth retrying),
 * or -EREMOTEIO with c->fd closed if the daemon answered with an error
 * (*err holds it). */
static int connect_and_ctr(struct rc_conn *c, int *err)
{
    int fd = connect_socket(c);
    if (fd < 0)
        return fd;
    c->fd = fd;
    char msg[512];
    size_t n = 0;
    int r = exchange(c, DLW_CTR, c->ctr, strlen(c->ctr) + 1, msg, sizeof msg, &n, err);
    if (r == 0 && *err == 0)
        r = send_held(c, err);
    if (r == 0 && *err == 0 && c->resumed)
        r = exchange(c, DLW_RESUME, NULL, 0, msg, sizeof msg, &n, err);
    if (r < 0 || *err < 0) {
        disconnect(c);
        return r < 0 ? r : -EREMOTEIO;
    }
    c->generation++;
    return 0;
}

/* Bumped in every child at fork() (pthread_atfork): comparing it is cheaper
 * than a getpid() system call on every mark. */
static unsigned fork_epoch;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

static void in_child(void) { __atomic_add_fetch(&fork_epoch, 1, __ATOMIC_RELAXED); }
static void install_fork_hook(void) { (void)pthread_atfork(NULL, NULL, in_child); }

int dl__rc_forked(struct rc_conn *c)
{
    if (__atomic_load_n(&fork_epoch, __ATOMIC_RELAXED) == c->fork_epoch)
        return 0;
    dl_log_errorf(c->log, "userspace: this log's connection belongs to process %ld, which "
                  "opened it; a forked child must open its own log", (long)c->pid);
    return 1;
}

/* dl__rc_request under c->lock. */
static int request_locked(struct rc_conn *c, uint32_t type, const void *payload, size_t len,
                          void *out, size_t out_cap, size_t *out_len, uint64_t *generation)
{
    if (dl__rc_forked(c))
        return -EBADF;
    int64_t deadline = now_ms() + c->reconnect_ms;
    int backoff = 5, r, err = 0;
    for (;;) {
        if (c->fd < 0) {
            r = connect_and_ctr(c, &err);
            /* -EBUSY: the daemon has not yet seen our old connection close;
             * -EAGAIN: another client is creating the log. Both pass. */
            if (r == -EREMOTEIO && err != -EBUSY && err != -EAGAIN) {
                r = err; /* the daemon is there and said no */
                break;
            }
            if (r == -EREMOTEIO)
                r = err;
            if (r == -EACCES)
                break;
        }
        if (c->fd >= 0) {
            size_t n = 0;
            r = exchange(c, type, payload, len, out, out_cap, &n, &err);
            if (r == 0) {
                if (out_len)
                    *out_len = n;
                if (generation)
                    *generation = c->generation;
                r = err;
                break;
            }
            disconnect(c);
            if (r == -EACCES || r == -EPERM)
                break;
        }
        if (now_ms() + backoff > deadline) {
            char why[320] = "";
            if (c->connect_err)
                dl__rc_connect_reason(c->socket_path, c->connect_err, why, sizeof why);
            dl_log_errorf(c->log, "dirtylogd unreachable at %s for %d ms%s%s", c->socket_path,
                          c->reconnect_ms, *why ? ": " : "", why);
            r = -ENOTCONN;
            break;
        }
        sleep_ms(backoff); /* the daemon is restarting: wait, then retry */
        if (backoff < 500)
            backoff *= 2;
    }
    return r;
}

int dl__rc_request(struct rc_conn *c, uint32_t type, const void *payload, size_t len, void *out,
               size_t out_cap, size_t *out_len, uint64_t *generation)
{
    pthread_mutex_lock(&c->lock);
    int r = request_locked(c, type, payload, len, out, out_cap, out_len, generation);
    pthread_mutex_unlock(&c->lock);
    return r;
}

int dl__rc_flush(struct rc_conn *c, const void *payload, size_t len, uint64_t *generation,
                 const struct u64map *batch)
{
    char rep[256];
    size_t n;
    uint64_t g = 0;
    pthread_mutex_lock(&c->lock);
    int r = request_locked(c, DLW_FLUSH, payload, len, rep, sizeof rep, &n, &g);
    if (r == 0 && *generation && g != *generation)
        r = -EAGAIN; /* the daemon restarted mid-batch: what it had is gone */
    if (r == 0 && dl__u64map_reserve(&c->held, batch->len) < 0)
        r = -ENOMEM; /* not acknowledged to the engine, so nothing is lost */
    for (size_t i = 0; r == 0 && i < batch->cap; i++) {
        int added;
        if (!batch->used[i])
            continue;
        if (batch->vals[i] == RC_OP_MARK)
            dl__u64map_put(&c->held, batch->keys[i], &added); /* reserved: cannot fail */
        else if (batch->vals[i] == RC_OP_CLEAR)
            dl__u64map_del(&c->held, batch->keys[i]);
    }
    *generation = g;
    pthread_mutex_unlock(&c->lock);
    return r;
}

static void random_luid(struct rc_conn *c)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
            v = 0;
        close(fd);
    }
    if (!v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
            (uint64_t)(uintptr_t)c;
    }
    c->luid = v ? v : 1;
}

int dl__rc_open(struct rc_conn *c, dl_log *log, const char *where, const char *uuid, const char *ctr)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->log = log;
    if (strlen(uuid) == 0 || strlen(uuid) >= DLW_UUID_SIZE) {
        dl_log_errorf(log, "uuid must have 1 to %u characters", DLW_UUID_SIZE - 1);
        return -EINVAL;
    }
    strcpy(c->uuid, uuid);
    c->socket_path = strdup(where ? where + strlen("socket=") : dl__wire_default_socket_path());
    c->ctr = strdup(ctr);
    if (!c->ctr || !c->socket_path || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->ctr);
        free(c->socket_path);
        return -ENOMEM;
    }
    dl__u64map_init(&c->held);
    pthread_once(&fork_hook_once, install_fork_hook);
    c->pid = getpid();
    c->fork_epoch = __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
    c->timeout_ms = env_ms("DIRTYLOG_TIMEOUT_MS", DEFAULT_TIMEOUT_MS);
    c->reconnect_ms = env_ms("DIRTYLOG_RECONNECT_MS", DEFAULT_RECONNECT_MS);
    random_luid(c);
    int err = 0;
    int r = connect_and_ctr(c, &err);
    if (r == -EREMOTEIO)
        r = err;
    else if (r < 0 && r != -EACCES && !c->connect_err) /* (connect_socket said why) */
        dl_log_errorf(log, "cannot reach dirtylogd at %s: %s", c->socket_path, dl_strerror(r));
    if (r < 0) {
        pthread_mutex_destroy(&c->lock);
        free(c->ctr);
        free(c->socket_path);
    }
    return r;
}

void dl__rc_close(struct rc_conn *c)
{
    if (c->fd >= 0 && !dl__rc_forked(c)) {
        /* Best effort and quick: a daemon that is gone keeps our session
         * until an administrator releases it. (A forked child only closes
         * its copy of the descriptor: the session is the parent's.) */
        c->timeout_ms = c->timeout_ms < 1000 ? c->timeout_ms : 1000;
        char buf[256];
        size_t n;
        int err;
        (void)exchange(c, DLW_DTR, NULL, 0, buf, sizeof buf, &n, &err);
    }
    disconnect(c);
    dl__u64map_free(&c->held);
    pthread_mutex_destroy(&c->lock);
    free(c->ctr);
    free(c->socket_path);
}
