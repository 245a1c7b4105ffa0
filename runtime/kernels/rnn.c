/* rnn kernels: ONNX LSTM on oneDNN's vanilla_lstm primitive, with a naive C reference beside it.
 *
 * Legend: T tokens (sequence), B batch, I input size, H hidden, D directions (1 or 2), G = 4 gates.
 *
 * ONNX vs oneDNN (2.6):
 *  - gates: ONNX stores W [D,4H,I], R [D,4H,H], B [D,8H] in gate order i,o,f,c; oneDNN wants
 *    weights ldigo [1,D,I,G,H] / [1,D,H,G,H] in order i,f,c,o and one bias [1,D,G,H] = Wb + Rb.
 *    Peepholes: ONNX P [D,3H] is i,o,f; oneDNN's ldgo [1,D,3,H] is i,f,o. Weights are parameters
 *    the optimizer updates in place, so the permutation runs at every call, as a C loop into
 *    buffers this kernel owns (~0.1 ms at I=300, H=100, about 2% of the primitive).
 *  - states: src_iter/src_iter_c always get a buffer (zeros when initial_h/c are absent), never
 *    NULL — oneDNN 2.6.3's LSTM backward is wrong with a NULL src_iter (toolchain.md §3).
 *  - layout 0: X [T,B,I] is `tnc`; Y [T,D,B,H] is dst_layer `tnc` [T,B,D*H] for D=1 and needs a
 *    transposing copy for D=2; Y_h/Y_c [D,B,H] are dst_iter `ldnc`.
 *    layout 1: X [B,T,I] is `ntc`; Y [B,T,D,H] is dst_layer `ntc` [T,B,D*H] exactly; initial
 *    states and Y_h/Y_c [B,D,H] are described to oneDNN with strides (no copies).
 *  - prop kind: forward_inference when the plan has no backward phase (about 8% faster and no
 *    workspace), else forward_training, whose workspace the backward primitive will need.
 * sequence_lens, when given, must equal T in every row: checked at each run.
 * prepare() allocates every buffer; run() allocates nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

enum { LSTM_X, LSTM_W, LSTM_R, LSTM_B, LSTM_SEQ, LSTM_H0, LSTM_C0, LSTM_P };

#define LSTM_PAR_MIN 32768 /* elements below which OpenMP is not worth its overhead */

/* oneDNN gate index for each ONNX gate (i,o,f,c -> i,f,c,o) and for each ONNX peephole (i,o,f). */
static const int gate_to_dnnl[4] = {0, 3, 1, 2};
static const int peep_to_dnnl[3] = {0, 2, 1};

struct lstm_state {
    bool ref;            /* naive C path (ref_kernels, or empty sizes) */
    int64_t T, B, I, H, D;
    int layout;          /* 0: [T,B,..], 1: [B,T,..] */
    int direction;       /* 0 forward, 1 reverse, 2 bidirectional */
    /* oneDNN path */
    struct vm_dnnl_prim prim;
    dnnl_memory_t m_src_layer, m_src_iter, m_src_iter_c, m_wl, m_wi, m_wp, m_bias;
    dnnl_memory_t m_dst_layer, m_dst_iter, m_dst_iter_c, m_ws;
    bool has_iter_out;   /* dst_iter/dst_iter_c described (some of Y_h, Y_c is used) */
    bool y_transpose;    /* layout 0, D=2: dst_layer [T,B,2H] -> Y [T,2,B,H] */
    float *wl;           /* [1,D,I,G,H] ldigo, oneDNN gate order */
    float *wi;           /* [1,D,H,G,H] */
    float *bias;         /* [1,D,G,H] */
    float *peep;         /* [1,D,3,H] */
    float *zeros;        /* D*B*H zeros: initial states when absent */
    float *ybuf;         /* [T,B,D*H] when Y is absent or needs the transposing copy */
    float *hbuf, *cbuf;  /* D*B*H: dst_iter(_c) when only one of Y_h, Y_c is used */
    void *ws;            /* workspace (forward_training) */
    /* reference path */
    float *rh, *rc;      /* [B,H] running state of one direction */
    double *rg;          /* [4H] gate pre-activations of one row */
};

static void *lstm_alloc(size_t bytes, struct vm_error *err) {
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) {
        vm_errorf(err, VM_ENOMEM, "out of memory (%zu bytes for an LSTM buffer)", bytes);
        return NULL;
    }
    memset(p, 0, n ? n : 64);
    return p;
}

