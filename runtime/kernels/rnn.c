/* rnn kernels: ONNX LSTM on oneDNN's vanilla_lstm primitive, forward and backward (LSTMGrad), each
 * with a naive C reference beside it.
 *
 * Legend: T tokens (sequence), B batch, I input size, H hidden, D directions (1 or 2), G = 4 gates.
 *
 * ONNX vs oneDNN (2.6):
 *  - gates: ONNX stores W [D,4H,I], R [D,4H,H], B [D,8H] in gate order i,o,f,c; oneDNN wants
 *    weights ldigo [1,D,I,G,H] / [1,D,H,G,H] in order i,f,c,o and one bias [1,D,G,H] = Wb + Rb.
 *    Peepholes: ONNX P [D,3H] is i,o,f; oneDNN's ldgo [1,D,3,H] is i,f,o. Weights are parameters
 *    the optimizer updates in place, so the permutation runs at every call, as a C loop into
 *    buffers this kernel owns (~0.1 ms at I=300, H=100, about 2% of the primitive at 50x50, but
 *    most of a 1 x 20 batch). In an inference plan whose weights are constant (vm_rt_value_const)
 *    it runs once, and again only when m->weights_gen moves.
 *  - states: src_iter/src_iter_c always get a buffer (zeros when initial_h/c are absent), never
 *    NULL — oneDNN 2.6.3's LSTM backward is wrong with a NULL src_iter (toolchain.md §3). The
 *    backward likewise always gets diff_src_iter/diff_src_iter_c (and diff_dst_iter/_c whenever
 *    the forward had dst_iter).
 *  - layout 0: X [T,B,I] is `tnc`; Y [T,D,B,H] is dst_layer `tnc` [T,B,D*H] for D=1 and needs a
 *    transposing copy for D=2; Y_h/Y_c [D,B,H] are dst_iter `ldnc`.
 *    layout 1: X [B,T,I] is `ntc`; Y [B,T,D,H] is dst_layer `ntc` [T,B,D*H] exactly; initial
 *    states and Y_h/Y_c [B,D,H] are described to oneDNN with strides (no copies).
 *  - prop kind: with a workspace output (the compiler adds one when the LSTM is differentiated)
 *    forward_training, writing oneDNN's workspace into that arena value; otherwise
 *    forward_inference (about 8% faster and no workspace).
 *
 * Workspace value (forward output 3 -> LSTMGrad input 10), laid out by lstm_ws_plan identically in
 * both prepares: [oneDNN workspace | dst_layer [T,B,D*H] | dst_iter [D,B,H] | dst_iter_c [D,B,H]],
 * each region 64-byte aligned and present only when needed. oneDNN's backward reads the forward's
 * dst memories (for left-to-right it keeps h_t in dst_layer and the last h/c in dst_iter/_c
 * instead of its workspace), so they must survive until backward: the node's own Y, Y_h, Y_c when
 * it has them in oneDNN's layout (LSTMGrad then reads them as inputs), else these regions.
 *
 * Backward (LSTMGrad): lstm_backward with the forward pd (rebuilt from identical descriptors) as
 * hint. Its weights come in the pd's layout (ldgoi with padded leading dimension in 2.6), its
 * diff weights in the pd's layout (ldigo): both are converted from/to ONNX [D,4H,K] through the
 * pd's strides. oneDNN accumulates into diff weights/bias/peephole, so they are zeroed before each
 * call. dB: the single 4H diff_bias is the gradient of both halves Wb and Rb of ONNX's B.
 *
 * sequence_lens, when given, must equal T in every row: checked at each forward run.
 * prepare() allocates every buffer; run() allocates nothing.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

enum { LSTM_X, LSTM_W, LSTM_R, LSTM_B, LSTM_SEQ, LSTM_H0, LSTM_C0, LSTM_P };
enum { LSTM_OUT_WS = 3 }; /* outputs 0..2 are Y, Y_h, Y_c */
/* LSTMGrad (compiler/ops/rnn.c) */
enum { LG_X, LG_W, LG_R, LG_B, LG_H0, LG_C0, LG_P, LG_Y, LG_YH, LG_YC, LG_WS, LG_DY, LG_DYH, LG_DYC, LG_N_IN };
enum { LG_DX, LG_DW, LG_DR, LG_DB, LG_DH0, LG_DC0, LG_DP, LG_N_OUT };

#define LSTM_PAR_MIN 32768 /* elements below which OpenMP is not worth its overhead */

/* oneDNN gate index for each ONNX gate (i,o,f,c -> i,f,c,o) and for each ONNX peephole (i,o,f). */
static const int gate_to_dnnl[4] = {0, 3, 1, 2};
static const int peep_to_dnnl[3] = {0, 2, 1};

/* What both prepares must agree on to build the same forward primitive and workspace layout. */
struct lstm_geom {
    int64_t T, B, I, H, D;
    int layout;        /* 0: [T,B,..], 1: [B,T,..] */
    int direction;     /* 0 forward, 1 reverse, 2 bidirectional */
    bool peephole;
    bool has_y, has_yh, has_yc; /* the forward node's outputs */
    bool has_iter_out; /* dst_iter/dst_iter_c described (some of Y_h, Y_c is used) */
    bool y_transpose;  /* layout 0, D=2: dst_layer [T,B,2H] -> Y [T,2,B,H] */
    bool ref;          /* naive C path (ref_kernels, or empty sizes) */
};

/* Byte offsets into the workspace value; SIZE_MAX = region absent. */
struct lstm_ws_layout {
    size_t dnnl_bytes, y, h, c, total;
};

struct lstm_mds {
    dnnl_memory_desc_t src_layer, dst_layer, state, wl, wi, wp, bias;
};

/* Strides (elements) of a weights tensor [1,D,K,G,H] in some oneDNN plain layout. */
struct lstm_wfmt {
    int64_t sd, sk, sg, sh;
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

/* Reads direction/layout/hidden_size. */
static enum vm_status lstm_geom_attrs(const struct vm_rt_step *s, struct lstm_geom *gm, struct vm_error *err) {
    const char *dir = vm_rt_attr_string(s, "direction", "forward");
    gm->direction = !strcmp(dir, "bidirectional") ? 2 : !strcmp(dir, "reverse") ? 1 : 0;
    if (gm->direction == 0 && strcmp(dir, "forward") != 0)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "direction '%s'", dir);
    gm->layout = (int)vm_rt_attr_int(s, "layout", 0);
    gm->D = gm->direction == 2 ? 2 : 1;
    gm->H = vm_rt_attr_int(s, "hidden_size", 0);
    if (gm->H < 1 || (gm->layout != 0 && gm->layout != 1))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "hidden_size %lld, layout %d", (long long)gm->H, gm->layout);
    return VM_OK;
}

/* Reads direction/layout/hidden_size and T, B, I from X (input x_index); ref from the model. */
static enum vm_status lstm_geom_init(struct vm_rt_ctx *c, const struct vm_rt_step *s, int x_index, struct lstm_geom *gm,
                                     struct vm_error *err) {
    const struct vm_rt_tensor *x = vm_rt_in(c, s, x_index);
    enum vm_status r = lstm_geom_attrs(s, gm, err);
    if (r) return r;
    if (!x || x->rank != 3)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "X rank %d, hidden_size %lld, layout %d", x ? x->rank : -1,
                                 (long long)gm->H, gm->layout);
    gm->T = x->dims[gm->layout ? 1 : 0];
    gm->B = x->dims[gm->layout ? 0 : 1];
    gm->I = x->dims[2];
    gm->ref = c->m->ref_kernels || gm->T == 0 || gm->B == 0 || gm->I == 0;
    return VM_OK;
}

static void lstm_geom_outputs(struct lstm_geom *gm, bool has_y, bool has_yh, bool has_yc, bool peephole) {
    gm->has_y = has_y;
    gm->has_yh = has_yh;
    gm->has_yc = has_yc;
    gm->peephole = peephole;
    gm->has_iter_out = has_yh || has_yc;
    gm->y_transpose = !gm->layout && gm->D == 2;
}

static void lstm_ws_plan(const struct lstm_geom *gm, size_t dnnl_bytes, struct lstm_ws_layout *w) {
    const size_t state = (size_t)(gm->D * gm->B * gm->H) * sizeof(float);
    size_t off = vm_align64(dnnl_bytes);
    w->dnnl_bytes = dnnl_bytes;
    w->y = w->h = w->c = SIZE_MAX;
    if (!gm->has_y || gm->y_transpose) {
        w->y = off;
        off += vm_align64((size_t)(gm->T * gm->B * gm->D * gm->H) * sizeof(float));
    }
    if (gm->has_iter_out && !gm->has_yh) {
        w->h = off;
        off += vm_align64(state);
    }
    if (gm->has_iter_out && !gm->has_yc) {
        w->c = off;
        off += vm_align64(state);
    }
    w->total = off;
}

/* [1,D,N,H]: ldnc for layout 0; for layout 1 the user's [N,D,H] buffer through strides. */
static dnnl_status_t lstm_state_md(dnnl_memory_desc_t *md, const struct lstm_geom *gm) {
    dnnl_dims_t dims = {1, gm->D, gm->B, gm->H};
    if (!gm->layout) return dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_ldnc);
    dnnl_dims_t strides = {gm->D * gm->B * gm->H, gm->H, gm->D * gm->H, 1};
    return dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

static dnnl_rnn_direction_t lstm_dnnl_dir(const struct lstm_geom *gm) {
    return gm->direction == 2   ? dnnl_bidirectional_concat
           : gm->direction == 1 ? dnnl_unidirectional_right2left
                                : dnnl_unidirectional_left2right;
}

