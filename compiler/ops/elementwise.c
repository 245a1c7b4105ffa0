/* elementwise: unary math, broadcasting binary arithmetic and comparisons, Max/Min/Clip, Where, Cast, Identity
 * and Dropout. Shape rule: numpy broadcasting. Folding handles int64 shape arithmetic (including
 * symbolic elements) so `Shape -> Mul -> Reshape` chains need no run-time step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/act_defaults.h"
#include "../autodiff.h"
#include "../ops.h"

#define F VM_DTYPE_FLOAT
#define D VM_DTYPE_DOUBLE
#define I64 VM_DTYPE_INT64
#define I32 VM_DTYPE_INT32
#define B VM_DTYPE_BOOL

#define VM_FOLD_MAX 64 /* largest int tensor folded at compile time */

static enum vm_status infer_unary_float(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, D, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

static enum vm_status infer_unary_signed(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, D, I64, I32, VM_DTYPE_INT8, VM_DTYPE_INT16, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

static enum vm_status infer_not(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, B, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    vm_set_out(g, n, 0, B, x->rank, x->dims);
    return VM_OK;
}

static enum vm_status infer_identity(struct vm_graph *g, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_value *x = vm_in(g, n, 0);
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

/* Copies known content through ops that do not change values (Identity, Reshape, Squeeze...). */
enum vm_status vm_fold_copy(struct vm_graph *g, int32_t n, struct vm_error *err);
enum vm_status vm_fold_copy(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (x->known) return vm_value_set_known(y, x->known, x->n_known, err);
    if (x->data && !(x->flags & VM_VALUE_PARAM)) {
        void *d = vm_malloc(x->nbytes, err);
        if (!d) return VM_ENOMEM;
        memcpy(d, x->data, x->nbytes);
        vm_value_set_data(y, d, x->nbytes);
    }
    return VM_OK;
}

static bool is_arith(const char *op) {
    return !strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") ||
           !strcmp(op, "Pow");
}

static enum vm_status infer_binary(struct vm_graph *g, int32_t n, struct vm_error *err) {
    const char *op = vm_op_name(g->nodes[n].op);
    struct vm_value *a = vm_in(g, n, 0), *b = vm_in(g, n, 1);
    bool logical = !strcmp(op, "And") || !strcmp(op, "Or") || !strcmp(op, "Xor");
    enum vm_status s;
    if (logical) {
        if ((s = vm_check_dtype(g, n, 0, err, B, 0)) || (s = vm_check_dtype(g, n, 1, err, B, 0))) return s;
    } else if (!strcmp(op, "Pow")) {
        if ((s = vm_check_dtype(g, n, 0, err, F, D, I64, I32, 0)) ||
            (s = vm_check_dtype(g, n, 1, err, F, D, I64, I32, VM_DTYPE_UINT32, VM_DTYPE_UINT64, 0)))
            return s;
    } else {
        if ((s = vm_check_dtype(g, n, 0, err, F, D, I64, I32, VM_DTYPE_INT8, VM_DTYPE_UINT8, VM_DTYPE_INT16,
                                VM_DTYPE_UINT16, VM_DTYPE_UINT32, VM_DTYPE_UINT64, !strcmp(op, "Equal") ? B : 0, 0)))
            return s;
        if (a->dtype != b->dtype)
            return vm_node_errorf(g, n, err, VM_EINVAL, "inputs have different types (%s and %s)", vm_dtype_name(a->dtype),
                                  vm_dtype_name(b->dtype));
    }
    struct vm_dim dims[VM_MAX_RANK];
    int rank;
    if ((s = vm_broadcast(g, n, a->rank, a->dims, b->rank, b->dims, &rank, dims, err))) return s;
    vm_set_out(g, n, 0, is_arith(op) ? a->dtype : B, rank, dims);
    return VM_OK;
}

static enum vm_status infer_where(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *c = vm_in(g, n, 0), *x = vm_in(g, n, 1), *y = vm_in(g, n, 2);
    enum vm_status s = vm_check_dtype(g, n, 0, err, B, 0);
    if (s) return s;
    if (x->dtype != y->dtype)
        return vm_node_errorf(g, n, err, VM_EINVAL, "X and Y have different types (%s and %s)", vm_dtype_name(x->dtype),
                              vm_dtype_name(y->dtype));
    struct vm_dim d1[VM_MAX_RANK], d2[VM_MAX_RANK];
    int r1, r2;
    if ((s = vm_broadcast(g, n, c->rank, c->dims, x->rank, x->dims, &r1, d1, err))) return s;
    if ((s = vm_broadcast(g, n, r1, d1, y->rank, y->dims, &r2, d2, err))) return s;
    vm_set_out(g, n, 0, x->dtype, r2, d2);
    return VM_OK;
}

static enum vm_status infer_cast(struct vm_graph *g, int32_t n, struct vm_error *err) {
    const struct vm_attr *to = vm_node_attr(g, n, "to");
    if (!to || to->type != VM_ATTR_INT) return vm_node_errorf(g, n, err, VM_EFORMAT, "attribute 'to' is required");
    int32_t dt = (int32_t)to->i;
    if (vm_dtype_size(dt) == 0)
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "cast to %s is not supported", vm_dtype_name(dt));
    struct vm_value *x = vm_in(g, n, 0);
    vm_node_remove_attr(g, n, "saturate");
    vm_set_out(g, n, 0, dt, x->rank, x->dims);
    return VM_OK;
}

static enum vm_status infer_dropout(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, D, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    double ratio = vm_node_float(g, n, "ratio", 0.5);
    if (vm_has_in(g, n, 1)) {
        struct vm_value *r = vm_in(g, n, 1);
        if (!r->data || vm_value_numel(r) != 1)
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "the ratio input must be a constant scalar");
        ratio = vm_value_data_f64(r, 0);
    }
    if (vm_has_in(g, n, 2)) {
        struct vm_value *t = vm_in(g, n, 2);
        if (!t->data || vm_value_numel(t) != 1)
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "the training_mode input must be a constant scalar");
    }
    if (ratio < 0 || ratio >= 1) return vm_node_errorf(g, n, err, VM_EINVAL, "ratio %g is outside [0, 1)", ratio);
    if ((s = vm_node_set_float(g, n, "ratio", ratio, err))) return s;
    vm_node_remove_attr(g, n, "seed");
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    if (g->nodes[n].n_out > 1) vm_set_out(g, n, 1, B, x->rank, x->dims);
    return VM_OK;
}

