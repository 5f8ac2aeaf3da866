/* The cluster message codec (cluster_msg.h; byte layout in docs/cluster.md,
 * "Wire format"). */
#include <errno.h>
#include <string.h>

#include "cluster_msg.h"
#include "le_bytes.h"

size_t clm_flush_size(uint32_t nmarks, uint32_t nclears)
{
    return CLM_HEADER_SIZE + 8u + 8u * ((size_t)nmarks + nclears);
}

size_t clm_checkpoint_size(uint32_t nview, uint32_t nside, uint32_t data_len)
{
    return CLM_HEADER_SIZE + 20u + 4u * ((size_t)nview + nside) + data_len;
}

static size_t put_header(uint8_t *buf, enum clm_type type, uint64_t seq)
{
    put_le32(buf, CLM_MAGIC);
    buf[4] = CLM_VERSION;
    buf[5] = (uint8_t)type;
    buf[6] = buf[7] = 0;
    put_le64(buf + 8, seq);
    return CLM_HEADER_SIZE;
}

size_t clm_encode_flush(uint8_t *buf, uint64_t seq, const uint64_t *marks, uint32_t nmarks,
                        const uint64_t *clears, uint32_t nclears)
{
    size_t o = put_header(buf, CLM_FLUSH, seq);
    put_le32(buf + o, nmarks);
    put_le32(buf + o + 4, nclears);
    o += 8;
    for (uint32_t i = 0; i < nmarks; i++, o += 8)
        put_le64(buf + o, marks[i]);
    for (uint32_t i = 0; i < nclears; i++, o += 8)
        put_le64(buf + o, clears[i]);
    return o;
}

size_t clm_encode_request_work(uint8_t *buf, uint64_t seq)
{
    return put_header(buf, CLM_REQUEST_WORK, seq);
}

size_t clm_encode_barrier(uint8_t *buf, uint64_t seq)
{
    return put_header(buf, CLM_BARRIER, seq);
}

size_t clm_encode_set_sync(uint8_t *buf, uint64_t seq, uint64_t region, int in_sync)
{
    size_t o = put_header(buf, CLM_SET_SYNC, seq);
    put_le64(buf + o, region);
    memset(buf + o + 8, 0, 8);
    buf[o + 8] = in_sync ? 1 : 0;
    return o + 16;
}

size_t clm_encode_durable(uint8_t *buf, uint64_t seq, uint64_t index)
{
    size_t o = put_header(buf, CLM_DURABLE, seq);
    put_le64(buf + o, index);
    return o + 8;
}

size_t clm_encode_checkpoint(uint8_t *buf, uint64_t seq, uint32_t chunk, uint32_t nchunks,
                             const uint32_t *view, uint32_t nview, const uint32_t *side,
                             uint32_t nside, const uint8_t *data, uint32_t data_len)
{
    size_t o = put_header(buf, CLM_CHECKPOINT, seq);
    put_le32(buf + o, chunk);
    put_le32(buf + o + 4, nchunks);
    put_le32(buf + o + 8, nview);
    put_le32(buf + o + 12, nside);
    o += 16;
    for (uint32_t i = 0; i < nview; i++, o += 4)
        put_le32(buf + o, view[i]);
    for (uint32_t i = 0; i < nside; i++, o += 4)
        put_le32(buf + o, side[i]);
    put_le32(buf + o, data_len);
    o += 4;
    if (data_len)
        memcpy(buf + o, data, data_len);
    return o + data_len;
}

/* n node ids at p: strictly increasing, none 0. */
static int get_ids(const uint8_t *p, uint32_t n, uint32_t *out)
{
    for (uint32_t i = 0; i < n; i++) {
        out[i] = get_le32(p + 4 * i);
        if (out[i] == 0 || (i > 0 && out[i] <= out[i - 1]))
            return -EBADMSG;
    }
    return 0;
}

static int decode_checkpoint(const uint8_t *b, size_t len, struct clm_msg *m)
{
    if (len < 16)
        return -EBADMSG;
    m->chunk = get_le32(b);
    m->nchunks = get_le32(b + 4);
    m->nview = get_le32(b + 8);
    m->nside = get_le32(b + 12);
    if (m->nchunks == 0 || m->chunk >= m->nchunks || m->nview == 0 ||
        m->nview > CLM_MAX_MEMBERS || m->nside == 0 || m->nside > m->nview)
        return -EBADMSG;
    size_t ids = 4u * ((size_t)m->nview + m->nside);
    if (len - 16 < ids + 4)
        return -EBADMSG;
    if (get_ids(b + 16, m->nview, m->view) < 0 ||
        get_ids(b + 16 + 4u * m->nview, m->nside, m->side) < 0)
        return -EBADMSG;
    m->data_len = get_le32(b + 16 + ids);
    if (len - 16 - ids - 4 != m->data_len)
        return -EBADMSG;
    m->data = b + 20 + ids;
    /* The side speaks for members of the view only. */
    for (uint32_t i = 0, j = 0; i < m->nside; i++) {
        while (j < m->nview && m->view[j] < m->side[i])
            j++;
        if (j == m->nview || m->view[j] != m->side[i])
            return -EBADMSG;
    }
    return 0;
}

int clm_decode(const uint8_t *buf, size_t len, struct clm_msg *m)
{
    memset(m, 0, offsetof(struct clm_msg, view));
    m->regions = NULL;
    m->data = NULL;
    if (!buf || len < CLM_HEADER_SIZE)
        return -EBADMSG;
    if (get_le32(buf) != CLM_MAGIC || buf[4] != CLM_VERSION)
        return -EPROTO;
    if (buf[6] || buf[7])
        return -EBADMSG;
    m->type = (enum clm_type)buf[5];
    m->seq = get_le64(buf + 8);
    const uint8_t *b = buf + CLM_HEADER_SIZE;
    size_t n = len - CLM_HEADER_SIZE;
    switch (buf[5]) {
    case CLM_FLUSH:
        if (n < 8)
            return -EBADMSG;
        m->nmarks = get_le32(b);
        m->nclears = get_le32(b + 4);
        if ((n - 8) / 8 != (uint64_t)m->nmarks + m->nclears || (n - 8) % 8)
            return -EBADMSG;
        m->regions = b + 8;
        return 0;
    case CLM_REQUEST_WORK:
    case CLM_BARRIER:
        return n == 0 ? 0 : -EBADMSG;
    case CLM_SET_SYNC:
        if (n != 16 || b[8] > 1)
            return -EBADMSG;
        for (int i = 9; i < 16; i++)
            if (b[i])
                return -EBADMSG;
        m->region = get_le64(b);
        m->in_sync = b[8];
        return 0;
    case CLM_DURABLE:
        if (n != 8)
            return -EBADMSG;
        m->index = get_le64(b);
        return 0;
    case CLM_CHECKPOINT:
        return decode_checkpoint(b, n, m);
    default:
        return -EOPNOTSUPP;
    }
}

uint64_t clm_flush_region(const struct clm_msg *m, uint32_t i)
{
    return get_le64(m->regions + 8u * i);
}
