/* explain: post-hoc explanations of a text classifier and the paper's interpretability metrics
 * (Chen & Ji 2020, section 5): LIME for text, SampleShapley, AOPC and post-hoc accuracy.
 * Definitions and defaults follow shared/reference/interpretability.md; every deviation from the
 * reference libraries is named where it happens.
 *
 * The model is seen only as a vm_classifier: class probabilities of a batch of token-id sequences,
 * each padded with the pad id to a common length T. Perturbed texts are never run one by one: they
 * are written into chunks of `batch` sequences and each chunk is one run of the compiled plan.
 * Every perturbation of one text is padded to the same T (the text's own length, at least the
 * model's minimum), so a score never depends on which other texts shared its batch.
 *
 * Randomness: one 64-bit seed per example, vm_explain_example_seed(seed, index), from which LIME
 * and SampleShapley derive their own streams; results do not depend on evaluation order, and the
 * seed is logged with each explanation. Nothing here prints.
 *
 * Words: the features are whole words. With a word vocabulary every id is a word (word_of NULL
 * below). With WordPiece a word is several ids ("play ##ing"): the caller passes word_of [n] from
 * vm_text_encode — the word of each id, 0 .. m-1 in text order, a word's pieces contiguous, -1 for
 * [CLS] / [SEP]. Removing a word removes all its pieces; -1 positions are never features: LIME,
 * SampleShapley and AOPC never remove them and post-hoc accuracy always keeps them in place.
 *
 * Shapes: n tokens (ids) of the text, m words, d distinct words (LIME features), N LIME samples,
 * P permutations, C classes, K deletion steps.
 */
#ifndef VM_EXPLAIN_H
#define VM_EXPLAIN_H

#include "train.h"

/* ---- the model as seen by the explainers ---- */

struct vm_classifier;
/* probs [n, C] of n (<= c->batch) sequences; seqs[i] has lens[i] ids and is padded to T. */
typedef enum vm_status (*vm_classifier_fn)(struct vm_classifier *c, const int32_t *const *seqs,
                                           const int32_t *lens, int64_t n, int32_t T, float *probs,
                                           struct vm_error *err);

struct vm_classifier {
    vm_classifier_fn run;
    void *ctx;                 /* the backend's own state (the feeder, a test's toy model) */
    int64_t n_classes;         /* C */
    int32_t pad_id;            /* the id of a removed-in-place word (Shapley, post-hoc) */
    int32_t min_len;           /* texts are padded to at least this many tokens */
    int32_t batch;             /* sequences per run (default 512) */
    int64_t forward_passes;    /* sequences evaluated so far (statistics) */
    int64_t runs;              /* plan runs so far */
    /* feeder backend (vm_classifier_init_feeder) */
    const struct vm_feeder *feeder;
    float *scratch;            /* [batch, C] */
    const int32_t **seq_buf;   /* [batch] */
    int32_t *len_buf;          /* [batch] */
};

/* Runs a compiled text model through its feeder. Partial chunks are rounded up to one of a few
 * batch sizes (by repeating the first sequence) so that a handful of shapes are bound per length. */
enum vm_status vm_classifier_init_feeder(struct vm_classifier *c, const struct vm_feeder *f,
                                         int32_t batch, struct vm_error *err);
void vm_classifier_free(struct vm_classifier *c);

/* Class probabilities [n, C] of any number of sequences, in chunks of c->batch, each padded to T
 * (0 = the longest, at least min_len). */
enum vm_status vm_classifier_probs(struct vm_classifier *c, const int32_t *const *seqs,
                                   const int32_t *lens, int64_t n, int32_t T, float *probs,
                                   struct vm_error *err);

/* ---- seeds ---- */

/* The seed of example `index` under the run's seed (what is logged per example). */
uint64_t vm_explain_example_seed(uint64_t seed, int64_t index);

