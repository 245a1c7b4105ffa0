/* test_layout: the channels-last layout pass (compiler/pass_layout.c), and the rows pass
 * (compiler/pass_rows.c) with the same harness.
 *
 *  - PyTorch-exported CNN fixtures: after import, inference, cleanup and the pass, every
 *    Transpose -> Conv is a ConvCL, the Kim-CNN variants that end in ReduceMax keep no Transpose,
 *    and the plan reproduces PyTorch's outputs on both data sets (max abs error 1e-4) with the
 *    oneDNN and with the C reference kernels; the text-model annotation (vmaskc.min_seq, the
 *    shortest sequence every window fits) is the same as without the pass.
 *  - Hand-built graphs for each rewrite rule (unary and scalar-binary push, reductions with and
 *    without keepdims and with reordered kept axes, transpose composition and cancellation,
 *    size-1 transposes as views, shared transposes, 2-D NHWC convolutions, symbolic dims): the
 *    graph after the pass has the expected ops, and its outputs equal the unrewritten graph's on
 *    the same random inputs, in both kernel modes.
 *  - Training: the training graphs of cnn_conv1d_reducemax_op13 and of the VMASK release's
 *    flattened form (cnn_flat_conv1d_op13, rule 0) built after the pass differentiate ConvCL
 *    (ConvGradData / ConvGradWeight with channels_last) and run three steps (forward, backward,
 *    Adam) in both kernel modes with fixed Gumbel noise; the loss of every step and the last
 *    step's gradients match the training graph built without the pass. (Three steps, because a
 *    pass that left the convolution reading a copy of its weights matched in the first.)
 *  - Rows pass: the BERT-style fixtures (TransformerEncoder and HF layout, opsets 13 and 17), after
 *    the inference passes, run their last layer's feed-forward MatMuls (and for the HF layout the
 *    attention out-projection) on the pooled token only, and still reproduce PyTorch's outputs
 *    (1e-4) on both data sets (padded rows included) in both kernel modes. A hand-built graph with
 *    symbolic batch and seq (MatMul, bias Add, Tanh, residual Add, LayerNormalization with a
 *    positive axis, a value read twice, a rank-1 index) equals the unrewritten graph at 3 x 7 and
 *    1 x 5; a Softmax over tokens and an Add broadcasting over the token axis stay below their
 *    Gathers.
 *  - MatMul + bias pass: MatMul -> Add(bias [N]) becomes MatMulT with the bias (3-D and 2-D A, bias
 *    as either operand; symbolic batch and seq at 3 x 7 and 1 x 1) with the same outputs in both
 *    kernel modes (oneDNN's bias argument, and the C reference); an Add of a [1, N] matrix stays.
 *  - MatMulT + Add pass (training graphs): MatMulT [+ bias] -> Add(Z of its shape) becomes MatMulT
 *    with the addend (with and without a bias, transposed B, Z either operand, symbolic batch and
 *    seq at 3 x 7 and 1 x 1), the same outputs in both kernel modes (oneDNN's binary post-op, the
 *    C reference); a broadcasting Add, and one whose product has another reader, stay.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/compiler.h"
#include "../../compiler/ops.h"
#include "../../compiler/passes.h"
#include "../../compiler/training.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

static int count_op(const struct vm_graph *g, const char *op) {
    int c = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) c += !strcmp(vm_op_name(g->nodes[g->order[oi]].op), op);
    return c;
}

/* Live nodes of op `op` whose int attribute `name` equals v. */
static int count_op_attr(const struct vm_graph *g, const char *op, const char *name, int64_t v) {
    int c = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t n = g->order[oi];
        c += !strcmp(vm_op_name(g->nodes[n].op), op) && vm_node_int(g, n, name, -1) == v;
    }
    return c;
}

static void print_ops(const char *label, const struct vm_graph *g) {
    printf("  %s:", label);
    for (int32_t oi = 0; oi < g->n_order; oi++) printf(" %s", vm_op_name(g->nodes[g->order[oi]].op));
    printf("\n");
}

/* ---------------- fixtures ---------------- */

/* The pass under test: the layout pass, or the rows pass for its cases below. */
static enum vm_status (*the_pass)(struct vm_graph *g, struct vm_error *err) = vm_pass_conv_channels_last;

static struct vm_graph *load_fixture(const char *dir, bool pass) {
    struct vm_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    bool ok = m && !vm_import(m, NULL, &g, &err) && !vm_infer_graph(g, &err) && !vm_pass_inference_cleanup(g, &err) &&
              (the_pass == vm_pass_conv_channels_last || !vm_pass_optimize(g, &err)) && (!pass || !the_pass(g, &err));
    CHECK_MSG(ok, "%s: %s", path, err.msg);
    if (m) vm_onnx_free_model(m);
    if (!ok) {
        vm_graph_free(g);
        return NULL;
    }
    return g;
}

static double run_fixture_set(const uint8_t *plan, size_t len, const char *dir, int set, bool ref) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, dir, &o, &err)) {
        CHECK_MSG(0, "%s: %s", dir, err.msg);
        return INFINITY;
    }
    int n_in = vm_rt_num_inputs(m);
    struct vm_tensor in[8], want;
    const int64_t *dims[8];
    int ranks[8];
    double worst = INFINITY;
    char f[4200];
    for (int k = 0; k < n_in && k < 8; k++) {
        snprintf(f, sizeof f, "%s/test_data_set_%d/input_%d.pb", dir, set, k);
        CHECK_MSG(!vm_onnx_read_tensor_file(f, &in[k], &err), "%s", err.msg);
        dims[k] = in[k].dims;
        ranks[k] = in[k].rank;
    }
    snprintf(f, sizeof f, "%s/test_data_set_%d/output_0.pb", dir, set);
    CHECK_MSG(!vm_onnx_read_tensor_file(f, &want, &err), "%s", err.msg);
    struct vm_rt_inst *inst;
    if (vm_rt_bind(m, dims, ranks, &inst, &err) == VM_OK) {
        for (int k = 0; k < n_in; k++) memcpy(vm_rt_input(inst, k).data, in[k].data, in[k].nbytes);
        if (vm_rt_run(inst, VM_RT_FORWARD, false, &err) == VM_OK) {
            struct vm_rt_tensor y = vm_rt_output(inst, 0);
            CHECK_MSG(y.nbytes == want.nbytes && y.rank == want.rank, "%s: output shape differs", dir);
            if (y.nbytes == want.nbytes) {
                worst = 0;
                for (int64_t i = 0; i < y.numel; i++) {
                    double d = fabs((double)((const float *)y.data)[i] - ((const float *)want.data)[i]);
                    if (!(d <= worst)) worst = d;
                }
            }
        } else {
            CHECK_MSG(0, "%s: run: %s", dir, err.msg);
        }
    } else {
        CHECK_MSG(0, "%s: bind: %s", dir, err.msg);
    }
    for (int k = 0; k < n_in; k++) vm_tensor_free(&in[k]);
    vm_tensor_free(&want);
    vm_rt_model_free(m);
    return worst;
}

