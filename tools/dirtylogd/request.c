/* dirtylogd's request layer (the seam: request.h): one small handler per
 * request type and, at the bottom, the table indexed by request number that
 * declares what each one needs. The dispatcher does the common checks once
 * from that declaration (the log and the caller's session, the payload's
 * shape and size, regions in range), so a handler only does its op. Every
 * transport ends up here. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "server_internal.h"
#include "state.h"

void dld_reply_u64(struct dld_reply *rp, uint64_t v)
{
    put_le64(rp->data + rp->len, v);
    rp->len += 8;
}

int dld_reply_fail(struct dld_reply *rp, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *)rp->data, DLD_REPLY_MAX, fmt, ap);
    va_end(ap);
    rp->len = n < 0 ? 0 : (size_t)n < DLD_REPLY_MAX ? (uint32_t)n + 1 : DLD_REPLY_MAX;
    rp->error = err;
    return err;
}

/* One request on its way through a handler. For a session request the
 * dispatcher has pinned and locked L and found s; a handler that drops the
 * lock early (FLUSH) says so in `locked`. */
struct op {
    struct dld_server *srv;
    const struct dld_request *rq;
    struct dld_reply *rp;
    struct dld_log *L;
    struct dld_session *s;
    int locked;
    uint64_t region; /* PAYLOAD_REGION: the region, checked in range */
};

/* An int answer of a dl_log_* query: a u64 in the reply. */
static int reply_int(struct op *o, int r)
{
    if (r < 0)
        return r;
    dld_reply_u64(o->rp, (uint64_t)(int64_t)r);
    return 0;
}

/* ---- requests without a session ---------------------------------------- */

static int do_ctr(struct op *o)
{
    const struct dld_request *rq = o->rq;
    const uint8_t *p = rq->payload;
    size_t len = rq->len;
    if (len && p[len - 1] == '\0')
        len--; /* a terminating NUL is allowed, not required */
    if (len == 0 || len > DLD_CTR_MAX)
        return fail(o->rp, -EINVAL, "constructor string of %zu bytes (1..%u allowed)", len,
                    DLD_CTR_MAX);
    if (memchr(p, '\0', len))
        return fail(o->rp, -EINVAL, "constructor string contains a NUL byte");
    char *ctr = malloc(len + 1);
    if (!ctr)
        return fail(o->rp, -ENOMEM, "out of memory");
    memcpy(ctr, p, len);
    ctr[len] = '\0';

    struct dld_log *L = NULL;
    int r = dld__open_log(o->srv, &rq->peer, rq->h->uuid, &ctr, &L, o->rp);
    free(ctr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&L->lock);
    r = dld__session_attach(o->srv, L, &rq->peer, rq->h->luid, o->rp);
    pthread_mutex_unlock(&L->lock);
    dld__release_log(o->srv, L);
    return r;
}

static int do_admin_release(struct op *o)
{
    const struct dld_request *rq = o->rq;
    const uint8_t *p = rq->payload;
    size_t len = rq->len;
    if (len != 0 && len != 8)
        return fail(o->rp, -EINVAL, "ADMIN_RELEASE takes no payload or one u64 client tag");
    if (len == 8 && get_le64(p) > UINT32_MAX)
        return fail(o->rp, -EINVAL, "a client tag has 32 bits");
    int r = dld_release(o->srv, rq->peer.uid, rq->h->uuid, len == 0,
                        len ? (uint32_t)get_le64(p) : 0);
    if (r < 0)
        return fail(o->rp, r, "cannot release clients of log %s%s", rq->h->uuid,
                    r == -EACCES ? ": only root and the log's owner may"
                    : r == -EBUSY ? ": that client is connected" : "");
    dld_reply_u64(o->rp, (uint64_t)r);
    return 0;
}

/* ---- session requests (L pinned and locked, s the caller's session) ----- */

static int do_dtr(struct op *o)
{
    dld__drop_session(o->srv, o->L, o->s);
    return 0;
}

static int do_presuspend(struct op *o)
{
    return dl_log_presuspend(o->L->log);
}

static int do_postsuspend(struct op *o)
{
    return dl_log_postsuspend(o->L->log);
}

