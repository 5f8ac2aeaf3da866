/* Type "userspace": a log hosted by dirtylogd (docs/protocol.md).
 * userspace <uuid> [integrated_flush] [socket=<path>] <log type> <log args...>
 *
 * Marks and clears are queued here and sent at flush: clears first, then
 * marks in batches (or, with integrated_flush, inside the FLUSH request, so a
 * flush costs one round trip). Queries go straight to the daemon.
 *
 * The queue is a hash map region -> last queued op behind a short mutex:
 * this type talks to a socket anyway, and the map gives exact answers (a mark
 * then a clear of the same region before a flush leaves it clean, as with
 * core) and never grows with repeated marks. It keeps its capacity across
 * flushes, so a steady workload does not allocate on mark/clear.
 *
 * Durability: a flush swaps the queue out and keeps it until the daemon has
 * acknowledged the FLUSH on one and the same connection. If the daemon
 * restarted in the middle, the whole batch is sent again on the new
 * connection; if the flush fails, the batch goes back into the queue. So a
 * flush that returned 0 means every mark queued before it is durable in the
 * daemon's log. The acknowledged marks stay held by the connection (see
 * client_conn.h) until a flushed clear releases them: a restarted daemon
 * gets them again before anything else, so no other client's clear can
 * clean a region this one still has marked. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylog.h"
#include "log_internal.h"
#include "remote/client_conn.h"
#include "remote/u64map.h"
#include "remote/wire.h"

enum { OP_MARK = RC_OP_MARK, OP_CLEAR = RC_OP_CLEAR };
#define FLUSH_RETRIES 8 /* daemon restarts survived inside one flush */

struct us_log {
    struct rc_conn conn;
    int integrated_flush;
    uint32_t region_size;
    char *table; /* our own constructor line, for STATUS_TABLE */
    pthread_mutex_t queue_lock;
    struct u64map queue;    /* region -> OP_MARK / OP_CLEAR, not yet sent */
    struct u64map inflight; /* the batch of the flush in progress */
    pthread_mutex_t flush_lock; /* one flush at a time */
    int failed;                 /* sticky: the flush callback failed */
    uint8_t *batch;             /* DLW_REGIONS_PER_MSG regions, under flush_lock */
};

static struct us_log *ctx(dl_log *log) { return dl__context(log); }

static void us_free(struct us_log *us)
{
    dl__u64map_free(&us->queue);
    dl__u64map_free(&us->inflight);
    pthread_mutex_destroy(&us->queue_lock);
    pthread_mutex_destroy(&us->flush_lock);
    free(us->batch);
    free(us->table);
    free(us);
}

