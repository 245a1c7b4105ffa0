/* embed: kernels whose input is an embedding lookup, and the per-vocabulary-row memo they share.
 *
 * A layer that is linear in the embedding of each token (an LSTM's input projection, a text
 * convolution's taps) computes the same numbers for the same word every time. The memo keeps
 * proj[v] = E[v] Wm^T + bias for each vocabulary row v a run has met: new rows are gathered and
 * projected, rows already met are read back. The rows stay valid while
 * E and the weights are constant (vm_rt_value_const) and m->weights_gen has not moved; otherwise
 * the memo is cleared at every run. Each row is its own M = 1 sgemm, so its numbers do not depend
 * on the batch it arrived in (a text gets the same output alone as in any batch). The table [V, width] is taken as one fresh mapping, so only
 * the pages of rows met are touched.
 *
 * ConvGather(E [V,C], ids [B,T], W [M,C,K], bias [M][, scale [B,T]]) is ConvCL(Gather(E, ids) [* scale],
 * W, bias) for a 1-D convolution with stride 1, dilation 1, group 1 and zero pads p0, p1
 * (compiler/pass_gather_fold.c): with proj[v] = [E[v] W_0^T, E[v] W_1^T, ..., E[v] W_{K-1}^T]
 * (W_j = W[:, :, j]), Y[b, t] = bias + sum over the taps j whose position p = t + j - p0 is in [0, T)
 * of s[b, p] proj[id[b, p]][j] (s = 1 without a scale: a per-token mask that depends on the sentence,
 * L2X's top-k, multiplies the memoized rows instead of the embedding).
 * With relu_max (Kim-CNN's Relu -> ReduceMax over time, fused by the pass) Y[b] = relu(max_t Y[b, t]),
 * [B, M] (or [B, 1, M]): each output row stays in registers/L1 and no [B, T', M] tensor is written.
 * Legend: V vocabulary, C embedding, M filters, K taps, B batch, T tokens, T' = T + p0 + p1 - K + 1.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define EMBED_PAR_MIN 32768

void vm_k_memo_free(struct vm_k_memo *mm) {
    free(mm->rows);
    free(mm->todo);
    memset(mm, 0, sizeof *mm);
}

void vm_k_memo_table_free(struct vm_k_memo_table *t) {
    if (!t) return;
    free(t->proj); /* vm_alloc_big: released with free() */
    free(t->have);
    free(t);
}

static void *memo_alloc(size_t bytes, struct vm_error *err) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) vm_errorf(err, VM_ENOMEM, "out of memory (%zu bytes for an embedding memo)", bytes);
    return p;
}

enum vm_status vm_k_memo_init(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct vm_k_memo *mm, int64_t V, int64_t C, int64_t width,
                              int64_t n_ids, bool cache, bool ref, struct vm_error *err) {
    memset(mm, 0, sizeof *mm);
    mm->V = V, mm->C = C, mm->width = width, mm->cache = cache, mm->ref = ref, mm->gen = UINT64_MAX;
    struct vm_rt_model *m = c->m;
    const int32_t step = (int32_t)(s - m->plan.steps);
    VM_ASSERT(step >= 0 && step < m->plan.n_steps);
    if (!m->memo_tables && !(m->memo_tables = vm_calloc((size_t)m->plan.n_steps, sizeof *m->memo_tables, err))) return VM_ENOMEM;
    struct vm_k_memo_table *t = m->memo_tables[step];
    if (t && (t->V != V || t->width != width)) return vm_rt_step_errorf(s, err, VM_EINVAL, "the embedding memo changed shape");
    if (!t) {
        if (!(t = vm_calloc(1, sizeof *t, err))) return VM_ENOMEM;
        t->V = V, t->width = width, t->gen = UINT64_MAX;
        const size_t proj_bytes = (size_t)((V ? V : 1) * width) * sizeof(float);
        /* one fresh mapping: only the pages of rows met are touched */
        if (!(t->proj = vm_alloc_big(proj_bytes)) || !(t->have = memo_alloc((size_t)(V ? V : 1), err))) {
            vm_k_memo_table_free(t);
            return vm_errorf(err, VM_ENOMEM, "out of memory (%zu bytes for the projected vocabulary)", proj_bytes);
        }
        m->memo_tables[step] = t;
    }
    mm->t = t;
    mm->proj = t->proj;
    if (!(mm->rows = memo_alloc((size_t)n_ids * sizeof(int64_t), err)) || !(mm->todo = memo_alloc((size_t)n_ids * sizeof(int64_t), err)))
        return VM_ENOMEM;
    return VM_OK;
}

