/* test_gather_fold: the embedding-lookup pass (compiler/pass_gather_fold.c) and its kernels
 * (LSTMGather in runtime/kernels/rnn.c: input projections memoized per vocabulary row, the batch
 * split across threads, the vectorized gate pass; ConvGather in runtime/kernels/embed.c: each
 * tap's projection memoized, Relu -> max over time fused).
 *
 * Hand-built graphs Gather(E, ids) [-> Transpose(1,0,2)] -> LSTM with every combination the pass
 * accepts (layout 0 and 1, with and without the Transpose, forward, reverse and bidirectional, with
 * and without B, initial states and peepholes, all or some of Y, Y_h, Y_c) compile with symbolic
 * batch and seq. After the pass the graph has one LSTMGather and no LSTM, Gather or Transpose, and
 * at B x T = 5 x 7, 1 x 9 (batch 1), 6 x 1 (seq 1) and 33 x 60 (with H = 100, enough work that the
 * instance is not sent to one thread, checked: an odd batch split 16 + 17) its outputs equal the unrewritten graph's (oneDNN's
 * LSTM; 1e-5 relative to max |y|) with the oneDNN and the C reference kernels at 1 and 2 threads.
 * The ids are random in [-V, V) (negative ids count from the end, as in Gather) with a pad id 0 on
 * the tail of every odd row; each instance runs twice with different ids, so the second run mixes
 * memoized rows with new ones. An id out of range fails with a message naming the input, and the
 * next run (valid ids) equals a fresh model's (rows met before the bad id were not kept). Bound at
 * several batch shapes, one model keeps one memo table for the step, and each shape's outputs equal
 * a fresh model's for the same ids (rows projected under one shape are read back by another). A graph
 * whose embedding is a graph input, or whose W is one, keeps its LSTM.
 *
 * Convolutions: Gather -> ConvCL [-> Relu -> ReduceMax(axis 1)] graphs (K = 3 with bias and the
 * Relu/max fused, keepdims 0 and 1; K = 4 with pads [1, 2] and no bias, unfused; a Relu read twice,
 * which stays unfused; M = 200 filters, enough adds at 33 x 60 that the rows are split across two
 * threads) equal the unrewritten graph at the same shapes, ids and kernel modes (1e-5 relative),
 * also at 3 x 2 (K = 3: T' = 0, the max over an empty time axis is -inf in both), and at 2 x 1
 * (T' < 0) both plans refuse to bind, naming a negative dimension.
 *
 * Masked lookups (the layers of vmaskc's exports, compiler/export.c): VMASK's x * keep[ids] and IBA's
 * (x - mu) * lambda[ids] + mu before an LSTM and a convolution (the K 4, padded one with a bias: a
 * padded first tap must not drop the bias) fold into a masked table (no Mul/Add/Sub/Gather left),
 * and a per-token scale that is a graph input (L2X's top-k stands behind it) becomes the kernels'
 * scale input; all equal the unrewritten graph at the shapes, kernel modes and threads above.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/compiler.h"
#include "../../compiler/ops.h"
#include "../../compiler/passes.h"
#include "../../runtime/rt.h"
#include "../../runtime/vmrt.h"
#include "vmtest.h"

enum { V = 37, I = 6, H = 5 };

struct lcase {
    const char *label;
    int layout, transposed, dirs, reverse;
    bool bias, states, peep, y, yh, yc;
    int hidden;
    int mask; /* enum mask_kind: the embedding is masked before the layer */
};

struct built {
    struct vm_graph *g;
    struct vm_error err;
};

static int count_op(const struct vm_graph *g, const char *op) {
    int c = 0;
    for (int32_t oi = 0; oi < g->n_order; oi++) c += !strcmp(vm_op_name(g->nodes[g->order[oi]].op), op);
    return c;
}

static int32_t add_input(struct built *b, const char *name, enum vm_dtype dt, int rank, const struct vm_dim *dims) {
    int32_t v = vm_graph_add_value(b->g, name, dt, &b->err);
    vm_value_set_shape(&b->g->values[v], rank, dims);
    b->g->values[v].flags |= VM_VALUE_INPUT;
    b->g->inputs = realloc(b->g->inputs, sizeof(int32_t) * (size_t)(b->g->n_inputs + 1));
    b->g->inputs[b->g->n_inputs++] = v;
    return v;
}

static int32_t add_init(struct built *b, const char *name, int rank, const int64_t *dims, float scale) {
    int32_t v = vm_graph_add_value(b->g, name, VM_DTYPE_FLOAT, &b->err);
    int64_t n = vm_numel(dims, rank);
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = scale * frand();
    vm_value_set_shape_ints(&b->g->values[v], rank, dims);
    vm_value_set_data(&b->g->values[v], d, sizeof(float) * (size_t)n);
    b->g->values[v].flags |= VM_VALUE_INIT;
    return v;
}

