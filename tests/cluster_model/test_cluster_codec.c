/* The cluster wire codec (cluster_msg.h) and the checkpoint blob
 * (cls_replica_encode / clr_decode): round trips, and rejection of every
 * truncated, extended or corrupted message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_replica.h"
#include "common/check.h"

TEST_MAIN_DEFINITIONS

/* A check whose failure needs a word of context: true when it failed. */
#define FAILED(cond) (!(cond) && (check_true_(0, "CHECK", __FILE__, __LINE__, #cond), 1))

/* Every strict prefix and the message with one extra byte must fail. */
static void check_lengths(const uint8_t *buf, size_t len)
{
    struct clm_msg m;
    uint8_t big[4096];
    for (size_t n = 0; n < len; n++)
        if (FAILED(clm_decode(buf, n, &m) < 0))
            fprintf(stderr, "  prefix of %zu of %zu bytes accepted\n", n, len);
    memcpy(big, buf, len);
    big[len] = 0;
    CHECK(clm_decode(big, len + 1, &m) < 0);
}

static int test_round_trips(void)
{
    uint8_t buf[4096];
    struct clm_msg m;
    uint64_t marks[3] = {1, 2, (1ull << 40) + 7}, clears[2] = {9, 0};
    size_t n = clm_encode_flush(buf, 77, marks, 3, clears, 2);
    CHECK_U64(n, clm_flush_size(3, 2));
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_EQ(m.type, CLM_FLUSH);
    CHECK_U64(m.seq, 77);
    CHECK_EQ(m.nmarks, 3);
    CHECK_EQ(m.nclears, 2);
    CHECK_U64(clm_flush_region(&m, 2), (1ull << 40) + 7);
    CHECK_U64(clm_flush_region(&m, 3), 9);
    /* The bytes are the documented ones: magic "dlcl", version, type. */
    CHECK(memcmp(buf, "dlcl\x01\x01\x00\x00", 8) == 0);
    CHECK_EQ(buf[8], 77);
    check_lengths(buf, n);

    n = clm_encode_request_work(buf, 5);
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_EQ(m.type, CLM_REQUEST_WORK);
    check_lengths(buf, n);

    n = clm_encode_barrier(buf, 4);
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_EQ(m.type, CLM_BARRIER);
    CHECK_U64(m.seq, 4);
    check_lengths(buf, n);

    n = clm_encode_set_sync(buf, 6, 123456789, 1);
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_EQ(m.type, CLM_SET_SYNC);
    CHECK_U64(m.region, 123456789);
    CHECK_EQ(m.in_sync, 1);
    check_lengths(buf, n);
    buf[CLM_HEADER_SIZE + 8] = 2; /* in_sync is 0 or 1 */
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    buf[CLM_HEADER_SIZE + 8] = 0;
    buf[CLM_HEADER_SIZE + 12] = 1; /* reserved bytes are zero */
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);

    n = clm_encode_durable(buf, 8, 99);
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_U64(m.index, 99);
    check_lengths(buf, n);

    uint32_t view[3] = {1, 4, 9}, side[2] = {4, 9};
    n = clm_encode_checkpoint(buf, 9, 1, 3, view, 3, side, 2, (const uint8_t *)"hello", 5);
    CHECK_U64(n, clm_checkpoint_size(3, 2, 5));
    REQUIRE_EQ(clm_decode(buf, n, &m), 0);
    CHECK_EQ(m.chunk, 1);
    CHECK_EQ(m.nchunks, 3);
    CHECK_EQ(m.nview, 3);
    CHECK_EQ(m.view[2], 9);
    CHECK_EQ(m.side[0], 4);
    CHECK_EQ(m.data_len, 5);
    CHECK(memcmp(m.data, "hello", 5) == 0);
    check_lengths(buf, n);
    return 0;
}

