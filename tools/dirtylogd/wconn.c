/* One connection of the unix-socket transport (see net_internal.h): its
 * replies, queued and sent without ever blocking a worker, and its
 * deadlines (idle, slow request, replies not read). */
#define _GNU_SOURCE /* MSG_DONTWAIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net_internal.h"

/* The largest reply of the request layer: a header and its payload. */
#define REPLY_MAX (DLW_HEADER_SIZE + DLD_REPLY_MAX)
/* One READ_CHUNK holds at most READ_CHUNK / DLW_HEADER_SIZE + 1 requests,
 * each answered by one reply, and no request is read while more than
 * OUT_BOUND bytes wait, so the queue never needs more than OUT_LIMIT; a
 * reply beyond it is a bug, and closes the connection rather than growing
 * without bound. */
#define OUT_LIMIT (OUT_BOUND + (READ_CHUNK / DLW_HEADER_SIZE + 1) * REPLY_MAX)
#define OUT_KEEP 4096 /* queue memory a connection keeps between replies */

/* ---- replies: queued, sent without blocking ---------------------------- */

size_t dld__out_pending(const struct wconn *c)
{
    return c->out.len - c->out.off;
}

/* The replies to everything one read brought are sent together afterwards
 * (one send and one wake-up of the client, not one per request). */
int dld__queue_reply(void *arg, const uint8_t *msg, size_t len)
{
    struct wconn *c = arg;
    struct outq *q = &c->out;
    c->replies++;
    if (dld__out_pending(c) + len > OUT_LIMIT)
        return -ENOBUFS;
    if (q->off) { /* keep the pending bytes at the start */
        memmove(q->buf, q->buf + q->off, dld__out_pending(c));
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

int dld__flush_replies(struct wconn *c, int64_t now)
{
    struct outq *q = &c->out;
    while (dld__out_pending(c)) {
        ssize_t k = send(c->fd, q->buf + q->off, dld__out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
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

short dld__conn_events(const struct wconn *c)
{
    size_t pending = dld__out_pending(c);
    return (short)((pending <= OUT_BOUND ? POLLIN : 0) | (pending ? POLLOUT : 0));
}

/* ---- deadlines ---------------------------------------------------------- */

const char *const dld__close_reason_text[] = {
    [CLOSE_IDLE] = "is idle",
    [CLOSE_NOT_READING] = "does not read its replies",
    [CLOSE_SLOW_REQUEST] = "sends its request too slowly",
};

int64_t dld__conn_deadline(const struct wconn *c, int64_t idle_ms, int64_t io_ms,
                           enum close_reason *why)
{
    if (!dld__out_pending(c) && !c->proto.hdr_len) {
        *why = CLOSE_IDLE;
        return c->last_active_ms + idle_ms;
    }
    int64_t d = INT64_MAX;
    if (dld__out_pending(c)) {
        d = c->out_since_ms + io_ms;
        *why = CLOSE_NOT_READING;
    }
    if (c->proto.hdr_len && c->msg_start_ms + io_ms < d) {
        d = c->msg_start_ms + io_ms;
        *why = CLOSE_SLOW_REQUEST;
    }
    return d;
}

int dld__has_input(int fd)
{
    uint8_t b;
    ssize_t k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return k > 0;
}
