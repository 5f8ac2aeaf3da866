/* Benchmark of the `disk` log's flushes against raw baselines measured in the
 * same run, on a 1 TiB target at 64 KiB regions (region_size 128 sectors,
 * 16 Mi regions), both formats (native and format=dm):
 *
 *   1. log I/O per flush, counted by a dl_io wrapped around the POSIX one:
 *      a cold mark + flush, a re-mark + flush, a clear + flush; versus the
 *      kernel's disk log, modelled by writing its whole area (1 KiB header
 *      area + 2 MiB bitmap) with pwrite + fdatasync;
 *   2. flush latency (mark a cold region + flush) / a raw 4 KiB pwrite +
 *      fdatasync on the same file system, and the kernel model's latency;
 *   3. 16 threads each doing mark + flush on distinct cold regions: syncs per
 *      flush call and flushes/s, versus 16 threads doing pwrite + fdatasync.
 *
 * Samples of every kind are interleaved (the machine is noisy) and medians
 * are reported. The I/O counts are deterministic; with --check the program
 * exits 1 if they miss their goals (the ctest smoke test uses that). Timing
 * ratios are only printed.
 *
 *   bench_disk [--dir DIR] [--rounds N] [--quick] [--check]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#include "dirtylog.h"

#define TARGET_SECTORS (1ull << 31) /* 1 TiB */
#define REGION_SIZE "128"           /* 64 KiB */
#define NREGIONS (1ull << 24)
#define KERNEL_AREA (1024u + (unsigned)(NREGIONS / 8)) /* header area + bitmap, sector multiple */
#define RAW_BLOCK 4096
#define THREADS 16

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_disk: %s: %s (%s)\n", what, strerror(err < 0 ? -err : err),
            dl_last_error() ? dl_last_error() : "");
    exit(2);
}

/* ---- a dl_io that counts, around the POSIX one --------------------------- */

struct count_io {
    struct dl_io io;
    struct dl_io *inner;
    _Atomic uint64_t bytes, writes, syncs;
};

static struct count_io *cio(struct dl_io *io) { return io->priv; }

static int64_t c_pread(struct dl_io *io, void *buf, size_t len, uint64_t off)
{
    struct dl_io *in = cio(io)->inner;
    return in->pread(in, buf, len, off);
}

static int64_t c_pwrite(struct dl_io *io, const void *buf, size_t len, uint64_t off)
{
    struct dl_io *in = cio(io)->inner;
    int64_t n = in->pwrite(in, buf, len, off);
    if (n > 0) {
        atomic_fetch_add(&cio(io)->bytes, (uint64_t)n);
        atomic_fetch_add(&cio(io)->writes, 1);
    }
    return n;
}

static int c_sync(struct dl_io *io)
{
    struct dl_io *in = cio(io)->inner;
    atomic_fetch_add(&cio(io)->syncs, 1);
    return in->sync(in);
}

static int c_size(struct dl_io *io, uint64_t *bytes, uint32_t *lbs)
{
    struct dl_io *in = cio(io)->inner;
    return in->size(in, bytes, lbs);
}

static void c_close(struct dl_io *io)
{
    struct dl_io *in = cio(io)->inner;
    if (in->close)
        in->close(in);
    free(cio(io));
}

static struct count_io *count_io_open(const char *path)
{
    struct dl_io *inner;
    int r = dl_io_open_posix(path, 0, 0, &inner);
    if (r < 0)
        die(path, r);
    struct count_io *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc", ENOMEM);
    c->io = (struct dl_io){.struct_size = sizeof(struct dl_io), .pread = c_pread,
                           .pwrite = c_pwrite, .sync = c_sync, .size = c_size,
                           .close = c_close, .priv = c};
    c->inner = inner;
    return c;
}

struct counts {
    uint64_t bytes, writes, syncs;
};

static struct counts snap(struct count_io *c)
{
    return (struct counts){atomic_load(&c->bytes), atomic_load(&c->writes), atomic_load(&c->syncs)};
}

static struct counts since(struct count_io *c, struct counts a)
{
    struct counts b = snap(c);
    return (struct counts){b.bytes - a.bytes, b.writes - a.writes, b.syncs - a.syncs};
}

