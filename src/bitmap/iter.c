/* The resumable iterator over a bitmap (contract in bitmap.h). */
#include "bitmap/bitmap.h"
#include "bitmap/bitmap_hooks.h"
#include "bitmap/bitmap_impl.h"
#include "bits.h"

#include <stddef.h>

/* The iterator caches the slot (a child pointer's address) where its last
 * answer was found. Slots live in nodes that only exclusive calls free, and
 * those bump bm->gen, which the iterator compares; so the cached slot is
 * still part of the tree. Each call reloads it (acquire) and answers from
 * the child it now holds, exactly as the tree search would below that
 * slot: a leaf is scanned from pos by the search's own leaf scan, a uniform
 * child answers at once, and anything else (a uniform subtree that became a
 * node) falls back to the tree search from pos. A bit whose set (clear)
 * happened before the call is in the child the reload returns (the leaf
 * holding it was published before, and only exclusive calls unpublish), so
 * each call keeps the guarantee of dl__bitmap_find_next_set (clear).
 *
 * Batches (dl__bitmap_iter_next_set_batch) are the same walk without the
 * per-bit call: from the cached slot a leaf is scanned from pos by
 * leaf_batch, which loads the word of pos, then only the words its word
 * summary names (every word of a flat leaf, or of a summary word a prune
 * may have held at 0: read_summary's test), and extracts each word's bits
 * with a ctz loop; a ONES child emits consecutive bits; a NULL child, or a
 * leaf scanned to its end, moves pos to the end of the span; anything else
 * asks the tree search from pos, which caches the next slot. The argument
 * for the guarantee, with pos0 the position at the call and b >= pos0 a
 * bit whose set happened before the call and that was not cleared since:
 * the batch keeps the invariant "every such b < it->pos was emitted" (it
 * emits in ascending order, and stops at max with pos just past the last
 * bit emitted). Each step that advances pos keeps it: (a) the tree search
 * from pos gives the guarantee of dl__bitmap_find_next_set, so no such b
 * lies in [pos, its answer); (b) a leaf word that leaf_batch loads is read
 * after b's RMW (it happened before the call), so it shows b; a word it
 * skips had its summary bit read 0 by a trusted read, which the summary
 * protocol (bitmap.c's top comment) excludes for a word holding such a b,
 * exactly as in the search's own leaf scan; (c) a ONES child emits every
 * bit of its span, up to nbits; (d) a NULL child loaded from the cached
 * slot cannot hold such a b, since b's set published its leaf before its
 * RMW and only exclusive calls unpublish (they bump gen, which sends us
 * to the tree search). Every bit emitted was 1 in the word value (or ONES
 * child) loaded during the call. Progress: a slot in the cache is reused
 * until its span is done, and a fall-back to the tree search happens only
 * when a uniform child became a node (once per slot per generation) or at
 * the end of a span. */

void dl__bitmap_iter_init(struct dl__bitmap_iter *it, const struct bitmap *bm, uint64_t from)
{
    it->bm = bm;
    it->pos = from;
    it->slot = NULL;
    it->base = 0;
    it->shift = 0;
    it->gen = bm->gen;
    it->cont = NULL;
    it->cont_i = 0;
}

/* What the cached slot says about [pos, end of its span): 1 found, 0
 * nothing there (it->pos moved past the span), -1 ask the tree. */
static int iter_cached(struct dl__bitmap_iter *it, bool want_set, uint64_t *found)
{
    struct bitmap *bm = (struct bitmap *)it->bm;
    uint64_t pos = it->pos;
    if (!it->slot || it->gen != bm->gen || pos - it->base >= (1ULL << it->shift))
        return -1;
    uint64_t end = it->base + (1ULL << it->shift);
    void *c = atomic_load_explicit((_Atomic(void *) *)it->slot, memory_order_acquire);
    if (c == (want_set ? ONES : NULL)) {
        *found = pos; /* < nbits: checked by the caller */
        return 1;
    }
    if (is_cont(c)) { /* a container covers the slot's span: offsets of 2^shift */
        uint64_t f, span = bm->nbits - it->base < end - it->base ? bm->nbits - it->base
                                                                 : end - it->base;
        if (want_set ? dl__cont_find_set(c, it->shift, pos - it->base, &f)
                     : dl__cont_find_clear(c, it->shift, pos - it->base, span, &f)) {
            *found = it->base + f;
            return 1;
        }
        it->pos = end;
        return 0;
    }
    if (!is_node(c)) {
        it->pos = end;
        return 0;
    }
    if (it->shift != LEAF_SHIFT)
        return -1; /* a uniform subtree became a node */
    if (want_set ? dl__bitmap_leaf_find_set(bm, c, it->base, pos, found)
                 : dl__bitmap_leaf_find_clear(c, it->base, pos, bm->nbits, found))
        return 1;
    it->pos = end;
    return 0;
}

