/* shape: ops that move or describe data without arithmetic — Shape, Size, Reshape, Flatten,
 * Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Gather, Expand, ConstantOfShape, Range.
 *
 * These carry the shape arithmetic of exported graphs (Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape), so every row folds known int64 content, symbolic elements included. Reshape, Flatten,
 * Squeeze and Unsqueeze are views at run time. Slice with a symbolic end on a concrete dim (the
 * position table sliced to the sequence length) assumes the end fits; the runtime checks it when it
 * binds real shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "../autodiff.h"
#include "../ops.h"

#define I64 VM_DTYPE_INT64
#define I32 VM_DTYPE_INT32
#define FOLD_MAX 64

enum vm_status vm_fold_copy(struct vm_graph *g, int32_t n, struct vm_error *err);

static const char *const *symnames(const struct vm_graph *g) { return (const char *const *)g->symbols; }

/* Moves an opset<13 `axes` attribute into an int64 constant input (the opset-13 form). */
static enum vm_status attr_to_input(struct vm_graph *g, int32_t n, const char *name, int input_index,
                                    struct vm_error *err) {
    const struct vm_attr *a = vm_node_attr(g, n, name);
    if (!a) return VM_OK;
    if (a->type != VM_ATTR_INTS) return vm_node_errorf(g, n, err, VM_EFORMAT, "attribute '%s' must be a list of ints", name);
    if (vm_has_in(g, n, input_index))
        return vm_node_errorf(g, n, err, VM_EFORMAT, "%s given both as attribute and input", name);
    int32_t v = vm_graph_fresh_value(g, name, I64, err);
    if (v < 0) return err->code;
    int64_t cnt = a->n;
    int64_t *d = vm_malloc((size_t)(cnt ? cnt : 1) * 8, err);
    if (!d) return VM_ENOMEM;
    memcpy(d, a->ints, (size_t)cnt * 8);
    vm_value_set_shape_ints(&g->values[v], 1, &cnt);
    vm_value_set_data(&g->values[v], d, (size_t)cnt * 8);
    struct vm_node *nd = &g->nodes[n];
    int32_t *in = vm_realloc(nd->in, (size_t)(input_index + 2) * sizeof *in, err);
    if (!in) return VM_ENOMEM;
    nd->in = in;
    for (int k = nd->n_in; k < input_index; k++) nd->in[k] = -1;
    nd->in[input_index] = v;
    if (nd->n_in < input_index + 1) nd->n_in = input_index + 1;
    vm_node_remove_attr(g, n, name);
    return VM_OK;
}

static enum vm_status normalize_axes1(struct vm_graph *g, int32_t n, struct vm_error *err) {
    return attr_to_input(g, n, "axes", 1, err);
}

/* Slice-1 (opset < 10) takes starts/ends/axes as attributes. */
static enum vm_status normalize_slice(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = attr_to_input(g, n, "starts", 1, err);
    if (!s) s = attr_to_input(g, n, "ends", 2, err);
    if (!s) s = attr_to_input(g, n, "axes", 3, err);
    return s;
}

/* ---- Shape, Size ---- */

static enum vm_status infer_shape(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t r = x->rank, start = vm_node_int(g, n, "start", 0), end = vm_node_int(g, n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    if (start < 0) start = 0;
    if (end > r) end = r;
    if (start > r) start = r;
    if (end < start) end = start;
    enum vm_status s = vm_node_set_int(g, n, "start", start, err);
    if (!s) s = vm_node_set_int(g, n, "end", end, err);
    if (s) return s;
    struct vm_dim d = vm_dim_const(end - start);
    vm_set_out(g, n, 0, I64, 1, &d);
    return VM_OK;
}

static enum vm_status fold_shape(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t start = vm_node_int(g, n, "start", 0), end = vm_node_int(g, n, "end", x->rank);
    return vm_value_set_known(vm_out(g, n, 0), x->dims + start, end - start, err);
}

static enum vm_status infer_size(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    vm_set_out(g, n, 0, I64, 0, NULL);
    return VM_OK;
}

static enum vm_status fold_size(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    struct vm_dim p = vm_dim_const(1);
    for (int i = 0; i < x->rank; i++)
        if (vm_dim_mul(&p, &p, &x->dims[i])) return VM_OK;
    return vm_value_set_known(vm_out(g, n, 0), &p, 1, err);
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze (views) ---- */

static bool numel_dim(const struct vm_value *x, struct vm_dim *out) {
    struct vm_dim p = vm_dim_const(1);
    for (int i = 0; i < x->rank; i++)
        if (vm_dim_mul(&p, &p, &x->dims[i])) return false;
    *out = p;
    return true;
}

static enum vm_status infer_reshape(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    struct vm_dim shape[VM_MAX_RANK];
    int64_t r;
    enum vm_status s = vm_check_dtype(g, n, 1, err, I64, 0);
    if (s) return s;
    if (!vm_known_input(g, n, 1, shape, VM_MAX_RANK, &r))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "target shape has more than %d dims or is not known", VM_MAX_RANK);
    bool allowzero = vm_node_int(g, n, "allowzero", 0) != 0;
    if ((s = vm_node_set_int(g, n, "allowzero", allowzero, err))) return s;
    int infer_at = -1;
    struct vm_dim known = vm_dim_const(1);
    for (int i = 0; i < r; i++) {
        if (vm_dim_is_const_eq(&shape[i], 0) && !allowzero) {
            if (i >= x->rank) return vm_node_errorf(g, n, err, VM_EINVAL, "target dim %d is 0 (copy) but the input has rank %d", i, x->rank);
            shape[i] = x->dims[i];
        }
        if (vm_dim_is_const_eq(&shape[i], -1)) {
            if (infer_at >= 0) return vm_node_errorf(g, n, err, VM_EINVAL, "target shape has more than one -1");
            infer_at = i;
            continue;
        }
        if (vm_dim_is_const(&shape[i]) && vm_dim_value(&shape[i]) < 0)
            return vm_node_errorf(g, n, err, VM_EINVAL, "target dim %d is negative", i);
        if (vm_dim_mul(&known, &known, &shape[i])) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "target shape too complex");
    }
    struct vm_dim total;
    if (!numel_dim(x, &total)) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "input shape too complex");
    char a[128], b[128];
    if (infer_at >= 0) {
        if (vm_dim_div(&shape[infer_at], &total, &known))
            return vm_node_errorf(g, n, err, VM_EINVAL, "cannot reshape %s elements into a multiple of %s",
                                  vm_dim_str(&total, symnames(g), a, sizeof a), vm_dim_str(&known, symnames(g), b, sizeof b));
    } else if (!vm_dim_eq(&total, &known)) {
        return vm_node_errorf(g, n, err, VM_EINVAL, "cannot reshape %s elements into %s",
                              vm_dim_str(&total, symnames(g), a, sizeof a), vm_dim_str(&known, symnames(g), b, sizeof b));
    }
    vm_set_out(g, n, 0, x->dtype, (int)r, shape);
    return VM_OK;
}

