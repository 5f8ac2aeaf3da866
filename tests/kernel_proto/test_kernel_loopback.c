/* The kernel front end (tools/dirtylogd/kernel.c) driven as the kernel
 * drives it, through a datagram socketpair injected instead of the netlink
 * socket: the test plays dm-log-userspace (host-order requests in the
 * kernel's framing), a child process plays dirtylogd (the request layer, a
 * state directory, a disk log). Covered:
 * - CTR (no reply payload), RESUME, MARK, FLUSH, integrated flush (marks in
 *   FLUSH's payload), CLEAR, IS_CLEAN, IN_SYNC, resync work, STATUS_*,
 *   IS_REMOTE_RECOVERING's hint;
 * - bad input answered with an error and no payload, the daemon alive;
 * - kill -9 of the daemon, then the kernel's replay (CTR + RESUME): the
 *   session reattaches with its marks;
 * - shutdown answers the requests already received;
 * - the kernel and socket clients never share a log or a session. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "kernel.h"
#include "kernel_msg.h"

TEST_MAIN_DEFINITIONS

#define UUID "LVM-kernel-loopback"
#define LUID 0xffff888004a3c000ull /* a kernel pointer, as the kernel uses */
#define REGION_SIZE 8
#define REGIONS 128 /* 1024 sectors */
#define REPLY_WAIT_MS 10000

static char dir[64], log_dir[96], state_dir[96], ctr[256];
static uint32_t next_seq = 1000;

/* ---- the daemon: a child serving one end of the socketpair ------------- */

struct child {
    pid_t pid;
    int stop_w; /* write a byte: the child stops cleanly */
};

static void daemon_main(int fd, int stop_r)
{
    struct dld_limits limits = {.max_logs = 16};
    struct dld_server srv;
    struct dld_confine confine;
    char why[512];
    if (dld_server_init(&srv, &limits) < 0 ||
        dld_confine_init(&confine, log_dir, NULL, 0, why, sizeof why) < 0)
        _exit(3);
    srv.confine = &confine;
    if (dld_server_open_state(&srv, state_dir) < 0)
        _exit(4);
    int r = dld_kernel_serve(&srv, fd, 0, stop_r);
    int failed = dld_server_flush_all(&srv);
    dld_server_destroy(&srv);
    dld_confine_fini(&confine);
    _exit(r < 0 ? 5 : failed ? 6 : 0);
}

/* Start a daemon on fd; if stop_now, its stop pipe is already readable. */
static struct child spawn(int fd, int stop_now)
{
    struct child c = {.pid = -1, .stop_w = -1};
    int p[2];
    if (pipe(p) < 0)
        return c;
    if (stop_now)
        (void)!write(p[1], "x", 1);
    c.pid = fork();
    if (c.pid == 0) {
        close(p[1]);
        daemon_main(fd, p[0]);
    }
    close(p[0]);
    c.stop_w = p[1];
    return c;
}

/* Wait for the child, bounded; its exit status, or -1. */
static int reap(struct child *c)
{
    int st;
    for (int i = 0; i < 2000; i++) { /* 20 s: polling the condition */
        pid_t w = waitpid(c->pid, &st, WNOHANG);
        if (w == c->pid) {
            close(c->stop_w);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &st, 0);
    close(c->stop_w);
    return -1;
}

static int stop(struct child *c)
{
    (void)!write(c->stop_w, "x", 1);
    return reap(c);
}

static void kill9(struct child *c)
{
    kill(c->pid, SIGKILL);
    reap(c);
}

/* ---- the kernel's side ----------------------------------------------------- */

struct reply {
    int bare;         /* a bare ack (cn_msg of length 0) */
    int32_t error;    /* the reply's error, or -ack for a bare ack */
    uint32_t seq;     /* the request seq it answers */
    uint32_t len;     /* data_size */
    uint8_t data[DLK_MAX_REPLY_PAYLOAD];
};

static uint32_t send_raw(int fd, const uint8_t *msg, size_t n)
{
    CHECK_EQ(send(fd, msg, n, 0), (ssize_t)n);
    return 0;
}

static uint32_t send_request(int fd, const char *uuid, uint32_t type, const void *payload,
                             uint32_t len)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.luid = LUID;
    snprintf(h.uuid, sizeof h.uuid, "%s", uuid);
    h.version = DLK_ULOG_VERSION;
    h.seq = next_seq++;
    h.request_type = type;
    uint8_t msg[DLK_MAX_DATAGRAM];
    size_t n = dlk_encode_request(&h, payload, len, msg, sizeof msg);
    send_raw(fd, msg, n);
    return h.seq;
}

