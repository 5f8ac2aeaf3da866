/* One owner per device: a log device (and an engine's data device, such as a
 * mirror leg) is claimed by one opener at a time, the way the kernel claims
 * the devices of a table exclusively. Two writers of one log would each
 * rewrite the other's bitmap blocks from their own memory, so an
 * acknowledged mark of one could be cleared on disk by the other.
 *
 *  - a regular file: an open file description lock (F_OFD_SETLK, F_WRLCK on
 *    the whole file). It belongs to the open file description, so it is
 *    dropped only when the last descriptor of that open is closed (a POSIX
 *    lock would be dropped by any close() of the file in the process), and
 *    two opens in one process conflict just as two processes do.
 *  - a block device: O_EXCL, which Linux refuses with EBUSY while another
 *    O_EXCL opener (or a mount) holds the device.
 * Read-only inspection never claims and never writes. */
#ifndef DL_DISK_CLAIM_H
#define DL_DISK_CLAIM_H

#include <sys/types.h>

/* open(path, flags, mode) and claim the result for `what` ("log", "leg"):
 * the descriptor (>= 0), or -errno with a message (dl_last_error()):
 * -EBUSY "log /x is in use by another process". Regular files and block
 * devices only (-EINVAL otherwise). */
int dl__open_claimed(const char *path, int flags, mode_t mode, const char *what);

/* Claim an open regular file (the lock as above). 0, or -EBUSY / -errno with
 * a message naming `what` and `path`. */
int dl__claim_fd(int fd, const char *what, const char *path);

/* Without claiming or writing anything: 1 if another opener holds `path`
 * (a live log or leg), 0 if nobody does, -errno if it cannot be told. */
int dl__claim_probe(const char *path);

#endif
