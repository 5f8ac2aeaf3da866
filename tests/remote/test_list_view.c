/* ADMIN_LIST through the request layer's seam (request.h), with peer uids a
 * transport would prove: who sees what (root everything; an owner its logs
 * with every session, root's too; another uid nothing of them), and every
 * page within DLD_REPLY_MAX. No daemon, no root needed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "list.h"
#include "request.h"
#include "server.h"

TEST_MAIN_DEFINITIONS

static struct dld_server srv;

static int call(uint32_t uid, uint64_t conn, uint32_t type, const char *uuid, uint64_t luid,
                const void *payload, size_t len, struct dld_reply *rp)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    dl__wire_set_uuid(&h, uuid);
    h.luid = luid;
    h.version = DLW_VERSION;
    h.request_type = type;
    h.data_size = (uint32_t)len;
    struct dld_request rq = {.h = &h, .payload = payload, .len = len,
                             .peer = {.conn_id = conn, .uid = (uid_t)uid, .pid = 42}};
    memset(rp, 0, sizeof *rp);
    dld_request_handle(&srv, &rq, rp);
    return rp->error;
}

/* The whole listing as uid sees it: "uuid[uid,uid...];" per log. */
static void listing(uint32_t uid, char *out, size_t cap)
{
    static struct dld_reply rp;
    uint8_t cursor[256];
    size_t clen = 0, n = 0;
    out[0] = '\0';
    for (int page = 0; page < 100; page++) {
        CHECK_EQ(call(uid, 99, DLW_ADMIN_LIST, "*", 0, cursor, clen, &rp), 0);
        CHECK(rp.len >= DLD_LIST_HEAD && rp.len <= DLD_REPLY_MAX);
        uint32_t records = get_le32(rp.data + 4), cl = get_le32(rp.data + 8);
        size_t at = DLD_LIST_HEAD;
        for (uint32_t i = 0; i < records && at + 4 <= rp.len; i++) {
            const uint8_t *r = rp.data + at;
            unsigned kind = r[0] | r[1] << 8, size = r[2] | r[3] << 8;
            if (kind == DLD_LIST_KIND_LOG && !(get_le32(r + 8) & DLD_LOGF_CONTINUED))
                n += (size_t)snprintf(out + n, cap - n, "%s%.*s:", n ? ";" : "",
                                      (int)(r[64] | r[65] << 8), (const char *)r + 72);
            else if (kind == DLD_LIST_KIND_SESSION)
                n += (size_t)snprintf(out + n, cap - n, "%u,", (unsigned)get_le32(r + 8));
            at += size ? size : 4;
        }
        if (!cl)
            return;
        clen = cl;
        memcpy(cursor, rp.data + rp.len - cl, cl);
    }
    CHECK(0); /* never ends */
}

int main(void)
{
    static struct dld_reply rp;
    struct dld_limits limits = {.max_logs = 16};
    CHECK_EQ(dld_server_init(&srv, &limits), 0);
    CHECK_EQ(call(1000, 1, DLW_CTR, "a1", 1, "1024 core 8", 11, &rp), 0);
    CHECK_EQ(call(1000, 1, DLW_CTR, "a2", 1, "1024 core 8", 11, &rp), 0);
    CHECK_EQ(call(2000, 2, DLW_CTR, "b1", 1, "1024 core 8", 11, &rp), 0);
    CHECK_EQ(call(0, 3, DLW_CTR, "a1", 7, "1024 core 8", 11, &rp), 0); /* root joins a1 */
    CHECK_EQ(call(3000, 4, DLW_CTR, "a1", 8, "1024 core 8", 11, &rp), -EACCES);

    char out[1024], want[128];
    /* a1's sessions come in tag order: luid 1 (uid 1000), luid 7 (uid 0). */
    const char *a1 = dl__wire_client_tag(1) < dl__wire_client_tag(7) ? "1000,0," : "0,1000,";
    listing(0, out, sizeof out);
    snprintf(want, sizeof want, "a1:%s;a2:1000,;b1:2000,", a1);
    CHECK_STR(out, want);
    listing(1000, out, sizeof out);
    snprintf(want, sizeof want, "a1:%s;a2:1000,", a1);
    CHECK_STR(out, want);
    listing(2000, out, sizeof out);
    CHECK_STR(out, "b1:2000,");
    listing(3000, out, sizeof out);
    CHECK_STR(out, "");

    /* A cursor is checked: flags, lengths, NUL in the uuid. */
    uint8_t bad[16] = {0};
    bad[12] = 2;
    memcpy(bad + 14, "a1", 2);
    CHECK_EQ(call(0, 9, DLW_ADMIN_LIST, "*", 0, bad, 16, &rp), 0);
    bad[0] = 2; /* an unknown flag */
    CHECK_EQ(call(0, 9, DLW_ADMIN_LIST, "*", 0, bad, 16, &rp), -EINVAL);
    bad[0] = 0;
    bad[15] = 0; /* a NUL in the uuid */
    CHECK_EQ(call(0, 9, DLW_ADMIN_LIST, "*", 0, bad, 16, &rp), -EINVAL);
    CHECK_EQ(call(0, 9, DLW_ADMIN_LIST, "*", 0, bad, 13, &rp), -EINVAL); /* too short */
    CHECK(strstr((const char *)rp.data, "cursor") != NULL);

    dld_sessions_detach(&srv, 1);
    dld_sessions_detach(&srv, 2);
    dld_sessions_detach(&srv, 3);
    dld_server_destroy(&srv);
    return test_exit_status("test_list_view");
}
