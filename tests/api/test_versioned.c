/* The versioned structs as a caller built against the first (v1) header sees
 * them: each is declared here with its v1 fields only, followed by garbage
 * where later fields would be. The library must accept the v1 size, read
 * nothing past it (the later fields read as 0) and write nothing past it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

/* struct dl_log_type as of v1: everything up to and including status. */
struct log_type_v1 {
    uint32_t struct_size;
    uint32_t api_version;
    const char *name;
    int thread_model;
    int (*ctr)(dl_log *, uint64_t, unsigned, char **);
    void (*dtr)(dl_log *);
    int (*presuspend)(dl_log *);
    int (*postsuspend)(dl_log *);
    int (*resume)(dl_log *);
    uint32_t (*get_region_size)(dl_log *);
    int (*is_clean)(dl_log *, uint64_t);
    int (*in_sync)(dl_log *, uint64_t, int);
    int (*flush)(dl_log *);
    int (*mark_region)(dl_log *, uint64_t);
    int (*clear_region)(dl_log *, uint64_t);
    int (*get_resync_work)(dl_log *, uint64_t *);
    int (*set_region_sync)(dl_log *, uint64_t, int);
    int (*get_sync_count)(dl_log *, uint64_t *);
    int (*status)(dl_log *, enum dl_status_type, char *, size_t);
};

struct rh_options_v1 {
    uint32_t struct_size;
    uint32_t flags;
};

struct rh_stats_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t dirty_regions, touched_regions, table_bytes, log_flushes, log_flush_errors;
    uint64_t marks, clears, cold_begins, recovery_waits, clear_passes;
};

/* A v1 struct with garbage right behind it, where newer fields would be. */
struct type_in_memory {
    struct log_type_v1 v1;
    uintptr_t garbage[4];
};

static void test_log_type_v1(void)
{
    CHECK_EQ(sizeof(struct log_type_v1), DL_LOG_TYPE_SIZE_V1);
    /* A v1 type that borrows the built-in core type's code. */
    const struct dl_log_type *core = dl_find_type("core");
    CHECK(core != NULL);
    if (!core)
        return;
    struct type_in_memory m;
    memset(&m, 0xA5, sizeof m); /* would crash if read as a function pointer */
    m.v1 = (struct log_type_v1){
        .struct_size = sizeof m.v1, .api_version = 1, .name = "core_v1",
        .thread_model = core->thread_model, .ctr = core->ctr, .dtr = core->dtr,
        .presuspend = core->presuspend, .postsuspend = core->postsuspend,
        .resume = core->resume, .get_region_size = core->get_region_size,
        .is_clean = core->is_clean, .in_sync = core->in_sync, .flush = core->flush,
        .mark_region = core->mark_region, .clear_region = core->clear_region,
        .get_resync_work = core->get_resync_work, .set_region_sync = core->set_region_sync,
        .get_sync_count = core->get_sync_count, .status = core->status,
    };

    m.v1.struct_size = sizeof m.v1 - 1; /* below v1: refused */
    CHECK_EQ(dl_register_type((const struct dl_log_type *)&m.v1), -EINVAL);
    CHECK(dl_find_type("core_v1") == NULL);

    m.v1.struct_size = sizeof m.v1;
    CHECK_EQ(dl_register_type((const struct dl_log_type *)&m.v1), 0);
    const struct dl_log_type *t = dl_find_type("core_v1");
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_EQ(t->struct_size, sizeof(struct dl_log_type)); /* the registry's full copy */
    CHECK(t->ctr == core->ctr && t->status == core->status);
    CHECK(t->is_remote_recovering == NULL); /* past v1: absent, not garbage */

    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_table("core_v1 1 8", 800, &log), 0);
    CHECK_EQ(dl_log_mark_region(log, 3), 0);
    CHECK_EQ(dl_log_is_clean(log, 3), 0);
    CHECK_EQ(dl_log_is_remote_recovering(log, 3), 0);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("core_v1"), 0);
}

