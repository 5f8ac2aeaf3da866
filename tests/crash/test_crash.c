/* Power-loss simulation. A recorded history (several threads marking,
 * clearing and flushing concurrently, after a grow of the log) is replayed
 * into crash images: for a crash point c, everything up to the last sync
 * before c is on disk, and any subset of the writes issued since (each one
 * possibly torn at 512-byte sectors). Each image is opened with the library:
 *   (a) it opens, or fails with a message and leaves the image unchanged;
 *   (b) every region whose mark was acknowledged by a flush that returned
 *       before c (and not cleared before c) reads dirty and out of sync.
 * DL_CRASH_STATES sets the number of crash states per format (default
 * 60000, so a plain run checks 120000; 6000 when DL_SANITIZER=1). */
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

enum { THREADS = 4, ITERATIONS = 14, OLD_REGIONS = 40000, REGIONS = 70000 };

struct crash_stats {
    uint64_t states, opened, refused, checks;
};

struct history {
    struct memio io;
    dl_log *log;
    struct crash_intervals iv;
    /* the replay: the device each crash image is loaded into, the format */
    struct memio chk;
    int dm;
    struct crash_stats st;
    atomic_int bad;
};

struct worker {
    struct history *h;
    int id;
    unsigned seed;
};

/* Thread id owns regions r with r % THREADS == id. */
static void *worker(void *p)
{
    struct worker *w = p;
    struct history *h = w->h;
    uint64_t held[64];
    int nheld = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        uint64_t marked[3];
        int nm = 1 + (int)(crash_rnd(&w->seed) % 3);
        for (int k = 0; k < nm; k++) {
            marked[k] = (crash_rnd(&w->seed) % (REGIONS / THREADS)) * THREADS + (uint64_t)w->id;
            if (dl_log_mark_region(h->log, marked[k]) != 0)
                atomic_fetch_add(&h->bad, 1);
        }
        if (dl_log_flush(h->log) != 0)
            atomic_fetch_add(&h->bad, 1);
        size_t ack = memio_position(&h->io);
        for (int k = 0; k < nm; k++) {
            crash_intervals_add(&h->iv, marked[k], ack, SIZE_MAX);
            if (nheld < 64)
                held[nheld++] = marked[k];
        }
        /* Sometimes the writes finish: clear a held region (once no other
         * mark of it is pending, which ownership guarantees). */
        if (nheld && crash_rnd(&w->seed) % 2) {
            int i = (int)(crash_rnd(&w->seed) % (unsigned)nheld);
            uint64_t r = held[i];
            int still = 0; /* marked twice and held twice: keep it */
            for (int j = 0; j < nheld; j++)
                still += held[j] == r;
            held[i] = held[--nheld];
            if (still == 1) {
                crash_intervals_end(&h->iv, r, memio_position(&h->io));
                if (dl_log_clear_region(h->log, r) != 0)
                    atomic_fetch_add(&h->bad, 1);
            }
            if (crash_rnd(&w->seed) % 2 && dl_log_flush(h->log) != 0)
                atomic_fetch_add(&h->bad, 1);
        }
    }
    return NULL;
}

static const char *format_arg(int dm) { return dm ? "format=dm" : "format=native"; }

static dl_log *create(struct memio *m, int dm, const char *flag, uint64_t regions)
{
    const char *argv[] = {"crash", "2", format_arg(dm), flag};
    dl_log *log = NULL;
    if (memio_open_log(m, regions * 2, flag ? 4 : 3, argv, &log) != 0)
        fprintf(stderr, "create failed: %s\n", dl_last_error());
    return log;
}

/* Open one crash image and check (a) and (b) at crash point c (a
 * crash_image_fn: stops the replay after too many failures). */
static int check_image(void *arg, const uint8_t *img, uint64_t len, size_t c)
{
    struct history *h = arg;
    struct memio *chk = &h->chk;
    int dm = h->dm;
    struct crash_stats *st = &h->st;
    memio_load(chk, img, len);
    chk->closed = 0;
    const char *argv[] = {"crash", "2", format_arg(dm), "grow"};
    dl_log *log = NULL;
    memio_open_log(chk, REGIONS * 2, 4, argv, &log);
    st->states++;
    if (!log) {
        st->refused++;
        if (dl_last_error()[0] == '\0' || chk->size != len || memcmp(chk->buf, img, len) != 0) {
            fprintf(stderr, "crash point %zu: refused without a message or changed the image (%s)\n",
                    c, dl_last_error());
            test_failures++;
        }
        return test_failures > 20;
    }
    st->opened++;
    if (crash_intervals_check(&h->iv, log, c, dm ? "dm" : "native", "acknowledged", &st->checks))
        test_failures++;
    dl_log_destroy(log);
    return test_failures > 20;
}

static void run(int dm, unsigned seed)
{
    struct history h;
    memset(&h, 0, sizeof h);
    crash_intervals_init(&h.iv);
    memio_init(&h.io, 4096, 0);
    /* The base: a smaller log, some of it dirty, persisted and closed. */
    h.log = create(&h.io, dm, "nosync", OLD_REGIONS);
    if (!h.log) {
        test_failures++;
        return;
    }
    CHECK_EQ(dl_log_mark_region(h.log, 11), 0);
    CHECK_EQ(dl_log_flush(h.log), 0);
    dl_log_destroy(h.log);
    uint64_t base_len = h.io.size;
    uint8_t *base = malloc(base_len);
    memcpy(base, h.io.buf, base_len);

    /* The recorded history: a grow, then concurrent work. */
    h.io.record = 1;
    h.log = create(&h.io, dm, "grow", REGIONS);
    if (!h.log) {
        test_failures++;
        return;
    }
    crash_intervals_add(&h.iv, 11, 0, SIZE_MAX); /* dirty since the base */
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){&h, i, seed + (unsigned)i * 7919u};
        CHECK_EQ(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&h.bad), 0);
    dl_log_destroy(h.log);
    h.io.record = 0;

    size_t n = h.io.nrecs;
    /* Sanitizer builds (the CI sets DL_SANITIZER=1) run a tenth. */
    uint64_t target = crash_states_target(60000, 6000);
    memio_init(&h.chk, 0, 0);
    h.dm = dm;
    crash_images(h.io.recs, n, base, base_len, target, seed, check_image, &h);
    printf("%s: %zu records in the history (%zu intervals), %llu crash states: %llu opened, "
           "%llu refused cleanly, %llu region checks\n",
           dm ? "dm" : "native", n, h.iv.n, (unsigned long long)h.st.states,
           (unsigned long long)h.st.opened, (unsigned long long)h.st.refused,
           (unsigned long long)h.st.checks);
    CHECK(h.st.states >= target);
    CHECK(h.st.checks > 0);
    memio_destroy(&h.chk);
    free(base);
    memio_destroy(&h.io);
    crash_intervals_free(&h.iv);
}

int main(void)
{
    unsigned seed = crash_seed("crash simulation");
    run(0, seed);
    run(1, seed);
    return test_exit_status("test_crash");
}
