/* elementwise kernels: unary math, broadcasting binary ops, comparisons, Max/Min/Clip, Where, Cast,
 * Identity, Dropout; GeluD (training's GELU with its derivative, a vectorized C loop of its own).
 *
 * float32 unary ops and float32 Add/Sub/Mul/Div run as oneDNN eltwise/binary primitives when the
 * shapes fit (binary: one operand already has the output shape, the other broadcasts); everything
 * else runs the C loops below, which are also the reference the kernel tests compare oneDNN with
 * (vmaskc's "reference kernels" mode forces them everywhere).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../act_defaults.h"
#include "../rt.h"
#include "bcast.h"
#include <strings.h>

#include "kernels.h"

#define PAR_MIN 32768 /* elements below which OpenMP is not worth its overhead */

/* ---------------- unary ---------------- */

enum unary_kind { U_RELU, U_TANH, U_SIGMOID, U_ERF, U_SQRT, U_EXP, U_LOG, U_RECIP, U_NEG, U_ABS, U_NOT, U_GELU };

static enum unary_kind unary_kind(const char *op) {
    static const char *names[] = {"Relu", "Tanh", "Sigmoid", "Erf", "Sqrt", "Exp", "Log", "Reciprocal", "Neg", "Abs", "Not", "Gelu"};
    for (int i = 0; i < 12; i++)
        if (!strcmp(op, names[i])) return (enum unary_kind)i;
    return U_NEG;
}

static float unary_f(enum unary_kind k, float x) {
    switch (k) {
    case U_RELU: return x > 0 ? x : 0;
    case U_TANH: return tanhf(x);
    case U_SIGMOID: return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    case U_ERF: return erff(x);
    case U_SQRT: return sqrtf(x);
    case U_EXP: return expf(x);
    case U_LOG: return logf(x);
    case U_RECIP: return 1.0f / x;
    case U_NEG: return -x;
    case U_ABS: return fabsf(x);
    case U_GELU: return (float)(0.5 * x * (1.0 + erf(x * 0.7071067811865476)));
    default: return x;
    }
}

static double unary_d(enum unary_kind k, double x) {
    switch (k) {
    case U_RELU: return x > 0 ? x : 0;
    case U_TANH: return tanh(x);
    case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case U_ERF: return erf(x);
    case U_SQRT: return sqrt(x);
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_RECIP: return 1.0 / x;
    case U_NEG: return -x;
    case U_ABS: return fabs(x);
    case U_GELU: return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
    default: return x;
    }
}

void vm_ref_unary_f32(const char *op, const float *x, float *y, int64_t n) {
    enum unary_kind k = unary_kind(op);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = unary_f(k, x[i]);
}

struct unary_state {
    enum unary_kind kind;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst;
};

static void unary_release(void *p) {
    struct unary_state *st = p;
    if (!st) return;
    if (st->prim) dnnl_primitive_destroy(st->prim);
    if (st->src) dnnl_memory_destroy(st->src);
    if (st->dst) dnnl_memory_destroy(st->dst);
    free(st);
}

static enum vm_status unary_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                    struct vm_error *err) {
    struct unary_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    st->kind = unary_kind(s->op);
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    if (x->dtype != VM_DTYPE_FLOAT || x->numel == 0 || c->m->ref_kernels) return VM_OK;
    dnnl_alg_kind_t alg;
    float alpha = 0, beta = 0;
    switch (st->kind) {
    case U_RELU: alg = dnnl_eltwise_relu; break;
    case U_TANH: alg = dnnl_eltwise_tanh; break;
    case U_SIGMOID: alg = dnnl_eltwise_logistic; break;
    case U_SQRT: alg = dnnl_eltwise_sqrt; break;
    case U_EXP: alg = dnnl_eltwise_exp; break;
    case U_LOG: alg = dnnl_eltwise_log; break;
    case U_ABS: alg = dnnl_eltwise_abs; break;
    case U_NEG: alg = dnnl_eltwise_linear; alpha = -1; break;
    case U_RECIP: alg = dnnl_eltwise_pow; alpha = 1; beta = -1; break;
    case U_GELU: alg = dnnl_eltwise_gelu_erf; break;
    default: return VM_OK; /* Erf: no oneDNN eltwise */
    }
    int64_t n = x->numel;
    dnnl_memory_desc_t md;
    VM_DNNL(vm_dnnl_md(&md, 1, &n, VM_DTYPE_FLOAT), s, err);
    dnnl_eltwise_desc_t ed;
    VM_DNNL(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training, alg, &md, alpha, beta), s, err);
    enum vm_status e = vm_dnnl_build(c, s, &ed, NULL, &st->prim, err);
    return e ? e : vm_dnnl_mem2(c, s, &md, &st->src, &md, &st->dst, err);
}

static enum vm_status unary_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    struct unary_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (st->prim) {
        dnnl_memory_set_data_handle(st->src, x->data);
        dnnl_memory_set_data_handle(st->dst, y->data);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, st->src}, {DNNL_ARG_DST, st->dst}};
        return vm_dnnl_exec(c, s, st->prim, 2, args, err);
    }
    int64_t n = x->numel;
    switch (x->dtype) {
    case VM_DTYPE_FLOAT: vm_ref_unary_f32(s->op, x->data, y->data, n); break;
    case VM_DTYPE_DOUBLE: {
        const double *a = x->data;
        double *b = y->data;
        for (int64_t i = 0; i < n; i++) b[i] = unary_d(st->kind, a[i]);
        break;
    }
    case VM_DTYPE_BOOL: {
        const uint8_t *a = x->data;
        uint8_t *b = y->data;
        for (int64_t i = 0; i < n; i++) b[i] = !a[i];
        break;
    }
#define SIGNED_CASE(DT, T)                                                         \
    case DT: {                                                                     \
        const T *a = x->data;                                                      \
        T *b = y->data;                                                            \
        if (st->kind == U_NEG)                                                     \
            for (int64_t i = 0; i < n; i++) b[i] = (T)-a[i];                        \
        else                                                                       \
            for (int64_t i = 0; i < n; i++) b[i] = a[i] < 0 ? (T)-a[i] : a[i];     \
        break;                                                                     \
    }
        SIGNED_CASE(VM_DTYPE_INT64, int64_t)
        SIGNED_CASE(VM_DTYPE_INT32, int32_t)
        SIGNED_CASE(VM_DTYPE_INT16, int16_t)
        SIGNED_CASE(VM_DTYPE_INT8, int8_t)
#undef SIGNED_CASE
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    }
    return VM_OK;
}

