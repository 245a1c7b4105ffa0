/* pass_gather_fold: layers linear in an embedding lookup read memoized projections of the
 * vocabulary rows instead (inference graphs only, see passes.h).
 *
 *   X = Gather(E [V, I], ids) [-> Transpose(1, 0, 2)] ; LSTM(X, W, R, B, ...)
 *     =>  LSTMGather(E, ids, W, R, B, ...)
 *   X = Gather(E [V, C], ids [B, T]) ; ConvCL(X, W [M, C, K], bias)   (1-D, stride 1, dilation 1,
 *     group 1, explicit pads)  =>  ConvGather(E, ids, W, bias)
 *   ... ConvCL -> Relu -> ReduceMax(axes [1])  (Kim-CNN's max over time)  =>  ConvGather with
 *     relu_max = 1: the kernel keeps a running max per text and applies the ReLU to it
 *     (max and ReLU commute), so the [B, T', M] activations are never written.
 *
 * The input projection X W^T is three quarters of an LSTM's FLOPs at I = 300, H = 100, and it
 * depends on the token only: row v of E W^T (+ Wb + Rb) is the same whenever word v occurs. The
 * runtime kernel (runtime/kernels/rnn.c) therefore computes a vocabulary row the first time it
 * meets it and keeps it while the weights stay the same (vm_rt_value_const, weights_gen), and per
 * batch runs only the recurrence h R^T. The Gather's output [B, T, I] and the Transpose are not
 * materialized. A text convolution likewise is a sum over its K taps of E[id] W_j^T: the runtime
 * keeps [E[v] W_0^T + bias, ..., E[v] W_{K-1}^T] per row met and adds K rows per output position
 * (K x M adds instead of K x M x C multiply-adds).
 *
 * Per-word masks (the VMASK and IBA layers of vmaskc's own exports, compiler/export.c): the layer may
 * read z = f(Gather(E, ids), Gather(T_1, ids), ..., constants) instead of the lookup itself, where f
 * is elementwise (Mul, Add, Sub, Div, Unsqueeze of a per-token scalar to [..., 1]) and every table T_k
 * is a float initializer gathered by the same ids: VMASK's z = E[id] * word_keep[id], IBA's
 * z = (E[id] - mu) * lambda[id] + mu. Then z is itself a lookup, Gather(E', ids) with
 * E'[v] = f(E[v], T_1[v], ...), computed here once for the V rows with the same float operations
 * in the same order as the graph's (so the layer sees the same bits), and the fold above applies
 * to it. A mask that depends on the sentence (L2X's top-k) is not a function of the id and stays.
 *
 * A mask that depends on the sentence stays a scale: x = Gather(E, ids) * Unsqueeze(s) with s [B, T]
 * (L2X's top-k, 0 or 1 per token) becomes the layer's last input `scale`, and the kernels multiply
 * each token's memoized rows by it (the biases are added unscaled).
 *
 * Conditions: E is a float initializer of rank 2 gathered on axis 0 by rank-2 ids; the weights
 * and biases are initializers (so the rows stay valid between runs); the LSTM has no workspace
 * output (it is not differentiated); the table [V, D * 4H] or [V, K * M] floats is at most
 * 4 x E's size + 64 MiB and 1 GiB (its pages are touched only for the rows met). The Gather and
 * Transpose stay when something else reads them, else the prune removes them. Results are the
 * same up to float summation order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

#define FOLD_MAX_TABLE_BYTES (1ll << 30)

/* A table of V rows of `width` floats is worth keeping beside E [V, I]. */
static bool table_ok(int64_t V, int64_t I, int64_t width) {
    const double bytes = (double)V * (double)width * sizeof(float);
    return V >= 1 && width >= 1 && bytes <= (double)FOLD_MAX_TABLE_BYTES && bytes <= 4.0 * (double)V * (double)I * sizeof(float) + (64 << 20);
}

static int32_t live_producer(const struct vm_graph *g, int32_t v, const char *op) {
    int32_t p = v >= 0 ? g->values[v].producer : -1;
    if (p < 0 || g->nodes[p].dead || g->nodes[p].phase != VM_PHASE_FORWARD || strcmp(vm_op_name(g->nodes[p].op), op)) return -1;
    return p;
}

