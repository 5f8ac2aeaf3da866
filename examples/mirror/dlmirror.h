/* Pieces of the dlmirror program shared between its files. */
#ifndef DLMIRROR_DLMIRROR_H
#define DLMIRROR_DLMIRROR_H

#include <stdint.h>

#include "mirror.h"

/* The `demo` command (demo.c). */
int dlmirror_demo(int argc, char **argv);
/* Resync every out-of-sync region through the write-intent layer, copying
 * leg 0 to the others, then clear and flush the log. show: print progress.
 * 0 or -errno (m->err says why). */
int dlmirror_resync(struct mirror *m, int show, uint64_t *regions, uint64_t *bytes);

#endif