dnnl_status_t vm_k_gemm_nt(bool ref, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                           float beta, float *C, int64_t ldc) {
    if (!ref) return dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = beta != 0 ? (double)C[m * ldc + n] : 0.0;
            for (int64_t k = 0; k < K; k++) acc += (double)A[m * lda + k] * B[n * ldb + k];
            C[m * ldc + n] = (float)acc;
        }
    return dnnl_success;
}

bool vm_k_memo_stale(const struct vm_rt_ctx *c, const struct vm_k_memo *mm) {
    return !mm->cache || mm->gen != c->m->weights_gen;
}

enum vm_status vm_k_memo_update(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct vm_k_memo *mm, int ids_index, const float *E,
                                const float *Wm, const float *bias, struct vm_error *err) {
    const struct vm_rt_tensor *ids = vm_rt_in(c, s, ids_index);
    const int64_t V = mm->V, C = mm->C, N = mm->width;
    /* the shared rows: cleared when the weights moved (or are not constant); this instance's own
     * derived copies were refreshed by the caller on vm_k_memo_stale */
    uint8_t *have = mm->t->have;
    if (!mm->cache || mm->t->gen != c->m->weights_gen) {
        memset(have, 0, (size_t)V);
        mm->t->gen = c->m->weights_gen;
    }
    mm->gen = c->m->weights_gen;
    int64_t n_todo = 0;
    for (int64_t i = 0; i < ids->numel; i++) {
        int64_t v = vm_k_id_at(ids, i);
        if (v < -V || v >= V) {
            for (int64_t k = 0; k < n_todo; k++) have[mm->todo[k]] = 0; /* not projected: not kept */
            return vm_rt_step_errorf(s, err, VM_EINVAL, "index %lld (position %lld of '%s') is out of range [%lld, %lld)", (long long)v,
                                     (long long)i, c->m->plan.values[s->in[ids_index]].name, (long long)-V, (long long)V);
        }
        if (v < 0) v += V;
        mm->rows[i] = v;
        if (!have[v]) {
            have[v] = 1;
            mm->todo[n_todo++] = v;
        }
    }
    /* a first batch can bring thousands of new rows (GFLOPs) to an instance that its counted
     * per-run work sent to one thread (exec.c): those use the threads it was bound with */
    const bool widen = c->inst && c->inst->threads > omp_get_max_threads() && 2.0 * (double)n_todo * (double)C * (double)N >= 1e8;
    const int saved = omp_get_max_threads();
    if (widen) omp_set_num_threads(c->inst->threads);
    /* One sgemm per row (M = 1, on one thread inside the loop): a row's numbers must not depend on
     * which other rows were new in the same run or on the thread count, so that a text gets the
     * same result alone as in any batch (a blocked M x N sgemm sums in an order that depends on M). */
    dnnl_status_t ds = dnnl_success;
#pragma omp parallel for schedule(dynamic, 16) if (n_todo * C * N > EMBED_PAR_MIN)
    for (int64_t k = 0; k < n_todo; k++) {
        float *o = mm->proj + mm->todo[k] * N;
        dnnl_status_t e = vm_k_gemm_nt(mm->ref, 1, N, C, E + mm->todo[k] * C, C, Wm, C, 0.0f, o, N);
        if (e != dnnl_success) {
#pragma omp critical(memo_status)
            ds = e;
        }
        if (bias)
            for (int64_t j = 0; j < N; j++) o[j] += bias[j];
    }
    enum vm_status r = VM_OK;
    if (ds != dnnl_success) {
        r = vm_dnnl_status(ds, "dnnl_sgemm(embedding projection)", s, err);
        for (int64_t k = 0; k < n_todo; k++) have[mm->todo[k]] = 0;
    }
    if (widen) omp_set_num_threads(saved);
    return r;
}

/* ================= ConvGather ================= */

enum { CG_E, CG_IDS, CG_W, CG_B, CG_S };
#define CG_PREFETCH 8   /* positions ahead whose entering token row is prefetched */
#define CG_PAR_ADDS 1e6 /* adds per run from which the rows are split across threads */


struct cg_state {
    struct vm_k_memo memo;
    int64_t B, T, Tout, C, M, K, p0;
    bool relu_max;
    float *wm;   /* [K*M, C]: row j*M+m = W[m, :, j] */
    float *bias; /* [M] the conv bias (not in the table: a padded tap 0 or a scale must not touch it) */
    float *acc;  /* [n_acc, M]: each thread's current output row (relu_max) */
    int n_acc;
};

