/* Parallel leg syncs and early writeback. See legsync.h. */
#define _GNU_SOURCE /* sync_file_range */
#include "legsync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define LEGSYNC_MAX 8

struct worker {
    struct legsync *pool;
    unsigned leg;
    pthread_t thread;
};

struct legsync {
    pid_t pid; /* the process whose threads these are */
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    const int *fd;        /* this round's descriptors */
    unsigned long round;  /* rounds started; a worker syncs once per round */
    unsigned pending;     /* workers still syncing this round */
    int err;              /* the round's first error */
    int stop;
    unsigned nworkers;    /* legs 1..nworkers */
    struct worker w[LEGSYNC_MAX];
};

static int sync_fd(int fd)
{
    while (fdatasync(fd) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct legsync *p = w->pool;
    pthread_mutex_lock(&p->lock);
    unsigned long seen = 0; /* a new pool: a round may start before we run */
    for (;;) {
        while (!p->stop && p->round == seen)
            pthread_cond_wait(&p->go, &p->lock);
        if (p->stop)
            break;
        seen = p->round;
        int fd = p->fd[w->leg];
        pthread_mutex_unlock(&p->lock);
        int r = sync_fd(fd);
        pthread_mutex_lock(&p->lock);
        if (r < 0 && p->err == 0)
            p->err = r;
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* A pool for legs 1..n-1, or NULL (then the caller syncs them itself). */
static struct legsync *pool_create(unsigned n)
{
    struct legsync *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pid = getpid();
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (unsigned i = 1; i < n && i < LEGSYNC_MAX; i++) {
        struct worker *w = &p->w[p->nworkers];
        w->pool = p;
        w->leg = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
        p->nworkers++;
    }
    return p; /* if not every leg got its thread, legsync_run falls back */
}

int legsync_run(struct legsync **pool, unsigned n, const int *fd)
{
    if (*pool && (*pool)->pid != getpid()) {
        legsync_destroy(*pool); /* the parent's: its threads are not ours */
        *pool = NULL;
    }
    if (!*pool && n > 1)
        *pool = pool_create(n);
    struct legsync *p = *pool;
    if (!p || p->nworkers + 1 != n) {
        /* The portable fallback: one leg after the other. */
        int r = 0;
        for (unsigned i = 0; i < n; i++) {
            int e = sync_fd(fd[i]);
            if (e < 0 && r == 0)
                r = e;
        }
        return r;
    }
    pthread_mutex_lock(&p->lock);
    p->fd = fd;
    p->err = 0;
    p->pending = p->nworkers;
    p->round++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->lock);
    int r = sync_fd(fd[0]);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->lock);
    if (r == 0)
        r = p->err;
    pthread_mutex_unlock(&p->lock);
    return r;
}

void legsync_destroy(struct legsync *p)
{
    if (!p)
        return;
    if (p->pid == getpid()) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->nworkers; i++)
            pthread_join(p->w[i].thread, NULL);
        pthread_cond_destroy(&p->go);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->lock);
    }
    free(p);
}

void legsync_wrote(atomic_size_t *unwritten, int fd, size_t len)
{
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    if (atomic_fetch_add(unwritten, len) + len < LEGSYNC_KICK_BYTES)
        return;
    atomic_store(unwritten, 0);
    /* Starts writeback of the dirty pages without waiting for it; an error
     * here is found again by the flush's fdatasync. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)unwritten;
    (void)fd;
    (void)len;
#endif
}
