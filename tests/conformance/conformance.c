/* The generic conformance suite: reference §1 semantics, checked through the
 * public API only, for any log type a fixture can describe. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "conformance.h"

static const struct conf_fixture *fx;
static char last_table[1024];

/* Words in a tail: the argc the fixture must add to its own. */
static unsigned count_words(const char *s)
{
    unsigned n = 0;
    for (int in = 0; *s; s++) {
        int sp = *s == ' ';
        n += !sp && !in;
        in = !sp;
    }
    return n;
}

static const char *table_for(const char *tail)
{
    if (fx->make_table(fx->arg, count_words(tail), tail, last_table, sizeof last_table) != 0) {
        fprintf(stderr, "%s: fixture could not make a table line for '%s'\n", fx->name, tail);
        test_failures++;
        last_table[0] = '\0';
    }
    return last_table;
}

/* Reopen the same persistent log with another tail, without reset, and
 * resume it as an engine would. */
static dl_log *reopen(const char *tail, uint64_t target)
{
    dl_log *log = NULL;
    int r = dl_log_create_table(table_for(tail), target, &log);
    if (r != 0) {
        fprintf(stderr, "%s: create '%s' (target %llu) failed: %s: %s\n", fx->name, last_table,
                (unsigned long long)target, dl_strerror(r), dl_last_error());
        test_failures++;
        return NULL;
    }
    CHECK_EQ(dl_log_resume(log), 0);
    return log;
}

/* A new log from a tail (after reset). */
static dl_log *open_new(const char *tail, uint64_t target)
{
    if (fx->reset)
        fx->reset(fx->arg);
    return reopen(tail, target);
}

static uint64_t sync_count(dl_log *log)
{
    uint64_t n = UINT64_MAX;
    CHECK_EQ(dl_log_get_sync_count(log, &n), 0);
    return n;
}

/* ---- constructor arguments ------------------------------------------------ */

static void test_bad_tails(void)
{
    static const struct {
        const char *tail, *why; /* why: a word the message must contain, or NULL */
    } bad[] = {
        {"", NULL},                       /* too few arguments */
        {"1000", "power of 2"},
        {"0", "region_size"},
        {"1", "region_size"},
        {"3", "power of 2"},
        {"abc", "abc"},
        {"12x", "12x"},
        {"1024x", "1024x"},
        {"-4", "-4"},
        {"+1024", "+1024"},
        {"0x400", "0x400"},
        {"1,024", NULL},
        {"4294967296", "region_size"},
        {"99999999999999999999999", "region_size"},
        {"2097152", "larger than the target"}, /* > target of 1000000 sectors */
        {"1024 bogus", "bogus"},
        {"1024 NOSYNC", "NOSYNC"},
        {"1024 sync nosync", NULL},
        {"1024 nosync sync", NULL},
        {"1024 sync sync", NULL},
        {"1024 nosync block_on_error block_on_error", NULL},
        {"1024 nosync junk1 junk2 junk3", NULL}, /* too many */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (fx->reset)
            fx->reset(fx->arg);
        dl_log *log = (dl_log *)1;
        const char *table = table_for(bad[i].tail);
        int r = dl_log_create_table(table, 1000000, &log);
        if (r != -EINVAL || log != NULL) {
            fprintf(stderr, "%s: '%s' gave %d (%s), expected -EINVAL\n", fx->name, table, r,
                    dl_strerror(r));
            test_failures++;
            if (r == 0)
                dl_log_destroy(log);
            continue;
        }
        CHECK(dl_last_error()[0] != '\0');
        if (bad[i].why && !strstr(dl_last_error(), bad[i].why)) {
            fprintf(stderr, "%s: '%s': message '%s' does not mention '%s'\n", fx->name, table,
                    dl_last_error(), bad[i].why);
            test_failures++;
        }
    }
}

