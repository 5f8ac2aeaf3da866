/* The tests' one assertion kit. A failed CHECK* prints where and why, counts
 * a failure and goes on; a failed REQUIRE* does the same and then returns 1
 * from the current function (for a step the rest cannot do without; the
 * function returns int). Both may be used from any thread: the count is
 * atomic. Each test program says TEST_MAIN_DEFINITIONS in one file, and its
 * main returns test_exit_status(). Include it as "common/check.h". */
#ifndef DL_TEST_CHECK_H
#define DL_TEST_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

extern _Atomic int test_failures;

/* Each returns whether the check held; on failure prints and counts. */
static inline int check_true_(int ok, const char *kind, const char *file, int line,
                              const char *expr)
{
    if (!ok) {
        fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, kind, expr);
        test_failures++;
    }
    return ok;
}

static inline int check_eq_(long long a, long long b, const char *kind, const char *file,
                            int line, const char *ea, const char *eb)
{
    if (a != b) {
        fprintf(stderr, "%s:%d: %s failed: %s == %lld, %s == %lld\n", file, line, kind, ea, a,
                eb, b);
        test_failures++;
    }
    return a == b;
}

static inline int check_u64_(uint64_t a, uint64_t b, const char *kind, const char *file,
                             int line, const char *ea, const char *eb)
{
    if (a != b) {
        fprintf(stderr, "%s:%d: %s failed: %s == %" PRIu64 ", %s == %" PRIu64 "\n", file, line,
                kind, ea, a, eb, b);
        test_failures++;
    }
    return a == b;
}

static inline int check_str_(const char *a, const char *b, const char *file, int line,
                             const char *ea)
{
    int ok = strcmp(a, b) == 0;
    if (!ok) {
        fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", file, line, ea,
                a, b);
        test_failures++;
    }
    return ok;
}

#define CHECK(cond) ((void)check_true_(!!(cond), "CHECK", __FILE__, __LINE__, #cond))
/* Compare two integers; print both values on failure. */
#define CHECK_EQ(a, b)                                                                  \
    ((void)check_eq_((long long)(a), (long long)(b), "CHECK_EQ", __FILE__, __LINE__, #a, #b))
#define CHECK_U64(a, b)                                                                 \
    ((void)check_u64_((uint64_t)(a), (uint64_t)(b), "CHECK_U64", __FILE__, __LINE__, #a, #b))
#define CHECK_STR(a, b) ((void)check_str_((a), (b), __FILE__, __LINE__, #a))

#define REQUIRE(cond)                                                                   \
    do {                                                                                \
        if (!check_true_(!!(cond), "REQUIRE", __FILE__, __LINE__, #cond))               \
            return 1;                                                                   \
    } while (0)
#define REQUIRE_EQ(a, b)                                                                \
    do {                                                                                \
        if (!check_eq_((long long)(a), (long long)(b), "REQUIRE_EQ", __FILE__, __LINE__, \
                       #a, #b))                                                         \
            return 1;                                                                   \
    } while (0)
#define REQUIRE_U64(a, b)                                                               \
    do {                                                                                \
        if (!check_u64_((uint64_t)(a), (uint64_t)(b), "REQUIRE_U64", __FILE__, __LINE__, \
                        #a, #b))                                                        \
            return 1;                                                                   \
    } while (0)

/* Define test_failures in exactly one file of each test program. */
#define TEST_MAIN_DEFINITIONS _Atomic int test_failures = 0;

static inline int test_exit_status(const char *name)
{
    int failures = test_failures;
    if (failures)
        fprintf(stderr, "%s: %d check(s) FAILED\n", name, failures);
    else
        printf("%s: all checks passed\n", name);
    return failures ? 1 : 0;
}

#endif
