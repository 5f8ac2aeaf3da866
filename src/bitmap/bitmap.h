/* Sparse, hierarchical, lock-free bitmap: the region set every log type uses.
 *
 * Shape: a radix tree. Leaves hold 32768 bits (512 words, one 4 KiB page);
 * interior nodes have 64 children plus a 64-bit summary ("child j may hold a
 * 1"); the root, embedded in struct bitmap, has up to 4096 children. So a map
 * of <= 2^27 bits is root -> leaf, <= 2^33 bits root -> node -> leaf, and
 * 2^63 bits (the maximum) seven levels. A subtree that is all 0 is a NULL
 * child and one that is all 1 a shared static sentinel, so memory follows
 * what was touched, not nbits: a fresh map of either value is one allocation
 * of at most 33 KiB (1.6 KiB for 2^40 bits), and each isolated bit that
 * differs from its surroundings costs its 4 KiB leaf (4224 bytes with its
 * word summary) plus a few 576-byte nodes (2^40 bits with 1,000 random bits
 * set: 5.2 MiB). Nodes are created on demand (published by compare-and-swap)
 * and freed only by dl__bitmap_fill, dl__bitmap_write_words,
 * dl__bitmap_compact (leaves and subtrees that became uniform turn back into
 * NULL/sentinel) and dl__bitmap_destroy.
 *
 * Concurrency. dl__bitmap_test, dl__bitmap_set, dl__bitmap_clear, dl__bitmap_find_next_set,
 * dl__bitmap_find_next_clear, dl__bitmap_count, dl__bitmap_read_words, dl__bitmap_size,
 * dl__bitmap_memory, dl__bitmap_iter_* and dl__bitmap_reclaim may run concurrently,
 * from any number of threads, with no lock. dl__bitmap_fill, dl__bitmap_write_words,
 * dl__bitmap_compact and dl__bitmap_destroy need exclusive
 * access: no other call on the same bitmap may run at the same time, and the
 * caller provides the happens-before (a mutex, a thread join, ...).
 *
 * Each set/clear is one atomic read-modify-write (sequentially consistent) on
 * the word holding the bit, so concurrent set/clear of the same or of
 * neighbouring bits never lose an update, and exactly one of several racing
 * dl__bitmap_set calls on a clear bit returns 0 (likewise for dl__bitmap_clear).
 *
 * Consistency of searches: a dl__bitmap_find_next_set(from) call never skips a
 * bit b >= from whose dl__bitmap_set returned before the search began (i.e.
 * happens-before it) and that was not cleared since: it returns b or a
 * smaller set bit. dl__bitmap_find_next_clear gives the same guarantee for bits
 * whose dl__bitmap_clear returned. Bits set or cleared while the search runs may
 * or may not be seen; a returned bit had that value at some moment during
 * the call. This holds with any number of concurrent searches (which prune
 * summaries under each other's feet; see bitmap.c for why that is safe).
 * dl__bitmap_count and dl__bitmap_read_words read each word atomically but are a
 * snapshot only when nothing changes concurrently. Reported bits are always
 * < nbits.
 *
 * Costs: test = one dependent load per level plus the word load, no write;
 * set/clear = the same plus one RMW, skipped when the bit already has the
 * wanted value; set also loads one summary word per level, plus in a sparse
 * leaf the word summary (and fetch_or's only where the bit is missing). A clear that empties a word of a sparse
 * leaf also prunes the summaries at once (climbing while they become
 * empty), so after a mass clear the first search is already O(what is still
 * set). find_next_set skips empty space through the summaries (a few word
 * reads per level, and in a sparse leaf only the words its word summary
 * names) and prunes what races left stale.
 * find_next_clear skips all-ones sentinel subtrees and stops at the first
 * NULL one, but scans materialised leaves word by word.
 *
 * All functions are internal to the library (not exported). */
#ifndef DIRTYLOG_BITMAP_H
#define DIRTYLOG_BITMAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct bitmap;

/* Create a bitmap of nbits bits (1 <= nbits <= 2^63), all 0 or all 1
 * (initial_value: 0, or any non-zero value for 1).
 * Returns 0, -EINVAL (nbits out of range, out NULL) or -ENOMEM. */
int dl__bitmap_create(struct bitmap **out, uint64_t nbits, int initial_value);

/* The same in flat mode (nbits <= DL__BITMAP_FLAT_MAX_BITS, else -EINVAL):
 * every leaf is allocated at once, in one contiguous array of words, and
 * stays at that address until dl__bitmap_destroy (fill and write_words
 * overwrite it in place; no leaf is ever replaced by NULL/ONES). Word w at
 * dl__bitmap_flat_words()[w] holds bits [64w, 64w+64), LSB first, bits >=
 * nbits 0. Everything else (summaries, searches, the concurrency contract)
 * is as in the sparse mode. Costs nbits/8 bytes (rounded up to 4 KiB) from
 * the start: 2 MiB at the maximum. */
