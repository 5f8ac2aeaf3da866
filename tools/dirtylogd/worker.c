/* dirtylogd's workers (see net.h): each runs its own poll() loop over the
 * connections the acceptor gave it; a request is read, handled and
 * answered by the same worker (no hand-off). The wake pipe brings new
 * connections and the acceptor's tick, on which deadlines are checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "net_internal.h"

static atomic_uint_fast64_t next_conn_id = 1;

static void close_conn(struct worker *w, size_t i)
{
    struct wconn *c = w->conns[i];
    SAY(w->srv, LOG_INFO, "conn %" PRIu64 " (uid %ld, pid %ld): closed", c->proto.id,
        (long)c->uid, (long)c->proto.peer_pid);
    dld_conn_closed(w->srv, &c->proto);
    close(c->fd);
    if (c->uid_counted)
        dld__uid_put(w->uids, c->uid);
    free(c->out.buf);
    free(c);
    atomic_fetch_sub(w->nclients, 1);
    w->n--;
    w->conns[i] = w->conns[w->n];
    w->pfds[1 + i] = w->pfds[1 + w->n];
}

static void adopt_inbox(struct worker *w)
{
    int64_t now = dld__now_ms();
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
                dld__uid_put(w->uids, a->uid);
            atomic_fetch_sub(w->nclients, 1);
            continue;
        }
        c->fd = a->fd;
        c->uid = a->uid;
        c->uid_counted = a->uid_counted;
        dld_conn_init(&c->proto, atomic_fetch_add(&next_conn_id, 1));
        c->proto.peer_uid = a->uid;
        c->proto.peer_pid = a->pid;
        SAY(w->srv, LOG_INFO, "conn %" PRIu64 " (uid %ld, pid %ld): connected", c->proto.id,
            (long)a->uid, (long)a->pid);
        c->last_active_ms = now;
        w->pfds[1 + w->n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        w->conns[w->n++] = c;
    }
    w->ninbox = 0;
    pthread_mutex_unlock(&w->lock);
}

/* Close the connections whose time is up (on each tick). */
static void sweep(struct worker *w, int64_t now)
{
    for (size_t i = 0; i < w->n;) {
        struct wconn *c = w->conns[i];
        enum close_reason why;
        int64_t d = dld__conn_deadline(c, w->idle_ms, w->io_ms, &why);
        if (d <= now && why == CLOSE_IDLE && dld__has_input(c->fd)) {
            c->last_active_ms = now; /* its request just came: not idle after all */
            continue;
        }
        if (d > now) {
            i++;
            continue;
        }
        SAY(w->srv, why == CLOSE_IDLE ? LOG_INFO : LOG_NOTICE, "conn %" PRIu64 " (uid %ld) %s: closing",
            c->proto.id, (long)c->uid, dld__close_reason_text[why]);
        close_conn(w, i); /* moves the last one into i */
    }
}


/* Serve one connection poll() reported. 1 to keep it, 0 to close it. */
static int serve(struct worker *w, struct wconn *c, short revents, int64_t now)
{
    if (dld__out_pending(c) && dld__flush_replies(c, now) < 0)
        return 0;
    if (dld__out_pending(c) > OUT_BOUND) /* not reading its requests now */
        return !(revents & (POLLHUP | POLLERR));
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return 1;
    ssize_t k = recv(c->fd, w->buf, sizeof w->buf, 0);
    if (k <= 0)
        return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    int was_mid = c->proto.hdr_len != 0, was_pending = dld__out_pending(c) != 0;
    unsigned long replies = c->replies;
    int r = dld_conn_input(w->srv, &c->proto, w->buf, (size_t)k, dld__queue_reply, c);
    c->last_active_ms = now;
    /* A request still in progress began now unless it is the one that was
     * in progress before (no reply since): the slowloris clock. */
    if (c->proto.hdr_len && (!was_mid || c->replies != replies))
        c->msg_start_ms = now;
    if (!was_pending && dld__out_pending(c))
        c->out_since_ms = now;
    /* The replies (after a protocol error: its error reply, if the socket
     * takes it; the connection is closed anyway). */
    if (dld__flush_replies(c, now) < 0)
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
            sweep(w, dld__now_ms());
            continue; /* the pollfd array changed */
        }
        int64_t now = dld__now_ms();
        for (size_t i = 0; i < w->n;) {
            struct pollfd *p = &w->pfds[1 + i];
            if (!p->revents) {
                i++;
            } else if (serve(w, w->conns[i], p->revents, now)) {
                p->events = dld__conn_events(w->conns[i]);
                p->revents = 0;
                i++;
            } else {
                close_conn(w, i); /* moves the last one into i: look at i again */
            }
        }
    }
    return NULL;
}

int dld__worker_start(struct worker *w)
{
    w->pfds = malloc(sizeof *w->pfds);
    if (!w->pfds || pipe(w->wake) < 0) {
        free(w->pfds);
        return -ENOMEM;
    }
    dld__set_nonblock_cloexec(w->wake[0]);
    dld__set_nonblock_cloexec(w->wake[1]);
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        close(w->wake[0]);
        close(w->wake[1]);
        pthread_mutex_destroy(&w->lock);
        free(w->pfds);
        return -EAGAIN;
    }
    return 0;
}

int dld__worker_give(struct worker *w, const struct accepted *a)
{
    pthread_mutex_lock(&w->lock);
    int r = 0;
    if (w->ninbox == w->capinbox) {
        size_t nc = w->capinbox ? w->capinbox * 2 : 16;
        struct accepted *ni = realloc(w->inbox, nc * sizeof *ni);
        if (ni) {
            w->inbox = ni;
            w->capinbox = nc;
        } else {
            r = -ENOMEM;
        }
    }
    if (r == 0)
        w->inbox[w->ninbox++] = *a;
    pthread_mutex_unlock(&w->lock);
    if (r == 0)
        dld__worker_wake(w);
    return r;
}

void dld__worker_wake(struct worker *w)
{
    (void)!write(w->wake[1], "", 1);
}

void dld__worker_stop(struct worker *w)
{
    atomic_store(&w->stop, 1);
    dld__worker_wake(w);
}

void dld__worker_join(struct worker *w)
{
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
