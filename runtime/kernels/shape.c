/* shape kernels: data movement. Reshape/Flatten/Squeeze/Unsqueeze are views (no work). Transpose
 * runs as a oneDNN reorder for 32-bit and 8-bit types (a strided source descriptor), Gather is the
 * embedding lookup (row copies, indices bounds-checked), the rest are C copy loops.
 *
 * Shape inputs (Slice's starts/ends, Range's start/delta) are known values the runtime filled when
 * binding, so prepare can read them and check them against the real dims.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcast.h"
#include "kernels.h"

#define PAR_MIN 32768

static int64_t get_i64(const struct vm_rt_tensor *t, int64_t i) {
    switch (t->dtype) {
    case VM_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case VM_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    default: return 0;
    }
}

/* ---------------- Shape, Size (normally folded away) ---------------- */

static enum vm_status shape_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t *o = y->data;
    if (!strcmp(s->op, "Size")) {
        o[0] = x->numel;
        return VM_OK;
    }
    int64_t start = vm_rt_attr_int(s, "start", 0);
    for (int64_t i = 0; i < y->numel; i++) o[i] = x->dims[start + i];
    return VM_OK;
}

/* ---------------- Transpose ---------------- */

struct transpose_state {
    int rank;
    int64_t dims[VM_MAX_RANK];   /* output dims */
    int64_t istride[VM_MAX_RANK]; /* input stride for each output dim (elements) */
    struct vm_dnnl_prim prim;
    dnnl_memory_t src, dst;
};

static void transpose_release(void *p) {
    struct transpose_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->prim);
    if (st->src) dnnl_memory_destroy(st->src);
    if (st->dst) dnnl_memory_destroy(st->dst);
    free(st);
}

static enum vm_status transpose_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                        struct vm_error *err) {
    struct transpose_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    int64_t perm[VM_MAX_RANK], xs[VM_MAX_RANK];
    int r = x->rank;
    if (vm_rt_attr_ints(s, "perm", perm, VM_MAX_RANK) != r)
        return vm_rt_step_errorf(s, err, VM_EFORMAT, "perm does not match the input rank");
    /* a plan file is untrusted: perm must be a permutation of 0..r-1 before it indexes dims */
    if (!vm_is_perm(perm, r))
        return vm_rt_step_errorf(s, err, VM_EFORMAT, "perm is not a permutation of the input's %d axes", r);
    int64_t acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = acc;
        acc *= x->dims[d];
    }
    /* drop unit dims and merge output dims that stay adjacent in the input */
    int m = 0;
    for (int d = 0; d < r; d++) {
        int64_t dim = x->dims[perm[d]], str = xs[perm[d]];
        if (dim == 1) continue;
        if (m > 0 && st->istride[m - 1] == str * dim) {
            st->dims[m - 1] *= dim;
            st->istride[m - 1] = str;
            continue;
        }
        st->dims[m] = dim;
        st->istride[m] = str;
        m++;
    }
    if (m == 0) {
        st->dims[0] = 1;
        st->istride[0] = 1;
        m = 1;
    }
    st->rank = m;
    size_t es = vm_dtype_size(x->dtype);
    if (c->m->ref_kernels || x->numel == 0 || m > 6 || (es != 4 && es != 1) || m == 1) return VM_OK;
    int32_t dt = es == 4 ? VM_DTYPE_FLOAT : VM_DTYPE_UINT8; /* bit copies: the type only sets the width */
    dnnl_dims_t dd, ss;
    for (int d = 0; d < m; d++) {
        dd[d] = st->dims[d];
        ss[d] = st->istride[d];
    }
    dnnl_memory_desc_t smd, dmd;
    dnnl_data_type_t ddt = dt == VM_DTYPE_FLOAT ? dnnl_f32 : dnnl_u8;
    VM_DNNL(dnnl_memory_desc_init_by_strides(&smd, m, dd, ddt, ss), s, err);
    VM_DNNL(vm_dnnl_md(&dmd, m, st->dims, dt), s, err);
    dnnl_primitive_desc_t pd;
    VM_DNNL(dnnl_reorder_primitive_desc_create(&pd, &smd, c->engine, &dmd, c->engine, NULL), s, err);
    dnnl_status_t e = dnnl_primitive_create(&st->prim.prim, pd);
    dnnl_primitive_desc_destroy(pd);
    VM_DNNL(e, s, err);
    return vm_dnnl_mem2(c, s, &smd, &st->src, &dmd, &st->dst, err);
}

