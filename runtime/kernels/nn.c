/* nn kernels: Conv, ConvCL, MaxPool/AveragePool, GlobalMaxPool/GlobalAveragePool, Gemm, MatMul, Softmax/
 * LogSoftmax, LayerNormalization, and their backward ops (autodiff): ConvGradData/ConvGradWeight,
 * MaxPoolGrad/AveragePoolGrad, GlobalMaxPoolGrad/GlobalAveragePoolGrad, MatMulT, SoftmaxGrad,
 * LayerNormGrad (compiler/ops/nn.c explains which rule emits which).
 *
 * float32 work runs on oneDNN primitives built in prepare over plain row-major layouts (ncw/nchw
 * activations, oihw / goihw weights); memory objects are created handle-less and pointed at the
 * tensors at each run. The exception is the channels-last convolution (ConvCL and the
 * channels_last gradients): nwc/nhwc/ndhwc activations and `any` weights, reordered at each run
 * (see struct wreorder). Each op keeps its naive C reference beside it: prepare chooses it under
 * --reference-kernels (c->m->ref_kernels), for zero-size tensors, and for the few cases oneDNN does
 * not express (MaxPool's Indices output, ceil-mode average pooling that counts padding, average
 * windows that can lie wholly in the padding). Global pools are plain C reductions, and layer
 * normalization (forward and backward) is vectorized C: oneDNN 2.6's is a generic kernel. Attributes
 * arrive normalized by the compiler (explicit pads, non-negative axes), so nothing here knows ONNX
 * defaults or opsets.
 *
 * Window ops (Conv, pools) lift 1-D and 2-D inputs to 3-D for the C loops: spatial slot 0 is D,
 * 1 is H, 2 is W, and the real spatial dims occupy the last `sp` slots (the others are 1).
 * Legend: N batch, C channels in, M channels out, K reduced length, T tokens.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PAR_MIN 32768 /* work items below which OpenMP is not worth its overhead */
#define SP 3

static void set_handle(dnnl_memory_t m, const void *p) {
    dnnl_memory_set_data_handle(m, (void *)(uintptr_t)p);
}

static void mem_destroy(dnnl_memory_t *m) {
    if (*m) dnnl_memory_destroy(*m);
    *m = NULL;
}

/* ---------------- window geometry (Conv, pools) ---------------- */

struct win {
    int sp;                                   /* real spatial rank (1..3) */
    bool cl;                                  /* channels-last X and Y: (N, spatial..., C) */
    int64_t N, C;                             /* batch, channels of X */
    int64_t in[SP], out[SP];                  /* lifted spatial dims of X and Y */
    int64_t k[SP], s[SP], d[SP], pb[SP], pe[SP];
};

/* cl: X and Y are channels-last (ConvCL and its gradients), spatial dims from axis 1. */
static enum vm_status win_load(const struct vm_rt_step *s, const struct vm_rt_tensor *x, const struct vm_rt_tensor *y,
                               bool dilations, bool cl, struct win *w, struct vm_error *err) {
    int sp = x->rank - 2, sp0 = cl ? 1 : 2;
    if (sp < 1 || sp > SP) return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "input rank %d", (int)x->rank);
    int64_t k[SP], st[SP], d[SP] = {1, 1, 1}, p[2 * SP];
    if (vm_rt_attr_ints(s, "kernel_shape", k, SP) != sp || vm_rt_attr_ints(s, "strides", st, SP) != sp ||
        vm_rt_attr_ints(s, "pads", p, 2 * SP) != 2 * sp || (dilations && vm_rt_attr_ints(s, "dilations", d, SP) != sp))
        return vm_rt_step_errorf(s, err, VM_EFORMAT, "window attributes are missing or malformed (the plan was not normalized)");
    w->sp = sp;
    w->cl = cl;
    w->N = x->dims[0];
    w->C = x->dims[cl ? x->rank - 1 : 1];
    for (int i = 0; i < SP; i++) {
        int j = i - (SP - sp); /* real spatial index, < 0 for lifted slots */
        bool real = j >= 0;
        w->in[i] = real ? x->dims[sp0 + j] : 1;
        w->out[i] = real ? y->dims[sp0 + j] : 1;
        w->k[i] = real ? k[j] : 1;
        w->s[i] = real ? st[j] : 1;
        w->d[i] = real && dilations ? d[j] : 1;
        w->pb[i] = real ? p[j] : 0;
        w->pe[i] = real ? p[sp + j] : 0;
    }
    return VM_OK;
}

static int64_t win_dk(const struct win *w, int i) { return w->d[i] * (w->k[i] - 1) + 1; }

/* oneDNN's end padding: the one that makes (in - dk + pb + pr) / s + 1 == out exactly. It exceeds
 * the ONNX end pad only in ceil mode (the last window hangs over the end). */
static int64_t win_dnnl_pr(const struct win *w, int i) {
    int64_t pr = (w->out[i] - 1) * w->s[i] + win_dk(w, i) - w->in[i] - w->pb[i];
    return pr > w->pe[i] ? pr : w->pe[i];
}

/* oneDNN-side arrays over the real spatial dims. */
static void win_dnnl(const struct win *w, dnnl_dims_t strides, dnnl_dims_t kernel, dnnl_dims_t dil, dnnl_dims_t pl,
                     dnnl_dims_t pr) {
    for (int j = 0; j < w->sp; j++) {
        int i = SP - w->sp + j;
        strides[j] = w->s[i];
        kernel[j] = w->k[i];
        dil[j] = w->d[i] - 1; /* oneDNN counts the gaps: ONNX dilation 1 is oneDNN 0 */
        pl[j] = w->pb[i];
        pr[j] = win_dnnl_pr(w, i);
    }
}

/* ---------------- layouts shared by Conv, ConvCL and their gradients ---------------- */

/* Activation descriptor over oneDNN's logical (N, C, spatial...) dims: the tensor's plain row-major
 * layout, or for a channels-last tensor (N, spatial..., C) the nwc / nhwc / ndhwc tag. */
static dnnl_status_t act_md(dnnl_memory_desc_t *md, const struct vm_rt_tensor *t, bool cl) {
    if (!cl) return vm_dnnl_md(md, t->rank, t->dims, VM_DTYPE_FLOAT);
    dnnl_dims_t d;
    d[0] = t->dims[0];
    d[1] = t->dims[t->rank - 1];
    for (int i = 1; i < t->rank - 1; i++) d[i + 1] = t->dims[i];
    dnnl_format_tag_t tag = t->rank == 3 ? dnnl_nwc : t->rank == 4 ? dnnl_nhwc : dnnl_ndhwc;
    return dnnl_memory_desc_init_by_tag(md, t->rank, d, dnnl_f32, tag);
}

/* Weight descriptor of a convolution: oihw, or goihw for groups (W [M, C/G, k...] row-major is
 * exactly [G, M/G, C/G, k...]). */
static dnnl_status_t conv_wmd(dnnl_memory_desc_t *md, const struct vm_rt_tensor *w, int64_t G) {
    if (G == 1) return vm_dnnl_md(md, w->rank, w->dims, VM_DTYPE_FLOAT);
    int64_t gd[VM_MAX_RANK + 1] = {G, w->dims[0] / G};
    for (int i = 1; i < w->rank; i++) gd[i + 1] = w->dims[i];
    return vm_dnnl_md(md, w->rank + 1, gd, VM_DTYPE_FLOAT);
}

/* The same dims with the format left to oneDNN. */
static dnnl_status_t any_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *plain) {
    return dnnl_memory_desc_init_by_tag(md, plain->ndims, plain->dims, dnnl_f32, dnnl_format_tag_any);
}

/* Channels-last convolutions take `any` weights: on nwc/nhwc activations with plain oiw weights
 * oneDNN 2.6 has only its reference implementation (about 1000x slower), while `any` gives
 * brgconv (forward) and jit (backward) with blocked weights. The weights change at every optimizer
 * step, so the plain tensor is reordered at each run (W into the primitive's layout, or dW out of
 * it): one pass over C*M*k floats, small next to the convolution. The blocked copy lives only
 * during the step, so it sits in the model's shared scratch, after the convolution's own
 * scratchpad (offset `off`), rather than in a buffer per primitive and batch shape. */
struct wreorder {
    dnnl_primitive_t prim; /* NULL: the primitive takes the plain layout */
    dnnl_memory_t plain, blocked;
    size_t off;            /* of the blocked copy in c->scratch */
};

/* conv_pd: the primitive's descriptor, a convolution's or a matmul's (its scratchpad comes first in c->scratch). */
static enum vm_status wreorder_init(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct wreorder *r,
                                    const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *chosen, bool into_chosen,
                                    const_dnnl_primitive_desc_t conv_pd, struct vm_error *err) {
    if (!chosen) return vm_rt_step_errorf(s, err, VM_EDNNL, "oneDNN: no weight layout for the primitive");
    if (dnnl_memory_desc_equal(plain, chosen)) return VM_OK;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(conv_pd, dnnl_query_scratchpad_md, 0);
    r->off = vm_align64(smd ? dnnl_memory_desc_get_size(smd) : 0);
    size_t need = r->off + dnnl_memory_desc_get_size(chosen);
    if (need > c->scratch_need) c->scratch_need = need;
    VM_DNNL(dnnl_memory_create(&r->plain, plain, c->engine, DNNL_MEMORY_NONE), s, err);
    VM_DNNL(dnnl_memory_create(&r->blocked, chosen, c->engine, DNNL_MEMORY_NONE), s, err);
    dnnl_primitive_desc_t pd;
    if (into_chosen) VM_DNNL(dnnl_reorder_primitive_desc_create(&pd, plain, c->engine, chosen, c->engine, NULL), s, err);
    else VM_DNNL(dnnl_reorder_primitive_desc_create(&pd, chosen, c->engine, plain, c->engine, NULL), s, err);
    dnnl_status_t ds = dnnl_primitive_create(&r->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    VM_DNNL(ds, s, err);
    return VM_OK;
}

/* The blocked copy, pointed at its place in this run's scratch. */
static dnnl_memory_t wreorder_blocked(const struct vm_rt_ctx *c, const struct wreorder *r) {
    set_handle(r->blocked, (const uint8_t *)c->scratch + r->off);
    return r->blocked;
}

static enum vm_status wreorder_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, const struct wreorder *r, const void *plain,
                                   bool into_blocked, struct vm_error *err) {
    set_handle(r->plain, plain);
    dnnl_memory_t blocked = wreorder_blocked(c, r);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, into_blocked ? r->plain : blocked}, {DNNL_ARG_TO, into_blocked ? blocked : r->plain}};
    return vm_dnnl_exec(c, s, r->prim, 2, args, err);
}

static void wreorder_destroy(struct wreorder *r) {
    if (r->prim) dnnl_primitive_destroy(r->prim);
    r->prim = NULL;
    mem_destroy(&r->plain);
    mem_destroy(&r->blocked);
}

/* Weights that no step changes (an inference plan's initializers, vm_rt_value_const) are reordered
 * into the primitive's layout once, into memory the state owns, and again only when a caller took
 * a writable pointer to persistent values (m->weights_gen moved). At batch 1 the per-run reorder
 * cost more than the arithmetic: Kim-CNN 1 x 20 went from 0.207 to 0.089 ms. */
struct wpacked {
    dnnl_memory_t mem; /* NULL: not packed once (reordered per run, or plain) */
    uint64_t gen;      /* m->weights_gen when mem was filled; UINT64_MAX: never */
};

static enum vm_status wpacked_init(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct wpacked *pk,
                                   const struct wreorder *r, int32_t value, const dnnl_memory_desc_t *chosen,
                                   struct vm_error *err) {
    if (!r->prim || !vm_rt_value_const(c, value)) return VM_OK;
    pk->gen = UINT64_MAX;
    VM_DNNL(dnnl_memory_create(&pk->mem, chosen, c->engine, DNNL_MEMORY_ALLOCATE), s, err);
    return VM_OK;
}

/* The packed weights, refreshed from plain when stale. */
static enum vm_status wpacked_get(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct wpacked *pk,
                                  const struct wreorder *r, const void *plain, struct vm_error *err) {
    if (pk->gen == c->m->weights_gen) return VM_OK;
    set_handle(r->plain, plain);
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, r->plain}, {DNNL_ARG_TO, pk->mem}};
    enum vm_status e = vm_dnnl_exec(c, s, r->prim, 2, ra, err);
    if (!e) pk->gen = c->m->weights_gen;
    return e;
}

/* The weights memory for this run: the packed copy (refreshed when stale), or `plain` over data. */
static enum vm_status wpacked_or_plain(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct wpacked *pk, const struct wreorder *r,
                                       dnnl_memory_t plain, const void *data, dnnl_memory_t *wei, struct vm_error *err) {
    if (!pk->mem) {
        set_handle(plain, data);
        *wei = plain;
        return VM_OK;
    }
    *wei = pk->mem;
    return wpacked_get(c, s, pk, r, data, err);
}

/* The channels-last C references transpose into channels-first scratch (allocated in prepare)
 * and reuse the NCW loops. [N, S, C] -> [N, C, S] and back; S = product of the spatial dims. */
static void nsc_to_ncs(const float *src, float *dst, int64_t N, int64_t S, int64_t C) {
#pragma omp parallel for collapse(2) if (N * S * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < S; i++) dst[(n * C + c) * S + i] = src[(n * S + i) * C + c];
}

static void ncs_to_nsc(const float *src, float *dst, int64_t N, int64_t S, int64_t C) {
#pragma omp parallel for collapse(2) if (N * S * C > PAR_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < S; i++)
            for (int64_t c = 0; c < C; c++) dst[(n * S + i) * C + c] = src[(n * C + c) * S + i];
}

