/* The sparse set of src/bitmap against CRoaring, built in the same run
 * (issue 12 §1). Prints every figure with its ratio to CRoaring (or, where
 * CRoaring cannot follow, to our own empty map) and whether its goal is met.
 *
 *   bench_bitmap [--log2 N] [--ops N] [--rounds R] [--big-log2 N] [--clear-bits N]
 *
 * Part 1, at 2^N bits (--log2, default 32: CRoaring's 32-bit set), three
 * workloads, each built into both sets from the same list of positions:
 *   random  each bit set with probability 1% (seeded)
 *   runs    1,000 consecutive bits every 100,000 (1%)
 *   sparse  1,000 bits at random positions
 * For each: heap bytes after building (CRoaring after run_optimize and
 * shrink_to_fit, and as built); iteration (ns per set bit, visiting every set
 * bit in order); single-bit set of new bits while building, in ascending
 * order and (a sample of about --ops bits held back) in random order, and of
 * --ops bits already set; test of --ops random probes, half of them hits.
 *
 * Part 2, our set only (CRoaring has no 2^40): in a map of 2^40 bits
 * (--big-log2) and one of 2^30, set --clear-bits random bits, then clear them
 * all: the first find_next_set(0) after the mass clear ÷ the same search on
 * a fresh empty map (nothing remains set, so that is the fair comparison),
 * and then, after compact+reclaim where available, memory ÷ the empty map's.
 * (Single calls are timed with both clocks: see search_once.)
 *
 * Time is CPU time of the thread (CLOCK_THREAD_CPUTIME_ID), the median of R
 * rounds that alternate ours and CRoaring, so drift on the shared machine
 * hits both alike. Heap bytes come from glibc's mallinfo2() (in-use bytes of
 * the main arena plus mmapped chunks) as deltas around each side's own calls,
 * so both sides are measured the same way, malloc's headers and alignment
 * padding included. The program is single-threaded: mallinfo2 sees only the
 * main arena. (Freed chunks cached in glibc's per-thread cache still count as
 * in use: an error of a few KiB at most.) */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <roaring/roaring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitmap/bitmap.h"

#define MAX_ROUNDS 31
#define MIB (1024.0 * 1024.0)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long long heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long long)(mi.uordblks + mi.hblkhd);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

/* Each bit of [0, nbits) set independently with probability prob, as an
 * ascending list: the gaps between set bits are geometric. Returns the count
 * (at most cap). */
