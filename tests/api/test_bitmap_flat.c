/* The bitmap's flat mode (the memory behind the inline view) against the
 * sparse mode on the same random operations: every query must agree, the
 * flat words must be the bits, and they must never move. Also the range
 * operations (set/clear/find in a range) against single-bit ones. */
#include <stdlib.h>
#include <string.h>

#include "bitmap/bitmap.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Every query agrees, and the flat words are the bits. */
static int check_equal(struct bitmap *flat, struct bitmap *sparse, uint64_t nbits,
                       const _Atomic uint64_t *words, uint64_t *x)
{
    REQUIRE(dl__bitmap_flat_words(flat) == words); /* never moves */
    CHECK(dl__bitmap_flat_words(sparse) == NULL);
    CHECK_U64(dl__bitmap_count(flat), dl__bitmap_count(sparse));
    uint64_t nw = (nbits + 63) / 64;
    uint64_t *a = malloc(nw * 8), *b = malloc(nw * 8);
    REQUIRE(a && b);
    dl__bitmap_read_words(flat, 0, nw, a);
    dl__bitmap_read_words(sparse, 0, nw, b);
    CHECK(memcmp(a, b, nw * 8) == 0);
    for (uint64_t w = 0; w < nw; w++)
        if (atomic_load(&words[w]) != a[w]) {
            CHECK_U64(atomic_load(&words[w]), a[w]);
            break;
        }
    free(a);
    free(b);
    for (int i = 0; i < 200; i++) {
        uint64_t from = xorshift(x) % nbits, end = from + xorshift(x) % 300;
        uint64_t f1 = UINT64_MAX, f2 = UINT64_MAX;
        CHECK_EQ(dl__bitmap_test(flat, from), dl__bitmap_test(sparse, from));
        CHECK_EQ(dl__bitmap_find_next_set(flat, from, &f1), dl__bitmap_find_next_set(sparse, from, &f2));
        CHECK_U64(f1, f2);
        CHECK_EQ(dl__bitmap_find_next_clear(flat, from, &f1),
                 dl__bitmap_find_next_clear(sparse, from, &f2));
        CHECK_U64(f1, f2);
        CHECK_EQ(dl__bitmap_find_set_in(flat, from, end, &f1),
                 dl__bitmap_find_set_in(sparse, from, end, &f2));
        CHECK_U64(f1, f2);
        /* find_set_in against single tests */
        uint64_t want = UINT64_MAX;
        for (uint64_t r = from; r < end && r < nbits; r++)
            if (dl__bitmap_test(sparse, r)) {
                want = r;
                break;
            }
        f1 = UINT64_MAX;
        CHECK_EQ(dl__bitmap_find_set_in(sparse, from, end, &f1), want != UINT64_MAX);
        CHECK_U64(f1, want);
    }
    return 0;
}

static int run(uint64_t nbits, unsigned steps, uint64_t seed)
{
    struct bitmap *flat, *sparse;
    REQUIRE_EQ(dl__bitmap_create_flat(&flat, nbits, 0), 0);
    REQUIRE_EQ(dl__bitmap_create(&sparse, nbits, 0), 0);
    const _Atomic uint64_t *words = dl__bitmap_flat_words(flat);
    REQUIRE(words);
    uint64_t x = seed;
    for (unsigned s = 0; s < steps; s++) {
        uint64_t b = xorshift(&x) % nbits;
        uint64_t cnt = xorshift(&x) % (nbits - b + 1);
        if (xorshift(&x) % 4)
            cnt %= 200; /* mostly short ranges */
        switch (xorshift(&x) % 10) {
        case 0: case 1: CHECK_EQ(dl__bitmap_set(flat, b), dl__bitmap_set(sparse, b)); break;
        case 2: case 3: CHECK_EQ(dl__bitmap_clear(flat, b), dl__bitmap_clear(sparse, b)); break;
        case 4:
            CHECK_EQ(dl__bitmap_set_range(flat, b, cnt), 0);
            CHECK_EQ(dl__bitmap_set_range(sparse, b, cnt), 0);
            break;
        case 5:
            CHECK_EQ(dl__bitmap_clear_range(flat, b, cnt), 0);
            CHECK_EQ(dl__bitmap_clear_range(sparse, b, cnt), 0);
            break;
        case 6: { /* the disk load's bulk write */
            uint64_t w = b / 64, n = cnt / 64 + 1, v[8];
            if (n > 8)
                n = 8;
            for (unsigned i = 0; i < n; i++)
                v[i] = xorshift(&x) % 3 == 0 ? 0 : xorshift(&x) % 3 == 0 ? ~0ull : xorshift(&x);
            CHECK_EQ(dl__bitmap_write_words(flat, w, n, v), 0);
            CHECK_EQ(dl__bitmap_write_words(sparse, w, n, v), 0);
            break;
        }
        case 7:
            if (xorshift(&x) % 8 == 0) {
                int val = (int)(xorshift(&x) % 2);
                dl__bitmap_fill(flat, val);
                dl__bitmap_fill(sparse, val);
            }
            break;
        case 8:
            CHECK_EQ(dl__bitmap_reserve(flat, b, cnt, 1), 0);
            CHECK_EQ(dl__bitmap_reserve(sparse, b, cnt, (int)(s % 2)), 0);
            break;
        default:
            if (check_equal(flat, sparse, nbits, words, &x))
                return 1;
        }
    }
    int r = check_equal(flat, sparse, nbits, words, &x);
    dl__bitmap_destroy(flat);
    dl__bitmap_destroy(sparse);
    return r;
}

/* Flat mode's limits, and the memory it takes from the start. */
static int test_limits(void)
{
    struct bitmap *bm = NULL;
    CHECK_EQ(dl__bitmap_create_flat(&bm, 0, 0), -22);
    CHECK_EQ(dl__bitmap_create_flat(&bm, DL__BITMAP_FLAT_MAX_BITS + 1, 0), -22);
    REQUIRE_EQ(dl__bitmap_create_flat(&bm, DL__BITMAP_FLAT_MAX_BITS, 1), 0);
    CHECK(dl__bitmap_memory(bm) >= DL__BITMAP_FLAT_MAX_BITS / 8);
    CHECK_U64(dl__bitmap_count(bm), DL__BITMAP_FLAT_MAX_BITS);
    CHECK_EQ(dl__bitmap_clear(bm, 12345), 1);
    CHECK_EQ(dl__bitmap_test(bm, 12345), 0);
    CHECK_U64(atomic_load(&dl__bitmap_flat_words(bm)[12345 / 64]), ~(1ull << (12345 % 64)));
    dl__bitmap_destroy(bm);
    return 0;
}

int main(void)
{
    const char *san = getenv("DL_SANITIZER");
    unsigned steps = san && *san ? 1000 : 5000;
    const uint64_t sizes[] = {1, 63, 64, 65, 32767, 32768, 32769, 100000, 3 * 32768 + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        run(sizes[i], steps, 0x2545F4914F6CDD1Dull + i);
    test_limits();
    return test_exit_status("test_bitmap_flat");
}
