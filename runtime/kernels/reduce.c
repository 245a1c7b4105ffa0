/* reduce kernels: ReduceMax/Min/Mean/Sum and ArgMax as C loops.
 *
 * When the reduced axes are adjacent, the input is viewed as (A, R, C) — A kept dims before, R the
 * reduced block, C kept dims after — and reduced with a loop that walks C contiguously (this is the
 * max-over-time of Kim-CNN, C = 1, and the mean over LSTM steps, C = H). Other axis sets use a
 * precomputed table of reduced offsets. oneDNN's reduction primitive is the reference
 * implementation ("ref:any") on this build, so the C loops are the fast path here.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PAR_MIN 16384

enum red_kind { R_MAX, R_MIN, R_MEAN, R_SUM };

struct reduce_state {
    enum red_kind kind;
    bool blocked;
    int64_t A, R, C;
    /* generic path: output enumeration over kept dims and the offsets of the reduced elements */
    int n_kept;
    int64_t kept_dims[VM_MAX_RANK], kept_str[VM_MAX_RANK];
    int64_t *roff;
    float *part; /* SUM_BLOCKS x C partial sums of a float sum over the rows of one (R, C) slice */
};

#define SUM_BLOCKS 4

static void reduce_release(void *p) {
    struct reduce_state *st = p;
    if (!st) return;
    free(st->roff);
    free(st->part);
    free(st);
}

/* Lays out a reduction of a tensor of dims x_dims over `axes` (see the file comment). */
static enum vm_status reduce_layout(struct reduce_state *st, const int64_t *x_dims, int rank, const int64_t *axes, int na,
                                    struct vm_error *err) {
    bool red[VM_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) red[axes[i]] = true;
    int first = -1, last = -1;
    for (int d = 0; d < rank; d++)
        if (red[d]) {
            if (first < 0) first = d;
            last = d;
        }
    bool adjacent = true;
    for (int d = first; d >= 0 && d <= last; d++) adjacent &= red[d];
    st->A = st->R = st->C = 1;
    if (first < 0) {
        st->blocked = true;
        st->C = vm_numel(x_dims, rank);
        return VM_OK;
    }
    if (adjacent) {
        st->blocked = true;
        for (int d = 0; d < first; d++) st->A *= x_dims[d];
        for (int d = first; d <= last; d++) st->R *= x_dims[d];
        for (int d = last + 1; d < rank; d++) st->C *= x_dims[d];
        return VM_OK;
    }
    int64_t str[VM_MAX_RANK], acc = 1;
    for (int d = rank - 1; d >= 0; d--) {
        str[d] = acc;
        acc *= x_dims[d];
    }
    int64_t R = 1;
    for (int d = 0; d < rank; d++) {
        if (red[d]) R *= x_dims[d];
        else {
            st->kept_dims[st->n_kept] = x_dims[d];
            st->kept_str[st->n_kept++] = str[d];
        }
    }
    st->R = R;
    st->roff = vm_malloc((size_t)(R ? R : 1) * sizeof *st->roff, err);
    if (!st->roff) return VM_ENOMEM;
    for (int64_t r = 0; r < R; r++) {
        int64_t rem = r, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            if (!red[d]) continue;
            off += (rem % x_dims[d]) * str[d];
            rem /= x_dims[d];
        }
        st->roff[r] = off;
    }
    return VM_OK;
}

