/* dirtylogd's logs, sessions and request dispatch (see server.h). The daemon
 * holds no log logic of its own: it creates logs through the registry and
 * calls the dl_log_* ops; what it adds is the per-client bookkeeping of shared
 * logs (who marked what, who recovers what). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log_internal.h" /* dl__parse_u64 */
#include "server.h"

#define DLD_REPLY_MAX 4096u /* largest reply payload (status strings) */
#define DLD_CTR_MAX 4096u   /* largest constructor string */

struct reply {
    int32_t error;
    uint32_t len;
    uint8_t data[DLD_REPLY_MAX];
};

#define SAY(srv, level, ...)                      \
    do {                                          \
        if ((srv)->logf)                          \
            (srv)->logf((level), __VA_ARGS__);    \
    } while (0)

static void reply_u64(struct reply *rp, uint64_t v)
{
    dlw_put_le64(rp->data + rp->len, v);
    rp->len += 8;
}

/* An error reply may carry a human message (NUL-terminated). */
DL_PRINTF(3, 4)
static int fail(struct reply *rp, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *)rp->data, DLD_REPLY_MAX, fmt, ap);
    va_end(ap);
    rp->len = n < 0 ? 0 : (size_t)n < DLD_REPLY_MAX ? (uint32_t)n + 1 : DLD_REPLY_MAX;
    rp->error = err;
    return err;
}

/* ---- the log table ---------------------------------------------------- */

static unsigned bucket_of(const char *uuid)
{
    uint32_t h = 2166136261u;
    for (; *uuid; uuid++)
        h = (h ^ (uint8_t)*uuid) * 16777619u;
    return h % DLD_LOG_BUCKETS;
}

static struct dld_log *find_log(struct dld_server *srv, const char *uuid)
{
    for (struct dld_log *L = srv->buckets[bucket_of(uuid)]; L; L = L->next)
        if (strcmp(L->uuid, uuid) == 0)
            return L;
    return NULL;
}

/* Find a log and pin it (busy) so it outlives the request. */
static struct dld_log *acquire_log(struct dld_server *srv, const char *uuid)
{
    pthread_mutex_lock(&srv->lock);
    struct dld_log *L = find_log(srv, uuid);
    if (L)
        L->busy++;
    pthread_mutex_unlock(&srv->lock);
    return L;
}

static void free_session(struct dld_session *s)
{
    dl__u64map_free(&s->marks);
    dl__u64map_free(&s->recovering);
    free(s);
}

static void destroy_log(struct dld_log *L)
{
    while (L->sessions) {
        struct dld_session *s = L->sessions;
        L->sessions = s->next;
        free_session(s);
    }
    dl_log_destroy(L->log);
    dl__u64map_free(&L->marks);
    dl__u64map_free(&L->recovering);
    pthread_mutex_destroy(&L->lock);
    free(L->ctr);
    free(L);
}

/* Unpin; the last user of a log without sessions destroys it. */
static void release_log(struct dld_server *srv, struct dld_log *L)
{
    pthread_mutex_lock(&srv->lock);
    int gone = --L->busy == 0 && L->nsessions == 0;
    if (gone) {
        struct dld_log **pp = &srv->buckets[bucket_of(L->uuid)];
        while (*pp != L)
            pp = &(*pp)->next;
        *pp = L->next;
        srv->nlogs--;
    }
    pthread_mutex_unlock(&srv->lock);
    if (gone) {
        SAY(srv, LOG_INFO, "log %s: last client gone, log closed", L->uuid);
        destroy_log(L);
    }
}

static struct dld_session *find_session(struct dld_log *L, uint64_t luid)
{
    for (struct dld_session *s = L->sessions; s; s = s->next)
        if (s->luid == luid)
            return s;
    return NULL;
}

/* ---- shared-log bookkeeping (under L->lock) --------------------------- */

/* Make room so that marking n regions cannot fail half-way. */
static int reserve_marks(struct dld_log *L, struct dld_session *s, size_t n)
{
    if (dl__u64map_reserve(&s->marks, n) < 0 || dl__u64map_reserve(&L->marks, n) < 0)
        return -ENOMEM;
    return 0;
}

