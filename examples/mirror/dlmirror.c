/* dlmirror: a RAID1 across 2+ legs (files or block devices) with a dirty
 * log given as any table line. Commands: demo, status, verify, resync.
 * See docs/mirror.md. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlmirror.h"
#include "mirror.h"
#include "progress.h"
#include "status.h"

static const char usage[] =
    "usage: dlmirror demo [--dir DIR] [--keep] [--writes N] [--seed N]\n"
    "       dlmirror status --log \"<table line>\" [--size BYTES] [--write [--create]] LEG0 LEG1 [LEG...]\n"
    "       dlmirror verify --log \"<table line>\" [--size BYTES] [--write [--create]] LEG0 LEG1 [LEG...]\n"
    "       dlmirror resync --log \"<table line>\" [--size BYTES] [--create] LEG0 LEG1 [LEG...]\n"
    "       dlmirror status --status FILE     (only the live figures of a running mirror)\n"
    "       (status, resync: [--status FILE] as well)\n"
    "       dlmirror rm-stale-socket SOCKET   (before restarting nbdkit -U SOCKET)\n"
    "\n"
    "A RAID1 mirror across 2 to 8 legs (regular files or block devices); leg 0\n"
    "is the primary: resync copies it to the others. The dirty log is any\n"
    "device-mapper style table line, for example\n"
    "    --log \"disk 2 /var/tmp/m.log 128\"       (persistent, 64 KiB regions)\n"
    "    --log \"core 2 128 nosync\"              (in memory, all in sync)\n"
    "    --log \"userspace 4 <uuid> disk m.log 128\" (hosted by dirtylogd)\n"
    "Region sizes are in 512-byte sectors. A `sync` flag forces a full resync,\n"
    "`nosync` declares the legs identical; without a flag an existing log is\n"
    "kept as it is (a new one is all out of sync).\n"
    "\n"
    "  demo    crash a writer with SIGKILL mid-write on temporary files, show\n"
    "          that every region where the legs differ is dirty in the log,\n"
    "          resync only the dirty regions, verify. Exit 0 if all checks pass.\n"
    "  status  one line like `dmsetup status` for a mirror, then details.\n"
    "  verify  compare the legs region by region; list differing regions and\n"
    "          whether the log has them dirty. Exit 1 if a differing region is\n"
    "          clean in the log (the log missed a write), 0 otherwise.\n"
    "  resync  copy every region the log says is out of sync from leg 0 to the\n"
    "          other legs (a progress bar on a terminal, lines otherwise).\n"
    "  rm-stale-socket  remove the Unix socket SOCKET if nothing listens on it\n"
    "          (nbdkit leaves its socket behind when it exits); exit 1 if a\n"
    "          server listens there, 2 if it is not a socket.\n"
    "\n"
    "status and verify are read-only: they read a disk log's state from its\n"
    "device and the legs without writing or claiming anything, so they work on\n"
    "a mirror another process (nbdkit, a dlmirror resync) is serving, and say\n"
    "so (\"live\": the state may move). sync/nosync are not applied. Other log\n"
    "types need --write. resync always writes: it claims the log and the legs.\n"
    "\n"
    "  --size BYTES  mirror size (suffixes K, M, G, T); default: the smallest leg\n"
    "  --write       status/verify: open the log and the legs for writing as\n"
    "                resync does (the log is resumed: created if missing, sync/\n"
    "                nosync applied; legs and log are claimed, so this fails on\n"
    "                a mirror another process holds)\n"
    "  --create      create missing legs as sparse files of --size bytes\n"
    "                (resync, or status/verify with --write)\n"
    "  --status FILE status: also show the live status FILE that the process serving\n"
    "                the mirror keeps (nbdkit status=FILE, resync --status), and\n"
    "                whether it is stale (its writer gone); resync: keep FILE up\n"
    "                to date (progress, rate, ETA; at most once a second)\n"
    "Exit status: 0 ok, 1 check failed, 2 usage or I/O error (a leg or log in\n"
    "use by another process included).\n"
    "Manual: man dlmirror (dlmirror(1)); over NBD: man nbdkit-dlmirror-plugin.\n";

struct cli {
    const char *log;
    const char *status; /* --status FILE: the live status file */
    uint64_t size;
    int create;
    int write; /* open the log and the legs for writing (resync always does) */
    unsigned nlegs;
    char *legs[MIRROR_MAX_LEGS + 1];
};