/* Emits g (and frees it), runs the plan on the fixture's two data sets with the oneDNN and the C
 * reference kernels: PyTorch's outputs within 1e-4. */
static void check_fixture_plan(struct vm_graph *g, const char *name, const char *dir) {
    struct vm_error err = {0};
    uint8_t *plan = NULL;
    size_t len = 0;
    CHECK_MSG(!vm_emit_plan(g, name, &plan, &len, &err), "%s: %s", name, err.msg);
    vm_graph_free(g);
    for (int set = 0; plan && set < 2; set++)
        for (int ref = 0; ref < 2; ref++) {
            double e = run_fixture_set(plan, len, dir, set, ref);
            printf("  test_data_set_%d %-9s max |vmaskc - pytorch| = %.3g\n", set, ref ? "reference" : "oneDNN", e);
            CHECK_MSG(e <= 1e-4, "%s set %d (%s): max abs error %.3g", name, set, ref ? "reference" : "oneDNN", e);
        }
    free(plan);
}

/* conv_cl: ConvCL nodes the pass must make; no_transpose: none may be left. */
static void test_fixture(const char *name, int conv_cl, bool no_transpose) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, name);
    struct vm_graph *g = load_fixture(dir, true);
    if (!g) return;
    printf("%s\n", name);
    print_ops("after the pass", g);
    CHECK_MSG(count_op(g, "ConvCL") == conv_cl, "%s: %d ConvCL, expected %d", name, count_op(g, "ConvCL"), conv_cl);
    if (conv_cl) CHECK_MSG(count_op(g, "Conv") == 0, "%s: a Conv was left", name);
    if (no_transpose) CHECK_MSG(count_op(g, "Transpose") == 0, "%s: %d Transpose left", name, count_op(g, "Transpose"));
    struct vm_error err = {0};
    /* the text runtime pads inputs to the shortest sequence every window fits (vmaskc.min_seq):
     * the same with and without the pass */
    struct vm_graph *g0 = load_fixture(dir, false);
    if (g0 && !vm_annotate_text_model(g0, NULL, NULL, 0, &err) && !vm_annotate_text_model(g, NULL, NULL, 0, &err)) {
        const char *a = vm_graph_get_meta(g0, "vmaskc.min_seq"), *b = vm_graph_get_meta(g, "vmaskc.min_seq");
        CHECK_MSG(a && b && !strcmp(a, b), "%s: vmaskc.min_seq is %s after the pass, %s without it", name, b ? b : "-", a ? a : "-");
    } else {
        CHECK_MSG(0, "%s: annotate: %s", name, err.msg);
    }
    vm_graph_free(g0);
    check_fixture_plan(g, name, dir);
}

/* ---------------- hand-built graphs ---------------- */

struct hb {
    struct vm_graph *g;
    struct vm_error err;
};

static int32_t hb_input(struct hb *h, const char *name, int rank, const struct vm_dim *dims) {
    int32_t v = vm_graph_add_value(h->g, name, VM_DTYPE_FLOAT, &h->err);
    vm_value_set_shape(&h->g->values[v], rank, dims);
    h->g->values[v].flags |= VM_VALUE_INPUT;
    h->g->inputs = realloc(h->g->inputs, sizeof(int32_t) * (size_t)(h->g->n_inputs + 1));
    h->g->inputs[h->g->n_inputs++] = v;
    return v;
}

static int32_t hb_init(struct hb *h, const char *name, int rank, const int64_t *dims, float scale) {
    int32_t v = vm_graph_add_value(h->g, name, VM_DTYPE_FLOAT, &h->err);
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = scale * frand();
    vm_value_set_shape_ints(&h->g->values[v], rank, dims);
    vm_value_set_data(&h->g->values[v], d, sizeof(float) * (size_t)n);
    h->g->values[v].flags |= VM_VALUE_INIT;
    return v;
}

static int32_t hb_op(struct hb *h, const char *op, int n_in, const int32_t *in, int32_t *node) {
    int32_t out;
    int32_t id = vm_graph_build(h->g, op, NULL, n_in, in, 1, &out, &h->err);
    if (node) *node = id;
    return out;
}

static int32_t hb_transpose(struct hb *h, int32_t x, const int64_t *perm, int r) {
    int32_t id, y = hb_op(h, "Transpose", 1, &x, &id);
    vm_node_set_ints(h->g, id, "perm", perm, r, &h->err);
    return y;
}

static int32_t hb_reduce(struct hb *h, const char *op, int32_t x, const int64_t *axes, int na, int keep) {
    int32_t id, y = hb_op(h, op, 1, &x, &id);
    vm_node_set_ints(h->g, id, "axes", axes, na, &h->err);
    vm_node_set_int(h->g, id, "keepdims", keep, &h->err);
    return y;
}

static void hb_output(struct hb *h, int32_t v) {
    h->g->outputs = realloc(h->g->outputs, sizeof(int32_t) * (size_t)(h->g->n_outputs + 1));
    h->g->outputs[h->g->n_outputs++] = v;
    h->g->values[v].flags |= VM_VALUE_OUTPUT;
}

/* Builds the case's graph into h (same weights each call: the caller resets rng). */
typedef void (*build_fn)(struct hb *h);

struct expect {
    int conv_cl, transpose, reshape; /* live node counts after the pass; -1 = any */
};

/* Runs plan at the given input shapes on inputs drawn from `seed`; returns the outputs (caller frees). */
static float **run_plan(const uint8_t *plan, size_t len, bool ref, int n_in, const int64_t (*dims)[VM_MAX_RANK], const int *ranks,
                        uint64_t seed, int *n_out, size_t **sizes) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, "layout", &o, &err)) {
        CHECK_MSG(0, "layout: %s", err.msg);
        return NULL;
    }
    const int64_t *dp[8];
    for (int k = 0; k < n_in; k++) dp[k] = dims[k];
    struct vm_rt_inst *inst;
    float **out = NULL;
    if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
        CHECK_MSG(0, "layout bind: %s", err.msg);
        goto done;
    }
    uint64_t saved = rng;
    rng = seed;
    for (int k = 0; k < n_in; k++) {
        struct vm_rt_tensor t = vm_rt_input(inst, k);
        for (int64_t i = 0; i < t.numel; i++) ((float *)t.data)[i] = frand();
    }
    rng = saved;
    if (vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
        CHECK_MSG(0, "layout run: %s", err.msg);
        goto done;
    }
    *n_out = vm_rt_num_outputs(m);
    out = calloc((size_t)*n_out, sizeof *out);
    *sizes = calloc((size_t)*n_out, sizeof **sizes);
    for (int k = 0; k < *n_out; k++) {
        struct vm_rt_tensor t = vm_rt_output(inst, k);
        out[k] = malloc(t.nbytes ? t.nbytes : 1);
        memcpy(out[k], t.data, t.nbytes);
        (*sizes)[k] = (size_t)t.numel;
    }