static enum vm_status infer_flatten(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t axis = vm_node_int(g, n, "axis", 1);
    if (axis < -x->rank || axis > x->rank) return vm_node_errorf(g, n, err, VM_EINVAL, "axis %lld out of range", (long long)axis);
    if (axis < 0) axis += x->rank;
    enum vm_status s = vm_node_set_int(g, n, "axis", axis, err);
    if (s) return s;
    struct vm_dim d[2] = {vm_dim_const(1), vm_dim_const(1)};
    for (int i = 0; i < x->rank; i++)
        if (vm_dim_mul(&d[i >= axis], &d[i >= axis], &x->dims[i])) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "shape too complex");
    vm_set_out(g, n, 0, x->dtype, 2, d);
    return VM_OK;
}

static enum vm_status infer_squeeze(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    bool drop[VM_MAX_RANK] = {false};
    if (vm_has_in(g, n, 1)) {
        int64_t axes[VM_MAX_RANK], na;
        if (!vm_known_input_ints(g, n, 1, axes, VM_MAX_RANK, &na))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "axes must be constant");
        for (int64_t i = 0; i < na; i++) {
            enum vm_status s = vm_norm_axis(g, n, &axes[i], x->rank, err);
            if (s) return s;
            if (!vm_dim_is_const_eq(&x->dims[axes[i]], 1)) {
                char b[128];
                return vm_node_errorf(g, n, err, VM_EINVAL, "cannot squeeze axis %lld of size %s", (long long)axes[i],
                                      vm_dim_str(&x->dims[axes[i]], symnames(g), b, sizeof b));
            }
            drop[axes[i]] = true;
        }
    } else {
        for (int i = 0; i < x->rank; i++) drop[i] = vm_dim_is_const_eq(&x->dims[i], 1);
    }
    struct vm_dim d[VM_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i]) d[r++] = x->dims[i];
    vm_set_out(g, n, 0, x->dtype, r, d);
    return VM_OK;
}

static enum vm_status infer_unsqueeze(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t axes[VM_MAX_RANK], na;
    if (!vm_has_in(g, n, 1)) return vm_node_errorf(g, n, err, VM_EFORMAT, "axes are required");
    if (!vm_known_input_ints(g, n, 1, axes, VM_MAX_RANK, &na))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "axes must be constant");
    int r = x->rank + (int)na;
    if (r > VM_MAX_RANK) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "result rank %d exceeds %d", r, VM_MAX_RANK);
    bool ins[VM_MAX_RANK] = {false};
    for (int64_t i = 0; i < na; i++) {
        enum vm_status s = vm_norm_axis(g, n, &axes[i], r, err);
        if (s) return s;
        if (ins[axes[i]]) return vm_node_errorf(g, n, err, VM_EINVAL, "axis %lld repeated", (long long)axes[i]);
        ins[axes[i]] = true;
    }
    struct vm_dim d[VM_MAX_RANK];
    for (int i = 0, k = 0; i < r; i++) d[i] = ins[i] ? vm_dim_const(1) : x->dims[k++];
    vm_set_out(g, n, 0, x->dtype, r, d);
    return VM_OK;
}

/* ---- Transpose ---- */

static enum vm_status infer_transpose(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t perm[VM_MAX_RANK];
    const struct vm_attr *a = vm_node_attr(g, n, "perm");
    if (a) {
        if (a->type != VM_ATTR_INTS || a->n != x->rank)
            return vm_node_errorf(g, n, err, VM_EINVAL, "perm has %d entries for a rank-%d input", a->n, x->rank);
        bool seen[VM_MAX_RANK] = {false};
        for (int i = 0; i < x->rank; i++) {
            perm[i] = a->ints[i];
            enum vm_status s = vm_norm_axis(g, n, &perm[i], x->rank, err);
            if (s) return s;
            if (seen[perm[i]]) return vm_node_errorf(g, n, err, VM_EINVAL, "perm is not a permutation");
            seen[perm[i]] = true;
        }
    } else {
        for (int i = 0; i < x->rank; i++) perm[i] = x->rank - 1 - i;
    }
    enum vm_status s = vm_node_set_ints(g, n, "perm", perm, x->rank, err);
    if (s) return s;
    struct vm_dim d[VM_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[perm[i]];
    vm_set_out(g, n, 0, x->dtype, x->rank, d);
    return VM_OK;
}

/* Known int content: a copy at rank 1, else permuted (small tensors with constant dims). */
static enum vm_status fold_transpose(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(x) || !vm_dtype_is_int(x->dtype) || y->dtype != I64) return VM_OK;
    if (x->rank == 1) return x->known ? vm_fold_copy(g, n, err) : VM_OK;
    int64_t perm[VM_MAX_RANK], ny = vm_value_numel(y);
    const struct vm_attr *a = vm_node_attr(g, n, "perm");
    if (!a || a->n != x->rank || !vm_value_shape_is_const(x) || ny < 0 || ny > FOLD_MAX) return VM_OK;
    for (int d = 0; d < x->rank; d++) perm[d] = a->ints[d];
    int64_t xs[VM_MAX_RANK], s = 1; /* x's strides */
    for (int d = x->rank - 1; d >= 0; d--) xs[d] = s, s *= vm_dim_value(&x->dims[d]);
    struct vm_dim out[FOLD_MAX];
    for (int64_t k = 0; k < ny; k++) {
        int64_t rem = k, src = 0;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t yd = vm_dim_value(&y->dims[d]);
            src += (rem % yd) * xs[perm[d]];
            rem /= yd;
        }
        if (!vm_value_known_elem(x, src, &out[k])) return VM_OK;
    }
    return vm_value_set_known(y, out, ny, err);
}