static void add_output(struct built *b, int32_t v) {
    b->g->outputs = realloc(b->g->outputs, sizeof(int32_t) * (size_t)(b->g->n_outputs + 1));
    b->g->outputs[b->g->n_outputs++] = v;
    b->g->values[v].flags |= VM_VALUE_OUTPUT;
}

/* The mask layers of vmaskc's exports (compiler/export.c) between the lookup and the layer:
 * VMASK z = x * Unsqueeze(keep[ids]), IBA z = (x - mu) * Unsqueeze(lambda[ids]) + mu (both
 * functions of the token id: folded into the table), and a per-token scale that is a graph input
 * (a stand-in for L2X's top-k, which depends on the sentence): z = Unsqueeze(scale) * x. */
enum mask_kind { MASK_NONE, MASK_VMASK, MASK_IBA, MASK_SCALE };

/* x [ids.., I] masked as `kind` says; the scale input (MASK_SCALE) is added after the others. */
static int32_t add_mask(struct built *b, int kind, int32_t x, int32_t ids) {
    if (kind == MASK_NONE) return x;
    const int64_t dv[1] = {V}, di[1] = {I}, axes[1] = {2};
    int32_t q, r, z;
    if (kind == MASK_SCALE) {
        const struct vm_dim dd[2] = {b->g->values[ids].dims[0], b->g->values[ids].dims[1]};
        q = add_input(b, "scale", VM_DTYPE_FLOAT, 2, dd);
    } else {
        int32_t gin[2] = {add_init(b, kind == MASK_VMASK ? "keep" : "lambda", 1, dv, 1.0f), ids};
        vm_graph_build(b->g, "Gather", "mask/Gather", 2, gin, 1, &q, &b->err);
    }
    int32_t ax = vm_graph_add_value(b->g, "mask/axes", VM_DTYPE_INT64, &b->err);
    int64_t *axd = malloc(sizeof axes);
    memcpy(axd, axes, sizeof axes);
    vm_value_set_shape_ints(&b->g->values[ax], 1, (const int64_t[1]){1});
    vm_value_set_data(&b->g->values[ax], axd, sizeof axes);
    b->g->values[ax].flags |= VM_VALUE_INIT;
    int32_t uin[2] = {q, ax};
    vm_graph_build(b->g, "Unsqueeze", "mask/Unsqueeze", 2, uin, 1, &r, &b->err);
    if (kind == MASK_IBA) {
        int32_t mu = add_init(b, "mu", 1, di, 1.0f), a1[2] = {x, mu}, c, c2[2] = {0, r}, sc, a3[2] = {0, mu};
        vm_graph_build(b->g, "Sub", "iba/Sub", 2, a1, 1, &c, &b->err);
        c2[0] = c;
        vm_graph_build(b->g, "Mul", "iba/Mul", 2, c2, 1, &sc, &b->err);
        a3[0] = sc;
        vm_graph_build(b->g, "Add", "iba/Add", 2, a3, 1, &z, &b->err);
        return z;
    }
    int32_t mi[2] = {kind == MASK_SCALE ? r : x, kind == MASK_SCALE ? x : r};
    vm_graph_build(b->g, "Mul", "mask/Mul", 2, mi, 1, &z, &b->err);
    return z;
}

