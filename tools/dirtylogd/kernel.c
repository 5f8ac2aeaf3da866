/* dirtylogd's kernel front end (see kernel.h; docs/kernel.md): datagrams of
 * the kernel's connector in, requests of the one request layer, replies out.
 *
 * Four behaviours of the kernel shape the replies (docs/kernel.md, "What
 * the kernel does and what we answer"):
 * - a CTR reply never carries a device name: the CTR the kernel replays
 *   after a daemon restart has no room for a reply payload, and one there
 *   makes it loop on "Insufficient space to receive package";
 * - every request is answered, an error included (a request left
 *   unanswered costs the kernel an unkillable 15 s wait), and an error
 *   reply carries no payload for the same reason as the CTR's; the reason
 *   goes to our log instead;
 * - IS_REMOTE_RECOVERING's in_sync_hint is never above the region asked
 *   about, because the kernel keeps a hint across a daemon restart and
 *   asks for no resync work while its hint covers the whole device;
 * - the kernel replays CTR + RESUME only when no daemon listens, so after a
 *   restart it did not notice, its next request takes its session back. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/netlink.h>
#endif

#include "kernel.h"
#include "kernel_msg.h"

/* Receive buffer: any kernel request (512 bytes at most) with room to spare;
 * a longer datagram is truncated and answered as malformed. */
#define RECV_MAX 8192
/* Netlink receive buffer: requests of many devices may wait at once. */
#define NL_RCVBUF (1 << 20)
/* Attempts to send one reply when the socket is momentarily out of memory. */
#define SEND_TRIES 5

_Static_assert(DLK_MAX_REPLY_PAYLOAD >= DLD_REPLY_MAX, "every reply of the layer fits a datagram");

static void say(const struct dld_server *srv, int level, const char *fmt, ...) DL_PRINTF(3, 4);
static void say(const struct dld_server *srv, int level, const char *fmt, ...)
{
    if (!srv->logf || (level >= LOG_INFO && !srv->verbose))
        return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv->logf(level, "kernel: %s", msg);
}

static const char *request_name(uint32_t type)
{
    const char *n = dl__wire_request_name(dlw_request_number(type));
    return n ? n : "unknown request";
}

/* ---- one request ----------------------------------------------------------- */

/* The reply payload the kernel gets for a successful request, in its byte
 * order; returns its length. */
static uint32_t kernel_payload(unsigned req, const uint8_t *rq_le, const struct dld_reply *rp,
                               uint8_t *out)
{
    switch (req) {
    case DLW_CTR:
        return 0; /* never a device name (see the top of this file) */
    case DLW_STATUS_INFO:
    case DLW_STATUS_TABLE:
        memcpy(out, rp->data, rp->len); /* text */
        return rp->len;
    case DLW_IS_REMOTE_RECOVERING:
        if (rp->len != 16)
            break;
        /* {s64 is_recovering; u64 in_sync_hint}: the kernel takes the hint
         * as "every region below it is in sync" and, once it covers the
         * whole device, asks for no resync work until its next resume, even
         * across our restart. The region asked about is a hint that never
         * says too much and never stops resync work; 0 (ask again) while
         * someone else recovers it. */
        put_le64(out, get_le64(rp->data));
        put_le64(out + 8, get_le64(rp->data) ? 0 : get_le64(rq_le));
        dlk_words_le_to_host(out, out, 16);
        return 16;
    default:
        break;
    }
    dlk_words_le_to_host(rp->data, out, rp->len); /* u64/s64 words */
    return rp->len;
}

/* A request of a session this daemon knows only from its state directory:
 * the daemon restarted, and the kernel, which replays CTR + RESUME only
 * when no daemon listens, did not notice (a restart within its 15 s
 * timeout). Do its replay for it, once: 1 if the session is back. */
static int reattach(struct dld_server *srv, const struct dld_request *rq)
{
    struct dld_reply rp = {.error = 0, .len = 0};
    if (dld_request_reattach(srv, &rq->peer, rq->h->uuid, rq->h->luid, &rp) < 0)
        return 0;
    say(srv, LOG_NOTICE, "log %s (luid %016" PRIx64 "): session taken back after a restart "
        "(the kernel did not replay its CTR)", rq->h->uuid, rq->h->luid);
    return 1;
}

