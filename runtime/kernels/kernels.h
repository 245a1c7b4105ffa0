/* kernels: helpers every kernel family uses — building oneDNN primitives in user-scratchpad mode
 * (so one shared scratch buffer serves every step), creating handle-less memory objects whose data
 * pointer is set at each run, and executing with the scratchpad attached. Also the naive C
 * reference entry points that tests call directly. */
#ifndef VM_KERNELS_H
#define VM_KERNELS_H

#include <string.h>

#include "../rt.h"

struct vm_dnnl_prim {
    dnnl_primitive_t prim;
    dnnl_memory_t scratch; /* NULL when the primitive needs no scratchpad */
};

/* Creates the primitive descriptor (user scratchpad), raises c->scratch_need, creates the
 * primitive. When pd_out is non-NULL the descriptor is kept for the caller (backward hints and
 * memory-descriptor queries) and must be destroyed by it. */
enum vm_status vm_dnnl_prim_build(struct vm_rt_ctx *c, const struct vm_rt_step *s, const void *op_desc,
                                  const_dnnl_primitive_desc_t hint, const_dnnl_primitive_attr_t attr,
                                  struct vm_dnnl_prim *p, dnnl_primitive_desc_t *pd_out,
                                  struct vm_error *err);
void vm_dnnl_prim_destroy(struct vm_dnnl_prim *p);
/* Executes with the scratchpad argument appended (args must have room for one more entry). */
enum vm_status vm_dnnl_prim_exec(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                                 const struct vm_dnnl_prim *p, int nargs, dnnl_exec_arg_t *args,
                                 struct vm_error *err);

/* Simple forms for primitives without scratchpad needs worth sharing (eltwise, binary). */
enum vm_status vm_dnnl_build(struct vm_rt_ctx *c, const struct vm_rt_step *s, const void *op_desc,
                             const_dnnl_primitive_desc_t hint, dnnl_primitive_t *prim,
                             struct vm_error *err);
enum vm_status vm_dnnl_exec(struct vm_rt_ctx *c, const struct vm_rt_step *s, dnnl_primitive_t prim,
                            int nargs, const dnnl_exec_arg_t *args, struct vm_error *err);
enum vm_status vm_dnnl_mem2(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                            const dnnl_memory_desc_t *md1, dnnl_memory_t *m1,
                            const dnnl_memory_desc_t *md2, dnnl_memory_t *m2, struct vm_error *err);
enum vm_status vm_dnnl_mem(struct vm_rt_ctx *c, const struct vm_rt_step *s,
                           const dnnl_memory_desc_t *md, dnnl_memory_t *m, struct vm_error *err);

/* True when value v cannot change between runs of this model unless a caller takes a writable
 * pointer (which bumps m->weights_gen): the plan has no backward or optimizer steps and v lives in
 * the persistent region (an initializer or parameter). Kernels then pack such weights into their
 * primitive's layout once, and again only when weights_gen moves. */
bool vm_rt_value_const(const struct vm_rt_ctx *c, int32_t v);

/* Memoized projections of vocabulary rows (runtime/kernels/embed.c): proj[v] = E[v] Wm^T + bias
 * [width] for every row v an ids input has met, kept while the weights stay the same. */
/* The projected rows of one step, shared by all of a model's shape instances (one runs at a time):
 * a row computed for one batch shape is read back by every other, and the table is held once per
 * model, not once per cached instance (64 instances of an IMDB CNN held 18 GB of copies). */
struct vm_k_memo_table {
    int64_t V, width;
    uint64_t gen;   /* weights_gen of the rows in proj; UINT64_MAX: none */
    float *proj;    /* [V, width] */
    uint8_t *have;  /* [V] row computed */
};
struct vm_k_memo {
    int64_t V, C, width; /* vocabulary, embedding size, projected row width */
    bool cache;          /* the weights are constant: rows stay valid until weights_gen moves */
    bool ref;            /* naive loops instead of oneDNN's sgemm (reference kernels) */
    uint64_t gen;        /* weights_gen this instance derived its own copies (weights, bias) from */
    struct vm_k_memo_table *t; /* the model's table for this step */
    float *proj;         /* = t->proj */
    int64_t *rows;       /* [n_ids] the ids of the last update, in [0, V) */
    int64_t *todo;       /* [n_ids] rows to compute */
};
/* For step s of c's model (its table made on first use, freed with the model). */
enum vm_status vm_k_memo_init(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct vm_k_memo *mm, int64_t V, int64_t C, int64_t width,
                              int64_t n_ids, bool cache, bool ref, struct vm_error *err);
