/* The smallest program using a dirty-region log: a "core" log (in memory)
 * over a 1 GiB target cut into 512 KiB regions.
 *
 * It walks through what a mirroring engine does: mark a region before
 * writing to it, flush the log, clear the region when the writes are done,
 * and resynchronise every region the log says is out of sync. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <dirtylog.h>

/* Stop on the first failure and say why. */
static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, dl_strerror(r), dl_last_error());
        exit(1);
    }
}

int main(void)
{
    const uint64_t target_sectors = 2u * 1024 * 1024; /* 1 GiB of 512-byte sectors */
    dl_log *log;
    /* Table syntax: type, argument count, arguments (region size in sectors). */
    check(dl_log_create_table("core 1 1024", target_sectors, &log), "create");
    printf("regions: %" PRIu64 " of %" PRIu32 " sectors\n", dl_log_get_region_count(log),
           dl_log_get_region_size(log));

    /* A write to region 7: mark it, make the mark durable, then write. */
    check(dl_log_mark_region(log, 7), "mark");
    check(dl_log_flush(log), "flush");
    printf("region 7 clean after mark: %d\n", dl_log_is_clean(log, 7));
    /* The write completed on every copy: clear it (durable at the next flush). */
    check(dl_log_clear_region(log, 7), "clear");
    check(dl_log_flush(log), "flush");
    printf("region 7 clean after clear: %d\n", dl_log_is_clean(log, 7));

    /* A new core log is out of sync: recover every region it hands out. */
    uint64_t region, recovered = 0;
    int r;
    while ((r = dl_log_get_resync_work(log, &region)) == 1) {
        /* ... copy the region from the primary to the other copies ... */
        check(dl_log_set_region_sync(log, region, 1), "set_region_sync");
        recovered++;
    }
    check(r, "get_resync_work");
    printf("recovered %" PRIu64 " regions\n", recovered);

    char status[128];
    check(dl_log_status(log, DL_STATUS_INFO, status, sizeof status), "status");
    printf("status INFO: %s\n", status);
    check(dl_log_status(log, DL_STATUS_TABLE, status, sizeof status), "status");
    printf("status TABLE: %s\n", status);
    uint64_t count;
    check(dl_log_get_sync_count(log, &count), "get_sync_count");
    printf("sync count: %" PRIu64 " / %" PRIu64 "\n", count, dl_log_get_region_count(log));

    dl_log_destroy(log);
    return 0;
}
