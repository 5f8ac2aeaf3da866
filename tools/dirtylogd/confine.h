/* Where dirtylogd may put logs. A client's CTR names a disk log's device by a
 * path the client chose, and the daemon runs as root: without these rules any
 * allowed client could make it open, format or create any file. The rules
 * (docs/dirtylogd.md, "Where logs live"):
 *  - `core` takes no path and is created as it is;
 *  - `disk`: the device is a regular file beneath the log directory (a
 *    relative path is relative to it, an absolute one must start with it),
 *    resolved so that neither `..` nor a symlink leaves the directory; a
 *    missing file is created by the daemon itself, mode 0600. Or the device
 *    is a block device the operator allowed by name (--allow-device),
 *    opened exclusively;
 *  - every other type is refused: `userspace` (a hosted log is not remote
 *    again), and types registered by others, whose arguments may name paths
 *    these rules do not know how to check. */
#ifndef DLD_CONFINE_H
#define DLD_CONFINE_H

#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"

#define DLD_DEFAULT_LOG_DIR "/var/lib/dirtylogd/logs"

struct dld_confine {
    int log_dir_fd;       /* O_PATH descriptor of the log directory */
    char *log_dir;        /* as the operator named it, no trailing '/' */
    char *log_dir_real;   /* its canonical path */
    char **block_allow;   /* --allow-device paths (absolute), as named */
    uint64_t *block_rdev; /* the device number each had at start */
    size_t nblock;
    int walk_only;        /* tests: resolve by the O_NOFOLLOW walk even where
                             openat2 works */
};

/* Open (creating it mode 0700 if missing) the log directory, remove the
 * temporary files of creations a killed daemon left at its top, and check
 * the allowed block devices. Refuses a directory writable by group or others
 * and a device that is not a block device. 0 or -errno with a message. */
int dld_confine_init(struct dld_confine *cfg, const char *log_dir, char *const *devices,
                     size_t ndevices, char *err, size_t errlen);
void dld_confine_fini(struct dld_confine *cfg);

/* dl_log_create() under the rules above. cfg NULL: no log directory, so no
 * disk logs. 0 and *log, or -errno with a message in err naming the path
 * and the rule; a file this call created is removed again on failure. */
int dld_confine_create_log(const struct dld_confine *cfg, const char *type, uint64_t target,
                           unsigned argc, char **argv, dl_log **log, char *err, size_t errlen);

#endif
