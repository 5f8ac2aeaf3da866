/* dirtylogd --list (ADMIN_LIST, docs/protocol.md): every log and every
 * client shows up exactly once however many pages the listing takes (many
 * logs with long uuids; one log with more clients than a page holds, all
 * with the same tag, as a hostile owner could choose them); the counts are
 * the daemon's; JSON is valid (python3 -m json.tool) and escapes a table
 * that is not UTF-8; a non-root uid sees only its own logs; a malformed
 * cursor is refused. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define NLOGS 150        /* ~200 bytes each in a page: several pages */
#define SAME_TAG 120     /* sessions of one log sharing a tag: more than a page holds */
#define OTHER_TAGS 30

static struct daemon_fx fx;

/* python3 -m json.tool accepts the last --list --json output: 1 yes, 0 no,
 * -1 no python3 here. */
static int json_valid(void)
{
    if (system("python3 -c '' >/dev/null 2>&1") != 0)
        return -1;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -m json.tool %s/list.out >/dev/null", fx.dir);
    return system(cmd) == 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- luids with a chosen tag (the tag is the top half of an invertible
 * mix of the luid, docs/protocol.md "Client tag") ---- */

static uint64_t inverse(uint64_t a) /* of an odd a, mod 2^64 (Newton) */
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

static uint64_t unxorshift(uint64_t z, unsigned s)
{
    uint64_t x = z;
    for (unsigned k = s; k < 64; k += s)
        x = z ^ (x >> s);
    return x;
}

static uint64_t luid_with_tag(uint32_t tag, uint32_t low)
{
    uint64_t z = (uint64_t)tag << 32 | low;
    z = unxorshift(z, 31) * inverse(0x94d049bb133111ebull);
    z = unxorshift(z, 27) * inverse(0xbf58476d1ce4e5b9ull);
    return unxorshift(z, 30) - 0x9e3779b97f4a7c15ull;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    REQUIRE(luid_with_tag(0x5eed5eed, 7) != luid_with_tag(0x5eed5eed, 8));
    REQUIRE(dl__wire_client_tag(luid_with_tag(0x5eed5eed, 7)) == 0x5eed5eed);
    /* uid 65534 may connect: allowed, the directory searchable and (below)
     * the socket writable. */
    REQUIRE(daemon_make_dir(&fx) == 0);
    REQUIRE(chmod(fx.dir, 0711) == 0);
    REQUIRE(daemon_start(&fx, argv[1], (const char *const[]){"--allow-uid", "0,65534", NULL}) == 0);
    REQUIRE(chmod(fx.socket, 0666) == 0);
    static char out[1 << 20];

    CHECK_EQ(daemon_list(&fx, 0, -1, out, sizeof out), 0);
    CHECK_STR(out, "no logs\n");

    /* Many logs with long uuids, one session each, kept attached. */
    int fd = daemon_connect(&fx);
    REQUIRE(fd >= 0);
    for (int i = 0; i < NLOGS; i++) {
        char uuid[128];
        snprintf(uuid, sizeof uuid, "log-%03d-%0100d", i, i);
        CHECK_EQ(raw_ctr(fd, uuid, 1000 + (uint64_t)i, "1024 core 8"), 0);
    }
    /* One log whose clients do not fit a page, many of them with one tag;
     * marks on one of them; then the connection goes: all detached. */
    int fd2 = daemon_connect(&fx);
    REQUIRE(fd2 >= 0);
    for (uint32_t i = 0; i < SAME_TAG + OTHER_TAGS; i++) {
        uint64_t luid = i < SAME_TAG ? luid_with_tag(0x5eed5eed, i) : 77 + i;
        CHECK_EQ(raw_ctr(fd2, "crowd", luid, "1024 core 8"), 0);
    }
    uint8_t regions[3 * 8];
    for (int i = 0; i < 3; i++)
        put_le64(regions + 8 * i, (uint64_t)i * 5);
    struct dlw_header h;
    uint8_t rep[4096];
    CHECK(raw_send(fd2, DLW_MARK_REGION, "crowd", 77 + SAME_TAG, 9, regions, sizeof regions) == 0);
    CHECK(raw_recv(fd2, &h, rep, sizeof rep) == 1 && h.error == 0);
    close(fd2);
    /* A disk log whose path is not UTF-8 (a Latin-1 e-acute) and has a control character. */
    int fd3 = daemon_connect(&fx);
    REQUIRE(fd3 >= 0);
    CHECK_EQ(raw_ctr(fd3, "latin", 5, "1024 disk caf\xe9\x01.log 8"), 0);

    /* The text listing: every log once, every client once. The detached
     * clients show up once the daemon has seen the close (polled). */
    int detached = 0;
    for (int i = 0; i < 2000 && detached < SAME_TAG + OTHER_TAGS; i++) {
        CHECK_EQ(daemon_list(&fx, 0, -1, out, sizeof out), 0);
        detached = (int)count(out, ": detached, uid 0");
    }
    CHECK_EQ(detached, SAME_TAG + OTHER_TAGS);
    CHECK_EQ(count(out, "\nlog ") + (strncmp(out, "log ", 4) == 0), NLOGS + 2);
    CHECK_EQ(count(out, ": attached (conn "), NLOGS + 1);
    CHECK_EQ(count(out, "  client 5eed5eed: detached"), SAME_TAG);
    CHECK(strstr(out, "log crowd: owner uid 0, 150 client(s) (0 attached), 128 regions of 8 "
                      "sectors, 0 in sync, 3 marked, hosted\n  table: 1024 core 8\n") != NULL);
    CHECK(strstr(out, "3 mark(s) kept") != NULL);
    CHECK(strstr(out, "table: 1024 disk caf\xe9\\x01.log 8\n") != NULL); /* no raw \x01 */
    char want[160];
    snprintf(want, sizeof want, "log log-%03d-%0100d: owner uid 0, 1 client(s) (1 attached)",
             NLOGS - 1, NLOGS - 1);
    CHECK(strstr(out, want) != NULL);

    /* JSON: the same, valid, the table escaped by the documented rule. */
    CHECK_EQ(daemon_list(&fx, 1, -1, out, sizeof out), 0);
    CHECK(strncmp(out, "{\"logs\":[{\"uuid\":\"crowd\"", 24) == 0); /* uuid order */
    CHECK_EQ(count(out, "\"uuid\":"), NLOGS + 2);
    CHECK_EQ(count(out, "\"tag\":"), NLOGS + 1 + SAME_TAG + OTHER_TAGS);
    CHECK_EQ(count(out, "\"tag\":\"5eed5eed\""), SAME_TAG);
    CHECK(strstr(out, "\"table\":\"1024 disk caf\\u00e9\\u0001.log 8\"") != NULL);
    CHECK(strstr(out, "\"marked\":3,") != NULL);
    int valid = json_valid();
    if (valid < 0)
        printf("note: no python3 here: JSON checked by the counts only\n");
    else
        CHECK_EQ(valid, 1);

    /* Another uid sees its own log only (and may list at all). */
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        int c = daemon_connect(&fx);
        _exit(c >= 0 && raw_ctr(c, "nobodys", 1, "1024 core 8") == 0 ? 0 : 1);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    const char *emu = getenv("DL_TEST_EMULATOR");
    if (geteuid() == 0 && emu && *emu) {
        /* The emulator is given the binary by its path, which uid 65534
         * may not be able to reach (a clone in a private directory). */
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        printf("note: under %s the per-uid view is checked by the native builds\n", emu);
    } else if (geteuid() == 0) {
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* Its session is detached now: the log stays, marks or not. */
        CHECK_EQ(daemon_list(&fx, 1, 65534, out, sizeof out), 0);
        CHECK_EQ(count(out, "\"uuid\":"), 1);
        CHECK(strstr(out, "\"uuid\":\"nobodys\"") != NULL);
        CHECK(strstr(out, "\"owner_uid\":65534") != NULL);
        CHECK_EQ(daemon_list(&fx, 1, -1, out, sizeof out), 0);
        CHECK_EQ(count(out, "\"uuid\":"), NLOGS + 3); /* root sees it too */
    } else {
        printf("note: not root: the per-uid view is not checked\n");
    }

    /* A malformed cursor: refused with a reason, the connection kept. */
    uint8_t bad[20] = {0};
    bad[12] = 50; /* uuid length past the payload */
    CHECK(raw_send(fd3, DLW_ADMIN_LIST, "*", 0, 11, bad, sizeof bad) == 0);
    CHECK(raw_recv(fd3, &h, rep, sizeof rep) == 1);
    CHECK_EQ(h.error, -EINVAL);
    CHECK(h.data_size > 0 && strstr((const char *)rep, "cursor") != NULL);
    CHECK(raw_send(fd3, DLW_ADMIN_LIST, "*", 0, 12, NULL, 0) == 0);
    CHECK(raw_recv(fd3, &h, rep, sizeof rep) == 1);
    CHECK_EQ(h.error, 0);
    CHECK(h.data_size <= 4096 && get_le32(rep) == 1 && get_le32(rep + 8) > 0); /* more pages */

    close(fd3);
    close(fd);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_list");
}