static int session_mark(struct dld_log *L, struct dld_session *s, uint64_t r)
{
    int added;
    if (!dl__u64map_put(&s->marks, r, &added))
        return -ENOMEM;
    if (!added)
        return 0;
    uint64_t *count = dl__u64map_put(&L->marks, r, &added);
    if (!count) {
        dl__u64map_del(&s->marks, r);
        return -ENOMEM;
    }
    if ((*count)++ == 0)
        return dl_log_mark_region(L->log, r);
    return 0;
}

/* A region is cleared in the log only when no client still has it marked. */
static int session_clear(struct dld_log *L, struct dld_session *s, uint64_t r)
{
    if (dl__u64map_del(&s->marks, r)) {
        uint64_t *count = dl__u64map_get(&L->marks, r);
        if (count && --*count > 0)
            return 0;
        dl__u64map_del(&L->marks, r);
        return dl_log_clear_region(L->log, r);
    }
    if (dl__u64map_get(&L->marks, r))
        return 0; /* someone else's writes may be in flight */
    /* Nobody marked it in this daemon's life (e.g. dirty since before a
     * restart): the client's word is enough. */
    return dl_log_clear_region(L->log, r);
}

/* Forget a session: its marks stop counting (the regions stay dirty in the
 * log until a clear, the safe side) and its recoveries are handed back. */
static void drop_session(struct dld_log *L, struct dld_session *s)
{
    for (size_t i = 0; i < s->marks.cap; i++) {
        if (!s->marks.used[i])
            continue;
        uint64_t *count = dl__u64map_get(&L->marks, s->marks.keys[i]);
        if (count && --*count == 0)
            dl__u64map_del(&L->marks, s->marks.keys[i]);
    }
    for (size_t i = 0; i < s->recovering.cap; i++) {
        if (!s->recovering.used[i])
            continue;
        uint64_t r = s->recovering.keys[i];
        uint64_t *owner = dl__u64map_get(&L->recovering, r);
        if (owner && *owner == s->luid) {
            dl__u64map_del(&L->recovering, r);
            dl_log_set_region_sync(L->log, r, 0); /* not recovered: back to the pool */
        }
    }
    struct dld_session **pp = &L->sessions;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    L->nsessions--;
    free_session(s);
}

/* ---- requests --------------------------------------------------------- */

/* Split a constructor string "<target> <type> <args...>" in place. */
static int parse_ctr(char *s, uint64_t *target, char **type, unsigned *argc, char **argv,
                     struct reply *rp)
{
    char *words[DL_MAX_ARGS + 2];
    unsigned n = 0;
    for (char *p = s;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == DL_MAX_ARGS + 2)
            return fail(rp, -E2BIG, "constructor has more than %d arguments", DL_MAX_ARGS);
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    if (n < 2)
        return fail(rp, -EINVAL, "constructor must be '<target_sectors> <log type> <args...>'");
    int e = dl__parse_u64(words[0], target);
    if (e == -ERANGE)
        return fail(rp, -EINVAL, "target length '%s' does not fit 64 bits", words[0]);
    if (e < 0)
        return fail(rp, -EINVAL, "target length '%s' is not a decimal number", words[0]);
    *type = words[1];
    *argc = n - 2;
    for (unsigned i = 2; i < n; i++)
        argv[i - 2] = words[i];
    return 0;
}