static int test_rejections(void)
{
    uint8_t buf[256];
    struct clm_msg m;
    size_t n = clm_encode_durable(buf, 1, 1);
    buf[4] = 2; /* another version */
    CHECK_EQ(clm_decode(buf, n, &m), -EPROTO);
    buf[4] = 1;
    buf[0] ^= 1; /* not our magic */
    CHECK_EQ(clm_decode(buf, n, &m), -EPROTO);
    buf[0] ^= 1;
    buf[5] = 99; /* unknown type */
    CHECK_EQ(clm_decode(buf, n, &m), -EOPNOTSUPP);
    buf[5] = CLM_DURABLE;
    buf[6] = 1; /* reserved */
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    CHECK_EQ(clm_decode(NULL, 0, &m), -EBADMSG);

    /* A FLUSH whose counts claim more regions than it carries. */
    uint64_t one = 1;
    n = clm_encode_flush(buf, 1, &one, 1, NULL, 0);
    buf[CLM_HEADER_SIZE] = 2;
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    buf[CLM_HEADER_SIZE] = 0xff;
    buf[CLM_HEADER_SIZE + 3] = 0xff; /* 2^32 - 1 marks: no overflow */
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);

    /* Checkpoints: unsorted view, zero id, side outside the view, chunk past the count. */
    uint32_t bad_view[2] = {4, 1}, view[2] = {1, 4}, zero[2] = {0, 4}, other[1] = {7}, side[1] = {4};
    n = clm_encode_checkpoint(buf, 1, 0, 1, bad_view, 2, side, 1, NULL, 0);
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    n = clm_encode_checkpoint(buf, 1, 0, 1, zero, 2, side, 1, NULL, 0);
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    n = clm_encode_checkpoint(buf, 1, 0, 1, view, 2, other, 1, NULL, 0);
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    n = clm_encode_checkpoint(buf, 1, 1, 1, view, 2, side, 1, NULL, 0);
    CHECK_EQ(clm_decode(buf, n, &m), -EBADMSG);
    n = clm_encode_checkpoint(buf, 1, 0, 1, view, 2, side, 1, NULL, 0);
    CHECK_EQ(clm_decode(buf, n, &m), 0);
    return 0;
}

/* The checkpoint blob: a replica survives encode/decode exactly; every
 * truncation and a trailing byte fail; bad regions and ids fail. */
static int test_blob(void)
{
    struct cls_replica a, b;
    REQUIRE_EQ(clr_init(&a, 1000, 0), 0);
    for (uint64_t r = 100; r < 300; r++) /* a run, plus single bits */
        CHECK_EQ(clr_set_range(a.oos, r, r + 1), 0);
    CHECK_EQ(clr_set_range(a.oos, 999, 1000), 0);
    CHECK_EQ(clr_orphan(&a, 5), 0);
    CHECK_EQ(clr_mark(&a, 3, 7), 0);
    CHECK_EQ(clr_mark(&a, 3, 700), 0);
    CHECK_EQ(clr_mark(&a, 1, 7), 0);
    int added;
    *dl__u64map_put(&a.recovering, 150, &added) = 3;
    a.applied = 42;
    uint8_t *blob, *again;
    size_t len, len2;
    REQUIRE_EQ(cls_replica_encode(&a, 0, &blob, &len), 0);
    unsigned fresh = 99;
    REQUIRE_EQ(clr_decode(blob, len, 1000, &b, &fresh), 0);
    CHECK_EQ(fresh, 0);
    REQUIRE_EQ(cls_replica_encode(&b, 0, &again, &len2), 0);
    CHECK(len == len2 && memcmp(blob, again, len) == 0);
    CHECK_EQ(dl__u64map_get(&b.dirty, 7) ? (long long)*dl__u64map_get(&b.dirty, 7) : 0, 2);
    CHECK_U64(b.applied, 42);
    free(again);
    clr_fini(&b);
    /* Flags: fresh and unknown round-trip, other bits are refused. */
    uint8_t *fb;
    size_t flen;
    REQUIRE_EQ(cls_replica_encode(&a, CLS_BLOB_FRESH | CLS_BLOB_UNKNOWN, &fb, &flen), 0);
    REQUIRE_EQ(clr_decode(fb, flen, 1000, &b, &fresh), 0);
    CHECK_EQ(fresh, CLS_BLOB_FRESH | CLS_BLOB_UNKNOWN);
    clr_fini(&b);
    fb[0] = 4;
    CHECK_EQ(clr_decode(fb, flen, 1000, &b, &fresh), -EBADMSG);
    free(fb);
    for (size_t n = 0; n < len; n++)
        if (FAILED(clr_decode(blob, n, 1000, &b, &fresh) < 0)) {
            fprintf(stderr, "  blob prefix %zu of %zu accepted\n", n, len);
            clr_fini(&b);
        }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, blob, len);
    longer[len] = 0;
    CHECK_EQ(clr_decode(longer, len + 1, 1000, &b, &fresh), -EBADMSG);
    CHECK_EQ(clr_decode(blob, len, 999, &b, &fresh), -EBADMSG); /* another log's size */
    free(longer);
    /* A region past the end anywhere is refused: flip the orphan 5 to 5000. */
    size_t orphan_at = 24 + 8 + 3 * 16 + 8; /* runs: 5, 100..299, 999 */ /* header, nruns, 2 runs, count */
    CHECK_EQ(blob[orphan_at], 5);
    blob[orphan_at + 1] = 0x13; /* 5 + 0x1300 */
    CHECK_EQ(clr_decode(blob, len, 1000, &b, &fresh), -EBADMSG);
    free(blob);
    clr_fini(&a);
    return 0;
}

int main(void)
{
    test_round_trips();
    test_rejections();
    test_blob();
    return test_exit_status("test_cluster_codec");
}
