/* The disk type's option words, parsed through dl_parse_flags (issue 9 §5):
 *  - dl_parse_flags hands the words it does not know back, in order, when
 *    asked, and refuses them otherwise;
 *  - the disk type takes its own options from those words: its answers
 *    (accepted, refused with which message, echoed by status as given) are
 *    what they were when it parsed every word itself. */
#include <errno.h>
#include <string.h>

#include "common/check.h"
#include "memio.h"

TEST_MAIN_DEFINITIONS

static void test_parse_flags_rest(void)
{
    char *argv[] = {"grow", "nosync", "format=dm", "block_on_error", "max_bitmap=9"};
    char *rest[5] = {0};
    unsigned nrest = 99;
    enum dl_sync_mode mode = DL_SYNC_FORCE;
    int boe = -1;
    CHECK_EQ(dl_parse_flags(NULL, 5, argv, &mode, &boe, rest, &nrest), 0);
    CHECK_EQ(mode, DL_SYNC_NONE);
    CHECK_EQ(boe, 1);
    CHECK_EQ(nrest, 3);
    CHECK(rest[0] == argv[0] && rest[1] == argv[2] && rest[2] == argv[4]);

    /* No room for them: refused as before. */
    CHECK_EQ(dl_parse_flags(NULL, 5, argv, &mode, &boe, NULL, NULL), -EINVAL);
    CHECK(strstr(dl_last_error(), "unknown argument 'grow'") != NULL);
    /* A conflict among the flags is refused even with room for the rest. */
    char *twice[] = {"sync", "x", "nosync"};
    CHECK_EQ(dl_parse_flags(NULL, 3, twice, &mode, &boe, rest, &nrest), -EINVAL);
    CHECK(strstr(dl_last_error(), "'nosync' conflicts with an earlier sync/nosync") != NULL);
    CHECK_EQ(dl_parse_flags(NULL, 1, twice, &mode, &boe, rest, NULL), -EINVAL);
    /* Only flags: nothing handed back. */
    CHECK_EQ(dl_parse_flags(NULL, 1, twice, &mode, &boe, rest, &nrest), 0);
    CHECK_EQ(nrest, 0);
    CHECK_EQ(mode, DL_SYNC_FORCE);
    CHECK_EQ(boe, 0);
}

/* Open a disk log with these words after "x 8": its rc; the status TABLE
 * (or the error) in out. */
static int open_disk(const char *words, char *out, size_t len)
{
    struct memio m;
    memio_init(&m, 16384, 0);
    char args[200];
    snprintf(args, sizeof args, "x 8 %s", words);
    dl_log *log = NULL;
    int r = memio_open_words(&m, args, 64 * 8, &log);
    if (r == 0) {
        CHECK(dl_log_status(log, DL_STATUS_TABLE, out, len) > 0);
        dl_log_destroy(log);
    } else {
        snprintf(out, len, "%s", dl_last_error());
    }
    memio_destroy(&m);
    return r;
}

static void test_disk_words(void)
{
    char buf[256];
    CHECK_EQ(open_disk("block_on_error grow nosync format=dm max_bitmap=4096", buf, sizeof buf), 0);
    CHECK_STR(buf, "disk 7 x 8 block_on_error grow nosync format=dm max_bitmap=4096");
    CHECK_EQ(open_disk("sync", buf, sizeof buf), 0);
    CHECK_STR(buf, "disk 3 x 8 sync");

    CHECK_EQ(open_disk("sync nosync", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "'nosync' conflicts with an earlier sync/nosync") != NULL);
    CHECK_EQ(open_disk("block_on_error block_on_error", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "'block_on_error' given twice") != NULL);
    CHECK_EQ(open_disk("grow grow", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "'grow' given twice") != NULL);
    CHECK_EQ(open_disk("format=dm format=native", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "'format=native' conflicts with an earlier format=") != NULL);
    CHECK_EQ(open_disk("max_bitmap=1 max_bitmap=2", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "'max_bitmap=2' conflicts with an earlier max_bitmap=") != NULL);
    CHECK_EQ(open_disk("nosync bogus", buf, sizeof buf), -EINVAL);
    CHECK(strstr(buf, "unknown argument 'bogus' (expected sync, nosync, block_on_error, "
                      "format=dm, format=native, grow or max_bitmap=<bytes>)") != NULL);
}

int main(void)
{
    test_parse_flags_rest();
    test_disk_words();
    return test_exit_status("test_disk_options");
}
