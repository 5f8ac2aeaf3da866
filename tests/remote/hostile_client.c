#define _GNU_SOURCE /* MSG_DONTWAIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostile_client.h"
#include "raw_client.h"
#include "remote/wire.h"

#define REQ_SIZE ((long)(DLW_HEADER_SIZE + 8)) /* signed: it meets longs below */

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void is_clean_request(uint8_t *msg, const char *uuid, uint64_t luid, uint32_t seq, uint64_t region)
{
    struct dlw_header h;
    dl__wire_request_header(&h, uuid, luid, seq, DLW_IS_CLEAN, 8);
    dl__wire_encode_header(&h, msg);
    put_le64(msg + DLW_HEADER_SIZE, region);
}

long send_without_reading(int fd, const char *uuid, uint64_t luid, long max)
{
    enum { BATCH = 64 };
    static _Thread_local uint8_t buf[BATCH * REQ_SIZE];
    for (int i = 0; i < BATCH; i++)
        is_clean_request(buf + i * REQ_SIZE, uuid, luid, 1000u + (uint32_t)i, (uint64_t)i);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    long sent_bytes = 0;
    while (sent_bytes / REQ_SIZE < max) {
        long left = (max - sent_bytes / REQ_SIZE) * REQ_SIZE - sent_bytes % REQ_SIZE;
        size_t off = (size_t)(sent_bytes % (long)sizeof buf);
        size_t n = sizeof buf - off;
        if ((long)n > left)
            n = (size_t)left;
        ssize_t k = send(fd, buf + off, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0)
            return -1;
        sent_bytes += k;
    }
    return sent_bytes / REQ_SIZE;
}

int wait_hangup(int fd, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = 0};
        int64_t left = end - mono_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r > 0 && (p.revents & (POLLHUP | POLLERR)))
            return 1;
        if (r < 0 && errno == EINTR)
            continue;
        if (left <= 0 || r < 0)
            return 0;
    }
}

double process_cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* Fields after "(comm)": state is field 3; utime and stime are 14, 15. */
    char *p = strrchr(line, ')');
    unsigned long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                     &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int ctr_or_refusal(int fd, const char *uuid, uint64_t luid, int *refused)
{
    static const char ctr[] = "1024 core 8";
    /* A refused connection may be closed already: the send may fail, the
     * refusal is still there to read. */
    (void)raw_send(fd, DLW_CTR, uuid, luid, 1, ctr, sizeof ctr);
    struct dlw_header h;
    char buf[512];
    if (raw_recv(fd, &h, buf, sizeof buf) != 1)
        return -1000;
    *refused = h.request_type == 0 && h.seq == 0;
    return h.error;
}
