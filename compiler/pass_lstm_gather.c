/* pass_lstm_gather: an LSTM reading an embedding lookup (inference graphs only, see passes.h).
 *
 *   X = Gather(E [V, I], ids) [-> Transpose(1, 0, 2)] ; LSTM(X, W, R, B, ...)
 *     =>  LSTMGather(E, ids, W, R, B, ...)
 *
 * The input projection X W^T is three quarters of an LSTM's FLOPs at I = 300, H = 100, and it
 * depends on the token only: row v of E W^T (+ Wb + Rb) is the same whenever word v occurs. The
 * runtime kernel (runtime/kernels/rnn.c) therefore computes a vocabulary row the first time it
 * meets it and keeps it while the weights stay the same (vm_rt_value_const, weights_gen), and per
 * batch runs only the recurrence h R^T. The Gather's output [B, T, I] and the Transpose are not
 * materialized.
 *
 * Conditions: E is a float initializer of rank 2 gathered on axis 0 by rank-2 ids; W and B are
 * initializers (so the rows stay valid between runs); the LSTM has no workspace output (it is not
 * differentiated); the table [V, D * 4H] floats is at most 1 GiB of address space (its pages are
 * touched only for the rows met). The Gather and Transpose stay when something else reads them,
 * else the prune removes them. Results are the same up to float summation order.
 */
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

#define LSTM_GATHER_MAX_TABLE_BYTES (1ll << 30)

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
    const int64_t V = vm_value_numel(&g->values[e]) / (vm_dim_is_const(&g->values[e].dims[1]) ? vm_dim_value(&g->values[e].dims[1]) : 1);
    const int64_t DG = vm_value_numel(&g->values[w]) / (vm_dim_is_const(&g->values[w].dims[2]) ? vm_dim_value(&g->values[w].dims[2]) : 1);
    if (V < 1 || DG < 1 || (double)V * (double)DG * sizeof(float) > (double)LSTM_GATHER_MAX_TABLE_BYTES) return VM_OK;

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

enum vm_status vm_pass_lstm_gather(struct vm_graph *g, struct vm_error *err) {
    bool changed = false;
    enum vm_status s = VM_OK;
    int32_t n_nodes = g->n_nodes, lstm = vm_op_find(NULL, "LSTM");
    for (int32_t i = 0; i < n_nodes && !s; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == lstm && g->nodes[i].phase == VM_PHASE_FORWARD) s = lstm_gather(g, i, &changed, err);
    if (s || !changed) return s;
    if ((s = vm_graph_sort(g, err))) return s;
    return vm_graph_prune(g, err);
}
