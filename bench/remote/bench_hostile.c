/* A legitimate client's latency while hostile clients run, as a ratio to the
 * same client alone, both measured in the same run against one daemon
 * (default options: 4 workers):
 *   - IS_CLEAN round trips (answered by the daemon) and mark + flush
 *     (integrated_flush: the mark travels in the FLUSH), median and p99;
 *   - hostile: 2 clients that send requests and never read the replies,
 *     2 slowloris (one byte every 50 ms), 2 connect/CTR/disconnect loops,
 *     2 that flood requests (64 pipelined IS_CLEAN, then their replies),
 *     all in a process of their own;
 *   - the two conditions alternate in 5 rounds.
 * Usage: bench_hostile <dirtylogd> [seconds per condition [kinds [daemon options]]]
 *   kinds: a mask of enum kind (default 0xf, the 8 hostile clients; 0x10:
 *   the control, 2 threads burning CPU without touching the daemon).
 *   DL_BENCH_HOSTILE_NICE / DL_BENCH_DAEMON_NICE: nice values (Linux).
 * (docs/performance.md, "A client among hostile clients"). */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_fixture.h"
#include "dirtylog.h"
#include "hostile_client.h"
#include "raw_client.h"

#define MAX_SAMPLES 2000000
#define FLOOD_BATCH 64
#define ROUNDS 5 /* alternations of the two conditions */

static struct daemon_fx fx;
static double seconds = 2.0;
static unsigned kinds = 0xf; /* which hostile kinds run (bit = enum kind) */
static atomic_int stop;
static atomic_long hostile_ops[5]; /* per kind: churn connections, flood replies */

/* Two clients of each kind; SPIN is a control, not a client: two threads
 * that only burn CPU, to tell what CPU contention alone costs. */
enum kind { NON_READER, SLOWLORIS, CHURN, FLOOD, SPIN, NKINDS };
static const char *const kind_name[] = {"non-reading", "slowloris", "churn", "flood",
                                        "spin (control)"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double median_us, p99_us;
    long n;
};

static struct stats summarize(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    struct stats s = {.n = n};
    if (n) {
        s.median_us = v[n / 2] * 1e6;
        s.p99_us = v[(long)((double)n * 0.99)] * 1e6;
    }
    return s;
}

/* Latency samples of one operation in one condition (alone / hostile). */
struct series {
    double *v;
    long n;
};

static void record(struct series *s, double t)
{
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = t;
}

/* The legitimate client for `slice` seconds: is_clean round trips, then
 * mark + flush, appended to rt and mf. */
static void measure(dl_log *log, double slice, struct series *rt, struct series *mf)
{
    static uint64_t next;
    double end = now_s() + slice / 2;
    while (now_s() < end) {
        double t = now_s();
        if (dl_log_is_clean(log, next++ & 1023) != 1) {
            fprintf(stderr, "is_clean failed: %s\n", dl_last_error());
            exit(1);
        }
        record(rt, now_s() - t);
    }
    end = now_s() + slice / 2;
    while (now_s() < end) {
        uint64_t r = 4096 + (next++ & 4095);
        double t = now_s();
        dl_log_mark_region(log, r);
        if (dl_log_flush(log) != 0) {
            fprintf(stderr, "flush failed: %s\n", dl_last_error());
            exit(1);
        }
        record(mf, now_s() - t);
        dl_log_clear_region(log, r); /* sent with a later flush */
    }
}

/* Wait up to ms, or until the daemon hangs up on fd (then 1). */
static int pause_or_hangup(int fd, int ms)
{
    return wait_hangup(fd, ms);
}

static int connect_ctr(const char *uuid, uint64_t luid)
{
    int fd = daemon_connect(&fx), refused = 0;
    if (fd >= 0 && ctr_or_refusal(fd, uuid, luid, &refused) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Linux: nice is per thread; renice every thread of process pid. */
static void set_process_nice(pid_t pid, int nice)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && setpriority(PRIO_PROCESS, (id_t)atol(e->d_name), nice) < 0)
            perror("setpriority");
    if (d)
        closedir(d);
}

static int hostile_nice; /* DL_BENCH_HOSTILE_NICE: the hostile threads' nice value */