done:
    vm_rt_model_free(m);
    return out;
}

static uint8_t *compile_hb(build_fn build, bool pass, struct vm_graph **keep, size_t *len) {
    struct hb h = {0};
    h.g = vm_graph_new(&h.err);
    rng = 0x1234567887654321ull;
    build(&h);
    uint8_t *plan = NULL;
    bool ok = !h.err.code && !vm_infer_graph(h.g, &h.err) && (!pass || !the_pass(h.g, &h.err)) &&
              !vm_emit_plan(h.g, "layout", &plan, len, &h.err);
    CHECK_MSG(ok, "layout: %s", h.err.msg);
    if (keep && ok) *keep = h.g;
    else vm_graph_free(h.g);
    return plan;
}

/* The graph built by `build` with and without the pass: expected ops after it, equal outputs. */
static void rule_case(const char *label, build_fn build, struct expect ex, int n_in, const int64_t (*dims)[VM_MAX_RANK],
                      const int *ranks) {
    printf("%s\n", label);
    struct vm_graph *g = NULL;
    size_t l0 = 0, l1 = 0;
    uint8_t *p0 = compile_hb(build, false, NULL, &l0), *p1 = compile_hb(build, true, &g, &l1);
    if (!p0 || !p1 || !g) {
        free(p0);
        free(p1);
        vm_graph_free(g);
        return;
    }
    print_ops("after the pass", g);
    if (ex.conv_cl >= 0) CHECK_MSG(count_op(g, "ConvCL") == ex.conv_cl, "%s: %d ConvCL", label, count_op(g, "ConvCL"));
    if (ex.transpose >= 0) CHECK_MSG(count_op(g, "Transpose") == ex.transpose, "%s: %d Transpose", label, count_op(g, "Transpose"));
    if (ex.reshape >= 0) CHECK_MSG(count_op(g, "Reshape") == ex.reshape, "%s: %d Reshape", label, count_op(g, "Reshape"));
    vm_graph_free(g);
    for (int ref = 0; ref < 2; ref++) {
        int na = 0, nb = 0;
        size_t *sa = NULL, *sb = NULL;
        float **a = run_plan(p0, l0, ref, n_in, dims, ranks, 77, &na, &sa);
        float **b = run_plan(p1, l1, ref, n_in, dims, ranks, 77, &nb, &sb);
        if (a && b && na == nb) {
            double worst = 0, norm = 0;
            for (int k = 0; k < na; k++) {
                CHECK_MSG(sa[k] == sb[k], "%s: output %d has %zu elements after the pass, %zu before", label, k, sb[k], sa[k]);
                for (size_t i = 0; i < sa[k] && sa[k] == sb[k]; i++) {
                    double d = fabs((double)a[k][i] - b[k][i]);
                    if (!(d <= worst)) worst = d;
                    norm = fmax(norm, fabs((double)a[k][i]));
                }
            }
            printf("  %-9s max |after - before| = %.3g (max |y| %.3g)\n", ref ? "reference" : "oneDNN", worst, norm);
            CHECK_MSG(worst <= 1e-5 * fmax(1.0, norm), "%s (%s): outputs differ by %.3g", label, ref ? "reference" : "oneDNN", worst);
        } else {
            CHECK_MSG(0, "%s: runs failed", label);
        }
        for (int k = 0; a && k < na; k++) free(a[k]);
        for (int k = 0; b && k < nb; k++) free(b[k]);
        free(a);
        free(b);
        free(sa);
        free(sb);
    }
    free(p0);
    free(p1);
}

/* Kim-CNN slice with torch.max(dim=2, keepdim=True) and a scalar scale: X [2, 9, 6] ->
 * Transpose -> Conv (pads 1, bias) -> Mul(0.5) -> Relu -> ReduceMax(axes [2], keepdims 1) [2, 4, 1]. */
static void build_keepdims(struct hb *h) {
    struct vm_dim xd[3] = {vm_dim_const(2), vm_dim_const(9), vm_dim_const(6)};
    int64_t wd[3] = {4, 6, 3}, bd[1] = {4}, perm[3] = {0, 2, 1}, axes[1] = {2}, pads[2] = {1, 1}, one[1] = {1};
    int32_t t = hb_transpose(h, hb_input(h, "x", 3, xd), perm, 3), id;
    int32_t in[3] = {t, hb_init(h, "w", 3, wd, 0.5f), hb_init(h, "b", 1, bd, 0.5f)};
    int32_t y = hb_op(h, "Conv", 3, in, &id);
    vm_node_set_ints(h->g, id, "pads", pads, 2, &h->err);
    int32_t half = hb_init(h, "half", 1, one, 1.0f);
    int32_t mm[2] = {y, half};
    y = hb_op(h, "Mul", 2, mm, NULL);
    y = hb_op(h, "Relu", 1, &y, NULL);
    hb_output(h, hb_reduce(h, "ReduceMax", y, axes, 1, 1));
}

/* The transpose back is read by two nodes: the pushes stop, the results stay right.
 * X [2, 8, 5] -> Transpose -> Conv k2 -> {ReduceMean(axes [2], keepdims 0), Tanh (output)}. */
static void build_shared(struct hb *h) {
    struct vm_dim xd[3] = {vm_dim_const(2), vm_dim_const(8), vm_dim_const(5)};
    int64_t wd[3] = {3, 5, 2}, perm[3] = {0, 2, 1}, axes[1] = {2};
    int32_t t = hb_transpose(h, hb_input(h, "x", 3, xd), perm, 3);
    int32_t in[2] = {t, hb_init(h, "w", 3, wd, 0.5f)};
    int32_t y = hb_op(h, "Conv", 2, in, NULL);
    hb_output(h, hb_reduce(h, "ReduceMean", y, axes, 1, 0));
    hb_output(h, hb_op(h, "Tanh", 1, &y, NULL));
    hb_output(h, t); /* the input transpose is an output too: it stays */
}

/* NHWC 2-D: X [2, 5, 6, 3] -> Transpose(0, 3, 1, 2) -> Conv 2x3 stride (2, 1) dilation (1, 2)
 * -> Sigmoid -> ReduceSum(axes [2, 3], keepdims 0) [2, 4]. */
static void build_conv2d(struct hb *h) {
    struct vm_dim xd[4] = {vm_dim_const(2), vm_dim_const(5), vm_dim_const(6), vm_dim_const(3)};
    int64_t wd[4] = {4, 3, 2, 3}, bd[1] = {4}, perm[4] = {0, 3, 1, 2}, axes[2] = {2, 3}, st[2] = {2, 1}, dl[2] = {1, 2};
    int64_t pads[4] = {1, 0, 0, 1};
    int32_t t = hb_transpose(h, hb_input(h, "x", 4, xd), perm, 4), id;
    int32_t in[3] = {t, hb_init(h, "w", 4, wd, 0.5f), hb_init(h, "b", 1, bd, 0.5f)};
    int32_t y = hb_op(h, "Conv", 3, in, &id);
    vm_node_set_ints(h->g, id, "strides", st, 2, &h->err);
    vm_node_set_ints(h->g, id, "dilations", dl, 2, &h->err);
    vm_node_set_ints(h->g, id, "pads", pads, 4, &h->err);
    y = hb_op(h, "Sigmoid", 1, &y, NULL);
    hb_output(h, hb_reduce(h, "ReduceSum", y, axes, 2, 0));
}