static bool is_initializer(const struct vm_graph *g, int32_t v) {
    return v >= 0 && g->values[v].data && g->values[v].dtype == VM_DTYPE_FLOAT && !(g->values[v].flags & VM_VALUE_INPUT);
}

static bool same_dims(const struct vm_value *a, const struct vm_value *b, int n) {
    for (int d = 0; d < n; d++)
        if (!vm_dim_eq(&a->dims[d], &b->dims[d])) return false;
    return true;
}

/* x = Gather(E, ids), or x = Gather(E, ids) * Unsqueeze(s [ids' shape]) in either order (a per-token
 * mask that is not a function of the id alone, e.g. L2X's top-k): the Gather node and s in *scale
 * (-1 when unscaled), else -1. */
static int32_t scaled_lookup(const struct vm_graph *g, int32_t x, int32_t *scale) {
    *scale = -1;
    int32_t ga = live_producer(g, x, "Gather"), mul = live_producer(g, x, "Mul");
    if (ga >= 0 || mul < 0 || g->values[x].rank != 3) return ga;
    for (int k = 0; k < 2; k++) {
        const int32_t a = g->nodes[mul].in[k], r = g->nodes[mul].in[1 - k];
        int32_t un = live_producer(g, r, "Unsqueeze");
        if (un < 0) un = live_producer(g, r, "Reshape");
        if ((ga = live_producer(g, a, "Gather")) < 0 || un < 0) continue;
        const struct vm_value *sv = &g->values[g->nodes[un].in[0]], *ids = &g->values[g->nodes[ga].in[1]], *rv = &g->values[r];
        if (ids->rank != 2 || sv->dtype != VM_DTYPE_FLOAT || sv->rank != 2 || rv->rank != 3 || !vm_dim_is_const_eq(&rv->dims[2], 1) ||
            !same_dims(sv, ids, 2) || !same_dims(rv, ids, 2) || g->values[a].rank != 3 || !same_dims(&g->values[a], &g->values[x], 3))
            continue;
        *scale = g->nodes[un].in[0];
        return ga;
    }
    return -1;
}

/* Rewrites LSTM node n when its X is an embedding lookup; *changed when it did. */
static enum vm_status lstm_gather(struct vm_graph *g, int32_t n, bool *changed, struct vm_error *err) {
    const struct vm_node *nd = &g->nodes[n];
    if (nd->n_out > 3 || nd->n_in < 3) return VM_OK;
    int32_t x = nd->in[0], src = x;
    bool transposed = false;
    int32_t tr = live_producer(g, x, "Transpose");
    if (tr >= 0) {
        const struct vm_attr *perm = vm_node_attr(g, tr, "perm");
        if (!perm || perm->type != VM_ATTR_INTS || perm->n != 3 || perm->ints[0] != 1 || perm->ints[1] != 0 || perm->ints[2] != 2)
            return VM_OK;
        src = g->nodes[tr].in[0];
        transposed = true;
    }
    int32_t scale, ga = scaled_lookup(g, src, &scale);
    if (ga < 0 || vm_node_int(g, ga, "axis", 0) != 0) return VM_OK;
    int32_t e = g->nodes[ga].in[0], ids = g->nodes[ga].in[1];
    int32_t w = nd->in[1], b = nd->n_in > 3 ? nd->in[3] : -1;
    if (!is_initializer(g, e) || g->values[e].rank != 2 || g->values[ids].rank != 2 || !is_initializer(g, w) ||
        (b >= 0 && !is_initializer(g, b)))
        return VM_OK;
    const int64_t V = vm_dim_value(&g->values[e].dims[0]), I = vm_dim_value(&g->values[e].dims[1]);
    if (!table_ok(V, I, vm_value_numel(&g->values[w]) / (I ? I : 1))) return VM_OK;