static int do_ctr(struct dld_server *srv, struct dld_conn *c, const struct dlw_header *h,
                  const uint8_t *p, size_t len, struct reply *rp)
{
    if (len && p[len - 1] == '\0')
        len--; /* a terminating NUL is allowed, not required */
    if (len == 0 || len > DLD_CTR_MAX)
        return fail(rp, -EINVAL, "constructor string of %zu bytes (1..%u allowed)", len,
                    DLD_CTR_MAX);
    if (memchr(p, '\0', len))
        return fail(rp, -EINVAL, "constructor string contains a NUL byte");
    char *ctr = malloc(len + 1), *work = malloc(len + 1);
    if (!ctr || !work) {
        free(ctr);
        free(work);
        return fail(rp, -ENOMEM, "out of memory");
    }
    memcpy(ctr, p, len);
    ctr[len] = '\0';
    memcpy(work, ctr, len + 1);

    int r = 0;
    pthread_mutex_lock(&srv->lock);
    struct dld_log *L = find_log(srv, h->uuid);
    if (L && strcmp(L->ctr, ctr) != 0) {
        r = fail(rp, -EINVAL, "log %s already exists with constructor '%s'", h->uuid, L->ctr);
    } else if (!L && srv->nlogs >= srv->limits.max_logs) {
        r = fail(rp, -EMFILE, "too many logs (limit %u)", srv->limits.max_logs);
    } else if (!L) {
        uint64_t target = 0;
        char *type = NULL, *argv[DL_MAX_ARGS];
        unsigned argc = 0;
        r = parse_ctr(work, &target, &type, &argc, argv, rp);
        dl_log *log = NULL;
        if (r == 0 && strcmp(type, "userspace") == 0)
            r = fail(rp, -EINVAL, "a daemon log cannot itself be of type userspace");
        if (r == 0) {
            char why[512];
            r = dld_confine_create_log(srv->confine, type, target, argc, argv, &log, why,
                                       sizeof why);
            if (r < 0)
                fail(rp, r, "%s", why);
        }
        if (r == 0) {
            L = calloc(1, sizeof *L);
            if (!L || pthread_mutex_init(&L->lock, NULL) != 0) {
                free(L);
                L = NULL;
                dl_log_destroy(log);
                r = -ENOMEM;
                fail(rp, r, "out of memory");
            }
        }
        if (r == 0 && L) {
            memcpy(L->uuid, h->uuid, sizeof L->uuid);
            L->ctr = ctr;
            ctr = NULL;
            L->log = log;
            dl__u64map_init(&L->marks);
            dl__u64map_init(&L->recovering);
            unsigned b = bucket_of(L->uuid);
            L->next = srv->buckets[b];
            srv->buckets[b] = L;
            srv->nlogs++;
            SAY(srv, LOG_INFO, "log %s created: %s", L->uuid, L->ctr);
        }
    }
    if (r == 0)
        L->busy++;
    pthread_mutex_unlock(&srv->lock);
    free(ctr);
    free(work);
    if (r < 0)
        return r;

    pthread_mutex_lock(&L->lock);
    struct dld_session *s = find_session(L, h->luid);
    if (s) {
        /* The same client again (reconnected, or a new connection won the
         * race with the old one's hang-up): it takes its marks back. */
        s->conn_id = c->id;
    } else if ((s = calloc(1, sizeof *s)) != NULL) {
        s->luid = h->luid;
        s->conn_id = c->id;
        dl__u64map_init(&s->marks);
        dl__u64map_init(&s->recovering);
        s->next = L->sessions;
        L->sessions = s;
        L->nsessions++;
    } else {
        r = fail(rp, -ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&L->lock);
    release_log(srv, L);
    return r;
}

/* Regions of a payload: a whole number of u64, each in range. */
static int check_regions(struct dld_log *L, const uint8_t *p, size_t len, struct reply *rp)
{
    if (len % 8)
        return fail(rp, -EINVAL, "region list of %zu bytes is not a multiple of 8", len);
    uint64_t count = dl_log_get_region_count(L->log);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = dlw_get_le64(p + i);
        if (r >= count)
            return fail(rp, -ERANGE, "region %" PRIu64 " out of range (region count %" PRIu64 ")",
                        r, count);
    }
    return 0;
}

static int need_len(size_t len, size_t want, struct reply *rp)
{
    if (len != want)
        return fail(rp, -EINVAL, "payload of %zu bytes, expected %zu", len, want);
    return 0;
}

