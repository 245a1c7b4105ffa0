/* pass_layout: channels-last convolution (see passes.h).
 *
 * PyTorch exports Kim-CNN as Gather [B, T, E] -> Transpose(0, 2, 1) [B, E, T] -> Conv1d [B, F, T']
 * -> Relu -> ReduceMax(axis 2) [B, F]. On the transposed (ncw) input oneDNN runs the convolution
 * as im2col + gemm, and the Transpose is a copy of the whole embedding output; on channels-last
 * (nwc) tensors it has direct brgconv / jit kernels, forward and backward. The pass rewrites, to a
 * fixed point:
 *  0. Reshape [B, T, E] -> [B, 1, T*E] -> Conv1d(kernel k*E, stride E) (the VMASK release's CNN)
 *     => ConvCL over [B, T, E] with the weight rearranged by ops -> Transpose(to channels-first);
 *  1. Transpose(to channels-first) -> Conv   =>   ConvCL -> Transpose(to channels-first): the
 *     convolution reads the Transpose's input, and the transpose moves to its output;
 *  2. transposes move downstream and disappear:
 *     - through a unary elementwise op (or a binary one whose other operand has one element) that
 *       is the transpose's only consumer;
 *     - into ReduceMax/Min/Mean/Sum: the reduction runs over the permuted axes of the untransposed
 *       tensor, followed by a transpose of the (smaller) result only when the kept axes change
 *       order (keepdims 0) or the result keeps the reduced axes (keepdims 1);
 *     - Transpose -> Transpose composes into one, and cancels when the composition is the identity;
 *  3. a Transpose that moves only size-1 dims (or none) becomes a Reshape, which is a view.
 * Kim-CNN becomes Gather -> ConvCL -> Relu -> ReduceMax(axis 1) with no transpose left.
 *
 * Invariants: every rewritten pattern ends in a node that produces the pattern's original output
 * value, so consumers and graph-output names are untouched; new and changed nodes are inferred at
 * once (attributes normalized, shapes set); a Transpose with other consumers stays for them, and
 * transposes left without consumers are pruned. Only forward nodes are touched: the pass runs after
 * vm_infer_graph, before vm_build_training (autodiff then differentiates ConvCL directly). Dims
 * may be symbolic; nothing here needs their values.
 */
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

static bool is(const struct vm_graph *g, int32_t n, const char *op) {
    return strcmp(vm_op_name(g->nodes[n].op), op) == 0;
}

static bool live_fwd(const struct vm_graph *g, int32_t n) {
    return n >= 0 && !g->nodes[n].dead && g->nodes[n].phase == VM_PHASE_FORWARD;
}

enum vm_status vm_pass_reinfer(struct vm_graph *g, int32_t id, struct vm_error *err) {
    const struct vm_op_row *row = vm_op_row(g->nodes[id].op);
    enum vm_status s = row->infer(g, id, err);
    if (!s && row->fold) s = row->fold(g, id, err);
    return s;
}

/* The normalized perm of a live forward Transpose producing v; *r = its rank. */
static int32_t transpose_of(const struct vm_graph *g, int32_t v, int64_t *perm, int *r) {
    if (v < 0) return -1;
    int32_t t = g->values[v].producer;
    if (!live_fwd(g, t) || !is(g, t, "Transpose")) return -1;
    const struct vm_attr *a = vm_node_attr(g, t, "perm");
    if (!a || a->type != VM_ATTR_INTS || a->n != g->values[v].rank || a->n > VM_MAX_RANK) return -1;
    for (int i = 0; i < a->n; i++) perm[i] = a->ints[i];
    *r = a->n;
    return t;
}

/* Channels-last -> channels-first: (N, spatial..., C) -> (N, C, spatial...). */
static void perm_to_cf(int r, int64_t *perm) {
    perm[0] = 0;
    perm[1] = r - 1;
    for (int i = 2; i < r; i++) perm[i] = i - 1;
}

