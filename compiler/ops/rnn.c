/* rnn: recurrent ops — ONNX LSTM.
 *
 * LSTM inputs X [T,B,I] (layout 0) or [B,T,I] (layout 1), W [D,4H,I], R [D,4H,H], optional
 * B [D,8H], sequence_lens [B] (int32), initial_h / initial_c [D,B,H] (layout 1: [B,D,H]) and
 * peepholes P [D,3H]; outputs Y [T,D,B,H] (layout 1: [B,T,D,H]), Y_h and Y_c [D,B,H]
 * (layout 1: [B,D,H]). D is 2 for bidirectional, else 1. Gate order is ONNX's (i,o,f,c); the
 * runtime permutes it for oneDNN at every run, because weights are trained in place.
 *
 * Supported: every direction and layout, the default activations (Sigmoid,Tanh,Tanh) only, no
 * clip, input_forget=0, peepholes. sequence_lens must equal T for every batch row: checked here
 * when it is a constant, otherwise by the kernel at run time (PyTorch exports leave it empty).
 * infer() writes every attribute the runtime reads (direction, hidden_size, layout, input_forget,
 * activations) explicitly.
 *
 * Gradient (grad_lstm): one internal LSTMGrad node computes dX, dW, dR, dB, d initial_h,
 * d initial_c and dP from dY, dY_h, dY_c (any subset). The rule gives the forward node a fourth
 * output, a VM_VALUE_WORKSPACE uint8 value: the runtime's forward kernel sizes it and fills it with
 * oneDNN's forward_training workspace (plus the outputs oneDNN must see again in backward that the
 * node itself does not expose in oneDNN's layout); LSTMGrad reads it. Y, Y_h and Y_c, when the
 * node has them, are LSTMGrad inputs too, because oneDNN's backward reads the forward's dst
 * memories. sequence_lens gets no gradient (it must equal T anyway).
 *
 * LSTMGrad inputs:  0 X, 1 W, 2 R, 3 B, 4 initial_h, 5 initial_c, 6 P, 7 Y, 8 Y_h, 9 Y_c,
 *                   10 workspace, 11 dY, 12 dY_h, 13 dY_c (absent ones are -1)
 *          outputs: 0 dX, 1 dW, 2 dR, 3 dB, 4 d initial_h, 5 d initial_c, 6 dP (-1 = not wanted)
 * Attributes: the forward node's normalized ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../autodiff.h"
#include "../ops.h"

#define F VM_DTYPE_FLOAT
#define I32 VM_DTYPE_INT32

enum { LSTM_X, LSTM_W, LSTM_R, LSTM_B, LSTM_SEQ, LSTM_H0, LSTM_C0, LSTM_P };

static bool has_out(const struct vm_graph *g, int32_t n, int k) {
    return k < g->nodes[n].n_out && g->nodes[n].out[k] >= 0;
}

static int32_t node_out(const struct vm_graph *g, int32_t n, int k) {
    return k < g->nodes[n].n_out ? g->nodes[n].out[k] : -1;
}

/* Requires dim `got` of input `in` to equal `want`. Dims that may still agree once the symbols are
 * bound (say `batch` against a dim computed from another input) pass here; the kernel checks the
 * concrete sizes when it is prepared. */
static enum vm_status lstm_check_dim(struct vm_graph *g, int32_t n, int in, int axis, const struct vm_dim *want,
                                     const char *meaning, struct vm_error *err) {
    const struct vm_value *v = vm_in(g, n, in);
    const struct vm_dim *got = &v->dims[axis];
    if (vm_dim_eq(got, want)) return VM_OK;
    struct vm_dim diff;
    bool differ = vm_dim_sub(&diff, got, want) == VM_OK && (vm_dim_is_const(&diff) || vm_dim_sign(&diff) != 0);
    if (!differ) return VM_OK;
    char s1[128], s2[128];
    vm_dim_str(got, (const char *const *)g->symbols, s1, sizeof s1);
    vm_dim_str(want, (const char *const *)g->symbols, s2, sizeof s2);
    return vm_node_errorf(g, n, err, VM_EINVAL, "input %d '%s': dimension %d is %s, expected %s (%s)", in, v->name,
                          axis, s1, s2, meaning);
}

