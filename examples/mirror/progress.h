/* Resync progress shared by dlmirror's bar and the live status file: a
 * rate over a moving window of recent samples, the ETA it gives, and their
 * text ("12.3 MiB/s, ETA 1:05"). Callers pass the time (progress_now()),
 * so the unit test can pass its own. */
#ifndef DLMIRROR_PROGRESS_H
#define DLMIRROR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define RATE_WINDOW_SECONDS 10.0 /* the rate is measured over at most this long */
#define RATE_WINDOW_SAMPLES 64   /* and at most this many samples */

struct rate_window {
    double t[RATE_WINDOW_SAMPLES];    /* seconds, any monotonic origin */
    uint64_t done[RATE_WINDOW_SAMPLES]; /* running total of bytes at t */
    unsigned first, count;
};

/* Monotonic seconds (CLOCK_MONOTONIC), for the samples. */
double progress_now(void);

void rate_window_init(struct rate_window *w);
/* Record `done` bytes done in all by time t (t never decreases). Samples
 * older than RATE_WINDOW_SECONDS before t are dropped (two are kept). */
void rate_window_add(struct rate_window *w, double t, uint64_t done);
/* Bytes per second between the oldest and the newest sample, or -1 while
 * it cannot be told (fewer than two samples, no time between them). */
double rate_window_rate(const struct rate_window *w);
/* Seconds until `remaining` bytes are done at `rate`: 0 when nothing
 * remains, -1 when the rate is unknown or 0. */
int64_t rate_eta_seconds(double rate, uint64_t remaining);
/* "12.3 MiB/s, ETA 1:05" (m:ss below an hour, then h:mm:ss, "ETA >99h"
 * past 99 hours); "-.- MiB/s, ETA --:--" for an unknown rate or ETA. */
const char *format_rate_eta(char *buf, size_t len, double rate, int64_t eta);

#endif
