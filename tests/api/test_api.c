/* The generic layer: registry, versioned vtables, thread models, wrappers,
 * table parsing and error reporting. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

/* ---- a minimal user type: one byte per region, no sync tracking -------- */

struct toy {
    uint32_t region_size;
    uint64_t count;
    _Atomic unsigned char *dirty;
    atomic_int inside;    /* threads inside an op right now */
    atomic_int max_inside;
    int rendezvous;       /* PARALLEL test: two threads must meet inside is_clean */
    pthread_mutex_t m;
    pthread_cond_t c;
    int arrived;
};

static int toy_ctr(dl_log *log, uint64_t target, unsigned argc, char **argv)
{
    uint32_t rs;
    if (argc != 1) {
        dl_log_errorf(log, "toy takes 1 argument, got %u", argc);
        return -EINVAL;
    }
    int r = dl_parse_region_size(log, argv[0], target, &rs);
    if (r < 0)
        return r;
    struct toy *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->region_size = rs;
    t->count = dl_region_count(target, rs);
    t->dirty = calloc(t->count, 1);
    if (!t->dirty) {
        free(t);
        return -ENOMEM;
    }
    pthread_mutex_init(&t->m, NULL);
    pthread_cond_init(&t->c, NULL);
    dl_log_set_context(log, t);
    return 0;
}

static void toy_dtr(dl_log *log)
{
    struct toy *t = dl_log_get_context(log);
    pthread_mutex_destroy(&t->m);
    pthread_cond_destroy(&t->c);
    free((void *)t->dirty);
    free(t);
}

static void enter(struct toy *t)
{
    int n = atomic_fetch_add(&t->inside, 1) + 1;
    int m = atomic_load(&t->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&t->max_inside, &m, n))
        ;
}

static void leave(struct toy *t) { atomic_fetch_sub(&t->inside, 1); }

static uint32_t toy_region_size(dl_log *log)
{
    return ((struct toy *)dl_log_get_context(log))->region_size;
}

/* Returns 7 for "clean" to check that the wrapper answers exactly 1. */
static int toy_is_clean(dl_log *log, uint64_t r)
{
    struct toy *t = dl_log_get_context(log);
    enter(t);
    if (t->rendezvous) {
        /* Wait (bounded) until a second thread is inside too: only possible
         * if the library does not serialise a PARALLEL type. */
        pthread_mutex_lock(&t->m);
        t->arrived++;
        pthread_cond_broadcast(&t->c);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (t->arrived < 2 && pthread_cond_timedwait(&t->c, &t->m, &until) == 0)
            ;
        pthread_mutex_unlock(&t->m);
    }
    int v = atomic_load(&t->dirty[r]) ? 0 : 7;
    leave(t);
    return v;
}

static int toy_in_sync(dl_log *log, uint64_t r, int can_block)
{
    (void)log, (void)r;
    return can_block ? 3 : -EWOULDBLOCK;
}

static int toy_flush(dl_log *log)
{
    (void)log;
    return 0;
}

static int toy_mark(dl_log *log, uint64_t r)
{
    struct toy *t = dl_log_get_context(log);
    enter(t);
    atomic_store(&t->dirty[r], 1);
    leave(t);
    return 0;
}

static int toy_clear(dl_log *log, uint64_t r)
{
    struct toy *t = dl_log_get_context(log);
    enter(t);
    atomic_store(&t->dirty[r], 0);
    leave(t);
    return 0;
}

static int toy_resync(dl_log *log, uint64_t *r)
{
    (void)log, (void)r;
    return 0;
}

static int toy_set_sync(dl_log *log, uint64_t r, int in_sync)
{
    (void)log, (void)r, (void)in_sync;
    return 0;
}

static int toy_sync_count(dl_log *log, uint64_t *n)
{
    *n = ((struct toy *)dl_log_get_context(log))->count;
    return 0;
}

