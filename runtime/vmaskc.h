/* vmaskc.h — the public C API of libvmaskc: load an exported (or plain) ONNX text classifier or a
 * .vmplan, tokenize with its stored vocabulary, predict class probabilities and per-token keep
 * probabilities for a batch of texts, read the global word importance, explain a text (LIME,
 * SampleShapley, the mask), and train a classifier's mask layer (VMASK, Chen & Ji 2020; L2X; IBA).
 *
 * This header is the whole interface: it includes only the C standard library, and the library
 * exports nothing but the vmaskc_* symbols declared here.
 *
 * Status and errors. Every function that can fail returns a vmaskc_status (VMASKC_OK = 0) and
 * takes a caller-owned vmaskc_error* as its last argument (NULL when the caller does not want the
 * message). On failure the error holds the status and a one-line message that names the thing at
 * fault — the file (file:line where it applies), the argument, or the text ("text 3 has no
 * tokens") — and, for calls over a batch of texts, `item`, the 0-based index of the text at fault
 * (-1 otherwise). On success the error is left untouched. A NULL required argument is
 * VMASKC_EINVAL naming the argument, never a crash. Outputs are written only on success: after a
 * failure every *out pointer is NULL.
 *
 * Ownership. Handles and results come from the library and go back to it: vmaskc_model_close,
 * vmaskc_tokens_free, vmaskc_prediction_free, vmaskc_evaluation_free, vmaskc_explanation_free,
 * vmaskc_measurement_free, vmaskc_dataset_free, vmaskc_words_free, vmaskc_whole_words_free (each
 * accepts NULL); vmaskc_dataset_token_counts' array goes to free(). Strings returned by getters
 * (class names, metadata) belong to the model and stay valid until it is closed. Arguments are only read during the call and may be freed after it.
 *
 * Threads. The library keeps no global mutable state of its own, so different models may be used
 * from different threads at once. One vmaskc_model is NOT thread-safe: calls on the same model must
 * not overlap (a model owns its compiled shapes and scratch memory); give each thread its own model
 * or serialise with a lock. Computation itself runs on OpenMP/oneDNN threads; a `threads` option
 * calls omp_set_num_threads, which sets the count for parallel regions the calling thread starts.
 *
 * Versions. VMASKC_VERSION_* describe the header; vmaskc_version() the library actually loaded.
 * The shared library's soname carries the major version (libvmaskc.so.0); while it is 0 the ABI
 * may change between minor versions. Option structs are filled by their _init function first, so
 * fields added later get defaults.
 */
#ifndef VMASKC_H
#define VMASKC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMASKC_VERSION_MAJOR 0
#define VMASKC_VERSION_MINOR 3
#define VMASKC_VERSION_PATCH 0
#define VMASKC_VERSION "0.3.0"

#if defined(VMASKC_BUILDING) && defined(__GNUC__)
#define VMASKC_API __attribute__((visibility("default")))
#else
#define VMASKC_API
#endif

/* "0.3.0": the version of the library loaded at run time. */
VMASKC_API const char *vmaskc_version(void);

typedef enum vmaskc_status {
    VMASKC_OK = 0,
    VMASKC_EINVAL,       /* bad argument or bad input (a NULL pointer, a text without tokens, a bad label) */
    VMASKC_ENOMEM,       /* out of memory, or over the model's memory limit */
    VMASKC_EIO,          /* a file could not be opened, read or written */
    VMASKC_EFORMAT,      /* a file is not what it claims to be (protobuf, plan, data line) */
    VMASKC_EUNSUPPORTED, /* valid input vmaskc does not handle (an op, a model without a word embedding) */
    VMASKC_EDNNL,        /* oneDNN refused */
    VMASKC_EINTERRUPTED, /* stopped: a progress callback returned non-zero */
    VMASKC_EINTERNAL,
} vmaskc_status;

/* A short description of the status: "invalid input", "i/o error", ... */
VMASKC_API const char *vmaskc_status_name(vmaskc_status s);

typedef struct vmaskc_error {
    vmaskc_status code;
    int64_t item;      /* batch calls: index of the text at fault; -1 when not about one text */
    char message[1024];
} vmaskc_error;

/* ---- models ---- */

typedef struct vmaskc_model vmaskc_model;

/* How data files are read (the commands' --format, --text-column, ...): label<TAB>text TSV, CSV
 * (RFC 4180) or JSON Lines, each plain or .gz. All zero (NULL) = the defaults. */
