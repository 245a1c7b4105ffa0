/* test_kernels: every oneDNN kernel path against its naive C reference, at the sizes vmaskc runs
 * (batch 50, 50 tokens, 300-d embeddings, 100 filters/hidden units). Each case is a small graph
 * built with the IR builder, compiled once, and run twice on the same random inputs: with oneDNN
 * and with the reference kernels. The error measure is the max abs difference relative to the
 * output's max magnitude. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/autodiff.h"
#include "../../compiler/compiler.h"
#include "../../compiler/ops.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

static int32_t add_input(struct vm_graph *g, const char *name, int rank, const int64_t *dims) {
    struct vm_error err;
    int32_t v = vm_graph_add_value(g, name, VM_DTYPE_FLOAT, &err);
    vm_value_set_shape_ints(&g->values[v], rank, dims);
    g->values[v].flags |= VM_VALUE_INPUT;
    g->inputs = realloc(g->inputs, sizeof(int32_t) * (size_t)(g->n_inputs + 1));
    g->inputs[g->n_inputs++] = v;
    return v;
}

static int32_t add_param(struct vm_graph *g, const char *name, int rank, const int64_t *dims, float scale) {
    struct vm_error err;
    int32_t v = vm_graph_add_value(g, name, VM_DTYPE_FLOAT, &err);
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = scale * frand();
    vm_value_set_shape_ints(&g->values[v], rank, dims);
    vm_value_set_data(&g->values[v], d, sizeof(float) * (size_t)n);
    g->values[v].flags |= VM_VALUE_INIT;
    return v;
}

static int32_t node(struct vm_graph *g, const char *op, int n_in, const int32_t *in, int n_out, int32_t *outs) {
    struct vm_error err;
    return vm_graph_build(g, op, NULL, n_in, in, n_out, outs, &err);
}

static void set_output(struct vm_graph *g, int32_t v) {
    g->outputs = realloc(g->outputs, sizeof(int32_t) * (size_t)(g->n_outputs + 1));
    g->outputs[g->n_outputs++] = v;
    g->values[v].flags |= VM_VALUE_OUTPUT;
}

/* Compiles g, runs it in both kernel modes on the same inputs and compares every output. */
static void run_case(const char *name, struct vm_graph *g, double tol) {
    struct vm_error err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (vm_infer_graph(g, &err) || vm_emit_plan(g, name, &buf, &len, &err)) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        vm_graph_free(g);
        return;
    }
    struct vm_rt_model *m[2] = {NULL, NULL};
    struct vm_rt_opts o[2] = {{.ref_kernels = false}, {.ref_kernels = true}};
    float *out[2][4] = {{NULL}};
    size_t out_n[4] = {0};
    int n_out = g->n_outputs;
    uint64_t seed = rng;
    for (int mode = 0; mode < 2; mode++) {
        rng = seed;
        CHECK_MSG(!vm_rt_model_from_buffer(&m[mode], buf, len, name, &o[mode], &err), "%s: %s", name, err.msg);
        if (!m[mode]) break;
        int n_in = vm_rt_num_inputs(m[mode]);
        const int64_t *dims[8];
        int ranks[8];
        for (int k = 0; k < n_in; k++) {
            const struct vm_value *v = &g->values[g->inputs[k]];
            static int64_t dd[8][VM_MAX_RANK];
            for (int d = 0; d < v->rank; d++) dd[k][d] = vm_dim_value(&v->dims[d]);
            dims[k] = dd[k];
            ranks[k] = v->rank;
        }
        struct vm_rt_inst *inst;
        CHECK_MSG(!vm_rt_bind(m[mode], dims, ranks, &inst, &err), "%s: %s", name, err.msg);
        for (int k = 0; k < n_in; k++) {
            struct vm_rt_tensor t = vm_rt_input(inst, k);
            for (int64_t i = 0; i < t.numel; i++) ((float *)t.data)[i] = frand();
        }
        CHECK_MSG(!vm_rt_run(inst, VM_RT_FORWARD, false, &err), "%s: %s", name, err.msg);
        for (int k = 0; k < n_out; k++) {
            struct vm_rt_tensor t = vm_rt_output(inst, k);
            out[mode][k] = malloc(t.nbytes ? t.nbytes : 1);
            memcpy(out[mode][k], t.data, t.nbytes);
            out_n[k] = (size_t)t.numel;
        }
    }
    for (int k = 0; k < n_out && m[0] && m[1]; k++) {
        double maxabs = 0, maxdiff = 0;
        for (size_t i = 0; i < out_n[k]; i++) {
            double a = out[0][k][i], b = out[1][k][i];
            if (fabs(b) > maxabs) maxabs = fabs(b);
            if (fabs(a - b) > maxdiff || isnan(a) != isnan(b)) maxdiff = isnan(a) != isnan(b) ? INFINITY : fabs(a - b);
        }
        double rel = maxdiff / (maxabs > 0 ? maxabs : 1);
        printf("%-28s output %d: %zu elements, max |oneDNN - reference| = %.3g (%.3g relative)\n", name, k, out_n[k], maxdiff, rel);
        CHECK_MSG(rel <= tol, "%s: relative difference %.3g exceeds %.3g", name, rel, tol);
    }
    for (int mode = 0; mode < 2; mode++) {
        vm_rt_model_free(m[mode]);
        for (int k = 0; k < n_out; k++) free(out[mode][k]);
    }
    free(buf);
    vm_graph_free(g);
}