/* Memory descriptors and the forward op descriptor; LSTMGrad rebuilds the forward pd from the
 * same call, so the hint matches the forward step's primitive exactly. */
static enum vm_status lstm_fwd_desc(const struct vm_rt_step *s, const struct lstm_geom *gm, dnnl_prop_kind_t prop,
                                    struct lstm_mds *md, dnnl_rnn_desc_t *rd, struct vm_error *err) {
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    dnnl_dims_t dsrc = {T, B, I}, ddst = {T, B, D * H};
    dnnl_format_tag_t seq_tag = gm->layout ? dnnl_ntc : dnnl_tnc;
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->src_layer, 3, dsrc, dnnl_f32, seq_tag), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->dst_layer, 3, ddst, dnnl_f32, seq_tag), s, err);
    VM_DNNL(lstm_state_md(&md->state, gm), s, err);
    dnnl_dims_t dwl = {1, D, I, 4, H}, dwi = {1, D, H, 4, H}, dwp = {1, D, 3, H}, db = {1, D, 4, H};
    /* Plain ldigo, not `any`: with `any`, forward_inference picks the brgemm implementation with
     * blocked weights (abdEc32e), which measured ~20% slower here than the gemm-based `ref`
     * implementation on ldigo (T=N=50, I=300, H=100: 5.5 vs 4.5 ms on 2 threads, 9.4 vs 8.4 ms on
     * 1), before counting the extra reorder per run. */
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->wl, 5, dwl, dnnl_f32, dnnl_ldigo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->wi, 5, dwi, dnnl_f32, dnnl_ldigo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->wp, 4, dwp, dnnl_f32, dnnl_ldgo), s, err);
    VM_DNNL(dnnl_memory_desc_init_by_tag(&md->bias, 4, db, dnnl_f32, dnnl_ldgo), s, err);
    VM_DNNL(dnnl_lstm_forward_desc_init_v2(rd, prop, lstm_dnnl_dir(gm), &md->src_layer, &md->state, &md->state,
                                           &md->wl, &md->wi, gm->peephole ? &md->wp : NULL, &md->bias,
                                           &md->dst_layer, gm->has_iter_out ? &md->state : NULL,
                                           gm->has_iter_out ? &md->state : NULL, 0),
            s, err);
    return VM_OK;
}

/* ---------------- layout conversions ---------------- */

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

/* Strides of a [1,D,K,G,H] weights descriptor; false unless it is a plain strided layout. Only
 * here does this file look inside a memory descriptor (the struct is opaque in oneDNN 3.x). */
static bool lstm_wfmt_of(const dnnl_memory_desc_t *md, struct lstm_wfmt *f) {
    if (!md || md->ndims != 5 || md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks != 0 ||
        md->offset0 != 0)
        return false;
    const dnnl_dims_t *st = &md->format_desc.blocking.strides;
    f->sd = (*st)[1];
    f->sk = (*st)[2];
    f->sg = (*st)[3];
    f->sh = (*st)[4];
    return true;
}

/* ONNX W [D,4H,K] -> strided f layout, oneDNN gate order (padding is left untouched). */
static void lstm_onnx_to_wfmt(const float *src, float *dst, const struct lstm_wfmt *f, int64_t D, int64_t K, int64_t H) {
    const int64_t rows = D * 4 * H;
#pragma omp parallel for if (rows * K > LSTM_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t d = r / (4 * H), g = r / H % 4, h = r % H;
        const float *in = src + r * K;
        float *o = dst + d * f->sd + gate_to_dnnl[g] * f->sg + h * f->sh;
        if (f->sk == 1) memcpy(o, in, (size_t)K * sizeof(float));
        else
            for (int64_t k = 0; k < K; k++) o[k * f->sk] = in[k];
    }
}

/* Strided f layout (oneDNN gate order) -> ONNX W [D,4H,K]. */
static void lstm_wfmt_to_onnx(const float *src, float *dst, const struct lstm_wfmt *f, int64_t D, int64_t K, int64_t H) {
    if (f->sk == 1) {
        const int64_t rows = D * 4 * H;
#pragma omp parallel for if (rows * K > LSTM_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            int64_t d = r / (4 * H), g = r / H % 4, h = r % H;
            memcpy(dst + r * K, src + d * f->sd + gate_to_dnnl[g] * f->sg + h * f->sh, (size_t)K * sizeof(float));
        }
        return;
    }
    /* ldigo-like: transpose in 16x16-ish tiles of (k, h) so both sides stay in cache lines */
    const int64_t KB = 16, nkb = (K + KB - 1) / KB, tiles = D * 4 * nkb;
#pragma omp parallel for if (D * 4 * H * K > LSTM_PAR_MIN)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t d = t / (4 * nkb), g = t / nkb % 4, k0 = t % nkb * KB, k1 = k0 + KB < K ? k0 + KB : K;
        const float *in = src + d * f->sd + gate_to_dnnl[g] * f->sg;
        float *o = dst + (d * 4 + g) * H * K;
        for (int64_t h = 0; h < H; h++)
            for (int64_t k = k0; k < k1; k++) o[h * K + k] = in[k * f->sk + h * f->sh];
    }
}

/* ONNX B [D,8H] -> oneDNN bias [1,D,4,H] = Wb + Rb. */
static void lstm_permute_bias(const float *b, float *bias, int64_t D, int64_t H) {
    for (int64_t d = 0; d < D; d++)
        for (int g = 0; g < 4; g++) {
            const float *wb = b + d * 8 * H + g * H, *rb = wb + 4 * H;
            float *o = bias + (d * 4 + gate_to_dnnl[g]) * H;
            for (int64_t h = 0; h < H; h++) o[h] = wb[h] + rb[h];
        }
}

static void lstm_permute_peep(const float *p, float *peep, int64_t D, int64_t H) {
    for (int64_t d = 0; d < D; d++)
        for (int g = 0; g < 3; g++)
            memcpy(peep + (d * 3 + peep_to_dnnl[g]) * H, p + d * 3 * H + g * H, (size_t)H * sizeof(float));
}

/* oneDNN's dst_layer [T,B,D,H] (concat over directions) -> ONNX Y [T,D,B,H], and back (dY). */
static void lstm_y_to_onnx(const float *dn, float *onnx, int64_t T, int64_t B, int64_t D, int64_t H) {
#pragma omp parallel for if (T * B * D * H > LSTM_PAR_MIN)
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                memcpy(onnx + ((t * D + d) * B + b) * H, dn + ((t * B + b) * D + d) * H, (size_t)H * sizeof(float));
}

static void lstm_y_from_onnx(const float *onnx, float *dn, int64_t T, int64_t B, int64_t D, int64_t H) {
#pragma omp parallel for if (T * B * D * H > LSTM_PAR_MIN)
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                memcpy(dn + ((t * B + b) * D + d) * H, onnx + ((t * D + d) * B + b) * H, (size_t)H * sizeof(float));
}

/* ================= forward: LSTM ================= */

struct lstm_state {
    struct lstm_geom gm;
    /* oneDNN path */
    struct vm_dnnl_prim prim;
    dnnl_memory_t m_src_layer, m_src_iter, m_src_iter_c, m_wl, m_wi, m_wp, m_bias;
    dnnl_memory_t m_dst_layer, m_dst_iter, m_dst_iter_c, m_ws;
    bool ws_out;         /* the node has a workspace output (it is differentiated) */
    struct lstm_ws_layout wsl;
    float *wl;           /* [1,D,I,G,H] ldigo, oneDNN gate order */
    float *wi;           /* [1,D,H,G,H] */
    float *bias;         /* [1,D,G,H] */
    float *peep;         /* [1,D,3,H] */
    bool pack_once;      /* W, R, B, P constant: permuted at the first run (and when weights_gen moves) */
    bool one_thread;     /* small time steps: run the primitive on the calling thread alone */
    uint64_t packed_gen; /* m->weights_gen at the last permutation */
    float *zeros;        /* D*B*H zeros: initial states when absent */
    float *ybuf;         /* [T,B,D*H] when Y is absent or needs the transposing copy (no ws output) */
    float *hbuf, *cbuf;  /* D*B*H: dst_iter(_c) when only one of Y_h, Y_c is used (no ws output) */
    void *ws;            /* workspace (forward_training without a workspace output) */
    /* reference path */
    float *rh, *rc;      /* [B,H] running state of one direction */
    double *rg;          /* [4H] gate pre-activations of one row */
};

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

/* Input/output tensor indices of one op's view of the LSTM tensors (-1: not an input/output). */
struct lstm_slots {
    int w, r, b, seq, h0, c0, p; /* inputs */
    int y, yh, yc;               /* forward: outputs; LSTMGrad: inputs */
    bool y_is_in;
};

