/* test_prepack: weights packed once in an inference plan (ConvCL, MatMul, MatMulT and Gemm reorder
 * a constant weight into oneDNN's layout at the first run, LSTM permutes W/R/B once; the plan goes
 * through the same passes as `vmaskc run`'s; runtime/kernels) follow
 * a change of the weights made through the runtime's API (vm_rt_persistent bumps weights_gen).
 *
 * For a Kim-CNN, an LSTM and a BERT-style fixture compiled for inference: the oneDNN kernels and
 * the C reference kernels give the same logits (1e-4); after every rank >= 2 float initializer is
 * scaled by 0.5 through vm_rt_persistent in both models, they agree again, and the logits differ
 * from the first run's (so a kernel that kept its stale packed copy fails the first check). Inputs:
 * ids in [1, 20) (token types 0, attention mask 1) at B = 2, T = 9 and B = 24, T = 30.
 *
 * Also vm_rt_flops (runtime/flops.c, the benchmarks' roofline): on the Kim-CNN fixture it equals
 * the count from the weight shapes, 2 B M C k (T - k + 1) per Conv1d (stride 1, no padding) plus
 * 2 B N F for the classifier, all of it in the conv and matmul kinds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/compiler.h"
#include "../../compiler/passes.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

struct compiled {
    uint8_t *plan, *plan_nofold; /* with and without vm_pass_gather_fold */
    size_t len, len_nofold;
    char names[64][256]; /* rank >= 2 float initializers */
    int n_names;
};

static bool compile(const char *dir, struct compiled *out) {
    struct vm_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    Onnx__ModelProto *m = vm_onnx_load_model(path, &err);
    struct vm_graph *g = NULL;
    bool ok = m && !vm_import(m, NULL, &g, &err) && !vm_infer_graph(g, &err) && !vm_pass_inference_cleanup(g, &err) &&
              !vm_pass_optimize(g, &err) && !vm_pass_gather_rows_early(g, &err) && !vm_pass_fuse_matmul_bias(g, &err) &&
              !vm_emit_plan(g, path, &out->plan_nofold, &out->len_nofold, &err) && !vm_pass_gather_fold(g, &err) &&
              !vm_emit_plan(g, path, &out->plan, &out->len, &err);
    CHECK_MSG(ok, "%s: %s", path, err.msg);
    out->n_names = 0;
    for (int32_t v = 0; ok && v < g->n_values && out->n_names < 64; v++) {
        const struct vm_value *val = &g->values[v];
        if (val->data && val->rank >= 2 && val->dtype == VM_DTYPE_FLOAT)
            snprintf(out->names[out->n_names++], sizeof out->names[0], "%s", val->name);
    }
    vm_graph_free(g);
    if (m) vm_onnx_free_model(m);
    return ok;
}

/* Runs model on ids (B x T) and copies the first output (n floats) to y. */
static bool run(struct vm_rt_model *m, int64_t B, int64_t T, float *y, int64_t *n) {
    struct vm_error err = {0};
    int64_t dims[4][2];
    const int64_t *dp[4];
    int ranks[4];
    int n_in = vm_rt_num_inputs(m);
    for (int i = 0; i < n_in && i < 4; i++) {
        dims[i][0] = B;
        dims[i][1] = T;
        dp[i] = dims[i];
        ranks[i] = 2;
    }
    struct vm_rt_inst *inst;
    if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
        CHECK_MSG(0, "bind %lldx%lld: %s", (long long)B, (long long)T, err.msg);
        return false;
    }
    for (int i = 0; i < n_in; i++) {
        struct vm_rt_tensor t = vm_rt_input(inst, i);
        uint64_t r = 12345u + (uint64_t)i;
        for (int64_t k = 0; k < t.numel; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *in = vm_rt_input_name(m, i);
            int64_t id = strstr(in, "mask") ? 1 : strstr(in, "type") ? 0 : 1 + (int64_t)((r >> 33) % 19);
            if (t.dtype == VM_DTYPE_INT64) ((int64_t *)t.data)[k] = id;
            else if (t.dtype == VM_DTYPE_INT32) ((int32_t *)t.data)[k] = (int32_t)id;
            else ((float *)t.data)[k] = (float)id;
        }
    }
    if (vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
        CHECK_MSG(0, "run: %s", err.msg);
        return false;
    }
    struct vm_rt_tensor o = vm_rt_output(inst, 0);
    *n = o.numel < 4096 ? o.numel : 4096;
    memcpy(y, o.data, sizeof(float) * (size_t)*n);
    return true;
}

static double maxdiff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* The Kim-CNN fixture's FLOPs from its weights: rank-3 [M, C, k] convolutions and the rank-2
 * classifier (the embedding table is the other rank-2 initializer). With the embedding fold
 * (ConvGather) a convolution counts its adds, B M k (T - k + 1). */