/* ---- Concat ---- */

static enum vm_status infer_concat(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_node *nd = &g->nodes[n];
    struct vm_value *x0 = vm_in(g, n, 0);
    const struct vm_attr *a = vm_node_attr(g, n, "axis");
    if (!a) return vm_node_errorf(g, n, err, VM_EFORMAT, "attribute 'axis' is required");
    int64_t axis = a->i;
    enum vm_status s = vm_norm_axis(g, n, &axis, x0->rank, err);
    if (s || (s = vm_node_set_int(g, n, "axis", axis, err))) return s;
    struct vm_dim d[VM_MAX_RANK];
    for (int i = 0; i < x0->rank; i++) d[i] = x0->dims[i];
    for (int32_t k = 1; k < nd->n_in; k++) {
        struct vm_value *xk = vm_in(g, n, k);
        if (!xk) return vm_node_errorf(g, n, err, VM_EFORMAT, "input %d is missing", k);
        if (xk->dtype != x0->dtype || xk->rank != x0->rank)
            return vm_node_errorf(g, n, err, VM_EINVAL, "input %d has type/rank %s/%d, input 0 has %s/%d", k,
                                  vm_dtype_name(xk->dtype), xk->rank, vm_dtype_name(x0->dtype), x0->rank);
        for (int i = 0; i < x0->rank; i++) {
            if (i == axis) {
                if (vm_dim_add(&d[i], &d[i], &xk->dims[i])) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "shape too complex");
            } else if (!vm_dim_eq(&d[i], &xk->dims[i])) {
                char b1[128], b2[128];
                return vm_node_errorf(g, n, err, VM_EINVAL, "input %d has dim %d = %s, input 0 has %s", k, i,
                                      vm_dim_str(&xk->dims[i], symnames(g), b1, sizeof b1), vm_dim_str(&d[i], symnames(g), b2, sizeof b2));
            }
        }
    }
    vm_set_out(g, n, 0, x0->dtype, x0->rank, d);
    return VM_OK;
}

static enum vm_status fold_concat(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_node *nd = &g->nodes[n];
    struct vm_value *y = vm_out(g, n, 0);
    if (y->rank != 1 || !vm_dtype_is_int(y->dtype)) return VM_OK;
    struct vm_dim out[FOLD_MAX];
    int64_t total = 0;
    for (int32_t k = 0; k < nd->n_in; k++) {
        int64_t cnt;
        if (!vm_known_input(g, n, k, out + total, FOLD_MAX - total, &cnt)) return VM_OK;
        total += cnt;
    }
    if (y->dtype == I64) return vm_value_set_known(y, out, total, err);
    for (int64_t i = 0; i < total; i++)
        if (!vm_dim_is_const(&out[i])) return VM_OK;
    int32_t *d = vm_malloc((size_t)(total ? total : 1) * 4, err);
    if (!d) return VM_ENOMEM;
    for (int64_t i = 0; i < total; i++) d[i] = (int32_t)vm_dim_value(&out[i]);
    vm_value_set_data(y, d, (size_t)total * 4);
    return VM_OK;
}

/* ---- Split ---- */

static enum vm_status infer_split(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_node *nd = &g->nodes[n];
    struct vm_value *x = vm_in(g, n, 0);
    int64_t axis = vm_node_int(g, n, "axis", 0);
    enum vm_status s = vm_norm_axis(g, n, &axis, x->rank, err);
    if (s || (s = vm_node_set_int(g, n, "axis", axis, err))) return s;
    int64_t parts[VM_OP_VARIADIC], np = nd->n_out;
    const struct vm_attr *a = vm_node_attr(g, n, "split");
    bool given = false;
    if (vm_has_in(g, n, 1)) {
        if (!vm_known_input_ints(g, n, 1, parts, VM_OP_VARIADIC, &np))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "split sizes must be constant");
        given = true;
    } else if (a) {
        if (a->type != VM_ATTR_INTS || a->n > VM_OP_VARIADIC) return vm_node_errorf(g, n, err, VM_EFORMAT, "bad 'split'");
        np = a->n;
        for (int i = 0; i < a->n; i++) parts[i] = a->ints[i];
        given = true;
    }
    if (np != nd->n_out) return vm_node_errorf(g, n, err, VM_EINVAL, "%lld split sizes for %d outputs", (long long)np, nd->n_out);
    struct vm_dim d[VM_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
    if (!given) {
        if (!vm_dim_is_const(&x->dims[axis]))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "equal split of a symbolic dimension");
        int64_t len = vm_dim_value(&x->dims[axis]);
        if (len % np) return vm_node_errorf(g, n, err, VM_EINVAL, "dimension %lld does not split into %lld equal parts", (long long)len, (long long)np);
        for (int64_t i = 0; i < np; i++) parts[i] = len / np;
    } else {
        int64_t sum = 0;
        for (int64_t i = 0; i < np; i++) sum += parts[i];
        struct vm_dim sd = vm_dim_const(sum);
        if (!vm_dim_eq(&sd, &x->dims[axis]))
            return vm_node_errorf(g, n, err, VM_EINVAL, "split sizes sum to %lld, not the axis length", (long long)sum);
    }
    if ((s = vm_node_set_ints(g, n, "split", parts, (int32_t)np, err))) return s;
    for (int32_t k = 0; k < nd->n_out; k++) {
        d[axis] = vm_dim_const(parts[k]);
        vm_set_out(g, n, k, x->dtype, x->rank, d);
    }
    return VM_OK;
}