/* Table-level errors: the argument count must match, the type must exist. */
static void test_bad_tables(void)
{
    char line[1024], bad[1100];
    if (fx->reset)
        fx->reset(fx->arg);
    snprintf(line, sizeof line, "%s", table_for("1024 nosync"));
    char *sp = strchr(line, ' ');
    CHECK(sp != NULL);
    if (!sp)
        return;
    *sp = '\0';
    const char *type = line, *count_and_rest = sp + 1;
    unsigned argc = (unsigned)strtoul(count_and_rest, NULL, 10);
    const char *args = strchr(count_and_rest, ' ');
    args = args ? args + 1 : "";

    const char *cases[6];
    char more[1100], fewer[1100], junk_count[1100], unknown[1100];
    snprintf(more, sizeof more, "%s %u %s", type, argc + 1, args);
    snprintf(fewer, sizeof fewer, "%s %u %s", type, argc - 1, args);
    snprintf(junk_count, sizeof junk_count, "%s %ux %s", type, argc, args);
    snprintf(unknown, sizeof unknown, "nosuchtype %u %s", argc, args);
    cases[0] = more;
    cases[1] = fewer;
    cases[2] = junk_count;
    cases[3] = unknown;
    cases[4] = "";
    cases[5] = type; /* no count */
    for (size_t i = 0; i < 6; i++) {
        dl_log *log = (dl_log *)1;
        int r = dl_log_create_table(cases[i], 1000000, &log);
        if (r >= 0 || log != NULL) {
            fprintf(stderr, "%s: table '%s' was accepted\n", fx->name, cases[i]);
            test_failures++;
            if (r == 0)
                dl_log_destroy(log);
        }
        CHECK(dl_last_error()[0] != '\0');
    }
    dl_log *log = (dl_log *)1;
    CHECK_EQ(dl_log_create_table(unknown, 1000000, &log), -ENOENT);
    CHECK(strstr(dl_last_error(), "nosuchtype") != NULL);
    /* Target 0 cannot hold a region. */
    snprintf(bad, sizeof bad, "%s", table_for("1024 nosync"));
    CHECK(dl_log_create_table(bad, 0, &log) < 0);
    CHECK(log == NULL);
}

/* ---- single-log semantics -------------------------------------------------- */

static void test_geometry(void)
{
    /* 1000 full regions and one partial: region_count rounds up. */
    dl_log *log = open_new("1024 nosync", 1000 * 1024 + 1);
    if (!log)
        return;
    CHECK_EQ(dl_log_get_region_size(log), 1024);
    CHECK_U64(dl_log_get_region_count(log), 1001);
    CHECK_U64(sync_count(log), 1001);
    dl_log_destroy(log);

    log = open_new("2 nosync", 2); /* region size == target: one region */
    if (!log)
        return;
    CHECK_U64(dl_log_get_region_count(log), 1);
    dl_log_destroy(log);
}

static void test_initial_state(void)
{
    static const struct {
        const char *tail;
        int in_sync;
    } modes[] = {{"1024", 0}, {"1024 sync", 0}, {"1024 nosync", 1}};
    for (size_t m = 0; m < 3; m++) {
        dl_log *log = open_new(modes[m].tail, 64 * 1024);
        if (!log)
            continue;
        uint64_t n = dl_log_get_region_count(log);
        CHECK_U64(n, 64);
        for (uint64_t r = 0; r < n; r++) {
            CHECK_EQ(dl_log_is_clean(log, r), 1);
            CHECK_EQ(dl_log_in_sync(log, r, 1), modes[m].in_sync);
            int nb = dl_log_in_sync(log, r, 0);
            CHECK(nb == modes[m].in_sync || nb == -EWOULDBLOCK);
            CHECK_EQ(dl_log_is_remote_recovering(log, r), 0);
        }
        CHECK_U64(sync_count(log), modes[m].in_sync ? n : 0);
        dl_log_destroy(log);
    }
}