/* The case's graph (the same weights every call); e_input / w_input make E / W graph inputs. */
static struct vm_graph *build(const struct lcase *c, bool e_input, bool w_input, struct vm_error *err) {
    struct built b = {0};
    b.g = vm_graph_new(&b.err);
    rng = 0x1234567887654321ull;
    const int64_t Hd = c->hidden, D = c->dirs;
    int sb = vm_graph_add_symbol(b.g, "batch", &b.err), ss = vm_graph_add_symbol(b.g, "seq", &b.err);
    /* X [T,B,I] for layout 0, [B,T,I] for 1; the ids are X's first two axes, swapped by the Transpose */
    const bool ids_bf = (c->layout != 0) != (c->transposed != 0);
    struct vm_dim idd[2] = {vm_dim_sym(ids_bf ? sb : ss), vm_dim_sym(ids_bf ? ss : sb)};
    int32_t ids = add_input(&b, "ids", VM_DTYPE_INT64, 2, idd);
    const int64_t de[2] = {V, I}, dw[3] = {D, 4 * Hd, I}, dr[3] = {D, 4 * Hd, Hd}, db[2] = {D, 8 * Hd}, dp[2] = {D, 3 * Hd};
    int32_t e = -1, w = -1;
    if (e_input) {
        struct vm_dim d2[2] = {vm_dim_const(V), vm_dim_const(I)};
        e = add_input(&b, "E", VM_DTYPE_FLOAT, 2, d2);
    } else {
        e = add_init(&b, "E", 2, de, 1.0f);
    }
    if (w_input) {
        struct vm_dim d3[3] = {vm_dim_const(D), vm_dim_const(4 * Hd), vm_dim_const(I)};
        w = add_input(&b, "W", VM_DTYPE_FLOAT, 3, d3);
    } else {
        w = add_init(&b, "W", 3, dw, 0.5f);
    }
    int32_t r = add_init(&b, "R", 3, dr, 0.5f);
    int32_t bias = c->bias ? add_init(&b, "B", 2, db, 0.5f) : -1, peep = c->peep ? add_init(&b, "P", 2, dp, 0.5f) : -1;
    int32_t h0 = -1, c0 = -1;
    if (c->states) {
        struct vm_dim sd[3] = {vm_dim_const(D), vm_dim_sym(sb), vm_dim_const(Hd)};
        if (c->layout) sd[0] = vm_dim_sym(sb), sd[1] = vm_dim_const(D);
        h0 = add_input(&b, "h0", VM_DTYPE_FLOAT, 3, sd);
        c0 = add_input(&b, "c0", VM_DTYPE_FLOAT, 3, sd);
    }
    int32_t gin[2] = {e, ids}, x;
    vm_graph_build(b.g, "Gather", "emb", 2, gin, 1, &x, &b.err);
    x = add_mask(&b, c->mask, x, ids);
    if (c->transposed) {
        int32_t t, tn = vm_graph_build(b.g, "Transpose", "tr", 1, &x, 1, &t, &b.err);
        const int64_t perm[3] = {1, 0, 2};
        vm_node_set_ints(b.g, tn, "perm", perm, 3, &b.err);
        x = t;
    }
    int32_t in[8] = {x, w, r, bias, -1, h0, c0, peep}, outs[3];
    int n_in = 8;
    while (n_in > 3 && in[n_in - 1] < 0) n_in--;
    int32_t ln = vm_graph_build(b.g, "LSTM", "lstm", n_in, in, 3, outs, &b.err);
    vm_node_set_int(b.g, ln, "hidden_size", Hd, &b.err);
    vm_node_set_int(b.g, ln, "layout", c->layout, &b.err);
    vm_node_set_string(b.g, ln, "direction", D == 2 ? "bidirectional" : c->reverse ? "reverse" : "forward", &b.err);
    const bool want[3] = {c->y, c->yh, c->yc};
    for (int k = 0; k < 3; k++) {
        if (want[k]) add_output(&b, outs[k]);
        else b.g->nodes[ln].out[k] = -1, b.g->values[outs[k]].producer = -1;
    }
    if (b.err.code || vm_infer_graph(b.g, &b.err)) {
        *err = b.err;
        vm_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

static uint8_t *compile_case(const struct lcase *c, bool pass, size_t *len, int *n_gather_lstm, int *n_lstm) {
    struct vm_error err = {0};
    struct vm_graph *g = build(c, false, false, &err);
    uint8_t *plan = NULL;
    bool ok = g && (!pass || !vm_pass_gather_fold(g, &err)) && !vm_emit_plan(g, c->label, &plan, len, &err);
    CHECK_MSG(ok, "%s: %s", c->label, err.msg);
    if (ok && n_gather_lstm) {
        *n_gather_lstm = count_op(g, "LSTMGather");
        *n_lstm = count_op(g, "LSTM") + count_op(g, "Gather") + count_op(g, "Transpose") + count_op(g, "Mul") + count_op(g, "Add") +
                  count_op(g, "Sub");
    }
    vm_graph_free(g);
    return ok ? plan : NULL;
}

/* Every output of the instance's last run, concatenated (caller frees), and their count. */
static float *collect_outputs(struct vm_rt_model *m, struct vm_rt_inst *inst, int64_t *n) {
    *n = 0;
    for (int k = 0; k < vm_rt_num_outputs(m); k++) *n += vm_rt_output(inst, k).numel;
    float *out = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
    int64_t at = 0;
    for (int k = 0; k < vm_rt_num_outputs(m); k++) {
        struct vm_rt_tensor y = vm_rt_output(inst, k);
        memcpy(out + at, y.data, y.nbytes);
        at += y.numel;
    }
    return out;
}

/* a (unrewritten) and b (after the pass) agree within 1e-5 of max |a| (and are not all ~0). */
static void compare_runs(const char *label, int64_t B, int64_t T, bool ref, int threads, float *a, int64_t na, float *b, int64_t nb,
                         bool print) {
    if (a && b && na == nb) {
        double worst = 0, norm = 0;
        int64_t finite = 0;
        for (int64_t i = 0; i < na; i++) {
            double d = a[i] == b[i] ? 0.0 : fabs((double)a[i] - b[i]); /* equal infinities: a text shorter than the taps */
            if (!(d <= worst)) worst = d;
            if (isfinite(a[i])) norm = fmax(norm, fabs((double)a[i])), finite++;
        }
        CHECK_MSG((norm > 0.01 || finite == 0) && worst <= 1e-5 * fmax(1.0, norm), "%s %lldx%lld %s %d thread(s): max |after - before| %.3g (max |y| %.3g)",
                  label, (long long)B, (long long)T, ref ? "reference" : "oneDNN", threads, worst, norm);
        if (print)
            printf("  %lldx%lld %-9s %d thread(s): max |after - before| = %.3g (max |y| %.3g)\n", (long long)B, (long long)T,
                   ref ? "reference" : "oneDNN", threads, worst, norm);
    } else {
        CHECK_MSG(0, "%s %lldx%lld: runs failed or output sizes differ (%lld, %lld)", label, (long long)B, (long long)T, (long long)na,
                  (long long)nb);
    }
    free(a);
    free(b);
}

/* Runs the plan at B x T twice (ids from seed, then seed + 1); returns the second run's outputs
 * concatenated (caller frees) and their count, or NULL. */
static float *run_case(const uint8_t *plan, size_t len, const struct lcase *c, bool ref, int threads, int64_t B, int64_t T,
                       uint64_t seed, int64_t *n) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref, .threads = threads};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, c->label, &o, &err)) {
        CHECK_MSG(0, "%s: %s", c->label, err.msg);
        return NULL;
    }
    const bool ids_bf = (c->layout != 0) != (c->transposed != 0);
    /* inputs: ids, [h0, c0,] [scale]; the scale is shaped like the ids */
    int64_t dims[4][3] = {{ids_bf ? B : T, ids_bf ? T : B}, {0}, {0}, {ids_bf ? B : T, ids_bf ? T : B}};
    dims[1][0] = dims[2][0] = c->layout ? B : c->dirs;
    dims[1][1] = dims[2][1] = c->layout ? c->dirs : B;
    dims[1][2] = dims[2][2] = c->hidden;
    const int64_t *dp[4] = {dims[0], dims[1], dims[2], dims[3]};
    int ranks[4] = {2, 3, 3, 2};
    if (!c->states) dp[1] = dims[3], ranks[1] = 2;
    struct vm_rt_inst *inst;
    float *out = NULL;
    if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
        CHECK_MSG(0, "%s bind %lldx%lld: %s", c->label, (long long)B, (long long)T, err.msg);
        vm_rt_model_free(m);
        return NULL;
    }
    if (threads == 2 && c->hidden >= 100 && B * T >= 1000)
        CHECK_MSG(vm_rt_flops(inst, VM_RT_FORWARD, NULL) >= 1e8, "%s %lldx%lld: %.3g FLOPs, the instance runs on one thread",
                  c->label, (long long)B, (long long)T, vm_rt_flops(inst, VM_RT_FORWARD, NULL));
    for (int round = 0; round < 2; round++) {
        uint64_t saved = rng;
        rng = seed + (uint64_t)round * 7919u;
        struct vm_rt_tensor t = vm_rt_input(inst, 0);
        for (int64_t i = 0; i < t.numel; i++) {
            int64_t row = ids_bf ? i / T : i % B, pos = ids_bf ? i % T : i / B;
            int64_t id = (int64_t)floor((frand() + 1.0) * V) - V; /* [-V, V) */
            if (row % 2 == 1 && pos >= T - T / 3) id = 0; /* padded tail */
            ((int64_t *)t.data)[i] = id < V ? id : V - 1;
        }
        for (int k = 1; k < vm_rt_num_inputs(m); k++) {
            struct vm_rt_tensor s = vm_rt_input(inst, k);
            for (int64_t i = 0; i < s.numel; i++) ((float *)s.data)[i] = 0.5f * frand();
        }
        rng = saved;
        if (vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
            CHECK_MSG(0, "%s run: %s", c->label, err.msg);
            vm_rt_model_free(m);
            return NULL;
        }
    }
    out = collect_outputs(m, inst, n);
    vm_rt_model_free(m);
    return out;
}

