/* test_grad_nn: finite-difference checks of the nn family's gradient rules (Conv, ConvCL, pools, Gemm,
 * MatMul, Softmax/LogSoftmax, LayerNormalization) and their backward kernels, in both kernel modes
 * (see gradcheck.h), plus Kim-CNN slices. Max-type ops get inputs with distinct, well-separated
 * values (gc_param_spaced) so no finite-difference step crosses a tie. The last cases compile the
 * backward of a graph with symbolic batch and sequence dims once and run it at several shapes —
 * including sizes where oneDNN picks its jit implementations — comparing oneDNN with reference
 * gradients and checking that a second backward run reproduces the first (kernels overwrite their
 * outputs, never accumulate). */
#include "gradcheck.h"

#define TOL 2e-2

static void set_ints(struct gc *c, int32_t id, const char *name, const int64_t *v, int n) {
    vm_node_set_ints(c->g, id, name, v, n, &c->err);
}

/* ---------------- Conv ---------------- */

struct conv_case {
    const char *label;
    int sp;
    int64_t n, cin, m, group;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    bool bias;
    bool cl; /* ConvCL: X (N, spatial..., C), Y (N, spatial..., M) */
};

static void conv_case(const struct conv_case *cc) {
    struct gc *c = gc_new();
    int64_t xd[5] = {cc->n, cc->cin}, wd[5] = {cc->m, cc->cin / cc->group}, bd[1] = {cc->m};
    for (int i = 0; i < cc->sp; i++) {
        xd[cc->cl ? 1 + i : 2 + i] = cc->in[i];
        wd[2 + i] = cc->k[i];
    }
    if (cc->cl) xd[1 + cc->sp] = cc->cin;
    int32_t in[3] = {gc_param(c, "X", 2 + cc->sp, xd, 1.0f), gc_param(c, "W", 2 + cc->sp, wd, 0.5f)};
    if (cc->bias) in[2] = gc_param(c, "B", 1, bd, 0.5f);
    int32_t y;
    const char *op = cc->cl ? "ConvCL" : "Conv";
    int32_t id = gc_node(c, op, cc->bias ? 3 : 2, in, 1, &y);
    set_ints(c, id, "strides", cc->s, cc->sp);
    set_ints(c, id, "dilations", cc->d, cc->sp);
    set_ints(c, id, "pads", cc->pads, 2 * cc->sp);
    vm_node_set_int(c->g, id, "group", cc->group, &c->err);
    gc_check(c, op, cc->label, y, TOL);
}

