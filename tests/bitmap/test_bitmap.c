/* Tests for src/bitmap: behaviour against a naive reference, boundaries,
 * huge sparse maps, bulk words, pruning, and a multi-threaded stress. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitmap/bitmap.h"
#include "bitmap/bitmap_hooks.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

#define MiB (1024.0 * 1024.0)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- reference: the sorted set of bits that differ from the initial value */

struct ref {
    uint64_t nbits;
    int init;
    uint64_t *x;
    size_t n, cap;
};

static size_t ref_lower(const struct ref *r, uint64_t b)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->x[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int ref_get(const struct ref *r, uint64_t b)
{
    size_t i = ref_lower(r, b);
    return r->init ^ (i < r->n && r->x[i] == b);
}

static void ref_put(struct ref *r, uint64_t b, int v)
{
    size_t i = ref_lower(r, b);
    int flipped = i < r->n && r->x[i] == b;
    if ((r->init ^ flipped) == v)
        return;
    if (flipped) {
        memmove(r->x + i, r->x + i + 1, (r->n - i - 1) * sizeof *r->x);
        r->n--;
        return;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->x = realloc(r->x, r->cap * sizeof *r->x);
        if (!r->x)
            abort();
    }
    memmove(r->x + i + 1, r->x + i, (r->n - i) * sizeof *r->x);
    r->x[i] = b;
    r->n++;
}

/* First bit >= from with value want, like bitmap_find_next_*. */
static int ref_next(const struct ref *r, uint64_t from, int want, uint64_t *found)
{
    if (from >= r->nbits)
        return 0;
    size_t i = ref_lower(r, from);
    if (want != r->init) {
        if (i == r->n)
            return 0;
        *found = r->x[i];
        return 1;
    }
    uint64_t b = from;
    while (i < r->n && r->x[i] == b) {
        b++;
        i++;
    }
    if (b >= r->nbits)
        return 0;
    *found = b;
    return 1;
}

static uint64_t ref_count(const struct ref *r)
{
    return r->init ? r->nbits - r->n : r->n;
}

static uint64_t ref_word(const struct ref *r, uint64_t w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint64_t b = w * 64 + i;
        if (b < r->nbits && ref_get(r, b))
            v |= 1ULL << i;
    }
    return v;
}

/* Search for the value that is not the map's initial one. */
static int find_other(struct bitmap *bm, int init, uint64_t from, uint64_t *found)
{
    return init ? dl__bitmap_find_next_clear(bm, from, found) : dl__bitmap_find_next_set(bm, from, found);
}

/* Compare both searches from `from` with the reference. */
static int check_find(struct bitmap *bm, const struct ref *r, uint64_t from)
{
    for (int want = 0; want <= 1; want++) {
        uint64_t f = UINT64_MAX, g = UINT64_MAX;
        int got = want ? dl__bitmap_find_next_set(bm, from, &f) : dl__bitmap_find_next_clear(bm, from, &f);
        int exp = ref_next(r, from, want, &g);
        if (got != exp || (got && f != g)) {
            fprintf(stderr, "find_next_%s(nbits=%" PRIu64 ", init=%d, from=%" PRIu64
                            "): got %d/%" PRIu64 ", expected %d/%" PRIu64 "\n",
                    want ? "set" : "clear", r->nbits, r->init, from, got, f, exp, g);
            return 1;
        }
        if (got && (f < from || f >= r->nbits))
            return 1;
    }
    return 0;
}

/* The iterator against the reference: the whole minority value from 0,
 * and runs of both values (mixed on one iterator) from random places. */
static int check_iter(struct bitmap *bm, const struct ref *r, uint64_t *rng)
{
    struct dl__bitmap_iter it;
    uint64_t f = 0, g;
    size_t i = 0;
    dl__bitmap_iter_init(&it, bm, 0);
    while (r->init ? dl__bitmap_iter_next_clear(&it, &f) : dl__bitmap_iter_next_set(&it, &f)) {
        REQUIRE(i < r->n);
        REQUIRE_U64(f, r->x[i]);
        i++;
    }
    REQUIRE_U64(i, r->n);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f) + dl__bitmap_iter_next_clear(&it, &f), 0);
    for (int k = 0; k < 20; k++) {
        uint64_t from = k == 0 ? 0 : k == 1 ? r->nbits - 1 : rng_below(rng, r->nbits);
        if (k >= 2 && r->n && k % 2)
            from = r->x[rng_below(rng, r->n)] - (k % 3); /* at or near a minority bit */
        if (from >= r->nbits)
            from = 0;
        dl__bitmap_iter_init(&it, bm, from);
        for (int step = 0; step < 100; step++) {
            int want = (int)rng_below(rng, 2);
            int got = want ? dl__bitmap_iter_next_set(&it, &f) : dl__bitmap_iter_next_clear(&it, &f);
            int exp = ref_next(r, from, want, &g);
            REQUIRE_U64(got, exp);
            if (!got)
                break;
            REQUIRE_U64(f, g);
            from = f + 1;
        }
    }
    return 0;
}

/* One dl__bitmap_iter_next_set_batch of up to max from an iterator at
 * *from, against the reference: exactly the next set bits, and fewer than
 * max only at the end. *from moves past the last one; *got says how many. */
static int check_batch(struct dl__bitmap_iter *it, const struct ref *r, uint64_t *from,
                       size_t max, uint64_t *buf, size_t *got)
{
    size_t n = dl__bitmap_iter_next_set_batch(it, buf, max);
    REQUIRE(n <= max);
    uint64_t x = *from, g;
    for (size_t i = 0; i < n; i++) {
        REQUIRE_U64(ref_next(r, x, 1, &g), 1);
        REQUIRE_U64(buf[i], g);
        x = g + 1;
    }
    if (n < max)
        REQUIRE_U64(ref_next(r, x, 1, &g), 0);
    *from = x;
    *got = n;
    return 0;
}

/* The batched iterator against the reference: every set bit from 0 when
 * they are few (batch sizes 1, 7, 256, 4096 in turn), and batches mixed
 * with single steps from random places. */
static int check_iter_batch(struct bitmap *bm, const struct ref *r, uint64_t *rng)
{
    static const size_t sizes[] = {1, 7, 256, 4096};
    static uint64_t buf[4096];
    struct dl__bitmap_iter it;
    uint64_t from, f, g;
    size_t got;
    if (!r->init || r->nbits - r->n <= (1u << 22)) {
        from = 0;
        dl__bitmap_iter_init(&it, bm, 0);
        for (unsigned k = 0;; k++) {
            REQUIRE(check_batch(&it, r, &from, sizes[k % 4], buf, &got) == 0);
            if (got < sizes[k % 4])
                break;
        }
        REQUIRE_U64(dl__bitmap_iter_next_set_batch(&it, buf, 7), 0); /* stays at the end */
    }
    for (int k = 0; k < 10; k++) {
        from = k == 0 ? r->nbits - 1 : rng_below(rng, r->nbits);
        if (k % 2 && r->n)
            from = r->x[rng_below(rng, r->n)] - (k % 3); /* at or near a minority bit */
        if (from >= r->nbits)
            from = 0;
        dl__bitmap_iter_init(&it, bm, from);
        for (int step = 0; step < 20; step++) {
            if (rng_below(rng, 3) == 0) { /* a single step on the same iterator */
                int got1 = dl__bitmap_iter_next_set(&it, &f);
                REQUIRE_U64(got1, ref_next(r, from, 1, &g));
                if (!got1)
                    break;
                REQUIRE_U64(f, g);
                from = f + 1;
                continue;
            }
            REQUIRE(check_batch(&it, r, &from, sizes[rng_below(rng, 4)], buf, &got) == 0);
            if (!got)
                break;
        }
    }
    return 0;
}