static size_t handle_request(struct dld_server *srv, const struct dlk_msg *m, uint8_t *out,
                             size_t cap)
{
    unsigned req = dlw_request_number(m->h.request_type);
    /* Only the kernel's request set: never ADMIN_RELEASE or another of
     * our extensions, whoever the sender. */
    if (req < DLW_CTR || req > DLW_IS_REMOTE_RECOVERING) {
        say(srv, LOG_WARNING, "request type %" PRIu32 " (seq %" PRIu32 ") is not one of the "
            "kernel's: answered -EOPNOTSUPP", m->h.request_type, m->h.seq);
        return dlk_encode_reply(&m->h, -EOPNOTSUPP, NULL, 0, out, cap);
    }
    uint8_t payload[DLK_MAX_PAYLOAD];
    if (req == DLW_CTR)
        memcpy(payload, m->payload, m->len); /* the constructor string */
    else
        dlk_words_host_to_le(m->payload, payload, m->len);
    struct dld_reply rp = {.error = 0, .len = 0};
    struct dld_request rq = {
        .h = &m->h,
        .payload = payload,
        .len = m->len,
        .peer = {.conn_id = DLD_KERNEL_CONN_ID, .uid = DLD_KERNEL_UID, .pid = 0},
    };
    dld_request_handle(srv, &rq, &rp);
    if (rp.error == -ENOENT && req != DLW_CTR && reattach(srv, &rq)) {
        rp = (struct dld_reply){.error = 0, .len = 0};
        dld_request_handle(srv, &rq, &rp);
    }
    if (rp.error < 0) {
        /* No payload with an error: the kernel's reply buffer may have no
         * room (a replayed CTR), and then it would loop. Say it here. */
        say(srv, LOG_WARNING, "%s of log %s failed: %s", request_name(m->h.request_type),
            m->h.uuid, rp.len ? (const char *)rp.data : strerror(-rp.error));
        return dlk_encode_reply(&m->h, rp.error, NULL, 0, out, cap);
    }
    if (req == DLW_CTR || req == DLW_DTR)
        say(srv, LOG_INFO, "%s of log %s (luid %016" PRIx64 ")", request_name(req), m->h.uuid,
            m->h.luid);
    uint8_t data[DLK_MAX_REPLY_PAYLOAD];
    uint32_t len = kernel_payload(req, payload, &rp, data);
    size_t n = dlk_encode_reply(&m->h, 0, data, len, out, cap);
    if (n == 0) { /* cannot happen with cap >= DLK_MAX_DATAGRAM; still an answer */
        say(srv, LOG_ERR, "reply to %s of log %s does not fit", request_name(req), m->h.uuid);
        n = dlk_encode_reply(&m->h, -EMSGSIZE, NULL, 0, out, cap);
    }
    return n;
}

size_t dld_kernel_handle(struct dld_server *srv, const uint8_t *in, size_t n, uint8_t *out,
                         size_t cap)
{
    struct dlk_msg m;
    dlk_decode(in, n, &m);
    switch (m.kind) {
    case DLK_REQUEST:
        return handle_request(srv, &m, out, cap);
    case DLK_IGNORE:
        say(srv, LOG_DEBUG, "datagram of %zu bytes ignored: %s", n, m.why);
        return 0;
    case DLK_BAD_FRAME:
        say(srv, LOG_WARNING, "malformed datagram (cn seq %" PRIu32 "): %s: answered %s",
            m.cn.seq, m.why, strerror(-m.error));
        return dlk_encode_ack(m.cn.seq, m.error, out, cap);
    case DLK_BAD_REQUEST:
        say(srv, LOG_WARNING, "malformed request (seq %" PRIu32 ", type %" PRIu32 "): %s: "
            "answered %s", m.h.seq, m.h.request_type, m.why, strerror(-m.error));
        return dlk_encode_reply(&m.h, m.error, NULL, 0, out, cap);
    }
    return 0;
}

/* ---- the channel ----------------------------------------------------------- */

struct channel {
    struct dld_server *srv;
    int fd, netlink;
    uint8_t in[RECV_MAX];
    uint8_t out[DLK_MAX_DATAGRAM];
};

static void send_reply(struct channel *c, size_t len)
{
    for (int i = 0; i < SEND_TRIES; i++) {
        if (send(c->fd, c->out, len, MSG_NOSIGNAL) == (ssize_t)len)
            return;
        if (errno != EINTR && errno != EAGAIN && errno != ENOBUFS && errno != ENOMEM)
            break;
    }
    /* The kernel resends after its 15 s timeout: slow, not lost. */
    say(c->srv, LOG_ERR, "cannot send a reply: %s", strerror(errno));
}

/* Receive and answer one datagram without waiting: 1 if there was one, 0 if
 * none is waiting, -errno if the socket failed. */
static int serve_one(struct channel *c)
{
    struct sockaddr_storage from;
    struct iovec iov = {.iov_base = c->in, .iov_len = sizeof c->in};
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                        .msg_iovlen = 1};
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EINTR)
            return 1;
        if (errno == ENOBUFS) { /* our queue overflowed: requests were dropped */
            say(c->srv, LOG_WARNING, "receive queue overflowed: the kernel resends the lost "
                "requests after its 15 s timeout");
            return 1;
        }
        return -errno;
    }
#ifdef __linux__
    if (c->netlink) {
        const struct sockaddr_nl *nl = (const struct sockaddr_nl *)&from;
        if (mh.msg_namelen < sizeof *nl || nl->nl_family != AF_NETLINK || nl->nl_pid != 0) {
            say(c->srv, LOG_WARNING, "datagram not from the kernel (port %lu) dropped",
                mh.msg_namelen >= sizeof *nl ? (unsigned long)nl->nl_pid : 0ul);
            return 1;
        }
    }
#endif
    size_t len = dld_kernel_handle(c->srv, c->in, (size_t)n, c->out, sizeof c->out);
    if (len)
        send_reply(c, len);
    return 1;
}

