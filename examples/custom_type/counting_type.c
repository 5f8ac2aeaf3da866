/* A log type of your own, registered with dl_register_type(): the file to
 * copy when you write one. custom_type.c shows it in use; the conformance
 * suite checks it (tests/conformance/test_counting_type_conformance.c: write
 * such a fixture for your type and run the suite, see docs/api.md).
 *
 * "counting" wraps a core log (created with dl_log_create, like any user of
 * the library would) and counts the marks and clears it sees. Its table line
 * is the core one under another name: "counting <argc> <region_size>
 * [sync|nosync]". It declares DL_THREAD_MODEL_SERIALIZE_ALL, so the library
 * holds a per-log lock around every op and the plain counters need no atomics.
 *
 * It also shows the flush-callback rule: before a flush makes clears durable,
 * a log calls the engine's data flush (dl_log_call_flush_callback). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_type.h"

struct counting {
    dl_log *inner;        /* the core log doing the real work */
    uint64_t marks, clears;
    uint64_t unflushed_clears; /* clears since the last flush */
};

static struct counting *ctx(dl_log *log) { return dl_log_get_context(log); }

static int counting_ctr(dl_log *log, uint64_t target_sectors, unsigned argc, char **argv)
{
    struct counting *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    /* The core log parses and checks the arguments; on failure its message
     * ("region_size 1000 is not a power of 2") is what dl_last_error() shows. */
    int r = dl_log_create("core", target_sectors, argc, (const char *const *)argv, &c->inner);
    if (r < 0) {
        free(c);
        return r;
    }
    dl_log_set_context(log, c);
    return 0;
}

static void counting_dtr(dl_log *log)
{
    dl_log_destroy(ctx(log)->inner);
    free(ctx(log));
}

static uint32_t counting_get_region_size(dl_log *log) { return dl_log_get_region_size(ctx(log)->inner); }
static int counting_is_clean(dl_log *log, uint64_t r) { return dl_log_is_clean(ctx(log)->inner, r); }
static int counting_in_sync(dl_log *log, uint64_t r, int can_block)
{
    return dl_log_in_sync(ctx(log)->inner, r, can_block);
}

static int counting_mark_region(dl_log *log, uint64_t r)
{
    ctx(log)->marks++;
    return dl_log_mark_region(ctx(log)->inner, r);
}

static int counting_clear_region(dl_log *log, uint64_t r)
{
    ctx(log)->clears++;
    ctx(log)->unflushed_clears++;
    return dl_log_clear_region(ctx(log)->inner, r);
}

static int counting_flush(dl_log *log)
{
    struct counting *c = ctx(log);
    if (c->unflushed_clears) {
        /* Clean bits are about to become durable: the data must be first. */
        int r = dl_log_call_flush_callback(log);
        if (r < 0)
            return r;
        c->unflushed_clears = 0;
    }
    return dl_log_flush(c->inner);
}

static int counting_get_resync_work(dl_log *log, uint64_t *r) { return dl_log_get_resync_work(ctx(log)->inner, r); }
static int counting_set_region_sync(dl_log *log, uint64_t r, int in_sync)
{
    return dl_log_set_region_sync(ctx(log)->inner, r, in_sync);
}
static int counting_get_sync_count(dl_log *log, uint64_t *n) { return dl_log_get_sync_count(ctx(log)->inner, n); }

static int counting_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct counting *c = ctx(log);
    int n;
    if (type == DL_STATUS_INFO) {
        n = snprintf(buf, len, "3 counting %" PRIu64 " %" PRIu64, c->marks, c->clears);
    } else {
        /* The core table line with our name: "core 1 1024" -> "counting 1 1024". */
        char inner[128];
        int r = dl_log_status(c->inner, DL_STATUS_TABLE, inner, sizeof inner);
        if (r < 0)
            return r;
        n = snprintf(buf, len, "counting%s", inner + strlen("core"));
    }
    return n >= 0 && (size_t)n < len ? n : -ENOSPC;
}

const struct dl_log_type counting_type = {
    DL_LOG_TYPE_INIT("counting"),
    .thread_model = DL_THREAD_MODEL_SERIALIZE_ALL,
    .ctr = counting_ctr,
    .dtr = counting_dtr,
    .get_region_size = counting_get_region_size,
    .is_clean = counting_is_clean,
    .in_sync = counting_in_sync,
    .flush = counting_flush,
    .mark_region = counting_mark_region,
    .clear_region = counting_clear_region,
    .get_resync_work = counting_get_resync_work,
    .set_region_sync = counting_set_region_sync,
    .get_sync_count = counting_get_sync_count,
    .status = counting_status,
    /* presuspend, postsuspend, resume, is_remote_recovering: optional, and
     * a core log has nothing to do there. */
};