static int64_t win_in_size(const struct win *w) { return w->in[0] * w->in[1] * w->in[2]; }
static int64_t win_out_size(const struct win *w) { return w->out[0] * w->out[1] * w->out[2]; }

/* Scratch of n floats for a channels-last reference (n may be 0). */
static enum vm_status scratch_alloc(float **p, int64_t n, struct vm_error *err) {
    *p = vm_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1), err);
    return *p ? VM_OK : VM_ENOMEM;
}

/* ---------------- Conv, ConvCL ---------------- */

/* ConvCL is Conv on channels-last X (N, spatial..., C) and Y (N, spatial..., M), made by the
 * layout pass from Transpose -> Conv; same W, B and attributes. */
struct conv_state {
    struct win w;
    int64_t M, G; /* output channels, groups */
    bool bias;
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    dnnl_memory_t src, wei, bia, dst;
    struct wreorder wr; /* ConvCL: W -> the primitive's weight layout, each run */
    struct wpacked pk;  /* constant W: reordered once */
    float *xs, *ys;     /* ConvCL reference: X and Y channels-first */
};

static void conv_release(void *p) {
    struct conv_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->src);
    mem_destroy(&st->wei);
    mem_destroy(&st->bia);
    mem_destroy(&st->dst);
    mem_destroy(&st->pk.mem);
    wreorder_destroy(&st->wr);
    free(st->xs);
    free(st->ys);
    free(st);
}

static enum vm_status conv_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct conv_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    bool cl = strcmp(s->op, "ConvCL") == 0;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *w = vm_rt_in(c, s, 1), *y = vm_rt_out(c, s, 0);
    enum vm_status e = win_load(s, x, y, true, cl, &st->w, err);
    if (e) return e;
    st->M = w->dims[0];
    st->G = vm_rt_attr_int(s, "group", 1);
    st->bias = vm_rt_in(c, s, 2) != NULL;
    if (st->G < 1 || st->M % st->G || st->w.C % st->G || w->dims[1] * st->G != st->w.C || (cl && y->dims[y->rank - 1] != st->M))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "weight channels do not match the input for group %lld", (long long)st->G);
    if (c->m->ref_kernels || y->numel == 0 || x->numel == 0 || w->numel == 0) {
        if (cl && y->numel && (e = scratch_alloc(&st->xs, x->numel, err))) return e;
        if (cl && y->numel && (e = scratch_alloc(&st->ys, y->numel, err))) return e;
        return VM_OK;
    }

    dnnl_memory_desc_t smd, wmd, wsel, bmd, dmd;
    VM_DNNL(act_md(&smd, x, cl), s, err);
    VM_DNNL(act_md(&dmd, y, cl), s, err);
    VM_DNNL(conv_wmd(&wmd, w, st->G), s, err);
    wsel = wmd;
    if (cl) VM_DNNL(any_md(&wsel, &wmd), s, err);
    VM_DNNL(vm_dnnl_md(&bmd, 1, &st->M, VM_DTYPE_FLOAT), s, err);
    dnnl_dims_t strides, kernel, dil, pl, pr;
    win_dnnl(&st->w, strides, kernel, dil, pl, pr);
    /* forward_training: same implementations as inference for convolution, and the backward
     * primitives will want this descriptor as their hint */
    dnnl_convolution_desc_t cd;
    VM_DNNL(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &smd, &wsel,
                                                       st->bias ? &bmd : NULL, &dmd, strides, dil, pl, pr),
            s, err);
    dnnl_primitive_desc_t pd = NULL;
    if ((e = vm_dnnl_prim_build(c, s, &cd, NULL, NULL, &st->p, &pd, err))) return e;
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    e = wreorder_init(c, s, &st->wr, &wmd, chosen, true, pd, err);
    if (!e) e = wpacked_init(c, s, &st->pk, &st->wr, s->in[1], chosen, err);
    dnnl_primitive_desc_destroy(pd);
    if (e) return e;
    if ((e = vm_dnnl_mem2(c, s, &smd, &st->src, &wmd, &st->wei, err))) return e;
    if ((e = vm_dnnl_mem(c, s, &dmd, &st->dst, err))) return e;
    if (st->bias && (e = vm_dnnl_mem(c, s, &bmd, &st->bia, err))) return e;
    return VM_OK;
}

/* Naive direct convolution. x [N, C, D, H, W], w [M, C/G, KD, KH, KW], b [M] or NULL,
 * y [N, M, OD, OH, OW] (lifted). */
static void conv_ref(const struct conv_state *st, const float *x, const float *wt, const float *b, float *y) {
    const struct win *w = &st->w;
    int64_t N = w->N, C = w->C, M = st->M, G = st->G, Cg = C / G, Mg = M / G;
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t KD = w->k[0], KH = w->k[1], KW = w->k[2];
    int64_t work = N * M * OD * OH * OW * Cg * KD * KH * KW;
    (void)work;
#pragma omp parallel for collapse(2) if (work > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t m = 0; m < M; m++) {
            int64_t g = m / Mg;
            float *yo = y + (n * M + m) * OD * OH * OW;
            for (int64_t od = 0; od < OD; od++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        double acc = b ? b[m] : 0.0;
                        for (int64_t cg = 0; cg < Cg; cg++) {
                            const float *xc = x + (n * C + g * Cg + cg) * ID * IH * IW;
                            const float *wc = wt + (m * Cg + cg) * KD * KH * KW;
                            for (int64_t kd = 0; kd < KD; kd++) {
                                int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                                if (id < 0 || id >= ID) continue;
                                for (int64_t kh = 0; kh < KH; kh++) {
                                    int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                                    if (ih < 0 || ih >= IH) continue;
                                    for (int64_t kw = 0; kw < KW; kw++) {
                                        int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                                        if (iw < 0 || iw >= IW) continue;
                                        acc += (double)xc[(id * IH + ih) * IW + iw] * wc[(kd * KH + kh) * KW + kw];
                                    }
                                }
                            }
                        }
                        yo[(od * OH + oh) * OW + ow] = (float)acc;
                    }
        }
    }
}

static enum vm_status conv_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct conv_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *w = vm_rt_in(c, s, 1), *b = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (!st->p.prim) {
        if (!st->w.cl) {
            conv_ref(st, x->data, w->data, b ? b->data : NULL, y->data);
            return VM_OK;
        }
        int64_t N = st->w.N, si = win_in_size(&st->w), so = win_out_size(&st->w);
        nsc_to_ncs(x->data, st->xs, N, si, st->w.C);
        conv_ref(st, st->xs, w->data, b ? b->data : NULL, st->ys);
        ncs_to_nsc(st->ys, y->data, N, so, st->M);
        return VM_OK;
    }
    dnnl_memory_t wei = st->wei;
    if (st->pk.mem) {
        enum vm_status e = wpacked_get(c, s, &st->pk, &st->wr, w->data, err);
        if (e) return e;
        wei = st->pk.mem;
    } else if (st->wr.prim) {
        enum vm_status e = wreorder_run(c, s, &st->wr, w->data, true, err);
        if (e) return e;
        wei = st->wr.blocked;
    } else {
        set_handle(st->wei, w->data);
    }
    set_handle(st->src, x->data);
    set_handle(st->dst, y->data);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, st->src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, st->dst}};
    int na = 3;
    if (st->bias) {
        set_handle(st->bia, b->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, st->bia};
    }
    return vm_dnnl_prim_exec(c, s, &st->p, na, args, err);
}

/* ---------------- MaxPool, AveragePool ---------------- */

enum pool_kind { POOL_MAX, POOL_AVG_EXCL, POOL_AVG_INCL };

struct pool_state {
    struct win w;
    enum pool_kind kind;
    int64_t storage_order; /* Indices: 0 row-major, 1 column-major spatial offsets */
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    /* no workspace: MaxPoolGrad recomputes the argmax from X (see below) */
    dnnl_memory_t src, dst;
};

static void pool_release(void *p) {
    struct pool_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->src);
    mem_destroy(&st->dst);
    free(st);
}

static enum vm_status pool_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct pool_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    bool maxp = strcmp(s->op, "MaxPool") == 0;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *y = vm_rt_out(c, s, 0);
    enum vm_status e = win_load(s, x, y, maxp, false, &st->w, err);
    if (e) return e;
    st->kind = maxp ? POOL_MAX : vm_rt_attr_int(s, "count_include_pad", 0) ? POOL_AVG_INCL : POOL_AVG_EXCL;
    st->storage_order = vm_rt_attr_int(s, "storage_order", 0);
    if (c->m->ref_kernels || y->numel == 0 || x->numel == 0 || vm_rt_out(c, s, 1)) return VM_OK;
    if (x->dtype != VM_DTYPE_FLOAT && !(maxp && (x->dtype == VM_DTYPE_UINT8 || x->dtype == VM_DTYPE_INT8))) return VM_OK;
    for (int i = 0; i < SP; i++) {
        int64_t pr = win_dnnl_pr(&st->w, i), dk = win_dk(&st->w, i);
        /* oneDNN's include-padding divisor is the whole kernel; ONNX stops counting at the end
         * pad, which differs when a ceil-mode window hangs past it */
        if (st->kind == POOL_AVG_INCL && pr > st->w.pe[i]) return VM_OK;
        /* oneDNN rejects exclude-padding windows that can lie wholly in the padding */
        if (st->kind == POOL_AVG_EXCL && (st->w.pb[i] >= dk || pr >= dk)) return VM_OK;
    }
    dnnl_memory_desc_t smd, dmd;
    VM_DNNL(vm_dnnl_md(&smd, x->rank, x->dims, x->dtype), s, err);
    VM_DNNL(vm_dnnl_md(&dmd, y->rank, y->dims, y->dtype), s, err);
    dnnl_dims_t strides, kernel, dil, pl, pr;
    win_dnnl(&st->w, strides, kernel, dil, pl, pr);
    dnnl_alg_kind_t alg = st->kind == POOL_MAX ? dnnl_pooling_max
                        : st->kind == POOL_AVG_INCL ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t pd;
    VM_DNNL(dnnl_pooling_v2_forward_desc_init(&pd, dnnl_forward_inference, alg, &smd, &dmd, strides, kernel, dil, pl, pr), s, err);
    if ((e = vm_dnnl_prim_build(c, s, &pd, NULL, NULL, &st->p, NULL, err))) return e;
    return vm_dnnl_mem2(c, s, &smd, &st->src, &dmd, &st->dst, err);
}

/* Max pooling over lifted dims; ind (int64, may be NULL) gets ONNX's flat input index
 * (n*C + c) * D*H*W + spatial offset, row-major or (storage_order 1) column-major. */
#define POOL_MAX_REF(T, LOWEST)                                                                                   \
    static void pool_max_ref_##T(const struct pool_state *st, const T *x, T *y, int64_t *ind) {                    \
        const struct win *w = &st->w;                                                                           \
        int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];    \
        int64_t NC = w->N * w->C, isz = ID * IH * IW, osz = OD * OH * OW;                                        \
        _Pragma("omp parallel for if (NC * osz > PAR_MIN)")                                                     \
        for (int64_t nc = 0; nc < NC; nc++) {                                                                   \
            const T *xc = x + nc * isz;                                                                         \
            for (int64_t od = 0; od < OD; od++)                                                                 \
                for (int64_t oh = 0; oh < OH; oh++)                                                             \
                    for (int64_t ow = 0; ow < OW; ow++) {                                                       \
                        T best = LOWEST;                                                                        \
                        int64_t bi = -1;                                                                        \
                        for (int64_t kd = 0; kd < w->k[0]; kd++) {                                              \
                            int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];                                \
                            if (id < 0 || id >= ID) continue;                                                   \
                            for (int64_t kh = 0; kh < w->k[1]; kh++) {                                          \
                                int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];                            \
                                if (ih < 0 || ih >= IH) continue;                                               \
                                for (int64_t kw = 0; kw < w->k[2]; kw++) {                                      \
                                    int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];                        \
                                    if (iw < 0 || iw >= IW) continue;                                           \
                                    T v = xc[(id * IH + ih) * IW + iw];                                         \
                                    if (bi < 0 || v > best) {                                                   \
                                        best = v;                                                               \
                                        bi = st->storage_order ? id + ID * (ih + IH * iw) : (id * IH + ih) * IW + iw; \
                                    }                                                                           \
                                }                                                                               \
                            }                                                                                   \
                        }                                                                                       \
                        int64_t o = nc * osz + (od * OH + oh) * OW + ow;                                        \
                        y[o] = best;                                                                            \
                        if (ind) ind[o] = bi < 0 ? -1 : nc * isz + bi;                                          \
                    }                                                                                           \
        }                                                                                                       \
    }
POOL_MAX_REF(float, -FLT_MAX)
POOL_MAX_REF(uint8_t, 0)
POOL_MAX_REF(int8_t, INT8_MIN)
#undef POOL_MAX_REF

/* Average pooling (no dilation in ONNX up to opset 17). Divisor: in-bounds cells, or with
 * count_include_pad the cells inside [-pb, in + pe) (onnxruntime's rule). */
