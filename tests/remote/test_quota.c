/* Bounded resources in the daemon (issue 8 §4):
 * - one 1 MiB sparse MARK on a 2^40-region core log (it used to add ~540 MB
 *   of RSS): refused, more than DLD_MAX_REGIONS_PER_REQUEST regions; sparse
 *   marks in allowed batches stop at the per-log memory quota (-EDQUOT) and
 *   the daemon's RSS stays bounded;
 * - the per-uid memory quota over two logs, given back by clears;
 * - logs per uid and clients per log;
 * - clears held during a restart's grace period count against the quota;
 * - the region cap (--max-regions) with a clear error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;
static uint8_t payload[DLW_MAX_PAYLOAD];

/* A MARK_REGION of n regions start, start + stride, ...; the reply's error
 * (its message into msg). */
static int mark(int fd, const char *uuid, uint64_t luid, uint64_t start, uint64_t stride,
                size_t n, char *msg, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        put_le64(payload + 8 * i, start + i * stride);
    struct dlw_header h;
    msg[0] = '\0';
    if (raw_send(fd, DLW_MARK_REGION, uuid, luid, 3, payload, n * 8) < 0 ||
        raw_recv(fd, &h, msg, cap - 1) != 1)
        return -1000;
    msg[h.data_size < cap - 1 ? h.data_size : cap - 1] = '\0';
    return h.error;
}

static int clear(int fd, const char *uuid, uint64_t luid, uint64_t start, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_le64(payload + 8 * i, start + i);
    struct dlw_header h;
    char rep[256];
    if (raw_send(fd, DLW_CLEAR_REGION, uuid, luid, 4, payload, n * 8) < 0 ||
        raw_recv(fd, &h, rep, sizeof rep) != 1)
        return -1000;
    return h.error;
}

/* The daemon's resident set in KiB (Linux /proc), or 0 if unknown. */
static unsigned long daemon_rss_kib(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)fx.pid);
    FILE *f = fopen(path, "r");
    unsigned long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void test_sparse_marks(const char *binary)
{
    const char *extra[] = {"--max-regions", "2199023255552", NULL}; /* 2^41 */
    CHECK_EQ(daemon_start(&fx, binary, extra), 0);
    int fd = daemon_connect(&fx);
    char ctr[64], msg[512];
    snprintf(ctr, sizeof ctr, "%llu core 8", 8ull << 40); /* 2^40 regions */
    CHECK_EQ(raw_ctr(fd, "sparse", 1, ctr), 0);
    unsigned long rss0 = daemon_rss_kib();
    /* 131072 regions, each in its own 32 Ki-region group. */
    CHECK_EQ(mark(fd, "sparse", 1, 0, 1u << 15, DLW_MAX_PAYLOAD / 8, msg, sizeof msg), -E2BIG);
    CHECK(strstr(msg, "at most") != NULL);
    /* Allowed batches of 1024 sparse regions (~8 MiB of charge each) until
     * the per-log quota (64 MiB by default) says no. */
    int r = 0;
    unsigned batches = 0;
    for (; batches < 64 && (r = mark(fd, "sparse", 1, (uint64_t)batches << 30, 1u << 15, 1024,
                                     msg, sizeof msg)) == 0;
         batches++) {
    }
    CHECK_EQ(r, -EDQUOT);
    CHECK(strstr(msg, "per log") != NULL);
    CHECK(batches >= 4 && batches < 10);
    unsigned long rss1 = daemon_rss_kib();
    if (rss0 && rss1) {
        printf("daemon RSS %lu KiB -> %lu KiB after %u accepted batches\n", rss0, rss1, batches);
        CHECK(rss1 - rss0 < 160 * 1024); /* well under the 540 MB of one unbounded MARK */
    }
    close(fd);
    daemon_cleanup(&fx); /* a fresh state directory for the next daemon */
}