typedef struct vmaskc_data_options {
    const char *format;        /* "tsv", "csv" or "jsonl"; NULL = from the name (.csv, .jsonl/.ndjson, else TSV) */
    const char *text_column;   /* CSV: a header name or 0-based index; NULL = "text" with a header, else 1 */
    const char *label_column;  /* CSV: likewise; NULL = "label" with a header, else 0 */
    int header;                /* CSV: 1 the first record is a header, -1 it is not, 0 = detect */
    const char *text_field;    /* JSON Lines: NULL = "text" */
    const char *label_field;   /* JSON Lines: NULL = "label" */
    int replace_invalid;       /* read invalid UTF-8 and NUL bytes as U+FFFD instead of an error */
} vmaskc_data_options;

/* An ONNX input's shape fixed when the model is compiled (`--shape NAME=D0,D1,...`): for a model
 * whose input dimensions the file leaves unknown, or to pad every text to a fixed length. */
typedef struct vmaskc_input_shape {
    const char *input;      /* the graph input's name */
    int rank;               /* 1..8 */
    int64_t dims[8];        /* [rank], each >= 0 */
} vmaskc_input_shape;

/* What an ONNX input of a text classifier holds when its name does not say (`--input-role NAME=ROLE`). */
typedef struct vmaskc_input_role {
    const char *input;      /* the graph input's name */
    const char *role;       /* "ids", "mask", "types" or "positions" */
} vmaskc_input_role;

typedef struct vmaskc_model_options {
    int threads;            /* OpenMP threads, 0 = OpenMP's default */
    size_t max_memory;      /* bytes the model may hold, 0 = 80% of physical memory */
    const char *vocab;      /* vocab.txt to use instead of the one stored in the model (NULL) */
    const char *tokenizer;  /* "words", "kim" (Kim 2014's ASCII cleanup) or "wordpiece" to force one; NULL = the model's */
    int lowercase;          /* -1 = the model's setting, 0 = keep case, 1 = lower-case */
    const char *embedding;  /* the word-embedding Gather node or table when not detected (NULL) */
    vmaskc_data_options data; /* how vmaskc_evaluate and vmaskc_words_count read data files */
    /* since 0.2 */
    const char *pad;        /* the padding token of `vocab` (NULL: the model's, else <pad> or [PAD]) */
    const char *unk;        /* its unknown-word token (NULL: the model's, else <unk> or [UNK]) */
    int split_punct;        /* words tokenizer: -1 = the model's setting, 0 = punctuation stays on words, 1 = split */
    int allow_short_vocab;  /* accept a `vocab` with fewer tokens than the embedding table has rows */
    const vmaskc_input_shape *shapes; /* [n_shapes] (at most 16) input shapes, ONNX models only */
    int n_shapes;
    const vmaskc_input_role *input_roles; /* [n_input_roles] (at most 8) input roles, ONNX models only */
    int n_input_roles;
    int reference_kernels;  /* run the plain C reference kernels instead of oneDNN (slow; for checks) */
    /* since 0.3: sentence pairs (WordPiece): a text "a<TAB>b" is [CLS] a [SEP] b [SEP] with token types 1
     * on b, as Hugging Face's tokenizer(a, b). A model trained with pairs (metadata vmaskc.pairs=1)
     * reads them without these. */
    int pairs;                    /* 1: read texts with a TAB as pairs */
    const char *text_pair_column; /* data files, CSV: the pair's second text column (name or index); implies pairs */
    const char *text_pair_field;  /* data files, JSON Lines: the pair's second text field; implies pairs */
} vmaskc_model_options;

VMASKC_API void vmaskc_model_options_init(vmaskc_model_options *o);

/* Opens a classifier: an ONNX file (compiled in memory for inference) or a .vmplan made by
 * `vmaskc compile` from one. Its vocabulary and tokenizer come from the vmaskc metadata that
 * `vmaskc train` stores, or from o->vocab. o may be NULL (defaults). */
VMASKC_API vmaskc_status vmaskc_model_open(const char *path, const vmaskc_model_options *o, vmaskc_model **out,
                                           vmaskc_error *err);
VMASKC_API void vmaskc_model_close(vmaskc_model *m);

/* C, the number of classes. */
VMASKC_API vmaskc_status vmaskc_model_num_classes(const vmaskc_model *m, int *n, vmaskc_error *err);
/* Class c's name: from the model's `vmaskc.labels` metadata (one name per line) when present,
 * else its number ("0", "1", ...). */
