/* Pieces of the dlmirror program shared between its files. */
#ifndef DLMIRROR_DLMIRROR_H
#define DLMIRROR_DLMIRROR_H

#include <stdint.h>

#include "mirror.h"

/* The `demo` command (demo.c). */
int dlmirror_demo(int argc, char **argv);
/* Resync every out-of-sync region through the write-intent layer, copying
 * leg 0 to the others, then clear and flush the log. show: print progress
 * (with rate and ETA). status_path (or NULL): keep a live status file there
 * (status.h). 0 or -errno (m->err says why). */
int dlmirror_resync(struct mirror *m, int show, const char *status_path, uint64_t *regions,
                    uint64_t *bytes);
/* Print a live status file's figures and whether they are current
 * (show_status.c). held: 1 another process holds the mirror, 0 none does,
 * -1 not known. 0, or 2 if the file cannot be read. */
int dlmirror_show_status(const char *path, int held);
/* `dlmirror rm-stale-socket SOCKET` (stale_socket.c): remove a Unix socket
 * nothing listens on. 0 removed or absent, 1 a server listens, 2 error. */
int dlmirror_rm_stale_socket(int argc, char **argv);

#endif
