/* vm_nl_inject PORTID: as a root process (not the kernel), send datagrams
 * in the kernel connector's framing to netlink port PORTID (dirtylogd's
 * connector socket): a request of an unknown type, one whose data_size
 * promises more than it carries, one of the wrong version, one cut inside
 * its header, and a well-formed CTR. For each, print "<name>: reply" or
 * "<name>: none" (nothing within 1 s). dirtylogd takes requests from the
 * kernel (port 0) only, so the VM test expects "none" for all of them and
 * the daemon still serving the kernel afterwards.
 * The fields are written one by one in host byte order, as the kernel does
 * (docs/kernel.md): nlmsghdr, cn_msg, dm_ulog_request (version 3), payload. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef NETLINK_CONNECTOR
#define NETLINK_CONNECTOR 11
#endif

enum { NLH = 16, CNH = 20, REQH = 160, UUID_LEN = 129 };

static size_t put16(uint8_t *p, size_t at, uint16_t v) { memcpy(p + at, &v, 2); return at + 2; }
static size_t put32(uint8_t *p, size_t at, uint32_t v) { memcpy(p + at, &v, 4); return at + 4; }
static size_t put64(uint8_t *p, size_t at, uint64_t v) { memcpy(p + at, &v, 8); return at + 8; }

/* One datagram: a request header with these fields, then `payload`
 * (pay_len bytes); the whole cut to `cut` bytes if cut is not 0. */
static size_t build(uint8_t *d, uint32_t seq, uint32_t version, uint32_t type,
                    uint32_t data_size, const char *payload, size_t pay_len, size_t cut)
{
    size_t total = NLH + CNH + REQH + pay_len;
    memset(d, 0, total);
    size_t at = put32(d, 0, (uint32_t)total);
    at = put16(d, at, 3 /* NLMSG_DONE */);
    at = put16(d, at, 0);
    at = put32(d, at, seq);
    at = put32(d, at, (uint32_t)getpid());
    at = put32(d, at, 7); /* CN_IDX_DM */
    at = put32(d, at, 1); /* CN_VAL_DM_USERSPACE_LOG */
    at = put32(d, at, seq);
    at = put32(d, at, 0);
    at = put16(d, at, (uint16_t)(REQH + pay_len));
    at = put16(d, at, 0);
    at = put64(d, at, 1); /* luid */
    snprintf((char *)d + at, UUID_LEN, "vm-nl-inject");
    at += UUID_LEN + 3;
    at = put32(d, at, version);
    at = put32(d, at, 0); /* error */
    at = put32(d, at, seq);
    at = put32(d, at, type);
    at = put32(d, at, data_size);
    memcpy(d + at, payload, pay_len);
    if (cut) {
        put32(d, 0, (uint32_t)cut);
        return cut;
    }
    return total;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORTID\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_CONNECTOR);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
        perror("bind");
        return 1;
    }
    struct sockaddr_nl to = {.nl_family = AF_NETLINK,
                             .nl_pid = (uint32_t)strtoul(argv[1], NULL, 10)};
    static const char ctr[] = "16384 core 128";
    struct {
        const char *name;
        uint32_t version, type, data_size;
        const char *payload;
        size_t pay_len, cut;
    } cases[] = {
        {"unknown-type", 3, 99, 0, "", 0, 0},
        {"short-payload", 3, 7 /* IS_CLEAN */, 8, "", 0, 0},
        {"wrong-version", 2, 6 /* GET_REGION_SIZE */, 0, "", 0, 0},
        {"cut-header", 3, 6, 0, "", 0, NLH + CNH + 40},
        {"forged-ctr", 3, 1 /* CTR */, sizeof ctr, ctr, sizeof ctr, 0},
    };
    uint8_t d[NLH + CNH + REQH + 64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = build(d, 0x7000u + (uint32_t)i, cases[i].version, cases[i].type,
                         cases[i].data_size, cases[i].payload, cases[i].pay_len, cases[i].cut);
        if (sendto(fd, d, n, 0, (struct sockaddr *)&to, sizeof to) < 0) {
            fprintf(stderr, "%s: sendto: %s\n", cases[i].name, strerror(errno));
            return 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 1000);
        if (r > 0) {
            uint8_t junk[8192];
            (void)recv(fd, junk, sizeof junk, 0);
        }
        printf("%s: %s\n", cases[i].name, r > 0 ? "reply" : "none");
    }
    close(fd);
    return 0;
}