static bool perm_eq(const int64_t *a, const int64_t *b, int r) {
    for (int i = 0; i < r; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* The live forward node reading v, with v at input *slot, when it is v's only use (v is no graph
 * output and feeds exactly one input); else -1. */
static int32_t sole_consumer(const struct vm_graph *g, int32_t v, int *slot) {
    if (vm_graph_count_uses(g, v) != 1) return -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] == v) {
                *slot = k;
                return live_fwd(g, i) ? i : -1;
            }
    }
    return -1;
}

/* Adds `name` = Transpose(x, perm) writing the existing value out (whose old producer the caller
 * retires). */
static enum vm_status add_transpose(struct vm_graph *g, const char *name, int32_t x, const int64_t *perm, int r, int32_t out,
                                    struct vm_error *err) {
    int32_t id = vm_graph_add_node(g, vm_op_find(NULL, "Transpose"), name, 1, &x, 1, &out, err);
    if (id < 0) return err->code;
    enum vm_status s = vm_node_set_ints(g, id, "perm", perm, r, err);
    return s ? s : vm_pass_reinfer(g, id, err);
}

/* Node n writes a fresh value instead of its output `slot`; returns the old output value. */
static int32_t redirect_output(struct vm_graph *g, int32_t n, int slot, struct vm_error *err) {
    int32_t old = g->nodes[n].out[slot];
    int32_t w = vm_graph_fresh_value(g, g->nodes[n].name, g->values[old].dtype, err);
    if (w < 0) return -1;
    g->nodes[n].out[slot] = w;
    g->values[w].producer = n;
    g->values[w].slot = slot;
    return old;
}

static void node_name(char *buf, size_t len, const struct vm_graph *g, int32_t n, const char *suffix) {
    snprintf(buf, len, "%s/%s", g->nodes[n].name, suffix);
}

/* ---- 0. flattened full-width Conv1d  =>  ConvCL on [B, T, E] ---- */

/* The VMASK release's CNN flattens the embedding, x.view(B, 1, T*E), and convolves it with
 * Conv1d(1, M, k*E, stride=E): a full-width k-word convolution over one long channel, which
 * oneDNN runs as a plain 1-channel convolution with a 1500-wide kernel. Rewritten as
 * ConvCL(x [B, T, E], W' [M, E, k]) -> Transpose to [B, M, T'], with W' = Transpose(Reshape(W,
 * [M, k, E]), (0, 2, 1)) computed from W by ordinary ops (so W stays the parameter, trained and
 * exported as it is); rule 2 then removes the output transpose. Requires Reshape of a rank-3 x
 * with a constant E into [B, 1, T*E], kernel k*E, stride E, no padding, dilation 1, group 1. */