static size_t random_bits(uint32_t *pos, size_t cap, uint64_t nbits, double prob, uint64_t *s)
{
    size_t n = 0;
    double scale = 1 / log1p(-prob);
    for (uint64_t b = (uint64_t)(log1p(-uniform(s)) * scale); b < nbits && n < cap;
         b += 1 + (uint64_t)(log1p(-uniform(s)) * scale))
        pos[n++] = (uint32_t)b;
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Every set bit of our map in order: count and sum of positions, read in
 * batches of 256 (dl__bitmap_iter_next_set_batch, its fastest use). */
static uint64_t ours_visit_all(const struct bitmap *bm, uint64_t *sum)
{
    struct dl__bitmap_iter it;
    uint64_t n = 0, s = 0, buf[256];
    dl__bitmap_iter_init(&it, bm, 0);
    for (size_t got; (got = dl__bitmap_iter_next_set_batch(&it, buf, 256)) > 0;) {
        for (size_t i = 0; i < got; i++)
            s += buf[i];
        n += got;
    }
    *sum = s;
    return n;
}

/* The same one bit per call (dl__bitmap_iter_next_set). */
static uint64_t ours_visit_single(const struct bitmap *bm, uint64_t *sum)
{
    struct dl__bitmap_iter it;
    uint64_t n = 0, s = 0, found;
    dl__bitmap_iter_init(&it, bm, 0);
    while (dl__bitmap_iter_next_set(&it, &found) == 1) {
        n++;
        s += found;
    }
    *sum = s;
    return n;
}

/* Give back what the map no longer needs after building or clearing (an
 * exclusive point: the bench is single-threaded). Returns whether it did
 * anything (printed, so a figure says what it measured). */
static int ours_trim(struct bitmap *bm)
{
    dl__bitmap_compact(bm);
    dl__bitmap_reclaim(bm);
    return 1;
}

struct roaring_visit {
    uint64_t n, sum;
};

static bool roaring_visit_one(uint32_t value, void *arg)
{
    struct roaring_visit *v = arg;
    v->n++;
    v->sum += value;
    return true;
}

static uint64_t roaring_visit_iterate(const roaring_bitmap_t *cr, uint64_t *sum)
{
    struct roaring_visit v = {0, 0};
    roaring_iterate(cr, roaring_visit_one, &v);
    *sum = v.sum;
    return v.n;
}

/* The uint32 iterator, read in batches (its fastest use). */
static uint64_t roaring_visit_batches(const roaring_bitmap_t *cr, uint64_t *sum)
{
    roaring_uint32_iterator_t it;
    uint32_t buf[256];
    uint64_t n = 0, s = 0;
    roaring_init_iterator(cr, &it);
    for (uint32_t got; (got = roaring_read_uint32_iterator(&it, buf, 256)) > 0;) {
        for (uint32_t i = 0; i < got; i++)
            s += buf[i];
        n += got;
    }
    *sum = s;
    return n;
}

/* One row of the table: the two figures, their ratio (named: "ours/empty",
 * "CRoaring/ours" ...) and whether it meets its goal. */
enum goal_kind { NO_GOAL, AT_MOST, AT_LEAST, ABOVE };

static int missed; /* goals missed, for the summary line */

/* Two decimals while they matter, none past 10,000. */
static const char *num(char *buf, size_t size, double v)
{
    snprintf(buf, size, v < 1e4 ? "%.2f" : "%.0f", v);
    return buf;
}

static void row(const char *figure, const char *workload, double ours, double base,
                const char *unit, const char *ratio_name, double ratio, enum goal_kind kind,
                double goal)
{
    static const char *const goal_op[] = {"", "<=", ">=", ">"};
    char a[32], b[32], c[32];
    int met = kind == AT_MOST   ? ratio <= goal
              : kind == AT_LEAST ? ratio >= goal
                                 : ratio > goal;
    printf("%-22s %-6s %11s %-3s %10s %-3s %-13s %9s", figure, workload, num(a, sizeof a, ours),
           unit, num(b, sizeof b, base), unit, ratio_name, num(c, sizeof c, ratio));
    if (kind == NO_GOAL) {
        printf("\n");
        return;
    }
    printf("  %s %g %s\n", goal_op[kind], goal, met ? "met" : "MISSED");
    missed += !met;
}

/* ns per op, ours against CRoaring: the goal is to stay faster. */
static void speed_row(const char *figure, const char *workload, double ours, double cr)
{
    row(figure, workload, ours, cr, "ns", "CRoaring/ours", cr / ours, ABOVE, 1);
}

struct params {
    unsigned log2, big_log2;
    size_t ops, clear_bits;
    int rounds;
};

/* Both sets under test, and the heap bytes each has taken so far. */
struct sets {
    struct bitmap *bm;
    roaring_bitmap_t *cr;
    long long ours_heap, cr_heap;
};

/* Set pos[0..n) in both, in R slices alternating the two sets: the median
 * CPU ns per set of ours (med[0]) and CRoaring (med[1]). 0 or -ENOMEM. */
static int build_slices(struct sets *w, const uint32_t *pos, size_t n, int R, double med[2])
{
    double t[2][MAX_ROUNDS];
    for (int r = 0; r < R; r++) {
        size_t lo = n * (size_t)r / (size_t)R, hi = n * (size_t)(r + 1) / (size_t)R;
        double len = hi > lo ? (double)(hi - lo) : 1;
        long long h = heap_bytes();
        double t0 = now_ns();
        for (size_t i = lo; i < hi; i++)
            if (dl__bitmap_set(w->bm, pos[i]) < 0)
                return -ENOMEM;
        t[0][r] = (now_ns() - t0) / len;
        w->ours_heap += heap_bytes() - h;
        h = heap_bytes();
        t0 = now_ns();
        for (size_t i = lo; i < hi; i++)
            roaring_bitmap_add(w->cr, pos[i]);
        t[1][r] = (now_ns() - t0) / len;
        w->cr_heap += heap_bytes() - h;
    }
    med[0] = median(t[0], R);
    med[1] = median(t[1], R);
    return 0;
}

/* Median CPU ns per set bit to visit all card set bits in order: ours in
 * batches (out[0]), roaring_iterate (out[1]), the uint32 iterator in
 * batches (out[2]), ours one bit per call (out[3]). 0, or -1 when a visit
 * disagrees with CRoaring's count. */
static int time_iteration(const struct bitmap *bm, const roaring_bitmap_t *cr, uint64_t card,
                          int R, double out[4])
{
    double t[4][MAX_ROUNDS];
    for (int r = 0; r < R; r++) {
        uint64_t n[4], sum[4];
        double t0 = now_ns();
        n[0] = ours_visit_all(bm, &sum[0]);
        double t1 = now_ns();
        n[1] = roaring_visit_iterate(cr, &sum[1]);
        double t2 = now_ns();
        n[2] = roaring_visit_batches(cr, &sum[2]);
        double t3 = now_ns();
        n[3] = ours_visit_single(bm, &sum[3]);
        double t4 = now_ns();
        for (int k = 0; k < 4; k++)
            if (n[k] != card || sum[k] != sum[0])
                return -1;
        t[0][r] = (t1 - t0) / (double)card;
        t[1][r] = (t2 - t1) / (double)card;
        t[2][r] = (t3 - t2) / (double)card;
        t[3][r] = (t4 - t3) / (double)card;
    }
    for (int k = 0; k < 4; k++)
        out[k] = median(t[k], R);
    return 0;
}

/* Median CPU ns per op, ours [0] and CRoaring [1], of setting --ops bits
 * already set (again) and of testing --ops random probes of which half hit
 * (test). 0, or -1 when the hits disagree (or out of memory). */
static int time_probes(struct bitmap *bm, roaring_bitmap_t *cr, const uint32_t *pos,
                       size_t npos, const struct params *p, double again[2], double test[2])
{
    uint64_t nbits = 1ull << p->log2, s = 0x5851F42D4C957F2Dull ^ npos;
    size_t ops = p->ops, expect_hits = 0;
    uint32_t *set = malloc(ops * sizeof *set), *probe = malloc(ops * sizeof *probe);
    double t[4][MAX_ROUNDS];
    int R = p->rounds, rc = set && probe ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < ops; i++) {
        set[i] = pos[rng_next(&s) % npos];
        if (rng_next(&s) & 1) {
            probe[i] = pos[rng_next(&s) % npos];
            expect_hits++;
        } else {
            do
                probe[i] = (uint32_t)(rng_next(&s) % nbits);
            while (roaring_bitmap_contains(cr, probe[i]));
        }
    }
    for (int r = 0; rc == 0 && r < R; r++) {
        size_t hits[2] = {0, 0};
        double t0 = now_ns();
        for (size_t i = 0; i < ops; i++)
            dl__bitmap_set(bm, set[i]);
        double t1 = now_ns();
        for (size_t i = 0; i < ops; i++)
            roaring_bitmap_add(cr, set[i]);
        double t2 = now_ns();
        for (size_t i = 0; i < ops; i++)
            hits[0] += (size_t)dl__bitmap_test(bm, probe[i]);
        double t3 = now_ns();
        for (size_t i = 0; i < ops; i++)
            hits[1] += roaring_bitmap_contains(cr, probe[i]);
        double t4 = now_ns();
        rc = hits[0] == expect_hits && hits[1] == expect_hits ? 0 : -1;
        t[0][r] = (t1 - t0) / (double)ops;
        t[1][r] = (t2 - t1) / (double)ops;
        t[2][r] = (t3 - t2) / (double)ops;
        t[3][r] = (t4 - t3) / (double)ops;
    }
    free(set);
    free(probe);
    if (rc == 0) {
        again[0] = median(t[0], R);
        again[1] = median(t[1], R);
        test[0] = median(t[2], R);
        test[1] = median(t[3], R);
    }
    return rc;
}