static enum vm_status transpose_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                    struct vm_error *err) {
    struct transpose_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (st->prim.prim) {
        dnnl_memory_set_data_handle(st->src, x->data);
        dnnl_memory_set_data_handle(st->dst, y->data);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, st->src}, {DNNL_ARG_TO, st->dst}};
        return vm_dnnl_exec(c, s, st->prim.prim, 2, args, err);
    }
    size_t es = vm_dtype_size(x->dtype);
    int r = st->rank;
    int64_t inner = st->dims[r - 1], istr = st->istride[r - 1], outer = y->numel / inner;
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
#pragma omp parallel for if (y->numel > PAR_MIN)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, off = 0;
        for (int d = r - 2; d >= 0; d--) {
            off += (rem % st->dims[d]) * st->istride[d];
            rem /= st->dims[d];
        }
        uint8_t *dst = py + (size_t)(o * inner) * es;
        if (es == 4) {
            const uint32_t *src = (const uint32_t *)px + off;
            for (int64_t i = 0; i < inner; i++) ((uint32_t *)dst)[i] = src[i * istr];
        } else if (es == 8) {
            const uint64_t *src = (const uint64_t *)px + off;
            for (int64_t i = 0; i < inner; i++) ((uint64_t *)dst)[i] = src[i * istr];
        } else {
            for (int64_t i = 0; i < inner; i++) memcpy(dst + i * (int64_t)es, px + (off + i * istr) * (int64_t)es, es);
        }
    }
    return VM_OK;
}

/* ---------------- Concat, Split ---------------- */

/* outer = prod(dims[:axis]); each tensor contributes dims[axis]*prod(dims[axis+1:]) elements per
 * outer index. */
static void axis_split(const struct vm_rt_tensor *t, int axis, int64_t *outer, int64_t *block) {
    int64_t o = 1, b = 1;
    for (int d = 0; d < axis; d++) o *= t->dims[d];
    for (int d = axis; d < t->rank; d++) b *= t->dims[d];
    *outer = o;
    *block = b;
}

static enum vm_status concat_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    (void)state;
    (void)err;
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int axis = (int)vm_rt_attr_int(s, "axis", 0);
    size_t es = vm_dtype_size(y->dtype);
    int64_t outer, yblock;
    axis_split(y, axis, &outer, &yblock);
    int64_t pos = 0;
    for (int32_t k = 0; k < s->n_in; k++) {
        const struct vm_rt_tensor *x = vm_rt_in(c, s, k);
        int64_t o2, block;
        axis_split(x, axis, &o2, &block);
        if (block == 0) continue;
        const uint8_t *px = x->data;
        uint8_t *py = y->data;
#pragma omp parallel for if (y->numel > PAR_MIN)
        for (int64_t o = 0; o < outer; o++)
            memcpy(py + (size_t)(o * yblock + pos) * es, px + (size_t)(o * block) * es, (size_t)block * es);
        pos += block;
    }
    return VM_OK;
}

static enum vm_status split_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    int axis = (int)vm_rt_attr_int(s, "axis", 0);
    size_t es = vm_dtype_size(x->dtype);
    int64_t outer, xblock;
    axis_split(x, axis, &outer, &xblock);
    int64_t pos = 0;
    for (int32_t k = 0; k < s->n_out; k++) {
        struct vm_rt_tensor *y = vm_rt_out(c, s, k);
        if (!y) continue;
        int64_t o2, block;
        axis_split(y, axis, &o2, &block);
        const uint8_t *px = x->data;
        uint8_t *py = y->data;
        for (int64_t o = 0; o < outer && block; o++)
            memcpy(py + (size_t)(o * block) * es, px + (size_t)(o * xblock + pos) * es, (size_t)block * es);
        pos += block;
    }
    return VM_OK;
}

/* ---------------- Slice ---------------- */

struct slice_state {
    int rank;
    int64_t start[VM_MAX_RANK], step[VM_MAX_RANK]; /* per input dim */
    int64_t xstride[VM_MAX_RANK];
};