/* ---- Slice ---- */

static bool is_big(const struct vm_dim *d, bool positive) {
    if (!vm_dim_is_const(d)) return false;
    int64_t v = vm_dim_value(d);
    return positive ? v >= (INT64_MAX / 4) : v <= (INT64_MIN / 4);
}

static enum vm_status infer_slice(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    struct vm_dim starts[VM_MAX_RANK], ends[VM_MAX_RANK], sdim[VM_MAX_RANK];
    int64_t ns, ne, axes[VM_MAX_RANK], steps[VM_MAX_RANK], na, nst;
    if (!vm_known_input(g, n, 1, starts, VM_MAX_RANK, &ns) || !vm_known_input(g, n, 2, ends, VM_MAX_RANK, &ne))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "starts and ends must be known");
    if (ns != ne) return vm_node_errorf(g, n, err, VM_EINVAL, "starts has %lld entries, ends %lld", (long long)ns, (long long)ne);
    if (vm_has_in(g, n, 3)) {
        if (!vm_known_input_ints(g, n, 3, axes, VM_MAX_RANK, &na) || na != ns)
            return vm_node_errorf(g, n, err, VM_EINVAL, "axes must be constant with one entry per start");
    } else {
        na = ns;
        for (int64_t i = 0; i < ns; i++) axes[i] = i;
    }
    if (vm_has_in(g, n, 4)) {
        if (!vm_known_input_ints(g, n, 4, steps, VM_MAX_RANK, &nst) || nst != ns)
            return vm_node_errorf(g, n, err, VM_EINVAL, "steps must be constant with one entry per start");
    } else {
        for (int64_t i = 0; i < ns; i++) steps[i] = 1;
    }
    for (int i = 0; i < x->rank; i++) sdim[i] = x->dims[i];
    bool used[VM_MAX_RANK] = {false};
    for (int64_t i = 0; i < na; i++) {
        enum vm_status s = vm_norm_axis(g, n, &axes[i], x->rank, err);
        if (s) return s;
        if (used[axes[i]]) return vm_node_errorf(g, n, err, VM_EINVAL, "axis %lld repeated", (long long)axes[i]);
        used[axes[i]] = true;
        if (steps[i] == 0) return vm_node_errorf(g, n, err, VM_EINVAL, "step 0");
        struct vm_dim dim = x->dims[axes[i]], st = starts[i], en = ends[i];
        bool all_const = vm_dim_is_const(&dim) && vm_dim_is_const(&st) && vm_dim_is_const(&en);
        if (all_const) {
            /* the ONNX clamping rules, exactly */
            int64_t D = vm_dim_value(&dim), a = vm_dim_value(&st), b = vm_dim_value(&en), step = steps[i];
            if (a < 0) a += D;
            if (b < 0) b += D;
            if (step > 0) {
                a = a < 0 ? 0 : a > D ? D : a;
                b = b < 0 ? 0 : b > D ? D : b;
                sdim[axes[i]] = vm_dim_const(b > a ? (b - a + step - 1) / step : 0);
            } else {
                a = a < 0 ? 0 : a > D - 1 ? D - 1 : a;
                b = b < -1 ? -1 : b > D - 1 ? D - 1 : b;
                sdim[axes[i]] = vm_dim_const(a > b ? (a - b - step - 1) / (-step) : 0);
            }
            continue;
        }
        if (steps[i] != 1)
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "a step other than 1 on a symbolic dimension");
        /* symbolic: normalize negative constants against dim; "to the end" sentinels become dim */
        struct vm_dim a = st, b = en;
        if (vm_dim_is_const(&a) && vm_dim_value(&a) < 0 && vm_dim_add(&a, &a, &dim)) goto too_complex;
        if (is_big(&b, true)) b = dim;
        else if (vm_dim_is_const(&b) && vm_dim_value(&b) < 0 && !is_big(&b, false) && vm_dim_add(&b, &b, &dim)) goto too_complex;
        if (vm_dim_sub(&sdim[axes[i]], &b, &a)) goto too_complex;
        if (vm_dim_sign(&sdim[axes[i]]) < 0) sdim[axes[i]] = vm_dim_const(0);
        continue;
    too_complex:
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "slice bounds on a symbolic dimension are too complex");
    }
    vm_set_out(g, n, 0, x->dtype, x->rank, sdim);
    return VM_OK;
}

/* Known int content of any rank with constant dims (torch's F.pad export reverses a [rank, 2]
 * pads table with a step -1 Slice): each output element's source, by the ONNX clamping rules. */
