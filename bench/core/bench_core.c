/* Core log hot paths against raw atomics on a plain array, measured in the
 * same run: through the calls (dl_log_is_clean ...) and, for the two
 * predicates, through the inline read path (dl_log_is_clean_fast ...). Prints ns/op and the ratio to the raw baseline.
 *
 *   bench_core [--regions-log2 N] [--ops N]
 *   bench_core --only OP/PATH/PATTERN [--reps R] [--regions-log2 N] [--ops N]
 *
 * --only runs one loop (e.g. is_clean/inline/seq, mark/raw/rand) R times in
 * this thread, for instruction counts that do not depend on the machine's
 * load: under `valgrind --tool=callgrind`, run_job's inclusive count divided
 * by ops x R is the instructions per op (callgrind_annotate --inclusive=yes;
 * a clear loop's re-marking runs in remark(), outside run_job).
 *
 * 2^24 regions by default: the largest log that publishes the inline view
 * (flat sets); 2^30 is a sparse log (no view: the inline functions make the
 * call). The working set is `ops`
 * regions, visited in the same order by the raw loop and by the log, in two
 * patterns: "seq" (consecutive regions) and "rand" (spread over the whole
 * log, so both sides miss the cache alike). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitmap/bitmap.h"
#include "dirtylog.h"

/* CPU time of the calling thread: on a shared machine wall-clock time counts
 * whatever else ran on our core, which swamps nanosecond loops. Every figure
 * is a ratio to a baseline measured the same way in the same run. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum op { OP_MARK, OP_CLEAR, OP_IS_CLEAN, OP_IN_SYNC, OP_COUNT };
static const char *const op_name[] = {"mark", "clear", "is_clean", "in_sync"};

enum path { PATH_RAW, PATH_CALL, PATH_INLINE };

struct job {
    enum op op;
    enum path path;       /* PATH_RAW: the plain-array baseline */
    _Atomic uint64_t *arr; /* raw bits */
    dl_log *log;
    const uint64_t *regions;
    size_t n;
    pthread_barrier_t *start;
    double ns;
    uint64_t sink;
};

#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

static NOINLINE void *run_job(void *p)
{
    struct job *j = p;
    uint64_t sink = 0;
    pthread_barrier_wait(j->start);
    double t0 = now_ns();
    if (j->path == PATH_RAW) {
        for (size_t i = 0; i < j->n; i++) {
            uint64_t r = j->regions[i], bit = 1ull << (r & 63);
            _Atomic uint64_t *w = &j->arr[r >> 6];
            switch (j->op) {
            case OP_MARK: atomic_fetch_or(w, bit); break;
            case OP_CLEAR: atomic_fetch_and(w, ~bit); break;
            default: sink += (atomic_load_explicit(w, memory_order_acquire) & bit) != 0; break;
            }
        }
    } else if (j->path == PATH_INLINE) {
        for (size_t i = 0; i < j->n; i++) {
            uint64_t r = j->regions[i];
            if (j->op == OP_IS_CLEAN)
                sink += (uint64_t)dl_log_is_clean_fast(j->log, r);
            else
                sink += (uint64_t)dl_log_in_sync_fast(j->log, r, 1);
        }
    } else {
        for (size_t i = 0; i < j->n; i++) {
            uint64_t r = j->regions[i];
            switch (j->op) {
            case OP_MARK: dl_log_mark_region(j->log, r); break;
            case OP_CLEAR: dl_log_clear_region(j->log, r); break;
            case OP_IS_CLEAN: sink += (uint64_t)dl_log_is_clean(j->log, r); break;
            default: sink += (uint64_t)dl_log_in_sync(j->log, r, 1); break;
            }
        }
    }
    j->ns = now_ns() - t0;
    j->sink = sink;
    return NULL;
}