/* Every request of an existing session. Called with L pinned, not locked. */
static int do_session_request(struct dld_log *L, struct dld_conn *c, const struct dlw_header *h,
                              unsigned req, const uint8_t *p, size_t len, struct reply *rp)
{
    pthread_mutex_lock(&L->lock);
    struct dld_session *s = find_session(L, h->luid);
    if (!s || s->conn_id != c->id) {
        pthread_mutex_unlock(&L->lock);
        return fail(rp, -ENOENT, "no CTR for log %s, luid %" PRIu64 " on this connection",
                    h->uuid, h->luid);
    }
    int r = 0;
    uint64_t region = 0;
    if (req == DLW_IS_CLEAN || req == DLW_IN_SYNC || req == DLW_IS_REMOTE_RECOVERING) {
        if ((r = need_len(len, 8, rp)) < 0)
            goto out;
        region = dlw_get_le64(p);
        if (region >= dl_log_get_region_count(L->log)) {
            r = fail(rp, -ERANGE, "region %" PRIu64 " out of range", region);
            goto out;
        }
    } else if (req != DLW_MARK_REGION && req != DLW_CLEAR_REGION && req != DLW_FLUSH &&
               req != DLW_SET_REGION_SYNC && (r = need_len(len, 0, rp)) < 0) {
        goto out;
    }

    switch (req) {
    case DLW_DTR:
        drop_session(L, s);
        break;
    case DLW_PRESUSPEND:
        r = dl_log_presuspend(L->log);
        break;
    case DLW_POSTSUSPEND:
        r = dl_log_postsuspend(L->log);
        break;
    case DLW_RESUME:
        r = dl_log_resume(L->log);
        /* A reload may have dropped unflushed marks of other clients: their
         * writes are still in flight, so mark them again. */
        for (size_t i = 0; r == 0 && i < L->marks.cap; i++)
            if (L->marks.used[i])
                r = dl_log_mark_region(L->log, L->marks.keys[i]);
        break;
    case DLW_GET_REGION_SIZE:
        reply_u64(rp, dl_log_get_region_size(L->log));
        break;
    case DLW_IS_CLEAN:
        r = dl_log_is_clean(L->log, region);
        if (r >= 0) {
            reply_u64(rp, (uint64_t)(int64_t)r);
            r = 0;
        }
        break;
    case DLW_IN_SYNC:
        r = dl_log_in_sync(L->log, region, 1);
        if (r >= 0) {
            reply_u64(rp, (uint64_t)(int64_t)r);
            r = 0;
        }
        break;
    case DLW_IS_REMOTE_RECOVERING: {
        uint64_t *owner = dl__u64map_get(&L->recovering, region);
        int rec = owner && *owner != s->luid;
        if (!rec && (r = dl_log_is_remote_recovering(L->log, region)) > 0)
            rec = 1;
        if (r >= 0) {
            reply_u64(rp, (uint64_t)rec);
            reply_u64(rp, (uint64_t)(dl_log_in_sync(L->log, region, 0) == 1));
            r = 0;
        }
        break;
    }
    case DLW_MARK_REGION:
    case DLW_CLEAR_REGION:
    case DLW_FLUSH:
        if ((r = check_regions(L, p, len, rp)) < 0)
            break;
        if (req != DLW_CLEAR_REGION && (r = reserve_marks(L, s, len / 8)) < 0)
            break;
        for (size_t i = 0; r == 0 && i < len; i += 8)
            r = req == DLW_CLEAR_REGION ? session_clear(L, s, dlw_get_le64(p + i))
                                        : session_mark(L, s, dlw_get_le64(p + i));
        if (r == 0 && req == DLW_FLUSH) {
            /* Persist without holding the log's lock: other clients of this
             * log keep marking while the disk works. L is pinned. */
            pthread_mutex_unlock(&L->lock);
            return dl_log_flush(L->log);
        }
        break;
    case DLW_GET_RESYNC_WORK: {
        int added;
        if (dl__u64map_reserve(&s->recovering, 1) < 0 || dl__u64map_reserve(&L->recovering, 1) < 0) {
            r = -ENOMEM;
            break;
        }
        r = dl_log_get_resync_work(L->log, &region);
        if (r < 0)
            break;
        if (r == 1) {
            *dl__u64map_put(&L->recovering, region, &added) = s->luid;
            dl__u64map_put(&s->recovering, region, &added);
        }
        reply_u64(rp, (uint64_t)(int64_t)r);
        reply_u64(rp, r == 1 ? region : 0);
        r = 0;
        break;
    }
    case DLW_SET_REGION_SYNC: {
        if ((r = need_len(len, 16, rp)) < 0)
            break;
        region = dlw_get_le64(p);
        int64_t in_sync = (int64_t)dlw_get_le64(p + 8);
        r = dl_log_set_region_sync(L->log, region, in_sync != 0);
        if (r < 0)
            break;
        uint64_t *owner = dl__u64map_get(&L->recovering, region);
        if (owner) {
            struct dld_session *o = *owner == s->luid ? s : find_session(L, *owner);
            if (o)
                dl__u64map_del(&o->recovering, region);
            dl__u64map_del(&L->recovering, region);
        }
        break;
    }
    case DLW_GET_SYNC_COUNT: {
        uint64_t n = 0;
        r = dl_log_get_sync_count(L->log, &n);
        if (r == 0)
            reply_u64(rp, n);
        break;
    }
    case DLW_STATUS_INFO:
    case DLW_STATUS_TABLE:
        r = dl_log_status(L->log, req == DLW_STATUS_INFO ? DL_STATUS_INFO : DL_STATUS_TABLE,
                          (char *)rp->data, DLD_REPLY_MAX);
        if (r >= 0) {
            rp->len = (uint32_t)r + 1;
            r = 0;
        }
        break;
    default:
        r = fail(rp, -EOPNOTSUPP, "unknown request %u", req);
        break;
    }
out:
    pthread_mutex_unlock(&L->lock);
    return r;
}