/* Everything observable, compared with the reference. */
static int check_all(struct bitmap *bm, const struct ref *r, uint64_t *rng)
{
    REQUIRE_U64(dl__bitmap_size(bm), r->nbits);
    REQUIRE_U64(dl__bitmap_count(bm), ref_count(r));
    uint64_t n = r->nbits;
    if (n <= 3 * 4096) { /* exhaustive */
        for (uint64_t b = 0; b < n; b++) {
            REQUIRE_U64(dl__bitmap_test(bm, b), ref_get(r, b));
            REQUIRE(check_find(bm, r, b) == 0);
        }
    } else {
        for (size_t i = 0; i < r->n; i++) {
            uint64_t b = r->x[i];
            REQUIRE_U64(dl__bitmap_test(bm, b), r->init ^ 1);
            REQUIRE(check_find(bm, r, b) == 0);
            if (b)
                REQUIRE(check_find(bm, r, b - 1) == 0);
            if (b + 1 < n)
                REQUIRE(check_find(bm, r, b + 1) == 0);
        }
        static const uint64_t edges[] = {0,     1,     63,         64,
                                         65,    4095,  4096,       4097,
                                         32767, 32768, 32769,      1ULL << 21,
                                         (1ULL << 21) + 1, (1ULL << 24) - 1, 1ULL << 27};
        for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
            if (edges[i] < n)
                REQUIRE(check_find(bm, r, edges[i]) == 0);
        for (uint64_t k = 1; k <= 64 && k <= n; k++)
            REQUIRE(check_find(bm, r, n - k) == 0);
        for (int i = 0; i < 200; i++) {
            uint64_t b = rng_below(rng, n);
            REQUIRE_U64(dl__bitmap_test(bm, b), ref_get(r, b));
            REQUIRE(check_find(bm, r, b) == 0);
        }
    }
    REQUIRE(check_find(bm, r, n) == 0); /* from >= nbits: nothing */
    REQUIRE(check_find(bm, r, UINT64_MAX) == 0);

    /* Enumerate the minority value: exactly the reference exceptions. */
    size_t i = 0;
    uint64_t from = 0, f;
    while (find_other(bm, r->init, from, &f)) {
        REQUIRE(i < r->n);
        REQUIRE_U64(f, r->x[i]);
        i++;
        from = f + 1;
    }
    REQUIRE_U64(i, r->n);
    REQUIRE(check_iter(bm, r, rng) == 0);
    REQUIRE(check_iter_batch(bm, r, rng) == 0);

    /* Bulk reads, including past the end. */
    uint64_t nw = (n + 63) / 64;
    uint64_t out[200];
    for (int k = 0; k < 8; k++) {
        uint64_t first = k == 0 ? 0 : k == 1 ? (nw > 100 ? nw - 100 : 0) : rng_below(rng, nw + 10);
        size_t cnt = 1 + (size_t)rng_below(rng, 200);
        dl__bitmap_read_words(bm, first, cnt, out);
        for (size_t j = 0; j < cnt; j++)
            REQUIRE_U64(out[j], first + j < nw ? ref_word(r, first + j) : 0);
    }
    return 0;
}

/* Pick a bit: uniformly, or near an interesting place so leaves fill up. */
static uint64_t pick_bit(uint64_t *rng, uint64_t n)
{
    uint64_t hot[] = {0, n / 2, n - 1, 4096, 32768, 1ULL << 21, (1ULL << 21) + 32768};
    switch (rng_below(rng, 4)) {
    case 0:
        return rng_below(rng, n);
    default: {
        uint64_t h = hot[rng_below(rng, sizeof hot / sizeof *hot)];
        uint64_t b = h + rng_below(rng, 300) - 150;
        return b < n ? b : rng_below(rng, n);
    }
    }
}

static int test_random_vs_reference(void)
{
    static const uint64_t sizes[] = {1,     63,    64,    65,   4095, 4096, 4097, 32767,
                                     32769, (1ULL << 21) + 3, 1ULL << 30};
    uint64_t rng = 0x1234567;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (int init = 0; init <= 1; init++) {
            uint64_t n = sizes[si];
            struct bitmap *bm = NULL;
            REQUIRE_U64(dl__bitmap_create(&bm, n, init), 0);
            struct ref r = {n, init, NULL, 0, 0};
            REQUIRE(check_all(bm, &r, &rng) == 0);
            for (int op = 0; op < 3000; op++) {
                uint64_t b = pick_bit(&rng, n);
                int v = (int)rng_below(&rng, 2);
                int prev = ref_get(&r, b);
                REQUIRE_U64(v ? dl__bitmap_set(bm, b) : dl__bitmap_clear(bm, b), prev);
                ref_put(&r, b, v);
                REQUIRE_U64(dl__bitmap_test(bm, b), v);
                if (op % 16 == 0) {
                    REQUIRE(check_find(bm, &r, b) == 0);
                    REQUIRE(check_find(bm, &r, b ? b - 1 : 0) == 0);
                    REQUIRE(check_find(bm, &r, rng_below(&rng, n)) == 0);
                }
                if (op == 1500)
                    REQUIRE(check_all(bm, &r, &rng) == 0);
            }
            REQUIRE(check_all(bm, &r, &rng) == 0);
            /* Return everything to the initial value; searches stay right. */
            while (r.n) {
                uint64_t b = r.x[r.n - 1];
                REQUIRE_U64(init ? dl__bitmap_set(bm, b) : dl__bitmap_clear(bm, b), !init);
                ref_put(&r, b, init);
            }
            REQUIRE(check_all(bm, &r, &rng) == 0);
            free(r.x);
            dl__bitmap_destroy(bm);
        }
    }
    return 0;
}

/* Set/clear exactly the bits at word/leaf/node boundaries, search from each. */
static int test_boundaries(void)
{
    static const uint64_t sizes[] = {1,     2,     63,    64,    65,    127,   128,
                                     4095,  4096,  4097,  8191,  8192,  8193,  32767,
                                     32768, 32769, 65535, 65537, (1ULL << 21) - 1,
                                     1ULL << 21, (1ULL << 21) + 3, (1ULL << 27) + 1};
    uint64_t rng = 42;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        uint64_t n = sizes[si];
        for (int init = 0; init <= 1; init++) {
            struct bitmap *bm;
            REQUIRE_U64(dl__bitmap_create(&bm, n, init), 0);
            struct ref r = {n, init, NULL, 0, 0};
            uint64_t pts[64];
            size_t np = 0;
            /* word, small and real leaf, node and root-child spans */
            static const uint64_t units[] = {64, 4096, 32768, 1ULL << 21, 1ULL << 27};
            for (size_t u = 0; u < 5; u++)
                for (uint64_t m = units[u]; m < n && m <= 3 * units[u]; m += units[u])
                    for (int d = -1; d <= 1; d++)
                        if (m + (uint64_t)d < n)
                            pts[np++] = m + (uint64_t)d;
            pts[np++] = 0;
            pts[np++] = n - 1;
            for (size_t i = 0; i < np; i++) {
                REQUIRE_U64(init ? dl__bitmap_clear(bm, pts[i]) : dl__bitmap_set(bm, pts[i]), ref_get(&r, pts[i]));
                ref_put(&r, pts[i], !init);
            }
            for (size_t i = 0; i < np; i++)
                for (int d = -2; d <= 2; d++)
                    REQUIRE(check_find(bm, &r, pts[i] + (uint64_t)d) == 0);
            REQUIRE(check_all(bm, &r, &rng) == 0);
            free(r.x);
            dl__bitmap_destroy(bm);
        }
    }
    return 0;
}

