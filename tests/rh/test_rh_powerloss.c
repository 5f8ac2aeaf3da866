/* Power-loss simulation of the write-intent layer over the "disk" log.
 *
 * Threads write through dl_rh (begin, "write", end; a few writes fail) while
 * others run flush passes with eager clearing, over a disk log on the
 * recording in-memory device of tests/disk (memio). The history of device
 * writes and syncs is then replayed into crash images by the generator that
 * tests/crash uses (tests/crash/crash_images.h):
 * at crash point c, everything through the last sync before c is on disk,
 * plus any subset of the writes issued since (possibly torn at 512 bytes).
 * In every image that opens:
 *   every region with a write whose begin had returned before c and whose
 *   end was not yet called at c reads dirty and out of sync; a region whose
 *   write failed reads so from that begin on, forever.
 * DL_CRASH_STATES sets the number of states per format (default 20000;
 * 2000 when DL_SANITIZER=1); DL_CRASH_SEED repeats a run. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "crash_images.h"
#include "memio.h"

TEST_MAIN_DEFINITIONS

enum { WRITERS = 4, FLUSHERS = 1, ITERATIONS = 40, REGIONS = 4096, RS = 8, BASE = 4096 };
#define RB ((uint64_t)RS * 512u)

struct crash_stats {
    uint64_t states, opened, checks;
};

struct history {
    struct memio io;
    dl_log *log;
    dl_rh *rh;
    struct crash_intervals iv;
    /* the replay: the device each crash image is loaded into, the format */
    struct memio chk;
    int dm;
    struct crash_stats st;
    atomic_int bad, writers_left;
};

struct worker {
    struct history *h;
    unsigned seed;
};

static void *writer(void *p)
{
    struct worker *w = p;
    struct history *h = w->h;
    for (int it = 0; it < ITERATIONS; it++) {
        /* Overlapping ranges over a hot area and the whole target. */
        uint64_t span = crash_rnd(&w->seed) % 2 ? 64 : REGIONS;
        uint64_t first = crash_rnd(&w->seed) % (span - 1), n = 1 + crash_rnd(&w->seed) % 2;
        uint64_t off = first * RB + crash_rnd(&w->seed) % 512, len = n * RB - (off - first * RB);
        if (dl_rh_begin_write(h->rh, off, len, 0) != 0) {
            atomic_fetch_add(&h->bad, 1);
            continue;
        }
        size_t ack = memio_position(&h->io);
        int fail = crash_rnd(&w->seed) % 32 == 0;
        size_t end = fail ? SIZE_MAX : memio_position(&h->io);
        for (uint64_t r = first; r < first + n; r++)
            crash_intervals_add(&h->iv, r, ack, end);
        if (dl_rh_end_write(h->rh, off, len, fail ? -EIO : 0) != 0)
            atomic_fetch_add(&h->bad, 1);
        if (it % 4 == 3 && dl_rh_flush(h->rh) < 0) /* a period ends now and then */
            atomic_fetch_add(&h->bad, 1);
    }
    atomic_fetch_sub(&h->writers_left, 1);
    return NULL;
}

static void *flusher(void *p)
{
    struct history *h = p;
    while (atomic_load(&h->writers_left) > 0)
        if (dl_rh_flush(h->rh) < 0)
            atomic_fetch_add(&h->bad, 1);
    return NULL;
}

static const char *format_arg(int dm) { return dm ? "format=dm" : "format=native"; }

static dl_log *open_disk(struct memio *m, int dm, const char *flag)
{
    const char *argv[] = {"rh-powerloss", "8", format_arg(dm), flag};
    dl_log *log = NULL;
    if (memio_open_log(m, (uint64_t)REGIONS * RS, flag ? 4 : 3, argv, &log) != 0)
        fprintf(stderr, "disk log: %s\n", dl_last_error());
    return log;
}

/* Open one crash image and check it at crash point c (a crash_image_fn:
 * stops the replay after too many failures). */
static int check_image(void *arg, const uint8_t *img, uint64_t len, size_t c)
{
    struct history *h = arg;
    struct memio *chk = &h->chk;
    int dm = h->dm;
    struct crash_stats *st = &h->st;
    memio_load(chk, img, len);
    chk->closed = 0;
    dl_log *log = open_disk(chk, dm, NULL);
    st->states++;
    if (!log) /* refusing a torn image is the disk type's business (tests/crash) */
        return test_failures > 20;
    st->opened++;
    if (crash_intervals_check(&h->iv, log, c, dm ? "dm" : "native", "begun", &st->checks))
        test_failures++;
    dl_log_destroy(log);
    return test_failures > 20;
}

static void run(int dm, unsigned seed)
{
    struct history h;
    memset(&h, 0, sizeof h);
    crash_intervals_init(&h.iv);
    memio_init(&h.io, BASE, 0); /* a zeroed device, as a new file would be */
    h.io.record = 1;
    h.log = open_disk(&h.io, dm, "nosync");
    if (!h.log) {
        test_failures++;
        return;
    }
    struct dl_rh_options o = {.struct_size = sizeof o, .flags = DL_RH_EAGER_CLEAR};
    CHECK_EQ(dl_rh_create(h.log, &o, &h.rh), 0);
    atomic_store(&h.writers_left, WRITERS);
    pthread_t th[WRITERS + FLUSHERS];
    struct worker w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct worker){&h, seed + (unsigned)i * 7919u};
        CHECK_EQ(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < FLUSHERS; i++)
        CHECK_EQ(pthread_create(&th[WRITERS + i], NULL, flusher, &h), 0);
    for (int i = 0; i < WRITERS + FLUSHERS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&h.bad), 0);
    struct dl_rh_stats s = {.struct_size = sizeof s};
    dl_rh_get_stats(h.rh, &s);
    dl_rh_destroy(h.rh); /* the crash: no clear, no postsuspend */
    dl_log_destroy(h.log);
    h.io.record = 0;

    size_t n = h.io.nrecs;
    uint64_t target = crash_states_target(20000, 2000);
    memio_init(&h.chk, 0, 0);
    h.dm = dm;
    /* The base: BASE zero bytes, as the device was before the history. */
    crash_images(h.io.recs, n, NULL, BASE, target, seed, check_image, &h);
    printf("%s: %llu log flushes, %llu marks, %llu clears; %zu device records, %zu "
           "intervals; %llu crash states, %llu opened, %llu region checks\n",
           dm ? "dm" : "native", (unsigned long long)s.log_flushes, (unsigned long long)s.marks,
           (unsigned long long)s.clears, n, h.iv.n, (unsigned long long)h.st.states,
           (unsigned long long)h.st.opened, (unsigned long long)h.st.checks);
    CHECK(s.clears > 0);
    CHECK(h.st.opened > 0);
    CHECK(h.st.checks > 0);
    memio_destroy(&h.chk);
    memio_destroy(&h.io);
    crash_intervals_free(&h.iv);
}

int main(void)
{
    if (!dl_find_type("disk")) {
        printf("test_rh_powerloss: SKIPPED (no disk log type)\n");
        return 77;
    }
    unsigned seed = crash_seed("rh power-loss simulation");
    run(0, seed);
    run(1, seed);
    return test_exit_status("test_rh_powerloss");
}
