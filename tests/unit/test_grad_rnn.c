/* test_grad_rnn: the LSTM gradient rule and its LSTMGrad kernels.
 *
 * 1. Finite-difference checks (gradcheck.h) in both kernel modes on tiny LSTMs: forward, reverse
 *    and bidirectional; layouts 0 and 1; with and without B, initial_h, initial_c, peepholes and
 *    sequence_lens; the loss on Y, Y_h or Y_c alone and on all three; X a parameter (dX checked)
 *    or a constant (dX not produced).
 * 2. Agreement of the oneDNN backward with the C reference backward at the realistic size
 *    (T=50, B=50, I=300, H=100, unidirectional) and at T=20, B=16 (bidirectional, peepholes) —
 *    no finite differences, one compiled plan run in both kernel modes, every parameter gradient
 *    compared; the oneDNN plan runs twice and must repeat its gradients exactly (the primitive
 *    accumulates into its diff buffers, which the kernel zeroes).
 * 3. X with symbolic seq and batch dims: one compiled backward run at several shapes.
 * `--bench` times the forward + backward of the oneDNN kernels at the realistic size instead.
 */
#include <time.h>

#include "gradcheck.h"

#define TOL 2e-2
#define D(...) ((const int64_t[]){__VA_ARGS__})

enum { OUT_Y = 1, OUT_YH = 2, OUT_YC = 4, OUT_ALL = 7 };

struct lstm_case {
    const char *label;
    const char *direction;
    int layout;
    int64_t T, B, I, H;
    bool bias, h0, c0, peep, seq;
    bool x_param;    /* X trainable (else a constant: no dX) */
    bool h0_param;   /* initial states trainable (else constants) */
    unsigned outs;   /* outputs the node has (OUT_*); the loss reads all of them */
};

/* sum(y * w) with its own random constant w */
static int32_t weighted_sum(struct gc *c, int32_t y, const char *wname) {
    struct vm_value *yv = &c->g->values[y];
    int64_t dims[VM_MAX_RANK];
    for (int d = 0; d < yv->rank; d++) dims[d] = vm_dim_value(&yv->dims[d]);
    int32_t w = gc_const_f32(c, wname, yv->rank, dims, NULL);
    int32_t in[2] = {y, w}, prod = gc_op(c, "Mul", 2, in), loss;
    int32_t id = gc_node(c, "ReduceSum", 1, &prod, 1, &loss);
    vm_node_set_int(c->g, id, "keepdims", 0, &c->err);
    return loss;
}

/* Builds the LSTM of a case; returns the scalar loss sum_k sum(out_k * w_k) over its outputs, or
 * -1 on a build error (reported). scale: weights' range (X and states use 1). */