static int test_create_args(void)
{
    struct bitmap *bm = NULL;
    REQUIRE_U64(dl__bitmap_create(&bm, 0, 0), -EINVAL);
    REQUIRE_U64(dl__bitmap_create(&bm, (1ULL << 63) + 1, 0), -EINVAL);
    REQUIRE_U64(dl__bitmap_create(NULL, 10, 0), -EINVAL);
    dl__bitmap_destroy(NULL);

    /* 2^63 bits: six levels, still tiny. */
    REQUIRE_U64(dl__bitmap_create(&bm, 1ULL << 63, 0), 0);
    uint64_t last = (1ULL << 63) - 1, f;
    REQUIRE_U64(dl__bitmap_set(bm, last), 0);
    REQUIRE_U64(dl__bitmap_set(bm, 0), 0);
    REQUIRE_U64(dl__bitmap_set(bm, 1ULL << 62), 0);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 1, &f), 1);
    REQUIRE_U64(f, 1ULL << 62);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, f + 1, &f), 1);
    REQUIRE_U64(f, last);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, last, &f), 0);
    REQUIRE_U64(dl__bitmap_count(bm), 3);
    REQUIRE(dl__bitmap_memory(bm) < 1024 * 1024);
    dl__bitmap_destroy(bm);

    REQUIRE_U64(dl__bitmap_create(&bm, 1ULL << 63, 1), 0);
    REQUIRE_U64(dl__bitmap_count(bm), 1ULL << 63);
    REQUIRE_U64(dl__bitmap_clear(bm, last), 1);
    REQUIRE_U64(dl__bitmap_count(bm), last);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 1);
    REQUIRE_U64(f, last);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, last, &f), 0);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, last - 1, &f), 1);
    REQUIRE_U64(f, last - 1);
    dl__bitmap_destroy(bm);
    return 0;
}

/* Bits beyond nbits in the last word/leaf of an all-ones map never show. */
static int test_beyond_nbits(void)
{
    uint64_t n = (1ULL << 32) + 1, f, w[4];
    struct bitmap *bm;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 1), 0);
    REQUIRE_U64(dl__bitmap_count(bm), n);
    REQUIRE(dl__bitmap_memory(bm) < 64 * 1024);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 1ULL << 32, &f), 1);
    REQUIRE_U64(f, 1ULL << 32);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, n, &f), 0);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 0);
    dl__bitmap_read_words(bm, (1ULL << 26) - 1, 4, w);
    REQUIRE_U64(w[0], ~0ULL);
    REQUIRE_U64(w[1], 1);
    REQUIRE_U64(w[2], 0);
    REQUIRE_U64(w[3], 0);
    REQUIRE_U64(dl__bitmap_clear(bm, 1ULL << 32), 1); /* materialises the last leaf */
    REQUIRE_U64(dl__bitmap_count(bm), n - 1);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, (1ULL << 32) - 5, &f), 1);
    REQUIRE_U64(f, (1ULL << 32) - 5);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 1ULL << 32, &f), 0);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 1);
    REQUIRE_U64(f, 1ULL << 32);
    dl__bitmap_read_words(bm, 1ULL << 26, 2, w);
    REQUIRE_U64(w[0], 0);
    REQUIRE_U64(w[1], 0);
    REQUIRE_U64(dl__bitmap_set(bm, 1ULL << 32), 0);
    dl__bitmap_read_words(bm, 1ULL << 26, 2, w);
    REQUIRE_U64(w[0], 1);
    REQUIRE_U64(w[1], 0);
    REQUIRE_U64(dl__bitmap_count(bm), n);
    /* Clear one bit in the first leaf: the last one stays as it was. */
    REQUIRE_U64(dl__bitmap_clear(bm, 5), 1);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 6, &f), 0);
    dl__bitmap_destroy(bm);

    static const uint64_t sizes[] = {65, 100, 4097, 4096 + 4095, (1ULL << 21) + 70};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        n = sizes[i];
        REQUIRE_U64(dl__bitmap_create(&bm, n, 1), 0);
        REQUIRE_U64(dl__bitmap_clear(bm, n - 1), 1);
        REQUIRE_U64(dl__bitmap_clear(bm, 0), 1);
        REQUIRE_U64(dl__bitmap_count(bm), n - 2);
        REQUIRE_U64(dl__bitmap_find_next_clear(bm, 1, &f), 1);
        REQUIRE_U64(f, n - 1);
        REQUIRE_U64(dl__bitmap_find_next_set(bm, n - 1, &f), 0);
        REQUIRE_U64(dl__bitmap_set(bm, n - 1), 0);
        REQUIRE_U64(dl__bitmap_find_next_clear(bm, 1, &f), 0);
        REQUIRE_U64(dl__bitmap_find_next_set(bm, n - 1, &f), 1);
        REQUIRE_U64(f, n - 1);
        dl__bitmap_read_words(bm, (n - 1) / 64, 2, w);
        REQUIRE_U64(w[0], n % 64 ? (1ULL << (n % 64)) - 1 : ~0ULL);
        REQUIRE_U64(w[1], 0);
        dl__bitmap_destroy(bm);
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int test_sparse_2_40(void)
{
    const uint64_t n = 1ULL << 40;
    enum { K = 1000 };
    static uint64_t bits[K];
    uint64_t rng = 99, f;
    struct bitmap *bm;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    size_t empty = dl__bitmap_memory(bm);
    for (int i = 0; i < K;) {
        uint64_t b = i == 0 ? 0 : i == 1 ? n - 1 : rng_below(&rng, n);
        int r = dl__bitmap_set(bm, b);
        REQUIRE(r == 0 || r == 1);
        if (r == 0)
            bits[i++] = b;
    }
    qsort(bits, K, sizeof *bits, cmp_u64);
    size_t mem = dl__bitmap_memory(bm);
    printf("  2^40 bits, %d set: %.2f MiB (empty map: %zu bytes)\n", K, mem / MiB, empty);
    REQUIRE(mem < (size_t)64 << 20);
    REQUIRE_U64(dl__bitmap_count(bm), K);
    uint64_t from = 0;
    int i = 0;
    while (dl__bitmap_find_next_set(bm, from, &f)) {
        REQUIRE(i < K);
        REQUIRE_U64(f, bits[i]);
        i++;
        from = f + 1;
    }
    REQUIRE_U64(i, K);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 1);
    REQUIRE_U64(f, 1);
    for (i = 0; i < K; i++) {
        REQUIRE_U64(dl__bitmap_test(bm, bits[i]), 1);
        REQUIRE_U64(dl__bitmap_clear(bm, bits[i]), 1);
    }
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 0);
    REQUIRE_U64(dl__bitmap_count(bm), 0);
    dl__bitmap_destroy(bm);

    /* One bit near the end: the search from 0 must skip the empty space. */
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    REQUIRE_U64(dl__bitmap_set(bm, n - 12345), 0);
    double t0 = now_sec();
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 1);
    double t1 = now_sec();
    REQUIRE_U64(f, n - 12345);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, f + 1, &f), 0);
    printf("  search across 2^40 bits for one bit: %.1f us\n", (t1 - t0) * 1e6);
    dl__bitmap_destroy(bm);
    return 0;
}

