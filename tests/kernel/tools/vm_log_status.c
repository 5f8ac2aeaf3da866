/* vm_log_status TARGET_SECTORS TYPE [ARG...]: host the log "TYPE <n> ARG..."
 * in this process (the library's own type, as dirtylogd hosts it) and print
 * its two status strings, "info: ..." and "table: ...". The VM tests compare
 * them with what dmsetup shows for the same log served to the kernel. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirtylog.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TARGET_SECTORS TYPE [ARG...]\n", argv[0]);
        return 2;
    }
    char table[1024];
    int n = snprintf(table, sizeof table, "%s %d", argv[2], argc - 3);
    for (int i = 3; i < argc && n > 0 && (size_t)n < sizeof table; i++)
        n += snprintf(table + n, sizeof table - (size_t)n, " %s", argv[i]);
    if (n < 0 || (size_t)n >= sizeof table) {
        fprintf(stderr, "table too long\n");
        return 2;
    }
    dl_log *log;
    int r = dl_log_create_table(table, strtoull(argv[1], NULL, 10), &log);
    if (r < 0) {
        fprintf(stderr, "%s: %s: %s\n", table, dl_strerror(r), dl_last_error());
        return 1;
    }
    char info[4096], tab[4096];
    int ri = dl_log_status(log, DL_STATUS_INFO, info, sizeof info);
    int rt = dl_log_status(log, DL_STATUS_TABLE, tab, sizeof tab);
    dl_log_destroy(log);
    if (ri < 0 || rt < 0) {
        fprintf(stderr, "status: %s\n", dl_strerror(ri < 0 ? ri : rt));
        return 1;
    }
    printf("info: %s\ntable: %s\n", info, tab);
    return 0;
}