static enum vm_status fold_slice(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(x) || !vm_dtype_is_int(x->dtype) || y->dtype != I64 || !vm_value_shape_is_const(x) ||
        !vm_value_shape_is_const(y))
        return VM_OK;
    int r = x->rank;
    int64_t starts[VM_MAX_RANK], ends[VM_MAX_RANK], axes[VM_MAX_RANK], steps[VM_MAX_RANK], ns, cnt;
    if (!vm_known_input_ints(g, n, 1, starts, VM_MAX_RANK, &ns) || !vm_known_input_ints(g, n, 2, ends, VM_MAX_RANK, &cnt) || cnt != ns)
        return VM_OK;
    for (int64_t i = 0; i < ns; i++) axes[i] = i, steps[i] = 1;
    if (vm_has_in(g, n, 3) && (!vm_known_input_ints(g, n, 3, axes, VM_MAX_RANK, &cnt) || cnt != ns)) return VM_OK;
    if (vm_has_in(g, n, 4) && (!vm_known_input_ints(g, n, 4, steps, VM_MAX_RANK, &cnt) || cnt != ns)) return VM_OK;
    int64_t first[VM_MAX_RANK], step[VM_MAX_RANK], xd[VM_MAX_RANK];
    for (int d = 0; d < r; d++) first[d] = 0, step[d] = 1, xd[d] = vm_dim_value(&x->dims[d]);
    for (int64_t i = 0; i < ns; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
        if (ax < 0 || ax >= r || steps[i] == 0) return VM_OK;
        int64_t D = xd[ax], a = starts[i];
        if (a < 0) a += D;
        a = steps[i] > 0 ? (a < 0 ? 0 : a > D ? D : a) : (a < 0 ? 0 : a > D - 1 ? D - 1 : a);
        first[ax] = a;
        step[ax] = steps[i];
    }
    int64_t ny = vm_value_numel(y);
    if (ny < 0 || ny > FOLD_MAX) return VM_OK;
    struct vm_dim out[FOLD_MAX];
    for (int64_t k = 0; k < ny; k++) {
        int64_t rem = k, src = 0, stride = 1;
        for (int d = r - 1; d >= 0; d--) {
            int64_t yd = vm_dim_value(&y->dims[d]), o = rem % yd;
            rem /= yd;
            src += (first[d] + o * step[d]) * stride;
            stride *= xd[d];
        }
        if (!vm_value_known_elem(x, src, &out[k])) return VM_OK;
    }
    return vm_value_set_known(y, out, ny, err);
}

/* ---- Gather ---- */

static enum vm_status infer_gather(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *idx = vm_in(g, n, 1);
    enum vm_status s = vm_check_dtype(g, n, 1, err, I64, I32, 0);
    if (s) return s;
    int64_t axis = vm_node_int(g, n, "axis", 0);
    if (x->rank == 0) return vm_node_errorf(g, n, err, VM_EINVAL, "data must have rank >= 1");
    if ((s = vm_norm_axis(g, n, &axis, x->rank, err)) || (s = vm_node_set_int(g, n, "axis", axis, err))) return s;
    int r = x->rank - 1 + idx->rank;
    if (r > VM_MAX_RANK) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "result rank %d exceeds %d", r, VM_MAX_RANK);
    struct vm_dim d[VM_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++) d[k++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++) d[k++] = idx->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++) d[k++] = x->dims[i];
    /* constant indices into a constant-size axis are checked now; the rest at run time */
    if (idx->data && vm_dim_is_const(&x->dims[axis])) {
        int64_t len = vm_dim_value(&x->dims[axis]), cnt = vm_value_numel(idx);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = vm_value_data_i64(idx, i);
            if (v < -len || v >= len)
                return vm_node_errorf(g, n, err, VM_EINVAL, "index %lld is out of range for an axis of length %lld", (long long)v, (long long)len);
        }
    }
    vm_set_out(g, n, 0, x->dtype, r, d);
    return VM_OK;
}

static enum vm_status fold_gather(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *idx = vm_in(g, n, 1), *y = vm_out(g, n, 0);
    if (x->rank != 1 || !x->known || !idx->data) return VM_OK;
    int64_t cnt = vm_value_numel(idx);
    if (cnt < 0 || cnt > FOLD_MAX) return VM_OK;
    struct vm_dim out[FOLD_MAX];
    for (int64_t i = 0; i < cnt; i++) {
        int64_t v = vm_value_data_i64(idx, i);
        if (v < 0) v += x->n_known;
        if (!vm_value_known_elem(x, v, &out[i])) return VM_OK;
    }
    return vm_value_set_known(y, out, cnt, err);
}

/* ---- Expand, ConstantOfShape, Range ---- */

static enum vm_status infer_expand(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    struct vm_dim shape[VM_MAX_RANK], d[VM_MAX_RANK];
    int64_t r;
    enum vm_status s = vm_check_dtype(g, n, 1, err, I64, 0);
    if (s) return s;
    if (!vm_known_input(g, n, 1, shape, VM_MAX_RANK, &r))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "shape must be known (at most %d dims)", VM_MAX_RANK);
    int rank;
    if ((s = vm_broadcast(g, n, x->rank, x->dims, (int)r, shape, &rank, d, err))) return s;
    vm_set_out(g, n, 0, x->dtype, rank, d);
    return VM_OK;
}

static enum vm_status fold_expand(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!x->known || vm_value_numel(x) != 1) return VM_OK;
    int64_t cnt = vm_value_numel(y);
    if (cnt < 0 || cnt > FOLD_MAX) return VM_OK;
    struct vm_dim out[FOLD_MAX];
    for (int64_t i = 0; i < cnt; i++) out[i] = x->known[0];
    return vm_value_set_known(y, out, cnt, err);
}

static enum vm_status infer_constant_of_shape(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_dim shape[VM_MAX_RANK];
    int64_t r;
    if (!vm_known_input(g, n, 0, shape, VM_MAX_RANK, &r))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "shape must be known (at most %d dims)", VM_MAX_RANK);
    for (int64_t i = 0; i < r; i++)
        if (vm_dim_is_const(&shape[i]) && vm_dim_value(&shape[i]) < 0)
            return vm_node_errorf(g, n, err, VM_EINVAL, "negative dimension in shape");
    int32_t dt = (int32_t)vm_node_int(g, n, "value_dtype", VM_DTYPE_FLOAT);
    double v = vm_node_float(g, n, "value", 0.0);
    enum vm_status s = vm_node_set_float(g, n, "value", v, err);
    if (!s) s = vm_node_set_int(g, n, "value_dtype", dt, err);
    if (s) return s;
    if (vm_dtype_size(dt) == 0) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "value type %s", vm_dtype_name(dt));
    vm_set_out(g, n, 0, dt, (int)r, shape);
    return VM_OK;
}

