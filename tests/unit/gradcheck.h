/* gradcheck: finite-difference checks of gradient rules, shared by the test_grad_* executables.
 *
 * A case builds a small graph whose differentiable inputs are trainable parameters, then calls
 * gc_check on an output: the harness adds loss = sum(output * W) for a fixed random W, runs the
 * autodiff pass, compiles, and compares every parameter gradient (all elements, or a sample of 64
 * for large tensors) with central differences of the loss computed by forward runs — once with
 * oneDNN kernels and once with the C reference kernels. Stochastic ops see the same RNG counter in
 * every run, so Dropout masks are fixed. The runtime computes in float32, so eps and tolerances are
 * sized for float32 differences of an O(1) loss.
 *
 * Each executable accepts --list and prints the ops its cases cover (test_op_table uses that to
 * require a gradient check for every differentiable row).
 */
#ifndef VM_GRADCHECK_H
#define VM_GRADCHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/autodiff.h"
#include "../../compiler/compiler.h"
#include "../../compiler/ops.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

static uint64_t gc_rng = 0x2545f4914f6cdd1dull;
static inline float gc_rand(void) {
    gc_rng ^= gc_rng << 13;
    gc_rng ^= gc_rng >> 7;
    gc_rng ^= gc_rng << 17;
    return (float)((double)(gc_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static bool gc_list_mode = false;
static const char *gc_covered[128];
static int gc_n_covered = 0;

struct gc {
    struct vm_graph *g;
    struct vm_error err;
    bool training;
};

static inline struct gc *gc_new(void) {
    struct gc *c = calloc(1, sizeof *c);
    c->g = vm_graph_new(&c->err);
    return c;
}

static inline int32_t gc_value(struct gc *c, const char *name, int32_t dtype, int rank, const int64_t *dims,
                        void *data, size_t nbytes, uint32_t flags) {
    int32_t v = vm_graph_add_value(c->g, name, dtype, &c->err);
    vm_value_set_shape_ints(&c->g->values[v], rank, dims);
    vm_value_set_data(&c->g->values[v], data, nbytes);
    c->g->values[v].flags |= flags;
    return v;
}

/* Trainable input, uniform in [-scale, scale] shifted by `shift` (keeps Sqrt/Log inputs valid). */
static inline int32_t gc_param_shift(struct gc *c, const char *name, int rank, const int64_t *dims, float scale, float shift) {
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = shift + scale * gc_rand();
    return gc_value(c, name, VM_DTYPE_FLOAT, rank, dims, d, sizeof(float) * (size_t)n, VM_VALUE_INIT | VM_VALUE_PARAM);
}

/* Trainable input whose values are a random permutation of well-separated levels, so finite
 * differences never cross a kink (Relu at 0, ties of a max). */
static inline int32_t gc_param_spaced(struct gc *c, const char *name, int rank, const int64_t *dims) {
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = 0.1f * (float)(i - n / 2) + 0.05f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)((gc_rand() * 0.5f + 0.5f) * (float)(i + 1)) % (i + 1);
        float t = d[i];
        d[i] = d[j];
        d[j] = t;
    }
    return gc_value(c, name, VM_DTYPE_FLOAT, rank, dims, d, sizeof(float) * (size_t)n, VM_VALUE_INIT | VM_VALUE_PARAM);
}

static inline int32_t gc_param(struct gc *c, const char *name, int rank, const int64_t *dims, float scale) {
    return gc_param_shift(c, name, rank, dims, scale, 0.0f);
}

/* Constant float input (not trained); data NULL = random in [-1, 1]. */
static inline int32_t gc_const_f32(struct gc *c, const char *name, int rank, const int64_t *dims, const float *data) {
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = data ? data[i] : gc_rand();
    return gc_value(c, name, VM_DTYPE_FLOAT, rank, dims, d, sizeof(float) * (size_t)n, VM_VALUE_INIT);
}

static inline int32_t gc_const_i64(struct gc *c, const char *name, int rank, const int64_t *dims, const int64_t *data) {
    int64_t n = vm_numel(dims, rank);
    int64_t *d = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n) memcpy(d, data, sizeof(int64_t) * (size_t)n);
    return gc_value(c, name, VM_DTYPE_INT64, rank, dims, d, sizeof(int64_t) * (size_t)n, VM_VALUE_INIT);
}

static inline int32_t gc_const_bool(struct gc *c, const char *name, int rank, const int64_t *dims, const uint8_t *data) {
    int64_t n = vm_numel(dims, rank);
    uint8_t *d = malloc((size_t)(n ? n : 1));
    if (n) memcpy(d, data, (size_t)n);
    return gc_value(c, name, VM_DTYPE_BOOL, rank, dims, d, (size_t)n, VM_VALUE_INIT);
}

/* Adds a node; returns its id and fills outs. Attributes: vm_node_set_*(c->g, id, ...). */
static inline int32_t gc_node(struct gc *c, const char *op, int n_in, const int32_t *in, int n_out, int32_t *outs) {
    return vm_graph_build(c->g, op, NULL, n_in, in, n_out, outs, &c->err);
}

static inline int32_t gc_op(struct gc *c, const char *op, int n_in, const int32_t *in) {
    int32_t out;
    gc_node(c, op, n_in, in, 1, &out);
    return out;
}

