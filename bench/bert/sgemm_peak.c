/* sgemm_peak: oneDNN's measured single-precision GEMM rate on this machine, the yardstick for the
 * BERT benchmark's "% of peak" (bench/bert/run.py builds and runs it; not part of the CMake build).
 *
 *   gcc -O2 -std=c11 bench/bert/sgemm_peak.c -o /tmp/sgemm_peak -ldnnl
 *   OMP_NUM_THREADS=2 /tmp/sgemm_peak [M N K ...]
 *
 * Each M N K triple (default: 2048^3 and BERT-base's FF1 at 16 x 58 tokens) is timed as
 * dnnl_sgemm C = A.B, row-major, no transposes, best of 10 runs after 2 warm-ups. Prints one
 * line per shape and a last line "peak GFLOPS" with the best rate seen.
 */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long def[] = {2048, 2048, 2048, 928, 3072, 768, 928, 768, 3072};
    int n = argc > 1 ? (argc - 1) / 3 : 3;
    double peak = 0;
    for (int s = 0; s < n; s++) {
        long M = argc > 1 ? atol(argv[1 + 3 * s]) : def[3 * s], N = argc > 1 ? atol(argv[2 + 3 * s]) : def[3 * s + 1],
             K = argc > 1 ? atol(argv[3 + 3 * s]) : def[3 * s + 2];
        float *a = malloc(sizeof(float) * (size_t)(M * K)), *b = malloc(sizeof(float) * (size_t)(K * N)),
              *c = malloc(sizeof(float) * (size_t)(M * N));
        if (!a || !b || !c) return 1;
        for (long i = 0; i < M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < K * N; i++) b[i] = (float)(i % 5) * 0.1f;
        double best = 1e30;
        for (int r = 0; r < 12; r++) {
            double t0 = now_s();
            if (dnnl_sgemm('N', 'N', M, N, K, 1.0f, a, K, b, N, 0.0f, c, N) != dnnl_success) return 1;
            double t = now_s() - t0;
            if (r >= 2 && t < best) best = t;
        }
        double gf = 2.0 * (double)M * (double)N * (double)K / best / 1e9;
        if (gf > peak) peak = gf;
        printf("sgemm %ld x %ld x %ld: %.3f ms, %.1f GFLOPS\n", M, N, K, best * 1e3, gf);
        free(a);
        free(b);
        free(c);
    }
    printf("peak GFLOPS %.1f\n", peak);
    return 0;
}