/* ns per op with `threads` threads splitting the region list. */
static double measure(enum op op, enum path path, _Atomic uint64_t *arr, dl_log *log,
                      const uint64_t *regions, size_t n, int threads)
{
    pthread_t th[8];
    struct job jobs[8];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    size_t per = n / (size_t)threads;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){.op = op, .path = path, .arr = arr, .log = log,
                               .regions = regions + per * (size_t)t, .n = per, .start = &start};
        pthread_create(&th[t], NULL, run_job, &jobs[t]);
    }
    double worst = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        worst = jobs[t].ns > worst ? jobs[t].ns : worst;
    }
    pthread_barrier_destroy(&start);
    return worst / (double)per; /* CPU time per op of the slowest thread */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of ROUNDS alternating raw/call/inline rounds, so drift hits all
 * alike (rounds are short, so a burst of load on the shared machine spoils
 * few of them). */
#define ROUNDS 9
static void compare(const char *pattern, enum op op, int threads, _Atomic uint64_t *arr,
                    dl_log *log, const uint64_t *regions, size_t n)
{
    int predicate = op == OP_IS_CLEAN || op == OP_IN_SYNC;
    double t[3][ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        for (int p = PATH_RAW; p <= (predicate ? PATH_INLINE : PATH_CALL); p++) {
            /* mark before clear rounds so every side clears set bits */
            if (op == OP_CLEAR)
                measure(OP_MARK, p == PATH_RAW ? PATH_RAW : PATH_CALL, arr, log, regions, n,
                        threads);
            t[p][i] = measure(op, (enum path)p, arr, log, regions, n, threads);
        }
    for (int p = 0; p < 3; p++)
        qsort(t[p], ROUNDS, sizeof t[p][0], cmp_double);
    printf("%-5s %-9s %d thr  raw %6.2f ns/op  call %6.2f ns/op  ratio %5.2f", pattern,
           op_name[op], threads, t[0][ROUNDS / 2], t[1][ROUNDS / 2],
           t[1][ROUNDS / 2] / t[0][ROUNDS / 2]);
    if (predicate)
        printf("  inline %6.2f ns/op  ratio %5.2f", t[2][ROUNDS / 2],
               t[2][ROUNDS / 2] / t[0][ROUNDS / 2]);
    printf("\n");
}

/* Set the bits again (raw or through the call) before a clear loop. */
static NOINLINE void remark(enum path path, _Atomic uint64_t *arr, dl_log *log,
                            const uint64_t *regions, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (path == PATH_RAW)
            atomic_fetch_or(&arr[regions[i] >> 6], 1ull << (regions[i] & 63));
        else
            dl_log_mark_region(log, regions[i]);
    }
}

/* --only: one loop, reps times, in this thread. */
static int run_only(const char *spec, int reps, _Atomic uint64_t *arr, dl_log *log,
                    const uint64_t *seq, const uint64_t *rnd, size_t n)
{
    static const char *const path_name[] = {"raw", "call", "inline"};
    char ops[16], paths[16], pat[16];
    if (sscanf(spec, "%15[^/]/%15[^/]/%15s", ops, paths, pat) != 3)
        return 1;
    int op = -1, path = -1;
    for (int i = 0; i < OP_COUNT; i++)
        op = strcmp(ops, op_name[i]) ? op : i;
    for (int i = 0; i < 3; i++)
        path = strcmp(paths, path_name[i]) ? path : i;
    if (op < 0 || path < 0 || (path == PATH_INLINE && op != OP_IS_CLEAN && op != OP_IN_SYNC) ||
        (strcmp(pat, "seq") && strcmp(pat, "rand")))
        return 1;
    const uint64_t *regions = strcmp(pat, "seq") ? rnd : seq;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 1);
    double ns = 0;
    for (int r = 0; r < reps; r++) {
        if (op == OP_CLEAR)
            remark((enum path)path, arr, log, regions, n);
        struct job j = {.op = (enum op)op, .path = (enum path)path, .arr = arr, .log = log,
                        .regions = regions, .n = n, .start = &start};
        run_job(&j);
        ns += j.ns;
    }
    pthread_barrier_destroy(&start);
    printf("only %s: %zu ops x %d reps, %.2f CPU ns/op\n", spec, n, reps, ns / (double)n / reps);
    return 0;
}

