/* Test helper for test_tool.sh: open a disk log through the library from a
 * table line, mark the given regions, flush, close.
 *   mark_regions [--hold] "<disk table>" <target_sectors> [region...]
 * e.g. mark_regions "disk 3 /tmp/x.log 2 format=dm" 200 0 1 17
 * With no region it only opens, resumes and flushes (e.g. to grow a log).
 * With --hold it then prints "held" and keeps the log open (its owner, as a
 * live engine) until its standard input reaches end of file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylog.h"

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
    argc -= hold;
    argv += hold;
    if (argc < 3) {
        fprintf(stderr, "usage: mark_regions [--hold] <table> <target_sectors> [region...]\n");
        return 2;
    }
    dl_log *log;
    int r = dl_log_create_table(argv[1], strtoull(argv[2], NULL, 10), &log);
    if (r < 0) {
        fprintf(stderr, "mark_regions: %s: %s\n", argv[1], dl_last_error());
        return 1;
    }
    r = dl_log_resume(log);
    for (int i = 3; r == 0 && i < argc; i++)
        r = dl_log_mark_region(log, strtoull(argv[i], NULL, 10));
    if (r == 0)
        r = dl_log_flush(log);
    if (r < 0)
        fprintf(stderr, "mark_regions: %s (%s)\n", dl_strerror(r), dl_last_error());
    if (r == 0 && hold) {
        printf("held\n");
        fflush(stdout);
        while (getchar() != EOF)
            ;
    }
    dl_log_destroy(log);
    return r < 0;
}
