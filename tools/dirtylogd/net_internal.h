/* What dirtylogd's unix-socket transport shares between its files (see
 * net.h): the acceptor and the listeners (net.c) check a peer and hand its
 * connection to a worker (worker.c), whose poll loop reads requests into
 * the stream protocol (conn.c) and sends the replies through the
 * connection's bounded output queue, closing connections whose time is up
 * (wconn.c). */
#ifndef DLD_NET_INTERNAL_H
#define DLD_NET_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "net.h"

#define SAY(srv, level, ...)                   \
    do {                                       \
        if ((srv)->logf)                       \
            (srv)->logf((level), __VA_ARGS__); \
    } while (0)

/* One recv per ready connection per turn of a worker's loop: a client
 * flooding requests gets at most this much of its worker's time per turn. */
#define READ_CHUNK 16384
/* A connection's requests are not read while more than OUT_BOUND bytes of
 * its replies wait to be sent (backpressure; wconn.c). */
#define OUT_BOUND 65536

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


static inline int64_t dld__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* net.c */
int dld__set_nonblock_cloexec(int fd);
/* Give back a connection's slot of its uid (--max-clients-per-uid). */
void dld__uid_put(struct uid_table *t, uid_t uid);

/* ---- one connection: output queue and deadlines (wconn.c) ---- */

/* Reply bytes queued and not yet sent. */
size_t dld__out_pending(const struct wconn *c);
/* The send callback of dld_conn_input (arg: the wconn): queue the reply.
 * Fails (the connection is then closed) only past the queue's limit. */
int dld__queue_reply(void *arg, const uint8_t *msg, size_t len);
/* Send queued replies as far as the socket takes them. 0 or -EPIPE. */
int dld__flush_replies(struct wconn *c, int64_t now);
/* What to poll a connection for: requests only while few replies wait. */
short dld__conn_events(const struct wconn *c);
enum close_reason { CLOSE_IDLE, CLOSE_NOT_READING, CLOSE_SLOW_REQUEST };
extern const char *const dld__close_reason_text[]; /* "is idle", ... */
/* When the connection must be closed (idle_ms, io_ms: the timeouts of
 * net.h), and why. */
int64_t dld__conn_deadline(const struct wconn *c, int64_t idle_ms, int64_t io_ms,
                           enum close_reason *why);
/* Has the peer sent something (or hung up) we have not read yet? */
int dld__has_input(int fd);

/* ---- workers (worker.c) ---- */

/* Start w's thread; the caller has set srv, nclients, uids, idle_ms and
 * io_ms. 0, or -ENOMEM/-EAGAIN with nothing left to undo. */
int dld__worker_start(struct worker *w);
/* Queue a checked connection for w to adopt. 0, or -ENOMEM (the caller
 * still owns the connection). */
int dld__worker_give(struct worker *w, const struct accepted *a);
/* Wake w: it adopts new connections and checks its deadlines. */
void dld__worker_wake(struct worker *w);
/* Ask w to stop (all workers first), then join it: its connections are
 * closed (their sessions detached) and its resources freed. */
void dld__worker_stop(struct worker *w);
void dld__worker_join(struct worker *w);

#endif