/* ---- folding of int64 shape arithmetic ---- */

/* Index of element `i` of the output in an input of shape in_dims broadcast to out_dims. */
static int64_t bcast_index(int64_t i, int rout, const int64_t *out_dims, int rin, const int64_t *in_dims) {
    int64_t idx = 0, stride = 1;
    for (int d = rout - 1; d >= 0; d--) {
        int64_t c = i % out_dims[d];
        i /= out_dims[d];
        int di = d - (rout - rin);
        if (di >= 0) {
            if (in_dims[di] != 1) idx += c * stride;
            stride *= in_dims[di];
        }
    }
    return idx;
}

static bool const_dims(const struct vm_value *v, int64_t *dims) {
    for (int d = 0; d < v->rank; d++) {
        if (!vm_dim_is_const(&v->dims[d])) return false;
        dims[d] = vm_dim_value(&v->dims[d]);
    }
    return true;
}

/* Compares two dims as values: 1 equal, 0 different, -1 unknown. */
static int dim_equal(const struct vm_dim *a, const struct vm_dim *b) {
    struct vm_dim diff;
    if (vm_dim_sub(&diff, a, b)) return -1;
    if (diff.n == 0) return 1;
    return vm_dim_sign(&diff) != 0 || vm_dim_is_const(&diff) ? 0 : -1;
}

static enum vm_status fold_binary(struct vm_graph *g, int32_t n, struct vm_error *err) {
    const char *op = vm_op_name(g->nodes[n].op);
    struct vm_value *a = vm_in(g, n, 0), *b = vm_in(g, n, 1), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(a) || !vm_value_is_known(b)) return VM_OK;
    if (!vm_dtype_is_int(a->dtype) || !vm_dtype_is_int(b->dtype)) return VM_OK;
    int64_t da[VM_MAX_RANK], db[VM_MAX_RANK], dy[VM_MAX_RANK];
    if (!const_dims(a, da) || !const_dims(b, db) || !const_dims(y, dy)) return VM_OK;
    int64_t ny = vm_value_numel(y);
    if (ny < 0 || ny > VM_FOLD_MAX) return VM_OK;
    struct vm_dim out[VM_FOLD_MAX];
    bool cmp = !is_arith(op);
    uint8_t bits[VM_FOLD_MAX];
    for (int64_t i = 0; i < ny; i++) {
        struct vm_dim x1, x2;
        if (!vm_value_known_elem(a, bcast_index(i, y->rank, dy, a->rank, da), &x1) ||
            !vm_value_known_elem(b, bcast_index(i, y->rank, dy, b->rank, db), &x2))
            return VM_OK;
        if (cmp) {
            int eq = dim_equal(&x1, &x2);
            if (!strcmp(op, "Equal")) {
                if (eq < 0) return VM_OK;
                bits[i] = (uint8_t)eq;
            } else {
                if (!vm_dim_is_const(&x1) || !vm_dim_is_const(&x2)) return VM_OK;
                int64_t u = vm_dim_value(&x1), v = vm_dim_value(&x2);
                if (!strcmp(op, "Greater")) bits[i] = u > v;
                else if (!strcmp(op, "Less")) bits[i] = u < v;
                else return VM_OK;
            }
            continue;
        }
        char c = !strcmp(op, "Add") ? '+' : !strcmp(op, "Sub") ? '-' : !strcmp(op, "Mul") ? '*' : !strcmp(op, "Div") ? '/' : 0;
        if (!c || vm_dim_binop(&out[i], &x1, &x2, c)) return VM_OK;
    }
    if (cmp) {
        uint8_t *d = vm_malloc((size_t)ny, err);
        if (!d) return VM_ENOMEM;
        memcpy(d, bits, (size_t)ny);
        vm_value_set_data(y, d, (size_t)ny);
        return VM_OK;
    }
    if (y->dtype != I64) {
        /* int32 shape math: only concrete results are kept */
        for (int64_t i = 0; i < ny; i++)
            if (!vm_dim_is_const(&out[i])) return VM_OK;
        int32_t *d = vm_malloc((size_t)ny * 4, err);
        if (!d) return VM_ENOMEM;
        for (int64_t i = 0; i < ny; i++) d[i] = (int32_t)vm_dim_value(&out[i]);
        vm_value_set_data(y, d, (size_t)ny * 4);
        return VM_OK;
    }
    return vm_value_set_known(y, out, ny, err);
}