/* The next datagram from the daemon, decoded; 0, or -1 if none came. */
static int recv_reply(int fd, struct reply *r)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, REPLY_WAIT_MS) != 1)
        return -1;
    uint8_t buf[DLK_MAX_DATAGRAM];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
        return -1;
    struct dlk_msg m;
    dlk_decode(buf, (size_t)n, &m);
    memset(r, 0, sizeof *r);
    if (m.kind == DLK_IGNORE && n == DLK_FRAME_HDRLEN && m.cn.len == 0) {
        r->bare = 1;
        r->error = -(int32_t)m.cn.ack;
        r->seq = m.cn.seq;
        return 0;
    }
    if (m.kind != DLK_REQUEST)
        return -1;
    r->error = m.h.error;
    r->seq = m.h.seq;
    r->len = m.h.data_size;
    memcpy(r->data, m.payload, m.len);
    return 0;
}

/* One request and its reply (checked to answer it); the reply's error. */
static int call(int fd, uint32_t type, const void *payload, uint32_t len, struct reply *r)
{
    uint32_t seq = send_request(fd, UUID, type, payload, len);
    if (recv_reply(fd, r) < 0) {
        CHECK(!"a reply");
        r->error = -9999;
        return r->error;
    }
    CHECK_EQ(r->seq, seq);
    return r->error;
}

/* u64 words in host order, as the kernel has them. */
static uint64_t word(const struct reply *r, unsigned i)
{
    uint64_t v;
    memcpy(&v, r->data + 8 * i, 8);
    return v;
}

static int call_region(int fd, uint32_t type, uint64_t region, struct reply *r)
{
    return call(fd, type, &region, 8, r);
}

/* IS_CLEAN of a region: the s64 answer, or -1 on error. */
static int64_t is_clean(int fd, uint64_t region)
{
    struct reply r;
    if (call_region(fd, DLW_IS_CLEAN, region, &r) != 0 || r.len != 8)
        return -1;
    return (int64_t)word(&r, 0);
}

/* ---- the scenarios ----------------------------------------------------------- */