static int iter_next(struct dl__bitmap_iter *it, bool want_set, uint64_t *found)
{
    struct bitmap *bm = (struct bitmap *)it->bm;
    if (it->pos >= bm->nbits)
        return 0;
    int r = iter_cached(it, want_set, found);
    if (r == 0 && it->pos < bm->nbits)
        r = -1;
    if (r < 0) {
        struct hit h;
        it->slot = NULL;
        if (DL_UNLIKELY(bm->count_leaf_visits))
            atomic_fetch_add_explicit(&bm->root_searches, 1, memory_order_relaxed);
        r = want_set ? dl__bitmap_search_set(bm, it->pos, found, &h)
                     : dl__bitmap_search_clear(bm, it->pos, found, &h);
        if (!r) {
            it->pos = bm->nbits;
            return 0;
        }
        it->slot = (void *)h.slot;
        it->base = h.base;
        it->shift = h.shift;
        it->gen = bm->gen;
    }
    if (r == 1)
        it->pos = *found + 1;
    return r == 1;
}

int dl__bitmap_iter_next_set(struct dl__bitmap_iter *it, uint64_t *found)
{
    return iter_next(it, true, found);
}

int dl__bitmap_iter_next_clear(struct dl__bitmap_iter *it, uint64_t *found)
{
    return iter_next(it, false, found);
}

/* The set bits of v (the word holding bits [wb, wb + 64)) into out[n..max),
 * ascending; returns the new n. */
static inline size_t emit_word(uint64_t v, uint64_t wb, uint64_t *out, size_t n, size_t max)
{
    if (v == ~0ULL && max - n >= 64) { /* runs: no ctz per bit */
        for (unsigned k = 0; k < 64; k++)
            out[n + k] = wb + k;
        return n + 64;
    }
    for (; v && n < max; v &= v - 1)
        out[n++] = wb + ctz64(v);
    return n;
}

/* The set bits at or after pos of the leaf lf covering [base, base +
 * 2^LEAF_SHIFT), into out[n..max); returns the new n, and in *next where
 * to resume: just past the last bit emitted when out is full, else the end
 * of the leaf. Words are visited as dl__bitmap_leaf_find_set visits them
 * (without its pruning: searches do that). */
static size_t leaf_batch(struct bitmap *bm, struct leaf *lf, uint64_t base, uint64_t pos,
                         uint64_t *out, size_t n, size_t max, uint64_t *next)
{
    struct sleaf *sl = bm->flat ? NULL : (struct sleaf *)lf;
    bool counting = DL_UNLIKELY(bm->count_leaf_visits);
    unsigned first = (unsigned)((pos - base) / 64);
    if (counting)
        atomic_fetch_add_explicit(&bm->leaf_visits, 1, memory_order_relaxed);
    /* The word of pos first (a resumed batch usually starts mid-word). */
    uint64_t v = atomic_load_explicit(&lf->w[first], memory_order_acquire) & (~0ULL << (pos % 64));
    if (counting)
        atomic_fetch_add_explicit(&bm->word_visits, 1, memory_order_relaxed);
    n = emit_word(v, base + 64 * (uint64_t)first, out, n, max);
    if (n == max)
        goto full;
    for (unsigned k = (first + 1) / 64; k < WSUM_WORDS; k++) {
        uint64_t cand = ~0ULL; /* flat leaves, and untrusted summary words */
        if (sl) {
            bool trusted;
            uint64_t sum = read_summary(&sl->pc, &sl->wsum[k], &trusted);
            if (trusted)
                cand = sum;
        }
        if (k == (first + 1) / 64)
            cand &= ~0ULL << ((first + 1) % 64);
        for (; cand; cand &= cand - 1) {
            unsigned i = k * 64 + ctz64(cand);
            v = atomic_load_explicit(&lf->w[i], memory_order_acquire);
            if (counting)
                atomic_fetch_add_explicit(&bm->word_visits, 1, memory_order_relaxed);
            /* stored bits >= nbits are 0: everything emitted is < nbits */
            n = emit_word(v, base + 64 * (uint64_t)i, out, n, max);
            if (n == max)
                goto full;
        }
    }
    *next = base + (1ULL << LEAF_SHIFT);
    return n;
full:
    *next = out[n - 1] + 1;
    return n;
}

/* The index of the cached slot among its parent's children, and in *n how
 * many children the parent has (the root's rfan, or FAN). */
static uint64_t slot_index(const struct bitmap *bm, const struct dl__bitmap_iter *it,
                           uint64_t *n)
{
    bool root = it->shift == cshift(bm->level);
    *n = root ? bm->rfan : FAN;
    return root ? it->base >> it->shift : (it->base >> it->shift) % FAN;
}

/* Start loading the container in the slot after the cached one (the
 * batch's next stop when the tree is full of containers), so that its
 * first misses overlap the decoding of this one. Prefetches never fault:
 * reading past a short container is harmless. */
static void prefetch_sibling(const struct bitmap *bm, const struct dl__bitmap_iter *it)
{
    uint64_t n, j = slot_index(bm, it, &n);
    if (j + 1 >= n)
        return;
    void *c = atomic_load_explicit((_Atomic(void *) *)it->slot + 1, memory_order_relaxed);
    if (is_cont(c))
        for (unsigned k = 0; k < 4; k++)
            dl__cont_prefetch((const char *)c + 64 * k);
}

