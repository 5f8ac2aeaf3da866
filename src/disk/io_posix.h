/* The default dl_io on a file descriptor (regular file or block device). */
#ifndef DL_DISK_IO_POSIX_H
#define DL_DISK_IO_POSIX_H

#include "dirtylog.h"

/* Wrap an open descriptor (the io owns it and closes it). 0 or -ENOMEM. */
int dl__io_posix_from_fd(int fd, int read_only, struct dl_io **io);

/* Create `path` atomically: `init` formats a fresh file through the io
 * (writes and syncs it) while it has no name (O_TMPFILE in path's
 * directory; where that is missing, under a temporary name), then it is
 * linked to `path` (never replacing an existing file) and the directory
 * synced. A creation killed halfway leaves nothing (with O_TMPFILE). 0 and
 * *io (open on the new file), -EEXIST if `path` appeared meanwhile, or
 * -errno with a message. */
int dl__io_posix_create(const char *path, int (*init)(struct dl_io *io, void *arg), void *arg,
                        struct dl_io **io);

#endif
