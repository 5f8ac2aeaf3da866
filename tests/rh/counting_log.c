/* The test log types described in counting_log.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "counting_log.h"

struct counting_log *counting_log_of(dl_log *log) { return dl_log_get_context(log); }

uint64_t counting_log_ops(struct counting_log *cl)
{
    return atomic_load(&cl->marks) + atomic_load(&cl->clears) + atomic_load(&cl->in_syncs) +
           atomic_load(&cl->is_cleans) + atomic_load(&cl->resync_works) +
           atomic_load(&cl->set_syncs) + atomic_load(&cl->flushes);
}

static int cnt_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    struct counting_log *cl = calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    int r = dl_log_create("core", target, argc, (const char *const *)argv, &cl->inner);
    if (r < 0) {
        free(cl);
        return r;
    }
    cl->region_count = dl_log_get_region_count(cl->inner);
    cl->mem = calloc(cl->region_count, 1);
    cl->durable = calloc(cl->region_count, 1);
    cl->snap = calloc(cl->region_count, 1);
    if (!cl->mem || !cl->durable || !cl->snap) {
        dl_log_destroy(cl->inner);
        free(cl->mem), free(cl->durable), free(cl->snap), free(cl);
        return -ENOMEM;
    }
    pthread_mutex_init(&cl->flush_lock, NULL);
    dl_log_set_context(log, cl);
    return 0;
}

static void cnt_dtr(dl_log *log)
{
    struct counting_log *cl = counting_log_of(log);
    dl_log_destroy(cl->inner);
    pthread_mutex_destroy(&cl->flush_lock);
    free(cl->mem), free(cl->durable), free(cl->snap), free(cl);
}

static uint32_t cnt_region_size(dl_log *log)
{
    return dl_log_get_region_size(counting_log_of(log)->inner);
}

static int cnt_is_clean(dl_log *log, uint64_t r)
{
    struct counting_log *cl = counting_log_of(log);
    atomic_fetch_add(&cl->is_cleans, 1);
    return dl_log_is_clean(cl->inner, r);
}

static int cnt_in_sync(dl_log *log, uint64_t r, int can_block)
{
    struct counting_log *cl = counting_log_of(log);
    atomic_fetch_add(&cl->in_syncs, 1);
    return dl_log_in_sync(cl->inner, r, can_block);
}

static int cnt_mark(dl_log *log, uint64_t r)
{
    struct counting_log *cl = counting_log_of(log);
    int e = dl_log_mark_region(cl->inner, r);
    if (e == 0) {
        atomic_store(&cl->mem[r], 1);
        atomic_fetch_add(&cl->marks, 1); /* after mem: a count seen implies the bit */
        if (cl->on_mark)
            cl->on_mark(cl->hook_arg, r);
    }
    return e;
}

static int cnt_clear(dl_log *log, uint64_t r)
{
    struct counting_log *cl = counting_log_of(log);
    int e = dl_log_clear_region(cl->inner, r);
    if (e == 0) {
        atomic_store(&cl->mem[r], 0);
        atomic_fetch_add(&cl->clears, 1);
    }
    return e;
}

static int cnt_flush(dl_log *log)
{
    struct counting_log *cl = counting_log_of(log);
    pthread_mutex_lock(&cl->flush_lock);
    uint64_t n = atomic_fetch_add(&cl->flushes, 1) + 1;
    /* The snapshot is what this flush persists: marks made after it are
     * NOT covered (a real log may snapshot this early). */
    int clearing = 0;
    for (uint64_t r = 0; r < cl->region_count; r++) {
        cl->snap[r] = atomic_load(&cl->mem[r]);
        if (atomic_load(&cl->durable[r]) && !cl->snap[r])
            clearing = 1;
    }
    if (cl->before_flush)
        cl->before_flush(cl->hook_arg, n);
    int err = 0;
    if (atomic_load(&cl->fail_flushes) > 0) {
        atomic_fetch_sub(&cl->fail_flushes, 1);
        err = -EIO;
    }
    cl->callback_ran_this_flush = 0;
    if (!err && clearing) {
        err = dl_log_call_flush_callback(log);
        cl->callback_ran_this_flush = 1;
        atomic_fetch_add(&cl->callbacks_run, 1);
    }
    if (!err)
        err = dl_log_flush(cl->inner);
    if (!err) {
        for (uint64_t r = 0; r < cl->region_count; r++) {
            if (atomic_load(&cl->durable[r]) && !cl->snap[r] && cl->on_clear_persist)
                cl->on_clear_persist(cl->hook_arg, r, cl->callback_ran_this_flush);
            atomic_store(&cl->durable[r], cl->snap[r]);
        }
    }
    pthread_mutex_unlock(&cl->flush_lock);
    return err;
}