static int test_ones_2_40(void)
{
    const uint64_t n = 1ULL << 40;
    enum { K = 1000 };
    static uint64_t bits[K];
    uint64_t rng = 7, f;
    struct bitmap *bm;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 1), 0);
    size_t mem0 = dl__bitmap_memory(bm);
    REQUIRE(mem0 < 1024 * 1024);
    double t0 = now_sec();
    REQUIRE_U64(dl__bitmap_count(bm), n);
    printf("  all-ones 2^40: %zu bytes, count in %.1f us\n", mem0, (now_sec() - t0) * 1e6);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 0);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, n - 1, &f), 1);
    REQUIRE_U64(f, n - 1);
    for (int i = 0; i < K;) {
        uint64_t b = rng_below(&rng, n);
        int r = dl__bitmap_clear(bm, b);
        REQUIRE(r == 0 || r == 1);
        if (r == 1)
            bits[i++] = b;
    }
    qsort(bits, K, sizeof *bits, cmp_u64);
    size_t mem = dl__bitmap_memory(bm);
    printf("  all-ones 2^40 with %d cleared: %.2f MiB\n", K, mem / MiB);
    REQUIRE(mem < (size_t)64 << 20);
    REQUIRE_U64(dl__bitmap_count(bm), n - K);
    uint64_t from = 0;
    int i = 0;
    while (dl__bitmap_find_next_clear(bm, from, &f)) {
        REQUIRE(i < K);
        REQUIRE_U64(f, bits[i]);
        i++;
        from = f + 1;
    }
    REQUIRE_U64(i, K);
    for (i = 0; i < K; i++) {
        REQUIRE_U64(dl__bitmap_test(bm, bits[i]), 0);
        uint64_t e = bits[i] + 1; /* first set bit after a cleared one */
        for (int j = i + 1; j < K && bits[j] == e; j++)
            e++;
        REQUIRE_U64(dl__bitmap_find_next_set(bm, bits[i], &f), e < n);
        if (e < n)
            REQUIRE_U64(f, e);
    }
    REQUIRE_U64(dl__bitmap_fill(bm, 1), 0);
    REQUIRE_U64(dl__bitmap_memory(bm), mem0);
    REQUIRE_U64(dl__bitmap_count(bm), n);
    REQUIRE_U64(dl__bitmap_fill(bm, 0), 0);
    REQUIRE_U64(dl__bitmap_count(bm), 0);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 0);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 77, &f), 1);
    REQUIRE_U64(f, 77);
    dl__bitmap_destroy(bm);
    return 0;
}

static int test_around_2_32(void)
{
    const uint64_t n = (1ULL << 33) + 5;
    const uint64_t b[] = {(1ULL << 32) - 1, 1ULL << 32, (1ULL << 32) + 1, n - 1};
    uint64_t f, w[2];
    for (int init = 0; init <= 1; init++) {
        struct bitmap *bm;
        REQUIRE_U64(dl__bitmap_create(&bm, n, init), 0);
        for (int i = 0; i < 4; i++)
            REQUIRE_U64(init ? dl__bitmap_clear(bm, b[i]) : dl__bitmap_set(bm, b[i]), init);
        for (int i = 0; i < 4; i++) {
            REQUIRE_U64(dl__bitmap_test(bm, b[i]), !init);
            REQUIRE_U64(dl__bitmap_test(bm, b[i] - 5), init);
            uint64_t from = i ? b[i - 1] + 1 : 0;
            REQUIRE_U64(find_other(bm, init, from, &f), 1);
            REQUIRE_U64(f, b[i]);
        }
        REQUIRE_U64(find_other(bm, init, n, &f), 0);
        REQUIRE_U64(dl__bitmap_count(bm), init ? n - 4 : 4);
        dl__bitmap_read_words(bm, (1ULL << 26) - 1, 2, w);
        REQUIRE_U64(w[0], init ? ~(1ULL << 63) : 1ULL << 63);
        REQUIRE_U64(w[1], init ? ~3ULL : 3ULL);
        REQUIRE_U64(init ? dl__bitmap_set(bm, 1ULL << 32) : dl__bitmap_clear(bm, 1ULL << 32), !init);
        REQUIRE_U64(dl__bitmap_test(bm, 1ULL << 32), init);
        REQUIRE_U64(find_other(bm, init, 1ULL << 32, &f), 1);
        REQUIRE_U64(f, (1ULL << 32) + 1);
        dl__bitmap_destroy(bm);
    }
    return 0;
}