/* "<prefix> <word> <word>...": the words joined by single spaces. */
static char *join(const char *prefix, unsigned argc, char **argv)
{
    size_t n = strlen(prefix) + 1;
    for (unsigned i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    p += sprintf(p, "%s", prefix);
    for (unsigned i = 0; i < argc; i++)
        p += sprintf(p, " %s", argv[i]);
    return s;
}

static int us_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    if (argc < 2) {
        dl_log_errorf(log, "userspace takes <uuid> [integrated_flush] [socket=<path>] "
                           "<log type> <log args...>, got %u argument(s)",
                      argc);
        return -EINVAL;
    }
    struct us_log *us = calloc(1, sizeof *us);
    if (!us)
        return -ENOMEM;
    const char *where = NULL;
    unsigned i = 1;
    for (; i < argc; i++) {
        if (strncmp(argv[i], "tcp=", 4) == 0) {
            dl_log_errorf(log, "userspace: tcp= is no longer supported: dirtylogd serves only "
                               "its unix socket (no unauthenticated network path); use "
                               "socket=<path>");
            free(us);
            return -EINVAL;
        }
        if (strcmp(argv[i], "integrated_flush") == 0 && !us->integrated_flush)
            us->integrated_flush = 1;
        else if (!where && strncmp(argv[i], "socket=", 7) == 0)
            where = argv[i];
        else
            break;
    }
    if (i == argc) {
        dl_log_errorf(log, "userspace: no log type after the options");
        free(us);
        return -EINVAL;
    }
    if (where && strcmp(where, "socket=") == 0) {
        dl_log_errorf(log, "userspace: empty socket path");
        free(us);
        return -EINVAL;
    }
    if (strcmp(argv[i], "userspace") == 0) {
        dl_log_errorf(log, "userspace: the daemon cannot host a userspace log");
        free(us);
        return -EINVAL;
    }
    char prefix[32], head[64];
    snprintf(prefix, sizeof prefix, "%" PRIu64, target);
    snprintf(head, sizeof head, "userspace %u", argc);
    char *ctr = join(prefix, argc - i, argv + i);
    us->table = join(head, argc, argv);
    us->batch = malloc(DLW_REGIONS_PER_MSG * 8);
    dl__u64map_init(&us->queue);
    dl__u64map_init(&us->inflight);
    int r = -ENOMEM;
    if (ctr && us->table && us->batch && pthread_mutex_init(&us->queue_lock, NULL) == 0) {
        if (pthread_mutex_init(&us->flush_lock, NULL) == 0) {
            r = dl__rc_open(&us->conn, log, where, argv[0], ctr);
            if (r == 0) {
                uint8_t rep[8];
                size_t n = 0;
                r = dl__rc_request(&us->conn, DLW_GET_REGION_SIZE, NULL, 0, rep, sizeof rep, &n, NULL);
                if (r == 0 && n == 8 && get_le64(rep) > 0 && get_le64(rep) <= UINT32_MAX)
                    us->region_size = (uint32_t)get_le64(rep);
                else if (r == 0)
                    r = -EPROTO;
                if (r < 0)
                    dl__rc_close(&us->conn);
            }
            if (r < 0)
                pthread_mutex_destroy(&us->flush_lock);
        }
        if (r < 0)
            pthread_mutex_destroy(&us->queue_lock);
    }
    free(ctr);
    if (r < 0) {
        dl__u64map_free(&us->queue);
        dl__u64map_free(&us->inflight);
        free(us->batch);
        free(us->table);
        free(us);
        return r;
    }
    dl_log_set_context(log, us);
    return 0;
}

static void us_dtr(dl_log *log)
{
    struct us_log *us = ctx(log);
    dl__rc_close(&us->conn);
    us_free(us);
}

/* A request without payload whose reply is ignored. */
static int simple(dl_log *log, uint32_t type)
{
    char rep[256];
    size_t n;
    return dl__rc_request(&ctx(log)->conn, type, NULL, 0, rep, sizeof rep, &n, NULL);
}

static int us_presuspend(dl_log *log) { return simple(log, DLW_PRESUSPEND); }
static int us_postsuspend(dl_log *log) { return simple(log, DLW_POSTSUSPEND); }

static int us_resume(dl_log *log)
{
    int r = simple(log, DLW_RESUME);
    if (r == 0) {
        pthread_mutex_lock(&ctx(log)->conn.lock);
        ctx(log)->conn.resumed = 1;
        pthread_mutex_unlock(&ctx(log)->conn.lock);
    }
    return r;
}

static uint32_t us_get_region_size(dl_log *log) { return ctx(log)->region_size; }

/* A request carrying one region; the first u64 of the reply. */
static int region_query(dl_log *log, uint32_t type, uint64_t region, uint64_t *answer)
{
    uint8_t req[8], rep[16];
    size_t n = 0;
    put_le64(req, region);
    int r = dl__rc_request(&ctx(log)->conn, type, req, sizeof req, rep, sizeof rep, &n, NULL);
    if (r == 0 && n < 8)
        r = -EPROTO;
    if (r == 0)
        *answer = get_le64(rep);
    return r;
}

/* Our own queued op on a region, if any (0 if none). */
static int queued_op(struct us_log *us, uint64_t region)
{
    pthread_mutex_lock(&us->queue_lock);
    uint64_t *v = dl__u64map_get(&us->queue, region);
    if (!v)
        v = dl__u64map_get(&us->inflight, region);
    int op = v ? (int)*v : 0;
    pthread_mutex_unlock(&us->queue_lock);
    return op;
}

static int us_is_clean(dl_log *log, uint64_t region)
{
    struct us_log *us = ctx(log);
    if (__atomic_load_n(&us->failed, __ATOMIC_RELAXED) || dl__rc_forked(&us->conn))
        return 0; /* after a failed data flush (or in a forked child) every region is dirty */
    int op = queued_op(us, region);
    if (op)
        return op == OP_CLEAR;
    uint64_t v;
    return region_query(log, DLW_IS_CLEAN, region, &v) == 0 && (int64_t)v == 1;
}

