/* infer: the shape/dtype inference driver and the word-embedding finder.
 *
 * Walks the schedule once: checks arity, requires shape-deciding inputs (row->shape_in) to be known
 * at compile time, calls row->infer, checks that every output got a dtype and a rank, then calls
 * row->fold so shape arithmetic (Shape -> Gather -> Concat -> Reshape) becomes known content and
 * the nodes computing it need no run-time step.
 */
#include <stdio.h>
#include <string.h>

#include "compiler.h"
#include "ops.h"

/* Constant folding never amplifies a small file into a large allocation: when every input is known
 * (so the row may fold), an output larger than VM_FOLD_MAX_BYTES and larger than all inputs
 * together is refused with its size, before the fold allocates it. Copies of large initializers
 * (Transpose, Reshape, Cast of a weight) stay allowed. */
#define VM_FOLD_MAX_BYTES ((size_t)64 << 20)

static enum vm_status check_fold_size(struct vm_graph *g, int32_t id, struct vm_error *err) {
    const struct vm_node *n = &g->nodes[id];
    size_t in_bytes = 0;
    for (int32_t k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0) continue;
        const struct vm_value *v = &g->values[n->in[k]];
        if (!vm_value_is_known(v)) return VM_OK;
        in_bytes += v->data ? v->nbytes : (size_t)v->n_known * 8;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) continue;
        const struct vm_value *v = &g->values[n->out[k]];
        if (!vm_value_shape_is_const(v)) continue;
        int64_t cnt = vm_value_numel(v);
        size_t bytes;
        if (cnt >= 0 && !__builtin_mul_overflow((size_t)cnt, vm_dtype_size(v->dtype), &bytes) &&
            (bytes <= VM_FOLD_MAX_BYTES || bytes <= in_bytes))
            continue;
        char b[32], lim[32];
        vm_fmt_bytes(cnt < 0 ? 1e30 : (double)cnt * (double)vm_dtype_size(v->dtype), b, sizeof b);
        vm_fmt_bytes((double)VM_FOLD_MAX_BYTES, lim, sizeof lim);
        return vm_node_errorf(g, id, err, VM_EINVAL,
                              "output '%s' is a constant of %s made from %zu bytes of constant inputs; vmaskc accepts "
                              "at most %s for such constants (a small file must not make a huge allocation)",
                              v->name, b, in_bytes, lim);
    }
    return VM_OK;
}

static enum vm_status infer_node(struct vm_graph *g, int32_t id, struct vm_error *err) {
    struct vm_node *n = &g->nodes[id];
    const struct vm_op_row *row = vm_op_row(n->op);
    enum vm_status s0;
    int present = 0;
    for (int32_t k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0) continue;
        present = k + 1;
        struct vm_value *v = &g->values[n->in[k]];
        if (v->rank < 0)
            return vm_node_errorf(g, id, err, VM_EINTERNAL, "input '%s' has no shape yet", v->name);
        if (vm_dtype_size(v->dtype) == 0)
            return vm_node_errorf(g, id, err, VM_EUNSUPPORTED, "input '%s' has type %s", v->name, vm_dtype_name(v->dtype));
    }
    if (present < row->min_in)
        return vm_node_errorf(g, id, err, VM_EFORMAT, "needs at least %d inputs, has %d", row->min_in, present);
    if ((s0 = vm_node_check_required(g, id, err))) return s0;
    for (int k = 0; k < n->n_in && k < 32; k++) {
        if (!(row->shape_in & (1u << k)) || n->in[k] < 0) continue;
        struct vm_value *v = &g->values[n->in[k]];
        if (!vm_value_is_known(v))
            return vm_node_errorf(g, id, err, VM_EUNSUPPORTED,
                                  "input %d ('%s') decides the output shape but is computed from run-time data; "
                                  "vmaskc needs it to follow from the input shapes (a constant or shape arithmetic)%s",
                                  k, v->name, (v->flags & VM_VALUE_INPUT) ? " — it is a graph input; fix it as a constant" : "");
    }
    enum vm_status s = row->infer(g, id, err);
    if (s) return s;
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) continue;
        struct vm_value *v = &g->values[n->out[k]];
        VM_ASSERT(v->rank >= 0 && v->dtype != VM_DTYPE_UNDEFINED);
    }
    if (row->fold && (s = check_fold_size(g, id, err))) return s;
    if (row->fold && (s = row->fold(g, id, err))) return s;
    return VM_OK;
}

