/* The process group on corosync (cluster_group.h): one CPG handle and one
 * quorum handle per group, and a thread that dispatches both. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <corosync/cpg.h>
#include <corosync/quorum.h>

#include "cluster_group.h"
#include "cluster_msg.h"

#define CLG_MAX_MSG (1u << 20)         /* our own cap on one message */
#define CLG_TRY_AGAIN_MS 10000         /* corosync's flow control: give up after */

struct clg_group {
    cpg_handle_t cpg;
    quorum_handle_t quorum;
    int have_quorum_service;
    atomic_int quorate;
    struct cpg_name name;
    struct clg_callbacks cb;
    void *arg;
    uint32_t local_id;
    size_t max_msg;
    /* One request at a time on the CPG connection: libcpg matches each
     * request with its response on one IPC channel. */
    pthread_mutex_t send_lock;
    int stop[2];
    pthread_t thread;
    int thread_started;
};

void clg_group_name(const char *uuid, char *name, size_t len)
{
    int n = snprintf(name, len, "dirtylog:%s", uuid);
    if (n >= 0 && (size_t)n < len && n < CPG_MAX_NAME_LENGTH)
        return;
    uint64_t h = 14695981039346656037ull; /* FNV-1a of the whole uuid */
    for (const char *p = uuid; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    size_t keep = (len < CPG_MAX_NAME_LENGTH ? len : CPG_MAX_NAME_LENGTH) - 1 - 17 - 9;
    snprintf(name, len, "dirtylog:%.*s:%016llx", (int)keep, uuid, (unsigned long long)h);
}

static size_t ids_of(const struct cpg_address *a, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < CLM_MAX_MEMBERS; i++) {
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= out[j] == a[i].nodeid;
        if (!dup) /* one daemon per node: a node id is a member */
            out[k++] = a[i].nodeid;
    }
    return k;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
                       uint32_t pid, void *msg, size_t len)
{
    (void)group;
    (void)pid;
    struct clg_group *g = NULL;
    if (cpg_context_get(h, (void **)&g) != CS_OK || !g)
        return;
    g->cb.deliver(g->arg, nodeid, msg, len);
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
                       const struct cpg_address *members, size_t n,
                       const struct cpg_address *left, size_t nleft,
                       const struct cpg_address *joined, size_t njoined)
{
    (void)group;
    struct clg_group *g = NULL;
    if (cpg_context_get(h, (void **)&g) != CS_OK || !g)
        return;
    uint32_t m[CLM_MAX_MEMBERS], l[CLM_MAX_MEMBERS], j[CLM_MAX_MEMBERS];
    size_t nm = ids_of(members, n, m), nl = ids_of(left, nleft, l), nj = ids_of(joined, njoined, j);
    g->cb.confchg(g->arg, m, nm, l, nl, j, nj);
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq,
                      uint32_t n, uint32_t *nodes)
{
    (void)ring_seq;
    (void)n;
    (void)nodes;
    struct clg_group *g = NULL;
    if (quorum_context_get(h, (const void **)&g) == CS_OK && g)
        atomic_store(&g->quorate, quorate != 0);
}