static int32_t build_lstm(struct gc *c, const struct lstm_case *lc, float wscale) {
    const int64_t T = lc->T, B = lc->B, I = lc->I, H = lc->H;
    const int64_t Dn = !strcmp(lc->direction, "bidirectional") ? 2 : 1;
    int32_t in[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    const int64_t *xd = lc->layout ? D(B, T, I) : D(T, B, I);
    const int64_t *sd = lc->layout ? D(B, Dn, H) : D(Dn, B, H);
    in[0] = lc->x_param ? gc_param(c, "X", 3, xd, 1.0f) : gc_const_f32(c, "X", 3, xd, NULL);
    in[1] = gc_param(c, "W", 3, D(Dn, 4 * H, I), wscale);
    in[2] = gc_param(c, "R", 3, D(Dn, 4 * H, H), wscale);
    if (lc->bias) in[3] = gc_param(c, "B", 2, D(Dn, 8 * H), wscale);
    if (lc->seq) {
        int32_t *len = malloc(sizeof(int32_t) * (size_t)B);
        for (int64_t b = 0; b < B; b++) len[b] = (int32_t)T;
        in[4] = gc_value(c, "seq", VM_DTYPE_INT32, 1, D(B), len, sizeof(int32_t) * (size_t)B, VM_VALUE_INIT);
    }
    if (lc->h0) in[5] = lc->h0_param ? gc_param(c, "h0", 3, sd, 1.0f) : gc_const_f32(c, "h0", 3, sd, NULL);
    if (lc->c0) in[6] = lc->h0_param ? gc_param(c, "c0", 3, sd, 1.0f) : gc_const_f32(c, "c0", 3, sd, NULL);
    if (lc->peep) in[7] = gc_param(c, "P", 2, D(Dn, 3 * H), wscale);
    int n_in = 8;
    while (n_in > 3 && in[n_in - 1] < 0) n_in--;
    int32_t outs[3] = {-1, -1, -1};
    static const char *const names[3] = {"Y", "Y_h", "Y_c"};
    int n_out = 0;
    for (int k = 0; k < 3; k++)
        if (lc->outs & (1u << k)) {
            outs[k] = vm_graph_add_value(c->g, names[k], VM_DTYPE_UNDEFINED, &c->err);
            n_out = k + 1;
        }
    int32_t id = vm_graph_add_node(c->g, vm_op_find(NULL, "LSTM"), "lstm", n_in, in, n_out, outs, &c->err);
    if (id < 0) return -1;
    vm_node_set_string(c->g, id, "direction", lc->direction, &c->err);
    vm_node_set_int(c->g, id, "hidden_size", H, &c->err);
    if (lc->layout) vm_node_set_int(c->g, id, "layout", 1, &c->err);
    if (vm_infer_graph(c->g, &c->err)) return -1;
    int32_t loss = -1;
    static const char *const wnames[3] = {"w.Y", "w.Y_h", "w.Y_c"};
    for (int k = 0; k < 3; k++) {
        if (outs[k] < 0) continue;
        int32_t l = weighted_sum(c, outs[k], wnames[k]);
        if (loss < 0) loss = l;
        else {
            int32_t add[2] = {loss, l};
            loss = gc_op(c, "Add", 2, add);
        }
    }
    return loss;
}

static void grad_case(const struct lstm_case *lc) {
    struct gc *c = gc_new();
    int32_t loss = build_lstm(c, lc, 0.5f);
    if (loss < 0) {
        if (!gc_list_mode) CHECK_MSG(0, "%s: %s", lc->label, c->err.msg);
        vm_graph_free(c->g);
        free(c);
        return;
    }
    gc_check(c, "LSTM", lc->label, loss, TOL);
}

/* ---------------- oneDNN vs C reference at the realistic size ---------------- */

static uint8_t *compile_case(const struct lstm_case *lc, size_t *len) {
    struct gc *c = gc_new();
    uint8_t *plan = NULL;
    int32_t loss = build_lstm(c, lc, 0.1f); /* PyTorch's init scale 1/sqrt(H) */
    struct vm_graph *g = c->g;
    if (loss >= 0 && !vm_infer_graph(g, &c->err) && !gc_emit_training(c, loss, lc->label, &plan, len)) plan = NULL;
    CHECK_MSG(plan != NULL, "%s: %s", lc->label, c->err.msg);
    vm_graph_free(g);
    free(c);
    return plan;
}

static struct vm_rt_model *run_model(const struct lstm_case *lc, const uint8_t *plan, size_t len, bool ref) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref};
    struct vm_rt_model *m = NULL;
    struct vm_rt_inst *inst = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, lc->label, &o, &err) || vm_rt_bind(m, NULL, NULL, &inst, &err) ||
        vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, false, &err)) {
        CHECK_MSG(0, "%s (%s): %s", lc->label, ref ? "reference" : "oneDNN", err.msg);
        vm_rt_model_free(m);
        return NULL;
    }
    return m;
}

