/* Malformed requests: each gets an error reply or a clean disconnect, and
 * the daemon keeps serving a healthy client throughout. Leaks show up when
 * the daemon is built with ASan (its exit status at SIGTERM). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "dirtylog.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;
static dl_log *healthy;
static int cases;

/* After each case, the healthy client must still be served. */
static void still_serving(int line)
{
    uint64_t r = (uint64_t)line % 64;
    int ok = dl_log_mark_region(healthy, r) == 0 && dl_log_flush(healthy) == 0 &&
             dl_log_is_clean(healthy, r) == 0 && dl_log_clear_region(healthy, r) == 0 &&
             dl_log_flush(healthy) == 0 && dl_log_is_clean(healthy, r) == 1;
    if (!ok)
        fprintf(stderr, "healthy client failed after the case at line %d\n", line);
    CHECK(ok);
    cases++;
}

static void header(uint8_t *b, uint32_t version, uint32_t type, uint32_t size, const char *uuid)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    dl__wire_set_uuid(&h, uuid);
    h.version = version;
    h.seq = 42;
    h.request_type = type;
    h.data_size = size;
    dl__wire_encode_header(&h, b);
}

/* Send raw bytes on a fresh connection; expect an error reply `err` and then
 * (if closes) a hang-up. */
static void expect_reply(const void *msg, size_t len, int err, int closes, int line)
{
    int fd = daemon_connect(&fx);
    CHECK(fd >= 0);
    CHECK_EQ(raw_write(fd, msg, len), 0);
    struct dlw_header h;
    char buf[512];
    CHECK_EQ(raw_recv(fd, &h, buf, sizeof buf), 1);
    CHECK_EQ(h.error, err);
    CHECK_EQ(h.seq, 42);
    if (closes)
        CHECK_EQ(raw_recv(fd, &h, buf, sizeof buf), 0);
    close(fd);
    still_serving(line);
}

/* A request on a connection that did CTR "1024 core 8" as (uuid m, luid 5). */
static int on_session(uint32_t type, const void *payload, size_t len, struct dlw_header *h,
                      void *rep, size_t cap)
{
    int fd = daemon_connect(&fx);
    if (fd < 0 || raw_ctr(fd, "m", 5, "1024 core 8") != 0)
        return -1;
    int r = raw_send(fd, type, "m", 5, 42, payload, len) == 0 ? raw_recv(fd, h, rep, cap) : -1;
    raw_send(fd, DLW_DTR, "m", 5, 43, NULL, 0);
    struct dlw_header h2;
    raw_recv(fd, &h2, NULL, 0);
    close(fd);
    return r;
}

static void expect_session_error(uint32_t type, const void *payload, size_t len, int err, int line)
{
    struct dlw_header h;
    char rep[512];
    CHECK_EQ(on_session(type, payload, len, &h, rep, sizeof rep), 1);
    if (h.error != err)
        fprintf(stderr, "line %d: got %d, want %d\n", line, h.error, err);
    CHECK_EQ(h.error, err);
    still_serving(line);
}

