/* A live mirror for the tests: opens the legs and the log for writing the way
 * dlmirror and the nbdkit plugin do (so it claims them), begins a write in
 * each region given and puts it on leg 0 only (a write in flight, its region
 * durably dirty), prints "ready", and holds everything until its standard
 * input reaches end of file. Then it exits without ending the writes or
 * suspending the log, as a crash would.
 *
 *   usage: mirror_holder "<table line>" LEG0 LEG1 [REGION...]
 * Exit 0 after the hold, 2 on any error (with a message, and no "ready"). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log_internal.h" /* dl__parse_u64 */
#include "mirror.h"

#define HOLDER_WRITE_BYTES 4096

static int die(const char *what, const char *why)
{
    fprintf(stderr, "mirror_holder: %s: %s\n", what, why);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return die("usage", "mirror_holder \"<table line>\" LEG0 LEG1 [REGION...]");
    struct mirror m;
    if (mirror_open_legs(&m, 2, argv + 2, 0, 0) < 0 || mirror_open_log(&m, argv[1]) < 0)
        return die("open", m.err);
    dl_rh *rh;
    int r = dl_rh_create(m.log, NULL, &rh);
    if (r < 0)
        return die("dl_rh_create", dl_strerror(r));
    static char buf[HOLDER_WRITE_BYTES];
    memset(buf, 0xA5, sizeof buf);
    for (int i = 4; i < argc; i++) {
        uint64_t region;
        if (dl__parse_u64(argv[i], &region) < 0 || region >= m.region_count)
            return die(argv[i], "not a region of the mirror");
        uint64_t off = mirror_region_offset(&m, region);
        if ((r = dl_rh_begin_write(rh, off, sizeof buf, 0)) < 0)
            return die("dl_rh_begin_write", dl_strerror(r));
        if ((r = mirror_write_leg(&m, 0, buf, sizeof buf, off)) < 0)
            return die("write leg 0", strerror(-r));
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) { /* until end of file (or an error) */
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    _exit(0);
}