static enum vm_status fold_where(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *c = vm_in(g, n, 0), *x = vm_in(g, n, 1), *yv = vm_in(g, n, 2), *o = vm_out(g, n, 0);
    if (!c->data || !vm_value_is_known(x) || !vm_value_is_known(yv) || o->dtype != I64) return VM_OK;
    int64_t dc[VM_MAX_RANK], dx[VM_MAX_RANK], dy[VM_MAX_RANK], d_o[VM_MAX_RANK];
    if (!const_dims(c, dc) || !const_dims(x, dx) || !const_dims(yv, dy) || !const_dims(o, d_o)) return VM_OK;
    int64_t no = vm_value_numel(o);
    if (no < 0 || no > VM_FOLD_MAX) return VM_OK;
    struct vm_dim out[VM_FOLD_MAX];
    for (int64_t i = 0; i < no; i++) {
        bool cond = ((const uint8_t *)c->data)[bcast_index(i, o->rank, d_o, c->rank, dc)] != 0;
        const struct vm_value *src = cond ? x : yv;
        const int64_t *ds = cond ? dx : dy;
        if (!vm_value_known_elem(src, bcast_index(i, o->rank, d_o, src->rank, ds), &out[i])) return VM_OK;
    }
    return vm_value_set_known(o, out, no, err);
}

static enum vm_status fold_cast(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(x)) return VM_OK;
    int64_t cnt = vm_value_numel(y);
    if (cnt < 0 || cnt > VM_FOLD_MAX) return VM_OK;
    if (x->known && (y->dtype == I64 || y->dtype == I32)) {
        if (y->dtype == I64) return vm_value_set_known(y, x->known, x->n_known, err);
    }
    /* concrete: convert through double (int64 through int64) */
    size_t es = vm_dtype_size(y->dtype);
    uint8_t *d = vm_malloc((size_t)cnt * es, err);
    if (!d) return VM_ENOMEM;
    for (int64_t i = 0; i < cnt; i++) {
        struct vm_dim e;
        double fv;
        int64_t iv;
        if (x->known || vm_dtype_is_int(x->dtype) || x->dtype == B) {
            if (!vm_value_known_elem(x, i, &e) || !vm_dim_is_const(&e)) {
                free(d);
                return VM_OK;
            }
            iv = vm_dim_value(&e);
            fv = (double)iv;
        } else {
            fv = vm_value_data_f64(x, i);
            iv = (int64_t)fv;
        }
        switch (y->dtype) {
        case F: { float f = (float)fv; memcpy(d + 4 * i, &f, 4); break; }
        case D: memcpy(d + 8 * i, &fv, 8); break;
        case I64: memcpy(d + 8 * i, &iv, 8); break;
        case I32: { int32_t v = (int32_t)iv; memcpy(d + 4 * i, &v, 4); break; }
        case B: d[i] = fv != 0; break;
        default: free(d); return VM_OK;
        }
    }
    vm_value_set_data(y, d, (size_t)cnt * es);
    return VM_OK;
}