/* Computes per-axis start/step of a Slice of x (full) giving y (sliced), checking y's dims. */
static enum vm_status slice_setup(struct slice_state *st, const struct vm_rt_step *s, const struct vm_rt_tensor *x,
                                  const struct vm_rt_tensor *y, const struct vm_rt_tensor *ts, const struct vm_rt_tensor *te,
                                  const struct vm_rt_tensor *ta, const struct vm_rt_tensor *tp, struct vm_error *err) {
    int r = x->rank;
    st->rank = r;
    int64_t acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        st->xstride[d] = acc;
        acc *= x->dims[d];
        st->start[d] = 0;
        st->step[d] = 1;
    }
    if (!ts->data || !te->data) return vm_rt_step_errorf(s, err, VM_EFORMAT, "starts/ends are not known");
    for (int64_t i = 0; i < ts->numel; i++) {
        int64_t axis = ta ? get_i64(ta, i) : i;
        if (axis < 0) axis += r;
        int64_t D = x->dims[axis], a = get_i64(ts, i), b = get_i64(te, i), step = tp ? get_i64(tp, i) : 1, len;
        if (a < 0) a += D;
        if (b < 0) b += D;
        if (step > 0) {
            a = a < 0 ? 0 : a > D ? D : a;
            b = b < 0 ? 0 : b > D ? D : b;
            len = b > a ? (b - a + step - 1) / step : 0;
        } else {
            a = a < 0 ? 0 : a > D - 1 ? D - 1 : a;
            b = b < -1 ? -1 : b > D - 1 ? D - 1 : b;
            len = a > b ? (a - b - step - 1) / (-step) : 0;
        }
        if (len != y->dims[axis])
            return vm_rt_step_errorf(s, err, VM_EINVAL,
                                     "slicing axis %lld (length %lld) gives %lld elements, but the model's shapes need %lld "
                                     "(for example a sequence longer than a position table)",
                                     (long long)axis, (long long)D, (long long)len, (long long)y->dims[axis]);
        st->start[axis] = a;
        st->step[axis] = step;
    }
    return VM_OK;
}

static enum vm_status slice_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                    struct vm_error *err) {
    struct slice_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    return slice_setup(st, s, vm_rt_in(c, s, 0), vm_rt_out(c, s, 0), vm_rt_in(c, s, 1), vm_rt_in(c, s, 2), vm_rt_in(c, s, 3),
                       vm_rt_in(c, s, 4), err);
}

/* SliceGrad(dy, xshape, starts, ends, axes?, steps?): the output plays the forward's x. */
static enum vm_status slice_grad_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                         struct vm_error *err) {
    struct slice_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    return slice_setup(st, s, vm_rt_out(c, s, 0), vm_rt_in(c, s, 0), vm_rt_in(c, s, 2), vm_rt_in(c, s, 3), vm_rt_in(c, s, 4),
                       vm_rt_in(c, s, 5), err);
}

static enum vm_status slice_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                     struct vm_error *err) {
    (void)err;
    struct slice_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    memset(dx->data, 0, dx->nbytes);
    if (dy->numel == 0) return VM_OK;
    size_t es = vm_dtype_size(dx->dtype);
    int r = st->rank > 0 ? st->rank : 1;
    int64_t inner = st->rank ? dy->dims[r - 1] : 1, outer = dy->numel / inner;
    int64_t base = 0;
    for (int d = 0; d < st->rank; d++) base += st->start[d] * st->xstride[d];
    int64_t istep = st->rank ? st->step[r - 1] * st->xstride[r - 1] : 1;
    const uint8_t *py = dy->data;
    uint8_t *px = dx->data;
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, off = base;
        for (int d = st->rank - 2; d >= 0; d--) {
            off += (rem % dy->dims[d]) * st->step[d] * st->xstride[d];
            rem /= dy->dims[d];
        }
        for (int64_t i = 0; i < inner; i++) memcpy(px + (off + i * istep) * (int64_t)es, py + (o * inner + i) * (int64_t)es, es);
    }
    return VM_OK;
}