static enum vm_status rewrite_flat_conv(struct vm_graph *g, int32_t n, bool *changed, struct vm_error *err) {
    const struct vm_node *c = &g->nodes[n];
    if (c->n_out != 1 || c->n_in < 2) return VM_OK;
    int32_t rs = g->values[c->in[0]].producer, w = c->in[1];
    if (!live_fwd(g, rs) || !is(g, rs, "Reshape")) return VM_OK;
    int32_t x = g->nodes[rs].in[0];
    const struct vm_value *xv = &g->values[x], *fv = &g->values[c->in[0]], *wv = &g->values[w];
    if (xv->rank != 3 || fv->rank != 3 || wv->rank != 3 || !vm_dim_is_const(&xv->dims[2])) return VM_OK;
    int64_t E = vm_dim_value(&xv->dims[2]);
    struct vm_dim te;
    if (E < 1 || vm_dim_mul(&te, &xv->dims[1], &xv->dims[2]) || !vm_dim_eq(&fv->dims[0], &xv->dims[0]) ||
        !vm_dim_is_const_eq(&fv->dims[1], 1) || !vm_dim_eq(&fv->dims[2], &te))
        return VM_OK;
    for (int d = 0; d < 3; d++)
        if (!vm_dim_is_const(&wv->dims[d])) return VM_OK;
    int64_t M = vm_dim_value(&wv->dims[0]), K = vm_dim_value(&wv->dims[2]);
    const struct vm_attr *ks = vm_node_attr(g, n, "kernel_shape"), *st = vm_node_attr(g, n, "strides"), *pd = vm_node_attr(g, n, "pads"),
                         *dl = vm_node_attr(g, n, "dilations");
    if (vm_dim_value(&wv->dims[1]) != 1 || vm_node_int(g, n, "group", 1) != 1 || K % E || K < E) return VM_OK;
    if (!ks || ks->type != VM_ATTR_INTS || ks->n != 1 || ks->ints[0] != K || !st || st->type != VM_ATTR_INTS || st->n != 1 ||
        st->ints[0] != E || (pd && (pd->type != VM_ATTR_INTS || pd->n != 2 || pd->ints[0] || pd->ints[1])) ||
        (dl && (dl->type != VM_ATTR_INTS || dl->n != 1 || dl->ints[0] != 1)))
        return VM_OK;
    int64_t k = K / E;
    char name[512];
    /* W' = Transpose(Reshape(W, [M, k, E]), (0, 2, 1)) */
    node_name(name, sizeof name, g, n, "w_shape");
    int32_t shape = vm_graph_fresh_value(g, name, VM_DTYPE_INT64, err);
    if (shape < 0) return err->code;
    int64_t three = 3;
    struct vm_dim sd[3] = {vm_dim_const(M), vm_dim_const(k), vm_dim_const(E)};
    vm_value_set_shape_ints(&g->values[shape], 1, &three);
    enum vm_status s = vm_value_set_known(&g->values[shape], sd, 3, err);
    if (s) return s;
    node_name(name, sizeof name, g, n, "w_taps");
    int32_t wr = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
    int32_t rin[2] = {w, shape};
    int32_t id = wr < 0 ? -1 : vm_graph_add_node(g, vm_op_find(NULL, "Reshape"), name, 2, rin, 1, &wr, err);
    /* infer only: folding would store a second, reshaped copy of W in the plan (training undoes
     * such copies of parameters anyway, vm_build_training's unfold_params) */
    if (id < 0 || (s = vm_op_row(g->nodes[id].op)->infer(g, id, err))) return err->code;
    node_name(name, sizeof name, g, n, "w_cl");
    int32_t wt = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
    int64_t p021[3] = {0, 2, 1};
    if (wt < 0 || (s = add_transpose(g, name, wr, p021, 3, wt, err))) return err->code;
    /* ConvCL(x, W', B) with the word-level geometry */
    int32_t in[3] = {x, wt, c->n_in > 2 ? c->in[2] : -1}, y = c->out[0];
    node_name(name, sizeof name, g, n, "cl");
    int32_t ycl = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
    if (ycl < 0) return err->code;
    id = vm_graph_add_node(g, vm_op_find("vmaskc", "ConvCL"), name, in[2] >= 0 ? 3 : 2, in, 1, &ycl, err);
    if (id < 0) return err->code;
    int64_t kk[1] = {k}, one[1] = {1}, zero[2] = {0, 0};
    if ((s = vm_node_set_ints(g, id, "kernel_shape", kk, 1, err)) || (s = vm_node_set_ints(g, id, "strides", one, 1, err)) ||
        (s = vm_node_set_ints(g, id, "dilations", one, 1, err)) || (s = vm_node_set_ints(g, id, "pads", zero, 2, err)) ||
        (s = vm_node_set_int(g, id, "group", 1, err)) || (s = vm_pass_reinfer(g, id, err)))
        return s;
    g->nodes[n].dead = true;
    node_name(name, sizeof name, g, n, "to_ncw");
    if ((s = add_transpose(g, name, ycl, p021, 3, y, err))) return s;
    *changed = true;
    return VM_OK;
}

/* ---- 1. Transpose(to channels-first) -> Conv  =>  ConvCL -> Transpose(to channels-first) ---- */