static void check_case(const struct lcase *c) {
    printf("%s\n", c->label);
    size_t l0 = 0, l1 = 0;
    int n_lg = -1, n_other = -1;
    uint8_t *p0 = compile_case(c, false, &l0, NULL, NULL), *p1 = compile_case(c, true, &l1, &n_lg, &n_other);
    CHECK_MSG(n_lg == 1 && n_other == 0, "%s: %d LSTMGather and %d LSTM/Gather/Transpose/Mul/Add/Sub after the pass", c->label, n_lg,
              n_other);
    static const int64_t shapes[][2] = {{5, 7}, {1, 9}, {6, 1}, {33, 60}};
    for (size_t sh = 0; p0 && p1 && sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int64_t B = shapes[sh][0], T = shapes[sh][1];
        for (int mode = 0; mode < 4; mode++) {
            const bool ref = mode >= 2;
            const int threads = 1 + mode % 2;
            if (ref && B * T > 100 && c->hidden > 16) continue; /* the naive double loops: seconds */
            int64_t na = 0, nb = 0;
            float *a = run_case(p0, l0, c, ref, threads, B, T, 99 + sh, &na);
            float *b = run_case(p1, l1, c, ref, threads, B, T, 99 + sh, &nb);
            compare_runs(c->label, B, T, ref, threads, a, na, b, nb, mode == 0 || (mode == 1 && sh == 3));
        }
    }
    free(p0);
    free(p1);
}