/* Part 1: one workload, both sets. pos[0..npos) ascending, distinct; the
 * array is reordered. A random sample of about --ops of them (at most half)
 * is held back and set last, in random order: CRoaring takes over 1 us per
 * random insert at 2^32, so building 43 M bits in random order would take
 * minutes; the rest is set in ascending order (a sequential writer's). 0, or
 * 1 when an allocation failed or the two sets disagree. */
static int run_workload(const char *name, uint32_t *pos, size_t npos, const struct params *p)
{
    uint64_t nbits = 1ull << p->log2;
    int R = p->rounds;
    struct sets w = {0};

    /* pos[0..nasc) keeps ascending order, pos[nasc..npos) is held back: k
     * bits picked by selection sampling (each with probability still
     * needed / still left, which picks exactly k). */
    uint64_t s = 0x9E3779B97F4A7C15ull ^ npos;
    size_t k = p->ops < npos / 2 ? p->ops : npos / 2, nasc = 0, nheld = 0;
    uint32_t *held = malloc((k + 1) * sizeof *held);
    if (!held)
        return 1;
    for (size_t i = 0; i < npos; i++) {
        if (uniform(&s) * (double)(npos - i) < (double)(k - nheld))
            held[nheld++] = pos[i];
        else
            pos[nasc++] = pos[i];
    }
    for (size_t i = nheld; i > 1; i--) { /* shuffle them */
        size_t j = (size_t)(rng_next(&s) % i);
        uint32_t x = held[i - 1];
        held[i - 1] = held[j];
        held[j] = x;
    }
    memcpy(pos + nasc, held, nheld * sizeof *held);
    free(held);

    long long h = heap_bytes();
    if (dl__bitmap_create(&w.bm, nbits, 0) < 0)
        return 1;
    w.ours_heap += heap_bytes() - h;
    h = heap_bytes();
    w.cr = roaring_bitmap_create();
    w.cr_heap += heap_bytes() - h;
    double set_asc[2], set_rand[2];
    if (build_slices(&w, pos, nasc, R, set_asc) < 0 ||
        build_slices(&w, pos + nasc, nheld, R, set_rand) < 0)
        return 1;
    struct bitmap *bm = w.bm;
    roaring_bitmap_t *cr = w.cr;
    h = heap_bytes();
    int trimmed = ours_trim(bm);
    w.ours_heap += heap_bytes() - h;
    size_t ours_memory = dl__bitmap_memory(bm);
    h = heap_bytes();
    roaring_bitmap_run_optimize(cr);
    roaring_bitmap_shrink_to_fit(cr);
    long long cr_opt_heap = w.cr_heap + heap_bytes() - h;

    uint64_t card = roaring_bitmap_get_cardinality(cr);
    printf("\n%s: %llu bits set of 2^%u; ours: dl__bitmap_memory %.2f MiB%s\n", name,
           (unsigned long long)card, p->log2, ours_memory / MIB,
           trimmed ? " after compact+reclaim" : " (no compact/reclaim yet)");

    double it[4], again[2], test[2];
    if (time_iteration(bm, cr, card, R, it) < 0 ||
        time_probes(bm, cr, pos, npos, p, again, test) < 0) {
        fprintf(stderr, "%s: the two sets disagree, or out of memory\n", name);
        return 1;
    }
    int batch_faster = it[2] < it[1];

    double mem[3] = {(double)w.ours_heap / MIB, (double)cr_opt_heap / MIB, (double)w.cr_heap / MIB};
    row("memory", name, mem[0], mem[1], "MiB", "ours/CRoaring", mem[0] / mem[1], AT_MOST, 1);
    if (cr_opt_heap != w.cr_heap)
        row(" CRoaring unoptimised", name, mem[0], mem[2], "MiB", "ours/CRoaring",
            mem[0] / mem[2], NO_GOAL, 0);
    double it_cr = batch_faster ? it[2] : it[1];
    row(batch_faster ? "iteration, CR batches" : "iteration, CR iterate", name, it[0], it_cr,
        "ns", "CRoaring/ours", it_cr / it[0], AT_LEAST, 1);
    row(" ours one bit per call", name, it[3], it_cr, "ns", "CRoaring/ours", it_cr / it[3],
        NO_GOAL, 0);
    speed_row("set new, ascending", name, set_asc[0], set_asc[1]);
    speed_row("set new, random order", name, set_rand[0], set_rand[1]);
    speed_row("set, already set", name, again[0], again[1]);
    speed_row("test, half hits", name, test[0], test[1]);

    roaring_bitmap_free(cr);
    dl__bitmap_destroy(bm);
    return 0;
}