/* ---------------- binary ---------------- */

enum binary_kind { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_EQ, B_GT, B_LT, B_AND, B_OR, B_XOR };

static enum binary_kind binary_kind(const char *op) {
    static const char *names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "And", "Or", "Xor"};
    for (int i = 0; i < 11; i++)
        if (!strcmp(op, names[i])) return (enum binary_kind)i;
    return B_ADD;
}

struct binary_state {
    enum binary_kind kind;
    struct vm_bcast bc;
    dnnl_primitive_t prim;
    dnnl_memory_t src0, src1, dst;
    bool swap;    /* oneDNN sees (b, a) */
    bool eltwise; /* Pow by a constant: a oneDNN eltwise on input 0 */
};

static void binary_release(void *p) {
    struct binary_state *st = p;
    if (!st) return;
    if (st->prim) dnnl_primitive_destroy(st->prim);
    if (st->src0) dnnl_memory_destroy(st->src0);
    if (st->src1) dnnl_memory_destroy(st->src1);
    if (st->dst) dnnl_memory_destroy(st->dst);
    free(st);
}

static bool same_dims_as(const struct vm_rt_tensor *t, const struct vm_rt_tensor *y) {
    if (t->numel != y->numel) return false;
    int r = y->rank;
    for (int d = 0; d < r; d++) {
        int dt = d - (r - t->rank);
        if ((dt >= 0 ? t->dims[dt] : 1) != y->dims[d]) return false;
    }
    return true;
}

static enum vm_status binary_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                     struct vm_error *err) {
    struct binary_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    st->kind = binary_kind(s->op);
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1), *y = vm_rt_out(c, s, 0);
    const struct vm_rt_tensor *ins[2] = {a, b};
    vm_bcast_init(&st->bc, y, ins, 2);
    if (st->kind == B_POW && a->dtype == VM_DTYPE_FLOAT && b->dtype == VM_DTYPE_FLOAT && b->numel == 1 && b->data &&
        (c->m->plan.values[s->in[1]].flags & VM_VALUE_INIT) && a->numel == y->numel && y->numel && !c->m->ref_kernels) {
        /* x ** constant (the decomposed LayerNorm's square): a oneDNN eltwise instead of powf */
        float e = *(const float *)b->data;
        int64_t n = y->numel;
        dnnl_memory_desc_t md;
        VM_DNNL(vm_dnnl_md(&md, 1, &n, VM_DTYPE_FLOAT), s, err);
        dnnl_eltwise_desc_t ed;
        VM_DNNL(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training, e == 2.0f ? dnnl_eltwise_square : dnnl_eltwise_pow, &md, 1.0f,
                                               e == 2.0f ? 0.0f : e), s, err);
        enum vm_status r = vm_dnnl_build(c, s, &ed, NULL, &st->prim, err);
        if (r) return r;
        st->eltwise = true;
        return vm_dnnl_mem2(c, s, &md, &st->src0, &md, &st->dst, err);
    }
    if (a->dtype != VM_DTYPE_FLOAT || st->kind > B_DIV || y->numel == 0 || c->m->ref_kernels) return VM_OK;
    if (st->bc.rank == 1 && st->bc.st[0][0] == 1 && st->bc.st[1][0] == 1 && y->numel < 4096) return VM_OK;
    bool commut = st->kind == B_ADD || st->kind == B_MUL;
    if (same_dims_as(a, y)) st->swap = false;
    else if (commut && same_dims_as(b, y)) st->swap = true;
    else return VM_OK;
    const struct vm_rt_tensor *s0 = st->swap ? b : a, *s1 = st->swap ? a : b;
    int r = y->rank ? y->rank : 1;
    int64_t d0[VM_MAX_RANK], d1[VM_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int i1 = d - (r - s1->rank);
        d0[d] = y->rank ? y->dims[d] : 1;
        d1[d] = i1 >= 0 ? s1->dims[i1] : 1;
    }
    (void)s0;
    dnnl_memory_desc_t md0, md1;
    VM_DNNL(vm_dnnl_md(&md0, r, d0, VM_DTYPE_FLOAT), s, err);
    VM_DNNL(vm_dnnl_md(&md1, r, d1, VM_DTYPE_FLOAT), s, err);
    dnnl_alg_kind_t alg = st->kind == B_ADD ? dnnl_binary_add : st->kind == B_SUB ? dnnl_binary_sub
                        : st->kind == B_MUL ? dnnl_binary_mul : dnnl_binary_div;
    dnnl_binary_desc_t bd;
    VM_DNNL(dnnl_binary_desc_init(&bd, alg, &md0, &md1, &md0), s, err);
    enum vm_status e = vm_dnnl_build(c, s, &bd, NULL, &st->prim, err);
    if (e) return e;
    VM_DNNL(dnnl_memory_create(&st->src0, &md0, c->engine, DNNL_MEMORY_NONE), s, err);
    VM_DNNL(dnnl_memory_create(&st->src1, &md1, c->engine, DNNL_MEMORY_NONE), s, err);
    VM_DNNL(dnnl_memory_create(&st->dst, &md0, c->engine, DNNL_MEMORY_NONE), s, err);
    return VM_OK;
}