    int32_t in[10], out[3] = {-1, -1, -1};
    const int32_t n_in = scale >= 0 ? 10 : nd->n_in + 1, n_out = nd->n_out;
    in[0] = e;
    in[1] = ids;
    for (int32_t k = 1; k < 9; k++) in[k + 1] = k < nd->n_in ? nd->in[k] : -1;
    in[9] = scale;
    for (int32_t k = 0; k < n_out; k++) out[k] = nd->out[k];
    const int64_t layout = vm_node_int(g, n, "layout", 0);
    char name[512];
    snprintf(name, sizeof name, "%s/gathered", nd->name ? nd->name : "LSTM");
    g->nodes[n].dead = true;
    int32_t id = vm_graph_add_node(g, vm_op_find("vmaskc", "LSTMGather"), name, n_in, in, n_out, out, err);
    if (id < 0) return err->code;
    g->nodes[id].phase = VM_PHASE_FORWARD;
    enum vm_status s = vm_node_copy_attrs(g, n, id, err); /* LSTM's, normalized by its infer */
    if (!s) s = vm_node_set_int(g, id, "ids_batch_first", transposed != (layout != 0), err);
    if (!s) s = vm_op_row(g->nodes[id].op)->infer(g, id, err);
    *changed = true;
    return s;
}

static bool ints_all(const struct vm_graph *g, int32_t n, const char *name, int64_t want) {
    const struct vm_attr *a = vm_node_attr(g, n, name);
    if (!a) return true;
    if (a->type != VM_ATTR_INTS) return false;
    for (int32_t i = 0; i < a->n; i++)
        if (a->ints[i] != want) return false;
    return true;
}

/* The live forward node of op `op` that is the only reader of v (v not a graph output), or -1. */
static int32_t sole_reader(const struct vm_graph *g, int32_t v, const char *op) {
    if ((g->values[v].flags & VM_VALUE_OUTPUT) || vm_graph_count_uses(g, v) != 1) return -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead || n->phase != VM_PHASE_FORWARD || strcmp(vm_op_name(n->op), op)) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] == v) return k == 0 ? i : -1;
    }
    return -1;
}

/* Relu node `relu` -> ReduceMax over axis 1 (of rank 3): the ReduceMax node, else -1. */
static int32_t max_over_time(const struct vm_graph *g, int32_t relu) {
    int32_t rm = relu >= 0 ? sole_reader(g, g->nodes[relu].out[0], "ReduceMax") : -1;
    const struct vm_attr *axes = rm >= 0 ? vm_node_attr(g, rm, "axes") : NULL;
    if (!axes || axes->type != VM_ATTR_INTS || axes->n != 1 || axes->ints[0] != 1 || g->nodes[rm].n_out != 1) return -1;
    return rm;
}

