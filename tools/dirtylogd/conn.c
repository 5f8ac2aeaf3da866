/* The stream protocol of one connection (see server.h): bytes in, framed
 * into header + payload with the shared wire codec, each whole message
 * turned into a struct dld_request for the request layer (request.h), each
 * reply framed and handed to the transport's send callback. A header whose
 * version or size cannot be trusted is answered and the connection closed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "server_internal.h"

/* Payload buffer a connection may keep between requests. */
#define CONN_KEEP_PAYLOAD 65536

void dld_conn_init(struct dld_conn *c, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
}

static int send_reply(const struct dlw_header *req, const struct dld_reply *rp,
                      dld_send_fn send, void *arg)
{
    uint8_t msg[DLW_HEADER_SIZE + DLD_REPLY_MAX];
    struct dlw_header h;
    dl__wire_reply_header(req, rp->error, rp->len, &h);
    dl__wire_encode_header(&h, msg);
    memcpy(msg + DLW_HEADER_SIZE, rp->data, rp->len);
    return send(arg, msg, DLW_HEADER_SIZE + rp->len);
}

/* The header is complete: decode it. 0 to read its payload, or <0 when its
 * length cannot be trusted (answered; the caller hangs up). */
static int header_done(struct dld_server *srv, struct dld_conn *c, dld_send_fn send, void *arg)
{
    int e = dl__wire_decode_header(c->hdr, srv->limits.max_payload, &c->h);
    if (e == -EPROTO || e == -EMSGSIZE) {
        /* The length cannot be trusted: answer, then hang up. */
        struct dld_reply *rp = calloc(1, sizeof *rp);
        if (rp) {
            dld_reply_fail(rp, e, e == -EPROTO ? "protocol version %" PRIu32 ", expected %u"
                                               : "payload of %" PRIu32 " bytes is over the limit",
                           e == -EPROTO ? c->h.version : c->h.data_size,
                           e == -EPROTO ? DLW_VERSION : srv->limits.max_payload);
            send_reply(&c->h, rp, send, arg);
            free(rp);
        }
        if (srv->verbose)
            SAY(srv, LOG_DEBUG, "conn %" PRIu64 ": bad header (%s), closing", c->id,
                e == -EPROTO ? "version" : "size");
        return e;
    }
    c->hdr_err = e;
    c->payload_len = 0;
    if (c->h.data_size > c->payload_cap) {
        uint8_t *np = realloc(c->payload, c->h.data_size);
        if (!np)
            return -ENOMEM;
        c->payload = np;
        c->payload_cap = c->h.data_size;
    }
    return 0;
}

/* The message is complete: hand it to the request layer, send the reply. */
static int message_done(struct dld_server *srv, struct dld_conn *c, dld_send_fn send, void *arg)
{
    struct dld_reply *rp = malloc(sizeof *rp);
    if (!rp)
        return -ENOMEM;
    rp->error = 0;
    rp->len = 0;
    if (c->hdr_err) {
        dld_reply_fail(rp, c->hdr_err, "uuid field is not NUL-terminated");
    } else {
        struct dld_request rq = {
            .h = &c->h,
            .payload = c->payload,
            .len = c->payload_len,
            .peer = {.conn_id = c->id, .uid = c->peer_uid, .pid = c->peer_pid},
        };
        dld_request_handle(srv, &rq, rp);
    }
    int r = send_reply(&c->h, rp, send, arg);
    free(rp);
    c->hdr_len = 0;
    if (c->payload_cap > CONN_KEEP_PAYLOAD) { /* do not keep a huge buffer per client */
        free(c->payload);
        c->payload = NULL;
        c->payload_cap = 0;
    }
    return r;
}

int dld_conn_input(struct dld_server *srv, struct dld_conn *c, const uint8_t *data, size_t n,
                   dld_send_fn send, void *arg)
{
    for (;;) {
        if (c->hdr_len < DLW_HEADER_SIZE) {
            if (n == 0)
                return 0;
            size_t k = DLW_HEADER_SIZE - c->hdr_len;
            if (k > n)
                k = n;
            memcpy(c->hdr + c->hdr_len, data, k);
            c->hdr_len += k;
            data += k;
            n -= k;
            if (c->hdr_len < DLW_HEADER_SIZE)
                return 0;
            int e = header_done(srv, c, send, arg);
            if (e < 0)
                return e;
        }
        size_t want = c->h.data_size - c->payload_len;
        size_t k = want < n ? want : n;
        if (k) {
            memcpy(c->payload + c->payload_len, data, k);
            c->payload_len += k;
            data += k;
            n -= k;
        }
        if (c->payload_len < c->h.data_size)
            return 0;
        int r = message_done(srv, c, send, arg);
        if (r < 0)
            return r;
    }
}

void dld_conn_closed(struct dld_server *srv, struct dld_conn *c)
{
    dld_sessions_detach(srv, c->id);
    free(c->payload);
    c->payload = NULL;
    c->payload_cap = 0;
}
