/* dirtylogd --list shows the states a restart leaves: a log in its grace
 * period (its client awaited, a clear held), a refused log (corrupt state
 * file) with the reason, and a released client; in text and JSON. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

static struct daemon_fx fx;

/* One request with a payload of u64 regions; the reply's error. */
static int regions(int fd, uint32_t type, const char *uuid, uint64_t luid, uint64_t r)
{
    uint8_t p[8];
    put_le64(p, r);
    struct dlw_header h;
    uint8_t rep[512];
    if (raw_send(fd, type, uuid, luid, 1, p, sizeof p) < 0 || raw_recv(fd, &h, rep, sizeof rep) != 1)
        return -1000;
    return h.error;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    REQUIRE(daemon_start(&fx, argv[1], NULL) == 0);
    static char out[65536];

    /* Before the restart: two logs, each with a client holding a mark. */
    int fd = daemon_connect(&fx);
    REQUIRE(fd >= 0);
    CHECK_EQ(raw_ctr(fd, "graced", 9, "1024 core 8"), 0);
    CHECK_EQ(regions(fd, DLW_FLUSH, "graced", 9, 4), 0);
    CHECK_EQ(raw_ctr(fd, "broken", 3, "1024 core 8"), 0);
    close(fd);
    CHECK_EQ(daemon_stop(&fx), 0);
    /* "broken" is YnJva2Vu in base64url: flip one byte of its state file. */
    char path[256];
    snprintf(path, sizeof path, "%s/log-YnJva2Vu.state", fx.state_dir);
    int sf = open(path, O_RDWR);
    CHECK(sf >= 0);
    uint8_t byte = 0;
    CHECK_EQ(pread(sf, &byte, 1, 20), 1);
    byte ^= 0x40;
    CHECK_EQ(pwrite(sf, &byte, 1, 20), 1);
    close(sf);

    /* After it: "graced" waits for client 9 (whose marks come back with
     * it: none is counted meanwhile); a new client's clear of a
     * region nobody holds is held. */
    REQUIRE(daemon_start(&fx, argv[1], NULL) == 0);
    fd = daemon_connect(&fx);
    REQUIRE(fd >= 0);
    CHECK_EQ(raw_ctr(fd, "graced", 10, "1024 core 8"), 0);
    CHECK_EQ(regions(fd, DLW_CLEAR_REGION, "graced", 10, 7), 0);

    CHECK_EQ(daemon_list(&fx, 0, -1, out, sizeof out), 0);
    CHECK(strstr(out, "log broken: owner uid ") != NULL);
    CHECK(strstr(out, "marked, refused\n  table: (unknown)\n") != NULL);
    CHECK(strstr(out, "  refused: ") != NULL && strstr(out, "checksum") != NULL);
    CHECK(strstr(out, "2 client(s) (1 attached), 128 regions of 8 sectors") != NULL);
    CHECK(strstr(out, "0 marked, grace (1 client(s) awaited, 1 clear(s) held)\n") != NULL);
    CHECK(strstr(out, ": detached (awaited since the restart), uid ") != NULL);

    CHECK_EQ(daemon_list(&fx, 1, -1, out, sizeof out), 0);
    CHECK(strstr(out, "{\"uuid\":\"broken\",") != NULL);
    CHECK(strstr(out, "\"state\":\"refused\",\"released\":false,\"refusal\":\"") != NULL);
    CHECK(strstr(out, "\"region_size\":null,\"region_count\":null,\"in_sync\":null") != NULL);
    CHECK(strstr(out, "\"state\":\"grace\"") != NULL);
    CHECK(strstr(out, "\"marked\":0,\"held_clears\":1,\"sessions\":2,\"attached\":1,\"awaited\":1") !=
          NULL);
    CHECK(strstr(out, "\"attached\":false,\"conn\":0,") != NULL);
    CHECK(strstr(out, "\"awaited\":true}") != NULL);

    /* The operator releases the client that will not come back: the grace
     * ends, the log says it had clients released. */
    CHECK_EQ(daemon_release(&fx, "graced"), 0);
    CHECK_EQ(daemon_list(&fx, 1, -1, out, sizeof out), 0);
    CHECK(strstr(out, "\"state\":\"hosted\",\"released\":true") != NULL);
    CHECK(strstr(out, "\"held_clears\":0,\"sessions\":1,\"attached\":1,\"awaited\":0") != NULL);
    CHECK_EQ(daemon_list(&fx, 0, -1, out, sizeof out), 0);
    CHECK(strstr(out, "hosted, clients released\n") != NULL);

    close(fd);
    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_list_states");
}