static int toy_status(dl_log *log, enum dl_status_type type, char *buf, size_t len)
{
    struct toy *t = dl_log_get_context(log);
    int n = type == DL_STATUS_INFO ? snprintf(buf, len, "1 toy")
                                   : snprintf(buf, len, "toy 1 %u", (unsigned)t->region_size);
    return (size_t)n < len ? n : -ENOSPC;
}

static struct dl_log_type toy_type(const char *name, int model)
{
    struct dl_log_type t = {
        DL_LOG_TYPE_INIT(name),
        .thread_model = model,
        .ctr = toy_ctr,
        .dtr = toy_dtr,
        .get_region_size = toy_region_size,
        .is_clean = toy_is_clean,
        .in_sync = toy_in_sync,
        .flush = toy_flush,
        .mark_region = toy_mark,
        .clear_region = toy_clear,
        .get_resync_work = toy_resync,
        .set_region_sync = toy_set_sync,
        .get_sync_count = toy_sync_count,
        .status = toy_status,
    };
    return t;
}

static void test_registry(void)
{
    CHECK(dl_find_type("core") != NULL); /* built in, registered automatically */
    CHECK_STR(dl_find_type("core")->name, "core");
    CHECK(dl_find_type("toy") == NULL);
    CHECK(dl_find_type(NULL) == NULL);

    struct dl_log_type t = toy_type("toy", DL_THREAD_MODEL_SERIALIZE_ALL);
    CHECK_EQ(dl_register_type(&t), 0);
    CHECK_EQ(dl_register_type(&t), -EEXIST);
    struct dl_log_type core_again = toy_type("core", DL_THREAD_MODEL_PARALLEL);
    CHECK_EQ(dl_register_type(&core_again), -EEXIST);
    const struct dl_log_type *found = dl_find_type("toy");
    CHECK(found != NULL && found->ctr == toy_ctr);

    dl_log *log;
    CHECK_EQ(dl_log_create_table("toy 1 8", 80, &log), 0);
    CHECK(dl_log_get_type(log) == found);
    CHECK_U64(dl_log_get_region_count(log), 10);
    CHECK_EQ(dl_unregister_type("toy"), -EBUSY); /* a log still uses it */
    CHECK(strstr(dl_last_error(), "toy") != NULL);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("toy"), 0);
    CHECK_EQ(dl_unregister_type("toy"), -ENOENT);
    CHECK(dl_find_type("toy") == NULL);
    CHECK_EQ(dl_log_create_table("toy 1 8", 80, &log), -ENOENT);
    CHECK(log == NULL);
    CHECK_EQ(dl_unregister_type(NULL), -EINVAL);
}

static void test_malformed_types(void)
{
    struct dl_log_type t;
    CHECK_EQ(dl_register_type(NULL), -EINVAL);
    t = toy_type("no-flush", 1);
    t.flush = NULL;
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    CHECK(strstr(dl_last_error(), "flush") != NULL);
    t = toy_type("", 1);
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    t = toy_type("has space", 1);
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    t = toy_type(NULL, 1);
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    t = toy_type("future", 1);
    t.api_version = DL_LOG_TYPE_API_VERSION + 1;
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    t = toy_type("tiny", 1);
    t.struct_size = 8;
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    t = toy_type("model", 1);
    t.thread_model = 5;
    CHECK_EQ(dl_register_type(&t), -EINVAL);
    char longname[DL_TYPE_NAME_MAX + 8];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    t = toy_type(longname, 1);
    CHECK_EQ(dl_register_type(&t), -EINVAL);
}

/* A type compiled against an older, shorter struct: fields past its
 * struct_size are ignored even if the memory behind them is garbage. */
static void test_older_struct(void)
{
    struct dl_log_type t = toy_type("old", DL_THREAD_MODEL_SERIALIZE_ALL);
    t.is_remote_recovering = (int (*)(dl_log *, uint64_t))(uintptr_t)0x1; /* would crash */
    t.struct_size = offsetof(struct dl_log_type, is_remote_recovering);
    CHECK_EQ(dl_register_type(&t), 0);
    dl_log *log;
    CHECK_EQ(dl_log_create_table("old 1 8", 80, &log), 0);
    CHECK_EQ(dl_log_is_remote_recovering(log, 3), 0);
    CHECK_EQ(dl_log_presuspend(log), 0); /* absent optional ops succeed */
    CHECK_EQ(dl_log_resume(log), 0);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("old"), 0);
}