static enum vm_status slice_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    (void)err;
    struct slice_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    size_t es = vm_dtype_size(x->dtype);
    int r = st->rank > 0 ? st->rank : 1;
    int64_t inner = st->rank ? y->dims[r - 1] : 1, outer = y->numel / inner;
    int64_t base = 0;
    for (int d = 0; d < st->rank; d++) base += st->start[d] * st->xstride[d];
    int64_t istep = st->rank ? st->step[r - 1] * st->xstride[r - 1] : 1;
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
#pragma omp parallel for if (y->numel > PAR_MIN)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, off = base;
        for (int d = st->rank - 2; d >= 0; d--) {
            off += (rem % y->dims[d]) * st->step[d] * st->xstride[d];
            rem /= y->dims[d];
        }
        uint8_t *dst = py + (size_t)(o * inner) * es;
        if (istep == 1) memcpy(dst, px + (size_t)off * es, (size_t)inner * es);
        else
            for (int64_t i = 0; i < inner; i++) memcpy(dst + i * (int64_t)es, px + (off + i * istep) * (int64_t)es, es);
    }
    return VM_OK;
}

/* ---------------- Gather ---------------- */

static enum vm_status gather_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *idx = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int axis = (int)vm_rt_attr_int(s, "axis", 0);
    size_t es = vm_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, len = x->dims[axis], n = idx->numel;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t v = get_i64(idx, i);
        if (v < -len || v >= len)
            return vm_rt_step_errorf(s, err, VM_EINVAL, "index %lld (position %lld of '%s') is out of range [%lld, %lld)",
                                     (long long)v, (long long)i, c->m->plan.values[s->in[1]].name, (long long)-len, (long long)len);
    }
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
    size_t row = (size_t)inner * es;
#pragma omp parallel for collapse(2) if (y->numel > PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++) {
            int64_t v = get_i64(idx, i);
            if (v < 0) v += len;
            memcpy(py + (size_t)(o * n + i) * row, px + (size_t)(o * len + v) * row, row);
        }
    return VM_OK;
}


/* GatherGrad(dy, indices, xshape): zero, then add dy's rows at their indices. Threads split the
 * row width, not the indices, so repeated indices (the same word twice) never race. */
static enum vm_status gather_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                      struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *idx = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    if (dx->dtype != VM_DTYPE_FLOAT) return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(dx->dtype));
    int axis = (int)vm_rt_attr_int(s, "axis", 0);
    int64_t outer = 1, inner = 1, len = dx->dims[axis], n = idx->numel;
    for (int d = 0; d < axis; d++) outer *= dx->dims[d];
    for (int d = axis + 1; d < dx->rank; d++) inner *= dx->dims[d];
    float *o = dx->data;
    const float *g = dy->data;
    memset(o, 0, dx->nbytes);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = get_i64(idx, i);
        if (v < -len || v >= len) return vm_rt_step_errorf(s, err, VM_EINVAL, "index %lld out of range", (long long)v);
    }
    int64_t chunks = inner >= 64 ? 8 : 1, cw = (inner + chunks - 1) / chunks;
#pragma omp parallel for collapse(2) if (dy->numel > PAR_MIN)
    for (int64_t oo = 0; oo < outer; oo++)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t k0 = ch * cw, k1 = k0 + cw < inner ? k0 + cw : inner;
            for (int64_t i = 0; i < n; i++) {
                int64_t v = get_i64(idx, i);
                if (v < 0) v += len;
                float *dst = o + (oo * len + v) * inner;
                const float *src = g + (oo * n + i) * inner;
                for (int64_t k = k0; k < k1; k++) dst[k] += src[k];
            }
        }
    return VM_OK;
}

/* ---------------- Expand ---------------- */

struct expand_state {
    struct vm_bcast bc;
};

static enum vm_status expand_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                     struct vm_error *err) {
    struct expand_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *ins[1] = {vm_rt_in(c, s, 0)};
    vm_bcast_init(&st->bc, vm_rt_out(c, s, 0), ins, 1);
    return VM_OK;
}

static enum vm_status expand_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    (void)err;
    struct expand_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    size_t es = vm_dtype_size(x->dtype);
    const struct vm_bcast *bc = &st->bc;
    int64_t inner = bc->inner, str = bc->st[0][bc->rank - 1];
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
#pragma omp parallel for if (y->numel > PAR_MIN)
    for (int64_t o = 0; o < bc->outer; o++) {
        int64_t off;
        vm_bcast_row(bc, o, &off);
        uint8_t *dst = py + (size_t)(o * inner) * es;
        if (str == 1) memcpy(dst, px + (size_t)off * es, (size_t)inner * es);
        else
            for (int64_t i = 0; i < inner; i++) memcpy(dst + i * (int64_t)es, px + (off + i * str) * (int64_t)es, es);
    }
    return VM_OK;
}

/* ---------------- ConstantOfShape, Range ---------------- */

