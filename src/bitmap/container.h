/* Compact containers: the immutable form a subtree of the sparse bitmap
 * takes at an exclusive compaction (dl__bitmap_compact), in place of a
 * 4 KiB leaf or a node, when that is smaller. Internal to src/bitmap; how
 * the tree uses them, and why no reader can see one freed, is in bitmap.c's
 * top comment.
 *
 * A container sits in a child slot of a level-l node and so covers the
 * 2^w bits of that slot, w = cshift(l): its values are offsets relative to
 * the slot's first bit, each stored in exactly w bits (15 for a leaf slot).
 * Two kinds, told apart by the low bits of the slot's pointer:
 *   ARRAY  the set bits, ascending;
 *   RUN    pairs (first, last) of maximal runs of set bits, ascending.
 * Layout (in memory only, never written to disk): a uint32_t count of
 * values (pairs count twice), then the values packed LSB first, value i at
 * bit i*w of the byte string, then 7 zero bytes (so that any value is one
 * 8-byte load). A container is never empty and never full
 * (those are NULL and ONES), and never changes once published. */
#ifndef DIRTYLOG_BITMAP_CONTAINER_H
#define DIRTYLOG_BITMAP_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONT_ARRAY 1u
#define CONT_RUN 2u
#define CONT_MAX_WIDTH 57 /* an unpacked value and its bit offset fit in 64 bits */

static inline bool is_cont(const void *p)
{
    return ((uintptr_t)p & 3u) != 0;
}

static inline void dl__cont_prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch((const void *)((uintptr_t)p & ~(uintptr_t)3));
#else
    (void)p;
#endif
}

/* A run [first, end) of offsets, as gathered and split. */
struct run {
    uint64_t first, end;
};

/* Is offset off set? */
bool dl__cont_test(const void *c, unsigned w, uint64_t off);
/* The first set offset >= from, if any. */
bool dl__cont_find_set(const void *c, unsigned w, uint64_t from, uint64_t *found);
/* The first clear offset >= from and < span, if any. */
bool dl__cont_find_clear(const void *c, unsigned w, uint64_t from, uint64_t span,
                         uint64_t *found);
uint64_t dl__cont_count(const void *c, unsigned w);
/* OR the set offsets of [64 * first_word, 64 * (first_word + nwords)) into
 * words[0..nwords). */
void dl__cont_or_words(const void *c, unsigned w, uint64_t first_word, size_t nwords,
                       uint64_t *words);
/* base + each set offset >= from, ascending, into out[n..max); returns the
 * new n, and in *next the offset to resume at (just past the last one
 * emitted when out is full, else 2^w). *index: where to start looking
 * (a hint from the last call, checked; any value works), and afterwards
 * where the next call with from = *next may start. */
size_t dl__cont_batch(const void *c, unsigned w, uint64_t base, uint64_t from, uint64_t *index,
                      uint64_t *out, size_t n, size_t max, uint64_t *next);
/* The maximal runs of c clipped to [lo, hi), rebased to lo, into
 * runs[0..), which must have room for every run of c. Returns how many. */
size_t dl__cont_runs(const void *c, unsigned w, uint64_t lo, uint64_t hi, struct run *runs);
/* Number of runs a buffer for dl__cont_runs needs. */
size_t dl__cont_max_runs(const void *c);

/* Bytes a container of these runs (card set offsets in all) takes, in the
 * kind dl__cont_build would choose. */
size_t dl__cont_size_for(size_t nruns, uint64_t card, unsigned w);
/* A new container of the runs (ascending, disjoint, not adjacent, all <
 * 2^w; card set offsets, 0 < card < 2^w): ARRAY or RUN, whichever is
 * smaller. NULL when out of memory; *bytes gets its size. */
void *dl__cont_build(const struct run *runs, size_t nruns, uint64_t card, unsigned w,
                     size_t *bytes);
size_t dl__cont_bytes(const void *c, unsigned w);
void dl__cont_free(void *c);

#endif