static enum vm_status lstm_check_shapes(struct vm_rt_ctx *c, const struct vm_rt_step *s, const struct lstm_geom *gm,
                                        const struct lstm_slots *sl, struct vm_error *err) {
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    enum vm_status r;
    const int64_t w[3] = {D, 4 * H, I}, rr[3] = {D, 4 * H, H}, b[2] = {D, 8 * H}, p[2] = {D, 3 * H}, seq[1] = {B};
    const int64_t h0[3] = {gm->layout ? B : D, gm->layout ? D : B, H};
    const int64_t y[4] = {gm->layout ? B : T, gm->layout ? T : D, gm->layout ? D : B, H};
#define LSTM_T(k) ((k) < 0 ? NULL : vm_rt_in(c, s, (k)))
#define LSTM_Y(k) ((k) < 0 ? NULL : sl->y_is_in ? vm_rt_in(c, s, (k)) : vm_rt_out(c, s, (k)))
    if ((r = lstm_expect(s, LSTM_T(sl->w), "W", 3, w, err)) || (r = lstm_expect(s, LSTM_T(sl->r), "R", 3, rr, err)))
        return r;
    if (LSTM_T(sl->b) && (r = lstm_expect(s, LSTM_T(sl->b), "B", 2, b, err))) return r;
    if (LSTM_T(sl->seq) && (r = lstm_expect(s, LSTM_T(sl->seq), "sequence_lens", 1, seq, err))) return r;
    if (LSTM_T(sl->h0) && (r = lstm_expect(s, LSTM_T(sl->h0), "initial_h", 3, h0, err))) return r;
    if (LSTM_T(sl->c0) && (r = lstm_expect(s, LSTM_T(sl->c0), "initial_c", 3, h0, err))) return r;
    if (LSTM_T(sl->p) && (r = lstm_expect(s, LSTM_T(sl->p), "P", 2, p, err))) return r;
    if (LSTM_Y(sl->y) && (r = lstm_expect(s, LSTM_Y(sl->y), "Y", 4, y, err))) return r;
    if (LSTM_Y(sl->yh) && (r = lstm_expect(s, LSTM_Y(sl->yh), "Y_h", 3, h0, err))) return r;
    if (LSTM_Y(sl->yc) && (r = lstm_expect(s, LSTM_Y(sl->yc), "Y_c", 3, h0, err))) return r;
#undef LSTM_T
#undef LSTM_Y
    return VM_OK;
}

/* sequence_lens must be T for every batch row (the kernels have no per-row lengths). */
static enum vm_status lstm_check_seq(struct vm_rt_ctx *c, const struct vm_rt_step *s, int seq_index,
                                     const struct lstm_geom *gm, struct vm_error *err) {
    const struct vm_rt_tensor *sl = vm_rt_in(c, s, seq_index);
    if (!sl) return VM_OK;
    const int32_t *len = sl->data;
    for (int64_t b = 0; b < gm->B; b++)
        if (len[b] != gm->T)
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED,
                                     "sequence_lens[%lld] is %d but the sequence length is %lld; vmaskc supports only "
                                     "sequence_lens equal to the sequence length for every batch row",
                                     (long long)b, (int)len[b], (long long)gm->T);
    return VM_OK;
}

/* ---------------- naive C reference (ONNX semantics, double accumulation) ---------------- */

static inline double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static void lstm_ref(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lstm_state *st) {
    const struct lstm_geom *gm = &st->gm;
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
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
        bool reverse = gm->direction == 1 || d == 1;
        const float *Wd = W + d * 4 * H * I, *Rd = R + d * 4 * H * H;
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (gm->layout ? b * D + d : d * B + b) * H + j; /* [D,B,H] or [B,D,H] */
                h[b * H + j] = H0 ? H0[si] : 0.0f;
                cs[b * H + j] = C0 ? C0[si] : 0.0f;
            }
        for (int64_t step = 0; step < T; step++) {
            int64_t t = reverse ? T - 1 - step : step;
            for (int64_t b = 0; b < B; b++) {
                const float *x = X + (gm->layout ? b * T + t : t * B + b) * I;
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
                    float *y = Y + (gm->layout ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
                    memcpy(y, hb, (size_t)H * sizeof *y);
                }
            }
        }
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (gm->layout ? b * D + d : d * B + b) * H + j;
                if (YH) YH[si] = h[b * H + j];
                if (YC) YC[si] = cs[b * H + j];
            }
    }
}

/* ---------------- oneDNN path ---------------- */

static enum vm_status lstm_prepare_dnnl(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lstm_state *st,
                                        struct vm_error *err) {
    const struct lstm_geom *gm = &st->gm;
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    /* only an LSTM that is differentiated has a workspace output; a frozen one, or any LSTM in an
     * inference plan, runs forward_inference (about 8% faster, no workspace) */
    const bool training = st->ws_out;
    /* oneDNN's LSTM runs a gemm and a thread barrier per time step: below about 4 MFLOP per step
     * (B = 1..12 at I = 300, H = 100) the barrier costs more than the second thread gains. At
     * 1 x 20 on the shared 2-vCPU VM: 0.060-0.074 ms on one thread, 0.156-0.160 ms on two. */
    st->one_thread = 2.0 * (double)B * 4.0 * (double)H * (double)(I + H) * (double)D < 4e6;
    struct lstm_mds md;
    dnnl_rnn_desc_t rd;
    enum vm_status r = lstm_fwd_desc(s, gm, training ? dnnl_forward_training : dnnl_forward_inference, &md, &rd, err);
    if (r) return r;
    dnnl_primitive_desc_t pd = NULL;
    if ((r = vm_dnnl_prim_build(c, s, &rd, NULL, NULL, &st->prim, &pd, err))) return r;
    const dnnl_memory_desc_t *ws_md = dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0);
    size_t ws_bytes = ws_md ? dnnl_memory_desc_get_size(ws_md) : 0;
    dnnl_status_t ds = dnnl_success;
    if (st->ws_out) {
        /* the workspace lives in the arena; its handle is set at each run */
        lstm_ws_plan(gm, ws_bytes, &st->wsl);
        vm_rt_set_workspace_bytes(c, s->out[LSTM_OUT_WS], st->wsl.total);
        if (ws_bytes) ds = dnnl_memory_create(&st->m_ws, ws_md, c->engine, DNNL_MEMORY_NONE);
    } else if (ws_bytes) {
        st->ws = lstm_alloc(ws_bytes, err);
        ds = st->ws ? dnnl_memory_create(&st->m_ws, ws_md, c->engine, st->ws) : dnnl_success;
    }
    dnnl_primitive_desc_destroy(pd);
    if (ws_bytes && !st->ws_out && !st->ws) return VM_ENOMEM;
    if (ds != dnnl_success) return vm_dnnl_status(ds, "dnnl_memory_create(workspace)", s, err);

    /* buffers this state owns; the user tensors' memories get their handles at each run */
    const size_t state_bytes = (size_t)(D * B * H) * sizeof(float);
    if (!(st->wl = lstm_alloc((size_t)(D * I * 4 * H) * sizeof(float), err)) ||
        !(st->wi = lstm_alloc((size_t)(D * H * 4 * H) * sizeof(float), err)) ||
        !(st->bias = lstm_alloc((size_t)(D * 4 * H) * sizeof(float), err)) ||
        !(st->zeros = lstm_alloc(state_bytes, err)))
        return VM_ENOMEM;
    if (gm->peephole && !(st->peep = lstm_alloc((size_t)(D * 3 * H) * sizeof(float), err))) return VM_ENOMEM;
    if (!st->ws_out) {
        if ((!gm->has_y || gm->y_transpose) && !(st->ybuf = lstm_alloc((size_t)(T * B * D * H) * sizeof(float), err)))
            return VM_ENOMEM;
        if (gm->has_iter_out && !gm->has_yh && !(st->hbuf = lstm_alloc(state_bytes, err))) return VM_ENOMEM;
        if (gm->has_iter_out && !gm->has_yc && !(st->cbuf = lstm_alloc(state_bytes, err))) return VM_ENOMEM;
    }
    VM_DNNL(dnnl_memory_create(&st->m_wl, &md.wl, c->engine, st->wl), s, err);
    VM_DNNL(dnnl_memory_create(&st->m_wi, &md.wi, c->engine, st->wi), s, err);
    VM_DNNL(dnnl_memory_create(&st->m_bias, &md.bias, c->engine, st->bias), s, err);
    if (gm->peephole) VM_DNNL(dnnl_memory_create(&st->m_wp, &md.wp, c->engine, st->peep), s, err);
    if ((r = vm_dnnl_mem2(c, s, &md.src_layer, &st->m_src_layer, &md.dst_layer, &st->m_dst_layer, err)) ||
        (r = vm_dnnl_mem2(c, s, &md.state, &st->m_src_iter, &md.state, &st->m_src_iter_c, err)))
        return r;
    if (gm->has_iter_out && (r = vm_dnnl_mem2(c, s, &md.state, &st->m_dst_iter, &md.state, &st->m_dst_iter_c, err)))
        return r;
    return VM_OK;
}

static enum vm_status lstm_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                   struct vm_error *err) {
    struct lstm_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    struct lstm_geom *gm = &st->gm;
    enum vm_status r = lstm_geom_init(c, s, LSTM_X, gm, err);
    if (r) return r;
    lstm_geom_outputs(gm, vm_rt_out(c, s, 0) != NULL, vm_rt_out(c, s, 1) != NULL, vm_rt_out(c, s, 2) != NULL,
                      vm_rt_in(c, s, LSTM_P) != NULL);
    st->ws_out = vm_rt_out(c, s, LSTM_OUT_WS) != NULL;
    const struct lstm_slots sl = {LSTM_W, LSTM_R, LSTM_B, LSTM_SEQ, LSTM_H0, LSTM_C0, LSTM_P, 0, 1, 2, false};
    if ((r = lstm_check_shapes(c, s, gm, &sl, err))) return r;
    for (int k = 0; k < s->n_in; k++) {
        const struct vm_rt_tensor *t = vm_rt_in(c, s, k);
        if (t && t->dtype != (k == LSTM_SEQ ? VM_DTYPE_INT32 : VM_DTYPE_FLOAT))
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "input %d has type %s", k, vm_dtype_name(t->dtype));
    }
    st->pack_once = true;
    for (int k = LSTM_W; k <= LSTM_B; k++)
        if (k < s->n_in && s->in[k] >= 0 && !vm_rt_value_const(c, s->in[k])) st->pack_once = false;
    if (LSTM_P < s->n_in && s->in[LSTM_P] >= 0 && !vm_rt_value_const(c, s->in[LSTM_P])) st->pack_once = false;
    st->packed_gen = UINT64_MAX;
    if (!gm->ref) return lstm_prepare_dnnl(c, s, st, err);
    /* the C reference backward recomputes the forward: the workspace carries nothing */
    if (st->ws_out) vm_rt_set_workspace_bytes(c, s->out[LSTM_OUT_WS], 0);
    if (!(st->rh = lstm_alloc((size_t)(gm->B * gm->H) * sizeof(float), err)) ||
        !(st->rc = lstm_alloc((size_t)(gm->B * gm->H) * sizeof(float), err)) ||
        !(st->rg = lstm_alloc((size_t)(4 * gm->H) * sizeof(double), err)))
        return VM_ENOMEM;
    return VM_OK;
}