static void test_wrappers(void)
{
    struct dl_log_type t = toy_type("toy2", DL_THREAD_MODEL_SERIALIZE_ALL);
    CHECK_EQ(dl_register_type(&t), 0);
    dl_log *log;
    CHECK_EQ(dl_log_create_table("  toy2\t1   8  ", 81, &log), 0); /* white space is free */
    CHECK_U64(dl_log_get_region_count(log), 11);
    CHECK_U64(dl_log_get_target_sectors(log), 81);
    CHECK_EQ(dl_log_get_region_size(log), 8);
    CHECK_EQ(dl_log_is_clean(log, 10), 1); /* the type said 7 */
    CHECK_EQ(dl_log_in_sync(log, 10, 1), 1); /* the type said 3 */
    CHECK_EQ(dl_log_in_sync(log, 10, 0), -EWOULDBLOCK);
    CHECK_EQ(dl_log_mark_region(log, 11), -ERANGE);
    CHECK(strstr(dl_last_error(), "11") != NULL);
    CHECK_EQ(dl_log_mark_region(log, 10), 0);
    CHECK_EQ(dl_log_is_clean(log, 10), 0);
    char buf[64];
    CHECK_EQ(dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf), 7);
    CHECK_STR(buf, "toy 1 8");
    CHECK_EQ(dl_log_status(log, DL_STATUS_TABLE, buf, 7), -ENOSPC);
    CHECK_EQ(dl_log_set_flush_callback(NULL, NULL, NULL), -EINVAL);
    dl_log_destroy(log);
    dl_log_destroy(NULL);

    /* Constructor failures: -errno, no log, and a message naming the cause. */
    log = (dl_log *)1;
    CHECK_EQ(dl_log_create_table("toy2 1 1000", 8000, &log), -EINVAL);
    CHECK(log == NULL);
    CHECK_STR(dl_last_error(), "region_size 1000 is not a power of 2");
    CHECK_EQ(dl_log_create_table("toy2 2 8 8", 80, &log), -EINVAL);
    CHECK(strstr(dl_last_error(), "got 2") != NULL);
    const char *argv[] = {"8"};
    CHECK_EQ(dl_log_create("toy2", 80, 1, argv, &log), 0);
    dl_log_destroy(log);
    CHECK_EQ(dl_log_create("toy2", 80, 1, NULL, &log), -EINVAL);
    CHECK_EQ(dl_log_create("toy2", 80, 0, NULL, &log), -EINVAL); /* toy needs 1 */
    CHECK_EQ(dl_log_create(NULL, 80, 1, argv, &log), -EINVAL);
    CHECK_EQ(dl_log_create("toy2", 80, 1, argv, NULL), -EINVAL);
    CHECK_EQ(dl_log_create_table(NULL, 80, &log), -EINVAL);
    CHECK_EQ(dl_log_create_table("toy2 1 8", 80, NULL), -EINVAL);
    CHECK_EQ(dl_log_create("toy2", 0, 1, argv, &log), -EINVAL);
    CHECK(strstr(dl_last_error(), "target") != NULL);
    /* A successful call clears the previous message. */
    CHECK_EQ(dl_log_create("toy2", 80, 1, argv, &log), 0);
    CHECK_STR(dl_last_error(), "");
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("toy2"), 0);
}