int dld_release(struct dld_server *srv, const char *uuid, int all, uint64_t luid)
{
    struct dld_log *L = acquire_log(srv, uuid);
    if (!L)
        return -ENOENT;
    int n = 0;
    pthread_mutex_lock(&L->lock);
    if (!all) {
        struct dld_session *s = find_session(L, luid);
        if (!s)
            n = -ENOENT;
        else if (s->conn_id)
            n = -EBUSY;
        else {
            drop_session(L, s);
            n = 1;
        }
    } else {
        for (struct dld_session *s = L->sessions, *next; s; s = next) {
            next = s->next;
            if (!s->conn_id) {
                drop_session(L, s);
                n++;
            }
        }
    }
    pthread_mutex_unlock(&L->lock);
    if (n > 0)
        SAY(srv, LOG_NOTICE, "log %s: released %d disconnected client(s)", uuid, n);
    release_log(srv, L);
    return n;
}

static void dispatch(struct dld_server *srv, struct dld_conn *c, const struct dlw_header *h,
                     const uint8_t *p, size_t len, struct reply *rp)
{
    unsigned req = dlw_request_number(h->request_type);
    int r;
    if (req == DLW_CTR) {
        r = do_ctr(srv, c, h, p, len, rp);
    } else if (req == DLW_ADMIN_RELEASE) {
        if (len != 0 && len != 8) {
            r = fail(rp, -EINVAL, "ADMIN_RELEASE takes no payload or one u64 luid");
        } else {
            r = dld_release(srv, h->uuid, len == 0, len ? dlw_get_le64(p) : 0);
            if (r >= 0) {
                reply_u64(rp, (uint64_t)r);
                r = 0;
            } else {
                fail(rp, r, "cannot release clients of log %s", h->uuid);
            }
        }
    } else if (req < DLW_DTR || req > DLW_IS_REMOTE_RECOVERING) {
        r = fail(rp, -EOPNOTSUPP, "unknown request type %" PRIu32, h->request_type);
    } else {
        struct dld_log *L = acquire_log(srv, h->uuid);
        if (!L) {
            r = fail(rp, -ENOENT, "no log %s: CTR first", h->uuid);
        } else {
            r = do_session_request(L, c, h, req, p, len, rp);
            release_log(srv, L);
        }
    }
    if (r < 0) {
        rp->error = r;
        if (srv->verbose)
            SAY(srv, LOG_DEBUG, "conn %" PRIu64 ": %s on %s: %s", c->id,
                dl__wire_request_name(req) ? dl__wire_request_name(req) : "?", h->uuid,
                rp->len ? (const char *)rp->data : "error");
    }
}