VMASKC_API vmaskc_status vmaskc_model_class_name(const vmaskc_model *m, int c, const char **name, vmaskc_error *err);
/* The model's mask: *method "vmask", "l2x", "iba" (importance named "q", "score", "lambda"), or
 * NULL and NULL when it has no word-level mask. Either pointer may be NULL. */
VMASKC_API vmaskc_status vmaskc_model_mask(const vmaskc_model *m, const char **method, const char **importance,
                                           vmaskc_error *err);
/* The value of a metadata key (ONNX metadata_props or plan meta), *value NULL when absent. */
VMASKC_API vmaskc_status vmaskc_model_meta(const vmaskc_model *m, const char *key, const char **value, vmaskc_error *err);
/* How the model splits text: "words" (Unicode words), "kim" (Kim 2014's ASCII cleanup) or
 * "wordpiece" (BERT); a string of the library's, valid for the program's lifetime. */
VMASKC_API vmaskc_status vmaskc_model_tokenizer(const vmaskc_model *m, const char **name, vmaskc_error *err);
/* Vocabulary size and token id's string. */
VMASKC_API vmaskc_status vmaskc_model_vocab_size(const vmaskc_model *m, int32_t *n, vmaskc_error *err);
VMASKC_API vmaskc_status vmaskc_model_token(const vmaskc_model *m, int32_t id, const char **token, vmaskc_error *err);

/* Since 0.2: what comparing models and reading their vocabulary need. */
/* How the model applies its tokenizer: lower-casing, and (words tokenizer) punctuation split from words, each 0 or 1. */
VMASKC_API vmaskc_status vmaskc_model_text_settings(const vmaskc_model *m, int *lowercase, int *split_punct, vmaskc_error *err);
/* The ids of the padding and unknown-word tokens, -1 for one the vocabulary lacks. */
VMASKC_API vmaskc_status vmaskc_model_special_tokens(const vmaskc_model *m, int32_t *pad, int32_t *unk, vmaskc_error *err);
/* A token's id, -1 when the vocabulary lacks it. */
VMASKC_API vmaskc_status vmaskc_model_token_id(const vmaskc_model *m, const char *token, int32_t *id, vmaskc_error *err);
/* 1 for a token without a word importance of its own (padding, unknown word, BERT's [CLS] / [SEP]), else 0. */
VMASKC_API vmaskc_status vmaskc_model_token_special(const vmaskc_model *m, int32_t id, int *special, vmaskc_error *err);
/* How the model was trained: "base", "l2", "l2x", "iba" or "vmask" from its metadata (vmaskc.method;
 * older exports: vmaskc.mask and vmaskc.weight_decay), another method's name as written, "vmask"
 * for a model with a VMASK table but no vmaskc metadata, else NULL (unknown). */
VMASKC_API vmaskc_status vmaskc_model_training(const vmaskc_model *m, const char **method, vmaskc_error *err);
/* The model's global importance per token id (higher = more important), [vocabulary size], the
 * caller frees it with free(): read from its word_mask output (each id run as a one-word text, in
 * batches of `batch` ids, 0 = 512; not for a mask after a contextual layer), *source "word_mask",
 * else its per-word mask table (VMASK q, L2X score, IBA lambda; NAN beyond it), *source "table";
 * both NULL when it has neither. */
VMASKC_API vmaskc_status vmaskc_model_importance(vmaskc_model *m, int32_t batch, double **importance, const char **source,
                                                 vmaskc_error *err);
/* Per-op timing of the model's runs (the commands' --profile): on or off, and the table so far
 * (text, the caller frees it with free()). */
VMASKC_API vmaskc_status vmaskc_model_profile(vmaskc_model *m, int enable, vmaskc_error *err);
VMASKC_API vmaskc_status vmaskc_model_profile_report(const vmaskc_model *m, char **text, vmaskc_error *err);
/* Shape instances the model has built (one per batch shape it ran) and the milliseconds spent building them. */
VMASKC_API vmaskc_status vmaskc_model_build_stats(const vmaskc_model *m, int64_t *instances, double *ms, vmaskc_error *err);

/* ---- tokenize ---- */

typedef struct vmaskc_tokens {
    int32_t n;                 /* ids the model receives */
    int32_t *ids;              /* [n] (WordPiece: [CLS] pieces [SEP]) */
    char **tokens;             /* [n] the vocabulary token, or an unknown word's own text */
    int32_t *word;             /* [n] the text word each id belongs to, -1 for [CLS] / [SEP] */
    int32_t n_words, n_unknown;/* words of the text, and how many of them the vocabulary lacks */
} vmaskc_tokens;