/* Backward at full size: loss = sum(ConvCL(X, W, B) * R) with X, W, B trainable; the gradients
 * (ConvGradData / ConvGradWeight with channels_last) compared between the two kernel modes. R is
 * dY: dense, or (sparse) one nonzero per sequence and channel at a random position and none for
 * every third channel, as a max-over-time pooling leaves it; under 1/16 nonzero, that takes the
 * runtime's sparse path (with padding, stride and dilation when given). */
static void convcl_backward_case(const char *name, int64_t B, int64_t T, int64_t E, int64_t F, int64_t k, bool sparse, int64_t pad,
                                 int64_t stride, int64_t dil, double tol) {
    struct vm_error err = {0};
    struct vm_graph *g = vm_graph_new(&err);
    int64_t To = (T + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    int64_t xd[3] = {B, T, E}, wd[3] = {F, E, k}, bd[1] = {F}, rd[3] = {B, To, F};
    int32_t in[3] = {add_param(g, "x", 3, xd, 1.0f), add_param(g, "w", 3, wd, 0.05f), add_param(g, "b", 1, bd, 0.1f)}, y, p, loss;
    for (int i = 0; i < 3; i++) g->values[in[i]].flags |= VM_VALUE_PARAM;
    int32_t cn = node(g, "ConvCL", 3, in, 1, &y);
    int64_t pads[2] = {pad, pad}, strides[1] = {stride}, dils[1] = {dil};
    vm_node_set_ints(g, cn, "pads", pads, 2, &err);
    vm_node_set_ints(g, cn, "strides", strides, 1, &err);
    vm_node_set_ints(g, cn, "dilations", dils, 1, &err);
    int32_t r = add_param(g, "r", 3, rd, 1.0f);
    if (sparse) {
        float *rv = g->values[r].data;
        for (int64_t b = 0; b < B; b++)
            for (int64_t f = 0; f < F; f++) {
                int64_t keep = f % 3 ? (int64_t)((frand() * 0.5f + 0.5f) * (float)To) % To : -1;
                for (int64_t t = 0; t < To; t++)
                    if (t != keep) rv[(b * To + t) * F + f] = 0;
            }
    }
    int32_t mi[2] = {y, r};
    node(g, "Mul", 2, mi, 1, &p);
    int32_t id = node(g, "ReduceSum", 1, &p, 1, &loss);
    vm_node_set_int(g, id, "keepdims", 0, &err);
    uint8_t *buf = NULL;
    size_t len = 0;
    bool ok = !vm_infer_graph(g, &err);
    if (ok) {
        set_output(g, loss);
        g->loss = loss;
        g->values[loss].flags |= VM_VALUE_LOSS;
        ok = !vm_autodiff(g, &err) && !vm_emit_plan(g, name, &buf, &len, &err);
    }
    CHECK_MSG(ok, "%s: %s", name, err.msg);
    float *grads[2] = {NULL, NULL};
    int64_t total = 0;
    for (int mode = 0; ok && mode < 2; mode++) {
        struct vm_rt_opts o = {.ref_kernels = mode == 1};
        struct vm_rt_model *m = NULL;
        struct vm_rt_inst *inst;
        if (vm_rt_model_from_buffer(&m, buf, len, name, &o, &err) || vm_rt_bind(m, NULL, NULL, &inst, &err) ||
            vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, true, &err)) {
            CHECK_MSG(0, "%s: %s", name, err.msg);
            vm_rt_model_free(m);
            break;
        }
        total = 0;
        for (int q = 0; q < vm_rt_num_params(m); q++) total += vm_rt_param(m, q).numel;
        grads[mode] = calloc((size_t)total, sizeof(float));
        int64_t at = 0;
        for (int q = 0; q < vm_rt_num_params(m); q++) {
            struct vm_rt_tensor gr = vm_rt_param_grad(m, q);
            if (gr.data) memcpy(grads[mode] + at, gr.data, gr.nbytes);
            at += vm_rt_param(m, q).numel;
        }
        vm_rt_model_free(m);
    }
    if (grads[0] && grads[1]) {
        double maxabs = 0, maxdiff = 0;
        for (int64_t i = 0; i < total; i++) {
            maxabs = fmax(maxabs, fabs((double)grads[1][i]));
            double d = fabs((double)grads[0][i] - grads[1][i]);
            if (!(d <= maxdiff)) maxdiff = d;
        }
        double rel = maxdiff / (maxabs > 0 ? maxabs : 1);
        printf("%-28s gradients: %lld elements, max |oneDNN - reference| = %.3g (%.3g relative)\n", name, (long long)total, maxdiff, rel);
        CHECK_MSG(rel <= tol, "%s: relative difference %.3g exceeds %.3g", name, rel, tol);
    }
    free(grads[0]);
    free(grads[1]);
    free(buf);
    vm_graph_free(g);
}