static void pool_avg_ref(const struct pool_state *st, const float *x, float *y) {
    const struct win *w = &st->w;
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t NC = w->N * w->C, isz = ID * IH * IW, osz = OD * OH * OW;
    bool incl = st->kind == POOL_AVG_INCL;
#pragma omp parallel for if (NC * osz > PAR_MIN)
    for (int64_t nc = 0; nc < NC; nc++) {
        const float *xc = x + nc * isz;
        for (int64_t od = 0; od < OD; od++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t o3[SP] = {od, oh, ow}, lo[SP], hi[SP], cnt = 1;
                    for (int i = 0; i < SP; i++) {
                        int64_t a = o3[i] * w->s[i] - w->pb[i], b = a + w->k[i];
                        if (incl) {
                            int64_t bend = b < w->in[i] + w->pe[i] ? b : w->in[i] + w->pe[i];
                            cnt *= bend - a;
                        }
                        lo[i] = a < 0 ? 0 : a;
                        hi[i] = b > w->in[i] ? w->in[i] : b;
                        if (!incl) cnt *= hi[i] > lo[i] ? hi[i] - lo[i] : 0;
                    }
                    double sum = 0;
                    for (int64_t id = lo[0]; id < hi[0]; id++)
                        for (int64_t ih = lo[1]; ih < hi[1]; ih++)
                            for (int64_t iw = lo[2]; iw < hi[2]; iw++) sum += xc[(id * IH + ih) * IW + iw];
                    y[nc * osz + (od * OH + oh) * OW + ow] = cnt > 0 ? (float)(sum / (double)cnt) : 0.0f;
                }
    }
}

static enum vm_status pool_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct pool_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0), *ind = vm_rt_out(c, s, 1);
    if (y->numel == 0) return VM_OK;
    if (st->p.prim) {
        set_handle(st->src, x->data);
        set_handle(st->dst, y->data);
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, st->src}, {DNNL_ARG_DST, st->dst}};
        return vm_dnnl_prim_exec(c, s, &st->p, 2, args, err);
    }
    int64_t *pi = ind ? ind->data : NULL;
    if (st->kind != POOL_MAX) pool_avg_ref(st, x->data, y->data);
    else if (x->dtype == VM_DTYPE_FLOAT) pool_max_ref_float(st, x->data, y->data, pi);
    else if (x->dtype == VM_DTYPE_UINT8) pool_max_ref_uint8_t(st, x->data, y->data, pi);
    else if (x->dtype == VM_DTYPE_INT8) pool_max_ref_int8_t(st, x->data, y->data, pi);
    else return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "type %s", vm_dtype_name(x->dtype));
    return VM_OK;
}

/* ---------------- GlobalMaxPool, GlobalAveragePool ---------------- */

/* A plain C reduction: one contiguous row of spatial elements per (n, c). */
static enum vm_status global_pool_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    bool maxp = strcmp(s->op, "GlobalMaxPool") == 0;
    int64_t rows = y->numel, len = rows ? x->numel / rows : 0;
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for if (x->numel > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *row = px + r * len;
        if (maxp) {
            float m = len ? row[0] : -FLT_MAX;
            for (int64_t i = 1; i < len; i++) m = row[i] > m ? row[i] : m;
            py[r] = m;
        } else {
            double sum = 0;
            for (int64_t i = 0; i < len; i++) sum += row[i];
            py[r] = len ? (float)(sum / (double)len) : 0.0f;
        }
    }
    return VM_OK;
}

/* ---------------- BatchNormalization (inference form, compiler/ops/nn.c) ----------------
 * Y = (X - mean) / sqrt(var + eps) * scale + B over axis 1 of [N, C, ...]: one multiply-add per
 * element with the per-channel a = scale / sqrt(var + eps) and b = B - mean a computed in double.
 * Memory-bound, so a C loop is both the kernel and its reference. */
static enum vm_status batchnorm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    const float *scale = vm_rt_in(c, s, 1)->data, *bias = vm_rt_in(c, s, 2)->data, *mean = vm_rt_in(c, s, 3)->data,
                *var = vm_rt_in(c, s, 4)->data;
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    const double eps = vm_rt_attr_float(s, "epsilon", 1e-5);
    const int64_t C = x->rank >= 2 ? x->dims[1] : 1, N = x->rank >= 1 ? x->dims[0] : 1, inner = N * C > 0 ? x->numel / (N * C) : 0;
    const float *px = x->data;
    float *py = y->data;
#pragma omp parallel for if (x->numel > PAR_MIN)
    for (int64_t r = 0; r < N * C; r++) {
        const int64_t ch = r % C;
        const double inv = 1.0 / sqrt((double)var[ch] + eps);
        const float a = (float)((double)scale[ch] * inv), b = (float)((double)bias[ch] - (double)mean[ch] * (double)scale[ch] * inv);
        const float *xr = px + r * inner;
        float *yr = py + r * inner;
        for (int64_t i = 0; i < inner; i++) yr[i] = xr[i] * a + b;
    }
    return VM_OK;
}

/* ---------------- Gemm ---------------- */

enum gemm_cmode {
    GEMM_C_NONE,  /* no C (or beta 0) */
    GEMM_C_BIAS,  /* alpha = beta = 1: C is the matmul's broadcast bias */
    GEMM_C_SUM,   /* Y <- C broadcast first, then Y = alpha*A*B + beta*Y (output scale + sum post-op) */
};

struct gemm_state {
    int64_t M, K, N;
    int64_t cm, cn; /* C's broadcast dims: 1 or M, 1 or N */
    bool ta, tb;
    float alpha, beta;
    enum gemm_cmode cmode;
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    dnnl_memory_t a, b, bias, dst;
    struct wreorder wr;    /* constant B (an inference plan's Linear weight): plain -> `any` */
    struct wpacked pk;     /* ... done once */
};

static void gemm_release(void *p) {
    struct gemm_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->a);
    mem_destroy(&st->b);
    mem_destroy(&st->bias);
    mem_destroy(&st->dst);
    mem_destroy(&st->pk.mem);
    wreorder_destroy(&st->wr);
    free(st);
}

static enum vm_status gemm_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct gemm_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1), *cc = vm_rt_in(c, s, 2), *y = vm_rt_out(c, s, 0);
    st->ta = vm_rt_attr_int(s, "transA", 0) != 0;
    st->tb = vm_rt_attr_int(s, "transB", 0) != 0;
    st->alpha = (float)vm_rt_attr_float(s, "alpha", 1.0);
    st->beta = (float)vm_rt_attr_float(s, "beta", 1.0);
    st->M = y->dims[0];
    st->N = y->dims[1];
    st->K = a->dims[st->ta ? 0 : 1];
    if (b->dims[st->tb ? 1 : 0] != st->K || a->dims[st->ta ? 1 : 0] != st->M || b->dims[st->tb ? 0 : 1] != st->N)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "A, B and Y shapes do not agree");
    st->cmode = GEMM_C_NONE;
    if (cc && st->beta != 0) {
        st->cn = cc->rank >= 1 ? cc->dims[cc->rank - 1] : 1;
        st->cm = cc->rank == 2 ? cc->dims[0] : 1;
        st->cmode = st->alpha == 1 && st->beta == 1 ? GEMM_C_BIAS : GEMM_C_SUM;
    }
    if (c->m->ref_kernels || y->numel == 0 || st->K == 0) return VM_OK;

    /* transposes are strides: A^T is A's buffer read column-major */
    dnnl_memory_desc_t amd, bmd, cmd, dmd;
    dnnl_dims_t ad = {st->M, st->K}, as = {st->ta ? 1 : st->K, st->ta ? st->M : 1};
    dnnl_dims_t bd = {st->K, st->N}, bs = {st->tb ? 1 : st->N, st->tb ? st->K : 1};
    VM_DNNL(dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_f32, as), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_f32, bs), s, err);
    VM_DNNL(vm_dnnl_md(&dmd, 2, y->dims, VM_DTYPE_FLOAT), s, err);
    int64_t cdims[2] = {st->cm, st->cn};
    if (st->cmode == GEMM_C_BIAS) VM_DNNL(vm_dnnl_md(&cmd, 2, cdims, VM_DTYPE_FLOAT), s, err);
    /* a constant B in the layout oneDNN prefers, packed once (as MatMul's) */
    bool pack = vm_rt_value_const(c, s->in[1]);
    dnnl_memory_desc_t bsel = bmd;
    if (pack) VM_DNNL(any_md(&bsel, &bmd), s, err);
    dnnl_matmul_desc_t md;
    VM_DNNL(dnnl_matmul_desc_init(&md, &amd, &bsel, st->cmode == GEMM_C_BIAS ? &cmd : NULL, &dmd), s, err);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    VM_DNNL(dnnl_primitive_attr_create(&attr), s, err);
    dnnl_status_t ds = dnnl_success;
    if (st->alpha != 1) ds = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &st->alpha);
    if (ds == dnnl_success && st->cmode == GEMM_C_SUM) {
        ds = dnnl_post_ops_create(&po);
        if (ds == dnnl_success) ds = dnnl_post_ops_append_sum(po, st->beta);
        if (ds == dnnl_success) ds = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    enum vm_status e = ds == dnnl_success ? vm_dnnl_prim_build(c, s, &md, NULL, attr, &st->p, &pd, err)
                                          : vm_dnnl_status(ds, "dnnl_primitive_attr (Gemm alpha/beta)", s, err);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (!e && pack) {
        const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e = wreorder_init(c, s, &st->wr, &bmd, chosen, true, pd, err);
        if (!e) e = wpacked_init(c, s, &st->pk, &st->wr, s->in[1], chosen, err);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (e) return e;
    if ((e = vm_dnnl_mem2(c, s, &amd, &st->a, &bmd, &st->b, err))) return e;
    if ((e = vm_dnnl_mem(c, s, &dmd, &st->dst, err))) return e;
    if (st->cmode == GEMM_C_BIAS && (e = vm_dnnl_mem(c, s, &cmd, &st->bias, err))) return e;
    return VM_OK;
}

/* y [M, N] <- C broadcast from [cm, cn] (times scale). */
static void gemm_fill_c(const struct gemm_state *st, const float *cc, float scale, float *y) {
#pragma omp parallel for if (st->M * st->N > PAR_MIN)
    for (int64_t i = 0; i < st->M; i++) {
        const float *cr = cc + (st->cm == 1 ? 0 : i * st->cn);
        for (int64_t j = 0; j < st->N; j++) y[i * st->N + j] = scale * cr[st->cn == 1 ? 0 : j];
    }
}

/* Y = alpha * op(A) op(B) + beta * C. a [M, K] or [K, M], b [K, N] or [N, K]. */
static void gemm_ref(const struct gemm_state *st, const float *a, const float *b, const float *cc, float *y) {
    int64_t M = st->M, K = st->K, N = st->N;
#pragma omp parallel for if (M * N * K > PAR_MIN)
    for (int64_t i = 0; i < M; i++) {
        float *yr = y + i * N;
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                float av = st->ta ? a[k * M + i] : a[i * K + k];
                float bv = st->tb ? b[j * K + k] : b[k * N + j];
                acc += (double)av * bv;
            }
            double v = st->alpha * acc;
            if (st->cmode != GEMM_C_NONE) v += (double)st->beta * cc[(st->cm == 1 ? 0 : i * st->cn) + (st->cn == 1 ? 0 : j)];
            yr[j] = (float)v;
        }
    }
}

static enum vm_status gemm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct gemm_state *st = state;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1), *cc = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (!st->p.prim) {
        gemm_ref(st, a->data, b->data, cc ? cc->data : NULL, y->data);
        return VM_OK;
    }
    dnnl_memory_t wei;
    enum vm_status e = wpacked_or_plain(c, s, &st->pk, &st->wr, st->b, b->data, &wei, err);
    if (e) return e;
    if (st->cmode == GEMM_C_SUM) gemm_fill_c(st, cc->data, 1.0f, y->data);
    set_handle(st->a, a->data);
    set_handle(st->dst, y->data);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, st->a}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, st->dst}};
    int na = 3;
    if (st->cmode == GEMM_C_BIAS) {
        set_handle(st->bias, cc->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, st->bias};
    }
    return vm_dnnl_prim_exec(c, s, &st->p, na, args, err);
}

/* ---------------- MatMul, MatMulT ---------------- */

/* MatMul(A, B): operands are promoted (1-D A -> [1, K], 1-D B -> [K, 1]) and aligned to one rank R
 * by leading 1s; Y' = [batch..., M, N] has Y's bytes. MatMulT(A, B) = op(A) op(B) over the last two
 * dims (op = transpose when transA / transB), operands of rank >= 2. Batch dims broadcast. A
 * transposed operand is the same buffer under swapped strides, so oneDNN's matmul reads it in
 * place. When B has no batch and A is not transposed, A's batch folds into M. */
struct matmul_state {
    int rank;                                                  /* R >= 2 */
    int64_t ad[VM_MAX_RANK], bd[VM_MAX_RANK], yd[VM_MAX_RANK]; /* logical [.., M, K], [.., K, N], [.., M, N] */
    int64_t M, K, N, batch;                                    /* batch: product of Y' batch dims */
    bool ta, tb;
    bool perm;             /* MatMulT's permA / permB / permY: operands or output through strides */
    /* element strides of the logical [.., M, K], [.., K, N], [.., M, N] (a broadcast batch dim, of
     * size 1, is skipped by the reader): the C reference's addressing, and the oneDNN descriptors'
     * when perm */
    int64_t as[VM_MAX_RANK], bs[VM_MAX_RANK], ys[VM_MAX_RANK];
    bool bias;             /* MatMulT's input 2: [N] added to every row */
    bool addend;           /* MatMulT's input 3: Z of Y's shape added (after the bias) */
    bool factor;           /* MatMulT's input 4: M of Y's shape multiplied in (after Z) */
    bool add_after;        /* Z and M by a C loop, when oneDNN has no binary post-ops for the shapes */
    int64_t py[VM_MAX_RANK]; /* permY (the identity without one) */
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    dnnl_memory_t a, b, dst, cmem, zmem, mmem;
    struct wreorder wr;    /* constant 2-D B: plain -> the primitive's layout (`any`) */
    struct wpacked pk;     /* ... done once */
};

