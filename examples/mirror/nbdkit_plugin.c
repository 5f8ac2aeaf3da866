/* nbdkit-dlmirror-plugin: serve a dlmirror RAID1 over NBD.
 *
 *   nbdkit ./nbdkit-dlmirror-plugin.so log="disk 2 /var/tmp/m.log 128" \
 *          legs=/var/tmp/a.img,/var/tmp/b.img [size=1G create=1] ...
 *
 * Writes go through the write-intent layer (dl_rh) to every leg; FUA writes
 * and flush requests fdatasync the legs (the dirty bits are already durable
 * when a write starts). A housekeeping thread runs dl_rh_flush() every
 * flush_interval_ms, which clears idle regions after the log has flushed the
 * legs. On start a background thread resyncs every out-of-sync region (leg 0
 * to the others) while I/O is served; reads of in-sync ranges rotate over the
 * legs, others come from leg 0. Thread model: parallel. See docs/mirror.md. */
#define _POSIX_C_SOURCE 200809L
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h" /* dl__parse_u64 */
#include "mirror.h"
#include "progress.h"
#include "status.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define MAX_FLUSH_INTERVAL_MS 3600000u /* an hour */
#define MAX_HOT_PERIODS 8388607u       /* what dl_rh_create accepts (docs/rh.md) */

/* Configuration. */
static char *cfg_log;
static char *cfg_legs[MIRROR_MAX_LEGS];
static unsigned cfg_nlegs;
static int64_t cfg_size;
static int cfg_create;
static unsigned cfg_flush_ms = 1000;
static unsigned cfg_hot_periods = 1;
static unsigned cfg_hot_cap;   /* 0: the layer's default (half the regions, adaptive) */
static int cfg_fixed_hot_set; /* hot_set=fixed: DL_RH_FIXED_HOT_SET (A/B runs) */
static int cfg_resync = 1;
static char *cfg_stats;
static char *cfg_status;
static unsigned cfg_status_ms = 1000;
static char *cfg_stall_file;        /* test knob, see config_help */
static char *cfg_resync_pause_file; /* test knob, see config_help */

/* State. */
static struct mirror mir;
static dl_rh *rh;
static pthread_t resync_thread, housekeeping_thread;
static int threads_started;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static int stopping;

static atomic_uint_fast64_t n_writes, n_write_bytes, n_reads, n_flushes, n_fua;
static atomic_uint_fast64_t n_resync_regions, n_resync_bytes, n_stalled, read_rr;
static atomic_int resync_done;
static uint64_t dirty_at_start;
static int stopped; /* cleanup ran: the status says "stopped" */

static void free_config(void)
{
    free(cfg_log);
    cfg_log = NULL;
    for (unsigned i = 0; i < cfg_nlegs; i++)
        free(cfg_legs[i]);
    cfg_nlegs = 0;
    free(cfg_stats);
    cfg_stats = NULL;
    free(cfg_status);
    cfg_status = NULL;
    free(cfg_stall_file);
    cfg_stall_file = NULL;
    free(cfg_resync_pause_file);
    cfg_resync_pause_file = NULL;
}

static int add_legs(const char *list)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0) {
            if (cfg_nlegs == MIRROR_MAX_LEGS) {
                nbdkit_error("at most %d legs", MIRROR_MAX_LEGS);
                return -1;
            }
            if (!(cfg_legs[cfg_nlegs] = strndup(p, len))) {
                nbdkit_error("strndup: %m");
                return -1;
            }
            cfg_nlegs++;
        }
        p += len + (comma != NULL);
    }
    return 0;
}

