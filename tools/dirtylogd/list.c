/* ADMIN_LIST: one page of the listing (see list.h; the byte layout is in
 * docs/protocol.md). Logs come in uuid order (bytes, as strcmp), each
 * followed by the sessions the peer may see in (tag, luid) order; a page
 * ends where the reply is full, with a cursor the client sends back to get
 * the next one, so any number of logs and sessions can be listed in
 * replies of DLD_REPLY_MAX bytes. Who sees what: root everything; another
 * uid the logs it owns (with all their sessions) and the logs it has
 * sessions in (with only its own sessions).
 *
 * Locking: the page's logs are chosen and pinned under srv->lock (taking
 * each L->lock briefly to look for the peer's sessions), then encoded one
 * by one under their own lock only, so no log op runs under srv->lock. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "server_internal.h"

/* Logs chosen per page: more than fit (a log record is >= 73 bytes). */
#define PAGE_LOGS 64

struct cursor {
    int inside; /* continue the sessions of log uuid; else start after it */
    uint32_t tag, skip; /* sessions after tag, or with tag == tag past the first skip */
    char uuid[DLW_UUID_SIZE]; /* "" = from the start */
};

struct chosen {
    struct dld_log *L;
    dl_log *log; /* L->log when chosen (NULL: creating or refused) */
    int creating;
};

/* ---- encoding ---------------------------------------------------------- */

struct page {
    uint8_t *p;   /* rp->data */
    size_t len;   /* bytes used */
    size_t limit; /* DLD_REPLY_MAX minus room for the largest cursor */
    uint32_t records;
};

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static int decode_cursor(const uint8_t *p, size_t len, struct cursor *c, struct dld_reply *rp)
{
    memset(c, 0, sizeof *c);
    if (len == 0)
        return 0;
    if (len < DLD_LIST_CURSOR_FIXED)
        return fail(rp, -EINVAL, "ADMIN_LIST cursor of %zu bytes (none, or %u + uuid)", len,
                    DLD_LIST_CURSOR_FIXED);
    uint32_t flags = get_le32(p);
    size_t ulen = (size_t)p[12] | (size_t)p[13] << 8;
    if (flags & ~(uint32_t)DLD_CURSOR_INSIDE)
        return fail(rp, -EINVAL, "ADMIN_LIST cursor flags 0x%x unknown", (unsigned)flags);
    if (ulen < 1 || ulen > DLW_UUID_SIZE - 1 || len != DLD_LIST_CURSOR_FIXED + ulen ||
        memchr(p + DLD_LIST_CURSOR_FIXED, '\0', ulen))
        return fail(rp, -EINVAL, "ADMIN_LIST cursor: bad uuid (1..%u bytes, no NUL, filling "
                    "the payload)", DLW_UUID_SIZE - 1);
    c->inside = flags & DLD_CURSOR_INSIDE;
    c->tag = get_le32(p + 4);
    c->skip = get_le32(p + 8);
    memcpy(c->uuid, p + DLD_LIST_CURSOR_FIXED, ulen);
    return 0;
}

static void put_cursor(struct dld_reply *rp, size_t at, const struct cursor *c)
{
    uint8_t *p = rp->data + at;
    size_t ulen = strlen(c->uuid);
    put_le32(p, c->inside ? DLD_CURSOR_INSIDE : 0);
    put_le32(p + 4, c->tag);
    put_le32(p + 8, c->skip);
    put16(p + 12, (unsigned)ulen);
    memcpy(p + DLD_LIST_CURSOR_FIXED, c->uuid, ulen);
    put_le32(rp->data + 8, (uint32_t)(DLD_LIST_CURSOR_FIXED + ulen));
    rp->len = (uint32_t)(at + DLD_LIST_CURSOR_FIXED + ulen);
}