/* Rewrites ConvCL node n when its X is an embedding lookup; *changed when it did. */
static enum vm_status conv_gather(struct vm_graph *g, int32_t n, bool *changed, struct vm_error *err) {
    const struct vm_node *nd = &g->nodes[n];
    int32_t scale, ga = scaled_lookup(g, nd->in[0], &scale);
    if (ga < 0 || vm_node_int(g, ga, "axis", 0) != 0) return VM_OK;
    int32_t e = g->nodes[ga].in[0], ids = g->nodes[ga].in[1], w = nd->in[1], b = nd->n_in > 2 ? nd->in[2] : -1;
    if (!is_initializer(g, e) || g->values[e].rank != 2 || g->values[ids].rank != 2 || !is_initializer(g, w) ||
        g->values[w].rank != 3 || (b >= 0 && !is_initializer(g, b)))
        return VM_OK;
    const char *auto_pad = vm_node_string(g, n, "auto_pad", "NOTSET");
    const struct vm_attr *pads = vm_node_attr(g, n, "pads");
    if (strcmp(auto_pad, "NOTSET") || vm_node_int(g, n, "group", 1) != 1 || !ints_all(g, n, "strides", 1) ||
        !ints_all(g, n, "dilations", 1) || (pads && (pads->type != VM_ATTR_INTS || pads->n != 2 || pads->ints[0] < 0 || pads->ints[1] < 0)))
        return VM_OK;
    const int64_t V = vm_dim_value(&g->values[e].dims[0]), C = vm_dim_value(&g->values[e].dims[1]);
    if (!table_ok(V, C, vm_value_numel(&g->values[w]) / (C ? C : 1))) return VM_OK;
    int32_t in[5] = {e, ids, w, b, scale}, out = nd->out[0], relu = sole_reader(g, out, "Relu"), rm = max_over_time(g, relu);
    const int64_t pv[2] = {pads ? pads->ints[0] : 0, pads ? pads->ints[1] : 0};
    const int64_t keepdims = rm >= 0 ? vm_node_int(g, rm, "keepdims", 1) : 0;
    char name[512];
    snprintf(name, sizeof name, "%s/gathered", nd->name ? nd->name : "ConvCL");
    g->nodes[n].dead = true;
    if (rm >= 0) {
        g->nodes[relu].dead = true;
        g->nodes[rm].dead = true;
        out = g->nodes[rm].out[0];
    }
    int32_t id = vm_graph_add_node(g, vm_op_find("vmaskc", "ConvGather"), name, scale >= 0 ? 5 : b >= 0 ? 4 : 3, in, 1, &out, err);
    if (id < 0) return err->code;
    g->nodes[id].phase = VM_PHASE_FORWARD;
    enum vm_status s = vm_node_set_ints(g, id, "pads", pv, 2, err);
    if (!s && rm >= 0) s = vm_node_set_int(g, id, "relu_max", 1, err);
    if (!s && rm >= 0) s = vm_node_set_int(g, id, "keepdims", keepdims, err);
    if (!s) s = vm_op_row(g->nodes[id].op)->infer(g, id, err);
    *changed = true;
    return s;
}

/* ---- per-word masks folded into the table ---- */

#define MASK_MAX_NODES 16

/* The per-word evaluation of a chain: the ids every Gather reads, the vocabulary size, the rows'
 * leading (token) dims, and the nodes evaluated (bounded). */
struct word_fn {
    int32_t ids;
    int64_t V;
    int n_nodes;
};

/* Value v as a per-token table: [V, *w] floats (*w = 1: one scalar per token), or NULL when v is not
 * a function of the token id alone. The table is malloc'd (the caller frees it). */
static float *word_table(struct vm_graph *g, struct word_fn *f, int32_t v, int64_t *w);

/* v's shape is ids' shape plus a tail of rank 0 or 1 (a constant width): *w is that width. */
static bool per_token_shape(const struct vm_graph *g, const struct word_fn *f, int32_t v, int64_t *w) {
    const struct vm_value *x = &g->values[v], *ids = &g->values[f->ids];
    if (x->dtype != VM_DTYPE_FLOAT || x->rank < ids->rank || x->rank > ids->rank + 1) return false;
    for (int d = 0; d < ids->rank; d++)
        if (!vm_dim_eq(&x->dims[d], &ids->dims[d])) return false;
    *w = x->rank == ids->rank ? 1 : vm_dim_is_const(&x->dims[ids->rank]) ? vm_dim_value(&x->dims[ids->rank]) : -1;
    return *w >= 1;
}

/* A float initializer that broadcasts over the tokens (numel 1, or [..., 1, w] with w == want):
 * its width, else -1. */
static int64_t const_width(const struct vm_graph *g, int32_t v, int64_t want) {
    if (!is_initializer(g, v)) return -1;
    const struct vm_value *x = &g->values[v];
    const int64_t n = vm_value_numel(x);
    if (n == 1) return 1;
    if (n != want || x->rank < 1 || !vm_dim_is_const_eq(&x->dims[x->rank - 1], want)) return -1;
    return want;
}