static enum vm_status reduce_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                     struct vm_error *err) {
    struct reduce_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    st->kind = !strcmp(s->op, "ReduceMax") ? R_MAX : !strcmp(s->op, "ReduceMin") ? R_MIN
             : !strcmp(s->op, "ReduceMean") ? R_MEAN : R_SUM;
    if (!strcmp(s->op, "ReduceGrad")) {
        const char *mode = vm_rt_attr_string(s, "mode", "sum");
        st->kind = !strcmp(mode, "max") ? R_MAX : !strcmp(mode, "mean") ? R_MEAN : R_SUM;
    }
    const struct vm_rt_tensor *x = !strcmp(s->op, "ReduceGrad") ? vm_rt_out(c, s, 0) : vm_rt_in(c, s, 0);
    int64_t axes[VM_MAX_RANK];
    int na = vm_rt_attr_ints(s, "axes", axes, VM_MAX_RANK);
    /* the compiler writes normalized axes; a plan file is still untrusted input */
    for (int i = 0; i < na; i++)
        if (axes[i] < 0 || axes[i] >= x->rank)
            return vm_rt_step_errorf(s, err, VM_EFORMAT, "reduction axis %lld is outside the input's rank %d", (long long)axes[i],
                                     x->rank);
    enum vm_status e = reduce_layout(st, x->dims, x->rank, axes, na < 0 ? 0 : na, err);
    if (e || strcmp(s->op, "ReduceSum") || x->dtype != VM_DTYPE_FLOAT || c->m->ref_kernels) return e;
    /* a bias gradient ([rows, N] summed over the rows, one slice): the rows in blocks on every thread */
    if (st->blocked && st->A == 1 && st->C > 1 && st->R * st->C > PAR_MIN &&
        !(st->part = vm_malloc((size_t)SUM_BLOCKS * (size_t)st->C * sizeof(float), err)))
        return VM_ENOMEM;
    return VM_OK;
}

/* ReduceGrad(dy, xshape, x?, y?): dx[a, r, c] = dy[a, c] (sum), / R (mean), or split among the
 * positions where x equals the maximum y (max). */
static enum vm_status reduce_grad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                      struct vm_error *err) {
    struct reduce_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *x = vm_rt_in(c, s, 2), *y = vm_rt_in(c, s, 3);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    if (dx->dtype != VM_DTYPE_FLOAT) return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(dx->dtype));
    const float *g = dy->data, *px = x ? x->data : NULL, *pyv = y ? y->data : NULL;
    float *o = dx->data;
    float scale = st->kind == R_MEAN && st->R ? 1.0f / (float)st->R : 1.0f;
    bool max = st->kind == R_MAX;
    if (dx->numel == 0) return VM_OK;
    if (st->blocked && st->C == 1 && max) {
        int64_t A = st->A, R = st->R;
#pragma omp parallel for if (dx->numel > PAR_MIN)
        for (int64_t a = 0; a < A; a++) {
            const float *in = px + a * R;
            float *out = o + a * R, m = pyv[a];
            int64_t ties = 0;
            for (int64_t r = 0; r < R; r++) ties += in[r] == m;
            float share = ties ? g[a] * scale / (float)ties : 0.0f;
            for (int64_t r = 0; r < R; r++) out[r] = in[r] == m ? share : 0.0f;
        }
        return VM_OK;
    }
    if (st->blocked) {
        int64_t A = st->A, R = st->R, C = st->C;
#pragma omp parallel for if (dx->numel > PAR_MIN)
        for (int64_t a = 0; a < A; a++) {
            for (int64_t k = 0; k < C; k++) {
                float gv = g[a * C + k] * scale;
                if (!max) {
                    for (int64_t r = 0; r < R; r++) o[(a * R + r) * C + k] = gv;
                    continue;
                }
                float m = pyv[a * C + k];
                int64_t ties = 0;
                for (int64_t r = 0; r < R; r++) ties += px[(a * R + r) * C + k] == m;
                float share = ties ? gv / (float)ties : 0.0f;
                for (int64_t r = 0; r < R; r++) o[(a * R + r) * C + k] = px[(a * R + r) * C + k] == m ? share : 0.0f;
            }
        }
        return VM_OK;
    }
#pragma omp parallel for if (dx->numel > PAR_MIN)
    for (int64_t oi = 0; oi < dy->numel; oi++) {
        int64_t rem = oi, base = 0;
        for (int d = st->n_kept - 1; d >= 0; d--) {
            base += (rem % st->kept_dims[d]) * st->kept_str[d];
            rem /= st->kept_dims[d];
        }
        float gv = g[oi] * scale;
        int64_t ties = 0;
        if (max)
            for (int64_t r = 0; r < st->R; r++) ties += px[base + st->roff[r]] == pyv[oi];
        for (int64_t r = 0; r < st->R; r++) {
            int64_t at = base + st->roff[r];
            o[at] = !max ? gv : px[at] == pyv[oi] ? gv / (float)ties : 0.0f;
        }
    }
    return VM_OK;
}

