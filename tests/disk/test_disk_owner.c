/* One owner per disk log (issue 8 §1): while a log is open, a second opener
 * of the same file, in another process or another thread of this one, gets
 * -EBUSY and "log <path> is in use by another process", and the file is not
 * touched. Once the first is destroyed the log opens again. Both formats.
 *
 * Also the lost mark the issue reproduced: A marks 0 and flushes, B (which
 * opened the same log) marks 5 and flushes the same bitmap block from its own
 * memory, turning region 0 clean on disk. B is now refused, so region 0 stays
 * dirty on disk. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "util.h"

TEST_MAIN_DEFINITIONS

static char dir[64];

struct second_opener {
    const char *table;
    int result;
    char error[256];
};

/* Try to open the log a second time; record the result and the message.
 * If the open succeeds (it must not), do what an engine would: resume, mark
 * region 5, flush. */
static void try_second_open(struct second_opener *s)
{
    dl_log *log = (dl_log *)1;
    s->result = dl_log_create_table(s->table, 100 * 1024, &log);
    snprintf(s->error, sizeof s->error, "%s", dl_last_error());
    if (s->result == 0) {
        if (dl_log_resume(log) == 0 && dl_log_mark_region(log, 5) == 0)
            dl_log_flush(log);
        dl_log_destroy(log);
    } else if (log != NULL) {
        s->result = -1000; /* a failed create must leave *log NULL */
    }
}

static void *second_thread(void *arg)
{
    try_second_open(arg);
    return NULL;
}

static void check_refused(const struct second_opener *s, const char *path, const char *who)
{
    char want[256];
    snprintf(want, sizeof want, "log %s is in use by another process", path);
    if (s->result != -EBUSY || strstr(s->error, want) == NULL)
        fprintf(stderr, "%s: second open returned %d: %s\n", who, s->result, s->error);
    CHECK_EQ(s->result, -EBUSY);
    CHECK(strstr(s->error, want) != NULL);
}

/* The second opener in a child process: its verdict comes back as the exit
 * status (0 refused as expected, 1 otherwise). */
static void second_in_child(const char *table, const char *path)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct second_opener s = {.table = table};
        try_second_open(&s);
        int saved = test_failures;
        check_refused(&s, path, "child");
        _exit(test_failures == saved ? 0 : 1);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void second_in_thread(const char *table, const char *path)
{
    struct second_opener s = {.table = table};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, second_thread, &s), 0);
    pthread_join(t, NULL);
    check_refused(&s, path, "thread");
}

/* Is region `r` marked "may differ" in the file (read directly)? */
static int on_disk_may_differ(const char *path, int dm, uint64_t r)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    size_t off = (dm ? 1024 : 8192) + r / 8;
    int bit = -1;
    if (b && off < n)
        bit = (b[off] >> (r % 8)) & 1;
    free(b);
    return bit < 0 ? -1 : dm ? !bit : bit;
}

/* A fresh path `name` in dir; the table that creates it (nosync) and the
 * one that reopens it (loads its marks); A, the first writer, opened. */
static dl_log *first_writer(const char *name, int dm, char path[128], char table[256],
                            char reopen[256])
{
    const char *fmt = dm ? " format=dm" : "";
    snprintf(path, 128, "%s/%s%s.log", dir, name, dm ? "-dm" : "");
    unlink(path);
    snprintf(table, 256, "disk %d %s 1024 nosync%s", dm ? 4 : 3, path, fmt);
    snprintf(reopen, 256, "disk %d %s 1024%s", dm ? 3 : 2, path, fmt);
    dl_log *a = open_table(table, 100 * 1024);
    CHECK(a != NULL);
    return a;
}

static void test_one_owner(int dm)
{
    char path[128], table[256], reopen[256];
    dl_log *a = first_writer("owner", dm, path, table, reopen);
    if (!a)
        return;
    /* A's mark is acknowledged: the flush returned 0. */
    CHECK_EQ(dl_log_mark_region(a, 0), 0);
    CHECK_EQ(dl_log_flush(a), 0);
    CHECK_EQ(on_disk_may_differ(path, dm, 0), 1);
    uint64_t before = file_hash(path);

    /* B, in another process and in another thread, is refused, whether it
     * would reformat (nosync) or load (no flag), and writes nothing. */
    second_in_child(table, path);
    second_in_child(reopen, path);
    second_in_thread(table, path);
    second_in_thread(reopen, path);
    CHECK_U64(file_hash(path), before);
    CHECK_EQ(on_disk_may_differ(path, dm, 0), 1);
    CHECK_EQ(on_disk_may_differ(path, dm, 5), 0);

    /* A keeps working; B's region 5 was never marked by anyone. */
    CHECK_EQ(dl_log_mark_region(a, 7), 0);
    CHECK_EQ(dl_log_flush(a), 0);
    CHECK_EQ(on_disk_may_differ(path, dm, 0), 1);
    dl_log_destroy(a);

    /* The owner is gone: the log opens again and region 0 is still dirty. */
    dl_log *b = open_table(reopen, 100 * 1024);
    CHECK(b != NULL);
    if (b) {
        CHECK_EQ(dl_log_is_clean(b, 0), 0);
        CHECK_EQ(dl_log_is_clean(b, 7), 0);
        CHECK_EQ(dl_log_is_clean(b, 5), 1);
        dl_log_destroy(b);
    }
    unlink(path);
}

/* The reproduction, in one process: A and B both hold the log, A
 * marks 0 and flushes, B marks 5 and flushes its own copy of the block. */
static void test_lost_mark(int dm)
{
    char path[128], table[256], reopen[256];
    dl_log *a = first_writer("lost", dm, path, table, reopen);
    if (!a)
        return;
    dl_log *b = NULL;
    int r = dl_log_create_table(reopen, 100 * 1024, &b);
    CHECK_EQ(r, -EBUSY);
    CHECK(b == NULL);
    if (r == 0 && dl_log_resume(b) != 0) {
        dl_log_destroy(b);
        b = NULL;
    }
    CHECK_EQ(dl_log_mark_region(a, 0), 0);
    CHECK_EQ(dl_log_flush(a), 0); /* acknowledged */
    if (b) {
        dl_log_mark_region(b, 5);
        dl_log_flush(b);
    }
    CHECK_EQ(on_disk_may_differ(path, dm, 0), 1);
    if (b)
        dl_log_destroy(b);
    dl_log_destroy(a);
    unlink(path);
}

/* A log created by dl_log_create_table (the file did not exist) is owned
 * from the moment it has its name: a second create finds it and is refused. */
static void test_new_file_owned(void)
{
    char path[128], table[256];
    snprintf(path, sizeof path, "%s/fresh.log", dir);
    unlink(path);
    snprintf(table, sizeof table, "disk 2 %s 1024", path);
    dl_log *a = open_table(table, 100 * 1024);
    CHECK(a != NULL);
    if (!a)
        return;
    uint64_t before = file_hash(path);
    second_in_child(table, path);
    second_in_thread(table, path);
    CHECK_U64(file_hash(path), before);
    dl_log_destroy(a);
    unlink(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dl-owner-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_one_owner(0);
    test_one_owner(1);
    test_lost_mark(0);
    test_lost_mark(1);
    test_new_file_owned();
    rmdir(dir);
    return test_exit_status("test_disk_owner");
}