/* Bulk words against a dense reference. */
static int test_words(void)
{
    static const uint64_t sizes[] = {1, 64, 65, 4097, (1ULL << 21) + 3, (1ULL << 24) + 100};
    uint64_t rng = 5;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        uint64_t n = sizes[si], nw = (n + 63) / 64;
        for (int init = 0; init <= 1; init++) {
            struct bitmap *bm;
            REQUIRE_U64(dl__bitmap_create(&bm, n, init), 0);
            size_t mem0 = dl__bitmap_memory(bm);
            uint64_t *ref = malloc(nw * sizeof *ref), *buf = malloc((nw + 3200) * sizeof *buf);
            REQUIRE(ref && buf);
            for (uint64_t i = 0; i < nw; i++)
                ref[i] = init ? ~0ULL : 0;
            if (n % 64)
                ref[nw - 1] &= (1ULL << (n % 64)) - 1;
            for (int round = 0; round < 40; round++) {
                uint64_t first = rng_below(&rng, nw);
                size_t cnt = 1 + (size_t)rng_below(&rng, round % 4 == 0 ? 300 : 3000);
                int kind = (int)rng_below(&rng, 4); /* 0 zeros, 1 ones, 2 random, 3 sparse */
                for (size_t j = 0; j < cnt; j++)
                    buf[j] = kind == 0 ? 0 : kind == 1 ? ~0ULL
                           : kind == 2 ? rng_next(&rng)
                                       : (rng_below(&rng, 50) ? 0 : 1ULL << rng_below(&rng, 64));
                REQUIRE_U64(dl__bitmap_write_words(bm, first, cnt, buf), 0);
                for (size_t j = 0; j < cnt && first + j < nw; j++) {
                    ref[first + j] = buf[j];
                    if (first + j == nw - 1 && n % 64)
                        ref[nw - 1] &= (1ULL << (n % 64)) - 1;
                }
                /* read back a window around it */
                uint64_t rf = first > 70 ? first - 70 : 0;
                size_t rc = cnt + 140 < nw + 64 ? cnt + 140 : nw + 64;
                dl__bitmap_read_words(bm, rf, rc, buf);
                for (size_t j = 0; j < rc; j++)
                    REQUIRE_U64(buf[j], rf + j < nw ? ref[rf + j] : 0);
                /* searches and single-bit ops agree with the words */
                uint64_t b = first * 64 + rng_below(&rng, 64);
                if (b < n) {
                    REQUIRE_U64(dl__bitmap_test(bm, b), (ref[b / 64] >> (b % 64)) & 1);
                    uint64_t f, e = b;
                    while (e < n && !((ref[e / 64] >> (e % 64)) & 1))
                        e++;
                    int got = dl__bitmap_find_next_set(bm, b, &f);
                    REQUIRE_U64(got, e < n);
                    if (got)
                        REQUIRE_U64(f, e);
                }
            }
            uint64_t pop = 0;
            for (uint64_t i = 0; i < nw; i++)
                pop += (uint64_t)__builtin_popcountll(ref[i]);
            REQUIRE_U64(dl__bitmap_count(bm), pop);

            /* Uniform leaves written back become sentinels: memory shrinks.
             * First make every leaf dense, then write 2^16-bit blocks that
             * are alternately all 0 and all 1. */
            for (uint64_t i = 0; i < nw; i++)
                ref[i] = rng_next(&rng);
            REQUIRE_U64(dl__bitmap_write_words(bm, 0, nw, ref), 0);
            size_t dense = dl__bitmap_memory(bm);
            REQUIRE(dense >= n / 8);
            for (uint64_t i = 0; i < nw; i++)
                ref[i] = (i / 1024) % 2 ? ~0ULL : 0;
            REQUIRE_U64(dl__bitmap_write_words(bm, 0, nw, ref), 0);
            size_t alt = dl__bitmap_memory(bm);
            printf("  %" PRIu64 " bits: empty %zu, dense %zu, alternating blocks %zu bytes\n", n,
                   mem0, dense, alt);
            REQUIRE(alt <= mem0 + n / 64 + 65536);
            uint64_t f;
            REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), n > 65536);
            if (n > 65536) {
                REQUIRE_U64(f, 65536);
                REQUIRE_U64(dl__bitmap_find_next_clear(bm, 65536, &f), n > 131072);
                if (n > 131072)
                    REQUIRE_U64(f, 131072);
            }
            for (uint64_t i = 0; i < nw; i++)
                ref[i] = init ? ~0ULL : 0;
            REQUIRE_U64(dl__bitmap_write_words(bm, 0, nw, ref), 0);
            REQUIRE_U64(dl__bitmap_memory(bm), mem0); /* back to nothing but the struct */
            REQUIRE_U64(dl__bitmap_count(bm), init ? n : 0);
            for (uint64_t i = 0; i < nw; i++)
                ref[i] = init ? 0 : ~0ULL;
            REQUIRE_U64(dl__bitmap_write_words(bm, 0, nw, ref), 0);
            REQUIRE_U64(dl__bitmap_memory(bm), mem0);
            REQUIRE_U64(dl__bitmap_count(bm), init ? 0 : n);
            /* words past the end are ignored */
            REQUIRE_U64(dl__bitmap_write_words(bm, nw, 3, ref), 0);
            REQUIRE_U64(dl__bitmap_write_words(bm, UINT64_MAX - 1, 1, ref), 0);
            REQUIRE_U64(dl__bitmap_count(bm), init ? 0 : n);
            free(ref);
            free(buf);
            dl__bitmap_destroy(bm);
        }
    }
    return 0;
}

/* Bulk writes that make whole interior subtrees uniform free them too. */
static int test_words_collapse(void)
{
    const uint64_t n = (1ULL << 28) + 100; /* root -> node -> leaf */
    const uint64_t first = (1ULL << 21) / 64, nw = (1ULL << 22) / 64; /* 2 whole nodes */
    uint64_t *buf = malloc(nw * sizeof *buf), rng = 11, f;
    REQUIRE(buf != NULL);
    for (int init = 0; init <= 1; init++) {
        struct bitmap *bm;
        REQUIRE_U64(dl__bitmap_create(&bm, n, init), 0);
        size_t mem0 = dl__bitmap_memory(bm);
        for (uint64_t i = 0; i < nw; i++)
            buf[i] = rng_next(&rng);
        REQUIRE_U64(dl__bitmap_write_words(bm, first, nw, buf), 0);
        REQUIRE(dl__bitmap_memory(bm) > mem0 + nw * 8);
        for (uint64_t i = 0; i < nw; i++)
            buf[i] = init ? 0 : ~0ULL;
        REQUIRE_U64(dl__bitmap_write_words(bm, first, nw, buf), 0);
        REQUIRE_U64(dl__bitmap_memory(bm), mem0);
        REQUIRE_U64(dl__bitmap_count(bm), init ? n - (1ULL << 22) : 1ULL << 22);
        REQUIRE_U64(find_other(bm, init, 0, &f), 1);
        REQUIRE_U64(f, 1ULL << 21);
        REQUIRE_U64(init ? dl__bitmap_find_next_set(bm, f, &f) : dl__bitmap_find_next_clear(bm, f, &f), 1);
        REQUIRE_U64(f, 3ULL << 21);
        /* An unaligned window: partial leaves at both ends stay leaves. */
        for (uint64_t i = 0; i < nw; i++)
            buf[i] = init ? ~0ULL : 0;
        REQUIRE_U64(dl__bitmap_write_words(bm, first + 7, nw - 9, buf), 0);
        REQUIRE_U64(dl__bitmap_count(bm), init ? n - 7 * 64 - 2 * 64 : 9 * 64);
        REQUIRE(dl__bitmap_memory(bm) <= mem0 + 2 * 4096 + 2 * 1024);
        /* The last node has only 100 valid bits: all ones there is uniform. */
        uint64_t last = (n - 1) / 64 - 1;
        size_t before = dl__bitmap_memory(bm);
        buf[0] = buf[1] = ~0ULL;
        REQUIRE_U64(dl__bitmap_write_words(bm, last, 3, buf), 0);
        REQUIRE_U64(dl__bitmap_memory(bm), before);
        REQUIRE_U64(dl__bitmap_test(bm, n - 1), 1);
        REQUIRE_U64(dl__bitmap_find_next_clear(bm, last * 64, &f), 0);
        REQUIRE_U64(dl__bitmap_fill(bm, init), 0);
        REQUIRE_U64(dl__bitmap_memory(bm), mem0);
        dl__bitmap_destroy(bm);
    }
    free(buf);
    return 0;
}

/* After mark + clear of every bit (one by one, or by ranges), the clears
 * have pruned the summaries already: the first search is O(dirty) and
 * skips the whole (empty) map. Counted in leaves visited (bitmap_hooks.h),
 * not timed, so a slow machine cannot fail it. */
static int test_prune(void)
{
    const uint64_t n = 1ULL << 22;
    uint64_t f;
    struct bitmap *bm;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    REQUIRE_U64(dl__bitmap_set_range(bm, 0, n), 0);
    REQUIRE_U64(dl__bitmap_clear_range(bm, 0, n / 2), 0);
    REQUIRE_U64(dl__bitmap_clear_range(bm, n / 2, n / 2 - 1000), 0);
    for (uint64_t b = n - 1000; b < n - 1; b++)
        REQUIRE_U64(dl__bitmap_clear(bm, b), 1);
    dl__bitmap_count_leaf_visits(bm);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 1);
    REQUIRE_U64(f, n - 1);
    REQUIRE_U64(dl__bitmap_leaf_visits(bm), 1); /* only the dirty one */
    REQUIRE(dl__bitmap_word_visits(bm) <= 2);
    REQUIRE_U64(dl__bitmap_clear(bm, n - 1), 1);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 0);
    REQUIRE_U64(dl__bitmap_leaf_visits(bm), 1);
    for (uint64_t b = 0; b < n; b++) {
        int r = dl__bitmap_set(bm, b);
        if (r != 0)
            REQUIRE_U64(r, 0);
    }
    REQUIRE_U64(dl__bitmap_count(bm), n);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 0, &f), 0);
    for (uint64_t b = 0; b < n; b++) {
        int r = dl__bitmap_clear(bm, b);
        if (r != 1)
            REQUIRE_U64(r, 1);
    }
    REQUIRE_U64(dl__bitmap_count(bm), 0);
    /* No search visits a leaf: the clears pruned as they went. */
    dl__bitmap_count_leaf_visits(bm);
    for (int i = 0; i < 5; i++) {
        REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 0);
        REQUIRE_U64(dl__bitmap_leaf_visits(bm), 0);
    }
    /* ... and a new bit is still found. */
    REQUIRE_U64(dl__bitmap_set(bm, n - 3), 0);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 1);
    REQUIRE_U64(f, n - 3);
    REQUIRE_U64(dl__bitmap_leaf_visits(bm), 1); /* only the new bit's leaf */
    dl__bitmap_destroy(bm);
    return 0;
}