/* One reduction function per element type: kind selects the combine step, layout the loop. */
#define DEFINE_REDUCE(NAME, T, LOWEST, HIGHEST)                                                 \
    static void NAME(const struct reduce_state *st, const T *px, T *py, int64_t nx, int64_t ny) { \
        T init = st->kind == R_MAX ? LOWEST : st->kind == R_MIN ? HIGHEST : (T)0;                \
        enum red_kind kind = st->kind;                                                           \
        if (st->blocked && st->C == 1 && (kind == R_MEAN || kind == R_SUM)) {                   \
            /* contiguous rows summed with independent lanes (LayerNorm's mean over the last axis) */ \
            int64_t A = st->A, R = st->R;                                                        \
            _Pragma("omp parallel for if (nx > PAR_MIN)")                                        \
            for (int64_t a = 0; a < A; a++) {                                                    \
                const T *in = px + a * R;                                                        \
                T l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                               \
                int64_t r = 0;                                                                   \
                for (; r + 8 <= R; r += 8)                                                       \
                    for (int j = 0; j < 8; j++) l[j] += in[r + j];                               \
                T acc = 0;                                                                       \
                for (int j = 0; j < 8; j++) acc += l[j];                                         \
                for (; r < R; r++) acc += in[r];                                                 \
                py[a] = acc;                                                                     \
            }                                                                                    \
        } else if (st->blocked && st->C == 1) {                                                  \
            /* contiguous rows (max over time): independent lanes let the compiler vectorize */ \
            int64_t A = st->A, R = st->R;                                                        \
            _Pragma("omp parallel for if (nx > PAR_MIN)")                                        \
            for (int64_t a = 0; a < A; a++) {                                                    \
                const T *in = px + a * R;                                                        \
                T l[8];                                                                          \
                for (int j = 0; j < 8; j++) l[j] = init;                                         \
                int64_t r = 0;                                                                   \
                for (; r + 8 <= R; r += 8)                                                       \
                    for (int j = 0; j < 8; j++)                                                  \
                        l[j] = kind == R_MAX ? (in[r + j] > l[j] ? in[r + j] : l[j])             \
                                             : (in[r + j] < l[j] ? in[r + j] : l[j]);            \
                T acc = init;                                                                    \
                for (int j = 0; j < 8; j++) acc = kind == R_MAX ? (l[j] > acc ? l[j] : acc) : (l[j] < acc ? l[j] : acc); \
                for (; r < R; r++) acc = kind == R_MAX ? (in[r] > acc ? in[r] : acc) : (in[r] < acc ? in[r] : acc); \
                py[a] = acc;                                                                     \
            }                                                                                    \
        } else if (st->blocked) {                                                                \
            int64_t A = st->A, R = st->R, C = st->C;                                             \
            _Pragma("omp parallel for if (nx > PAR_MIN)")                                        \
            for (int64_t a = 0; a < A; a++) {                                                    \
                T *out = py + a * C;                                                             \
                for (int64_t k = 0; k < C; k++) out[k] = init;                                   \
                for (int64_t r = 0; r < R; r++) {                                                \
                    const T *in = px + (a * R + r) * C;                                          \
                    if (kind == R_MAX) {                                                         \
                        for (int64_t k = 0; k < C; k++) out[k] = in[k] > out[k] ? in[k] : out[k]; \
                    } else if (kind == R_MIN) {                                                  \
                        for (int64_t k = 0; k < C; k++) out[k] = in[k] < out[k] ? in[k] : out[k]; \
                    } else {                                                                     \
                        for (int64_t k = 0; k < C; k++) out[k] += in[k];                         \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        } else {                                                                                 \
            _Pragma("omp parallel for if (nx > PAR_MIN)")                                        \
            for (int64_t o = 0; o < ny; o++) {                                                   \
                int64_t rem = o, base = 0;                                                       \
                for (int d = st->n_kept - 1; d >= 0; d--) {                                      \
                    base += (rem % st->kept_dims[d]) * st->kept_str[d];                          \
                    rem /= st->kept_dims[d];                                                     \
                }                                                                                \
                T acc = init;                                                                    \
                for (int64_t r = 0; r < st->R; r++) {                                            \
                    T v = px[base + st->roff[r]];                                                \
                    if (kind == R_MAX) acc = v > acc ? v : acc;                                  \
                    else if (kind == R_MIN) acc = v < acc ? v : acc;                             \
                    else acc += v;                                                               \
                }                                                                                \
                py[o] = acc;                                                                     \
            }                                                                                    \
        }                                                                                        \
        if (kind == R_MEAN && st->R > 0)                                                         \
            for (int64_t o = 0; o < ny; o++) py[o] = (T)(py[o] / (T)st->R);                      \
    }

DEFINE_REDUCE(reduce_f32, float, -INFINITY, INFINITY)
DEFINE_REDUCE(reduce_f64, double, -INFINITY, INFINITY)
DEFINE_REDUCE(reduce_i64, int64_t, INT64_MIN, INT64_MAX)
DEFINE_REDUCE(reduce_i32, int32_t, INT32_MIN, INT32_MAX)

/* out[k] = sum over the R rows of in[r * C + k] (a (R, C) slice), rows added in order: the bias
 * gradients of a training step ([rows, N] summed over the rows). Compiled for AVX-512 and AVX2
 * besides the baseline's SSE2; each output is the same sequence of additions at every width. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void sum_rows_f32(const float *restrict in, float *restrict out,
                                                                                     int64_t R, int64_t C) {
    for (int64_t k = 0; k < C; k++) out[k] = 0;
    for (int64_t r = 0; r < R; r++) {
        const float *row = in + r * C;
#pragma omp simd
        for (int64_t k = 0; k < C; k++) out[k] += row[k];
    }
}

static enum vm_status reduce_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    struct reduce_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (x->dtype == VM_DTYPE_FLOAT && st->blocked && st->C > 1 && (st->kind == R_SUM || st->kind == R_MEAN)) {
        const float *px = x->data;
        float *py = y->data;
        int64_t A = st->A, R = st->R, C = st->C;
        if (A == 1 && st->part) {
            /* one slice (a bias gradient): SUM_BLOCKS fixed row blocks summed in parallel, then added
             * in block order, so the bits do not depend on the thread count */
            int64_t rows = (R + SUM_BLOCKS - 1) / SUM_BLOCKS;
#pragma omp parallel for if (x->numel > PAR_MIN)
            for (int64_t k = 0; k < SUM_BLOCKS; k++) {
                int64_t r0 = k * rows < R ? k * rows : R, r1 = (k + 1) * rows < R ? (k + 1) * rows : R;
                sum_rows_f32(px + r0 * C, st->part + k * C, r1 - r0, C);
            }
            for (int64_t j = 0; j < C; j++) {
                float acc = 0;
                for (int64_t k = 0; k < SUM_BLOCKS; k++) acc += st->part[k * C + j];
                py[j] = acc;
            }
        } else {
#pragma omp parallel for if (A > 1 && x->numel > PAR_MIN)
            for (int64_t a = 0; a < A; a++) sum_rows_f32(px + a * R * C, py + a * C, R, C);
        }
        if (st->kind == R_MEAN && R > 0)
            for (int64_t o = 0; o < y->numel; o++) py[o] = py[o] / (float)R;
        return VM_OK;
    }
    switch (x->dtype) {
    case VM_DTYPE_FLOAT: reduce_f32(st, x->data, y->data, x->numel, y->numel); break;
    case VM_DTYPE_DOUBLE: reduce_f64(st, x->data, y->data, x->numel, y->numel); break;
    case VM_DTYPE_INT64: reduce_i64(st, x->data, y->data, x->numel, y->numel); break;
    case VM_DTYPE_INT32: reduce_i32(st, x->data, y->data, x->numel, y->numel); break;
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    }
    return VM_OK;
}