/* A numeric parameter: digits only (dl__parse_u64), min..max. */
static int parse_number(const char *key, const char *value, uint64_t min, uint64_t max,
                        unsigned *out)
{
    uint64_t v;
    int r = dl__parse_u64(value, &v);
    if (r == -EINVAL) {
        nbdkit_error("%s=\"%s\" is not an unsigned decimal number", key, value);
        return -1;
    }
    if (r < 0 || v < min || v > max) {
        nbdkit_error("%s=%s is out of range (%" PRIu64 " to %" PRIu64 ")", key, value, min, max);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_size_param(const char *value)
{
    uint64_t v;
    int r = mirror_parse_size(value, &v);
    if (r < 0 || v == 0 || v % DL_SECTOR_SIZE) {
        nbdkit_error("size=%s: %s", value,
                     r == -ERANGE ? "too large (at most 2^63 - 1 bytes)"
                     : r < 0      ? "not a byte count (digits, then K, M, G or T)"
                                  : "not a positive multiple of 512 bytes");
        return -1;
    }
    cfg_size = (int64_t)v;
    return 0;
}

static int dlmirror_config(const char *key, const char *value)
{
    if (!strcmp(key, "log")) {
        free(cfg_log);
        return (cfg_log = strdup(value)) ? 0 : -1;
    }
    if (!strcmp(key, "legs") || !strcmp(key, "leg"))
        return add_legs(value);
    if (!strcmp(key, "size"))
        return parse_size_param(value);
    if (!strcmp(key, "create") || !strcmp(key, "resync")) {
        int b = nbdkit_parse_bool(value); /* its own error names the value only */
        if (b < 0) {
            nbdkit_error("%s=%s: expected a boolean (true/false, yes/no, on/off, 1/0)", key,
                         value);
            return -1;
        }
        if (!strcmp(key, "create"))
            cfg_create = b;
        else
            cfg_resync = b;
        return 0;
    }
    if (!strcmp(key, "flush_interval_ms"))
        return parse_number(key, value, 1, MAX_FLUSH_INTERVAL_MS, &cfg_flush_ms);
    if (!strcmp(key, "hot_periods"))
        return parse_number(key, value, 1, MAX_HOT_PERIODS, &cfg_hot_periods);
    if (!strcmp(key, "hot_cap"))
        return parse_number(key, value, 0, UINT32_MAX, &cfg_hot_cap);
    if (!strcmp(key, "hot_set")) {
        if (strcmp(value, "adaptive") && strcmp(value, "fixed")) {
            nbdkit_error("hot_set=%s: expected adaptive or fixed", value);
            return -1;
        }
        cfg_fixed_hot_set = !strcmp(value, "fixed");
        return 0;
    }
    if (!strcmp(key, "stats")) {
        free(cfg_stats);
        return (cfg_stats = nbdkit_absolute_path(value)) ? 0 : -1;
    }
    if (!strcmp(key, "status")) { /* absolute: nbdkit changes to / when it forks */
        free(cfg_status);
        return (cfg_status = nbdkit_absolute_path(value)) ? 0 : -1;
    }
    if (!strcmp(key, "status_interval_ms"))
        return parse_number(key, value, 1, MAX_FLUSH_INTERVAL_MS, &cfg_status_ms);
    if (!strcmp(key, "test_resync_pause_file")) {
        free(cfg_resync_pause_file);
        return (cfg_resync_pause_file = nbdkit_absolute_path(value)) ? 0 : -1;
    }
    if (!strcmp(key, "test_stall_file")) {
        free(cfg_stall_file);
        return (cfg_stall_file = nbdkit_absolute_path(value)) ? 0 : -1;
    }
    nbdkit_error("unknown parameter \"%s\"", key);
    return -1;
}

static int dlmirror_config_complete(void)
{
    if (!cfg_log || cfg_nlegs < 2) {
        nbdkit_error("log=\"<table line>\" and legs=LEG0,LEG1[,…] (2 or more) are required");
        return -1;
    }
    if (cfg_create && cfg_size <= 0) {
        nbdkit_error("create=1 needs size=");
        return -1;
    }
    return 0;
}

/* What an operator sees while the mirror serves: the live status file
 * (status=FILE, status.h) and the counters (stats=FILE, "key value" lines).
 * Both are rewritten whole (readers see an old or a new version) after each
 * resync region and each clear pass, at most every status_interval_ms, and
 * at once at start, at the end of the resync and at exit. Never on the data
 * path, never synced. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct status_publisher publisher; /* under stats_lock */
static double last_publish;

static void write_stats_file(const struct dl_rh_stats *st, int debug)
{
    char line[2048];
    int n = snprintf(line, sizeof line,
                     "size %" PRIu64 "\nregion_bytes %" PRIu32 "\nregion_count %" PRIu64
                     "\ndirty_at_start %" PRIu64 "\nwrites %" PRIu64 "\nwrite_bytes %" PRIu64
                     "\nreads %" PRIu64 "\nflush_requests %" PRIu64 "\nfua_writes %" PRIu64
                     "\nlog_flushes %" PRIu64 "\nlog_flush_errors %" PRIu64 "\nmarks %" PRIu64
                     "\nclears %" PRIu64 "\ncold_begins %" PRIu64 "\nrecovery_waits %" PRIu64
                     "\ndirty_regions %" PRIu64 "\nresync_regions %" PRIu64
                     "\nresync_bytes %" PRIu64 "\nresync_done %d\nstalled_writes %" PRIu64
                     "\nhot_kept %" PRIu64 "\ncap_clears %" PRIu64 "\nbackoff %" PRIu64
                     "\ncold_wait_ns %" PRIu64 "\n",
                     mir.size, mir.region_bytes, mir.region_count, dirty_at_start,
                     (uint64_t)n_writes, (uint64_t)n_write_bytes, (uint64_t)n_reads,
                     (uint64_t)n_flushes, (uint64_t)n_fua, st->log_flushes, st->log_flush_errors,
                     st->marks, st->clears, st->cold_begins, st->recovery_waits, st->dirty_regions,
                     (uint64_t)n_resync_regions, (uint64_t)n_resync_bytes, (int)resync_done,
                     (uint64_t)n_stalled, st->hot_kept, st->cap_clears, st->backoff,
                     st->cold_wait_ns);
    if (debug)
        nbdkit_debug("dlmirror stats:\n%s", line);
    if (!cfg_stats)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg_stats);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fwrite(line, 1, (size_t)n, f);
    if (fclose(f) == 0)
        rename(tmp, cfg_stats);
}

static void write_status_file(const struct dl_rh_stats *st)
{
    uint64_t copied = n_resync_regions;
    struct mirror_status s = {
        .dirty = st->dirty_regions,
        .resync_total = copied > dirty_at_start ? copied : dirty_at_start,
        .resync_regions = copied,
        .resync_bytes = n_resync_bytes,
        .writes = n_writes,
        .write_bytes = n_write_bytes,
        .reads = n_reads,
    };
    snprintf(s.state, sizeof s.state, "%s",
             stopped ? "stopped" : resync_done ? "serving" : "resyncing");
    int r = status_publish(&publisher, &mir, &s, 1);
    if (r < 0 && publisher.failed == 1) /* said once */
        nbdkit_error("cannot write the status file %s: %s", cfg_status, strerror(-r));
}

/* force: now; otherwise only if status_interval_ms have passed. */
static void publish(int force)
{
    pthread_mutex_lock(&stats_lock);
    double now = progress_now();
    if (rh && (force || (now - last_publish) * 1000 >= cfg_status_ms)) {
        last_publish = now;
        struct dl_rh_stats st = {.struct_size = sizeof st};
        dl_rh_get_stats(rh, &st);
        write_stats_file(&st, force);
        write_status_file(&st);
    }
    pthread_mutex_unlock(&stats_lock);
}

static int should_stop(void)
{
    pthread_mutex_lock(&stop_lock);
    int s = stopping;
    pthread_mutex_unlock(&stop_lock);
    return s;
}

/* Test knob: while the pause file exists and holds a number (empty: 0) no
 * greater than the regions copied so far, the resync waits. */
static int resync_paused(void)
{
    FILE *f = cfg_resync_pause_file ? fopen(cfg_resync_pause_file, "r") : NULL;
    if (!f)
        return 0;
    char text[32] = "";
    if (!fgets(text, sizeof text, f))
        text[0] = '\0';
    fclose(f);
    text[strcspn(text, "\n")] = '\0';
    uint64_t allowed = 0;
    if (text[0] && dl__parse_u64(text, &allowed) < 0)
        allowed = 0;
    return n_resync_regions >= allowed;
}

static void resync_wait_for_test(void)
{
    pthread_mutex_lock(&stop_lock);
    while (!stopping && resync_paused()) {
        pthread_mutex_unlock(&stop_lock);
        publish(0);
        pthread_mutex_lock(&stop_lock);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 10000000L; /* a test knob polls its file every 10 ms */
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&stop_cond, &stop_lock, &t);
    }
    pthread_mutex_unlock(&stop_lock);
}

