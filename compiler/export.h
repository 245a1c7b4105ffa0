/* export: writes the trained model back to ONNX so any runtime runs it unchanged — the original
 * graph with trained initializers, plus the learned mask:
 *  - mask right after the word-embedding Gather: the mask depends on the word alone, so it is
 *    exported exactly and cheaply as a V-vector `vmask.word_keep` of keep probabilities, applied
 *    with Gather(word_keep, ids) -> Unsqueeze -> Mul;
 *  - mask elsewhere (--mask-after): the mask network itself (MatMul, Add, Tanh, MatMul, Add,
 *    Softmax, Gather index 1, Unsqueeze, Mul).
 *  - L2X: a per-word score table `l2x.word_score` and the inference-time hard top-k from standard
 *    ops: a token is kept when fewer than k real tokens of its text score strictly higher
 *    (Greater of the scores against themselves, ReduceSum, Less; `l2x.word_kind` marks pad 0,
 *    ranked words 1, always-kept special tokens 2).
 *  - IBA: a per-word table `iba.word_lambda` and the inference-time bottleneck with the noise at
 *    its mean: z = mu + lambda (x - mu), mu = `iba.mu`.
 * A model whose convolutions need texts of at least min_seq tokens (a CNN's widest kernel) pads its
 * token ids to that length inside the graph (Shape, Gather, Less, Sub, Where, Concat, Pad with
 * the pad id: nodes named VM_MINLEN_PREFIX..., compiler.h), as vmaskc's own feeder does, so other
 * runtimes take a 1-token text; `word_mask` is cut back to the text's length (Slice).
 * Optionally a second output `word_mask` [B, T]: the method's per-token importance (VMASK q, L2X
 * score, IBA lambda). Vocabulary and VMASK settings go into
 * metadata_props so vmaskc can tokenize for the exported model without --vocab.
 */
#ifndef VM_EXPORT_H
#define VM_EXPORT_H

#include "../onnx/onnx_io.h"
#include "ir.h"

/* Returns the trained bytes of a parameter (float32, row-major) or NULL when it was not trained. */
typedef const void *(*vm_param_lookup)(void *ctx, const char *name, size_t *nbytes);

struct vm_export_opts {
    bool mask;            /* the model has a mask layer */
    int method;           /* enum vm_mask_method of that layer (0 = VMASK) */
    int64_t l2x_k;        /* L2X: tokens kept per text */
    int64_t pad_id;       /* L2X, IBA: the pad id (-1 none), never selected / never noised */
    int seq_axis;         /* L2X: the sequence axis of the token ids (1 for [B, T], 0 for [T, B]) */
    const float *iba_mu;  /* IBA: the noise mean per embedding dimension [E] */
    const char *mask_after; /* NULL: after the word embedding */
    const char *embedding;  /* embedding override as given to training */
    bool mask_output;     /* add the `word_mask` output */
    const char *const *meta_keys; /* extra metadata_props */
    const char *const *meta_values;
    int n_meta;
    /* Largest model written inline; beyond it the large initializers go to `<path>.data`
     * (vm_onnx_save_model_split). 0: protobuf's 2 GiB limit. */
    uint64_t max_inline;
    /* Token ids whose keep probability is 1 in the exported per-word table (the special tokens
     * training kept out of the mask). */
    const int64_t *keep_ids;
    int n_keep_ids;
    /* The shortest text the model takes (vmaskc.min_seq of the training plan) and the id shorter
     * texts are padded with; min_seq > 1 adds the min-length pad block (opset >= 11, a graph with
     * the token ids as its only input). */
    int64_t min_seq;
    int64_t min_pad_id;
};

/* `g` is the imported (inference) graph of `orig`, used to find the embedding and shapes. */
enum vm_status vm_export_onnx(const Onnx__ModelProto *orig, const struct vm_graph *g,
                              const struct vm_export_opts *o, vm_param_lookup lookup, void *ctx,
                              const char *path, struct vm_error *err);

/* Frees the raw_data of every initializer of `orig` that lookup supplies (a trained parameter the
 * runtime now holds, same size), and forgets it in g where g borrowed it: vm_export_onnx takes
 * those from lookup anyway, so a training run keeps only the frozen weights twice (BERT-base:
 * 330 MiB less). Returns the bytes freed. */
size_t vm_export_release_trained(Onnx__ModelProto *orig, struct vm_graph *g, vm_param_lookup lookup, void *ctx);

/* Keep probability q(w) of every vocabulary word for a mask after the embedding: table [V, E],
 * mask weights W1 [E, H], b1 [H], W2 [H, 2], b2 [2]; out [V]. */
void vm_mask_word_keep(const float *table, int64_t V, int64_t E, const float *w1, const float *b1,
                       int64_t H, const float *w2, const float *b2, float *out);

/* Per-word importance of a mask after the word embedding, table [V, E]: VMASK q (see above), L2X
 * score, IBA lambda; parameters read through lookup. out [V]. Error when a parameter is missing. */
enum vm_status vm_mask_word_importance(int method, const float *table, int64_t V, int64_t E, vm_param_lookup lookup, void *ctx,
                                       float *out, struct vm_error *err);

#endif