static void test_uid_quota(const char *binary)
{
    const char *extra[] = {"--max-uid-memory", "1048576", "--max-logs-per-uid", "3",
                           "--max-clients-per-log", "2", NULL};
    CHECK_EQ(daemon_start(&fx, binary, extra), 0);
    int a = daemon_connect(&fx), b = daemon_connect(&fx);
    char msg[512];
    CHECK_EQ(raw_ctr(a, "q1", 1, "65536 core 8"), 0);
    CHECK_EQ(raw_ctr(b, "q2", 1, "65536 core 8"), 0);
    /* 8192 dense marks cost ~0.78 MB: one log fits, two do not. */
    CHECK_EQ(mark(a, "q1", 1, 0, 1, 8192, msg, sizeof msg), 0);
    CHECK_EQ(mark(b, "q2", 1, 0, 1, 8192, msg, sizeof msg), -EDQUOT);
    CHECK(strstr(msg, "per uid") != NULL);
    CHECK_EQ(clear(a, "q1", 1, 0, 8192), 0); /* gives the entries back */
    CHECK_EQ(mark(b, "q2", 1, 0, 1, 8192, msg, sizeof msg), 0);

    /* logs per uid: q1, q2, q3 — and no fourth */
    int c = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(c, "q3", 1, "1024 core 8"), 0);
    CHECK_EQ(raw_ctr(c, "q4", 1, "1024 core 8"), -EMFILE);
    /* clients per log: two of q3, not three */
    int d = daemon_connect(&fx), e = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(d, "q3", 2, "1024 core 8"), 0);
    CHECK_EQ(raw_ctr(e, "q3", 3, "1024 core 8"), -EMFILE);
    /* the region cap */
    char ctr[64];
    snprintf(ctr, sizeof ctr, "%llu core 8", 8ull << 33); /* 2^33 regions > 2^32 */
    CHECK_EQ(raw_ctr(e, "q1", 5, ctr), -EINVAL); /* q1 exists with another constructor */
    close(a);
    close(b);
    close(c);
    close(d);
    close(e);
    daemon_cleanup(&fx); /* a fresh state directory for the next daemon */
}

/* Clears held by a restart's grace period are charged too (else a client
 * could grow the held set without bound while another is away). */
static void test_held_clears(const char *binary)
{
    const char *extra[] = {"--max-log-memory", "1048576", NULL};
    CHECK_EQ(daemon_start(&fx, binary, extra), 0);
    int a = daemon_connect(&fx);
    char msg[512];
    CHECK_EQ(raw_ctr(a, "held", 1, "262144 core 8"), 0);
    CHECK_EQ(mark(a, "held", 1, 0, 1, 1, msg, sizeof msg), 0);
    daemon_kill9(&fx);
    CHECK_EQ(daemon_start(&fx, binary, extra), 0); /* "held" in grace: client 1 awaited */
    close(a);
    int b = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(b, "held", 2, "262144 core 8"), 0);
    CHECK_EQ(clear(b, "held", 2, 0, 8192), 0);     /* ~0.8 MB of held clears */
    CHECK_EQ(clear(b, "held", 2, 8192, 8192), -EDQUOT);
    CHECK_EQ(clear(b, "held", 2, 0, 8192), 0);     /* already held: free */
    char spec[64];
    snprintf(spec, sizeof spec, "held:%08x", (unsigned)dl__wire_client_tag(1));
    CHECK_EQ(daemon_release(&fx, spec), 0);        /* grace over: charge given back */
    CHECK_EQ(clear(b, "held", 2, 8192, 8192), 0);
    close(b);
    daemon_cleanup(&fx);
}

static void test_region_cap(const char *binary)
{
    const char *extra[] = {"--max-regions", "1000", NULL};
    CHECK_EQ(daemon_start(&fx, binary, extra), 0);
    int fd = daemon_connect(&fx);
    CHECK_EQ(raw_ctr(fd, "cap", 1, "8000 core 8"), 0);  /* 1000 regions */
    CHECK_EQ(raw_ctr(fd, "cap2", 1, "8001 core 8"), -EFBIG); /* 1001 */
    char path[200], ctr[300];
    snprintf(path, sizeof path, "%s/capped.log", fx.dir);
    snprintf(ctr, sizeof ctr, "8008 disk %s 8", path);
    CHECK_EQ(raw_ctr(fd, "cap3", 1, ctr), -EFBIG);
    CHECK(access(path, F_OK) != 0); /* refused before anything was written */
    close(fd);
    daemon_cleanup(&fx); /* a fresh state directory for the next daemon */
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    test_sparse_marks(argv[1]);
    test_uid_quota(argv[1]);
    test_held_clears(argv[1]);
    test_region_cap(argv[1]);
    daemon_cleanup(&fx);
    return test_exit_status("test_quota");
}
