/* reduce: ReduceMax/Min/Mean/Sum, ArgMax and CumSum. Canonical form after inference: attribute `axes`
 * (sorted, non-negative; all axes when the model gave none), `keepdims` 0/1. ReduceSum-13 takes
 * axes as an input; it must be known and is copied into the attribute. Max-pooling over time in
 * Kim-CNN and mean-pooling over LSTM outputs come through here. */
#include <stdlib.h>
#include <string.h>

#include "../autodiff.h"
#include "../ops.h"

static enum vm_status infer_reduce(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    enum vm_status s = vm_check_dtype(g, n, 0, err, VM_DTYPE_FLOAT, VM_DTYPE_DOUBLE, VM_DTYPE_INT64, VM_DTYPE_INT32, 0);
    if (s) return s;
    int64_t axes[VM_MAX_RANK], na = -1;
    const struct vm_attr *a = vm_node_attr(g, n, "axes");
    /* both: only as this row leaves them (a plan re-checked by vm_plan_verify), the attribute
     * being the input's axes normalized and sorted */
    int64_t both[VM_MAX_RANK];
    int n_both = -1;
    if (vm_has_in(g, n, 1)) {
        if (a) {
            if (a->type != VM_ATTR_INTS || a->n > VM_MAX_RANK)
                return vm_node_errorf(g, n, err, VM_EFORMAT, "axes given both as attribute and input");
            n_both = a->n;
            memcpy(both, a->ints, sizeof(int64_t) * (size_t)a->n);
        }
        if (!vm_known_input_ints(g, n, 1, axes, VM_MAX_RANK, &na))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "axes must be constant");
    } else if (a) {
        if (a->type != VM_ATTR_INTS || a->n > VM_MAX_RANK) return vm_node_errorf(g, n, err, VM_EFORMAT, "bad 'axes'");
        na = a->n;
        for (int i = 0; i < a->n; i++) axes[i] = a->ints[i];
    }
    bool noop = vm_node_int(g, n, "noop_with_empty_axes", 0) != 0;
    bool keep = vm_node_int(g, n, "keepdims", 1) != 0;
    bool red[VM_MAX_RANK] = {false};
    if (na <= 0) {
        na = 0;
        if (!noop)
            for (int i = 0; i < x->rank; i++) axes[na++] = i;
    }
    for (int64_t i = 0; i < na; i++) {
        if ((s = vm_norm_axis(g, n, &axes[i], x->rank, err))) return s;
        if (red[axes[i]]) return vm_node_errorf(g, n, err, VM_EINVAL, "axis %lld repeated", (long long)axes[i]);
        red[axes[i]] = true;
    }
    int64_t sorted[VM_MAX_RANK], k = 0;
    for (int i = 0; i < x->rank; i++)
        if (red[i]) sorted[k++] = i;
    if (n_both >= 0 && (n_both != k || memcmp(both, sorted, sizeof(int64_t) * (size_t)k)))
        return vm_node_errorf(g, n, err, VM_EFORMAT, "axes given both as attribute and input");
    if ((s = vm_node_set_ints(g, n, "axes", sorted, (int32_t)k, err)) || (s = vm_node_set_int(g, n, "keepdims", keep, err)))
        return s;
    vm_node_remove_attr(g, n, "noop_with_empty_axes");
    struct vm_dim d[VM_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i]) d[r++] = x->dims[i];
        else if (keep) d[r++] = vm_dim_const(1);
    }
    vm_set_out(g, n, 0, x->dtype, r, d);
    return VM_OK;
}

static enum vm_status infer_argmax(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    enum vm_status s = vm_check_dtype(g, n, 0, err, VM_DTYPE_FLOAT, VM_DTYPE_DOUBLE, VM_DTYPE_INT64, VM_DTYPE_INT32, 0);
    if (s) return s;
    int64_t axis = vm_node_int(g, n, "axis", 0);
    bool keep = vm_node_int(g, n, "keepdims", 1) != 0;
    bool last = vm_node_int(g, n, "select_last_index", 0) != 0;
    if ((s = vm_norm_axis(g, n, &axis, x->rank, err))) return s;
    if ((s = vm_node_set_int(g, n, "axis", axis, err)) || (s = vm_node_set_int(g, n, "keepdims", keep, err)) ||
        (s = vm_node_set_int(g, n, "select_last_index", last, err)))
        return s;
    struct vm_dim d[VM_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis) d[r++] = x->dims[i];
        else if (keep) d[r++] = vm_dim_const(1);
    }
    vm_set_out(g, n, 0, VM_DTYPE_INT64, r, d);
    return VM_OK;
}


/* ReduceGrad(dy, xshape, x?, y?) attrs axes, keepdims, mode (sum | mean | max): dy broadcast back
 * over the reduced axes; mean divides by the reduced count (known only at run time when symbolic);
 * max sends dy to the positions equal to the maximum, split evenly among ties (torch.amax). */