static enum vm_status lstm_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct lstm_state *st = state;
    const struct lstm_geom *gm = &st->gm;
    enum vm_status r = lstm_check_seq(c, s, LSTM_SEQ, gm, err);
    if (r) return r;
    if (gm->ref) {
        lstm_ref(c, s, st);
        return VM_OK;
    }
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LSTM_B), *th = vm_rt_in(c, s, LSTM_H0);
    const struct vm_rt_tensor *tc = vm_rt_in(c, s, LSTM_C0), *tp = vm_rt_in(c, s, LSTM_P);
    struct vm_rt_tensor *ty = vm_rt_out(c, s, 0), *tyh = vm_rt_out(c, s, 1), *tyc = vm_rt_out(c, s, 2);

    if (!st->pack_once || st->packed_gen != c->m->weights_gen) {
        lstm_permute_weights(vm_rt_in(c, s, LSTM_W)->data, st->wl, D, I, H);
        lstm_permute_weights(vm_rt_in(c, s, LSTM_R)->data, st->wi, D, H, H);
        if (tb) lstm_permute_bias(tb->data, st->bias, D, H);
        if (tp) lstm_permute_peep(tp->data, st->peep, D, H);
        st->packed_gen = c->m->weights_gen;
    }

    /* where dst_layer / dst_iter / dst_iter_c go when not straight into Y, Y_h, Y_c */
    uint8_t *ws = st->ws_out ? vm_rt_out(c, s, LSTM_OUT_WS)->data : NULL;
    float *ybuf = ws && st->wsl.y != SIZE_MAX ? (float *)(ws + st->wsl.y) : st->ybuf;
    float *hbuf = ws && st->wsl.h != SIZE_MAX ? (float *)(ws + st->wsl.h) : st->hbuf;
    float *cbuf = ws && st->wsl.c != SIZE_MAX ? (float *)(ws + st->wsl.c) : st->cbuf;
    float *dst_layer = ty && !gm->y_transpose ? ty->data : ybuf;
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
    if (gm->has_iter_out) {
        dnnl_memory_set_data_handle(st->m_dst_iter, tyh ? tyh->data : hbuf);
        dnnl_memory_set_data_handle(st->m_dst_iter_c, tyc ? tyc->data : cbuf);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, st->m_dst_iter};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, st->m_dst_iter_c};
    }
    if (st->m_ws) {
        if (ws) dnnl_memory_set_data_handle(st->m_ws, ws);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, st->m_ws};
    }
    int nthr = st->one_thread ? omp_get_max_threads() : 1;
    if (st->one_thread) omp_set_num_threads(1);
    r = vm_dnnl_prim_exec(c, s, &st->prim, na, args, err);
    if (st->one_thread) omp_set_num_threads(nthr);
    if (r) return r;

    if (gm->y_transpose && ty) {
        dnnl_stream_wait(c->stream);
        lstm_y_to_onnx(ybuf, ty->data, T, B, D, H);
    }
    return VM_OK;
}

/* ================= LSTMGather: the recurrence over memoized input projections ================= */

/* LSTMGather (compiler/pass_gather_fold.c) is LSTM(Gather(E, ids)) in an inference plan. Row v of
 * proj = E[v] W_d^T + Wb_d + Rb_d (ONNX gate order i,o,f,c, both directions side by side) is
 * computed the first time a run meets it (one M = 1 sgemm per row), and kept while E, W and B
 * stay the same (the memo of runtime/kernels/embed.c); a plan whose weights may change recomputes
 * the rows it meets at every run. The recurrence then needs h R^T per step only. With a per-token
 * scale s (input 9, shaped like ids: a mask that depends on the sentence, L2X's top-k, multiplying
 * the embedding) the rows are E[v] W_d^T alone and a step's input is s_t row + Wb_d + Rb_d.
 *
 * Threads split the batch: each runs the whole recurrence for its block of rows (its own sgemm per
 * step on [rows, H] x [H, 4H], R in L2), so there is no barrier per time step, unlike oneDNN's RNN
 * (a fork/join per step). The gate nonlinearities and the cell update are one vectorized pass.
 * ref_kernels: the same steps with naive double-accumulating loops and libm (the reference). */

enum { LGA_E, LGA_IDS, LGA_W, LGA_R, LGA_B, LGA_SEQ, LGA_H0, LGA_C0, LGA_P, LGA_S };

struct lga_state {
    struct lstm_geom gm;
    bool ids_bf;            /* ids [B,T] (else [T,B]) */
    int nthr;               /* threads of the recurrence, each owning a block of batch rows */
    struct vm_k_memo memo;  /* rows [D*4H]: E W_d^T (+ Wb_d + Rb_d without a scale), ONNX gate order i,o,f,c */
    float *bias;            /* [D*4H] Wb + Rb */
    float *h, *cs, *g;      /* [B,H] state, [B,H] cell, [B,4H] gate pre-activations */
    float *peep;            /* [D,3H] zeros (used when P is absent) */
};

static void lga_release(void *state) {
    struct lga_state *st = state;
    if (!st) return;
    vm_k_memo_free(&st->memo);
    void *bufs[] = {st->bias, st->h, st->cs, st->g, st->peep};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
    free(st);
}

static enum vm_status lga_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct lga_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    struct lstm_geom *gm = &st->gm;
    enum vm_status r = lstm_geom_attrs(s, gm, err);
    if (r) return r;
    const struct vm_rt_tensor *e = vm_rt_in(c, s, LGA_E), *ids = vm_rt_in(c, s, LGA_IDS), *sc = vm_rt_in(c, s, LGA_S);
    st->ids_bf = vm_rt_attr_int(s, "ids_batch_first", 0) != 0;
    if (e->rank != 2 || e->dtype != VM_DTYPE_FLOAT || ids->rank != 2 ||
        (ids->dtype != VM_DTYPE_INT64 && ids->dtype != VM_DTYPE_INT32) || (sc && (sc->dtype != VM_DTYPE_FLOAT || sc->numel != ids->numel)))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "needs E [V, I] float, ids [B, T] or [T, B] int32/int64 and a float scale shaped like ids");
    gm->I = e->dims[1];
    gm->T = ids->dims[st->ids_bf ? 1 : 0];
    gm->B = ids->dims[st->ids_bf ? 0 : 1];
    gm->ref = c->m->ref_kernels;
    lstm_geom_outputs(gm, vm_rt_out(c, s, 0) != NULL, vm_rt_out(c, s, 1) != NULL, vm_rt_out(c, s, 2) != NULL,
                      vm_rt_in(c, s, LGA_P) != NULL);
    const struct lstm_slots sl = {LGA_W, LGA_R, LGA_B, LGA_SEQ, LGA_H0, LGA_C0, LGA_P, 0, 1, 2, false};
    if ((r = lstm_check_shapes(c, s, gm, &sl, err))) return r;
    for (int k = LGA_W; k < s->n_in && k < LGA_S; k++) {
        const struct vm_rt_tensor *t = vm_rt_in(c, s, k);
        if (t && t->dtype != (k == LGA_SEQ ? VM_DTYPE_INT32 : VM_DTYPE_FLOAT))
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "input %d has type %s", k, vm_dtype_name(t->dtype));
    }
    bool cache = true;
    for (int k = LGA_E; k <= LGA_B; k++)
        if (k != LGA_IDS && k != LGA_R && k < s->n_in && s->in[k] >= 0 && !vm_rt_value_const(c, s->in[k])) cache = false;
    /* no barrier per step, so two threads pay off from small batches on; one row block per thread */
    int maxt = omp_get_max_threads();
    st->nthr = (int)(gm->B / 4 < maxt ? gm->B / 4 : maxt);
    if (st->nthr < 1 || gm->ref) st->nthr = 1;
    const int64_t B = gm->B, H = gm->H, DG = gm->D * 4 * H;
    if ((r = vm_k_memo_init(c, s, &st->memo, e->dims[0], gm->I, DG, ids->numel, cache, gm->ref, err))) return r;
    if (!(st->bias = lstm_alloc((size_t)DG * sizeof(float), err)) || !(st->h = lstm_alloc((size_t)(B * H) * sizeof(float), err)) ||
        !(st->cs = lstm_alloc((size_t)(B * H) * sizeof(float), err)) ||
        !(st->g = lstm_alloc((size_t)(B * 4 * H) * sizeof(float), err)) ||
        !(st->peep = lstm_alloc((size_t)(gm->D * 3 * H) * sizeof(float), err)))
        return VM_ENOMEM;
    return VM_OK;
}

/* exp for the gate pass: vm_k_expf (kernels.h) on the argument clamped to its range. */
static inline __attribute__((always_inline)) float lga_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    return vm_k_expf(x);
}

static inline __attribute__((always_inline)) float lga_sigm(float x) { return 1.0f / (1.0f + lga_expf(-x)); }
static inline __attribute__((always_inline)) float lga_tanh(float x) { return 2.0f / (1.0f + lga_expf(-2.0f * x)) - 1.0f; }