static void first_life(int fd)
{
    struct reply r;
    CHECK_EQ(call(fd, DLW_CTR, ctr, (uint32_t)strlen(ctr) + 1, &r), 0);
    CHECK_EQ(r.len, 0); /* never a device name */
    CHECK_EQ(call(fd, DLW_GET_REGION_SIZE, NULL, 0, &r), 0);
    CHECK_EQ(r.len, 8);
    CHECK_U64(word(&r, 0), REGION_SIZE);
    CHECK_EQ(call(fd, DLW_RESUME, NULL, 0, &r), 0);

    /* Grouped marks, then an empty FLUSH. */
    uint64_t marks[2] = {5, 9};
    CHECK_EQ(call(fd, DLW_MARK_REGION, marks, sizeof marks, &r), 0);
    CHECK_EQ(call(fd, DLW_FLUSH, NULL, 0, &r), 0);
    CHECK_EQ(is_clean(fd, 5), 0);
    CHECK_EQ(is_clean(fd, 9), 0);
    CHECK_EQ(is_clean(fd, 6), 1);
    /* A region number whose bytes differ in each position: a byte-order
     * slip would name another (out-of-range) region. */
    CHECK_EQ(is_clean(fd, 0x0000000000000071ull), 1);

    /* integrated_flush: marks as FLUSH's payload. */
    uint64_t im[2] = {20, 21};
    CHECK_EQ(call(fd, DLW_FLUSH, im, sizeof im, &r), 0);
    CHECK_EQ(is_clean(fd, 20), 0);
    CHECK_EQ(is_clean(fd, 21), 0);

    /* Grouped clears, then FLUSH. The log is new, so out of sync: the
     * kernel recovers 9 and 21 first, or they would stay dirty on disk. */
    for (uint64_t reg = 9; reg <= 21; reg += 12) {
        uint64_t in_sync[2] = {reg, 1};
        CHECK_EQ(call(fd, DLW_SET_REGION_SYNC, in_sync, sizeof in_sync, &r), 0);
    }
    uint64_t clears[2] = {9, 21};
    CHECK_EQ(call(fd, DLW_CLEAR_REGION, clears, sizeof clears, &r), 0);
    CHECK_EQ(call(fd, DLW_FLUSH, NULL, 0, &r), 0);
    CHECK_EQ(is_clean(fd, 9), 1);
    CHECK_EQ(is_clean(fd, 21), 1);

    /* Resync: a fresh log is out of sync; the kernel recovers a region. */
    CHECK_EQ(call(fd, DLW_GET_SYNC_COUNT, NULL, 0, &r), 0);
    uint64_t synced = word(&r, 0);
    CHECK_EQ(call(fd, DLW_GET_RESYNC_WORK, NULL, 0, &r), 0);
    CHECK_EQ(r.len, 16);
    CHECK_U64(word(&r, 0), 1);
    uint64_t work = word(&r, 1);
    CHECK(work < REGIONS);
    CHECK_EQ(call_region(fd, DLW_IN_SYNC, work, &r), 0);
    CHECK_U64(word(&r, 0), 0);
    uint64_t set[2] = {work, 1};
    CHECK_EQ(call(fd, DLW_SET_REGION_SYNC, set, sizeof set, &r), 0);
    CHECK_EQ(call_region(fd, DLW_IN_SYNC, work, &r), 0);
    CHECK_U64(word(&r, 0), 1);
    CHECK_EQ(call(fd, DLW_GET_SYNC_COUNT, NULL, 0, &r), 0);
    CHECK_U64(word(&r, 0), synced + 1);

    /* The hint never covers more than the region asked about. */
    CHECK_EQ(call_region(fd, DLW_IS_REMOTE_RECOVERING, 77, &r), 0);
    CHECK_EQ(r.len, 16);
    CHECK_U64(word(&r, 0), 0);
    CHECK_U64(word(&r, 1), 77);

    CHECK_EQ(call(fd, DLW_STATUS_INFO, NULL, 0, &r), 0);
    CHECK(r.len > 1 && r.data[r.len - 1] == '\0');
    CHECK_EQ(call(fd, DLW_STATUS_TABLE, NULL, 0, &r), 0);
    CHECK(r.len > 1 && r.data[r.len - 1] == '\0');
    CHECK(strstr((const char *)r.data, "disk") != NULL);
    CHECK_EQ(call(fd, DLW_PRESUSPEND, NULL, 0, &r), 0);
    CHECK_EQ(call(fd, DLW_POSTSUSPEND, NULL, 0, &r), 0);
    CHECK_EQ(call(fd, DLW_RESUME, NULL, 0, &r), 0);
}

/* Scenario 6 without a kernel: every bad input gets an error and no
 * payload, and the daemon keeps serving. */