static struct vm_graph *new_graph(void) {
    struct vm_error err;
    return vm_graph_new(&err);
}

int main(void) {
    struct vm_error err;
    const int64_t B = 50, T = 50, E = 300, F = 100, H = 100;
    /* Conv1d k=3,4,5 over (B, E, T) with bias, then ReLU (Kim-CNN); and ConvCL, the layout pass's
     * channels-last Conv1d, over (B, T, E) as the Gather gives it: oneDNN nwc with reordered `any`
     * weights vs the C reference */
    for (int cl = 0; cl <= 1; cl++)
        for (int64_t k = 3; k <= 5; k++) {
            struct vm_graph *g = new_graph();
            int64_t xd[3] = {B, cl ? T : E, cl ? E : T}, wd[3] = {F, E, k}, bd[1] = {F};
            int32_t in[3] = {add_input(g, "x", 3, xd), add_param(g, "w", 3, wd, 0.05f), add_param(g, "b", 1, bd, 0.1f)}, y, r;
            int32_t n = node(g, cl ? "ConvCL" : "Conv", 3, in, 1, &y);
            int64_t ks[1] = {k};
            vm_node_set_ints(g, n, "kernel_shape", ks, 1, &err);
            node(g, "Relu", 1, &y, 1, &r);
            set_output(g, r);
            char nm[32];
            snprintf(nm, sizeof nm, "%s1d_k%lld_relu", cl ? "convcl" : "conv", (long long)k);
            run_case(nm, g, 1e-5);
        }
    for (int64_t k = 3; k <= 5; k++) {
        char nm[48];
        snprintf(nm, sizeof nm, "convcl1d_k%lld_backward", (long long)k);
        convcl_backward_case(nm, B, T, E, F, k, false, 0, 1, 1, 1e-5);
        snprintf(nm, sizeof nm, "convcl1d_k%lld_backward_sparse", (long long)k);
        convcl_backward_case(nm, B, T, E, F, k, true, 0, 1, 1, 1e-5);
    }
    convcl_backward_case("convcl1d_k3_pad2_s2_d2_sparse", B, T, E, F, 3, true, 2, 2, 2, 1e-5);
    /* ConvCL 2-D (nhwc), padded, over (B, T, 8, 16) */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[4] = {B, T, 8, 16}, wd[4] = {32, 16, 3, 3}, pads[4] = {1, 1, 1, 1};
        int32_t in[2] = {add_input(g, "x", 4, xd), add_param(g, "w", 4, wd, 0.05f)}, y;
        int32_t n = node(g, "ConvCL", 2, in, 1, &y);
        vm_node_set_ints(g, n, "pads", pads, 4, &err);
        set_output(g, y);
        run_case("convcl2d_3x3_pads", g, 1e-5);
    }
    /* Conv2d over (B, 1, T, E) with a (k, E) kernel */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[4] = {B, 1, T, E}, wd[4] = {F, 1, 4, E};
        int32_t in[2] = {add_input(g, "x", 4, xd), add_param(g, "w", 4, wd, 0.05f)}, y;
        node(g, "Conv", 2, in, 1, &y);
        set_output(g, y);
        run_case("conv2d_k4xE", g, 1e-5);
    }
    /* Gemm (Linear) and MatMul (batched, broadcast weights) */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[2] = {B, 3 * F}, wd[2] = {2, 3 * F}, bd[1] = {2};
        int32_t in[3] = {add_input(g, "x", 2, xd), add_param(g, "w", 2, wd, 0.1f), add_param(g, "b", 1, bd, 0.1f)}, y;
        int32_t n = node(g, "Gemm", 3, in, 1, &y);
        vm_node_set_int(g, n, "transB", 1, &err);
        set_output(g, y);
        run_case("gemm_linear_300x2", g, 1e-5);
    }
    {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, T, E}, wd[2] = {E, H};
        int32_t in[2] = {add_input(g, "x", 3, xd), add_param(g, "w", 2, wd, 0.05f)}, y;
        node(g, "MatMul", 2, in, 1, &y);
        set_output(g, y);
        run_case("matmul_BTE_x_EH", g, 1e-5);
    }
    /* Softmax / LogSoftmax over the last axis and over a middle axis */
    for (int axis = 1; axis <= 2; axis++) {
        for (int lg = 0; lg < 2; lg++) {
            struct vm_graph *g = new_graph();
            int64_t xd[3] = {B, T, 2};
            int32_t x = add_input(g, "x", 3, xd), y;
            int32_t n = node(g, lg ? "LogSoftmax" : "Softmax", 1, &x, 1, &y);
            vm_node_set_int(g, n, "axis", axis, &err);
            set_output(g, y);
            char nm[32];
            snprintf(nm, sizeof nm, "%s_axis%d", lg ? "logsoftmax" : "softmax", axis);
            run_case(nm, g, 1e-5);
        }
    }
    /* LayerNormalization over the hidden dim */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, T, 128}, sd[1] = {128};
        int32_t in[3] = {add_input(g, "x", 3, xd), add_param(g, "s", 1, sd, 1.0f), add_param(g, "b", 1, sd, 0.1f)}, y;
        int32_t n = node(g, "LayerNormalization", 3, in, 1, &y);
        vm_node_set_int(g, n, "axis", -1, &err);
        set_output(g, y);
        run_case("layernorm_128", g, 1e-5);
    }
    /* LayerNormGrad (dX, dScale, dB): the vectorized C kernel (row blocks for the column sums) vs
     * the double reference; hidden 256, and 37 (no full vector) over 2501 rows (not a multiple of the
     * 8 row blocks) */
    for (int k = 0; k < 2; k++) {
        struct vm_graph *g = new_graph();
        int64_t L = k ? 37 : 256, xd[2] = {k ? 2501 : B * T, L}, sd[1] = {L};
        int32_t in[3] = {add_input(g, "dy", 2, xd), add_input(g, "x", 2, xd), add_param(g, "s", 1, sd, 1.0f)}, outs[3];
        int32_t n = node(g, "LayerNormGrad", 3, in, 3, outs);
        vm_node_set_int(g, n, "axis", 1, &err);
        vm_node_set_float(g, n, "epsilon", 1e-5, &err);
        for (int o = 0; o < 3; o++) set_output(g, outs[o]);
        run_case(k ? "layernorm_grad_37" : "layernorm_grad_256", g, 1e-5);
    }
    /* MaxPool over time (Conv -> MaxPool Kim-CNN variant) */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, F, T - 2};
        int32_t x = add_input(g, "x", 3, xd), y;
        int32_t n = node(g, "MaxPool", 1, &x, 1, &y);
        int64_t ks[1] = {T - 2};
        vm_node_set_ints(g, n, "kernel_shape", ks, 1, &err);
        set_output(g, y);
        run_case("maxpool_over_time", g, 0);
    }
    /* LSTM (ONNX layout 0), uni- and bidirectional */
    for (int bi = 0; bi < 2; bi++) {
        struct vm_graph *g = new_graph();
        int64_t D = bi ? 2 : 1;
        int64_t xd[3] = {T, B, E}, wd[3] = {D, 4 * H, E}, rd[3] = {D, 4 * H, H}, bd[2] = {D, 8 * H};
        int32_t in[4] = {add_input(g, "x", 3, xd), add_param(g, "W", 3, wd, 0.1f), add_param(g, "R", 3, rd, 0.1f),
                         add_param(g, "B", 2, bd, 0.1f)};
        int32_t outs[3];
        int32_t n = node(g, "LSTM", 4, in, 3, outs);
        vm_node_set_int(g, n, "hidden_size", H, &err);
        if (bi) vm_node_set_string(g, n, "direction", "bidirectional", &err);
        set_output(g, outs[0]);
        set_output(g, outs[1]);
        set_output(g, outs[2]);
        run_case(bi ? "lstm_bidirectional" : "lstm_forward", g, 1e-4);
    }
    /* eltwise and broadcasting binary ops (oneDNN eltwise/binary vs C loops) */
    {
        const char *ops[] = {"Relu", "Tanh", "Sigmoid", "Sqrt", "Exp", "Neg", "Abs", "Gelu"};
        for (int i = 0; i < 8; i++) {
            struct vm_graph *g = new_graph();
            int64_t xd[3] = {B, T, E};
            int32_t x = add_input(g, "x", 3, xd), a, y;
            node(g, "Abs", 1, &x, 1, &a); /* keep Sqrt's input valid */
            node(g, ops[i], 1, !strcmp(ops[i], "Sqrt") ? &a : &x, 1, &y);
            set_output(g, y);
            char nm[32];
            snprintf(nm, sizeof nm, "eltwise_%s", ops[i]);
            run_case(nm, g, 1e-6);
        }
        const char *bops[] = {"Add", "Sub", "Mul", "Div"};
        for (int i = 0; i < 4; i++) {
            struct vm_graph *g = new_graph();
            int64_t xd[3] = {B, T, E}, bd[1] = {E};
            int32_t in[2] = {add_input(g, "x", 3, xd), add_param(g, "b", 1, bd, 1.0f)}, y;
            node(g, bops[i], 2, in, 1, &y);
            set_output(g, y);
            char nm[32];
            snprintf(nm, sizeof nm, "binary_bcast_%s", bops[i]);
            run_case(nm, g, 1e-6);
        }
    }
    /* GeluD (training's GELU with its derivative): the vectorized erf / exp approximation vs libm in
     * double, over [-8, 8] (x scaled by a constant 8) */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, T, 4 * E}, sd[1] = {1};
        int32_t in[2] = {add_input(g, "x", 3, xd), add_param(g, "s", 0, sd, 0.0f)}, xs, outs[2];
        *(float *)g->values[in[1]].data = 8.0f;
        node(g, "Mul", 2, in, 1, &xs);
        node(g, "GeluD", 1, &xs, 2, outs);
        set_output(g, outs[0]);
        set_output(g, outs[1]);
        run_case("gelu_with_derivative", g, 1e-6);
    }
    /* MatMulT with a bias, an addend Z and a factor M (oneDNN's binary add and mul post-ops) */
    {
        struct vm_graph *g = new_graph();
        int64_t ad[2] = {B * T, E}, wd[2] = {E, 2 * E}, bd[1] = {2 * E}, yd[2] = {B * T, 2 * E};
        int32_t in[5] = {add_input(g, "a", 2, ad), add_param(g, "w", 2, wd, 0.2f), add_param(g, "b", 1, bd, 0.2f),
                         add_input(g, "z", 2, yd), add_input(g, "m", 2, yd)},
                y;
        node(g, "MatMulT", 5, in, 1, &y);
        set_output(g, y);
        run_case("matmul_add_mul_post_ops", g, 1e-5);
    }
    /* Pow by a constant exponent: oneDNN eltwise square/pow vs powf */
    for (int e = 2; e <= 3; e++) {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, T, E}, sd[1] = {1};
        int32_t in[2] = {add_input(g, "x", 3, xd), add_param(g, "e", 0, sd, 0.0f)}, y;
        *(float *)g->values[in[1]].data = (float)e;
        node(g, "Pow", 2, in, 1, &y);
        set_output(g, y);
        char nm[32];
        snprintf(nm, sizeof nm, "pow_const_%d", e);
        run_case(nm, g, 1e-6);
    }
    /* Transpose (B, T, E) -> (B, E, T): oneDNN reorder vs C */
    {
        struct vm_graph *g = new_graph();
        int64_t xd[3] = {B, T, E}, perm[3] = {0, 2, 1};
        int32_t x = add_input(g, "x", 3, xd), y;
        int32_t n = node(g, "Transpose", 1, &x, 1, &y);
        vm_node_set_ints(g, n, "perm", perm, 3, &err);
        set_output(g, y);
        run_case("transpose_BTE_BET", g, 0);
    }
    VMTEST_DONE("test_kernels");
}
