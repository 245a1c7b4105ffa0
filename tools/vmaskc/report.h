/* report: the static HTML report of `vmaskc explain` and `vmaskc compare` — one self-contained
 * file (no script, no network, inline CSS and SVG) showing each text highlighted by word weight for
 * each method (base and VMASK side by side when two models are given), the post-hoc accuracy curve
 * and the AOPC-vs-k curves, the frequency-importance scatter, and the top global words.
 *
 * The explanation code fills these records; the report only presents them.
 */
#ifndef VM_REPORT_H
#define VM_REPORT_H

#include "../../runtime/vm_base.h"

#define VM_REPORT_MAX_METHODS 4 /* e.g. lime, shapley, mask */
#define VM_REPORT_MAX_MODELS 2  /* base, vmask */

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

struct vm_report_model {
    const char *name;         /* "base", "VMASK", or the file name */
    const char *path;
    double accuracy;          /* on the data, -1 unknown */
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
    const char *settings;     /* free text: seeds, samples, permutations, K, removal */
};

/* Writes the report atomically to path. */
enum vm_status vm_report_write_html(const struct vm_report *r, const char *path, struct vm_error *err);

#endif