enum vm_status vm_infer_graph(struct vm_graph *g, struct vm_error *err) {
    enum vm_status s = vm_graph_sort(g, err);
    if (s) return s;
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t id = g->order[oi];
        if ((s = infer_node(g, id, err))) return s;
    }
    for (int32_t k = 0; k < g->n_outputs; k++) {
        struct vm_value *v = &g->values[g->outputs[k]];
        if (v->rank < 0) return vm_errorf(err, VM_EINTERNAL, "graph output '%s' has no shape", v->name);
    }
    return VM_OK;
}

int vm_shape_deciding_inputs(const struct vm_graph *g, const char **names, int cap) {
    int cnt = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct vm_node *n = &g->nodes[i];
        if (n->dead) continue;
        const struct vm_op_row *row = vm_op_row(n->op);
        for (int32_t k = 0; k < n->n_in && k < 32; k++) {
            if (!(row->shape_in & (1u << k)) || n->in[k] < 0) continue;
            const struct vm_value *v = &g->values[n->in[k]];
            if (!(v->flags & VM_VALUE_INPUT)) continue;
            bool dup = false;
            for (int j = 0; j < cnt; j++) dup |= strcmp(names[j], v->name) == 0;
            if (!dup && cnt < cap) names[cnt++] = v->name;
        }
    }
    return cnt;
}

enum vm_status vm_find_embedding(const struct vm_graph *g, const char *override, int32_t *node,
                                 struct vm_error *err) {
    *node = -1;
    /* an inference graph's lookup may have been folded into the layer reading it
     * (compiler/pass_gather_fold.c): those nodes also take (table, ids) as inputs 0 and 1 */
    int32_t gather = vm_op_find(NULL, "Gather"), lstm_g = vm_op_find("vmaskc", "LSTMGather"), conv_g = vm_op_find("vmaskc", "ConvGather");
    for (int32_t oi = 0; oi < g->n_order; oi++) {
        int32_t id = g->order[oi];
        const struct vm_node *n = &g->nodes[id];
        if ((n->op != gather && n->op != lstm_g && n->op != conv_g) || n->n_in < 2) continue;
        const struct vm_value *data = &g->values[n->in[0]];
        const struct vm_value *idx = &g->values[n->in[1]];
        if (override) {
            if (strcmp(n->name, override) == 0 || strcmp(data->name, override) == 0) {
                *node = id;
                return VM_OK;
            }
            continue;
        }
        bool is_table = (data->flags & VM_VALUE_INIT) && data->rank == 2 && data->dtype == VM_DTYPE_FLOAT;
        if (is_table && (idx->flags & VM_VALUE_INPUT) && vm_node_int(g, id, "axis", 0) == 0) {
            *node = id;
            return VM_OK;
        }
    }
    if (override)
        return vm_errorf(err, VM_EINVAL, "--embedding %s: no Gather node or initializer of that name feeds a Gather", override);
    return VM_OK;
}

void vm_graph_param_stats(const struct vm_graph *g, int64_t *count, int64_t *bytes) {
    *count = 0;
    *bytes = 0;
    for (int32_t v = 0; v < g->n_values; v++) {
        const struct vm_value *val = &g->values[v];
        if (!(val->flags & VM_VALUE_INIT) || !vm_dtype_is_float(val->dtype)) continue;
        int64_t n = vm_value_numel(val);
        if (n < 0) continue;
        *count += n;
        *bytes += (int64_t)val->nbytes;
    }
}