/* Rows of the broadcast are split across threads; when there are too few rows (a scalar operand
 * merges everything into one long row) each row is split instead. */
#define BIN_LOOP(T, TO, EXPR)                                                              \
    do {                                                                                   \
        const T *pa = a->data, *pb = b->data;                                              \
        TO *py = y->data;                                                                  \
        const struct vm_bcast *bc = &st->bc;                                               \
        int64_t inner = bc->inner, sa = bc->st[0][bc->rank - 1], sb = bc->st[1][bc->rank - 1]; \
        if (bc->outer >= 16 || y->numel <= PAR_MIN) {                                      \
            _Pragma("omp parallel for if (y->numel > PAR_MIN)")                            \
            for (int64_t o = 0; o < bc->outer; o++) {                                      \
                int64_t off[2];                                                            \
                vm_bcast_row(bc, o, off);                                                  \
                const T *ra = pa + off[0], *rb = pb + off[1];                              \
                TO *ry = py + o * inner;                                                   \
                for (int64_t i = 0; i < inner; i++) {                                      \
                    T u = ra[i * sa], v = rb[i * sb];                                      \
                    ry[i] = (TO)(EXPR);                                                    \
                }                                                                          \
            }                                                                              \
        } else {                                                                           \
            for (int64_t o = 0; o < bc->outer; o++) {                                      \
                int64_t off[2];                                                            \
                vm_bcast_row(bc, o, off);                                                  \
                const T *ra = pa + off[0], *rb = pb + off[1];                              \
                TO *ry = py + o * inner;                                                   \
                _Pragma("omp parallel for")                                                \
                for (int64_t i = 0; i < inner; i++) {                                      \
                    T u = ra[i * sa], v = rb[i * sb];                                      \
                    ry[i] = (TO)(EXPR);                                                    \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    } while (0)

#define ARITH_CASES(T)                                                                     \
    switch (st->kind) {                                                                    \
    case B_ADD: BIN_LOOP(T, T, u + v); break;                                              \
    case B_SUB: BIN_LOOP(T, T, u - v); break;                                              \
    case B_MUL: BIN_LOOP(T, T, u * v); break;                                              \
    case B_DIV: BIN_LOOP(T, T, v != 0 ? u / v : 0); break;                                 \
    case B_EQ: BIN_LOOP(T, uint8_t, u == v); break;                                        \
    case B_GT: BIN_LOOP(T, uint8_t, u > v); break;                                         \
    case B_LT: BIN_LOOP(T, uint8_t, u < v); break;                                         \
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(a->dtype)); \
    }

/* Pow with base and exponent of different types (ONNX allows it): computed in double, stored in the
 * base's type. */
static enum vm_status pow_mixed(const struct binary_state *st, const struct vm_rt_tensor *a,
                                const struct vm_rt_tensor *b, struct vm_rt_tensor *y) {
    const struct vm_bcast *bc = &st->bc;
    int64_t inner = bc->inner, sa = bc->st[0][bc->rank - 1], sb = bc->st[1][bc->rank - 1];
    for (int64_t o = 0; o < bc->outer; o++) {
        int64_t off[2];
        vm_bcast_row(bc, o, off);
        for (int64_t i = 0; i < inner; i++) {
            double r = pow(vm_elem_f64(a->data, a->dtype, off[0] + i * sa), vm_elem_f64(b->data, b->dtype, off[1] + i * sb));
            int64_t k = o * inner + i;
            switch (y->dtype) {
            case VM_DTYPE_FLOAT: ((float *)y->data)[k] = (float)r; break;
            case VM_DTYPE_DOUBLE: ((double *)y->data)[k] = r; break;
            case VM_DTYPE_INT64: ((int64_t *)y->data)[k] = (int64_t)r; break;
            case VM_DTYPE_INT32: ((int32_t *)y->data)[k] = (int32_t)r; break;
            default: break;
            }
        }
    }
    return VM_OK;
}

static enum vm_status binary_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    struct binary_state *st = state;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (st->prim && st->eltwise) {
        dnnl_memory_set_data_handle(st->src0, a->data);
        dnnl_memory_set_data_handle(st->dst, y->data);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, st->src0}, {DNNL_ARG_DST, st->dst}};
        return vm_dnnl_exec(c, s, st->prim, 2, args, err);
    }
    if (st->prim) {
        dnnl_memory_set_data_handle(st->src0, st->swap ? b->data : a->data);
        dnnl_memory_set_data_handle(st->src1, st->swap ? a->data : b->data);
        dnnl_memory_set_data_handle(st->dst, y->data);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC_0, st->src0}, {DNNL_ARG_SRC_1, st->src1}, {DNNL_ARG_DST, st->dst}};
        return vm_dnnl_exec(c, s, st->prim, 3, args, err);
    }
    if (y->numel == 0) return VM_OK;
    if (st->kind == B_POW && a->dtype != b->dtype) return pow_mixed(st, a, b, y);
    if (st->kind == B_POW && a->dtype == VM_DTYPE_INT64) BIN_LOOP(int64_t, int64_t, (int64_t)pow((double)u, (double)v));
    else if (st->kind == B_POW && a->dtype == VM_DTYPE_INT32) BIN_LOOP(int32_t, int32_t, (int32_t)pow((double)u, (double)v));
    else switch (a->dtype) {
    case VM_DTYPE_FLOAT:
        if (st->kind == B_DIV) BIN_LOOP(float, float, u / v);
        else if (st->kind == B_POW) {
            if (b->dtype == VM_DTYPE_FLOAT) BIN_LOOP(float, float, powf(u, v));
            else return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "float Pow with %s exponent", vm_dtype_name(b->dtype));
        } else ARITH_CASES(float)
        break;
    case VM_DTYPE_DOUBLE:
        if (st->kind == B_DIV) BIN_LOOP(double, double, u / v);
        else if (st->kind == B_POW) {
            if (b->dtype == VM_DTYPE_DOUBLE) BIN_LOOP(double, double, pow(u, v));
            else return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "double Pow with %s exponent", vm_dtype_name(b->dtype));
        } else ARITH_CASES(double)
        break;
    case VM_DTYPE_INT64: ARITH_CASES(int64_t) break;
    case VM_DTYPE_INT32: ARITH_CASES(int32_t) break;
    case VM_DTYPE_INT16: ARITH_CASES(int16_t) break;
    case VM_DTYPE_INT8: ARITH_CASES(int8_t) break;
    case VM_DTYPE_UINT8: ARITH_CASES(uint8_t) break;
    case VM_DTYPE_UINT16: ARITH_CASES(uint16_t) break;
    case VM_DTYPE_UINT32: ARITH_CASES(uint32_t) break;
    case VM_DTYPE_UINT64: ARITH_CASES(uint64_t) break;
    case VM_DTYPE_BOOL:
        switch (st->kind) {
        case B_AND: BIN_LOOP(uint8_t, uint8_t, u && v); break;
        case B_OR: BIN_LOOP(uint8_t, uint8_t, u || v); break;
        case B_XOR: BIN_LOOP(uint8_t, uint8_t, (!u) != (!v)); break;
        case B_EQ: BIN_LOOP(uint8_t, uint8_t, (!u) == (!v)); break;
        default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "bool inputs");
        }
        break;
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(a->dtype));
    }
    return VM_OK;
}

