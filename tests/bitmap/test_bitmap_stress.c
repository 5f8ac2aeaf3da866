/* Multi-threaded stress tests for src/bitmap (CI runs them under TSan too).
 *
 *  accounting  Threads set and clear overlapping bits at random. For each
 *              bit, the sets that returned 0 and the clears that returned 1
 *              must alternate: final value = initial + #set0 - #clear1, in
 *              {0, 1}, and equal to what test() says at the end.
 *  promise     Writers set a bit they own, then publish it in an atomic
 *              "acknowledged" slot; searchers and iterators that start
 *              after reading the slot must find the bit (or an earlier 1).
 *              A writer clears a bit only after retracting its slot; a
 *              searcher re-reads the slot after its search and discards the
 *              result when it changed (a seqlock-style handshake, so nobody
 *              waits). Churners meanwhile set and clear the other bits of the
 *              same leaves (empty, sparse, dense, full and back) and a
 *              reclaimer runs dl__bitmap_reclaim and whole-map readers. Run
 *              for both polarities (set on a map of 0s, clear on a map of 1s),
 *              and again from a compacted start (the region in containers,
 *              some owned bits acknowledged in them).
 *  shared_word Two threads own one bit each of the same word in an
 *              otherwise empty leaf: set it, search for it, clear it. Clears
 *              that empty the word prune summaries while the other's set
 *              fixes them.
 *  race        All threads clear the same set bits at once (exactly one
 *              clear per bit returns 1), then set them at once (exactly one
 *              returns 0), or the other way round, in leaves that are
 *              empty, sparse, dense, full or uniform sentinels, or
 *              compacted into containers, so that leaves are materialised
 *              and containers expanded under the race.
 *
 * No sleeps: threads meet at barriers or stop at a deadline. Each part runs
 * for a bounded time (shorter under DL_SANITIZER) and also has an op cap.
 * DL_TEST_SEED=<n> varies the seeds. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitmap/bitmap.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

static uint64_t seed_base;
static bool sanitizer;
static double part_seconds; /* time budget of one part */

static void reclaim(struct bitmap *bm)
{
    dl__bitmap_reclaim(bm);
}

/* Two levels above the leaves and then some: 2^33 + 777 bits. */
#define NBITS ((1ULL << 33) + 777)
#define LEAF (1ULL << 15)

/* ---- accounting ------------------------------------------------------------ */

#define ACC_THREADS 4
#define ACC_BITS 2048

struct acc_arg {
    int id;
    struct bitmap *map[2]; /* initially 0, initially 1 */
    const uint64_t *bits;  /* ACC_BITS distinct bits */
    uint32_t set0[2][ACC_BITS], clear1[2][ACC_BITS];
    long ops;
    double deadline;
};