/* One find_next_set(0), timed alone. Reading the CPU-time clock costs about
 * 1 us here (a system call) with +-0.1 us of jitter: too coarse for a search
 * of tens of ns, which the monotonic clock (vDSO, ~30 ns) resolves; but over
 * the tens of ms that a search costs after a mass clear today, wall time also
 * counts other jobs on the shared machine. So both clocks bracket the call,
 * each minus its own median overhead (struct search_clock), and the smaller
 * figure, the tighter bound on the CPU cost, is kept. Sets *hit. */
struct search_clock {
    double cpu, wall; /* overhead of an empty bracket */
};

static double wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double search_once(const struct bitmap *bm, const struct search_clock *oh, int *hit)
{
    uint64_t found;
    double c0 = now_ns(), w0 = wall_ns();
    *hit = dl__bitmap_find_next_set(bm, 0, &found);
    double w1 = wall_ns(), c1 = now_ns();
    double cpu = c1 - c0 - oh->cpu, wall = w1 - w0 - oh->wall, ns = cpu < wall ? cpu : wall;
    return ns > 0 ? ns : 0;
}

static struct search_clock search_clock_overhead(void)
{
    struct search_clock oh;
    double cpu[MAX_ROUNDS], wall[MAX_ROUNDS];
    for (int r = 0; r < MAX_ROUNDS; r++) {
        double c0 = now_ns(), w0 = wall_ns(), w1 = wall_ns(), c1 = now_ns();
        cpu[r] = c1 - c0;
        wall[r] = w1 - w0;
    }
    oh.cpu = median(cpu, MAX_ROUNDS);
    oh.wall = median(wall, MAX_ROUNDS);
    return oh;
}

