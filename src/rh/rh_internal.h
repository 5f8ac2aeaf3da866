/* Internals of the write-intent layer (region hash), shared by the files of
 * src/rh/ only (tests reach the layer through rh_hooks.h).
 *
 * Per touched region one entry: an atomic state word and a mark ticket.
 *
 *   state bits 0..31  pending: writes admitted and not ended
 *              32..39 flags (RH_F_*)
 *              40..63 idle stamp: low 24 bits of the clear-pass generation
 *                     when pending last dropped to 0 (hot-set heuristic
 *                     only: a wrapped stamp just delays or hastens a clear)
 *
 * Invariants (all changes to MARKED/DURABLE/RECOVERING/NOSYNC/KNOWN happen
 * under rh->lock; pending changes lock-free by CAS):
 *   pending > 0  implies DURABLE (a write is only admitted to a durable region)
 *   DURABLE      implies MARKED, and a flush that started after the mark
 *                completed successfully
 *   the layer calls dl_log_mark_region/clear_region only under rh->lock,
 *   so the log sees marks and clears of a region in the order we decide.
 */
#ifndef DL_RH_INTERNAL_H
#define DL_RH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dirtylog.h"
#include "rh/rh_hooks.h"

#define RH_PENDING_MASK 0xffffffffull
#define RH_F_KNOWN (1ull << 32)      /* entry initialised (in_sync asked) */
#define RH_F_MARKED (1ull << 33)     /* dl_log_mark_region called, not cleared */
#define RH_F_DURABLE (1ull << 34)    /* ...and a flush after the mark succeeded */
#define RH_F_NOSYNC (1ull << 35)     /* copies may differ: never cleared */
#define RH_F_RECOVERING (1ull << 36) /* handed out for resync */
#define RH_F_WAITERS (1ull << 37)    /* someone sleeps until pending == 0 */
#define RH_STAMP_SHIFT 40
#define RH_STAMP_MASK 0xffffffull

/* Idle stamps are 24-bit: a hot period longer than half their range would
 * compare wrongly. */
#define RH_MAX_HOT_PERIODS (RH_STAMP_MASK / 2)
/* The adaptive hot set (rh_heat.c) doubles a hot period at most this many
 * times: an idle region is cleared within hot_periods << RH_MAX_SHIFT
 * periods. */
#define RH_MAX_SHIFT 5

static inline uint64_t rh_pending(uint64_t w) { return w & RH_PENDING_MASK; }
static inline uint32_t rh_stamp(uint64_t w) { return (uint32_t)(w >> RH_STAMP_SHIFT); }
static inline uint64_t rh_with_stamp(uint64_t w, uint64_t gen)
{
    return (w & ~(RH_STAMP_MASK << RH_STAMP_SHIFT)) | ((gen & RH_STAMP_MASK) << RH_STAMP_SHIFT);
}

struct rh_entry {
    _Atomic uint64_t state;
    uint64_t ticket; /* under lock: number of the first flush that covers the mark */
    /* Under lock: cold-path writers working on this region. A clear pass
     * leaves it alone, or a writer waiting for one region's flush could see
     * another of its regions cleared meanwhile, again and again. */
    uint32_t cold_users;
    /* Under lock, the adaptive hot set (rh_heat.c), in what was padding:
     * heat doubles the region's hot period each time it came back soon
     * after a clear; cleared_at is the low 24 bits of the generation of
     * the pass that last cleared it (valid once was_cleared). */
    unsigned cleared_at : 24;
    unsigned heat : 6;
    unsigned was_cleared : 1;
    unsigned kept : 1; /* the last pass kept it past hot_periods (kept hot) */
};
/* The heat fields took padding: an entry is still 24 bytes (docs/rh.md). */
_Static_assert(sizeof(struct rh_entry) == 24, "rh_entry grew");

/* The table: a radix tree of RH_FANOUT-wide nodes over leaves of RH_LEAF
 * entries, allocated on first touch (under rh->lock) and published with a
 * release store, so lookups are lock-free acquire loads. */
#define RH_LEAF_BITS 9
#define RH_LEAF (1u << RH_LEAF_BITS)
#define RH_FANOUT_BITS 9
#define RH_FANOUT (1u << RH_FANOUT_BITS)

struct rh_leaf {
    struct rh_entry e[RH_LEAF];
    /* Under lock: which entries are MARKED, so a clear pass visits only
     * those, and the list of leaves holding any. */
    uint64_t marked[RH_LEAF / 64];
    uint32_t nmarked;
    uint64_t base; /* region number of e[0] */
    struct rh_leaf *next;
};

struct rh_node {
    _Atomic(void *) slot[RH_FANOUT];
};