static void *acc_thread(void *p)
{
    struct acc_arg *a = p;
    uint64_t s = seed_base ^ (0xacc0ULL + (uint64_t)a->id);
    long max_ops = sanitizer ? 100000 : 1000000;
    for (a->ops = 0; a->ops < max_ops; a->ops++) {
        if (a->ops % 512 == 0 && now_sec() > a->deadline)
            break;
        /* Mostly a small hot subset, so that threads really meet on bits. */
        unsigned i = (unsigned)(rnd(&s) % 4 ? below(&s, 64) * (ACC_BITS / 64) + (uint64_t)a->ops % 3
                                            : below(&s, ACC_BITS));
        int m = (int)(rnd(&s) & 1);
        struct bitmap *bm = a->map[m];
        uint64_t b = a->bits[i], f;
        switch (below(&s, 8)) {
        case 0: case 1: case 2: {
            int r = dl__bitmap_set(bm, b);
            if (r != 0 && r != 1)
                CHECK_EQ(r, 0);
            a->set0[m][i] += r == 0;
            break;
        }
        case 3: case 4: case 5: {
            int r = dl__bitmap_clear(bm, b);
            if (r != 0 && r != 1)
                CHECK_EQ(r, 1);
            a->clear1[m][i] += r == 1;
            break;
        }
        case 6: {
            int t = dl__bitmap_test(bm, b);
            if (t != 0 && t != 1)
                CHECK_EQ(t, 0);
            break;
        }
        default: /* searches stay in range under the churn */
            if (dl__bitmap_find_next_set(bm, b, &f) && (f < b || f >= NBITS))
                CHECK(!"find_next_set in range");
            if (dl__bitmap_find_next_clear(bm, b, &f) && (f < b || f >= NBITS))
                CHECK(!"find_next_clear in range");
            if (a->id == 0)
                reclaim(bm);
            break;
        }
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static int test_accounting(void)
{
    static uint64_t bits[ACC_BITS];
    static struct acc_arg args[ACC_THREADS];
    uint64_t s = seed_base ^ 0xacc;
    /* Neighbours in one word and one leaf (dense), a few per leaf over many
     * leaves (sparse), pairs across leaf and node boundaries, anywhere. */
    static uint64_t cand[4 * ACC_BITS];
    size_t n = 0;
    for (unsigned i = 0; i < 4 * ACC_BITS; i++) {
        switch (i % 4) {
        case 0: cand[i] = 5 * LEAF + below(&s, 4096); break;
        case 1: cand[i] = below(&s, 64) * 7 * LEAF + below(&s, LEAF); break;
        case 2: cand[i] = (1 + below(&s, 8)) * (1ULL << 21) - 3 + below(&s, 6); break;
        default: cand[i] = below(&s, NBITS); break;
        }
    }
    qsort(cand, 4 * ACC_BITS, sizeof *cand, cmp_u64);
    for (size_t i = 0; i < 4 * ACC_BITS; i++) /* distinct: counts per index are per bit */
        if (n == 0 || cand[i] != cand[n - 1])
            cand[n++] = cand[i];
    REQUIRE(n >= ACC_BITS);
    for (size_t i = 0; i < ACC_BITS; i++) { /* a random subset */
        size_t j = i + (size_t)below(&s, n - i);
        uint64_t t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
    }
    memcpy(bits, cand, sizeof bits);
    qsort(bits, ACC_BITS, sizeof *bits, cmp_u64);
    struct bitmap *map[2];
    REQUIRE_EQ(dl__bitmap_create(&map[0], NBITS, 0), 0);
    REQUIRE_EQ(dl__bitmap_create(&map[1], NBITS, 1), 0);
    pthread_t th[ACC_THREADS];
    double deadline = now_sec() + part_seconds;
    for (int t = 0; t < ACC_THREADS; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t] = (struct acc_arg){.id = t, .map = {map[0], map[1]}, .bits = bits,
                                   .deadline = deadline};
        REQUIRE(pthread_create(&th[t], NULL, acc_thread, &args[t]) == 0);
    }
    long ops = 0;
    for (int t = 0; t < ACC_THREADS; t++) {
        pthread_join(th[t], NULL);
        ops += args[t].ops;
    }
    for (int m = 0; m < 2; m++) {
        uint64_t ones = 0, changes = 0;
        for (unsigned i = 0; i < ACC_BITS; i++) {
            int64_t v = m;
            for (int t = 0; t < ACC_THREADS; t++) {
                v += (int64_t)args[t].set0[m][i] - (int64_t)args[t].clear1[m][i];
                changes += args[t].set0[m][i] + args[t].clear1[m][i];
            }
            if (v != 0 && v != 1) {
                fprintf(stderr, "map %d, bit %" PRIu64 ": initial %d + sets that returned 0 -"
                                " clears that returned 1 = %" PRId64 "\n",
                        m, bits[i], m, v);
                REQUIRE(0);
            }
            REQUIRE_EQ(dl__bitmap_test(map[m], bits[i]), v);
            ones += (uint64_t)v;
        }
        REQUIRE_U64(dl__bitmap_count(map[m]), m ? NBITS - ACC_BITS + ones : ones);
        REQUIRE(changes > 1000); /* the race really happened */
        /* Every 1 (resp. 0) enumerated is one of the bits, and all are found. */
        uint64_t found = 0, f, from = 0;
        while (m ? dl__bitmap_find_next_clear(map[m], from, &f)
                 : dl__bitmap_find_next_set(map[m], from, &f)) {
            REQUIRE(bsearch(&f, bits, ACC_BITS, sizeof *bits, cmp_u64) != NULL);
            found++;
            from = f + 1;
        }
        REQUIRE_U64(found, m ? ACC_BITS - ones : ones);
    }
    printf("  accounting: %ld ops on %d bits\n", ops, ACC_BITS);
    dl__bitmap_destroy(map[0]);
    dl__bitmap_destroy(map[1]);
    return 0;
}

/* ---- promise ----------------------------------------------------------------- */

/* The region: 12 leaves across the 2^21 boundary of a level-1 node and 4
 * across the 2^27 boundary of a level-2 node, cut in blocks of 4096 bits.
 * Block k's owned bit (written only by writer k % WRITERS) is its first bit
 * for even k (a leaf's first bit when k % 8 == 0) and its last for odd k;
 * churners touch every other bit of the block. */
#define BLOCK 4096ULL
#define NBLOCKS ((12 + 4) * (LEAF / BLOCK))
#define WRITERS 2
#define SEARCHERS 2
#define CHURNERS 2
#define SEQ_SHIFT 35 /* ack slot: seq << SEQ_SHIFT | bit (bit < 2^34) */

static uint64_t block_base(unsigned k)
{
    unsigned per = (unsigned)(LEAF / BLOCK), leaf = k / per;
    uint64_t lb = leaf < 12 ? (1ULL << 21) - 6 * LEAF + leaf * LEAF
                            : (1ULL << 27) - 2 * LEAF + (leaf - 12) * LEAF;
    return lb + (k % per) * BLOCK;
}

static uint64_t owned_bit(unsigned k)
{
    return block_base(k) + (k % 2 ? BLOCK - 1 : 0);
}

/* Leaves 4..7 (across the 2^21 boundary) are quiet: no churn, only the
 * owned bits, mostly clear. So they are often empty, searches prune them
 * while writers set bits in them: the window the summaries' prune protocol
 * must close. */
static bool quiet(unsigned k)
{
    unsigned leaf = k / (unsigned)(LEAF / BLOCK);
    return leaf >= 4 && leaf < 8;
}

struct promise {
    struct bitmap *bm;
    int init;                     /* 0: mark = set; 1: mark = clear */
    _Atomic uint64_t ack[NBLOCKS]; /* 0, or seq << SEQ_SHIFT | owned bit (marked) */
    _Atomic bool stop;            /* the writers are done */
    double deadline, hard_deadline; /* writers stop at the first once churn ran */
    _Atomic long checks, discarded, misses, churns;
};

struct prom_arg {
    struct promise *p;
    int id;
    long ops;
};

static int mark(struct promise *p, uint64_t b)
{
    return p->init ? dl__bitmap_clear(p->bm, b) : dl__bitmap_set(p->bm, b);
}

static int unmark(struct promise *p, uint64_t b)
{
    return p->init ? dl__bitmap_set(p->bm, b) : dl__bitmap_clear(p->bm, b);
}

/* The next marked bit (value !init) at or after from. */
static int find_marked(struct promise *p, uint64_t from, uint64_t *f)
{
    return p->init ? dl__bitmap_find_next_clear(p->bm, from, f)
                   : dl__bitmap_find_next_set(p->bm, from, f);
}

static int writer_body(struct prom_arg *a)
{
    struct promise *p = a->p;
    uint64_t s = seed_base ^ (0x3717ULL + (uint64_t)a->id), seq = 0, f;
    bool marked[NBLOCKS];
    for (unsigned k = 0; k < NBLOCKS; k++) /* some start marked (compacted runs) */
        marked[k] = atomic_load(&p->ack[k]) != 0;
    long max_ops = sanitizer ? 1000000 : 10000000;
    for (a->ops = 0; a->ops < max_ops; a->ops++) {
        if (a->ops % 256 == 0) {
            double t = now_sec();
            if (t > p->hard_deadline || (t > p->deadline && atomic_load(&p->churns) >= 200))
                break;
        }
        /* 3/4 of the writes in the quiet leaves (blocks 32..63) */
        unsigned k = (unsigned)(rnd(&s) % 4 ? 32 + below(&s, 32) : below(&s, NBLOCKS));
        k = k / WRITERS * WRITERS + (unsigned)a->id;
        uint64_t b = owned_bit(k);
        if (!marked[k] && quiet(k) && below(&s, 8))
            continue; /* quiet leaves: each owned bit set 1/9 of the time */
        if (!marked[k]) {
            REQUIRE_EQ(mark(p, b), p->init); /* nobody else writes b */
            REQUIRE_EQ(dl__bitmap_test(p->bm, b), !p->init);
            REQUIRE_EQ(find_marked(p, b, &f), 1); /* our own mark, at once */
            REQUIRE_U64(f, b);
            atomic_store(&p->ack[k], ++seq << SEQ_SHIFT | b); /* acknowledged */
            marked[k] = true;
        } else {
            atomic_store(&p->ack[k], 0); /* retract first, then unmark */
            REQUIRE_EQ(unmark(p, b), !p->init);
            marked[k] = false;
        }
    }
    return 0;
}

static void *writer_thread(void *x)
{
    writer_body(x);
    return NULL;
}

/* Check one acknowledged slot: every way to search from below b finds b or
 * an earlier marked bit. Returns false if the result must be discarded. */
static bool check_acked(struct promise *p, unsigned k, uint64_t back, char *why, size_t whylen)
{
    uint64_t a1 = atomic_load(&p->ack[k]);
    if (!a1)
        return true;
    uint64_t b = a1 & ((1ULL << SEQ_SHIFT) - 1), f = 0;
    uint64_t from = b - (back < b ? back : b);
    why[0] = 0;
    int r = find_marked(p, from, &f);
    if (!r || f < from || f > b)
        snprintf(why, whylen, "find_next from %" PRIu64 ": %d/%" PRIu64, from, r, f);
    if (!why[0] && dl__bitmap_test(p->bm, b) != !p->init)
        snprintf(why, whylen, "test");
    if (!why[0] && !p->init) {
        r = dl__bitmap_find_set_in(p->bm, from, b + 1, &f);
        if (!r || f < from || f > b)
            snprintf(why, whylen, "find_set_in [%" PRIu64 ", b]: %d/%" PRIu64, from, r, f);
    }
    if (!why[0]) {
        struct dl__bitmap_iter it;
        dl__bitmap_iter_init(&it, p->bm, from);
        r = p->init ? dl__bitmap_iter_next_clear(&it, &f) : dl__bitmap_iter_next_set(&it, &f);
        if (!r || f < from || f > b)
            snprintf(why, whylen, "iterator from %" PRIu64 ": %d/%" PRIu64, from, r, f);
    }
    if (atomic_load(&p->ack[k]) != a1) {
        atomic_fetch_add(&p->discarded, 1); /* retracted meanwhile */
        return true;
    }
    atomic_fetch_add(&p->checks, 1);
    if (why[0]) {
        fprintf(stderr, "promise (init %d): acknowledged bit %" PRIu64 " missed: %s\n", p->init,
                b, why);
        atomic_fetch_add(&p->misses, 1);
        return false;
    }
    return true;
}

/* A long-lived iterator sweeping the region: each step must not skip an
 * acknowledged bit at or after its position. */
static bool iter_step(struct promise *p, struct dl__bitmap_iter *it, uint64_t *pos, uint64_t *s)
{
    /* an acknowledged bit at or after pos, if there is one */
    unsigned k0 = (unsigned)below(s, NBLOCKS);
    for (unsigned j = 0; j < NBLOCKS; j++) {
        unsigned k = (k0 + j) % NBLOCKS;
        uint64_t a1 = atomic_load(&p->ack[k]);
        uint64_t b = a1 & ((1ULL << SEQ_SHIFT) - 1), f = 0;
        if (!a1 || b < *pos)
            continue;
        int r = p->init ? dl__bitmap_iter_next_clear(it, &f) : dl__bitmap_iter_next_set(it, &f);
        if (atomic_load(&p->ack[k]) != a1) {
            atomic_fetch_add(&p->discarded, 1);
        } else {
            atomic_fetch_add(&p->checks, 1);
            if (!r || f < *pos || f > b) {
                fprintf(stderr, "promise (init %d): live iterator at %" PRIu64 " skipped"
                                " acknowledged bit %" PRIu64 ": %d/%" PRIu64 "\n",
                        p->init, *pos, b, r, f);
                atomic_fetch_add(&p->misses, 1);
                return false;
            }
        }
        if (r) {
            *pos = f + 1;
            return true;
        }
        break;
    }
    *pos = block_base(0) - below(s, 100); /* nothing after pos: start again */
    dl__bitmap_iter_init(it, p->bm, *pos);
    return true;
}

static void *searcher_thread(void *x)
{
    struct prom_arg *a = x;
    struct promise *p = a->p;
    uint64_t s = seed_base ^ (0x5ea7ULL + (uint64_t)a->id);
    char why[160];
    struct dl__bitmap_iter it;
    uint64_t pos = block_base(0);
    dl__bitmap_iter_init(&it, p->bm, pos);
    while (!atomic_load(&p->stop)) {
        unsigned k = (unsigned)(rnd(&s) % 2 ? below(&s, NBLOCKS) : 4 * 8 + below(&s, 4 * 8));
        /* search from: the bit itself, just before, a few leaves before, 0 */
        uint64_t back[] = {0, 1 + below(&s, 64), below(&s, 4 * LEAF), UINT64_MAX};
        if (!check_acked(p, k, back[below(&s, 4)], why, sizeof why))
            break;
        if (!iter_step(p, &it, &pos, &s))
            break;
        a->ops++;
    }
    return NULL;
}

/* Churn the non-owned bits of the region's blocks: whole blocks and leaves
 * full or empty, sparse and dense random bits. */
static void *churner_thread(void *x)
{
    struct prom_arg *a = x;
    struct promise *p = a->p;
    uint64_t s = seed_base ^ (0xc4c4ULL + (uint64_t)a->id);
    while (!atomic_load(&p->stop)) {
        unsigned k = (unsigned)below(&s, NBLOCKS);
        if (quiet(k))
            continue;
        uint64_t lo = block_base(k) + 1, n = BLOCK - 2; /* not the owned bits */
        int v = (int)(rnd(&s) & 1), r = 0;
        switch (below(&s, 6)) {
        case 0:
            r = v ? dl__bitmap_set_range(p->bm, lo, n) : dl__bitmap_clear_range(p->bm, lo, n);
            break;
        case 1: /* the whole leaf of block k */
            for (unsigned j = k / 8 * 8; j < k / 8 * 8 + 8 && !r; j++)
                r = v ? dl__bitmap_set_range(p->bm, block_base(j) + 1, n)
                      : dl__bitmap_clear_range(p->bm, block_base(j) + 1, n);
            break;
        case 2: /* a few sparse bits */
        case 3:
            for (int i = 0; i < 20 && r >= 0; i++) {
                uint64_t b = lo + below(&s, n);
                r = v ? dl__bitmap_set(p->bm, b) : dl__bitmap_clear(p->bm, b);
            }
            break;
        case 4: /* dense */
            for (int i = 0; i < 300 && r >= 0; i++) {
                uint64_t b = lo + below(&s, n);
                r = rnd(&s) & 1 ? dl__bitmap_set(p->bm, b) : dl__bitmap_clear(p->bm, b);
            }
            break;
        default:
            r = dl__bitmap_reserve(p->bm, lo, n, v);
            break;
        }
        if (r < 0)
            CHECK_EQ(r, 0);
        a->ops++;
        atomic_fetch_add(&p->churns, 1);
    }
    return NULL;
}

/* Whole-map readers and reclamation, concurrent with everything. */
static void *reclaimer_thread(void *x)
{
    struct prom_arg *a = x;
    struct promise *p = a->p;
    while (!atomic_load(&p->stop)) {
        reclaim(p->bm);
        uint64_t c = dl__bitmap_count(p->bm);
        uint64_t region = NBLOCKS * BLOCK;
        if (p->init ? c < NBITS - region : c > region)
            CHECK(!"count within the region");
        uint64_t w[600];
        dl__bitmap_read_words(p->bm, block_base((unsigned)(a->ops % NBLOCKS)) / 64, 600, w);
        (void)dl__bitmap_memory(p->bm);
        a->ops++;
        sched_yield();
    }
    return NULL;
}

/* The compacted start: a background of sparse bits and runs in every
 * block, and a third of the owned bits marked and acknowledged, then
 * dl__bitmap_compact: the region starts as containers, which the first
 * writes expand while searchers look for the acknowledged bits in them. */
static int compacted_start(struct promise *p)
{
    uint64_t s = seed_base ^ 0xc0c0;
    for (unsigned k = 0; k < NBLOCKS; k++) {
        uint64_t lo = block_base(k) + 1;
        for (int i = 0; i < 12; i++)
            REQUIRE(mark(p, lo + below(&s, BLOCK - 2)) >= 0);
        if (k % 2)
            REQUIRE_EQ(p->init ? dl__bitmap_clear_range(p->bm, lo + 100, 300)
                               : dl__bitmap_set_range(p->bm, lo + 100, 300),
                       0);
        if (k % 3 == 0) {
            REQUIRE_EQ(mark(p, owned_bit(k)), p->init);
            /* A sequence number no writer reaches (they count from 1). */
            atomic_store(&p->ack[k], (1ULL << 28) << SEQ_SHIFT | owned_bit(k));
        }
    }
    size_t before = dl__bitmap_memory(p->bm);
    dl__bitmap_compact(p->bm);
    REQUIRE(dl__bitmap_memory(p->bm) < before / 4); /* containers, not leaves */
    return 0;
}

static int run_promise(int init, bool compacted)
{
    static struct promise p;
    memset(&p, 0, sizeof p);
    p.init = init;
    REQUIRE_EQ(dl__bitmap_create(&p.bm, NBITS, init), 0);
    if (compacted)
        REQUIRE(compacted_start(&p) == 0);
    /* The map of 0s gets most of the time: only find_next_set prunes. */
    p.deadline = now_sec() + part_seconds * (init ? 0.3 : 0.7);
    p.hard_deadline = p.deadline + part_seconds;
    enum { N = WRITERS + SEARCHERS + CHURNERS + 1 };
    struct prom_arg args[N];
    pthread_t th[N];
    for (int t = 0; t < N; t++) {
        args[t] = (struct prom_arg){.p = &p, .id = t < WRITERS ? t : t - WRITERS};
        void *(*fn)(void *) = t < WRITERS ? writer_thread
                            : t < WRITERS + SEARCHERS ? searcher_thread
                            : t < N - 1 ? churner_thread
                                        : reclaimer_thread;
        REQUIRE(pthread_create(&th[t], NULL, fn, &args[t]) == 0);
    }
    for (int t = 0; t < WRITERS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&p.stop, true);
    for (int t = WRITERS; t < N; t++)
        pthread_join(th[t], NULL);
    printf("  promise (initial %d%s): %ld writes, %ld checks (%ld discarded), %ld churns\n", init,
           compacted ? ", compacted start" : "", args[0].ops + args[1].ops, (long)p.checks, (long)p.discarded, (long)p.churns);
    REQUIRE_EQ(p.misses, 0);
    REQUIRE(p.checks >= 100); /* the searchers really checked something */
    /* At the end, the owned bits are exactly the acknowledged ones. */
    for (unsigned k = 0; k < NBLOCKS; k++) {
        uint64_t a = atomic_load(&p.ack[k]);
        REQUIRE_EQ(dl__bitmap_test(p.bm, owned_bit(k)), a ? !init : init);
    }
    dl__bitmap_destroy(p.bm);
    return 0;
}

static int test_promise(void)
{
    REQUIRE(run_promise(0, false) == 0);
    REQUIRE(run_promise(1, false) == 0);
    REQUIRE(run_promise(0, true) == 0);
    REQUIRE(run_promise(1, true) == 0);
    return 0;
}

/* ---- racing sets and clears of the same bits --------------------------------- */

#define RACE_THREADS 4
#define RACE_BITS 64

struct race {
    struct bitmap *bm;
    pthread_barrier_t bar;
    uint64_t bits[RACE_BITS];
    int res[RACE_THREADS][RACE_BITS];
    int rounds;
    _Atomic int failed;
    _Atomic long arrived; /* the spin start: RACE_THREADS per race */
    bool sets_first;      /* this round's bits start clear: race sets, then clears */
};

/* Leave the barrier's wake-ups behind: spin until all threads are here, so
 * that they start the race together (and then go through the bits in the
 * same order, meeting on each). A condition polled, yielding the CPU. */
static void spin_start(struct race *rc, long race_no)
{
    atomic_fetch_add(&rc->arrived, 1);
    for (unsigned n = 1; atomic_load(&rc->arrived) < (race_no + 1) * RACE_THREADS; n++)
        if (n % 64 == 0)
            sched_yield();
}

/* Round r (run by thread 0 while the others wait at the barrier, so the
 * exclusive calls are allowed): the leaf of the round's bits gets a
 * background that decides its container, and the round's bits are set
 * (clear in mode 0). */
static int race_prepare(struct race *rc, int r, uint64_t *s)
{
    uint64_t leaf = (uint64_t)(r % 37) * 3 * LEAF + (r % 2 ? (1ULL << 21) - LEAF : 0);
    int mode = r % 6;
    if (mode == 5) {
        REQUIRE_EQ(dl__bitmap_fill(rc->bm, 1), 0); /* the bits live in a ONES sentinel */
    } else if (r % 6 == 0) {
        REQUIRE_EQ(dl__bitmap_fill(rc->bm, 0), 0);
    }
    for (unsigned j = 0; j < RACE_BITS; j++) {
        switch (r / 6 % 3) {
        case 0: rc->bits[j] = leaf + 64 * 17 + j; break; /* one word */
        case 1: rc->bits[j] = leaf + j * 511; break;      /* one leaf */
        default: rc->bits[j] = leaf + j * 1021; break;    /* two leaves */
        }
    }
    if (mode == 1) /* sparse */
        for (int i = 0; i < 30; i++)
            REQUIRE(dl__bitmap_set(rc->bm, leaf + below(s, 2 * LEAF)) >= 0);
    if (mode == 2) /* dense */
        for (int i = 0; i < 20000; i++)
            REQUIRE(dl__bitmap_set(rc->bm, leaf + below(s, 2 * LEAF)) >= 0);
    if (mode == 3 || mode == 4) /* all 1 around: the race completes a full leaf */
        REQUIRE_EQ(dl__bitmap_set_range(rc->bm, leaf, 2 * LEAF), 0);
    if (mode == 4)
        dl__bitmap_compact(rc->bm);
    /* Mode 0 leaves the bits clear in a NULL leaf (after the fill): the
     * racing sets materialise it. Mode 5 has them in a ONES sentinel: the
     * racing clears materialise it. */
    rc->sets_first = mode == 0;
    for (unsigned j = 0; j < RACE_BITS && !rc->sets_first; j++)
        REQUIRE(dl__bitmap_set(rc->bm, rc->bits[j]) >= 0);
    /* Every other cycle of the modes, the bits start in containers (ARRAY
     * for sparse, RUN around full leaves, at the leaf's level or higher):
     * the first racing change expands them under the race. */
    if (mode >= 1 && mode <= 3 && r / 18 % 2)
        dl__bitmap_compact(rc->bm);
    return 0;
}

/* After the barrier: per bit exactly one thread got `winner`. */
static int race_check(struct race *rc, int winner, int now)
{
    for (unsigned j = 0; j < RACE_BITS; j++) {
        int wins = 0;
        for (int t = 0; t < RACE_THREADS; t++) {
            if (rc->res[t][j] != 0 && rc->res[t][j] != 1)
                REQUIRE_EQ(rc->res[t][j], winner);
            wins += rc->res[t][j] == winner;
        }
        if (wins != 1)
            fprintf(stderr, "race: bit %" PRIu64 ": %d of the %s returned %d\n", rc->bits[j],
                    wins, winner ? "clears" : "sets", winner);
        REQUIRE_EQ(wins, 1);
        REQUIRE_EQ(dl__bitmap_test(rc->bm, rc->bits[j]), now);
    }
    return 0;
}

struct race_arg {
    struct race *rc;
    int id;
};

static void *race_thread(void *x)
{
    struct race *rc = ((struct race_arg *)x)->rc;
    int id = ((struct race_arg *)x)->id;
    uint64_t s = seed_base ^ (0x7ace ^ (uint64_t)id);
    for (int r = 0; r < rc->rounds; r++) {
        if (id == 0 && !atomic_load(&rc->failed) && race_prepare(rc, r, &s))
            atomic_store(&rc->failed, 1);
        pthread_barrier_wait(&rc->bar);
        for (int phase = 0; phase < 2; phase++) {
            /* Race to flip the bits: clear the set ones, or set the clear ones. */
            bool set = rc->sets_first == (phase == 0);
            spin_start(rc, 2L * r + phase);
            for (unsigned j = 0; j < RACE_BITS; j++)
                rc->res[id][j] = set ? dl__bitmap_set(rc->bm, rc->bits[j])
                                     : dl__bitmap_clear(rc->bm, rc->bits[j]);
            pthread_barrier_wait(&rc->bar);
            if (id == 0 && !atomic_load(&rc->failed) && race_check(rc, !set, set))
                atomic_store(&rc->failed, 1);
            pthread_barrier_wait(&rc->bar);
        }
    }
    return NULL;
}

static int test_race(void)
{
    static struct race rc;
    memset(&rc, 0, sizeof rc);
    rc.rounds = sanitizer ? 150 : 500;
    REQUIRE_EQ(dl__bitmap_create(&rc.bm, NBITS, 0), 0);
    REQUIRE(pthread_barrier_init(&rc.bar, NULL, RACE_THREADS) == 0);
    pthread_t th[RACE_THREADS];
    struct race_arg args[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        args[t] = (struct race_arg){&rc, t};
        REQUIRE(pthread_create(&th[t], NULL, race_thread, &args[t]) == 0);
    }
    for (int t = 0; t < RACE_THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&rc.bar);
    REQUIRE_EQ(rc.failed, 0);
    printf("  race: %d rounds of %d threads on %d bits\n", rc.rounds, RACE_THREADS, RACE_BITS);
    dl__bitmap_destroy(rc.bm);
    return 0;
}

/* ---- two threads sharing one word ------------------------------------------ */

/* Each of two threads owns one bit of the same word, in an otherwise empty
 * leaf: set it, check that every search finds it, clear it. Each clear that
 * empties the word (the leaf, the node) prunes summaries at once while the
 * other thread's set of the same word may be fixing them: the window the
 * prune protocol's re-check closes. */
struct shared_word {
    struct bitmap *bm;
    uint64_t word_base; /* first bit of the word */
    double deadline;
    long ops[2];
};

struct sw_arg {
    struct shared_word *sw;
    int id;
};

static int shared_word_body(struct shared_word *sw, int id)
{
    uint64_t own = sw->word_base + (id ? 63 : 0), leaf = own / LEAF * LEAF, f = 0;
    uint64_t before = leaf > 3 * LEAF ? leaf - 3 * LEAF : 0;
    for (long i = 0;; i++) {
        if (i % 256 == 0 && now_sec() > sw->deadline) {
            sw->ops[id] = i;
            return 0;
        }
        REQUIRE_EQ(dl__bitmap_set(sw->bm, own), 0);
        /* set happened-before these searches, and only we clear it */
        REQUIRE_EQ(dl__bitmap_find_next_set(sw->bm, own, &f), 1);
        REQUIRE_U64(f, own);
        REQUIRE_EQ(dl__bitmap_find_next_set(sw->bm, i % 2 ? leaf : before, &f), 1);
        REQUIRE(f <= own && f >= sw->word_base);
        struct dl__bitmap_iter it;
        dl__bitmap_iter_init(&it, sw->bm, before);
        REQUIRE_EQ(dl__bitmap_iter_next_set(&it, &f), 1);
        REQUIRE(f <= own && f >= sw->word_base);
        REQUIRE_EQ(dl__bitmap_clear(sw->bm, own), 1);
        /* The clear's side, which also leaves the other thread time to
         * search before our next set would repair a lost summary bit. */
        REQUIRE_EQ(dl__bitmap_test(sw->bm, own), 0);
        REQUIRE_EQ(dl__bitmap_find_next_clear(sw->bm, own, &f), 1);
        REQUIRE_U64(f, own);
        dl__bitmap_iter_init(&it, sw->bm, own);
        REQUIRE_EQ(dl__bitmap_iter_next_clear(&it, &f), 1);
        REQUIRE_U64(f, own);
        if (dl__bitmap_find_next_set(sw->bm, own, &f)) /* only the other's bit */
            REQUIRE_U64(f, sw->word_base + 63);
    }
}

static void *shared_word_thread(void *x)
{
    struct sw_arg *a = x;
    shared_word_body(a->sw, a->id);
    return NULL;
}

static int test_shared_word(void)
{
    /* first, a middle and the last word of a leaf; the last leaf before a
     * node boundary and the first after it */
    static const uint64_t words[] = {7 * LEAF, 9 * LEAF + 64 * 200, 12 * LEAF - 64,
                                     (1ULL << 21) - 64, 1ULL << 21, (1ULL << 27) - 64};
    enum { NW = sizeof words / sizeof *words };
    static struct shared_word sw;
    long ops = 0;
    for (int w = 0; w < NW; w++) {
        sw = (struct shared_word){.word_base = words[w],
                                  .deadline = now_sec() + part_seconds / NW};
        REQUIRE_EQ(dl__bitmap_create(&sw.bm, NBITS, 0), 0);
        pthread_t th[2];
        struct sw_arg args[2] = {{&sw, 0}, {&sw, 1}};
        for (int t = 0; t < 2; t++)
            REQUIRE(pthread_create(&th[t], NULL, shared_word_thread, &args[t]) == 0);
        for (int t = 0; t < 2; t++)
            pthread_join(th[t], NULL);
        ops += sw.ops[0] + sw.ops[1];
        uint64_t f;
        REQUIRE_EQ(dl__bitmap_find_next_set(sw.bm, 0, &f), 0);
        REQUIRE_U64(dl__bitmap_count(sw.bm), 0);
        dl__bitmap_destroy(sw.bm);
    }
    printf("  shared word: %ld set/search/clear rounds\n", ops);
    REQUIRE(ops > 1000);
    return 0;
}

int main(void)
{
    const char *seed = getenv("DL_TEST_SEED");
    seed_base = seed ? strtoull(seed, NULL, 0) : 0x57e55;
    sanitizer = getenv("DL_SANITIZER") != NULL;
    part_seconds = sanitizer ? 0.6 : getenv("DL_CI") ? 1.0 : 1.5;
    printf("seed %#" PRIx64 " (DL_TEST_SEED to replay)\n", seed_base);
    struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"accounting", test_accounting},
        {"promise", test_promise},
        {"race", test_race},
        {"shared_word", test_shared_word},
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        double t0 = now_sec();
        int r = tests[i].fn();
        printf("%s %s (%.2f s)\n", r ? "FAIL" : "ok  ", tests[i].name, now_sec() - t0);
        fflush(stdout);
    }
    return test_exit_status("test_bitmap_stress");
}