/* A search in a sparse leaf loads only the words its summary names. */
static int test_word_summary(void)
{
    const uint64_t n = 1ULL << 30;
    const uint64_t leaf = 7ULL << 15;
    uint64_t f;
    struct bitmap *bm;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    REQUIRE_U64(dl__bitmap_set(bm, leaf + 3), 0);
    REQUIRE_U64(dl__bitmap_set(bm, leaf + 32767), 0);
    dl__bitmap_count_leaf_visits(bm);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, leaf + 4, &f), 1);
    REQUIRE_U64(f, leaf + 32767);
    REQUIRE(dl__bitmap_word_visits(bm) <= 2); /* not the 510 empty ones */
    /* A word emptied by a clear drops out of the summary. */
    REQUIRE_U64(dl__bitmap_set(bm, leaf + 5000), 0);
    REQUIRE_U64(dl__bitmap_clear(bm, leaf + 5000), 1);
    uint64_t before = dl__bitmap_word_visits(bm);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, leaf + 4, &f), 1);
    REQUIRE_U64(f, leaf + 32767);
    REQUIRE(dl__bitmap_word_visits(bm) - before <= 2);
    /* An all-ones leaf turned into words by a clear names every word. */
    REQUIRE_U64(dl__bitmap_set_range(bm, 1ULL << 29, 1ULL << 15), 0);
    REQUIRE_U64(dl__bitmap_clear(bm, (1ULL << 29) + 64), 1);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, (1ULL << 29) + 64, &f), 1);
    REQUIRE_U64(f, (1ULL << 29) + 65);
    dl__bitmap_destroy(bm);
    return 0;
}

/* Compact after everything was cleared: memory back to an empty map's,
 * and what is left still reads right. */
static int test_compact(void)
{
    const uint64_t n = 1ULL << 40;
    const unsigned k = getenv("DL_SANITIZER") ? 512 : 4096;
    struct bitmap *bm, *empty;
    uint64_t rng = 12345, f;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    REQUIRE_U64(dl__bitmap_create(&empty, n, 0), 0);
    uint64_t *bits = malloc(k * sizeof *bits);
    REQUIRE(bits != NULL);
    for (unsigned i = 0; i < k; i++) {
        bits[i] = rng_below(&rng, n);
        REQUIRE(dl__bitmap_set(bm, bits[i]) >= 0);
    }
    REQUIRE_U64(dl__bitmap_set_range(bm, 1ULL << 39, 1ULL << 21), 0);
    size_t full = dl__bitmap_memory(bm);
    for (unsigned i = 0; i < k; i++)
        REQUIRE(dl__bitmap_clear(bm, bits[i]) >= 0);
    REQUIRE_U64(dl__bitmap_clear_range(bm, 1ULL << 39, 1ULL << 21), 0);
    REQUIRE_U64(dl__bitmap_count(bm), 0);
    REQUIRE_U64(dl__bitmap_set(bm, 5), 0); /* one bit stays */
    dl__bitmap_compact(bm);
    size_t after = dl__bitmap_memory(bm), base = dl__bitmap_memory(empty);
    printf("  2^40 bits, %u random set then cleared: %.2f MiB, compacted %zu bytes (empty %zu)\n",
           k, full / MiB, after, base);
    REQUIRE(after <= 2 * base + 2 * 4224 + 8 * 576); /* the one bit's leaf and nodes */
    REQUIRE_U64(dl__bitmap_count(bm), 1);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 1);
    REQUIRE_U64(f, 5);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 6, &f), 0);
    /* Uniform ones collapse too; and the map keeps working. */
    REQUIRE_U64(dl__bitmap_set_range(bm, 1ULL << 35, 1ULL << 22), 0);
    REQUIRE_U64(dl__bitmap_clear(bm, (1ULL << 35) + 77), 1);
    REQUIRE_U64(dl__bitmap_set(bm, (1ULL << 35) + 77), 0);
    dl__bitmap_compact(bm);
    REQUIRE(dl__bitmap_memory(bm) <= after + 8 * 576);
    REQUIRE_U64(dl__bitmap_count(bm), (1ULL << 22) + 1);
    REQUIRE_U64(dl__bitmap_find_next_clear(bm, 1ULL << 35, &f), 1);
    REQUIRE_U64(f, (1ULL << 35) + (1ULL << 22));
    REQUIRE_U64(dl__bitmap_clear(bm, 5), 1);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 1);
    REQUIRE_U64(f, 1ULL << 35);
    /* Everything cleared: exactly an empty map's memory. */
    REQUIRE_U64(dl__bitmap_clear_range(bm, 1ULL << 35, 1ULL << 22), 0);
    dl__bitmap_compact(bm);
    REQUIRE_U64(dl__bitmap_memory(bm), base);
    REQUIRE_U64(dl__bitmap_find_next_set(bm, 0, &f), 0);
    free(bits);
    dl__bitmap_destroy(bm);
    dl__bitmap_destroy(empty);
    return 0;
}

/* The iterator resumes in the leaf (or uniform subtree) of its last answer:
 * counted in searches from the root (bitmap_hooks.h), not timed. It also
 * survives an exclusive call between two of its calls. */
static int test_iter_resumes(void)
{
    const uint64_t n = 1ULL << 40;
    struct bitmap *bm;
    struct dl__bitmap_iter it;
    uint64_t f;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 0), 0);
    uint64_t leaf = 5ULL << 30; /* a leaf deep in the tree */
    for (uint64_t k = 0; k < 300; k++)
        REQUIRE_U64(dl__bitmap_set(bm, leaf + 7 * k), 0);
    REQUIRE_U64(dl__bitmap_set_range(bm, 9ULL << 30, 1ULL << 25), 0); /* ONES subtrees */
    dl__bitmap_count_leaf_visits(bm);
    dl__bitmap_iter_init(&it, bm, 0);
    for (uint64_t k = 0; k < 300; k++) {
        REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
        REQUIRE_U64(f, leaf + 7 * k);
    }
    REQUIRE_U64(dl__bitmap_root_searches(bm), 1);
    for (uint64_t k = 0; k < 1000; k++) {
        REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
        REQUIRE_U64(f, (9ULL << 30) + k);
    }
    REQUIRE_U64(dl__bitmap_root_searches(bm), 2); /* one more for the run */
    /* Zeros inside the leaf, from the cached leaf. */
    dl__bitmap_iter_init(&it, bm, leaf);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(dl__bitmap_iter_next_clear(&it, &f), 1);
    REQUIRE_U64(f, leaf + 1);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, leaf + 7);
    REQUIRE_U64(dl__bitmap_root_searches(bm), 3);
    /* A concurrent-style change in the cached leaf is seen, ... */
    REQUIRE_U64(dl__bitmap_set(bm, leaf + 9), 0);
    REQUIRE_U64(dl__bitmap_clear(bm, leaf + 14), 1);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, leaf + 9);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, leaf + 21);
    /* ... and an exclusive call that frees the leaf is noticed. */
    uint64_t zero[512] = {0};
    REQUIRE_U64(dl__bitmap_write_words(bm, leaf / 64, 512, zero), 0);
    REQUIRE_U64(dl__bitmap_set(bm, leaf + 40000), 0);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, leaf + 40000);
    dl__bitmap_fill(bm, 1);
    REQUIRE_U64(dl__bitmap_iter_next_clear(&it, &f), 0);
    dl__bitmap_iter_init(&it, bm, n - 2);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, n - 2);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
    REQUIRE_U64(f, n - 1);
    REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 0);
    dl__bitmap_destroy(bm);
    return 0;
}


