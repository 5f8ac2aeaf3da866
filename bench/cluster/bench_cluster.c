/* Benchmark of the clustered logs on a 3-node corosync cluster built by the
 * test fixture (tests/cluster), with its raw baseline measured in the same
 * run on the same cluster:
 *   1. one client's mark + flush round trip through `userspace` and
 *      dirtylogd --cluster (clustered_core, the log open on all three nodes)
 *      ÷ a raw CPG round trip (cpg_probe: multicast in agreed order, wait for
 *      the delivery of one's own message; the group joined on all three),
 *      measured before and after (the smaller median counts);
 *   2. marks per second with many clients (on every node) using
 *      integrated_flush, MARKS_PER_FLUSH marks per flush;
 *   3. CPG messages per flush: the CPG requests the daemons made to their
 *      corosync during (2) (corosync's own per-connection counter,
 *      stats.ipcs.service2.*.requests in cmap, summed over the daemons'
 *      connections and nodes) ÷ the flushes of (2). An upper bound: every
 *      CPG call counts, not only multicasts.
 * Usage: bench_cluster <dirtylogd> <cpg_probe> [seconds] [round trips]
 *                      [clients per node (default 4)]
 * Exit 77 (with the reason) where the cluster tests would skip. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_fixture.h"
#include "cluster_logs.h"
#include "dirtylog.h"

#define NODES 3
#define MAX_CLIENTS_PER_NODE 16
#define MARKS_PER_FLUSH 16
#define SPAN (1u << 20) /* regions per client in (2) */

static double seconds = 3.0;
static unsigned round_trips = 500;
static unsigned clients_per_node = 4;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1a. The raw CPG round trip: median in µs, or -1. */
static double cpg_rtt_us(const char *probe)
{
    char rounds[16], out[4096];
    snprintf(rounds, sizeof rounds, "%u", round_trips);
    const char *hold[] = {probe, "--group", "dl-bench", "--hold", NULL};
    pid_t holders[NODES + 1] = {0};
    for (unsigned n = 2; n <= NODES; n++)
        holders[n] = clu_spawn(n, hold, NULL);
    const char *rtt[] = {probe,   "--group", "dl-bench", "--members", "3",
                         "--rtt", rounds,    "--size",   "64",        NULL};
    int st = clu_run(1, rtt, out, sizeof out);
    for (unsigned n = 2; n <= NODES; n++)
        clu_kill(holders[n], 15, 5000);
    const char *line = strstr(out, "cpg_rtt_us:");
    double median;
    if (st != 0 || !line || sscanf(line, "cpg_rtt_us: median %lf", &median) != 1) {
        fprintf(stderr, "cpg_probe failed (status %d): %s\n", st, out);
        return -1;
    }
    printf("%s", line);
    return median;
}

/* 1b. mark (a new region) + flush through the cluster: median in µs. */
static double mark_flush_us(dl_log *log)
{
    double *t = calloc(round_trips, sizeof *t);
    if (!t)
        return -1;
    for (unsigned k = 0; k < round_trips; k++) {
        double start = now();
        if (dl_log_mark_region(log, k) != 0 || dl_log_flush(log) != 0) {
            fprintf(stderr, "mark+flush %u: %s\n", k, dl_last_error());
            free(t);
            return -1;
        }
        t[k] = (now() - start) * 1e6;
    }
    qsort(t, round_trips, sizeof *t, cmp_double);
    double median = t[round_trips / 2];
    printf("mark_flush_us: median %.0f min %.0f max %.0f (%u round trips)\n", median, t[0],
           t[round_trips - 1], round_trips);
    free(t);
    return median;
}

struct client {
    dl_log *log;
    uint64_t base;
    unsigned long marks, flushes;
    int error;
};

static double stop_at;

static void *hammer(void *arg)
{
    struct client *c = arg;
    uint64_t k = 0;
    while (now() < stop_at && !c->error) {
        for (unsigned i = 0; i < MARKS_PER_FLUSH && !c->error; i++, k++)
            c->error = dl_log_mark_region(c->log, c->base + k % SPAN);
        if (!c->error)
            c->error = dl_log_flush(c->log);
        /* Clear behind, so the marks stay new and the log stays small. */
        for (unsigned i = 0; i < MARKS_PER_FLUSH && !c->error; i++)
            c->error = dl_log_clear_region(c->log, c->base + (k - 1 - i) % SPAN);
        if (!c->error) {
            c->marks += MARKS_PER_FLUSH;
            c->flushes++;
        }
    }
    if (c->error)
        fprintf(stderr, "client at region %llu: %s: %s\n", (unsigned long long)(c->base + k),
                dl_strerror(c->error), dl_last_error());
    return NULL;
}

