/* 64 concurrent clients x 10,000 ops on one shared log, every answer checked
 * against an exact model. Each client owns its own regions, so the model is
 * per client; the log and the daemon are shared by all. DL_SANITIZER=1 or
 * DL_TEST_SCALE=<percent> scale the op count down. */
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

#define CLIENTS 64
#define REGIONS_PER_CLIENT 32

static struct daemon_fx fx;
static unsigned ops_per_client = 10000;
static _Atomic int failures;

struct client {
    unsigned id;
    dl_log *log;
    unsigned long errors;
};

static void *run(void *arg)
{
    struct client *c = arg;
    uint64_t base = (uint64_t)c->id * REGIONS_PER_CLIENT;
    unsigned char dirty[REGIONS_PER_CLIENT] = {0};
    uint32_t seed = 12345u + c->id * 7919u;
    for (unsigned i = 0; i < ops_per_client; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % REGIONS_PER_CLIENT, op = (seed >> 20) % 16;
        int r;
        if (op < 6) {
            r = dl_log_mark_region(c->log, base + k);
            dirty[k] = 1;
        } else if (op < 10) {
            r = dl_log_clear_region(c->log, base + k);
            dirty[k] = 0;
        } else if (op < 11) {
            r = dl_log_flush(c->log);
        } else {
            r = dl_log_is_clean(c->log, base + k);
            if (r == !dirty[k])
                r = 0;
            else
                r = r < 0 ? r : -EBADMSG;
        }
        if (r != 0 && c->errors++ < 5)
            fprintf(stderr, "client %u op %u (kind %u, region %u): %d\n", c->id, i, op, k, r);
    }
    /* After a final flush the daemon itself must agree with the model. */
    if (dl_log_flush(c->log) != 0)
        c->errors++;
    for (unsigned k = 0; k < REGIONS_PER_CLIENT; k++)
        if (dl_log_is_clean(c->log, base + k) != !dirty[k])
            c->errors++;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (getenv("DL_SANITIZER"))
        ops_per_client = 1000;
    ops_per_client = ops_per_client * test_scale_percent() / 100;
    if (ops_per_client < 100)
        ops_per_client = 100;
    if (daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    static struct client cl[CLIENTS];
    pthread_t t[CLIENTS];
    char table[256];
    snprintf(table, sizeof table, "userspace 5 many integrated_flush socket=%s core 8", fx.socket);
    uint64_t target = (uint64_t)CLIENTS * REGIONS_PER_CLIENT * 8;
    for (unsigned i = 0; i < CLIENTS; i++) {
        cl[i].id = i;
        /* Half the clients send marks in FLUSH, half in MARK_REGION. */
        const char *tb = table;
        char plain[256];
        if (i % 2) {
            snprintf(plain, sizeof plain, "userspace 4 many socket=%s core 8", fx.socket);
            tb = plain;
        }
        CHECK_EQ(dl_log_create_table(tb, target, &cl[i].log), 0);
        if (!cl[i].log)
            return 1;
    }
    for (unsigned i = 0; i < CLIENTS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, run, &cl[i]), 0);
    unsigned long errors = 0;
    for (unsigned i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        errors += cl[i].errors;
    }
    CHECK_EQ(errors, 0);
    uint64_t n = 1;
    CHECK_EQ(dl_log_get_sync_count(cl[0].log, &n), 0);
    CHECK_U64(n, 0);
    for (unsigned i = 0; i < CLIENTS; i++)
        dl_log_destroy(cl[i].log);
    printf("%d clients x %u ops\n", CLIENTS, ops_per_client);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    (void)failures;
    return test_exit_status("test_many_clients");
}