static enum vm_status grad_reduce(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    const char *op = vm_op_name(g->nodes[n].op);
    const char *mode = !strcmp(op, "ReduceMax") || !strcmp(op, "ReduceMin") ? "max" : !strcmp(op, "ReduceMean") ? "mean" : "sum";
    bool ext = !strcmp(mode, "max");
    int32_t x = g->nodes[n].in[0], y = g->nodes[n].out[0];
    int32_t in[4] = {dy, vm_ad_shape_of(ad, x), ext ? x : -1, ext ? y : -1}, out;
    if (in[1] < 0) return err->code;
    int32_t id = vm_ad_begin(ad, "ReduceGrad", ext ? 4 : 2, in, 1, &out);
    const struct vm_attr *axes = vm_node_attr(g, n, "axes");
    if (id < 0 || vm_node_set_ints(g, id, "axes", axes->ints, axes->n, err) ||
        vm_node_set_int(g, id, "keepdims", vm_node_int(g, n, "keepdims", 1), err) || vm_node_set_string(g, id, "mode", mode, err) ||
        vm_ad_end(ad, id))
        return err->code;
    enum vm_status s = vm_ad_give(ad, n, 0, out);
    return s;
}

static enum vm_status infer_reduce_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_dim shape[VM_MAX_RANK];
    int64_t r;
    if (!vm_known_input(g, n, 1, shape, VM_MAX_RANK, &r)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "shape not known");
    const char *mode = vm_node_string(g, n, "mode", "");
    if (strcmp(mode, "sum") && strcmp(mode, "mean") && strcmp(mode, "max"))
        return vm_node_errorf(g, n, err, VM_EINVAL, "unknown mode '%s'", mode);
    vm_set_out(g, n, 0, vm_in(g, n, 0)->dtype, (int)r, shape);
    return VM_OK;
}

/* CumSum(x, axis): running sums along one axis (exclusive, reverse as attributes). A known axis is
 * copied into the attribute `axis`, normalized; otherwise the kernel reads it at run time. RoBERTa-style models number
 * their positions with it (cumsum of the non-pad mask). */
static enum vm_status infer_cumsum(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    enum vm_status s = vm_check_dtype(g, n, 0, err, VM_DTYPE_FLOAT, VM_DTYPE_DOUBLE, VM_DTYPE_INT64, VM_DTYPE_INT32,
                                      VM_DTYPE_UINT32, VM_DTYPE_UINT64, 0);
    if (s) return s;
    if ((s = vm_check_dtype(g, n, 1, err, VM_DTYPE_INT64, VM_DTYPE_INT32, 0))) return s;
    if (x->rank < 1) return vm_node_errorf(g, n, err, VM_EINVAL, "input '%s' is a scalar; CumSum needs rank 1 or more", x->name);
    int64_t axis, na;
    if (vm_known_input_ints(g, n, 1, &axis, 1, &na) && na == 1 &&
        ((s = vm_norm_axis(g, n, &axis, x->rank, err)) || (s = vm_node_set_int(g, n, "axis", axis, err))))
        return s;
    if ((s = vm_node_set_int(g, n, "exclusive", vm_node_int(g, n, "exclusive", 0) != 0, err)) ||
        (s = vm_node_set_int(g, n, "reverse", vm_node_int(g, n, "reverse", 0) != 0, err)))
        return s;
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

/* The input's gradient is dy summed the other way: CumSum(dy) with reverse flipped, exclusive kept. */
static enum vm_status grad_cumsum(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0 || !vm_ad_wants(ad, n, 0)) return VM_OK;
    int32_t in[2] = {dy, g->nodes[n].in[1]}, out;
    int32_t id = vm_ad_begin(ad, "CumSum", 2, in, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "exclusive", vm_node_int(g, n, "exclusive", 0), err) ||
        vm_node_set_int(g, id, "reverse", !vm_node_int(g, n, "reverse", 0), err) || vm_ad_end(ad, id))
        return err->code;
    GIVE(0, out);
    return VM_OK;
}

#define REDUCE(name, maxin) {name, NULL, 1, maxin, 1, 1, "axes:I keepdims:i noop_with_empty_axes:i", 0x2, 0x2, 0, NULL, infer_reduce, NULL, grad_reduce}

const struct vm_op_row vm_ops_reduce[] = {
    REDUCE("ReduceMax", 1),
    REDUCE("ReduceMin", 1),
    REDUCE("ReduceMean", 1),
    REDUCE("ReduceSum", 2),
    {"CumSum", NULL, 2, 2, 1, 1, "exclusive:i reverse:i axis:i", 0, 0x2, 0, NULL, infer_cumsum, NULL, grad_cumsum},
    {"ArgMax", NULL, 1, 1, 1, 1, "axis:i keepdims:i select_last_index:i", 0, 0, VM_OP_NO_GRAD, NULL, infer_argmax, NULL, NULL},
    {"ReduceGrad", "vmaskc", 2, 4, 1, 1, "axes:I keepdims:i mode:s", 0x2, 0xe, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_reduce_grad, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
