/* first_touch: what writing fresh memory costs on this VM, against memory the process freed a
 * moment ago (bench/README.md, "Start-up and the first step"). Not built by CMake:
 *   gcc -O2 -fopenmp bench/probes/first_touch.c -o /tmp/first_touch && /tmp/first_touch [MiB]
 * Prints the rate of (1) first touch of fresh anonymous memory (2 MiB aligned, MADV_HUGEPAGE, as
 * vm_alloc_big/vm_alloc_big_zero ask) on one thread and (2) on all OpenMP threads, (3) first
 * touch of a new mapping right after an equal one was unmapped (the kernel hands the same,
 * host-backed pages back), and (4) a memset over memory already touched. Sleeps 6 s before (1)
 * and (2) so that pages freed earlier have been reported back to the host. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *get(size_t n) {
    char *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) exit(1);
    madvise(b, n, MADV_HUGEPAGE);
    return b;
}

static double touch(char *p, size_t n, int threads) {
    double t0 = now();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long c = 0; c < (long)(n >> 21); c++)
        for (size_t i = 0; i < ((size_t)1 << 21); i += 4096) p[((size_t)c << 21) + i] = 1;
    return now() - t0;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 512, n = mib << 20;
    int th = omp_get_max_threads();
    sleep(6);
    char *a = get(n);
    double t1 = touch(a, n, 1);
    munmap(a, n);
    sleep(6);
    a = get(n);
    double t2 = touch(a, n, th);
    munmap(a, n);
    a = get(n);
    double t3 = touch(a, n, 1);
    double t0 = now();
    memset(a, 0, n);
    double t4 = now() - t0;
    printf("%zu MiB: fresh 1 thread %.3f s (%.2f GB/s); fresh %d threads %.3f s (%.2f GB/s); "
           "just freed, 1 thread %.3f s (%.2f GB/s); memset of touched memory %.3f s (%.2f GB/s)\n",
           mib, t1, n / 1e9 / t1, th, t2, n / 1e9 / t2, t3, n / 1e9 / t3, t4, n / 1e9 / t4);
    return 0;
}