static float *gather_table(struct vm_graph *g, struct word_fn *f, int32_t n, int64_t *w) {
    const struct vm_node *nd = &g->nodes[n];
    const int32_t t = nd->in[0], ids = nd->in[1];
    if (vm_node_int(g, n, "axis", 0) != 0 || !is_initializer(g, t) || (g->values[t].rank != 1 && g->values[t].rank != 2)) return NULL;
    const struct vm_value *tv = &g->values[t];
    const int64_t V = vm_dim_value(&tv->dims[0]), width = tv->rank == 2 ? vm_dim_value(&tv->dims[1]) : 1;
    if (f->ids < 0) f->ids = ids, f->V = V;
    if (ids != f->ids || V != f->V || V < 1 || width < 1) return NULL;
    int64_t ow;
    if (!per_token_shape(g, f, nd->out[0], &ow) || ow != width) return NULL;
    float *r = malloc(sizeof(float) * (size_t)(V * width));
    if (r) memcpy(r, tv->data, sizeof(float) * (size_t)(V * width));
    *w = width;
    /* a per-word mask table (VMASK's keep probabilities, IBA's lambda) stays in the plan when no
     * step reads it any more: predict and explain show it per token (runtime/api/textmodel.c) */
    if (width == 1) g->values[t].flags |= VM_VALUE_PERSIST;
    return r;
}

static float *binary_table(struct vm_graph *g, struct word_fn *f, int32_t n, const char *op, int64_t *w) {
    const int32_t ia = g->nodes[n].in[0], ib = g->nodes[n].in[1], out = g->nodes[n].out[0];
    /* a constant operand is an initializer (or a folded Constant): the same row for every word */
    const bool ca = is_initializer(g, ia), cb = is_initializer(g, ib);
    int64_t ow = 0, wa = 0, wb = 0;
    float *a = ca ? NULL : word_table(g, f, ia, &wa), *b = cb || (!ca && !a) ? NULL : word_table(g, f, ib, &wb), *r = NULL;
    if ((ca && cb) || (!ca && !a) || (!cb && !b) || !per_token_shape(g, f, out, &ow)) goto done;
    /* a per-token operand has the output's rank, so broadcasting acts on the tail only */
    if ((!ca && g->values[ia].rank != g->values[out].rank) || (!cb && g->values[ib].rank != g->values[out].rank)) goto done;
    if (ca) wa = const_width(g, ia, ow);
    if (cb) wb = const_width(g, ib, ow);
    if ((wa != 1 && wa != ow) || (wb != 1 && wb != ow)) goto done;
    const float *pa = ca ? g->values[ia].data : a, *pb = cb ? g->values[ib].data : b;
    const int64_t V = f->V, sa = ca ? 0 : wa, sb = cb ? 0 : wb, ja = wa == 1 ? 0 : 1, jb = wb == 1 ? 0 : 1;
    if (!(r = malloc(sizeof(float) * (size_t)(V * ow)))) goto done;
    for (int64_t v = 0; v < V; v++)
        for (int64_t j = 0; j < ow; j++) {
            const float x = pa[v * sa + j * ja], y = pb[v * sb + j * jb];
            r[v * ow + j] = op[0] == 'M' ? x * y : op[0] == 'A' ? x + y : op[0] == 'S' ? x - y : x / y;
        }
    *w = ow;
done:
    free(a);
    free(b);
    return r;
}

