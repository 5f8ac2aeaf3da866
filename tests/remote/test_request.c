/* The request layer through its seam (tools/dirtylogd/request.h), called as
 * a new transport would call it: no socket, no stream framing, a peer
 * identity and a decoded header. Checks that every request number of the
 * protocol has a handler, that the dispatcher's common checks (payload
 * shape and size, regions in range, the session bound to its connection)
 * answer before any handler runs, and that detaching a connection keeps
 * its session's marks for a reattach. No daemon needed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "request.h"
#include "server.h"

TEST_MAIN_DEFINITIONS

#define UUID "seam"
#define REGIONS 128 /* "1024 core 8": 1024 sectors in regions of 8 */

/* Send one request of peer conn (luid 1) and return the reply's error;
 * the reply is left in *rp. */
static int call(struct dld_server *srv, uint64_t conn, uint32_t type, const void *payload,
                size_t len, struct dld_reply *rp)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    dl__wire_set_uuid(&h, UUID);
    h.luid = 1;
    h.version = DLW_VERSION;
    h.request_type = type;
    h.data_size = (uint32_t)len;
    struct dld_request rq = {.h = &h, .payload = payload, .len = len,
                             .peer = {.conn_id = conn, .uid = getuid(), .pid = getpid()}};
    memset(rp, 0, sizeof *rp);
    dld_request_handle(srv, &rq, rp);
    return rp->error;
}

static int call_region(struct dld_server *srv, uint64_t conn, uint32_t type, uint64_t region,
                       struct dld_reply *rp)
{
    uint8_t p[8];
    put_le64(p, region);
    return call(srv, conn, type, p, sizeof p, rp);
}

int main(void)
{
    static struct dld_reply rp;
    struct dld_limits limits = {.max_logs = 4};
    struct dld_server srv;
    CHECK_EQ(dld_server_init(&srv, &limits), 0);

    CHECK_EQ(call(&srv, 1, DLW_CTR, "1024 core 8", 11, &rp), 0);

    /* Every request type has a handler: nothing of the protocol is
     * "unknown"; numbers outside it are. */
    for (uint32_t t = DLW_DTR; t <= DLW_IS_REMOTE_RECOVERING; t++)
        if (t != DLW_DTR)
            CHECK(call(&srv, 1, t, NULL, 0, &rp) != -EOPNOTSUPP);
    CHECK(call(&srv, 1, DLW_ADMIN_RELEASE, NULL, 0, &rp) != -EOPNOTSUPP);
    CHECK_EQ(call(&srv, 1, 0, NULL, 0, &rp), -EOPNOTSUPP);
    CHECK_EQ(call(&srv, 1, DLW_IS_REMOTE_RECOVERING + 1, NULL, 0, &rp), -EOPNOTSUPP);
    CHECK_EQ(call(&srv, 1, 255, NULL, 0, &rp), -EOPNOTSUPP);

    /* The payload shapes the table declares, checked by the dispatcher
     * (which says why: a log's own refusal would come without a message). */
    CHECK_EQ(call(&srv, 1, DLW_GET_REGION_SIZE, "12345678", 8, &rp), -EINVAL); /* none */
    CHECK_EQ(call(&srv, 1, DLW_IS_CLEAN, "1234", 4, &rp), -EINVAL);            /* one region */
    CHECK_EQ(call_region(&srv, 1, DLW_IS_CLEAN, REGIONS, &rp), -ERANGE);
    CHECK(strstr((const char *)rp.data, "out of range") != NULL);
    CHECK_EQ(call(&srv, 1, DLW_MARK_REGION, "123456789012", 12, &rp), -EINVAL); /* regions */
    CHECK_EQ(call_region(&srv, 1, DLW_MARK_REGION, REGIONS, &rp), -ERANGE);
    CHECK(strstr((const char *)rp.data, "out of range") != NULL);
    CHECK_EQ(call(&srv, 1, DLW_SET_REGION_SYNC, "12345678", 8, &rp), -EINVAL); /* two u64 */
    CHECK(rp.len > 0 && rp.data[rp.len - 1] == '\0'); /* an error says why */

    /* A request that passes the checks reaches its handler. */
    CHECK_EQ(call(&srv, 1, DLW_GET_REGION_SIZE, NULL, 0, &rp), 0);
    CHECK_EQ(rp.len, 8);
    CHECK_U64(get_le64(rp.data), 8);
    CHECK_EQ(call_region(&srv, 1, DLW_MARK_REGION, 5, &rp), 0);
    CHECK_EQ(call_region(&srv, 1, DLW_IS_CLEAN, 5, &rp), 0);
    CHECK_U64(get_le64(rp.data), 0);

    /* A session is bound to its connection: another one gets -ENOENT until
     * the transport says the first is gone; then it may reattach, and the
     * mark made before is still there. */
    CHECK_EQ(call_region(&srv, 2, DLW_IS_CLEAN, 5, &rp), -ENOENT);
    CHECK_EQ(call(&srv, 2, DLW_CTR, "1024 core 8", 11, &rp), -EBUSY);
    dld_sessions_detach(&srv, 1);
    CHECK_EQ(call(&srv, 2, DLW_CTR, "1024 core 8", 11, &rp), 0);
    CHECK_EQ(call_region(&srv, 2, DLW_IS_CLEAN, 5, &rp), 0);
    CHECK_U64(get_le64(rp.data), 0);
    CHECK_EQ(call_region(&srv, 1, DLW_IS_CLEAN, 5, &rp), -ENOENT);

    CHECK_EQ(call(&srv, 2, DLW_DTR, NULL, 0, &rp), 0);
    CHECK_EQ(call_region(&srv, 2, DLW_IS_CLEAN, 5, &rp), -ENOENT); /* the log went with it */
    dld_server_destroy(&srv);
    return test_exit_status("test_request");
}
