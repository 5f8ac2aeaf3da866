/* What dl_find_type() returns stays valid and unchanged while another thread
 * unregisters the type: one thread looks "racer" up and holds the pointer
 * while the other unregisters it and registers and unregisters a second
 * type of the same size (so freed memory would be handed out again). Before
 * the registry kept unregistered types, the holder read freed memory: the
 * second type's name, or an ASan use-after-free report. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "dirtylog.h"

TEST_MAIN_DEFINITIONS

static struct dl_log_type racer, other; /* copies of core under other names */
static atomic_uint cycles;              /* register/unregister rounds done */
static atomic_int stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Register and unregister "racer", then "other", round after round. */
static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        int a = dl_register_type(&racer);
        int b = dl_unregister_type("racer");
        int c = dl_register_type(&other);
        int d = dl_unregister_type("other");
        if (a || b || c || d) {
            CHECK(!"register/unregister failed");
            break;
        }
        atomic_fetch_add(&cycles, 1);
    }
    return NULL;
}

int main(void)
{
    const struct dl_log_type *core = dl_find_type("core");
    CHECK(core != NULL);
    if (!core)
        return test_exit_status("api_find_type_race");
    racer = *core;
    racer.name = "racer";
    other = *core;
    other.name = "other";

    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, churn, NULL), 0);
    const int want = getenv("DL_SANITIZER") ? 10 : 50; /* pointers held across unregisters */
    int held = 0, bad = 0;
    const double deadline = now() + 20;
    while (held < want && now() < deadline) {
        const struct dl_log_type *t = dl_find_type("racer");
        if (!t)
            continue;
        held++;
        /* Hold the pointer until the type has certainly been unregistered
         * (and "other" registered and dropped) at least twice over. */
        unsigned seen = atomic_load(&cycles);
        while (atomic_load(&cycles) < seen + 2 && now() < deadline)
            ;
        if (strcmp(t->name, "racer") != 0 || t->ctr != core->ctr || t->status != core->status)
            bad++;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(held, want); /* the race was actually run */
    CHECK_EQ(bad, 0);
    CHECK(now() < deadline);
    return test_exit_status("api_find_type_race");
}