static enum vm_status rewrite_conv(struct vm_graph *g, int32_t n, bool *changed, struct vm_error *err) {
    int64_t perm[VM_MAX_RANK], cf[VM_MAX_RANK];
    int r;
    int32_t t = transpose_of(g, g->nodes[n].in[0], perm, &r);
    if (t < 0 || r < 3 || r > 5 || g->nodes[n].n_out != 1) return VM_OK;
    perm_to_cf(r, cf);
    if (!perm_eq(perm, cf, r)) return VM_OK;
    int32_t in[3], n_in = g->nodes[n].n_in, y = g->nodes[n].out[0];
    for (int32_t k = 0; k < n_in; k++) in[k] = g->nodes[n].in[k];
    in[0] = g->nodes[t].in[0];
    char name[512];
    node_name(name, sizeof name, g, n, "cl");
    int32_t ycl = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
    if (ycl < 0) return err->code;
    int32_t id = vm_graph_add_node(g, vm_op_find("vmaskc", "ConvCL"), name, n_in, in, 1, &ycl, err);
    if (id < 0) return err->code;
    enum vm_status s = vm_node_copy_attrs(g, n, id, err);
    if (!s) s = vm_pass_reinfer(g, id, err);
    if (s) return s;
    g->nodes[n].dead = true;
    node_name(name, sizeof name, g, n, "to_ncw");
    if ((s = add_transpose(g, name, ycl, cf, r, y, err))) return s;
    *changed = true;
    return VM_OK;
}

/* ---- 2. moving transposes downstream ---- */

static bool is_unary_elementwise(const struct vm_graph *g, int32_t n) {
    static const char *const ops[] = {"Relu", "Tanh", "Sigmoid", "Erf", "Sqrt", "Exp", "Log", "Reciprocal",
                                      "Neg",  "Abs",  "Identity", "Gelu", "Cast", "Not", NULL};
    if (g->nodes[n].n_in != 1 || g->nodes[n].n_out != 1) return false;
    for (int i = 0; ops[i]; i++)
        if (is(g, n, ops[i])) return true;
    return false;
}

/* A broadcasting binary op whose operand other than `slot` has one element and no higher rank:
 * elementwise on the transposed operand, whatever its layout. */
static bool is_scalar_binary(const struct vm_graph *g, int32_t n, int slot, int rank) {
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Pow", NULL};
    bool known = false;
    for (int i = 0; ops[i]; i++) known |= is(g, n, ops[i]);
    if (!known || g->nodes[n].n_in != 2 || g->nodes[n].n_out != 1) return false;
    int32_t o = g->nodes[n].in[1 - slot];
    if (o < 0 || o == g->nodes[n].in[slot]) return false;
    const struct vm_value *ov = &g->values[o];
    if (ov->rank > rank) return false;
    for (int d = 0; d < ov->rank; d++)
        if (!vm_dim_is_const_eq(&ov->dims[d], 1)) return false;
    return true;
}

/* Transpose(p) -> u (its only consumer, elementwise)  =>  u -> Transpose(p). */
static enum vm_status push_elementwise(struct vm_graph *g, int32_t t, const int64_t *perm, int r, bool *changed,
                                       struct vm_error *err) {
    int slot;
    int32_t u = sole_consumer(g, g->nodes[t].out[0], &slot);
    if (u < 0 || !(is_unary_elementwise(g, u) || is_scalar_binary(g, u, slot, r))) return VM_OK;
    g->nodes[u].in[slot] = g->nodes[t].in[0];
    int32_t y = redirect_output(g, u, 0, err);
    if (y < 0) return err->code;
    enum vm_status s = vm_pass_reinfer(g, u, err);
    if (s) return s;
    char name[512];
    node_name(name, sizeof name, g, u, "transpose");
    if ((s = add_transpose(g, name, g->nodes[u].out[0], perm, r, y, err))) return s;
    g->nodes[t].dead = true;
    *changed = true;
    return VM_OK;
}

/* Transpose(p) -> Reduce(axes A, keepdims) reading it at input 0  =>
 *   Reduce(axes p[A]) over the untransposed input, then
 *   keepdims 1: Transpose(p) of the result (the reduced axes are 1s in both orders);
 *   keepdims 0: nothing when the kept axes p[i], i not in A, increase (same tensor), else the
 *               transpose that restores their order. */