static void test_mark_clear_flush(void)
{
    dl_log *log = open_new("1024 nosync", 100 * 1024);
    if (!log)
        return;
    CHECK_EQ(dl_log_mark_region(log, 7), 0);
    CHECK_EQ(dl_log_mark_region(log, 7), 0); /* marking twice is harmless */
    CHECK_EQ(dl_log_mark_region(log, 99), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    for (uint64_t r = 0; r < 100; r++)
        CHECK_EQ(dl_log_is_clean(log, r), r != 7 && r != 99);
    /* Marks do not touch the sync state. */
    CHECK_EQ(dl_log_in_sync(log, 7, 1), 1);
    CHECK_U64(sync_count(log), 100);
    CHECK_EQ(dl_log_clear_region(log, 7), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 7), 1);
    CHECK_EQ(dl_log_is_clean(log, 99), 0);
    CHECK_EQ(dl_log_clear_region(log, 7), 0); /* clearing a clean region */
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 7), 1);
    CHECK_EQ(dl_log_flush(log), 0); /* nothing to do */
    CHECK_EQ(dl_log_presuspend(log), 0);
    CHECK_EQ(dl_log_postsuspend(log), 0);
    CHECK_EQ(dl_log_resume(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 99), 0);
    dl_log_destroy(log);
}

static void test_bounds(void)
{
    dl_log *log = open_new("1024", 10 * 1024 - 5); /* 10 regions, last partial */
    if (!log)
        return;
    uint64_t n = dl_log_get_region_count(log);
    CHECK_U64(n, 10);
    const uint64_t bad[] = {n, n + 1, UINT64_MAX, (uint64_t)1 << 32};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t r = bad[i];
        CHECK_EQ(dl_log_is_clean(log, r), -ERANGE);
        CHECK_EQ(dl_log_in_sync(log, r, 1), -ERANGE);
        CHECK_EQ(dl_log_mark_region(log, r), -ERANGE);
        CHECK_EQ(dl_log_clear_region(log, r), -ERANGE);
        CHECK_EQ(dl_log_set_region_sync(log, r, 1), -ERANGE);
        CHECK_EQ(dl_log_is_remote_recovering(log, r), -ERANGE);
    }
    /* Nothing changed: the last region works and the count is untouched. */
    CHECK_U64(sync_count(log), 0);
    CHECK_EQ(dl_log_mark_region(log, n - 1), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, n - 1), 0);
    CHECK_EQ(dl_log_set_region_sync(log, n - 1, 1), 0);
    CHECK_EQ(dl_log_in_sync(log, n - 1, 1), 1);
    CHECK_EQ(dl_log_get_resync_work(log, NULL), -EINVAL);
    CHECK_EQ(dl_log_get_sync_count(log, NULL), -EINVAL);
    dl_log_destroy(log);
}

/* Every region's answer through the call, and through the inline path
 * (which must give exactly the call's answer, view or not). */
static void check_clean_map(dl_log *log, uint64_t n, const unsigned char *dirty)
{
    for (uint64_t r = 0; r < n; r++) {
        CHECK_EQ(dl_log_is_clean(log, r), !dirty[r]);
        CHECK_EQ(dl_log_is_clean_fast(log, r), !dirty[r]);
    }
}