static void matmul_release(void *p) {
    struct matmul_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->a);
    mem_destroy(&st->b);
    mem_destroy(&st->dst);
    mem_destroy(&st->cmem);
    mem_destroy(&st->zmem);
    mem_destroy(&st->mmem);
    mem_destroy(&st->pk.mem);
    wreorder_destroy(&st->wr);
    free(st);
}

/* Descriptor of a logical [.., R, C] operand stored row-major as [.., R, C] or, transposed, as
 * [.., C, R]. */
static dnnl_status_t strided_md(dnnl_memory_desc_t *md, int r, const int64_t *logical, bool trans) {
    dnnl_dims_t d, str;
    int64_t stored[VM_MAX_RANK];
    for (int i = 0; i < r; i++) stored[i] = logical[i];
    if (trans) {
        stored[r - 2] = logical[r - 1];
        stored[r - 1] = logical[r - 2];
    }
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        d[i] = logical[i];
        str[i] = acc;
        acc *= stored[i] ? stored[i] : 1;
    }
    if (trans) {
        int64_t t = str[r - 2];
        str[r - 2] = str[r - 1];
        str[r - 1] = t;
    }
    return dnnl_memory_desc_init_by_strides(md, r, d, dnnl_f32, str);
}

static void swap_last2(int64_t *d, int r) {
    int64_t t = d[r - 2];
    d[r - 2] = d[r - 1];
    d[r - 1] = t;
}

/* Strides of a logical operand of r dims stored row-major as `stored` (r dims), read through perm
 * (logical dim i is stored dim perm[i]; NULL: the identity), then with its last two dims swapped
 * when trans. */
static void operand_strides(int r, const int64_t *stored, const int64_t *perm, bool trans, int64_t *str) {
    int64_t ss[VM_MAX_RANK], acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        ss[i] = acc;
        acc *= stored[i] ? stored[i] : 1;
    }
    for (int i = 0; i < r; i++) str[i] = ss[perm ? perm[i] : i];
    if (trans) swap_last2(str, r);
}

/* The common part of prepare, once rank, ta, tb and the logical ad / bd are set: M, K, N, Y' and
 * the oneDNN primitive. */
static enum vm_status matmul_finish(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct matmul_state *st,
                                    const struct vm_rt_tensor *y, struct vm_error *err) {
    int r = st->rank;
    st->M = st->ad[r - 2];
    st->K = st->ad[r - 1];
    st->N = st->bd[r - 1];
    if (st->bd[r - 2] != st->K) return vm_rt_step_errorf(s, err, VM_EINVAL, "inner dimensions %lld and %lld differ", (long long)st->K,
                                                         (long long)st->bd[r - 2]);
    st->batch = 1;
    bool b_flat = true; /* B has no batch: fold A's batch into M */
    for (int i = 0; i < r - 2; i++) {
        if (st->ad[i] != st->bd[i] && st->ad[i] != 1 && st->bd[i] != 1)
            return vm_rt_step_errorf(s, err, VM_EINVAL, "batch dimensions %lld and %lld do not broadcast", (long long)st->ad[i],
                                     (long long)st->bd[i]);
        st->yd[i] = st->ad[i] > st->bd[i] ? st->ad[i] : st->bd[i];
        if (st->ad[i] == 0 || st->bd[i] == 0) st->yd[i] = 0;
        st->batch *= st->yd[i];
        b_flat = b_flat && st->bd[i] == 1;
    }
    st->yd[r - 2] = st->M;
    st->yd[r - 1] = st->N;
    if (!st->perm) { /* dense operands (transposed ones through their strides) and output */
        int64_t sa[VM_MAX_RANK], sb[VM_MAX_RANK];
        memcpy(sa, st->ad, sizeof sa);
        memcpy(sb, st->bd, sizeof sb);
        if (st->ta) swap_last2(sa, r);
        if (st->tb) swap_last2(sb, r);
        operand_strides(r, sa, NULL, st->ta, st->as);
        operand_strides(r, sb, NULL, st->tb, st->bs);
        operand_strides(r, st->yd, NULL, false, st->ys);
    } else { /* permY: logical dim py[i] of Y is stored dim i */
        int64_t sd[VM_MAX_RANK] = {0}, ss[VM_MAX_RANK] = {0};
        for (int i = 0; i < r; i++) sd[i] = st->yd[st->py[i]];
        operand_strides(r, sd, NULL, false, ss);
        for (int i = 0; i < r; i++) st->ys[st->py[i]] = ss[i];
    }
    if (c->m->ref_kernels || y->numel == 0 || st->K == 0) return VM_OK;

    dnnl_memory_desc_t amd, bmd, dmd, cmd;
    if (st->perm) {
        dnnl_dims_t a_d, b_d, y_d, a_s, b_s, y_s;
        for (int i = 0; i < r; i++) {
            a_d[i] = st->ad[i], b_d[i] = st->bd[i], y_d[i] = st->yd[i];
            a_s[i] = st->as[i], b_s[i] = st->bs[i], y_s[i] = st->ys[i];
        }
        VM_DNNL(dnnl_memory_desc_init_by_strides(&amd, r, a_d, dnnl_f32, a_s), s, err);
        VM_DNNL(dnnl_memory_desc_init_by_strides(&bmd, r, b_d, dnnl_f32, b_s), s, err);
        VM_DNNL(dnnl_memory_desc_init_by_strides(&dmd, r, y_d, dnnl_f32, y_s), s, err);
    } else if (b_flat && !st->ta) {
        int64_t a2[2] = {st->batch * st->M, st->K}, b2[2] = {st->K, st->N}, y2[2] = {st->batch * st->M, st->N};
        VM_DNNL(vm_dnnl_md(&amd, 2, a2, VM_DTYPE_FLOAT), s, err);
        VM_DNNL(strided_md(&bmd, 2, b2, st->tb), s, err);
        VM_DNNL(vm_dnnl_md(&dmd, 2, y2, VM_DTYPE_FLOAT), s, err);
    } else {
        VM_DNNL(strided_md(&amd, r, st->ad, st->ta), s, err);
        VM_DNNL(strided_md(&bmd, r, st->bd, st->tb), s, err);
        VM_DNNL(vm_dnnl_md(&dmd, r, st->yd, VM_DTYPE_FLOAT), s, err);
    }
    /* a constant B (an inference plan's weight) in the layout oneDNN prefers, packed once; a
     * transposed 2-D B that changes (a training step's dX = dY W^T) reordered into that layout at
     * each run, into the scratch, as the training convolutions' weights are (struct wreorder) */
    bool pack = b_flat && !st->ta && !st->perm && vm_rt_value_const(c, s->in[1]);
    bool pack_run = !pack && b_flat && !st->ta && !st->perm && st->tb;
    dnnl_memory_desc_t bsel = bmd;
    if (pack || pack_run) VM_DNNL(any_md(&bsel, &bmd), s, err);
    if (st->bias) {
        /* [1, .., 1, N] in the destination's rank */
        int64_t cd[VM_MAX_RANK];
        for (int i = 0; i < dmd.ndims; i++) cd[i] = i == dmd.ndims - 1 ? st->N : 1;
        VM_DNNL(vm_dnnl_md(&cmd, dmd.ndims, cd, VM_DTYPE_FLOAT), s, err);
    }
    dnnl_matmul_desc_t md;
    VM_DNNL(dnnl_matmul_desc_init(&md, &amd, &bsel, st->bias ? &cmd : NULL, &dmd), s, err);
    /* the addend Z and the factor M as binary-add / binary-mul post-ops reading tensors of dst's shape */
    dnnl_primitive_attr_t attr = NULL;
    if (st->addend || st->factor) {
        dnnl_post_ops_t po = NULL;
        dnnl_primitive_desc_t probe = NULL;
        bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success && dnnl_post_ops_create(&po) == dnnl_success &&
                  (!st->addend || dnnl_post_ops_append_binary(po, dnnl_binary_add, &dmd) == dnnl_success) &&
                  (!st->factor || dnnl_post_ops_append_binary(po, dnnl_binary_mul, &dmd) == dnnl_success) &&
                  dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success &&
                  dnnl_primitive_desc_create(&probe, &md, attr, c->engine, NULL) == dnnl_success;
        if (po) dnnl_post_ops_destroy(po);
        if (probe) dnnl_primitive_desc_destroy(probe);
        if (!ok && attr) {
            dnnl_primitive_attr_destroy(attr);
            attr = NULL;
        }
        st->add_after = !ok;
    }
    dnnl_primitive_desc_t pd = NULL;
    enum vm_status e = vm_dnnl_prim_build(c, s, &md, NULL, attr, &st->p, &pd, err);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (e) return e;
    if (pack || pack_run) {
        const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e = wreorder_init(c, s, &st->wr, &bmd, chosen, true, pd, err);
        if (!e && pack) e = wpacked_init(c, s, &st->pk, &st->wr, s->in[1], chosen, err);
    }
    dnnl_primitive_desc_destroy(pd);
    if (e) return e;
    if ((e = vm_dnnl_mem2(c, s, &amd, &st->a, &bmd, &st->b, err))) return e;
    if (st->bias && (e = vm_dnnl_mem(c, s, &cmd, &st->cmem, err))) return e;
    if (st->addend && !st->add_after && (e = vm_dnnl_mem(c, s, &dmd, &st->zmem, err))) return e;
    if (st->factor && !st->add_after && (e = vm_dnnl_mem(c, s, &dmd, &st->mmem, err))) return e;
    return vm_dnnl_mem(c, s, &dmd, &st->dst, err);
}

static enum vm_status matmul_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct matmul_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1), *y = vm_rt_out(c, s, 0);
    int64_t pa[VM_MAX_RANK + 1], pb[VM_MAX_RANK + 1];
    int ra = a->rank, rb = b->rank;
    if (ra == 1) {
        pa[0] = 1;
        pa[1] = a->dims[0];
        ra = 2;
    } else {
        memcpy(pa, a->dims, (size_t)ra * sizeof *pa);
    }
    if (rb == 1) {
        pb[0] = b->dims[0];
        pb[1] = 1;
        rb = 2;
    } else {
        memcpy(pb, b->dims, (size_t)rb * sizeof *pb);
    }
    int r = ra > rb ? ra : rb;
    if (r > VM_MAX_RANK) return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "rank %d", r);
    st->rank = r;
    for (int i = 0; i < r; i++) {
        st->ad[i] = i - (r - ra) >= 0 ? pa[i - (r - ra)] : 1;
        st->bd[i] = i - (r - rb) >= 0 ? pb[i - (r - rb)] : 1;
    }
    return matmul_finish(c, s, st, y, err);
}

/* A perm attribute of the step (permA / permB / permY) into perm; false when absent. A present one
 * must permute r axes (a plan file is untrusted). */
static bool step_perm(const struct vm_rt_step *s, const char *name, int r, int64_t *perm, bool *bad) {
    int n = vm_rt_attr_ints(s, name, perm, VM_MAX_RANK);
    if (n <= 0) return false;
    if (n != r || !vm_is_perm(perm, n)) *bad = true;
    return !*bad;
}

static enum vm_status matmul_t_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct matmul_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1), *y = vm_rt_out(c, s, 0);
    st->ta = vm_rt_attr_int(s, "transA", 0) != 0;
    st->tb = vm_rt_attr_int(s, "transB", 0) != 0;
    const struct vm_rt_tensor *bias = vm_rt_in(c, s, 2), *z = vm_rt_in(c, s, 3), *f = vm_rt_in(c, s, 4);
    st->bias = bias != NULL;
    st->addend = z != NULL;
    st->factor = f != NULL;
    if (z && z->numel != y->numel) return vm_rt_step_errorf(s, err, VM_EINVAL, "the addend must have the output's shape");
    if (f && f->numel != y->numel) return vm_rt_step_errorf(s, err, VM_EINVAL, "the factor must have the output's shape");
    int ra = a->rank, rb = b->rank, r = ra > rb ? ra : rb;
    if (ra < 2 || rb < 2 || y->rank != r) return vm_rt_step_errorf(s, err, VM_EINVAL, "operand ranks %d, %d", ra, rb);
    st->rank = r;
    int64_t pa[VM_MAX_RANK], pb[VM_MAX_RANK];
    bool bad = false, has_pa = step_perm(s, "permA", ra, pa, &bad), has_pb = step_perm(s, "permB", rb, pb, &bad);
    bool has_py = step_perm(s, "permY", r, st->py, &bad);
    if (bad) return vm_rt_step_errorf(s, err, VM_EFORMAT, "a perm attribute does not permute its tensor's axes");
    st->perm = has_pa || has_pb || has_py;
    if (st->perm && (ra != rb || z || f))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "a perm needs operands of one rank and no addend or factor");
    if (!has_py)
        for (int i = 0; i < r; i++) st->py[i] = i;
    for (int i = 0; i < r; i++) {
        st->ad[i] = i - (r - ra) >= 0 ? a->dims[i - (r - ra)] : 1;
        st->bd[i] = i - (r - rb) >= 0 ? b->dims[i - (r - rb)] : 1;
    }
    if (st->perm) { /* logical dims through the perms, strides of the stored tensors */
        int64_t id[VM_MAX_RANK];
        for (int i = 0; i < r; i++) id[i] = i;
        operand_strides(r, a->dims, has_pa ? pa : id, st->ta, st->as);
        operand_strides(r, b->dims, has_pb ? pb : id, st->tb, st->bs);
        for (int i = 0; i < r; i++) {
            st->ad[i] = a->dims[has_pa ? pa[i] : i];
            st->bd[i] = b->dims[has_pb ? pb[i] : i];
        }
    }
    if (st->ta) swap_last2(st->ad, r);
    if (st->tb) swap_last2(st->bd, r);
    if (bias && (bias->rank != 1 || bias->dims[0] != st->bd[r - 1]))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "bias must be a vector of the output's last dim");
    enum vm_status e = matmul_finish(c, s, st, y, err);
    if (!e) {
        for (int i = 0; i < r; i++)
            if (st->yd[st->py[i]] != y->dims[i]) return vm_rt_step_errorf(s, err, VM_EINVAL, "operand and output shapes do not agree");
    }
    return e;
}

