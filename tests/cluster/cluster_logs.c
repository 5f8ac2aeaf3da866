#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster_fixture.h"
#include "cluster_logs.h"

static unsigned count_words(const char *s)
{
    unsigned n = 0;
    for (const char *p = s; *p;) {
        p += strspn(p, " ");
        if (!*p)
            break;
        n++;
        p += strcspn(p, " ");
    }
    return n;
}

int clu_table(char *buf, size_t len, unsigned node, const char *uuid, const char *inner)
{
    int n = snprintf(buf, len, "userspace %u %s socket=%s %s", 2 + count_words(inner), uuid,
                     clu_daemon_socket(node), inner);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

dl_log *clu_log_open(unsigned node, const char *uuid, const char *inner, uint64_t target)
{
    char table[512];
    dl_log *log = NULL;
    if (clu_table(table, sizeof table, node, uuid, inner) < 0)
        return NULL;
    int r = dl_log_create_table(table, target, &log);
    if (r == 0 && (r = dl_log_resume(log)) != 0) {
        dl_log_destroy(log);
        log = NULL;
    }
    if (r != 0)
        fprintf(stderr, "node %u: '%s': %s: %s\n", node, table, dl_strerror(r), dl_last_error());
    return log;
}

int clu_region_state(dl_log *log, uint64_t region)
{
    int clean = dl_log_is_clean(log, region);
    int sync = dl_log_in_sync(log, region, 1);
    if (clean < 0 || sync < 0)
        return -1;
    return clean | sync << 1;
}

/* The first region where two logs differ, or -1 if none (and no error). */
static int first_difference(dl_log *const *logs, unsigned n, uint64_t regions, char *why,
                            size_t len)
{
    for (uint64_t r = 0; r < regions; r++) {
        int first = clu_region_state(logs[0], r);
        for (unsigned i = 1; i < n; i++) {
            int s = clu_region_state(logs[i], r);
            if (s != first || s < 0) {
                snprintf(why, len, "region %llu: node log 0 answers %d, node log %u answers %d",
                         (unsigned long long)r, first, i, s);
                return 0;
            }
        }
    }
    return -1;
}

int clu_wait_identical(dl_log *const *logs, unsigned n, uint64_t regions, unsigned timeout_ms)
{
    unsigned long long deadline = clu_now_ms() + clu_deadline_ms(timeout_ms);
    char why[200];
    while (first_difference(logs, n, regions, why, sizeof why) == 0) {
        if (clu_now_ms() >= deadline) {
            fprintf(stderr, "nodes disagree after %u ms: %s (bit 0 clean, bit 1 in sync)\n",
                    timeout_ms, why);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000}; /* between two polls */
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* ---- loaders ----------------------------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;
static unsigned long acknowledged; /* steps of all loaders */
static int frozen;

static void *run(void *arg)
{
    struct clu_loader *l = arg;
    for (uint64_t k = 0; k < l->count && !l->stop; k++) {
        int r = dl_log_mark_region(l->log, l->base + k);
        if (r == 0 && l->clear_lag && k >= l->clear_lag)
            r = dl_log_clear_region(l->log, l->base + k - l->clear_lag);
        if (r == 0)
            r = dl_log_flush(l->log);
        if (r != 0) {
            if (l->errors++ < 2)
                fprintf(stderr, "node %u loader at %llu: %s: %s\n", l->node,
                        (unsigned long long)(l->base + k), dl_strerror(r), dl_last_error());
            l->last_error = r;
            /* A step that failed is retried: its mark was not acknowledged. */
            k--;
            if (l->errors > 1000)
                break;
            continue;
        }
        pthread_mutex_lock(&lock);
        if (!frozen)
            l->durable = k + 1;
        l->done = k + 1;
        acknowledged++;
        pthread_cond_broadcast(&progress);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int clu_loader_start(struct clu_loader *l)
{
    l->done = l->durable = 0;
    l->errors = 0;
    l->stop = 0;
    return pthread_create(&l->thread, NULL, run, l) == 0 ? 0 : -1;
}

void clu_loader_stop(struct clu_loader *l)
{
    l->stop = 1;
    pthread_join(l->thread, NULL);
}

void clu_loaders_freeze(void)
{
    pthread_mutex_lock(&lock);
    frozen = 1;
    pthread_mutex_unlock(&lock);
}

void clu_loaders_unfreeze(void)
{
    pthread_mutex_lock(&lock);
    frozen = 0;
    pthread_mutex_unlock(&lock);
}

unsigned long clu_loaders_acknowledged(void)
{
    pthread_mutex_lock(&lock);
    unsigned long n = acknowledged;
    pthread_mutex_unlock(&lock);
    return n;
}

int clu_loaders_wait(unsigned long flushes, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    unsigned ms = clu_deadline_ms(timeout_ms);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int r = 0;
    pthread_mutex_lock(&lock);
    while (acknowledged < flushes && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&progress, &lock, &until);
    int ok = acknowledged >= flushes;
    unsigned long seen = acknowledged;
    pthread_mutex_unlock(&lock);
    if (!ok)
        fprintf(stderr, "loaders: %lu flushes acknowledged after %u ms, waited for %lu\n", seen,
                ms, flushes);
    return ok ? 0 : -1;
}

void clu_loader_marked(const struct clu_loader *l, uint64_t steps, uint64_t *from, uint64_t *to)
{
    *to = l->base + steps;
    *from = l->clear_lag && steps > l->clear_lag ? *to - l->clear_lag : l->base;
}
