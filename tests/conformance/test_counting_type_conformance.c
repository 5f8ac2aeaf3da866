/* The conformance suite against examples/custom_type's "counting" type: the
 * fixture a type author writes. Register the type, say how a tail of
 * arguments becomes a table line of the type, run the suite. */
#include <stdio.h>

#include "common/check.h"
#include "conformance.h"
#include "counting_type.h"

TEST_MAIN_DEFINITIONS

/* "counting <n> <tail>": the core log's arguments under the type's name. */
static int counting_table(void *arg, unsigned tail_argc, const char *tail, char *buf, size_t len)
{
    (void)arg;
    int n = snprintf(buf, len, "counting %u%s%s", tail_argc, *tail ? " " : "", tail);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int main(void)
{
    CHECK_EQ(dl_register_type(&counting_type), 0);
    const struct conf_fixture fx = {.name = "counting", .make_table = counting_table};
    conformance_run(&fx);
    CHECK_EQ(dl_unregister_type("counting"), 0);
    return test_exit_status("conformance_counting_type");
}