/* ---------------- Where ---------------- */

struct where_state {
    struct vm_bcast bc;
};

static enum vm_status where_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                    struct vm_error *err) {
    struct where_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *ins[3] = {vm_rt_in(c, s, 0), vm_rt_in(c, s, 1), vm_rt_in(c, s, 2)};
    vm_bcast_init(&st->bc, vm_rt_out(c, s, 0), ins, 3);
    return VM_OK;
}

static enum vm_status where_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    (void)err;
    struct where_state *st = state;
    const struct vm_rt_tensor *cond = vm_rt_in(c, s, 0), *x = vm_rt_in(c, s, 1), *yy = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *out = vm_rt_out(c, s, 0);
    size_t es = vm_dtype_size(out->dtype);
    const struct vm_bcast *bc = &st->bc;
    const uint8_t *pc = cond->data;
    const uint8_t *px = x->data, *py = yy->data;
    uint8_t *po = out->data;
    int64_t inner = bc->inner, r = bc->rank - 1;
    if (out->numel == 0) return VM_OK;
#pragma omp parallel for if (out->numel > PAR_MIN)
    for (int64_t o = 0; o < bc->outer; o++) {
        int64_t off[3];
        vm_bcast_row(bc, o, off);
        for (int64_t i = 0; i < inner; i++) {
            bool cv = pc[off[0] + i * bc->st[0][r]] != 0;
            const uint8_t *src = cv ? px + (off[1] + i * bc->st[1][r]) * (int64_t)es : py + (off[2] + i * bc->st[2][r]) * (int64_t)es;
            memcpy(po + (o * inner + i) * (int64_t)es, src, es);
        }
    }
    return VM_OK;
}

/* ---------------- Cast ---------------- */

static int64_t load_i64(const void *p, int32_t dt, int64_t i) {
    switch (dt) {
    case VM_DTYPE_INT64: return ((const int64_t *)p)[i];
    case VM_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case VM_DTYPE_FLOAT: case VM_DTYPE_DOUBLE: {
        double d = vm_elem_f64(p, dt, i);
        if (d != d) return 0;
        if (d >= 9.2e18) return INT64_MAX;
        if (d <= -9.2e18) return INT64_MIN;
        return (int64_t)d;
    }
    default: return (int64_t)vm_elem_f64(p, dt, i);
    }
}

static enum vm_status cast_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                               struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t n = x->numel;
    void *o = y->data;
    if (x->dtype == y->dtype) {
        memcpy(o, x->data, x->nbytes);
        return VM_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (y->dtype) {
        case VM_DTYPE_FLOAT: ((float *)o)[i] = (float)vm_elem_f64(x->data, x->dtype, i); break;
        case VM_DTYPE_DOUBLE: ((double *)o)[i] = vm_elem_f64(x->data, x->dtype, i); break;
        case VM_DTYPE_BOOL: ((uint8_t *)o)[i] = vm_elem_f64(x->data, x->dtype, i) != 0; break;
        case VM_DTYPE_INT64: ((int64_t *)o)[i] = load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_UINT64: ((uint64_t *)o)[i] = (uint64_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_INT32: ((int32_t *)o)[i] = (int32_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_UINT32: ((uint32_t *)o)[i] = (uint32_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_INT16: ((int16_t *)o)[i] = (int16_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_UINT16: ((uint16_t *)o)[i] = (uint16_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_INT8: ((int8_t *)o)[i] = (int8_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_UINT8: ((uint8_t *)o)[i] = (uint8_t)load_i64(x->data, x->dtype, i); break;
        case VM_DTYPE_FLOAT16: ((uint16_t *)o)[i] = vm_float_to_half((float)vm_elem_f64(x->data, x->dtype, i)); break;
        case VM_DTYPE_BFLOAT16: ((uint16_t *)o)[i] = vm_float_to_bf16((float)vm_elem_f64(x->data, x->dtype, i)); break;
        default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "cast to %s", vm_dtype_name(y->dtype));
        }
    }
    return VM_OK;
}

/* ---------------- Identity, Dropout ---------------- */

/* VIEW kernel: the output aliases the input, so there is nothing to do unless a graph output or
 * input forced separate storage (then copy). */
enum vm_status vm_k_view_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                             struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (x->data != y->data && y->nbytes) memmove(y->data, x->data, y->nbytes);
    return VM_OK;
}

/* Training: y = x * m / (1 - p) with m ~ Bernoulli(1 - p) from the counter RNG, keyed by the step
 * index so each Dropout draws its own stream; inference: copy. Output 1 is the keep mask. */
static enum vm_status dropout_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                  struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0), *mask = vm_rt_out(c, s, 1);
    double p = vm_rt_attr_float(s, "ratio", 0.5);
    int64_t n = x->numel;
    const float *px = x->data;
    float *py = y->data;
    uint8_t *pm = mask ? mask->data : NULL;
    if (!c->training || p == 0) {
        if (px != py) memmove(py, px, x->nbytes);
        if (pm) memset(pm, 1, (size_t)n);
        return VM_OK;
    }
    float scale = (float)(1.0 / (1.0 - p));
    uint64_t stream = 0x1000u + (uint64_t)s->index;
    struct vm_rt_rowkey rk = {0};
    enum vm_status st = vm_rt_rowkey_init(c, s, s->in[0], &rk, err);
    if (st) return st;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        bool keep = vm_rt_rng_uniform(c->seed, c->counter, stream, vm_rt_rowkey_at(&rk, i)) >= p;
        py[i] = keep ? px[i] * scale : 0.0f;
        if (pm) pm[i] = keep;
    }
    return VM_OK;
}


