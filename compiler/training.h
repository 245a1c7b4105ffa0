/* training: turns an imported classifier graph into a training graph — parameters marked, the
 * VMASK layer inserted after the word embedding, the loss (cross-entropy + beta * information
 * loss), the backward pass (autodiff.c) and the Adam optimizer steps. The result compiles to one
 * plan whose forward range, run in inference mode, is also the evaluation graph.
 *
 * Inputs the plan gains: `labels` [B] int64, `beta` [] float, `lr` [] float (and `vmask.noise`
 * [B,T,2] when noise_input is set, for tests). Outputs it gains after the model's own:
 * `loss`, `loss.ce`, `loss.info`, `vmask.q` [B,T] (the keep probabilities). Metadata records
 * their names and the mask settings so tools can find them in a plan.
 */
#ifndef VM_TRAINING_H
#define VM_TRAINING_H

#include "ir.h"

struct vm_train_opts {
    const char *embedding;   /* Gather node or table name (default: detected) */
    const char *mask_after;  /* insert the mask after this value instead */
    bool no_mask;            /* train the plain model (the "base" baseline) */
    int64_t mask_hidden;     /* H of Linear(E->H) -> tanh -> Linear(H->2); default 100 */
    double tau;              /* Gumbel-softmax temperature; default 1 */
    double dropout;          /* > 0: add Dropout(p) before the classifier layer */
    const char *const *freeze;
    int n_freeze;
    bool train_embedding;    /* default: the word embedding is frozen, as in the paper */
    int64_t pad_id;          /* pad token id for the information loss, -1 = none */
    /* Token ids the mask never drops (WordPiece [CLS], [SEP], [PAD]): their mask is fixed at 1,
     * they get no mask gradient and stay out of the information loss. At most 16. */
    const int64_t *keep_ids;
    int n_keep_ids;
    const char *const *input_roles; /* --input-role NAME=ROLE overrides */
    int n_input_roles;
    double beta1, beta2, epsilon, weight_decay, clip; /* Adam and clipping; clip 0 = off */
    uint64_t seed;           /* mask-layer initialization */
    bool noise_input;        /* VMask takes its Gumbel noise as an input (parity tests) */
    bool unfused_mask;       /* build the mask network from MatMul/Add/Tanh rows even when it
                              * could run once per distinct word (VMaskNet); tests compare both */
};

void vm_train_opts_default(struct vm_train_opts *o);

struct vm_train_info {
    int32_t embedding_node;  /* the word Gather, -1 if none */
    int32_t ids_input;       /* graph input holding token ids, -1 if none */
    int64_t n_classes;       /* concrete class count of the logits */
    int64_t n_params, n_trainable; /* elements */
    bool softmax_output;     /* the model ended in Softmax: the loss uses its input */
};

enum vm_status vm_build_training(struct vm_graph *g, const struct vm_train_opts *o,
                                 struct vm_train_info *info, struct vm_error *err);

/* Records in g->meta what a runtime needs to feed text to the plan: the token-id input and its
 * batch axis, the class count, whether the output is already a probability distribution, and the
 * shortest sequence every convolution accepts (vmaskc.ids_input, vmaskc.ids_batch_axis,
 * vmaskc.classes, vmaskc.probs_output, vmaskc.min_seq). `embedding` as for vm_find_embedding. */
enum vm_status vm_annotate_text_model(struct vm_graph *g, const char *embedding, const char *const *input_roles,
                                      int n_input_roles, struct vm_error *err);

/* vmaskc.role.NAME for every integer [batch, seq] input (compiler/roles.c): `specs` are the
 * user's NAME=ROLE overrides; the rest are found by use in the graph, then by name. emb is the
 * word-embedding Gather (-1 none). */
enum vm_status vm_annotate_input_roles(struct vm_graph *g, int32_t emb, const char *const *specs, int n_specs,
                                       struct vm_error *err);
bool vm_role_name_valid(const char *role);

/* Mask-layer parameter names (also used by export and by the parity tests). */
#define VM_MASK_W1 "vmask.fc1.weight" /* [E, H] (x @ W1) */
#define VM_MASK_B1 "vmask.fc1.bias"   /* [H] */
#define VM_MASK_W2 "vmask.fc2.weight" /* [H, 2] */
#define VM_MASK_B2 "vmask.fc2.bias"   /* [2] */

#endif
