/* The kernel's datagrams, decoded and encoded field by field (see
 * kernel_msg.h; byte by byte in docs/kernel.md). The request header has our
 * wire header's layout (the same offsets, DLW_OFF_*), in host order. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>

#include "kernel_msg.h"

/* ---- host-order fields: one scalar at a time, never a struct ----------- */

static uint16_t get_h16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t get_h32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get_h64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void put_h16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof v);
}

static void put_h32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

static void put_h64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

void dlk_words_host_to_le(const uint8_t *in, uint8_t *out, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        put_le64(out + i, get_h64(in + i));
    memmove(out + i, in + i, len - i);
}

void dlk_words_le_to_host(const uint8_t *in, uint8_t *out, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        put_h64(out + i, get_le64(in + i));
    memmove(out + i, in + i, len - i);
}

/* ---- the frame: nlmsghdr + cn_msg ---------------------------------------- */

static void put_frame(uint8_t *out, uint32_t seq, uint32_t ack, uint16_t cn_len)
{
    uint32_t total = DLK_FRAME_HDRLEN + cn_len;
    put_h32(out + 0, total);         /* nlmsg_len */
    put_h16(out + 4, DLK_NLMSG_DONE); /* nlmsg_type */
    put_h16(out + 6, 0);             /* nlmsg_flags */
    put_h32(out + 8, 0);             /* nlmsg_seq: unused by the connector */
    put_h32(out + 12, 0);            /* nlmsg_pid: the kernel does not look */
    uint8_t *cn = out + DLK_NL_HDRLEN;
    put_h32(cn + 0, DLK_CN_IDX_DM);
    put_h32(cn + 4, DLK_CN_VAL_USERSPACE_LOG);
    put_h32(cn + 8, seq);
    put_h32(cn + 12, ack);
    put_h16(cn + 16, cn_len);
    put_h16(cn + 18, 0); /* flags */
}

static void put_ulog(uint8_t *p, const struct dlw_header *h, int32_t error, uint32_t len)
{
    memset(p, 0, DLK_ULOG_HDRLEN); /* the uuid's NUL padding and the 3 pad bytes */
    put_h64(p + DLW_OFF_LUID, h->luid);
    memcpy(p + DLW_OFF_UUID, h->uuid, strnlen(h->uuid, DLW_UUID_SIZE - 1));
    put_h32(p + DLW_OFF_VERSION, DLK_ULOG_VERSION);
    put_h32(p + DLW_OFF_ERROR, (uint32_t)error);
    put_h32(p + DLW_OFF_SEQ, h->seq);
    put_h32(p + DLW_OFF_TYPE, h->request_type);
    put_h32(p + DLW_OFF_DATA_SIZE, len);
}

/* ---- decoding -------------------------------------------------------------- */

static void ignore(struct dlk_msg *m, const char *why)
{
    m->kind = DLK_IGNORE;
    m->why = why;
}

static void bad(struct dlk_msg *m, enum dlk_kind kind, int error, const char *why)
{
    m->kind = kind;
    m->error = error;
    m->why = why;
}