/* One cell update of one batch row: g [4H] pre-activations (i,o,f,c), c and h [H] updated in
 * place, p [3H] peepholes (i,o,f). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void lga_cell(const float *restrict g, float *restrict cst,
                                                                                   float *restrict h, const float *restrict p,
                                                                                   int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        float cp = cst[j];
        float gi = lga_sigm(g[j] + p[j] * cp);
        float gf = lga_sigm(g[2 * H + j] + p[2 * H + j] * cp);
        float cn = gf * cp + gi * lga_tanh(g[3 * H + j]);
        float go = lga_sigm(g[H + j] + p[H + j] * cn);
        cst[j] = cn;
        h[j] = go * lga_tanh(cn);
    }
}

static void lga_cell_ref(const float *g, float *cst, float *h, const float *p, int64_t H) {
    for (int64_t j = 0; j < H; j++) {
        double cp = cst[j];
        double gi = sigm(g[j] + (double)p[j] * cp), gf = sigm(g[2 * H + j] + (double)p[2 * H + j] * cp);
        double cn = gf * cp + gi * tanh(g[3 * H + j]);
        double go = sigm(g[H + j] + (double)p[H + j] * cn);
        cst[j] = (float)cn;
        h[j] = (float)(go * tanh(cn));
    }
}

/* g [G] = a row [G] + bias [G]: a scaled token's gate input. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void lga_scaled_row(float *restrict g, const float *restrict row,
                                                                                         float a, const float *restrict bias, int64_t G) {
    for (int64_t j = 0; j < G; j++) g[j] = a * row[j] + bias[j];
}

/* Checks the ids and projects the vocabulary rows not met yet (bias Wb + Rb refreshed with them). */
static enum vm_status lga_project(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lga_state *st, struct vm_error *err) {
    const int64_t H = st->gm.H, D = st->gm.D;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LGA_B);
    if (vm_k_memo_stale(c, &st->memo)) {
        const float *b = tb ? tb->data : NULL;
        for (int64_t d = 0; d < D; d++)
            for (int64_t j = 0; j < 4 * H; j++) st->bias[d * 4 * H + j] = b ? b[d * 8 * H + j] + b[d * 8 * H + 4 * H + j] : 0.0f;
    }
    const float *bias = vm_rt_in(c, s, LGA_S) ? NULL : st->bias; /* scaled rows get it per step */
    return vm_k_memo_update(c, s, &st->memo, LGA_IDS, vm_rt_in(c, s, LGA_E)->data, vm_rt_in(c, s, LGA_W)->data, bias, err);
}

/* The recurrence of direction d over batch rows [b0, b1). */
static dnnl_status_t lga_direction(struct vm_rt_ctx *c, const struct vm_rt_step *s, const struct lga_state *st, int64_t d,
                                   int64_t b0, int64_t b1) {
    const struct lstm_geom *gm = &st->gm;
    const int64_t T = gm->T, B = gm->B, H = gm->H, D = gm->D, G = 4 * H, DG = D * G, bn = b1 - b0;
    const struct vm_rt_tensor *th = vm_rt_in(c, s, LGA_H0), *tc = vm_rt_in(c, s, LGA_C0);
    struct vm_rt_tensor *ty = vm_rt_out(c, s, 0), *tyh = vm_rt_out(c, s, 1), *tyc = vm_rt_out(c, s, 2);
    const struct vm_rt_tensor *tp = vm_rt_in(c, s, LGA_P); /* ONNX P [D,3H] is i,o,f as lga_cell reads it */
    const struct vm_rt_tensor *tsc = vm_rt_in(c, s, LGA_S);
    const float *sc = tsc ? tsc->data : NULL, *bias = st->bias + d * G;
    const float *R = (const float *)vm_rt_in(c, s, LGA_R)->data + d * G * H;
    const float *peep = (tp ? (const float *)tp->data : st->peep) + d * 3 * H;
    const bool reverse = gm->direction == 1 || d == 1;
    float *h = st->h, *cs = st->cs, *g = st->g;
    for (int64_t b = b0; b < b1; b++) {
        int64_t si = (gm->layout ? b * D + d : d * B + b) * H; /* [D,B,H] or [B,D,H] */
        if (th) memcpy(h + b * H, (const float *)th->data + si, (size_t)H * sizeof(float));
        else memset(h + b * H, 0, (size_t)H * sizeof(float));
        if (tc) memcpy(cs + b * H, (const float *)tc->data + si, (size_t)H * sizeof(float));
        else memset(cs + b * H, 0, (size_t)H * sizeof(float));
    }
    for (int64_t step = 0; step < T; step++) {
        const int64_t t = reverse ? T - 1 - step : step;
        for (int64_t b = b0; b < b1; b++) {
            const int64_t i = st->ids_bf ? b * T + t : t * B + b;
            const float *row = st->memo.proj + st->memo.rows[i] * DG + d * G;
            if (sc) lga_scaled_row(g + b * G, row, sc[i], bias, G);
            else memcpy(g + b * G, row, (size_t)G * sizeof(float));
        }
        if (step > 0 || th) {
            dnnl_status_t ds = vm_k_gemm_nt(gm->ref, bn, G, H, h + b0 * H, H, R, H, 1.0f, g + b0 * G, G);
            if (ds != dnnl_success) return ds;
        }
        for (int64_t b = b0; b < b1; b++) {
            if (gm->ref) lga_cell_ref(g + b * G, cs + b * H, h + b * H, peep, H);
            else lga_cell(g + b * G, cs + b * H, h + b * H, peep, H);
            if (ty) {
                float *y = (float *)ty->data + (gm->layout ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
                memcpy(y, h + b * H, (size_t)H * sizeof(float));
            }
        }
    }
    for (int64_t b = b0; b < b1; b++) {
        int64_t si = (gm->layout ? b * D + d : d * B + b) * H;
        if (tyh) memcpy((float *)tyh->data + si, h + b * H, (size_t)H * sizeof(float));
        if (tyc) memcpy((float *)tyc->data + si, cs + b * H, (size_t)H * sizeof(float));
    }
    return dnnl_success;
}

static enum vm_status lga_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct lga_state *st = state;
    const struct lstm_geom *gm = &st->gm;
    enum vm_status r = lstm_check_seq(c, s, LGA_SEQ, gm, err);
    if (r || (r = lga_project(c, s, st, err))) return r;
    dnnl_status_t ds = dnnl_success;
    const int nt = st->nthr;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int tid = omp_get_thread_num(), n = omp_get_num_threads();
        const int64_t b0 = gm->B * tid / n, b1 = gm->B * (tid + 1) / n;
        for (int64_t d = 0; d < gm->D && b1 > b0; d++) {
            dnnl_status_t e = lga_direction(c, s, st, d, b0, b1);
            if (e != dnnl_success) {
#pragma omp critical(lga_status)
                ds = e;
            }
        }
    }
    if (ds != dnnl_success) return vm_dnnl_status(ds, "dnnl_sgemm(recurrence)", s, err);
    return VM_OK;
}

/* ================= backward: LSTMGrad ================= */

struct lgrad_state {
    struct lstm_geom gm;
    struct lstm_ws_layout wsl;
    /* oneDNN path */
    struct vm_dnnl_prim prim;
    dnnl_memory_t m_src_layer, m_src_iter, m_src_iter_c, m_wl, m_wi, m_wp, m_bias;
    dnnl_memory_t m_dst_layer, m_dst_iter, m_dst_iter_c, m_ws;
    dnnl_memory_t m_dsrc_layer, m_dsrc_iter, m_dsrc_iter_c, m_dwl, m_dwi, m_dwp, m_dbias;
    dnnl_memory_t m_ddst_layer, m_ddst_iter, m_ddst_iter_c;
    struct lstm_wfmt wl_f, wi_f, dwl_f, dwi_f; /* the backward pd's (diff) weights layouts */
    size_t wl_bytes, wi_bytes, dwl_bytes, dwi_bytes;
    float *wl, *wi;       /* weights in the pd's layout (ldgoi with padded rows in 2.6) */
    float *bias, *peep;   /* [1,D,G,H], [1,D,3,H] */
    float *dwl, *dwi;     /* diff weights in the pd's layout (ldigo in 2.6) */
    float *dbias, *dpeep; /* [1,D,G,H], [1,D,3,H] */
    float *dsrc_layer;    /* [T,B,I] when dX is not wanted */
    float *dsrc_iter, *dsrc_iter_c; /* D*B*H when d initial_h / d initial_c are not wanted */
    float *ddst_layer;    /* [T,B,D*H]: dY in oneDNN's layout (transposed, or zeros when absent) */
    float *zeros;         /* D*B*H zeros: absent initial states and absent dY_h / dY_c */
    /* reference path (double): one direction's forward recomputed, then BPTT */
    double *r_h, *r_c;    /* [T+1,B,H] states before/after each processing step */
    double *r_gate;       /* [T,B,4H] activated gates, ONNX order i,o,f,c */
    double *r_dx;         /* [T,B,I] (X's layout) */
    double *r_dw, *r_dr, *r_db, *r_dp; /* [D,4H,I], [D,4H,H], [D,4H], [D,3H] */
    double *r_dh, *r_dc, *r_dhn, *r_da; /* [B,H] x3, [B,4H] */
};