static void lstm_release(void *state) {
    struct lstm_state *st = state;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->prim);
    dnnl_memory_t mems[] = {st->m_src_layer, st->m_src_iter, st->m_src_iter_c, st->m_wl, st->m_wi, st->m_wp,
                            st->m_bias, st->m_dst_layer, st->m_dst_iter, st->m_dst_iter_c, st->m_ws};
    for (size_t k = 0; k < sizeof mems / sizeof mems[0]; k++)
        if (mems[k]) dnnl_memory_destroy(mems[k]);
    void *bufs[] = {st->wl, st->wi, st->bias, st->peep, st->zeros,
                    st->ybuf, st->hbuf, st->cbuf, st->ws, st->rh, st->rc, st->rg};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
    free(st);
}

/* ---------------- shape checks ---------------- */

static enum vm_status lstm_expect(const struct vm_rt_step *s, const struct vm_rt_tensor *t, const char *what,
                                  int rank, const int64_t *dims, struct vm_error *err) {
    bool ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++) ok = t->dims[d] == dims[d];
    if (ok) return VM_OK;
    char got[128] = "", want[128] = "";
    size_t pg = 0, pw = 0;
    for (int d = 0; d < t->rank && pg < sizeof got; d++)
        pg += (size_t)snprintf(got + pg, sizeof got - pg, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    for (int d = 0; d < rank && pw < sizeof want; d++)
        pw += (size_t)snprintf(want + pw, sizeof want - pw, "%s%lld", d ? "," : "", (long long)dims[d]);
    return vm_rt_step_errorf(s, err, VM_EINVAL, "%s has shape [%s], expected [%s]", what, got, want);
}

static enum vm_status lstm_check_shapes(struct vm_rt_ctx *c, const struct vm_rt_step *s, const struct lstm_state *st,
                                        struct vm_error *err) {
    const int64_t T = st->T, B = st->B, I = st->I, H = st->H, D = st->D;
    enum vm_status r;
    const int64_t w[3] = {D, 4 * H, I}, rr[3] = {D, 4 * H, H}, b[2] = {D, 8 * H}, p[2] = {D, 3 * H}, seq[1] = {B};
    const int64_t h0[3] = {st->layout ? B : D, st->layout ? D : B, H};
    const int64_t y[4] = {st->layout ? B : T, st->layout ? T : D, st->layout ? D : B, H};
    if ((r = lstm_expect(s, vm_rt_in(c, s, LSTM_W), "W", 3, w, err)) ||
        (r = lstm_expect(s, vm_rt_in(c, s, LSTM_R), "R", 3, rr, err)))
        return r;
    if (vm_rt_in(c, s, LSTM_B) && (r = lstm_expect(s, vm_rt_in(c, s, LSTM_B), "B", 2, b, err))) return r;
    if (vm_rt_in(c, s, LSTM_SEQ) && (r = lstm_expect(s, vm_rt_in(c, s, LSTM_SEQ), "sequence_lens", 1, seq, err)))
        return r;
    if (vm_rt_in(c, s, LSTM_H0) && (r = lstm_expect(s, vm_rt_in(c, s, LSTM_H0), "initial_h", 3, h0, err))) return r;
    if (vm_rt_in(c, s, LSTM_C0) && (r = lstm_expect(s, vm_rt_in(c, s, LSTM_C0), "initial_c", 3, h0, err))) return r;
    if (vm_rt_in(c, s, LSTM_P) && (r = lstm_expect(s, vm_rt_in(c, s, LSTM_P), "P", 2, p, err))) return r;
    if (vm_rt_out(c, s, 0) && (r = lstm_expect(s, vm_rt_out(c, s, 0), "Y", 4, y, err))) return r;
    if (vm_rt_out(c, s, 1) && (r = lstm_expect(s, vm_rt_out(c, s, 1), "Y_h", 3, h0, err))) return r;
    if (vm_rt_out(c, s, 2) && (r = lstm_expect(s, vm_rt_out(c, s, 2), "Y_c", 3, h0, err))) return r;
    for (int k = 0; k < s->n_in; k++) {
        const struct vm_rt_tensor *t = vm_rt_in(c, s, k);
        if (t && t->dtype != (k == LSTM_SEQ ? VM_DTYPE_INT32 : VM_DTYPE_FLOAT))
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "input %d has type %s", k, vm_dtype_name(t->dtype));
    }
    return VM_OK;
}