/* ---------------- LeakyRelu, Elu, Selu, HardSigmoid, Softplus, Softsign, HardSwish ----------------
 * Plain loops (the compiler vectorizes them): a classifier has one or two of these, never its
 * bottleneck. Attributes as the compiler normalized them (every one present, ONNX defaults). */

enum act_kind { A_LEAKY, A_ELU, A_SELU, A_HARDSIGMOID, A_SOFTPLUS, A_SOFTSIGN, A_HARDSWISH, A_NONE };

/* op name (any case: "Elu" for the op, "elu" for EltwiseGrad's alg) -> kind */
static enum act_kind act_kind(const char *name) {
    static const char *names[] = {"leakyrelu", "elu", "selu", "hardsigmoid", "softplus", "softsign", "hardswish"};
    for (int i = 0; i < 7; i++)
        if (!strcasecmp(name, names[i])) return (enum act_kind)i;
    return A_NONE;
}

struct act_params {
    enum act_kind k;
    double alpha, beta, gamma;
};

static struct act_params act_params(const struct vm_rt_step *s, const char *name) {
    struct act_params p = {act_kind(name), 0, 0, 0};
    const struct vm_act_default *d = vm_act_default(name); /* what the compiler writes when the model omits it */
    p.alpha = vm_rt_attr_float(s, "alpha", d ? d->alpha : 0);
    p.beta = vm_rt_attr_float(s, "beta", d ? d->beta : 0);
    p.gamma = vm_rt_attr_float(s, "gamma", d ? d->gamma : 0);
    return p;
}

#define ACT_FWD(T, EXPM1, LOG1P, EXP, FABS)                                                                        \
    static void act_fwd_##T(const struct act_params *p, const T *x, T *y, int64_t n) {                            \
        const T a = (T)p->alpha, b = (T)p->beta, g = (T)p->gamma;                                                \
        switch (p->k) {                                                                                            \
        case A_LEAKY: for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : a * x[i]; break;                  \
        case A_ELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : a * EXPM1(x[i]); break;              \
        case A_SELU: for (int64_t i = 0; i < n; i++) y[i] = g * (x[i] > 0 ? x[i] : a * EXPM1(x[i])); break;       \
        case A_HARDSIGMOID:                                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                                      \
                T v = a * x[i] + b;                                                                                \
                y[i] = v < 0 ? 0 : v > 1 ? 1 : v;                                                                  \
            }                                                                                                      \
            break;                                                                                                 \
        case A_SOFTPLUS: /* log(1 + e^x) without overflow */                                                      \
            for (int64_t i = 0; i < n; i++) y[i] = (x[i] > 0 ? x[i] : 0) + LOG1P(EXP(-FABS(x[i])));              \
            break;                                                                                                 \
        case A_SOFTSIGN: for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1 + FABS(x[i])); break;                   \
        case A_HARDSWISH:                                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                                      \
                T v = x[i] / 6 + (T)0.5;                                                                           \
                y[i] = x[i] * (v < 0 ? 0 : v > 1 ? 1 : v);                                                         \
            }                                                                                                      \
            break;                                                                                                 \
        default: break;                                                                                            \
        }                                                                                                          \
    }
ACT_FWD(float, expm1f, log1pf, expf, fabsf)
ACT_FWD(double, expm1, log1p, exp, fabs)

static enum vm_status act_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)c;
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    struct act_params p = act_params(s, s->op);
    if (x->dtype == VM_DTYPE_FLOAT) act_fwd_float(&p, x->data, y->data, x->numel);
    else if (x->dtype == VM_DTYPE_DOUBLE) act_fwd_double(&p, x->data, y->data, x->numel);
    else return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "%s of %s is not supported", s->op, vm_dtype_name(x->dtype));
    return VM_OK;
}

/* dx = dy * f'(x) */
static void act_grad(const struct act_params *p, const float *dy, const float *x, float *dx, int64_t n) {
    const float a = (float)p->alpha, b = (float)p->beta, g = (float)p->gamma;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], d = dy[i];
        switch (p->k) {
        case A_LEAKY: dx[i] = v >= 0 ? d : a * d; break;
        case A_ELU: dx[i] = v > 0 ? d : d * a * expf(v); break;
        case A_SELU: dx[i] = g * (v > 0 ? d : d * a * expf(v)); break;
        case A_HARDSIGMOID: {
            float h = a * v + b;
            dx[i] = h > 0 && h < 1 ? d * a : 0;
            break;
        }
        case A_SOFTPLUS: dx[i] = d * (v >= 0 ? 1 / (1 + expf(-v)) : expf(v) / (1 + expf(v))); break;
        case A_SOFTSIGN: {
            float q = 1 + fabsf(v);
            dx[i] = d / (q * q);
            break;
        }
        case A_HARDSWISH: dx[i] = v < -3 ? 0 : v > 3 ? d : d * (v / 3 + 0.5f); break;
        default: dx[i] = 0; break;
        }
    }
}

