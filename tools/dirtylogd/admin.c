/* dirtylogd's admin client (see admin.h): talks to the running daemon over
 * its socket with the shared wire codec. The listing's byte layout is in
 * docs/protocol.md ("ADMIN_LIST"); text and JSON formats in
 * docs/dirtylogd.md ("Listing what the daemon hosts"). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "json.h"
#include "list.h"
#include "remote/client_conn.h" /* dl__rc_connect_reason */
#include "request.h"            /* DLD_REPLY_MAX */

#define ADMIN_TIMEOUT_S 10 /* per reply */
#define ADMIN_UUID "*"    /* the header's uuid, for requests that name no log */

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Connect to the daemon; -1 after saying why. */
static int admin_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1, e = 0;
    if (strlen(path) >= sizeof sa.sun_path)
        e = -ENAMETOOLONG;
    else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        e = -errno;
    if (fd >= 0) {
        strcpy(sa.sun_path, path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            e = -errno;
    }
    if (e < 0) {
        char why[320];
        dl__rc_connect_reason(path, e, why, sizeof why);
        fprintf(stderr, "dirtylogd: cannot reach dirtylogd at %s: %s\n", path, why);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = ADMIN_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request and its reply (payload into out[DLD_REPLY_MAX]). 0 with *rh
 * filled (the daemon's error in rh->error), or -1 after saying why. */
static int admin_call(int fd, const char *path, uint32_t type, const char *uuid, uint32_t seq,
                      const uint8_t *payload, uint32_t len, struct dlw_header *rh, uint8_t *out)
{
    struct dlw_header h;
    uint8_t msg[DLW_HEADER_SIZE + 256];
    if (len > sizeof msg - DLW_HEADER_SIZE ||
        dl__wire_request_header(&h, uuid, 0, seq, type, len) < 0) {
        fprintf(stderr, "dirtylogd: bad request (uuid '%s')\n", uuid);
        return -1;
    }
    dl__wire_encode_header(&h, msg);
    if (len)
        memcpy(msg + DLW_HEADER_SIZE, payload, len);
    uint8_t hdr[DLW_HEADER_SIZE];
    if (write(fd, msg, DLW_HEADER_SIZE + len) != (ssize_t)(DLW_HEADER_SIZE + len) ||
        read_full(fd, hdr, sizeof hdr) < 0) {
        fprintf(stderr, "dirtylogd: no answer from %s\n", path);
        return -1;
    }
    if (dl__wire_decode_header(hdr, DLD_REPLY_MAX, rh) < 0 || rh->seq != seq ||
        read_full(fd, out, rh->data_size) < 0) {
        fprintf(stderr, "dirtylogd: bad answer from %s\n", path);
        return -1;
    }
    if (rh->error < 0) /* out: the message, NUL-terminated */
        out[rh->data_size ? rh->data_size - 1 : 0] = '\0';
    if (rh->request_type == 0 && rh->error < 0) {
        fprintf(stderr, "dirtylogd: %s refused the connection: %s\n", path,
                strerror(-rh->error));
        return -1;
    }
    return 0;
}

/* ---- --release ---------------------------------------------------------- */

int dld_admin_release(const char *path, const char *spec)
{
    char uuid[DLW_UUID_SIZE + 32];
    snprintf(uuid, sizeof uuid, "%s", spec);
    uint8_t payload[8];
    uint32_t plen = 0;
    char *colon = strrchr(uuid, ':');
    if (colon) {
        *colon = '\0';
        char *end;
        errno = 0;
        uint64_t tag = strtoull(colon + 1, &end, 16);
        if (errno || !colon[1] || *end || tag > UINT32_MAX) {
            fprintf(stderr, "dirtylogd: bad client tag '%s' (8 hex digits, as -v prints)\n",
                    colon + 1);
            return 2;
        }
        put_le64(payload, tag);
        plen = 8;
    }
    if (!uuid[0] || strlen(uuid) >= DLW_UUID_SIZE) {
        fprintf(stderr, "dirtylogd: bad uuid '%s'\n", uuid);
        return 2;
    }
    int fd = admin_connect(path);
    if (fd < 0)
        return 1;
    struct dlw_header rh;
    uint8_t out[DLD_REPLY_MAX];
    int r = admin_call(fd, path, DLW_ADMIN_RELEASE, uuid, 1, payload, plen, &rh, out);
    close(fd);
    if (r < 0)
        return 1;
    if (rh.error < 0) {
        fprintf(stderr, "dirtylogd: release failed: %s%s%s\n", strerror(-rh.error),
                out[0] ? ": " : "", (const char *)out);
        return 1;
    }
    printf("released %" PRIu64 " client(s)\n", rh.data_size >= 8 ? get_le64(out) : 0);
    return 0;
}

/* ---- --list ------------------------------------------------------------- */

/* Text output of bytes from the daemon: control characters and '\' as
 * \xHH, so nothing a client named can drive the terminal. */
static void text_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
}

struct lister {
    int json;
    int in_log;          /* a log was printed and may get more clients */
    unsigned nlogs, nclients; /* printed so far; clients of the current log */
    char uuid[DLW_UUID_SIZE]; /* the current log */
};

static const char *log_state(uint32_t flags)
{
    return flags & DLD_LOGF_REFUSED    ? "refused"
           : flags & DLD_LOGF_CREATING ? "creating"
           : flags & DLD_LOGF_GRACE    ? "grace"
                                       : "hosted";
}

static void end_log(struct lister *ls)
{
    if (ls->json && ls->in_log)
        printf("]}");
    ls->in_log = 0;
}

static void json_field_bytes(const char *name, const uint8_t *p, size_t n)
{
    printf(",\"%s\":", name);
    dl__json_string(stdout, (const char *)p, n);
}

static void print_log(struct lister *ls, const uint8_t *p)
{
    uint32_t flags = get_le32(p + 8);
    unsigned ulen = get16(p + 64), tlen = get16(p + 66), rlen = get16(p + 68);
    const uint8_t *uuid = p + DLD_LIST_LOG_FIXED, *table = uuid + ulen, *reason = table + tlen;
    uint64_t rsize = get_le64(p + 24), regions = get_le64(p + 32), in_sync = get_le64(p + 40);
    uint64_t marked = get_le64(p + 48), held = get_le64(p + 56);
    uint32_t owner = get_le32(p + 4), nses = get_le32(p + 12), awaited = get_le32(p + 16),
             attached = get_le32(p + 20);
    int counts = !(flags & DLD_LOGF_NO_COUNTS);
    end_log(ls);
    memcpy(ls->uuid, uuid, ulen);
    ls->uuid[ulen] = '\0';
    ls->in_log = 1;
    ls->nclients = 0;
    if (ls->json) {
        printf("%s{\"uuid\":", ls->nlogs ? "," : "");
        dl__json_string(stdout, (const char *)uuid, ulen);
        json_field_bytes("table", table, tlen);
        printf(",\"table_truncated\":%s,\"owner_uid\":%" PRIu32 ",\"state\":\"%s\""
               ",\"released\":%s", flags & DLD_LOGF_TABLE_CUT ? "true" : "false", owner,
               log_state(flags), flags & DLD_LOGF_RELEASED ? "true" : "false");
        if (flags & DLD_LOGF_REFUSED)
            json_field_bytes("refusal", reason, rlen);
        else
            printf(",\"refusal\":null");
        if (counts)
            printf(",\"region_size\":%" PRIu64 ",\"region_count\":%" PRIu64
                   ",\"in_sync\":%" PRIu64, rsize, regions, in_sync);
        else
            printf(",\"region_size\":null,\"region_count\":null,\"in_sync\":null");
        printf(",\"marked\":%" PRIu64 ",\"held_clears\":%" PRIu64 ",\"sessions\":%" PRIu32
               ",\"attached\":%" PRIu32 ",\"awaited\":%" PRIu32 ",\"clients\":[",
               marked, held, nses, attached, awaited);
    } else {
        printf("log ");
        text_bytes(uuid, ulen);
        printf(": owner uid %" PRIu32 ", %" PRIu32 " client(s) (%" PRIu32 " attached), ", owner,
               nses, attached);
        if (counts)
            printf("%" PRIu64 " regions of %" PRIu64 " sectors, %" PRIu64 " in sync, ", regions,
                   rsize, in_sync);
        printf("%" PRIu64 " marked, %s", marked, log_state(flags));
        if (flags & DLD_LOGF_GRACE)
            printf(" (%" PRIu32 " client(s) awaited, %" PRIu64 " clear(s) held)", awaited, held);
        if (flags & DLD_LOGF_RELEASED)
            printf(", clients released");
        printf("\n  table: ");
        text_bytes(table, tlen);
        if (!tlen)
            printf("(unknown)"); /* a refused log whose state could not be read */
        printf("%s\n", flags & DLD_LOGF_TABLE_CUT ? "..." : "");
        if (flags & DLD_LOGF_REFUSED) {
            printf("  refused: ");
            text_bytes(reason, rlen);
            printf("%s\n", flags & DLD_LOGF_REASON_CUT ? "..." : "");
        }
    }
    ls->nlogs++;
}

static void print_session(struct lister *ls, const uint8_t *p)
{
    uint32_t tag = get_le32(p + 4), uid = get_le32(p + 8), flags = get_le32(p + 16);
    int32_t pid = (int32_t)get_le32(p + 12);
    uint64_t conn = get_le64(p + 24), marks = get_le64(p + 32), rec = get_le64(p + 40);
    int attached = flags & DLD_SESF_ATTACHED, awaited = (flags & DLD_SESF_AWAITED) != 0;
    if (ls->json)
        printf("%s{\"tag\":\"%08" PRIx32 "\",\"attached\":%s,\"conn\":%" PRIu64 ",\"uid\":%"
               PRIu32 ",\"pid\":%" PRId32 ",\"marks\":%" PRIu64 ",\"recovering\":%" PRIu64
               ",\"awaited\":%s}", ls->nclients ? "," : "", tag, attached ? "true" : "false",
               conn, uid, pid, marks, rec, awaited ? "true" : "false");
    else if (attached)
        printf("  client %08" PRIx32 ": attached (conn %" PRIu64 "), uid %" PRIu32 ", pid %"
               PRId32 ", %" PRIu64 " mark(s), %" PRIu64 " recovering\n", tag, conn, uid, pid,
               marks, rec);
    else
        printf("  client %08" PRIx32 ": detached%s, uid %" PRIu32 ", last pid %" PRId32 ", %"
               PRIu64 " mark(s) kept, %" PRIu64 " recovering\n", tag,
               awaited ? " (awaited since the restart)" : "", uid, pid, marks, rec);
    ls->nclients++;
}

/* The records of one page. 0, or -1 if the page is malformed. */
static int print_page(struct lister *ls, const uint8_t *p, size_t len, uint32_t records)
{
    size_t at = DLD_LIST_HEAD;
    for (uint32_t i = 0; i < records; i++) {
        if (len - at < 4)
            return -1;
        unsigned kind = get16(p + at), size = get16(p + at + 2);
        if (size < 4 || size > len - at)
            return -1;
        const uint8_t *r = p + at;
        if (kind == DLD_LIST_KIND_LOG) {
            if (size < DLD_LIST_LOG_FIXED ||
                size < DLD_LIST_LOG_FIXED + get16(r + 64) + get16(r + 66) + get16(r + 68) ||
                get16(r + 64) < 1 || get16(r + 64) >= DLW_UUID_SIZE)
                return -1;
            if (get_le32(r + 8) & DLD_LOGF_CONTINUED) {
                /* More clients of the log the last page ended in. */
                if (!ls->in_log || get16(r + 64) != strlen(ls->uuid) ||
                    memcmp(r + DLD_LIST_LOG_FIXED, ls->uuid, strlen(ls->uuid)) != 0)
                    return -1;
            } else {
                print_log(ls, r);
            }
        } else if (kind == DLD_LIST_KIND_SESSION) {
            if (size < DLD_LIST_SESSION || !ls->in_log)
                return -1;
            print_session(ls, r);
        } /* other kinds: a newer daemon; skipped */
        at += size;
    }
    return 0;
}

int dld_admin_list(const char *path, int json)
{
    int fd = admin_connect(path);
    if (fd < 0)
        return 1;
    struct lister ls = {.json = json};
    uint8_t cursor[256], out[DLD_REPLY_MAX];
    uint32_t cursor_len = 0, seq = 0;
    int status = 0;
    if (json)
        printf("{\"logs\":[");
    for (;;) {
        struct dlw_header rh;
        if (admin_call(fd, path, DLW_ADMIN_LIST, ADMIN_UUID, ++seq, cursor, cursor_len, &rh,
                       out) < 0) {
            status = 1;
            break;
        }
        if (rh.error < 0) {
            fprintf(stderr, "dirtylogd: listing failed: %s%s%s\n", strerror(-rh.error),
                    out[0] ? ": " : "", (const char *)out);
            status = 1;
            break;
        }
        uint32_t len = rh.data_size, clen = len >= DLD_LIST_HEAD ? get_le32(out + 8) : 0;
        if (len < DLD_LIST_HEAD || get_le32(out) != DLD_LIST_VERSION || clen > len - DLD_LIST_HEAD ||
            clen > sizeof cursor || (clen && clen == cursor_len && !memcmp(cursor, out + len - clen, clen)) ||
            print_page(&ls, out, len - clen, get_le32(out + 4)) < 0) {
            fprintf(stderr, "dirtylogd: malformed listing from %s\n", path);
            status = 1;
            break;
        }
        if (!clen)
            break; /* the last page */
        memcpy(cursor, out + len - clen, clen);
        cursor_len = clen;
    }
    close(fd);
    end_log(&ls);
    if (json)
        printf("]}\n");
    else if (status == 0 && ls.nlogs == 0)
        printf("no logs\n");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "dirtylogd: write error on standard output\n");
        status = 1;
    }
    return status;
}
