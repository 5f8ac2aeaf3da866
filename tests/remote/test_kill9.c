/* kill -9 the daemon during a stream of mark+flush calls from 8 clients on a
 * disk-backed shared log, then restart it: every acknowledged mark is dirty
 * afterwards, and the clients carry on without an error. Each flush also
 * clears a region of the neighbouring client (one it marked earlier or will
 * mark later): a client's clear must never clean another client's mark, in
 * particular not after the restart, when the daemon has to learn again who
 * marked what. Skipped (exit 77, visibly) while no "disk" type is registered. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

#define CLIENTS 8
#define REGIONS_PER_CLIENT 512

static struct daemon_fx fx;
static char table[512];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;
static unsigned long flushes;
static int stop;

struct client {
    unsigned id;
    dl_log *log;
    unsigned durable_before_kill; /* regions [base, base + n) were flushed */
    unsigned done;
    unsigned errors;
};

static int killed; /* set (under lock) just before the kill */

static void *run(void *arg)
{
    struct client *c = arg;
    uint64_t base = (uint64_t)c->id * REGIONS_PER_CLIENT;
    for (unsigned k = 0; k < REGIONS_PER_CLIENT; k++) {
        pthread_mutex_lock(&lock);
        int s = stop;
        pthread_mutex_unlock(&lock);
        if (s)
            break;
        uint64_t neighbour = (uint64_t)((c->id + 1) % CLIENTS) * REGIONS_PER_CLIENT;
        int r = dl_log_mark_region(c->log, base + k);
        /* Behind the neighbour's progress, at it, and ahead of it. */
        for (unsigned d = 0; r == 0 && d < 3; d++)
            r = dl_log_clear_region(c->log, neighbour + (k + REGIONS_PER_CLIENT - 1 + d) %
                                                            REGIONS_PER_CLIENT);
        if (r == 0)
            r = dl_log_flush(c->log);
        if (r != 0) {
            if (c->errors++ < 3)
                fprintf(stderr, "client %u region %u: %s\n", c->id, k, dl_strerror(r));
            continue;
        }
        pthread_mutex_lock(&lock);
        if (!killed)
            c->durable_before_kill = k + 1;
        c->done = k + 1;
        flushes++;
        pthread_cond_broadcast(&progress);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void wait_flushes(unsigned long n)
{
    pthread_mutex_lock(&lock);
    while (flushes < n)
        pthread_cond_wait(&progress, &lock);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!dl_find_type("disk")) {
        printf("SKIP: no \"disk\" log type registered yet\n");
        return 77;
    }
    setenv("DIRTYLOG_RECONNECT_MS", "20000", 1);
    if (daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    snprintf(table, sizeof table, "userspace 5 killme socket=%s disk %s/log 8", fx.socket, fx.dir);
    uint64_t target = (uint64_t)CLIENTS * REGIONS_PER_CLIENT * 8;
    static struct client cl[CLIENTS];
    pthread_t t[CLIENTS];
    for (unsigned i = 0; i < CLIENTS; i++) {
        cl[i].id = i;
        CHECK_EQ(dl_log_create_table(table, target, &cl[i].log), 0);
        if (!cl[i].log)
            return 1;
        CHECK_EQ(dl_log_resume(cl[i].log), 0);
    }
    for (unsigned i = 0; i < CLIENTS; i++)
        pthread_create(&t[i], NULL, run, &cl[i]);

    wait_flushes(200);
    /* Everything flushed until now must survive the kill. The clients keep
     * going during the kill; a flush that returns after this point may or
     * may not have been durable before it, so it is not counted. */
    pthread_mutex_lock(&lock);
    killed = 1;
    unsigned long at_kill = flushes;
    pthread_mutex_unlock(&lock);
    daemon_kill9(&fx);
    CHECK_EQ(daemon_start(&fx, argv[1], NULL), 0);
    wait_flushes(at_kill + 200); /* they carry on after the restart */
    pthread_mutex_lock(&lock);
    stop = 1;
    pthread_mutex_unlock(&lock);
    for (unsigned i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);

    /* A fresh client of the same log checks every durable mark. */
    dl_log *check = NULL;
    CHECK_EQ(dl_log_create_table(table, target, &check), 0);
    if (check) {
        CHECK_EQ(dl_log_resume(check), 0);
        unsigned lost = 0, total = 0;
        for (unsigned i = 0; i < CLIENTS; i++) {
            CHECK_EQ(cl[i].errors, 0);
            for (unsigned k = 0; k < cl[i].done; k++, total++)
                if (dl_log_is_clean(check, (uint64_t)i * REGIONS_PER_CLIENT + k) != 0)
                    lost++;
        }
        printf("%lu flushes before the kill, %u marks checked\n", at_kill, total);
        CHECK_EQ(lost, 0);
        dl_log_destroy(check);
    }
    for (unsigned i = 0; i < CLIENTS; i++)
        dl_log_destroy(cl[i].log);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_kill9");
}
