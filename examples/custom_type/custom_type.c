/* The "counting" log type (counting_type.c) in use: register it, create a
 * log from a table line, mark, clear, flush, read its status, unregister. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <dirtylog.h>

#include "counting_type.h"

/* The engine's data-device flush; here it only counts. */
static int data_flush(void *arg)
{
    ++*(unsigned *)arg;
    return 0;
}

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, dl_strerror(r), dl_last_error());
        exit(1);
    }
}

int main(void)
{
    check(dl_register_type(&counting_type), "register");
    printf("registered: %s\n", dl_find_type("counting") ? "counting" : "(none)");

    /* A bad argument: the message names it. */
    dl_log *log;
    int r = dl_log_create_table("counting 1 1000", 1u << 20, &log);
    printf("bad table line: %s: %s\n", dl_strerror(r), dl_last_error());

    check(dl_log_create_table("counting 2 1024 nosync", 1u << 20, &log), "create");
    unsigned data_flushes = 0;
    check(dl_log_set_flush_callback(log, data_flush, &data_flushes), "set_flush_callback");

    for (uint64_t region = 0; region < 3; region++)
        check(dl_log_mark_region(log, region), "mark");
    check(dl_log_flush(log), "flush"); /* marks only: no data flush needed */
    check(dl_log_clear_region(log, 0), "clear");
    check(dl_log_clear_region(log, 1), "clear");
    check(dl_log_flush(log), "flush"); /* clears: data flushed first */
    printf("clean: %d %d %d\n", dl_log_is_clean(log, 0), dl_log_is_clean(log, 1),
           dl_log_is_clean(log, 2));
    printf("data flushes: %u\n", data_flushes);
    /* The library checks regions before the type sees them. */
    r = dl_log_mark_region(log, dl_log_get_region_count(log));
    printf("mark beyond the end: %s\n", dl_strerror(r));

    char status[128];
    check(dl_log_status(log, DL_STATUS_INFO, status, sizeof status), "status");
    printf("status INFO: %s\n", status);
    check(dl_log_status(log, DL_STATUS_TABLE, status, sizeof status), "status");
    printf("status TABLE: %s\n", status);

    r = dl_unregister_type("counting");
    printf("unregister while in use: %s\n", dl_strerror(r));
    dl_log_destroy(log);
    check(dl_unregister_type("counting"), "unregister");
    printf("after unregister: %s\n", dl_find_type("counting") ? "still there" : "gone");
    return 0;
}