/* The log record of L (under L->lock); 0 if it does not fit. */
static int put_log(struct page *pg, const struct chosen *ch, int continued)
{
    struct dld_log *L = ch->L;
    size_t ulen = strlen(L->uuid);
    size_t tlen = continued || !L->ctr ? 0 : strlen(L->ctr);
    size_t rlen = continued || !L->refusal ? 0 : strlen(L->refusal);
    uint32_t flags = continued ? DLD_LOGF_CONTINUED : 0;
    if (tlen > DLD_LIST_TABLE_MAX) {
        tlen = DLD_LIST_TABLE_MAX;
        flags |= DLD_LOGF_TABLE_CUT;
    }
    if (rlen > DLD_LIST_REASON_MAX) {
        rlen = DLD_LIST_REASON_MAX;
        flags |= DLD_LOGF_REASON_CUT;
    }
    size_t size = DLD_LIST_LOG_FIXED + ulen + tlen + rlen;
    if (pg->len + size > pg->limit)
        return 0;
    unsigned attached = 0;
    for (struct dld_session *s = L->sessions; s; s = s->next)
        attached += s->conn_id != 0;
    uint64_t region_size = 0, regions = 0, in_sync = 0;
    if (ch->log) {
        region_size = dl_log_get_region_size(ch->log);
        regions = dl_log_get_region_count(ch->log);
        if (dl_log_get_sync_count(ch->log, &in_sync) < 0)
            in_sync = 0;
    } else {
        flags |= DLD_LOGF_NO_COUNTS;
    }
    flags |= (L->refusal ? DLD_LOGF_REFUSED : 0) | (ch->creating ? DLD_LOGF_CREATING : 0) |
             (L->pending ? DLD_LOGF_GRACE : 0) | (L->released ? DLD_LOGF_RELEASED : 0);
    uint8_t *p = pg->p + pg->len;
    memset(p, 0, DLD_LIST_LOG_FIXED);
    put16(p, DLD_LIST_KIND_LOG);
    put16(p + 2, (unsigned)size);
    put_le32(p + 4, L->owner_uid);
    put_le32(p + 8, flags);
    put_le32(p + 12, L->nsessions);
    put_le32(p + 16, L->pending);
    put_le32(p + 20, attached);
    put_le64(p + 24, region_size);
    put_le64(p + 32, regions);
    put_le64(p + 40, in_sync);
    put_le64(p + 48, L->marks.len);
    put_le64(p + 56, L->held.len);
    put16(p + 64, (unsigned)ulen);
    put16(p + 66, (unsigned)tlen);
    put16(p + 68, (unsigned)rlen);
    memcpy(p + DLD_LIST_LOG_FIXED, L->uuid, ulen);
    if (tlen)
        memcpy(p + DLD_LIST_LOG_FIXED + ulen, L->ctr, tlen);
    if (rlen)
        memcpy(p + DLD_LIST_LOG_FIXED + ulen + tlen, L->refusal, rlen);
    pg->len += size;
    pg->records++;
    return 1;
}

/* A session record; 0 if it does not fit. */
static int put_session(struct page *pg, const struct dld_session *s)
{
    if (pg->len + DLD_LIST_SESSION > pg->limit)
        return 0;
    uint8_t *p = pg->p + pg->len;
    memset(p, 0, DLD_LIST_SESSION);
    put16(p, DLD_LIST_KIND_SESSION);
    put16(p + 2, DLD_LIST_SESSION);
    put_le32(p + 4, dl__wire_client_tag(s->luid));
    put_le32(p + 8, s->uid);
    put_le32(p + 12, (uint32_t)s->pid);
    put_le32(p + 16, (s->conn_id ? DLD_SESF_ATTACHED : 0u) | (s->pending ? DLD_SESF_AWAITED : 0u));
    put_le64(p + 24, s->conn_id);
    put_le64(p + 32, s->marks.len);
    put_le64(p + 40, s->recovering.len);
    pg->len += DLD_LIST_SESSION;
    pg->records++;
    return 1;
}

/* ---- choosing ---------------------------------------------------------- */

static int owner_view(const struct dld_log *L, uid_t uid)
{
    return uid == 0 || L->owner_uid == (uint32_t)uid;
}

/* May uid see L? Under srv->lock; takes L->lock. */
static int visible(struct dld_log *L, uid_t uid)
{
    if (owner_view(L, uid))
        return 1;
    int seen = 0;
    pthread_mutex_lock(&L->lock);
    for (struct dld_session *s = L->sessions; s && !seen; s = s->next)
        seen = s->uid == (uint32_t)uid;
    pthread_mutex_unlock(&L->lock);
    return seen;
}

/* The first PAGE_LOGS logs from the cursor that uid may see, in uuid
 * order, pinned; *more = 1 if there are others after them. */
static size_t choose(struct dld_server *srv, const struct cursor *c, uid_t uid,
                     struct chosen *out, int *more)
{
    size_t n = 0;
    *more = 0;
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            int cmp = strcmp(L->uuid, c->uuid);
            if (cmp < 0 || (cmp == 0 && !(c->inside && c->uuid[0])) || !visible(L, uid))
                continue;
            if (n == PAGE_LOGS && strcmp(L->uuid, out[n - 1].L->uuid) > 0) {
                *more = 1;
                continue;
            }
            if (n == PAGE_LOGS) {
                *more = 1; /* the last one drops out, L goes in */
                n--;
            }
            size_t i = n++;
            for (; i > 0 && strcmp(out[i - 1].L->uuid, L->uuid) > 0; i--)
                out[i] = out[i - 1];
            out[i] = (struct chosen){.L = L};
        }
    for (size_t i = 0; i < n; i++) {
        out[i].L->busy++;
        out[i].log = out[i].L->log;
        out[i].creating = out[i].L->creating;
    }
    pthread_mutex_unlock(&srv->lock);
    return n;
}