static void *resync_main(void *arg)
{
    (void)arg;
    uint64_t r;
    for (;;) {
        resync_wait_for_test(); /* at once unless the test knob holds it */
        if (should_stop() || dl_rh_recovery_next(rh, &r) != 1)
            break;
        dl_rh_recovery_wait_idle(rh, r);
        int64_t n = mirror_copy_region(&mir, r);
        if (n < 0)
            nbdkit_error("resync: %s", mir.err);
        int e = dl_rh_recovery_end(rh, r, n >= 0);
        if (e < 0)
            nbdkit_error("resync: recording region %" PRIu64 ": %s", r, dl_strerror(e));
        if (n < 0 || e < 0)
            break;
        n_resync_regions++;
        n_resync_bytes += (uint64_t)n;
        publish(0);
    }
    /* Persist the recovered regions (the log flushes the legs first). */
    dl_rh_flush(rh);
    resync_done = 1;
    nbdkit_debug("dlmirror: resync done: %" PRIu64 " regions, %" PRIu64 " bytes",
                 (uint64_t)n_resync_regions, (uint64_t)n_resync_bytes);
    publish(1);
    return NULL;
}

static void *housekeeping_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&stop_lock);
    while (!stopping) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += cfg_flush_ms / 1000;
        t.tv_nsec += (long)(cfg_flush_ms % 1000) * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&stop_cond, &stop_lock, &t); /* a timer, not a sync */
        if (stopping)
            break;
        pthread_mutex_unlock(&stop_lock);
        int64_t c = dl_rh_flush(rh);
        if (c < 0)
            nbdkit_error("dl_rh_flush: %s", dl_strerror((int)c));
        publish(0);
        pthread_mutex_lock(&stop_lock);
    }
    pthread_mutex_unlock(&stop_lock);
    return NULL;
}

