/* The kernel's framing of the userspace dirty-log protocol (docs/kernel.md,
 * "Framing"): one netlink datagram = nlmsghdr + cn_msg + dm_ulog_request +
 * payload, every field in the host's byte order (the kernel writes its
 * structs as they are in memory). This codec is pure: it decodes a datagram
 * field by field into our structures and encodes replies field by field,
 * never reading or writing a struct raw. The layout facts come from the
 * uapi headers connector.h, netlink.h and dm-log-userspace.h. */
#ifndef DLD_KERNEL_MSG_H
#define DLD_KERNEL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "remote/wire.h" /* struct dlw_header: the decoded request */

#define DLK_NL_HDRLEN 16u   /* nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid */
#define DLK_CN_HDRLEN 20u   /* cn_msg: u32 idx, u32 val, u32 seq, u32 ack, u16 len, u16 flags */
#define DLK_ULOG_HDRLEN 160u /* dm_ulog_request: the same fields as our wire header */
#define DLK_FRAME_HDRLEN (DLK_NL_HDRLEN + DLK_CN_HDRLEN)

#define DLK_NLMSG_DONE 3u          /* the kernel's connector messages are NLMSG_DONE */
#define DLK_CN_IDX_DM 7u           /* CN_IDX_DM: device-mapper's connector id ... */
#define DLK_CN_VAL_USERSPACE_LOG 1u /* ... CN_VAL_DM_USERSPACE_LOG */
#define DLK_ULOG_VERSION 3u        /* DM_ULOG_REQUEST_VERSION */

/* The kernel builds each request in a 512-byte buffer that also holds the
 * cn_msg and the request header: no request payload is larger than this.
 * A larger one is not from the kernel we speak to and gets -EMSGSIZE. */
#define DLK_MAX_PAYLOAD (512u - DLK_CN_HDRLEN - DLK_ULOG_HDRLEN)
/* The largest reply we send (a status string of DLD_REPLY_MAX bytes). */
#define DLK_MAX_REPLY_PAYLOAD 4096u
#define DLK_MAX_DATAGRAM (DLK_FRAME_HDRLEN + DLK_ULOG_HDRLEN + DLK_MAX_REPLY_PAYLOAD)

struct dlk_nlhdr {
    uint32_t len;
    uint16_t type, flags;
    uint32_t seq, pid;
};

struct dlk_cn {
    uint32_t idx, val;
    uint32_t seq, ack;
    uint16_t len, flags;
};

/* What a datagram holds. */
enum dlk_kind {
    DLK_REQUEST, /* a well-formed request: h, payload, len */
    DLK_IGNORE,  /* not a request for us: drop it silently (other connector
                    id, another netlink message type, an ack, too short to
                    answer) */
    DLK_BAD_FRAME, /* a request frame we cannot read the request of: answer
                      with a bare ack (cn.seq, error) */
    DLK_BAD_REQUEST, /* a readable request header with a bad field: answer
                        with the request header and error */
};

struct dlk_msg {
    enum dlk_kind kind;
    int error;         /* DLK_BAD_*: the -errno to answer */
    const char *why;   /* DLK_IGNORE, DLK_BAD_*: a short reason for the log */
    struct dlk_nlhdr nl;
    struct dlk_cn cn;
    struct dlw_header h; /* DLK_REQUEST, DLK_BAD_REQUEST */
    const uint8_t *payload;
    size_t len;
};

/* Decode one received datagram of n bytes; m->kind says what it is. */
void dlk_decode(const uint8_t *buf, size_t n, struct dlk_msg *m);

/* A reply as the kernel matches it: the request header echoed (luid, uuid,
 * seq, request_type) with error and data_size set, then the payload, in a
 * new cn_msg of our connector id. Returns the datagram's length, or 0 if
 * cap is too small. */
size_t dlk_encode_reply(const struct dlw_header *req, int32_t error, const uint8_t *data,
                        uint32_t len, uint8_t *out, size_t cap);

/* A bare ack: a cn_msg of length 0 whose seq is the request's and whose
 * ack is the positive errno (the kernel takes -ack as the error). */
size_t dlk_encode_ack(uint32_t seq, int error, uint8_t *out, size_t cap);

/* A request as the kernel frames it (tests, and the reference for the
 * byte-by-byte documentation). h->data_size is ignored: len is used. */
size_t dlk_encode_request(const struct dlw_header *h, const uint8_t *payload, uint32_t len,
                          uint8_t *out, size_t cap);

/* Payload words: the kernel's u64/s64 fields are in host order, ours (the
 * request layer's) little-endian. Converts len / 8 whole words; a trailing
 * partial word is copied as is (the request layer rejects its length). */
void dlk_words_host_to_le(const uint8_t *in, uint8_t *out, size_t len);
void dlk_words_le_to_host(const uint8_t *in, uint8_t *out, size_t len);

#endif