/* ---- the logs under test --------------------------------------------------- */

struct bench_log {
    const char *name; /* "native" or "dm" */
    char path[4096];
    dl_log *log;
    struct count_io *io;
    _Atomic uint64_t next_cold; /* index into cold_region() */
    _Atomic unsigned callbacks; /* engine flush callback runs */
};

/* The i-th never-marked region: an odd multiplier is a bijection mod 2^24,
 * so regions are distinct and spread over every bitmap block. */
static uint64_t cold_region(struct bench_log *b)
{
    uint64_t i = atomic_fetch_add(&b->next_cold, 1);
    if (i >= NREGIONS) {
        fprintf(stderr, "bench_disk: ran out of cold regions\n");
        exit(2);
    }
    return (i * 2654435761u + 12345) & (NREGIONS - 1);
}

static int count_callback(void *arg)
{
    atomic_fetch_add(&((struct bench_log *)arg)->callbacks, 1);
    return 0;
}

/* Create the log file (all regions in sync, so every mark is cold), then
 * reopen it through the counting dl_io. */
static void bench_log_open(struct bench_log *b, const char *dir, const char *name)
{
    b->name = name;
    snprintf(b->path, sizeof b->path, "%s/log-%s", dir, name);
    int dm = strcmp(name, "dm") == 0;
    const char *argv[4] = {b->path, REGION_SIZE, "nosync", "format=dm"};
    dl_log *log;
    int r = dl_log_create("disk", TARGET_SECTORS, dm ? 4 : 3, argv, &log);
    if (r < 0 || (r = dl_log_resume(log)) < 0 || (r = dl_log_postsuspend(log)) < 0)
        die("creating the log", r);
    dl_log_destroy(log);

    b->io = count_io_open(b->path);
    const char *argv2[3] = {b->path, REGION_SIZE, "format=dm"};
    r = dl_log_create_disk_io(TARGET_SECTORS, dm ? 3 : 2, argv2, &b->io->io, &b->log);
    if (r < 0)
        die("opening the log", r);
    if ((r = dl_log_set_flush_callback(b->log, count_callback, b)) < 0 ||
        (r = dl_log_resume(b->log)) < 0)
        die("resuming the log", r);
    uint64_t insync = 0;
    dl_log_get_sync_count(b->log, &insync);
    if (insync != NREGIONS) {
        fprintf(stderr, "bench_disk: %s log: %llu regions in sync, expected all\n", name,
                (unsigned long long)insync);
        exit(2);
    }
}

static void bench_log_close(struct bench_log *b)
{
    dl_log_destroy(b->log);
    unlink(b->path);
}

static void mark_flush(struct bench_log *b, uint64_t region)
{
    int r = dl_log_mark_region(b->log, region);
    if (r < 0 || (r = dl_log_flush(b->log)) < 0)
        die("mark + flush", r);
}

/* ---- raw baselines ----------------------------------------------------------- */

/* A file of `bytes`, written and synced once so later writes overwrite
 * allocated blocks, like the log's. */
static int prealloc_file(const char *path, size_t bytes)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path, errno);
    char *buf = calloc(1, bytes);
    if (!buf || pwrite(fd, buf, bytes, 0) != (ssize_t)bytes || fdatasync(fd) != 0)
        die(path, errno ? errno : EIO);
    free(buf);
    return fd;
}

static void raw_write_sync(int fd, const void *buf, size_t len, off_t off)
{
    if (pwrite(fd, buf, len, off) != (ssize_t)len || fdatasync(fd) != 0)
        die("raw pwrite + fdatasync", errno ? errno : EIO);
}

/* ---- statistics ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- 1. I/O per flush ------------------------------------------------------- */

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("  ** MISSED: %s\n", what);
        failures++;
    }
}

static void print_counts(const char *fmt, const char *what, struct counts c, const char *extra)
{
    printf("  %-6s %-26s %9llu %7llu %6llu  %s\n", fmt, what, (unsigned long long)c.bytes,
           (unsigned long long)c.writes, (unsigned long long)c.syncs, extra);
}

