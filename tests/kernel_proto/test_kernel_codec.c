/* The kernel's framing (tools/dirtylogd/kernel_msg.c, docs/kernel.md
 * "Framing"), byte by byte: a request as the kernel sends it, a reply and a
 * bare ack as the kernel reads them, round trips, and every malformed
 * datagram classified (ignored, answered with a bare ack, or answered with
 * the request header), including every truncation of a valid datagram.
 * No kernel, no daemon. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "kernel_msg.h"

TEST_MAIN_DEFINITIONS

/* Expected bytes in host order, built by shifts (not by the codec's
 * memcpy), so a byte-order mistake in either shows. */
static int host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b[2];
    memcpy(b, &one, 2);
    return b[0] == 1;
}

static void want(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        unsigned shift = 8 * (host_is_le() ? i : bytes - 1 - i);
        p[i] = (uint8_t)(v >> shift);
    }
}

static struct dlw_header sample_header(uint32_t type, uint32_t len)
{
    struct dlw_header h;
    memset(&h, 0, sizeof h);
    h.luid = 0x0102030405060708ull;
    snprintf(h.uuid, sizeof h.uuid, "LVM-abcdef");
    h.version = DLK_ULOG_VERSION;
    h.seq = 0x11223344u;
    h.request_type = type;
    h.data_size = len;
    return h;
}

/* The expected datagram of a request or reply: every byte. */
static size_t expected(const struct dlw_header *h, int32_t error, uint32_t cn_seq, uint32_t ack,
                       const uint8_t *payload, uint32_t len, uint8_t *e)
{
    size_t total = 16 + 20 + (len || h ? 160 + len : 0);
    memset(e, 0, total);
    want(e + 0, total, 4);
    want(e + 4, 3, 2); /* NLMSG_DONE */
    want(e + 16, 7, 4);
    want(e + 20, 1, 4);
    want(e + 24, cn_seq, 4);
    want(e + 28, ack, 4);
    want(e + 32, h ? 160 + len : 0, 2);
    if (!h)
        return 36;
    uint8_t *r = e + 36;
    want(r + 0, h->luid, 8);
    memcpy(r + 8, h->uuid, strlen(h->uuid));
    want(r + 140, h->version, 4);
    want(r + 144, (uint32_t)error, 4);
    want(r + 148, h->seq, 4);
    want(r + 152, h->request_type, 4);
    want(r + 156, len, 4);
    memcpy(r + 160, payload, len);
    return total;
}

static void test_bytes(void)
{
    uint8_t out[DLK_MAX_DATAGRAM], e[DLK_MAX_DATAGRAM];
    uint8_t payload[16];
    want(payload, 5, 8);
    want(payload + 8, 0x8000000000000001ull, 8);

    /* A request as the kernel frames it. */
    struct dlw_header h = sample_header(DLW_MARK_REGION, 16);
    size_t n = dlk_encode_request(&h, payload, 16, out, sizeof out);
    size_t en = expected(&h, 0, h.seq, 0, payload, 16, e);
    CHECK_EQ(n, en);
    CHECK_EQ(n, 16 + 20 + 160 + 16);
    CHECK(memcmp(out, e, n) == 0);

    /* A reply: the header echoed, error and data_size set. */
    n = dlk_encode_reply(&h, -EIO, payload, 8, out, sizeof out);
    en = expected(&h, -EIO, h.seq, 0, payload, 8, e);
    CHECK_EQ(n, en);
    CHECK(memcmp(out, e, n) == 0);

    /* A bare ack: cn_msg of length 0, ack = positive errno. */
    n = dlk_encode_ack(77, -EINVAL, out, sizeof out);
    en = expected(NULL, 0, 77, EINVAL, NULL, 0, e);
    CHECK_EQ(n, 36);
    CHECK(memcmp(out, e, n) == 0);

    /* Too small a buffer: nothing written past it, 0 returned. */
    CHECK_EQ(dlk_encode_reply(&h, 0, payload, 16, out, 16 + 20 + 160 + 15), 0);
    CHECK_EQ(dlk_encode_ack(1, 0, out, 35), 0);
    CHECK_EQ(dlk_encode_reply(&h, 0, payload, DLK_MAX_REPLY_PAYLOAD + 1, out, sizeof out), 0);

    /* Payload words: host order <-> little-endian, a tail copied. */
    uint8_t le[17], back[17], raw[17];
    memcpy(raw, payload, 16);
    raw[16] = 0xab;
    dlk_words_host_to_le(raw, le, 17);
    CHECK_EQ(le[0], 5);
    CHECK_EQ(le[7], 0);
    CHECK_EQ(le[8], 1);
    CHECK_EQ(le[15], 0x80);
    CHECK_EQ(le[16], 0xab);
    dlk_words_le_to_host(le, back, 17);
    CHECK(memcmp(back, raw, 17) == 0);
}

