/* Crash images from a recorded device history (tests/disk/memio records).
 *
 * For each crash point c (0 .. nrecs), everything through the last sync
 * before c is durable; on top of that, any subset of the writes issued since
 * may have reached the device, each possibly torn at 512-byte sectors. The
 * generator builds such images and hands each one to a callback:
 *   the first image at a point has none of the pending writes, the second
 *   all of them whole, the others a random subset (a third of them torn).
 * It makes about target / (nrecs + 1) + 1 images per point and stops after
 * `target` images, or when the callback returns non-zero.
 * Used by tests/crash (the disk log) and tests/rh (the write-intent layer). */
#ifndef DL_TEST_CRASH_IMAGES_H
#define DL_TEST_CRASH_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "dirtylog.h"
#include "memio.h"

/* The tests' pseudo-random sequence (an LCG: the same seed, the same run). */
unsigned crash_rnd(unsigned *state);

/* The seed of a run, printed with `what` so a failure can be repeated:
 * DL_CRASH_SEED_DEFAULT unless DL_CRASH_SEED says otherwise: a number picks
 * that seed, "random" a new one per run (the opt-in soak mode: loop the test,
 * with DL_CRASH_STATES raised). A fixed default keeps ctest repeatable. */
#define DL_CRASH_SEED_DEFAULT 1u
unsigned crash_seed(const char *what);

/* The number of crash states to check: DL_CRASH_STATES if set, else
 * `sanitizer_default` when DL_SANITIZER=1 (the CI's sanitizer builds), else
 * `plain_default`. */
uint64_t crash_states_target(uint64_t plain_default, uint64_t sanitizer_default);

/* One crash image: `len` bytes at `img` (valid during the call only), for
 * the crash point `crash_point` (records [0, crash_point) were issued).
 * Return non-zero to stop the generation. */
typedef int (*crash_image_fn)(void *arg, const uint8_t *img, uint64_t len, size_t crash_point);

/* Replay `recs[0 .. nrecs)` over the device contents before the history,
 * `base_len` bytes at `base` (NULL: zeros), into crash images. `seed` picks
 * the subsets and tears. Returns the number of images handed to `fn`. */
uint64_t crash_images(const struct memio_rec *recs, size_t nrecs, const uint8_t *base,
                      uint64_t base_len, uint64_t target, unsigned seed, crash_image_fn fn,
                      void *arg);

/* What the tests check in each image: a region must read dirty (not clean
 * and not in sync) at every crash point in [from, to]. Thread-safe list. */
struct crash_interval {
    uint64_t region;
    size_t from, to; /* to == SIZE_MAX: still open */
};
struct crash_intervals {
    pthread_mutex_t lock;
    struct crash_interval *iv;
    size_t n, cap;
};
void crash_intervals_init(struct crash_intervals *l);
void crash_intervals_free(struct crash_intervals *l);
void crash_intervals_add(struct crash_intervals *l, uint64_t region, size_t from, size_t to);
/* Close every open interval of region at crash point `to`. */
void crash_intervals_end(struct crash_intervals *l, uint64_t region, size_t to);
/* Check an opened log at crash point c: every interval covering c must read
 * dirty. Counts the checks in *checks; on the first region that reads clean,
 * prints it (`label` names the run, `event` what happened at `from`, e.g.
 * "acknowledged") and returns 1. 0 otherwise. */
int crash_intervals_check(const struct crash_intervals *l, dl_log *log, size_t c,
                          const char *label, const char *event, uint64_t *checks);

#endif