/* CPG requests the daemons of all nodes made so far (cmap statistics). */
static unsigned long long daemon_cpg_requests(void)
{
    unsigned long long total = 0;
    for (unsigned n = 1; n <= NODES; n++) {
        static char out[1 << 16];
        const char *argv[] = {clu_which("corosync-cmapctl"), "-m", "stats", "stats.ipcs.service2",
                              NULL};
        if (!argv[0] || clu_run(n, argv, out, sizeof out) != 0)
            return 0;
        /* Connections are "stats.ipcs.service2.<pid>.<id>.<key>": find the
         * ones whose procname is dirtylogd, add their requests. */
        for (char *p = strstr(out, ".procname (str) = dirtylogd"); p;
             p = strstr(p + 1, ".procname (str) = dirtylogd")) {
            char *start = p;
            while (start > out && start[-1] != '\n')
                start--;
            char prefix[128];
            size_t len = (size_t)(p - start);
            if (len >= sizeof prefix - 16)
                continue;
            memcpy(prefix, start, len);
            snprintf(prefix + len, sizeof prefix - len, ".requests (u64) = ");
            char *r = strstr(out, prefix);
            if (r)
                total += strtoull(r + strlen(prefix), NULL, 10);
        }
    }
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_cluster <dirtylogd> <cpg_probe> [seconds] [round trips] "
                        "[clients per node]\n");
        return 2;
    }
    if (argc > 3)
        seconds = atof(argv[3]);
    if (argc > 4)
        round_trips = (unsigned)strtoul(argv[4], NULL, 10);
    if (argc > 5)
        clients_per_node = (unsigned)strtoul(argv[5], NULL, 10);
    if (seconds <= 0 || round_trips < 10 || clients_per_node < 1 ||
        clients_per_node > MAX_CLIENTS_PER_NODE)
        return 2;
    int skip = clu_require(argv[1]);
    if (skip)
        return skip;
    setenv("DIRTYLOG_TIMEOUT_MS", "40000", 1);
    if (clu_start(NODES) != 0)
        return 1;

    double raw = cpg_rtt_us(argv[2]);
    for (unsigned n = 1; n <= NODES; n++)
        if (clu_daemon_start(n, argv[1], NULL) != 0)
            return 1;
    uint64_t target = (uint64_t)NODES * clients_per_node * SPAN * 8;
    dl_log *members[NODES + 1];
    for (unsigned n = 1; n <= NODES; n++)
        if (!(members[n] = clu_log_open(n, "bench-rtt", "clustered_core 8 nosync", target)))
            return 1;
    double rtt = mark_flush_us(members[1]);
    for (unsigned n = 1; n <= NODES; n++)
        dl_log_destroy(members[n]);
    /* The machine's load drifts: the baseline again, after; the smaller of
     * the two (the larger ratio) counts. */
    double raw_after = cpg_rtt_us(argv[2]);
    if (raw_after > 0 && (raw <= 0 || raw_after < raw))
        raw = raw_after;
    if (raw > 0 && rtt > 0)
        printf("ratio mark+flush / cpg round trip: %.2f (goal <= 1.5)\n", rtt / raw);

    /* 2. Many clients on every node, integrated flush. */
    static struct client cl[NODES * MAX_CLIENTS_PER_NODE];
    pthread_t t[NODES * MAX_CLIENTS_PER_NODE];
    for (unsigned i = 0; i < NODES * clients_per_node; i++) {
        unsigned node = 1 + i / clients_per_node;
        char table[512];
        snprintf(table, sizeof table,
                 "userspace 6 bench-many integrated_flush socket=%s clustered_core 8 nosync",
                 clu_daemon_socket(node));
        cl[i].base = (uint64_t)i * SPAN;
        int r = dl_log_create_table(table, target, &cl[i].log);
        if (r == 0)
            r = dl_log_resume(cl[i].log);
        if (r != 0) {
            fprintf(stderr, "%s: %s\n", table, dl_last_error());
            return 1;
        }
    }
    unsigned long long requests_before = daemon_cpg_requests();
    double start = now();
    stop_at = start + seconds;
    for (unsigned i = 0; i < NODES * clients_per_node; i++)
        pthread_create(&t[i], NULL, hammer, &cl[i]);
    unsigned long marks = 0, flushes = 0;
    int failed = 0;
    for (unsigned i = 0; i < NODES * clients_per_node; i++) {
        pthread_join(t[i], NULL);
        marks += cl[i].marks;
        flushes += cl[i].flushes;
        if (cl[i].error) {
            fprintf(stderr, "client %u: %s\n", i, dl_strerror(cl[i].error));
            failed = 1;
        }
    }
    double elapsed = now() - start;
    unsigned long long requests = daemon_cpg_requests() - requests_before;
    printf("marks_per_second: %.0f (%u clients on %u nodes, %u marks per integrated flush, "
           "%lu flushes in %.1f s)\n",
           (double)marks / elapsed, NODES * clients_per_node, NODES, MARKS_PER_FLUSH, flushes,
           elapsed);
    if (flushes && requests_before)
        printf("cpg_requests_per_flush: %.2f (%llu CPG requests of the daemons / %lu flushes)\n",
               (double)requests / (double)flushes, requests, flushes);
    else
        printf("cpg_requests_per_flush: not measured (no daemon CPG connection in cmap stats)\n");
    for (unsigned i = 0; i < NODES * clients_per_node; i++)
        dl_log_destroy(cl[i].log);
    clu_stop();
    return failed || raw <= 0 || rtt <= 0 ? 1 : 0;
}