/* The text as the model sees it. max_len > 0 keeps the first max_len ids. */
VMASKC_API vmaskc_status vmaskc_tokenize(const vmaskc_model *m, const char *text, int32_t max_len, vmaskc_tokens **out,
                                         vmaskc_error *err);
VMASKC_API void vmaskc_tokens_free(vmaskc_tokens *t);

/* ---- predict ---- */

typedef struct vmaskc_prediction {
    int64_t n;            /* texts */
    int n_classes;        /* C */
    float *probs;         /* [n * C] class probabilities, row per text */
    int *label;           /* [n] the most probable class */
    int64_t *offset;      /* [n + 1] text i's tokens are [offset[i], offset[i + 1]) of the arrays below */
    int32_t *ids;         /* token ids */
    char **tokens;        /* token strings */
    float *keep;          /* per-token keep probability of the mask (VMASK q, L2X score, IBA lambda);
                           * NULL for a model without a word-level mask */
} vmaskc_prediction;

/* Classifies n texts (inference mode: the mask is its expectation). Texts are run in batches of up
 * to `batch` (0 = 64) texts of equal token count, so a text's result never depends on the others
 * in the call. max_len > 0 truncates. A text without tokens is VMASKC_EINVAL with err->item. */
VMASKC_API vmaskc_status vmaskc_predict(vmaskc_model *m, const char *const *texts, int64_t n, int32_t max_len, int32_t batch,
                                        vmaskc_prediction **out, vmaskc_error *err);
VMASKC_API void vmaskc_prediction_free(vmaskc_prediction *p);

/* ---- evaluate on labelled data (`vmaskc eval`) ---- */

typedef struct vmaskc_evaluation {
    int64_t n;            /* examples */
    int n_classes;        /* C */
    double accuracy;      /* 0..1 */
    int64_t *confusion;   /* [C * C]: confusion[gold * C + predicted] */
    int64_t *support;     /* [C] examples of each gold class */
    int64_t *predicted;   /* [C] examples predicted as each class */
    double *precision;    /* [C] NAN when no example was predicted as the class */
    double *recall;       /* [C] NAN when no example has the class */
    double *f1;           /* [C] harmonic mean of the two; NAN when either is, 0 when both are 0 */
    int64_t runs;         /* runs of the model (batches) it took (since 0.2) */
} vmaskc_evaluation;

/* Classifies every example of a labelled data file (read as the model's options.data say) in inference mode, in batches of `batch` (0 = 100) examples in file order.
 * A label that is not one of the model's classes is an error naming file:line (VMASKC_EFORMAT),
 * and so is an example longer than the model can take in memory (VMASKC_EINVAL), both checked
 * before any example runs (max_len > 0 truncates). */
VMASKC_API vmaskc_status vmaskc_evaluate(vmaskc_model *m, const char *path, int32_t max_len, int32_t batch,
                                         vmaskc_evaluation **out, vmaskc_error *err);
VMASKC_API void vmaskc_evaluation_free(vmaskc_evaluation *e);

/* ---- a data file as the model reads it (0.2) ---- */

typedef struct vmaskc_dataset {
    int64_t n;            /* examples, in file order */
    char **texts;         /* [n] each text as read */
    int32_t *labels;      /* [n] its class id (the model's class names mapped to their ids); 0 when read unlabelled */
    int64_t *line;        /* [n] the line of the file the example starts on */
    int64_t *start;       /* [n + 1] text i's ids are ids[start[i] .. start[i + 1]) */
    int32_t *ids;         /* every text as the model receives it (max_len applied) */
    int64_t n_tokens;     /* words of all texts (before max_len) */
    int64_t n_unknown;    /* of those, the ones the vocabulary lacks: most of them unknown means the
                           * vocabulary does not belong to the model or the data */
} vmaskc_dataset;

/* Reads a data file as the model's options.data say (TSV, CSV, JSON Lines, plain or .gz), each
 * text encoded as the model receives it (max_len > 0 truncates). labelled: each label must be one
 * of the model's classes (VMASKC_EFORMAT naming file:line otherwise); 0: labels are not read (a
 * corpus). An empty text is an error naming its line; a file without examples gives n = 0. The
 * record is read-only, and the calls below that take a dataset take only one this function made. */
VMASKC_API vmaskc_status vmaskc_dataset_read(const vmaskc_model *m, const char *path, int32_t max_len, int labelled,
                                             vmaskc_dataset **out, vmaskc_error *err);
VMASKC_API void vmaskc_dataset_free(vmaskc_dataset *d);
/* Checks, before any work, that `batch` copies of the data's longest text fit the model's memory
 * limit: VMASKC_EINVAL naming the text's file:line otherwise. */
