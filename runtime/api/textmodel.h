/* textmodel: a text classifier ready to use (by the public API and the commands) — the ONNX model
 * compiled for inference (or a .vmplan made from one), its vocabulary and tokenizer settings (from
 * the model's vmaskc metadata, or --vocab), the batch feeder, and the per-word importance when the
 * model carries a mask layer after its word embedding (VMASK keep probability q, L2X score or IBA
 * lambda, as vmaskc.method says). */
#ifndef VM_TEXTMODEL_H
#define VM_TEXTMODEL_H

#include "../text.h"
#include "../train.h"
#include "load.h"

struct vm_text_model {
    Onnx__ModelProto *onnx; /* NULL for a plan */
    struct vm_graph *g;     /* NULL for a plan */
    struct vm_rt_model *rt;
    struct vm_feeder feeder;
    struct vm_vocab vocab;
    struct vm_tokenizer tok;
    float *word_keep;   /* [V] importance per word (VMASK q, L2X score, IBA lambda), NULL without a word-level mask */
    int64_t n_words;    /* rows of word_keep */
    const char *importance; /* its short name: "q", "score" or "lambda" */
    const char *method;     /* vmaskc.method ("vmask" for older exports with a mask), NULL without one */
    int64_t n_classes;
    struct vm_labels labels;  /* class names (vmaskc.labels), empty for integer classes */
    struct vm_data_opts data; /* how to read data files for this model: the command's options, labels = &labels
                               * (so a vm_text_model is not copied by value after loading) */
    struct vm_data_opts corpus; /* the same for word counts (words --data, explain --corpus): any labels */
};

struct vm_text_opts {
    struct vm_model_opts model;
    const char *vocab;  /* overrides the model's stored vocabulary */
    const char *pad, *unk;
    int lowercase;      /* -1 = model's setting (default on), 0/1 = forced (--cased, --no-lowercase) */
    int split_punct;
    const char *tokenizer; /* "words" / "kim" / "wordpiece" forced, NULL = the model's (or detected from --vocab) */
    bool allow_short_vocab; /* --allow-short-vocab: a --vocab with fewer tokens than the embedding has rows */
    bool pairs;         /* --pairs: sentence pairs (a TAB separates a and b) even when the model's metadata does
                         * not say so (a model exported with them, vmaskc.pairs=1, reads pairs anyway) */
    struct vm_data_opts data; /* --format, --text-column, ..., --replace-invalid */
};

void vm_text_opts_init(struct vm_text_opts *o);
/* path: an ONNX model or a .vmplan (its metadata, copied from the ONNX model it was compiled from,
 * gives the vocabulary and tokenizer; the embedding-size check needs the ONNX graph and is skipped). */
enum vm_status vm_text_model_load(struct vm_text_model *tm, const char *path,
                                  const struct vm_text_opts *o, struct vm_error *err);
void vm_text_model_free(struct vm_text_model *tm);
/* Class c for people: its name when the model has class names, else its number (in buf). */
const char *vm_text_model_class(const struct vm_text_model *tm, int64_t c, char *buf, size_t n);
/* The value of a metadata_props key of the model's ONNX file (a plan's meta), NULL when absent. */
const char *vm_text_model_meta(const struct vm_text_model *tm, const char *key);
/* The way the model was trained, for `compare`: base, l2, l2x, iba or vmask from its metadata key
 * vmaskc.method; for exports that predate that key, vmaskc.mask ("none"/"0" = base, or l2 when
 * vmaskc.weight_decay > 0; anything else = vmask); without vmaskc metadata "vmask" when the model
 * carries the word_keep table, else NULL (unknown). */
const char *vm_text_model_method(const struct vm_text_model *tm);
/* Per-word global importance from the model's `word_mask` output ([B, T], or [T, B] for a time-major
 * model): each vocabulary id run as a one-word text, its value at position 0 (for a mask computed
 * from the word's embedding alone, as VMASK's q, L2X's score and IBA's lambda are, exactly the
 * word's importance). *imp [vocab.n] (caller frees); *imp = NULL when the model has no word_mask output. */
enum vm_status vm_text_model_mask_importance(const struct vm_text_model *tm, int32_t batch, double **imp,
                                             struct vm_error *err);
/* One text as the model receives it, with display pieces (vm_text_encode; free e with
 * vm_encoding_free, also after an error). */
enum vm_status vm_text_model_encode(const struct vm_text_model *tm, const char *text, int32_t max_len,
                                    struct vm_encoding *e, struct vm_error *err);

#endif