static void test_round_trip(void)
{
    uint8_t out[DLK_MAX_DATAGRAM];
    const char *ctr = "2097152 disk /var/lib/x.log 1024";
    struct dlw_header h = sample_header(DLW_CTR, (uint32_t)strlen(ctr) + 1);
    size_t n = dlk_encode_request(&h, (const uint8_t *)ctr, h.data_size, out, sizeof out);
    struct dlk_msg m;
    dlk_decode(out, n, &m);
    CHECK_EQ(m.kind, DLK_REQUEST);
    CHECK_U64(m.h.luid, h.luid);
    CHECK_STR(m.h.uuid, h.uuid);
    CHECK_EQ(m.h.version, 3);
    CHECK_EQ(m.h.seq, h.seq);
    CHECK_EQ(m.h.request_type, DLW_CTR);
    CHECK_EQ(m.h.data_size, h.data_size);
    CHECK_EQ(m.len, h.data_size);
    CHECK_STR((const char *)m.payload, ctr);
    CHECK_EQ(m.cn.seq, h.seq);
    CHECK_EQ(m.nl.len, n);

    /* A reply decodes with the same codec (the test's kernel side does). */
    n = dlk_encode_reply(&h, -ENOSPC, NULL, 0, out, sizeof out);
    dlk_decode(out, n, &m);
    CHECK_EQ(m.kind, DLK_REQUEST);
    CHECK_EQ(m.h.error, -ENOSPC);
    CHECK_EQ(m.len, 0);

    /* A 128-character uuid is the longest. */
    memset(h.uuid, 'u', 128);
    h.uuid[128] = '\0';
    n = dlk_encode_request(&h, NULL, 0, out, sizeof out);
    dlk_decode(out, n, &m);
    CHECK_EQ(m.kind, DLK_REQUEST);
    CHECK_EQ(strlen(m.h.uuid), 128);
}

/* Decode a copy of buf with one field patched. */
static void decode_patched(const uint8_t *buf, size_t n, size_t off, uint64_t v, unsigned bytes,
                           struct dlk_msg *m)
{
    static uint8_t copy[DLK_MAX_DATAGRAM];
    memcpy(copy, buf, n);
    want(copy + off, v, bytes);
    dlk_decode(copy, n, m);
}

