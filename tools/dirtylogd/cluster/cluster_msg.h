/* The messages dirtylogd's cluster members multicast to each other in one
 * CPG group per log (docs/cluster.md, "Wire format"): explicit
 * little-endian, versioned, every length checked. Encoding never fails on a
 * big enough buffer; decoding rejects anything malformed or truncated and
 * never reads past len. Internal to the daemon. */
#ifndef DLD_CLUSTER_MSG_H
#define DLD_CLUSTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#define CLM_MAGIC 0x6c636c64u /* "dlcl" */
#define CLM_VERSION 1u
#define CLM_HEADER_SIZE 16u
#define CLM_MAX_MEMBERS 128u /* CPG's limit of members in a group */

enum clm_type {
    CLM_FLUSH = 1,        /* the sender's marks and clears since its last flush */
    CLM_REQUEST_WORK = 2, /* hand the sender a region to resync */
    CLM_SET_SYNC = 3,     /* the sender's resync result for a region */
    CLM_DURABLE = 4,      /* the writer persisted the state up to an index */
    CLM_CHECKPOINT = 5,   /* one chunk of a member's replica, at a confchg */
    CLM_BARRIER = 6,      /* no change: its sender waits for it before a read */
};

struct clm_msg {
    enum clm_type type;
    uint64_t seq; /* the sender's own message counter */
    /* FLUSH: nmarks then nclears regions, little-endian u64 each, at regions */
    uint32_t nmarks, nclears;
    const uint8_t *regions;
    /* SET_SYNC */
    uint64_t region;
    int in_sync;
    /* DURABLE */
    uint64_t index;
    /* CHECKPOINT: chunk of nchunks; the view it belongs to (sorted node ids)
     * and the side it speaks for (sorted); data bytes of the state blob. */
    uint32_t chunk, nchunks;
    uint32_t nview, nside;
    uint32_t view[CLM_MAX_MEMBERS], side[CLM_MAX_MEMBERS];
    const uint8_t *data;
    uint32_t data_len;
};

/* Sizes of encoded messages. */
size_t clm_flush_size(uint32_t nmarks, uint32_t nclears);
size_t clm_checkpoint_size(uint32_t nview, uint32_t nside, uint32_t data_len);
#define CLM_REQUEST_WORK_SIZE CLM_HEADER_SIZE
#define CLM_SET_SYNC_SIZE (CLM_HEADER_SIZE + 16u)
#define CLM_DURABLE_SIZE (CLM_HEADER_SIZE + 8u)

/* Encoders: write into buf (at least the size above); return the length. */
size_t clm_encode_flush(uint8_t *buf, uint64_t seq, const uint64_t *marks, uint32_t nmarks,
                        const uint64_t *clears, uint32_t nclears);
size_t clm_encode_request_work(uint8_t *buf, uint64_t seq);
size_t clm_encode_barrier(uint8_t *buf, uint64_t seq); /* CLM_REQUEST_WORK_SIZE bytes */
size_t clm_encode_set_sync(uint8_t *buf, uint64_t seq, uint64_t region, int in_sync);
size_t clm_encode_durable(uint8_t *buf, uint64_t seq, uint64_t index);
size_t clm_encode_checkpoint(uint8_t *buf, uint64_t seq, uint32_t chunk, uint32_t nchunks,
                             const uint32_t *view, uint32_t nview, const uint32_t *side,
                             uint32_t nside, const uint8_t *data, uint32_t data_len);

/* Decode msg (pointers into buf). 0, or -EBADMSG (malformed, truncated,
 * trailing bytes, unsorted ids), -EPROTO (other version or magic) or
 * -EOPNOTSUPP (unknown type). */
int clm_decode(const uint8_t *buf, size_t len, struct clm_msg *m);

/* Region i of a decoded FLUSH (marks first, then clears). */
uint64_t clm_flush_region(const struct clm_msg *m, uint32_t i);

#endif