static void io_counts(struct bench_log *b, struct counts kernel)
{
    /* Several cold regions: the figure is the worst of them. */
    struct counts worst = {0, 0, 0};
    int same_every_time = 1;
    uint64_t region = 0;
    for (int i = 0; i < 8; i++) {
        region = cold_region(b);
        struct counts a = snap(b->io);
        mark_flush(b, region);
        struct counts c = since(b->io, a);
        if (i > 0 && (c.bytes != worst.bytes || c.syncs != worst.syncs))
            same_every_time = 0;
        if (c.bytes > worst.bytes)
            worst.bytes = c.bytes;
        if (c.writes > worst.writes)
            worst.writes = c.writes;
        if (c.syncs > worst.syncs)
            worst.syncs = c.syncs;
    }
    char extra[160];
    snprintf(extra, sizeof extra, "kernel %llu B / %llu sync: %.0fx fewer bytes%s",
             (unsigned long long)kernel.bytes, (unsigned long long)kernel.syncs,
             (double)kernel.bytes / (double)(worst.bytes ? worst.bytes : 1),
             same_every_time ? "" : " (varied: worst shown)");
    print_counts(b->name, "cold mark + flush", worst, extra);
    check(worst.bytes <= 4096 && worst.bytes > 0, "cold mark + flush writes <= 4096 bytes");
    check(worst.syncs == 1, "cold mark + flush does exactly 1 sync");

    struct counts a = snap(b->io);
    mark_flush(b, region);
    struct counts re = since(b->io, a);
    print_counts(b->name, "re-mark dirty + flush", re, "goal 0 / 0");
    check(re.bytes == 0 && re.writes == 0 && re.syncs == 0, "re-mark + flush does no I/O");

    unsigned cb0 = atomic_load(&b->callbacks);
    a = snap(b->io);
    int r = dl_log_clear_region(b->log, region);
    if (r < 0 || (r = dl_log_flush(b->log)) < 0)
        die("clear + flush", r);
    struct counts cl = since(b->io, a);
    snprintf(extra, sizeof extra, "no log sync; engine flush callback ran %u time(s) first",
             atomic_load(&b->callbacks) - cb0);
    print_counts(b->name, "clear + flush", cl, extra);
    check(cl.bytes > 0 && cl.bytes <= 4096 && cl.syncs == 0, "clear + flush writes, no sync");
    check(atomic_load(&b->callbacks) - cb0 == 1, "clear + flush runs the engine flush callback");
}


/* ---- the library's own CPU cost: a log on a memory dl_io -------------------- */

struct mem_io {
    struct dl_io io;
    uint8_t *buf;
    size_t len;
};

static int64_t m_pread(struct dl_io *io, void *buf, size_t len, uint64_t off)
{
    struct mem_io *m = io->priv;
    if (off >= m->len)
        return 0;
    size_t n = len < m->len - off ? len : m->len - (size_t)off;
    memcpy(buf, m->buf + off, n);
    return (int64_t)n;
}

static int64_t m_pwrite(struct dl_io *io, const void *buf, size_t len, uint64_t off)
{
    struct mem_io *m = io->priv;
    if (off > m->len || len > m->len - off)
        return -ENOSPC;
    memcpy(m->buf + off, buf, len);
    return (int64_t)len;
}

static int m_sync(struct dl_io *io)
{
    (void)io;
    return 0;
}

static int m_size(struct dl_io *io, uint64_t *bytes, uint32_t *lbs)
{
    *bytes = ((struct mem_io *)io->priv)->len;
    *lbs = 512;
    return 0;
}

static void m_close(struct dl_io *io)
{
    free(((struct mem_io *)io->priv)->buf);
    free(io->priv);
}

/* Median us of a cold mark + flush when the device costs nothing (memcpy,
 * no sync): what the library adds to the raw pwrite + fdatasync. */