VMASKC_API vmaskc_status vmaskc_dataset_check_fit(vmaskc_model *m, const vmaskc_dataset *d, int32_t batch, vmaskc_error *err);
/* vmaskc_evaluate over a labelled dataset, its texts run in batches of one length (up to `batch`,
 * 0 = 512; shortest first, ties in file order), as `vmaskc explain` and `compare` compute Table 3's
 * accuracy. */
VMASKC_API vmaskc_status vmaskc_dataset_evaluate(vmaskc_model *m, const vmaskc_dataset *d, int32_t batch, vmaskc_evaluation **out,
                                                 vmaskc_error *err);
/* Occurrences of each token id (below the vocabulary size) in the dataset's ids: counts [vocabulary
 * size], the caller frees it with free(). */
VMASKC_API vmaskc_status vmaskc_dataset_token_counts(const vmaskc_model *m, const vmaskc_dataset *d, int64_t **counts, vmaskc_error *err);

/* ---- global word importance (`vmaskc words`) ---- */

typedef struct vmaskc_words {
    int64_t n;            /* words ranked (the vocabulary without pad, unknown and BERT specials) */
    int32_t *ids;         /* [n] token ids, most important first (ties: smaller id first) */
    const char **tokens;  /* [n] their strings (owned by the model) */
    float *importance;    /* [n] VMASK q, L2X score or IBA lambda */
    int64_t *frequency;   /* [n] occurrences in the corpus of vmaskc_words_count; NULL without one */
} vmaskc_words;

/* Every vocabulary word by its global importance. VMASKC_EUNSUPPORTED for a model without a
 * word-level mask table. */
VMASKC_API vmaskc_status vmaskc_words_rank(const vmaskc_model *m, vmaskc_words **out, vmaskc_error *err);
/* The same ranking with each word's frequency in a corpus (a data file read as for vmaskc_evaluate;
 * its labels are not read). min_freq > 0 keeps only the words seen at least min_freq times. */
VMASKC_API vmaskc_status vmaskc_words_count(const vmaskc_model *m, const char *corpus, int64_t min_freq, vmaskc_words **out,
                                            vmaskc_error *err);
VMASKC_API void vmaskc_words_free(vmaskc_words *w);

/* A WordPiece model's vocabulary holds pieces ("play", "##ing"); its whole words exist only in
 * texts. Each word of a corpus (a piece plus its ## continuations, as the tokenizer splits the
 * texts) with the mean importance of its pieces weighted by frequency, most important first (ties:
 * the more frequent, then the first seen). A word vocabulary gives its words, one piece each. */
typedef struct vmaskc_whole_words {
    int64_t n;            /* words with an importance (words of only unknown pieces have none) */
    int64_t n_multi;      /* how many of them are several pieces */
    char **words;         /* [n] */
    char **pieces;        /* [n] its pieces as the model sees them, space-separated ("play ##ing") */
    double *importance;   /* [n] */
    int64_t *frequency;   /* [n] occurrences in the corpus */
} vmaskc_whole_words;

VMASKC_API vmaskc_status vmaskc_words_whole(const vmaskc_model *m, const char *corpus, vmaskc_whole_words **out,
                                            vmaskc_error *err);
/* The whole words of a dataset's texts (as vmaskc_dataset_read encoded them) scored by an importance
 * per token id (special tokens have none), in order of first occurrence (0.2). */
VMASKC_API vmaskc_status vmaskc_dataset_words(const vmaskc_model *m, const vmaskc_dataset *d, const double *importance,
                                              vmaskc_whole_words **out, vmaskc_error *err);
VMASKC_API void vmaskc_whole_words_free(vmaskc_whole_words *w);

/* ---- explain one text ---- */

typedef enum vmaskc_explainer {
    VMASKC_EXPLAIN_LIME = 0,    /* LIME for text (5000 samples, kernel width 25, ridge alpha 1) */
    VMASKC_EXPLAIN_SHAPLEY = 1, /* SampleShapley (238 permutations) */
    VMASKC_EXPLAIN_MASK = 2,    /* the model's own mask: each word's keep probability */
} vmaskc_explainer;

typedef struct vmaskc_explain_options {
    vmaskc_explainer method;   /* default LIME */
    int target;                /* class to explain; -1 = the predicted class (default) */
    uint64_t seed;             /* default 1; the same seed gives the same scores */
    int32_t samples;           /* LIME samples (0 = 5000) */
    int32_t permutations;      /* SampleShapley permutations (0 = 238) */
    int32_t max_len;           /* > 0 truncates the text */
    int32_t batch;             /* perturbed texts per run (0 = 512) */
} vmaskc_explain_options;