static enum vm_status fold_neg(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(x) || !vm_dtype_is_int(x->dtype)) return VM_OK;
    int64_t cnt = vm_value_numel(x);
    struct vm_dim out[VM_FOLD_MAX], zero = vm_dim_const(0);
    if (cnt < 0 || cnt > VM_FOLD_MAX) return VM_OK;
    for (int64_t i = 0; i < cnt; i++) {
        struct vm_dim e;
        if (!vm_value_known_elem(x, i, &e) || vm_dim_sub(&out[i], &zero, &e)) return VM_OK;
    }
    if (x->dtype == I64) return vm_value_set_known(y, out, cnt, err);
    if (x->dtype != I32) return VM_OK;
    int32_t *d = vm_malloc((size_t)(cnt ? cnt : 1) * 4, err);
    if (!d) return VM_ENOMEM;
    for (int64_t i = 0; i < cnt; i++) d[i] = (int32_t)vm_dim_value(&out[i]);
    vm_value_set_data(y, d, (size_t)cnt * 4);
    return VM_OK;
}

static enum vm_status fold_not(struct vm_graph *g, int32_t n, struct vm_error *err) {
    struct vm_value *x = vm_in(g, n, 0), *y = vm_out(g, n, 0);
    if (!x->data) return VM_OK;
    uint8_t *d = vm_malloc(x->nbytes, err);
    if (!d) return VM_ENOMEM;
    for (size_t i = 0; i < x->nbytes; i++) d[i] = !((const uint8_t *)x->data)[i];
    vm_value_set_data(y, d, x->nbytes);
    return VM_OK;
}


/* ---- gradients ---- */

static int32_t op2(struct vm_autodiff *ad, const char *op, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return -1;
    int32_t in[2] = {a, b};
    return vm_ad_op(ad, op, 2, in);
}

static int32_t op1(struct vm_autodiff *ad, const char *op, int32_t a) {
    if (a < 0) return -1;
    return vm_ad_op(ad, op, 1, &a);
}

/* EltwiseGrad(dy, t): t is the forward output for dst-based rules, the input for src-based ones. */
static int32_t eltwise_grad(struct vm_autodiff *ad, const char *alg, int32_t dy, int32_t t) {
    int32_t in[2] = {dy, t}, out;
    int32_t id = vm_ad_begin(ad, "EltwiseGrad", 2, in, 1, &out);
    if (id < 0 || vm_node_set_string(vm_ad_graph(ad), id, "alg", alg, vm_ad_err(ad)) || vm_ad_end(ad, id)) return -1;
    return out;
}

static enum vm_status grad_unary(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    const char *op = vm_op_name(g->nodes[n].op);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0], y = g->nodes[n].out[0];
    if (dy < 0) return VM_OK;
    if (!strcmp(op, "Relu")) GIVE(0, eltwise_grad(ad, "relu", dy, y));
    else if (!strcmp(op, "Tanh")) GIVE(0, eltwise_grad(ad, "tanh", dy, y));
    else if (!strcmp(op, "Sigmoid")) GIVE(0, eltwise_grad(ad, "sigmoid", dy, y));
    else if (!strcmp(op, "Exp")) GIVE(0, eltwise_grad(ad, "exp", dy, y));
    else if (!strcmp(op, "Sqrt")) GIVE(0, eltwise_grad(ad, "sqrt", dy, y));
    else if (!strcmp(op, "Erf")) GIVE(0, eltwise_grad(ad, "erf", dy, x));
    else if (!strcmp(op, "Gelu")) GIVE(0, eltwise_grad(ad, "gelu", dy, x));
    else if (!strcmp(op, "Abs")) GIVE(0, eltwise_grad(ad, "abs", dy, x));
    else if (!strcmp(op, "Log")) GIVE(0, op2(ad, "Div", dy, x));
    else if (!strcmp(op, "Neg")) GIVE(0, op1(ad, "Neg", dy));
    else if (!strcmp(op, "Reciprocal")) GIVE(0, op1(ad, "Neg", op2(ad, "Mul", dy, op2(ad, "Mul", y, y))));
    else if (!strcmp(op, "Identity")) GIVE(0, dy);
    else return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "no gradient rule");
    return VM_OK;
}

static enum vm_status grad_binary(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    const char *op = vm_op_name(g->nodes[n].op);
    int32_t dy = vm_ad_dy(ad, n, 0), a = g->nodes[n].in[0], b = g->nodes[n].in[1], y = g->nodes[n].out[0];
    if (dy < 0) return VM_OK;
    bool wa = vm_ad_wants(ad, n, 0), wb = vm_ad_wants(ad, n, 1);
    if (!strcmp(op, "Add")) {
        if (wa) GIVE(0, dy);
        if (wb) GIVE(1, dy);
    } else if (!strcmp(op, "Sub")) {
        if (wa) GIVE(0, dy);
        if (wb) GIVE(1, op1(ad, "Neg", dy));
    } else if (!strcmp(op, "Mul")) {
        if (wa) GIVE(0, op2(ad, "Mul", dy, b));
        if (wb) GIVE(1, op2(ad, "Mul", dy, a));
    } else if (!strcmp(op, "Div")) {
        if (wa) GIVE(0, op2(ad, "Div", dy, b));
        if (wb) GIVE(1, op1(ad, "Neg", op2(ad, "Div", op2(ad, "Mul", dy, y), b)));
    } else if (!strcmp(op, "Pow")) {
        struct vm_value *e = &g->values[b];
        if (wb || !e->data || vm_value_numel(e) != 1)
            return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "gradients of Pow need a constant scalar exponent");
        double ev = vm_value_data_f64(e, 0);
        int32_t p = op2(ad, "Pow", a, vm_ad_const_f32(ad, (float)(ev - 1.0)));
        GIVE(0, op2(ad, "Mul", dy, op2(ad, "Mul", p, vm_ad_const_f32(ad, (float)ev))));
    } else {
        return vm_node_errorf(g, n, err, VM_EUNSUPPORTED, "no gradient rule");
    }
    return VM_OK;
}

