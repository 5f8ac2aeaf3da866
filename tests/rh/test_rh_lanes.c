/* The layer's two flush lanes (src/rh/rh_commit.c) over a real disk log: a
 * cold begin never waits behind the flush that persists a clear pass's
 * clears, i.e. behind the engine's data flush that flush runs. The data
 * flush is held closed by a gate; the cold begin must return while it is
 * closed, and the cleared region must not be clean on disk before the gate
 * opens. Without the lanes the begin waits for the gate: the test then
 * reports the failure when its deadline passes and opens the gate itself. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

#define RS 8 /* sectors per region */
#define RB ((uint64_t)RS * 512)
#define REGIONS 1024
#define DEADLINE_S 20

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered; /* the data flush is running */
    int open;    /* the data flush may return */
    int begin_done;
    int clear_done;
    int64_t clear_result;
};

static int gate_callback(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

/* Wait for *flag under the gate's lock, at most DEADLINE_S: whether it came. */
static int wait_flag(struct gate *g, int *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_S;
    pthread_mutex_lock(&g->lock);
    int rc = 0;
    while (!*flag && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, &until);
    int got = *flag;
    pthread_mutex_unlock(&g->lock);
    return got;
}

static void set_flag(struct gate *g, int *flag)
{
    pthread_mutex_lock(&g->lock);
    *flag = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

struct ctx {
    struct gate *g;
    dl_rh *rh;
};

static void *clear_thread(void *p)
{
    struct ctx *c = p;
    int64_t r = dl_rh_clear_idle(c->rh);
    c->g->clear_result = r;
    set_flag(c->g, &c->g->clear_done);
    return NULL;
}

static void *begin_thread(void *p)
{
    struct ctx *c = p;
    CHECK_EQ(dl_rh_begin_write(c->rh, 7 * RB, RB, 0), 0);
    set_flag(c->g, &c->g->begin_done);
    return NULL;
}

/* Region r's bit as a fresh reader of the device sees it (1 = dirty). */
static int dirty_on_disk(const char *path, uint64_t r)
{
    char size[32];
    const char *argv[] = {path, size}; /* no sync/nosync: keep the bits */
    snprintf(size, sizeof size, "%d", RS);
    dl_log *reader = NULL;
    int rc = dl_log_create("disk", (uint64_t)REGIONS * RS, 2, argv, &reader);
    if (rc < 0 || dl_log_resume(reader) < 0) {
        dl_log_destroy(reader);
        return -1;
    }
    int clean = dl_log_is_clean(reader, r);
    dl_log_destroy(reader);
    return clean == 0;
}

static int test_begin_passes_clear_flush(void)
{
    char dir[] = "/tmp/dl-rh-lanes-XXXXXX", path[64];
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/log", dir);
    char size[32];
    const char *argv[] = {path, size, "nosync"};
    snprintf(size, sizeof size, "%d", RS);
    dl_log *log = NULL;
    dl_rh *rh = NULL;
    struct gate g = {.open = 0};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    int r = dl_log_create("disk", (uint64_t)REGIONS * RS, 3, argv, &log);
    CHECK_EQ(r, 0);
    if (r == 0)
        CHECK_EQ(r = dl_log_resume(log), 0);
    if (r < 0)
        goto out;
    CHECK_EQ(dl_log_set_flush_callback(log, gate_callback, &g), 0);
    struct dl_rh_options o = {.struct_size = sizeof o, .hot_periods = 1};
    CHECK_EQ(r = dl_rh_create(log, &o, &rh), 0);
    if (r < 0)
        goto out;

    /* Region 3 written: dirty and durable. */
    CHECK_EQ(dl_rh_begin_write(rh, 3 * RB, RB, 0), 0);
    CHECK_EQ(dl_rh_end_write(rh, 3 * RB, RB, 0), 0);
    CHECK_EQ(dl_log_is_clean(log, 3), 0);

    /* A clear pass clears it; its flush runs the data flush, held closed. */
    struct ctx c = {&g, rh};
    pthread_t tc, tb;
    CHECK_EQ(pthread_create(&tc, NULL, clear_thread, &c), 0);
    CHECK(wait_flag(&g, &g.entered));

    /* A cold begin of region 7 meanwhile: its mark is made durable and it
     * returns without waiting for the gate. */
    CHECK_EQ(pthread_create(&tb, NULL, begin_thread, &c), 0);
    int passed = wait_flag(&g, &g.begin_done);
    CHECK(passed); /* fails when the begin waited behind the clear's flush */
    pthread_mutex_lock(&g.lock);
    CHECK_EQ(g.clear_done, 0); /* the clear's flush is still in the data flush */
    pthread_mutex_unlock(&g.lock);
    CHECK_EQ(dl_log_is_clean(log, 7), 0);

    set_flag(&g, &g.open);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    CHECK_EQ(g.clear_result, 1); /* region 3 */
    CHECK_EQ(dl_rh_end_write(rh, 7 * RB, RB, 0), 0);
    dl_rh_destroy(rh);
    rh = NULL;
    CHECK_EQ(dl_log_postsuspend(log), 0);
    dl_log_destroy(log);
    log = NULL;
    /* On the device: 3 clean (its data flush returned), 7 dirty (its mark
     * was durable before its begin returned; never cleared). */
    CHECK_EQ(dirty_on_disk(path, 3), 0);
    CHECK_EQ(dirty_on_disk(path, 7), 1);
out:
    dl_rh_destroy(rh);
    dl_log_destroy(log);
    unlink(path);
    rmdir(dir);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
    return 0;
}

int main(void)
{
    test_begin_passes_clear_flush();
    return test_exit_status("test_rh_lanes");
}
