/* pass_rows: compute only the rows a classifier reads (inference graphs only, see passes.h).
 *
 * A BERT-style classifier runs its last encoder layer on every token and then keeps one:
 * Gather(h, 0, axis 1) [B, T, E] -> [B, E] feeds the pooler. Everything between the attention and
 * that Gather works on each token separately (out-projection MatMul, bias and residual Adds,
 * LayerNorm, the feed-forward MatMuls and GELU), so the Gather can move above those ops and they
 * run on the selected rows only: at 50 x 50 that is 30% of the FLOPs of the 2-layer encoder of
 * bench/make_models.py. The rewrite, to a fixed point:
 *
 *   y = Gather(P(a, b, ...), idx, axis)  =>  y = P(Gather(a, idx, axis), b', ...)
 *
 * for P one of the row-wise ops below, where each operand either spans the gathered axis (rank R
 * and the same dim there as P's output: it gets its own Gather) or broadcasts only over dims after
 * it (rank <= R - 1 - axis: kept as it is). The new Gathers are then candidates themselves; the
 * chain stops at an op that mixes rows (attention's Reshape/MatMul of probabilities, Softmax over
 * tokens) or at a value that something else also reads.
 *
 * Invariants: P's output had the Gather as its only reader and is not a graph output, so nothing
 * else sees the change; the Gather's output value keeps its id and name (P now writes it). Only
 * float data and forward nodes are touched (shape arithmetic stays as it is). Results are the same
 * numbers up to the matmul's summation order at the new shape.
 */
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

enum row_kind { ROW_NONE, ROW_ELEMWISE, ROW_LAYERNORM, ROW_MATMUL };

static enum row_kind row_kind(const char *op) {
    static const char *const elementwise[] = {"Add",  "Sub", "Mul",      "Div",       "Relu", "Tanh", "Sigmoid", "Gelu",
                                              "Erf",  "Exp", "Neg",      "Abs",       "Sqrt", "Elu",  "LeakyRelu", "Softplus",
                                              NULL};
    for (int i = 0; elementwise[i]; i++)
        if (!strcmp(op, elementwise[i])) return ROW_ELEMWISE;
    if (!strcmp(op, "LayerNormalization")) return ROW_LAYERNORM;
    if (!strcmp(op, "MatMul")) return ROW_MATMUL;
    return ROW_NONE;
}

static bool live_fwd(const struct vm_graph *g, int32_t n) {
    return n >= 0 && !g->nodes[n].dead && g->nodes[n].phase == VM_PHASE_FORWARD;
}

/* Which inputs of P get a Gather (bit k set) when its output x [rank R] is gathered on `axis`;
 * false when P cannot move below the Gather. */
static bool plan_operands(const struct vm_graph *g, int32_t p, enum row_kind kind, int32_t x, int axis, uint32_t *gather_in) {
    const struct vm_node *pn = &g->nodes[p];
    const struct vm_value *xv = &g->values[x];
    const int R = xv->rank;
    *gather_in = 0;
    for (int32_t k = 1; k < pn->n_out; k++)
        if (pn->out[k] >= 0 && vm_graph_count_uses(g, pn->out[k]) > 0) return false; /* LayerNorm's mean / inv std */
    if (kind == ROW_LAYERNORM) {
        int64_t a = vm_node_int(g, p, "axis", -1);
        if (a < 0) a += R;
        if (a <= axis) return false; /* the normalization would span the gathered axis */
        *gather_in = 1; /* scale and bias cover dims [a, R) only */
        return true;
    }
    if (kind == ROW_MATMUL) {
        const struct vm_value *a = &g->values[pn->in[0]], *b = &g->values[pn->in[1]];
        if (a->rank != R || b->rank > 2 || axis >= R - 1) return false; /* A's rows, B shared by all */
        *gather_in = 1;
        return true;
    }
    for (int32_t k = 0; k < pn->n_in; k++) {
        const struct vm_value *in = &g->values[pn->in[k]];
        if (in->rank == R && vm_dim_eq(&in->dims[axis], &xv->dims[axis])) *gather_in |= 1u << k;
        else if (in->rank > R - 1 - axis) return false; /* broadcasts over the gathered axis, or sits left of it */
    }
    return *gather_in != 0;
}

