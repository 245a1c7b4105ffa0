/* api_train: vmaskc_train — the steps of `vmaskc train` (tools/vmaskc/cmd_train.c) as one library
 * call that prints nothing: vocabulary (given or stored in the model), data, the ONNX model compiled
 * for training with the method's mask layer, loss, backward pass and Adam (compiler/training.c),
 * the loop (runtime/train.c vm_train, reporting through the caller's progress callback), and the
 * export with the same metadata the command writes, so every command and the API read the result.
 * Not here (command-line only): --vectors, --freeze, --mask-after, --history, --profile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_export.h"
#include "../../compiler/training.h"
#include "../train.h"
#include "api_util.h"
#include "load.h"

void vmaskc_train_config_init(vmaskc_train_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    struct vm_train_cfg tc;
    vm_train_cfg_default(&tc);
    struct vm_train_opts to;
    vm_train_opts_default(&to);
    c->method = "vmask";
    c->epochs = tc.epochs;
    c->batch = tc.batch;
    c->lr = tc.lr;
    c->seed = 1;
    c->beta_start = tc.beta_start;
    c->beta_end = tc.beta_end;
    c->beta_steps = tc.beta_steps;
    c->mask_hidden = to.mask_hidden;
    c->tau = to.tau;
    c->l2x_k = to.l2x_k;
    c->l2x_tau = to.l2x_tau;
    c->iba_beta = 0.1;
}

struct train_job {
    const vmaskc_train_config *c;
    struct vm_vocab vocab;
    struct vm_tokenizer tok;
    struct vm_dataset train, dev, test;
    Onnx__ModelProto *onnx;
    struct vm_graph *g;
    struct vm_rt_model *rt;
    struct vm_train_opts to;
    struct vm_train_info info;
    struct vm_train_result res;
    float *iba_stats;
    int64_t keep_ids[8];
};

static void job_free(struct train_job *j) {
    vm_train_result_free(&j->res);
    free(j->iba_stats);
    vm_rt_model_free(j->rt);
    vm_graph_free(j->g);
    vm_onnx_free_model(j->onnx);
    vm_dataset_free(&j->train);
    vm_dataset_free(&j->dev);
    vm_dataset_free(&j->test);
    vm_vocab_free(&j->vocab);
}

static const char *model_meta(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && m->metadata_props[i]->value && !strcmp(m->metadata_props[i]->key, key))
            return m->metadata_props[i]->value;
    return NULL;
}

/* The vocabulary (given, or stored by an earlier vmaskc export), the tokenizer, the data. */
static enum vm_status job_data(struct train_job *j, struct vm_error *err) {
    const vmaskc_train_config *c = j->c;
    enum vm_status s;
    const char *kind = NULL;
    vm_tokenizer_default(&j->tok);
    if (c->vocab) {
        s = vm_vocab_load(&j->vocab, c->vocab, NULL, NULL, err);
    } else {
        const char *text = model_meta(j->onnx, "vmaskc.vocab"), *pad = model_meta(j->onnx, "vmaskc.pad"),
                   *unk = model_meta(j->onnx, "vmaskc.unk"), *lc = model_meta(j->onnx, "vmaskc.lowercase"),
                   *sp = model_meta(j->onnx, "vmaskc.split_punct");
        if (!text) return vm_errorf(err, VM_EINVAL, "%s carries no vocabulary (it was not exported by vmaskc train): set vocab", c->model);
        s = vm_vocab_from_text(&j->vocab, text, pad && *pad ? pad : NULL, unk && *unk ? unk : NULL, err);
        kind = vm_tokenizer_from_meta(model_meta(j->onnx, "vmaskc.tokenizer"), model_meta(j->onnx, "vmaskc.words.cleanup"));
        if (lc) j->tok.lowercase = strcmp(lc, "0") != 0;
        if (sp) j->tok.split_punct = strcmp(sp, "0") != 0;
    }
    if (!s) s = vm_tokenizer_for_vocab(&j->tok, &j->vocab, kind, c->vocab ? c->vocab : c->model, err);
    if (!s) s = vm_dataset_load(&j->train, c->train, &j->vocab, &j->tok, c->max_len, NULL, err);
    if (!s && c->dev) s = vm_dataset_load(&j->dev, c->dev, &j->vocab, &j->tok, c->max_len, NULL, err);
    if (!s && c->test) s = vm_dataset_load(&j->test, c->test, &j->vocab, &j->tok, c->max_len, NULL, err);
    if (!s && !c->dev) {
        struct vm_dataset all = j->train;
        memset(&j->train, 0, sizeof j->train);
        s = vm_dataset_split(&all, c->dev_split, c->seed, &j->train, &j->dev, err);
        vm_dataset_free(&all);
        if (s) vm_error_prefix(err, "dev_split %g of %s", c->dev_split, c->train);
    }
    return s;
}