static enum vm_status lstm_check_rank(struct vm_graph *g, int32_t n, int in, int rank, const char *shape,
                                      struct vm_error *err) {
    const struct vm_value *v = vm_has_in(g, n, in) ? vm_in(g, n, in) : NULL;
    if (v && v->rank != rank)
        return vm_node_errorf(g, n, err, VM_EINVAL, "input %d '%s' has rank %d; LSTM expects %s", in, v->name, v->rank,
                              shape);
    return VM_OK;
}

/* activations must be D copies of Sigmoid,Tanh,Tanh (ONNX names, compared without case). */
static bool lstm_default_activations(const char *acts, int dirs) {
    static const char *const want[3] = {"Sigmoid", "Tanh", "Tanh"};
    const char *p = acts;
    for (int k = 0; k < 3 * dirs; k++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len != strlen(want[k % 3]) || strncasecmp(p, want[k % 3], len) != 0) return false;
        if (!e) return k == 3 * dirs - 1;
        p = e + 1;
    }
    return false;
}

static enum vm_status infer_lstm(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    for (int i = 0; i < 8; i++)
        if (vm_has_in(g, n, i) && (s = vm_check_dtype(g, n, i, err, i == LSTM_SEQ ? I32 : F, 0))) return s;
    if ((s = lstm_check_rank(g, n, LSTM_X, 3, "X [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1)", err)) ||
        (s = lstm_check_rank(g, n, LSTM_W, 3, "W [directions, 4*hidden, input]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_R, 3, "R [directions, 4*hidden, hidden]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_B, 2, "B [directions, 8*hidden]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_SEQ, 1, "sequence_lens [batch]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_H0, 3, "initial_h [directions, batch, hidden]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_C0, 3, "initial_c [directions, batch, hidden]", err)) ||
        (s = lstm_check_rank(g, n, LSTM_P, 2, "P [directions, 3*hidden]", err)))
        return s;

    /* direction */
    char direction[32];
    snprintf(direction, sizeof direction, "%s", vm_node_string(g, n, "direction", "forward"));
    int dirs;
    if (!strcmp(direction, "forward") || !strcmp(direction, "reverse")) dirs = 1;
    else if (!strcmp(direction, "bidirectional")) dirs = 2;
    else
        return vm_node_errorf(g, n, err, VM_EINVAL, "direction '%s' is not one of forward, reverse, bidirectional",
                              direction);

    /* layout, input_forget, clip, activations */
    int64_t layout = vm_node_int(g, n, "layout", 0);
    if (layout != 0 && layout != 1)
        return vm_node_errorf(g, n, err, VM_EINVAL, "layout %lld is not 0 or 1", (long long)layout);
    if (vm_node_int(g, n, "input_forget", 0) != 0)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                              "input_forget=1 (coupled input and forget gates) is not supported; vmaskc supports input_forget=0");
    if (vm_node_attr(g, n, "clip"))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                              "attribute 'clip' (cell clipping, %g) is not supported; vmaskc runs LSTM without clipping",
                              vm_node_float(g, n, "clip", 0));
    const char *acts = vm_node_string(g, n, "activations", NULL);
    if (acts && !lstm_default_activations(acts, dirs))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                              "activations '%s' are not supported; vmaskc supports only the defaults "
                              "(Sigmoid,Tanh,Tanh for each direction)",
                              acts);
    /* Sigmoid and Tanh take no alpha/beta, so with the default activations these attributes do
     * not change the result; drop them rather than carry meaningless values into the plan. */
    vm_node_remove_attr(g, n, "activation_alpha");
    vm_node_remove_attr(g, n, "activation_beta");

    /* shapes */
    const struct vm_value *x = vm_in(g, n, LSTM_X), *w = vm_in(g, n, LSTM_W), *r = vm_in(g, n, LSTM_R);
    const struct vm_dim dt = x->dims[layout ? 1 : 0], db = x->dims[layout ? 0 : 1], di = x->dims[2];
    const struct vm_dim dd = vm_dim_const(dirs);
    int64_t hidden = vm_node_int(g, n, "hidden_size", -1);
    if (hidden < 0) {
        if (!vm_dim_is_const(&r->dims[2]))
            return vm_node_errorf(g, n, err, VM_EINVAL, "attribute 'hidden_size' is missing and R's last dimension is not a constant");
        hidden = vm_dim_value(&r->dims[2]);
    }
    if (hidden < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "hidden_size %lld must be positive", (long long)hidden);
    const struct vm_dim dh = vm_dim_const(hidden), d4h = vm_dim_const(4 * hidden);
    const struct vm_dim d8h = vm_dim_const(8 * hidden), d3h = vm_dim_const(3 * hidden);
    char dmsg[64];
    snprintf(dmsg, sizeof dmsg, "%d direction%s for direction '%s'", dirs, dirs > 1 ? "s" : "", direction);
    if ((s = lstm_check_dim(g, n, LSTM_W, 0, &dd, dmsg, err)) ||
        (s = lstm_check_dim(g, n, LSTM_W, 1, &d4h, "4*hidden_size", err)) ||
        (s = lstm_check_dim(g, n, LSTM_W, 2, &di, "X's input size", err)) ||
        (s = lstm_check_dim(g, n, LSTM_R, 0, &dd, dmsg, err)) ||
        (s = lstm_check_dim(g, n, LSTM_R, 1, &d4h, "4*hidden_size", err)) ||
        (s = lstm_check_dim(g, n, LSTM_R, 2, &dh, "hidden_size", err)))
        return s;
    (void)w;
    if (vm_has_in(g, n, LSTM_B) &&
        ((s = lstm_check_dim(g, n, LSTM_B, 0, &dd, dmsg, err)) ||
         (s = lstm_check_dim(g, n, LSTM_B, 1, &d8h, "8*hidden_size: Wb and Rb", err))))
        return s;
    if (vm_has_in(g, n, LSTM_P) &&
        ((s = lstm_check_dim(g, n, LSTM_P, 0, &dd, dmsg, err)) ||
         (s = lstm_check_dim(g, n, LSTM_P, 1, &d3h, "3*hidden_size: peepholes i, o, f", err))))
        return s;
    for (int k = LSTM_H0; k <= LSTM_C0; k++) {
        if (!vm_has_in(g, n, k)) continue;
        const char *what = layout ? "layout 1: [batch, directions, hidden]" : "[directions, batch, hidden]";
        if ((s = lstm_check_dim(g, n, k, layout ? 1 : 0, &dd, what, err)) ||
            (s = lstm_check_dim(g, n, k, layout ? 0 : 1, &db, what, err)) ||
            (s = lstm_check_dim(g, n, k, 2, &dh, what, err)))
            return s;
    }
    if (vm_has_in(g, n, LSTM_SEQ)) {
        if ((s = lstm_check_dim(g, n, LSTM_SEQ, 0, &db, "batch", err))) return s;
        const struct vm_value *sl = vm_in(g, n, LSTM_SEQ);
        int64_t cnt = vm_value_numel(sl);
        if (sl->data && cnt > 0 && vm_dim_is_const(&dt)) {
            for (int64_t k = 0; k < cnt; k++) {
                int64_t len = vm_value_data_i64(sl, k);
                if (len != vm_dim_value(&dt))
                    return vm_node_errorf(g, n, err, VM_EUNSUPPORTED,
                                          "sequence_lens[%lld] is %lld but the sequence length is %lld; vmaskc supports "
                                          "only sequence_lens equal to the sequence length for every batch row",
                                          (long long)k, (long long)len, (long long)vm_dim_value(&dt));
            }
        }
    }

    /* normalized attributes for the runtime */
    char full_acts[64] = "";
    for (int k = 0; k < dirs; k++) strcat(full_acts, k ? ",Sigmoid,Tanh,Tanh" : "Sigmoid,Tanh,Tanh");
    if ((s = vm_node_set_string(g, n, "direction", direction, err)) ||
        (s = vm_node_set_int(g, n, "hidden_size", hidden, err)) || (s = vm_node_set_int(g, n, "layout", layout, err)) ||
        (s = vm_node_set_int(g, n, "input_forget", 0, err)) ||
        (s = vm_node_set_string(g, n, "activations", full_acts, err)))
        return s;

    /* outputs */
    struct vm_dim y[4], yh[3];
    if (layout) {
        y[0] = db, y[1] = dt, y[2] = dd, y[3] = dh;
        yh[0] = db, yh[1] = dd, yh[2] = dh;
    } else {
        y[0] = dt, y[1] = dd, y[2] = db, y[3] = dh;
        yh[0] = dd, yh[1] = db, yh[2] = dh;
    }
    /* trailing optional outputs may be missing from the node: only set the slots it has */
    for (int k = 0; k < g->nodes[n].n_out && k < 3; k++) vm_set_out(g, n, k, F, k ? 3 : 4, k ? yh : y);
    /* a fourth output exists only as the workspace grad_lstm added (ONNX LSTM has three) */
    if (g->nodes[n].n_out > 3 && has_out(g, n, 3)) {
        if (!(vm_out(g, n, 3)->flags & VM_VALUE_WORKSPACE))
            return vm_node_errorf(g, n, err, VM_EINVAL, "has %d outputs; LSTM has at most 3 (Y, Y_h, Y_c)",
                                  g->nodes[n].n_out);
        const struct vm_dim one = vm_dim_const(1);
        vm_set_out(g, n, 3, VM_DTYPE_UINT8, 1, &one);
    }
    return VM_OK;
}