static void agree_case(const struct lstm_case *lc) {
    size_t len = 0;
    uint8_t *plan = compile_case(lc, &len);
    if (!plan) return;
    struct vm_rt_model *a = run_model(lc, plan, len, false), *b = run_model(lc, plan, len, true);
    if (a) {
        /* oneDNN accumulates into its diff buffers: a second run must give the same gradients */
        int np = vm_rt_num_params(a);
        float **first = calloc((size_t)np + 1, sizeof *first);
        for (int p = 0; p < np; p++) {
            struct vm_rt_tensor gr = vm_rt_param_grad(a, p);
            if (!gr.data) continue;
            first[p] = malloc(gr.nbytes);
            memcpy(first[p], gr.data, gr.nbytes);
        }
        struct vm_error err = {0};
        struct vm_rt_inst *inst = NULL;
        CHECK_MSG(!vm_rt_bind(a, NULL, NULL, &inst, &err) && !vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, false, &err),
                  "%s: %s", lc->label, err.msg);
        for (int p = 0; p < np; p++) {
            struct vm_rt_tensor gr = vm_rt_param_grad(a, p);
            if (first[p]) CHECK_MSG(!memcmp(first[p], gr.data, gr.nbytes), "%s: d%s differs on a second run", lc->label,
                                    vm_rt_param_name(a, p));
            free(first[p]);
        }
        free(first);
    }
    if (a && b) {
        double worst = 0;
        for (int p = 0; p < vm_rt_num_params(a); p++) {
            struct vm_rt_tensor ga = vm_rt_param_grad(a, p), gb = vm_rt_param_grad(b, p);
            CHECK_MSG(ga.data && gb.data && ga.numel == gb.numel, "%s: gradient of %s missing", lc->label,
                      vm_rt_param_name(a, p));
            if (!ga.data || !gb.data || ga.numel != gb.numel) continue;
            const float *x = ga.data, *y = gb.data;
            /* relative to the tensor's scale, and elementwise with a floor at 1e-3 of it */
            double maxref = 0, maxdiff = 0, maxrel = 0;
            for (int64_t i = 0; i < gb.numel; i++) maxref = fmax(maxref, fabs(y[i]));
            for (int64_t i = 0; i < gb.numel; i++) {
                double d = fabs((double)x[i] - y[i]);
                maxdiff = fmax(maxdiff, d);
                maxrel = fmax(maxrel, d / fmax(fabs(y[i]), 1e-3 * maxref));
            }
            double rel = maxref > 0 ? maxdiff / maxref : maxdiff;
            worst = fmax(worst, rel);
            printf("%-34s d%-4s max|ref| %.3e  max|diff| %.2e  rel-to-max %.2e  elementwise %.2e\n", lc->label,
                   vm_rt_param_name(a, p), maxref, maxdiff, rel, maxrel);
            CHECK_MSG(rel < 1e-4, "%s: d%s oneDNN and reference differ by %.3g of the gradient's scale", lc->label,
                      vm_rt_param_name(a, p), rel);
        }
        printf("%-34s oneDNN vs reference, worst difference %.2e of the gradient's scale\n", lc->label, worst);
    }
    vm_rt_model_free(a);
    vm_rt_model_free(b);
    free(plan);
}

/* ---------------- symbolic seq and batch ---------------- */

/* Runs forward + backward at (seq, batch) with X filled from a fixed stream; returns the
 * concatenated parameter gradients (caller frees). */
static float *sym_run(struct vm_rt_model *m, int layout, int64_t seq, int64_t batch, int64_t I, int64_t *n_out) {
    struct vm_error err = {0};
    int64_t dims[3] = {layout ? batch : seq, layout ? seq : batch, I};
    const int64_t *dp[1] = {dims};
    int rank[1] = {3};
    struct vm_rt_inst *inst;
    if (vm_rt_bind(m, dp, rank, &inst, &err)) {
        CHECK_MSG(0, "symbolic bind %lldx%lld: %s", (long long)seq, (long long)batch, err.msg);
        return NULL;
    }
    struct vm_rt_tensor x = vm_rt_input(inst, 0);
    uint64_t saved = gc_rng;
    gc_rng = 0x9e3779b97f4a7c15ull;
    for (int64_t k = 0; k < x.numel; k++) ((float *)x.data)[k] = gc_rand();
    gc_rng = saved;
    if (vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, false, &err)) {
        CHECK_MSG(0, "symbolic run %lldx%lld: %s", (long long)seq, (long long)batch, err.msg);
        return NULL;
    }
    int64_t n = 0;
    for (int p = 0; p < vm_rt_num_params(m); p++) n += vm_rt_param(m, p).numel;
    float *out = calloc((size_t)n, sizeof *out);
    n = 0;
    for (int p = 0; p < vm_rt_num_params(m); p++) {
        struct vm_rt_tensor gr = vm_rt_param_grad(m, p);
        CHECK_MSG(gr.data != NULL, "symbolic: parameter %s has no gradient", vm_rt_param_name(m, p));
        if (gr.data) memcpy(out + n, gr.data, gr.nbytes);
        n += gr.numel;
    }
    *n_out = n;
    return out;
}