/* Part 2: mass clear of a 2^log2 map, ours only. 0, or 1 on failure. */
static int run_mass_clear(unsigned log2, const struct params *p)
{
    uint64_t nbits = 1ull << log2;
    int R = p->rounds, hit = 0, trimmed = 0;
    double t_after[MAX_ROUNDS], t_empty[MAX_ROUNDS], mem_empty = 0, mem_after = 0;
    struct search_clock oh = search_clock_overhead();
    for (int r = 0; r < R; r++) {
        struct bitmap *bm;
        if (dl__bitmap_create(&bm, nbits, 0) < 0)
            return 1;
        mem_empty = (double)dl__bitmap_memory(bm);
        t_empty[r] = search_once(bm, &oh, &hit);
        uint64_t s = 0x2545F4914F6CDD1Dull + (uint64_t)r, again = s;
        for (size_t i = 0; i < p->clear_bits; i++)
            if (hit || dl__bitmap_set(bm, rng_next(&s) % nbits) < 0)
                return 1;
        for (size_t i = 0; i < p->clear_bits; i++)
            dl__bitmap_clear(bm, rng_next(&again) % nbits);
        /* The search first: one may come at any time, not only at the
         * quiescent points where the library trims. */
        t_after[r] = search_once(bm, &oh, &hit);
        trimmed = ours_trim(bm);
        mem_after = (double)dl__bitmap_memory(bm);
        dl__bitmap_destroy(bm);
        if (hit) /* everything was cleared: nothing may be found */
            return 1;
    }
    char wl[16];
    snprintf(wl, sizeof wl, "2^%u", log2);
    printf("\nmass clear, ours only: %zu random bits set then cleared in 2^%u bits; the "
           "search right after, the memory after %s\n",
           p->clear_bits, log2, trimmed ? "compact+reclaim" : "that (no compact/reclaim yet)");
    row("memory after clear", wl, mem_after / 1024, mem_empty / 1024, "KiB", "ours/empty",
        mem_after / mem_empty, AT_MOST, 2);
    /* The empty map's search takes tens of ns: floor it at 1 ns so that the
     * ratio stays finite when the overhead subtraction leaves nothing. */
    double after = median(t_after, R), empty = median(t_empty, R);
    empty = empty > 1 ? empty : 1;
    row("first search", wl, after, empty, "ns", "ours/empty", after / empty, AT_MOST, 2);
    return 0;
}