/* ---------------- gradient ---------------- */

enum { LG_X, LG_W, LG_R, LG_B, LG_H0, LG_C0, LG_P, LG_Y, LG_YH, LG_YC, LG_WS, LG_DY, LG_DYH, LG_DYC, LG_N_IN };
enum { LG_DX, LG_DW, LG_DR, LG_DB, LG_DH0, LG_DC0, LG_DP, LG_N_OUT };
/* forward input that each LSTMGrad output is the gradient of */
static const int lg_grad_of[LG_N_OUT] = {LSTM_X, LSTM_W, LSTM_R, LSTM_B, LSTM_H0, LSTM_C0, LSTM_P};

static int32_t node_in(const struct vm_graph *g, int32_t n, int k) {
    return k < g->nodes[n].n_in ? g->nodes[n].in[k] : -1;
}

/* Gives forward node n its workspace output (slot 3), growing the output list with absent (-1)
 * Y_h / Y_c slots when the node had fewer outputs. Returns the workspace value. */
static int32_t lstm_add_workspace(struct vm_graph *g, int32_t n, struct vm_error *err) {
    if (node_out(g, n, 3) >= 0) return g->nodes[n].out[3];
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/workspace", g->nodes[n].name ? g->nodes[n].name : "LSTM");
    int32_t ws = vm_graph_fresh_value(g, prefix, VM_DTYPE_UINT8, err);
    if (ws < 0) return -1;
    struct vm_node *nd = &g->nodes[n];
    int32_t *outs = vm_realloc(nd->out, 4 * sizeof *outs, err);
    if (!outs) return -1;
    nd = &g->nodes[n];
    for (int k = nd->n_out; k < 3; k++) outs[k] = -1;
    outs[3] = ws;
    nd->out = outs;
    nd->n_out = 4;
    struct vm_value *v = &g->values[ws];
    v->producer = n;
    v->slot = 3;
    v->flags |= VM_VALUE_WORKSPACE;
    /* placeholder size: the runtime's LSTM kernel sets the real byte count when it is prepared */
    const int64_t one = 1;
    vm_value_set_shape_ints(v, 1, &one);
    return ws;
}