/* Kept axes change order: X [2, 3, 4, 5] -> Transpose(0, 3, 1, 2) [2, 5, 3, 4] -> Exp ->
 * ReduceMin(axes [2], keepdims 0) [2, 5, 4]: a reduction over axis 1 of X, then (0, 2, 1). */
static void build_reorder(struct hb *h) {
    struct vm_dim xd[4] = {vm_dim_const(2), vm_dim_const(3), vm_dim_const(4), vm_dim_const(5)};
    int64_t perm[4] = {0, 3, 1, 2}, axes[1] = {2};
    int32_t t = hb_transpose(h, hb_input(h, "x", 4, xd), perm, 4);
    int32_t y = hb_op(h, "Exp", 1, &t, NULL);
    hb_output(h, hb_reduce(h, "ReduceMin", y, axes, 1, 0));
}

/* Transpose -> Neg -> inverse Transpose cancels (the output keeps its name); a second chain
 * composes into one transpose. Symbolic batch and seq. */
static void build_cancel(struct hb *h) {
    int sb = vm_graph_add_symbol(h->g, "batch", &h->err), ss = vm_graph_add_symbol(h->g, "seq", &h->err);
    struct vm_dim xd[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(4)};
    int64_t p021[3] = {0, 2, 1}, p102[3] = {1, 0, 2};
    int32_t x = hb_input(h, "x", 3, xd);
    int32_t t = hb_transpose(h, x, p021, 3);
    int32_t y = hb_op(h, "Neg", 1, &t, NULL);
    hb_output(h, hb_transpose(h, y, p021, 3));
    int32_t t2 = hb_transpose(h, x, p021, 3);
    int32_t a = hb_op(h, "Abs", 1, &t2, NULL);
    hb_output(h, hb_transpose(h, a, p102, 3));
}

/* Kim-CNN on symbolic batch and seq, three kernel sizes, ReduceMax keepdims 0 -> Concat -> Gemm. */
static void build_kim(struct hb *h) {
    int sb = vm_graph_add_symbol(h->g, "batch", &h->err), ss = vm_graph_add_symbol(h->g, "seq", &h->err);
    struct vm_dim xd[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(12)};
    int64_t perm[3] = {0, 2, 1}, axes[1] = {2}, fc[2] = {15, 3}, fb[1] = {3};
    int32_t t = hb_transpose(h, hb_input(h, "x", 3, xd), perm, 3), feats[3];
    for (int k = 3; k <= 5; k++) {
        int64_t wd[3] = {5, 12, k}, bd[1] = {5};
        char wn[8], bn[8];
        snprintf(wn, sizeof wn, "w%d", k);
        snprintf(bn, sizeof bn, "b%d", k);
        int32_t in[3] = {t, hb_init(h, wn, 3, wd, 0.3f), hb_init(h, bn, 1, bd, 0.3f)};
        int32_t y = hb_op(h, "Conv", 3, in, NULL);
        y = hb_op(h, "Relu", 1, &y, NULL);
        feats[k - 3] = hb_reduce(h, "ReduceMax", y, axes, 1, 0);
    }
    int32_t id, cat = hb_op(h, "Concat", 3, feats, &id);
    vm_node_set_int(h->g, id, "axis", 1, &h->err);
    int32_t gin[3] = {cat, hb_init(h, "fc", 2, fc, 0.3f), hb_init(h, "fb", 1, fb, 0.3f)};
    hb_output(h, hb_op(h, "Gemm", 3, gin, NULL));
}

static void test_rules(void) {
    {
        const int64_t d[1][VM_MAX_RANK] = {{2, 9, 6}};
        const int r[1] = {3};
        rule_case("rule: Conv -> Mul(scalar) -> Relu -> ReduceMax keepdims 1", build_keepdims, (struct expect){1, 0, 1}, 1, d, r);
    }
    {
        const int64_t d[1][VM_MAX_RANK] = {{2, 8, 5}};
        const int r[1] = {3};
        rule_case("rule: shared transposes", build_shared, (struct expect){1, 2, 0}, 1, d, r);
    }
    {
        const int64_t d[1][VM_MAX_RANK] = {{2, 5, 6, 3}};
        const int r[1] = {4};
        rule_case("rule: NHWC Conv2d -> Sigmoid -> ReduceSum", build_conv2d, (struct expect){1, 0, 0}, 1, d, r);
    }
    {
        const int64_t d[1][VM_MAX_RANK] = {{2, 3, 4, 5}};
        const int r[1] = {4};
        rule_case("rule: reduction with reordered kept axes", build_reorder, (struct expect){0, 1, 0}, 1, d, r);
    }
    {
        const int64_t d[1][VM_MAX_RANK] = {{3, 7, 4}};
        const int r[1] = {3};
        rule_case("rule: cancel and compose (symbolic)", build_cancel, (struct expect){0, 1, 1}, 1, d, r);
    }
    {
        const int64_t d[1][VM_MAX_RANK] = {{3, 11, 12}};
        const int r[1] = {3};
        rule_case("rule: Kim-CNN, symbolic batch and seq (3 x 11)", build_kim, (struct expect){3, 0, 0}, 1, d, r);
        const int64_t d2[1][VM_MAX_RANK] = {{1, 5, 12}};
        rule_case("rule: Kim-CNN, symbolic batch and seq (1 x 5)", build_kim, (struct expect){3, 0, 0}, 1, d2, r);
    }
}

/* ---------------- rows pass ---------------- */

/* Live MatMul nodes whose output has rank r. */
static int count_matmul_rank(const struct vm_graph *g, int r) {
    int c = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        const struct vm_node *n = &g->nodes[g->order[oi]];
        c += !strcmp(vm_op_name(n->op), "MatMul") && g->values[n->out[0]].rank == r;
    }
    return c;
}

/* A fixture after the inference passes: `pooled` MatMuls must run on the pooled token ([B, N]). */
static void test_rows_fixture(const char *name, int pooled) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, name);
    struct vm_graph *g = load_fixture(dir, true);
    if (!g) return;
    printf("%s (rows pass)\n", name);
    CHECK_MSG(count_matmul_rank(g, 2) == pooled, "%s: %d MatMuls on the pooled rows, expected %d", name, count_matmul_rank(g, 2),
              pooled);
    check_fixture_plan(g, name, dir);
}