/* In sync from the start, so an idle region may be cleared. */
static dl_log *core_log(void)
{
    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_table("core 2 8 nosync", 800, &log), 0);
    return log;
}

static void test_rh_options_v1(void)
{
    CHECK_EQ(sizeof(struct rh_options_v1), DL_RH_OPTIONS_SIZE_V1);
    dl_log *log = core_log();
    struct {
        struct rh_options_v1 v1;
        uint32_t garbage[2]; /* hot_periods 0xffffffff would be refused */
    } m;
    memset(&m, 0xff, sizeof m);
    m.v1 = (struct rh_options_v1){.struct_size = sizeof m.v1 - 1, .flags = 0};
    dl_rh *rh = NULL;
    CHECK_EQ(dl_rh_create(log, (const struct dl_rh_options *)&m.v1, &rh), -EINVAL);
    CHECK(rh == NULL);

    m.v1.struct_size = sizeof m.v1;
    CHECK_EQ(dl_rh_create(log, (const struct dl_rh_options *)&m.v1, &rh), 0);
    CHECK(rh != NULL);
    if (!rh) {
        dl_log_destroy(log);
        return;
    }
    /* hot_periods read as 0, i.e. the default of one whole idle period: an
     * idle region survives the first flush and is cleared at the second. */
    CHECK_EQ(dl_rh_begin_sectors(rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_end_sectors(rh, 0, 1, 0), 0);
    CHECK_EQ(dl_rh_flush(rh), 0);
    CHECK_EQ(dl_rh_flush(rh), 1);
    dl_rh_destroy(rh);
    dl_log_destroy(log);
}

static void test_rh_stats_v1(void)
{
    CHECK_EQ(sizeof(struct rh_stats_v1), DL_RH_STATS_SIZE_V1);
    dl_log *log = core_log();
    dl_rh *rh = NULL;
    CHECK_EQ(dl_rh_create(log, NULL, &rh), 0);
    if (!rh) {
        dl_log_destroy(log);
        return;
    }
    CHECK_EQ(dl_rh_begin_sectors(rh, 0, 1, 0), 0);

    struct {
        struct rh_stats_v1 v1;
        unsigned char guard[64];
    } m;
    memset(&m, 0x5a, sizeof m);
    m.v1.struct_size = sizeof m.v1 - 8; /* below v1: refused, nothing written */
    CHECK_EQ(dl_rh_get_stats(rh, (struct dl_rh_stats *)&m.v1), -EINVAL);
    CHECK_U64(m.v1.marks, 0x5a5a5a5a5a5a5a5aull);

    m.v1.struct_size = sizeof m.v1;
    CHECK_EQ(dl_rh_get_stats(rh, (struct dl_rh_stats *)&m.v1), 0);
    CHECK_EQ(m.v1.struct_size, sizeof m.v1); /* left as the caller set it */
    CHECK_U64(m.v1.marks, 1);
    CHECK_U64(m.v1.dirty_regions, 1);
    CHECK_U64(m.v1.recovery_waits, 0);
    int guard_intact = 1;
    for (size_t i = 0; i < sizeof m.guard; i++)
        guard_intact &= m.guard[i] == 0x5a;
    CHECK(guard_intact); /* nothing written past the caller's struct */

    /* A newer caller's larger struct: the library fills what it knows and
     * leaves the rest alone. */
    struct {
        struct dl_rh_stats now;
        uint64_t future;
    } big;
    memset(&big, 0x5a, sizeof big);
    big.now.struct_size = sizeof big;
    CHECK_EQ(dl_rh_get_stats(rh, &big.now), 0);
    CHECK_EQ(big.now.struct_size, sizeof big);
    CHECK_U64(big.now.marks, 1);
    CHECK_U64(big.future, 0x5a5a5a5a5a5a5a5aull);

    CHECK_EQ(dl_rh_end_sectors(rh, 0, 1, 0), 0);
    dl_rh_destroy(rh);
    dl_log_destroy(log);
}

int main(void)
{
    test_log_type_v1();
    test_rh_options_v1();
    test_rh_stats_v1();
    return test_exit_status("api_versioned");
}