static void lgrad_release(void *state) {
    struct lgrad_state *st = state;
    if (!st) return;
    vm_dnnl_prim_destroy(&st->prim);
    dnnl_memory_t mems[] = {st->m_src_layer, st->m_src_iter, st->m_src_iter_c, st->m_wl, st->m_wi, st->m_wp, st->m_bias,
                            st->m_dst_layer, st->m_dst_iter, st->m_dst_iter_c, st->m_ws, st->m_dsrc_layer,
                            st->m_dsrc_iter, st->m_dsrc_iter_c, st->m_dwl, st->m_dwi, st->m_dwp, st->m_dbias,
                            st->m_ddst_layer, st->m_ddst_iter, st->m_ddst_iter_c};
    for (size_t k = 0; k < sizeof mems / sizeof mems[0]; k++)
        if (mems[k]) dnnl_memory_destroy(mems[k]);
    void *bufs[] = {st->wl, st->wi, st->bias, st->peep, st->dwl, st->dwi, st->dbias, st->dpeep, st->dsrc_layer,
                    st->dsrc_iter, st->dsrc_iter_c, st->ddst_layer, st->zeros, st->r_h, st->r_c, st->r_gate,
                    st->r_dx, st->r_dw, st->r_dr, st->r_db, st->r_dp, st->r_dh, st->r_dc, st->r_dhn, st->r_da};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
    free(st);
}

/* ---------------- naive C reference: recompute the forward, then backpropagate through time ---------------- */

static void lgrad_ref(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lgrad_state *st) {
    const struct lstm_geom *gm = &st->gm;
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D, G = 4 * H;
    const float *X = vm_rt_in(c, s, LG_X)->data, *W = vm_rt_in(c, s, LG_W)->data, *R = vm_rt_in(c, s, LG_R)->data;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LG_B), *th = vm_rt_in(c, s, LG_H0), *tc = vm_rt_in(c, s, LG_C0);
    const struct vm_rt_tensor *tp = vm_rt_in(c, s, LG_P), *tdy = vm_rt_in(c, s, LG_DY);
    const struct vm_rt_tensor *tdyh = vm_rt_in(c, s, LG_DYH), *tdyc = vm_rt_in(c, s, LG_DYC);
    const float *Bias = tb ? tb->data : NULL, *H0 = th ? th->data : NULL, *C0 = tc ? tc->data : NULL;
    const float *P = tp ? tp->data : NULL, *DY = tdy ? tdy->data : NULL;
    const float *DYH = tdyh ? tdyh->data : NULL, *DYC = tdyc ? tdyc->data : NULL;
    double *hs = st->r_h, *cs = st->r_c, *gate = st->r_gate, *dh = st->r_dh, *dc = st->r_dc, *dhn = st->r_dhn;
    memset(st->r_dx, 0, (size_t)(T * B * I) * sizeof(double));
    memset(st->r_dw, 0, (size_t)(D * G * I) * sizeof(double));
    memset(st->r_dr, 0, (size_t)(D * G * H) * sizeof(double));
    memset(st->r_db, 0, (size_t)(D * G) * sizeof(double));
    memset(st->r_dp, 0, (size_t)(D * 3 * H) * sizeof(double));
    for (int64_t d = 0; d < D; d++) {
        const bool reverse = gm->direction == 1 || d == 1;
        const float *Wd = W + d * G * I, *Rd = R + d * G * H;
        const float *Pd = P ? P + d * 3 * H : NULL;
        double *dWd = st->r_dw + d * G * I, *dRd = st->r_dr + d * G * H, *dBd = st->r_db + d * G;
        double *dPd = st->r_dp + d * 3 * H;
        /* forward, keeping every state and activated gate; step s covers time t(s) */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (gm->layout ? b * D + d : d * B + b) * H + j;
                hs[b * H + j] = H0 ? H0[si] : 0.0;
                cs[b * H + j] = C0 ? C0[si] : 0.0;
            }
        for (int64_t step = 0; step < T; step++) {
            int64_t t = reverse ? T - 1 - step : step;
            for (int64_t b = 0; b < B; b++) {
                const float *x = X + (gm->layout ? b * T + t : t * B + b) * I;
                const double *hp = hs + (step * B + b) * H, *cp = cs + (step * B + b) * H;
                double *hn = hs + ((step + 1) * B + b) * H, *cn = cs + ((step + 1) * B + b) * H;
                double *gt = gate + (step * B + b) * G;
                for (int64_t row = 0; row < G; row++) {
                    double acc = Bias ? (double)Bias[d * 8 * H + row] + Bias[d * 8 * H + G + row] : 0.0;
                    for (int64_t k = 0; k < I; k++) acc += (double)Wd[row * I + k] * x[k];
                    for (int64_t k = 0; k < H; k++) acc += (double)Rd[row * H + k] * hp[k];
                    gt[row] = acc;
                }
                for (int64_t j = 0; j < H; j++) {
                    double pi = Pd ? Pd[j] : 0, po = Pd ? Pd[H + j] : 0, pf = Pd ? Pd[2 * H + j] : 0;
                    double gi = sigm(gt[j] + pi * cp[j]), gf = sigm(gt[2 * H + j] + pf * cp[j]);
                    double gc = tanh(gt[3 * H + j]);
                    cn[j] = gf * cp[j] + gi * gc;
                    double go = sigm(gt[H + j] + po * cn[j]);
                    hn[j] = go * tanh(cn[j]);
                    gt[j] = gi, gt[H + j] = go, gt[2 * H + j] = gf, gt[3 * H + j] = gc;
                }
            }
        }
        /* backward through time */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (gm->layout ? b * D + d : d * B + b) * H + j;
                dh[b * H + j] = DYH ? DYH[si] : 0.0;
                dc[b * H + j] = DYC ? DYC[si] : 0.0;
            }
        for (int64_t step = T - 1; step >= 0; step--) {
            int64_t t = reverse ? T - 1 - step : step;
            for (int64_t b = 0; b < B; b++) {
                const float *x = X + (gm->layout ? b * T + t : t * B + b) * I;
                double *dx = st->r_dx + (gm->layout ? b * T + t : t * B + b) * I;
                const double *hp = hs + (step * B + b) * H, *cp = cs + (step * B + b) * H;
                const double *cn = cs + ((step + 1) * B + b) * H, *gt = gate + (step * B + b) * G;
                double *da = st->r_da + b * G, *dhb = dh + b * H, *dcb = dc + b * H;
                if (DY) {
                    const float *dy = DY + (gm->layout ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
                    for (int64_t j = 0; j < H; j++) dhb[j] += dy[j];
                }
                for (int64_t j = 0; j < H; j++) {
                    double gi = gt[j], go = gt[H + j], gf = gt[2 * H + j], gc = gt[3 * H + j];
                    double pi = Pd ? Pd[j] : 0, po = Pd ? Pd[H + j] : 0, pf = Pd ? Pd[2 * H + j] : 0;
                    double tcn = tanh(cn[j]);
                    double dao = dhb[j] * tcn * go * (1 - go);
                    double dcj = dcb[j] + dhb[j] * go * (1 - tcn * tcn) + dao * po;
                    double dai = dcj * gc * gi * (1 - gi), daf = dcj * cp[j] * gf * (1 - gf);
                    double dag = dcj * gi * (1 - gc * gc);
                    dcb[j] = dcj * gf + dai * pi + daf * pf; /* d c_prev */
                    if (Pd) {
                        dPd[j] += dai * cp[j];
                        dPd[H + j] += dao * cn[j];
                        dPd[2 * H + j] += daf * cp[j];
                    }
                    da[j] = dai, da[H + j] = dao, da[2 * H + j] = daf, da[3 * H + j] = dag;
                }
                for (int64_t row = 0; row < G; row++) {
                    double a = da[row];
                    dBd[row] += a;
                    for (int64_t k = 0; k < I; k++) dWd[row * I + k] += a * x[k];
                    for (int64_t k = 0; k < H; k++) dRd[row * H + k] += a * hp[k];
                }
                for (int64_t k = 0; k < I; k++) {
                    double acc = 0;
                    for (int64_t row = 0; row < G; row++) acc += (double)Wd[row * I + k] * da[row];
                    dx[k] += acc;
                }
                for (int64_t k = 0; k < H; k++) {
                    double acc = 0;
                    for (int64_t row = 0; row < G; row++) acc += (double)Rd[row * H + k] * da[row];
                    dhn[b * H + k] = acc;
                }
            }
            memcpy(dh, dhn, (size_t)(B * H) * sizeof(double));
        }
        /* what is left flows into the initial states */
        struct vm_rt_tensor *tdh0 = vm_rt_out(c, s, LG_DH0), *tdc0 = vm_rt_out(c, s, LG_DC0);
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                int64_t si = (gm->layout ? b * D + d : d * B + b) * H + j;
                if (tdh0) ((float *)tdh0->data)[si] = (float)dh[b * H + j];
                if (tdc0) ((float *)tdc0->data)[si] = (float)dc[b * H + j];
            }
    }
    struct vm_rt_tensor *o;
    if ((o = vm_rt_out(c, s, LG_DX)))
        for (int64_t k = 0; k < T * B * I; k++) ((float *)o->data)[k] = (float)st->r_dx[k];
    if ((o = vm_rt_out(c, s, LG_DW)))
        for (int64_t k = 0; k < D * G * I; k++) ((float *)o->data)[k] = (float)st->r_dw[k];
    if ((o = vm_rt_out(c, s, LG_DR)))
        for (int64_t k = 0; k < D * G * H; k++) ((float *)o->data)[k] = (float)st->r_dr[k];
    if ((o = vm_rt_out(c, s, LG_DB)))
        for (int64_t d = 0; d < D; d++)
            for (int64_t k = 0; k < G; k++) /* Wb and Rb enter as a sum: both get the same gradient */
                ((float *)o->data)[d * 2 * G + k] = ((float *)o->data)[d * 2 * G + G + k] = (float)st->r_db[d * G + k];
    if ((o = vm_rt_out(c, s, LG_DP)))
        for (int64_t k = 0; k < D * 3 * H; k++) ((float *)o->data)[k] = (float)st->r_dp[k];
}

