/* The in-sync and recovering sets every log type keeps, with an exact sync
 * count and the round-robin hand-out of resync work. Lock-free: safe to call
 * concurrently with everything but init/destroy/recount. */
#ifndef DIRTYLOG_SYNC_STATE_H
#define DIRTYLOG_SYNC_STATE_H

#include <stdatomic.h>
#include <stdint.h>

struct bitmap;

struct sync_state {
    struct bitmap *out_of_sync; /* 1 = the copies may differ */
    struct bitmap *recovering;  /* 1 = handed out by dl__sync_state_get_work */
    uint64_t region_count;
    _Atomic uint64_t sync_count;  /* changed only by the thread that flipped a bit */
    _Atomic uint64_t search_from; /* where the next resync search starts */
};

/* Every region in sync (in_sync != 0) or out of sync; out_of_sync in flat
 * mode when prefer_flat and dl__bitmap_create_prefer_flat can. 0 or -ENOMEM. */
int dl__sync_state_init(struct sync_state *s, uint64_t region_count, int in_sync,
                        int prefer_flat);
void dl__sync_state_destroy(struct sync_state *s);

/* After out_of_sync was rewritten wholesale (a reload): recount, forget
 * what was recovering, restart the search. Exclusive. */
void dl__sync_state_recount(struct sync_state *s);

/* 1 and *region (an out-of-sync region not recovering, now recovering), 0
 * if none, -ENOMEM. */
int dl__sync_state_get_work(struct sync_state *s, uint64_t *region);

/* Record a recovery result: r leaves the recovering set and becomes in sync
 * or not. Returns the previous out-of-sync bit (0/1), or -ENOMEM with
 * nothing changed. Setting a bit twice never counts twice. */
int dl__sync_state_set(struct sync_state *s, uint64_t region, int in_sync);

#endif