static enum vm_status grad_where(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), c = g->nodes[n].in[0];
    if (dy < 0) return VM_OK;
    int32_t zero = vm_ad_const_f32(ad, 0.0f);
    if (vm_ad_wants(ad, n, 1)) {
        int32_t in[3] = {c, dy, zero};
        GIVE(1, vm_ad_op(ad, "Where", 3, in));
    }
    if (vm_ad_wants(ad, n, 2)) {
        int32_t in[3] = {c, zero, dy};
        GIVE(2, vm_ad_op(ad, "Where", 3, in));
    }
    return VM_OK;
}

static enum vm_status grad_cast(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0];
    if (dy < 0) return VM_OK;
    int32_t out;
    int32_t id = vm_ad_begin(ad, "Cast", 1, &dy, 1, &out);
    if (id < 0 || vm_node_set_int(g, id, "to", g->values[x].dtype, err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

/* Dropout's backward needs the keep mask; a forward node exported without the optional mask
 * output gets one here. */
static enum vm_status grad_dropout(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0);
    if (dy < 0) return VM_OK;
    struct vm_node *nd = &g->nodes[n];
    if (nd->n_out < 2 || nd->out[1] < 0) {
        int32_t m = vm_graph_fresh_value(g, "dropout_mask", B, err);
        if (m < 0) return err->code;
        int32_t *outs = vm_realloc(nd->out, 2 * sizeof *outs, err);
        if (!outs) return VM_ENOMEM;
        nd = &g->nodes[n];
        nd->out = outs;
        nd->out[1] = m;
        nd->n_out = 2;
        g->values[m].producer = n;
        g->values[m].slot = 1;
        struct vm_value *x = &g->values[nd->in[0]];
        g->values[m].dtype = B;
        vm_value_set_shape(&g->values[m], x->rank, x->dims);
    }
    int32_t in[2] = {dy, g->nodes[n].out[1]}, out;
    int32_t id = vm_ad_begin(ad, "DropoutGrad", 2, in, 1, &out);
    if (id < 0 || vm_node_set_float(g, id, "ratio", vm_node_float(g, n, "ratio", 0.5), err) || vm_ad_end(ad, id)) return err->code;
    GIVE(0, out);
    return VM_OK;
}

/* ---- Activations with parameters (LeakyRelu, Elu, Selu, HardSigmoid) and the parameterless
 * Softplus, Softsign, HardSwish: the normalize step writes every attribute with its ONNX default,
 * so the runtime and the gradient read the values the model means. Gradients from the input x. */
static enum vm_status normalize_act(struct vm_graph *g, int32_t n, struct vm_error *err) {
    const struct vm_act_default *d = vm_act_default(vm_op_name(g->nodes[n].op)); /* runtime/act_defaults.h */
    if (!d) return VM_OK;
    enum vm_status s = VM_OK;
    if (!strcmp(d->op, "LeakyRelu") || !strcmp(d->op, "Elu") || !strcmp(d->op, "Selu") || !strcmp(d->op, "HardSigmoid"))
        s = vm_node_set_float(g, n, "alpha", vm_node_float(g, n, "alpha", d->alpha), err);
    if (!s && !strcmp(d->op, "HardSigmoid")) s = vm_node_set_float(g, n, "beta", vm_node_float(g, n, "beta", d->beta), err);
    if (!s && !strcmp(d->op, "Selu")) s = vm_node_set_float(g, n, "gamma", vm_node_float(g, n, "gamma", d->gamma), err);
    return s;
}

static enum vm_status grad_act(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    struct vm_graph *g = vm_ad_graph(ad);
    const struct vm_act_default *d = vm_act_default(vm_op_name(g->nodes[n].op));
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0];
    if (dy < 0 || !d) return VM_OK;
    char alg[32];
    size_t k = 0;
    for (; d->op[k] && k < sizeof alg - 1; k++) alg[k] = (char)(d->op[k] | 0x20); /* ASCII lower case */
    alg[k] = 0;
    double alpha = vm_node_float(g, n, "alpha", d->alpha), beta = vm_node_float(g, n, "beta", d->beta),
           gamma = vm_node_float(g, n, "gamma", d->gamma);
    int32_t in[2] = {dy, x}, out;
    int32_t id = vm_ad_begin(ad, "EltwiseGrad", 2, in, 1, &out);
    if (id < 0) return err->code;
    enum vm_status s = vm_node_set_string(g, id, "alg", alg, err);
    if (!s) s = vm_node_set_float(g, id, "alpha", alpha, err);
    if (!s) s = vm_node_set_float(g, id, "beta", beta, err);
    if (!s) s = vm_node_set_float(g, id, "gamma", gamma, err);
    if (!s) s = vm_ad_end(ad, id);
    if (s) return s;
    GIVE(0, out);
    return VM_OK;
}