static int do_resume(struct op *o)
{
    struct dld_log *L = o->L;
    int r = dl_log_resume(L->log);
    /* A reload may have dropped unflushed marks of other clients: their
     * writes are still in flight, so mark them again. */
    for (size_t i = 0; r == 0 && i < L->marks.cap; i++)
        if (L->marks.used[i])
            r = dl_log_mark_region(L->log, L->marks.keys[i]);
    if (r == 0)
        dld__session_back(o->srv, L, o->s); /* its marks came before: reattached */
    return r;
}

static int do_get_region_size(struct op *o)
{
    dld_reply_u64(o->rp, dl_log_get_region_size(o->L->log));
    return 0;
}

static int do_is_clean(struct op *o)
{
    return reply_int(o, dl_log_is_clean(o->L->log, o->region));
}

static int do_in_sync(struct op *o)
{
    return reply_int(o, dl_log_in_sync(o->L->log, o->region, 1));
}

/* Recovering elsewhere: by another session of this log, or (the log says)
 * by another node; and whether the region is in sync. */
static int do_is_remote_recovering(struct op *o)
{
    struct dld_log *L = o->L;
    uint64_t *owner = dl__u64map_get(&L->recovering, o->region);
    int r = 0, rec = owner && *owner != o->s->luid;
    if (!rec && (r = dl_log_is_remote_recovering(L->log, o->region)) > 0)
        rec = 1;
    if (r < 0)
        return r;
    dld_reply_u64(o->rp, (uint64_t)rec);
    dld_reply_u64(o->rp, (uint64_t)(dl_log_in_sync(L->log, o->region, 0) == 1));
    return 0;
}

/* MARK_REGION and FLUSH (whose payload is marks not yet sent): charged and
 * reserved first, so the batch is applied whole or not at all. */
static int apply_marks(struct op *o)
{
    const uint8_t *p = o->rq->payload;
    size_t len = o->rq->len;
    int r = dld__reserve_marks(o->L, o->s, len / 8);
    if (r < 0)
        return fail(o->rp, r, "out of memory");
    if ((r = dld__charge_marks(o->srv, o->L, o->s, p, len, o->rp)) < 0)
        return r;
    for (size_t i = 0; r == 0 && i < len; i += 8)
        r = dld__session_mark(o->L, o->s, get_le64(p + i));
    return r;
}

static int do_mark_region(struct op *o)
{
    return apply_marks(o);
}

static int do_clear_region(struct op *o)
{
    const uint8_t *p = o->rq->payload;
    size_t len = o->rq->len;
    int r = dld__reserve_clears(o->srv, o->L, p, len, o->rp);
    for (size_t i = 0; r == 0 && i < len; i += 8)
        r = dld__session_clear(o->srv, o->L, o->s, get_le64(p + i));
    return r;
}

static int do_flush(struct op *o)
{
    int r = apply_marks(o);
    if (r < 0)
        return r;
    dld__session_back(o->srv, o->L, o->s); /* its marks came before: reattached */
    /* Persist without holding the log's lock: other clients of this log
     * keep marking while the disk works. L is pinned. */
    pthread_mutex_unlock(&o->L->lock);
    o->locked = 0;
    return dl_log_flush(o->L->log);
}

/* Hand the caller a region to recover, and remember it is this session's. */
static int do_get_resync_work(struct op *o)
{
    struct dld_log *L = o->L;
    struct dld_session *s = o->s;
    uint64_t region = 0;
    int added;
    if (dl__u64map_reserve(&s->recovering, 1) < 0 || dl__u64map_reserve(&L->recovering, 1) < 0)
        return -ENOMEM;
    int r = dl_log_get_resync_work(L->log, &region);
    if (r < 0)
        return r;
    if (r == 1) {
        *dl__u64map_put(&L->recovering, region, &added) = s->luid;
        dl__u64map_put(&s->recovering, region, &added);
    }
    dld_reply_u64(o->rp, (uint64_t)(int64_t)r);
    dld_reply_u64(o->rp, r == 1 ? region : 0);
    return 0;
}

/* Payload: the region and in_sync (u64 each). Whoever was recovering the
 * region is done with it. */
