/* Shared by every type that keeps its sync state in memory (core, disk). */
#include "bitmap/sync_state.h"

#include <errno.h>

#include "bitmap/bitmap.h"

int dl__sync_state_init(struct sync_state *s, uint64_t region_count, int in_sync,
                        int prefer_flat)
{
    s->out_of_sync = s->recovering = NULL;
    s->region_count = region_count;
    int r = prefer_flat ? dl__bitmap_create_prefer_flat(&s->out_of_sync, region_count, !in_sync)
                        : dl__bitmap_create(&s->out_of_sync, region_count, !in_sync);
    if (r == 0)
        r = dl__bitmap_create(&s->recovering, region_count, 0);
    if (r < 0) {
        dl__sync_state_destroy(s);
        return r;
    }
    atomic_init(&s->sync_count, in_sync ? region_count : 0);
    atomic_init(&s->search_from, 0);
    return 0;
}

void dl__sync_state_destroy(struct sync_state *s)
{
    dl__bitmap_destroy(s->out_of_sync);
    dl__bitmap_destroy(s->recovering);
    s->out_of_sync = s->recovering = NULL;
}

void dl__sync_state_recount(struct sync_state *s)
{
    dl__bitmap_fill(s->recovering, 0);
    atomic_store(&s->sync_count, s->region_count - dl__bitmap_count(s->out_of_sync));
    atomic_store(&s->search_from, 0);
}

/* One pass over [from, end): the first out-of-sync region we can claim. */
static int claim_from(struct sync_state *s, uint64_t from, uint64_t end, uint64_t *region)
{
    uint64_t r;
    struct dl__bitmap_iter it;
    dl__bitmap_iter_init(&it, s->out_of_sync, from);
    while (dl__bitmap_iter_next_set(&it, &r) && r < end) {
        int was = dl__bitmap_set(s->recovering, r);
        if (was < 0)
            return was;
        if (was == 0) {
            /* Claimed; but it may have been set in sync between the search
             * and the claim. */
            if (dl__bitmap_test(s->out_of_sync, r)) {
                *region = r;
                return 1;
            }
            dl__bitmap_clear(s->recovering, r);
        }
    }
    return 0;
}

/* Round robin from where the last search stopped, so a region whose recovery
 * failed is handed out again only after the others had their turn. */
int dl__sync_state_get_work(struct sync_state *s, uint64_t *region)
{
    if (atomic_load(&s->sync_count) == s->region_count)
        return 0;
    uint64_t start = atomic_load_explicit(&s->search_from, memory_order_relaxed);
    if (start >= s->region_count)
        start = 0;
    int r = claim_from(s, start, s->region_count, region);
    if (r == 0 && start > 0)
        r = claim_from(s, 0, start, region);
    if (r == 1)
        atomic_store_explicit(&s->search_from, *region + 1, memory_order_relaxed);
    return r;
}

int dl__sync_state_set(struct sync_state *s, uint64_t region, int in_sync)
{
    /* Change the sync bit first: if that fails, nothing changed. */
    int was_out = in_sync ? dl__bitmap_clear(s->out_of_sync, region)
                          : dl__bitmap_set(s->out_of_sync, region);
    if (was_out < 0)
        return was_out;
    /* Count only real flips, so setting a bit twice cannot count twice. */
    if (in_sync && was_out)
        atomic_fetch_add(&s->sync_count, 1);
    else if (!in_sync && !was_out)
        atomic_fetch_sub(&s->sync_count, 1);
    dl__bitmap_clear(s->recovering, region); /* clearing a set bit of a real leaf: no allocation */
    return was_out;
}
