/* train_export: the export at the end of training — the trained model written back to ONNX
 * (compiler/export.h) with the metadata every later command, libvmaskc and other runtimes read
 * (README: "What the export holds", "The ids outside vmaskc"): vocabulary and tokenizer settings,
 * class names, the training method and its settings, accuracies. One place for `vmaskc train` and
 * vmaskc_train. */
#ifndef VM_TRAIN_EXPORT_H
#define VM_TRAIN_EXPORT_H

#include "../../compiler/export.h"
#include "../../compiler/training.h"
#include "../text.h"

struct vm_train_export {
    const struct vm_vocab *vocab;
    const struct vm_tokenizer *tok;
    const struct vm_labels *labels; /* NULL or empty: integer classes */
    const struct vm_train_opts *to;
    int64_t n_classes;
    double dev_acc, test_acc;       /* fractions */
    double iba_beta;                /* --method iba: the information loss's weight */
    const char *embedding;          /* the embedding override training was given, NULL if none */
    bool mask_output;               /* the `word_mask` output */
    int64_t min_seq;                /* the shortest text the model takes (the feeder's min_len) */
};

/* g: the training graph; lookup/ctx give the trained parameters. Writes path atomically. */
enum vm_status vm_train_export(const Onnx__ModelProto *onnx, const struct vm_graph *g, const struct vm_train_export *x,
                               vm_param_lookup lookup, void *ctx, const char *path, struct vm_error *err);

#endif