static void cg_release(void *state) {
    struct cg_state *st = state;
    if (!st) return;
    vm_k_memo_free(&st->memo);
    free(st->wm);
    free(st->bias);
    free(st->acc);
    free(st);
}

static enum vm_status cg_prepare(struct vm_rt_ctx *c, const struct vm_rt_step *s, void **state, struct vm_error *err) {
    struct cg_state *st = vm_calloc(1, sizeof *st, err);
    if (!st) return VM_ENOMEM;
    *state = st;
    const struct vm_rt_tensor *e = vm_rt_in(c, s, CG_E), *ids = vm_rt_in(c, s, CG_IDS), *w = vm_rt_in(c, s, CG_W);
    const struct vm_rt_tensor *b = vm_rt_in(c, s, CG_B), *sc = vm_rt_in(c, s, CG_S), *y = vm_rt_out(c, s, 0);
    const struct vm_rt_attr *pads = vm_rt_attr(s, "pads");
    if (e->rank != 2 || ids->rank != 2 || w->rank != 3 || e->dtype != VM_DTYPE_FLOAT || w->dtype != VM_DTYPE_FLOAT ||
        (ids->dtype != VM_DTYPE_INT64 && ids->dtype != VM_DTYPE_INT32) || w->dims[1] != e->dims[1] || (b && b->numel != w->dims[0]) ||
        (sc && (sc->dtype != VM_DTYPE_FLOAT || sc->numel != ids->numel)))
        return vm_rt_step_errorf(s, err, VM_EINVAL, "needs E [V, C], ids [B, T], W [M, C, K], bias [M], scale [B, T] (float, int ids)");
    st->B = ids->dims[0], st->T = ids->dims[1], st->C = e->dims[1], st->M = w->dims[0], st->K = w->dims[2];
    st->p0 = pads && pads->n >= 1 ? pads->ints[0] : 0;
    st->Tout = st->T + st->p0 + (pads && pads->n >= 2 ? pads->ints[1] : 0) - st->K + 1;
    st->relu_max = vm_rt_attr_int(s, "relu_max", 0) != 0;
    if (y->numel != (st->relu_max ? st->B * st->M : st->B * (st->Tout > 0 ? st->Tout : 0) * st->M) || st->p0 < 0)
        return vm_rt_step_errorf(s, err, VM_EINVAL, "output of %lld elements does not match the convolution", (long long)y->numel);
    if (st->relu_max && st->Tout < 0) {
        /* the unfused graph's [B, T', M] would get a negative dimension, which bind.c refuses;
         * the fused output [B, M] has no such dimension, so the same refusal is made here */
        const char *ids_name = c->m->plan.values[s->in[CG_IDS]].name;
        if (st->T == 0)
            return vm_rt_step_errorf(s, err, VM_EINVAL,
                                     "input '%s' is empty (input shapes %s [%lld, 0]: an empty text has 0 tokens); the model cannot "
                                     "run on it (its %lld-tap convolution would get a negative dimension)",
                                     ids_name, ids_name, (long long)st->B, (long long)st->K);
        return vm_rt_step_errorf(s, err, VM_EINVAL,
                                 "the inputs are too short for the model (input shapes %s [%lld, %lld]): its %lld-tap convolution would "
                                 "get a negative dimension",
                                 ids_name, (long long)st->B, (long long)st->T, (long long)st->K);
    }
    bool cache = true;
    for (int k = 0; k < s->n_in; k++)
        if (k != CG_IDS && k != CG_S && s->in[k] >= 0 && !vm_rt_value_const(c, s->in[k])) cache = false;
    const int64_t KM = st->K * st->M;
    /* the adds and table reads of a large batch are worth the instance's threads even when its
     * counted FLOPs sent it to one thread (exec.c): megabytes of rows per run */
    const double adds = (double)st->B * (double)(st->Tout > 0 ? st->Tout : 0) * (double)KM;
    st->n_acc = adds >= CG_PAR_ADDS && c->inst->threads > 1 ? c->inst->threads : 1;
    if (!(st->wm = vm_calloc((size_t)(KM * st->C), sizeof(float), err)) || !(st->bias = vm_calloc((size_t)st->M, sizeof(float), err)) ||
        !(st->acc = vm_calloc((size_t)(st->n_acc * st->M), sizeof(float), err)))
        return VM_ENOMEM;
    return vm_k_memo_init(c, s, &st->memo, e->dims[0], st->C, KM, ids->numel, cache, c->m->ref_kernels, err);
}