static void test_ranges(void)
{
    dl_log *log = open_new("1024 nosync", 200 * 1024);
    if (!log)
        return;
    uint64_t n = dl_log_get_region_count(log), fd = 0;
    unsigned char dirty[200] = {0};
    CHECK_U64(n, 200);
    CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 1);
    CHECK_EQ(dl_log_is_clean_range(log, n, 0, NULL), 1); /* empty, at the end */
    /* Across word boundaries: [10, 80) and [130, 131). */
    CHECK_EQ(dl_log_mark_range(log, 10, 70), 0);
    CHECK_EQ(dl_log_mark_range(log, 130, 1), 0);
    CHECK_EQ(dl_log_mark_range(log, 5, 0), 0); /* empty: nothing */
    memset(dirty + 10, 1, 70);
    dirty[130] = 1;
    CHECK_EQ(dl_log_flush(log), 0);
    check_clean_map(log, n, dirty);
    CHECK_EQ(dl_log_is_clean_range(log, 0, 10, &fd), 1);
    fd = 12345;
    CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 0);
    CHECK_U64(fd, 10);
    CHECK_EQ(dl_log_is_clean_range(log, 79, 100, &fd), 0);
    CHECK_U64(fd, 79);
    CHECK_EQ(dl_log_is_clean_range(log, 80, 50, &fd), 1);
    CHECK_EQ(dl_log_is_clean_range(log, 80, 51, &fd), 0);
    CHECK_U64(fd, 130);
    CHECK_EQ(dl_log_is_clean_range(log, 80, 51, NULL), 0);
    /* Bounds: -ERANGE, and nothing changed. */
    const uint64_t bad[][2] = {{n - 5, 6}, {n + 1, 0}, {UINT64_MAX, 2}, {1, UINT64_MAX},
                               {0, n + 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(dl_log_mark_range(log, bad[i][0], bad[i][1]), -ERANGE);
        CHECK_EQ(dl_log_clear_range(log, bad[i][0], bad[i][1]), -ERANGE);
        CHECK_EQ(dl_log_is_clean_range(log, bad[i][0], bad[i][1], &fd), -ERANGE);
    }
    CHECK_EQ(dl_log_mark_range(NULL, 0, 1), -EINVAL);
    CHECK_EQ(dl_log_clear_range(NULL, 0, 1), -EINVAL);
    CHECK_EQ(dl_log_is_clean_range(NULL, 0, 1, &fd), -EINVAL);
    CHECK_EQ(dl_log_flush(log), 0);
    check_clean_map(log, n, dirty);
    /* Clear part of the marked run, and a clean stretch (harmless). */
    CHECK_EQ(dl_log_clear_range(log, 20, 40), 0);
    CHECK_EQ(dl_log_clear_range(log, 150, 50), 0);
    memset(dirty + 20, 0, 40);
    CHECK_EQ(dl_log_flush(log), 0);
    check_clean_map(log, n, dirty);
    CHECK_EQ(dl_log_is_clean_range(log, 20, 40, &fd), 1);
    /* The whole log, then nothing. */
    CHECK_EQ(dl_log_mark_range(log, 0, n), 0);
    memset(dirty, 1, sizeof dirty);
    CHECK_EQ(dl_log_flush(log), 0);
    check_clean_map(log, n, dirty);
    CHECK_EQ(dl_log_clear_range(log, 0, n), 0);
    memset(dirty, 0, sizeof dirty);
    CHECK_EQ(dl_log_flush(log), 0);
    check_clean_map(log, n, dirty);
    CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 1);
    /* Marks do not touch the sync state. */
    CHECK_U64(sync_count(log), n);
    if (fx->persistent) { /* a range mark is as durable as single marks */
        CHECK_EQ(dl_log_mark_range(log, 60, 70), 0);
        memset(dirty + 60, 1, 70);
        CHECK_EQ(dl_log_flush(log), 0);
        CHECK_EQ(dl_log_postsuspend(log), 0);
        dl_log_destroy(log);
        log = reopen("1024", 200 * 1024);
        if (!log)
            return;
        check_clean_map(log, n, dirty);
        CHECK_EQ(dl_log_is_clean_range(log, 0, n, &fd), 0);
        CHECK_U64(fd, 60);
    }
    dl_log_destroy(log);
}

static void test_sync_count(void)
{
    dl_log *log = open_new("1024", 16 * 1024);
    if (!log)
        return;
    CHECK_U64(sync_count(log), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 3, 1), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 3, 1), 0); /* the kernel counted this twice */
    CHECK_U64(sync_count(log), 1);
    CHECK_EQ(dl_log_in_sync(log, 3, 1), 1);
    CHECK_EQ(dl_log_set_region_sync(log, 3, 0), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 3, 0), 0);
    CHECK_U64(sync_count(log), 0);
    CHECK_EQ(dl_log_in_sync(log, 3, 1), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 3, 7), 0); /* any non-zero means in sync */
    CHECK_EQ(dl_log_in_sync(log, 3, 1), 1);
    for (uint64_t r = 0; r < 16; r++)
        CHECK_EQ(dl_log_set_region_sync(log, r, 1), 0);
    CHECK_U64(sync_count(log), 16);
    uint64_t region = 12345;
    CHECK_EQ(dl_log_get_resync_work(log, &region), 0); /* fully synced */
    dl_log_destroy(log);

    log = open_new("1024 nosync", 16 * 1024);
    if (!log)
        return;
    CHECK_EQ(dl_log_set_region_sync(log, 15, 1), 0);
    CHECK_U64(sync_count(log), 16);
    CHECK_EQ(dl_log_set_region_sync(log, 15, 0), 0);
    CHECK_U64(sync_count(log), 15);
    CHECK_EQ(dl_log_in_sync(log, 15, 1), 0);
    CHECK_EQ(dl_log_get_resync_work(log, &region), 1);
    CHECK_U64(region, 15);
    dl_log_destroy(log);
}

