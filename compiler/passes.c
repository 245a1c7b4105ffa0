/* passes: inference cleanup (forwarding Identity/Dropout) and dead-node pruning. */
#include "passes.h"

#include "ops.h"

/* Makes the consumers of `out` read `in` instead. A graph output keeps its name: when `out` is a
 * graph output the node stays (as an Identity, which the runtime aliases for free). */
static bool forward_value(struct vm_graph *g, int32_t node, int32_t in, int32_t out) {
    if (g->values[out].flags & VM_VALUE_OUTPUT) return false;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct vm_node *n = &g->nodes[i];
        if (n->dead || i == node) continue;
        for (int32_t k = 0; k < n->n_in; k++)
            if (n->in[k] == out) n->in[k] = in;
    }
    return true;
}

enum vm_status vm_pass_inference_cleanup(struct vm_graph *g, struct vm_error *err) {
    int32_t identity = vm_op_find(NULL, "Identity"), dropout = vm_op_find(NULL, "Dropout");
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t id = g->order[oi];
        struct vm_node *n = &g->nodes[id];
        if (n->op != identity && n->op != dropout) continue;
        if (n->op == dropout && n->n_out > 1 && n->out[1] >= 0 && vm_graph_count_uses(g, n->out[1]) > 0) {
            /* the mask is read: keep the node; at inference it is all ones */
            continue;
        }
        int32_t in = n->in[0], out = n->out[0];
        if (forward_value(g, id, in, out)) {
            n->dead = true;
        } else if (n->op == dropout) {
            n->op = identity;
            n->n_in = 1;
            n->n_out = 1;
            while (n->n_attrs) vm_node_remove_attr(g, id, n->attrs[0].name);
        }
    }
    return vm_graph_prune(g, err);
}

enum vm_status vm_pass_optimize(struct vm_graph *g, struct vm_error *err) {
    enum vm_status s = vm_pass_fuse_norm_gelu(g, err);
    if (!s) s = vm_pass_conv_channels_last(g, err);
    return s;
}
