#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "raw_client.h"

int raw_write(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int raw_send(int fd, uint32_t type, const char *uuid, uint64_t luid, uint32_t seq,
             const void *payload, size_t len)
{
    struct dlw_header h;
    if (dl__wire_request_header(&h, uuid, luid, seq, type, (uint32_t)len) < 0)
        return -1;
    uint8_t hdr[DLW_HEADER_SIZE];
    dl__wire_encode_header(&h, hdr);
    if (raw_write(fd, hdr, sizeof hdr) < 0)
        return -1;
    return len ? raw_write(fd, payload, len) : 0;
}

static int read_n(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 5000) <= 0)
            return -1;
        ssize_t k = recv(fd, p, n, 0);
        if (k == 0)
            return 0;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECONNRESET ? 0 : -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

int raw_recv(int fd, struct dlw_header *h, void *payload, size_t cap)
{
    uint8_t hdr[DLW_HEADER_SIZE];
    int r = read_n(fd, hdr, sizeof hdr);
    if (r <= 0)
        return r;
    if (dl__wire_decode_header(hdr, DLW_MAX_PAYLOAD, h) < 0)
        return -1;
    size_t keep = h->data_size < cap ? h->data_size : cap;
    if (keep && (r = read_n(fd, payload, keep)) <= 0)
        return r;
    for (size_t left = h->data_size - keep; left;) {
        uint8_t junk[256];
        size_t k = left < sizeof junk ? left : sizeof junk;
        if ((r = read_n(fd, junk, k)) <= 0)
            return r;
        left -= k;
    }
    return 1;
}

int raw_ctr(int fd, const char *uuid, uint64_t luid, const char *ctr)
{
    struct dlw_header h;
    char buf[512];
    if (raw_send(fd, DLW_CTR, uuid, luid, 1, ctr, strlen(ctr)) < 0 ||
        raw_recv(fd, &h, buf, sizeof buf) != 1)
        return -1000;
    return h.error;
}

int raw_ctr_reattach(int fd, const char *uuid, uint64_t luid, const char *ctr)
{
    int r = -EBUSY;
    for (int i = 0; i < 2000 && r == -EBUSY; i++) {
        r = raw_ctr(fd, uuid, luid, ctr);
        if (r == -EBUSY) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return r;
}

int raw_region(int fd, uint32_t type, const char *uuid, uint64_t luid, uint64_t region,
               uint64_t *answer)
{
    uint8_t p[8], rep[64];
    struct dlw_header h;
    put_le64(p, region);
    if (raw_send(fd, type, uuid, luid, 2, p, 8) < 0 || raw_recv(fd, &h, rep, sizeof rep) != 1)
        return -1000;
    if (answer && h.data_size >= 8)
        *answer = get_le64(rep);
    return h.error;
}