/* GeluD(x) -> (Gelu(x), Gelu'(x)): a training graph's GELU that also writes its derivative for the
 * backward (compiler/pass_remat.c, vm_pass_gelu_derivative); made after autodiff, no gradient. */
static enum vm_status infer_gelu_d(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    vm_set_out(g, n, 0, F, x->rank, x->dims);
    vm_set_out(g, n, 1, F, x->rank, x->dims);
    return VM_OK;
}

static enum vm_status infer_eltwise_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (s) return s;
    const char *alg = vm_node_string(g, n, "alg", NULL);
    static const char *algs[] = {"relu", "tanh", "sigmoid", "exp", "sqrt", "erf", "abs", "gelu", "leakyrelu", "elu", "selu",
                                 "hardsigmoid", "softplus", "softsign", "hardswish", NULL};
    bool ok = false;
    for (int i = 0; alg && algs[i]; i++) ok |= !strcmp(alg, algs[i]);
    if (!ok) return vm_node_errorf(g, n, err, VM_EINVAL, "unknown alg '%s'", alg ? alg : "");
    struct vm_value *dy = vm_in(g, n, 0);
    vm_set_out(g, n, 0, F, dy->rank, dy->dims);
    return VM_OK;
}

static enum vm_status infer_dropout_grad(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, 0);
    if (!s) s = vm_check_dtype(g, n, 1, err, B, 0);
    if (s) return s;
    struct vm_value *dy = vm_in(g, n, 0);
    vm_set_out(g, n, 0, F, dy->rank, dy->dims);
    return VM_OK;
}

/* ---- Max, Min (1-4 inputs, numpy broadcasting) and Clip ---- */

#define MINMAX_MAX_IN 4 /* the runtime's broadcast iterator takes four operands */

static enum vm_status infer_minmax(struct vm_graph *g, int32_t n, struct vm_error *err) {
    int k = g->nodes[n].n_in;
    struct vm_value *a = vm_in(g, n, 0);
    struct vm_dim dims[VM_MAX_RANK];
    int rank = a->rank;
    enum vm_status s;
    for (int d = 0; d < rank; d++) dims[d] = a->dims[d];
    for (int i = 0; i < k; i++) {
        struct vm_value *x = vm_in(g, n, i);
        if (!x) return vm_node_errorf(g, n, err, VM_EINVAL, "input %d is empty", i);
        if ((s = vm_check_dtype(g, n, i, err, F, D, I64, I32, VM_DTYPE_INT8, VM_DTYPE_UINT8, VM_DTYPE_INT16, VM_DTYPE_UINT16,
                                VM_DTYPE_UINT32, VM_DTYPE_UINT64, 0)))
            return s;
        if (x->dtype != a->dtype)
            return vm_node_errorf(g, n, err, VM_EINVAL, "inputs have different types (%s and %s)", vm_dtype_name(a->dtype),
                                  vm_dtype_name(x->dtype));
        struct vm_dim nd[VM_MAX_RANK];
        int nr;
        if (i && (s = vm_broadcast(g, n, rank, dims, x->rank, x->dims, &nr, nd, err))) return s;
        if (i) {
            rank = nr;
            for (int d = 0; d < rank; d++) dims[d] = nd[d];
        }
    }
    vm_set_out(g, n, 0, a->dtype, rank, dims);
    return VM_OK;
}

