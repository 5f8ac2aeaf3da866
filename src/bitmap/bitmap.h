/* Sparse, hierarchical, lock-free bitmap: the region set every log type uses.
 *
 * Shape: a radix tree. Leaves hold 4096 bits (64 words); interior nodes have
 * 512 children plus a 512-bit summary; the root (embedded in struct bitmap)
 * has up to 4096 children, so a map of <= 2^24 bits is root -> leaf, <= 2^33
 * bits is root -> node -> leaf, and 2^63 bits is six levels. A subtree that
 * is all 0 is a NULL child and one that is all 1 is a shared static sentinel,
 * so memory is proportional to what was touched, not to nbits: a fresh map of
 * either value costs one small allocation (<= 33 KiB, whatever nbits), and a
 * 2^40-bit map with 1,000 random bits set costs about 4.5 MiB. Nodes are
 * created on demand (published by compare-and-swap) and freed only by
 * bitmap_fill, bitmap_write_words (uniform leaves/subtrees collapse back to
 * sentinels) and bitmap_destroy.
 *
 * Concurrency. bitmap_test, bitmap_set, bitmap_clear, bitmap_find_next_set,
 * bitmap_find_next_clear, bitmap_count, bitmap_read_words, bitmap_size and
 * bitmap_memory may run concurrently, from any number of threads, with no
 * lock. bitmap_fill, bitmap_write_words and bitmap_destroy need exclusive
 * access: no other call on the same bitmap may run at the same time, and the
 * caller provides the happens-before (a mutex, a thread join, ...).
 *
 * Each set/clear is one atomic read-modify-write (sequentially consistent) on
 * the word holding the bit, so concurrent set/clear of the same or of
 * neighbouring bits never lose an update, and exactly one of several racing
 * bitmap_set calls on a clear bit returns 0 (likewise for bitmap_clear).
 *
 * Consistency of searches and counts: bitmap_find_next_set finds every bit
 * whose bitmap_set returned before the search began (a happens-before edge)
 * and that was not cleared since; bitmap_find_next_clear likewise for bits
 * whose bitmap_clear returned. Bits set or cleared while the search runs may
 * or may not be seen. A found bit was observed in that state at some moment
 * during the call. bitmap_count and bitmap_read_words are snapshots only when
 * nothing changes concurrently (each word is read atomically, the whole is
 * not). Reported bits are always < nbits.
 *
 * Costs: test = one dependent load per level plus the word load; set/clear =
 * the same plus one RMW (skipped when the bit already has the wanted value);
 * set also loads one summary word per level (and fetch_or's only the ones
 * that lack the bit). find_next_set skips empty space using the summaries in
 * O(levels) word reads per 64 empty children; find_next_clear skips
 * all-ones sentinel subtrees, but scans materialised leaves word by word.
 *
 * All functions are internal to the library (not exported). */
#ifndef DIRTYLOG_BITMAP_H
#define DIRTYLOG_BITMAP_H

#include <stddef.h>
#include <stdint.h>

struct bitmap;

/* Create a bitmap of nbits bits (1 <= nbits <= 2^63), all 0 or all 1
 * (initial_value: 0, or any non-zero value for 1).
 * Returns 0, -EINVAL (nbits out of range, out NULL) or -ENOMEM. */
int bitmap_create(struct bitmap **out, uint64_t nbits, int initial_value);

/* Free everything. NULL is ignored. Exclusive. */
void bitmap_destroy(struct bitmap *bm);

/* nbits as given to bitmap_create. */
uint64_t bitmap_size(const struct bitmap *bm);

/* 0 or 1. Pure loads, no write. Caller guarantees bit < nbits. */
int bitmap_test(const struct bitmap *bm, uint64_t bit);

/* Set/clear one bit (bit < nbits). Return the previous value (0 or 1), or
 * -ENOMEM when a node could not be allocated (the bit is then unchanged). */
int bitmap_set(struct bitmap *bm, uint64_t bit);
int bitmap_clear(struct bitmap *bm, uint64_t bit);

/* First bit >= from that is 1 (resp. 0) and < nbits: returns 1 and stores it
 * in *found, or returns 0 (*found untouched). from >= nbits returns 0.
 * Enumerate with: for (b = 0; bitmap_find_next_set(bm, b, &f); b = f + 1).
 * find_next_set also prunes stale summary bits it walks over (that is why
 * searches become fast again after bits are cleared); it never changes the
 * bits themselves. */
int bitmap_find_next_set(const struct bitmap *bm, uint64_t from, uint64_t *found);
int bitmap_find_next_clear(const struct bitmap *bm, uint64_t from, uint64_t *found);

/* Number of set bits. O(materialised nodes); uniform subtrees are counted
 * arithmetically (an all-ones 2^40 map answers immediately). */
uint64_t bitmap_count(const struct bitmap *bm);

/* Set every bit to value (0, or non-zero for 1) and free all nodes.
 * Exclusive. Returns 0. */
int bitmap_fill(struct bitmap *bm, int value);

/* Bulk word access for the on-disk codec: word w holds bits [64w, 64w+64),
 * LSB first. Words/bits >= nbits read as 0 and are ignored on write.
 * bitmap_write_words is exclusive; leaves and subtrees that end up all 0 or
 * all 1 become NULL/sentinel again (their memory is freed). It returns 0 or
 * -ENOMEM; after -ENOMEM a prefix of the words has been written and the
 * bitmap is consistent (every bit is either old or new). */
void bitmap_read_words(const struct bitmap *bm, uint64_t first_word, size_t nwords,
                       uint64_t *out);
int bitmap_write_words(struct bitmap *bm, uint64_t first_word, size_t nwords,
                       const uint64_t *in);

/* Bytes currently allocated by this bitmap (the struct and all nodes). */
size_t bitmap_memory(const struct bitmap *bm);

#endif