/* The cached slot's span is done: move to the next child of the same
 * parent that the parent's summary names, without a search from the root
 * (what makes a batch over many small containers, or leaves, cheap). It is
 * node_find_set's scan of one node, with the same guarantee: a child
 * skipped had its summary bit read 0 by a trusted read, or was NULL (a bit
 * set before the call has its child published for good). Returns true with
 * that child cached (it->pos at its start) when the batch can answer from
 * it: a container, ONES, or a leaf. Otherwise false, with it->pos moved
 * over what was skipped: the tree search goes on from there (a node to
 * descend into, a summary word a prune may hold, the parent's end). */
static bool next_sibling(struct bitmap *bm, struct dl__bitmap_iter *it)
{
    _Atomic(void *) *slot = it->slot;
    unsigned sh = it->shift;
    uint64_t n, j = slot_index(bm, it, &n);
    _Atomic(void *) *child = slot - j;
    _Atomic uint64_t *sum = child == bm->rchild ? bm->rsum
                                 : ((struct inode *)(void *)((char *)child -
                                                             offsetof(struct inode, child)))
                                       ->sum;
    uint64_t pbase = it->base - (j << sh);
    for (uint64_t k = (j + 1) / 64; k * 64 < n; k++) {
        bool trusted;
        uint64_t cand = read_summary(&bm->pc, &sum[k], &trusted);
        if (!trusted)
            return false;
        if (k == (j + 1) / 64)
            cand &= ~0ULL << ((j + 1) % 64);
        for (; cand; cand &= cand - 1) {
            uint64_t i = k * 64 + ctz64(cand);
            uint64_t b = pbase + (i << sh);
            if (i >= n || b >= bm->nbits)
                break;
            void *c = atomic_load_explicit(&child[i], memory_order_acquire);
            if (c == NULL)
                continue; /* a stale summary bit */
            it->pos = b;
            if (is_node(c) && sh != LEAF_SHIFT)
                return false; /* a subtree: the tree search descends */
            it->slot = (void *)&child[i];
            it->base = b;
            return true;
        }
    }
    /* Nothing more below this parent (its span may end past nbits). */
    uint64_t end = pbase + (n << sh);
    it->pos = end > pbase && end < bm->nbits ? end : bm->nbits;
    return false;
}

/* Cache the slot of the next 1 at or after it->pos (it->pos moves to it),
 * or move it->pos to the end. Returns whether there is one. */
static bool iter_search_set(struct bitmap *bm, struct dl__bitmap_iter *it)
{
    struct hit h;
    uint64_t found;
    it->slot = NULL;
    if (DL_UNLIKELY(bm->count_leaf_visits))
        atomic_fetch_add_explicit(&bm->root_searches, 1, memory_order_relaxed);
    if (!dl__bitmap_search_set(bm, it->pos, &found, &h)) {
        it->pos = bm->nbits;
        return false;
    }
    it->slot = (void *)h.slot;
    it->base = h.base;
    it->shift = h.shift;
    it->gen = bm->gen;
    it->pos = found;
    return true;
}

size_t dl__bitmap_iter_next_set_batch(struct dl__bitmap_iter *it, uint64_t *out, size_t max)
{
    struct bitmap *bm = (struct bitmap *)it->bm;
    size_t n = 0;
    while (n < max && it->pos < bm->nbits) {
        uint64_t pos = it->pos;
        if (!it->slot || it->gen != bm->gen || pos - it->base >= (1ULL << it->shift)) {
            if (it->slot && it->gen == bm->gen && next_sibling(bm, it))
                continue; /* answered from the sibling now cached */
            if (it->pos >= bm->nbits || !iter_search_set(bm, it))
                break;
            continue; /* now answered from the cached slot */
        }
        uint64_t end = it->base + (1ULL << it->shift);
        void *c = atomic_load_explicit((_Atomic(void *) *)it->slot, memory_order_acquire);
        if (c == ONES) { /* consecutive bits, up to the span's end or nbits */
            uint64_t stop = end < bm->nbits ? end : bm->nbits;
            while (n < max && pos < stop)
                out[n++] = pos++;
            it->pos = pos;
        } else if (c == NULL) {
            it->pos = end;
        } else if (is_cont(c)) {
            uint64_t next;
            prefetch_sibling(bm, it);
            if (c != it->cont)
                it->cont_i = 0;
            it->cont = c;
            n = dl__cont_batch(c, it->shift, it->base, pos - it->base, &it->cont_i, out, n, max,
                               &next);
            it->pos = it->base + next;
        } else if (it->shift == LEAF_SHIFT) {
            n = leaf_batch(bm, c, it->base, pos, out, n, max, &it->pos);
        } else {
            it->slot = NULL; /* a uniform subtree became a node: ask the tree */
        }
    }
    return n;
}