/* Y = op(A) op(B) [+ bias] through the logical strides (transposes and perms alike), double sums. */
static void matmul_ref(const struct matmul_state *st, const float *a, const float *b, const float *bias, float *y) {
    int r = st->rank;
    int64_t M = st->M, K = st->K, N = st->N;
#pragma omp parallel for if (st->batch * M * N * K > PAR_MIN)
    for (int64_t bi = 0; bi < st->batch; bi++) {
        /* offsets of this batch entry (broadcast dims step 0) */
        int64_t rem = bi, oa = 0, ob = 0, oy = 0;
        for (int i = r - 3; i >= 0; i--) {
            int64_t ci = rem % st->yd[i];
            rem /= st->yd[i];
            if (st->ad[i] != 1) oa += ci * st->as[i];
            if (st->bd[i] != 1) ob += ci * st->bs[i];
            oy += ci * st->ys[i];
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)a[oa + i * st->as[r - 2] + k * st->as[r - 1]] * b[ob + k * st->bs[r - 2] + j * st->bs[r - 1]];
                float v = (float)acc;
                y[oy + i * st->ys[r - 2] + j * st->ys[r - 1]] = bias ? v + bias[j] : v;
            }
    }
}

/* y += Z, then y *= M (MatMulT's inputs 3 and 4, each when present): the reference, and oneDNN
 * builds without the binary post-ops */
static void matmul_add_after(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct vm_rt_tensor *y) {
    const struct vm_rt_tensor *z = vm_rt_in(c, s, 3), *f = vm_rt_in(c, s, 4);
    float *yv = y->data;
    if (z) {
        const float *zv = z->data;
#pragma omp parallel for simd if (y->numel > PAR_MIN)
        for (int64_t i = 0; i < y->numel; i++) yv[i] += zv[i];
    }
    if (f) {
        const float *fv = f->data;
#pragma omp parallel for simd if (y->numel > PAR_MIN)
        for (int64_t i = 0; i < y->numel; i++) yv[i] *= fv[i];
    }
}

static enum vm_status matmul_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct matmul_state *st = state;
    const struct vm_rt_tensor *a = vm_rt_in(c, s, 0), *b = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (!st->p.prim) {
        /* K = 0 gives zeros (plus the bias) */
        matmul_ref(st, a->data, b->data, st->bias ? vm_rt_in(c, s, 2)->data : NULL, y->data);
        if (st->addend || st->factor) matmul_add_after(c, s, y);
        return VM_OK;
    }
    dnnl_memory_t wei;
    enum vm_status e;
    if (st->wr.prim && !st->pk.mem) { /* reordered at each run */
        e = wreorder_run(c, s, &st->wr, b->data, true, err);
        wei = wreorder_blocked(c, &st->wr);
    } else {
        e = wpacked_or_plain(c, s, &st->pk, &st->wr, st->b, b->data, &wei, err);
    }
    if (e) return e;
    set_handle(st->a, a->data);
    set_handle(st->dst, y->data);
    dnnl_exec_arg_t args[7] = {{DNNL_ARG_SRC, st->a}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, st->dst}}; /* + bias, Z, M, scratchpad */
    int na = 3;
    if (st->bias) {
        set_handle(st->cmem, vm_rt_in(c, s, 2)->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, st->cmem};
    }
    if (st->addend && !st->add_after) {
        set_handle(st->zmem, vm_rt_in(c, s, 3)->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, st->zmem};
    }
    if (st->factor && !st->add_after) {
        set_handle(st->mmem, vm_rt_in(c, s, 4)->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(st->addend ? 1 : 0) | DNNL_ARG_SRC_1, st->mmem};
    }
    e = vm_dnnl_prim_exec(c, s, &st->p, na, args, err);
    if (!e && (st->addend || st->factor) && st->add_after) matmul_add_after(c, s, y);
    return e;
}

/* ---------------- Softmax, LogSoftmax ---------------- */

/* X viewed as (outer, L, inner): softmax along L. The opset 11-12 2-D coercion (attribute
 * coerce_2d) is the same with L = the product of dims [axis, rank) and inner = 1. */
struct softmax_state {
    int64_t outer, len, inner;
    bool log;
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    dnnl_memory_t src, dst;
};

static void softmax_release(void *p) {
    struct softmax_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->src);
    mem_destroy(&st->dst);
    free(st);
}

static enum vm_status softmax_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct softmax_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    int64_t axis = vm_rt_attr_int(s, "axis", -1);
    if (axis < 0 || axis >= x->rank) return vm_rt_step_errorf(s, err, VM_EFORMAT, "axis %lld (the plan was not normalized)", (long long)axis);
    bool coerce = vm_rt_attr_int(s, "coerce_2d", 0) != 0;
    st->log = strcmp(s->op, "LogSoftmax") == 0;
    st->outer = st->len = st->inner = 1;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis) st->outer *= x->dims[i];
        else if (i == axis || coerce) st->len *= x->dims[i];
        else st->inner *= x->dims[i];
    }
    if (c->m->ref_kernels || x->numel == 0) return VM_OK;
    int64_t d3[3] = {st->outer, st->len, st->inner};
    dnnl_memory_desc_t md;
    VM_DNNL(vm_dnnl_md(&md, 3, d3, VM_DTYPE_FLOAT), s, err);
    dnnl_softmax_v2_desc_t sd;
    VM_DNNL(dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_training, st->log ? dnnl_softmax_log : dnnl_softmax_accurate, &md, &md, 1),
            s, err);
    enum vm_status e = vm_dnnl_prim_build(c, s, &sd, NULL, NULL, &st->p, NULL, err);
    return e ? e : vm_dnnl_mem2(c, s, &md, &st->src, &md, &st->dst, err);
}

static void softmax_ref(const struct softmax_state *st, const float *x, float *y) {
    int64_t L = st->len, in = st->inner;
#pragma omp parallel for collapse(2) if (st->outer * L * in > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++)
        for (int64_t i = 0; i < in; i++) {
            const float *xr = x + o * L * in + i;
            float *yr = y + o * L * in + i;
            float m = -INFINITY;
            for (int64_t l = 0; l < L; l++) m = xr[l * in] > m ? xr[l * in] : m;
            double sum = 0;
            for (int64_t l = 0; l < L; l++) sum += exp((double)xr[l * in] - m);
            if (st->log) {
                double ls = log(sum);
                for (int64_t l = 0; l < L; l++) yr[l * in] = (float)((double)xr[l * in] - m - ls);
            } else {
                for (int64_t l = 0; l < L; l++) yr[l * in] = (float)(exp((double)xr[l * in] - m) / sum);
            }
        }
}

static enum vm_status softmax_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct softmax_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0);
    if (y->numel == 0) return VM_OK;
    if (!st->p.prim) {
        softmax_ref(st, x->data, y->data);
        return VM_OK;
    }
    set_handle(st->src, x->data);
    set_handle(st->dst, y->data);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, st->src}, {DNNL_ARG_DST, st->dst}};
    return vm_dnnl_prim_exec(c, s, &st->p, 2, args, err);
}

/* ---------------- LayerNormalization ---------------- */

/* X viewed as (outer, L): each row normalized over its L elements. Mean and InvStdDev (when the
 * graph asks for them) have `outer` elements. Both kernels are C: layernorm_fast (vectorized, the
 * statistics in double) and layernorm_ref (double throughout, --reference-kernels). */
struct layernorm_state {
    int64_t outer, len;
    float eps;
    bool fast; /* layernorm_fast; else the reference */
};

static enum vm_status layernorm_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct layernorm_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0);
    int64_t axis = vm_rt_attr_int(s, "axis", -1);
    if (axis < 0 || axis >= x->rank) return vm_rt_step_errorf(s, err, VM_EFORMAT, "axis %lld (the plan was not normalized)", (long long)axis);
    st->eps = (float)vm_rt_attr_float(s, "epsilon", 1e-5);
    st->outer = st->len = 1;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis) st->outer *= x->dims[i];
        else st->len *= x->dims[i];
    }
    st->fast = !c->m->ref_kernels;
    return VM_OK;
}

/* Mean and (population) variance of one row, two passes in double; the sums are simd reductions,
 * compiled for AVX-512 and AVX2 besides the baseline (a fixed order for a given build and CPU, so
 * runs repeat bit for bit): with scalar in-order double sums BERT-mini's LayerNormGrad took ~1.5x
 * as long, and SSE2's two double lanes left the statistics a third of it. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void row_stats(const float *restrict xr, int64_t L, float *mean,
                                                                                  float *var) {
    double mu = 0, sq = 0;
#pragma omp simd reduction(+ : mu)
    for (int64_t i = 0; i < L; i++) mu += xr[i];
    mu = L ? mu / (double)L : 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t i = 0; i < L; i++) sq += ((double)xr[i] - mu) * ((double)xr[i] - mu);
    *mean = (float)mu;
    *var = (float)(L ? sq / (double)L : 0);
}

/* y = (x - mean) / sqrt(var + eps) * scale [+ bias] per row, the statistics by row_stats (in double)
 * and the normalization in float, compiled for AVX-512 and AVX2 besides SSE2: oneDNN 2.6 runs
 * layer normalization with its generic C++ kernel (simple_layer_normalization), built for the
 * baseline ISA, at about half this speed on BERT-mini's [896, 256] rows. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void normalize_row(const float *restrict xr, float mu, float is,
                                                                                      const float *restrict w, const float *restrict b,
                                                                                      float *restrict yr, int64_t L) {
    if (b) {
#pragma omp simd
        for (int64_t i = 0; i < L; i++) yr[i] = (xr[i] - mu) * is * w[i] + b[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < L; i++) yr[i] = (xr[i] - mu) * is * w[i];
    }
}

static void layernorm_fast(const struct layernorm_state *st, const float *x, const float *w, const float *b, float *y, float *mean,
                           float *inv) {
    int64_t L = st->len;
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) {
        float mu, var;
        row_stats(x + o * L, L, &mu, &var);
        float is = (float)(1.0 / sqrt((double)var + st->eps));
        normalize_row(x + o * L, mu, is, w, b, y + o * L, L);
        if (mean) mean[o] = mu;
        if (inv) inv[o] = is;
    }
}

static void layernorm_ref(const struct layernorm_state *st, const float *x, const float *w, const float *b, float *y, float *mean,
                          float *inv) {
    int64_t L = st->len;
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) {
        const float *xr = x + o * L;
        float *yr = y + o * L;
        double mu = 0, var = 0;
        for (int64_t i = 0; i < L; i++) mu += xr[i];
        mu = L ? mu / (double)L : 0;
        for (int64_t i = 0; i < L; i++) var += ((double)xr[i] - mu) * ((double)xr[i] - mu);
        var = L ? var / (double)L : 0;
        double is = 1.0 / sqrt(var + st->eps);
        for (int64_t i = 0; i < L; i++) yr[i] = (float)(((double)xr[i] - mu) * is * w[i] + (b ? b[i] : 0.0f));
        if (mean) mean[o] = (float)mu;
        if (inv) inv[o] = (float)is;
    }
}

static enum vm_status layernorm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)err;
    struct layernorm_state *st = state;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 0), *w = vm_rt_in(c, s, 1), *b = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *y = vm_rt_out(c, s, 0), *mo = vm_rt_out(c, s, 1), *vo = vm_rt_out(c, s, 2);
    float *mean = mo ? mo->data : NULL, *inv = vo ? vo->data : NULL;
    if (st->outer == 0) return VM_OK;
    if (st->fast) layernorm_fast(st, x->data, w->data, b ? b->data : NULL, y->data, mean, inv);
    else layernorm_ref(st, x->data, w->data, b ? b->data : NULL, y->data, mean, inv);
    return VM_OK;
}

/* ======================= backward kernels (autodiff) ======================= */


/* ---------------- ConvGradData, ConvGradWeight ---------------- */

/* ConvGradData(dY, W, shape(X)) -> dX and ConvGradWeight(dY, X, shape(W)) -> dW [, dB]: oneDNN
 * convolution bwd_data / bwd_weights (bias gradient in the same primitive), with a forward_training
 * descriptor of the same shapes as the hint. Both overwrite their outputs. With channels_last
 * (ConvCL's gradients) dY, X and dX are channels-last and the weights `any`, reordered like
 * ConvCL's: W into the bwd_data layout before, dW out of the bwd_weights layout after. */
struct convg_state {
    struct win w; /* geometry over X (in) and dY (out) */
    int64_t M, G;
    bool bias;    /* ConvGradWeight with a dB output */
    struct vm_dnnl_prim p; /* p.prim NULL: C reference */
    dnnl_memory_t dy, w_or_x, out, db;
    struct wreorder wr;
    float *dys, *xs; /* channels_last reference: dY and X (or dX) channels-first */
    int64_t sp_cap;  /* channels_last: most nonzeros of dY the sparse path takes; 0 = never */
};

static void convg_release(void *p) {
    struct convg_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->dy);
    mem_destroy(&st->w_or_x);
    mem_destroy(&st->out);
    mem_destroy(&st->db);
    wreorder_destroy(&st->wr);
    free(st->dys);
    free(st->xs);
    free(st);
}