static int cnt_resync_work(dl_log *log, uint64_t *r)
{
    struct counting_log *cl = counting_log_of(log);
    atomic_fetch_add(&cl->resync_works, 1);
    return dl_log_get_resync_work(cl->inner, r);
}

static int cnt_set_sync(dl_log *log, uint64_t r, int in_sync)
{
    struct counting_log *cl = counting_log_of(log);
    atomic_fetch_add(&cl->set_syncs, 1);
    return dl_log_set_region_sync(cl->inner, r, in_sync);
}

static int cnt_sync_count(dl_log *log, uint64_t *c)
{
    return dl_log_get_sync_count(counting_log_of(log)->inner, c);
}

static int cnt_status(dl_log *log, enum dl_status_type t, char *buf, size_t len)
{
    (void)t;
    (void)log;
    int n = snprintf(buf, len, "rh_count");
    return (size_t)n < len ? n : -ENOSPC;
}

static const struct dl_log_type counting_type = {
    DL_LOG_TYPE_INIT("rh_count"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = cnt_ctr,
    .dtr = cnt_dtr,
    .get_region_size = cnt_region_size,
    .is_clean = cnt_is_clean,
    .in_sync = cnt_in_sync,
    .flush = cnt_flush,
    .mark_region = cnt_mark,
    .clear_region = cnt_clear,
    .get_resync_work = cnt_resync_work,
    .set_region_sync = cnt_set_sync,
    .get_sync_count = cnt_sync_count,
    .status = cnt_status,
};

/* ---- rh_null: "rh_null <region_size>", stateless, always in sync ---- */

static int null_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    uint32_t *rs = malloc(sizeof *rs);
    if (!rs)
        return -ENOMEM;
    int r = argc == 1 ? dl_parse_region_size(log, argv[0], target, rs) : -EINVAL;
    if (r < 0) {
        free(rs);
        return r;
    }
    dl_log_set_context(log, rs);
    return 0;
}
static void null_dtr(dl_log *log) { free(dl_log_get_context(log)); }
static uint32_t null_rs(dl_log *log) { return *(uint32_t *)dl_log_get_context(log); }
static int null_one(dl_log *log, uint64_t r) { (void)log, (void)r; return 1; }
static int null_in_sync(dl_log *log, uint64_t r, int b) { (void)log, (void)r, (void)b; return 1; }
static int null_flush(dl_log *log) { (void)log; return 0; }
static int null_zero(dl_log *log, uint64_t r) { (void)log, (void)r; return 0; }
static int null_work(dl_log *log, uint64_t *r) { (void)log, (void)r; return 0; }
static int null_set(dl_log *log, uint64_t r, int s) { (void)log, (void)r, (void)s; return 0; }
static int null_count(dl_log *log, uint64_t *c) { *c = dl_log_get_region_count(log); return 0; }

static const struct dl_log_type null_type = {
    DL_LOG_TYPE_INIT("rh_null"),
    .thread_model = DL_THREAD_MODEL_PARALLEL,
    .ctr = null_ctr,
    .dtr = null_dtr,
    .get_region_size = null_rs,
    .is_clean = null_one,
    .in_sync = null_in_sync,
    .flush = null_flush,
    .mark_region = null_zero,
    .clear_region = null_zero,
    .get_resync_work = null_work,
    .set_region_sync = null_set,
    .get_sync_count = null_count,
    .status = cnt_status,
};

/* ---- rh_file: "rh_file <path> <region_size>", a minimal persistent log ----
 * One byte per region in a file: 1 = dirty. A flush writes the whole file
 * and fsyncs it, running the flush callback first when it persists a clean
 * byte. Loading: dirty => not in sync. SERIALIZE_ALL: the library locks. */
struct file_log {
    int fd;
    uint32_t region_size;
    uint64_t n;
    uint8_t *dirty, *on_disk, *out_of_sync, *recovering;
};

static void file_free(struct file_log *fl)
{
    if (fl->fd >= 0)
        close(fl->fd);
    free(fl->dirty), free(fl->on_disk), free(fl->out_of_sync), free(fl->recovering), free(fl);
}