/* Next-dirty search over a sparse bitmap versus a linear scan of words. */
static void bench_search(uint64_t nbits)
{
    struct bitmap *bm;
    if (dl__bitmap_create(&bm, nbits, 0) < 0)
        return;
    size_t words = (size_t)(nbits / 64);
    uint64_t *plain = calloc(words, sizeof *plain);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t b = x % nbits;
        dl__bitmap_set(bm, b);
        plain[b / 64] |= 1ull << (b % 64);
    }
    double t0 = now_ns();
    uint64_t found = 0, pos = 0, hits = 0;
    while (pos < nbits && dl__bitmap_find_next_set(bm, pos, &found) == 1) {
        hits++;
        pos = found + 1;
    }
    double t_tree = now_ns() - t0;
    t0 = now_ns();
    uint64_t hits_raw = 0;
    for (size_t w = 0; w < words; w++)
        hits_raw += (uint64_t)__builtin_popcountll(plain[w]);
    double t_raw = now_ns() - t0;
    printf("search 1,000 dirty in 2^%d: hierarchical %.0f us, linear word scan %.0f us, "
           "ratio %.5f (found %llu/%llu)\n",
           __builtin_ctzll(nbits), t_tree / 1e3, t_raw / 1e3, t_tree / t_raw,
           (unsigned long long)hits, (unsigned long long)hits_raw);
    free(plain);
    dl__bitmap_destroy(bm);
}

int main(int argc, char **argv)
{
    int log2 = 24, reps = 1;
    size_t ops = 1 << 19;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--regions-log2"))
            log2 = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ops"))
            ops = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    uint64_t regions = 1ull << log2;
    char table[64];
    snprintf(table, sizeof table, "core 2 2 nosync");
    dl_log *log;
    int r = dl_log_create_table(table, regions * 2, &log);
    if (r) {
        fprintf(stderr, "create: %s\n", dl_last_error());
        return 1;
    }
    _Atomic uint64_t *arr = calloc((size_t)(regions / 64), sizeof *arr);
    uint64_t *seq = malloc(ops * sizeof *seq), *rnd = malloc(ops * sizeof *rnd);
    if (!arr || !seq || !rnd)
        return 1;
    /* Write every word, as the log's flat sets are written when created: an
     * untouched calloc'd page reads as the shared zero page, always cached. */
    for (size_t w = 0; w < (size_t)(regions / 64); w++)
        atomic_store_explicit(&arr[w], 0, memory_order_relaxed);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < ops; i++) {
        seq[i] = (regions / 3 + i) % regions;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rnd[i] = x % regions;
    }
    if (only) {
        if (run_only(only, reps > 0 ? reps : 1, arr, log, seq, rnd, ops) != 0) {
            fprintf(stderr, "--only OP/PATH/PATTERN: OP mark|clear|is_clean|in_sync, PATH "
                            "raw|call|inline (inline: is_clean, in_sync), PATTERN seq|rand\n");
            return 2;
        }
        dl_log_destroy(log);
        free(arr);
        free(seq);
        free(rnd);
        return 0;
    }
    printf("core log of 2^%d regions (%s), %zu ops per round, median of %d rounds, "
           "CPU time per op of the slowest thread\n", log2,
           dl_log_view(log)->clean_limit ? "flat: inline view published" : "sparse: no view",
           ops, ROUNDS);
    for (int threads = 1; threads <= 2; threads++)
        for (int op = 0; op < OP_COUNT; op++) {
            compare("seq", (enum op)op, threads, arr, log, seq, ops);
            compare("rand", (enum op)op, threads, arr, log, rnd, ops);
        }
    bench_search(regions);
    dl_log_destroy(log);
    free(arr);
    free(seq);
    free(rnd);
    return 0;
}
