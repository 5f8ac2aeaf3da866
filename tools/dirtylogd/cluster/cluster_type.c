/* clustered_core and clustered_disk (cluster_type.h): the dl_log_type glue
 * between the daemon's request layer, the replica (cluster_state.h) and
 * the group (cluster_group.h). Marks and clears wait locally until FLUSH,
 * which multicasts them in one message (several only past the group's
 * message size) and returns once they came back in agreed order and, for
 * clustered_disk, the writer reported them durable. Reads answer from the
 * local replica. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cluster_group.h"
#include "cluster_state.h"
#include "cluster_type.h"
#include "confine.h"
#include "remote/u64map.h"
#include "server.h"

#define CL_WAIT_S 30 /* the longest a CTR, FLUSH or resync request waits for the group */

struct cl_log {
    dl_log *log;
    const struct dld_server *srv;
    char uuid[DLW_UUID_SIZE];
    int disk;
    uint32_t region_size;
    enum dl_sync_mode sync_mode;
    char dev[256];
    dl_log *inner;             /* clustered_disk: the shared device, as a disk log,
                                  open while this member is the writer */
    uint64_t target;
    unsigned argc;             /* the constructor's arguments (to open the device) */
    char **argv;
    struct clg_group *grp;
    pthread_mutex_t lock;      /* everything below */
    pthread_cond_t changed;    /* a message or a membership change was applied */
    pthread_mutex_t work_lock; /* one resync request at a time */
    struct cls_state st;
    struct u64map pend_mark, pend_clear;
    struct u64map outstanding; /* own messages sent, not yet applied: seq -> 0 */
    uint64_t last_index;       /* index of the latest own message applied */
    uint64_t work_seq;         /* the REQUEST_WORK awaited, and its answer */
    int work_found;
    uint64_t work_region;
    int lost;                  /* corosync is gone */
};

