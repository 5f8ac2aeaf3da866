/* Unit test of the resync rate, ETA and their text (examples/mirror/progress.h). */
#include <string.h>

#include "common/check.h"
#include "progress.h"

TEST_MAIN_DEFINITIONS

#define MIB (1024.0 * 1024.0)

static const char *fmt(double rate, int64_t eta)
{
    static char buf[64];
    return format_rate_eta(buf, sizeof buf, rate, eta);
}

static void test_format(void)
{
    CHECK_STR(fmt(12.34 * MIB, 65), "12.3 MiB/s, ETA 1:05");
    CHECK_STR(fmt(0, 0), "0.0 MiB/s, ETA 0:00");
    CHECK_STR(fmt(-1, -1), "-.- MiB/s, ETA --:--");
    CHECK_STR(fmt(1536 * MIB, 59), "1536.0 MiB/s, ETA 0:59");
    CHECK_STR(fmt(MIB, 3599), "1.0 MiB/s, ETA 59:59");
    CHECK_STR(fmt(MIB, 3600), "1.0 MiB/s, ETA 1:00:00");
    CHECK_STR(fmt(MIB, 99 * 3600 + 59 * 60 + 59), "1.0 MiB/s, ETA 99:59:59");
    CHECK_STR(fmt(MIB, 100 * 3600), "1.0 MiB/s, ETA >99h");
    char small[12];
    format_rate_eta(small, sizeof small, 12.34 * MIB, 65); /* truncated, terminated */
    CHECK_STR(small, "12.3 MiB/s,");
}

static void test_eta(void)
{
    CHECK_EQ(rate_eta_seconds(MIB, 0), 0);
    CHECK_EQ(rate_eta_seconds(-1, 1), -1);
    CHECK_EQ(rate_eta_seconds(0, 1), -1);
    CHECK_EQ(rate_eta_seconds(MIB, 10 * 1024 * 1024), 10);
    CHECK_EQ(rate_eta_seconds(MIB, 10 * 1024 * 1024 + 1), 11); /* rounded up */
    CHECK_EQ(rate_eta_seconds(1e-9, UINT64_MAX), INT32_MAX);   /* capped, not overflowed */
}

static void test_window(void)
{
    struct rate_window w;
    rate_window_init(&w);
    CHECK(rate_window_rate(&w) < 0);
    rate_window_add(&w, 100.0, 0);
    CHECK(rate_window_rate(&w) < 0); /* one sample: unknown */
    rate_window_add(&w, 100.0, 5);
    CHECK(rate_window_rate(&w) < 0); /* no time between them */
    /* 1 MiB/s for 20 s, sampled every 0.5 s: the rate is exact. */
    for (int i = 1; i <= 40; i++)
        rate_window_add(&w, 100.0 + i * 0.5, (uint64_t)(i * 0.5 * MIB));
    CHECK(rate_window_rate(&w) == MIB);
    CHECK(w.count <= 2 * RATE_WINDOW_SECONDS + 1); /* only the last 10 s are kept */
    /* Then 4 MiB/s: once the window holds only the new pace, so does the rate. */
    uint64_t done = (uint64_t)(20 * MIB);
    for (int i = 1; i <= 20; i++)
        rate_window_add(&w, 120.0 + i * 0.5, done + (uint64_t)(i * 2 * MIB));
    double r = rate_window_rate(&w);
    CHECK(r > 3.99 * MIB && r < 4.01 * MIB);
    /* A stall: the rate falls as the window slides over it... */
    double t = 130.0;
    done += (uint64_t)(40 * MIB);
    rate_window_add(&w, t + 5, done);
    double half = rate_window_rate(&w);
    CHECK(half > 0 && half < r);
    /* ... to 0 once the window is all stall (two samples kept, no progress). */
    rate_window_add(&w, t + 30, done);
    rate_window_add(&w, t + 31, done);
    CHECK(rate_window_rate(&w) == 0);
    CHECK_EQ(rate_eta_seconds(rate_window_rate(&w), 1), -1);
    /* More samples than the ring holds, within one window: the oldest go. */
    rate_window_init(&w);
    for (int i = 0; i < 3 * RATE_WINDOW_SAMPLES; i++)
        rate_window_add(&w, i * 0.01, (uint64_t)i * 1000);
    CHECK_EQ(w.count, RATE_WINDOW_SAMPLES);
    r = rate_window_rate(&w);
    CHECK(r > 99999 && r < 100001);
}

int main(void)
{
    test_format();
    test_eta();
    test_window();
    return test_exit_status("test_progress");
}