static void check_cnn_flops(struct vm_rt_model *m, const struct compiled *c, int64_t B, int64_t T, bool folded) {
    struct vm_error err = {0};
    const int64_t dims[2] = {B, T}, *dp[1] = {dims};
    int ranks[1] = {2};
    struct vm_rt_inst *inst;
    if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
        CHECK_MSG(0, "bind: %s", err.msg);
        return;
    }
    double conv = 0, mm = 0;
    for (int w = 0; w < c->n_names; w++) {
        struct vm_rt_tensor t = vm_rt_persistent(m, c->names[w]);
        if (t.rank == 3) conv += (folded ? 1.0 : 2.0 * t.dims[1]) * B * t.dims[0] * t.dims[2] * (T - t.dims[2] + 1);
        else if (t.rank == 2 && !strstr(c->names[w], "embedding")) mm += 2.0 * B * t.dims[0] * t.dims[1];
    }
    double kinds[VM_RT_FLOPS_KINDS], total = vm_rt_flops(inst, VM_RT_FORWARD, kinds);
    CHECK_MSG(conv > 0 && fabs(kinds[VM_RT_FLOPS_CONV] - conv) < 0.5 && fabs(kinds[VM_RT_FLOPS_MATMUL] - mm) < 0.5 &&
                  fabs(total - conv - mm) < 0.5,
              "flops %lldx%lld: conv %.0f (expected %.0f), matmul %.0f (expected %.0f), total %.0f", (long long)B, (long long)T,
              kinds[VM_RT_FLOPS_CONV], conv, kinds[VM_RT_FLOPS_MATMUL], mm, total);
}

static void check_fixture(const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", VM_SOURCE_DIR, name);
    struct compiled *c = calloc(1, sizeof *c);
    if (!c || !compile(dir, c)) {
        free(c);
        return;
    }
    struct vm_error err = {0};
    /* m[0] oneDNN kernels, m[1] reference kernels, m[2] oneDNN without the embedding fold (a kernel
     * that kept stale memoized rows differs from it after the weight change) */
    struct vm_rt_model *m[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        struct vm_rt_opts o = {.ref_kernels = k == 1, .threads = 2};
        if (vm_rt_model_from_buffer(&m[k], k == 2 ? c->plan_nofold : c->plan, k == 2 ? c->len_nofold : c->len, name, &o, &err))
            CHECK_MSG(0, "%s: %s", name, err.msg);
    }
    static float y[2][3][4096];
    int64_t n[2][3] = {{0}};
    const int64_t shapes[2][2] = {{2, 9}, {24, 30}}; /* the BERT fixture has 32 positions */
    for (int sh = 0; sh < 2 && m[0] && m[1] && m[2]; sh++) {
        int64_t B = shapes[sh][0], T = shapes[sh][1];
        if (strstr(name, "cnn_")) check_cnn_flops(m[0], c, B, T, true);
        if (strstr(name, "cnn_")) check_cnn_flops(m[2], c, B, T, false);
        for (int round = 0; round < 2; round++) {
            if (round == 1) /* halve every weight matrix through the API, in both models */
                for (int k = 0; k < 3; k++)
                    for (int w = 0; w < c->n_names; w++) {
                        struct vm_rt_tensor t = vm_rt_persistent(m[k], c->names[w]);
                        for (int64_t e = 0; t.data && e < t.numel; e++) ((float *)t.data)[e] *= 0.5f;
                    }
            if (!run(m[0], B, T, y[round][0], &n[round][0]) || !run(m[1], B, T, y[round][1], &n[round][1]) ||
                !run(m[2], B, T, y[round][2], &n[round][2]))
                break;
            double d = maxdiff(y[round][0], y[round][1], n[round][0]), d2 = maxdiff(y[round][0], y[round][2], n[round][0]);
            CHECK_MSG(n[round][0] == n[round][1] && d <= 1e-4, "%s %lldx%lld %s: oneDNN vs reference max |diff| %.3g", name,
                      (long long)B, (long long)T, round ? "after the weight change" : "first run", d);
            CHECK_MSG(n[round][0] == n[round][2] && d2 <= 1e-4, "%s %lldx%lld %s: with vs without the embedding fold max |diff| %.3g",
                      name, (long long)B, (long long)T, round ? "after the weight change" : "first run", d2);
            if (round == 1)
                CHECK_MSG(maxdiff(y[0][0], y[1][0], n[0][0]) > 1e-3, "%s %lldx%lld: halving the weights did not change the logits",
                          name, (long long)B, (long long)T);
        }
        /* back to the original weights for the next shape */
        for (int k = 0; k < 3; k++)
            for (int w = 0; w < c->n_names; w++) {
                struct vm_rt_tensor t = vm_rt_persistent(m[k], c->names[w]);
                for (int64_t e = 0; t.data && e < t.numel; e++) ((float *)t.data)[e] *= 2.0f;
            }
    }
    for (int k = 0; k < 3; k++) vm_rt_model_free(m[k]);
    free(c->plan);
    free(c->plan_nofold);
    free(c);
}

int main(void) {
    check_fixture("cnn_conv1d_reducemax_op13");
    check_fixture("lstm_last_op13");
    check_fixture("bert_op13");
    VMTEST_DONE("test_prepack");
}