void vm_k_memo_free(struct vm_k_memo *mm);
/* True when the next update starts from an empty memo (the caller refreshes what it derives from
 * the weights first). */
bool vm_k_memo_stale(const struct vm_rt_ctx *c, const struct vm_k_memo *mm);
/* Checks the ids (input ids_index; Gather's range [-V, V)), fills mm->rows and projects the rows
 * not met yet with Wm [width, C] (row-major) and bias [width] (NULL: none). */
enum vm_status vm_k_memo_update(struct vm_rt_ctx *c, const struct vm_rt_step *s, struct vm_k_memo *mm, int ids_index, const float *E,
                                const float *Wm, const float *bias, struct vm_error *err);
/* C [M,N] = beta C + A [M,K] B [N,K]^T, row-major: oneDNN's sgemm, or double-accumulating loops. */
dnnl_status_t vm_k_gemm_nt(bool ref, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                           float beta, float *C, int64_t ldc);

/* VIEW kernels' run (copy only when storage was not aliased). */
/* An int scalar the compiler stored in attribute `attr` when it knew it (CumSum's axis, Trilu's k),
 * else read now from input i (int64 or int32, one element). */
enum vm_status vm_k_int_attr_or_input(struct vm_rt_ctx *c, const struct vm_rt_step *s, const char *attr, int i,
                                      int64_t *out, struct vm_error *err);
enum vm_status vm_k_view_run(struct vm_rt_ctx *c, const struct vm_rt_step *s, void *state,
                             struct vm_error *err);

/* Token ids (int32 or int64 tensors) and the ids a mask layer leaves alone: `pad` and the `skip`
 * ids (special tokens such as [CLS] and [SEP]), read from a step's attributes. */
/* e^x for x in [-87, 88] (the caller clamps): Cephes' expf polynomial, about 1 ulp, written without
 * branches or calls so that loops calling it vectorize (the LSTM gates in rnn.c, GeluD in
 * elementwise.c). n = round(x / ln 2) by the 1.5 * 2^23 trick, 2^n from n's bits. */
static inline __attribute__((always_inline)) float vm_k_expf(float x) {
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t sb = (uint32_t)(ti - 0x4B400000 + 127) << 23; /* 2^n */
    float sc;
    memcpy(&sc, &sb, sizeof sc);
    return p * sc;
}

static inline int64_t vm_k_id_at(const struct vm_rt_tensor *t, int64_t i) {
    return t->dtype == VM_DTYPE_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}
struct vm_k_skip {
    int64_t pad;
    int64_t ids[16];
    int n;
};
static inline void vm_k_skip_init(struct vm_k_skip *k, const struct vm_rt_step *s) {
    k->pad = vm_rt_attr_int(s, "pad", -1);
    k->n = vm_rt_attr_ints(s, "skip", k->ids, 16);
    if (k->n < 0) k->n = 0;
}
static inline bool vm_k_skip_special(const struct vm_k_skip *k, int64_t id) {
    for (int j = 0; j < k->n; j++)
        if (id == k->ids[j]) return true;
    return false;
}
static inline bool vm_k_skipped(const struct vm_k_skip *k, int64_t id) { return id == k->pad || vm_k_skip_special(k, id); }

/* Naive C references (also the fallback paths). */
void vm_ref_unary_f32(const char *op, const float *x, float *y, int64_t n);
void vm_ref_eltwise_grad_f32(const char *alg, const float *dy, const float *t, float *dx, int64_t n);

#endif