/* Sparse dY. Behind a max-over-time pooling (Kim-CNN: Conv -> Relu -> ReduceMax over time) the
 * gradient of a convolution's output has one nonzero per sequence and channel at most, under 1/T'
 * of its elements, while oneDNN's backward passes cost as much as the forward whatever dY holds.
 * When dY is channels-last and at most 1/SPARSE_DIV of it is nonzero (counted at each run), both
 * gradients are computed from the nonzero list instead, one contiguous AXPY of Cg floats per
 * nonzero and kernel tap: ConvGradData scatters W's tap rows into dX (threads own sequences),
 * ConvGradWeight gathers X's rows into dW (threads own output channels). Same sums as the dense
 * passes, in another order. Scratch: the entries, their order by channel, per-sequence and
 * per-channel starts, and W or dW with the taps outermost ([M, K, Cg]). */
#define SPARSE_DIV 16

struct sp_entry {
    int32_t n, o, m; /* sequence, flat output position, output channel */
    float v;
};

struct sp_scratch {
    struct sp_entry *e;
    int32_t *by_m;          /* entry indices grouped by channel */
    int64_t *n_start, *m_start; /* [N + 1], [M + 1] */
    float *wt;              /* [M, K, Cg] */
};

/* dst += v * src over n floats; built for AVX-512, AVX2 and the baseline, picked at load time. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void sp_axpy(float *restrict dst, const float *restrict src, float v,
                                                                               int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] += v * src[i];
}

/* Bytes of the sparse scratch; with base, points sc's arrays into it. */
static size_t sparse_layout(const struct convg_state *st, uint8_t *base, struct sp_scratch *sc) {
    const struct win *w = &st->w;
    size_t cap = (size_t)st->sp_cap, off = 0;
    size_t o_e = off;
    off += vm_align64(cap * sizeof(struct sp_entry));
    size_t o_b = off;
    off += vm_align64(cap * sizeof(int32_t));
    size_t o_n = off;
    off += vm_align64((size_t)(w->N + 1) * sizeof(int64_t));
    size_t o_m = off;
    off += vm_align64((size_t)(st->M + 1) * sizeof(int64_t));
    size_t o_w = off;
    off += vm_align64((size_t)(st->M * (w->C / st->G) * w->k[0] * w->k[1] * w->k[2]) * sizeof(float));
    if (base && sc) {
        sc->e = (struct sp_entry *)(base + o_e);
        sc->by_m = (int32_t *)(base + o_b);
        sc->n_start = (int64_t *)(base + o_n);
        sc->m_start = (int64_t *)(base + o_m);
        sc->wt = (float *)(base + o_w);
    }
    return off;
}

/* Lists dY's nonzeros (sequence-major); false when there are more than sp_cap. */
static bool sparse_collect(const struct convg_state *st, const float *dy, struct sp_scratch *sc, int64_t *nnz_out) {
    const struct win *w = &st->w;
    int64_t O = win_out_size(w), M = st->M, nnz = 0;
    for (int64_t n = 0; n < w->N; n++) {
        sc->n_start[n] = nnz;
        const float *row = dy + n * O * M;
        for (int64_t i = 0; i < O * M; i++) {
            if (row[i] == 0.0f) continue;
            if (nnz == st->sp_cap) return false;
            sc->e[nnz++] = (struct sp_entry){(int32_t)n, (int32_t)(i / M), (int32_t)(i % M), row[i]};
        }
    }
    sc->n_start[w->N] = nnz;
    *nnz_out = nnz;
    return true;
}

/* Input position of output position o through tap (kd, kh, kw) as a flat index, -1 when in padding. */
static int64_t sparse_in_pos(const struct win *w, int64_t o, int64_t kd, int64_t kh, int64_t kw) {
    int64_t ow = o % w->out[2], oh = (o / w->out[2]) % w->out[1], od = o / (w->out[2] * w->out[1]);
    int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0], ih = oh * w->s[1] - w->pb[1] + kh * w->d[1],
            iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
    if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] || iw < 0 || iw >= w->in[2]) return -1;
    return (id * w->in[1] + ih) * w->in[2] + iw;
}

static void sparse_grad_data(const struct convg_state *st, struct sp_scratch *sc, const float *wt_in, float *dx) {
    const struct win *w = &st->w;
    int64_t N = w->N, C = w->C, M = st->M, Cg = C / st->G, Mg = M / st->G, K = w->k[0] * w->k[1] * w->k[2], I = win_in_size(w);
    /* W [M, Cg, K] -> [M, K, Cg] */
#pragma omp parallel for if (M * Cg * K > PAR_MIN)
    for (int64_t m = 0; m < M; m++)
        for (int64_t cg = 0; cg < Cg; cg++)
            for (int64_t k = 0; k < K; k++) sc->wt[(m * K + k) * Cg + cg] = wt_in[(m * Cg + cg) * K + k];
    memset(dx, 0, (size_t)(N * I * C) * sizeof *dx);
#pragma omp parallel for schedule(dynamic, 1) if (sc->n_start[N] * K * Cg > PAR_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t q = sc->n_start[n]; q < sc->n_start[n + 1]; q++) {
            const struct sp_entry *e = &sc->e[q];
            int64_t g = e->m / Mg;
            for (int64_t kd = 0; kd < w->k[0]; kd++)
                for (int64_t kh = 0; kh < w->k[1]; kh++)
                    for (int64_t kw = 0; kw < w->k[2]; kw++) {
                        int64_t i = sparse_in_pos(w, e->o, kd, kh, kw);
                        if (i < 0) continue;
                        float *dst = dx + (n * I + i) * C + g * Cg, v = e->v;
                        const float *src = sc->wt + ((int64_t)e->m * K + (kd * w->k[1] + kh) * w->k[2] + kw) * Cg;
                        sp_axpy(dst, src, v, Cg);
                    }
        }
}

static void sparse_grad_weight(const struct convg_state *st, struct sp_scratch *sc, int64_t nnz, const float *x, float *dw, float *db) {
    const struct win *w = &st->w;
    int64_t C = w->C, M = st->M, Cg = C / st->G, Mg = M / st->G, K = w->k[0] * w->k[1] * w->k[2], I = win_in_size(w);
    /* entries grouped by channel (counting sort, stable) */
    for (int64_t m = 0; m <= M; m++) sc->m_start[m] = 0;
    for (int64_t q = 0; q < nnz; q++) sc->m_start[sc->e[q].m + 1]++;
    for (int64_t m = 0; m < M; m++) sc->m_start[m + 1] += sc->m_start[m];
    for (int64_t q = 0; q < nnz; q++) sc->by_m[sc->m_start[sc->e[q].m]++] = (int32_t)q;
    for (int64_t m = M; m > 0; m--) sc->m_start[m] = sc->m_start[m - 1];
    sc->m_start[0] = 0;
#pragma omp parallel for schedule(dynamic, 4) if (nnz * K * Cg > PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        float *acc = sc->wt + m * K * Cg;
        memset(acc, 0, (size_t)(K * Cg) * sizeof *acc);
        int64_t g = m / Mg;
        double bsum = 0;
        for (int64_t j = sc->m_start[m]; j < sc->m_start[m + 1]; j++) {
            const struct sp_entry *e = &sc->e[sc->by_m[j]];
            bsum += e->v;
            for (int64_t kd = 0; kd < w->k[0]; kd++)
                for (int64_t kh = 0; kh < w->k[1]; kh++)
                    for (int64_t kw = 0; kw < w->k[2]; kw++) {
                        int64_t i = sparse_in_pos(w, e->o, kd, kh, kw);
                        if (i < 0) continue;
                        const float *src = x + ((int64_t)e->n * I + i) * C + g * Cg;
                        float *dst = acc + ((kd * w->k[1] + kh) * w->k[2] + kw) * Cg, v = e->v;
                        sp_axpy(dst, src, v, Cg);
                    }
        }
        for (int64_t cg = 0; cg < Cg; cg++)
            for (int64_t k = 0; k < K; k++) dw[(m * Cg + cg) * K + k] = acc[k * Cg + cg];
        if (db) db[m] = (float)bsum;
    }
}

static enum vm_status convg_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct convg_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    bool data = strcmp(s->op, "ConvGradData") == 0, cl = vm_rt_attr_int(s, "channels_last", 0) != 0;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0);
    const struct vm_rt_tensor *x = data ? vm_rt_out(c, s, 0) : vm_rt_in(c, s, 1);
    const struct vm_rt_tensor *w = data ? vm_rt_in(c, s, 1) : vm_rt_out(c, s, 0);
    enum vm_status e = win_load(s, x, dy, true, cl, &st->w, err);
    if (e) return e;
    st->M = w->dims[0];
    st->G = vm_rt_attr_int(s, "group", 1);
    st->bias = !data && vm_rt_out(c, s, 1) != NULL;
    if (st->G < 1 || st->M % st->G || st->w.C % st->G || w->dims[1] * st->G != st->w.C || dy->dims[cl ? dy->rank - 1 : 1] != st->M)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "weight channels do not match the input for group %lld", (long long)st->G);
    if (c->m->ref_kernels || dy->numel == 0 || x->numel == 0 || w->numel == 0) {
        bool work = dy->numel && x->numel && w->numel;
        if (cl && work && (e = scratch_alloc(&st->dys, dy->numel, err))) return e;
        if (cl && work && (e = scratch_alloc(&st->xs, x->numel, err))) return e;
        return VM_OK;
    }

    dnnl_memory_desc_t smd, wmd, wsel, bmd, dmd;
    VM_DNNL(act_md(&smd, x, cl), s, err);
    VM_DNNL(act_md(&dmd, dy, cl), s, err);
    VM_DNNL(conv_wmd(&wmd, w, st->G), s, err);
    wsel = wmd;
    if (cl) VM_DNNL(any_md(&wsel, &wmd), s, err);
    VM_DNNL(vm_dnnl_md(&bmd, 1, &st->M, VM_DTYPE_FLOAT), s, err);
    dnnl_dims_t strides, kernel, dil, pl, pr;
    win_dnnl(&st->w, strides, kernel, dil, pl, pr);
    dnnl_convolution_desc_t fd, bd;
    VM_DNNL(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &smd, &wsel,
                                                       st->bias ? &bmd : NULL, &dmd, strides, dil, pl, pr),
            s, err);
    if (data)
        VM_DNNL(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &smd, &wsel, &dmd, strides, dil, pl, pr), s,
                err);
    else
        VM_DNNL(dnnl_dilated_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &smd, &wsel, st->bias ? &bmd : NULL,
                                                                    &dmd, strides, dil, pl, pr),
                s, err);
    dnnl_primitive_desc_t fpd, bpd = NULL;
    VM_DNNL(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->engine, NULL), s, err);
    e = vm_dnnl_prim_build(c, s, &bd, fpd, NULL, &st->p, &bpd, err);
    dnnl_primitive_desc_destroy(fpd);
    if (e) return e;
    e = wreorder_init(c, s, &st->wr, &wmd, dnnl_primitive_desc_query_md(bpd, data ? dnnl_query_weights_md : dnnl_query_diff_weights_md, 0),
                      data, bpd, err);
    dnnl_primitive_desc_destroy(bpd);
    if (e) return e;
    if ((e = vm_dnnl_mem(c, s, &dmd, &st->dy, err))) return e;
    if (data) e = vm_dnnl_mem2(c, s, &wmd, &st->w_or_x, &smd, &st->out, err);
    else e = vm_dnnl_mem2(c, s, &smd, &st->w_or_x, &wmd, &st->out, err);
    if (e) return e;
    if (st->bias && (e = vm_dnnl_mem(c, s, &bmd, &st->db, err))) return e;
    if (cl) {
        st->sp_cap = dy->numel / SPARSE_DIV;
        size_t need = sparse_layout(st, NULL, NULL);
        if (need > c->scratch_need) c->scratch_need = need;
    }
    return VM_OK;
}

/* dX[n, c, i] = sum over m in c's group, kernel taps k with i = o*s - pb + k*d of dY[n, m, o] W[m, c', k]
 * (gathered per dX element: no races, double accumulation). Lifted 3-D geometry as conv_ref. */
static void conv_grad_data_ref(const struct convg_state *st, const float *dy, const float *wt, float *dx) {
    const struct win *w = &st->w;
    int64_t N = w->N, C = w->C, M = st->M, G = st->G, Cg = C / G, Mg = M / G;
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t KD = w->k[0], KH = w->k[1], KW = w->k[2];
    int64_t work = N * M * OD * OH * OW * Cg * KD * KH * KW;
    (void)work;
#pragma omp parallel for collapse(2) if (work > PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < C; c++) {
            int64_t g = c / Cg, cg = c % Cg;
            float *xo = dx + (n * C + c) * ID * IH * IW;
            for (int64_t id = 0; id < ID; id++)
                for (int64_t ih = 0; ih < IH; ih++)
                    for (int64_t iw = 0; iw < IW; iw++) {
                        double acc = 0;
                        for (int64_t m = g * Mg; m < (g + 1) * Mg; m++) {
                            const float *yc = dy + (n * M + m) * OD * OH * OW;
                            const float *wc = wt + (m * Cg + cg) * KD * KH * KW;
                            for (int64_t kd = 0; kd < KD; kd++) {
                                int64_t td = id + w->pb[0] - kd * w->d[0], od = td / w->s[0];
                                if (td < 0 || td % w->s[0] || od >= OD) continue;
                                for (int64_t kh = 0; kh < KH; kh++) {
                                    int64_t th = ih + w->pb[1] - kh * w->d[1], oh = th / w->s[1];
                                    if (th < 0 || th % w->s[1] || oh >= OH) continue;
                                    for (int64_t kw = 0; kw < KW; kw++) {
                                        int64_t tw = iw + w->pb[2] - kw * w->d[2], ow = tw / w->s[2];
                                        if (tw < 0 || tw % w->s[2] || ow >= OW) continue;
                                        acc += (double)yc[(od * OH + oh) * OW + ow] * wc[(kd * KH + kh) * KW + kw];
                                    }
                                }
                            }
                        }
                        xo[(id * IH + ih) * IW + iw] = (float)acc;
                    }
        }
    }
}