static int file_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    if (argc != 2)
        return -EINVAL;
    struct file_log *fl = calloc(1, sizeof *fl);
    if (!fl)
        return -ENOMEM;
    int r = dl_parse_region_size(log, argv[1], target, &fl->region_size);
    if (r < 0) {
        free(fl);
        return r;
    }
    fl->n = dl_region_count(target, fl->region_size);
    fl->fd = open(argv[0], O_RDWR | O_CREAT, 0600);
    fl->dirty = calloc(fl->n, 1), fl->on_disk = calloc(fl->n, 1);
    fl->out_of_sync = calloc(fl->n, 1), fl->recovering = calloc(fl->n, 1);
    if (fl->fd < 0 || !fl->dirty || !fl->on_disk || !fl->out_of_sync || !fl->recovering) {
        file_free(fl);
        return -EIO;
    }
    ssize_t got = pread(fl->fd, fl->on_disk, fl->n, 0); /* short: the rest is clean */
    for (uint64_t i = 0; got > 0 && i < fl->n; i++)
        fl->dirty[i] = fl->out_of_sync[i] = fl->on_disk[i] != 0;
    dl_log_set_context(log, fl);
    return 0;
}

static void file_dtr(dl_log *log) { file_free(dl_log_get_context(log)); }
static uint32_t file_rs(dl_log *log) { return ((struct file_log *)dl_log_get_context(log))->region_size; }
static int file_is_clean(dl_log *log, uint64_t r)
{
    return !((struct file_log *)dl_log_get_context(log))->dirty[r];
}
static int file_in_sync(dl_log *log, uint64_t r, int b)
{
    (void)b;
    return !((struct file_log *)dl_log_get_context(log))->out_of_sync[r];
}
static int file_mark(dl_log *log, uint64_t r)
{
    ((struct file_log *)dl_log_get_context(log))->dirty[r] = 1;
    return 0;
}
static int file_clear(dl_log *log, uint64_t r)
{
    ((struct file_log *)dl_log_get_context(log))->dirty[r] = 0;
    return 0;
}
static int file_flush(dl_log *log)
{
    struct file_log *fl = dl_log_get_context(log);
    int clearing = 0;
    for (uint64_t i = 0; i < fl->n; i++)
        clearing |= fl->on_disk[i] && !fl->dirty[i];
    if (clearing) {
        int e = dl_log_call_flush_callback(log);
        if (e < 0)
            return e;
    }
    if (pwrite(fl->fd, fl->dirty, fl->n, 0) != (ssize_t)fl->n || fsync(fl->fd) != 0)
        return -EIO;
    for (uint64_t i = 0; i < fl->n; i++)
        fl->on_disk[i] = fl->dirty[i];
    return 0;
}
static int file_work(dl_log *log, uint64_t *r)
{
    struct file_log *fl = dl_log_get_context(log);
    for (uint64_t i = 0; i < fl->n; i++)
        if (fl->out_of_sync[i] && !fl->recovering[i]) {
            fl->recovering[i] = 1;
            *r = i;
            return 1;
        }
    return 0;
}
static int file_set_sync(dl_log *log, uint64_t r, int in_sync)
{
    struct file_log *fl = dl_log_get_context(log);
    fl->out_of_sync[r] = !in_sync;
    fl->recovering[r] = 0;
    return 0;
}
static int file_count(dl_log *log, uint64_t *c)
{
    struct file_log *fl = dl_log_get_context(log);
    *c = 0;
    for (uint64_t i = 0; i < fl->n; i++)
        *c += !fl->out_of_sync[i];
    return 0;
}

static const struct dl_log_type file_type = {
    DL_LOG_TYPE_INIT("rh_file"),
    .thread_model = DL_THREAD_MODEL_SERIALIZE_ALL,
    .ctr = file_ctr,
    .dtr = file_dtr,
    .get_region_size = file_rs,
    .is_clean = file_is_clean,
    .in_sync = file_in_sync,
    .flush = file_flush,
    .mark_region = file_mark,
    .clear_region = file_clear,
    .get_resync_work = file_work,
    .set_region_sync = file_set_sync,
    .get_sync_count = file_count,
    .status = cnt_status,
};

void counting_log_register(void)
{
    if (!dl_find_type("rh_count"))
        dl_register_type(&counting_type);
    if (!dl_find_type("rh_null"))
        dl_register_type(&null_type);
    if (!dl_find_type("rh_file"))
        dl_register_type(&file_type);
}