static int dlmirror_get_ready(void)
{
    /* Claims every leg (and, for a disk log, the log): a second server on
     * the same legs stops here, "leg /x is in use by another process",
     * before it changes anything. */
    if (mirror_open_legs(&mir, cfg_nlegs, cfg_legs, (uint64_t)(cfg_size > 0 ? cfg_size : 0),
                         cfg_create ? MIRROR_CREATE : 0) < 0 ||
        mirror_open_log(&mir, cfg_log) < 0) {
        nbdkit_error("%s", mir.err);
        mirror_close(&mir, 0);
        return -1;
    }
    uint64_t sync = 0;
    dl_log_get_sync_count(mir.log, &sync);
    dirty_at_start = mir.region_count - sync;
    struct dl_rh_options o = {.struct_size = sizeof o,
                              .hot_periods = cfg_hot_periods,
                              .hot_cap = cfg_hot_cap,
                              .flags = cfg_fixed_hot_set ? DL_RH_FIXED_HOT_SET : 0};
    int r = dl_rh_create(mir.log, &o, &rh);
    if (r < 0) {
        nbdkit_error("dl_rh_create: %s", dl_strerror(r));
        mirror_close(&mir, 0);
        return -1;
    }
    nbdkit_debug("dlmirror: %u legs, %" PRIu64 " bytes, %" PRIu64 " regions, %" PRIu64
                 " out of sync", mir.nlegs, mir.size, mir.region_count, dirty_at_start);
    return 0;
}

/* Threads start after nbdkit has forked into the background. */
static int dlmirror_after_fork(void)
{
    /* Here, not in get_ready: the status names the pid that serves. */
    status_publisher_init(&publisher, cfg_status, "nbdkit-dlmirror-plugin", cfg_status_ms);
    if (pthread_create(&housekeeping_thread, NULL, housekeeping_main, NULL) != 0) {
        nbdkit_error("pthread_create: %m");
        return -1;
    }
    if (cfg_resync) {
        if (pthread_create(&resync_thread, NULL, resync_main, NULL) != 0) {
            nbdkit_error("pthread_create: %m");
            return -1;
        }
        threads_started = 2;
    } else {
        threads_started = 1;
        resync_done = 1;
    }
    publish(1);
    return 0;
}

static void dlmirror_cleanup(void)
{
    pthread_mutex_lock(&stop_lock);
    stopping = 1;
    pthread_cond_broadcast(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    if (threads_started >= 1)
        pthread_join(housekeeping_thread, NULL);
    if (threads_started >= 2)
        pthread_join(resync_thread, NULL);
    threads_started = 0;
    if (rh) {
        /* No request is in flight any more: a clean shutdown. */
        int64_t c = dl_rh_clear_idle(rh);
        if (c < 0)
            nbdkit_error("dl_rh_clear_idle: %s", dl_strerror((int)c));
        stopped = 1;
        publish(1);
        dl_rh_destroy(rh);
        rh = NULL;
        mirror_close(&mir, 1);
    }
}

static void dlmirror_unload(void)
{
    free_config();
}

static void *dlmirror_open(int readonly)
{
    (void)readonly;
    return &mir; /* every connection shares the one mirror */
}

static int64_t dlmirror_get_size(void *h)
{
    (void)h;
    return (int64_t)mir.size;
}

static int dlmirror_can_fua(void *h)
{
    (void)h;
    return NBDKIT_FUA_NATIVE;
}

static int dlmirror_yes(void *h)
{
    (void)h;
    return 1;
}

static int dlmirror_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    (void)h;
    (void)flags;
    unsigned leg = 0;
    if (dl_rh_range_in_sync(rh, offset, count) == 1)
        leg = (unsigned)(read_rr++ % mir.nlegs);
    int r = mirror_read_leg(&mir, leg, buf, count, offset);
    if (r < 0) {
        nbdkit_error("read of leg %s: %s", mir.path[leg], strerror(-r));
        nbdkit_set_error(-r);
        return -1;
    }
    n_reads++;
    return 0;
}

