/* cpg_probe: join a corosync closed process group, print its membership, and
 * optionally measure the raw CPG round trip (multicast in agreed order, wait
 * for the delivery of one's own message): the baseline of bench/cluster.
 *
 *   cpg_probe [--group NAME] [--members N] [--timeout-ms T] [--rtt ITER]
 *             [--size BYTES] [--hold]
 *
 * Waits until the group has at least N members (default 1) and prints
 * "members: <nodeid>..." ; exit 1 if that does not happen within T ms
 * (default 20000). --rtt then does ITER round trips and prints
 * "cpg_rtt_us: median M mean A min L max H (ITER round trips, BYTES bytes)".
 * --hold stays in the group afterwards (printing each membership change)
 * until killed. Runs inside a node's network namespace: libqb reaches that
 * node's corosync. */
#define _POSIX_C_SOURCE 200809L
#include <corosync/cpg.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static unsigned members_now;
static uint32_t my_nodeid;
static uint32_t my_pid;
static uint64_t delivered_seq; /* of our own messages */

static unsigned long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
                       void *msg, size_t len)
{
    (void)h;
    (void)group;
    if (nodeid != my_nodeid || pid != my_pid || len < 8)
        return;
    uint64_t seq = 0;
    for (unsigned i = 0; i < 8; i++)
        seq |= (uint64_t)((const unsigned char *)msg)[i] << (8 * i);
    delivered_seq = seq;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
                       const struct cpg_address *members, size_t n_members,
                       const struct cpg_address *left, size_t n_left,
                       const struct cpg_address *joined, size_t n_joined)
{
    (void)h;
    (void)group;
    (void)left;
    (void)n_left;
    (void)joined;
    (void)n_joined;
    members_now = (unsigned)n_members;
    printf("members:");
    for (size_t i = 0; i < n_members; i++)
        printf(" %u", members[i].nodeid);
    printf("\n");
    fflush(stdout);
}

/* Dispatch until cond() holds or the deadline (µs) passes; 0 or -1. */
static int dispatch_until(cpg_handle_t h, int fd, int (*cond)(void), unsigned long long deadline)
{
    while (!cond()) {
        unsigned long long now = now_us();
        if (now >= deadline)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int wait_ms = (int)((deadline - now) / 1000) + 1;
        if (poll(&pf, 1, wait_ms) < 0)
            return -1;
        if (pf.revents && cpg_dispatch(h, CS_DISPATCH_ALL) != CS_OK)
            return -1;
    }
    return 0;
}

static unsigned want_members;
static uint64_t want_seq;
static int enough_members(void) { return members_now >= want_members; }
static int own_delivered(void) { return delivered_seq >= want_seq; }

static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *group_name = "dl-cpg-probe";
    unsigned timeout_ms = 20000, rtt = 0, size = 64, hold = 0;
    want_members = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--hold") == 0) {
            hold = 1;
            continue;
        }
        if (!v)
            goto usage;
        if (strcmp(argv[i], "--group") == 0)
            group_name = v;
        else if (strcmp(argv[i], "--members") == 0)
            want_members = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--rtt") == 0)
            rtt = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--size") == 0)
            size = (unsigned)strtoul(v, NULL, 10);
        else
            goto usage;
        i++;
    }
    if (size < 8 || size > 65536 || strlen(group_name) >= CPG_MAX_NAME_LENGTH)
        goto usage;

    cpg_handle_t h;
    cpg_model_v1_data_t model = {.model = CPG_MODEL_V1,
                                 .cpg_deliver_fn = on_deliver,
                                 .cpg_confchg_fn = on_confchg};
    cs_error_t e = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
    if (e != CS_OK) {
        fprintf(stderr, "cpg_probe: cpg_model_initialize: error %d (is corosync running?)\n", e);
        return 1;
    }
    unsigned int local;
    int fd;
    if (cpg_local_get(h, &local) != CS_OK || cpg_fd_get(h, &fd) != CS_OK) {
        fprintf(stderr, "cpg_probe: cpg_local_get/cpg_fd_get failed\n");
        return 1;
    }
    my_nodeid = local;
    my_pid = (uint32_t)getpid();
    struct cpg_name group = {.length = (uint32_t)strlen(group_name)};
    memcpy(group.value, group_name, group.length);
    unsigned long long deadline = now_us() + (unsigned long long)timeout_ms * 1000;
    while ((e = cpg_join(h, &group)) == CS_ERR_TRY_AGAIN && now_us() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000}; /* corosync asks us to retry */
        nanosleep(&ts, NULL);
    }
    if (e != CS_OK) {
        fprintf(stderr, "cpg_probe: cpg_join: error %d\n", e);
        return 1;
    }
    if (dispatch_until(h, fd, enough_members, deadline) < 0) {
        fprintf(stderr, "cpg_probe: %u member(s) after %u ms, wanted %u\n", members_now,
                timeout_ms, want_members);
        return 1;
    }

    if (rtt) {
        unsigned char *msg = calloc(1, size);
        unsigned long long *t = calloc(rtt, sizeof *t);
        if (!msg || !t)
            return 1;
        for (unsigned k = 0; k < rtt; k++) {
            want_seq = k + 1;
            for (unsigned i = 0; i < 8; i++)
                msg[i] = (unsigned char)(want_seq >> (8 * i));
            struct iovec iov = {.iov_base = msg, .iov_len = size};
            unsigned long long start = now_us();
            while ((e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN)
                cpg_dispatch(h, CS_DISPATCH_ALL); /* flow control: let deliveries drain */
            if (e != CS_OK ||
                dispatch_until(h, fd, own_delivered, start + 10 * 1000 * 1000ull) < 0) {
                fprintf(stderr, "cpg_probe: round trip %u failed (error %d)\n", k, e);
                return 1;
            }
            t[k] = now_us() - start;
        }
        unsigned long long sum = 0;
        for (unsigned k = 0; k < rtt; k++)
            sum += t[k];
        qsort(t, rtt, sizeof *t, cmp_ull);
        printf("cpg_rtt_us: median %llu mean %llu min %llu max %llu (%u round trips, %u bytes)\n",
               t[rtt / 2], sum / rtt, t[0], t[rtt - 1], rtt, size);
        fflush(stdout);
        free(t);
        free(msg);
    }
    while (hold) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, -1) < 0 || cpg_dispatch(h, CS_DISPATCH_ALL) != CS_OK)
            break;
    }
    cpg_leave(h, &group);
    cpg_finalize(h);
    return 0;

usage:
    fprintf(stderr, "usage: cpg_probe [--group NAME] [--members N] [--timeout-ms T] "
                    "[--rtt ITER] [--size BYTES] [--hold]\n");
    return 2;
}