/* ArgMax over one axis: (A, R, C) view. Ties take the first index unless select_last_index. */
#define ARGMAX(T)                                                                             \
    do {                                                                                      \
        const T *px = x->data;                                                                \
        for (int64_t a = 0; a < A; a++)                                                       \
            for (int64_t k = 0; k < C; k++) {                                                 \
                int64_t best = 0;                                                             \
                T bv = px[a * R * C + k];                                                     \
                for (int64_t r = 1; r < R; r++) {                                             \
                    T v = px[(a * R + r) * C + k];                                            \
                    if (v > bv || (last && v == bv)) { bv = v; best = r; }                    \
                }                                                                             \
                py[a * C + k] = best;                                                         \
            }                                                                                 \
    } while (0)

static enum vm_status argmax_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                                 struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int axis = (int)vm_rt_attr_int(s, "axis", 0);
    bool last = vm_rt_attr_int(s, "select_last_index", 0) != 0;
    int64_t A = 1, R = x->dims[axis], C = 1;
    for (int d = 0; d < axis; d++) A *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) C *= x->dims[d];
    int64_t *py = y->data;
    if (R == 0) return vm_rt_step_errorf(s, err, VM_EINVAL, "ArgMax over an empty axis");
    switch (x->dtype) {
    case VM_DTYPE_FLOAT: ARGMAX(float); break;
    case VM_DTYPE_DOUBLE: ARGMAX(double); break;
    case VM_DTYPE_INT64: ARGMAX(int64_t); break;
    case VM_DTYPE_INT32: ARGMAX(int32_t); break;
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    }
    return VM_OK;
}

