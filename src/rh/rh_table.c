/* The region table of the write-intent layer: a radix tree allocated on
 * first touch, so memory follows the regions written, not the log's size
 * (a 2^40-region log costs one root node until it is written). Nodes and
 * leaves are only ever added (under rh->lock) and freed at destroy, so
 * lock-free readers can follow published pointers without reclamation. */
#include <errno.h>
#include <stdlib.h>

#include "rh/rh_internal.h"

int dl__rh_table_init(struct dl_rh *rh)
{
    uint64_t leaves = (rh->region_count + RH_LEAF - 1) >> RH_LEAF_BITS;
    unsigned levels = 0;
    /* Enough interior levels that their fan-out covers every leaf. */
    for (uint64_t reach = 1; reach < leaves; reach <<= RH_FANOUT_BITS)
        levels++;
    rh->levels = levels;
    void *root = levels ? calloc(1, sizeof(struct rh_node)) : NULL;
    if (levels && !root)
        return -ENOMEM;
    if (root)
        rh->stats.table_bytes += sizeof(struct rh_node);
    atomic_init(&rh->root, root);
    return 0;
}

static void free_node(void *p, unsigned levels)
{
    if (!p || levels == 0)
        return; /* leaves are freed from the leaf list */
    struct rh_node *n = p;
    for (unsigned i = 0; i < RH_FANOUT; i++)
        free_node(atomic_load_explicit(&n->slot[i], memory_order_relaxed), levels - 1);
    free(n);
}

void dl__rh_table_free(struct dl_rh *rh)
{
    free_node(atomic_load_explicit(&rh->root, memory_order_relaxed), rh->levels);
    for (struct rh_leaf *l = rh->leaves, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    rh->leaves = NULL;
}

/* The slot in an interior node at `depth` (0 = root) for a leaf index. */
static inline unsigned slot_of(const struct dl_rh *rh, uint64_t leaf_index, unsigned depth)
{
    unsigned shift = RH_FANOUT_BITS * (rh->levels - 1 - depth);
    return (unsigned)(leaf_index >> shift) & (RH_FANOUT - 1);
}

struct rh_leaf *dl__rh_leaf_of(struct dl_rh *rh, uint64_t region)
{
    void *p = atomic_load_explicit(&rh->root, memory_order_acquire);
    uint64_t li = region >> RH_LEAF_BITS;
    for (unsigned d = 0; p && d < rh->levels; d++)
        p = atomic_load_explicit(&((struct rh_node *)p)->slot[slot_of(rh, li, d)],
                                 memory_order_acquire);
    return p;
}

struct rh_entry *dl__rh_lookup(struct dl_rh *rh, uint64_t region)
{
    struct rh_leaf *l = dl__rh_leaf_of(rh, region);
    return l ? &l->e[region & (RH_LEAF - 1)] : NULL;
}

static struct rh_leaf *new_leaf(struct dl_rh *rh, uint64_t region)
{
    struct rh_leaf *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    for (unsigned i = 0; i < RH_LEAF; i++)
        atomic_init(&l->e[i].state, 0);
    l->base = region & ~(uint64_t)(RH_LEAF - 1);
    l->next = rh->leaves;
    rh->leaves = l;
    rh->stats.table_bytes += sizeof *l;
    return l;
}

struct rh_entry *dl__rh_lookup_alloc(struct dl_rh *rh, uint64_t region, struct rh_leaf **leafp)
{
    uint64_t li = region >> RH_LEAF_BITS;
    _Atomic(void *) *slot = &rh->root;
    for (unsigned d = 0; d <= rh->levels; d++) {
        void *p = atomic_load_explicit(slot, memory_order_acquire);
        if (!p) {
            /* Build fully, then publish: readers see a whole node or NULL. */
            if (d < rh->levels) {
                p = calloc(1, sizeof(struct rh_node));
                if (p)
                    rh->stats.table_bytes += sizeof(struct rh_node);
            } else {
                p = new_leaf(rh, region);
            }
            if (!p)
                return NULL;
            atomic_store_explicit(slot, p, memory_order_release);
        }
        if (d == rh->levels) {
            struct rh_leaf *l = p;
            if (leafp)
                *leafp = l;
            return &l->e[region & (RH_LEAF - 1)];
        }
        slot = &((struct rh_node *)p)->slot[slot_of(rh, li, d)];
    }
    return NULL; /* not reached */
}

void dl__rh_note_marked(struct dl_rh *rh, struct rh_leaf *leaf, uint64_t region, int marked)
{
    unsigned i = (unsigned)(region & (RH_LEAF - 1));
    uint64_t bit = 1ull << (i % 64);
    int was = (leaf->marked[i / 64] & bit) != 0;
    if (was == !!marked)
        return;
    if (marked) {
        leaf->marked[i / 64] |= bit;
        leaf->nmarked++;
        rh->dirty_regions++;
    } else {
        leaf->marked[i / 64] &= ~bit;
        leaf->nmarked--;
        rh->dirty_regions--;
    }
}
