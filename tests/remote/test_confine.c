/* dirtylogd writes only where its operator allowed (--log-dir, --allow-device):
 * against a real daemon, the confused-deputy reproduction (a 0600 file outside
 * the log directory, named by absolute path, must stay byte-identical),
 * relative paths landing in the log directory, `..`, symlinks leading out,
 * absolute paths outside, block devices (a loop device; skipped visibly
 * without root or loop support), non-regular files, a failed CTR leaving no
 * file, and a log in the directory working end to end. Then the same rules
 * called directly (dld_confine_*), both with openat2 and with the O_NOFOLLOW
 * walk used where the kernel lacks it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/check.h"
#include "common/run_cmd.h"
#include "confine.h"
#include "daemon_fixture.h"
#include "dirtylog.h"
#include "raw_client.h"

TEST_MAIN_DEFINITIONS

#define ZEROS_BYTES 8192 /* an all-zero header: a "blank device" the disk type would format */

static struct daemon_fx fx;
/* Where openat2 is missing (qemu-user 7.2 in the cross CI), the daemon uses
 * the walk, which refuses every symlink with its own message. */
static int no_openat2;
#define LEADS_OUT (no_openat2 ? "symlinks are not followed" : "leads out of the log directory")
static char outside[64]; /* a directory that is not the log directory */

/* CTR on a fresh connection; the reply's error, its message in msg. */
static int ctr(const char *uuid, const char *ctr_string, char *msg, size_t cap)
{
    msg[0] = '\0';
    int fd = daemon_connect(&fx);
    if (fd < 0)
        return -1000;
    struct dlw_header h;
    int r = -1000;
    if (raw_send(fd, DLW_CTR, uuid, 1, 1, ctr_string, strlen(ctr_string)) == 0 &&
        raw_recv(fd, &h, msg, cap - 1) == 1) {
        r = h.error;
        msg[h.data_size < cap - 1 ? h.data_size : cap - 1] = '\0';
    }
    close(fd);
    return r;
}

/* CTR "1024 disk <path> 8"; expect error `err` whose message contains `why`. */
static void expect_disk_ctr(const char *path, int err, const char *why, int line)
{
    char c[512], msg[1024], uuid[32];
    static unsigned n;
    snprintf(uuid, sizeof uuid, "confine-%u", n++);
    snprintf(c, sizeof c, "1024 disk %s 8", path);
    int r = ctr(uuid, c, msg, sizeof msg);
    if (r != err || (why && !strstr(msg, why)))
        fprintf(stderr, "line %d: CTR '%s' -> %d '%s', expected %d '%s'\n", line, c, r, msg, err,
                why ? why : "");
    CHECK_EQ(r, err);
    if (why)
        CHECK(strstr(msg, why) != NULL);
    if (err < 0)
        CHECK(strstr(msg, path) != NULL); /* the message names the path */
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK_EQ(write(fd, data, len), (long long)len);
    fchmod(fd, mode);
    close(fd);
}

/* A file of zeros (so it looks blank) with a secret after them. */
static void write_bait(const char *path, unsigned char *image, size_t *len)
{
    memset(image, 0, ZEROS_BYTES);
    memcpy(image + ZEROS_BYTES, "root's secret", 13);
    *len = ZEROS_BYTES + 13;
    write_file(path, image, *len, 0600);
}

