/* matmul_shapes: oneDNN 2.6's f32 matmul at BERT's training shapes, alone,
 * against what the same shapes reach inside a vmaskc training step (issue 15:
 * BERT-mini's step below 70% of the sgemm peak). Not part of the build; compile
 * by hand:
 *
 *   gcc -O2 -std=c11 -fopenmp bench/probes/matmul_shapes.c -o
 * /tmp/matmul_shapes -ldnnl OMP_NUM_THREADS=2 /tmp/matmul_shapes [cold]
 *
 * Per shape M x K x N and transposition (N: plain, T: the operand read
 * transposed by strides, as vmaskc's MatMulT reads X^T for dW = X^T.dY and W^T
 * for dX = dY.W^T): the matmul primitive with strided operands (what vmaskc
 * runs), dnnl_sgemm with the transposes, and an explicit transpose followed by
 * the plain primitive; best of 27 runs after 3 warm-ups, in GFLOP/s. `cold`
 * writes 64 MiB (both threads) before every run, so the operands come from
 * memory as in a training step. Shapes: BERT-mini (d 256, ff 1024) and
 * BERT-base (768, 3072) at 896 tokens (16 texts x 56).
 */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static dnnl_engine_t eng;
static dnnl_stream_t str;
static void md2(dnnl_memory_desc_t *md, long R, long C, int trans) { /* logical RxC, stored trans? CxR */
    dnnl_dims_t d = {R, C}, s;
    if (!trans) {
        s[0] = C;
        s[1] = 1;
    } else {
        s[0] = 1;
        s[1] = R;
    }
    dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_f32, s);
}
static float *junk;
static int cold;
static volatile float sink;
static void flush(void) {
    if (!cold)
        return;
    long n = 64l << 20 >> 2;
#pragma omp parallel for
    for (long i = 0; i < n; i++)
        junk[i] += 1.0f;
    sink = junk[7];
}
static double run_prim(long M, long K, long N, int ta, int tb, float *a, float *b, float *c) {
    dnnl_memory_desc_t am, bm, cm;
    md2(&am, M, K, ta);
    md2(&bm, K, N, tb);
    md2(&cm, M, N, 0);
    dnnl_matmul_desc_t d;
    dnnl_matmul_desc_init(&d, &am, &bm, NULL, &cm);
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL))
        return -1;
    const char *impl;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t p;
    dnnl_primitive_create(&p, pd);
    dnnl_memory_t A, B, C;
    dnnl_memory_create(&A, &am, eng, a);
    dnnl_memory_create(&B, &bm, eng, b);
    dnnl_memory_create(&C, &cm, eng, c);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}};
    double best = 1e9;
    for (int r = 0; r < 30; r++) {
        flush();
        double t0 = now_s();
        dnnl_primitive_execute(p, str, 3, args);
        dnnl_stream_wait(str);
        double t = now_s() - t0;
        if (r >= 3 && t < best)
            best = t;
    }
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    return best;
}
static double run_sgemm(long M, long K, long N, int ta, int tb, float *a, float *b, float *c) {
    double best = 1e9;
    for (int r = 0; r < 30; r++) {
        flush();
        double t0 = now_s();
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.f, a, ta ? M : K, b, tb ? K : N, 0.f, c, N);
        double t = now_s() - t0;
        if (r >= 3 && t < best)
            best = t;
    }
    return best;
}
static void transpose(const float *src, long R, long C, float *dst) { /* src RxC -> dst CxR */
#pragma omp parallel for
    for (long i0 = 0; i0 < R; i0 += 32)
        for (long j0 = 0; j0 < C; j0 += 32)
            for (long i = i0; i < i0 + 32 && i < R; i++)
                for (long j = j0; j < j0 + 32 && j < C; j++)
                    dst[j * R + i] = src[i * C + j];
}
static double run_tr(long M, long K, long N, int ta, int tb, float *a, float *b, float *c, float *tmp) {
    double best = 1e9;
    for (int r = 0; r < 30; r++) {
        double t0 = now_s();
        if (ta)
            transpose(a, K, M, tmp);
        if (tb)
            transpose(b, N, K, tmp);
        double t = now_s() - t0;
        if (r >= 3 && t < best)
            best = t;
    }
    return best + run_prim(M, K, N, 0, 0, ta ? tmp : a, tb ? tmp : b, c);
}
int main(int argc, char **argv) {
    cold = argc > 1 && !strcmp(argv[1], "cold");
    junk = calloc(64l << 20 >> 2, 4);
    dnnl_engine_create(&eng, dnnl_cpu, 0);
    dnnl_stream_create(&str, eng, dnnl_stream_default_flags);
    long sh[][5] = {{896, 256, 256, 0, 1},  {896, 256, 256, 0, 0},  {256, 896, 256, 1, 0},  {896, 256, 1024, 0, 1}, {896, 256, 1024, 0, 0},
                    {256, 896, 1024, 1, 0}, {1024, 896, 256, 1, 0}, {896, 1024, 256, 0, 1}, {896, 1024, 256, 0, 0}, {896, 768, 768, 0, 1},
                    {768, 896, 768, 1, 0},  {896, 768, 768, 0, 0},  {896, 768, 3072, 0, 1}, {768, 896, 3072, 1, 0}};
    int n = sizeof sh / sizeof *sh;
    for (int i = 0; i < n; i++) {
        long M = sh[i][0], K = sh[i][1], N = sh[i][2];
        int ta = sh[i][3], tb = sh[i][4];
        float *a = malloc(4 * M * K), *b = malloc(4 * K * N), *c = malloc(4 * M * N), *t = malloc(4 * (M * K > K * N ? M * K : K * N));
        for (long j = 0; j < M * K; j++)
            a[j] = (j % 7) * .1f;
        for (long j = 0; j < K * N; j++)
            b[j] = (j % 5) * .1f;
        double fl = 2.0 * M * K * N / 1e9;
        double tp = run_prim(M, K, N, ta, tb, a, b, c), ts = run_sgemm(M, K, N, ta, tb, a, b, c), tt = run_tr(M, K, N, ta, tb, a, b, c, t);
        printf("%5ld x %5ld x %5ld %c%c  prim %6.1f  sgemm %6.1f  transpose+prim "
               "%6.1f GF/s\n",
               M, K, N, ta ? 'T' : 'N', tb ? 'T' : 'N', fl / tp, fl / ts, fl / tt);
        free(a);
        free(b);
        free(c);
        free(t);
    }
}