static void *hostile(void *arg)
{
    long id = (long)arg;
    /* Linux: setpriority on a thread id sets that thread's nice value. */
    if (hostile_nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), hostile_nice) < 0)
        perror("setpriority");
    enum kind k = (enum kind)(id / 2);
    char uuid[32];
    snprintf(uuid, sizeof uuid, "hostile-%ld", id);
    uint64_t luid = 100 + (uint64_t)id;
    int fd = -1;
    uint8_t req[DLW_HEADER_SIZE + 8];
    size_t sent = 0;
    while (k == SPIN && !atomic_load(&stop))
        for (volatile int i = 0; i < 100000; i++) {
        }
    while (k != SPIN && !atomic_load(&stop)) {
        if (fd < 0 && (k == CHURN || (fd = connect_ctr(uuid, luid)) < 0)) {
            if (k != CHURN) {
                pause_or_hangup(-1, 10);
                continue;
            }
        }
        switch (k) {
        case NON_READER: /* push until the daemon stops reading, then hold */
            if (send_without_reading(fd, uuid, luid, 100000) < 0 || pause_or_hangup(fd, 100)) {
                close(fd);
                fd = -1;
            }
            break;
        case SLOWLORIS: /* one byte of an IS_CLEAN request every 50 ms */
            if (sent == 0)
                is_clean_request(req, uuid, luid, 0, 0);
            if (raw_write(fd, req + sent, 1) < 0 || pause_or_hangup(fd, 50)) {
                close(fd);
                fd = -1;
                sent = 0;
                break;
            }
            sent = (sent + 1) % sizeof req;
            break;
        case CHURN: /* connect, CTR, hang up */
            fd = connect_ctr(uuid, luid);
            if (fd >= 0) {
                atomic_fetch_add(&hostile_ops[k], 1);
                close(fd);
            }
            fd = -1;
            break;
        case SPIN: /* (never here) */
        case NKINDS:
            break;
        case FLOOD: { /* 64 pipelined requests, then their replies */
            if (send_without_reading(fd, uuid, luid, FLOOD_BATCH) != FLOOD_BATCH) {
                close(fd);
                fd = -1;
                break;
            }
            struct dlw_header h;
            uint8_t rep[64];
            for (int i = 0; i < FLOOD_BATCH && fd >= 0; i++) {
                if (raw_recv(fd, &h, rep, sizeof rep) != 1) {
                    close(fd);
                    fd = -1;
                    break;
                }
                atomic_fetch_add(&hostile_ops[k], 1);
            }
            break;
        }
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* The hostile clients run in a process of their own, as they would (another
 * program): they do not share this process's descriptor table and kernel
 * locks with the legitimate client. They run until stop_w is closed, then
 * report their counts on result_r. */
static pid_t start_hostile(int *stop_w, int *result_r)
{
    int sp[2], rp[2];
    if (pipe(sp) < 0 || pipe(rp) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sp[1]);
        close(rp[0]);
        for (int k = 0; k < NKINDS; k++) /* (the parent's totals so far) */
            atomic_store(&hostile_ops[k], 0);
        pthread_t t[2 * NKINDS];
        int nt = 0;
        for (long i = 0; i < 2 * NKINDS; i++)
            if (kinds & (1u << (i / 2)))
                pthread_create(&t[nt++], NULL, hostile, (void *)i);
        char c;
        while (read(sp[0], &c, 1) != 0 && (errno == EINTR || errno == 0)) {
        }
        atomic_store(&stop, 1);
        for (int i = 0; i < nt; i++)
            pthread_join(t[i], NULL);
        long counts[NKINDS];
        for (int k = 0; k < NKINDS; k++)
            counts[k] = atomic_load(&hostile_ops[k]);
        _exit(write(rp[1], counts, sizeof counts) == (ssize_t)sizeof counts ? 0 : 1);
    }
    close(sp[0]);
    close(rp[1]);
    *stop_w = sp[1];
    *result_r = rp[0];
    return pid;
}

static void stop_hostile(pid_t pid, int stop_w, int result_r)
{
    close(stop_w);
    long counts[NKINDS];
    if (read(result_r, counts, sizeof counts) == (ssize_t)sizeof counts)
        for (int k = 0; k < NKINDS; k++)
            atomic_fetch_add(&hostile_ops[k], counts[k]);
    close(result_r);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dirtylogd> [seconds per condition [kinds [daemon options]]]\n",
                argv[0]);
        return 2;
    }
    if (argc > 2)
        seconds = atof(argv[2]);
    if (argc > 3) /* e.g. 0x8: only the flooders (to see which kind costs what) */
        kinds = (unsigned)strtoul(argv[3], NULL, 0);
    if (getenv("DL_BENCH_HOSTILE_NICE"))
        hostile_nice = atoi(getenv("DL_BENCH_HOSTILE_NICE"));
    /* Further arguments are daemon options (e.g. -j 1). */
    if (daemon_start(&fx, argv[1], argc > 4 ? (const char *const *)argv + 4 : NULL) < 0)
        return 1;
    /* DL_BENCH_DAEMON_NICE: the daemon's nice value (all its threads). */
    if (getenv("DL_BENCH_DAEMON_NICE"))
        set_process_nice(fx.pid, atoi(getenv("DL_BENCH_DAEMON_NICE")));
    char table[256];
    snprintf(table, sizeof table, "userspace 5 legit integrated_flush socket=%s core 8", fx.socket);
    dl_log *log = NULL;
    if (dl_log_create_table(table, 1 << 20, &log) < 0 || dl_log_resume(log) < 0) {
        fprintf(stderr, "create: %s\n", dl_last_error());
        return 1;
    }
    /* Alternate short phases alone and among the hostile clients, so that
     * the load of whatever else runs on the machine weighs on both alike. */
    struct series rt[2], mf[2];
    for (int c = 0; c < 2; c++) {
        rt[c] = (struct series){.v = malloc(MAX_SAMPLES * sizeof(double))};
        mf[c] = (struct series){.v = malloc(MAX_SAMPLES * sizeof(double))};
        if (!rt[c].v || !mf[c].v)
            return 1;
    }
    double cpu[2] = {0, 0}, wall[2] = {0, 0};
    for (int round = 0; round < ROUNDS; round++) {
        double c0 = process_cpu_seconds(fx.pid), w0 = now_s();
        measure(log, seconds / ROUNDS, &rt[0], &mf[0]);
        cpu[0] += process_cpu_seconds(fx.pid) - c0;
        wall[0] += now_s() - w0;

        int stop_w = -1, result_r = -1;
        pid_t hp = start_hostile(&stop_w, &result_r);
        if (hp < 0)
            return 1;
        pause_or_hangup(-1, 300); /* let the hostile clients reach their steady state */
        c0 = process_cpu_seconds(fx.pid);
        w0 = now_s();
        measure(log, seconds / ROUNDS, &rt[1], &mf[1]);
        cpu[1] += process_cpu_seconds(fx.pid) - c0;
        wall[1] += now_s() - w0;
        stop_hostile(hp, stop_w, result_r);
    }
    struct stats rt0 = summarize(rt[0].v, rt[0].n), rt1 = summarize(rt[1].v, rt[1].n);
    struct stats mf0 = summarize(mf[0].v, mf[0].n), mf1 = summarize(mf[1].v, mf[1].n);
    double cpu_alone = cpu[0] / wall[0], cpu_hostile = cpu[1] / wall[1];

    printf("legitimate client, %.1f s per condition in %d rounds (%ld / %ld is_clean, %ld / %ld mark+flush samples)\n",
           seconds, ROUNDS, rt0.n, rt1.n, mf0.n, mf1.n);
    printf("                    alone: median     p99 |  among them: median     p99 | ratio median  p99\n");
    printf("is_clean round trip      %8.1f %8.1f us |              %8.1f %8.1f us |     %5.2fx %5.2fx\n",
           rt0.median_us, rt0.p99_us, rt1.median_us, rt1.p99_us, rt1.median_us / rt0.median_us,
           rt1.p99_us / rt0.p99_us);
    printf("mark + flush             %8.1f %8.1f us |              %8.1f %8.1f us |     %5.2fx %5.2fx\n",
           mf0.median_us, mf0.p99_us, mf1.median_us, mf1.p99_us, mf1.median_us / mf0.median_us,
           mf1.p99_us / mf0.p99_us);
    printf("hostile work done meanwhile: %ld churn connections, %ld flood requests answered\n",
           atomic_load(&hostile_ops[CHURN]), atomic_load(&hostile_ops[FLOOD]));
    printf("daemon CPU: %.2f cores alone, %.2f cores with the hostile clients (kinds:",
           cpu_alone, cpu_hostile);
    for (int k = 0; k < NKINDS; k++)
        if (kinds & (1u << k))
            printf(" %s", kind_name[k]);
    printf(")\n");
    dl_log_destroy(log);
    for (int c = 0; c < 2; c++) {
        free(rt[c].v);
        free(mf[c].v);
    }
    int st = daemon_stop(&fx);
    daemon_cleanup(&fx);
    return st == 0 ? 0 : 1;
}