/* X is a graph input with symbolic seq and batch dims: the backward compiles once; one oneDNN
 * model runs at two shapes and again at the first (each shape instance sizes its own workspace),
 * and every run agrees with the C reference at that shape. */
static void sym_case(const char *direction, int layout) {
    if (gc_list_mode) return;
    const int64_t I = 3, H = 3, Dn = !strcmp(direction, "bidirectional") ? 2 : 1;
    struct gc *c = gc_new();
    struct vm_graph *g = c->g;
    int ss = vm_graph_add_symbol(g, "seq", &c->err), sb = vm_graph_add_symbol(g, "batch", &c->err);
    struct vm_dim xd[3] = {vm_dim_sym(layout ? sb : ss), vm_dim_sym(layout ? ss : sb), vm_dim_const(I)};
    int32_t x = vm_graph_add_value(g, "X", VM_DTYPE_FLOAT, &c->err);
    vm_value_set_shape(&g->values[x], 3, xd);
    g->values[x].flags |= VM_VALUE_INPUT;
    g->inputs = realloc(g->inputs, sizeof(int32_t) * (size_t)(g->n_inputs + 1));
    g->inputs[g->n_inputs++] = x;
    int32_t in[4] = {x, gc_param(c, "W", 3, D(Dn, 4 * H, I), 0.5f), gc_param(c, "R", 3, D(Dn, 4 * H, H), 0.5f),
                     gc_param(c, "B", 2, D(Dn, 8 * H), 0.5f)};
    int32_t outs[2];
    int32_t id = gc_node(c, "LSTM", 4, in, 2, outs);
    vm_node_set_string(g, id, "direction", direction, &c->err);
    vm_node_set_int(g, id, "hidden_size", H, &c->err);
    vm_node_set_int(g, id, "layout", layout, &c->err);
    int32_t sums[2];
    for (int k = 0; k < 2; k++) {
        int32_t sq[2] = {outs[k], outs[k]}, prod = gc_op(c, "Mul", 2, sq);
        int32_t rid = gc_node(c, "ReduceSum", 1, &prod, 1, &sums[k]);
        vm_node_set_int(g, rid, "keepdims", 0, &c->err);
    }
    int32_t loss = gc_op(c, "Add", 2, sums);
    char label[64];
    snprintf(label, sizeof label, "symbolic %s layout %d", direction, layout);
    uint8_t *plan = NULL;
    size_t len = 0;
    bool ok = !c->err.code && !vm_infer_graph(g, &c->err);
    if (ok) ok = gc_emit_training(c, loss, label, &plan, &len);
    CHECK_MSG(ok, "%s: %s", label, c->err.msg);
    vm_graph_free(g);
    free(c);
    if (!ok) return;
    struct vm_error err = {0};
    struct vm_rt_opts od = {0}, orf = {.ref_kernels = true};
    struct vm_rt_model *md = NULL, *mr = NULL;
    if (vm_rt_model_from_buffer(&md, plan, len, label, &od, &err) || vm_rt_model_from_buffer(&mr, plan, len, label, &orf, &err)) {
        CHECK_MSG(0, "%s: %s", label, err.msg);
    } else {
        const int64_t shapes[3][2] = {{4, 2}, {7, 3}, {4, 2}};
        float *first = NULL;
        double worst = 0;
        for (int k = 0; k < 3; k++) {
            int64_t na = 0, nb = 0;
            float *a = sym_run(md, layout, shapes[k][0], shapes[k][1], I, &na);
            float *b = sym_run(mr, layout, shapes[k][0], shapes[k][1], I, &nb);
            if (a && b && na == nb) {
                double diff = 0, norm = 0;
                for (int64_t i = 0; i < na; i++) {
                    diff = fmax(diff, fabs((double)a[i] - b[i]));
                    norm = fmax(norm, fabs((double)b[i]));
                }
                worst = fmax(worst, diff / fmax(norm, 1e-30));
                CHECK_MSG(norm > 0 && diff <= 1e-5 * norm, "%s at %lldx%lld: oneDNN vs reference differ by %.3g (max %.3g)",
                          label, (long long)shapes[k][0], (long long)shapes[k][1], diff, norm);
                if (k == 0) first = a, a = NULL;
                else if (k == 2 && first)
                    CHECK_MSG(!memcmp(first, a, sizeof(float) * (size_t)na), "%s: the cached instance gives other gradients", label);
            }
            free(a);
            free(b);
        }
        free(first);
        printf("%-34s oneDNN vs reference at 4x2, 7x3, 4x2: worst difference %.2e\n", label, worst);
    }
    vm_rt_model_free(md);
    vm_rt_model_free(mr);
    free(plan);
}

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Minimum over repetitions of forward+backward wall time, then a per-op profile. */
static void bench_case(const struct lstm_case *lc) {
    size_t len = 0;
    uint8_t *plan = compile_case(lc, &len);
    if (!plan) return;
    struct vm_error err = {0};
    struct vm_rt_opts o = {0};
    struct vm_rt_model *m = NULL;
    struct vm_rt_inst *inst = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, lc->label, &o, &err) || vm_rt_bind(m, NULL, NULL, &inst, &err)) {
        CHECK_MSG(0, "%s: %s", lc->label, err.msg);
        free(plan);
        vm_rt_model_free(m);
        return;
    }
    /* wall time, and process CPU time (robust to a busy machine when OMP_NUM_THREADS=1) */
    double best_fb = 1e30, best_f = 1e30, cpu_fb = 1e30, cpu_f = 1e30;
    for (int rep = 0; rep < 40; rep++) {
        double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        vm_rt_run(inst, VM_RT_FORWARD, false, &err);
        double t1 = clock_ms(CLOCK_MONOTONIC), c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        vm_rt_run(inst, VM_RT_BACKWARD, false, &err);
        double t2 = clock_ms(CLOCK_MONOTONIC), c2 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        best_f = fmin(best_f, t1 - t0);
        best_fb = fmin(best_fb, t2 - t0);
        cpu_f = fmin(cpu_f, c1 - c0);
        cpu_fb = fmin(cpu_fb, c2 - c0);
    }
    printf("%s: forward %.2f ms, forward+backward %.2f ms wall (CPU %.2f, %.2f ms); min of 40, whole plan incl. the loss\n",
           lc->label, best_f, best_fb, cpu_f, cpu_fb);
    vm_rt_profile_enable(m, true);
    for (int rep = 0; rep < 20; rep++) vm_rt_run(inst, VM_RT_FORWARD | VM_RT_BACKWARD, false, &err);
    vm_rt_profile_print(m, stdout);
    vm_rt_model_free(m);
    free(plan);
}