/* dW[m, c', k] = sum over n, o of dY[n, m, o] X[n, g*Cg + c', o*s - pb + k*d]; dB[m] = sum dY[n, m, :]. */
static void conv_grad_weight_ref(const struct convg_state *st, const float *dy, const float *x, float *dw, float *db) {
    const struct win *w = &st->w;
    int64_t N = w->N, C = w->C, M = st->M, G = st->G, Cg = C / G, Mg = M / G;
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t KD = w->k[0], KH = w->k[1], KW = w->k[2], osz = OD * OH * OW;
    int64_t work = N * M * osz * Cg * KD * KH * KW;
    (void)work;
#pragma omp parallel for collapse(2) if (work > PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        for (int64_t cg = 0; cg < Cg; cg++) {
            int64_t c = (m / Mg) * Cg + cg;
            for (int64_t kd = 0; kd < KD; kd++)
                for (int64_t kh = 0; kh < KH; kh++)
                    for (int64_t kw = 0; kw < KW; kw++) {
                        double acc = 0;
                        for (int64_t n = 0; n < N; n++) {
                            const float *yc = dy + (n * M + m) * osz, *xc = x + (n * C + c) * ID * IH * IW;
                            for (int64_t od = 0; od < OD; od++) {
                                int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                                if (id < 0 || id >= ID) continue;
                                for (int64_t oh = 0; oh < OH; oh++) {
                                    int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                                    if (ih < 0 || ih >= IH) continue;
                                    for (int64_t ow = 0; ow < OW; ow++) {
                                        int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                                        if (iw < 0 || iw >= IW) continue;
                                        acc += (double)yc[(od * OH + oh) * OW + ow] * xc[(id * IH + ih) * IW + iw];
                                    }
                                }
                            }
                        }
                        dw[((m * Cg + cg) * KD + kd) * KH * KW + kh * KW + kw] = (float)acc;
                    }
        }
    }
    if (!db) return;
    for (int64_t m = 0; m < M; m++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < osz; o++) acc += dy[(n * M + m) * osz + o];
        db[m] = (float)acc;
    }
}

static enum vm_status convg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct convg_state *st = state;
    bool data = strcmp(s->op, "ConvGradData") == 0;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *wx = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *out = vm_rt_out(c, s, 0), *db = vm_rt_out(c, s, 1);
    if (out->numel == 0) return VM_OK;
    if (!st->p.prim) {
        const struct win *w = &st->w;
        int64_t si = win_in_size(w), so = win_out_size(w);
        if (dy->numel == 0 || wx->numel == 0) {
            memset(out->data, 0, out->nbytes);
            if (db) memset(db->data, 0, db->nbytes);
        } else if (!w->cl) {
            if (data) conv_grad_data_ref(st, dy->data, wx->data, out->data);
            else conv_grad_weight_ref(st, dy->data, wx->data, out->data, db ? db->data : NULL);
        } else if (data) {
            nsc_to_ncs(dy->data, st->dys, w->N, so, st->M);
            conv_grad_data_ref(st, st->dys, wx->data, st->xs);
            ncs_to_nsc(st->xs, out->data, w->N, si, w->C);
        } else {
            nsc_to_ncs(dy->data, st->dys, w->N, so, st->M);
            nsc_to_ncs(wx->data, st->xs, w->N, si, w->C);
            conv_grad_weight_ref(st, st->dys, st->xs, out->data, db ? db->data : NULL);
        }
        return VM_OK;
    }
    if (st->sp_cap > 0) {
        struct sp_scratch sc;
        int64_t nnz;
        sparse_layout(st, c->scratch, &sc);
        if (sparse_collect(st, dy->data, &sc, &nnz)) {
            if (data) sparse_grad_data(st, &sc, wx->data, out->data);
            else sparse_grad_weight(st, &sc, nnz, wx->data, out->data, db ? db->data : NULL);
            return VM_OK;
        }
    }
    enum vm_status e;
    set_handle(st->dy, dy->data);
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_DIFF_DST, st->dy}};
    int na = 1;
    if (data) {
        dnnl_memory_t wei = st->w_or_x;
        if (st->wr.prim) {
            if ((e = wreorder_run(c, s, &st->wr, wx->data, true, err))) return e;
            wei = st->wr.blocked;
        } else {
            set_handle(st->w_or_x, wx->data);
        }
        set_handle(st->out, out->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wei};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, st->out};
        return vm_dnnl_prim_exec(c, s, &st->p, na, args, err);
    }
    set_handle(st->w_or_x, wx->data);
    set_handle(st->out, out->data);
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, st->w_or_x};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, st->wr.prim ? wreorder_blocked(c, &st->wr) : st->out};
    if (st->bias) {
        set_handle(st->db, db->data);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, st->db};
    }
    if ((e = vm_dnnl_prim_exec(c, s, &st->p, na, args, err))) return e;
    return st->wr.prim ? wreorder_run(c, s, &st->wr, out->data, false, err) : VM_OK;
}

/* ---------------- MaxPoolGrad, AveragePoolGrad ---------------- */

/* MaxPoolGrad(dY, X) -> dX routes each dY to the first maximum of its window, recomputed from X
 * (the comparison is exact, so it is the element the forward picked, oneDNN or C). This is a C
 * kernel in both modes: oneDNN's max-pooling backward wants the forward's workspace, which would
 * have to be an extra forward output kept alive until backward, and on plain layouts its
 * implementation is the simple_nchw loop anyway.
 * AveragePoolGrad(dY, shape(X)) -> dX spreads dY / count over the window: oneDNN pooling backward
 * where the forward would use oneDNN too, else the C loop with the forward's divisor rule. */
struct poolg_state {
    struct win w;
    enum pool_kind kind;
    struct vm_dnnl_prim p; /* p.prim NULL: C */
    dnnl_memory_t dy, dx;
};

static void poolg_release(void *p) {
    struct poolg_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->dy);
    mem_destroy(&st->dx);
    free(st);
}

static enum vm_status poolg_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct poolg_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    bool maxp = strcmp(s->op, "MaxPoolGrad") == 0;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *dx = vm_rt_out(c, s, 0);
    enum vm_status e = win_load(s, dx, dy, maxp, false, &st->w, err);
    if (e) return e;
    st->kind = maxp ? POOL_MAX : vm_rt_attr_int(s, "count_include_pad", 0) ? POOL_AVG_INCL : POOL_AVG_EXCL;
    if (maxp || c->m->ref_kernels || dy->numel == 0 || dx->numel == 0) return VM_OK;
    for (int i = 0; i < SP; i++) {
        int64_t pr = win_dnnl_pr(&st->w, i), dk = win_dk(&st->w, i);
        if (st->kind == POOL_AVG_INCL && pr > st->w.pe[i]) return VM_OK;
        if (st->kind == POOL_AVG_EXCL && (st->w.pb[i] >= dk || pr >= dk)) return VM_OK;
    }
    dnnl_memory_desc_t smd, dmd;
    VM_DNNL(vm_dnnl_md(&smd, dx->rank, dx->dims, VM_DTYPE_FLOAT), s, err);
    VM_DNNL(vm_dnnl_md(&dmd, dy->rank, dy->dims, VM_DTYPE_FLOAT), s, err);
    dnnl_dims_t strides, kernel, dil, pl, pr;
    win_dnnl(&st->w, strides, kernel, dil, pl, pr);
    dnnl_alg_kind_t alg = st->kind == POOL_AVG_INCL ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t fd, bd;
    VM_DNNL(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training, alg, &smd, &dmd, strides, kernel, dil, pl, pr), s, err);
    VM_DNNL(dnnl_pooling_v2_backward_desc_init(&bd, alg, &smd, &dmd, strides, kernel, dil, pl, pr), s, err);
    dnnl_primitive_desc_t fpd;
    VM_DNNL(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->engine, NULL), s, err);
    e = vm_dnnl_prim_build(c, s, &bd, fpd, NULL, &st->p, NULL, err);
    dnnl_primitive_desc_destroy(fpd);
    return e ? e : vm_dnnl_mem2(c, s, &dmd, &st->dy, &smd, &st->dx, err);
}

/* Lifted 3-D geometry as pool_max_ref / pool_avg_ref; one (n, c) plane per iteration, so the
 * scatter into dX has no races. x is NULL for average pooling. */
static void pool_grad_ref(const struct poolg_state *st, const float *dy, const float *x, float *dx) {
    const struct win *w = &st->w;
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t NC = w->N * w->C, isz = ID * IH * IW, osz = OD * OH * OW;
    bool incl = st->kind == POOL_AVG_INCL;
#pragma omp parallel for if (NC * (isz + osz) > PAR_MIN)
    for (int64_t nc = 0; nc < NC; nc++) {
        float *dxc = dx + nc * isz;
        const float *dyc = dy + nc * osz;
        memset(dxc, 0, (size_t)isz * sizeof *dxc);
        for (int64_t od = 0; od < OD; od++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    float g = dyc[(od * OH + oh) * OW + ow];
                    if (st->kind == POOL_MAX) {
                        const float *xc = x + nc * isz;
                        float best = -FLT_MAX;
                        int64_t bi = -1;
                        for (int64_t kd = 0; kd < w->k[0]; kd++) {
                            int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                            if (id < 0 || id >= ID) continue;
                            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                                int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                                if (ih < 0 || ih >= IH) continue;
                                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                                    int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                                    if (iw < 0 || iw >= IW) continue;
                                    int64_t i = (id * IH + ih) * IW + iw;
                                    if (bi < 0 || xc[i] > best) {
                                        best = xc[i];
                                        bi = i;
                                    }
                                }
                            }
                        }
                        if (bi >= 0) dxc[bi] += g;
                        continue;
                    }
                    int64_t o3[SP] = {od, oh, ow}, lo[SP], hi[SP], cnt = 1;
                    for (int i = 0; i < SP; i++) {
                        int64_t a = o3[i] * w->s[i] - w->pb[i], b = a + w->k[i];
                        if (incl) {
                            int64_t bend = b < w->in[i] + w->pe[i] ? b : w->in[i] + w->pe[i];
                            cnt *= bend - a;
                        }
                        lo[i] = a < 0 ? 0 : a;
                        hi[i] = b > w->in[i] ? w->in[i] : b;
                        if (!incl) cnt *= hi[i] > lo[i] ? hi[i] - lo[i] : 0;
                    }
                    if (cnt <= 0) continue;
                    float v = (float)((double)g / (double)cnt);
                    for (int64_t id = lo[0]; id < hi[0]; id++)
                        for (int64_t ih = lo[1]; ih < hi[1]; ih++)
                            for (int64_t iw = lo[2]; iw < hi[2]; iw++) dxc[(id * IH + ih) * IW + iw] += v;
                }
    }
}

static enum vm_status poolg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct poolg_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *x = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    if (dx->numel == 0) return VM_OK;
    if (st->p.prim) {
        set_handle(st->dy, dy->data);
        set_handle(st->dx, dx->data);
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, st->dy}, {DNNL_ARG_DIFF_SRC, st->dx}};
        return vm_dnnl_prim_exec(c, s, &st->p, 2, args, err);
    }
    if (dy->numel == 0) {
        memset(dx->data, 0, dx->nbytes);
        return VM_OK;
    }
    pool_grad_ref(st, dy->data, st->kind == POOL_MAX ? x->data : NULL, dx->data);
    return VM_OK;
}

/* ---------------- GlobalMaxPoolGrad, GlobalAveragePoolGrad ---------------- */

/* GlobalMaxPoolGrad(dY, X): dY of each (n, c) row goes to the row's first maximum (the forward's
 * comparison is exact). GlobalAveragePoolGrad(dY, shape(X)): dY / len to every element. C only:
 * one pass over dX. */
static enum vm_status global_poolg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)state;
    (void)err;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *x = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    bool maxp = strcmp(s->op, "GlobalMaxPoolGrad") == 0;
    int64_t rows = dy->numel, len = rows ? dx->numel / rows : 0;
    const float *g = dy->data, *px = maxp ? x->data : NULL;
    float *pd = dx->data;
#pragma omp parallel for if (dx->numel > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *d = pd + r * len;
        if (maxp) {
            const float *row = px + r * len;
            int64_t bi = 0;
            for (int64_t i = 1; i < len; i++)
                if (row[i] > row[bi]) bi = i;
            memset(d, 0, (size_t)len * sizeof *d);
            if (len) d[bi] = g[r];
        } else {
            float v = (float)((double)g[r] / (double)len);
            for (int64_t i = 0; i < len; i++) d[i] = v;
        }
    }
    return VM_OK;
}

/* ---------------- SoftmaxGrad ---------------- */

/* SoftmaxGrad(dY, Y) with the forward's axis / coerce_2d and log = LogSoftmax:
 *   softmax:     dX = Y * (dY - sum(dY * Y)),   log-softmax: dX = dY - exp(Y) * sum(dY),
 * sums along the softmax axis; oneDNN softmax_v2 backward (accurate / log) with the forward
 * training descriptor as hint. */