/* The rewritten plan of case c (kept in *plan for fresh models) and a model of it; NULL (plan
 * freed) after a failed check. */
static struct vm_rt_model *open_case(const struct lcase *c, const struct vm_rt_opts *o, uint8_t **plan, size_t *len) {
    struct vm_error err = {0};
    struct vm_rt_model *m = NULL;
    *plan = compile_case(c, true, len, NULL, NULL);
    if (!*plan || vm_rt_model_from_buffer(&m, *plan, *len, c->label, o, &err)) {
        CHECK_MSG(0, "%s: %s", c->label, err.msg);
        free(*plan);
        *plan = NULL;
        return NULL;
    }
    return m;
}

/* An id out of [-V, V) fails the run with a message naming the ids input. */
static void check_out_of_range(void) {
    const struct lcase c = {"out of range", 0, 1, 1, 0, true, false, false, false, true, false, 8, MASK_NONE};
    size_t len = 0;
    uint8_t *plan = NULL;
    struct vm_error err = {0};
    struct vm_rt_opts o = {.threads = 1};
    struct vm_rt_model *m = open_case(&c, &o, &plan, &len);
    if (!m) return;
    const int64_t d0[2] = {2, 3}, *dp[1] = {d0};
    int ranks[1] = {2};
    struct vm_rt_inst *inst;
    if (!vm_rt_bind(m, dp, ranks, &inst, &err)) {
        int64_t *ids = vm_rt_input(inst, 0).data;
        for (int i = 0; i < 6; i++) ids[i] = i;
        ids[4] = V;
        enum vm_status s = vm_rt_run(inst, VM_RT_FORWARD, false, &err);
        printf("out of range: %s\n", err.msg);
        CHECK_MSG(s != VM_OK && strstr(err.msg, "'ids'") && strstr(err.msg, "out of range"), "id %d: status %d, '%s'", V, (int)s, err.msg);
        /* the rows met before the bad id were not projected: the next run must not read them as kept */
        ids[4] = 4;
        struct vm_rt_model *fresh = NULL;
        struct vm_rt_inst *fi;
        if (!vm_rt_run(inst, VM_RT_FORWARD, false, &err) && !vm_rt_model_from_buffer(&fresh, plan, len, c.label, &o, &err) &&
            !vm_rt_bind(fresh, dp, ranks, &fi, &err)) {
            memcpy(vm_rt_input(fi, 0).data, ids, 6 * sizeof *ids);
            CHECK_MSG(!vm_rt_run(fi, VM_RT_FORWARD, false, &err), "fresh run: %s", err.msg);
            struct vm_rt_tensor a = vm_rt_output(inst, 0), b = vm_rt_output(fi, 0);
            CHECK_MSG(a.nbytes == b.nbytes && !memcmp(a.data, b.data, a.nbytes), "after a failed run the LSTM differs from a fresh model's");
        } else {
            CHECK_MSG(0, "run after the failed one: %s", err.msg);
        }
        vm_rt_model_free(fresh);
    } else {
        CHECK_MSG(0, "out of range bind: %s", err.msg);
    }
    vm_rt_model_free(m);
    free(plan);
}

/* Shape instances of one model share the memoized rows: one table per step however many batch
 * shapes are bound (64 cached instances of an IMDB CNN each held their own, 18 GB), and rows
 * projected while running one shape are read back by another with the same results a fresh model
 * computes for that shape alone. */