static enum vm_status grad_lstm(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy[3];
    bool any = false;
    for (int k = 0; k < 3; k++) any |= (dy[k] = vm_ad_dy(ad, n, k)) >= 0;
    if (!any) return VM_OK;
    /* wanted gradients */
    bool want[LG_N_OUT], wanted = false;
    for (int k = 0; k < LG_N_OUT; k++) wanted |= (want[k] = vm_ad_wants(ad, n, lg_grad_of[k]));
    if (!wanted) return VM_OK;
    int32_t ws = lstm_add_workspace(g, n, err);
    if (ws < 0) return err->code;
    int32_t in[LG_N_IN];
    for (int k = 0; k < LG_N_IN; k++) in[k] = -1;
    in[LG_X] = node_in(g, n, LSTM_X);
    in[LG_W] = node_in(g, n, LSTM_W);
    in[LG_R] = node_in(g, n, LSTM_R);
    in[LG_B] = node_in(g, n, LSTM_B);
    in[LG_H0] = node_in(g, n, LSTM_H0);
    in[LG_C0] = node_in(g, n, LSTM_C0);
    in[LG_P] = node_in(g, n, LSTM_P);
    for (int k = 0; k < 3; k++) {
        in[LG_Y + k] = node_out(g, n, k);
        in[LG_DY + k] = dy[k];
    }
    in[LG_WS] = ws;
    int32_t outs[LG_N_OUT];
    int32_t id = vm_ad_begin(ad, "LSTMGrad", LG_N_IN, in, LG_N_OUT, outs);
    if (id < 0) return err->code;
    /* unwanted gradients are not produced at all (no arena space, no layout conversion) */
    for (int k = 0; k < LG_N_OUT; k++) {
        if (want[k]) continue;
        g->nodes[id].out[k] = -1;
        g->values[outs[k]].producer = -1;
        outs[k] = -1;
    }
    static const char *const attrs[] = {"direction", "hidden_size", "layout", "input_forget", "activations"};
    enum vm_status s = VM_OK;
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0] && !s; k++) {
        const struct vm_attr *a = vm_node_attr(g, n, attrs[k]);
        if (!a) continue;
        if (a->type == VM_ATTR_INT) s = vm_node_set_int(g, id, attrs[k], a->i, err);
        else if (a->type == VM_ATTR_STRING) s = vm_node_set_string(g, id, attrs[k], a->s, err);
    }
    if (s || (s = vm_ad_end(ad, id))) return s;
    for (int k = 0; k < LG_N_OUT; k++)
        if (outs[k] >= 0 && (s = vm_ad_give(ad, n, lg_grad_of[k], outs[k]))) return s;
    return VM_OK;
}