static void bad_input(int fd)
{
    struct reply r;
    CHECK_EQ(call(fd, 99, NULL, 0, &r), -EOPNOTSUPP);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(call(fd, 0, NULL, 0, &r), -EOPNOTSUPP);
    CHECK_EQ(call(fd, DLW_ADMIN_RELEASE, NULL, 0, &r), -EOPNOTSUPP); /* not the kernel's */
    CHECK_EQ(call(fd, DLW_IS_CLEAN, "1234", 4, &r), -EINVAL);        /* short payload */
    CHECK_EQ(r.len, 0);
    CHECK_EQ(call_region(fd, DLW_IS_CLEAN, REGIONS, &r), -ERANGE);
    CHECK_EQ(r.len, 0);
    CHECK_EQ(call(fd, DLW_MARK_REGION, "123456789", 9, &r), -EINVAL);
    /* A CTR the request layer refuses: an error, still no payload. */
    uint32_t seq = send_request(fd, "other", DLW_CTR, "1024 nonsense", 14);
    CHECK_EQ(recv_reply(fd, &r), 0);
    CHECK_EQ(r.seq, seq);
    CHECK(r.error < 0);
    CHECK_EQ(r.len, 0);
    /* Requests of a log never constructed. */
    seq = send_request(fd, "never", DLW_FLUSH, NULL, 0);
    CHECK_EQ(recv_reply(fd, &r), 0);
    CHECK_EQ(r.error, -ENOENT);

    /* Malformed frames and headers. */
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.luid = LUID;
    snprintf(h.uuid, sizeof h.uuid, UUID);
    h.version = 2;
    h.seq = next_seq++;
    h.request_type = DLW_GET_REGION_SIZE;
    uint8_t msg[DLK_MAX_DATAGRAM];
    size_t n = dlk_encode_request(&h, NULL, 0, msg, sizeof msg);
    send_raw(fd, msg, n);
    CHECK_EQ(recv_reply(fd, &r), 0);
    CHECK_EQ(r.bare, 0);
    CHECK_EQ(r.error, -EPROTO);
    CHECK_EQ(r.seq, h.seq);

    h.version = 3;
    h.seq = next_seq++;
    static uint8_t big[DLK_MAX_PAYLOAD + 8];
    n = dlk_encode_request(&h, big, sizeof big, msg, sizeof msg);
    send_raw(fd, msg, n);
    CHECK_EQ(recv_reply(fd, &r), 0);
    CHECK_EQ(r.error, -EMSGSIZE);
    CHECK_EQ(r.len, 0);

    h.seq = next_seq++;
    n = dlk_encode_request(&h, NULL, 0, msg, sizeof msg);
    send_raw(fd, msg, n - 1); /* truncated: the frame claims more */
    CHECK_EQ(recv_reply(fd, &r), 0);
    CHECK_EQ(r.bare, 1);
    CHECK_EQ(r.error, -EINVAL);
    CHECK_EQ(r.seq, h.seq);

    send_raw(fd, msg, 20); /* too short to answer: dropped */
    /* ... and the daemon is alive and still right. */
    CHECK_EQ(call(fd, DLW_GET_REGION_SIZE, NULL, 0, &r), 0);
    CHECK_U64(word(&r, 0), REGION_SIZE);
    CHECK_EQ(is_clean(fd, 5), 0);
}

/* After kill -9: the kernel's replay reattaches the session; the marks
 * acknowledged before the crash are still there. */
static void after_kill9(int fd)
{
    struct reply r;
    CHECK_EQ(call(fd, DLW_CTR, ctr, (uint32_t)strlen(ctr) + 1, &r), 0);
    CHECK_EQ(r.len, 0); /* the replayed CTR has no room for a payload */
    CHECK_EQ(call(fd, DLW_RESUME, NULL, 0, &r), 0);
    CHECK_EQ(is_clean(fd, 5), 0);
    CHECK_EQ(is_clean(fd, 20), 0);
    CHECK_EQ(is_clean(fd, 9), 1);
    /* The reattached session clears its own marks. */
    uint64_t c = 5;
    CHECK_EQ(call(fd, DLW_CLEAR_REGION, &c, 8, &r), 0);
    CHECK_EQ(call(fd, DLW_FLUSH, NULL, 0, &r), 0);
    CHECK_EQ(is_clean(fd, 5), 1);
}

/* A table with `nosync` (usual for a new mirror of blank disks): the flag
 * applies at first activation only. After kill -9 the restarted daemon
 * hosts the log again; were the flag applied again, its load would wipe the
 * mark acknowledged before the crash. */
