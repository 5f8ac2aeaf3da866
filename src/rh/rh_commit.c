/* Group commit of marks: one dl_log_flush() at a time, shared by every
 * thread waiting at that moment.
 *
 * A thread that marked regions (under rh->lock) needs a flush that STARTED
 * after its marks: the flush numbered rh_next_flush() at that moment. If no
 * flush is running, the first such thread becomes the leader and runs it
 * (without the lock); threads arriving meanwhile need the next number and
 * sleep; when the flush ends, one of them leads the next flush, which covers
 * every mark made while the previous one ran. So N concurrent cold begins
 * cost at most 2 flushes however they interleave.
 *
 * A clear pass's clears go through a lane of their own: one more
 * dl_log_flush() at a time, beside the numbered ones and never counted as
 * one of them (it satisfies no mark: conservative). A cold begin therefore
 * never waits behind the flush that persists clears, which is the flush
 * that runs the engine's data flush (slow: every leg's fdatasync). The log
 * sees at most two concurrent flushes, which a PARALLEL type must take
 * (the disk log makes the marks of either durable without waiting for the
 * other's data flush); a SERIALIZE_ALL type serialises them itself.
 *
 * This file is the layer's only caller of dl_log_flush(). */
#include <errno.h>

#include "log_internal.h"
#include "rh/rh_internal.h"

int dl__rh_commit_wait(struct dl_rh *rh, uint64_t target)
{
    for (;;) {
        if (rh->flush_last_ok >= target)
            return 0;
        if (rh->flush_completed >= target)
            return rh->flush_last_err; /* every flush since target failed */
        if (!rh->flush_in_progress) {
            /* Lead the flush numbered flush_started + 1 (== target here:
             * flushes start one at a time and target <= started + 1). */
            uint64_t n = ++rh->flush_started;
            rh->flush_in_progress = 1;
            if (rh->clear_threshold && rh->dirty_regions > rh->clear_threshold)
                dl__rh_clear_pass(rh, 0);
            /* Only marks to carry: the log may leave clean work queued
             * for the clear lane (log_internal.h). */
            int marks_only = rh->clears_unflushed == 0;
            rh->clears_unflushed = 0; /* this flush carries them */
            rh->stats.log_flushes++;
            pthread_mutex_unlock(&rh->lock);
            int r = marks_only ? dl__log_flush_for_marks(rh->log) : dl_log_flush(rh->log);
            pthread_mutex_lock(&rh->lock);
            rh->flush_in_progress = 0;
            rh->flush_completed = n;
            if (r == 0) {
                rh->flush_last_ok = n;
            } else {
                rh->flush_last_err = r < 0 ? r : -EIO;
                rh->stats.log_flush_errors++;
            }
            pthread_cond_broadcast(&rh->flush_cond);
            continue;
        }
        pthread_cond_wait(&rh->flush_cond, &rh->lock);
    }
}

/* The clear lane (see the top comment): one flush, after the clears issued
 * so far, that is not a numbered one. Called and returns with the lock. */
static int clear_commit(struct dl_rh *rh)
{
    while (rh->clear_flush_in_progress)
        pthread_cond_wait(&rh->flush_cond, &rh->lock);
    rh->clear_flush_in_progress = 1;
    rh->clears_unflushed = 0; /* this flush carries them */
    rh->stats.log_flushes++;
    pthread_mutex_unlock(&rh->lock);
    int r = dl_log_flush(rh->log);
    pthread_mutex_lock(&rh->lock);
    rh->clear_flush_in_progress = 0;
    if (r != 0) {
        r = r < 0 ? r : -EIO;
        rh->stats.log_flush_errors++;
    }
    pthread_cond_broadcast(&rh->flush_cond);
    return r;
}

/* dl_rh_flush / dl_rh_clear_idle: a clear pass (rh_clear.c), then a flush
 * of the clear lane that carries its clears. */
static int64_t flush_pass(dl_rh *rh, int all_idle)
{
    if (!rh)
        return -EINVAL;
    pthread_mutex_lock(&rh->lock);
    uint64_t n = dl__rh_clear_pass(rh, all_idle);
    int err = rh->clears_unflushed ? clear_commit(rh) : 0;
    pthread_mutex_unlock(&rh->lock);
    return err < 0 ? err : (int64_t)n;
}

int64_t dl_rh_flush(dl_rh *rh) { return flush_pass(rh, 0); }
int64_t dl_rh_clear_idle(dl_rh *rh) { return flush_pass(rh, 1); }