static void test_table_parsing(void)
{
    dl_log *log = NULL;
    char line[1024];
    /* More arguments than the limit. */
    int n = snprintf(line, sizeof line, "core %d", DL_MAX_ARGS + 1);
    for (int i = 0; i <= DL_MAX_ARGS; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " 8");
    CHECK(dl_log_create_table(line, 800, &log) < 0);
    CHECK(log == NULL);
    CHECK_EQ(dl_log_create_table("core 18446744073709551617 8", 800, &log), -EINVAL);
    CHECK_EQ(dl_log_create_table("core -1 8", 800, &log), -EINVAL);
    /* A count that disagrees with the words is named in correct English. */
    CHECK_EQ(dl_log_create_table("core 1", 800, &log), -EINVAL);
    CHECK_STR(dl_last_error(), "table line says 1 argument but none follows");
    CHECK_EQ(dl_log_create_table("core 2 8", 800, &log), -EINVAL);
    CHECK_STR(dl_last_error(), "table line says 2 arguments but 1 follows");
    CHECK_EQ(dl_log_create_table("core 1 8 nosync", 800, &log), -EINVAL);
    CHECK_STR(dl_last_error(), "table line says 1 argument but 2 follow");
    CHECK_EQ(dl_log_create_table("core 1 8", 800, &log), 0);
    dl_log_destroy(log);
}

/* ---- thread models -------------------------------------------------------- */

struct hammer {
    dl_log *log;
    int ops;
};

static void *hammer(void *p)
{
    struct hammer *h = p;
    for (int i = 0; i < h->ops; i++) {
        dl_log_mark_region(h->log, (uint64_t)i % 10);
        dl_log_is_clean(h->log, (uint64_t)i % 10);
        dl_log_clear_region(h->log, (uint64_t)i % 10);
    }
    return NULL;
}

static void test_thread_models(void)
{
    /* SERIALIZE_ALL: never two threads inside the type at once. */
    struct dl_log_type t = toy_type("serial", DL_THREAD_MODEL_SERIALIZE_ALL);
    CHECK_EQ(dl_register_type(&t), 0);
    dl_log *log;
    CHECK_EQ(dl_log_create_table("serial 1 8", 80, &log), 0);
    pthread_t th[4];
    struct hammer h = {log, 20000};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, &h);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&((struct toy *)dl_log_get_context(log))->max_inside), 1);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("serial"), 0);

    /* PARALLEL: the library takes no lock, so two threads meet inside. */
    t = toy_type("parallel", DL_THREAD_MODEL_PARALLEL);
    CHECK_EQ(dl_register_type(&t), 0);
    CHECK_EQ(dl_log_create_table("parallel 1 8", 80, &log), 0);
    struct toy *ty = dl_log_get_context(log);
    ty->rendezvous = 1;
    struct hammer one = {log, 1};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer, &one);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(ty->arrived, 2);
    CHECK_EQ(atomic_load(&ty->max_inside), 2);
    dl_log_destroy(log);
    CHECK_EQ(dl_unregister_type("parallel"), 0);
}

/* ---- errors ---------------------------------------------------------------- */

static int failing_flush(void *arg)
{
    (void)arg;
    return 5; /* a positive value is not an errno: the library reports -EIO */
}

static void test_errors(void)
{
    CHECK_STR(dl_strerror(0), "Success");
    CHECK(strlen(dl_strerror(-EINVAL)) > 0);
    CHECK(strcmp(dl_strerror(-EINVAL), dl_strerror(-ERANGE)) != 0);
    CHECK(strlen(dl_strerror(-999999)) > 0);
    CHECK(strlen(dl_strerror(12)) > 0);
    dl_log *log;
    CHECK_EQ(dl_log_create_table("core 1 8", 80, &log), 0);
    CHECK_EQ(dl_log_call_flush_callback(log), 0); /* none installed */
    CHECK_EQ(dl_log_set_flush_callback(log, failing_flush, NULL), 0);
    CHECK_EQ(dl_log_call_flush_callback(log), -EIO);
    CHECK_EQ(dl_log_set_flush_callback(log, NULL, NULL), 0);
    CHECK_EQ(dl_log_call_flush_callback(log), 0);
    dl_log_destroy(log);
}

int main(void)
{
    test_registry();
    test_malformed_types();
    test_older_struct();
    test_wrappers();
    test_table_parsing();
    test_thread_models();
    test_errors();
    return test_exit_status("api");
}