/* The training graph: embedding check, IBA statistics, mask layer + loss + backward + Adam. */
static enum vm_status job_graph(struct train_job *j, struct vm_error *err) {
    const vmaskc_train_config *c = j->c;
    int32_t emb;
    enum vm_status s = vm_find_embedding(j->g, NULL, &emb, err);
    if (s) return s;
    if (emb >= 0) {
        const struct vm_value *tv = &j->g->values[j->g->nodes[emb].in[0]];
        int64_t rows = vm_dim_value(&tv->dims[0]);
        if (j->vocab.n > rows)
            return vm_errorf(err, VM_EINVAL, "the vocabulary has %d tokens but the model's embedding table '%s' has %lld rows; "
                             "use the vocabulary the model was built with", j->vocab.n, tv->name, (long long)rows);
        if (j->to.method == VM_METHOD_IBA) {
            int64_t E = vm_dim_value(&tv->dims[1]);
            if (!tv->data || tv->dtype != VM_DTYPE_FLOAT)
                return vm_errorf(err, VM_EUNSUPPORTED, "method iba: the word embedding '%s' is not a float initializer", tv->name);
            if (!(j->iba_stats = vm_malloc(sizeof(float) * (size_t)(2 * E), err))) return VM_ENOMEM;
            int64_t n = vm_iba_estimate(tv->data, rows, E, j->train.ids, j->train.start[j->train.n], j->to.pad_id, j->to.keep_ids,
                                        j->to.n_keep_ids, j->iba_stats, j->iba_stats + E);
            if (n < 2) return vm_errorf(err, VM_EINVAL, "method iba: the training data has %lld real tokens; the noise statistics need at least 2", (long long)n);
            j->to.iba_mu = j->iba_stats;
            j->to.iba_sigma = j->iba_stats + E;
            j->to.iba_dim = E;
        }
    } else if (j->to.method == VM_METHOD_IBA) {
        return vm_errorf(err, VM_EUNSUPPORTED, "method iba: no word embedding found");
    }
    if ((s = vm_build_training(j->g, &j->to, &j->info, err))) return vm_error_prefix(err, "%s", c->model);
    int32_t top = j->train.max_label > j->dev.max_label ? j->train.max_label : j->dev.max_label;
    if (c->test && j->test.max_label > top) top = j->test.max_label;
    if (top >= j->info.n_classes)
        return vm_errorf(err, VM_EINVAL, "the data has label %d but the model has %lld classes (labels 0..%lld)", top,
                         (long long)j->info.n_classes, (long long)j->info.n_classes - 1);
    return VM_OK;
}

static const void *param_lookup(void *ctx, const char *name, size_t *nbytes) {
    struct vm_rt_model *m = ctx;
    int i = vm_rt_find_param(m, name);
    if (i < 0) return NULL;
    struct vm_rt_tensor t = vm_rt_param(m, i);
    *nbytes = t.nbytes;
    return t.data;
}

struct progress_ctx {
    vmaskc_progress_fn fn;
    void *user;
};

static int on_step(void *ctx, const struct vm_train_step *st) {
    const struct progress_ctx *p = ctx;
    vmaskc_train_progress pr = {st->epoch, st->epochs, st->step, st->steps, st->loss, st->acc, st->rate, st->eta_s};
    return p->fn(&pr, p->user);
}

/* The options that need no file: their ranges (as the command line checks them) and the method. */
static vmaskc_status check_config(const vmaskc_train_config *c, struct vm_train_opts *to, vmaskc_error *err) {
#define BAD(...) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: " __VA_ARGS__)
    if (!c->model) BAD("config.model is NULL (the ONNX classifier to train)");
    if (!c->train) BAD("config.train is NULL (label<TAB>text training data)");
    if (!c->output) BAD("config.output is NULL (where to export the trained model)");
    if (!c->dev && !(c->dev_split > 0)) BAD("neither config.dev nor config.dev_split > 0: training needs a dev set");
    if (c->dev && c->dev_split > 0) BAD("config.dev and config.dev_split exclude each other");
    if (c->dev_split < 0 || c->dev_split > 0.9) BAD("config.dev_split is %g; it must be in (0, 0.9]", c->dev_split);
    if (c->epochs < 1 || c->epochs > 100000) BAD("config.epochs is %d; it must be in [1, 100000]", c->epochs);
    if (c->batch < 1 || c->batch > 4096) BAD("config.batch is %d; it must be in [1, 4096]", c->batch);
    if (!(c->lr >= 0 && c->lr <= 10)) BAD("config.lr is %g; it must be in [0, 10]", c->lr);
    if (c->max_len < 0 || c->threads < 0) BAD("config.max_len and config.threads must not be negative");
    if (c->beta_steps < 1) BAD("config.beta_steps is %d; it must be at least 1", c->beta_steps);
    if (c->mask_hidden < 1 || c->l2x_k < 1 || !(c->tau > 0) || !(c->l2x_tau > 0))
        BAD("config.mask_hidden, l2x_k, tau and l2x_tau must be positive");
    if (!(c->dropout >= 0 && c->dropout <= 0.99)) BAD("config.dropout is %g; it must be in [0, 0.99]", c->dropout);
    if (!(c->weight_decay >= 0) || !(c->iba_beta >= 0)) BAD("config.weight_decay and config.iba_beta must not be negative");
    if (!vm_method_parse(c->method ? c->method : "vmask", &to->method))
        BAD("config.method is \"%s\"; it is one of vmask, l2x, iba, base, l2", c->method);
#undef BAD
    return VMASKC_OK;
}