static void expect_ctr_error(const void *ctr, size_t len, int err, int line)
{
    uint8_t msg[DLW_HEADER_SIZE + 2048];
    header(msg, DLW_VERSION, DLW_CTR, (uint32_t)len, "c");
    memcpy(msg + DLW_HEADER_SIZE, ctr, len);
    expect_reply(msg, DLW_HEADER_SIZE + len, err, 0, line);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    /* --max-regions: the 2^44-region logs of case 9 must reach the log type. */
    const char *extra[] = {"--max-payload", "65536", "--max-regions", "17592186044416", NULL};
    if (daemon_start(&fx, argv[1], extra) < 0)
        return 1;
    char table[256];
    snprintf(table, sizeof table, "userspace 4 healthy socket=%s core 8", fx.socket);
    CHECK_EQ(dl_log_create_table(table, 1024, &healthy), 0);
    if (!healthy)
        return 1;
    uint8_t msg[DLW_HEADER_SIZE + 4096];
    uint8_t p[64] = {0}; /* every byte sent is defined (valgrind) */

    /* 1. short header, then the client vanishes */
    int fd = daemon_connect(&fx);
    header(msg, DLW_VERSION, DLW_IS_CLEAN, 8, "m");
    CHECK_EQ(raw_write(fd, msg, 100), 0);
    close(fd);
    still_serving(__LINE__);
    /* 2. wrong version: error reply, then hang-up */
    header(msg, 2, DLW_CTR, 0, "m");
    expect_reply(msg, DLW_HEADER_SIZE, -EPROTO, 1, __LINE__);
    /* 3. data_size over the protocol bound */
    header(msg, DLW_VERSION, DLW_MARK_REGION, 64u << 20, "m");
    expect_reply(msg, DLW_HEADER_SIZE, -EMSGSIZE, 1, __LINE__);
    /* 4. data_size over the daemon's --max-payload */
    header(msg, DLW_VERSION, DLW_MARK_REGION, 65537, "m");
    expect_reply(msg, DLW_HEADER_SIZE, -EMSGSIZE, 1, __LINE__);
    /* 5. data_size past the end: the client vanishes mid-payload */
    fd = daemon_connect(&fx);
    header(msg, DLW_VERSION, DLW_CTR, 100, "m");
    memcpy(msg + DLW_HEADER_SIZE, "1024 core", 9);
    CHECK_EQ(raw_write(fd, msg, DLW_HEADER_SIZE + 9), 0);
    close(fd);
    still_serving(__LINE__);
    /* 6. uuid without NUL: error reply, connection kept */
    header(msg, DLW_VERSION, DLW_GET_SYNC_COUNT, 0, "m");
    memset(msg + DLW_OFF_UUID, 'u', DLW_UUID_SIZE);
    expect_reply(msg, DLW_HEADER_SIZE, -EINVAL, 0, __LINE__);
    /* 7. unknown request types */
    header(msg, DLW_VERSION, 99, 0, "m");
    expect_reply(msg, DLW_HEADER_SIZE, -EOPNOTSUPP, 0, __LINE__);
    header(msg, DLW_VERSION, 0, 0, "m");
    expect_reply(msg, DLW_HEADER_SIZE, -EOPNOTSUPP, 0, __LINE__);
    /* 8. request before CTR */
    header(msg, DLW_VERSION, DLW_GET_SYNC_COUNT, 0, "healthy");
    expect_reply(msg, DLW_HEADER_SIZE, -ENOENT, 0, __LINE__);
    header(msg, DLW_VERSION, DLW_FLUSH, 0, "nolog");
    expect_reply(msg, DLW_HEADER_SIZE, -ENOENT, 0, __LINE__);
    /* 9. malformed constructors */
    expect_ctr_error("", 0, -EINVAL, __LINE__);
    expect_ctr_error("1024 co\0re 8", 12, -EINVAL, __LINE__);
    expect_ctr_error("abc core 8", 10, -EINVAL, __LINE__);
    expect_ctr_error("0 core 8", 8, -EINVAL, __LINE__);
    expect_ctr_error("1024", 4, -EINVAL, __LINE__);
    expect_ctr_error("1024 nosuchtype 8", 17, -ENOENT, __LINE__);
    expect_ctr_error("1024 core 1000", 14, -EINVAL, __LINE__);
    expect_ctr_error("99999999999999999999999 core 8", 30, -EINVAL, __LINE__);
    expect_ctr_error("18446744073709551616 core 8", 27, -EINVAL, __LINE__); /* 2^64 */
    {
        /* Every u64 target is a number: 2^64 - 1 and its neighbours reach the
         * log type (one strict parser everywhere). */
        int big = daemon_connect(&fx);
        CHECK(big >= 0);
        CHECK_EQ(raw_ctr(big, "big", 1, "18446744073709551615 core 1048576"), 0);
        uint64_t size = 0;
        CHECK_EQ(raw_region(big, DLW_IS_CLEAN, "big", 1, 17592186044415, &size), 0);
        close(big);
        big = daemon_connect(&fx);
        CHECK(big >= 0);
        CHECK_EQ(raw_ctr(big, "big2", 1, "18446744073709551610 core 1048576"), 0);
        close(big);
    }
    char many[1024] = "1024 core";
    for (int i = 0; i < 100; i++)
        strcat(many, " x");
    expect_ctr_error(many, strlen(many), -E2BIG, __LINE__);
    /* 10. payload shapes */
    put_le64(p, 128);
    expect_session_error(DLW_IS_CLEAN, p, 8, -ERANGE, __LINE__); /* region out of range */
    expect_session_error(DLW_IS_CLEAN, p, 4, -EINVAL, __LINE__); /* truncated payload */
    expect_session_error(DLW_MARK_REGION, p, 12, -EINVAL, __LINE__);
    expect_session_error(DLW_SET_REGION_SYNC, p, 8, -EINVAL, __LINE__);
    expect_session_error(DLW_GET_REGION_SIZE, p, 8, -EINVAL, __LINE__);
    expect_session_error(DLW_IS_REMOTE_RECOVERING, p, 8, -ERANGE, __LINE__);
    put_le64(p, 3);
    put_le64(p + 8, 1u << 31);
    expect_session_error(DLW_MARK_REGION, p, 16, -ERANGE, __LINE__);
    expect_session_error(DLW_FLUSH, p, 16, -ERANGE, __LINE__);
    expect_session_error(DLW_ADMIN_RELEASE, p, 3, -EINVAL, __LINE__);
    /* a batch with one bad region changes nothing */
    struct dlw_header h;
    uint8_t rep[64];
    CHECK_EQ(on_session(DLW_IS_CLEAN, p, 8, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    CHECK_U64(get_le64(rep), 1);
    /* 11. only the low 8 bits name the request; the reply echoes all 32 */
    CHECK_EQ(on_session(0x12300000u | DLW_GET_REGION_SIZE, NULL, 0, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    CHECK_EQ(h.request_type, 0x12300000u | DLW_GET_REGION_SIZE);
    CHECK_U64(get_le64(rep), 8);
    still_serving(__LINE__);
    /* 12. another client's session from this connection */
    fd = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(fd, "m", 6, "1024 core 8"), 0);
    put_le64(p, 1);
    CHECK_EQ(raw_region(fd, DLW_IS_CLEAN, "m", 7, 1, NULL), -ENOENT);
    close(fd);
    still_serving(__LINE__);
    /* 13. two requests in one write, and a header split byte by byte */
    fd = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(fd, "m", 8, "1024 core 8"), 0);
    header(msg, DLW_VERSION, DLW_GET_SYNC_COUNT, 0, "m");
    put_le64(msg + DLW_OFF_LUID, 8);
    memcpy(msg + DLW_HEADER_SIZE, msg, DLW_HEADER_SIZE);
    CHECK_EQ(raw_write(fd, msg, 2 * DLW_HEADER_SIZE), 0);
    CHECK_EQ(raw_recv(fd, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    CHECK_EQ(raw_recv(fd, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    for (unsigned i = 0; i < DLW_HEADER_SIZE; i++)
        CHECK_EQ(raw_write(fd, msg + i, 1), 0);
    CHECK_EQ(raw_recv(fd, &h, rep, sizeof rep), 1);
    CHECK_EQ(h.error, 0);
    close(fd);
    still_serving(__LINE__);
    /* 14. garbage */
    fd = daemon_connect(&fx);
    memset(msg, 0xff, DLW_HEADER_SIZE);
    CHECK_EQ(raw_write(fd, msg, DLW_HEADER_SIZE), 0);
    CHECK_EQ(raw_recv(fd, &h, rep, sizeof rep), 1);
    CHECK(h.error < 0);
    close(fd);
    still_serving(__LINE__);

    CHECK(cases >= 20);
    printf("%d malformed cases\n", cases);
    dl_log_destroy(healthy);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_malformed");
}