static void *dispatch_thread(void *arg)
{
    struct clg_group *g = arg;
    int cfd = -1, qfd = -1;
    cpg_fd_get(g->cpg, &cfd);
    if (g->have_quorum_service)
        quorum_fd_get(g->quorum, &qfd);
    for (;;) {
        struct pollfd p[3] = {{g->stop[0], POLLIN, 0}, {cfd, POLLIN, 0}, {qfd, POLLIN, 0}};
        if (poll(p, qfd >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            return NULL;
        if (p[1].revents && cpg_dispatch(g->cpg, CS_DISPATCH_ALL) != CS_OK)
            break;
        if (qfd >= 0 && p[2].revents && quorum_dispatch(g->quorum, CS_DISPATCH_ALL) != CS_OK)
            break;
    }
    if (g->cb.lost)
        g->cb.lost(g->arg);
    return NULL;
}

static int cs_errno(cs_error_t e)
{
    switch (e) {
    case CS_OK:
        return 0;
    case CS_ERR_TRY_AGAIN:
        return -EAGAIN;
    case CS_ERR_NO_MEMORY:
        return -ENOMEM;
    case CS_ERR_TOO_BIG:
        return -EMSGSIZE;
    case CS_ERR_ACCESS:
        return -EACCES;
    default:
        return -EIO;
    }
}

void clg_leave(struct clg_group *g)
{
    if (!g)
        return;
    if (g->thread_started) {
        (void)!write(g->stop[1], "x", 1);
        pthread_join(g->thread, NULL);
    }
    cpg_leave(g->cpg, &g->name);
    cpg_finalize(g->cpg);
    if (g->have_quorum_service) {
        quorum_trackstop(g->quorum);
        quorum_finalize(g->quorum);
    }
    close(g->stop[0]);
    close(g->stop[1]);
    pthread_mutex_destroy(&g->send_lock);
    free(g);
}

int clg_join(const char *name, const struct clg_callbacks *cb, void *arg, struct clg_group **out,
             char *err, size_t errlen)
{
    struct clg_group *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    g->cb = *cb;
    g->arg = arg;
    pthread_mutex_init(&g->send_lock, NULL);
    g->name.length = (uint32_t)strnlen(name, CPG_MAX_NAME_LENGTH - 1);
    memcpy(g->name.value, name, g->name.length);
    if (pipe2(g->stop, O_CLOEXEC) < 0) {
        pthread_mutex_destroy(&g->send_lock);
        free(g);
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    cpg_model_v1_data_t model = {
        .model = CPG_MODEL_V1,
        .cpg_deliver_fn = on_deliver,
        .cpg_confchg_fn = on_confchg,
    };
    cs_error_t e = cpg_model_initialize(&g->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&model, g);
    if (e != CS_OK) {
        close(g->stop[0]);
        close(g->stop[1]);
        pthread_mutex_destroy(&g->send_lock);
        free(g);
        snprintf(err, errlen, "cannot reach corosync (cpg_model_initialize: error %d): is it running "
                 "in this network namespace?", (int)e);
        return -EIO;
    }
    unsigned int id = 0;
    uint32_t max = 0;
    cpg_local_get(g->cpg, &id);
    g->local_id = id;
    g->max_msg = cpg_max_atomic_msgsize_get(g->cpg, &max) == CS_OK && max > 4096 ? max : 65536;
    if (g->max_msg > CLG_MAX_MSG)
        g->max_msg = CLG_MAX_MSG;
    quorum_callbacks_t qcb = {.quorum_notify_fn = on_quorum};
    uint32_t qtype = 0;
    atomic_store(&g->quorate, 1);
    if (quorum_initialize(&g->quorum, &qcb, &qtype) == CS_OK) {
        g->have_quorum_service = 1;
        quorum_context_set(g->quorum, g);
        int q = 0;
        if (quorum_getquorate(g->quorum, &q) == CS_OK)
            atomic_store(&g->quorate, q != 0);
        quorum_trackstart(g->quorum, CS_TRACK_CHANGES);
    }
    for (int tries = 0;; tries++) {
        e = cpg_join(g->cpg, &g->name);
        if (e != CS_ERR_TRY_AGAIN || tries > 1000)
            break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL); /* corosync's own back-off request */
    }
    *out = g; /* before the thread: the callbacks may multicast */
    if (e != CS_OK || pthread_create(&g->thread, NULL, dispatch_thread, g) != 0) {
        snprintf(err, errlen, "cannot join CPG group %s (error %d)", name, (int)e);
        *out = NULL;
        clg_leave(g);
        return -EIO;
    }
    g->thread_started = 1;
    return 0;
}

int clg_mcast(struct clg_group *g, const uint8_t *msg, size_t len)
{
    if (len > g->max_msg)
        return -EMSGSIZE;
    struct iovec iov = {(void *)msg, len};
    cs_error_t e;
    pthread_mutex_lock(&g->send_lock);
    for (int waited = 0;; waited++) {
        e = cpg_mcast_joined(g->cpg, CPG_TYPE_AGREED, &iov, 1);
        if (e != CS_ERR_TRY_AGAIN || waited >= CLG_TRY_AGAIN_MS)
            break;
        struct timespec ts = {0, 1000000}; /* flow control: corosync asks to retry */
        nanosleep(&ts, NULL);
    }
    pthread_mutex_unlock(&g->send_lock);
    return cs_errno(e);
}

uint32_t clg_local_id(const struct clg_group *g)
{
    return g->local_id;
}

size_t clg_max_msg(const struct clg_group *g)
{
    return g->max_msg;
}

int clg_quorate(const struct clg_group *g)
{
    return atomic_load(&((struct clg_group *)g)->quorate);
}