int main(int argc, char **argv) {
    /* harness helpers this file does not use (gradcheck.h defines them static, not inline) */
    (void)gc_const_bool, (void)gc_const_i64, (void)gc_param_spaced;
    gc_main_begin(argc, argv);
    bool bench = argc > 1 && !strcmp(argv[1], "--bench");
    static const struct lstm_case big[] = {
        {"realistic uni, layout 0, Y+Y_h+Y_c", "forward", 0, 50, 50, 300, 100, true, true, true, false, false, true, true, OUT_ALL},
        /* bidirectional at a third of the size keeps the reference's run short */
        {"mid-size bidir, layout 1, Y", "bidirectional", 1, 20, 16, 300, 100, true, true, true, false, false, true, true, OUT_Y},
        {"mid-size bidir, layout 0, Y_h", "bidirectional", 0, 20, 16, 300, 100, true, false, false, false, false, false, false, OUT_YH},
        {"mid-size fwd peepholes, L1, all", "forward", 1, 20, 16, 300, 100, true, true, true, true, false, true, true, OUT_ALL},
    };
    static const struct lstm_case timed[] = {
        /* PyTorch's LSTMClf: X from the embedding (trainable), loss through h_n only */
        {"bench uni L0, Y_h (LSTMClf)", "forward", 0, 50, 50, 300, 100, true, true, true, false, false, true, false, OUT_YH},
        {"bench uni L0, Y+Y_h+Y_c", "forward", 0, 50, 50, 300, 100, true, true, true, false, false, true, true, OUT_ALL},
        {"bench bidir L0, Y", "bidirectional", 0, 50, 50, 300, 100, true, true, true, false, false, true, false, OUT_Y},
    };
    if (bench) {
        for (size_t k = 0; k < sizeof timed / sizeof timed[0]; k++) bench_case(&timed[k]);
        VMTEST_DONE("test_grad_rnn --bench");
    }
    /* label, direction, layout, T, B, I, H, bias, h0, c0, peep, seq, x_param, h0_param, outputs */
    static const struct lstm_case cases[] = {
        {"LSTM fwd L0 bare, Y", "forward", 0, 4, 2, 3, 2, false, false, false, false, false, true, false, OUT_Y},
        {"LSTM fwd L0 B+h0+c0, Y", "forward", 0, 4, 2, 3, 3, true, true, true, false, false, true, true, OUT_Y},
        {"LSTM fwd L0 B+h0+c0, Y_h", "forward", 0, 3, 2, 3, 2, true, true, true, false, false, true, true, OUT_YH},
        {"LSTM fwd L0 B+h0+c0, Y_c", "forward", 0, 3, 2, 3, 2, true, true, true, false, false, true, true, OUT_YC},
        {"LSTM fwd L0 B+h0+c0, all", "forward", 0, 4, 2, 3, 3, true, true, true, false, false, true, true, OUT_ALL},
        {"LSTM fwd L0 h0 only, Y+Y_h", "forward", 0, 3, 2, 3, 2, false, true, false, false, false, true, true, OUT_Y | OUT_YH},
        {"LSTM fwd L0 c0 only, Y+Y_c", "forward", 0, 3, 2, 3, 2, true, false, true, false, false, true, true, OUT_Y | OUT_YC},
        {"LSTM fwd L0 const X/h0/c0, all", "forward", 0, 3, 2, 3, 2, true, true, true, false, true, false, false, OUT_ALL},
        {"LSTM rev L0 B+h0+c0, all", "reverse", 0, 4, 2, 3, 2, true, true, true, false, false, true, true, OUT_ALL},
        {"LSTM rev L1 bare, Y_h", "reverse", 1, 3, 2, 3, 2, false, false, false, false, false, true, false, OUT_YH},
        {"LSTM fwd L1 bare, Y", "forward", 1, 4, 2, 3, 2, false, false, false, false, false, true, false, OUT_Y},
        {"LSTM fwd L1 B+h0+c0, Y_c", "forward", 1, 3, 2, 3, 3, true, true, true, false, false, true, true, OUT_YC},
        {"LSTM fwd L1 B+h0+c0, all", "forward", 1, 4, 2, 3, 2, true, true, true, false, true, true, true, OUT_ALL},
        {"LSTM bidir L0 bare, Y", "bidirectional", 0, 3, 2, 3, 2, false, false, false, false, false, true, false, OUT_Y},
        {"LSTM bidir L0 B+h0+c0, Y_h", "bidirectional", 0, 3, 2, 3, 2, true, true, true, false, false, true, true, OUT_YH},
        {"LSTM bidir L0 B+h0+c0, Y_c", "bidirectional", 0, 3, 2, 3, 2, true, true, true, false, false, true, true, OUT_YC},
        {"LSTM bidir L0 B+h0+c0, all", "bidirectional", 0, 4, 2, 3, 3, true, true, true, false, false, true, true, OUT_ALL},
        {"LSTM bidir L1 bare, Y", "bidirectional", 1, 3, 2, 3, 2, false, false, false, false, false, true, false, OUT_Y},
        {"LSTM bidir L1 B+h0+c0, all", "bidirectional", 1, 4, 2, 3, 2, true, true, true, false, false, true, true, OUT_ALL},
        {"LSTM bidir L1 c0 only, Y_h", "bidirectional", 1, 3, 2, 3, 2, false, false, true, false, false, true, true, OUT_YH},
        {"LSTM fwd L0 peepholes, all", "forward", 0, 3, 2, 3, 2, true, true, true, true, false, true, true, OUT_ALL},
        {"LSTM bidir L1 peepholes, Y", "bidirectional", 1, 3, 2, 3, 2, true, true, true, true, false, true, true, OUT_Y},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) grad_case(&cases[k]);
    sym_case("forward", 0);
    sym_case("bidirectional", 1);
    if (!gc_list_mode)
        for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) agree_case(&big[k]);
    return gc_main_end("test_grad_rnn");
}
