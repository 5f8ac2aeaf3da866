/* dirtylogd's state files (see state.h; byte layout in docs/protocol.md). */
#define _GNU_SOURCE /* O_NOFOLLOW, O_DIRECTORY with fdopendir */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/crc32c.h"
#include "state.h"

static const uint8_t magic[8] = {'D', 'L', 'D', 'S', 'T', 'A', 'T', 'E'};
#define HEAD_SIZE 16u   /* magic, version, body_len */
#define FIXED_BODY 12u  /* owner_uid, nsessions, uuid_len, ctr_len */
#define SESSION_SIZE 16u
#define FILE_MAX (HEAD_SIZE + FIXED_BODY + DLW_UUID_SIZE + DLD_STATE_MAX_CTR + \
                  DLD_STATE_MAX_SESSIONS * SESSION_SIZE + 4u)

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int dld_state_encode(const struct dld_state *st, uint8_t **buf, size_t *len)
{
    size_t ul = strlen(st->uuid), cl = strlen(st->ctr);
    if (ul == 0 || ul >= DLW_UUID_SIZE || cl == 0 || cl > DLD_STATE_MAX_CTR ||
        st->nsessions > DLD_STATE_MAX_SESSIONS)
        return -E2BIG;
    size_t body = FIXED_BODY + ul + cl + (size_t)st->nsessions * SESSION_SIZE;
    size_t n = HEAD_SIZE + body + 4;
    uint8_t *b = calloc(1, n);
    if (!b)
        return -ENOMEM;
    memcpy(b, magic, sizeof magic);
    put_le32(b + 8, DLD_STATE_VERSION);
    put_le32(b + 12, (uint32_t)body);
    uint8_t *p = b + HEAD_SIZE;
    put_le32(p, st->owner_uid);
    put_le32(p + 4, st->nsessions);
    put16(p + 8, (uint16_t)ul);
    put16(p + 10, (uint16_t)cl);
    p += FIXED_BODY;
    memcpy(p, st->uuid, ul);
    p += ul;
    memcpy(p, st->ctr, cl);
    p += cl;
    for (uint32_t i = 0; i < st->nsessions; i++, p += SESSION_SIZE) {
        put_le64(p, st->sessions[i].luid);
        put_le32(p + 8, st->sessions[i].uid);
        put_le32(p + 12, 0); /* reserved */
    }
    put_le32(p, dl__crc32c(0, b, HEAD_SIZE + body));
    *buf = b;
    *len = n;
    return 0;
}

int dld_state_decode(const uint8_t *b, size_t n, struct dld_state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (n < HEAD_SIZE + FIXED_BODY + 4 || memcmp(b, magic, sizeof magic) != 0) {
        say(err, errlen, "not a dirtylogd state file (%zu bytes, bad magic or too short)", n);
        return -EBADMSG;
    }
    uint32_t version = get_le32(b + 8), body = get_le32(b + 12);
    if (version != DLD_STATE_VERSION) {
        say(err, errlen, "state file version %u, this daemon reads %u", version,
            DLD_STATE_VERSION);
        return -EBADMSG;
    }
    if (body < FIXED_BODY || (size_t)body + HEAD_SIZE + 4 != n) {
        say(err, errlen, "body length %u does not match the file size %zu", body, n);
        return -EBADMSG;
    }
    if (get_le32(b + HEAD_SIZE + body) != dl__crc32c(0, b, HEAD_SIZE + body)) {
        say(err, errlen, "checksum mismatch");
        return -EBADMSG;
    }
    const uint8_t *p = b + HEAD_SIZE;
    uint32_t owner = get_le32(p), ns = get_le32(p + 4);
    size_t ul = get16(p + 8), cl = get16(p + 10);
    if (ul == 0 || ul >= DLW_UUID_SIZE || cl == 0 || cl > DLD_STATE_MAX_CTR ||
        ns > DLD_STATE_MAX_SESSIONS ||
        FIXED_BODY + ul + cl + (size_t)ns * SESSION_SIZE != body) {
        say(err, errlen, "inconsistent lengths (uuid %zu, constructor %zu, %u sessions)", ul, cl,
            ns);
        return -EBADMSG;
    }
    p += FIXED_BODY;
    if (memchr(p, '\0', ul) || memchr(p + ul, '\0', cl)) {
        say(err, errlen, "NUL byte inside the uuid or constructor");
        return -EBADMSG;
    }
    st->ctr = malloc(cl + 1);
    st->sessions = calloc(ns ? ns : 1, sizeof *st->sessions);
    if (!st->ctr || !st->sessions) {
        dld_state_free(st);
        say(err, errlen, "out of memory");
        return -ENOMEM;
    }
    memcpy(st->uuid, p, ul);
    st->uuid[ul] = '\0';
    memcpy(st->ctr, p + ul, cl);
    st->ctr[cl] = '\0';
    p += ul + cl;
    st->owner_uid = owner;
    st->nsessions = ns;
    for (uint32_t i = 0; i < ns; i++, p += SESSION_SIZE) {
        st->sessions[i].luid = get_le64(p);
        st->sessions[i].uid = get_le32(p + 8);
    }
    return 0;
}

