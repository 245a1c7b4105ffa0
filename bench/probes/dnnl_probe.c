/* dnnl_probe: times single oneDNN 2.6 primitives in the layouts vmaskc uses and in the
 * alternatives the bench README discusses, and prints which implementation oneDNN picked.
 * Not part of the build; compile by hand:
 *
 *   gcc -O2 -std=c11 -fopenmp bench/probes/dnnl_probe.c -o /tmp/dnnl_probe -ldnnl -lm
 *   OMP_NUM_THREADS=2 /tmp/dnnl_probe conv 50 50       # batch 50, seq 50
 *   OMP_NUM_THREADS=2 /tmp/dnnl_probe lstm 50 50 [REPS]
 *   OMP_NUM_THREADS=2 /tmp/dnnl_probe eltwise 50 50
 *
 * conv: Kim-CNN Conv1d 300->100, k = 3, 4, 5 on a (B, T, 300) embedding output.
 *   ncw     src ncw (needs the Transpose(0,2,1) first, timed separately as "transpose"),
 *           weights oiw, dst ncw: what vmaskc does today (x64:gemm:jit)
 *   nwc     src nwc (the Gather output as is), weights `any` (reordered once, not timed),
 *           dst nwc (the max over time then reduces axis 1 with channels contiguous)
 *   nwc+r   as nwc with ReLU as an eltwise post-op (Relu fused into the conv)
 *   any     src/weights/dst `any` (blocked nCw16c) plus the nwc->blocked src reorder and the
 *           blocked->ncw dst reorder, both timed in
 * lstm: LSTM 300->100, T x B tnc, forward_inference, weights ldigo (vmaskc today: `ref`,
 *   gemm inside) vs `any` (brgemm, blocked weights reordered once, not timed).
 * eltwise: GELU (d_ff = 512) and x^2 (d = 256) on B*T rows: oneDNN jit eltwise against the C
 *   loops vmaskc runs for the opset-13 export today.
 * Each line: min and median ms over REPS runs (default 50) after 5 warmup runs.
 */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(x)                                                                     \
    do {                                                                          \
        dnnl_status_t s_ = (x);                                                   \
        if (s_ != dnnl_success) {                                                 \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, s_); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

#define MAX_REPS 1000
#define WARM 5
static int REPS = 50;

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *buf(size_t bytes) {
    float *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    for (size_t i = 0; i < bytes / sizeof(float); i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

static dnnl_memory_t mem(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    CK(dnnl_memory_create(&m, md, eng, buf(dnnl_memory_desc_get_size(md))));
    return m;
}

static const char *impl(const_dnnl_primitive_desc_t pd) {
    const char *s = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s ? s : "?";
}

struct step {
    dnnl_primitive_t p;
    int n;
    dnnl_exec_arg_t a[12];
};

/* runs the steps in sequence REPS times; prints min/median of the whole sequence */
static double time_steps(const char *label, const char *impls, struct step *st, int ns) {
    double t[MAX_REPS];
    for (int r = 0; r < WARM + REPS; r++) {
        double t0 = now_ms();
        for (int i = 0; i < ns; i++) CK(dnnl_primitive_execute(st[i].p, strm, st[i].n, st[i].a));
        CK(dnnl_stream_wait(strm));
        if (r >= WARM) t[r - WARM] = now_ms() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmpd);
    printf("  %-26s min %8.3f  median %8.3f ms   %s\n", label, t[0], t[REPS / 2], impls);
    return t[0];
}

static dnnl_primitive_t reorder(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b, const char **name) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    CK(dnnl_reorder_primitive_desc_create(&pd, a, eng, b, eng, NULL));
    *name = impl(pd);
    CK(dnnl_primitive_create(&p, pd));
    return p;
}

static void md3(dnnl_memory_desc_t *md, int64_t a, int64_t b, int64_t c, dnnl_format_tag_t tag) {
    dnnl_dims_t d = {a, b, c};
    CK(dnnl_memory_desc_init_by_tag(md, 3, d, dnnl_f32, tag));
}

/* one conv variant for kernel size k; returns min ms */
static double conv_variant(const char *var, int64_t B, int64_t T, int64_t C, int64_t OC, int64_t k) {
    int64_t OT = T - k + 1;
    dnnl_memory_desc_t src_user, src, wei, bia, dst, dst_user;
    dnnl_format_tag_t stag = !strcmp(var, "ncw") ? dnnl_ncw : !strcmp(var, "any") ? dnnl_format_tag_any : dnnl_nwc;
    dnnl_format_tag_t dtag = stag;
    md3(&src, B, C, T, stag);
    md3(&dst, B, OC, OT, dtag);
    md3(&wei, OC, C, k, !strcmp(var, "ncw") ? dnnl_oiw : dnnl_format_tag_any);
    dnnl_dims_t bd = {OC};
    CK(dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a));
    dnnl_convolution_desc_t cd;
    dnnl_dims_t strides = {1}, pad = {0};
    CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, &bia, &dst,
                                          strides, pad, pad));
    dnnl_primitive_attr_t attr;
    CK(dnnl_primitive_attr_create(&attr));
    if (!strcmp(var, "nwc+r")) {
        dnnl_post_ops_t po;
        CK(dnnl_post_ops_create(&po));
        CK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0));
        CK(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
    dnnl_primitive_attr_destroy(attr);
    const dnnl_memory_desc_t *psrc = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *pwei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *pdst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    struct step st[3];
    int ns = 0;
    char impls[256];
    const char *rn1 = NULL, *rn2 = NULL;
    dnnl_memory_t m_src = mem(psrc), m_dst = mem(pdst);
    if (!strcmp(var, "any")) {
        md3(&src_user, B, C, T, dnnl_nwc);
        dnnl_memory_t m_u = mem(&src_user);
        st[ns].p = reorder(&src_user, psrc, &rn1);
        st[ns].n = 2;
        st[ns].a[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, m_u};
        st[ns].a[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, m_src};
        ns++;
    }
    dnnl_primitive_t conv;
    CK(dnnl_primitive_create(&conv, pd));
    snprintf(impls, sizeof impls, "%s%s%s", rn1 ? rn1 : "", rn1 ? " + " : "", impl(pd));
    st[ns].p = conv;
    st[ns].n = 4;
    st[ns].a[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, m_src};
    st[ns].a[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mem(pwei)};
    st[ns].a[2] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem(&bia)};
    st[ns].a[3] = (dnnl_exec_arg_t){DNNL_ARG_DST, m_dst};
    ns++;
    if (!strcmp(var, "any")) {
        md3(&dst_user, B, OC, OT, dnnl_ncw);
        st[ns].p = reorder(pdst, &dst_user, &rn2);
        st[ns].n = 2;
        st[ns].a[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, m_dst};
        st[ns].a[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, mem(&dst_user)};
        ns++;
        size_t l = strlen(impls);
        snprintf(impls + l, sizeof impls - l, " + %s", rn2);
    }
    char label[64];
    snprintf(label, sizeof label, "conv k=%lld %s", (long long)k, var);
    return time_steps(label, impls, st, ns);
}

