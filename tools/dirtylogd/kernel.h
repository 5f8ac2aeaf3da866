/* dirtylogd's kernel front end (`dirtylogd --kernel`, docs/kernel.md): it
 * serves Linux device-mapper's `userspace` dirty log (dm-log-userspace)
 * over a NETLINK_CONNECTOR socket. Each datagram (kernel_msg.h) becomes a
 * struct dld_request for the one request layer (request.h), exactly as a
 * socket request does; the reply goes back in the kernel's framing.
 *
 * The peer is the kernel: uid DLD_KERNEL_UID and one connection id
 * (DLD_KERNEL_CONN_ID) for the whole channel, so a kernel client is one
 * session per (uuid, luid) and a restarted daemon's channel reattaches the
 * sessions the kernel replays (CTR + RESUME).
 *
 * It runs in a thread of its own beside the unix-socket transport: one
 * datagram at a time, received, handled and answered before the next (the
 * kernel waits for each reply anyway). The socket is injectable: tests pass
 * one end of a datagram socketpair instead of the netlink socket. */
#ifndef DLD_KERNEL_H
#define DLD_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* The netlink channel's connection id: worker connections count up from 1
 * and never get here. */
#define DLD_KERNEL_CONN_ID UINT64_MAX

/* Open the connector socket and join device-mapper's group (CN_IDX_DM).
 * Needs root; only the initial network namespace reaches the kernel's
 * connector (checked). The fd, or -errno with the reason in why. */
int dld_kernel_open(char *why, size_t whylen);

/* One received datagram of n bytes: handle it and write the reply datagram
 * into out (cap >= DLK_MAX_DATAGRAM). Returns the reply's length, 0 when the
 * datagram is not a request to answer (not ours, or too short to answer). */
size_t dld_kernel_handle(struct dld_server *srv, const uint8_t *in, size_t n, uint8_t *out,
                         size_t cap);

/* Serve fd until stop_fd becomes readable. Then stop receiving (netlink:
 * leave the group, so the kernel's next request finds no daemon and is
 * retried until one answers), answer every request already received, and
 * detach the channel's sessions (they keep their marks). fd is not closed.
 * netlink: fd is the connector socket (only datagrams from the kernel,
 * port id 0, are taken); 0 for an injected socket. 0, or -errno if fd
 * failed. */
int dld_kernel_serve(struct dld_server *srv, int fd, int netlink, int stop_fd);

/* Kernel sessions of a previous boot (kernel_boot.c): the kernel's luid is a
 * pointer, meaningless after a reboot, so such a session never reattaches.
 * Before dld_server_open_state: if state_dir was last served in another
 * boot than boot_id, remove the state files of the kernel's logs (their
 * marks stay on the log devices). The number removed, or -errno. After
 * dld_server_open_state: dld_kernel_record_boot() notes boot_id there. */
#define DLD_BOOT_ID_MAX 64
int dld_kernel_boot_id(char id[DLD_BOOT_ID_MAX]); /* the running boot's; 0 or -errno */
int dld_kernel_forget_old_boot(const char *state_dir, const char *boot_id,
                               void (*logf)(int level, const char *fmt, ...));
int dld_kernel_record_boot(struct dld_server *srv, const char *boot_id);

/* dld_kernel_serve in a thread. If the channel fails, the thread writes a
 * byte to fail_fd (>= 0: the daemon's stop pipe, so the whole daemon stops
 * rather than run without serving the kernel). */
struct dld_kernel_thread;
int dld_kernel_start(struct dld_kernel_thread **out, struct dld_server *srv, int fd, int netlink,
                     int stop_fd, int fail_fd);
/* Wait for the thread (make stop_fd readable first); its result. */
int dld_kernel_join(struct dld_kernel_thread *t);

#endif