VMASKC_API void vmaskc_explain_options_init(vmaskc_explain_options *o);

typedef struct vmaskc_explanation {
    int target;           /* the explained class */
    float *probs;         /* [C] the text's class probabilities */
    int n_classes;
    int32_t n;            /* tokens */
    char **tokens;        /* [n] */
    int32_t *word;        /* [n] word of each token, -1 for [CLS] / [SEP] */
    double *score;        /* [n] the score of each token's word (LIME weight, Shapley value, mask keep
                           * probability); NAN for [CLS] / [SEP] */
} vmaskc_explanation;

VMASKC_API vmaskc_status vmaskc_explain(vmaskc_model *m, const char *text, const vmaskc_explain_options *o,
                                        vmaskc_explanation **out, vmaskc_error *err);
VMASKC_API void vmaskc_explanation_free(vmaskc_explanation *e);

/* ---- explain a text with several methods and measure them (`vmaskc explain`, `compare`; 0.2) ----
 *
 * Each method ranks the text's words; AOPC (Nguyen 2018) measures a ranking by the drop in the
 * explained class's probability as its top words are removed, post-hoc accuracy (L2X) a global
 * importance by whether the k words it ranks highest alone keep the class. Besides the three
 * explainers two rankings without one give AOPC's floor and a reference: a seeded random order of
 * the words, and the words by corpus frequency, most frequent first. */

#define VMASKC_EXPLAIN_RANDOM 3     /* a random order of the words (seeded by the text's seed) */
#define VMASKC_EXPLAIN_FREQUENCY 4  /* the words by corpus frequency (options.frequency) */
#define VMASKC_EXPLAIN_METHODS 5
#define VMASKC_LIME_SAMPLES 5000           /* the defaults */
#define VMASKC_LIME_KERNEL_WIDTH 25.0
#define VMASKC_LIME_ALPHA 1.0              /* LIME's ridge penalty (fixed) */
#define VMASKC_SHAPLEY_PERMUTATIONS 238
#define VMASKC_AOPC_MAX_K 64

typedef enum vmaskc_aopc_removal {
    VMASKC_AOPC_DELETE = 0, /* a removed word's pieces leave the text, which gets shorter (default) */
    VMASKC_AOPC_PAD = 1,    /* each of its pieces is replaced in place by the padding token */
    VMASKC_AOPC_UNK = 2,    /* ... by the unknown-word token */
} vmaskc_aopc_removal;

typedef struct vmaskc_measure_options {
    unsigned methods;          /* a bit (1u << method) per method: VMASKC_EXPLAIN_LIME, _SHAPLEY, _MASK, _RANDOM,
                                * _FREQUENCY; default LIME and SampleShapley */
    int target;                /* the class explained and measured; -1 = the predicted class (default) */
    uint64_t seed;             /* the text's own seed: LIME, SampleShapley and the random order derive their
                                * streams from it (the commands use vmaskc_explain_seed(--seed, index)); default 1 */
    int32_t samples;           /* LIME samples, row 0 the text itself (0 = 5000) */
    double kernel_width;       /* LIME kernel width (0 = 25) */
    int32_t permutations;      /* SampleShapley permutations (0 = 238) */
    int32_t max_len;           /* > 0 truncates the text */
    int32_t batch;             /* perturbed texts per run (0 = 512) */
    int32_t aopc_k;            /* AOPC steps K (0 = 5, at most VMASKC_AOPC_MAX_K) */
    vmaskc_aopc_removal aopc_removal;
    int aopc_single;           /* step k removes the k-th word alone (default: the top k together) */
    int aopc_logodds;          /* measure the drop in log-odds of the class (default: in probability) */
    const double *importance;  /* [vocabulary size] global importance per token id (higher = more important,
                                * NAN = none) for the mask method and post-hoc accuracy; NULL = the model's
                                * own per-word mask (VMASK q, L2X score, IBA lambda table) */
    const int64_t *frequency;  /* [vocabulary size] corpus count per token id: the frequency order (needed by it) */
    int32_t posthoc_k;         /* > 0: post-hoc accuracy terms for k = 1..posthoc_k (at most 1000) */
} vmaskc_measure_options;

VMASKC_API void vmaskc_measure_options_init(vmaskc_measure_options *o);