struct softmaxg_state {
    int64_t outer, len, inner;
    bool log;
    struct vm_dnnl_prim p;
    dnnl_memory_t dy, y, dx;
};

static void softmaxg_release(void *p) {
    struct softmaxg_state *st = p;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->p);
    mem_destroy(&st->dy);
    mem_destroy(&st->y);
    mem_destroy(&st->dx);
    free(st);
}

static enum vm_status softmaxg_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct softmaxg_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *y = vm_rt_in(c, s, 1);
    int64_t axis = vm_rt_attr_int(s, "axis", -1);
    if (axis < 0 || axis >= y->rank) return vm_rt_step_errorf(s, err, VM_EFORMAT, "axis %lld (the plan was not normalized)", (long long)axis);
    bool coerce = vm_rt_attr_int(s, "coerce_2d", 0) != 0;
    st->log = vm_rt_attr_int(s, "log", 0) != 0;
    st->outer = st->len = st->inner = 1;
    for (int i = 0; i < y->rank; i++) {
        if (i < axis) st->outer *= y->dims[i];
        else if (i == axis || coerce) st->len *= y->dims[i];
        else st->inner *= y->dims[i];
    }
    if (c->m->ref_kernels || y->numel == 0) return VM_OK;
    int64_t d3[3] = {st->outer, st->len, st->inner};
    dnnl_memory_desc_t md;
    VM_DNNL(vm_dnnl_md(&md, 3, d3, VM_DTYPE_FLOAT), s, err);
    dnnl_alg_kind_t alg = st->log ? dnnl_softmax_log : dnnl_softmax_accurate;
    dnnl_softmax_v2_desc_t fd, bd;
    VM_DNNL(dnnl_softmax_v2_forward_desc_init(&fd, dnnl_forward_training, alg, &md, &md, 1), s, err);
    VM_DNNL(dnnl_softmax_v2_backward_desc_init(&bd, alg, &md, &md, &md, 1), s, err);
    dnnl_primitive_desc_t fpd;
    VM_DNNL(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->engine, NULL), s, err);
    enum vm_status e = vm_dnnl_prim_build(c, s, &bd, fpd, NULL, &st->p, NULL, err);
    dnnl_primitive_desc_destroy(fpd);
    if (e || (e = vm_dnnl_mem2(c, s, &md, &st->dy, &md, &st->y, err))) return e;
    return vm_dnnl_mem(c, s, &md, &st->dx, err);
}

static void softmax_grad_ref(const struct softmaxg_state *st, const float *dy, const float *y, float *dx) {
    int64_t L = st->len, in = st->inner;
#pragma omp parallel for collapse(2) if (st->outer * L * in > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++)
        for (int64_t i = 0; i < in; i++) {
            int64_t base = o * L * in + i;
            const float *g = dy + base, *yr = y + base;
            float *d = dx + base;
            double sum = 0;
            for (int64_t l = 0; l < L; l++) sum += st->log ? (double)g[l * in] : (double)g[l * in] * yr[l * in];
            for (int64_t l = 0; l < L; l++)
                d[l * in] = st->log ? (float)(g[l * in] - exp((double)yr[l * in]) * sum) : (float)(yr[l * in] * (g[l * in] - sum));
        }
}

static enum vm_status softmaxg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct softmaxg_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *y = vm_rt_in(c, s, 1);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0);
    if (dx->numel == 0) return VM_OK;
    if (!st->p.prim) {
        softmax_grad_ref(st, dy->data, y->data, dx->data);
        return VM_OK;
    }
    set_handle(st->dy, dy->data);
    set_handle(st->y, y->data);
    set_handle(st->dx, dx->data);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_DIFF_DST, st->dy}, {DNNL_ARG_DST, st->y}, {DNNL_ARG_DIFF_SRC, st->dx}};
    return vm_dnnl_prim_exec(c, s, &st->p, 3, args, err);
}

/* ---------------- LayerNormGrad ---------------- */

/* LayerNormGrad(dY, X, Scale) -> dX, dScale [, dB] over rows of X viewed as (outer, L). Mean and
 * variance are recomputed from X (one pass per row, cheaper than keeping them alive from the
 * forward):
 *   xh = (x - mu) * inv, g = dY * scale,
 *   dX = inv * (g - mean(g) - xh * mean(g * xh)), dScale = sum_rows dY * xh, dB = sum_rows dY.
 * Two C kernels: layernorm_grad_fast (vectorized, float) and layernorm_grad_ref (double,
 * --reference-kernels). oneDNN 2.6 runs layer normalization, forward and backward, with its generic
 * C++ kernel built for the baseline ISA (simple_layer_normalization); these took BERT-mini's nine
 * LayerNormGrads and five LayerNormalizations per step from 1.3 + 0.6 ms to 0.7 + 0.4 ms. */
#define LNG_BLOCKS 8 /* row blocks of layernorm_grad_fast's column sums */
struct layernormg_state {
    int64_t outer, len;
    float eps;
    float *mean, *var; /* the reference's statistics: outer floats each */
    float *part;       /* layernorm_grad_fast's column sums: LNG_BLOCKS x 2 x len; NULL: the reference */
};

static void layernormg_release(void *p) {
    struct layernormg_state *st = p;
    if (!st) return;
    free(st->mean);
    free(st->var);
    free(st->part);
    free(st);
}

static enum vm_status layernormg_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct layernormg_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, 1);
    int64_t axis = vm_rt_attr_int(s, "axis", -1);
    if (axis < 0 || axis >= x->rank) return vm_rt_step_errorf(s, err, VM_EFORMAT, "axis %lld (the plan was not normalized)", (long long)axis);
    st->eps = (float)vm_rt_attr_float(s, "epsilon", 1e-5);
    st->outer = st->len = 1;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis) st->outer *= x->dims[i];
        else st->len *= x->dims[i];
    }
    if (!c->m->ref_kernels) {
        st->part = vm_malloc((size_t)LNG_BLOCKS * 2 * (size_t)(st->len ? st->len : 1) * sizeof(float), err);
        return st->part ? VM_OK : VM_ENOMEM;
    }
    size_t nb = (size_t)(st->outer ? st->outer : 1) * sizeof(float);
    if (!(st->mean = vm_malloc(nb, err)) || !(st->var = vm_malloc(nb, err))) return VM_ENOMEM;
    return VM_OK;
}

static void layernorm_stats(const struct layernormg_state *st, const float *x) {
    int64_t L = st->len;
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) row_stats(x + o * L, L, &st->mean[o], &st->var[o]);
}

static void layernorm_grad_ref(const struct layernormg_state *st, const float *dy, const float *x, const float *w, float *dx, float *dw,
                               float *db) {
    int64_t L = st->len;
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) {
        const float *xr = x + o * L, *g = dy + o * L;
        float *d = dx + o * L;
        double inv = 1.0 / sqrt((double)st->var[o] + st->eps), mu = st->mean[o], mg = 0, mgx = 0;
        for (int64_t i = 0; i < L; i++) {
            double gi = (double)g[i] * w[i], xh = ((double)xr[i] - mu) * inv;
            mg += gi;
            mgx += gi * xh;
        }
        mg /= (double)L;
        mgx /= (double)L;
        for (int64_t i = 0; i < L; i++) {
            double xh = ((double)xr[i] - mu) * inv;
            d[i] = (float)(inv * ((double)g[i] * w[i] - mg - xh * mgx));
        }
    }
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t i = 0; i < L; i++) {
        double sw = 0, sb = 0;
        for (int64_t o = 0; o < st->outer; o++) {
            double inv = 1.0 / sqrt((double)st->var[o] + st->eps), g = dy[o * L + i];
            sw += g * ((double)x[o * L + i] - st->mean[o]) * inv;
            sb += g;
        }
        dw[i] = (float)sw;
        if (db) db[i] = (float)sb;
    }
}

/* One row of the backward (the formulas above, in float), compiled for AVX-512 and AVX2 besides
 * SSE2: dX's row, and the row's terms added to its block's column sums pw (dScale) and pb (dB). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void lng_row(const float *restrict xr, const float *restrict g,
                                                                                const float *restrict w, float mu, float is,
                                                                                float *restrict d, float *restrict pw,
                                                                                float *restrict pb, int64_t L) {
    float sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t i = 0; i < L; i++) {
        float gi = g[i] * w[i];
        sg += gi;
        sgx += gi * ((xr[i] - mu) * is);
    }
    float mg = sg / (float)L, mgx = sgx / (float)L;
#pragma omp simd
    for (int64_t i = 0; i < L; i++) {
        float xh = (xr[i] - mu) * is;
        d[i] = is * (g[i] * w[i] - mg - xh * mgx);
        pw[i] += g[i] * xh;
        pb[i] += g[i];
    }
}

/* The backward in C: rows in LNG_BLOCKS fixed blocks (in parallel), each block's column sums in
 * its own slice of st->part, added in block order at the end, so the bits do not depend on the
 * thread count. oneDNN 2.6's layer normalization backward is its generic C++ kernel (see
 * normalize_row). */
static void layernorm_grad_fast(const struct layernormg_state *st, const float *dy, const float *x, const float *w, float *dx, float *dw,
                                float *db) {
    int64_t L = st->len, rows = (st->outer + LNG_BLOCKS - 1) / LNG_BLOCKS;
    memset(st->part, 0, (size_t)LNG_BLOCKS * 2 * (size_t)L * sizeof(float));
#pragma omp parallel for if (st->outer * L > PAR_MIN)
    for (int64_t k = 0; k < LNG_BLOCKS; k++) {
        float *pw = st->part + k * 2 * L, *pb = pw + L;
        int64_t end = (k + 1) * rows < st->outer ? (k + 1) * rows : st->outer;
        for (int64_t o = k * rows; o < end; o++) {
            float mu, var;
            row_stats(x + o * L, L, &mu, &var);
            float is = (float)(1.0 / sqrt((double)var + st->eps));
            lng_row(x + o * L, dy + o * L, w, mu, is, dx + o * L, pw, pb, L);
        }
    }
    for (int64_t i = 0; i < L; i++) {
        double sw = 0, sb = 0;
        for (int64_t k = 0; k < LNG_BLOCKS; k++) {
            sw += st->part[k * 2 * L + i];
            sb += st->part[k * 2 * L + L + i];
        }
        dw[i] = (float)sw;
        if (db) db[i] = (float)sb;
    }
}

static enum vm_status layernormg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    (void)err;
    struct layernormg_state *st = state;
    const struct vm_rt_tensor *dy = vm_rt_in(c, s, 0), *x = vm_rt_in(c, s, 1), *w = vm_rt_in(c, s, 2);
    struct vm_rt_tensor *dx = vm_rt_out(c, s, 0), *dw = vm_rt_out(c, s, 1), *db = vm_rt_out(c, s, 2);
    if (x->numel == 0) {
        memset(dw->data, 0, dw->nbytes);
        if (db) memset(db->data, 0, db->nbytes);
        return VM_OK;
    }
    if (st->part) {
        layernorm_grad_fast(st, dy->data, x->data, w->data, dx->data, dw->data, db ? db->data : NULL);
    } else {
        layernorm_stats(st, x->data);
        layernorm_grad_ref(st, dy->data, x->data, w->data, dx->data, dw->data, db ? db->data : NULL);
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_nn[] = {
    {"Conv", 2, 3, 1, 1, 0, conv_prepare, conv_run, conv_release},
    {"ConvCL", 2, 3, 1, 1, 0, conv_prepare, conv_run, conv_release},
    {"MaxPool", 1, 1, 1, 2, 0, pool_prepare, pool_run, pool_release},
    {"AveragePool", 1, 1, 1, 1, 0, pool_prepare, pool_run, pool_release},
    {"GlobalMaxPool", 1, 1, 1, 1, 0, NULL, global_pool_run, NULL},
    {"GlobalAveragePool", 1, 1, 1, 1, 0, NULL, global_pool_run, NULL},
    {"BatchNormalization", 5, 5, 1, 1, 0, NULL, batchnorm_run, NULL},
    {"Gemm", 2, 3, 1, 1, 0, gemm_prepare, gemm_run, gemm_release},
    {"MatMul", 2, 2, 1, 1, 0, matmul_prepare, matmul_run, matmul_release},
    {"Softmax", 1, 1, 1, 1, 0, softmax_prepare, softmax_run, softmax_release},
    {"LogSoftmax", 1, 1, 1, 1, 0, softmax_prepare, softmax_run, softmax_release},
    {"LayerNormalization", 2, 3, 1, 3, 0, layernorm_prepare, layernorm_run, free},
    /* backward (autodiff) */
    {"MatMulT", 2, 5, 1, 1, 0, matmul_t_prepare, matmul_run, matmul_release},
    {"ConvGradData", 3, 3, 1, 1, 0, convg_prepare, convg_run, convg_release},
    {"ConvGradWeight", 3, 3, 1, 2, 0, convg_prepare, convg_run, convg_release},
    {"MaxPoolGrad", 2, 2, 1, 1, 0, poolg_prepare, poolg_run, poolg_release},
    {"AveragePoolGrad", 2, 2, 1, 1, 0, poolg_prepare, poolg_run, poolg_release},
    {"GlobalMaxPoolGrad", 2, 2, 1, 1, 0, NULL, global_poolg_run, NULL},
    {"GlobalAveragePoolGrad", 2, 2, 1, 1, 0, NULL, global_poolg_run, NULL},
    {"SoftmaxGrad", 2, 2, 1, 1, 0, softmaxg_prepare, softmaxg_run, softmaxg_release},
    {"LayerNormGrad", 3, 3, 2, 3, 0, layernormg_prepare, layernormg_run, layernormg_release},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