/* ---------------- oneDNN path ---------------- */

static enum vm_status lgrad_prepare_dnnl(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct lgrad_state *st,
                                         struct vm_error *err) {
    const struct lstm_geom *gm = &st->gm;
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    struct lstm_mds md;
    dnnl_rnn_desc_t fd, bd;
    enum vm_status r = lstm_fwd_desc(s, gm, dnnl_forward_training, &md, &fd, err);
    if (r) return r;
    /* the forward pd as hint: same descriptors and attributes as the forward step's primitive */
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    VM_DNNL(dnnl_primitive_attr_create(&attr), s, err);
    dnnl_status_t ds = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&fpd, &fd, attr, c->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success) return vm_dnnl_status(ds, "dnnl_primitive_desc_create(forward hint)", s, err);
    const dnnl_memory_desc_t *ws_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
    size_t ws_bytes = ws_md ? dnnl_memory_desc_get_size(ws_md) : 0;
    lstm_ws_plan(gm, ws_bytes, &st->wsl);
    const struct vm_rt_tensor *tws = vm_rt_in(c, s, LG_WS);
    if (!ws_bytes || tws->nbytes != st->wsl.total) {
        dnnl_primitive_desc_destroy(fpd);
        return vm_rt_step_errorf(s, err, VM_EINTERNAL,
                                 "the forward LSTM's workspace has %zu bytes, this backward expects %zu",
                                 tws->nbytes, st->wsl.total);
    }
    ds = dnnl_memory_create(&st->m_ws, ws_md, c->engine, DNNL_MEMORY_NONE);
    if (ds != dnnl_success) {
        dnnl_primitive_desc_destroy(fpd);
        return vm_dnnl_status(ds, "dnnl_memory_create(workspace)", s, err);
    }
    /* weights and diff weights in whatever layout the backward prefers */
    dnnl_memory_desc_t wl_any, wi_any;
    dnnl_dims_t dwl = {1, D, I, 4, H}, dwi = {1, D, H, 4, H};
    ds = dnnl_memory_desc_init_by_tag(&wl_any, 5, dwl, dnnl_f32, dnnl_format_tag_any);
    if (ds == dnnl_success) ds = dnnl_memory_desc_init_by_tag(&wi_any, 5, dwi, dnnl_f32, dnnl_format_tag_any);
    const dnnl_memory_desc_t *iter = gm->has_iter_out ? &md.state : NULL;
    if (ds == dnnl_success)
        ds = dnnl_lstm_backward_desc_init_v2(&bd, dnnl_backward, lstm_dnnl_dir(gm), &md.src_layer, &md.state, &md.state,
                                             &wl_any, &wi_any, gm->peephole ? &md.wp : NULL, &md.bias, &md.dst_layer,
                                             iter, iter, &md.src_layer, &md.state, &md.state, &wl_any, &wi_any,
                                             gm->peephole ? &md.wp : NULL, &md.bias, &md.dst_layer, iter, iter, 0);
    if (ds != dnnl_success) {
        dnnl_primitive_desc_destroy(fpd);
        return vm_dnnl_status(ds, "dnnl_lstm_backward_desc_init_v2", s, err);
    }
    r = vm_dnnl_prim_build(c, s, &bd, fpd, NULL, &st->prim, &bpd, err);
    dnnl_primitive_desc_destroy(fpd);
    if (r) return r;
    const dnnl_memory_desc_t *wl_md = dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *wi_md = dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 1);
    const dnnl_memory_desc_t *dwl_md = dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *dwi_md = dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, 1);
    if (!lstm_wfmt_of(wl_md, &st->wl_f) || !lstm_wfmt_of(wi_md, &st->wi_f) || !lstm_wfmt_of(dwl_md, &st->dwl_f) ||
        !lstm_wfmt_of(dwi_md, &st->dwi_f)) {
        dnnl_primitive_desc_destroy(bpd);
        return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED,
                                 "oneDNN's LSTM backward chose a blocked weights layout this kernel cannot convert");
    }
    st->wl_bytes = dnnl_memory_desc_get_size(wl_md);
    st->wi_bytes = dnnl_memory_desc_get_size(wi_md);
    st->dwl_bytes = dnnl_memory_desc_get_size(dwl_md);
    st->dwi_bytes = dnnl_memory_desc_get_size(dwi_md);
    const size_t state_bytes = (size_t)(D * B * H) * sizeof(float);
    bool ok = (st->wl = lstm_alloc(st->wl_bytes, err)) && (st->wi = lstm_alloc(st->wi_bytes, err)) &&
              (st->dwl = lstm_alloc(st->dwl_bytes, err)) && (st->dwi = lstm_alloc(st->dwi_bytes, err)) &&
              (st->bias = lstm_alloc((size_t)(D * 4 * H) * sizeof(float), err)) &&
              (st->dbias = lstm_alloc((size_t)(D * 4 * H) * sizeof(float), err)) &&
              (st->zeros = lstm_alloc(state_bytes, err));
    if (ok && gm->peephole)
        ok = (st->peep = lstm_alloc((size_t)(D * 3 * H) * sizeof(float), err)) &&
             (st->dpeep = lstm_alloc((size_t)(D * 3 * H) * sizeof(float), err));
    if (ok && !vm_rt_out(c, s, LG_DX)) ok = (st->dsrc_layer = lstm_alloc((size_t)(T * B * I) * sizeof(float), err));
    if (ok && !vm_rt_out(c, s, LG_DH0)) ok = (st->dsrc_iter = lstm_alloc(state_bytes, err));
    if (ok && !vm_rt_out(c, s, LG_DC0)) ok = (st->dsrc_iter_c = lstm_alloc(state_bytes, err));
    if (ok && (gm->y_transpose || !vm_rt_in(c, s, LG_DY)))
        ok = (st->ddst_layer = lstm_alloc((size_t)(T * B * D * H) * sizeof(float), err));
    ds = dnnl_success;
    if (ok) {
        if (ds == dnnl_success) ds = dnnl_memory_create(&st->m_wl, wl_md, c->engine, st->wl);
        if (ds == dnnl_success) ds = dnnl_memory_create(&st->m_wi, wi_md, c->engine, st->wi);
        if (ds == dnnl_success) ds = dnnl_memory_create(&st->m_dwl, dwl_md, c->engine, st->dwl);
        if (ds == dnnl_success) ds = dnnl_memory_create(&st->m_dwi, dwi_md, c->engine, st->dwi);
    }
    dnnl_primitive_desc_destroy(bpd);
    if (!ok) return VM_ENOMEM;
    if (ds != dnnl_success) return vm_dnnl_status(ds, "dnnl_memory_create(weights)", s, err);
    VM_DNNL(dnnl_memory_create(&st->m_bias, &md.bias, c->engine, st->bias), s, err);
    VM_DNNL(dnnl_memory_create(&st->m_dbias, &md.bias, c->engine, st->dbias), s, err);
    if (gm->peephole) {
        VM_DNNL(dnnl_memory_create(&st->m_wp, &md.wp, c->engine, st->peep), s, err);
        VM_DNNL(dnnl_memory_create(&st->m_dwp, &md.wp, c->engine, st->dpeep), s, err);
    }
    if ((r = vm_dnnl_mem2(c, s, &md.src_layer, &st->m_src_layer, &md.dst_layer, &st->m_dst_layer, err)) ||
        (r = vm_dnnl_mem2(c, s, &md.state, &st->m_src_iter, &md.state, &st->m_src_iter_c, err)) ||
        (r = vm_dnnl_mem2(c, s, &md.src_layer, &st->m_dsrc_layer, &md.dst_layer, &st->m_ddst_layer, err)) ||
        (r = vm_dnnl_mem2(c, s, &md.state, &st->m_dsrc_iter, &md.state, &st->m_dsrc_iter_c, err)))
        return r;
    if (gm->has_iter_out &&
        ((r = vm_dnnl_mem2(c, s, &md.state, &st->m_dst_iter, &md.state, &st->m_dst_iter_c, err)) ||
         (r = vm_dnnl_mem2(c, s, &md.state, &st->m_ddst_iter, &md.state, &st->m_ddst_iter_c, err))))
        return r;
    return VM_OK;
}

