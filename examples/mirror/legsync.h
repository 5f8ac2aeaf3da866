/* Making a mirror's legs durable quickly: their fdatasync calls run in
 * parallel (leg 0 in the caller, the others in a small pool of threads, one
 * per leg, made once and reused), and their writeback is started early, as
 * the writes come, so the fdatasync in a flush has little left to do. */
#ifndef DLMIRROR_LEGSYNC_H
#define DLMIRROR_LEGSYNC_H

#include <stdatomic.h>
#include <stddef.h>

/* Start writeback (Linux sync_file_range(SYNC_FILE_RANGE_WRITE) of the
 * whole file, which does not wait) once this many bytes were written to a
 * leg since the last start. Elsewhere nothing happens. */
#define LEGSYNC_KICK_BYTES (1u << 20)

struct legsync;

/* fdatasync fd[0..n-1] (n <= 8) all at once. The pool is made on the first
 * call (and made again in a forked child, whose parent's threads do not
 * exist there); without threads the legs are synced one after the other.
 * The caller serializes the calls. Returns 0 or the first -errno. */
int legsync_run(struct legsync **pool, unsigned n, const int *fd);
/* Stop and join the pool's threads (a pool of another process is only
 * freed). NULL is ignored. */
void legsync_destroy(struct legsync *pool);
/* len bytes were written to fd: start its writeback if enough piled up
 * (*unwritten counts them; shared by the writers of that leg). */
void legsync_wrote(atomic_size_t *unwritten, int fd, size_t len);

#endif
