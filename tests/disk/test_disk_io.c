/* dl_log_create_disk_io's contract with its io (issue 9 §3, §4):
 *  - the io reaches the built-in "disk" type explicitly: with "disk"
 *    unregistered and a fake "disk" registered in its place, the call still
 *    makes a disk log on that io (it used to run the fake's ctr, which
 *    ignored the io, and succeed);
 *  - a struct dl_io of the first published size (DL_IO_V1_SIZE: no
 *    set_size, no reserve) makes a working log, and fields past its
 *    struct_size are never used;
 *  - a struct_size below DL_IO_V1_SIZE is refused, with a message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "memio.h"

TEST_MAIN_DEFINITIONS

/* ---- a fake "disk" in the registry ---------------------------------------- */

static int fake_ctr_calls;

static int fake_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    (void)log, (void)target, (void)argc, (void)argv;
    fake_ctr_calls++;
    return 0;
}
static void fake_dtr(dl_log *log) { (void)log; }
static uint32_t fake_region_size(dl_log *log) { (void)log; return 8; }
static int fake_region_op(dl_log *log, uint64_t region) { (void)log, (void)region; return 0; }
static int fake_in_sync(dl_log *log, uint64_t region, int can_block)
{
    (void)log, (void)region, (void)can_block;
    return 1;
}
static int fake_flush(dl_log *log) { (void)log; return 0; }
static int fake_work(dl_log *log, uint64_t *region) { (void)log, (void)region; return 0; }
static int fake_set_sync(dl_log *log, uint64_t region, int in_sync)
{
    (void)log, (void)region, (void)in_sync;
    return 0;
}
static int fake_count(dl_log *log, uint64_t *count) { (void)log; *count = 0; return 0; }
static int fake_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    (void)log, (void)type;
    buf[0] = '\0';
    return len ? 0 : -ENOSPC;
}

static const struct dl_log_type fake_disk = {
    DL_LOG_TYPE_INIT("disk"),
    .ctr = fake_ctr,
    .dtr = fake_dtr,
    .get_region_size = fake_region_size,
    .is_clean = fake_region_op,
    .in_sync = fake_in_sync,
    .flush = fake_flush,
    .mark_region = fake_region_op,
    .clear_region = fake_region_op,
    .get_resync_work = fake_work,
    .set_region_sync = fake_set_sync,
    .get_sync_count = fake_count,
    .status = fake_status,
};

static void test_replaced_disk_type(void)
{
    const struct dl_log_type *found = dl_find_type("disk");
    CHECK(found != NULL);
    if (!found)
        return;
    struct dl_log_type builtin = *found; /* the registry's copy goes away */
    builtin.name = "disk";                 /* and so does its name */
    CHECK_EQ(dl_unregister_type("disk"), 0);
    CHECK_EQ(dl_register_type(&fake_disk), 0);

    struct memio m;
    memio_init(&m, 16384, 0);
    dl_log *log = NULL;
    CHECK_EQ(memio_open_words(&m, "x 8 nosync", 64 * 8, &log), 0);
    CHECK_EQ(fake_ctr_calls, 0);
    CHECK(m.writes > 0); /* the new log was formatted on the io */
    if (log) {
        CHECK(dl_log_get_type(log)->ctr != fake_ctr);
        CHECK_EQ(dl_log_mark_region(log, 5), 0);
        CHECK_EQ(dl_log_flush(log), 0);
        CHECK_EQ(dl_log_is_clean(log, 5), 0);
        dl_log_destroy(log);
        CHECK_EQ(m.closed, 1);
    }
    /* A log created by name gets the registered type. */
    const char *argv[] = {"x", "8"};
    CHECK_EQ(dl_log_create("disk", 64 * 8, 2, argv, &log), 0);
    CHECK_EQ(fake_ctr_calls, 1);
    dl_log_destroy(log);

    CHECK_EQ(dl_unregister_type("disk"), 0);
    CHECK_EQ(dl_register_type(&builtin), 0);
    memio_destroy(&m);
}

