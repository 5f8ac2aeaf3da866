/* `dlmirror demo`: the crash-and-resync story end to end, on temporary files.
 *
 *  1. two 64 MiB legs (identical: all zero) and a `disk` log, 64 KiB regions;
 *  2. a writer child does random writes through the write-intent layer
 *     (begin -> leg 0 -> leg 1 -> end, dl_rh_flush every few writes) and
 *     acknowledges each one through a pipe; after the last one it begins a
 *     few more, writes them to leg 0 only and says so: the parent SIGKILLs it
 *     right there, with those writes in flight (no sleeps anywhere);
 *  3. the parent reopens the log and checks: regions where the legs differ
 *     are a subset of the dirty regions;
 *  4. it resyncs only the dirty regions, verifies the legs are identical and
 *     the log is all clean, and prints what a full resync would have cost. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlmirror.h"
#include "log_internal.h" /* dl__parse_u64 */
#include "mirror.h"

#define DEMO_SIZE (64u << 20)
#define DEMO_REGION_SECTORS 128 /* 64 KiB */
#define DEMO_IN_FLIGHT 4
#define DEMO_FLUSH_EVERY 25
#define DEMO_MAX_WRITES 1000000u /* about a minute of writes; more shows nothing new */

struct demo {
    char dir[4096];
    char leg_path[2][4200];
    char *legs[2];
    char log_path[4200];
    char table_new[4400];  /* creates the log: legs are identical */
    char table_open[4400]; /* reopens it as it is */
    unsigned writes;
    uint64_t seed;
};