static float *word_table(struct vm_graph *g, struct word_fn *f, int32_t v, int64_t *w) {
    const int32_t n = v >= 0 ? g->values[v].producer : -1;
    if (n < 0 || g->nodes[n].dead || g->nodes[n].phase != VM_PHASE_FORWARD || g->nodes[n].n_out != 1 || ++f->n_nodes > MASK_MAX_NODES)
        return NULL;
    const char *op = vm_op_name(g->nodes[n].op);
    if (!strcmp(op, "Gather")) return gather_table(g, f, n, w);
    if (!strcmp(op, "Mul") || !strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Div")) return binary_table(g, f, n, op, w);
    if (strcmp(op, "Unsqueeze") && strcmp(op, "Reshape")) return NULL;
    /* a scalar per token [ids..] -> [ids.., 1]: the same table */
    const int32_t in = g->nodes[n].in[0];
    int64_t ow;
    float *r = word_table(g, f, in, w);
    if (r && (*w != 1 || g->values[in].rank != g->values[f->ids].rank || g->values[v].rank != g->values[in].rank + 1 ||
              !per_token_shape(g, f, v, &ow) || ow != 1)) {
        free(r);
        return NULL;
    }
    return r;
}

/* When value x (the input of a foldable layer) is a per-word function of one embedding lookup,
 * makes its producer Gather(E', ids) with E' that function's table; *changed when it did. */
static enum vm_status mask_fold(struct vm_graph *g, int32_t x, bool *changed, struct vm_error *err) {
    const int32_t p = x >= 0 ? g->values[x].producer : -1;
    if (p < 0 || g->nodes[p].dead || !strcmp(vm_op_name(g->nodes[p].op), "Gather")) return VM_OK;
    struct word_fn f = {.ids = -1};
    int64_t w = 0;
    float *tab = word_table(g, &f, x, &w);
    const struct vm_value *ids = f.ids >= 0 ? &g->values[f.ids] : NULL;
    /* the whole embedding row, [ids.., I] with I > 1 (a per-token scalar is not a lookup to fold) */
    if (!tab || w < 2 || g->values[x].rank != ids->rank + 1 || !table_ok(f.V, w, w)) {
        free(tab);
        return VM_OK;
    }
    char name[512];
    snprintf(name, sizeof name, "%s/word_table", g->nodes[p].name ? g->nodes[p].name : "mask");
    int32_t t = vm_graph_fresh_value(g, name, VM_DTYPE_FLOAT, err);
    if (t < 0) {
        free(tab);
        return err->code;
    }
    const int64_t dims[2] = {f.V, w};
    vm_value_set_shape_ints(&g->values[t], 2, dims);
    vm_value_set_data(&g->values[t], tab, sizeof(float) * (size_t)(f.V * w));
    g->values[t].flags |= VM_VALUE_INIT;
    snprintf(name, sizeof name, "%s/word_gather", g->nodes[p].name ? g->nodes[p].name : "mask");
    g->nodes[p].dead = true;
    const int32_t in[2] = {t, f.ids};
    int32_t id = vm_graph_add_node(g, vm_op_find(NULL, "Gather"), name, 2, in, 1, &x, err);
    if (id < 0) return err->code;
    g->nodes[id].phase = VM_PHASE_FORWARD;
    *changed = true;
    enum vm_status s = vm_node_set_int(g, id, "axis", 0, err);
    return s ? s : vm_op_row(g->nodes[id].op)->infer(g, id, err);
}

/* The value a foldable layer reads as its embedding lookup (through LSTM's Transpose), or -1. */
static int32_t layer_input(const struct vm_graph *g, int32_t n, int32_t lstm, int32_t conv) {
    const struct vm_node *nd = &g->nodes[n];
    if (nd->op == conv) return g->values[nd->in[0]].rank == 3 ? nd->in[0] : -1;
    if (nd->op != lstm) return -1;
    int32_t tr = live_producer(g, nd->in[0], "Transpose");
    return tr >= 0 ? g->nodes[tr].in[0] : nd->in[0];
}

enum vm_status vm_pass_gather_fold(struct vm_graph *g, struct vm_error *err) {
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes, lstm = vm_op_find(NULL, "LSTM"), conv = vm_op_find("vmaskc", "ConvCL");
    for (int32_t i = 0; i < n_nodes && !s; i++)
        if (!g->nodes[i].dead && g->nodes[i].phase == VM_PHASE_FORWARD) s = mask_fold(g, layer_input(g, i, lstm, conv), &changed, err);
    if (!s && changed) s = vm_graph_sort(g, err);
    for (int32_t i = 0; i < n_nodes && !s; i++) {
        if (g->nodes[i].dead || g->nodes[i].phase != VM_PHASE_FORWARD) continue;
        if (g->nodes[i].op == lstm) s = lstm_gather(g, i, &changed, err);
        else if (g->nodes[i].op == conv && g->values[g->nodes[i].in[0]].rank == 3) s = conv_gather(g, i, &changed, err);
    }
    if (s || !changed) return s;
    if ((s = vm_graph_sort(g, err))) return s;
    return vm_graph_prune(g, err);
}