/* ---------------- GeluD (training: GELU and its derivative in one pass) ---------------- */

/* y = x Phi(x) and d = dy/dx = Phi(x) + x phi(x), Phi the standard normal CDF and phi its density
 * (compiler/pass_remat.c, vm_pass_gelu_derivative: the backward multiplies its gradient by d, as
 * the post-op of the matmul that computes that gradient, instead of recomputing GELU and its
 * derivative from x). Both from one exponential: phi(x) = exp(-z^2) / sqrt(2 pi) with z = |x| /
 * sqrt(2) (vm_k_expf), and erfc(z) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7;
 * oneDNN's gelu_erf uses the same approximation), Phi(x) = erfc(z) / 2 for x < 0 and 1 - erfc(z) / 2
 * otherwise, so the tail has no cancellation.
 * z = |x| / sqrt(2) is clamped at 9 (erfc(9) = 4e-37: Phi is 0 or 1 in float from |x| = 12.7 on)
 * and Phi's two branches are selected by x's sign bit, both as integer operations on the floats'
 * bits, which keeps the loop vectorizable at every width (GCC does not if-convert these float
 * comparisons without -ffinite-math-only or AVX-512's masks); NaN's bits are above 9's, and y
 * stays NaN through x. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void gelu_d_block(const float *restrict x, float *restrict y,
                                                                                     float *restrict d, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], z = fabsf(v) * 0.70710678118654752f;
        int32_t zb;
        memcpy(&zb, &z, sizeof zb);
        zb = zb < 0x41100000 ? zb : 0x41100000; /* 9.0f */
        memcpy(&z, &zb, sizeof z);
        float t = 1.0f / (1.0f + 0.3275911f * z);
        float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
        float e = vm_k_expf(-z * z), half_erfc = 0.5f * poly * e, upper = 1.0f - half_erfc, cdf;
        int32_t vb, lb, ub;
        memcpy(&vb, &v, sizeof vb);
        memcpy(&lb, &half_erfc, sizeof lb);
        memcpy(&ub, &upper, sizeof ub);
        int32_t neg = vb >> 31; /* all ones when x's sign bit is set */
        lb = (lb & neg) | (ub & ~neg);
        memcpy(&cdf, &lb, sizeof cdf);
        y[i] = v * cdf;
        d[i] = cdf + v * 0.39894228040143268f * e;
    }
}

static void gelu_d_f32(const float *x, float *y, float *d, int64_t n) {
    const int64_t block = 4096;
    int64_t nb = (n + block - 1) / block;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * block, len = n - lo < block ? n - lo : block;
        gelu_d_block(x + lo, y + lo, d + lo, len);
    }
}

/* The C reference: the same formula in double with libm's erf and exp. */
static void gelu_d_ref(const float *x, float *y, float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], cdf = 0.5 * (1.0 + erf(v * 0.7071067811865476));
        y[i] = (float)(v * cdf);
        d[i] = (float)(cdf + v * 0.3989422804014327 * exp(-0.5 * v * v));
    }
}

static enum vm_status gelu_d_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    if (x->dtype != VM_DTYPE_FLOAT) return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    if (c->m->ref_kernels) gelu_d_ref(x->data, vm_rt_out(c, s, 0)->data, vm_rt_out(c, s, 1)->data, x->numel);
    else gelu_d_f32(x->data, vm_rt_out(c, s, 0)->data, vm_rt_out(c, s, 1)->data, x->numel);
    return VM_OK;
}

/* ---------------- EltwiseGrad, DropoutGrad (backward) ---------------- */

enum egrad_kind { G_RELU, G_TANH, G_SIGMOID, G_EXP, G_SQRT, G_ERF, G_ABS, G_GELU };

static enum egrad_kind egrad_kind(const char *alg) {
    static const char *names[] = {"relu", "tanh", "sigmoid", "exp", "sqrt", "erf", "abs", "gelu"};
    for (int i = 0; i < 8; i++)
        if (!strcmp(alg, names[i])) return (enum egrad_kind)i;
    return G_RELU;
}

/* dx from dy and t (t = forward output for relu/tanh/sigmoid/exp/sqrt, forward input for erf/abs). */
void vm_ref_eltwise_grad_f32(const char *alg, const float *dy, const float *t, float *dx, int64_t n) {
    enum egrad_kind k = egrad_kind(alg);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = t[i], g = dy[i];
        switch (k) {
        case G_RELU: dx[i] = v > 0 ? g : 0; break;
        case G_TANH: dx[i] = g * (1 - v * v); break;
        case G_SIGMOID: dx[i] = g * v * (1 - v); break;
        case G_EXP: dx[i] = g * v; break;
        case G_SQRT: dx[i] = g * 0.5f / v; break;
        case G_ERF: dx[i] = g * 1.1283791670955126f * expf(-v * v); break;
        case G_ABS: dx[i] = v > 0 ? g : v < 0 ? -g : 0; break;
        case G_GELU:
            dx[i] = (float)(g * (0.5 * (1.0 + erf(v * 0.7071067811865476)) + v * 0.3989422804014327 * exp(-0.5 * (double)v * v)));
            break;
        }
    }
}

struct egrad_state {
    dnnl_primitive_t prim;
    dnnl_memory_t diff_dst, data, diff_src;
    int data_arg;
};