static int32_t hb_index(struct hb *h, const char *name, int rank, const int64_t *vals, int64_t n) {
    int32_t v = vm_graph_add_value(h->g, name, VM_DTYPE_INT64, &h->err);
    int64_t *d = malloc(sizeof(int64_t) * (size_t)n), dims[1] = {n};
    memcpy(d, vals, sizeof(int64_t) * (size_t)n);
    vm_value_set_shape_ints(&h->g->values[v], rank, dims);
    vm_value_set_data(&h->g->values[v], d, sizeof(int64_t) * (size_t)n);
    h->g->values[v].flags |= VM_VALUE_INIT;
    return v;
}

static int32_t hb_gather(struct hb *h, int32_t x, int32_t idx) {
    int32_t id, in[2] = {x, idx}, y = hb_op(h, "Gather", 2, in, &id);
    vm_node_set_int(h->g, id, "axis", 1, &h->err);
    return y;
}

/* x [batch, seq, 5]: y0 = Gather(LN(x + MatMul(Tanh(MatMul(x, W1) + b1), W2), axis 2), 2) [batch, 5];
 * y1 = Gather(x * x, [0, 1]) [batch, 2, 5]; y2 = Gather(Softmax(x, axis 1), 0) and y3 = Gather(x + c
 * [batch?, 1, 5], 1) must stay as they are. */
static void build_rows(struct hb *h) {
    int sb = vm_graph_add_symbol(h->g, "batch", &h->err), ss = vm_graph_add_symbol(h->g, "seq", &h->err);
    struct vm_dim xd[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(5)};
    int64_t w1[2] = {5, 9}, b1[1] = {9}, w2[2] = {9, 5}, e[1] = {5}, cd[3] = {1, 1, 5}, two = 2, pair[2] = {0, 1}, zero = 0, one = 1;
    int32_t x = hb_input(h, "x", 3, xd), id;
    int32_t m1[2] = {x, hb_init(h, "w1", 2, w1, 0.5f)}, t = hb_op(h, "MatMul", 2, m1, NULL);
    int32_t a1[2] = {hb_init(h, "b1", 1, b1, 0.5f), t};
    t = hb_op(h, "Add", 2, a1, NULL);
    t = hb_op(h, "Tanh", 1, &t, NULL);
    int32_t m2[2] = {t, hb_init(h, "w2", 2, w2, 0.5f)};
    t = hb_op(h, "MatMul", 2, m2, NULL);
    int32_t r[2] = {x, t};
    t = hb_op(h, "Add", 2, r, NULL);
    int32_t ln[3] = {t, hb_init(h, "gamma", 1, e, 1.0f), hb_init(h, "beta", 1, e, 0.5f)};
    t = hb_op(h, "LayerNormalization", 3, ln, &id);
    vm_node_set_int(h->g, id, "axis", 2, &h->err);
    hb_output(h, hb_gather(h, t, hb_index(h, "i2", 0, &two, 1)));
    int32_t sq[2] = {x, x};
    hb_output(h, hb_gather(h, hb_op(h, "Mul", 2, sq, NULL), hb_index(h, "i01", 1, pair, 2)));
    t = hb_op(h, "Softmax", 1, &x, &id);
    vm_node_set_int(h->g, id, "axis", 1, &h->err);
    hb_output(h, hb_gather(h, t, hb_index(h, "i0", 0, &zero, 1)));
    int32_t ac[2] = {x, hb_init(h, "c", 3, cd, 1.0f)};
    hb_output(h, hb_gather(h, hb_op(h, "Add", 2, ac, NULL), hb_index(h, "i1", 0, &one, 1)));
}

static void test_rows(void) {
    the_pass = vm_pass_gather_rows_early;
    test_rows_fixture("bert_op13", 2); /* torch's MultiheadAttention: the out-projection is a Gemm on [T*B, E] */
    test_rows_fixture("bert_op17", 2);
    test_rows_fixture("bert_handwritten_op13", 3);
    test_rows_fixture("bert_handwritten_op17", 3);
    const int r[1] = {3};
    const int64_t d[1][VM_MAX_RANK] = {{3, 7, 5}}, d1[1][VM_MAX_RANK] = {{1, 5, 5}};
    rule_case("rows: MatMul/Add/Tanh/LayerNorm, shared input, rank-1 index (3 x 7)", build_rows, (struct expect){-1, -1, -1}, 1, d, r);
    rule_case("rows: the same at 1 x 5", build_rows, (struct expect){-1, -1, -1}, 1, d1, r);
    size_t len = 0;
    struct vm_graph *g = NULL;
    free(compile_hb(build_rows, true, &g, &len));
    if (g) {
        print_ops("rows: after the pass", g);
        /* one Gather of x serves the residual and the MatMul, one the product x * x; the Softmax and
         * the broadcasting Add keep theirs below them */
        CHECK_MSG(count_op(g, "Gather") == 4, "rows: %d Gathers, expected 4", count_op(g, "Gather"));
        CHECK_MSG(count_matmul_rank(g, 2) == 2, "rows: %d MatMuls on the kept rows, expected 2", count_matmul_rank(g, 2));
        CHECK_MSG(count_op_attr(g, "LayerNormalization", "axis", 1) == 1, "rows: LayerNormalization axis not moved to 1");
        for (int32_t oi = 0; oi < g->n_order; oi++) {
            const struct vm_node *n = &g->nodes[g->order[oi]];
            if (strcmp(vm_op_name(n->op), "Gather")) continue;
            int32_t p = g->values[n->in[0]].producer;
            const char *src = p >= 0 ? vm_op_name(g->nodes[p].op) : "input";
            CHECK_MSG(!strcmp(src, "input") || !strcmp(src, "Softmax") || !strcmp(src, "Add"), "rows: a Gather reads %s", src);
        }
        vm_graph_free(g);
    }
    the_pass = vm_pass_conv_channels_last;
}

/* ---------------- MatMul + bias (vm_pass_fuse_matmul_bias) ---------------- */

/* y0 = MatMul(x [batch, seq, 5], W [5, 7]) + b [7] (bias first); y1 = MatMul(x2 [3, 5], W) + b (bias
 * second, 2-D); y2 = MatMul(x, W) + m [seq?, 7] is not a bias and stays an Add. */
static void build_bias(struct hb *h) {
    int sb = vm_graph_add_symbol(h->g, "batch", &h->err), ss = vm_graph_add_symbol(h->g, "seq", &h->err);
    struct vm_dim xd[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(5)}, x2d[2] = {vm_dim_const(3), vm_dim_const(5)};
    int64_t wd[2] = {5, 7}, bd[1] = {7}, md[2] = {1, 7};
    int32_t x = hb_input(h, "x", 3, xd), x2 = hb_input(h, "x2", 2, x2d);
    int32_t w = hb_init(h, "w", 2, wd, 0.5f), b = hb_init(h, "b", 1, bd, 0.5f), m = hb_init(h, "m", 2, md, 0.5f);
    int32_t m0[2] = {x, w}, a0[2] = {b, hb_op(h, "MatMul", 2, m0, NULL)};
    hb_output(h, hb_op(h, "Add", 2, a0, NULL));
    int32_t m1[2] = {x2, w}, a1[2] = {hb_op(h, "MatMul", 2, m1, NULL), b};
    hb_output(h, hb_op(h, "Add", 2, a1, NULL));
    int32_t a2[2] = {hb_op(h, "MatMul", 2, m0, NULL), m};
    hb_output(h, hb_op(h, "Add", 2, a2, NULL));
}

