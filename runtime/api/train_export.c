/* train_export: see train_export.h. */
#include "train_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum vm_status vm_train_export(const Onnx__ModelProto *onnx, const struct vm_graph *g, const struct vm_train_export *x,
                               vm_param_lookup lookup, void *ctx, const char *path, struct vm_error *err) {
    const struct vm_vocab *v = x->vocab;
    const struct vm_tokenizer *tok = x->tok;
    const struct vm_train_opts *to = x->to;
    char *vocab_text = vm_vocab_to_text(v, err), *labels_text = NULL;
    if (!vocab_text) return err->code;
    bool named = x->labels && x->labels->n;
    if (named && !(labels_text = vm_labels_to_text(x->labels, err))) {
        free(vocab_text);
        return err->code;
    }
    char hidden[32], tau[32], classes[32], acc_dev[32], acc_test[32], k_s[32], ltau[32], ibeta[32], wd[32], max_chars[32];
    snprintf(hidden, sizeof hidden, "%lld", (long long)to->mask_hidden);
    snprintf(tau, sizeof tau, "%g", to->tau);
    snprintf(classes, sizeof classes, "%lld", (long long)x->n_classes);
    snprintf(acc_dev, sizeof acc_dev, "%.4f", x->dev_acc);
    snprintf(acc_test, sizeof acc_test, "%.4f", x->test_acc);
    snprintf(k_s, sizeof k_s, "%lld", (long long)to->l2x_k);
    snprintf(ltau, sizeof ltau, "%g", to->l2x_tau);
    snprintf(ibeta, sizeof ibeta, "%g", x->iba_beta);
    snprintf(wd, sizeof wd, "%g", to->weight_decay);
    /* with the vocabulary, these settings let anyone reproduce the ids (README: "Tokenizers") */
    snprintf(max_chars, sizeof max_chars, "%d", tok->max_word_chars);
    bool wp = tok->kind == VM_TOKENIZER_WORDPIECE;
    const char *keys[32], *vals[32];
    int n = 0;
#define META(k, val) (keys[n] = (k), vals[n++] = (val))
    META("vmaskc.version", VM_VERSION);
    META("vmaskc.vocab", vocab_text);
    META("vmaskc.pad", v->pad_id >= 0 ? v->tokens[v->pad_id] : "");
    META("vmaskc.unk", v->unk_id >= 0 ? v->tokens[v->unk_id] : "");
    META("vmaskc.tokenizer", vm_tokenizer_kind_name(tok->kind));
    if (!wp) META("vmaskc.words.cleanup", tok->kim ? "kim" : "unicode");
    if (named) META("vmaskc.labels", labels_text);
    META("vmaskc.lowercase", tok->lowercase ? "1" : "0");
    META(wp ? "vmaskc.wordpiece.strip_accents" : "vmaskc.split_punct", (wp ? tok->lowercase : tok->split_punct) ? "1" : "0");
    META("vmaskc.method", vm_method_name(to->method));
    META("vmaskc.mask", to->no_mask ? "none" : to->method != VM_METHOD_VMASK ? vm_method_name(to->method) : to->mask_after ? "network" : "word_keep");
    if (to->method == VM_METHOD_VMASK) {
        META("vmaskc.mask_hidden", hidden);
        META("vmaskc.tau", tau);
    } else if (to->method == VM_METHOD_L2X) {
        META("vmaskc.l2x.k", k_s);
        META("vmaskc.l2x.tau", ltau);
    } else if (to->method == VM_METHOD_IBA) {
        META("vmaskc.iba.beta", ibeta);
    }
    if (to->weight_decay > 0) META("vmaskc.weight_decay", wd);
    META("vmaskc.classes", classes);
    META("vmaskc.dev_accuracy", acc_dev);
    META("vmaskc.test_accuracy", acc_test);
    if (wp && tok->pairs) META("vmaskc.pairs", "1");
    if (wp) {
        META("vmaskc.wordpiece.cls", v->tokens[v->cls_id]);
        META("vmaskc.wordpiece.sep", v->tokens[v->sep_id]);
        META("vmaskc.wordpiece.continuing_prefix", "##");
        META("vmaskc.wordpiece.max_input_chars_per_word", max_chars);
        META("vmaskc.wordpiece.hf_equivalent",
             tok->lowercase ? "BertTokenizerFast(vocab_file, do_lower_case=True)" : "BertTokenizerFast(vocab_file, do_lower_case=False)");
    }
#undef META
    const char *bax = vm_graph_get_meta(g, "vmaskc.ids_batch_axis");
    struct vm_export_opts eo = {.mask = !to->no_mask, .method = (int)to->method, .l2x_k = to->l2x_k, .pad_id = to->pad_id,
                                .iba_mu = to->iba_mu, .seq_axis = bax && !strcmp(bax, "1") ? 0 : 1, .mask_after = to->mask_after,
                                .embedding = x->embedding, .mask_output = x->mask_output, .meta_keys = keys, .meta_values = vals,
                                .n_meta = n, .keep_ids = to->keep_ids, .n_keep_ids = to->n_keep_ids, .min_seq = x->min_seq,
                                .min_pad_id = v->pad_id >= 0 ? v->pad_id : 0};
    enum vm_status s = vm_export_onnx(onnx, g, &eo, lookup, ctx, path, err);
    free(vocab_text);
    free(labels_text);
    return s;
}