static void egrad_release(void *p) {
    struct egrad_state *st = p;
    if (!st) return;
    if (st->prim) dnnl_primitive_destroy(st->prim);
    if (st->diff_dst) dnnl_memory_destroy(st->diff_dst);
    if (st->data) dnnl_memory_destroy(st->data);
    if (st->diff_src) dnnl_memory_destroy(st->diff_src);
    free(st);
}

static enum vm_status egrad_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                    struct vm_error *err) {
    struct egrad_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0);
    if (dy->numel == 0 || c->m->ref_kernels || act_kind(vm_rt_attr_string(s, "alg", "relu")) != A_NONE) return VM_OK;
    dnnl_alg_kind_t alg;
    st->data_arg = DNNL_ARG_DST;
    switch (egrad_kind(vm_rt_attr_string(s, "alg", "relu"))) {
    case G_RELU: alg = dnnl_eltwise_relu_use_dst_for_bwd; break;
    case G_TANH: alg = dnnl_eltwise_tanh_use_dst_for_bwd; break;
    case G_SIGMOID: alg = dnnl_eltwise_logistic_use_dst_for_bwd; break;
    case G_EXP: alg = dnnl_eltwise_exp_use_dst_for_bwd; break;
    case G_SQRT: alg = dnnl_eltwise_sqrt_use_dst_for_bwd; break;
    case G_ABS: alg = dnnl_eltwise_abs; st->data_arg = DNNL_ARG_SRC; break;
    case G_GELU: alg = dnnl_eltwise_gelu_erf; st->data_arg = DNNL_ARG_SRC; break;
    default: return VM_OK; /* erf: C */
    }
    int64_t n = dy->numel;
    dnnl_memory_desc_t md;
    VM_DNNL(vm_dnnl_md(&md, 1, &n, VM_DTYPE_FLOAT), s, err);
    dnnl_eltwise_desc_t fd, bd;
    VM_DNNL(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, alg, &md, 0, 0), s, err);
    VM_DNNL(dnnl_eltwise_backward_desc_init(&bd, alg, &md, &md, 0, 0), s, err);
    dnnl_primitive_desc_t fpd;
    VM_DNNL(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->engine, NULL), s, err);
    enum vm_status e = vm_dnnl_build(c, s, &bd, fpd, &st->prim, err);
    dnnl_primitive_desc_destroy(fpd);
    if (e) return e;
    e = vm_dnnl_mem2(c, s, &md, &st->diff_dst, &md, &st->data, err);
    return e ? e : vm_dnnl_mem(c, s, &md, &st->diff_src, err);
}

static enum vm_status egrad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    struct egrad_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *t = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    if (st->prim) {
        dnnl_memory_set_data_handle(st->diff_dst, dy->data);
        dnnl_memory_set_data_handle(st->data, t->data);
        dnnl_memory_set_data_handle(st->diff_src, dx->data);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, st->diff_dst}, {st->data_arg, st->data}, {DNNL_ARG_DIFF_SRC, st->diff_src}};
        return vm_dnnl_exec(c, s, st->prim, 3, args, err);
    }
    struct act_params p = act_params(s, vm_rt_attr_string(s, "alg", "relu"));
    if (p.k != A_NONE) act_grad(&p, dy->data, t->data, dx->data, dy->numel);
    else vm_ref_eltwise_grad_f32(vm_rt_attr_string(s, "alg", "relu"), dy->data, t->data, dx->data, dy->numel);
    return VM_OK;
}

static enum vm_status dropout_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                       struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *mask = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    double p = vm_rt_attr_float(s, "ratio", 0.5);
    /* mask is all ones when the forward ran in inference mode; scale only applies to training */
    float scale = c->training ? (float)(1.0 / (1.0 - p)) : 1.0f;
    const float *g = dy->data;
    const uint8_t *m = mask->data;
    float *o = dx->data;
    int64_t n = dy->numel;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) o[i] = m[i] ? g[i] * scale : 0.0f;
    return VM_OK;
}

/* ---------------- Max, Min (1-4 inputs), Clip ---------------- */

/* LOOP(T) for the C type of dtype dt, every numeric type ONNX's Max/Min/Clip take but float16;
 * returns an error from the kernel for another type. */
#define NUMERIC_SWITCH(dt, LOOP)                                                              \
    switch (dt) {                                                                             \
    case VM_DTYPE_FLOAT: LOOP(float); break;                                                  \
    case VM_DTYPE_DOUBLE: LOOP(double); break;                                                \
    case VM_DTYPE_INT64: LOOP(int64_t); break;                                                \
    case VM_DTYPE_INT32: LOOP(int32_t); break;                                                \
    case VM_DTYPE_INT16: LOOP(int16_t); break;                                                \
    case VM_DTYPE_INT8: LOOP(int8_t); break;                                                  \
    case VM_DTYPE_UINT8: LOOP(uint8_t); break;                                                \
    case VM_DTYPE_UINT16: LOOP(uint16_t); break;                                              \
    case VM_DTYPE_UINT32: LOOP(uint32_t); break;                                              \
    case VM_DTYPE_UINT64: LOOP(uint64_t); break;                                              \
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(dt)); \
    }

static enum vm_status minmax_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                     struct vm_error *err) {
    struct vm_bcast *bc = vm_calloc(1, sizeof *bc, err);
    if (!bc) return VM_ENOMEM;
    *state = bc;
    const struct vm_rt_tensor *ins[VM_BCAST_MAX_OPS];
    for (int k = 0; k < s->n_in; k++) ins[k] = vm_rt_in(c, s, k);
    vm_bcast_init(bc, vm_rt_out(c, s, 0), ins, s->n_in);
    return VM_OK;
}