static void conv(int64_t B, int64_t T) {
    const int64_t C = 300, OC = 100;
    printf("Conv1d %lldx%lld, 300->100 (forward_inference, bias; weights reorders not timed)\n", (long long)B, (long long)T);
    /* the Transpose vmaskc runs before the three convs: (B,T,C) -> (B,C,T) as a reorder */
    {
        dnnl_memory_desc_t a, b;
        md3(&a, B, C, T, dnnl_nwc);
        md3(&b, B, C, T, dnnl_ncw);
        const char *n;
        struct step s = {reorder(&a, &b, &n), 2, {{DNNL_ARG_FROM, mem(&a)}, {DNNL_ARG_TO, mem(&b)}}};
        time_steps("transpose nwc->ncw", n, &s, 1);
    }
    const char *vars[] = {"ncw", "nwc", "nwc+r", "any"};
    double tot[4] = {0};
    for (int v = 0; v < 4; v++)
        for (int64_t k = 3; k <= 5; k++) tot[v] += conv_variant(vars[v], B, T, C, OC, k);
    printf("  sum of mins over k=3,4,5:   ncw %.3f  nwc %.3f  nwc+relu %.3f  any(+reorders) %.3f ms\n", tot[0], tot[1],
           tot[2], tot[3]);
}

static void lstm(int64_t B, int64_t T) {
    const int64_t I = 300, H = 100;
    printf("LSTM T=%lld B=%lld 300->100 forward_inference (weights reorder not timed)\n", (long long)T, (long long)B);
    for (int any = 0; any < 2; any++) {
        dnnl_memory_desc_t src, st, wl, wi, bias, dst;
        dnnl_dims_t ds = {T, B, I}, dd = {T, B, H}, dst_ = {1, 1, B, H}, dwl = {1, 1, I, 4, H}, dwi = {1, 1, H, 4, H},
                    db = {1, 1, 4, H};
        CK(dnnl_memory_desc_init_by_tag(&src, 3, ds, dnnl_f32, dnnl_tnc));
        CK(dnnl_memory_desc_init_by_tag(&dst, 3, dd, dnnl_f32, dnnl_tnc));
        CK(dnnl_memory_desc_init_by_tag(&st, 4, dst_, dnnl_f32, dnnl_ldnc));
        CK(dnnl_memory_desc_init_by_tag(&wl, 5, dwl, dnnl_f32, any ? dnnl_format_tag_any : dnnl_ldigo));
        CK(dnnl_memory_desc_init_by_tag(&wi, 5, dwi, dnnl_f32, any ? dnnl_format_tag_any : dnnl_ldigo));
        CK(dnnl_memory_desc_init_by_tag(&bias, 4, db, dnnl_f32, dnnl_ldgo));
        dnnl_rnn_desc_t rd;
        CK(dnnl_lstm_forward_desc_init_v2(&rd, dnnl_forward_inference, dnnl_unidirectional_left2right, &src, &st, &st,
                                          &wl, &wi, NULL, &bias, &dst, &st, &st, 0));
        dnnl_primitive_desc_t pd;
        CK(dnnl_primitive_desc_create(&pd, &rd, NULL, eng, NULL));
        dnnl_primitive_t p;
        CK(dnnl_primitive_create(&p, pd));
        const dnnl_memory_desc_t *pwl = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *pwi = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
        const dnnl_memory_desc_t *pws = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        struct step s = {p, 9,
                         {{DNNL_ARG_SRC_LAYER, mem(&src)},
                          {DNNL_ARG_SRC_ITER, mem(&st)},
                          {DNNL_ARG_SRC_ITER_C, mem(&st)},
                          {DNNL_ARG_WEIGHTS_LAYER, mem(pwl)},
                          {DNNL_ARG_WEIGHTS_ITER, mem(pwi)},
                          {DNNL_ARG_BIAS, mem(&bias)},
                          {DNNL_ARG_DST_LAYER, mem(&dst)},
                          {DNNL_ARG_DST_ITER, mem(&st)},
                          {DNNL_ARG_DST_ITER_C, mem(&st)}}};
        if (pws && dnnl_memory_desc_get_size(pws)) s.a[s.n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem(pws)};
        time_steps(any ? "lstm weights any" : "lstm weights ldigo", impl(pd), &s, 1);
    }
}