static double software_us(int dm, int samples)
{
    struct mem_io *m = calloc(1, sizeof *m);
    if (!m)
        die("calloc", ENOMEM);
    m->len = dm ? KERNEL_AREA : 8192 + NREGIONS / 8;
    if (!(m->buf = calloc(1, m->len)))
        die("calloc", ENOMEM);
    m->io = (struct dl_io){.struct_size = sizeof(struct dl_io), .pread = m_pread,
                           .pwrite = m_pwrite, .sync = m_sync, .size = m_size,
                           .close = m_close, .priv = m};
    struct bench_log b;
    memset(&b, 0, sizeof b);
    const char *argv[4] = {"mem", REGION_SIZE, "nosync", "format=dm"};
    int r = dl_log_create_disk_io(TARGET_SECTORS, dm ? 4 : 3, argv, &m->io, &b.log);
    if (r < 0 || (r = dl_log_resume(b.log)) < 0)
        die("memory log", r);
    double *v = calloc((size_t)samples, sizeof *v);
    if (!v)
        die("calloc", ENOMEM);
    for (int i = 0; i < samples; i++) {
        uint64_t region = cold_region(&b);
        double t0 = now_us();
        mark_flush(&b, region);
        v[i] = now_us() - t0;
    }
    double med = median(v, (size_t)samples);
    free(v);
    dl_log_destroy(b.log);
    return med;
}

/* ---- 2. latency --------------------------------------------------------------- */

enum kind { K_RAW, K_NATIVE, K_DM, K_KERNEL, K_COUNT };
static const char *const kind_name[K_COUNT] = {
    "raw 4 KiB pwrite + fdatasync", "native: mark cold + flush", "dm: mark cold + flush",
    "kernel model: 2 MiB+1 KiB + fdatasync"};

struct lat_ctx {
    struct bench_log *logs; /* [0] native, [1] dm */
    int raw_fd, kernel_fd;
    char *kernel_buf;
    char raw_buf[RAW_BLOCK];
    uint64_t raw_blocks;
    unsigned seed;
};

static double one_sample(struct lat_ctx *c, enum kind k)
{
    double t0;
    switch (k) {
    case K_RAW: {
        off_t off = (off_t)((uint64_t)rand_r(&c->seed) % c->raw_blocks) * RAW_BLOCK;
        c->raw_buf[0]++;
        t0 = now_us();
        raw_write_sync(c->raw_fd, c->raw_buf, RAW_BLOCK, off);
        break;
    }
    case K_NATIVE:
    case K_DM: {
        struct bench_log *b = &c->logs[k == K_DM];
        uint64_t region = cold_region(b);
        t0 = now_us();
        mark_flush(b, region);
        break;
    }
    default:
        c->kernel_buf[1024]++;
        t0 = now_us();
        raw_write_sync(c->kernel_fd, c->kernel_buf, KERNEL_AREA, 0);
        break;
    }
    return now_us() - t0;
}

static void latency(struct lat_ctx *c, int rounds, int per_round)
{
    size_t n = (size_t)rounds * (size_t)per_round;
    double *all[K_COUNT], *rnd[K_COUNT], *ratio[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) {
        all[k] = calloc(n, sizeof(double));
        rnd[k] = calloc((size_t)per_round, sizeof(double));
        ratio[k] = calloc((size_t)rounds, sizeof(double));
        if (!all[k] || !rnd[k] || !ratio[k])
            die("calloc", ENOMEM);
    }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < per_round; i++)
            for (int j = 0; j < K_COUNT; j++) {
                /* Rotate the order so no kind always follows another. */
                enum kind k = (enum kind)((i + j + r) % K_COUNT);
                double us = one_sample(c, k);
                rnd[k][i] = us;
                all[k][(size_t)r * (size_t)per_round + (size_t)i] = us;
            }
        double raw = median(rnd[K_RAW], (size_t)per_round);
        for (int k = 0; k < K_COUNT; k++)
            ratio[k][r] = median(rnd[k], (size_t)per_round) / raw;
    }
    double raw = median(all[K_RAW], n);
    printf("\n2. Flush latency: median of %d rounds x %d interleaved samples\n", rounds, per_round);
    printf("  %-40s %10s %8s %21s  %s\n", "", "median us", "ratio", "per-round ratio", "goal");
    for (int k = 0; k < K_COUNT; k++) {
        double med = median(all[k], n);
        double rmed = median(ratio[k], (size_t)rounds); /* sorts ratio[k] */
        printf("  %-40s %10.1f %7.2fx  %5.2fx [%5.2f..%5.2f]  %s\n", kind_name[k], med, med / raw,
               rmed, ratio[k][0], ratio[k][rounds - 1],
               k == K_NATIVE || k == K_DM ? "<= 1.2x" : "");
    }
    int sw = per_round * rounds * 4;
    double sn = software_us(0, sw), sd = software_us(1, sw);
    printf("  library CPU per cold mark + flush (memory dl_io, no sync), median of %d samples:\n"
           "    native %.2f us, dm %.2f us = %.4f / %.4f of the raw median above\n",
           sw, sn, sd, sn / raw, sd / raw);
    for (int k = 0; k < K_COUNT; k++) {
        free(all[k]);
        free(rnd[k]);
        free(ratio[k]);
    }
}