static int us_in_sync(dl_log *log, uint64_t region, int can_block)
{
    /* Another client may have found the region out of sync: only the
     * daemon knows, and asking it blocks. */
    if (!can_block)
        return -EWOULDBLOCK;
    uint64_t v;
    return region_query(log, DLW_IN_SYNC, region, &v) == 0 && (int64_t)v == 1;
}

static int us_is_remote_recovering(dl_log *log, uint64_t region)
{
    uint64_t v;
    /* On error, say "recovering": the engine then waits instead of writing. */
    return region_query(log, DLW_IS_REMOTE_RECOVERING, region, &v) != 0 || v != 0;
}

static int queue_op(dl_log *log, uint64_t region, int op)
{
    struct us_log *us = ctx(log);
    if (dl__rc_forked(&us->conn))
        return -EBADF;
    int added;
    pthread_mutex_lock(&us->queue_lock);
    uint64_t *v = dl__u64map_put(&us->queue, region, &added);
    if (v)
        *v = (uint64_t)op;
    pthread_mutex_unlock(&us->queue_lock);
    return v ? 0 : -ENOMEM;
}

static int us_mark_region(dl_log *log, uint64_t region) { return queue_op(log, region, OP_MARK); }

static int us_clear_region(dl_log *log, uint64_t region)
{
    if (__atomic_load_n(&ctx(log)->failed, __ATOMIC_RELAXED))
        return 0; /* sticky failure: clears are dropped */
    return queue_op(log, region, OP_CLEAR);
}

/* Send every region of the in-flight batch with op `op` in messages of type
 * `type`. With left != NULL the final partial (possibly empty) batch is not
 * sent but left in us->batch, *left regions, for the FLUSH to carry
 * (integrated flush). Returns 0 or -errno; a change of connection
 * generation from *gen is reported as -EAGAIN. */
static int send_ops(struct us_log *us, int op, uint32_t type, size_t *left, uint64_t *gen)
{
    size_t n = 0;
    char rep[256];
    size_t rn;
    for (size_t i = 0;; i++) {
        int end = i == us->inflight.cap;
        if (!end && us->inflight.used[i] && us->inflight.vals[i] == (uint64_t)op)
            put_le64(us->batch + 8 * n++, us->inflight.keys[i]);
        if (n == DLW_REGIONS_PER_MSG || (end && n && !left)) {
            uint64_t g = 0;
            int r = dl__rc_request(&us->conn, type, us->batch, n * 8, rep, sizeof rep, &rn, &g);
            if (r < 0)
                return r;
            if (*gen == 0)
                *gen = g;
            else if (g != *gen)
                return -EAGAIN; /* the daemon restarted: what it had is gone */
            n = 0;
        }
        if (end) {
            if (left)
                *left = n;
            return 0;
        }
    }
}

