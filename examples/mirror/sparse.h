/* Resync copies without filling holes: a range of leg 0 is copied to the
 * other legs extent by extent, so a hole (or an all-zero chunk) of leg 0
 * becomes a hole on the other legs instead of written zeros. */
#ifndef DLMIRROR_SPARSE_H
#define DLMIRROR_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "mirror.h"

/* Copy bytes [off, off + len) from leg 0 to every other leg, through `buf`
 * (`chunk` bytes, not 0). Data is found with SEEK_DATA/SEEK_HOLE (read as
 * all data where unsupported); a hole or an all-zero chunk is punched on
 * each other leg (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE), or, where punching is
 * not supported, zeros are written only where that leg is not zero yet.
 * 0 or -errno. */
int mirror_copy_range(struct mirror *m, uint64_t off, uint64_t len, char *buf, size_t chunk);

#endif