static void test_resync_work(void)
{
    enum { N = 300 };
    dl_log *log = open_new("1024 sync", N * 1024);
    if (!log)
        return;
    unsigned char seen[N] = {0};
    uint64_t r, handed = 0;
    int got;
    while ((got = dl_log_get_resync_work(log, &r)) == 1) {
        if (r >= N || seen[r]) {
            fprintf(stderr, "%s: resync work handed out region %llu %s\n", fx->name,
                    (unsigned long long)r, r >= N ? "beyond the end" : "twice");
            test_failures++;
            break;
        }
        seen[r] = 1;
        if (++handed > N)
            break;
    }
    CHECK_EQ(got, 0);
    CHECK_U64(handed, N);
    CHECK_U64(sync_count(log), 0); /* handing out changes no sync state */
    /* A failed recovery makes the region eligible again; a success does not. */
    CHECK_EQ(dl_log_set_region_sync(log, 42, 0), 0);
    CHECK_EQ(dl_log_set_region_sync(log, 43, 1), 0);
    CHECK_EQ(dl_log_get_resync_work(log, &r), 1);
    CHECK_U64(r, 42);
    CHECK_EQ(dl_log_get_resync_work(log, &r), 0);
    CHECK_U64(sync_count(log), 1);
    for (uint64_t i = 0; i < N; i++)
        CHECK_EQ(dl_log_set_region_sync(log, i, 1), 0);
    CHECK_U64(sync_count(log), N);
    CHECK_EQ(dl_log_get_resync_work(log, &r), 0);
    dl_log_destroy(log);
}

static void test_status(void)
{
    static const char *const tails[] = {"1024", "1024 sync", "1024 nosync",
                                        "1024 nosync block_on_error"};
    char buf[1024], expect[1024];
    for (size_t i = 0; i < 4; i++) {
        dl_log *log = open_new(tails[i], 8 * 1024);
        if (!log)
            continue;
        snprintf(expect, sizeof expect, "%s", last_table);
        int n = dl_log_status(log, DL_STATUS_TABLE, buf, sizeof buf);
        CHECK_EQ(n, (int)strlen(expect));
        CHECK_STR(buf, expect);
        n = dl_log_status(log, DL_STATUS_INFO, buf, sizeof buf);
        CHECK(n > 0 && (size_t)n == strlen(buf));
        /* The kernel's INFO strings start with the number of words after it. */
        CHECK(buf[0] >= '1' && buf[0] <= '9');
        CHECK_EQ(dl_log_status(log, DL_STATUS_TABLE, buf, 3), -ENOSPC);
        CHECK_STR(buf, "");
        CHECK_EQ(dl_log_status(log, (enum dl_status_type)99, buf, sizeof buf), -EINVAL);
        CHECK_EQ(dl_log_status(log, DL_STATUS_INFO, NULL, 10), -ENOSPC);
        dl_log_destroy(log);
    }
}