static int us_flush(dl_log *log)
{
    struct us_log *us = ctx(log);
    if (dl__rc_forked(&us->conn))
        return -EBADF;
    pthread_mutex_lock(&us->flush_lock);
    pthread_mutex_lock(&us->queue_lock);
    struct u64map t = us->inflight; /* empty, with its capacity */
    us->inflight = us->queue;
    us->queue = t;
    pthread_mutex_unlock(&us->queue_lock);

    int cb = 0, have_clears = 0;
    for (size_t i = 0; i < us->inflight.cap && !have_clears; i++)
        have_clears = us->inflight.used[i] && us->inflight.vals[i] == OP_CLEAR;
    if (have_clears) {
        /* Data must be stable on every copy before a clean bit is persisted. */
        cb = dl_log_call_flush_callback(log);
        if (cb < 0) {
            __atomic_store_n(&us->failed, 1, __ATOMIC_RELAXED);
            dl_log_errorf(log, "userspace: data flush failed (%s): clears dropped",
                          dl_strerror(cb));
            pthread_mutex_lock(&us->queue_lock);
            for (size_t i = 0; i < us->inflight.cap; i++)
                if (us->inflight.used[i] && us->inflight.vals[i] == OP_CLEAR)
                    us->inflight.vals[i] = RC_OP_NONE; /* not sent */
            pthread_mutex_unlock(&us->queue_lock);
        }
    }

    int r = -EAGAIN;
    for (int attempt = 0; r == -EAGAIN && attempt < FLUSH_RETRIES; attempt++) {
        uint64_t gen = 0;
        size_t left = 0;
        r = send_ops(us, OP_CLEAR, DLW_CLEAR_REGION, NULL, &gen);
        if (r == 0)
            r = send_ops(us, OP_MARK, DLW_MARK_REGION, us->integrated_flush ? &left : NULL, &gen);
        if (r == 0)
            r = dl__rc_flush(&us->conn, us->batch, left * 8, &gen, &us->inflight);
    }
    if (r == -EAGAIN)
        r = -ENOTCONN;

    pthread_mutex_lock(&us->queue_lock);
    if (r < 0) {
        /* Not durable: put the batch back unless newer ops replaced it. */
        for (size_t i = 0; i < us->inflight.cap; i++) {
            if (!us->inflight.used[i] || us->inflight.vals[i] == RC_OP_NONE)
                continue;
            int added;
            uint64_t *v = dl__u64map_put(&us->queue, us->inflight.keys[i], &added);
            if (v && added)
                *v = us->inflight.vals[i];
        }
    }
    dl__u64map_clear(&us->inflight);
    pthread_mutex_unlock(&us->queue_lock);
    pthread_mutex_unlock(&us->flush_lock);
    return r < 0 ? r : cb;
}

static int us_get_resync_work(dl_log *log, uint64_t *region)
{
    uint8_t rep[16];
    size_t n = 0;
    int r = dl__rc_request(&ctx(log)->conn, DLW_GET_RESYNC_WORK, NULL, 0, rep, sizeof rep, &n, NULL);
    if (r < 0)
        return r;
    if (n < 16)
        return -EPROTO;
    int64_t found = (int64_t)get_le64(rep);
    if (found < 0)
        return (int)found;
    if (found == 0)
        return 0;
    *region = get_le64(rep + 8);
    return 1;
}

static int us_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    uint8_t req[16];
    char rep[256];
    size_t n;
    put_le64(req, region);
    put_le64(req + 8, (uint64_t)(int64_t)(in_sync != 0));
    return dl__rc_request(&ctx(log)->conn, DLW_SET_REGION_SYNC, req, sizeof req, rep, sizeof rep, &n,
                      NULL);
}

static int us_get_sync_count(dl_log *log, uint64_t *count)
{
    uint8_t rep[8];
    size_t n = 0;
    int r = dl__rc_request(&ctx(log)->conn, DLW_GET_SYNC_COUNT, NULL, 0, rep, sizeof rep, &n, NULL);
    if (r == 0 && n != 8)
        r = -EPROTO;
    if (r == 0)
        *count = get_le64(rep);
    return r;
}

static int us_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct us_log *us = ctx(log);
    if (type == DL_STATUS_TABLE) {
        size_t n = strlen(us->table);
        if (n >= len)
            return -ENOSPC;
        memcpy(buf, us->table, n + 1);
        return (int)n;
    }
    char rep[4096];
    size_t n = 0;
    int r = dl__rc_request(&us->conn, DLW_STATUS_INFO, NULL, 0, rep, sizeof rep - 1, &n, NULL);
    if (r < 0)
        return r;
    rep[n] = '\0'; /* the daemon sends a NUL; do not rely on it */
    size_t sl = strlen(rep);
    if (sl >= len)
        return -ENOSPC;
    memcpy(buf, rep, sl + 1);
    return (int)sl;
}

const struct dl_log_type dl__userspace_type = {
    DL_LOG_TYPE_INIT("userspace"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = us_ctr,
    .dtr = us_dtr,
    .presuspend = us_presuspend,
    .postsuspend = us_postsuspend,
    .resume = us_resume,
    .get_region_size = us_get_region_size,
    .is_clean = us_is_clean,
    .in_sync = us_in_sync,
    .flush = us_flush,
    .mark_region = us_mark_region,
    .clear_region = us_clear_region,
    .get_resync_work = us_get_resync_work,
    .set_region_sync = us_set_region_sync,
    .get_sync_count = us_get_sync_count,
    .status = us_status,
    .is_remote_recovering = us_is_remote_recovering,
};