/* Batched iteration over many shapes (sparse and flat): isolated bits, 1%
 * random, runs, all-ones subtrees, nbits not a multiple of 64; and with
 * sets and clears between the batches, each batch is exactly the
 * reference's next set bits from where the previous one stopped. */
static int batch_shape(struct bitmap *bm, struct ref *r, uint64_t *rng, int shape)
{
    uint64_t n = r->nbits;
    switch (shape) {
    case 0: /* isolated bits, some in the last word */
        for (int i = 0; i < 300; i++) {
            uint64_t b = i < 5 && (uint64_t)i * 3 < n ? n - 1 - (uint64_t)i * 3 : rng_below(rng, n);
            REQUIRE(dl__bitmap_set(bm, b) >= 0);
            ref_put(r, b, 1);
        }
        break;
    case 1: /* 1% random in the first 2^20 bits */
        for (uint64_t b = 0; b < (1u << 20) && b < n; b++)
            if (rng_below(rng, 100) == 0) {
                REQUIRE(dl__bitmap_set(bm, b) >= 0);
                ref_put(r, b, 1);
            }
        break;
    case 2: /* runs of all lengths, across word and leaf boundaries */
        for (uint64_t b = 32768 - 300; b < (1u << 20) && b < n;) {
            uint64_t len = 1 + rng_below(rng, 700);
            if (b + len > n)
                len = n - b;
            REQUIRE_U64(dl__bitmap_set_range(bm, b, len), 0);
            for (uint64_t x = b; x < b + len; x++)
                ref_put(r, x, 1);
            b += len + rng_below(rng, 2000);
        }
        break;
    default: /* whole leaves (and beyond 2^27 bits a whole node) set, then
              * compacted into all-ones subtrees; the tail up to nbits too */
        for (uint64_t b = 0; b < 3 * 32768 + 5 && b < n; b++)
            ref_put(r, b, 1);
        REQUIRE_U64(dl__bitmap_set_range(bm, 0, 3 * 32768 + 5 < n ? 3 * 32768 + 5 : n), 0);
        if (n > (1ULL << 27)) {
            uint64_t b0 = 1ULL << 27, len = 1ULL << 21;
            REQUIRE_U64(dl__bitmap_set_range(bm, b0, len), 0);
            for (uint64_t x = b0; x < b0 + len; x++)
                ref_put(r, x, 1);
        }
        if (n > 4 * 32768) {
            uint64_t b0 = (n - 40000) & ~(uint64_t)63;
            REQUIRE_U64(dl__bitmap_set_range(bm, b0, n - b0), 0);
            for (uint64_t x = b0; x < n; x++)
                ref_put(r, x, 1);
        }
        dl__bitmap_compact(bm);
        break;
    }
    return 0;
}

static int test_iter_batch(void)
{
    static const uint64_t sizes[] = {1, 63, 65, 32768 * 3 + 7, (1ULL << 20) + 13,
                                     (1ULL << 27) + (1ULL << 21) + 77};
    static uint64_t buf[4096];
    uint64_t rng = 0xBA7C4;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int shape = 0; shape < 4; shape++)
            for (int flat = 0; flat <= 1; flat++) {
                uint64_t n = sizes[si];
                struct bitmap *bm;
                if (flat && n > DL__BITMAP_FLAT_MAX_BITS)
                    continue;
                REQUIRE_U64(flat ? dl__bitmap_create_flat(&bm, n, 0) : dl__bitmap_create(&bm, n, 0),
                            0);
                struct ref r = {n, 0, NULL, 0, 0};
                REQUIRE(batch_shape(bm, &r, &rng, shape) == 0);
                REQUIRE(check_iter_batch(bm, &r, &rng) == 0);
                /* Sets and clears between the batches of one iterator. */
                struct dl__bitmap_iter it;
                uint64_t from = 0;
                size_t got;
                dl__bitmap_iter_init(&it, bm, 0);
                for (int step = 0; step < 200; step++) {
                    for (int c = 0; c < 3; c++) {
                        uint64_t b = rng_below(&rng, 4) ? from + rng_below(&rng, 70000)
                                                        : rng_below(&rng, n);
                        if (b >= n)
                            continue;
                        int v = (int)rng_below(&rng, 2);
                        REQUIRE_U64(v ? dl__bitmap_set(bm, b) : dl__bitmap_clear(bm, b),
                                    ref_get(&r, b));
                        ref_put(&r, b, v);
                    }
                    size_t max = step % 3 == 0 ? 1 : step % 3 == 1 ? 7 : 4096;
                    REQUIRE(check_batch(&it, &r, &from, max, buf, &got) == 0);
                    if (got < max)
                        break;
                }
                free(r.x);
                dl__bitmap_destroy(bm);
            }
    /* An all-ones map: the root's uniform children emit consecutive bits. */
    struct bitmap *bm;
    uint64_t n = (1ULL << 27) + (1ULL << 22) + 3, f = (1ULL << 27) - 5;
    REQUIRE_U64(dl__bitmap_create(&bm, n, 1), 0);
    struct dl__bitmap_iter it;
    dl__bitmap_iter_init(&it, bm, f);
    while (f < n) {
        size_t got = dl__bitmap_iter_next_set_batch(&it, buf, 4096);
        REQUIRE_U64(got, n - f < 4096 ? n - f : 4096);
        for (size_t i = 0; i < got; i++)
            REQUIRE_U64(buf[i], f + i);
        f += got;
    }
    REQUIRE_U64(dl__bitmap_iter_next_set_batch(&it, buf, 1), 0);
    dl__bitmap_destroy(bm);
    return 0;
}

/* ---- multi-threaded stress --------------------------------------------- */

#define NT 4
#define LEAVES 8
#define PER 1 /* bits per thread per leaf */
#define OVL 5000
#ifndef STRESS_OPS /* -DSTRESS_OPS=... for a longer soak */
#define STRESS_OPS 60000
#endif

static const uint64_t st_nbits = (1ULL << 27) + 17; /* root -> node -> leaf */
static const uint64_t ovl_base = 100000007; /* clear of the own bits */

static uint64_t own_bit(int t, unsigned leaf, unsigned k)
{
    /* Few bits per leaf, mostly clear, so leaves and whole subtrees keep
     * becoming empty and non-empty: searches prune while others set. Half
     * the leaves are neighbours, half are spread over many level-1 nodes. */
    uint64_t base = leaf < LEAVES / 2 ? (uint64_t)leaf * 4096 : (uint64_t)leaf * 1228800;
    return base + 1000 + (uint64_t)t * 8 + k;
}