static void test_malformed(void)
{
    uint8_t out[DLK_MAX_DATAGRAM];
    uint8_t regions[16] = {0};
    struct dlw_header h = sample_header(DLW_CLEAR_REGION, 16);
    size_t n = dlk_encode_request(&h, regions, 16, out, sizeof out);
    struct dlk_msg m;

    /* Not ours: ignored, never answered. */
    decode_patched(out, n, 4, 2, 2, &m); /* NLMSG_ERROR */
    CHECK_EQ(m.kind, DLK_IGNORE);
    decode_patched(out, n, 16, 1, 4, &m); /* cn idx of another subsystem */
    CHECK_EQ(m.kind, DLK_IGNORE);
    decode_patched(out, n, 20, 2, 4, &m); /* another val */
    CHECK_EQ(m.kind, DLK_IGNORE);
    decode_patched(out, n, 32, 0, 2, &m); /* cn len 0: an ack */
    CHECK_EQ(m.kind, DLK_IGNORE);

    /* Our frame, unreadable request: a bare ack on cn.seq. */
    decode_patched(out, n, 0, n + 1, 4, &m); /* nlmsg_len past the datagram */
    CHECK_EQ(m.kind, DLK_BAD_FRAME);
    CHECK_EQ(m.error, -EINVAL);
    CHECK_EQ(m.cn.seq, h.seq);
    decode_patched(out, n, 0, 35, 4, &m); /* nlmsg_len below the frame */
    CHECK_EQ(m.kind, DLK_BAD_FRAME);
    decode_patched(out, n, 32, 160 + 17, 2, &m); /* cn len past what is carried */
    CHECK_EQ(m.kind, DLK_BAD_FRAME);
    decode_patched(out, n, 32, 159, 2, &m); /* cn len below a request header */
    CHECK_EQ(m.kind, DLK_BAD_FRAME);

    /* A readable request header with a bad field: answered with it. */
    decode_patched(out, n, 36 + 140, 2, 4, &m); /* version 2 */
    CHECK_EQ(m.kind, DLK_BAD_REQUEST);
    CHECK_EQ(m.error, -EPROTO);
    CHECK_EQ(m.h.seq, h.seq);
    decode_patched(out, n, 36 + 156, 8, 4, &m); /* data_size short of the payload */
    CHECK_EQ(m.kind, DLK_BAD_REQUEST);
    CHECK_EQ(m.error, -EINVAL);
    decode_patched(out, n, 36 + 156, 24, 4, &m); /* data_size past the payload */
    CHECK_EQ(m.kind, DLK_BAD_REQUEST);
    CHECK_EQ(m.error, -EINVAL);
    decode_patched(out, n, 36 + 156, DLK_MAX_PAYLOAD + 1, 4, &m); /* oversize */
    CHECK_EQ(m.kind, DLK_BAD_REQUEST);
    CHECK_EQ(m.error, -EMSGSIZE);
    decode_patched(out, n, 36 + 8, 0, 1, &m); /* empty uuid */
    CHECK_EQ(m.kind, DLK_BAD_REQUEST);
    CHECK_EQ(m.error, -EINVAL);
    {
        static uint8_t copy[DLK_MAX_DATAGRAM];
        memcpy(copy, out, n);
        memset(copy + 36 + 8, 'x', 129); /* uuid without NUL */
        dlk_decode(copy, n, &m);
        CHECK_EQ(m.kind, DLK_BAD_REQUEST);
        CHECK_EQ(m.error, -EINVAL);
        CHECK(memchr(m.h.uuid, '\0', sizeof m.h.uuid) != NULL); /* still a C string */
    }

    /* An oversize request frame as a whole (a real one, not a patched
     * field): over the kernel's 512-byte bound. */
    {
        static uint8_t big[DLK_MAX_DATAGRAM], pay[DLK_MAX_PAYLOAD + 8];
        memset(pay, 0, sizeof pay);
        struct dlw_header hb = sample_header(DLW_MARK_REGION, sizeof pay);
        size_t bn = dlk_encode_request(&hb, pay, sizeof pay, big, sizeof big);
        dlk_decode(big, bn, &m);
        CHECK_EQ(m.kind, DLK_BAD_REQUEST);
        CHECK_EQ(m.error, -EMSGSIZE);
    }

    /* Every truncation of a valid datagram: never read past n, never
     * taken as a request, answered whenever the frame is ours. */
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1); /* exact size: ASan sees an over-read */
        CHECK(cut != NULL);
        if (!cut)
            continue;
        memcpy(cut, out, k);
        dlk_decode(cut, k, &m);
        free(cut);
        CHECK(m.kind != DLK_REQUEST);
        if (k < 36)
            CHECK_EQ(m.kind, DLK_IGNORE);
        else
            CHECK_EQ(m.kind, DLK_BAD_FRAME);
    }
    /* Padding after the message (netlink aligns to 4) is fine. */
    dlk_decode(out, n + 3, &m);
    CHECK_EQ(m.kind, DLK_REQUEST);
}

int main(void)
{
    test_bytes();
    test_round_trip();
    test_malformed();
    return test_exit_status("test_kernel_codec");
}