struct dl_rh {
    dl_log *log;
    uint64_t region_count;
    uint64_t region_bytes;
    uint32_t region_size; /* sectors */
    uint32_t flags;
    uint32_t hot_periods; /* 0: eager; the minimum hot period otherwise */
    uint32_t clear_threshold;
    uint64_t hot_cap; /* max idle regions kept past hot_periods (rh_heat.c) */
    int hot_cap_explicit; /* given by the caller: a bound even under back-off */
    unsigned levels; /* interior levels above the leaves (0: root is a leaf) */
    _Atomic(void *) root;
    struct rh_leaf *leaves; /* every leaf, under lock */

    /* Clear-pass generation: read by enders (relaxed) to stamp idle regions. */
    _Atomic uint64_t gen;

    pthread_mutex_t lock;
    pthread_cond_t flush_cond;  /* a flush completed */
    pthread_cond_t region_cond; /* a region drained or left RECOVERING */

    /* Group commit, under lock. Flushes are numbered from 1. */
    uint64_t flush_started;
    uint64_t flush_completed;
    uint64_t flush_last_ok; /* number of the newest successful flush */
    int flush_in_progress;
    int flush_last_err;
    int clear_flush_in_progress; /* the clear lane's flush (rh_commit.c) */

    uint64_t dirty_regions;    /* MARKED entries, under lock */
    uint64_t clears_unflushed; /* clears issued since the last flush started */
    struct dl_rh_stats stats; /* under lock */

    struct dl_rh_test_hooks hooks; /* rh_hooks.h; under lock */

    /* Load of the log rounds as cold begins feel it, under lock
     * (rh_heat.c): the current measurement window and the back-off level
     * it decided. */
    uint64_t window_start_ns;
    uint64_t window_wait_ns; /* summed time cold begins waited for a flush */
    uint64_t window_waits;   /* how many waits */
    uint64_t window_saved;   /* writes that found their region kept hot */
    uint64_t mean_wait_ns;   /* a cold begin's wait for its flush, smoothed */
    unsigned backoff;        /* extra doublings of every hot period */
};

/* rh_table.c */
int dl__rh_table_init(struct dl_rh *rh);
void dl__rh_table_free(struct dl_rh *rh);
/* Lock-free: the entry of a region, or NULL if its leaf does not exist. */
struct rh_entry *dl__rh_lookup(struct dl_rh *rh, uint64_t region);
/* Under lock: the entry, allocating its leaf (and nodes); NULL on ENOMEM. */
struct rh_entry *dl__rh_lookup_alloc(struct dl_rh *rh, uint64_t region, struct rh_leaf **leaf);
struct rh_leaf *dl__rh_leaf_of(struct dl_rh *rh, uint64_t region); /* lock-free */

/* Under lock: make sure the entry knows the region's sync state. */
int dl__rh_entry_init(struct dl_rh *rh, uint64_t region, struct rh_entry *e);
/* Under lock: record that the entry is (no longer) MARKED. */
void dl__rh_note_marked(struct dl_rh *rh, struct rh_leaf *leaf, uint64_t region, int marked);

/* rh_commit.c (the only caller of dl_log_flush): under lock; returns with
 * the lock held. 0 once a flush numbered >= target succeeded, else the error
 * of the flush(es) that covered target. */
int dl__rh_commit_wait(struct dl_rh *rh, uint64_t target);
/* Under lock: the number the next flush to start will get. */
static inline uint64_t rh_next_flush(struct dl_rh *rh) { return rh->flush_started + 1; }

/* rh_clear.c: under lock; clears eligible idle regions in the log (without
 * flushing it); returns how many. */
uint64_t dl__rh_clear_pass(struct dl_rh *rh, int all_idle);

/* rh_heat.c, the adaptive hot set; all under lock. */
uint64_t dl__rh_now_ns(struct dl_rh *rh);
/* A cold begin marks the region again: heat it up if it came back soon
 * after its clear, cool it down if it came back late. */
void dl__rh_heat_on_mark(struct dl_rh *rh, struct rh_entry *e);
/* The clear pass cleared the region at generation gen. */
void dl__rh_heat_on_clear(struct rh_entry *e, uint64_t gen);
/* Periods the region must stay idle before it is cleared (>= hot_periods). */
uint64_t dl__rh_hot_period(const struct dl_rh *rh, const struct rh_entry *e);
/* A cold begin waited wait_ns for its flush. */
void dl__rh_note_cold_wait(struct dl_rh *rh, uint64_t wait_ns);
/* Start of a clear pass: close the load window if it is long enough and
 * move the back-off level. */
void dl__rh_update_backoff(struct dl_rh *rh);
/* The cap this pass applies (rh_heat.c). */
uint64_t dl__rh_hot_cap(const struct dl_rh *rh);

/* Lock-free CAS helpers (rh_write.c). */
void dl__rh_wake_drained(struct dl_rh *rh);

#endif