/* ---- a struct dl_io from the first published header ------------------------- */

/* struct dl_io as first published: up to and including priv. */
struct dl_io_v1 {
    uint32_t struct_size;
    int64_t (*pread)(struct dl_io *io, void *buf, size_t len, uint64_t offset);
    int64_t (*pwrite)(struct dl_io *io, const void *buf, size_t len, uint64_t offset);
    int (*sync)(struct dl_io *io);
    int (*size)(struct dl_io *io, uint64_t *bytes, uint32_t *logical_block_size);
    void (*close)(struct dl_io *io);
    void *priv;
};

static int tail_calls;
static int tail_set_size(struct dl_io *io, uint64_t bytes) { (void)io, (void)bytes; return tail_calls++, -EIO; }
static int tail_reserve(struct dl_io *io, uint64_t bytes) { (void)io, (void)bytes; return tail_calls++, -EIO; }

/* A v1-sized io over the memio m (memio's ops find m through priv). */
static void fill_v1(struct dl_io_v1 *v1, struct memio *m)
{
    *v1 = (struct dl_io_v1){.struct_size = sizeof *v1, .pread = m->io.pread,
                            .pwrite = m->io.pwrite, .sync = m->io.sync, .size = m->io.size,
                            .close = m->io.close, .priv = m};
}

static void use_log(struct dl_io *io, struct memio *m)
{
    const char *argv[] = {"x", "8"};
    dl_log *log = NULL;
    CHECK_EQ(dl_log_create_disk_io(64 * 8, 2, argv, io, &log), 0);
    if (!log)
        return;
    CHECK_EQ(dl_log_resume(log), 0);
    CHECK(m->writes > 0);
    CHECK_EQ(dl_log_mark_region(log, 63), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 63), 0);
    CHECK_EQ(dl_log_clear_region(log, 63), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    dl_log_destroy(log);
    CHECK_EQ(m->closed, 1);
}

static void test_v1_io(void)
{
    CHECK_EQ(DL_IO_V1_SIZE, sizeof(struct dl_io_v1));

    /* Exactly v1-sized on the heap: a read past it is a sanitizer error. */
    struct memio m;
    memio_init(&m, 16384, 0);
    struct dl_io_v1 *v1 = malloc(sizeof *v1);
    CHECK(v1 != NULL);
    if (v1) {
        fill_v1(v1, &m);
        use_log((struct dl_io *)v1, &m);
    }
    free(v1);
    memio_destroy(&m);

    /* A full struct that says it is v1: the optional ops past its
     * struct_size are not there, whatever the memory holds. */
    memio_init(&m, 16384, 0);
    struct dl_io full = {DL_IO_INIT, .pread = m.io.pread, .pwrite = m.io.pwrite,
                         .sync = m.io.sync, .size = m.io.size, .close = m.io.close,
                         .priv = &m, .set_size = tail_set_size, .reserve = tail_reserve};
    CHECK_EQ(full.struct_size, sizeof(struct dl_io));
    full.struct_size = DL_IO_V1_SIZE;
    use_log(&full, &m);
    CHECK_EQ(tail_calls, 0);
    memio_destroy(&m);

    /* Smaller than v1: refused, and the caller keeps the io. */
    memio_init(&m, 16384, 0);
    full.struct_size = DL_IO_V1_SIZE - 1;
    const char *argv[] = {"x", "8"};
    dl_log *log = (dl_log *)&m;
    CHECK_EQ(dl_log_create_disk_io(64 * 8, 2, argv, &full, &log), -EINVAL);
    CHECK(log == NULL);
    CHECK(strstr(dl_last_error(), "DL_IO_V1_SIZE") != NULL);
    CHECK_EQ(m.closed, 0);
    CHECK_EQ(m.writes, 0);
    memio_destroy(&m);
}

int main(void)
{
    test_replaced_disk_type();
    test_v1_io();
    return test_exit_status("test_disk_io");
}