/* A live Gather(src, idx) on `axis`, or -1. */
static int32_t same_gather(const struct vm_graph *g, int32_t src, int32_t idx, int axis) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (live_fwd(g, i) && n->n_in == 2 && n->in[0] == src && n->in[1] == idx && !strcmp(vm_op_name(n->op), "Gather") &&
            vm_node_int(g, i, "axis", 0) == axis)
            return i;
    }
    return -1;
}

/* Rewrites y = Gather(x = P(...)) as described above; *changed when it did. */
static enum vm_status hoist(struct vm_graph *g, int32_t gat, bool *changed, struct vm_error *err) {
    int32_t x = g->nodes[gat].in[0], idx = g->nodes[gat].in[1], y = g->nodes[gat].out[0];
    int32_t p = g->values[x].producer;
    if (!live_fwd(g, p) || g->values[x].dtype != VM_DTYPE_FLOAT || g->values[x].rank < 1) return VM_OK;
    if ((g->values[x].flags & VM_VALUE_OUTPUT) || vm_graph_count_uses(g, x) != 1 || g->nodes[p].out[0] != x) return VM_OK;
    enum row_kind kind = row_kind(vm_op_name(g->nodes[p].op));
    if (kind == ROW_NONE) return VM_OK;
    const int axis = (int)vm_node_int(g, gat, "axis", 0), idx_rank = g->values[idx].rank;
    uint32_t gather_in;
    if (!plan_operands(g, p, kind, x, axis, &gather_in)) return VM_OK;

    int32_t n_in = g->nodes[p].n_in;
    for (int32_t k = 0; k < n_in; k++) {
        if (!(gather_in & (1u << k))) continue;
        int32_t src = g->nodes[p].in[k], same = same_gather(g, src, idx, axis);
        if (same >= 0) {
            /* a value read by two of the ops (the residual and the next MatMul) is gathered once,
             * so that the value before it keeps one reader and the hoisting goes on */
            g->nodes[p].in[k] = g->nodes[same].out[0];
            continue;
        }
        char name[512];
        snprintf(name, sizeof name, "%s/rows_%d", g->nodes[p].name, (int)k);
        int32_t in[2] = {src, idx}, out = -1;
        int32_t id = vm_graph_build(g, "Gather", name, 2, in, 1, &out, err);
        if (id < 0) return err->code;
        g->nodes[id].phase = VM_PHASE_FORWARD;
        enum vm_status s = vm_node_set_int(g, id, "axis", axis, err);
        if (!s) s = vm_pass_reinfer(g, id, err);
        if (s) return s;
        g->nodes[p].in[k] = out;
    }
    if (kind == ROW_LAYERNORM) {
        int64_t a = vm_node_int(g, p, "axis", -1);
        if (a >= 0) {
            enum vm_status s = vm_node_set_int(g, p, "axis", a - 1 + idx_rank, err);
            if (s) return s;
        }
    }
    /* P writes the Gather's output; x is left without a producer or readers */
    g->nodes[gat].dead = true;
    g->nodes[p].out[0] = y;
    g->values[y].producer = p;
    g->values[y].slot = 0;
    g->values[x].producer = -1;
    *changed = true;
    return vm_pass_reinfer(g, p, err);
}

enum vm_status vm_pass_gather_rows_early(struct vm_graph *g, struct vm_error *err) {
    int32_t gather = vm_op_find(NULL, "Gather");
    bool any = false, changed = true;
    enum vm_status s = VM_OK;
    while (changed && !s) {
        changed = false;
        for (int32_t i = 0; i < g->n_nodes && !s; i++) {
            if (!live_fwd(g, i) || g->nodes[i].op != gather) continue;
            bool c = false;
            s = hoist(g, i, &c, err);
            changed |= c;
        }
        any |= changed;
        if (!s && changed) s = vm_graph_sort(g, err);
    }
    if (s) return s;
    return any ? vm_graph_prune(g, err) : VM_OK;
}
