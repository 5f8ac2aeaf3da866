/* The tree's layout, shared by the files of src/bitmap (bitmap.c: the
 * tree and its protocols, with the proofs in its top comment; iter.c: the
 * iterator). Internal to src/bitmap. */
#ifndef DIRTYLOG_BITMAP_IMPL_H
#define DIRTYLOG_BITMAP_IMPL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap/container.h"

/* Overridable only to try other shapes (the tests also pass with leaves of
 * 2^12..2^15 bits, fan-outs of 64 and 512, and a root of 32768). */
#ifndef LEAF_SHIFT
#define LEAF_SHIFT 15 /* bits per leaf: 32768 */
#endif
#ifndef FAN_SHIFT
#define FAN_SHIFT 6 /* children per non-root node: 64 */
#endif
#define LEAF_WORDS (1u << (LEAF_SHIFT - 6))
#define FAN (1u << FAN_SHIFT)
#define SUM_WORDS (FAN / 64)
#ifndef ROOT_FAN_SHIFT
#define ROOT_FAN_SHIFT 12 /* root children at most: 4096 */
#endif
#define ROOT_MAX_FAN (1u << ROOT_FAN_SHIFT)
/* Smallest L with 2^63 <= ROOT_MAX_FAN << cshift(L). */
#define MAX_LEVEL                                                              \
    (1 + (63 - ROOT_FAN_SHIFT - LEAF_SHIFT + FAN_SHIFT - 1) / FAN_SHIFT)

struct leaf {
    _Atomic uint64_t w[LEAF_WORDS];
};

/* Counters that bracket prunes of a set of summary words (see the top of
 * bitmap.c): the bitmap has one pair for the node summaries, each sparse
 * leaf one for its word summary. */
struct prune_counters {
    _Atomic uint64_t started;
    _Atomic uint64_t finished;
};

/* Summary word *sw as a search reads it: the value, and in *trusted whether
 * no prune counted in pc can have held one of its bits at 0 meanwhile
 * (the protocol is in bitmap.c's top comment). */
static inline uint64_t read_summary(struct prune_counters *pc, _Atomic uint64_t *sw,
                                    bool *trusted)
{
    uint64_t fin = atomic_load_explicit(&pc->finished, memory_order_acquire);
    uint64_t v = atomic_load_explicit(sw, memory_order_acquire);
    *trusted = atomic_load_explicit(&pc->started, memory_order_acquire) == fin;
    return v;
}

/* A leaf of a sparse bitmap: the words, and a summary one level below the
 * nodes' ("word i may be non-zero") so that searches skip empty words.
 * Flat leaves are bare struct leaf (their words must be contiguous). */
#define WSUM_WORDS (LEAF_WORDS / 64)
struct sleaf {
    struct leaf l;
    _Atomic uint64_t wsum[WSUM_WORDS];
    struct prune_counters pc;
};

struct retired; /* bitmap.c */

struct inode {
    _Atomic uint64_t sum[SUM_WORDS];
    _Atomic(void *) child[FAN];
};

struct bitmap {
    uint64_t nbits;
    struct leaf *flat; /* flat mode: every leaf, contiguous and permanent */
    unsigned level; /* of the root, >= 1 */
    unsigned rfan;  /* root children */
    bool count_leaf_visits; /* bitmap_hooks.h (tests only) */
    /* Bumped by every exclusive call that may free or replace a node, so
     * that an iterator knows its cached slot may be gone. Plain: exclusive
     * calls are ordered with every other call by the caller. */
    uint64_t gen;
    /* Written rarely (materialisation, pruning), kept off the hot lines. */
    alignas(64) _Atomic size_t mem;
    /* Containers replaced by an expansion, freed by the next exclusive call
     * (bitmap.c's top comment says why not sooner). */
    _Atomic(struct retired *) retired;
    struct prune_counters pc; /* prunes of node summaries */
    _Atomic uint64_t leaf_visits; /* when count_leaf_visits */
    _Atomic uint64_t root_searches; /* iterator searches from the root, likewise */
    _Atomic uint64_t word_visits;   /* leaf words searched, likewise */
    alignas(64) _Atomic uint64_t rsum[ROOT_MAX_FAN / 64];
    _Atomic(void *) rchild[]; /* rfan entries */
};

/* Only its address is used (bitmap.c); aligned, so that its address is
 * not mistaken for a tagged container pointer. */
extern alignas(8) char dl__bitmap_ones_sentinel;
#define ONES ((void *)&dl__bitmap_ones_sentinel)
/* A child pointer is NULL, ONES, a container (container.h: tagged in its
 * low bits), or a node or leaf of its own ("node" below). */
static inline bool is_node(const void *p)
{
    return p != NULL && p != ONES && !is_cont(p);
}

/* log2 of the bits covered by each child of a level-l node. */
static inline unsigned cshift(unsigned l)
{
    return LEAF_SHIFT + FAN_SHIFT * (l - 1);
}

static inline unsigned ctz64(uint64_t v)
{
    return (unsigned)__builtin_ctzll(v);
}

/* Where a search found its answer: the slot of the leaf, or of the uniform
 * subtree, covering [base, base + 2^shift). An iterator caches it. */
struct hit {
    _Atomic(void *) *slot;
    uint64_t base;
    unsigned shift;
};

/* The first 1 (resp. 0) at or after from (< nbits) in the whole tree, and
 * where it was found. Same guarantee as dl__bitmap_find_next_set (clear). */
bool dl__bitmap_search_set(struct bitmap *bm, uint64_t from, uint64_t *found, struct hit *h);
bool dl__bitmap_search_clear(struct bitmap *bm, uint64_t from, uint64_t *found, struct hit *h);

/* The first 1 (resp. 0) at or after from in the leaf lf covering bits
 * [base, base + 2^LEAF_SHIFT), as the tree search scans a leaf. */
bool dl__bitmap_leaf_find_set(struct bitmap *bm, struct leaf *lf, uint64_t base, uint64_t from,
                              uint64_t *found);
bool dl__bitmap_leaf_find_clear(struct leaf *lf, uint64_t base, uint64_t from, uint64_t nbits,
                                uint64_t *found);

#endif