/* A small splitmix64 stream; uniform integers are unbiased (rejection). */
struct vm_rng {
    uint64_t state;
};
void vm_rng_init(struct vm_rng *r, uint64_t seed);
uint64_t vm_rng_next(struct vm_rng *r);
/* Uniform on {0, ..., n - 1}, n >= 1. */
uint64_t vm_rng_below(struct vm_rng *r, uint64_t n);

/* Words of a text: 1 + the largest word_of entry (n when word_of is NULL). */
int32_t vm_words_count(const int32_t *word_of, int32_t n);
/* Per-word mean of per-id scores (the mask method's word score: mean q of its pieces); non-finite
 * scores are skipped, a word with none is NAN. word_of NULL copies score. out [n_words]. */
void vm_word_mean(const double *score /* [n] */, const int32_t *word_of, int32_t n, int32_t n_words, double *out);

/* ---- LIME for text (marcotcr/lime LimeTextExplainer defaults) ---- */

struct vm_lime_opts {
    int32_t samples;      /* N, 5000; row 0 is the unperturbed text */
    double kernel_width;  /* 25: pi = exp(-D^2 / (2 w^2)), D = 100 * cosine distance to row 0 */
    double alpha;         /* 1: ridge penalty on the weights, none on the intercept */
};
void vm_lime_opts_default(struct vm_lime_opts *o);

struct vm_lime {
    int32_t n;            /* tokens of the text */
    int32_t d;            /* distinct words = features, in order of first occurrence */
    int32_t *feature_of;  /* [n] position -> feature, -1 for [CLS] / [SEP] */
    int32_t *feature_id;  /* [d] feature -> token id (of a WordPiece word: its first piece) */
    double *weight;       /* [d] ridge weight of each feature for the explained class */
    double intercept;
    double score;         /* weighted R^2 of the surrogate on the samples */
    double local_pred;    /* surrogate at row 0: intercept + sum of weights */
    int32_t target;       /* the explained class */
    int32_t samples;
    uint64_t seed;        /* the LIME stream's seed (derived from the example seed) */
};
void vm_lime_free(struct vm_lime *l);

/* LIME's features: the distinct token ids of ids[0..n) (so all unknown words are one feature, the
 * <unk> the model sees) in first-occurrence order: feature_of [n], feature_id [n] (room for
 * n); returns d. */
int32_t vm_lime_features(const int32_t *ids, int32_t n, int32_t *feature_of, int32_t *feature_id);
/* The same over words (word_of NULL: vm_lime_features): one feature per distinct piece sequence
 * (bow=True on whole words: "play ##ing" twice is one feature), feature_of -1 for [CLS] / [SEP]. */
int32_t vm_lime_word_features(const int32_t *ids, int32_t n, const int32_t *word_of, int32_t *feature_of,
                              int32_t *feature_id);

/* The neighbourhood: Z [N, d] (1 = kept), row 0 all ones; for each later row the number of removed
 * features s ~ Uniform{1..d}, then s distinct features uniformly. Deterministic in seed. */
void vm_lime_sample(int32_t N, int32_t d, uint64_t seed, uint8_t *Z);
/* Kernel weights of the rows of Z: D = 100 (1 - sqrt(k/d)) with k kept (D = 100 when k = 0, as
 * sklearn's cosine distance of a zero vector), pi = exp(-D^2 / (2 w^2)). */
void vm_lime_kernel(const uint8_t *Z, int32_t N, int32_t d, double kernel_width, double *pi);

/* Weighted ridge with an unpenalised intercept, sklearn Ridge(alpha, fit_intercept=True) with
 * sample_weight: minimises sum_i w_i (y_i - b - x_i.beta)^2 + alpha |beta|^2. X [N, d] row-major.
 * Solved in double on the weighted-centred normal equations (equivalent to the (d+1)x(d+1) system
 * with a zero penalty on the intercept) by Cholesky. coef [d]. */