/* Max/Min of two int scalars or small int tensors known at compile time (shape arithmetic). */
static enum vm_status fold_minmax(struct vm_graph *g, int32_t n, struct vm_error *err) {
    if (g->nodes[n].n_in != 2) return VM_OK;
    bool is_max = !strcmp(vm_op_name(g->nodes[n].op), "Max");
    struct vm_value *a = vm_in(g, n, 0), *b = vm_in(g, n, 1), *y = vm_out(g, n, 0);
    if (!vm_value_is_known(a) || !vm_value_is_known(b) || y->dtype != I64) return VM_OK;
    int64_t da[VM_MAX_RANK], db[VM_MAX_RANK], dy[VM_MAX_RANK];
    if (!const_dims(a, da) || !const_dims(b, db) || !const_dims(y, dy)) return VM_OK;
    int64_t ny = vm_value_numel(y);
    if (ny < 0 || ny > VM_FOLD_MAX) return VM_OK;
    struct vm_dim out[VM_FOLD_MAX];
    for (int64_t i = 0; i < ny; i++) {
        struct vm_dim x1, x2, diff;
        if (!vm_value_known_elem(a, bcast_index(i, y->rank, dy, a->rank, da), &x1) ||
            !vm_value_known_elem(b, bcast_index(i, y->rank, dy, b->rank, db), &x2) || vm_dim_sub(&diff, &x1, &x2))
            return VM_OK;
        int sign = diff.n == 0 ? 0 : vm_dim_sign(&diff);
        if (diff.n != 0 && sign == 0) return VM_OK; /* order unknown: left to run time */
        out[i] = (sign >= 0) == is_max ? x1 : x2;
    }
    return vm_value_set_known(y, out, ny, err);
}

/* Clip-6 takes min/max as float attributes, Clip-11 as optional scalar inputs; both stay as they
 * are (the kernel reads either), but a given bound must be a scalar. */
static enum vm_status infer_clip(struct vm_graph *g, int32_t n, struct vm_error *err) {
    enum vm_status s = vm_check_dtype(g, n, 0, err, F, D, I64, I32, VM_DTYPE_INT8, VM_DTYPE_UINT8, VM_DTYPE_INT16,
                                      VM_DTYPE_UINT16, VM_DTYPE_UINT32, VM_DTYPE_UINT64, 0);
    if (s) return s;
    struct vm_value *x = vm_in(g, n, 0);
    for (int i = 1; i <= 2; i++) {
        struct vm_value *bnd = vm_in(g, n, i);
        if (!bnd) continue;
        if (bnd->dtype != x->dtype)
            return vm_node_errorf(g, n, err, VM_EINVAL, "%s '%s' is %s but the input is %s", i == 1 ? "min" : "max", bnd->name,
                                  vm_dtype_name(bnd->dtype), vm_dtype_name(x->dtype));
        for (int d = 0; d < bnd->rank; d++)
            if (!vm_dim_is_const_eq(&bnd->dims[d], 1))
                return vm_node_errorf(g, n, err, VM_EINVAL, "%s '%s' must be a scalar", i == 1 ? "min" : "max", bnd->name);
    }
    vm_set_out(g, n, 0, x->dtype, x->rank, x->dims);
    return VM_OK;
}

/* Clip passes dy where the input was inside [min, max], bounds included (PyTorch's clamp): exactly
 * where the output equals the input. */
static enum vm_status grad_clip(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int32_t dy = vm_ad_dy(ad, n, 0), x = g->nodes[n].in[0], y = g->nodes[n].out[0];
    if (dy < 0 || !vm_ad_wants(ad, n, 0)) return VM_OK;
    int32_t in[3] = {op2(ad, "Equal", y, x), dy, vm_ad_const_f32(ad, 0.0f)};
    if (in[0] < 0) return vm_ad_err(ad)->code;
    GIVE(0, vm_ad_op(ad, "Where", 3, in));
    return VM_OK;
}

/* Max/Min send dy to the input that gave the output; inputs that tie share it equally (PyTorch's
 * maximum/minimum split a tie between their two inputs). */
static enum vm_status grad_minmax(struct vm_autodiff *ad, int32_t n, struct vm_error *err) {
    (void)err;
    struct vm_graph *g = vm_ad_graph(ad);
    int k = g->nodes[n].n_in;
    int32_t dy = vm_ad_dy(ad, n, 0), y = g->nodes[n].out[0];
    if (dy < 0) return VM_OK;
    if (k == 1) {
        if (vm_ad_wants(ad, n, 0)) GIVE(0, dy);
        return VM_OK;
    }
    int32_t hit[MINMAX_MAX_IN], count = -1;
    for (int i = 0; i < k; i++) {
        hit[i] = op2(ad, "Equal", g->nodes[n].in[i], y);
        int32_t c;
        int32_t id = vm_ad_begin(ad, "Cast", 1, &hit[i], 1, &c);
        if (id < 0 || vm_node_set_int(g, id, "to", F, vm_ad_err(ad)) || vm_ad_end(ad, id)) return vm_ad_err(ad)->code;
        count = i ? op2(ad, "Add", count, c) : c;
        if (count < 0) return vm_ad_err(ad)->code;
    }
    int32_t share = op2(ad, "Div", dy, count), zero = vm_ad_const_f32(ad, 0.0f);
    for (int i = 0; i < k; i++) {
        if (!vm_ad_wants(ad, n, i)) continue;
        int32_t in[3] = {hit[i], share, zero};
        GIVE(i, vm_ad_op(ad, "Where", 3, in));
    }
    return VM_OK;
}