/* ---- connections ------------------------------------------------------ */

void dld_conn_init(struct dld_conn *c, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
}

static int send_reply(const struct dlw_header *req, const struct reply *rp, dld_send_fn send,
                      void *arg)
{
    uint8_t msg[DLW_HEADER_SIZE + DLD_REPLY_MAX];
    struct dlw_header h;
    dl__wire_reply_header(req, rp->error, rp->len, &h);
    dl__wire_encode_header(&h, msg);
    memcpy(msg + DLW_HEADER_SIZE, rp->data, rp->len);
    return send(arg, msg, DLW_HEADER_SIZE + rp->len);
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
            int e = dl__wire_decode_header(c->hdr, srv->limits.max_payload, &c->h);
            if (e == -EPROTO || e == -EMSGSIZE) {
                /* The length cannot be trusted: answer, then hang up. */
                struct reply *rp = calloc(1, sizeof *rp);
                if (rp) {
                    fail(rp, e, e == -EPROTO ? "protocol version %" PRIu32 ", expected %u"
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

        struct reply *rp = malloc(sizeof *rp);
        if (!rp)
            return -ENOMEM;
        rp->error = 0;
        rp->len = 0;
        if (c->hdr_err)
            fail(rp, c->hdr_err, "uuid field is not NUL-terminated");
        else
            dispatch(srv, c, &c->h, c->payload, c->payload_len, rp);
        int r = send_reply(&c->h, rp, send, arg);
        free(rp);
        c->hdr_len = 0;
        if (c->payload_cap > 65536) { /* do not keep a huge buffer per client */
            free(c->payload);
            c->payload = NULL;
            c->payload_cap = 0;
        }
        if (r < 0)
            return r;
    }
}

void dld_conn_closed(struct dld_server *srv, struct dld_conn *c)
{
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            pthread_mutex_lock(&L->lock);
            for (struct dld_session *s = L->sessions; s; s = s->next)
                if (s->conn_id == c->id) {
                    s->conn_id = 0;
                    if (srv->verbose)
                        SAY(srv, LOG_INFO,
                            "log %s: client %" PRIu64 " disconnected, keeping %zu mark(s)",
                            L->uuid, s->luid, s->marks.len);
                }
            pthread_mutex_unlock(&L->lock);
        }
    pthread_mutex_unlock(&srv->lock);
    free(c->payload);
    c->payload = NULL;
    c->payload_cap = 0;
}

/* ---- the server ------------------------------------------------------- */

int dld_server_init(struct dld_server *srv, const struct dld_limits *limits)
{
    memset(srv, 0, sizeof *srv);
    srv->limits = *limits;
    if (srv->limits.max_payload == 0 || srv->limits.max_payload > DLW_MAX_PAYLOAD)
        srv->limits.max_payload = DLW_MAX_PAYLOAD;
    return pthread_mutex_init(&srv->lock, NULL) ? -ENOMEM : 0;
}

int dld_server_flush_all(struct dld_server *srv)
{
    int failed = 0;
    pthread_mutex_lock(&srv->lock);
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        for (struct dld_log *L = srv->buckets[b]; L; L = L->next) {
            int r = dl_log_flush(L->log);
            if (r == 0)
                r = dl_log_postsuspend(L->log);
            if (r < 0) {
                failed++;
                SAY(srv, LOG_ERR, "log %s: flush/postsuspend failed: %s", L->uuid,
                    dl_strerror(r));
            }
        }
    pthread_mutex_unlock(&srv->lock);
    return failed;
}

void dld_server_destroy(struct dld_server *srv)
{
    for (unsigned b = 0; b < DLD_LOG_BUCKETS; b++)
        while (srv->buckets[b]) {
            struct dld_log *L = srv->buckets[b];
            srv->buckets[b] = L->next;
            destroy_log(L);
        }
    srv->nlogs = 0;
    pthread_mutex_destroy(&srv->lock);
}
