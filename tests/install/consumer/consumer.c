/* A tiny user of an installed dirtylog: the test checks what it prints. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <dirtylog.h>

int main(void)
{
    dl_log *log;
    int r = dl_log_create_table("core 2 16 nosync", 1000, &log);
    if (r < 0) {
        fprintf(stderr, "create: %s: %s\n", dl_strerror(r), dl_last_error());
        return 1;
    }
    uint64_t count = 0;
    char table[64];
    if (dl_log_mark_region(log, 62) < 0 || dl_log_flush(log) < 0 ||
        dl_log_get_sync_count(log, &count) < 0 ||
        dl_log_status(log, DL_STATUS_TABLE, table, sizeof table) < 0) {
        fprintf(stderr, "an operation failed: %s\n", dl_last_error());
        dl_log_destroy(log);
        return 1;
    }
    printf("consumer: %s regions=%" PRIu64 " clean62=%d clean61=%d sync=%" PRIu64
           " range=%d\n",
           table, dl_log_get_region_count(log), dl_log_is_clean(log, 62),
           dl_log_is_clean(log, 61), count, dl_log_is_clean(log, 63) == -ERANGE);
    dl_log_destroy(log);
    return 0;
}
