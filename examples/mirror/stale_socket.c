/* `dlmirror rm-stale-socket PATH`: remove a Unix socket nothing listens on.
 * nbdkit leaves its -U socket behind when it exits (killed or not), and a
 * restart on the same path then fails with "Address already in use". Only a
 * socket that refuses a connection is removed: one a server listens on is
 * kept (exit 1), whatever is not a socket is never touched (exit 2). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dlmirror.h"

/* Does a server listen on the socket at path? 1 yes, 0 no (refused), -errno
 * if it cannot be told. Non-blocking: a full backlog (EAGAIN) is a server. */
static int someone_listens(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 1 : -errno;
    close(fd);
    if (r == -ECONNREFUSED)
        return 0;
    if (r == -EAGAIN || r == -EINPROGRESS)
        return 1;
    return r;
}

int dlmirror_rm_stale_socket(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: dlmirror rm-stale-socket SOCKET\n");
        return 2;
    }
    const char *path = argv[0];
    struct stat before, after;
    if (lstat(path, &before) != 0) {
        if (errno == ENOENT) {
            printf("%s: no socket there, nothing to remove\n", path);
            return 0;
        }
        fprintf(stderr, "dlmirror: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (!S_ISSOCK(before.st_mode)) {
        fprintf(stderr, "dlmirror: %s is not a socket: not removed\n", path);
        return 2;
    }
    int r = someone_listens(path);
    if (r == 1) {
        fprintf(stderr, "dlmirror: a server listens on %s: not removed\n", path);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "dlmirror: cannot tell whether a server listens on %s (%s): not "
                        "removed\n", path, strerror(-r));
        return 2;
    }
    /* Still the socket that refused (not one a new server made meanwhile). */
    if (lstat(path, &after) != 0 || after.st_ino != before.st_ino ||
        after.st_dev != before.st_dev) {
        fprintf(stderr, "dlmirror: %s changed while it was checked: not removed\n", path);
        return 1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "dlmirror: cannot remove %s: %s\n", path, strerror(errno));
        return 2;
    }
    printf("%s: removed a stale socket (nothing listened on it)\n", path);
    return 0;
}