void dld_state_free(struct dld_state *st)
{
    free(st->ctr);
    free(st->sessions);
    st->ctr = NULL;
    st->sessions = NULL;
    st->nsessions = 0;
}

/* ---- names: "log-" base64url(uuid) ".state" ---------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
#define PREFIX "log-"
#define SUFFIX ".state"
#define TMP_SUFFIX ".tmp"

void dld_state_file_name(const char *uuid, char name[DLD_STATE_NAME_MAX])
{
    /* 128 bytes of uuid give 171 characters: the name stays < NAME_MAX. */
    char *o = name + sprintf(name, PREFIX);
    size_t n = strnlen(uuid, DLW_UUID_SIZE - 1);
    const uint8_t *u = (const uint8_t *)uuid;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16 | (i + 1 < n ? (uint32_t)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            *o++ = b64[(v >> (18 - 6 * k)) & 63];
    }
    strcpy(o, SUFFIX);
}

/* The uuid a state file name stands for; 0 or -1 if it is not one. */
static int uuid_of_name(const char *name, char uuid[DLW_UUID_SIZE])
{
    size_t n = strlen(name), pl = strlen(PREFIX), sl = strlen(SUFFIX);
    if (n <= pl + sl || strncmp(name, PREFIX, pl) != 0 || strcmp(name + n - sl, SUFFIX) != 0)
        return -1;
    const char *s = name + pl;
    size_t len = n - pl - sl, o = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t chars = len - i >= 4 ? 4 : len - i;
        for (size_t k = 0; k < 4; k++) {
            const char *c = k < chars ? strchr(b64, s[i + k]) : b64;
            if (!c || !*c)
                return -1;
            v = v << 6 | (uint32_t)(c - b64);
        }
        for (size_t k = 0; k + 1 < chars; k++) {
            if (o + 1 >= DLW_UUID_SIZE)
                return -1;
            uuid[o++] = (char)(v >> (16 - 8 * k));
        }
    }
    uuid[o] = '\0';
    return o && strlen(uuid) == o ? 0 : -1;
}