static void check_shared_memo(void) {
    const struct lcase c = {"shared memo", 0, 1, 1, 0, true, false, false, false, true, false, 8, MASK_NONE};
    size_t len = 0;
    uint8_t *plan = NULL;
    struct vm_error err = {0};
    struct vm_rt_opts o = {.threads = 1};
    struct vm_rt_model *m = open_case(&c, &o, &plan, &len);
    if (!m) return;
    static const int64_t shapes[][2] = {{2, 3}, {3, 5}, {2, 3}, {4, 2}};
    for (int k = 0; k < 4; k++) {
        const int64_t d0[2] = {shapes[k][0], shapes[k][1]}, *dp[1] = {d0}; /* torch batch_first: [B, T] */
        int ranks[1] = {2};
        struct vm_rt_inst *inst, *fi;
        struct vm_rt_model *fresh = NULL;
        if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
            CHECK_MSG(0, "shared memo bind: %s", err.msg);
            break;
        }
        int64_t *ids = vm_rt_input(inst, 0).data, n = d0[0] * d0[1];
        for (int64_t i = 0; i < n; i++) ids[i] = (i * 7 + k * 3) % V; /* rows met by earlier shapes and new ones */
        if (vm_rt_run(inst, VM_RT_FORWARD, false, &err) || vm_rt_model_from_buffer(&fresh, plan, len, c.label, &o, &err) ||
            vm_rt_bind(fresh, dp, ranks, &fi, &err)) {
            CHECK_MSG(0, "shared memo run: %s", err.msg);
            vm_rt_model_free(fresh);
            break;
        }
        memcpy(vm_rt_input(fi, 0).data, ids, (size_t)n * sizeof *ids);
        CHECK_MSG(!vm_rt_run(fi, VM_RT_FORWARD, false, &err), "fresh run: %s", err.msg);
        struct vm_rt_tensor a = vm_rt_output(inst, 0), b = vm_rt_output(fi, 0);
        CHECK_MSG(a.nbytes == b.nbytes && !memcmp(a.data, b.data, a.nbytes), "shape %lldx%lld after other shapes differs from a fresh model's",
                  (long long)d0[0], (long long)d0[1]);
        vm_rt_model_free(fresh);
    }
    int tables = 0;
    for (int32_t i = 0; m->memo_tables && i < m->plan.n_steps; i++) tables += m->memo_tables[i] != NULL;
    printf("shared memo: %zu instances, %d memo table(s)\n", m->n_insts, tables);
    CHECK_MSG(m->n_insts == 3 && tables == 1, "%zu instances hold %d memo tables (want 3 sharing 1)", m->n_insts, tables);
    vm_rt_model_free(m);
    free(plan);
}

/* E or W a graph input: the rows cannot be kept, the pass leaves the LSTM alone. */
static void check_not_rewritten(void) {
    const struct lcase c = {"E / W inputs", 0, 1, 1, 0, true, false, false, true, true, true, 8, MASK_NONE};
    for (int k = 0; k < 2; k++) {
        struct vm_error err = {0};
        struct vm_graph *g = build(&c, k == 0, k == 1, &err);
        CHECK_MSG(g && !vm_pass_gather_fold(g, &err), "%s: %s", c.label, err.msg);
        if (g) CHECK_MSG(count_op(g, "LSTMGather") == 0 && count_op(g, "LSTM") == 1, "%s as an input: rewritten", k ? "W" : "E");
        vm_graph_free(g);
    }
}

/* ---------------- ConvGather ---------------- */

struct ccase {
    const char *label;
    int K, M, p0, p1;
    bool bias, relu_max, keepdims, relu_twice;
    int mask; /* enum mask_kind */
};

