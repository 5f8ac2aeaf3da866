/* Fault injection at every I/O of a scripted life of a disk log, both
 * formats: EIO and ENOSPC at I/O number i (reads, writes and syncs counted
 * together), and a short write at i.
 *   - the failing call returns the error, with a message;
 *   - from then on the log is failed (INFO D or F), every region reads dirty
 *     and out of sync, flushes fail at once and do no I/O;
 *   - the image left behind opens (or is refused cleanly) and every mark
 *     acknowledged before the fault still reads dirty;
 *   - a short write is completed by the log: same result as no fault. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "memio.h"

TEST_MAIN_DEFINITIONS

enum { REGIONS = 100000 };

struct outcome {
    int failed_step; /* -1: the whole script ran */
    int err;
    uint64_t acked[8]; /* marks acknowledged and not cleared */
    int nacked;
    unsigned long ops;
};

static int cb(void *arg)
{
    (void)arg;
    return 0;
}

static void drop(struct outcome *o, uint64_t r)
{
    for (int i = 0; i < o->nacked; i++)
        if (o->acked[i] == r)
            o->acked[i] = o->acked[--o->nacked];
}

/* Check the failed state of a log after a fault. */
static void check_failed(dl_log *log, struct memio *m, int err, int step)
{
    char buf[128];
    CHECK(dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf) > 0);
    size_t n = strlen(buf);
    if (!(n > 0 && (buf[n - 1] == 'D' || buf[n - 1] == 'F'))) {
        fprintf(stderr, "step %d: INFO '%s' after a fault\n", step, buf);
        test_failures++;
    }
    for (uint64_t r = 0; r < REGIONS; r += 997) {
        CHECK_EQ(dl_log_is_clean(log, r), 0);
        CHECK_EQ(dl_log_in_sync(log, r, 1), 0);
    }
    unsigned long ops = m->ops;
    CHECK_EQ(dl_log_mark_region(log, 3), 0);
    CHECK_EQ(dl_log_flush(log), -err);
    CHECK_U64(m->ops, ops);
}

/* The scripted life; stops at the first failing call. */
static void script(struct memio *m, int dm, int err, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->failed_step = -1;
    const char *argv[] = {"f", "2", dm ? "format=dm" : "format=native", "nosync"};
    dl_log *log = NULL;
    int step = 0, r = dl_log_create_disk_io(REGIONS * 2, 4, argv, &m->io, &log);
    if (r != 0) {
        CHECK(dl_last_error()[0] != '\0');
        CHECK_EQ(m->closed, 0); /* the caller still owns the io */
        o->failed_step = step;
        o->err = r;
        return;
    }
    dl_log_set_flush_callback(log, cb, NULL);
    static const uint64_t marks1[] = {1, 50000, 50001};
    for (step = 1; step <= 6; step++) {
        switch (step) {
        case 1: r = dl_log_resume(log); break;
        case 2:
            for (int i = 0; i < 3; i++)
                dl_log_mark_region(log, marks1[i]);
            r = dl_log_flush(log);
            if (r == 0)
                for (int i = 0; i < 3; i++)
                    o->acked[o->nacked++] = marks1[i];
            break;
        case 3:
            drop(o, 1); /* cleared: may read clean from now on */
            dl_log_clear_region(log, 1);
            r = dl_log_flush(log);
            break;
        case 4:
            dl_log_mark_region(log, 7);
            dl_log_set_region_sync(log, 99999, 0);
            r = dl_log_flush(log);
            if (r == 0)
                o->acked[o->nacked++] = 7;
            break;
        case 5:
            dl_log_set_region_sync(log, 50001, 1);
            r = dl_log_flush(log); /* 50001 stays dirty: still marked */
            break;
        case 6: r = dl_log_postsuspend(log); break;
        }
        if (r != 0) {
            o->failed_step = step;
            o->err = r;
            if (r != -err) {
                fprintf(stderr, "step %d returned %d, expected %d\n", step, r, -err);
                test_failures++;
            }
            CHECK(dl_last_error()[0] != '\0');
            check_failed(log, m, err, step);
            break;
        }
    }
    o->ops = m->ops;
    dl_log_destroy(log);
}

/* The image after the script: opens (or is refused cleanly), marks held. */
static void check_image(const struct memio *src, int dm, const struct outcome *o, long at)
{
    struct memio chk;
    memio_init(&chk, 0, 0);
    memio_load(&chk, src->buf, src->size);
    const char *argv[] = {"f", "2", dm ? "format=dm" : "format=native"};
    dl_log *log = NULL;
    int r = dl_log_create_disk_io(REGIONS * 2, 3, argv, &chk.io, &log);
    if (r == 0 && (r = dl_log_resume(log)) != 0) {
        dl_log_destroy(log);
        log = NULL;
    }
    if (!log) {
        if (dl_last_error()[0] == '\0' || chk.size != src->size ||
            memcmp(chk.buf, src->buf, src->size) != 0) {
            fprintf(stderr, "fault at %ld: image refused without a message or changed\n", at);
            test_failures++;
        }
    } else {
        for (int i = 0; i < o->nacked; i++)
            if (dl_log_is_clean(log, o->acked[i]) != 0 || dl_log_in_sync(log, o->acked[i], 1) != 0) {
                fprintf(stderr, "%s fault at %ld: acknowledged region %llu reads clean\n",
                        dm ? "dm" : "native", at, (unsigned long long)o->acked[i]);
                test_failures++;
            }
        dl_log_destroy(log);
    }
    memio_destroy(&chk);
}

static void run(int dm)
{
    struct memio m;
    struct outcome ref, o;
    memio_init(&m, 4096, 0);
    script(&m, dm, EIO, &ref);
    CHECK_EQ(ref.failed_step, -1);
    unsigned long total = ref.ops;
    uint64_t bm_off = dm ? 1024 : 8192, ref_size = m.size;
    uint8_t *ref_img = malloc(ref_size);
    memcpy(ref_img, m.buf, ref_size);
    check_image(&m, dm, &ref, -1);
    memio_destroy(&m);

    unsigned long faults = 0, shorts = 0;
    static const int errs[] = {EIO, ENOSPC};
    for (unsigned long i = 0; i < total; i++) {
        for (int k = 0; k < 2; k++) {
            memio_init(&m, 4096, 0);
            m.fail_at = (long)i;
            m.fail_errno = errs[k];
            script(&m, dm, errs[k], &o);
            if (o.failed_step < 0) {
                fprintf(stderr, "%s: a fault at I/O %lu went unnoticed\n", dm ? "dm" : "native", i);
                test_failures++;
            }
            m.fail_at = -1;
            check_image(&m, dm, &o, (long)i);
            memio_destroy(&m);
            faults++;
        }
        memio_init(&m, 4096, 0);
        m.short_at = (long)i;
        script(&m, dm, EIO, &o);
        CHECK_EQ(o.failed_step, -1);
        /* Same bitmap as without the fault (the native uuid differs). */
        CHECK_U64(m.size, ref_size);
        if (m.size == ref_size && memcmp(m.buf + bm_off, ref_img + bm_off, ref_size - bm_off) != 0) {
            fprintf(stderr, "%s: short write at I/O %lu changed the result\n", dm ? "dm" : "native", i);
            test_failures++;
        }
        memio_destroy(&m);
        shorts++;
    }
    printf("%s: %lu I/Os in the script; %lu error faults and %lu short writes injected\n",
           dm ? "dm" : "native", total, faults, shorts);
    free(ref_img);
}

int main(void)
{
    run(0);
    run(1);
    return test_exit_status("test_faults");
}