static int parse_cli(int argc, char **argv, int is_resync, int is_status, struct cli *c)
{
    memset(c, 0, sizeof *c);
    c->write = is_resync;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (!strncmp(a, "--log=", 6) || !strncmp(a, "--size=", 7) || !strncmp(a, "--status=", 9)) {
            val = strchr(a, '=') + 1;
        } else if (!strcmp(a, "--log") || !strcmp(a, "--size") || !strcmp(a, "--status")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "dlmirror: %s needs a value\n", a);
                return -1;
            }
            val = argv[++i];
        }
        if (val && !strncmp(a, "--log", 5)) {
            c->log = val;
        } else if (val && !strncmp(a, "--status", 8)) {
            c->status = val;
        } else if (val) {
            int r = mirror_parse_size(val, &c->size);
            if (r < 0) {
                fprintf(stderr, "dlmirror: --size \"%s\" %s\n", val,
                        r == -ERANGE ? "is too large (at most 2^63 - 1 bytes)"
                                     : "is not a byte count (digits, then K, M, G or T)");
                return -1;
            }
        } else if (strcmp(a, "--create") == 0) {
            c->create = 1;
        } else if (strcmp(a, "--write") == 0) {
            c->write = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "dlmirror: unknown option \"%s\"\n%s", a, usage);
            return -1;
        } else if (c->nlegs < MIRROR_MAX_LEGS + 1) {
            c->legs[c->nlegs++] = argv[i];
        }
    }
    if (is_status && c->status && !c->log && c->nlegs == 0)
        return 0; /* status --status FILE alone: only the live figures */
    if (!c->log) {
        fprintf(stderr, "dlmirror: --log \"<table line>\" is required\n");
        return -1;
    }
    if (c->nlegs < 2 || c->nlegs > MIRROR_MAX_LEGS) {
        fprintf(stderr, "dlmirror: give 2 to %d legs\n", MIRROR_MAX_LEGS);
        return -1;
    }
    if (c->create && !c->write) {
        fprintf(stderr, "dlmirror: --create writes: it needs --write (status and verify are "
                        "read-only without it)\n");
        return -1;
    }
    return 0;
}

/* Read-write: claim the legs, resume the log. Read-only: neither. */
static int open_mirror(const struct cli *c, struct mirror *m)
{
    unsigned flags = c->write ? (c->create ? MIRROR_CREATE : 0) : MIRROR_READ_ONLY;
    if (mirror_open_legs(m, c->nlegs, c->legs, c->size, flags) < 0 ||
        (c->write ? mirror_open_log(m, c->log) : mirror_open_log_read_only(m, c->log)) < 0) {
        fprintf(stderr, "dlmirror: %s\n", m->err);
        mirror_close(m, 0);
        return -1;
    }
    return 0;
}

/* Read-only: say whether another process holds the log or a leg. 1 live, 0 not. */
static int print_live(struct mirror *m)
{
    char held[2048];
    int live = mirror_probe_live(m, held, sizeof held);
    printf("mode:     read-only (nothing is written or claimed; --write opens it for writing)\n");
    if (live < 0)
        printf("live:     unknown (%s): the state may move while this reads it\n", m->err);
    else if (live)
        printf("live:     yes, held by another process: %s; the mirror is live and its state "
               "may move while this reads it\n", held);
    else
        printf("live:     no (no other process holds the log or the legs)\n");
    if (m->view->sync_flag)
        printf("note:     '%s' is not applied here: it acts when the log is next opened for "
               "writing\n", m->view->sync_flag);
    return live != 0;
}

/* Count the regions the log says may differ. */
static int64_t count_dirty(struct mirror *m)
{
    int64_t n = 0;
    for (uint64_t r = 0; r < m->region_count; r++) {
        int d = mirror_region_dirty(m, r);
        if (d < 0)
            return d;
        n += d;
    }
    return n;
}

