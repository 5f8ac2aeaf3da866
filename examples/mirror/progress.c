/* Rate over a moving window, ETA, and their text (progress.h). */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rate_window_init(struct rate_window *w)
{
    w->first = w->count = 0;
}

static unsigned slot(const struct rate_window *w, unsigned i)
{
    return (w->first + i) % RATE_WINDOW_SAMPLES;
}

void rate_window_add(struct rate_window *w, double t, uint64_t done)
{
    if (w->count == RATE_WINDOW_SAMPLES) { /* full: the oldest goes */
        w->first = slot(w, 1);
        w->count--;
    }
    unsigned s = slot(w, w->count++);
    w->t[s] = t;
    w->done[s] = done;
    while (w->count > 2 && t - w->t[w->first] > RATE_WINDOW_SECONDS) {
        w->first = slot(w, 1);
        w->count--;
    }
}

double rate_window_rate(const struct rate_window *w)
{
    if (w->count < 2)
        return -1;
    unsigned a = w->first, b = slot(w, w->count - 1);
    double dt = w->t[b] - w->t[a];
    if (dt <= 0 || w->done[b] < w->done[a])
        return -1;
    return (double)(w->done[b] - w->done[a]) / dt;
}

int64_t rate_eta_seconds(double rate, uint64_t remaining)
{
    if (remaining == 0)
        return 0;
    if (!(rate > 0))
        return -1;
    double s = (double)remaining / rate;
    if (s >= (double)INT32_MAX)
        return INT32_MAX;
    int64_t whole = (int64_t)s;
    return whole + ((double)whole < s); /* rounded up: 0.2 s left is 1 s, not 0 */
}

const char *format_rate_eta(char *buf, size_t len, double rate, int64_t eta)
{
    char r[32], e[32];
    if (rate < 0)
        snprintf(r, sizeof r, "-.- MiB/s");
    else
        snprintf(r, sizeof r, "%.1f MiB/s", rate / (1024.0 * 1024.0));
    if (eta < 0)
        snprintf(e, sizeof e, "--:--");
    else if (eta < 3600)
        snprintf(e, sizeof e, "%" PRId64 ":%02" PRId64, eta / 60, eta % 60);
    else if (eta < 100 * 3600)
        snprintf(e, sizeof e, "%" PRId64 ":%02" PRId64 ":%02" PRId64, eta / 3600,
                 eta / 60 % 60, eta % 60);
    else
        snprintf(e, sizeof e, ">99h");
    snprintf(buf, len, "%s, ETA %s", r, e);
    return buf;
}
