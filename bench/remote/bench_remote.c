/* Benchmark of the remote log, with its raw baseline measured in the same run:
 *   1. one op's round trip through `userspace` (is_clean, answered by the
 *      daemon) / a raw 160-byte unix-socket ping-pong with an echo process;
 *   2. marks per second through integrated_flush, 1,000 marks per flush;
 *   3. throughput of 64 clients doing round trips at once.
 * Usage: bench_remote <path to dirtylogd> [seconds per measurement] */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_fixture.h"
#include "dirtylog.h"

static struct daemon_fx fx;
static double seconds = 1.0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int full(int fd, void *buf, size_t n, int writing)
{
    char *p = buf;
    while (n) {
        ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Raw baseline: a forked echo process on a unix socket, 160 bytes each way. */
static double raw_pingpong_us(void)
{
    char path[100];
    snprintf(path, sizeof path, "%s/raw.sock", fx.dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(l, NULL, NULL);
        char b[160];
        while (full(c, b, sizeof b, 0) == 0 && full(c, b, sizeof b, 1) == 0) {
        }
        _exit(0);
    }
    close(l);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    connect(fd, (struct sockaddr *)&sa, sizeof sa);
    char b[160] = {0};
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++, n++)
            if (full(fd, b, sizeof b, 1) || full(fd, b, sizeof b, 0))
                return -1;
        t = now() - t0;
    } while (t < seconds);
    close(fd);
    waitpid(pid, NULL, 0);
    unlink(path);
    return t / (double)n * 1e6;
}

static dl_log *open_log(const char *uuid, int integrated, uint64_t target)
{
    char table[256];
    snprintf(table, sizeof table, "userspace %d %s%s socket=%s core 8", integrated ? 5 : 4, uuid,
             integrated ? " integrated_flush" : "", fx.socket);
    dl_log *log = NULL;
    if (dl_log_create_table(table, target, &log) < 0) {
        fprintf(stderr, "create: %s\n", dl_last_error());
        exit(1);
    }
    return log;
}

static double op_roundtrip_us(void)
{
    dl_log *log = open_log("bench-rt", 0, 1 << 20);
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++, n++)
            dl_log_is_clean(log, (uint64_t)(n & 1023));
        t = now() - t0;
    } while (t < seconds);
    dl_log_destroy(log);
    return t / (double)n * 1e6;
}

static double integrated_marks_per_s(void)
{
    dl_log *log = open_log("bench-if", 1, 1ull << 30);
    long marks = 0;
    uint64_t next = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++)
            dl_log_mark_region(log, next++ % (1ull << 27));
        if (dl_log_flush(log) != 0)
            return -1;
        marks += 1000;
        t = now() - t0;
    } while (t < seconds);
    dl_log_destroy(log);
    return (double)marks / t;
}

struct worker {
    dl_log *log;
    long ops;
    pthread_barrier_t *start;
    double until;
};

static void *client(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    while (now() < w->until)
        for (int i = 0; i < 100; i++, w->ops++)
            dl_log_is_clean(w->log, (uint64_t)(w->ops & 1023));
    return NULL;
}

static double clients_ops_per_s(int nclients)
{
    struct worker *w = calloc((size_t)nclients, sizeof *w);
    pthread_t *t = calloc((size_t)nclients, sizeof *t);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nclients + 1);
    for (int i = 0; i < nclients; i++) {
        char uuid[32];
        snprintf(uuid, sizeof uuid, "bench-mc-%d", i % 8); /* 8 shared logs */
        w[i].log = open_log(uuid, 0, 1 << 20);
        w[i].start = &start;
    }
    double t0 = now();
    for (int i = 0; i < nclients; i++) {
        w[i].until = t0 + 0.05 + seconds;
        pthread_create(&t[i], NULL, client, &w[i]);
    }
    pthread_barrier_wait(&start);
    double ts = now();
    long total = 0;
    for (int i = 0; i < nclients; i++) {
        pthread_join(t[i], NULL);
        total += w[i].ops;
        dl_log_destroy(w[i].log);
    }
    double el = now() - ts;
    pthread_barrier_destroy(&start);
    free(w);
    free(t);
    return (double)total / el;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dirtylogd> [seconds]\n", argv[0]);
        return 2;
    }
    if (argc > 2)
        seconds = atof(argv[2]);
    if (daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    double raw = raw_pingpong_us();
    double rt = op_roundtrip_us();
    printf("raw unix ping-pong (160 B each way): %8.2f us\n", raw);
    printf("userspace is_clean round trip:       %8.2f us   ratio %.2fx (goal <= 1.5x)\n", rt,
           rt / raw);
    double mps = integrated_marks_per_s();
    printf("integrated_flush, 1000 marks/flush:  %10.0f marks/s (%.3f us/mark = %.3f raw round trips)\n",
           mps, 1e6 / mps, 1e6 / mps / raw);
    double one = 1e6 / rt;
    double many = clients_ops_per_s(64);
    printf("64 clients (8 shared logs):          %10.0f ops/s  = %.2fx one client (%.0f ops/s)\n",
           many, many / one, one);
    int st = daemon_stop(&fx);
    daemon_cleanup(&fx);
    return st == 0 ? 0 : 1;
}