#define MINMAX_LOOP(T)                                                                        \
    do {                                                                                      \
        _Pragma("omp parallel for if (y->numel > PAR_MIN)")                                   \
        for (int64_t o = 0; o < bc->outer; o++) {                                             \
            int64_t off[VM_BCAST_MAX_OPS];                                                    \
            vm_bcast_row(bc, o, off);                                                         \
            T *ry = (T *)y->data + o * bc->inner;                                             \
            for (int64_t i = 0; i < bc->inner; i++) {                                         \
                T v = ((const T *)x[0])[off[0] + i * bc->st[0][bc->rank - 1]];                \
                for (int k = 1; k < n; k++) {                                                 \
                    T u = ((const T *)x[k])[off[k] + i * bc->st[k][bc->rank - 1]];            \
                    v = is_max ? (u > v || u != u ? u : v) : (u < v || u != u ? u : v);       \
                }                                                                             \
                ry[i] = v;                                                                    \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* NaN in any input gives NaN, as numpy's maximum/minimum (the ONNX reference) does. */
static enum vm_status minmax_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    const struct vm_bcast *bc = state;
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    const void *x[VM_BCAST_MAX_OPS];
    int n = s->n_in;
    bool is_max = !strcmp(s->op, "Max");
    for (int k = 0; k < n; k++) x[k] = vm_rt_in(c, s, k)->data;
    if (y->numel == 0) return VM_OK;
    NUMERIC_SWITCH(y->dtype, MINMAX_LOOP);
    return VM_OK;
}

/* y = min(max(x, lo), hi) (numpy's clip, the ONNX reference: hi wins when lo > hi); a bound is the
 * scalar input (Clip-11), else the float attribute (Clip-6), else none. */
#define CLIP_LOOP(T)                                                                          \
    do {                                                                                      \
        const T *px = x->data;                                                                \
        T *py = y->data;                                                                      \
        T lo = 0, hi = 0;                                                                     \
        if (tlo) lo = *(const T *)tlo->data;                                                  \
        else if (has_lo) lo = (T)alo;                                                         \
        if (thi) hi = *(const T *)thi->data;                                                  \
        else if (has_hi) hi = (T)ahi;                                                         \
        bool blo = tlo || has_lo, bhi = thi || has_hi;                                        \
        _Pragma("omp parallel for if (n > PAR_MIN)")                                          \
        for (int64_t i = 0; i < n; i++) {                                                     \
            T v = px[i];                                                                      \
            if (blo && v < lo) v = lo;                                                        \
            if (bhi && v > hi) v = hi;                                                        \
            py[i] = v;                                                                        \
        }                                                                                     \
    } while (0)

static enum vm_status clip_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                               struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *tlo = vm_rt_in(c, s, 1), *thi = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    double alo = vm_rt_attr_float(s, "min", NAN), ahi = vm_rt_attr_float(s, "max", NAN);
    bool has_lo = !isnan(alo), has_hi = !isnan(ahi);
    if ((tlo && tlo->numel != 1) || (thi && thi->numel != 1))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "min and max must be scalars (%lld and %lld elements)",
                                 (long long)(tlo ? tlo->numel : 1), (long long)(thi ? thi->numel : 1));
    int64_t n = x->numel;
    NUMERIC_SWITCH(x->dtype, CLIP_LOOP);
    return VM_OK;
}

#define K_UNARY(name) {name, 1, 1, 1, 1, 0, unary_prepare, unary_run, unary_release}
#define K_BINARY(name) {name, 2, 2, 1, 1, 0, binary_prepare, binary_run, binary_release}

const struct vm_rt_kernel vm_rt_kernels_elementwise[] = {
    K_UNARY("Relu"), K_UNARY("Tanh"), K_UNARY("Sigmoid"), K_UNARY("Erf"), K_UNARY("Sqrt"),
    K_UNARY("Exp"), K_UNARY("Log"), K_UNARY("Reciprocal"), K_UNARY("Neg"), K_UNARY("Abs"),
    K_UNARY("Not"), K_UNARY("Gelu"),
    {"GeluD", 1, 1, 2, 2, 0, NULL, gelu_d_run, NULL},
    {"LeakyRelu", 1, 1, 1, 1, 0, NULL, act_run, NULL}, {"Elu", 1, 1, 1, 1, 0, NULL, act_run, NULL},
    {"Selu", 1, 1, 1, 1, 0, NULL, act_run, NULL}, {"HardSigmoid", 1, 1, 1, 1, 0, NULL, act_run, NULL},
    {"Softplus", 1, 1, 1, 1, 0, NULL, act_run, NULL}, {"Softsign", 1, 1, 1, 1, 0, NULL, act_run, NULL},
    {"HardSwish", 1, 1, 1, 1, 0, NULL, act_run, NULL},
    K_BINARY("Add"), K_BINARY("Sub"), K_BINARY("Mul"), K_BINARY("Div"), K_BINARY("Pow"),
    K_BINARY("Equal"), K_BINARY("Greater"), K_BINARY("Less"), K_BINARY("And"), K_BINARY("Or"),
    K_BINARY("Xor"),
    {"Where", 3, 3, 1, 1, 0, where_prepare, where_run, free},
    {"Max", 1, VM_BCAST_MAX_OPS, 1, 1, 0, minmax_prepare, minmax_run, free},
    {"Min", 1, VM_BCAST_MAX_OPS, 1, 1, 0, minmax_prepare, minmax_run, free},
    {"Clip", 1, 3, 1, 1, 0, NULL, clip_run, NULL},
    {"Cast", 1, 1, 1, 1, 0, NULL, cast_run, NULL},
    {"Identity", 1, 1, 1, 1, VM_RT_K_VIEW, NULL, vm_k_view_run, NULL},
    {"Dropout", 1, 3, 1, 2, 0, NULL, dropout_run, NULL},
    {"EltwiseGrad", 2, 2, 1, 1, 0, egrad_prepare, egrad_run, egrad_release},
    {"DropoutGrad", 2, 2, 1, 1, 0, NULL, dropout_grad_run, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