/* ---- sessions of one log, in (tag, luid) order ------------------------- */

struct ses_key {
    uint32_t tag;
    uint64_t luid;
    const struct dld_session *s;
};

static int ses_cmp(const void *a, const void *b)
{
    const struct ses_key *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->luid < y->luid ? -1 : x->luid > y->luid;
}

/* The sessions of L that uid may see, sorted (under L->lock). NULL with
 * *n = 0 if none; -ENOMEM as NULL with *n = SIZE_MAX. */
static struct ses_key *sorted_sessions(const struct dld_log *L, uid_t uid, size_t *n)
{
    *n = 0;
    if (!L->nsessions)
        return NULL;
    struct ses_key *v = malloc(L->nsessions * sizeof *v);
    if (!v) {
        *n = SIZE_MAX;
        return NULL;
    }
    int all = owner_view(L, uid);
    for (const struct dld_session *s = L->sessions; s && *n < L->nsessions; s = s->next)
        if (all || s->uid == (uint32_t)uid)
            v[(*n)++] = (struct ses_key){dl__wire_client_tag(s->luid), s->luid, s};
    qsort(v, *n, sizeof *v, ses_cmp);
    return v;
}

/* Encode L and its sessions from the cursor position (under L->lock).
 * Returns 1 if all of it went in, 0 if the page filled (*c says where the
 * next page starts), -ENOMEM. */
static int put_log_and_sessions(struct page *pg, const struct chosen *ch, uid_t uid,
                                struct cursor *c)
{
    struct dld_log *L = ch->L;
    int continued = c->inside && strcmp(c->uuid, L->uuid) == 0;
    uint32_t tag = continued ? c->tag : 0, same = continued ? c->skip : 0;
    if (!put_log(pg, ch, continued))
        return 0; /* c still says: after the previous log */
    size_t n;
    struct ses_key *v = sorted_sessions(L, uid, &n);
    if (n == SIZE_MAX)
        return -ENOMEM;
    /* Skip what earlier pages listed: tags below the cursor's, and the
     * first `skip` sessions with its tag. */
    size_t i = 0;
    for (uint32_t seen = 0; i < n && continued; i++) {
        if (v[i].tag < tag)
            continue;
        if (v[i].tag == tag && seen < same) {
            seen++;
            continue;
        }
        break;
    }
    int all_in = 1;
    for (; i < n; i++) {
        if (!put_session(pg, v[i].s)) {
            all_in = 0;
            break;
        }
        same = v[i].tag == tag ? same + 1 : 1;
        tag = v[i].tag;
    }
    free(v);
    snprintf(c->uuid, sizeof c->uuid, "%s", L->uuid);
    c->inside = !all_in;
    c->tag = all_in ? 0 : tag;
    c->skip = all_in ? 0 : same;
    return all_in;
}

int dld__list(struct dld_server *srv, const struct dld_request *rq, struct dld_reply *rp)
{
    struct cursor c;
    int r = decode_cursor(rq->payload, rq->len, &c, rp);
    if (r < 0)
        return r;
    struct chosen ch[PAGE_LOGS];
    int more;
    size_t n = choose(srv, &c, rq->peer.uid, ch, &more);
    struct page pg = {.p = rp->data, .len = DLD_LIST_HEAD,
                      .limit = DLD_REPLY_MAX - DLD_LIST_CURSOR_FIXED - (DLW_UUID_SIZE - 1)};
    size_t i = 0;
    for (; i < n && r == 0; i++) {
        pthread_mutex_lock(&ch[i].L->lock);
        r = put_log_and_sessions(&pg, &ch[i], rq->peer.uid, &c);
        pthread_mutex_unlock(&ch[i].L->lock);
        r = r == 1 ? 0 : r == 0 ? 1 : r; /* 1: the page is full */
    }
    for (size_t k = 0; k < n; k++)
        dld__release_log(srv, ch[k].L);
    if (r < 0)
        return fail(rp, r, "out of memory");
    put_le32(rp->data, DLD_LIST_VERSION);
    put_le32(rp->data + 4, pg.records);
    put_le32(rp->data + 8, 0);
    rp->len = (uint32_t)pg.len;
    if (r == 1 || more)
        put_cursor(rp, pg.len, &c);
    return 0;
}
