/* The dirtylog wire protocol (docs/protocol.md): one 160-byte little-endian
 * header followed by data_size bytes of payload, in both directions. This is
 * the only encoder/decoder of it; the `userspace` client and the dirtylogd
 * daemon both use it. */
#ifndef DL_REMOTE_WIRE_H
#define DL_REMOTE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "le_bytes.h"

#define DLW_HEADER_SIZE 160u
#define DLW_VERSION 3u
#define DLW_UUID_SIZE 129u /* NUL-terminated: at most 128 characters */

/* Largest payload the protocol allows in either direction (1 MiB). A daemon
 * may enforce a smaller bound (--max-payload); a larger data_size is answered
 * with -EMSGSIZE and the connection is closed (the stream cannot be resynced). */
#define DLW_MAX_PAYLOAD (1u << 20)
/* Regions per MARK_REGION / CLEAR_REGION / FLUSH message the client sends. */
#define DLW_REGIONS_PER_MSG 8192u

/* Field offsets inside the header. */
#define DLW_OFF_LUID 0
#define DLW_OFF_UUID 8
#define DLW_OFF_VERSION 140
#define DLW_OFF_ERROR 144
#define DLW_OFF_SEQ 148
#define DLW_OFF_TYPE 152
#define DLW_OFF_DATA_SIZE 156

/* Request numbers (reference §3); only the low 8 bits name the request. */
enum dlw_request {
    DLW_CTR = 1,
    DLW_DTR = 2,
    DLW_PRESUSPEND = 3,
    DLW_POSTSUSPEND = 4,
    DLW_RESUME = 5,
    DLW_GET_REGION_SIZE = 6,
    DLW_IS_CLEAN = 7,
    DLW_IN_SYNC = 8,
    DLW_FLUSH = 9,
    DLW_MARK_REGION = 10,
    DLW_CLEAR_REGION = 11,
    DLW_GET_RESYNC_WORK = 12,
    DLW_SET_REGION_SYNC = 13,
    DLW_GET_SYNC_COUNT = 14,
    DLW_STATUS_INFO = 15,
    DLW_STATUS_TABLE = 16,
    DLW_IS_REMOTE_RECOVERING = 17,
    /* dirtylog extensions (>= 128) */
    DLW_ADMIN_RELEASE = 128, /* drop the marks of disconnected clients */
    DLW_ADMIN_LIST = 129,    /* what the daemon hosts, a page at a time */
};

struct dlw_header {
    uint64_t luid;
    char uuid[DLW_UUID_SIZE];
    uint32_t version;
    int32_t error;
    uint32_t seq;
    uint32_t request_type;
    uint32_t data_size;
};

/* Low 8 bits of request_type. */
static inline unsigned dlw_request_number(uint32_t request_type) { return request_type & 0xffu; }

/* Name of a request number ("CTR"), or NULL if unknown. */
const char *dl__wire_request_name(unsigned number);

/* Write the header into out[DLW_HEADER_SIZE]: every byte is defined (the
 * uuid is NUL-padded, the padding is zero). */
void dl__wire_encode_header(const struct dlw_header *h, uint8_t *out);

/* Decode in[DLW_HEADER_SIZE]. Every field is filled in even when the header
 * is invalid (so an error reply can echo luid, seq and request_type); uuid is
 * always NUL-terminated in *h. Returns
 *   0          valid;
 *   -EPROTO    version is not DLW_VERSION;
 *   -EINVAL    the uuid field has no NUL;
 *   -EMSGSIZE  data_size > max_payload. */
int dl__wire_decode_header(const uint8_t *in, uint32_t max_payload, struct dlw_header *h);

/* Fill a request header: every field set (version DLW_VERSION, error 0, the
 * uuid NUL-padded). -EINVAL (h all zero but version) if the uuid is empty or
 * longer than 128 characters. The one way requests are built (client, admin
 * tool, tests). */
int dl__wire_request_header(struct dlw_header *h, const char *uuid, uint64_t luid, uint32_t seq,
                            uint32_t request_type, uint32_t data_size);

/* Fill a reply header for request `req`: same luid, uuid, seq, request_type. */
void dl__wire_reply_header(const struct dlw_header *req, int32_t error, uint32_t data_size,
                      struct dlw_header *reply);

/* Where client and daemon meet when no socket is named: the environment
 * variable DIRTYLOG_SOCKET if set and non-empty, else DLW_DEFAULT_SOCKET. */
#define DLW_DEFAULT_SOCKET "/run/dirtylogd.sock"
#define DLW_SOCKET_ENV "DIRTYLOG_SOCKET"
const char *dl__wire_default_socket_path(void);

/* A session's public name: the top 32 bits of a 64-bit mix of its luid. The
 * luid is the client's key to its session and is never shown; the tag is
 * what `dirtylogd -v` prints and what ADMIN_RELEASE takes. */
uint32_t dl__wire_client_tag(uint64_t luid);

/* Copy a uuid string into a header: -EINVAL if empty or longer than 128. */
int dl__wire_set_uuid(struct dlw_header *h, const char *uuid);

#endif