static enum vm_status infer_lstm_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    for (int k = 0; k < LG_N_IN; k++)
        if (vm_has_in(g, n, k) && (s = vm_check_dtype(g, n, k, err, k == LG_WS ? VM_DTYPE_UINT8 : F, 0))) return s;
    if (!vm_has_in(g, n, LG_X) || !vm_has_in(g, n, LG_W) || !vm_has_in(g, n, LG_R) || !vm_has_in(g, n, LG_WS))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "LSTMGrad needs X, W, R and the workspace");
    int dirs = !strcmp(vm_node_string(g, n, "direction", "forward"), "bidirectional") ? 2 : 1;
    int64_t layout = vm_node_int(g, n, "layout", 0), hidden = vm_node_int(g, n, "hidden_size", -1);
    if (hidden < 1) return vm_node_errorf(g, n, err, VM_EINTERNAL, "LSTMGrad without hidden_size");
    const struct vm_value *x = vm_in(g, n, LG_X);
    struct vm_dim st[3];
    st[layout ? 0 : 1] = x->dims[layout ? 0 : 1];
    st[layout ? 1 : 0] = vm_dim_const(dirs);
    st[2] = vm_dim_const(hidden);
    /* each gradient has its forward input's shape; the states' shape follows from X when absent */
    static const int src[LG_N_OUT] = {LG_X, LG_W, LG_R, LG_B, LG_H0, LG_C0, LG_P};
    for (int k = 0; k < LG_N_OUT; k++) {
        if (!has_out(g, n, k)) continue;
        const struct vm_value *v = vm_has_in(g, n, src[k]) ? vm_in(g, n, src[k]) : NULL;
        if (v) vm_set_out(g, n, k, F, v->rank, v->dims);
        else if (k == LG_DH0 || k == LG_DC0) vm_set_out(g, n, k, F, 3, st);
        else return vm_node_errorf(g, n, err, VM_EINTERNAL, "LSTMGrad output %d without its forward input", k);
    }
    return VM_OK;
}