/* ---- 3. 16 threads ------------------------------------------------------------ */

struct thr_job {
    struct bench_log *b; /* NULL: raw */
    int raw_fd;
    int ops;
    int idx;
    pthread_barrier_t *start;
};

static void *thr_run(void *p)
{
    struct thr_job *j = p;
    char buf[RAW_BLOCK];
    memset(buf, j->idx, sizeof buf);
    pthread_barrier_wait(j->start);
    for (int i = 0; i < j->ops; i++) {
        if (j->b)
            mark_flush(j->b, cold_region(j->b));
        else
            raw_write_sync(j->raw_fd, buf, RAW_BLOCK, (off_t)j->idx * RAW_BLOCK * 8);
    }
    return NULL;
}

/* Flush calls per second; *syncs_per_call for a log. */
static double thr_phase(struct bench_log *b, int raw_fd, int ops, double *syncs_per_call)
{
    pthread_t th[THREADS];
    struct thr_job job[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS + 1);
    struct counts a = b ? snap(b->io) : (struct counts){0, 0, 0};
    for (int i = 0; i < THREADS; i++) {
        job[i] = (struct thr_job){b, raw_fd, ops, i, &start};
        if (pthread_create(&th[i], NULL, thr_run, &job[i]) != 0)
            die("pthread_create", EAGAIN);
    }
    pthread_barrier_wait(&start);
    double t0 = now_us();
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double us = now_us() - t0;
    pthread_barrier_destroy(&start);
    double calls = (double)THREADS * ops;
    if (b)
        *syncs_per_call = (double)since(b->io, a).syncs / calls;
    return calls / (us / 1e6);
}

static void threads(struct bench_log *logs, int raw_fd, int rounds, int ops)
{
    double rate[3][64], spc[3][64] = {{0}};
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < 3; j++) {
            int k = (j + r) % 3; /* 0 raw, 1 native, 2 dm */
            rate[k][r] = thr_phase(k ? &logs[k - 1] : NULL, raw_fd, ops, &spc[k][r]);
        }
    printf("\n3. %d threads, each: mark a cold region + flush (or raw 4 KiB pwrite + fdatasync)\n"
           "   %d calls per thread per round, %d rounds, medians\n",
           THREADS, ops, rounds);
    printf("  %-30s %12s %9s %14s  %s\n", "", "flushes/s", "vs raw", "syncs/flush", "goal");
    static const char *const name[3] = {"raw pwrite + fdatasync", "native: mark + flush",
                                        "dm: mark + flush"};
    double raw = 0;
    for (int k = 0; k < 3; k++) {
        double med = median(rate[k], (size_t)rounds);
        double s = median(spc[k], (size_t)rounds);
        double worst = spc[k][rounds - 1]; /* sorted by median() */
        if (k == 0)
            raw = med;
        if (k == 0)
            printf("  %-30s %12.0f %8.2fx %14s\n", name[k], med, 1.0, "1 per call");
        else
            printf("  %-30s %12.0f %8.2fx %6.3f (max %5.3f)  <= 0.1\n", name[k], med, med / raw, s,
                   worst);
    }
}

/* ---- main --------------------------------------------------------------------- */