static int do_set_region_sync(struct op *o)
{
    struct dld_log *L = o->L;
    uint64_t region = get_le64(o->rq->payload);
    int64_t in_sync = (int64_t)get_le64(o->rq->payload + 8);
    int r = dl_log_set_region_sync(L->log, region, in_sync != 0);
    if (r < 0)
        return r;
    uint64_t *owner = dl__u64map_get(&L->recovering, region);
    if (owner) {
        struct dld_session *rs = *owner == o->s->luid ? o->s : dld__find_session(L, *owner);
        if (rs)
            dl__u64map_del(&rs->recovering, region);
        dl__u64map_del(&L->recovering, region);
    }
    return 0;
}

static int do_get_sync_count(struct op *o)
{
    uint64_t n = 0;
    int r = dl_log_get_sync_count(o->L->log, &n);
    if (r == 0)
        dld_reply_u64(o->rp, n);
    return r;
}

static int reply_status(struct op *o, enum dl_status_type type)
{
    int r = dl_log_status(o->L->log, type, (char *)o->rp->data, DLD_REPLY_MAX);
    if (r < 0)
        return r;
    o->rp->len = (uint32_t)r + 1;
    return 0;
}

static int do_status_info(struct op *o)
{
    return reply_status(o, DL_STATUS_INFO);
}

static int do_status_table(struct op *o)
{
    return reply_status(o, DL_STATUS_TABLE);
}

/* ---- the table and the dispatcher --------------------------------------- */

enum payload {
    PAYLOAD_NONE,    /* empty */
    PAYLOAD_REGION,  /* one u64 region, in range: op.region */
    PAYLOAD_REGIONS, /* u64 regions, each in range, at most DLD_MAX_REGIONS_PER_REQUEST */
    PAYLOAD_TWO_U64, /* two u64 */
    PAYLOAD_OWN,     /* the handler checks it (CTR, ADMIN_RELEASE) */
};

struct handler {
    int (*fn)(struct op *o);
    int session; /* needs the caller's session of an existing log */
    enum payload payload;
};

static const struct handler handlers[] = {
    [DLW_CTR] = {do_ctr, 0, PAYLOAD_OWN},
    [DLW_DTR] = {do_dtr, 1, PAYLOAD_NONE},
    [DLW_PRESUSPEND] = {do_presuspend, 1, PAYLOAD_NONE},
    [DLW_POSTSUSPEND] = {do_postsuspend, 1, PAYLOAD_NONE},
    [DLW_RESUME] = {do_resume, 1, PAYLOAD_NONE},
    [DLW_GET_REGION_SIZE] = {do_get_region_size, 1, PAYLOAD_NONE},
    [DLW_IS_CLEAN] = {do_is_clean, 1, PAYLOAD_REGION},
    [DLW_IN_SYNC] = {do_in_sync, 1, PAYLOAD_REGION},
    [DLW_FLUSH] = {do_flush, 1, PAYLOAD_REGIONS},
    [DLW_MARK_REGION] = {do_mark_region, 1, PAYLOAD_REGIONS},
    [DLW_CLEAR_REGION] = {do_clear_region, 1, PAYLOAD_REGIONS},
    [DLW_GET_RESYNC_WORK] = {do_get_resync_work, 1, PAYLOAD_NONE},
    [DLW_SET_REGION_SYNC] = {do_set_region_sync, 1, PAYLOAD_TWO_U64},
    [DLW_GET_SYNC_COUNT] = {do_get_sync_count, 1, PAYLOAD_NONE},
    [DLW_STATUS_INFO] = {do_status_info, 1, PAYLOAD_NONE},
    [DLW_STATUS_TABLE] = {do_status_table, 1, PAYLOAD_NONE},
    [DLW_IS_REMOTE_RECOVERING] = {do_is_remote_recovering, 1, PAYLOAD_REGION},
    [DLW_ADMIN_RELEASE] = {do_admin_release, 0, PAYLOAD_OWN},
};

static int need_len(size_t len, size_t want, struct dld_reply *rp)
{
    if (len != want)
        return fail(rp, -EINVAL, "payload of %zu bytes, expected %zu", len, want);
    return 0;
}

/* Regions of a payload: a whole number of u64, each in range, not too many. */
static int check_regions(struct dld_log *L, const uint8_t *p, size_t len, struct dld_reply *rp)
{
    if (len % 8)
        return fail(rp, -EINVAL, "region list of %zu bytes is not a multiple of 8", len);
    uint64_t count = dl_log_get_region_count(L->log);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = get_le64(p + i);
        if (r >= count)
            return fail(rp, -ERANGE, "region %" PRIu64 " out of range (region count %" PRIu64 ")",
                        r, count);
    }
    if (len / 8 > DLD_MAX_REGIONS_PER_REQUEST)
        return fail(rp, -E2BIG, "%zu regions in one request, at most %u", len / 8,
                    DLD_MAX_REGIONS_PER_REQUEST);
    return 0;
}