/* The figures status prints: from the resumed log, or read-only from the device. */
struct figures {
    uint64_t sync;
    int64_t dirty;
    char info[512], table[512];
};

static int status_figures(const struct cli *c, struct mirror *m, struct figures *f)
{
    if (m->view) {
        uint64_t may;
        if (logview_count(m->view, &may) < 0) {
            snprintf(m->err, sizeof m->err, "%s", m->view->err);
            return -1;
        }
        f->sync = m->region_count - may;
        f->dirty = (int64_t)may;
        /* A disk log's INFO; A: the device was read and its header is valid. */
        snprintf(f->info, sizeof f->info, "3 disk %s A", m->view->path);
        snprintf(f->table, sizeof f->table, "%s (%s format, read from the device)", c->log,
                 logview_format(m->view));
        return 0;
    }
    int r = dl_log_get_sync_count(m->log, &f->sync);
    if (r >= 0)
        r = dl_log_status(m->log, DL_STATUS_INFO, f->info, sizeof f->info);
    if (r >= 0)
        r = dl_log_status(m->log, DL_STATUS_TABLE, f->table, sizeof f->table);
    f->dirty = r < 0 ? r : count_dirty(m);
    if (r < 0)
        snprintf(m->err, sizeof m->err, "%s", dl_strerror(r));
    return r < 0 || f->dirty < 0 ? -1 : 0;
}

static int cmd_status(const struct cli *c)
{
    if (!c->log) /* --status FILE alone */
        return dlmirror_show_status(c->status, -1);
    struct mirror m;
    if (open_mirror(c, &m) < 0)
        return 2;
    struct figures f;
    char h1[32], h2[32];
    if (status_figures(c, &m, &f) < 0) {
        fprintf(stderr, "dlmirror: status: %s\n", m.err);
        mirror_close(&m, 0);
        return 2;
    }
    /* <start> <length> mirror <#legs> <legs…> <in-sync>/<regions> 1 <health> <log status> */
    printf("0 %" PRIu64 " mirror %u", m.size / DL_SECTOR_SIZE, m.nlegs);
    for (unsigned i = 0; i < m.nlegs; i++)
        printf(" %s", m.path[i]);
    printf(" %" PRIu64 "/%" PRIu64 " 1 ", f.sync, m.region_count);
    for (unsigned i = 0; i < m.nlegs; i++)
        putchar('A'); /* every leg opened and is big enough */
    printf(" %s\n", f.info);
    printf("legs:     %u (leg 0 is the primary)\n", m.nlegs);
    for (unsigned i = 0; i < m.nlegs; i++)
        printf("  leg %u:  %s\n", i, m.path[i]);
    printf("size:     %s (%" PRIu64 " sectors)\n", mirror_human(m.size, h1, sizeof h1),
           m.size / DL_SECTOR_SIZE);
    printf("regions:  %" PRIu64 " of %s\n", m.region_count,
           mirror_human(m.region_bytes, h2, sizeof h2));
    printf("in sync:  %" PRIu64 " / %" PRIu64 " regions\n", f.sync, m.region_count);
    printf("dirty:    %" PRId64 " regions (a resync copies at most %s)\n", f.dirty,
           mirror_human((uint64_t)f.dirty * m.region_bytes, h1, sizeof h1));
    printf("log:      %s\n", f.table);
    int held = m.view ? print_live(&m) : -1;
    mirror_close(&m, 0);
    return c->status ? dlmirror_show_status(c->status, held) : 0;
}

/* Is region r a difference the log does not cover? 1 yes, 0 no, -errno.
 * *differs and *dirty say what was seen. The bit is read after the compare:
 * a write makes its region durably dirty before it touches a leg, and the
 * bit is cleared only a flush period after the write ended, so on a live
 * mirror a write in flight during the compare still shows dirty. One
 * recheck on a live mirror rules out a write that began and ended across a
 * whole compare; a difference the log missed does not go away. */
