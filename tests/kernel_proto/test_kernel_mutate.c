/* The kernel front end against mutated datagrams (a deterministic, bounded
 * mutation run, not a fuzzer): valid requests of every kind with bytes
 * flipped, cut or extended, fed to dld_kernel_handle() over a live request
 * layer. For each: a datagram that is ours (NLMSG_DONE, device-mapper's
 * connector id, a non-empty cn_msg) gets exactly one reply, matched on its
 * seq, with no payload when it is an error; anything else gets none; and
 * nothing is read or written out of bounds (run it under ASan). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "kernel.h"
#include "kernel_msg.h"

TEST_MAIN_DEFINITIONS

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t h32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t h16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static size_t base_request(unsigned which, uint8_t *out, size_t cap)
{
    static const char ctr[] = "1024 core 8";
    uint64_t regions[4] = {1, 2, 3, 127};
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.luid = 42;
    snprintf(h.uuid, sizeof h.uuid, "mutant");
    h.version = DLK_ULOG_VERSION;
    h.seq = (uint32_t)next();
    switch (which % 6) {
    case 0:
        h.request_type = DLW_CTR;
        return dlk_encode_request(&h, (const uint8_t *)ctr, sizeof ctr, out, cap);
    case 1:
        h.request_type = DLW_MARK_REGION;
        return dlk_encode_request(&h, (const uint8_t *)regions, sizeof regions, out, cap);
    case 2:
        h.request_type = DLW_FLUSH;
        return dlk_encode_request(&h, (const uint8_t *)regions, 16, out, cap);
    case 3:
        h.request_type = DLW_IS_CLEAN;
        return dlk_encode_request(&h, (const uint8_t *)regions, 8, out, cap);
    case 4:
        h.request_type = DLW_STATUS_INFO;
        return dlk_encode_request(&h, NULL, 0, out, cap);
    default:
        h.request_type = DLW_SET_REGION_SYNC;
        return dlk_encode_request(&h, (const uint8_t *)regions, 16, out, cap);
    }
}

int main(void)
{
    struct dld_limits limits = {.max_logs = 8, .max_regions = 1u << 20};
    struct dld_server srv;
    REQUIRE_EQ(dld_server_init(&srv, &limits), 0);
    static uint8_t out[DLK_MAX_DATAGRAM], base[1024];
    unsigned iterations = getenv("DL_SANITIZER") ? 3000 : 20000;
    unsigned answered = 0, ignored = 0;

    /* A log to act on: the base CTR, unmutated. */
    size_t n = base_request(0, base, sizeof base);
    size_t rn = dld_kernel_handle(&srv, base, n, out, sizeof out);
    CHECK(rn > 0 && h32(out + 36 + DLW_OFF_ERROR) == 0);

    for (unsigned it = 0; it < iterations; it++) {
        n = base_request((unsigned)next(), base, sizeof base);
        unsigned flips = (unsigned)(next() % 4);
        for (unsigned f = 0; f < flips; f++)
            base[next() % n] ^= (uint8_t)(1u << (next() % 8));
        if (next() % 4 == 0) { /* cut or extend with noise */
            size_t to = (size_t)(next() % (n + 16));
            for (size_t i = n; i < to && i < sizeof base; i++)
                base[i] = (uint8_t)next();
            n = to < sizeof base ? to : sizeof base;
        }
        uint8_t *in = malloc(n ? n : 1); /* exact size: ASan sees an over-read */
        REQUIRE(in != NULL);
        memcpy(in, base, n);
        rn = dld_kernel_handle(&srv, in, n, out, sizeof out);

        int ours = n >= 36 && h16(in + 4) == DLK_NLMSG_DONE && h32(in + 16) == DLK_CN_IDX_DM &&
                   h32(in + 20) == DLK_CN_VAL_USERSPACE_LOG && h16(in + 32) != 0;
        CHECK_EQ(rn > 0, ours);
        if (rn > 0) {
            answered++;
            CHECK(rn <= sizeof out);
            CHECK_EQ(h32(out), rn); /* nlmsg_len */
            int bare = h16(out + 32) == 0;
            if (bare) {
                CHECK_EQ(rn, 36);
                CHECK_EQ(h32(out + 24), h32(in + 24)); /* cn seq */
                CHECK(h32(out + 28) != 0);             /* an errno */
            } else {
                CHECK_EQ(h32(out + 36 + DLW_OFF_SEQ), h32(in + 36 + DLW_OFF_SEQ));
                int32_t err = (int32_t)h32(out + 36 + DLW_OFF_ERROR);
                uint32_t size = h32(out + 36 + DLW_OFF_DATA_SIZE);
                CHECK_EQ(rn, 36 + 160 + size);
                if (err != 0)
                    CHECK_EQ(size, 0);
            }
        } else {
            ignored++;
        }
        free(in);
    }
    /* The mutations reached both sides. */
    CHECK(answered > iterations / 4);
    CHECK(ignored > 0);
    dld_server_destroy(&srv);
    printf("%u answered, %u ignored\n", answered, ignored);
    return test_exit_status("test_kernel_mutate");
}