void dlk_decode(const uint8_t *buf, size_t n, struct dlk_msg *m)
{
    memset(m, 0, sizeof *m);
    if (n < DLK_FRAME_HDRLEN)
        return ignore(m, "datagram shorter than nlmsghdr + cn_msg");
    m->nl.len = get_h32(buf + 0);
    m->nl.type = get_h16(buf + 4);
    m->nl.flags = get_h16(buf + 6);
    m->nl.seq = get_h32(buf + 8);
    m->nl.pid = get_h32(buf + 12);
    const uint8_t *cn = buf + DLK_NL_HDRLEN;
    m->cn.idx = get_h32(cn + 0);
    m->cn.val = get_h32(cn + 4);
    m->cn.seq = get_h32(cn + 8);
    m->cn.ack = get_h32(cn + 12);
    m->cn.len = get_h16(cn + 16);
    m->cn.flags = get_h16(cn + 18);
    if (m->nl.type != DLK_NLMSG_DONE)
        return ignore(m, "not an NLMSG_DONE message");
    if (m->cn.idx != DLK_CN_IDX_DM || m->cn.val != DLK_CN_VAL_USERSPACE_LOG)
        return ignore(m, "another connector id");
    if (m->cn.len == 0)
        return ignore(m, "an ack, not a request");
    /* From here on the frame is ours: every defect is answered. */
    if (m->nl.len < DLK_FRAME_HDRLEN || m->nl.len > n)
        return bad(m, DLK_BAD_FRAME, -EINVAL, "nlmsg_len disagrees with the datagram");
    size_t carried = m->nl.len - DLK_FRAME_HDRLEN;
    if (m->cn.len > carried)
        return bad(m, DLK_BAD_FRAME, -EINVAL, "cn_msg longer than the datagram carries");
    if (m->cn.len < DLK_ULOG_HDRLEN)
        return bad(m, DLK_BAD_FRAME, -EINVAL, "cn_msg shorter than a request header");

    const uint8_t *p = cn + DLK_CN_HDRLEN;
    struct dlw_header *h = &m->h;
    h->luid = get_h64(p + DLW_OFF_LUID);
    memcpy(h->uuid, p + DLW_OFF_UUID, DLW_UUID_SIZE);
    int has_nul = memchr(h->uuid, '\0', DLW_UUID_SIZE) != NULL;
    h->uuid[DLW_UUID_SIZE - 1] = '\0';
    h->version = get_h32(p + DLW_OFF_VERSION);
    h->error = (int32_t)get_h32(p + DLW_OFF_ERROR);
    h->seq = get_h32(p + DLW_OFF_SEQ);
    h->request_type = get_h32(p + DLW_OFF_TYPE);
    h->data_size = get_h32(p + DLW_OFF_DATA_SIZE);
    m->payload = p + DLK_ULOG_HDRLEN;
    m->len = m->cn.len - DLK_ULOG_HDRLEN;
    if (h->version != DLK_ULOG_VERSION)
        return bad(m, DLK_BAD_REQUEST, -EPROTO, "request version is not 3");
    if (!has_nul || h->uuid[0] == '\0')
        return bad(m, DLK_BAD_REQUEST, -EINVAL, "uuid empty or not NUL-terminated");
    if (h->data_size > DLK_MAX_PAYLOAD)
        return bad(m, DLK_BAD_REQUEST, -EMSGSIZE, "payload over the kernel's own bound");
    if (h->data_size != m->len)
        return bad(m, DLK_BAD_REQUEST, -EINVAL, "data_size disagrees with cn_msg length");
    m->kind = DLK_REQUEST;
}

/* ---- encoding -------------------------------------------------------------- */

size_t dlk_encode_reply(const struct dlw_header *req, int32_t error, const uint8_t *data,
                        uint32_t len, uint8_t *out, size_t cap)
{
    size_t total = (size_t)DLK_FRAME_HDRLEN + DLK_ULOG_HDRLEN + len;
    if (len > DLK_MAX_REPLY_PAYLOAD || total > cap)
        return 0;
    put_frame(out, req->seq, 0, (uint16_t)(DLK_ULOG_HDRLEN + len));
    put_ulog(out + DLK_FRAME_HDRLEN, req, error, len);
    if (len)
        memcpy(out + DLK_FRAME_HDRLEN + DLK_ULOG_HDRLEN, data, len);
    return total;
}

size_t dlk_encode_ack(uint32_t seq, int error, uint8_t *out, size_t cap)
{
    if (cap < DLK_FRAME_HDRLEN)
        return 0;
    put_frame(out, seq, (uint32_t)(error < 0 ? -error : error), 0);
    return DLK_FRAME_HDRLEN;
}

size_t dlk_encode_request(const struct dlw_header *h, const uint8_t *payload, uint32_t len,
                          uint8_t *out, size_t cap)
{
    size_t total = (size_t)DLK_FRAME_HDRLEN + DLK_ULOG_HDRLEN + len;
    if (DLK_ULOG_HDRLEN + (size_t)len > UINT16_MAX || total > cap)
        return 0;
    put_frame(out, h->seq, 0, (uint16_t)(DLK_ULOG_HDRLEN + len));
    put_ulog(out + DLK_FRAME_HDRLEN, h, h->error, len);
    put_h32(out + DLK_FRAME_HDRLEN + DLW_OFF_VERSION, h->version);
    if (len)
        memcpy(out + DLK_FRAME_HDRLEN + DLK_ULOG_HDRLEN, payload, len);
    return total;
}