/* The payload as the table declares it (L locked). */
static int check_payload(struct op *o, enum payload shape)
{
    const uint8_t *p = o->rq->payload;
    size_t len = o->rq->len;
    int r;
    switch (shape) {
    case PAYLOAD_NONE:
        return need_len(len, 0, o->rp);
    case PAYLOAD_REGION:
        if ((r = need_len(len, 8, o->rp)) < 0)
            return r;
        o->region = get_le64(p);
        if (o->region >= dl_log_get_region_count(o->L->log))
            return fail(o->rp, -ERANGE, "region %" PRIu64 " out of range", o->region);
        return 0;
    case PAYLOAD_REGIONS:
        return check_regions(o->L, p, len, o->rp);
    case PAYLOAD_TWO_U64:
        return need_len(len, 16, o->rp);
    case PAYLOAD_OWN:
        break;
    }
    return 0;
}

/* A session request: find and pin the log, lock it, find the caller's
 * session (attached to this very connection), check the payload, run. */
static int run_in_session(struct op *o, const struct handler *hd)
{
    const struct dld_request *rq = o->rq;
    struct dld_log *L = dld__acquire_log(o->srv, rq->h->uuid);
    if (!L)
        return fail(o->rp, -ENOENT, "no log %s: CTR first", rq->h->uuid);
    o->L = L;
    pthread_mutex_lock(&L->lock);
    o->locked = 1;
    int r;
    o->s = dld__find_session(L, rq->h->luid);
    if (!o->s || o->s->conn_id != rq->peer.conn_id)
        r = fail(o->rp, -ENOENT, "no CTR for log %s, client %08" PRIx32 " on this connection",
                 rq->h->uuid, dl__wire_client_tag(rq->h->luid));
    else if ((r = check_payload(o, hd->payload)) == 0)
        r = hd->fn(o);
    if (o->locked)
        pthread_mutex_unlock(&L->lock);
    dld__release_log(o->srv, L);
    return r;
}

int dld_request_reattach(struct dld_server *srv, const struct dld_peer *peer, const char *uuid,
                         uint64_t luid, struct dld_reply *rp)
{
    struct dld_log *L = dld__acquire_log(srv, uuid);
    if (!L)
        return fail(rp, -ENOENT, "no log %s", uuid);
    pthread_mutex_lock(&L->lock);
    struct dld_session *s = dld__find_session(L, luid);
    struct op o = {.srv = srv, .rp = rp, .L = L, .s = s};
    int r;
    if (!s || s->conn_id != 0 || s->uid != (uint32_t)peer->uid || !L->log)
        r = fail(rp, -ENOENT, "no detached session of log %s to take back", uuid);
    else if ((r = dld__session_attach(srv, L, peer, luid, rp)) == 0)
        r = do_resume(&o); /* what the client's own RESUME after CTR would do */
    pthread_mutex_unlock(&L->lock);
    dld__release_log(srv, L);
    return r;
}

void dld_request_handle(struct dld_server *srv, const struct dld_request *rq,
                        struct dld_reply *rp)
{
    unsigned req = dlw_request_number(rq->h->request_type);
    const struct handler *hd =
        req < sizeof handlers / sizeof handlers[0] && handlers[req].fn ? &handlers[req] : NULL;
    struct op o = {.srv = srv, .rq = rq, .rp = rp};
    int r;
    if (!hd)
        r = fail(rp, -EOPNOTSUPP, "unknown request type %" PRIu32, rq->h->request_type);
    else if (hd->session)
        r = run_in_session(&o, hd);
    else
        r = hd->fn(&o);
    if (r < 0) {
        rp->error = r;
        if (srv->verbose)
            SAY(srv, LOG_DEBUG, "conn %" PRIu64 ": %s on %s: %s", rq->peer.conn_id,
                dl__wire_request_name(req) ? dl__wire_request_name(req) : "?", rq->h->uuid,
                rp->len ? (const char *)rp->data : "error");
    }
}