static enum vm_status push_into_reduce(struct vm_graph *g, int32_t t, const int64_t *perm, int r, int32_t red, bool *changed,
                                       struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, red, "axes");
    /* no axes after normalization: a no-op reduction (noop_with_empty_axes), left alone */
    if (!a || a->type != VM_ATTR_INTS || a->n == 0) return VM_OK;
    bool in_a[VM_MAX_RANK] = {false}, in_b[VM_MAX_RANK] = {false};
    for (int i = 0; i < a->n; i++) {
        if (a->ints[i] < 0 || a->ints[i] >= r) return VM_OK;
        in_a[a->ints[i]] = true;
        in_b[perm[a->ints[i]]] = true;
    }
    bool keep = vm_node_int(g, red, "keepdims", 1) != 0;
    int64_t axes[VM_MAX_RANK], q[VM_MAX_RANK], kept[VM_MAX_RANK];
    int na = 0, nk = 0;
    for (int j = 0; j < r; j++)
        if (in_b[j]) axes[na++] = j;
    for (int i = 0; i < r; i++)
        if (!in_a[i]) kept[nk++] = perm[i];
    /* q: where each kept axis lands in the reduced untransposed tensor (its kept axes ascend) */
    bool identity = true;
    for (int i = 0; i < nk; i++) {
        q[i] = 0;
        for (int k = 0; k < nk; k++) q[i] += kept[k] < kept[i];
        identity = identity && q[i] == i;
    }
    struct vm_node *rn = &g->nodes[red];
    rn->in[0] = g->nodes[t].in[0];
    rn->n_in = 1; /* ReduceSum-13's axes input is already in the attribute (infer normalized it) */
    enum vm_status s = vm_node_set_ints(g, red, "axes", axes, na, err);
    if (s) return s;
    int32_t y = -1;
    if (keep || !identity) {
        y = redirect_output(g, red, 0, err);
        if (y < 0) return err->code;
    }
    if ((s = vm_pass_reinfer(g, red, err))) return s;
    if (y >= 0) {
        char name[512];
        node_name(name, sizeof name, g, red, "transpose");
        if ((s = add_transpose(g, name, g->nodes[red].out[0], keep ? perm : q, keep ? r : nk, y, err))) return s;
    }
    *changed = true;
    return VM_OK;
}

/* Transpose(p) -> Transpose(q)  =>  Transpose(p o q) over the first one's input, or its input
 * itself when p o q is the identity. */
static enum vm_status compose_transposes(struct vm_graph *g, int32_t t, const int64_t *perm, int r, int32_t t2, bool *changed,
                                         struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, t2, "perm");
    if (!a || a->type != VM_ATTR_INTS || a->n != r) return VM_OK;
    int64_t c[VM_MAX_RANK];
    bool identity = true;
    for (int i = 0; i < r; i++) {
        if (a->ints[i] < 0 || a->ints[i] >= r) return VM_OK;
        c[i] = perm[a->ints[i]];
        identity = identity && c[i] == i;
    }
    int32_t x = g->nodes[t].in[0], y = g->nodes[t2].out[0];
    if (identity && !(g->values[y].flags & VM_VALUE_OUTPUT)) {
        vm_graph_replace_uses(g, y, x);
        g->nodes[t2].dead = true;
        *changed = true;
        return VM_OK;
    }
    /* a graph output keeps its name: the node stays, as an identity transpose (a view, rule 3) */
    g->nodes[t2].in[0] = x;
    enum vm_status s = vm_node_set_ints(g, t2, "perm", c, r, err);
    if (!s) s = vm_pass_reinfer(g, t2, err);
    if (!s) *changed = true;
    return s;
}

static bool is_reduce(const struct vm_graph *g, int32_t n) {
    return is(g, n, "ReduceMax") || is(g, n, "ReduceMin") || is(g, n, "ReduceMean") || is(g, n, "ReduceSum");
}

/* One transpose: compose with transposes and push into reductions reading it, then through its
 * only elementwise consumer. */