enum vm_status vm_ridge_fit(const double *X, int64_t N, int32_t d, const double *w, const double *y,
                            double alpha, double *coef, double *intercept, struct vm_error *err);

/* Explains ids[0..n) for class `target` (pass the predicted class; LIME's own default is label 1):
 * features are the distinct words (word_of, see the top), samples Z, deletes every occurrence of
 * each removed word with all its pieces (bow=True: the text gets shorter and
 * is padded to max(n, min_len)), and regresses p(target) on Z with kernel weights. Every one of
 * the d features keeps its weight from this single alpha fit. LIME's default feature selection
 * (num_features = 10, 'auto' -> 'highest_weights': rank by an alpha = 0.01 fit, refit on the top
 * 10) is not applied: it gives the same weights when d <= 10 and otherwise only drops features,
 * while AOPC and the report want every feature's weight. Deviation, as recommended by the spec:
 * the features are the model's own tokens, not LIME's \W+ regex words. */
enum vm_status vm_lime_explain(struct vm_classifier *c, const int32_t *ids, int32_t n,
                               const int32_t *word_of, int32_t target, uint64_t example_seed,
                               const struct vm_lime_opts *o, struct vm_lime *out,
                               struct vm_error *err);

/* ---- SampleShapley (permutation sampling, Captum ShapleyValueSampling walk) ---- */

/* Default permutations: about the forward passes of LIME (5000) on a 20-token text,
 * 5000 / (20 + 1) = 238. */
#define VM_SHAPLEY_DEFAULT_PERMUTATIONS 238

struct vm_shapley {
    int32_t n;            /* features = word positions (m; token positions for a word vocabulary) */
    double *phi;          /* [n] mean marginal gain in p(target) */
    double *perm_sum;     /* [P] sum of one permutation's credits (= f_full - f_base) */
    double f_full, f_base;/* p(target) of the text and of the all-pad baseline */
    int32_t target;
    int32_t permutations;
    uint64_t seed;        /* the Shapley stream's seed */
};
void vm_shapley_free(struct vm_shapley *s);

/* Each of P uniformly random permutations of the m words walks from the all-pad text (same
 * length, pad id in place of every piece of every word; [CLS] / [SEP] stay) to the full text,
 * adding one word (all its pieces) at a time, and credits each word with the gain in p(target).
 * The two ends are shared by all permutations, so the cost is 2 + P (m - 1) forward passes. */
enum vm_status vm_shapley_explain(struct vm_classifier *c, const int32_t *ids, int32_t n,
                                  const int32_t *word_of, int32_t target, uint64_t example_seed, int32_t permutations,
                                  struct vm_shapley *out, struct vm_error *err);

/* ---- rankings ---- */

/* Positions by score descending, ties by earlier position; n entries into order. */
void vm_rank_positions(const double *score, int32_t n, int32_t *order);
/* LIME's "for" list (Nguyen 2018): features with weight > 0, weight descending, ties by first
 * occurrence. Returns the count. */
int32_t vm_lime_top_features(const struct vm_lime *l, int32_t *order);

/* ---- AOPC ---- */

/* Cumulative deletion: delta[k-1] = p0 - p(target | ids without the features order[0..k)), for
 * k = 1 .. min(K, n_order). A feature covers every position i with feature_of[i] == it
 * (feature_of NULL: features are positions): pass word_of to delete words with all their pieces,
 * or LIME's feature_of; a -1 position ([CLS] / [SEP]) is never deleted. The shortened texts are padded to max(n, min_len).
 * *steps = min(K, n_order). */
enum vm_status vm_aopc_deltas(struct vm_classifier *c, const int32_t *ids, int32_t n,
                              const int32_t *feature_of, const int32_t *order, int32_t n_order,
                              int32_t K, int32_t target, double p0, double *delta, int32_t *steps,
                              struct vm_error *err);
/* AOPC at k from one text's deltas: sum_{j <= min(k, steps)} delta / (k + 1). The denominator stays
 * k + 1 when fewer words exist (Nguyen 2018). */