struct targ {
    struct bitmap *zero, *ones;
    int id;
    pthread_barrier_t *phase;
    int phases;
    unsigned char own[LEAVES][PER];
    long zero_returns, one_returns;
    int failed;
};

static int stress_body(struct targ *a)
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(a->id + 1), f;
    for (int op = 0; op < STRESS_OPS; op++) {
        /* Short phases keep all threads overlapping even on few CPUs. */
        if (op % 256 == 0) {
            pthread_barrier_wait(a->phase);
            a->phases++;
        }
        unsigned leaf = (unsigned)rng_below(&rng, LEAVES), k = (unsigned)rng_below(&rng, PER);
        uint64_t b = own_bit(a->id, leaf, k);
        int v = rng_below(&rng, 4) == 0;
        int r = v ? dl__bitmap_set(a->zero, b) : dl__bitmap_clear(a->zero, b);
        REQUIRE_U64(r, a->own[leaf][k]); /* only this thread writes b */
        a->own[leaf][k] = (unsigned char)v;
        REQUIRE_U64(dl__bitmap_test(a->zero, b), v);
        if (v) {
            /* The consistency guarantee, under concurrent prunes. */
            REQUIRE_U64(dl__bitmap_find_next_set(a->zero, b, &f), 1);
            REQUIRE_U64(f, b);
            uint64_t d = rng_below(&rng, 3 * 4096 * 300), from = d > b ? 0 : b - d;
            REQUIRE_U64(dl__bitmap_find_next_set(a->zero, from, &f), 1);
            REQUIRE(f >= from && f <= b);
            struct dl__bitmap_iter it;
            dl__bitmap_iter_init(&it, a->zero, from);
            do
                REQUIRE_U64(dl__bitmap_iter_next_set(&it, &f), 1);
            while (f < b);
            REQUIRE_U64(f, b);
            /* Batched: b is among the bits returned, all >= from, ascending. */
            uint64_t buf[7], last = from;
            size_t got;
            int seen = 0;
            dl__bitmap_iter_init(&it, a->zero, from);
            do {
                got = dl__bitmap_iter_next_set_batch(&it, buf, 1 + (size_t)rng_below(&rng, 7));
                REQUIRE(got > 0);
                for (size_t i = 0; i < got; i++) {
                    REQUIRE(buf[i] >= last && buf[i] < st_nbits);
                    last = buf[i] + 1;
                    seen |= buf[i] == b;
                }
            } while (!seen && last <= b);
            REQUIRE(seen);
        } else {
            REQUIRE_U64(dl__bitmap_find_next_clear(a->zero, b, &f), 1);
            REQUIRE_U64(f, b);
            if (dl__bitmap_find_next_set(a->zero, b, &f))
                REQUIRE(f > b && f < st_nbits);
        }
        if (op % 1000 == 0) {
            REQUIRE(dl__bitmap_count(a->zero) <= NT * LEAVES * PER + OVL);
            uint64_t w[8];
            dl__bitmap_read_words(a->zero, b / 64, 8, w);
            REQUIRE_U64(w[0] >> (b % 64) & 1, 1 & (uint64_t)a->own[leaf][k]);
        }
        /* Overlapping region: everyone sets the same bits (in a different
         * order); on the ones map everyone clears them, racing to
         * materialise the same sentinel subtrees. */
        if (op < OVL) {
            uint64_t o = ovl_base + ((uint64_t)op * 7919 + (uint64_t)a->id * 1237) % OVL * 97;
            int s = dl__bitmap_set(a->zero, o);
            REQUIRE(s == 0 || s == 1);
            a->zero_returns += s == 0;
            int c = dl__bitmap_clear(a->ones, o);
            REQUIRE(c == 0 || c == 1);
            a->one_returns += c == 1;
            REQUIRE_U64(dl__bitmap_test(a->zero, o), 1);
            REQUIRE_U64(dl__bitmap_test(a->ones, o), 0);
        }
    }
    return 0;
}

static void *stress_thread(void *p)
{
    struct targ *a = p;
    a->failed = stress_body(a);
    /* A thread that failed early still has to pass the remaining phases. */
    for (; a->phases < (STRESS_OPS + 255) / 256; a->phases++)
        pthread_barrier_wait(a->phase);
    return NULL;
}

static int test_threads(void)
{
    struct bitmap *zero, *ones;
    REQUIRE_U64(dl__bitmap_create(&zero, st_nbits, 0), 0);
    REQUIRE_U64(dl__bitmap_create(&ones, st_nbits, 1), 0);
    pthread_barrier_t phase;
    REQUIRE(pthread_barrier_init(&phase, NULL, NT) == 0);
    static struct targ args[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].zero = zero;
        args[t].ones = ones;
        args[t].id = t;
        args[t].phase = &phase;
        REQUIRE(pthread_create(&th[t], NULL, stress_thread, &args[t]) == 0);
    }
    long zr = 0, orr = 0;
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        REQUIRE(!args[t].failed);
        zr += args[t].zero_returns;
        orr += args[t].one_returns;
    }
    pthread_barrier_destroy(&phase);
    REQUIRE_U64(zr, OVL); /* exactly one winner per bit */
    REQUIRE_U64(orr, OVL);

    /* Final state, exactly. */
    struct ref r = {st_nbits, 0, NULL, 0, 0};
    for (int t = 0; t < NT; t++)
        for (unsigned l = 0; l < LEAVES; l++)
            for (unsigned k = 0; k < PER; k++)
                ref_put(&r, own_bit(t, l, k), args[t].own[l][k]);
    for (uint64_t i = 0; i < OVL; i++)
        ref_put(&r, ovl_base + i * 97, 1);
    uint64_t rng = 3;
    REQUIRE(check_all(zero, &r, &rng) == 0);
    struct ref r1 = {st_nbits, 1, NULL, 0, 0};
    for (uint64_t i = 0; i < OVL; i++)
        ref_put(&r1, ovl_base + i * 97, 0);
    REQUIRE(check_all(ones, &r1, &rng) == 0);
    free(r.x);
    free(r1.x);
    dl__bitmap_destroy(zero);
    dl__bitmap_destroy(ones);
    return 0;
}

int main(void)
{
    struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"create_args", test_create_args},
        {"random_vs_reference", test_random_vs_reference},
        {"boundaries", test_boundaries},
        {"beyond_nbits", test_beyond_nbits},
        {"sparse_2_40", test_sparse_2_40},
        {"ones_2_40", test_ones_2_40},
        {"around_2_32", test_around_2_32},
        {"words", test_words},
        {"words_collapse", test_words_collapse},
        {"prune", test_prune},
        {"iter_resumes", test_iter_resumes},
        {"iter_batch", test_iter_batch},
        {"word_summary", test_word_summary},
        {"compact", test_compact},
        {"threads", test_threads},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        double t0 = now_sec();
        int r = tests[i].fn();
        printf("%s %s (%.2f s)\n", r ? "FAIL" : "ok  ", tests[i].name, now_sec() - t0);
        fflush(stdout);
        failed += r != 0;
    }
    if (failed)
        fprintf(stderr, "test_bitmap: %d test(s) FAILED\n", failed);
    return test_exit_status("test_bitmap");
}
