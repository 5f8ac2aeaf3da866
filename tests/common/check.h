/* A tiny assertion kit for the tests: a failed CHECK prints where and why and
 * counts a failure; the test's main returns test_exit_status(). */
#ifndef DL_TEST_CHECK_H
#define DL_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern int test_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

/* Compare two integers; print both values on failure. */
#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_);                       \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_U64(a, b)                                                        \
    do {                                                                       \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                       \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s:%d: CHECK_U64 failed: %s == %" PRIu64         \
                            ", %s == %" PRIu64 "\n",                           \
                    __FILE__, __LINE__, #a, a_, #b, b_);                       \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (strcmp(a_, b_) != 0) {                                             \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", \
                    __FILE__, __LINE__, #a, a_, b_);                           \
            test_failures++;                                                   \
        }                                                                      \
    } while (0)

/* Define test_failures in exactly one file of each test program. */
#define TEST_MAIN_DEFINITIONS int test_failures = 0;

static inline int test_exit_status(const char *name)
{
    if (test_failures)
        fprintf(stderr, "%s: %d check(s) FAILED\n", name, test_failures);
    else
        printf("%s: all checks passed\n", name);
    return test_failures ? 1 : 0;
}

#endif