/* Regions at and beyond 2^32 (the kernel's region_t overflowed there). */
static void test_huge(void)
{
    uint64_t regions = fx->huge_regions ? fx->huge_regions : ((uint64_t)1 << 33) + 5;
    if (regions <= ((uint64_t)1 << 32))
        printf("%s: note: huge-log test uses %llu regions (fixture limit)\n", fx->name,
               (unsigned long long)regions);
    dl_log *log = open_new("2 sync", regions * 2 - 1);
    if (!log)
        return;
    CHECK_U64(dl_log_get_region_count(log), regions);
    const uint64_t probe[] = {0, regions / 2, regions - 2, regions - 1,
                              regions > ((uint64_t)1 << 32) + 1 ? (uint64_t)1 << 32 : regions / 3};
    const size_t nprobe = sizeof probe / sizeof probe[0];
    for (size_t i = 0; i < nprobe; i++)
        CHECK_EQ(dl_log_mark_region(log, probe[i]), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    for (size_t i = 0; i < nprobe; i++) {
        CHECK_EQ(dl_log_is_clean(log, probe[i]), 0);
        /* Its neighbour is clean unless it is a probe too. */
        uint64_t nb = (probe[i] ^ 1) < regions ? probe[i] ^ 1 : probe[i] - 1;
        int is_probe = 0;
        for (size_t j = 0; j < nprobe; j++)
            is_probe |= probe[j] == nb;
        CHECK_EQ(dl_log_is_clean(log, nb), !is_probe);
    }
    CHECK_EQ(dl_log_set_region_sync(log, regions - 1, 1), 0);
    CHECK_EQ(dl_log_set_region_sync(log, probe[4], 1), 0);
    CHECK_U64(sync_count(log), 2);
    CHECK_EQ(dl_log_in_sync(log, regions - 1, 1), 1);
    CHECK_EQ(dl_log_in_sync(log, regions - 2, 1), 0);
    CHECK_EQ(dl_log_mark_region(log, regions), -ERANGE);
    dl_log_destroy(log);
}

/* ---- persistence (types whose state survives destroy + create) ----------- */

static int flush_calls;
static int count_flush(void *arg)
{
    (void)arg;
    flush_calls++;
    return 0;
}

static void test_persistence(void)
{
    dl_log *log = open_new("1024 nosync", 256 * 1024);
    if (!log)
        return;
    CHECK_EQ(dl_log_set_flush_callback(log, count_flush, NULL), 0);
    CHECK_EQ(dl_log_mark_region(log, 5), 0);
    CHECK_EQ(dl_log_mark_region(log, 200), 0);
    CHECK_EQ(dl_log_mark_region(log, 255), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    flush_calls = 0;
    CHECK_EQ(dl_log_clear_region(log, 200), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    /* The data devices must be flushed before a clean bit is persisted. */
    CHECK(flush_calls >= 1);
    dl_log_destroy(log); /* a crash: no postsuspend */

    log = reopen("1024", 256 * 1024); /* no flag: keep what the log says */
    if (!log)
        return;
    for (uint64_t r = 0; r < 256; r++) {
        int marked = r == 5 || r == 255;
        CHECK_EQ(dl_log_in_sync(log, r, 1), !marked);
        CHECK_EQ(dl_log_is_clean(log, r), !marked);
    }
    CHECK_U64(sync_count(log), 254);
    uint64_t r;
    CHECK_EQ(dl_log_get_resync_work(log, &r), 1);
    CHECK(r == 5 || r == 255);
    CHECK_EQ(dl_log_set_region_sync(log, r, 1), 0);
    CHECK_EQ(dl_log_clear_region(log, r), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_postsuspend(log), 0);
    dl_log_destroy(log);

    log = reopen("1024", 256 * 1024);
    if (!log)
        return;
    CHECK_U64(sync_count(log), 255);
    dl_log_destroy(log);

    log = reopen("1024 sync", 256 * 1024); /* sync: everything out of sync */
    if (log) {
        CHECK_U64(sync_count(log), 0);
        dl_log_destroy(log);
    }
    log = reopen("1024 nosync", 256 * 1024); /* nosync: everything in sync */
    if (log) {
        CHECK_U64(sync_count(log), 256);
        CHECK_EQ(dl_log_is_clean(log, 5), 1);
        dl_log_destroy(log);
    }
}

/* ---- threads --------------------------------------------------------------- */

enum { STRESS_THREADS = 4, STRESS_REGIONS = 20000 };

struct stress {
    dl_log *log;
    _Atomic unsigned char handed[STRESS_REGIONS];
    atomic_int bad;
};

struct stress_arg {
    struct stress *s;
    int id;
};

static void *stress_marker(void *p)
{
    struct stress_arg *a = p;
    struct stress *s = a->s;
    unsigned seed = (unsigned)a->id * 2654435761u;
    /* Each thread owns regions r with r % THREADS == id: marks all, clears
     * the even ones, and meanwhile queries everybody's regions. */
    for (uint64_t r = (uint64_t)a->id; r < STRESS_REGIONS; r += STRESS_THREADS) {
        if (dl_log_mark_region(s->log, r) != 0)
            atomic_fetch_add(&s->bad, 1);
        seed = seed * 1103515245u + 12345u;
        uint64_t q = (seed >> 8) % STRESS_REGIONS;
        int c = dl_log_is_clean(s->log, q), y = dl_log_in_sync(s->log, q, 1);
        if ((c != 0 && c != 1) || (y != 0 && y != 1))
            atomic_fetch_add(&s->bad, 1);
    }
    if (dl_log_flush(s->log) != 0)
        atomic_fetch_add(&s->bad, 1);
    for (uint64_t r = (uint64_t)a->id; r < STRESS_REGIONS; r += 2 * STRESS_THREADS)
        if (dl_log_clear_region(s->log, r) != 0)
            atomic_fetch_add(&s->bad, 1);
    if (dl_log_flush(s->log) != 0)
        atomic_fetch_add(&s->bad, 1);
    return NULL;
}

static void *stress_resyncer(void *p)
{
    struct stress *s = ((struct stress_arg *)p)->s;
    uint64_t r;
    int got;
    while ((got = dl_log_get_resync_work(s->log, &r)) == 1) {
        if (r >= STRESS_REGIONS || atomic_fetch_add(&s->handed[r], 1) != 0)
            atomic_fetch_add(&s->bad, 1);
        if (dl_log_set_region_sync(s->log, r, 1) != 0)
            atomic_fetch_add(&s->bad, 1);
    }
    if (got != 0)
        atomic_fetch_add(&s->bad, 1);
    return NULL;
}

static void test_threads(void)
{
    struct stress *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->log = open_new("2 sync", STRESS_REGIONS * 2);
    if (!s->log) {
        free(s);
        return;
    }
    enum { N = STRESS_THREADS + 2 };
    pthread_t th[N];
    struct stress_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i].s = s;
        args[i].id = i;
        /* Two resync workers race for the same out-of-sync regions. */
        CHECK_EQ(pthread_create(&th[i], NULL, i < STRESS_THREADS ? stress_marker : stress_resyncer,
                                &args[i]),
                 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&s->bad), 0);
    CHECK_EQ(dl_log_flush(s->log), 0);
    int wrong = 0;
    for (uint64_t r = 0; r < STRESS_REGIONS; r++) {
        int cleared = r % (2 * STRESS_THREADS) < STRESS_THREADS;
        wrong += dl_log_is_clean(s->log, r) != cleared;
        wrong += atomic_load(&s->handed[r]) != 1;
        wrong += dl_log_in_sync(s->log, r, 1) != 1;
    }
    CHECK_EQ(wrong, 0);
    CHECK_U64(sync_count(s->log), STRESS_REGIONS);
    dl_log_destroy(s->log);
    free(s);
}

int conformance_run(const struct conf_fixture *fixture)
{
    fx = fixture;
    int before = test_failures;
    struct {
        const char *name;
        void (*fn)(void);
        int persistent_only;
    } tests[] = {
        {"bad arguments", test_bad_tails, 0},  {"bad tables", test_bad_tables, 0},
        {"geometry", test_geometry, 0},         {"initial state", test_initial_state, 0},
        {"mark/clear/flush", test_mark_clear_flush, 0}, {"bounds", test_bounds, 0},
        {"sync count", test_sync_count, 0},     {"resync work", test_resync_work, 0},
        {"status", test_status, 0},             {"huge log", test_huge, 0},
        {"persistence", test_persistence, 1},   {"threads", test_threads, 0},
        {"range calls", test_ranges, 0},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (tests[i].persistent_only && !fx->persistent) {
            printf("%s: %s: not applicable (state is not persistent)\n", fx->name, tests[i].name);
            continue;
        }
        int f = test_failures;
        tests[i].fn();
        printf("%s: %s: %s\n", fx->name, tests[i].name, test_failures == f ? "ok" : "FAILED");
    }
    return test_failures - before;
}