static const char *fs_name(const char *dir, unsigned long *magic)
{
    *magic = 0;
#ifdef __linux__
    struct statfs sf;
    if (statfs(dir, &sf) != 0)
        return "unknown (statfs failed)";
    *magic = (unsigned long)sf.f_type;
    switch (*magic) {
    case 0xEF53: return "ext2/ext3/ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs (fdatasync is free: timings meaningless)";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0xF2F52010: return "f2fs";
    case 0x6969: return "nfs";
    default: return "other";
    }
#else
    (void)dir;
    return "unknown";
#endif
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_disk [--dir DIR] [--rounds N] [--quick] [--check]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int rounds = 5, quick = 0, check_goals = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--check") == 0)
            check_goals = 1;
        else
            usage();
    }
    if (quick)
        rounds = 2;
    if (rounds < 1 || rounds > 64)
        usage();
    int per_round = quick ? 4 : 100, thr_ops = quick ? 2 : 100;

    char made[] = "/var/tmp/bench_disk.XXXXXX";
    char workdir[4096];
    if (dir) {
        snprintf(workdir, sizeof workdir, "%s/bench_disk.XXXXXX", dir);
        if (!mkdtemp(workdir))
            die(workdir, errno);
    } else {
        if (!mkdtemp(made))
            die(made, errno);
        snprintf(workdir, sizeof workdir, "%s", made);
    }
    unsigned long magic;
    const char *fs = fs_name(workdir, &magic);
    printf("bench_disk: 1 TiB target, region_size %s sectors (64 KiB), %llu regions\n",
           REGION_SIZE, (unsigned long long)NREGIONS);
    printf("dir %s: file system %s (statfs f_type 0x%lx); nproc %ld; rounds %d%s\n", workdir, fs,
           magic, sysconf(_SC_NPROCESSORS_ONLN), rounds, quick ? " (--quick)" : "");

    struct bench_log logs[2];
    memset(logs, 0, sizeof logs);
    bench_log_open(&logs[0], workdir, "native");
    bench_log_open(&logs[1], workdir, "dm");

    /* Kernel model: the whole area, written and synced, counted the same way. */
    char kpath[4200], rpath[4200];
    snprintf(kpath, sizeof kpath, "%s/kernel-model", workdir);
    snprintf(rpath, sizeof rpath, "%s/raw", workdir);
    close(prealloc_file(kpath, KERNEL_AREA));
    struct count_io *kio = count_io_open(kpath);
    char *kbuf = calloc(1, KERNEL_AREA);
    if (!kbuf)
        die("calloc", ENOMEM);
    memset(kbuf + 1024, 0xff, KERNEL_AREA - 1024);
    struct counts a = snap(kio);
    int64_t w = kio->io.pwrite(&kio->io, kbuf, KERNEL_AREA, 0);
    if (w != KERNEL_AREA || kio->io.sync(&kio->io) < 0)
        die("kernel model write", EIO);
    struct counts kernel = since(kio, a);

    printf("\n1. Log I/O per flush, counted at the dl_io (kernel model: whole area per flush)\n");
    printf("  %-6s %-26s %9s %7s %6s\n", "format", "operation", "bytes", "writes", "syncs");
    io_counts(&logs[0], kernel);
    io_counts(&logs[1], kernel);
    printf("  goals: cold mark + flush <= 4096 bytes and 1 sync; re-mark 0 / 0; clear: no sync\n");

    struct lat_ctx lc = {.logs = logs, .seed = 42, .kernel_buf = kbuf};
    lc.raw_fd = prealloc_file(rpath, 8192 + NREGIONS / 8); /* the native log's size */
    lc.raw_blocks = (8192 + NREGIONS / 8) / RAW_BLOCK;
    lc.kernel_fd = open(kpath, O_RDWR | O_CLOEXEC);
    if (lc.kernel_fd < 0)
        die(kpath, errno);
    latency(&lc, rounds, per_round);
    threads(logs, lc.raw_fd, rounds, thr_ops);

    close(lc.raw_fd);
    close(lc.kernel_fd);
    kio->io.close(&kio->io);
    free(kbuf);
    bench_log_close(&logs[0]);
    bench_log_close(&logs[1]);
    unlink(kpath);
    unlink(rpath);
    rmdir(workdir);
    if (failures)
        printf("\n%d deterministic goal(s) missed\n", failures);
    return check_goals && failures ? 1 : 0;
}