/* The seed `vmaskc explain --seed seed` gives its example `index` (0-based line of the data). */
VMASKC_API uint64_t vmaskc_explain_seed(uint64_t seed, int64_t index);
/* The k of n examples `vmaskc explain --limit k --seed seed` explains (a seeded partial shuffle),
 * into out [k] in increasing order; k = n gives them all. */
VMASKC_API vmaskc_status vmaskc_explain_sample(uint64_t seed, int64_t n, int64_t k, int64_t *out, vmaskc_error *err);

typedef struct vmaskc_method_result {
    double *score;             /* [n] each token's word's score (LIME weight, Shapley value, mean importance of its
                                * pieces, (m - rank) / m for the random order, corpus count of its first piece);
                                * NAN for [CLS] / [SEP]; NULL for a method not asked for */
    double *word_score;        /* [n_words] per word */
    int32_t aopc_steps;        /* steps measured: min(K, words in the ranking; LIME: words of positive weight) */
    double aopc_delta[VMASKC_AOPC_MAX_K]; /* [aopc_steps] drop after step k (probability or log-odds) */
    uint64_t seed;             /* LIME's and SampleShapley's own stream seed, 0 for the other methods */
    int64_t texts_run;         /* texts the model ran for the method and its AOPC */
    double seconds;            /* time spent on both */
} vmaskc_method_result;

typedef struct vmaskc_measurement {
    int n_classes;
    float *probs;              /* [C] the text's class probabilities */
    int predicted;             /* their argmax */
    int target;                /* the class explained and measured */
    int32_t n;                 /* tokens */
    int32_t *ids;              /* [n] */
    char **tokens;             /* [n] the vocabulary token, or an unknown word's own text */
    int32_t *word;             /* [n] the word of each token, -1 for [CLS] / [SEP] */
    int32_t n_words;
    char **words;              /* [n_words] each word's text (its pieces joined without ##) */
    vmaskc_method_result method[VMASKC_EXPLAIN_METHODS];
    double lime_intercept;     /* LIME's surrogate: intercept, */
    double lime_score;         /* weighted R^2 on the samples, */
    int32_t lime_features;     /* and features (distinct words) */
    int32_t posthoc_k;
    uint8_t *posthoc_match;    /* [posthoc_k] 1 when the k words of highest importance alone (the others padded in
                                * place) keep `target` the argmax; k beyond the text's words keeps it whole (1) */
    int64_t texts_run;         /* every text the model ran, the prediction included */
    int64_t runs;              /* runs of the model (batches) */
} vmaskc_measurement;

/* Predicts the text, then for each method of o->methods ranks its words and measures the ranking
 * by AOPC, and with posthoc_k > 0 the post-hoc accuracy of o->importance, as `vmaskc explain`
 * does for one of its examples (the same numbers, given vmaskc_explain_seed's seed). The mask
 * method and post-hoc accuracy need an importance (o->importance or the model's own mask),
 * the frequency order o->frequency, VMASKC_AOPC_UNK an unknown-word token: VMASKC_EINVAL or
 * VMASKC_EUNSUPPORTED naming what is missing otherwise, as is a text without tokens (or, for
 * WordPiece, without words). */
VMASKC_API vmaskc_status vmaskc_measure(vmaskc_model *m, const char *text, const vmaskc_measure_options *o,
                                        vmaskc_measurement **out, vmaskc_error *err);
VMASKC_API void vmaskc_measurement_free(vmaskc_measurement *x);

/* AOPC at k of one text's drops: their sum over steps 1..min(k, steps), divided by k + 1 (Nguyen
 * 2018: also when the text has fewer words), or by k with by_k. */
VMASKC_API double vmaskc_aopc(const double *delta, int32_t steps, int32_t k, int by_k);

/* ---- train ---- */

typedef struct vmaskc_train_progress {
    int epoch, epochs;     /* 1-based epoch of the step just run, of `epochs` */
    int64_t step, steps;   /* 1-based step within the epoch, of `steps` */
    double loss;           /* mean training loss of the epoch so far */
    double accuracy;       /* mean training accuracy of the epoch so far (0..1) */
    double rate;           /* training sentences per second */
    double eta_seconds;    /* estimated time to the end of training, -1 unknown */
} vmaskc_train_progress;

/* Called after each training step; a non-zero return stops training (a checkpoint is saved when one
 * is configured; vmaskc_train returns VMASKC_EINTERRUPTED and exports nothing). */
typedef int (*vmaskc_progress_fn)(const vmaskc_train_progress *p, void *user);

