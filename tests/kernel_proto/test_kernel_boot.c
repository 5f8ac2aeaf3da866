/* Kernel sessions live as long as their boot (tools/dirtylogd/kernel_boot.c):
 * after a daemon restart in the same boot a kernel session stays pending
 * (its clears-held grace protects it until the kernel's replay), after a
 * reboot the sessions of the old boot are released, so the new boot's
 * clears are not held for ever. In process, through the request seam, with
 * a state directory; no kernel. */
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
#define CTR "1024 core 8"

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
static int write_and_settle(struct dld_server *srv, uint64_t luid)
{
    static struct dld_reply rp;
    CHECK_EQ(call(srv, luid, DLW_CTR, CTR, strlen(CTR), &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_RESUME, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_MARK_REGION, 7, &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_FLUSH, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_CLEAR_REGION, 7, &rp), 0);
    CHECK_EQ(call(srv, luid, DLW_FLUSH, NULL, 0, &rp), 0);
    CHECK_EQ(region_op(srv, luid, DLW_IS_CLEAN, 7, &rp), 0);
    return rp.len == 8 ? (int)get_le64(rp.data) : -1;
}

static void start(struct dld_server *srv, const char *state)
{
    struct dld_limits limits = {.max_logs = 8};
    CHECK_EQ(dld_server_init(srv, &limits), 0);
    CHECK_EQ(dld_server_open_state(srv, state), 0);
}

int main(void)
{
    char dir[] = "/tmp/dl-kboot-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char state[64];
    snprintf(state, sizeof state, "%s/state", dir);
    struct dld_server srv;
    static struct dld_reply rp;

    /* Boot a: device A writes region 5, the daemon dies (no DTR). */
    start(&srv, state);
    CHECK_EQ(dld_kernel_forget_old_boot(&srv, "boot-a"), 0);
    CHECK_EQ(write_and_settle(&srv, 0xa), 1);
    CHECK_EQ(region_op(&srv, 0xa, DLW_MARK_REGION, 5, &rp), 0);
    CHECK_EQ(call(&srv, 0xa, DLW_FLUSH, NULL, 0, &rp), 0);
    dld_server_destroy(&srv);

    /* Restarted in boot a: A is awaited (its replay would reattach it), so
     * device B's clear is held meanwhile. */
    start(&srv, state);
    CHECK_EQ(dld_kernel_forget_old_boot(&srv, "boot-a"), 0);
    CHECK_EQ(write_and_settle(&srv, 0xb), 0);
    dld_server_destroy(&srv);

    /* Rebooted (boot b): A and B are of the past and released; device C's
     * clears apply at once. */
    start(&srv, state);
    CHECK_EQ(dld_kernel_forget_old_boot(&srv, "boot-b"), 2);
    CHECK_EQ(write_and_settle(&srv, 0xc), 1);
    CHECK_EQ(dld_kernel_forget_old_boot(&srv, "boot-b"), 0); /* boot b is recorded */
    CHECK_EQ(call(&srv, 0xc, DLW_DTR, NULL, 0, &rp), 0);
    dld_server_destroy(&srv);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return test_exit_status("test_kernel_boot");
}
