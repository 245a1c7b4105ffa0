/* vmtest: the few macros the C unit tests share. A failed check prints file:line and the
 * expression, counts the failure, and the test's main returns non-zero at the end. */
#ifndef VM_TEST_H
#define VM_TEST_H

#include <stdint.h>
#include <stdio.h>

static int vmtest_failures = 0;
static int vmtest_checks = 0;

/* A fixed xorshift stream of floats in [-1, 1): the same test data on every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        vmtest_checks++;                                                               \
        if (!(cond)) {                                                                 \
            vmtest_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                           \
    do {                                                                               \
        vmtest_checks++;                                                               \
        if (!(cond)) {                                                                 \
            vmtest_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fprintf(stderr, "\n");                                                     \
        }                                                                              \
    } while (0)

#define VMTEST_DONE(name)                                                              \
    do {                                                                               \
        printf("%s: %d checks, %d failed\n", name, vmtest_checks, vmtest_failures);    \
        return vmtest_failures ? 1 : 0;                                                \
    } while (0)

#endif