typedef struct vmaskc_train_config {
    const char *model;      /* ONNX classifier (required) */
    const char *vocab;      /* its vocab.txt; NULL for a model vmaskc exported (the stored one) */
    const char *train;      /* training data (required): label<TAB>text TSV, CSV or JSON Lines, .gz too;
                             * labels 0..C-1 or class names (see labels) */
    const char *dev;        /* dev data, or NULL with dev_split > 0 */
    double dev_split;       /* hold out this fraction of train as the dev set (0 = off) */
    const char *test;       /* test data or NULL */
    const char *output;     /* the exported ONNX model (required) */
    const char *checkpoint; /* checkpoint file or NULL (none) */
    int resume;             /* continue from checkpoint */
    const char *method;     /* "vmask" (default), "l2x", "iba", "base", "l2" */
    int epochs;             /* 20 */
    int batch;              /* 50 */
    double lr;              /* 0.001 */
    uint64_t seed;          /* 1 */
    int32_t max_len;        /* > 0 truncates texts */
    int threads;            /* 0 = OpenMP's default */
    int64_t mask_hidden;    /* VMASK hidden units (100) */
    double tau;             /* VMASK Gumbel temperature (1) */
    double beta_start, beta_end; /* VMASK information-loss weight, annealed (1.0 -> 0.109) */
    int beta_steps;         /* in this many equal steps (10) */
    int64_t l2x_k;          /* L2X words kept (10) */
    double l2x_tau;         /* L2X temperature (0.5) */
    double iba_beta;        /* IBA information-loss weight (0.1; see vmaskc train --help) */
    double dropout;         /* > 0: Dropout before the classifier layer */
    double weight_decay;    /* L2 penalty (0; method "l2" without one: 1e-4) */
    int train_embedding;    /* 0: the word embedding stays frozen, as in the paper */
    int mask_output;        /* the export gets a second output word_mask [B, T] */
    vmaskc_progress_fn progress; /* NULL: silent */
    void *progress_user;
    size_t max_memory;      /* bytes training may hold, 0 = 80% of physical memory; a text too long for
                             * it is an error naming its file:line, before the first step */
    vmaskc_data_options data; /* how train, dev and test are read */
    const char *labels;     /* class names, one per line, line i = class i; NULL: the model's (a vmaskc
                             * export), else the sorted names of train's labels when they are not all
                             * integers. Stored in the export (vmaskc.labels). */
    const char *tokenizer;  /* "words", "kim" (Kim 2014's ASCII cleanup) or "wordpiece"; NULL: the model's, or
                             * detected from the vocabulary */
    int allow_short_vocab;  /* accept a vocab with fewer tokens than the embedding table has rows */
    const char *vectors;    /* pre-trained word vectors for the embedding table (word2vec text/binary,
                             * GloVe, fastText .vec; .gz too), NULL: the model's own table */
    const char *vectors_format; /* "auto" (NULL), "text" or "binary" */
    double oov_init;        /* words the vectors lack: uniform(-oov_init, oov_init) (0.25) */
    const char *const *freeze; /* [n_freeze] parameter names (or name prefixes) kept fixed, as --freeze */
    int n_freeze;
    const char *mask_after; /* VMASK after this value instead of the word embedding (--mask-after) */
    const char *history;    /* per-epoch CSV (loss, accuracies, beta, seconds), NULL none */
    /* since 0.3: sentence pairs (WordPiece vocabularies), as vmaskc_model_options' */
    int pairs;
    const char *text_pair_column;
    const char *text_pair_field;
} vmaskc_train_config;

VMASKC_API void vmaskc_train_config_init(vmaskc_train_config *c);

typedef struct vmaskc_train_result {
    int epochs_run;
    int best_epoch;         /* 1-based; the export holds this epoch's parameters */
    double dev_accuracy;    /* best dev accuracy (0..1) */
    double test_accuracy;   /* -1 without test data */
    int n_classes;
} vmaskc_train_result;

/* Trains and exports c->output (written atomically: nothing is left behind on failure), as
 * `vmaskc train` does with the same options; the export carries the vocabulary, tokenizer and mask
 * metadata every command and vmaskc_model_open read. The output and checkpoint paths are checked
 * before any work. res may be NULL. Prints nothing. `vmaskc train` runs the same code, so the same
 * settings give the same model, byte for byte. Command line only: --clip, Adam's betas, --profile,
 * --timings, --input-role, --embedding and the closing word list. */
VMASKC_API vmaskc_status vmaskc_train(const vmaskc_train_config *c, vmaskc_train_result *res, vmaskc_error *err);

#ifdef __cplusplus
}
#endif

#endif
