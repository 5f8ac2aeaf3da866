/* The kernel channel's thread (dld_kernel_start) beside a socket client of
 * the same request layer, in one process (as `dirtylogd --kernel` runs):
 * the kernel marks, flushes and clears its log while a socket client does
 * the same on its own log, then the channel is stopped and joined. Every
 * kernel request is answered in order and right; under TSan this checks
 * that the two front ends share the layer without a race. A channel whose
 * socket fails tells the daemon to stop (fail_fd). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/check.h"
#include "kernel.h"
#include "kernel_msg.h"

TEST_MAIN_DEFINITIONS

#define REGIONS 128

static unsigned rounds(void)
{
    return getenv("DL_SANITIZER") || getenv("DL_CI") ? 50 : 300;
}

/* ---- the socket client: its own log, through the seam ------------------ */

static int seam(struct dld_server *srv, uint32_t type, const void *p, size_t len)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.uuid, sizeof h.uuid, "socket-log");
    h.luid = 1;
    h.version = DLW_VERSION;
    h.request_type = type;
    h.data_size = (uint32_t)len;
    struct dld_request rq = {.h = &h, .payload = p, .len = len,
                             .peer = {.conn_id = 1, .uid = 0, .pid = 1}};
    struct dld_reply *rp = calloc(1, sizeof *rp);
    if (!rp)
        return -ENOMEM;
    dld_request_handle(srv, &rq, rp);
    int e = rp->error;
    free(rp);
    return e;
}

static void *socket_client(void *arg)
{
    struct dld_server *srv = arg;
    CHECK_EQ(seam(srv, DLW_CTR, "1024 core 8", 11), 0);
    for (unsigned i = 0; i < rounds(); i++) {
        uint8_t p[8];
        put_le64(p, i % REGIONS);
        CHECK_EQ(seam(srv, DLW_MARK_REGION, p, 8), 0);
        CHECK_EQ(seam(srv, DLW_FLUSH, NULL, 0), 0);
        CHECK_EQ(seam(srv, DLW_CLEAR_REGION, p, 8), 0);
    }
    CHECK_EQ(seam(srv, DLW_DTR, NULL, 0), 0);
    return NULL;
}

/* ---- the kernel: datagrams on the channel ------------------------------- */

static uint32_t seq = 1;

static int kernel_call(int fd, uint32_t type, const void *payload, uint32_t len,
                       uint64_t *answer)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.luid = 0xffff888000001000ull;
    snprintf(h.uuid, sizeof h.uuid, "kernel-log");
    h.version = DLK_ULOG_VERSION;
    h.seq = seq++;
    h.request_type = type;
    uint8_t msg[DLK_MAX_DATAGRAM];
    size_t n = dlk_encode_request(&h, payload, len, msg, sizeof msg);
    if (send(fd, msg, n, 0) != (ssize_t)n)
        return -EIO;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        return -ETIMEDOUT;
    ssize_t k = recv(fd, msg, sizeof msg, 0);
    struct dlk_msg m;
    dlk_decode(msg, k > 0 ? (size_t)k : 0, &m);
    if (m.kind != DLK_REQUEST || m.h.seq != h.seq)
        return -EPROTO;
    if (answer && m.len == 8)
        memcpy(answer, m.payload, 8); /* host order */
    return m.h.error;
}

int main(void)
{
    struct dld_limits limits = {.max_logs = 8};
    struct dld_server srv;
    REQUIRE_EQ(dld_server_init(&srv, &limits), 0);
    int sv[2], stop[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    REQUIRE_EQ(pipe(stop), 0);
    struct dld_kernel_thread *kt = NULL;
    REQUIRE_EQ(dld_kernel_start(&kt, &srv, sv[1], 0, stop[0], -1), 0);
    pthread_t client;
    REQUIRE_EQ(pthread_create(&client, NULL, socket_client, &srv), 0);

    const char *ctr = "1024 core 8";
    CHECK_EQ(kernel_call(sv[0], DLW_CTR, ctr, (uint32_t)strlen(ctr) + 1, NULL), 0);
    CHECK_EQ(kernel_call(sv[0], DLW_RESUME, NULL, 0, NULL), 0);
    for (unsigned i = 0; i < rounds(); i++) {
        uint64_t region = (i * 7) % REGIONS, clean = 99;
        CHECK_EQ(kernel_call(sv[0], DLW_FLUSH, &region, 8, NULL), 0); /* integrated */
        CHECK_EQ(kernel_call(sv[0], DLW_IS_CLEAN, &region, 8, &clean), 0);
        CHECK_U64(clean, 0);
        CHECK_EQ(kernel_call(sv[0], DLW_CLEAR_REGION, &region, 8, NULL), 0);
        CHECK_EQ(kernel_call(sv[0], DLW_IS_CLEAN, &region, 8, &clean), 0);
        CHECK_U64(clean, 1);
    }
    pthread_join(client, NULL);
    CHECK_EQ(kernel_call(sv[0], DLW_DTR, NULL, 0, NULL), 0);

    CHECK_EQ(write(stop[1], "x", 1), 1);
    CHECK_EQ(dld_kernel_join(kt), 0);

    /* A channel that fails says so on fail_fd (the daemon's stop pipe). */
    int fail[2], dead[2], stop2[2];
    REQUIRE_EQ(pipe(fail), 0);
    REQUIRE_EQ(pipe(stop2), 0);
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, dead), 0);
    close(dead[0]);
    close(dead[1]); /* its number is now invalid: poll says POLLNVAL */
    REQUIRE_EQ(dld_kernel_start(&kt, &srv, dead[1], 0, stop2[0], fail[1]), 0);
    struct pollfd p = {.fd = fail[0], .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 10000), 1);
    char byte = 0;
    CHECK_EQ(read(fail[0], &byte, 1), 1);
    CHECK_EQ(byte, 'k');
    CHECK_EQ(dld_kernel_join(kt), -EBADF);
    close(fail[0]);
    close(fail[1]);
    close(stop2[0]);
    close(stop2[1]);

    dld_server_destroy(&srv);
    close(sv[0]);
    close(sv[1]);
    close(stop[0]);
    close(stop[1]);
    return test_exit_status("test_kernel_threads");
}