static void cl_say(const struct cl_log *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cl_say(const struct cl_log *c, int level, const char *fmt, ...)
{
    if (!c->srv || !c->srv->logf)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->srv->logf(level, "log %s: %s", c->uuid, buf);
}

/* ---- what the state machine tells us (dispatch thread, c->lock held) ---- */

static int st_send(void *arg, const uint8_t *msg, size_t len)
{
    struct cl_log *c = arg;
    return clg_mcast(c->grp, msg, len);
}

static void st_applied(void *arg, uint64_t seq, uint64_t index, int found, uint64_t region)
{
    struct cl_log *c = arg;
    dl__u64map_del(&c->outstanding, seq);
    if (index > c->last_index)
        c->last_index = index;
    if (seq == c->work_seq) {
        c->work_found = found;
        c->work_region = region;
    }
}

static void st_durable(void *arg, uint64_t index)
{
    (void)arg;
    (void)index; /* cls_state keeps st.durable; waiters look there */
}

/* Open the shared device as a disk log under --log-dir's rules. Another
 * member may hold it for a moment (a writer handing over on this machine:
 * a regular file is claimed by an OFD lock); wait for it, bounded. */
static int open_device(struct cl_log *c, int wait_ms, dl_log **out)
{
    char why[512];
    for (int waited = 0;; waited += 50) {
        int r = dld_confine_create_log(c->srv->confine, "disk", c->target, c->argc, c->argv, out,
                                       why, sizeof why);
        if (r == 0 && (r = dl_log_resume(*out)) < 0) { /* the first resume reads the device */
            snprintf(why, sizeof why, "cannot read %s: %s", c->dev, dl_last_error());
            dl_log_destroy(*out);
            *out = NULL;
        }
        if (r != -EBUSY || waited >= wait_ms) {
            if (r < 0)
                cl_say(c, LOG_WARNING, "shared device: %s", why);
            return r;
        }
        struct timespec ts = {0, 50 * 1000000}; /* the holder lets go on its own */
        nanosleep(&ts, NULL);
    }
}

/* The writer mirrors the replica into the shared device's disk log: dirty
 * where any member (or an orphan) has the region marked, its sync bit, then
 * one flush (docs/cluster.md, "The shared device"). */
static int persist_region(struct cl_log *c, struct cls_state *st, uint64_t r)
{
    int dirty = !cls_is_clean(st, r), sync = cls_in_sync(st, r), e = 0;
    int was_clean = dl_log_is_clean(c->inner, r);
    if (dirty && was_clean == 1)
        e = dl_log_mark_region(c->inner, r);
    else if (!dirty && was_clean == 0)
        e = dl_log_clear_region(c->inner, r);
    if (e == 0 && dl_log_in_sync(c->inner, r, 1) != sync)
        e = dl_log_set_region_sync(c->inner, r, sync);
    return e;
}

static int st_persist(void *arg, struct cls_state *st, int full)
{
    struct cl_log *c = arg;
    int e = 0;
    if (!c->disk)
        return 0;
    if (!c->inner) { /* just became the writer */
        if ((e = open_device(c, 5000, &c->inner)) < 0)
            return e;
        full = 1;
    }
    if (full) {
        uint64_t n = dl_log_get_region_count(c->inner);
        for (uint64_t r = 0; e == 0 && r < n; r++)
            e = persist_region(c, st, r);
    } else {
        const struct u64map *t = cls_touched(st);
        for (size_t i = 0; e == 0 && i < t->cap; i++)
            if (t->used[i])
                e = persist_region(c, st, t->keys[i]);
    }
    if (e == 0)
        e = dl_log_flush(c->inner);
    if (e < 0)
        cl_say(c, LOG_ERR, "writing the shared device %s failed: %s", c->dev, dl_strerror(e));
    return e;
}

static void st_ready(void *arg)
{
    (void)arg;
}

static void st_say(void *arg, const char *msg)
{
    cl_say(arg, LOG_INFO, "%s", msg);
}

static const struct cls_ops cl_ops = {
    .send = st_send,
    .applied = st_applied,
    .durable = st_durable,
    .persist = st_persist,
    .ready = st_ready,
    .say = st_say,
};

/* ---- what the group tells us (dispatch thread) --------------------------- */

static void g_deliver(void *arg, uint32_t nodeid, const uint8_t *msg, size_t len)
{
    struct cl_log *c = arg;
    pthread_mutex_lock(&c->lock);
    int r = cls_deliver(&c->st, nodeid, msg, len);
    if (r < 0 && r != -EIO)
        cl_say(c, LOG_WARNING, "ignored a malformed message from node %" PRIu32 " (%s)", nodeid,
               strerror(-r));
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void list_ids(char *buf, size_t len, const uint32_t *ids, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu32, i ? "," : "", ids[i]);
    if (n == 0)
        snprintf(buf, len, "-");
}

static void g_confchg(void *arg, const uint32_t *members, size_t n, const uint32_t *left,
                      size_t nleft, const uint32_t *joined, size_t njoined)
{
    struct cl_log *c = arg;
    pthread_mutex_lock(&c->lock);
    cls_confchg(&c->st, members, n, left, nleft, joined, njoined);
    if (c->inner && cls_writer(&c->st) != c->st.me) { /* another member writes now */
        dl_log_destroy(c->inner);
        c->inner = NULL;
    }
    char m[256], l[128], j[128];
    list_ids(m, sizeof m, members, n);
    list_ids(l, sizeof l, left, nleft);
    list_ids(j, sizeof j, joined, njoined);
    cl_say(c, LOG_INFO, "members %s (left %s, joined %s), writer %" PRIu32, m, l, j,
           cls_writer(&c->st));
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void g_lost(void *arg)
{
    struct cl_log *c = arg;
    pthread_mutex_lock(&c->lock);
    c->lost = 1;
    cl_say(c, LOG_ERR, "lost corosync: every request of this log fails from now on");
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static const struct clg_callbacks cl_group_cb = {
    .deliver = g_deliver, .confchg = g_confchg, .lost = g_lost};

/* ---- waiting ---------------------------------------------------------------- */

static struct timespec deadline(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += CL_WAIT_S;
    return t;
}

/* Under c->lock: -EIO with a message if this member cannot serve now. */
static int unusable(struct cl_log *c)
{
    if (c->lost) {
        dl_log_errorf(c->log, "lost the connection to corosync");
        return -EIO;
    }
    if (c->st.failed || !c->st.have_state) {
        dl_log_errorf(c->log, "this node's replica of the log is not usable (see the daemon's log)");
        return -EIO;
    }
    return 0;
}

static int no_quorum(struct cl_log *c)
{
    if (clg_quorate(c->grp))
        return 0;
    dl_log_errorf(c->log, "no quorum");
    return -EIO;
}

/* Under c->lock: no own message with seq <= upto outstanding. */
static int all_applied(const struct cl_log *c, uint64_t upto)
{
    for (size_t i = 0; i < c->outstanding.cap; i++)
        if (c->outstanding.used[i] && c->outstanding.keys[i] <= upto)
            return 0;
    return 1;
}

/* Under c->lock: wait until every own message up to seq upto was applied
 * (and, durable: persisted by the writer). */
static int wait_applied(struct cl_log *c, uint64_t upto, int durable)
{
    struct timespec until = deadline();
    int r = 0;
    while (r == 0 && !c->lost && !c->st.failed) {
        if (all_applied(c, upto) && (!durable || c->st.durable >= c->last_index))
            return 0;
        if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
            r = -ETIMEDOUT;
    }
    cl_say(c, LOG_ERR, "waited %d s for own message %" PRIu64 " (%zu outstanding, durable %" PRIu64
           " of %" PRIu64 ", %s, %s)", CL_WAIT_S, upto, c->outstanding.len, c->st.durable,
           c->last_index, c->st.in_round ? "in a round" : "no round",
           c->st.failed ? "failed" : "replica ok");
    dl_log_errorf(c->log, "%s", c->lost ? "lost the connection to corosync"
                               : c->st.failed ? "this node's replica failed"
                               : durable ? "the writer did not report the flush durable in time"
                                         : "the group did not deliver in time");
    return -EIO;
}

/* ---- the ops --------------------------------------------------------------- */

enum small { SMALL_WORK, SMALL_SET_SYNC, SMALL_BARRIER };
static int send_and_wait(struct cl_log *c, enum small type, uint64_t region, int in_sync);

static struct cl_log *ctx(dl_log *log)
{
    return dl_log_get_context(log);
}

static uint32_t cl_get_region_size(dl_log *log)
{
    return ctx(log)->region_size;
}

/* A read sees every change the cluster delivered before it began: a flush
 * another node acknowledged was delivered there, so it comes before this
 * member's barrier in the agreed order. Without the group (lost, no state)
 * the local replica answers. */
static void read_barrier(struct cl_log *c)
{
    (void)send_and_wait(c, SMALL_BARRIER, 0, 0);
}

static int cl_is_clean(dl_log *log, uint64_t region)
{
    struct cl_log *c = ctx(log);
    read_barrier(c);
    pthread_mutex_lock(&c->lock);
    /* The cluster's answer: a mark still pending here (its flush not yet
     * sent, or failed) is not in the log yet, as through `userspace`. */
    int r = cls_is_clean(&c->st, region);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int cl_in_sync(dl_log *log, uint64_t region, int can_block)
{
    struct cl_log *c = ctx(log);
    if (can_block)
        read_barrier(c);
    pthread_mutex_lock(&c->lock);
    int r = cls_in_sync(&c->st, region);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int cl_mark_region(dl_log *log, uint64_t region)
{
    struct cl_log *c = ctx(log);
    int added, r = 0;
    pthread_mutex_lock(&c->lock);
    if (!dl__u64map_put(&c->pend_mark, region, &added))
        r = -ENOMEM;
    else
        dl__u64map_del(&c->pend_clear, region);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int cl_clear_region(dl_log *log, uint64_t region)
{
    struct cl_log *c = ctx(log);
    int added, r = 0;
    pthread_mutex_lock(&c->lock);
    if (!dl__u64map_put(&c->pend_clear, region, &added))
        r = -ENOMEM;
    else
        dl__u64map_del(&c->pend_mark, region);
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Take the pending marks and clears into FLUSH messages (c->lock held):
 * *msgs, *lens, *n; their seqs are outstanding. */
static int build_flush(struct cl_log *c, uint8_t ***msgs, size_t **lens, size_t *n)
{
    size_t per = (clg_max_msg(c->grp) - clm_flush_size(0, 0)) / 8;
    size_t total = c->pend_mark.len + c->pend_clear.len;
    size_t count = total / per + (total % per != 0);
    *n = 0;
    *msgs = calloc(count ? count : 1, sizeof **msgs);
    *lens = calloc(count ? count : 1, sizeof **lens);
    uint64_t *regions = malloc((total ? total : 1) * sizeof *regions);
    if (!*msgs || !*lens || !regions || dl__u64map_reserve(&c->outstanding, count) < 0) {
        free(regions);
        return -ENOMEM;
    }
    size_t nm = 0;
    for (size_t i = 0; i < c->pend_mark.cap; i++)
        if (c->pend_mark.used[i])
            regions[nm++] = c->pend_mark.keys[i];
    size_t k = nm;
    for (size_t i = 0; i < c->pend_clear.cap; i++)
        if (c->pend_clear.used[i])
            regions[k++] = c->pend_clear.keys[i];
    for (size_t at = 0; at < total; at += per) {
        size_t end = at + per < total ? at + per : total;
        uint32_t m = (uint32_t)(at < nm ? (end < nm ? end : nm) - at : 0);
        uint32_t cl = (uint32_t)(end - at - m);
        uint8_t *buf = malloc(clm_flush_size(m, cl));
        if (!buf) {
            free(regions);
            return -ENOMEM;
        }
        uint64_t seq = cls_next_seq(&c->st);
        int added;
        dl__u64map_put(&c->outstanding, seq, &added);
        (*lens)[*n] = clm_encode_flush(buf, seq, regions + at, m, regions + at + m, cl);
        (*msgs)[(*n)++] = buf;
    }
    free(regions);
    dl__u64map_clear(&c->pend_mark);
    dl__u64map_clear(&c->pend_clear);
    return 0;
}

static int cl_flush(dl_log *log)
{
    struct cl_log *c = ctx(log);
    if (no_quorum(c) < 0)
        return -EIO;
    pthread_mutex_lock(&c->lock);
    int r = unusable(c);
    uint8_t **msgs = NULL;
    size_t *lens = NULL, n = 0;
    if (r == 0)
        r = build_flush(c, &msgs, &lens, &n);
    uint64_t upto = c->st.seq;
    pthread_mutex_unlock(&c->lock);
    /* One message per flush (more only past the group's message size). */
    for (size_t i = 0; r == 0 && i < n; i++)
        if ((r = clg_mcast(c->grp, msgs[i], lens[i])) < 0)
            dl_log_errorf(log, "multicast failed: %s", strerror(-r));
    for (size_t i = 0; i < n; i++)
        free(msgs[i]);
    free(msgs);
    free(lens);
    pthread_mutex_lock(&c->lock);
    if (r < 0) {
        c->st.failed = 1; /* marks may be half sent: serve nothing more */
        r = -EIO;
    } else {
        r = wait_applied(c, upto, c->disk);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Send one small own message and wait until it was applied here. */
static int send_and_wait(struct cl_log *c, enum small type, uint64_t region, int in_sync)
{
    uint8_t buf[CLM_SET_SYNC_SIZE];
    int added;
    pthread_mutex_lock(&c->lock);
    int r = unusable(c);
    uint64_t seq = 0;
    size_t len = 0;
    if (r == 0 && !dl__u64map_put(&c->outstanding, (seq = cls_next_seq(&c->st)), &added))
        r = -ENOMEM;
    if (r == 0) {
        len = type == SMALL_SET_SYNC ? clm_encode_set_sync(buf, seq, region, in_sync)
              : type == SMALL_WORK   ? clm_encode_request_work(buf, seq)
                                     : clm_encode_barrier(buf, seq);
        if (type == SMALL_WORK)
            c->work_seq = seq;
    }
    pthread_mutex_unlock(&c->lock);
    if (r == 0 && (r = clg_mcast(c->grp, buf, len)) < 0) {
        dl_log_errorf(c->log, "multicast failed: %s", strerror(-r));
        r = -EIO;
    }
    pthread_mutex_lock(&c->lock);
    if (r == 0)
        r = wait_applied(c, seq, 0);
    else if (seq)
        dl__u64map_del(&c->outstanding, seq);
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int cl_get_resync_work(dl_log *log, uint64_t *region)
{
    struct cl_log *c = ctx(log);
    if (no_quorum(c) < 0)
        return -EIO;
    pthread_mutex_lock(&c->work_lock);
    int r = send_and_wait(c, SMALL_WORK, 0, 0);
    if (r == 0) {
        pthread_mutex_lock(&c->lock);
        r = c->work_found;
        *region = c->work_region;
        c->work_seq = 0;
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&c->work_lock);
    return r;
}

static int cl_set_region_sync(dl_log *log, uint64_t region, int in_sync)
{
    struct cl_log *c = ctx(log);
    if (no_quorum(c) < 0)
        return -EIO;
    return send_and_wait(c, SMALL_SET_SYNC, region, in_sync);
}

static int cl_get_sync_count(dl_log *log, uint64_t *count)
{
    struct cl_log *c = ctx(log);
    read_barrier(c);
    pthread_mutex_lock(&c->lock);
    *count = cls_sync_count(&c->st);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static int cl_is_remote_recovering(dl_log *log, uint64_t region)
{
    struct cl_log *c = ctx(log);
    read_barrier(c);
    pthread_mutex_lock(&c->lock);
    uint32_t who = cls_recovering(&c->st, region);
    pthread_mutex_unlock(&c->lock);
    return who != 0 && who != c->st.me;
}

static const char *mode_word(enum dl_sync_mode m)
{
    return m == DL_SYNC_FORCE ? " sync" : m == DL_SYNC_NONE ? " nosync" : "";
}

/* INFO: "<words> clustered-core <node> members=<ids> writer=<id>
 * dirty=<id>:<n>,...,orphan:<n> quorate|no-quorum [failed]" (the kernel's
 * INFO strings start with the number of words after it); TABLE: the
 * constructor line in cmirrord's spelling. */
static int cl_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct cl_log *c = ctx(log);
    const char *name = c->disk ? "clustered-disk" : "clustered-core";
    int n;
    if (type == DL_STATUS_TABLE) {
        int extra = c->sync_mode != DL_SYNC_DEFAULT;
        n = c->disk ? snprintf(buf, len, "%s %d %s %" PRIu32 "%s", name, 2 + extra, c->dev,
                               c->region_size, mode_word(c->sync_mode))
                    : snprintf(buf, len, "%s %d %" PRIu32 "%s", name, 1 + extra, c->region_size,
                               mode_word(c->sync_mode));
    } else {
        char members[512], dirty[1024];
        size_t at = 0;
        pthread_mutex_lock(&c->lock);
        list_ids(members, sizeof members, c->st.view, c->st.nview);
        dirty[0] = 0;
        for (unsigned i = 0; i < c->st.nview && at < sizeof dirty; i++)
            at += (size_t)snprintf(dirty + at, sizeof dirty - at, "%" PRIu32 ":%" PRIu64 ",",
                                   c->st.view[i], cls_dirty_count(&c->st, c->st.view[i]));
        if (at < sizeof dirty)
            snprintf(dirty + at, sizeof dirty - at, "orphan:%" PRIu64, cls_dirty_count(&c->st, 0));
        int failed = c->lost || c->st.failed;
        n = snprintf(buf, len, "%d %s %" PRIu32 " members=%s writer=%" PRIu32 " dirty=%s %s%s",
                     6 + failed, name, c->st.me, members, cls_writer(&c->st), dirty,
                     clg_quorate(c->grp) ? "quorate" : "no-quorum",
                     failed ? " failed" : "");
        pthread_mutex_unlock(&c->lock);
    }
    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* ---- life ------------------------------------------------------------------ */

static void cl_free(struct cl_log *c)
{
    if (c->grp)
        clg_leave(c->grp); /* stops the dispatch thread first */
    if (c->st.blobs)
        cls_fini(&c->st);
    if (c->inner)
        dl_log_destroy(c->inner);
    dl__u64map_free(&c->pend_mark);
    dl__u64map_free(&c->pend_clear);
    dl__u64map_free(&c->outstanding);
    for (unsigned i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    pthread_mutex_destroy(&c->work_lock);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void cl_dtr(dl_log *log)
{
    cl_free(ctx(log));
}

/* What the creating thread hands the ctr (types are created only by
 * dld_cluster_create_log). */
struct cl_create {
    const struct dld_server *srv;
    const char *uuid;
    char *err;
    size_t errlen;
};
static _Thread_local struct cl_create *creating;

/* clustered_disk: read the device and take what it says as this node's
 * initial replica (a region dirty there stays dirty, and out of sync, until
 * resynced), then let it go: only the writer keeps it open. A device
 * another member holds (the writer: this node then joins a live cluster,
 * whose state wins anyway) makes the initial replica unknown. */
static int load_device(struct cl_log *c)
{
    dl_log *dev = NULL;
    int r = open_device(c, 2000, &dev);
    if (r == -EBUSY) {
        cls_initial_unknown(&c->st);
        return 0;
    }
    if (r < 0) {
        dl_log_errorf(c->log, "%s", dl_last_error());
        return r;
    }
    uint64_t n = dl_log_get_region_count(dev);
    for (uint64_t i = 0; r == 0 && i < n; i++) {
        if (dl_log_is_clean(dev, i) != 1)
            r = cls_initial_dirty(&c->st, i);
        if (r == 0)
            r = cls_initial_sync(&c->st, i, dl_log_in_sync(dev, i, 1) == 1);
    }
    dl_log_destroy(dev);
    return r;
}

static int cl_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    struct cl_create *cr = creating;
    if (!cr) {
        dl_log_errorf(log, "clustered logs are hosted by dirtylogd --cluster only");
        return -EACCES;
    }
    const char *name = dl_log_get_type(log)->name;
    int disk = strstr(name, "disk") != NULL;
    unsigned at = disk ? 1 : 0;
    if (argc < at + 1) {
        dl_log_errorf(log, disk ? "clustered_disk takes <device> <region_size> [sync|nosync]"
                                : "clustered_core takes <region_size> [sync|nosync]");
        return -EINVAL;
    }
    struct cl_log *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->log = log;
    c->srv = cr->srv;
    c->disk = disk;
    snprintf(c->uuid, sizeof c->uuid, "%s", cr->uuid);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    pthread_mutex_init(&c->work_lock, NULL);
    dl__u64map_init(&c->pend_mark);
    dl__u64map_init(&c->pend_clear);
    dl__u64map_init(&c->outstanding);
    int boe;
    int r = dl_parse_region_size(log, argv[at], target, &c->region_size);
    if (r == 0)
        r = dl_parse_flags(log, argc - at - 1, argv + at + 1, &c->sync_mode, &boe, NULL, NULL);
    if (r == 0 && disk && strlen(argv[0]) >= sizeof c->dev) {
        dl_log_errorf(log, "device path too long");
        r = -ENAMETOOLONG;
    }
    if (r < 0) {
        cl_free(c);
        return r;
    }
    if (disk) {
        snprintf(c->dev, sizeof c->dev, "%s", argv[0]);
        c->target = target;
        c->argv = calloc(argc + 1, sizeof *c->argv);
        for (unsigned i = 0; c->argv && i < argc; i++)
            if ((c->argv[c->argc] = strdup(argv[i])) != NULL)
                c->argc++;
        if (!c->argv || c->argc != argc) {
            cl_free(c);
            return -ENOMEM;
        }
    }
    uint64_t regions = dl_region_count(target, c->region_size);
    /* Who we are comes from corosync, so join before the state exists: the
     * callbacks wait on c->lock until it does. */
    char why[512] = "";
    char gname[128];
    clg_group_name(c->uuid, gname, sizeof gname);
    pthread_mutex_lock(&c->lock);
    r = clg_join(gname, &cl_group_cb, c, &c->grp, why, sizeof why);
    if (r < 0) {
        pthread_mutex_unlock(&c->lock);
        dl_log_errorf(log, "%s", why);
        cl_free(c);
        return r;
    }
    r = cls_init(&c->st, clg_local_id(c->grp), regions, c->sync_mode != DL_SYNC_NONE, disk,
                 clg_max_msg(c->grp), &cl_ops, c);
    if (r == 0 && disk)
        r = load_device(c);
    /* The joiner serves no client until the cluster's state came. */
    struct timespec until = deadline();
    while (r == 0 && !cls_ready(&c->st) && !c->lost)
        if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
            break;
    if (r == 0 && !cls_ready(&c->st)) {
        dl_log_errorf(log, "no checkpoint from the cluster within %d s%s", CL_WAIT_S,
                      c->lost ? " (lost corosync)" : "");
        r = -EIO;
    }
    pthread_mutex_unlock(&c->lock);
    if (r < 0) {
        cl_free(c);
        return r;
    }
    dl_log_set_context(log, c);
    return 0;
}

/* ---- the types ------------------------------------------------------------- */

#define CL_TYPE(type_name)                                                                   \
    {                                                                                        \
        DL_LOG_TYPE_INIT(type_name), .thread_model = DL_THREAD_MODEL_PARALLEL, .ctr = cl_ctr, \
        .dtr = cl_dtr, .get_region_size = cl_get_region_size, .is_clean = cl_is_clean,       \
        .in_sync = cl_in_sync, .flush = cl_flush, .mark_region = cl_mark_region,             \
        .clear_region = cl_clear_region, .get_resync_work = cl_get_resync_work,              \
        .set_region_sync = cl_set_region_sync, .get_sync_count = cl_get_sync_count,          \
        .status = cl_status, .is_remote_recovering = cl_is_remote_recovering,                \
    }

static const struct dl_log_type cl_types[] = {
    CL_TYPE("clustered_core"),
    CL_TYPE("clustered-core"),
    CL_TYPE("clustered_disk"),
    CL_TYPE("clustered-disk"),
};

int dld_cluster_register(void)
{
    for (size_t i = 0; i < sizeof cl_types / sizeof cl_types[0]; i++) {
        int r = dl_register_type(&cl_types[i]);
        if (r < 0 && r != -EEXIST)
            return r;
    }
    return 0;
}

int dld_cluster_create_log(const struct dld_server *srv, const char *uuid, const char *type,
                           uint64_t target, unsigned argc, char **argv, dl_log **log, char *err,
                           size_t errlen)
{
    struct cl_create cr = {srv, uuid, err, errlen};
    creating = &cr;
    int r = dl_log_create(type, target, argc, (const char *const *)argv, log);
    creating = NULL;
    if (r < 0)
        snprintf(err, errlen, "%s", dl_last_error());
    return r;
}