static int file_is(const char *path, const unsigned char *image, size_t len)
{
    unsigned char buf[ZEROS_BYTES + 64];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n == (ssize_t)len && memcmp(buf, image, len) == 0;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* No file of a creation in progress is left in dir. */
static int leftovers(const char *dir)
{
    char pat[128];
    snprintf(pat, sizeof pat, "%s/.dirtylogd-new-*", dir);
    glob_t g;
    int n = glob(pat, GLOB_NOSORT, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static void test_confused_deputy(void)
{
    char secret[128], abs_bait[128];
    unsigned char image[ZEROS_BYTES + 64];
    size_t len;
    snprintf(secret, sizeof secret, "%s/secret", outside);
    write_bait(secret, image, &len);
    expect_disk_ctr(secret, -EACCES, "outside the log directory", __LINE__);
    CHECK(file_is(secret, image, len));
    struct stat st;
    CHECK(stat(secret, &st) == 0 && (st.st_mode & 07777) == 0600);

    /* Absolute paths outside: not created either. */
    snprintf(abs_bait, sizeof abs_bait, "%s/new.log", outside);
    expect_disk_ctr(abs_bait, -EACCES, "outside the log directory", __LINE__);
    CHECK(!exists(abs_bait));
    /* A path that merely starts with the directory's name is outside too. */
    snprintf(abs_bait, sizeof abs_bait, "%s-sibling.log", fx.dir);
    expect_disk_ctr(abs_bait, -EACCES, "outside the log directory", __LINE__);
    CHECK(!exists(abs_bait));
}

static void test_relative_lands_in_dir(void)
{
    char in_dir[128], sub[128];
    expect_disk_ctr("rel.log", 0, NULL, __LINE__);
    snprintf(in_dir, sizeof in_dir, "%s/rel.log", fx.dir);
    struct stat st;
    CHECK(stat(in_dir, &st) == 0);
    CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid());
    CHECK(st.st_size >= 4096); /* formatted, not the blank sector it started as */
    if (exists("rel.log")) { /* the daemon's cwd: today's main puts it there */
        CHECK(0);
        unlink("rel.log");
    }
    /* Absolute beneath the directory, and a subdirectory of it. */
    snprintf(in_dir, sizeof in_dir, "%s/abs.log", fx.dir);
    expect_disk_ctr(in_dir, 0, NULL, __LINE__);
    CHECK(exists(in_dir));
    snprintf(sub, sizeof sub, "%s/sub", fx.dir);
    CHECK_EQ(mkdir(sub, 0700), 0);
    expect_disk_ctr("sub/./nested.log", 0, NULL, __LINE__);
    snprintf(in_dir, sizeof in_dir, "%s/sub/nested.log", fx.dir);
    CHECK(exists(in_dir));
    /* A live log is not opened twice. */
    expect_disk_ctr("rel.log", -EBUSY, "in use", __LINE__);
    CHECK_EQ(leftovers(fx.dir), 0);
}

static void test_dotdot(void)
{
    char name[64], rel[192], where[192];
    snprintf(name, sizeof name, "dl-confine-escape-%ld", (long)getpid());
    snprintf(rel, sizeof rel, "../%s", name);
    expect_disk_ctr(rel, -EACCES, "'..' is not allowed", __LINE__);
    snprintf(rel, sizeof rel, "sub/../../%s", name);
    expect_disk_ctr(rel, -EACCES, "'..' is not allowed", __LINE__);
    snprintf(rel, sizeof rel, "%s/../%s", fx.dir, name);
    expect_disk_ctr(rel, -EACCES, "'..' is not allowed", __LINE__);
    snprintf(where, sizeof where, "/tmp/%s", name); /* next to the log directory */
    CHECK(!exists(where));
    unlink(where);
    snprintf(where, sizeof where, "../%s", name); /* next to the daemon's cwd */
    CHECK(!exists(where));
    unlink(where);
}

static void test_symlinks_out(void)
{
    char target[128], link[128], dirlink[128], rel_target[128], path[192];
    unsigned char image[ZEROS_BYTES + 64];
    size_t len;
    snprintf(target, sizeof target, "%s/target", outside);
    write_bait(target, image, &len);

    snprintf(link, sizeof link, "%s/esc", fx.dir); /* absolute symlink */
    CHECK_EQ(symlink(target, link), 0);
    expect_disk_ctr("esc", -EACCES, LEADS_OUT, __LINE__);
    expect_disk_ctr(link, -EACCES, LEADS_OUT, __LINE__);

    snprintf(link, sizeof link, "%s/esc-rel", fx.dir); /* relative symlink climbing out */
    snprintf(rel_target, sizeof rel_target, "..%s/target", strrchr(outside, '/'));
    CHECK_EQ(symlink(rel_target, link), 0);
    expect_disk_ctr("esc-rel", -EACCES, LEADS_OUT, __LINE__);
    CHECK(file_is(target, image, len));

    snprintf(dirlink, sizeof dirlink, "%s/escdir", fx.dir); /* a directory symlink */
    CHECK_EQ(symlink(outside, dirlink), 0);
    expect_disk_ctr("escdir/new.log", -EACCES, LEADS_OUT, __LINE__);
    snprintf(path, sizeof path, "%s/new.log", outside);
    CHECK(!exists(path));
    CHECK_EQ(leftovers(outside), 0);
}

static void test_not_regular(void)
{
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", fx.dir);
    CHECK_EQ(mkfifo(fifo, 0600), 0);
    expect_disk_ctr("fifo", -EINVAL, "not a regular file", __LINE__);
    expect_disk_ctr("d.sock", -EINVAL, "not a regular file", __LINE__);
    expect_disk_ctr("sub", -EINVAL, "is a directory", __LINE__);
    expect_disk_ctr("sub/", -EINVAL, "directory", __LINE__);
}

static void test_failed_ctr_leaves_nothing(void)
{
    char msg[512], path[128];
    CHECK_EQ(ctr("bad1", "1024 disk bad.log 7", msg, sizeof msg), -EINVAL);  /* region size */
    CHECK_EQ(ctr("bad2", "1024 disk bad.log", msg, sizeof msg), -EINVAL);    /* no region size */
    CHECK_EQ(ctr("bad3", "1024 disk bad.log 8 nonsense", msg, sizeof msg), -EINVAL);
    snprintf(path, sizeof path, "%s/bad.log", fx.dir);
    CHECK(!exists(path));
    CHECK_EQ(leftovers(fx.dir), 0);
    /* Types: core passes, unknown ones are unknown. */
    CHECK_EQ(ctr("core1", "1024 core 8", msg, sizeof msg), 0);
    CHECK_EQ(ctr("nosuch", "1024 nosuchtype 8", msg, sizeof msg), -ENOENT);
}

static dl_log *userspace_log(const char *uuid, const char *path)
{
    char table[512];
    snprintf(table, sizeof table, "userspace 5 %s socket=%s disk %s 8", uuid, fx.socket, path);
    dl_log *log = NULL;
    int r = dl_log_create_table(table, 1024, &log);
    if (r < 0)
        fprintf(stderr, "create '%s': %s\n", table, dl_last_error());
    CHECK_EQ(r, 0);
    if (log)
        CHECK_EQ(dl_log_resume(log), 0);
    return log;
}

static void test_log_in_dir_works(void)
{
    dl_log *log = userspace_log("work", "work.log");
    if (!log)
        return;
    CHECK_EQ(dl_log_is_clean(log, 5), 1);
    CHECK_EQ(dl_log_mark_region(log, 5), 0);
    CHECK_EQ(dl_log_flush(log), 0);
    CHECK_EQ(dl_log_is_clean(log, 5), 0);
    CHECK_EQ(dl_log_is_clean(log, 6), 1);
    dl_log_destroy(log); /* DTR: the daemon drops the log */
    char path[128];
    snprintf(path, sizeof path, "%s/work.log", fx.dir);
    CHECK(exists(path));
    /* Opened again from the file (not created): the mark is there. */
    log = userspace_log("work", "work.log");
    if (!log)
        return;
    CHECK_EQ(dl_log_is_clean(log, 5), 0);
    dl_log_destroy(log);
}

/* --- a block device: refused unless --allow-device names it --------------- */
/* Runs with the daemon up; stops it. 1 if it ran, 0 if skipped. */

static int read_head(const char *dev, unsigned char *buf, size_t len)
{
    int fd = open(dev, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, len, 0);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static int test_block_device(const char *binary)
{
    char backing[128], cmd[256], dev[64] = "";
    snprintf(backing, sizeof backing, "%s/backing", outside);
    int fd = open(backing, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int made = fd >= 0 && ftruncate(fd, 4 << 20) == 0;
    if (fd >= 0)
        close(fd);
    snprintf(cmd, sizeof cmd, "losetup -f --show %s 2>/dev/null", backing);
    struct stat st;
    if (geteuid() != 0 || !made || run_cmd(cmd, dev, sizeof dev) != 0 ||
        strncmp(dev, "/dev/", 5) != 0 || stat(dev, &st) != 0 || !S_ISBLK(st.st_mode)) {
        printf("SKIP (block device cases): no loop device (needs root and loop support)\n");
        unlink(backing);
        CHECK_EQ(daemon_stop(&fx), 0);
        return 0;
    }
    printf("using %s\n", dev);
    unsigned char head[ZEROS_BYTES], zeros[ZEROS_BYTES] = {0};
    expect_disk_ctr(dev, -EACCES, "not an allowed block device", __LINE__);
    CHECK(read_head(dev, head, sizeof head) == 0 && memcmp(head, zeros, sizeof head) == 0);

    /* A block device node inside the log directory is no way around it. */
    char node[128];
    snprintf(node, sizeof node, "%s/blk", fx.dir);
    if (mknod(node, S_IFBLK | 0600, st.st_rdev) == 0) {
        expect_disk_ctr("blk", -EINVAL, "not a regular file", __LINE__);
        unlink(node);
    } else {
        printf("SKIP (block node in the log directory): mknod: %s\n", strerror(errno));
    }
    CHECK(read_head(dev, head, sizeof head) == 0 && memcmp(head, zeros, sizeof head) == 0);

    /* Allowed by name: used, exclusively. */
    CHECK_EQ(daemon_stop(&fx), 0);
    const char *extra[] = {"--allow-device", dev, NULL};
    CHECK_EQ(daemon_start(&fx, binary, extra), 0);
    expect_disk_ctr(dev, 0, NULL, __LINE__);
    CHECK(read_head(dev, head, sizeof head) == 0 && memcmp(head, zeros, sizeof head) != 0);
    expect_disk_ctr(dev, -EBUSY, "in use", __LINE__);
    CHECK_EQ(daemon_stop(&fx), 0);

    snprintf(cmd, sizeof cmd, "losetup -d %s", dev);
    CHECK_EQ(run_cmd(cmd, NULL, 0), 0);
    unlink(backing);
    return 1;
}

/* --- the rules called directly, with openat2 and with the walk ------------ */

static int make(const struct dld_confine *cfg, const char *type, const char *path, char *err)
{
    char *argv[] = {(char *)path, "8", NULL};
    dl_log *log = NULL;
    int r = dld_confine_create_log(cfg, type, 1024, strcmp(type, "core") == 0 ? 1 : 2,
                                   strcmp(type, "core") == 0 ? argv + 1 : argv, &log, err, 512);
    dl_log_destroy(log);
    return r;
}

static void test_direct(int walk_only)
{
    char dir[] = "/tmp/dl-confine-XXXXXX", err[512], p[256];
    CHECK(mkdtemp(dir) != NULL);
    /* What a daemon killed mid-creation left is removed at the next start. */
    snprintf(p, sizeof p, "%s/.dirtylogd-new-1-1", dir);
    write_file(p, "x", 1, 0600);
    CHECK_EQ(leftovers(dir), 1);
    struct dld_confine cfg;
    CHECK_EQ(dld_confine_init(&cfg, dir, NULL, 0, err, sizeof err), 0);
    CHECK_EQ(leftovers(dir), 0);
    cfg.walk_only = walk_only;

    CHECK_EQ(make(&cfg, "disk", "a.log", err), 0);      /* created */
    CHECK_EQ(make(&cfg, "disk", "a.log", err), 0);      /* opened */
    snprintf(p, sizeof p, "%s/a.log", dir);
    CHECK_EQ(make(&cfg, "disk", p, err), 0);            /* by absolute path */
    snprintf(p, sizeof p, "%s//a.log", dir);
    CHECK_EQ(make(&cfg, "disk", p, err), 0);
    CHECK_EQ(make(&cfg, "disk", "../a.log", err), -EACCES);
    CHECK_EQ(make(&cfg, "disk", "/etc/passwd", err), -EACCES);

    /* A symlink that stays inside: followed by openat2, never by the walk. */
    snprintf(p, sizeof p, "%s/alias", dir);
    CHECK_EQ(symlink("a.log", p), 0);
    int r = make(&cfg, "disk", "alias", err);
    CHECK_EQ(r, walk_only ? -EACCES : 0);
    if (walk_only)
        CHECK(strstr(err, "symlinks are not followed") != NULL);
    unlink(p);
    snprintf(p, sizeof p, "%s/out", dir);
    CHECK_EQ(symlink("/tmp", p), 0);
    CHECK_EQ(make(&cfg, "disk", "out/x.log", err), -EACCES);
    unlink(p);
    snprintf(p, sizeof p, "%s/dangling", dir);
    CHECK_EQ(symlink("nowhere.log", p), 0);
    CHECK(make(&cfg, "disk", "dangling", err) < 0);
    unlink(p);
    CHECK_EQ(leftovers(dir), 0);

    /* Types. */
    CHECK_EQ(make(&cfg, "core", NULL, err), 0);
    CHECK_EQ(make(&cfg, "userspace", "x", err), -EACCES);
    CHECK_EQ(make(&cfg, "nosuchtype", "x", err), -ENOENT);
    CHECK_EQ(make(NULL, "disk", "a.log", err), -EACCES);

    dld_confine_fini(&cfg);

    /* Setup refuses a directory others can write and a non-block device. */
    CHECK_EQ(chmod(dir, 0770), 0);
    CHECK_EQ(dld_confine_init(&cfg, dir, NULL, 0, err, sizeof err), -EACCES);
    CHECK_EQ(chmod(dir, 0700), 0);
    char *devices[] = {"/dev/null"};
    CHECK_EQ(dld_confine_init(&cfg, dir, devices, 1, err, sizeof err), -EINVAL);
    snprintf(p, sizeof p, "%s/a.log", dir);
    unlink(p);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    /* (no valid call: only ENOSYS, "not implemented", matters) */
    no_openat2 = syscall(SYS_openat2, -1, "", NULL, 0) < 0 && errno == ENOSYS;
    if (no_openat2)
        printf("openat2 is not available here: its cases run with the walk\n");
    snprintf(outside, sizeof outside, "/tmp/dl-outside-XXXXXX");
    if (!mkdtemp(outside) || daemon_start(&fx, argv[1], NULL) < 0)
        return 1;
    test_confused_deputy();
    test_relative_lands_in_dir();
    test_dotdot();
    test_symlinks_out();
    test_not_regular();
    test_failed_ctr_leaves_nothing();
    test_log_in_dir_works();
    int blk = test_block_device(argv[1]);

    test_direct(no_openat2);
    test_direct(1);

    /* What the tests left: the fixture removes plain files only. */
    char p[192];
    const char *subs[] = {"sub/nested.log", "sub", "esc", "esc-rel", "escdir", "fifo"};
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        snprintf(p, sizeof p, "%s/%s", fx.dir, subs[i]);
        if (remove(p) != 0 && errno != ENOENT)
            perror(p);
    }
    daemon_cleanup(&fx);
    const char *out[] = {"secret", "target"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", outside, out[i]);
        unlink(p);
    }
    CHECK_EQ(rmdir(outside), 0); /* nothing else was created there */
    if (!blk)
        printf("(block device cases skipped)\n");
    return test_exit_status("test_confine");
}