static void stop_receiving(struct channel *c)
{
#ifdef __linux__
    if (c->netlink) {
        int group = DLK_CN_IDX_DM;
        if (setsockopt(c->fd, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &group, sizeof group) < 0)
            say(c->srv, LOG_ERR, "cannot leave the connector group: %s", strerror(errno));
    }
#else
    (void)c;
#endif
}

int dld_kernel_serve(struct dld_server *srv, int fd, int netlink, int stop_fd)
{
    struct channel *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->srv = srv;
    c->fd = fd;
    c->netlink = netlink;
    int r = 0;
    while (r == 0) {
        struct pollfd p[2] = {{.fd = stop_fd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (p[0].revents)
            break;
        if (p[1].revents & POLLNVAL) {
            r = -EBADF;
            break;
        }
        if ((p[1].revents & POLLHUP) && !(p[1].revents & POLLIN))
            break; /* an injected socket whose peer is gone */
        if (p[1].revents) {
            int k = serve_one(c);
            r = k < 0 ? k : 0;
        }
    }
    /* Shutdown: stop receiving, answer what already arrived, then let go. */
    stop_receiving(c);
    int k;
    while ((k = serve_one(c)) > 0)
        ;
    if (r == 0 && k < 0)
        r = k;
    dld_sessions_detach(srv, DLD_KERNEL_CONN_ID);
    if (r < 0)
        say(srv, LOG_ERR, "channel failed: %s", strerror(-r));
    free(c);
    return r;
}

/* ---- the thread ------------------------------------------------------------- */

struct dld_kernel_thread {
    pthread_t thread;
    struct dld_server *srv;
    int fd, netlink, stop_fd, fail_fd, result;
};

static void *thread_main(void *arg)
{
    struct dld_kernel_thread *t = arg;
    t->result = dld_kernel_serve(t->srv, t->fd, t->netlink, t->stop_fd);
    /* A daemon that no longer serves the kernel must not go on as if it
     * did: stop it all (a service manager restarts it; the kernel, which
     * found no listener meanwhile, replays to the new one). */
    if (t->result < 0 && t->fail_fd >= 0)
        (void)!write(t->fail_fd, "k", 1);
    return NULL;
}

int dld_kernel_start(struct dld_kernel_thread **out, struct dld_server *srv, int fd, int netlink,
                     int stop_fd, int fail_fd)
{
    struct dld_kernel_thread *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = (struct dld_kernel_thread){.srv = srv, .fd = fd, .netlink = netlink, .stop_fd = stop_fd,
                                    .fail_fd = fail_fd};
    int e = pthread_create(&t->thread, NULL, thread_main, t);
    if (e) {
        free(t);
        return -e;
    }
    *out = t;
    return 0;
}

int dld_kernel_join(struct dld_kernel_thread *t)
{
    pthread_join(t->thread, NULL);
    int r = t->result;
    free(t);
    return r;
}

/* ---- the connector socket (Linux) ------------------------------------------ */

#ifdef __linux__
/* A datagram to a connector id nobody registers: the kernel's connector
 * drops it, but only a socket in the initial network namespace reaches the
 * connector at all (elsewhere the send is refused). */
static int probe_kernel(int fd)
{
    uint8_t msg[DLK_FRAME_HDRLEN];
    dlk_encode_ack(0, 0, msg, sizeof msg);
    memset(msg + DLK_NL_HDRLEN, 0xff, 8); /* idx, val: unregistered */
    return send(fd, msg, sizeof msg, MSG_NOSIGNAL) == (ssize_t)sizeof msg ? 0 : -errno;
}
#endif

int dld_kernel_open(char *why, size_t whylen)
{
#ifdef __linux__
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot open a NETLINK_CONNECTOR socket: %s%s", strerror(e),
                 e == EPROTONOSUPPORT ? " (a kernel without CONFIG_CONNECTOR?)" : "");
        return -e;
    }
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK}; /* port id: the kernel's pick */
    int group = DLK_CN_IDX_DM, size = NL_RCVBUF, e = 0;
    const char *what = "";
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        e = errno;
        what = "bind the connector socket";
    } else if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
        e = errno;
        what = "join the connector group of device-mapper (CN_IDX_DM)";
    } else if ((e = -probe_kernel(fd)) != 0) {
        what = "reach the kernel's connector";
    }
    if (e) {
        snprintf(why, whylen, "cannot %s: %s%s", what, strerror(e),
                 e == ECONNREFUSED || e == ENOENT
                     ? " (the kernel's connector serves only the initial network namespace: "
                       "run dirtylogd --kernel outside containers)"
                 : e == EPERM ? " (dirtylogd --kernel needs root)" : "");
        close(fd);
        return -e;
    }
    /* A larger queue as root, a smaller one otherwise: a full queue drops
     * requests, which the kernel resends after 15 s. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return fd;
#else
    snprintf(why, whylen, "the kernel front end needs Linux (device-mapper's connector)");
    return -EPROTONOSUPPORT;
#endif
}