static enum vm_status fold_constant_of_shape(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *y = vm_out(g, n, 0);
    int64_t cnt = vm_value_numel(y);
    if (cnt < 0 || cnt > FOLD_MAX) return VM_OK;
    double v = vm_node_float(g, n, "value", 0.0);
    size_t es = vm_dtype_size(y->dtype);
    uint8_t *d = vm_calloc((size_t)(cnt ? cnt : 1), es, err);
    if (!d) return VM_ENOMEM;
    for (int64_t i = 0; i < cnt; i++) {
        switch (y->dtype) {
        case VM_DTYPE_FLOAT: { float f = (float)v; memcpy(d + 4 * i, &f, 4); break; }
        case VM_DTYPE_DOUBLE: memcpy(d + 8 * i, &v, 8); break;
        case I64: { int64_t x = (int64_t)v; memcpy(d + 8 * i, &x, 8); break; }
        case I32: { int32_t x = (int32_t)v; memcpy(d + 4 * i, &x, 4); break; }
        case VM_DTYPE_BOOL: case VM_DTYPE_UINT8: d[i] = (uint8_t)v; break;
        default: free(d); return VM_OK;
        }
    }
    vm_value_set_data(y, d, (size_t)cnt * es);
    return VM_OK;
}

static enum vm_status infer_range(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *st = vm_in(g, n, 0);
    struct vm_dim a, b, c;
    for (int i = 0; i < 3; i++) {
        struct vm_value *v = vm_in(g, n, i);
        if (v->rank != 0 || v->dtype != st->dtype)
            return vm_node_errorf(g, n, err, VM_EINVAL, "start, limit and delta must be scalars of one type");
    }
    if (vm_dtype_is_int(st->dtype)) {
        int64_t cnt;
        if (!vm_known_input(g, n, 0, &a, 1, &cnt) || !vm_known_input(g, n, 1, &b, 1, &cnt) || !vm_known_input(g, n, 2, &c, 1, &cnt))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "start, limit and delta must be known");
        if (!vm_dim_is_const(&c) || vm_dim_value(&c) == 0)
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "delta must be a non-zero constant");
        int64_t delta = vm_dim_value(&c);
        struct vm_dim len;
        if (vm_dim_sub(&len, &b, &a)) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "bounds too complex");
        if (vm_dim_is_const(&len)) {
            int64_t L = vm_dim_value(&len), k = delta > 0 ? (L + delta - 1) / delta : (L + delta + 1) / delta;
            len = vm_dim_const(k > 0 ? k : 0);
        } else if (delta != 1 || vm_dim_sign(&len) < 0) {
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "a symbolic range needs delta 1");
        }
        vm_set_out(g, n, 0, st->dtype, 1, &len);
        return VM_OK;
    }
    struct vm_value *lim = vm_in(g, n, 1), *del = vm_in(g, n, 2);
    if (!st->data || !lim->data || !del->data)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "start, limit and delta must be known");
    double x0 = vm_value_data_f64(st, 0), x1 = vm_value_data_f64(lim, 0), dx = vm_value_data_f64(del, 0);
    if (dx == 0) return vm_node_errorf(g, n, err, VM_EINVAL, "delta is 0");
    double k = (x1 - x0) / dx;
    int64_t cnt = k > 0 ? (int64_t)k + ((double)(int64_t)k < k) : 0;
    struct vm_dim len = vm_dim_const(cnt);
    vm_set_out(g, n, 0, st->dtype, 1, &len);
    return VM_OK;
}

static enum vm_status fold_range(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *y = vm_out(g, n, 0);
    if (y->dtype != I64 && y->dtype != I32) return VM_OK;
    int64_t cnt = vm_value_numel(y), one;
    struct vm_dim a, c;
    if (cnt < 0 || cnt > FOLD_MAX) return VM_OK;
    if (!vm_known_input(g, n, 0, &a, 1, &one) || !vm_known_input(g, n, 2, &c, 1, &one)) return VM_OK;
    struct vm_dim out[FOLD_MAX];
    for (int64_t i = 0; i < cnt; i++) {
        struct vm_dim step = vm_dim_const(i * vm_dim_value(&c));
        if (vm_dim_add(&out[i], &a, &step)) return VM_OK;
    }
    if (y->dtype == I64) return vm_value_set_known(y, out, cnt, err);
    return VM_OK;
}


/* ---- gradients ---- */

/* Views: the gradient is dy under the input's shape. */
static enum vm_status grad_view(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    GIVE(0, vm_ad_reshape_like(ad, dy, g->nodes[n].in[0]));
    return VM_OK;
}