/* Test knob: park this write forever, between leg 0 and leg 1. */
static void stall_forever(void)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    n_stalled++;
    publish(1);
    for (;;)
        pthread_cond_wait(&c, &m); /* nobody signals: only SIGKILL ends it */
}

static int dlmirror_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset,
                           uint32_t flags)
{
    (void)h;
    int r = dl_rh_begin_write(rh, offset, count, 0);
    if (r < 0) {
        nbdkit_error("dl_rh_begin_write: %s", dl_strerror(r));
        nbdkit_set_error(-r);
        return -1;
    }
    int stall = cfg_stall_file && access(cfg_stall_file, F_OK) == 0;
    int result = 0;
    for (unsigned i = 0; i < mir.nlegs; i++) {
        if (i == 1 && stall)
            stall_forever();
        int e = mirror_write_leg(&mir, i, buf, count, offset);
        if (e < 0 && result == 0)
            result = e;
    }
    if (result == 0 && (flags & NBDKIT_FLAG_FUA)) {
        result = mirror_flush_legs(&mir);
        n_fua++;
    }
    dl_rh_end_write(rh, offset, count, result);
    if (result < 0) {
        nbdkit_error("write: %s", strerror(-result));
        nbdkit_set_error(-result);
        return -1;
    }
    n_writes++;
    n_write_bytes += count;
    return 0;
}

static int dlmirror_flush(void *h, uint32_t flags)
{
    (void)h;
    (void)flags;
    int r = mirror_flush_legs(&mir);
    if (r < 0) {
        nbdkit_error("flush: %s", strerror(-r));
        nbdkit_set_error(-r);
        return -1;
    }
    n_flushes++;
    return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "dlmirror",
    .longname = "dirtylog RAID1 mirror",
    .version = "0.1.0",
    .description = "a RAID1 across files or block devices with a dirty-region log",
    .unload = dlmirror_unload,
    .config = dlmirror_config,
    .config_complete = dlmirror_config_complete,
    .config_help =
        "log=<TABLE LINE>     (required) the dirty log, e.g. \"disk 2 /var/tmp/m.log 128\"\n"
        "legs=LEG0,LEG1[,...] (required) files or block devices; leg 0 is the primary\n"
        "size=<BYTES>         export size, a multiple of 512, suffixes K M G T (default:\n"
        "                     the smallest leg)\n"
        "create=1             create missing legs as sparse files of size= bytes\n"
        "resync=0             do not resync out-of-sync regions at start\n"
        "flush_interval_ms=N  period of the log's clear pass, 1 to 3600000 (default 1000)\n"
        "hot_periods=N        idle periods before a region is cleared at least (longer\n"
        "                     for regions that come back soon: adaptive), 1 to 8388607\n"
        "                     (default 1)\n"
        "hot_set=fixed        clear after exactly hot_periods (no adaptation: A/B runs)\n"
        "hot_cap=N            idle regions kept dirty past hot_periods at most (0: half\n"
        "                     the regions, lifted while the log holds writers back):\n"
        "                     the extra resync a crash may cost\n"
        "stats=<FILE>         write counters there (live, as status=)\n"
        "status=<FILE>        keep the live status there (dlmirror status --status FILE)\n"
        "status_interval_ms=N rewrite stats/status at most every N ms, 1 to 3600000\n"
        "                     (default 1000)\n"
        "test_stall_file=F    (tests) while file F exists, every write is parked forever\n"
        "                     after leg 0 and before leg 1 (to crash with writes in flight)\n"
        "test_resync_pause_file=F (tests) while F exists, the resync waits once it has\n"
        "                     copied as many regions as the number F holds (empty: 0)",
    .get_ready = dlmirror_get_ready,
    .after_fork = dlmirror_after_fork,
    .cleanup = dlmirror_cleanup,
    .open = dlmirror_open,
    .get_size = dlmirror_get_size,
    .can_write = dlmirror_yes,
    .can_flush = dlmirror_yes,
    .can_fua = dlmirror_can_fua,
    .can_multi_conn = dlmirror_yes,
    .pread = dlmirror_pread,
    .pwrite = dlmirror_pwrite,
    .flush = dlmirror_flush,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
