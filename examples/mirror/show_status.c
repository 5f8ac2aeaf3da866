/* `dlmirror status --status FILE`: the live figures of a running mirror
 * from its status file (status.h), and whether they are current. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "dlmirror.h"
#include "progress.h"
#include "status.h"

/* Is the process that wrote the file still there? 1 yes, 0 gone. EPERM:
 * it exists but belongs to someone else. A zombie (killed, its parent has
 * not reaped it yet) is gone: Linux's /proc tells, elsewhere it counts as
 * there. */
static int writer_exists(uint64_t pid)
{
    if (pid == 0 || pid > (uint64_t)INT32_MAX)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return 0;
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%" PRIu64 "/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

/* How current the figures are, in words. */
static void say_freshness(const struct mirror_status *s, int held, double age)
{
    const char *state = s->state;
    if (!strcmp(state, "stopped") || !strcmp(state, "failed"))
        printf("  %s %.1f s ago: the writer has exited%s\n", state, age,
               !strcmp(state, "failed") ? " after an error (see its messages)" : "");
    else if (!writer_exists(s->pid))
        printf("  STALE: pid %" PRIu64 " is gone (it crashed or was killed); these figures "
               "are from %.1f s ago\n", s->pid, age);
    else if (held == 0)
        printf("  STALE: pid %" PRIu64 " exists but holds neither the log nor a leg (not "
               "the writer any more); these figures are from %.1f s ago\n", s->pid, age);
    else
        printf("  live:     %s, updated %.1f s ago\n", state, age);
}

int dlmirror_show_status(const char *path, int held)
{
    struct mirror_status s;
    char err[600], h1[32], h2[32], re[64];
    if (mirror_status_read(path, &s, err, sizeof err) < 0) {
        fprintf(stderr, "dlmirror: %s\n", err);
        return 2;
    }
    uint64_t now = mirror_status_now_ms();
    double age = now > s.updated_ms ? (double)(now - s.updated_ms) / 1000.0 : 0.0;
    printf("status:   %s, written by %s (pid %" PRIu64 ")\n", path, s.writer, s.pid);
    say_freshness(&s, held, age);
    printf("  in sync:  %" PRIu64 " / %" PRIu64 " regions of %s (%s)\n", s.in_sync,
           s.region_count, mirror_human(s.region_bytes, h1, sizeof h1),
           mirror_human(s.size, h2, sizeof h2));
    printf("  dirty:    %" PRIu64 " regions (marked by writes, not cleared yet)\n", s.dirty);
    unsigned pct = s.resync_total ? (unsigned)(s.resync_regions * 100 / s.resync_total) : 100;
    const char *how = s.resync_regions >= s.resync_total ? "done"
                      : !strcmp(s.state, "resyncing") ? "running" : "not running";
    format_rate_eta(re, sizeof re, (double)s.resync_rate, s.resync_eta);
    printf("  resync:   %s, %" PRIu64 " / %" PRIu64 " regions (%u%%), %s copied, %s\n", how,
           s.resync_regions, s.resync_total, pct, mirror_human(s.resync_bytes, h1, sizeof h1),
           re);
    printf("  io:       %" PRIu64 " writes (%s), %" PRIu64 " reads\n", s.writes,
           mirror_human(s.write_bytes, h1, sizeof h1), s.reads);
    return 0;
}