/* The two-input cases of the matmul passes (x [batch, seq, 5], x2 [3, 5]) at 3 x 7 and 1 x 1 with
 * and without `pass`; returns the graph after it (NULL on failure) for the caller's op counts. */
static struct vm_graph *matmul_pass_cases(const char *name, const char *label, enum vm_status (*pass)(struct vm_graph *, struct vm_error *),
                                          build_fn build) {
    the_pass = pass;
    const int r[2] = {3, 2};
    const int64_t d[2][VM_MAX_RANK] = {{3, 7, 5}, {3, 5}}, d1[2][VM_MAX_RANK] = {{1, 1, 5}, {3, 5}};
    char l1[160];
    snprintf(l1, sizeof l1, "%s: the same at 1 x 1", name);
    rule_case(label, build, (struct expect){-1, -1, -1}, 2, d, r);
    rule_case(l1, build, (struct expect){-1, -1, -1}, 2, d1, r);
    size_t len = 0;
    struct vm_graph *g = NULL;
    free(compile_hb(build, true, &g, &len));
    the_pass = vm_pass_conv_channels_last;
    return g;
}

static void test_bias(void) {
    struct vm_graph *g = matmul_pass_cases("bias", "bias: MatMul -> Add(bias) (3 x 7, and 2-D)", vm_pass_fuse_matmul_bias, build_bias);
    if (g) {
        print_ops("bias: after the pass", g);
        CHECK_MSG(count_op(g, "MatMulT") == 2 && count_op(g, "MatMul") == 1 && count_op(g, "Add") == 1,
                  "bias: %d MatMulT, %d MatMul, %d Add; expected 2, 1, 1", count_op(g, "MatMulT"), count_op(g, "MatMul"), count_op(g, "Add"));
        vm_graph_free(g);
    }
}

/* ---------------- MatMulT + Add (vm_pass_fuse_matmul_add) ---------------- */

/* y0 = Add(z0, MatMulT(x [batch, seq, 5], W [5, 7], b)) with z0 = MatMul(x, W) (the addend first);
 * y1 = Add(MatMulT(x2 [3, 5], V [7, 5], transB), z1 [3, 7]) (no bias: input 2 absent); y2 =
 * MatMulT(x, W) + m [1, 7] broadcasts and stays an Add; y3's product is also an output, so its Add
 * stays. */
static void build_madd(struct hb *h) {
    int sb = vm_graph_add_symbol(h->g, "batch", &h->err), ss = vm_graph_add_symbol(h->g, "seq", &h->err);
    struct vm_dim xd[3] = {vm_dim_sym(sb), vm_dim_sym(ss), vm_dim_const(5)}, x2d[2] = {vm_dim_const(3), vm_dim_const(5)};
    int64_t wd[2] = {5, 7}, vd[2] = {7, 5}, bd[1] = {7}, md[2] = {1, 7}, zd[2] = {3, 7};
    int32_t x = hb_input(h, "x", 3, xd), x2 = hb_input(h, "x2", 2, x2d);
    int32_t w = hb_init(h, "w", 2, wd, 0.5f), vw = hb_init(h, "v", 2, vd, 0.5f), b = hb_init(h, "b", 1, bd, 0.5f);
    int32_t m = hb_init(h, "m", 2, md, 0.5f), z1 = hb_init(h, "z1", 2, zd, 0.5f);
    int32_t m0[3] = {x, w, b}, id;
    int32_t a0[2] = {hb_op(h, "MatMul", 2, m0, NULL), hb_op(h, "MatMulT", 3, m0, NULL)};
    hb_output(h, hb_op(h, "Add", 2, a0, NULL));
    int32_t m1[2] = {x2, vw}, p1 = hb_op(h, "MatMulT", 2, m1, &id);
    vm_node_set_int(h->g, id, "transB", 1, &h->err);
    int32_t a1[2] = {p1, z1};
    hb_output(h, hb_op(h, "Add", 2, a1, NULL));
    int32_t a2[2] = {hb_op(h, "MatMulT", 2, m0, NULL), m};
    hb_output(h, hb_op(h, "Add", 2, a2, NULL));
    int32_t p3 = hb_op(h, "MatMulT", 2, m0, NULL), a3[2] = {p3, a0[0]};
    hb_output(h, hb_op(h, "Add", 2, a3, NULL));
    hb_output(h, p3);
}

static void test_matmul_add(void) {
    struct vm_graph *g = matmul_pass_cases("matmul add", "matmul add: MatMulT -> Add(Z) (3 x 7, and 2-D transposed without bias)", vm_pass_fuse_matmul_add, build_madd);
    if (g) {
        int fused = 0;
        for (int32_t oi = 0; oi < g->n_order; oi++) {
            const struct vm_node *n = &g->nodes[g->order[oi]];
            fused += !strcmp(vm_op_name(n->op), "MatMulT") && n->n_in == 4;
        }
        CHECK_MSG(fused == 2 && count_op(g, "Add") == 2, "matmul add: %d MatMulT with an addend, %d Add; expected 2, 2", fused, count_op(g, "Add"));
        vm_graph_free(g);
    }
}

/* ---------------- training ---------------- */

#define TRAIN_STEPS 3
static int train_classes = 3; /* the labels train_steps feeds are 0 .. train_classes - 1 */

/* TRAIN_STEPS training steps; loss[k] is step k's loss, the result the last step's parameter
 * gradients concatenated. */