static void test_conv(void) {
    static const struct conv_case cases[] = {
        {"Conv 1-D pads 1, bias", 1, 2, 3, 4, 1, {7}, {3}, {1}, {1}, {1, 1}, true, false},
        {"Conv 1-D stride 2 dil 2, no bias", 1, 2, 3, 4, 1, {9}, {3}, {2}, {2}, {2, 1}, false, false},
        {"Conv 1-D groups 2", 1, 2, 4, 6, 2, {6}, {2}, {1}, {1}, {0, 1}, true, false},
        {"Conv 2-D stride (2,1) pads", 2, 2, 3, 4, 1, {5, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}, true, false},
        {"Conv 2-D dilation, depthwise", 2, 1, 3, 3, 3, {6, 5}, {2, 2}, {1, 1}, {2, 1}, {0, 1, 1, 0}, true, false},
        {"Conv 3-D", 3, 1, 2, 2, 1, {3, 4, 4}, {2, 2, 3}, {1, 2, 1}, {1, 1, 1}, {0, 1, 0, 1, 0, 1}, true, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_case(&cases[i]);
    /* bias only (X and W frozen): ConvGradWeight still gives dB */
    struct gc *c = gc_new();
    int64_t xd[3] = {2, 3, 6}, wd[3] = {4, 3, 3}, bd[1] = {4};
    int32_t in[3] = {gc_const_f32(c, "X", 3, xd, NULL), gc_const_f32(c, "W", 3, wd, NULL), gc_param(c, "B", 1, bd, 0.5f)}, y;
    gc_node(c, "Conv", 3, in, 1, &y);
    gc_check(c, "Conv", "Conv 1-D bias only", y, TOL);
}

/* ConvCL (the layout pass's channels-last Conv): the same geometries on (N, spatial..., C). The
 * random stream is restored afterwards, so the later cases see the data they always saw. */
static void test_conv_cl(void) {
    uint64_t saved = gc_rng;
    static const struct conv_case cases[] = {
        {"ConvCL 1-D pads 1, bias", 1, 2, 3, 4, 1, {7}, {3}, {1}, {1}, {1, 1}, true, true},
        {"ConvCL 1-D stride 2 dil 2, no bias", 1, 2, 3, 4, 1, {9}, {3}, {2}, {2}, {2, 1}, false, true},
        {"ConvCL 1-D groups 2", 1, 2, 4, 6, 2, {6}, {2}, {1}, {1}, {0, 1}, true, true},
        {"ConvCL 1-D k5 E16 F8 (Kim-CNN)", 1, 3, 16, 8, 1, {9}, {5}, {1}, {1}, {0, 0}, true, true},
        {"ConvCL 2-D stride (2,1) pads", 2, 2, 3, 4, 1, {5, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}, true, true},
        {"ConvCL 2-D dilation, depthwise", 2, 1, 3, 3, 3, {6, 5}, {2, 2}, {1, 1}, {2, 1}, {0, 1, 1, 0}, true, true},
        {"ConvCL 3-D", 3, 1, 2, 2, 1, {3, 4, 4}, {2, 2, 3}, {1, 2, 1}, {1, 1, 1}, {0, 1, 0, 1, 0, 1}, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_case(&cases[i]);
    struct gc *c = gc_new();
    int64_t xd[3] = {2, 6, 3}, wd[3] = {4, 3, 3}, bd[1] = {4};
    int32_t in[3] = {gc_const_f32(c, "X", 3, xd, NULL), gc_const_f32(c, "W", 3, wd, NULL), gc_param(c, "B", 1, bd, 0.5f)}, y;
    gc_node(c, "ConvCL", 3, in, 1, &y);
    gc_check(c, "ConvCL", "ConvCL 1-D bias only", y, TOL);
    /* Kim-CNN after the layout pass: ConvCL -> Relu -> ReduceMax over time (axis 1) -> Gemm */
    c = gc_new();
    int64_t ed[3] = {2, 8, 5}, kd[3] = {4, 5, 3}, kb[1] = {4}, axes[1] = {1}, gd[2] = {4, 3}, gb[1] = {3};
    int32_t cin[3] = {gc_param(c, "E", 3, ed, 1.0f), gc_param(c, "W", 3, kd, 0.5f), gc_param_shift(c, "B", 1, kb, 0.1f, 0.5f)}, r;
    y = gc_op(c, "ConvCL", 3, cin);
    y = gc_op(c, "Relu", 1, &y);
    int32_t id = gc_node(c, "ReduceMax", 1, &y, 1, &r);
    set_ints(c, id, "axes", axes, 1);
    vm_node_set_int(c->g, id, "keepdims", 0, &c->err);
    int32_t gin[3] = {r, gc_param(c, "Wfc", 2, gd, 1.0f), gc_param(c, "bfc", 1, gb, 1.0f)};
    gc_check(c, "ConvCL", "ConvCL>Relu>ReduceMax(1)>Gemm", gc_op(c, "Gemm", 3, gin), TOL);
    gc_rng = saved;
}

/* ---------------- pools ---------------- */

static void pool_case(const char *op, const char *label, int sp, const int64_t *xd, const int64_t *k, const int64_t *s,
                      const int64_t *pads, const int64_t *dil, int64_t cip, int64_t ceil) {
    struct gc *c = gc_new();
    bool maxp = !strcmp(op, "MaxPool");
    int32_t x = maxp ? gc_param_spaced(c, "X", 2 + sp, xd) : gc_param(c, "X", 2 + sp, xd, 1.0f), y;
    int32_t id = gc_node(c, op, 1, &x, 1, &y);
    set_ints(c, id, "kernel_shape", k, sp);
    set_ints(c, id, "strides", s, sp);
    set_ints(c, id, "pads", pads, 2 * sp);
    if (dil) set_ints(c, id, "dilations", dil, sp);
    if (!maxp) vm_node_set_int(c->g, id, "count_include_pad", cip, &c->err);
    if (ceil) vm_node_set_int(c->g, id, "ceil_mode", 1, &c->err);
    gc_check(c, op, label, y, TOL);
}

static void test_pools(void) {
    int64_t x1[3] = {2, 3, 9}, k3[1] = {3}, s2[1] = {2}, p11[2] = {1, 1}, p00[2] = {0, 0}, d2[1] = {2}, s1[1] = {1};
    pool_case("MaxPool", "MaxPool 1-D k3 s2 pads (overlap)", 1, x1, k3, s2, p11, NULL, 0, 0);
    pool_case("MaxPool", "MaxPool 1-D k3 s1 dilation 2", 1, x1, k3, s1, p00, d2, 0, 0);
    int64_t x2[4] = {2, 2, 5, 6}, k2[2] = {3, 2}, s21[2] = {2, 1}, p2[4] = {1, 0, 1, 1};
    pool_case("MaxPool", "MaxPool 2-D k(3,2) s(2,1) pads", 2, x2, k2, s21, p2, NULL, 0, 0);
    pool_case("MaxPool", "MaxPool 2-D ceil_mode", 2, x2, k2, s21, p2, NULL, 0, 1);
    pool_case("AveragePool", "AveragePool 1-D k3 s2 pads excl", 1, x1, k3, s2, p11, NULL, 0, 0);
    pool_case("AveragePool", "AveragePool 1-D k3 s2 pads incl", 1, x1, k3, s2, p11, NULL, 1, 0);
    pool_case("AveragePool", "AveragePool 2-D k(3,2) s(2,1) pads", 2, x2, k2, s21, p2, NULL, 0, 0);
    pool_case("AveragePool", "AveragePool 2-D ceil_mode incl", 2, x2, k2, s21, p2, NULL, 1, 1);

    /* MaxPool with the Indices output present (the loss reads Y only) */
    struct gc *c = gc_new();
    int32_t x = gc_param_spaced(c, "X", 3, x1), outs[2];
    int32_t id = gc_node(c, "MaxPool", 1, &x, 2, outs);
    set_ints(c, id, "kernel_shape", k3, 1);
    set_ints(c, id, "strides", s2, 1);
    gc_check(c, "MaxPool", "MaxPool 1-D with Indices", outs[0], TOL);

    int64_t g1[3] = {2, 3, 5}, g2[4] = {2, 2, 3, 4};
    c = gc_new();
    x = gc_param_spaced(c, "X", 3, g1);
    gc_check(c, "GlobalMaxPool", "GlobalMaxPool 1-D", gc_op(c, "GlobalMaxPool", 1, &x), TOL);
    c = gc_new();
    x = gc_param_spaced(c, "X", 4, g2);
    gc_check(c, "GlobalMaxPool", "GlobalMaxPool 2-D", gc_op(c, "GlobalMaxPool", 1, &x), TOL);
    c = gc_new();
    x = gc_param(c, "X", 3, g1, 1.0f);
    gc_check(c, "GlobalAveragePool", "GlobalAveragePool 1-D", gc_op(c, "GlobalAveragePool", 1, &x), TOL);
    c = gc_new();
    x = gc_param(c, "X", 4, g2, 1.0f);
    gc_check(c, "GlobalAveragePool", "GlobalAveragePool 2-D", gc_op(c, "GlobalAveragePool", 1, &x), TOL);
}

/* ---------------- Gemm ---------------- */

/* crank: -1 no C, 0 scalar, 1 vector [N], 2 matrix [M, N], 3 column [M, 1] */
static void gemm_case(const char *label, int ta, int tb, double alpha, double beta, int crank) {
    const int64_t M = 3, K = 4, N = 5;
    struct gc *c = gc_new();
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    int32_t in[3] = {gc_param(c, "A", 2, ad, 1.0f), gc_param(c, "B", 2, bd, 1.0f)};
    int64_t cd[2];
    if (crank == 0) in[2] = gc_param(c, "C", 0, cd, 1.0f);
    if (crank == 1) {
        cd[0] = N;
        in[2] = gc_param(c, "C", 1, cd, 1.0f);
    }
    if (crank == 2 || crank == 3) {
        cd[0] = M;
        cd[1] = crank == 2 ? N : 1;
        in[2] = gc_param(c, "C", 2, cd, 1.0f);
    }
    int32_t y;
    int32_t id = gc_node(c, "Gemm", crank < 0 ? 2 : 3, in, 1, &y);
    vm_node_set_int(c->g, id, "transA", ta, &c->err);
    vm_node_set_int(c->g, id, "transB", tb, &c->err);
    vm_node_set_float(c->g, id, "alpha", alpha, &c->err);
    vm_node_set_float(c->g, id, "beta", beta, &c->err);
    gc_check(c, "Gemm", label, y, TOL);
}

static void test_gemm(void) {
    gemm_case("Gemm tA0 tB0 C[N]", 0, 0, 1.0, 1.0, 1);
    gemm_case("Gemm tA1 tB0 C[N] alpha beta", 1, 0, 0.7, 1.3, 1);
    gemm_case("Gemm tA0 tB1 C[M,N] alpha beta", 0, 1, -1.5, 0.5, 2);
    gemm_case("Gemm tA1 tB1 C scalar", 1, 1, 2.0, -0.8, 0);
    gemm_case("Gemm tA0 tB1 C[M,1]", 0, 1, 1.0, 2.0, 3);
    gemm_case("Gemm tA1 tB1 no C alpha", 1, 1, 0.6, 1.0, -1);
    gemm_case("Gemm beta 0", 0, 0, 1.0, 0.0, 2);
}

/* ---------------- MatMul ---------------- */

static void matmul_case(const char *label, int ra, const int64_t *ad, int rb, const int64_t *bd) {
    struct gc *c = gc_new();
    int32_t in[2] = {gc_param(c, "A", ra, ad, 1.0f), gc_param(c, "B", rb, bd, 1.0f)};
    gc_check(c, "MatMul", label, gc_op(c, "MatMul", 2, in), TOL);
}

static void test_matmul(void) {
    int64_t a2[2] = {3, 4}, b2[2] = {4, 5}, a3[3] = {2, 3, 4}, b3[3] = {2, 4, 5};
    int64_t a4[4] = {2, 1, 3, 4}, b4[4] = {1, 3, 4, 5}, v4[1] = {4};
    matmul_case("MatMul 2-D", 2, a2, 2, b2);
    matmul_case("MatMul 3-D batched", 3, a3, 3, b3);
    matmul_case("MatMul 3-D x 2-D (x W)", 3, a3, 2, b2);
    matmul_case("MatMul 2-D x 3-D", 2, a2, 3, b3);
    matmul_case("MatMul 4-D broadcast batch", 4, a4, 4, b4);
    matmul_case("MatMul 1-D x 2-D", 1, v4, 2, b2);
    matmul_case("MatMul 3-D x 1-D", 3, a3, 1, v4);
    matmul_case("MatMul 1-D x 3-D", 1, v4, 3, b3);
    matmul_case("MatMul 1-D x 1-D", 1, v4, 1, v4);
}

/* ---------------- Softmax, LogSoftmax ---------------- */

static void softmax_case(const char *op, const char *label, int rank, const int64_t *xd, int64_t axis, bool coerce) {
    struct gc *c = gc_new();
    int32_t x = gc_param(c, "X", rank, xd, 2.0f), y;
    int32_t id = gc_node(c, op, 1, &x, 1, &y);
    vm_node_set_int(c->g, id, "axis", axis, &c->err);
    if (coerce) vm_node_set_int(c->g, id, "coerce_2d", 1, &c->err);
    gc_check(c, op, label, y, TOL);
}

static void test_softmax(void) {
    int64_t x2[2] = {3, 5}, x3[3] = {2, 4, 3};
    const char *ops[2] = {"Softmax", "LogSoftmax"};
    char label[64];
    for (int i = 0; i < 2; i++) {
        snprintf(label, sizeof label, "%s last axis", ops[i]);
        softmax_case(ops[i], label, 2, x2, -1, false);
        snprintf(label, sizeof label, "%s middle axis", ops[i]);
        softmax_case(ops[i], label, 3, x3, 1, false);
        snprintf(label, sizeof label, "%s axis 0", ops[i]);
        softmax_case(ops[i], label, 3, x3, 0, false);
        snprintf(label, sizeof label, "%s legacy coerce_2d axis 1", ops[i]);
        softmax_case(ops[i], label, 3, x3, 1, true);
    }
}

/* ---------------- LayerNormalization ---------------- */

static void layernorm_case(const char *label, int rank, const int64_t *xd, int64_t axis, int rs, const int64_t *sd, int rb,
                           const int64_t *bd) {
    struct gc *c = gc_new();
    int32_t in[3] = {gc_param(c, "X", rank, xd, 1.0f), gc_param_shift(c, "Scale", rs, sd, 0.5f, 1.0f)};
    if (bd) in[2] = gc_param(c, "B", rb, bd, 0.5f);
    int32_t y;
    int32_t id = gc_node(c, "LayerNormalization", bd ? 3 : 2, in, 1, &y);
    vm_node_set_int(c->g, id, "axis", axis, &c->err);
    gc_check(c, "LayerNormalization", label, y, TOL);
}

static void test_layernorm(void) {
    int64_t x2[2] = {3, 6}, s6[1] = {6}, x3[3] = {2, 3, 4}, s4[1] = {4}, s14[2] = {1, 4}, s34[2] = {3, 4};
    layernorm_case("LayerNorm last axis, Scale and B", 2, x2, -1, 1, s6, 1, s6);
    layernorm_case("LayerNorm last axis, no B", 3, x3, -1, 1, s4, 0, NULL);
    layernorm_case("LayerNorm axis 1 of 3-D", 3, x3, 1, 2, s34, 2, s34);
    layernorm_case("LayerNorm B [1, L]", 3, x3, 2, 1, s4, 2, s14);
    /* Mean / InvStdDev outputs present but unused by the loss */
    struct gc *c = gc_new();
    int32_t in[3] = {gc_param(c, "X", 2, x2, 1.0f), gc_param_shift(c, "Scale", 1, s6, 0.5f, 1.0f), gc_param(c, "B", 1, s6, 0.5f)}, outs[3];
    gc_node(c, "LayerNormalization", 3, in, 3, outs);
    gc_check(c, "LayerNormalization", "LayerNorm with Mean/InvStdDev outputs", outs[0], TOL);
}

/* ---------------- BatchNormalization (inference form) ---------------- */

/* X [N, C, ...], scale and B trained, the running mean and variance constants (nondiff). */
static void batchnorm_case(const char *label, int rank, const int64_t *xd, double eps) {
    struct gc *c = gc_new();
    int64_t cd[1] = {xd[1]};
    float mean[8], var[8];
    for (int64_t k = 0; k < xd[1] && k < 8; k++) mean[k] = 0.3f * (float)k - 0.4f, var[k] = 0.5f + 0.25f * (float)k;
    int32_t in[5] = {gc_param(c, "X", rank, xd, 1.0f), gc_param_shift(c, "scale", 1, cd, 0.5f, 1.0f), gc_param(c, "B", 1, cd, 0.5f),
                     gc_const_f32(c, "mean", 1, cd, mean), gc_const_f32(c, "var", 1, cd, var)};
    int32_t y;
    int32_t id = gc_node(c, "BatchNormalization", 5, in, 1, &y);
    vm_node_set_float(c->g, id, "epsilon", eps, &c->err);
    gc_check(c, "BatchNormalization", label, y, TOL);
}

static void test_batchnorm(void) {
    int64_t x3[3] = {2, 3, 5}, x2[2] = {4, 3}, x4[4] = {2, 2, 3, 2};
    batchnorm_case("BatchNorm [N, C, L] (BatchNorm1d over a text conv)", 3, x3, 1e-5);
    batchnorm_case("BatchNorm [N, C] (BatchNorm1d over features)", 2, x2, 1e-3);
    batchnorm_case("BatchNorm [N, C, H, W]", 4, x4, 1e-5);
}

/* ---------------- composites ---------------- */

/* Kim-CNN slice on nn rows only: Conv -> Relu -> GlobalMaxPool [N, M, 1] -> MatMul(W [C, M]) [N, C, 1]. */
static void test_composite(void) {
    struct gc *c = gc_new();
    int64_t xd[3] = {2, 5, 8}, wd[3] = {4, 5, 3}, bd[1] = {4}, fd[2] = {2, 4};
    int32_t in[3] = {gc_param(c, "X", 3, xd, 1.0f), gc_param(c, "W", 3, wd, 0.5f), gc_param_shift(c, "B", 1, bd, 0.1f, 0.5f)};
    int32_t y = gc_op(c, "Conv", 3, in);
    y = gc_op(c, "Relu", 1, &y);
    y = gc_op(c, "GlobalMaxPool", 1, &y);
    int32_t mm[2] = {gc_param(c, "Wfc", 2, fd, 1.0f), y};
    gc_check(c, "Conv", "Conv>Relu>GlobalMaxPool>MatMul", gc_op(c, "MatMul", 2, mm), TOL);

    /* the real Kim-CNN shape: (N, T, E) -> Transpose -> Conv -> Relu -> ReduceMax over time -> Gemm */
    c = gc_new();
    int64_t ed[3] = {2, 8, 5}, perm[3] = {0, 2, 1}, axes[1] = {2}, gd[2] = {4, 3}, gb[1] = {3};
    int32_t e = gc_param(c, "E", 3, ed, 1.0f), t;
    int32_t id = gc_node(c, "Transpose", 1, &e, 1, &t);
    set_ints(c, id, "perm", perm, 3);
    int32_t cin[3] = {t, gc_param(c, "W", 3, wd, 0.5f), gc_param_shift(c, "B", 1, bd, 0.1f, 0.5f)};
    y = gc_op(c, "Conv", 3, cin);
    y = gc_op(c, "Relu", 1, &y);
    int32_t r;
    id = gc_node(c, "ReduceMax", 1, &y, 1, &r);
    set_ints(c, id, "axes", axes, 1);
    vm_node_set_int(c->g, id, "keepdims", 0, &c->err);
    int32_t gin[3] = {r, gc_param(c, "Wfc", 2, gd, 1.0f), gc_param(c, "bfc", 1, gb, 1.0f)};
    gc_check(c, "Conv", "Transpose>Conv>Relu>ReduceMax>Gemm", gc_op(c, "Gemm", 3, gin), TOL);
}

/* ---------------- symbolic shapes ---------------- */

static int32_t sym_input(struct gc *c, const char *name, int rank, const struct vm_dim *dims) {
    struct vm_graph *g = c->g;
    int32_t v = vm_graph_add_value(g, name, VM_DTYPE_FLOAT, &c->err);
    vm_value_set_shape(&g->values[v], rank, dims);
    g->values[v].flags |= VM_VALUE_INPUT;
    g->inputs = realloc(g->inputs, sizeof(int32_t) * (size_t)(g->n_inputs + 1));
    g->inputs[g->n_inputs++] = v;
    return v;
}

static int32_t sum_all(struct gc *c, int32_t x) {
    int32_t y;
    int32_t id = gc_node(c, "ReduceSum", 1, &x, 1, &y);
    vm_node_set_int(c->g, id, "keepdims", 0, &c->err);
    return y;
}

static int32_t op2(struct gc *c, const char *op, int32_t a, int32_t b) {
    int32_t in[2] = {a, b};
    return gc_op(c, op, 2, in);
}

/* Sizes of the symbolic-shape graph: E features, M conv filters, k kernel, F Gemm outputs. */
struct sym_sizes {
    int64_t E, M, k, F;
};

/* Runs forward + backward twice at one binding (the second run must reproduce the first: backward
 * kernels overwrite, never accumulate); returns the concatenated parameter gradients. */
static float *sym_run(const uint8_t *plan, size_t len, bool ref, const struct sym_sizes *z, int64_t batch, int64_t seq, int64_t *n_out) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, "symbolic", &o, &err)) {
        CHECK_MSG(0, "symbolic: %s", err.msg);
        return NULL;
    }
    int64_t d0[3] = {batch, seq, z->E}, d1[3] = {batch, z->E, seq}, d2[2] = {batch, z->E};
    const int64_t *dims[3] = {d0, d1, d2};
    int ranks[3] = {3, 3, 2};
    struct vm_rt_inst *inst;
    float *out = NULL;
    int64_t n = 0;
    if (vm_rt_bind(m, dims, ranks, &inst, &err)) {
        CHECK_MSG(0, "symbolic bind %lldx%lld: %s", (long long)batch, (long long)seq, err.msg);
        goto done;
    }
    for (int p = 0; p < vm_rt_num_params(m); p++) n += vm_rt_param(m, p).numel;
    out = calloc((size_t)n, sizeof *out);
    for (int run = 0; run < 2; run++) {
        /* the same inputs in both kernel modes; refilled per run (the arena reuses input memory) */
        uint64_t saved = gc_rng;
        gc_rng = 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < 3; i++) {
            struct vm_rt_tensor t = vm_rt_input(inst, i);
            for (int64_t k = 0; k < t.numel; k++) ((float *)t.data)[k] = gc_rand();
        }
        gc_rng = saved;
        vm_rt_set_seed(m, 1234, 7);
        if (vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, true, &err)) {
            CHECK_MSG(0, "symbolic run %lldx%lld: %s", (long long)batch, (long long)seq, err.msg);
            free(out);
            out = NULL;
            goto done;
        }
        int64_t at = 0;
        for (int p = 0; p < vm_rt_num_params(m); p++) {
            struct vm_rt_tensor gr = vm_rt_param_grad(m, p);
            CHECK_MSG(gr.data != NULL, "symbolic: parameter %s has no gradient", vm_rt_param_name(m, p));
            if (gr.data && run == 0) memcpy(out + at, gr.data, sizeof(float) * (size_t)gr.numel);
            if (gr.data && run == 1)
                CHECK_MSG(!memcmp(out + at, gr.data, sizeof(float) * (size_t)gr.numel),
                          "symbolic (%s): a second backward run changed the gradient of %s", ref ? "reference" : "oneDNN",
                          vm_rt_param_name(m, p));
            at += vm_rt_param(m, p).numel;
        }
    }
    *n_out = n;