/* sequence_lens must be T for every batch row (the kernels have no per-row lengths). */
static enum vm_status lstm_check_seq(struct vm_rt_ctx *c, const struct vm_rt_step *s, const struct lstm_state *st,
                                     struct vm_error *err) {
    const struct vm_rt_tensor *sl = vm_rt_in(c, s, LSTM_SEQ);
    if (!sl) return VM_OK;
    const int32_t *len = sl->data;
    for (int64_t b = 0; b < st->B; b++)
        if (len[b] != st->T)
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED,
                                     "sequence_lens[%lld] is %d but the sequence length is %lld; vmaskc supports only "
                                     "sequence_lens equal to the sequence length for every batch row",
                                     (long long)b, (int)len[b], (long long)st->T);
    return VM_OK;
}

/* ---------------- naive C reference (ONNX semantics, double accumulation) ---------------- */

static inline double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static void lstm_ref(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lstm_state *st) {
    const int64_t T = st->T, B = st->B, I = st->I, H = st->H, D = st->D;
    const float *X = vm_rt_in(c, s, LSTM_X)->data, *W = vm_rt_in(c, s, LSTM_W)->data;
    const float *R = vm_rt_in(c, s, LSTM_R)->data;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LSTM_B), *th = vm_rt_in(c, s, LSTM_H0);
    const struct vm_rt_tensor *tc = vm_rt_in(c, s, LSTM_C0), *tp = vm_rt_in(c, s, LSTM_P);
    struct vm_rt_tensor *ty = vm_rt_out(c, s, 0), *tyh = vm_rt_out(c, s, 1), *tyc = vm_rt_out(c, s, 2);
    const float *Bias = tb ? tb->data : NULL, *H0 = th ? th->data : NULL, *C0 = tc ? tc->data : NULL;
    const float *P = tp ? tp->data : NULL;
    float *Y = ty ? ty->data : NULL, *YH = tyh ? tyh->data : NULL, *YC = tyc ? tyc->data : NULL;
    float *h = st->rh, *cs = st->rc;
    double *g = st->rg;
    for (int64_t d = 0; d < D; d++) {
        bool reverse = st->direction == 1 || d == 1;
        const float *Wd = W + d * 4 * H * I, *Rd = R + d * 4 * H * H;
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (st->layout ? b * D + d : d * B + b) * H + j; /* [D,B,H] or [B,D,H] */
                h[b * H + j] = H0 ? H0[si] : 0.0f;
                cs[b * H + j] = C0 ? C0[si] : 0.0f;
            }
        for (int64_t step = 0; step < T; step++) {
            int64_t t = reverse ? T - 1 - step : step;
            for (int64_t b = 0; b < B; b++) {
                const float *x = X + (st->layout ? b * T + t : t * B + b) * I;
                float *hb = h + b * H, *cb = cs + b * H;
                for (int64_t row = 0; row < 4 * H; row++) {
                    double acc = Bias ? (double)Bias[d * 8 * H + row] + Bias[d * 8 * H + 4 * H + row] : 0.0;
                    for (int64_t k = 0; k < I; k++) acc += (double)Wd[row * I + k] * x[k];
                    for (int64_t k = 0; k < H; k++) acc += (double)Rd[row * H + k] * hb[k];
                    g[row] = acc;
                }
                for (int64_t j = 0; j < H; j++) {
                    double pi = P ? P[d * 3 * H + j] : 0, po = P ? P[d * 3 * H + H + j] : 0;
                    double pf = P ? P[d * 3 * H + 2 * H + j] : 0, cprev = cb[j];
                    double gi = sigm(g[j] + pi * cprev);
                    double gf = sigm(g[2 * H + j] + pf * cprev);
                    double gc = tanh(g[3 * H + j]);
                    double cn = gf * cprev + gi * gc;
                    double go = sigm(g[H + j] + po * cn);
                    cb[j] = (float)cn;
                    hb[j] = (float)(go * tanh(cn));
                }
                if (Y) {
                    float *y = Y + (st->layout ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
                    memcpy(y, hb, (size_t)H * sizeof *y);
                }
            }
        }
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (st->layout ? b * D + d : d * B + b) * H + j;
                if (YH) YH[si] = h[b * H + j];
                if (YC) YC[si] = cs[b * H + j];
            }
    }
}

