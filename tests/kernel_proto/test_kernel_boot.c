/* Kernel sessions live as long as their boot (tools/dirtylogd/kernel_boot.c):
 * after a daemon restart in the same boot a kernel session stays pending
 * (the grace holds clears until the kernel's replay takes it back); after a
 * reboot the kernel's logs of the old boot are forgotten, so the new boot's
 * clears are not held for ever and its table may name another constructor.
 * In process, through the request seam, with a state directory; no kernel. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "kernel.h"

TEST_MAIN_DEFINITIONS

#define UUID "LVM-boot"

static int call(struct dld_server *srv, uint64_t luid, uint32_t type, const void *payload,
                size_t len, struct dld_reply *rp)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.uuid, sizeof h.uuid, UUID);
    h.luid = luid;
    h.version = DLW_VERSION;
    h.request_type = type;
    h.data_size = (uint32_t)len;
    struct dld_request rq = {.h = &h, .payload = payload, .len = len,
                             .peer = {.conn_id = DLD_KERNEL_CONN_ID, .uid = DLD_KERNEL_UID}};
    memset(rp, 0, sizeof *rp);
    dld_request_handle(srv, &rq, rp);
    return rp->error;
}

static int region_op(struct dld_server *srv, uint64_t luid, uint32_t type, uint64_t region,
                     struct dld_reply *rp)
{
    uint8_t p[8];
    put_le64(p, region);
    return call(srv, luid, type, p, 8, rp);
}

/* A kernel device comes up (CTR, RESUME), writes region 7 and is done with
 * it (MARK, FLUSH, CLEAR, FLUSH): is region 7 clean in the log? */
static int write_and_settle(struct dld_server *srv, uint64_t luid, const char *ctr)
{
    static struct dld_reply rp;
    CHECK_EQ(call(srv, luid, DLW_CTR, ctr, strlen(ctr), &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_RESUME, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_MARK_REGION, 7, &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_FLUSH, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_CLEAR_REGION, 7, &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_FLUSH, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_IS_CLEAN, 7, &rp), 0);
    return rp.len == 8 ? (int)get_le64(rp.data) : -1;
}

/* The daemon's start with --kernel in boot `boot`: the number of logs of a
 * previous boot forgotten. */
static int start(struct dld_server *srv, const char *state, const char *boot)
{
    int forgotten = dld_kernel_forget_old_boot(state, boot, NULL);
    struct dld_limits limits = {.max_logs = 8};
    CHECK_EQ(dld_server_init(srv, &limits), 0);
    CHECK_EQ(dld_server_open_state(srv, state), 0);
    CHECK_EQ(dld_kernel_record_boot(srv, boot), 0);
    return forgotten;
}

int main(void)
{
    char dir[] = "/tmp/dl-kboot-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char state[64];
    snprintf(state, sizeof state, "%s/state", dir);
    struct dld_server srv;
    static struct dld_reply rp;

    /* Boot a: device A writes, the daemon dies (no DTR). */
    CHECK_EQ(start(&srv, state, "boot-a"), 0); /* nothing persisted yet */
    CHECK_EQ(write_and_settle(&srv, 0xa, "1024 core 8"), 1);
    dld_server_destroy(&srv);

    /* Restarted in boot a: A is awaited (its replay would take it back), so
     * device B's clear is held meanwhile. */
    CHECK_EQ(start(&srv, state, "boot-a"), 0);
    CHECK_EQ(write_and_settle(&srv, 0xb, "1024 core 8"), 0);
    dld_server_destroy(&srv);

    /* Rebooted (boot b): the old boot's log is forgotten; device C's clears
     * apply at once, and its table may differ from the old one. */
    CHECK_EQ(start(&srv, state, "boot-b"), 1);
    CHECK_EQ(write_and_settle(&srv, 0xc, "2048 core 8"), 1);
    CHECK_EQ(dld_kernel_forget_old_boot(state, "boot-b", NULL), 0); /* boot b recorded */
    CHECK_EQ(call(&srv, 0xc, DLW_DTR, NULL, 0, &rp), 0);
    dld_server_destroy(&srv);

    /* A socket client's log is never forgotten across a reboot. */
    CHECK_EQ(start(&srv, state, "boot-c"), 0);
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.uuid, sizeof h.uuid, "socket-log");
    h.luid = 1;
    h.version = DLW_VERSION;
    h.request_type = DLW_CTR;
    h.data_size = 11;
    struct dld_request rq = {.h = &h, .payload = (const uint8_t *)"1024 core 8", .len = 11,
                             .peer = {.conn_id = 3, .uid = 0, .pid = 1}};
    memset(&rp, 0, sizeof rp);
    dld_request_handle(&srv, &rq, &rp);
    CHECK_EQ(rp.error, 0);
    dld_server_destroy(&srv);
    CHECK_EQ(start(&srv, state, "boot-d"), 0);
    dld_server_destroy(&srv);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return test_exit_status("test_kernel_boot");
}
