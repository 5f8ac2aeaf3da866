/* Misbehaving clients for the daemon's transport tests and the hostile
 * benchmark: requests sent without reading the replies, hangup detection,
 * the daemon's CPU time. */
#ifndef DL_TEST_HOSTILE_CLIENT_H
#define DL_TEST_HOSTILE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic milliseconds. */
int64_t mono_ms(void);
/* Send up to max IS_CLEAN requests for (uuid, luid) without reading a
 * reply, until the socket takes no more (non-blocking). Returns the number
 * of requests sent whole (a trailing partial one is not counted), or -1 if
 * the connection failed. Leaves the socket non-blocking. */
/* The bytes of one IS_CLEAN request of `region` (DLW_HEADER_SIZE + 8 bytes). */
void is_clean_request(uint8_t *msg, const char *uuid, uint64_t luid, uint32_t seq, uint64_t region);
long send_without_reading(int fd, const char *uuid, uint64_t luid, long max);
/* Wait up to timeout_ms for the daemon to hang up on fd (POLLHUP/POLLERR;
 * data waiting to be read is ignored). 1 = hung up, 0 = still open. */
int wait_hangup(int fd, int timeout_ms);
/* Send a CTR (uuid, luid, "1024 core 8") and read one answer: the reply's
 * error (0 = served), or the refusal's error (*refused = 1) if the daemon
 * refused the connection instead; -1000 if nothing came within 5 s. */
int ctr_or_refusal(int fd, const char *uuid, uint64_t luid, int *refused);
/* utime + stime of process pid, in seconds (/proc/PID/stat), or -1. */
double process_cpu_seconds(pid_t pid);

#endif