/* loss = sum(y * W): returns the loss value. */
static inline int32_t gc_weighted_sum(struct gc *c, int32_t y) {
    struct vm_error *err = &c->err;
    struct vm_value *yv = &c->g->values[y];
    int64_t dims[VM_MAX_RANK];
    for (int d = 0; d < yv->rank; d++) dims[d] = vm_dim_value(&yv->dims[d]);
    int32_t w = gc_const_f32(c, "gc.w", yv->rank, dims, NULL);
    int32_t in[2] = {y, w}, prod = gc_op(c, "Mul", 2, in), loss;
    int32_t id = gc_node(c, "ReduceSum", 1, &prod, 1, &loss);
    vm_node_set_int(c->g, id, "keepdims", 0, err);
    return loss;
}

static inline double gc_loss_value(struct vm_rt_model *m, uint64_t counter, bool training, struct vm_error *err) {
    struct vm_rt_inst *inst;
    if (vm_rt_bind(m, NULL, NULL, &inst, err)) return NAN;
    vm_rt_set_seed(m, 1234, counter);
    if (vm_rt_run(inst, VM_RT_FORWARD, training, err)) return NAN;
    struct vm_rt_tensor t = vm_rt_output(inst, 0);
    return *(const float *)t.data;
}

static inline void gc_check_mode(struct gc *c, const char *label, const uint8_t *plan, size_t len, bool ref, double tol) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, label, &o, &err)) {
        CHECK_MSG(0, "%s: %s", label, err.msg);
        return;
    }
    struct vm_rt_inst *inst;
    CHECK_MSG(!vm_rt_bind(m, NULL, NULL, &inst, &err), "%s: %s", label, err.msg);
    vm_rt_set_seed(m, 1234, 7);
    CHECK_MSG(!vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, c->training, &err), "%s: %s", label, err.msg);
    double worst = 0;
    int checked = 0;
    for (int p = 0; p < vm_rt_num_params(m); p++) {
        struct vm_rt_tensor w = vm_rt_param(m, p), gr = vm_rt_param_grad(m, p);
        float *wd = w.data;
        int64_t n = w.numel, step = n > 64 ? n / 64 : 1;
        float *an = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (gr.data) memcpy(an, gr.data, sizeof(float) * (size_t)n);
        else memset(an, 0, sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i += step) {
            float keep = wd[i];
            float eps = 1e-2f * (fabsf(keep) > 1 ? fabsf(keep) : 1) * 0.5f;
            wd[i] = keep + eps;
            double lp = gc_loss_value(m, 7, c->training, &err);
            wd[i] = keep - eps;
            double lm = gc_loss_value(m, 7, c->training, &err);
            wd[i] = keep;
            double fd = (lp - lm) / (2.0 * (double)eps), a = an[i];
            double e = fabs(fd - a) / fmax(2e-2, fabs(fd) + fabs(a));
            if (e > worst) worst = e;
            checked++;
            if (e > tol)
                CHECK_MSG(0, "%s (%s): d loss / d %s[%lld]: autodiff %.6g, finite difference %.6g", label, ref ? "reference" : "oneDNN",
                          vm_rt_param_name(m, p), (long long)i, a, fd);
        }
        free(an);
    }
    printf("%-34s %-9s %4d gradient elements, worst relative error %.2e\n", label, ref ? "reference" : "oneDNN", checked, worst);
    vm_rt_model_free(m);
}

/* Checks d(sum(y*W))/d(params) for output y of the graph built so far, then frees the case. */
/* Makes scalar value `loss` the graph's loss (and an output), differentiates and emits the plan
 * into *plan / *len. False (c->err set) on failure. The graph must be inferred. */
static inline bool gc_emit_training(struct gc *c, int32_t loss, const char *label, uint8_t **plan, size_t *len) {
    struct vm_graph *g = c->g;
    g->loss = loss;
    g->outputs = realloc(g->outputs, sizeof(int32_t) * (size_t)(g->n_outputs + 1));
    g->outputs[g->n_outputs++] = loss;
    g->values[loss].flags |= VM_VALUE_OUTPUT | VM_VALUE_LOSS;
    return !vm_autodiff(g, &c->err) && !vm_emit_plan(g, label, plan, len, &c->err);
}

static inline void gc_check(struct gc *c, const char *op, const char *label, int32_t y, double tol) {
    if (gc_list_mode) {
        bool seen = false;
        for (int i = 0; i < gc_n_covered; i++) seen |= !strcmp(gc_covered[i], op);
        if (!seen && gc_n_covered < 128) gc_covered[gc_n_covered++] = op;
        vm_graph_free(c->g);
        free(c);
        return;
    }
    struct vm_graph *g = c->g;
    int32_t loss = y;
    if (vm_infer_graph(g, &c->err)) {
        CHECK_MSG(0, "%s: %s", label, c->err.msg);
        goto out;
    }
    if (g->values[y].rank != 0) {
        loss = gc_weighted_sum(c, y);
        if (vm_infer_graph(g, &c->err)) {
            CHECK_MSG(0, "%s: %s", label, c->err.msg);
            goto out;
        }
    }
    uint8_t *plan = NULL;
    size_t len = 0;
    if (!gc_emit_training(c, loss, label, &plan, &len)) {
        CHECK_MSG(0, "%s: %s", label, c->err.msg);
        goto out;
    }
    gc_check_mode(c, label, plan, len, false, tol);
    gc_check_mode(c, label, plan, len, true, tol);
    free(plan);
out:
    vm_graph_free(g);
    free(c);
}

static inline int gc_main_begin(int argc, char **argv) {
    gc_list_mode = argc > 1 && !strcmp(argv[1], "--list");
    return 0;
}

static inline int gc_main_end(const char *name) {
    if (gc_list_mode) {
        for (int i = 0; i < gc_n_covered; i++) printf("%s\n", gc_covered[i]);
        return 0;
    }
    VMTEST_DONE(name);
}

#endif