/* ---------------- oneDNN path ---------------- */

/* [1,D,N,H]: ldnc for layout 0; for layout 1 the user's [N,D,H] buffer through strides. */
static dnnl_status_t lstm_state_md(dnnl_memory_desc_t *md, const struct lstm_state *st) {
    dnnl_dims_t dims = {1, st->D, st->B, st->H};
    if (!st->layout) return dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_ldnc);
    dnnl_dims_t strides = {st->D * st->B * st->H, st->H, st->D * st->H, 1};
    return dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

static enum vm_status lstm_prepare_dnnl(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lstm_state *st,
                                        struct vm_error *err) {
    const int64_t T = st->T, B = st->B, I = st->I, H = st->H, D = st->D;
    const bool has_y = vm_rt_out(c, s, 0) != NULL, has_yh = vm_rt_out(c, s, 1) != NULL;
    const bool has_yc = vm_rt_out(c, s, 2) != NULL;
    const bool training = vm_rt_has_training(c->m);
    st->has_iter_out = has_yh || has_yc;
    st->y_transpose = !st->layout && D == 2;

    dnnl_memory_desc_t src_layer, dst_layer, state, wl, wi, wp, bias;
    dnnl_dims_t dsrc = {T, B, I}, ddst = {T, B, D * H};
    dnnl_format_tag_t seq_tag = st->layout ? dnnl_ntc : dnnl_tnc;
    VM_DNNL(dnnl_memory_desc_init_by_tag(&src_layer, 3, dsrc, dnnl_f32, seq_tag), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&dst_layer, 3, ddst, dnnl_f32, seq_tag), s, err);
    VM_DNNL(lstm_state_md(&state, st), s, err);
    dnnl_dims_t dwl = {1, D, I, 4, H}, dwi = {1, D, H, 4, H}, dwp = {1, D, 3, H}, db = {1, D, 4, H};
    /* Plain ldigo, not `any`: with `any`, forward_inference picks the brgemm implementation with
     * blocked weights (abdEc32e), which measured ~20% slower here than the gemm-based `ref`
     * implementation on ldigo (T=N=50, I=300, H=100: 5.5 vs 4.5 ms on 2 threads, 9.4 vs 8.4 ms on
     * 1), before counting the extra reorder per run. */
    VM_DNNL(dnnl_memory_desc_init_by_tag(&wl, 5, dwl, dnnl_f32, dnnl_ldigo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&wi, 5, dwi, dnnl_f32, dnnl_ldigo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&wp, 4, dwp, dnnl_f32, dnnl_ldgo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&bias, 4, db, dnnl_f32, dnnl_ldgo), s, err);
    const bool peephole = vm_rt_in(c, s, LSTM_P) != NULL;
    dnnl_rnn_direction_t dir = st->direction == 2   ? dnnl_bidirectional_concat
                               : st->direction == 1 ? dnnl_unidirectional_right2left
                                                    : dnnl_unidirectional_left2right;
    dnnl_rnn_desc_t rd;
    VM_DNNL(dnnl_lstm_forward_desc_init_v2(&rd, training ? dnnl_forward_training : dnnl_forward_inference, dir,
                                           &src_layer, &state, &state, &wl, &wi, peephole ? &wp : NULL,
                                           &bias, &dst_layer, st->has_iter_out ? &state : NULL,
                                           st->has_iter_out ? &state : NULL, 0),
            s, err);
    dnnl_primitive_desc_t pd = NULL;
    enum vm_status r = vm_dnnl_prim_build(c, s, &rd, NULL, NULL, &st->prim, &pd, err);
    if (r) return r;
    const dnnl_memory_desc_t *ws_md = dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0);
    size_t ws_bytes = ws_md ? dnnl_memory_desc_get_size(ws_md) : 0;
    if (ws_bytes) {
        st->ws = lstm_alloc(ws_bytes, err);
        dnnl_status_t ds = st->ws ? dnnl_memory_create(&st->m_ws, ws_md, c->engine, st->ws) : dnnl_success;
        if (!st->ws || ds != dnnl_success) {
            dnnl_primitive_desc_destroy(pd);
            return st->ws ? vm_dnnl_status(ds, "dnnl_memory_create(workspace)", s, err) : VM_ENOMEM;
        }
    }
    dnnl_primitive_desc_destroy(pd);

    /* buffers this state owns; the user tensors' memories get their handles at each run */
    const size_t state_bytes = (size_t)(D * B * H) * sizeof(float);
    if (!(st->wl = lstm_alloc((size_t)(D * I * 4 * H) * sizeof(float), err)) ||
        !(st->wi = lstm_alloc((size_t)(D * H * 4 * H) * sizeof(float), err)) ||
        !(st->bias = lstm_alloc((size_t)(D * 4 * H) * sizeof(float), err)) ||
        !(st->zeros = lstm_alloc(state_bytes, err)))
        return VM_ENOMEM;
    if (peephole && !(st->peep = lstm_alloc((size_t)(D * 3 * H) * sizeof(float), err))) return VM_ENOMEM;
    if ((!has_y || st->y_transpose) && !(st->ybuf = lstm_alloc((size_t)(T * B * D * H) * sizeof(float), err)))
        return VM_ENOMEM;
    if (st->has_iter_out && !has_yh && !(st->hbuf = lstm_alloc(state_bytes, err))) return VM_ENOMEM;
    if (st->has_iter_out && !has_yc && !(st->cbuf = lstm_alloc(state_bytes, err))) return VM_ENOMEM;
    VM_DNNL(dnnl_memory_create(&st->m_wl, &wl, c->engine, st->wl), s, err);
    VM_DNNL(dnnl_memory_create(&st->m_wi, &wi, c->engine, st->wi), s, err);
    VM_DNNL(dnnl_memory_create(&st->m_bias, &bias, c->engine, st->bias), s, err);
    if (peephole) VM_DNNL(dnnl_memory_create(&st->m_wp, &wp, c->engine, st->peep), s, err);
    if ((r = vm_dnnl_mem2(c, s, &src_layer, &st->m_src_layer, &dst_layer, &st->m_dst_layer, err)) ||
        (r = vm_dnnl_mem2(c, s, &state, &st->m_src_iter, &state, &st->m_src_iter_c, err)))
        return r;
    if (st->has_iter_out && (r = vm_dnnl_mem2(c, s, &state, &st->m_dst_iter, &state, &st->m_dst_iter_c, err)))
        return r;
    return VM_OK;
}