/* LSTMGather(E [V,I], ids, W, R, B, sequence_lens, initial_h, initial_c, P[, scale]): LSTM(Gather(E, ids)
 * [* scale]) without the gathered X (compiler/pass_gather_fold.c, inference graphs only). ids is [B,T] when
 * ids_batch_first, else [T,B], and the optional float scale is shaped like ids (a per-token mask);
 * the other inputs, the outputs and the attributes are LSTM's. The
 * runtime computes E's rows times W (plus both biases) once per vocabulary row it meets and runs
 * only the recurrence per batch. */
enum { LGA_E, LGA_IDS, LGA_W, LGA_R, LGA_S = 9 };

static enum vm_status infer_lstm_gather(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s;
    if ((s = vm_check_dtype(g, n, LGA_E, err, F, 0)) || (s = vm_check_dtype(g, n, LGA_IDS, err, VM_DTYPE_INT64, I32, 0)) ||
        (s = vm_check_dtype(g, n, LGA_W, err, F, 0)) || (s = vm_check_dtype(g, n, LGA_R, err, F, 0)))
        return s;
    const struct vm_value *e = vm_in(g, n, LGA_E), *ids = vm_in(g, n, LGA_IDS), *w = vm_in(g, n, LGA_W);
    const struct vm_value *sc = g->nodes[n].n_in > LGA_S && g->nodes[n].in[LGA_S] >= 0 ? vm_in(g, n, LGA_S) : NULL;
    if (sc && (sc->dtype != F || sc->rank != 2 || !vm_dim_eq(&sc->dims[0], &ids->dims[0]) || !vm_dim_eq(&sc->dims[1], &ids->dims[1])))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "LSTMGather's scale must be float and shaped like its ids");
    int64_t hidden = vm_node_int(g, n, "hidden_size", -1), layout = vm_node_int(g, n, "layout", 0);
    if (e->rank != 2 || ids->rank != 2 || w->rank != 3 || hidden < 1 || !vm_dim_eq(&e->dims[1], &w->dims[2]))
        return vm_node_errorf(g, n, err, VM_EINTERNAL, "LSTMGather needs E [V, I], ids [B, T] or [T, B], W [D, 4H, I], hidden_size");
    const bool bf = vm_node_int(g, n, "ids_batch_first", 0) != 0;
    const struct vm_dim dt = ids->dims[bf ? 1 : 0], db = ids->dims[bf ? 0 : 1], dh = vm_dim_const(hidden);
    const struct vm_dim dd = vm_dim_const(!strcmp(vm_node_string(g, n, "direction", "forward"), "bidirectional") ? 2 : 1);
    struct vm_dim y[4] = {dt, dd, db, dh}, yh[3] = {dd, db, dh};
    if (layout) {
        y[0] = db, y[1] = dt, y[2] = dd;
        yh[0] = db, yh[1] = dd;
    }
    for (int k = 0; k < g->nodes[n].n_out && k < 3; k++) vm_set_out(g, n, k, F, k ? 3 : 4, k ? yh : y);
    return VM_OK;
}

const struct vm_op_row vm_ops_rnn[] = {
    /* max_out 4: the workspace output grad_lstm adds (infer rejects a fourth output otherwise) */
    {"LSTM", NULL, 3, 8, 0, 4,
     "activation_alpha:F activation_beta:F activations:S clip:f direction:s hidden_size:i input_forget:i layout:i", 0,
     1u << LSTM_SEQ, 0, NULL, infer_lstm, NULL, grad_lstm},
    {"LSTMGrad", "vmaskc", LG_WS + 1, LG_N_IN, LG_N_OUT, LG_N_OUT, "activations:s direction:s hidden_size:i input_forget:i layout:i", 0,
     (1u << LG_N_IN) - 1, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_lstm_grad, NULL, NULL},
    {"LSTMGather", "vmaskc", 4, 10, 0, 3, "activations:s direction:s hidden_size:i ids_batch_first:i input_forget:i layout:i", 0,
     0x3ff, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_lstm_gather, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