static uint64_t next_random(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A random write: 512-byte aligned, 4 KiB .. 64 KiB, random bytes. */
static void random_write(uint64_t *s, char *buf, uint64_t *off, size_t *len)
{
    *len = (size_t)(1 + next_random(s) % 16) * 4096;
    *off = next_random(s) % ((DEMO_SIZE - *len) / 512 + 1) * 512;
    for (size_t i = 0; i < *len; i += 8) {
        uint64_t v = next_random(s);
        memcpy(buf + i, &v, 8);
    }
}

static void say(int fd, char c)
{
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

/* The writer: never returns. Reports 'w' per acknowledged write, 'S' once
 * the in-flight writes have reached leg 0 only, 'E' on any error. */
static void writer(const struct demo *d, int ack, int hold)
{
    struct mirror m;
    dl_rh *rh = NULL;
    static char buf[64 << 10];
    uint64_t s = d->seed, off;
    size_t len;
    if (mirror_open_legs(&m, 2, d->legs, 0, 0) < 0 || mirror_open_log(&m, d->table_open) < 0) {
        fprintf(stderr, "writer: %s\n", m.err);
        goto fail;
    }
    struct dl_rh_options o = {.struct_size = sizeof o, .hot_periods = 1};
    if (dl_rh_create(m.log, &o, &rh) < 0)
        goto fail;
    for (unsigned i = 0; i < d->writes; i++) {
        random_write(&s, buf, &off, &len);
        if (dl_rh_begin_write(rh, off, len, 0) < 0)
            goto fail;
        int r = mirror_write_leg(&m, 0, buf, len, off);
        if (r == 0)
            r = mirror_write_leg(&m, 1, buf, len, off);
        if (dl_rh_end_write(rh, off, len, r) < 0 || r < 0)
            goto fail;
        say(ack, 'w');
        if ((i + 1) % DEMO_FLUSH_EVERY == 0 && dl_rh_flush(rh) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < DEMO_IN_FLIGHT; i++) {
        random_write(&s, buf, &off, &len);
        if (dl_rh_begin_write(rh, off, len, 0) < 0 || mirror_write_leg(&m, 0, buf, len, off) < 0)
            goto fail;
        /* leg 1 would be written here: the SIGKILL comes first */
    }
    say(ack, 'S');
    char c;
    while (read(hold, &c, 1) < 0 && errno == EINTR)
        ;
fail:
    say(ack, 'E');
    _exit(3);
}

/* A number option's value: digits only, at most max. 0, or -1 with a message. */
static int number_arg(const char *opt, const char *val, uint64_t max, uint64_t *out)
{
    int r = dl__parse_u64(val, out);
    if (r == 0 && *out <= max)
        return 0;
    if (r == -EINVAL)
        fprintf(stderr, "dlmirror demo: %s \"%s\" is not an unsigned decimal number\n", opt, val);
    else
        fprintf(stderr, "dlmirror demo: %s %s is too large (at most %" PRIu64 ")\n", opt, val, max);
    return -1;
}

static int setup(struct demo *d, int argc, char **argv, int *keep)
{
    const char *base = NULL;
    uint64_t v;
    d->writes = 400;
    d->seed = 42;
    *keep = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has_value = !strcmp(a, "--dir") || !strcmp(a, "--writes") || !strcmp(a, "--seed");
        if (has_value && i + 1 >= argc) {
            fprintf(stderr, "dlmirror demo: %s needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--keep")) {
            *keep = 1;
        } else if (!strcmp(a, "--dir")) {
            base = argv[++i];
        } else if (!strcmp(a, "--writes")) {
            if (number_arg(a, argv[++i], DEMO_MAX_WRITES, &v) < 0)
                return -1;
            d->writes = (unsigned)v;
        } else if (!strcmp(a, "--seed")) {
            if (number_arg(a, argv[++i], UINT64_MAX, &d->seed) < 0)
                return -1;
        } else {
            fprintf(stderr, "dlmirror demo: unknown argument \"%s\" (see --help)\n", a);
            return -1;
        }
    }
    if (!base)
        base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(d->dir, sizeof d->dir, "%s/dlmirror-demo-XXXXXX", base);
    if (!mkdtemp(d->dir)) {
        fprintf(stderr, "dlmirror demo: mkdtemp %s: %s\n", d->dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(d->leg_path[i], sizeof d->leg_path[i], "%s/leg%d.img", d->dir, i);
        d->legs[i] = d->leg_path[i];
    }
    snprintf(d->log_path, sizeof d->log_path, "%s/mirror.log", d->dir);
    snprintf(d->table_new, sizeof d->table_new, "disk 3 %s %d nosync", d->log_path,
             DEMO_REGION_SECTORS);
    snprintf(d->table_open, sizeof d->table_open, "disk 2 %s %d", d->log_path,
             DEMO_REGION_SECTORS);
    return 0;
}

static void cleanup(const struct demo *d)
{
    unlink(d->leg_path[0]);
    unlink(d->leg_path[1]);
    unlink(d->log_path);
    rmdir(d->dir);
}

/* Run the writer and kill it mid-write. 0 or -1. */
static int crash_writer(const struct demo *d, unsigned *acked)
{
    int ack[2], hold[2];
    if (pipe(ack) != 0 || pipe(hold) != 0) {
        perror("dlmirror demo: pipe");
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("dlmirror demo: fork");
        return -1;
    }
    if (pid == 0) {
        close(ack[0]);
        close(hold[1]);
        writer(d, ack[1], hold[0]);
    }
    close(ack[1]);
    close(hold[0]);
    char c = 0;
    *acked = 0;
    for (;;) {
        ssize_t n = read(ack[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c != 'w')
            break;
        ++*acked;
    }
    int killed = c == 'S' && kill(pid, SIGKILL) == 0;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    close(ack[0]);
    close(hold[1]);
    if (!killed || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        fprintf(stderr, "dlmirror demo: the writer failed before the crash point\n");
        return -1;
    }
    printf("writer:  pid %ld, %u writes acknowledged, %d more in flight "
           "(on leg 0, not yet on leg 1) -> SIGKILL\n",
           (long)pid, *acked, DEMO_IN_FLIGHT);
    return 0;
}

static void print_list(const char *what, const uint64_t *r, uint64_t n)
{
    printf("  %s:", what);
    for (uint64_t i = 0; i < n && i < 16; i++)
        printf(" %" PRIu64, r[i]);
    printf(n > 16 ? " … (%" PRIu64 ")\n" : "\n", n);
}

static int after_crash(const struct demo *d)
{
    struct mirror m;
    int ok = 1;
    if (mirror_open_legs(&m, 2, d->legs, 0, 0) < 0 || mirror_open_log(&m, d->table_open) < 0) {
        fprintf(stderr, "dlmirror demo: %s\n", m.err);
        return -1;
    }
    uint64_t n = m.region_count, ndirty = 0, ndiff = 0, outside = 0;
    uint64_t *dirty = calloc(n, sizeof *dirty), *diff = calloc(n, sizeof *diff);
    for (uint64_t r = 0; dirty && diff && r < n; r++) {
        int k = mirror_region_dirty(&m, r), x = mirror_region_differs(&m, r);
        if (k < 0 || x < 0) {
            fprintf(stderr, "dlmirror demo: %s\n", m.err);
            ok = 0;
            break;
        }
        if (k)
            dirty[ndirty++] = r;
        if (x)
            diff[ndiff++] = r;
        if (x && !k)
            outside++;
    }
    printf("log:     %" PRIu64 " of %" PRIu64 " regions dirty after the crash\n", ndirty, n);
    print_list("dirty regions  ", dirty, ndirty);
    print_list("legs differ in ", diff, ndiff);
    if (outside || ndiff == 0) {
        printf("FAILED: %s\n", outside ? "a region differs but the log has it clean"
                                       : "the crash left no difference to repair");
        ok = 0;
    } else {
        printf("check:   the %" PRIu64 " differing regions are all dirty in the log: OK\n",
               ndiff);
    }
    uint64_t regions = 0, bytes = 0;
    if (ok && dlmirror_resync(&m, 0, NULL, &regions, &bytes) < 0) {
        fprintf(stderr, "dlmirror demo: resync: %s\n", m.err);
        ok = 0;
    }
    char h1[32], h2[32];
    if (ok) {
        printf("resync:  %" PRIu64 " regions dirty, %" PRIu64 " bytes resynced (%s); "
               "a full resync would copy %" PRIu64 " bytes (%s): %.2f%%\n",
               regions, bytes, mirror_human(bytes, h1, sizeof h1), m.size,
               mirror_human(m.size, h2, sizeof h2), 100.0 * (double)bytes / (double)m.size);
        if (regions != ndirty || bytes != ndirty * m.region_bytes) {
            printf("FAILED: resynced %" PRIu64 " regions, expected the %" PRIu64 " dirty ones\n",
                   regions, ndirty);
            ok = 0;
        }
    }
    for (uint64_t r = 0; ok && r < n; r++)
        if (mirror_region_differs(&m, r) != 0) {
            printf("FAILED: region %" PRIu64 " still differs after the resync\n", r);
            ok = 0;
        }
    mirror_close(&m, ok);
    free(dirty);
    free(diff);
    if (!ok)
        return -1;

    /* Reopen: the log must now say everything is clean and in sync. */
    if (mirror_open_legs(&m, 2, d->legs, 0, 0) < 0 || mirror_open_log(&m, d->table_open) < 0) {
        fprintf(stderr, "dlmirror demo: %s\n", m.err);
        return -1;
    }
    uint64_t sync = 0, still = 0;
    dl_log_get_sync_count(m.log, &sync);
    for (uint64_t r = 0; r < n; r++)
        still += mirror_region_dirty(&m, r) != 0;
    mirror_close(&m, 0);
    printf("verify:  legs identical; log after reopening: %" PRIu64 "/%" PRIu64
           " regions in sync, %" PRIu64 " dirty\n", sync, n, still);
    if (sync != n || still) {
        printf("FAILED: the log is not clean after the resync\n");
        return -1;
    }
    return 0;
}

int dlmirror_demo(int argc, char **argv)
{
    struct demo d;
    int keep;
    if (setup(&d, argc, argv, &keep) < 0)
        return 2;
    char h1[32], h2[32];
    printf("mirror:  2 legs of %s, log \"%s\" (%s regions) in %s\n",
           mirror_human(DEMO_SIZE, h1, sizeof h1), d.table_open,
           mirror_human(DEMO_REGION_SECTORS * 512, h2, sizeof h2), d.dir);
    struct mirror m;
    int ok = mirror_open_legs(&m, 2, d.legs, DEMO_SIZE, MIRROR_CREATE) == 0 &&
             mirror_open_log(&m, d.table_new) == 0;
    if (!ok)
        fprintf(stderr, "dlmirror demo: %s\n", m.err);
    mirror_close(&m, 1);
    unsigned acked = 0;
    ok = ok && crash_writer(&d, &acked) == 0 && after_crash(&d) == 0;
    printf("%s\n", ok ? "demo: OK — only the dirty regions were copied, and they were enough"
                      : "demo: FAILED");
    if (keep) {
        printf("kept %s; look at it with:\n  dlmirror status --log \"%s\" %s %s\n", d.dir,
               d.table_open, d.leg_path[0], d.leg_path[1]);
    } else {
        cleanup(&d);
    }
    return ok ? 0 : 1;
}