#define K_REDUCE(name, maxin) {name, 1, maxin, 1, 1, 0, reduce_prepare, reduce_run, reduce_release}

/* ---------------- CumSum ---------------- */

#define CUMSUM_LOOP(T)                                                                        \
    do {                                                                                      \
        const T *px = x->data;                                                                \
        T *py = y->data;                                                                      \
        _Pragma("omp parallel for if (x->numel > 65536)")                                     \
        for (int64_t o = 0; o < outer; o++)                                                   \
            for (int64_t i = 0; i < inner; i++) {                                             \
                T acc = 0;                                                                    \
                for (int64_t t = 0; t < len; t++) {                                           \
                    int64_t j = rev ? len - 1 - t : t, k = (o * len + j) * inner + i;         \
                    if (excl) {                                                               \
                        py[k] = acc;                                                          \
                        acc += px[k];                                                         \
                    } else {                                                                  \
                        acc += px[k];                                                         \
                        py[k] = acc;                                                          \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
    } while (0)

static enum vm_status cumsum_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    int64_t axis;
    enum vm_status e = vm_k_int_attr_or_input(c, s, "axis", 1, &axis, err);
    if (e) return e;
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis >= x->rank)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    bool excl = vm_rt_attr_int(s, "exclusive", 0) != 0, rev = vm_rt_attr_int(s, "reverse", 0) != 0;
    int64_t outer = 1, inner = 1, len = x->dims[axis];
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    if (x->numel == 0) return VM_OK;
    switch (x->dtype) {
    case VM_DTYPE_FLOAT: CUMSUM_LOOP(float); break;
    case VM_DTYPE_DOUBLE: CUMSUM_LOOP(double); break;
    case VM_DTYPE_INT64: CUMSUM_LOOP(int64_t); break;
    case VM_DTYPE_INT32: CUMSUM_LOOP(int32_t); break;
    case VM_DTYPE_UINT32: CUMSUM_LOOP(uint32_t); break;
    case VM_DTYPE_UINT64: CUMSUM_LOOP(uint64_t); break;
    default: return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_reduce[] = {
    K_REDUCE("ReduceMax", 1),
    K_REDUCE("ReduceMin", 1),
    K_REDUCE("ReduceMean", 1),
    K_REDUCE("ReduceSum", 2),
    {"ArgMax", 1, 1, 1, 1, 0, NULL, argmax_run, NULL},
    {"CumSum", 2, 2, 1, 1, 0, NULL, cumsum_run, NULL},
    {"ReduceGrad", 2, 4, 1, 1, 0, reduce_prepare, reduce_grad_run, reduce_release},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