static enum vm_status constant_of_shape_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                            struct vm_error *err) {
    (void)state;
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    double v = vm_rt_attr_float(s, "value", 0.0);
    int64_t n = y->numel;
    switch (y->dtype) {
    case VM_DTYPE_FLOAT: { float f = (float)v; float *p = y->data; for (int64_t i = 0; i < n; i++) p[i] = f; break; }
    case VM_DTYPE_DOUBLE: { double *p = y->data; for (int64_t i = 0; i < n; i++) p[i] = v; break; }
    case VM_DTYPE_INT64: { int64_t *p = y->data; for (int64_t i = 0; i < n; i++) p[i] = (int64_t)v; break; }
    case VM_DTYPE_INT32: { int32_t *p = y->data; for (int64_t i = 0; i < n; i++) p[i] = (int32_t)v; break; }
    case VM_DTYPE_BOOL: case VM_DTYPE_UINT8: memset(y->data, (int)(uint8_t)v, (size_t)n); break;
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(y->dtype));
    }
    return VM_OK;
}

static enum vm_status range_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *d = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t n = y->numel;
    switch (y->dtype) {
    case VM_DTYPE_INT64: case VM_DTYPE_INT32: {
        int64_t x0 = get_i64(a, 0), dx = get_i64(d, 0);
        for (int64_t i = 0; i < n; i++) {
            if (y->dtype == VM_DTYPE_INT64) ((int64_t *)y->data)[i] = x0 + i * dx;
            else ((int32_t *)y->data)[i] = (int32_t)(x0 + i * dx);
        }
        break;
    }
    case VM_DTYPE_FLOAT: {
        float x0 = *(const float *)a->data, dx = *(const float *)d->data;
        for (int64_t i = 0; i < n; i++) ((float *)y->data)[i] = x0 + (float)i * dx;
        break;
    }
    case VM_DTYPE_DOUBLE: {
        double x0 = *(const double *)a->data, dx = *(const double *)d->data;
        for (int64_t i = 0; i < n; i++) ((double *)y->data)[i] = x0 + (double)i * dx;
        break;
    }
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(y->dtype));
    }
    return VM_OK;
}

#define K_VIEW(name, maxin) {name, 1, maxin, 1, 1, VM_RT_K_VIEW, NULL, vm_k_view_run, NULL}

/* ---------------- Pad ---------------- */

/* The input index that output index o of a dim of size n (pad before: pb) reads, or -1 (the
 * constant). */
static int64_t pad_src(int64_t o, int64_t pb, int64_t n, int mode) {
    int64_t i = o - pb;
    if (i >= 0 && i < n) return i;
    if (mode == 0 || n == 0) return -1;
    if (mode == 1) return i < 0 ? 0 : n - 1; /* edge */
    if (n == 1) return 0;                    /* reflect: mirror without repeating the border */
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

static enum vm_status pad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *cv = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t pads[2 * VM_MAX_RANK];
    int r = x->rank;
    if (vm_rt_attr_ints(s, "pads", pads, 2 * VM_MAX_RANK) != 2 * r) return vm_rt_step_errorf(s, err, VM_EINTERNAL, "pads");
    const char *m = vm_rt_attr_string(s, "mode", "constant");
    int mode = !strcmp(m, "edge") ? 1 : !strcmp(m, "reflect") ? 2 : 0;
    size_t es = vm_dtype_size(x->dtype);
    uint8_t fill[16] = {0};
    if (cv && cv->numel == 1) memcpy(fill, cv->data, es);
    else if (!cv && x->dtype == VM_DTYPE_FLOAT) {
        float v = (float)vm_rt_attr_float(s, "value", 0.0);
        memcpy(fill, &v, sizeof v);
    } else if (!cv && x->dtype == VM_DTYPE_DOUBLE) {
        double v = vm_rt_attr_float(s, "value", 0.0);
        memcpy(fill, &v, sizeof v);
    }
    if (y->numel == 0) return VM_OK;
    if (mode && x->numel == 0) return vm_rt_step_errorf(s, err, VM_EINVAL, "mode '%s' cannot pad an empty input", m);
    int64_t ycols = r ? y->dims[r - 1] : 1, rows = y->numel / ycols;
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
#pragma omp parallel for if (y->numel > 65536)
    for (int64_t row = 0; row < rows; row++) {
        /* the input row this output row reads (every dim but the last), or none */
        int64_t rem = row, src = 0, stride = 1;
        bool inside = true;
        for (int d = r - 2; d >= 0; d--) {
            int64_t o = rem % y->dims[d];
            rem /= y->dims[d];
            int64_t i = pad_src(o, pads[d], x->dims[d], mode);
            if (i < 0) inside = false;
            src += (i < 0 ? 0 : i) * stride;
            stride *= x->dims[d];
        }
        uint8_t *out = py + (size_t)(row * ycols) * es;
        int64_t xcols = r ? x->dims[r - 1] : 1, pb = r ? pads[r - 1] : 0;
        for (int64_t j = 0; j < ycols; j++) {
            int64_t i = inside ? pad_src(j, pb, xcols, mode) : -1;
            memcpy(out + (size_t)j * es, i < 0 ? fill : px + (size_t)(src * xcols + i) * es, es);
        }
    }
    return VM_OK;
}

