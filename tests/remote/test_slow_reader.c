/* Replies never block a worker. Two clients send requests and never read
 * the replies; a third client served by the same worker (-j 1) must get
 * its 100 round trips done quickly (before: the worker waited up to 10 s
 * per reply the non-readers did not take). A non-reader that then reads
 * gets every reply, in order; one that never reads is closed after
 * --io-timeout. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "hostile_client.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define ROUND_TRIPS 100
/* Generous for 100 round trips of ~50 us, and below the old 10 s stall. */
#define ROUND_TRIPS_BOUND_MS 5000

/* Push requests until the daemon stops taking them: the socket stays
 * unwritable for a while (the daemon stopped reading this client). */
static long fill_until_blocked(int fd, const char *uuid, uint64_t luid)
{
    long total = 0;
    for (int rounds = 0; rounds < 1000; rounds++) {
        long n = send_without_reading(fd, uuid, luid, 100000);
        if (n < 0)
            return -1;
        total += n;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 300) == 0)
            break;
    }
    return total;
}

static void legit_client_is_not_delayed(const char *binary)
{
    struct daemon_fx fx = {0};
    const char *extra[] = {"-j", "1", "--io-timeout", "60", NULL};
    if (daemon_start(&fx, binary, extra) < 0) {
        CHECK(0);
        return;
    }
    int bad[2];
    long sent[2];
    for (int i = 0; i < 2; i++) {
        bad[i] = daemon_connect(&fx);
        CHECK_EQ(raw_ctr(bad[i], "nonreader", 1 + (uint64_t)i, "1024 core 8"), 0);
        sent[i] = fill_until_blocked(bad[i], "nonreader", 1 + (uint64_t)i);
        CHECK(sent[i] > 0);
    }
    int good = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(good, "legit", 9, "1024 core 8"), 0);
    int64_t t0 = mono_ms();
    int answered = 0;
    for (int i = 0; i < ROUND_TRIPS && mono_ms() - t0 < 3 * ROUND_TRIPS_BOUND_MS; i++) {
        uint64_t clean = 0;
        if (raw_region(good, DLW_IS_CLEAN, "legit", 9, (uint64_t)i, &clean) == 0 && clean == 1)
            answered++;
    }
    int64_t took = mono_ms() - t0;
    CHECK_EQ(answered, ROUND_TRIPS);
    CHECK(took < ROUND_TRIPS_BOUND_MS);
    printf("%d round trips beside 2 non-readers (%ld and %ld requests unread): %lld ms\n",
           answered, sent[0], sent[1], (long long)took);

    /* The first non-reader now reads: every reply is there, in order. */
    long ok = 0;
    for (long i = 0; i < sent[0]; i++) {
        struct dlw_header h;
        uint8_t payload[64];
        if (raw_recv(bad[0], &h, payload, sizeof payload) != 1)
            break;
        if (h.error == 0 && h.request_type == DLW_IS_CLEAN && h.seq == 1000u + (uint32_t)(i % 64))
            ok++;
    }
    CHECK_EQ(ok, sent[0]);
    close(bad[0]);
    close(bad[1]);
    close(good);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
}

static void non_reader_is_closed(const char *binary)
{
    struct daemon_fx fx = {0};
    const char *extra[] = {"-j", "1", "--io-timeout", "1", NULL};
    if (daemon_start(&fx, binary, extra) < 0) {
        CHECK(0);
        return;
    }
    int bad = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(bad, "nonreader", 1, "1024 core 8"), 0);
    CHECK(fill_until_blocked(bad, "nonreader", 1) > 0);
    int64_t t0 = mono_ms();
    CHECK_EQ(wait_hangup(bad, 6000), 1);
    printf("a non-reader was closed %lld ms after it filled its buffers (--io-timeout 1)\n",
           (long long)(mono_ms() - t0));
    close(bad);
    /* The daemon serves on. */
    int good = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(good, "legit", 2, "1024 core 8"), 0);
    close(good);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    legit_client_is_not_delayed(argv[1]);
    non_reader_is_closed(argv[1]);
    return test_exit_status("test_slow_reader");
}