/* GELU and x^2 on n floats: oneDNN eltwise gelu_erf / square (jit) against the C loops vmaskc runs
 * today for the exported pattern (erff in an OpenMP loop; powf(x, 2) in a single-threaded loop,
 * because a scalar exponent merges the broadcast into one row). */
static void eltwise(int64_t n_gelu, int64_t n_sq) {
    printf("eltwise: GELU on %lld floats (B*T*ff), x^2 on %lld floats (B*T*d)\n", (long long)n_gelu, (long long)n_sq);
    struct { const char *label; dnnl_alg_kind_t alg; float a, b; int64_t n; } e[] = {
        {"gelu_erf (dnnl)", dnnl_eltwise_gelu_erf, 0, 0, n_gelu},
        {"square (dnnl)", dnnl_eltwise_square, 0, 0, n_sq},
        {"pow a=1 b=2 (dnnl)", dnnl_eltwise_pow, 1, 2, n_sq},
    };
    for (int i = 0; i < 3; i++) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = {e[i].n};
        CK(dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a));
        dnnl_eltwise_desc_t ed;
        CK(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, e[i].alg, &md, e[i].a, e[i].b));
        dnnl_primitive_desc_t pd;
        CK(dnnl_primitive_desc_create(&pd, &ed, NULL, eng, NULL));
        dnnl_primitive_t p;
        CK(dnnl_primitive_create(&p, pd));
        struct step s = {p, 2, {{DNNL_ARG_SRC, mem(&md)}, {DNNL_ARG_DST, mem(&md)}}};
        time_steps(e[i].label, impl(pd), &s, 1);
    }
    /* the C loops */
    float *x = buf((size_t)n_gelu * 4), *y = buf((size_t)n_gelu * 4);
    double t[MAX_REPS];
    volatile float exponent_v = 2.0f; /* a tensor value in vmaskc: not a compile-time constant */
    float exponent = exponent_v;
    for (int v = 0; v < 2; v++) {
        int64_t n = v ? n_sq : n_gelu;
        for (int r = 0; r < WARM + REPS; r++) {
            double t0 = now_ms();
            if (v) {
                for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], exponent);
            } else {
#pragma omp parallel for
                for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
            }
            if (r >= WARM) t[r - WARM] = now_ms() - t0;
        }
        qsort(t, REPS, sizeof t[0], cmpd);
        printf("  %-26s min %8.3f  median %8.3f ms   %s\n", v ? "powf(x,2) 1 thread (C)" : "erff GELU omp (C)", t[0],
               t[REPS / 2], "C loop, gcc -O2");
    }
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "conv") && strcmp(argv[1], "lstm") && strcmp(argv[1], "eltwise"))) {
        fprintf(stderr, "usage: dnnl_probe conv|lstm|eltwise BATCH SEQ [REPS]\n");
        return 2;
    }
    if (argc == 5) REPS = atoi(argv[4]);
    if (REPS < 1 || REPS > MAX_REPS) REPS = 50;
    int64_t B = atoll(argv[2]), T = atoll(argv[3]);
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    if (!strcmp(argv[1], "conv")) conv(B, T);
    else if (!strcmp(argv[1], "lstm")) lstm(B, T);
    else eltwise(B * T * 512, B * T * 256);
    return 0;
}
