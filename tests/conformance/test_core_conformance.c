/* The conformance suite against the built-in core log. */
#include <stdio.h>

#include "common/check.h"
#include "conformance.h"

TEST_MAIN_DEFINITIONS

static int core_table(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len)
{
    (void)arg;
    int n = snprintf(buf, len, "core %u%s%s", tail_argc, *tail ? " " : "", tail);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int main(void)
{
    const struct conf_fixture fx = {.name = "core", .make_table = core_table};
    conformance_run(&fx);
    return test_exit_status("conformance_core");
}