int main(int argc, char **argv)
{
    struct params p = {.log2 = 32, .big_log2 = 40, .ops = 1u << 18, .clear_bits = 1u << 16,
                       .rounds = 3};
    for (int i = 1; i < argc; i += 2) { /* option, value */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(argv[i], "--log2"))
            p.log2 = (unsigned)atoi(v);
        else if (v && !strcmp(argv[i], "--big-log2"))
            p.big_log2 = (unsigned)atoi(v);
        else if (v && !strcmp(argv[i], "--ops"))
            p.ops = (size_t)strtoull(v, NULL, 10);
        else if (v && !strcmp(argv[i], "--clear-bits"))
            p.clear_bits = (size_t)strtoull(v, NULL, 10);
        else if (v && !strcmp(argv[i], "--rounds"))
            p.rounds = atoi(v);
        else {
            fprintf(stderr, "usage: %s [--log2 N (17..32)] [--ops N] [--rounds R (1..%d)] "
                            "[--big-log2 N (30..62)] [--clear-bits N]\n",
                    argv[0], MAX_ROUNDS);
            return 2;
        }
    }
    if (p.log2 < 17 || p.log2 > 32 || p.big_log2 < 30 || p.big_log2 > 62 || p.ops < 1 ||
        p.clear_bits < 1 || p.rounds < 1 || p.rounds > MAX_ROUNDS) {
        fprintf(stderr, "%s: argument out of range (see --help)\n", argv[0]);
        return 2;
    }
    uint64_t nbits = 1ull << p.log2;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress, when piped */
    printf("bench_bitmap: sparse set vs CRoaring %d.%d.%d; CPU ns per op, median of %d "
           "rounds; heap bytes by mallinfo2 deltas\n",
           ROARING_VERSION_MAJOR, ROARING_VERSION_MINOR, ROARING_VERSION_REVISION, p.rounds);
    printf("%-22s %-6s %11s     %10s     %-23s  %s\n", "figure", "load", "ours", "baseline",
           "ratio", "goal");

    /* The three workloads, one ascending list of positions each. */
    size_t cap = (size_t)(nbits / 50) + 1000; /* 1%, with a wide margin */
    uint32_t *pos = malloc(cap * sizeof *pos);
    if (!pos)
        return 1;
    uint64_t s = 0x853C49E6748FEA9Bull;
    int fail = run_workload("random", pos, random_bits(pos, cap, nbits, 0.01, &s), &p);
    size_t n = 0;
    for (uint64_t start = 0; start + 1000 <= nbits; start += 100000)
        for (uint64_t b = start; b < start + 1000; b++)
            pos[n++] = (uint32_t)b;
    fail = fail || run_workload("runs", pos, n, &p);
    for (size_t i = 0; i < 1000; i++)
        pos[i] = (uint32_t)(rng_next(&s) % nbits);
    qsort(pos, 1000, sizeof *pos, cmp_u32);
    n = 1;
    for (size_t i = 1; i < 1000; i++) /* drop duplicates */
        if (pos[i] != pos[n - 1])
            pos[n++] = pos[i];
    fail = fail || run_workload("sparse", pos, n, &p);
    free(pos);

    fail = fail || run_mass_clear(p.big_log2, &p) ||
           (p.big_log2 != 30 && run_mass_clear(30, &p));
    if (fail) {
        fprintf(stderr, "bench_bitmap: failed (allocation, or the sets disagreed)\n");
        return 1;
    }
    printf("\n%d goal(s) missed\n", missed);
    return 0;
}