static void nosync_kill9(int fd_kernel, int fd_daemon)
{
    char nctr[300];
    snprintf(nctr, sizeof nctr, "%d disk %s/nosync.log %d nosync", REGIONS * REGION_SIZE,
             log_dir, REGION_SIZE);
    uint32_t len = (uint32_t)strlen(nctr) + 1;
    struct reply r;
    struct child c = spawn(fd_daemon, 0);
    CHECK(c.pid > 0);
    uint32_t seq = send_request(fd_kernel, "nosync", DLW_CTR, nctr, len);
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.seq, seq);
    CHECK_EQ(r.error, 0);
    CHECK_EQ(send_request(fd_kernel, "nosync", DLW_RESUME, NULL, 0) > 0, 1);
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    uint64_t region = 42;
    send_request(fd_kernel, "nosync", DLW_FLUSH, &region, 8); /* integrated flush */
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.error, 0);
    kill9(&c);

    c = spawn(fd_daemon, 0);
    CHECK(c.pid > 0);
    send_request(fd_kernel, "nosync", DLW_CTR, nctr, len); /* the kernel's replay */
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.error, 0);
    send_request(fd_kernel, "nosync", DLW_RESUME, NULL, 0);
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.error, 0);
    send_request(fd_kernel, "nosync", DLW_IS_CLEAN, &region, 8);
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.error, 0);
    CHECK_EQ(r.len, 8);
    CHECK_U64(word(&r, 0), 0); /* still dirty */
    send_request(fd_kernel, "nosync", DLW_DTR, NULL, 0);
    CHECK_EQ(recv_reply(fd_kernel, &r), 0);
    CHECK_EQ(r.error, 0);
    CHECK_EQ(stop(&c), 0);
}

/* One request of log `uuid` and its reply's error; the s64/u64 answer in
 * *word0 if there is one. */
static int call_log(int fd, const char *uuid, uint32_t type, const void *payload, uint32_t len,
                    uint64_t *word0)
{
    struct reply r;
    uint32_t seq = send_request(fd, uuid, type, payload, len);
    if (recv_reply(fd, &r) < 0 || r.seq != seq)
        return -9999;
    if (word0 && r.len >= 8)
        *word0 = word(&r, 0);
    return r.error;
}

/* A restart within the kernel's 15 s timeout: the kernel never saw the
 * daemon gone (it replays CTR + RESUME only when no daemon listens) and
 * sends its next requests as if nothing happened. They must work, on the
 * session the daemon takes back, with its marks. */
static void fast_restart(int fd_kernel, int fd_daemon)
{
    char fctr[300];
    snprintf(fctr, sizeof fctr, "%d disk %s/fast.log %d", REGIONS * REGION_SIZE, log_dir,
             REGION_SIZE);
    uint32_t len = (uint32_t)strlen(fctr) + 1;
    uint64_t region = 42, in_sync[2] = {43, 1}, v = 99;
    struct child c = spawn(fd_daemon, 0);
    CHECK(c.pid > 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_CTR, fctr, len, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_RESUME, NULL, 0, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_SET_REGION_SYNC, in_sync, 16, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_FLUSH, &region, 8, NULL), 0);
    kill9(&c);

    c = spawn(fd_daemon, 0);
    CHECK(c.pid > 0);
    /* No CTR, no RESUME: straight on with the next requests. */
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_IS_CLEAN, &region, 8, &v), 0);
    CHECK_U64(v, 0); /* the acknowledged mark */
    region = 43;
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_MARK_REGION, &region, 8, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_FLUSH, NULL, 0, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_CLEAR_REGION, &region, 8, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_FLUSH, NULL, 0, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_IS_CLEAN, &region, 8, &v), 0);
    CHECK_U64(v, 1); /* the grace ended: the session is back */
    /* A replay arriving later still works (same session, same channel). */
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_CTR, fctr, len, NULL), 0);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_RESUME, NULL, 0, NULL), 0);
    /* A log nobody constructed is still an error. */
    CHECK_EQ(call_log(fd_kernel, "never-made", DLW_IS_CLEAN, &region, 8, NULL), -ENOENT);
    CHECK_EQ(call_log(fd_kernel, "fast", DLW_DTR, NULL, 0, NULL), 0);
    CHECK_EQ(stop(&c), 0);
}

/* Requests already received when the daemon is told to stop are answered:
 * the stop pipe is readable before the daemon even starts. */
static void shutdown_answers(int fd_kernel, int fd_daemon)
{
    uint32_t seqs[4];
    seqs[0] = send_request(fd_kernel, UUID, DLW_CTR, ctr, (uint32_t)strlen(ctr) + 1);
    seqs[1] = send_request(fd_kernel, UUID, DLW_RESUME, NULL, 0);
    uint64_t region = 20;
    seqs[2] = send_request(fd_kernel, UUID, DLW_IS_CLEAN, &region, 8);
    seqs[3] = send_request(fd_kernel, UUID, DLW_DTR, NULL, 0);
    struct child c = spawn(fd_daemon, 1);
    CHECK(c.pid > 0);
    CHECK_EQ(reap(&c), 0);
    struct reply r;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(recv_reply(fd_kernel, &r), 0);
        CHECK_EQ(r.seq, seqs[i]);
        CHECK_EQ(r.error, 0);
        if (i == 2) {
            CHECK_EQ(r.len, 8);
            CHECK_U64(word(&r, 0), 0); /* the mark survived two lives */
        }
    }
}

