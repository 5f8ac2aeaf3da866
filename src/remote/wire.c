/* Encoding and decoding of the 160-byte header, byte by byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote/wire.h"

static const char *const request_names[] = {
    [DLW_CTR] = "CTR",
    [DLW_DTR] = "DTR",
    [DLW_PRESUSPEND] = "PRESUSPEND",
    [DLW_POSTSUSPEND] = "POSTSUSPEND",
    [DLW_RESUME] = "RESUME",
    [DLW_GET_REGION_SIZE] = "GET_REGION_SIZE",
    [DLW_IS_CLEAN] = "IS_CLEAN",
    [DLW_IN_SYNC] = "IN_SYNC",
    [DLW_FLUSH] = "FLUSH",
    [DLW_MARK_REGION] = "MARK_REGION",
    [DLW_CLEAR_REGION] = "CLEAR_REGION",
    [DLW_GET_RESYNC_WORK] = "GET_RESYNC_WORK",
    [DLW_SET_REGION_SYNC] = "SET_REGION_SYNC",
    [DLW_GET_SYNC_COUNT] = "GET_SYNC_COUNT",
    [DLW_STATUS_INFO] = "STATUS_INFO",
    [DLW_STATUS_TABLE] = "STATUS_TABLE",
    [DLW_IS_REMOTE_RECOVERING] = "IS_REMOTE_RECOVERING",
};

const char *dl__wire_request_name(unsigned number)
{
    if (number == DLW_ADMIN_RELEASE)
        return "ADMIN_RELEASE";
    if (number == DLW_ADMIN_LIST)
        return "ADMIN_LIST";
    if (number < sizeof request_names / sizeof request_names[0])
        return request_names[number];
    return NULL;
}

void dl__wire_encode_header(const struct dlw_header *h, uint8_t *out)
{
    memset(out, 0, DLW_HEADER_SIZE);
    put_le64(out + DLW_OFF_LUID, h->luid);
    /* strnlen keeps us inside the field even if the caller forgot the NUL;
     * the last byte of the field always stays 0. */
    size_t n = 0;
    while (n < DLW_UUID_SIZE - 1 && h->uuid[n])
        n++;
    memcpy(out + DLW_OFF_UUID, h->uuid, n);
    put_le32(out + DLW_OFF_VERSION, h->version);
    put_le32(out + DLW_OFF_ERROR, (uint32_t)h->error);
    put_le32(out + DLW_OFF_SEQ, h->seq);
    put_le32(out + DLW_OFF_TYPE, h->request_type);
    put_le32(out + DLW_OFF_DATA_SIZE, h->data_size);
}

int dl__wire_decode_header(const uint8_t *in, uint32_t max_payload, struct dlw_header *h)
{
    h->luid = get_le64(in + DLW_OFF_LUID);
    memcpy(h->uuid, in + DLW_OFF_UUID, DLW_UUID_SIZE);
    int has_nul = memchr(h->uuid, '\0', DLW_UUID_SIZE) != NULL;
    h->uuid[DLW_UUID_SIZE - 1] = '\0';
    h->version = get_le32(in + DLW_OFF_VERSION);
    h->error = (int32_t)get_le32(in + DLW_OFF_ERROR);
    h->seq = get_le32(in + DLW_OFF_SEQ);
    h->request_type = get_le32(in + DLW_OFF_TYPE);
    h->data_size = get_le32(in + DLW_OFF_DATA_SIZE);
    if (h->version != DLW_VERSION)
        return -EPROTO;
    if (h->data_size > max_payload || h->data_size > DLW_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (!has_nul)
        return -EINVAL;
    return 0;
}

void dl__wire_reply_header(const struct dlw_header *req, int32_t error, uint32_t data_size,
                      struct dlw_header *reply)
{
    *reply = *req;
    reply->version = DLW_VERSION;
    reply->error = error;
    reply->data_size = data_size;
}

int dl__wire_request_header(struct dlw_header *h, const char *uuid, uint64_t luid, uint32_t seq,
                            uint32_t request_type, uint32_t data_size)
{
    memset(h, 0, sizeof *h);
    h->version = DLW_VERSION;
    int r = dl__wire_set_uuid(h, uuid);
    if (r < 0)
        return r;
    h->luid = luid;
    h->seq = seq;
    h->request_type = request_type;
    h->data_size = data_size;
    return 0;
}

int dl__wire_set_uuid(struct dlw_header *h, const char *uuid)
{
    size_t n = strlen(uuid);
    if (n == 0 || n >= DLW_UUID_SIZE)
        return -EINVAL;
    memset(h->uuid, 0, sizeof h->uuid);
    memcpy(h->uuid, uuid, n);
    return 0;
}

const char *dl__wire_default_socket_path(void)
{
    const char *env = getenv(DLW_SOCKET_ENV);
    return env && *env ? env : DLW_DEFAULT_SOCKET;
}

uint32_t dl__wire_client_tag(uint64_t luid)
{
    /* The splitmix64 finaliser; keeping 32 of its 64 bits leaves 2^32
     * luids behind every tag. */
    uint64_t z = luid + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}
