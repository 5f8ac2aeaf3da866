/* Internal hooks of the write-intent layer for the tests (not exported).
 * tests/rh sets them through this header only, never through struct dl_rh. */
#ifndef DL_RH_HOOKS_H
#define DL_RH_HOOKS_H

#include <stdint.h>

#include "dirtylog.h"

/* Called under the layer's lock, just before a thread goes to sleep:
 * on_recovery_wait when a writer waits for a region handed out for resync,
 * on_drain_wait when dl_rh_recovery_wait_idle waits for writes to drain.
 * A NULL member is not called. */
struct dl_rh_test_hooks {
    void (*on_recovery_wait)(void *arg, uint64_t region);
    void (*on_drain_wait)(void *arg, uint64_t region);
    /* The layer's clock (nanoseconds, any origin, never going back) for the
     * adaptive hot set's load measure; NULL: CLOCK_MONOTONIC. Called under
     * the layer's lock. */
    uint64_t (*now_ns)(void *arg);
    void *arg;
};

/* Install hooks (a copy of *hooks; NULL removes them). */
void dl__rh_set_test_hooks(dl_rh *rh, const struct dl_rh_test_hooks *hooks);

#endif