static int uncovered(struct mirror *m, uint64_t r, int live, int *differs, int *dirty)
{
    for (int pass = 0; pass < 1 + live; pass++) {
        int d = mirror_region_differs(m, r), k = d < 0 ? d : mirror_region_dirty(m, r);
        if (d < 0 || k < 0)
            return d < 0 ? d : k;
        if (pass == 0) {
            *differs = d;
            *dirty = k;
        } else {
            *dirty = k; /* dirty now: the write was in flight */
        }
        if (!d || k)
            return 0;
    }
    return 1;
}

static int cmd_verify(const struct cli *c)
{
    struct mirror m;
    if (open_mirror(c, &m) < 0)
        return 2;
    int live = m.view ? print_live(&m) : 0;
    uint64_t differ = 0, missed = 0, dirty = 0;
    for (uint64_t r = 0; r < m.region_count; r++) {
        int d = 0, k = 0, miss = uncovered(&m, r, live, &d, &k);
        if (miss < 0) {
            fprintf(stderr, "dlmirror: verify: %s\n", m.err);
            mirror_close(&m, 0);
            return 2;
        }
        dirty += (uint64_t)k;
        if (!d)
            continue;
        differ++;
        missed += (uint64_t)miss;
        printf("region %" PRIu64 " (bytes %" PRIu64 "..%" PRIu64 ") differs: %s\n", r,
               mirror_region_offset(&m, r),
               mirror_region_offset(&m, r) + mirror_region_length(&m, r) - 1,
               miss ? "CLEAN in the log: the log missed a write"
               : live ? "dirty in the log (expected: a write in flight on the live mirror)"
                      : "dirty in the log (a resync repairs it)");
    }
    printf("verify: %" PRIu64 " regions, %" PRIu64 " differ, %" PRIu64
           " of them clean in the log; %" PRIu64 " dirty in the log\n",
           m.region_count, differ, missed, dirty);
    printf("%s%s\n", missed ? "FAILED: a region differs but the log has it clean"
                            : differ ? "OK: every differing region is dirty in the log"
                                     : "OK: the legs are identical",
           live ? " (live mirror: as of this read)" : "");
    mirror_close(&m, 0);
    return missed ? 1 : 0;
}

/* What a resync shows: a bar on a terminal (every 0.1 s) or a line a
 * second, with the rate over a moving window and the ETA it gives. */
struct resync_show {
    int show, tty;
    double start, last;
    struct rate_window window;
};

static void progress(struct resync_show *p, const struct mirror *m, uint64_t done,
                     uint64_t total, uint64_t bytes, int final)
{
    char h[32], re[64];
    double t = progress_now();
    rate_window_add(&p->window, t, bytes);
    /* The last line gives the average over the whole resync. */
    double rate = final ? (t > p->start ? (double)bytes / (t - p->start) : -1)
                        : rate_window_rate(&p->window);
    format_rate_eta(re, sizeof re, rate,
                    rate_eta_seconds(rate, (total - done) * (uint64_t)m->region_bytes));
    unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
    if (p->tty) {
        char bar[41];
        unsigned fill = pct * 40 / 100;
        memset(bar, '#', fill);
        memset(bar + fill, '.', 40 - fill);
        bar[40] = '\0';
        /* \033[K: erase what a longer previous line left */
        printf("\rresync [%s] %3u%% %" PRIu64 "/%" PRIu64 " regions %s, %s\033[K%s", bar, pct,
               done, total, mirror_human(bytes, h, sizeof h), re, final ? "\n" : "");
    } else {
        printf("resync: %" PRIu64 "/%" PRIu64 " regions (%u%%), %s copied, %s\n", done, total,
               pct, mirror_human(bytes, h, sizeof h), re);
    }
    fflush(stdout);
}

/* The live status of a resync (status=FILE of --status): state and counts. */
static void publish(struct status_publisher *sp, struct mirror *m, const char *state,
                    uint64_t total, uint64_t done, uint64_t bytes, int force)
{
    struct mirror_status st = {.resync_total = total, .resync_regions = done,
                               .resync_bytes = bytes};
    snprintf(st.state, sizeof st.state, "%s", state);
    int r = status_publish(sp, m, &st, force);
    if (r < 0 && sp->failed == 1) /* said once */
        fprintf(stderr, "dlmirror: cannot write the status file %s: %s (going on)\n", sp->path,
                strerror(-r));
}

