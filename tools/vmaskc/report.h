/* report: the static HTML report of `vmaskc explain` and `vmaskc compare` — one self-contained
 * file (no script, no network, inline CSS and SVG) showing each text highlighted by word weight for
 * each method (the models side by side), the post-hoc accuracy curves (VMASK against IBA as the
 * paper's Figure 1 draws them), the AOPC-vs-k curves, the frequency-importance scatter, the top global
 * words, and SP-LIME's post-hoc global words (Table 6).
 *
 * The explanation code fills these records; the report only presents them.
 */
#ifndef VM_REPORT_H
#define VM_REPORT_H

#include "../../runtime/vm_base.h"

#define VM_REPORT_MAX_METHODS 5 /* lime, shapley, mask, random, frequency */
#define VM_REPORT_MAX_MODELS 16 /* `vmaskc compare` takes up to this many models */

/* One explained text for one model. */
struct vm_report_example {
    int64_t index;            /* position in the data file (0-based) */
    const char *text;         /* original text */
    int32_t n_tokens;
    const char *const *tokens; /* the units highlighted: the model's tokens, or for a WordPiece model
                                * its whole words (pieces joined, no [CLS] / [SEP]) */
    int32_t label;            /* gold label, -1 unknown */
    int32_t predicted;
    const float *probs;       /* [n_classes] */
    /* weights[m][t]: method m's weight of unit t for the predicted class (NULL = not computed) */
    const float *weights[VM_REPORT_MAX_METHODS];
};

/* One word of a post-hoc global ranking (SP-LIME: the sum of a word's LIME weights over the texts). */
struct vm_report_word {
    const char *word;
    double weight;            /* sum of its LIME weights for the predicted class */
    int32_t texts;            /* explained texts that contain it */
};

struct vm_report_model {
    const char *name;         /* "base", "VMASK", or the file name */
    const char *path;
    const char *method;       /* how it was trained: "base", "l2", "l2x", "iba", "vmask"; NULL unknown */
    double accuracy;          /* on the explained texts, -1 unknown */
    double test_accuracy;     /* on every text of the data file (Table 3); shown when the report's n_data > 0, -1 unknown */
    const struct vm_report_example *examples; /* n_examples, same texts and order for every model */
    /* curves: index k-1 for k = 1..K */
    const double *posthoc_acc; /* [n_posthoc] post-hoc accuracy(k), NULL when not computed */
    int n_posthoc;
    const double *aopc[VM_REPORT_MAX_METHODS]; /* [n_aopc] AOPC(k) per method, NULL = none */
    int n_aopc;
    /* global importance (VMASK models): top words and the frequency-importance scatter */
    int64_t n_words;
    const char *const *words;  /* [n_words] */
    const float *word_q;       /* [n_words] */
    const int64_t *word_freq;  /* [n_words] corpus frequency, NULL = unknown */
    double pearson;            /* frequency vs q, NAN when unknown */
    const char *importance_name; /* the symbol of its global importance ("q", "λ", "score"); NULL = "q" */
    /* SP-LIME post-hoc global words (Table 6), weight descending; NULL = not computed */
    const struct vm_report_word *splime;
    int64_t n_splime;
};

struct vm_report {
    const char *title;
    const char *data_path;
    const char *class_names[64]; /* optional; NULL = "class N" */
    int n_classes;
    int n_methods;
    const char *method_names[VM_REPORT_MAX_METHODS]; /* "LIME", "SampleShapley", "mask q" */
    int n_models;
    struct vm_report_model models[VM_REPORT_MAX_MODELS];
    int64_t n_examples;
    int64_t n_data;           /* texts in the data file (the test accuracy's denominator), 0 unknown */
    const char *settings;     /* free text: seeds, samples, permutations, K, removal */
};

/* Writes the report atomically to path. */
enum vm_status vm_report_write_html(const struct vm_report *r, const char *path, struct vm_error *err);

#endif
