/* Hand-made protocol messages for tests: build any header (valid or not),
 * read replies with a timeout. */
#ifndef DL_TEST_RAW_CLIENT_H
#define DL_TEST_RAW_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "remote/wire.h"

/* Send a well-formed request. 0 or -1. */
int raw_send(int fd, uint32_t type, const char *uuid, uint64_t luid, uint32_t seq,
             const void *payload, size_t len);
/* Send bytes as they are. 0 or -1. */
int raw_write(int fd, const void *buf, size_t len);
/* Read one reply (header + payload up to cap, rest dropped) within 5 s.
 * 1 = got one, 0 = the daemon closed the connection, -1 = timeout/error. */
int raw_recv(int fd, struct dlw_header *h, void *payload, size_t cap);
/* CTR "<target> <table...>" then return the reply's error (or -1000 on
 * transport failure). */
int raw_ctr(int fd, const char *uuid, uint64_t luid, const char *ctr);
/* raw_ctr for a session whose previous connection was just closed: the
 * daemon answers -EBUSY until it has seen that close, so -EBUSY is retried
 * (polled, bounded: 10 s). */
int raw_ctr_reattach(int fd, const char *uuid, uint64_t luid, const char *ctr);
/* A request with one u64 region; reply error, and *answer = first u64. */
int raw_region(int fd, uint32_t type, const char *uuid, uint64_t luid, uint64_t region,
               uint64_t *answer);

#endif