done:
    vm_rt_model_free(m);
    return out;
}

/* Inputs X [batch, seq, E], Xc [batch, E, seq], Xg [batch, E]; every nn rule on symbolic dims
 * (including softmax over the symbolic seq axis, and ConvCL on X as it is). The backward compiles once and runs at each
 * (batch, seq) in shapes; oneDNN and reference gradients must agree. At the larger sizes oneDNN
 * picks its blocked/jit implementations, which the tiny finite-difference cases do not reach. */
static void sym_case(const char *label, const struct sym_sizes *z, int n_shapes, const int64_t (*shapes)[2]) {
    struct gc *c = gc_new();
    struct vm_graph *g = c->g;
    int sb = vm_graph_add_symbol(g, "batch", &c->err), ss = vm_graph_add_symbol(g, "seq", &c->err);
    struct vm_dim d0[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(z->E)};
    struct vm_dim d1[3] = {vm_dim_sym(sb), vm_dim_const(z->E), vm_dim_sym(ss)};
    struct vm_dim d2[2] = {vm_dim_sym(sb), vm_dim_const(z->E)};
    int32_t x = sym_input(c, "X", 3, d0), xc = sym_input(c, "Xc", 3, d1), xg = sym_input(c, "Xg", 2, d2);
    int64_t wd[2] = {z->E, z->E}, sd[1] = {z->E}, cw[3] = {z->M, z->E, z->k}, fw[2] = {2, z->M}, gw[2] = {z->E, z->F}, gb[1] = {z->F};
    int64_t mb[1] = {z->M};
    float ws = 1.0f / sqrtf((float)z->E);
    /* attention-like branch */
    int32_t h = op2(c, "MatMul", x, gc_param(c, "Wm", 2, wd, ws));
    int32_t ln[3] = {h, gc_param_shift(c, "S", 1, sd, 0.2f, 1.0f), gc_param(c, "Bn", 1, sd, 0.2f)};
    h = gc_op(c, "LayerNormalization", 3, ln);
    int32_t sm = gc_op(c, "Softmax", 1, &h), ls;
    int32_t id = gc_node(c, "LogSoftmax", 1, &h, 1, &ls);
    vm_node_set_int(g, id, "axis", 1, &c->err);
    int32_t l1 = sum_all(c, op2(c, "Mul", sm, ls));
    /* convolution branch */
    int32_t cv[3] = {xc, gc_param(c, "Wc", 3, cw, ws), gc_param(c, "Bc", 1, mb, 0.5f)}, y, p;
    id = gc_node(c, "Conv", 3, cv, 1, &y);
    int64_t pads[2] = {z->k / 2, z->k / 2}, k2[1] = {2}, s1[1] = {1}, p01[2] = {0, 1};
    set_ints(c, id, "pads", pads, 2);
    id = gc_node(c, "MaxPool", 1, &y, 1, &p);
    set_ints(c, id, "kernel_shape", k2, 1);
    set_ints(c, id, "strides", s1, 1);
    set_ints(c, id, "pads", p01, 2);
    id = gc_node(c, "AveragePool", 1, &p, 1, &p);
    set_ints(c, id, "kernel_shape", k2, 1);
    set_ints(c, id, "strides", s1, 1);
    set_ints(c, id, "pads", p01, 2);
    int32_t q = op2(c, "Add", gc_op(c, "GlobalAveragePool", 1, &p), gc_op(c, "GlobalMaxPool", 1, &y)); /* [batch, M, 1] */
    int32_t r = op2(c, "MatMul", gc_param(c, "Wf", 2, fw, 0.5f), q);                                     /* [batch, 2, 1] */
    int32_t l2 = sum_all(c, op2(c, "Mul", r, r));
    /* channels-last convolution branch (ConvCL on X as it is, the layout pass's form) */
    int32_t cl[3] = {x, gc_param(c, "Wcl", 3, cw, ws), gc_param(c, "Bcl", 1, mb, 0.5f)}, ycl, mx;
    id = gc_node(c, "ConvCL", 3, cl, 1, &ycl);
    set_ints(c, id, "pads", pads, 2);
    ycl = gc_op(c, "Relu", 1, &ycl);
    int64_t ax1[1] = {1};
    id = gc_node(c, "ReduceMax", 1, &ycl, 1, &mx);
    set_ints(c, id, "axes", ax1, 1);
    vm_node_set_int(g, id, "keepdims", 0, &c->err);
    l2 = op2(c, "Add", l2, sum_all(c, op2(c, "Mul", mx, mx)));
    /* Gemm branch */
    int32_t gi[3] = {xg, gc_param(c, "Wg", 2, gw, ws), gc_param(c, "bg", 1, gb, 0.5f)};
    int32_t gy = gc_op(c, "Gemm", 3, gi);
    int32_t l3 = sum_all(c, op2(c, "Mul", gc_op(c, "Softmax", 1, &gy), gy));
    int32_t loss = op2(c, "Add", op2(c, "Add", l1, l2), l3);
    uint8_t *plan = NULL;
    size_t len = 0;
    bool ok = !c->err.code && !vm_infer_graph(g, &c->err);
    if (ok) ok = gc_emit_training(c, loss, "symbolic", &plan, &len);
    CHECK_MSG(ok, "%s: %s", label, c->err.msg);
    for (int k = 0; ok && k < n_shapes; k++) {
        int64_t na = 0, nb = 0;
        float *a = sym_run(plan, len, false, z, shapes[k][0], shapes[k][1], &na);
        float *b = sym_run(plan, len, true, z, shapes[k][0], shapes[k][1], &nb);
        if (a && b && na == nb) {
            double worst = 0, norm = 0;
            int64_t bad = 0;
            for (int64_t i = 0; i < na; i++) {
                bad += !isfinite(a[i]) || !isfinite(b[i]);
                worst = fmax(worst, fabs((double)a[i] - b[i]));
                norm = fmax(norm, fabs((double)b[i]));
            }
            CHECK_MSG(!bad, "%s: %lld gradient elements are not finite", label, (long long)bad);
            CHECK_MSG(norm > 0 && worst <= 1e-4 * fmax(1.0, norm), "%s: oneDNN vs reference gradients differ by %.3g (max %.3g)", label,
                      worst, norm);
            printf("%-34s batch %lld seq %2lld: %lld gradient elements, oneDNN vs reference max diff %.2e (max |g| %.2g)\n", label,
                   (long long)shapes[k][0], (long long)shapes[k][1], (long long)na, worst, norm);
        } else {
            CHECK_MSG(0, "%s: runs failed", label);
        }
        free(a);
        free(b);
    }
    free(plan);
    vm_graph_free(g);
    free(c);
}

static void test_symbolic(void) {
    if (gc_list_mode) return;
    const struct sym_sizes small = {6, 4, 3, 3}, medium = {64, 32, 5, 48};
    const int64_t small_shapes[2][2] = {{3, 7}, {2, 11}}, medium_shapes[1][2] = {{4, 24}};
    sym_case("symbolic dims, small", &small, 2, small_shapes);
    sym_case("symbolic dims, oneDNN-size", &medium, 1, medium_shapes);
}

int main(int argc, char **argv) {
    (void)gc_const_i64; /* gradcheck.h helpers this executable does not need */
    (void)gc_const_bool;
    gc_main_begin(argc, argv);
    test_conv();
    test_conv_cl();
    test_pools();
    test_gemm();
    test_matmul();
    test_softmax();
    test_layernorm();
    test_batchnorm();
    test_composite();
    test_symbolic();
    return gc_main_end("test_grad_nn");
}
