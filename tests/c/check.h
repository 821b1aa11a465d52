/* A tiny check harness for the C tests: counts, prints each failure, and
 * ends with the "N passed, N failed" line ctest logs show. */
#ifndef IOTKIT_TEST_CHECK_H
#define IOTKIT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed;
static int check_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_INT(actual, expected)                                              \
    do {                                                                         \
        long long check_a_ = (long long)(actual);                                \
        long long check_e_ = (long long)(expected);                              \
        if (check_a_ == check_e_) {                                              \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
                    #actual, check_a_, check_e_);                                \
        }                                                                        \
    } while (0)

#define CHECK_STR(actual, expected)                                              \
    do {                                                                         \
        const char *check_a_ = (actual);                                         \
        const char *check_e_ = (expected);                                       \
        if (check_a_ != NULL && strcmp(check_a_, check_e_) == 0) {               \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    #actual, check_a_ ? check_a_ : "(null)", check_e_);          \
        }                                                                        \
    } while (0)

static int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#ifdef __cplusplus
#define STATIC_CHECK(cond, what) static_assert(cond, what)
#else
#define STATIC_CHECK(cond, what) _Static_assert(cond, what)
#endif

#endif