#define DL__BITMAP_FLAT_MAX_BITS (1ull << 24)
/* All flat bitmaps of the process together hold at most this many bytes of
 * words: past it dl__bitmap_create_flat fails with -ENOSPC (nothing
 * allocated). It bounds what creating logs costs up front whoever asks for
 * them (a daemon hosting logs for untrusted clients: 16 logs at the largest
 * flat size, more of smaller ones); later logs are sparse, which changes
 * their speed, never their answers. */
#define DL__BITMAP_FLAT_BUDGET (64ull << 20)
int dl__bitmap_create_flat(struct bitmap **out, uint64_t nbits, int initial_value);
/* Flat if nbits and the budget allow, else sparse (dl__bitmap_create). */
int dl__bitmap_create_prefer_flat(struct bitmap **out, uint64_t nbits, int initial_value);

/* Flat mode: the words (valid until dl__bitmap_destroy; read them with
 * atomic loads only). NULL for a sparse bitmap. */
const _Atomic uint64_t *dl__bitmap_flat_words(const struct bitmap *bm);

/* Flat mode's single-bit set and clear, inlined by the log wrappers (log.c)
 * to skip the type's op and the bitmap's dispatch. The same protocol as
 * dl__bitmap_set / dl__bitmap_clear on a level-1 map (bitmap.c, leaf_set,
 * leaf_clear, ensure_summary): the word's RMW (skipped when the bit already
 * has the value; the set's load is seq_cst), then, for a set, the root
 * summary bit of the leaf (seq_cst load, fetch_or if missing). Neither can
 * fail. Valid until dl__bitmap_destroy. */
struct dl__flat_bits {
    _Atomic uint64_t *words; /* NULL: the bitmap is not flat */
    _Atomic uint64_t *rsum;  /* the root's summary words: bit j = leaf j may hold a 1 */
    unsigned leaf_shift;     /* log2 of the bits per leaf */
};
void dl__bitmap_get_flat_bits(struct bitmap *bm, struct dl__flat_bits *out);

/* Previous value of the bit (0/1). */
static inline int dl__flat_set(const struct dl__flat_bits *f, uint64_t bit)
{
    _Atomic uint64_t *w = &f->words[bit / 64];
    uint64_t m = 1ULL << (bit % 64);
    int old = (atomic_load(w) & m) != 0;
    if (!old)
        old = (atomic_fetch_or(w, m) & m) != 0;
    uint64_t leaf = bit >> f->leaf_shift;
    _Atomic uint64_t *sw = &f->rsum[leaf / 64];
    uint64_t sm = 1ULL << (leaf % 64);
    if (!(atomic_load(sw) & sm))
        atomic_fetch_or(sw, sm);
    return old;
}

static inline int dl__flat_clear(const struct dl__flat_bits *f, uint64_t bit)
{
    _Atomic uint64_t *w = &f->words[bit / 64];
    uint64_t m = 1ULL << (bit % 64);
    if (!(atomic_load_explicit(w, memory_order_relaxed) & m))
        return 0;
    return (atomic_fetch_and(w, ~m) & m) != 0;
}

/* Free everything. NULL is ignored. Exclusive. */
void dl__bitmap_destroy(struct bitmap *bm);

/* nbits as given to dl__bitmap_create. */
uint64_t dl__bitmap_size(const struct bitmap *bm);

/* 0 or 1. Pure loads, no write. Caller guarantees bit < nbits. */
int dl__bitmap_test(const struct bitmap *bm, uint64_t bit);

/* Set/clear one bit (bit < nbits). Return the previous value (0 or 1), or
 * -ENOMEM when a node could not be allocated (the bit is then unchanged):
 * the first set in an empty leaf, or, after dl__bitmap_compact, a change
 * inside a container (dl__bitmap_reserve rules both out). */
int dl__bitmap_set(struct bitmap *bm, uint64_t bit);
int dl__bitmap_clear(struct bitmap *bm, uint64_t bit);

/* Set/clear bits [first, first + count) (first + count <= nbits), one atomic
 * RMW per word touched. Every allocation happens before any bit changes:
 * 0, or -ENOMEM with every bit unchanged. Concurrent like dl__bitmap_set. */
int dl__bitmap_set_range(struct bitmap *bm, uint64_t first, uint64_t count);
int dl__bitmap_clear_range(struct bitmap *bm, uint64_t first, uint64_t count);

/* Allocate what setting (value != 0) or clearing (value 0) any bit of
 * [first, first + count) needs, changing no bit: afterwards such a
 * dl__bitmap_set / dl__bitmap_clear cannot fail (nodes are freed only by the
 * exclusive calls). 0 or -ENOMEM. Concurrent like dl__bitmap_set. */
int dl__bitmap_reserve(struct bitmap *bm, uint64_t first, uint64_t count, int value);

/* The first 1 in [first, end) (end capped at nbits): 1 and *found, or 0.
 * Reads only the words of the range (no summary, no pruning): for short
 * ranges, where dl__bitmap_find_next_set would scan to the end of a leaf.
 * Same guarantee as dl__bitmap_find_next_set for bits set before the call. */
int dl__bitmap_find_set_in(const struct bitmap *bm, uint64_t first, uint64_t end,
                           uint64_t *found);