static struct vm_graph *build_conv(const struct ccase *c, struct vm_error *err) {
    struct built b = {0};
    b.g = vm_graph_new(&b.err);
    rng = 0x2468ace013579bdfull;
    int sb = vm_graph_add_symbol(b.g, "batch", &b.err), ss = vm_graph_add_symbol(b.g, "seq", &b.err);
    struct vm_dim idd[2] = {vm_dim_sym(sb), vm_dim_sym(ss)};
    int32_t ids = add_input(&b, "ids", VM_DTYPE_INT64, 2, idd);
    const int64_t de[2] = {V, I}, dw[3] = {c->M, I, c->K}, dbias[1] = {c->M};
    int32_t e = add_init(&b, "E", 2, de, 1.0f), w = add_init(&b, "W", 3, dw, 0.5f), bias = c->bias ? add_init(&b, "bias", 1, dbias, 0.5f) : -1;
    int32_t gin[2] = {e, ids}, x, y;
    vm_graph_build(b.g, "Gather", "emb", 2, gin, 1, &x, &b.err);
    x = add_mask(&b, c->mask, x, ids);
    int32_t cin[3] = {x, w, bias};
    y = vm_graph_fresh_value(b.g, "conv", VM_DTYPE_FLOAT, &b.err);
    int32_t cn = vm_graph_add_node(b.g, vm_op_find("vmaskc", "ConvCL"), "conv", bias >= 0 ? 3 : 2, cin, 1, &y, &b.err);
    const int64_t pads[2] = {c->p0, c->p1}, ks[1] = {c->K};
    vm_node_set_ints(b.g, cn, "pads", pads, 2, &b.err);
    vm_node_set_ints(b.g, cn, "kernel_shape", ks, 1, &b.err);
    if (c->relu_max) {
        int32_t r, m, rn = vm_graph_build(b.g, "Relu", "relu", 1, &y, 1, &r, &b.err);
        (void)rn;
        int32_t mn = vm_graph_build(b.g, "ReduceMax", "max", 1, &r, 1, &m, &b.err);
        const int64_t axes[1] = {1};
        vm_node_set_ints(b.g, mn, "axes", axes, 1, &b.err);
        vm_node_set_int(b.g, mn, "keepdims", c->keepdims, &b.err);
        add_output(&b, m);
        if (c->relu_twice) {
            int32_t t;
            vm_graph_build(b.g, "Tanh", "tanh", 1, &r, 1, &t, &b.err);
            add_output(&b, t);
        }
    } else {
        add_output(&b, y);
    }
    if (b.err.code || vm_infer_graph(b.g, &b.err)) {
        *err = b.err;
        vm_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

/* Runs a conv plan twice at B x T (ids from seed, then seed + 1); the second run's outputs. */
static float *run_conv(const uint8_t *plan, size_t len, const char *label, bool ref, int threads, int64_t B, int64_t T, uint64_t seed,
                       int64_t *n) {
    struct vm_error err = {0};
    struct vm_rt_opts o = {.ref_kernels = ref, .threads = threads};
    struct vm_rt_model *m = NULL;
    if (vm_rt_model_from_buffer(&m, plan, len, label, &o, &err)) {
        CHECK_MSG(0, "%s: %s", label, err.msg);
        return NULL;
    }
    const int64_t d0[2] = {B, T}, *dp[2] = {d0, d0}; /* ids [, scale] */
    int ranks[2] = {2, 2};
    struct vm_rt_inst *inst;
    float *out = NULL;
    if (vm_rt_bind(m, dp, ranks, &inst, &err)) {
        CHECK_MSG(0, "%s bind %lldx%lld: %s", label, (long long)B, (long long)T, err.msg);
        vm_rt_model_free(m);
        return NULL;
    }
    for (int round = 0; round < 2; round++) {
        uint64_t saved = rng;
        rng = seed + (uint64_t)round * 7919u;
        int64_t *ids = vm_rt_input(inst, 0).data;
        for (int64_t i = 0; i < B * T; i++) {
            int64_t id = (int64_t)floor((frand() + 1.0) * V) - V;
            ids[i] = (i / T) % 2 == 1 && i % T >= T - T / 3 ? 0 : id < V ? id : V - 1;
        }
        if (vm_rt_num_inputs(m) > 1)
            for (int64_t i = 0; i < B * T; i++) ((float *)vm_rt_input(inst, 1).data)[i] = 0.5f * frand();
        rng = saved;
        if (vm_rt_run(inst, VM_RT_FORWARD, false, &err)) {
            CHECK_MSG(0, "%s run: %s", label, err.msg);
            vm_rt_model_free(m);
            return NULL;
        }
    }
    out = collect_outputs(m, inst, n);
    vm_rt_model_free(m);
    return out;
}

static void check_conv(const struct ccase *c) {
    printf("%s\n", c->label);
    uint8_t *plan[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        struct vm_error err = {0};
        struct vm_graph *g = build_conv(c, &err);
        bool ok = g && (!pass || !vm_pass_gather_fold(g, &err)) && !vm_emit_plan(g, c->label, &plan[pass], &len[pass], &err);
        CHECK_MSG(ok, "%s: %s", c->label, err.msg);
        if (ok && pass) {
            const bool fused = c->relu_max && !c->relu_twice;
            CHECK_MSG(count_op(g, "ConvGather") == 1 && count_op(g, "ConvCL") == 0 && count_op(g, "Gather") == 0 && count_op(g, "Mul") == 0 &&
                          count_op(g, "ReduceMax") == (c->relu_max && !fused) && count_op(g, "Relu") == (c->relu_max && !fused),
                      "%s: ops after the pass: ConvGather %d ConvCL %d Gather %d Relu %d ReduceMax %d", c->label, count_op(g, "ConvGather"),
                      count_op(g, "ConvCL"), count_op(g, "Gather"), count_op(g, "Relu"), count_op(g, "ReduceMax"));
        }
        vm_graph_free(g);
    }
    static const int64_t shapes[][2] = {{5, 7}, {1, 9}, {6, 4}, {33, 60}, {3, 2}};
    for (size_t sh = 0; plan[0] && plan[1] && sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int64_t B = shapes[sh][0], T = shapes[sh][1];
        for (int mode = 0; mode < 4; mode++) {
            const bool ref = mode >= 2;
            const int threads = 1 + mode % 2;
            int64_t na = 0, nb = 0;
            float *a = run_conv(plan[0], len[0], c->label, ref, threads, B, T, 31 + sh, &na);
            float *b = run_conv(plan[1], len[1], c->label, ref, threads, B, T, 31 + sh, &nb);
            compare_runs(c->label, B, T, ref, threads, a, na, b, nb, mode == 0 || (mode == 1 && sh == 3));
        }
    }
    for (int pass = 0; pass < 2 && plan[0] && plan[1] && c->p0 + c->p1 == 0; pass++) {
        struct vm_error err = {0};
        struct vm_rt_opts o = {.threads = 1};
        struct vm_rt_model *m = NULL;
        const int64_t d0[2] = {2, 1}, *dp[2] = {d0, d0}; /* ids [, scale] */
        int ranks[2] = {2, 2};
        struct vm_rt_inst *inst;
        if (!vm_rt_model_from_buffer(&m, plan[pass], len[pass], c->label, &o, &err)) {
            enum vm_status st = vm_rt_bind(m, dp, ranks, &inst, &err);
            CHECK_MSG(st != VM_OK && strstr(err.msg, "negative dimension"), "%s 2x1 (%s the pass): status %d, '%s'", c->label,
                      pass ? "after" : "before", (int)st, err.msg);
        }
        vm_rt_model_free(m);
    }
    free(plan[0]);
    free(plan[1]);
}

int main(void) {
    /* label, layout, transposed, dirs, reverse, B, initial states, P, Y, Y_h, Y_c, hidden */
    static const struct lcase cases[] = {
        {"torch batch_first: Transpose, layout 0, Y_h only", 0, 1, 1, 0, true, false, false, false, true, false, 100, MASK_NONE},
        {"layout 1, no Transpose, all outputs", 1, 0, 1, 0, true, false, false, true, true, true, H, MASK_NONE},
        {"layout 0, no Transpose, reverse, states, peepholes", 0, 0, 1, 1, true, true, true, true, true, true, H, MASK_NONE},
        {"layout 1, Transpose, bidirectional, states", 1, 1, 2, 0, true, true, false, true, true, true, H, MASK_NONE},
        {"layout 0, Transpose, bidirectional, no B, peepholes, Y and Y_c", 0, 1, 2, 0, false, false, true, true, false, true, 7, MASK_NONE},
        {"layout 0, no Transpose, bidirectional, states, peepholes", 0, 0, 2, 0, true, true, true, false, true, true, 100, MASK_NONE},
        {"VMASK export: x * keep[ids], torch batch_first", 0, 1, 1, 0, true, false, false, false, true, false, 100, MASK_VMASK},
        {"IBA export: (x - mu) * lambda[ids] + mu, layout 0", 0, 0, 1, 0, true, true, false, true, true, false, H, MASK_IBA},
        {"per-token scale input (L2X), Transpose, states", 0, 1, 1, 0, true, true, false, false, true, false, 100, MASK_SCALE},
        {"per-token scale input (L2X), layout 1, bidirectional", 1, 0, 2, 0, false, false, false, true, true, true, H, MASK_SCALE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_case(&cases[k]);
    check_out_of_range();
    check_shared_memo();
    check_not_rewritten();
    /* label, K, M, pads, bias, Relu -> ReduceMax, keepdims, Relu read twice */
    static const struct ccase convs[] = {
        {"Kim-CNN conv, Relu and max over time fused", 3, 200, 0, 0, true, true, false, false, MASK_NONE},
        {"conv, fused, keepdims 1", 3, 7, 0, 0, true, true, true, false, MASK_NONE},
        {"conv K 4, pads [1, 2], no bias, no Relu", 4, 9, 1, 2, false, false, false, false, MASK_NONE},
        {"conv, Relu read twice: not fused", 3, 6, 0, 0, true, true, false, true, MASK_NONE},
        {"VMASK export: Kim-CNN conv over x * keep[ids]", 3, 200, 0, 0, true, true, false, false, MASK_VMASK},
        {"IBA export: conv over (x - mu) * lambda[ids] + mu", 4, 9, 1, 2, true, false, false, false, MASK_IBA},
        {"per-token scale input (L2X): Kim-CNN conv", 3, 200, 0, 0, true, true, false, false, MASK_SCALE},
        {"per-token scale input (L2X): conv K 4, pads [1, 2], no bias", 4, 9, 1, 2, false, false, false, false, MASK_SCALE},
    };
    for (size_t k = 0; k < sizeof convs / sizeof convs[0]; k++) check_conv(&convs[k]);
    VMTEST_DONE("test_gather_fold");
}