/* ---------------- Trilu ---------------- */

enum vm_status vm_k_int_attr_or_input(struct vm_rt_ctx *c, const struct vm_rt_step *s, const char *attr, int i,
                                      int64_t *out, struct vm_error *err) {
    *out = vm_rt_attr_int(s, attr, INT64_MIN);
    if (*out != INT64_MIN) return VM_OK;
    const struct vm_rt_tensor *t = vm_rt_in(c, s, i);
    if (!t || t->numel != 1 || (t->dtype != VM_DTYPE_INT64 && t->dtype != VM_DTYPE_INT32))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "%s must be one int64 or int32 value", attr);
    *out = t->dtype == VM_DTYPE_INT32 ? *(const int32_t *)t->data : *(const int64_t *)t->data;
    return VM_OK;
}

/* y[..., i, j] = x[..., i, j] where j - i >= k (upper) or j - i <= k (lower), else 0. */
static enum vm_status trilu_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t k = 0;
    if (vm_rt_in(c, s, 1) || vm_rt_attr_int(s, "k", INT64_MIN) != INT64_MIN) {
        enum vm_status e = vm_k_int_attr_or_input(c, s, "k", 1, &k, err);
        if (e) return e;
    }
    bool upper = vm_rt_attr_int(s, "upper", 1) != 0;
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1], mats = rows > 0 && cols > 0 ? x->numel / (rows * cols) : 0;
    size_t es = vm_dtype_size(x->dtype);
    const uint8_t *px = x->data;
    uint8_t *py = y->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++) {
            size_t off = (size_t)((m * rows + i) * cols) * es;
            for (int64_t j = 0; j < cols; j++) {
                bool keep = upper ? j - i >= k : j - i <= k;
                if (keep) memcpy(py + off + (size_t)j * es, px + off + (size_t)j * es, es);
                else memset(py + off + (size_t)j * es, 0, es);
            }
        }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_shape[] = {
    {"Shape", 1, 1, 1, 1, 0, NULL, shape_run, NULL},
    {"Size", 1, 1, 1, 1, 0, NULL, shape_run, NULL},
    K_VIEW("Reshape", 2),
    K_VIEW("Flatten", 1),
    K_VIEW("Squeeze", 2),
    K_VIEW("Unsqueeze", 2),
    {"Transpose", 1, 1, 1, 1, 0, transpose_prepare, transpose_run, transpose_release},
    {"Concat", 1, -1, 1, 1, 0, NULL, concat_run, NULL},
    {"Split", 1, 2, 1, -1, 0, NULL, split_run, NULL},
    {"Slice", 3, 5, 1, 1, 0, slice_prepare, slice_run, free},
    {"Gather", 2, 2, 1, 1, 0, NULL, gather_run, NULL},
    {"Expand", 2, 2, 1, 1, 0, expand_prepare, expand_run, free},
    {"ConstantOfShape", 1, 1, 1, 1, 0, NULL, constant_of_shape_run, NULL},
    {"Range", 3, 3, 1, 1, 0, NULL, range_run, NULL},
    {"Trilu", 1, 2, 1, 1, 0, NULL, trilu_run, NULL},
    {"Pad", 1, 4, 1, 1, 0, NULL, pad_run, NULL},
    {"SliceGrad", 4, 6, 1, 1, 0, slice_grad_prepare, slice_grad_run, free},
    {"GatherGrad", 3, 3, 1, 1, 0, NULL, gather_grad_run, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