double vm_aopc_value(const double *delta, int32_t steps, int32_t k);

/* The AOPC variants the ablation study measures (issue 12; interpretability.md §3 for the default):
 * how a word is removed, one word or the top k at a time, and what drop is measured. */
enum vm_aopc_removal {
    VM_AOPC_DELETE,  /* the word's pieces leave the text, which gets shorter (default) */
    VM_AOPC_REPLACE  /* each piece is replaced in place by replace_id (the pad or unknown id) */
};
enum vm_aopc_score {
    VM_AOPC_PROB,    /* p0 - p(target) (default) */
    VM_AOPC_LOGODDS  /* log-odds of target before minus after, p clamped to [1e-7, 1 - 1e-7] */
};
struct vm_aopc_opts {
    enum vm_aopc_removal removal;
    int32_t replace_id;
    bool single;               /* step k removes order[k-1] alone instead of order[0..k) */
    enum vm_aopc_score score;
};
void vm_aopc_opts_default(struct vm_aopc_opts *o);
/* vm_aopc_deltas with the variants above (vm_aopc_deltas = the defaults). */
enum vm_status vm_aopc_deltas_opts(struct vm_classifier *c, const int32_t *ids, int32_t n,
                                   const int32_t *feature_of, const int32_t *order, int32_t n_order,
                                   int32_t K, int32_t target, double p0, const struct vm_aopc_opts *o,
                                   double *delta, int32_t *steps, struct vm_error *err);
/* AOPC divided by k (by_k) or by k + 1 (vm_aopc_value). */
double vm_aopc_value_norm(const double *delta, int32_t steps, int32_t k, bool by_k);

/* ---- post-hoc accuracy ---- */

/* Post-hoc accuracy terms of one text (L2X procedure): for k = 1..kmax, keep the k words with
 * the highest importance (ties: earlier first) with all their pieces, set every other word's pieces
 * to the pad id (same length, in place; [CLS] / [SEP] stay), and set match[k-1] = 1 when the argmax
 * equals full_pred, the argmax on the full text (full_pred < 0: computed here). k >= m keeps every
 * word: the text is unchanged and counts as a match without a run. */
enum vm_status vm_posthoc_text(struct vm_classifier *c, const int32_t *ids, int32_t n, const int32_t *word_of,
                               const double *importance /* [m] per word */, int32_t kmax,
                               int32_t full_pred, uint8_t *match /* [kmax] */, struct vm_error *err);

/* ---- global importance per whole word ---- */

/* The distinct words of a corpus with a score: a word is a piece plus its following ## continuations
 * as they occur in the texts (vm_text_encode's word_of; [CLS] / [SEP] are no words); with the word
 * tokenizer every token is a word. A word's score is the frequency-weighted mean, over its
 * occurrences, of the mean id_score of its pieces (for a VMASK model id_score = q: since q depends
 * on the piece alone this is the mean q of the word's pieces; non-finite piece scores are skipped).
 * Words are keyed by their text (the pieces joined without ##), in first-occurrence order. */
struct vm_word_table {
    int64_t n;
    char **words;    /* [n] the word's text */
    char **pieces;   /* [n] its pieces as the model sees them, space-separated ("play ##ing") */
    double *score;   /* [n] */
    int64_t *freq;   /* [n] occurrences in the texts */
    /* building state */
    int64_t cap;
    int64_t *hash;
    uint64_t hash_cap;
};
enum vm_status vm_word_table_build(const struct vm_tokenizer *t, const struct vm_vocab *v, char *const *texts,
                                   int64_t n_texts, int32_t max_len, const double *id_score /* [v->n] */,
                                   struct vm_word_table *out, struct vm_error *err);
void vm_word_table_free(struct vm_word_table *wt);

/* ---- helpers ---- */

int32_t vm_argmax_f(const float *p, int64_t n);

#endif