static enum vm_status lstm_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                   struct vm_error *err) {
    struct lstm_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *x = vm_rt_in(c, s, LSTM_X);
    const char *dir = vm_rt_attr_string(s, "direction", "forward");
    st->direction = !strcmp(dir, "bidirectional") ? 2 : !strcmp(dir, "reverse") ? 1 : 0;
    if (st->direction == 0 && strcmp(dir, "forward") != 0)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "direction '%s'", dir);
    st->layout = (int)vm_rt_attr_int(s, "layout", 0);
    st->D = st->direction == 2 ? 2 : 1;
    st->H = vm_rt_attr_int(s, "hidden_size", 0);
    if (x->rank != 3 || st->H < 1 || (st->layout != 0 && st->layout != 1))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "X rank %d, hidden_size %lld, layout %d", x->rank,
                                 (long long)st->H, st->layout);
    st->T = x->dims[st->layout ? 1 : 0];
    st->B = x->dims[st->layout ? 0 : 1];
    st->I = x->dims[2];
    enum vm_status r = lstm_check_shapes(c, s, st, err);
    if (r) return r;
    st->ref = c->m->ref_kernels || st->T == 0 || st->B == 0 || st->I == 0;
    if (!st->ref) return lstm_prepare_dnnl(c, s, st, err);
    if (!(st->rh = lstm_alloc((size_t)(st->B * st->H) * sizeof(float), err)) ||
        !(st->rc = lstm_alloc((size_t)(st->B * st->H) * sizeof(float), err)) ||
        !(st->rg = lstm_alloc((size_t)(4 * st->H) * sizeof(double), err)))
        return VM_ENOMEM;
    return VM_OK;
}

/* ONNX W [D,4H,K] (gates i,o,f,c) -> ldigo [1,D,K,4,H] (gates i,f,c,o). */
static void lstm_permute_weights(const float *src, float *dst, int64_t D, int64_t K, int64_t H) {
    const int64_t n = D * K;
#pragma omp parallel for if (n * 4 * H > LSTM_PAR_MIN)
    for (int64_t dk = 0; dk < n; dk++) {
        int64_t d = dk / K, k = dk % K;
        float *o = dst + dk * 4 * H;
        for (int g = 0; g < 4; g++) {
            const float *in = src + (d * 4 + g) * H * K + k;
            float *og = o + gate_to_dnnl[g] * H;
            for (int64_t h = 0; h < H; h++) og[h] = in[h * K];
        }
    }
}