vmaskc_status vmaskc_train(const vmaskc_train_config *c, vmaskc_train_result *res, vmaskc_error *err) {
    if (!c) return vm_api_failf(err, VMASKC_EINVAL, -1, "vmaskc_train: argument 'c' is NULL");
    struct train_job j = {.c = c};
    vm_train_opts_default(&j.to);
    vmaskc_status vs = check_config(c, &j.to, err);
    if (vs) return vs;
    struct vm_train_opts *to = &j.to;
    to->mask_hidden = c->mask_hidden;
    to->tau = c->tau;
    to->l2x_k = c->l2x_k;
    to->l2x_tau = c->l2x_tau;
    to->dropout = c->dropout;
    to->weight_decay = c->weight_decay;
    if (to->method == VM_METHOD_L2 && !(c->weight_decay > 0)) to->weight_decay = 1e-4; /* as `train --method l2` */
    to->train_embedding = c->train_embedding != 0;
    to->seed = c->seed;
    to->no_mask = !vm_method_has_mask(to->method);
    struct vm_train_cfg tc;
    vm_train_cfg_default(&tc);
    tc.epochs = c->epochs;
    tc.batch = c->batch;
    tc.lr = c->lr;
    tc.seed = c->seed;
    tc.beta_start = to->method == VM_METHOD_IBA ? c->iba_beta : c->beta_start;
    tc.beta_end = to->method == VM_METHOD_IBA ? c->iba_beta : c->beta_end;
    tc.beta_steps = to->method == VM_METHOD_IBA ? 1 : c->beta_steps;
    tc.checkpoint = c->checkpoint;
    tc.checkpoint_minutes = c->checkpoint ? tc.checkpoint_minutes : 0;
    tc.resume = c->resume != 0;
    struct progress_ctx pc = {c->progress, c->progress_user};
    if (c->progress) {
        tc.on_step = on_step;
        tc.on_step_ctx = &pc;
    }
    struct vm_error ie = {0};
    struct vm_model_opts mo = {.threads = c->threads, .max_memory = c->max_memory};
    vm_file_remove_stale_temps(c->output);
    /* outputs are checked before minutes of training, not after */
    enum vm_status s = vm_load_check_output(c->output, "config.output", &ie);
    if (!s && c->checkpoint) s = vm_load_check_output(c->checkpoint, "config.checkpoint", &ie);
    if (!s) s = vm_load_compile_onnx_training(c->model, &mo, &j.onnx, &j.g, &ie);
    if (!s) s = job_data(&j, &ie);
    if (!s) {
        to->pad_id = j.vocab.pad_id;
        to->n_keep_ids = vm_vocab_special_ids(&j.vocab, j.keep_ids, 8);
        to->keep_ids = j.keep_ids;
        s = job_graph(&j, &ie);
    }
    uint8_t *plan = NULL;
    size_t plan_len;
    struct vm_rt_opts ro = {.threads = c->threads, .max_memory = c->max_memory};
    struct vm_feeder feeder;
    if (!s) s = vm_emit_plan(j.g, c->model, &plan, &plan_len, &ie);
    if (!s) s = vm_rt_model_from_buffer(&j.rt, plan, plan_len, c->model, &ro, &ie);
    free(plan);
    if (!s) {
        vm_export_release_trained(j.onnx, j.g, param_lookup, j.rt);
        s = vm_feeder_init(&feeder, j.rt, j.vocab.pad_id >= 0 ? j.vocab.pad_id : 0, &ie);
    }
    /* a text too long for the memory limit is named (file:line) before the first step */
    if (!s) s = vm_feeder_check_longest(&feeder, &j.train, tc.batch, &ie);
    if (!s) s = vm_feeder_check_longest(&feeder, &j.dev, tc.batch, &ie);
    if (!s && c->test) s = vm_feeder_check_longest(&feeder, &j.test, tc.batch, &ie);
    if (!s) s = vm_train(&feeder, &tc, &j.train, &j.dev, c->test ? &j.test : NULL, &j.res, &ie);
    if (!s) {
        struct vm_train_export tx = {.vocab = &j.vocab, .tok = &j.tok, .to = to, .n_classes = j.info.n_classes, .dev_acc = j.res.best_dev_acc,
                                     .test_acc = j.res.test_acc, .iba_beta = c->iba_beta, .mask_output = c->mask_output != 0,
                                     .min_seq = feeder.min_len};
        s = vm_train_export(j.onnx, j.g, &tx, param_lookup, j.rt, c->output, &ie);
    }
    if (!s && res) {
        res->epochs_run = j.res.epochs_run;
        res->best_epoch = j.res.best_epoch;
        res->dev_accuracy = j.res.best_dev_acc;
        res->test_accuracy = c->test ? j.res.test_acc : -1;
        res->n_classes = (int)j.info.n_classes;
    }
    job_free(&j);
    return s ? vm_api_fail(err, &ie, -1) : VMASKC_OK;
}
