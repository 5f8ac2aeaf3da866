/* Connections are bounded in time:
 *  - slowloris: a request still incomplete --io-timeout after its first
 *    byte closes the connection, however steadily its bytes trickle in;
 *    requests that each arrive within the bound keep it open;
 *  - idle: a connection without a request for --idle-timeout is closed, and
 *    that is harmless: the library client reconnects on its next request
 *    and its acknowledged marks are still there. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "dirtylog.h"
#include "hostile_client.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define PACE_MS 300 /* between two pieces a slow client sends */

static void slow_requests(const char *binary)
{
    struct daemon_fx fx = {0};
    const char *extra[] = {"-j", "1", "--io-timeout", "2", "--idle-timeout", "600", NULL};
    if (daemon_start(&fx, binary, extra) < 0) {
        CHECK(0);
        return;
    }
    uint8_t msg[DLW_HEADER_SIZE + 8];

    /* Eight whole requests, each in two halves PACE_MS apart: 2.4 s in all,
     * longer than --io-timeout, but each request is on time. */
    int fd = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(fd, "slow", 1, "1024 core 8"), 0);
    int answered = 0;
    for (uint32_t i = 0; i < 8; i++) {
        is_clean_request(msg, "slow", 1, 10 + i, 3);
        if (raw_write(fd, msg, 100) < 0 || wait_hangup(fd, PACE_MS) ||
            raw_write(fd, msg + 100, sizeof msg - 100) < 0)
            break;
        struct dlw_header h;
        uint8_t rep[64];
        if (raw_recv(fd, &h, rep, sizeof rep) == 1 && h.error == 0 && h.seq == 10 + i)
            answered++;
    }
    CHECK_EQ(answered, 8);
    close(fd);

    /* Slowloris: one byte every PACE_MS; the header alone would take 48 s. */
    fd = daemon_connect(&fx);
    is_clean_request(msg, "slow", 2, 1, 3);
    int64_t t0 = mono_ms();
    int hung_up = 0;
    size_t sent = 0;
    while (!hung_up && sent < sizeof msg && mono_ms() - t0 < 10000) {
        if (raw_write(fd, msg + sent, 1) < 0) {
            hung_up = 1;
            break;
        }
        sent++;
        hung_up = wait_hangup(fd, PACE_MS);
    }
    int64_t took = mono_ms() - t0;
    CHECK(hung_up);
    CHECK(took >= 1500); /* not before --io-timeout 2 (a little slack for clocks) */
    CHECK(took < 8000);
    printf("slowloris closed after %lld ms and %zu bytes\n", (long long)took, sent);
    close(fd);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
}

static void idle_connections(const char *binary)
{
    struct daemon_fx fx = {0};
    const char *extra[] = {"-j", "1", "--idle-timeout", "1", NULL};
    if (daemon_start(&fx, binary, extra) < 0) {
        CHECK(0);
        return;
    }
    char table[256];
    snprintf(table, sizeof table, "userspace 4 idle socket=%s core 8", fx.socket);
    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_table(table, 1024 * 8, &log), 0);
    if (!log)
        return;
    CHECK_EQ(dl_log_resume(log), 0);
    dl_log_mark_region(log, 5);
    CHECK_EQ(dl_log_flush(log), 0); /* an acknowledged mark */

    /* A raw connection opened after the library's: once the daemon has
     * closed it for idleness, it has closed the library's too (-j 1: one
     * worker, the earlier deadline first). */
    int fd = daemon_connect(&fx);
    /* The daemon's idle clock starts when the CTR arrives, which is after
     * t0: however late this process runs, the close comes >= 1 s after t0. */
    int64_t t0 = mono_ms();
    CHECK_EQ(raw_ctr(fd, "idle-raw", 1, "1024 core 8"), 0);
    CHECK_EQ(wait_hangup(fd, 8000), 1);
    int64_t took = mono_ms() - t0;
    CHECK(took >= 900); /* --idle-timeout 1, a little slack for clocks */
    printf("idle connection closed after %lld ms (--idle-timeout 1)\n", (long long)took);
    close(fd);

    /* Harmless: the next request reconnects; the mark is still there. */
    CHECK_EQ(dl_log_is_clean(log, 5), 0);
    CHECK_EQ(dl_log_is_clean(log, 6), 1);
    dl_log_clear_region(log, 5);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 5), 1);
    dl_log_destroy(log);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    slow_requests(argv[1]);
    idle_connections(argv[1]);
    return test_exit_status("test_conn_timeouts");
}