/* One batch row: Y [T', M] from the memoized taps of its T ids (each times sc[pos] when sc is
 * given) plus bias [M]; with relu_max only relu(max_t Y[t]) [M] is written (acc [M] is the current
 * position's sum). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void cg_row(const float *restrict proj, const int64_t *restrict rows,
                                                                                 const float *restrict sc, const float *restrict bias,
                                                                                 float *restrict y, float *restrict acc, int64_t T,
                                                                                 int64_t Tout, int64_t M, int64_t K, int64_t p0,
                                                                                 bool relu_max) {
    const int64_t KM = K * M;
    for (int64_t t = 0; t < Tout; t++) {
        /* the row of the token entering the window a few positions ahead: rows are random in a
         * table larger than the caches, and a row's K taps are all used within K positions */
        const int64_t ahead = t + K - 1 - p0 + CG_PREFETCH;
        if (ahead >= 0 && ahead < T)
            for (int64_t off = 0; off < KM; off += 16) __builtin_prefetch(proj + rows[ahead] * KM + off, 0, 1);
        float *yt = relu_max ? acc : y + t * M;
        memcpy(yt, bias, (size_t)M * sizeof(float));
        for (int64_t j = 0; j < K; j++) {
            const int64_t pos = t + j - p0;
            if (pos < 0 || pos >= T) continue;
            const float *p = proj + rows[pos] * KM + j * M;
            if (sc) {
                const float a = sc[pos];
                for (int64_t m = 0; m < M; m++) yt[m] += a * p[m];
            } else {
                for (int64_t m = 0; m < M; m++) yt[m] += p[m];
            }
        }
        if (relu_max && t == 0) memcpy(y, acc, (size_t)M * sizeof(float));
        else if (relu_max)
            for (int64_t m = 0; m < M; m++) y[m] = acc[m] > y[m] ? acc[m] : y[m];
    }
    if (relu_max)
        for (int64_t m = 0; m < M; m++) y[m] = y[m] > 0.0f ? y[m] : 0.0f;
}

static enum vm_status cg_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state, struct vm_error *err) {
    struct cg_state *st = state;
    const int64_t C = st->C, M = st->M, K = st->K;
    if (vm_k_memo_stale(c, &st->memo)) {
        const float *W = vm_rt_in(c, s, CG_W)->data;
        const struct vm_rt_tensor *tb = vm_rt_in(c, s, CG_B);
        for (int64_t j = 0; j < K; j++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t ci = 0; ci < C; ci++) st->wm[(j * M + m) * C + ci] = W[(m * C + ci) * K + j];
        if (tb) memcpy(st->bias, tb->data, (size_t)M * sizeof(float));
    }
    enum vm_status r = vm_k_memo_update(c, s, &st->memo, CG_IDS, vm_rt_in(c, s, CG_E)->data, st->wm, NULL, err);
    if (r) return r;
    float *y = vm_rt_out(c, s, 0)->data;
    const int64_t B = st->B, T = st->T, Tout = st->Tout;
    if (Tout <= 0) {
        /* a text one token shorter than the taps (T' = 0): the unfused graph's ReduceMax over an
         * empty axis gives its identity, -inf (the ReLU before it saw no element) */
        if (st->relu_max)
            for (int64_t i = 0; i < B * M; i++) y[i] = -INFINITY;
        return VM_OK;
    }
    const int64_t ystride = st->relu_max ? M : Tout * M;
    const struct vm_rt_tensor *tsc = vm_rt_in(c, s, CG_S);
    const float *sc = tsc ? tsc->data : NULL;
#pragma omp parallel num_threads(st->n_acc) if (st->n_acc > 1)
    {
        float *acc = st->acc + omp_get_thread_num() * M;
#pragma omp for
        for (int64_t b = 0; b < B; b++)
            cg_row(st->memo.proj, st->memo.rows + b * T, sc ? sc + b * T : NULL, st->bias, y + b * ystride, acc, T, Tout, M, K, st->p0,
                   st->relu_max);
    }
    return VM_OK;
}

const struct vm_rt_kernel vm_rt_kernels_embed[] = {
    {"ConvGather", 3, 5, 1, 1, 0, cg_prepare, cg_run, cg_release},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