static enum vm_status lgrad_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state,
                                    struct vm_error *err) {
    struct lgrad_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    struct lstm_geom *gm = &st->gm;
    enum vm_status r = lstm_geom_init(c, s, LG_X, gm, err);
    if (r) return r;
    lstm_geom_outputs(gm, vm_rt_in(c, s, LG_Y) != NULL, vm_rt_in(c, s, LG_YH) != NULL, vm_rt_in(c, s, LG_YC) != NULL,
                      vm_rt_in(c, s, LG_P) != NULL);
    const struct lstm_slots sl = {LG_W, LG_R, LG_B, -1, LG_H0, LG_C0, LG_P, LG_Y, LG_YH, LG_YC, true};
    if ((r = lstm_check_shapes(c, s, gm, &sl, err))) return r;
    /* dY, dY_h, dY_c have the shapes of Y, Y_h, Y_c; each gradient its forward input's shape */
    for (int k = 0; k < 3; k++) {
        const struct vm_rt_tensor *a = vm_rt_in(c, s, LG_DY + k), *b = vm_rt_in(c, s, LG_Y + k);
        if (a && (!b || a->numel != b->numel))
            return vm_rt_step_errorf(s, err, VM_EINTERNAL, "input %d does not match the forward output", LG_DY + k);
    }
    static const int grad_of[LG_N_OUT] = {LG_X, LG_W, LG_R, LG_B, LG_H0, LG_C0, LG_P};
    for (int k = 0; k < LG_N_OUT; k++) {
        const struct vm_rt_tensor *o = vm_rt_out(c, s, k), *x = vm_rt_in(c, s, grad_of[k]);
        if (o && ((x && o->numel != x->numel) || (!x && o->numel != gm->D * gm->B * gm->H) || o->dtype != VM_DTYPE_FLOAT))
            return vm_rt_step_errorf(s, err, VM_EINTERNAL, "output %d does not match its forward input", k);
    }
    for (int k = 0; k < s->n_in; k++) {
        const struct vm_rt_tensor *t = vm_rt_in(c, s, k);
        if (t && t->dtype != (k == LG_WS ? VM_DTYPE_UINT8 : VM_DTYPE_FLOAT))
            return vm_rt_step_errorf(s, err, VM_EUNSUPPORTED, "input %d has type %s", k, vm_dtype_name(t->dtype));
    }
    if (!gm->ref) return lgrad_prepare_dnnl(c, s, st, err);
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    const size_t dbl = sizeof(double);
    if (!(st->r_h = lstm_alloc((size_t)((T + 1) * B * H) * dbl, err)) ||
        !(st->r_c = lstm_alloc((size_t)((T + 1) * B * H) * dbl, err)) ||
        !(st->r_gate = lstm_alloc((size_t)(T * B * 4 * H) * dbl, err)) ||
        !(st->r_dx = lstm_alloc((size_t)(T * B * I) * dbl, err)) ||
        !(st->r_dw = lstm_alloc((size_t)(D * 4 * H * I) * dbl, err)) ||
        !(st->r_dr = lstm_alloc((size_t)(D * 4 * H * H) * dbl, err)) ||
        !(st->r_db = lstm_alloc((size_t)(D * 4 * H) * dbl, err)) ||
        !(st->r_dp = lstm_alloc((size_t)(D * 3 * H) * dbl, err)) ||
        !(st->r_dh = lstm_alloc((size_t)(B * H) * dbl, err)) || !(st->r_dc = lstm_alloc((size_t)(B * H) * dbl, err)) ||
        !(st->r_dhn = lstm_alloc((size_t)(B * H) * dbl, err)) ||
        !(st->r_da = lstm_alloc((size_t)(B * 4 * H) * dbl, err)))
        return VM_ENOMEM;
    return VM_OK;
}

static enum vm_status lgrad_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct lgrad_state *st = state;
    const struct lstm_geom *gm = &st->gm;
    if (gm->ref) {
        lgrad_ref(c, s, st);
        return VM_OK;
    }
    const int64_t T = gm->T, B = gm->B, I = gm->I, H = gm->H, D = gm->D;
    const struct vm_rt_tensor *tb = vm_rt_in(c, s, LG_B), *th = vm_rt_in(c, s, LG_H0), *tc = vm_rt_in(c, s, LG_C0);
    const struct vm_rt_tensor *tp = vm_rt_in(c, s, LG_P), *ty = vm_rt_in(c, s, LG_Y), *tyh = vm_rt_in(c, s, LG_YH);
    const struct vm_rt_tensor *tyc = vm_rt_in(c, s, LG_YC), *tdy = vm_rt_in(c, s, LG_DY);
    const struct vm_rt_tensor *tdyh = vm_rt_in(c, s, LG_DYH), *tdyc = vm_rt_in(c, s, LG_DYC);
    struct vm_rt_tensor *tdx = vm_rt_out(c, s, LG_DX), *tdw = vm_rt_out(c, s, LG_DW), *tdr = vm_rt_out(c, s, LG_DR);
    struct vm_rt_tensor *tdb = vm_rt_out(c, s, LG_DB), *tdh0 = vm_rt_out(c, s, LG_DH0), *tdc0 = vm_rt_out(c, s, LG_DC0);
    struct vm_rt_tensor *tdp = vm_rt_out(c, s, LG_DP);
    uint8_t *ws = vm_rt_in(c, s, LG_WS)->data;

    /* inputs in oneDNN's layouts; the diff buffers are accumulated into, so they start at zero */
    lstm_onnx_to_wfmt(vm_rt_in(c, s, LG_W)->data, st->wl, &st->wl_f, D, I, H);
    lstm_onnx_to_wfmt(vm_rt_in(c, s, LG_R)->data, st->wi, &st->wi_f, D, H, H);
    if (tb) lstm_permute_bias(tb->data, st->bias, D, H);
    if (tp) lstm_permute_peep(tp->data, st->peep, D, H);
    memset(st->dwl, 0, st->dwl_bytes);
    memset(st->dwi, 0, st->dwi_bytes);
    memset(st->dbias, 0, (size_t)(D * 4 * H) * sizeof(float));
    if (st->dpeep) memset(st->dpeep, 0, (size_t)(D * 3 * H) * sizeof(float));
    const float *ddst_layer = st->ddst_layer;
    if (tdy && gm->y_transpose) lstm_y_from_onnx(tdy->data, st->ddst_layer, T, B, D, H);
    else if (tdy) ddst_layer = tdy->data; /* else: zeros, never written */

    dnnl_memory_set_data_handle(st->m_src_layer, vm_rt_in(c, s, LG_X)->data);
    dnnl_memory_set_data_handle(st->m_src_iter, th ? th->data : st->zeros);
    dnnl_memory_set_data_handle(st->m_src_iter_c, tc ? tc->data : st->zeros);
    dnnl_memory_set_data_handle(st->m_dst_layer, ty && !gm->y_transpose ? ty->data : (void *)(ws + st->wsl.y));
    dnnl_memory_set_data_handle(st->m_ws, ws);
    dnnl_memory_set_data_handle(st->m_dsrc_layer, tdx ? tdx->data : st->dsrc_layer);
    dnnl_memory_set_data_handle(st->m_dsrc_iter, tdh0 ? tdh0->data : st->dsrc_iter);
    dnnl_memory_set_data_handle(st->m_dsrc_iter_c, tdc0 ? tdc0->data : st->dsrc_iter_c);
    dnnl_memory_set_data_handle(st->m_ddst_layer, (void *)ddst_layer);
    dnnl_exec_arg_t args[24] = {
        {DNNL_ARG_SRC_LAYER, st->m_src_layer},
        {DNNL_ARG_SRC_ITER, st->m_src_iter},
        {DNNL_ARG_SRC_ITER_C, st->m_src_iter_c},
        {DNNL_ARG_WEIGHTS_LAYER, st->m_wl},
        {DNNL_ARG_WEIGHTS_ITER, st->m_wi},
        {DNNL_ARG_BIAS, st->m_bias},
        {DNNL_ARG_DST_LAYER, st->m_dst_layer},
        {DNNL_ARG_WORKSPACE, st->m_ws},
        {DNNL_ARG_DIFF_SRC_LAYER, st->m_dsrc_layer},
        {DNNL_ARG_DIFF_SRC_ITER, st->m_dsrc_iter},
        {DNNL_ARG_DIFF_SRC_ITER_C, st->m_dsrc_iter_c},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, st->m_dwl},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, st->m_dwi},
        {DNNL_ARG_DIFF_BIAS, st->m_dbias},
        {DNNL_ARG_DIFF_DST_LAYER, st->m_ddst_layer},
    };
    int na = 15;
    if (gm->peephole) {
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_PEEPHOLE, st->m_wp};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE, st->m_dwp};
    }
    if (gm->has_iter_out) {
        dnnl_memory_set_data_handle(st->m_dst_iter, tyh ? tyh->data : (void *)(ws + st->wsl.h));
        dnnl_memory_set_data_handle(st->m_dst_iter_c, tyc ? tyc->data : (void *)(ws + st->wsl.c));
        dnnl_memory_set_data_handle(st->m_ddst_iter, tdyh ? tdyh->data : st->zeros);
        dnnl_memory_set_data_handle(st->m_ddst_iter_c, tdyc ? tdyc->data : st->zeros);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, st->m_dst_iter};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, st->m_dst_iter_c};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_ITER, st->m_ddst_iter};
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_ITER_C, st->m_ddst_iter_c};
    }
    enum vm_status r = vm_dnnl_prim_exec(c, s, &st->prim, na, args, err);
    if (r) return r;
    dnnl_stream_wait(c->stream);

    /* diff weights back to ONNX layouts and gate order */
    if (tdw) lstm_wfmt_to_onnx(st->dwl, tdw->data, &st->dwl_f, D, I, H);
    if (tdr) lstm_wfmt_to_onnx(st->dwi, tdr->data, &st->dwi_f, D, H, H);
    if (tdb) {
        float *db = tdb->data;
        for (int64_t d = 0; d < D; d++)
            for (int g = 0; g < 4; g++) {
                const float *src = st->dbias + (d * 4 + gate_to_dnnl[g]) * H;
                /* B = [Wb; Rb] enters as Wb + Rb: both halves get the same gradient */
                memcpy(db + d * 8 * H + g * H, src, (size_t)H * sizeof(float));
                memcpy(db + d * 8 * H + 4 * H + g * H, src, (size_t)H * sizeof(float));
            }
    }
    if (tdp) {
        float *dp = tdp->data;
        for (int64_t d = 0; d < D; d++)
            for (int g = 0; g < 3; g++)
                memcpy(dp + d * 3 * H + g * H, st->dpeep + (d * 3 + peep_to_dnnl[g]) * H, (size_t)H * sizeof(float));
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_rnn[] = {
    {"LSTM", 3, 8, 0, 4, 0, lstm_prepare, lstm_run, lstm_release},
    {"LSTMGather", 4, 10, 0, 3, 0, lga_prepare, lga_run, lga_release},
    {"LSTMGrad", LG_WS + 1, LG_N_IN, LG_N_OUT, LG_N_OUT, 0, lgrad_prepare, lgrad_run, lgrad_release},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