static enum vm_status push_transpose(struct vm_graph *g, int32_t t, bool *changed, struct vm_error *err) {
    int64_t perm[VM_MAX_RANK];
    int r;
    int32_t v = g->nodes[t].out[0];
    if (transpose_of(g, v, perm, &r) != t) return VM_OK;
    enum vm_status s;
    int32_t n_nodes = g->n_nodes;
    for (int32_t i = 0; i < n_nodes; i++) {
        if (!live_fwd(g, i) || g->nodes[i].n_in < 1 || g->nodes[i].in[0] != v) continue;
        bool only_slot0 = true;
        for (int32_t k = 1; k < g->nodes[i].n_in; k++) only_slot0 = only_slot0 && g->nodes[i].in[k] != v;
        if (!only_slot0) continue;
        if (is(g, i, "Transpose")) s = compose_transposes(g, t, perm, r, i, changed, err);
        else if (is_reduce(g, i)) s = push_into_reduce(g, t, perm, r, i, changed, err);
        else continue;
        if (s) return s;
    }
    return push_elementwise(g, t, perm, r, changed, err);
}

/* ---- 3. Transpose moving only size-1 dims  =>  Reshape (a view) ---- */

static enum vm_status transpose_to_reshape(struct vm_graph *g, int32_t t, bool *changed, struct vm_error *err) {
    int64_t perm[VM_MAX_RANK];
    int r;
    int32_t v = g->nodes[t].out[0], x = g->nodes[t].in[0];
    if (transpose_of(g, v, perm, &r) != t) return VM_OK;
    const struct vm_value *xv = &g->values[x];
    int64_t last = -1;
    for (int i = 0; i < r; i++) {
        const struct vm_dim *d = &xv->dims[perm[i]];
        if (vm_dim_is_const_eq(d, 0)) return VM_OK; /* Reshape would read a 0 as "copy" */
        if (vm_dim_is_const_eq(d, 1)) continue;
        if (perm[i] < last) return VM_OK; /* real data moves */
        last = perm[i];
    }
    char name[512];
    node_name(name, sizeof name, g, t, "shape");
    int32_t shape = vm_graph_fresh_value(g, name, VM_DTYPE_INT64, err);
    if (shape < 0) return err->code;
    int64_t rr = r;
    vm_value_set_shape_ints(&g->values[shape], 1, &rr);
    enum vm_status s = vm_value_set_known(&g->values[shape], g->values[v].dims, r, err);
    if (s) return s;
    node_name(name, sizeof name, g, t, "view");
    int32_t in[2] = {x, shape};
    g->nodes[t].dead = true;
    *changed = true;
    int32_t id = vm_graph_add_node(g, vm_op_find(NULL, "Reshape"), name, 2, in, 1, &v, err);
    return id < 0 ? err->code : vm_pass_reinfer(g, id, err);
}

enum vm_status vm_pass_conv_channels_last(struct vm_graph *g, struct vm_error *err) {
    if (vm_op_find("vmaskc", "ConvCL") < 0) return VM_OK;
    /* forward graphs only: backward nodes would keep reading the values this pass retires */
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].phase != VM_PHASE_FORWARD) return VM_OK;
    enum vm_status s;
    bool any = false, changed = true;
    /* each round moves every transpose at least one node downstream or removes it */
    for (int round = 0; changed; round++) {
        changed = false;
        if (round > 4 * g->n_nodes + 8) return vm_errorf(err, VM_EINTERNAL, "the layout pass does not converge");
        int32_t n_nodes = g->n_nodes;
        for (int32_t i = 0; i < n_nodes; i++)
            if (live_fwd(g, i) && is(g, i, "Conv") && ((s = rewrite_flat_conv(g, i, &changed, err)) || (s = rewrite_conv(g, i, &changed, err))))
                return s;
        n_nodes = g->n_nodes;
        for (int32_t i = 0; i < n_nodes; i++)
            if (live_fwd(g, i) && is(g, i, "Transpose") && (s = push_transpose(g, i, &changed, err))) return s;
        any = any || changed;
    }
    /* transposes left without consumers go before the view rewrite looks at the rest */
    if (any && ((s = vm_graph_sort(g, err)) || (s = vm_graph_prune(g, err)))) return s;
    int32_t n_nodes = g->n_nodes;
    for (int32_t i = 0; i < n_nodes; i++)
        if (live_fwd(g, i) && is(g, i, "Transpose") && (s = transpose_to_reshape(g, i, &any, err))) return s;
    return any ? vm_graph_sort(g, err) : VM_OK;
}
