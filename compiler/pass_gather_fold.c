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
 * Conditions: E is a float initializer of rank 2 gathered on axis 0 by rank-2 ids; the weights
 * and biases are initializers (so the rows stay valid between runs); the LSTM has no workspace
 * output (it is not differentiated); the table [V, D * 4H] or [V, K * M] floats is at most
 * 4 x E's size + 64 MiB and 1 GiB (its pages are touched only for the rows met). The Gather and
 * Transpose stay when something else reads them, else the prune removes them. Results are the
 * same up to float summation order.
 */
#include <stdio.h>
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
    int32_t ga = live_producer(g, src, "Gather");
    if (ga < 0 || vm_node_int(g, ga, "axis", 0) != 0) return VM_OK;
    int32_t e = g->nodes[ga].in[0], ids = g->nodes[ga].in[1];
    int32_t w = nd->in[1], b = nd->n_in > 3 ? nd->in[3] : -1;
    if (!is_initializer(g, e) || g->values[e].rank != 2 || g->values[ids].rank != 2 || !is_initializer(g, w) ||
        (b >= 0 && !is_initializer(g, b)))
        return VM_OK;
    const int64_t V = vm_dim_value(&g->values[e].dims[0]), I = vm_dim_value(&g->values[e].dims[1]);
    if (!table_ok(V, I, vm_value_numel(&g->values[w]) / (I ? I : 1))) return VM_OK;

    int32_t in[9], out[3] = {-1, -1, -1};
    const int32_t n_in = nd->n_in + 1, n_out = nd->n_out;
    in[0] = e;
    in[1] = ids;
    for (int32_t k = 1; k < nd->n_in; k++) in[k + 1] = nd->in[k];
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
    int32_t ga = live_producer(g, nd->in[0], "Gather");
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
    int32_t in[4] = {e, ids, w, b}, out = nd->out[0], relu = sole_reader(g, out, "Relu"), rm = max_over_time(g, relu);
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
    int32_t id = vm_graph_add_node(g, vm_op_find("vmaskc", "ConvGather"), name, b >= 0 ? 4 : 3, in, 1, &out, err);
    if (id < 0) return err->code;
    g->nodes[id].phase = VM_PHASE_FORWARD;
    enum vm_status s = vm_node_set_ints(g, id, "pads", pv, 2, err);
    if (!s && rm >= 0) s = vm_node_set_int(g, id, "relu_max", 1, err);
    if (!s && rm >= 0) s = vm_node_set_int(g, id, "keepdims", keepdims, err);
    if (!s) s = vm_op_row(g->nodes[id].op)->infer(g, id, err);
    *changed = true;
    return s;
}

enum vm_status vm_pass_gather_fold(struct vm_graph *g, struct vm_error *err) {
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes, lstm = vm_op_find(NULL, "LSTM"), conv = vm_op_find("vmaskc", "ConvCL");
    for (int32_t i = 0; i < n_nodes && !s; i++) {
        if (g->nodes[i].dead || g->nodes[i].phase != VM_PHASE_FORWARD) continue;
        if (g->nodes[i].op == lstm) s = lstm_gather(g, i, &changed, err);
        else if (g->nodes[i].op == conv && g->values[g->nodes[i].in[0]].rank == 3) s = conv_gather(g, i, &changed, err);
    }
    if (s || !changed) return s;
    if ((s = vm_graph_sort(g, err))) return s;
    return vm_graph_prune(g, err);
}