/* ---- files --------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int dld_state_save(int dirfd, const struct dld_state *st, char *err, size_t errlen)
{
    char name[DLD_STATE_NAME_MAX], tmp[DLD_STATE_NAME_MAX + 8];
    dld_state_file_name(st->uuid, name);
    snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, name);
    uint8_t *buf;
    size_t len;
    int r = dld_state_encode(st, &buf, &len);
    if (r < 0) {
        say(err, errlen, "cannot encode the state of log %s: %s", st->uuid, strerror(-r));
        return r;
    }
    const char *step = "create";
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = -errno;
    } else {
        step = "write";
        r = write_all(fd, buf, len);
        if (r == 0 && fsync(fd) < 0) {
            step = "fsync";
            r = -errno;
        }
        if (close(fd) < 0 && r == 0) {
            step = "close";
            r = -errno;
        }
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0) {
            step = "rename";
            r = -errno;
        }
        if (r == 0 && fsync(dirfd) < 0) {
            step = "fsync the directory of";
            r = -errno;
        }
        if (r < 0)
            unlinkat(dirfd, tmp, 0);
    }
    free(buf);
    if (r < 0)
        say(err, errlen, "cannot %s state file %s: %s", step, name, strerror(-r));
    return r;
}

int dld_state_remove(int dirfd, const char *uuid, char *err, size_t errlen)
{
    char name[DLD_STATE_NAME_MAX];
    dld_state_file_name(uuid, name);
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
        int r = -errno;
        say(err, errlen, "cannot remove state file %s: %s", name, strerror(errno));
        return r;
    }
    if (fsync(dirfd) < 0) {
        int r = -errno;
        say(err, errlen, "cannot fsync the state directory: %s", strerror(errno));
        return r;
    }
    return 0;
}

/* Read a whole (bounded) regular file beneath dirfd. */
static int read_file(int dirfd, const char *name, uint8_t **buf, size_t *len, char *err,
                     size_t errlen)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        int r = -errno;
        say(err, errlen, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)FILE_MAX) {
        close(fd);
        say(err, errlen, "not a regular file of at most %u bytes", (unsigned)FILE_MAX);
        return -EBADMSG;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        say(err, errlen, "out of memory");
        return -ENOMEM;
    }
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int r = k < 0 ? -errno : -EBADMSG;
            say(err, errlen, "cannot read: %s", k < 0 ? strerror(errno) : "file shrank");
            free(b);
            close(fd);
            return r;
        }
        got += (size_t)k;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

int dld_state_scan(int dirfd, dld_state_fn fn, void *arg)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int r = -errno;
        if (fd >= 0)
            close(fd);
        return r;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t n = strlen(name), tl = strlen(TMP_SUFFIX);
        if (strncmp(name, PREFIX, strlen(PREFIX)) == 0 && n > tl &&
            strcmp(name + n - tl, TMP_SUFFIX) == 0) {
            unlinkat(dirfd, name, 0); /* a save that never reached its rename */
            continue;
        }
        char uuid[DLW_UUID_SIZE];
        if (uuid_of_name(name, uuid) < 0)
            continue; /* not ours */
        char err[256] = "";
        uint8_t *buf = NULL;
        size_t len = 0;
        struct dld_state st;
        int r = read_file(dirfd, name, &buf, &len, err, sizeof err);
        if (r == 0)
            r = dld_state_decode(buf, len, &st, err, sizeof err);
        free(buf);
        if (r == 0 && strcmp(st.uuid, uuid) != 0) {
            say(err, sizeof err, "names log '%s' but is the file of another log", st.uuid);
            dld_state_free(&st);
            r = -EBADMSG;
        }
        fn(arg, uuid, r == 0 ? &st : NULL, r, err);
        if (r == 0)
            dld_state_free(&st);
    }
    closedir(d);
    return 0;
}

/* The canonical form of a directory path, or a copy of it if it does not
 * exist (yet). */
static char *canonical(const char *dir)
{
    char *r = realpath(dir, NULL);
    return r ? r : strdup(dir);
}

/* a is b or lies beneath it. */
static int beneath(const char *a, const char *b)
{
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/')
        n--;
    return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/'));
}

int dld_state_dirs_overlap(const char *a, const char *b)
{
    char *ca = canonical(a), *cb = canonical(b);
    int r = !ca || !cb || beneath(ca, cb) || beneath(cb, ca); /* no memory: say yes, refuse */
    free(ca);
    free(cb);
    return r;
}