int dlmirror_resync(struct mirror *m, int show, const char *status_path,
                    uint64_t *regions_out, uint64_t *bytes_out)
{
    uint64_t sync = 0;
    int r = dl_log_get_sync_count(m->log, &sync);
    if (r < 0) {
        snprintf(m->err, sizeof m->err, "get_sync_count: %s", dl_strerror(r));
        return r;
    }
    uint64_t total = m->region_count - sync, done = 0, bytes = 0;
    dl_rh *rh;
    if ((r = dl_rh_create(m->log, NULL, &rh)) < 0) {
        snprintf(m->err, sizeof m->err, "dl_rh_create: %s", dl_strerror(r));
        return r;
    }
    struct resync_show p = {.show = show, .tty = show && isatty(STDOUT_FILENO)};
    p.start = p.last = progress_now();
    rate_window_init(&p.window);
    rate_window_add(&p.window, p.start, 0);
    struct status_publisher sp;
    status_publisher_init(&sp, status_path, "dlmirror-resync", 1000);
    publish(&sp, m, "resyncing", total, 0, 0, 1);
    uint64_t region;
    while ((r = dl_rh_recovery_next(rh, &region)) == 1) {
        dl_rh_recovery_wait_idle(rh, region); /* nobody writes here; a no-op */
        int64_t n = mirror_copy_region(m, region);
        r = dl_rh_recovery_end(rh, region, n >= 0);
        if (n < 0) {
            r = (int)n;
            break;
        }
        if (r < 0) {
            snprintf(m->err, sizeof m->err, "recording region %" PRIu64 ": %s", region,
                     dl_strerror(r));
            break;
        }
        done++;
        bytes += (uint64_t)n;
        if (done > total)
            total = done;
        double t = progress_now();
        if (show && (t - p.last >= (p.tty ? 0.1 : 1.0))) {
            progress(&p, m, done, total, bytes, 0);
            p.last = t;
        }
        publish(&sp, m, "resyncing", total, done, bytes, 0);
    }
    if (r < 0 && !m->err[0])
        snprintf(m->err, sizeof m->err, "recovery: %s", dl_strerror(r));
    /* Persist: the log runs the legs' fdatasync before it writes the clean bits. */
    int64_t f = dl_rh_clear_idle(rh);
    if (r >= 0 && f < 0) {
        r = (int)f;
        snprintf(m->err, sizeof m->err, "log flush: %s", dl_strerror(r));
    }
    dl_rh_destroy(rh);
    publish(&sp, m, r < 0 ? "failed" : "stopped", total, done, bytes, 1);
    if (show)
        progress(&p, m, done, total, bytes, 1);
    if (regions_out)
        *regions_out = done;
    if (bytes_out)
        *bytes_out = bytes;
    return r < 0 ? r : 0;
}

static int cmd_resync(const struct cli *c)
{
    struct mirror m;
    if (open_mirror(c, &m) < 0)
        return 2;
    uint64_t regions, bytes;
    int r = dlmirror_resync(&m, 1, c->status, &regions, &bytes);
    if (r < 0) {
        fprintf(stderr, "dlmirror: resync: %s\n", m.err);
        mirror_close(&m, 0);
        return 2;
    }
    char h[32];
    printf("resynced %" PRIu64 " regions, %" PRIu64 " bytes (%s)\n", regions, bytes,
           mirror_human(bytes, h, sizeof h));
    mirror_close(&m, 1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "demo") == 0)
        return dlmirror_demo(argc - 2, argv + 2);
    if (strcmp(cmd, "rm-stale-socket") == 0)
        return dlmirror_rm_stale_socket(argc - 2, argv + 2);
    struct cli c;
    int known = !strcmp(cmd, "status") || !strcmp(cmd, "verify") || !strcmp(cmd, "resync");
    if (!known) {
        fprintf(stderr, "dlmirror: unknown command \"%s\"\n%s", cmd, usage);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    if (parse_cli(argc - 2, argv + 2, !strcmp(cmd, "resync"), !strcmp(cmd, "status"), &c) < 0)
        return 2;
    if (!strcmp(cmd, "status"))
        return cmd_status(&c);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(&c);
    return cmd_resync(&c);
}
