/* dirtylogd -v logs each connection when it comes (connection id, uid,
 * pid), not only when it goes (docs/dirtylogd.md, -v). Read from the
 * daemon's stderr. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "daemon_fixture.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

/* Poll the daemon's stderr (bounded, 10 s) for a line holding both a and b. */
static int logged(const char *path, const char *a, const char *b)
{
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(path, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, a) && strstr(line, b)) {
                fclose(f);
                return 1;
            }
        if (f)
            fclose(f);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct daemon_fx fx = {0};
    REQUIRE(daemon_make_dir(&fx) == 0);
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr", fx.dir);
    fx.stderr_path = errpath;
    REQUIRE(daemon_start(&fx, argv[1], (const char *const[]){"-v", NULL}) == 0);

    /* daemon_start's probes connected too; ours is the one with a request. */
    int fd = daemon_connect(&fx);
    REQUIRE(fd >= 0);
    CHECK_EQ(raw_ctr(fd, "vlog", 7, "1024 core 8"), 0);
    char who[96];
    snprintf(who, sizeof who, "(uid %ld, pid %ld): connected", (long)getuid(), (long)getpid());
    /* Logged while the connection is still open. */
    CHECK(logged(errpath, "dirtylogd: conn ", who));
    close(fd);
    snprintf(who, sizeof who, "(uid %ld, pid %ld): closed", (long)getuid(), (long)getpid());
    CHECK(logged(errpath, "dirtylogd: conn ", who));

    CHECK_EQ(daemon_stop(&fx), 0);
    daemon_cleanup(&fx);
    return test_exit_status("test_verbose_connect");
}