static enum vm_status lstm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct lstm_state *st = state;
    enum vm_status r = lstm_check_seq(c, s, st, err);
    if (r) return r;
    if (st->ref) {
        lstm_ref(c, s, st);
        return VM_OK;
    }
    const int64_t T = st->T, B = st->B, I = st->I, H = st->H, D = st->D;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LSTM_B), *th = vm_rt_in(c, s, LSTM_H0);
    const struct vm_rt_tensor *tc = vm_rt_in(c, s, LSTM_C0), *tp = vm_rt_in(c, s, LSTM_P);
    struct vm_rt_tensor *ty = vm_rt_out(c, s, 0), *tyh = vm_rt_out(c, s, 1), *tyc = vm_rt_out(c, s, 2);

    lstm_permute_weights(vm_rt_in(c, s, LSTM_W)->data, st->wl, D, I, H);
    lstm_permute_weights(vm_rt_in(c, s, LSTM_R)->data, st->wi, D, H, H);
    if (tb) {
        const float *b = tb->data;
        for (int64_t d = 0; d < D; d++)
            for (int g = 0; g < 4; g++) {
                const float *wb = b + d * 8 * H + g * H, *rb = wb + 4 * H;
                float *o = st->bias + (d * 4 + gate_to_dnnl[g]) * H;
                for (int64_t h = 0; h < H; h++) o[h] = wb[h] + rb[h];
            }
    }
    if (tp) {
        const float *p = tp->data;
        for (int64_t d = 0; d < D; d++)
            for (int g = 0; g < 3; g++)
                memcpy(st->peep + (d * 3 + peep_to_dnnl[g]) * H, p + d * 3 * H + g * H, (size_t)H * sizeof(float));
    }

    float *dst_layer = ty && !st->y_transpose ? ty->data : st->ybuf;
    dnnl_memory_set_data_handle(st->m_src_layer, vm_rt_in(c, s, LSTM_X)->data);
    dnnl_memory_set_data_handle(st->m_src_iter, th ? th->data : st->zeros);
    dnnl_memory_set_data_handle(st->m_src_iter_c, tc ? tc->data : st->zeros);
    dnnl_memory_set_data_handle(st->m_dst_layer, dst_layer);
    dnnl_exec_arg_t args[16] = {
        {DNNL_ARG_SRC_LAYER, st->m_src_layer}, {DNNL_ARG_SRC_ITER, st->m_src_iter},
        {DNNL_ARG_SRC_ITER_C, st->m_src_iter_c}, {DNNL_ARG_WEIGHTS_LAYER, st->m_wl},
        {DNNL_ARG_WEIGHTS_ITER, st->m_wi},       {DNNL_ARG_BIAS, st->m_bias},
        {DNNL_ARG_DST_LAYER, st->m_dst_layer},
    };
    int na = 7;
    if (tp) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_PEEPHOLE, st->m_wp};
    if (st->has_iter_out) {
        dnnl_memory_set_data_handle(st->m_dst_iter, tyh ? tyh->data : st->hbuf);
        dnnl_memory_set_data_handle(st->m_dst_iter_c, tyc ? tyc->data : st->cbuf);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, st->m_dst_iter};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, st->m_dst_iter_c};
    }
    if (st->m_ws) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, st->m_ws};
    if ((r = vm_dnnl_prim_exec(c, s, &st->prim, na, args, err))) return r;

    if (st->y_transpose && ty) {
        /* [T,B,D,H] (oneDNN's concat over directions) -> ONNX [T,D,B,H] */
        const float *src = st->ybuf;
        float *y = ty->data;
        dnnl_stream_wait(c->stream);
#pragma omp parallel for if (T * B * D * H > LSTM_PAR_MIN)
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t d = 0; d < D; d++)
                    memcpy(y + ((t * D + d) * B + b) * H, src + ((t * B + b) * D + d) * H, (size_t)H * sizeof(float));
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_rnn[] = {
    {"LSTM", 3, 8, 0, 3, 0, lstm_prepare, lstm_run, lstm_release},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