static float *train_steps(const uint8_t *plan, size_t len, bool ref, const char *dir, int64_t *n_out, double *loss) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, "training", &o, &err)) {
        CHECK_MSG(0, "training: %s", err.msg);
        return NULL;
    }
    char f[4200];
    snprintf(f, sizeof f, "%s/test_data_set_0/input_0.pb", dir);
    struct vm_tensor ids;
    if (vm_onnx_read_tensor_file(f, &ids, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        vm_rt_model_free(m);
        return NULL;
    }
    int n = vm_rt_num_inputs(m);
    const int64_t *dims[8];
    int ranks[8];
    int64_t lab[1] = {ids.dims[0]}, nd[3] = {ids.dims[0], ids.dims[1], 2};
    static const int64_t none[1] = {0};
    for (int i = 0; i < n && i < 8; i++) {
        const char *name = vm_rt_input_name(m, i);
        bool noise = !strcmp(name, "vmask.noise");
        dims[i] = !strcmp(name, "labels") ? lab : !strcmp(name, "beta") || !strcmp(name, "lr") ? none : noise ? nd : ids.dims;
        ranks[i] = !strcmp(name, "labels") ? 1 : !strcmp(name, "beta") || !strcmp(name, "lr") ? 0 : noise ? 3 : ids.rank;
    }
    struct vm_rt_inst *inst;
    float *out = NULL;
    if (vm_rt_bind(m, dims, ranks, &inst, &err)) {
        CHECK_MSG(0, "training bind: %s", err.msg);
        goto done;
    }
    vm_rt_set_seed(m, 99, 0);
    for (int step = 0; step < TRAIN_STEPS; step++) {
        if (step > 0 && vm_rt_run(inst, VM_RT_OPTIMIZER, true, &err)) {
            CHECK_MSG(0, "training optimizer: %s", err.msg);
            goto done;
        }
        for (int i = 0; i < n; i++) { /* inputs live in the arena: set them before every run */
            const char *name = vm_rt_input_name(m, i);
            struct vm_rt_tensor t = vm_rt_input(inst, i);
            if (!strcmp(name, "labels"))
                for (int64_t k = 0; k < t.numel; k++) ((int64_t *)t.data)[k] = k % train_classes;
            else if (!strcmp(name, "beta")) *(float *)t.data = 0.1f;
            else if (!strcmp(name, "lr")) *(float *)t.data = 1e-2f;
            else if (!strcmp(name, "vmask.noise")) /* fixed Gumbel noise: the RNG streams follow step numbers, which the pass changes */
                for (int64_t k = 0; k < t.numel; k++) ((float *)t.data)[k] = (float)(-log(-log((double)((k * 7919 + step) % 997 + 1) / 999.0)));
            else memcpy(t.data, ids.data, ids.nbytes);
        }
        if (vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, true, &err)) {
            CHECK_MSG(0, "training run: %s", err.msg);
            goto done;
        }
        const char *ln = vm_rt_meta(m, "vmaskc.out.loss");
        for (int i = 0; ln && i < vm_rt_num_outputs(m); i++)
            if (!strcmp(vm_rt_output_name(m, i), ln)) loss[step] = *(const float *)vm_rt_output(inst, i).data;
    }
    int64_t total = 0;
    for (int p = 0; p < vm_rt_num_params(m); p++) total += vm_rt_param(m, p).numel;
    out = calloc((size_t)total, sizeof *out);
    int64_t at = 0;
    for (int p = 0; p < vm_rt_num_params(m); p++) {
        struct vm_rt_tensor gr = vm_rt_param_grad(m, p);
        CHECK_MSG(gr.data != NULL, "training: %s has no gradient", vm_rt_param_name(m, p));
        if (gr.data) memcpy(out + at, gr.data, gr.nbytes);
        at += vm_rt_param(m, p).numel;
    }
    *n_out = total;
    /* and the optimizer step runs */
    CHECK_MSG(!vm_rt_run(inst, VM_RT_OPTIMIZER, true, &err), "training optimizer: %s", err.msg);
done:
    vm_tensor_free(&ids);
    vm_rt_model_free(m);
    return out;
}

/* The training graph of the tests: a 16-unit mask with its Gumbel noise as an input. */
static enum vm_status build_small_training(struct vm_graph *g, struct vm_error *err) {
    struct vm_train_opts o;
    struct vm_train_info info;
    vm_train_opts_default(&o);
    o.mask_hidden = 16;
    o.noise_input = true;
    return vm_build_training(g, &o, &info, err);
}

/* transposes: the Transpose nodes expected in the training graph after the pass. */
static uint8_t *training_plan(const char *dir, bool pass, int transposes, size_t *len) {
    struct vm_graph *g = load_fixture(dir, pass);
    if (!g) return NULL;
    struct vm_error err = {0};
    uint8_t *plan = NULL;
    bool ok = !build_small_training(g, &err) && !vm_emit_plan(g, "training", &plan, len, &err);
    CHECK_MSG(ok, "training graph: %s", err.msg);
    if (ok && pass) {
        print_ops("training graph after the pass", g);
        CHECK_MSG(count_op(g, "ConvCL") == 3 && count_op(g, "Conv") == 0 && count_op(g, "Transpose") == transposes,
                  "training graph: %d ConvCL, %d Conv, %d Transpose", count_op(g, "ConvCL"), count_op(g, "Conv"), count_op(g, "Transpose"));
        CHECK_MSG(count_op_attr(g, "ConvGradWeight", "channels_last", 1) == 3, "training graph: ConvGradWeight channels_last");
    }
    vm_graph_free(g);
    return plan;
}

static void test_training(const char *fixture, int transposes) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, fixture);
    printf("training: %s, %d steps\n", fixture, TRAIN_STEPS);
    size_t l0 = 0, l1 = 0;
    uint8_t *p0 = training_plan(dir, false, transposes, &l0), *p1 = training_plan(dir, true, transposes, &l1);
    for (int ref = 0; p0 && p1 && ref < 2; ref++) {
        int64_t n0 = 0, n1 = 0;
        double loss0[TRAIN_STEPS], loss1[TRAIN_STEPS];
        for (int k = 0; k < TRAIN_STEPS; k++) loss0[k] = loss1[k] = NAN;
        float *g0 = train_steps(p0, l0, ref, dir, &n0, loss0), *g1 = train_steps(p1, l1, ref, dir, &n1, loss1);
        if (g0 && g1 && n0 == n1) {
            double worst = 0, norm = 0;
            for (int64_t i = 0; i < n0; i++) {
                double d = fabs((double)g0[i] - g1[i]);
                if (!(d <= worst)) worst = d;
                norm = fmax(norm, fabs((double)g0[i]));
            }
            printf("  %-9s loss per step", ref ? "reference" : "oneDNN");
            for (int k = 0; k < TRAIN_STEPS; k++) printf(" %.7f (without the pass %.7f)", loss1[k], loss0[k]);
            printf("\n            last step: %lld gradient elements, max diff %.3g (max |g| %.3g)\n", (long long)n0, worst, norm);
            for (int k = 0; k < TRAIN_STEPS; k++)
                CHECK_MSG(isfinite(loss1[k]) && fabs(loss1[k] - loss0[k]) <= 1e-5 * fmax(1.0, fabs(loss0[k])), "training %s step %d: loss %.8f vs %.8f",
                          fixture, k, loss1[k], loss0[k]);
            CHECK_MSG(loss0[TRAIN_STEPS - 1] < loss0[0], "training %s: the loss does not fall (%.7f -> %.7f)", fixture, loss0[0],
                      loss0[TRAIN_STEPS - 1]);
            CHECK_MSG(norm > 0 && worst <= 1e-4 * norm, "training %s (%s): gradients differ by %.3g (max %.3g)", fixture,
                      ref ? "reference" : "oneDNN", worst, norm);
        } else {
            CHECK_MSG(0, "training %s: runs failed or parameter sets differ (%lld vs %lld)", fixture, (long long)n0, (long long)n1);
        }
        free(g0);
        free(g1);
    }
    free(p0);
    free(p1);
}