/* The kernel and socket clients share neither logs nor sessions (in
 * process, through the seam). */
static int seam(struct dld_server *srv, uid_t uid, uint64_t conn, const char *uuid,
                uint64_t luid, uint32_t type, const char *payload)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.uuid, sizeof h.uuid, "%s", uuid);
    h.luid = luid;
    h.version = DLW_VERSION;
    h.request_type = type;
    size_t len = payload ? strlen(payload) : 0;
    h.data_size = (uint32_t)len;
    struct dld_request rq = {.h = &h, .payload = (const uint8_t *)payload, .len = len,
                             .peer = {.conn_id = conn, .uid = uid, .pid = 1}};
    static struct dld_reply rp;
    memset(&rp, 0, sizeof rp);
    dld_request_handle(srv, &rq, &rp);
    return rp.error;
}

static void ownership(void)
{
    struct dld_limits limits = {.max_logs = 8};
    struct dld_server srv;
    CHECK_EQ(dld_server_init(&srv, &limits), 0);
    const uid_t K = DLD_KERNEL_UID;
    const uint64_t KC = DLD_KERNEL_CONN_ID;
    CHECK_EQ(seam(&srv, K, KC, "klog", 7, DLW_CTR, "1024 core 8"), 0);
    /* Root on a socket may not take the kernel's session, nor join its log. */
    CHECK_EQ(seam(&srv, 0, 5, "klog", 7, DLW_CTR, "1024 core 8"), -EACCES);
    CHECK_EQ(seam(&srv, 0, 5, "klog", 8, DLW_CTR, "1024 core 8"), -EACCES);
    CHECK_EQ(seam(&srv, 0, 5, "klog", 7, DLW_MARK_REGION, NULL), -ENOENT);
    /* The kernel may not join a socket client's log (root's included). */
    CHECK_EQ(seam(&srv, 0, 5, "slog", 7, DLW_CTR, "1024 core 8"), 0);
    CHECK_EQ(seam(&srv, K, KC, "slog", 7, DLW_CTR, "1024 core 8"), -EACCES);
    CHECK_EQ(seam(&srv, K, KC, "slog", 9, DLW_CTR, "1024 core 8"), -EACCES);
    /* Each keeps working. */
    CHECK_EQ(seam(&srv, K, KC, "klog", 7, DLW_RESUME, NULL), 0);
    CHECK_EQ(seam(&srv, 0, 5, "slog", 7, DLW_RESUME, NULL), 0);
    dld_server_destroy(&srv);
}

static int empty_dir(const char *path)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", path);
    return system(cmd) == 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/dl-kernel-XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(log_dir, sizeof log_dir, "%s/logs", dir);
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    REQUIRE_EQ(mkdir(log_dir, 0700), 0);
    snprintf(ctr, sizeof ctr, "%d disk %s/mirror.log %d", REGIONS * REGION_SIZE, log_dir,
             REGION_SIZE);

    ownership();

    int sv[2];
    REQUIRE_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    struct child c = spawn(sv[1], 0);
    REQUIRE(c.pid > 0);
    first_life(sv[0]);
    bad_input(sv[0]);
    kill9(&c);

    c = spawn(sv[1], 0);
    REQUIRE(c.pid > 0);
    after_kill9(sv[0]);
    uint64_t m = 20;
    struct reply r;
    CHECK_EQ(call(sv[0], DLW_MARK_REGION, &m, 8, &r), 0); /* still marked, again */
    CHECK_EQ(stop(&c), 0);

    shutdown_answers(sv[0], sv[1]);
    nosync_kill9(sv[0], sv[1]);
    fast_restart(sv[0], sv[1]);
    CHECK(empty_dir(state_dir)); /* each DTR ended its log */

    close(sv[0]);
    close(sv[1]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return test_exit_status("test_kernel_loopback");
}