/* First bit >= from that is 1 (resp. 0) and < nbits: returns 1 and stores it
 * in *found, or returns 0 (*found untouched). from >= nbits returns 0.
 * Enumerate with: for (b = 0; dl__bitmap_find_next_set(bm, b, &f); b = f + 1).
 * find_next_set also prunes stale summary bits it walks over (that is why
 * searches become fast again after bits are cleared); it never changes the
 * bits themselves. */
int dl__bitmap_find_next_set(const struct bitmap *bm, uint64_t from, uint64_t *found);
int dl__bitmap_find_next_clear(const struct bitmap *bm, uint64_t from, uint64_t *found);

/* Iteration that resumes where it stopped. Caller-allocated, no malloc,
 * nothing to free; the fields are private. Valid while bm lives; an
 * exclusive call on bm in between is allowed (the iterator notices it and
 * searches from the root again). One iterator per thread; any number of
 * iterators may run concurrently with everything dl__bitmap_set may. */
struct dl__bitmap_iter {
    const struct bitmap *bm;
    uint64_t pos;   /* the next bit to look at */
    void *slot;     /* where the last answer was found (a child slot), or NULL */
    uint64_t base;  /* the slot's child covers [base, base + 2^shift) */
    unsigned shift;
    uint64_t gen;   /* the bitmap's exclusive-call generation the slot is valid in */
    const void *cont; /* the container a batch stopped in, and the index of */
    uint64_t cont_i;  /* its next value (a hint, checked before use) */
};
/* Start at bit `from` (may be >= nbits: the iteration is then empty). */
void dl__bitmap_iter_init(struct dl__bitmap_iter *it, const struct bitmap *bm, uint64_t from);
/* The next 1 (resp. 0) at or after the iterator's position, < nbits: 1 and
 * *found (the iterator moves past it), or 0 at the end. Each call gives the
 * guarantee of dl__bitmap_find_next_set (clear). Resumes in the leaf or
 * uniform subtree where the last answer was found, never from the root per
 * call. The two may be mixed on one iterator. */
int dl__bitmap_iter_next_set(struct dl__bitmap_iter *it, uint64_t *found);
int dl__bitmap_iter_next_clear(struct dl__bitmap_iter *it, uint64_t *found);
/* Up to max set bits (max > 0) at or after the iterator's position, ascending,
 * into out[]; the iterator moves past the last one. Returns how many (0 at
 * the end). Every returned bit was 1 at some moment during the call, and no
 * bit whose set happened-before the call and that was not cleared since is
 * skipped (the guarantee of dl__bitmap_find_next_set for each bit). Scans a
 * leaf's words by its word summary with no call per bit, emits uniform
 * all-ones subtrees as consecutive bits, and goes back to the tree search
 * only at the end of a leaf or uniform subtree. Mixes freely with the
 * single-step calls on one iterator. */
size_t dl__bitmap_iter_next_set_batch(struct dl__bitmap_iter *it, uint64_t *out, size_t max);

/* Number of set bits. O(materialised nodes); uniform subtrees are counted
 * arithmetically (an all-ones 2^40 map answers immediately). */
uint64_t dl__bitmap_count(const struct bitmap *bm);

/* Set every bit to value (0, or non-zero for 1) and free all nodes.
 * Exclusive. Returns 0. */
int dl__bitmap_fill(struct bitmap *bm, int value);

/* Bulk word access for the on-disk codec: word w holds bits [64w, 64w+64),
 * LSB first. Words/bits >= nbits read as 0 and are ignored on write.
 * dl__bitmap_write_words is exclusive; leaves and subtrees that end up all 0 or
 * all 1 become NULL/sentinel again (their memory is freed). It returns 0 or
 * -ENOMEM; after -ENOMEM a prefix of the words has been written and the
 * bitmap is consistent (every bit is either old or new). */
void dl__bitmap_read_words(const struct bitmap *bm, uint64_t first_word, size_t nwords,
                       uint64_t *out);
int dl__bitmap_write_words(struct bitmap *bm, uint64_t first_word, size_t nwords,
                       const uint64_t *in);

/* Free retired memory that no concurrent call can still read; never waits.
 * Concurrent with everything. A no-op: what is retired (containers that a
 * set or clear expanded) may be read by any concurrent call, and is freed
 * by the next exclusive call (fill, write_words, compact, destroy). */
void dl__bitmap_reclaim(struct bitmap *bm);

/* Exclusive: turn leaves that are all 0 (all 1) and nodes whose children
 * all are, back into NULL (ONES), freeing them; make the summaries of what
 * remains exact; free retired memory; and turn each subtree whose bits fit
 * in a smaller immutable container (a sorted array of the set bits, or a
 * list of runs) into one. A flat bitmap keeps its leaves. After everything
 * was cleared, memory is back to that of an empty map. Afterwards a set of
 * a new bit, or a clear of a set one, in a container expands it (it may
 * then fail with -ENOMEM, as a first set in an empty leaf may); the
 * expanded container stays allocated until the next exclusive call. */
void dl__bitmap_compact(struct bitmap *bm);

/* Bytes currently allocated by this bitmap (the struct and all nodes). */
size_t dl__bitmap_memory(const struct bitmap *bm);

#endif