#define UNARY(op, fn) {op, NULL, 1, 1, 1, 1, "", 0, 0, 0, NULL, fn, NULL, grad_unary}
#define ACT(op, attrs) {op, NULL, 1, 1, 1, 1, attrs, 0, 0, 0, normalize_act, infer_unary_float, NULL, grad_act}
#define BINARY(op, fl, gr) {op, NULL, 2, 2, 1, 1, "", 0, 0, fl, NULL, infer_binary, fold_binary, gr}

const struct vm_op_row vm_ops_elementwise[] = {
    UNARY("Relu", infer_unary_float),
    ACT("LeakyRelu", "alpha:f"),
    ACT("Elu", "alpha:f"),
    ACT("Selu", "alpha:f gamma:f"),
    ACT("HardSigmoid", "alpha:f beta:f"),
    ACT("Softplus", ""),
    ACT("Softsign", ""),
    ACT("HardSwish", ""),
    UNARY("Tanh", infer_unary_float),
    UNARY("Sigmoid", infer_unary_float),
    UNARY("Erf", infer_unary_float),
    UNARY("Sqrt", infer_unary_float),
    UNARY("Exp", infer_unary_float),
    UNARY("Log", infer_unary_float),
    UNARY("Reciprocal", infer_unary_float),
    {"Neg", NULL, 1, 1, 1, 1, "", 0, 0, 0, NULL, infer_unary_signed, fold_neg, grad_unary},
    {"Abs", NULL, 1, 1, 1, 1, "", 0, 0, 0, NULL, infer_unary_signed, NULL, grad_unary},
    {"Not", NULL, 1, 1, 1, 1, "", 0, 0, VM_OP_NO_GRAD, NULL, infer_not, fold_not, NULL},
    {"Identity", NULL, 1, 1, 1, 1, "", 0, 0, VM_OP_VIEW, NULL, infer_identity, vm_fold_copy, grad_unary},
    {"Dropout", NULL, 1, 3, 1, 2, "ratio:f seed:i", 0x6, 0x6, VM_OP_STOCHASTIC, NULL, infer_dropout, NULL, grad_dropout},
    {"Cast", NULL, 1, 1, 1, 1, "to:i! saturate:i", 0, 0, 0, NULL, infer_cast, fold_cast, grad_cast},
    BINARY("Add", 0, grad_binary),
    BINARY("Sub", 0, grad_binary),
    BINARY("Mul", 0, grad_binary),
    BINARY("Div", 0, grad_binary),
    BINARY("Pow", 0, grad_binary),
    BINARY("Equal", VM_OP_NO_GRAD, NULL),
    BINARY("Greater", VM_OP_NO_GRAD, NULL),
    BINARY("Less", VM_OP_NO_GRAD, NULL),
    BINARY("And", VM_OP_NO_GRAD, NULL),
    BINARY("Or", VM_OP_NO_GRAD, NULL),
    BINARY("Xor", VM_OP_NO_GRAD, NULL),
    {"Where", NULL, 3, 3, 1, 1, "", 0, 0x1, 0, NULL, infer_where, fold_where, grad_where},
    {"Max", NULL, 1, MINMAX_MAX_IN, 1, 1, "", 0, 0, 0, NULL, infer_minmax, fold_minmax, grad_minmax},
    {"Min", NULL, 1, MINMAX_MAX_IN, 1, 1, "", 0, 0, 0, NULL, infer_minmax, fold_minmax, grad_minmax},
    {"Clip", NULL, 1, 3, 1, 1, "min:f max:f", 0, 0x6, 0, NULL, infer_clip, NULL, grad_clip},
    /* x * 0.5 * (1 + erf(x / sqrt(2))), fused from the exported formula by pass_fuse.c */
    {"Gelu", "vmaskc", 1, 1, 1, 1, "", 0, 0, VM_OP_INTERNAL, NULL, infer_unary_float, NULL, grad_unary},
    {"GeluD", "vmaskc", 1, 1, 2, 2, "", 0, 0, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_gelu_d, NULL, NULL},
    {"EltwiseGrad", "vmaskc", 2, 2, 1, 1, "alg:s alpha:f beta:f gamma:f", 0, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_eltwise_grad, NULL, NULL},
    {"DropoutGrad", "vmaskc", 2, 2, 1, 1, "ratio:f", 0, 0x3, VM_OP_INTERNAL | VM_OP_NO_GRAD, NULL, infer_dropout_grad, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