static enum vm_status grad_transpose(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    const struct vm_attr *a = vm_node_attr(g, n, "perm");
    int64_t inv[VM_MAX_RANK];
    for (int i = 0; i < a->n; i++) inv[a->ints[i]] = i;
    int rank = a->n, out;
    int32_t id = vm_ad_begin(ad, "Transpose", 1, &dy, 1, &out);
    if (id < 0 || vm_node_set_ints(g, id, "perm", inv, rank, err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

/* Slice of dy along `axis` from `start` for `len` elements (dims may be symbolic). */
static int32_t slice_axis(struct vm_autodiff *ad, int32_t dy, int64_t axis, struct vm_dim start, struct vm_dim len) {
    struct vm_dim end;
    if (vm_dim_add(&end, &start, &len)) {
        vm_errorf(vm_ad_err(ad), VM_EUNSUPPORTED, "gradient of Concat: offsets too complex");
        return -1;
    }
    struct vm_dim ax = vm_dim_const(axis);
    int32_t in[4] = {dy, vm_ad_const_dims(ad, &start, 1), vm_ad_const_dims(ad, &end, 1), vm_ad_const_dims(ad, &ax, 1)};
    if (in[1] < 0 || in[2] < 0 || in[3] < 0) return -1;
    return vm_ad_op(ad, "Slice", 4, in);
}

static enum vm_status grad_concat(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    int64_t axis = vm_node_int(g, n, "axis", 0);
    struct vm_dim off = vm_dim_const(0);
    for (int32_t k = 0; k < g->nodes[n].n_in; k++) {
        struct vm_dim len = g->values[g->nodes[n].in[k]].dims[axis];
        if (vm_ad_wants(ad, n, k)) GIVE(k, slice_axis(ad, dy, axis, off, len));
        if (vm_dim_add(&off, &off, &len)) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "offsets too complex");
    }
    return VM_OK;
}

static enum vm_status grad_split(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t n_out = g->nodes[n].n_out;
    int32_t parts[VM_OP_VARIADIC];
    bool any = false;
    for (int32_t k = 0; k < n_out; k++) {
        parts[k] = vm_ad_dy(ad, n, k);
        any |= parts[k] >= 0;
    }
    if (!any) return VM_OK;
    for (int32_t k = 0; k < n_out; k++) {
        if (parts[k] >= 0) continue;
        int32_t shape = vm_ad_shape_of(ad, g->nodes[n].out[k]), z;
        int32_t id = vm_ad_begin(ad, "ConstantOfShape", 1, &shape, 1, &z);
        if (id < 0 || vm_node_set_float(g, id, "value", 0.0, err) || vm_ad_end(ad, id)) return err->code;
        parts[k] = z;
    }
    int32_t out;
    int32_t id = vm_ad_begin(ad, "Concat", n_out, parts, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "axis", vm_node_int(g, n, "axis", 0), err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

static enum vm_status grad_slice(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    const struct vm_node *nd = &g->nodes[n];
    int32_t in[6] = {dy, vm_ad_shape_of(ad, nd->in[0]), nd->in[1], nd->in[2], nd->n_in > 3 ? nd->in[3] : -1, nd->n_in > 4 ? nd->in[4] : -1};
    GIVE(0, vm_ad_op(ad, "SliceGrad", 6, in));
    return VM_OK;
}

static enum vm_status grad_gather(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    int32_t in[3] = {dy, g->nodes[n].in[1], vm_ad_shape_of(ad, g->nodes[n].in[0])}, out;
    int32_t id = vm_ad_begin(ad, "GatherGrad", 3, in, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "axis", vm_node_int(g, n, "axis", 0), err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

static enum vm_status grad_expand(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    GIVE(0, dy); /* the driver sums the broadcast axes back to the input's shape */
    return VM_OK;
}

/* SliceGrad(dy, xshape, starts, ends, axes?, steps?): zeros of xshape with dy written where the
 * forward Slice read. */
static enum vm_status infer_slice_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_dim shape[VM_MAX_RANK];
    int64_t r;
    if (!vm_known_input(g, n, 1, shape, VM_MAX_RANK, &r)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "shape not known");
    vm_set_out(g, n, 0, vm_in(g, n, 0)->dtype, (int)r, shape);
    return VM_OK;
}

/* GatherGrad(dy, indices, xshape): zeros of xshape, dy rows scatter-added at the indices. */
static enum vm_status infer_gather_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_dim shape[VM_MAX_RANK];
    int64_t r;
    if (!vm_known_input(g, n, 2, shape, VM_MAX_RANK, &r)) return vm_node_errorf(g, n, err, VM_EINTERNAL, "shape not known");
    vm_set_out(g, n, 0, vm_in(g, n, 0)->dtype, (int)r, shape);
    return VM_OK;
}

#define END {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL}

/* Pad(x, pads, constant_value?) — Pad-2 with attributes pads/value — modes constant, edge and
 * reflect. pads must be constant; they end up in the attribute `pads` (begins then ends, one per
 * dim; negative crops). A constant_value input stays an input (the kernel reads it). */
static enum vm_status infer_pad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    int64_t pads[2 * VM_MAX_RANK], np = -1;
    if (vm_has_in(g, n, 3)) return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "the axes input (Pad-18) is not supported");
    if (vm_has_in(g, n, 1)) {
        if (!vm_known_input_ints(g, n, 1, pads, 2 * VM_MAX_RANK, &np))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "pads must be constant");
    } else {
        const struct vm_attr *a = vm_node_attr(g, n, "pads");
        if (!a || a->type != VM_ATTR_INTS || a->n > 2 * VM_MAX_RANK) return vm_node_errorf(g, n, err, VM_EFORMAT, "pads missing");
        np = a->n;
        for (int i = 0; i < a->n; i++) pads[i] = a->ints[i];
    }
    if (np != 2 * x->rank)
        return vm_node_errorf(g, n, err, VM_EINVAL, "pads has %lld values; input '%s' of rank %d needs %d", (long long)np, x->name,
                              x->rank, 2 * x->rank);
    const char *mode = vm_node_string(g, n, "mode", "constant");
    if (strcmp(mode, "constant") && strcmp(mode, "edge") && strcmp(mode, "reflect"))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "mode '%s' (constant, edge and reflect are supported)", mode);
    struct vm_value *cv = vm_in(g, n, 2);
    if (cv && (cv->dtype != x->dtype || vm_value_numel(cv) > 1))
        return vm_node_errorf(g, n, err, VM_EINVAL, "constant_value '%s' must be one %s value", cv->name, vm_dtype_name(x->dtype));
    struct vm_dim d[VM_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        struct vm_dim t, pb = vm_dim_const(pads[i]), pe = vm_dim_const(pads[i + x->rank]);
        enum vm_status s;
        if ((s = vm_dim_binop(&t, &x->dims[i], &pb, '+')) || (s = vm_dim_binop(&d[i], &t, &pe, '+'))) return s;
        if (vm_dim_is_const(&d[i]) && vm_dim_value(&d[i]) < 0)
            return vm_node_errorf(g, n, err, VM_EINVAL, "pads crop dim %d below zero", i);
        if (strcmp(mode, "constant") && (pads[i] < 0 || pads[i + x->rank] < 0))
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "negative pads in mode '%s'", mode);
    }
    enum vm_status s = vm_node_set_ints(g, n, "pads", pads, (int32_t)np, err);
    if (!s && !vm_node_attr(g, n, "mode")) s = vm_node_set_string(g, n, "mode", "constant", err);
    if (s) return s;
    vm_set_out(g, n, 0, x->dtype, x->rank, d);
    return VM_OK;
}

