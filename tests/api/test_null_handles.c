/* The NULL-handle rule (dirtylog.h), checked on every public function that
 * takes a dl_log * or a dl_rh *: int results are -EINVAL, sizes 0, pointers
 * NULL; destroy and the context setter ignore NULL. Before the rule, the
 * dl_log_* calls dereferenced NULL (this test then crashes). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static int no_flush(void *arg)
{
    (void)arg;
    return 0;
}

static void test_log_null(void)
{
    uint64_t u = 7;
    CHECK_EQ(dl_log_set_flush_callback(NULL, no_flush, NULL), -EINVAL);
    CHECK_EQ(dl_log_call_flush_callback(NULL), -EINVAL);
    CHECK_EQ(dl_log_presuspend(NULL), -EINVAL);
    CHECK_EQ(dl_log_postsuspend(NULL), -EINVAL);
    CHECK_EQ(dl_log_resume(NULL), -EINVAL);
    CHECK_EQ(dl_log_flush(NULL), -EINVAL);
    CHECK_EQ(dl_log_is_clean(NULL, 0), -EINVAL);
    CHECK_EQ(dl_log_in_sync(NULL, 0, 1), -EINVAL);
    CHECK_EQ(dl_log_mark_region(NULL, 0), -EINVAL);
    CHECK_EQ(dl_log_clear_region(NULL, 0), -EINVAL);
    CHECK_EQ(dl_log_get_resync_work(NULL, &u), -EINVAL);
    CHECK_EQ(dl_log_set_region_sync(NULL, 0, 1), -EINVAL);
    CHECK_EQ(dl_log_get_sync_count(NULL, &u), -EINVAL);
    CHECK_U64(u, 7); /* nothing written */
    CHECK_EQ(dl_log_is_remote_recovering(NULL, 0), -EINVAL);

    char buf[16] = "untouched";
    CHECK_EQ(dl_log_status(NULL, DL_STATUS_INFO, buf, sizeof buf), -EINVAL); /* not -ENOSPC */
    CHECK_STR(buf, "");
    CHECK_EQ(dl_log_status(NULL, DL_STATUS_TABLE, NULL, 0), -EINVAL);

    CHECK_EQ(dl_log_get_region_size(NULL), 0);
    CHECK_U64(dl_log_get_region_count(NULL), 0);
    CHECK_U64(dl_log_get_target_sectors(NULL), 0);
    CHECK(dl_log_get_type(NULL) == NULL);
    CHECK(dl_log_get_context(NULL) == NULL);
    dl_log_set_context(NULL, buf); /* ignored */
    dl_log_destroy(NULL);          /* ignored */

    /* Helpers for type authors take a NULL log: it only names the message's owner. */
    dl_log_errorf(NULL, "message %d", 1);
    CHECK_STR(dl_last_error(), "message 1");
    uint32_t rs = 0;
    CHECK_EQ(dl_parse_region_size(NULL, "8", 80, &rs), 0);
    CHECK_EQ(rs, 8);
    CHECK_EQ(dl_parse_region_size(NULL, "7", 80, &rs), -EINVAL);
    CHECK(strstr(dl_last_error(), "power of 2") != NULL);
}

static void test_rh_null(void)
{
    uint64_t u = 7;
    dl_rh *rh = (dl_rh *)&u;
    CHECK_EQ(dl_rh_create(NULL, NULL, &rh), -EINVAL);
    CHECK(rh == NULL);
    CHECK(dl_rh_get_log(NULL) == NULL);
    CHECK_EQ(dl_rh_begin_write(NULL, 0, 1, 0), -EINVAL);
    CHECK_EQ(dl_rh_end_write(NULL, 0, 1, 0), -EINVAL);
    CHECK_EQ(dl_rh_begin_sectors(NULL, 0, 1, 0), -EINVAL);
    CHECK_EQ(dl_rh_end_sectors(NULL, 0, 1, 0), -EINVAL);
    CHECK_EQ(dl_rh_flush(NULL), -EINVAL);
    CHECK_EQ(dl_rh_clear_idle(NULL), -EINVAL);
    CHECK_EQ(dl_rh_recovery_next(NULL, &u), -EINVAL);
    CHECK_EQ(dl_rh_recovery_wait_idle(NULL, 0), -EINVAL);
    CHECK_EQ(dl_rh_recovery_end(NULL, 0, 1), -EINVAL);
    CHECK_EQ(dl_rh_region_state(NULL, 0), -EINVAL);
    CHECK_EQ(dl_rh_range_in_sync(NULL, 0, 1), -EINVAL);
    struct dl_rh_stats st = {.struct_size = sizeof st};
    CHECK_EQ(dl_rh_get_stats(NULL, &st), -EINVAL);
    CHECK_U64(u, 7);
    dl_rh_destroy(NULL); /* ignored */
}

int main(void)
{
    test_log_null();
    test_rh_null();
    return test_exit_status("api_null_handles");
}
