/* training: turns an imported classifier graph into a training graph — parameters marked, the
 * mask layer of the chosen method (VMASK, L2X or IBA) inserted after the word embedding, the loss
 * (cross-entropy + beta * the layer's information loss), the backward pass (autodiff.c) and the Adam optimizer steps. The result compiles to one
 * plan whose forward range, run in inference mode, is also the evaluation graph.
 *
 * Inputs the plan gains: `labels` [B] int64, `beta` [] float, `lr` [] float (and the layer's noise
 * when noise_input is set, for tests). Outputs it gains after the model's own: `loss`, `loss.ce`,
 * then with a mask layer its per-token importance [B,T] (VMASK q, L2X score, IBA lambda) and, for
 * VMASK and IBA, the information loss. Metadata records their names (vmaskc.out.*) and the method
 * (vmaskc.method) so tools can find them in a plan.
 */
#ifndef VM_TRAINING_H
#define VM_TRAINING_H

#include "ir.h"

/* How the classifier is trained (the five training methods of the paper's Table 3): the plain
 * model, the plain model with L2 weight decay, or one of three mask layers after the word
 * embedding — L2X (Chen et al. 2018), IBA (Schulz et al. 2020) or VMASK. */
enum vm_mask_method { VM_METHOD_VMASK = 0, VM_METHOD_BASE, VM_METHOD_L2, VM_METHOD_L2X, VM_METHOD_IBA };

/* "vmask", "base", "l2", "l2x", "iba" (the --method and vmaskc.method spelling). */
const char *vm_method_name(enum vm_mask_method m);
/* false when s names no method */
bool vm_method_parse(const char *s, enum vm_mask_method *out);
static inline bool vm_method_has_mask(enum vm_mask_method m) { return m == VM_METHOD_VMASK || m == VM_METHOD_L2X || m == VM_METHOD_IBA; }

/* IBA's noise statistics: mean and standard deviation (n - 1 denominator, floored at 0.01) per
 * embedding dimension of the rows of table [V, E] selected by the n token ids, pad and the skip
 * ids left out (Welford's algorithm). Returns the number of tokens counted. */
int64_t vm_iba_estimate(const float *table, int64_t V, int64_t E, const int32_t *ids, int64_t n, int64_t pad, const int64_t *skip,
                        int n_skip, float *mu, float *sigma);

struct vm_train_opts {
    const char *embedding;   /* Gather node or table name (default: detected) */
    const char *mask_after;  /* insert the mask after this value instead */
    enum vm_mask_method method; /* default VMASK */
    bool no_mask;            /* train the plain model (the "base" baseline), whatever the method */
    int64_t mask_hidden;     /* H of Linear(E->H) -> tanh -> Linear(H->2); default 100 */
    double tau;              /* Gumbel-softmax temperature; default 1 */
    int64_t l2x_k;           /* L2X: tokens selected per text; default 10 */
    double l2x_tau;          /* L2X: Concrete temperature; default 0.5 */
    const float *iba_mu, *iba_sigma; /* IBA: [iba_dim] noise statistics (vm_iba_estimate) */
    int64_t iba_dim;
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
    bool noise_input;        /* the mask layer takes its noise as an input (parity tests): vmask.noise
                              * [B,T,2], l2x.noise [k,B,T] (Gumbel), iba.noise [B,T,E] (N(0,1)) */
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
#define VM_L2X_W "l2x.fc.weight"      /* [E, 1] (no bias: it would not change the selection) */
#define VM_IBA_W "iba.fc.weight"      /* [E, 1] */
#define VM_IBA_B "iba.fc.bias"        /* [1] */
#define VM_IBA_MU "iba.mu"            /* [E] constant */
#define VM_IBA_SIGMA "iba.sigma"      /* [E] constant */

#endif