/* ---------------- Transpose folded into matmuls (vm_pass_fuse_transpose_matmul) ---------------- */

static enum vm_status bias_then_fold(struct vm_graph *g, struct vm_error *err) {
    enum vm_status s = vm_pass_fuse_matmul_bias(g, err);
    return s ? s : vm_pass_fuse_transpose_matmul(g, err);
}

/* MatMulT nodes that read or write through a perm. */
static int count_perms(const struct vm_graph *g) {
    int c = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t n = g->order[oi];
        c += !strcmp(vm_op_name(g->nodes[n].op), "MatMulT") &&
             (vm_node_attr(g, n, "permA") || vm_node_attr(g, n, "permB") || vm_node_attr(g, n, "permY"));
    }
    return c;
}

/* Inference: the attention heads' Transposes go into the products, outputs as PyTorch's (1e-4) with
 * both kernel sets. */
static void test_transpose_fixture(const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, name);
    the_pass = bias_then_fold;
    struct vm_graph *g0 = load_fixture(dir, false), *g = load_fixture(dir, true);
    the_pass = vm_pass_conv_channels_last;
    if (!g0 || !g) {
        vm_graph_free(g0);
        vm_graph_free(g);
        return;
    }
    int t0 = count_op(g0, "Transpose"), t1 = count_op(g, "Transpose"), pm = count_perms(g);
    printf("%s: Transpose %d -> %d, %d products through perms\n", name, t0, t1, pm);
    CHECK_MSG(t1 < t0 && pm > 0, "%s: Transpose %d -> %d, %d products with a perm", name, t0, t1, pm);
    vm_graph_free(g0);
    check_fixture_plan(g, name, dir);
}

static uint8_t *fold_training_plan(const char *dir, bool fold, int *transposes, int *perms, size_t *len) {
    struct vm_graph *g = load_fixture(dir, false);
    if (!g) return NULL;
    struct vm_error err = {0};
    uint8_t *plan = NULL;
    if (!fold) setenv("VMASKC_FUSE_TRANSPOSE", "0", 1);
    bool ok = !build_small_training(g, &err);
    unsetenv("VMASKC_FUSE_TRANSPOSE");
    *transposes = count_op(g, "Transpose");
    *perms = count_perms(g);
    ok = ok && !vm_emit_plan(g, "training", &plan, len, &err);
    CHECK_MSG(ok, "training graph: %s", err.msg);
    vm_graph_free(g);
    return plan;
}

/* Training: the same loss and gradients with the Transposes folded (forward and backward) as
 * without: bit for bit with the C reference, within rounding with oneDNN. */
static void test_transpose_training(const char *fixture) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, fixture);
    size_t l0 = 0, l1 = 0;
    int t0 = 0, t1 = 0, pm0 = 0, pm1 = 0;
    uint8_t *p0 = fold_training_plan(dir, false, &t0, &pm0, &l0), *p1 = fold_training_plan(dir, true, &t1, &pm1, &l1);
    printf("training %s: Transpose %d -> %d, %d products through perms\n", fixture, t0, t1, pm1);
    CHECK_MSG(pm0 == 0 && pm1 > 0 && t1 < t0, "training %s: Transpose %d -> %d, perms %d -> %d", fixture, t0, t1, pm0, pm1);
    train_classes = 2;
    for (int ref = 0; p0 && p1 && ref < 2; ref++) {
        int64_t n0 = 0, n1 = 0;
        double loss0[TRAIN_STEPS], loss1[TRAIN_STEPS];
        float *g0 = train_steps(p0, l0, ref, dir, &n0, loss0), *g1 = train_steps(p1, l1, ref, dir, &n1, loss1);
        bool same = g0 && g1 && n0 == n1 && !memcmp(g0, g1, sizeof *g0 * (size_t)n0) && !memcmp(loss0, loss1, sizeof loss0);
        double worst = 0, norm = 0, lw = 0;
        for (int64_t i = 0; g0 && g1 && n0 == n1 && i < n0; i++) {
            double d = fabs((double)g0[i] - g1[i]);
            if (!(d <= worst)) worst = d;
            norm = fmax(norm, fabs((double)g0[i]));
        }
        for (int k = 0; k < TRAIN_STEPS; k++) lw = fmax(lw, fabs(loss0[k] - loss1[k]));
        printf("  %-9s %lld gradient elements, losses %.7f .. %.7f: %s (gradients max diff %.3g of max |g| %.3g, losses %.3g)\n",
               ref ? "reference" : "oneDNN", (long long)n0, loss1[0], loss1[TRAIN_STEPS - 1], same ? "identical" : "differ", worst, norm, lw);
        /* the C reference reads through the same strides in the same order: bit for bit; oneDNN may
         * block a strided operand differently (BERT-mini's 4 epochs came out identical) */
        if (ref) CHECK_MSG(same, "training %s (reference): folded Transposes change the loss or gradients", fixture);
        else
            CHECK_MSG(g0 && g1 && n0 == n1 && norm > 0 && worst <= 1e-5 * norm && lw <= 1e-6, "training %s (oneDNN): gradients differ by %.3g (max %.3g), losses by %.3g",
                      fixture, worst, norm, lw);
        free(g0);
        free(g1);
    }
    train_classes = 3;
    free(p0);
    free(p1);
}

int main(void) {
    static const char *v[] = {"op13", "op14", "op17"};
    for (int i = 0; i < 3; i++) {
        char n[64];
        snprintf(n, sizeof n, "cnn_conv1d_reducemax_%s", v[i]);
        test_fixture(n, 3, true);
        snprintf(n, sizeof n, "cnn_conv1d_globalmaxpool_%s", v[i]);
        test_fixture(n, 3, false);
        snprintf(n, sizeof n, "cnn_conv1d_maxpool_%s", v[i]);
        test_fixture(n, 3, false);
    }
    for (int i = 0; i < 3; i++) {
        char n[64];
        snprintf(n, sizeof n, "cnn_flat_conv1d_%s", v[i]); /* the VMASK release's form: rule 0 */
        test_fixture(n, 3, false);
    }
    test_fixture("cnn_conv2d_op13", 0, true); /* Unsqueeze -> Conv2d: nothing to rewrite */
    test_fixture("lstm_last_op13", 0, false);
    test_fixture("bert_op13", 0, false);
    test_rules();
    test_rows();
    test_bias();
    test_matmul_add();
    test_training("cnn_conv1d_reducemax_op13", 0);
    test_training("cnn_flat_conv1d_op13", 6); /* per kernel size, the weight's Transpose forward and backward */
    test_transpose_fixture("bert_op14");           /* nn.TransformerEncoder */
    test_transpose_fixture("bert_handwritten_op14"); /* Hugging Face's layout */
    test_transpose_fixture("bert_distil_op17");
    test_transpose_training("bert_causal_last_op14");
    VMTEST_DONE("test_layout");
}
