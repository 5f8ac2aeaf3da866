/* The resumable iterator over a bitmap (contract in bitmap.h). */
#include "bitmap/bitmap.h"
#include "bitmap/bitmap_hooks.h"
#include "bitmap/bitmap_impl.h"
#include "bits.h"

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
 * each call keeps the guarantee of dl__bitmap_find_next_set (clear). */

void dl__bitmap_iter_init(struct dl__bitmap_iter *it, const struct bitmap *bm, uint64_t from)
{
    it->bm = bm;
    it->pos = from;
    it->slot = NULL;
    it->base = 0;
    it->shift = 0;
    it->gen = bm->gen;
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