/* Constant padding's gradient is the inverse crop: dy padded by the negated pads. */
static enum vm_status grad_pad(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0 || !vm_ad_wants(ad, n, 0)) return VM_OK;
    if (strcmp(vm_node_string(g, n, "mode", "constant"), "constant"))
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "no gradient rule for mode '%s'", vm_node_string(g, n, "mode", ""));
    const struct vm_attr *a = vm_node_attr(g, n, "pads");
    int64_t neg[2 * VM_MAX_RANK];
    for (int i = 0; i < a->n; i++) neg[i] = -a->ints[i];
    int32_t out;
    int32_t id = vm_ad_begin(ad, "Pad", 1, &dy, 1, &out);
    if (id < 0 || vm_node_set_ints(g, id, "pads", neg, a->n, err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

/* Trilu(x, k?): keeps the lower (upper = 0) or upper (upper = 1, the default) triangle of the last
 * two dims, from diagonal k, zeroing the rest; a causal attention mask is built with it. A known k
 * is copied into the attribute `k`; otherwise the kernel reads it at run time. */
static enum vm_status infer_trilu(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0);
    if (x->rank < 2) return vm_node_errorf(g, n, err, VM_EINVAL, "input '%s' has rank %d; Trilu needs 2 or more", x->name, x->rank);
    int64_t k = 0, nk;
    enum vm_status s = VM_OK;
    if (vm_has_in(g, n, 1) && vm_value_numel(vm_in(g, n, 1)) != 1 && vm_value_numel(vm_in(g, n, 1)) >= 0)
        return vm_node_errorf(g, n, err, VM_EINVAL, "k '%s' must be a scalar", vm_in(g, n, 1)->name);
    if (!vm_has_in(g, n, 1) || (vm_known_input_ints(g, n, 1, &k, 1, &nk) && nk == 1)) s = vm_node_set_int(g, n, "k", k, err);
    if (!s) s = vm_node_set_int(g, n, "upper", vm_node_int(g, n, "upper", 1) != 0, err);
    if (s) return s;
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

/* Trilu is a fixed mask: the gradient is the same Trilu of dy. */
static enum vm_status grad_trilu(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0 || !vm_ad_wants(ad, n, 0)) return VM_OK;
    int32_t in[2] = {dy, vm_has_in(g, n, 1) ? g->nodes[n].in[1] : -1}, out;
    int32_t id = vm_ad_begin(ad, "Trilu", in[1] >= 0 ? 2 : 1, in, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "upper", vm_node_int(g, n, "upper", 1), err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

const struct vm_op_row vm_ops_shape[] = {
    {"Shape", NULL, 1, 1, 1, 1, "start:i end:i", 0, 0x1, VM_OP_NO_GRAD, NULL, infer_shape, fold_shape, NULL},
    {"Size", NULL, 1, 1, 1, 1, "", 0, 0x1, VM_OP_NO_GRAD, NULL, infer_size, fold_size, NULL},
    {"Reshape", NULL, 2, 2, 1, 1, "allowzero:i", 0x2, 0x2, VM_OP_VIEW, NULL, infer_reshape, vm_fold_copy, grad_view},
    {"Flatten", NULL, 1, 1, 1, 1, "axis:i", 0, 0, VM_OP_VIEW, NULL, infer_flatten, vm_fold_copy, grad_view},
    {"Squeeze", NULL, 1, 2, 1, 1, "axes:I", 0x2, 0x2, VM_OP_VIEW, normalize_axes1, infer_squeeze, vm_fold_copy, grad_view},
    {"Unsqueeze", NULL, 1, 2, 1, 1, "axes:I", 0x2, 0x2, VM_OP_VIEW, normalize_axes1, infer_unsqueeze, vm_fold_copy, grad_view},
    {"Transpose", NULL, 1, 1, 1, 1, "perm:I", 0, 0, 0, NULL, infer_transpose, fold_transpose, grad_transpose},
    {"Concat", NULL, 1, VM_OP_VARIADIC, 1, 1, "axis:i!", 0, 0, 0, NULL, infer_concat, fold_concat, grad_concat},
    {"Split", NULL, 1, 2, 1, VM_OP_VARIADIC, "axis:i split:I", 0x2, 0x2, 0, NULL, infer_split, NULL, grad_split},
    {"Slice", NULL, 1, 5, 1, 1, "starts:I ends:I axes:I", 0x1e, 0x1e, 0, normalize_slice, infer_slice, fold_slice, grad_slice},
    {"Gather", NULL, 2, 2, 1, 1, "axis:i", 0, 0x2, 0, NULL, infer_gather, fold_gather, grad_gather},
    {"Expand", NULL, 2, 2, 1, 1, "", 0x2, 0x2, 0, NULL, infer_expand, fold_expand, grad_expand},
    {"Trilu", NULL, 1, 2, 1, 1, "upper:i k:i", 0, 0x2, 0, NULL, infer_trilu, NULL, grad_trilu},
    {"Pad", NULL, 1, 4, 1, 1, "mode:s pads:I value:f", 0x2, 0xe, 0, NULL, infer_pad, NULL, grad_pad},
    {"ConstantOfShape", NULL, 1, 1, 1, 1, "value:t", 0x1, 0x1, VM_OP_NO_GRAD, NULL, infer_constant_of_shape, fold_constant_of_shape, NULL},
    {"Range", NULL, 3, 3, 1, 1, "", 0x7, 0x7, VM_OP_NO_GRAD, NULL, infer_range, fold_range, NULL},
    {"SliceGrad", "vmaskc", 4, 6, 1, 1, "", 0x3e, 0x3e, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_slice_grad, NULL, NULL},
    {"GatherGrad", "vmaskc", 3, 3, 1, 1, "axis:i", 0x4, 0x6, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_gather_grad, NULL, NULL},
    END,
};
